"""Deadlines written in words: suggest a deadline from the text of an assignment.

Directives often state the deadline in the text instead of the structured field ("Sở Tài chính
chủ trì ... báo cáo UBND tỉnh trước ngày 15/4/2022"). `suggest_deadline` finds such a phrase and
turns it into a local date, following the Civil Code 2015:

* Art. 146: "đầu tháng" is the 1st, "giữa tháng" the 15th, "cuối tháng" the last day of the
  month; "giữa năm" is 30 June (so "6 tháng đầu năm" ends on 30 June), "cuối năm" 31 December.
* Art. 147: a period of N days / working days / weeks / months starts the day after its anchor
  (the date after "kể từ ngày" when one is written, else the document date given as `anchor`).
* Art. 148: a period in months ends on the same day number of its last month (or that month's
  last day). The move to the next working day when a deadline falls on a day off is *not* done
  here: the suggestion is the nominal deadline, `deadlines.effective_due` applies Art. 148.

Rules of reading (documented choices):

* The text is normalised to NFC first (NFD input works); matching ignores case. `phrase` is the
  matched text as it stands in the NFC form of the input (original letter case kept).
* A date, month, quarter or half year written without a year takes the anchor's year, or the
  next year when the resulting deadline would fall before the anchor ("trước ngày 20/01" written
  on 10 March 2022 means 20 January 2023). "Kể từ ngày 10/3" (a start date) takes the anchor's
  year without rolling. "Tháng này / quý này / năm nay" refer to the anchor's period, "tháng tới /
  tháng sau" to the next one.
* Deadline phrases introduced by a deadline word ("trước", "chậm nhất", "hạn chót", "thời hạn",
  "trong", "đến hết", ...) are *strong*; a bare period that often only names what a report covers
  ("báo cáo quý I năm 2022", "sơ kết 6 tháng đầu năm", "cuối năm 2022") is *weak*. The suggestion
  is the first strong phrase in reading order, else the first weak one; at the same position the
  longer match wins.
* An impossible date ("31/02/2022") makes that phrase void; reading goes on with the others.
* Recurrence ("định kỳ 03 tháng/lần", "hằng quý", "hàng tháng", "hằng năm") is reported as an
  ISO 8601 duration (P3M, P1M, P1Y, ...) from the first recurrence phrase in the text, alongside
  the deadline phrase if there is one; alone it gives a suggestion without a deadline.
* Words that set no date ("thường xuyên", "khẩn trương", "kịp thời", "sớm") give no suggestion.
"""

from __future__ import annotations

import calendar as _gregorian
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from connector.clock import local_date
from connector.models import NormalisedTask
from connector.rules.calendar import MAX_YEAR, MIN_YEAR, WorkingCalendar
from connector.rules.deadlines import add_months


class PhraseKind(StrEnum):
    """Which form of deadline phrase was recognised."""

    DATE = "date"  # trước ngày 15/4/2022
    DAY_OF_MONTH = "day_of_month"  # trước ngày 20 hằng tháng
    MONTH = "month"  # trong tháng 3/2022
    PART_OF_MONTH = "part_of_month"  # cuối tháng 6
    QUARTER = "quarter"  # trong quý II/2022
    HALF_YEAR = "half_year"  # 6 tháng đầu năm
    YEAR = "year"  # trong năm 2022
    PART_OF_YEAR = "part_of_year"  # cuối năm 2022
    WORKING_DAYS = "working_days"  # trong 05 ngày làm việc kể từ ngày ...
    PERIOD = "period"  # trong vòng 10 ngày / 02 tuần / 03 tháng
    RECURRING = "recurring"  # định kỳ 03 tháng/lần, hằng quý (no deadline)


@dataclass(frozen=True)
class Suggestion:
    """A deadline read from text.

    `deadline` is the nominal date (None for a recurrence alone), `phrase` the exact text
    matched (NFC), `recurrence` an ISO 8601 duration such as "P3M" when the text asks for
    periodic work, `recurrence_phrase` the text that said so.
    """

    deadline: date | None
    phrase: str
    recurrence: str | None
    kind: PhraseKind
    recurrence_phrase: str = ""


# -- building blocks -------------------------------------------------------------------------

_FLAGS = re.IGNORECASE

