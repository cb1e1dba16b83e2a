"""Alert rules (connector.rules.alerts): pure functions of task, classification, day and calendar."""

from __future__ import annotations

import json
import re
import string
import unicodedata
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from connector.models import AlertType, NormalisedTask, StatusCode, TaskState
from connector.rules.alerts import (
    ELLIPSIS,
    MAX_CONTENT_CHARS,
    MAX_PAST_OCCASIONS,
    MAX_TITLE_CHARS,
    AlertContext,
    AlertIntent,
    alert_intents,
    alert_key,
    bounded,
    due_occasions,
    latest_keys,
    load_templates,
    resolve_recipients,
    tracking_note,
)
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import classify
from connector.settings import AlertSettings
from simulator.units import UNITS_BY_CODE
from tests.support import factories

CAL: WorkingCalendar = load_calendar()
UNITS = UNITS_BY_CODE


make_task = partial(
    factories.make_task,
    source_id=101,
    last_modified=datetime(2022, 3, 1, 2, tzinfo=UTC),
    sign_number="1907/UBND-KSTT",
    subject="Triển khai thực hiện Kế hoạch chuyển đổi số năm 2022",
    lead_unit_code="STC",
    lead_unit_name="Sở Tài chính",
    doc_date=date(2022, 3, 1),
    assigned_at=datetime(2022, 3, 1, 2, tzinfo=UTC),
    deadline=date(2022, 3, 7),
    confirmed=False,
)
"""The shared task as the Department of Finance's, assigned on 1 March 2022 by document
1907/UBND-KSTT, due Monday 7 March, its status not confirmed."""


def intents_for(
    task: NormalisedTask,
    as_of: date,
    settings: AlertSettings | None = None,
    existing: set[str] | None = None,
    **context: Any,
) -> list[AlertIntent]:
    settings = settings or AlertSettings()
    cls = classify(task, as_of, CAL)
    ctx = AlertContext(units=context.pop("units", UNITS), **context)
    return alert_intents(
        task, cls, as_of, CAL, settings, existing_keys=existing or set(), context=ctx
    )


def only(intents: list[AlertIntent], alert_type: AlertType) -> list[AlertIntent]:
    return [i for i in intents if i.type is alert_type]


def d(text: str) -> date:
    return date.fromisoformat(text)


# -- due soon ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "hold", "first_day"),
    [
        pytest.param("2022-03-17", True, "2022-03-14", id="monday-for-thursday"),
        pytest.param("2022-04-08", True, "2022-04-05", id="plain-week-tue-for-fri"),
        pytest.param("2022-04-13", True, "2022-04-07", id="over-hung-kings-holiday"),
        pytest.param("2022-03-23", True, "2022-03-18", id="over-a-weekend"),
        pytest.param("2022-03-23", False, "2022-03-18", id="over-a-weekend-not-held"),
    ],
)
def test_due_soon_first_sent_when_three_working_days_are_left(
    deadline: str, hold: bool, first_day: str
) -> None:
    """SAP_DEN_HAN comes due on the first (held) day with at most 3 working days left."""
    settings = AlertSettings(hold_on_non_working_days=hold)
    task = make_task(deadline=d(deadline))
    day_before = d(first_day) - timedelta(days=1)
    assert only(intents_for(task, day_before, settings), AlertType.SAP_DEN_HAN) == []
    [intent] = only(intents_for(task, d(first_day), settings), AlertType.SAP_DEN_HAN)
    assert intent.occasion == deadline
    assert intent.key == f"alr:101:SAP_DEN_HAN:{deadline}"
    assert intent.recipients == ("STC",)
    assert intent.level == 1
    assert intent.is_latest
    assert intent.send_on == d(first_day)


def test_nothing_produced_on_a_non_working_day_when_holding() -> None:
    """A task seen on a Saturday already due soon is alerted on Monday (or at once if not held)."""
    task = make_task(deadline=d("2022-03-15"))  # Tuesday; due soon from Thursday 10 March
    saturday, monday = d("2022-03-12"), d("2022-03-14")
    assert intents_for(task, saturday) == []
    [intent] = only(intents_for(task, monday), AlertType.SAP_DEN_HAN)
    assert intent.send_on == d("2022-03-10")  # due since Thursday, first seen on Saturday
    not_held = AlertSettings(hold_on_non_working_days=False)
    assert only(intents_for(task, saturday, not_held), AlertType.SAP_DEN_HAN)


def test_due_soon_not_due_once_overdue() -> None:
    """A due-soon alert that was never sent is not due once the task is overdue."""
    task = make_task(deadline=d("2022-04-08"))
    assert only(intents_for(task, d("2022-04-09")), AlertType.SAP_DEN_HAN) == []


