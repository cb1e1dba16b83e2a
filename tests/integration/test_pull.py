"""The pull end to end over loopback, on SQLite and PostgreSQL.

Against the simulator (acceptance): after a pull the ledger holds what the simulator's world
says, read by the contract oracle (`tests.support.contract`, which shares no code with the
mapping): nothing lost, duplicated or stale; every malformed record is in quarantine naming its
field; a second pull with no change writes nothing; faults and crashes do not change that; the
cursor never passes the server's clock.

Against a hostile source (`tests.support.hostile_server.HostileServer`, one misbehaviour
switched on per test): a ``Date`` header ahead of or behind the records' clock, a lying
``total``, paging ignored, one id listed twice, records with absurd values, a unit name
PostgreSQL cannot store: the pull never loses a task nor stalls on one record.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import SecretStr
from sqlalchemy import func, select, text
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cli import app
from connector.clock import FixedClock
from connector.errors import AuthError, SourceError, SourcePagingError, SourceUnavailable
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import (
    OutboxRow,
    QuarantineRow,
    SyncRun,
    TaskHistory,
    TaskRow,
    TaskSnapshot,
    UnitRow,
)
from connector.ops.runs import get_run, recorded_run
from connector.settings import RetrySettings, Settings
from connector.source.pull import PullResult, pull
from connector.views.check import run_checks
from connector.views.text import check_line
from simulator import Faults, MalformKind, Simulator, SimulatorConfig
from tests.support import contract
from tests.support.factories import make_record, make_records, make_settings
from tests.support.hostile_server import DEFAULT_NOW, PASSWORD, UNITS, HostileServer
from tests.support.timing import QuickSleep

PULL: dict[str, Any] = {
    "source": {"page_size": 200},
    "retry": {"max_attempts": 10, "initial_wait": 0.01, "max_wait": 0.05, "total_budget": 60},
    "sync": {"lookback_seconds": 120},
}
"""Settings sections of the pulls from the simulator (`make_settings(sim, url, **PULL)`)."""


def run_pull(settings: Settings, ledger: Ledger, sim: Simulator, **kw: Any) -> PullResult:
    """A pull as the CLI runs it: recorded, with the simulator's today as the local date.

    Outbox planning is off unless asked (``plan_outbox=True``): it is the push's concern, and
    `test_outbox_is_planned_with_the_classification` covers the hand-over.
    """
    clock = FixedClock(sim.now())
    kw.setdefault("plan_outbox", False)
    run_id = kw.pop("run_id", f"run-{time.monotonic_ns()}")
    with recorded_run(ledger, "pull", "cron", run_id, clock) as run:
        return pull(
            settings, run_id=run_id, clock=clock, ledger=ledger, run=run,
            sleep=kw.pop("sleep", QuickSleep()), **kw,
        )


@dataclass
class Truth:
    """What the ledger must hold for the simulator's world, by the contract oracle."""

    tasks: dict[int, contract.Expected]
    bad_keys: dict[str, str]  # record key ("id:<id>") -> the malformed field
    bad_without_id: list[dict[str, Any]]  # malformed records that lost their id


def truth(sim: Simulator) -> Truth:
    """What the ledger should hold for the simulator's current world: each served record read
    by the contract oracle; the malformed ones are those the world says it spoilt."""
    world = sim.world
    with world.lock:
        records = world.snapshot()
        malformed = dict(world.malformed)
    tasks: dict[int, contract.Expected] = {}
    bad: dict[str, str] = {}
    without_id: list[dict[str, Any]] = []
    refused: set[int] = set()
    for key, record in records.items():
        try:
            tasks[key] = contract.read(record)
        except contract.Malformed:
            refused.add(key)
    assert refused == set(malformed), "the oracle and the world disagree on what is malformed"
    for key, how in malformed.items():
        if how.kind is MalformKind.MISSING_ID:
            without_id.append(records[key])
        else:
            bad[f"id:{key}"] = how.field
    return Truth(tasks, bad, without_id)


def assert_matches(ledger: Ledger, sim: Simulator) -> Truth:
    """0 lost, 0 duplicated, 0 stale; every malformed record quarantined, naming its field."""
    want = truth(sim)
    with ledger.reading() as s:
        rows = [dict(r) for r in s.execute(select(TaskRow.__table__)).mappings()]  # type: ignore[attr-defined]
        quarantined = {q.record_key: q for q in repo.list_quarantine(s)}
    have = {int(r["source_id"]): r for r in rows}
    assert len(have) == len(rows)
    lost = sorted(want.tasks.keys() - have.keys())
    extra = sorted(have.keys() - want.tasks.keys())
    stale = [p for i in sorted(want.tasks.keys() & have.keys())
             for p in contract.row_problems(want.tasks[i], have[i])]
    assert (lost, extra, stale[:10]) == ([], [], [])
    by_id = {k: q for k, q in quarantined.items() if k.startswith("id:")}
    assert set(by_id) == set(want.bad_keys)
    for key, field in want.bad_keys.items():
        # the reason names the source field (or its UTC twin, e.g. completeDateStr)
        assert f"(source '{field}" in by_id[key].reason, (field, by_id[key].reason)
    without_id = [q for k, q in quarantined.items() if not k.startswith("id:")]
    assert sorted(json.loads(q.raw_json)["lastModifyStr"] for q in without_id) == sorted(
        r["lastModifyStr"] for r in want.bad_without_id
    )
    assert all("(source 'id'" in q.reason for q in without_id)
    return want


