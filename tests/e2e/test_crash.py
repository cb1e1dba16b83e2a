"""Crash consistency: `sync` SIGKILLed at random moments, again and again, then rerun.

After every kill the ledger passes ``PRAGMA integrity_check``; after the final rerun it equals
the simulator's truth, every intent the connector planned reached the simulator exactly once
(no duplicate notification, no lost one) and no outbox row is left in doubt.

The kills land anywhere: a SIGKILL after a random delay hits start-up, the pages being
written, the classification and outbox planning, or a delivery; and a quarter of the runs also
arm one of the connector's crash points (`connector.ops.faultpoints`: SIGKILL at the worst moment of
a delivery, e.g. after the source answered but before the ledger knew). The random seed is printed; rerun one campaign with ``IDESK_CRASH_SEED``.

A second campaign SIGTERMs `sync`, `pull` and `push` at random moments (as ``systemctl stop``
does): each must exit 130 with its run recorded ``interrupted``, never ignore the signal, never
end as an internal error or print a raw traceback, and the rerun must leave the same ledger.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from connector.clock import SystemClock, local_today
from connector.ops.faultpoints import CRASH_POINTS
from connector.ops.faultpoints import ENV_VAR as CRASH_ENV
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import (
    ForkServer,
    Launcher,
    deployment_for,
    events_in,
    integrity_check,
    ledger_matches_world,
    ledger_rows,
    tracking_mismatches,
)

CI_KILLS = 50
SOAK_KILLS = int(os.environ.get("IDESK_CRASH_SOAK_KILLS", "400"))
SEED = int(os.environ.get("IDESK_CRASH_SEED", str(random.SystemRandom().randrange(10**6))))

TODAY = local_today(SystemClock())
"""The world is generated for the connector's real today, so its alerts are current ones."""

CRASH_TOML = """
[push]
rate_per_second = 20
[alerts]
hold_on_non_working_days = false
"""


@dataclass
class Figures:
    """What one campaign did and found (printed, and written next to the ledger)."""

    seed: int
    runs: int = 0
    kills: int = 0
    completed: int = 0
    final_runs: int = 0
    notifications: int = 0
    tracking_writes: int = 0
    duplicates: int = 0
    lost_tasks: int = 0
    lost_deliveries: int = 0
    orphan_notifications: int = 0
    in_doubt: int = 0
    tracking_mismatches: int = 0
    integrity_failures: int = 0
    kill_phases: dict[str, int] = field(default_factory=dict)


def _open_ids(sim: Simulator) -> list[int]:
    with sim.world.lock:
        return sorted(
            k
            for k, r in sim.world.tasks.items()
            if r.get("status") in ("received", "processing", "returned") and r.get("deleted") != "Y"
        )


def _mutate(sim: Simulator, rng: random.Random) -> None:
    """A few changes at the source, a minute of simulated time later."""
    sim.advance(timedelta(minutes=1))
    ids = _open_ids(sim)
    for task_id in rng.sample(ids, min(3, len(ids))):
        change = rng.choice(["complete", "deadline", "confirm", "progress", "withdraw", "delete"])
        if change == "complete":
            sim.complete_task(task_id)
        elif change == "deadline":
            sim.change_deadline(task_id, TODAY + timedelta(days=rng.randrange(-30, 30)))
        elif change == "confirm":
            sim.confirm_task(task_id)
        elif change == "progress":
            sim.report_progress(task_id, rng.randrange(101))
        elif change == "withdraw":
            sim.withdraw_task(task_id)
        else:
            sim.soft_delete(task_id)
    if rng.random() < 0.3:
        sim.add_tasks(1)


def _phase(stderr: str) -> str:
    """The last event a killed run logged: roughly where it died."""
    last = "start-up"
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                last = str(json.loads(line).get("event", last))
            except json.JSONDecodeError:
                last = "mid-line"
    return last


def _duplicates(sim: Simulator) -> int:
    """Extra copies of one notification (same type, task, recipients, title and text)."""
    seen = Counter((n.type, n.task_id, n.recipients, n.title, n.content) for n in sim.notifications)
    return sum(count - 1 for count in seen.values() if count > 1)


