"""Who is asked to confirm before the monthly report, and so who counts as unconfirmed. Pure.

The connector knows the report days only as the alert rules define them: the monthly cut-off
``alerts.report_cutoff_day`` (25 by default; 1-28). The report of month M is cut off on
``C(M)`` = day ``report_cutoff_day`` of M, and covers what happened after the previous cut-off
``C(M-1)`` up to ``C(M)``. "Since the last report" means *after* the previous cut-off:

* the confirmation request (``DE_NGHI_XAC_NHAN``) of month M (occasion ``YYYY-MM``, sent from
  ``confirm_days_before`` working days before ``C(M)`` until ``C(M)``) goes to every task whose
  status the lead unit has not confirmed by the day it is sent and that is, on that day,

  - open (``DTH_TRONG_HAN``, ``DTH_QUA_HAN``, ``KHONG_THOI_HAN``), or
  - completed (``HT_DUNG_HAN``, ``HT_QUA_HAN``, ``HT_KHONG_HAN``, on time or late) on a local
    date after ``C(M-1)``: completed since the last report (`since_cutoff`);

  withdrawn tasks (``DA_HUY``) and tasks completed on or before ``C(M-1)`` are not asked;
* a report as of day D belongs to the cycle whose cut-off is the first one on or after D
  (a report as of 25 March 2022 with the default cut-off: March's; as of 26 March: April's), so
  its previous cut-off is the latest cut-off *before* D (`confirmation_since`: 25 February, resp.
  25 March), and its "unconfirmed" column counts exactly the tasks the same rule selects as of
  D (`to_confirm`). On a day a request goes out, the column equals the tasks asked that day.

The two agree whenever the request is sent on or before its cut-off, which is always the case
except with ``confirm_days_before = 0`` and a cut-off on a non-working day (the request is then
held to the next working day, after the cut-off, and still speaks of the month it was due in).
"""

from __future__ import annotations

from datetime import date

from connector.models import StatusCode
from connector.rules.deadlines import Classification

OPEN: frozenset[StatusCode] = frozenset(
    {StatusCode.DTH_TRONG_HAN, StatusCode.DTH_QUA_HAN, StatusCode.KHONG_THOI_HAN}
)
DONE: frozenset[StatusCode] = frozenset(
    {StatusCode.HT_DUNG_HAN, StatusCode.HT_QUA_HAN, StatusCode.HT_KHONG_HAN}
)


def cutoff_of(year: int, month: int, cutoff_day: int) -> date:
    """The report cut-off of a month: day `cutoff_day` (1-28) of it."""
    return date(year, month, cutoff_day)


def previous_cutoff(year: int, month: int, cutoff_day: int) -> date:
    """The cut-off of the month before (`year`, `month`): the last report before that month's."""
    if month == 1:
        return cutoff_of(year - 1, 12, cutoff_day)
    return cutoff_of(year, month - 1, cutoff_day)


def confirmation_since(day: date, cutoff_day: int) -> date:
    """The latest report cut-off strictly before `day`: what "since the last report" counts
    from for a report (or a request) made on `day`."""
    if day.day > cutoff_day:
        return cutoff_of(day.year, day.month, cutoff_day)
    return previous_cutoff(day.year, day.month, cutoff_day)


def since_cutoff(cls: Classification, since: date) -> bool:
    """True for a task completed (by its as-of date) on a local date after `since`."""
    return cls.status in DONE and cls.completed_on is not None and cls.completed_on > since


def to_confirm(cls: Classification, since: date) -> bool:
    """True when the lead unit is (to be) asked to confirm the task: not confirmed by the
    as-of date, already assigned, and open or completed after the cut-off `since`."""
    if not cls.unconfirmed or cls.not_yet_assigned:
        return False
    return cls.status in OPEN or since_cutoff(cls, since)