def fingerprint(ledger: Ledger) -> tuple[Any, ...]:
    """Everything a pull may not touch when nothing changed (run rows and the cursor aside)."""
    with ledger.reading() as s:
        counts = tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (TaskRow, TaskHistory, TaskSnapshot, QuarantineRow, OutboxRow)
        )
        digest = hashlib.sha256()
        for model in (TaskRow, QuarantineRow, OutboxRow):
            table = model.__table__  # type: ignore[attr-defined]
            for row in s.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return counts, digest.hexdigest()


# -- against the simulator ---------------------------------------------------------------------------


@pytest.fixture
def size(ledger_backend: str) -> int:
    """Acceptance world: the full 5,000 on SQLite; smaller on PostgreSQL (slower commits)."""
    return 5000 if ledger_backend == "sqlite" else 1000


@pytest.fixture
def big_sim(size: int) -> Iterator[Simulator]:
    """The acceptance world: `size` tasks, 1% malformed, no faults."""
    config = SimulatorConfig(tasks=size, seed=11, malformed_rate=0.01, faults=Faults.none())
    with Simulator(config) as running:
        yield running


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A small world (200 tasks, 2% malformed, no faults) for the behaviour tests."""
    config = SimulatorConfig(tasks=200, seed=11, malformed_rate=0.02, faults=Faults.none())
    with Simulator(config) as running:
        yield running


@pytest.mark.slow
def test_pull_matches_truth_and_second_pull_writes_nothing(
    big_sim: Simulator, ledger: Ledger, size: int
) -> None:
    """5,000 tasks with 1% malformed: exact ledger, quarantine with fields; re-pull writes 0."""
    sim = big_sim
    settings = make_settings(sim, ledger.url, **PULL)
    first = run_pull(settings, ledger, sim)
    want = assert_matches(ledger, sim)
    assert len(want.bad_keys) + len(want.bad_without_id) == size // 100
    assert first.fetched == size
    assert (first.inserted, first.quarantined) == (size - size // 100, size // 100)
    assert first.classified == first.inserted and first.status_changes == first.inserted
    with ledger.reading() as s:
        assert s.scalar(select(func.count()).select_from(TaskSnapshot)) == first.inserted
        unclassified = s.scalar(
            select(func.count()).select_from(TaskRow).where(TaskRow.status_code.is_(None))
        )
        assert unclassified == 0
        state = repo.get_sync_state(s, "idesk")
        assert state is not None and state.cursor is not None
        assert first.server_time is not None and state.cursor <= first.server_time
        assert len(repo.list_units(s)) == len(sim.world.units) == first.units_changed
        with_text = s.scalar(
            select(func.count()).select_from(TaskRow).where(TaskRow.suggested_deadline.is_not(None))
        )
        assert with_text and with_text == first.suggested
    before = fingerprint(ledger)
    sim.advance(timedelta(minutes=5))
    with capture_logs() as logs:
        second = run_pull(settings, ledger, sim)
    assert fingerprint(ledger) == before
    assert (second.inserted, second.updated, second.status_changes, second.reclassified) == (
        0, 0, 0, 0)
    assert second.modified_from is not None and second.fetched < size
    finished = [e for e in logs if e["event"] == "run_finished"]
    assert len(finished) == 1 and finished[0]["fetched"] == second.fetched
    assert "duration_s" in finished[0]


def test_changes_at_the_source_arrive(sim: Simulator, ledger: Ledger) -> None:
    """Completions, extensions, deletions and new tasks are picked up by the next pull."""
    settings = make_settings(sim, ledger.url, **PULL)
    run_pull(settings, ledger, sim)
    ids = sorted(truth(sim).tasks)
    open_ids = [i for i in ids if sim.world.task(i)["status"] in ("received", "processing")]
    sim.advance(timedelta(hours=1))
    sim.complete_task(open_ids[0])
    sim.change_deadline(open_ids[1], date(2022, 6, 30), "Gia hạn")
    sim.soft_delete(open_ids[2])
    sim.hard_delete(open_ids[3])
    new = sim.add_tasks(3)
    result = run_pull(settings, ledger, sim)
    assert (result.inserted, result.updated) == (3, 3)
    with ledger.reading() as s:
        history = {h.field for h in repo.task_history(s, open_ids[1]) if h.run_id != ""}
        assert "deadline" in history
        row = repo.get_task(s, open_ids[2])
        assert row is not None and row.deleted_reason == "deleted"
        still = repo.get_task(s, open_ids[3])
        assert still is not None and not still.deleted_at_source  # hard delete: only a full read
        assert all(repo.get_task(s, i) is not None for i in new)
    full = run_pull(settings, ledger, sim, full=True)
    assert full.deleted_marked == 1
    with ledger.reading() as s:
        gone = repo.get_task(s, open_ids[3])
        assert gone is not None and (gone.deleted_at_source, gone.deleted_reason) == (
            True, "missing")
        state = repo.get_sync_state(s, "idesk")
        assert state is not None and state.last_full_at is not None
    assert_matches_with_missing(ledger, sim, {open_ids[3]})


def assert_matches_with_missing(ledger: Ledger, sim: Simulator, missing: set[int]) -> None:
    """The live tasks are the world's; `missing` (hard-deleted) are marked so by a full read."""
    want = truth(sim)
    with ledger.reading() as s:
        live = {int(i) for i in s.scalars(select(TaskRow.source_id).where(
            TaskRow.deleted_reason != "missing"))}
        marked = {int(i) for i in s.scalars(select(TaskRow.source_id).where(
            TaskRow.deleted_reason == "missing"))}
    assert live == set(want.tasks)
    assert marked == missing


