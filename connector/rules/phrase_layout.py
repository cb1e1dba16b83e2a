"""Where a deadline phrase stands in a directive: folded text, sentences, and whose date it is.

`connector.rules.phrases` reads deadline phrases; this module says what surrounds them.

* `FoldedText` holds the NFC text and its *folded* twin, character for character: diacritics
  and "đ" removed, typographic dashes, quotes and no-break spaces made ASCII. Patterns are
  written without diacritics and matched on the folded text, so "trước ngày 15/3" and "truoc
  ngay 15/3" read alike, and a match's span cuts the phrase out of the NFC text. Where folding
  merges words an officer tells apart ("tháng sau" next month / "tháng sáu" June, "hằng" /
  "mới", "hạn" / "Hàn"), `FoldedText.written_as` checks the word as it was written: text with
  diacritics must spell the expected word; text without them is taken at its word.
* `Layout` finds, once per text: the sentences; the preamble that cites another document
  ("Thực hiện Công văn số 12/BTC ... của Bộ Tài chính đề nghị báo cáo trước ngày 20/3/2022,
  Chủ tịch UBND tỉnh giao ..."), whose dates are that document's; the titles of cited documents
  ("Kế hoạch số 45/KH-UBND ... về tổ chức ... trong năm 2022"), which are never deadlines;
  purpose clauses that pass the result to a superior ("để UBND tỉnh báo cáo Bộ Tài chính trước
  ngày 20/3/2022"); sentences whose subject is a ministry or the Government; narrative
  sentences about the past ("đã tiêm được ..."); cut-off dates of report figures ("số liệu tính
  đến hết ngày ..."); and, when the lead unit is known, which unit acts in each part of a
  sentence ("UBND các huyện gửi ... về Sở Nội vụ trước ngày 15/4; Sở Nội vụ tổng hợp ... trước
  ngày 25/4").
* `Layout.role` ranks a phrase by whose date it is (`Role`), which `suggest_deadline` prefers
  before specificity and reading order.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from enum import IntEnum

_FOLD_SPECIAL: dict[str, str] = {
    "đ": "d",
    "Đ": "D",
    "–": "-",
    "—": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "’": "'",
    "‘": "'",
    "′": "'",
    "ʼ": "'",
    "\u00a0": " ",
    "\u202f": " ",
}


@functools.cache
def _fold_char(char: str) -> str:
    special = _FOLD_SPECIAL.get(char)
    if special is not None:
        return special
    if char.isascii():
        return char
    base = unicodedata.normalize("NFD", char)[0]
    return base if base.isascii() and base.isalpha() else char


class _FoldTable(dict[int, str]):
    """`str.translate`'s table of `_fold_char`, filled as characters are first met."""

    def __missing__(self, code: int) -> str:
        folded = _fold_char(chr(code))
        self[code] = folded
        return folded


_FOLD_TABLE = _FoldTable()


def fold(text: str) -> str:
    """`text` without diacritics, one character for one (Vietnamese letters are NFC-composed)."""
    return text.translate(_FOLD_TABLE)


@dataclass(frozen=True)
class FoldedText:
    """A text in NFC and folded, of the same length; `plain` when no letter has a diacritic."""

    nfc: str
    folded: str
    plain: bool

    @classmethod
    def of(cls, text: str) -> FoldedText:
        nfc = unicodedata.normalize("NFC", text)
        folded = fold(nfc)
        plain = folded == nfc or not any(c.isalpha() and _fold_char(c) != c for c in nfc)
        return cls(nfc, folded, plain)

    def written_as(self, start: int, end: int, allowed: frozenset[str]) -> bool:
        """Whether the text at start:end is written without diacritics or as one of `allowed`."""
        original = self.nfc[start:end]
        if original == self.folded[start:end]:
            return True
        return " ".join(original.lower().split()) in allowed


class Role(IntEnum):
    """Whose date a phrase states, best first."""

    ASSIGNED = 0  # the lead unit's own action
    NEUTRAL = 1  # no actor named, or the lead unit is not known
    OTHER = 2  # a superior's step ("để UBND tỉnh báo cáo Bộ ..."), a ministry, another unit
    CITED = 3  # inside the preamble that cites another document


_F = re.IGNORECASE
Span = tuple[int, int]

