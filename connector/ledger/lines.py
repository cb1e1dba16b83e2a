"""The task table read for a listing or a report: only the columns each needs, streamed by id.

`iter_task_lines` reads only the columns of a `TaskLine` (no raw JSON, no deadline changes, no
coordinators), `batch_size` rows at a time by keyset paging on ``source_id`` (each batch one
query: on SQLite and PostgreSQL alike memory stays flat in the number of tasks), so a listing of
every task costs what its lines cost. Its ``WHERE`` clause is built in one place
(`listing_filter`): a new filter goes there.

`iter_source_tasks` reads every task's own columns for the report (`connector.reports.build`);
`iter_report_rows` is the report of the day's read: rows as tuples, a task whose stored verdict
holds for the day as a light `TaskView` with its `StoredVerdict` (not built, not classified
again), the others as tasks.

Reading takes anything `connector.ledger.reader.reading` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from connector.ledger.columns import (
    SOURCE_COLUMNS,
    STORED_PROPERTIES,
    decode_deadline_changes,
    task_from_row,
)
from connector.ledger.reader import in_list, reading
from connector.ledger.values import LocalDays, day, instant
from connector.models import DeadlineChange, NormalisedTask, TaskState

if TYPE_CHECKING:
    from connector.ledger.reader import Db


@dataclass(frozen=True)
class TaskLine:
    """One line of ``tasks list``: a task's identity, its source state and its stored
    classification (``status_code`` None: never classified)."""

    source_id: int
    sign_number: str
    subject: str
    lead_unit_code: str
    state: str
    status_code: str | None
    deadline: date | None
    eff_due: date | None
    days_overdue: int | None
    due_soon: bool | None
    confirmed: bool
    deleted_at_source: bool


_LINE_NAMES = tuple(f.name for f in fields(TaskLine))
_LINE_COLUMNS = ", ".join(_LINE_NAMES)

# Keyset paging on the task key (ids are unique per source only: `connector.ledger.scope`),
# in the listing's order, by id.
_BY_KEY = "ORDER BY source_id, source"
_AFTER_KEY = "(source_id >= :after AND (source_id > :after OR source > :after_source))"
"""Past the key (id, source) of the previous batch's last row. The leading ``source_id >=``
lets PostgreSQL and SQLite start an index range on the id (an ``OR`` alone made every batch
scan the index from the lowest id: quadratic over a large ledger)."""


def _key_of(row: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `_AFTER_KEY` that page past `row`."""
    return {"after": int(row["source_id"]), "after_source": str(row["source"])}


def _optional_day(value: Any) -> date | None:
    return None if value is None else day(value)


def _optional_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _line(row: tuple[Any, ...]) -> TaskLine:
    """A listing row (raw driver values, in `TaskLine`'s order) as a `TaskLine`: the
    conversions of `connector.ledger.values.column_value`, spelt out for speed."""
    (
        source_id,
        sign,
        subject,
        unit,
        state,
        status,
        deadline,
        eff_due,
        overdue,
        soon,
        confirmed,
        deleted,
    ) = row
    return TaskLine(
        source_id=source_id,
        sign_number=sign,
        subject=subject,
        lead_unit_code=unit,
        state=state,
        status_code=status,
        deadline=_optional_day(deadline),
        eff_due=_optional_day(eff_due),
        days_overdue=overdue,
        due_soon=_optional_bool(soon),
        confirmed=bool(confirmed),
        deleted_at_source=bool(deleted),
    )


def listing_filter(
    unit: str | None, status: str | None, include_deleted: bool
) -> tuple[list[str], dict[str, Any]]:
    """The conditions of a listing (lead unit, stored status, live tasks only) and their
    parameters."""
    where: list[str] = []
    if unit is not None:
        where.append("lead_unit_code = :unit")
    if status is not None:
        where.append("status_code = :status")
    if not include_deleted:
        where.append("deleted_at_source = :false")
    return where, {"unit": unit, "status": status, "false": False}


