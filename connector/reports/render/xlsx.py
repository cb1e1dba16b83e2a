"""The report as an Excel workbook, laid out to print as the administrative document.

Sheet 1 (summary) reads like the Word report: the heading in two blocks (the governing and
issuing bodies and "Số: …/BC-TCT" on the left; quốc hiệu, the underlined tiêu ngữ, place and
date on the right), "BÁO CÁO" and its trích yếu, the period and "Tính đến ngày dd/mm/yyyy",
the summary in sentences; then a two-row header whose groups (Tổng số nhiệm vụ được giao / Đã
hoàn thành / Đang thực hiện) are merged cells, a row of column numbers (1), (2), …; one row per
unit under group headings I, II, …; a bold TỔNG CỘNG row whose figures are ``SUM`` formulas
over the unit rows (and whose rate is a formula over them); the notes, "Nơi nhận:" and the
signature. Then one sheet per annex: "Phụ lục I", its subject, "(Kèm theo Báo cáo số …)", its
header and tasks, with an empty "Nguyên nhân / ghi chú" column to fill in.

Printing: every sheet is A4 landscape with Decree 30's margins, fit to one page wide (as many
pages tall as it takes), its header rows repeated on every page (``print_title_rows``), and
rows as tall as their wrapped text needs (set explicitly: a spreadsheet program does not
measure merged or wrapped cells when it opens a file). Formulas carry no cached value: Excel
(``fullCalcOnLoad``) and LibreOffice compute them when the file is opened or converted.

Numbers stay numbers and dates stay dates (shown dd/mm/yyyy, in English yyyy-mm-dd); thin
borders, set column widths, panes frozen under the header. A text is always a text: a task whose
subject begins with "=" or reads "#N/A" is shown as typed, never computed as a formula or an
error (the SUM and rate formulas of the total row are the only formulas). Every text goes in
through `printable`: a control character pasted into a task at the source would otherwise stop
the report.

An annex may list tens of thousands of tasks. openpyxl holds every cell as an object until the
workbook is saved (316 MiB and 12 s at 100,000 tasks): openpyxl builds each annex sheet down to
its header, and the rows are written as text into the sheet's part as the file is saved
(`_AnnexRows`, `connector.reports.render.zipparts`), the same XML openpyxl writes for them
(``tests/unit/test_xlsx_rows.py``).
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.compat import safe_string
from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.workbook.properties import CalcProperties
from openpyxl.worksheet.dimensions import RowDimension
from openpyxl.worksheet.worksheet import Worksheet

from connector.i18n import Lang, fmt_date, label
from connector.reports.model import Report
from connector.reports.render.common import (
    SUMMARY_COLUMNS,
    Annex,
    Cell,
    DocumentText,
    annex_list_sentence,
    annexes,
    column_groups,
    document_text,
    head_lines,
    notes,
    printable,
    prose,
    summary_lines,
    summary_value,
)
from connector.reports.render.zipparts import ZIP64_ROWS, rewritten, write_rows

FONT = "Times New Roman"
_THIN = Side(style="thin")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
HEADER_FILL = PatternFill("solid", fgColor="F2F2F2")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
CENTER_TOP = Alignment(horizontal="center", vertical="top", wrap_text=True)
LEFT_WRAP = Alignment(horizontal="left", vertical="top", wrap_text=True)
JUSTIFY = Alignment(horizontal="justify", vertical="top", wrap_text=True)
DATE_FORMATS: dict[Lang, str] = {"vi": "DD/MM/YYYY", "en": "YYYY-MM-DD"}
"""How a date cell is shown: as the other formats write dates (`connector.i18n.fmt_date`)."""
SHEET_NAME_MAX = 31
TEXT_MAX = 32_767
"""Excel's longest cell text (openpyxl cuts a longer one there too)."""
KINDS = ("text", "int", "float", "date", "center")
"""The named styles of the table cells (`_register_styles`), plain and bold."""

