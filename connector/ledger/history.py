"""A task's past in the ledger: one ``task_history`` row per change of a tracked field, and a
``task_snapshot`` of the whole normalised task at each content change.

* `TRACKED_FIELDS` are the task fields whose every change is a history row, with the run, the
  source's ``lastModifyStr``, when it was observed (instant and local date) and the local date
  it took effect (`effective_on`); an insert records the initial value of each that has one. The
  classification step adds a row per change of the computed status (`STATUS_FIELD`).
* A snapshot holds the task's canonical JSON (`codec.task_to_json`); `iter_tasks_as_of` rebuilds
  what the ledger knew of every task at the end of any past day from them.

Writing takes an open session and never commits; reading takes anything `reader.reading` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from connector.clock import local_date
from connector.ledger.codec import history_value, task_from_json
from connector.ledger.columns import tracked_values
from connector.ledger.reader import Reader, in_list, reading
from connector.ledger.values import record
from connector.models import NormalisedTask, TaskState

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db

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


@dataclass(frozen=True)
class Observation:
    """Who wrote a change and when: the run, the instant, and its local date."""

    run_id: str
    observed_at: datetime
    observed_on: date = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "observed_on", local_date(self.observed_at))


@dataclass(frozen=True)
class HistoryEntry:
    """One ``task_history`` row: a change of one field of one task."""

    task_id: int
    run_id: str
    field: str
    old_value: str
    new_value: str
    observed_at: datetime
    observed_on: date
    effective_on: date
    source_modified: datetime | None = None
    id: int | None = None

    @classmethod
    def observed(
        cls,
        task_id: int,
        name: str,
        change: tuple[str, str],
        obs: Observation,
        *,
        effective_on: date,
        source_modified: datetime | None,
    ) -> HistoryEntry:
        """The change `change` (old, new) of field `name`, as `obs` saw it."""
        return cls(
            task_id,
            obs.run_id,
            name,
            *change,
            obs.observed_at,
            obs.observed_on,
            effective_on,
            source_modified,
        )

    def values(self) -> dict[str, Any]:
        """The row's columns for an insert (the id is the database's).

        Spelled out, not `dataclasses.asdict` (which deep-copies every value): a first pull
        inserts several history rows per task."""
        return {
            "task_id": self.task_id,
            "run_id": self.run_id,
            "field": self.field,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "observed_at": self.observed_at,
            "observed_on": self.observed_on,
            "effective_on": self.effective_on,
            "source_modified": self.source_modified,
        }


@dataclass(frozen=True)
class SnapshotEntry:
    """One ``task_snapshot`` row: the normalised task as it was at one content change."""

    task_id: int
    run_id: str
    observed_at: datetime
    observed_on: date
    source_modified: datetime
    content_hash: str
    normalised_json: str
    deleted_at_source: bool = False
    id: int | None = None

    @classmethod
    def of(
        cls, task: NormalisedTask, digest: str, body: str, obs: Observation, deleted: bool
    ) -> SnapshotEntry:
        """A snapshot of `task` (its canonical JSON `body`, content hash `digest`)."""
        return cls(
            task.source_id,
            obs.run_id,
            obs.observed_at,
            obs.observed_on,
            task.last_modified,
            digest,
            body,
            deleted,
        )

    def values(self) -> dict[str, Any]:
        """The row's columns for an insert (the id is the database's; no deep copy)."""
        return {
            "task_id": self.task_id,
            "run_id": self.run_id,
            "observed_at": self.observed_at,
            "observed_on": self.observed_on,
            "source_modified": self.source_modified,
            "content_hash": self.content_hash,
            "normalised_json": self.normalised_json,
            "deleted_at_source": self.deleted_at_source,
        }


# -- what changed ----------------------------------------------------------------------------------


def tracked(task: NormalisedTask) -> dict[str, str]:
    """The history values of a task's tracked fields."""
    return {name: history_value(getattr(task, name)) for name in TRACKED_FIELDS}


def tracked_from_row(row: Any) -> dict[str, str]:
    """The history values of a task row's tracked fields (== `tracked` of the task it holds)."""
    return tracked_values(row, TRACKED_FIELDS)