def iter_task_lines(
    db: Db,
    *,
    unit: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
    batch_size: int = 1000,
) -> Iterator[TaskLine]:
    """The tasks by id as `TaskLine`, optionally of one lead unit and/or one stored status, at
    most `limit` (None: all), read `batch_size` at a time."""
    where, params = listing_filter(unit, status, include_deleted)

    def query(*extra: str) -> str:
        conditions = [*where, *extra]
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {_LINE_COLUMNS}, source FROM task{clause} {_BY_KEY} LIMIT :batch"

    first, following = query(), query(_AFTER_KEY)  # ids may be negative
    left = limit
    after: dict[str, Any] | None = None
    with reading(db) as r:
        while left is None or left > 0:
            size = batch_size if left is None else min(batch_size, left)
            sql = first if after is None else following
            rows = r.rows(sql, {**params, **(after or {}), "batch": size})
            for row in rows:
                yield _line(tuple(row[name] for name in _LINE_NAMES))
            if len(rows) < size:
                return
            after = _key_of(rows[-1])
            if left is not None:
                left -= len(rows)


# -- the tasks alone, for a report -----------------------------------------------------------------

_TASK_COLUMNS = ", ".join(c.name for c in SOURCE_COLUMNS if c.field not in STORED_PROPERTIES)
_TASKS = f"SELECT {_TASK_COLUMNS}, source FROM task WHERE {{}} {_BY_KEY} LIMIT :batch"
_TASKS_FIRST = _TASKS.format("source_id > 0")
_TASKS_AFTER = _TASKS.format(_AFTER_KEY)


def iter_source_tasks(db: Db, *, batch_size: int = 1000) -> Iterator[NormalisedTask]:
    """Every task the ledger holds (deleted ones too) by id, as the `NormalisedTask` its row
    holds, read `batch_size` at a time: only the task's own columns, not the classification,
    the bookkeeping or the raw JSON (the ids `connector.ledger.tasks.iter_tasks` reads: from
    1 up)."""
    after: dict[str, Any] | None = None
    with reading(db) as r:
        while rows := r.rows(
            _TASKS_FIRST if after is None else _TASKS_AFTER, {**(after or {}), "batch": batch_size}
        ):
            for row in rows:
                yield task_from_row(row)
            after = _key_of(rows[-1])


# -- the tasks with what the classification step read of their text, for the report of a day -----


class StoredReading(NamedTuple):
    """What the classification step stored of a task's text (`connector.ledger.columns`'s
    suggestion and `READING_COLUMNS`), raw: the report turns it back into its rules' types."""

    kind: str
    kind_source: str
    kind_words_json: str
    recurrence_rule_json: str
    suggested_deadline: date | None
    suggested_phrase: str
    suggested_recurrence: str


_READING = (
    "kind_read, kind_source, kind_words_json, recurrence_rule_json, suggested_deadline, "
    "suggested_phrase, suggested_recurrence"
)
_CURRENT = (
    "CASE WHEN checked_on <= :as_of AND recheck_on > :as_of AND kind_read != '' "
    "AND classify_key IN ({keys}) THEN 1 ELSE 0 END AS reading_current"
)


