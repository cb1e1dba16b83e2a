"""The transactional outbox: every intent to write to the source, recorded before it is sent.

An intent (a tracking-status update or an alert) becomes an ``outbox`` row **in the same
transaction as the ledger change that caused it** (`plan`, called by the sync's classification
step inside its per-batch transaction; it adds rows and never commits). `connector.push` then
delivers the rows, each with its own idempotency key, so a crash anywhere loses nothing and the
source never acts twice.

Idempotency keys are deterministic, made from what the intent means:

* tracking status: ``trk:{task_id}:{status}:{eff_due or '-'}``; when the same meaning has to be
  written again later (the status went X → Y → X, and X was already sent or superseded), the
  n-th write of it is ``...#n`` (n = 2, 3, ...), so the server does not replay the first one;
* alert: ``alr:{task_id}:{type}:{occasion}`` (`connector.rules.alerts.alert_key`).

The unique index on the key makes a second insert of an intent impossible; `plan` checks first,
so inserting an existing key is a no-op.

States and transitions (`TRANSITIONS`)::

    pending ──► sending ──► sent
      ▲  │        │  ▲
      │  │        ▼  │ (retry after backoff, or after a crash left it in `sending`)
      │  │      failed ──► dead ──(operator: retry_row / retry_dead)──► pending
      │  ▼        │
      │ superseded◄┘      (a newer intent for the same task made it moot)
      │
    past ──(operator: retry_row)──► pending       (an older occasion: recorded, never sent)

* A tracking row is sent only when the computed status (or ``eff_due``) differs from what the
  source last acknowledged (``task.acked_tracking_status`` / ``acked_eff_due``). A newer status
  for the same task supersedes an older one still ``pending``/``failed`` (``superseded_by``).
* An alert row that is no longer the current occasion of its type (the task was completed, got
  a deadline, a newer weekly reminder came due, the confirmation cut-off passed) is superseded
  while still ``pending``/``failed``. Rows in ``sending`` are never superseded: the request may
  have reached the source, so they are reconciled and finished.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import structlog
from sqlmodel import Session, col, select

from connector.clock import Clock, local_date, to_utc
from connector.errors import BadRecord, OutboxStateError
from connector.ledger.db import Ledger
from connector.ledger.repo import load_tasks, task_from_row, task_ids_after
from connector.ledger.tables import OutboxRow, TaskRow, UnitRow
from connector.models import NormalisedTask, Unit, UnitKind
from connector.ops.faultpoints import crash_point
from connector.rules.alerts import (
    AlertContext,
    AlertIntent,
    alert_intents,
    alert_key,
    due_occasions,
    tracking_note,
)
from connector.rules.calendar import WorkingCalendar, calendar_for
from connector.rules.deadlines import Classification, DeadlinePolicy, classify, policy_from_settings
from connector.settings import PushSettings, Settings

log = structlog.get_logger(__name__)


class OutboxState(StrEnum):
    """Where an outbox row stands (see the module docstring)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    PAST = "past"
    SUPERSEDED = "superseded"


class OutboxKind(StrEnum):
    """What an outbox row writes."""

    TRACKING = "tracking"
    ALERT = "alert"


S = OutboxState
TRANSITIONS: Mapping[OutboxState, frozenset[OutboxState]] = {
    S.PENDING: frozenset({S.SENDING, S.SUPERSEDED}),
    S.SENDING: frozenset({S.SENDING, S.SENT, S.FAILED, S.DEAD}),
    S.FAILED: frozenset({S.SENDING, S.SUPERSEDED, S.DEAD, S.PENDING}),
    S.DEAD: frozenset({S.PENDING}),
    S.PAST: frozenset({S.PENDING}),
    S.SENT: frozenset(),
    S.SUPERSEDED: frozenset(),
}
"""Allowed steps; ``sending → sending`` is the retry of a row a crash left in ``sending``."""

DELIVERABLE: frozenset[OutboxState] = frozenset({S.PENDING, S.FAILED, S.SENDING})
"""States of rows that may still reach the source."""

REPLACEABLE: frozenset[OutboxState] = frozenset({S.PENDING, S.FAILED})
"""States a newer intent can supersede (never ``sending``: it may have reached the source)."""

