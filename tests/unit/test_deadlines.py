"""Deadline status: the domain brief's taxonomy, local dates, Art. 148 roll-forward, as-of view."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.clock import LOCAL_TZ
from connector.errors import BadRecord
from connector.models import DeadlineChange, NormalisedTask, StatusCode, TaskState
from connector.rules.calendar import load_calendar
from connector.rules.deadlines import (
    STATUS_ORDER,
    Classification,
    DeadlinePolicy,
    add_months,
    classify,
    deadline_in_force,
    effective_due,
    is_worse,
    status_rank,
)

CAL = load_calendar()
POLICY = DeadlinePolicy()
S = StatusCode


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=UTC)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL_TZ)


def task(**fields: Any) -> NormalisedTask:
    base: dict[str, Any] = {
        "source_id": 7,
        "last_modified": utc(2022, 3, 1, 2, 0),
        "state": TaskState.OPEN,
        "assigned_at": utc(2022, 3, 1, 2, 0),
    }
    base.update(fields)
    return NormalisedTask(**base)


def done(completed_at: datetime | None, deadline: date | None, **fields: Any) -> NormalisedTask:
    return task(state=TaskState.DONE, completed_at=completed_at, deadline=deadline, **fields)


CASES = [
    pytest.param(
        task(state=TaskState.CANCELLED, deadline=date(2022, 3, 1)),
        date(2022, 6, 1),
        S.DA_HUY,
        id="cancelled-first-even-if-overdue",
    ),
    pytest.param(task(deleted=True), date(2022, 6, 1), S.DA_HUY, id="deleted-at-source"),
    pytest.param(
        done(utc(2022, 4, 14, 3), date(2022, 4, 15)),
        date(2022, 6, 1),
        S.HT_DUNG_HAN,
        id="done-before-deadline",
    ),
    pytest.param(
        done(utc(2022, 4, 15, 16, 59, 59), date(2022, 4, 15)),
        date(2022, 6, 1),
        S.HT_DUNG_HAN,
        id="done-local-23-59-59-on-deadline",
    ),
    pytest.param(
        done(utc(2022, 3, 31, 17, 30), date(2022, 3, 31)),
        date(2022, 6, 1),
        S.HT_QUA_HAN,
        id="done-utc-31-march-is-local-1-april-late",
    ),
    pytest.param(
        done(utc(2022, 3, 31, 16, 30), date(2022, 3, 31)),
        date(2022, 6, 1),
        S.HT_DUNG_HAN,
        id="done-local-23-30-on-deadline",
    ),
    pytest.param(
        done(local(2022, 4, 18, 9), date(2022, 4, 16)),
        date(2022, 6, 1),
        S.HT_DUNG_HAN,
        id="deadline-saturday-done-monday",
    ),
    pytest.param(
        done(local(2022, 4, 19, 9), date(2022, 4, 16)),
        date(2022, 6, 1),
        S.HT_QUA_HAN,
        id="deadline-saturday-done-tuesday",
    ),
    pytest.param(
        done(local(2022, 1, 29, 9), date(2022, 1, 28)),
        date(2022, 6, 1),
        S.HT_QUA_HAN,
        id="deadline-last-working-day-before-tet-done-saturday",
    ),
    pytest.param(
        done(local(2022, 2, 7, 16), date(2022, 1, 31)),
        date(2022, 6, 1),
        S.HT_DUNG_HAN,
        id="deadline-tet-eve-done-first-day-back",
    ),
    pytest.param(
        done(local(2022, 2, 8, 8), date(2022, 1, 31)),
        date(2022, 6, 1),
        S.HT_QUA_HAN,
        id="deadline-tet-eve-done-second-day-back",
    ),
    pytest.param(
        done(utc(2022, 4, 1), None), date(2022, 6, 1), S.HT_KHONG_HAN, id="done-no-deadline"
    ),
    pytest.param(
        task(deadline=date(2022, 4, 15)), date(2022, 4, 15), S.DTH_TRONG_HAN, id="open-on-deadline"
    ),
    pytest.param(
        task(deadline=date(2022, 4, 15)), date(2022, 4, 16), S.DTH_QUA_HAN, id="open-day-after"
    ),
    pytest.param(
        task(deadline=date(2022, 1, 31)),
        date(2022, 2, 7),
        S.DTH_TRONG_HAN,
        id="open-tet-deadline-rolled-to-7-feb",
    ),
    pytest.param(
        task(deadline=date(2022, 1, 31)),
        date(2022, 2, 8),
        S.DTH_QUA_HAN,
        id="open-tet-deadline-overdue-8-feb",
    ),
    pytest.param(
        task(deadline=date(2025, 12, 31)),
        date(2026, 1, 2),
        S.DTH_QUA_HAN,
        id="open-deadline-31-dec-2025-overdue-on-override-day-off",
    ),
    pytest.param(
        task(deadline=date(2026, 1, 2)),
        date(2026, 1, 5),
        S.DTH_TRONG_HAN,
        id="open-deadline-on-override-day-off-rolls-to-monday",
    ),
    pytest.param(task(), date(2022, 6, 1), S.KHONG_THOI_HAN, id="open-no-deadline"),
    pytest.param(
        done(utc(2022, 4, 20, 3), date(2022, 4, 15)),
        date(2022, 4, 10),
        S.DTH_TRONG_HAN,
        id="done-later-is-open-as-of-earlier",
    ),
    pytest.param(
        done(utc(2022, 4, 20, 3), date(2022, 4, 15)),
        date(2022, 4, 19),
        S.DTH_QUA_HAN,
        id="done-later-is-overdue-as-of-day-before",
    ),
    pytest.param(
        done(utc(2022, 4, 20, 3), date(2022, 4, 15)),
        date(2022, 4, 20),
        S.HT_QUA_HAN,
        id="done-late-as-of-completion-day",
    ),
]


@pytest.mark.parametrize(("the_task", "as_of", "status"), CASES)
def test_status(the_task: NormalisedTask, as_of: date, status: StatusCode) -> None:
    """Each case gets the status of the domain brief's table, evaluated in its order."""
    assert classify(the_task, as_of, CAL, POLICY).status is status