def reading_current(keys: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """A column ``reading_current`` (1 or 0) saying whether what the classification step stored
    of a task's text holds as of ``:as_of`` with one of the classification `keys` (see
    `iter_source_tasks_read`), and the parameters of `keys`."""
    listed, params = in_list("key", keys)
    return _CURRENT.format(keys=listed), params


def iter_source_tasks_read(
    db: Db, *, as_of: date, keys: tuple[str, ...], batch_size: int = 1000
) -> Iterator[tuple[NormalisedTask, StoredReading | None]]:
    """`iter_source_tasks`, each task with what the classification step stored of its text when
    that is current: the task was judged as of a day whose verdict holds for `as_of`
    (``checked_on`` <= `as_of` < ``recheck_on``, `connector.rules.recheck`), from its current
    content (a change clears ``recheck_on``), with one of the classification `keys`, and its
    reading was stored (``None`` otherwise: the caller reads the text)."""
    current, params = reading_current(keys)
    columns = f"{_TASK_COLUMNS}, source, {_READING}, {current}"
    sql = f"SELECT {columns} FROM task WHERE {{}} {_BY_KEY} LIMIT :batch"
    first, following = sql.format("source_id > 0"), sql.format(_AFTER_KEY)
    params = {**params, "as_of": as_of, "batch": batch_size}
    after: dict[str, Any] | None = None
    with reading(db) as r:
        while rows := r.rows(first if after is None else following, {**params, **(after or {})}):
            for row in rows:
                stored = None
                if row["reading_current"]:
                    stored = StoredReading(
                        kind=row["kind_read"],
                        kind_source=row["kind_source"],
                        kind_words_json=row["kind_words_json"],
                        recurrence_rule_json=row["recurrence_rule_json"],
                        suggested_deadline=_optional_day(row["suggested_deadline"]),
                        suggested_phrase=row["suggested_phrase"],
                        suggested_recurrence=row["suggested_recurrence"],
                    )
                yield task_from_row(row), stored
            after = _key_of(rows[-1])


# -- the report of a day: stored verdicts as plain tuples, the others as tasks ---------------------


class TaskView:
    """What a report reads of a task whose stored verdict it trusts (`connector.models.
    ReportedTask`), from the raw columns: the instants it rarely reads (the assignment, the
    last progress report, the last modification) are parsed on first use; `assigned_on`, the
    local date it was assigned (`connector.reports.build.assigned_on`, read several times a
    task), is given as it was read."""

    __slots__ = (
        "_assigned_at",
        "_last_modified",
        "_last_report_at",
        "assigned_on",
        "doc_date",
        "lead_unit_code",
        "lead_unit_name",
        "progress",
        "sign_number",
        "source_id",
        "steering_content",
        "subject",
    )

    def __init__(  # noqa: PLR0917 - one per column, made in one place
        self,
        source_id: int,
        sign_number: str,
        subject: str,
        doc_date: date | None,
        steering_content: str,
        lead_unit_code: str,
        lead_unit_name: str,
        assigned_at: Any,
        assigned_on: date | None,
        progress: int | None,
        last_report_at: Any,
        last_modified: Any,
    ) -> None:
        self.source_id = source_id
        self.sign_number = sign_number
        self.subject = subject
        self.doc_date = doc_date
        self.steering_content = steering_content
        self.lead_unit_code = lead_unit_code
        self.lead_unit_name = lead_unit_name
        self._assigned_at = assigned_at
        self.assigned_on = assigned_on
        self.progress = progress
        self._last_report_at = last_report_at
        self._last_modified = last_modified

    @property
    def assigned_at(self) -> datetime | None:
        raw = self._assigned_at
        return None if raw is None else instant(raw)

    @property
    def last_report_at(self) -> datetime | None:
        raw = self._last_report_at
        return None if raw is None else instant(raw)

    @property
    def last_modified(self) -> datetime:
        return instant(self._last_modified)


class StoredVerdict(NamedTuple):
    """A task's classification as the classification step stored it for the report's day
    (its classification columns), with the task columns the rest of it is computed from
    (`connector.reports.build.stored_classification`)."""

    status_code: str
    eff_due: date | None
    days_overdue: int
    working_days_overdue: int
    working_days_left: int | None
    due_soon: bool
    overdue_over_30: bool
    stale_no_deadline: bool
    unconfirmed: bool
    extended: bool
    extended_after_overdue: bool
    deadline: date | None
    """The task's current deadline (the one in force follows from `changes`)."""
    changes: tuple[DeadlineChange, ...]
    original_deadline: date | None
    state: str
    completed_on: date | None
    """The local date of the completion instant (read only for a task done)."""
    modified_on: date | None
    """The local date of the last modification (read only for a task done without a
    completion instant)."""


StoredTask = tuple[TaskView, StoredVerdict, StoredReading]
"""A task whose stored verdict and reading hold for the report's day."""
ReadTask = tuple[NormalisedTask, StoredReading | None]
"""A task to classify again (with its stored reading when that still holds)."""

_VERDICT = (
    "status_code, eff_due, days_overdue, working_days_overdue, working_days_left, due_soon, "
    "overdue_over_30, stale_no_deadline, unconfirmed, extended, extended_after_overdue"
)
_TRUSTED = (
    "CASE WHEN checked_on <= :as_of AND recheck_on > :as_of AND kind_read != '' "
    "AND classify_key IN ({keys}) THEN "
    "CASE WHEN NOT extended_after_overdue AND kind_source != 'override' "
    "AND status_code IS NOT NULL THEN 2 ELSE 1 END ELSE 0 END AS verdict"
)
"""2: the stored verdict and reading hold for the day (judged as of a day from which they hold
until the day before ``recheck_on``, from the current content, with one of the keys) and answer
every question of the report (no extension after the deadline, whose details a report reads
from the changes, no administrator's kind); 1: only the stored reading holds; 0: neither."""

_TRUSTED_FLAG = 2
_DONE = TaskState.DONE.value


def iter_report_rows(
    db: Db,
    *,
    as_of: date,
    keys: tuple[str, ...],
    ids: tuple[int, int | None] = (1, None),
    batch_size: int = 2000,
) -> Iterator[StoredTask | ReadTask]:
    """Every task the ledger holds (deleted ones too) by key, for the report as of `as_of`: a
    `StoredTask` when the verdict the classification step stored holds for that day
    (``checked_on`` <= `as_of` < ``recheck_on``, `connector.rules.recheck`), from its current
    content, with one of the classification `keys` (see `_TRUSTED`), read from plain columns
    without building the task; else the `ReadTask` of `iter_source_tasks_read`. Rows are read
    as tuples, `batch_size` at a time. `ids`: the task ids read, from the first up to (not
    including) the second (None: every id from the first up; see `halfway_id`)."""
    listed, params = in_list("key", keys)
    trusted = _TRUSTED.format(keys=listed)
    columns = f"{_LIGHT}, {_READING}, {_VERDICT}, {trusted}"
    below = "" if ids[1] is None else " AND source_id < :below"
    sql = f"SELECT {columns} FROM task WHERE {{}}{below} {_BY_KEY} LIMIT :batch"
    first, following = sql.format("source_id >= :first"), sql.format(_AFTER_KEY)
    params = {**params, "as_of": as_of, "batch": batch_size, "first": ids[0], "below": ids[1]}
    after: dict[str, Any] | None = None
    local = LocalDays()  # shared by the batches: a few thousand hours
    with reading(db) as r:
        while True:
            names, rows = r.tuples(
                first if after is None else following, {**params, **(after or {})}
            )
            if not rows:
                return
            again = [(row[1], row[0]) for row in rows if row[-1] != _TRUSTED_FLAG]
            yield from _report_rows(rows, names, _full_rows(r, again), local)
            last = rows[-1]
            after = {"after": int(last[0]), "after_source": str(last[1])}


def halfway_id(db: Db, *, at_least: int) -> int | None:
    """The task id that splits the tasks `iter_report_rows` reads in two halves of about the
    same size (read ids below it, then from it up), when there are `at_least` tasks (at least
    two); else None."""
    with reading(db) as r:
        count = int(r.scalar("SELECT count(*) AS n FROM task WHERE source_id > 0") or 0)
        if count < max(at_least, 2):
            return None
        found = r.scalar(
            "SELECT source_id FROM task WHERE source_id > 0 ORDER BY source_id "
            "LIMIT 1 OFFSET :half",
            {"half": count // 2},
        )
    return None if found is None else int(found)


_LIGHT = (
    "source_id, source, sign_number, subject, doc_date, steering_content, lead_unit_code, "
    "lead_unit_name, assigned_at, progress, last_report_at, source_modified, deadline, state, "
    "completed_at, deadline_changes_json"
)
"""The task columns a report reads of a task whose stored verdict it trusts."""

_REPORT_NAMES = (*_LIGHT.split(", "), *_READING.split(", "), *_VERDICT.split(", "), "verdict")
"""The columns of `iter_report_rows`, in order (`_report_rows` unpacks them by position; the
task key first, the verdict flag last)."""


def _full_rows(r: Any, keys: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
    """The task columns of the tasks of `keys` (source, id), by key: those classified again."""
    if not keys:
        return {}
    listed, params = in_list("id", sorted({task_id for _, task_id in keys}))
    rows = r.rows(f"SELECT {_TASK_COLUMNS}, source FROM task WHERE source_id IN ({listed})", params)
    wanted = set(keys)
    found = ((str(row["source"]), int(row["source_id"])) for row in rows)
    return {key: row for key, row in zip(found, rows, strict=True) if key in wanted}


def _report_rows(
    rows: list[Any],
    names: list[str],
    full: dict[tuple[str, int], dict[str, Any]],
    local: LocalDays,
) -> Iterator[StoredTask | ReadTask]:
    """One batch of `iter_report_rows` (`full`: the task columns of those classified again;
    `local`: the local dates of instants)."""
    if tuple(names) != _REPORT_NAMES:  # each row is unpacked by position below
        raise RuntimeError(f"report rows: columns {names}, not {_REPORT_NAMES}")
    days = _Days()
    local_day = local.local_day
    # A named tuple from a tuple in one C call (its constructor is a Python function).
    reading_of, verdict_of = StoredReading._make, StoredVerdict._make
    for row in rows:
        (
            task_id, source, sign, subject, doc, content, unit, unit_name, assigned, progress,
            report, modified, deadline_raw, state, completed, changes_json,
            kind, kind_source, words, rule, suggested, phrase, recurrence,
            status, eff, overdue, wd_overdue, left, soon, over30, stale, unconf, ext, ext_after,
            flag,
        ) = row  # fmt: skip
        reading_now = None
        if flag:
            reading_now = reading_of(
                (kind, kind_source, words, rule, days[suggested], phrase, recurrence)
            )
        if flag != _TRUSTED_FLAG:
            yield task_from_row(full[(source, task_id)]), reading_now
            continue
        assert reading_now is not None
        done = state == _DONE
        deadline = days[deadline_raw]
        changes = () if changes_json == "[]" else decode_deadline_changes(changes_json)
        doc_date = days[doc]
        view = TaskView(
            task_id,
            sign,
            subject,
            doc_date,
            content,
            unit,
            unit_name,
            assigned,
            doc_date if assigned is None else local_day(assigned),
            progress,
            report,
            modified,
        )
        verdict = verdict_of(
            (
                status,
                days[eff],
                overdue,
                wd_overdue,
                left,
                bool(soon),
                bool(over30),
                bool(stale),
                bool(unconf),
                bool(ext),
                bool(ext_after),
                deadline,
                changes,
                changes[0].old_deadline if changes else deadline,
                state,
                local_day(completed) if done and completed is not None else None,
                local_day(modified) if done and completed is None else None,
            )
        )
        yield view, verdict, reading_now


class _Days(dict[Any, "date | None"]):
    """Date column values as dates, each distinct value converted once (a report's tasks share
    a few thousand days: documents, deadlines): ``days[value]``."""

    def __init__(self) -> None:
        super().__init__({None: None})

    def __missing__(self, value: Any) -> date:
        found = self[value] = day(value)
        return found