RETRYABLE: frozenset[OutboxState] = frozenset({S.DEAD, S.FAILED, S.PAST})
"""States an operator can send again (`retry_row`)."""

NO_EFF_DUE = "-"


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


# -- keys and payloads ---------------------------------------------------------------------------


def tracking_key(task_id: int, status: str, eff_due: date | None, revision: int = 1) -> str:
    """``trk:{task_id}:{status}:{eff_due or '-'}``, with ``#n`` for the n-th write (n >= 2)."""
    base = f"trk:{task_id}:{status}:{eff_due.isoformat() if eff_due else NO_EFF_DUE}"
    return base if revision <= 1 else f"{base}#{revision}"


def key_meaning(key: str) -> str:
    """A key without its revision suffix (``trk:1:X:-#2`` → ``trk:1:X:-``)."""
    return key.split("#", 1)[0] if key.startswith("trk:") else key


def tracking_payload(
    task_id: int, classification: Classification, lang: str = "vi"
) -> dict[str, Any]:
    """Body of ``POST /tasks/tracking.cpx`` (contract section 6); no deadline: key omitted."""
    body: dict[str, Any] = {
        "id": task_id,
        "trackingStatus": classification.status.value,
    }
    if classification.eff_due is not None:
        body["effectiveDeadline"] = classification.eff_due.isoformat()
    body["daysOverdue"] = classification.days_overdue
    body["note"] = tracking_note(classification, "en" if lang == "en" else "vi")
    return body


def payload_of(row: OutboxRow) -> dict[str, Any]:
    """The stored request body of a row."""
    data = json.loads(row.payload_json)
    if not isinstance(data, dict):
        raise OutboxStateError(f"outbox row {row.id}: payload is not a JSON object", row_id=row.id)
    return data


