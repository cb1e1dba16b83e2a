"""Who is asked to confirm before the report (connector.rules.confirmation): pure rules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from connector.models import NormalisedTask, TaskState
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.confirmation import (
    confirmation_since,
    previous_cutoff,
    since_cutoff,
    to_confirm,
)
from connector.rules.deadlines import classify
from tests.support.factories import make_task

CAL: WorkingCalendar = load_calendar()


def d(text: str) -> date:
    return date.fromisoformat(text)


@pytest.mark.parametrize(
    ("day", "cutoff_day", "since"),
    [
        pytest.param("2022-03-22", 25, "2022-02-25", id="request-day-of-march"),
        pytest.param("2022-03-25", 25, "2022-02-25", id="on-the-cutoff-march-cycle"),
        pytest.param("2022-03-26", 25, "2022-03-25", id="day-after-cutoff-april-cycle"),
        pytest.param("2022-01-10", 25, "2021-12-25", id="january-counts-from-december"),
        pytest.param("2022-12-31", 25, "2022-12-25", id="end-of-december"),
        pytest.param("2022-03-01", 1, "2022-02-01", id="cutoff-on-the-first"),
        pytest.param("2022-03-02", 1, "2022-03-01", id="day-after-cutoff-on-the-first"),
        pytest.param("2022-03-28", 28, "2022-02-28", id="cutoff-on-the-28th"),
    ],
)
def test_confirmation_since_is_the_latest_cutoff_before_the_day(
    day: str, cutoff_day: int, since: str
) -> None:
    """A report or request on `day` counts completions after the last cut-off before it."""
    assert confirmation_since(d(day), cutoff_day) == d(since)


def test_previous_cutoff_of_january_is_in_december() -> None:
    """The request of January 2023 counts from 25 December 2022; of March from 25 February."""
    assert previous_cutoff(2023, 1, 25) == d("2022-12-25")
    assert previous_cutoff(2022, 3, 25) == d("2022-02-25")


def _done(completed: str, *, confirmed: bool = False) -> NormalisedTask:
    day = d(completed)
    return make_task(
        deadline=d("2022-02-21"),
        state=TaskState.DONE,
        completed_at=datetime(day.year, day.month, day.day, 3, tzinfo=UTC),
        confirmed=confirmed,
    )


@pytest.mark.parametrize(
    ("changes", "as_of", "expected"),
    [
        pytest.param({"confirmed": False}, "2022-03-22", True, id="open-overdue-unconfirmed"),
        pytest.param({"confirmed": True}, "2022-03-22", False, id="open-confirmed"),
        pytest.param(
            {"confirmed": True, "confirmed_at": datetime(2022, 3, 23, 3, tzinfo=UTC)},
            "2022-03-22",
            True,
            id="confirmed-only-after-the-day",
        ),
        pytest.param(
            {"confirmed": False, "deadline": None}, "2022-03-22", True, id="open-no-deadline"
        ),
        pytest.param(
            {"confirmed": False, "state": TaskState.CANCELLED},
            "2022-03-22",
            False,
            id="withdrawn",
        ),
        pytest.param(
            {"confirmed": False, "assigned_at": datetime(2022, 3, 24, 3, tzinfo=UTC)},
            "2022-03-22",
            False,
            id="not-yet-assigned",
        ),
    ],
)
def test_to_confirm_open_tasks(changes: dict[str, Any], as_of: str, expected: bool) -> None:
    """Open tasks the lead unit has not confirmed are asked; withdrawn or future ones are not."""
    task = make_task(**changes)
    cls = classify(task, d(as_of), CAL)
    assert to_confirm(cls, d("2022-02-25")) is expected


@pytest.mark.parametrize(
    ("completed", "confirmed", "expected"),
    [
        pytest.param("2022-02-24", False, False, id="before-the-cutoff"),
        pytest.param("2022-02-25", False, False, id="on-the-cutoff-in-february-report"),
        pytest.param("2022-02-26", False, True, id="day-after-the-cutoff"),
        pytest.param("2022-03-22", False, True, id="on-the-request-day"),
        pytest.param("2022-03-10", True, False, id="confirmed"),
    ],
)
def test_to_confirm_completed_tasks(completed: str, confirmed: bool, expected: bool) -> None:
    """A completed task is asked only when completed after the cut-off and not confirmed."""
    task = _done(completed, confirmed=confirmed)
    cls = classify(task, d("2022-03-22"), CAL)
    assert to_confirm(cls, d("2022-02-25")) is expected
    assert since_cutoff(cls, d("2022-02-25")) is (completed > "2022-02-25")
