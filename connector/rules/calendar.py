"""Vietnam's working-day calendar: public holidays, days off in lieu, swapped Saturdays.

Deadlines are counted under the Civil Code 2015 (Art. 146–148): a period of N days starts the
day after its anchor (Art. 147), ends at 24:00 of its last day, and when that last day is a
weekend day or a public holiday the period ends at the end of the next working day (Art. 148).
Periods stated in "ngày làm việc" (working days) skip every day that is not worked. Both rules
need to know, for any local date, whether it is a working day.

A day is a working day when:

1. it is listed as an extra working day in the override file (e.g. a Saturday worked to pay back
   a bridge day the government granted after the package was released), else
2. it is not listed as an extra day off in the override file, and
3. per the `holidays` package (country ``VN``): on a Saturday or Sunday, it is one of the weekend
   days the government swapped into a working day (``weekend_workdays``); on a weekday, it is not
   a public holiday, Tết day, compensatory day off (nghỉ bù) or swapped day off.

The package lags official notices, so deployments keep an override file (TOML) in which each extra
day names the notice that decreed it::

    [[day_off]]
    date = 2026-01-02
    name = "Nghỉ Tết Dương lịch (hoán đổi ngày làm việc)"
    source = "Văn bản số 12729/VPCP-KGVX ngày 25/12/2025 ..."

    [[working_day]]
    date = 2026-01-10
    name = "Làm bù cho ngày 02/01/2026"
    source = "..."

A `WorkingCalendar` is immutable: its overrides are fixed at construction, and the per-year tables
it builds on first use (one `holidays.VN` evaluation per year) are a cache that never changes an
answer.
"""

from __future__ import annotations

import functools
import re
import threading
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any

import structlog

from connector.errors import ConfigError, Problem
from connector.settings import CalendarSettings

log = structlog.get_logger(__name__)

MIN_YEAR = 1995
"""First year covered: compensatory days off (nghỉ bù) exist since the Labour Code of 1994."""
MAX_YEAR = 2099
"""Last year covered: the package's lunar calendar (Tết, Hùng Kings' day) ends in 2100."""


@functools.cache
def package_source() -> str:
    """The `source` of every day that comes from the `holidays` package (``PACKAGE_SOURCE``)."""
    from importlib.metadata import version  # noqa: PLC0415 - the package's metadata, once

    return f"holidays VN (package {version('holidays')})"


def __getattr__(name: str) -> Any:
    # ``PACKAGE_SOURCE`` is read on first use: the package's metadata costs start-up time.
    if name == "PACKAGE_SOURCE":
        return package_source()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SHIPPED_OVERRIDES = "calendar-overrides.toml"
"""Name of the override file shipped in `connector/rules/data/`."""

_SECTIONS = ("day_off", "working_day")
_ENTRY_KEYS = frozenset({"date", "name", "source", "name_en"})
_WEEKEND = frozenset({5, 6})  # Saturday, Sunday
_SUBSTITUTED_PREFIX = "Ngày nghỉ (thay cho ngày "
_OBSERVED_MARK = "(nghỉ bù"


class DayKind(StrEnum):
    """Why a day is listed in the calendar (the CLI's `calendar` command shows it)."""

    PUBLIC_HOLIDAY = "public_holiday"
    """A public holiday or Tết day (Labour Code 2019, Art. 112), even on a weekend."""
    COMPENSATORY = "compensatory"
    """A day off in lieu of a holiday that fell on a weekend (nghỉ bù)."""
    SWAPPED_DAY_OFF = "swapped_day_off"
    """A weekday made a day off by a government swap, paid back by a working weekend day."""
    SWAPPED_WORKING_DAY = "swapped_working_day"
    """A weekend day worked to pay back a swapped day off (làm bù)."""
    EXTRA_DAY_OFF = "extra_day_off"
    """A day off from the override file."""
    EXTRA_WORKING_DAY = "extra_working_day"
    """A working day from the override file."""


@dataclass(frozen=True)
class CalendarDay:
    """One day that differs from the plain Monday–Friday pattern, with where that comes from.

    `working` is True for swapped/extra working days (a Saturday worked), False for days off.
    `source` is `package_source()` or the notice named in the override file.
    """

    day: date
    kind: DayKind
    working: bool
    name: str
    source: str
    name_en: str = ""

    def label(self, lang: str = "vi") -> str:
        """The day's name in `lang` ("vi" or "en"; English falls back to Vietnamese)."""
        if lang == "en" and self.name_en:
            return self.name_en
        return self.name


@dataclass(frozen=True)
class _Year:
    """One year's precomputed table: working flag and running count per day of year."""

    year: int
    working: tuple[bool, ...]
    cumulative: tuple[int, ...]  # cumulative[i] = working days among days 1..i (index 0 = 0)
    special: tuple[CalendarDay, ...]

    @property
    def total(self) -> int:
        return self.cumulative[-1]