def _effective_on(
    name: str,
    task: NormalisedTask,
    observed_on: date,
    inserted: bool,
    modified: date,
    *,
    assigned_on: date | None = None,
) -> date:
    """The local date a change of `name` took effect, as far as the record tells (`modified`:
    the local date of the task's ``last_modified``; `assigned_on`: of its ``assigned_at``, when
    the caller has it already)."""
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
        return min(assigned_on or local_date(task.assigned_at), modified)
    return min(modified, observed_on)


def changes(
    old: Mapping[str, str] | None,
    new: NormalisedTask,
    obs: Observation,
    after: Mapping[str, str] | None = None,
) -> list[HistoryEntry]:
    """History rows for the tracked fields that differ between `old` and the new version
    (`after`: its `tracked` values when the caller has them already)."""
    return [HistoryEntry(**row) for row in change_rows(old, new, obs, after)]


def change_rows(
    old: Mapping[str, str] | None,
    new: NormalisedTask,
    obs: Observation,
    after: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """`changes` as the rows `insert_history` writes (`HistoryEntry.values`), without an
    entry made for each only to be read back: a first pull writes some five a task."""
    after = tracked(new) if after is None else after
    if old is None:
        # An insert records what the first version holds; "false" flags are no news.
        before = {k: ("false" if after[k] == "false" else "") for k in TRACKED_FIELDS}
    else:
        before = dict(old)
    modified = local_date(new.last_modified)
    assigned = local_date(new.assigned_at) if new.assigned_at is not None else None
    return [
        {
            "task_id": new.source_id,
            "run_id": obs.run_id,
            "field": name,
            "old_value": before[name],
            "new_value": after[name],
            "observed_at": obs.observed_at,
            "observed_on": obs.observed_on,
            "effective_on": _effective_on(
                name, new, obs.observed_on, old is None, modified, assigned_on=assigned
            ),
            "source_modified": new.last_modified,
        }
        for name in TRACKED_FIELDS
        if before[name] != after[name]
    ]


def insert_history(
    session: Session,
    history: Sequence[HistoryEntry | Mapping[str, Any]],
    snapshots: Sequence[SnapshotEntry] = (),
) -> None:
    """Insert history rows (entries, or their `HistoryEntry.values` as `change_rows` makes
    them) and snapshot rows, after the task rows they refer to."""
    from connector.ledger.bulk import insert_many  # noqa: PLC0415 - writing: SQLAlchemy
    from connector.ledger.tables import HISTORY, SNAPSHOT  # noqa: PLC0415

    rows = [h.values() if isinstance(h, HistoryEntry) else h for h in history]
    insert_many(session, HISTORY, rows)
    insert_many(session, SNAPSHOT, [s.values() for s in snapshots])


# -- reading ---------------------------------------------------------------------------------------

_HISTORY = (
    "SELECT id, task_id, run_id, field, old_value, new_value, observed_at, observed_on, "
    "effective_on, source_modified FROM task_history"
)
_SNAPSHOT = (
    "SELECT id, task_id, run_id, observed_at, observed_on, source_modified, content_hash, "
    "normalised_json, deleted_at_source FROM task_snapshot"
)


def task_history(db: Db, task_id: int, *, until: date | None = None) -> list[HistoryEntry]:
    """Every recorded change of a task, in the order it was written (`until`: observed by then)."""
    sql = f"{_HISTORY} WHERE task_id = :task_id"
    if until is not None:
        sql += " AND observed_on <= :until"
    with reading(db) as r:
        rows = r.rows(sql + " ORDER BY id", {"task_id": task_id, "until": until})
    return [record(HistoryEntry, row) for row in rows]


def task_snapshots(db: Db, task_id: int) -> list[SnapshotEntry]:
    """Every snapshot of a task, oldest first."""
    with reading(db) as r:
        rows = r.rows(f"{_SNAPSHOT} WHERE task_id = :task_id ORDER BY id", {"task_id": task_id})
    return [record(SnapshotEntry, row) for row in rows]


def snapshot_on(db: Db, task_id: int, day: date) -> SnapshotEntry | None:
    """The task's latest snapshot observed on or before local day `day` (None: not known yet)."""
    sql = f"{_SNAPSHOT} WHERE task_id = :task_id AND observed_on <= :day ORDER BY id DESC LIMIT 1"
    with reading(db) as r:
        row = r.first(sql, {"task_id": task_id, "day": day})
    return record(SnapshotEntry, row) if row is not None else None


def latest_snapshot_json(db: Db, task_id: int) -> str | None:
    """The canonical JSON of the task's latest snapshot (None: no snapshot)."""
    sql = "SELECT normalised_json FROM task_snapshot WHERE task_id = :task_id ORDER BY id DESC"
    with reading(db) as r:
        found = r.scalar(sql + " LIMIT 1", {"task_id": task_id})
    return str(found) if found is not None else None


def iter_tasks_as_of(
    db: Db,
    day: date,
    *,
    include_deleted: bool = False,
    ids: tuple[int, int | None] = (1, None),
    batch_size: int = 500,
) -> Iterator[NormalisedTask]:
    """What the ledger knew of every task at the end of local day `day`, by id, in batches.

    Each task is its latest snapshot observed on or before `day`. Tasks deleted at the source
    by then (soft-deleted or missing from a full read) are left out unless `include_deleted`
    (then their ``deleted`` is True). `ids`: the task ids read, from the first up to (not
    including) the second (None: every id from the first up).
    """
    with reading(db) as r:
        # Source by source: ids are unique per source only (issue 16).
        for source in sorted(r.column("SELECT DISTINCT source FROM task", {})):
            yield from _source_tasks_as_of(r, source, day, include_deleted, ids, batch_size)


def _source_tasks_as_of(  # noqa: PLR0917 - private, one caller
    r: Reader,
    source: str,
    day: date,
    include_deleted: bool,
    bounds: tuple[int, int | None],
    batch_size: int,
) -> Iterator[NormalisedTask]:
    """`iter_tasks_as_of` of one source."""
    after = bounds[0] - 1
    below = "" if bounds[1] is None else "AND task_id < :below "
    while True:
        # Latest snapshot per task for the next `batch_size` tasks (portable: no DISTINCT ON).
        ids = r.column(
            "SELECT task_id FROM task_snapshot WHERE source = :source AND observed_on <= :day "
            f"AND task_id > :after {below}GROUP BY task_id ORDER BY task_id LIMIT :limit",
            {
                "source": source,
                "day": day,
                "after": after,
                "below": bounds[1],
                "limit": batch_size,
            },
        )
        if not ids:
            return
        wanted, params = in_list("id", ids)
        newest: dict[int, Mapping[str, Any]] = {}
        for row in r.rows(
            "SELECT task_id, normalised_json, deleted_at_source FROM task_snapshot "
            f"WHERE source = :source AND task_id IN ({wanted}) AND observed_on <= :day "
            "ORDER BY task_id, id",
            {**params, "source": source, "day": day},
        ):
            newest[int(row["task_id"])] = row
        for task_id in ids:
            snap = newest[int(task_id)]
            task = task_from_json(snap["normalised_json"])
            deleted = bool(snap["deleted_at_source"]) or task.deleted
            if deleted and not include_deleted:
                continue
            yield replace(task, deleted=True) if deleted else task
        after = int(ids[-1])


def first_observed_on(db: Db) -> date | None:
    """The local day the ledger first observed a task (its first sync's), None when empty:
    before it, what the ledger knew (`iter_tasks_as_of`) is nothing."""
    with reading(db) as r:
        found = r.scalar("SELECT min(observed_on) FROM task_snapshot")
    if found is None:
        return None
    return found if isinstance(found, date) else date.fromisoformat(str(found)[:10])


def tasks_as_of(db: Db, day: date, *, include_deleted: bool = False) -> list[NormalisedTask]:
    """`iter_tasks_as_of` as a list."""
    return list(iter_tasks_as_of(db, day, include_deleted=include_deleted))


def statuses_on(db: Db, day: date) -> dict[int, str]:
    """The recorded deadline status of every task on local day `day` (latest effective row)."""
    sql = (
        "SELECT task_id, new_value FROM task_history WHERE field = :field AND effective_on <= :day "
        "ORDER BY task_id, effective_on, id"
    )
    result: dict[int, str] = {}
    with reading(db) as r:
        for row in r.rows(sql, {"field": STATUS_FIELD, "day": day}):
            task_id, value = int(row["task_id"]), row["new_value"]
            if value:
                result[task_id] = str(value)
            else:
                result.pop(task_id, None)
    return result
