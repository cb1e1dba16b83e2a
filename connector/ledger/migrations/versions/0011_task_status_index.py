"""The task table's counts by stored status read from an index (issue 15).

* ``ix_task_status_deleted`` on ``task (status_code, deleted_at_source)`` replaces
  ``ix_task_status_code`` (its first column: every query by status still uses it). ``status``
  counts the tasks by status and by deletion at the source from this index alone; it read the
  whole task table, raw JSON and all (0.36 s of a 100,000-task ledger's ``status``).

No data changes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    op.create_index("ix_task_status_deleted", "task", ["status_code", "deleted_at_source"])
    op.drop_index("ix_task_status_code", table_name="task")


def downgrade() -> None:
    op.create_index("ix_task_status_code", "task", ["status_code"])
    op.drop_index("ix_task_status_deleted", table_name="task")