def _check_year(day: date) -> None:
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ValueError(
            f"{day.isoformat()} is outside the working calendar ({MIN_YEAR}–{MAX_YEAR})"
        )


def require_covered(day: date, where: str) -> date:
    """`day` itself when the working calendar covers it; else a `ConfigError` naming `where`
    (a command-line date such as ``--as-of 2100-01-01``)."""
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise ConfigError(
            [
                Problem(
                    where,
                    f"{day.isoformat()} is outside the working calendar; give a date in "
                    f"{MIN_YEAR}–{MAX_YEAR}",
                )
            ]
        )
    return day


_DISPLAY_SPELLING: tuple[tuple[str, str], ...] = (("Tết Nguyên Đán", "Tết Nguyên đán"),)
"""Names as Vietnamese official texts spell them, where the `holidays` package capitalises
otherwise ("Tết Nguyên Đán" → "Tết Nguyên đán")."""


def display_name(name: str) -> str:
    """A day's name from the `holidays` package, spelt as official texts spell it."""
    for wrong, right in _DISPLAY_SPELLING:
        name = name.replace(wrong, right)
    return name


def _joined(names: list[str]) -> str:
    return "; ".join(dict.fromkeys(display_name(n) for n in names))


def _package_days(year: int) -> tuple[dict[date, CalendarDay], dict[date, CalendarDay]]:
    """Days off and working weekend days of `year` per the `holidays` package."""
    # The next year is evaluated too: a swap may pay a January day off back with a December
    # Saturday of the previous year (2015: Fri 2 Jan off, Sat 27 Dec 2014 worked).
    import holidays  # noqa: PLC0415 - a large package: loaded when a year is first needed

    years = [year, year + 1]
    vi = holidays.country_holidays("VN", years=years, language="vi")
    en = holidays.country_holidays("VN", years=years, language="en_US")
    off: dict[date, CalendarDay] = {}
    paid_back_by: dict[date, date] = {}
    for day in sorted(vi):
        names = vi.get_list(day)
        for name in names:
            if name.startswith(_SUBSTITUTED_PREFIX):
                dd, mm, yyyy = name[len(_SUBSTITUTED_PREFIX) :].rstrip(")").split("/")
                paid_back_by[date(int(yyyy), int(mm), int(dd))] = day
        if day.year != year:
            continue
        if any(not n.startswith(_SUBSTITUTED_PREFIX) and _OBSERVED_MARK not in n for n in names):
            kind = DayKind.PUBLIC_HOLIDAY
        elif any(_OBSERVED_MARK in n for n in names):
            kind = DayKind.COMPENSATORY
        else:
            kind = DayKind.SWAPPED_DAY_OFF
        off[day] = CalendarDay(
            day=day,
            kind=kind,
            working=False,
            name=_joined(names),
            source=package_source(),
            name_en=_joined(en.get_list(day)),
        )
    worked_weekend: dict[date, CalendarDay] = {}
    for day in sorted(vi.weekend_workdays):
        if day.year != year:
            continue
        for_day = paid_back_by.get(day)
        worked_weekend[day] = CalendarDay(
            day=day,
            kind=DayKind.SWAPPED_WORKING_DAY,
            working=True,
            name=(f"Làm bù cho ngày nghỉ {for_day:%d/%m/%Y}" if for_day else "Ngày làm việc bù"),
            source=package_source(),
            name_en=(
                f"Working day in exchange for {for_day.isoformat()}"
                if for_day
                else "Swapped working day"
            ),
        )
    return off, worked_weekend


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """Which local dates are working days in Vietnam, with the overrides of a deployment.

    Build it with `load_calendar()`; `WorkingCalendar()` alone uses the package data only.
    Every date must lie in `MIN_YEAR`–`MAX_YEAR`; other dates raise `ValueError`.
    """

    extra_days_off: tuple[CalendarDay, ...] = ()
    extra_working_days: tuple[CalendarDay, ...] = ()
    source: str = ""
    """Where the overrides came from (a file path), for messages."""
    _off: dict[date, CalendarDay] = field(init=False, repr=False)
    _work: dict[date, CalendarDay] = field(init=False, repr=False)
    _years: dict[int, _Year] = field(init=False, repr=False, default_factory=dict)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        off = {d.day: d for d in self.extra_days_off}
        work = {d.day: d for d in self.extra_working_days}
        both = sorted(off.keys() & work.keys())
        if both:
            raise ValueError(
                "dates listed both as day off and as working day: "
                + ", ".join(d.isoformat() for d in both)
            )
        object.__setattr__(self, "_off", off)
        object.__setattr__(self, "_work", work)

    # -- per-year tables -------------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is not None:
            return table
        with self._lock:
            table = self._years.get(year)
            if table is None:
                table = self._build_year(year)
                self._years[year] = table
        return table

    def _build_year(self, year: int) -> _Year:
        pkg_off, pkg_work = _package_days(year)
        special: dict[date, CalendarDay] = {**pkg_off, **pkg_work}
        for day, entry in self._off.items():
            if day.year == year:
                special[day] = entry
        for day, entry in self._work.items():
            if day.year == year:
                special[day] = entry
        first = date(year, 1, 1)
        n_days = (date(year + 1, 1, 1) - first).days
        flags: list[bool] = []
        for i in range(n_days):
            day = first + timedelta(days=i)
            listed = special.get(day)
            flags.append(listed.working if listed is not None else day.weekday() not in _WEEKEND)
        log.debug("calendar_year_built", year=year, special_days=len(special))
        return _Year(
            year=year,
            working=tuple(flags),
            cumulative=(0, *accumulate(int(f) for f in flags)),
            special=tuple(special[d] for d in sorted(special)),
        )

    def _count_through(self, day: date) -> tuple[int, int]:
        """(year, working days from 1 January of `day`'s year through `day`)."""
        _check_year(day)
        table = self._year(day.year)
        return day.year, table.cumulative[day.timetuple().tm_yday]

    # -- queries -------------------------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        """True when `day` is worked by state agencies (see the module docstring for the rule)."""
        _check_year(day)
        return self._year(day.year).working[day.timetuple().tm_yday - 1]

    def next_working_day_on_or_after(self, day: date) -> date:
        """`day` itself when it is a working day, else the first working day after it.

        This is the Civil Code 2015 Art. 148 roll-forward: a period whose last day is a weekend
        day or a holiday ends at the end of the next working day.
        """
        current = day
        while not self.is_working_day(current):
            current += timedelta(days=1)
        return current

    def add_working_days(self, anchor: date, n: int) -> date:
        """The n-th working day after `anchor` (Civil Code Art. 147: the anchor day is not counted).

        "Trong 05 ngày làm việc kể từ ngày 10/3" ends on ``add_working_days(10 March, 5)``.
        For ``n == 0`` the anchor itself is returned, working day or not. ``n < 0`` is refused.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        current = anchor
        remaining = n
        while remaining:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in the half-open interval (start, end]; negative when end < start.

        The convention matches `add_working_days`: the start day is not counted, the end day is,
        so ``working_days_between(a, add_working_days(a, n)) == n`` and
        ``working_days_between(a, b) == -working_days_between(b, a)``.
        """
        if end < start:
            return -self.working_days_between(end, start)
        start_year, start_count = self._count_through(start)
        end_year, end_count = self._count_through(end)
        total = end_count - start_count
        for year in range(start_year, end_year):
            total += self._year(year).total
        return total

    def days_off(self, start: date, end: date) -> list[CalendarDay]:
        """Every day in [start, end] that departs from the Monday–Friday pattern, in date order.

        Lists public holidays (also those on a weekend), compensatory and swapped days off,
        override days off, and the weekend days worked instead (``working=True``), each with
        its name and source. Plain Saturdays and Sundays are not listed. Named for the CLI's
        ``calendar DATE..DATE`` listing, which shows the swapped working days too.
        """
        if end < start:
            raise ValueError(f"empty range: {start.isoformat()} is after {end.isoformat()}")
        _check_year(start)
        _check_year(end)
        return [
            entry
            for year in range(start.year, end.year + 1)
            for entry in self._year(year).special
            if start <= entry.day <= end
        ]


