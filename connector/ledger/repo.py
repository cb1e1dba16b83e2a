"""Reading and writing the ledger: tasks, their history and snapshots, quarantine, units, cursor.

Writes are idempotent and auditable:

* A task's natural key is its source id. The **content hash** is the SHA-256 of the normalised
  task as canonical JSON (`task_to_json`: every field, ``extra`` included; keys sorted, dates
  ISO, instants ISO UTC) **without** ``last_modified`` and ``tracking_status``
  (`codec.HASH_EXCLUDED`): the connector's own tracking-status write changes only those two, and
  its echo must not count as a change. Equal hash and equal deletion flag: *unchanged*, and
  nothing at all is written. Otherwise *insert* or *update*.
* **An older version never overwrites a newer one**: an incoming record whose ``last_modified``
  is before the stored ``source_modified`` is skipped (*older*). With equal timestamps and
  different content, the record read later (a later run, or later in the same run) wins.
* Every insert or update writes a ``task_snapshot`` (the normalised JSON: `tasks_as_of` rebuilds
  any past day from them) and one ``task_history`` row per change of a tracked field
  (`TRACKED_FIELDS`), with the run, the source's ``lastModifyStr``, when it was observed (instant
  and local date) and the local date it took effect (`effective_on`). An insert records the
  initial value of each tracked field that has one.
* A record that cannot be normalised goes to ``quarantine``, keyed by the mapping's record key,
  with the field and bad value. It is updated (``attempts`` + 1) only when a *different* bad
  version arrives, so re-reading the same bad record writes nothing; it is resolved
  (``resolved_at``/``resolved_run``) when the record arrives valid. A record whose text no
  database can hold (NUL, a lone surrogate; `codec.unstorable_text`) is quarantined the same way
  instead of failing the page, on every backend.
* **One record never loses its page.** A page is written inside a savepoint; when the database
  refuses it, each record is written again in a savepoint of its own, and a record refused on
  its own is quarantined with the database's reason (`write_page`).
* Units are stored with their text cleaned the same way on every backend (`codec.clean_text`:
  NUL and other control characters but tab and line breaks removed, a lone surrogate replaced
  by U+FFFD); a unit whose *code* needs cleaning is skipped (logged ``unit_skipped``), and each
  unit is written in its own savepoint, so one bad unit never stops the run.
* A full read stamps ``last_full_run`` on every task it lists (the only write to an unchanged
  task); the tasks it did not list are then marked deleted at the source (reason ``missing``).

Functions take an open session and never commit: the caller decides the transaction (the sync
writes one page, its quarantine and its cursor in one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import Row, Table, and_, bindparam, false, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from connector.clock import local_date, to_utc
from connector.ledger.codec import (
    canonical_json,
    clean_text,
    content_hash,
    decode_field,
    encode,
    history_value,
    task_from_dict,
    task_from_json,
    task_to_dict,
    task_to_json,
    unstorable_text,
)
from connector.ledger.tables import (
    QuarantineRow,
    SyncState,
    TaskHistory,
    TaskRow,
    TaskSnapshot,
    UnitRow,
)
from connector.mapping.converters import escape_unstorable
from connector.models import NormalisedTask, TaskState, Unit

__all__ = [
    "CLASSIFICATION_COLUMNS",
    "STATUS_FIELD",
    "TRACKED_FIELDS",
    "ClassificationChange",
    "Incoming",
    "Observation",
    "Outcome",
    "PageItem",
    "Rejected",
    "WriteCounts",
    "canonical_json",
    "classification_differs",
    "content_hash",
    "count_tasks",
    "get_cursor",
    "get_sync_state",
    "get_task",
    "history_value",
    "iter_task_rows",
    "iter_tasks_as_of",
    "list_quarantine",
    "list_tasks",
    "list_units",
    "load_task_rows",
    "load_tasks",
    "mark_missing",
    "missing_task_ids",
    "quarantine_record",
    "save_cursor",
    "show_classification",
    "stamp_full_read",
    "statuses_on",
    "task_from_dict",
    "task_from_json",
    "task_from_row",
    "task_history",
    "task_ids_after",
    "task_snapshots",
    "task_to_dict",
    "task_to_json",
    "tasks_as_of",
    "tracked_from_row",
    "upsert_task",
    "upsert_units",
    "write_classifications",
    "write_page",
    "write_status_history",
]

log = structlog.get_logger(__name__)

# -- task rows -----------------------------------------------------------------------------------


def _row_values(task: NormalisedTask) -> dict[str, Any]:
    """The task table's source columns for a normalised task."""
    return {
        "ed_id": task.ed_id,
        "sign_number": task.sign_number,
        "category": task.category,
        "subject": task.subject,
        "author": task.author,
        "publisher_code": task.publisher_code,
        "signer": task.signer,
        "position": task.position,
        "doc_date": task.doc_date,
        "steering_type": task.steering_type,
        "steering_by": task.steering_by,
        "steering_content": task.steering_content,
        "lead_unit_code": task.lead_unit_code,
        "lead_unit_name": task.lead_unit_name,
        "coordinators_json": canonical_json(encode(task.coordinators)),
        "assigned_at": task.assigned_at,
        "deadline": task.deadline,
        "original_deadline": task.original_deadline,
        "deadline_changes_json": canonical_json(encode(task.deadline_changes)),
        "state": task.state.value,
        "source_status": task.source_status,
        "completed_at": task.completed_at,
        "priority": task.priority,
        "progress": task.progress,
        "last_report_at": task.last_report_at,
        "confirmed": task.confirmed,
        "confirmed_at": task.confirmed_at,
        "source_tracking_status": task.tracking_status,
        "source_modified": task.last_modified,
    }


