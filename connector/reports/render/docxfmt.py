"""The report as a Word document: the administrative report a Working Group signs and sends.

Offices edit and sign reports in Word, so this is the format that is actually sent. It follows
Decree 30/2020/NĐ-CP on văn thư:

* A4 portrait body; margins top and bottom 20 mm, left 30 mm, right 15 mm; Times New Roman,
  14 pt for the text, 13 pt for the heading; page numbers at the top centre from page 2.
* The heading in two columns: the governing body over the issuing body (bold) and "Số:
  …/BC-TCT" on the left; quốc hiệu (bold), tiêu ngữ (bold, underlined) and "Bình Định, ngày 30
  tháng 5 năm 2022" (italic) on the right. Then "BÁO CÁO" and its trích yếu.
* The body: the summary in sentences, the summary table (three header rows, repeated on every
  page; the TỔNG CỘNG row bold), the notes, the list of annexes and the closing line.
* "Nơi nhận:" (bold italic, 12 pt; the list 11 pt) beside the signer's authority, title and
  name (bold).
* One A4 landscape section per annex: "Phụ lục I", its subject, "(Kèm theo Báo cáo số …/BC-TCT
  ngày … của …)", and its table (9 pt, header row repeated, an empty "Nguyên nhân / ghi chú"
  column for the unit to fill in).

Column widths are written both as the table grid and on every cell, which Word and LibreOffice
each need; tables have a fixed layout.

An annex may list tens of thousands of tasks. Its rows are not built as python-docx objects (an
lxml element per row, cell, paragraph and run: 1.3 GB and a minute for 38,785 rows): python-docx
builds the table's header and two sample rows (kept on one page or not), the samples become text
templates (`_RowTemplate`), and the rows are written from them, escaped, straight into
``word/document.xml`` as the file is saved (`_Rows`, `_saved`, `connector.reports.render.
zipparts`), a thousand at a time. A cell whose text is not plain (a tab, a line break, a space
at either end, a character XML forbids) gets its run from python-docx, as before.

Every text goes in through `printable` (a control character pasted into a task at the source
would otherwise stop the report: XML cannot hold it).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_CELL_VERTICAL_ALIGNMENT, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.styles import CT_Style
from docx.section import Section
from docx.shared import Length, Mm, Pt
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph
from lxml import etree

from connector.i18n import Lang, label
from connector.reports.model import Report
from connector.reports.render.common import (
    ANNEX_NO_MM,
    SUMMARY_COLUMNS,
    Annex,
    DocumentText,
    annex_list_sentence,
    annexes,
    cell_text,
    column_groups,
    document_text,
    head_lines,
    header_label,
    notes,
    printable,
    prose,
    summary_lines,
    summary_value,
)
from connector.reports.render.zipparts import ZIP64_ROWS, rewritten, write_rows

FONT = "Times New Roman"
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGIN_TOP_MM, MARGIN_BOTTOM_MM, MARGIN_LEFT_MM, MARGIN_RIGHT_MM = 20, 20, 30, 15
TEXT_PT, HEAD_PT, TABLE_PT, SUMMARY_PT, SUMMARY_HEAD_PT = 14, 13, 9, 9, 7.5
SUMMARY_HEAD_PT_EN = 7.0
"""The English summary header's size: its words are longer than Vietnamese syllables, and at
7.5 pt "months" is wider than a figure column (the longer words break at their soft hyphens,
`header_label`)."""
BODY_WIDTH_MM = PAGE_WIDTH_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM
WIDE_WIDTH_MM = PAGE_HEIGHT_MM - MARGIN_LEFT_MM - MARGIN_RIGHT_MM
SUMMARY_NO_MM, SUMMARY_UNIT_MM = 8.0, 32.0
LEFT_HEAD_MM = 62.0
"""Width of the heading's left column (issuing body, number) and of "Nơi nhận:"."""
CELL_PADDING_TWIPS = 43
"""0.75 mm of padding left and right in table cells."""
CANT_SPLIT_CHARS = 600
"""Rows with less text than this are kept on one page; longer ones may break across pages."""

STYLE_TABLE = "Report Table"
STYLE_TABLE_HEAD = "Report Table Header"
STYLE_SUMMARY = "Report Summary"
STYLE_SUMMARY_HEAD = "Report Summary Header"


# -- low-level helpers -------------------------------------------------------------------------


