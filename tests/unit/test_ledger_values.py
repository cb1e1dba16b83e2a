"""`connector.ledger.values.instant`: SQLite's UTC text (read the short way), ISO text with an
offset, naive ISO text and driver datetimes all give the same aware UTC instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from connector.ledger.values import SQLITE_INSTANT, instant

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
