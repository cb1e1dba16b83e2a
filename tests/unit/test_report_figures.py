"""The report's figures against the hand-computed world of tests/support/report_world.py.

Every expected number below is written by hand from the world's table (not computed by the code
under test). Row tuples read:

    (code, total, with_deadline, without_deadline,
     done_on_time, done_late, done_no_deadline,
     open_within, open_overdue, open_overdue_over_30, open_no_deadline, open_no_deadline_stale,
     unconfirmed, cancelled)

"unconfirmed" counts the tasks asked to confirm (`connector.rules.confirmation`): open and not
confirmed, or completed after 25/05/2022 (the last cut-off before the as-of date 30/05/2022) and
not confirmed: tasks 5, 9, 13, 21 and 32. Task 27 (completed 28/03, never confirmed) was
reported in March and is not asked again, so it is not counted.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from connector.errors import ConfigError
from connector.models import StatusCode, TaskState, UnitKind
from connector.reports.build import build_report
from connector.reports.model import (
    Counts,
    Denominator,
    PeriodKind,
    Rate,
    Report,
    ReportOptions,
    parse_period,
)
from connector.reports.render.common import notes
from connector.reports.render.jsonfmt import report_dict
from connector.rules.deadlines import DEFAULT_POLICY, classify
from connector.rules.judge import judge
from tests.support.report_world import (
    AS_OF,
    INTENDED,
    OVER_30,
    STALE,
    TASKS,
    UNCONFIRMED,
    UNITS,
    calendar,
    items,
    task,
)

Row = tuple[str, int, int, int, int, int, int, int, int, int, int, int, int, int]


def _row(code: str, c: Counts) -> Row:
    return (
        code,
        c.total,
        c.with_deadline,
        c.without_deadline,
        c.done_on_time,
        c.done_late,
        c.done_no_deadline,
        c.open_within,
        c.open_overdue,
        c.open_overdue_over_30,
        c.open_no_deadline,
        c.open_no_deadline_stale,
        c.unconfirmed,
        c.cancelled,
    )


def rows_of(report: Report) -> list[Row]:
    return [_row(r.code, r.counts) for r in report.rows] + [_row("TOTAL", report.total)]


def report(**kw: object) -> Report:
    options = ReportOptions(as_of=AS_OF, **kw)  # type: ignore[arg-type]
    return build_report(items(), UNITS, options)


# fmt: off
Q1_ROWS: list[Row] = [
    ("STC",     7, 6, 1, 2, 1, 1, 1, 2, 2, 0, 0, 1, 1),
    ("SXD",     5, 3, 2, 0, 1, 0, 0, 2, 1, 2, 1, 2, 0),
    ("QUYNHON", 4, 3, 1, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0),
    ("TAYSON",  3, 2, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1),
    ("CTHADS",  3, 2, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0),
    ("VPUBND",  2, 2, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("XYZ",     1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    ("TOTAL",  25, 18, 7, 6, 4, 2, 2, 6, 4, 5, 2, 4, 2),
]
# fold: on time includes done-without-deadline, within includes open-without-deadline
Q1_ROWS_FOLD: list[Row] = [
    ("STC",     7, 6, 1, 3, 1, 1, 1, 2, 2, 0, 0, 1, 1),
    ("SXD",     5, 3, 2, 0, 1, 0, 2, 2, 1, 2, 1, 2, 0),
    ("QUYNHON", 4, 3, 1, 3, 0, 1, 0, 1, 0, 0, 0, 0, 0),
    ("TAYSON",  3, 2, 1, 0, 1, 0, 2, 0, 0, 1, 0, 1, 1),
    ("CTHADS",  3, 2, 1, 1, 1, 0, 1, 0, 0, 1, 1, 0, 0),
    ("VPUBND",  2, 2, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("XYZ",     1, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0),
    ("TOTAL",  25, 18, 7, 8, 4, 2, 7, 6, 4, 5, 2, 4, 2),
]
MARCH_ROWS: list[Row] = [
    ("STC",     3, 2, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0),
    ("SXD",     3, 2, 1, 0, 0, 0, 0, 2, 1, 1, 0, 1, 0),
    ("QUYNHON", 2, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0),
    ("TAYSON",  1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1),
    ("CTHADS",  1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
    ("VPUBND",  1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("XYZ",     1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    ("TOTAL",  12, 8, 4, 1, 1, 2, 2, 4, 2, 2, 0, 2, 1),
]
# to-date: every task assigned by 30/05/2022, whenever (task 18 of 2021 and task 32, which has
# no date at all, included; task 33, assigned in June, not).
TO_DATE_ROWS: list[Row] = [
    ("STC",     9, 7, 2, 2, 1, 1, 1, 3, 2, 1, 0, 2, 1),
    ("SXD",     5, 3, 2, 0, 1, 0, 0, 2, 1, 2, 1, 2, 0),
    ("QUYNHON", 6, 5, 1, 3, 0, 1, 0, 2, 1, 0, 0, 0, 0),
    ("TAYSON",  4, 3, 1, 0, 1, 0, 2, 0, 0, 1, 0, 1, 1),
    ("CTHADS",  3, 2, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0),
    ("VPUBND",  2, 2, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("XYZ",     2, 0, 2, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0),
    ("TOTAL",  31, 22, 9, 7, 4, 3, 3, 8, 5, 6, 2, 5, 2),
]
# completed in March 2022 (basis "completed"), whenever assigned: tasks 3, 15, 16, 20, 25, 27,
# 28. Task 20 was assigned in January, task 34 (done 05/06) is still open on 30/05.
MARCH_COMPLETED_ROWS: list[Row] = [
    ("STC",     1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("QUYNHON", 2, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0),
    ("TAYSON",  1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0),
    ("CTHADS",  2, 2, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0),
    ("VPUBND",  1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    ("TOTAL",   7, 6, 1, 4, 2, 1, 0, 0, 0, 0, 0, 0, 0),
]
# due in April 2022 (basis "due": the effective deadline): tasks 5 (10/04, a Sunday, due Tue
# 12/04), 12 (29/04) and 29 (08/04); not 13, whose 30/04 deadline falls due on 04/05.
APRIL_DUE_ROWS: list[Row] = [
    ("STC",     1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0),
    ("SXD",     1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("VPUBND",  1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("TOTAL",   3, 3, 0, 0, 0, 0, 0, 3, 3, 0, 0, 1, 0),
]
OPEN_ROWS: list[Row] = [
    ("STC",     5, 4, 1, 0, 0, 0, 1, 3, 2, 1, 0, 2, 0),
    ("SXD",     4, 2, 2, 0, 0, 0, 0, 2, 1, 2, 1, 2, 0),
    ("QUYNHON", 2, 2, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0),
    ("TAYSON",  3, 2, 1, 0, 0, 0, 2, 0, 0, 1, 0, 1, 0),
    ("CTHADS",  1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0),
    ("VPUBND",  1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0),
    ("XYZ",     1, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0),
    ("TOTAL",  17, 11, 6, 0, 0, 0, 3, 8, 5, 6, 2, 5, 0),
]
# fmt: on


# -- the world itself ---------------------------------------------------------------------------


def test_world_has_the_intended_statuses() -> None:
    """Each task of the world classifies as written by hand in INTENDED (status, days)."""
    got = {t.source_id: classify(t, AS_OF, calendar()) for t in TASKS}
    assert {i: (c.status, c.days_overdue) for i, c in got.items()} == INTENDED
    assert {i for i, c in got.items() if c.overdue_over_30} == OVER_30
    assert {i for i, c in got.items() if c.stale_no_deadline} == STALE
    counted = {
        i: c for i, c in got.items() if c.status is not StatusCode.DA_HUY and not c.not_yet_assigned
    }
    assert {i for i, c in counted.items() if c.unconfirmed} == UNCONFIRMED
    assert got[33].not_yet_assigned
    assert got[1].eff_due == date(2022, 2, 7)
    assert got[5].eff_due == date(2022, 4, 12)
    assert got[13].eff_due == date(2022, 5, 4)


# -- the figures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("period", "fold", "expected", "undated"),
    [
        pytest.param("2022-Q1", False, Q1_ROWS, 1, id="quarter"),
        pytest.param("2022-q1", True, Q1_ROWS_FOLD, 1, id="quarter-fold"),
        pytest.param("2022-03", False, MARCH_ROWS, 1, id="month"),
        pytest.param("open", False, OPEN_ROWS, 0, id="open"),
        pytest.param("to-date", False, TO_DATE_ROWS, 0, id="to-date"),
        pytest.param("2022-03-01..2022-03-31", False, MARCH_ROWS, 1, id="range"),
    ],
)
def test_rows_match_the_hand_computed_world(
    period: str, fold: bool, expected: list[Row], undated: int
) -> None:
    """Each unit's row and the total row equal the counts worked out by hand."""
    r = report(period=period, fold=fold)
    assert rows_of(r) == expected
    assert r.undated == undated
    assert r.cancelled == expected[-1][-1]


