"""Deadlines written in words: suggest a deadline from the text of an assignment.

Directives often state the deadline in the text instead of the structured field ("Sở Tài chính
chủ trì ... báo cáo UBND tỉnh trước ngày 15/4/2022"). `suggest_deadline` finds such phrases,
chooses the one that is the assigned unit's deadline and turns it into a local date, following
the Civil Code 2015:

* Art. 146: "đầu tháng" is the 1st, "giữa tháng" the 15th, "cuối tháng" the last day of the
  month; "giữa năm" is 30 June (so "6 tháng đầu năm" ends on 30 June), "cuối năm" 31 December.
* Art. 147: a period of N days / working days / weeks / months starts the day after its anchor
  (the date after "kể từ ngày" when one is written, else the document date given as `anchor`).
* Art. 148: a period in months ends on the same day number of its last month (or that month's
  last day). The move to the next working day when a deadline falls on a day off is *not* done
  here: the suggestion is the nominal deadline, `deadlines.effective_due` applies Art. 148.

Rules of reading (documented choices):

* The text is normalised to NFC first (NFD input works); matching ignores case *and
  diacritics*: "truoc ngay 15/3/2022", "trong quy II/2022", "cham nhat ngay ...", "trong 05
  ngay lam viec" read like their written forms. Where dropping diacritics merges words, text
  that has diacritics must spell the expected one ("tháng sáu" is not "tháng sau", "mới tháng"
  not "mỗi tháng", "Hàn" not "hạn"; see `connector.rules.phrase_layout`). `phrase` is the matched
  text as it stands in the NFC form of the input (original letter case kept).
* A date, month, quarter or half year written without a year takes the anchor's year, or the
  next year when the resulting deadline would fall before the anchor ("trước ngày 20/01" written
  on 10 March 2022 means 20 January 2023); "năm nay" / "năm sau" name the year. "Kể từ ngày
  10/3" (a start date) takes the anchor's year without rolling. "Tháng này / quý này / năm nay"
  refer to the anchor's period, "tháng tới / tháng sau" to the next one. "15/3/22" is 2022.
* "Trong / đến hết / chậm nhất trong" a month, quarter, half year or year ends on its last day;
  "trước" one ends the day *before* it starts ("trước tháng 6/2022" is 31/05, "trước quý
  III/2022" 30/06, "trước năm 2023" 31/12/2022). A list or range ends with its last member
  ("trong tháng 3 và tháng 4/2022", "Quý III, IV/2022", "từ tháng 4 đến tháng 12/2022", "từ ngày
  01/4/2022 đến ngày 31/12/2022"). "Trước ngày D" is D, as administrative usage reads it;
  an hour or weekday before the date changes nothing ("trước 17h00' thứ Sáu, ngày 18/3/2022").
* Deadline phrases introduced by a deadline word ("trước", "chậm nhất", "hạn chót", "thời hạn",
  "hạn ...:", "thời gian ...:", "trong", "đến hết", "gia hạn ... đến ngày", ...) are *strong*; a
  bare period that often only names what a report covers ("báo cáo quý I năm 2022", "sơ kết 6
  tháng đầu năm", "cuối năm 2022") is *weak*, used only when no strong phrase is left.
* Not deadlines, dropped before choosing: dates before the anchor (past events); phrases in a
  sentence that tells what was done ("đã tổ chức", "đã tiêm được"); phrases in the title of a
  cited document ("Kế hoạch số 45/KH-UBND ... về ... trong năm 2022"); cut-off dates of figures
  ("số liệu tính đến hết ngày ..."); periods counted from an event the text does not date ("03
  ngày làm việc trước ngày tổ chức Hội nghị", "sau khi kết thúc đợt kiểm tra", "kể từ ngày nhận
  được hồ sơ hợp lệ"); impossible dates ("31/02/2022").
* Choosing among the rest: first the phrase bound to the assigned unit's action
  (`phrase_layout.Role`): the lead unit's clause when `unit` is given, then clauses naming no
  other actor, then a superior's step ("để UBND tỉnh báo cáo Bộ ... trước ngày ...") or another
  unit's, and last the preamble citing another document ("Thực hiện Công văn số 12/BTC ... đề
  nghị báo cáo trước ngày 20/3/2022, ..."), used only when nothing else is left and then noted
  (`Note.CITED_DOCUMENT_DEADLINE`). Then the most specific phrase (a day before part of a month,
  before a month, quarter, half year, year: "trong tháng 12/2022 (trước ngày 20/12/2022)" is
  20/12); then reading order. Other candidates whose date neither equals nor falls within the
  chosen one's period (nor the reverse) are listed in `alternatives` and the suggestion carries
  `Note.CONFLICTING_DEADLINES`.
* "Kể từ ngày nhận được văn bản (này)" counts from the document date, as if received that day,
  and says so (`Note.RECEIPT_DATE_ASSUMED`); "kể từ ngày ký / ban hành" counts from it plainly.
* Recurrence ("định kỳ 03 tháng/lần", "hằng quý", "hàng tháng", "hằng năm", "hằng tuần") is
  reported as an ISO 8601 duration (P3M, P1M, P1Y, P1W, ...) from the first recurrence phrase in
  the text, and as a `Recurrence` with the due point in each period when the text gives it next
  to the recurrence: "hằng tháng trước ngày 20" / "trước ngày 20 hằng tháng" (P1M, due day 20),
  "hằng quý (trước ngày 15 của tháng cuối quý)" (P3M, month 3, day 15), "chậm nhất ngày 05 của
  tháng đầu quý sau" (month 1, day 5), "hằng năm (trước ngày 15/12)" (P1Y, month 12, day 15),
  "trước 15 giờ thứ Năm hằng tuần" (P1W, weekday 4). "Next to" means in the same sentence, not
  parted by words that start other work ("sau đó", "đồng thời", "riêng", "ngoài ra", "tiếp
  tục"; also "và", "nhưng" for a date with its month, which must then stand within 8 words). A
  date with its month is a due point of half-yearly or yearly work only ("báo cáo hằng tháng,
  hoàn thành đề án trước ngày 30/4" keeps 30/04 as a one-off deadline). A day without a month
  ("trước ngày 20") or a weekday is read only next to a recurrence. The deadline is then the
  first due date on or after the anchor, unless the text also sets a one-off deadline, which
  wins. A recurrence alone gives a suggestion without a deadline.
* Words that set no date ("thường xuyên", "khẩn trương", "kịp thời", "sớm", "trong thời gian
  tới") give no suggestion.
"""

from __future__ import annotations

import calendar as _gregorian
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum

from connector.clock import local_date
from connector.i18n import Lang, label
from connector.models import NormalisedTask
from connector.rules.calendar import MAX_YEAR, MIN_YEAR, WorkingCalendar
from connector.rules.deadlines import add_months
from connector.rules.phrase_layout import FoldedText, Layout, Role


