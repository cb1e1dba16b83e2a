"""Hostile records through normalise and store, on SQLite and PostgreSQL: every record ends stored
or quarantined, never a traceback; the bounds of a record, and the per-record savepoint."""

from __future__ import annotations

import copy
import io
import itertools
import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from structlog.testing import capture_logs

from connector.errors import BadRecord
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import QuarantineRow, TaskRow
from connector.mapping.normalise import RecordLimits, bounded_raw, normalise
from connector.mapping.spec import load_mapping
from connector.models import NormalisedTask, TaskState
from connector.ops.log import configure_logging
from connector.source.pull import newest_versions, to_page_item
from tests.support.factories import RECORDS_NOW, make_record

SPEC = load_mapping("idesk")
BASE = make_record(1, RECORDS_NOW)
KEYS = sorted(BASE)
OBSERVED = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)

EXTREME_DATES = [
    "Jan 1, 0001, 12:00:00 AM",
    "Dec 31, 9999, 11:59:59 PM",
    "Dec 31, 1899, 11:59:59 PM",
    "Jan 1, 2200, 12:00:00 AM",
    "Feb 1, 2200, 12:00:01 AM",
    "Feb 30, 2022, 12:00:00 AM",
    "9999-12-31T23:59:59+00:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00+14:00",
    "2022-13-01T00:00:00+00:00",
    "2022-03-07T02:00:00",
    "",
]
SPECIAL_TEXT = [
    "a\x00b",
    "\ud800 lone surrogate",
    "\u202e\u2066bidi\u2069",
    "dòng 1\r\ndòng 2\u2028\u2029\x85",
    "\x1b[2J\x1b]0;x\x07",
    "x" * 1024,
    "N" * 4001,
]
HUGE_INTS = [2**31, -(2**31) - 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**80, 0, -1]