FONT_PT = 12
LINE_PT = 15.75
"""Height of one line of 12 pt text (Excel's default row height for that size)."""
MAX_ROW_PT = 409.0
"""Excel's largest row height."""
CHARS_PER_WIDTH = 1.2
"""Characters of 12 pt Times New Roman that fit in one unit of column width (a little more
than one: Times is narrower than the default font the unit is measured in)."""

HEADER_PT = 11
"""The tables' header rows."""
UNIT_WIDTH = 30
FIGURE_WIDTH = 8
NO_WIDTH = 6
LEFT_BLOCK = 4
"""Columns (A–D) of the heading's left block and of "Nơi nhận:"."""
RATE_KEY = "on_time_rate.percent"

# Decree 30/2020/NĐ-CP margins, in inches: top and bottom 20 mm, left 30 mm, right 15 mm.
MARGIN_TOP = MARGIN_BOTTOM = 20 / 25.4
MARGIN_LEFT = 30 / 25.4
MARGIN_RIGHT = 15 / 25.4


def _font(
    bold: bool = False, italic: bool = False, size: float = FONT_PT, underline: bool = False
) -> Font:
    return Font(
        name=FONT, bold=bold, italic=italic, size=size, underline="single" if underline else None
    )


def text_lines(text: str, width: float) -> int:
    """How many lines `text` takes in a wrapped cell `width` units wide (at 12 pt)."""
    per_line = max(1, int(width * CHARS_PER_WIDTH) - 1)
    return sum(max(1, math.ceil(len(part) / per_line)) for part in (text or "").split("\n"))


def figure_width(header: str) -> float:
    """A summary figure column's width: `FIGURE_WIDTH`, or wider when a word of its header (bold
    11 pt) would not fit on a line: a word is never broken, and "Unconfirmed" printed as
    "Unconfirm" / "ed"."""
    longest = max((len(word) for word in header.split()), default=0)
    needed = math.ceil((longest + 1) / CHARS_PER_WIDTH * HEADER_PT / FONT_PT) + 1
    return max(FIGURE_WIDTH, needed)


def row_height(lines: int, size: float = FONT_PT) -> float:
    """Points for `lines` lines of `size` pt text, with a little room, capped at Excel's max."""
    return min(MAX_ROW_PT, lines * LINE_PT * size / FONT_PT + 3)


def _widths(ws: Worksheet, first: int, last: int) -> float:
    return sum(
        float(ws.column_dimensions[get_column_letter(c)].width or 8.43)
        for c in range(first, last + 1)
    )


def _line(
    ws: Worksheet,
    row: int,
    text: str,
    font: Font,
    *,
    first: int,
    last: int,
    align: Alignment = CENTER_TOP,
) -> None:
    """`text` across columns `first`..`last` of `row` (merged), the row as tall as it needs."""
    cell = _text_cell(ws, row, first, text)
    cell.font = font
    cell.alignment = align
    if last > first:
        ws.merge_cells(start_row=row, start_column=first, end_row=row, end_column=last)
    size = float(font.size or FONT_PT)
    lines = text_lines(text, _widths(ws, first, last) * FONT_PT / size)
    current = ws.row_dimensions[row].height or 0.0
    ws.row_dimensions[row].height = max(current, row_height(lines, size))


