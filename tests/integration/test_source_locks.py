"""Run locks per source (issue 16): runs of different sources go on at once, two runs of one
source exclude each other, a whole-ledger lock excludes them all; on SQLite (lock files) and
PostgreSQL (advisory locks)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from connector.errors import LockHeld
from connector.ledger.db import create_ledger_engine
from connector.ops.locking import run_lock
from tests.support.timing import FakeTime


@pytest.fixture
def engines(ledger_url: str) -> Iterator[tuple[Engine | None, Engine | None]]:
    """Two engines (two sessions, as two hosts) on PostgreSQL; none on SQLite (files only)."""
    if not ledger_url.startswith("postgresql"):
        yield None, None
        return
    first, second = create_ledger_engine(ledger_url), create_ledger_engine(ledger_url)
    try:
        yield first, second
    finally:
        first.dispose()
        second.dispose()


def _lock(
    url: str, tmp_path: Path, engine: Engine | None, source: str = ""
) -> contextlib.AbstractContextManager[object]:
    fake = FakeTime()
    # On PostgreSQL each "host" has its own lock file: only the advisory locks can exclude.
    host = f"host-{id(engine)}" if engine is not None else "host"
    (tmp_path / host).mkdir(exist_ok=True)
    lock_file = str(tmp_path / host / "run.lock")
    return run_lock(
        url,
        lock_file,
        0.3,
        engine=engine,
        source=source,
        sleep=fake.sleep,
        monotonic=fake.monotonic,
    )


def test_runs_of_two_sources_hold_their_locks_at_once(
    ledger_url: str, tmp_path: Path, engines: tuple[Engine | None, Engine | None]
) -> None:
    """gia-lai's and binh-dinh's runs hold their locks together; the lock file is per source."""
    first, second = engines
    with (
        _lock(ledger_url, tmp_path, first, "gia-lai"),
        _lock(ledger_url, tmp_path, second, "binh-dinh"),
    ):
        files = {p.name for p in tmp_path.glob("*/run.lock.source-*")}
        assert files == {"run.lock.source-gia-lai", "run.lock.source-binh-dinh"}


def test_two_runs_of_one_source_exclude_each_other(
    ledger_url: str, tmp_path: Path, engines: tuple[Engine | None, Engine | None]
) -> None:
    """A second run of gia-lai fails with LockHeld while the first holds it."""
    first, second = engines
    with (
        _lock(ledger_url, tmp_path, first, "gia-lai"),
        pytest.raises(LockHeld),
        _lock(ledger_url, tmp_path, second, "gia-lai"),
    ):
        pass
    with _lock(ledger_url, tmp_path, second, "gia-lai"):
        pass


def test_a_whole_ledger_lock_excludes_source_runs_and_back(
    ledger_url: str, tmp_path: Path, engines: tuple[Engine | None, Engine | None]
) -> None:
    """`db upgrade`/`backup` or a one-source run (the whole ledger) and a source's run never
    overlap, whichever came first."""
    first, second = engines
    with (
        _lock(ledger_url, tmp_path, first),
        pytest.raises(LockHeld),
        _lock(ledger_url, tmp_path, second, "gia-lai"),
    ):
        pass
    with (
        _lock(ledger_url, tmp_path, first, "gia-lai"),
        pytest.raises(LockHeld),
        _lock(ledger_url, tmp_path, second),
    ):
        pass
