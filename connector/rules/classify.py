"""Classify: the deadline rules applied to every task of the ledger, writing what changed.

`reclassify` walks the task table in batches, one transaction a batch: it classifies each task
as of a date (`connector.rules.deadlines.classify`), reads a deadline from the text of a task
without one (`connector.rules.phrases`), and writes only what changed: the classification
columns, a ``status_code`` history row per status change (dated by `status_effective_on`), and
whatever its `planner` adds in the same transaction (the outbox rows,
`connector.outbox.planning.outbox_planner`). The pull calls it after its pages
(`connector.source.pull`).

**A run's cost grows with what changed, not with the number of tasks.** With a `key` (the
digest of what the verdicts are computed with: `classify_key`), `reclassify` looks only at the
tasks due (`connector.ledger.tasks.due_task_batch`): new or changed since they were last
classified (the page writer, a kind override, a delivered tracking status other than the one
the task is classified with, and a missing mark clear ``recheck_on``; the connector's own
tracking write acknowledged as planned changes no verdict), whose ``recheck_on`` has come,
judged as of a later day (``checked_on`` after the as-of date: a run with an earlier explicit
``as_of`` looks at them again), or classified with another key (the rules' version, the
deadline, alert and push settings, the calendar or the units changed). It stamps every task it
judged with the as-of date (``checked_on``), the key, and ``recheck_on``: the first date on
which that task's verdict (classification, suggestion, alert occasions, outbox plan) can differ
by the date alone (`connector.rules.recheck.recheck_after`: the next working day of a task
within its deadline, the next reminder of a task without one, up to a quarter ahead for a
completed or withdrawn task, the next day for an overdue task or a recurring obligation). So
the first run of a day judges only the tasks whose verdict can have changed since, and runs of
the same day after the first (a 15-minute schedule) classify only what they wrote.

`classified` is the one loop that turns tasks into classified tasks, skipping (and logging)
those the rules refuse; `judged` adds, batch by batch, what the ledger knows of each (the
administrator's kind override: `connector.ledger.facts`) and the rest of the rules' reading
(`connector.rules.judge`): `reclassify`, the outbox planner (`plan_all`, `preview_alerts`), the
report (`connector.reports.build`) and ``tasks show`` all go through them.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

import structlog

from connector.clock import Clock, local_date
from connector.errors import BadRecord
from connector.ledger.columns import classification_differs, classification_values
from connector.ledger.facts import task_facts
from connector.ledger.tasks import (
    ClassificationChange,
    LedgerTask,
    due_task_batch,
    stamp_rechecks,
    task_batch,
    write_classifications,
)
from connector.models import NO_FACTS, NormalisedTask, StatusCode, TaskFacts, Unit
from connector.rules.calendar import WorkingCalendar
from connector.rules.deadlines import Classification, DeadlinePolicy, classify
from connector.rules.judge import Judgement, judge
from connector.rules.recheck import recheck_after

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.db import Ledger
    from connector.ledger.reader import Db
    from connector.ops.progress import ProgressReporter
    from connector.rules.phrases import Suggestion
    from connector.settings import AlertSettings, Settings

log = structlog.get_logger(__name__)

UNCLASSIFIABLE = "classify_failed"
"""The event of a task the deadline rules refuse in the classification step (it is skipped and
counted in ``classify_errors``)."""

DONE_STATUSES = frozenset({StatusCode.HT_DUNG_HAN, StatusCode.HT_QUA_HAN, StatusCode.HT_KHONG_HAN})
OPEN_FROM_ASSIGNMENT = frozenset({StatusCode.DTH_TRONG_HAN, StatusCode.KHONG_THOI_HAN})


def suggestion_for(task: NormalisedTask, calendar: WorkingCalendar) -> Suggestion | None:
    """A deadline read from the text of a task without one (steering content, then subject)."""
    if task.deadline is not None:
        return None
    from connector.rules.phrases import suggest_for_task  # noqa: PLC0415 - the reader is large

    return suggest_for_task(task, calendar)


def status_effective_on(
    result: Classification, previous: str | None, task: NormalisedTask, as_of: date
) -> date:
    """The local date a (new) status took effect, never after `as_of`.

    Overdue: the day after ``eff_due``. Done: the completion date. A first classification of a
    task open within its deadline (or without one): the day it was assigned. Otherwise the
    as-of date (the day the change was seen).
    """
    status = result.status
    day = as_of
    if status is StatusCode.DTH_QUA_HAN and result.eff_due is not None:
        day = result.eff_due + timedelta(days=1)
    elif status in DONE_STATUSES and result.completed_on is not None:
        day = result.completed_on
    elif previous is None and status in OPEN_FROM_ASSIGNMENT and task.assigned_at is not None:
        day = local_date(task.assigned_at)
    return min(day, as_of)


RULES_VERSION = "3"
"""Part of every classification key (`classify_key`, with the release): raise it when a rule
changes a verdict, an alert's plan or the days a task is judged again (`recheck`) within a
release, so the next run classifies every task again."""


def classify_key(*parts: str) -> str:
    """A short digest of what verdicts are computed with (the rules' version, the settings,
    the calendar, the units...): a task classified with another key is classified again."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8"))
    return digest.hexdigest()[:32]