def test_quarantine_resolved_when_record_arrives_valid(sim: Simulator, ledger: Ledger) -> None:
    """A malformed record fixed at the source is written and its quarantine resolved."""
    settings = make_settings(sim, ledger.url, **PULL)
    run_pull(settings, ledger, sim)
    fixable = [k for k, m in sim.world.malformed.items() if m.kind is MalformKind.UNKNOWN_STATUS]
    assert fixable
    task_id = fixable[0]
    sim.advance(timedelta(minutes=10))
    sim.withdraw_task(task_id)  # a known status now: the record is valid
    result = run_pull(settings, ledger, sim)
    assert (result.resolved, result.inserted) == (1, 1)
    with ledger.reading() as s:
        (q,) = [q for q in repo.list_quarantine(s, include_resolved=True)
                if q.record_key == f"id:{task_id}"]
        assert q.resolved_at is not None and q.resolved_run == result.run_id
        row = repo.get_task(s, task_id)
        assert row is not None and row.status_code == "DA_HUY"


def test_cursor_never_beyond_server_clock(sim: Simulator, ledger: Ledger) -> None:
    """A record stamped in the future does not drag the cursor past the server's clock."""
    settings = make_settings(sim, ledger.url, **PULL)
    some = sorted(truth(sim).tasks)[5]
    sim.world.touch(some, sim.now() + timedelta(days=3))
    result = run_pull(settings, ledger, sim)
    assert result.server_time is not None
    with ledger.reading() as s:
        cursor = repo.get_cursor(s, "idesk")
    assert cursor is not None
    assert cursor <= result.server_time <= sim.now()
    assert result.cursor_after == cursor


@pytest.mark.parametrize("backend", ["sqlite"])
def test_faults_do_not_change_the_result(backend: str, sqlite_url: str) -> None:
    """Rate limiting, HTML 5xx, dropped connections and session expiry: the same ledger. (The
    limit is a token bucket of one at 8/s, stricter than the contract's window and than the
    pull's pace, so that the pull meets 429s.)"""
    from connector.ledger.db import open_ledger

    faults = Faults(rate_limit=8, rate_burst=1, http5xx=0.08, drop=0.04, expire=0.08, seed=3)
    config = SimulatorConfig(tasks=600, seed=5, malformed_rate=0.01, faults=faults)
    with Simulator(config) as sim, open_ledger(sqlite_url) as ledger:
        settings = make_settings(sim, ledger.url, **PULL)
        sleep = QuickSleep(cap=0.15)
        result = run_pull(settings, ledger, sim, sleep=sleep)
        assert_matches(ledger, sim)
        assert result.retries > 0 and result.rate_limited > 0
        assert sleep.asked, "retries must go through the injected sleep"
        before = fingerprint(ledger)
        second = run_pull(settings, ledger, sim, sleep=sleep)
        assert fingerprint(ledger) == before
        assert second.inserted == second.updated == 0


def test_faults_on_postgres(pg_url: str) -> None:
    """The same fault mix against a PostgreSQL ledger (smaller world)."""
    from connector.ledger.db import open_ledger

    faults = Faults(rate_limit=8, http5xx=0.08, drop=0.04, expire=0.08, seed=4)
    config = SimulatorConfig(tasks=400, seed=6, malformed_rate=0.01, faults=faults)
    with Simulator(config) as sim, open_ledger(pg_url) as ledger:
        run_pull(make_settings(sim, ledger.url, **PULL), ledger, sim, sleep=QuickSleep(cap=0.15))
        assert_matches(ledger, sim)


class Crash(Exception):
    """Stands for the process dying right after a page was committed."""


def test_crash_after_first_page_with_shared_timestamps_and_mutation(
    ledger: Ledger,
) -> None:
    """1,000 tasks on one second, mutate-while-paging, killed after page 1: 0 lost after rerun."""
    config = SimulatorConfig(tasks=100, seed=7, malformed_rate=0.0,
                             faults=Faults(rate_limit=0, mutate=0.3, seed=9))
    with Simulator(config) as sim:
        settings = make_settings(sim, ledger.url, **PULL)  # classification is not what this is about
        run_pull(settings, ledger, sim, classify_after=False)
        sim.advance(timedelta(minutes=1))
        shared = sim.add_tasks(1000, same_timestamp=True)

        def die(result: PullResult) -> None:
            if result.pages == 1:
                raise Crash

        with pytest.raises(Crash):
            run_pull(settings, ledger, sim, on_page=die, run_id="crashed", classify_after=False)
        run = get_run(ledger, "crashed")
        assert run is not None and run.outcome == "failed" and run.counts["pages"] == 1
        with ledger.reading() as s:
            have = set(s.scalars(select(TaskRow.source_id)))
        assert 0 < len(have & set(shared)) < 1000  # the first page was committed, not the rest
        read = sorted(have & set(shared))[:5]
        unread = sorted(set(shared) - have)[-5:]

        def modify_while_paging(result: PullResult) -> None:
            # Deterministic on top of the random `mutate` fault: tasks already read and tasks
            # not read yet change (and move to the end of the live list) after the first page.
            if result.pages == 1:
                sim.advance(timedelta(seconds=2))
                for task_id in read + unread:
                    sim.touch(task_id)

        run_pull(settings, ledger, sim, on_page=modify_while_paging, classify_after=False)
        sim.set_faults(Faults.none())
        sim.advance(timedelta(minutes=1))  # the next scheduled run comes later
        run_pull(settings, ledger, sim, classify_after=False)  # the following run
        assert_matches(ledger, sim)