class PhraseKind(StrEnum):
    """Which form of deadline phrase was recognised."""

    DATE = "date"  # trước ngày 15/4/2022
    DAY_OF_MONTH = "day_of_month"  # trước ngày 20 hằng tháng
    DAY_OF_WEEK = "day_of_week"  # trước 15 giờ thứ Năm hằng tuần
    MONTH = "month"  # trong tháng 3/2022
    PART_OF_MONTH = "part_of_month"  # cuối tháng 6
    QUARTER = "quarter"  # trong quý II/2022
    HALF_YEAR = "half_year"  # 6 tháng đầu năm
    YEAR = "year"  # trong năm 2022
    PART_OF_YEAR = "part_of_year"  # cuối năm 2022
    WORKING_DAYS = "working_days"  # trong 05 ngày làm việc kể từ ngày ...
    PERIOD = "period"  # trong vòng 10 ngày / 02 tuần / 03 tháng
    RECURRING = "recurring"  # định kỳ 03 tháng/lần, hằng quý (no deadline)


class Note(StrEnum):
    """Something the reader of a suggestion should know; `note_text` words it."""

    RECEIPT_DATE_ASSUMED = "receipt_date_assumed"
    CONFLICTING_DEADLINES = "conflicting_deadlines"
    CITED_DOCUMENT_DEADLINE = "cited_document_deadline"


def note_text(note: Note, lang: Lang = "vi") -> str:
    """The note in words, Vietnamese by default."""
    return label(f"phrase_note_{note.value}", lang)


_PERIOD_RE = re.compile(r"P(\d+)([DWMY])")


