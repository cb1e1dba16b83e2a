"""Deadline status of a task, as official reports count it: pure functions of task, date, calendar.

The legal frame is the Civil Code 2015:

* Art. 146: "đầu / giữa / cuối tháng" is the 1st / 15th / last day of the month; "giữa năm" is
  the last day of June, "cuối năm" the last day of December.
* Art. 147: a period counted in days, weeks, months or years starts on the day after its anchor.
* Art. 148: a period ends at 24:00 of its last day; a period in months ends on the same day
  number of the last month (or that month's last day when it has no such day); and when the
  last day is a weekend day or a public holiday, the period ends at the end of the next working
  day.

So a deadline ``D`` is met by anything done on the local date ``eff_due`` (D, moved forward to
the next working day when D is not one; `DeadlinePolicy.roll_forward_to_working_day`). Every
instant is turned into a date in Asia/Ho_Chi_Minh (`connector.clock.local_date`) before it is
compared; a naive datetime is a bad record.

Statuses are evaluated in the order of the domain brief: cancelled, then done (with a deadline:
on time or late; without: "không có hạn"), then open (within deadline, overdue, no deadline).
`classify` takes the view *as of* a date and never looks past it: a task completed after the
as-of date is still open, a progress report or confirmation made after it does not count, and a
deadline change made after it is not yet in force.

**Which deadline counts** (domain brief, "Which deadline counts"):

* an open task is judged against the deadline in force on the as-of date;
* a completed task against the deadline in force on its **completion date**: a change recorded
  after completion (``changed_at`` later than the completion date) never changes its verdict,
  whatever the as-of date (`judged_on` is that date);
* an extension granted after the deadline it replaced had passed (the change's date is after
  that deadline's ``eff_due``) erases the overdue spell from the status, which follows the new
  deadline, but is flagged ``extended_after_overdue`` ("gia hạn sau khi đã quá hạn"); the spell
  stays in the ledger's history. `late_extensions` lists such changes with the days overdue
  when each was granted. A change that removes the deadline after it passed is flagged too.

**Working days left** (``working_days_left``) are the working days *after* the as-of date up to
and including ``eff_due``: due tomorrow = 1, due today = 0 ("đến hạn hôm nay"), a Monday with a
Thursday deadline = 3. Due soon is ``working_days_left <= due_soon_working_days`` (default 3).
"""

from __future__ import annotations

import calendar as _gregorian
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from connector.clock import local_date
from connector.errors import BadRecord
from connector.models import (
    Classification,
    DeadlineChange,
    NormalisedTask,
    ReportedTask,
    StatusCode,
    TaskState,
)
from connector.rules.calendar import MAX_YEAR, MIN_YEAR, WorkingCalendar
from connector.settings import DeadlineSettings

__all__ = [
    "DEFAULT_POLICY",
    "STATUS_ORDER",
    "Classification",
    "DeadlinePolicy",
    "LateExtension",
    "add_months",
    "classify",
    "deadline_in_force",
    "effective_due",
    "is_worse",
    "late_extensions",
    "policy_from_settings",
    "status_rank",
]


@dataclass(frozen=True, kw_only=True)
class DeadlinePolicy:
    """Options of the deadline rules (defaults follow the domain brief)."""

    roll_forward_to_working_day: bool = True
    """Civil Code Art. 148: a deadline on a day off moves to the next working day."""
    due_soon_working_days: int = 3
    """Flag "sắp đến hạn" when at most this many working days are left (0 disables it)."""
    overdue_long_days: int = 30
    """Flag "quá hạn trên 30 ngày" when overdue by more than this many calendar days."""
    no_deadline_stale_months: int = 3
    """Flag "quá 3 tháng chưa báo cáo" for open tasks without deadline idle this long."""

    def __post_init__(self) -> None:
        for name in ("due_soon_working_days", "overdue_long_days", "no_deadline_stale_months"):
            if getattr(self, name) < 0:
                raise ValueError(f"DeadlinePolicy.{name} must be >= 0")


