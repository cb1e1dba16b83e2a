"""Converters and formatters: table-driven cases and round-trip properties."""

from __future__ import annotations

import contextlib
import unicodedata
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.mapping.converters import (
    FORMATTERS,
    REGISTRY,
    ConversionError,
    convert,
    floor_for,
    format_en_us,
    format_instant,
    is_none,
    names_of_kind,
    parse_en_us,
)
from connector.models import DeadlineChange, TaskState, UnitRef

NFD = unicodedata.normalize("NFD", "Sở Nội vụ")
STATUS = {"table": {"received": "open", "completed": "done", "retrieved": "cancelled"}}

GOOD: list[Any] = [
    # text
    pytest.param("text", "  Sở Tài chính \n", {}, "Sở Tài chính", id="text-trim"),
    pytest.param("text", NFD, {}, "Sở Nội vụ", id="text-nfd-to-nfc"),
    pytest.param("text", 1907, {}, "1907", id="text-int"),
    pytest.param("text", "dòng 1\ndòng 2", {}, "dòng 1\ndòng 2", id="text-inner-newline"),
    # int
    pytest.param("int", 3, {}, 3, id="int"),
    pytest.param("int", " 42 ", {}, 42, id="int-string"),
    pytest.param("int", 2.0, {}, 2, id="int-whole-float"),
    pytest.param("int", 130, {"min": 0, "max": 100, "clamp": True}, 100, id="int-clamp-high"),
    pytest.param("int", -4, {"min": 0, "max": 100, "clamp": True}, 0, id="int-clamp-low"),
    # flags
    pytest.param("flag_yn", "Y", {}, True, id="flag-y"),
    pytest.param("flag_yn", "n", {}, False, id="flag-n-lower"),
    pytest.param("flag_yn", True, {}, True, id="flag-bool"),
    pytest.param("flag_yn", "1", {"true": ["1"], "false": ["0"]}, True, id="flag-custom"),
    # en-US local strings (Asia/Ho_Chi_Minh)
    pytest.param(
        "en_us_instant",
        "Apr 13, 2022, 12:00:00 AM",
        {},
        datetime(2022, 4, 12, 17, tzinfo=UTC),
        id="en-us-midnight",
    ),
    pytest.param(
        "en_us_instant",
        "Jul 21, 2026, 3:06:17 PM",
        {},
        datetime(2026, 7, 21, 8, 6, 17, tzinfo=UTC),
        id="en-us-pm",
    ),
    pytest.param(
        "en_us_instant",
        "Jan 1, 2022, 12:30:00 PM",
        {},
        datetime(2022, 1, 1, 5, 30, tzinfo=UTC),
        id="en-us-noon",
    ),
    pytest.param(
        "en_us_instant",
        "Apr 13, 2022, 9:00:00\u202fAM",
        {},
        datetime(2022, 4, 13, 2, tzinfo=UTC),
        id="en-us-icu-nnbsp",
    ),
    pytest.param(
        "en_us_instant",
        "Apr 13, 2022 9:00:00 AM",
        {},
        datetime(2022, 4, 13, 2, tzinfo=UTC),
        id="en-us-java-no-comma",
    ),
    pytest.param(
        "en_us_instant",
        "Apr 13, 2022, 12:00:00 AM",
        {"tz": "UTC"},
        datetime(2022, 4, 13, tzinfo=UTC),
        id="en-us-tz-option",
    ),
    pytest.param("en_us_date", "Apr 13, 2022, 12:00:00 AM", {}, date(2022, 4, 13), id="en-us-date"),
    pytest.param(
        "en_us_date",
        "Feb 1, 2200, 12:00:01 AM",
        {},
        date(2200, 2, 1),
        id="en-us-sentinel-is-a-date",
    ),
    # ISO
    pytest.param(
        "iso_instant",
        "2022-04-12T17:00:00+00:00",
        {},
        datetime(2022, 4, 12, 17, tzinfo=UTC),
        id="iso",
    ),
    pytest.param(
        "iso_instant", "2022-04-12T17:00:00Z", {}, datetime(2022, 4, 12, 17, tzinfo=UTC), id="iso-z"
    ),
    pytest.param(
        "iso_instant",
        "2022-04-13T00:00:00+07:00",
        {},
        datetime(2022, 4, 12, 17, tzinfo=UTC),
        id="iso-offset",
    ),
    pytest.param(
        "iso_local_date", "2022-04-12T17:00:00+00:00", {}, date(2022, 4, 13), id="iso-local-date"
    ),
    pytest.param(
        "iso_local_date",
        "2022-04-12T16:59:59+00:00",
        {},
        date(2022, 4, 12),
        id="iso-local-date-before-midnight",
    ),
    pytest.param("iso_date", "2022-04-13", {}, date(2022, 4, 13), id="iso-date"),
    # dd/mm/yyyy
    pytest.param("dmy_date", "13/04/2022", {}, date(2022, 4, 13), id="dmy"),
    pytest.param("dmy_date", "1/4/2022", {}, date(2022, 4, 1), id="dmy-short"),
    pytest.param(
        "dmy_instant",
        "13/04/2022 08:30:00",
        {},
        datetime(2022, 4, 13, 1, 30, tzinfo=UTC),
        id="dmy-instant",
    ),
    pytest.param(
        "dmy_instant",
        "13/04/2022",
        {},
        datetime(2022, 4, 12, 17, tzinfo=UTC),
        id="dmy-instant-midnight",
    ),
    # units
    pytest.param(
        "units", [{"commCode": "SNV", "aname": NFD}], {}, (UnitRef("SNV", "Sở Nội vụ"),), id="units"
    ),
    pytest.param("units", [], {}, (), id="units-empty"),
    pytest.param(
        "units",
        ["STC", {"commCode": "SNV"}],
        {},
        (UnitRef("STC"), UnitRef("SNV")),
        id="units-codes",
    ),
    pytest.param(
        "units",
        [{"code": 7, "label": "X"}],
        {"code": "code", "name": "label"},
        (UnitRef("7", "X"),),
        id="units-other-keys",
    ),
    # deadline changes
    pytest.param(
        "deadline_changes",
        [
            {
                "oldDeadline": "Apr 1, 2022, 12:00:00 AM",
                "newDeadline": "Feb 1, 2200, 12:00:01 AM",
                "changedDateStr": "2022-03-30T03:00:00+00:00",
                "reason": NFD,
            }
        ],
        {},
        (
            DeadlineChange(
                date(2022, 4, 1), None, datetime(2022, 3, 30, 3, tzinfo=UTC), "Sở Nội vụ"
            ),
        ),
        id="changes",
    ),
    pytest.param(
        "deadline_changes",
        [{"from": "01/04/2022", "to": "15/04/2022", "at": ""}],
        {"old": "from", "new": "to", "changed": "at", "date": "dmy_date"},
        (DeadlineChange(date(2022, 4, 1), date(2022, 4, 15), None, ""),),
        id="changes-other-keys",
    ),
    # status
    pytest.param("status", "completed", STATUS, TaskState.DONE, id="status"),
    pytest.param("status", " Retrieved ", STATUS, TaskState.CANCELLED, id="status-casefold"),
]


