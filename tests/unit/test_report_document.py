"""The report as an administrative document (Decree 30/2020/NĐ-CP): its heading, date line,
number, recipients and signer from the settings; the Word file's pages, sections and tables; the
HTML page's print rules; the Markdown heading."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from docx import Document
from docx.enum.section import WD_ORIENT
from docx.oxml.ns import qn
from docx.shared import Pt

from connector.reports.build import build_report
from connector.reports.model import DocumentForm, Report, ReportOptions
from connector.reports.render.common import decree_date, document_text, prose
from connector.reports.render.formats import render, render_bytes
from connector.settings import ReportSettings
from tests.support.report_world import AS_OF, UNITS, items

BINH_DINH = DocumentForm(
    governing_body="UBND TỈNH BÌNH ĐỊNH",
    place="Bình Định",
    number="45",
    recipients=("Chủ tịch UBND tỉnh (để báo cáo)", "Các sở, ban, ngành;", "- Lưu: VT, TCT."),
    signer_authority="KT. TỔ TRƯỞNG",
    signer_title="TỔ PHÓ",
    signer_name="Nguyễn Văn A",
)


def make(**kw: Any) -> Report:
    return build_report(items(), UNITS, ReportOptions(as_of=AS_OF, **kw))


@pytest.fixture(scope="module")
def signed() -> Report:
    return make(form=BINH_DINH)


# -- the document's lines --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "text"),
    [
        pytest.param(date(2022, 5, 30), "ngày 30 tháng 5 năm 2022", id="plain"),
        pytest.param(date(2022, 2, 5), "ngày 05 tháng 02 năm 2022", id="zero-padded"),
        pytest.param(date(2022, 1, 31), "ngày 31 tháng 01 năm 2022", id="january"),
        pytest.param(date(2022, 12, 9), "ngày 09 tháng 12 năm 2022", id="december"),
    ],
)
def test_decree_date(day: date, text: str) -> None:
    """Dates read as Decree 30 writes them: a day below 10, and January and February, take a
    leading zero."""
    assert decree_date(day, "vi") == text


def test_document_lines_from_the_settings(signed: Report) -> None:
    """The heading, number, place and date, recipients and signer come from the form; the
    recipients are punctuated as a "Nơi nhận:" list ("- …;" and "- …." last)."""
    doc = document_text(signed, "vi")
    assert (doc.governing_body, doc.issuing_body) == (
        "UBND TỈNH BÌNH ĐỊNH",
        "TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH",
    )
    assert doc.reference == "Số: 45/BC-TCT"
    assert (doc.national_title, doc.motto) == (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    )
    assert doc.place_date == "Bình Định, ngày 30 tháng 5 năm 2022"
    assert doc.recipients == (
        "- Chủ tịch UBND tỉnh (để báo cáo);",
        "- Các sở, ban, ngành;",
        "- Lưu: VT, TCT.",
    )
    assert (doc.signer_authority, doc.signer_title, doc.signer_name) == (
        "KT. TỔ TRƯỞNG",
        "TỔ PHÓ",
        "Nguyễn Văn A",
    )
    assert doc.annex_attached == (
        "(Kèm theo Báo cáo số 45/BC-TCT ngày 30/05/2022 của Tổ công tác của Chủ tịch UBND tỉnh)"
    )


def test_neutral_defaults_name_no_province() -> None:
    """With no settings the heading names no province (no "BÌNH ĐỊNH" hard-coded, no "…"
    placeholder): the issuing body alone, a blank for the number, the date alone."""
    r = make()
    doc = document_text(r, "vi")
    assert doc.governing_body == ""
    assert doc.reference == "Số: " + "\u00a0" * 8 + "/BC-TCT"
    assert doc.place_date == "Ngày 30 tháng 5 năm 2022"
    assert doc.signer_name == ""
    assert "Số: " + "\u00a0" * 8 + "/BC-TCT" in render(r, "md")  # room for the number kept
    for fmt in ("md", "html", "json"):
        text = render(r, fmt)
        assert isinstance(text, str)
        assert "BÌNH ĐỊNH" not in text and "…" not in text.split("## ")[0], fmt


def test_settings_become_the_form_and_defaults_follow_the_language() -> None:
    """[report] keys fill the form; keys left at their (Vietnamese) defaults print the standard
    text in the report's language; --number overrides report.number."""
    configured = ReportSettings(governing_body="UBND TỈNH BÌNH ĐỊNH", place="Bình Định", number="7")
    options = ReportOptions.from_settings(configured, as_of=AS_OF, number="45")
    assert options.form.number == "45"
    assert options.form.issuing_body is None and options.form.recipients is None
    r = build_report(items(), UNITS, options)
    assert document_text(r, "vi").reference == "Số: 45/BC-TCT"
    english = document_text(r, "en")
    assert english.issuing_body == "THE CHAIRMAN'S WORKING GROUP"
    assert english.governing_body == "UBND TỈNH BÌNH ĐỊNH"  # a name, kept as set
    assert english.place_date == "Bình Định, May 30, 2022"
    assert english.signer_title == "HEAD OF THE WORKING GROUP"
    own = ReportSettings(issuing_body="TỔ CÔNG TÁC", recipients=("Lưu: VT",), signer_title="X")
    form = ReportOptions.from_settings(own, as_of=AS_OF).form
    assert (form.issuing_body, form.recipients, form.signer_title) == (
        "TỔ CÔNG TÁC",
        ("Lưu: VT",),
        "X",
    )


