"""bench/run.py's targets of issue 15, checked on made-up figures (no run, no timing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _targets(bench: ModuleType) -> Any:
    return bench.Targets(
        floor_ratio=1.5,
        incremental_requests=3,
        incremental_limit_s=2.0,
        report_limit_s=3.0,
        push_share=0.9,
        push_429_percent=1.0,
        pg_ratio=1.5,
    )


def _run(**changes: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "tasks": 100_000,
        "db": "sqlite",
        "floor_s": 4.0,
        "full_pull_s": 5.9,
        "ratio": 1.48,
        "incremental_requests": 3,
        "incremental_s": 1.5,
        "report_s": 2.0,
        "report_table_s": 2.5,
        "push_rps": 18.5,
        "rate_limit_rps": 20.0,
        "push_429": 50,
        "push_rows": 5000,
        "push_rows_asked": 5000,
        "push_s": 270.0,
        "push_outcome": "success",
        "push_stopped_s": None,
        "pg_to_sqlite": None,
    }
    return {**run, **changes}


def _failed(bench: ModuleType, runs: list[dict[str, Any]]) -> set[str]:
    return {c.name for c in bench.check_runs(runs, _targets(bench)) if not c.ok}


def test_figures_at_the_targets_pass(bench: ModuleType) -> None:
    """A run at the targets (50 429s in 5,000 rows is 1 %: no cascade) passes every check."""
    pg = _run(db="postgresql", full_pull_s=8.8, pg_to_sqlite=1.49, push_rps=None)
    checks = bench.check_runs([_run(), pg], _targets(bench))
    assert len(checks) == 8
    assert all(c.ok for c in checks)


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"push_429": 51}, "push_no_429_cascade"),
        ({"push_rps": 17.9}, "push_at_rate_limit"),
        ({"push_rows": 4999}, "push_at_rate_limit"),
        ({"ratio": 1.51}, "full_pull_within_floor_ratio"),
        ({"incremental_requests": 4}, "incremental_unchanged_requests"),
        ({"incremental_s": 2.0}, "incremental_unchanged_under_limit"),
        ({"report_table_s": 3.0}, "report_table_under_limit"),
    ],
)
def test_each_missed_target_fails_its_check(
    bench: ModuleType, changes: dict[str, Any], check: str
) -> None:
    """One figure past its target fails that check alone."""
    assert _failed(bench, [_run(**changes)]) == {check}


def test_targets_are_checked_at_the_largest_size(bench: ModuleType) -> None:
    """A small size's start-up-dominated ratio does not fail the check; the largest size's does."""
    small = _run(tasks=1000, ratio=40.0)
    assert _failed(bench, [small, _run()]) == set()
    assert _failed(bench, [_run(tasks=1000), _run(ratio=2.0)]) == {"full_pull_within_floor_ratio"}
