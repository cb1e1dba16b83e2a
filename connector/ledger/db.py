"""Opening the ledger: engine, sessions, and the schema kept current by alembic migrations.

`open_ledger(url)` returns a `Ledger` (an engine and a session factory) whose schema is at the
latest migration: a new database is created, an older one upgraded, on first use. The CLI's
``idesk-connector db upgrade`` calls `upgrade(url)`; `current_revision(url)` tells where a
database stands.

SQLite (the default, ``sqlite:///PATH``):

* the parent directory is created, and the file itself is created with mode 0600 before SQLite
  opens it (SQLite gives its ``-wal`` and ``-shm`` files the mode of the database file; they are
  tightened to 0600 on every connect as well);
* every connection runs in WAL mode with a busy timeout and foreign keys on;
* transactions are real: the driver's implicit transaction handling is turned off and the
  connector emits ``BEGIN`` itself, ``BEGIN IMMEDIATE`` for write transactions
  (`Ledger.transaction`), so a writer waits for another writer instead of failing half-way.

PostgreSQL (``postgresql://user@host:port/db``) is driven by psycopg 3 (the URL is rewritten to
``postgresql+psycopg://``).

``open_ledger(url, read_only=True)`` is for the commands that only read (``status``, ``report``,
``tasks``…): it never creates the file or the schema and never migrates; SQLite opens the file
with ``mode=ro`` (``immutable`` on a read-only file system when no ``-wal`` is pending),
PostgreSQL with read-only transactions. No ledger, or a schema other than the head, is
`LedgerMissing` (exit 2).

Migrations live in ``connector/ledger/migrations`` (shipped as package data); alembic is
configured in code so that it works from an installed wheel, never from a working directory.
Alembic is loaded only when a schema has to change: where a database stands is read from its
``alembic_version`` table, and the revisions this version knows from the migration files
(`revisions`), without it.
Every database error leaves this module as a `LedgerError` naming the database (without its
password) and what to do.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from connector.closing import Closing
from connector.errors import ConfigError, LedgerError, LedgerMissing
from connector.ledger import location
from connector.ledger.location import LedgerUrl, read_only_uri
from connector.ledger.reader import SQLITE_BUSY_TIMEOUT_MS, SessionReader
from connector.ledger.schema import (
    MIGRATIONS_DIR,
    VERSION_TABLE,
    head_revision,
    known,
    read_revision,
    require_current,
    revisions,
)

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "SQLITE_BUSY_TIMEOUT_MS",
    "VERSION_TABLE",
    "Ledger",
    "StoreError",
    "UpgradeResult",
    "advisory_unlock",
    "alembic_config",
    "create_ledger_engine",
    "current_revision",
    "head_revision",
    "ledger_error",
    "normalise_url",
    "open_ledger",
    "prepare_sqlite_file",
    "redact_url",
    "revision_of",
    "revisions",
    "rolled_back",
    "store_error_text",
    "try_advisory_lock",
    "upgrade",
]

log = structlog.get_logger(__name__)

_MIGRATION_LOCK_KEY = 0x1DE5_C0_1ED6E4
"""PostgreSQL advisory lock taken while migrating, so two first runs do not race."""

_SQLITE_BEGIN = "idesk_sqlite_begin"
"""Execution option naming the BEGIN mode of a SQLite transaction (``""`` or ``"IMMEDIATE"``)."""


# -- URLs and errors ------------------------------------------------------------------------------


def _parse(url: str) -> LedgerUrl:
    return LedgerUrl.parse(url)


def normalise_url(url: str) -> str:
    """The URL SQLAlchemy gets: ``postgresql://`` is driven by psycopg 3."""
    return _parse(url).supported().render(hide_password=False)


