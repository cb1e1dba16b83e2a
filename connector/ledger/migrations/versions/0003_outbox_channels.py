"""Outbox: alerts delivered by e-mail digests and webhooks as well as to the source.

``outbox.routed_at`` is when an alert row was handed to its channels (`connector.outbox.routing`);
rows that exist before this revision are left unrouted: the pending ones are routed by the next
run (by default to the source alone, as before), the others were delivered or decided already.
``outbox_digest_item`` lists which alert goes into which unit's e-mail digest (``digest_id``
empty until the digest row is made).

Revision ID: 0003
Revises: 0002
Create Date: 2022-03-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "outbox_digest_item",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(), nullable=False),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["outbox.id"], name="fk_digest_item_alert"),
        sa.ForeignKeyConstraint(["digest_id"], ["outbox.id"], name="fk_digest_item_digest"),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_digest_item"),
        sa.UniqueConstraint("alert_id", "unit_code", name="uq_digest_item_alert_unit"),
    )
    op.create_index(
        "ix_digest_item_unit_digest", "outbox_digest_item", ["unit_code", "digest_id"]
    )
    op.create_index("ix_digest_item_digest", "outbox_digest_item", ["digest_id"])


def downgrade() -> None:
    op.drop_table("outbox_digest_item")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("routed_at")
