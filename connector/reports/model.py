"""The report's model: its options (period, unit, denominator, fold) and what it holds.

`ReportOptions` says what to report (validated once, every problem together); `Report` is the
result `connector.reports.build.build_report` computes: one `UnitLine` per lead unit, the total
row, the withdrawn tasks counted apart, and the four annexes. The rules that fill them are in
`connector.reports.build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from connector.errors import ConfigError, Problem
from connector.i18n import Lang, check_lang, fmt_date, label, month_name, roman
from connector.models import NormalisedTask, StatusCode, UnitKind
from connector.rules.deadlines import Classification
from connector.rules.phrases import Suggestion
from connector.settings import ReportSettings

OPEN_STATUSES = frozenset(
    {StatusCode.DTH_TRONG_HAN, StatusCode.DTH_QUA_HAN, StatusCode.KHONG_THOI_HAN}
)
DONE_STATUSES = frozenset({StatusCode.HT_DUNG_HAN, StatusCode.HT_QUA_HAN, StatusCode.HT_KHONG_HAN})
DEFAULT_UNIT_ORDER: tuple[UnitKind, ...] = (
    UnitKind.DEPARTMENT,
    UnitKind.DISTRICT,
    UnitKind.CENTRAL,
)


class PeriodKind(StrEnum):
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"
    OPEN = "open"


@dataclass(frozen=True)
class Period:
    """What a report covers: tasks assigned in [start, end], or all tasks open (no dates)."""

    kind: PeriodKind
    code: str
    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        """True when `day` lies in the period (never for ``open``, which has no dates)."""
        return self.start is not None and self.end is not None and self.start <= day <= self.end

    def label(self, lang: Lang, as_of: date) -> str:
        """The period in words ("tháng 03/2022", "quý I/2022", …)."""
        if self.kind is PeriodKind.OPEN or self.start is None:
            return label("period_open", lang, date=fmt_date(as_of, lang))
        year = self.start.year
        if self.kind is PeriodKind.MONTH:
            month = self.start.month
            return label("period_month", lang, month=month, year=year, month_name=month_name(month))
        if self.kind is PeriodKind.QUARTER:
            quarter = (self.start.month - 1) // 3 + 1
            return label("period_quarter", lang, quarter=quarter, roman=roman(quarter), year=year)
        return label("period_year", lang, year=year)


PERIOD_FORMS = "YYYY-MM (month), YYYY-Qn (quarter), YYYY (year) or open"


def _month_end(year: int, month: int) -> date:
    if month == 12:
        return date(year, 12, 31)
    return date.fromordinal(date(year, month + 1, 1).toordinal() - 1)


def parse_period(text: str) -> Period:
    """``2022-03`` → March 2022, ``2022-Q1`` → Q1 2022, ``2022`` → 2022, ``open`` → open tasks.

    Raises `ConfigError` naming the accepted forms.
    """
    raw = text.strip()
    bad = ConfigError([Problem("--period", f"{text!r} is not a period; use {PERIOD_FORMS}")])
    if raw.lower() == "open":
        return Period(PeriodKind.OPEN, "open")
    parts = raw.upper().split("-")
    if not parts[0].isdigit() or len(parts[0]) != 4 or len(parts) > 2:
        raise bad
    year = int(parts[0])
    if year < 1995 or year > 2099:
        raise ConfigError([Problem("--period", f"year {year} is outside 1995–2099")])
    if len(parts) == 1:
        return Period(PeriodKind.YEAR, f"{year}", date(year, 1, 1), date(year, 12, 31))
    tail = parts[1]
    if len(tail) == 2 and tail[0] == "Q" and tail[1] in "1234":
        quarter = int(tail[1])
        first = 3 * quarter - 2
        return Period(
            PeriodKind.QUARTER,
            f"{year}-Q{quarter}",
            date(year, first, 1),
            _month_end(year, first + 2),
        )
    if tail.isdigit() and len(tail) == 2 and 1 <= int(tail) <= 12:
        month = int(tail)
        return Period(
            PeriodKind.MONTH, f"{year}-{month:02d}", date(year, month, 1), _month_end(year, month)
        )
    raise bad


class Denominator(StrEnum):
    """What the on-time rate is divided by (see the module docstring)."""

    DONE = "done"
    DUE = "due"
    ALL = "all"


def option_problem(key: str, message: str) -> ConfigError:
    """A report option at fault, as a `ConfigError` (exit 2)."""
    return ConfigError([Problem(key, message)], source="report options")


@dataclass(frozen=True)
class ReportOptions:
    """What to report and how. `period` is a string as `parse_period` accepts."""

    as_of: date
    period: str = "open"
    unit: str | None = None
    """Only this lead unit (exact code)."""
    unit_order: tuple[UnitKind, ...] = DEFAULT_UNIT_ORDER
    denominator: Denominator = Denominator.DONE
    fold: bool = False
    lang: Lang = "vi"
    title: str | None = None
    """Report title; ``None`` = the standard title in `lang`."""
    issuer: str | None = None
    """First title line of official annexes (e.g. "UBND TỈNH BÌNH ĐỊNH"); ``None`` = default."""
    include_empty: bool = False
    """List every unit of a kind in `unit_order`, also those without a task in scope."""
    parsed_period: Period = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed_period", parse_period(self.period))
        try:
            object.__setattr__(self, "denominator", Denominator(self.denominator))
        except ValueError:
            valid = ", ".join(d.value for d in Denominator)
            raise option_problem("denominator", f"{self.denominator!r}; valid: {valid}") from None
        try:
            object.__setattr__(self, "lang", check_lang(self.lang))
        except ValueError as exc:
            raise option_problem("lang", str(exc)) from None
        try:
            kinds = tuple(UnitKind(k) for k in self.unit_order)
        except ValueError as exc:
            valid = ", ".join(k.value for k in UnitKind)
            raise option_problem("unit_order", f"{exc}; valid: {valid}") from None
        if len(set(kinds)) != len(kinds):
            raise option_problem("unit_order", f"a unit kind is listed twice: {list(kinds)}")
        object.__setattr__(self, "unit_order", kinds)
        period = self.parsed_period
        if period.start is not None and self.as_of < period.start:
            raise option_problem(
                "--as-of",
                f"{self.as_of.isoformat()} is before the period {period.code} starts; "
                "nothing had been assigned yet",
            )

    @classmethod
    def from_settings(
        cls,
        report: ReportSettings,
        *,
        as_of: date,
        period: str = "open",
        unit: str | None = None,
        lang: str | None = None,
        denominator: str | None = None,
        fold: bool | None = None,
        include_empty: bool = False,
        issuer: str | None = None,
    ) -> ReportOptions:
        """Options from `settings.report` (a `ReportSettings`), overridden by CLI values."""
        default_title = ReportSettings.model_fields["title"].default
        title = None if report.title == default_title else report.title
        return cls(
            as_of=as_of,
            period=period,
            unit=unit or None,
            unit_order=tuple(UnitKind(k) for k in report.unit_order),
            denominator=(denominator or report.denominator),  # type: ignore[arg-type]
            fold=report.fold if fold is None else fold,
            lang=(lang or report.lang),  # type: ignore[arg-type]
            title=title,
            issuer=issuer,
            include_empty=include_empty,
        )


Item = tuple[NormalisedTask, Classification, Suggestion | None]


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """The on-time rate as a fraction; `percent` is rounded half-up to one decimal."""

    numerator: int
    denominator: int

    @property
    def percent(self) -> Decimal | None:
        if self.denominator == 0:
            return None
        value = Decimal(100 * self.numerator) / Decimal(self.denominator)
        return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Counts:
    """One row of figures (see the module docstring for each column's rule)."""

    total: int
    with_deadline: int
    without_deadline: int
    done_on_time: int
    done_late: int
    done_no_deadline: int
    open_within: int
    open_overdue: int
    open_overdue_over_30: int
    open_no_deadline: int
    open_no_deadline_stale: int
    unconfirmed: int
    cancelled: int
    rate: Rate
    by_status: dict[StatusCode, int] = field(hash=False)


@dataclass(frozen=True)
class UnitLine:
    """One unit's row."""

    code: str
    name: str
    kind: UnitKind | None
    counts: Counts


@dataclass(frozen=True)
class TaskRef:
    """Which task an annex line is about."""

    source_id: int
    sign_number: str
    subject: str
    unit_code: str
    unit_name: str
    doc_date: date | None
    assigned_on: date | None


@dataclass(frozen=True)
class OverdueEntry:
    """Annex 1: an open task past its deadline."""

    task: TaskRef
    original_deadline: date | None
    deadline: date | None
    eff_due: date | None
    days_overdue: int
    working_days_overdue: int
    over_30: bool
    extended: bool
    confirmed: bool


@dataclass(frozen=True)
class LateEntry:
    """Annex 2: a task completed after its deadline."""

    task: TaskRef
    original_deadline: date | None
    deadline: date | None
    eff_due: date | None
    completed_on: date | None
    completion_estimated: bool
    days_late: int
    extended: bool


@dataclass(frozen=True)
class StaleEntry:
    """Annex 3: an open task without deadline, idle more than 3 months."""

    task: TaskRef
    last_report_on: date | None
    idle_days: int


@dataclass(frozen=True)
class MissingEntry:
    """Annex 4: an assignment without a deadline, with the one its text suggests."""

    task: TaskRef
    status: StatusCode
    suggested_deadline: date | None
    suggested_phrase: str
    suggested_recurrence: str


@dataclass(frozen=True)
class Report:
    """The Working Group's report (see the module docstring)."""

    options: ReportOptions
    title: str
    issuer: str
    period: Period
    rows: tuple[UnitLine, ...]
    total: Counts
    undated: int
    overdue: tuple[OverdueEntry, ...]
    late: tuple[LateEntry, ...]
    stale: tuple[StaleEntry, ...]
    missing_deadline: tuple[MissingEntry, ...]
    unreadable: int = 0
    """Tasks left out because they could not be classified (see the log for which)."""

    @property
    def as_of(self) -> date:
        return self.options.as_of

    @property
    def lang(self) -> Lang:
        return self.options.lang

    @property
    def fold(self) -> bool:
        return self.options.fold

    @property
    def denominator(self) -> Denominator:
        return self.options.denominator

    @property
    def cancelled(self) -> int:
        return self.total.cancelled

    def period_label(self, lang: Lang | None = None) -> str:
        return self.period.label(lang or self.lang, self.as_of)

    def denominator_text(self, lang: Lang | None = None) -> str:
        """The rate's rule in words, as printed under the table."""
        return denominator_text(self.denominator, self.fold, lang or self.lang)


def denominator_text(denominator: Denominator, fold: bool, lang: Lang) -> str:
    """The rule "Tỷ lệ đúng hạn = … / …" for `denominator` and `fold`, in words."""
    return label(f"rate_{denominator.value}" + ("_fold" if fold else ""), lang)
