"""Classification whose cost grows with what changed (issue 15): a task is classified, suggested
and planned again only when it changed, its verdict can change (its recheck date,
`connector.rules.recheck`) or what the verdicts are computed with changed
(`connector.rules.classify.reclassify` with a key); the outbox rows of a batch are planned with
one read and one insert (`PlanBatch`), the same rows the per-task `plan` records."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, update
from sqlmodel import Session

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.facts import set_kind_override
from connector.ledger.history import Observation
from connector.ledger.tables import OUTBOX, TASK
from connector.ledger.tasks import LedgerTask, acknowledge, count_due
from connector.models import NormalisedTask, TaskKind, TaskState
from connector.outbox.actions import retry_row
from connector.outbox.planning import outbox_planner, plan
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.classify import ClassifyResult, reclassify
from connector.rules.deadlines import policy_from_settings
from connector.rules.judge import Judgement
from connector.settings import DeadlineSettings, Settings
from connector.source.pull import verdict_key
from simulator.units import UNITS
from tests.support.factories import make_task

CAL: WorkingCalendar = load_calendar()
SETTINGS = Settings()
DAY = date(2022, 3, 22)  # a Tuesday
T0 = datetime(2022, 1, 3, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite ledger migrated once for this module (migrations are slow)."""
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    open_ledger(f"sqlite:///{path}").close()
    return path


def copy_ledger(template: Path, directory: Path, name: str = "ledger.db") -> Ledger:
    path = directory / name
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return open_ledger(f"sqlite:///{path}")


def store(ledger: Ledger, *tasks: NormalisedTask, at: datetime = T0) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at)
        for task in tasks:
            repo.upsert_task(session, task, {"id": task.source_id}, run_id="seed", observed_at=at)


def run(
    ledger: Ledger,
    day: date,
    *,
    key: str | None,
    settings: Settings = SETTINGS,
    batch_size: int = 3,
) -> ClassifyResult:
    """The pull's classification step as of `day` (with `key`: only the tasks due)."""
    now = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)
    clock = FixedClock(now)
    planner = outbox_planner(settings, as_of=day, calendar=CAL, run_id=f"r{day}", clock=clock)
    return reclassify(
        ledger,
        as_of=day,
        calendar=CAL,
        policy=policy_from_settings(settings.deadlines),
        run_id=f"r{day}",
        clock=clock,
        batch_size=batch_size,
        planner=planner,
        key=key,
        alerts=settings.alerts,
    )


def key_of(ledger: Ledger, settings: Settings = SETTINGS) -> str:
    return verdict_key(settings, CAL, ledger, planning=True)


def due_count(ledger: Ledger, key: str, day: date = DAY) -> int:
    """What the pull's progress bar counts for the classification step."""
    with ledger.reading() as session:
        return count_due(session, as_of=day, key=key)


def tasks(n: int = 5) -> list[NormalisedTask]:
    return [make_task(i, deadline=date(2022, 3, 18 + i)) for i in range(1, n + 1)]


def test_a_second_run_of_the_day_with_nothing_new_classifies_nothing(ledger: Ledger) -> None:
    """The first run of a day classifies and plans every task; a second one touches none."""
    store(ledger, *tasks())
    key = key_of(ledger)
    assert due_count(ledger, key) == 5
    first = run(ledger, DAY, key=key)
    assert (first.classified, first.changed) == (5, 5) and first.planned > 0
    assert due_count(ledger, key) == 0
    found: list[ClassifyResult] = []
    statements = statements_of(ledger, lambda: found.append(run(ledger, DAY, key=key)))
    second = found[0]
    assert (second.classified, second.changed, second.planned, second.suggested) == (0, 0, 0, 0)
    writes = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "UPDATE"))]
    assert writes == []


def statements_of(ledger: Ledger, work: Any) -> list[str]:
    """The SQL statements `work()` sends (an executemany counts once: one round trip)."""
    sent: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        sent.append(sql)

    event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        work()
    finally:
        event.remove(ledger.engine, "before_cursor_execute", seen)
    return sent


def test_a_batch_is_classified_and_planned_in_as_many_statements_whatever_its_size(
    ledger: Ledger,
) -> None:
    """No statement per task: 3 and 12 new tasks (one batch each) take the same statements."""
    store(ledger, *tasks(3))
    key = key_of(ledger)

    def classify_day() -> None:
        run(ledger, DAY, key=key, batch_size=50)

    small = statements_of(ledger, classify_day)
    more = [make_task(i, deadline=date(2022, 3, 10 + i % 20)) for i in range(10, 22)]
    store(ledger, *more)
    large = statements_of(ledger, classify_day)
    assert len(large) == len(small) and len(small) < 30


