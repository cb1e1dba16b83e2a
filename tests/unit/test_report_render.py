"""Renderers of the Working Group's report: table, json, csv, md, html, xlsx, docx; vi and en
labels; the administrative document's form (Decree 30/2020/NĐ-CP)."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest
from openpyxl import load_workbook

from connector.models import StatusCode
from connector.reports.build import build_report
from connector.reports.model import Report, ReportOptions
from connector.reports.render.common import ANNEX_NO_MM, DATE_MM, Annex, annexes
from connector.reports.render.formats import FORMATS, render, render_bytes
from tests.support import ROOT
from tests.support.documents import docx_text
from tests.support.report_world import AS_OF, TASKS, UNITS, change, items, task


def make(period: str = "2022-Q1", **kw: Any) -> Report:
    return build_report(items(), UNITS, ReportOptions(as_of=AS_OF, period=period, **kw))


@pytest.fixture(scope="module")
def q1() -> Report:
    return make()


def _text(out: str | bytes) -> str:
    assert isinstance(out, str)
    return out


def rendered_text(report: Report, fmt: str, lang: str | None = None) -> str:
    """The report as text in `fmt` (a .docx read back paragraph by paragraph, an .xlsx cell by
    cell, a line each)."""
    if fmt == "docx":
        data = render(report, fmt, lang)
        assert isinstance(data, bytes)
        return docx_text(data)
    if fmt == "xlsx":
        book = load_workbook(io.BytesIO(render_bytes(report, fmt, lang)))
        cells = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]
        return "\n".join(str(c) for c in cells if c is not None)
    return _text(
        render(report, fmt, lang, width=260) if fmt == "table" else render(report, fmt, lang)
    )


# -- json ---------------------------------------------------------------------------------------

TOP_KEYS = {
    "schema_version",
    "title",
    "issuer",
    "lang",
    "as_of",
    "period",
    "unit_filter",
    "fold",
    "denominator",
    "rows",
    "total",
    "cancelled",
    "undated",
    "unreadable",
    "confirmation_since",
    "document",
    "annexes",
}
DOCUMENT_KEYS = {
    "governing_body",
    "issuing_body",
    "number",
    "symbol",
    "reference",
    "place",
    "date",
    "place_date",
    "doc_type",
    "subject",
    "summary",
    "recipients",
    "signer",
    "annex_attached",
}
COUNT_KEYS = {
    "total",
    "with_deadline",
    "without_deadline",
    "done",
    "open",
    "on_time_rate",
    "unconfirmed",
    "cancelled",
    "by_status",
    "without_deadline_product",
    "without_deadline_routine",
    "extended_after_overdue",
    "recurring",
    "occurrences",
}
REF_KEYS = {
    "source_id",
    "sign_number",
    "subject",
    "unit_code",
    "unit_name",
    "doc_date",
    "assigned_on",
    "content",
    "progress",
}
ANNEX_KEYS = {
    "overdue": REF_KEYS
    | {
        "original_deadline",
        "deadline",
        "eff_due",
        "days_overdue",
        "working_days_overdue",
        "overdue_over_30",
        "extended",
        "confirmed",
    },
    "late": REF_KEYS
    | {
        "original_deadline",
        "deadline",
        "eff_due",
        "completed_on",
        "completion_estimated",
        "days_late",
        "extended",
    },
    "stale_no_deadline": REF_KEYS | {"last_report_on", "idle_days"},
    "missing_deadline": REF_KEYS
    | {"status", "suggested_deadline", "suggested_phrase", "suggested_recurrence", "kind_words"},
    "extended_after_overdue": REF_KEYS
    | {
        "status",
        "original_deadline",
        "overdue_deadline",
        "overdue_eff_due",
        "extended_on",
        "new_deadline",
        "days_overdue_when_extended",
        "extensions",
    },
    "recurring": REF_KEYS
    | {
        "recurrence",
        "period",
        "period_start",
        "period_end",
        "due",
        "eff_due",
        "status",
        "reported_on",
        "days_overdue",
    },
}


@pytest.mark.parametrize("lang", [pytest.param("vi", id="vi"), pytest.param("en", id="en")])
def test_json_schema_keys_are_stable_and_english(lang: str) -> None:
    """Schema version 1: the same English keys whatever the language (the world and a task
    extended after its deadline had passed, so that every annex has an entry)."""
    late = task(
        40,
        "SXD",
        "2022-02-01",
        "2022-04-29",
        changes=change("2022-03-15", "2022-04-29", "2022-03-18"),
    )
    world = build_report(items((*TASKS, late)), UNITS, ReportOptions(as_of=AS_OF, period="2022-Q1"))
    data = json.loads(_text(render(world, "json", lang)))
    assert data["schema_version"] == 1
    assert set(data) == TOP_KEYS
    assert set(data["period"]) == {"code", "kind", "start", "end", "label", "basis"}
    assert set(data["denominator"]) == {"code", "text"}
    assert set(data["document"]) == DOCUMENT_KEYS
    assert set(data["document"]["signer"]) == {"authority", "title", "name"}
    assert set(data["total"]) == COUNT_KEYS
    assert set(data["total"]["done"]) == {"on_time", "late", "no_deadline"}
    assert set(data["total"]["open"]) == {
        "within_deadline",
        "overdue",
        "overdue_over_30",
        "no_deadline",
        "no_deadline_stale",
    }
    assert set(data["total"]["on_time_rate"]) == {"numerator", "denominator", "percent"}
    assert set(data["total"]["by_status"]) == {s.value for s in StatusCode}
    for row in data["rows"]:
        assert set(row) == COUNT_KEYS | {"unit_code", "unit_name", "unit_kind"}
    assert set(data["annexes"]) == set(ANNEX_KEYS)
    for name, keys in ANNEX_KEYS.items():
        assert data["annexes"][name], name
        for entry in data["annexes"][name]:
            assert set(entry) == keys, name


def test_json_values(q1: Report) -> None:
    """JSON carries the figures, ISO dates, status codes and the denominator's code and words."""
    data = json.loads(_text(render(q1, "json")))
    assert data["as_of"] == "2022-05-30"
    assert data["period"] == {
        "code": "2022-Q1",
        "kind": "quarter",
        "start": "2022-01-01",
        "end": "2022-03-31",
        "label": "quý I/2022 (nhiệm vụ giao trong quý)",
        "basis": "assigned",
    }
    assert data["denominator"]["code"] == "done"
    total = data["total"]
    assert (total["total"], total["done"]["on_time"], total["open"]["overdue"]) == (25, 6, 6)
    assert total["on_time_rate"] == {"numerator": 6, "denominator": 10, "percent": 60.0}
    assert total["by_status"]["DA_HUY"] == 2
    assert [r["unit_code"] for r in data["rows"]][:2] == ["STC", "SXD"]
    assert data["rows"][-1]["unit_kind"] is None  # XYZ is not in the unit table
    assert data["rows"][-1]["on_time_rate"]["percent"] is None
    first = data["annexes"]["overdue"][0]
    assert (first["source_id"], first["eff_due"], first["days_overdue"]) == (34, "2022-03-01", 90)
    assert data["annexes"]["missing_deadline"][0]["status"] == "HT_KHONG_HAN"
    assert "Sở Tài chính" in _text(render(q1, "json"))  # diacritics kept, not \\u-escaped


