"""The annex rows of the Word report, written as text when the file is saved
(`connector.reports.render.docxfmt`): the same XML python-docx builds for them, whatever the text.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from hypothesis import given
from hypothesis import strategies as st

from connector.reports.build import build_report
from connector.reports.model import Report, ReportOptions
from connector.reports.render import docxfmt
from connector.reports.render.common import annexes, cell_text, printable
from tests.support.report_world import AS_OF, TASKS, UNITS, items

ODD_TEXTS = (
    "a\tb",
    "two\nlines",
    "carriage\rreturn",
    " leading space",
    "trailing space ",
    "\u00a0no-break space first",
    "a & b < c > d \"quoted\" 'single'",
    "x" * 700,
    "Sở Tài chính — Đề án ƯU TIÊN",
    "pasted\x0bline break, \x01control, lone \ud800 surrogate",
    "",
)


def _report(tasks: tuple[Any, ...]) -> Report:
    return build_report(items(tasks), UNITS, ReportOptions(as_of=AS_OF))


def _odd_tasks() -> tuple[Any, ...]:
    return tuple(
        dataclasses.replace(
            task,
            steering_content=ODD_TEXTS[i % len(ODD_TEXTS)] + f" #{i}",
            sign_number=ODD_TEXTS[(i + 3) % len(ODD_TEXTS)],
        )
        for i, task in enumerate(TASKS)
    )


def _python_docx_run(text: str) -> str:
    paragraph = Document().add_paragraph()
    paragraph.add_run(text)
    return "".join(docxfmt._xml(r) for r in paragraph._p.r_lst)


@given(st.text(max_size=40))
def test_a_cell_s_run_is_the_run_python_docx_makes(text: str) -> None:
    """Plain or not (tabs, breaks, spaces at the ends), a cell's run is python-docx's; a text
    with characters XML forbids (python-docx refuses it) is written as `printable` makes it."""
    shown = printable(text)
    expected = _python_docx_run(shown) if shown else ""
    assert docxfmt._run(text) == expected


def _reference_rows(report: Report, lang: str) -> list[list[str]]:
    """Each annex's data rows as python-docx builds them one by one (the former way)."""
    out: list[list[str]] = []
    for annex in annexes(report):
        if not annex.entries:
            continue
        raw = (docxfmt.ANNEX_NO_MM, *(c.mm for c in annex.columns))
        scale = docxfmt.WIDE_WIDTH_MM / sum(raw)
        table = docxfmt._table(Document(), [w * scale for w in raw], grid=True)
        grid = docxfmt._grid_widths(table)
        rows: list[str] = []
        for number, entry in enumerate(annex.entries, start=1):
            texts = [cell_text(c.value(entry, lang), lang) for c in annex.columns]  # type: ignore[arg-type]
            keep = sum(len(t) for t in texts) < docxfmt.CANT_SPLIT_CHARS
            row = docxfmt._row(table, keep=keep, widths=grid)
            center = WD_ALIGN_PARAGRAPH.CENTER
            docxfmt._fill(row.cells[0], str(number), docxfmt.STYLE_TABLE, align=center)
            for cell, column, text in zip(row.cells[1:], annex.columns, texts, strict=True):
                align = None if column.wrap else center
                docxfmt._fill(cell, text, docxfmt.STYLE_TABLE, align=align)
            rows.append(docxfmt._xml(row._tr))
        out.append(rows)
    return out


def _written_rows(data: bytes) -> list[list[str]]:
    """The data rows of each annex table of a rendered report: the tables whose header row is
    in the annex header style, less that row."""
    out: list[list[str]] = []
    for table in Document(io.BytesIO(data)).tables:
        rows = [docxfmt._xml(tr) for tr in table._tbl.tr_lst]
        head = docxfmt.STYLE_TABLE_HEAD.replace(" ", "")
        if rows and f'<w:pStyle w:val="{head}"/>' in rows[0]:
            out.append(rows[1:])
    return out


def test_annex_rows_are_the_rows_python_docx_builds() -> None:
    """Every data row of every annex, in both languages, is byte for byte the row python-docx
    would have added (texts with tabs, breaks, spaces at the ends, markup characters, a
    700-character text that may break across pages)."""
    report = _report(_odd_tasks())
    for lang in ("vi", "en"):
        expected = _reference_rows(report, lang)
        written = _written_rows(docxfmt.render_docx(report, lang))  # type: ignore[arg-type]
        assert sum(len(rows) for rows in expected) > 20
        assert written == expected


def test_rows_of_every_annex_of_every_source_are_written() -> None:
    """``--by source``: each source's annexes get their rows; no placeholder is left."""
    first, second = _report(TASKS), _report(_odd_tasks())
    data = docxfmt.render_docx_sections([("s01", first), ("s02", second)], "vi")
    xml = zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml")
    assert docxfmt._ROWS_MARK.encode() not in xml
    expected = _reference_rows(first, "vi") + _reference_rows(second, "vi")
    written = _written_rows(data)
    assert written == expected
