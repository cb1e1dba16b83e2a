"""The snapshot strategy's list items: ``snapshot_item``.

A source read with ``[sync] strategy = "snapshot"`` (iDesk 6: no modified-since filter) keeps,
per list item, a content hash, the item itself, when its detail was last read and whether it is
still listed, so a run reads only the details of new or changed items (and a share of the
oldest checked).

Revision ID: 0005
Revises: 0004
Create Date: 2026-07-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from connector.ledger.types import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    op.create_table(
        "snapshot_item",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("item_id", sa.String(), nullable=False),
        sa.Column("list_hash", sa.String(), nullable=False),
        sa.Column("list_json", sa.Text(), nullable=False),
        sa.Column("listed", sa.Boolean(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("checked_run", sa.String(), nullable=False),
        sa.Column("first_seen_run", sa.String(), nullable=False),
        sa.Column("left_at", UTCDateTime(), nullable=True),
        sa.Column("left_run", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("source", "item_id"),
    )
    op.create_index(
        "ix_snapshot_item_checked", "snapshot_item", ["source", "listed", "checked_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_snapshot_item_checked", table_name="snapshot_item")
    op.drop_table("snapshot_item")