def test_json_schema_document_lists_every_key(q1: Report) -> None:
    """docs/report-json.md names every key the renderer writes, and its example parses as v1."""
    doc = (ROOT / "docs" / "report-json.md").read_text(encoding="utf-8")
    data = json.loads(_text(render(q1, "json")))
    keys: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in {s.value for s in StatusCode}:
                    keys.add(key)
                walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(data)
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert missing == []
    example = re.search(r"```json\n(.*?)\n```", doc, re.S)
    assert example is not None
    parsed = json.loads(example.group(1))
    assert parsed["schema_version"] == 1
    assert set(parsed) == TOP_KEYS


# -- csv ----------------------------------------------------------------------------------------


def test_csv_summary_parses_with_one_row_per_unit_and_a_total(q1: Report) -> None:
    """The CSV summary: a header, one row per unit, the total last; numbers as plain integers."""
    rows = list(csv.reader(io.StringIO(_text(render(q1, "csv")))))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Mã đơn vị", "Đơn vị", "Tổng số nhiệm vụ được giao - Tổng số"]
    assert header[-1] == "Đã thu hồi / hủy"
    assert [r[0] for r in body] == [
        "STC",
        "SXD",
        "QUYNHON",
        "TAYSON",
        "CTHADS",
        "VPUBND",
        "XYZ",
        "",
    ]
    assert body[-1][1] == "TỔNG CỘNG"
    total = dict(zip(header, body[-1], strict=True))
    assert total["Tổng số nhiệm vụ được giao - Tổng số"] == "25"
    assert total["Đang thực hiện - Trong đó: quá hạn trên 30 ngày"] == "4"
    assert total["Tỷ lệ đúng hạn (%)"] == "60.0"
    assert total["Đã thu hồi / hủy"] == "2"
    assert dict(zip(header, body[-2], strict=True))["Tỷ lệ đúng hạn (%)"] == ""  # XYZ: no rate


