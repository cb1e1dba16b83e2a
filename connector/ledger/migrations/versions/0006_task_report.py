"""Every progress report date of a task seen, for recurring obligations (issue 12).

* ``task_report``: each ``lastReportDateStr`` the connector has read for a task (the source keeps
  only the latest), with when it was first seen; the occurrences of a recurring obligation
  ("báo cáo định kỳ hằng tháng trước ngày 20") are judged by them. Filled from the snapshots
  already in the ledger: each distinct ``last_report_at`` they hold, observed when its first
  snapshot was.

Revision ID: 0006
Revises: 0005
Create Date: 2022-03-07
"""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None
release = "0.1.0"  # the idesk-connector release that first ships it (docs/install.md)

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
BATCH = 2000


def utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _instant(value: object) -> datetime:
    """A stored instant (a datetime, or SQLite's text) as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


def _day(value: object) -> date:
    """A stored date (a date, or SQLite's text) as a date."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def upgrade() -> None:
    op.create_table(
        "task_report",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("reported_at", utc(), nullable=False),
        sa.Column("reported_on", sa.Date(), nullable=False),
        sa.Column("observed_at", utc(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["task.source_id"], name="fk_task_report_task"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "reported_at", name="uq_task_report"),
    )
    _report_dates_from_snapshots()


def _report_dates_from_snapshots() -> None:
    """Each distinct ``last_report_at`` of a task's snapshots, first observation first."""
    bind = op.get_bind()
    snapshots = sa.table(
        "task_snapshot",
        sa.column("id", sa.BigInteger()),
        sa.column("task_id", sa.BigInteger()),
        sa.column("run_id", sa.String()),
        sa.column("observed_at", utc()),
        sa.column("observed_on", sa.Date()),
        sa.column("normalised_json", sa.Text()),
    )
    reports = sa.table(
        "task_report",
        sa.column("task_id", sa.BigInteger()),
        sa.column("reported_at", utc()),
        sa.column("reported_on", sa.Date()),
        sa.column("observed_at", utc()),
        sa.column("observed_on", sa.Date()),
        sa.column("run_id", sa.String()),
    )
    seen: set[tuple[int, datetime]] = set()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(snapshots).where(snapshots.c.id > after).order_by(snapshots.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        new: list[dict[str, object]] = []
        for row in rows:
            raw = json.loads(row.normalised_json).get("last_report_at")
            if not raw:
                continue
            reported = _instant(raw)
            key = (int(row.task_id), reported)
            if key in seen:
                continue
            seen.add(key)
            new.append(
                {
                    "task_id": row.task_id,
                    "reported_at": reported,
                    "reported_on": reported.astimezone(LOCAL).date(),
                    "observed_at": _instant(row.observed_at),
                    "observed_on": _day(row.observed_on),
                    "run_id": row.run_id or "",
                }
            )
        if new:
            bind.execute(sa.insert(reports), new)
        after = rows[-1].id


def downgrade() -> None:
    op.drop_table("task_report")