def test_due_soon_disabled_with_zero_days() -> None:
    """due_soon_working_days = 0 turns SAP_DEN_HAN off."""
    task = make_task(deadline=d("2022-04-08"))
    settings = AlertSettings(due_soon_working_days=0)
    assert only(intents_for(task, d("2022-04-08"), settings), AlertType.SAP_DEN_HAN) == []


# -- overdue -------------------------------------------------------------------------------------


def test_overdue_first_day_after_deadline_then_weekly() -> None:
    """QUA_HAN on the first day after eff_due, the 2nd occasion 7 days later."""
    task = make_task(deadline=d("2022-03-07"))
    assert only(intents_for(task, d("2022-03-07")), AlertType.QUA_HAN) == []
    [first] = only(intents_for(task, d("2022-03-08")), AlertType.QUA_HAN)
    assert first.occasion == "2022-03-07#1"
    assert first.recipients == ("STC", "VPUBND")
    existing = {first.key}
    assert only(intents_for(task, d("2022-03-14"), existing=existing), AlertType.QUA_HAN) == []
    [second] = only(intents_for(task, d("2022-03-15"), existing=existing), AlertType.QUA_HAN)
    assert second.occasion == "2022-03-07#2"
    assert second.is_latest


def test_overdue_ten_weeks_sends_one_and_records_the_rest_as_past() -> None:
    """First sync of a task overdue ten weeks: one latest occasion, nine older ones past."""
    task = make_task(deadline=d("2022-01-10"))
    as_of = d("2022-01-10") + timedelta(days=70)
    overdue = only(intents_for(task, as_of), AlertType.QUA_HAN)
    latest = [i for i in overdue if i.is_latest]
    assert [i.occasion for i in latest] == ["2022-01-10#10"]
    assert len(overdue) == 10
    assert all(not i.is_latest for i in overdue if i.occasion != "2022-01-10#10")
    assert latest[0].level == 2  # overdue by more than 30 days


def test_overdue_for_years_records_a_bounded_number_of_past_occasions() -> None:
    """A task overdue for two years: the latest occasion plus at most 12 older ones."""
    task = make_task(deadline=d("2020-03-02"))
    overdue = only(intents_for(task, d("2022-03-22")), AlertType.QUA_HAN)
    assert len(overdue) == MAX_PAST_OCCASIONS + 1
    assert [i.is_latest for i in overdue] == [False] * MAX_PAST_OCCASIONS + [True]
    assert overdue[-1].occasion == "2020-03-02#108"
    assert overdue[0].occasion == "2020-03-02#96"


def test_overdue_held_over_the_weekend_and_days_counted_to_send_day() -> None:
    """A reminder due on Saturday is held to Monday; its text counts days to Monday."""
    task = make_task(deadline=d("2022-03-11"))  # Friday
    assert only(intents_for(task, d("2022-03-12")), AlertType.QUA_HAN) == []
    assert only(intents_for(task, d("2022-03-13")), AlertType.QUA_HAN) == []
    [intent] = only(intents_for(task, d("2022-03-14")), AlertType.QUA_HAN)
    assert intent.send_on == d("2022-03-14")
    assert "đã quá hạn 3 ngày" in intent.content
    assert intent.level == 1


@pytest.mark.parametrize(
    ("days", "level"),
    [
        pytest.param(30, 1, id="30-days-warning"),
        pytest.param(31, 2, id="31-days-urgent"),
    ],
)
def test_overdue_level_urgent_past_thirty_days(days: int, level: int) -> None:
    """QUA_HAN is level 2 when overdue by more than 30 calendar days."""
    task = make_task(deadline=d("2022-03-07"))
    as_of = d("2022-03-07") + timedelta(days=days)
    latest = [i for i in only(intents_for(task, as_of), AlertType.QUA_HAN) if i.is_latest]
    assert [i.level for i in latest] == [level]


def test_extension_starts_a_new_overdue_series() -> None:
    """A new eff_due gives new occasions; the old series is no longer current."""
    old = make_task(deadline=d("2022-03-07"))
    cls_old = classify(old, d("2022-03-08"), CAL)
    ctx = AlertContext(units=UNITS)
    keys_old = latest_keys(old, cls_old, d("2022-03-08"), CAL, AlertSettings(), context=ctx)
    assert keys_old == {"alr:101:QUA_HAN:2022-03-07#1"}
    from connector.models import DeadlineChange

    new = make_task(
        deadline=d("2022-03-04"),
        deadline_changes=(DeadlineChange(d("2022-03-02"), d("2022-03-04")),),
    )
    as_of = d("2022-03-08")
    cls_new = classify(new, as_of, CAL)
    keys_new = latest_keys(new, cls_new, as_of, CAL, AlertSettings(), context=ctx)
    assert keys_new == {"alr:101:QUA_HAN:2022-03-04#1"}
    [intent] = only(intents_for(new, as_of), AlertType.QUA_HAN)
    assert "đã gia hạn" in intent.content
    assert "02/03/2022" in intent.content


