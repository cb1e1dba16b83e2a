"""The listings of the inspection commands: quarantine, outbox, runs, alerts and the calendar.

Each function reads what its command shows and returns a typed result;
`connector.views.shapes` turns it into the documented JSON, `connector.views.text` into terminal
text. None of them writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from connector.ledger.outbox import OutboxEntry, list_entries
from connector.ledger.quarantine import QuarantineEntry, list_quarantine
from connector.ledger.runs import RunSummary, list_runs
from connector.outbox.states import OutboxState

if TYPE_CHECKING:
    from connector.ledger.reader import Db
    from connector.rules.alerts import AlertIntent
    from connector.rules.calendar import CalendarDay, WorkingCalendar
    from connector.settings import Settings


def quarantine_list(db: Db, *, include_resolved: bool = False) -> list[QuarantineEntry]:
    """``quarantine list``: the records in quarantine, oldest first (resolved ones when asked)."""
    return list_quarantine(db, include_resolved=include_resolved)


@dataclass(frozen=True)
class OutboxListing:
    """``outbox list``: the rows shown, and how many there are before the limit."""

    rows: list[OutboxEntry]
    total: int


def outbox_list(db: Db, *, state: OutboxState | None = None, limit: int = 0) -> OutboxListing:
    """The outbox rows by id, optionally in one state, at most `limit` of them (0: all)."""
    rows = list_entries(db, state)
    return OutboxListing(rows[:limit] if limit else rows, len(rows))


def runs_list(db: Db, *, limit: int = 0) -> list[RunSummary]:
    """``runs list``: the most recent runs, newest first, at most `limit` of them (0: all)."""
    return list_runs(db, limit=limit or None)


@dataclass(frozen=True)
class AlertPreview:
    """``alerts preview``: the alerts due as of a date."""

    as_of: date
    alerts: list[AlertIntent]


def alert_preview(db: Db, settings: Settings, as_of: date, *, past: bool = False) -> AlertPreview:
    """What alerts would be sent as of `as_of` (with `past`, also the older occasions that are
    recorded, not sent); nothing is sent or written."""
    from connector.outbox.planning import preview_alerts  # noqa: PLC0415 - the alert rules

    intents = preview_alerts(db, settings, as_of)
    return AlertPreview(as_of, intents if past else [i for i in intents if i.is_latest])


@dataclass(frozen=True)
class CalendarRange:
    """``calendar``: the days off and swapped working days of a range, and its working days."""

    start: date
    end: date
    working_days: int
    days: list[CalendarDay]


def calendar_range(calendar: WorkingCalendar, start: date, end: date) -> CalendarRange:
    """The days of `start`..`end` (both included) that are not plain weekdays or weekends."""
    working = calendar.working_days_between(start - timedelta(days=1), end)
    return CalendarRange(start, end, working, calendar.days_off(start, end))