def settings_key(
    settings: Settings, calendar: WorkingCalendar, units: Iterable[Unit], *, planning: bool
) -> str:
    """The classification key of a pull (`classify_key`): the release and `RULES_VERSION`, the
    deadline, alert and push settings (push: only when the outbox is planned), the calendar and
    the ledger's `units`. The report computes it too, to tell a stored reading it may use."""
    return classify_key(
        release(),
        RULES_VERSION,
        settings.deadlines.model_dump_json(),
        settings.alerts.model_dump_json(),
        settings.push.model_dump_json() if planning else "outbox not planned",
        repr(calendar),
        *sorted(repr(unit) for unit in units),
    )


@functools.cache
def release() -> str:
    """The installed release of idesk-connector (``unknown`` in a source tree not installed)."""
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("idesk-connector")
    except PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


@dataclass
class ClassifyResult:
    """What `reclassify` did."""

    classified: int = 0
    changed: int = 0
    status_changes: int = 0
    suggested: int = 0
    planned: int = 0
    errors: int = 0

    def add(self, verdicts: Verdicts) -> None:
        """Count a batch's verdicts (not what was planned or written of them)."""
        self.classified += len(verdicts.judged)
        self.suggested += len(verdicts.suggested)
        self.changed += len(verdicts.changes)


Planner = Callable[["Session", Sequence[tuple[LedgerTask, Judgement]]], int]
"""Called once per batch of judged tasks inside the batch's transaction, each with its row as
classified; returns how many outbox rows it added (`connector.outbox.planning.outbox_planner`,
which reads the batch's outbox rows once and inserts the new ones in one statement)."""

FactsOf = Callable[[Sequence[int]], Mapping[int, TaskFacts]]
"""What the ledger knows of a batch of tasks by id (`connector.ledger.facts.task_facts`)."""

T = TypeVar("T")


@dataclass
class Unclassifiable:
    """How many tasks `classified` left out because the rules refused them."""

    count: int = 0


def ledger_task(item: LedgerTask) -> NormalisedTask:
    """The task of a ledger row (the `task_of` of `classified` over `LedgerTask` rows)."""
    return item.task


