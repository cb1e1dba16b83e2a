"""The transactional outbox (connector.outbox): planning rows, keys, superseding, the state machine."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import LedgerError, NotFound, OutboxStateError
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.outbox import PlannedRow, add_rows
from connector.ledger.reader import open_reader
from connector.ledger.tables import OutboxRow, TaskRow
from connector.models import NormalisedTask, TaskState
from connector.outbox.actions import list_outbox, retry_dead, retry_row
from connector.outbox.keys import key_meaning, tracking_key, tracking_payload
from connector.outbox.planning import plan, plan_all, preview_alerts
from connector.outbox.states import (
    OutboxKind,
    OutboxState,
    backoff_seconds,
    mark_dead,
    mark_failed,
    mark_sending,
    mark_sent,
    transition,
)
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import classify
from connector.settings import AlertSettings, PushSettings, Settings
from connector.views.listings import outbox_list
from simulator.units import UNITS
from tests.support.factories import make_task

CAL: WorkingCalendar = load_calendar()
SETTINGS = Settings()
T0 = datetime(2022, 1, 3, 2, tzinfo=UTC)
NOW = datetime(2022, 3, 22, 2, tzinfo=UTC)  # Tuesday 22 March 2022, 09:00 local
AS_OF = date(2022, 3, 22)


def seed(ledger: Ledger, *tasks: NormalisedTask, first_seen: datetime = NOW) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=first_seen)
        for task in tasks:
            repo.upsert_task(
                session, task, {"id": task.source_id}, run_id="seed", observed_at=first_seen
            )


def plan_task(
    session: Session,
    task: NormalisedTask,
    as_of: date = AS_OF,
    settings: Settings = SETTINGS,
    run_id: str = "r1",
) -> list[OutboxRow]:
    row = session.get(TaskRow, ("idesk", task.source_id))
    assert row is not None
    cls = classify(task, as_of, CAL)
    return plan(
        session,
        row,
        task,
        cls,
        as_of=as_of,
        calendar=CAL,
        settings=settings,
        run_id=run_id,
        now=NOW,
    )


def rows(ledger: Ledger) -> list[OutboxRow]:
    with ledger.reading() as session:
        return list_outbox(session)


def by_state(ledger: Ledger) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows(ledger):
        out.setdefault(row.state, []).append(row.idempotency_key)
    return out


def ack(ledger: Ledger, task_id: int, status: str, eff: date | None) -> None:
    """Play the part of a delivery: mark the task's pending tracking rows sent, set acked."""
    with ledger.transaction() as session:
        for row in session.scalars(
            select(OutboxRow).where(OutboxRow.task_id == task_id, OutboxRow.state == "pending")
        ):
            if row.kind == "tracking":
                mark_sending(row, NOW)
                mark_sent(row, NOW, "x")
        task = session.get(TaskRow, ("idesk", task_id))
        assert task is not None
        task.acked_tracking_status = status
        task.acked_eff_due = eff


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


# -- keys and payloads ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "eff", "revision", "key"),
    [
        pytest.param(
            "DTH_QUA_HAN", date(2022, 4, 4), 1, "trk:7:DTH_QUA_HAN:2022-04-04", id="dated"
        ),
        pytest.param("KHONG_THOI_HAN", None, 1, "trk:7:KHONG_THOI_HAN:-", id="no-deadline"),
        pytest.param(
            "HT_DUNG_HAN", date(2022, 4, 4), 2, "trk:7:HT_DUNG_HAN:2022-04-04#2", id="rev2"
        ),
    ],
)
def test_tracking_key(status: str, eff: date | None, revision: int, key: str) -> None:
    """Tracking keys are made from what the write means (and its revision)."""
    assert tracking_key(7, status, eff, revision) == key
    assert key_meaning(key) == tracking_key(7, status, eff)


