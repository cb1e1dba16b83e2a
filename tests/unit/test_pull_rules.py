"""Pure rules of the pull: where to read from, how far the cursor may move, status dates."""

from __future__ import annotations

import signal
from datetime import UTC, date, datetime, timedelta
from typing import NoReturn

import pytest

from connector.ledger.codec import content_hash
from connector.ledger.columns import classification_values
from connector.ledger.pages import Incoming
from connector.mapping.spec import load_mapping
from connector.models import NormalisedTask, TaskState
from connector.rules.calendar import load_calendar
from connector.rules.classify import status_effective_on, suggestion_for
from connector.rules.deadlines import classify
from connector.source import pull as pull_module
from connector.source.pull import advance_cursor, modified_from, newest_versions, to_page_item
from tests.support.factories import make_record, make_task

T = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)
S = timedelta(seconds=1)
CAL = load_calendar()


@pytest.mark.parametrize(
    ("current", "safe", "server", "newest", "expected"),
    [
        pytest.param(None, None, T, None, None, id="nothing-read"),
        pytest.param(None, T - 10 * S, T, T - 5 * S, T - 10 * S, id="first-page"),
        pytest.param(T - 10 * S, T - 5 * S, T, T - 5 * S, T - 5 * S, id="moves-forward"),
        pytest.param(T - 5 * S, T - 10 * S, T, T - 5 * S, T - 5 * S, id="never-back-for-a-page"),
        pytest.param(T - 5 * S, T + 60 * S, T, T + 90 * S, T, id="never-past-server-clock"),
        pytest.param(T + 60 * S, None, T, None, T, id="pulled-back-to-server-clock"),
        pytest.param(T - 5 * S, None, None, None, T - 5 * S, id="no-server-clock"),
        pytest.param(
            T - 60 * S, T + 600 * S, T + 600 * S, T - 30 * S, T - 30 * S,
            id="date-ahead-stops-at-the-newest-stored",
        ),
        pytest.param(T - 60 * S, T, T, None, T - 60 * S, id="nothing-stored-stays"),
        pytest.param(None, T, T, None, None, id="nothing-stored-first-run-stays-unset"),
    ],
)
def test_advance_cursor(
    current: datetime | None, safe: datetime | None, server: datetime | None,
    newest: datetime | None, expected: datetime | None,
) -> None:
    """The cursor follows safe page cursors forward, never past the newest record stored in the
    run, and never past the server's clock (which can only lower it)."""
    assert advance_cursor(current, safe, server, newest) == expected


@pytest.mark.parametrize(
    ("cursor", "full", "expected"),
    [
        pytest.param(None, False, None, id="first-run-reads-all"),
        pytest.param(T, False, T - 120 * S, id="lookback"),
        pytest.param(T, True, None, id="full"),
    ],
)
def test_modified_from(cursor: datetime | None, full: bool, expected: datetime | None) -> None:
    """An incremental read starts lookback seconds before the cursor; a full one at the start."""
    assert modified_from(cursor, 120, full=full) == expected


def _task(**kw: object) -> NormalisedTask:
    base: dict[str, object] = {
        "source_id": 1,
        "last_modified": T,
        "state": TaskState.OPEN,
        "assigned_at": datetime(2022, 1, 10, 2, 0, tzinfo=UTC),
        "doc_date": date(2022, 1, 10),
    }
    base.update(kw)
    return NormalisedTask(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task", "previous", "as_of", "expected"),
    [
        pytest.param(_task(deadline=date(2022, 2, 28)), "DTH_TRONG_HAN", date(2022, 3, 7),
                     date(2022, 3, 1), id="overdue-day-after-eff-due"),
        pytest.param(_task(deadline=date(2022, 3, 5)), "DTH_TRONG_HAN", date(2022, 3, 8),
                     date(2022, 3, 8), id="overdue-after-weekend-roll"),
        pytest.param(_task(deadline=date(2022, 3, 31), state=TaskState.DONE,
                           completed_at=datetime(2022, 3, 3, 20, 0, tzinfo=UTC)),
                     "DTH_TRONG_HAN", date(2022, 3, 7), date(2022, 3, 4), id="completion-date"),
        pytest.param(_task(deadline=date(2022, 3, 31)), None, date(2022, 3, 7),
                     date(2022, 1, 10), id="first-seen-open-since-assigned"),
        pytest.param(_task(), "DTH_QUA_HAN", date(2022, 3, 7), date(2022, 3, 7),
                     id="deadline-removed-as-of"),
        pytest.param(_task(state=TaskState.CANCELLED), "DTH_TRONG_HAN", date(2022, 3, 7),
                     date(2022, 3, 7), id="withdrawn-as-of"),
    ],
)
def test_status_effective_on(
    task: NormalisedTask, previous: str | None, as_of: date, expected: date
) -> None:
    """A status change is dated when it took effect, never after the as-of date."""
    result = classify(task, as_of, CAL)
    assert status_effective_on(result, previous, task, as_of) == expected


def test_suggestion_only_without_deadline() -> None:
    """A deadline is suggested from the text only for tasks without one, anchored on doc date."""
    text = "Báo cáo kết quả trước ngày 15/4/2022."
    assert suggestion_for(_task(deadline=date(2022, 3, 1), steering_content=text), CAL) is None
    found = suggestion_for(_task(steering_content=text), CAL)
    assert found is not None and found.deadline == date(2022, 4, 15)
    from_subject = suggestion_for(_task(steering_content="Khẩn trương thực hiện",
                                        subject="Kế hoạch trong tháng 3/2022"), CAL)
    assert from_subject is not None and from_subject.deadline == date(2022, 3, 31)
    values = classification_values(classify(_task(steering_content=text), date(2022, 3, 7), CAL),
                                   found)
    assert (values["status_code"], values["suggested_deadline"]) == (
        "KHONG_THOI_HAN", date(2022, 4, 15))
    assert values["suggested_phrase"] == "trước ngày 15/4/2022"


def test_newest_version_wins_and_a_tie_goes_to_the_greater_content_hash() -> None:
    """One id listed twice: the newer last_modified is kept; on a tie, the version with the
    greater content hash, whatever order the two came in (so every run keeps the same one)."""
    older = make_task(1, last_modified=T - S, subject="cũ")
    newer = make_task(1, last_modified=T, subject="mới")
    one, two = make_task(2, subject="bản một"), make_task(2, subject="bản hai")
    greater = max((one, two), key=content_hash)

    def kept(*tasks: NormalisedTask) -> list[str]:
        items, dropped = newest_versions([Incoming(t, {"id": t.source_id}) for t in tasks])
        assert dropped == len(tasks) - len(items)
        return [i.task.subject for i in items if isinstance(i, Incoming)]

    assert kept(older, newer) == kept(newer, older) == ["mới"]
    assert kept(one, two) == kept(two, one) == [greater.subject]


def test_a_signal_while_a_record_is_read_stops_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGINT/SIGTERM raised while one record is normalised propagates: the record is not
    quarantined as unreadable and the signal is not lost (the run would go on to the end)."""
    from connector.ops.signals import SignalInterrupted

    def interrupted(*_: object) -> NoReturn:
        raise SignalInterrupted(signal.SIGINT)

    monkeypatch.setattr(pull_module, "normalise", interrupted)
    with pytest.raises(SignalInterrupted):
        to_page_item(make_record(1, T), load_mapping("idesk"))
