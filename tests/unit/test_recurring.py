"""Recurring obligations (connector.rules.recurring): one occurrence per period with its own due
date, rolled forward past days off (Civil Code Art. 148), judged by the report dates seen; the
alerts per occurrence and the report's count of them. Every expected value is hand-computed on
the 2022 calendar (Tết 31/01-04/02, 30/04-03/05, 01-02/09 off)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.models import (
    AlertType,
    NormalisedTask,
    StatusCode,
    TaskFacts,
    TaskState,
    Unit,
    UnitKind,
)
from connector.reports.build import build_report
from connector.reports.model import OccurrenceCounts, ReportOptions
from connector.reports.render.formats import render
from connector.rules.alerts import AlertContext, alert_intents, due_occasions
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import DEFAULT_POLICY, classify
from connector.rules.judge import Judgement, judge
from connector.rules.phrases import Recurrence
from connector.rules.recurring import (
    OCCURRENCE_STATUSES,
    Occurrence,
    can_lay,
    occurrences,
    periods,
)
from connector.settings import AlertSettings
from simulator.units import UNITS_BY_CODE
from tests.support import factories

CAL: WorkingCalendar = load_calendar()

MONTHLY_20 = Recurrence("P1M", due_month=1, due_day=20, due_phrase="trước ngày 20")
MONTHLY = Recurrence("P1M")
QUARTERLY = Recurrence("P3M")
ON_TIME, LATE, OVERDUE, PENDING = (
    StatusCode.HT_DUNG_HAN,
    StatusCode.HT_QUA_HAN,
    StatusCode.DTH_QUA_HAN,
    StatusCode.DTH_TRONG_HAN,
)


def d(text: str) -> date:
    return date.fromisoformat(text)


def judged_of(
    rule: Recurrence,
    assigned: str,
    as_of: str,
    reports: tuple[str, ...] = (),
    completed: str | None = None,
) -> tuple[Occurrence, ...]:
    return occurrences(
        rule,
        assigned_on=d(assigned),
        completed_on=d(completed) if completed else None,
        report_dates=[d(r) for r in reports],
        as_of=d(as_of),
        calendar=CAL,
    )


def brief(found: tuple[Occurrence, ...]) -> list[tuple[str, str, str, StatusCode, int]]:
    return [
        (o.key, o.due.isoformat(), o.eff_due.isoformat(), o.status, o.days_overdue) for o in found
    ]


# -- occurrences and their verdicts ----------------------------------------------------------------


def test_monthly_before_the_20th_one_occurrence_a_month_each_judged() -> None:
    """ "trước ngày 20 hằng tháng" assigned 03/01, as of 10/05: January met on 18/01 (on time);
    February due Sunday 20/02, rolled to Monday 21/02, met on 25/02 (4 days late); March due
    Sunday 20/03 -> 21/03 with no report in March (overdue 50 days, its window closed); April
    met on 21/04 (1 day late); May due Friday 20/05 still pending with 8 working days left."""
    found = judged_of(
        MONTHLY_20, "2022-01-03", "2022-05-10", ("2022-01-18", "2022-02-25", "2022-04-21")
    )
    assert brief(found) == [
        ("2022-01", "2022-01-20", "2022-01-20", ON_TIME, 0),
        ("2022-02", "2022-02-20", "2022-02-21", LATE, 4),
        ("2022-03", "2022-03-20", "2022-03-21", OVERDUE, 50),
        ("2022-04", "2022-04-20", "2022-04-20", LATE, 1),
        ("2022-05", "2022-05-20", "2022-05-20", PENDING, 0),
    ]
    assert [o.reported_on for o in found] == [
        d("2022-01-18"),
        d("2022-02-25"),
        None,
        d("2022-04-21"),
        None,
    ]
    assert found[2].missed
    assert (found[4].working_days_left, found[4].due_soon) == (8, False)


def test_a_report_on_the_rolled_due_date_is_on_time() -> None:
    """February's due date 20/02 is a Sunday: a report on Monday 21/02 is on time (Art. 148)."""
    found = judged_of(MONTHLY_20, "2022-02-01", "2022-02-28", ("2022-02-21",))
    assert brief(found) == [("2022-02", "2022-02-20", "2022-02-21", ON_TIME, 0)]


