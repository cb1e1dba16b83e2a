"""Delivery (connector.outbox.delivery): the outbox state machine against a scripted source, rate limit,
crash points. End-to-end runs against the simulator are in test_push_acceptance.py beside it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import AuthError, DeliveryError, DeliveryRefused, SourceUnavailable
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.tables import OutboxRow, TaskRow
from connector.models import NormalisedTask, TaskState
from connector.ops.faultpoints import CRASH_POINTS, crash_point
from connector.ops.progress import PUSH, NullProgress
from connector.outbox import delivery
from connector.outbox.actions import list_outbox, retry_dead
from connector.outbox.delivery import PushResult, TokenBucket, deliver_pending
from connector.outbox.keys import payload_of
from connector.outbox.planning import plan
from connector.outbox.states import mark_sending
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import classify
from connector.settings import AlertSettings, PushSettings, Settings
from connector.source.client import SourceTracking
from simulator.units import UNITS
from tests.support import factories
from tests.support.timing import FakeTime

CAL: WorkingCalendar = load_calendar()
T0 = datetime(2022, 1, 3, 2, tzinfo=UTC)
NOW = datetime(2022, 3, 22, 2, tzinfo=UTC)
AS_OF = date(2022, 3, 22)
SETTINGS = Settings(alerts=AlertSettings(types=("QUA_HAN",)))
ONE_SENDER = Settings(alerts=AlertSettings(types=("QUA_HAN",)), push=PushSettings(concurrency=1))
"""One delivery at a time: a scripted failure stops the run before any other row is tried."""


# -- a scripted source ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    status: int
    body: dict[str, Any]
    replayed: bool


class ScriptedSource:
    """Implements the write calls with the contract's idempotency; fails as scripted.

    Script actions, consumed one per write call: ``ok``; ``before`` (transient, nothing done);
    ``after`` (done, then the answer is lost: transient); ``refuse:<code>``; ``unavailable``;
    ``auth``. `forget_keys` ends the idempotency window: keys are no longer replayed, while the
    notifications and the tasks' tracking statuses the source holds stay.
    """

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.bucket: TokenBucket | None = None
        self.calls: list[tuple[str, str]] = []
        self.notes: dict[str, tuple[str, dict[str, Any]]] = {}
        """Replayable notification answers by key (the idempotency store)."""
        self.tracking: dict[str, dict[str, Any]] = {}
        """Replayable tracking writes by key (the idempotency store)."""
        self.held: list[tuple[str, str, dict[str, Any]]] = []
        """Every notification the source created: (id, key, body)."""
        self.task_status: dict[int, str] = {}
        self.effects: list[str] = []

    def _effect(self, kind: str, body: dict[str, Any], key: str) -> Write:
        if kind == "tracking":
            if key in self.tracking:
                if self.tracking[key] != body:
                    raise DeliveryRefused(
                        "reused", key=key, status=422, code="idempotency_key_reused"
                    )
                return Write(200, {"ok": True, "lastModifyStr": "L"}, True)
            self.tracking[key] = body
            self.task_status[int(body["id"])] = str(body["trackingStatus"])
            self.effects.append(key)
            return Write(200, {"ok": True, "lastModifyStr": "L"}, False)
        if key in self.notes:
            note_id, stored = self.notes[key]
            if stored != body:
                raise DeliveryRefused("reused", key=key, status=422, code="idempotency_key_reused")
            return Write(200, {"id": note_id}, True)
        note_id = f"TB-{len(self.held) + 1:06d}"
        self.notes[key] = (note_id, body)
        self.held.append((note_id, key, body))
        self.effects.append(key)
        return Write(201, {"id": note_id}, False)

    def forget_keys(self) -> None:
        """The idempotency window has passed: no key is replayed any more."""
        self.notes.clear()
        self.tracking.clear()

    def pace(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    def _paced(self) -> None:
        if self.bucket is not None:
            self.bucket.acquire()

    def _call(self, kind: str, body: dict[str, Any], key: str) -> Write:
        self._paced()
        self.calls.append((kind, key))
        action = self.script.pop(0) if self.script else "ok"
        if action == "before":
            raise DeliveryError("connection dropped", key=key)
        if action.startswith("refuse:"):
            raise DeliveryRefused("refused", key=key, status=422, code=action.split(":", 1)[1])
        if action == "unavailable":
            raise SourceUnavailable("503 past the retry budget", status=503)
        if action == "auth":
            raise AuthError("credentials refused", status=401)
        result = self._effect(kind, body, key)
        if action == "after":
            raise DeliveryError("read timed out", key=key)
        return result

    def post_tracking(self, body: dict[str, Any], idempotency_key: str) -> Write:
        return self._call("tracking", body, idempotency_key)

    def send_notification(self, body: dict[str, Any], idempotency_key: str) -> Write:
        return self._call("alert", body, idempotency_key)

    def list_notifications(self, task_id: int) -> list[dict[str, Any]]:
        self._paced()
        self.calls.append(("list", str(task_id)))
        return [
            {"id": note_id, "taskId": body["taskId"], "idempotencyKey": key}
            for note_id, key, body in self.held
            if body["taskId"] == task_id
        ]

    def read_tracking(self, task_id: int) -> SourceTracking | None:
        self._paced()
        self.calls.append(("read", str(task_id)))
        return SourceTracking(status=self.task_status.get(task_id, ""), last_modified="L")

    def sends(self) -> list[str]:
        return [key for kind, key in self.calls if kind in ("tracking", "alert")]


# -- helpers -------------------------------------------------------------------------------------


make_task = partial(factories.make_task, deadline=date(2022, 3, 14))
"""The shared task, due Monday 14 March 2022: overdue by the delivery day (22 March)."""


def seed_and_plan(ledger: Ledger, *tasks: NormalisedTask, settings: Settings = SETTINGS) -> None:
    """Tasks in the ledger with their outbox rows planned (one tracking + one alert each)."""
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=NOW)
        for task in tasks:
            repo.upsert_task(session, task, {"id": task.source_id}, run_id="seed", observed_at=NOW)
    with ledger.transaction() as session:
        for task in tasks:
            row = session.get(TaskRow, ("idesk", task.source_id))
            assert row is not None
            plan(
                session,
                row,
                task,
                classify(task, AS_OF, CAL),
                as_of=AS_OF,
                calendar=CAL,
                settings=settings,
                run_id="r1",
                now=NOW,
            )


def states(ledger: Ledger) -> dict[str, str]:
    with ledger.reading() as session:
        return {r.idempotency_key: r.state for r in list_outbox(session)}


def row_of(ledger: Ledger, key: str) -> OutboxRow:
    with ledger.reading() as session:
        [row] = [r for r in list_outbox(session) if r.idempotency_key == key]
        return row


def deliver(
    ledger: Ledger,
    source: ScriptedSource,
    clock: FixedClock,
    settings: Settings = SETTINGS,
    **kwargs: Any,
) -> PushResult:
    if "bucket" not in kwargs:
        t = FakeTime()
        kwargs["bucket"] = TokenBucket(1000, monotonic=t.monotonic, sleep=t.sleep)
    return deliver_pending(ledger, source, settings, "run", clock, **kwargs)


TRK = "trk:1:DTH_QUA_HAN:2022-03-14"
ALR = "alr:1:QUA_HAN:2022-03-14#2"


@pytest.fixture(scope="module")
def template_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger migrated once for this module; tests get copies (migrations are slow)."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    open_ledger(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def sqlite_ledger(template_ledger: Path, tmp_path: Path) -> Iterator[Ledger]:
    """A fresh SQLite ledger at the latest schema (a copy of the module's template)."""
    path = tmp_path / "ledger.db"
    shutil.copyfile(template_ledger, path)
    path.chmod(0o600)
    opened = open_ledger(f"sqlite:///{path}")
    try:
        yield opened
    finally:
        opened.close()


# -- happy path ----------------------------------------------------------------------------------


def test_deliver_sends_each_row_once_and_records_the_acknowledgement(ledger: Ledger) -> None:
    """Pending rows are sent once with their keys; tracking acks are stored on the task."""
    seed_and_plan(ledger, make_task())
    source = ScriptedSource()
    clock = FixedClock(NOW)
    result = deliver(ledger, source, clock)
    assert (result.sent, result.tracking_sent, result.alerts_sent) == (2, 1, 1)
    assert source.sends() == [ALR, TRK]
    assert states(ledger)[TRK] == "sent" and states(ledger)[ALR] == "sent"
    assert row_of(ledger, ALR).response_id == "TB-000001"
    with ledger.reading() as session:
        task = session.get(TaskRow, ("idesk", 1))
        assert task is not None
        assert (task.acked_tracking_status, task.acked_eff_due) == (
            "DTH_QUA_HAN",
            date(2022, 3, 14),
        )
    again = deliver(ledger, source, clock)
    assert (again.due, again.sent) == (0, 0)
    assert result.counts()["pushes_sent"] == 1 and result.counts()["alerts_sent"] == 1


def test_alerts_go_before_the_bulk_tracking_writes(ledger: Ledger) -> None:
    """With many tracking writes and a few alerts due, a run cut short has sent the alerts."""
    done = [
        make_task(i, state=TaskState.DONE, completed_at=datetime(2022, 3, 10, 3, tzinfo=UTC))
        for i in range(1, 11)
    ]
    seed_and_plan(ledger, *done, make_task(11), make_task(12))  # 12 tracking, 2 alerts
    with ledger.reading() as session:
        kinds = [r.kind for r in list_outbox(session, "pending")]
    assert (kinds.count("tracking"), kinds.count("alert")) == (12, 2)
    assert kinds[-1] == "alert", "the alerts were planned last"
    source = ScriptedSource()
    result = deliver(ledger, source, FixedClock(NOW), limit=3)
    assert source.sends() == [
        "alr:11:QUA_HAN:2022-03-14#2",
        "alr:12:QUA_HAN:2022-03-14#2",
        "trk:1:HT_DUNG_HAN:2022-03-14",
    ]
    assert (result.due, result.alerts_sent, result.tracking_sent) == (3, 2, 1)
    rest = deliver(ledger, source, FixedClock(NOW))
    assert (rest.due, rest.alerts_sent, rest.tracking_sent) == (11, 0, 11)
    tracking = [key for key in source.sends() if key.startswith("trk:")]
    assert tracking == [f"trk:{i}:HT_DUNG_HAN:2022-03-14" for i in range(1, 11)] + [
        "trk:11:DTH_QUA_HAN:2022-03-14",
        "trk:12:DTH_QUA_HAN:2022-03-14",
    ], "within a kind, the order of planning"


def test_delivery_reports_its_progress_as_the_push_phase(sqlite_ledger: Ledger) -> None:
    """The delivery shows a bar of its own (phase ``push``): total the rows due, advanced once
    a row; nothing due, no phase."""
    seed_and_plan(sqlite_ledger, make_task(), make_task(source_id=2))
    progress = NullProgress()
    deliver(sqlite_ledger, ScriptedSource(), FixedClock(NOW), progress=progress)
    assert (progress.phases, progress.total, progress.completed) == ([PUSH], 4, 4)
    idle = NullProgress()
    deliver(sqlite_ledger, ScriptedSource(), FixedClock(NOW), progress=idle)
    assert idle.phases == []


def test_past_rows_are_never_sent(sqlite_ledger: Ledger) -> None:
    """Older occasions recorded as past stay past."""
    seed_and_plan(sqlite_ledger, make_task(deadline=date(2022, 1, 10)))
    source = ScriptedSource()
    deliver(sqlite_ledger, source, FixedClock(NOW))
    past = [k for k, s in states(sqlite_ledger).items() if s == "past"]
    assert len(past) == 10
    assert not set(past) & set(source.sends())


def test_dry_run_changes_nothing(sqlite_ledger: Ledger) -> None:
    """A dry run counts what is due and neither sends nor writes."""
    seed_and_plan(sqlite_ledger, make_task())
    before = states(sqlite_ledger)
    source = ScriptedSource()
    result = deliver(sqlite_ledger, source, FixedClock(NOW), dry_run=True)
    assert (result.would_send, result.sent, source.calls) == (2, 0, [])
    assert states(sqlite_ledger) == before


@pytest.mark.parametrize(
    ("settings", "sent"),
    [
        pytest.param(Settings(push=PushSettings(enabled=False)), [], id="push-off"),
        pytest.param(
            Settings(alerts=AlertSettings(enabled=False, types=("QUA_HAN",))),
            [TRK],
            id="alerts-off",
        ),
        pytest.param(Settings(push=PushSettings(tracking_status=False)), [ALR], id="tracking-off"),
    ],
)
def test_switches_stop_delivery(sqlite_ledger: Ledger, settings: Settings, sent: list[str]) -> None:
    """push.enabled, alerts.enabled and push.tracking_status stop their rows from being sent."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource()
    deliver(sqlite_ledger, source, FixedClock(NOW), settings=settings)
    assert source.sends() == sent


def test_alerts_held_on_a_non_working_day(sqlite_ledger: Ledger) -> None:
    """On a Sunday tracking statuses go out, alerts wait for Monday (hold_on_non_working_days)."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource()
    sunday = FixedClock(datetime(2022, 3, 27, 2, tzinfo=UTC))
    result = deliver(sqlite_ledger, source, sunday, calendar=CAL)
    assert (result.tracking_sent, result.alerts_sent) == (1, 0)
    sunday.advance(timedelta(days=1))
    assert deliver(sqlite_ledger, source, sunday, calendar=CAL).alerts_sent == 1


# -- transient failures --------------------------------------------------------------------------


def test_transient_failure_backs_off_across_runs(sqlite_ledger: Ledger) -> None:
    """A transient failure sets failed + next_attempt_at; the row waits, then is sent."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource("before")
    clock = FixedClock(NOW)
    result = deliver(sqlite_ledger, source, clock, settings=ONE_SENDER)
    assert (result.failed, result.sent) == (1, 0)  # and the run stopped delivering
    row = row_of(sqlite_ledger, ALR)  # alerts go first
    assert (row.state, row.attempts) == ("failed", 1)
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    assert deliver(sqlite_ledger, source, clock).tracking_sent == 1  # the untried row, at once
    assert deliver(sqlite_ledger, source, clock).due == 0
    clock.advance(timedelta(seconds=61))
    later = deliver(sqlite_ledger, source, clock)
    assert later.alerts_sent == 1
    assert source.effects == [TRK, ALR]


def test_answer_lost_after_the_alert_reached_the_source_is_reconciled(
    sqlite_ledger: Ledger,
) -> None:
    """An alert whose answer was lost is found in the source's list, not sent again."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource("after")  # the alert goes first
    clock = FixedClock(NOW)
    deliver(sqlite_ledger, source, clock)
    assert states(sqlite_ledger)[ALR] == "failed"
    clock.advance(timedelta(hours=2))
    result = deliver(sqlite_ledger, source, clock)
    assert (result.reconciled, result.alerts_sent) == (1, 1)
    assert source.sends().count(ALR) == 1
    assert ("list", "1") in source.calls
    assert row_of(sqlite_ledger, ALR).response_id == "TB-000001"


# -- an operator's retry never forgets that a send may have reached the source ----------------

DEAD_AFTER_ONE = Settings(
    alerts=AlertSettings(types=("QUA_HAN",)), push=PushSettings(max_attempts=1)
)


def _cut_reply_then_retry_dead(ledger: Ledger, source: ScriptedSource, clock: FixedClock) -> None:
    """The reply to each write is cut after the source applied it; both rows die; the operator
    runs ``outbox retry --dead`` two days later, when the source no longer replays the keys."""
    deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)  # alert: applied, reply cut
    deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)  # tracking: applied, reply cut
    assert (states(ledger)[TRK], states(ledger)[ALR]) == ("dead", "dead")
    clock.advance(timedelta(days=2))
    source.forget_keys()
    with ledger.transaction() as session:
        assert retry_dead(session) == 2