def _page_setup(ws: Worksheet, *, title_rows: str) -> None:
    """A4 landscape, Decree 30's margins, one page wide, `title_rows` on every page."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    margins = ws.page_margins
    margins.top, margins.bottom = MARGIN_TOP, MARGIN_BOTTOM
    margins.left, margins.right = MARGIN_LEFT, MARGIN_RIGHT
    margins.header = margins.footer = 10 / 25.4
    # The page number at the top centre, from page 2 (Decree 30).
    ws.HeaderFooter.differentFirst = True
    ws.oddHeader.center.text = "&P"
    ws.oddHeader.center.font = FONT
    ws.oddHeader.center.size = 13
    ws.print_title_rows = title_rows


def _text_cell(ws: Worksheet, row: int, col: int, text: str) -> SheetCell:
    """The cell holding `text` as a text (`printable`, at most `TEXT_MAX` characters; openpyxl
    would take one beginning with "=" as a formula); empty for no text."""
    cell = ws.cell(row=row, column=col)
    if shown := printable(text)[:TEXT_MAX]:
        cell.value = shown
        cell.data_type = "s"
    return cell


def _register_styles(workbook: Workbook, lang: Lang = "vi") -> None:
    """Named cell styles, registered once: setting one per cell is much cheaper than setting a
    font, a border and an alignment on each of thousands of annex cells. Dates are shown in
    `lang`'s way."""
    right = Alignment(horizontal="right", vertical="top")
    for bold in (False, True):
        suffix = "_b" if bold else ""
        font = _font(bold=bold)
        for kind, alignment, number_format in (
            ("text", LEFT_WRAP, "General"),
            ("int", right, "General"),
            ("float", right, "0.0"),
            ("date", Alignment(horizontal="center", vertical="top"), DATE_FORMATS[lang]),
            ("center", CENTER_TOP, "General"),
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


Stored = int | float | date | str | None
"""A cell's value as the workbook holds it."""


def _typed(value: Cell, lang: Lang, kind: str | None = None) -> tuple[str, Stored]:
    """The named style's kind (`KINDS`; `kind` when given) and the stored value of a cell of
    `value`: a `Decimal` as a float, a bool as Có/Không, centred."""
    stored: Stored
    if isinstance(value, Decimal):
        stored = float(value)
    elif isinstance(value, bool):
        stored = label("yes" if value else "no", lang)
        kind = kind or "center"
    else:
        stored = value
    if kind is None:
        if isinstance(stored, date):
            kind = "date"
        elif isinstance(stored, float):
            kind = "float"
        elif isinstance(stored, int):
            kind = "int"
        else:
            kind = "text"
    return kind, stored


def _put(
    ws: Worksheet,
    row: int,
    col: int,
    value: Cell,
    lang: Lang,
    *,
    bold: bool = False,
    kind: str | None = None,
    formula: bool = False,
) -> None:
    """A table cell of `value` in its named style (`_typed`); a text is a text (`_text_cell`)
    unless it is a `formula`."""
    kind, stored = _typed(value, lang, kind)
    if isinstance(stored, str) and not formula:
        cell = _text_cell(ws, row, col, stored)
    else:
        cell = ws.cell(row=row, column=col, value=stored)
    cell.style = f"report_{kind}_b" if bold else f"report_{kind}"


def _header_cell(ws: Worksheet, row: int, col: int, text: str, size: float = HEADER_PT) -> None:
    cell = _text_cell(ws, row, col, text)
    cell.font = _font(bold=True, size=size)
    cell.alignment = CENTER
    cell.border = BORDER
    cell.fill = HEADER_FILL


def _letterhead(ws: Worksheet, doc: DocumentText, n_cols: int) -> int:
    """The heading's two blocks, "BÁO CÁO" and the trích yếu; returns the next free row."""
    right_first = LEFT_BLOCK + 2
    left = [
        *([(doc.governing_body, _font(size=13))] if doc.governing_body else []),
        (doc.issuing_body, _font(bold=True, size=13)),
        (doc.reference, _font(size=13)),
    ]
    right = [
        (doc.national_title, _font(bold=True, size=12)),
        (doc.motto, _font(bold=True, size=13, underline=True)),
        (doc.place_date, _font(italic=True, size=13)),
    ]
    for offset in range(max(len(left), len(right))):
        row = 1 + offset
        if offset < len(left):
            text, font = left[offset]
            _line(ws, row, text, font, first=1, last=LEFT_BLOCK)
        if offset < len(right):
            text, font = right[offset]
            _line(ws, row, text, font, first=right_first, last=n_cols)
    row = max(len(left), len(right)) + 2
    _line(ws, row, doc.doc_type, _font(bold=True, size=14), first=1, last=n_cols)
    _line(ws, row + 1, doc.subject, _font(bold=True, size=14), first=1, last=n_cols)
    return row + 2


def _summary_table(ws: Worksheet, report: Report, lang: Lang, top: int) -> int:
    """The summary table from row `top`; returns the row after it."""
    n_cols = 2 + len(SUMMARY_COLUMNS)
    sub, numbers = top + 1, top + 2
    # STT and Đơn vị span both header rows.
    for col, key in ((1, "col_no"), (2, "col_unit")):
        _header_cell(ws, top, col, label(key, lang))
        _header_cell(ws, sub, col, "")
        ws.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
    col = 3
    index = 0
    sub_lines = 1
    for group, width in column_groups():
        if group is None:
            column = SUMMARY_COLUMNS[index]
            text = column.label(lang, report.fold)
            _header_cell(ws, top, col, text)
            _header_cell(ws, sub, col, "")
            ws.merge_cells(start_row=top, start_column=col, end_row=sub, end_column=col)
            sub_lines = max(sub_lines, text_lines(text, figure_width(text)) - 1)
        else:
            _header_cell(ws, top, col, label(group, lang))
            for offset in range(width):
                column = SUMMARY_COLUMNS[index + offset]
                text = column.label(lang, report.fold)
                _header_cell(ws, sub, col + offset, text)
                sub_lines = max(sub_lines, text_lines(text, figure_width(text)))
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
    ws.row_dimensions[top].height = row_height(2, 11)
    ws.row_dimensions[sub].height = row_height(sub_lines, 11)

    row = numbers + 1
    first_unit = row
    for line in summary_lines(report, lang):
        lines = text_lines(line.name, UNIT_WIDTH)
        if line.counts is None:
            # A group heading ("II  UBND các huyện, thị xã, thành phố") across the figures.
            _put(ws, row, 1, line.number, lang, bold=True, kind="center")
            _put(ws, row, 2, line.name, lang, bold=True)
            for c in range(3, n_cols + 1):
                _put(ws, row, c, None, lang)
            ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=n_cols)
            lines = 1
        elif line.kind == "total":
            _total_row(ws, row, (first_unit, row - 1), line.name, report)
        else:
            _put(ws, row, 1, int(line.number), lang, kind="center")
            _put(ws, row, 2, line.name, lang)
            for offset, column in enumerate(SUMMARY_COLUMNS):
                _put(ws, row, 3 + offset, summary_value(column, line.counts), lang)
        ws.row_dimensions[row].height = row_height(lines)
        row += 1
    ws.freeze_panes = f"C{numbers + 1}"
    ws.print_title_rows = f"{top}:{numbers}"
    return row