def test_year_period_adds_april_and_may_assignments() -> None:
    """A year covers every 2022 assignment up to the as-of date: Q1's 25 plus tasks 7, 19, 23, 31."""
    r = report(period="2022")
    assert r.total.total == 29
    assert r.total.by_status[StatusCode.DTH_QUA_HAN] == 7  # Q1's 6 + task 7
    assert r.total.by_status[StatusCode.HT_DUNG_HAN] == 7  # + task 19
    assert r.total.by_status[StatusCode.DTH_TRONG_HAN] == 3  # + task 23
    assert r.total.by_status[StatusCode.HT_KHONG_HAN] == 3  # + task 31
    assert r.cancelled == 2
    assert r.undated == 1


def test_period_uses_the_local_assignment_date() -> None:
    """Task 23, assigned 06:00 local on 1 April (still 31 March in UTC), is not in Q1 or March;
    task 22, assigned 05:00 local on 31 March, is."""
    q1 = report(period="2022-Q1")
    march = report(period="2022-03")
    april = report(period="2022-04")
    tayson = {r.code: r for r in q1.rows}["TAYSON"].counts
    assert tayson.open_within == 1  # task 22 only
    assert {r.code: r for r in march.rows}["TAYSON"].counts.open_within == 1
    assert {r.code: r for r in april.rows}["TAYSON"].counts.open_within == 1  # task 23


