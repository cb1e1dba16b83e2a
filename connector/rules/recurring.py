"""Recurring obligations: one occurrence per period, each with its own due date and verdict.

A directive such as "báo cáo định kỳ hằng tháng trước ngày 20", "báo cáo định kỳ hằng quý" or
"trước ngày 05 hằng tháng" has no single deadline: it asks for a report in every period. The
phrase reader (`connector.rules.phrases`) reads such text as a `Recurrence` (the period, and the
due point in it when the text gives one). Here each period becomes an `Occurrence`, judged like a
task. Pure functions of (the rule, the task's dates, the report dates seen, today, calendar).

**Which tasks.** A task is a *recurring obligation* when it has no deadline in force and the text
the phrase reader reads (steering content, else subject) states a recurrence whose periods can be
laid on the calendar (`periods`): calendar months, two months, quarters (from January), half
years and years; weeks (Monday to Sunday); days. A recurrence the calendar cannot place ("định
kỳ 5 tháng/lần", "hằng quý trước ngày 15" without saying which month) is not one: the task stays
an ordinary task without deadline.

**Periods and due dates.** Each period's due date is its due point: the day (and, for periods of
several months, the month) the text gives, a shorter month's last day when it has no such day;
the last day of the period when the text gives none ("báo cáo hằng quý" is due on the quarter's
last day: 31/03, 30/06, 30/09, 31/12); a weekly due point with no weekday is the Sunday. The
effective due date (``eff_due``) is the due date moved to the next working day when it is a day
off (Civil Code Art. 148, as for a task).

**Which periods exist.** From the period holding the assignment date (only when its due date is
not before the assignment) to: for an open task, the period holding the as-of date; for a task
completed by then, the last period whose due date is on or before the completion date (the
obligation ends with the task). Withdrawn tasks have none.

**When a report satisfies an occurrence.** The report dates are the lead unit's progress reports
the connector has seen (each ``lastReportDateStr`` ever read, kept in the ledger's
``task_report`` table) and, for a completed task, its completion date (the final report). Each
occurrence has a *window*: from its period's first day (or the day after the previous
occurrence's window, when ``eff_due`` rolled past the period's end) to the later of the period's
last day and its ``eff_due``. As of a date, only report dates up to that date count. Then:

=================  =====================================================================
``HT_DUNG_HAN``    on time: the first report date in the window is on or before ``eff_due``
``HT_QUA_HAN``     late: the first report date in the window is after ``eff_due``
                   (``days_overdue`` = its days after ``eff_due``)
``DTH_QUA_HAN``    overdue: no report date in the window yet, and the as-of date is after
                   ``eff_due`` (``days_overdue`` = days since, up to the completion date for
                   a completed task: the obligation ended then); once the window has closed
                   (`Occurrence.missed`) no report can make it good any more
``DTH_TRONG_HAN``  pending: no report yet, the due date has not passed
                   (``working_days_left``, ``due_soon`` as for a task)
=================  =====================================================================

A period whose due date is its last day (no due day in the text) is therefore met or missed,
never late: a report after it belongs to the next period.
"""

from __future__ import annotations

import calendar as _gregorian
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from connector.models import StatusCode
from connector.rules.calendar import WorkingCalendar
from connector.rules.deadlines import DEFAULT_POLICY, DeadlinePolicy, add_months, effective_due

if TYPE_CHECKING:
    from connector.rules.phrases import Recurrence

__all__ = [
    "MAX_OCCURRENCES",
    "OCCURRENCE_STATUSES",
    "Occurrence",
    "Period",
    "RecurringObligation",
    "can_lay",
    "occurrences",
    "period_key",
    "periods",
]

_PERIOD_RE = re.compile(r"P(\d+)([DWMY])")

MAX_OCCURRENCES = 1200
"""At most this many of the latest periods are judged (a daily obligation over three years and
more; older periods are left out rather than computed forever)."""

