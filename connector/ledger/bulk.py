"""Many rows in one statement, without SQLAlchemy's per-row parameter work.

A first pull inserts tens of thousands of task, history, snapshot and outbox rows. Given a list
of dicts, `Session.execute` builds, for every row, a parameter dictionary of the compiled
statement and runs each value through its type's processor: on SQLite that costs more than the
database's own ``executemany``. Here the statement is compiled once per shape (table, the rows'
keys, the backend), each column's bind processor is looked up once, and the rows go to the
driver as tuples (`Connection.exec_driver_sql`, which still runs in the session's transaction and
fires the engine's cursor events).

The values stored are the ones SQLAlchemy would store: the same compiled SQL, the same bind
processors of the same dialect, the Python-side column defaults (``source``) evaluated the same
way. SQLite takes its ``?`` parameters; PostgreSQL through psycopg the same statements
compiled with positional ``%s`` parameters (psycopg's ``executemany`` pipelines them), and its
inserts as ``COPY ... FROM STDIN`` of the same values, which psycopg adapts as it would the
parameters (a first pull of 10,000 tasks: 10.0 s with the pipelined inserts, 9.6 s with COPY).
Any other backend goes through `Session.execute`. (Inserting hundreds of rows a statement on
PostgreSQL, ``VALUES (...), (...)``, was measured slower than the pipeline: 13.0 s against
10.3 s for a first pull of 10,000 tasks.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.exc import DBAPIError

from connector.ledger.scope import current_source
from connector.ledger.types import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.sql.dml import ValuesBase
    from sqlmodel import Session

Processor = Callable[[Any], Any]

_SOURCE_PARAM = "b_bulk_source"
"""The bind parameter of the ``source`` condition of `update_by_source_id`."""


@dataclass(frozen=True)
class _Plan:
    """A statement compiled for one shape of rows: its SQL and how to turn a row into a tuple."""

    sql: str
    columns: tuple[str, ...]  # the columns of the positions, in order (an insert's)
    pick: Callable[[Mapping[str, Any]], Any]  # the row's values, in their positions' order
    row_positions: tuple[int, ...]
    processors: tuple[tuple[int, Processor], ...]  # (index in the picked values, processor)
    constants: tuple[tuple[int, str, Processor | None], ...]  # (position, name, processor)
    defaults: tuple[tuple[int, Callable[[Any], Any], Processor | None], ...]

    def tuples(self, rows: Sequence[Mapping[str, Any]], common: Mapping[str, Any]) -> list[Any]:
        """The driver's parameters of every row (`common`: the values shared by every row)."""
        fixed: list[tuple[int, Any]] = []
        for position, name, processor in self.constants:
            value = common[name]
            fixed.append((position, processor(value) if processor else value))
        for position, default, processor in self.defaults:
            value = default(None)  # SQLAlchemy's wrapper of a no-argument default callable
            fixed.append((position, processor(value) if processor else value))
        pick, single = self.pick, len(self.row_positions) == 1
        picked = [(pick(row),) for row in rows] if single else list(map(pick, rows))
        if not fixed and not self.processors:
            return picked
        # Column by column (a transposition in C): each processor runs over its column only.
        columns: list[Any] = list(zip(*picked, strict=True))
        for index, processor in self.processors:
            columns[index] = _processed(processor, columns[index])
        for position, value in sorted(fixed):  # ascending positions: each lands in its place
            columns.insert(position, (value,) * len(rows))
        return list(zip(*columns, strict=True))


_UNSET: Any = object()


def _processed(processor: Processor, values: Sequence[Any]) -> list[Any]:
    """`processor` over a column's values (None kept), once per run of the same object: the
    instants and dates of a page's rows repeat (every row's ``observed_at``, a task's history
    rows' ``source_modified``), and formatting them is the hottest part of a bulk write."""
    out: list[Any] = []
    append = out.append
    last: Any = _UNSET
    done: Any = None
    for value in values:
        if value is not last:
            last = value
            done = None if value is None else processor(value)
        append(done)
    return out


_SQLITE_DATETIME = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"
"""SQLAlchemy's default SQLite storage formats, which `_sqlite_instant` and `_sqlite_day` write."""


def _sqlite_instant(value: datetime) -> str:
    """`UTCDateTime`'s processing on SQLite in one step: refuse a naive value, the UTC wall time
    in SQLAlchemy's ``DATETIME`` storage format (its hottest processor: several per row)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} refused by the ledger")
    v = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - SQLAlchemy's format
        v.year,
        v.month,
        v.day,
        v.hour,
        v.minute,
        v.second,
        v.microsecond,
    )


def _sqlite_day(value: date) -> str:
    """SQLAlchemy's SQLite ``DATE`` processing (a date, or the date of a datetime)."""
    if not isinstance(value, date):
        raise TypeError("SQLite Date type only accepts Python date objects as input.")
    return "%04d-%02d-%02d" % (value.year, value.month, value.day)  # noqa: UP031