def test_completion_just_after_local_midnight() -> None:
    """17:30 UTC on 31 March is 00:30 on 1 April in Hà Nội: one day late, completed 1 April."""
    c = classify(done(utc(2022, 3, 31, 17, 30), date(2022, 3, 31)), date(2022, 6, 1), CAL)
    assert c.completed_on == date(2022, 4, 1)
    assert c.eff_due == date(2022, 3, 31)
    assert (c.days_overdue, c.working_days_overdue) == (1, 1)
    assert not c.completion_estimated


def test_open_overdue_counts_and_long_flag() -> None:
    """Days overdue run from eff_due; more than 30 calendar days sets the long-overdue flag."""
    t = task(deadline=date(2022, 3, 1))
    at_30 = classify(t, date(2022, 3, 31), CAL)
    at_31 = classify(t, date(2022, 4, 1), CAL)
    assert (at_30.days_overdue, at_30.overdue_over_30) == (30, False)
    assert (at_31.days_overdue, at_31.working_days_overdue, at_31.overdue_over_30) == (31, 23, True)
    assert at_31.working_days_left is None and not at_31.due_soon


def test_late_completion_does_not_carry_the_long_overdue_flag() -> None:
    """The > 30 days flag is the report's 'open, overdue, of which > 30 days'."""
    c = classify(done(local(2022, 5, 10, 9), date(2022, 3, 1)), date(2022, 6, 1), CAL)
    assert c.status is S.HT_QUA_HAN
    assert c.days_overdue == 70
    assert not c.overdue_over_30