@pytest.mark.parametrize("read_ahead", [0, 1], ids=["in-turn", "read-ahead"])
def test_source_unavailable_mid_run_keeps_committed_pages(ledger: Ledger, read_ahead: int) -> None:
    """The source dies after page 2 is written (read ahead: after page 1, with up to
    `read_ahead` + 1 more pages read before it died): the run is recorded source_unavailable
    with the pages read before the outage committed, and the cursor matches them."""
    config = SimulatorConfig(tasks=600, seed=8, faults=Faults.none())
    with Simulator(config) as sim:
        settings = make_settings(sim, ledger.url, **PULL)
        settings = settings.model_copy(
            update={"retry": RetrySettings(max_attempts=2, initial_wait=0, max_wait=0.01,
                                           total_budget=1),
                    "sync": settings.sync.model_copy(update={"read_ahead_pages": read_ahead})})
        dies_after = 2 if read_ahead == 0 else 1

        def outage(result: PullResult) -> None:
            if result.pages == dies_after:
                sim.set_faults(Faults(rate_limit=0, http5xx=1.0))

        with pytest.raises(SourceUnavailable):
            run_pull(settings, ledger, sim, on_page=outage, run_id="outage",
                     classify_after=False)
        run = get_run(ledger, "outage")
        assert run is not None and run.outcome == "source_unavailable"
        if read_ahead == 0:
            assert run.counts["pages"] == 2
        else:  # the pages read ahead before the outage are written, none after it
            assert dies_after <= run.counts["pages"] <= dies_after + read_ahead + 1
        with ledger.reading() as s:
            count = s.scalar(select(func.count()).select_from(TaskRow))
            cursor = repo.get_cursor(s, "idesk")
            newest = s.scalar(select(func.max(TaskRow.source_modified)))
        assert count == run.counts["fetched"] == run.counts["inserted"]
        assert 100 < count < 600
        assert cursor is not None and newest is not None and cursor <= newest
        sim.set_faults(Faults.none())
        run_pull(settings, ledger, sim, classify_after=False)
        assert_matches(ledger, sim)


def test_bad_credentials_recorded_as_auth_failed(ledger: Ledger) -> None:
    """Refused credentials abort before anything is written; the run says auth_failed."""
    with Simulator(SimulatorConfig(tasks=10, faults=Faults.none())) as sim:
        settings = make_settings(sim, ledger.url, **PULL)
        wrong = settings.model_copy(update={"source": settings.source.model_copy(
            update={"password": SecretStr("wrong-password")})})
        with pytest.raises(AuthError):
            run_pull(wrong, ledger, sim, run_id="denied")
    run = get_run(ledger, "denied")
    assert run is not None and run.outcome == "auth_failed"
    with ledger.reading() as s:
        assert s.scalar(select(func.count()).select_from(TaskRow)) == 0
        assert "wrong-password" not in (s.get(SyncRun, "denied") or SyncRun()).error


def test_status_history_answers_a_past_day(ledger: Ledger) -> None:
    """After pulls on two days, statuses_on(day) gives each task's status on that day."""
    with Simulator(SimulatorConfig(tasks=200, seed=12, faults=Faults.none())) as sim:
        settings = make_settings(sim, ledger.url, **PULL)
        run_pull(settings, ledger, sim)
        day1 = sim.today()
        with ledger.reading() as s:
            on_day1 = repo.statuses_on(s, day1)
            current = {r.source_id: r.status_code for r in repo.list_tasks(
                s, include_deleted=True)}
        assert on_day1 == {k: v for k, v in current.items() if v is not None}
        sim.advance(timedelta(days=40))
        result = run_pull(settings, ledger, sim)
        assert result.status_changes > 0  # some open tasks fell overdue
        with ledger.reading() as s:
            assert repo.statuses_on(s, day1) == on_day1
            later = repo.statuses_on(s, sim.today())
            overdue_rows = list(s.scalars(select(TaskHistory).where(
                TaskHistory.field == "status_code", TaskHistory.new_value == "DTH_QUA_HAN",
                TaskHistory.run_id == result.run_id)))
        assert later != on_day1
        for h in overdue_rows:
            assert day1 < h.effective_on <= sim.today()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_killed_process_loses_nothing(backend: str, sqlite_url: str, tmp_path: Any) -> None:
    """A pull SIGKILLed after its first page (a real crash) loses nothing after the rerun."""
    from connector.ledger.db import open_ledger

    config = SimulatorConfig(tasks=50, seed=13, faults=Faults.none())
    with Simulator(config) as sim, open_ledger(sqlite_url) as ledger:
        sim.add_tasks(1000, same_timestamp=True)
        settings = make_settings(sim, ledger.url, **PULL)
        script = textwrap.dedent(
            f"""
            import os, signal
            from connector.clock import FixedClock
            from connector.settings import Settings
            from connector.source.pull import pull
            settings = Settings.model_validate_json({settings.model_dump_json()!r})
            settings = settings.model_copy(update={{"source": settings.source.model_copy(
                update={{"password": __import__("pydantic").SecretStr({sim.credentials.password!r})}})}})
            def die(result):
                os.kill(os.getpid(), signal.SIGKILL)
            pull(settings, run_id="killed", on_page=die)
            """
        )
        env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                              timeout=60, check=False)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
        with ledger.reading() as s:
            after_crash = s.scalar(select(func.count()).select_from(TaskRow))
            cursor = repo.get_cursor(s, "idesk")
        assert after_crash == 200 and cursor is not None
        with ledger.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        run_pull(settings, ledger, sim)
        assert_matches(ledger, sim)