@pytest.mark.parametrize(("name", "value", "options", "expected"), GOOD)
def test_converts(name: str, value: Any, options: dict[str, Any], expected: Any) -> None:
    """Each converter turns a well-formed raw value into the ledger's type."""
    assert convert(name, value, options) == expected


BAD: list[Any] = [
    pytest.param("text", {"a": 1}, {}, "is not text", id="text-object"),
    pytest.param("text", True, {}, "is not text", id="text-bool"),
    pytest.param("int", "12a", {}, "is not an integer", id="int-garbage"),
    pytest.param("int", True, {}, "boolean", id="int-bool"),
    pytest.param("int", 1.5, {}, "whole number", id="int-fraction"),
    pytest.param("int", float("nan"), {}, "whole number", id="int-nan"),
    pytest.param("int", "9" * 30, {}, "is not an integer", id="int-huge-string"),
    pytest.param("int", 9, {"min": 0, "max": 4}, "above the maximum 4", id="int-above"),
    pytest.param("flag_yn", "maybe", {}, "is not a flag (Y or N)", id="flag"),
    pytest.param(
        "en_us_date", "Feb 30, 2022, 12:00:00 AM", {}, "not a valid en-US date", id="en-us-feb-30"
    ),
    pytest.param("en_us_date", "31/02/2022", {}, "not a valid en-US date", id="en-us-dmy"),
    pytest.param(
        "en_us_date", "Foo 3, 2022, 12:00:00 AM", {}, "not a valid en-US date", id="en-us-month"
    ),
    pytest.param("en_us_date", "Apr 3, 2022, 13:00:00 PM", {}, "hour 13", id="en-us-hour"),
    pytest.param("en_us_date", 20220403, {}, "not a valid en-US date", id="en-us-number"),
    pytest.param("iso_instant", "2022-04-12T17:00:00", {}, "no UTC offset", id="iso-naive"),
    pytest.param(
        "iso_instant", "2021-02-30T17:00:00+00:00", {}, "not a valid ISO-8601", id="iso-feb-30"
    ),
    pytest.param("iso_instant", "", {}, "not a valid ISO-8601", id="iso-empty"),
    pytest.param("iso_date", "13/04/2022", {}, "not a valid date", id="iso-date-dmy"),
    pytest.param("dmy_date", "31/02/2022", {}, "not a valid dd/mm/yyyy", id="dmy-feb-31"),
    pytest.param("dmy_date", "13/04/2022 08:00", {}, "not a valid dd/mm/yyyy", id="dmy-with-time"),
    pytest.param("dmy_instant", "13/04/2022 25:00", {}, "time 25:00", id="dmy-hour"),
    pytest.param("units", "SNV", {}, "not a list of units", id="units-string"),
    pytest.param("units", [{"aname": "x"}], {}, "item 0 has no unit code", id="units-no-code"),
    pytest.param("units", [None], {}, "item 0 is not a unit", id="units-null-item"),
    pytest.param("deadline_changes", {}, {}, "not a list", id="changes-object"),
    pytest.param(
        "deadline_changes",
        [{"oldDeadline": "Feb 30, 2022, 12:00:00 AM"}],
        {},
        "item 0: oldDeadline",
        id="changes-bad-date",
    ),
    pytest.param(
        "status",
        "tranfered",
        STATUS,
        "not a known status (known: completed, received, retrieved)",
        id="status-unknown",
    ),
    pytest.param("status", ["completed"], STATUS, "not a known status", id="status-list"),
]


