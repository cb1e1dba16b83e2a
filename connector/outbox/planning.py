"""Planning: the outbox rows a task calls for, added in the transaction of its classification.

An intent (a tracking-status update or an alert) becomes an ``outbox`` row **in the same
transaction as the ledger change that caused it** (`plan`, called by the classification step
inside its per-batch transaction, through `outbox_planner`; it adds rows and never commits).

* A tracking row is sent only when the computed status (or ``eff_due``) differs from what the
  source last acknowledged (``task.acked_tracking_status`` / ``acked_eff_due``). A newer status
  for the same task supersedes an older one still ``pending``/``failed`` (``superseded_by``).
* An alert row that is no longer the current occasion of its type (the task was completed, got
  a deadline, a newer weekly reminder came due, the confirmation cut-off passed) is superseded
  while still ``pending``/``failed``. Rows in ``sending`` are never superseded: the request may
  have reached the source, so they are reconciled and finished. A confirmation request
  (``DE_NGHI_XAC_NHAN``) stays current when its task is completed before the cut-off: tasks
  completed since the last report are asked too (`connector.rules.confirmation`).
* With ``push.backfill_completed_before`` set, a task completed before that date whose status
  was never written gets no initial tracking row (`connector.outbox.backfill`); its alerts and
  any later change are planned as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import TYPE_CHECKING, Protocol

import structlog

from connector.clock import Clock, local_date
from connector.ledger.facts import task_facts
from connector.ledger.outbox import (
    OutboxEntry,
    PlannedRow,
    add_row,
    add_rows,
    alert_keys_by_task,
    by_task,
    get_row,
    ids_by_key,
)
from connector.ledger.reader import reading
from connector.ledger.tasks import LedgerTask, iter_tasks_read, task_batch
from connector.ledger.units import list_units
from connector.models import NO_FACTS, NormalisedTask, Unit
from connector.ops.faultpoints import crash_point
from connector.outbox.backfill import BackfillTally, skips_backfill
from connector.outbox.keys import (
    NO_EFF_DUE,
    dump_payload,
    key_meaning,
    tracking_key,
    tracking_payload,
)
from connector.outbox.states import DELIVERABLE, REPLACEABLE, OutboxKind, OutboxState, supersede
from connector.rules.alerts import (
    AlertContext,
    AlertIntent,
    alert_intents,
    alert_key,
    due_occasions,
)
from connector.rules.calendar import WorkingCalendar, calendar_for
from connector.rules.classify import (
    Unclassifiable,
    classified,
    judged,
    ledger_facts,
    ledger_task,
    settings_key,
)
from connector.rules.deadlines import Classification, policy_from_settings
from connector.rules.judge import Judgement, judge
from connector.rules.kinds import KindReading
from connector.rules.lazy import LazyJudgement
from connector.rules.recurring import RecurringObligation
from connector.settings import Settings

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.db import Ledger
    from connector.ledger.lines import StoredReading
    from connector.ledger.reader import Db
    from connector.ledger.tables import OutboxRow

UNCLASSIFIABLE = "outbox_task_unclassifiable"
"""The event of a task the deadline rules refuse while planning (it is skipped)."""

log = structlog.get_logger(__name__)


class TaskRowLike(Protocol):
    """What planning reads of a task row: a `TaskRow`, or a Core row of the task table."""

    @property
    def source_id(self) -> int: ...

    @property
    def deleted_at_source(self) -> bool: ...

    @property
    def acked_tracking_status(self) -> str: ...

    @property
    def acked_eff_due(self) -> date | None: ...

    @property
    def first_seen_at(self) -> datetime | None: ...

    @property
    def suggested_deadline(self) -> date | None: ...

    @property
    def suggested_phrase(self) -> str: ...


# -- planning ------------------------------------------------------------------------------------


def units_by_code(db: Db) -> dict[str, Unit]:
    """The ledger's unit table as `Unit`s by code."""
    return {unit.code: unit for unit in list_units(db)}


