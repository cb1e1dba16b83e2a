"""The listings of the inspection commands: quarantine, outbox, runs, alerts and the calendar.

Each function reads what its command shows and returns a typed result;
`connector.views.shapes` turns it into the documented JSON, `connector.views.text` into terminal
text. None of them writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from connector.ledger.outbox import OutboxEntry, count_entries, iter_entries, list_entries
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
    rows = list_entries(db, state, limit=limit or None)  # not every row for the first 200
    return OutboxListing(rows, outbox_total(db, state, limit, len(rows)))


def outbox_rows(
    db: Db, *, state: OutboxState | None = None, limit: int = 0
) -> Iterator[OutboxEntry]:
    """`outbox_list`'s rows, read a batch at a time as they are written out."""
    return iter_entries(db, state, limit=limit or None)


def outbox_total(db: Db, state: OutboxState | None, limit: int, shown: int) -> int:
    """The rows ``outbox list`` counts, having shown `shown` of them with `limit` (0: all):
    `shown` when that is all of them, else counted (not read for the first 200)."""
    return shown if not limit or shown < limit else count_entries(db, state)


def runs_list(db: Db, *, limit: int = 0) -> list[RunSummary]:
    """``runs list``: the most recent runs, newest first, at most `limit` of them (0: all)."""
    return list_runs(db, limit=limit or None)


@dataclass(frozen=True)
class ChannelTarget:
    """One channel an alert would go by (``delivery.channels`` / ``by_type``), and to whom."""

    channel: str
    recipients: tuple[str, ...]
    """``source``: the unit codes; ``email``: the book's addresses of those units (in the
    units' digests of the day); ``webhook``: the gateway's host."""
    missing: tuple[str, ...] = ()
    """``email``: the units the address book gives no address for (their digest would be dead)."""


@dataclass(frozen=True)
class AlertPreview:
    """``alerts preview``: the alerts due as of a date, and where each would go."""

    as_of: date
    alerts: list[AlertIntent]
    targets: dict[str, tuple[ChannelTarget, ...]] = field(default_factory=dict)
    """Alert key → its channels and recipients."""
    address_book_error: str = ""
    """Why the address book could not be read ("" when it was, or no alert goes by e-mail)."""


def alert_targets(
    settings: Settings, intents: list[AlertIntent]
) -> tuple[dict[str, tuple[ChannelTarget, ...]], str]:
    """Each alert's channels and recipients under `settings`, and the address book's error
    ("" when it could be read or was not needed). Reads the book; sends nothing."""
    from connector.errors import ConfigError  # noqa: PLC0415
    from connector.notify.addressbook import AddressBook, load_address_book  # noqa: PLC0415
    from connector.notify.urls import url_host  # noqa: PLC0415

    delivery = settings.delivery
    book: AddressBook | None = None
    book_error = ""
    if any("email" in delivery.channels_for(i.type.value) for i in intents):
        try:
            book = load_address_book(settings.email)
        except ConfigError as exc:
            book_error = str(exc)
    targets: dict[str, tuple[ChannelTarget, ...]] = {}
    for intent in intents:
        found: list[ChannelTarget] = []
        for channel in delivery.channels_for(intent.type.value):
            if channel == "email":
                addresses: dict[str, None] = {}
                missing: list[str] = []
                for unit in intent.recipients:
                    listed = book.addresses(unit) if book is not None else ()
                    if book is not None and not listed:
                        missing.append(unit)
                    addresses.update(dict.fromkeys(m.address for m in listed))
                found.append(ChannelTarget(channel, tuple(addresses), tuple(missing)))
            elif channel == "webhook":
                url = settings.webhook.url
                found.append(ChannelTarget(channel, (url_host(url),) if url else ()))
            else:
                found.append(ChannelTarget(channel, tuple(intent.recipients)))
        targets[intent.key] = tuple(found)
    return targets, book_error


def alert_preview(db: Db, settings: Settings, as_of: date, *, past: bool = False) -> AlertPreview:
    """What alerts would be sent as of `as_of` (with `past`, also the older occasions that are
    recorded, not sent), each with its channels and recipients; nothing is sent or written."""
    from connector.outbox.planning import preview_alerts  # noqa: PLC0415 - the alert rules

    intents = preview_alerts(db, settings, as_of)
    shown = intents if past else [i for i in intents if i.is_latest]
    targets, book_error = alert_targets(settings, shown)
    return AlertPreview(as_of, shown, targets, book_error)


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
