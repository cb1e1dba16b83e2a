"""The annex rows of the Excel report, written as text when the workbook is saved
(`connector.reports.render.xlsx`): the same XML openpyxl writes for them, whatever the text; and
a text from the source is always a text (never a formula or an error value), whatever it holds.
"""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import Workbook, load_workbook

from connector.reports.build import build_report
from connector.reports.model import Report, ReportOptions
from connector.reports.render import xlsx
from connector.reports.render.common import Annex
from tests.support.report_world import AS_OF, TASKS, UNITS, items

ODD_TEXTS = (
    "a\tb",
    "two\nlines",
    "carriage\rreturn",
    " leading space",
    "trailing space ",
    "a & b < c > d \"quoted\" 'single'",
    "=HYPERLINK(\"http://evil.example/\",\"Bấm vào đây\")",
    "#N/A",
    "x" * 700,
    "Sở Tài chính — Đề án ƯU TIÊN 😀",
    "pasted\x0bline break, \x01control, lone \ud800 surrogate",
    "\x02",
    "",
)


def _report(tasks: tuple[Any, ...]) -> Report:
    return build_report(items(tasks), UNITS, ReportOptions(as_of=AS_OF))


def _odd_tasks() -> tuple[Any, ...]:
    return tuple(
        dataclasses.replace(
            task,
            subject=ODD_TEXTS[i % len(ODD_TEXTS)],
            steering_content=ODD_TEXTS[(i + 1) % len(ODD_TEXTS)] + f" #{i}",
            sign_number=ODD_TEXTS[(i + 3) % len(ODD_TEXTS)],
        )
        for i, task in enumerate(TASKS)
    )


def _the_former_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render every annex row as openpyxl cells (`_put`, and the row's height), as the
    renderer did before it wrote them as text."""
    made = xlsx._annex_sheet

    def annex_sheet(
        ws: Any, report: Report, annex: Annex, lang: Any, styles: Mapping[str, int]
    ) -> None:
        rows = made(ws, report, annex, lang, styles)
        if rows is None:
            return
        for number, entry in enumerate(annex.entries, start=1):
            row = rows.first_row + number - 1
            xlsx._put(ws, row, 1, number, lang, kind="center")
            lines = 1
            for offset, column in enumerate(annex.columns, start=2):
                value = column.value(entry, lang)
                xlsx._put(ws, row, offset, value, lang)
                if column.wrap and isinstance(value, str):
                    lines = max(lines, xlsx.text_lines(value, column.width))
            ws.row_dimensions[row].height = xlsx.row_height(lines)

    monkeypatch.setattr(xlsx, "_annex_sheet", annex_sheet)


_UNUSED_FORMAT = re.compile(
    rb'<numFmts count="3">(.*?)<numFmt numFmtId="166" formatCode="yyyy-mm-dd"/>'
)
"""openpyxl registers its own date format for a cell given a date, before the cell's named
style replaces it: no cell uses it, and the rows written as text do not register it."""


def _parts(data: bytes) -> dict[str, bytes]:
    """Every part of a workbook but its properties (which hold the time it was made), less an
    unused number format (`_UNUSED_FORMAT`)."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        parts = {n: book.read(n) for n in book.namelist() if not n.startswith("docProps/")}
    parts["xl/styles.xml"] = _UNUSED_FORMAT.sub(rb'<numFmts count="2">\1', parts["xl/styles.xml"])
    return parts


def _sheets_with_rows(parts: Mapping[str, bytes]) -> Iterator[str]:
    return (n for n, p in parts.items() if n.startswith("xl/worksheets/") and b"<row" in p)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_part_is_the_one_openpyxl_writes(
    lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part of the workbook (the annex sheets with their rows, the summary, the styles),
    in both languages, is byte for byte what openpyxl writes when it is given every row (texts
    with tabs, breaks, spaces at the ends, markup and control characters, a formula, an error
    value, an astral character, 700 characters)."""
    report = _report(_odd_tasks())
    written = _parts(xlsx.render_xlsx(report, lang))  # type: ignore[arg-type]
    _the_former_way(monkeypatch)
    expected = _parts(xlsx.render_xlsx(report, lang))  # type: ignore[arg-type]
    assert len(list(_sheets_with_rows(expected))) >= 4
    assert sum(p.count(b"<row ") for p in expected.values()) > 60
    assert written.keys() == expected.keys()
    for name in expected:
        assert written[name] == expected[name], name


def test_the_rows_of_every_annex_of_every_source_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--by source``: each source's annex sheets get their rows, the same as openpyxl's."""
    sections = [("s01", _report(TASKS)), ("s02", _report(_odd_tasks()))]
    written = _parts(xlsx.render_xlsx_sections(sections, "vi"))
    _the_former_way(monkeypatch)
    expected = _parts(xlsx.render_xlsx_sections(sections, "vi"))
    assert written == expected


def _one_cell(text: str) -> bytes:
    """The ``<c>`` element openpyxl writes for a table cell of `text` (`_put`)."""
    workbook = Workbook()
    xlsx._register_styles(workbook)
    ws = workbook.active
    assert ws is not None
    xlsx._put(ws, 7, 3, text, "vi")
    buffer = io.BytesIO()
    workbook.save(buffer)
    sheet = zipfile.ZipFile(buffer).read("xl/worksheets/sheet1.xml")
    found = re.search(rb'<c r="C7".*?(/>|</c>)', sheet, re.S)
    assert found is not None
    return found.group()


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=30))
def test_a_text_cell_is_the_cell_openpyxl_writes(text: str) -> None:
    """Any text, characters XML forbids included, is written as openpyxl writes the cell
    `_put` makes of it."""
    workbook = Workbook()
    xlsx._register_styles(workbook)
    style = xlsx._style_ids(workbook)["text"]
    written = xlsx._cell_xml("C7", style, text, workbook.epoch)
    assert written.encode() == _one_cell(text)


def test_a_text_from_the_source_is_never_a_formula() -> None:
    """A subject beginning with "=" or reading "#N/A", a unit named "=1+1": texts, as typed;
    the total row's figures are the only formulas."""
    units = tuple(
        dataclasses.replace(u, name="=1+1") if i == 0 else u for i, u in enumerate(UNITS)
    )
    tasks = _odd_tasks()
    report = build_report(items(tasks), units, ReportOptions(as_of=AS_OF))
    book = load_workbook(io.BytesIO(xlsx.render_xlsx(report, "vi")))
    texts = {}
    formulas = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    formulas.append(str(cell.value))
                elif isinstance(cell.value, str):
                    texts.setdefault(cell.value, cell.data_type)
    assert texts["=1+1"] == "s"
    assert texts[ODD_TEXTS[6]] == "s" and texts["#N/A"] == "s"
    assert formulas and all(f.startswith(("=SUM(", "=IF(")) for f in formulas)
    assert "pasted\nline break, control, lone \ufffd surrogate" in texts