def test_task_completed_after_as_of_counts_as_open_overdue() -> None:
    """Task 34 (done 05/06/2022) is overdue by 90 days in a report as of 30/05/2022."""
    r = report(period="2022-Q1")
    assert [e.task.source_id for e in r.overdue if e.days_overdue == 90] == [34]


def test_task_assigned_after_as_of_is_left_out_everywhere() -> None:
    """Task 33 (assigned 02/06/2022) appears in no period and in no open report as of 30/05."""
    for period in ("open", "2022", "2022-Q2"):
        r = report(period=period)
        ids = {e.task.source_id for e in r.overdue + r.late} | {
            e.task.source_id for e in r.missing_deadline
        }
        assert 33 not in ids
    q2 = report(period="2022-Q2")
    assert q2.total.total == 4  # tasks 7, 19, 23, 31


def test_cumulative_to_date_is_the_default() -> None:
    """A report with no period is cumulative: every task assigned by the as-of date (the
    Working Group's published figures), so the completed columns and the rate are filled."""
    r = report()
    assert r.period.code == "to-date"
    assert (r.period.start, r.period.end) == (None, AS_OF)
    assert rows_of(r) == TO_DATE_ROWS
    assert r.total.rate.percent == Decimal("63.6")  # 7 / (7 + 4)
    assert r.period_label() == "lũy kế đến ngày 30/05/2022 (toàn bộ nhiệm vụ đã giao)"
    assert report(lang="en").period_label() == "cumulative to 2022-05-30 (every task assigned)"


def test_basis_completed_places_late_completions_in_their_month() -> None:
    """--basis completed: March holds the tasks completed in March, whenever assigned; task 20,
    assigned in January and completed late on 15 March, is in March's late annex (it was in
    no March report before)."""
    r = report(period="2022-03", basis="completed")
    assert rows_of(r) == MARCH_COMPLETED_ROWS
    assert [e.task.source_id for e in r.late] == [20, 27]
    assert [e.days_late for e in r.late] == [33, 3]
    assert r.overdue == () and r.undated == 0
    assert [e.task.source_id for e in report(period="2022-03").late] == [27]
    assert r.period_label() == "tháng 03/2022 (nhiệm vụ hoàn thành trong tháng)"
    assert report(period="2022-03", basis="completed", lang="en").period_label() == (
        "March 2022 (tasks completed in the month)"
    )


def test_basis_completed_to_date_holds_every_completion() -> None:
    """to-date with --basis completed: every task completed by the as-of date (not task 34,
    completed after it)."""
    r = report(basis="completed")
    done = {1, 2, 3, 4, 11, 14, 15, 16, 19, 20, 25, 27, 28, 31}
    assert r.total.total == len(done)
    assert r.total.done_on_time + r.total.done_late + r.total.done_no_deadline == len(done)
    assert r.period_label() == "lũy kế đến ngày 30/05/2022 (toàn bộ nhiệm vụ đã hoàn thành)"


def test_basis_due_uses_the_effective_deadline() -> None:
    """--basis due: a task is in the period its effective deadline falls in (task 13's Saturday
    30/04 deadline falls due on Wednesday 04/05, after the holidays: May, not April)."""
    april = report(period="2022-04", basis="due")
    assert rows_of(april) == APRIL_DUE_ROWS
    assert [e.task.source_id for e in april.overdue] == [5, 12, 29]
    may = report(period="2022-05", basis="due")
    assert 13 in {e.task.source_id for e in may.overdue}
    assert april.period_label() == "tháng 04/2022 (nhiệm vụ đến hạn trong tháng)"


def test_basis_due_leaves_out_tasks_not_yet_due_on_the_as_of_date() -> None:
    """--basis due: a task whose effective deadline lies in the period but after the as-of date
    is not in it (task 6, due 30/06/2022, is not in Q2 as of 30/05/2022): a period running past
    the as-of date counts the tasks the same period cut at the as-of date counts."""
    q2 = report(period="2022-Q2", basis="due")
    cut = report(period="2022-04-01..2022-05-30", basis="due")
    assert q2.total.by_status == cut.total.by_status
    assert {r.code: r.counts.by_status for r in q2.rows if r.counts.total} == {
        r.code: r.counts.by_status for r in cut.rows if r.counts.total
    }
    assert q2.total.open_within == 0