def redact_url(url: str | URL) -> str:
    """The URL without its password, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return location.redact_url(url)


StoreError = (SQLAlchemyError, ArithmeticError, ValueError, TypeError)
"""What storing a record can raise when the database (or its driver) refuses a value."""


def store_error_text(exc: BaseException) -> str:
    """A short, single-line description of a storage error (no SQL, no bound values)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    text = f"{type(orig if orig is not None else exc).__name__}: {first[0] if first else ''}"
    text = repr(text)[1:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def ledger_error(exc: BaseException, url: str | URL, doing: str) -> LedgerError | ConfigError:
    """A clerk's message for a database error: which database, what failed, what to do."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    return location.ledger_error(exc, _parse(text), doing)


# -- SQLite files and connections ----------------------------------------------------------------


def _private(path: Path) -> None:
    """Make an existing file 0600 when it is ours and others could read it."""
    with contextlib.suppress(FileNotFoundError):
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO) and info.st_uid == os.getuid():
            path.chmod(0o600)
            log.warning("ledger_permissions_tightened", path=str(path), mode="0600")


def prepare_sqlite_file(path: Path) -> None:
    """Create the parent directory and the (empty) database file with mode 0600."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(parents=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
    except OSError as exc:
        doing = "open the ledger file for writing" if path.exists() else "create the ledger file"
        raise LedgerError(
            f"cannot {doing} {path}: {exc.strerror}; check that the file and its directory "
            "are writable by this user (not on a read-only file system) or set ledger.url to "
            "another place"
        ) from exc
    _private(path)


SQLITE_WAL_CHECKPOINT_PAGES = 16_384
"""Pages (64 MiB of 4 KiB) the write-ahead log of a writable ledger grows to before a commit
copies it into the database (SQLite's default: 1,000). A page of a pull writes some 4 MiB
(tasks, snapshots, history): at the default nearly every commit of a first pull ran a
checkpoint, which copies and syncs the database file; the pages a later commit rewrites (the
classification updating the rows the pages inserted) were copied each time. The log is
emptied by the checkpoint and removed when the last connection closes."""


def _sqlite_engine(parsed: LedgerUrl, *, read_only: bool = False) -> Engine:
    path = parsed.sqlite_path
    target = parsed.render(hide_password=False)
    if path is None:
        engine = create_engine(
            target,
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
    elif read_only:
        if not path.is_file():
            raise LedgerMissing(
                f"there is no ledger at {path.absolute()}; run `idesk-connector sync` (or "
                "`idesk-connector db upgrade`) first, or point ledger.url at the ledger",
                location=str(path),
            )
        uri = read_only_uri(path)
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000

        def connect() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=timeout)

        engine = create_engine(target, creator=connect)
    else:
        prepare_sqlite_file(path)
        engine = create_engine(target, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if read_only:
                cursor.execute("PRAGMA query_only = ON")
            elif path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint = {SQLITE_WAL_CHECKPOINT_PAGES}")
        finally:
            cursor.close()
        if path is not None and not read_only:
            for suffix in ("-wal", "-shm"):
                _private(path.with_name(path.name + suffix))

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

    return engine


def create_ledger_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for the ledger URL, configured as the module docstring says (no migration).

    `read_only`: SQLite opens the file read-only (never creating it; `LedgerMissing` when it is
    not there), PostgreSQL sessions default to read-only transactions.
    """
    parsed = _parse(url).supported()
    if parsed.backend == "sqlite":
        return _sqlite_engine(parsed, read_only=read_only)
    connect_args: dict[str, Any] = {"connect_timeout": 10, "application_name": "idesk-connector"}
    if read_only:
        # Kept with any options of the URL itself (e.g. ``options=-csearch_path=...``).
        given = parsed.query_value("options")
        connect_args["options"] = f"{given} -c default_transaction_read_only=on".strip()
    return create_engine(
        parsed.render(hide_password=False), pool_pre_ping=True, connect_args=connect_args
    )


# -- migrations ----------------------------------------------------------------------------------


def alembic_config() -> Config:
    """Alembic configured in code, pointing at the migrations inside the installed package."""
    from alembic.config import Config  # noqa: PLC0415 - alembic only to migrate

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def revision_of(connection: Connection) -> str | None:
    """The schema revision of the database behind `connection` (None: no schema yet)."""
    return read_revision(SessionReader(connection))


def _database_errors() -> tuple[type[BaseException], ...]:
    """What opening or migrating may raise: SQLAlchemy's errors, and alembic's once alembic was
    loaded (a migration ran; evaluated when an error is caught)."""
    module = sys.modules.get("alembic.util.exc")
    alembic: tuple[type[BaseException], ...] = (module.CommandError,) if module else ()
    return (SQLAlchemyError, *alembic)


@dataclass(frozen=True)
class UpgradeResult:
    """What `upgrade` did: the database (password hidden) and its revision before and after."""

    database: str
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


@contextlib.contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """SQLite: foreign keys off for a migration on `connection` (outside its transaction, where
    the pragma takes effect), on again afterwards; a migration that copies a table others refer
    to (batch mode) checks them itself (``PRAGMA foreign_key_check``). Other dialects: nothing."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def _migrate(engine: Engine) -> UpgradeResult:
    """Bring the schema to the head revision inside one transaction (PostgreSQL: locked)."""
    database = redact_url(engine.url)
    head = head_revision()
    with engine.connect() as connection:
        current = revision_of(connection)  # a plain read: opening never waits for a writer
        connection.rollback()
    if current == head:
        return UpgradeResult(database, current, head)
    with engine.connect() as connection, sqlite_foreign_keys_off(connection):
        if engine.dialect.name == "sqlite":
            connection.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            before = revision_of(connection)
            if before == head:
                return UpgradeResult(database, before, head)
            if before is not None and not known(before):
                raise LedgerError(
                    f"the ledger database {database} is at schema revision {before!r}, newer "
                    f"than this idesk-connector knows (latest {head!r}); upgrade idesk-connector "
                    "or point ledger.url at another database"
                )
            from alembic import command  # noqa: PLC0415 - alembic only to migrate

            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    log.info("ledger_migrated", database=database, before=before, after=head)
    return UpgradeResult(database, before, head)


# -- PostgreSQL advisory locks (the run lock, `connector.ops.locking`) -------------------------


def try_advisory_lock(connection: Connection, key: int, *, shared: bool = False) -> bool:
    """Take the session-level advisory lock `key` if free (`shared`: in shared mode, which
    other shared holders do not exclude); True when taken.

    Leaves no transaction open: a session-level advisory lock outlives commit, and an "idle in
    transaction" session could be killed by ``idle_in_transaction_session_timeout``.
    """
    call = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    got = connection.execute(text(f"SELECT {call}(:key)"), {"key": key}).scalar_one()
    connection.commit()
    return bool(got)


def keep_session(connection: Connection) -> None:
    """Keep the session holding an advisory lock from being ended while it waits idle for the
    whole run: PostgreSQL 14 and later end a session idle for ``idle_session_timeout`` (a
    server, role or database default a DBA may set), and the lock would go with it while the
    run went on. Turned off for this session only."""
    version = int(connection.execute(text("SHOW server_version_num")).scalar_one())
    if version >= 140000:
        connection.execute(text("SET idle_session_timeout = 0"))
    connection.commit()


def advisory_unlock(connection: Connection, key: int, *, shared: bool = False) -> None:
    """Release the session-level advisory lock `key` (taken `shared` or not)."""
    call = "pg_advisory_unlock_shared" if shared else "pg_advisory_unlock"
    connection.execute(text(f"SELECT {call}(:key)"), {"key": key})
    connection.commit()


# -- the ledger ----------------------------------------------------------------------------------


@dataclass(eq=False)
class Ledger(Closing):
    """An open ledger: its engine and session factory. Close it when done (or use ``with``)."""

    url: str
    engine: Engine
    sessions: sessionmaker[Session]
    shared: bool = True
    """Whether what its transactions commit is seen by other connections (False: a view whose
    transactions nest in one outer transaction, `rolled_back`)."""

    @property
    def display_url(self) -> str:
        """The URL without its password."""
        return redact_url(self.engine.url)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def session(self) -> Session:
        """A new session (the caller closes it); prefer `transaction` or `reading`."""
        return self.sessions()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on any error.

        On SQLite it begins with ``BEGIN IMMEDIATE``: it waits (busy timeout) for another writer
        rather than failing when it first writes.
        """
        session = self.sessions()
        try:
            with session.begin():
                if self.backend == "sqlite":
                    session.connection(execution_options={_SQLITE_BEGIN: "IMMEDIATE"})
                yield session
        except DBAPIError as exc:
            raise ledger_error(exc, self.engine.url, "write to") from exc
        finally:
            session.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session in one (deferred) transaction, rolled back at the end."""
        session = self.sessions()
        try:
            yield session
        except DBAPIError as exc:
            raise ledger_error(exc, self.engine.url, "read") from exc
        finally:
            session.close()  # rolls back: nothing read here is ever written

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


@contextlib.contextmanager
def rolled_back(ledger: Ledger) -> Iterator[Ledger]:
    """A view of `ledger` whose transactions all nest in one outer transaction, rolled back."""
    connection = ledger.engine.connect()
    outer = connection.begin()
    sessions = sessionmaker(
        bind=connection,
        class_=Session,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )
    try:
        yield Ledger(url=ledger.url, engine=ledger.engine, sessions=sessions, shared=False)
    finally:
        outer.rollback()
        connection.close()


def _require_current(engine: Engine) -> None:
    """A read-only opening: the schema must already be at the head revision (never migrated)."""
    with engine.connect() as connection:
        current = revision_of(connection)
        connection.rollback()
    require_current(current, redact_url(engine.url))


def open_ledger(url: str, *, migrate: bool = True, read_only: bool = False) -> Ledger:
    """Open the ledger at `url`, creating or upgrading its schema unless `migrate` is False.

    `read_only` (for the commands that only read: `status`, `report`, `tasks`...): never create
    the ledger, never migrate it, open it read-only (SQLite ``mode=ro``, PostgreSQL read-only
    transactions); `LedgerMissing` (exit 2) when there is no ledger or its schema is not current.
    """
    engine = create_ledger_engine(url, read_only=read_only)
    try:
        if read_only:
            _require_current(engine)
        elif migrate:
            _migrate(engine)
        else:
            with engine.connect():
                pass
    except _database_errors() as exc:
        engine.dispose()
        raise ledger_error(exc, engine.url, "open") from exc
    except (LedgerError, ConfigError):
        engine.dispose()
        raise
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False, autoflush=False)
    log.debug("ledger_opened", database=redact_url(engine.url), backend=engine.dialect.name)
    return Ledger(url=normalise_url(url), engine=engine, sessions=sessions)


def upgrade(url: str) -> UpgradeResult:
    """Bring the ledger at `url` to the latest schema (``idesk-connector db upgrade``)."""
    engine = create_ledger_engine(url)
    try:
        return _migrate(engine)
    except _database_errors() as exc:
        raise ledger_error(exc, engine.url, "upgrade") from exc
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision of the ledger at `url` (None: no schema yet). Changes nothing else.

    A missing SQLite file is created empty (mode 0600), like every other way of opening it.
    """
    engine = create_ledger_engine(url)
    try:
        with engine.connect() as connection:
            return revision_of(connection)
    except SQLAlchemyError as exc:
        raise ledger_error(exc, engine.url, "read") from exc
    finally:
        engine.dispose()
