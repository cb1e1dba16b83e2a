"""The ledger's tables (SQLModel). Schema changes go through alembic migrations only.

To change a table, edit it here AND add a migration under ``migrations/versions/`` (next number,
``down_revision`` = the previous one);
``tests/integration/test_ledger_db.py::test_migrations_match_the_models`` fails, on SQLite and
PostgreSQL, while the two disagree.

- ``task``: the normalised current state of every task, its raw source JSON, a content hash,
  first/last seen run, its current deadline classification and what the source last acknowledged.
  Its columns for the task's fields and for the classification are derived from
  `NormalisedTask` and `Classification` (`connector.ledger.columns`): a field added there needs
  only its migration.
- ``task_history``: one row per change of a tracked field (status, deadline, completion,
  confirmation, lead unit, deletion, computed status) with run, source ``lastModifyStr``, the local
  date observed and the local date it took effect.
- ``task_snapshot``: the normalised task as it was at each content change (rebuilds any past day).
- ``sync_state``: the incremental cursor per source.
- ``sync_run``: every run with its outcome and counts.
- ``quarantine``: records that could not be normalised, until they arrive valid.
- ``unit``: the province's units as the source lists them.
- ``outbox``: every intent to write to the source (tracking status, alerts), delivered once;
  and, for the other channels, the e-mail digests and webhook posts made from the alerts.
- ``outbox_digest_item``: which alert goes into which unit's e-mail digest.
- ``task_report``: every progress report date of a task the connector has seen (each
  ``lastReportDateStr`` it ever read), which the occurrences of a recurring obligation are judged
  by (`connector.rules.recurring`).
- ``task_kind``: an administrator's choice of a task's kind, product or routine
  (``tasks kind``), with who set it, when and why; each change is also a history row.
- ``snapshot_item``: the snapshot strategy's list items per source: a content hash of each,
  when its detail was last read, and whether it is still listed.

Sources (revision 0008, issue 16): every row of ``task``, ``task_history``,
``task_snapshot``, ``task_report``, ``task_kind``, ``unit``, ``quarantine``, ``outbox`` and
``sync_run`` carries its ``source`` (the ``source.name`` / ``[[sources]] name`` it came
from; ``sync_state`` and ``snapshot_item`` were keyed by it already). Ids are unique per source
only: composite natural keys, no surrogate key — ``task`` is keyed by ``(source, source_id)``,
the task tables refer to it by the composite foreign key ``(source, task_id)``, ``task_kind``
by ``(source, task_id)``, ``unit`` by ``(source, code)``; ``quarantine.record_key`` and
``outbox.idempotency_key`` are unique per source. A row written without a ``source`` gets the
source in scope (`connector.ledger.scope`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from connector.ledger.columns import CLASSIFICATION_COLUMNS, REQUIRED, SOURCE_COLUMNS, ColumnSpec
from connector.ledger.scope import DEFAULT_SOURCE, current_source
from connector.ledger.types import UTCDateTime


def _utc(nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


# 64-bit ids on PostgreSQL; SQLite needs exactly INTEGER PRIMARY KEY to autoincrement (rowid).
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def _big_id() -> Column[int]:
    return Column(_BIG_ID, primary_key=True, autoincrement=True)


def _task_fk(table: str) -> Column[int]:
    # No separate index: each table has a composite index that starts with task_id. The foreign
    # key is (source, task_id) -> task (source, source_id): `_task_ref`.
    return Column(BigInteger, nullable=False)


def _task_ref(table: str) -> ForeignKeyConstraint:
    """The composite foreign key of a task table to its task."""
    return ForeignKeyConstraint(
        ["source", "task_id"], ["task.source", "task.source_id"], name=f"fk_{table}_task"
    )


def _source_column(*, primary_key: bool = False) -> Column[str]:
    """The row's source; a row written without one gets the source in scope."""
    return Column(
        String,
        primary_key=primary_key,
        nullable=False,
        default=current_source,
        server_default=DEFAULT_SOURCE,
    )


# Column details the models do not say: 64-bit ids, long texts, indexes.
_BIG_INT = frozenset({"ed_id"})
_LONG_TEXT = frozenset({"subject", "steering_content"})
_INDEXED = frozenset({"lead_unit_code", "state", "source_modified"})


def _model_field(spec: ColumnSpec) -> tuple[Any, Any]:
    """The annotation and the SQLModel field of a column derived from a model field."""
    hint = spec.hint
    nullable = spec.nullable
    index = spec.name in _INDEXED
    default: Any = ... if spec.default is REQUIRED else spec.default
    if spec.json or spec.name in _LONG_TEXT:
        return hint, Field(default=default, sa_column=Column(Text, nullable=False))
    if spec.name in _BIG_INT:
        return hint, Field(default=default, sa_column=Column(BigInteger, nullable=nullable))
    if hint in (datetime, datetime | None):
        return hint, Field(default=default, sa_column=_utc(nullable=nullable, index=index))
    if index:
        return hint, Field(default=default, index=True)
    return hint, default