# -- periodic urge without deadline --------------------------------------------------------------


def test_no_deadline_urge_every_three_months_held_over_holidays() -> None:
    """DON_DOC_KHONG_HAN 3 months after assignment (a Sunday + a day off in lieu: Tuesday)."""
    task = make_task(
        deadline=None,
        assigned_at=datetime(2022, 1, 10, 2, tzinfo=UTC),
        doc_date=date(2022, 1, 10),
    )
    assert only(intents_for(task, d("2022-04-11")), AlertType.DON_DOC_KHONG_HAN) == []
    [urge] = only(intents_for(task, d("2022-04-12")), AlertType.DON_DOC_KHONG_HAN)
    assert urge.occasion == "1"
    assert urge.recipients == ("STC", "TCT")
    assert "3 tháng" in urge.content
    later = only(intents_for(task, d("2022-08-15")), AlertType.DON_DOC_KHONG_HAN)
    assert [(i.occasion, i.is_latest) for i in later] == [("1", False), ("2", True)]
    assert later[1].send_on == d("2022-07-11")  # 10 July 2022 is a Sunday


def test_no_deadline_urge_first_seen_late_says_how_long_it_has_really_been() -> None:
    """A task without deadline first seen (or seen again after a stop) months after its last
    three-monthly occasion: the reminder sent says the months since the assignment as of the
    day it is sent (11 on 20/12/2022 for 10/01/2022), not the occasion's (9); an older occasion
    recorded as past speaks of its own day."""
    task = make_task(
        deadline=None,
        assigned_at=datetime(2022, 1, 10, 2, tzinfo=UTC),
        doc_date=date(2022, 1, 10),
    )
    found = only(intents_for(task, d("2022-12-20")), AlertType.DON_DOC_KHONG_HAN)
    assert [(i.occasion, i.is_latest) for i in found] == [("1", False), ("2", False), ("3", True)]
    assert "đến ngày 20/12/2022 đã 11 tháng nhưng chưa hoàn thành" in found[-1].content
    assert "đến ngày 11/07/2022 đã 6 tháng nhưng chưa hoàn thành" in found[1].content
    [english] = [
        i
        for i in intents_for(task, d("2022-12-20"), AlertSettings(lang="en"))
        if i.type is AlertType.DON_DOC_KHONG_HAN and i.is_latest
    ]
    assert "as of 20/12/2022, 11 months later, it is not completed" in english.content


# -- missing deadline ----------------------------------------------------------------------------


def test_missing_deadline_for_new_assignment_with_suggestion() -> None:
    """THIEU_THOI_HAN for a new assignment, to VPUBND, naming the phrase and suggested date."""
    task = make_task(deadline=None, assigned_at=datetime(2022, 3, 7, 2, tzinfo=UTC))
    [intent] = only(
        intents_for(
            task,
            d("2022-03-07"),
            first_seen_on=d("2022-03-07"),
            suggested_deadline=d("2022-04-15"),
            suggested_phrase="trước ngày 15/4/2022",
        ),
        AlertType.THIEU_THOI_HAN,
    )
    assert intent.is_latest
    assert intent.recipients == ("VPUBND",)
    assert intent.occasion == "2022-03-07"
    assert "“trước ngày 15/4/2022”" in intent.content
    assert "15/04/2022" in intent.content


def test_missing_deadline_for_old_assignment_is_past() -> None:
    """An assignment first seen long after it was made is recorded as past, not sent."""
    task = make_task(deadline=None, assigned_at=datetime(2021, 12, 1, 2, tzinfo=UTC))
    [intent] = only(
        intents_for(task, d("2022-03-07"), first_seen_on=d("2022-03-07")),
        AlertType.THIEU_THOI_HAN,
    )
    assert not intent.is_latest
    assert "không nêu thời hạn" in intent.content


@pytest.mark.parametrize(
    ("window", "latest"),
    [pytest.param(7, False, id="default-window"), pytest.param(30, True, id="wider-window")],
)
def test_missing_deadline_window_is_configurable(window: int, latest: bool) -> None:
    """new_assignment_window_days decides which assignments are still new."""
    task = make_task(deadline=None, assigned_at=datetime(2022, 2, 20, 2, tzinfo=UTC))
    settings = AlertSettings(new_assignment_window_days=window)
    [intent] = only(
        intents_for(task, d("2022-03-07"), settings, first_seen_on=d("2022-03-07")),
        AlertType.THIEU_THOI_HAN,
    )
    assert intent.is_latest is latest