def test_prose_states_the_figures_of_the_total_row() -> None:
    """The body's summary gives the total row's figures in sentences (to-date, 30/05/2022)."""
    lines = prose(make(), "vi")
    assert lines[0] == (
        "Lũy kế đến ngày 30/05/2022 (toàn bộ nhiệm vụ đã giao): tổng số 31 nhiệm vụ, giao cho 7 "
        "cơ quan, đơn vị (22 nhiệm vụ có thời hạn, 9 nhiệm vụ không có thời hạn)."
    )
    assert lines[1] == (
        "Đã hoàn thành 14 nhiệm vụ: 7 nhiệm vụ đúng hạn, 4 nhiệm vụ quá hạn (trễ hạn), 3 nhiệm "
        "vụ không có thời hạn."
    )
    assert lines[2].startswith("Đang thực hiện 17 nhiệm vụ: 3 nhiệm vụ trong hạn, 8 nhiệm vụ quá")
    assert lines[3].startswith("Tỷ lệ hoàn thành đúng hạn đạt 63,6% (7/11; cách tính:")
    assert lines[4] == (
        "Trong 9 nhiệm vụ không có thời hạn, 8 nhiệm vụ yêu cầu sản phẩm cụ thể (phải có thời "
        "hạn hoàn thành) và 1 nhiệm vụ thường xuyên."
    )
    assert lines[5] == "Có 5 nhiệm vụ đơn vị chủ trì chưa xác nhận tình trạng thực hiện."
    folded = prose(make(fold=True), "vi")
    assert folded[1].startswith("Đã hoàn thành 14 nhiệm vụ: 10 nhiệm vụ đúng hạn (trong đó 3")
    english = prose(make(lang="en"), "en")
    assert english[0].startswith("Cumulative to 2022-05-30 (every task assigned): 31 tasks")


def test_counts_read_with_thousands_separators() -> None:
    """Large counts in the prose are grouped the Vietnamese way (1.387) or the English (1,387)."""
    from connector.reports.render.common import fmt_int

    assert (fmt_int(1387, "vi"), fmt_int(1387, "en"), fmt_int(41, "vi")) == ("1.387", "1,387", "41")


# -- the Word file ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def word(signed: Report) -> Any:
    data = render(signed, "docx")
    assert isinstance(data, bytes)
    return Document(io.BytesIO(data))


def test_docx_pages_are_a4_with_decree_margins_annexes_landscape(word: Any) -> None:
    """The body is A4 portrait, each of the six annexes an A4 landscape section; margins top
    and bottom 20 mm, left 30 mm, right 15 mm."""
    sections = list(word.sections)
    assert len(sections) == 7
    body, annexes = sections[0], sections[1:]
    assert body.orientation == WD_ORIENT.PORTRAIT
    assert (mm(body.page_width), mm(body.page_height)) == (210, 297)
    for section in annexes:
        assert section.orientation == WD_ORIENT.LANDSCAPE
        assert (mm(section.page_width), mm(section.page_height)) == (297, 210)
    for section in sections:
        assert (mm(section.top_margin), mm(section.bottom_margin)) == (20, 20)
        assert (mm(section.left_margin), mm(section.right_margin)) == (30, 15)


def test_docx_heading_signature_and_annex_headings(word: Any) -> None:
    """Quốc hiệu, the underlined tiêu ngữ, BÁO CÁO, Nơi nhận and the signer; each annex is
    "Phụ lục I…IV" with "(Kèm theo Báo cáo số …)"."""
    heading = word.tables[0]
    left, right = heading.rows[0].cells
    assert [p.text for p in left.paragraphs if p.text] == [
        "UBND TỈNH BÌNH ĐỊNH",
        "TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH",
        "Số: 45/BC-TCT",
    ]
    national, motto, when = (p for p in right.paragraphs if p.text)
    assert national.text == "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" and national.runs[0].bold
    assert motto.text == "Độc lập - Tự do - Hạnh phúc" and motto.runs[0].underline
    assert when.text == "Bình Định, ngày 30 tháng 5 năm 2022" and when.runs[0].italic
    texts = [p.text for p in word.paragraphs]
    assert "BÁO CÁO" in texts
    assert texts[texts.index("BÁO CÁO") + 1] == (
        "Tình hình thực hiện nhiệm vụ do UBND tỉnh, Chủ tịch UBND tỉnh giao"
    )
    signature = next(t for t in word.tables if t.rows[0].cells[0].paragraphs[0].text == "Nơi nhận:")
    signer = [p.text for p in signature.rows[0].cells[1].paragraphs if p.text]
    assert signer == ["KT. TỔ TRƯỞNG", "TỔ PHÓ", "Nguyễn Văn A"]
    for number in ("I", "II", "III", "IV"):
        at = texts.index(f"Phụ lục {number}")
        assert texts[at + 2].startswith("(Kèm theo Báo cáo số 45/BC-TCT ngày 30/05/2022 của")