def test_signal_between_pages_stops_cleanly(ledger: Ledger) -> None:
    """SIGTERM during page 1: that page commits, the run stops before page 2, as interrupted."""
    from connector.ops.signals import InterruptGuard, SignalInterrupted

    with Simulator(SimulatorConfig(tasks=500, seed=14, faults=Faults.none())) as sim:
        settings = make_settings(sim, ledger.url, **PULL)
        guard = InterruptGuard(immediate=False)

        def terminate(result: PullResult) -> None:
            if result.pages == 1:
                guard.handle(signal.SIGTERM, None)

        with pytest.raises(SignalInterrupted):
            run_pull(settings, ledger, sim, on_page=terminate, guard=guard, run_id="stopped")
        run = get_run(ledger, "stopped")
        assert run is not None and run.outcome == "interrupted" and run.counts["pages"] == 1
        with ledger.reading() as s:
            assert s.scalar(select(func.count()).select_from(TaskRow)) == run.counts["inserted"]
            assert repo.get_cursor(s, "idesk") is not None
        run_pull(settings, ledger, sim)
        assert_matches(ledger, sim)


def test_outbox_is_planned_with_the_classification(sim: Simulator, ledger: Ledger) -> None:
    """The classification plans tracking writes and alerts; an unchanged re-pull plans nothing."""
    settings = make_settings(sim, ledger.url, **PULL)
    first = run_pull(settings, ledger, sim, plan_outbox=True)
    with ledger.reading() as s:
        planned = s.scalar(select(func.count()).select_from(OutboxRow))
        tracked = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.kind == "tracking"))
        live = repo.count_tasks(s, include_deleted=False)
    assert planned == first.planned > 0
    assert tracked == live  # every live task's status is to be written back once
    before = fingerprint(ledger)
    second = run_pull(settings, ledger, sim, plan_outbox=True)
    assert second.planned == 0
    assert fingerprint(ledger) == before
    no_push = settings.model_copy(update={"push": settings.push.model_copy(
        update={"enabled": False})})
    sim.advance(timedelta(days=20))
    assert run_pull(no_push, ledger, sim, plan_outbox=True).planned == 0


def test_backfill_cutoff_is_counted_by_the_pull(sim: Simulator, ledger: Ledger) -> None:
    """push.backfill_completed_before: the pull plans no first write for the long-completed
    tasks and counts them (backfill_skipped); every other live task gets its tracking row."""
    settings = make_settings(sim, ledger.url, **PULL)
    cutoff = sim.now().date() + timedelta(days=1)  # every completed task
    settings = settings.model_copy(update={"push": settings.push.model_copy(
        update={"backfill_completed_before": cutoff.isoformat()})})
    first = run_pull(settings, ledger, sim, plan_outbox=True, run_id="first-sync")
    with ledger.reading() as s:
        tracked = s.scalar(select(func.count()).select_from(OutboxRow).where(
            OutboxRow.kind == "tracking"))
        live = repo.count_tasks(s, include_deleted=False)
        done = s.scalar(select(func.count()).select_from(TaskRow).where(
            TaskRow.deleted_at_source.is_(False), TaskRow.status_code.startswith("HT_")))
    assert done > 0
    assert first.backfill_skipped == done
    assert tracked == live - done
    run = get_run(ledger, "first-sync")
    assert run is not None and run.counts["backfill_skipped"] == done


# -- against a hostile source ------------------------------------------------------------------------

NOW = DEFAULT_NOW
MINUTE = timedelta(minutes=1)
HOSTILE: dict[str, Any] = {
    "retry": {"max_attempts": 2, "initial_wait": 0.01, "max_wait": 0.02},
    "push": {"enabled": False},
}
"""Settings sections of the pulls from a hostile server (`make_settings(server, url, **HOSTILE)`)."""


def recent(count: int, **kw: Any) -> list[dict[str, Any]]:
    """`count` records modified a minute apart, the newest one minute before `NOW`."""
    return make_records(count, start=NOW - count * MINUTE, **kw)


def hostile_pull(
    server: HostileServer, settings: Settings, ledger: Ledger, run_id: str
) -> PullResult:
    """One pull as cron runs it, the connector's clock agreeing with the records' clock."""
    return pull(
        settings,
        run_id=run_id,
        clock=FixedClock(server.now),
        ledger=ledger,
        sleep=lambda _: None,
        plan_outbox=False,
    )


def stored(ledger: Ledger) -> dict[int, TaskRow]:
    with ledger.reading() as s:
        return {row.source_id: row for row in s.scalars(select(TaskRow))}


def cursor_of(ledger: Ledger) -> datetime | None:
    with ledger.reading() as s:
        return repo.get_cursor(s, "idesk")


def count(ledger: Ledger, model: type[Any]) -> int:
    with ledger.reading() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def quarantine(ledger: Ledger) -> dict[str, QuarantineRow]:
    with ledger.reading() as s:
        return {q.record_key: q for q in repo.list_quarantine(s)}


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


# -- the cursor and the server's clock


def test_date_ahead_never_skips_a_task_changed_after_the_run(ledger: Ledger) -> None:
    """With Date 10 minutes ahead, a task changed just after a run is read by the next run:
    the cursor stays at the newest lastModifyStr stored; the skew is logged once per run."""
    records = recent(600)
    newest = max(datetime.fromisoformat(r["lastModifyStr"]) for r in records)
    with HostileServer(records) as server:
        server.switches.date_offset_s = 600
        settings = make_settings(server, ledger.url, **HOSTILE)
        with capture_logs() as logs:
            first = hostile_pull(server, settings, ledger, "ahead-1")
        assert first.inserted == 600
        assert cursor_of(ledger) == newest
        assert len(events(logs, "source_clock_skew")) == 1
        assert events(logs, "source_clock_skew")[0]["skew_s"] == 600
        server.advance(60)
        server.touch(17, subject="Đã sửa ngay sau lần chạy trước")
        with capture_logs() as logs:
            second = hostile_pull(server, settings, ledger, "ahead-2")
        assert len(events(logs, "source_clock_skew")) == 1
    assert second.updated == 1
    assert stored(ledger)[17].subject == "Đã sửa ngay sau lần chạy trước"
    assert cursor_of(ledger) == NOW + MINUTE


