"""Recurring obligations in the ledger (SQLite and PostgreSQL): every progress report date read
from the source (``lastReportDateStr`` keeps only the latest) is kept in ``task_report``; the
occurrences are judged by them in reports as of a past day, in ``tasks show`` and through the
outbox planner; migration 0005 (task_report) fills the table from the snapshots already held."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy import inspect, text

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.admin import downgrade, upgrade_locked
from connector.ledger.db import Ledger, head_revision, open_ledger
from connector.ledger.facts import report_dates, task_facts
from connector.models import NormalisedTask, Unit, UnitKind
from connector.outbox.planning import plan_all
from connector.reports.build import report_as_of
from connector.reports.model import OccurrenceCounts, ReportOptions
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import DEFAULT_POLICY
from connector.settings import Settings
from connector.views.shapes import task_show_json
from connector.views.tasks import task_view
from connector.views.text import task_text
from tests.support.report_world import at, d, task

CAL: WorkingCalendar = load_calendar()
UNITS = (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),)
MONTHLY = "Báo cáo định kỳ hằng tháng trước ngày 20 về UBND tỉnh."


def _write(ledger: Ledger, observed: str, *tasks: NormalisedTask) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(d("2022-01-01")))
        for t in tasks:
            repo.upsert_task(
                session, t, {}, run_id=f"run-{observed}", observed_at=at(d(observed), 10)
            )


def _version(reported: str | None, modified: str) -> NormalisedTask:
    """Task 21 of STC assigned 03/01/2022, monthly report due the 20th, as the source gave it
    on `modified` with its latest progress report `reported`."""
    base = task(21, "STC", "2022-01-03", text=MONTHLY, last_report=reported)
    return replace(base, last_modified=at(d(modified), 9))


def _history(ledger: Ledger) -> None:
    """Reports on 18/01 (seen 19/01), 25/02 (seen 26/02), 21/04 (seen 22/04); the 25/02 one is
    read twice (an unchanged record writes nothing)."""
    _write(ledger, "2022-01-10", _version(None, "2022-01-10"))
    _write(ledger, "2022-01-19", _version("2022-01-18", "2022-01-19"))
    _write(ledger, "2022-02-26", _version("2022-02-25", "2022-02-26"))
    _write(ledger, "2022-02-27", _version("2022-02-25", "2022-02-26"))
    _write(ledger, "2022-04-22", _version("2022-04-21", "2022-04-22"))


def test_every_report_date_read_is_kept_once_with_when_it_was_seen(ledger: Ledger) -> None:
    """Three distinct report dates give three ``task_report`` rows, each observed on the day it
    was read; `task_facts` as of a past day knows only those seen (and dated) by then."""
    _history(ledger)
    with ledger.reading() as session:
        seen = [(r.reported_on, r.observed_on) for r in report_dates(session, 21)]
        now = task_facts(session, [21])[21].report_dates
        march = task_facts(session, [21], as_of=d("2022-03-01"))[21].report_dates
        early = task_facts(session, [21], as_of=d("2022-01-18"))
    assert seen == [
        (d("2022-01-18"), d("2022-01-19")),
        (d("2022-02-25"), d("2022-02-26")),
        (d("2022-04-21"), d("2022-04-22")),
    ]
    assert now == (d("2022-01-18"), d("2022-02-25"), d("2022-04-21"))
    assert march == (d("2022-01-18"), d("2022-02-25"))
    assert early == {}  # the 18/01 report was first read on 19/01


def test_reports_as_of_a_past_day_judge_occurrences_by_the_reports_seen_then(
    ledger: Ledger,
) -> None:
    """As of 10/05 (year 2022): January on time, February and April late, March overdue, May
    pending; as of 15/04 (before the April report was read): April still pending."""
    _history(ledger)
    with ledger.reading() as session:
        may = report_as_of(session, Settings(), ReportOptions(d("2022-05-10"), period="2022"), CAL)
        april = report_as_of(
            session, Settings(), ReportOptions(d("2022-04-15"), period="2022"), CAL
        )
    assert may.total.occurrences == OccurrenceCounts(on_time=1, late=2, overdue=1, pending=1)
    assert april.total.occurrences == OccurrenceCounts(on_time=1, late=1, overdue=1, pending=1)
    assert [(e.period, e.status.value, e.reported_on) for e in may.recurring][:2] == [
        ("2022-01", "HT_DUNG_HAN", d("2022-01-18")),
        ("2022-02", "HT_QUA_HAN", d("2022-02-25")),
    ]


def test_tasks_show_lists_the_occurrences_with_their_verdicts_in_words(ledger: Ledger) -> None:
    """tasks show (JSON and text) gives the rule, the report dates seen and each occurrence:
    February due Sunday 20/02 moved to Monday 21/02, reported late on 25/02."""
    _history(ledger)
    with ledger.reading() as session:
        view = task_view(
            session,
            21,
            as_of=d("2022-05-10"),
            historical=False,
            calendar=CAL,
            policy=DEFAULT_POLICY,
        )
    data = task_show_json(view)
    rec = data["recurring"]
    assert (rec["period"], rec["due_day"]) == ("P1M", 20)
    assert rec["report_dates"] == ["2022-01-18", "2022-02-25", "2022-04-21"]
    assert [o["period"] for o in rec["occurrences"]] == [
        "2022-01",
        "2022-02",
        "2022-03",
        "2022-04",
        "2022-05",
    ]
    february = rec["occurrences"][1]
    assert february == {
        "period": "2022-02",
        "period_label": "tháng 02/2022",
        "start": "2022-02-01",
        "end": "2022-02-28",
        "due": "2022-02-20",
        "eff_due": "2022-02-21",
        "status": "HT_QUA_HAN",
        "status_label": "Báo cáo trễ hạn",
        "reported_on": "2022-02-25",
        "days_overdue": 4,
        "working_days_left": None,
        "due_soon": False,
        "missed": False,
    }
    assert rec["counts"] == {
        "HT_DUNG_HAN": 1,
        "HT_QUA_HAN": 2,
        "DTH_QUA_HAN": 1,
        "DTH_TRONG_HAN": 1,
    }
    shown = " ".join(task_text(view, "en").split())
    assert "recurring: every month; 5 occurrence(s)" in shown
    assert (
        "2022-02 due 2022-02-20 -> 2022-02-21: Reported late (HT_QUA_HAN), reported "
        "2022-02-25, 4 day(s) after the due date"
    ) in shown
    shown_vi = " ".join(task_text(view).split())
    assert "nhiệm vụ định kỳ: định kỳ 1 tháng/lần; 5 kỳ" in shown_vi
    assert (
        "2022-02 hạn 2022-02-20 -> 2022-02-21: Báo cáo trễ hạn (HT_QUA_HAN), báo cáo ngày "
        "2022-02-25, 4 ngày sau hạn"
    ) in shown_vi


def test_the_planner_records_one_alert_per_occurrence_once(ledger: Ledger) -> None:
    """Planning on 24/02 (no February report yet) records QUA_HAN for 2022-02 keyed by its
    period; planning again the same day adds nothing; no DON_DOC_KHONG_HAN for the task."""
    _write(ledger, "2022-01-19", _version("2022-01-18", "2022-01-19"))
    for _ in range(2):
        plan_all(
            ledger,
            Settings(),
            d("2022-02-24"),
            "plan-0224",
            FixedClock(at(d("2022-02-24"), 12)),
            calendar=CAL,
        )
    with ledger.reading() as session:
        keys = session.execute(
            text("SELECT idempotency_key FROM outbox WHERE kind = 'alert' ORDER BY id")
        ).scalars()
        alerts = list(keys)
    assert alerts == ["alr:21:QUA_HAN:2022-02@2022-02-21#1"]


def test_migration_0006_fills_task_report_from_the_snapshots(ledger_url: str) -> None:
    """Downgrading to 0005 drops ``task_report``; upgrading again refills it from the snapshots:
    each distinct report date once, observed when its first snapshot was."""
    with open_ledger(ledger_url) as ledger:
        _history(ledger)
    result = downgrade(ledger_url, "0005")
    assert (result.before, result.after) == (head_revision(), "0005")
    with open_ledger(ledger_url, migrate=False) as ledger:
        assert "task_report" not in set(inspect(ledger.engine).get_table_names())
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, read_only=True) as ledger, ledger.reading() as session:
        rows = [(r.reported_on, r.observed_on) for r in report_dates(session, 21)]
        run_ids = session.execute(text("SELECT run_id FROM task_report ORDER BY id")).scalars()
        runs = list(run_ids)
    assert rows == [
        (date(2022, 1, 18), date(2022, 1, 19)),
        (date(2022, 2, 25), date(2022, 2, 26)),
        (date(2022, 4, 21), date(2022, 4, 22)),
    ]
    assert runs == ["run-2022-01-19", "run-2022-02-26", "run-2022-04-22"]
