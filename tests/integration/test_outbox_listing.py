"""``outbox list --format json`` streamed: the rows read a batch at a time and written as they are
read give, on SQLite and PostgreSQL, exactly the text of the documented listing of every row read
at once."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest
from sqlalchemy import text

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.outbox import iter_entries
from connector.ledger.reader import open_reader, reading
from connector.outbox.planning import plan_all
from connector.outbox.states import OutboxState
from connector.settings import Settings
from connector.views.listings import outbox_list, outbox_total
from connector.views.shapes import outbox_json, outbox_json_text
from tests.support.report_world import AS_OF, TASKS, UNITS, at, calendar

QUERIES = [
    pytest.param({}, id="all"),
    pytest.param({"state": OutboxState.PENDING}, id="pending"),
    pytest.param({"state": OutboxState.DEAD}, id="dead"),
    pytest.param({"state": OutboxState.SENT, "limit": 1}, id="sent-limit"),
    pytest.param({"limit": 5}, id="limit-across-batches"),
    pytest.param({"limit": 4}, id="limit-on-a-batch-edge"),
    pytest.param({"limit": 100_000}, id="limit-above-all"),
    pytest.param({"state": OutboxState.SENDING}, id="nothing"),
]


def _planned_world(ledger: Ledger) -> None:
    """The report world planned as of its day (tracking writes and alerts, with recipients),
    some rows sent, some dead with an error holding quotes and a line break."""
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(AS_OF, 9))
        for t in TASKS:
            repo.upsert_task(session, t, {}, run_id="r1", observed_at=at(AS_OF, 10))
    now = at(AS_OF, 12)
    plan_all(ledger, Settings(), AS_OF, "r2", FixedClock(now), calendar=calendar())
    with ledger.transaction() as session:
        session.execute(
            text(
                "UPDATE outbox SET state = 'dead', attempts = 3, "
                "last_error = :error WHERE id % 7 = 0"
            ),
            {"error": 'HTTP 500 "lỗi"\nmáy chủ'},
        )
        session.execute(
            text(
                "UPDATE outbox SET state = 'sent', attempts = 1, sent_at = :at, "
                "response_id = 'r-' || id WHERE id % 7 = 3"
            ),
            {"at": now},
        )


@pytest.mark.parametrize("query", QUERIES)
def test_the_streamed_listing_is_the_listing(ledger: Ledger, query: dict[str, Any]) -> None:
    """Read 2 rows a query, the streamed JSON is byte for byte the documented listing of the
    rows read at once (`outbox_json` of `outbox_list`), with a session and a plain connection,
    and its count is the rows before ``--limit``."""
    _planned_world(ledger)
    state, limit = query.get("state"), query.get("limit", 0)
    with reading(ledger) as session_reader, open_reader(ledger.url) as plain:
        for r in (session_reader, plain):
            listing = outbox_list(r, state=state, limit=limit)
            expected = json.dumps(outbox_json(listing), ensure_ascii=False, indent=2, default=str)
            rows = iter_entries(r, state, limit=limit or None, batch_size=2)
            total = functools.partial(outbox_total, r, state, limit)
            streamed = "".join(outbox_json_text(rows, total))
            assert streamed == expected
    data = json.loads(streamed)
    if query == {}:
        assert data["count"] > 20 and any(row["recipients"] for row in data["rows"])
        assert {row["state"] for row in data["rows"]} >= {"pending", "dead", "sent"}