def _cached_units(session: Session, run_id: str) -> dict[str, Unit]:
    cache_key = ("outbox_units", run_id)
    cached = session.info.get(cache_key)
    if isinstance(cached, dict):
        return cached
    units = units_by_code(session)
    session.info[cache_key] = units
    return units


class KindAndOccurrences(Protocol):
    """What the alert rules read of a judgement: a `Judgement`, or a `LazyJudgement`."""

    @property
    def kind(self) -> KindReading: ...

    @property
    def recurring(self) -> RecurringObligation | None: ...


def alert_context(
    task_row: TaskRowLike,
    units: Mapping[str, Unit],
    settings: Settings,
    suggested: tuple[date | None, str] | None = None,
    judgement: KindAndOccurrences | None = None,
) -> AlertContext:
    """What the alert rules need from the ledger row beyond the task itself.

    `suggested` is the (deadline, phrase) read from the task's text; None: the row's values.
    `judgement`: the task's kind and occurrences (None: a product task, not recurring).
    """
    first_seen = task_row.first_seen_at
    if suggested is None:
        suggested = (task_row.suggested_deadline, task_row.suggested_phrase)
    first_seen_on = local_date(first_seen) if first_seen is not None else None
    if judgement is None:
        return AlertContext(
            units=units,
            first_seen_on=first_seen_on,
            suggested_deadline=suggested[0],
            suggested_phrase=suggested[1],
            overdue_long_days=settings.deadlines.overdue_long_days,
        )
    return AlertContext(  # made at once (it was made, then replaced: per task)
        units=units,
        first_seen_on=first_seen_on,
        suggested_deadline=suggested[0],
        suggested_phrase=suggested[1],
        overdue_long_days=settings.deadlines.overdue_long_days,
        kind=judgement.kind.kind,
        kind_words=judgement.kind.words,
        recurring=judgement.recurring,
    )


def _supersede_by_id(session: Session, row_id: int, by: OutboxRow | None) -> None:
    row = get_row(session, row_id)
    if row is not None and row.state in REPLACEABLE:
        supersede(row, by)
        log.info("outbox_superseded", key=row.idempotency_key, by=by.idempotency_key if by else "")