def task_from_row(row: TaskRow | Row[Any]) -> NormalisedTask:
    """The normalised task a ledger row holds (``extra`` is not kept on the row: empty).

    Takes an ORM `TaskRow` or a Core row of the task table (`load_task_rows`).
    """
    return NormalisedTask(
        source_id=row.source_id,
        last_modified=row.source_modified,
        state=TaskState(row.state),
        source_status=row.source_status,
        ed_id=row.ed_id,
        sign_number=row.sign_number,
        category=row.category,
        subject=row.subject,
        author=row.author,
        publisher_code=row.publisher_code,
        signer=row.signer,
        position=row.position,
        doc_date=row.doc_date,
        steering_type=row.steering_type,
        steering_by=row.steering_by,
        steering_content=row.steering_content,
        lead_unit_code=row.lead_unit_code,
        lead_unit_name=row.lead_unit_name,
        coordinators=decode_field("coordinators", json.loads(row.coordinators_json or "[]")),
        assigned_at=row.assigned_at,
        deadline=row.deadline,
        deadline_changes=decode_field(
            "deadline_changes", json.loads(row.deadline_changes_json or "[]")
        ),
        completed_at=row.completed_at,
        priority=row.priority,
        progress=row.progress,
        last_report_at=row.last_report_at,
        confirmed=row.confirmed,
        confirmed_at=row.confirmed_at,
        tracking_status=row.source_tracking_status,
        deleted=row.deleted_at_source,
    )


# -- history -------------------------------------------------------------------------------------

TRACKED_FIELDS: tuple[str, ...] = (
    "state",
    "source_status",
    "deadline",
    "deadline_changes",
    "completed_at",
    "confirmed",
    "lead_unit_code",
    "deleted",
)
"""Task fields whose every change gets a ``task_history`` row (plus ``status_code``, written by
the classification step)."""

STATUS_FIELD = "status_code"
"""The ``task_history.field`` of computed deadline-status changes."""


def _tracked(task: NormalisedTask) -> dict[str, str]:
    return {name: history_value(getattr(task, name)) for name in TRACKED_FIELDS}


def tracked_from_row(row: Any) -> dict[str, str]:
    """The history values of a task row's tracked fields (== those of `task_from_row(row)`)."""
    changes = row.deadline_changes_json
    return {
        "state": row.state,
        "source_status": row.source_status,
        "deadline": history_value(row.deadline),
        "deadline_changes": "" if changes in ("", "[]") else changes,
        "completed_at": history_value(row.completed_at),
        "confirmed": history_value(bool(row.confirmed)),
        "lead_unit_code": row.lead_unit_code,
        "deleted": history_value(bool(row.deleted_at_source)),
    }


def _effective_on(name: str, task: NormalisedTask, observed_on: date, inserted: bool) -> date:
    """The local date a change of `name` took effect, as far as the record tells."""
    modified = local_date(task.last_modified)
    done = name == "completed_at" or (name == "state" and task.state is TaskState.DONE)
    if done and task.completed_at is not None:
        return local_date(task.completed_at)
    if name in ("deadline", "deadline_changes") and task.deadline_changes:
        last = task.deadline_changes[-1]
        if last.changed_at is not None:
            return local_date(last.changed_at)
    if name == "confirmed" and task.confirmed and task.confirmed_at is not None:
        return local_date(task.confirmed_at)
    if inserted and task.assigned_at is not None and name != "deleted":
        return min(local_date(task.assigned_at), modified)
    return min(modified, observed_on)


@dataclass(frozen=True)
class Observation:
    """Who wrote a change and when: the run, the instant, and its local date."""

    run_id: str
    observed_at: datetime
    observed_on: date = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_on", local_date(self.observed_at))


