"""Sources as a first-class part of the ledger (issue 16): several document systems, one ledger.

* ``source`` on ``task``, ``task_history``, ``task_snapshot``, ``task_report``, ``task_kind``,
  ``unit``, ``quarantine``, ``outbox`` and ``sync_run`` (``sync_state`` and ``snapshot_item``
  had it already). Existing rows get the ledger's one source: the name of its only cursor
  (``sync_state.source``, the ``source.name`` it was synced with), else ``idesk`` (the default
  ``source.name``).
* Ids are unique per source only: ``task`` is keyed by ``(source, source_id)``, ``task_kind`` by
  ``(source, task_id)``, ``unit`` by ``(source, code)``; the task tables refer to their task by
  ``(source, task_id)``; ``quarantine.record_key``, ``outbox.idempotency_key`` and
  ``task_report (task_id, reported_at)`` are unique per source.
* Indexes ``(source, lead_unit_code, state)``, ``(source, source_modified)`` and ``source_id``
  (reads over every source page by id, as before) on ``task`` (the key is the
  ``(source, source_id)`` index).

SQLite copies each table (batch mode) with its foreign keys switched off for the migration
(`connector.ledger.db`), then checks them (``PRAGMA foreign_key_check``) before committing.
Downgrade refuses a ledger that holds more than one source.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from connector.errors import LedgerError

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)

DEFAULT_SOURCE = "idesk"
TABLES = (
    "task",
    "task_history",
    "task_snapshot",
    "task_report",
    "task_kind",
    "unit",
    "quarantine",
    "outbox",
    "sync_run",
)
TASK_TABLES = ("task_history", "task_snapshot", "task_report", "task_kind")
# (table, name, columns before, columns after)
UNIQUES = (
    ("quarantine", "uq_quarantine_record_key", ["record_key"], ["source", "record_key"]),
    ("outbox", "uq_outbox_idempotency_key", ["idempotency_key"], ["source", "idempotency_key"]),
    (
        "task_report",
        "uq_task_report",
        ["task_id", "reported_at"],
        ["source", "task_id", "reported_at"],
    ),
)
PK_NAMES = {"task": "pk_task", "unit": "pk_unit", "task_kind": "task_kind_pkey"}
"""The primary keys' names on PostgreSQL (0001 named them; 0004 left task_kind's to the server)."""
PRIMARY = (
    ("task", ["source_id"], ["source", "source_id"]),
    ("task_kind", ["task_id"], ["source", "task_id"]),
    ("unit", ["code"], ["source", "code"]),
)
INDEXES = (
    ("ix_task_by_source_lead_state", ["source", "lead_unit_code", "state"]),
    ("ix_task_by_source_modified", ["source", "source_modified"]),
    ("ix_task_source_id", ["source_id"]),  # reads over every source page by id alone
)


def _ledger_source() -> str:
    names = op.get_bind().execute(sa.text("SELECT source FROM sync_state")).scalars().all()
    return str(names[0]) if len(names) == 1 else DEFAULT_SOURCE


def _fk(table: str, *, composite: bool) -> tuple[str, str, list[str], list[str]]:
    if composite:
        return f"fk_{table}_task", "task", ["source", "task_id"], ["source", "source_id"]
    return f"fk_{table}_task", "task", ["task_id"], ["source_id"]


def _check_sqlite_keys() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        broken = bind.execute(sa.text("PRAGMA foreign_key_check")).all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the migration: {broken[:5]}")


def upgrade() -> None:
    name = _ledger_source()
    if op.get_bind().dialect.name == "sqlite":
        _upgrade_sqlite(name)
    else:
        _upgrade_postgresql(name)
    for index, columns in INDEXES:
        op.create_index(index, "task", columns)
    _check_sqlite_keys()


def _source_column(name: str) -> sa.Column[str]:
    return sa.Column("source", sa.String(), nullable=False, server_default=name)


@contextmanager
def _new_primary_key() -> Iterator[None]:
    """A batch copy that changes a primary key: SQLAlchemy warns that the copy's key differs
    from the reflected one, which is the point."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*specifies columns .* as primary_key=True")
        yield