def crash_campaign(home: Path, forks: ForkServer, kills: int, seed: int) -> Figures:
    """Kill `kills` syncs at random moments, rerun to completion, and check everything."""
    figures = Figures(seed=seed)
    print(f"crash campaign seed {seed} (rerun it with IDESK_CRASH_SEED={seed})")
    rng = random.Random(seed)
    config = SimulatorConfig(
        tasks=30,
        seed=seed % 1000 + 1,
        today=TODAY,
        faults=Faults.none(),
        frozen_clock=True,
    )
    with Simulator(config) as sim:
        dep = deployment_for(sim, home, source_toml="page_size = 10", extra_toml=CRASH_TOML)
        launcher = Launcher(dep, forks)
        typical = 1.0  # seconds a run takes; learnt from the runs that complete
        while figures.kills < kills:
            if figures.runs % 2 == 0:
                _mutate(sim, rng)
            env = {}
            if rng.random() < 0.25:  # a third way to die: at the worst moment of a delivery
                point = rng.choice(sorted(CRASH_POINTS))
                env[CRASH_ENV] = f"{point}@{rng.randint(1, 3)}"
            started = time.monotonic()
            run = launcher.start("sync", env=env)
            figures.runs += 1
            code = run.wait(rng.uniform(0.0, typical * 1.3))
            if code is None:
                run.signal(signal.SIGKILL)
                code = run.wait(30)
            if code == -signal.SIGKILL:
                figures.kills += 1
                phase = env.get(CRASH_ENV, "").partition("@")[0] or _phase(run.stderr)
                figures.kill_phases[phase] = figures.kill_phases.get(phase, 0) + 1
            else:
                assert code in (0, 1), f"exit {code}:\n{run.stderr[-3000:]}"
                figures.completed += 1
                typical = 0.7 * typical + 0.3 * (time.monotonic() - started)
            if dep.ledger_path.exists() and integrity_check(dep.ledger_path) != "ok":
                figures.integrity_failures += 1
        # Rerun until a run has nothing left to deliver (the last one only re-reads).
        for _ in range(4):
            final = launcher.run("sync", "--format", "json", timeout=300)
            figures.final_runs += 1
            assert final.returncode in (0, 1), final.stderr[-3000:]
            counts = json.loads(final.stdout)["counts"]
            if counts.get("pushes_sent", 0) + counts.get("alerts_sent", 0) == 0:
                break
        assert integrity_check(dep.ledger_path) == "ok"
        differences = ledger_matches_world(dep.ledger_path, sim)
        figures.lost_tasks = len(differences)
        outbox = ledger_rows(dep.ledger_path, "outbox")
        sent_keys = {r["idempotency_key"] for r in outbox if r["state"] == "sent"}
        at_source = {n.idempotency_key for n in sim.notifications}
        alert_keys = {r["idempotency_key"] for r in outbox if r["kind"] == "alert"}
        figures.in_doubt = sum(r["state"] == "sending" for r in outbox)
        figures.lost_deliveries = len((sent_keys & alert_keys) - at_source) + sum(
            r["state"] in ("pending", "failed", "sending") for r in outbox
        )
        figures.orphan_notifications = len(at_source - sent_keys)
        figures.duplicates = _duplicates(sim)
        mismatched = tracking_mismatches(dep.ledger_path, sim)
        figures.tracking_mismatches = len(mismatched)
        figures.notifications = len(sim.notifications)
        figures.tracking_writes = len(sim.tracking_writes)
        (home / "crash-figures.json").write_text(json.dumps(asdict(figures), indent=2))
        print(f"crash campaign: {json.dumps(asdict(figures))}")
        assert differences == [], "\n".join(differences[:20])
        assert mismatched == [], "\n".join(mismatched[:20])
    return figures


def _assert_clean(figures: Figures, kills: int) -> None:
    assert figures.kills == kills
    assert figures.integrity_failures == 0
    assert figures.duplicates == 0
    assert figures.lost_tasks == 0
    assert figures.lost_deliveries == 0
    assert figures.orphan_notifications == 0
    assert figures.in_doubt == 0
    assert figures.notifications > 0, "the campaign must actually deliver alerts"


@pytest.mark.slow
def test_sigkill_at_random_moments_then_rerun(tmp_path: Path, forks: ForkServer) -> None:
    """50 random SIGKILLs during sync: integrity ok, ledger = truth, 0 duplicate, 0 lost."""
    figures = crash_campaign(tmp_path, forks, CI_KILLS, SEED)
    _assert_clean(figures, CI_KILLS)


@pytest.mark.soak
def test_sigkill_soak(tmp_path: Path, forks: ForkServer, request: pytest.FixtureRequest) -> None:
    """The same, hundreds of times (opt-in: -m soak; IDESK_CRASH_SOAK_KILLS sets how many)."""
    if "soak" not in (request.config.option.markexpr or ""):
        pytest.skip("opt-in: run with -m soak")
    figures = crash_campaign(tmp_path, forks, SOAK_KILLS, SEED)
    _assert_clean(figures, SOAK_KILLS)


@pytest.mark.slow
def test_sigkill_of_the_console_script(tmp_path: Path) -> None:
    """The installed console script itself, SIGKILLed mid-delivery (held at a crash point until
    the kill lands), leaves a ledger a rerun completes."""
    config = SimulatorConfig(tasks=20, seed=7, today=TODAY, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path, extra_toml=CRASH_TOML)
        launcher = Launcher(dep)
        # After the source applied a write and before the ledger knew: the worst moment.
        run = launcher.start("sync", env={CRASH_ENV: "after_request_sent@3:wait"})
        deadline = time.monotonic() + 60
        while "crash point after_request_sent reached: waiting" not in run.stderr:
            code = run.wait(0.01)
            assert code is None, f"the run ended ({code}) before its crash point:\n{run.stderr}"
            assert time.monotonic() < deadline, "the run never reached its crash point"
        run.signal(signal.SIGKILL)
        assert run.wait(30) == -signal.SIGKILL, "the kill did not land"
        assert "reached: SIGKILL" not in run.stderr  # our kill, not the point's own
        assert integrity_check(dep.ledger_path) == "ok"
        assert any(r["state"] == "sending" for r in ledger_rows(dep.ledger_path, "outbox"))
        final = launcher.run("sync")
        assert final.returncode in (0, 1), final.stderr[-3000:]
        launcher.run("sync")
        assert ledger_matches_world(dep.ledger_path, sim) == []
        assert _duplicates(sim) == 0