def test_retried_dead_alert_is_reconciled_not_sent_twice(ledger: Ledger) -> None:
    """outbox retry --dead on an alert whose reply was cut: found at the source, no second one."""
    seed_and_plan(ledger, make_task(), settings=DEAD_AFTER_ONE)
    source = ScriptedSource("after", "after")
    clock = FixedClock(NOW)
    _cut_reply_then_retry_dead(ledger, source, clock)
    result = deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    assert source.effects.count(ALR) == 1, "a second notification was created"
    assert source.sends().count(ALR) == 1
    assert ("list", "1") in source.calls
    assert result.reconciled >= 1 and states(ledger)[ALR] == "sent"
    assert row_of(ledger, ALR).response_id == "TB-000001"


def test_retried_dead_tracking_write_is_reconciled_by_reading_the_task(ledger: Ledger) -> None:
    """Past the idempotency window a retried tracking write is checked on the task first."""
    seed_and_plan(ledger, make_task(), settings=DEAD_AFTER_ONE)
    source = ScriptedSource("after", "after")
    clock = FixedClock(NOW)
    _cut_reply_then_retry_dead(ledger, source, clock)
    result = deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    assert source.effects.count(TRK) == 1, "the tracking status was written a second time"
    assert source.sends().count(TRK) == 1
    assert ("read", "1") in source.calls
    assert result.reconciled >= 1 and states(ledger)[TRK] == "sent"
    with ledger.reading() as session:
        task = session.get(TaskRow, ("idesk", 1))
        assert task is not None and task.acked_tracking_status == "DTH_QUA_HAN"