class TaskRow(SQLModel, table=True):
    """One task: its source columns and classification columns are derived from the models
    (`connector.ledger.columns`), the ledger's own bookkeeping is declared here."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_by_source_lead_state", "source", "lead_unit_code", "state"),
        Index("ix_task_by_source_modified", "source", "source_modified"),
        # Reads over every source page by id alone (a one-source ledger: as before 0008).
        Index("ix_task_source_id", "source_id"),
        # By status (a prefix), and ``status``'s counts read from the index alone (0011).
        Index("ix_task_status_deleted", "status_code", "deleted_at_source"),
    )

    source: str = Field(default_factory=current_source, sa_column=_source_column(primary_key=True))
    source_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    for _spec in (*SOURCE_COLUMNS, *CLASSIFICATION_COLUMNS):
        if _spec.name != "source_id":
            __annotations__[_spec.name], locals()[_spec.name] = _model_field(_spec)
    del _spec
    deleted_reason: str = ""
    raw_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    content_hash: str = ""
    first_seen_run: str = ""
    last_seen_run: str = ""
    # The last full read (`pull --full`) that listed this task; a full read marks the tasks it
    # did not list as deleted at the source (deleted_reason "missing").
    last_full_run: str = ""
    first_seen_at: datetime | None = Field(default=None, sa_column=_utc())
    updated_at: datetime | None = Field(default=None, sa_column=_utc())
    # The day the classification columns were computed for (with any change of them)
    classified_on: date | None = None
    # The first day its classification or outbox plan can change (None: on the next run), and
    # what it was computed with (`connector.rules.classify.classify_key`)
    recheck_on: date | None = None
    classify_key: str = ""
    # The as-of date the classification step last judged it for: its stored verdict holds
    # from that day until the day before ``recheck_on`` (`connector.rules.recheck`)
    checked_on: date | None = None
    # Push-back: what the source last acknowledged for this task
    acked_tracking_status: str = ""
    acked_eff_due: date | None = None


class TaskHistory(SQLModel, table=True):
    __tablename__ = "task_history"
    __table_args__ = (
        Index("ix_task_history_task_effective", "task_id", "effective_on"),
        Index("ix_task_history_field_effective", "field", "effective_on"),
        _task_ref("task_history"),
    )

    id: int | None = Field(default=None, sa_column=_big_id())
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    task_id: int = Field(sa_column=_task_fk("task_history"))
    run_id: str = ""
    field: str
    old_value: str = Field(default="", sa_column=Column(Text, nullable=False))
    new_value: str = Field(default="", sa_column=Column(Text, nullable=False))
    observed_at: datetime = Field(sa_column=_utc(nullable=False))
    observed_on: date
    effective_on: date
    source_modified: datetime | None = Field(default=None, sa_column=_utc())


class TaskSnapshot(SQLModel, table=True):
    __tablename__ = "task_snapshot"
    __table_args__ = (
        Index("ix_task_snapshot_task_observed", "task_id", "observed_on"),
        _task_ref("task_snapshot"),
    )

    id: int | None = Field(default=None, sa_column=_big_id())
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    task_id: int = Field(sa_column=_task_fk("task_snapshot"))
    run_id: str = ""
    observed_at: datetime = Field(sa_column=_utc(nullable=False))
    observed_on: date
    source_modified: datetime = Field(sa_column=_utc(nullable=False))
    content_hash: str
    normalised_json: str = Field(sa_column=Column(Text, nullable=False))
    deleted_at_source: bool = False


class SyncState(SQLModel, table=True):
    __tablename__ = "sync_state"

    source: str = Field(primary_key=True)
    cursor: datetime | None = Field(default=None, sa_column=_utc())
    last_full_at: datetime | None = Field(default=None, sa_column=_utc())
    updated_at: datetime | None = Field(default=None, sa_column=_utc())
    updated_run: str = ""


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"

    run_id: str = Field(primary_key=True)
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    command: str = ""
    trigger: str = "manual"
    started_at: datetime = Field(sa_column=_utc(nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=_utc())
    outcome: str = "running"
    counts_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    error: str = Field(default="", sa_column=Column(Text, nullable=False))
    dry_run: bool = False


class QuarantineRow(SQLModel, table=True):
    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "record_key", name="uq_quarantine_record_key"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    record_key: str
    task_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    field: str = ""
    bad_value: str = Field(default="", sa_column=Column(Text, nullable=False))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    first_seen_at: datetime = Field(sa_column=_utc(nullable=False))
    last_seen_at: datetime = Field(sa_column=_utc(nullable=False))
    first_run: str = ""
    last_run: str = ""
    attempts: int = 1
    resolved_at: datetime | None = Field(default=None, sa_column=_utc(index=True))
    resolved_run: str = ""


class UnitRow(SQLModel, table=True):
    __tablename__ = "unit"

    source: str = Field(default_factory=current_source, sa_column=_source_column(primary_key=True))
    code: str = Field(primary_key=True)
    name: str = ""
    kind: str = ""
    parent_code: str = ""
    updated_at: datetime | None = Field(default=None, sa_column=_utc())


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("source", "idempotency_key", name="uq_outbox_idempotency_key"),
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    idempotency_key: str
    kind: str  # "tracking" | "alert"
    task_id: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True)
    )
    alert_type: str = ""
    occasion: str = ""
    payload_json: str = Field(sa_column=Column(Text, nullable=False))
    state: str = "pending"  # pending | sending | sent | failed | dead | past | superseded
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc())
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_run: str = ""
    created_at: datetime = Field(sa_column=_utc(nullable=False))
    sending_at: datetime | None = Field(default=None, sa_column=_utc())
    sent_at: datetime | None = Field(default=None, sa_column=_utc())
    response_id: str = ""
    superseded_by: int | None = None
    # The first time a request for this row may have reached the source (set when the row is
    # first claimed for sending); never cleared, an operator's retry included: such a row is
    # reconciled with the source before it is sent again.
    in_doubt_since: datetime | None = Field(default=None, sa_column=_utc())
    # When an alert row was handed to its channels (`connector.outbox.routing`: webhook rows,
    # digest items); None: not yet.
    routed_at: datetime | None = Field(default=None, sa_column=_utc())


def _outbox_fk(name: str, *, nullable: bool) -> Column[int]:
    return Column(Integer, ForeignKey("outbox.id", name=name), nullable=nullable)


class DigestItem(SQLModel, table=True):
    """One alert bundled for one unit's e-mail digest (``digest_id`` None: not yet bundled)."""

    __tablename__ = "outbox_digest_item"
    __table_args__ = (
        UniqueConstraint("alert_id", "unit_code", name="uq_digest_item_alert_unit"),
        Index("ix_digest_item_unit_digest", "unit_code", "digest_id"),
        Index("ix_digest_item_digest", "digest_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(sa_column=_outbox_fk("fk_digest_item_alert", nullable=False))
    unit_code: str
    digest_id: int | None = Field(
        default=None, sa_column=_outbox_fk("fk_digest_item_digest", nullable=True)
    )
    created_at: datetime = Field(sa_column=_utc(nullable=False))


class TaskKindRow(SQLModel, table=True):
    """An administrator's override of a task's kind (``product`` or ``routine``)."""

    __tablename__ = "task_kind"
    __table_args__ = (_task_ref("task_kind"),)

    source: str = Field(default_factory=current_source, sa_column=_source_column(primary_key=True))
    task_id: int = Field(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False, nullable=False)
    )
    kind: str
    set_by: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    set_at: datetime = Field(sa_column=_utc(nullable=False))


class SnapshotItem(SQLModel, table=True):
    """One item of a source's list, as the snapshot strategy last saw it (`ledger.snapshot`)."""

    __tablename__ = "snapshot_item"
    __table_args__ = (Index("ix_snapshot_item_checked", "source", "listed", "checked_at"),)

    source: str = Field(primary_key=True)
    item_id: str = Field(primary_key=True)
    # SHA-256 of the list item's canonical JSON when its detail was last read, and the item
    list_hash: str = ""
    list_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    listed: bool = True
    checked_at: datetime = Field(sa_column=_utc(nullable=False))
    checked_run: str = ""
    first_seen_run: str = ""
    left_at: datetime | None = Field(default=None, sa_column=_utc())
    left_run: str = ""


class TaskReport(SQLModel, table=True):
    """One progress report date of a task, as the source's ``lastReportDateStr`` gave it, with
    when the connector first saw it."""

    __tablename__ = "task_report"
    __table_args__ = (
        UniqueConstraint("source", "task_id", "reported_at", name="uq_task_report"),
        _task_ref("task_report"),
    )

    id: int | None = Field(default=None, sa_column=_big_id())
    source: str = Field(default_factory=current_source, sa_column=_source_column())
    task_id: int = Field(sa_column=_task_fk("task_report"))
    reported_at: datetime = Field(sa_column=_utc(nullable=False))
    reported_on: date
    observed_at: datetime = Field(sa_column=_utc(nullable=False))
    observed_on: date
    run_id: str = ""


def _table(model: type[object]) -> Table:
    table = getattr(model, "__table__", None)
    assert isinstance(table, Table)
    return table


TASK = _table(TaskRow)
"""The task table (Core): bulk writes go through it, not through ORM objects."""
HISTORY = _table(TaskHistory)
SNAPSHOT = _table(TaskSnapshot)
OUTBOX = _table(OutboxRow)
DIGEST_ITEM = _table(DigestItem)
SYNC_RUN = _table(SyncRun)
TASK_KIND = _table(TaskKindRow)
SNAPSHOT_ITEM = _table(SnapshotItem)
TASK_REPORT = _table(TaskReport)