def _total_row(ws: Worksheet, row: int, units: tuple[int, int], name: str, report: Report) -> None:
    """TỔNG CỘNG: ``SUM`` of the unit rows above for each figure, the rate as a formula over
    the total's own cells (the same rule as the report's, `connector.reports.build`)."""
    first, last = units
    lang = report.lang
    _put(ws, row, 1, None, lang, bold=True)
    _put(ws, row, 2, name, lang, bold=True)
    letters = {c.key: get_column_letter(3 + i) for i, c in enumerate(SUMMARY_COLUMNS)}
    for offset, column in enumerate(SUMMARY_COLUMNS):
        col = 3 + offset
        letter = get_column_letter(col)
        if column.key == RATE_KEY:
            formula = _rate_formula(report, letters, row)
            _put(ws, row, col, formula, lang, bold=True, kind="float", formula=True)
        elif last < first:
            _put(ws, row, col, 0, lang, bold=True)
        else:
            total = f"=SUM({letter}{first}:{letter}{last})"
            _put(ws, row, col, total, lang, bold=True, kind="int", formula=True)
    for c in range(1, 3 + len(SUMMARY_COLUMNS)):
        ws.cell(row=row, column=c).fill = TOTAL_FILL


def _rate_formula(report: Report, letters: dict[str, str], row: int) -> str:
    """The on-time rate of `row` in percent, one decimal, "—" when its denominator is 0.

    The on-time column already holds the rate's numerator (``D``, with fold ``D+K``); the
    denominator is on-time + late (``done``), plus open overdue (``due``), or the total
    (``all``).
    """
    on_time = f"{letters['done.on_time']}{row}"
    if report.denominator.value == "all":
        base = f"{letters['total']}{row}"
    else:
        parts = [on_time, f"{letters['done.late']}{row}"]
        if report.denominator.value == "due":
            parts.append(f"{letters['open.overdue']}{row}")
        base = "(" + "+".join(parts) + ")"
    na = label("rate_na", report.lang)
    return f'=IF({base}=0,"{na}",ROUND(100*{on_time}/{base},1))'