_UNIT_WORDS: dict[str, int] = {
    "một": 1,
    "mốt": 1,
    "hai": 2,
    "ba": 3,
    "bốn": 4,
    "tư": 4,
    "năm": 5,
    "lăm": 5,
    "sáu": 6,
    "bảy": 7,
    "tám": 8,
    "chín": 9,
}
_WORD_NUMBER = (
    r"(?:(?:(?:hai|ba|bốn|năm|sáu|bảy|tám|chín)\s+mươi|mười)"
    r"(?:\s+(?:một|mốt|hai|ba|bốn|tư|lăm|năm|sáu|bảy|tám|chín)(?!\w))?"
    r"|một|hai|ba|bốn|năm|sáu|bảy|tám|chín)"
)
# "05", "05 (năm)", "năm", "mười lăm"
_NUM = rf"(?P<n>\d{{1,3}}|{_WORD_NUMBER})(?:\s*\([^()]{{1,30}}\))?"
_TIME = r"\d{1,2}\s*(?:giờ|h|g)(?:\s*\d{1,2}(?:\s*phút)?)?"
_YEAR_TAIL = r"(?:\s*/\s*(?P<y>\d{4})|\s*,?\s*năm\s+(?P<y2>\d{4}))?"
_LATEST = r"(?:chậm|muộn)\s+nhất"
_START = r"(?<!\w)"


def _date_re(tag: str) -> str:
    """A written date: 15/4/2022, 20.7.2020, 15-4-2022, 20/12, 25 tháng 4 năm 2021."""
    numeric = (
        rf"(?P<d{tag}>\d{{1,2}})\s*(?P<sep{tag}>[/.\-])\s*(?P<m{tag}>\d{{1,2}})"
        rf"(?:\s*(?P=sep{tag})\s*(?P<y{tag}>\d{{4}}))?(?!\s*[/.\-]\s*\d)(?!\d)"
    )
    verbal = (
        rf"(?P<vd{tag}>\d{{1,2}})\s+tháng\s+(?P<vm{tag}>\d{{1,2}})"
        rf"(?:\s*,?\s*năm\s+(?P<vy{tag}>\d{{4}}))?(?!\d)"
    )
    return rf"(?:{numeric}|{verbal})"


def _number(text: str) -> int:
    """A number written in digits or in Vietnamese words (mười lăm = 15, hai mươi = 20)."""
    text = text.strip().lower()
    if text.isdigit():
        return int(text)
    words = text.split()
    if "mươi" in words:
        at = words.index("mươi")
        value = _UNIT_WORDS[words[0]] * 10
        rest = words[at + 1 :]
    elif words[0] == "mười":
        value, rest = 10, words[1:]
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


def _roll(build: Callable[[int], date | None], year: str | None, anchor: date) -> date | None:
    """`build(year)` for a stated year; without one, the anchor's year or, if that is already
    past (before the anchor) or impossible, the next year."""
    if year is not None:
        return build(int(year))
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


def _written_date(match: re.Match[str], tag: str, anchor: date, *, roll: bool) -> date | None:
    day = _group(match, f"d{tag}", f"vd{tag}")
    month = _group(match, f"m{tag}", f"vm{tag}")
    year = _group(match, f"y{tag}", f"vy{tag}")
    if day is None or month is None:
        return None
    d, m = int(day), int(month)
    if roll:
        return _roll(lambda y: _make_date(y, m, d), year, anchor)
    return _make_date(int(year) if year else anchor.year, m, d)


def _next_month(anchor: date, months: int) -> tuple[int, int]:
    first = add_months(anchor.replace(day=1), months)
    return first.year, first.month


# -- rules -----------------------------------------------------------------------------------

Handler = Callable[[re.Match[str], date, WorkingCalendar], date | None]


@dataclass(frozen=True)
class _Rule:
    kind: PhraseKind
    pattern: re.Pattern[str]
    handle: Handler
    weak_unless: str = ""  # a group name: the phrase is weak when that group did not match


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    strong: bool
    kind: PhraseKind
    deadline: date | None
    recurrence: str | None = None


def _rule(kind: PhraseKind, pattern: str, handle: Handler, weak_unless: str = "") -> _Rule:
    return _Rule(kind, re.compile(_START + pattern, _FLAGS), handle, weak_unless)


