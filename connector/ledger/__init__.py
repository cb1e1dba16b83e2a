"""The local ledger: what the connector knows of every task, and how it learned it.

- `db`: opening a ledger (SQLite or PostgreSQL), its schema kept current by alembic migrations
  (``migrations/``), `upgrade` and `current_revision` for ``idesk-connector db upgrade``;
- `tables`: the tables (SQLModel); `types`: the UTC instant column type;
- `repo`: reading and writing tasks with their history and snapshots, quarantine, units, cursor;
- `codec`: a normalised task as canonical JSON (snapshots and content hashes).
"""

from __future__ import annotations

from connector.ledger.db import (
    Ledger,
    UpgradeResult,
    current_revision,
    head_revision,
    open_ledger,
    redact_url,
    upgrade,
)

__all__ = [
    "Ledger",
    "UpgradeResult",
    "current_revision",
    "head_revision",
    "open_ledger",
    "redact_url",
    "upgrade",
]