text = st.text(
    alphabet=st.characters(categories=["Cc", "Cs", "Cf", "Zl", "Zp", "Mn", "Ll", "Lu", "Nd"]),
    max_size=30,
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from(HUGE_INTS),
    st.floats(),
    text,
    st.sampled_from(EXTREME_DATES),
    st.sampled_from(SPECIAL_TEXT),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["commCode", "aname", "newDeadline", "x"]), children)
    ),
    max_leaves=6,
)
_DELETE = object()
_ids = itertools.count(1_000)


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid contract record with a few keys deleted, replaced by anything, or added."""
    record: dict[str, Any] = copy.deepcopy(BASE)
    record["id"] = next(_ids)
    keys = st.sampled_from([*KEYS, "unknownKey"])
    changes = draw(st.dictionaries(keys, st.just(_DELETE) | json_values, max_size=6))
    for key, value in changes.items():
        if value is _DELETE:
            record.pop(key, None)
        else:
            record[key] = value
    return record


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(page=st.lists(hostile_records(), min_size=1, max_size=6))
def test_hostile_records_end_stored_or_quarantined(ledger: Ledger, page: list[Any]) -> None:
    """Generated hostile records (extreme dates, huge numbers, control and bidi characters,
    wrong types, missing keys) are each stored or quarantined on both backends; nothing raises."""
    with capture_logs():
        items, _ = newest_versions([to_page_item(raw, SPEC) for raw in page])
        with ledger.transaction() as session:
            counts = repo.write_page(session, items, run_id="hyp", observed_at=OBSERVED)
    handled = counts.inserted + counts.updated + counts.unchanged + counts.older_skipped
    assert handled + counts.quarantined == len(items)
    with ledger.reading() as s:
        for item in items:
            held = s.scalars(
                select(QuarantineRow).where(QuarantineRow.record_key == item.record_key)
            ).first()
            if isinstance(item, repo.Incoming) and held is None:
                assert s.get(TaskRow, ("idesk", item.task.source_id)) is not None
                event("stored")
            else:
                assert held is not None and held.reason, item.record_key
                event("quarantined")


# -- the bounds of one record ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "limits", "field", "words"),
    [
        pytest.param(
            {"steeringContent": "x" * 1024}, None, "steering_content", "over the limit of 1023",
            id="steering-over-contract",
        ),
        pytest.param(
            {"subject": "y" * 61}, RecordLimits(max_field_chars=60), "subject", "sync.max_field_chars",
            id="subject-over-setting",
        ),
        pytest.param(
            {"junk": "z" * 61}, RecordLimits(max_field_chars=60), "(source 'junk')", "61 characters",
            id="unknown-key-over-setting",
        ),
        pytest.param(
            {"coordinators": [{"commCode": "SNV"}] * 3}, RecordLimits(max_list_items=2),
            "coordinators", "sync.max_list_items", id="list-over-setting",
        ),
        pytest.param(
            {"junk": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
            None, "(source 'junk')", "nested deeper", id="too-deep",
        ),
        pytest.param(
            {"deadline": "Dec 31, 1899, 11:59:59 PM"}, None, "deadline", "1900..2199",
            id="deadline-before-1900",
        ),
        pytest.param(
            {"deadline": "Jan 1, 2200, 12:00:00 AM"}, None, "deadline", "1900..2199",
            id="deadline-2200-not-the-sentinel",
        ),
        pytest.param(
            {"deadline": "Jan 1, 0001, 12:00:00 AM"}, None, "deadline", "out of range",
            id="deadline-year-1",
        ),
        pytest.param(
            {"lastModifyStr": "9999-12-31T23:59:59+00:00"}, None, "last_modified", "1900..2199",
            id="modified-9999",
        ),
        pytest.param({"id": 2**63}, None, "source_id", "does not fit", id="id-2-63"),
        pytest.param({"edId": -(2**63) - 1}, None, "ed_id", "does not fit", id="ed-id-low"),
        pytest.param({"extraNumber": 1, "steeringType": 2**31}, None, "steering_type", "maximum",
                     id="steering-type-mapping-bound"),
    ],
)
def test_bounds_of_a_record(
    changes: dict[str, Any], limits: RecordLimits | None, field: str, words: str
) -> None:
    """A value beyond a bound makes the record a BadRecord naming the field and the bound."""
    with pytest.raises(BadRecord) as caught:
        normalise(make_record(1, RECORDS_NOW, **changes), SPEC, limits)
    assert caught.value.field.startswith(field), caught.value.field
    assert words in caught.value.message


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"steeringContent": "x" * 1023}, id="steering-at-contract-limit"),
        pytest.param({"deadline": "Jan 1, 1900, 12:00:00 AM"}, id="deadline-1900"),
        pytest.param({"deadline": "Dec 31, 2199, 11:59:59 PM"}, id="deadline-2199"),
        pytest.param({"deadline": "Feb 1, 2200, 12:00:01 AM"}, id="no-deadline-sentinel"),
        pytest.param({"id": 2**63 - 1}, id="largest-id"),
        pytest.param({"subject": "s" * 4000}, id="subject-at-default-limit"),
    ],
)
def test_values_at_the_bounds_are_kept(changes: dict[str, Any]) -> None:
    """Values at (not beyond) each bound normalise."""
    assert isinstance(normalise(make_record(1, RECORDS_NOW, **changes), SPEC), NormalisedTask)


def test_bounded_raw_keeps_a_quarantined_record_small() -> None:
    """The raw JSON kept with a quarantined record cuts long texts, long lists and deep nesting."""
    raw = make_record(1, RECORDS_NOW, steeringContent="N" * 5_000_000, junk=list(range(5000)), deep=[[[[1]]]])
    kept = bounded_raw(raw, RecordLimits(max_field_chars=100, max_list_items=10))
    assert kept["steeringContent"].startswith("N" * 100)
    assert kept["steeringContent"].endswith("…[cut: 4999900 chars]")
    assert kept["junk"][:10] == list(range(10)) and kept["junk"][10] == "…[cut: 4990 items]"
    assert kept["subject"] == raw["subject"]
    item = to_page_item(raw, SPEC)
    assert isinstance(item, repo.Rejected)
    assert len(repo.canonical_json(item.raw)) < 20_000


def test_a_record_the_database_refuses_is_quarantined_alone(ledger: Ledger) -> None:
    """When the database refuses one record of a page (a value normalise did not bound), that
    record is quarantined with the database's reason and the rest of the page is stored."""

    def task(source_id: int, ed_id: int) -> repo.Incoming:
        t = NormalisedTask(
            source_id=source_id,
            last_modified=OBSERVED,
            state=TaskState.OPEN,
            ed_id=ed_id,
            deadline=date(2022, 4, 1),
        )
        return repo.Incoming(t, {"id": source_id}, f"id:{source_id}")

    page = [task(1, 5), task(2, 2**64), task(3, 7)]
    with capture_logs() as logs, ledger.transaction() as session:
        counts = repo.write_page(session, page, run_id="refused", observed_at=OBSERVED)
    assert (counts.inserted, counts.quarantined) == (2, 1)
    with ledger.reading() as s:
        assert {r.source_id for r in s.scalars(select(TaskRow))} == {1, 3}
        (held,) = repo.list_quarantine(s)
    assert held.record_key == "id:2" and held.task_id == 2 and held.field == "(record)"
    assert "the ledger refused the record" in held.reason
    assert [e["event"] for e in logs].count("page_store_failed") == 1


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_a_lone_surrogate_in_a_log_value_is_escaped(fmt: str) -> None:
    """A lone surrogate from a record (``\\ud800`` in its JSON) is logged escaped: the line can
    be written to a UTF-8 stream (cron's log), and JSON still reads back the same value."""
    out = io.StringIO()
    configure_logging(fmt=fmt, stream=out)  # type: ignore[arg-type]
    try:
        structlog.get_logger("test").warning("record_quarantined", value="a\ud800b")
    finally:
        structlog.reset_defaults()
    shown = out.getvalue()
    shown.encode("utf-8")  # raised UnicodeEncodeError before: a crash on a real stream
    assert "\\ud800" in shown
    if fmt == "json":
        assert json.loads(shown)["value"] == "a\ud800b"