def test_date_behind_reads_every_page_on_every_run(ledger: Ledger) -> None:
    """With Date one day behind, each run reads all 600 records (not the first page only); the
    cursor never passes that Date, and a run with nothing new writes nothing."""
    with HostileServer(recent(600)) as server:
        server.switches.date_offset_s = -86400
        settings = make_settings(server, ledger.url, **HOSTILE)
        first = hostile_pull(server, settings, ledger, "behind-1")
        assert (first.fetched, first.inserted) == (600, 600)
        assert len(stored(ledger)) == 600
        assert cursor_of(ledger) == NOW - timedelta(days=1)
        snapshots = count(ledger, TaskSnapshot)
        second = hostile_pull(server, settings, ledger, "behind-2")
    assert (second.fetched, second.inserted, second.updated) == (600, 0, 0)
    assert count(ledger, TaskSnapshot) == snapshots
    assert cursor_of(ledger) == NOW - timedelta(days=1)


def test_no_date_header_keeps_the_cursor_at_the_newest_record(ledger: Ledger) -> None:
    """Without a Date header the local clock stands in for it; the cursor still stops at the
    newest lastModifyStr stored."""
    records = recent(300)
    with HostileServer(records) as server:
        server.switches.no_date = True
        with capture_logs() as logs:
            result = hostile_pull(server, make_settings(server, ledger.url, **HOSTILE), ledger, "no-date")
    assert result.inserted == 300 and events(logs, "server_time_unknown")
    assert cursor_of(ledger) == datetime.fromisoformat(records[-1]["lastModifyStr"])


@pytest.mark.parametrize(
    ("offset_s", "max_skew", "logged"),
    [
        pytest.param(120, 300, False, id="within-tolerance"),
        pytest.param(-301, 300, True, id="behind-beyond"),
        pytest.param(120, 60, True, id="setting-lowered"),
    ],
)
def test_clock_skew_logged_beyond_the_setting(
    sqlite_url: str, offset_s: int, max_skew: int, logged: bool
) -> None:
    """source_clock_skew is logged when Date differs from the local clock by more than
    sync.max_clock_skew_seconds, and not otherwise."""
    with HostileServer(recent(5)) as server:
        server.switches.date_offset_s = offset_s
        settings = make_settings(
            server, sqlite_url, **HOSTILE, sync={"max_clock_skew_seconds": max_skew}
        )
        with capture_logs() as logs:
            result = pull(settings, run_id="skew", clock=FixedClock(server.now), sleep=lambda _: 0)
    assert bool(events(logs, "source_clock_skew")) is logged
    assert result.clock_skew_s == offset_s


def test_check_names_the_clock_skew(sqlite_url: str) -> None:
    """`check` reports a skewed source clock in the server_time step's detail (still passing)."""
    with HostileServer(recent(5)) as server:
        server.switches.date_offset_s = 600
        settings = make_settings(server, sqlite_url, **HOSTILE)
        steps = {s.name: s for s in run_checks(settings, clock=FixedClock(server.now))}
        assert steps["server_time"].ok
        assert "source_clock_skew: 600 s ahead" in steps["server_time"].detail
        said = check_line(steps["server_time"], "vi")
        assert "đồng hồ của nguồn nhanh hơn máy này 600 giây" in said
        server.switches.date_offset_s = 0
        steps = {s.name: s for s in run_checks(settings, clock=FixedClock(server.now))}
    assert "source_clock_skew" not in steps["server_time"].detail


# -- where the list ends -----------------------------------------------------------------------------


def test_total_equal_to_the_page_length_reads_everything(ledger: Ledger) -> None:
    """A total that is the page length does not end the listing: all 600 are stored, and the
    disagreement is logged."""
    with HostileServer(recent(600)) as server:
        server.switches.total_is_page_length = True
        with capture_logs() as logs:
            result = hostile_pull(server, make_settings(server, ledger.url, **HOSTILE), ledger, "page-total")
    assert result.inserted == 600 and len(stored(ledger)) == 600
    assert len(events(logs, "source_total_mismatch")) == 1


def test_total_without_deleted_records_keeps_the_newest(ledger: Ledger) -> None:
    """A total leaving out soft-deleted records (includeDeleted is true) loses nothing: the two
    newest, soft-deleted, records are stored as deleted at the source."""
    records = recent(600)
    for record in records[-2:]:
        record["deleted"] = "Y"
    with HostileServer(records) as server:
        server.switches.total_without_deleted = True
        result = hostile_pull(server, make_settings(server, ledger.url, **HOSTILE), ledger, "no-deleted-total")
    rows = stored(ledger)
    assert result.inserted == 600 and len(rows) == 600
    assert {i for i, r in rows.items() if r.deleted_at_source} == {599, 600}