# -- confirmation before the report cut-off ------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "sent"),
    [
        pytest.param("2022-03-21", False, id="before-window"),
        pytest.param("2022-03-22", True, id="three-working-days-before-cutoff"),
        pytest.param("2022-03-25", True, id="on-cutoff"),
        pytest.param("2022-03-26", False, id="after-cutoff"),
    ],
)
def test_confirmation_request_window(as_of: str, sent: bool) -> None:
    """DE_NGHI_XAC_NHAN from 3 working days before the cut-off (25th) until the cut-off."""
    task = make_task(deadline=d("2022-06-30"))
    found = only(intents_for(task, d(as_of)), AlertType.DE_NGHI_XAC_NHAN)
    assert [i.occasion for i in found] == (["2022-03"] if sent else [])
    if sent:
        assert found[0].level == 0
        assert found[0].recipients == ("STC",)
        assert "tháng 03/2022" in found[0].content
        assert "25/03/2022" in found[0].content


@pytest.mark.parametrize(
    ("completed_on", "deadline", "status_text", "asked"),
    [
        pytest.param("2022-03-09", "2022-03-07", "Hoàn thành quá hạn", True, id="late-in-march"),
        pytest.param("2022-03-04", "2022-03-07", "Hoàn thành đúng hạn", True, id="on-time"),
        pytest.param("2022-02-26", "2022-02-21", "Hoàn thành quá hạn", True, id="day-after-cutoff"),
        pytest.param("2022-02-25", "2022-02-21", "", False, id="on-previous-cutoff"),
        pytest.param("2022-02-24", "2022-03-07", "", False, id="before-previous-cutoff"),
        pytest.param("2022-03-23", "2022-03-07", "", False, id="completed-after-the-request-day"),
    ],
)
def test_confirmation_request_asks_to_confirm_completions_since_the_last_report(
    completed_on: str, deadline: str, status_text: str, asked: bool
) -> None:
    """DE_NGHI_XAC_NHAN of March 2022 (sent 22/03) also goes to an unconfirmed task completed
    after the February cut-off (25/02), on time or late, and asks to confirm the completion."""
    done = d(completed_on)
    task = make_task(
        assigned_at=datetime(2022, 2, 1, 2, tzinfo=UTC),
        doc_date=d("2022-02-01"),
        deadline=d(deadline),
        state=TaskState.DONE,
        completed_at=datetime(done.year, done.month, done.day, 3, tzinfo=UTC),
    )
    intents = intents_for(task, d("2022-03-22"))
    found = only(intents, AlertType.DE_NGHI_XAC_NHAN)
    if done > d("2022-03-22"):  # still open on the request day: asked about its status
        assert [i.title for i in found] == [
            "Đề nghị xác nhận tình trạng thực hiện nhiệm vụ: 1907/UBND-KSTT"
        ]
        return
    assert intents == found  # no other alert for a completed task
    if not asked:
        assert found == []
        return
    [intent] = found
    assert intent.key == "alr:101:DE_NGHI_XAC_NHAN:2022-03"
    assert intent.title == "Đề nghị xác nhận kết quả hoàn thành nhiệm vụ: 1907/UBND-KSTT"
    assert (
        f"Tình trạng đang theo dõi trên Hệ thống: {status_text}; thời hạn hoàn thành: ngày "
        f"{d(deadline):%d/%m/%Y}; ngày hoàn thành: ngày {done:%d/%m/%Y}." in intent.content
    )
    assert (
        "đề nghị Sở Tài chính kiểm tra, xác nhận kết quả hoàn thành nhiệm vụ trên Hệ thống "
        "trước ngày 25/03/2022." in intent.content
    )
    english = intents_for(task, d("2022-03-22"), AlertSettings(lang="en"))
    assert english[0].title == "Please confirm the completion of the task: 1907/UBND-KSTT"
    assert f"; completed on {done:%d/%m/%Y}." in english[0].content


