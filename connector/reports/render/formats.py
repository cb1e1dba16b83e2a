"""Render a `Report` in one of the formats the Working Group uses.

======  ============================================================  =========
format  what                                                          returns
======  ============================================================  =========
table   rich tables for a terminal (summary, notes, annexes)          str
json    stable schema, version 1 (docs/report-json.md)                str
csv     the summary (default) or one annex (``annex=``)               str
md      Markdown: summary table, notes, annex tables                  str
html    one self-contained page that prints as the report (A4)        str
xlsx    Excel workbook that prints as the report (A4, fit to width)   bytes
docx    Word document: the administrative report, annexes landscape   bytes
======  ============================================================  =========

`render_bytes` gives what to write to a file (UTF-8; CSV with a byte order mark so that
spreadsheet programs read the diacritics). Labels come from `connector.i18n`: Vietnamese by
default, English with ``lang="en"``. The table, xlsx and docx renderers are loaded only for
their format (rich, openpyxl, python-docx).
"""

from __future__ import annotations

from typing import Literal, get_args

from connector.errors import ConfigError, Problem
from connector.i18n import Lang, check_lang
from connector.reports.model import Report
from connector.reports.render.common import ANNEX_LIMIT
from connector.reports.render.csvfmt import render_csv
from connector.reports.render.html import render_html
from connector.reports.render.jsonfmt import render_json, report_dict
from connector.reports.render.markdown import render_markdown

Format = Literal["table", "json", "csv", "md", "html", "xlsx", "docx"]
FORMATS: tuple[str, ...] = get_args(Format)

ANNEX_OPTIONS: dict[str, str] = {
    "overdue": "overdue",
    "late": "late",
    "stale": "stale_no_deadline",
    "missing": "missing_deadline",
    "extended": "extended_after_overdue",
    "recurring": "recurring",
}
"""What ``report --annex`` takes (the short names of its help and the README) → the annex."""


def annex_option(name: str | None, fmt: str) -> str | None:
    """The annex that ``--annex NAME`` with ``--format FMT`` asks for, or None for the summary.

    Takes the short names (``stale``) and the annexes' own names (``stale_no_deadline``); a
    `ConfigError` for any other name, or for a format other than csv (which hold every annex).
    """
    if name is None:
        return None
    chosen = ANNEX_OPTIONS.get(name, name if name in ANNEX_OPTIONS.values() else None)
    if chosen is None:
        raise ConfigError(
            [Problem("--annex", f"{name!r} is not an annex; valid: {', '.join(ANNEX_OPTIONS)}")]
        )
    if fmt != "csv":
        raise ConfigError(
            [
                Problem(
                    "--annex",
                    f"applies to --format csv only; --format {fmt} holds every annex already",
                )
            ]
        )
    return chosen


EXTENSIONS: dict[str, str] = {
    "table": "txt",
    "json": "json",
    "csv": "csv",
    "md": "md",
    "html": "html",
    "xlsx": "xlsx",
    "docx": "docx",
}

__all__ = [
    "ANNEX_OPTIONS",
    "EXTENSIONS",
    "FORMATS",
    "Format",
    "annex_option",
    "render",
    "render_bytes",
    "report_dict",
]


def render(
    report: Report,
    fmt: str,
    lang: str | None = None,
    *,
    annex: str | None = None,
    color: bool = False,
    width: int = 200,
    annex_limit: int | None = ANNEX_LIMIT,
) -> str | bytes:
    """The report in `fmt` (see the module docstring); `lang` defaults to the report's.

    `annex` selects one annex for ``csv``; `color`, `width` and `annex_limit` (tasks shown per
    annex, None for all) apply to ``table``.
    Raises `ValueError` for an unknown format, language or annex, naming the valid ones.
    """
    chosen: Lang = check_lang(lang) if lang is not None else report.lang
    if annex is not None and fmt != "csv":
        raise ValueError("annex= applies to the csv format only (the others hold every annex)")
    if fmt == "table":
        from connector.reports.render.table import render_table  # noqa: PLC0415 - rich

        return render_table(report, chosen, width=width, color=color, annex_limit=annex_limit)
    if fmt == "json":
        return render_json(report, chosen)
    if fmt == "csv":
        return render_csv(report, chosen, annex)
    if fmt == "md":
        return render_markdown(report, chosen)
    if fmt == "html":
        return render_html(report, chosen)
    if fmt == "xlsx":
        from connector.reports.render.xlsx import render_xlsx  # noqa: PLC0415 - openpyxl

        return render_xlsx(report, chosen)
    if fmt == "docx":
        from connector.reports.render.docxfmt import render_docx  # noqa: PLC0415 - python-docx

        return render_docx(report, chosen)
    raise ValueError(f"unknown report format {fmt!r}; valid: {', '.join(FORMATS)}")


def render_bytes(
    report: Report, fmt: str, lang: str | None = None, *, annex: str | None = None
) -> bytes:
    """What to write to a file for `fmt`: UTF-8 text (CSV with a BOM) or the xlsx/docx bytes."""
    out = render(report, fmt, lang, annex=annex)
    if isinstance(out, bytes):
        return out
    return out.encode("utf-8-sig" if fmt == "csv" else "utf-8")
