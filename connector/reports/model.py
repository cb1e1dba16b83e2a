"""The report's model: its options (period and basis, unit, denominator, fold, the document's
form) and what it holds.

`ReportOptions` says what to report (validated once, every problem together); `Report` is the
result `connector.reports.build.build_report` computes: one `UnitLine` per lead unit, the total
row, the withdrawn tasks counted apart, and the six annexes. The rules that fill them are in
`connector.reports.build`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from connector.errors import ConfigError, Problem
from connector.i18n import Lang, check_lang, fmt_date, label, month_name, roman
from connector.models import StatusCode, UnitKind
from connector.rules.confirmation import confirmation_since
from connector.settings import ReportSettings

if TYPE_CHECKING:
    from connector.ledger.columns import SuggestionLike
    from connector.models import ReportedTask
    from connector.rules.deadlines import Classification, LateExtension
    from connector.rules.kinds import KindReading
    from connector.rules.recurring import RecurringObligation

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
    RANGE = "range"
    TO_DATE = "to-date"
    OPEN = "open"


class Basis(StrEnum):
    """Which date of a task places it in a period (``report --basis``)."""

    ASSIGNED = "assigned"
    """The assignment date (``assigned_at``, else the document date)."""
    COMPLETED = "completed"
    """The local completion date: only tasks completed by the as-of date."""
    DUE = "due"
    """The effective deadline (``eff_due``): only tasks with a deadline."""


_PERIOD_UNIT: dict[PeriodKind, str] = {
    PeriodKind.MONTH: "month",
    PeriodKind.QUARTER: "quarter",
    PeriodKind.YEAR: "year",
    PeriodKind.RANGE: "range",
}


@dataclass(frozen=True)
class Period:
    """What a report covers: tasks whose date (see `Basis`) lies in [start, end]; every task
    up to the as-of date (``to-date``: no start, `end` the as-of date once `resolved`); or every
    task open on the as-of date (``open``: no dates)."""

    kind: PeriodKind
    code: str
    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        """True when `day` lies in the period (never for ``open``, which has no dates)."""
        if self.kind is PeriodKind.OPEN or self.end is None:
            return False
        return (self.start is None or self.start <= day) and day <= self.end

    def resolved(self, as_of: date) -> Period:
        """The period as a report as of `as_of` reads it: ``to-date`` ends on `as_of`."""
        if self.kind is PeriodKind.TO_DATE:
            return Period(self.kind, self.code, None, as_of)
        return self

    def label(self, lang: Lang, as_of: date, basis: Basis = Basis.ASSIGNED) -> str:
        """The period in words ("tháng 03/2022 (nhiệm vụ giao trong tháng)", …)."""
        if self.kind is PeriodKind.OPEN:
            return label("period_open", lang, date=fmt_date(as_of, lang))
        if self.kind is PeriodKind.TO_DATE or self.start is None:
            which = label(f"basis_to_date_{basis.value}", lang)
            return label("period_to_date", lang, date=fmt_date(as_of, lang), which=which)
        which = label(
            f"basis_{basis.value}", lang, unit=label(f"unit_{_PERIOD_UNIT[self.kind]}", lang)
        )
        year = self.start.year
        if self.kind is PeriodKind.MONTH:
            month = self.start.month
            return label(
                "period_month",
                lang,
                month=month,
                year=year,
                month_name=month_name(month),
                which=which,
            )
        if self.kind is PeriodKind.QUARTER:
            quarter = (self.start.month - 1) // 3 + 1
            return label(
                "period_quarter",
                lang,
                quarter=quarter,
                roman=roman(quarter),
                year=year,
                which=which,
            )
        if self.kind is PeriodKind.RANGE:
            return label(
                "period_range",
                lang,
                start=fmt_date(self.start, lang),
                end=fmt_date(self.end, lang),
                which=which,
            )
        return label("period_year", lang, year=year, which=which)


PERIOD_FORMS = (
    "to-date (every task up to the as-of date), YYYY-MM (month), YYYY-Qn (quarter), "
    "YYYY (year), YYYY-MM-DD..YYYY-MM-DD (range) or open"
)


def _month_end(year: int, month: int) -> date:
    if month == 12:
        return date(year, 12, 31)
    return date.fromordinal(date(year, month + 1, 1).toordinal() - 1)


def _check_year(year: int) -> None:
    if year < 1995 or year > 2099:
        raise ConfigError([Problem("--period", f"year {year} is outside 1995–2099")])


def _parse_range(raw: str, bad: ConfigError) -> Period:
    first, _, last = raw.partition("..")
    try:
        start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise bad from None
    _check_year(start.year)
    _check_year(end.year)
    if end < start:
        raise ConfigError(
            [Problem("--period", f"{raw!r} ends before it starts; write FIRST..LAST")]
        )
    return Period(PeriodKind.RANGE, f"{start.isoformat()}..{end.isoformat()}", start, end)


def parse_period(text: str) -> Period:
    """``to-date`` → every task up to the as-of date, ``2022-03`` → March 2022, ``2022-Q1`` →
    Q1 2022, ``2022`` → 2022, ``2022-01-01..2022-05-30`` → those days, ``open`` → open tasks.

    Raises `ConfigError` naming the accepted forms.
    """
    raw = text.strip()
    bad = ConfigError([Problem("--period", f"{text!r} is not a period; use {PERIOD_FORMS}")])
    if raw.lower() == "open":
        return Period(PeriodKind.OPEN, "open")
    if raw.lower() == "to-date":
        return Period(PeriodKind.TO_DATE, "to-date")
    if ".." in raw:
        return _parse_range(raw, bad)
    parts = raw.upper().split("-")
    if not parts[0].isdigit() or len(parts[0]) != 4 or len(parts) > 2:
        raise bad
    year = int(parts[0])
    _check_year(year)
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
class DocumentForm:
    """What the report prints as an administrative document (Decree 30/2020/NĐ-CP): who
    issues it, its number, place, recipients and signer (settings ``[report]``).

    A field left ``None`` prints the standard text in the report's language (see
    `connector.reports.render.common.document_text`); an empty string prints nothing there.
    """

    governing_body: str = ""
    """The line above the issuing body, e.g. "UBND TỈNH BÌNH ĐỊNH" ("": none)."""
    issuing_body: str | None = None
    """The issuing body in capitals ("TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH")."""
    issuing_body_name: str | None = None
    """The issuing body inside a sentence ("Tổ công tác của Chủ tịch UBND tỉnh")."""
    number: str = ""
    """The number the văn thư gives at signing ("": room left to write it)."""
    symbol: str = "BC-TCT"
    place: str = ""
    """The place before the date ("Bình Định"; "": the date alone)."""
    recipients: tuple[str, ...] | None = None
    signer_authority: str = ""
    """The line above the signer's title ("KT. TỔ TRƯỞNG", "TM. TỔ CÔNG TÁC"; "": none)."""
    signer_title: str | None = None
    signer_name: str = ""