def test_basis_does_not_apply_to_open() -> None:
    """--period open lists what is open on the day; a basis with it is refused (exit 2)."""
    with pytest.raises(ConfigError, match="does not apply to --period open"):
        ReportOptions(as_of=AS_OF, period="open", basis="completed")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="valid: assigned, completed, due"):
        ReportOptions(as_of=AS_OF, basis="finished")  # type: ignore[arg-type]


def test_range_period_label_and_bounds() -> None:
    """A free range covers its first to its last day and says so."""
    r = report(period="2022-01-01..2022-05-30")
    assert rows_of(r)[-1][1] == 29  # to-date's 31 but task 18 (2021) and task 32 (undated)
    assert r.undated == 1  # task 32 has no date to place it in the range
    assert r.period_label() == ("từ ngày 01/01/2022 đến ngày 30/05/2022 (nhiệm vụ giao trong kỳ)")


# -- rates ---------------------------------------------------------------------------------------

# (denominator, fold) -> {code: (numerator, denominator)} for 2022-Q1, by hand.
RATES: dict[tuple[str, bool], dict[str, tuple[int, int]]] = {
    ("done", False): {
        "STC": (2, 3), "SXD": (0, 1), "QUYNHON": (2, 2), "TAYSON": (0, 1),
        "CTHADS": (1, 2), "VPUBND": (1, 1), "XYZ": (0, 0), "TOTAL": (6, 10),
    },
    ("done", True): {
        "STC": (3, 4), "SXD": (0, 1), "QUYNHON": (3, 3), "TAYSON": (0, 1),
        "CTHADS": (1, 2), "VPUBND": (1, 1), "XYZ": (0, 0), "TOTAL": (8, 12),
    },
    ("due", False): {
        "STC": (2, 5), "SXD": (0, 3), "QUYNHON": (2, 3), "TAYSON": (0, 1),
        "CTHADS": (1, 2), "VPUBND": (1, 2), "XYZ": (0, 0), "TOTAL": (6, 16),
    },
    ("due", True): {
        "STC": (3, 6), "SXD": (0, 3), "QUYNHON": (3, 4), "TAYSON": (0, 1),
        "CTHADS": (1, 2), "VPUBND": (1, 2), "XYZ": (0, 0), "TOTAL": (8, 18),
    },
    ("all", False): {
        "STC": (2, 7), "SXD": (0, 5), "QUYNHON": (2, 4), "TAYSON": (0, 3),
        "CTHADS": (1, 3), "VPUBND": (1, 2), "XYZ": (0, 1), "TOTAL": (6, 25),
    },
    ("all", True): {
        "STC": (3, 7), "SXD": (0, 5), "QUYNHON": (3, 4), "TAYSON": (0, 3),
        "CTHADS": (1, 3), "VPUBND": (1, 2), "XYZ": (0, 1), "TOTAL": (8, 25),
    },
}  # fmt: skip
TOTAL_PERCENT = {
    ("done", False): "60.0",
    ("done", True): "66.7",
    ("due", False): "37.5",
    ("due", True): "44.4",
    ("all", False): "24.0",
    ("all", True): "32.0",
}


@pytest.mark.parametrize(
    ("denominator", "fold"),
    [pytest.param(d, f, id=f"{d}-{'fold' if f else 'plain'}") for d, f in RATES],
)
def test_on_time_rate_per_denominator_and_fold(denominator: str, fold: bool) -> None:
    """Numerator and denominator of every row's rate, and the total's percentage."""
    r = report(period="2022-Q1", denominator=Denominator(denominator), fold=fold)
    got = {row.code: (row.counts.rate.numerator, row.counts.rate.denominator) for row in r.rows}
    got["TOTAL"] = (r.total.rate.numerator, r.total.rate.denominator)
    assert got == RATES[(denominator, fold)]
    assert r.total.rate.percent == Decimal(TOTAL_PERCENT[(denominator, fold)])
    xyz = {row.code: row.counts.rate.percent for row in r.rows}["XYZ"]
    assert xyz == (Decimal("0.0") if denominator == "all" else None)  # 0/1 or nothing to judge


@pytest.mark.parametrize(
    ("numerator", "denominator", "percent"),
    [
        pytest.param(1, 16, "6.3", id="half-up-not-bankers"),
        pytest.param(2, 3, "66.7", id="two-thirds"),
        pytest.param(1, 8, "12.5", id="exact"),
        pytest.param(0, 5, "0.0", id="zero"),
        pytest.param(7, 7, "100.0", id="all"),
    ],
)
def test_rate_percent_rounds_half_up(numerator: int, denominator: int, percent: str) -> None:
    """Percentages round half-up to one decimal, as a clerk would."""
    assert Rate(numerator, denominator).percent == Decimal(percent)


def test_rate_with_zero_denominator_is_none() -> None:
    """No task to judge: no rate, not 0 %."""
    assert Rate(0, 0).percent is None


