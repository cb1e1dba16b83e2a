"""A run whose PostgreSQL advisory lock is lost mid-run (its session terminated, as a server
restart or ``pg_terminate_backend`` ends it) stops at its next safe point with exit 74, recorded
``failed``, instead of going on to exit 0 beside a run that could have taken the lock since."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connector.ledger.db import create_ledger_engine
from simulator import Faults, Simulator, SimulatorConfig, api
from simulator.api import SEARCH, TRACKING
from tests.support.harness import Deployment

TASKS = 60
PAGE_SIZE = 10  # six pages
KILL_ON_SEARCH = 3  # the lock's session is terminated before the third page is served

LOCK_BACKENDS = """
    SELECT DISTINCT l.pid FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


@dataclass
class PgDeployment(Deployment):
    pg_url: str = ""

    @property
    def ledger_url(self) -> str:
        return self.pg_url


@pytest.fixture
def sim() -> Iterator[Simulator]:
    config = SimulatorConfig(tasks=TASKS, seed=11, malformed_rate=0.0, faults=Faults.none())
    with Simulator(config) as simulator:
        yield simulator


def _terminate_lock_session(pg_cluster: Any, database: str) -> list[int]:
    """End every session holding an advisory lock on `database` (the run's) and wait until each
    has ended (``pg_terminate_backend(pid, timeout)``: PostgreSQL 14+); their pids."""
    with pg_cluster.connect(database) as conn:
        pids = [row[0] for row in conn.execute(LOCK_BACKENDS).fetchall()]
        for pid in pids:
            assert conn.execute("SELECT pg_terminate_backend(%s, 30000)", (pid,)).fetchone()
    return pids


def _deployment(home: Path, sim: Simulator, pg_url: str) -> PgDeployment:
    dep = PgDeployment(
        home=home,
        base_url=sim.base_url,
        username=sim.credentials.username,
        token=sim.credentials.token,
        password=sim.credentials.password,
        source_toml=f"page_size = {PAGE_SIZE}\n",
        pg_url=pg_url,
    )
    dep.write_config()
    upgraded = dep.run("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    return dep


def _kill_lock_on(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, nth: int, pg_cluster: Any, database: str
) -> list[int]:
    """A simulator hook: the `nth` request to `endpoint` is answered only once the run's lock
    session has been terminated (in the simulator's thread, before the answer): deterministic,
    no sleeps. The pids terminated (filled in then)."""
    seen = 0
    killed: list[int] = []
    original = api.handle

    def hostile(core: Any, request: Any, at: str | None, *args: Any) -> Any:
        nonlocal seen
        if at == endpoint and not killed:
            seen += 1
            if seen == nth:
                killed.extend(_terminate_lock_session(pg_cluster, database))
        return original(core, request, at, *args)

    monkeypatch.setattr(api, "handle", hostile)
    return killed


@pytest.mark.postgres
def test_push_whose_advisory_lock_is_lost_stops_with_exit_74_and_the_next_push_completes(
    tmp_path: Path,
    sim: Simulator,
    pg_url: str,
    pg_cluster: Any,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same during delivery: checked before each delivery batch is committed."""
    dep = _deployment(tmp_path / "deploy", sim, pg_url)
    pulled = dep.run("pull")
    assert pulled.returncode in (0, 1), pulled.stderr[-2000:]
    engine = create_ledger_engine(pg_url)
    try:
        with engine.connect() as conn:
            due = conn.execute(text("SELECT count(*) FROM outbox WHERE kind = 'tracking'"))
            planned = due.scalar_one()
        assert planned > 4
        killed = _kill_lock_on(monkeypatch, TRACKING, 2, pg_cluster, pg_database)
        lost = dep.run("push", "--format", "json")
        assert killed, "the run's advisory lock session was never found"
        assert lost.returncode == 74, (lost.returncode, lost.stdout, lost.stderr[-2000:])
        assert "lost its lock" in lost.stderr
        sent_before = len(sim.tracking_writes)
        assert 0 < sent_before < planned
        monkeypatch.undo()
        done = dep.run("push", "--format", "json")
        assert done.returncode == 0, done.stderr[-2000:]
        with engine.connect() as conn:
            outcomes = conn.execute(
                text("SELECT outcome FROM sync_run WHERE command = 'push' ORDER BY started_at")
            ).scalars()
            assert list(outcomes) == ["failed", "success"]
            left = conn.execute(
                text("SELECT count(*) FROM outbox WHERE kind = 'tracking' AND state <> 'sent'")
            ).scalar_one()
        assert left == 0
        assert len(sim.tracking_writes) == planned  # each sent once
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_run_whose_advisory_lock_is_lost_stops_with_exit_74_and_the_next_run_completes(
    tmp_path: Path,
    sim: Simulator,
    pg_url: str,
    pg_cluster: Any,
    pg_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pull across six pages whose lock session is terminated while the third page is
    served: it stops before committing that page."""
    dep = _deployment(tmp_path / "deploy", sim, pg_url)
    killed = _kill_lock_on(monkeypatch, SEARCH, KILL_ON_SEARCH, pg_cluster, pg_database)

    lost = dep.run("pull", "--format", "json")
    assert killed, "the run's advisory lock session was never found"
    assert lost.returncode == 74, (lost.returncode, lost.stdout, lost.stderr[-2000:])
    assert "lost its lock" in lost.stderr
    assert "next run resumes" in lost.stderr

    engine = create_ledger_engine(pg_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT outcome, error FROM sync_run")).all()
            kept = conn.execute(text("SELECT count(*) FROM task")).scalar_one()
        assert [r.outcome for r in runs] == ["failed"]
        assert "lost its lock" in runs[0].error
        assert 0 < kept < TASKS  # the pages committed before the lock was lost are kept

        # Another run takes the lock and completes.
        done = dep.run("pull", "--format", "json")
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["outcome"] == "success"
        with engine.connect() as conn:
            outcomes = conn.execute(
                text("SELECT outcome FROM sync_run ORDER BY started_at")
            ).scalars()
            assert list(outcomes) == ["failed", "success"]
            assert conn.execute(text("SELECT count(*) FROM task")).scalar_one() == TASKS
    finally:
        engine.dispose()
