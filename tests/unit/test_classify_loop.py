"""The one classification loop (`rules.classify.classified`): the classification step, the
outbox planner and the report all skip, log and count a task the rules refuse the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime

from structlog.testing import capture_logs

from connector.models import NormalisedTask, StatusCode, TaskState
from connector.rules.calendar import load_calendar
from connector.rules.classify import Unclassifiable, classified
from connector.rules.deadlines import DEFAULT_POLICY

CAL = load_calendar()
NOW = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)


def _task(source_id: int, deadline: date | None) -> NormalisedTask:
    return NormalisedTask(
        source_id=source_id, last_modified=NOW, state=TaskState.OPEN, deadline=deadline,
        assigned_at=NOW,
    )


def test_a_refused_task_is_logged_counted_and_left_out() -> None:
    """A deadline outside the calendar's years is skipped with the caller's event; the others
    come out in order, each with its item, task and classification as of the date."""
    items = [("a", _task(1, date(2022, 3, 31))), ("b", _task(2, date(2150, 1, 1))),
             ("c", _task(3, None))]
    skipped = Unclassifiable()
    with capture_logs() as logs:
        out = list(
            classified(items, date(2022, 3, 7), CAL, DEFAULT_POLICY, task_of=lambda i: i[1],
                       event="some_step_unclassifiable", skipped=skipped)
        )
    assert [(item[0], task.source_id) for item, task, _ in out] == [("a", 1), ("c", 3)]
    assert [c.status for _, _, c in out] == [StatusCode.DTH_TRONG_HAN, StatusCode.KHONG_THOI_HAN]
    assert all(c.as_of == date(2022, 3, 7) for _, _, c in out)
    assert skipped.count == 1
    [event] = [e for e in logs if e["event"] == "some_step_unclassifiable"]
    assert event["task_id"] == 2 and event["field"] == "deadline"