OCCURRENCE_STATUSES: tuple[StatusCode, ...] = (
    StatusCode.HT_DUNG_HAN,
    StatusCode.HT_QUA_HAN,
    StatusCode.DTH_QUA_HAN,
    StatusCode.DTH_TRONG_HAN,
)
"""What an occurrence can be: on time, late, overdue, pending (the task statuses' words)."""


@dataclass(frozen=True)
class Period:
    """One period of a recurrence: its first and last day, its due date, and its unit."""

    start: date
    end: date
    due: date
    unit: str
    """``M`` (months: month, quarter, half, year by `months`), ``W`` or ``D``."""
    months: int = 0

    @property
    def key(self) -> str:
        """`period_key` of this period."""
        return period_key(self)


def period_key(period: Period) -> str:
    """A stable name of a period, used in alert keys: ``2022-03`` (month), ``2022-M03-04``
    (two months), ``2022-Q1``, ``2022-H1``, ``2022`` (year), ``2022-W11`` (ISO week),
    ``2022-03-15`` (day)."""
    start = period.start
    if period.unit == "D":
        return start.isoformat()
    if period.unit == "W":
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    months = period.months
    if months == 1:
        return f"{start.year}-{start.month:02d}"
    if months == 3:
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    if months == 6:
        return f"{start.year}-H{(start.month - 1) // 6 + 1}"
    if months == 12:
        return f"{start.year}"
    return f"{start.year}-M{start.month:02d}-{period.end.month:02d}"


def _month_end(day: date) -> date:
    return day.replace(day=_gregorian.monthrange(day.year, day.month)[1])


def _shape(rule: Recurrence) -> tuple[str, int] | None:
    """(unit, count) when the recurrence can be laid on the calendar, else None."""
    match = _PERIOD_RE.fullmatch(rule.period)
    if match is None:
        return None
    n, unit = int(match.group(1)), match.group(2)
    if unit in "DW":
        return (unit, 1) if n == 1 else None
    months = n * (12 if unit == "Y" else 1)
    if 12 % months:
        return None
    if rule.due_day is not None and rule.due_month is None and months != 1:
        return None  # "hằng quý trước ngày 15": which month is not said
    return "M", months


def can_lay(rule: Recurrence) -> bool:
    """Whether the recurrence's periods can be laid on the calendar (see the module docstring)."""
    return _shape(rule) is not None