def test_the_next_day_and_a_changed_task_are_classified_again(ledger: Ledger) -> None:
    """A task written since (or every task on the next day) is classified again."""
    store(ledger, *tasks())
    key = key_of(ledger)
    run(ledger, DAY, key=key)
    store(ledger, replace(tasks()[1], deadline=date(2022, 4, 30), last_modified=T0 + timedelta(1)))
    again = run(ledger, DAY, key=key)
    assert (again.classified, again.changed) == (1, 1)
    with ledger.reading() as session:
        tracking = list(
            session.execute(
                select(OUTBOX.c.id, OUTBOX.c.state, OUTBOX.c.superseded_by)
                .where(OUTBOX.c.task_id == 2, OUTBOX.c.kind == "tracking")
                .order_by(OUTBOX.c.id)
            )
        )
    # The batch's new tracking row supersedes the pending one, by its id.
    assert [(r.state, r.superseded_by) for r in tracking] == [
        ("superseded", tracking[1].id),
        ("pending", None),
    ]
    assert run(ledger, DAY, key=key).classified == 0
    assert run(ledger, DAY + timedelta(days=1), key=key).classified == 5
    assert run(ledger, DAY - timedelta(days=3), key=key).classified == 5  # an earlier as_of


def test_a_settings_change_classifies_every_task_again(ledger: Ledger) -> None:
    """Another due-soon window (or any deadline, alert or push setting) changes the key."""
    store(ledger, *tasks())
    run(ledger, DAY, key=key_of(ledger))
    wider = SETTINGS.model_copy(
        update={
            "deadlines": DeadlineSettings(
                due_soon_working_days=SETTINGS.deadlines.due_soon_working_days + 3
            )
        }
    )
    assert key_of(ledger, wider) != key_of(ledger)
    assert run(ledger, DAY, key=key_of(ledger, wider), settings=wider).classified == 5
    assert run(ledger, DAY, key=key_of(ledger, wider), settings=wider).classified == 0


def test_a_kind_override_an_ack_or_a_retried_row_is_classified_again(ledger: Ledger) -> None:
    """What else a verdict reads (a kind override, what the source acknowledged, an outbox row
    put back to pending by an operator) has the task classified again."""
    store(ledger, *tasks())
    key = key_of(ledger)
    run(ledger, DAY, key=key)
    with ledger.transaction() as session:
        obs = Observation("admin", datetime(2022, 3, 22, 3, tzinfo=UTC))
        set_kind_override(session, 2, TaskKind.ROUTINE, by="admin", reason="x", obs=obs)
        acknowledge(session, 4, "DTH_QUA_HAN", date(2022, 3, 22))
        dead = session.execute(select(OUTBOX.c.id).where(OUTBOX.c.task_id == 5)).scalars().first()
        session.execute(update(OUTBOX).where(OUTBOX.c.id == dead).values(state="dead"))
        retry_row(session, int(dead))
    with ledger.reading() as session:
        cleared = session.execute(select(TASK.c.source_id).where(TASK.c.recheck_on.is_(None)))
        assert sorted(cleared.scalars()) == [2, 4, 5]
    assert run(ledger, DAY, key=key).classified == 3


def test_our_own_tracking_write_acknowledged_is_no_change(ledger: Ledger) -> None:
    """The source acknowledging the status and effective due date a task is classified with
    (the connector's own tracking write, delivered) leaves the task as classified: the next run
    of the day classifies nothing, and classifying everything again would plan nothing."""
    store(ledger, *tasks())
    key = key_of(ledger)
    run(ledger, DAY, key=key)
    with ledger.reading() as session:
        query = select(OUTBOX.c.task_id, OUTBOX.c.payload_json).where(OUTBOX.c.kind == "tracking")
        planned = session.execute(query).all()
    assert len(planned) == 5
    with ledger.transaction() as session:
        for task_id, payload in planned:
            body = json.loads(payload)
            due = body.get("effectiveDeadline")
            acknowledge(
                session, task_id, body["trackingStatus"], date.fromisoformat(due) if due else None
            )
    assert due_count(ledger, key) == 0
    assert run(ledger, DAY, key=key).classified == 0
    again = run(ledger, DAY, key=None)
    assert (again.classified, again.planned) == (5, 0)