DEFAULT_POLICY = DeadlinePolicy()


STATUS_ORDER: tuple[StatusCode, ...] = (
    StatusCode.HT_DUNG_HAN,
    StatusCode.HT_KHONG_HAN,
    StatusCode.DTH_TRONG_HAN,
    StatusCode.KHONG_THOI_HAN,
    StatusCode.HT_QUA_HAN,
    StatusCode.DTH_QUA_HAN,
)
"""Statuses from best to worst. `DA_HUY` is listed apart and has no rank."""


def status_rank(status: StatusCode) -> int:
    """0 for the best status, higher is worse; `DA_HUY` raises `ValueError` (it is unranked)."""
    try:
        return STATUS_ORDER.index(status)
    except ValueError:
        raise ValueError(f"{status} has no rank: withdrawn tasks are listed apart") from None


def is_worse(status: StatusCode, than: StatusCode) -> bool:
    """True when `status` is strictly worse than `than` (see `STATUS_ORDER`)."""
    return status_rank(status) > status_rank(than)


def add_months(day: date, months: int) -> date:
    """Same day number `months` months later, or that month's last day (Civil Code Art. 148)."""
    index = day.year * 12 + day.month - 1 + months
    year, month0 = divmod(index, 12)
    last = _gregorian.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def effective_due(
    deadline: date, calendar: WorkingCalendar, policy: DeadlinePolicy = DEFAULT_POLICY
) -> date:
    """The last local day on which work still counts as on time (`eff_due`).

    Civil Code 2015 Art. 148: a deadline ends at 24:00 of its day; when that day is a weekend
    day or a public holiday (or a compensatory / swapped day off), it ends at the end of the next
    working day. With ``roll_forward_to_working_day=False`` the deadline is taken as written.
    """
    if policy.roll_forward_to_working_day:
        return calendar.next_working_day_on_or_after(deadline)
    return deadline


def _local(task: ReportedTask, value: datetime, field: str) -> date:
    try:
        return local_date(value)
    except ValueError as exc:
        raise BadRecord(
            f"task {task.source_id}: {field} has no time zone ({value.isoformat()}); "
            "the mapping must give aware instants",
            task_id=str(task.source_id),
            field=field,
            value=value.isoformat(),
        ) from exc


def deadline_in_force(task: NormalisedTask, as_of: date) -> tuple[date | None, bool]:
    """(deadline in force on `as_of`, whether it had been changed by then).

    Deadline changes are applied oldest first; a change whose `changed_at` falls after `as_of`
    (local date) is not yet in force, and neither is any later one. A change without
    `changed_at` is taken to have happened before `as_of`.
    """
    return deadline_in_force_of(task, task.deadline_changes, task.deadline, as_of)


def deadline_in_force_of(
    task: ReportedTask, changes: Sequence[DeadlineChange], deadline: date | None, as_of: date
) -> tuple[date | None, bool]:
    """`deadline_in_force` of a task whose deadline changes are `changes` and whose current
    deadline is `deadline` (a report reads them from plain columns)."""
    for applied, change in enumerate(changes):
        changed_at = change.changed_at
        if changed_at is not None and _local(task, changed_at, "changed_at") > as_of:
            return change.old_deadline, applied > 0
    return deadline, bool(changes)


@dataclass(frozen=True)
class LateExtension:
    """A deadline change made after the deadline it replaced had passed.

    `old_eff_due` is that deadline moved to a working day; `changed_on` the local date of the
    change; `days_overdue` the calendar days the task was overdue when it was made.
    """

    old_deadline: date
    new_deadline: date | None
    old_eff_due: date
    changed_on: date
    days_overdue: int