def test_tracking_payload_per_contract() -> None:
    """The tracking body carries id, status, effective deadline, days overdue, Vietnamese note."""
    cls = classify(make_task(), AS_OF, CAL)
    body = tracking_payload(1, cls)
    assert body == {
        "id": 1,
        "trackingStatus": "DTH_QUA_HAN",
        "effectiveDeadline": "2022-01-10",
        "daysOverdue": 71,
        "note": "Quá hạn 71 ngày",
    }
    no_deadline = classify(make_task(deadline=None), AS_OF, CAL)
    assert "effectiveDeadline" not in tracking_payload(1, no_deadline)


# -- planning ------------------------------------------------------------------------------------


def test_plan_first_sync_overdue_task(ledger: Ledger) -> None:
    """First sight of a task overdue ten weeks: one tracking write, one alert, older ones past."""
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        created = plan_task(session, task)
    states = by_state(ledger)
    assert states["pending"] == [
        "trk:1:DTH_QUA_HAN:2022-01-10",
        "alr:1:QUA_HAN:2022-01-10#11",
    ]
    assert len(states["past"]) == 10
    assert {r.idempotency_key for r in created} == {r.idempotency_key for r in rows(ledger)}
    alert = next(r for r in rows(ledger) if r.state == "pending" and r.kind == "alert")
    payload = json.loads(alert.payload_json)
    assert payload["recipients"] == ["STTTT", "VPUBND"]
    assert payload["level"] == 2
    assert alert.alert_type == "QUA_HAN" and alert.occasion == "2022-01-10#11"


def test_plan_again_is_a_no_op(sqlite_ledger: Ledger) -> None:
    """Planning the same task the same day twice adds nothing."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        plan_task(session, task)
    before = len(rows(ledger))
    with ledger.transaction() as session:
        assert plan_task(session, task) == []
    assert len(rows(ledger)) == before


def test_plan_never_commits(sqlite_ledger: Ledger) -> None:
    """Rows planned in a transaction that rolls back are gone with it."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), ledger.transaction() as session:
        assert plan_task(session, task)
        raise Boom
    assert rows(ledger) == []


def test_no_tracking_write_when_the_source_already_acknowledged(sqlite_ledger: Ledger) -> None:
    """Nothing is planned for tracking when acked status and eff_due equal the computed ones
    (only the missing-deadline alert of a product task)."""
    ledger = sqlite_ledger
    task = make_task(deadline=None, subject="Xây dựng kế hoạch chuyển đổi số")
    seed(ledger, task)
    ack(ledger, 1, "KHONG_THOI_HAN", None)
    with ledger.transaction() as session:
        created = plan_task(session, task)
    assert [(r.idempotency_key, r.state) for r in created] == [
        ("alr:1:THIEU_THOI_HAN:2022-01-03", "past")  # assigned long before it was first seen
    ]


def test_newer_status_supersedes_pending_older_one(ledger: Ledger) -> None:
    """A status change while the older write is pending supersedes it (superseded_by set)."""
    task = make_task(deadline=date(2022, 3, 31))
    seed(ledger, task)
    with ledger.transaction() as session:
        plan_task(session, task)
    later = replace(task, deadline=date(2022, 3, 15))
    with ledger.transaction() as session:
        plan_task(session, later)
    tracking = [r for r in rows(ledger) if r.kind == "tracking"]
    assert [(r.idempotency_key, r.state) for r in tracking] == [
        ("trk:1:DTH_TRONG_HAN:2022-03-31", "superseded"),
        ("trk:1:DTH_QUA_HAN:2022-03-15", "pending"),
    ]
    assert tracking[0].superseded_by == tracking[1].id


