"""A report over two sources of one ledger whose unit codes and task ids collide (SQLite and
PostgreSQL): rows by mapped unit (no map: every unit stays apart), ``--by source`` sections
equal to one-source ledgers' reports, and a read of one source exactly as before."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook
from structlog.testing import capture_logs

from connector.errors import ConfigError
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.reader import open_reader
from connector.ledger.scope import use_read_sources, use_source
from connector.models import NormalisedTask
from connector.ops.forked import can_fork
from connector.reports.build import report_as_of, report_current
from connector.reports.model import Report, ReportOptions
from connector.reports.render.csvfmt import render_csv
from connector.reports.render.docxfmt import render_docx
from connector.reports.render.jsonfmt import report_dict
from connector.reports.render.sections import (
    render_sections,
    render_sections_bytes,
    sections_dict,
)
from connector.reports.rollup import By, load_unit_map, report_rollup
from connector.rules.unitmap import UnitMap
from connector.settings import Settings, SourceSettings
from tests.support.report_world import AS_OF, TASKS, UNITS, at, calendar, d, task

GIALAI = TASKS
BINHDINH = tuple(t for t in TASKS if t.source_id % 2 == 0)
"""Bình Định's system: the same unit codes, every second task id of Gia Lai's."""
SETTINGS = Settings(sources=(SourceSettings(name="gialai"), SourceSettings(name="binhdinh")))
MAP = """
sources = ["gialai", "binhdinh"]

[[unit]]
code = "SO_TC"
name = "Sở Tài chính (hợp nhất)"
members = ["gialai:STC", "binhdinh:STC"]

[[unit]]
code = "BD.VPUBND"
name = "Văn phòng UBND tỉnh Bình Định (cũ)"
members = ["binhdinh:VPUBND"]
"""


def _write(ledger: Ledger, source: str, tasks: Sequence[NormalisedTask]) -> None:
    with use_source(source), ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(d("2022-01-01")))
        for t in tasks:
            repo.upsert_task(session, t, {}, run_id=f"run-{source}", observed_at=at(AS_OF, 7))


def _options() -> ReportOptions:
    return ReportOptions(as_of=AS_OF)


@pytest.fixture
def two(ledger_url: str) -> Ledger:
    with open_ledger(ledger_url) as ledger:
        _write(ledger, "gialai", GIALAI)
        _write(ledger, "binhdinh", BINHDINH)
        yield ledger


def _alone(tmp_path: Path, source: str, tasks: Sequence[NormalisedTask]) -> Report:
    """The report of a ledger holding `source` alone."""
    with open_ledger(f"sqlite:///{tmp_path / source / 'ledger.db'}") as ledger:
        _write(ledger, source, tasks)
        with ledger.reading() as session:
            return report_current(session, SETTINGS, _options(), calendar())


def _rows(report: Report) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (row.source, row.code): {"name": row.name, "sources": row.sources, "total": row.counts}
        for row in report.rows
    }


def _without_sources(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "source"}


def test_without_a_map_units_of_two_sources_stay_apart(two: Ledger, tmp_path: Path) -> None:
    """No unit map: Gia Lai's and Bình Định's VPUBND (one code, two agencies) are two rows,
    each with its own source and the figures of its source's one-source report; the total is
    the sum of both."""
    with two.reading() as session:
        rollup = report_rollup(session, SETTINGS, _options(), calendar())
    report = rollup.report
    assert report is not None and report.sources == ("gialai", "binhdinh")
    alone = {s: _alone(tmp_path, s, t) for s, t in (("gialai", GIALAI), ("binhdinh", BINHDINH))}
    rows = _rows(report)
    expected = {(source, row.code): row.counts for source, one in alone.items() for row in one.rows}
    assert {key: value["total"] for key, value in rows.items()} == expected
    assert ("gialai", "VPUBND") in rows and ("binhdinh", "VPUBND") in rows
    assert rows[("binhdinh", "STC")]["sources"] == ("binhdinh",)
    assert report.total.total == alone["gialai"].total.total + alone["binhdinh"].total.total
    assert report.total.by_status == {
        s: alone["gialai"].total.by_status[s] + alone["binhdinh"].total.by_status[s]
        for s in report.total.by_status
    }
    overdue = {(e.task.source, e.task.source_id) for e in report.overdue}
    assert overdue == {("gialai", e.task.source_id) for e in alone["gialai"].overdue} | {
        ("binhdinh", e.task.source_id) for e in alone["binhdinh"].overdue
    }


def test_a_unit_map_merges_and_renames_units(two: Ledger, tmp_path: Path) -> None:
    """With a map, gialai:STC and binhdinh:STC are one row SO_TC (source "", both sources)
    counting both sources' STC tasks; binhdinh:VPUBND is its own row BD.VPUBND; unlisted units
    stay apart; the annex lines name the mapped unit and the task's own source."""
    unit_map = UnitMap.parse(MAP, sources=["gialai", "binhdinh"])
    with two.reading() as session:
        report = report_rollup(session, SETTINGS, _options(), calendar(), unit_map=unit_map).report
    assert report is not None
    rows = _rows(report)
    alone = {s: _alone(tmp_path, s, t) for s, t in (("gialai", GIALAI), ("binhdinh", BINHDINH))}

    def of(source: str, code: str) -> Any:
        return next(r.counts for r in alone[source].rows if r.code == code)

    merged = rows[("", "SO_TC")]
    assert merged["name"] == "Sở Tài chính (hợp nhất)"
    assert merged["sources"] == ("gialai", "binhdinh")
    assert merged["total"].total == of("gialai", "STC").total + of("binhdinh", "STC").total
    assert rows[("", "BD.VPUBND")]["total"] == of("binhdinh", "VPUBND")
    assert rows[("gialai", "VPUBND")]["total"] == of("gialai", "VPUBND")
    assert ("gialai", "STC") not in rows and ("binhdinh", "STC") not in rows
    assert report.total.total == alone["gialai"].total.total + alone["binhdinh"].total.total
    stc = [e.task for e in report.overdue if e.task.unit_code == "SO_TC"]
    assert {t.source for t in stc} == {"gialai", "binhdinh"}
    assert all(t.unit_source == "" and t.unit_name == "Sở Tài chính (hợp nhất)" for t in stc)
    data = report_dict(report)
    assert data["by"] == "unit" and data["sources"] == ["gialai", "binhdinh"]
    first = next(r for r in data["rows"] if r["unit_code"] == "SO_TC")
    assert first["source"] is None and first["sources"] == ["gialai", "binhdinh"]
    assert data["annexes"]["overdue"][0]["source"] in ("gialai", "binhdinh")
    header, *lines = render_csv(report, "en").splitlines()
    assert header.startswith("Source,Unit code,Unit,")
    assert any(line.startswith("gialai+binhdinh,SO_TC,") for line in lines)