_BOUNDARY = re.compile(r"[;\n]|[.!?](?=\s|$)")
_LEAD = re.compile(r"\s*(?:(?:\d{1,2}|[a-dđ]|[ivx]{1,4})\s*[.)/]\s*|[-+*•]\s*)*", _F)

_DOC_TYPES = (
    r"(?:cong\s+van|van\s+ban|quyet\s+dinh|ke\s+hoach|chi\s+thi|nghi\s+quyet|thong\s+bao"
    r"|thong\s+tu|nghi\s+dinh|to\s+trinh|bao\s+cao|chuong\s+trinh|de\s+an|luat|cong\s+dien"
    r"|huong\s+dan)"
)
_OPENER = re.compile(
    r"(?:thuc\s+hien|can\s+cu|theo(?!\s+doi)|xet|tiep\s+theo|trien\s+khai|tren\s+co\s+so|tai)"
    r"(?!\w)",
    _F,
)
_CITES = re.compile(
    rf"{_DOC_TYPES}\s+(?:so|cua|ngay)(?!\w)|so\s+\d|y\s+kien\s+(?:chi\s+dao|ket\s+luan|cua)"
    r"|chi\s+dao\s+cua|de\s+nghi\s+cua|yeu\s+cau\s+cua|cuoc\s+hop|ket\s+luan\s+cua",
    _F,
)
# The issuing body takes over ("..., Chủ tịch UBND tỉnh giao ...", "..., giao Sở ...").
_TAKE_OVER = re.compile(
    r":|,\s*(?=(?:chu\s+tich|ubnd|uy\s+ban\s+nhan\s+dan|van\s+phong|giao|yeu\s+cau|de\s+nghi"
    r"|dong\s+y|cac\s|so\s|trong\s+do|theo\s+do)(?!\w))",
    _F,
)
_TITLE_START = re.compile(
    rf"{_DOC_TYPES}\s+so\s+[\w/.\-]+[^;:\n]{{0,160}}?\s(?:ve\s+viec|v/v|ve)\s", _F
)
_TITLE_END = re.compile(
    r"[;:\n]|[.!?](?=\s|$)|,\s*(?=(?:giao|yeu\s+cau|de\s+nghi|chu\s+tich|ubnd|uy\s+ban"
    r"|hoan\s+thanh|bao\s+cao|trinh|gui|thuc\s+hien|to\s+chuc|trien\s+khai|cac|so|dong\s+thoi"
    r"|trong\s+do|theo\s+do)(?!\w))",
    _F,
)
_PURPOSE = re.compile(
    r"(?<!\w)(?P<de>de)\s+(?:kip\s+thoi\s+)?(?:tong\s+hop|bao\s+cao|trinh|ubnd|uy\s+ban|chu\s+tich"
    r"|bo|thu\s+tuong|chinh\s+phu|van\s+phong|so)(?!\w)",
    _F,
)
_AUTHORITY = re.compile(
    r"(?:bo\s+(?!chi\s+huy)[^\W\d_]+|van\s+phong\s+chinh\s+phu|thu\s+tuong|chinh\s+phu)(?!\w)"
    r"[^;\n]*?(?:de\s+nghi|yeu\s+cau|co\s+cong\s+van|chi\s+dao)(?!\w)",
    _F,
)
_PAST_MARKED = re.compile(
    r"(?<!\w)(?:đã(?!\s+(?:được|giao|đề ra|phân công|đăng ký|cam kết|quá hạn|có ý kiến"
    r"|thống nhất))|vừa qua)(?!\w)",
    _F,
)
_PAST_PLAIN = re.compile(
    r"(?<!toi\s)(?<!\w)da\s+(?:to\s+chuc|thuc\s+hien|hoan\s+thanh|ban\s+hanh|trien\s+khai|tiem"
    r"|dat|giai\s+ngan|chi\s+dao|xay\s+dung|kiem\s+tra|cap)(?!\w)",
    _F,
)
_CUT_OFF = re.compile(
    r"(?:(?P<tinh>tinh)|so\s+lieu(?:\s+bao\s+cao)?|thoi\s+diem|ky\s+bao\s+cao)\s*$", _F
)
_UNTIL = re.compile(r"(?:den|toi|tu)(?!\w)", _F)
_TINH = frozenset({"tính"})
_DE = frozenset({"để"})
_SO = frozenset({"sở"})

