"""Working calendar: Vietnamese holidays, compensatory and swapped days, the override file."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.rules.calendar import (
    PACKAGE_SOURCE,
    CalendarDay,
    DayKind,
    WorkingCalendar,
    load_calendar,
    parse_overrides,
)

CAL = load_calendar()
BARE = WorkingCalendar()  # package data only, no overrides
SHIPPED_SOURCE_MARK = "12729/VPCP-KGVX"


@pytest.mark.parametrize(
    ("day", "working"),
    [
        # Tết Nhâm Dần 2022: Mon 31 Jan – Fri 4 Feb off.
        pytest.param(date(2022, 1, 28), True, id="2022-friday-before-tet"),
        pytest.param(date(2022, 1, 31), False, id="2022-tet-eve"),
        pytest.param(date(2022, 2, 1), False, id="2022-tet-day-1"),
        pytest.param(date(2022, 2, 4), False, id="2022-tet-day-4"),
        pytest.param(date(2022, 2, 7), True, id="2022-back-after-tet"),
        # 2022 compensatory days off (nghỉ bù).
        pytest.param(date(2022, 1, 3), False, id="2022-new-year-in-lieu"),
        pytest.param(date(2022, 4, 11), False, id="2022-hung-kings-in-lieu"),
        pytest.param(date(2022, 5, 2), False, id="2022-30-4-in-lieu"),
        pytest.param(date(2022, 5, 3), False, id="2022-1-5-in-lieu"),
        pytest.param(date(2022, 5, 4), True, id="2022-back-after-may-day"),
        # 2 September: National Day and one adjacent day.
        pytest.param(date(2022, 9, 1), False, id="2022-sep-1"),
        pytest.param(date(2022, 9, 2), False, id="2022-sep-2"),
        pytest.param(date(2023, 9, 1), False, id="2023-sep-1"),
        pytest.param(date(2023, 9, 4), False, id="2023-sep-2-on-saturday-in-lieu"),
        pytest.param(date(2025, 9, 1), False, id="2025-sep-1"),
        pytest.param(date(2025, 9, 2), False, id="2025-sep-2"),
        # 2025 swap: Fri 2 May off, Sat 26 Apr worked.
        pytest.param(date(2025, 5, 2), False, id="2025-swapped-day-off"),
        pytest.param(date(2025, 4, 26), True, id="2025-swapped-working-saturday"),
        pytest.param(date(2025, 4, 27), False, id="2025-ordinary-sunday"),
        # 2026 New Year swap, only known through the override file.
        pytest.param(date(2026, 1, 1), False, id="2026-new-year"),
        pytest.param(date(2026, 1, 2), False, id="2026-override-day-off"),
        pytest.param(date(2026, 1, 10), True, id="2026-override-working-saturday"),
        pytest.param(date(2026, 1, 5), True, id="2026-monday-after-new-year"),
        # Ngày Văn hóa Việt Nam from 2026.
        pytest.param(date(2026, 11, 24), False, id="2026-culture-day"),
        pytest.param(date(2025, 11, 24), True, id="2025-no-culture-day-yet"),
        # Ordinary days.
        pytest.param(date(2022, 3, 12), False, id="plain-saturday"),
        pytest.param(date(2022, 3, 13), False, id="plain-sunday"),
        pytest.param(date(2022, 3, 14), True, id="plain-monday"),
    ],
)
def test_is_working_day(day: date, working: bool) -> None:
    """Each real day is a working day or a day off as the official calendar says."""
    assert CAL.is_working_day(day) is working


def test_package_alone_misses_the_2026_new_year_swap() -> None:
    """Without the override file, 2 Jan 2026 is worked and 10 Jan 2026 is a plain Saturday."""
    assert BARE.is_working_day(date(2026, 1, 2))
    assert not BARE.is_working_day(date(2026, 1, 10))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2022, 3, 14), date(2022, 3, 14), id="working-day-itself"),
        pytest.param(date(2022, 3, 12), date(2022, 3, 14), id="saturday-to-monday"),
        pytest.param(date(2022, 1, 29), date(2022, 2, 7), id="saturday-before-tet-2022"),
        pytest.param(date(2022, 4, 30), date(2022, 5, 4), id="30-4-2022-over-holidays"),
        pytest.param(date(2025, 4, 26), date(2025, 4, 26), id="swapped-saturday-is-worked"),
        pytest.param(date(2026, 1, 1), date(2026, 1, 5), id="new-year-2026-with-override"),
        pytest.param(date(2026, 1, 10), date(2026, 1, 10), id="override-working-saturday"),
    ],
)
def test_next_working_day_on_or_after(day: date, expected: date) -> None:
    """A day off rolls forward to the next working day; a working day stays (Art. 148)."""
    assert CAL.next_working_day_on_or_after(day) == expected


@pytest.mark.parametrize(
    ("anchor", "n", "expected"),
    [
        pytest.param(date(2022, 3, 10), 5, date(2022, 3, 17), id="thursday-plus-5"),
        pytest.param(date(2022, 3, 10), 1, date(2022, 3, 11), id="anchor-not-counted"),
        pytest.param(date(2022, 3, 10), 0, date(2022, 3, 10), id="zero-is-anchor"),
        pytest.param(date(2022, 3, 12), 1, date(2022, 3, 14), id="from-a-saturday"),
        pytest.param(date(2022, 1, 27), 3, date(2022, 2, 8), id="across-tet-2022"),
        pytest.param(date(2022, 4, 28), 2, date(2022, 5, 4), id="across-30-4-2022"),
        pytest.param(date(2025, 4, 24), 2, date(2025, 4, 26), id="counts-swapped-saturday"),
        pytest.param(date(2025, 4, 29), 2, date(2025, 5, 6), id="skips-swapped-friday"),
        pytest.param(date(2025, 12, 31), 1, date(2026, 1, 5), id="new-year-2026-override"),
        pytest.param(date(2026, 1, 9), 1, date(2026, 1, 10), id="override-saturday-counted"),
    ],
)
def test_add_working_days(anchor: date, n: int, expected: date) -> None:
    """N working days after the anchor skip days off and count swapped Saturdays (Art. 147)."""
    assert CAL.add_working_days(anchor, n) == expected


def test_add_working_days_refuses_negative() -> None:
    """A negative count is a programming error, not a date in the past."""
    with pytest.raises(ValueError, match="n must be >= 0"):
        CAL.add_working_days(date(2022, 3, 10), -1)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(date(2022, 3, 10), date(2022, 3, 17), 5, id="one-week"),
        pytest.param(date(2022, 3, 17), date(2022, 3, 10), -5, id="reversed-is-negative"),
        pytest.param(date(2022, 3, 10), date(2022, 3, 10), 0, id="same-day"),
        pytest.param(date(2022, 1, 28), date(2022, 2, 7), 1, id="over-tet-2022"),
        pytest.param(date(2021, 12, 31), date(2022, 1, 4), 1, id="across-year-end"),
        pytest.param(date(2022, 1, 1), date(2022, 12, 31), 249, id="whole-2022"),
        pytest.param(date(2025, 4, 25), date(2025, 5, 5), 4, id="2025-swap"),
        pytest.param(date(2025, 12, 31), date(2026, 1, 12), 7, id="2026-override"),
    ],
)
def test_working_days_between(start: date, end: date, expected: int) -> None:
    """Working days in (start, end]: the start is not counted, the end is."""
    assert CAL.working_days_between(start, end) == expected


def test_whole_2022_count_matches_day_by_day() -> None:
    """The per-year running counts agree with asking day by day."""
    days = [date(2022, 1, 1) + timedelta(days=i) for i in range(365)]
    assert sum(CAL.is_working_day(d) for d in days) == 249
    assert CAL.working_days_between(date(2021, 12, 31), date(2022, 12, 31)) == 249


def test_days_off_lists_holidays_swaps_and_overrides_with_sources() -> None:
    """The CLI listing shows each special day with its kind, name and source."""
    listed = CAL.days_off(date(2025, 12, 25), date(2026, 1, 12))
    assert [(d.day, d.kind, d.working) for d in listed] == [
        (date(2026, 1, 1), DayKind.PUBLIC_HOLIDAY, False),
        (date(2026, 1, 2), DayKind.EXTRA_DAY_OFF, False),
        (date(2026, 1, 10), DayKind.EXTRA_WORKING_DAY, True),
    ]
    assert listed[0].source == PACKAGE_SOURCE
    assert listed[0].name == "Tết Dương lịch"
    assert SHIPPED_SOURCE_MARK in listed[1].source
    assert SHIPPED_SOURCE_MARK in listed[2].source


def test_days_off_2025_swap_pairs_the_days() -> None:
    """The 2025 swap lists Sat 26 Apr as worked in exchange for Fri 2 May."""
    listed = {d.day: d for d in CAL.days_off(date(2025, 4, 20), date(2025, 5, 5))}
    assert listed[date(2025, 4, 26)].kind is DayKind.SWAPPED_WORKING_DAY
    assert listed[date(2025, 4, 26)].working
    assert "02/05/2025" in listed[date(2025, 4, 26)].name
    assert listed[date(2025, 5, 2)].kind is DayKind.SWAPPED_DAY_OFF
    assert sorted(listed) == [
        date(2025, 4, 26),
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),
    ]


def test_days_off_2022_kinds() -> None:
    """Holidays on a weekend are listed, and their weekday in lieu is a compensatory day."""
    listed = {d.day: d.kind for d in CAL.days_off(date(2022, 1, 1), date(2022, 1, 3))}
    assert listed == {
        date(2022, 1, 1): DayKind.PUBLIC_HOLIDAY,
        date(2022, 1, 3): DayKind.COMPENSATORY,
    }


def test_days_off_rejects_reversed_range() -> None:
    """An empty range is refused rather than silently listing nothing."""
    with pytest.raises(ValueError, match="empty range"):
        CAL.days_off(date(2022, 2, 1), date(2022, 1, 1))


def test_calendar_day_label_languages() -> None:
    """A day shows its Vietnamese name by default and the English one on request."""
    day = CAL.days_off(date(2022, 9, 2), date(2022, 9, 2))[0]
    assert day.label() == "Quốc khánh"
    assert day.label("en") == "National Day"


def test_tet_is_spelt_as_official_texts_spell_it() -> None:
    """The lunar new year reads "Tết Nguyên đán" (the holidays package writes "Nguyên Đán")."""
    names = [d.name for d in CAL.days_off(date(2022, 1, 31), date(2022, 2, 4))]
    assert names == [
        "Giao thừa Tết Nguyên đán",
        "Tết Nguyên đán",
        "Mùng hai Tết Nguyên đán",
        "Mùng ba Tết Nguyên đán",
        "Mùng bốn Tết Nguyên đán",
    ]
    assert not any("Đán" in n for d in CAL.days_off(date(2022, 1, 1), date(2030, 12, 31)) for n in [d.name])


def test_dates_outside_the_calendar_are_refused() -> None:
    """A year the package cannot compute is an error, not a silent 'working day'."""
    with pytest.raises(ValueError, match="outside the working calendar"):
        CAL.is_working_day(date(2150, 1, 1))


def test_calendar_is_immutable() -> None:
    """The calendar's overrides cannot be replaced after construction."""
    with pytest.raises(AttributeError):
        CAL.extra_days_off = ()  # type: ignore[misc]