def test_status_back_to_an_earlier_value_gets_a_new_revision(sqlite_ledger: Ledger) -> None:
    """X sent, Y sent, X again: the third write is key X#2 (the server would replay X)."""
    ledger = sqlite_ledger
    x = make_task(deadline=date(2022, 3, 31))
    y = replace(x, deadline=None)
    seed(ledger, x)
    with ledger.transaction() as session:
        plan_task(session, x)
    ack(ledger, 1, "DTH_TRONG_HAN", date(2022, 3, 31))
    with ledger.transaction() as session:
        plan_task(session, y)
    ack(ledger, 1, "KHONG_THOI_HAN", None)
    with ledger.transaction() as session:
        created = plan_task(session, x)
    assert [r.idempotency_key for r in created if r.kind == "tracking"] == [
        "trk:1:DTH_TRONG_HAN:2022-03-31#2"
    ]


def test_reverting_to_the_acknowledged_status_supersedes_the_pending_write(
    sqlite_ledger: Ledger,
) -> None:
    """If the status returns to what the source holds, the pending write is superseded."""
    ledger = sqlite_ledger
    x = make_task(deadline=date(2022, 3, 31))
    seed(ledger, x)
    ack(ledger, 1, "DTH_TRONG_HAN", date(2022, 3, 31))
    with ledger.transaction() as session:
        plan_task(session, replace(x, deadline=None))
    with ledger.transaction() as session:
        plan_task(session, x)
    tracking = [r for r in rows(ledger) if r.kind == "tracking"]
    assert [(r.idempotency_key, r.state, r.superseded_by) for r in tracking] == [
        ("trk:1:KHONG_THOI_HAN:-", "superseded", None)
    ]


def test_dead_tracking_write_is_not_replanned(sqlite_ledger: Ledger) -> None:
    """A dead tracking write stays dead until an operator retries it (no new row each run)."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        [trk] = [r for r in plan_task(session, task) if r.kind == "tracking"]
        mark_sending(trk, NOW)
        mark_dead(trk, "invalid_status")
    with ledger.transaction() as session:
        assert [r for r in plan_task(session, task) if r.kind == "tracking"] == []


def test_completed_task_supersedes_its_pending_alert(sqlite_ledger: Ledger) -> None:
    """An alert still pending when the task is completed is superseded, never sent."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        plan_task(session, task)
    done = replace(task, state=TaskState.DONE, completed_at=NOW)
    with ledger.transaction() as session:
        plan_task(session, done)
    alert = next(r for r in rows(ledger) if r.occasion == "2022-01-10#11")
    assert alert.state == "superseded"
    pending = [r.idempotency_key for r in rows(ledger) if r.state == "pending"]
    assert pending == ["trk:1:HT_QUA_HAN:2022-01-10"]


def test_newer_weekly_reminder_supersedes_an_undelivered_older_one(sqlite_ledger: Ledger) -> None:
    """When the next weekly occasion comes due, an older one never delivered is superseded."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        plan_task(session, task)
    with ledger.transaction() as session:
        plan_task(session, task, as_of=AS_OF + timedelta(days=7))
    states = {r.occasion: r.state for r in rows(ledger) if r.kind == "alert"}
    assert states["2022-01-10#11"] == "superseded"
    assert states["2022-01-10#12"] == "pending"


def test_push_disabled_plans_nothing(sqlite_ledger: Ledger) -> None:
    """With push.enabled off no intent is recorded."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    settings = Settings(push=PushSettings(enabled=False))
    with ledger.transaction() as session:
        assert plan_task(session, task, settings=settings) == []


def test_tracking_status_disabled_plans_alerts_only(sqlite_ledger: Ledger) -> None:
    """With push.tracking_status off only alerts are planned."""
    ledger = sqlite_ledger
    task = make_task()
    seed(ledger, task)
    settings = Settings(push=PushSettings(tracking_status=False))
    with ledger.transaction() as session:
        created = plan_task(session, task, settings=settings)
    assert created and all(r.kind == "alert" for r in created)


