"""The incremental cursor: per source, the ``lastModifyStr`` up to which everything was read.

The cursor is saved in the transaction of the page it covers (`save_cursor`), so a crash never
skips a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.clock import to_utc
from connector.ledger.reader import reading
from connector.ledger.values import record

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db


@dataclass(frozen=True)
class CursorState:
    """The ``sync_state`` row of a source."""

    source: str
    cursor: datetime | None
    last_full_at: datetime | None
    updated_at: datetime | None
    updated_run: str


def get_sync_state(db: Db, source: str) -> CursorState | None:
    """The cursor row of a source (None before the first page was written)."""
    with reading(db) as r:
        row = r.first("SELECT * FROM sync_state WHERE source = :source", {"source": source})
    return record(CursorState, row) if row is not None else None


def get_cursor(db: Db, source: str) -> datetime | None:
    """The source's ``lastModifyStr`` up to which everything was read (None: never read)."""
    state = get_sync_state(db, source)
    return state.cursor if state is not None else None


def save_cursor(
    session: Session,
    source: str,
    cursor: datetime | None,
    *,
    run_id: str,
    now: datetime,
    full_done: bool = False,
) -> None:
    """Store the cursor (in the caller's transaction: the one of the page it covers)."""
    from connector.ledger.tables import SyncState  # noqa: PLC0415 - writing: the ORM

    state = session.get(SyncState, source)
    if state is None:
        state = SyncState(source=source)
        session.add(state)
    state.cursor = to_utc(cursor) if cursor is not None else None
    state.updated_at = to_utc(now)
    state.updated_run = run_id
    if full_done:
        state.last_full_at = to_utc(now)
