"""The pull end to end, over loopback against the simulator, on SQLite and PostgreSQL.

Acceptance: after a pull the ledger matches the simulator's truth (nothing lost, duplicated or
stale), every malformed record is in quarantine naming its field, a second pull with no change
writes nothing, faults and crashes do not change that, the cursor never passes the server clock.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, text
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import AuthError, SourceUnavailable
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import (
    OutboxRow,
    QuarantineRow,
    SyncRun,
    TaskHistory,
    TaskRow,
    TaskSnapshot,
)
from connector.mapping.spec import MappingSpec, load_mapping
from connector.ops.runs import get_run, recorded_run
from connector.settings import LedgerSettings, RetrySettings, Settings, SourceSettings
from connector.source.pull import PullResult, pull, to_page_item
from simulator import Faults, MalformKind, Simulator, SimulatorConfig

SPEC: MappingSpec = load_mapping("idesk")


class QuickSleep:
    """Retries wait at most `cap` real seconds (the simulator's rate limit refills in real time)."""

    def __init__(self, cap: float = 0.05) -> None:
        self.cap = cap
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(seconds, self.cap))


def make_settings(sim: Simulator, ledger_url: str, **sync: Any) -> Settings:
    creds = sim.credentials
    return Settings(
        source=SourceSettings(
            base_url=sim.base_url,
            username=creds.username,
            password=SecretStr(creds.password),
            page_size=200,
            connect_timeout=2,
            read_timeout=5,
        ),
        retry=RetrySettings(max_attempts=10, initial_wait=0.01, max_wait=0.05, total_budget=60),
        ledger=LedgerSettings(url=ledger_url),
        sync={"lookback_seconds": 120, **sync},  # type: ignore[arg-type]
    )


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
    hashes: dict[int, str]
    bad_keys: dict[str, str]  # record key -> the malformed field


def truth(sim: Simulator) -> Truth:
    """What the ledger should hold for the simulator's current world."""
    hashes: dict[int, str] = {}
    bad: dict[str, str] = {}
    world = sim.world
    with world.lock:
        records = world.snapshot()
        malformed = dict(world.malformed)
    for key, record in records.items():
        item = to_page_item(record, SPEC)
        if isinstance(item, repo.Rejected):
            bad[item.record_key] = malformed[key].field if key in malformed else "?"
        else:
            hashes[item.task.source_id] = repo.content_hash(item.task)
    return Truth(hashes, bad)


def assert_matches(ledger: Ledger, sim: Simulator) -> Truth:
    """0 lost, 0 duplicated, 0 stale; every malformed record quarantined, naming its field."""
    want = truth(sim)
    with ledger.reading() as s:
        rows = s.execute(select(TaskRow.source_id, TaskRow.content_hash)).all()
        quarantined = {q.record_key: q for q in repo.list_quarantine(s)}
    have = {int(i): h for i, h in rows}
    assert len(have) == len(rows)
    lost = sorted(want.hashes.keys() - have.keys())
    extra = sorted(have.keys() - want.hashes.keys())
    stale = sorted(i for i in want.hashes.keys() & have.keys() if want.hashes[i] != have[i])
    assert (lost, extra, stale) == ([], [], [])
    assert set(quarantined) == set(want.bad_keys)
    for key, field in want.bad_keys.items():
        # the reason names the source field (or its UTC twin, e.g. completeDateStr)
        assert f"(source '{field}" in quarantined[key].reason, (field, quarantined[key].reason)
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


def test_pull_matches_truth_and_second_pull_writes_nothing(
    big_sim: Simulator, ledger: Ledger, size: int
) -> None:
    """5,000 tasks with 1% malformed: exact ledger, quarantine with fields; re-pull writes 0."""
    sim = big_sim
    settings = make_settings(sim, ledger.url)
    first = run_pull(settings, ledger, sim)
    want = assert_matches(ledger, sim)
    assert len(want.bad_keys) == size // 100
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
    settings = make_settings(sim, ledger.url)
    run_pull(settings, ledger, sim)
    ids = sorted(truth(sim).hashes)
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
    want = truth(sim)
    with ledger.reading() as s:
        live = {int(i) for i in s.scalars(select(TaskRow.source_id).where(
            TaskRow.deleted_reason != "missing"))}
        marked = {int(i) for i in s.scalars(select(TaskRow.source_id).where(
            TaskRow.deleted_reason == "missing"))}
    assert live == set(want.hashes)
    assert marked == missing


def test_quarantine_resolved_when_record_arrives_valid(sim: Simulator, ledger: Ledger) -> None:
    """A malformed record fixed at the source is written and its quarantine resolved."""
    settings = make_settings(sim, ledger.url)
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
    settings = make_settings(sim, ledger.url)
    some = sorted(truth(sim).hashes)[5]
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
    """Rate limiting, HTML 5xx, dropped connections and session expiry: the same ledger."""
    from connector.ledger.db import open_ledger

    faults = Faults(rate_limit=8, http5xx=0.08, drop=0.04, expire=0.08, seed=3)
    config = SimulatorConfig(tasks=600, seed=5, malformed_rate=0.01, faults=faults)
    with Simulator(config) as sim, open_ledger(sqlite_url) as ledger:
        settings = make_settings(sim, ledger.url)
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
        run_pull(make_settings(sim, ledger.url), ledger, sim, sleep=QuickSleep(cap=0.15))
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
        settings = make_settings(sim, ledger.url)  # classification is not what this is about
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


def test_source_unavailable_mid_run_keeps_committed_pages(ledger: Ledger) -> None:
    """The source dies after page 2: run recorded source_unavailable, cursor matches the pages."""
    config = SimulatorConfig(tasks=600, seed=8, faults=Faults.none())
    with Simulator(config) as sim:
        settings = make_settings(sim, ledger.url)
        settings = settings.model_copy(
            update={"retry": RetrySettings(max_attempts=2, initial_wait=0, max_wait=0.01,
                                           total_budget=1)})

        def outage(result: PullResult) -> None:
            if result.pages == 2:
                sim.set_faults(Faults(rate_limit=0, http5xx=1.0))

        with pytest.raises(SourceUnavailable):
            run_pull(settings, ledger, sim, on_page=outage, run_id="outage",
                     classify_after=False)
        run = get_run(ledger, "outage")
        assert run is not None and run.outcome == "source_unavailable"
        assert run.counts["pages"] == 2
        with ledger.reading() as s:
            count = s.scalar(select(func.count()).select_from(TaskRow))
            cursor = repo.get_cursor(s, "idesk")
            newest = s.scalar(select(func.max(TaskRow.source_modified)))
        assert count == run.counts["fetched"] == run.counts["inserted"]
        assert 300 < count < 600
        assert cursor is not None and newest is not None and cursor <= newest
        sim.set_faults(Faults.none())
        run_pull(settings, ledger, sim, classify_after=False)
        assert_matches(ledger, sim)


def test_bad_credentials_recorded_as_auth_failed(ledger: Ledger) -> None:
    """Refused credentials abort before anything is written; the run says auth_failed."""
    with Simulator(SimulatorConfig(tasks=10, faults=Faults.none())) as sim:
        settings = make_settings(sim, ledger.url)
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
        settings = make_settings(sim, ledger.url)
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
        settings = make_settings(sim, ledger.url)
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
        settings = make_settings(sim, ledger.url)
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
    settings = make_settings(sim, ledger.url)
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
