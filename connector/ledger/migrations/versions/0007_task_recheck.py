"""When a task's classification must be looked at again (issue 15: a run's cost grows with
what changed, not with the number of tasks).

* ``task.recheck_on``: the first local date on which the task's classification, suggestion or
  outbox plan can differ from the one last computed; NULL: classify it on the next run (a new
  or changed task, a kind override, a delivered tracking status). NULL for every task already
  in the ledger, so the first run after the upgrade classifies them all.
* ``task.classify_key``: a digest of what the classification was computed with (the rules'
  version, the deadline, alert and push settings, the calendar, the units); a task whose key
  differs from the run's is classified again whatever its date.

Revision ID: 0007
Revises: 0006
Create Date: 2022-03-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    # Plain ADD COLUMNs on both dialects: a batch copy of ``task`` on SQLite would trip the
    # foreign keys of the tables that reference it.
    op.add_column("task", sa.Column("recheck_on", sa.Date(), nullable=True))
    op.add_column(
        "task", sa.Column("classify_key", sa.String(), nullable=False, server_default="")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite 3.35+ drops a plain column in place (no copy of ``task``, see upgrade).
        op.execute("ALTER TABLE task DROP COLUMN classify_key")
        op.execute("ALTER TABLE task DROP COLUMN recheck_on")
    else:
        op.drop_column("task", "classify_key")
        op.drop_column("task", "recheck_on")
