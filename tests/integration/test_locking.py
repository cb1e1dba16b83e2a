"""The run lock: one holder per ledger, kernel-released on death, never a PID file or a timeout."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from structlog.testing import capture_logs

from connector.errors import LockHeld, LockLost
from connector.ledger.db import create_ledger_engine
from connector.ops.locking import (
    PROBE_SECONDS,
    HeldLock,
    advisory_key,
    ledger_lock,
    lock_path_for,
    pg_advisory_lock,
    run_lock,
)
from tests.support.timing import FakeTime


@pytest.mark.parametrize(
    ("url", "lock_file", "expected"),
    [
        pytest.param("sqlite:///ledger.db", "", "ledger.db.lock", id="sqlite-relative"),
        pytest.param("sqlite:////var/lib/x/l.db", "", "/var/lib/x/l.db.lock", id="sqlite-abs"),
        pytest.param("sqlite:///ledger.db", "/run/x.lock", "/run/x.lock", id="explicit"),
        pytest.param("postgresql://u@h/db", "/run/pg.lock", "/run/pg.lock", id="pg-explicit"),
    ],
)
def test_lock_path(url: str, lock_file: str, expected: str) -> None:
    """The lock sits beside a SQLite ledger, or where ledger.lock_file says (made absolute)."""
    assert lock_path_for(url, lock_file) == Path.cwd() / expected


def test_postgres_lock_path_ignores_the_password(tmp_path: Path) -> None:
    """For PostgreSQL the lock file is named by a hash of the URL without its password."""
    a = lock_path_for("postgresql://u:secret1@h:5432/db", cwd=tmp_path)
    b = lock_path_for("postgresql://u:other2@h:5432/db", cwd=tmp_path)
    c = lock_path_for("postgresql://u:secret1@h:5432/otherdb", cwd=tmp_path)
    d = lock_path_for("postgresql+psycopg://u@h:5432/db", cwd=tmp_path)
    assert a == b == d != c
    assert a.parent == tmp_path
    assert "secret1" not in str(a)
    assert a.name.startswith(".idesk-connector-") and a.suffix == ".lock"


def test_lock_file_is_created_0600_and_holds_no_pid(tmp_path: Path) -> None:
    """The lock file is created mode 0600 and stays empty: it is not a PID file."""
    db = tmp_path / "ledger.db"
    with ledger_lock(f"sqlite:///{db}") as held:
        path = Path(held.path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes() == b""
    assert path.exists()  # left in place: unlinking would race with a waiting run


def test_second_holder_fails_at_once_with_exit_75(tmp_path: Path) -> None:
    """While one run holds the lock, a second fails immediately with LockHeld (exit 75)."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    fake = FakeTime()
    with (
        ledger_lock(url),
        capture_logs() as logs,
        pytest.raises(LockHeld) as info,
        ledger_lock(url, sleep=fake.sleep, monotonic=fake.monotonic),
    ):
        pytest.fail("acquired a held lock")
    assert info.value.exit_code == 75
    assert info.value.lock_path.endswith("l.db.lock")
    assert fake.sleeps == []
    assert [e["event"] for e in logs] == ["lock_held"]
    assert "--wait" in str(info.value)


def test_released_after_the_block(tmp_path: Path) -> None:
    """After the holder's block ends (normally or by an exception) the lock is free again."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with ledger_lock(url):
        pass
    with pytest.raises(RuntimeError), ledger_lock(url):
        raise RuntimeError("boom")
    with ledger_lock(url) as held:
        assert held.waited_s < 0.1


def test_wait_polls_until_the_deadline(tmp_path: Path) -> None:
    """With wait_s, the second run polls (sleeping, not spinning) and gives up at the deadline."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    fake = FakeTime()
    with (
        ledger_lock(url),
        capture_logs() as logs,
        pytest.raises(LockHeld) as info,
        ledger_lock(url, wait_s=2.0, sleep=fake.sleep, monotonic=fake.monotonic),
    ):
        pass
    assert fake.now == pytest.approx(2.0)
    # the message says it waited, rather than advise the --wait the operator already gave
    assert "still held after waiting 2 s (--wait)" in str(info.value), str(info.value)
    assert "use --wait" not in str(info.value)
    assert all(0 < s <= 0.1 + 1e-9 for s in fake.sleeps)
    assert [e["event"] for e in logs] == ["lock_waiting", "lock_held"]


