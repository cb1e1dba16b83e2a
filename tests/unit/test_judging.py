"""Judging a task against the right deadline (issue 12): the deadline in force on a completion
date, extensions granted after the deadline had passed, working days left in alert texts, and
product versus routine tasks (connector.rules.deadlines, .judge, .kinds, .alerts)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import partial

import pytest

from connector.clock import LOCAL_TZ
from connector.models import (
    AlertType,
    DeadlineChange,
    KindOverride,
    NormalisedTask,
    StatusCode,
    TaskFacts,
    TaskKind,
    TaskState,
)
from connector.rules.alerts import AlertContext, alert_intents
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import DEFAULT_POLICY, LateExtension, classify, late_extensions
from connector.rules.judge import judge
from connector.rules.kinds import KindSource, parse_kind_choice, read_kind, task_kind
from connector.settings import AlertSettings
from simulator.units import UNITS_BY_CODE
from tests.support import factories

CAL: WorkingCalendar = load_calendar()
S = StatusCode


def d(text: str) -> date:
    return date.fromisoformat(text)


def local(day: str, hour: int = 10) -> datetime:
    """An aware instant at `hour` local time on `day`."""
    return datetime.combine(d(day), time(hour), tzinfo=LOCAL_TZ).astimezone(UTC)


make_task = partial(
    factories.make_task,
    source_id=501,
    last_modified=datetime(2022, 3, 1, 2, tzinfo=UTC),
    sign_number="12/UBND-TH",
    lead_unit_code="STC",
    lead_unit_name="Sở Tài chính",
    doc_date=date(2022, 3, 1),
    assigned_at=datetime(2022, 3, 1, 2, tzinfo=UTC),
)


def extended(old: str, new: str | None, on: str) -> tuple[DeadlineChange, ...]:
    return (DeadlineChange(d(old), d(new) if new else None, local(on), "Đơn vị đề nghị gia hạn"),)


# -- the deadline in force on the completion date ------------------------------------------------


def issue_example() -> NormalisedTask:
    """Completed 05/04/2022; deadline 31/03, changed 31/03 -> 30/04 on 10/04 (after completion)."""
    return make_task(
        state=TaskState.DONE,
        completed_at=local("2022-04-05", 15),
        deadline=d("2022-04-30"),
        deadline_changes=extended("2022-03-31", "2022-04-30", "2022-04-10"),
    )


@pytest.mark.parametrize("as_of", ["2022-04-08", "2022-04-10", "2022-05-31"])
def test_extension_after_completion_never_turns_a_late_completion_on_time(as_of: str) -> None:
    """The issue's example: late as of 08/04 and still late as of 31/05 (it used to turn
    HT_DUNG_HAN once the extension of 10/04 was in force), judged on the completion date."""
    c = classify(issue_example(), d(as_of), CAL)
    assert c.status is S.HT_QUA_HAN
    assert (c.deadline, c.eff_due, c.judged_on) == (
        d("2022-03-31"),
        d("2022-03-31"),
        d("2022-04-05"),
    )
    assert c.days_overdue == 5
    assert not c.extended  # the change was not in force on the completion date
    assert not c.extended_after_overdue


def test_extension_before_completion_counts() -> None:
    """An extension granted before completion is the deadline in force on completion: on time."""
    task = make_task(
        state=TaskState.DONE,
        completed_at=local("2022-04-05", 15),
        deadline=d("2022-04-30"),
        deadline_changes=extended("2022-04-15", "2022-04-30", "2022-04-01"),
    )
    c = classify(task, d("2022-05-31"), CAL)
    assert (c.status, c.deadline, c.extended, c.extended_after_overdue) == (
        S.HT_DUNG_HAN,
        d("2022-04-30"),
        True,
        False,
    )


# -- extensions granted after the deadline had passed --------------------------------------------


def late_extended() -> NormalisedTask:
    """Open; deadline Thursday 31/03, extended to 30/04 on Tuesday 05/04 (5 days overdue)."""
    return make_task(
        deadline=d("2022-04-30"),
        deadline_changes=extended("2022-03-31", "2022-04-30", "2022-04-05"),
    )


def test_overdue_spell_before_a_late_extension() -> None:
    """As of 04/04 the task is overdue by 4 days, not yet flagged."""
    c = classify(late_extended(), d("2022-04-04"), CAL)
    assert (c.status, c.days_overdue, c.extended_after_overdue) == (S.DTH_QUA_HAN, 4, False)


def test_late_extension_keeps_the_status_and_flags_it() -> None:
    """As of 06/04 the task is within its new deadline, flagged "gia hạn sau khi đã quá hạn",
    and the judgement names the deadline that had passed and the days overdue then."""
    task = late_extended()
    c = classify(task, d("2022-04-06"), CAL)
    assert (c.status, c.deadline, c.extended, c.extended_after_overdue) == (
        S.DTH_TRONG_HAN,
        d("2022-04-30"),
        True,
        True,
    )
    j = judge(task, c, CAL, DEFAULT_POLICY)
    assert j.late_extensions == (
        LateExtension(d("2022-03-31"), d("2022-04-30"), d("2022-03-31"), d("2022-04-05"), 5),
    )


@pytest.mark.parametrize(
    ("old", "changed_on", "flagged"),
    [
        pytest.param("2022-03-31", "2022-03-31", False, id="on-the-due-day"),
        pytest.param("2022-03-31", "2022-03-30", False, id="before-the-deadline"),
        pytest.param("2022-04-01", "2022-04-01", False, id="on-the-due-day-friday"),
        pytest.param("2022-04-02", "2022-04-04", False, id="saturday-deadline-moved-to-monday"),
        pytest.param("2022-04-02", "2022-04-05", True, id="day-after-the-moved-deadline"),
        pytest.param("2022-03-31", "2022-04-01", True, id="the-day-after"),
    ],
)
def test_late_extension_is_after_the_effective_deadline(
    old: str, changed_on: str, flagged: bool
) -> None:
    """A change counts as late only when made after the old deadline's eff_due (a Saturday
    deadline runs to Monday: extending it on Monday is in time)."""
    task = make_task(
        deadline=d("2022-04-30"), deadline_changes=extended(old, "2022-04-30", changed_on)
    )
    c = classify(task, d("2022-04-20"), CAL)
    assert c.extended_after_overdue is flagged
    assert bool(late_extensions(task, d("2022-04-20"), CAL)) is flagged


def test_shortening_a_passed_deadline_is_no_extension() -> None:
    """A change to an earlier date after the deadline passed is not flagged."""
    task = make_task(
        deadline=d("2022-03-25"),
        deadline_changes=extended("2022-03-31", "2022-03-25", "2022-04-05"),
    )
    assert not classify(task, d("2022-04-06"), CAL).extended_after_overdue


def test_completion_after_a_late_extension_is_on_time_and_flagged() -> None:
    """Extended after overdue, then completed within the new deadline: HT_DUNG_HAN, flagged."""
    task = make_task(
        state=TaskState.DONE,
        completed_at=local("2022-04-20", 15),
        deadline=d("2022-04-30"),
        deadline_changes=extended("2022-03-31", "2022-04-30", "2022-04-05"),
    )
    c = classify(task, d("2022-05-31"), CAL)
    assert (c.status, c.extended_after_overdue) == (S.HT_DUNG_HAN, True)


# -- working days left in the due-soon alert -----------------------------------------------------


def due_soon_text(deadline: str, as_of: str) -> str:
    task = make_task(deadline=d(deadline), confirmed=True, subject="Báo cáo kết quả")
    cls = classify(task, d(as_of), CAL)
    ctx = AlertContext(units=UNITS_BY_CODE, first_seen_on=d(as_of))
    intents = alert_intents(
        task, cls, d(as_of), CAL, AlertSettings(), existing_keys=set(), context=ctx
    )
    [intent] = [i for i in intents if i.type is AlertType.SAP_DEN_HAN and i.is_latest]
    return intent.content


@pytest.mark.parametrize(
    ("deadline", "as_of", "words"),
    [
        pytest.param("2022-03-17", "2022-03-14", "còn 3 ngày làm việc", id="monday-for-thursday"),
        pytest.param("2022-03-17", "2022-03-16", "còn 1 ngày làm việc", id="due-tomorrow"),
        pytest.param("2022-03-17", "2022-03-17", "đến hạn hôm nay", id="due-today"),
    ],
)
def test_due_soon_alert_says_the_working_days_after_today(
    deadline: str, as_of: str, words: str
) -> None:
    """SAP_DEN_HAN counts the working days after today up to the due day; on the day itself
    it says "đến hạn hôm nay"."""
    assert f"; {words}." in due_soon_text(deadline, as_of)


# -- product and routine tasks -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind", "words"),
    [
        pytest.param(
            "Giao Sở Tài chính chủ trì, tham mưu UBND tỉnh phương án xử lý.",
            TaskKind.PRODUCT,
            ("tham mưu",),
            id="tham-muu",
        ),
        pytest.param(
            "Sở Kế hoạch và Đầu tư xây dựng kế hoạch triển khai, trình UBND tỉnh.",
            TaskKind.PRODUCT,
            ("xây dựng kế hoạch", "trình UBND"),
            id="xay-dung-ke-hoach-trinh",
        ),
        pytest.param(
            "Báo cáo kết quả thực hiện về UBND tỉnh.", TaskKind.PRODUCT, ("Báo cáo",), id="bao-cao"
        ),
        pytest.param(
            "Theo dõi, đôn đốc các địa phương thực hiện; báo cáo kết quả về UBND tỉnh.",
            TaskKind.ROUTINE,
            ("Theo dõi", "đôn đốc"),
            id="routine-that-reports",
        ),
        pytest.param(
            "Thường xuyên kiểm tra, đề xuất biện pháp xử lý.",
            TaskKind.ROUTINE,
            ("Thường xuyên",),
            id="ongoing-wins",
        ),
        pytest.param(
            "Quán triệt và tổ chức thực hiện Chương trình hành động.",
            TaskKind.ROUTINE,
            ("Quán triệt", "tổ chức thực hiện"),
            id="chuong-trinh-is-no-submission",
        ),
        pytest.param(
            "Theo đề xuất của Sở Tài chính tại Báo cáo số 12/BC-STC, giao các đơn vị phối hợp "
            "thực hiện.",
            TaskKind.ROUTINE,
            ("phối hợp thực hiện",),
            id="cited-words-do-not-count",
        ),
        pytest.param(
            "tham muu UBND tinh ke hoach", TaskKind.PRODUCT, ("tham muu",), id="no-diacritics"
        ),
    ],
)
def test_kind_is_read_from_the_steering_content(
    content: str, kind: TaskKind, words: tuple[str, ...]
) -> None:
    """The kind and the words it was read from, as written in the text."""
    reading = read_kind(make_task(steering_content=content, subject=""))
    assert (reading.kind, reading.source, reading.words) == (
        kind,
        KindSource.STEERING_CONTENT,
        words,
    )


def test_kind_falls_back_on_subject_category_steering_type_then_product() -> None:
    """No words in the content: the subject; none there: category "Chỉ thị" / steeringType 0
    read as routine; otherwise a product task (its missing deadline is still flagged)."""
    by_subject = read_kind(make_task(steering_content="", subject="Về việc dự thảo Quy chế"))
    assert (by_subject.kind, by_subject.source, by_subject.words) == (
        TaskKind.PRODUCT,
        KindSource.SUBJECT,
        ("dự thảo",),
    )
    plain = {"steering_content": "Sở Tài chính thực hiện.", "subject": "Về việc nhiệm vụ"}
    directive = read_kind(make_task(category="Chỉ thị", **plain))
    assert (directive.kind, directive.words) == (TaskKind.ROUTINE, ("Chỉ thị",))
    unnamed = read_kind(make_task(steering_type=0, **plain))
    assert (unnamed.kind, unnamed.source) == (TaskKind.ROUTINE, KindSource.STEERING_TYPE)
    default = read_kind(make_task(steering_type=2, **plain))
    assert (default.kind, default.source, default.words) == (
        TaskKind.PRODUCT,
        KindSource.DEFAULT,
        (),
    )


def test_override_wins_and_keeps_what_the_words_say() -> None:
    """An administrator's override is the kind; the reading keeps the automatic kind and words."""
    task = make_task(steering_content="Tham mưu UBND tỉnh.", subject="")
    reading = task_kind(task, KindOverride(TaskKind.ROUTINE, "Nguyễn Văn A"))
    assert (reading.kind, reading.source, reading.automatic, reading.words) == (
        TaskKind.ROUTINE,
        KindSource.OVERRIDE,
        TaskKind.PRODUCT,
        ("Tham mưu",),
    )
    facts = TaskFacts(kind_override=KindOverride(TaskKind.ROUTINE, "Nguyễn Văn A"))
    cls = classify(task, d("2022-03-07"), CAL)
    assert judge(task, cls, CAL, DEFAULT_POLICY, facts).kind.kind is TaskKind.ROUTINE


