"""Reading the ledger with plain SQL: one interface over a DB-API connection or a SQLAlchemy
session.

Every query of the ledger's read functions (``connector.ledger.tasks``, ``.outbox``, ``.runs``...)
is plain SQL with ``:name`` parameters, run through a `Reader`:

* `open_reader(url)` is how the commands that only read (``status``, ``tasks``, ``report``...)
  open the ledger: a read-only DB-API connection (`sqlite3`, or psycopg for PostgreSQL), without
  SQLAlchemy, so such a command starts fast. Like ``open_ledger(url, read_only=True)`` it never
  creates or migrates a ledger: no ledger, or a schema other than the head, is `LedgerMissing`
  (exit 2). SQLite opens the file ``mode=ro`` (``immutable`` on a read-only file system),
  PostgreSQL with read-only transactions;
* `SessionReader` runs the same SQL on a SQLAlchemy session (or connection) of a run that
  writes, inside its transaction;
* `reading(db)` gives a reader for whatever a caller holds: a reader, a session, or a `Ledger`.

Rows are dicts of raw driver values; `connector.ledger.values` turns them into the models'
types. Parameters are bound as the backend compares them (`values.bind_value`).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from connector.closing import Closing
from connector.errors import LedgerMissing
from connector.ledger.location import LedgerUrl, ledger_error, read_only_uri
from connector.ledger.schema import read_revision, require_current
from connector.ledger.scope import scope_sql
from connector.ledger.values import bind_value

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine
    from sqlmodel import Session

    from connector.ledger.db import Ledger

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite connection waits for another writer before giving up."""

Row: TypeAlias = dict[str, Any]


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (a literal ``%`` doubled)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))