def _upgrade_sqlite(name: str) -> None:
    primary = {table: after for table, _, after in PRIMARY}
    uniques = {table: (uq, after) for table, uq, _, after in UNIQUES}
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.add_column(_source_column(name))
            if table in TASK_TABLES:
                batch.drop_constraint(f"fk_{table}_task", type_="foreignkey")
            if table in uniques:
                batch.drop_constraint(uniques[table][0], type_="unique")
        with _new_primary_key(), op.batch_alter_table(table, recreate="always") as batch:
            batch.alter_column("source", server_default=DEFAULT_SOURCE)
            if table in primary:
                batch.create_primary_key(PK_NAMES[table], primary[table])
            if table in uniques:
                batch.create_unique_constraint(uniques[table][0], uniques[table][1])
            if table in TASK_TABLES:
                batch.create_foreign_key(*_fk(table, composite=True))


def _upgrade_postgresql(name: str) -> None:
    for table in TASK_TABLES:
        op.drop_constraint(f"fk_{table}_task", table, type_="foreignkey")
    for table in TABLES:
        op.add_column(table, _source_column(name))
        op.alter_column(table, "source", server_default=DEFAULT_SOURCE)
    for table, _, after in PRIMARY:
        op.drop_constraint(PK_NAMES[table], table, type_="primary")
        op.create_primary_key(PK_NAMES[table], table, after)
    for table, uq, _, after in UNIQUES:
        op.drop_constraint(uq, table, type_="unique")
        op.create_unique_constraint(uq, table, after)
    for table in TASK_TABLES:
        fk, parent, local, remote = _fk(table, composite=True)
        op.create_foreign_key(fk, table, parent, local, remote)


def downgrade() -> None:
    bind = op.get_bind()
    count = bind.execute(sa.text("SELECT COUNT(DISTINCT source) FROM task")).scalar_one()
    if count > 1:
        raise LedgerError(
            "the ledger holds tasks of several sources; a ledger before revision 0008 holds "
            "one: keep this revision, or restore a backup taken before the upgrade"
        )
    for index, _ in INDEXES:
        op.drop_index(index, "task")
    if bind.dialect.name == "sqlite":
        _downgrade_sqlite()
    else:
        _downgrade_postgresql()
    _check_sqlite_keys()


def _downgrade_sqlite() -> None:
    primary = {table: before for table, before, _ in PRIMARY}
    uniques = {table: (uq, before) for table, uq, before, _ in UNIQUES}
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always") as batch:
            if table in TASK_TABLES:
                batch.drop_constraint(f"fk_{table}_task", type_="foreignkey")
            if table in uniques:
                batch.drop_constraint(uniques[table][0], type_="unique")
        with _new_primary_key(), op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_column("source")
            if table in primary:
                batch.create_primary_key(PK_NAMES[table], primary[table])
            if table in uniques:
                batch.create_unique_constraint(uniques[table][0], uniques[table][1])
            if table in TASK_TABLES:
                batch.create_foreign_key(*_fk(table, composite=False))


def _downgrade_postgresql() -> None:
    for table in TASK_TABLES:
        op.drop_constraint(f"fk_{table}_task", table, type_="foreignkey")
    for table, uq, before, _ in UNIQUES:
        op.drop_constraint(uq, table, type_="unique")
        op.create_unique_constraint(uq, table, before)
    for table, before, _ in PRIMARY:
        op.drop_constraint(PK_NAMES[table], table, type_="primary")
        op.create_primary_key(PK_NAMES[table], table, before)
    for table in TABLES:
        op.drop_column(table, "source")
    for table in TASK_TABLES:
        fk, parent, local, remote = _fk(table, composite=False)
        op.create_foreign_key(fk, table, parent, local, remote)
