"""Delivering the outbox: tracking statuses and alerts, each reaching the source exactly once.

`deliver_pending` takes the rows that are due (``pending``, or ``failed`` whose
``next_attempt_at`` has come, and any row a crash left in ``sending``), alerts first, then the
tracking writes (a first sync queues one for every task), each kind oldest first
(`connector.ledger.outbox.due_ids`). ``push.concurrency`` senders (threads sharing the client and
its one pace) work on them at once; the ledger is written by the calling thread only, in
batches. For each row:

1. marks it ``sending`` and **commits** (before any request is made; the rows about to go, up to
   twice the senders, in one transaction); the first time, it also
   stamps ``in_doubt_since``: from then on a request for the row may have reached the source,
   and the row remembers it for good (failures, ``dead`` and an operator's retry included);
2. when an earlier request may have reached the source (``in_doubt_since`` was already set, or
   a crash left the row in ``sending``), reconciles first: an alert is looked up in
   ``GET /notifications/list.cpx?taskId=``; a tracking write older than
   ``push.idempotency_window_hours`` (the source no longer replays its key) is checked on the
   task (``view``), and counts as delivered when the task carries the row's status and that
   status differs from the one acknowledged before. Found: the row is ``sent`` without a new
   request (*reconciled*);
3. sends the request with the row's ``Idempotency-Key`` (the source replays a repeated key
   instead of acting twice). The client is paced (`PushClient.pace`, ``push.rate_per_second``,
   a run's one budget for the source, `connector.source.transport.TokenBucket`): every request
   of every sender counts, logins, retries and reconciling reads included, and a
   ``Retry-After`` holds every sender;
4. marks it ``sent`` with the response id, and for a tracking row stores what the source now
   acknowledges (``task.acked_tracking_status`` / ``acked_eff_due``), in one commit with the
   other answers of its batch (`COMMIT_ROWS` rows, or `COMMIT_SECONDS`). A crash before that
   commit leaves the row ``sending`` with ``in_doubt_since``: step 2 of the next run.

Failures: a transient one (`DeliveryError`, `SourceUnavailable` past the client's retry budget)
counts an attempt and sets ``failed`` with ``next_attempt_at`` after an exponential backoff
(``push.retry_initial_seconds`` doubling up to ``push.retry_max_seconds``, across runs), ``dead``
after ``push.max_attempts``. Since the client has already retried the request within its own
budget (``retry.*``), the run then stops delivering: the source is in trouble. The rows in
flight are answered and recorded, the rows claimed but not yet sent go back to the state they
had (`_unclaim`), and every row not delivered waits for the next run without losing an attempt;
they are counted (``undelivered``, event ``push_stopped``) and make the run's outcome
``problems`` (exit 1). A failure the client did not retry (one final answer that may pass
later, an application's HTTP 500: ``DeliveryError.retried`` false) fails that row alone and
the run goes on with the others, unless `LONE_FAILURES_TO_STOP` such failures come with no
delivery between them: the application is failing every write, and the run stops as above
rather than send it every due row. A permanent refusal
(`DeliveryRefused`: ``422 idempotency_key_reused``, ``unknown_recipient``, ``invalid_status``,
``404``) makes the row ``dead`` at once with the source's reason, logged loudly (event
``delivery_dead``, level error); `outbox.retry_row` / `outbox.retry_dead` bring it back.
Refused credentials (`AuthError`) put the row back to ``failed`` without counting an attempt
and end the run.

Crash points (`connector.ops.faultpoints`, test hooks) sit between the steps. With one sender
(``push.concurrency = 1``) the steps go row by row: claim, send, record.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog

from connector.clock import Clock, local_date, to_utc
from connector.errors import (
    AuthError,
    ConnectorError,
    DeliveryError,
    DeliveryRefused,
    OutboxStateError,
    SourceError,
    SourceRefused,
)
from connector.ledger.outbox import due_ids, get_row, replaceable_tracking, still_due
from connector.ledger.tasks import acked_status, acknowledge
from connector.ops.faultpoints import crash_point
from connector.ops.signals import InterruptGuard
from connector.outbox.keys import payload_of
from connector.outbox.states import (
    DELIVERABLE,
    OutboxKind,
    OutboxState,
    mark_dead,
    mark_failed,
    mark_sending,
    mark_sent,
    supersede,
    transition,
)
from connector.rules.calendar import WorkingCalendar, calendar_for
from connector.settings import Settings
from connector.source.transport import TokenBucket, pace_for

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.db import Ledger
    from connector.ledger.tables import OutboxRow
    from connector.ops.progress import ProgressReporter

log = structlog.get_logger(__name__)


# -- what push needs from the HTTP client --------------------------------------------------------


class WriteOutcome(Protocol):
    """The answer to an idempotent write (`connector.source.client.WriteResult`)."""

    @property
    def status(self) -> int: ...

    @property
    def body(self) -> Mapping[str, Any]: ...

    @property
    def replayed(self) -> bool: ...


class ClientStatsLike(Protocol):
    """What a run summary takes from a client's statistics (`connector.source.http.ClientStats`)."""

    @property
    def retries(self) -> int: ...

    @property
    def rate_limited(self) -> int: ...

    @property
    def waited_s(self) -> float: ...