def test_retried_tracking_write_within_the_window_is_resent_with_its_key(ledger: Ledger) -> None:
    """Within push.idempotency_window_hours the key is simply resent: the source replays it."""
    seed_and_plan(ledger, make_task(), settings=DEAD_AFTER_ONE)
    source = ScriptedSource("ok", "after")  # the alert goes first
    clock = FixedClock(NOW)
    deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    clock.advance(timedelta(hours=3))
    with ledger.transaction() as session:
        assert retry_dead(session) == 1
    result = deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    assert source.sends().count(TRK) == 2 and source.effects.count(TRK) == 1
    assert ("read", "1") not in source.calls
    assert result.replayed == 1 and states(ledger)[TRK] == "sent"


def test_in_doubt_since_survives_retry_and_is_set_once(ledger: Ledger) -> None:
    """The first claim stamps in_doubt_since; failures and operator retries keep it as is."""
    seed_and_plan(ledger, make_task(), settings=DEAD_AFTER_ONE)
    assert row_of(ledger, TRK).in_doubt_since is None
    source = ScriptedSource("ok", "before")  # the alert goes first
    clock = FixedClock(NOW)
    deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    assert row_of(ledger, TRK).in_doubt_since == NOW
    clock.advance(timedelta(days=1))
    with ledger.transaction() as session:
        retry_dead(session)
    assert row_of(ledger, TRK).in_doubt_since == NOW
    deliver(ledger, source, clock, settings=DEAD_AFTER_ONE)
    assert row_of(ledger, TRK).in_doubt_since == NOW