def test_csv_annex_and_bom(q1: Report) -> None:
    """annex='overdue' gives one row per overdue task; render_bytes adds a UTF-8 BOM for CSV."""
    rows = list(csv.reader(io.StringIO(_text(render(q1, "csv", annex="overdue")))))
    assert rows[0][:4] == ["Mã nhiệm vụ", "Số ký hiệu", "Trích yếu", "Nội dung chỉ đạo"]
    assert rows[0][-1] == "Tiến độ (%)"  # the column to fill in on paper is not data
    assert [r[0] for r in rows[1:]] == ["34", "5", "12", "13", "17", "29"]
    assert rows[1][7] == "2022-03-01"  # original deadline, ISO
    assert render_bytes(q1, "csv").startswith(b"\xef\xbb\xbf")
    assert not render_bytes(q1, "json").startswith(b"\xef\xbb\xbf")
    with pytest.raises(ValueError, match="valid: overdue, late"):
        render(q1, "csv", annex="nope")
    with pytest.raises(ValueError, match="csv format only"):
        render(q1, "md", annex="late")


# -- xlsx ---------------------------------------------------------------------------------------


def _row_of(ws: Any, text: str, column: int = 1) -> int:
    return next(r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=column).value == text)


def _sum_formula(ws: Any, formula: str) -> int:
    """The value of ``=SUM(C12:C20)`` over the sheet's stored values (blank cells are 0)."""
    match = re.fullmatch(r"=SUM\(([A-Z]+)(\d+):([A-Z]+)(\d+)\)", formula)
    assert match is not None, formula
    col, first, _, last = match.groups()
    return sum(ws[f"{col}{r}"].value or 0 for r in range(int(first), int(last) + 1))


def test_xlsx_reads_like_the_report(q1: Report) -> None:
    """Summary sheet: heading, BÁO CÁO and trích yếu, merged group headers, a bold TỔNG CỘNG
    row of SUM formulas over exactly the unit rows, freeze panes, borders; one sheet per annex."""
    data = render(q1, "xlsx")
    assert isinstance(data, bytes)
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [
        "Tổng hợp",
        "PL I Quá hạn",
        "PL II Hoàn thành trễ",
        "PL III Không hạn quá 3 tháng",
        "PL IV Thiếu thời hạn",
        "PL V Gia hạn sau quá hạn",
        "PL VI Nhiệm vụ định kỳ",
    ]
    ws = wb["Tổng hợp"]
    assert ws["A1"].value == "TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH"  # no governing body set
    assert ws["A2"].value == "Số: \u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0/BC-TCT"
    assert (ws["F1"].value, ws["F2"].value) == (
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
    )
    assert ws["F2"].font.u == "single"  # the tiêu ngữ is underlined
    assert ws["F3"].value == "Ngày 30 tháng 5 năm 2022"
    assert ws.cell(row=_row_of(ws, "BÁO CÁO") + 1, column=1).value == q1.title
    top = _row_of(ws, "STT")
    sub = top + 1
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert {
        f"C{top}:E{top}",
        f"F{top}:H{top}",
        f"I{top}:M{top}",
        f"A{top}:A{sub}",
        f"B{top}:B{sub}",
        f"N{top}:N{sub}",
        f"O{top}:O{sub}",
    } <= merged
    assert (ws[f"C{top}"].value, ws[f"F{top}"].value, ws[f"I{top}"].value) == (
        "Tổng số nhiệm vụ được giao",
        "Đã hoàn thành",
        "Đang thực hiện",
    )
    assert ws[f"F{sub}"].value == "Đúng hạn"
    assert ws[f"A{top + 2}"].value == "(1)"
    first = top + 3
    assert ws.freeze_panes == f"C{first}"
    assert ws.print_title_rows == f"${top}:${top + 2}"
    assert (ws.cell(row=first, column=1).value, ws.cell(row=first, column=2).value) == (
        "I",
        "Sở, ban, ngành",
    )
    assert ws.cell(row=first + 1, column=2).value == "Sở Tài chính"
    assert ws.cell(row=first + 1, column=2).border.left.style == "thin"
    total_row = _row_of(ws, "TỔNG CỘNG", column=2)
    assert all(ws.cell(row=total_row, column=c).font.b for c in range(1, 16))
    figures = {
        c: ws.cell(row=total_row, column=c).value for c in range(3, 16) if c != 14
    }  # every figure but the rate
    assert figures[3] == f"=SUM(C{first}:C{total_row - 1})"
    expected = [25, 18, 7, 6, 4, 2, 2, 6, 4, 5, 2, 4]
    assert [_sum_formula(ws, f) for f in figures.values()] == expected
    rate = f"(F{total_row}+G{total_row})"
    assert ws.cell(row=total_row, column=14).value == (
        f'=IF({rate}=0,"—",ROUND(100*F{total_row}/{rate},1))'
    )
    assert ws.cell(row=total_row, column=14).number_format == "0.0"
    assert ws.cell(row=first + 1, column=14).value == 66.7  # a unit's rate stays a value
    overdue = wb["PL I Quá hạn"]
    assert (overdue["A1"].value, overdue["A2"].value) == (
        "Phụ lục I",
        "DANH MỤC NHIỆM VỤ QUÁ HẠN, CÒN TỒN ĐỌNG",
    )
    assert overdue["A3"].value == (
        "(Kèm theo Báo cáo số \u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0/BC-TCT "
        "ngày 30/05/2022 của Tổ công tác của Chủ tịch UBND tỉnh)"
    )
    header_row = _row_of(overdue, "STT")
    assert overdue.freeze_panes == f"B{header_row + 1}"
    heads = [overdue.cell(row=header_row, column=c).value for c in range(1, 15)]
    assert heads[1:4] == ["Số ký hiệu", "Trích yếu", "Nội dung chỉ đạo"]
    assert heads[8] == "Hạn xử lý (đã lùi qua ngày nghỉ)"
    assert heads[-2:] == ["Tiến độ (%)", "Nguyên nhân / ghi chú"]
    row = [overdue.cell(row=header_row + 1, column=c).value for c in range(1, 15)]
    assert row[1] == "34/UBND-TH"
    assert row[9:12] == [90, "Không", "Có"]  # days overdue, not extended, confirmed
    assert row[13] is None and overdue.cell(row=header_row + 1, column=14).border.left.style