def _paragraphs(ws: Worksheet, row: int, texts: Sequence[str], n_cols: int, **font: bool) -> int:
    for text in texts:
        _line(ws, row, text, _font(**font), first=1, last=n_cols, align=JUSTIFY)
        row += 1
    return row


def _signature(ws: Worksheet, doc: DocumentText, row: int, n_cols: int) -> int:
    right_first = LEFT_BLOCK + 2
    left = [(doc.recipients_heading, _font(bold=True, italic=True, size=12))]
    left += [(line, _font(size=11)) for line in doc.recipients]
    right = []
    if doc.signer_authority:
        right.append((doc.signer_authority, _font(bold=True, size=14)))
    right.append((doc.signer_title, _font(bold=True, size=14)))
    right += [("", _font())] * 3
    if doc.signer_name:
        right.append((doc.signer_name, _font(bold=True, size=14)))
    for offset in range(max(len(left), len(right))):
        if offset < len(left):
            text, font = left[offset]
            _line(ws, row + offset, text, font, first=1, last=LEFT_BLOCK, align=LEFT_WRAP)
        if offset < len(right):
            text, font = right[offset]
            _line(ws, row + offset, text, font, first=right_first, last=n_cols)
    return row + max(len(left), len(right))


def _summary_sheet(ws: Worksheet, report: Report, lang: Lang) -> None:
    n_cols = 2 + len(SUMMARY_COLUMNS)
    ws.column_dimensions["A"].width = NO_WIDTH
    ws.column_dimensions["B"].width = UNIT_WIDTH
    for c, column in enumerate(SUMMARY_COLUMNS, start=3):
        width = figure_width(column.label(lang, report.fold))
        ws.column_dimensions[get_column_letter(c)].width = width
    doc = document_text(report, lang)
    row = _letterhead(ws, doc, n_cols)
    for line in head_lines(report, lang):
        _line(ws, row, line, _font(italic=True, size=13), first=1, last=n_cols)
        row += 1
    row = _paragraphs(ws, row + 1, [*prose(report, lang), label("prose_table", lang)], n_cols)
    row = _summary_table(ws, report, lang, row + 1)
    row = _paragraphs(ws, row + 1, notes(report, lang), n_cols, italic=True)
    row = _paragraphs(ws, row + 1, [annex_list_sentence(report, lang), doc.closing], n_cols)
    _signature(ws, doc, row + 1, n_cols)
    title_rows = ws.print_title_rows or ""
    _page_setup(ws, title_rows=title_rows)


