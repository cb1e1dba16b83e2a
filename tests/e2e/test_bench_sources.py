"""bench/sources.py (issue 16, "Scale") keeps working: a tiny run and the shape of its JSON.

The benchmark's figures are read by people, never checked by a test (no timed assertions); this
only pins that the script runs end to end and writes what bench/README.md describes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "sources.py"
PULL_KEYS = {"args", "wall_s", "cpu_s", "peak_rss_mib", "exit_code", "requests", "sources"}


def _pull_step(step: dict[str, Any], sources: list[str]) -> None:
    assert step.keys() >= PULL_KEYS
    assert [s["source"] for s in step["sources"]] == sources
    assert step["peak_rss_mib"] > 0
    assert all(s["outcome"] == "success" for s in step["sources"])
    assert all(s["run_s"] is not None and s["run_s"] >= 0 for s in step["sources"])


@pytest.mark.slow
def test_bench_sources_small_run_writes_its_json(tmp_path: Path) -> None:
    """2 sources x 200 tasks on SQLite: exit 0, every step's figures in the JSON file."""
    out = tmp_path / "sources.json"
    argv = ["--sources", "2", "--tasks", "200", "--db", "sqlite", "--json", str(out)]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Fill: pull --full of each source in turn" in proc.stdout
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["config"] == {
        "sources": 2,
        "tasks": 200,
        "db": "sqlite",
        "seed": 1,
        "per_server": 5,
        "slow_ms": None,
    }
    assert [f["ledger_tasks_before"] for f in results["fill"]] == [0, 200]
    for k, step in enumerate(results["fill"], start=1):
        _pull_step(step, [f"s0{k}"])
        assert step["sources"][0]["counts"]["fetched"] == 200
    assert results["ledger_after_fill"] == {
        "tasks": 400,
        "sources": 2,
        "size_mib": results["ledger_after_fill"]["size_mib"],
    }
    _pull_step(results["repull_full_one"], ["s01"])
    _pull_step(results["incremental_one"], ["s01"])
    _pull_step(results["incremental_all"], ["s01", "s02"])
    reads = results["reads"]
    assert set(reads) == {
        "report_all",
        "report_one",
        "tasks_list_one",
        "tasks_list_all",
        "status_all",
        "status_one",
        "help",
    }
    assert reads["tasks_list_one"]["rows"] == 50
    assert reads["report_all"]["total"] > reads["report_one"]["total"] > 0
    assert results["rollup_check"]["ok"] is True
    assert results["rollup_check"]["sum_of_each"] == results["rollup_check"]["rollup"]
    assert len(results["explain"]) == 10
    assert all(p["plan"] for p in results["explain"])
    assert results["growth"]["fill_peak_rss_mib"]["first_third"] > 0
    assert results["host"]["cpus"] >= 1
    assert results["simulators"]["processes"] == 1
    assert "partial" not in results
    assert "skipped" not in results


@pytest.mark.slow
def test_bench_sources_skips_the_steps_it_is_told_to(tmp_path: Path) -> None:
    """--skip report-all/rollup-check/explain leaves those steps out, says so, and exits 0."""
    out = tmp_path / "sources.json"
    argv = ["--sources", "1", "--tasks", "100", "--db", "sqlite", "--json", str(out)]
    argv += ["--skip", "report-all", "--skip", "rollup-check", "--skip", "explain"]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["skipped"] == ["explain", "report-all", "rollup-check"]
    assert "partial" not in results
    assert "report_all" not in results["reads"]
    assert "report_one" in results["reads"]
    assert "rollup_check" not in results
    assert "explain" not in results
    assert "skipped: explain, report-all, rollup-check" in proc.stdout


def test_bench_sources_keep_ledger_needs_keep() -> None:
    """--keep-ledger without --keep DIR is refused (exit 2): there is nowhere to keep it."""
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--keep-ledger"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "--keep-ledger needs --keep DIR" in proc.stderr