@pytest.mark.parametrize("sheet", range(5))
def test_xlsx_sheets_print_on_a4_fit_to_width(q1: Report, sheet: int) -> None:
    """Every sheet prints on A4 landscape, one page wide, with Decree 30's margins and its
    header rows repeated on each page."""
    wb = load_workbook(io.BytesIO(render_bytes(q1, "xlsx")))
    ws = wb.worksheets[sheet]
    setup = ws.page_setup
    assert (str(setup.paperSize), setup.orientation) == ("9", "landscape")  # 9: A4
    assert (setup.fitToWidth, setup.fitToHeight) == (1, 0)
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows
    margins = ws.page_margins
    assert round(margins.left * 25.4) == 30 and round(margins.right * 25.4) == 15
    assert round(margins.top * 25.4) == 20 and round(margins.bottom * 25.4) == 20


def test_xlsx_rows_are_as_tall_as_their_wrapped_text() -> None:
    """A long directive text gets a row tall enough for all its lines (wrapped rows used to
    keep the default height and overlap on paper)."""
    long_text = "Sở Tài chính chủ trì, phối hợp với các sở, ngành liên quan tham mưu. " * 6
    world = (*TASKS, task(90, "STC", "2022-03-02", "2022-03-04", text=long_text))
    r = build_report(items(world), UNITS, ReportOptions(as_of=AS_OF, period="2022-03"))
    wb = load_workbook(io.BytesIO(render_bytes(r, "xlsx")))
    ws = wb["PL I Quá hạn"]
    row = next(
        r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=2).value == "90/UBND-TH"
    )
    content_width = ws.column_dimensions["D"].width
    assert ws.row_dimensions[row].height >= 15 * len(long_text) / (1.3 * content_width)
    short = next(
        r for r in range(1, ws.max_row + 1) if ws.cell(row=r, column=2).value == "5/UBND-TH"
    )
    assert ws.row_dimensions[short].height < ws.row_dimensions[row].height


def test_xlsx_in_english(q1: Report) -> None:
    """lang='en' names the sheets and headers in English."""
    wb = load_workbook(io.BytesIO(render_bytes(q1, "xlsx", "en")))
    assert wb.sheetnames[0] == "Summary"
    ws = wb["Summary"]
    assert ws[f"F{_row_of(ws, 'No.')}"].value == "Completed"
    assert ws["F1"].value == "SOCIALIST REPUBLIC OF VIET NAM"


# -- html ---------------------------------------------------------------------------------------


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)


def test_html_is_self_contained_with_an_svg_chart(q1: Report) -> None:
    """One page: inline CSS and SVG, no external reference, the summary and the four annexes."""
    page = _text(render(q1, "html"))
    assert not re.search(r"https?://", page)
    parser = _Collect()
    parser.feed(page)
    assert "svg" in parser.tags and "style" in parser.tags
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not [v for k, v in parser.attrs if k in {"src", "href"}]
    assert page.count("<rect") >= 3 + 6  # legend + at least one bar per unit with figures
    assert 'colspan="3"' in page and 'colspan="5"' in page
    assert '<tr class="total">' in page
    for title in ("Phụ lục I", "Phụ lục II", "Phụ lục III", "Phụ lục IV"):
        assert title in page
    assert "Tỷ lệ đúng hạn = số hoàn thành đúng hạn / tổng số đã hoàn thành có thời hạn" in page