def _history_rows(
    old: Mapping[str, str] | None, new: NormalisedTask, obs: Observation
) -> list[dict[str, Any]]:
    """History rows for the tracked fields that differ between `old` and the new version."""
    after = _tracked(new)
    if old is None:
        # An insert records what the first version holds; "false" flags are no news.
        before = {k: ("false" if after[k] == "false" else "") for k in TRACKED_FIELDS}
    else:
        before = dict(old)
    rows = []
    for name in TRACKED_FIELDS:
        if before[name] == after[name]:
            continue
        rows.append(
            {
                "task_id": new.source_id,
                "run_id": obs.run_id,
                "field": name,
                "old_value": before[name],
                "new_value": after[name],
                "observed_at": obs.observed_at,
                "observed_on": obs.observed_on,
                "effective_on": _effective_on(name, new, obs.observed_on, old is None),
                "source_modified": new.last_modified,
            }
        )
    return rows


# -- writing a page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incoming:
    """A record that normalised cleanly, with its raw JSON and the mapping's record key."""

    task: NormalisedTask
    raw: Mapping[str, Any]
    record_key: str = ""


@dataclass(frozen=True)
class Rejected:
    """A record that could not be normalised: which field, which value, why."""

    record_key: str
    raw: Mapping[str, Any]
    field: str = ""
    value: str = ""
    reason: str = ""
    task_id: int | None = None


PageItem = Incoming | Rejected


class Outcome(StrEnum):
    """What writing one incoming record did."""

    INSERTED = "inserted"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    OLDER = "older"