# -- the same verdicts and outbox rows as classifying everything, one task at a time -------------


def immediate_planner(settings: Settings, day: date, clock: FixedClock) -> Any:
    """The planner as it was: `plan` one task at a time, ORM rows flushed at once."""

    def planner(session: Session, judged: Sequence[tuple[LedgerTask, Judgement]]) -> int:
        count = 0
        for row, judgement in judged:
            count += len(
                plan(
                    session,
                    row,
                    judgement.task,
                    judgement.classification,
                    as_of=day,
                    calendar=CAL,
                    settings=settings,
                    run_id=f"r{day}",
                    now=clock.now(),
                    judgement=judgement,
                )
            )
        return count

    return planner


def run_everything(ledger: Ledger, day: date) -> None:
    clock = FixedClock(datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2))
    reclassify(
        ledger,
        as_of=day,
        calendar=CAL,
        policy=policy_from_settings(SETTINGS.deadlines),
        run_id=f"r{day}",
        clock=clock,
        batch_size=3,
        planner=immediate_planner(SETTINGS, day, clock),
    )


def state_of(ledger: Ledger) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The classification columns of every task and every outbox row (superseded_by as a key)."""
    with ledger.reading() as session:
        columns = [c for c in TASK.c if c.name not in ("recheck_on", "checked_on", "classify_key")]
        task_rows = [tuple(r) for r in session.execute(select(*columns).order_by(TASK.c.source_id))]
        outbox = list(session.execute(select(OUTBOX).order_by(OUTBOX.c.idempotency_key)))
        keys = {r.id: r.idempotency_key for r in outbox}
        rows = [
            (
                r.idempotency_key,
                r.kind,
                r.task_id,
                r.alert_type,
                r.occasion,
                r.payload_json,
                r.state,
                r.created_run,
                keys.get(r.superseded_by),
            )
            for r in outbox
        ]
    return task_rows, rows


TASK_VARIANTS = st.fixed_dictionaries(
    {
        "deadline": st.one_of(st.none(), st.dates(date(2022, 2, 1), date(2022, 5, 31))),
        "state": st.sampled_from([TaskState.OPEN, TaskState.DONE]),
        "done_day": st.integers(0, 60),
        "confirmed": st.booleans(),
        "deleted": st.booleans(),
    }
)


def variant(source_id: int, spec: dict[str, Any], modified: datetime) -> NormalisedTask:
    done = spec["state"] is TaskState.DONE
    completed = T0 + timedelta(days=spec["done_day"]) if done else None
    return make_task(
        source_id,
        deadline=spec["deadline"],
        state=spec["state"],
        completed_at=completed,
        confirmed=spec["confirmed"],
        deleted=spec["deleted"] and source_id % 3 == 0,
        last_modified=modified,
    )


STEPS = st.lists(
    st.tuples(
        # days after the previous run (negative: an earlier as_of; up to a quarter and more:
        # past the recheck dates of completed tasks, `connector.rules.recheck`)
        st.one_of(st.integers(-3, 9), st.integers(10, 100)),
        st.dictionaries(st.integers(1, 6), TASK_VARIANTS, max_size=3),  # tasks changed before it
    ),
    min_size=1,
    max_size=5,
)


@pytest.mark.slow
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=st.dictionaries(st.integers(1, 6), TASK_VARIANTS, min_size=1), steps=STEPS)
def test_classifying_what_is_due_gives_what_classifying_everything_gives(
    template: Path, first: dict[int, dict[str, Any]], steps: list[tuple[int, dict[int, Any]]]
) -> None:
    """Random tasks, changes and run dates: the due tasks classified with batched planning
    leave the same task classifications and outbox rows as every task classified and planned
    one at a time on every run."""
    with tempfile.TemporaryDirectory() as tmp:
        due, everything = (copy_ledger(template, Path(tmp), f"{n}.db") for n in ("a", "b"))
        try:
            day, modified = DAY, T0
            for shift, changed in [(0, first), *steps]:
                day += timedelta(days=shift)
                modified += timedelta(hours=1)
                batch = [variant(i, spec, modified) for i, spec in sorted(changed.items())]
                for target in (due, everything):
                    store(target, *batch, at=modified)
                run(due, day, key=key_of(due))
                run_everything(everything, day)
                assert state_of(due) == state_of(everything)
        finally:
            due.close()
            everything.close()