def test_html_escapes_every_text(q1: Report) -> None:
    """Subjects with <, & and quotes are escaped, never markup."""
    page = _text(render(q1, "html"))
    assert "&lt;của&gt; đơn vị &amp; &quot;STC&quot;" in page
    assert "<của>" not in page


def test_html_chart_escapes_unit_names() -> None:
    """A unit name with markup is escaped inside the SVG as well."""
    evil = task(77, "<b>X</b>", "2022-03-02", "2022-03-04", completed="2022-03-04")
    r = build_report(items((*TASKS, evil)), UNITS, ReportOptions(as_of=AS_OF, period="2022-03"))
    page = _text(render(r, "html"))
    assert "<b>X</b>" not in page
    assert "&lt;b&gt;X&lt;/b&gt;" in page


# -- markdown and table -----------------------------------------------------------------------------


def test_markdown_has_summary_and_annex_tables(q1: Report) -> None:
    """Markdown: a title, a summary table with the bold total, and one table per annex."""
    md = _text(render(q1, "md"))
    lines = md.splitlines()
    assert "# BÁO CÁO: Tình hình thực hiện nhiệm vụ do UBND tỉnh, Chủ tịch UBND tỉnh giao" in lines
    header = next(line for line in lines if line.startswith("| STT"))
    assert "Đã hoàn thành: Đúng hạn" in header
    widths = {
        line.count(" | ") for line in lines if line.startswith("| ") and "Phụ lục" not in line
    }
    assert len([line for line in lines if line.startswith("| ") and "**TỔNG CỘNG**" in line]) == 1
    total = next(line for line in lines if "**TỔNG CỘNG**" in line)
    assert "**25**" in total and "**60,0**" in total
    xyz = next(line for line in lines if "Ban Quản lý Khu kinh tế" in line and "| 1 |" in line)
    assert "| — |" in xyz  # nothing to judge: no rate, not 0 %
    assert sum(1 for line in lines if line.startswith("## Phụ lục")) == 6
    assert '\\<của\\> đơn vị & "STC"' in md  # markup escaped in cells
    assert widths  # every table row is pipe-separated


def test_table_has_title_as_of_grouped_header_and_total(q1: Report) -> None:
    """The terminal table: title, as-of line, group names in the header, the total row."""
    out = _text(render(q1, "table", width=240))
    assert "Tình hình thực hiện nhiệm vụ" in out
    assert "Tính đến ngày 30/05/2022" in out
    for group in ("Tổng số nhiệm vụ được giao", "Đã hoàn thành", "Đang thực hiện"):
        assert group in out
    total_line = next(line for line in out.splitlines() if "TỔNG CỘNG" in line)
    figures = re.sub(r"[│\s]+", " ", total_line.split("TỔNG CỘNG")[1]).split()
    assert figures == ["25", "18", "7", "6", "4", "2", "2", "6", "4", "5", "2", "60,0", "4"]
    assert "\x1b[" not in out
    assert "\x1b[1m" in _text(render(q1, "table", color=True))  # bold total with colour


@pytest.mark.parametrize(
    ("lang", "fold", "width"),
    [
        pytest.param("vi", False, 160, id="vi"),
        pytest.param("en", False, 160, id="en"),
        pytest.param("vi", True, 160, id="vi-fold"),
        # Folded English labels hold "deadline)" (9 letters): 10 columns more.
        pytest.param("en", True, 170, id="en-fold"),
    ],
)
def test_table_headers_whole_at_160_columns(lang: str, fold: bool, width: int) -> None:
    """At 160 columns the summary fits, and no header word is cut ("Unconfirmed", "deadline"):
    the unit column (its names fold) gives way, not the figures' headers."""
    from connector.reports.render.common import SUMMARY_COLUMNS

    report = make(fold=fold)
    out = _text(render(report, "table", lang, width=width))
    head = out.split("TỔNG CỘNG" if lang == "vi" else "TOTAL")[0]
    lines = head.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in head
    words = set(re.sub(r"[┃│\s─━┏┓┳┡┩╇]+", " ", head).split())
    for column in SUMMARY_COLUMNS:
        for word in column.label(lang, fold).split():  # type: ignore[arg-type]
            assert word in words, (word, column.label(lang, fold))  # type: ignore[arg-type]


