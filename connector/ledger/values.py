"""Ledger values in and out of SQL, by type: what a column holds, and what a query parameter is.

The ledger is read in two ways: through SQLAlchemy (the runs that write) and through a plain
DB-API connection (`connector.ledger.reader`, for the commands that only read). Either way a
row arrives as the driver gives it: PostgreSQL (psycopg) returns dates, aware instants and
booleans; SQLite returns dates and instants as text (instants as UTC wall time, as
`connector.ledger.types.UTCDateTime` writes them) and booleans as 0/1. `column_value` turns
either into the type a model declares, and `record` builds a whole dataclass from a row by its
type hints, so a read model names its fields once (the query selects columns under those names).

`bind_value` is the other way: a parameter as the backend compares it (on SQLite, a date or
instant as the very text the column holds).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TypeVar, cast

from connector.clock import FIXED_OFFSET_FROM, local_date, local_date_from_utc

T = TypeVar("T")

SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"
"""How an instant is stored on SQLite (UTC wall time, as SQLAlchemy's DATETIME writes it)."""
_SQLITE_INSTANT_LENGTH = len("2022-03-07 02:00:00.000000")


def instant(value: Any) -> datetime:
    """An aware UTC instant from a column value (an aware datetime, or SQLite's UTC text)."""
    if type(value) is str and len(value) == _SQLITE_INSTANT_LENGTH and value[19] == ".":
        # SQLite's UTC text (`SQLITE_INSTANT`, no offset): read with its offset, five times
        # faster than reading it naive and setting the zone after
        return datetime.fromisoformat(value + "+00:00")
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class LocalDays(dict[str, date]):
    """The local dates of instant column values (`local_day`), those of SQLite's UTC text from
    `connector.clock.FIXED_OFFSET_FROM` on worked out once per UTC date and hour (a report
    reads the local dates of some 200,000 instants: parsing each was a good part of it)."""

    def local_day(self, value: Any) -> date:
        """`connector.clock.local_date` of ``instant(value)``."""
        if (
            type(value) is str
            and len(value) == _SQLITE_INSTANT_LENGTH
            and value[19] == "."
            and value >= _FIXED_TEXT
        ):
            return self[value[:13]]  # "YYYY-MM-DD HH"
        return local_date(instant(value))

    def __missing__(self, date_hour: str) -> date:
        found = self[date_hour] = local_date_from_utc(
            date.fromisoformat(date_hour[:10]), int(date_hour[11:])
        )
        return found


_FIXED_TEXT = FIXED_OFFSET_FROM.replace(tzinfo=None).strftime(SQLITE_INSTANT)


def day(value: Any) -> date:
    """A date from a column value (a date, or ISO text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def optional_base(hint: Any) -> Any:
    """`hint` without ``| None`` (``date | None`` is ``date``)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def column_value(hint: Any, value: Any) -> Any:
    """A raw column value as the Python type `hint` names (None stays None).

    Instants become aware UTC datetimes, dates dates, 0/1 booleans, enum values their member,
    JSON text a dict or list when the hint is one (an empty one when the text is damaged);
    anything else is returned as it is.
    """
    if value is None:
        return None
    try:
        convert = _converter(hint)
    except TypeError:  # a hint that cannot be a cache key: worked out each time
        convert = _converter.__wrapped__(hint)
    return convert(value)


def converter(hint: Any) -> Callable[[Any], Any]:
    """`column_value` of `hint` for a value that is not None, as one function (for a reader
    that converts the same column of many rows: the hint is looked up once, not per value)."""
    try:
        return _converter(hint)
    except TypeError:  # a hint that cannot be a cache key
        return _converter.__wrapped__(hint)


def _as_is(value: Any) -> Any:
    return value


@functools.lru_cache(maxsize=512)
def _converter(hint: Any) -> Callable[[Any], Any]:
    """How `column_value` converts a value for `hint` (worked out once per hint: rows are read
    by the thousand)."""
    base = optional_base(hint)
    if base is datetime:
        return instant
    if base is date:
        return day
    if base is bool:
        return bool
    if isinstance(base, type) and issubclass(base, Enum):
        return cast("Callable[[Any], Any]", base)
    origin = typing.get_origin(base) or base
    if origin in (dict, list):
        kind: type[Any] = origin
        return lambda value: _json(value, kind) if isinstance(value, str) else value
    return _as_is


def _json(text: str, kind: type[Any]) -> Any:
    """JSON text of a dict or list column; damaged or of another kind: an empty one."""
    try:
        data = json.loads(text or "null")
    except json.JSONDecodeError:
        return kind()
    return data if isinstance(data, kind) else kind()


def bind_value(value: Any, backend: str) -> Any:
    """A query parameter as `backend` (``sqlite`` or ``postgresql``) compares it with a column."""
    if isinstance(value, Enum):
        return value.value
    if backend != "sqlite":
        return value
    if isinstance(value, datetime):
        return instant(value).replace(tzinfo=None).strftime(SQLITE_INSTANT)
    if isinstance(value, date):
        return value.isoformat()
    return value


@functools.cache
def _hints(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init)


def record(cls: type[T], row: Mapping[str, Any], **given: Any) -> T:
    """A dataclass `cls` from a row holding a column for each of its fields (by field name).

    Each value is converted to the field's declared type (`column_value`); a field the row does
    not hold takes its default; `given` fields are taken as they are.
    """
    kind: Any = cls
    values = {
        name: column_value(hint, row[name])
        for name, hint in _hints(kind)
        if name in row and name not in given
    }
    return cls(**values, **given)