def test_wait_acquires_when_the_holder_finishes(tmp_path: Path) -> None:
    """A waiting run gets the lock as soon as the holder releases it."""
    url = f"sqlite:///{tmp_path / 'l.db'}"
    holder = ledger_lock(url)
    holder.__enter__()
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if fake.now >= 0.3:
            holder.__exit__(None, None, None)

    with ledger_lock(url, wait_s=10, sleep=sleep, monotonic=fake.monotonic) as held:
        assert 0.3 <= held.waited_s < 0.5


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from connector.ops.locking import ledger_lock
    with ledger_lock(sys.argv[1]):
        print("locked", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def holder_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # structlog's default logger prints lock_acquired first
        if line.strip() == "locked":
            break
    else:
        pytest.fail("the holder process never took the lock")
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()


def test_another_process_is_excluded_and_sigkill_releases(
    holder_process: tuple[subprocess.Popen[str], str],
) -> None:
    """A lock held by another process excludes us; SIGKILLing it frees the lock at once."""
    proc, url = holder_process
    with pytest.raises(LockHeld), ledger_lock(url):
        pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    with ledger_lock(url) as held:  # no stale-lock breaking needed: the kernel released it
        assert isinstance(held, HeldLock)


def test_advisory_key_is_stable_and_per_database() -> None:
    """The advisory key is a signed 64-bit number fixed by the database name."""
    key = advisory_key("ledger")
    assert key == advisory_key("ledger") != advisory_key("ledger2")
    assert -(2**63) <= key < 2**63


def test_advisory_lock_is_a_no_op_on_sqlite(tmp_path: Path) -> None:
    """On SQLite the advisory lock does nothing; run_lock is the file lock alone."""
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'l.db'}"
    engine = create_engine(url)
    with pg_advisory_lock(engine) as adv:
        assert adv.path == ""
    with run_lock(url, engine=engine) as held:
        assert held.path.endswith("l.db.lock")
    engine.dispose()


@pytest.mark.postgres
def test_postgres_advisory_lock_excludes_a_second_session(pg_url: str) -> None:
    """On PostgreSQL a second session cannot take the advisory lock until the first lets go."""
    first, second = create_ledger_engine(pg_url), create_ledger_engine(pg_url)
    fake = FakeTime()
    try:
        with pg_advisory_lock(first) as held:
            assert "advisory lock" in held.path
            with (
                pytest.raises(LockHeld),
                pg_advisory_lock(second, wait_s=0.5, sleep=fake.sleep, monotonic=fake.monotonic),
            ):
                pass
        with pg_advisory_lock(second):
            pass
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_postgres_advisory_lock_dies_with_its_session(pg_url: str) -> None:
    """A session that disappears (a killed run) releases its advisory lock."""
    engine = create_ledger_engine(pg_url)
    try:
        conn = engine.connect()
        key = advisory_key(engine.url.database or "")
        assert conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar_one()
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        conn.commit()
        with pytest.raises(LockHeld), pg_advisory_lock(engine):
            pass
        conn.invalidate()  # drop the session as a SIGKILL would
        conn.close()
        # The server ends the backend of a dropped connection on its own time: wait until it
        # has (a bounded poll on the condition, not a timed assertion).
        with engine.connect() as watcher:
            for _ in range(500):
                alive = watcher.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": backend},
                ).scalar_one()
                watcher.commit()
                if not alive:
                    break
                time.sleep(0.01)
        with pg_advisory_lock(engine):
            pass
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_run_lock_on_postgres_takes_file_and_advisory_lock(pg_url: str, tmp_path: Path) -> None:
    """run_lock on PostgreSQL holds the lock file and the advisory lock; both free afterwards."""
    engine = create_ledger_engine(pg_url)
    other = create_ledger_engine(pg_url)
    lock_file = str(tmp_path / "pg.lock")
    try:
        with run_lock(pg_url, lock_file, engine=engine) as held:
            assert held.path == lock_file
            with pytest.raises(LockHeld), ledger_lock(pg_url, lock_file):
                pass
            # another machine (another lock file) still meets the advisory lock
            with pytest.raises(LockHeld), pg_advisory_lock(other):
                pass
        with run_lock(pg_url, lock_file, engine=other):
            pass
    finally:
        engine.dispose()
        other.dispose()


