"""Which source the ledger rows written now belong to, and which sources reads see (issue 16).

Every task-keyed table, ``unit``, ``quarantine``, ``outbox`` and ``sync_run`` carries a
``source`` column; ids are unique per source only (the task key is ``(source, source_id)``).

- **Writes.** A row inserted without an explicit ``source`` gets `current_source`:
  `DEFAULT_SOURCE` (``"idesk"``, the default of ``source.name``) unless set otherwise (the CLI
  sets ``source.name`` when it loads a one-source config; a run of one of several sources sets
  its name with `use_source`).
- **Reads.** `read_sources` is None (every source: a one-source ledger reads exactly as before)
  or the sources a read sees. Plain-SQL reads (`connector.ledger.reader`) are narrowed by
  `scope_sql`, which turns ``FROM task`` (and the other tables with a source) into
  ``FROM (SELECT * FROM task WHERE source IN (...)) task``; ORM and Core statements that read
  or update rows by id filter on `current_source` themselves.

`use_source` sets both for one source's run: writes of that source, reads of that source only.
`use_read_sources` narrows reads only (``--source`` on the commands that read).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

DEFAULT_SOURCE = "idesk"
"""The source of a one-source ledger whose ``source.name`` was left at its default, and of the
rows of a ledger migrated from before revision 0008 that had no cursor yet."""

SOURCED_TABLES: tuple[str, ...] = (
    "task_history",
    "task_snapshot",
    "task_report",
    "task_kind",
    "task",
    "unit",
    "quarantine",
    "outbox",
    "sync_run",
)
"""The tables whose rows carry their source (besides ``sync_state`` and ``snapshot_item``,
keyed by it, which their readers ask by name)."""

_SOURCE: ContextVar[str] = ContextVar("ledger_source", default=DEFAULT_SOURCE)
_READ: ContextVar[tuple[str, ...] | None] = ContextVar("ledger_read_sources", default=None)
_KEYWORDS = "WHERE|ORDER|GROUP|JOIN|ON|LIMIT|LEFT|INNER|UNION|HAVING|AS"
_TABLE = re.compile(
    rf"\b(FROM|JOIN)\s+({'|'.join(SOURCED_TABLES)})\b(?!\s*\()"
    rf"(?:\s+(?:AS\s+)?(?!(?:{_KEYWORDS})\b)([A-Za-z_]\w*))?",
    re.IGNORECASE,
)


def current_source() -> str:
    """The source the rows written now belong to."""
    return _SOURCE.get()


def read_sources() -> tuple[str, ...] | None:
    """The sources reads see (None: every source)."""
    return _READ.get()


def set_source(name: str) -> None:
    """Make `name` the source of the rows written from now on in this context (reads keep
    seeing what they saw)."""
    _SOURCE.set(name)


@contextmanager
def writing_as(name: str) -> Iterator[None]:
    """Rows written within the block belong to `name` (reads unchanged: a one-source run)."""
    token = _SOURCE.set(name)
    try:
        yield
    finally:
        _SOURCE.reset(token)


@contextmanager
def use_source(name: str) -> Iterator[None]:
    """One source's run: rows written belong to `name`, reads see `name` only."""
    token, read = _SOURCE.set(name), _READ.set((name,))
    try:
        yield
    finally:
        _READ.reset(read)
        _SOURCE.reset(token)


def set_read_sources(names: Sequence[str] | None) -> None:
    """Reads from now on in this context see `names` only (None or empty: every source)."""
    _READ.set(tuple(names) if names else None)


@contextmanager
def use_read_sources(names: Sequence[str] | None) -> Iterator[None]:
    """Reads within the block see `names` only (None or empty: every source)."""
    token = _READ.set(tuple(names) if names else None)
    try:
        yield
    finally:
        _READ.reset(token)


def scope_sql(sql: str) -> tuple[str, dict[str, Any]]:
    """`sql` narrowed to the sources reads see, and the parameters that narrowing binds
    (unchanged and none when reads see every source)."""
    names = read_sources()
    if names is None:
        return sql, {}
    params = {f"scope_{i}": name for i, name in enumerate(names)}
    wanted = ", ".join(f":{key}" for key in params)

    def narrowed(match: re.Match[str]) -> str:
        keyword, table, alias = match.group(1), match.group(2), match.group(3)
        return f"{keyword} (SELECT * FROM {table} WHERE source IN ({wanted})) {alias or table}"

    return _TABLE.sub(narrowed, sql), params
