"""Writing one page of records into the ledger: tasks with their history and snapshots, and
quarantine.

Writes are idempotent and auditable:

* A task's natural key is its source id. The **content hash** is the SHA-256 of the normalised
  task as canonical JSON (`codec.task_to_json`: every field, ``extra`` included; keys sorted,
  dates ISO, instants ISO UTC) **without** ``last_modified`` and ``tracking_status``
  (`codec.HASH_EXCLUDED`): the connector's own tracking-status write changes only those two, and
  its echo must not count as a change. Equal hash and equal deletion flag: *unchanged*, and
  nothing at all is written. Otherwise *insert* or *update*.
* **An older version never overwrites a newer one**: an incoming record whose ``last_modified``
  is before the stored ``source_modified`` is skipped (*older*). With equal timestamps and
  different content, the record read later (a later run, or later in the same run) wins.
* Every insert or update writes a ``task_snapshot`` and one ``task_history`` row per change of a
  tracked field (`connector.ledger.history`), and keeps the task's progress report date in
  ``task_report`` when it is one not seen before (`connector.ledger.facts`).
* A record that cannot be normalised goes to ``quarantine``, keyed by the mapping's record key,
  with the field and bad value. It is updated (``attempts`` + 1) only when a *different* bad
  version arrives, so re-reading the same bad record writes nothing; it is resolved
  (``resolved_at``/``resolved_run``) when the record arrives valid. A record whose text no
  database can hold (NUL, a lone surrogate; `codec.unstorable_text`) is quarantined the same way
  instead of failing the page, on every backend.
* **One record never loses its page.** A page is written inside a savepoint; when the database
  refuses it, each record is written again in a savepoint of its own, and a record refused on
  its own is quarantined with the database's reason (`write_page`).
* A full read stamps ``last_full_run`` on every task it lists (the only write to an unchanged
  task).

Functions take an open session and never commit: the caller decides the transaction (the sync
writes one page, its quarantine and its cursor in one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from connector.clock import to_utc
from connector.ledger.bulk import insert_many, update_by_source_id
from connector.ledger.codec import (
    canonical_json,
    hash_of_dict,
    snapshot_and_hash,
    task_to_dict,
    unstorable_text,
)
from connector.ledger.columns import column_of, task_values
from connector.ledger.db import StoreError, store_error_text
from connector.ledger.facts import record_report_dates
from connector.ledger.history import (
    TRACKED_FIELDS,
    Observation,
    SnapshotEntry,
    change_rows,
    insert_history,
    tracked,
    tracked_from_row,
)
from connector.ledger.scope import current_source
from connector.ledger.tables import TASK, QuarantineRow
from connector.ledger.tasks import stamp_full_read
from connector.mapping.converters import escape_unstorable
from connector.models import NormalisedTask

log = structlog.get_logger(__name__)


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


class RecordOutcome(StrEnum):
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


_KNOWN_COLUMNS: tuple[str, ...] = (
    "source_id",
    "source_modified",
    "content_hash",
    "deleted_at_source",
    *(column_of(name) for name in TRACKED_FIELDS),
)
"""What writing a new version reads of the stored one: its time, hash, and tracked columns."""


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
    history: list[dict[str, Any]] = field(default_factory=list)  # `change_rows`
    snapshots: list[SnapshotEntry] = field(default_factory=list)
    reports: list[tuple[int, datetime]] = field(default_factory=list)

    def task(self, item: Incoming) -> RecordOutcome:
        task = item.task
        data = task_to_dict(task)  # encoded once: the hash, and the snapshot when written
        known = self.known.get(task.source_id)
        body: str | None = None
        if known is None:  # new: its snapshot is written, made with the hash
            body, digest = snapshot_and_hash(data)
        else:
            digest = hash_of_dict(data)  # the echo of our own tracking write hashes the same
        if self.full and known is not None:
            self.stamps.add(task.source_id)
        if known is not None and to_utc(known.source_modified) > to_utc(task.last_modified):
            self.counts.older_skipped += 1
            return RecordOutcome.OLDER
        if known is not None and known.content_hash == digest and known.deleted == task.deleted:
            self.counts.unchanged += 1
            return RecordOutcome.UNCHANGED
        values = task_values(task, data)
        values.update(
            raw_json=canonical_json(item.raw),
            content_hash=digest,
            deleted_at_source=task.deleted,
            deleted_reason="deleted" if task.deleted else "",
            last_seen_run=self.obs.run_id,
            updated_at=self.obs.observed_at,
            recheck_on=None,  # changed: classified again by this run
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
            outcome = RecordOutcome.INSERTED
            self.counts.inserted += 1
        else:
            outcome = RecordOutcome.UPDATED
            self.counts.updated += 1
        if task.deleted and (known is None or not known.deleted):
            self.counts.deleted_marked += 1
        now_tracked = tracked(task)
        self.history += change_rows(known.tracked if known else None, task, self.obs, now_tracked)
        if body is None:
            body = canonical_json(data)
        self.snapshots.append(SnapshotEntry.of(task, digest, body, self.obs, task.deleted))
        if task.last_report_at is not None:
            self.reports.append((sid, task.last_report_at))
        self.known[sid] = _Known(task.last_modified, digest, task.deleted, now_tracked)
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
        insert_many(session, TASK, list(self.inserts.values()))
        update_by_source_id(session, TASK, list(self.updates.values()))
        session.flush()  # quarantine rows (ORM)
        insert_history(session, self.history, self.snapshots)
        record_report_dates(session, self.reports, self.obs, new_tasks=self.inserts.keys())
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
        log.warning("page_store_failed", records=len(items), error=store_error_text(exc))
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


def _refused(item: PageItem, exc: BaseException) -> Rejected:
    """The quarantine entry of a record the database refused on its own."""
    error = store_error_text(exc)
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
        mine = TASK.c.source == current_source()
        for row in session.execute(select(*columns).where(mine, TASK.c.source_id.in_(lookup))):
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
            col(QuarantineRow.source) == current_source(),
            or_(
                col(QuarantineRow.record_key).in_(keys),
                and_(col(QuarantineRow.task_id).in_(ids), unresolved),
            ),
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
) -> RecordOutcome:
    """Write one task (see the module docstring); what happened."""
    counts = write_page(
        session, [Incoming(task, raw, record_key)], run_id=run_id, observed_at=observed_at
    )
    if counts.inserted:
        return RecordOutcome.INSERTED
    if counts.updated:
        return RecordOutcome.UPDATED
    if counts.older_skipped:
        return RecordOutcome.OLDER
    return RecordOutcome.UNCHANGED


def quarantine_record(
    session: Session, rejected: Rejected, *, run_id: str, observed_at: datetime
) -> bool:
    """Put one bad record in quarantine; True when something was written."""
    counts = write_page(session, [rejected], run_id=run_id, observed_at=observed_at)
    return counts.quarantine_changed > 0