def test_a_due_date_on_a_public_holiday_rolls_to_the_next_working_day() -> None:
    """Due on the 2nd monthly: 02/09/2022 is National Day (Friday), so September is due Monday
    05/09; August (due 02/08, before the assignment on 15/08) has no occurrence. As of 05/09 it
    is due today (0 working days left, due soon); as of 06/09, overdue by 1 day."""
    rule = Recurrence("P1M", due_month=1, due_day=2)
    today = judged_of(rule, "2022-08-15", "2022-09-05")
    assert brief(today) == [("2022-09", "2022-09-02", "2022-09-05", PENDING, 0)]
    assert (today[0].working_days_left, today[0].due_soon) == (0, True)
    later = judged_of(rule, "2022-08-15", "2022-09-06")
    assert brief(later) == [("2022-09", "2022-09-02", "2022-09-05", OVERDUE, 1)]
    assert not later[0].missed


def test_a_period_ending_in_days_off_is_met_by_a_report_before_the_rolled_due_date() -> None:
    """A monthly report with no due day is due on the month's last day: 30/04/2022 (Saturday,
    then 01-03/05 off) rolls to Wednesday 04/05, so a report on 03/05 still meets April, and
    May's window starts on 05/05."""
    found = judged_of(MONTHLY, "2022-04-01", "2022-05-04", ("2022-05-03",))
    assert brief(found) == [
        ("2022-04", "2022-04-30", "2022-05-04", ON_TIME, 0),
        ("2022-05", "2022-05-31", "2022-05-31", PENDING, 0),
    ]
    assert (found[0].window_start, found[0].window_end) == (d("2022-04-01"), d("2022-05-04"))
    assert found[1].window_start == d("2022-05-05")


def test_quarterly_without_a_due_day_is_due_on_the_last_day_of_the_quarter() -> None:
    """ "báo cáo định kỳ hằng quý": Q1 due 31/03 (met that day), Q2 due 30/06 with no report
    (overdue, missed: the report on 01/07 falls in Q3's window and meets Q3 early)."""
    found = judged_of(QUARTERLY, "2022-01-04", "2022-07-05", ("2022-03-31", "2022-07-01"))
    assert brief(found) == [
        ("2022-Q1", "2022-03-31", "2022-03-31", ON_TIME, 0),
        ("2022-Q2", "2022-06-30", "2022-06-30", OVERDUE, 5),
        ("2022-Q3", "2022-09-30", "2022-09-30", ON_TIME, 0),
    ]
    assert found[1].missed


def test_a_completed_task_has_occurrences_due_up_to_its_completion_only() -> None:
    """Completed on 10/03: January and February (due by then) are judged, March (due 21/03) is
    not; the completion date counts as the final report but falls outside both windows, and
    February's days overdue stop at the completion (21/02 -> 10/03: 17), not the as-of date."""
    found = judged_of(MONTHLY_20, "2022-01-03", "2022-05-10", ("2022-01-19",), "2022-03-10")
    assert brief(found) == [
        ("2022-01", "2022-01-20", "2022-01-20", ON_TIME, 0),
        ("2022-02", "2022-02-20", "2022-02-21", OVERDUE, 17),
    ]


def test_report_dates_after_the_as_of_date_do_not_count() -> None:
    """As of 19/01 a report dated 25/01 (seen later) does not meet January yet."""
    found = judged_of(MONTHLY_20, "2022-01-03", "2022-01-19", ("2022-01-25",))
    assert brief(found) == [("2022-01", "2022-01-20", "2022-01-20", PENDING, 0)]


