"""Push-back acceptance, counted at the simulator: each alert and tracking status delivered once.

* ten syncs without any change: every qualifying alert and every tracking status arrives once,
  runs 2 to 10 send nothing, and the echo of the tracking writes changes nothing in the ledger;
* sixty days, the simulator's clock and the connector's moved together a day at a time: each
  due-soon, overdue, weekly, quarterly and monthly alert arrives once, on the right working day;
* transient faults (429, 503 with HTML, dropped connections) change none of the counts;
* the connector SIGKILLed at each crash point of a delivery, then rerun: 0 duplicate, 0 missing.

Runs go through `connector.ops.jobs.run_job` (what ``idesk-connector sync`` calls) with the
simulator's clock; the kill tests run the CLI itself in child processes.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FixedClock, local_date
from connector.errors import SourceError
from connector.ledger.db import open_ledger
from connector.mapping.normalise import normalise
from connector.mapping.spec import load_mapping
from connector.models import Classification, NormalisedTask, StatusCode, TaskFacts, TaskKind
from connector.ops.jobs import JobResult, run_job
from connector.outbox.delivery import TokenBucket, deliver_pending
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import DEFAULT_POLICY, add_months, classify
from connector.rules.judge import judge
from connector.rules.kinds import read_kind
from connector.rules.recurring import Occurrence
from connector.settings import (
    Settings,
)
from connector.source.pull import default_client, pull
from simulator import Faults, Scenario, Simulator, SimulatorConfig
from tests.support.factories import make_settings
from tests.support.harness import ForkServer, Launcher, deployment_for, ledger_rows, ledger_tasks
from tests.support.timing import QuickSleep

CAL: WorkingCalendar = load_calendar()
SPEC = load_mapping("idesk")
OPEN = {StatusCode.DTH_TRONG_HAN, StatusCode.DTH_QUA_HAN, StatusCode.KHONG_THOI_HAN}
SEND = "/notifications/send.cpx"
TRACK = "/tasks/tracking.cpx"


ACCEPTANCE: dict[str, Any] = {
    "retry": {"max_attempts": 4, "initial_wait": 0.01, "max_wait": 0.05, "total_budget": 20},
    "push": {"rate_per_second": 20, "retry_initial_seconds": 60, "retry_max_seconds": 600},
}
"""Settings sections of these deployments (token authentication, a ledger in a directory)."""


def settings_for(sim: Simulator, home: Path, **sections: Any) -> Settings:
    """Settings of a deployment in `home` reading `sim` (`sections` replace `ACCEPTANCE`'s)."""
    return make_settings(
        sim, f"sqlite:///{home / 'ledger.db'}", auth="token", **{**ACCEPTANCE, **sections}
    )


def sync(sim: Simulator, settings: Settings, sleep: QuickSleep | None = None) -> JobResult:
    """One `sync` as cron runs it, on the simulator's clock."""
    return run_job(settings, "sync", clock=FixedClock(sim.now()), sleep=sleep or QuickSleep(0.02))


def world_tasks(sim: Simulator) -> dict[int, NormalisedTask]:
    with sim.world.lock:
        records = list(sim.world.snapshot().values())
    tasks = [normalise(r, SPEC) for r in records]
    return {t.source_id: t for t in tasks}


def held(day: date) -> date:
    return CAL.next_working_day_on_or_after(day)


def alert_keys(sim: Simulator) -> list[str]:
    return [n.idempotency_key for n in sim.notifications]


# -- an oracle of when alerts are due, written independently of connector.rules.alerts ----------------


@dataclass
class Expected:
    """(key → local date it must arrive) for a window of days [first, last]."""

    first: date
    last: date
    days: dict[str, date] = field(default_factory=dict)

    def series(self, keys_days: list[tuple[str, date]]) -> None:
        """A repeating alert: the latest one due on the first day, then each on its day."""
        before = [(k, d) for k, d in keys_days if d <= self.first]
        if before:
            self.days[before[-1][0]] = self.first
        for key, day in keys_days:
            if self.first < day <= self.last:
                self.days[key] = day


def _recurring(task: NormalisedTask, cls: Classification, last: date) -> tuple[Occurrence, ...]:
    """A recurring obligation's occurrences up to `last` (none for other tasks), judged by its
    one progress report (the tasks do not change during these tests)."""
    reports = (local_date(task.last_report_at),) if task.last_report_at else ()
    judged = judge(task, cls, CAL, DEFAULT_POLICY, TaskFacts(report_dates=reports))
    if judged.recurring is None:
        return ()
    as_of_last = judge(
        task, classify(task, last, CAL), CAL, DEFAULT_POLICY, TaskFacts(report_dates=reports)
    )
    assert as_of_last.recurring is not None
    return as_of_last.recurring.occurrences


def _recurring_alerts(
    exp: Expected, tid: int, found: tuple[Occurrence, ...], first: date, last: date
) -> None:
    """Per occurrence not reported: due soon on the first working day with at most 3 working
    days left; overdue the day after its due date, then weekly while its period's window is
    open. On each working day only the newest occasion of each type is sent, and an overdue one
    only while it is less than 7 days old."""
    soon: list[tuple[str, date, date]] = []  # key, first day, last day
    overdue: list[tuple[str, date]] = []  # key, nominal day
    for occ in found:
        if occ.reported_on is not None:
            continue
        eff, tag = occ.eff_due, f"{occ.key}@{occ.eff_due}"
        day = eff
        while CAL.working_days_between(day, eff) <= 3:
            day -= timedelta(days=1)
        start = day + timedelta(days=1)
        while not CAL.is_working_day(start):
            start += timedelta(days=1)
        soon.append((f"alr:{tid}:SAP_DEN_HAN:{tag}", start, eff))
        k, nominal = 1, eff + timedelta(days=1)
        while nominal <= last and (k == 1 or nominal <= occ.window_end):
            overdue.append((f"alr:{tid}:QUA_HAN:{tag}#{k}", nominal))
            k += 1
            nominal = eff + timedelta(days=1 + 7 * (k - 1))
    day = first
    while day <= last:
        if CAL.is_working_day(day):
            due_soon = [key for key, start, end in soon if start <= day <= end]
            if due_soon:
                exp.days.setdefault(due_soon[-1], day)
            passed = sorted((n, key) for key, n in overdue if held(n) <= day)
            if passed and (day - passed[-1][0]).days < 7:
                exp.days.setdefault(passed[-1][1], day)
        day += timedelta(days=1)


def expected_alerts(tasks: dict[int, NormalisedTask], first: date, last: date) -> Expected:
    exp = Expected(first, last)
    for tid, task in tasks.items():
        if not task.deleted:
            _confirmation_requests(exp, tid, task, first, last)
        cls = classify(task, first, CAL)
        if cls.status not in OPEN or task.deleted:
            continue
        eff = cls.eff_due
        if eff is not None:
            # overdue: the day after eff_due, then every 7 days (held to working days)
            weekly = [
                (f"alr:{tid}:QUA_HAN:{eff}#{k}", held(eff + timedelta(days=1 + 7 * (k - 1))))
                for k in range(1, 200)
            ]
            exp.series([(k, d) for k, d in weekly if d <= last])
            # due soon: the first working day with at most 3 working days left: those after
            # the day, up to and including eff_due
            day = first
            while day <= min(eff, last):
                left = CAL.working_days_between(day, eff)
                if CAL.is_working_day(day) and left <= 3:
                    exp.days[f"alr:{tid}:SAP_DEN_HAN:{eff}"] = day
                    break
                day += timedelta(days=1)
        elif _recurring(task, cls, last):
            _recurring_alerts(exp, tid, _recurring(task, cls, last), first, last)
        else:
            assigned = local_date(task.assigned_at) if task.assigned_at else task.doc_date
            assert assigned is not None
            urges = [
                (f"alr:{tid}:DON_DOC_KHONG_HAN:{k}", held(add_months(assigned, 3 * k)))
                for k in range(1, 200)
            ]
            exp.series([(k, d) for k, d in urges if d <= last])
            if (first - assigned).days <= 7 and read_kind(task).kind is TaskKind.PRODUCT:
                exp.days[f"alr:{tid}:THIEU_THOI_HAN:{assigned}"] = first
    return exp


DONE = {StatusCode.HT_DUNG_HAN, StatusCode.HT_QUA_HAN, StatusCode.HT_KHONG_HAN}


def _confirmation_requests(
    exp: Expected, tid: int, task: NormalisedTask, first: date, last: date
) -> None:
    """DE_NGHI_XAC_NHAN of each month: from three working days before the cut-off (25th) to
    the cut-off, to a task not confirmed that is open, or completed after the previous month's
    cut-off, on the day it is asked."""
    month = date(first.year, first.month, 1)
    while month <= last:
        cutoff = date(month.year, month.month, 25)
        previous = add_months(cutoff, -1)
        ask = cutoff
        for _ in range(3):  # three working days before the cut-off
            ask -= timedelta(days=1)
            while not CAL.is_working_day(ask):
                ask -= timedelta(days=1)
        on = max(ask, first)
        if on <= min(cutoff, last):
            cls = classify(task, on, CAL)
            done_since = (
                cls.status in DONE and cls.completed_on is not None and cls.completed_on > previous
            )
            if cls.unconfirmed and not cls.not_yet_assigned and (cls.status in OPEN or done_since):
                exp.days[f"alr:{tid}:DE_NGHI_XAC_NHAN:{month:%Y-%m}"] = on
        month = add_months(month, 1)


# -- ten unchanged runs --------------------------------------------------------------------------


def test_ten_syncs_without_change_deliver_everything_once(tmp_path: Path) -> None:
    """Every qualifying alert and tracking status arrives once; runs 2-10 send nothing."""
    config = SimulatorConfig(tasks=24, seed=11, faults=Faults.none())
    with Simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        today = sim.core.today()
        sim.add_tasks(2, scenario=Scenario.OPEN_NO_DEADLINE)  # new assignments, no deadline
        tasks = world_tasks(sim)
        results: list[JobResult] = []
        requests: list[tuple[int, int]] = []
        for _ in range(10):
            results.append(sync(sim, settings))
            requests.append((sim.count_requests(SEND), sim.count_requests(TRACK)))
        assert all(r.outcome.value == "success" for r in results)
        assert len(set(requests)) == 1, f"runs 2-10 sent something: {requests}"
        keys = alert_keys(sim)
        assert len(keys) == len(set(keys))
        expected = expected_alerts(tasks, today, today)
        assert sorted(keys) == sorted(expected.days)
        assert {"QUA_HAN", "SAP_DEN_HAN", "THIEU_THOI_HAN"} <= {k.split(":")[2] for k in keys}
        # one tracking write per task, the status the ledger computed
        writes = sim.tracking_writes
        live = [tid for tid, task in tasks.items() if not task.deleted]  # deleted: not written
        assert len(live) < len(tasks)
        assert Counter(w.task_id for w in writes) == Counter(dict.fromkeys(live, 1))
        ledger = ledger_tasks(tmp_path / "ledger.db")
        for write in writes:
            row = ledger[write.task_id]
            assert write.tracking_status == row["status_code"] == row["acked_tracking_status"]
        # the echo of the writes was read back and changed nothing
        second = results[1].pull
        assert second is not None and second.fetched >= len(writes)
        assert (second.updated, second.snapshots, second.history_rows, second.planned) == (
            0,
            0,
            0,
            0,
        )
        outbox = ledger_rows(tmp_path / "ledger.db", "outbox")
        assert {r["state"] for r in outbox} <= {"sent", "past"}


def test_a_task_whose_newer_record_is_quarantined_is_held_until_the_record_is_valid(
    tmp_path: Path,
) -> None:
    """An overdue task is completed at the source with a completion date nobody can read: its
    newer record is quarantined, and the overdue alert planned from its last good version is
    held (never sent) while every other row goes out; once the record arrives valid the alert
    is superseded and the task's completed status is written."""
    config = SimulatorConfig(tasks=24, seed=11, faults=Faults.none())
    with Simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        ledger_path = tmp_path / "ledger.db"
        clock = FixedClock(sim.now())
        run_job(settings, "pull", clock=clock, sleep=QuickSleep(0.02))
        pending = [
            r
            for r in ledger_rows(ledger_path, "outbox")
            if r["kind"] == "alert" and r["state"] == "pending"
        ]
        overdue = [r for r in pending if r["alert_type"] == "QUA_HAN"]
        assert overdue, "the world has an overdue task with an alert to send"
        tid = overdue[0]["task_id"]
        others = {r["idempotency_key"] for r in pending if r["task_id"] != tid}
        assert others
        sim.complete_task(tid)
        with sim.world.lock:
            record = sim.world.tasks[sim.world.key_of(tid)]
            record["completeDate"] = "Feb 30, 2026, 12:00:00 AM"
            record["completeDateStr"] = "2026-02-30T17:00:00+00:00"

        held = sync(sim, settings)
        assert held.outcome.value == "problems"  # the quarantined record: exit 1
        quarantined = [q for q in ledger_rows(ledger_path, "quarantine") if q["task_id"] == tid]
        assert len(quarantined) == 1 and quarantined[0]["resolved_at"] is None
        sent = {n.idempotency_key for n in sim.notifications}
        assert not [k for k in sent if k.startswith(f"alr:{tid}:")]
        assert others <= sent  # every other task's alerts went out
        assert tid not in {w.task_id for w in sim.tracking_writes}
        assert held.push is not None and held.push.held >= 1
        assert held.counts()["held_quarantined"] == held.push.held
        rows = {r["idempotency_key"]: r for r in ledger_rows(ledger_path, "outbox")}
        assert rows[overdue[0]["idempotency_key"]]["state"] == "pending"

        sim.complete_task(tid)  # the unit saves it again: a valid completion date
        fixed = sync(sim, settings)
        assert fixed.outcome.value == "success"
        assert [q["resolved_at"] for q in ledger_rows(ledger_path, "quarantine")] != [None]
        assert not [n for n in sim.notifications if n.idempotency_key.startswith(f"alr:{tid}:")]
        rows = {r["idempotency_key"]: r for r in ledger_rows(ledger_path, "outbox")}
        assert rows[overdue[0]["idempotency_key"]]["state"] == "superseded"
        written = [w.tracking_status for w in sim.tracking_writes if w.task_id == tid]
        assert written == ["HT_QUA_HAN"]
        assert fixed.push is not None and fixed.push.held == 0


def test_a_sync_with_session_logins_and_expiries_on_several_threads_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Session login, push.concurrency 4, and the simulator forcing a third of the requests'
    sessions to expire once half a second old: every expiry is one login again, and the sync
    delivers everything and ends in success. (A thread whose request had been refused sent it
    again with a session another thread had just opened, and took that session's expiry for
    its own fresh login failing: 'the session expired again right after a fresh login', exit
    3.)"""
    import simulator.api

    monkeypatch.setattr(simulator.api, "FRESH_SESSION_SECONDS", 0.5)
    faults = Faults(rate_limit=0, expire=0.3, seed=5)
    config = SimulatorConfig(tasks=200, seed=11, faults=faults, frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            **{**ACCEPTANCE, "push": {**ACCEPTANCE["push"], "concurrency": 4}},
        )
        result = sync(sim, settings)
        assert result.outcome.value == "success"
        assert result.push is not None and result.push.failed == 0
        assert sim.count_requests(fault="expire") >= 2
        assert sim.count_requests(TRACK) >= 150


# -- sixty days ----------------------------------------------------------------------------------


def test_sixty_days_each_alert_once_on_its_working_day(tmp_path: Path) -> None:
    """Day by day for 60 days: each alert once, on the working day its rule names."""
    config = SimulatorConfig(tasks=20, seed=9, faults=Faults.none())
    with Simulator(config) as sim:
        settings = settings_for(sim, tmp_path)
        sim.add_tasks(4, scenario=Scenario.OPEN_IN_TIME)
        sim.add_tasks(1, scenario=Scenario.DUE_SOON)
        tasks = world_tasks(sim)
        first = sim.core.today()
        last = first + timedelta(days=60)
        with open_ledger(settings.ledger.url) as ledger:
            day = 0
            while sim.core.today() <= last:
                # pull, classify + plan, deliver: the library calls `sync` makes, on one ledger
                clock = FixedClock(sim.now())
                pull(settings, run_id=f"day{day}", clock=clock, ledger=ledger, calendar=CAL)
                with default_client(settings, SPEC, QuickSleep(0.02)) as client:
                    pushed = deliver_pending(
                        ledger, client, settings, f"day{day}", clock, bucket=TokenBucket(100)
                    )
                assert (pushed.failed, pushed.dead) == (0, 0)
                sim.advance(timedelta(days=1))
                day += 1
        notes = sim.notifications
        arrived = {n.idempotency_key: local_date(n.created) for n in notes}
        assert len(arrived) == len(notes), "a notification arrived twice"
        assert all(CAL.is_working_day(day) for day in arrived.values())
        expected = expected_alerts(tasks, first, last)
        missing = sorted(set(expected.days) - set(arrived))
        extra = sorted(set(arrived) - set(expected.days))
        wrong_day = sorted(
            (k, str(arrived[k]), str(d)) for k, d in expected.days.items() if arrived.get(k, d) != d
        )
        assert (missing, extra, wrong_day) == ([], [], [])
        kinds = Counter(k.split(":")[2] for k in arrived)
        assert kinds["QUA_HAN"] >= 8 and kinds["SAP_DEN_HAN"] >= 1
        assert kinds["DE_NGHI_XAC_NHAN"] >= 1 and kinds["DON_DOC_KHONG_HAN"] >= 1
        # tracking: one write per task and status it went through, none twice
        writes = sim.tracking_writes
        assert len({w.idempotency_key for w in writes}) == len(writes)
        for tid, task in tasks.items():
            if task.deleted:
                assert not [w for w in writes if w.task_id == tid]
                continue
            statuses: list[str] = []
            day = first
            while day <= last:
                status = classify(task, day, CAL).status.value
                if not statuses or statuses[-1] != status:
                    statuses.append(status)
                day += timedelta(days=1)
            assert [w.tracking_status for w in writes if w.task_id == tid] == statuses, tid


# -- transient faults ----------------------------------------------------------------------------


def _deliver_until_done(
    sim: Simulator, settings: Settings, sleep: QuickSleep | None = None, runs: int = 12
) -> None:
    for _ in range(runs):
        with contextlib.suppress(SourceError):  # a run that gave up: the next carries on
            sync(sim, settings, sleep)
        outbox = ledger_rows(Path(settings.ledger.url.removeprefix("sqlite:///")), "outbox")
        if outbox and all(r["state"] in ("sent", "past") for r in outbox):
            return
        sim.advance(timedelta(minutes=15))  # past the backoff, the same day
    raise AssertionError("deliveries did not finish")


def _more_alerts(sim: Simulator) -> None:
    """New assignments that call for alerts (the same in identically seeded simulators)."""
    sim.add_tasks(3, scenario=Scenario.DUE_SOON)
    sim.add_tasks(2, scenario=Scenario.OPEN_NO_DEADLINE)


def test_transient_faults_change_no_count(tmp_path: Path) -> None:
    """429s, 503 with HTML and dropped connections: the same notifications and writes, once."""
    config = SimulatorConfig(tasks=16, seed=21, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as clean:
        _more_alerts(clean)
        _deliver_until_done(clean, settings_for(clean, tmp_path / "clean"))
        want_notes = sorted(alert_keys(clean))
        want_writes = sorted(w.idempotency_key for w in clean.tracking_writes)
    faults = Faults(rate_limit=15, http5xx=0.1, drop=0.1, seed=3)
    config = SimulatorConfig(tasks=16, seed=21, faults=faults, frozen_clock=True)
    with Simulator(config) as sim:
        _more_alerts(sim)
        # retries wait for real (up to 0.1 s): the simulator's rate limit refills in real time
        retry = {"max_attempts": 5, "initial_wait": 0.02, "max_wait": 0.1, "total_budget": 10}
        faulty = settings_for(sim, tmp_path / "faulty", retry=retry)
        _deliver_until_done(sim, faulty, QuickSleep(0.1))
        hits = {
            fault: sum(sim.count_requests(e, fault=fault) for e in (SEND, TRACK))
            for fault in ("drop", "http5xx", "rate_limit")
        }
        assert all(hits.values()), f"every fault must hit a delivery: {hits}"
        assert sorted(alert_keys(sim)) == want_notes
        assert sorted(w.idempotency_key for w in sim.tracking_writes) == want_writes
        assert len(want_notes) >= 5 and len(want_writes) >= 18


# -- SIGKILL at each crash point -----------------------------------------------------------------


CRASH_TOML = """
[push]
rate_per_second = 20
concurrency = 1
"""
"""One delivery at a time, so that each crash point falls between the steps of one row (the
pool of senders and its batches: `test_sigkill_while_senders_work_in_batches_then_rerun`)."""


def _requests_with_key(sim: Simulator, key: str) -> int:
    return sum(
        1
        for q in sim.requests
        if q.endpoint in (SEND, TRACK) and q.header("Idempotency-Key") == key
    )


def _events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            events.append(json.loads(line))
    return events


# Deliveries of this world in order: 1 tracking, 2 alert, 3 tracking, ... (seed 4, 10 tasks).
@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "kind"),
    [
        pytest.param("before_intent_commit", "", id="before-intent-commit"),
        pytest.param("after_mark_sending@2", "alert", id="after-mark-sending"),
        pytest.param("after_request_sent@2", "alert", id="after-request-sent-alert"),
        # the 4 alerts go first (connector.ledger.outbox.due_ids): the 6th send is a tracking write
        pytest.param("after_request_sent@6", "tracking", id="after-request-sent-tracking"),
        pytest.param("after_response@2", "alert", id="after-response"),
        pytest.param("after_mark_sent@2", "", id="after-mark-sent"),
    ],
)
def test_sigkill_at_each_crash_point_then_rerun(
    tmp_path: Path, forks: ForkServer, point: str, kind: str
) -> None:
    """`sync` SIGKILLed at a crash point, then rerun: 0 duplicate, 0 missing, none in doubt."""
    config = SimulatorConfig(tasks=10, seed=4, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(
            sim,
            tmp_path,
            extra_toml=CRASH_TOML,
            extra_env={"IDESK_CONNECTOR_CRASH_AT": point},
        )
        launcher = Launcher(dep, forks)
        crashed = launcher.run("sync", timeout=60)
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        name = point.split("@", maxsplit=1)[0]
        assert f"crash point {name} reached" in crashed.stderr
        before = ledger_rows(dep.ledger_path, "outbox")
        if name == "before_intent_commit":
            assert before == []  # the intents died with the transaction that planned them
        in_doubt = [r for r in before if r["state"] == "sending"]
        assert [r["kind"] for r in in_doubt] == ([kind] if kind else [])
        dep.extra_env = {}
        rerun = launcher.run("sync", timeout=60)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        sends = (sim.count_requests(SEND), sim.count_requests(TRACK))
        again = launcher.run("sync", timeout=60)
        assert again.returncode == 0, again.stderr[-2000:]
        assert (sim.count_requests(SEND), sim.count_requests(TRACK)) == sends, "sent again"

        outbox = ledger_rows(dep.ledger_path, "outbox")
        assert {r["state"] for r in outbox} <= {"sent", "past"}
        sent = {
            k: {r["idempotency_key"] for r in outbox if r["kind"] == k and r["state"] == "sent"}
            for k in ("alert", "tracking")
        }
        keys = alert_keys(sim)
        assert len(keys) == len(set(keys)), "a duplicate notification"
        assert set(keys) == sent["alert"], "a notification missing, or sent and not recorded"
        writes = [w.idempotency_key for w in sim.tracking_writes]
        assert len(writes) == len(set(writes)) and set(writes) == sent["tracking"]
        assert sent["alert"] and sent["tracking"]
        by_id = {n.idempotency_key: n.id for n in sim.notifications}
        for row in outbox:
            if row["kind"] == "alert" and row["state"] == "sent":
                assert row["response_id"] == by_id[row["idempotency_key"]]
        tasks = ledger_tasks(dep.ledger_path)
        assert all(t["acked_tracking_status"] == t["status_code"] for t in tasks.values())
        if in_doubt:
            key = in_doubt[0]["idempotency_key"]
            reached = name in ("after_request_sent", "after_response")
            if kind == "alert":  # reconciled through the list, never sent twice
                assert _requests_with_key(sim, key) == 1
                reconciled = [e for e in _events(dep.log_path) if e["event"] == "outbox_reconciled"]
                assert [e["key"] for e in reconciled] == ([key] if reached else [])
            else:  # sent again with the same key: the source replayed it
                assert _requests_with_key(sim, key) == (2 if reached else 1)


POOL_TOML = """
[push]
rate_per_second = 50
concurrency = 4
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    [
        pytest.param("after_mark_sending@3", id="batch-claimed"),
        pytest.param("after_request_sent@7", id="sent-not-recorded"),
        pytest.param("after_mark_sent@5", id="batch-recorded"),
    ],
)
def test_sigkill_while_senders_work_in_batches_then_rerun(
    tmp_path: Path, forks: ForkServer, point: str
) -> None:
    """Four senders, rows claimed and recorded in batches: `sync` SIGKILLed with several rows
    in doubt at once, then rerun: 0 duplicate, 0 missing, none left in doubt."""
    config = SimulatorConfig(tasks=16, seed=4, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(
            sim, tmp_path, extra_toml=POOL_TOML, extra_env={"IDESK_CONNECTOR_CRASH_AT": point}
        )
        launcher = Launcher(dep, forks)
        crashed = launcher.run("sync", timeout=60)
        assert crashed.returncode == -9, crashed.stderr[-2000:]
        in_doubt = [r for r in ledger_rows(dep.ledger_path, "outbox") if r["state"] == "sending"]
        if not point.startswith("after_mark_sent"):
            assert len(in_doubt) > 1  # a batch was claimed: several rows in doubt at once
        dep.extra_env = {}
        rerun = launcher.run("sync", timeout=60)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        sends = (sim.count_requests(SEND), sim.count_requests(TRACK))
        again = launcher.run("sync", timeout=60)
        assert again.returncode == 0, again.stderr[-2000:]
        assert (sim.count_requests(SEND), sim.count_requests(TRACK)) == sends, "sent again"
        outbox = ledger_rows(dep.ledger_path, "outbox")
        assert {r["state"] for r in outbox} <= {"sent", "past"}
        sent = {
            k: {r["idempotency_key"] for r in outbox if r["kind"] == k and r["state"] == "sent"}
            for k in ("alert", "tracking")
        }
        keys = alert_keys(sim)
        assert len(keys) == len(set(keys)), "a duplicate notification"
        assert set(keys) == sent["alert"], "a notification missing, or sent and not recorded"
        writes = [w.idempotency_key for w in sim.tracking_writes]
        assert len(writes) == len(set(writes)) and set(writes) == sent["tracking"]
        tasks = ledger_tasks(dep.ledger_path)
        assert all(t["acked_tracking_status"] == t["status_code"] for t in tasks.values())
