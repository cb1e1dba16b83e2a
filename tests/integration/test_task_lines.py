"""``tasks list`` streamed: the listing query (`connector.ledger.lines`) and the JSON written as
it is read give, on SQLite and PostgreSQL, exactly the text the full-row listing gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.lines import iter_task_lines
from connector.ledger.reader import Reader, open_reader, reading
from connector.ledger.tasks import list_tasks
from connector.rules.classify import reclassify
from connector.rules.deadlines import DEFAULT_POLICY
from connector.views.shapes import tasks_json, tasks_json_text
from tests.support.report_world import AS_OF, TASKS, at, calendar

FILTERS = [
    pytest.param({}, id="all"),
    pytest.param({"unit": "STC"}, id="unit"),
    pytest.param({"status": "DTH_QUA_HAN"}, id="status"),
    pytest.param({"unit": "SXD", "status": "HT_DUNG_HAN"}, id="unit-and-status"),
    pytest.param({"limit": 5}, id="limit-across-batches"),
    pytest.param({"limit": 4}, id="limit-on-a-batch-edge"),
    pytest.param({"limit": 1000}, id="limit-above-all"),
    pytest.param({"include_deleted": True}, id="with-deleted"),
    pytest.param({"unit": "NONE"}, id="nothing"),
]


def _classified_world(ledger: Ledger) -> None:
    """The report world in the ledger, classified as of its day; one task deleted at the source,
    one with a subject holding quotes, controls and a line break."""
    odd = replace(TASKS[1], subject='Báo cáo "quý" \\ tab\tline\nend \u2028 \x85', deleted=True)
    with ledger.transaction() as session:
        for t in (odd, TASKS[0], *TASKS[2:]):
            repo.upsert_task(session, t, {}, run_id="r1", observed_at=at(AS_OF, 10))
    reclassify(
        ledger,
        as_of=AS_OF,
        calendar=calendar(),
        policy=DEFAULT_POLICY,
        run_id="c1",
        clock=FixedClock(at(AS_OF, 12)),
    )


def _readers(ledger: Ledger) -> Iterator[Reader]:
    """The ledger read both ways: a session's reader and the commands' plain connection."""
    with reading(ledger) as r:
        yield r
    with open_reader(ledger.url) as plain:
        yield plain


@pytest.mark.parametrize("query", FILTERS)
def test_streamed_listing_is_the_full_row_listing(ledger: Ledger, query: dict[str, Any]) -> None:
    """Read 2 rows a query, the streamed JSON is byte for byte the documented listing of full
    rows (`tasks_json` of `list_tasks`), with a plain connection and with a session."""
    _classified_world(ledger)
    for r in _readers(ledger):
        expected = json.dumps(
            tasks_json(list_tasks(r, **query)), ensure_ascii=False, indent=2, default=str
        )
        streamed = "".join(tasks_json_text(iter_task_lines(r, batch_size=2, **query)))
        assert streamed == expected
        assert json.loads(streamed)["count"] == len(list_tasks(r, **query))


def test_an_empty_ledger_lists_nothing(ledger: Ledger) -> None:
    """No task: the streamed listing is the documented empty shape."""
    with reading(ledger) as r:
        streamed = "".join(tasks_json_text(iter_task_lines(r)))
    assert streamed == json.dumps({"tasks": [], "count": 0}, indent=2)


def test_paging_keeps_every_task_of_sources_sharing_ids(ledger: Ledger) -> None:
    """Ids are unique per source only: read one row a query, the listing and the report's task
    reader still give each (source, id) once, by id then source."""
    from connector.ledger.lines import iter_source_tasks
    from connector.ledger.scope import writing_as

    for name in ("gia-lai", "binh-dinh"):
        with writing_as(name), ledger.transaction() as session:
            for t in TASKS[:3]:
                repo.upsert_task(session, t, {}, run_id=f"r-{name}", observed_at=at(AS_OF, 10))
    with reading(ledger) as r:
        lines = list(iter_task_lines(r, batch_size=1, include_deleted=True))
        tasks = list(iter_source_tasks(r, batch_size=1))
    ids = sorted([t.source_id for t in TASKS[:3]] * 2)
    assert [line.source_id for line in lines] == ids
    assert [t.source_id for t in tasks] == ids