@pytest.mark.parametrize(
    ("rule", "laid"),
    [
        pytest.param(MONTHLY_20, True, id="monthly-20th"),
        pytest.param(QUARTERLY, True, id="quarterly"),
        pytest.param(Recurrence("P3M", due_month=3, due_day=15), True, id="quarter-3rd-month"),
        pytest.param(Recurrence("P1W", due_weekday=5), True, id="weekly-friday"),
        pytest.param(Recurrence("P3M", due_day=15), False, id="quarter-day-without-month"),
        pytest.param(Recurrence("P5M"), False, id="five-months"),
        pytest.param(Recurrence("P2W"), False, id="two-weeks"),
    ],
)
def test_which_recurrences_the_calendar_can_lay(rule: Recurrence, laid: bool) -> None:
    """Periods dividing a year, single weeks and days can be laid; a day without its month in a
    quarter, five months or two weeks cannot (the task stays one without deadline)."""
    assert can_lay(rule) is laid
    assert bool(periods(rule, d("2022-01-01"), d("2022-12-31"))) is laid


def test_period_keys_name_each_kind_of_period() -> None:
    """Keys: month 2022-03, quarter 2022-Q2, half 2022-H2, year 2022, ISO week 2022-W10, day."""
    day = d("2022-08-10")
    keys = [
        periods(rule, day, day)[0].key
        for rule in (
            Recurrence("P1M"),
            Recurrence("P3M"),
            Recurrence("P6M"),
            Recurrence("P1Y"),
            Recurrence("P1W"),
            Recurrence("P1D"),
            Recurrence("P2M"),
        )
    ]
    assert keys == [
        "2022-08",
        "2022-Q3",
        "2022-H2",
        "2022",
        "2022-W32",
        "2022-08-10",
        "2022-M07-08",
    ]


def test_judge_gives_a_recurring_task_its_occurrences_from_the_report_dates_seen() -> None:
    """A task without deadline whose text says "báo cáo định kỳ hằng tháng trước ngày 20" is a
    recurring obligation; the ledger's report dates judge it; a withdrawn one has none."""
    task = factories.make_task(
        deadline=None, steering_content="Báo cáo định kỳ hằng tháng trước ngày 20."
    )
    cls = classify(task, d("2022-03-01"), CAL)
    facts = TaskFacts(report_dates=(d("2022-01-18"), d("2022-02-22")))
    j = judge(task, cls, CAL, DEFAULT_POLICY, facts)
    assert j.recurring is not None and j.is_recurring
    assert brief(j.recurring.occurrences) == [
        ("2022-01", "2022-01-20", "2022-01-20", ON_TIME, 0),
        ("2022-02", "2022-02-20", "2022-02-21", LATE, 1),
        ("2022-03", "2022-03-20", "2022-03-21", PENDING, 0),
    ]
    plain = factories.make_task(deadline=None, steering_content="Theo dõi, đôn đốc thực hiện.")
    assert (
        judge(plain, classify(plain, d("2022-03-01"), CAL), CAL, DEFAULT_POLICY).recurring is None
    )


# -- properties --------------------------------------------------------------------------------

RULES = st.one_of(
    st.builds(
        lambda day: Recurrence("P1M", due_month=None if day is None else 1, due_day=day),
        st.none() | st.integers(1, 31),
    ),
    st.builds(
        lambda month, day: Recurrence("P3M", due_month=month, due_day=day),
        st.integers(1, 3),
        st.integers(1, 31),
    ),
    st.sampled_from([Recurrence("P3M"), Recurrence("P6M"), Recurrence("P1Y"), Recurrence("P2M")]),
    st.builds(lambda wd: Recurrence("P1W", due_weekday=wd), st.none() | st.integers(1, 7)),
    st.just(Recurrence("P1D")),
)
DAYS = st.dates(min_value=date(2022, 1, 1), max_value=date(2023, 12, 31))