class TrackingSeen(Protocol):
    """A task's tracking status as the source holds it (`source.client.SourceTracking`)."""

    @property
    def status(self) -> str: ...

    @property
    def last_modified(self) -> str: ...


class PushClient(Protocol):
    """The calls `deliver_pending` makes (`connector.source.client.SourceClient` has them)."""

    def pace(self, bucket: TokenBucket) -> None:
        """Send every later request (logins and retries included) within `bucket`'s rate."""

    def post_tracking(self, body: dict[str, Any], idempotency_key: str) -> WriteOutcome: ...

    def send_notification(self, body: dict[str, Any], idempotency_key: str) -> WriteOutcome: ...

    def list_notifications(self, task_id: int) -> list[dict[str, Any]]: ...

    def read_tracking(self, task_id: int) -> TrackingSeen | None: ...


# -- results -------------------------------------------------------------------------------------


@dataclass
class PushResult:
    """What one delivery run did (``dry_run``: what it would have sent)."""

    due: int = 0
    sent: int = 0
    tracking_sent: int = 0
    alerts_sent: int = 0
    replayed: int = 0
    reconciled: int = 0
    failed: int = 0
    dead: int = 0
    superseded: int = 0
    would_send: int = 0
    undelivered: int = 0
    """Due rows left in the outbox because delivery stopped (the source in trouble)."""
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    """The delivery client's retries, 429 answers and seconds waited (`add_client_stats`)."""
    stopped: str = ""
    stop_error: str = ""
    dry_run: bool = False
    digests_sent: int = 0
    webhooks_sent: int = 0
    """E-mail digests and webhook posts delivered (`connector.outbox.channels`)."""
    resent_in_doubt: int = 0
    """Digests and webhook posts sent again because an earlier send may have arrived."""
    held: int = 0
    """Due rows held back: their task's newer record waits in quarantine
    (`connector.ledger.outbox.QUARANTINED`)."""

    def left_behind(self) -> str:
        """One line for the operator when rows were left undelivered ("" when none were)."""
        if not self.undelivered:
            return ""
        return (
            f"{self.undelivered} delivery(ies) left in the outbox for the next run: "
            f"{self.stop_error or 'the source was in trouble'}"
        )

    def add_client_stats(self, stats: ClientStatsLike) -> None:
        """Take the delivery client's retry counts (for the run summary)."""
        self.retries += stats.retries
        self.rate_limited += stats.rate_limited
        self.waited_s += stats.waited_s

    def counts(self) -> dict[str, int | float]:
        """Counts for the run record and the metrics (``pushes_sent``, ``alerts_sent``, ...)."""
        return {
            "outbox_due": self.due,
            "pushes_sent": self.tracking_sent,
            "alerts_sent": self.alerts_sent,
            "replayed": self.replayed,
            "reconciled": self.reconciled,
            "delivery_failed": self.failed,
            "dead": self.dead,
            "superseded": self.superseded,
            "would_send": self.would_send,
            "undelivered": self.undelivered,
            "push_retries": self.retries,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "waited_s": round(self.waited_s, 3),
            "digests_sent": self.digests_sent,
            "webhooks_sent": self.webhooks_sent,
            "resent_in_doubt": self.resent_in_doubt,
            "held_quarantined": self.held,
        }