def _set_fonts(style: CT_Style, name: str) -> None:
    """Times New Roman for every script (ascii, hAnsi, east Asian, complex)."""
    rpr = style.get_or_add_rPr()
    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attr), name)


def _styles(document: DocumentObject, lang: Lang) -> None:
    normal = document.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(TEXT_PT)
    _set_fonts(normal.element, FONT)
    fmt = normal.paragraph_format
    fmt.space_before = Pt(0)
    fmt.space_after = Pt(0)
    fmt.line_spacing = 1.0
    for name, size, bold, centered in (
        (STYLE_TABLE, TABLE_PT, False, False),
        (STYLE_TABLE_HEAD, TABLE_PT, True, True),
        (STYLE_SUMMARY, SUMMARY_PT, False, False),
        (STYLE_SUMMARY_HEAD, SUMMARY_HEAD_PT_EN if lang == "en" else SUMMARY_HEAD_PT, True, True),
    ):
        style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = normal
        style.font.size = Pt(size)
        style.font.bold = bold
        style.paragraph_format.space_before = Pt(1)
        style.paragraph_format.space_after = Pt(1)
        if centered:
            style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _page(section: Section, *, landscape: bool) -> None:
    """A4 in the given orientation with Decree 30's margins."""
    width, height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = (height, width) if landscape else (width, height)
    section.top_margin = Mm(MARGIN_TOP_MM)
    section.bottom_margin = Mm(MARGIN_BOTTOM_MM)
    section.left_margin = Mm(MARGIN_LEFT_MM)
    section.right_margin = Mm(MARGIN_RIGHT_MM)
    section.header_distance = Mm(10)
    section.footer_distance = Mm(10)


def _page_numbers(section: Section) -> None:
    """The page number at the top centre, from page 2 (Decree 30)."""
    section.different_first_page_header_footer = True
    paragraph = section.header.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    run.font.size = Pt(HEAD_PT)
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind is not None:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        else:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)


def _para(
    container: DocumentObject | _Cell,
    text: str = "",
    *,
    size: float | None = None,
    bold: bool = False,
    italic: bool = False,
    underline: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = WD_ALIGN_PARAGRAPH.CENTER,
    before: float = 0,
    after: float = 0,
    indent_first: Length | None = None,
    first: bool = False,
) -> Paragraph:
    """A paragraph of one run; in a cell, `first` fills the cell's own first paragraph."""
    paragraph: Paragraph
    if first and isinstance(container, _Cell):
        paragraph = container.paragraphs[0]
    else:
        paragraph = container.add_paragraph()
    if align is not None:
        paragraph.alignment = align
    fmt = paragraph.paragraph_format
    fmt.space_before = Pt(before)
    fmt.space_after = Pt(after)
    if indent_first is not None:
        fmt.first_line_indent = indent_first
    if text := printable(text):
        run = paragraph.add_run(text)
        run.bold = bold or None
        run.italic = italic or None
        run.underline = underline or None
        if size is not None:
            run.font.size = Pt(size)
    return paragraph


def _rule(container: DocumentObject | _Cell, width_mm: float, length_mm: float) -> None:
    """A short centred horizontal line under the paragraph before it (the one under the issuing
    body, the trích yếu and an annex's heading): the top border of an empty, 1 pt paragraph."""
    paragraph = _para(container, before=5)
    side = Mm(max(0.0, (width_mm - length_mm) / 2))
    fmt = paragraph.paragraph_format
    fmt.left_indent = side
    fmt.right_indent = side
    fmt.line_spacing = Pt(1)
    ppr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    top = OxmlElement("w:top")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000")):
        top.set(qn(key), value)
    borders.append(top)
    ppr.insert_element_before(borders, *_AFTER_PBDR)


_AFTER_PBDR = (
    "w:shd",
    "w:tabs",
    "w:suppressAutoHyphens",
    "w:kinsoku",
    "w:wordWrap",
    "w:overflowPunct",
    "w:topLinePunct",
    "w:autoSpaceDE",
    "w:autoSpaceDN",
    "w:bidi",
    "w:adjustRightInd",
    "w:snapToGrid",
    "w:spacing",
    "w:ind",
    "w:contextualSpacing",
    "w:mirrorIndents",
    "w:suppressOverlap",
    "w:jc",
    "w:textDirection",
    "w:textAlignment",
    "w:textboxTightWrap",
    "w:outlineLvl",
    "w:divId",
    "w:cnfStyle",
    "w:rPr",
    "w:sectPr",
    "w:pPrChange",
)
"""The children of ``w:pPr`` that come after ``w:pBdr`` (the schema fixes their order)."""


