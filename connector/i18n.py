"""Labels of the Working Group's report and of the terminal output, in Vietnamese (default)
and English.

Every piece of text a report renderer prints comes from here (the texts themselves are data,
in ``connector/labels.toml``), so a renderer never hard-codes a word. Vietnamese is written with
its full diacritics; English is a faithful translation for readers outside the province.
`label(key, lang)` raises `KeyError` naming the missing key, so a typo fails a test instead of
printing a key.
"""

from __future__ import annotations

import functools
from datetime import date
from pathlib import Path
from typing import Any, Literal

from connector.models import STATUS_LABELS, StatusCode, UnitKind

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")

_ROMAN = ("I", "II", "III", "IV", "V", "VI")


@functools.cache
def labels() -> dict[str, dict[Lang, str]]:
    """Every label by key, ``{"vi": ..., "en": ...}``, read from ``labels.toml`` (package data)
    on first use; each must hold every language."""
    import tomllib  # noqa: PLC0415 - read once, when a label is first needed

    text = (Path(__file__).parent / "labels.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    for key, texts in data.items():
        missing = [lang for lang in LANGS if not isinstance(texts.get(lang), str)]
        if missing:
            raise KeyError(f"label {key!r} has no text in {', '.join(missing)}")
    return data


def __getattr__(name: str) -> Any:
    # ``LABELS`` (`labels()`) is read on first use: `check_lang` alone needs no label.
    if name == "LABELS":
        return labels()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFAULT_RECIPIENTS: dict[Lang, tuple[str, ...]] = {
    "vi": ("Chủ tịch UBND tỉnh (để báo cáo)", "Lưu: VT, TCT"),
    "en": ("The Chairman of the Provincial People's Committee (for information)", "File: TCT"),
}
"""The "Nơi nhận:" list when the settings keep theirs (the Vietnamese one is the default)."""

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def check_lang(lang: str) -> Lang:
    """`lang` as a `Lang`; `ValueError` naming the valid ones otherwise."""
    if lang == "vi":
        return "vi"
    if lang == "en":
        return "en"
    raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGS)}")


def label(key: str, lang: Lang = "vi", **values: object) -> str:
    """The text of `key` in `lang`, with `{placeholders}` filled from `values`."""
    try:
        text = labels()[key][lang]
    except KeyError:
        raise KeyError(f"no report label {key!r} in {lang!r}") from None
    return text.format(**values) if values else text


def fmt_date(day: date | None, lang: Lang = "vi") -> str:
    """A date as reports print it: dd/mm/yyyy in Vietnamese, ISO 8601 in English; "" for None."""
    if day is None:
        return ""
    if lang == "vi":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return day.isoformat()


def yes_no(value: bool, lang: Lang = "vi") -> str:
    """ "Có"/"Không" (Yes/No)."""
    return label("yes" if value else "no", lang)


def status_label(status: StatusCode, lang: Lang = "vi") -> str:
    """The official label of a status code (connector.models.STATUS_LABELS)."""
    return STATUS_LABELS[status][lang]


def occurrence_label(status: StatusCode, lang: Lang = "vi") -> str:
    """The verdict on one occurrence of a recurring obligation in words ("Báo cáo đúng hạn",
    "Báo cáo trễ hạn", "Quá hạn, chưa báo cáo", "Chưa đến hạn báo cáo")."""
    return label(f"occurrence_{status.value}", lang)


def kind_label(kind: UnitKind | None, lang: Lang = "vi") -> str:
    """Heading of a group of units of one kind; `None` is "other units"."""
    return label(f"kind_{kind.value}" if kind is not None else "kind_other", lang)


def roman(number: int) -> str:
    """I, II, III, … VI (quarters and group numbers in Vietnamese reports)."""
    if 1 <= number <= len(_ROMAN):
        return _ROMAN[number - 1]
    return str(number)


_RECURRENCE_UNITS: dict[str, tuple[str, str]] = {
    "D": ("ngày", "day"),
    "W": ("tuần", "week"),
    "M": ("tháng", "month"),
    "Y": ("năm", "year"),
}


def recurrence_text(iso: str, lang: Lang = "vi") -> str:
    """An ISO 8601 period ("P3M") in words: "định kỳ 3 tháng/lần" / "every 3 months".

    Anything else is returned as it is.
    """
    body = iso[1:] if iso.startswith("P") else ""
    number, unit = body[:-1], body[-1:]
    if not number.isdigit() or unit not in _RECURRENCE_UNITS:
        return iso
    vi, en = _RECURRENCE_UNITS[unit]
    n = int(number)
    if lang == "vi":
        return f"định kỳ {n} {vi}/lần"
    return f"every {en}" if n == 1 else f"every {n} {en}s"


def period_text(start: date, end: date, unit: str, lang: Lang = "vi") -> str:
    """A period of a recurring obligation in words: "tháng 03/2022", "quý I/2022", "6 tháng đầu
    năm 2022", "năm 2022", "tuần từ ngày 07/03/2022 đến ngày 13/03/2022" / "03/2022", "Q1 2022",
    "the first half of 2022", "2022", "the week of 2022-03-07 to 2022-03-13".

    `unit` is ``D`` (a day), ``W`` (a week) or ``M`` (months: `start`'s month to `end`'s).
    """
    if unit == "D":
        return fmt_date(start, lang) if lang == "en" else f"ngày {fmt_date(start, lang)}"
    if unit == "W":
        a, b = fmt_date(start, lang), fmt_date(end, lang)
        return f"tuần từ ngày {a} đến ngày {b}" if lang == "vi" else f"the week of {a} to {b}"
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    year, month = start.year, start.month
    if months == 1:
        return f"tháng {month:02d}/{year}" if lang == "vi" else f"{month:02d}/{year}"
    if months == 3 and month % 3 == 1:
        quarter = (month - 1) // 3 + 1
        return f"quý {roman(quarter)}/{year}" if lang == "vi" else f"Q{quarter} {year}"
    if months == 6 and month in (1, 7):
        if lang == "vi":
            return f"6 tháng {'đầu' if month == 1 else 'cuối'} năm {year}"
        return f"the {'first' if month == 1 else 'second'} half of {year}"
    if months == 12 and month == 1:
        return f"năm {year}" if lang == "vi" else str(year)
    if lang == "vi":
        return f"tháng {month:02d} – tháng {end.month:02d}/{end.year}"
    return f"{month:02d}–{end.month:02d}/{end.year}"


def month_name(month: int) -> str:
    """English month name."""
    return _MONTHS_EN[month - 1]