@settings(max_examples=150, deadline=None)
@given(
    rule=RULES,
    start=DAYS,
    span=st.integers(0, 400),
    reports=st.lists(DAYS, max_size=8),
)
def test_occurrences_are_ordered_one_per_period_each_due_on_a_working_day(
    rule: Recurrence, start: date, span: int, reports: list[date]
) -> None:
    """For any rule, assignment day, as-of day and report dates: occurrences are oldest first,
    one per period (distinct keys, each period starting the day after the previous one ends),
    each effectively due on a working day on or after its stated due date, never due before the
    assignment; windows do not overlap; the last period holds the as-of day; only occurrences
    not yet due are pending."""
    as_of = start + timedelta(days=span)
    found = occurrences(
        rule, assigned_on=start, completed_on=None, report_dates=reports, as_of=as_of, calendar=CAL
    )
    keys = [o.key for o in found]
    assert len(set(keys)) == len(keys)
    for before, after in itertools.pairwise(found):
        assert after.period.start == before.period.end + timedelta(days=1)
        assert after.window_start == before.window_end + timedelta(days=1)
    for occ in found:
        assert CAL.is_working_day(occ.eff_due)
        assert occ.eff_due >= occ.due >= start
        assert occ.period.start <= occ.due <= occ.period.end
        assert occ.status in OCCURRENCE_STATUSES
        assert (occ.status is StatusCode.DTH_TRONG_HAN) == (
            occ.reported_on is None and as_of <= occ.eff_due
        )
    if found:
        assert found[-1].period.start <= as_of <= found[-1].period.end


# -- alerts per occurrence ---------------------------------------------------------------------


def _alert_task(as_of: str) -> tuple[Judgement, AlertContext]:
    task = factories.make_task(
        source_id=301,
        deadline=None,
        lead_unit_code="STC",
        lead_unit_name="Sở Tài chính",
        steering_content="Báo cáo định kỳ hằng tháng trước ngày 20.",
    )
    return _judged(task, as_of, ("2022-01-18",))


def _judged(
    task: NormalisedTask, as_of: str, reports: tuple[str, ...]
) -> tuple[Judgement, AlertContext]:
    cls = classify(task, d(as_of), CAL)
    facts = TaskFacts(report_dates=tuple(d(r) for r in reports))
    j = judge(task, cls, CAL, DEFAULT_POLICY, facts)
    context = AlertContext(units=UNITS_BY_CODE, recurring=j.recurring)
    return j, context


def test_alerts_go_per_occurrence_with_the_period_in_the_key_and_the_text() -> None:
    """February (due Sunday 20/02 -> Monday 21/02, no report): as of Thursday 24/02 its QUA_HAN
    #1 (nominal 22/02) is the one to send. As of Thursday 17/03 March (due Sunday 20/03 ->
    Monday 21/03) has 2 working days left: SAP_DEN_HAN for 2022-03 is sent, while February's
    window closed on 28/02, so its QUA_HAN is only a past occasion (no repeat weeks later). No
    DON_DOC_KHONG_HAN nor THIEU_THOI_HAN for a recurring task."""
    j, context = _alert_task("2022-02-24")
    intents = alert_intents(
        j.task,
        j.classification,
        d("2022-02-24"),
        CAL,
        AlertSettings(),
        existing_keys=set(),
        context=context,
    )
    assert [(i.type, i.occasion, i.is_latest) for i in intents] == [
        (AlertType.QUA_HAN, "2022-02@2022-02-21#1", True)
    ]
    overdue = intents[0]
    assert overdue.key == "alr:301:QUA_HAN:2022-02@2022-02-21#1"
    assert overdue.title == "Nhiệm vụ định kỳ quá hạn báo cáo tháng 02/2022: 301/UBND-KSTT"

    j, context = _alert_task("2022-03-17")
    intents = alert_intents(
        j.task,
        j.classification,
        d("2022-03-17"),
        CAL,
        AlertSettings(),
        existing_keys=set(),
        context=context,
    )
    assert sorted((i.type.value, i.occasion, i.is_latest) for i in intents) == [
        ("QUA_HAN", "2022-02@2022-02-21#1", False),
        ("SAP_DEN_HAN", "2022-03@2022-03-21", True),
    ]
    soon = next(i for i in intents if i.type is AlertType.SAP_DEN_HAN)
    assert soon.key == "alr:301:SAP_DEN_HAN:2022-03@2022-03-21"
    assert soon.title == "Nhiệm vụ định kỳ sắp đến hạn báo cáo tháng 03/2022: 301/UBND-KSTT"
    assert "Hạn báo cáo kỳ tháng 03/2022: ngày 20/03/2022" in soon.content
    assert "được tính đến hết ngày 21/03/2022" in soon.content
    assert "còn 2 ngày làm việc" in soon.content


