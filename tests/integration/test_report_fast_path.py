"""The ledger's report reads the costly parts of a judgement (the deadline read from the text,
the kind, the occurrences, the late extensions) only for the tasks that need them, and takes
what the classification step stored of a task's text when it classified it as of the report's
day with the same settings: on SQLite and PostgreSQL, every figure and annex line equals the
report of every task fully judged; a stale stored reading (another key, another day) is never
used."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.facts import change_kind
from connector.ledger.outbox import alert_keys_by_task
from connector.ledger.reader import open_reader, reading
from connector.ledger.tasks import iter_tasks, stamp_rechecks
from connector.ledger.units import list_units
from connector.models import NormalisedTask, StatusCode, TaskState, Unit
from connector.ops.forked import can_fork
from connector.outbox.planning import alert_context, preview_alerts, units_by_code
from connector.reports.build import build_report, report_as_of, report_current
from connector.reports.model import Item, Report, ReportOptions
from connector.reports.render.formats import render
from connector.rules.alerts import AlertIntent, alert_intents
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import (
    classified,
    judged,
    ledger_facts,
    ledger_task,
    reclassify,
    settings_key,
)
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
        completed = assigned + timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.45 else None
        changes = ()
        if deadline is not None and rng.random() < 0.2:
            on = deadline + timedelta(days=rng.randrange(-5, 10))
            changes = change(
                deadline.isoformat(), (deadline + timedelta(days=20)).isoformat(), on.isoformat()
            )
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


def _classify_stored(ledger: Ledger, as_of: date) -> str:
    """The pull's classification step as of `as_of` (no outbox planned), with its key: every
    task stamped and its reading stored; the key."""
    with reading(ledger) as r:
        key = settings_key(SETTINGS, CAL, list_units(r), planning=False)
    reclassify(
        ledger,
        as_of=as_of,
        calendar=CAL,
        policy=policy_from_settings(SETTINGS.deadlines),
        run_id="r2",
        clock=FixedClock(datetime(2022, 5, 30, 1, tzinfo=UTC)),
        key=key,
    )
    return key


_FALSE_READING = (
    "UPDATE task SET kind_read = :kind, kind_source = 'steering_content', "
    "kind_words_json = '[\"bogus\"]', suggested_phrase = 'bogus', suggested_deadline = NULL, "
    "suggested_recurrence = '', recurrence_rule_json = '' WHERE source_id IN ({ids})"
)


def _falsify(ledger: Ledger, ids: list[int], kind: str = "routine") -> None:
    """Store a reading of `ids` that no judgement makes: a report that used it would differ."""
    listed = ", ".join(str(i) for i in ids)
    with ledger.transaction() as session:
        session.execute(text(_FALSE_READING.format(ids=listed)), {"kind": kind})


def _without_deadline(ledger: Ledger, as_of: date) -> list[int]:
    """The tasks without a deadline in force on `as_of` (their reading is what a report uses),
    withdrawn ones left out."""
    policy = policy_from_settings(SETTINGS.deadlines)
    with reading(ledger) as r:
        tasks = [row.task for row in iter_tasks(r)]
    return [
        t.source_id
        for _, t, c in classified(tasks, as_of, CAL, policy, task_of=lambda t: t, event="x")
        if c.deadline is None and c.status.value != "DA_HUY"
    ]


@pytest.mark.parametrize("given", OPTIONS)
def test_the_report_from_stored_readings_equals_the_fully_judged_report(
    ledger: Ledger, given: dict[str, object]
) -> None:
    """After the classification step of the report's day, `report_current` takes the kind, the
    suggestion and the recurrence rule it stored, and is still the report of every task fully
    judged; tasks whose stored reading is stale (another key, or stamped by a run of a later
    day) are judged again, although their stored reading is false."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    as_of = given.pop("as_of", AS_OF)
    assert isinstance(as_of, date)
    key = _classify_stored(ledger, as_of)
    stale = _without_deadline(ledger, as_of)[:40]
    assert len(stale) == 40
    _falsify(ledger, stale)
    with ledger.transaction() as session:
        next_day = as_of + timedelta(days=1)
        stamp_rechecks(session, dict.fromkeys(stale[:20], next_day), key="other", checked_on=as_of)
        later = as_of + timedelta(days=3)  # judged as of a later day (an earlier as_of now)
        stamp_rechecks(
            session,
            dict.fromkeys(stale[20:], later + timedelta(days=30)),
            key=key,
            checked_on=later,
        )
    options = ReportOptions.from_settings(SETTINGS.report, as_of=as_of, **given)  # type: ignore[arg-type]
    fast = report_current(ledger, SETTINGS, options, CAL)
    full = _fully_judged(ledger, options)
    assert fast.total.total > 0
    assert fast == full
    assert render(fast, "json", "vi") == render(full, "json", "vi")


