"""The task table: each task as the ledger holds it, its stored classification, and a full
read's marks.

`LedgerTask` is a task row read back: the `NormalisedTask` it holds, the classification columns
last written, and the ledger's own facts the rest of the connector needs (when it was first
seen, what the source acknowledged). Its columns and their conversions come from the models
(`connector.ledger.columns`). Reading takes anything `reader.reading` does (a plain read-only
connection, a session, a ledger); writing takes an open session and never commits.

* The classification step writes only what changed (`write_classifications`), one statement a
  batch, with a ``status_code`` history row per status change.
* A task is classified again only when it is due (`due_task_batch`): ``recheck_on`` NULL (new
  or changed since, a delivered tracking status, a missing mark) or come, ``checked_on`` after
  the as-of date, or ``classify_key`` not the run's (rules, settings, calendar or units
  changed); the classification step stamps what it looked at (`stamp_rechecks`: the as-of date
  ``checked_on`` and the first date ``recheck_on`` the verdict can change by the date alone).
* A full read stamps ``last_full_run`` on every task it lists (`stamp_full_read`); the tasks it
  did not list (`missing_task_ids`) are then marked deleted at the source with the reason
  ``missing`` (`mark_missing`), with a history row and a snapshot.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from connector.clock import to_utc
from connector.ledger.codec import task_to_json
from connector.ledger.columns import (
    CLASSIFICATION_COLUMNS,
    SOURCE_COLUMNS,
    task_from_row,
)
from connector.ledger.history import (
    STATUS_FIELD,
    HistoryEntry,
    Observation,
    SnapshotEntry,
    insert_history,
    latest_snapshot_json,
)
from connector.ledger.lines import StoredReading, listing_filter, reading_current
from connector.ledger.reader import in_list, reading
from connector.ledger.scope import current_source
from connector.ledger.values import converter
from connector.models import NormalisedTask, StatusCode

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db
    from connector.ledger.tables import TaskRow


@dataclass(frozen=True)
class LedgerTask:
    """A task row read back (see the module docstring).

    `stored` holds the classification columns as last written (``status_code`` None: never
    classified), by column name.
    """

    task: NormalisedTask
    stored: Mapping[str, Any]
    classified_on: date | None = None
    first_seen_at: datetime | None = None
    acked_tracking_status: str = ""
    acked_eff_due: date | None = None
    deleted_reason: str = ""

    @property
    def source_id(self) -> int:
        return self.task.source_id

    @property
    def deleted_at_source(self) -> bool:
        return self.task.deleted

    @property
    def status_code(self) -> str | None:
        value = self.stored.get("status_code")
        return str(value) if value is not None else None

    @property
    def suggested_deadline(self) -> date | None:
        value = self.stored.get("suggested_deadline")
        return value if isinstance(value, date) else None

    @property
    def suggested_phrase(self) -> str:
        return str(self.stored.get("suggested_phrase") or "")

    def reading(self) -> StoredReading:
        """What the classification step stored of the task's text (whether it holds for a day
        is `lines.reading_current`'s to say)."""
        stored = self.stored
        return StoredReading(
            kind=str(stored.get("kind_read") or ""),
            kind_source=str(stored.get("kind_source") or ""),
            kind_words_json=str(stored.get("kind_words_json") or "[]"),
            recurrence_rule_json=str(stored.get("recurrence_rule_json") or ""),
            suggested_deadline=self.suggested_deadline,
            suggested_phrase=self.suggested_phrase,
            suggested_recurrence=str(stored.get("suggested_recurrence") or ""),
        )

    def classified(self, values: Mapping[str, Any], as_of: date) -> LedgerTask:
        """This task with new classification values, as the row holds them once written."""
        return replace(self, stored={**self.stored, **values}, classified_on=as_of)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LedgerTask:
        """A plain row of `TASK_COLUMNS` (raw driver values) as a `LedgerTask` (each column
        as `values.column_value` reads it, its conversion looked up once: `_STORED`,
        `_KEPT`)."""
        stored = {name: None if (v := row[name]) is None else get(v) for name, get in _STORED}
        kept: dict[str, Any] = {
            name: None if (v := row[name]) is None else get(v) for name, get in _KEPT
        }
        return cls(task=task_from_row(row), stored=stored, **kept)


