"""The ledger a full pull writes does not depend on how the listing is read: pages read ahead in
a thread or in turn, large pages or small ones (issue 15's speed work must keep the content)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FixedClock
from connector.ledger.db import open_ledger
from connector.source.pull import pull
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.factories import make_settings

VOLATILE = ("sync_run",)
"""Tables describing the run itself (its times and counts), not the ledger's content."""


def _dump(path: Path) -> dict[str, Any]:
    """Every table's rows without their surrogate ids (sorted), plus the order the outbox
    rows and history rows were written in (what delivery and the audit read)."""
    con = sqlite3.connect(path)
    try:
        out: dict[str, Any] = {}
        tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for (table,) in list(tables):
            if table in VOLATILE:
                continue
            cursor = con.execute(f"SELECT * FROM {table}")
            names = [c[0] for c in cursor.description]
            rows = (
                json.dumps({n: v for n, v in zip(names, row, strict=True) if n != "id"})
                for row in cursor
            )
            out[table] = sorted(rows)
        out["@outbox"] = [k for (k,) in con.execute("SELECT idempotency_key FROM outbox ORDER BY id")]
        out["@history"] = list(con.execute("SELECT task_id, field FROM task_history ORDER BY id"))
        return out
    finally:
        con.close()


def _full_pull(
    sim: Simulator, clock: FixedClock, directory: Path, *, page_size: int, read_ahead: int
) -> Path:
    directory.mkdir()
    path = directory / "ledger.db"
    settings = make_settings(
        sim,
        f"sqlite:///{path}",
        source={"page_size": page_size},
        sync={"read_ahead_pages": read_ahead, "batch_size": 50},
    )
    with open_ledger(settings.ledger.url) as ledger:
        pull(settings, run_id="content", full=True, clock=clock, ledger=ledger)
    return path


@pytest.mark.slow
def test_read_ahead_and_page_size_write_the_same_ledger(tmp_path: Path) -> None:
    """A full pull of one seeded world writes the same tasks, history, snapshots, reports,
    outbox rows (in the same order) and units whether it reads ahead or not."""
    config = SimulatorConfig(tasks=400, seed=11, faults=Faults.none())
    with Simulator(config) as sim:
        clock = FixedClock(sim.now())
        in_turn = _dump(_full_pull(sim, clock, tmp_path / "a", page_size=500, read_ahead=0))
        ahead = _dump(_full_pull(sim, clock, tmp_path / "b", page_size=37, read_ahead=2))
    assert len(in_turn["task"]) == 400
    assert in_turn["task_history"] and in_turn["@outbox"]
    for table in in_turn:
        assert ahead[table] == in_turn[table], table
