"""The report as an Excel workbook laid out like an official annex.

Sheet 1 (summary): the issuer and the Working Group on top, the title in capitals, the period
and "Tính đến ngày dd/mm/yyyy"; a two-row header whose groups (Tổng số nhiệm vụ được giao /
Đã hoàn thành / Đang thực hiện) are merged cells, a row of column numbers (1), (2), …; one row per
unit under group headings I, II, …; a bold TỔNG CỘNG row; the notes below. Thin borders, set
column widths, panes frozen under the header. Then one sheet per annex, each with its own title,
header and frozen panes. Numbers stay numbers and dates stay dates (shown dd/mm/yyyy).
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from connector.i18n import Lang, fmt_date, label
from connector.reports.model import Report
from connector.reports.render.common import (
    SUMMARY_COLUMNS,
    Annex,
    Cell,
    annexes,
    column_groups,
    head_lines,
    notes,
    summary_lines,
    summary_value,
)

FONT = "Times New Roman"
_THIN = Side(style="thin")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT_WRAP = Alignment(horizontal="left", vertical="top", wrap_text=True)
DATE_FORMAT = "DD/MM/YYYY"
SHEET_NAME_MAX = 31

SUMMARY_HEADER_ROW = 8
"""First header row of the summary sheet (rows 1–7: issuer, title, period, as-of)."""


def _font(bold: bool = False, italic: bool = False, size: int = 12) -> Font:
    return Font(name=FONT, bold=bold, italic=italic, size=size)


def _title_block(ws: Worksheet, report: Report, lang: Lang, last_col: int, title: str) -> int:
    """Issuer, Working Group, title, period/as-of lines; returns the next free row."""
    span = max(3, min(last_col, 5))
    rows = [
        (report.issuer, _font(bold=True), span, CENTER),
        (label("working_group", lang), _font(bold=True), span, CENTER),
        ("", _font(), 1, CENTER),
        (title.upper(), _font(bold=True, size=14), last_col, CENTER),
    ]
    rows += [(line, _font(italic=True), last_col, CENTER) for line in head_lines(report, lang)]
    for number, (text, font, width, align) in enumerate(rows, start=1):
        cell = ws.cell(row=number, column=1, value=text or None)
        cell.font = font
        cell.alignment = align
        if width > 1:
            ws.merge_cells(start_row=number, start_column=1, end_row=number, end_column=width)
    ws.row_dimensions[4].height = 36
    return len(rows) + 2


def _register_styles(workbook: Workbook) -> None:
    """Named cell styles, registered once: setting one per cell is much cheaper than setting a
    font, a border and an alignment on each of thousands of annex cells."""
    right = Alignment(horizontal="right", vertical="top")
    for bold in (False, True):
        suffix = "_b" if bold else ""
        font = _font(bold=bold)
        for kind, alignment, number_format in (
            ("text", LEFT_WRAP, "General"),
            ("int", right, "General"),
            ("float", right, "0.0"),
            ("date", Alignment(horizontal="center", vertical="top"), DATE_FORMAT),
        ):
            workbook.add_named_style(
                NamedStyle(
                    name=f"report_{kind}{suffix}",
                    font=font,
                    border=BORDER,
                    alignment=alignment,
                    number_format=number_format,
                )
            )


def _put(ws: Worksheet, row: int, col: int, value: Cell, lang: Lang, *, bold: bool = False) -> None:
    stored: int | float | date | str | None
    if isinstance(value, Decimal):
        stored = float(value)
    elif isinstance(value, bool):
        stored = label("yes" if value else "no", lang)
    else:
        stored = value
    if isinstance(stored, date):
        kind = "date"
    elif isinstance(stored, float):
        kind = "float"
    elif isinstance(stored, int):
        kind = "int"
    else:
        kind = "text"
    cell = ws.cell(row=row, column=col, value=stored)
    cell.style = f"report_{kind}_b" if bold else f"report_{kind}"


def _header_cell(ws: Worksheet, row: int, col: int, text: str) -> None:
    cell = ws.cell(row=row, column=col, value=text)
    cell.font = _font(bold=True, size=11)
    cell.alignment = CENTER
    cell.border = BORDER
    cell.fill = HEADER_FILL


def _summary_sheet(ws: Worksheet, report: Report, lang: Lang) -> None:
    n_cols = 2 + len(SUMMARY_COLUMNS)
    _title_block(ws, report, lang, n_cols, report.title)
    top, sub, numbers = SUMMARY_HEADER_ROW, SUMMARY_HEADER_ROW + 1, SUMMARY_HEADER_ROW + 2
    # STT and Đơn vị span both header rows.
    for col, key in ((1, "col_no"), (2, "col_unit")):
        _header_cell(ws, top, col, label(key, lang))
        _header_cell(ws, sub, col, "")
        ws.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
    col = 3
    index = 0
    for group, width in column_groups():
        if group is None:
            column = SUMMARY_COLUMNS[index]
            _header_cell(ws, top, col, column.label(lang, report.fold))
            _header_cell(ws, sub, col, "")
            ws.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
        else:
            _header_cell(ws, top, col, label(group, lang))
            for offset in range(width):
                column = SUMMARY_COLUMNS[index + offset]
                _header_cell(ws, sub, col + offset, column.label(lang, report.fold))
                if offset:
                    _header_cell(ws, top, col + offset, "")
            ws.merge_cells(start_row=top, start_column=col, end_row=top, end_column=col + width - 1)
        col += width
        index += width
    for c in range(1, n_cols + 1):
        cell = ws.cell(row=numbers, column=c, value=f"({c})")
        cell.font = _font(italic=True, size=10)
        cell.alignment = CENTER
        cell.border = BORDER
    ws.row_dimensions[top].height = 30
    ws.row_dimensions[sub].height = 64

    row = numbers + 1
    for line in summary_lines(report, lang):
        if line.counts is None:
            _put(ws, row, 1, line.number, lang, bold=True)
            _put(ws, row, 2, line.name, lang, bold=True)
            for c in range(3, n_cols + 1):
                _put(ws, row, c, None, lang)
        else:
            bold = line.kind == "total"
            _put(ws, row, 1, int(line.number) if line.number else None, lang, bold=bold)
            _put(ws, row, 2, line.name, lang, bold=bold)
            for offset, column in enumerate(SUMMARY_COLUMNS):
                _put(ws, row, 3 + offset, summary_value(column, line.counts), lang, bold=bold)
            if bold:
                for c in range(1, n_cols + 1):
                    ws.cell(row=row, column=c).fill = TOTAL_FILL
        row += 1
    row += 1
    for text in notes(report, lang):
        cell = ws.cell(row=row, column=1, value=text)
        cell.font = _font(italic=True, size=11)
        ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=n_cols)
        row += 1

    ws.column_dimensions["A"].width = 6
    ws.column_dimensions["B"].width = 38
    for c in range(3, n_cols + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12
    ws.freeze_panes = ws.cell(row=numbers + 1, column=3)
    ws.print_title_rows = f"{top}:{numbers}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _annex_sheet(ws: Worksheet, report: Report, annex: Annex, lang: Lang) -> None:
    n_cols = 1 + len(annex.columns)
    header = _title_block(ws, report, lang, n_cols, annex.title(lang))
    _header_cell(ws, header, 1, label("col_no", lang))
    for offset, column in enumerate(annex.columns, start=2):
        _header_cell(ws, header, offset, label(column.label_key, lang))
    ws.row_dimensions[header].height = 45
    row = header + 1
    if not annex.entries:
        ws.cell(row=row, column=2, value=label("annex_empty", lang)).font = _font(italic=True)
    for number, entry in enumerate(annex.entries, start=1):
        _put(ws, row, 1, number, lang)
        for offset, column in enumerate(annex.columns, start=2):
            _put(ws, row, offset, column.value(entry, lang), lang)
        row += 1
    ws.column_dimensions["A"].width = 6
    for offset, column in enumerate(annex.columns, start=2):
        ws.column_dimensions[get_column_letter(offset)].width = column.width
    ws.freeze_panes = ws.cell(row=header + 1, column=2)
    ws.print_title_rows = f"{header}:{header}"
    ws.page_setup.orientation = "landscape"


def sheet_title(text: str) -> str:
    """A valid worksheet name: no ``[]:*?/\\``, at most 31 characters."""
    for char in "[]:*?/\\":
        text = text.replace(char, "-")
    return text[:SHEET_NAME_MAX]


def render_xlsx(report: Report, lang: Lang | None = None) -> bytes:
    """The workbook as .xlsx bytes."""
    chosen: Lang = lang or report.lang
    workbook = Workbook()
    _register_styles(workbook)
    summary = workbook.active
    if summary is None:  # pragma: no cover - a new Workbook always has one sheet
        summary = workbook.create_sheet()
    summary.title = sheet_title(label("summary", chosen))
    _summary_sheet(summary, report, chosen)
    for annex in annexes(report):
        _annex_sheet(
            workbook.create_sheet(sheet_title(label(annex.sheet_key, chosen))),
            report,
            annex,
            chosen,
        )
    props = workbook.properties
    props.title = report.title
    props.subject = f"{report.period_label(chosen)}; {fmt_date(report.as_of, chosen)}"
    props.creator = "idesk-connector"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