def test_attempts_exhausted_goes_dead_loudly(sqlite_ledger: Ledger) -> None:
    """After push.max_attempts transient failures the row is dead (delivery_dead, error)."""
    settings = Settings(
        alerts=AlertSettings(types=("QUA_HAN",)),
        push=PushSettings(max_attempts=2, tracking_status=False),
    )
    seed_and_plan(sqlite_ledger, make_task(), settings=settings)
    source = ScriptedSource("before", "before")
    clock = FixedClock(NOW)
    deliver(sqlite_ledger, source, clock, settings=settings)
    clock.advance(timedelta(hours=1))
    with capture_logs() as logs:
        result = deliver(sqlite_ledger, source, clock, settings=settings)
    assert result.dead == 1
    assert states(sqlite_ledger)[ALR] == "dead"
    [event] = [e for e in logs if e["event"] == "delivery_dead"]
    assert event["log_level"] == "error" and event["code"] == "attempts_exhausted"


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param("unavailable", id="source-unavailable"),
        pytest.param("before", id="transient-past-retries"),
    ],
)
def test_transient_failure_stops_the_run(sqlite_ledger: Ledger, failure: str) -> None:
    """After a transient failure the run stops; the other rows wait, no attempt counted."""
    seed_and_plan(sqlite_ledger, make_task(1), make_task(2))
    source = ScriptedSource(failure)
    result = deliver(sqlite_ledger, source, FixedClock(NOW), settings=ONE_SENDER)
    assert (result.failed, result.sent, result.stopped) == (1, 0, "source_trouble")
    assert result.undelivered == 4 and result.counts()["undelivered"] == 4
    assert result.left_behind().startswith("4 delivery(ies) left in the outbox")
    live = sorted(s for s in states(sqlite_ledger).values() if s != "past")
    assert live == ["failed", "pending", "pending", "pending"]
    with sqlite_ledger.reading() as session:
        assert sum(r.attempts for r in list_outbox(session)) == 1