@pytest.mark.parametrize(
    ("deadline", "as_of", "left", "soon"),
    [
        pytest.param(date(2022, 3, 18), date(2022, 3, 14), 4, False, id="monday-to-friday"),
        pytest.param(date(2022, 3, 17), date(2022, 3, 14), 3, True, id="monday-to-thursday"),
        pytest.param(date(2022, 3, 18), date(2022, 3, 15), 3, True, id="tuesday-to-friday"),
        pytest.param(date(2022, 3, 18), date(2022, 3, 16), 2, True, id="wednesday-to-friday"),
        pytest.param(date(2022, 3, 18), date(2022, 3, 17), 1, True, id="due-tomorrow"),
        pytest.param(date(2022, 3, 18), date(2022, 3, 18), 0, True, id="due-today"),
        pytest.param(date(2022, 3, 21), date(2022, 3, 18), 1, True, id="over-a-weekend"),
        pytest.param(date(2022, 3, 21), date(2022, 3, 19), 1, True, id="from-a-saturday"),
        pytest.param(date(2022, 2, 8), date(2022, 1, 26), 4, False, id="over-tet-2022"),
        pytest.param(date(2022, 2, 8), date(2022, 1, 27), 3, True, id="thursday-before-tet"),
        pytest.param(date(2022, 2, 8), date(2022, 1, 28), 2, True, id="friday-before-tet"),
    ],
)
def test_working_days_left_and_due_soon(deadline: date, as_of: date, left: int, soon: bool) -> None:
    """Working days left are those after today up to and including the due day (due tomorrow
    1, due today 0, Monday for Thursday 3); at most 3 flags the task as due soon."""
    c = classify(task(deadline=deadline), as_of, CAL)
    assert c.status is S.DTH_TRONG_HAN
    assert (c.working_days_left, c.due_soon) == (left, soon)


def test_due_soon_can_be_disabled() -> None:
    """A policy of 0 working days never flags anything as due soon."""
    c = classify(task(deadline=date(2022, 3, 18)), date(2022, 3, 18), CAL, DeadlinePolicy(due_soon_working_days=0))
    assert not c.due_soon


def test_roll_forward_can_be_turned_off() -> None:
    """Without Art. 148 roll-forward, a Saturday deadline met on Monday is late."""
    policy = DeadlinePolicy(roll_forward_to_working_day=False)
    c = classify(done(local(2022, 4, 18, 9), date(2022, 4, 16)), date(2022, 6, 1), CAL, policy)
    assert c.status is S.HT_QUA_HAN
    assert c.eff_due == date(2022, 4, 16)


@pytest.mark.parametrize(
    ("fields", "as_of", "stale"),
    [
        pytest.param({}, date(2022, 6, 1), False, id="exactly-three-months"),
        pytest.param({}, date(2022, 6, 2), True, id="three-months-and-a-day"),
        pytest.param(
            {"last_report_at": utc(2022, 4, 1, 3)}, date(2022, 6, 2), False, id="recent-report"
        ),
        pytest.param(
            {"last_report_at": utc(2022, 7, 1, 3)},
            date(2022, 6, 2),
            True,
            id="report-after-as-of-ignored",
        ),
        pytest.param(
            {"assigned_at": None, "doc_date": date(2022, 1, 10)},
            date(2022, 4, 11),
            True,
            id="document-date-when-no-assignment-instant",
        ),
        pytest.param(
            {"assigned_at": None}, date(2030, 1, 1), False, id="no-date-at-all-is-not-flagged"
        ),
        pytest.param(
            {"deadline": date(2022, 12, 31)}, date(2022, 9, 1), False, id="has-a-deadline"
        ),
    ],
)
def test_stale_without_deadline(fields: dict[str, Any], as_of: date, stale: bool) -> None:
    """Open without deadline and idle > 3 months since assignment or last report is flagged."""
    t = task(**{"assigned_at": utc(2022, 3, 1, 2), **fields})
    assert classify(t, as_of, CAL).stale_no_deadline is stale


def test_midnight_assignment_uses_the_local_date() -> None:
    """Assigned 28 Feb 18:00 UTC is 1 March locally: three months end on 1 June."""
    t = task(assigned_at=utc(2022, 2, 28, 18))
    assert not classify(t, date(2022, 6, 1), CAL).stale_no_deadline
    assert classify(t, date(2022, 6, 2), CAL).stale_no_deadline


