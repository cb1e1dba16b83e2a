"""The printed report: each format rendered to PDF by the programs offices use, and its pages
checked: A4, the body portrait and the wide tables landscape, every column of a table on every
page (no sheet split across pages), header rows repeated, the TỔNG CỘNG figures computed.

XLSX and DOCX are converted by LibreOffice, HTML printed by headless Chromium; pdfinfo and
pdftotext (poppler-utils) read the pages. `make test` installs them on Debian
(.ci/ensure-renderers); without them these tests are skipped, saying which is missing.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest

from connector.models import DeadlineChange, NormalisedTask
from connector.reports.build import build_report
from connector.reports.model import DocumentForm, Report, ReportOptions
from connector.reports.render.formats import render_bytes
from tests.support.report_world import AS_OF, TASKS, UNITS, at, items, task

pytestmark = pytest.mark.slow

A4 = (595, 842)
"""A4 in points, rounded."""
TIMEOUT = 300


def _tool(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


CHROMIUM = _tool("chromium", "chromium-browser", "google-chrome")
LIBREOFFICE = _tool("libreoffice", "soffice")
PDFINFO = _tool("pdfinfo")
PDFTOTEXT = _tool("pdftotext")


def _need(**tools: str | None) -> None:
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed (make test installs them with "
            ".ci/ensure-renderers, as root on Debian)"
        )


DIRECTIVE = (
    "Giao {unit} chủ trì, phối hợp với các sở, ngành và UBND các huyện, thị xã, thành phố rà "
    "soát, tham mưu UBND tỉnh ban hành kế hoạch triển khai thực hiện; báo cáo kết quả về UBND "
    "tỉnh (qua Văn phòng UBND tỉnh) để theo dõi, chỉ đạo."
)


def _big_world() -> tuple[NormalisedTask, ...]:
    """The hand-built world plus 150 tasks with long directive texts: overdue, late and
    without deadline (half of the overdue ones extended after their first deadline had passed),
    so that every annex runs over several pages."""
    extra: list[NormalisedTask] = []
    codes = [u.code for u in UNITS]
    start = date(2022, 1, 4)
    for n in range(150):
        unit = codes[n % len(codes)]
        assigned = start + timedelta(days=n % 100)
        text = DIRECTIVE.format(unit=unit)
        if n % 3 == 0:
            deadline = assigned + timedelta(days=20)
            late = DeadlineChange(
                assigned + timedelta(days=5), deadline, at(assigned + timedelta(days=10)), "gia hạn"
            )
            extra.append(
                task(
                    1000 + n,
                    unit,
                    assigned.isoformat(),
                    deadline.isoformat(),
                    text=text,
                    changes=(late,) if n % 6 == 0 else (),
                )
            )
        elif n % 3 == 1:
            deadline = assigned + timedelta(days=10)
            done = (deadline + timedelta(days=5)).isoformat()
            extra.append(
                task(
                    1000 + n,
                    unit,
                    assigned.isoformat(),
                    deadline.isoformat(),
                    completed=done,
                    text=text,
                )
            )
        else:
            extra.append(task(1000 + n, unit, assigned.isoformat(), text=text))
    return (*TASKS, *extra)


@pytest.fixture(scope="module")
def report() -> Report:
    form = DocumentForm(governing_body="UBND TỈNH BÌNH ĐỊNH", place="Bình Định", number="45")
    return build_report(items(_big_world()), UNITS, ReportOptions(as_of=AS_OF, form=form))


def _pages(pdf: Path) -> list[tuple[int, int]]:
    """Each page's (width, height) in points."""
    assert PDFINFO is not None
    out = subprocess.run(
        [PDFINFO, "-f", "1", "-l", "100000", str(pdf)],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    ).stdout
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", out)
    return [(round(float(w)), round(float(h))) for w, h in sizes]


