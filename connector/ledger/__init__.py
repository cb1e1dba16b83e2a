"""The local ledger: what the connector knows of every task, and how it learned it.

- `db`: opening a ledger to write (SQLite or PostgreSQL through SQLAlchemy), its schema kept
  current by alembic migrations (``migrations/``), `upgrade` and `current_revision` for
  ``idesk-connector db upgrade``; `schema`: where a schema stands, read without alembic;
- `reader`: reading with plain SQL, over a read-only DB-API connection (the commands that only
  read, without SQLAlchemy) or a session; `location`: the ledger URL, shown without a password;
- `tables`: the tables (SQLModel); `columns`: the task table's columns derived from the models,
  and the conversions between a task and its row; `values`: column values by type; `types`: the
  UTC instant column type; `codec`: a normalised task as canonical JSON;
- the SQL of each concept: `pages` (writing a page of records), `tasks`, `history`,
  `quarantine`, `units`, `cursor`, `outbox`, `runs`; `repo` names them all in one namespace.

The names below load on first use, so ``import connector.ledger.reader`` does not load
SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("connector.ledger.db"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