@dataclass(frozen=True)
class ReportOptions:
    """What to report and how. `period` is a string as `parse_period` accepts."""

    as_of: date
    period: str = "to-date"
    unit: str | None = None
    """Only this lead unit (exact code)."""
    unit_order: tuple[UnitKind, ...] = DEFAULT_UNIT_ORDER
    denominator: Denominator = Denominator.DONE
    fold: bool = False
    lang: Lang = "vi"
    title: str | None = None
    """Report title; ``None`` = the standard title in `lang`."""
    issuer: str | None = None
    """The governing body's line (e.g. "UBND TỈNH BÌNH ĐỊNH"); ``None`` = `form`'s."""
    include_empty: bool = False
    """List every unit of a kind in `unit_order`, also those without a task in scope."""
    basis: Basis = Basis.ASSIGNED
    """Which date of a task places it in the period (not used by ``open``)."""
    form: DocumentForm = DocumentForm()
    report_cutoff_day: int = 25
    """The monthly report cut-off (``alerts.report_cutoff_day``; `report_current` and
    `report_as_of` take it from the settings): the "unconfirmed" column counts open tasks and
    tasks completed after the last cut-off before `as_of` (`connector.rules.confirmation`)."""
    parsed_period: Period = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parsed_period", parse_period(self.period).resolved(self.as_of))
        try:
            object.__setattr__(self, "denominator", Denominator(self.denominator))
        except ValueError:
            valid = ", ".join(d.value for d in Denominator)
            raise option_problem("denominator", f"{self.denominator!r}; valid: {valid}") from None
        try:
            object.__setattr__(self, "basis", Basis(self.basis))
        except ValueError:
            valid = ", ".join(b.value for b in Basis)
            raise option_problem("--basis", f"{self.basis!r}; valid: {valid}") from None
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
        if not 1 <= self.report_cutoff_day <= 28:
            raise option_problem(
                "report_cutoff_day", f"{self.report_cutoff_day!r}; valid: a day from 1 to 28"
            )
        period = self.parsed_period
        if period.kind is PeriodKind.OPEN and self.basis is not Basis.ASSIGNED:
            raise option_problem(
                "--basis",
                f"{self.basis.value!r} does not apply to --period open, which lists the tasks "
                "open on the as-of date whatever their dates; use another period",
            )
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
        period: str = "to-date",
        unit: str | None = None,
        lang: str | None = None,
        denominator: str | None = None,
        fold: bool | None = None,
        include_empty: bool = False,
        issuer: str | None = None,
        basis: str | None = None,
        number: str | None = None,
    ) -> ReportOptions:
        """Options from `settings.report` (a `ReportSettings`), overridden by CLI values.

        A document setting left at its default (the Vietnamese standard text) prints the
        standard text in the report's language.
        """

        def own(name: str) -> str | None:
            value: str = getattr(report, name)
            return None if value == ReportSettings.model_fields[name].default else value

        recipients = tuple(report.recipients)
        default_recipients = tuple(ReportSettings.model_fields["recipients"].default)
        form = DocumentForm(
            governing_body=report.governing_body,
            issuing_body=own("issuing_body"),
            issuing_body_name=own("issuing_body_name"),
            number=report.number if number is None else number,
            symbol=report.symbol,
            place=report.place,
            recipients=None if recipients == default_recipients else recipients,
            signer_authority=report.signer_authority,
            signer_title=own("signer_title"),
            signer_name=report.signer_name,
        )
        return cls(
            as_of=as_of,
            period=period,
            unit=unit or None,
            unit_order=tuple(UnitKind(k) for k in report.unit_order),
            denominator=(denominator or report.denominator),  # type: ignore[arg-type]
            fold=report.fold if fold is None else fold,
            lang=(lang or report.lang),  # type: ignore[arg-type]
            title=own("title"),
            issuer=issuer,
            include_empty=include_empty,
            basis=(basis or Basis.ASSIGNED),  # type: ignore[arg-type]
            form=form,
        )


