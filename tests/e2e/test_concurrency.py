"""Two `sync` runs started together, 50 times: never two running at once.

The loser exits at once with 75 and a ``lock_held`` event (or, with ``--wait``, runs after the
winner); the recorded runs never overlap in time.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import (
    ForkServer,
    Launcher,
    Run,
    deployment_for,
    events_named,
    integrity_check,
    ledger_rows,
)

PAIRS = 50


def _overlaps(path: Path) -> list[tuple[str, str]]:
    """Pairs of recorded runs whose [start, end] intervals intersect."""
    runs = sorted(
        (
            datetime.fromisoformat(r["started_at"]),
            datetime.fromisoformat(r["ended_at"]),
            r["run_id"],
        )
        for r in ledger_rows(path, "sync_run")
        if r["ended_at"] is not None
    )
    return [
        (a[2], b[2])
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
        if b[0] < a[1]  # sorted by start: b started before a ended
    ]


def _race(launcher: Launcher, *args: str) -> tuple[Run, Run]:
    first = launcher.start("sync", *args)
    second = launcher.start("sync", *args)
    for run in (first, second):
        assert run.wait(120) is not None, "a run did not finish"
    return first, second


@pytest.mark.slow
def test_two_syncs_started_together_never_overlap(tmp_path: Path, forks: ForkServer) -> None:
    """50 simultaneous pairs: one runs, the other exits 75 with lock_held; no overlap recorded."""
    config = SimulatorConfig(tasks=10, seed=3, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path)
        launcher = Launcher(dep, forks)
        assert launcher.run("sync").returncode in (0, 1)  # the ledger exists and is migrated
        outcomes: dict[tuple[int, ...], int] = {}
        for _ in range(PAIRS):
            pair = _race(launcher)
            codes = tuple(sorted(r.returncode or 0 for r in pair))
            outcomes[codes] = outcomes.get(codes, 0) + 1
            assert codes in {(0, 75), (1, 75), (0, 0), (0, 1), (1, 1)}, codes
            for run in pair:
                if run.returncode == 75:
                    held = [e for e in _events(run) if e.get("event") == "lock_held"]
                    assert held and str(held[0]["lock"]).endswith("ledger.db.lock")
                    assert "--wait" in run.stderr
        print(f"concurrency: {PAIRS} pairs, exit codes {outcomes}")
        assert outcomes.get((0, 75), 0) + outcomes.get((1, 75), 0) >= PAIRS // 2, outcomes
        assert _overlaps(dep.ledger_path) == []
        assert integrity_check(dep.ledger_path) == "ok"


def _events(run: Run) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]


def test_wait_serialises_the_two_runs(tmp_path: Path, forks: ForkServer) -> None:
    """With --wait both runs succeed, one after the other, and their records do not overlap."""
    config = SimulatorConfig(tasks=10, seed=4, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path)
        launcher = Launcher(dep, forks)
        assert launcher.run("sync").returncode in (0, 1)
        waited = 0
        for _ in range(5):
            pair = _race(launcher, "--wait", "60")
            assert all(r.returncode in (0, 1) for r in pair), [r.stderr[-500:] for r in pair]
            waited += sum(bool(events_named(_events(r), "lock_waiting")) for r in pair)
        assert waited >= 1, "at least one run had to wait for the other"
        finished = [r for r in ledger_rows(dep.ledger_path, "sync_run") if r["ended_at"]]
        assert len(finished) == 11
        assert _overlaps(dep.ledger_path) == []


@pytest.mark.slow
def test_console_scripts_started_together(tmp_path: Path) -> None:
    """The installed console script, twice at once: the same exclusion (exit 75), for real."""
    config = SimulatorConfig(tasks=10, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path)
        launcher = Launcher(dep)
        assert launcher.run("sync").returncode in (0, 1)
        codes = tuple(sorted(r.returncode or 0 for r in _race(launcher)))
        assert codes[0] in (0, 1) and codes[1] in (0, 1, 75), codes
        assert _overlaps(dep.ledger_path) == []