def test_a_current_stored_reading_is_what_the_report_reads(ledger: Ledger) -> None:
    """The report of the classification step's day reads the stored kind, not the text: a
    stored kind changed by hand changes the product/routine split (so the text is not read for
    those tasks), and another day's report reads the text again."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    _classify_stored(ledger, AS_OF)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=AS_OF)
    before = report_current(ledger, SETTINGS, options, CAL)
    assert before == _fully_judged(ledger, options)
    product = [i for i in _without_deadline(ledger, AS_OF) if i not in (26, 1005)]  # no override
    _falsify(ledger, product, kind="routine")
    after = report_current(ledger, SETTINGS, options, CAL)
    assert after.total.without_deadline_routine > before.total.without_deadline_routine
    assert after.total.without_deadline == before.total.without_deadline
    other_day = replace(options, as_of=AS_OF - timedelta(days=1))
    assert report_current(ledger, SETTINGS, other_day, CAL) == _fully_judged(ledger, other_day)


_FALSE_VERDICT = (
    "UPDATE task SET status_code = 'DTH_QUA_HAN', eff_due = :due, days_overdue = 77, "
    "working_days_overdue = 55, overdue_over_30 = :yes, stale_no_deadline = :yes, "
    "unconfirmed = :no WHERE source_id IN ({ids})"
)


def _falsify_verdict(ledger: Ledger, ids: list[int]) -> None:
    """Store a verdict of `ids` that no classification makes (overdue since 2022-01-03 by 77
    days...): a report that used it would differ."""
    listed = ", ".join(str(i) for i in ids)
    with ledger.transaction() as session:
        session.execute(
            text(_FALSE_VERDICT.format(ids=listed)),
            {"due": date(2022, 1, 3), "yes": True, "no": False},
        )


def _ids(ledger: Ledger, where: str) -> list[int]:
    """The ids of the tasks matching the SQL condition `where`, by id."""
    with reading(ledger) as r:
        return [int(i) for i in r.column(f"SELECT source_id FROM task WHERE {where} ORDER BY 1")]


def test_a_trusted_stored_verdict_is_what_the_report_reads(ledger: Ledger) -> None:
    """After the classification step of the report's day, the report takes the stored verdict
    of a task as it is (it does not classify the task again): a verdict changed by hand
    changes the figures; another day's report classifies again."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    _classify_stored(ledger, AS_OF)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=AS_OF)
    before = report_current(ledger, SETTINGS, options, CAL)
    assert before == _fully_judged(ledger, options)
    done = _ids(ledger, "status_code = 'HT_DUNG_HAN' AND deadline_changes_json = '[]'")[:30]
    assert len(done) == 30
    _falsify_verdict(ledger, done)
    after = report_current(ledger, SETTINGS, options, CAL)
    overdue = StatusCode.DTH_QUA_HAN
    assert after.total.by_status[overdue] == before.total.by_status[overdue] + 30
    assert {e.task.source_id for e in after.overdue} >= set(done)
    other_day = replace(options, as_of=AS_OF - timedelta(days=1))
    assert report_current(ledger, SETTINGS, other_day, CAL) == _fully_judged(ledger, other_day)