_STORED: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
    (c.name, converter(c.hint)) for c in CLASSIFICATION_COLUMNS
)
"""How `LedgerTask.from_row` reads each classification column (a value not None)."""


_BOOKKEEPING = (
    "classified_on",
    "first_seen_at",
    "acked_tracking_status",
    "acked_eff_due",
    "deleted_reason",
)
TASK_COLUMNS: tuple[str, ...] = (
    *(c.name for c in SOURCE_COLUMNS),
    *(c.name for c in CLASSIFICATION_COLUMNS),
    *_BOOKKEEPING,
)
"""What a `LedgerTask` is read from (the raw JSON and the content hash are not)."""
_SELECT = f"SELECT {', '.join(TASK_COLUMNS)} FROM task"
_KEPT: tuple[tuple[str, Callable[[Any], Any]], ...] = tuple(
    (name, converter(hint))
    for name, hint in typing.get_type_hints(LedgerTask).items()
    if name in _BOOKKEEPING
)
"""How `LedgerTask.from_row` reads the bookkeeping columns (a value not None)."""


# -- reading -------------------------------------------------------------------------------------


def get_task(session: Session, source_id: int) -> TaskRow | None:
    """One task row of the source in scope by its source id, as an ORM object (for code that
    changes it)."""
    from connector.ledger.tables import TaskRow  # noqa: PLC0415 - writing: the ORM

    return session.get(TaskRow, (current_source(), source_id))


def read_task(db: Db, source_id: int) -> LedgerTask | None:
    """One task by its source id (None: not in the ledger)."""
    with reading(db) as r:
        row = r.first(f"{_SELECT} WHERE source_id = :id", {"id": source_id})
    return LedgerTask.from_row(row) if row is not None else None


def task_batch(db: Db, *, after: int = 0, limit: int = 500) -> list[LedgerTask]:
    """The next `limit` tasks by id above `after` (keyset paging: callers batch in
    transactions)."""
    sql = f"{_SELECT} WHERE source_id > :after ORDER BY source_id LIMIT :limit"
    with reading(db) as r:
        return [LedgerTask.from_row(row) for row in r.rows(sql, {"after": after, "limit": limit})]


_DUE = (
    "(recheck_on IS NULL OR checked_on IS NULL OR checked_on > :as_of OR recheck_on <= :as_of "
    "OR classify_key != :key)"
)
"""A task to classify again as of ``:as_of`` with the run's ``:key`` (see `due_task_batch`): its
stored verdict holds from ``checked_on`` (the as-of date it was judged for) until the day before
``recheck_on``; a ``checked_on`` after ``:as_of`` was stamped by a run of a later day (an
earlier ``as_of`` now)."""


def due_task_batch(
    db: Db, *, as_of: date, key: str, after: int = 0, limit: int = 500
) -> list[LedgerTask]:
    """`task_batch` of the tasks due for classification as of `as_of` with the classification
    key `key`: never looked at, changed since (``recheck_on`` NULL), judged as of a later day
    (``checked_on`` after `as_of`), whose ``recheck_on`` has come, or last classified with
    another key."""
    sql = f"{_SELECT} WHERE source_id > :after AND {_DUE} ORDER BY source_id LIMIT :limit"
    params = {"after": after, "limit": limit, "as_of": as_of, "key": key}
    with reading(db) as r:
        return [LedgerTask.from_row(row) for row in r.rows(sql, params)]


def classify_again(session: Session, task_ids: Sequence[int]) -> None:
    """Have the next run classify and plan these tasks again (their outbox rows changed by
    hand, e.g. a dead row put back to pending that a newer status would supersede)."""
    ids = sorted({int(i) for i in task_ids})
    if not ids:
        return
    from sqlalchemy import update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK  # noqa: PLC0415

    session.execute(
        update(TASK)
        .where(TASK.c.source == current_source(), TASK.c.source_id.in_(ids))
        .values(recheck_on=None)
    )


