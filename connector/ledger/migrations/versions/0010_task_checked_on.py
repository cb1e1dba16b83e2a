"""The as-of date a task's stored verdict was judged for (issue 15: an unchanged task is not
judged again until its verdict can change by the date).

* ``task.checked_on``: the as-of date the classification step last judged the task for; its
  stored verdict holds from that day until the day before ``recheck_on``, which is now the first
  date the verdict can change by the date alone (`connector.rules.recheck`), no longer always
  the next day. NULL: judge it on the next run.

NULL for every task already in the ledger, whose ``recheck_on`` is cleared so that the first run
after the upgrade judges every task again and stamps both dates.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    # A plain ADD COLUMN on both dialects (as 0007): a batch copy of ``task`` on SQLite would
    # trip the foreign keys of the tables that reference it.
    op.add_column("task", sa.Column("checked_on", sa.Date(), nullable=True))
    op.execute("UPDATE task SET recheck_on = NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a plain column in place (no copy of ``task``, see upgrade).
        op.execute("ALTER TABLE task DROP COLUMN checked_on")
    else:
        op.drop_column("task", "checked_on")