class HeldSource(ScriptedSource):
    """The first write call answers at once; every later one waits until `release` is set."""

    def __init__(self, *script: str) -> None:
        super().__init__(*script)
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._count = 0

    def _call(self, kind: str, body: dict[str, Any], key: str) -> Write:
        with self._lock:
            self._count += 1
            first = self._count == 1
        if not first:
            self.release.wait(10)
        return super()._call(kind, body, key)


def test_senders_stop_together_and_give_back_the_rows_not_sent(
    sqlite_ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two senders, a transient failure: the run stops; the rows claimed but not yet sent go
    back to ``pending`` (none left ``sending``, no attempt counted), the ones in flight are
    recorded, and only the failed row counts an attempt."""
    seed_and_plan(sqlite_ledger, *(make_task(n) for n in range(1, 9)))
    source = HeldSource("unavailable")
    given_back: list[int] = []
    unclaim = delivery._unclaim

    def observed(ledger: Ledger, jobs: Any) -> None:
        given_back.extend(job.id for job in jobs)
        unclaim(ledger, jobs)
        source.release.set()

    monkeypatch.setattr(delivery, "_unclaim", observed)
    settings = Settings(alerts=AlertSettings(types=("QUA_HAN",)), push=PushSettings(concurrency=2))
    result = deliver(sqlite_ledger, source, FixedClock(NOW), settings=settings)
    assert result.stopped == "source_trouble" and result.failed == 1
    assert given_back  # the window held rows no sender had started
    with sqlite_ledger.reading() as session:
        rows = {r.id: r for r in list_outbox(session)}
    assert all(rows[i].state == "pending" and rows[i].attempts == 0 for i in given_back)
    live = [r.state for r in rows.values() if r.state != "past"]
    assert "sending" not in live
    assert result.sent + result.undelivered == len(live)
    assert sum(r.attempts for r in rows.values()) == 1


def test_auth_error_releases_the_row_without_counting_an_attempt(sqlite_ledger: Ledger) -> None:
    """Refused credentials end the run; the row is failed with attempts unchanged."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource("ok", "auth")  # the alert goes first
    with pytest.raises(AuthError):
        deliver(sqlite_ledger, source, FixedClock(NOW))
    row = row_of(sqlite_ledger, TRK)
    assert (row.state, row.attempts, row.next_attempt_at) == ("failed", 0, None)
    assert deliver(sqlite_ledger, source, FixedClock(NOW)).tracking_sent == 1


# -- permanent refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("idempotency_key_reused", id="key-reused"),
        pytest.param("unknown_recipient", id="unknown-recipient"),
        pytest.param("invalid_status", id="invalid-status"),
        pytest.param("not_found", id="404"),
    ],
)
def test_refusal_goes_dead_with_the_reason(sqlite_ledger: Ledger, code: str) -> None:
    """A permanent refusal makes the row dead at once, with the reason, logged as an error."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource("ok", f"refuse:{code}")  # the alert goes first
    with capture_logs() as logs:
        result = deliver(sqlite_ledger, source, FixedClock(NOW))
    assert result.dead == 1
    row = row_of(sqlite_ledger, TRK)
    assert row.state == "dead" and row.last_error.startswith(code)
    [event] = [e for e in logs if e["event"] == "delivery_dead"]
    assert (event["log_level"], event["code"], event["key"]) == ("error", code, TRK)
    with sqlite_ledger.transaction() as session:
        assert retry_dead(session) == 1
    assert deliver(sqlite_ledger, source, FixedClock(NOW)).tracking_sent == 1


# -- crashes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reached", "expected_sends"),
    [
        pytest.param(False, 1, id="crash-before-request"),
        pytest.param(True, 2, id="crash-after-request"),  # resent: the source replays it
    ],
)
def test_rows_left_sending_by_a_crash_are_finished(
    sqlite_ledger: Ledger, reached: bool, expected_sends: int
) -> None:
    """Rows a crash left in `sending` are reconciled (alerts) or resent with the same key."""
    seed_and_plan(sqlite_ledger, make_task())
    source = ScriptedSource()
    if reached:
        source.send_notification(row_payload(sqlite_ledger, ALR), ALR)
        source.post_tracking(row_payload(sqlite_ledger, TRK), TRK)
    with sqlite_ledger.transaction() as session:
        for row in list_outbox(session, "pending"):
            mark_sending(row, NOW)
    result = deliver(sqlite_ledger, source, FixedClock(NOW))
    assert result.sent == 2
    assert set(states(sqlite_ledger).values()) == {"sent", "past"}
    assert source.sends().count(TRK) == expected_sends
    assert source.sends().count(ALR) == 1
    assert sorted(source.effects) == sorted([TRK, ALR])


def row_payload(ledger: Ledger, key: str) -> dict[str, Any]:
    return payload_of(row_of(ledger, key))


def test_stale_tracking_rows_are_superseded_before_delivery(sqlite_ledger: Ledger) -> None:
    """Of several undelivered tracking rows for a task only the newest is sent."""
    seed_and_plan(
        sqlite_ledger, make_task(), settings=Settings(alerts=AlertSettings(enabled=False))
    )
    with sqlite_ledger.transaction() as session:
        session.add(
            OutboxRow(
                idempotency_key="trk:1:HT_QUA_HAN:2022-03-14",
                kind="tracking",
                task_id=1,
                payload_json='{"id": 1, "trackingStatus": "HT_QUA_HAN", "daysOverdue": 8}',
                created_at=NOW,
            )
        )
    source = ScriptedSource()
    result = deliver(sqlite_ledger, source, FixedClock(NOW))
    assert result.superseded == 1
    assert source.sends() == ["trk:1:HT_QUA_HAN:2022-03-14"]
    assert states(sqlite_ledger)[TRK] == "superseded"
    with sqlite_ledger.reading() as session:
        task = session.get(TaskRow, ("idesk", 1))
        assert task is not None and task.acked_tracking_status == "HT_QUA_HAN"
        assert task.acked_eff_due is None


def test_crash_point_kills_the_process_with_sigkill() -> None:
    """crash_point SIGKILLs the process only when IDESK_CONNECTOR_CRASH_AT names it (@N: N-th)."""
    code = (
        "from connector.ops.faultpoints import crash_point\n"
        "for i in range(3):\n"
        "    crash_point('after_mark_sent'); print(i, flush=True)\n"
    )
    env = {"IDESK_CONNECTOR_CRASH_AT": "after_mark_sent@3", "PATH": ""}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -9
    assert proc.stdout.split() == ["0", "1"]
    env["IDESK_CONNECTOR_CRASH_AT"] = "after_response"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0


def test_crash_point_with_wait_stops_there_until_killed() -> None:
    """``NAME@N:wait`` stops the process at the N-th hit, says so on stderr and waits: the kill
    comes from outside (the process returns -SIGKILL only after we sent it)."""
    code = (
        "from connector.ops.faultpoints import crash_point\n"
        "for i in range(3):\n"
        "    crash_point('after_mark_sent'); print(i, flush=True)\n"
    )
    env = {"IDESK_CONNECTOR_CRASH_AT": "after_mark_sent@2:wait", "PATH": ""}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None and proc.stdout is not None
        line = proc.stderr.readline()
        assert line == "crash point after_mark_sent reached: waiting for SIGKILL\n"
        assert proc.poll() is None, "the process must wait for the kill"
        proc.kill()
        assert proc.wait(timeout=30) == -signal.SIGKILL
        assert proc.stdout.read().split() == ["0"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_unknown_crash_point_is_a_programming_error() -> None:
    """A crash point name not in CRASH_POINTS raises."""
    assert "after_request_sent" in CRASH_POINTS
    with pytest.raises(ValueError, match="unknown crash point"):
        crash_point("nowhere")


# -- the echo of a tracking write ----------------------------------------------------------------


def test_echo_of_our_tracking_write_is_unchanged(sqlite_ledger: Ledger) -> None:
    """trackingStatus + lastModifyStr changing alone: unchanged (no snapshot, history, outbox)."""
    task = make_task()
    seed_and_plan(sqlite_ledger, task)
    deliver(sqlite_ledger, ScriptedSource(), FixedClock(NOW))
    echo = replace(task, tracking_status="DTH_QUA_HAN", last_modified=NOW + timedelta(seconds=5))
    with sqlite_ledger.transaction() as session:
        outcome = repo.upsert_task(
            session, echo, {"id": 1}, run_id="echo", observed_at=NOW + timedelta(minutes=1)
        )
    assert outcome is repo.RecordOutcome.UNCHANGED
    with sqlite_ledger.reading() as session:
        assert len(repo.task_snapshots(session, 1)) == 1
        assert [h.run_id for h in repo.task_history(session, 1)] == ["seed"] * len(
            repo.task_history(session, 1)
        )
    before = states(sqlite_ledger)
    with sqlite_ledger.transaction() as session:
        row = session.get(TaskRow, ("idesk", 1))
        assert row is not None
        created = plan(
            session,
            row,
            echo,
            classify(echo, AS_OF, CAL),
            as_of=AS_OF,
            calendar=CAL,
            settings=SETTINGS,
            run_id="echo",
            now=NOW,
        )
    assert created == [] and states(sqlite_ledger) == before
    changed = replace(echo, progress=50)
    with sqlite_ledger.transaction() as session:
        assert repo.upsert_task(session, changed, {"id": 1}, run_id="r3", observed_at=NOW) is (
            repo.RecordOutcome.UPDATED
        )


# -- rate limit ----------------------------------------------------------------------------------


def test_token_bucket_spaces_acquisitions() -> None:
    """At 10/s, 21 acquisitions take 2 seconds of (fake) time."""
    t = FakeTime()
    bucket = TokenBucket(10, monotonic=t.monotonic, sleep=t.sleep)
    for _ in range(21):
        bucket.acquire()
    assert t.now == pytest.approx(2.0)
    assert bucket.waited == pytest.approx(2.0)


def test_token_bucket_refills_while_idle() -> None:
    """After an idle second the next acquisition does not wait."""
    t = FakeTime()
    bucket = TokenBucket(5, capacity=5, monotonic=t.monotonic, sleep=t.sleep)
    for _ in range(5):
        bucket.acquire()
    assert t.now == 0.0
    t.now += 1.0
    bucket.acquire()
    assert t.now == 1.0


def test_delivery_keeps_under_the_rate_limit(sqlite_ledger: Ledger) -> None:
    """No more than rate_per_second requests in any second of delivery."""
    seed_and_plan(sqlite_ledger, *(make_task(i) for i in range(1, 13)))
    t = FakeTime()
    stamps: list[float] = []
    source = ScriptedSource()
    original = source._paced

    def timed() -> None:
        original()
        stamps.append(t.now)

    source._paced = timed  # type: ignore[method-assign]
    bucket = TokenBucket(10, monotonic=t.monotonic, sleep=t.sleep)
    result = deliver(sqlite_ledger, source, FixedClock(NOW), bucket=bucket)
    assert result.sent == 24
    for i, start in enumerate(stamps):
        assert sum(1 for s in stamps[i:] if s < start + 1.0 - 1e-6) <= 10
