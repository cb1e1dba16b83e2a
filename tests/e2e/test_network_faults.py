"""The network misbehaves between connector and simulator (the TCP fault proxy on loopback):
added latency, stalled connections, resets mid-body, truncated bodies, slow drip.

Each case, within a bounded time, either converges (exit 0/1, the ledger equals the simulator's
truth) or fails with exit code 3 (source unavailable), the run recorded as such and the cursor
unchanged; a later run through a healthy network then converges.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest

from simulator import Faults, Simulator, SimulatorConfig
from tests.support.faultproxy import PASS, Fault, FaultKind, FaultProxy
from tests.support.harness import (
    ForkServer,
    Launcher,
    cursor_of,
    deployment_for,
    integrity_check,
    ledger_matches_world,
    ledger_rows,
)

pytestmark = pytest.mark.slow

BOUND_S = 30.0
"""No case may take longer than this (read timeout 1 s, 3 attempts, a 5 s waiting budget)."""

PULL_ONLY = "[push]\nenabled = false\n"
"""Deliveries under faults are the crash suite's business; here the pull is, and fast."""

CASES = [
    pytest.param(Fault(FaultKind.LATENCY, delay_s=0.15), "converge", id="latency"),
    pytest.param(Fault(FaultKind.STALL), "exit3", id="stall-all"),
    pytest.param(Fault(FaultKind.STALL, times=1), "either", id="stall-once"),
    pytest.param(Fault(FaultKind.RESET, after_bytes=200), "exit3", id="reset-all"),
    pytest.param(Fault(FaultKind.RESET, after_bytes=200, times=2), "either", id="reset-twice"),
    pytest.param(Fault(FaultKind.TRUNCATE, after_bytes=300), "exit3", id="truncate-all"),
    pytest.param(Fault(FaultKind.TRUNCATE, after_bytes=300, times=2), "either", id="truncate-2"),
    pytest.param(Fault(FaultKind.DRIP, delay_s=0.002, chunk=512), "converge", id="drip"),
    pytest.param(Fault(FaultKind.DRIP, delay_s=1.5, chunk=1), "exit3", id="drip-too-slow"),
]


def _change_the_world(sim: Simulator) -> None:
    sim.advance(timedelta(minutes=5))
    ids = sorted(sim.world.tasks)[:6]
    for task_id in ids[:3]:
        sim.report_progress(task_id, 55)
    sim.add_tasks(2)


@pytest.mark.parametrize(("fault", "expect"), CASES)
def test_fault_converges_or_fails_cleanly(
    tmp_path: Path, forks: ForkServer, fault: Fault, expect: str
) -> None:
    """Within the bound: converged, or exit 3 with the cursor unchanged; healthy rerun converges."""
    config = SimulatorConfig(tasks=40, seed=9, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim, FaultProxy(sim.port) as proxy:
        base = proxy.url(sim.base_url.removeprefix(sim.root_url))
        dep = deployment_for(
            sim,
            tmp_path,
            read_timeout=1.0,
            source_toml="page_size = 20",
            extra_toml=PULL_ONLY,
        )
        dep.base_url = base
        dep.write_config()
        launcher = Launcher(dep, forks)
        assert launcher.run("sync").returncode in (0, 1)  # a cursor to protect
        _change_the_world(sim)
        before = cursor_of(dep.ledger_path)
        proxy.set_fault(fault)
        started = time.monotonic()
        run = launcher.run("sync", timeout=BOUND_S + 30)
        elapsed = time.monotonic() - started
        proxy.set_fault(PASS)
        assert elapsed < BOUND_S, f"took {elapsed:.1f} s"
        code = run.returncode
        assert code in (0, 1, 3), run.stderr[-3000:]
        assert integrity_check(dep.ledger_path) == "ok"
        if expect == "converge":
            assert code in (0, 1), run.stderr[-3000:]
        elif expect == "exit3":
            assert code == 3, run.stderr[-3000:]
        if code == 3:
            assert cursor_of(dep.ledger_path) == before, "a failed run moved the cursor"
            last = max(ledger_rows(dep.ledger_path, "sync_run"), key=lambda r: r["started_at"])
            assert last["outcome"] in ("source_unavailable", "auth_failed")
            assert "error:" in run.stderr
        else:
            assert ledger_matches_world(dep.ledger_path, sim) == []
        healthy = launcher.run("sync")
        assert healthy.returncode in (0, 1), healthy.stderr[-3000:]
        assert ledger_matches_world(dep.ledger_path, sim) == []
        assert proxy.stats.faulted >= 1