def _period_at(rule: Recurrence, shape: tuple[str, int], day: date) -> Period:
    """The period of `rule` that holds `day`."""
    unit, months = shape
    if unit == "D":
        return Period(day, day, day, "D")
    if unit == "W":
        monday = day - timedelta(days=day.weekday())
        due = monday + timedelta(days=(rule.due_weekday or 7) - 1)
        return Period(monday, monday + timedelta(days=6), due, "W")
    start = date(day.year, (day.month - 1) // months * months + 1, 1)
    end = _month_end(add_months(start, months - 1))
    due_month = add_months(start, (rule.due_month or months) - 1)
    last = _gregorian.monthrange(due_month.year, due_month.month)[1]
    due = due_month.replace(day=last if rule.due_day is None else min(rule.due_day, last))
    return Period(start, end, due, "M", months)


def periods(rule: Recurrence, first: date, last: date) -> list[Period]:
    """The periods of `rule` that hold a day of [first, last], oldest first (empty when the
    recurrence cannot be laid on the calendar or ``last < first``)."""
    shape = _shape(rule)
    if shape is None or last < first:
        return []
    found: list[Period] = []
    day = first
    while day <= last:
        period = _period_at(rule, shape, day)
        found.append(period)
        day = period.end + timedelta(days=1)
    return found


@dataclass(frozen=True)
class Occurrence:
    """One period's occurrence of a recurring obligation, judged as of a date.

    `window_start`..`window_end` are the days a report counts for it; `status` one of
    `OCCURRENCE_STATUSES`; `reported_on` the report date that met it (None: not yet);
    `days_overdue` the calendar days after ``eff_due`` of a late report or, for an overdue
    occurrence, of the as-of date; `working_days_left` and `due_soon` as for a task (pending
    only); `missed` an overdue occurrence whose window has closed.
    """

    period: Period
    eff_due: date
    window_start: date
    window_end: date
    status: StatusCode
    reported_on: date | None = None
    days_overdue: int = 0
    working_days_left: int | None = None
    due_soon: bool = False
    missed: bool = False

    @property
    def key(self) -> str:
        """The period's name (`period_key`), part of the alert keys of this occurrence."""
        return self.period.key

    @property
    def due(self) -> date:
        return self.period.due


@dataclass(frozen=True)
class RecurringObligation:
    """A recurring task's rule and its occurrences as of a date, oldest first."""

    rule: Recurrence
    occurrences: tuple[Occurrence, ...]

    def counts(self, first: date | None = None, last: date | None = None) -> dict[StatusCode, int]:
        """How many occurrences of each status have their ``eff_due`` in [first, last]."""
        out = dict.fromkeys(OCCURRENCE_STATUSES, 0)
        for occ in self.occurrences:
            if (first is None or first <= occ.eff_due) and (last is None or occ.eff_due <= last):
                out[occ.status] += 1
        return out

    @property
    def current(self) -> Occurrence | None:
        """The latest occurrence (the one the alerts speak of), None when there is none."""
        return self.occurrences[-1] if self.occurrences else None


def occurrences(
    rule: Recurrence,
    *,
    assigned_on: date,
    completed_on: date | None,
    report_dates: Iterable[date],
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> tuple[Occurrence, ...]:
    """The occurrences of `rule` for a task assigned on `assigned_on` (completed on
    `completed_on`, or open), judged as of `as_of` with the report dates seen (see the module
    docstring for every rule). Empty when the recurrence cannot be laid on the calendar."""
    if completed_on is not None and completed_on > as_of:
        completed_on = None  # done later: still open as of `as_of`
    last = completed_on if completed_on is not None else as_of
    found = periods(rule, assigned_on, last)
    found = [p for p in found if p.due >= assigned_on]
    if completed_on is not None:
        found = [p for p in found if p.due <= completed_on]
    found = found[-MAX_OCCURRENCES:]
    reports = sorted({d for d in report_dates if d <= as_of})
    if completed_on is not None and completed_on not in reports:
        reports = sorted([*reports, completed_on])
    out: list[Occurrence] = []
    start = found[0].start if found else as_of
    for period in found:
        eff = effective_due(period.due, calendar, policy)
        window_start = max(period.start, start)
        window_end = max(period.end, eff)
        start = window_end + timedelta(days=1)
        out.append(
            _judge(
                period,
                eff,
                (window_start, window_end),
                reports=reports,
                as_of=as_of,
                ended=completed_on,
                calendar=calendar,
                policy=policy,
            )
        )
    return tuple(out)


def _judge(
    period: Period,
    eff: date,
    window: tuple[date, date],
    *,
    reports: Sequence[date],
    as_of: date,
    ended: date | None,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
) -> Occurrence:
    window_start, window_end = window
    reported = next((d for d in reports if window_start <= d <= window_end), None)
    if reported is not None:
        late = reported > eff
        return Occurrence(
            period,
            eff,
            window_start,
            window_end,
            StatusCode.HT_QUA_HAN if late else StatusCode.HT_DUNG_HAN,
            reported_on=reported,
            days_overdue=(reported - eff).days if late else 0,
        )
    if as_of > eff:
        return Occurrence(
            period,
            eff,
            window_start,
            window_end,
            StatusCode.DTH_QUA_HAN,
            days_overdue=((ended or as_of) - eff).days,
            missed=as_of > window_end,
        )
    left = calendar.working_days_between(as_of, eff)
    limit = policy.due_soon_working_days
    return Occurrence(
        period,
        eff,
        window_start,
        window_end,
        StatusCode.DTH_TRONG_HAN,
        working_days_left=left,
        due_soon=limit > 0 and left <= limit,
    )