@pytest.mark.parametrize(
    ("cutoff_day", "days_before", "as_of", "month"),
    [
        # March 2022's cut-off is Wednesday 2 March: asked from Friday 25 February.
        pytest.param(2, 3, "2022-02-24", None, id="cutoff-2nd-before-window"),
        pytest.param(2, 3, "2022-02-25", "2022-03", id="cutoff-2nd-window-opens-in-february"),
        pytest.param(2, 3, "2022-02-28", "2022-03", id="cutoff-2nd-last-day-of-february"),
        pytest.param(2, 3, "2022-03-02", "2022-03", id="cutoff-2nd-on-the-cutoff"),
        pytest.param(2, 3, "2022-03-03", None, id="cutoff-2nd-after-the-cutoff"),
        # January 2022's cut-off is Saturday 1 January (then Monday 3 January is a day off):
        # asked from Wednesday 29 December 2021 to Friday 31 December, else never.
        pytest.param(1, 3, "2021-12-28", None, id="cutoff-1st-before-window"),
        pytest.param(1, 3, "2021-12-29", "2022-01", id="cutoff-1st-on-a-day-off-asked-in-december"),
        pytest.param(1, 3, "2021-12-31", "2022-01", id="cutoff-1st-on-a-day-off-last-chance"),
        # confirm_days_before = 0 and January 2025's cut-off (Tuesday 28th) in Tết: held to
        # Monday 3 February, the next working day, and still January's request.
        pytest.param(28, 0, "2025-02-03", "2025-01", id="held-past-tet-into-february"),
        pytest.param(28, 0, "2025-02-04", None, id="held-request-only-on-its-day"),
    ],
)
def test_confirmation_request_window_across_a_month_boundary(
    cutoff_day: int, days_before: int, as_of: str, month: str | None
) -> None:
    """DE_NGHI_XAC_NHAN of month M is due from N working days before M's cut-off until it,
    also when that window opens in the month before, or (held) closes in the month after; its
    occasion and text name M and M's cut-off."""
    task = make_task(
        assigned_at=datetime(2021, 11, 1, 2, tzinfo=UTC),
        doc_date=d("2021-11-01"),
        deadline=d("2025-12-31"),
    )
    settings = AlertSettings(report_cutoff_day=cutoff_day, confirm_days_before=days_before)
    found = only(intents_for(task, d(as_of), settings), AlertType.DE_NGHI_XAC_NHAN)
    assert [i.occasion for i in found] == ([month] if month else [])
    if month:
        year, mm = month.split("-")
        assert f"Để tổng hợp báo cáo tháng {mm}/{year}," in found[0].content
        assert f"trước ngày {cutoff_day:02d}/{mm}/{year}." in found[0].content
        assert found[0].is_latest


@pytest.mark.parametrize(
    ("completed_on", "asked"),
    [
        pytest.param("2022-02-10", True, id="after-february-cutoff"),
        pytest.param("2022-02-02", False, id="on-february-cutoff"),
        pytest.param("2022-01-20", False, id="in-the-report-of-february"),
    ],
)
def test_early_request_counts_completions_from_the_cutoff_before_its_own(
    completed_on: str, asked: bool
) -> None:
    """With the cut-off on the 2nd, March's request (sent 25/02) asks about completions after
    February's cut-off (02/02), not after January's: they were in February's report."""
    done = d(completed_on)
    task = make_task(
        assigned_at=datetime(2022, 1, 3, 2, tzinfo=UTC),
        doc_date=d("2022-01-03"),
        deadline=d("2022-02-21"),
        state=TaskState.DONE,
        completed_at=datetime(done.year, done.month, done.day, 3, tzinfo=UTC),
    )
    settings = AlertSettings(report_cutoff_day=2)
    found = only(intents_for(task, d("2022-02-25"), settings), AlertType.DE_NGHI_XAC_NHAN)
    assert [i.occasion for i in found] == (["2022-03"] if asked else [])
    if asked:
        assert found[0].title == "Đề nghị xác nhận kết quả hoàn thành nhiệm vụ: 1907/UBND-KSTT"
        assert f"ngày hoàn thành: ngày {done:%d/%m/%Y}." in found[0].content


def test_completion_request_is_current_so_planning_keeps_it() -> None:
    """A task completed after the request was planned keeps its request as the latest occasion."""
    open_task = make_task(deadline=d("2022-06-30"))
    done = replace(
        open_task, state=TaskState.DONE, completed_at=datetime(2022, 3, 23, 3, tzinfo=UTC)
    )
    key = "alr:101:DE_NGHI_XAC_NHAN:2022-03"
    assert key in latest_keys(
        open_task,
        classify(open_task, d("2022-03-22"), CAL),
        d("2022-03-22"),
        CAL,
        AlertSettings(),
        context=AlertContext(units=UNITS),
    )
    assert key in latest_keys(
        done,
        classify(done, d("2022-03-24"), CAL),
        d("2022-03-24"),
        CAL,
        AlertSettings(),
        context=AlertContext(units=UNITS),
    )


def test_confirmed_task_gets_no_confirmation_request() -> None:
    """A task whose status the lead unit confirmed is not asked again."""
    task = make_task(
        deadline=d("2022-06-30"), confirmed=True, confirmed_at=datetime(2022, 3, 2, tzinfo=UTC)
    )
    assert only(intents_for(task, d("2022-03-22")), AlertType.DE_NGHI_XAC_NHAN) == []


