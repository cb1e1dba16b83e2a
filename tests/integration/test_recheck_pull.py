"""A pull judges an unchanged task again only when its verdict can change by the date
(`connector.rules.recheck`, issue 15): a completed task judged yesterday is neither judged by
today's pull nor re-read by today's report, and is judged again on its recheck date; a task
within its deadline still gets its due-soon alert on the right day."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from connector.clock import FixedClock
from connector.ledger.db import Ledger
from connector.ledger.reader import reading
from connector.ledger.runs import get_run
from connector.ledger.tables import OUTBOX, TASK
from connector.ledger.units import list_units
from connector.ops.runs import recorded_run
from connector.reports.build import current_tasks
from connector.rules.calendar import load_calendar
from connector.rules.recheck import MAX_RECHECK_DAYS
from connector.settings import Settings
from connector.source.pull import PullResult, pull
from tests.support.contract import LOCAL, en_us, utc_str
from tests.support.factories import make_record, make_settings
from tests.support.hostile_server import DEFAULT_NOW, HostileServer

CAL = load_calendar()
DAY = date(2022, 3, 7)  # a Monday: the local date of the server's clock
PULL: dict[str, Any] = {"retry": {"max_attempts": 2, "initial_wait": 0.01, "max_wait": 0.02}}
DONE, WITHIN, OVERDUE = 1, 2, 3


def _local(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=LOCAL)


def _records() -> list[dict[str, Any]]:
    """A task completed and confirmed last week, one due Thursday 17/03, one overdue since
    01/03; all confirmed (no confirmation request), none changed after today."""
    modified = DEFAULT_NOW - timedelta(days=1)
    confirmed = {"confirmed": "Y", "confirmedDateStr": utc_str(_local(date(2022, 3, 1)))}
    return [
        make_record(
            DONE,
            modified,
            status="completed",
            completeDateStr=utc_str(_local(date(2022, 3, 2))),
            **{**confirmed, "confirmedDateStr": utc_str(_local(date(2022, 3, 3)))},
        ),
        make_record(WITHIN, modified, deadline=en_us(_local(date(2022, 3, 17), 0)), **confirmed),
        make_record(OVERDUE, modified, deadline=en_us(_local(date(2022, 3, 1), 0)), **confirmed),
    ]


def _pull(server: HostileServer, settings: Settings, ledger: Ledger, as_of: date) -> PullResult:
    """One recorded pull as of `as_of` (the server's records' clock moved to that day), the
    outbox planned; its run record's ``classified`` count equals the result's."""
    server.advance((_local(as_of) - server.now).total_seconds())
    clock = FixedClock(server.now)
    run_id = f"run-{as_of}-{time.monotonic_ns()}"
    with recorded_run(ledger, "pull", "cron", run_id, clock) as run:
        result = pull(
            settings,
            run_id=run_id,
            clock=clock,
            ledger=ledger,
            run=run,
            sleep=lambda _: None,
            plan_outbox=True,
        )
    recorded = get_run(ledger, run_id)
    assert recorded is not None and recorded.counts["classified"] == result.classified
    return result


def _recheck_on(ledger: Ledger, task_id: int) -> date:
    with ledger.reading() as session:
        day = session.execute(select(TASK.c.recheck_on).where(TASK.c.source_id == task_id))
        found = day.scalar_one()
    assert isinstance(found, date)
    return found


def _trusted(ledger: Ledger, settings: Settings, as_of: date) -> set[int]:
    """The tasks whose stored verdict the report as of `as_of` takes as it is."""
    with reading(ledger) as r:
        units = list_units(r)
        items = list(current_tasks(r, settings, CAL, units, as_of))
    return {item[0].source_id for item in items if len(item) == 3}


def test_an_unchanged_completed_task_is_judged_again_only_on_its_recheck_date(
    ledger: Ledger,
) -> None:
    """Pulled on Monday: all three tasks judged. Tuesday's pull (nothing new at the source)
    judges only the task within its deadline (a working day passed) and the overdue one; the
    completed task keeps its verdict, which Tuesday's report reads as stored, until its
    recheck date (a quarter ahead), whose pull judges it again."""
    with HostileServer(_records()) as server:
        settings = make_settings(server, ledger.url, **PULL)
        assert _pull(server, settings, ledger, DAY).classified == 3
        recheck = _recheck_on(ledger, DONE)
        assert recheck == DAY + timedelta(days=MAX_RECHECK_DAYS)
        tuesday = DAY + timedelta(days=1)
        assert _recheck_on(ledger, WITHIN) == tuesday
        assert _pull(server, settings, ledger, tuesday).classified == 2
        assert DONE in _trusted(ledger, settings, tuesday)
        before = recheck - timedelta(days=1)
        assert _pull(server, settings, ledger, before).classified == 2
        assert DONE in _trusted(ledger, settings, before)
        assert _pull(server, settings, ledger, recheck).classified == 3
        assert _recheck_on(ledger, DONE) == recheck + timedelta(days=MAX_RECHECK_DAYS)


def _due_soon(ledger: Ledger) -> list[tuple[str, str]]:
    with ledger.reading() as session:
        rows = session.execute(
            select(OUTBOX.c.idempotency_key, OUTBOX.c.created_run).where(
                OUTBOX.c.task_id == WITHIN, OUTBOX.c.alert_type == "SAP_DEN_HAN"
            )
        )
        return [(r.idempotency_key, r.created_run) for r in rows]


def test_the_due_soon_alert_is_planned_on_its_day(ledger: Ledger) -> None:
    """Daily pulls from Monday 07/03: the task due Thursday 17/03 gets its due-soon alert in
    the run of Monday 14/03 (three working days left), not before; the weekend's runs judge
    only the overdue task (the other's working days left do not change on a day off)."""
    with HostileServer(_records()) as server:
        settings = make_settings(server, ledger.url, **PULL)
        day = DAY
        judged: dict[date, int] = {}
        while day < date(2022, 3, 14):
            judged[day] = _pull(server, settings, ledger, day).classified
            assert _due_soon(ledger) == []
            day += timedelta(days=1)
        assert judged[date(2022, 3, 12)] == judged[date(2022, 3, 13)] == 1  # Saturday, Sunday
        _pull(server, settings, ledger, day)
        found = _due_soon(ledger)
        assert [key for key, _ in found] == [f"alr:{WITHIN}:SAP_DEN_HAN:2022-03-17"]
        assert found[0][1].startswith("run-2022-03-14")