# trước ngày 15/4/2022; chậm nhất là ngày ...; hạn chót nộp báo cáo: 17h00 ngày ...
_DATE_MARK = (
    r"(?:trước"
    rf"|{_LATEST}(?:\s+(?:là|vào|trước|đến\s+hết|đến))?"
    r"|hạn\s+chót(?:\s+(?!ngày\b|là\b|vào\b|trước\b)[^\W\d_]+){0,8}?(?:\s*:)?"
    r"(?:\s+(?:là|vào|trước))?"
    r"|thời\s+hạn(?:\s+(?!ngày\b|là\b|vào\b|trước\b)[^\W\d_]+){0,3}?(?:\s*:)?"
    r"(?:\s+(?:là|vào))?"
    r"|(?:đến|tới)\s+hết)"
)


def _on_date(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    return _written_date(match, "", anchor, roll=True)


def _day_of_month(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    day = int(match.group("dom"))
    if not 1 <= day <= 31:
        return None
    for months in (0, 1):
        year, month = _next_month(anchor, months)
        end = _month_end(year, month)
        if end is None:
            return None
        candidate = end.replace(day=min(day, end.day))
        if candidate >= anchor:
            return candidate
    return None


_PERIOD_MARK = (
    rf"(?:trong(?:\s+suốt)?|{_LATEST}(?:\s+(?:là|trong|vào|đến\s+hết))?"
    r"|trước\s+khi\s+(?:kết\s+thúc|hết)|(?:đến|tới)\s+hết)"
)


def _month(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    relative = match.group("rel")
    if relative is not None:
        year, month = _next_month(anchor, 0 if relative.lower() == "này" else 1)
        return _month_end(year, month)
    m = int(match.group("m"))
    return _roll(lambda y: _month_end(y, m), _group(match, "y", "y2"), anchor)


def _part_of_month(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    part = match.group("part").lower()

    def pick(year: int, month: int) -> date | None:
        end = _month_end(year, month)
        if end is None:
            return None
        return end.replace(day={"đầu": 1, "giữa": 15}.get(part, end.day))

    relative = match.group("rel")
    if relative is not None:
        return pick(*_next_month(anchor, 0 if relative.lower() == "này" else 1))
    m = int(match.group("m"))
    return _roll(lambda y: pick(y, m), _group(match, "y", "y2"), anchor)


_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}


def _quarter(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    relative = match.group("rel")
    if relative is not None:
        quarter_start = anchor.replace(day=1, month=(anchor.month - 1) // 3 * 3 + 1)
        year, month = _next_month(quarter_start, 2 if relative.lower() == "này" else 5)
        return _month_end(year, month)
    token = match.group("q").lower()
    q = int(token) if token.isdigit() else _ROMAN[token]
    return _roll(lambda y: _month_end(y, 3 * q), _group(match, "y", "y2"), anchor)


def _half_year(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    month = 6 if match.group("part").lower() == "đầu" else 12
    if match.group("nay") is not None:
        return _month_end(anchor.year, month)
    return _roll(lambda y: _month_end(y, month), _group(match, "y", "y2"), anchor)


def _year(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    if match.group("nay") is not None:
        return _month_end(anchor.year, 12)
    return _month_end(int(match.group("y")), 12)


def _part_of_year(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    part = match.group("part").lower()

    def pick(year: int) -> date | None:
        if part == "đầu":
            return _make_date(year, 1, 1)
        return _month_end(year, 6 if part == "giữa" else 12)

    relative = match.group("rel")
    if relative is not None:
        return pick(anchor.year if relative.lower() == "nay" else anchor.year + 1)
    if match.group("y") is None and match.group("mk") is None:
        return None  # a bare "đầu năm" / "cuối năm" names a time, not a deadline
    return _roll(pick, match.group("y"), anchor)


def _period_anchor(match: re.Match[str], anchor: date) -> date | None:
    if _group(match, "dfrom", "vdfrom") is None:
        return anchor
    return _written_date(match, "from", anchor, roll=False)


def _working_days(match: re.Match[str], anchor: date, calendar: WorkingCalendar) -> date | None:
    start = _period_anchor(match, anchor)
    n = _number(match.group("n"))
    if start is None or n == 0:
        return None
    try:
        return calendar.add_working_days(start, n)
    except ValueError:  # beyond the calendar's years
        return None


def _period(match: re.Match[str], anchor: date, _: WorkingCalendar) -> date | None:
    start = _period_anchor(match, anchor)
    n = _number(match.group("n"))
    if start is None or n == 0:
        return None
    unit = match.group("unit").lower()
    if unit == "tháng":
        end = add_months(start, n)
    else:
        end = start + timedelta(days=n * (7 if unit == "tuần" else 1))
    return end if _in_range(end.year) else None


_FROM = rf"(?:\s*,?\s*(?:kể|tính)\s+từ\s+(?:ngày\s+)?{_date_re('from')})?"
_WITHIN = (
    rf"(?:trong(?:\s+(?:vòng|thời\s+hạn|thời\s+gian))?|{_LATEST}(?:\s+(?:là|sau))?|sau|không\s+quá)"
)

_RULES: tuple[_Rule, ...] = (
    _rule(
        PhraseKind.DATE,
        rf"{_DATE_MARK}(?:\s+{_TIME})?(?:\s*,?\s*ngày)?\s*:?\s*{_date_re('')}",
        _on_date,
    ),
    _rule(
        PhraseKind.DAY_OF_MONTH,
        rf"(?:trước|{_LATEST}(?:\s+(?:là|vào))?|vào|hạn\s+chót(?:\s+là)?)(?:\s+{_TIME})?"
        r"\s+ngày\s+(?P<dom>\d{1,2})\s+(?:của\s+)?(?:hằng|hàng|mỗi)\s+tháng(?!\w)",
        _day_of_month,
    ),
    _rule(
        PhraseKind.MONTH,
        rf"{_PERIOD_MARK}\s+tháng\s+(?:(?P<m>\d{{1,2}}){_YEAR_TAIL}(?![\d/])|(?P<rel>này|tới|sau)(?!\w))",
        _month,
    ),
    _rule(
        PhraseKind.PART_OF_MONTH,
        rf"(?:(?:trước|trong|vào|{_LATEST}(?:\s+(?:là|vào|trước))?)\s+)?"
        rf"(?P<part>đầu|giữa|cuối)\s+tháng\s+"
        rf"(?:(?P<m>\d{{1,2}}){_YEAR_TAIL}(?![\d/])|(?P<rel>này|tới|sau)(?!\w))",
        _part_of_month,
    ),
    _rule(
        PhraseKind.QUARTER,
        rf"(?:(?P<mk>{_PERIOD_MARK})\s+)?qu[ýí]\s+"
        rf"(?:(?P<q>iv|iii|ii|i|[1-4])(?!\w){_YEAR_TAIL}(?![\d/])|(?P<rel>này|tới|sau)(?!\w))",
        _quarter,
        weak_unless="mk",
    ),
    _rule(
        PhraseKind.HALF_YEAR,
        rf"(?:(?P<mk>{_PERIOD_MARK})\s+)?(?:0?6|sáu)\s+tháng\s+(?P<part>đầu|cuối)\s+năm"
        r"(?:\s+(?P<y>\d{4})|\s*/\s*(?P<y2>\d{4})|\s+(?P<nay>nay)(?!\w))?(?!\d)",
        _half_year,
        weak_unless="mk",
    ),
    _rule(
        PhraseKind.YEAR,
        rf"{_PERIOD_MARK}\s+năm\s+(?:(?P<y>\d{{4}})(?!\d)|(?P<nay>nay)(?!\w))",
        _year,
    ),
    _rule(
        PhraseKind.PART_OF_YEAR,
        rf"(?<!từ\s)(?:(?P<mk>trước|trong|vào|{_LATEST}(?:\s+(?:là|vào|trước))?)\s+)?"
        r"(?P<part>đầu|giữa|cuối)\s+năm"
        r"(?:\s+(?P<y>\d{4})(?!\d)|\s+(?P<rel>nay|sau|tới)(?!\w))?(?!\s*/?\s*\d)",
        _part_of_year,
        weak_unless="mk",
    ),
    _rule(
        PhraseKind.WORKING_DAYS,
        rf"{_WITHIN}\s+{_NUM}\s+ngày\s+làm\s+việc{_FROM}",
        _working_days,
    ),
    _rule(
        PhraseKind.PERIOD,
        rf"{_WITHIN}\s+{_NUM}\s+(?P<unit>ngày|tuần|tháng)(?!\w)"
        r"(?!\s+làm\s+việc)(?!\s*/)(?!\s+(?:đầu|giữa|cuối)\s+(?:tháng|năm|qu[ýí]))"
        rf"{_FROM}",
        _period,
    ),
)


# -- recurrence ------------------------------------------------------------------------------

_PERIOD_UNITS = {"ngày": "D", "tuần": "W", "tháng": "M", "quý": "M", "quí": "M", "năm": "Y"}
_RECURRENCE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(_START + pattern, _FLAGS)
    for pattern in (
        # định kỳ 03 tháng/lần; 6 tháng một lần; 01 năm/lần
        rf"(?:định\s+k[ỳì]\s+)?{_NUM}\s+(?P<unit>ngày|tuần|tháng|qu[ýí]|năm)"
        r"\s*(?:/\s*(?:0?1\s+|một\s+)?lần|(?:0?1|một)\s+lần)",
        # định kỳ 6 tháng
        rf"định\s+k[ỳì]\s+{_NUM}\s+(?P<unit>tuần|tháng|qu[ýí]|năm)(?!\w)",
        # (định kỳ) hằng quý / hàng tháng / mỗi năm
        r"(?:định\s+k[ỳì]\s+)?(?:hằng|hàng|mỗi)\s+(?P<unit>ngày|tuần|tháng|qu[ýí]|năm)(?!\w)",
        # định kỳ tháng / quý / năm
        r"định\s+k[ỳì]\s+(?P<unit>tuần|tháng|qu[ýí]|năm)(?!\w)",
    )
)


def _recurrence(match: re.Match[str]) -> str | None:
    unit = match.group("unit").lower()
    n = _number(match.group("n")) if "n" in match.re.groupindex else 1
    if n == 0:
        return None
    if unit in ("quý", "quí"):
        n *= 3
    return f"P{n}{_PERIOD_UNITS[unit]}"


# -- the entry point -------------------------------------------------------------------------


def _hits(text: str, anchor: date, calendar: WorkingCalendar) -> list[_Hit]:
    hits: list[_Hit] = []
    for rule in _RULES:
        for match in rule.pattern.finditer(text):
            deadline = rule.handle(match, anchor, calendar)
            if deadline is None:
                continue
            strong = not rule.weak_unless or match.group(rule.weak_unless) is not None
            hits.append(_Hit(match.start(), match.end(), strong, rule.kind, deadline))
    return hits


def _first(hits: list[_Hit]) -> _Hit | None:
    if not hits:
        return None
    return min(hits, key=lambda h: (h.start, h.start - h.end))


def suggest_deadline(text: str, anchor: date, calendar: WorkingCalendar) -> Suggestion | None:
    """The deadline a directive's text states in words, or None when it states none.

    `anchor` is the document date: periods ("trong 05 ngày làm việc", "trong vòng 10 ngày") run
    from it unless the text names a date after "kể từ ngày", and dates without a year are read
    relative to it. `calendar` counts working days. See the module docstring for the rules.
    """
    normal = unicodedata.normalize("NFC", text)
    hits = _hits(normal, anchor, calendar)
    best = _first([h for h in hits if h.strong]) or _first(hits)

    recurrences: list[_Hit] = []
    for pattern in _RECURRENCE_PATTERNS:
        for match in pattern.finditer(normal):
            value = _recurrence(match)
            if value is not None:
                recurrences.append(
                    _Hit(match.start(), match.end(), True, PhraseKind.RECURRING, None, value)
                )
    recurring = _first(recurrences)
    recurrence_phrase = normal[recurring.start : recurring.end] if recurring else ""
    recurrence = recurring.recurrence if recurring else None

    if best is not None:
        return Suggestion(
            deadline=best.deadline,
            phrase=normal[best.start : best.end],
            recurrence=recurrence,
            kind=best.kind,
            recurrence_phrase=recurrence_phrase,
        )
    if recurring is not None:
        return Suggestion(
            deadline=None,
            phrase=recurrence_phrase,
            recurrence=recurrence,
            kind=PhraseKind.RECURRING,
            recurrence_phrase=recurrence_phrase,
        )
    return None


def suggest_for_task(task: NormalisedTask, calendar: WorkingCalendar) -> Suggestion | None:
    """The deadline a task's text states: the directive (``steering_content``), then the subject.

    Anchored on the document date, else the local assignment date, else the last modification.
    Whether the task already has a deadline is the caller's question.
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
            found = suggest_deadline(text, anchor, calendar)
        except ValueError:  # an anchor outside the calendar's years
            return None
        if found is not None:
            return found
    return None
