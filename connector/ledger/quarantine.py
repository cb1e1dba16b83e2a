"""Quarantined records: what could not be normalised or stored, until it arrives valid.

Records go in and out of quarantine while a page is written (`connector.ledger.pages`); here is
what the operator reads of them (``quarantine list``, ``status``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.clock import to_utc
from connector.ledger.reader import in_list, reading
from connector.ledger.values import record

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db

REFUSED_FIELD = "@detail"
"""The ``field`` of a quarantine row for a document the source refuses to the reading account
(its detail call answered HTTP 403): no field of the record is at fault, the record was never
read."""

REFUSED_REASON = "the source refuses this document to the account (HTTP 403)"
"""The ``reason`` stored for such a document (shown translated by ``quarantine list``)."""


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


def refused_ids(db: Db, source: str, ids: Sequence[int]) -> set[int]:
    """Of these documents, those already in quarantine (unresolved) as refused to the account."""
    if not ids:
        return set()
    names, params = in_list("id", list(ids))
    sql = (
        "SELECT task_id FROM quarantine WHERE source = :source AND field = :field "
        f"AND resolved_at IS NULL AND task_id IN ({names})"
    )
    with reading(db) as r:
        rows = r.rows(sql, {"source": source, "field": REFUSED_FIELD, **params})
    return {int(row["task_id"]) for row in rows}


def resolve_refused(
    session: Session, *, source: str, ids: Sequence[int], run_id: str, now: datetime
) -> int:
    """Resolve the refusals of these documents (their detail answered: the account may read
    them now); how many rows changed. A document stored before its refusal, and unchanged
    since, is not written again, so its refusal would not be resolved otherwise."""
    if not ids:
        return 0
    from sqlalchemy import update  # noqa: PLC0415 - writing

    from connector.ledger.tables import QuarantineRow  # noqa: PLC0415

    table = QuarantineRow.__table__  # type: ignore[attr-defined]
    result = session.execute(
        update(table)
        .where(
            table.c.source == source,
            table.c.field == REFUSED_FIELD,
            table.c.resolved_at.is_(None),
            table.c.task_id.in_(list(ids)),
        )
        .values(resolved_at=to_utc(now), resolved_run=run_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
