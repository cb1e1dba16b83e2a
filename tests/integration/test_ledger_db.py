"""The ledger database: opening, permissions, migrations, errors, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import connector.ledger.tables  # noqa: F401  (registers the tables)
from connector.errors import LedgerError
from connector.ledger.db import (
    SQLITE_WAL_CHECKPOINT_PAGES,
    Ledger,
    alembic_config,
    current_revision,
    head_revision,
    normalise_url,
    open_ledger,
    redact_url,
    revision_of,
    revisions,
    upgrade,
)


def test_open_creates_schema_at_head(ledger_url: str) -> None:
    """A new ledger is migrated on first use to the latest revision, with every table."""
    assert current_revision(ledger_url) is None
    with open_ledger(ledger_url) as ledger:
        tables = set(inspect(ledger.engine).get_table_names())
    assert current_revision(ledger_url) == head_revision()
    assert {"task", "task_history", "task_snapshot", "sync_state", "sync_run", "quarantine",
            "unit", "outbox", "alembic_version"} <= tables


def test_migrations_match_the_models(ledger: Ledger) -> None:
    """The migrations build exactly the schema tables.py declares (no drift either way)."""
    with ledger.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata
        )
    assert diff == []


def test_revisions_read_without_alembic_are_alembics() -> None:
    """The migration chain and head read from the files (without alembic) are alembic's own."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert revisions() == {r.revision: r.down_revision for r in script.walk_revisions()}
    assert head_revision() == script.get_current_head()


def test_revision_of_reads_the_version_table_as_alembic_does(ledger_url: str) -> None:
    """A database's revision (None before any migration) is what alembic itself reads."""
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.engine.connect() as conn:
        assert revision_of(conn) is None
        assert MigrationContext.configure(conn).get_current_revision() is None
    with open_ledger(ledger_url) as ledger, ledger.engine.connect() as conn:
        assert revision_of(conn) == MigrationContext.configure(conn).get_current_revision()
        assert revision_of(conn) == head_revision()


def test_upgrade_is_idempotent(ledger_url: str) -> None:
    """`upgrade` creates the schema once, then reports nothing to do."""
    assert current_revision(ledger_url) is None
    first = upgrade(ledger_url)
    assert (first.before, first.after, first.changed) == (None, head_revision(), True)
    again = upgrade(ledger_url)
    assert (again.before, again.after, again.changed) == (head_revision(), head_revision(), False)


