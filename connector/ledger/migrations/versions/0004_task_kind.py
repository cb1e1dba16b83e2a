"""Judging tasks against the right deadline, and an administrator's choice of a task's kind.

* ``task.extended_after_overdue``: a deadline change in force was made after the deadline it
  replaced had passed ("gia hạn sau khi đã quá hạn"). False until the next classification
  fills it.
* ``task_kind``: an administrator's override of a task's kind, product or routine
  (``tasks kind``), with who set it, when and why.

Revision ID: 0004
Revises: 0003
Create Date: 2022-03-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    # A plain ADD COLUMN on both dialects: a batch copy of ``task`` on SQLite would trip the
    # foreign keys of the tables that reference it.
    op.add_column(
        "task",
        sa.Column(
            "extended_after_overdue", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    op.create_table(
        "task_kind",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("set_by", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.source_id"], name="fk_task_kind_task"),
        sa.PrimaryKeyConstraint("task_id"),
    )


def downgrade() -> None:
    op.drop_table("task_kind")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a plain column in place (no copy of ``task``, see upgrade).
        op.execute("ALTER TABLE task DROP COLUMN extended_after_overdue")
    else:
        op.drop_column("task", "extended_after_overdue")
