"""The run records (``sync_run``): one row per run of the connector, its outcome and counts.

A run is written when it starts (outcome ``running``) and again when it ends (`write_start`,
`write_end`; `connector.ops.runs.recorded_run` does both). A run that died without recording its
end stays ``running`` until the next run that holds the lock marks it ``abandoned``
(`mark_abandoned`). `RunSummary` is a recorded run as ``runs list``, ``status`` and the metrics
read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from connector.clock import to_utc
from connector.ledger.reader import in_list, reading
from connector.ledger.values import record

if TYPE_CHECKING:
    from connector.ledger.db import Ledger
    from connector.ledger.reader import Db

Count = int | float


class RunOutcome(StrEnum):
    """How a run ended (the ``sync_run.outcome`` column); `connector.ops.runs` tells when."""

    RUNNING = "running"
    SUCCESS = "success"
    PROBLEMS = "problems"
    SOURCE_UNAVAILABLE = "source_unavailable"
    AUTH_FAILED = "auth_failed"
    CONFIG_ERROR = "config_error"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    ABANDONED = "abandoned"


FINISHED: frozenset[RunOutcome] = frozenset({RunOutcome.SUCCESS, RunOutcome.PROBLEMS})
"""Outcomes of a run that did its work to the end (with or without problems)."""


@dataclass(frozen=True)
class RunSummary:
    """A recorded run."""

    run_id: str
    command: str
    trigger: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    counts: dict[str, Count]
    error: str
    dry_run: bool
    source: str = ""
    """The source it ran for (a ledger of several sources: `connector.ledger.scope`)."""

    @property
    def finished(self) -> bool:
        """True when the run did its work to the end (`FINISHED`)."""
        return self.outcome in FINISHED

    @property
    def success(self) -> bool:
        return self.outcome == RunOutcome.SUCCESS

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, to the millisecond (None while it has no end)."""
        if self.ended_at is None:
            return None
        return round((to_utc(self.ended_at) - to_utc(self.started_at)).total_seconds(), 3)


_SELECT = (
    "SELECT run_id, command, trigger, started_at, ended_at, outcome, counts_json AS counts, "
    "error, dry_run, source FROM sync_run"
)


def _runs(db: Db, sql: str, params: Mapping[str, object] | None = None) -> list[RunSummary]:
    with reading(db) as r:
        return [record(RunSummary, row) for row in r.rows(sql, params)]


def list_runs(db: Db, *, limit: int | None = 20, command: str | None = None) -> list[RunSummary]:
    """The most recent runs, newest first (`limit` None: all of them)."""
    sql = _SELECT + (" WHERE command = :command" if command is not None else "")
    sql += " ORDER BY started_at DESC" + (" LIMIT :limit" if limit is not None else "")
    return _runs(db, sql, {"command": command, "limit": limit})


def get_run(db: Db, run_id: str) -> RunSummary | None:
    """One recorded run."""
    found = _runs(db, f"{_SELECT} WHERE run_id = :run_id", {"run_id": run_id})
    return found[0] if found else None


def last_finished(db: Db) -> RunSummary | None:
    """The newest run that finished (success or problems), however old."""
    wanted, params = in_list("o", sorted(FINISHED))
    found = _runs(
        db, f"{_SELECT} WHERE outcome IN ({wanted}) ORDER BY started_at DESC LIMIT 1", params
    )
    return found[0] if found else None


def last_ended_by_command(db: Db) -> dict[str, RunSummary]:
    """Per command, the run (not a dry run) that ended last with a recorded end."""
    sql = (
        f"{_SELECT} WHERE dry_run = :f AND ended_at IS NOT NULL AND outcome != :running "
        "ORDER BY ended_at"
    )
    last: dict[str, RunSummary] = {}
    for run in _runs(db, sql, {"f": False, "running": RunOutcome.RUNNING}):
        last[run.command or "run"] = replace(run, command=run.command or "run")
    return last


def last_success_by_command(db: Db) -> dict[str, datetime]:
    """Per command, when its last successful run (not a dry run) ended."""
    sql = (
        f"{_SELECT} WHERE dry_run = :f AND ended_at IS NOT NULL AND outcome = :success "
        "ORDER BY ended_at"
    )
    return {
        run.command or "run": to_utc(run.ended_at)
        for run in _runs(db, sql, {"f": False, "success": RunOutcome.SUCCESS})
        if run.ended_at is not None
    }


# -- writing ---------------------------------------------------------------------------------------


def write_start(
    ledger: Ledger,
    run_id: str,
    *,
    command: str,
    trigger: str,
    started_at: datetime,
    dry_run: bool,
) -> None:
    """Record a run that starts (outcome ``running``), in a transaction of its own."""
    from connector.ledger.tables import SyncRun  # noqa: PLC0415 - writing: the ORM

    with ledger.transaction() as session:
        session.add(
            SyncRun(
                run_id=run_id,
                command=command,
                trigger=trigger,
                started_at=to_utc(started_at),
                outcome=RunOutcome.RUNNING.value,
                counts_json="{}",
                dry_run=dry_run,
            )
        )


def write_end(
    ledger: Ledger,
    run_id: str,
    *,
    command: str,
    trigger: str,
    started_at: datetime,
    ended_at: datetime,
    outcome: RunOutcome,
    counts: Mapping[str, Count],
    error: str,
    dry_run: bool,
) -> None:
    """Record how a run ended (its start too when that was not recorded)."""
    from connector.ledger.tables import SyncRun  # noqa: PLC0415 - writing: the ORM

    with ledger.transaction() as session:
        row = session.get(SyncRun, run_id)
        if row is None:  # the start was not recorded (e.g. the ledger came back)
            row = SyncRun(run_id=run_id, started_at=to_utc(started_at))
            session.add(row)
        row.command = command
        row.trigger = trigger
        row.ended_at = to_utc(ended_at)
        row.outcome = outcome.value
        row.counts_json = json.dumps(dict(counts), sort_keys=True)
        row.error = error
        row.dry_run = dry_run


def mark_abandoned(ledger: Ledger, *, by_run: str) -> list[str]:
    """Mark every run still ``running`` but `by_run` as ``abandoned``; their ids.

    Call it only while holding the run lock (`connector.ops.locking.run_lock`): then no other run
    can be in progress, and a ``running`` row is one that died without recording its end. Its
    end time stays unknown (NULL); its counts stay those it recorded.
    """
    from connector.ledger.tables import SyncRun  # noqa: PLC0415 - writing: the ORM

    sql = "SELECT run_id FROM sync_run WHERE outcome = :running AND run_id != :by ORDER BY run_id"
    with ledger.transaction() as session:
        with reading(session) as r:
            ids = [str(i) for i in r.column(sql, {"running": RunOutcome.RUNNING, "by": by_run})]
        for run_id in ids:
            row = session.get(SyncRun, run_id)
            if row is not None:
                row.outcome = RunOutcome.ABANDONED.value
                row.error = (
                    "the run ended without recording its end (killed, power cut or the ledger "
                    f"could not be written); found by run {by_run}"
                )
    return ids
