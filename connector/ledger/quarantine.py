"""Quarantined records: what could not be normalised or stored, until it arrives valid.

Records go in and out of quarantine while a page is written (`connector.ledger.pages`); here is
what the operator reads of them (``quarantine list``, ``status``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.ledger.reader import reading
from connector.ledger.values import record

if TYPE_CHECKING:
    from connector.ledger.reader import Db


@dataclass(frozen=True)
class QuarantineEntry:
    """One ``quarantine`` row: a record, the field and value at fault, and why."""

    id: int
    record_key: str
    task_id: int | None
    field: str
    bad_value: str
    reason: str
    raw_json: str
    first_seen_at: datetime
    last_seen_at: datetime
    first_run: str
    last_run: str
    attempts: int
    resolved_at: datetime | None
    resolved_run: str


def list_quarantine(db: Db, include_resolved: bool = False) -> list[QuarantineEntry]:
    """Quarantined records, oldest first (resolved ones only when asked)."""
    sql = "SELECT * FROM quarantine"
    if not include_resolved:
        sql += " WHERE resolved_at IS NULL"
    with reading(db) as r:
        return [record(QuarantineEntry, row) for row in r.rows(sql + " ORDER BY id")]


def quarantine_counts(db: Db) -> tuple[int, int]:
    """How many quarantined records are open (not resolved), and how many resolved."""
    sql = (
        "SELECT count(*) AS total, "
        "coalesce(sum(CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END), 0) AS open "
        "FROM quarantine"
    )
    with reading(db) as r:
        row = r.first(sql) or {"total": 0, "open": 0}
    total, still = int(row["total"]), int(row["open"])
    return still, total - still