def _escaped(text: str) -> str:
    """`text` as openpyxl writes it in a cell (lxml's text escaping, ASCII with character
    references)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\r", "&#13;").encode("ascii", "xmlcharrefreplace").decode("ascii")


def _cell_xml(ref: str, style: int, value: Stored, epoch: datetime) -> str:
    """The XML openpyxl writes for the cell `ref` holding `value` (as `_put` stores it) in the
    cell style `style`."""
    if isinstance(value, str):
        value = printable(value)[:TEXT_MAX] or None
    if value is None:
        return f'<c r="{ref}" s="{style}" t="n"></c>'
    if isinstance(value, str):
        space = ' xml:space="preserve"' if value != value.strip() else ""
        text = _escaped(value)
        return f'<c r="{ref}" s="{style}" t="inlineStr"><is><t{space}>{text}</t></is></c>'
    number = to_excel(value, epoch) if isinstance(value, date) else value
    return f'<c r="{ref}" s="{style}" t="n"><v>{safe_string(number)}</v></c>'


@functools.lru_cache(maxsize=256)
def _row_attributes(height: float) -> str:
    """The attributes openpyxl writes after ``r`` for a row of `height` points."""
    dimension = RowDimension(Worksheet(Workbook()), index=1, ht=height)
    return "".join(f' {key}="{value}"' for key, value in dimension)


def _style_ids(workbook: Workbook) -> dict[str, int]:
    """The cell style number (``s``) of each table cell kind (`KINDS`, not bold), as openpyxl
    numbers it in this workbook: read from cells of a sheet made for it, then removed."""
    scratch = workbook.create_sheet()
    ids: dict[str, int] = {}
    for column, kind in enumerate(KINDS, start=1):
        cell = scratch.cell(row=1, column=column)
        cell.style = f"report_{kind}"
        ids[kind] = cell.style_id
    workbook.remove(scratch)
    return ids


@dataclass(frozen=True)
class _AnnexRows:
    """The data rows of one annex sheet, from `first_row`, made when the workbook is saved:
    the XML openpyxl writes for the cells and rows heights `_put` and `row_height` give them."""

    ws: Worksheet
    annex: Annex
    lang: Lang
    first_row: int
    styles: Mapping[str, int]

    def __len__(self) -> int:
        return len(self.annex.entries)

    def rows(self) -> Iterator[str]:
        columns = self.annex.columns
        letters = [get_column_letter(c) for c in range(2, len(columns) + 2)]
        styles, lang, epoch = self.styles, self.lang, self.ws.parent.epoch
        for number, entry in enumerate(self.annex.entries, start=1):
            row = self.first_row + number - 1
            cells = [_cell_xml(f"A{row}", styles["center"], number, epoch)]
            lines = 1
            for letter, column in zip(letters, columns, strict=True):
                value = column.value(entry, lang)
                kind, stored = _typed(value, lang)
                cells.append(_cell_xml(f"{letter}{row}", styles[kind], stored, epoch))
                if column.wrap and isinstance(value, str):
                    lines = max(lines, text_lines(value, column.width))
            attributes = _row_attributes(row_height(lines))
            yield f'<row r="{row}"{attributes}>{"".join(cells)}</row>'

    def write(self, part: bytes, stream: IO[bytes]) -> None:
        """The sheet's part as openpyxl saved it (down to the header), with the rows."""
        head, end, tail = part.partition(b"</sheetData>")
        if not end:
            raise ValueError(f"{self.ws.title}: the saved sheet has no rows to add to")
        last = self.first_row + len(self) - 1
        head = _DIMENSION.sub(rb"\g<1>" + str(last).encode() + b'"', head, count=1)
        stream.write(head)
        write_rows(stream, self.rows())
        stream.write(end + tail)


_DIMENSION = re.compile(rb'(<dimension ref="[A-Z]+[0-9]+:[A-Z]+)[0-9]+"')