def test_server_ignoring_paging_stops_with_exit_3_and_the_cursor_unchanged(
    ledger: Ledger,
) -> None:
    """A server answering the same page again and again is caught at the second request (exit 3,
    SourcePagingError), not re-read until sync.max_pages; the cursor does not move."""
    same_second = NOW - MINUTE
    records = [make_record(i, same_second) for i in range(1, 601)]
    with HostileServer(records) as server:
        settings = make_settings(server, ledger.url, **HOSTILE, sync={"max_pages": 60})
        hostile_pull(server, settings, ledger, "honest")
        before = cursor_of(ledger)
        assert before == same_second and len(stored(ledger)) == 600
        server.switches.ignore_paging = True
        server.clear_log()
        with pytest.raises(SourcePagingError) as caught:
            hostile_pull(server, settings, ledger, "ignoring")
        searches = len(server.searches())
    assert caught.value.exit_code == 3 and isinstance(caught.value, SourceError)
    assert "same 200 records" in str(caught.value)
    assert searches == 2
    assert cursor_of(ledger) == before


def test_server_ignoring_paging_on_a_first_run_keeps_only_what_it_read(ledger: Ledger) -> None:
    """On a first run the page read before the repeat is stored; the cursor covers no record
    that was not read (the next run re-reads the group)."""
    same_second = NOW - MINUTE
    records = [make_record(i, same_second) for i in range(1, 601)]
    with HostileServer(records) as server:
        server.switches.ignore_paging = True
        settings = make_settings(server, ledger.url, **HOSTILE, sync={"max_pages": 60})
        with pytest.raises(SourcePagingError):
            hostile_pull(server, settings, ledger, "ignoring-first")
        assert len(server.searches()) == 2
    assert len(stored(ledger)) == 200
    cursor = cursor_of(ledger)
    assert cursor is None or cursor <= same_second


# -- one id, two versions ----------------------------------------------------------------------------


def twins() -> list[dict[str, Any]]:
    """150 tasks each listed twice: 130 with the same lastModifyStr and another subject, 20 with
    an older version listed too (different lastModifyStr)."""
    base = recent(150)
    records: list[dict[str, Any]] = []
    for record in base:
        twin = dict(record, subject=record["subject"] + " (bản trùng)")
        if record["id"] > 130:
            older = datetime.fromisoformat(record["lastModifyStr"]) - timedelta(hours=5)
            twin["lastModifyStr"] = contract.utc_str(older)
        records.extend((record, twin))
    return records


def newest_subjects(records: list[dict[str, Any]], task_id: int) -> set[str]:
    """The subjects the ledger may keep for `task_id`: those of its newest lastModifyStr (two
    on a tie; which one wins a tie is `newest_versions`'s rule, pinned in
    tests/unit/test_pull_rules.py)."""
    versions = [r for r in records if r["id"] == task_id]
    newest = max(datetime.fromisoformat(r["lastModifyStr"]) for r in versions)
    return {
        r["subject"] for r in versions if datetime.fromisoformat(r["lastModifyStr"]) == newest
    }


def test_same_id_twice_keeps_one_version_and_writes_nothing_again(ledger: Ledger) -> None:
    """The same id listed twice with different content: the newest is kept (on a tie, the same
    one whatever the order of the two versions) and the dropped version logged; later runs
    write nothing."""
    records = twins()
    with HostileServer(records) as server:
        # lookback of a day: every run re-reads every twin
        settings = make_settings(server, ledger.url, **HOSTILE, sync={"lookback_seconds": 86400})
        with capture_logs() as logs:
            first = hostile_pull(server, settings, ledger, "twins-1")
        # Twins sharing a lastModifyStr sit side by side in the list: one is dropped. An older
        # twin comes pages earlier: it is stored, then replaced by the newer one.
        assert first.duplicates == 130 and len(events(logs, "duplicate_record")) == 130
        assert (first.inserted, first.updated) == (150, 20)
        assert count(ledger, TaskSnapshot) == 170
        kept = {i: r.subject for i, r in stored(ledger).items()}
        assert sorted(kept) == list(range(1, 151))
        assert all(kept[i] in newest_subjects(records, i) for i in kept)
        assert all(len(newest_subjects(records, i)) == 1 for i in range(131, 151))
        second = hostile_pull(server, settings, ledger, "twins-2")
        with server.lock:  # the source now lists each pair the other way round
            pairs = [server.records[i : i + 2][::-1] for i in range(0, 300, 2)]
            server.records[:] = [r for pair in pairs for r in pair]
        third = hostile_pull(server, settings, ledger, "twins-3")
    for result in (second, third):
        assert (result.inserted, result.updated, result.snapshots) == (0, 0, 0)
        assert (result.fetched, result.duplicates, result.older_skipped) == (300, 130, 20)
    assert count(ledger, TaskSnapshot) == 170
    assert {i: r.subject for i, r in stored(ledger).items()} == kept  # whatever the order


# -- one bad record never stalls the run --------------------------------------------------------------

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "deadline_year_1": ({"deadline": "Jan 1, 0001, 12:00:00 AM"}, "deadline (source 'deadline')"),
    "deadline_year_9999": (
        {"deadline": "Dec 31, 9999, 11:59:59 PM"},
        "deadline (source 'deadline')",
    ),
    "modified_year_9999": (
        {"lastModifyStr": "9999-12-31T23:59:59+00:00"},
        "last_modified (source 'lastModifyStr')",
    ),
    "completed_year_9999": (
        {"status": "completed", "completeDateStr": "9999-12-31T23:59:59+00:00"},
        "completed_at (source 'completeDateStr')",
    ),
    "id_2_63": ({"id": 2**63}, "source_id (source 'id')"),
    "steering_1024": ({"steeringContent": "x" * 1024}, "steering_content"),
    "subject_over_cap": ({"subject": "Trích yếu " * 500}, "subject (source 'subject')"),
    "steering_5mb": ({"steeringContent": "N" * 5_000_000}, "steering_content"),
    "coordinators_201": (
        {"coordinators": [{"commCode": f"U{i}", "aname": "x"} for i in range(201)]},
        "coordinators (source 'coordinators')",
    ),
    "nested_unknown_key": ({"extra": json.loads("[" * 40 + "]" * 40)}, "(source 'extra')"),
}
"""Record changes that made a whole run fail (or store junk), and the field quarantine names."""