@pytest.mark.parametrize("given", OPTIONS)
def test_stale_or_partial_stored_verdicts_are_judged_again(
    ledger: Ledger, given: dict[str, object]
) -> None:
    """A stored verdict is trusted only when it was made as of the report's day with one of
    its keys, for a task not extended after its deadline and without an administrator's kind:
    false verdicts stored for tasks classified with another key, stamped by a later day's run,
    extended after the deadline or with a kind override are all judged again, and the report
    is still that of every task fully judged (tasks with other deadline changes are among the
    trusted ones)."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    as_of = given.pop("as_of", AS_OF)
    assert isinstance(as_of, date)
    key = _classify_stored(ledger, as_of)
    plain = _ids(ledger, "NOT extended_after_overdue AND source_id NOT IN (26, 1005)")
    changed = _ids(ledger, "extended_after_overdue")
    assert len(plain) > 80
    assert changed
    assert _ids(ledger, f"deadline_changes_json != '[]' AND source_id > {plain[80]}")
    other_key, later_day = plain[:40], plain[40:80]
    _falsify_verdict(ledger, [*other_key, *later_day, *changed, 26, 1005])
    with ledger.transaction() as session:
        next_day = as_of + timedelta(days=1)
        stamp_rechecks(session, dict.fromkeys(other_key, next_day), key="other", checked_on=as_of)
        later = as_of + timedelta(days=3)  # judged as of a later day (an earlier as_of now)
        stamp_rechecks(
            session, dict.fromkeys(later_day, later + timedelta(days=30)), key=key, checked_on=later
        )
    options = ReportOptions.from_settings(SETTINGS.report, as_of=as_of, **given)  # type: ignore[arg-type]
    fast = report_current(ledger, SETTINGS, options, CAL)
    full = _fully_judged(ledger, options)
    assert fast.total.total > 0
    assert fast == full
    assert render(fast, "json", "vi") == render(full, "json", "vi")


@pytest.mark.parametrize("given", OPTIONS)
def test_the_commands_plain_reader_makes_the_same_report(
    ledger: Ledger, given: dict[str, object]
) -> None:
    """The report of the day read through the commands' plain read-only connection (the
    driver's own row tuples, unpacked by position) is the report read through a session, and
    that of every task fully judged."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    as_of = given.pop("as_of", AS_OF)
    assert isinstance(as_of, date)
    _classify_stored(ledger, as_of)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=as_of, **given)  # type: ignore[arg-type]
    with open_reader(ledger.url) as plain:
        read_plain = report_current(plain, SETTINGS, options, CAL)
    assert read_plain.total.total > 0
    assert read_plain == report_current(ledger, SETTINGS, options, CAL)
    assert read_plain == _fully_judged(ledger, options)