def _table(container: DocumentObject, widths_mm: Sequence[float], *, grid: bool) -> Table:
    """An empty table with fixed column widths (grid lines or none), centred."""
    table: Table = container.add_table(rows=0, cols=len(widths_mm))
    if grid:
        table.style = container.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths_mm, strict=True):
        column.width = Mm(width)
    tblpr = table._tbl.tblPr
    margins = OxmlElement("w:tblCellMar")
    for side in ("w:left", "w:right"):
        element = OxmlElement(side)
        element.set(qn("w:w"), str(CELL_PADDING_TWIPS if grid else 0))
        element.set(qn("w:type"), "dxa")
        margins.append(element)
    tblpr.insert_element_before(margins, "w:tblLook", "w:tblCaption", "w:tblDescription")
    return table


def _row(
    table: Table, *, header: bool = False, keep: bool = True, widths: Sequence[Any] | None = None
) -> _Row:
    """A new row, each cell its column's width; `header` repeats it atop each page, `keep` keeps
    it on one page. `widths`: the table's grid column widths (`_grid_widths`), for a table of
    many rows: python-docx's ``add_row`` looks the grid up among every row already added (an
    annex of 40,000 lines took minutes)."""
    if widths is None:
        row: _Row = table.add_row()  # type: ignore[no-untyped-call]  # python-docx: no annotation
    else:
        tr = table._tbl.add_tr()
        for width in widths:
            tc = tr.add_tc()
            if width is not None:
                tc.width = width
        row = _Row(tr, table)
    trpr = row._tr.get_or_add_trPr()
    if keep:
        trpr.append(OxmlElement("w:cantSplit"))
    if header:
        element = OxmlElement("w:tblHeader")
        element.set(qn("w:val"), "true")
        trpr.append(element)
    return row


def _grid_widths(table: Table) -> list[Any]:
    """The widths of a table's grid columns (what ``add_row`` gives the cells of a new row)."""
    return [col.w for col in table._tbl.tblGrid.gridCol_lst]


def _fill(
    cell: _Cell,
    text: str,
    style: str,
    *,
    bold: bool = False,
    italic: bool = False,
    align: WD_ALIGN_PARAGRAPH | None = None,
) -> None:
    paragraph = cell.paragraphs[0]
    # The style's id is its name without spaces (python-docx's rule for a style it adds);
    # setting it directly skips a lookup of the whole style table for each of many cells.
    paragraph._p.style = style.replace(" ", "")
    if align is not None:
        paragraph.alignment = align
    if text := printable(text):
        run = paragraph.add_run(text)
        if bold:
            run.bold = True
        if italic:
            run.italic = True


# -- the parts of the document -----------------------------------------------------------------


def _letterhead(document: DocumentObject, doc: DocumentText) -> None:
    right_mm = BODY_WIDTH_MM - LEFT_HEAD_MM
    table = _table(document, (LEFT_HEAD_MM, right_mm), grid=False)
    row = _row(table)
    left, right = row.cells
    first = True
    if doc.governing_body:
        _para(left, doc.governing_body, size=HEAD_PT, first=True)
        first = False
    _para(left, doc.issuing_body, size=HEAD_PT, bold=True, first=first)
    _rule(left, LEFT_HEAD_MM, 22)
    _para(left, doc.reference, size=HEAD_PT, before=4)
    _para(right, doc.national_title, size=12, bold=True, first=True)
    _para(right, doc.motto, size=TEXT_PT, bold=True, underline=True)
    _para(right, doc.place_date, size=TEXT_PT, italic=True, before=8)