def classified(
    items: Iterable[T],
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    *,
    task_of: Callable[[T], NormalisedTask],
    event: str,
    skipped: Unclassifiable | None = None,
) -> Iterator[tuple[T, NormalisedTask, Classification]]:
    """Each item (a ledger row, a task) with its task and that task's classification as of
    `as_of`, lazily: the one loop of the classification step, the outbox planner and the report.

    A task the rules refuse (`BadRecord`: e.g. a deadline year outside the calendar) is logged
    as `event` (with its id, field and the reason), counted in `skipped` and left out.
    """
    for item in items:
        task = task_of(item)
        try:
            result = classify(task, as_of, calendar, policy)
        except BadRecord as exc:
            log.warning(event, task_id=task.source_id, field=exc.field, error=str(exc))
            if skipped is not None:
                skipped.count += 1
            continue
        yield item, task, result


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def judged(
    items: Iterable[T],
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    *,
    task_of: Callable[[T], NormalisedTask],
    event: str,
    skipped: Unclassifiable | None = None,
    facts: FactsOf | None = None,
    batch_size: int = 500,
) -> Iterator[tuple[T, Judgement]]:
    """Each item with its task judged as of `as_of` (`connector.rules.judge.judge`): the loop
    of `classified`, with what the ledger knows of each task read by `facts` once a batch
    (None: nothing more is known)."""
    for chunk in _chunks(items, batch_size):
        found = list(
            classified(
                chunk, as_of, calendar, policy, task_of=task_of, event=event, skipped=skipped
            )
        )
        known = facts([task.source_id for _, task, _ in found]) if facts is not None else {}
        for item, task, result in found:
            facts_of_task = known.get(task.source_id, NO_FACTS)
            yield item, judge(task, result, calendar, policy, facts_of_task)


def ledger_facts(db: Db, *, as_of: date | None = None) -> FactsOf:
    """`task_facts` of the ledger `db` (now, or as known at the end of `as_of`)."""
    return lambda ids: task_facts(db, ids, as_of=as_of)


@dataclass
class Verdicts:
    """What judging a batch of tasks decided, before anything is written (`judge_batch`):
    stored by `store_verdicts`, with the outbox rows planned from `to_plan` beside them."""

    judged: list[int] = field(default_factory=list)
    """The ids of the tasks judged, in the batch's order (a task the rules refuse is not)."""
    suggested: set[int] = field(default_factory=set)
    """The tasks given a deadline read from their text."""
    changes: list[ClassificationChange] = field(default_factory=list)
    """The tasks whose stored classification differs, with their new values."""
    rechecks: dict[int, date] | None = None
    """With a key: each judged task's ``recheck_on`` (`recheck_after`)."""
    to_plan: list[tuple[LedgerTask, Judgement]] = field(default_factory=list)
    """Each judged task's row (as classified) and judgement: what a planner plans from."""

    def without(self, ids: Set[int]) -> Verdicts:
        """These verdicts less those of the tasks `ids` (written again since they were read:
        they are judged again)."""
        if not ids:
            return self
        return Verdicts(
            judged=[i for i in self.judged if i not in ids],
            suggested=self.suggested - ids,
            changes=[c for c in self.changes if c.task_id not in ids],
            rechecks=(
                {i: d for i, d in self.rechecks.items() if i not in ids}
                if self.rechecks is not None
                else None
            ),
            to_plan=[(row, j) for row, j in self.to_plan if row.source_id not in ids],
        )


def judge_batch(
    db: Db,
    batch: Sequence[LedgerTask],
    *,
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    skipped: Unclassifiable,
    key: str | None,
    alerts: AlertSettings | None,
) -> Verdicts:
    """Judge a batch of stored tasks as of `as_of` (reading only, from `db`): their new
    classification values where they differ from the stored ones, each one's recheck day with a
    `key` (its alert occasions counted when `alerts` is given: the outbox is planned), and the
    rows to plan from. A task the rules refuse is logged, counted in `skipped` and left out."""
    out = Verdicts()
    for stored, judgement in judged(
        batch,
        as_of,
        calendar,
        policy,
        task_of=ledger_task,
        event=UNCLASSIFIABLE,
        skipped=skipped,
        facts=ledger_facts(db),
        batch_size=len(batch),
    ):
        task, classification = judgement.task, judgement.classification
        suggestion = judgement.suggestion
        values = classification_values(classification, suggestion, judgement.kind)
        out.judged.append(task.source_id)
        if suggestion is not None and suggestion.deadline is not None:
            out.suggested.add(task.source_id)
        row = stored
        if classification_differs(stored.stored, values):
            out.changes.append(
                ClassificationChange(
                    task_id=task.source_id,
                    values=values,
                    old_status=stored.status_code,
                    effective_on=status_effective_on(
                        classification, stored.status_code, task, as_of
                    ),
                    source_modified=task.last_modified,
                )
            )
            row = stored.classified(values, as_of)
        out.to_plan.append((row, judgement))
    if key is not None:
        out.rechecks = {
            row.source_id: recheck_after(
                judgement,
                calendar=calendar,
                policy=policy,
                alerts=alerts,
                first_seen_on=_first_seen_on(row),
            )
            for row, judgement in out.to_plan
        }
    return out