# -- what is never alerted -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "settings"),
    [
        pytest.param(
            {
                "state": TaskState.DONE,
                "completed_at": datetime(2022, 3, 9, tzinfo=UTC),
                "confirmed": True,
            },
            AlertSettings(),
            id="completed-late-confirmed",
        ),
        pytest.param(
            {
                "state": TaskState.DONE,
                "assigned_at": datetime(2022, 2, 1, 2, tzinfo=UTC),
                "deadline": date(2022, 2, 21),
                "completed_at": datetime(2022, 2, 25, 3, tzinfo=UTC),
            },
            AlertSettings(),
            id="completed-late-by-the-previous-cutoff",
        ),
        pytest.param({"state": TaskState.CANCELLED}, AlertSettings(), id="withdrawn"),
        pytest.param({}, AlertSettings(enabled=False), id="alerts-disabled"),
        pytest.param({}, AlertSettings(types=("SAP_DEN_HAN",)), id="type-not-enabled"),
        pytest.param(
            {"assigned_at": datetime(2022, 4, 1, tzinfo=UTC)},
            AlertSettings(),
            id="not-yet-assigned",
        ),
    ],
)
def test_no_alerts(overrides: dict[str, Any], settings: AlertSettings) -> None:
    """Closed tasks, disabled alerts and future assignments produce no alert."""
    task = make_task(**overrides)
    assert intents_for(task, d("2022-03-22"), settings) == []


def test_existing_keys_are_not_produced_again() -> None:
    """An occasion already in the outbox is not returned again."""
    task = make_task(deadline=d("2022-03-07"))
    first = intents_for(task, d("2022-03-22"))
    assert first
    assert intents_for(task, d("2022-03-22"), existing={i.key for i in first}) == []


# -- recipients ----------------------------------------------------------------------------------


def test_recipients_extra_by_unit_kind_and_unknown_codes_skipped() -> None:
    """extra_recipients by the lead unit's kind are added; codes not in the unit table skipped."""
    settings = AlertSettings(
        recipients={"QUA_HAN": ("lead", "VPUBND", "NOPE")},
        extra_recipients={"district": ("TCT",)},
    )
    task = make_task(lead_unit_code="HPM", lead_unit_name="UBND huyện Phù Mỹ")
    known, skipped = resolve_recipients(AlertType.QUA_HAN, task, settings, UNITS)
    assert known == ("HPM", "VPUBND", "TCT")
    assert skipped == ("NOPE",)
    dept = make_task()
    assert resolve_recipients(AlertType.QUA_HAN, dept, settings, UNITS)[0] == ("STC", "VPUBND")


def test_alert_without_any_known_recipient_is_not_produced() -> None:
    """With an empty unit table nothing is produced (it is planned once units are known)."""
    task = make_task(deadline=d("2022-03-07"))
    assert intents_for(task, d("2022-03-08"), units={}) == []


# -- text ----------------------------------------------------------------------------------------


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_templates_vi_and_en_have_the_same_keys_and_placeholders() -> None:
    """Both template files define every text with the same placeholders."""
    vi, en = load_templates("vi"), load_templates("en")
    assert vi.fragments.keys() == en.fragments.keys()
    for alert_type in vi.alerts:
        for key in ("title", "content"):
            assert _placeholders(vi.alerts[alert_type][key]) == _placeholders(
                en.alerts[alert_type][key]
            ), (alert_type, key)
    for status in StatusCode:
        assert _placeholders(vi.tracking_notes[status]) == _placeholders(en.tracking_notes[status])


def test_overdue_text_is_formal_vietnamese_naming_document_deadline_and_days() -> None:
    """The overdue alert names số ký hiệu, trích yếu, lead unit, deadline and days overdue."""
    task = make_task(
        subject=unicodedata.normalize("NFD", "Báo cáo tình hình\nthực hiện nhiệm vụ"),
        steering_content="Sở Tài chính chủ trì, tham mưu UBND tỉnh.",
    )
    [intent] = [i for i in intents_for(task, d("2022-03-14")) if i.type is AlertType.QUA_HAN]
    assert intent.title == "Nhiệm vụ quá hạn: 1907/UBND-KSTT"
    assert "văn bản số 1907/UBND-KSTT ngày 01/03/2022" in intent.content
    assert "Trích yếu: Báo cáo tình hình thực hiện nhiệm vụ" in intent.content
    assert "Đơn vị chủ trì: Sở Tài chính." in intent.content
    assert "Thời hạn hoàn thành: ngày 07/03/2022" in intent.content
    assert "đã quá hạn 7 ngày" in intent.content
    assert "Nội dung chỉ đạo: Sở Tài chính chủ trì" in intent.content
    assert unicodedata.is_normalized("NFC", intent.content)
    assert "{" not in intent.content and "}" not in intent.content
    payload = intent.payload()
    assert payload["type"] == "QUA_HAN" and payload["taskId"] == 101