@pytest.mark.postgres
def test_postgres_advisory_lock_outlives_idle_session_timeout(pg_url: str) -> None:
    """The session holding the run's advisory lock sits idle for the whole run: a server (or
    role, or database) with `idle_session_timeout` set ended it, releasing the lock while the
    run went on, so a second server could sync into the same database at once. The lock's
    session turns that timeout off for itself."""
    engine = create_ledger_engine(pg_url)
    watcher_engine = create_ledger_engine(pg_url)

    @event.listens_for(engine, "connect")
    def strict_server(dbapi_connection: Any, record: object) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET idle_session_timeout = 50")  # milliseconds: as a DBA's default
        dbapi_connection.commit()

    held_while_idle = """
        SELECT clock_timestamp() - a.state_change > interval '500 milliseconds'
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND a.state = 'idle'
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    """
    try:
        with pg_advisory_lock(engine), watcher_engine.connect() as watcher:
            # Poll on the condition (the lock's session idle for 10x the timeout, or gone).
            for _ in range(2000):
                rows = watcher.execute(text(held_while_idle)).scalars().all()
                watcher.commit()
                assert rows, "the advisory lock was lost: its idle session was ended"
                if rows[0]:
                    break
                time.sleep(0.005)
            else:
                pytest.fail("the lock's session never stayed idle long enough")
    finally:
        engine.dispose()
        watcher_engine.dispose()


def _statements(engine: Any) -> list[str]:
    """Every statement `engine` sends from now on."""
    sent: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    return sent


def _terminate(pg_url: str, backend: int) -> None:
    """End `backend`'s session and wait until it has ended (PostgreSQL 14+)."""
    killer = create_ledger_engine(pg_url)
    try:
        with killer.connect() as conn:
            ended = conn.execute(
                text("SELECT pg_terminate_backend(:pid, 30000)"), {"pid": backend}
            ).scalar_one()
            conn.commit()
        assert ended
    finally:
        killer.dispose()


def _lock_backends(engine: Any) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid <> pg_backend_pid()"
                )
            ).scalars()
        )


@pytest.mark.postgres
def test_postgres_lock_check_is_cheap_while_the_session_lives(pg_url: str) -> None:
    """`HeldLock.check` before every commit costs a poll() of the lock session's socket: no
    statement while the session is silent, one ``SELECT 1`` once `PROBE_SECONDS` have passed."""
    engine = create_ledger_engine(pg_url)
    fake = FakeTime()
    try:
        with pg_advisory_lock(engine, monotonic=fake.monotonic, sleep=fake.sleep) as held:
            sent = _statements(engine)
            for _ in range(1000):
                held.check()
            assert sent == []
            fake.now += PROBE_SECONDS
            held.check()
            assert sent == ["SELECT 1"]
            held.check()
            assert sent == ["SELECT 1"]
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("source", ["", "gia-lai"])
def test_postgres_lock_lost_with_its_session_is_noticed_at_the_next_check(
    pg_url: str, tmp_path: Path, source: str
) -> None:
    """A PostgreSQL restart or ``pg_terminate_backend`` ends the session holding the run's
    advisory lock, and the lock with it: the next `check()` raises `LockLost` (exit 74) at
    once (the session's socket says so; no probe interval to wait), every later one too, and
    leaving the block raises nothing more; another run then takes the lock."""
    engine = create_ledger_engine(pg_url)
    other = create_ledger_engine(pg_url)
    fake = FakeTime()
    try:
        with (
            capture_logs() as logs,
            run_lock(
                pg_url,
                str(tmp_path / "pg.lock"),
                engine=engine,
                source=source,
                monotonic=fake.monotonic,
                sleep=fake.sleep,
            ) as held,
        ):
            held.check()
            backends = _lock_backends(other)
            assert len(backends) == (2 if source else 1)
            _terminate(pg_url, backends[-1])
            with pytest.raises(LockLost) as lost:
                held.check()
            assert lost.value.exit_code == 74
            assert "lost its lock" in str(lost.value)
            assert "next run resumes" in str(lost.value)
            with pytest.raises(LockLost):
                held.check()
        assert [e["event"] for e in logs if e["log_level"] == "error"] == ["lock_lost"]
        with run_lock(pg_url, str(tmp_path / "pg.lock"), engine=other, source=source):
            pass
    finally:
        engine.dispose()
        other.dispose()


def test_sqlite_lock_has_nothing_to_check(tmp_path: Path) -> None:
    """A kernel file lock cannot be lost while its process lives: nothing to watch."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with run_lock(url) as held:
        assert held.watches == ()
        held.check()