@pytest.mark.parametrize(
    ("denominator", "fold", "words"),
    [
        pytest.param("done", False, "tổng số đã hoàn thành có thời hạn", id="done"),
        pytest.param(
            "done", True, "(kể cả không có thời hạn) / tổng số đã hoàn thành", id="done-fold"
        ),
        pytest.param("due", False, "số nhiệm vụ đã đến hạn", id="due"),
        pytest.param("all", False, "tổng số nhiệm vụ được giao", id="all"),
    ],
)
def test_report_names_its_denominator_in_words(denominator: str, fold: bool, words: str) -> None:
    """The report says, in Vietnamese, what the on-time rate was divided by."""
    r = report(period="2022-Q1", denominator=Denominator(denominator), fold=fold)
    assert words in r.denominator_text()
    assert r.denominator_text().startswith("Tỷ lệ đúng hạn = số hoàn thành đúng hạn")


# -- annexes --------------------------------------------------------------------------------------


def test_overdue_annex_lists_open_overdue_tasks_in_unit_order_worst_first() -> None:
    """Annex 1 (Q1): ids, deadlines, days overdue, extension and confirmation, by hand."""
    r = report(period="2022-Q1")
    got = [
        (
            e.task.source_id,
            e.task.unit_code,
            e.original_deadline,
            e.deadline,
            e.eff_due,
            e.days_overdue,
            e.over_30,
            e.extended,
            e.confirmed,
        )
        for e in r.overdue
    ]
    assert got == [
        (34, "STC", date(2022, 3, 1), date(2022, 3, 1), date(2022, 3, 1), 90, True, False, True),
        (5, "STC", date(2022, 4, 10), date(2022, 4, 10), date(2022, 4, 12), 48, True, False, False),
        (12, "SXD", date(2022, 4, 15), date(2022, 4, 29), date(2022, 4, 29), 31, True, True, True),
        (
            13,
            "SXD",
            date(2022, 4, 30),
            date(2022, 4, 30),
            date(2022, 5, 4),
            26,
            False,
            False,
            False,
        ),
        (
            17,
            "QUYNHON",
            date(2022, 5, 27),
            date(2022, 5, 27),
            date(2022, 5, 27),
            3,
            False,
            False,
            True,
        ),
        (29, "VPUBND", date(2022, 4, 8), date(2022, 4, 8), date(2022, 4, 8), 52, True, False, True),
    ]
    assert r.overdue[0].task.sign_number == "34/UBND-TH"
    assert r.overdue[0].task.unit_name == "Sở Tài chính"


def test_late_annex_lists_late_completions_with_days_late() -> None:
    """Annex 2 (Q1): tasks 2, 11, 20, 27 with completion date and days late."""
    r = report(period="2022-Q1")
    got = [(e.task.source_id, e.completed_on, e.eff_due, e.days_late, e.extended) for e in r.late]
    assert got == [
        (2, date(2022, 2, 18), date(2022, 2, 15), 3, False),
        (11, date(2022, 4, 4), date(2022, 3, 31), 4, True),
        (20, date(2022, 3, 15), date(2022, 2, 10), 33, False),
        (27, date(2022, 3, 28), date(2022, 3, 25), 3, False),
    ]


def test_stale_annex_lists_open_tasks_without_deadline_idle_over_three_months() -> None:
    """Annex 3 (Q1): task 9 (last report 01/02, idle 118 days) and task 26 (never, 146 days)."""
    r = report(period="2022-Q1")
    got = [(e.task.source_id, e.task.assigned_on, e.last_report_on, e.idle_days) for e in r.stale]
    assert got == [
        (9, date(2022, 1, 5), date(2022, 2, 1), 118),
        (26, date(2022, 1, 4), None, 146),
    ]


def test_missing_deadline_annex_carries_the_suggested_deadline_and_phrase() -> None:
    """Annex 4 (Q1): every product assignment without deadline, done or open, with its
    suggestion; task 9 ("Thường xuyên ...", a routine duty) is not in it, but counted as one."""
    r = report(period="2022-Q1")
    got = [
        (
            e.task.source_id,
            e.status,
            e.suggested_deadline,
            e.suggested_phrase,
            e.suggested_recurrence,
        )
        for e in r.missing_deadline
    ]
    assert got == [
        (4, StatusCode.HT_KHONG_HAN, date(2022, 4, 15), "trước ngày 15/4/2022", ""),
        (10, StatusCode.KHONG_THOI_HAN, date(2022, 6, 30), "trong quý II/2022", ""),
        (16, StatusCode.HT_KHONG_HAN, date(2022, 3, 25), "trước ngày 25 tháng 3 năm 2022", ""),
        (21, StatusCode.KHONG_THOI_HAN, None, "", ""),
        (26, StatusCode.KHONG_THOI_HAN, None, "Định kỳ hằng quý", "P3M"),
        (30, StatusCode.KHONG_THOI_HAN, None, "", ""),
    ]
    assert r.missing_deadline[-1].task.unit_name == "Ban Quản lý Khu kinh tế"
    sxd = next(row for row in r.rows if row.code == "SXD")
    assert (sxd.counts.without_deadline_routine, sxd.counts.without_deadline_product) == (1, 1)
    total = r.total
    assert total.without_deadline_product + total.without_deadline_routine == total.without_deadline
    assert (total.without_deadline_product, total.without_deadline_routine) == (6, 1)


