"""Confirmation requests on the ledger: the report's "unconfirmed" column is who the outbox asked.

On SQLite and PostgreSQL: tasks are stored, `plan_all` records the month's ``DE_NGHI_XAC_NHAN``
on its request day, and the report built from the same ledger counts, per lead unit, exactly the
tasks the outbox asked (numbers worked out by hand below).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import TaskRow
from connector.models import NormalisedTask, TaskState
from connector.outbox.actions import list_outbox
from connector.outbox.planning import plan_all
from connector.reports.build import report_current
from connector.reports.model import Report, ReportOptions
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.settings import Settings
from simulator.units import UNITS
from tests.support.report_world import at, d, task

CAL: WorkingCalendar = load_calendar()
SETTINGS = Settings()
REQUEST_DAY = d("2022-03-22")  # Tuesday: 3 working days before the cut-off Friday 25/03/2022

WORLD = (
    task(101, "STC", "2022-02-01", "2022-04-30", confirmed=False),  # open: asked
    task(102, "STC", "2022-02-01", "2022-04-30"),  # open, confirmed: not asked
    task(103, "STC", "2022-02-01", "2022-03-07", completed="2022-03-09", confirmed=False),
    task(104, "STC", "2022-02-01", "2022-03-07", completed="2022-03-04", confirmed=False),
    task(105, "STC", "2022-02-01", "2022-02-21", completed="2022-02-25", confirmed=False),
    task(106, "SXD", "2022-01-05", "2022-01-31", completed="2022-01-20", confirmed=False),
    task(107, "SXD", "2022-02-01", "2022-04-30", state=TaskState.CANCELLED, confirmed=False),
    task(108, "SXD", "2022-02-01", confirmed=False),  # open, no deadline: asked
    task(109, "SXD", "2022-02-01", completed="2022-02-28", confirmed=False),  # HT_KHONG_HAN
)
"""All but 102 never confirmed. Asked on 22/03 (the previous cut-off is 25/02): the open 101 and
108, and 103 (late, 09/03), 104 (on time, 04/03), 109 (no deadline, 28/02), completed after
25/02. Not asked: 105 (completed on the cut-off, in February's report), 106 (January), 107
(withdrawn), 102 (confirmed)."""

ASKED = {101, 103, 104, 108, 109}


def _seed(ledger: Ledger, tasks: tuple[NormalisedTask, ...], observed: str) -> None:
    """Store `tasks` as seen at 08:00 on `observed` (modified no later than that)."""
    observed_at = at(d(observed), 8)
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=observed_at)
        for t in tasks:
            seen = replace(t, last_modified=min(t.last_modified, observed_at))
            repo.upsert_task(
                session,
                seen,
                {"id": t.source_id},
                run_id=f"seed-{observed}",
                observed_at=observed_at,
            )


def _requests(ledger: Ledger, month: str) -> dict[int, tuple[str, str]]:
    """Task id -> (state, title) of its confirmation request of `month` (YYYY-MM)."""
    with ledger.reading() as session:
        return {
            row.task_id: (row.state, json.loads(row.payload_json)["title"])
            for row in list_outbox(session)
            if row.idempotency_key.endswith(f":DE_NGHI_XAC_NHAN:{month}") and row.task_id
        }


def _lead_units(ledger: Ledger, ids: set[int]) -> Counter[str]:
    with ledger.reading() as session:
        return Counter(
            row.lead_unit_code for row in (session.get(TaskRow, ("idesk", i)) for i in ids) if row is not None
        )


def _report(ledger: Ledger, as_of: date) -> Report:
    with ledger.reading() as session:
        return report_current(session, SETTINGS, ReportOptions(as_of=as_of), CAL)


def _unconfirmed(report: Report) -> dict[str, int]:
    return {row.code: row.counts.unconfirmed for row in report.rows if row.counts.unconfirmed}


def test_report_unconfirmed_column_counts_exactly_the_tasks_the_outbox_asked(
    ledger: Ledger,
) -> None:
    """On the request day, DE_NGHI_XAC_NHAN goes to 5 tasks (3 STC, 2 SXD), and the report's
    "Chưa xác nhận" column counts the same 5, unit by unit."""
    _seed(ledger, WORLD, "2022-03-21")
    plan_all(ledger, SETTINGS, REQUEST_DAY, "r1", FixedClock(at(REQUEST_DAY, 9)), calendar=CAL)
    asked = _requests(ledger, "2022-03")
    assert set(asked) == ASKED
    assert {state for state, _ in asked.values()} == {"pending"}
    assert asked[103][1] == "Đề nghị xác nhận kết quả hoàn thành nhiệm vụ: 103/UBND-TH"
    assert asked[101][1] == "Đề nghị xác nhận tình trạng thực hiện nhiệm vụ: 101/UBND-TH"
    report = _report(ledger, REQUEST_DAY)
    assert report.confirmation_since == d("2022-02-25")
    assert _unconfirmed(report) == {"STC": 3, "SXD": 2}
    assert _unconfirmed(report) == dict(_lead_units(ledger, set(asked)))
    assert report.total.unconfirmed == len(asked) == 5


def test_completion_after_the_request_keeps_it_and_stays_counted(ledger: Ledger) -> None:
    """101 completed on 23/03 keeps its pending request (not superseded) and is still counted;
    110, assigned on 23/03, is asked on 24/03 and counted too: 4 STC, 2 SXD."""
    _seed(ledger, WORLD, "2022-03-21")
    plan_all(ledger, SETTINGS, REQUEST_DAY, "r1", FixedClock(at(REQUEST_DAY, 9)), calendar=CAL)
    done = replace(WORLD[0], state=TaskState.DONE, completed_at=at(d("2022-03-23"), 15))
    new = task(110, "STC", "2022-03-23", "2022-05-31", confirmed=False)
    _seed(ledger, (done, new), "2022-03-24")
    day = d("2022-03-24")
    plan_all(ledger, SETTINGS, day, "r2", FixedClock(at(day, 9)), calendar=CAL)
    asked = _requests(ledger, "2022-03")
    assert set(asked) == ASKED | {110}
    assert {state for state, _ in asked.values()} == {"pending"}
    report = _report(ledger, day)
    assert _unconfirmed(report) == {"STC": 4, "SXD": 2}
    assert _unconfirmed(report) == dict(_lead_units(ledger, set(asked)))
