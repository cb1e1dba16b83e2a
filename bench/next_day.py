"""Benchmark: the first pull of the next days over an unchanged province (issue 15).

Usage::

    .venv/bin/python bench/next_day.py --tasks 10000

Serves a simulated province of ``--tasks`` tasks on loopback (faults off), pulls it into an empty
SQLite ledger as of today (the outbox planned, as ``pull`` does), pulls again the same day, then
as of each of the next ``--days`` days with nothing changed at the source, and prints for each
pull the tasks the classification step judged (the run's ``classified``), how many of them it
wrote (``reclassified``), the outbox rows it planned and the wall time. Only the tasks whose
verdict can change by the date are judged on a later day (`connector.rules.recheck`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from connector.clock import FixedClock
from connector.demo import demo_settings
from connector.ledger.db import open_ledger
from connector.source.pull import pull
from simulator import Faults, Simulator, SimulatorConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--today", type=date.fromisoformat, default=date.today())
    args = parser.parse_args()
    config = SimulatorConfig(
        tasks=args.tasks, seed=args.seed, today=args.today, faults=Faults.none()
    )
    with tempfile.TemporaryDirectory() as tmp, Simulator(config) as sim:
        settings = demo_settings(sim.base_url, sim.credentials.password, Path(tmp))
        ledger = open_ledger(settings.ledger.url)
        now = sim.now()
        runs = [("day D", now), ("day D again", now + timedelta(minutes=5))]
        runs += [(f"day D+{n}", now + timedelta(days=n)) for n in range(1, args.days + 1)]
        try:
            for label, at in runs:
                start = time.perf_counter()
                result = pull(
                    settings,
                    run_id=label.replace(" ", "-"),
                    clock=FixedClock(at),
                    ledger=ledger,
                    sleep=lambda _: None,
                )
                wall = time.perf_counter() - start
                print(
                    f"{label:<12} judged {result.classified:>7,}  written "
                    f"{result.reclassified:>7,}  planned {result.planned:>7,}  "
                    f"fetched {result.fetched:>7,}  {wall:6.2f} s"
                )
        finally:
            ledger.close()


if __name__ == "__main__":
    main()
