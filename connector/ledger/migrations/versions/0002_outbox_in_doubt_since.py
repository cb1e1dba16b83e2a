"""Outbox: remember that a send may have reached the source, across operator retries.

``outbox.in_doubt_since`` is the first time a request for the row may have reached the source.
Existing rows that were ever claimed for sending (``sending_at`` set) get their creation time,
which is never later than their first send: the conservative choice for the idempotency window.

Revision ID: 0002
Revises: 0001
Create Date: 2022-03-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("in_doubt_since", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE outbox SET in_doubt_since = created_at "
        "WHERE in_doubt_since IS NULL AND sending_at IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("in_doubt_since")