def due_tasks_among(db: Db, ids: Sequence[int], *, as_of: date, key: str) -> list[LedgerTask]:
    """The tasks among `ids` that `due_task_batch` would return, by id (the ids of one page)."""
    wanted = sorted(set(ids))
    out: list[LedgerTask] = []
    with reading(db) as r:
        for start in range(0, len(wanted), 500):  # bound the statement's parameters
            listed, params = in_list("id", wanted[start : start + 500])
            sql = f"{_SELECT} WHERE source_id IN ({listed}) AND {_DUE} ORDER BY source_id"
            params.update(as_of=as_of, key=key)
            out += [LedgerTask.from_row(row) for row in r.rows(sql, params)]
    return out


def count_due(db: Db, *, as_of: date, key: str) -> int:
    """How many tasks `due_task_batch` would return in all."""
    params = {"as_of": as_of, "key": key}
    with reading(db) as r:
        return int(r.scalar(f"SELECT count(*) FROM task WHERE {_DUE}", params) or 0)


def stamp_rechecks(
    session: Session, rechecks: Mapping[int, date], *, key: str, checked_on: date
) -> None:
    """Record, for each task judged as of `checked_on`, the first day its verdict can change
    (`connector.rules.recheck.recheck_after`) and the key it was classified with (one statement
    per distinct day)."""
    from sqlalchemy import update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK  # noqa: PLC0415

    by_day: dict[date, list[int]] = {}
    for task_id, day in rechecks.items():
        by_day.setdefault(day, []).append(task_id)
    for day, ids in sorted(by_day.items()):
        session.execute(
            update(TASK)
            .where(TASK.c.source == current_source(), TASK.c.source_id.in_(sorted(ids)))
            .values(recheck_on=day, checked_on=checked_on, classify_key=key)
        )


def iter_tasks(db: Db, *, batch_size: int = 500) -> Iterator[LedgerTask]:
    """Every task the reads see, source by source and by id within each, read `batch_size` at a
    time (ids are unique per source only: paging on the id alone would skip the second
    source's task of an id two sources hold)."""
    for row in _task_rows(db, "", {}, batch_size):
        yield LedgerTask.from_row(row)


def iter_tasks_read(
    db: Db, *, as_of: date, keys: tuple[str, ...], batch_size: int = 500
) -> Iterator[tuple[LedgerTask, StoredReading | None]]:
    """`iter_tasks`, each task with what the classification step stored of its text when that
    holds as of `as_of` with one of the classification `keys` (`lines.reading_current`: judged
    as of a day whose verdict holds through `as_of`, from its current content); None: the
    caller reads the text."""
    current, params = reading_current(keys)
    for row in _task_rows(db, f", {current}", {**params, "as_of": as_of}, batch_size):
        task = LedgerTask.from_row(row)
        yield task, task.reading() if row["reading_current"] else None


def _task_rows(
    db: Db, more: str, params: Mapping[str, Any], batch_size: int
) -> Iterator[Mapping[str, Any]]:
    """The rows of `iter_tasks` (with the columns `more` adds), `batch_size` a query."""
    columns = ", ".join(TASK_COLUMNS) + more
    sql = (
        f"SELECT {columns} FROM task WHERE source = :source AND source_id > :after "
        "ORDER BY source_id LIMIT :limit"
    )
    with reading(db) as r:
        for source in sorted(r.column("SELECT DISTINCT source FROM task", {})):
            after = 0
            while rows := r.rows(
                sql, {**params, "source": source, "after": after, "limit": batch_size}
            ):
                yield from rows
                after = rows[-1]["source_id"]


def list_tasks(
    db: Db,
    unit: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    *,
    include_deleted: bool = False,
) -> list[LedgerTask]:
    """Tasks by id, optionally of one lead unit and/or one status code (``DTH_QUA_HAN``...)."""
    where, params = listing_filter(unit, status, include_deleted)
    sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY source_id"
    if limit is not None:
        sql += " LIMIT :limit"
    params = {**params, "limit": limit}
    with reading(db) as r:
        return [LedgerTask.from_row(row) for row in r.rows(sql, params)]