TERM_KILLS = 40


def _run_ids(stderr: str) -> set[str]:
    return {str(e["run_id"]) for e in events_in(stderr) if e.get("run_id")}


def _outcomes(ledger: Path) -> dict[str, str]:
    """The recorded runs' outcomes by id ({} while the ledger has no schema yet)."""
    try:
        return {r["run_id"]: r["outcome"] for r in ledger_rows(ledger, "sync_run")}
    except sqlite3.OperationalError:
        return {}


def sigterm_campaign(home: Path, forks: ForkServer, kills: int, seed: int) -> dict[str, int]:
    """SIGTERM `kills` runs of `sync`, `pull` and `push` at random moments; after each, check
    what the exit-code table promises (130, the `interrupted` line, the run recorded
    `interrupted`), then rerun to completion and check the ledger against the source."""
    print(f"sigterm campaign seed {seed} (rerun it with IDESK_CRASH_SEED={seed})")
    rng = random.Random(seed)
    figures = {"runs": 0, "interrupted": 0, "finished": 0, "outside": 0}
    config = SimulatorConfig(
        tasks=30, seed=seed % 1000 + 1, today=TODAY, faults=Faults.none(), frozen_clock=True
    )
    with Simulator(config) as sim:
        dep = deployment_for(sim, home, source_toml="page_size = 10", extra_toml=CRASH_TOML)
        launcher = Launcher(dep, forks)
        typical = 1.0
        while figures["interrupted"] < kills:
            if figures["runs"] % 2 == 0:
                _mutate(sim, rng)
            command = rng.choice(["sync", "pull", "push"])
            started = time.monotonic()
            run = launcher.start(command)
            figures["runs"] += 1
            code = run.wait(rng.uniform(0.0, typical * 1.3))
            if code is None:
                run.signal(signal.SIGTERM)
                code = run.wait(60)
            stderr = run.stderr
            said = [line for line in stderr.splitlines() if not line.startswith("{")]
            assert "Traceback" not in stderr, stderr[-3000:]
            if code == -signal.SIGTERM:  # outside the job: start-up, or its summary printed
                outcomes = _outcomes(dep.ledger_path)
                left = [outcomes[i] for i in _run_ids(stderr) & set(outcomes)]
                assert "running" not in left, "a run killed by the signal's default action"
                figures["outside"] += 1
                continue
            if code == 130:
                figures["interrupted"] += 1
                assert said and said[-1].startswith("interrupted: stopped by SIGTERM"), said
                outcomes = _outcomes(dep.ledger_path)
                for run_id in _run_ids(stderr) & set(outcomes):
                    assert outcomes[run_id] == "interrupted", (command, outcomes[run_id])
            else:
                assert code in (0, 1), f"{command}: exit {code}:\n{stderr[-3000:]}"
                received = [e for e in events_in(stderr) if e.get("event") == "signal_received"]
                assert all(e["deferred"] for e in received), "a SIGTERM ignored:\n" + stderr
                figures["finished"] += 1
                typical = 0.7 * typical + 0.3 * (time.monotonic() - started)
            if dep.ledger_path.exists():
                assert integrity_check(dep.ledger_path) == "ok"
        for _ in range(4):
            final = launcher.run("sync", "--format", "json", timeout=300)
            assert final.returncode in (0, 1), final.stderr[-3000:]
            counts = json.loads(final.stdout)["counts"]
            if counts.get("pushes_sent", 0) + counts.get("alerts_sent", 0) == 0:
                break
        assert ledger_matches_world(dep.ledger_path, sim) == []
        assert tracking_mismatches(dep.ledger_path, sim) == []
        assert _duplicates(sim) == 0
        outbox = ledger_rows(dep.ledger_path, "outbox")
        assert not [r for r in outbox if r["state"] in ("pending", "failed", "sending")]
        at_source = {n.idempotency_key for n in sim.notifications}
        assert at_source <= {r["idempotency_key"] for r in outbox if r["state"] == "sent"}
        runs = ledger_rows(dep.ledger_path, "sync_run")
        assert not [r for r in runs if r["outcome"] in ("running", "abandoned", "failed")]
    print(f"sigterm campaign: {json.dumps(figures)}")
    return figures


@pytest.mark.slow
def test_sigterm_at_random_moments_then_rerun(tmp_path: Path, forks: ForkServer) -> None:
    """40 SIGTERMs at random moments of sync, pull and push: each exits 130 with the
    `interrupted` line and its run recorded `interrupted` (never left running, abandoned or
    failed, never an internal error or a raw traceback, never ignored); then the ledger equals
    the source, every alert delivered once."""
    figures = sigterm_campaign(tmp_path, forks, TERM_KILLS, SEED)
    assert figures["interrupted"] == TERM_KILLS