def test_cancelled_tasks_appear_in_no_annex() -> None:
    """Tasks 8 and 24 (withdrawn) are counted apart and listed nowhere."""
    r = report(period="2022-Q1")
    refs = [e.task for e in r.overdue] + [e.task for e in r.late] + [e.task for e in r.stale]
    listed = {ref.source_id for ref in refs + [e.task for e in r.missing_deadline]}
    assert listed.isdisjoint({8, 24})
    assert r.cancelled == 2


# -- units: filter and order ------------------------------------------------------------------------


def test_unit_filter_keeps_one_unit() -> None:
    """--unit SXD gives SXD's row only, the same figures as in the full report, and its annexes."""
    r = report(period="2022-Q1", unit="SXD")
    assert rows_of(r) == [Q1_ROWS[1], ("TOTAL", *Q1_ROWS[1][1:])]
    assert [e.task.source_id for e in r.overdue] == [12, 13]
    assert r.undated == 0  # the undated task belongs to STC


def test_unit_filter_on_a_known_unit_without_tasks_gives_a_zero_row() -> None:
    """A unit of the table with nothing in scope still gets its (empty) row."""
    r = report(period="2022-Q1", unit="SYT")
    assert [(row.code, row.counts.total) for row in r.rows] == [("SYT", 0)]
    assert r.total.rate.percent is None


def test_unit_filter_on_an_unknown_unit_is_a_config_error() -> None:
    """A typo in --unit fails with the list of valid codes, instead of an empty report."""
    with pytest.raises(ConfigError, match=r"unknown unit 'SXDD'.*STC, QUYNHON, SXD"):
        report(period="2022-Q1", unit="SXDD")


@pytest.mark.parametrize(
    ("unit_order", "include_empty", "expected"),
    [
        pytest.param(
            (UnitKind.DEPARTMENT, UnitKind.DISTRICT, UnitKind.CENTRAL),
            False,
            ["STC", "SXD", "QUYNHON", "TAYSON", "CTHADS", "VPUBND", "XYZ"],
            id="default",
        ),
        pytest.param(
            (UnitKind.DISTRICT, UnitKind.DEPARTMENT),
            False,
            ["QUYNHON", "TAYSON", "STC", "SXD", "CTHADS", "VPUBND", "XYZ"],
            id="districts-first",
        ),
        pytest.param(
            (UnitKind.DEPARTMENT, UnitKind.DISTRICT, UnitKind.CENTRAL),
            True,
            ["STC", "SXD", "SYT", "QUYNHON", "TAYSON", "CTHADS", "VPUBND", "XYZ"],
            id="include-empty",
        ),
        pytest.param(
            (UnitKind.OFFICE, UnitKind.CENTRAL),
            True,
            ["VPUBND", "CTHADS", "STC", "SXD", "QUYNHON", "TAYSON", "XYZ"],
            id="office-first-empty-only-for-listed-kinds",
        ),
    ],
)
def test_rows_follow_kind_order_then_unit_table_order(
    unit_order: tuple[UnitKind, ...], include_empty: bool, expected: list[str]
) -> None:
    """Kinds in the configured order, then the unlisted kinds (office last), then units missing
    from the unit table; within a kind, the unit table's order."""
    r = report(period="2022-Q1", unit_order=unit_order, include_empty=include_empty)
    assert [row.code for row in r.rows] == expected


def test_unit_names_come_from_the_unit_table_then_the_task() -> None:
    """Rows are named from the unit table; a unit missing from it takes the task's unit name."""
    r = report(period="2022-Q1")
    names = {row.code: (row.name, row.kind) for row in r.rows}
    assert names["SXD"] == ("Sở Xây dựng", UnitKind.DEPARTMENT)
    assert names["XYZ"] == ("Ban Quản lý Khu kinh tế", None)


def test_task_without_lead_unit_gets_a_labelled_row_last() -> None:
    """A task with no lead unit is counted in a row of its own, after every known unit."""
    orphan = task(99, "", "2022-03-02", "2022-03-04", completed="2022-03-04")
    world = (*TASKS, orphan)
    r = build_report(items(world), UNITS, ReportOptions(as_of=AS_OF, period="2022-03"))
    assert r.rows[-1].code == ""
    assert r.rows[-1].name == "(chưa xác định đơn vị chủ trì)"
    assert r.rows[-1].counts.done_on_time == 1
    assert r.total.total == 13


