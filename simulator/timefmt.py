"""The date formats the contract uses, written without locale or platform dependence.

* local strings (`docDate`, `deadline`, `lastModify`, ...): en-US medium format in
  Asia/Ho_Chi_Minh, ``Apr 13, 2022, 12:00:00 AM``;
* UTC strings (`docDateStr`, `lastModifyStr`, ...): ISO-8601 at one-second precision,
  ``2022-04-12T17:00:00+00:00``;
* the `Date` and `Retry-After` headers: HTTP-date (RFC 9110), ``Tue, 12 Apr 2022 17:00:00 GMT``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from email.utils import format_datetime

from connector.clock import LOCAL_TZ, local_midnight, to_utc

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

NO_DEADLINE = "Feb 1, 2200, 12:00:01 AM"
"""The far-future sentinel meaning "no deadline" (contract section 4)."""


def floor_second(instant: datetime) -> datetime:
    """The instant in UTC without its fraction of a second."""
    return to_utc(instant).replace(microsecond=0)


def local_str(instant: datetime) -> str:
    """``Apr 13, 2022, 12:00:00 AM``: the local (UTC+7) wall time of an instant."""
    t = to_utc(instant).astimezone(LOCAL_TZ)
    hour12 = t.hour % 12 or 12
    half = "AM" if t.hour < 12 else "PM"
    return f"{MONTHS[t.month - 1]} {t.day}, {t.year}, {hour12}:{t.minute:02d}:{t.second:02d} {half}"


def date_str(day: date) -> str:
    """A local calendar date as the contract writes it: local midnight, en-US."""
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}, 12:00:00 AM"


def utc_str(instant: datetime) -> str:
    """``2022-04-12T17:00:00+00:00``: the UTC instant at one-second precision."""
    return floor_second(instant).isoformat()


def date_utc_str(day: date) -> str:
    """The UTC instant of local midnight starting `day` (``docDateStr`` of a date)."""
    return utc_str(local_midnight(day))


def http_date(instant: datetime) -> str:
    """An HTTP-date (always GMT) for the `Date` and `Retry-After` headers."""
    return format_datetime(floor_second(instant), usegmt=True)


def epoch(instant: datetime) -> int:
    """Whole seconds since 1970 (the sort key of `lastModifyStr`)."""
    return int(floor_second(instant).timestamp())


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant with an offset; raises ValueError when malformed or naive."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"instant without a UTC offset: {text!r}")
    return value.astimezone(UTC)
