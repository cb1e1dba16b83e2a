"""bench/run.py as a script: one tiny side-by-side run and the shape of its ``--json`` file.

The benchmark is not a test (no timed assertion here): these tests pin only that the script
runs and writes the names issue 15 fixes, with the right types.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NUMBERS = (
    "floor_s",
    "full_pull_s",
    "ratio",
    "peak_rss_mb",
    "incremental_s",
    "report_s",
    "push_rps",
    "rate_limit_rps",
)
COUNTS = ("tasks", "incremental_requests", "push_429")


@pytest.mark.slow
def test_tiny_run_writes_every_issue_15_key(tmp_path: Path) -> None:
    """A 200-task SQLite run (20 pushed rows, CLI step skipped) writes one run with every key."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--sizes",
            "200",
            "--push-rows",
            "20",
            "--push-limit-s",
            "300",
            "--skip-demo",
            "--skip-snapshot",
            "--skip-cli",
            "--db",
            "sqlite",
            "--json",
            str(out),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    (run,) = results["runs"]
    assert run["db"] == "sqlite"
    assert run["tasks"] == 200
    for key in NUMBERS:
        assert isinstance(run[key], float) and run[key] >= 0, key
    for key in COUNTS:
        assert isinstance(run[key], int) and not isinstance(run[key], bool), key
    assert run["rate_limit_rps"] == 20.0
    assert run["push_rows"] == 20
    assert run["cli_show_s"] is None  # --skip-cli: not measured, not made up
    names = {c["name"] for c in results["checks"]}
    assert {"full_pull_within_floor_ratio", "push_at_rate_limit", "push_no_429_cascade"} <= names
    assert (proc.returncode == 0) == all(c["ok"] for c in results["checks"])
    table = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "table.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "| 200 | sqlite |" in table.stdout  # the README's row for this run


def test_unknown_push_setting_stops_the_bench(tmp_path: Path) -> None:
    """A --push-setting the installed connector does not know ends the run with exit 2."""
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--sizes",
            "50",
            "--push-rows",
            "5",
            "--skip-floor",
            "--skip-report",
            "--skip-demo",
            "--skip-snapshot",
            "--skip-cli",
            "--db",
            "sqlite",
            "--push-setting",
            "no_such_knob=3",
            "--json",
            str(tmp_path / "bench.json"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no_such_knob" in proc.stderr
