"""`run_job`: a dry run takes the same code path, writes nothing to the source or the ledger."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import select

from connector.clock import FixedClock, local_midnight
from connector.ledger.db import open_ledger
from connector.ledger.tables import OutboxRow, SyncRun, TaskRow
from connector.ops.jobs import run_job
from connector.ops.runs import RunOutcome
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.factories import make_settings

TODAY = date(2022, 3, 7)


def _count(url: str, model: type) -> int:
    with open_ledger(url) as ledger, ledger.reading() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_dry_run_sync_writes_nothing_and_says_what_it_would_do(ledger_url: str) -> None:
    """A dry sync reads the source, rolls the ledger back, sends nothing, and lists the deliveries."""
    config = SimulatorConfig(tasks=120, seed=3, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        settings = make_settings(sim, ledger_url, push={"rate_per_second": 500.0})
        clock = FixedClock(local_midnight(TODAY).replace(hour=3))
        dry = run_job(settings, "sync", dry_run=True, clock=clock)
        assert dry.dry_run
        assert dry.pull is not None and dry.pull.inserted == 120 - len(sim.world.malformed)
        assert dry.would_deliver, "the dry run lists what it would send"
        assert sim.tracking_writes == [] and sim.notifications == []
        assert _count(ledger_url, TaskRow) == 0
        assert _count(ledger_url, OutboxRow) == 0
        real = run_job(settings, "sync", clock=clock)
        assert real.outcome is RunOutcome.SUCCESS
        assert real.pull is not None and real.pull.inserted == dry.pull.inserted
        sent = {d.key for d in dry.would_deliver}
        assert len(sim.tracking_writes) + len(sim.notifications) == len(sent)
    with open_ledger(ledger_url) as ledger, ledger.reading() as session:
        runs = session.exec(select(SyncRun).order_by(SyncRun.started_at)).all()  # type: ignore[arg-type]
        assert [r.dry_run for r in runs] == [True, False]