# -- languages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "xlsx"])
def test_english_labels(q1: Report, fmt: str) -> None:
    """--lang en prints English labels and no Vietnamese column label."""
    out = rendered_text(q1, fmt, "en")
    if fmt == "json":
        data = json.loads(out)
        assert data["lang"] == "en"
        assert data["denominator"]["text"].startswith("On-time rate = completed on time")
        return
    for word in ("Completed", "In progress", "On time", "TOTAL"):
        assert word in out, (fmt, word)
    for word in ("TỔNG CỘNG", "Đang thực hiện", "Tính đến ngày"):
        assert word not in out, (fmt, word)
    assert "Sở Tài chính" in out  # data stays as it is


@pytest.mark.parametrize("fmt", FORMATS)
def test_vietnamese_by_default_with_diacritics(fmt: str) -> None:
    """Default labels are Vietnamese with their diacritics."""
    r = make(period="2022-03")
    out = render_bytes(r, fmt)
    if fmt == "xlsx":
        wb = load_workbook(io.BytesIO(out))
        assert wb.sheetnames[0] == "Tổng hợp"
        return
    text = docx_text(out) if fmt == "docx" else out.decode("utf-8-sig")
    assert "Đơn vị" in text or fmt == "json"
    assert "tháng 03/2022" in text or fmt == "csv"  # the CSV summary has no title lines


def test_fold_changes_the_column_labels() -> None:
    """With fold, 'on time' says it includes tasks without deadline, the others read 'of which'."""
    plain = _text(render(make(), "md"))
    folded = _text(render(make(fold=True), "md"))
    assert "Đúng hạn (kể cả không có thời hạn)" in folded
    assert "Trong đó: không có thời hạn" in folded
    assert "kể cả" not in plain
    assert "nhiệm vụ hoàn thành không có thời hạn được tính là đúng hạn" in folded


def test_notes_list_cancelled_and_undated(q1: Report) -> None:
    """The notes under the table count withdrawn tasks and tasks without an assignment date."""
    md = _text(render(q1, "md"))
    assert "Nhiệm vụ đã thu hồi / hủy (không tính vào các số liệu trên): 2" in md
    assert "Nhiệm vụ không xác định được ngày giao (không tính vào kỳ báo cáo): 1" in md


def test_unknown_format_names_the_valid_ones(q1: Report) -> None:
    """A typo in --format lists the formats."""
    with pytest.raises(ValueError, match="valid: table, json, csv, md, html, xlsx, docx"):
        render(q1, "pdf")
    with pytest.raises(ValueError, match="valid: vi, en"):
        render(q1, "md", "fr")


def test_empty_report_renders_everywhere() -> None:
    """A report with no task renders in every format (empty annexes say so)."""
    r = build_report([], UNITS, ReportOptions(as_of=AS_OF, period="2022-03"))
    for fmt in FORMATS:
        assert render_bytes(r, fmt)
    assert "Không có." in _text(render(r, "md"))


def test_terminal_annexes_are_cut_with_a_count_of_the_rest(q1: Report) -> None:
    """On a terminal each annex shows at most `annex_limit` tasks and says how many more."""
    out = _text(render(q1, "table", annex_limit=2))
    assert "… và 4 nhiệm vụ khác" in out  # 6 overdue tasks, 2 shown
    assert "34/UBND-TH" in out and "29/UBND-TH" not in out
    full = _text(render(q1, "table", annex_limit=None))
    assert "29/UBND-TH" in full and "nhiệm vụ khác" not in full


# -- subjects with line breaks (iDesk 6) ----------------------------------------------------------


def _with_two_line_subject() -> Report:
    """A report whose overdue annex holds a task with a two-line subject."""

    two = replace(task(88, "STC", "2022-03-01", "2022-03-10"), subject="THÔNG BÁO\nKết thúc đợt 88")
    return build_report(items((*TASKS, two)), UNITS, ReportOptions(as_of=AS_OF, period="2022-03"))


def test_one_line_joins_a_subjects_lines() -> None:
    """A subject's lines, stripped and without blank ones, joined by a dash on one line."""
    from connector.reports.render.common import one_line, text_lines

    assert one_line("THÔNG BÁO\r\n  Kết thúc …\n\n") == "THÔNG BÁO – Kết thúc …"
    assert text_lines("a\u2028b\rc") == ["a", "b", "c"]
    assert one_line("một dòng") == "một dòng"


@pytest.mark.parametrize("fmt", ["md", "table"])
def test_one_line_formats_keep_a_subjects_lines_apart(fmt: str) -> None:
    """Markdown and terminal tables show a two-line subject on one line, its lines joined by a
    dash, never a raw or escaped line break."""
    out = rendered_text(_with_two_line_subject(), fmt)
    assert "THÔNG BÁO – Kết thúc" in out
    assert "\\n" not in out
    assert not any(line.rstrip().endswith("THÔNG BÁO") for line in out.splitlines())


