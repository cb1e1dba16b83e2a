"""`connector.source.classifier.PageClassifier` with its child replaced by an in-process stand-in
that answers each page as soon as it is committed (a child faster than the pages): the verdicts
of a page are written in a later transaction, less the tasks a page committed since wrote again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.clock import SystemClock
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.pages import Incoming, write_page
from connector.ledger.reader import open_reader
from connector.models import NormalisedTask, TaskState
from connector.settings import Settings
from connector.source import classifier as classifier_module
from connector.source.classifier import PageClassifier
from connector.source.pull import classification_of
from tests.support.factories import T0, make_task

AS_OF = date(2022, 1, 12)  # task 2 is overdue (due 10 January) until it is completed


class InProcess:
    """Stands in for `ForkedWorker`: each request is handled when it is sent (the ledger as it
    is then), its answer handed over when asked, in order."""

    def __init__(self, handle: Callable[[Any], Any], setup: Any = None) -> None:
        self._handle = handle
        self._answers: deque[Any] = deque()
        self.pending = 0

    def send(self, request: Any) -> None:
        self._answers.append(self._handle(request))
        self.pending += 1

    def ready(self) -> bool:
        return self.pending > 0

    def answer(self) -> Any:
        self.pending -= 1
        return self._answers.popleft()

    def close(self) -> None:
        pass


@pytest.fixture
def ledger(tmp_path: Path) -> Any:
    db = open_ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield db
    db.close()


def _classifier(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> PageClassifier:
    monkeypatch.setattr(classifier_module, "ForkedWorker", InProcess)
    settings = Settings.model_validate(
        {"source": {"base_url": "http://127.0.0.1:9/api", "password": "x"}}
    )
    how = classification_of(
        settings,
        ledger,
        clock=SystemClock(),
        run_id="run-1",
        as_of=AS_OF,
        calendar=None,
        plan_outbox=True,
    )
    return PageClassifier(ledger, how)


def _page(ledger: Ledger, tasks: list[NormalisedTask], classifier: PageClassifier) -> None:
    """One page committed, without writing the verdicts ready (they wait for a later one)."""
    items = [
        Incoming(task=t, raw={"id": t.source_id, "v": str(t.last_modified)}, record_key="")
        for t in tasks
    ]
    with ledger.transaction() as session:
        write_page(session, items, run_id="run-1", observed_at=datetime.now().astimezone())
    classifier.written([t.source_id for t in tasks])


def _rows(ledger_url: str, sql: str) -> list[dict[str, Any]]:
    reader = open_reader(ledger_url)
    try:
        return reader.rows(sql)
    finally:
        reader.close()


def test_verdicts_of_a_task_a_later_page_wrote_again_are_left_out(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task 2 is open (overdue) on page 1 and completed on page 2, both committed before page
    1's verdicts are written: only its completed verdict is written (one status history row,
    no tracking row for the overdue status), task 1's verdict from page 1 is."""
    classifier = _classifier(ledger, monkeypatch)
    _page(ledger, [make_task(1), make_task(2)], classifier)
    done = make_task(
        2,
        last_modified=T0 + timedelta(days=8),
        state=TaskState.DONE,
        completed_at=T0 + timedelta(days=8),
    )
    _page(ledger, [done], classifier)
    classifier.finish()

    assert classifier.judged_again == 1
    assert (classifier.result.classified, classifier.result.status_changes) == (2, 2)
    url = str(ledger.engine.url)
    status_rows = _rows(
        url,
        "SELECT task_id, new_value FROM task_history WHERE field = 'status_code' ORDER BY task_id",
    )
    tasks = {r["source_id"]: r for r in _rows(url, "SELECT * FROM task")}
    assert [r["task_id"] for r in status_rows] == [1, 2]
    assert status_rows[1]["new_value"] == tasks[2]["status_code"]
    assert tasks[2]["status_code"].startswith("HT_")  # completed
    assert tasks[1]["status_code"] == "DTH_QUA_HAN"  # overdue
    assert all(t["checked_on"] == AS_OF.isoformat() for t in tasks.values())
    tracking = _rows(url, "SELECT * FROM outbox WHERE kind = 'tracking' AND task_id = 2")
    assert tracking, "task 2's completed status is to be written back"
    for row in tracking:
        assert "DTH_QUA_HAN" not in row["payload_json"] + row["idempotency_key"] + row["occasion"]


def test_verdicts_written_in_a_pages_transaction_stand(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verdicts ready when the next page is written go in its transaction, before it; a task
    that page does not write again keeps them, and is not due any more."""
    classifier = _classifier(ledger, monkeypatch)
    _page(ledger, [make_task(1)], classifier)
    with ledger.transaction() as session:
        classifier.apply(session)
        write_page(
            session,
            [Incoming(task=make_task(3), raw={"id": 3}, record_key="")],
            run_id="run-1",
            observed_at=datetime.now().astimezone(),
        )
    classifier.written([3])
    classifier.finish()
    url = str(ledger.engine.url)
    tasks = _rows(url, "SELECT source_id, status_code, recheck_on FROM task ORDER BY source_id")
    assert [(t["source_id"], t["status_code"]) for t in tasks] == [
        (1, "DTH_QUA_HAN"),
        (3, "DTH_QUA_HAN"),
    ]
    assert all(t["recheck_on"] is not None for t in tasks)
    assert classifier.judged_again == 0
