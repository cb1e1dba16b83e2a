"""Initial ledger schema: tasks, their history and snapshots, sync state and runs, quarantine,
units and the outbox.

Revision ID: 0001
Revises:
Create Date: 2022-03-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)

# 64-bit ids on PostgreSQL; SQLite autoincrements only an INTEGER PRIMARY KEY.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utc() -> sa.DateTime:
    """Instants are UTC (timestamptz on PostgreSQL); the application refuses naive values."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "task",
        sa.Column("source_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ed_id", sa.BigInteger(), nullable=True),
        sa.Column("sign_number", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("publisher_code", sa.String(), nullable=False),
        sa.Column("signer", sa.String(), nullable=False),
        sa.Column("position", sa.String(), nullable=False),
        sa.Column("doc_date", sa.Date(), nullable=True),
        sa.Column("steering_type", sa.Integer(), nullable=True),
        sa.Column("steering_by", sa.String(), nullable=False),
        sa.Column("steering_content", sa.Text(), nullable=False),
        sa.Column("lead_unit_code", sa.String(), nullable=False),
        sa.Column("lead_unit_name", sa.String(), nullable=False),
        sa.Column("coordinators_json", sa.Text(), nullable=False),
        sa.Column("assigned_at", utc(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("original_deadline", sa.Date(), nullable=True),
        sa.Column("deadline_changes_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("source_status", sa.String(), nullable=False),
        sa.Column("completed_at", utc(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("last_report_at", utc(), nullable=True),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("confirmed_at", utc(), nullable=True),
        sa.Column("source_tracking_status", sa.String(), nullable=False),
        sa.Column("source_modified", utc(), nullable=False),
        sa.Column("deleted_at_source", sa.Boolean(), nullable=False),
        sa.Column("deleted_reason", sa.String(), nullable=False),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("first_seen_run", sa.String(), nullable=False),
        sa.Column("last_seen_run", sa.String(), nullable=False),
        sa.Column("last_full_run", sa.String(), nullable=False),
        sa.Column("first_seen_at", utc(), nullable=True),
        sa.Column("updated_at", utc(), nullable=True),
        sa.Column("status_code", sa.String(), nullable=True),
        sa.Column("eff_due", sa.Date(), nullable=True),
        sa.Column("days_overdue", sa.Integer(), nullable=False),
        sa.Column("working_days_overdue", sa.Integer(), nullable=False),
        sa.Column("working_days_left", sa.Integer(), nullable=True),
        sa.Column("due_soon", sa.Boolean(), nullable=False),
        sa.Column("overdue_over_30", sa.Boolean(), nullable=False),
        sa.Column("stale_no_deadline", sa.Boolean(), nullable=False),
        sa.Column("unconfirmed", sa.Boolean(), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("classified_on", sa.Date(), nullable=True),
        sa.Column("suggested_deadline", sa.Date(), nullable=True),
        sa.Column("suggested_phrase", sa.String(), nullable=False),
        sa.Column("suggested_recurrence", sa.String(), nullable=False),
        sa.Column("acked_tracking_status", sa.String(), nullable=False),
        sa.Column("acked_eff_due", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("source_id", name="pk_task"),
    )
    op.create_index("ix_task_lead_unit_code", "task", ["lead_unit_code"])
    op.create_index("ix_task_state", "task", ["state"])
    op.create_index("ix_task_source_modified", "task", ["source_modified"])
    op.create_index("ix_task_status_code", "task", ["status_code"])

    op.create_table(
        "task_history",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=False),
        sa.Column("new_value", sa.Text(), nullable=False),
        sa.Column("observed_at", utc(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("source_modified", utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_task_history"),
        sa.ForeignKeyConstraint(["task_id"], ["task.source_id"], name="fk_task_history_task"),
    )
    op.create_index("ix_task_history_task_effective", "task_history", ["task_id", "effective_on"])
    op.create_index("ix_task_history_field_effective", "task_history", ["field", "effective_on"])

    op.create_table(
        "task_snapshot",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("observed_at", utc(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("source_modified", utc(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("normalised_json", sa.Text(), nullable=False),
        sa.Column("deleted_at_source", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_snapshot"),
        sa.ForeignKeyConstraint(["task_id"], ["task.source_id"], name="fk_task_snapshot_task"),
    )
    op.create_index("ix_task_snapshot_task_observed", "task_snapshot", ["task_id", "observed_on"])

    op.create_table(
        "sync_state",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("cursor", utc(), nullable=True),
        sa.Column("last_full_at", utc(), nullable=True),
        sa.Column("updated_at", utc(), nullable=True),
        sa.Column("updated_run", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_sync_state"),
    )

    op.create_table(
        "sync_run",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("command", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("ended_at", utc(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("counts_json", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_sync_run"),
    )
    op.create_index("ix_sync_run_started_at", "sync_run", ["started_at"])

    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("record_key", sa.String(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("field", sa.String(), nullable=False),
        sa.Column("bad_value", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw_json", sa.Text(), nullable=False),
        sa.Column("first_seen_at", utc(), nullable=False),
        sa.Column("last_seen_at", utc(), nullable=False),
        sa.Column("first_run", sa.String(), nullable=False),
        sa.Column("last_run", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("resolved_at", utc(), nullable=True),
        sa.Column("resolved_run", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.UniqueConstraint("record_key", name="uq_quarantine_record_key"),
    )
    op.create_index("ix_quarantine_task_id", "quarantine", ["task_id"])
    op.create_index("ix_quarantine_resolved_at", "quarantine", ["resolved_at"])

    op.create_table(
        "unit",
        sa.Column("code", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("parent_code", sa.String(), nullable=False),
        sa.Column("updated_at", utc(), nullable=True),
        sa.PrimaryKeyConstraint("code", name="pk_unit"),
    )

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_type", sa.String(), nullable=False),
        sa.Column("occasion", sa.String(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_run", sa.String(), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("sending_at", utc(), nullable=True),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("response_id", sa.String(), nullable=False),
        sa.Column("superseded_by", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("idempotency_key", name="uq_outbox_idempotency_key"),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_task_id", "outbox", ["task_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("unit")
    op.drop_table("quarantine")
    op.drop_table("sync_run")
    op.drop_table("sync_state")
    op.drop_table("task_snapshot")
    op.drop_table("task_history")
    op.drop_table("task")