def test_newer_schema_is_refused(ledger: Ledger) -> None:
    """A database migrated by a newer connector is refused with what to do, not touched."""
    with ledger.transaction() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(LedgerError, match=r"9999.*upgrade idesk-connector"):
        open_ledger(ledger.url)


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    """The ledger file, its -wal and -shm are mode 0600 and the parent dir is created."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "deep" / "dir" / "ledger.db"
        with open_ledger(f"sqlite:///{path}") as ledger, ledger.transaction() as session:
            session.execute(text("INSERT INTO unit (code, name, kind, parent_code) "
                                 "VALUES ('X', 'x', 'department', '')"))
            session.flush()
            files = [path, path.with_name("ledger.db-wal"), path.with_name("ledger.db-shm")]
            for f in files:
                assert f.exists(), f
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    finally:
        os.umask(old)


def test_sqlite_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    """An existing ledger readable by others is made 0600 on open."""
    path = tmp_path / "ledger.db"
    path.touch(mode=0o644)
    path.chmod(0o644)
    open_ledger(f"sqlite:///{path}").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sqlite_pragmas(tmp_path: Path) -> None:
    """Every SQLite connection runs WAL, with foreign keys on and a busy timeout."""
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger, ledger.reading() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 1000


def test_sqlite_wal_is_checkpointed_by_the_tens_of_megabytes(tmp_path: Path) -> None:
    """A writable ledger lets its WAL grow to SQLITE_WAL_CHECKPOINT_PAGES before a checkpoint
    (not SQLite's 1,000 pages, which a pull's page of tasks passes at every commit)."""
    with open_ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger, ledger.transaction() as s:
        pages = s.execute(text("PRAGMA wal_autocheckpoint")).scalar()
    assert pages == SQLITE_WAL_CHECKPOINT_PAGES >= 8192


def test_sqlite_write_transaction_takes_the_write_lock_at_once(tmp_path: Path) -> None:
    """`transaction()` begins IMMEDIATE: another writer cannot start until it ends."""
    path = tmp_path / "l.db"
    with open_ledger(f"sqlite:///{path}") as ledger:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            with ledger.transaction() as session:
                session.execute(text("SELECT 1"))
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
        finally:
            other.close()


def test_transaction_rolls_back_on_error(ledger: Ledger) -> None:
    """An exception inside `transaction()` leaves nothing written."""
    with pytest.raises(RuntimeError), ledger.transaction() as session:
        session.execute(text("INSERT INTO unit (code, name, kind, parent_code) "
                             "VALUES ('X', 'x', 'department', '')"))
        raise RuntimeError("boom")
    with ledger.reading() as session:
        assert session.execute(text("SELECT count(*) FROM unit")).scalar() == 0


def test_foreign_keys_are_enforced(ledger: Ledger) -> None:
    """History rows must belong to a task, on both databases."""
    with pytest.raises(LedgerError), ledger.transaction() as session:
        session.execute(text(
            "INSERT INTO task_history (task_id, run_id, field, old_value, new_value, "
            "observed_at, observed_on, effective_on) VALUES "
            "(42, 'r', 'state', '', 'open', '2022-03-07 02:00:00', '2022-03-07', '2022-03-07')"
        ))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("postgresql://u:pw@h:5432/d", "postgresql+psycopg://u:pw@h:5432/d", id="pg"),
        pytest.param("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d", id="psycopg"),
        pytest.param("sqlite:///x.db", "sqlite:///x.db", id="sqlite"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    """postgresql:// URLs are driven by psycopg 3; others are kept."""
    assert normalise_url(url) == expected


def test_unsupported_url_is_a_ledger_error() -> None:
    """A URL of another database names the supported ones."""
    with pytest.raises(LedgerError, match="only SQLite"):
        open_ledger("mysql://u@h/d")


def test_unreachable_postgres_error_hides_password() -> None:
    """A PostgreSQL that cannot be reached gives a clerk message without the password."""
    from tests.support.pg import free_port

    url = f"postgresql://clerk:S3cret-pw@127.0.0.1:{free_port()}/ledger"
    with pytest.raises(LedgerError) as info:
        open_ledger(url)
    message = str(info.value)
    assert "S3cret-pw" not in message
    assert "postgresql+psycopg://clerk:***@127.0.0.1" in message
    assert "check that the PostgreSQL server is running" in message
    assert redact_url(url).count("***") == 1


def test_unwritable_sqlite_dir_is_a_ledger_error(tmp_path: Path) -> None:
    """A SQLite path that cannot be created names the file and what to check."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(LedgerError, match=r"cannot create the ledger file .*file/ledger.db"):
        open_ledger(f"sqlite:///{blocker / 'ledger.db'}")


def test_downgrade_then_upgrade(ledger_url: str) -> None:
    """The initial migration can be undone and redone (developers' round trip)."""
    from alembic import command

    from connector.ledger.db import alembic_config, create_ledger_engine

    upgrade(ledger_url)
    engine = create_ledger_engine(ledger_url)
    try:
        with engine.begin() as conn:
            config = alembic_config()
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    assert current_revision(ledger_url) is None
    assert upgrade(ledger_url).after == head_revision()


def test_opening_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    """Opening an up-to-date SQLite ledger reads only: a writer holding the lock does not block."""
    import time

    url = f"sqlite:///{tmp_path / 'l.db'}"
    open_ledger(url).close()
    writer = sqlite3.connect(tmp_path / "l.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with open_ledger(url) as ledger, ledger.reading() as session:
            assert session.execute(text("SELECT count(*) FROM task")).scalar() == 0
        assert time.monotonic() - started < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()