def test_unique_index_refuses_a_duplicate_key(ledger: Ledger) -> None:
    """The database itself refuses two rows with one idempotency key."""

    def insert() -> None:
        with ledger.transaction() as session:
            session.add(
                OutboxRow(
                    idempotency_key="alr:1:QUA_HAN:x",
                    kind="alert",
                    task_id=None,
                    payload_json="{}",
                    created_at=NOW,
                )
            )

    insert()
    with pytest.raises((IntegrityError, LedgerError)):
        insert()
    assert len(rows(ledger)) == 1


# -- whole ledger --------------------------------------------------------------------------------


def test_preview_writes_nothing_and_plan_all_records(ledger: Ledger) -> None:
    """preview_alerts lists what plan_all then records; preview itself writes nothing. What
    plan_all recorded is still to be sent, so the preview still lists it (a clerk who pulls,
    then previews, sees what the next push sends), until it is delivered."""
    product = make_task(2, deadline=None, assigned_at=NOW, subject="Xây dựng kế hoạch năm 2022")
    seed(ledger, make_task(1), product)
    preview = preview_alerts(ledger, SETTINGS, AS_OF, calendar=CAL)
    assert rows(ledger) == []
    latest = sorted(i.key for i in preview if i.is_latest)
    assert latest == ["alr:1:QUA_HAN:2022-01-10#11", "alr:2:THIEU_THOI_HAN:2022-03-22"]
    result = plan_all(ledger, SETTINGS, AS_OF, "r9", FixedClock(NOW), calendar=CAL)
    assert result.tasks == 2
    assert result.tracking == 2
    assert result.alerts == 2
    assert result.past == 10
    pending = sorted(
        r.idempotency_key for r in rows(ledger) if r.kind == "alert" and r.state == "pending"
    )
    assert pending == latest
    waiting = preview_alerts(ledger, SETTINGS, AS_OF, calendar=CAL)
    assert sorted(i.key for i in waiting if i.is_latest) == latest
    with ledger.transaction() as session:  # the next push delivers them
        for row in session.scalars(select(OutboxRow).where(OutboxRow.state == "pending")):
            if row.kind == "alert":
                mark_sending(row, NOW)
                mark_sent(row, NOW, "x")
    assert preview_alerts(ledger, SETTINGS, AS_OF, calendar=CAL) == []


def test_backfill_cutoff_skips_only_the_first_write_of_long_completed_tasks(
    ledger: Ledger,
) -> None:
    """push.backfill_completed_before: no first tracking row for a task completed before it."""
    done = partial(make_task, state=TaskState.DONE)
    old = done(1, completed_at=datetime(2022, 1, 7, 3, tzinfo=UTC))  # on time, 7 Jan
    recent = done(2, completed_at=datetime(2022, 3, 15, 3, tzinfo=UTC))  # late, 15 March
    open_task = make_task(3)  # overdue since 10 January
    acked = done(4, completed_at=datetime(2022, 1, 7, 3, tzinfo=UTC))
    seed(ledger, old, recent, open_task, acked)
    ack(ledger, 4, "DTH_QUA_HAN", date(2022, 1, 10))  # written while it was open
    settings = Settings(push=PushSettings(backfill_completed_before="2022-03-01"))
    with capture_logs() as logs:
        result = plan_all(ledger, settings, AS_OF, "r1", FixedClock(NOW), calendar=CAL)
    assert result.backfill_skipped == 1
    assert result.tracking == 3
    tracking = sorted(r.idempotency_key for r in rows(ledger) if r.kind == "tracking")
    assert tracking == [
        "trk:2:HT_QUA_HAN:2022-01-10",
        "trk:3:DTH_QUA_HAN:2022-01-10",
        "trk:4:HT_DUNG_HAN:2022-01-10",
    ]
    assert "alr:3:QUA_HAN:2022-01-10#11" in {r.idempotency_key for r in rows(ledger)}
    [event] = [e for e in logs if e["event"] == "tracking_backfill_skipped"]
    assert (event["skipped"], event["completed_before"]) == (1, "2022-03-01")
    again = plan_all(ledger, settings, AS_OF, "r2", FixedClock(NOW), calendar=CAL)
    assert (again.backfill_skipped, again.tracking) == (1, 0), "skipped in every run"
    # later the task is reopened: its change of status is written as usual
    with ledger.transaction() as session:
        repo.upsert_task(
            session,
            replace(old, state=TaskState.OPEN, completed_at=None, last_modified=NOW),
            {"id": 1},
            run_id="r3",
            observed_at=NOW,
        )
    reopened = plan_all(ledger, settings, AS_OF, "r3", FixedClock(NOW), calendar=CAL)
    assert (reopened.backfill_skipped, reopened.tracking) == (0, 1)
    assert "trk:1:DTH_QUA_HAN:2022-01-10" in {r.idempotency_key for r in rows(ledger)}


