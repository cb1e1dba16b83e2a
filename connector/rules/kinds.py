"""Product tasks and routine tasks: what an assignment asks for, read from its words. Pure.

The Chairman's directive forbids assigning a task that asks for a concrete **work product**
(a report, a proposal, a plan, a scheme, a draft, a submission ...) without a completion
deadline; **routine**, ongoing duties ("nhiệm vụ thường xuyên": monitoring, directing the
implementation, disseminating, coordinating ...) need none and are urged every three months
instead. `read_kind` tells the two apart; `task_kind` applies an administrator's override
(``idesk-connector tasks kind``).

**How it reads.** The text is matched without diacritics, like the phrase reader (the folding
of `connector.rules.phrase_layout`: "bao cao", "BÁO CÁO" and "báo cáo" read alike), word by word
(never inside another word: "chương trình" is not "trình"). The steering content is read first,
then the subject; the first of them that holds a word of the vocabulary decides, in this order:

1. a word that makes the duty **ongoing** (`ONGOING`): routine;
2. a **product** verb (`PRODUCT`): product;
3. a **routine** verb (`ROUTINE`): routine;
4. "báo cáo" alone (`REPORT`): product. It comes last because a routine duty usually ends by
   reporting its results ("theo dõi ..., báo cáo kết quả về UBND tỉnh"), which does not make it a
   product.

A word cited rather than asked for does not count: after "theo", "tại", "xét", "của" ("theo đề
xuất của Sở ...", "tại Báo cáo số 12/BC-STC") or before "số", "của" ("Báo cáo số ...").

When neither text holds a word: the **category** (loại văn bản) "Chỉ thị", "Kế hoạch" or "Quyết
định" reads as routine (their assignments are standing duties: implementing a directive, a plan,
a regulation); then a **steering type** of 0 (no leader named: a duty written into a document
rather than a leader's assignment) reads as routine. Otherwise the task is taken as a product:
when nothing says it is routine, the missing-deadline alert is kept.

`KindReading.words` are the words it was read from, as written in the text (or the category, or
the steering type as ``steeringType=0``); nothing for the default.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from connector.models import KindOverride, NormalisedTask, TaskKind
from connector.rules.phrase_layout import FoldedText

__all__ = [
    "KIND_CHOICES",
    "ONGOING",
    "PRODUCT",
    "REPORT",
    "ROUTINE",
    "ROUTINE_CATEGORIES",
    "KindOverride",
    "KindReading",
    "KindSource",
    "TaskKind",
    "parse_kind_choice",
    "read_kind",
    "task_kind",
]


class KindSource(StrEnum):
    """Where the kind was read from."""

    STEERING_CONTENT = "steering_content"
    SUBJECT = "subject"
    CATEGORY = "category"
    STEERING_TYPE = "steering_type"
    DEFAULT = "default"
    OVERRIDE = "override"


# The vocabulary, as written (documentation and the README list these); each entry's pattern is
# matched on the folded text, between word boundaries.
_DOC = (
    r"(?:ke\s+hoach|de\s+an|phuong\s+an|chuong\s+trinh|quy\s+che|quy\s+dinh|quy\s+hoach"
    r"|du\s+thao|bao\s+cao|ho\s+so|to\s+trinh|van\s+ban|huong\s+dan|tieu\s+chi|bo\s+tieu\s+chi"
    r"|co\s+che|chinh\s+sach|nghi\s+quyet|quyet\s+dinh|du\s+an|du\s+toan|danh\s+muc"
    r"|danh\s+sach)"
)
_SUPERIOR = (
    r"(?:ubnd|uy\s+ban|chu\s+tich|cap\s+co\s+tham\s+quyen|hoi\s+dong|hdnd|thu\s+tuong|bo"
    r"|tinh\s+uy|ban\s+thuong\s+vu|thuong\s+truc)"
)

# "trình" the verb, not the end of "chương trình", "công trình", "quy trình", "lộ trình" ...
_NOT_A_SUBMISSION = "".join(
    rf"(?<!{word}\s)" for word in ("chuong", "cong", "quy", "lo", "hanh", "tien", "qua", "giai")
)

ONGOING: dict[str, str] = {
    "thường xuyên": r"thuong\s+xuyen",
    "liên tục": r"lien\s+tuc",
    "lâu dài": r"lau\s+dai",
}
"""Words that make a duty ongoing: routine, whatever else the text asks."""

PRODUCT: dict[str, str] = {
    "xây dựng kế hoạch / đề án / quy chế / dự thảo …": rf"xay\s+dung\s+(?:lai\s+)?{_DOC}",
    "lập kế hoạch / hồ sơ / quy hoạch / dự toán …": rf"lap\s+{_DOC}",
    "ban hành / hoàn thiện kế hoạch, văn bản …": rf"(?:ban\s+hanh|hoan\s+thien)\s+{_DOC}",
    "đề xuất": r"de\s+xuat",
    "tham mưu": r"tham\s+muu",
    "trình UBND tỉnh / Chủ tịch / cấp có thẩm quyền …": (
        rf"{_NOT_A_SUBMISSION}trinh\s+{_SUPERIOR}"
    ),
    "tờ trình": r"to\s+trinh",
    "dự thảo": r"du\s+thao",
    "soạn thảo": r"soan\s+thao",
    "thẩm định": r"tham\s+dinh",
    "giải trình": r"giai\s+trinh",
}
"""Verbs that ask for a concrete work product."""

ROUTINE: dict[str, str] = {
    "theo dõi": r"theo\s+doi",
    "chỉ đạo thực hiện / chỉ đạo các …": r"chi\s+dao\s+(?:thuc\s+hien|trien\s+khai|cac)",
    "quán triệt": r"quan\s+triet",
    "phối hợp thực hiện / phối hợp chặt chẽ": r"phoi\s+hop\s+(?:thuc\s+hien|chat\s+che)",
    "đôn đốc": r"don\s+doc",
    "tiếp tục": r"tiep\s+tuc",
    "duy trì": r"duy\s+tri",
    "tăng cường": r"tang\s+cuong",
    "tổ chức thực hiện / triển khai (thực hiện)": r"to\s+chuc\s+thuc\s+hien|trien\s+khai",
    "kiểm tra, giám sát / giám sát": r"giam\s+sat|kiem\s+tra",
    "chủ động": r"chu\s+dong",
    "quản lý chặt chẽ": r"quan\s+ly\s+chat\s+che",
}
"""Verbs of a routine, ongoing duty."""

REPORT: dict[str, str] = {"báo cáo": r"bao\s+cao"}
""""báo cáo" alone: a product only when no routine word is there (see the module docstring)."""

ROUTINE_CATEGORIES: frozenset[str] = frozenset({"chi thi", "ke hoach", "quyet dinh"})
"""Categories (folded, lower case) whose assignments read as routine: "Chỉ thị", "Kế hoạch",
"Quyết định"."""

_CITED_BEFORE = re.compile(r"(?:theo|tai|xet|cua|tai\s+cac|theo\s+cac)\s+$", re.IGNORECASE)
_CITED_AFTER = re.compile(r"\s*(?:so\s*\d|cua\b|ngay\b)", re.IGNORECASE)


def _compile(table: dict[str, str]) -> re.Pattern[str]:
    body = "|".join(f"(?:{p})" for p in table.values())
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


_ORDER: tuple[tuple[re.Pattern[str], TaskKind], ...] = (
    (_compile(ONGOING), TaskKind.ROUTINE),
    (_compile(PRODUCT), TaskKind.PRODUCT),
    (_compile(ROUTINE), TaskKind.ROUTINE),
    (_compile(REPORT), TaskKind.PRODUCT),
)


@dataclass(frozen=True)
class KindReading:
    """A task's kind, where it was read from and the words it was read from.

    With an override, `kind` is the administrator's and `automatic` what the rule reads (its
    `words` are still the rule's).
    """

    kind: TaskKind
    source: KindSource
    words: tuple[str, ...] = ()
    override: KindOverride | None = None
    automatic: TaskKind | None = None


def _words(text: FoldedText, pattern: re.Pattern[str]) -> tuple[str, ...]:
    """The words of `pattern` in `text`, as written, that are asked for (not cited)."""
    found: list[str] = []
    for match in pattern.finditer(text.folded):
        before = text.folded[max(0, match.start() - 12) : match.start()]
        after = text.folded[match.end() : match.end() + 6]
        if _CITED_BEFORE.search(before) or _CITED_AFTER.match(after):
            continue
        word = " ".join(text.nfc[match.start() : match.end()].split())
        if word not in found:
            found.append(word)
    return tuple(found)


def _read_text(text: str) -> tuple[TaskKind, tuple[str, ...]] | None:
    if not text.strip():
        return None
    folded = FoldedText.of(text)
    for pattern, kind in _ORDER:
        words = _words(folded, pattern)
        if words:
            return kind, words
    return None


def _fold_category(category: str) -> str:
    return " ".join(FoldedText.of(category).folded.lower().split())


def read_kind(task: NormalisedTask) -> KindReading:
    """The kind the rule reads in `task` (see the module docstring); no override."""
    for source, text in (
        (KindSource.STEERING_CONTENT, task.steering_content),
        (KindSource.SUBJECT, task.subject),
    ):
        found = _read_text(text)
        if found is not None:
            return KindReading(found[0], source, found[1])
    if _fold_category(task.category) in ROUTINE_CATEGORIES:
        category = unicodedata.normalize("NFC", " ".join(task.category.split()))
        return KindReading(TaskKind.ROUTINE, KindSource.CATEGORY, (category,))
    if task.steering_type == 0:
        return KindReading(TaskKind.ROUTINE, KindSource.STEERING_TYPE, ("steeringType=0",))
    return KindReading(TaskKind.PRODUCT, KindSource.DEFAULT)


def task_kind(task: NormalisedTask, override: KindOverride | None = None) -> KindReading:
    """The task's kind: the administrator's `override` when there is one, else `read_kind`."""
    automatic = read_kind(task)
    if override is None:
        return automatic
    return KindReading(
        override.kind,
        KindSource.OVERRIDE,
        automatic.words,
        override=override,
        automatic=automatic.kind,
    )


KIND_CHOICES: tuple[str, ...] = ("product", "routine", "auto")
"""What ``tasks kind`` accepts: a kind, or ``auto`` to remove the override."""


def parse_kind_choice(choice: str) -> TaskKind | None:
    """``product`` / ``routine`` as a `TaskKind`, ``auto`` as None; `ValueError` otherwise."""
    value = choice.strip().lower()
    if value == "auto":
        return None
    try:
        return TaskKind(value)
    except ValueError:
        raise ValueError(
            f"{choice!r} is not a task kind; valid: {', '.join(KIND_CHOICES)}"
        ) from None