def test_report_reads_its_items_once() -> None:
    """build_report consumes a one-shot iterator (it streams, no second pass over the input)."""
    stream = items()
    r = build_report(stream, UNITS, ReportOptions(as_of=AS_OF, period="2022-Q1"))
    assert r.total.total == 25
    assert next(stream, None) is None


def test_classification_as_of_another_day_is_refused() -> None:
    """Mixing classifications of another date into a report is a programming error."""
    t = TASKS[0]
    wrong = [judge(t, classify(t, date(2022, 5, 1), calendar()), calendar(), DEFAULT_POLICY)]
    with pytest.raises(ValueError, match="classified as of 2022-05-01"):
        build_report(wrong, UNITS, ReportOptions(as_of=AS_OF))


# -- options ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        pytest.param("2022-03", PeriodKind.MONTH, date(2022, 3, 1), date(2022, 3, 31), id="month"),
        pytest.param("2024-02", PeriodKind.MONTH, date(2024, 2, 1), date(2024, 2, 29), id="leap"),
        pytest.param("2022-12", PeriodKind.MONTH, date(2022, 12, 1), date(2022, 12, 31), id="dec"),
        pytest.param("2022-Q1", PeriodKind.QUARTER, date(2022, 1, 1), date(2022, 3, 31), id="q1"),
        pytest.param("2022-q4", PeriodKind.QUARTER, date(2022, 10, 1), date(2022, 12, 31), id="q4"),
        pytest.param("2022", PeriodKind.YEAR, date(2022, 1, 1), date(2022, 12, 31), id="year"),
        pytest.param("open", PeriodKind.OPEN, None, None, id="open"),
        pytest.param(" OPEN ", PeriodKind.OPEN, None, None, id="open-caps"),
        pytest.param("to-date", PeriodKind.TO_DATE, None, None, id="to-date"),
        pytest.param(
            "2022-01-01..2022-05-30",
            PeriodKind.RANGE,
            date(2022, 1, 1),
            date(2022, 5, 30),
            id="range",
        ),
        pytest.param(
            "2022-03-07 .. 2022-03-07",
            PeriodKind.RANGE,
            date(2022, 3, 7),
            date(2022, 3, 7),
            id="day",
        ),
    ],
)
def test_parse_period(text: str, kind: PeriodKind, start: date | None, end: date | None) -> None:
    """Month, quarter, year, range, to-date and open periods parse to their first and last day
    (to-date gets its last day from the as-of date)."""
    period = parse_period(text)
    assert (period.kind, period.start, period.end) == (kind, start, end)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2022-13", id="month-13"),
        pytest.param("2022-Q5", id="q5"),
        pytest.param("22-03", id="short-year"),
        pytest.param("March", id="word"),
        pytest.param("2022-03-01", id="a-date"),
        pytest.param("1900", id="out-of-range"),
        pytest.param("2022-05-30..2022-01-01", id="backwards"),
        pytest.param("2022-02-30..2022-03-01", id="no-such-day"),
        pytest.param("2022-01-01..", id="open-ended"),
        pytest.param("1990-01-01..2022-01-01", id="range-out-of-range"),
        pytest.param("todate", id="to-date-misspelt"),
    ],
)
def test_bad_period_is_a_config_error(text: str) -> None:
    """A period the report cannot read fails with the accepted forms."""
    with pytest.raises(ConfigError, match="period"):
        parse_period(text)


def test_as_of_before_the_period_is_refused() -> None:
    """Reporting on 2022-Q3 as of May 2022 is a mistake, not an empty report."""
    with pytest.raises(ConfigError, match="before the period 2022-Q3 starts"):
        ReportOptions(as_of=AS_OF, period="2022-Q3")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        pytest.param({"denominator": "late"}, "valid: done, due, all", id="denominator"),
        pytest.param({"lang": "fr"}, "valid: vi, en", id="lang"),
        pytest.param({"unit_order": ("ministry",)}, "valid: department", id="kind"),
    ],
)
def test_bad_option_is_a_config_error_naming_the_valid_values(
    kw: dict[str, object], match: str
) -> None:
    """A CLI typo in --denominator / --lang / unit_order fails with the valid values."""
    with pytest.raises(ConfigError, match=match):
        ReportOptions(as_of=AS_OF, **kw)  # type: ignore[arg-type]


def test_unit_kind_listed_twice_is_refused() -> None:
    """unit_order must name each kind once."""
    with pytest.raises(ConfigError, match="listed twice"):
        ReportOptions(as_of=AS_OF, unit_order=(UnitKind.DISTRICT, UnitKind.DISTRICT))


def test_options_from_settings_take_defaults_and_overrides() -> None:
    """ReportOptions.from_settings reads [report] and lets CLI values override it."""
    from connector.settings import ReportSettings

    configured = ReportSettings(denominator="due", fold=True, unit_order=("district", "department"))
    o = ReportOptions.from_settings(configured, as_of=AS_OF, period="2022-03", lang="en")
    assert (o.denominator, o.fold, o.lang, o.title) == (Denominator.DUE, True, "en", None)
    assert o.unit_order == (UnitKind.DISTRICT, UnitKind.DEPARTMENT)
    o2 = ReportOptions.from_settings(
        ReportSettings(title="Báo cáo riêng"), as_of=AS_OF, denominator="all", fold=False
    )
    assert (o2.denominator, o2.fold, o2.lang, o2.title) == (
        Denominator.ALL,
        False,
        "vi",
        "Báo cáo riêng",
    )