def test_by_source_sections_equal_one_source_ledgers(two: Ledger, tmp_path: Path) -> None:
    """``--by source``: one section per source, each exactly the report (and its JSON) of a
    ledger holding that source alone; the JSON names the layout and the sources."""
    with two.reading() as session:
        rollup = report_rollup(session, SETTINGS, _options(), calendar(), by=By.SOURCE)
    assert rollup.report is None
    assert [s.source for s in rollup.sections] == ["gialai", "binhdinh"]
    for section, tasks in zip(rollup.sections, (GIALAI, BINHDINH), strict=True):
        alone = _alone(tmp_path, section.source, tasks)
        assert section.report == alone
    data = sections_dict(rollup.sections, "vi")
    assert data["by"] == "source" and data["sources"] == ["gialai", "binhdinh"]
    for part, section in zip(data["sections"], rollup.sections, strict=True):
        assert part["source"] == section.source
        assert _without_sources(part) == report_dict(section.report, "vi")
    md = render_sections(rollup.sections, "md", "vi")
    assert md.index("# Nguồn: gialai") < md.index("# Nguồn: binhdinh")
    html = render_sections(rollup.sections, "html", "en")
    assert html.count("<body>") == 1 and "Source: binhdinh" in html
    csv_lines = render_sections(rollup.sections, "csv", "en").splitlines()
    assert csv_lines[0].startswith("Source,Unit code,")
    assert {line.split(",")[0] for line in csv_lines[1:]} == {"gialai", "binhdinh"}
    word = Document(io.BytesIO(render_sections_bytes(rollup.sections, "docx", "vi")))
    texts = [p.text for p in word.paragraphs]
    assert texts.index("Nguồn: gialai") < texts.index("Nguồn: binhdinh")
    assert texts.count("BÁO CÁO") == 2  # each source's whole document, one after the other
    alone_tables = len(Document(io.BytesIO(render_docx(rollup.sections[0].report, "vi"))).tables)
    other_tables = len(Document(io.BytesIO(render_docx(rollup.sections[1].report, "vi"))).tables)
    assert len(word.tables) == alone_tables + other_tables
    book = load_workbook(io.BytesIO(render_sections_bytes(rollup.sections, "xlsx", "vi")))
    assert book.sheetnames[0] == "gialai Tổng hợp" and "binhdinh Tổng hợp" in book.sheetnames
    assert len(book.sheetnames) == 2 * 7


def test_a_read_of_one_source_is_the_one_source_report(two: Ledger, tmp_path: Path) -> None:
    """Narrowed to one source (``--source gialai``), the report is the one-source report as
    before: no source fields, the unit map not applied, also rebuilt as of a day."""
    unit_map = UnitMap.parse(MAP, sources=["gialai", "binhdinh"])
    alone = _alone(tmp_path, "gialai", GIALAI)
    with use_read_sources(("gialai",)), two.reading() as session:
        rollup = report_rollup(session, SETTINGS, _options(), calendar(), unit_map=unit_map)
        past = report_rollup(session, SETTINGS, _options(), calendar(), history=True)
        expected_past = report_as_of(session, SETTINGS, _options(), calendar())
    assert rollup.report == alone and not alone.sources
    assert "sources" not in report_dict(alone) and "by" not in report_dict(alone)
    assert past.report == expected_past