def test_the_report_of_the_day_is_read_and_counted_with_the_collector_paused(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report_current` reads, judges and counts every task with Python's cyclic garbage
    collector paused (`collection_paused`), and it runs again once the report is made."""
    import gc

    from connector.reports import build

    _fill(ledger, [*TASKS, *_seeded_world(15, 40)])
    _classify_stored(ledger, AS_OF)
    seen: list[bool] = []
    real = build.build_report

    def watched(items: Iterable[Item]) -> Iterator[Item]:
        for item in items:
            seen.append(gc.isenabled())  # as each task is read and judged
            yield item

    def observed(items: Iterable[Item], units: Sequence[Unit], options: ReportOptions) -> Report:
        counted = real(watched(items), units, options)
        seen.append(gc.isenabled())  # as the report is made
        return counted

    monkeypatch.setattr(build, "build_report", observed)
    gc.enable()
    options = ReportOptions.from_settings(SETTINGS.report, as_of=AS_OF)
    made = report_current(ledger, SETTINGS, options, CAL)
    assert gc.isenabled()
    assert made.total.total > 0
    assert len(seen) > made.total.total
    assert not any(seen)


def _in_halves(at_least: int) -> Settings:
    """The settings with ``report.parallel_min_tasks`` at `at_least`."""
    return SETTINGS.model_copy(
        update={"report": SETTINGS.report.model_copy(update={"parallel_min_tasks": at_least})}
    )


@pytest.mark.skipif(not can_fork(), reason="needs Linux, two CPUs and one thread")
@pytest.mark.parametrize("given", OPTIONS)
def test_a_report_read_in_two_processes_is_the_report_read_in_one(
    ledger: Ledger, given: dict[str, object]
) -> None:
    """The commands' reader of a ledger of at least ``report.parallel_min_tasks`` tasks reads
    half of them in a forked process: the same report, figure for figure and line for line
    (and JSON), as one process reading them all; below the threshold, or at 0, one process."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    as_of = given.pop("as_of", AS_OF)
    assert isinstance(as_of, date)
    _classify_stored(ledger, as_of)
    stale = _without_deadline(ledger, as_of)[:20]  # some judged again, in either half
    _falsify(ledger, stale)
    with ledger.transaction() as session:
        stamp_rechecks(session, dict.fromkeys(stale, as_of), key="other", checked_on=as_of)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=as_of, **given)  # type: ignore[arg-type]
    with open_reader(ledger.url) as plain, capture_logs() as logs:
        in_one = report_current(plain, _in_halves(0), options, CAL)
        in_two = report_current(plain, _in_halves(1), options, CAL)
        too_few = report_current(plain, _in_halves(100_000), options, CAL)
    halves = [e for e in logs if e["event"] == "report_read_in_halves"]
    assert len(halves) == 1
    assert halves[0]["lower"] > 0
    assert halves[0]["upper"] > 0
    assert halves[0]["lower"] + halves[0]["upper"] == len(TASKS) + 400
    assert in_one.total.total > 0
    assert in_two == in_one
    assert too_few == in_one
    assert render(in_two, "json", "vi") == render(in_one, "json", "vi")
    assert in_one == _fully_judged(ledger, options)


def test_a_half_whose_process_fails_is_read_by_the_other(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the forked process fails, the command reads its half itself: a warning, and the
    same report."""
    from connector.ops import forked
    from connector.reports import build

    class Failing(forked.Forked[object]):
        def __init__(self, work: Callable[[], object]) -> None:
            super().__init__(lambda: os._exit(9))

    _fill(ledger, [*TASKS, *_seeded_world(15, 100)])
    _classify_stored(ledger, AS_OF)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=AS_OF)
    monkeypatch.setattr(build, "can_fork", lambda: True)
    monkeypatch.setattr(build, "Forked", Failing)
    with open_reader(ledger.url) as plain, capture_logs() as logs:
        in_two = report_current(plain, _in_halves(1), options, CAL)
        in_one = report_current(plain, _in_halves(0), options, CAL)
    failed = [e for e in logs if e["event"] == "report_half_failed"]
    assert len(failed) == 1
    assert "exit code 9" in failed[0]["reason"]
    assert failed[0]["log_level"] == "warning"
    halves = [e for e in logs if e["event"] == "report_read_in_halves"]
    assert halves[0]["lower"] + halves[0]["upper"] == len(TASKS) + 100
    assert in_two.total.total > 0
    assert in_two == in_one


@pytest.mark.skipif(not can_fork(), reason="needs Linux, two CPUs and one thread")
def test_a_past_days_report_read_in_two_processes_is_the_report_read_in_one(
    ledger: Ledger,
) -> None:
    """``report --as-of`` (rebuilt from the snapshots) through the commands' reader in two
    halves is the report read in one: figure for figure, line for line; what the ledger
    learnt later is still left out by both."""
    world = [*TASKS, *_seeded_world(15, 400)]
    _fill(ledger, world)
    later = at(AS_OF + timedelta(days=3), 9)
    with ledger.transaction() as session:  # news the past day's report must not see
        for t in world[::7]:
            done = replace(t, state=TaskState.DONE, completed_at=later, last_modified=later)
            repo.upsert_task(session, done, {}, run_id="r3", observed_at=later)
    options = ReportOptions.from_settings(SETTINGS.report, as_of=AS_OF)
    with open_reader(ledger.url) as plain, capture_logs() as logs:
        in_one = report_as_of(plain, _in_halves(0), options, CAL)
        in_two = report_as_of(plain, _in_halves(1), options, CAL)
    halves = [e for e in logs if e["event"] == "report_read_in_halves"]
    assert len(halves) == 1
    assert halves[0]["lower"] > 0
    assert halves[0]["upper"] > 0
    assert in_one.total.total > 0
    assert in_two == in_one
    assert render(in_two, "json", "vi") == render(in_one, "json", "vi")
    assert in_one != report_current(ledger, SETTINGS, options, CAL)  # the news is left out


# -- the alert preview reads the stored readings as the report does --------------------------------


def _fully_judged_preview(ledger: Ledger, as_of: date) -> list[AlertIntent]:
    """The alert preview of every task judged in full (`judged`: the text read again)."""
    policy = policy_from_settings(SETTINGS.deadlines)
    out: list[AlertIntent] = []
    with reading(ledger) as r:
        units = units_by_code(r)
        rows = list(iter_tasks(r))
        recorded = alert_keys_by_task(r, [row.source_id for row in rows])
        for row, j in judged(
            rows, as_of, CAL, policy, task_of=ledger_task, event="x", facts=ledger_facts(r)
        ):
            context = alert_context(row, units, SETTINGS, judgement=j)
            out += alert_intents(
                j.task,
                j.classification,
                as_of,
                CAL,
                SETTINGS.alerts,
                existing_keys=recorded[row.source_id],
                context=context,
            )
    return out


@pytest.mark.parametrize("as_of", [AS_OF, date(2022, 4, 12)], ids=["day", "earlier-day"])
def test_the_alert_preview_from_stored_readings_equals_the_fully_judged_preview(
    ledger: Ledger, as_of: date
) -> None:
    """After the classification step of the day, `preview_alerts` takes the kind and the
    recurrence rule it stored and is still the preview of every task fully judged (overdue and
    no-deadline reminders among them); tasks whose stored reading is stale
    (another key, or stamped by a run of a later day) are judged again, although their stored
    reading is false."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    key = _classify_stored(ledger, as_of)
    stale = _without_deadline(ledger, as_of)[:40]
    _falsify(ledger, stale, kind="product")
    with ledger.transaction() as session:
        next_day = as_of + timedelta(days=1)
        stamp_rechecks(session, dict.fromkeys(stale[:20], next_day), key="other", checked_on=as_of)
        later = as_of + timedelta(days=3)
        stamp_rechecks(
            session,
            dict.fromkeys(stale[20:], later + timedelta(days=30)),
            key=key,
            checked_on=later,
        )
    fast = preview_alerts(ledger, SETTINGS, as_of, calendar=CAL)
    full = _fully_judged_preview(ledger, as_of)
    assert {i.type.value for i in full} >= {"QUA_HAN", "DON_DOC_KHONG_HAN"}
    assert fast == full


def test_a_current_stored_reading_is_what_the_alert_preview_reads(ledger: Ledger) -> None:
    """The preview of the classification step's day reads the stored kind, not the text: a
    stored kind changed by hand changes the missing-deadline and no-deadline alerts (so the
    text is not read for those tasks); the preview of a day before it reads the text again."""
    _fill(ledger, [*TASKS, *_seeded_world(15, 400)])
    _classify_stored(ledger, AS_OF)
    before = preview_alerts(ledger, SETTINGS, AS_OF, calendar=CAL)
    assert before == _fully_judged_preview(ledger, AS_OF)
    _falsify(ledger, _without_deadline(ledger, AS_OF), kind="product")
    after = preview_alerts(ledger, SETTINGS, AS_OF, calendar=CAL)
    missing = {i.task_id for i in after if i.type.value == "THIEU_THOI_HAN"}
    assert missing > {i.task_id for i in before if i.type.value == "THIEU_THOI_HAN"}
    reminded = [
        {i.task_id for i in p if i.type.value == "DON_DOC_KHONG_HAN"} for p in (before, after)
    ]
    assert reminded[0] != reminded[1]
    day_before = AS_OF - timedelta(days=1)  # judged as of a later day: not trusted
    assert preview_alerts(ledger, SETTINGS, day_before, calendar=CAL) == _fully_judged_preview(
        ledger, day_before
    )