def test_english_report_uses_english_titles() -> None:
    """lang='en' gives the English title and period wording."""
    r = report(period="2022-Q1", lang="en")
    assert r.title.startswith("Progress of the tasks assigned")
    assert r.period_label() == "Q1 2022 (tasks assigned in the quarter)"
    assert report(period="2022-Q1").period_label() == "quý I/2022 (nhiệm vụ giao trong quý)"


# -- unconfirmed: the tasks asked to confirm -----------------------------------------------------

CONFIRM_WORLD = (
    task(101, "STC", "2022-02-01", "2022-04-30", confirmed=False),  # open: asked
    task(102, "STC", "2022-02-01", "2022-04-30"),  # open, confirmed
    task(103, "STC", "2022-02-01", "2022-03-07", completed="2022-03-09", confirmed=False),
    task(104, "STC", "2022-02-01", "2022-03-07", completed="2022-03-04", confirmed=False),
    task(105, "STC", "2022-02-01", "2022-02-21", completed="2022-02-25", confirmed=False),
    task(106, "SXD", "2022-01-05", "2022-01-31", completed="2022-01-20", confirmed=False),
    task(107, "SXD", "2022-02-01", "2022-04-30", state=TaskState.CANCELLED, confirmed=False),
    task(108, "SXD", "2022-02-01", confirmed=False),  # open, no deadline: asked
    task(109, "SXD", "2022-02-01", completed="2022-02-28", confirmed=False),  # HT_KHONG_HAN
)
"""Nine tasks, all but 102 never confirmed: 103 done late on 09/03, 104 on time on 04/03, 105
on the February cut-off 25/02, 106 in January, 109 (no deadline) on 28/02; 107 withdrawn."""


@pytest.mark.parametrize(
    ("as_of", "cutoff_day", "since", "stc", "sxd"),
    [
        # 25/02 cut-off: 101, 103, 104 (STC) and 108, 109 (SXD); not 105 (on the cut-off, in
        # February's report), 106 (January), 107 (withdrawn), 102 (confirmed)
        pytest.param("2022-03-22", 25, "2022-02-25", 3, 2, id="march-request-day"),
        pytest.param("2022-03-25", 25, "2022-02-25", 3, 2, id="march-cutoff"),
        # after March's cut-off only the open tasks 101 and 108 are left to confirm
        pytest.param("2022-03-28", 25, "2022-03-25", 1, 1, id="april-cycle"),
        # cut-off on the 5th: completions after 05/03 (103) and the open tasks
        pytest.param("2022-03-22", 5, "2022-03-05", 2, 1, id="cutoff-on-the-5th"),
    ],
)
def test_unconfirmed_counts_open_tasks_and_completions_since_the_last_cutoff(
    as_of: str, cutoff_day: int, since: str, stc: int, sxd: int
) -> None:
    """ "Chưa xác nhận" counts unconfirmed open tasks and those completed after the last cut-off."""
    day = date.fromisoformat(as_of)
    options = ReportOptions(as_of=day, report_cutoff_day=cutoff_day)
    r = build_report(items(CONFIRM_WORLD, day), UNITS, options)
    assert r.confirmation_since == date.fromisoformat(since)
    assert {row.code: row.counts.unconfirmed for row in r.rows} == {"STC": stc, "SXD": sxd}
    assert r.total.unconfirmed == stc + sxd


def test_unconfirmed_definition_is_printed_in_the_notes_and_json() -> None:
    """The notes say what "Chưa xác nhận" counts, and the JSON names the cut-off it counts from."""
    day = date(2022, 3, 22)
    r = build_report(items(CONFIRM_WORLD, day), UNITS, ReportOptions(as_of=day))
    assert (
        "Chưa xác nhận: nhiệm vụ đang thực hiện và nhiệm vụ hoàn thành sau ngày 25/02/2022 "
        "(ngày chốt số liệu kỳ báo cáo trước) mà đơn vị chủ trì chưa xác nhận trên Hệ thống, "
        "tức các nhiệm vụ được đề nghị xác nhận."
    ) in notes(r, "vi")
    data = report_dict(r)
    assert data["confirmation_since"] == "2022-02-25"
    assert data["total"]["unconfirmed"] == 5


def test_report_cutoff_day_outside_a_month_is_refused() -> None:
    """A report cut-off day outside 1-28 is a config error naming the valid days."""
    with pytest.raises(ConfigError, match="1 to 28"):
        ReportOptions(as_of=AS_OF, report_cutoff_day=31)