def test_constructor_refuses_conflicting_days() -> None:
    """A date cannot be both an extra day off and an extra working day."""
    off = CalendarDay(date(2030, 1, 2), DayKind.EXTRA_DAY_OFF, False, "x", "src")
    work = CalendarDay(date(2030, 1, 2), DayKind.EXTRA_WORKING_DAY, True, "y", "src")
    with pytest.raises(ValueError, match="2030-01-02"):
        WorkingCalendar(extra_days_off=(off,), extra_working_days=(work,))


# -- the override file ------------------------------------------------------------------------

GOOD = """
[[day_off]]
date = 2030-01-02
name = "Nghỉ hoán đổi"
source = "Thông báo số 1/TB-BNV"

[[working_day]]
date = "2030-01-05"
name = "Làm bù"
source = "Thông báo số 1/TB-BNV"
"""


def test_load_calendar_from_a_file(tmp_path: Path) -> None:
    """A deployment's file makes its days off and working days count."""
    path = tmp_path / "overrides.toml"
    path.write_text(GOOD, encoding="utf-8")
    cal = load_calendar(path)
    assert not cal.is_working_day(date(2030, 1, 2))
    assert cal.is_working_day(date(2030, 1, 5))
    assert cal.source == str(path)
    # the deployment file replaces the shipped one
    assert cal.is_working_day(date(2026, 1, 2))


