"""When an unchanged task's verdict can change by the date alone (`connector.rules.recheck`):
the verdict as of every day before the recheck date is the verdict as of the as-of date."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.clock import LOCAL_TZ
from connector.ledger.columns import classification_values
from connector.models import (
    DeadlineChange,
    NormalisedTask,
    TaskFacts,
    TaskState,
)
from connector.outbox.keys import tracking_payload
from connector.rules.alerts import AlertContext, alert_key, due_occasions
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import DeadlinePolicy, classify
from connector.rules.judge import Judgement, judge
from connector.rules.recheck import MAX_RECHECK_DAYS, recheck_after
from connector.settings import AlertSettings
from simulator.units import UNITS_BY_CODE
from tests.support.factories import make_task

CAL: WorkingCalendar = load_calendar()
POLICY = DeadlinePolicy()
ALERTS = AlertSettings()

TEXTS = (
    "Triển khai kế hoạch chuyển đổi số",
    "Xây dựng đề án phát triển du lịch, hoàn thành trước ngày 15/3/2022",
    "Báo cáo định kỳ hằng tháng trước ngày 20.",
    "Thường xuyên theo dõi, đôn đốc việc thực hiện",
    "Báo cáo kết quả trong quý II/2022",
    "",
)


def at(day: date, hour: int = 9) -> datetime:
    """A local instant on `day`."""
    return datetime.combine(day, time(hour), tzinfo=LOCAL_TZ)


DAYS = st.dates(date(2021, 10, 1), date(2023, 3, 31))
INSTANTS = st.builds(at, DAYS, st.integers(0, 23))


def rarely(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """None three times in four (a task with few dates has the latest recheck dates)."""
    return st.one_of(st.none(), st.none(), st.none(), values)


CHANGES = st.lists(
    st.builds(
        DeadlineChange,
        old_deadline=st.one_of(st.none(), DAYS),
        new_deadline=st.one_of(st.none(), DAYS),
        changed_at=st.one_of(st.none(), INSTANTS),
    ),
    max_size=2,
).map(lambda found: tuple(sorted(found, key=lambda c: c.changed_at or at(date(2021, 1, 1)))))

TASKS = st.builds(
    make_task,
    st.just(7),
    state=st.sampled_from([TaskState.OPEN, TaskState.OPEN, TaskState.DONE, TaskState.CANCELLED]),
    deleted=st.sampled_from([False, False, False, True]),
    assigned_at=st.one_of(st.none(), INSTANTS),
    doc_date=st.one_of(st.none(), DAYS),
    deadline=st.one_of(st.none(), DAYS),
    deadline_changes=st.one_of(st.just(()), st.just(()), CHANGES),
    completed_at=rarely(INSTANTS),
    last_modified=INSTANTS,
    confirmed=st.booleans(),
    confirmed_at=rarely(INSTANTS),
    last_report_at=rarely(INSTANTS),
    subject=st.sampled_from(TEXTS),
    steering_content=st.sampled_from(TEXTS),
)
FACTS = st.builds(
    TaskFacts, report_dates=st.lists(DAYS, max_size=2).map(lambda d: tuple(sorted(set(d))))
)
ALERT_SETTINGS = st.builds(
    AlertSettings,
    enabled=st.sampled_from([True, True, True, False]),
    due_soon_working_days=st.integers(0, 5),
    overdue_repeat_days=st.integers(1, 10),
    no_deadline_urge_months=st.integers(1, 4),
    report_cutoff_day=st.integers(1, 28),
    confirm_days_before=st.integers(0, 5),
    new_assignment_window_days=st.integers(0, 10),
    hold_on_non_working_days=st.booleans(),
)
POLICIES = st.builds(
    DeadlinePolicy,
    roll_forward_to_working_day=st.booleans(),
    due_soon_working_days=st.integers(0, 5),
    overdue_long_days=st.integers(0, 40),
    no_deadline_stale_months=st.integers(0, 4),
)


def judged(task: NormalisedTask, facts: TaskFacts, day: date, policy: DeadlinePolicy) -> Judgement:
    return judge(task, classify(task, day, CAL, policy), CAL, policy, facts)


def verdict(
    task: NormalisedTask,
    facts: TaskFacts,
    day: date,
    *,
    policy: DeadlinePolicy,
    alerts: AlertSettings,
    first_seen_on: date | None,
) -> tuple[Any, ...]:
    """Everything the classification step stores and plans of `task` as of `day`: the stored
    columns, the reading, the occurrences, the late extensions, the tracking payload, the alert
    occasions due (key, latest) and whether they are planned on that day (not on a day off
    with ``hold_on_non_working_days``)."""
    j = judged(task, facts, day, policy)
    cls = j.classification
    suggestion = j.suggestion
    context = AlertContext(
        units=UNITS_BY_CODE,
        first_seen_on=first_seen_on,
        suggested_deadline=suggestion.deadline if suggestion is not None else None,
        suggested_phrase=suggestion.phrase if suggestion is not None else "",
        kind=j.kind.kind,
        kind_words=j.kind.words,
        recurring=j.recurring,
    )
    occasions = due_occasions(task, cls, day, CAL, alerts, context=context)
    keys = sorted((alert_key(task.source_id, o.type, o.occasion), o.is_latest) for o in occasions)
    held = alerts.hold_on_non_working_days and not CAL.is_working_day(day)
    return (
        classification_values(cls, suggestion, j.kind),
        cls.status,
        cls.eff_due,
        cls.not_yet_assigned,
        suggestion,
        j.kind,
        j.recurring,
        j.late_extensions,
        tracking_payload(task.source_id, cls),
        keys,
        not held,
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    task=TASKS,
    facts=FACTS,
    as_of=st.dates(date(2022, 1, 1), date(2023, 1, 31)),
    policy=POLICIES,
    alerts=ALERT_SETTINGS,
    first_seen_on=rarely(DAYS) | DAYS,
    planned=st.booleans(),
)
def test_the_verdict_holds_every_day_before_the_recheck_date(
    task: NormalisedTask,
    facts: TaskFacts,
    as_of: date,
    policy: DeadlinePolicy,
    alerts: AlertSettings,
    first_seen_on: date | None,
    planned: bool,
) -> None:
    """Random tasks, facts, settings and dates: every day in [as_of, recheck) judges the task
    as as_of does (classification columns, reading, occurrences, tracking, alert occasions);
    the recheck date is after as_of and at most MAX_RECHECK_DAYS later."""
    judgement = judged(task, facts, as_of, policy)
    recheck = recheck_after(
        judgement,
        calendar=CAL,
        policy=policy,
        alerts=alerts if planned else None,
        first_seen_on=first_seen_on,
    )
    assert as_of < recheck <= as_of + timedelta(days=MAX_RECHECK_DAYS)
    kept = alerts if planned else AlertSettings(enabled=False)
    seen = {"policy": policy, "alerts": kept, "first_seen_on": first_seen_on}
    *expected, planned_then = verdict(task, facts, as_of, **seen)
    day = as_of + timedelta(days=1)
    while day < recheck:
        *found, planned_now = verdict(task, facts, day, **seen)
        assert found == expected, day
        # Occasions held on the as-of date are planned on the next working day: a recheck
        # date by then. Once planned, a day off plans nothing new (the keys are the same).
        assert planned_then or not planned_now or not expected[-1], day
        day += timedelta(days=1)


AS_OF = date(2022, 3, 18)  # a Friday
SEEN = date(2022, 1, 3)


def recheck_of(task: NormalisedTask, as_of: date = AS_OF, **alerts: Any) -> date:
    return recheck_after(
        judged(task, TaskFacts(), as_of, POLICY),
        calendar=CAL,
        policy=POLICY,
        alerts=AlertSettings(**alerts),
        first_seen_on=SEEN,
    )


@pytest.mark.parametrize(
    ("the_task", "as_of", "recheck"),
    [
        pytest.param(
            make_task(state=TaskState.DONE, completed_at=at(date(2022, 1, 7))),
            AS_OF,
            AS_OF + timedelta(days=MAX_RECHECK_DAYS),
            id="completed-confirmed-bounded",
        ),
        pytest.param(
            make_task(state=TaskState.CANCELLED),
            AS_OF,
            AS_OF + timedelta(days=MAX_RECHECK_DAYS),
            id="withdrawn",
        ),
        pytest.param(
            make_task(deadline=date(2022, 3, 31)),
            AS_OF,
            date(2022, 3, 21),
            id="within-deadline-next-working-day",
        ),
        pytest.param(make_task(), AS_OF, AS_OF + timedelta(days=1), id="overdue-next-day"),
        pytest.param(
            make_task(deadline=None), AS_OF, date(2022, 4, 4), id="no-deadline-next-reminder"
        ),
        pytest.param(
            make_task(deadline=None, confirmed=False),
            AS_OF,
            date(2022, 3, 22),
            id="unconfirmed-confirmation-window",
        ),
        pytest.param(
            make_task(
                state=TaskState.DONE,
                completed_at=at(date(2022, 3, 30)),
                deadline=date(2022, 4, 30),
            ),
            AS_OF,
            date(2022, 3, 21),
            id="completion-ahead-and-working-days",
        ),
        pytest.param(
            make_task(
                deadline=None,
                subject="",
                steering_content="",
                assigned_at=None,
                doc_date=None,
                last_modified=at(date(2021, 12, 1)),
            ),
            date(2021, 12, 20),
            date(2022, 1, 4),  # first seen on 03/01, the New Year's day off moved: held
            id="missing-deadline-alert-when-first-seen",
        ),
        pytest.param(
            make_task(deadline=None, confirmed=False, assigned_at=None, doc_date=None),
            AS_OF + timedelta(days=10),
            date(2022, 4, 1),
            id="after-the-cut-off-next-month",
        ),
    ],
)
def test_recheck_dates(the_task: NormalisedTask, as_of: date, recheck: date) -> None:
    """Completed and withdrawn tasks: a quarter ahead; within deadline on a Friday: Monday;
    overdue: tomorrow; no deadline: the next reminder (03/04 is a Sunday: held to Monday);
    not confirmed: the confirmation request of the month (three working days before 25/03), and
    after the cut-off the first of the next month; a product task without deadline first seen
    later: the day its missing-deadline alert is due."""
    assert recheck_of(the_task, as_of) == recheck


@pytest.mark.parametrize(
    ("completed", "as_of", "recheck"),
    [
        # Cut-off on the 2nd: March's request window opens on Friday 25 February.
        pytest.param(
            date(2022, 2, 5), date(2022, 2, 10), date(2022, 2, 25), id="opens-in-february"
        ),
        pytest.param(
            date(2022, 2, 5), date(2022, 3, 1), date(2022, 3, 3), id="closes-after-2-march"
        ),
    ],
)
def test_recheck_on_a_confirmation_window_opening_the_month_before(
    completed: date, as_of: date, recheck: date
) -> None:
    """A completed task not confirmed, cut-off on the 2nd: looked at again the day March's
    request window opens in February, then the day after it closes."""
    the_task = make_task(
        state=TaskState.DONE,
        assigned_at=at(date(2022, 1, 3)),
        deadline=date(2022, 2, 21),
        completed_at=at(completed),
        confirmed=False,
    )
    assert recheck_of(the_task, as_of, report_cutoff_day=2) == recheck


def test_a_naive_instant_is_looked_at_tomorrow() -> None:
    """A date the rules cannot place makes the next day the recheck date."""
    the_task = make_task(
        state=TaskState.DONE,
        completed_at=at(date(2022, 1, 7)),
        last_report_at=datetime(2022, 5, 1, 9, tzinfo=UTC).replace(tzinfo=None),
    )
    assert recheck_of(the_task) == AS_OF + timedelta(days=1)