def _dump(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# -- the state machine ---------------------------------------------------------------------------


def transition(row: OutboxRow, to: OutboxState) -> None:
    """Move `row` to state `to`, refusing a step `TRANSITIONS` does not allow."""
    current = OutboxState(row.state)
    if to not in TRANSITIONS[current]:
        raise OutboxStateError(
            f"outbox row {row.id} ({row.idempotency_key}) is {current.value}; "
            f"it cannot become {to.value}",
            row_id=row.id,
            state=current.value,
        )
    row.state = to.value


def backoff_seconds(attempts: int, push: PushSettings) -> float:
    """Wait before the next attempt after `attempts` failed ones: initial · 2^(n-1), capped."""
    if attempts <= 0:
        return 0.0
    wait = push.retry_initial_seconds * (2.0 ** min(attempts - 1, 62))
    return float(min(wait, push.retry_max_seconds))


def mark_sending(row: OutboxRow, now: datetime) -> None:
    transition(row, S.SENDING)
    row.sending_at = to_utc(now)


def mark_sent(row: OutboxRow, now: datetime, response_id: str) -> None:
    transition(row, S.SENT)
    row.sent_at = to_utc(now)
    row.response_id = response_id
    row.next_attempt_at = None


def mark_failed(row: OutboxRow, now: datetime, error: str, push: PushSettings) -> OutboxState:
    """One more failed attempt: ``failed`` with a backoff, or ``dead`` past ``max_attempts``."""
    row.attempts += 1
    row.last_error = error
    if row.attempts >= push.max_attempts:
        transition(row, S.DEAD)
        row.next_attempt_at = None
        return S.DEAD
    transition(row, S.FAILED)
    row.next_attempt_at = to_utc(now) + timedelta(seconds=backoff_seconds(row.attempts, push))
    return S.FAILED


def mark_dead(row: OutboxRow, error: str) -> None:
    transition(row, S.DEAD)
    row.attempts += 1
    row.last_error = error
    row.next_attempt_at = None


def supersede(row: OutboxRow, by: OutboxRow | None) -> None:
    transition(row, S.SUPERSEDED)
    row.superseded_by = by.id if by is not None else None
    row.next_attempt_at = None


# -- planning ------------------------------------------------------------------------------------


def units_by_code(session: Session) -> dict[str, Unit]:
    """The ledger's unit table as `Unit`s (rows with an unknown kind are skipped and logged)."""
    units: dict[str, Unit] = {}
    columns = (UnitRow.code, UnitRow.name, UnitRow.kind, UnitRow.parent_code)
    for code, name, raw_kind, parent in session.execute(select(*(col(c) for c in columns))):
        try:
            kind = UnitKind(raw_kind)
        except ValueError:
            log.warning("unit_kind_unknown", unit=code, kind=raw_kind)
            continue
        units[code] = Unit(code, name, kind, parent)
    return units


def _cached_units(session: Session, run_id: str) -> dict[str, Unit]:
    cache_key = ("outbox_units", run_id)
    cached = session.info.get(cache_key)
    if isinstance(cached, dict):
        return cached
    units = units_by_code(session)
    session.info[cache_key] = units
    return units


def alert_context(
    task_row: TaskRowLike,
    units: Mapping[str, Unit],
    settings: Settings,
    suggested: tuple[date | None, str] | None = None,
) -> AlertContext:
    """What the alert rules need from the ledger row beyond the task itself.

    `suggested` is the (deadline, phrase) read from the task's text; None: the row's values.
    """
    first_seen = task_row.first_seen_at
    if suggested is None:
        suggested = (task_row.suggested_deadline, task_row.suggested_phrase)
    return AlertContext(
        units=units,
        first_seen_on=local_date(first_seen) if first_seen is not None else None,
        suggested_deadline=suggested[0],
        suggested_phrase=suggested[1],
        overdue_long_days=settings.deadlines.overdue_long_days,
    )


@dataclass(frozen=True)
class ExistingRow:
    """What planning needs to know of an outbox row already there (read without the ORM)."""

    id: int
    task_id: int
    idempotency_key: str
    kind: str
    state: str
    alert_type: str


_EXISTING_COLUMNS = (
    OutboxRow.id,
    OutboxRow.task_id,
    OutboxRow.idempotency_key,
    OutboxRow.kind,
    OutboxRow.state,
    OutboxRow.alert_type,
)


def rows_by_task(session: Session, task_ids: Sequence[int]) -> dict[int, list[ExistingRow]]:
    """The outbox rows of several tasks (one query), by task id, oldest first."""
    out: dict[int, list[ExistingRow]] = {task_id: [] for task_id in task_ids}
    if not task_ids:
        return out
    query = (
        select(*(col(c) for c in _EXISTING_COLUMNS))
        .where(col(OutboxRow.task_id).in_(list(task_ids)))
        .order_by(col(OutboxRow.id))
    )
    for values in session.execute(query):
        row = ExistingRow(*values)
        out.setdefault(row.task_id, []).append(row)
    return out


def _task_rows(session: Session, task_id: int) -> list[ExistingRow]:
    query = (
        select(*(col(c) for c in _EXISTING_COLUMNS))
        .where(col(OutboxRow.task_id) == task_id)
        .order_by(col(OutboxRow.id))
    )
    return [ExistingRow(*values) for values in session.execute(query)]


def _supersede_by_id(session: Session, row_id: int, by: OutboxRow | None) -> None:
    row = session.get(OutboxRow, row_id)
    if row is not None and row.state in REPLACEABLE:
        supersede(row, by)
        log.info("outbox_superseded", key=row.idempotency_key, by=by.idempotency_key if by else "")


def _new_row(
    *,
    key: str,
    kind: OutboxKind,
    task_id: int,
    payload: Mapping[str, Any],
    state: OutboxState,
    run_id: str,
    now: datetime,
    alert_type: str = "",
    occasion: str = "",
) -> OutboxRow:
    return OutboxRow(
        idempotency_key=key,
        kind=kind.value,
        task_id=task_id,
        alert_type=alert_type,
        occasion=occasion,
        payload_json=_dump(payload),
        state=state.value,
        created_run=run_id,
        created_at=to_utc(now),
    )


def _plan_tracking(
    session: Session,
    task_row: TaskRowLike,
    classification: Classification,
    existing: Sequence[ExistingRow],
    *,
    settings: Settings,
    run_id: str,
    now: datetime,
) -> OutboxRow | None:
    task_id = task_row.source_id
    status = classification.status.value
    eff = classification.eff_due
    wanted = (
        settings.push.tracking_status
        and not task_row.deleted_at_source
        and (status, eff) != (task_row.acked_tracking_status, task_row.acked_eff_due)
    )
    target = tracking_key(task_id, status, eff) if wanted else None
    rows = [r for r in existing if r.kind == OutboxKind.TRACKING.value]
    new: OutboxRow | None = None
    if target is not None:
        same = [r for r in rows if key_meaning(r.idempotency_key) == target]
        if any(r.state in DELIVERABLE for r in same):
            pass  # already on its way
        elif same and same[-1].state == S.DEAD.value:
            log.info("tracking_not_replanned_dead", task_id=task_id, key=same[-1].idempotency_key)
        else:
            key = tracking_key(task_id, status, eff, revision=len(same) + 1)
            payload = tracking_payload(task_id, classification, settings.alerts.lang)
            new = _new_row(
                key=key,
                kind=OutboxKind.TRACKING,
                task_id=task_id,
                payload=payload,
                state=S.PENDING,
                run_id=run_id,
                now=now,
                occasion=f"{status}:{eff.isoformat() if eff else NO_EFF_DUE}",
            )
            session.add(new)
            session.flush()
    for row in rows:
        if row.state in REPLACEABLE and key_meaning(row.idempotency_key) != target:
            _supersede_by_id(session, row.id, new)
    return new


def _plan_alerts(
    session: Session,
    task: NormalisedTask,
    classification: Classification,
    existing: Sequence[ExistingRow],
    *,
    context: AlertContext,
    as_of: date,
    calendar: WorkingCalendar,
    settings: Settings,
    run_id: str,
    now: datetime,
) -> list[OutboxRow]:
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
    )
    created: list[OutboxRow] = []
    newest: dict[str, OutboxRow] = {}
    for intent in intents:
        if intent.skipped_recipients:
            log.warning(
                "alert_recipient_unknown",
                task_id=task.source_id,
                key=intent.key,
                skipped=list(intent.skipped_recipients),
            )
        new = _new_row(
            key=intent.key,
            kind=OutboxKind.ALERT,
            task_id=task.source_id,
            payload=intent.payload(),
            state=S.PENDING if intent.is_latest else S.PAST,
            run_id=run_id,
            now=now,
            alert_type=intent.type.value,
            occasion=intent.occasion,
        )
        session.add(new)
        created.append(new)
        if intent.is_latest:
            newest[intent.type.value] = new
    if created:
        session.flush()
    if settings.alerts.enabled:
        for old in rows:
            if old.state in REPLACEABLE and old.idempotency_key not in current:
                _supersede_by_id(session, old.id, newest.get(old.alert_type))
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
    existing: Sequence[ExistingRow] | None = None,
    suggested: tuple[date | None, str] | None = None,
) -> list[OutboxRow]:
    """Add to `session` the outbox rows `task` calls for as of `as_of`; never commits.

    Call it in the transaction that stores the task's classification, so the intent and the
    change that caused it commit together. Returns the rows created (pending and past); keys
    already in the outbox are left alone. Nothing is planned when ``push.enabled`` is off.

    `existing`: the task's outbox rows when the caller loaded them for a whole batch
    (`rows_by_task`); `suggested`: the (deadline, phrase) read from the text when the caller
    has just computed it (default: the values stored on the row).
    """
    if not settings.push.enabled:
        return []
    if existing is None:
        existing = _task_rows(session, task_row.source_id)
    created: list[OutboxRow] = []
    tracking = _plan_tracking(
        session, task_row, classification, existing, settings=settings, run_id=run_id, now=now
    )
    if tracking is not None:
        created.append(tracking)
    context = alert_context(task_row, _cached_units(session, run_id), settings, suggested)
    created += _plan_alerts(
        session,
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


# -- whole-ledger operations ---------------------------------------------------------------------


@dataclass
class PlanResult:
    """What `plan_all` recorded."""

    tasks: int = 0
    tracking: int = 0
    alerts: int = 0
    past: int = 0
    skipped: int = 0
    keys: list[str] = field(default_factory=list)


def policy_from(settings: Settings) -> DeadlinePolicy:
    """The deadline rules' options (`connector.rules.deadlines.policy_from_settings`)."""
    return policy_from_settings(settings.deadlines)


def calendar_from(settings: Settings) -> WorkingCalendar:
    """The working calendar of these settings (`connector.rules.calendar.calendar_for`)."""
    return calendar_for(settings.calendar)


def _classified(
    session: Session, ids: Sequence[int], as_of: date, cal: WorkingCalendar, policy: DeadlinePolicy
) -> Iterator[tuple[TaskRow, NormalisedTask, Classification]]:
    for row in load_tasks(session, ids):
        task = task_from_row(row)
        try:
            yield row, task, classify(task, as_of, cal, policy)
        except BadRecord as exc:
            log.warning("outbox_task_unclassifiable", task_id=row.source_id, error=str(exc))


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
    cal = calendar or calendar_from(settings)
    policy = policy_from(settings)
    result = PlanResult()
    after = 0
    while True:
        with ledger.transaction() as session:
            ids = task_ids_after(session, after, batch_size)
            if not ids:
                break
            for row, task, cls in _classified(session, ids, as_of, cal, policy):
                result.tasks += 1
                for created in plan(
                    session,
                    row,
                    task,
                    cls,
                    as_of=as_of,
                    calendar=cal,
                    settings=settings,
                    run_id=run_id,
                    now=clock.now(),
                ):
                    result.keys.append(created.idempotency_key)
                    if created.state == S.PAST.value:
                        result.past += 1
                    elif created.kind == OutboxKind.TRACKING.value:
                        result.tracking += 1
                    else:
                        result.alerts += 1
            after = ids[-1]
    log.info(
        "outbox_plan_finished",
        as_of=as_of.isoformat(),
        tasks=result.tasks,
        tracking=result.tracking,
        alerts=result.alerts,
        past=result.past,
    )
    return result


def preview_alerts(
    ledger: Ledger,
    settings: Settings,
    as_of: date,
    *,
    calendar: WorkingCalendar | None = None,
    batch_size: int = 500,
) -> list[AlertIntent]:
    """The alerts `plan` would record as of `as_of` (is_latest: to send). Nothing is written."""
    cal = calendar or calendar_from(settings)
    policy = policy_from(settings)
    out: list[AlertIntent] = []
    after = 0
    with ledger.reading() as session:
        units = units_by_code(session)
        while ids := task_ids_after(session, after, batch_size):
            for row, task, cls in _classified(session, ids, as_of, cal, policy):
                keys = {
                    r.idempotency_key
                    for r in _task_rows(session, row.source_id)
                    if r.kind == OutboxKind.ALERT.value
                }
                context = alert_context(row, units, settings)
                out += alert_intents(
                    task, cls, as_of, cal, settings.alerts, existing_keys=keys, context=context
                )
            after = ids[-1]
    return out


def list_outbox(session: Session, state: str | OutboxState | None = None) -> list[OutboxRow]:
    """Outbox rows by id, optionally in one state."""
    query = select(OutboxRow).order_by(col(OutboxRow.id))
    if state is not None:
        try:
            wanted = OutboxState(state)
        except ValueError:
            valid = ", ".join(s.value for s in OutboxState)
            raise OutboxStateError(f"unknown outbox state {state!r}; valid: {valid}") from None
        query = query.where(col(OutboxRow.state) == wanted.value)
    return list(session.scalars(query))


def retry_row(session: Session, row_id: int) -> OutboxRow:
    """Put a dead, failed or past row back to ``pending`` (attempts reset); caller commits."""
    row = session.get(OutboxRow, row_id)
    if row is None:
        raise OutboxStateError(f"no outbox row with id {row_id}", row_id=row_id)
    if row.state not in RETRYABLE:
        raise OutboxStateError(
            f"outbox row {row_id} ({row.idempotency_key}) is {row.state}; only dead, failed "
            "or past rows can be retried",
            row_id=row_id,
            state=row.state,
        )
    transition(row, S.PENDING)
    row.attempts = 0
    row.next_attempt_at = None
    session.flush()
    log.info("outbox_retry", id=row_id, key=row.idempotency_key)
    return row


def retry_dead(session: Session) -> int:
    """Put every dead row back to ``pending`` (attempts reset); how many. Caller commits."""
    rows = list_outbox(session, S.DEAD)
    for row in rows:
        transition(row, S.PENDING)
        row.attempts = 0
        row.next_attempt_at = None
    session.flush()
    log.info("outbox_retry_dead", rows=len(rows))
    return len(rows)