def late_extensions(
    task: NormalisedTask,
    judged_on: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> tuple[LateExtension, ...]:
    """The changes in force on `judged_on` that were made after the deadline they replaced had
    passed (its ``eff_due``), and that extend it (a later deadline) or remove it; oldest first.

    A change without a date, or replacing no deadline, is never one.
    """
    found: list[LateExtension] = []
    for change in task.deadline_changes:
        if change.changed_at is None:
            continue
        changed_on = _local(task, change.changed_at, "changed_at")
        if changed_on > judged_on:
            break  # not yet in force, and neither is any later change
        old, new = change.old_deadline, change.new_deadline
        if old is None or (new is not None and new <= old):
            continue
        old_eff = effective_due(old, calendar, policy)
        if changed_on > old_eff:
            found.append(LateExtension(old, new, old_eff, changed_on, (changed_on - old_eff).days))
    return tuple(found)


def _completion(task: NormalisedTask) -> tuple[date | None, bool]:
    """(local completion date, estimated?) of a done task; (None, False) otherwise.

    When a done task has no completion instant, the date of its last modification stands in
    for it: the task was done by then at the latest, so the estimate never flatters a task
    (it can only make it later) and it keeps the as-of view free of the future.
    """
    if task.state is not TaskState.DONE:
        return None, False
    return completion_on(task, task.completed_at, task.last_modified)


def completion_on(
    task: ReportedTask, completed_at: datetime | None, last_modified: datetime | None
) -> tuple[date, bool]:
    """(local completion date, estimated?) of a done task from its completion instant, else
    from its last modification (see `_completion`; one of them is given)."""
    if completed_at is not None:
        return completion_from(task, _local(task, completed_at, "completed_at"), None)
    modified = None if last_modified is None else _local(task, last_modified, "last_modified")
    return completion_from(task, None, modified)


def completion_from(
    task: ReportedTask, completed_on: date | None, modified_on: date | None
) -> tuple[date, bool]:
    """`completion_on` from the local dates of the completion instant and of the last
    modification (a report reads them from plain columns): the first when there is one, else
    the second, estimated."""
    if completed_on is not None:
        return completed_on, False
    if modified_on is None:
        raise ValueError(f"task {task.source_id}: no completion instant nor last modification")
    return modified_on, True


def _assigned_on(task: NormalisedTask) -> date | None:
    if task.assigned_at is not None:
        return _local(task, task.assigned_at, "assigned_at")
    return task.doc_date


def _last_activity(task: NormalisedTask, as_of: date) -> date | None:
    """The later of assignment and the last progress report up to `as_of`."""
    candidates: list[date] = []
    assigned = _assigned_on(task)
    if assigned is not None:
        candidates.append(assigned)
    if task.last_report_at is not None:
        reported = _local(task, task.last_report_at, "last_report_at")
        if reported <= as_of:
            candidates.append(reported)
    return max(candidates, default=None)


def _unconfirmed(task: NormalisedTask, as_of: date, completed: date | None) -> bool:
    """Whether the lead unit had not confirmed the task's status as of `as_of`: no
    confirmation, one given after `as_of`, or, for a task `completed` by then, one given
    before the completion day (it confirmed the open task, not its completion)."""
    if not task.confirmed:
        return True
    if task.confirmed_at is None:
        return False
    confirmed_on = _local(task, task.confirmed_at, "confirmed_at")
    if confirmed_on > as_of:
        return True
    return completed is not None and confirmed_on < completed


def classify(
    task: NormalisedTask,
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> Classification:
    """The task's status and flags as of the local date `as_of` (domain brief, in its order).

    1. Cancelled or deleted at the source: `DA_HUY` (whatever `as_of`: the source does not say
       when a task was withdrawn).
    2. Done by `as_of` (local completion date <= as_of): with a deadline, `HT_DUNG_HAN` when the
       completion date <= `eff_due`, else `HT_QUA_HAN`; without one, `HT_KHONG_HAN`.
    3. Otherwise open (including a task completed after `as_of`): with a deadline,
       `DTH_TRONG_HAN` while as_of <= `eff_due`, else `DTH_QUA_HAN`; without, `KHONG_THOI_HAN`.

    Raises `BadRecord` for a naive datetime or a date outside the calendar's years.
    """
    if not isinstance(as_of, date) or isinstance(as_of, datetime):
        raise TypeError("as_of must be a date (the local date of the report)")
    if not MIN_YEAR <= as_of.year <= MAX_YEAR:
        raise ValueError(f"as_of {as_of} is outside the working calendar ({MIN_YEAR}–{MAX_YEAR})")
    try:
        return _classify(task, as_of, calendar, policy)
    except ValueError as exc:  # a deadline or completion year the calendar does not cover
        raise BadRecord(
            f"task {task.source_id}: {exc}", task_id=str(task.source_id), field="deadline"
        ) from exc


def _classify(
    task: NormalisedTask, as_of: date, calendar: WorkingCalendar, policy: DeadlinePolicy
) -> Classification:
    assigned = _assigned_on(task)
    completed, estimated = _completion(task)
    if completed is not None and completed > as_of:
        completed, estimated = None, False  # done later: still open as of `as_of`
    # A completed task is judged against the deadline in force on its completion date.
    judged_on = completed if completed is not None else as_of
    deadline, extended = deadline_in_force(task, judged_on)
    eff = effective_due(deadline, calendar, policy) if deadline is not None else None

    days_overdue = 0
    working_days_overdue = 0
    working_days_left: int | None = None
    due_soon = overdue_long = stale = False
    if task.state is TaskState.CANCELLED or task.deleted:
        status = StatusCode.DA_HUY
    elif completed is not None:
        if eff is None:
            status = StatusCode.HT_KHONG_HAN
        elif completed <= eff:
            status = StatusCode.HT_DUNG_HAN
        else:
            status = StatusCode.HT_QUA_HAN
            days_overdue = (completed - eff).days
            working_days_overdue = calendar.working_days_between(eff, completed)
    elif eff is None:
        status = StatusCode.KHONG_THOI_HAN
        last = _last_activity(task, as_of)
        stale = last is not None and add_months(last, policy.no_deadline_stale_months) < as_of
    elif as_of <= eff:
        status = StatusCode.DTH_TRONG_HAN
        working_days_left = calendar.working_days_between(as_of, eff)
        limit = policy.due_soon_working_days
        due_soon = limit > 0 and working_days_left <= limit
    else:
        status = StatusCode.DTH_QUA_HAN
        days_overdue = (as_of - eff).days
        working_days_overdue = calendar.working_days_between(eff, as_of)
        overdue_long = days_overdue > policy.overdue_long_days

    cancelled = status is StatusCode.DA_HUY
    if cancelled:
        completed, estimated = None, False
    return Classification(
        status=status,
        as_of=as_of,
        deadline=deadline,
        eff_due=eff,
        original_deadline=task.original_deadline,
        days_overdue=days_overdue,
        working_days_overdue=working_days_overdue,
        working_days_left=working_days_left,
        due_soon=due_soon,
        overdue_over_30=overdue_long,
        stale_no_deadline=stale,
        unconfirmed=_unconfirmed(task, as_of, completed),
        extended=extended,
        extended_after_overdue=(
            not cancelled and bool(late_extensions(task, judged_on, calendar, policy))
        ),
        completed_on=completed,
        completion_estimated=estimated,
        not_yet_assigned=assigned is not None and assigned > as_of,
        judged_on=judged_on,
    )


def policy_from_settings(deadlines: DeadlineSettings) -> DeadlinePolicy:
    """The deadline rules' options from the ``[deadlines]`` settings."""
    return DeadlinePolicy(
        roll_forward_to_working_day=deadlines.roll_forward_to_working_day,
        due_soon_working_days=deadlines.due_soon_working_days,
        overdue_long_days=deadlines.overdue_long_days,
        no_deadline_stale_months=deadlines.no_deadline_stale_months,
    )