def test_backfill_cutoff_still_corrects_a_stale_status_the_source_holds(ledger: Ledger) -> None:
    """A task completed before the cut-off whose source record holds another tracking status
    (written by an earlier client: "in progress" on a finished task) gets its write; one whose
    source already holds the computed status, or none, is left out."""
    done = partial(
        make_task, state=TaskState.DONE, completed_at=datetime(2022, 1, 7, 3, tzinfo=UTC)
    )
    stale = done(1, tracking_status="DTH_TRONG_HAN")
    right = done(2, tracking_status="HT_DUNG_HAN")
    never = done(3)
    seed(ledger, stale, right, never)
    settings = Settings(push=PushSettings(backfill_completed_before="2022-03-01"))
    result = plan_all(ledger, settings, AS_OF, "r1", FixedClock(NOW), calendar=CAL)
    assert (result.backfill_skipped, result.tracking) == (2, 1)
    tracking = [r.idempotency_key for r in rows(ledger) if r.kind == "tracking"]
    assert tracking == ["trk:1:HT_DUNG_HAN:2022-01-10"]


def test_backfill_cutoff_off_by_default_plans_every_first_write(ledger: Ledger) -> None:
    """Without the setting a long-completed task gets its first tracking row, as before."""
    seed(
        ledger, make_task(1, state=TaskState.DONE, completed_at=datetime(2022, 1, 7, 3, tzinfo=UTC))
    )
    result = plan_all(ledger, SETTINGS, AS_OF, "r1", FixedClock(NOW), calendar=CAL)
    assert (result.backfill_skipped, result.tracking) == (0, 1)


def test_unknown_unit_kind_and_recipient_skipped(sqlite_ledger: Ledger) -> None:
    """A recipient code missing from the unit table is skipped, the others addressed."""
    ledger = sqlite_ledger
    settings = Settings(alerts=AlertSettings(recipients={"QUA_HAN": ("lead", "NOPE")}))
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        created = plan_task(session, task, settings=settings)
    alert = next(r for r in created if r.state == "pending" and r.kind == "alert")
    assert json.loads(alert.payload_json)["recipients"] == ["STTTT"]


# -- operator actions ----------------------------------------------------------------------------


def _dead_row(ledger: Ledger) -> int:
    task = make_task()
    seed(ledger, task)
    with ledger.transaction() as session:
        created = plan_task(session, task)
        row = next(r for r in created if r.kind == "tracking")
        mark_sending(row, NOW)
        mark_dead(row, "unknown_recipient")
        session.flush()
        assert row.id is not None
        return row.id


def test_retry_row_and_retry_dead(sqlite_ledger: Ledger) -> None:
    """retry_row / retry_dead put dead rows back to pending with attempts reset."""
    ledger = sqlite_ledger
    row_id = _dead_row(ledger)
    with ledger.transaction() as session:
        assert [r.id for r in list_outbox(session, "dead")] == [row_id]
        row = retry_row(session, row_id)
        assert (row.state, row.attempts) == ("pending", 0)
    with ledger.transaction() as session:
        row2 = session.get(OutboxRow, row_id)
        assert row2 is not None
        mark_sending(row2, NOW)
        mark_dead(row2, "again")
    with ledger.transaction() as session:
        assert retry_dead(session) == 1
        assert list_outbox(session, OutboxState.DEAD) == []


