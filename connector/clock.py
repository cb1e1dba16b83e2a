"""Time as a parameter: the local zone, and an injectable clock.

Naive datetimes are banned in the connector: every instant is timezone-aware, stored in UTC, and
turned into a local (Asia/Ho_Chi_Minh) date only where a date is needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

FIXED_OFFSET_FROM = datetime(1976, 1, 1, tzinfo=UTC)
"""From this instant on, `LOCAL_TZ` is UTC+07:00 all year (no daylight saving since 13 June
1975): a local date is the UTC date, or the next day from 17:00 UTC (`local_date_from_utc`)."""
FIXED_OFFSET_HOURS = 7


def local_date_from_utc(utc_day: date, utc_hour: int) -> date:
    """The local date of an instant on `utc_day` at `utc_hour` (UTC), on or after
    `FIXED_OFFSET_FROM` (earlier instants: `local_date`)."""
    if utc_hour >= 24 - FIXED_OFFSET_HOURS:
        return utc_day + timedelta(days=1)
    return utc_day


class Clock(Protocol):
    """Something that tells the current instant (UTC, aware)."""

    def now(self) -> datetime: ...


@dataclass(frozen=True)
class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock for tests and simulations: set it, move it forward."""

    instant: datetime = field(default_factory=lambda: datetime(2022, 3, 7, 2, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.instant

    def advance(self, delta: timedelta) -> None:
        self.instant = self.instant + delta


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Refuse naive datetimes, the source of off-by-one-day errors."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value


def to_utc(value: datetime) -> datetime:
    """An aware instant in UTC."""
    return require_aware(value).astimezone(UTC)


def local_date(value: datetime) -> date:
    """The local (Asia/Ho_Chi_Minh) calendar date of an instant."""
    if value.tzinfo is not UTC:  # (the ledger's instants are UTC: no check needed)
        require_aware(value)
    return value.astimezone(LOCAL_TZ).date()


def local_today(clock: Clock) -> date:
    """Today's local date by the given clock."""
    return local_date(clock.now())


def local_midnight(day: date) -> datetime:
    """The instant local midnight starts `day`, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ).astimezone(UTC)
