"""`idesk-connector demo --merged`: two simulated systems of the merged province of Gia Lai,
one ledger, one report by mapped unit, and a config that the reading commands take after."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from connector.mapping.files import resolve_mapping
from connector.rules.unitmap import UnitMap
from tests.support.harness import CLI


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")}
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.slow
def test_demo_merged_reports_two_systems_in_one_ledger(tmp_path: Path) -> None:
    """The demo syncs both systems into one ledger and writes the merged report files; its
    config then gives a report whose rows are mapped units (no Bình Định unit the map lists
    stays a row of its own), whose total is the two sources' totals, and whose --by source
    sections are exactly the --source reports."""
    home = tmp_path / "demo"
    done = _cli("demo", "--merged", "--dir", str(home), "--tasks", "150", "--lang", "en")
    assert done.returncode == 0, done.stderr[-3000:]
    merged = home / "merged"
    for name in ("report.docx", "report.xlsx", "report.html", "report-by-source.html"):
        assert (merged / name).stat().st_size > 0, name
    assert "Source gialai" in done.stdout and "Source binhdinh" in done.stdout
    assert "fetched 150" in done.stdout
    config = str(merged / "config.toml")
    report = _json(_cli("--config", config, "report", "--format", "json"))
    assert report["by"] == "unit" and report["sources"] == ["gialai", "binhdinh"]
    unit_map = UnitMap.load(resolve_mapping("units-gialai"))
    listed = {member for unit in unit_map.units for member in unit_map.members(unit)}
    rows = {(r["source"], r["unit_code"]): r for r in report["rows"]}
    assert not [key for key in rows if key in listed], "a mapped unit kept its own row"
    mapped = [r for r in report["rows"] if r["source"] is None]
    assert mapped and {r["unit_code"] for r in mapped} <= {u.code for u in unit_map.units}
    assert any(len(r["sources"]) == 2 for r in mapped), "no unit merged from two systems"
    by_source = _json(_cli("--config", config, "report", "--by", "source", "--format", "json"))
    assert by_source["sources"] == ["gialai", "binhdinh"]
    totals = 0
    for section in by_source["sections"]:
        alone = _json(
            _cli("--config", config, "report", "--source", section["source"], "--format", "json")
        )
        assert {k: v for k, v in section.items() if k != "source"} == alone
        totals += alone["total"]["total"]
    assert report["total"]["total"] == totals