def _annex_sheet(
    ws: Worksheet, report: Report, annex: Annex, lang: Lang, styles: Mapping[str, int]
) -> _AnnexRows | None:
    """The annex sheet down to its header; its rows to write when the workbook is saved
    (None: the annex is empty, and says so)."""
    n_cols = 1 + len(annex.columns)
    ws.column_dimensions["A"].width = NO_WIDTH
    for offset, column in enumerate(annex.columns, start=2):
        ws.column_dimensions[get_column_letter(offset)].width = column.width
    doc = document_text(report, lang)
    _line(ws, 1, annex.heading(lang), _font(bold=True, size=14), first=1, last=n_cols)
    _line(ws, 2, annex.subject(lang).upper(), _font(bold=True, size=14), first=1, last=n_cols)
    _line(ws, 3, doc.annex_attached, _font(italic=True, size=13), first=1, last=n_cols)
    header = 5
    _header_cell(ws, header, 1, label("col_no", lang))
    header_lines = 1
    for offset, column in enumerate(annex.columns, start=2):
        text = label(column.label_key, lang)
        _header_cell(ws, header, offset, text)
        header_lines = max(header_lines, text_lines(text, column.width))
    ws.row_dimensions[header].height = row_height(header_lines, 11)
    ws.freeze_panes = f"B{header + 1}"
    _page_setup(ws, title_rows=f"{header}:{header}")
    if not annex.entries:
        _text_cell(ws, header + 1, 2, label("annex_empty", lang)).font = _font(italic=True)
        return None
    return _AnnexRows(ws, annex, lang, header + 1, styles)


def sheet_title(text: str) -> str:
    """A valid worksheet name: no ``[]:*?/\\``, at most 31 characters."""
    for char in "[]:*?/\\":
        text = text.replace(char, "-")
    return text[:SHEET_NAME_MAX]


def render_xlsx(report: Report, lang: Lang | None = None) -> bytes:
    """The workbook as .xlsx bytes."""
    return render_xlsx_sections([("", report)], lang)


SECTION_PREFIX_MAX = 12
"""Characters of a source's name before each of its sheets' names (``--by source``)."""


def render_xlsx_sections(sections: Sequence[tuple[str, Report]], lang: Lang | None = None) -> bytes:
    """One workbook holding several reports (``report --by source``): each (source, report)'s
    summary and annex sheets, their names led by the source's name (a source ``""``: the
    sheets as `render_xlsx` names them). The properties are the first report's."""
    report = sections[0][1]
    chosen: Lang = lang or report.lang
    workbook = Workbook()
    _register_styles(workbook, chosen)
    styles = _style_ids(workbook)
    first = workbook.active
    seen: set[str] = set()

    def sheet(source: str, key: str) -> Worksheet:
        name = label(key, chosen)
        title = sheet_title(f"{source[:SECTION_PREFIX_MAX]} {name}" if source else name)
        n = 1
        while title.casefold() in seen:  # Excel compares sheet names without case
            n += 1
            title = sheet_title(f"{n} {title}")
        seen.add(title.casefold())
        return workbook.create_sheet(title)

    rows: list[_AnnexRows] = []
    for source, one in sections:
        _summary_sheet(sheet(source, "summary"), one, chosen)
        for annex in annexes(one):
            found = _annex_sheet(sheet(source, annex.sheet_key), one, annex, chosen, styles)
            rows += [found] if found is not None else []
    if first is not None:
        workbook.remove(first)
    workbook.calculation = CalcProperties(fullCalcOnLoad=True)
    props = workbook.properties
    props.title = report.title
    props.subject = f"{report.period_label(chosen)}; {fmt_date(report.as_of, chosen)}"
    props.creator = "idesk-connector"
    buffer = io.BytesIO()
    workbook.save(buffer)
    # The parts are named when the workbook is saved (``ws.path``: "/xl/worksheets/sheetN.xml").
    parts = {annex.ws.path.lstrip("/"): annex.write for annex in rows}
    big = sum(len(annex) for annex in rows) > ZIP64_ROWS
    return rewritten(buffer.getvalue(), parts, zip64=big) if parts else buffer.getvalue()