BAD_POSITIONS = (3, 150, 199, 200, 201, 260, 330, 399, 420, 449)


def bad_world() -> tuple[list[dict[str, Any]], dict[int, str]]:
    """450 records, those at `BAD_POSITIONS` spoilt as in `BAD`; position -> case name."""
    records = recent(450)
    planted: dict[int, str] = {}
    for position, (name, (change, _)) in zip(BAD_POSITIONS, BAD.items(), strict=True):
        records[position].update(change)
        planted[position] = name
    return records, planted


def test_bad_records_are_quarantined_and_the_run_goes_on(ledger: Ledger) -> None:
    """Absurd dates, a 2**63 id, oversized fields: each record quarantined naming its field, the
    other 440 stored in the first run, and every later run as well."""
    records, planted = bad_world()
    bad_ids = {int(records[p]["id"]) for p in planted if records[p]["id"] != 2**63}
    with HostileServer(records) as server:
        settings = make_settings(server, ledger.url, **HOSTILE)
        first = hostile_pull(server, settings, ledger, "bad-1")
        second = hostile_pull(server, settings, ledger, "bad-2")
    rows = stored(ledger)
    assert len(rows) == 440 and not bad_ids & set(rows)
    assert first.inserted == 440 and first.quarantined == len(BAD)
    assert first.classify_errors == 0 and second.classify_errors == 0
    assert all(r.status_code is not None for r in rows.values())
    held = quarantine(ledger)
    assert len(held) == len(BAD)
    for position, name in planted.items():
        key = f"id:{records[position]['id']}"
        assert BAD[name][1] in held[key].field, (name, held[key].field)
        assert held[key].reason
        assert len(held[key].raw_json) < 100_000, f"{name}: the quarantine kept the whole record"
    assert held[f"id:{2**63}"].task_id is None
    assert (second.inserted, second.updated) == (0, 0)


def test_record_without_id_is_counted_once(ledger: Ledger) -> None:
    """A record without an id at the end of a page is quarantined once and counted once."""
    records = recent(450)
    del records[199]["id"]
    with HostileServer(records) as server:
        result = hostile_pull(server, make_settings(server, ledger.url, **HOSTILE), ledger, "no-id")
    assert (result.quarantined, result.inserted) == (1, 449)
    assert len(quarantine(ledger)) == 1


def test_units_with_unstorable_text_never_stop_the_run(ledger: Ledger) -> None:
    """A NUL or a lone surrogate in a unit name is cleaned the same on both backends; a unit whose
    code holds one is skipped; every task is stored."""
    units = [dict(u) for u in UNITS]
    units += [
        {"commCode": "SXD", "aname": "Sở Xây\x00 dựng", "kind": "department", "parentCode": ""},
        {"commCode": "SYT", "aname": "Sở Y tế\ud800", "kind": "department", "parentCode": ""},
        {"commCode": "S\x00TC", "aname": "Sở Tài chính", "kind": "department", "parentCode": ""},
    ]
    with HostileServer(recent(50), units=units) as server:
        settings = make_settings(server, ledger.url, **HOSTILE)
        first = hostile_pull(server, settings, ledger, "units-1")
        second = hostile_pull(server, settings, ledger, "units-2")
    with ledger.reading() as s:
        names = {u.code: u.name for u in s.scalars(select(UnitRow))}
    assert names["SXD"] == "Sở Xây dựng" and names["SYT"] == "Sở Y tế\ufffd"
    assert not any("\x00" in code for code in names) and len(names) == len(UNITS) + 2
    assert first.inserted == 50 and first.units_changed == len(UNITS) + 2
    assert second.units_changed == 0


# -- through the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream


def cli_pull(server: HostileServer, home: Path) -> int:
    """`idesk-connector pull` against `server` (this machine's clock): the exit code."""
    cfg = home / "config.toml"
    cfg.write_text(
        f'[source]\nbase_url = "{server.base_url}"\nusername = "hostile-clerk"\n'
        f'[ledger]\nurl = "sqlite:///{home / "ledger.db"}"\n[push]\nenabled = false\n',
        encoding="utf-8",
    )
    cfg.chmod(0o600)
    env = {"IDESK_CONNECTOR_CONFIG": str(cfg), "IDESK_CONNECTOR__SOURCE__PASSWORD": PASSWORD}
    return CliRunner().invoke(app, ["--log-format", "json", "pull"], env=env).exit_code


def test_cli_exit_codes_for_a_clock_behind_and_a_server_ignoring_paging(cli_home: Path) -> None:
    """A Date a day behind: exit 0 with all 600 stored; paging ignored: exit 3."""
    now = datetime.now(UTC).replace(microsecond=0)
    records = make_records(600, start=now - 600 * MINUTE)
    with HostileServer(records, now=now) as server:
        server.switches.date_offset_s = -86400
        assert cli_pull(server, cli_home) == 0
        server.switches.ignore_paging = True
        with server.lock:  # one shared second: paging through it needs offsets
            for record in server.records:
                record["lastModifyStr"] = contract.utc_str(now)
        assert cli_pull(server, cli_home) == 3
    ledger_path = cli_home / "ledger.db"
    from connector.ledger.db import open_ledger

    opened = open_ledger(f"sqlite:///{ledger_path}")
    try:
        assert len(stored(opened)) == 600
    finally:
        opened.close()
