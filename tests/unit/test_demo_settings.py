"""The demo's settings against its simulator's clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from connector.clock import LOCAL_TZ
from connector.demo import demo_settings
from connector.demo_merged import merged_settings
from connector.source.pull import clock_skew, skew_beyond
from simulator.generator import start_instant


def _day_instants(day: date) -> list[datetime]:
    first = datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ)
    last = datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ)
    return [first, first + timedelta(hours=8), last]


def test_the_demos_simulator_clock_is_no_skew_warning_at_any_hour(tmp_path: Path) -> None:
    """The demo's simulator runs its world's clock from 08:00 local today: at any hour of this
    machine's local day (00:00 to 23:59) the skew is within the demo's allowance, so a demo run
    never logs ``source_clock_skew`` (with the default 300 s it did, at all but ten minutes of
    the day)."""
    day = date(2026, 12, 1)
    server = start_instant(day)
    single = demo_settings("http://127.0.0.1:1/ubnd/smartcloud", "pw", tmp_path)
    merged = merged_settings(tmp_path, {"a": ("http://127.0.0.1:1/x", "u", "pw")})
    for settings in (single, merged):
        for local in _day_instants(day):
            skew = clock_skew(server, local.astimezone(UTC))
            assert not skew_beyond(skew, settings.sync), (local, skew)
