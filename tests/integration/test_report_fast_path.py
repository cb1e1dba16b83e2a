"""The ledger's report reads the costly parts of a judgement (the deadline read from the text,
the kind, the occurrences, the late extensions) only for the tasks that need them: on SQLite and
PostgreSQL, every figure and annex line equals the report of every task fully judged."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest

from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.facts import change_kind
from connector.ledger.reader import reading
from connector.ledger.tasks import iter_tasks
from connector.ledger.units import list_units
from connector.models import NormalisedTask, TaskState
from connector.reports.build import build_report, report_current
from connector.reports.model import Report, ReportOptions
from connector.reports.render.formats import render
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import classified, judged, ledger_facts
from connector.rules.deadlines import policy_from_settings
from connector.rules.judge import judge
from connector.settings import Settings
from tests.support.report_world import AS_OF, TASKS, UNITS, at, change, task

CAL = WorkingCalendar()
SETTINGS = Settings()
TEXTS = (
    "",
    "Báo cáo UBND tỉnh trước ngày 15/4/2022.",
    "Định kỳ hằng quý báo cáo UBND tỉnh kết quả thực hiện.",
    "Báo cáo định kỳ hằng tháng trước ngày 20.",
    "Theo dõi, đôn đốc thường xuyên việc thực hiện.",
    "Xây dựng đề án, trình UBND tỉnh trong tháng 5/2022.",
    "Tham mưu UBND tỉnh ban hành kế hoạch trước ngày 30/6/2022.",
)


def _seeded_world(seed: int, count: int) -> list[NormalisedTask]:
    """`count` tasks drawn from `seed`: with and without deadlines, done, open, withdrawn,
    extended before and after their deadline, with texts that state deadlines and recurrences."""
    rng = random.Random(seed)
    codes = [u.code for u in UNITS] + ["XYZ", ""]
    out: list[NormalisedTask] = []
    for i in range(1, count + 1):
        assigned = date(2022, 1, 3) + timedelta(days=rng.randrange(140))
        deadline = assigned + timedelta(days=rng.randrange(5, 60)) if rng.random() < 0.6 else None
        completed = (
            assigned + timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.45 else None
        )
        changes = ()
        if deadline is not None and rng.random() < 0.2:
            on = deadline + timedelta(days=rng.randrange(-5, 10))
            changes = change(deadline.isoformat(), (deadline + timedelta(days=20)).isoformat(),
                             on.isoformat())
            deadline = deadline + timedelta(days=20)
        made = task(
            1000 + i,
            rng.choice(codes),
            assigned.isoformat() if rng.random() < 0.95 else None,
            deadline.isoformat() if deadline else None,
            completed=completed.isoformat() if completed and completed <= AS_OF else None,
            confirmed=rng.random() < 0.5,
            last_report=(assigned + timedelta(days=rng.randrange(80))).isoformat()
            if rng.random() < 0.3
            else None,
            changes=changes,
            text=rng.choice(TEXTS),
        )
        if rng.random() < 0.07:
            made = replace(made, state=TaskState.CANCELLED)
        out.append(made)
    return out


def _fill(ledger: Ledger, tasks: list[NormalisedTask]) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(date(2022, 1, 1)))
        for t in tasks:
            repo.upsert_task(session, t, {}, run_id="r1", observed_at=at(AS_OF, 7))
    with ledger.transaction() as session:  # an administrator's kind, both ways
        change_kind(session, 26, "product", by="A", reason="", at=at(AS_OF, 8))
        change_kind(session, 1005, "routine", by="A", reason="", at=at(AS_OF, 8))


def _fully_judged(ledger: Ledger, options: ReportOptions) -> Report:
    """The report of every task judged in full (`connector.rules.classify.judged`)."""
    policy = policy_from_settings(SETTINGS.deadlines)
    options = replace(options, report_cutoff_day=SETTINGS.alerts.report_cutoff_day)
    with reading(ledger) as r:
        tasks = [row.task for row in iter_tasks(r)]
        items = (
            j
            for _, j in judged(
                tasks,
                options.as_of,
                CAL,
                policy,
                task_of=lambda t: t,
                event="report_task_unreadable",
                facts=ledger_facts(r),
            )
        )
        return build_report(items, list_units(r), options)


OPTIONS = [
    pytest.param({}, id="to-date"),
    pytest.param({"period": "2022-03"}, id="month"),
    pytest.param({"period": "2022-Q2", "basis": "completed"}, id="quarter-completed"),
    pytest.param({"period": "2022", "basis": "due", "fold": True}, id="year-due-fold"),
    pytest.param({"period": "open"}, id="open"),
    pytest.param({"unit": "STC", "denominator": "all"}, id="unit"),
    pytest.param({"as_of": date(2022, 4, 12)}, id="earlier-day"),
]


@pytest.mark.parametrize("given", OPTIONS)
def test_the_ledger_report_equals_the_fully_judged_report(
    ledger: Ledger, given: dict[str, object]
) -> None:
    """A seeded world of 400 tasks and the hand-built one: `report_current` is the report of
    every task fully judged, figure for figure and line for line (and so is its JSON)."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    as_of = given.pop("as_of", AS_OF)
    assert isinstance(as_of, date)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=as_of, **given)  # type: ignore[arg-type]
    fast = report_current(ledger, SETTINGS, options, CAL)
    full = _fully_judged(ledger, options)
    assert fast.total.total > 0
    assert fast == full
    assert render(fast, "json", "vi") == render(full, "json", "vi")


def test_the_seeded_world_reaches_every_costly_reading() -> None:
    """The world above has recurring obligations, product and routine tasks without a deadline
    and extensions granted after the deadline (the readings the report makes lazily)."""
    policy = policy_from_settings(SETTINGS.deadlines)
    tasks = [*TASKS, *_seeded_world(15, 400)]
    judgements = [
        judge(t, c, CAL, policy)
        for _, t, c in classified(tasks, AS_OF, CAL, policy, task_of=lambda t: t, event="x")
    ]
    assert any(j.recurring is not None for j in judgements)
    assert any(j.late_extensions for j in judgements)
    assert {j.kind.kind.value for j in judgements if j.classification.deadline is None} == {
        "product",
        "routine",
    }
