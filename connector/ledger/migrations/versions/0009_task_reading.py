"""What the classification step read from a task's text, stored beside its classification
(issue 15: the report of the current day reads what the pull stored instead of reading the text
again).

* ``task.kind_read``, ``task.kind_source``, ``task.kind_words_json``: the kind the rule reads in
  the task's words (`connector.rules.kinds.read_kind`: ``product`` / ``routine``), where it was
  read from (``override`` when an administrator's override hid it) and the words; ``""``: not
  read yet (a task classified before this revision).
* ``task.recurrence_rule_json``: the recurrence rule of the deadline suggested from the text
  (`connector.rules.phrases.Recurrence`, as JSON), ``""`` for none.

Written by the classification step in the statement that writes the classification; empty for
every task already in the ledger, whose ``recheck_on`` is cleared so that the first run after the
upgrade classifies every task again and writes them (the report reads the text of a task until
then).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)

COLUMNS = (
    ("kind_read", ""),
    ("kind_source", ""),
    ("kind_words_json", "[]"),
    ("recurrence_rule_json", ""),
)


def upgrade() -> None:
    # Plain ADD COLUMNs on both dialects (as 0007): a batch copy of ``task`` on SQLite would
    # trip the foreign keys of the tables that reference it.
    for name, default in COLUMNS:
        op.add_column("task", sa.Column(name, sa.String(), nullable=False, server_default=default))
    op.execute("UPDATE task SET recheck_on = NULL")


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite 3.35+ drops a plain column in place (no copy of ``task``, see upgrade).
            op.execute(f"ALTER TABLE task DROP COLUMN {name}")
        else:
            op.drop_column("task", name)