# Units named as actors (subjects of a clause), and the words before a unit that make it a
# recipient or partner instead ("về Sở Nội vụ", "phối hợp với Sở ...", "báo cáo UBND tỉnh").
_UNITS = re.compile(
    r"(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+(?:cac\s+|cap\s+)?(?:huyen|thi\s+xa|thanh\s+pho|xa|phuong"
    r"|thi\s+tran)(?!\w)"
    r"|cac\s+(?:so|huyen|dia\s+phuong|don\s+vi|co\s+quan|bo|nganh)(?!\w)"
    r"|(?P<so>so)\s+(?=[^\W\d_])"
    r"|ban\s+(?:quan\s+ly|dan\s+toc|chi\s+dao|to\s+chuc)(?!\w)"
    r"|cong\s+an\s+tinh|bo\s+chi\s+huy|thanh\s+tra\s+tinh|kho\s+bac|cuc\s+thue",
    _F,
)
_NOT_ACTOR = re.compile(
    r"(?:ve|gui|cho|voi|cua|qua|den|toi|hop|bao\s+cao|trinh|tham\s+muu|huong\s+dan|giup|thuoc"
    r"|tai)\s*(?:\(\s*)?$",
    _F,
)


@functools.lru_cache(maxsize=1024)
def _unit_patterns(unit: str) -> tuple[re.Pattern[str], ...]:
    """The lead unit's name as written in any style, and the groups that include it (made once
    per unit name: a province has a few dozen)."""
    words = re.findall(r"[^\W_]+", fold(unicodedata.normalize("NFC", unit)).lower())
    if words[:4] == ["uy", "ban", "nhan", "dan"]:
        words = ["ubnd", *words[4:]]
    if not words:
        return ()
    parts = [r"(?:ubnd|uy\s+ban\s+nhan\s+dan)" if w == "ubnd" else re.escape(w) for w in words]
    patterns = [r"(?:\s*-\s*|\s+)".join(parts) + r"(?!\w)"]
    everyone = r"cac\s+(?:don\s+vi|co\s+quan)(?!\w)"
    if words[0] == "so":
        patterns += [r"cac\s+so(?!\w)", everyone]
    elif words[0] == "ubnd" and len(words) > 1:
        level = words[1]
        if level in ("huyen", "thi", "thanh"):
            patterns += [
                r"(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+(?:cac|cap)\s+huyen(?!\w)",
                r"cac\s+(?:huyen|dia\s+phuong)(?!\w)",
                everyone,
            ]
        elif level in ("xa", "phuong"):
            patterns += [r"(?:ubnd|uy\s+ban\s+nhan\s+dan)\s+(?:cac|cap)\s+xa(?!\w)", everyone]
    else:
        patterns.append(everyone)
    return tuple(re.compile(p, _F) for p in patterns)


def _inside(spans: tuple[Span, ...], start: int, end: int) -> bool:
    return any(s <= start and end <= e for s, e in spans)


@dataclass(frozen=True)
class Layout:
    """What surrounds the phrases of one text (see the module docstring)."""

    text: FoldedText
    sentences: tuple[Span, ...]
    cited: tuple[Span, ...]
    titles: tuple[Span, ...]
    purposes: tuple[Span, ...]
    authority: tuple[Span, ...]
    past: tuple[Span, ...]
    actors: tuple[tuple[int, int, bool], ...]  # (start, end, is the lead unit)

    @classmethod
    def of(cls, text: FoldedText, unit: str = "") -> Layout:
        sentences = _sentences(text.folded)
        return cls(
            text=text,
            sentences=sentences,
            cited=tuple(_cited(text.folded, sentences)),
            titles=tuple(_titles(text.folded)),
            purposes=tuple(_purposes(text, sentences)),
            authority=tuple(
                s for s in sentences if _AUTHORITY.match(text.folded, _lead_end(text.folded, s))
            ),
            past=tuple(s for s in sentences if _is_past(text, s)),
            actors=tuple(_actors(text, unit)) if unit.strip() else (),
        )

    def sentence_of(self, position: int) -> Span:
        starts = [s for s, _ in self.sentences]
        return self.sentences[max(bisect_right(starts, position) - 1, 0)]

    def in_title(self, start: int, end: int) -> bool:
        """Inside the title of a cited document ("... về việc ..."): never a deadline."""
        return _inside(self.titles, start, end)

    def in_past(self, start: int) -> bool:
        """In a sentence that tells what was done ("đã tổ chức ...")."""
        return self.sentence_of(start) in self.past

    def is_cut_off(self, start: int) -> bool:
        """The phrase dates report figures ("số liệu tính đến hết ngày 15/3/2022")."""
        if _UNTIL.match(self.text.folded, start) is None:
            return False
        sentence_start = self.sentence_of(start)[0]
        before = self.text.folded[max(sentence_start, start - 30) : start]
        match = _CUT_OFF.search(before)
        if match is None:
            return False
        if match.group("tinh") is None:
            return True
        offset = start - len(before)
        return self.text.written_as(offset + match.start("tinh"), offset + match.end("tinh"), _TINH)

    def role(self, start: int, end: int) -> Role:
        """Whose date the phrase at start:end states."""
        if _inside(self.cited, start, end):
            return Role.CITED
        actor = self._actor(start, end)
        if actor is True:
            return Role.ASSIGNED
        if _inside(self.purposes, start, end) or self.sentence_of(start) in self.authority:
            return Role.OTHER
        return Role.OTHER if actor is False else Role.NEUTRAL

    def _actor(self, start: int, end: int) -> bool | None:
        """Whether the unit acting where the phrase stands is the lead unit (None: no actor)."""
        if not self.actors:
            return None
        s_start, s_end = self.sentence_of(start)
        purpose = next((p for p in self.purposes if p[0] <= start < p[1]), None)
        before = [
            a for a in self.actors if s_start <= a[0] and a[1] <= start and _same_side(a, purpose)
        ]
        if before:
            return before[-1][2]
        after = [a for a in self.actors if end <= a[0] and a[1] <= s_end]
        return after[0][2] if after else None