def test_a_reported_occurrence_calls_for_no_alert() -> None:
    """With February met on 21/02 and March met on 16/03, nothing is due on 17/03."""
    task = factories.make_task(
        source_id=302, deadline=None, steering_content="Báo cáo định kỳ hằng tháng trước ngày 20."
    )
    j, context = _judged(task, "2022-03-17", ("2022-01-18", "2022-02-21", "2022-03-16"))
    found = due_occasions(
        j.task, j.classification, d("2022-03-17"), CAL, AlertSettings(), context=context
    )
    assert found == []


def test_a_missed_period_is_not_announced_again_weeks_later() -> None:
    """As of 10/05, January (overdue since 21/01, window closed 31/01) is in the outbox as past
    occasions only: its last repeat is more than 7 days old, so no QUA_HAN is the latest."""
    task = factories.make_task(
        source_id=303, deadline=None, steering_content="Báo cáo định kỳ hằng tháng trước ngày 20."
    )
    j, context = _judged(
        task, "2022-05-10", ("2022-02-18", "2022-03-18", "2022-04-18", "2022-05-09")
    )
    found = due_occasions(
        j.task, j.classification, d("2022-05-10"), CAL, AlertSettings(), context=context
    )
    assert {o.type for o in found} == {AlertType.QUA_HAN}
    assert not any(o.is_latest for o in found)
    assert {o.occasion.split("@")[0] for o in found} == {"2022-01"}


def test_an_overdue_occurrence_held_over_tet_is_still_sent() -> None:
    """January 2022's report due Friday 28/01 and not made: its QUA_HAN #1 (nominal Saturday
    29/01, the window closing 31/01) is held over Tết (29/01-06/02) to Monday 07/02. Run day by
    day, it is sent then, once, as the latest: held is not missed."""
    task = factories.make_task(
        source_id=305, deadline=None, steering_content="Báo cáo định kỳ hằng tháng trước ngày 28."
    )
    existing: set[str] = set()
    sent: dict[str, tuple[date, bool]] = {}
    day = d("2022-01-24")
    while day <= d("2022-02-18"):
        j, context = _judged(task, day.isoformat(), ())
        for intent in alert_intents(
            j.task,
            j.classification,
            day,
            CAL,
            AlertSettings(),
            existing_keys=existing,
            context=context,
        ):
            sent[intent.key] = (day, intent.is_latest)
            existing.add(intent.key)
        day += timedelta(days=1)
    assert sent["alr:305:QUA_HAN:2022-01@2022-01-28#1"] == (d("2022-02-07"), True)
    assert all(latest for _, latest in sent.values())


# -- the report --------------------------------------------------------------------------------

UNITS = (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),)


def _report_item(as_of: str) -> Judgement:
    task = factories.make_task(
        source_id=401,
        deadline=None,
        lead_unit_code="STC",
        lead_unit_name="Sở Tài chính",
        steering_content="Báo cáo định kỳ hằng tháng trước ngày 20.",
    )
    cls = classify(task, d(as_of), CAL)
    reports = (d("2022-01-18"), d("2022-02-25"), d("2022-04-21"))
    return judge(task, cls, CAL, DEFAULT_POLICY, TaskFacts(report_dates=reports))


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        pytest.param("to-date", OccurrenceCounts(1, 2, 1, 1), id="to-date"),
        pytest.param("2022-Q1", OccurrenceCounts(1, 1, 1, 0), id="quarter"),
        pytest.param("2022-05", OccurrenceCounts(0, 0, 0, 1), id="month-pending"),
        pytest.param("open", OccurrenceCounts(0, 0, 1, 1), id="open"),
    ],
)
def test_the_report_counts_the_occurrences_of_its_period(
    period: str, expected: OccurrenceCounts
) -> None:
    """As of 10/05 (on time January; late February and April; overdue March; pending May): the
    period counts the occurrences due in it; to-date all; open those still overdue or pending."""
    as_of = d("2022-05-10")
    report = build_report([_report_item("2022-05-10")], UNITS, ReportOptions(as_of, period=period))
    assert report.total.occurrences == expected
    assert report.total.recurring == 1
    assert report.rows[0].counts.occurrences == expected
    assert [e.status for e in report.recurring].count(StatusCode.DTH_QUA_HAN) == expected.overdue