def test_rolled_deadline_is_explained() -> None:
    """A deadline on a day off names the working day it runs to."""
    task = make_task(deadline=d("2022-04-10"))  # Sunday, Monday off in lieu: eff_due Tuesday
    [intent] = [i for i in intents_for(task, d("2022-04-13")) if i.type is AlertType.QUA_HAN]
    assert "ngày 10/04/2022 (trùng ngày nghỉ, được tính đến hết ngày 12/04/2022)" in intent.content
    assert "đã quá hạn 1 ngày" in intent.content


def test_english_texts_with_lang_en() -> None:
    """lang = "en" gives English texts."""
    task = make_task()
    settings = AlertSettings(lang="en")
    [intent] = [
        i for i in intents_for(task, d("2022-03-14"), settings) if i.type is AlertType.QUA_HAN
    ]
    assert intent.title == "Task overdue: 1907/UBND-KSTT"
    assert "7 day(s) overdue" in intent.content


def test_every_alert_type_renders_in_both_languages() -> None:
    """Every alert type renders without a stray placeholder in vi and en."""
    tasks_days = [
        (make_task(deadline=d("2022-03-24")), d("2022-03-22")),  # due soon + confirm
        (make_task(deadline=d("2022-03-07")), d("2022-03-22")),  # overdue + confirm
        (
            make_task(deadline=None, assigned_at=datetime(2021, 12, 20, 2, tzinfo=UTC)),
            d("2022-03-22"),
        ),  # urge + missing
    ]
    seen: set[AlertType] = set()
    for lang in ("vi", "en"):
        settings = AlertSettings(lang=lang)
        for task, as_of in tasks_days:
            for intent in intents_for(task, as_of, settings, first_seen_on=as_of):
                seen.add(intent.type)
                assert not re.search(r"[{}]", intent.title + intent.content)
                assert intent.title and intent.content
    assert seen == {
        AlertType.SAP_DEN_HAN,
        AlertType.QUA_HAN,
        AlertType.DON_DOC_KHONG_HAN,
        AlertType.THIEU_THOI_HAN,
        AlertType.DE_NGHI_XAC_NHAN,
    }