def count_tasks(db: Db, *, include_deleted: bool = True) -> int:
    """How many tasks the ledger holds."""
    sql = "SELECT count(*) FROM task" + ("" if include_deleted else " WHERE deleted_at_source = :f")
    with reading(db) as r:
        return int(r.scalar(sql, {"f": False}) or 0)


@dataclass(frozen=True)
class TaskCounts:
    """The task table at a glance: every task, those deleted at the source, and the live ones
    by stored status (every `StatusCode` listed, zeros included) or never classified."""

    total: int
    deleted_at_source: int
    unclassified: int
    by_status: dict[str, int]


def task_counts(db: Db) -> TaskCounts:
    """How many tasks, how many deleted at the source, and the live ones by stored status (one
    query, answered from the index ``ix_task_status_deleted`` alone)."""
    with reading(db) as r:
        rows = r.rows(
            "SELECT status_code, deleted_at_source, count(*) AS n FROM task "
            "GROUP BY status_code, deleted_at_source"
        )
    by_status = {code.value: 0 for code in StatusCode}
    total = deleted = unclassified = 0
    for row in rows:
        n = int(row["n"])
        total += n
        if row["deleted_at_source"]:
            deleted += n
        elif row["status_code"]:
            code = str(row["status_code"])
            by_status[code] = by_status.get(code, 0) + n
        else:
            unclassified += n
    return TaskCounts(total, deleted, unclassified, by_status)


def live_by_unit(db: Db, status: str) -> dict[str, int]:
    """Tasks not deleted at the source with stored status `status`, per lead unit code."""
    with reading(db) as r:
        rows = r.rows(
            "SELECT lead_unit_code, count(*) AS n FROM task WHERE deleted_at_source = :f "
            "AND status_code = :status GROUP BY lead_unit_code",
            {"f": False, "status": status},
        )
    return {str(row["lead_unit_code"] or ""): int(row["n"]) for row in rows}


def acked_status(db: Db, source_id: int) -> str:
    """The tracking status the source last acknowledged for a task ("" for none or no task)."""
    with reading(db) as r:
        found = r.scalar(
            "SELECT acked_tracking_status FROM task WHERE source_id = :id", {"id": source_id}
        )
    return str(found or "")


def acknowledge(session: Session, source_id: int, status: str, eff_due: date | None) -> None:
    """Record what the source now acknowledges for a task (a delivered tracking status).

    Planning reads the acknowledged status (a tracking write is planned while it differs from
    the classification), nothing else does. When the source acknowledges the status and
    effective due date the task is classified with (our own write, delivered), no verdict or
    plan can change by it, so the task is not made due again (its ``recheck_on`` is kept); an
    acknowledged status that differs (the task changed while the write was on its way) has the
    task classified and planned again by the next run."""
    from sqlalchemy import and_, case, update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK  # noqa: PLC0415

    same_due = TASK.c.eff_due.is_(None) if eff_due is None else TASK.c.eff_due == eff_due
    current = and_(TASK.c.status_code == status, same_due)
    session.execute(
        update(TASK)
        .where(TASK.c.source == current_source(), TASK.c.source_id == source_id)
        .values(
            acked_tracking_status=status,
            acked_eff_due=eff_due,
            recheck_on=case((current, TASK.c.recheck_on), else_=None),
        )
    )


# -- classification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassificationChange:
    """New classification values for one task (every `CLASSIFICATION_NAMES` column)."""

    task_id: int
    values: Mapping[str, Any]
    old_status: str | None
    effective_on: date
    source_modified: datetime | None = None

    @property
    def status_changed(self) -> bool:
        return bool(self.values["status_code"] != self.old_status)


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
        HistoryEntry.observed(
            c.task_id,
            STATUS_FIELD,
            (c.old_status or "", str(c.values["status_code"] or "")),
            obs,
            effective_on=c.effective_on,
            source_modified=c.source_modified,
        )
        for c in changes
        if c.status_changed
    ]
    session.flush()  # the task rows first
    insert_history(session, history)
    return len(history)


