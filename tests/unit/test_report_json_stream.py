"""The report's JSON is written piece by piece, each annex line encoded as it comes, and is byte
for byte the text ``json.dumps(report_dict(report), ensure_ascii=False, indent=2)`` writes (the
schema of docs/report-json.md unchanged), one source or several, to a string or to a file."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.ledger.codec import encode
from connector.models import Unit
from connector.reports.build import build_merged_report, build_report
from connector.reports.model import Item, Report, ReportOptions
from connector.reports.render.jsonfmt import (
    _encoded,
    _line,
    _ref,
    iter_json,
    render_json,
    report_dict,
    write_json,
)
from connector.rules.unitmap import UnitMap
from tests.support.report_world import AS_OF, TASKS, UNITS, items

SOURCES = ("a", "b")

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**12), max_value=10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_a_value_is_encoded_as_json_dumps_writes_it(value: Any) -> None:
    """Any JSON value (scalars, nested lists and objects, diacritics, control characters,
    surrogates) is encoded as ``json.dumps(..., ensure_ascii=False, indent=2)`` does."""
    assert _encoded(value, 0) == json.dumps(value, ensure_ascii=False, indent=2)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _JSON, max_size=8))
def test_an_annex_line_is_encoded_as_json_dumps_writes_it_in_the_document(
    data: dict[str, Any],
) -> None:
    """An annex line's object is encoded as ``json.dumps(..., indent=2)`` writes it at its level
    in the document (three levels down: the annexes' object, the annex's list)."""
    document = {"annexes": {"x": [data]}}
    text = json.dumps(document, ensure_ascii=False, indent=2)
    assert text == f'{{\n  "annexes": {{\n    "x": [\n      {_line(data)}\n    ]\n  }}\n}}'


def _merged() -> Report:
    def both() -> Iterator[tuple[str, Item]]:
        for source in SOURCES:
            yield from ((source, item) for item in items())

    units: list[tuple[str, Unit]] = [(s, u) for s in SOURCES for u in UNITS]
    return build_merged_report(
        both(), units, ReportOptions(as_of=AS_OF), UnitMap.identity(), SOURCES
    )


REPORTS = [
    pytest.param(lambda: build_report(items(), UNITS, ReportOptions(as_of=AS_OF)), id="to-date"),
    pytest.param(
        lambda: build_report(items(), UNITS, ReportOptions(as_of=AS_OF, period="2022-03")),
        id="month",
    ),
    pytest.param(
        lambda: replace(
            build_report(items(), UNITS, ReportOptions(as_of=AS_OF)),
            overdue=(),
            late=(),
            stale=(),
            missing_deadline=(),
            extended_after_overdue=(),
            recurring=(),
        ),
        id="no-annex-line",
    ),
    pytest.param(_merged, id="several-sources"),
]


@pytest.mark.parametrize("make", REPORTS)
def test_the_streamed_json_is_the_json_of_the_report_dict(make: Any) -> None:
    """`render_json`, `iter_json` and `write_json` give exactly the text of the whole report's
    dict encoded at once (annexes with and without lines, one source and several)."""
    report = make()
    whole = json.dumps(report_dict(report, "vi"), ensure_ascii=False, indent=2) + "\n"
    assert render_json(report, "vi") == whole
    assert sum(1 for _ in iter_json(report, "vi")) > 6
    out = io.BytesIO()
    write_json(report, out, "vi")
    assert out.getvalue() == whole.encode("utf-8")
    assert json.loads(whole)["annexes"].keys() == {
        "overdue",
        "late",
        "stale_no_deadline",
        "missing_deadline",
        "extended_after_overdue",
        "recurring",
    }


@pytest.mark.parametrize("make", [p for p in REPORTS if p.id != "no-annex-line"])
def test_an_annex_task_is_every_field_of_its_ref(make: Any) -> None:
    """An annex line's task is `TaskRef` encoded field by field (`connector.ledger.codec.
    encode`), ``source`` and ``unit_source`` only over several sources, in that order."""
    report = make()
    refs = [e.task for e in (*report.overdue, *report.late, *report.missing_deadline)]
    for ref in refs:
        expected = encode(ref)
        if not report.sources:
            expected.pop("source")
            expected.pop("unit_source")
        assert list(_ref(ref).items()) == list(expected.items())
    assert refs


def test_the_world_has_lines_in_every_annex() -> None:
    """The world above reaches the annexes of the tests above (lines of each kind but the
    extension after the deadline, which only a seeded world of test_report_fast_path has)."""
    report = build_report(items(), UNITS, ReportOptions(as_of=AS_OF))
    assert all(
        getattr(report, name)
        for name in ("overdue", "late", "stale", "missing_deadline", "recurring")
    )
    assert len(TASKS) > 30