def test_kind_choices() -> None:
    """`tasks kind` takes product, routine, auto (None: read from the words), nothing else."""
    assert parse_kind_choice("product") is TaskKind.PRODUCT
    assert parse_kind_choice(" Routine ") is TaskKind.ROUTINE
    assert parse_kind_choice("auto") is None
    with pytest.raises(ValueError, match="valid: product, routine, auto"):
        parse_kind_choice("san-pham")


def no_deadline_alerts(kind: TaskKind, as_of: str) -> set[AlertType]:
    """Alert types latest-to-send for an open task without deadline assigned on 01/03/2022."""
    task = make_task(deadline=None, confirmed=True)
    cls = classify(task, d(as_of), CAL)
    ctx = AlertContext(units=UNITS_BY_CODE, first_seen_on=d("2022-03-01"), kind=kind)
    intents = alert_intents(
        task, cls, d(as_of), CAL, AlertSettings(), existing_keys=set(), context=ctx
    )
    return {i.type for i in intents if i.is_latest}


def test_missing_deadline_alert_is_for_product_tasks_only() -> None:
    """THIEU_THOI_HAN goes to a product task without deadline, never to a routine duty."""
    assert AlertType.THIEU_THOI_HAN in no_deadline_alerts(TaskKind.PRODUCT, "2022-03-02")
    assert AlertType.THIEU_THOI_HAN not in no_deadline_alerts(TaskKind.ROUTINE, "2022-03-02")


def test_routine_task_without_deadline_is_urged_every_three_months() -> None:
    """A routine duty without deadline gets the three-monthly DON_DOC_KHONG_HAN only."""
    assert no_deadline_alerts(TaskKind.ROUTINE, "2022-06-02") == {AlertType.DON_DOC_KHONG_HAN}


def test_missing_deadline_alert_names_the_product_words() -> None:
    """THIEU_THOI_HAN says which words make the task a product task."""
    task = make_task(deadline=None, steering_content="Tham mưu UBND tỉnh phương án xử lý.")
    cls = classify(task, d("2022-03-02"), CAL)
    reading = read_kind(task)
    ctx = AlertContext(
        units=UNITS_BY_CODE,
        first_seen_on=d("2022-03-01"),
        kind=reading.kind,
        kind_words=reading.words,
    )
    intents = alert_intents(
        task, cls, d("2022-03-02"), CAL, AlertSettings(), existing_keys=set(), context=ctx
    )
    [intent] = [i for i in intents if i.type is AlertType.THIEU_THOI_HAN]
    assert "Nội dung giao yêu cầu sản phẩm cụ thể (“Tham mưu”)." in intent.content