@pytest.mark.parametrize(
    ("state", "message"),
    [
        pytest.param("sent", "is sent", id="sent"),
        pytest.param("pending", "is pending", id="pending"),
    ],
)
def test_retry_row_refuses_rows_that_are_not_dead(
    sqlite_ledger: Ledger, state: str, message: str
) -> None:
    """Only dead, failed or past rows can be retried; the error names the row and its state."""
    ledger = sqlite_ledger
    row_id = _dead_row(ledger)
    with ledger.transaction() as session:
        row = session.get(OutboxRow, row_id)
        assert row is not None
        row.state = state
    with ledger.transaction() as session, pytest.raises(OutboxStateError, match=message):
        retry_row(session, row_id)


def test_retry_unknown_row_and_unknown_state(sqlite_ledger: Ledger) -> None:
    """An unknown id is NotFound (exit 4, as `tasks show` of an unknown task), an unknown
    state a clear OutboxStateError."""
    ledger = sqlite_ledger
    with ledger.transaction() as session:
        with pytest.raises(NotFound, match="no outbox row with id 999"):
            retry_row(session, 999)
        with pytest.raises(OutboxStateError, match="valid: pending"):
            list_outbox(session, "bogus")


# -- the state machine ---------------------------------------------------------------------------


def _row(state: str, attempts: int = 0) -> OutboxRow:
    return OutboxRow(
        id=5,
        idempotency_key="k",
        kind="alert",
        payload_json="{}",
        state=state,
        attempts=attempts,
        created_at=NOW,
    )


@pytest.mark.parametrize(
    ("start", "to", "ok"),
    [
        pytest.param("pending", "sending", True, id="pending-sending"),
        pytest.param("sending", "sent", True, id="sending-sent"),
        pytest.param("sending", "sending", True, id="crash-retry"),
        pytest.param("failed", "sending", True, id="failed-sending"),
        pytest.param("pending", "superseded", True, id="pending-superseded"),
        pytest.param("dead", "pending", True, id="dead-pending"),
        pytest.param("sending", "superseded", False, id="sending-not-superseded"),
        pytest.param("sent", "sending", False, id="sent-final"),
        pytest.param("past", "sending", False, id="past-never-sent"),
        pytest.param("superseded", "pending", False, id="superseded-final"),
        pytest.param("pending", "sent", False, id="no-skipping-sending"),
    ],
)
def test_transitions(start: str, to: str, ok: bool) -> None:
    """Only the documented steps are allowed."""
    row = _row(start)
    if ok:
        transition(row, OutboxState(to))
        assert row.state == to
    else:
        with pytest.raises(OutboxStateError, match=f"is {start}; it cannot become {to}"):
            transition(row, OutboxState(to))


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [
        pytest.param(0, 0.0, id="none"),
        pytest.param(1, 60.0, id="first"),
        pytest.param(2, 120.0, id="second"),
        pytest.param(6, 1920.0, id="sixth"),
        pytest.param(7, 3600.0, id="capped"),
        pytest.param(500, 3600.0, id="huge"),
    ],
)
def test_backoff(attempts: int, seconds: float) -> None:
    """Backoff doubles from retry_initial_seconds up to retry_max_seconds."""
    assert backoff_seconds(attempts, PushSettings()) == seconds


def test_mark_failed_backs_off_then_dies() -> None:
    """Failures count attempts, set next_attempt_at, and die at max_attempts."""
    push = PushSettings(max_attempts=3)
    row = _row("sending")
    assert mark_failed(row, NOW, "503", push) is OutboxState.FAILED
    assert row.next_attempt_at == NOW + timedelta(seconds=60)
    transition(row, OutboxState.SENDING)
    assert mark_failed(row, NOW, "503", push) is OutboxState.FAILED
    assert row.next_attempt_at == NOW + timedelta(seconds=120)
    transition(row, OutboxState.SENDING)
    assert mark_failed(row, NOW, "503", push) is OutboxState.DEAD
    assert (row.attempts, row.next_attempt_at, row.last_error) == (3, None, "503")