def _done_confirmed(confirmed_at: datetime, completed_at: datetime) -> dict[str, Any]:
    """A completed task's fields, confirmed at `confirmed_at`."""
    return {
        "confirmed": True,
        "confirmed_at": confirmed_at,
        "state": TaskState.DONE,
        "completed_at": completed_at,
    }


@pytest.mark.parametrize(
    ("fields", "as_of", "unconfirmed"),
    [
        pytest.param({}, date(2022, 4, 1), True, id="never-confirmed"),
        pytest.param({"confirmed": True}, date(2022, 4, 1), False, id="confirmed"),
        pytest.param(
            {"confirmed": True, "confirmed_at": utc(2022, 4, 5)},
            date(2022, 4, 1),
            True,
            id="confirmed-after-as-of",
        ),
        pytest.param(
            {"confirmed": True, "confirmed_at": utc(2022, 3, 31, 18)},
            date(2022, 4, 1),
            False,
            id="confirmed-local-1-april",
        ),
        pytest.param(
            _done_confirmed(confirmed_at=utc(2022, 3, 10, 3), completed_at=utc(2022, 3, 28, 3)),
            date(2022, 4, 1),
            True,
            id="confirmed-while-open-then-completed",
        ),
        pytest.param(
            _done_confirmed(confirmed_at=utc(2022, 3, 10, 3), completed_at=utc(2022, 3, 28, 3)),
            date(2022, 3, 20),
            False,
            id="confirmed-while-open-as-of-before-completion",
        ),
        pytest.param(
            _done_confirmed(confirmed_at=utc(2022, 3, 28, 9), completed_at=utc(2022, 3, 28, 3)),
            date(2022, 4, 1),
            False,
            id="completion-confirmed-the-same-day",
        ),
    ],
)
def test_unconfirmed(fields: dict[str, Any], as_of: date, unconfirmed: bool) -> None:
    """A status the lead unit had not confirmed by the as-of date is 'chưa xác nhận'; a
    confirmation given while the task was open does not confirm its later completion (the
    contract's flag is of the current status). (It did: a task confirmed in progress and
    completed late after the cut-off was not asked, nor counted.)"""
    assert classify(task(**fields), as_of, CAL).unconfirmed is unconfirmed


EXTENDED = task(
    deadline=date(2022, 5, 31),
    deadline_changes=(
        DeadlineChange(date(2022, 3, 31), date(2022, 4, 30), changed_at=utc(2022, 3, 25, 3)),
        DeadlineChange(date(2022, 4, 30), date(2022, 5, 31), changed_at=utc(2022, 4, 28, 3)),
    ),
)


@pytest.mark.parametrize(
    ("as_of", "deadline", "extended", "status"),
    [
        pytest.param(date(2022, 3, 20), date(2022, 3, 31), False, S.DTH_TRONG_HAN, id="before"),
        pytest.param(date(2022, 4, 10), date(2022, 4, 30), True, S.DTH_TRONG_HAN, id="first"),
        pytest.param(date(2022, 5, 10), date(2022, 5, 31), True, S.DTH_TRONG_HAN, id="second"),
        pytest.param(date(2022, 6, 2), date(2022, 5, 31), True, S.DTH_QUA_HAN, id="after-all"),
    ],
)
def test_deadline_changes_take_effect_when_made(
    as_of: date, deadline: date, extended: bool, status: StatusCode
) -> None:
    """The as-of view uses the deadline in force that day; the original is always kept."""
    c = classify(EXTENDED, as_of, CAL)
    assert (c.deadline, c.extended, c.status) == (deadline, extended, status)
    assert c.original_deadline == date(2022, 3, 31)
    assert deadline_in_force(EXTENDED, as_of) == (deadline, extended)


def test_undated_change_counts_as_made() -> None:
    """A change without a timestamp is taken as already in force."""
    t = task(
        deadline=date(2022, 5, 31), deadline_changes=(DeadlineChange(None, date(2022, 5, 31)),)
    )
    c = classify(t, date(2022, 3, 1), CAL)
    assert (c.deadline, c.extended, c.original_deadline) == (date(2022, 5, 31), True, None)