def _processor(type_: Any, dialect: Dialect) -> Processor | None:
    """The bind processor of `type_` on `dialect` (SQLAlchemy's; the same in one step for the
    ledger's instants and dates on SQLite)."""
    impl = type_.dialect_impl(dialect)
    if dialect.name == "sqlite":
        if isinstance(type_, UTCDateTime):
            if getattr(impl.impl, "_storage_format", None) == _SQLITE_DATETIME:
                return _sqlite_instant
        elif getattr(impl, "_storage_format", None) == _SQLITE_DATE:
            return _sqlite_day
    processor: Processor | None = impl.bind_processor(dialect)
    return processor


def _plan(statement: ValuesBase, keys: tuple[str, ...], dialect: Dialect) -> _Plan:
    """Compile `statement` for rows with `keys` on `dialect` (positional parameters)."""
    # PostgreSQL renders an INSERT's RETURNING of its key unless compiled for executemany.
    many: dict[str, Any] = {} if dialect.name == "sqlite" else {"for_executemany": True}
    compiled = statement.compile(dialect=dialect, column_keys=list(keys), **many)
    names = compiled.positiontup
    if names is None:  # pragma: no cover - only positional dialects are planned
        raise ValueError(f"{dialect.name} does not take positional parameters")
    prefetch = {c.key: c for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    row_positions: list[int] = []
    row_keys: list[str] = []
    processors: list[tuple[int, Processor]] = []
    constants: list[tuple[int, str, Processor | None]] = []
    defaults: list[tuple[int, Callable[[Any], Any], Processor | None]] = []
    for position, name in enumerate(names):
        bind = compiled.binds[name]
        processor = _processor(bind.type, dialect)
        if name in keys:
            if processor is not None:
                processors.append((len(row_keys), processor))
            row_positions.append(position)
            row_keys.append(name)
        elif name in prefetch:
            default: Any = prefetch[name].default  # a ColumnDefault: `arg` is its value
            if default is None or not (default.is_callable or default.is_scalar):
                raise ValueError(f"column {name}: no value and no Python-side default")
            arg = default.arg
            call = arg if default.is_callable else (lambda _ctx, v=arg: v)
            defaults.append((position, call, processor))
        else:
            constants.append((position, name, processor))
    table = statement.table
    columns = tuple(table.c[n].name if n in table.c else n for n in names)
    return _Plan(
        sql=str(compiled),
        columns=columns,
        pick=itemgetter(*row_keys),
        row_positions=tuple(row_positions),
        processors=tuple(processors),
        constants=tuple(constants),
        defaults=tuple(defaults),
    )


@functools.lru_cache(maxsize=64)
def _cached_plan(kind: str, table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan:
    if kind == "insert":
        return _plan(insert(table), keys, dialect)
    statement = update(table).where(
        table.c.source == bindparam(_SOURCE_PARAM), table.c.source_id == bindparam("b_source_id")
    )
    return _plan(statement, keys, dialect)


def _positional(session: Session) -> Dialect | None:
    """The dialect the session's statements are planned for: SQLite's own (``?``); for
    PostgreSQL through psycopg, the same dialect with positional ``%s`` parameters (which
    psycopg takes as well); None for any other."""
    dialect = session.get_bind().dialect
    if dialect.name == "sqlite":
        return dialect
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        return _format_dialect(type(dialect))
    return None


_FORMAT_DIALECTS: dict[str, Dialect] = {}


def _format_dialect(kind: type[Dialect]) -> Dialect:
    """One dialect of `kind` with positional ``%s`` parameters (made once)."""
    key = f"{kind.__module__}.{kind.__qualname__}"
    found = _FORMAT_DIALECTS.get(key)
    if found is None:
        found = _FORMAT_DIALECTS[key] = kind(paramstyle="format")  # type: ignore[call-arg]
    return found


def insert_many(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``INSERT`` every row (dicts with the same keys), in order, in one ``executemany``."""
    if not rows:
        return
    dialect = _positional(session)
    if dialect is None:
        session.execute(insert(table), list(rows))
        return
    plan = _cached_plan("insert", table, tuple(rows[0]), dialect)
    if dialect.name == "postgresql":
        _copy(session, table, plan, plan.tuples(rows, {}))
        return
    session.connection().exec_driver_sql(plan.sql, plan.tuples(rows, {}))


def _copy(session: Session, table: Table, plan: _Plan, values: Sequence[Any]) -> None:
    """PostgreSQL: the rows through ``COPY ... FROM STDIN`` on the session's connection, in its
    transaction (psycopg adapts each value as it would a parameter)."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer
    columns = ", ".join(quote.quote(c) for c in plan.columns)
    sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
    raw: Any = session.connection().connection.driver_connection
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            for row in values:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:  # as SQLAlchemy raises a statement's error
        error = DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect)
        raise error from exc


def update_by_source_id(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """``UPDATE`` the current source's row of each ``b_source_id`` with the row's other values
    (dicts with the same keys), in order, in one ``executemany``."""
    if not rows:
        return
    source = current_source()
    dialect = _positional(session)
    if dialect is None:
        where = table.c.source_id == bindparam("b_source_id")
        session.execute(update(table).where(table.c.source == source, where), list(rows))
        return
    plan = _cached_plan("update", table, tuple(rows[0]), dialect)
    session.connection().exec_driver_sql(plan.sql, plan.tuples(rows, {_SOURCE_PARAM: source}))