def test_migration_0002_marks_rows_already_sent_once_as_in_doubt(ledger_url: str) -> None:
    """Upgrading keeps 'may have reached the source' for rows claimed before the column existed."""
    from alembic import command
    from sqlalchemy import text

    from connector.ledger.db import alembic_config, create_ledger_engine, upgrade

    engine = create_ledger_engine(ledger_url)
    created = datetime(2022, 3, 1, 2, tzinfo=UTC)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
            for key, state, attempts, sending_at in (
                ("alr:1:QUA_HAN:2022-03-14", "dead", 0, NOW),  # retried already: attempts 0
                ("alr:2:QUA_HAN:2022-03-14", "pending", 0, None),  # never sent
            ):
                conn.execute(
                    text(
                        "INSERT INTO outbox (idempotency_key, kind, task_id, alert_type, "
                        "occasion, payload_json, state, attempts, last_error, created_run, "
                        "created_at, sending_at, response_id) VALUES (:key, 'alert', 1, "
                        "'QUA_HAN', '', '{}', :state, :attempts, '', 'r', :created, :sending, '')"
                    ),
                    {
                        "key": key,
                        "state": state,
                        "attempts": attempts,
                        "created": created,
                        "sending": sending_at,
                    },
                )
    finally:
        engine.dispose()
    upgrade(ledger_url)
    with open_ledger(ledger_url) as ledger, ledger.reading() as session:
        rows = {r.idempotency_key: r.in_doubt_since for r in list_outbox(session)}
    assert rows == {"alr:1:QUA_HAN:2022-03-14": created, "alr:2:QUA_HAN:2022-03-14": None}


def test_outbox_list_reads_only_the_rows_it_shows_and_counts_the_rest(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``outbox list --limit N`` is the first N rows by id with the count of all (of the state
    asked); ``--limit 0`` every row; the rows are read with the limit, not all then cut."""
    now = datetime(2022, 3, 7, 2, tzinfo=UTC)
    states = [OutboxState.PENDING, OutboxState.SENT, OutboxState.PENDING] * 5
    with ledger.transaction() as session:
        add_rows(
            session,
            [
                PlannedRow.of(
                    key=f"trk:{i}:DTH_QUA_HAN:2022-03-07",
                    kind=OutboxKind.TRACKING,
                    task_id=i,
                    payload_json="{}",
                    state=state,
                    run_id="seed",
                    now=now,
                )
                for i, state in enumerate(states, start=1)
            ],
        )
    with open_reader(ledger.url) as reader:
        first = outbox_list(reader, limit=4)
        pending = outbox_list(reader, state=OutboxState.PENDING, limit=3)
        every = outbox_list(reader, limit=0)
        more = outbox_list(reader, state=OutboxState.SENT, limit=50)
        statements: list[str] = []
        execute = reader._execute

        def recorded(sql: str, params: Any) -> Any:
            statements.append(sql)
            return execute(sql, params)

        monkeypatch.setattr(reader, "_execute", recorded)
        outbox_list(reader, limit=2)
    assert [r.task_id for r in first.rows] == [1, 2, 3, 4]
    assert first.total == 15
    assert [r.task_id for r in pending.rows] == [1, 3, 4]
    assert pending.total == 10
    assert len(every.rows) == every.total == 15
    assert [r.task_id for r in more.rows] == [2, 5, 8, 11, 14]
    assert more.total == 5
    listed = [sql for sql in statements if "FROM outbox ORDER BY id" in sql]
    assert len(listed) == 1
    assert "LIMIT" in listed[0]  # ``:limit`` on SQLite, ``%(limit)s`` on PostgreSQL