@dataclass(frozen=True)
class Recurrence:
    """Periodic work: the period and, when the text says it, when in each period it is due.

    `period` is an ISO 8601 duration ("P1M", "P3M", "P6M", "P1Y", "P1W"); periods of months
    are calendar-aligned (months, quarters from January, halves, years), weeks run Monday to
    Sunday. `due_month` is the month within the period (1 = its first month; 3 = a quarter's
    last), `due_day` the day of that month (a shorter month's last day when it has no such day),
    `due_weekday` the ISO weekday (1 = Monday) for weekly work; None when the text does not say
    (then each period is due by its last day). `due_phrase` is the text the due point was read
    from ("" when none).
    """

    period: str
    due_month: int | None = None
    due_day: int | None = None
    due_weekday: int | None = None
    due_phrase: str = ""

    @property
    def months(self) -> int | None:
        """The period in months (P3M: 3, P1Y: 12); None for days and weeks."""
        match = _PERIOD_RE.fullmatch(self.period)
        if match is None or match.group(2) in "DW":
            return None
        return int(match.group(1)) * (12 if match.group(2) == "Y" else 1)

    def due_dates(self, start: date, end: date) -> list[date]:
        """The due dates from `start` to `end` (both included), oldest first.

        Empty when the period cannot be laid on the calendar (months not dividing a year,
        weeks or days other than one) or the due point is only partly known (a day without
        the month of a multi-month period).
        """
        match = _PERIOD_RE.fullmatch(self.period)
        if match is None or start > end:
            return []
        n, unit = int(match.group(1)), match.group(2)
        if unit in "DW":
            if n != 1:
                return []
            step = timedelta(days=1 if unit == "D" else 7)
            first = start
            if unit == "W":
                first += timedelta(days=((self.due_weekday or 7) - start.isoweekday()) % 7)
            if first > end:
                return []
            return [first + k * step for k in range((end - first) // step + 1)]
        months = self.months
        if months is None or 12 % months:
            return []
        if self.due_day is not None and self.due_month is None and months != 1:
            return []
        found: list[date] = []
        period_start = date(start.year, (start.month - 1) // months * months + 1, 1)
        while period_start <= end:
            due = self._due_in(period_start, months)
            if start <= due <= end:
                found.append(due)
            period_start = add_months(period_start, months)
        return found

    def first_due(self, on_or_after: date) -> date | None:
        """The first due date on or after `on_or_after`, or None (see `due_dates`)."""
        span = timedelta(days=8) if self.months is None else timedelta(days=31 * (self.months + 1))
        found = self.due_dates(on_or_after, on_or_after + span)
        return found[0] if found else None

    def _due_in(self, period_start: date, months: int) -> date:
        month_start = add_months(period_start, (self.due_month or months) - 1)
        last = _gregorian.monthrange(month_start.year, month_start.month)[1]
        return month_start.replace(day=last if self.due_day is None else min(self.due_day, last))


@dataclass(frozen=True)
class Alternative:
    """Another deadline the text states, which the suggestion did not take."""

    deadline: date
    phrase: str
    kind: PhraseKind


@dataclass(frozen=True)
class Suggestion:
    """A deadline read from text.

    `deadline` is the nominal date (None for a recurrence alone), `phrase` the exact text
    matched (NFC), `recurrence` an ISO 8601 duration such as "P3M" when the text asks for
    periodic work, `recurrence_phrase` the text that said so and `recurrence_rule` the same
    with the due point in each period. `alternatives` are other dates the text states that
    conflict with the chosen one; `notes` say what was assumed (`note_text` words them).
    """

    deadline: date | None
    phrase: str
    recurrence: str | None
    kind: PhraseKind
    recurrence_phrase: str = ""
    recurrence_rule: Recurrence | None = None
    alternatives: tuple[Alternative, ...] = ()
    notes: tuple[Note, ...] = ()


# -- building blocks (patterns are matched on folded text: no diacritics) --------------------

_FLAGS = re.IGNORECASE

_UNIT_WORDS: dict[str, int] = {
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "lam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}
_WORD_NUMBER = (
    r"(?:(?:(?:hai|ba|bon|nam|sau|bay|tam|chin)\s+muoi|muoi)"
    r"(?:\s+(?:mot|hai|ba|bon|tu|lam|nam|sau|bay|tam|chin)(?!\w))?"
    r"|mot|hai|ba|bon|nam|sau|bay|tam|chin)"
)
# "05", "05 (năm)", "năm", "mười lăm"
_NUM = rf"(?P<n>\d{{1,3}}|{_WORD_NUMBER})(?:\s*\([^()]{{1,30}}\))?"
_TIME = r"\d{1,2}\s*(?:gio|h|g)(?:\s*\d{1,2})?(?:\s*(?:phut|'))?(?:\s+(?:sang|chieu|trua|toi))?"
_WEEKDAY_ANY = r"(?:thu\s+(?:hai|ba|tu|nam|sau|bay|[2-7])|chu\s+nhat)(?!\w)"
_WEEKDAY = r"(?:(?P<thu>thu)\s+(?P<wd>hai|ba|tu|nam|sau|bay|[2-7])|(?P<cn>chu\s+nhat))(?!\w)"
_YEAR_TAIL = (
    r"(?:\s*[/\-.]\s*(?P<y>\d{4})"
    r"|\s*,?\s*nam\s+(?:(?P<y2>\d{4})|(?P<ynay>nay)|(?P<ysau>sau|toi))(?!\w))?"
)
_LATEST = r"(?:cham|muon)\s+nhat"
_START = r"(?<!\w)"
# Labels of a deadline: "Thời hạn hoàn thành:", "Hạn chót nhận hồ sơ ... là", "Hạn nộp báo
# cáo:", "Thời gian thực hiện:".
_LABEL = (
    r"(?:(?:thoi\s+han|han\s+chot)(?:\s+(?!ngay\b|la\b|vao\b|truoc\b)[^\W\d_]+){0,8}?(?:\s*:)?"
    r"(?:\s+(?:la|vao))?"
    r"|(?<!gia\s)(?<!qua\s)(?<!dung\s)(?<!het\s)(?<!thoi\s)(?<!trong\s)(?P<han>han)"
    r"(?!\s+(?:che|muc|ngach|chot)(?!\w))(?:\s+[^\W\d_]+){1,8}?\s*(?::|\s+la(?!\w))"
    r"|thoi\s+gian(?:\s+[^\W\d_]+){0,3}?\s*:)"
)
_GUARDS: dict[str, frozenset[str]] = {
    "rel": frozenset({"này", "nay", "tới", "sau", "tiếp theo"}),
    "wsau": frozenset({"sau"}),
    "qsau": frozenset({"sau"}),
    "ysau": frozenset({"sau", "tới"}),
    "vsau": frozenset({"sau", "tới"}),
    "every": frozenset({"hằng", "hàng", "mỗi"}),
    "han": frozenset({"hạn"}),
    "thu": frozenset({"thứ"}),
    "wd": frozenset({"hai", "ba", "tư", "năm", "sáu", "bảy"}),
    "six": frozenset({"sáu"}),
}


def _date_re(tag: str) -> str:
    """A written date: 15/4/2022, 20.7.2020, 15-4-2022, 15/3/22, 20/12, 25 tháng 4 năm 2021."""
    numeric = (
        rf"(?P<d{tag}>\d{{1,2}})\s*(?P<sep{tag}>[/.\-])\s*(?P<m{tag}>\d{{1,2}})"
        rf"(?:\s*(?P=sep{tag})\s*(?P<y{tag}>\d{{4}}|\d{{2}}))?(?!\s*[/\-]\s*\d)(?!\.\d)(?!\d)"
    )
    verbal = (
        rf"(?P<vd{tag}>\d{{1,2}})\s+thang\s+(?P<vm{tag}>\d{{1,2}})(?!\d)"
        rf"(?:\s*[/\-]\s*(?P<vy{tag}>\d{{4}})|\s*,?\s*nam\s+(?:(?P<vy2{tag}>\d{{4}})"
        rf"|(?P<vnay{tag}>nay)|(?P<vsau{tag}>sau|toi))(?!\w))?(?!\d)"
    )
    return rf"(?:{numeric}|{verbal})"


def _number(text: str) -> int:
    """A number in digits or Vietnamese words, folded (muoi lam = 15, hai muoi = 20)."""
    words = text.strip().lower().split()
    if words[0].isdigit():
        return int(words[0])
    if words[0] == "muoi":
        value, rest = 10, words[1:]
    elif len(words) > 1 and words[1] == "muoi":
        value, rest = _UNIT_WORDS[words[0]] * 10, words[2:]
    else:
        value, rest = 0, words
    if rest:
        value += _UNIT_WORDS[rest[0]]
    return value


def _in_range(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


def _make_date(year: int, month: int, day: int) -> date | None:
    if not _in_range(year):
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _month_end(year: int, month: int) -> date | None:
    if not 1 <= month <= 12 or not _in_range(year):
        return None
    return date(year, month, _gregorian.monthrange(year, month)[1])


def _month_start(year: int, month: int) -> date | None:
    return _make_date(year, month, 1) if 1 <= month <= 12 else None


def _day_before(day: date | None) -> date | None:
    if day is None or not _in_range((day - timedelta(days=1)).year):
        return None
    return day - timedelta(days=1)


def _roll(build: Callable[[int], date | None], year: int | None, anchor: date) -> date | None:
    """`build(year)` for a stated year; without one, the anchor's year or, if that is already
    past (before the anchor) or impossible, the next year."""
    if year is not None:
        return build(year)
    this_year = build(anchor.year)
    if this_year is not None and this_year >= anchor:
        return this_year
    return build(anchor.year + 1)


def _group(match: re.Match[str], *names: str) -> str | None:
    for name in names:
        value = match.group(name) if name in match.re.groupindex else None
        if value is not None:
            return value
    return None


def _stated_year(match: re.Match[str], anchor: date, tag: str = "") -> int | None:
    """The year a phrase writes: 2022, 22, "năm nay", "năm sau"; None when it writes none."""
    digits = _group(match, f"y{tag}", f"y2{tag}", f"vy{tag}", f"vy2{tag}")
    if digits is not None:
        return int(digits) + (2000 if len(digits) == 2 else 0)
    if _group(match, f"ynay{tag}", f"vnay{tag}") is not None:
        return anchor.year
    if _group(match, f"ysau{tag}", f"vsau{tag}") is not None:
        return anchor.year + 1
    return None


def _next_month(anchor: date, months: int) -> tuple[int, int]:
    first = add_months(anchor.replace(day=1), months)
    return first.year, first.month


def _quarter_number(token: str) -> int:
    token = token.lower()
    return int(token) if token.isdigit() else {"i": 1, "ii": 2, "iii": 3, "iv": 4}[token]


# -- readings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Due:
    """What a phrase says about the due point of periodic work."""

    day: int | None = None
    month: int | None = None  # the calendar month of a written date
    place: str = ""  # month within the period: "first", "second", "last", "next" or ""
    weekday: int | None = None
    dated: bool = False  # the phrase writes a year
    needs_recurrence: bool = False  # a day or weekday alone: read only next to a recurrence


@dataclass(frozen=True)
class _Reading:
    deadline: date | None
    low: date | None  # the earliest date the phrase allows (its period's start)
    notes: tuple[Note, ...] = ()
    due: _Due | None = None


@dataclass(frozen=True)
class _Ctx:
    text: FoldedText
    anchor: date
    calendar: WorkingCalendar


Handler = Callable[[re.Match[str], _Ctx], _Reading | None]


def _written_date(match: re.Match[str], tag: str, anchor: date, *, roll: bool) -> date | None:
    day = _group(match, f"d{tag}", f"vd{tag}")
    month = _group(match, f"m{tag}", f"vm{tag}")
    if day is None or month is None:
        return None
    d, m = int(day), int(month)
    year = _stated_year(match, anchor, tag)
    if roll:
        return _roll(lambda y: _make_date(y, m, d), year, anchor)
    return _make_date(year if year is not None else anchor.year, m, d)


def _on_date(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    deadline = _written_date(match, "", ctx.anchor, roll=True)
    if deadline is None:
        return None
    due = _Due(
        day=deadline.day,
        month=deadline.month,
        dated=_stated_year(match, ctx.anchor) is not None,
    )
    return _Reading(deadline, deadline, due=due)


# The month within the period: "tháng cuối quý", "tháng đầu quý (sau)", "tháng thứ hai của quý".
_PLACES = {"cuoi": "last", "dau": "first", "giua": "second", "thu": "second"}


def _day_of_month(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    day = int(match.group("dom"))
    if not 1 <= day <= 31:
        return None
    if match.group("every") is None:
        qual = (match.group("qual") or "").lower().split()
        if match.group("qsau") is not None or qual[:1] in (["tiep"], ["ke"]):
            place = "next"
        else:
            place = _PLACES.get(qual[0], "") if qual else ""
        return _Reading(None, None, due=_Due(day=day, place=place, needs_recurrence=True))
    for months in (0, 1):
        year, month = _next_month(ctx.anchor, months)
        end = _month_end(year, month)
        if end is None:
            return None
        candidate = end.replace(day=min(day, end.day))
        if candidate >= ctx.anchor:
            return _Reading(candidate, candidate, due=_Due(day=day))
    return None


_WEEKDAYS = {"hai": 1, "ba": 2, "tu": 3, "nam": 4, "sau": 5, "bay": 6}


def _day_of_week(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    if match.group("cn") is not None:
        weekday = 7
    else:
        token = match.group("wd").lower()
        weekday = int(token) - 1 if token.isdigit() else _WEEKDAYS[token]
    if match.group("every") is None:
        return _Reading(None, None, due=_Due(weekday=weekday, needs_recurrence=True))
    deadline = ctx.anchor + timedelta(days=(weekday - ctx.anchor.isoweekday()) % 7)
    return _Reading(deadline, deadline, due=_Due(weekday=weekday))


def _relative_months(relative: str) -> int:
    """ "này" (folded "nay") is the anchor's period; "tới", "sau", "tiếp theo" the next one."""
    return 0 if relative.lower() == "nay" else 1


def _months(ctx: _Ctx, year: int | None, first: int, last: int, *, before: bool) -> _Reading:
    """The period of months `first`..`last` of the stated `year` (rolled forward past the
    anchor): it ends with `last`'s last day, or, `before` it, the day before `first` begins."""
    if before:
        deadline = _roll(lambda y: _day_before(_month_start(y, first)), year, ctx.anchor)
        return _Reading(deadline, ctx.anchor)
    deadline = _roll(lambda y: _month_end(y, last), year, ctx.anchor)
    low = _month_start(deadline.year, first) if deadline else None
    return _Reading(deadline, low)


def _month(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    relative = _group(match, "rel")
    before = _group(match, "bef") is not None
    if relative is not None:
        year, month = _next_month(ctx.anchor, _relative_months(relative))
        if before:
            return _Reading(_day_before(_month_start(year, month)), ctx.anchor)
        return _Reading(_month_end(year, month), _month_start(year, month))
    first, last = int(match.group("m")), int(_group(match, "ml", "m") or 0)
    if not (1 <= first <= last <= 12):
        return None
    return _months(ctx, _stated_year(match, ctx.anchor), first, last, before=before)


def _part_of_month(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    part = match.group("part").lower()

    def pick(year: int, month: int) -> date | None:
        end = _month_end(year, month)
        if end is None:
            return None
        return end.replace(day={"dau": 1, "giua": 15}.get(part, end.day))

    relative = match.group("rel")
    if relative is not None:
        deadline = pick(*_next_month(ctx.anchor, _relative_months(relative)))
    else:
        m = int(match.group("m"))
        deadline = _roll(lambda y: pick(y, m), _stated_year(match, ctx.anchor), ctx.anchor)
    return _Reading(deadline, deadline)


def _quarter(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    relative = match.group("rel")
    before = match.group("bef") is not None
    if relative is not None:
        this_quarter = ctx.anchor.replace(day=1, month=(ctx.anchor.month - 1) // 3 * 3 + 1)
        start = add_months(this_quarter, 0 if relative.lower() == "nay" else 3)
        if before:
            return _Reading(_day_before(start), ctx.anchor)
        return _Reading(_month_end(*_next_month(start, 2)), start)
    first = _quarter_number(match.group("q"))
    last = _quarter_number(_group(match, "ql", "q") or "1")
    if last < first:
        return None
    return _months(ctx, _stated_year(match, ctx.anchor), 3 * first - 2, 3 * last, before=before)


def _half_year(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    first_half = match.group("part").lower() == "dau"
    start_month, end_month = (1, 6) if first_half else (7, 12)
    year = ctx.anchor.year if match.group("nay") is not None else _stated_year(match, ctx.anchor)
    return _months(ctx, year, start_month, end_month, before=match.group("bef") is not None)


def _year(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    year = ctx.anchor.year if match.group("nay") is not None else int(match.group("y"))
    if match.group("bef") is not None:
        return _Reading(_day_before(_month_start(year, 1)), ctx.anchor)
    return _Reading(_month_end(year, 12), _month_start(year, 1))


def _part_of_year(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    part = match.group("part").lower()

    def pick(year: int) -> date | None:
        if part == "dau":
            return _make_date(year, 1, 1)
        return _month_end(year, 6 if part == "giua" else 12)

    relative = match.group("rel")
    if relative is not None:
        deadline = pick(ctx.anchor.year if relative.lower() == "nay" else ctx.anchor.year + 1)
    elif match.group("y") is None and match.group("mk") is None:
        return None  # a bare "đầu năm" / "cuối năm" names a time, not a deadline
    else:
        y = match.group("y")
        deadline = _roll(pick, int(y) if y else None, ctx.anchor)
    return _Reading(deadline, deadline)


# What a period is counted from when no date follows "kể từ ngày".
_SIGNED = re.compile(r"(?:ky(?!\s+ket)|ban\s+hanh)(?!\w)", _FLAGS)
_RECEIVED = re.compile(
    r"nhan\s+duoc\s+(?:van\s+ban|cong\s+van|ke\s+hoach|quyet\s+dinh|thong\s+bao|chi\s+thi"
    r"|cong\s+dien|chuong\s+trinh)(?:\s+nay)?"
    r"(?:\s*$|\s*[)\]]|(?=\s+(?!de\s+nghi|cua|bao\s+cao|yeu\s+cau|tra\s+loi|phan\s+hoi)\w))",
    _FLAGS,
)


def _count_start(match: re.Match[str], ctx: _Ctx) -> tuple[date, tuple[Note, ...]] | None:
    """The anchor a period counts from and what was assumed; None when the text does not date
    it (an event: "trước ngày tổ chức", "sau khi kết thúc", "kể từ ngày nhận được hồ sơ")."""
    if _group(match, "dfrom", "vdfrom") is not None:
        start = _written_date(match, "from", ctx.anchor, roll=False)
        return (start, ()) if start is not None else None
    if match.group("event") is not None:
        return None
    tail = match.group("tailw")
    if tail is not None:
        if _SIGNED.match(tail):
            return ctx.anchor, ()
        if _RECEIVED.match(tail):
            return ctx.anchor, (Note.RECEIPT_DATE_ASSUMED,)
        return None
    if match.group("wsau") is not None:
        return None  # a bare "sau 10 ngày" counts from an unnamed event
    return ctx.anchor, ()


def _working_days(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    counted = _count_start(match, ctx)
    n = _number(match.group("n"))
    if counted is None or n == 0:
        return None
    start, notes = counted
    try:
        deadline = ctx.calendar.add_working_days(start, n)
    except ValueError:  # beyond the calendar's years
        return None
    return _Reading(deadline, deadline, notes)


def _period(match: re.Match[str], ctx: _Ctx) -> _Reading | None:
    counted = _count_start(match, ctx)
    n = _number(match.group("n"))
    if counted is None or n == 0:
        return None
    start, notes = counted
    unit = match.group("unit").lower()
    if unit == "thang":
        end = add_months(start, n)
    else:
        end = start + timedelta(days=n * (7 if unit == "tuan" else 1))
    return _Reading(end, end, notes) if _in_range(end.year) else None


# -- rules -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Needs:
    """What a text must hold for a pattern to match in it at all (`_Words.allow`): a digit
    (``\\d``, as the pattern reads it), and one of `words` (words the pattern spells out in
    every way it can match, in lower case). Most directives hold none of the words of most
    patterns: testing for them spares a scan of the text by each pattern that cannot match."""

    words: tuple[str, ...] = ()
    digit: bool = False


@dataclass(frozen=True)
class _Rule:
    kind: PhraseKind
    pattern: re.Pattern[str]
    handle: Handler
    weak_unless: tuple[str, ...] = ()  # group names: weak when none of them matched
    needs: _Needs = _Needs()


def _rule(
    kind: PhraseKind, needs: _Needs, pattern: str, handle: Handler, *weak_unless: str
) -> _Rule:
    return _Rule(kind, re.compile(_START + pattern, _FLAGS), handle, weak_unless, needs)


_DIGIT = re.compile(r"\d")
_CASE_TWINS = re.compile("[\u0130\u0131\u017f\u212a]")
"""The letters outside ASCII that an ASCII letter of a pattern matches when case is ignored
(İ ı ſ K): a text holding one may hold a word `str.lower` does not spell as the pattern."""


@dataclass(frozen=True)
class _Words:
    """What a folded text holds of the words patterns need (`_Needs`)."""

    lower: str
    digit: bool
    exact: bool  # False: a letter case can hide a word (`_CASE_TWINS`): allow every pattern

    @classmethod
    def of(cls, folded: str) -> _Words:
        exact = _CASE_TWINS.search(folded) is None
        return cls(folded.lower(), _DIGIT.search(folded) is not None, exact)

    def allow(self, needs: _Needs) -> bool:
        """Whether a pattern with `needs` can match the text (True when it cannot be told)."""
        if not self.exact:
            return True
        if needs.digit and not self.digit:
            return False
        return not needs.words or any(word in self.lower for word in needs.words)


# trước ngày 15/4/2022; chậm nhất là ngày ...; hạn chót nộp báo cáo: 17h00 ngày ...; trong ngày
_DATE_MARK = (
    r"(?:truoc"
    rf"|{_LATEST}(?:\s+(?:la|vao|truoc|den\s+het|den|trong))?"
    rf"|{_LABEL}(?:\s+truoc)?"
    r"|(?:den|toi)\s+het"
    r"|trong(?=\s+ngay\s+(?:" + _WEEKDAY_ANY + r"\s*,?\s*)?\d))"
)
_PERIOD_MARK = (
    rf"(?:trong(?:\s+suot)?|vao|{_LATEST}(?:\s+(?:la|trong|vao|den\s+het))?"
    rf"|truoc\s+khi\s+(?:ket\s+thuc|het)|(?:den|toi)\s+het|{_LABEL})"
)
_MONTHS = (
    r"(?P<m>\d{1,2})(?!\d)(?:\s*(?:,|-|va|den|toi|den\s+het)\s*(?:thang\s+)?(?P<ml>\d{1,2})(?!\d))*"
)
_QUARTER_NUMBER = r"(?:iv|iii|ii|i|0?[1-4])(?!\w)"
_QUARTERS = (
    rf"(?P<q>{_QUARTER_NUMBER})(?:\s*(?:,|-|va|den)\s*(?:qu[yi]\s+)?(?P<ql>{_QUARTER_NUMBER}))*"
)
_RELATIVE = r"(?P<rel>nay|toi|sau|tiep\s+theo)(?!\w)"
_FROM = rf"(?:\s*,?\s*(?:ke|tinh)\s+tu\s+(?:ngay\s+)?{_date_re('from')})?"
_TAIL = (
    r"(?=(?P<tail>\s*,?\s*(?:(?:ke|tinh)\s+tu|bat\s+dau\s+tu)\s+(?:ngay|khi|thoi\s+diem)\s+"
    r"(?P<tailw>[^\d\s,;.][^,;.\n]{0,80}))?)"
    r"(?=(?P<event>\s*,?\s*(?:truoc|sau)\s+(?:ngay|khi|thoi\s+diem)(?!\w))?)"
)
_WITHIN = (
    r"(?:trong(?:\s+(?:vong|thoi\s+han|thoi\s+gian))?"
    rf"|{_LATEST}(?:\s+(?:la|sau|trong))?|(?P<wsau>sau)|khong\s+qua|toi\s+da|{_LABEL})"
)
_LOOSE_DATE = r"\d{1,2}\s*[/.\-]\s*\d{1,2}(?:\s*[/.\-]\s*\d{2,4})?"

_RULES: tuple[_Rule, ...] = (
    _rule(
        PhraseKind.DATE,
        _Needs(digit=True),
        rf"{_DATE_MARK}(?:\s+{_TIME})?(?:\s*,?\s*{_WEEKDAY_ANY})?(?:\s*,?\s*ngay)?\s*:?\s*"
        rf"(?:{_WEEKDAY_ANY}\s*,?\s*)?{_date_re('')}",
        _on_date,
    ),
    # từ ngày 01/4/2022 đến ngày 31/12/2022; từ nay đến ngày 30/6/2022
    _rule(
        PhraseKind.DATE,
        _Needs(digit=True),
        rf"tu\s+(?:ngay\s+{_LOOSE_DATE}|{_LOOSE_DATE}|nay)\s*(?:den|toi|-)\s*(?:het\s+)?"
        rf"(?:ngay\s+)?{_date_re('')}",
        _on_date,
    ),
    # gia hạn thời gian thực hiện đến ngày 30/6/2022
    _rule(
        PhraseKind.DATE,
        _Needs(digit=True),
        r"(?:gia\s+han|keo\s+dai)(?:\s+[^\W\d_]+){0,8}?\s+(?:den|toi)\s+(?:het\s+)?"
        rf"(?:ngay\s+)?{_date_re('')}",
        _on_date,
    ),
    _rule(
        PhraseKind.DAY_OF_MONTH,
        _Needs(("ngay",), digit=True),
        rf"(?:truoc|{_LATEST}(?:\s+(?:la|vao|truoc))?|vao|han\s+chot(?:\s+la)?)(?:\s+{_TIME})?"
        r"\s+ngay\s+(?P<dom>\d{1,2})(?!\d)(?!\s*[/.\-]\s*\d)(?!\s+thang\s+\d)"
        r"(?:\s+(?:cua\s+)?(?:(?P<every>hang|moi)\s+thang(?!\w)"
        r"|thang\s+(?:(?P<qual>cuoi\s+qu[yi]|dau\s+(?:tien\s+(?:cua\s+)?)?qu[yi]"
        r"(?:\s+(?:sau|tiep\s+theo|ke\s+tiep))?|giua\s+qu[yi]|thu\s+(?:hai|2)\s+(?:cua\s+)?qu[yi]"
        r"|tiep\s+theo|ke\s+tiep)|(?P<qsau>sau))(?!\w)))?",
        _day_of_month,
    ),
    _rule(
        PhraseKind.DAY_OF_WEEK,
        _Needs(("thu", "chu")),
        rf"(?:truoc|{_LATEST}(?:\s+(?:la|vao))?|vao)(?:\s+{_TIME})?"
        rf"(?:\s+(?:buoi\s+)?(?:sang|chieu|trua|toi))?\s+(?:ngay\s+)?{_WEEKDAY}"
        r"(?:\s+(?P<every>hang|moi)\s+tuan(?!\w))?(?!\s*,?\s*(?:ngay\s+)?\d)",
        _day_of_week,
    ),
    _rule(
        PhraseKind.MONTH,
        _Needs(("thang",)),
        rf"(?:(?P<bef>truoc)|{_PERIOD_MARK})\s+(?:cac\s+)?thang\s+"
        rf"(?:{_MONTHS}{_YEAR_TAIL}(?![\d/])|{_RELATIVE})",
        _month,
    ),
    # từ tháng 4 đến tháng 12/2022; từ nay đến tháng 6/2022
    _rule(
        PhraseKind.MONTH,
        _Needs(("thang",)),
        r"(?:tu\s+thang\s+\d{1,2}(?:\s*/\s*\d{4})?|tu\s+nay)\s*(?:den|toi|-)\s*(?:het\s+)?"
        rf"thang\s+(?P<m>\d{{1,2}})(?!\d){_YEAR_TAIL}(?![\d/])",
        _month,
    ),
    _rule(
        PhraseKind.PART_OF_MONTH,
        _Needs(("thang",)),
        rf"(?:(?:truoc|trong|vao|{_LATEST}(?:\s+(?:la|vao|truoc))?|{_LABEL})\s+)?"
        rf"(?P<part>dau|giua|cuoi)\s+thang\s+"
        rf"(?:(?P<m>\d{{1,2}}){_YEAR_TAIL}(?![\d/])|(?P<rel>nay|toi|sau)(?!\w))",
        _part_of_month,
    ),
    _rule(
        PhraseKind.QUARTER,
        _Needs(("qu",)),
        rf"(?:(?P<bef>truoc)\s+|(?P<mk>{_PERIOD_MARK})\s+)?qu[yi]\s+"
        rf"(?:{_QUARTERS}{_YEAR_TAIL}(?![\d/])|{_RELATIVE})",
        _quarter,
        "mk",
        "bef",
    ),
    _rule(
        PhraseKind.HALF_YEAR,
        _Needs(("thang",)),
        rf"(?:(?P<bef>truoc)\s+|(?P<mk>{_PERIOD_MARK})\s+)?(?:0?6|(?P<six>sau))\s+thang\s+"
        r"(?P<part>dau|cuoi)\s+nam"
        r"(?:\s+(?P<y>\d{4})|\s*/\s*(?P<y2>\d{4})|\s+(?P<nay>nay)(?!\w))?(?!\d)",
        _half_year,
        "mk",
        "bef",
    ),
    _rule(
        PhraseKind.YEAR,
        _Needs(("nam",)),
        rf"(?:(?P<bef>truoc)|{_PERIOD_MARK})\s+nam\s+(?:(?P<y>\d{{4}})(?!\d)|(?P<nay>nay)(?!\w))",
        _year,
    ),
    _rule(
        PhraseKind.PART_OF_YEAR,
        _Needs(("nam",)),
        rf"(?<!tu\s)(?:(?P<mk>truoc|trong|vao|{_LATEST}(?:\s+(?:la|vao|truoc))?)\s+)?"
        r"(?P<part>dau|giua|cuoi)\s+nam"
        r"(?:\s+(?P<y>\d{4})(?!\d)|\s+(?P<rel>nay|sau|toi)(?!\w))?(?!\s*/?\s*\d)",
        _part_of_year,
        "mk",
    ),
    _rule(
        PhraseKind.WORKING_DAYS,
        _Needs(("ngay",)),
        rf"{_WITHIN}\s+{_NUM}\s+ngay\s+lam\s+viec{_FROM}{_TAIL}",
        _working_days,
    ),
    _rule(
        PhraseKind.PERIOD,
        _Needs(("ngay", "tuan", "thang")),
        rf"{_WITHIN}\s+{_NUM}\s+(?P<unit>ngay|tuan|thang)(?!\w)"
        r"(?!\s+lam\s+viec)(?!\s*/)(?!\s+\d)(?!\s+(?:dau|giua|cuoi)\s+(?:thang|nam|qu[yi]))"
        rf"{_FROM}{_TAIL}",
        _period,
    ),
)

_SPECIFICITY: dict[PhraseKind, int] = {
    PhraseKind.DATE: 0,
    PhraseKind.DAY_OF_MONTH: 0,
    PhraseKind.DAY_OF_WEEK: 0,
    PhraseKind.WORKING_DAYS: 0,
    PhraseKind.PERIOD: 0,
    PhraseKind.PART_OF_MONTH: 1,
    PhraseKind.MONTH: 2,
    PhraseKind.QUARTER: 3,
    PhraseKind.HALF_YEAR: 4,
    PhraseKind.YEAR: 5,
    PhraseKind.PART_OF_YEAR: 5,
}


# -- recurrence ------------------------------------------------------------------------------

_PERIOD_UNITS = {"ngay": "D", "tuan": "W", "thang": "M", "quy": "M", "qui": "M", "nam": "Y"}
_RECURRENCE_PATTERNS: tuple[tuple[re.Pattern[str], _Needs], ...] = tuple(
    (re.compile(_START + pattern, _FLAGS), needs)
    for pattern, needs in (
        # định kỳ 03 tháng/lần; 6 tháng một lần; 01 năm/lần
        (
            rf"(?:dinh\s+k[yi]\s+)?{_NUM}\s+(?P<unit>ngay|tuan|thang|qu[yi]|nam)"
            r"\s*(?:/\s*(?:0?1\s+|mot\s+)?lan|(?:0?1|mot)\s+lan)(?!\w)",
            _Needs(("lan",)),
        ),
        # định kỳ 6 tháng
        (rf"dinh\s+k[yi]\s+{_NUM}\s+(?P<unit>tuan|thang|qu[yi]|nam)(?!\w)", _Needs(("dinh",))),
        # (định kỳ) hằng quý / hàng tháng / mỗi năm
        (
            r"(?:dinh\s+k[yi]\s+)?(?P<every>hang|moi)\s+(?P<unit>ngay|tuan|thang|qu[yi]|nam)(?!\w)",
            _Needs(("hang", "moi")),
        ),
        # định kỳ tháng / quý / năm
        (r"dinh\s+k[yi]\s+(?P<unit>tuan|thang|qu[yi]|nam)(?!\w)", _Needs(("dinh",))),
        # định kỳ (trước ngày 25) của tháng cuối quý: quarterly without the word "hằng quý"
        (
            r"dinh\s+k[yi](?=[^.;\n]{0,60}?\sthang\s+(?:cuoi|dau|giua|thu\s+hai\s+cua)\s+qu[yi]"
            r"(?!\w))(?P<quarterly>)",
            _Needs(("dinh",)),
        ),
    )
)


@dataclass(frozen=True)
class _Rec:
    start: int
    end: int
    period: str


def _recurrence(match: re.Match[str]) -> str | None:
    if "quarterly" in match.re.groupindex:
        return "P3M"
    unit = match.group("unit").lower()
    n = _number(match.group("n")) if "n" in match.re.groupindex else 1
    if n == 0:
        return None
    if unit in ("quy", "qui"):
        n *= 3
    return f"P{n}{_PERIOD_UNITS[unit]}"


def _guarded(match: re.Match[str], text: FoldedText) -> bool:
    """Whether every diacritic-sensitive word of the match is written as it must be."""
    for name in match.re.groupindex:
        allowed = _GUARDS.get(name.removesuffix("from"))
        if (
            allowed is not None
            and match.group(name) is not None
            and not text.written_as(match.start(name), match.end(name), allowed)
        ):
            return False
    return True


def _recurrences(text: FoldedText, words: _Words | None = None) -> list[_Rec]:
    found: list[_Rec] = []
    for pattern, needs in _RECURRENCE_PATTERNS:
        if words is not None and not words.allow(needs):
            continue
        for match in pattern.finditer(text.folded):
            period = _recurrence(match) if _guarded(match, text) else None
            if period is not None:
                found.append(_Rec(match.start(), match.end(), period))
    found.sort(key=lambda r: (r.start, r.start - r.end))
    return [
        r
        for r in found
        if not any(o is not r and o.start <= r.start and r.end <= o.end for o in found)
    ]


# Words that start another piece of work between a recurrence and a date ("..., sau đó báo cáo
# hằng quý"); "và" / "nhưng" too, unless the date is a bare day that only a recurrence explains.
_BLOCKERS = re.compile(r"(?<!\w)(?:sau\s+do|dong\s+thoi|rieng|ngoai\s+ra|tiep\s+tuc)(?!\w)", _FLAGS)
_JOINERS = re.compile(r"(?<!\w)(?:va|nhung)(?!\w)", _FLAGS)


def _due_point(period: str, due: _Due) -> tuple[int | None, int | None, int | None] | None:
    """(due_month, due_day, due_weekday) of `due` in periods of `period`; None: they do not fit."""
    probe = Recurrence(period)
    if due.weekday is not None:
        return (None, None, due.weekday) if period == "P1W" else None
    months = probe.months
    if months is None or due.day is None:
        return None
    if due.month is not None:
        # a date with its month ("trước ngày 15/12") is a due point of half-yearly or yearly
        # work; monthly or quarterly work is due on a day of the month, not on a date
        return ((due.month - 1) % months + 1, due.day, None) if months >= 6 else None
    place = {"first": 1, "next": 1, "second": min(2, months), "last": months}.get(due.place)
    if place is None and months == 1:
        place = 1
    return place, due.day, None


# -- choosing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    kind: PhraseKind
    reading: _Reading
    strong: bool
    role: Role = Role.NEUTRAL
    bound: _Rec | None = None

    @property
    def deadline(self) -> date | None:
        return self.reading.deadline

    def allows(self, day: date) -> bool:
        """Whether `day` lies in the period this phrase names (its window)."""
        low, high = self.reading.low, self.reading.deadline
        return low is not None and high is not None and low <= day <= high


def _hits(ctx: _Ctx, words: _Words | None = None) -> list[_Hit]:
    """The deadline phrases of the text (`words`: what it holds of the words patterns need,
    to leave out the patterns that cannot match; None: every pattern)."""
    hits: list[_Hit] = []
    for rule in _RULES:
        if words is not None and not words.allow(rule.needs):
            continue
        for match in rule.pattern.finditer(ctx.text.folded):
            if not _guarded(match, ctx.text):
                continue
            reading = rule.handle(match, ctx)
            if reading is None or (reading.deadline is None and reading.due is None):
                continue
            strong = not rule.weak_unless or any(match.group(g) for g in rule.weak_unless)
            hits.append(_Hit(match.start(), match.end(), rule.kind, reading, strong))
    hits.sort(key=lambda h: (h.start, h.start - h.end))
    outer = [
        h
        for h in hits
        if not any(
            o.start <= h.start and h.end <= o.end and o.end - o.start > h.end - h.start
            for o in hits
        )
    ]
    seen: set[tuple[int, int]] = set()
    unique: list[_Hit] = []
    for hit in outer:
        if (hit.start, hit.end) not in seen:
            seen.add((hit.start, hit.end))
            unique.append(hit)
    return unique


def _is_deadline(hit: _Hit, layout: Layout, anchor: date) -> bool:
    """Whether a phrase can be a deadline at all (see "Not deadlines" in the module docstring)."""
    if hit.deadline is not None and hit.deadline < anchor:
        return False
    return not (
        layout.in_title(hit.start, hit.end)
        or layout.in_past(hit.start)
        or layout.is_cut_off(hit.start)
    )


def _bind(hits: list[_Hit], recs: list[_Rec], layout: Layout) -> list[_Hit]:
    """Tie each due point ("trước ngày 20", "trước ngày 15/12", "thứ Năm") to the recurrence
    next to it in the same sentence; a day or weekday alone that finds none is dropped."""
    bound: list[_Hit] = []
    for hit in hits:
        due = hit.reading.due
        best: tuple[int, _Rec] | None = None
        for rec in recs if hit.kind in _BINDABLE else ():
            gap = _gap(hit, due, rec, layout) if due is not None else None
            if gap is not None and (best is None or gap < best[0]):
                best = (gap, rec)
        if best is not None:
            bound.append(replace(hit, bound=best[1]))
        elif due is None or not due.needs_recurrence:
            bound.append(hit)
    return bound


def _gap(hit: _Hit, due: _Due, rec: _Rec, layout: Layout) -> int | None:
    """How far a due point stands from a recurrence it may belong to; None when it cannot."""
    if _due_point(rec.period, due) is None:
        return None
    if layout.sentence_of(hit.start) != layout.sentence_of(rec.start):
        return None
    if hit.start < rec.end and rec.start < hit.end:
        return 0
    folded = layout.text.folded
    gap = folded[hit.end : rec.start] if hit.end <= rec.start else folded[rec.end : hit.start]
    if _BLOCKERS.search(gap) or (not due.needs_recurrence and _JOINERS.search(gap)):
        return None
    if due.dated and len(re.findall(r"[^\W\d_]+", gap)) > 8:
        return None
    return len(gap)


_BINDABLE = frozenset({PhraseKind.DATE, PhraseKind.DAY_OF_MONTH, PhraseKind.DAY_OF_WEEK})


def _rank(hit: _Hit) -> tuple[int, int, int]:
    return hit.role, _SPECIFICITY.get(hit.kind, 9), hit.start


def _conflicts(chosen: _Hit, others: list[_Hit], text: FoldedText) -> tuple[Alternative, ...]:
    found: list[Alternative] = []
    for other in sorted(others, key=lambda h: h.start):
        day, mine = other.deadline, chosen.deadline
        if other is chosen or day is None or mine is None or day == mine:
            continue
        if chosen.allows(day) or other.allows(mine):
            continue
        if any(a.deadline == day for a in found):
            continue
        found.append(Alternative(day, text.nfc[other.start : other.end], other.kind))
    return tuple(found)


def _recurrence_rule(
    recurring: _Rec, hits: list[_Hit], text: FoldedText
) -> tuple[Recurrence, _Hit | None]:
    """The recurrence with the due point of the first phrase bound to it (or to one of the same
    period: "Báo cáo hằng tháng ..., gửi trước ngày 20 hằng tháng"), and that phrase."""
    for hit in hits:
        due = hit.reading.due
        point = _due_point(recurring.period, due) if due is not None else None
        if hit.bound is not None and hit.bound.period == recurring.period and point:
            month, day, weekday = point
            phrase = text.nfc[hit.start : hit.end]
            return Recurrence(recurring.period, month, day, weekday, phrase), hit
    return Recurrence(recurring.period), None


def suggest_deadline(
    text: str, anchor: date, calendar: WorkingCalendar, *, unit: str = ""
) -> Suggestion | None:
    """The deadline a directive's text states in words, or None when it states none.

    `anchor` is the document date: periods ("trong 05 ngày làm việc", "trong vòng 10 ngày") run
    from it unless the text names a date after "kể từ ngày", and dates without a year are read
    relative to it. `calendar` counts working days. `unit`, the lead unit's name when known,
    picks that unit's date when the text gives several units theirs. See the module docstring
    for the rules.
    """
    folded = FoldedText.of(text)
    ctx = _Ctx(folded, anchor, calendar)
    words = _Words.of(folded.folded)
    found = _hits(ctx, words)
    recs = _recurrences(folded, words)
    if not found and not recs:
        return None  # no phrase at all: the layout that weighs phrases is not needed
    layout = Layout.of(folded, unit)
    hits = [h for h in found if _is_deadline(h, layout, anchor)]
    hits = [replace(h, role=layout.role(h.start, h.end)) for h in hits]
    hits = _bind(hits, recs, layout)

    recurring = recs[0] if recs else None
    rule, due_hit = _recurrence_rule(recurring, hits, folded) if recurring else (None, None)

    free = [h for h in hits if h.bound is None and h.deadline is not None]
    strong = [h for h in free if h.strong]
    chosen: _Hit | None = None
    deadline: date | None = None
    pool: list[_Hit] = []
    if any(h.role is not Role.CITED for h in strong) or (strong and due_hit is None):
        pool = strong
    elif due_hit is not None:
        chosen = due_hit
        deadline = due_hit.deadline
        written = due_hit.reading.due
        if rule is not None and not (written is not None and written.dated):
            deadline = rule.first_due(anchor) or deadline
    else:
        pool = free
    if pool:
        chosen = min(pool, key=_rank)
        deadline = chosen.deadline

    recurrence_phrase = folded.nfc[recurring.start : recurring.end] if recurring else ""
    if chosen is not None and deadline is not None:
        alternatives = _conflicts(chosen, pool, folded)
        notes = list(chosen.reading.notes)
        if chosen.role is Role.CITED:
            notes.append(Note.CITED_DOCUMENT_DEADLINE)
        if alternatives:
            notes.append(Note.CONFLICTING_DEADLINES)
        return Suggestion(
            deadline=deadline,
            phrase=folded.nfc[chosen.start : chosen.end],
            recurrence=recurring.period if recurring else None,
            kind=chosen.kind,
            recurrence_phrase=recurrence_phrase,
            recurrence_rule=rule,
            alternatives=alternatives,
            notes=tuple(notes),
        )
    if recurring is not None:
        return Suggestion(
            deadline=None,
            phrase=recurrence_phrase,
            recurrence=recurring.period,
            kind=PhraseKind.RECURRING,
            recurrence_phrase=recurrence_phrase,
            recurrence_rule=rule,
        )
    return None


def suggest_for_task(task: NormalisedTask, calendar: WorkingCalendar) -> Suggestion | None:
    """The deadline a task's text states: the directive (``steering_content``), then the subject.

    Anchored on the document date, else the local assignment date, else the last modification;
    the lead unit's name picks its date among several units'. Whether the task already has a
    deadline is the caller's question.
    """
    if task.doc_date is not None:
        anchor = task.doc_date
    elif task.assigned_at is not None:
        anchor = local_date(task.assigned_at)
    else:
        anchor = local_date(task.last_modified)
    for text in (task.steering_content, task.subject):
        if not text:
            continue
        try:
            found = suggest_deadline(text, anchor, calendar, unit=task.lead_unit_name)
        except ValueError:  # an anchor outside the calendar's years
            return None
        if found is not None:
            return found
    return None