HUGE = 5_000_000


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_alert_text_is_bounded_whatever_the_record_holds(lang: str) -> None:
    """A 5-million-character subject, steering content, sign number or unit name: the title stays
    within MAX_TITLE_CHARS, the content within MAX_CONTENT_CHARS, and each cut ends with "…"."""
    tasks_days = [
        (make_task(deadline=d("2022-03-24")), d("2022-03-22")),
        (make_task(deadline=d("2022-03-07")), d("2022-03-22")),
        (
            make_task(deadline=None, assigned_at=datetime(2021, 12, 20, 2, tzinfo=UTC)),
            d("2022-03-22"),
        ),
    ]
    huge = {
        "subject": "Trích yếu rất dài " * (HUGE // 18),
        "steering_content": "Nội dung chỉ đạo\n" * (HUGE // 17),
        "sign_number": "1907/UBND-KSTT-" * (HUGE // 15),
        "lead_unit_name": "Sở " * (HUGE // 3),
    }
    seen: set[AlertType] = set()
    for plain, as_of in tasks_days:
        task = replace(plain, **huge)
        for intent in intents_for(task, as_of, AlertSettings(lang=lang), first_seen_on=as_of):
            seen.add(intent.type)
            assert len(intent.title) <= MAX_TITLE_CHARS
            assert len(intent.content) <= MAX_CONTENT_CHARS
            assert intent.title.endswith(ELLIPSIS) and ELLIPSIS in intent.content
            body = json.dumps(intent.payload(), ensure_ascii=False).encode()
            assert len(body) < 4 * (MAX_TITLE_CHARS + MAX_CONTENT_CHARS) + 1000
    assert len(seen) == 5


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_alert_text_carries_no_control_character_whatever_the_record_holds(lang: str) -> None:
    """A subject, steering content, sign number or unit name with an escape sequence, a bell,
    DEL, an 8-bit CSI or a right-to-left override (as a clerk's paste sends them): no alert's
    title or content carries one (they go to the source's notifications, e-mail and webhook
    bodies as they are); the words around them stay, line breaks only those of the template."""
    hostile = "A\x1b[31mRED\x1b[0m \x1b]0;x\x07B\x7f\x9b2J \u202eC\u202c\u2066D\u2069\u200fE"
    tasks_days = [
        (make_task(deadline=d("2022-03-24")), d("2022-03-22")),
        (make_task(deadline=d("2022-03-07")), d("2022-03-22")),
        (
            make_task(deadline=None, assigned_at=datetime(2021, 12, 20, 2, tzinfo=UTC)),
            d("2022-03-22"),
        ),
    ]
    fields = ("subject", "steering_content", "sign_number", "lead_unit_name")
    seen: set[AlertType] = set()
    for plain, as_of in tasks_days:
        task = replace(plain, **{f: f"{f} {hostile}" for f in fields})
        for intent in intents_for(task, as_of, AlertSettings(lang=lang), first_seen_on=as_of):
            seen.add(intent.type)
            text = intent.title + "\n" + intent.content
            found = re.findall(
                "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]", text
            )
            assert not found, (intent.type, found)
            assert "A[31mRED[0m ]0;xB2J CDE" in text
    assert len(seen) == 5


def test_ordinary_alert_text_is_not_cut() -> None:
    """Values within the bounds (steering content up to the contract's 1,023) are kept whole."""
    steering = "Khẩn trương triển khai. " * 42  # 1,008 characters
    task = make_task(steering_content=steering.strip())
    [intent] = only(intents_for(task, d("2022-03-14")), AlertType.QUA_HAN)
    assert steering.strip() in intent.content
    assert ELLIPSIS not in intent.title + intent.content
    assert bounded("abcdef", 4) == "abc…" and bounded("abc", 3) == "abc"


@pytest.mark.parametrize(
    ("overrides", "as_of", "lang", "note"),
    [
        pytest.param({}, "2022-03-12", "vi", "Quá hạn 5 ngày", id="overdue-vi"),
        pytest.param({}, "2022-03-12", "en", "Overdue by 5 day(s)", id="overdue-en"),
        pytest.param(
            {}, "2022-03-04", "vi", "Đang thực hiện trong hạn (hạn ngày 07/03/2022)", id="within"
        ),
        pytest.param(
            {"deadline": None}, "2022-03-04", "vi", "Đang thực hiện, không có thời hạn", id="none"
        ),
    ],
)
def test_tracking_note(overrides: dict[str, Any], as_of: str, lang: str, note: str) -> None:
    """The note sent with a tracking status comes from the templates."""
    cls = classify(make_task(**overrides), d(as_of), CAL)
    assert tracking_note(cls, "en" if lang == "en" else "vi") == note


# -- each occasion once, on its working day ------------------------------------------------------


@pytest.mark.parametrize(
    "deadline",
    [
        pytest.param("2022-03-18", id="friday"),
        pytest.param("2022-04-08", id="before-hung-kings"),
        pytest.param("2022-04-29", id="before-30-april"),
        pytest.param("2022-08-31", id="before-national-day"),
    ],
)
def test_day_by_day_each_occasion_latest_exactly_once_on_a_working_day(deadline: str) -> None:
    """Walking day by day, each due-soon/overdue occasion is produced once, on a working day."""
    task = make_task(deadline=d(deadline), assigned_at=datetime(2022, 2, 1, 2, tzinfo=UTC))
    settings = AlertSettings(types=("SAP_DEN_HAN", "QUA_HAN"))
    existing: set[str] = set()
    sent: dict[str, date] = {}
    day = d("2022-02-01")
    while day <= d(deadline) + timedelta(days=60):
        for intent in intents_for(task, day, settings, existing=existing):
            assert intent.is_latest, "a daily run never leaves an occasion behind"
            assert intent.key not in sent
            sent[intent.key] = day
            existing.add(intent.key)
        day += timedelta(days=1)
    eff = CAL.next_working_day_on_or_after(d(deadline))
    assert all(CAL.is_working_day(on) for on in sent.values())
    overdue = sorted((k, on) for k, on in sent.items() if ":QUA_HAN:" in k)
    expected_k = len(overdue)
    for k in range(1, expected_k + 1):
        nominal = eff + timedelta(days=1 + 7 * (k - 1))
        key = alert_key(101, AlertType.QUA_HAN, f"{eff.isoformat()}#{k}")
        assert sent[key] == CAL.next_working_day_on_or_after(nominal)
    assert expected_k >= 8
    [soon] = [on for k, on in sent.items() if ":SAP_DEN_HAN:" in k]
    assert CAL.working_days_between(soon, eff) == 3  # after that day, up to eff_due


def test_due_occasions_latest_only_one_per_type() -> None:
    """At most one occasion per type is the latest."""
    task = make_task(deadline=d("2021-12-01"))
    occasions = due_occasions(
        task,
        classify(task, d("2022-03-22"), CAL),
        d("2022-03-22"),
        CAL,
        AlertSettings(),
        context=AlertContext(units=UNITS),
    )
    latest = [o.type for o in occasions if o.is_latest]
    assert len(latest) == len(set(latest))