def test_html_keeps_a_subjects_line_break() -> None:
    """HTML shows a two-line subject on two lines (a <br> inside its cell)."""
    page = _text(render(_with_two_line_subject(), "html"))
    assert "THÔNG BÁO<br>Kết thúc đợt 88" in page


def test_xlsx_and_docx_keep_a_subjects_line_break() -> None:
    """The spreadsheet cell and the Word cell keep the line break (wrapped text)."""
    report = _with_two_line_subject()
    data = render_bytes(report, "xlsx")
    book = load_workbook(io.BytesIO(data))
    cells = [c.value for ws in book.worksheets for row in ws.iter_rows() for c in row]
    assert "THÔNG BÁO\nKết thúc đợt 88" in cells
    docx = rendered_text(report, "docx")
    assert "THÔNG BÁO\nKết thúc đợt 88" in docx or "THÔNG BÁO" in docx.splitlines()


def test_table_figures_stay_on_the_first_line_of_a_wrapped_unit_row() -> None:
    """A unit name that wraps keeps the rate and the unconfirmed count on its first line (at a
    width where the summary is still one table, its unit column narrow)."""
    lines = _text(render(make(), "table", width=156, annex_limit=0)).splitlines()
    wrapped = next(line for line in lines if "UBND thành phố Quy" in line)
    assert "Nhơn" not in wrapped  # the name does wrap at this width
    cells = [c.strip() for c in wrapped.split("│")]
    assert cells[-3:-1] == ["100,0", "0"]


@pytest.mark.parametrize("annex", annexes(make()), ids=lambda a: a.name)
def test_html_annex_dates_get_room_for_one_line(annex: Annex) -> None:
    """On the annexes' A4 landscape page (297 mm less 20 + 15 mm margins) every date column
    gets at least 17.5 mm, so dd/mm/yyyy in 9 pt with the cell's padding stays on one line
    (annex VI's due dates wrapped as "30/09/202" + "6")."""
    printable = 297 - 20 - 15
    total = ANNEX_NO_MM + sum(c.mm for c in annex.columns)
    for column in annex.columns:
        if column.mm == DATE_MM:
            assert column.mm * printable / total >= 17.5, column.label_key  # scaled to 100 %


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_json_written_piece_by_piece_is_the_json_text(lang: str) -> None:
    """`iter_json` (what `report --format json` writes, piece by piece) joins to exactly the
    pretty-printed JSON of the report's data (`render_json`), every annex included."""
    from connector.i18n import check_lang
    from connector.reports.render.jsonfmt import iter_json, report_dict

    report = make("to-date")
    assert report.overdue and report.missing_deadline and report.recurring
    chosen = check_lang(lang)
    pieces = list(iter_json(report, chosen))
    assert len(pieces) > 1
    expected = json.dumps(report_dict(report, chosen), ensure_ascii=False, indent=2) + "\n"
    assert "".join(pieces) == expected == render(report, "json", lang)


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_table_reads_whole_at_80_columns(lang: str) -> None:
    """At 80 columns the report fits the console: the summary is split into tables of whole
    figure groups (every header word whole, no "…"; the one table was cut to "Tr…" and printed
    120 wide), the notes follow, and each annex task is a paragraph whose values are whole
    (the annex tables folded "7064/TB-U" / "BND")."""
    from connector.i18n import label as text_of
    from connector.reports.render.common import SUMMARY_COLUMNS, column_groups

    report = make()
    out = _text(render(report, "table", lang=lang, width=80))
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert not [line for line in lines if "…" in line and not line.strip().startswith("…")]
    words = {w for c in SUMMARY_COLUMNS for w in c.label(lang, report.fold).split()}
    header = " ".join(line for line in lines if "┃" in line).split()
    assert words <= set(header), words - set(header)
    for group, _ in column_groups():
        if group is not None:
            assert text_of(group, lang) in out
    assert text_of("as_of", lang, date="").split("{")[0].strip() in out
    for annex in annexes(report):
        for entry in annex.entries[:5]:
            assert any(entry.task.sign_number in line for line in lines), entry.task.sign_number


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("width", [100, 120, 140, 160, 200])
def test_annex_dates_and_figures_print_whole_at_any_width(lang: str, width: int) -> None:
    """Piped or written to a file the table is 120 columns wide: an annex printed as a table
    shows each date, number and yes/no whole on one line (annex II folded "15/02/202" / "2",
    which reads as a year 202), and a header word whole; where they do not fit, its tasks are
    paragraphs, as at 80 columns."""
    from connector.reports.render.common import cell_text

    report = build_report(items(), UNITS, ReportOptions(as_of=AS_OF, lang=lang))
    out = _text(render(report, "table", lang=lang, width=width))
    lines = out.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= width
    # Every table line closes with its right border: none is cropped at the console's edge.
    rows = [line.rstrip() for line in lines if line.startswith(("│", "┃", "┏", "┡", "└"))]
    assert all(row.endswith(("│", "┃", "┓", "┩", "┘")) for row in rows), width
    cells = {cell.strip() for line in lines if "│" in line for cell in line.split("│")}
    header = " ".join(line for line in lines if "┃" in line).split()
    for annex in annexes(report):
        for column in annex.terminal_columns():
            if column.wrap:
                continue
            for entry in annex.entries[:50]:
                value = cell_text(column.value(entry, lang), lang)
                if value:
                    assert value in out, (annex.name, column.label_key, value)
    # No cell of a table is a date cut short ("15/02/202") or a date's lone rest.
    assert not [c for c in cells if re.fullmatch(r"\d{2}/\d{2}/\d{1,3}|\d{4}-\d{2}-\d{1}", c)]
    assert not [
        w for w in header if re.fullmatch(r"[A-Za-z]{3,}", w) and w not in _header_words(lang)
    ]