@dataclass(frozen=True)
class _Before:
    """A row's state, ``sending_at`` and ``in_doubt_since`` before it was claimed."""

    state: str
    sending_at: datetime | None
    in_doubt_since: datetime | None


@dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    key: str
    task_id: int | None
    payload: dict[str, Any]
    in_doubt_since: datetime | None
    """When an earlier request for this row may have reached the source (None: never sent)."""
    acked_status: str = ""
    """The tracking status the source had acknowledged for the task when the row was claimed."""
    before: _Before | None = None
    """The row as it was before the claim (to take the claim back when nothing was sent)."""

    @property
    def in_doubt(self) -> bool:
        return self.in_doubt_since is not None


# -- selecting -----------------------------------------------------------------------------------


def _due_kinds(settings: Settings, *, alerts: bool) -> list[OutboxKind]:
    kinds = []
    if settings.push.tracking_status:
        kinds.append(OutboxKind.TRACKING)
    if settings.alerts.enabled and alerts:
        kinds.append(OutboxKind.ALERT)
    return kinds


def _supersede_stale_tracking(ledger: Ledger) -> int:
    """Only the newest replaceable tracking row of a task is sent; older ones are superseded."""
    superseded = 0
    with ledger.transaction() as session:
        newest: dict[int | None, OutboxRow] = {}
        rows = replaceable_tracking(session)
        for row in rows:
            newest[row.task_id] = row
        for row in rows:
            latest = newest[row.task_id]
            if row is not latest:
                supersede(row, latest)
                superseded += 1
                log.info("outbox_superseded", key=row.idempotency_key, by=latest.idempotency_key)
    return superseded


# -- delivering one row --------------------------------------------------------------------------

COMMIT_ROWS = 50
"""Delivered rows recorded in one transaction at most (`_record`)..."""

COMMIT_SECONDS = 1.0
"""...and no row waits longer than this for its record while others are in flight."""

LONE_FAILURES_TO_STOP = 5
"""Failures of single rows (an HTTP 500 each, not retried) with no delivery between them that
stop the run's delivery: one is that row's problem, five in a row the application's."""


def _claim_row(session: Session, row_id: int, now: datetime) -> _Job | None:
    """Mark the row ``sending`` (in the caller's transaction); None when it is no longer
    deliverable."""
    row = get_row(session, row_id)
    if row is None or row.state not in DELIVERABLE:
        return None
    since = row.in_doubt_since
    if since is None and row.state == OutboxState.SENDING.value:
        since = row.sending_at or row.created_at
    before = _Before(row.state, row.sending_at, row.in_doubt_since)
    mark_sending(row, now)
    try:
        payload = payload_of(row)
    except (OutboxStateError, ValueError) as exc:  # a damaged row: never sendable as is
        mark_dead(row, f"bad_payload: {exc}")
        log.error("delivery_dead", code="bad_payload", key=row.idempotency_key, id=row_id)
        return None
    # From now on a request for this row may reach the source: remember it for good.
    row.in_doubt_since = since or to_utc(now)
    acked = ""
    if row.kind == OutboxKind.TRACKING.value and row.task_id is not None:
        acked = acked_status(session, row.task_id)
    return _Job(
        row.id or row_id,
        row.kind,
        row.idempotency_key,
        row.task_id,
        payload,
        to_utc(since) if since is not None else None,
        acked,
        before,
    )