def _same_side(actor: tuple[int, int, bool], purpose: Span | None) -> bool:
    """An actor named before a purpose clause ("..., để UBND tỉnh ...") does not act inside it."""
    return purpose is None or actor[0] >= purpose[0]


def _sentences(folded: str) -> tuple[Span, ...]:
    spans: list[Span] = []
    start = 0
    for match in _BOUNDARY.finditer(folded):
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(folded)))
    return tuple(spans)


def _lead_end(folded: str, sentence: Span) -> int:
    """Where a sentence's words start, after spaces and item numbers ("1.", "a)", "-")."""
    match = _LEAD.match(folded, sentence[0], sentence[1])
    return match.end() if match else sentence[0]


def _cited(folded: str, sentences: tuple[Span, ...]) -> list[Span]:
    spans: list[Span] = []
    for sentence in sentences:
        begin = _lead_end(folded, sentence)
        if _OPENER.match(folded, begin) is None:
            continue
        take_over = _TAKE_OVER.search(folded, begin, sentence[1])
        end = take_over.start() if take_over else sentence[1]
        if _CITES.search(folded, begin, end):
            spans.append((begin, end))
    return spans


def _titles(folded: str) -> list[Span]:
    spans: list[Span] = []
    for match in _TITLE_START.finditer(folded):
        end_match = _TITLE_END.search(folded, match.end())
        spans.append((match.end() - 1, end_match.start() if end_match else len(folded)))
    return spans


def _purposes(text: FoldedText, sentences: tuple[Span, ...]) -> list[Span]:
    spans: list[Span] = []
    for match in _PURPOSE.finditer(text.folded):
        if not text.written_as(match.start("de"), match.end("de"), _DE):
            continue
        end = next(e for s, e in sentences if s <= match.start() < e)
        spans.append((match.start(), end))
    return spans


def _is_past(text: FoldedText, sentence: Span) -> bool:
    if text.plain:
        return _PAST_PLAIN.search(text.folded, *sentence) is not None
    return _PAST_MARKED.search(text.nfc, *sentence) is not None


def _actors(text: FoldedText, unit: str) -> list[tuple[int, int, bool]]:
    folded = text.folded
    own: list[tuple[int, int, bool]] = []
    for pattern in _unit_patterns(unit):
        own += [(m.start(), m.end(), True) for m in pattern.finditer(folded)]
    others: list[tuple[int, int, bool]] = []
    for match in _UNITS.finditer(folded):
        if match.group("so") is not None and not text.written_as(
            match.start("so"), match.end("so"), _SO
        ):
            continue
        if not any(s < match.end() and match.start() < e for s, e, _ in own):
            others.append((match.start(), match.end(), False))
    return [
        a
        for a in sorted(own + others)
        if _NOT_ACTOR.search(folded[max(0, a[0] - 16) : a[0]]) is None
    ]