def test_the_report_json_and_text_show_the_recurring_tasks_apart() -> None:
    """Year 2022 as of 10/05: JSON has counts.recurring and counts.occurrences (May, due 20/05,
    pending), and annex ``recurring`` one line per occurrence; the summary says it in words,
    naming annex VI; the Markdown lists the periods and verdicts in words."""
    as_of = d("2022-05-10")
    report = build_report([_report_item("2022-05-10")], UNITS, ReportOptions(as_of, period="2022"))
    data = json.loads(render(report, "json"))
    assert data["total"]["recurring"] == 1
    assert data["total"]["occurrences"] == {
        "on_time": 1,
        "late": 2,
        "overdue": 1,
        "pending": 1,
        "total": 5,
    }
    assert [
        (e["period"], e["due"], e["eff_due"], e["status"], e["reported_on"], e["days_overdue"])
        for e in data["annexes"]["recurring"]
    ] == [
        ("2022-01", "2022-01-20", "2022-01-20", "HT_DUNG_HAN", "2022-01-18", 0),
        ("2022-02", "2022-02-20", "2022-02-21", "HT_QUA_HAN", "2022-02-25", 4),
        ("2022-03", "2022-03-20", "2022-03-21", "DTH_QUA_HAN", None, 50),
        ("2022-04", "2022-04-20", "2022-04-20", "HT_QUA_HAN", "2022-04-21", 1),
        ("2022-05", "2022-05-20", "2022-05-20", "DTH_TRONG_HAN", None, 0),
    ]
    assert data["document"]["summary"][-1] == (
        "Có 1 nhiệm vụ định kỳ với 5 kỳ báo cáo trong kỳ: 1 kỳ báo cáo đúng hạn, 2 kỳ báo cáo "
        "trễ hạn, 1 kỳ quá hạn chưa báo cáo và 1 kỳ chưa đến hạn (Phụ lục VI)."
    )
    shown = render(report, "md")
    assert "Phụ lục VI" in shown and "tháng 03/2022" in shown
    assert "Quá hạn, chưa báo cáo" in shown and "Báo cáo trễ hạn" in shown


def test_a_withdrawn_recurring_task_has_no_occurrence() -> None:
    """A withdrawn task is no recurring obligation: nothing counted, no annex line."""
    item = _report_item("2022-05-10")
    task = replace(item.task, state=TaskState.CANCELLED)
    cls = classify(task, d("2022-05-10"), CAL)
    j = judge(task, cls, CAL, DEFAULT_POLICY, item.facts)
    assert j.recurring is None
    report = build_report([j], UNITS, ReportOptions(d("2022-05-10")))
    assert report.total.occurrences == OccurrenceCounts() and report.recurring == ()


def test_alert_keys_are_stable_across_days() -> None:
    """The same occurrence's due-soon alert has the same key on every day it is due soon."""
    task = factories.make_task(
        source_id=304, deadline=None, steering_content="Báo cáo định kỳ hằng tháng trước ngày 20."
    )
    keys = set()
    for day in ("2022-03-16", "2022-03-17", "2022-03-18"):
        j, context = _judged(task, day, ("2022-01-18", "2022-02-21"))
        found = due_occasions(
            j.task, j.classification, d(day), CAL, AlertSettings(), context=context
        )
        keys |= {o.occasion for o in found if o.type is AlertType.SAP_DEN_HAN}
    assert keys == {"2022-03@2022-03-21"}