def store_verdicts(
    session: Session,
    verdicts: Verdicts,
    *,
    as_of: date,
    run_id: str,
    observed_at: datetime,
    key: str | None,
) -> int:
    """Write `verdicts` in `session`: the changed classifications with their status history
    and, with a `key`, every judged task's stamp (a changed task's with its classification, in
    one UPDATE of its row; the others' alone); the number of status changes."""
    changes = verdicts.changes
    status_changes = write_classifications(
        session,
        changes,
        as_of=as_of,
        run_id=run_id,
        observed_at=observed_at,
        rechecks=verdicts.rechecks,
        key=key or "",
    )
    if key is not None and verdicts.rechecks is not None:
        changed = {c.task_id for c in changes}
        unchanged = {i: day for i, day in verdicts.rechecks.items() if i not in changed}
        stamp_rechecks(session, unchanged, key=key, checked_on=as_of)
    return status_changes


def reclassify(
    ledger: Ledger,
    *,
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    run_id: str,
    clock: Clock,
    batch_size: int = 500,
    progress: ProgressReporter | None = None,
    planner: Planner | None = None,
    key: str | None = None,
    alerts: AlertSettings | None = None,
    result: ClassifyResult | None = None,
) -> ClassifyResult:
    """Classify every task as of `as_of` (with `key`: every task due, see the module
    docstring), one transaction a batch, writing only what changed: the classification
    columns, a ``status_code`` history row per status change, and whatever `planner` adds
    (outbox rows) in the same transaction; with `key`, also each judged task's ``checked_on``
    and ``recheck_on``. `alerts`: the alert settings `planner` plans with (required with a
    planner and a key: the alert occasions are part of a verdict). `result`: counts to add to
    (what the pull's pages already classified, `connector.source.classifier`)."""
    if key is not None and planner is not None and alerts is None:
        raise ValueError("reclassify: a planner with a key needs the alert settings it plans with")
    result = result if result is not None else ClassifyResult()
    skipped = Unclassifiable()
    after = 0
    while True:
        with ledger.transaction() as session:
            if key is None:
                batch = task_batch(session, after=after, limit=batch_size)
            else:
                batch = due_task_batch(session, as_of=as_of, key=key, after=after, limit=batch_size)
            if not batch:
                break
            observed_at = clock.now()
            verdicts = judge_batch(
                session,
                batch,
                as_of=as_of,
                calendar=calendar,
                policy=policy,
                skipped=skipped,
                key=key,
                alerts=alerts if planner is not None else None,
            )
            result.add(verdicts)
            if planner is not None:
                result.planned += planner(session, verdicts.to_plan)
            result.status_changes += store_verdicts(
                session, verdicts, as_of=as_of, run_id=run_id, observed_at=observed_at, key=key
            )
            after = batch[-1].source_id
        if progress is not None:
            progress.advance(len(batch))
    result.errors += skipped.count
    return result


def _first_seen_on(row: LedgerTask) -> date | None:
    """The local date the connector first saw the task (the missing-deadline alert's day)."""
    return local_date(row.first_seen_at) if row.first_seen_at is not None else None