@dataclass
class WriteCounts:
    """What writing a page (or several) did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older_skipped: int = 0
    quarantined: int = 0
    quarantine_changed: int = 0
    resolved: int = 0
    deleted_marked: int = 0
    history_rows: int = 0
    snapshots: int = 0

    def add(self, other: WriteCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def written(self) -> int:
        """Rows of content written (tasks, quarantine changes and resolutions)."""
        return (
            self.inserted
            + self.updated
            + self.deleted_marked
            + self.quarantine_changed
            + self.resolved
        )


def _snapshot_row(
    task: NormalisedTask, digest: str, body: str, obs: Observation, deleted: bool
) -> dict[str, Any]:
    return {
        "task_id": task.source_id,
        "run_id": obs.run_id,
        "observed_at": obs.observed_at,
        "observed_on": obs.observed_on,
        "source_modified": task.last_modified,
        "content_hash": digest,
        "normalised_json": body,
        "deleted_at_source": deleted,
    }


def _table(model: type[object]) -> Table:
    table = getattr(model, "__table__", None)
    assert isinstance(table, Table)
    return table


TASK = _table(TaskRow)
"""The task table (Core): bulk writes go through it, not through ORM objects."""
HISTORY = _table(TaskHistory)
SNAPSHOT = _table(TaskSnapshot)

_KNOWN_COLUMNS = (
    "source_id",
    "source_modified",
    "content_hash",
    "deleted_at_source",
    "state",
    "source_status",
    "deadline",
    "deadline_changes_json",
    "completed_at",
    "confirmed",
    "lead_unit_code",
)


@dataclass
class _Known:
    """What the ledger holds of a task, as far as writing a new version needs it."""

    source_modified: datetime
    content_hash: str
    deleted: bool
    tracked: dict[str, str]


@dataclass
class _PageWriter:
    session: Session
    obs: Observation
    full: bool
    known: dict[int, _Known]
    quarantine: dict[str, QuarantineRow]
    counts: WriteCounts = field(default_factory=WriteCounts)
    inserts: dict[int, dict[str, Any]] = field(default_factory=dict)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    stamps: set[int] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    def task(self, item: Incoming) -> Outcome:
        task = item.task
        body = task_to_json(task)
        digest = content_hash(task)  # the echo of our own tracking write hashes the same
        known = self.known.get(task.source_id)
        if self.full and known is not None:
            self.stamps.add(task.source_id)
        if known is not None and to_utc(known.source_modified) > to_utc(task.last_modified):
            self.counts.older_skipped += 1
            return Outcome.OLDER
        if known is not None and known.content_hash == digest and known.deleted == task.deleted:
            self.counts.unchanged += 1
            return Outcome.UNCHANGED
        values = _row_values(task)
        values.update(
            raw_json=canonical_json(item.raw),
            content_hash=digest,
            deleted_at_source=task.deleted,
            deleted_reason="deleted" if task.deleted else "",
            last_seen_run=self.obs.run_id,
            updated_at=self.obs.observed_at,
        )
        if self.full:
            values["last_full_run"] = self.obs.run_id
        sid = task.source_id
        if sid in self.inserts:  # a second version in the same page: the insert takes it
            self.inserts[sid].update(values)
        elif known is None:
            self.inserts[sid] = {
                "source_id": sid,
                "first_seen_run": self.obs.run_id,
                "first_seen_at": self.obs.observed_at,
                **values,
            }
        else:
            self.updates[sid] = {"b_source_id": sid, **values}
        if known is None:
            outcome = Outcome.INSERTED
            self.counts.inserted += 1
        else:
            outcome = Outcome.UPDATED
            self.counts.updated += 1
        if task.deleted and (known is None or not known.deleted):
            self.counts.deleted_marked += 1
        self.history.extend(_history_rows(known.tracked if known else None, task, self.obs))
        self.snapshots.append(_snapshot_row(task, digest, body, self.obs, task.deleted))
        self.known[sid] = _Known(task.last_modified, digest, task.deleted, _tracked(task))
        self._resolve(item.record_key, sid)
        return outcome

    def _resolve(self, record_key: str, task_id: int) -> None:
        for q in self.quarantine.values():
            if q.resolved_at is None and (q.record_key == record_key or q.task_id == task_id):
                q.resolved_at = self.obs.observed_at
                q.resolved_run = self.obs.run_id
                self.counts.resolved += 1
                log.info(
                    "quarantine_resolved", record_key=q.record_key, task_id=task_id, field=q.field
                )

    def reject(self, item: Rejected) -> None:
        item = replace(
            item,
            record_key=escape_unstorable(item.record_key),
            field=escape_unstorable(item.field),
            value=escape_unstorable(item.value),
            reason=escape_unstorable(item.reason),
        )
        self.counts.quarantined += 1
        if self.full and item.task_id is not None and item.task_id in self.known:
            self.stamps.add(item.task_id)
        raw = canonical_json(item.raw)
        q = self.quarantine.get(item.record_key)
        if q is None:
            q = QuarantineRow(
                record_key=item.record_key,
                task_id=item.task_id,
                field=item.field,
                bad_value=item.value,
                reason=item.reason,
                raw_json=raw,
                first_seen_at=self.obs.observed_at,
                last_seen_at=self.obs.observed_at,
                first_run=self.obs.run_id,
                last_run=self.obs.run_id,
                attempts=1,
            )
            self.session.add(q)
            self.quarantine[item.record_key] = q
            self.counts.quarantine_changed += 1
            return
        if q.resolved_at is None and q.raw_json == raw and q.reason == item.reason:
            return  # the same bad version again: nothing new to record
        q.task_id = item.task_id
        q.field = item.field
        q.bad_value = item.value
        q.reason = item.reason
        q.raw_json = raw
        q.last_seen_at = self.obs.observed_at
        q.last_run = self.obs.run_id
        q.attempts += 1
        q.resolved_at = None
        q.resolved_run = ""
        self.counts.quarantine_changed += 1

    def flush(self) -> None:
        """Write what the page changed: tasks first (history and snapshots refer to them)."""
        session = self.session
        if self.inserts:
            session.execute(insert(TASK), list(self.inserts.values()))
        if self.updates:
            where = TASK.c.source_id == bindparam("b_source_id")
            session.execute(update(TASK).where(where), list(self.updates.values()))
        session.flush()  # quarantine rows (ORM)
        if self.history:
            session.execute(insert(HISTORY), self.history)
        if self.snapshots:
            session.execute(insert(SNAPSHOT), self.snapshots)
        stamps = sorted(self.stamps - self.inserts.keys() - self.updates.keys())
        if stamps:
            stamp_full_read(session, stamps, run_id=self.obs.run_id)


def _unstorable_rejected(item: Incoming, name: str, value: str) -> Rejected:
    shown = repr(value)
    shown = shown if len(shown) <= 200 else shown[:197] + "..."
    log.warning("record_unstorable", task_id=item.task.source_id, field=name)
    return Rejected(
        record_key=item.record_key or f"id:{item.task.source_id}",
        raw=item.raw,
        field=name,
        value=shown,
        reason=(
            f"task {item.task.source_id}: field {name}: {shown} holds a character the ledger "
            "cannot store (NUL or a lone surrogate); correct the record at the source"
        ),
        task_id=item.task.source_id,
    )


StoreError = (SQLAlchemyError, ArithmeticError, ValueError, TypeError)
"""What storing a record can raise when the database (or its driver) refuses a value."""


def write_page(
    session: Session,
    items: Sequence[PageItem],
    *,
    run_id: str,
    observed_at: datetime,
    full: bool = False,
) -> WriteCounts:
    """Write one page of records, in source order; look up only the page's ids and keys.

    The page goes in one savepoint. Should the database refuse it, every record is written
    again in a savepoint of its own, and a record refused on its own is quarantined with the
    reason (`_refused`): one record never loses the rest of its page.
    """
    if not items:
        return WriteCounts()
    try:
        with session.begin_nested():
            return _write_items(session, items, run_id=run_id, observed_at=observed_at, full=full)
    except StoreError as exc:
        log.warning("page_store_failed", records=len(items), error=_error_text(exc))
    counts = WriteCounts()
    for item in items:
        try:
            with session.begin_nested():
                counts.add(
                    _write_items(session, [item], run_id=run_id, observed_at=observed_at, full=full)
                )
            continue
        except StoreError as exc:
            rejected = _refused(item, exc)
        try:
            with session.begin_nested():
                counts.add(
                    _write_items(
                        session, [rejected], run_id=run_id, observed_at=observed_at, full=full
                    )
                )
        except StoreError:
            # Even the quarantine row was refused (its raw JSON): keep the reason alone.
            with session.begin_nested():
                counts.add(
                    _write_items(
                        session,
                        [replace(rejected, raw={"@unstorable": True})],
                        run_id=run_id,
                        observed_at=observed_at,
                        full=full,
                    )
                )
    return counts


def _error_text(exc: BaseException) -> str:
    """A short, single-line description of a storage error (no SQL, no bound values)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else exc).strip().splitlines()
    text = f"{type(orig if orig is not None else exc).__name__}: {first[0] if first else ''}"
    text = repr(text)[1:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def _refused(item: PageItem, exc: BaseException) -> Rejected:
    """The quarantine entry of a record the database refused on its own."""
    error = _error_text(exc)
    if isinstance(item, Rejected):
        return replace(item, reason=f"{item.reason} (and the ledger refused it: {error})")
    task = item.task
    log.warning("record_unstorable", task_id=task.source_id, error=error)
    return Rejected(
        record_key=item.record_key or f"id:{task.source_id}",
        raw=item.raw,
        field="(record)",
        value="",
        reason=(
            f"task {task.source_id}: the ledger refused the record ({error}); correct the "
            "record at the source"
        ),
        task_id=task.source_id,
    )


def _write_items(
    session: Session,
    items: Sequence[PageItem],
    *,
    run_id: str,
    observed_at: datetime,
    full: bool,
) -> WriteCounts:
    """`write_page` without the savepoints."""
    ids = sorted({i.task.source_id for i in items if isinstance(i, Incoming)})
    bad_ids = sorted({i.task_id for i in items if isinstance(i, Rejected) and i.task_id})
    keys = sorted({i.record_key for i in items if i.record_key})
    known: dict[int, _Known] = {}
    lookup = sorted(set(ids) | set(bad_ids))
    if lookup:
        columns = [TASK.c[name] for name in _KNOWN_COLUMNS]
        for row in session.execute(select(*columns).where(TASK.c.source_id.in_(lookup))):
            known[int(row.source_id)] = _Known(
                row.source_modified,
                row.content_hash,
                bool(row.deleted_at_source),
                tracked_from_row(row),
            )
    quarantine: dict[str, QuarantineRow] = {}
    if keys or ids:
        unresolved = col(QuarantineRow.resolved_at).is_(None)
        query_q = select(QuarantineRow).where(
            or_(
                col(QuarantineRow.record_key).in_(keys),
                and_(col(QuarantineRow.task_id).in_(ids), unresolved),
            )
        )
        quarantine = {q.record_key: q for q in session.scalars(query_q)}
    writer = _PageWriter(
        session=session,
        obs=Observation(run_id, to_utc(observed_at)),
        full=full,
        known=known,
        quarantine=quarantine,
    )
    for item in items:
        if not isinstance(item, Incoming):
            writer.reject(item)
        elif (problem := unstorable_text(item.task)) is not None:
            writer.reject(_unstorable_rejected(item, *problem))
        else:
            writer.task(item)
    writer.flush()
    writer.counts.history_rows = len(writer.history)
    writer.counts.snapshots = len(writer.snapshots)
    return writer.counts


def upsert_task(
    session: Session,
    task: NormalisedTask,
    raw: Mapping[str, Any],
    *,
    run_id: str,
    observed_at: datetime,
    record_key: str = "",
) -> Outcome:
    """Write one task (see the module docstring); what happened."""
    counts = write_page(
        session, [Incoming(task, raw, record_key)], run_id=run_id, observed_at=observed_at
    )
    if counts.inserted:
        return Outcome.INSERTED
    if counts.updated:
        return Outcome.UPDATED
    if counts.older_skipped:
        return Outcome.OLDER
    return Outcome.UNCHANGED


def quarantine_record(
    session: Session, rejected: Rejected, *, run_id: str, observed_at: datetime
) -> bool:
    """Put one bad record in quarantine; True when something was written."""
    counts = write_page(session, [rejected], run_id=run_id, observed_at=observed_at)
    return counts.quarantine_changed > 0


# -- a full read: what it did not list ------------------------------------------------------------


def missing_task_ids(
    session: Session, run_id: str, *, after: int = 0, limit: int = 500
) -> list[int]:
    """Ids (ascending, > `after`) of live tasks the full read `run_id` did not list."""
    query = (
        select(col(TaskRow.source_id))
        .where(
            col(TaskRow.source_id) > after,
            col(TaskRow.last_full_run) != run_id,
            col(TaskRow.deleted_at_source) == false(),
        )
        .order_by(col(TaskRow.source_id))
        .limit(limit)
    )
    return list(session.scalars(query))


def stamp_full_read(session: Session, ids: Sequence[int], *, run_id: str) -> None:
    """Record that the full read `run_id` found these tasks (so they are not missing)."""
    if ids:
        session.execute(
            update(TaskRow)
            .where(col(TaskRow.source_id).in_(ids))
            .values(last_full_run=run_id)
            .execution_options(synchronize_session=False)
        )


def mark_missing(
    session: Session, ids: Sequence[int], *, run_id: str, observed_at: datetime
) -> int:
    """Mark tasks deleted at the source (reason ``missing``), with history and snapshot."""
    if not ids:
        return 0
    obs = Observation(run_id, to_utc(observed_at))
    query = select(TaskRow).where(col(TaskRow.source_id).in_(ids))
    history: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    marked = 0
    for row in session.scalars(query):
        if row.deleted_at_source:
            continue
        task = task_from_row(row)
        row.deleted_at_source = True
        row.deleted_reason = "missing"
        row.updated_at = obs.observed_at
        row.last_seen_run = run_id
        history.append(
            {
                "task_id": row.source_id,
                "run_id": run_id,
                "field": "deleted",
                "old_value": "false",
                "new_value": "true",
                "observed_at": obs.observed_at,
                "observed_on": obs.observed_on,
                "effective_on": obs.observed_on,
                "source_modified": row.source_modified,
            }
        )
        snapshot = _latest_snapshot_json(session, row.source_id) or task_to_json(task)
        snapshots.append(_snapshot_row(task, row.content_hash, snapshot, obs, True))
        marked += 1
    session.flush()
    if history:
        session.execute(insert(HISTORY), history)
        session.execute(insert(SNAPSHOT), snapshots)
    return marked


def _latest_snapshot_json(session: Session, task_id: int) -> str | None:
    query = (
        select(col(TaskSnapshot.normalised_json))
        .where(col(TaskSnapshot.task_id) == task_id)
        .order_by(col(TaskSnapshot.id).desc())
        .limit(1)
    )
    return session.scalars(query).first()


# -- cursor --------------------------------------------------------------------------------------


def get_sync_state(session: Session, source: str) -> SyncState | None:
    """The cursor row of a source (None before the first page was written)."""
    return session.get(SyncState, source)


def get_cursor(session: Session, source: str) -> datetime | None:
    """The source's ``lastModifyStr`` up to which everything was read (None: never read)."""
    state = get_sync_state(session, source)
    return state.cursor if state is not None else None


def save_cursor(
    session: Session,
    source: str,
    cursor: datetime | None,
    *,
    run_id: str,
    now: datetime,
    full_done: bool = False,
) -> None:
    """Store the cursor (in the caller's transaction: the one of the page it covers)."""
    state = session.get(SyncState, source)
    if state is None:
        state = SyncState(source=source)
        session.add(state)
    state.cursor = to_utc(cursor) if cursor is not None else None
    state.updated_at = to_utc(now)
    state.updated_run = run_id
    if full_done:
        state.last_full_at = to_utc(now)


# -- units ---------------------------------------------------------------------------------------


def upsert_units(session: Session, units: Iterable[Unit], *, now: datetime) -> int:
    """Insert or update units as the source lists them; how many rows changed.

    Text is cleaned (`codec.clean_text`) the same way on every backend; a unit whose code needs
    cleaning, or that the database refuses, is skipped and logged (``unit_skipped``): each unit
    is written in a savepoint of its own, so one bad unit never stops the run.
    """
    existing = {u.code: u for u in session.scalars(select(UnitRow))}
    changed = 0
    for unit in units:
        code = clean_text(unit.code)
        if code != unit.code or not code:
            log.warning("unit_skipped", code=unit.code[:40], reason="unstorable characters in code")
            continue
        name, parent = clean_text(unit.name), clean_text(unit.parent_code)
        if name != unit.name or parent != unit.parent_code:
            log.info("unit_text_cleaned", code=code)
        values = {"name": name, "kind": unit.kind.value, "parent_code": parent}
        row = existing.get(code)
        if row is not None and all(getattr(row, k) == v for k, v in values.items()):
            continue
        try:
            with session.begin_nested():
                if row is None:
                    row = UnitRow(code=code, updated_at=to_utc(now), **values)
                    session.add(row)
                else:
                    for k, v in values.items():
                        setattr(row, k, v)
                    row.updated_at = to_utc(now)
                session.flush()
        except StoreError as exc:
            log.warning("unit_skipped", code=code[:40], reason=_error_text(exc))
            existing.pop(code, None)
            continue
        existing[code] = row
        changed += 1
    return changed


def list_units(session: Session) -> list[UnitRow]:
    """Every unit, by code."""
    return list(session.scalars(select(UnitRow).order_by(col(UnitRow.code))))


# -- classification columns ----------------------------------------------------------------------

CLASSIFICATION_COLUMNS: tuple[str, ...] = (
    "status_code",
    "eff_due",
    "days_overdue",
    "working_days_overdue",
    "working_days_left",
    "due_soon",
    "overdue_over_30",
    "stale_no_deadline",
    "unconfirmed",
    "extended",
    "suggested_deadline",
    "suggested_phrase",
    "suggested_recurrence",
)
"""Task columns the classification step writes (``classified_on`` goes with any change)."""


def iter_task_rows(
    session: Session, *, batch_size: int = 500, after: int = 0
) -> Iterator[list[TaskRow]]:
    """Every task row in batches (ascending id, keyset paging; the raw JSON is not loaded)."""
    while True:
        query = (
            select(TaskRow)
            .options(defer(TaskRow.raw_json))  # type: ignore[arg-type]
            .where(col(TaskRow.source_id) > after)
            .order_by(col(TaskRow.source_id))
            .limit(batch_size)
        )
        batch = list(session.scalars(query))
        if not batch:
            return
        yield batch
        after = batch[-1].source_id


def task_ids_after(session: Session, after: int, limit: int) -> list[int]:
    """The next `limit` task ids above `after` (for callers that batch in transactions)."""
    query = (
        select(col(TaskRow.source_id))
        .where(col(TaskRow.source_id) > after)
        .order_by(col(TaskRow.source_id))
        .limit(limit)
    )
    return list(session.scalars(query))


def count_tasks(session: Session, *, include_deleted: bool = True) -> int:
    """How many tasks the ledger holds."""
    query = select(func.count()).select_from(TaskRow)
    if not include_deleted:
        query = query.where(col(TaskRow.deleted_at_source) == false())
    return int(session.scalar(query) or 0)


def load_tasks(session: Session, ids: Sequence[int]) -> list[TaskRow]:
    """The rows of `ids` (ascending; the raw JSON is not loaded)."""
    if not ids:
        return []
    query = (
        select(TaskRow)
        .options(defer(TaskRow.raw_json))  # type: ignore[arg-type]
        .where(col(TaskRow.source_id).in_(ids))
        .order_by(col(TaskRow.source_id))
    )
    return list(session.scalars(query))


def load_task_rows(session: Session, ids: Sequence[int]) -> list[Row[Any]]:
    """The task rows of `ids` as plain (Core) rows, ascending, without the raw JSON.

    Attribute access works as on `TaskRow` (``row.deadline``...), and `task_from_row` takes
    them; they cost far less than ORM objects when a whole table is walked.
    """
    if not ids:
        return []
    columns = [c for c in TASK.c if c.name != "raw_json"]
    query = select(*columns).where(TASK.c.source_id.in_(ids)).order_by(TASK.c.source_id)
    return list(session.execute(query))


@dataclass(frozen=True)
class ClassificationChange:
    """New classification values for one task (every `CLASSIFICATION_COLUMNS` key)."""

    task_id: int
    values: Mapping[str, Any]
    old_status: str | None
    effective_on: date
    source_modified: datetime | None = None

    @property
    def status_changed(self) -> bool:
        return bool(self.values["status_code"] != self.old_status)


def classification_differs(row: Any, values: Mapping[str, Any]) -> bool:
    """True when storing `values` would change the row (``classified_on`` not compared)."""
    return any(bool(getattr(row, name) != value) for name, value in values.items())


def show_classification(row: TaskRow, values: Mapping[str, Any], *, as_of: date) -> None:
    """Make an ORM task row show new classification values at once, without marking it dirty.

    For code that reads the row in the same transaction (the outbox planner) before
    `write_classifications` stores the values with one statement for the whole batch (setting
    ORM attributes one by one costs far more).
    """
    for name, value in values.items():
        set_committed_value(row, name, value)
    set_committed_value(row, "classified_on", as_of)


def write_status_history(
    session: Session,
    changes: Sequence[ClassificationChange],
    *,
    run_id: str,
    observed_at: datetime,
) -> int:
    """One ``status_code`` history row per status change, effective on its `effective_on`;
    the number written."""
    obs = Observation(run_id, to_utc(observed_at))
    history = [
        {
            "task_id": c.task_id,
            "run_id": run_id,
            "field": STATUS_FIELD,
            "old_value": c.old_status or "",
            "new_value": str(c.values["status_code"] or ""),
            "observed_at": obs.observed_at,
            "observed_on": obs.observed_on,
            "effective_on": c.effective_on,
            "source_modified": c.source_modified,
        }
        for c in changes
        if c.status_changed
    ]
    if history:
        session.flush()  # the task rows first
        session.execute(insert(HISTORY), history)
    return len(history)


def write_classifications(
    session: Session,
    changes: Sequence[ClassificationChange],
    *,
    as_of: date,
    run_id: str,
    observed_at: datetime,
) -> int:
    """Store changed classifications of tasks not loaded as ORM objects (one statement), with
    ``classified_on`` and their status history (`write_status_history`); status changes."""
    if not changes:
        return 0
    params = [{"b_source_id": c.task_id, **c.values, "classified_on": as_of} for c in changes]
    where = TASK.c.source_id == bindparam("b_source_id")
    session.execute(update(TASK).where(where), params)
    return write_status_history(session, changes, run_id=run_id, observed_at=observed_at)


# -- reading -------------------------------------------------------------------------------------


def get_task(session: Session, source_id: int) -> TaskRow | None:
    """One task row by its source id."""
    return session.get(TaskRow, source_id)


def task_history(session: Session, source_id: int) -> list[TaskHistory]:
    """Every recorded change of a task, in the order it was written."""
    query = (
        select(TaskHistory)
        .where(col(TaskHistory.task_id) == source_id)
        .order_by(col(TaskHistory.id))
    )
    return list(session.scalars(query))


def task_snapshots(session: Session, source_id: int) -> list[TaskSnapshot]:
    """Every snapshot of a task, oldest first."""
    query = (
        select(TaskSnapshot)
        .where(col(TaskSnapshot.task_id) == source_id)
        .order_by(col(TaskSnapshot.id))
    )
    return list(session.scalars(query))


def list_tasks(
    session: Session,
    unit: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    *,
    include_deleted: bool = False,
) -> list[TaskRow]:
    """Tasks by id, optionally of one lead unit and/or one status code (``DTH_QUA_HAN``...)."""
    query = select(TaskRow).order_by(col(TaskRow.source_id))
    if unit is not None:
        query = query.where(col(TaskRow.lead_unit_code) == unit)
    if status is not None:
        query = query.where(col(TaskRow.status_code) == str(status))
    if not include_deleted:
        query = query.where(col(TaskRow.deleted_at_source) == false())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def list_quarantine(session: Session, include_resolved: bool = False) -> list[QuarantineRow]:
    """Quarantined records, oldest first (resolved ones only when asked)."""
    query = select(QuarantineRow).order_by(col(QuarantineRow.id))
    if not include_resolved:
        query = query.where(col(QuarantineRow.resolved_at).is_(None))
    return list(session.scalars(query))


def iter_tasks_as_of(
    session: Session, day: date, *, include_deleted: bool = False, batch_size: int = 500
) -> Iterator[NormalisedTask]:
    """What the ledger knew of every task at the end of local day `day`, by id, in batches.

    Each task is its latest snapshot observed on or before `day`. Tasks deleted at the source
    by then (soft-deleted or missing from a full read) are left out unless `include_deleted`
    (then their ``deleted`` is True).
    """
    after = 0
    while True:
        # Latest snapshot per task for the next `batch_size` tasks (portable: no DISTINCT ON).
        ids = list(
            session.scalars(
                select(col(TaskSnapshot.task_id))
                .where(col(TaskSnapshot.observed_on) <= day, col(TaskSnapshot.task_id) > after)
                .group_by(col(TaskSnapshot.task_id))
                .order_by(col(TaskSnapshot.task_id))
                .limit(batch_size)
            )
        )
        if not ids:
            return
        query = (
            select(TaskSnapshot)
            .where(
                col(TaskSnapshot.task_id).in_(ids),
                col(TaskSnapshot.observed_on) <= day,
            )
            .order_by(col(TaskSnapshot.task_id), col(TaskSnapshot.id))
        )
        newest: dict[int, TaskSnapshot] = {}
        for snap in session.scalars(query):
            newest[snap.task_id] = snap
        for task_id in ids:
            snap = newest[task_id]
            task = task_from_json(snap.normalised_json)
            deleted = snap.deleted_at_source or task.deleted
            if deleted and not include_deleted:
                continue
            yield replace(task, deleted=True) if deleted else task
        after = ids[-1]


def tasks_as_of(
    session: Session, day: date, *, include_deleted: bool = False
) -> list[NormalisedTask]:
    """`iter_tasks_as_of` as a list."""
    return list(iter_tasks_as_of(session, day, include_deleted=include_deleted))


def statuses_on(session: Session, day: date) -> dict[int, str]:
    """The recorded deadline status of every task on local day `day` (latest effective row)."""
    query = (
        select(col(TaskHistory.task_id), col(TaskHistory.new_value))
        .where(col(TaskHistory.field) == STATUS_FIELD, col(TaskHistory.effective_on) <= day)
        .order_by(col(TaskHistory.task_id), col(TaskHistory.effective_on), col(TaskHistory.id))
    )
    result: dict[int, str] = {}
    for task_id, value in session.execute(query):
        if value:
            result[int(task_id)] = str(value)
        else:
            result.pop(int(task_id), None)
    return result


def known_unit_codes(session: Session) -> set[str]:
    """Every unit code the ledger knows: the unit table's and every task's lead unit."""
    codes = set(session.scalars(select(col(UnitRow.code))))
    lead = session.scalars(select(col(TaskRow.lead_unit_code)).distinct())
    codes.update(code for code in lead if code)
    return codes