class Planned(Protocol):
    """An outbox row `plan` created: an `OutboxRow`, or a `PlannedRow` of a `PlanBatch`."""

    @property
    def idempotency_key(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def alert_type(self) -> str: ...


class _Sink(Protocol):
    """Where `plan` puts what it decides: at once (`_Immediate`) or for a batch (`PlanBatch`)."""

    def add(self, row: PlannedRow) -> Planned: ...

    def supersede(self, row_id: int, by: Planned | None) -> None: ...


@dataclass
class _Immediate:
    """One task planned on its own: ORM rows, flushed at once (`plan` without a batch)."""

    session: Session

    def add(self, row: PlannedRow) -> Planned:
        added = add_row(self.session, row)
        self.session.flush()  # its id, for the rows it supersedes
        return added

    def supersede(self, row_id: int, by: Planned | None) -> None:
        from connector.ledger.tables import OutboxRow  # noqa: PLC0415 - writing: the ORM

        _supersede_by_id(self.session, row_id, by if isinstance(by, OutboxRow) else None)


@dataclass
class PlanBatch:
    """The outbox rows planned for a batch of tasks, written together by `finish`: the new rows
    in one statement, then the rows they supersede (a batch has no N+1 round trips).

    `existing` holds the batch's outbox rows by task, read in one query (`by_task`). What is
    planned is kept by task (`task_id`: the task being planned, set by `OutboxPlanner.plan`), so
    the plans of some tasks can be left out before writing (`without`)."""

    session: Session
    existing: Mapping[int, Sequence[OutboxEntry]]
    rows: list[PlannedRow] = field(default_factory=list)
    superseding: list[tuple[int, Planned | None, int | None]] = field(default_factory=list)
    """(outbox row id, the row superseding it, the task planned)."""
    backfill_skipped: set[int] = field(default_factory=set)
    """The tasks whose initial tracking write ``push.backfill_completed_before`` left out."""
    task_id: int | None = None

    @classmethod
    def of(cls, session: Session, task_ids: Sequence[int]) -> PlanBatch:
        """A batch for these tasks, their outbox rows read once."""
        return cls(session, by_task(session, task_ids))

    def add(self, row: PlannedRow) -> Planned:
        self.rows.append(row)
        return row

    def supersede(self, row_id: int, by: Planned | None) -> None:
        self.superseding.append((row_id, by, self.task_id))

    def without(self, ids: Set[int]) -> PlanBatch:
        """This batch less what it planned for the tasks `ids`."""
        if not ids:
            return self
        return PlanBatch(
            self.session,
            self.existing,
            rows=[r for r in self.rows if r.task_id not in ids],
            superseding=[s for s in self.superseding if s[2] not in ids],
            backfill_skipped=self.backfill_skipped - ids,
        )

    def finish(self) -> int:
        """Write the batch's rows (one insert), then supersede what they replace; how many
        rows were added."""
        added = len(self.rows)
        add_rows(self.session, self.rows)
        if self.superseding:
            keys = sorted({by.idempotency_key for _, by, _ in self.superseding if by is not None})
            ids = ids_by_key(self.session, keys)
            for row_id, by, _ in self.superseding:
                row = get_row(self.session, row_id)
                if row is None or row.state not in REPLACEABLE:
                    continue
                supersede(row, None)
                row.superseded_by = ids.get(by.idempotency_key) if by is not None else None
                log.info(
                    "outbox_superseded",
                    key=row.idempotency_key,
                    by=by.idempotency_key if by else "",
                )
        self.rows = []
        self.superseding = []
        return added


def _plan_tracking(
    sink: _Sink,
    task_row: TaskRowLike,
    classification: Classification,
    existing: Sequence[OutboxEntry],
    *,
    settings: Settings,
    run_id: str,
    now: datetime,
    tally: BackfillTally | None = None,
    source_status: str = "",
) -> Planned | None:
    task_id = task_row.source_id
    status = classification.status.value
    eff = classification.eff_due
    wanted = (
        settings.push.tracking_status
        and not task_row.deleted_at_source
        and (status, eff) != (task_row.acked_tracking_status, task_row.acked_eff_due)
    )
    rows = [r for r in existing if r.kind == OutboxKind.TRACKING.value]
    if wanted and skips_backfill(
        classification,
        cutoff=settings.push.backfill_cutoff,
        acked_status=task_row.acked_tracking_status,
        has_tracking_rows=bool(rows),
        source_status=source_status,
    ):
        if tally is not None:
            tally.skipped += 1
        log.debug("tracking_backfill_skipped_task", task_id=task_id, status=status)
        return None
    target = tracking_key(task_id, status, eff) if wanted else None
    new: Planned | None = None
    if target is not None:
        same = [r for r in rows if key_meaning(r.idempotency_key) == target]
        if any(r.state in DELIVERABLE for r in same):
            pass  # already on its way
        elif same and same[-1].state == OutboxState.DEAD.value:
            log.info("tracking_not_replanned_dead", task_id=task_id, key=same[-1].idempotency_key)
        else:
            key = tracking_key(task_id, status, eff, revision=len(same) + 1)
            payload = tracking_payload(task_id, classification, settings.alerts.lang)
            new = sink.add(
                PlannedRow.of(
                    key=key,
                    kind=OutboxKind.TRACKING,
                    task_id=task_id,
                    payload_json=dump_payload(payload),
                    state=OutboxState.PENDING,
                    run_id=run_id,
                    now=now,
                    occasion=f"{status}:{eff.isoformat() if eff else NO_EFF_DUE}",
                )
            )
    for row in rows:
        if row.state in REPLACEABLE and key_meaning(row.idempotency_key) != target:
            sink.supersede(row.id, new)
    return new


def _plan_alerts(
    sink: _Sink,
    task: NormalisedTask,
    classification: Classification,
    existing: Sequence[OutboxEntry],
    *,
    context: AlertContext,
    as_of: date,
    calendar: WorkingCalendar,
    settings: Settings,
    run_id: str,
    now: datetime,
) -> list[Planned]:
    rows = [r for r in existing if r.kind == OutboxKind.ALERT.value]
    keys = {r.idempotency_key for r in rows}
    occasions = due_occasions(
        task, classification, as_of, calendar, settings.alerts, context=context
    )
    current = {alert_key(task.source_id, o.type, o.occasion) for o in occasions if o.is_latest}
    intents = alert_intents(
        task,
        classification,
        as_of,
        calendar,
        settings.alerts,
        existing_keys=keys,
        context=context,
        occasions=occasions,
    )
    created: list[Planned] = []
    newest: dict[str, Planned] = {}
    for intent in intents:
        if intent.skipped_recipients:
            log.warning(
                "alert_recipient_unknown",
                task_id=task.source_id,
                key=intent.key,
                skipped=list(intent.skipped_recipients),
            )
        new = sink.add(
            PlannedRow.of(
                key=intent.key,
                kind=OutboxKind.ALERT,
                task_id=task.source_id,
                payload_json=dump_payload(intent.payload()),
                state=OutboxState.PENDING if intent.is_latest else OutboxState.PAST,
                run_id=run_id,
                now=now,
                alert_type=intent.type.value,
                occasion=intent.occasion,
            )
        )
        created.append(new)
        if intent.is_latest:
            newest[intent.type.value] = new
    if settings.alerts.enabled:
        for old in rows:
            if old.state in REPLACEABLE and old.idempotency_key not in current:
                sink.supersede(old.id, newest.get(old.alert_type))
    return created


def plan(
    session: Session,
    task_row: TaskRowLike,
    task: NormalisedTask,
    classification: Classification,
    *,
    as_of: date,
    calendar: WorkingCalendar,
    settings: Settings,
    run_id: str,
    now: datetime,
    existing: Sequence[OutboxEntry] | None = None,
    suggested: tuple[date | None, str] | None = None,
    judgement: Judgement | None = None,
    tally: BackfillTally | None = None,
    batch: PlanBatch | None = None,
) -> list[Planned]:
    """Add to `session` the outbox rows `task` calls for as of `as_of`; never commits.

    Call it in the transaction that stores the task's classification, so the intent and the
    change that caused it commit together. Returns the rows created (pending and past); keys
    already in the outbox are left alone. Nothing is planned when ``push.enabled`` is off.

    `existing`: the task's outbox rows when the caller loaded them for a whole batch
    (`connector.ledger.outbox.by_task`); `suggested`: the (deadline, phrase) read from the text
    when the caller has just computed it (default: the values stored on the row); `judgement`:
    the task's kind and occurrences when the caller has judged it (default: judged here, with
    what the ledger knows of it); `tally` counts the initial tracking writes left out by
    ``push.backfill_completed_before`` (`connector.outbox.backfill`); `batch`: the caller
    plans a batch of tasks (their outbox rows read once, `PlanBatch.of`) and writes what was
    planned with `PlanBatch.finish` before its transaction commits (without it: ORM rows, at
    once).
    """
    if not settings.push.enabled:
        return []
    sink: _Sink = _Immediate(session) if batch is None else batch
    if existing is None and batch is not None:
        existing = batch.existing.get(task_row.source_id, ())
    if existing is None:
        existing = by_task(session, [task_row.source_id])[task_row.source_id]
    created: list[Planned] = []
    tracking = _plan_tracking(
        sink,
        task_row,
        classification,
        existing,
        settings=settings,
        run_id=run_id,
        now=now,
        tally=tally,
        source_status=task.tracking_status,
    )
    if tracking is not None:
        created.append(tracking)
    if judgement is None:
        facts = task_facts(session, [task_row.source_id]).get(task_row.source_id, NO_FACTS)
        policy = policy_from_settings(settings.deadlines)
        judgement = judge(task, classification, calendar, policy, facts)
    units = _cached_units(session, run_id)
    context = alert_context(task_row, units, settings, suggested, judgement)
    created += _plan_alerts(
        sink,
        task,
        classification,
        existing,
        context=context,
        as_of=as_of,
        calendar=calendar,
        settings=settings,
        run_id=run_id,
        now=now,
    )
    if created:
        log.debug(
            "outbox_planned",
            task_id=task_row.source_id,
            keys=[r.idempotency_key for r in created],
        )
        crash_point("before_intent_commit")
    return created


class TaskPlanner(Protocol):
    """`plan` for one judged task, everything else fixed (`task_planner`)."""

    def __call__(
        self,
        session: Session,
        row: LedgerTask,
        judgement: Judgement,
        batch: PlanBatch | None = None,
    ) -> list[Planned]: ...


def task_planner(
    settings: Settings,
    *,
    as_of: date,
    calendar: WorkingCalendar,
    run_id: str,
    clock: Clock,
    tally: BackfillTally | None = None,
) -> TaskPlanner:
    """`plan` as of `as_of` for one task at a time, at the clock's time of each."""

    def plan_task(
        session: Session, row: LedgerTask, judgement: Judgement, batch: PlanBatch | None = None
    ) -> list[Planned]:
        return plan(
            session,
            row,
            judgement.task,
            judgement.classification,
            as_of=as_of,
            calendar=calendar,
            settings=settings,
            run_id=run_id,
            now=clock.now(),
            judgement=judgement,
            tally=tally,
            batch=batch,
        )

    return plan_task


@dataclass
class OutboxPlanner:
    """A `Planner` (`outbox_planner`) that also counts the back-fills it left out: plans a
    batch of judged tasks with one read of their outbox rows and one insert (`PlanBatch`)."""

    planned: TaskPlanner
    tally: BackfillTally

    def __call__(self, session: Session, judged: Sequence[tuple[LedgerTask, Judgement]]) -> int:
        return self.plan(session, judged).finish()

    def plan(self, session: Session, judged: Sequence[tuple[LedgerTask, Judgement]]) -> PlanBatch:
        """The batch's plan, not written yet (reading only: `PlanBatch.finish` writes it)."""
        batch = PlanBatch.of(session, [row.source_id for row, _ in judged])
        for row, judgement in judged:
            batch.task_id = row.source_id
            skipped = self.tally.skipped
            self.planned(session, row, judgement, batch)
            if self.tally.skipped != skipped:
                batch.backfill_skipped.add(row.source_id)
        batch.task_id = None
        return batch


def outbox_planner(
    settings: Settings, *, as_of: date, calendar: WorkingCalendar, run_id: str, clock: Clock
) -> OutboxPlanner | None:
    """Plans tracking writes and alerts (`plan`) in the classification's transaction
    (`connector.rules.classify.reclassify`), so an intent commits with the change that caused
    it; the number of rows added (the back-fills left out: its `tally`); None when push is off."""
    if not settings.push.enabled:
        return None
    tally = BackfillTally()
    planned = task_planner(
        settings, as_of=as_of, calendar=calendar, run_id=run_id, clock=clock, tally=tally
    )
    return OutboxPlanner(planned, tally)


# -- whole-ledger operations ---------------------------------------------------------------------


@dataclass
class PlanResult:
    """What `plan_all` recorded."""

    tasks: int = 0
    tracking: int = 0
    alerts: int = 0
    past: int = 0
    skipped: int = 0
    backfill_skipped: int = 0
    """Tasks whose initial tracking write ``push.backfill_completed_before`` left out."""
    keys: list[str] = field(default_factory=list)


def plan_all(
    ledger: Ledger,
    settings: Settings,
    as_of: date,
    run_id: str,
    clock: Clock,
    *,
    calendar: WorkingCalendar | None = None,
    batch_size: int = 200,
) -> PlanResult:
    """Classify every task as of `as_of` and `plan` its outbox rows, one transaction per batch.

    For runs that did not pull (``alerts plan``, a day with nothing new): the pull's own
    classification step plans as it stores each classification.
    """
    cal = calendar or calendar_for(settings.calendar)
    policy = policy_from_settings(settings.deadlines)
    tally = BackfillTally()
    planned = task_planner(
        settings, as_of=as_of, calendar=cal, run_id=run_id, clock=clock, tally=tally
    )
    result = PlanResult()
    skipped = Unclassifiable()
    after = 0
    while True:
        with ledger.transaction() as session:
            batch = task_batch(session, after=after, limit=batch_size)
            if not batch:
                break
            found = list(
                judged(
                    batch,
                    as_of,
                    cal,
                    policy,
                    task_of=ledger_task,
                    event=UNCLASSIFIABLE,
                    skipped=skipped,
                    facts=ledger_facts(session),
                    batch_size=len(batch),
                )
            )
            writes = PlanBatch.of(session, [row.source_id for row, _ in found])
            for row, judgement in found:
                result.tasks += 1
                for created in planned(session, row, judgement, writes):
                    result.keys.append(created.idempotency_key)
                    if created.state == OutboxState.PAST.value:
                        result.past += 1
                    elif created.kind == OutboxKind.TRACKING.value:
                        result.tracking += 1
                    else:
                        result.alerts += 1
            writes.finish()
            after = batch[-1].source_id
    result.skipped = skipped.count
    result.backfill_skipped = tally.skipped
    tally.report(settings.push.backfill_cutoff, run_id=run_id)
    log.info(
        "outbox_plan_finished",
        as_of=as_of.isoformat(),
        tasks=result.tasks,
        tracking=result.tracking,
        alerts=result.alerts,
        past=result.past,
        backfill_skipped=result.backfill_skipped,
    )
    return result


def preview_alerts(
    db: Db,
    settings: Settings,
    as_of: date,
    *,
    calendar: WorkingCalendar | None = None,
    batch_size: int = 500,
) -> list[AlertIntent]:
    """The alerts that would be sent as of `as_of` (is_latest: to send): those `plan` would
    record, and those it recorded already that still wait in the outbox (pending, failed, or
    sending: a `pull` plans them, the next `push` sends them). Nothing is written.

    A task's kind and occurrences are taken from what the classification step stored of its
    text when that holds for `as_of` with these settings (`LazyJudgement`): after the day's
    pull the texts are not read again, as the report does not read them."""
    cal = calendar or calendar_for(settings.calendar)
    policy = policy_from_settings(settings.deadlines)
    out: list[AlertIntent] = []
    with reading(db) as r:
        units = units_by_code(r)
        keys = tuple(
            settings_key(settings, cal, units.values(), planning=planning)
            for planning in (True, False)
        )
        facts = ledger_facts(r)
        tasks = iter_tasks_read(r, as_of=as_of, keys=keys, batch_size=batch_size)
        while chunk := list(islice(tasks, batch_size)):
            found = list(
                classified(chunk, as_of, cal, policy, task_of=_read_task, event=UNCLASSIFIABLE)
            )
            ids = [task.source_id for _, task, _ in found]
            known = facts(ids)
            # The alert rows already recorded and no longer waiting, one query a batch.
            recorded = alert_keys_by_task(r, ids, but=DELIVERABLE)
            for (row, stored), task, cls in found:
                facts_of_task = known.get(task.source_id, NO_FACTS)
                judgement = LazyJudgement(task, cls, facts_of_task, cal, policy, stored=stored)
                context = alert_context(row, units, settings, judgement=judgement)
                out += alert_intents(
                    task,
                    cls,
                    as_of,
                    cal,
                    settings.alerts,
                    existing_keys=recorded[task.source_id],
                    context=context,
                )
    return out


def _read_task(item: tuple[LedgerTask, StoredReading | None]) -> NormalisedTask:
    return item[0].task