def test_missing_completion_instant_uses_last_modified() -> None:
    """A done task without completed_at is dated by its last modification, flagged as estimated."""
    t = done(None, date(2022, 4, 15), last_modified=utc(2022, 4, 18, 18))  # local 19 April
    c = classify(t, date(2022, 6, 1), CAL)
    assert (c.status, c.completed_on, c.completion_estimated) == (
        S.HT_QUA_HAN,
        date(2022, 4, 19),
        True,
    )
    assert classify(t, date(2022, 4, 18), CAL).status is S.DTH_QUA_HAN


def test_not_yet_assigned() -> None:
    """A task assigned after the as-of date is marked so reports can leave it out."""
    t = task(assigned_at=utc(2022, 3, 10, 3), deadline=date(2022, 4, 1))
    assert classify(t, date(2022, 3, 9), CAL).not_yet_assigned
    assert not classify(t, date(2022, 3, 10), CAL).not_yet_assigned


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"completed_at": datetime(2022, 4, 1, 9), "state": TaskState.DONE}, id="done"),
        pytest.param({"assigned_at": datetime(2022, 4, 1, 9)}, id="assigned"),
        pytest.param(
            {"state": TaskState.DONE, "last_modified": datetime(2022, 4, 1, 9)}, id="modified"
        ),
    ],
)
def test_naive_datetimes_are_bad_records(fields: dict[str, Any]) -> None:
    """A naive instant cannot be placed on a local date: the record is refused, not guessed."""
    with pytest.raises(BadRecord) as caught:
        classify(task(**fields), date(2022, 6, 1), CAL)
    assert caught.value.task_id == "7"
    assert caught.value.field in {"completed_at", "assigned_at", "last_modified"}


def test_deadline_outside_calendar_is_a_bad_record() -> None:
    """A mistyped deadline year cannot crash a run: the record is refused."""
    with pytest.raises(BadRecord, match="outside the working calendar"):
        classify(task(deadline=date(2202, 4, 15)), date(2022, 6, 1), CAL)


def test_as_of_must_be_a_date() -> None:
    """Passing a datetime as the as-of date is a programming error."""
    with pytest.raises(TypeError):
        classify(task(), datetime(2022, 6, 1, tzinfo=UTC), CAL)


def test_classification_is_frozen() -> None:
    """A classification cannot be altered after the fact."""
    c = classify(task(), date(2022, 6, 1), CAL)
    with pytest.raises(AttributeError):
        c.status = S.DA_HUY  # type: ignore[misc]
    assert isinstance(c, Classification)


def test_policy_rejects_negative_values() -> None:
    """Negative thresholds are configuration mistakes."""
    with pytest.raises(ValueError, match="overdue_long_days"):
        DeadlinePolicy(overdue_long_days=-1)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        pytest.param(date(2022, 1, 31), 1, date(2022, 2, 28), id="short-month"),
        pytest.param(date(2023, 11, 30), 3, date(2024, 2, 29), id="leap-february"),
        pytest.param(date(2022, 3, 15), 12, date(2023, 3, 15), id="a-year"),
        pytest.param(date(2022, 3, 15), 0, date(2022, 3, 15), id="zero"),
    ],
)
def test_add_months(day: date, months: int, expected: date) -> None:
    """A period in months ends on the same day number, or the month's last day (Art. 148)."""
    assert add_months(day, months) == expected


def test_status_ranking() -> None:
    """On time beats in progress beats late beats overdue; withdrawn has no rank."""
    assert STATUS_ORDER[0] is S.HT_DUNG_HAN and STATUS_ORDER[-1] is S.DTH_QUA_HAN
    assert is_worse(S.DTH_QUA_HAN, S.DTH_TRONG_HAN)
    assert not is_worse(S.DTH_TRONG_HAN, S.DTH_TRONG_HAN)
    assert status_rank(S.HT_QUA_HAN) < status_rank(S.DTH_QUA_HAN)
    with pytest.raises(ValueError, match="no rank"):
        status_rank(S.DA_HUY)


