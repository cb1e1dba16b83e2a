"""`connector.ledger.values.instant`: SQLite's UTC text (read the short way), ISO text with an
offset, naive ISO text and driver datetimes all give the same aware UTC instant; `LocalDays`
gives the local date of each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.clock import local_date
from connector.ledger.values import SQLITE_INSTANT, LocalDays, instant

INSTANTS = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 12, 31), timezones=st.just(UTC)
)


@given(INSTANTS)
def test_sqlite_text_is_the_utc_instant_it_was_written_from(moment: datetime) -> None:
    """The text SQLAlchemy writes on SQLite (UTC wall time, microseconds) reads back as the same
    instant, in UTC."""
    read = instant(moment.strftime(SQLITE_INSTANT))
    assert read == moment
    assert read.utcoffset() == timedelta(0)
    assert read.tzinfo is UTC


@given(INSTANTS, st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_every_spelling_of_an_instant_reads_alike(moment: datetime, minutes: int) -> None:
    """ISO text with an offset, naive ISO text (UTC), and aware datetimes in any zone give the
    instant the SQLite text gives."""
    zone = timezone(timedelta(minutes=minutes))
    expected = instant(moment.strftime(SQLITE_INSTANT))
    assert instant(moment.astimezone(zone).isoformat()) == expected
    assert instant(moment.replace(tzinfo=None).isoformat(sep=" ")) == expected
    assert instant(moment.astimezone(zone)) == expected
    assert instant(moment.astimezone(zone)).tzinfo is UTC


WIDE_INSTANTS = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 12, 31), timezones=st.just(UTC)
)


@given(WIDE_INSTANTS)
def test_the_local_day_of_sqlite_text_is_the_local_date_of_its_instant(moment: datetime) -> None:
    """`LocalDays.local_day` of SQLite's UTC text (the short way from 1976 on: the UTC date, the
    next day from 17:00) is `local_date` of the instant it reads as, before 1976 too (other
    offsets then), asked twice (the second time from what it kept)."""
    days = LocalDays()
    text = moment.strftime(SQLITE_INSTANT)
    assert days.local_day(text) == local_date(instant(text))
    assert days.local_day(text) == local_date(moment)


@given(INSTANTS, st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_the_local_day_of_other_spellings_is_their_local_date(
    moment: datetime, minutes: int
) -> None:
    """`LocalDays.local_day` of an aware datetime (PostgreSQL's) or of ISO text with an offset
    is `local_date` of the instant (the general way)."""
    zone = timezone(timedelta(minutes=minutes))
    days = LocalDays()
    assert days.local_day(moment.astimezone(zone)) == local_date(moment)
    assert days.local_day(moment.astimezone(zone).isoformat()) == local_date(moment)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        pytest.param("2026-11-30 16:59:59.999999", "2026-11-30", id="before-local-midnight"),
        pytest.param("2026-11-30 17:00:00.000000", "2026-12-01", id="local-midnight"),
        pytest.param("2026-12-31 23:00:00.000000", "2027-01-01", id="new-year"),
        pytest.param("1975-01-01 16:30:00.000000", "1975-01-02", id="utc+8-in-1975"),
    ],
)
def test_the_local_day_rolls_over_at_local_midnight(text: str, day: str) -> None:
    """From 17:00 UTC a SQLite instant is on the next local day (16:00 UTC in early 1975, when
    Saigon was UTC+8)."""
    assert LocalDays().local_day(text).isoformat() == day
