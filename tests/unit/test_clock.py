"""The local date of an instant (`connector.clock.local_date`): the same whatever zone the
instant is written in (UTC, as the ledger stores it, takes a shorter way), and never of a naive
datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.clock import LOCAL_TZ, local_date

INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2060, 12, 31), timezones=st.just(UTC)
)
OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(INSTANTS, OFFSETS)
def test_the_local_date_does_not_depend_on_the_zone_an_instant_is_written_in(
    instant: datetime, zone: timezone
) -> None:
    """A UTC instant and the same instant in any other offset have one local date: the date
    on the wall clock in Asia/Ho_Chi_Minh."""
    expected = instant.astimezone(LOCAL_TZ).date()
    assert local_date(instant) == expected
    assert local_date(instant.astimezone(zone)) == expected


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        pytest.param(datetime(2022, 3, 6, 16, 59, 59, tzinfo=UTC), "2022-03-06", id="before"),
        pytest.param(datetime(2022, 3, 6, 17, 0, tzinfo=UTC), "2022-03-07", id="local-midnight"),
    ],
)
def test_local_midnight_is_five_in_the_afternoon_utc(instant: datetime, day: str) -> None:
    """Seven hours ahead of UTC: a UTC instant from 17:00 is on the next local day."""
    assert local_date(instant).isoformat() == day


def test_a_naive_datetime_has_no_local_date() -> None:
    """A naive datetime is refused (its zone is unknown), not read as UTC."""
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date(datetime(2022, 3, 6, 17, 0))