def test_docx_fonts_are_times_new_roman_13_14(word: Any) -> None:
    """Times New Roman throughout, 14 pt body text."""
    normal = word.styles["Normal"]
    assert normal.font.name == "Times New Roman"
    assert normal.font.size == Pt(14)
    fonts = normal.element.rPr.rFonts
    assert fonts.get(qn("w:eastAsia")) == fonts.get(qn("w:cs")) == "Times New Roman"


def mm(length: Any) -> int:
    """A length in whole millimetres (Word stores twentieths of a point)."""
    return round(length.mm)


def _header_rows(table: Any) -> int:
    count = 0
    for row in table.rows:
        trpr = row._tr.trPr
        if trpr is None or trpr.find(qn("w:tblHeader")) is None:
            break
        count += 1
    return count


def test_docx_tables_repeat_their_header_and_bold_the_total(word: Any, signed: Report) -> None:
    """The summary's three header rows and each annex's header row repeat on every page; the
    TỔNG CỘNG row is bold; an annex has the task's content, progress and an empty notes column."""
    summary = next(t for t in word.tables if t.rows[0].cells[0].text == "STT" and len(t.columns) == 15)
    assert _header_rows(summary) == 3
    total = next(r for r in summary.rows if r.cells[1].text == "TỔNG CỘNG")
    runs = [run for cell in total.cells for p in cell.paragraphs for run in p.runs]
    assert runs and all(run.bold for run in runs)
    assert [c.text for c in total.cells[2:]] == [
        "31", "22", "9", "7", "4", "3", "3", "8", "5", "6", "2", "63,6", "5",
    ]  # fmt: skip
    overdue = next(t for t in word.tables if t.rows[0].cells[-1].text == "Nguyên nhân / ghi chú")
    assert _header_rows(overdue) == 1
    head = [c.text for c in overdue.rows[0].cells]
    assert head[2:4] == ["Trích yếu", "Nội dung chỉ đạo"]
    assert head[-2] == "Tiến độ (%)"
    assert len(overdue.rows) == 1 + len(signed.overdue)
    assert overdue.rows[1].cells[-1].text == ""


def test_docx_page_numbers_from_page_two(word: Any) -> None:
    """A PAGE field at the top centre, with a first page of its own (no number on page 1)."""
    section = word.sections[0]
    assert section.different_first_page_header_footer
    assert "PAGE" in section.header._element.xml
    assert "PAGE" not in section.first_page_header._element.xml


def test_docx_is_imported_only_for_its_format() -> None:
    """python-docx is loaded only when a Word file is asked for."""
    code = (
        "import sys\n"
        "from connector.reports.render import formats\n"
        "from cli import app\n"
        "assert 'docx' not in sys.modules, 'docx imported early'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- html and markdown ------------------------------------------------------------------------


def test_html_prints_on_a4_with_the_annexes_landscape(signed: Report) -> None:
    """An @page rule: A4 portrait with Decree 30's margins, page numbers from page 2; annexes on
    named landscape pages, header rows repeated, rows kept whole; the chart only on screen."""
    page = render(signed, "html")
    assert isinstance(page, str)
    assert "@page{size:A4 portrait;margin:20mm 15mm 20mm 30mm;" in page
    assert "@page wide{size:A4 landscape;" in page
    assert "section.annex{page:wide;break-before:page}" in page
    assert "table.grid thead{display:table-header-group}" in page
    assert "table.grid tr{break-inside:avoid}" in page
    assert '<figure class="screen">' in page and ".screen{display:none}" in page
    assert '<div class="motto">Độc lập - Tự do - Hạnh phúc</div>' in page
    assert ".motto{font-weight:bold;font-size:14pt;text-decoration:underline" in page
    assert "Bình Định, ngày 30 tháng 5 năm 2022" in page
    assert "Nguyên nhân / ghi chú" in page


def test_markdown_keeps_the_heading_and_the_working_group(signed: Report) -> None:
    """Markdown prints the issuing body (the Working Group line), number, quốc hiệu, place and
    date, the signer, and each annex's "(Kèm theo …)" line."""
    md = render(signed, "md")
    assert isinstance(md, str)
    lines = md.splitlines()
    assert lines[:3] == [
        "UBND TỈNH BÌNH ĐỊNH  ",
        "**TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH**  ",
        "Số: 45/BC-TCT",
    ]
    assert "*Bình Định, ngày 30 tháng 5 năm 2022*" in lines
    assert "***Nơi nhận:***" in lines and "- Lưu: VT, TCT." in lines
    assert "**Nguyễn Văn A**" in lines
    assert md.count("*(Kèm theo Báo cáo số 45/BC-TCT ngày 30/05/2022") == 6


def test_eff_due_column_reads_as_a_due_date() -> None:
    """The effective deadline's column says what it is: the deadline moved past days off."""
    page = render_bytes(make(), "md").decode("utf-8")
    assert "Hạn xử lý (đã lùi qua ngày nghỉ)" in page
    assert "Hạn tính" not in page