# -- the override file -----------------------------------------------------------------------

_HEADER = re.compile(r"^\s*\[\[\s*(day_off|working_day)\s*\]\]")


def _entry_lines(text: str) -> dict[tuple[str, int], int]:
    """Line number (1-based) of the n-th ``[[section]]`` header, for error messages."""
    seen: dict[str, int] = {}
    lines: dict[tuple[str, int], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match:
            section = match.group(1)
            seen[section] = seen.get(section, 0) + 1
            lines[(section, seen[section])] = number
    return lines


def _parse_entry(raw: Any, section: str, where: str, problems: list[Problem]) -> CalendarDay | None:
    if not isinstance(raw, dict):
        problems.append(Problem(where, "must be a table with date, name and source"))
        return None
    for key in sorted(set(raw) - _ENTRY_KEYS):
        problems.append(
            Problem(where, f"unknown key {key!r} (valid: {', '.join(sorted(_ENTRY_KEYS))})")
        )
    before = len(problems)  # an unknown key alone still lets the entry be checked for clashes
    value = raw.get("date")
    day: date | None = None
    if value is None:
        problems.append(Problem(where, "missing 'date' (YYYY-MM-DD)"))
    elif isinstance(value, datetime):
        problems.append(Problem(where, f"'date' must be a date, not a date-time: {value}"))
    elif isinstance(value, date):
        day = value
    elif isinstance(value, str):
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            problems.append(Problem(where, f"'date' is not a valid date (YYYY-MM-DD): {value!r}"))
    else:
        problems.append(Problem(where, f"'date' must be a date (YYYY-MM-DD), got {value!r}"))
    if day is not None and not MIN_YEAR <= day.year <= MAX_YEAR:
        problems.append(Problem(where, f"'date' {day} is outside {MIN_YEAR}–{MAX_YEAR}"))
    texts: dict[str, str] = {}
    for key in ("name", "source", "name_en"):
        text = raw.get(key, "")
        if not isinstance(text, str):
            problems.append(Problem(where, f"{key!r} must be a string"))
        elif not text.strip() and key != "name_en":
            problems.append(
                Problem(
                    where,
                    f"missing {key!r}"
                    + (" (the decree or notice that set this day)" if key == "source" else ""),
                )
            )
        else:
            texts[key] = text.strip()
    if day is None or len(problems) > before:
        return None
    working = section == "working_day"
    return CalendarDay(
        day=day,
        kind=DayKind.EXTRA_WORKING_DAY if working else DayKind.EXTRA_DAY_OFF,
        working=working,
        name=texts["name"],
        source=texts["source"],
        name_en=texts.get("name_en", ""),
    )


def parse_overrides(text: str, source: str) -> tuple[list[CalendarDay], list[CalendarDay]]:
    """Parse an override file's text into (days off, working days).

    Every problem (TOML syntax, unknown keys, malformed or missing dates, missing name or source,
    a date listed twice or both as day off and as working day) is collected and raised together
    as one `ConfigError` naming `source` and the line and entry at fault.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(source, f"not valid TOML: {exc}")], source=source) from exc
    problems: list[Problem] = []
    for key in sorted(set(document) - set(_SECTIONS)):
        problems.append(Problem(source, f"unknown key {key!r} (valid: {', '.join(_SECTIONS)})"))
    lines = _entry_lines(text)
    parsed: dict[str, list[tuple[str, CalendarDay]]] = {s: [] for s in _SECTIONS}
    for section in _SECTIONS:
        entries = document.get(section, [])
        if not isinstance(entries, list):
            problems.append(
                Problem(source, f"{section!r} must be an array of [[{section}]] tables")
            )
            continue
        for index, raw in enumerate(entries, start=1):
            line = lines.get((section, index))
            where = f"{source}:{line}" if line else source
            where += f" [[{section}]] #{index}"
            entry = _parse_entry(raw, section, where, problems)
            if entry is not None:
                parsed[section].append((where, entry))
    first_seen: dict[date, str] = {}
    for section in _SECTIONS:
        for where, entry in parsed[section]:
            earlier = first_seen.get(entry.day)
            if earlier is not None:
                problems.append(Problem(where, f"date {entry.day} is already listed at {earlier}"))
            else:
                first_seen[entry.day] = where
    if problems:
        raise ConfigError(problems, source=source)
    return [e for _, e in parsed["day_off"]], [e for _, e in parsed["working_day"]]


def _read_shipped() -> str:
    """The shipped override file, read as package data (works from a wheel or a zip)."""
    try:
        resource = resources.files("connector.rules").joinpath("data", SHIPPED_OVERRIDES)
        return resource.read_text(encoding="utf-8")
    except (NotADirectoryError, TypeError, ModuleNotFoundError):
        # `connector` imported as a namespace package (no __init__.py): read beside this module.
        return (Path(__file__).parent / "data" / SHIPPED_OVERRIDES).read_text(encoding="utf-8")


def load_calendar(override_path: Path | None = None) -> WorkingCalendar:
    """The working calendar with an override file (default: the one shipped with the connector).

    A deployment's own file replaces the shipped one, so start it from a copy of
    ``connector/rules/data/calendar-overrides.toml``. Raises `ConfigError` when the file is
    missing or invalid.
    """
    if override_path is None:
        source = f"connector/rules/data/{SHIPPED_OVERRIDES}"
        text = _read_shipped()
    else:
        source = str(override_path)
        try:
            text = override_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [Problem(source, f"cannot read the calendar override file: {exc.strerror}")],
                source=source,
            ) from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(
                [Problem(source, "the calendar override file is not UTF-8 text")], source=source
            ) from exc
    days_off, working_days = parse_overrides(text, source)
    log.info(
        "calendar_loaded",
        source=source,
        extra_days_off=len(days_off),
        extra_working_days=len(working_days),
    )
    return WorkingCalendar(
        extra_days_off=tuple(days_off), extra_working_days=tuple(working_days), source=source
    )


def calendar_for(settings: CalendarSettings) -> WorkingCalendar:
    """The working calendar with the deployment's override file (``calendar.overrides``)."""
    return load_calendar(Path(settings.overrides) if settings.overrides else None)
