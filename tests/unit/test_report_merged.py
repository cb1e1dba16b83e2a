"""`build_merged_report` (pure): rows by mapped unit over several sources, figures per source
equal to `build_report` of that source alone, whatever the unit map merges."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.models import Unit
from connector.reports.build import build_merged_report, build_report
from connector.reports.model import Item, ReportOptions
from connector.rules.unitmap import UnitMap
from tests.support.report_world import AS_OF, TASKS, UNITS, items

OPTIONS = ReportOptions(as_of=AS_OF)
SOURCES = ("a", "b")
CODES = sorted({u.code for u in UNITS} | {t.lead_unit_code for t in TASKS})


def _both() -> Iterator[tuple[str, Item]]:
    for source in SOURCES:
        yield from ((source, item) for item in items())


def _units() -> list[tuple[str, Unit]]:
    return [(source, unit) for source in SOURCES for unit in UNITS]


def test_without_a_map_each_source_keeps_its_own_rows() -> None:
    """Identity map, the same world in two sources: every row of the one-source report appears
    once per source with the same figures, and the total counts every task twice."""
    alone = build_report(items(), UNITS, OPTIONS)
    merged = build_merged_report(_both(), _units(), OPTIONS, UnitMap.identity(), SOURCES)
    assert merged.sources == SOURCES
    expected = {(s, row.code): row.counts for s in SOURCES for row in alone.rows}
    assert {(row.source, row.code): row.counts for row in merged.rows} == expected
    assert merged.total.total == 2 * alone.total.total
    assert len(merged.overdue) == 2 * len(alone.overdue)
    assert {e.task.source for e in merged.overdue} == set(SOURCES)
    assert alone.sources == () and all(r.source == "" for r in alone.rows)


@settings(max_examples=25, deadline=None)
@given(st.sets(st.sampled_from(CODES)))
def test_merging_units_adds_their_figures(merged_codes: set[str]) -> None:
    """A map merging a:X with b:X for some codes X: each merged row counts both sources' tasks of
    X, every other unit stays a row per source, and the total is unchanged."""
    text = "".join(
        f'[[unit]]\ncode = "M.{c or "none"}"\nname = "Merged {c}"\nmembers = ["a:{c}", "b:{c}"]\n'
        for c in sorted(merged_codes)
        if c
    )
    unit_map = UnitMap.parse(text)
    alone = build_report(items(), UNITS, OPTIONS)
    merged = build_merged_report(_both(), _units(), OPTIONS, unit_map, SOURCES)
    by_key = {(row.source, row.code): row for row in merged.rows}
    for row in alone.rows:
        if row.code and row.code in merged_codes:
            line = by_key[("", f"M.{row.code}")]
            assert line.counts.total == 2 * row.counts.total
            assert line.sources == SOURCES
            assert ("a", row.code) not in by_key
        else:
            assert by_key[("a", row.code)].counts == row.counts
            assert by_key[("b", row.code)].counts == row.counts
    assert (
        merged.total
        == build_merged_report(_both(), _units(), OPTIONS, UnitMap.identity(), SOURCES).total
    )
