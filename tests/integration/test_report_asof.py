"""Reports from the ledger: --as-of rebuilds what the ledger knew on a past day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import UnitRow
from connector.ledger.units import list_units
from connector.models import NormalisedTask, StatusCode, TaskState, Unit, UnitKind
from connector.reports.build import report_as_of, report_current
from connector.reports.model import Report, ReportOptions
from connector.rules.calendar import WorkingCalendar
from connector.settings import Settings
from tests.support.report_world import at, d, task

CAL = WorkingCalendar()
SETTINGS = Settings()
UNITS = (
    Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),
    Unit("SXD", "Sở Xây dựng", UnitKind.DEPARTMENT),
    Unit("QUYNHON", "UBND thành phố Quy Nhơn", UnitKind.DISTRICT),
)

# Day 1, seen 01/03/2022: A (STC) and B (SXD) open with deadlines, C (QUYNHON) without one.
A1 = replace(task(1, "STC", "2022-02-01", "2022-03-20"), last_modified=at(d("2022-03-01"), 8))
B1 = replace(task(2, "SXD", "2022-02-10", "2022-03-10"), last_modified=at(d("2022-03-01"), 8))
C1 = replace(
    task(3, "QUYNHON", "2022-02-15", text="Báo cáo UBND tỉnh trước ngày 15/4/2022."),
    last_modified=at(d("2022-03-01"), 8),
)
# Day 2, seen 02/04/2022: A was completed on 30/03 (the ledger learns it only now), D is first
# seen (assigned 05/03, done 24/03), B was withdrawn.
A2 = replace(
    A1,
    state=TaskState.DONE,
    completed_at=at(d("2022-03-30"), 16),
    last_modified=at(d("2022-04-02"), 8),
)
D2 = replace(
    task(4, "STC", "2022-03-05", "2022-03-25", completed="2022-03-24"),
    last_modified=at(d("2022-04-02"), 8),
)
B2 = replace(B1, state=TaskState.CANCELLED, last_modified=at(d("2022-04-02"), 8))
# Day 3, seen 20/04/2022: C now has a deadline.
C3 = replace(C1, deadline=date(2022, 4, 30), last_modified=at(d("2022-04-20"), 8))


def _write(ledger: Ledger, observed: str, *tasks: NormalisedTask) -> None:
    with ledger.transaction() as session:
        for t in tasks:
            repo.upsert_task(
                session, t, {}, run_id=f"run-{observed}", observed_at=at(d(observed), 10)
            )


@pytest.fixture
def history(ledger: Ledger) -> Ledger:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(d("2022-03-01")))
        session.add(UnitRow(code="TCT", name="Tổ công tác", kind="working_group"))  # unknown kind
    _write(ledger, "2022-03-01", A1, B1, C1)
    _write(ledger, "2022-04-02", A2, D2, B2)
    _write(ledger, "2022-04-20", C3)
    return ledger


def _as_of(ledger: Ledger, day: str, period: str) -> Report:
    with ledger.reading() as session:
        return report_as_of(session, SETTINGS, ReportOptions(as_of=d(day), period=period), CAL)


def _statuses(report: Report) -> dict[str, dict[StatusCode, int]]:
    return {r.code: {s: n for s, n in r.counts.by_status.items() if n} for r in report.rows}


def test_as_of_uses_only_what_the_ledger_knew_that_day(history: Ledger) -> None:
    """As of 31/03 the ledger did not know A was done nor that D existed: A and B are overdue."""
    r = _as_of(history, "2022-03-31", "open")
    assert _statuses(r) == {
        "STC": {StatusCode.DTH_QUA_HAN: 1},
        "SXD": {StatusCode.DTH_QUA_HAN: 1},
        "QUYNHON": {StatusCode.KHONG_THOI_HAN: 1},
    }
    assert [(e.task.source_id, e.eff_due, e.days_overdue) for e in r.overdue] == [
        (1, date(2022, 3, 21), 10),  # deadline Sun 20/03 → Mon 21/03
        (2, date(2022, 3, 10), 21),
    ]
    assert [(e.task.source_id, e.suggested_deadline) for e in r.missing_deadline] == [
        (3, date(2022, 4, 15))
    ]


def test_current_report_uses_todays_knowledge_for_the_same_day(history: Ledger) -> None:
    """The same day judged with today's knowledge: A done, B withdrawn, C has a deadline."""
    with history.reading() as session:
        r = report_current(
            session, SETTINGS, ReportOptions(as_of=d("2022-03-31"), period="open"), CAL
        )
    assert _statuses(r) == {"QUYNHON": {StatusCode.DTH_TRONG_HAN: 1}}


def test_as_of_after_the_late_news(history: Ledger) -> None:
    """As of 05/04: A done 9 days late, D done on time, B withdrawn, C still without deadline."""
    r = _as_of(history, "2022-04-05", "2022-Q1")
    assert _statuses(r) == {
        "STC": {StatusCode.HT_DUNG_HAN: 1, StatusCode.HT_QUA_HAN: 1},
        "SXD": {StatusCode.DA_HUY: 1},
        "QUYNHON": {StatusCode.KHONG_THOI_HAN: 1},
    }
    assert (r.total.total, r.cancelled) == (3, 1)
    assert [(e.task.source_id, e.completed_on, e.days_late) for e in r.late] == [
        (1, date(2022, 3, 30), 9)
    ]


def test_as_of_later_sees_the_new_deadline(history: Ledger) -> None:
    """As of 25/04 C has the deadline it got on 20/04 and leaves the missing-deadline annex."""
    r = _as_of(history, "2022-04-25", "2022-Q1")
    assert _statuses(r)["QUYNHON"] == {StatusCode.DTH_TRONG_HAN: 1}
    assert r.missing_deadline == ()


def test_as_of_before_anything_was_seen_is_empty(history: Ledger) -> None:
    """Before the first sync the ledger knew nothing."""
    r = _as_of(history, "2022-02-28", "open")
    assert r.rows == ()
    assert r.total.total == 0


def test_units_of_an_unknown_kind_are_left_out_of_the_unit_table(history: Ledger) -> None:
    """Units come from the ledger's table; a row with an unknown kind is skipped, not fatal."""
    with history.reading() as session:
        units = list_units(session)
    assert [u.code for u in units] == ["QUYNHON", "STC", "SXD"]
    r = _as_of(history, "2022-03-31", "open")
    assert [row.code for row in r.rows] == ["STC", "SXD", "QUYNHON"]


def test_unreadable_task_is_counted_and_left_out(ledger: Ledger) -> None:
    """A task the rules refuse (deadline year 2150) is counted in `unreadable`, not fatal."""
    bad = replace(task(9, "STC", "2022-02-01", "2022-03-20"), deadline=date(2150, 1, 1))
    good = task(10, "STC", "2022-02-01", "2022-03-20")
    _write(ledger, "2022-03-01", bad, good)
    r = _as_of(ledger, "2022-03-31", "open")
    assert (r.unreadable, r.total.total) == (1, 1)