def write_classifications(
    session: Session,
    changes: Sequence[ClassificationChange],
    *,
    as_of: date,
    run_id: str,
    observed_at: datetime,
    rechecks: Mapping[int, date] | None = None,
    key: str = "",
) -> int:
    """Store changed classifications (one statement), with ``classified_on`` and their status
    history (`write_status_history`); the number of status changes.

    `rechecks` (with `key`): what `stamp_rechecks` would stamp on these tasks as of `as_of`,
    written by the same statement (every changed task must have its day)."""
    if not changes:
        return 0
    from connector.ledger.bulk import update_by_source_id  # noqa: PLC0415 - writing: SQLAlchemy
    from connector.ledger.tables import TASK  # noqa: PLC0415

    params = [{"b_source_id": c.task_id, **c.values, "classified_on": as_of} for c in changes]
    if rechecks is not None:
        for row in params:
            row.update(recheck_on=rechecks[row["b_source_id"]], checked_on=as_of, classify_key=key)
    update_by_source_id(session, TASK, params)
    return write_status_history(session, changes, run_id=run_id, observed_at=observed_at)


# -- a full read: what it did not list ------------------------------------------------------------


def missing_task_ids(db: Db, run_id: str, *, after: int = 0, limit: int = 500) -> list[int]:
    """Ids (ascending, > `after`) of live tasks the full read `run_id` did not list."""
    sql = (
        "SELECT source_id FROM task WHERE source_id > :after AND last_full_run != :run "
        "AND deleted_at_source = :f ORDER BY source_id LIMIT :limit"
    )
    with reading(db) as r:
        found = r.column(sql, {"after": after, "run": run_id, "f": False, "limit": limit})
    return [int(i) for i in found]


def stamp_full_read(session: Session, ids: Sequence[int], *, run_id: str) -> None:
    """Record that the full read `run_id` found these tasks (so they are not missing)."""
    if not ids:
        return
    from sqlalchemy import update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK  # noqa: PLC0415

    session.execute(
        update(TASK)
        .where(TASK.c.source == current_source(), TASK.c.source_id.in_(list(ids)))
        .values(last_full_run=run_id)
    )


def mark_missing(
    session: Session, ids: Sequence[int], *, run_id: str, observed_at: datetime
) -> int:
    """Mark tasks deleted at the source (reason ``missing``), with history and snapshot."""
    if not ids:
        return 0
    from sqlalchemy import update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK  # noqa: PLC0415

    obs = Observation(run_id, to_utc(observed_at))
    wanted, params = in_list("id", ids)
    with reading(session) as r:
        rows = r.rows(
            f"SELECT {', '.join(TASK_COLUMNS)}, content_hash FROM task "
            f"WHERE source_id IN ({wanted}) AND deleted_at_source = :f ORDER BY source_id",
            {**params, "f": False},
        )
    history: list[HistoryEntry] = []
    snapshots: list[SnapshotEntry] = []
    for row in rows:
        task = task_from_row(row)
        history.append(
            HistoryEntry.observed(
                task.source_id,
                "deleted",
                ("false", "true"),
                obs,
                effective_on=obs.observed_on,
                source_modified=task.last_modified,
            )
        )
        body = latest_snapshot_json(session, task.source_id) or task_to_json(task)
        snapshots.append(SnapshotEntry.of(task, str(row["content_hash"]), body, obs, True))
    if not history:
        return 0
    session.execute(
        update(TASK)
        .where(TASK.c.source == current_source())
        .where(TASK.c.source_id.in_([h.task_id for h in history]))
        .values(
            deleted_at_source=True,
            deleted_reason="missing",
            updated_at=obs.observed_at,
            last_seen_run=run_id,
            recheck_on=None,
        )
    )
    insert_history(session, history, snapshots)
    return len(history)