def _claim(ledger: Ledger, row_ids: Sequence[int], now: datetime) -> list[_Job | None]:
    """Mark these rows ``sending`` and commit, in one transaction (before any request is made);
    for each, its job, or None when it is no longer deliverable."""
    with ledger.transaction() as session:
        return [_claim_row(session, row_id, now) for row_id in row_ids]


def _unclaim(ledger: Ledger, jobs: Sequence[_Job]) -> None:
    """Undo the claim of rows whose request was never made (delivery stopped before their turn):
    each goes back to the state it had, no attempt counted."""
    if not jobs:
        return
    with ledger.transaction() as session:
        for job in jobs:
            row = get_row(session, job.id)
            if row is None or row.state != OutboxState.SENDING.value or job.before is None:
                continue
            # Not a step of the state machine: the claim is taken back, nothing was sent.
            row.state = job.before.state
            row.sending_at = job.before.sending_at
            row.in_doubt_since = job.before.in_doubt_since


def _acked_due(payload: Mapping[str, Any]) -> date | None:
    value = payload.get("effectiveDeadline")
    return date.fromisoformat(str(value)) if value else None


def _finish_sent(session: Session, job: _Job, now: datetime, response_id: str) -> bool:
    """Mark the row sent (and the task acknowledged); False when the row changed meanwhile."""
    row = get_row(session, job.id)
    if row is None or row.state != OutboxState.SENDING.value:
        return False
    mark_sent(row, now, response_id)
    if job.kind == OutboxKind.TRACKING.value and job.task_id is not None:
        status = str(job.payload.get("trackingStatus", ""))
        acknowledge(session, job.task_id, status, _acked_due(job.payload))
    return True


def _record_failure(
    session: Session, job: _Job, now: datetime, error: str, settings: Settings, *, refused: bool
) -> OutboxState:
    row = get_row(session, job.id)
    if row is None or row.state != OutboxState.SENDING.value:
        return OutboxState(row.state) if row is not None else OutboxState.DEAD
    if refused:
        mark_dead(row, error)
        return OutboxState.DEAD
    return mark_failed(row, now, error, settings.push)


def _release(session: Session, job: _Job, error: str) -> None:
    """Back to ``failed`` without counting an attempt (the credentials, not the row, failed)."""
    row = get_row(session, job.id)
    if row is not None and row.state == OutboxState.SENDING.value:
        transition(row, OutboxState.FAILED)
        row.last_error = error
        row.next_attempt_at = None


def _reconcile(client: PushClient, job: _Job, now: datetime, settings: Settings) -> str | None:
    """When an earlier request may have reached the source: what the source holds of it.

    An alert: the id of the notification the source holds with this key (asked every time).
    A tracking write: within ``push.idempotency_window_hours`` of the first send, nothing (the
    source replays the key); after it, the task is read, and the write counts as delivered when
    the task carries the row's status and that status is new (differs from the one acknowledged
    before), so that only this write can have put it there. None: send (again).
    """
    if not job.in_doubt or job.task_id is None or job.in_doubt_since is None:
        return None
    if job.kind == OutboxKind.ALERT.value:
        for item in client.list_notifications(job.task_id):
            if item.get("idempotencyKey") == job.key:
                return str(item.get("id", ""))
        return None
    window = timedelta(hours=settings.push.idempotency_window_hours)
    if to_utc(now) - job.in_doubt_since < window:
        return None
    wanted = str(job.payload.get("trackingStatus", ""))
    if not wanted or wanted == job.acked_status:
        return None  # the task cannot tell this write from an earlier one: send again
    seen = client.read_tracking(job.task_id)
    if seen is not None and seen.status == wanted:
        return seen.last_modified or "reconciled"
    return None


