"""Shared fixtures: ledgers on SQLite and on a throwaway PostgreSQL, a fake clock and sleep.

Add fixtures here with small, separate edits; keep each one documented.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

import connector.ledger.tables  # noqa: F401  (registers the ledger tables)
from connector.clock import FixedClock
from connector.ledger.db import Ledger, head_revision, normalise_url, open_ledger
from connector.ops.log import REDACTOR
from tests.support.harness import ForkServer
from tests.support.pg import PgCluster, PostgresUnavailable, start_cluster


@pytest.fixture(autouse=True)
def _secrets_forgotten_after_each_test() -> Iterator[None]:
    """The process-wide redactor learns the secrets a client meets (`REDACTOR.add`); one
    command's process meets one config, a test process many: forget what a test taught it, so
    a later test's output is not masked by another test's secret (e.g. a client id)."""
    known = REDACTOR.needles()
    yield
    REDACTOR.forget_all_but(known)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
"""Parametrise a test over both ledger databases: ``@pytest.mark.parametrize("backend",
BACKENDS)``, or simply use the `ledger_url` / `ledger` fixtures, which are parametrised."""


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the whole session (skips when none can start)."""
    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite ledger URL in the test's temporary directory (file not created yet)."""
    return f"sqlite:///{tmp_path / 'ledger' / 'ledger.db'}"


@pytest.fixture(scope="session")
def pg_database(pg_cluster: PgCluster) -> str:
    """The database the PostgreSQL tests share, each test in a schema of its own."""
    return pg_cluster.create_database("ledger_tests")


@pytest.fixture
def pg_url(pg_cluster: PgCluster, pg_database: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL ledger for this test: a new schema (dropped afterwards)."""
    schema = pg_cluster.create_schema(pg_database)
    try:
        yield pg_cluster.schema_url(pg_database, schema)
    finally:
        pg_cluster.drop_schema(pg_database, schema)


@pytest.fixture(params=BACKENDS)
def ledger_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the ledger fixtures below are parametrised over both."""
    return str(request.param)


@pytest.fixture
def ledger_url(request: pytest.FixtureRequest, ledger_backend: str) -> str:
    """A fresh, empty ledger URL: a new SQLite file, or a new PostgreSQL schema."""
    if ledger_backend == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger migrated to the latest schema, copied by `ledger` (no migration per test)."""
    path = tmp_path_factory.mktemp("ledger-template") / "template.db"
    open_ledger(f"sqlite:///{path}").close()
    return path


@pytest.fixture(scope="session")
def pg_ledger_schema(pg_cluster: PgCluster, pg_database: str) -> str:
    """A PostgreSQL schema migrated once; `ledger` empties it before each test (schema reset)."""
    schema = pg_cluster.create_schema(pg_database, "ledger_shared")
    open_ledger(pg_cluster.schema_url(pg_database, schema)).close()
    return pg_cluster.schema_url(pg_database, schema)


def _reset_pg_ledger(url: str) -> None:
    """Empty every ledger table and put the schema revision back to head."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            tables = [t.name for t in SQLModel.metadata.sorted_tables]
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            conn.execute(text("UPDATE alembic_version SET version_num = :head"),
                         {"head": head_revision()})
    finally:
        engine.dispose()


@pytest.fixture
def ledger(request: pytest.FixtureRequest, ledger_backend: str) -> Iterator[Ledger]:
    """An open, empty ledger at the latest schema on each backend (closed afterwards).

    SQLite: a copy of a migrated template file; PostgreSQL: a migrated schema emptied first.
    (`ledger_url` gives a database without any schema, for migration tests.)
    """
    if ledger_backend == "sqlite":
        url = str(request.getfixturevalue("sqlite_url"))
        target = Path(url.removeprefix("sqlite:///"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        target.chmod(0o600)
    else:
        url = str(request.getfixturevalue("pg_ledger_schema"))
        _reset_pg_ledger(url)
    opened = open_ledger(url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> FixedClock:
    """A fixed clock at 2022-03-07 09:00 local (02:00 UTC); move it with `.advance()`."""
    return FixedClock(datetime(2022, 3, 7, 2, 0, tzinfo=UTC))


class FakeSleep:
    """A sleep that records what it was asked to wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


@pytest.fixture
def fake_sleep() -> FakeSleep:
    """A sleep that never waits (retries in tests take no time); `.calls` lists the waits."""
    return FakeSleep()


@pytest.fixture(scope="module")
def forks() -> Iterator[ForkServer]:
    """A fork server for the module's connector runs (`tests.support.harness.ForkServer`): each
    run a fresh process, the start-up paid once."""
    server = ForkServer()
    try:
        yield server
    finally:
        server.close()