# -- properties ----------------------------------------------------------------------------

DAYS = st.dates(min_value=date(2018, 1, 1), max_value=date(2030, 12, 31))
ZONES = st.sampled_from(
    [UTC, LOCAL_TZ, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]
)
INSTANTS = st.datetimes(
    min_value=datetime(2018, 1, 2), max_value=datetime(2030, 12, 30), timezones=ZONES
)


@given(deadline=DAYS, roll=st.booleans())
def test_eff_due_is_a_working_day_never_before_the_deadline(deadline: date, roll: bool) -> None:
    """With roll-forward, eff_due is a working day on or after the deadline; without, the same day."""
    eff = effective_due(deadline, CAL, DeadlinePolicy(roll_forward_to_working_day=roll))
    assert eff >= deadline
    if roll:
        assert CAL.is_working_day(eff)
        assert CAL.working_days_between(deadline - timedelta(days=1), eff) == 1
    else:
        assert eff == deadline


@given(deadline=st.one_of(st.none(), DAYS), first=DAYS, later_by=st.integers(0, 400))
def test_later_as_of_never_improves_an_open_task(
    deadline: date | None, first: date, later_by: int
) -> None:
    """For an open task, moving the as-of date forward never gives a better status."""
    t = task(deadline=deadline)
    early = classify(t, first, CAL)
    late = classify(t, first + timedelta(days=later_by), CAL)
    assert status_rank(late.status) >= status_rank(early.status)
    assert late.days_overdue >= early.days_overdue


@given(
    completed_at=INSTANTS,
    deadline=st.one_of(st.none(), DAYS),
    offsets=st.tuples(st.integers(0, 800), st.integers(0, 800)),
)
def test_done_status_does_not_depend_on_as_of(
    completed_at: datetime, deadline: date | None, offsets: tuple[int, int]
) -> None:
    """Once the completion date is reached, the as-of date no longer changes the status."""
    t = done(completed_at, deadline, assigned_at=completed_at)
    completed_on = completed_at.astimezone(LOCAL_TZ).date()
    a, b = (classify(t, completed_on + timedelta(days=o), CAL) for o in offsets)
    assert a.status is b.status
    assert a.status in {S.HT_DUNG_HAN, S.HT_QUA_HAN, S.HT_KHONG_HAN}
    assert a.completed_on == b.completed_on == completed_on
    assert replace(a, as_of=b.as_of) == b


@given(
    deadline=st.one_of(st.none(), DAYS),
    as_of=DAYS,
    completed_at=st.one_of(st.none(), INSTANTS),
    soon=st.integers(0, 10),
)
def test_due_soon_never_flags_an_overdue_task(
    deadline: date | None, as_of: date, completed_at: datetime | None, soon: int
) -> None:
    """Due soon is only ever set on an open task still within its deadline."""
    t = done(completed_at, deadline) if completed_at else task(deadline=deadline)
    c = classify(t, as_of, CAL, DeadlinePolicy(due_soon_working_days=soon))
    if c.due_soon:
        assert c.status is S.DTH_TRONG_HAN
        assert c.days_overdue == 0
        assert c.eff_due is not None and as_of <= c.eff_due
    if c.status is S.DTH_QUA_HAN:
        assert not c.due_soon and c.days_overdue > 0


@given(completed_at=INSTANTS, deadline=DAYS)
def test_on_time_means_local_completion_on_or_before_eff_due(
    completed_at: datetime, deadline: date
) -> None:
    """Whatever the instant's zone, the status follows its Asia/Ho_Chi_Minh date."""
    c = classify(done(completed_at, deadline), date(2031, 6, 1), CAL)
    local_day = completed_at.astimezone(LOCAL_TZ).date()
    eff = CAL.next_working_day_on_or_after(deadline)
    assert c.status is (S.HT_DUNG_HAN if local_day <= eff else S.HT_QUA_HAN)