def _texts(pdf: Path) -> list[str]:
    """Each page's text."""
    assert PDFTOTEXT is not None
    out = subprocess.run(
        [PDFTOTEXT, "-layout", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    ).stdout
    return out.split("\f")[: len(_pages(pdf))]


def _libreoffice_pdf(source: Path) -> Path:
    assert LIBREOFFICE is not None
    profile = source.parent / "lo-profile"
    subprocess.run(
        [
            LIBREOFFICE,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(source.parent),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    pdf = source.with_suffix(".pdf")
    assert pdf.exists(), f"LibreOffice wrote no PDF for {source.name}"
    return pdf


def _chromium_pdf(source: Path) -> Path:
    assert CHROMIUM is not None
    pdf = source.with_suffix(".pdf")
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={source.parent / 'chromium-profile'}",
            f"--print-to-pdf={pdf}",
            source.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=TIMEOUT,
    )
    assert pdf.exists(), "Chromium wrote no PDF"
    return pdf


def _annex_pages(texts: list[str]) -> list[str]:
    """The pages of annex tables (the first column's header, "STT", is on every page of any
    table; "Trích yếu" only on the annexes')."""
    return [t for t in texts if "Trích yếu" in t]


def _figures(line: str) -> list[str]:
    return re.findall(r"\d+(?:[.,]\d+)?|—", line.split("TỔNG CỘNG", 1)[1])


def test_xlsx_prints_every_column_on_every_a4_page(report: Report, tmp_path: Path) -> None:
    """LibreOffice prints the workbook on A4 landscape pages, each sheet one page wide: every
    page of an annex holds its first and last column with the header row repeated; the total
    row's SUM formulas print the report's totals."""
    _need(libreoffice=LIBREOFFICE, pdfinfo=PDFINFO, pdftotext=PDFTOTEXT)
    source = tmp_path / "report.xlsx"
    source.write_bytes(render_bytes(report, "xlsx"))
    pdf = _libreoffice_pdf(source)
    pages = _pages(pdf)
    assert set(pages) == {(A4[1], A4[0])}, "every sheet on A4 landscape"
    texts = _texts(pdf)
    # Each sheet's header rows repeat on its pages, their first column included: a sheet whose
    # columns were split across pages would print pages without it.
    assert all("STT" in text for text in texts)
    annex_pages = _annex_pages(texts)
    assert len(annex_pages) >= 8  # several pages per annex: the repeat is really exercised
    for number, text in enumerate(annex_pages, start=1):
        assert "STT" in text and "Nguyên" in text, f"annex page {number} lost columns"
    summary = [t for t in texts if "(15)" in t or "(1)" in t]
    assert summary and all("(1)" in t and "(15)" in t for t in summary)
    total = next(line for t in texts for line in t.splitlines() if "TỔNG CỘNG" in line)
    t = report.total
    expected = [
        t.total, t.with_deadline, t.without_deadline, t.done_on_time, t.done_late,
        t.done_no_deadline, t.open_within, t.open_overdue, t.open_overdue_over_30,
        t.open_no_deadline, t.open_no_deadline_stale,
    ]  # fmt: skip
    figures = _figures(total)
    assert [int(f) for f in figures[:11]] == expected
    assert figures[11].replace(",", ".") == f"{t.rate.percent}"
    assert int(figures[12]) == t.unconfirmed
    # One page wide: never more pages than rows could fill at the fitted scale.
    assert len(pages) <= 2 + len(annex_pages) + len(summary) + 2


def test_docx_prints_a_portrait_body_and_landscape_annexes(report: Report, tmp_path: Path) -> None:
    """LibreOffice prints the Word file on A4: the body portrait, the annexes landscape, every
    annex page with its header row and every column."""
    _need(libreoffice=LIBREOFFICE, pdfinfo=PDFINFO, pdftotext=PDFTOTEXT)
    source = tmp_path / "report.docx"
    source.write_bytes(render_bytes(report, "docx"))
    pdf = _libreoffice_pdf(source)
    pages = _pages(pdf)
    texts = _texts(pdf)
    assert pages[0] == A4
    assert set(pages) <= {A4, (A4[1], A4[0])}
    first_annex = next(i for i, t in enumerate(texts) if "(Kèm theo Báo cáo số" in t)
    assert all(size == A4 for size in pages[:first_annex])
    assert all(size == (A4[1], A4[0]) for size in pages[first_annex:])
    annex_pages = texts[first_annex:]
    assert len(annex_pages) >= 8
    for number, text in enumerate(annex_pages, start=1):
        assert "Trích yếu" in text and "Nguyên" in text, f"annex page {number}"
    assert sum("TỔNG CỘNG" in t for t in texts) == 1
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in texts[0]
    assert "Bình Định, ngày 30 tháng 5 năm 2022" in texts[0]


def test_html_prints_on_a4_with_landscape_annexes(report: Report, tmp_path: Path) -> None:
    """Chromium prints the page on A4: the body portrait, each annex on landscape pages whose
    header row repeats; page numbers from page 2."""
    _need(chromium=CHROMIUM, pdfinfo=PDFINFO, pdftotext=PDFTOTEXT)
    source = tmp_path / "report.html"
    source.write_bytes(render_bytes(report, "html"))
    pdf = _chromium_pdf(source)
    pages = _pages(pdf)
    texts = _texts(pdf)
    assert pages[0] == A4
    first_annex = next(i for i, t in enumerate(texts) if "(Kèm theo Báo cáo số" in t)
    assert all(size == A4 for size in pages[:first_annex])
    assert all(size == (A4[1], A4[0]) for size in pages[first_annex:])
    for number, text in enumerate(texts[first_annex:], start=1):
        assert "Trích yếu" in text and "Nguyên" in text, f"annex page {number}"
    assert texts[1].lstrip().startswith("2")  # the page number, top centre
    assert not texts[0].lstrip().startswith("1")  # none on the first page


def _words(pdf: Path) -> list[tuple[int, float, float, str]]:
    """Every word of the PDF as (page, x, y, text), as pdftotext -bbox reads it."""
    assert PDFTOTEXT is not None
    out = subprocess.run(
        [PDFTOTEXT, "-bbox", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    ).stdout
    words: list[tuple[int, float, float, str]] = []
    for page, body in enumerate(out.split("<page ")[1:], start=1):
        for x, y, text in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)"[^>]*>([^<]*)</word>', body
        ):
            words.append((page, float(x), float(y), html.unescape(text)))
    return words


def _summary_header_words(pdf: Path, first_header: str) -> list[str]:
    """The words of the summary table's header rows on its first page: below the first word of
    its first group header (`first_header`) and above the column numbers' "(1)"."""
    words = _words(pdf)
    page, _, number_y, _ = next(w for w in words if w[3] == "(1)")
    top = max(y for p, _, y, text in words if p == page and text == first_header and y < number_y)
    return [text for p, _, y, text in words if p == page and top - 1 <= y < number_y - 1]


def _broken_words(found: list[str], labels: list[str]) -> list[str]:
    """Words of `found` that are neither a whole word of `labels` nor a piece of one broken at a
    hyphen: a piece ending in a hyphen from inside a word, or the rest of a word whose first
    pieces (ending in a hyphen) are there too. Soft hyphens (invisible) are left out."""
    whole = {w for text in labels for w in text.split()}
    hyphens = "-\u2010"
    pieces = [w.replace("\u00ad", "") for w in found]
    starts = [w.rstrip(hyphens) for w in pieces if w.endswith(tuple(hyphens))]
    heads = set(starts) | {a + b for a in starts for b in starts}
    broken = []
    for w in pieces:
        if w in whole:
            continue
        if w.endswith(tuple(hyphens)) and any(w.rstrip(hyphens) in x for x in whole):
            continue
        if any(x.endswith(w) and x[: -len(w)] in heads for x in whole):
            continue
        broken.append(w)
    return broken


@pytest.mark.parametrize("fmt", ["docx", "html", "xlsx"])
def test_english_summary_header_breaks_no_word_inside(
    report: Report, tmp_path: Path, fmt: str
) -> None:
    """In English the summary table's narrow figure columns hold words longer than a column
    ("deadline", "Unconfirmed"): each header word prints whole, or broken at a hyphen, never
    cut in the middle ("deadli" / "ne", "Uncon" / "firmed")."""
    from connector.i18n import label
    from connector.reports.render.common import SUMMARY_COLUMNS

    if fmt == "html":
        _need(chromium=CHROMIUM, pdftotext=PDFTOTEXT)
    else:
        _need(libreoffice=LIBREOFFICE, pdftotext=PDFTOTEXT)
    english = build_report(
        items(_big_world()), UNITS, ReportOptions(as_of=AS_OF, form=report.form, lang="en")
    )
    source = tmp_path / f"report.{fmt}"
    source.write_bytes(render_bytes(english, fmt))
    pdf = _chromium_pdf(source) if fmt == "html" else _libreoffice_pdf(source)
    labels = [column.label("en", False) for column in SUMMARY_COLUMNS]
    labels += [label(key, "en") for key in ("col_no", "col_unit", "group_assigned")]
    labels += [label(key, "en") for key in ("group_done", "group_open")]
    found = _summary_header_words(pdf, "Tasks")
    assert "Total" in found  # the header rows were found
    assert _broken_words(found, labels) == []