def in_list(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """An ``IN (...)`` list of parameters: its SQL (``:name0, :name1, ...``) and its values."""
    params = {f"{name}{i}": value for i, value in enumerate(values)}
    return ", ".join(f":{key}" for key in params) or "NULL", params


class Reader(ABC):
    """Plain SQL over one ledger connection (see the module docstring)."""

    backend: str
    display_url: str

    @abstractmethod
    def _execute(self, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        """Run `sql` with `params`: the column names and the raw rows."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Every row of a query, as dicts of column name to raw value."""
        names, found = self.tuples(sql, params)
        return [dict(zip(names, values, strict=True)) for values in found]

    def tuples(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[Any]]:
        """Every row of a query as the driver's tuples, with the column names (no dict a row:
        for reads of many rows)."""
        bound = {k: bind_value(v, self.backend) for k, v in (params or {}).items()}
        sql, scope = scope_sql(sql)  # the sources reads see (`connector.ledger.scope`)
        bound.update(scope)
        if self.backend != "sqlite":
            sql = _pyformat(sql)
        return self._execute(sql, bound)

    def first(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row of a query, or None."""
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row (None without a row)."""
        row = self.first(sql, params)
        return next(iter(row.values())) if row else None

    def column(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """The first column of every row."""
        return [next(iter(row.values())) for row in self.rows(sql, params)]


class PlainReader(Reader, Closing):
    """A read-only DB-API connection (`open_reader`)."""

    def __init__(self, connection: Any, url: LedgerUrl) -> None:
        self.connection = connection
        self.url = url
        self.backend = url.backend
        self.display_url = url.display()

    def _execute(self, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        try:
            cursor = self.connection.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
            return names, cursor.fetchall()
        except _driver_errors() as exc:
            raise ledger_error(exc, self.url, "read") from exc

    def reopened(self) -> PlainReader:
        """Another reader of the same ledger, with its own connection (for a forked process:
        a connection is not shared across a fork); close it when done."""
        return _open(self.url)

    def close(self) -> None:
        """End the read transaction (nothing was written) and close the connection."""
        with contextlib.suppress(*_driver_errors()):
            self.connection.rollback()
        self.connection.close()


class SessionReader(Reader):
    """The reader's SQL on a SQLAlchemy session or connection, in its transaction."""

    def __init__(self, session: Session | Connection, display_url: str | None = None) -> None:
        self.session = session
        orm: Any = session if hasattr(session, "flush") else None
        self._orm = orm
        bind = orm.get_bind() if orm is not None else cast("Connection", session)
        self.backend = bind.engine.dialect.name
        self.display_url = display_url or LedgerUrl.parse(str(bind.engine.url)).display()

    def _execute(self, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        if self._orm is not None:
            self._orm.flush()  # pending ORM changes first, as the ORM's own queries would
            connection: Connection = self._orm.connection()
        else:
            connection = cast("Connection", self.session)
        result = connection.exec_driver_sql(sql, dict(params))
        return list(result.keys()), list(result.fetchall())


if TYPE_CHECKING:
    Db: TypeAlias = Reader | Session | Connection | Engine | Ledger
    """What the ledger's read functions take: a reader, a session, a connection or an engine,
    or a ledger."""


@contextlib.contextmanager
def reading(db: Db) -> Iterator[Reader]:
    """A reader for `db`: itself, the SQL of a session or connection, or a new read-only
    session of a `Ledger` or connection of an engine (closed at the end)."""
    if isinstance(db, Reader):
        yield db
    elif hasattr(db, "reading") and hasattr(db, "display_url"):  # a Ledger
        with db.reading() as session:
            yield SessionReader(session, db.display_url)
    elif hasattr(db, "connect") and not hasattr(db, "exec_driver_sql"):  # an Engine
        with db.connect() as connection:
            yield SessionReader(connection)
    else:
        yield SessionReader(cast("Session | Connection", db))


# -- opening a ledger to read ----------------------------------------------------------------------


def _driver_errors() -> tuple[type[BaseException], ...]:
    """The DB-API errors of the drivers loaded (psycopg's once a PostgreSQL ledger was opened)."""
    import sys  # noqa: PLC0415

    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error, *((psycopg.Error,) if psycopg is not None else ()))


def _connect_sqlite(url: LedgerUrl) -> sqlite3.Connection:
    path = url.sqlite_path
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    if path is None:  # in memory: empty, so "no schema yet"
        database = url.database or ":memory:"
        connection = sqlite3.connect(database, uri=database.startswith("file:"), timeout=timeout)
    elif not path.is_file():
        raise LedgerMissing(
            f"there is no ledger at {path.absolute()}; run `idesk-connector sync` (or "
            "`idesk-connector db upgrade`) first, or point ledger.url at the ledger",
            location=str(path),
        )
    else:
        connection = sqlite3.connect(read_only_uri(path), uri=True, timeout=timeout)
    connection.isolation_level = None  # the transaction below is ours
    connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA query_only = ON")
    connection.execute("BEGIN")  # one snapshot for every query of the command
    return connection


def _connect_postgresql(url: LedgerUrl) -> Any:
    import psycopg  # noqa: PLC0415 - only for a PostgreSQL ledger

    options = f"{url.query_value('options')} -c default_transaction_read_only=on".strip()
    plain = LedgerUrl(
        "postgresql",
        url.username,
        url.password,
        url.host,
        url.port,
        url.database,
        tuple(q for q in url.query if q[0] != "options"),
    )
    return psycopg.connect(
        plain.render(hide_password=False),
        connect_timeout=10,
        application_name="idesk-connector",
        options=options,
    )


def open_reader(url: str) -> PlainReader:
    """Open the ledger at `url` to read (see the module docstring); close it when done."""
    return _open(LedgerUrl.parse(url).supported())


def _open(parsed: LedgerUrl) -> PlainReader:
    try:
        connection = (
            _connect_sqlite(parsed) if parsed.backend == "sqlite" else _connect_postgresql(parsed)
        )
    except _driver_errors() as exc:
        raise ledger_error(exc, parsed, "open") from exc
    reader = PlainReader(connection, parsed)
    try:
        require_current(read_revision(reader), reader.display_url)
    except BaseException:
        reader.close()
        raise
    return reader