def _send(client: PushClient, job: _Job) -> WriteOutcome:
    if job.kind == OutboxKind.TRACKING.value:
        return client.post_tracking(dict(job.payload), job.key)
    return client.send_notification(dict(job.payload), job.key)


def _response_id(outcome: WriteOutcome) -> str:
    body = outcome.body
    for name in ("id", "lastModifyStr"):
        value = body.get(name)
        if value:
            return str(value)
    return ""


def _count_sent(result: PushResult, job: _Job) -> None:
    result.sent += 1
    if job.kind == OutboxKind.TRACKING.value:
        result.tracking_sent += 1
    else:
        result.alerts_sent += 1


@dataclass(frozen=True)
class _Done:
    """What the source said to one job (`_attempt`), to record (`_record`)."""

    job: _Job
    how: Literal["sent", "reconciled", "refused", "auth", "failed"]
    response_id: str = ""
    replayed: bool = False
    error: ConnectorError | None = None


def _attempt(client: PushClient, job: _Job, settings: Settings, clock: Clock) -> _Done:
    """Reconcile, then send, one claimed row (in a worker thread: no ledger here)."""
    try:
        reconciled_id = _reconcile(client, job, clock.now(), settings)
        if reconciled_id is not None:
            return _Done(job, "reconciled", reconciled_id)
        outcome = _send(client, job)
        crash_point("after_request_sent")
        response_id = _response_id(outcome)
        crash_point("after_response")
        return _Done(job, "sent", response_id, outcome.replayed)
    except (DeliveryRefused, SourceRefused) as exc:
        return _Done(job, "refused", error=exc)
    except AuthError as exc:
        return _Done(job, "auth", error=exc)
    except (DeliveryError, SourceError) as exc:
        return _Done(job, "failed", error=exc)


@dataclass
class _Recorded:
    """What recording a batch found: a reason to stop delivering, if any."""

    stop: str = ""
    auth: AuthError | None = None
    lone_failures: int = 0  # rows that failed alone (not retried by the client)
    last_lone_failure: str = ""
    delivered: bool = False


def _record(
    ledger: Ledger, done: Sequence[_Done], *, settings: Settings, clock: Clock, result: PushResult
) -> _Recorded:
    """Record what the source said to these jobs in one transaction, then count and log them."""
    found = _Recorded()
    events: list[tuple[str, str, dict[str, Any]]] = []
    sent: list[_Done] = []
    now = clock.now()
    with ledger.transaction() as session:
        for item in done:
            job = item.job
            fields: dict[str, Any] = {"key": job.key, "kind": job.kind, "task_id": job.task_id}
            exc = item.error
            if item.how in ("sent", "reconciled"):
                found.delivered = True
                if _finish_sent(session, job, now, item.response_id):
                    sent.append(item)
            elif item.how == "refused" and isinstance(exc, DeliveryRefused | SourceRefused):
                code = exc.code or "refused"
                _record_failure(session, job, now, f"{code}: {exc}", settings, refused=True)
                result.dead += 1
                fields.update(code=code, status=exc.status, error=str(exc))
                events.append(("error", "delivery_dead", fields))
            elif item.how == "auth" and isinstance(exc, AuthError):
                _release(session, job, str(exc))
                found.auth = found.auth or exc
            else:
                error = str(exc)
                state = _record_failure(session, job, now, error, settings, refused=False)
                if state is OutboxState.DEAD:
                    result.dead += 1
                    fields.update(code="attempts_exhausted", status=None, error=error)
                    events.append(("error", "delivery_dead", fields))
                else:
                    result.failed += 1
                    events.append(("warning", "delivery_failed", {**fields, "error": error}))
                # The client retried already (retry.*): the source is in trouble, leave it
                # alone. A final answer to this one request (an HTTP 500) fails the row alone.
                if not isinstance(exc, DeliveryError) or exc.retried:
                    found.stop = found.stop or error
                else:
                    found.lone_failures += 1
                    found.last_lone_failure = error
    for level, event, fields in events:
        getattr(log, level)(event, **fields)
    for item in sent:
        job = item.job
        fields = {"key": job.key, "kind": job.kind, "task_id": job.task_id}
        _count_sent(result, job)
        if item.how == "reconciled":
            result.reconciled += 1
            log.info("outbox_reconciled", response_id=item.response_id, **fields)
        else:
            result.replayed += int(item.replayed)
            log.info(
                "outbox_delivered",
                response_id=item.response_id,
                replayed=item.replayed,
                **fields,
            )
        crash_point("after_mark_sent")
    return found