def _summary(document: DocumentObject, report: Report, lang: Lang) -> None:
    figures = len(SUMMARY_COLUMNS)
    figure_mm = (BODY_WIDTH_MM - SUMMARY_NO_MM - SUMMARY_UNIT_MM) / figures
    widths = (SUMMARY_NO_MM, SUMMARY_UNIT_MM, *([figure_mm] * figures))
    table = _table(document, widths, grid=True)
    top = _row(table, header=True)
    sub = _row(table, header=True)
    numbers = _row(table, header=True)
    for row in (top, sub):
        for cell in row.cells:
            cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    _fill(top.cells[0], label("col_no", lang), STYLE_SUMMARY_HEAD)
    _fill(top.cells[1], label("col_unit", lang), STYLE_SUMMARY_HEAD)
    top.cells[0].merge(sub.cells[0])
    top.cells[1].merge(sub.cells[1])
    col = 2
    index = 0
    for group, width in column_groups():
        if group is None:
            column = SUMMARY_COLUMNS[index]
            _fill(
                top.cells[col],
                header_label(column.label(lang, report.fold), lang),
                STYLE_SUMMARY_HEAD,
            )
            top.cells[col].merge(sub.cells[col])
        else:
            _fill(top.cells[col], label(group, lang), STYLE_SUMMARY_HEAD)
            for offset in range(width):
                column = SUMMARY_COLUMNS[index + offset]
                text = header_label(column.label(lang, report.fold), lang)
                _fill(sub.cells[col + offset], text, STYLE_SUMMARY_HEAD)
            top.cells[col].merge(top.cells[col + width - 1])
        col += width
        index += width
    for number, cell in enumerate(numbers.cells, start=1):
        _fill(cell, f"({number})", STYLE_SUMMARY, italic=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    for line in summary_lines(report, lang):
        row = _row(table)
        cells = row.cells
        if line.counts is None:
            _fill(cells[0], line.number, STYLE_SUMMARY, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
            _fill(cells[1].merge(cells[-1]), line.name, STYLE_SUMMARY, bold=True, italic=True)
            continue
        bold = line.kind == "total"
        _fill(cells[0], line.number, STYLE_SUMMARY, bold=bold, align=WD_ALIGN_PARAGRAPH.CENTER)
        _fill(cells[1], line.name, STYLE_SUMMARY, bold=bold)
        for offset, column in enumerate(SUMMARY_COLUMNS, start=2):
            text = cell_text(summary_value(column, line.counts), lang)
            _fill(cells[offset], text, STYLE_SUMMARY, bold=bold, align=WD_ALIGN_PARAGRAPH.RIGHT)


def _signature(document: DocumentObject, doc: DocumentText) -> None:
    right_mm = BODY_WIDTH_MM - LEFT_HEAD_MM
    table = _table(document, (LEFT_HEAD_MM, right_mm), grid=False)
    row = _row(table)
    left, right = row.cells
    _para(
        left,
        doc.recipients_heading,
        size=12,
        bold=True,
        italic=True,
        align=WD_ALIGN_PARAGRAPH.LEFT,
        first=True,
    )
    for line in doc.recipients:
        _para(left, line, size=11, align=WD_ALIGN_PARAGRAPH.LEFT)
    first = True
    if doc.signer_authority:
        _para(right, doc.signer_authority, size=TEXT_PT, bold=True, first=True)
        first = False
    _para(right, doc.signer_title, size=TEXT_PT, bold=True, first=first)
    for _ in range(4):
        _para(right, "", size=TEXT_PT)
    if doc.signer_name:
        _para(right, doc.signer_name, size=TEXT_PT, bold=True)


# -- annex rows, written as text ---------------------------------------------------------------

_NAMESPACES = re.compile(r' xmlns:[A-Za-z0-9]+="[^"]*"')
_PLAIN = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]*")
"""Text a run holds as one ``w:t`` as it is: no tab or line break (python-docx makes those
``w:tab`` and ``w:br``) and no character XML forbids (nor DEL or a C1 control, `printable`)."""
_ROWS_MARK = "idesk-annex-rows"
_DOCUMENT_PART = "word/document.xml"


def _xml(element: Any) -> str:
    """An element as XML text, without the namespace declarations its document already has."""
    return _NAMESPACES.sub("", etree.tostring(element, encoding="unicode"))


@dataclass(frozen=True)
class _RowTemplate:
    """A data row of an annex table as text: `parts` around each cell's run (`row`)."""

    parts: tuple[str, ...]

    @classmethod
    def of(
        cls, table: Table, widths: Sequence[Any], aligns: Sequence[bool], keep: bool
    ) -> _RowTemplate:
        """The template of a row `_row` and `_fill` would add to `table` (`aligns`: whether
        each cell is centred), made from one such row, then taken out of the table."""
        row = _row(table, keep=keep, widths=widths)
        for cell, centred in zip(row.cells, aligns, strict=True):
            align = WD_ALIGN_PARAGRAPH.CENTER if centred else None
            _fill(cell, "", STYLE_TABLE, align=align)
        text = _xml(row._tr)
        table._tbl.remove(row._tr)
        parts = tuple(text.split("</w:p>"))
        if len(parts) != len(aligns) + 1:
            raise ValueError(f"an annex row template has {len(parts) - 1} paragraphs")
        return cls(tuple(part if i == 0 else "</w:p>" + part for i, part in enumerate(parts)))

    def row(self, runs: Sequence[str]) -> str:
        out = [self.parts[0]]
        for run, part in zip(runs, self.parts[1:], strict=True):
            out.append(run)
            out.append(part)
        return "".join(out)


def _run(text: str) -> str:
    """The run `_fill` gives a cell of `text` (none for no text), as XML text."""
    if not text:
        return ""
    if _PLAIN.fullmatch(text) and text.strip() == text:
        return f"<w:r><w:t>{escape(text)}</w:t></w:r>"
    text = printable(text)
    if not text:
        return ""
    # python-docx's rules for the rest (a paragraph outside any document: no part needed)
    scratch = Paragraph(OxmlElement("w:p"), None)  # type: ignore[arg-type]
    scratch.add_run(text)
    return "".join(_xml(r) for r in scratch._p.r_lst)


@dataclass
class _AnnexRows:
    """The data rows of one annex table, made when the document is saved."""

    annex: Annex
    lang: Lang
    kept: _RowTemplate
    split: _RowTemplate

    def __len__(self) -> int:
        return len(self.annex.entries)

    def rows(self) -> Iterator[str]:
        columns = self.annex.columns
        for number, entry in enumerate(self.annex.entries, start=1):
            texts = [cell_text(column.value(entry, self.lang), self.lang) for column in columns]
            keep = sum(len(t) for t in texts) < CANT_SPLIT_CHARS
            template = self.kept if keep else self.split
            yield template.row([_run(str(number)), *(_run(t) for t in texts)])


@dataclass
class _Rows:
    """The annex tables of a document whose rows are written at saving (`_saved`): each table
    holds a comment naming its place in `tables` where its rows go."""

    tables: list[_AnnexRows] = field(default_factory=list)

    def add(self, table: Table, rows: _AnnexRows) -> None:
        table._tbl.append(etree.Comment(f"{_ROWS_MARK}:{len(self.tables)}"))
        self.tables.append(rows)


def _annex(
    document: DocumentObject, annex: Annex, doc: DocumentText, lang: Lang, rows: _Rows
) -> None:
    section = document.add_section(WD_SECTION.NEW_PAGE)
    _page(section, landscape=True)
    _continue_page_numbers(section)
    _para(document, annex.heading(lang), size=TEXT_PT, bold=True)
    _para(document, annex.subject(lang).upper(), size=TEXT_PT, bold=True)
    _para(document, doc.annex_attached, size=TEXT_PT, italic=True)
    _rule(document, WIDE_WIDTH_MM, 50)
    _para(document, "", size=6)
    if not annex.entries:
        _para(document, label("annex_empty", lang), italic=True, align=WD_ALIGN_PARAGRAPH.LEFT)
        return
    raw = (ANNEX_NO_MM, *(c.mm for c in annex.columns))
    scale = WIDE_WIDTH_MM / sum(raw)
    widths = tuple(w * scale for w in raw)
    table = _table(document, widths, grid=True)
    head = _row(table, header=True)
    _fill(head.cells[0], label("col_no", lang), STYLE_TABLE_HEAD)
    for cell, column in zip(head.cells[1:], annex.columns, strict=True):
        cell.vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
        _fill(cell, label(column.label_key, lang), STYLE_TABLE_HEAD)
    head.cells[0].vertical_alignment = WD_CELL_VERTICAL_ALIGNMENT.CENTER
    grid = _grid_widths(table)
    aligns = (True, *(not column.wrap for column in annex.columns))
    kept = _RowTemplate.of(table, grid, aligns, keep=True)
    split = _RowTemplate.of(table, grid, aligns, keep=False)
    rows.add(table, _AnnexRows(annex, lang, kept, split))


def render_docx(report: Report, lang: Lang | None = None) -> bytes:
    """The report as .docx bytes (see the module docstring)."""
    chosen: Lang = lang or report.lang
    document = Document()
    _styles(document, chosen)
    section = document.sections[0]
    _page(section, landscape=False)
    _page_numbers(section)
    rows = _Rows()
    _document(document, report, chosen, rows)
    _properties(document, report, chosen)
    return _saved(document, rows)


def render_docx_sections(sections: Sequence[tuple[str, Report]], lang: Lang) -> bytes:
    """``report --by source``: every source's report, one after the other in one file; each
    starts on a new A4 portrait page under a heading "Nguồn: NAME" ("Source: NAME") and keeps
    its own heading, body, signature and annexes (each source's document can be cut out and
    sent on its own). No section: an empty document."""
    document = Document()
    _styles(document, lang)
    first = document.sections[0]
    _page(first, landscape=False)
    _page_numbers(first)
    rows = _Rows()
    for index, (source, report) in enumerate(sections):
        if index:
            section = document.add_section(WD_SECTION.NEW_PAGE)
            _page(section, landscape=False)
            _restart_page_numbers(section)
        heading = label("source_section", lang, source=source)
        _para(document, heading, size=TEXT_PT, bold=True, align=WD_ALIGN_PARAGRAPH.LEFT, after=6)
        _document(document, report, lang, rows)
    if sections:
        _properties(document, sections[0][1], lang)
    return _saved(document, rows)


def _continue_page_numbers(section: Section) -> None:
    """`section`'s pages go on with the previous section's numbers (a new section copies the
    last one's properties, a restart included)."""
    sect_pr = section._sectPr  # python-docx has no API for w:pgNumType
    for old in sect_pr.findall(qn("w:pgNumType")):
        sect_pr.remove(old)


def _restart_page_numbers(section: Section) -> None:
    """Number `section`'s pages from 1 again: each source's document is numbered on its own."""
    _continue_page_numbers(section)
    sect_pr = section._sectPr  # python-docx has no API for w:pgNumType
    numbering = OxmlElement("w:pgNumType")
    numbering.set(qn("w:start"), "1")
    sect_pr.append(numbering)


def _document(document: DocumentObject, report: Report, chosen: Lang, rows: _Rows) -> None:
    """One report's document, from the letterhead to its last annex, at the end of `document`."""
    doc = document_text(report, chosen)
    body = WD_ALIGN_PARAGRAPH.JUSTIFY
    indent = Mm(12.7)

    _letterhead(document, doc)
    _para(document, doc.doc_type, size=TEXT_PT, bold=True, before=18)
    _para(document, doc.subject, size=TEXT_PT, bold=True)
    _rule(document, BODY_WIDTH_MM, 40)
    for line in head_lines(report, chosen):
        _para(document, line, size=HEAD_PT, italic=True, before=3)
    for index, text in enumerate(prose(report, chosen)):
        _para(document, text, align=body, before=12 if index == 0 else 6, indent_first=indent)
    _para(
        document, label("prose_table", chosen), align=body, before=6, after=6, indent_first=indent
    )
    _summary(document, report, chosen)
    for text in notes(report, chosen):
        _para(document, text, size=12, italic=True, align=WD_ALIGN_PARAGRAPH.LEFT, before=2)
    _para(document, annex_list_sentence(report, chosen), align=body, before=6, indent_first=indent)
    _para(document, doc.closing, align=body, before=6, after=12, indent_first=indent)
    _signature(document, doc)

    for annex in annexes(report):
        _annex(document, annex, doc, chosen, rows)


def _properties(document: DocumentObject, report: Report, chosen: Lang) -> None:
    props = document.core_properties
    props.title = report.title
    props.subject = f"{report.period_label(chosen)}; {document_text(report, chosen).place_date}"
    props.author = "idesk-connector"


def _saved(document: DocumentObject, rows: _Rows) -> bytes:
    """The document's bytes, each annex's rows written where its table's comment is."""
    buffer = io.BytesIO()
    document.save(buffer)
    if not rows.tables:
        return buffer.getvalue()
    mark = re.compile(rb"<!--" + _ROWS_MARK.encode() + rb":(\d+)-->")

    def write(text: bytes, stream: IO[bytes]) -> None:
        at = 0
        for found in mark.finditer(text):
            stream.write(text[at : found.start()])
            write_rows(stream, rows.tables[int(found.group(1))].rows())
            at = found.end()
        stream.write(text[at:])

    big = sum(len(t) for t in rows.tables) > ZIP64_ROWS
    return rewritten(buffer.getvalue(), {_DOCUMENT_PART: write}, zip64=big)
