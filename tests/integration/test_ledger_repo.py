"""Ledger writes and reads: upsert by content hash, history, snapshots, quarantine, as-of rebuilds."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.reader import reading
from connector.ledger.repo import Incoming, RecordOutcome, Rejected
from connector.ledger.tables import QuarantineRow, TaskHistory, TaskRow, TaskSnapshot, UnitRow
from connector.models import (
    DeadlineChange,
    NormalisedTask,
    StatusCode,
    TaskState,
    Unit,
    UnitKind,
    UnitRef,
)
from tests.support import factories

T0 = datetime(2022, 3, 1, 3, 0, tzinfo=UTC)
NOW = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)


make_task = partial(
    factories.make_task,
    last_modified=T0,
    source_status="processing",
    ed_id=901,
    category="Công văn",
    doc_date=date(2022, 2, 20),
    steering_type=2,
    steering_content="Sở Thông tin và Truyền thông chủ trì, báo cáo trước ngày 15/4/2022.",
    coordinators=(UnitRef("SNV", "Sở Nội vụ"),),
    assigned_at=datetime(2022, 2, 20, 3, 0, tzinfo=UTC),
    deadline=date(2022, 4, 15),
    confirmed=False,
    priority=1,
    progress=10,
    extra={"unknownKey": "x"},
)
"""The shared task with every kind of field filled (what the ledger must round-trip)."""


def raw_of(task: NormalisedTask) -> dict[str, Any]:
    return {"id": task.source_id, "lastModifyStr": task.last_modified.isoformat()}


def write(session: Session, *items: repo.PageItem, run: str = "r1", at: datetime = NOW,
          full: bool = False) -> repo.WriteCounts:
    return repo.write_page(session, list(items), run_id=run, observed_at=at, full=full)


def count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_json_round_trip() -> None:
    """A task survives canonical JSON unchanged; equal tasks give equal hashes."""
    task = make_task(
        completed_at=datetime(2022, 3, 2, 10, 0, tzinfo=UTC),
        deadline_changes=(
            DeadlineChange(date(2022, 3, 31), date(2022, 4, 15),
                           datetime(2022, 3, 3, 1, 0, tzinfo=UTC), "Gia hạn"),
        ),
        confirmed=True,
        confirmed_at=datetime(2022, 3, 4, 1, 0, tzinfo=UTC),
    )
    back = repo.task_from_json(repo.task_to_json(task))
    assert back == task
    assert back.extra == task.extra
    assert repo.task_to_dict(back) == repo.task_to_dict(task)
    assert repo.content_hash(back) == repo.content_hash(task)
    assert repo.content_hash(replace(task, progress=11)) != repo.content_hash(task)
    assert '"deadline":"2022-04-15"' in repo.task_to_json(task)
    assert '"last_modified":"2022-03-01T03:00:00+00:00"' in repo.task_to_json(task)


def test_insert_writes_row_snapshot_and_history(ledger: Ledger) -> None:
    """A new task is inserted with one snapshot and a history row per initial tracked value."""
    task = make_task()
    with ledger.transaction() as s:
        counts = write(s, Incoming(task, raw_of(task), "id:1"))
    assert (counts.inserted, counts.snapshots) == (1, 1)
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None
        assert repo.task_from_row(row) == task
        assert row.content_hash == repo.content_hash(task)
        assert (row.first_seen_run, row.last_seen_run, row.updated_at) == ("r1", "r1", NOW)
        fields = {h.field: h for h in repo.task_history(s, 1)}
        assert set(fields) == {"state", "source_status", "deadline", "lead_unit_code"}
        assert fields["state"].new_value == "open"
        assert fields["state"].effective_on == date(2022, 2, 20)  # assigned (local date)
        assert fields["deadline"].new_value == "2022-04-15"
        assert fields["deadline"].observed_on == date(2022, 3, 7)
        assert fields["deadline"].source_modified == T0
        assert len(repo.task_snapshots(s, 1)) == 1


def test_same_content_again_writes_nothing(ledger: Ledger) -> None:
    """Re-reading an unchanged task writes no snapshot, no history, no updated_at."""
    task = make_task()
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task), "id:1"))
    with ledger.transaction() as s:
        counts = write(s, Incoming(task, raw_of(task), "id:1"), run="r2",
                       at=NOW + timedelta(hours=1))
    assert (counts.unchanged, counts.written, counts.history_rows, counts.snapshots) == (1, 0, 0, 0)
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None
        assert (row.last_seen_run, row.updated_at) == ("r1", NOW)
        assert count(s, TaskSnapshot) == 1


def test_update_records_each_tracked_change(ledger: Ledger) -> None:
    """An extension and a completion each get a history row effective when they happened."""
    task = make_task()
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task)))
    changed = replace(
        task,
        last_modified=T0 + timedelta(days=10),
        deadline=date(2022, 5, 15),
        deadline_changes=(
            DeadlineChange(date(2022, 4, 15), date(2022, 5, 15),
                           datetime(2022, 3, 5, 20, 0, tzinfo=UTC), "Gia hạn"),
        ),
        state=TaskState.DONE,
        source_status="completed",
        completed_at=datetime(2022, 3, 9, 18, 0, tzinfo=UTC),
        lead_unit_code="SNV",
    )
    with ledger.transaction() as s:
        counts = write(s, Incoming(changed, raw_of(changed)), run="r2")
    assert counts.updated == 1
    with ledger.reading() as s:
        history = [h for h in repo.task_history(s, 1) if h.run_id == "r2"]
        by_field = {h.field: h for h in history}
        assert set(by_field) == {
            "state", "source_status", "deadline", "deadline_changes", "completed_at",
            "lead_unit_code",
        }
        assert (by_field["deadline"].old_value, by_field["deadline"].new_value) == (
            "2022-04-15", "2022-05-15")
        assert by_field["deadline"].effective_on == date(2022, 3, 6)  # changed 03:00 local
        assert by_field["state"].effective_on == date(2022, 3, 10)  # completed 01:00 local
        assert by_field["completed_at"].effective_on == date(2022, 3, 10)
        row = repo.get_task(s, 1)
        assert row is not None
        assert row.original_deadline == date(2022, 4, 15)
        assert row.first_seen_run == "r1"
        assert row.last_seen_run == "r2"
        assert len(repo.task_snapshots(s, 1)) == 2


def test_older_version_never_overwrites_newer(ledger: Ledger) -> None:
    """A record older than the stored one is skipped, even in a later run."""
    newer = make_task(last_modified=T0 + timedelta(hours=2), progress=80)
    older = make_task(last_modified=T0, progress=20)
    with ledger.transaction() as s:
        write(s, Incoming(newer, raw_of(newer)))
    with ledger.transaction() as s:
        assert repo.upsert_task(s, older, raw_of(older), run_id="r2",
                                observed_at=NOW) is RecordOutcome.OLDER
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None
        assert (row.progress, row.source_modified) == (80, T0 + timedelta(hours=2))
        assert count(s, TaskSnapshot) == 1


def test_equal_timestamp_later_read_wins(ledger: Ledger) -> None:
    """Same lastModify, different content: the record read later (in the page too) wins."""
    a = make_task(progress=20)
    b = make_task(progress=30)
    c = make_task(progress=40)
    with ledger.transaction() as s:
        counts = write(s, Incoming(a, raw_of(a)), Incoming(b, raw_of(b)))
    assert (counts.inserted, counts.updated) == (1, 1)
    with ledger.transaction() as s:
        assert repo.upsert_task(s, c, raw_of(c), run_id="r2", observed_at=NOW) is RecordOutcome.UPDATED
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None and row.progress == 40


def test_quarantine_lifecycle(ledger: Ledger) -> None:
    """Bad record: quarantined once; same again: nothing; new bad: attempts+1; valid: resolved."""
    bad = Rejected(record_key="id:7", raw={"id": 7, "deadline": "Feb 30, 2022"},
                   field="deadline", value="Feb 30, 2022",
                   reason="deadline: 'Feb 30, 2022' is not a date", task_id=7)
    with ledger.transaction() as s:
        counts = write(s, bad)
    assert (counts.quarantined, counts.quarantine_changed) == (1, 1)
    with ledger.transaction() as s:
        counts = write(s, bad, run="r2")
    assert (counts.quarantined, counts.quarantine_changed, counts.written) == (1, 0, 0)
    worse = replace(bad, raw={"id": 7, "deadline": "31/02/2022"}, value="31/02/2022",
                    reason="deadline: '31/02/2022' is not a date")
    with ledger.transaction() as s:
        write(s, worse, run="r3", at=NOW + timedelta(days=1))
    with ledger.reading() as s:
        (q,) = repo.list_quarantine(s)
        assert (q.field, q.bad_value, q.attempts) == ("deadline", "31/02/2022", 2)
        assert (q.first_run, q.last_run, q.first_seen_at) == ("r1", "r3", NOW)
        assert q.last_seen_at == NOW + timedelta(days=1)
        assert q.resolved_at is None
    good = make_task(7)
    with ledger.transaction() as s:
        counts = write(s, Incoming(good, raw_of(good), "id:7"), run="r4",
                       at=NOW + timedelta(days=2))
    assert counts.resolved == 1
    with ledger.reading() as s:
        assert repo.list_quarantine(s) == []
        (q,) = repo.list_quarantine(s, include_resolved=True)
        assert (q.resolved_run, q.resolved_at) == ("r4", NOW + timedelta(days=2))
    with ledger.transaction() as s:  # bad again after resolution: re-opened
        write(s, worse, run="r5")
    with ledger.reading() as s:
        (q,) = repo.list_quarantine(s)
        assert (q.attempts, q.resolved_run) == (3, "")


def test_soft_delete_and_undelete(ledger: Ledger) -> None:
    """A record flagged deleted marks the task deleted at the source; a later copy clears it."""
    task = make_task()
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task)))
    gone = replace(task, deleted=True, last_modified=T0 + timedelta(hours=1))
    with ledger.transaction() as s:
        counts = write(s, Incoming(gone, raw_of(gone)), run="r2")
    assert counts.deleted_marked == 1
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None
        assert (row.deleted_at_source, row.deleted_reason) == (True, "deleted")
        assert repo.list_tasks(s) == []
        assert len(repo.list_tasks(s, include_deleted=True)) == 1
    back = replace(task, last_modified=T0 + timedelta(hours=2))
    with ledger.transaction() as s:
        write(s, Incoming(back, raw_of(back)), run="r3")
    with ledger.reading() as s:
        deleted_rows = [h for h in repo.task_history(s, 1) if h.field == "deleted"]
        assert [(h.old_value, h.new_value) for h in deleted_rows] == [
            ("false", "true"), ("true", "false")]
        row = repo.get_task(s, 1)
        assert row is not None and (row.deleted_at_source, row.deleted_reason) == (False, "")


def test_full_read_marks_unlisted_tasks_missing(ledger: Ledger) -> None:
    """After a full read, tasks it did not list are deleted at the source, reason missing."""
    tasks = [make_task(i) for i in (1, 2, 3)]
    with ledger.transaction() as s:
        write(s, *[Incoming(t, raw_of(t)) for t in tasks])
    bad2 = Rejected(record_key="id:2", raw={"id": 2}, field="deadline", value="x",
                    reason="bad", task_id=2)
    with ledger.transaction() as s:
        counts = write(s, Incoming(tasks[0], raw_of(tasks[0])), bad2, run="full1", full=True)
    assert counts.unchanged == 1
    with ledger.transaction() as s:
        missing = repo.missing_task_ids(s, "full1")
        assert missing == [3]  # 2 was listed (even though quarantined)
        assert repo.mark_missing(s, missing, run_id="full1", observed_at=NOW) == 1
    with ledger.reading() as s:
        row = repo.get_task(s, 3)
        assert row is not None
        assert (row.deleted_at_source, row.deleted_reason) == (True, "missing")
        snaps = repo.task_snapshots(s, 3)
        assert [sn.deleted_at_source for sn in snaps] == [False, True]
        assert snaps[1].normalised_json == snaps[0].normalised_json
        assert [h.new_value for h in repo.task_history(s, 3) if h.field == "deleted"] == ["true"]
        assert repo.missing_task_ids(s, "full1") == []


def test_tasks_as_of_rebuilds_past_days(ledger: Ledger) -> None:
    """tasks_as_of(day) returns what the ledger knew at the end of that local day."""
    day1 = datetime(2022, 3, 1, 16, 59, tzinfo=UTC)  # 23:59 local, 1 March
    day2 = datetime(2022, 3, 1, 17, 0, tzinfo=UTC)  # 00:00 local, 2 March
    v1 = make_task(1, progress=10)
    other = make_task(2)
    with ledger.transaction() as s:
        write(s, Incoming(v1, raw_of(v1)), Incoming(other, raw_of(other)), at=day1)
    v2 = replace(v1, progress=50, last_modified=T0 + timedelta(hours=20))
    gone = replace(other, deleted=True, last_modified=T0 + timedelta(hours=20))
    with ledger.transaction() as s:
        write(s, Incoming(v2, raw_of(v2)), Incoming(gone, raw_of(gone)), run="r2", at=day2)
    with ledger.reading() as s:
        assert repo.tasks_as_of(s, date(2022, 2, 28)) == []
        assert repo.tasks_as_of(s, date(2022, 3, 1)) == [v1, other]
        assert repo.tasks_as_of(s, date(2022, 3, 2)) == [v2]
        assert [t.deleted for t in repo.tasks_as_of(s, date(2022, 3, 2),
                                                    include_deleted=True)] == [False, True]
        streamed = list(repo.iter_tasks_as_of(s, date(2022, 3, 1), batch_size=1))
        assert streamed == [v1, other]


def _classify_once(ledger: Ledger, values: dict[str, Any], as_of: date, effective: date,
                   run: str) -> tuple[bool, int]:
    """What the classification step does for one task: write only when something differs."""
    with ledger.transaction() as s:
        row = repo.read_task(s, 1)
        assert row is not None
        if not repo.classification_differs(row.stored, values):
            return False, 0
        change = repo.ClassificationChange(1, values, row.status_code, effective,
                                           row.task.last_modified)
        return True, repo.write_classifications(s, [change], as_of=as_of, run_id=run,
                                                observed_at=NOW)


def test_classification_writes_only_changes(ledger: Ledger) -> None:
    """Identical classification writes nothing; a status change writes one history row."""
    task = make_task()
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task)))
    values: dict[str, Any] = {"status_code": StatusCode.DTH_TRONG_HAN.value,
                              "working_days_left": 20, "due_soon": False}
    assert _classify_once(ledger, values, date(2022, 3, 7), date(2022, 2, 20), "r1") == (True, 1)
    assert _classify_once(ledger, values, date(2022, 3, 8), date(2022, 3, 8), "r2") == (False, 0)
    fewer = {**values, "working_days_left": 19}
    assert _classify_once(ledger, fewer, date(2022, 3, 8), date(2022, 3, 8), "r2") == (True, 0)
    overdue = {"status_code": StatusCode.DTH_QUA_HAN.value, "working_days_left": None,
               "due_soon": False}
    assert _classify_once(ledger, overdue, date(2022, 4, 20), date(2022, 4, 16), "r3") == (
        True, 1)
    with ledger.reading() as s:
        row = repo.get_task(s, 1)
        assert row is not None and row.classified_on == date(2022, 4, 20)
        status_rows = [h for h in repo.task_history(s, 1) if h.field == repo.STATUS_FIELD]
        assert [(h.old_value, h.new_value) for h in status_rows] == [
            ("", "DTH_TRONG_HAN"), ("DTH_TRONG_HAN", "DTH_QUA_HAN")]
        assert repo.statuses_on(s, date(2022, 2, 19)) == {}
        assert repo.statuses_on(s, date(2022, 3, 7)) == {1: "DTH_TRONG_HAN"}
        assert repo.statuses_on(s, date(2022, 4, 16)) == {1: "DTH_QUA_HAN"}
        assert [t.source_id for t in repo.list_tasks(s, status="DTH_QUA_HAN")] == [1]
        assert repo.list_tasks(s, status="DTH_TRONG_HAN") == []


def test_tracked_values_of_a_row_match_its_task(ledger: Ledger) -> None:
    """History compares stored rows with new versions: both sides must render alike."""
    task = make_task(
        deadline_changes=(DeadlineChange(date(2022, 3, 31), date(2022, 4, 15),
                                         datetime(2022, 3, 3, 1, 0, tzinfo=UTC), "Gia hạn"),),
        completed_at=datetime(2022, 3, 9, 18, 0, tzinfo=UTC), state=TaskState.DONE,
        confirmed=True, deleted=True,
    )
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task)))
    with ledger.reading() as s:
        with reading(s) as r:  # a plain row: raw driver values (SQLite's text dates)
            (row,) = r.rows("SELECT * FROM task WHERE source_id = 1")
        assert repo.tracked_from_row(row) == repo.tracked_from_row(repo.get_task(s, 1))
        assert repo.tracked_from_row(row) == {
            name: repo.history_value(getattr(task, name)) for name in repo.TRACKED_FIELDS}
        assert repo.task_from_row(row) == task


def test_list_tasks_filters(ledger: Ledger) -> None:
    """list_tasks filters by lead unit and limits, by id."""
    tasks = [make_task(i, lead_unit_code="STTTT" if i % 2 else "SNV") for i in range(1, 6)]
    with ledger.transaction() as s:
        write(s, *[Incoming(t, raw_of(t)) for t in tasks])
    with ledger.reading() as s:
        assert [t.source_id for t in repo.list_tasks(s, unit="STTTT")] == [1, 3, 5]
        assert [t.source_id for t in repo.list_tasks(s, limit=2)] == [1, 2]
        assert repo.get_task(s, 99) is None


def test_units_upsert_only_changes(ledger: Ledger) -> None:
    """Units are inserted, left alone when unchanged, and updated when renamed."""
    units = [Unit("STTTT", "Sở TT&TT", UnitKind.DEPARTMENT), Unit("TCT", "Tổ công tác",
                                                                   UnitKind.OFFICE, "VPUBND")]
    with ledger.transaction() as s:
        assert repo.upsert_units(s, units, now=NOW) == 2
    with ledger.transaction() as s:
        assert repo.upsert_units(s, units, now=NOW) == 0
    with ledger.transaction() as s:
        renamed = [replace(units[0], name="Sở Thông tin và Truyền thông")]
        assert repo.upsert_units(s, renamed, now=NOW) == 1
    with ledger.reading() as s:
        rows = repo.list_units(s)
        assert [(u.code, u.name, u.kind, u.parent_code) for u in rows] == [
            ("STTTT", "Sở Thông tin và Truyền thông", "department", ""),
            ("TCT", "Tổ công tác", "office", "VPUBND"),
        ]
        assert count(s, UnitRow) == 2


def test_cursor_round_trip(ledger: Ledger) -> None:
    """The cursor is stored aware UTC and read back equal; a full read stamps last_full_at."""
    with ledger.reading() as s:
        assert repo.get_cursor(s, "idesk") is None
    cursor = datetime(2022, 3, 7, 1, 59, 59, tzinfo=UTC)
    with ledger.transaction() as s:
        repo.save_cursor(s, "idesk", cursor, run_id="r1", now=NOW, full_done=True)
    with ledger.reading() as s:
        assert repo.get_cursor(s, "idesk") == cursor
        state = repo.get_sync_state(s, "idesk")
        assert state is not None and state.last_full_at == NOW and state.updated_run == "r1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("completed_at", datetime(2022, 3, 2, tzinfo=UTC), id="instant"),
        pytest.param("doc_date", None, id="none"),
        pytest.param("coordinators", (), id="empty-tuple"),
        pytest.param("state", TaskState.CANCELLED, id="enum"),
    ],
)
def test_row_round_trip(ledger: Ledger, field: str, value: Any) -> None:
    """task_from_row gives back the task that was written (every column type)."""
    task = make_task(**{field: value})
    with ledger.transaction() as s:
        write(s, Incoming(task, raw_of(task)))
    with ledger.reading() as s:
        row = s.get(TaskRow, ("idesk", 1))
        assert row is not None
        assert repo.task_from_row(row) == task


def test_history_rows_need_their_task(ledger: Ledger) -> None:
    """Every history and snapshot row belongs to a task row (page writes flush tasks first)."""
    tasks = [make_task(i) for i in range(1, 4)]
    with ledger.transaction() as s:
        write(s, *[Incoming(t, raw_of(t)) for t in tasks])
    with ledger.reading() as s:
        assert count(s, TaskHistory) == 12
        assert count(s, TaskSnapshot) == 3
        assert count(s, QuarantineRow) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"subject": "trước\x00sau"}, "subject", id="nul"),
        pytest.param({"signer": "bad \ud800 half"}, "signer", id="lone-surrogate"),
        pytest.param({"coordinators": (UnitRef("SNV", "a\x00b"),)}, "coordinators",
                     id="nul-in-coordinator"),
    ],
)
def test_unstorable_text_is_quarantined_not_fatal(
    ledger: Ledger, changes: dict[str, Any], field: str
) -> None:
    """Text no database can hold (NUL, lone surrogate) quarantines the record; the page goes on."""
    bad = make_task(7, **changes)
    good = make_task(8)
    raw = {**raw_of(bad), "subject": "trước\x00sau", "signer": "bad \ud800 half"}
    with ledger.transaction() as s:
        counts = write(s, Incoming(bad, raw, "id:7"), Incoming(good, raw_of(good), "id:8"))
    assert (counts.inserted, counts.quarantined) == (1, 1)
    with ledger.reading() as s:
        assert repo.get_task(s, 7) is None and repo.get_task(s, 8) is not None
        (q,) = repo.list_quarantine(s)
        assert (q.record_key, q.task_id, q.field) == ("id:7", 7, field)
        assert "cannot store" in q.reason and "\x00" not in q.reason
        assert "\\u0000" in q.raw_json and "\\ud800" in q.raw_json