@pytest.mark.parametrize(("name", "value", "options", "message"), BAD)
def test_refuses(name: str, value: Any, options: dict[str, Any], message: str) -> None:
    """Malformed values raise ConversionError with a reason a clerk can read."""
    with pytest.raises(ConversionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        convert(name, value, options)


def test_every_converter_is_documented_and_typed() -> None:
    """Each registry entry has a help text and a kind; kinds list their converters."""
    for name, conv in REGISTRY.items():
        assert conv.name == name and conv.help
    assert names_of_kind("date") == ["dmy_date", "en_us_date", "iso_date", "iso_local_date"]


@pytest.mark.parametrize(
    ("value", "none_values", "expected"),
    [
        pytest.param(None, (), True, id="null"),
        pytest.param("", ("",), True, id="empty"),
        pytest.param(
            " Feb 1, 2200, 12:00:01 AM ", ("Feb 1, 2200, 12:00:01 AM",), True, id="sentinel-trimmed"
        ),
        pytest.param(
            "Feb 1, 2200, 12:00:01\u202fAM",
            ("Feb 1, 2200, 12:00:01 AM",),
            True,
            id="sentinel-icu-space",
        ),
        pytest.param(
            "Feb 1, 2200 12:00:01 AM", ("Feb 1, 2200, 12:00:01 AM",), True, id="sentinel-java8"
        ),
        pytest.param("Feb 1, 2200, 12:00:02 AM", ("Feb 1, 2200, 12:00:01 AM",), False, id="near"),
        pytest.param(0, ("", 0), True, id="zero"),
        pytest.param(False, (0,), False, id="false-is-not-zero"),
        pytest.param("x", ("",), False, id="value"),
    ],
)
def test_is_none(value: Any, none_values: tuple[Any, ...], expected: bool) -> None:
    """Sentinels mean none; booleans are not confused with 0."""
    assert is_none(value, none_values) is expected


# From 13 June 1975 Asia/Ho_Chi_Minh is UTC+7 without daylight saving; before, the south kept
# UTC+8 (the zone database knows it), which the +7 arithmetic below would not.
instants = st.datetimes(
    min_value=datetime(1976, 1, 1), max_value=datetime(2300, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=0))


@given(instants)
def test_en_us_round_trip(instant: datetime) -> None:
    """format_en_us and parse_en_us are inverse to the second (local wall time, UTC+7)."""
    assert parse_en_us(format_en_us(instant)) == instant


@given(instants)
def test_en_us_date_is_the_local_date(instant: datetime) -> None:
    """The date of an en-US string is the local (UTC+7) calendar date of the instant."""
    assert convert("en_us_date", format_en_us(instant)) == (instant + timedelta(hours=7)).date()


@given(st.text(max_size=40))
def test_text_is_always_nfc(text: str) -> None:
    """Any text comes out in NFC, trimmed."""
    out = convert("text", text)
    assert out == unicodedata.normalize("NFC", out) and out == out.strip()


@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(max_size=30),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    )
)
def test_converters_only_raise_conversion_error(value: Any) -> None:
    """Whatever the raw value, a converter returns or raises ConversionError, nothing else."""
    for name, conv in REGISTRY.items():
        options = STATUS if name == "status" else {}
        with contextlib.suppress(ConversionError):
            conv(value, options)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("iso_utc", "2022-04-12T17:00:05+00:00", id="iso-utc"),
        pytest.param("iso_utc_z", "2022-04-12T17:00:05Z", id="iso-utc-z"),
        pytest.param("en_us_local", "Apr 13, 2022, 12:00:05 AM", id="en-us"),
        pytest.param("dmy_local_date", "13/04/2022", id="dmy-local-date"),
        pytest.param("iso_local_date", "2022-04-13", id="iso-local-date"),
        pytest.param("epoch_seconds", 1649782805, id="epoch"),
        pytest.param("epoch_millis", 1649782805000, id="epoch-ms"),
    ],
)
def test_formatters_round_down(name: str, expected: str | int) -> None:
    """The modified-from value is written rounded down (a filter never skips what it covers)."""
    instant = datetime(2022, 4, 12, 17, 0, 5, 999_999, tzinfo=UTC)
    assert format_instant(name, instant) == expected
    assert floor_for(name, instant) <= instant
    assert set(FORMATTERS) >= {name}


def test_floor_for_day_formats_is_local_midnight() -> None:
    """A day-precision filter means local midnight of that day."""
    assert floor_for("dmy_local_date", datetime(2022, 4, 12, 17, 30, tzinfo=UTC)) == datetime(
        2022, 4, 12, 17, tzinfo=UTC
    )