def test_a_merged_report_as_of_a_day_reads_each_source_history(two: Ledger) -> None:
    """``--as-of`` over two sources: the merged report rebuilt from each source's history has
    the figures of the current one (nothing changed after the as-of day)."""
    with two.reading() as session:
        now = report_rollup(session, SETTINGS, _options(), calendar()).report
        then = report_rollup(session, SETTINGS, _options(), calendar(), history=True).report
    assert now is not None and then is not None
    assert [(r.source, r.code, r.counts) for r in then.rows] == [
        (r.source, r.code, r.counts) for r in now.rows
    ]


def test_a_unit_map_naming_an_unknown_source_names_the_key(tmp_path: Path) -> None:
    """`load_unit_map`: a map whose member names a source the configuration lacks is a
    ConfigError under the key it came from, naming the file's line and the source."""
    path = tmp_path / "units.toml"
    path.write_text(MAP.replace("binhdinh:STC", "kontum:STC"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_unit_map(str(path), SETTINGS, key="--unit-map")
    (problem,) = caught.value.problems
    assert problem.where == "--unit-map"
    assert "unknown source 'kontum'" in problem.message and "line 4" in problem.message
    assert load_unit_map("", SETTINGS) == UnitMap.identity()


@pytest.mark.skipif(not can_fork(), reason="needs Linux, two CPUs and one thread")
def test_by_source_sections_read_in_two_processes_are_each_sources_report(two: Ledger) -> None:
    """``--by source`` through a command's reader, each source read in two halves (a forked
    process reading the second under the same narrowed reads): the sections read in one
    process, each half counting only its source's tasks."""
    halves = SETTINGS.model_copy(
        update={"report": SETTINGS.report.model_copy(update={"parallel_min_tasks": 1})}
    )
    with two.reading() as session:
        in_one = report_rollup(session, SETTINGS, _options(), calendar(), by=By.SOURCE)
    with open_reader(two.url) as plain, capture_logs() as logs:
        in_two = report_rollup(plain, halves, _options(), calendar(), by=By.SOURCE)
    read = [e for e in logs if e["event"] == "report_read_in_halves"]
    assert [e["lower"] + e["upper"] for e in read] == [len(GIALAI), len(BINHDINH)]
    assert all(e["lower"] and e["upper"] for e in read)
    assert in_two.sections == in_one.sections


@pytest.mark.skipif(not can_fork(), reason="needs Linux, two CPUs and one thread")
@pytest.mark.parametrize("mapped", [False, True], ids=["no-map", "map"])
@pytest.mark.parametrize("history", [False, True], ids=["current", "as-of"])
def test_a_merged_report_read_in_two_processes_is_the_one_read_in_one(
    two: Ledger, mapped: bool, history: bool
) -> None:
    """``--by unit`` over two sources through a command's reader, the second source read by a
    forked process: the report read in one process, row for row (names and sources of mapped
    units included) and line for line, and its JSON."""
    # A unit the map names that is in no unit table: only its tasks resolve it (by the forked
    # half here), and the row must still bear the map's name.
    extra = '[[unit]]\ncode = "BD.BQL"\nname = "Ban Quản lý (cũ)"\nmembers = ["binhdinh:BQL"]\n'
    unit_map = UnitMap.parse(MAP + extra, sources=["gialai", "binhdinh"]) if mapped else None
    _write(two, "binhdinh", [task(9001, "BQL", "2022-03-01", "2022-03-10")])
    halves = SETTINGS.model_copy(
        update={"report": SETTINGS.report.model_copy(update={"parallel_min_tasks": 1})}
    )
    with two.reading() as session:
        in_one = report_rollup(
            session, SETTINGS, _options(), calendar(), unit_map=unit_map, history=history
        )
    with open_reader(two.url) as plain, capture_logs() as logs:
        in_two = report_rollup(
            plain, halves, _options(), calendar(), unit_map=unit_map, history=history
        )
    read = [e for e in logs if e["event"] == "report_read_in_halves"]
    assert [e["sources"] for e in read] == [[["gialai"], ["binhdinh"]]]
    assert read[0]["lower"] and read[0]["upper"]
    assert in_one.report is not None and in_one.report.total.total > 0
    assert in_two.report == in_one.report
    assert report_dict(in_two.report) == report_dict(in_one.report)
    names = {row.code: row.name for row in in_two.report.rows}
    assert names["BD.BQL" if mapped else "BQL"] == ("Ban Quản lý (cũ)" if mapped else "BQL")