class Item(Protocol):
    """What a report is built from: a task judged as of the report's date, read as
    `connector.rules.judge.Judgement` holds it (a `Judgement` is one; the ledger's report reads
    the costly parts only of the tasks that need them: `connector.reports.build`)."""

    @property
    def task(self) -> ReportedTask: ...

    @property
    def classification(self) -> Classification: ...

    @property
    def suggestion(self) -> SuggestionLike | None: ...

    @property
    def kind(self) -> KindReading: ...

    @property
    def late_extensions(self) -> tuple[LateExtension, ...]: ...

    @property
    def recurring(self) -> RecurringObligation | None: ...


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
class OccurrenceCounts:
    """Occurrences of recurring obligations in the report's period, by verdict
    (`connector.rules.recurring`: ``HT_DUNG_HAN``, ``HT_QUA_HAN``, ``DTH_QUA_HAN``,
    ``DTH_TRONG_HAN``)."""

    on_time: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.on_time + self.late + self.overdue + self.pending


@dataclass(frozen=True)
class Counts:
    """One row of figures (see `connector.reports.build` for each column's rule)."""

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
    without_deadline_product: int = 0
    """Of `without_deadline`: tasks asking for a concrete work product."""
    without_deadline_routine: int = 0
    """Of `without_deadline`: routine, ongoing duties."""
    extended_after_overdue: int = 0
    """Tasks whose deadline was extended after it had passed."""
    recurring: int = 0
    """Recurring obligations with an occurrence in the period (counted apart: they may also
    be in the columns above by their own assignment date)."""
    occurrences: OccurrenceCounts = field(default_factory=OccurrenceCounts)
    """Their occurrences in the period, by verdict."""