def test_shipped_file_is_valid_and_cites_its_notice() -> None:
    """The shipped overrides parse and each entry names the notice that set it."""
    assert {d.day for d in CAL.extra_days_off} == {date(2026, 1, 2)}
    assert {d.day for d in CAL.extra_working_days} == {date(2026, 1, 10)}
    assert all(SHIPPED_SOURCE_MARK in d.source for d in CAL.extra_days_off)


BAD = """\
colour = "blue"

[[day_off]]
date = 2030-01-02
name = "Nghỉ"
source = "TB 1"
reason = "extra key"

[[day_off]]
date = "2030-02-30"
name = "Ngày không tồn tại"
source = "TB 2"

[[day_off]]
date = 2030-03-01
name = "Thiếu nguồn"

[[working_day]]
date = 2030-01-02
name = "Vừa nghỉ vừa làm"
source = "TB 3"
"""


def test_every_problem_reported_together_with_line_and_entry(tmp_path: Path) -> None:
    """Unknown keys, a bad date, a missing source and a conflict come back in one ConfigError."""
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_calendar(path)
    err = caught.value
    assert err.source == str(path)
    found = [(p.where, p.message) for p in err.problems]
    assert len(found) == 5, found
    text = str(err)
    assert "unknown key 'colour'" in text
    assert f"{path}:3 [[day_off]] #1" in text and "unknown key 'reason'" in text
    assert f"{path}:9 [[day_off]] #2" in text and "'2030-02-30'" in text
    assert f"{path}:14 [[day_off]] #3" in text and "missing 'source'" in text
    assert f"{path}:18 [[working_day]] #1" in text and "already listed" in text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("[[day_off]]\ndate = 2030-02-30\n", "not valid TOML", id="toml-bad-date"),
        pytest.param(
            '[[day_off]]\ndate = 2030-01-02T08:00:00\nname = "x"\nsource = "y"\n',
            "not a date-time",
            id="datetime-not-date",
        ),
        pytest.param('[[day_off]]\nname = "x"\nsource = "y"\n', "missing 'date'", id="no-date"),
        pytest.param(
            '[[day_off]]\ndate = 2030-01-02\nsource = "y"\n', "missing 'name'", id="no-name"
        ),
        pytest.param('day_off = "2030-01-02"\n', "array of [[day_off]]", id="not-an-array"),
        pytest.param(
            '[[day_off]]\ndate = 1900-01-02\nname = "x"\nsource = "y"\n', "outside", id="year-range"
        ),
        pytest.param(
            '[[day_off]]\ndate = 2030-01-02\nname = "a"\nsource = "y"\n'
            '[[day_off]]\ndate = 2030-01-02\nname = "b"\nsource = "y"\n',
            "already listed",
            id="duplicate-day-off",
        ),
    ],
)
def test_override_problems(text: str, fragment: str) -> None:
    """Each kind of mistake in the override file is named."""
    with pytest.raises(ConfigError, match=r"(?s)overrides\.toml.*" + fragment.replace("[", r"\[")):
        parse_overrides(text, "overrides.toml")


def test_missing_override_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that does not exist is reported as configuration to fix."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_calendar(tmp_path / "nope.toml")


# -- properties ----------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))


@given(anchor=DAYS, n=st.integers(min_value=1, max_value=400))
def test_add_then_count_round_trips(anchor: date, n: int) -> None:
    """add_working_days lands on a working day that is exactly n working days after the anchor."""
    end = CAL.add_working_days(anchor, n)
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(anchor, end) == n
    assert CAL.working_days_between(anchor, end - timedelta(days=1)) == n - 1


@given(a=DAYS, b=DAYS)
def test_between_is_antisymmetric(a: date, b: date) -> None:
    """Counting backwards gives the negated count."""
    assert CAL.working_days_between(a, b) == -CAL.working_days_between(b, a)


@given(day=DAYS)
def test_next_working_day_is_working_and_not_before(day: date) -> None:
    """The rolled-forward day is a working day, never earlier, with only days off between."""
    rolled = CAL.next_working_day_on_or_after(day)
    assert rolled >= day
    assert CAL.is_working_day(rolled)
    assert CAL.working_days_between(day - timedelta(days=1), rolled) == 1