def _header_words(lang: str) -> set[str]:
    """Every word of the terminal tables' column labels in `lang`."""
    from connector.i18n import label as text_of
    from connector.reports.render.common import SUMMARY_COLUMNS

    report = make()
    words = {w for c in SUMMARY_COLUMNS for w in c.label(lang, report.fold).split()}
    words |= {w for c in SUMMARY_COLUMNS for w in c.label(lang, True).split()}
    for annex in annexes(report):
        for column in annex.terminal_columns():
            words |= set(text_of(column.label_key, lang).split())
    for key in ("col_no", "col_unit", "group_assigned", "group_done", "group_open"):
        words |= set(text_of(key, lang).split())
    return words


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_control_character_in_a_task_stops_no_format(fmt: str) -> None:
    """A subject with an escape sequence, a bell and a pasted vertical tab, a unit's name with
    an escape sequence (as a source may send them; a lone surrogate never reaches the ledger, which refuses it): every format renders; the documents (xlsx, docx, html, md)
    and the terminal table carry no control character, so none drives the terminal that prints
    them. (csv and json keep the text as stored: json escapes it, csv is data.)"""
    odd = replace(
        task(89, "STC", "2022-03-01", "2022-03-10"),
        subject="ESC\x1b[31mRED\x1b[0m \x07bell\x0bnext line",
    )
    units = (replace(UNITS[0], name=UNITS[0].name + " \x1b[31mĐỎ\x1b[0m"), *UNITS[1:])
    report = build_report(items((*TASKS, odd)), units, ReportOptions(as_of=AS_OF))
    render_bytes(report, fmt)  # every format renders, json and csv included
    if fmt in ("json", "csv"):
        return
    text = rendered_text(report, fmt)
    assert "RED" in text
    assert not re.search("[\x00-\x08\x0b-\x0c\x0e-\x1f]", text), fmt


@pytest.mark.parametrize("fmt", ["xlsx", "docx", "html", "md", "table"])
def test_a_c1_control_character_is_left_out_of_the_documents(fmt: str) -> None:
    """DEL and the C1 controls are control characters too: a subject with an 8-bit CSI
    (U+009B, which a terminal runs as ESC [) and a DEL, a unit's name with a NEL (U+0085, a
    line break), leave none of them in a document or the terminal table."""
    odd = replace(
        task(89, "STC", "2022-03-01", "2022-03-10"),
        subject="C1\x9b31mRED DEL\x7f end",
    )
    units = (replace(UNITS[0], name=UNITS[0].name + "\x85\x9b2J"), *UNITS[1:])
    report = build_report(items((*TASKS, odd)), units, ReportOptions(as_of=AS_OF))
    text = rendered_text(report, fmt)
    assert "31mRED" in text
    assert not re.search("[\x7f-\x9f]", text), fmt


@pytest.mark.parametrize(("lang", "shown"), [("vi", "DD/MM/YYYY"), ("en", "YYYY-MM-DD")])
def test_xlsx_dates_are_shown_as_the_report_writes_them(q1: Report, lang: str, shown: str) -> None:
    """An annex date cell is a date shown dd/mm/yyyy in Vietnamese and ISO in English, as the
    Word, HTML and terminal reports write it. (English workbooks showed dd/mm/yyyy.)"""
    data = render(q1, "xlsx", lang)
    assert isinstance(data, bytes)
    wb = load_workbook(io.BytesIO(data))
    annex = wb.worksheets[1]
    dated = [c for row in annex.iter_rows() for c in row if getattr(c, "is_date", False)]
    assert dated
    assert {c.number_format for c in dated} == {shown}