@dataclass(frozen=True)
class UnitLine:
    """One unit's row."""

    code: str
    name: str
    kind: UnitKind | None
    counts: Counts
    source: str = ""
    """Over several sources (`Report.sources`): the source of a unit kept apart, ``""`` for a
    mapped unit (`connector.rules.unitmap`); ``""`` in a one-source report."""
    sources: tuple[str, ...] = ()
    """Over several sources: the sources whose tasks the row counts (empty in a one-source
    report)."""


@dataclass(frozen=True, slots=True)
class TaskRef:
    """Which task an annex line is about."""

    source_id: int
    sign_number: str
    subject: str
    unit_code: str
    unit_name: str
    doc_date: date | None
    assigned_on: date | None
    content: str = ""
    """The task's own directive text (nội dung chỉ đạo, ``steering_content``)."""
    progress: int | None = None
    """Percent done as the lead unit last reported it (``None``: never reported)."""
    source: str = ""
    """Over several sources: the task's source (its id is unique in that source only); ``""``
    in a one-source report."""
    unit_source: str = ""
    """Over several sources: the `UnitLine.source` of the row the task is counted in."""


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class StaleEntry:
    """Annex 3: an open task without deadline, idle more than 3 months."""

    task: TaskRef
    last_report_on: date | None
    idle_days: int


@dataclass(frozen=True, slots=True)
class MissingEntry:
    """Annex 4: a product assignment without a deadline, with the one its text suggests."""

    task: TaskRef
    status: StatusCode
    suggested_deadline: date | None
    suggested_phrase: str
    suggested_recurrence: str
    kind_words: tuple[str, ...] = ()
    """The words that make it a product task (empty: taken as one by default)."""


@dataclass(frozen=True, slots=True)
class ExtensionEntry:
    """Annex 5: a task whose deadline was extended after it had passed (the latest such
    extension in force)."""

    task: TaskRef
    status: StatusCode
    original_deadline: date | None
    old_deadline: date
    old_eff_due: date
    extended_on: date
    new_deadline: date | None
    days_overdue_when_extended: int
    extensions: int = 1
    """How many extensions in force were granted after the deadline had passed."""


@dataclass(frozen=True, slots=True)
class RecurringEntry:
    """Annex 6: one occurrence of a recurring obligation in the period, with its verdict."""

    task: TaskRef
    recurrence: str
    """The task's ISO 8601 period, e.g. ``P1M``."""
    period: str
    """The occurrence's period key (`connector.rules.recurring.period_key`): ``2022-03``,
    ``2022-Q1``."""
    period_start: date
    period_end: date
    period_unit: str
    """``M`` (months), ``W`` (a week) or ``D`` (a day)."""
    due: date
    eff_due: date
    status: StatusCode
    reported_on: date | None
    days_overdue: int


@dataclass(frozen=True)
class Report:
    """The Working Group's report (see the module docstring)."""

    options: ReportOptions
    title: str
    issuer: str
    """The governing body's line of the heading ("" when the settings give none)."""
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
    extended_after_overdue: tuple[ExtensionEntry, ...] = ()
    recurring: tuple[RecurringEntry, ...] = ()
    """Annex 6: the occurrences of recurring obligations in the period."""
    sources: tuple[str, ...] = ()
    """A report over several sources (``report --by unit``): their names; rows are mapped
    units (`connector.reports.rollup`). Empty: a one-source report, as before."""

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
    def basis(self) -> Basis:
        return self.options.basis

    @property
    def form(self) -> DocumentForm:
        return self.options.form

    @property
    def cancelled(self) -> int:
        return self.total.cancelled

    @property
    def confirmation_since(self) -> date:
        """The last report cut-off before the as-of date: the "unconfirmed" column counts open
        tasks and tasks completed after it (`connector.rules.confirmation`)."""
        return confirmation_since(self.as_of, self.options.report_cutoff_day)

    def period_label(self, lang: Lang | None = None) -> str:
        return self.period.label(lang or self.lang, self.as_of, self.basis)

    def denominator_text(self, lang: Lang | None = None) -> str:
        """The rate's rule in words, as printed under the table."""
        return denominator_text(self.denominator, self.fold, lang or self.lang)


def denominator_text(denominator: Denominator, fold: bool, lang: Lang) -> str:
    """The rule "Tỷ lệ đúng hạn = … / …" for `denominator` and `fold`, in words."""
    return label(f"rate_{denominator.value}" + ("_fold" if fold else ""), lang)
