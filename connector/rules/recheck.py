"""When a task's verdict can change by the date alone: the first local date after an as-of date
on which what the rules compute of an unchanged task may differ. Pure.

The verdict of a task as of a date is everything the classification step stores and plans
from it: its `Classification` (the columns the ledger keeps: status, ``eff_due``, the day
counts, the flags), the deadline suggested from its text, its kind, its occurrences when it is
a recurring obligation, and the outbox plan (the tracking status and its payload, the alert
occasions due and which one of each type is the latest). `recheck_after` returns a date
``R > as_of`` such that, for the same task, the same ledger facts and the same settings, the
verdict as of every day in ``[as_of, R)`` equals the verdict as of ``as_of``
(``tests/unit/test_recheck.py`` holds it as a property). When in doubt it answers the next day.

The dates it looks at, by what the rules read of the date:

* **Every date of the task and its facts after the as-of date** (assignment, document date,
  completion or last modification, confirmation, progress report, each deadline change, each
  report date the ledger saw): the rules never look past the as-of date, so any of these may
  come into force on its day (a completion, a deadline change, a confirmation...).
* **Open within its deadline** (``DTH_TRONG_HAN``): the next working day (``working_days_left``
  counts the working days after the date), the day after ``eff_due`` (overdue), and the day
  the due-soon alert may be sent (`connector.rules.alerts.due_soon_day`, held to a working day).
* **Overdue** (``DTH_QUA_HAN``) and **recurring obligations**: the next day (the days overdue,
  and the occurrences' counts, change every day).
* **Open without deadline** (``KHONG_THOI_HAN``): the day it becomes "idle for
  ``no_deadline_stale_months``" (``stale_no_deadline``), the next reminder
  (``DON_DOC_KHONG_HAN``, every ``no_deadline_urge_months`` after the assignment, held to a
  working day), the missing-deadline alert's day (``THIEU_THOI_HAN``: the day first seen, held).
* **Completed or withdrawn**: nothing by date alone, except the confirmation request below.
* **Confirmation request** (``DE_NGHI_XAC_NHAN``) of a task not confirmed that is open, or
  completed since the report cut-off before the request's own: the first and the day after the
  last day of the request window of each cut-off near the as-of date (the month before's, its
  own and the next: a window can open in the month before its cut-off, or, held, close in the
  month after; `connector.rules.alerts.confirmation_windows`), and the first day of the next
  month.
* With ``alerts.hold_on_non_working_days``, a non-working as-of date: the next working day
  (nothing is planned on a day off; what is due is planned then).

The date is at most `MAX_RECHECK_DAYS` after the as-of date, so that a far horizon never hides
a change the rules above would miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta

from connector.clock import local_date
from connector.models import AlertType, StatusCode
from connector.rules.alerts import (
    OPEN_STATUSES,
    confirmation_windows,
    due_soon_day,
    enabled_types,
)
from connector.rules.calendar import WorkingCalendar
from connector.rules.confirmation import since_cutoff
from connector.rules.deadlines import Classification, DeadlinePolicy, add_months
from connector.rules.judge import Judgement
from connector.rules.kinds import TaskKind
from connector.settings import AlertSettings

__all__ = ["MAX_RECHECK_DAYS", "recheck_after"]

MAX_RECHECK_DAYS = 92
"""A verdict is looked at again at the latest this many days after its as-of date (about a
quarter), whatever the rules say."""


def _local_dates(instants: Iterable[datetime | None]) -> Iterator[date]:
    for instant in instants:
        if instant is not None:
            yield local_date(instant)  # ValueError: a naive instant (the caller's next day)


def _event_dates(judgement: Judgement) -> Iterator[date]:
    """Every date the task and its facts hold (whatever the rules make of it)."""
    task = judgement.task
    yield from _local_dates(
        (
            task.assigned_at,
            task.completed_at,
            task.last_modified,
            task.confirmed_at,
            task.last_report_at,
            *(change.changed_at for change in task.deadline_changes),
        )
    )
    if task.doc_date is not None:
        yield task.doc_date
    yield from judgement.facts.report_dates


def _held(day: date, calendar: WorkingCalendar, alerts: AlertSettings) -> date:
    if alerts.hold_on_non_working_days:
        return calendar.next_working_day_on_or_after(day)
    return day


def _next_working_day(day: date, calendar: WorkingCalendar) -> date:
    return calendar.next_working_day_on_or_after(day + timedelta(days=1))


def _assigned_on(judgement: Judgement) -> date | None:
    """The assignment date as the rules read it (`connector.rules.alerts.assigned_on`: the
    start of the reminders and of the idle spell)."""
    task = judgement.task
    if task.assigned_at is not None:
        return local_date(task.assigned_at)
    return task.doc_date


def _confirmation_days(
    cls: Classification, calendar: WorkingCalendar, alerts: AlertSettings
) -> list[date]:
    """The days a confirmation request the task is (to be) asked starts and stops being due,
    of the cut-offs of the month before the as-of date's, its own and the next, and the first
    day of the next month (see the module docstring)."""
    as_of = cls.as_of
    found = [add_months(as_of.replace(day=1), 1)]
    for window in confirmation_windows(as_of, alerts, calendar):
        if cls.status in OPEN_STATUSES or since_cutoff(cls, window.since):
            found += [window.send_on, window.end + timedelta(days=1)]
    return found


def _urge_day(start: date, as_of: date, calendar: WorkingCalendar, alerts: AlertSettings) -> date:
    """The day the next ``DON_DOC_KHONG_HAN`` reminder after `as_of` may be sent."""
    months = alerts.no_deadline_urge_months
    elapsed = (as_of.year - start.year) * 12 + as_of.month - start.month
    k = max(1, elapsed // months - 2)  # an occasion well before `as_of`: held, still before it
    while True:
        held = _held(add_months(start, months * k), calendar, alerts)
        if held > as_of:
            return held
        k += 1


def _stale_day(judgement: Judgement, as_of: date, policy: DeadlinePolicy) -> date | None:
    """The first day the task is "idle for ``no_deadline_stale_months``", when it is not yet."""
    task = judgement.task
    assigned = _assigned_on(judgement)
    candidates = [assigned] if assigned is not None else []
    if task.last_report_at is not None:
        reported = local_date(task.last_report_at)
        if reported <= as_of:
            candidates.append(reported)
    if not candidates:
        return None
    return add_months(max(candidates), policy.no_deadline_stale_months) + timedelta(days=1)


def _alert_days(
    judgement: Judgement,
    *,
    first_seen_on: date | None,
    calendar: WorkingCalendar,
    alerts: AlertSettings,
) -> list[date] | None:
    """The days the alert occasions of the task can change after the as-of date (None: any
    day)."""
    cls = judgement.classification
    as_of = cls.as_of
    if not alerts.enabled or cls.not_yet_assigned:
        return []  # none; an assignment after the as-of date is one of the task's dates
    found: list[date] = []
    if alerts.hold_on_non_working_days and not calendar.is_working_day(as_of):
        found.append(_next_working_day(as_of, calendar))
    enabled = enabled_types(alerts.types)
    status = cls.status
    if AlertType.DE_NGHI_XAC_NHAN in enabled and cls.unconfirmed:
        found += _confirmation_days(cls, calendar, alerts)
    if status is StatusCode.DTH_TRONG_HAN and cls.eff_due is not None:
        n = alerts.due_soon_working_days
        if AlertType.SAP_DEN_HAN in enabled and n > 0:
            found.append(_held(due_soon_day(cls.eff_due, n, calendar), calendar, alerts))
    elif status is StatusCode.KHONG_THOI_HAN:
        start = _assigned_on(judgement)
        if AlertType.DON_DOC_KHONG_HAN in enabled and start is not None:
            found.append(_urge_day(start, as_of, calendar, alerts))
        if AlertType.THIEU_THOI_HAN in enabled and judgement.kind.kind is TaskKind.PRODUCT:
            if first_seen_on is None:
                return None  # seen "today": its day moves with the date
            found.append(_held(first_seen_on, calendar, alerts))
    return found


def recheck_after(
    judgement: Judgement,
    *,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    alerts: AlertSettings | None,
    first_seen_on: date | None,
) -> date:
    """The first local date after the judgement's as-of date on which the task's verdict can
    differ from this one (see the module docstring), at most `MAX_RECHECK_DAYS` after it.

    `alerts`: the alert settings when the outbox is planned (None: alerts are not planned, only
    the classification counts); `first_seen_on`: the local date the connector first saw the
    task (the missing-deadline alert's day).
    """
    cls = judgement.classification
    as_of = cls.as_of
    tomorrow = as_of + timedelta(days=1)
    status = cls.status
    if judgement.recurring is not None or status is StatusCode.DTH_QUA_HAN:
        return tomorrow
    try:
        days = [as_of + timedelta(days=MAX_RECHECK_DAYS), *_event_dates(judgement)]
        if status is StatusCode.DTH_TRONG_HAN:
            if cls.eff_due is None:
                return tomorrow
            days += [_next_working_day(as_of, calendar), cls.eff_due + timedelta(days=1)]
        elif status is StatusCode.KHONG_THOI_HAN:
            stale = _stale_day(judgement, as_of, policy)
            if stale is not None:
                days.append(stale)
        if alerts is not None:
            more = _alert_days(
                judgement, first_seen_on=first_seen_on, calendar=calendar, alerts=alerts
            )
            if more is None:
                return tomorrow
            days += more
    except ValueError:  # a naive instant, a date outside the calendar: look again tomorrow
        return tomorrow
    return min(day for day in days if day > as_of)
