"""The first sync's back-fill cut-off (connector.outbox.backfill) and its setting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from connector.models import TaskState
from connector.outbox.backfill import skips_backfill
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import classify
from connector.settings import PushSettings, Settings
from tests.support.factories import make_task

CAL: WorkingCalendar = load_calendar()
AS_OF = date(2022, 3, 22)
CUTOFF = date(2022, 3, 11)


@pytest.mark.parametrize(
    ("completed_at", "cutoff", "acked", "has_rows", "skipped"),
    [
        # Thursday 10 March 2022 10:00 local: before the cut-off of Friday 11 March
        pytest.param(datetime(2022, 3, 10, 3, tzinfo=UTC), CUTOFF, "", False, True, id="before"),
        pytest.param(datetime(2022, 3, 10, 3, tzinfo=UTC), None, "", False, False, id="off"),
        # 11 March 10:00 local: on the cut-off day, not before it
        pytest.param(datetime(2022, 3, 11, 3, tzinfo=UTC), CUTOFF, "", False, False, id="on-day"),
        # 10 March 18:00 UTC is 11 March 01:00 in Việt Nam (UTC+7): the local date counts
        pytest.param(
            datetime(2022, 3, 10, 18, tzinfo=UTC), CUTOFF, "", False, False, id="local-date"
        ),
        pytest.param(
            datetime(2022, 3, 10, 3, tzinfo=UTC), CUTOFF, "DTH_QUA_HAN", False, False, id="acked"
        ),
        pytest.param(datetime(2022, 3, 10, 3, tzinfo=UTC), CUTOFF, "", True, False, id="has-row"),
        # completed on 23 March: still open as of 22 March
        pytest.param(
            datetime(2022, 3, 23, 3, tzinfo=UTC),
            date(2022, 4, 1),
            "",
            False,
            False,
            id="done-after-as-of",
        ),
    ],
)
def test_skips_only_the_initial_write_of_tasks_completed_before_the_cutoff(
    completed_at: datetime, cutoff: date | None, acked: str, has_rows: bool, skipped: bool
) -> None:
    """Only a task completed (local date) before the cut-off with no status ever written."""
    cls = classify(make_task(state=TaskState.DONE, completed_at=completed_at), AS_OF, CAL)
    assert (
        skips_backfill(cls, cutoff=cutoff, acked_status=acked, has_tracking_rows=has_rows)
        is skipped
    )


def test_open_tasks_are_never_skipped() -> None:
    """An open task (overdue here) gets its first tracking write whatever the cut-off."""
    cls = classify(make_task(), AS_OF, CAL)
    assert cls.completed_on is None
    assert not skips_backfill(
        cls, cutoff=date(2030, 1, 1), acked_status="", has_tracking_rows=False
    )


def test_setting_is_off_by_default_and_takes_an_iso_date() -> None:
    """Default "" (off); a date, quoted or a TOML date, is kept as YYYY-MM-DD."""
    assert Settings().push.backfill_completed_before == ""
    assert Settings().push.backfill_cutoff is None
    quoted = PushSettings(backfill_completed_before=" 2025-01-01 ")
    assert quoted.backfill_cutoff == date(2025, 1, 1)
    assert quoted.backfill_completed_before == "2025-01-01"
    toml_date = PushSettings.model_validate({"backfill_completed_before": date(2025, 2, 3)})
    assert toml_date.backfill_completed_before == "2025-02-03"


@pytest.mark.parametrize("value", ["2025-13-01", "01/02/2025", "soon"])
def test_setting_refuses_what_is_not_a_date(value: str) -> None:
    """A value that is not YYYY-MM-DD is refused, saying how to write it."""
    with pytest.raises(ValidationError, match="YYYY-MM-DD"):
        PushSettings(backfill_completed_before=value)