class _Pipeline:
    """Claims rows in batches, sends them with ``push.concurrency`` workers sharing the client
    (and its one pace), and records the answers in batches; one sender behaves as one loop:
    claim, send, record, row by row."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        client: PushClient,
        settings: Settings,
        clock: Clock,
        result: PushResult,
        progress: ProgressReporter | None,
    ) -> None:
        self.ledger = ledger
        self.client = client
        self.settings = settings
        self.clock = clock
        self.result = result
        self.progress = progress
        self.workers = settings.push.concurrency
        self.window = 1 if self.workers == 1 else 2 * self.workers
        self.running: dict[Future[_Done], _Job] = {}
        self.done: list[_Done] = []
        self.stop = ""
        self.auth: AuthError | None = None
        self.lone_failures = 0  # since the last delivery (`LONE_FAILURES_TO_STOP`)
        self._recorded_at = time.monotonic()

    def _advance(self, count: int = 1) -> None:
        if self.progress is not None:
            for _ in range(count):
                self.progress.advance()

    def _fill(self, pool: ThreadPoolExecutor, queue: deque[int]) -> None:
        """Claim and submit rows while fewer than `window` are in flight (in batches)."""
        if self.stopping or not queue or len(self.running) > self.window - self.workers:
            return
        batch = [queue.popleft() for _ in range(min(self.window - len(self.running), len(queue)))]
        for job in _claim(self.ledger, batch, self.clock.now()):
            if job is None:
                self._advance()
                continue
            crash_point("after_mark_sending")
            # In a copy of this thread's context: the events it logs carry the run's run_id.
            context = contextvars.copy_context()
            future = pool.submit(context.run, _attempt, self.client, job, self.settings, self.clock)
            self.running[future] = job

    @property
    def stopping(self) -> bool:
        return bool(self.stop) or self.auth is not None

    def _collect(self, timeout: float | None) -> None:
        finished, _ = wait(self.running, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in finished:
            del self.running[future]
            self.done.append(future.result())

    def _flush(self, *, force: bool = False) -> None:
        due = (
            len(self.done) >= COMMIT_ROWS
            or any(item.how in ("failed", "auth") for item in self.done)  # stop at once
            or not self.running
            or time.monotonic() - self._recorded_at >= COMMIT_SECONDS
        )
        if not self.done or not (force or due):
            return
        done, self.done = self.done, []
        found = _record(
            self.ledger, done, settings=self.settings, clock=self.clock, result=self.result
        )
        self._recorded_at = time.monotonic()
        self._advance(len(done))
        self.stop = self.stop or found.stop
        self.auth = self.auth or found.auth
        if found.delivered:
            self.lone_failures = 0
        self.lone_failures += found.lone_failures
        if self.lone_failures >= LONE_FAILURES_TO_STOP and not self.stop:
            self.stop = (
                f"{self.lone_failures} deliveries in a row failed, none delivered between them "
                f"(the last: {found.last_lone_failure})"
            )
        if self.stopping:
            self._cancel_queued()

    def _cancel_queued(self) -> None:
        """Take back the rows claimed but not yet sent (their workers never started)."""
        cancelled = [job for future, job in list(self.running.items()) if future.cancel()]
        for future in [f for f in self.running if f.cancelled()]:
            del self.running[future]
        _unclaim(self.ledger, cancelled)

    def run(
        self, pool: ThreadPoolExecutor, ids: Sequence[int], guard: InterruptGuard | None
    ) -> None:
        queue = deque(ids)
        try:
            while True:
                if guard is not None:
                    guard.check()
                self._fill(pool, queue)
                if not self.running:
                    self._flush(force=True)
                    if self.stopping or not queue:
                        return
                    continue
                self._collect(COMMIT_SECONDS)
                self._flush()
        except BaseException:
            self._drain(guard)
            raise

    def _drain(self, guard: InterruptGuard | None) -> None:
        """After an error or an interrupt: take back the rows not yet sent, wait for the ones in
        flight and record what the source said to them (else they stay in doubt: also safe)."""
        with guard.critical() if guard is not None else contextlib.nullcontext():
            self._cancel_queued()
            while self.running:
                self._collect(None)
            with contextlib.suppress(Exception):
                self._flush(force=True)


def deliver_pending(
    ledger: Ledger,
    client: PushClient,
    settings: Settings,
    run_id: str,
    clock: Clock,
    *,
    dry_run: bool = False,
    bucket: TokenBucket | None = None,
    guard: InterruptGuard | None = None,
    limit: int | None = None,
    calendar: WorkingCalendar | None = None,
    progress: ProgressReporter | None = None,
    result: PushResult | None = None,
) -> PushResult:
    """Deliver every due outbox row (see the module docstring); what was done.

    With `dry_run` nothing is sent or written: `would_send` counts the rows that are due.
    `bucket` defaults to ``push.rate_per_second``; `guard` is checked between deliveries;
    `limit` caps the rows delivered in this run. With ``alerts.hold_on_non_working_days`` no
    alert is delivered on a non-working local day (`calendar`, default: from the settings);
    tracking statuses are. `progress` shows a bar of the rows delivered (phase ``push``).
    `result`: counts to add to (the run's, when the channels delivered before); default: new.
    """
    result = result if result is not None else PushResult(dry_run=dry_run)
    if not settings.push.enabled:
        log.info("push_disabled", run_id=run_id)
        return result
    now = to_utc(clock.now())
    alerts = True
    if settings.alerts.enabled and settings.alerts.hold_on_non_working_days:
        cal = calendar or calendar_for(settings.calendar)
        alerts = cal.is_working_day(local_date(now))
        if not alerts:
            log.info("alerts_held", day=local_date(now).isoformat(), reason="non_working_day")
    ids = due_ids(ledger, now, _due_kinds(settings, alerts=alerts))
    if limit is not None:
        ids = ids[:limit]
    result.due += len(ids)
    if dry_run:
        result.would_send += len(ids)
        log.info("push_finished", run_id=run_id, **result.counts(), dry_run=True)
        return result
    result.superseded = _supersede_stale_tracking(ledger)
    client.pace(bucket or TokenBucket(pace_for(settings.push.rate_per_second)))
    if progress is not None and ids:
        from connector.ops.progress import PUSH  # noqa: PLC0415

        progress.start(total=len(ids), description=PUSH)
    pipeline = _Pipeline(
        ledger, client=client, settings=settings, clock=clock, result=result, progress=progress
    )
    workers = settings.push.concurrency
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="push") as pool:
        pipeline.run(pool, ids, guard)
    if pipeline.auth is not None:
        raise pipeline.auth
    if pipeline.stop:
        result.stopped = "source_trouble"
        result.stop_error = pipeline.stop
        result.undelivered = still_due(ledger, ids)
        log.warning(
            "push_stopped",
            reason=result.stopped,
            error=pipeline.stop,
            undelivered=result.undelivered,
        )
    log.info("push_finished", run_id=run_id, **result.counts(), stopped=result.stopped)
    return result
