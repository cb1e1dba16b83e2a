"""Every run of the connector is recorded: a ``sync_run`` row and one ``run_finished`` event.

Use `recorded_run` around the work of a command::

    with recorded_run(ledger, "pull", default_trigger(), run_id, clock) as run:
        result = pull(settings, run_id=run_id, clock=clock, ledger=ledger, run=run)

The row is written (outcome ``running``) and committed when the block starts, so a run that
dies without a trace still shows up; when the block ends the outcome, end time, counts and error
are written and ONE summary event ``run_finished`` is logged with every count and ``duration_s``.
An exception is recorded and re-raised, never swallowed.

Outcomes (`RunOutcome`):

==================== ==========================================================================
success              finished; nothing quarantined, nothing dead
problems             finished, but a record was quarantined or a delivery given up (dead)
source_unavailable   the document system stayed unavailable (or refused a request)
auth_failed          the credentials were refused
config_error         the configuration or mapping is wrong
interrupted          stopped by SIGINT/SIGTERM (the current transaction was rolled back)
failed               anything else (a bug, or a ledger that cannot be written)
abandoned            the run never recorded its end (killed with SIGKILL, power cut, the
                     ledger full): the next run that takes the lock marks it so
==================== ==========================================================================

A run's counts are those of the work it committed: a page whose transaction failed is not
counted.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TextIO

import structlog
from sqlalchemy import select
from sqlmodel import col

from connector.clock import Clock, to_utc
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    Interrupted,
    LedgerError,
    SourceError,
)
from connector.ledger.db import Ledger
from connector.ledger.tables import SyncRun
from connector.ops.log import REDACTOR

log = structlog.get_logger(__name__)

Count = int | float


class RunOutcome(StrEnum):
    """How a run ended (the ``sync_run.outcome`` column)."""

    RUNNING = "running"
    SUCCESS = "success"
    PROBLEMS = "problems"
    SOURCE_UNAVAILABLE = "source_unavailable"
    AUTH_FAILED = "auth_failed"
    CONFIG_ERROR = "config_error"
    INTERRUPTED = "interrupted"
    FAILED = "failed"
    ABANDONED = "abandoned"


PROBLEM_COUNTS: tuple[str, ...] = ("quarantined", "dead", "classify_errors", "undelivered")
"""Counts that turn a finished run into ``problems`` when above zero."""


def default_trigger(stream: TextIO | None = None) -> str:
    """``manual`` when run from a terminal, ``cron`` otherwise (timer, cron, CI)."""
    stream = sys.stdin if stream is None else stream
    try:
        return "manual" if stream.isatty() else "cron"
    except (AttributeError, ValueError):
        return "cron"


def outcome_for(exc: BaseException | None, counts: Mapping[str, Count]) -> RunOutcome:
    """The outcome of a run that raised `exc` (None: finished) with these counts."""
    if exc is None:
        if any(counts.get(name, 0) for name in PROBLEM_COUNTS):
            return RunOutcome.PROBLEMS
        return RunOutcome.SUCCESS
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        return RunOutcome.INTERRUPTED
    if isinstance(exc, ConfigError):
        return RunOutcome.CONFIG_ERROR
    if isinstance(exc, AuthError):
        return RunOutcome.AUTH_FAILED
    if isinstance(exc, SourceError):
        return RunOutcome.SOURCE_UNAVAILABLE
    return RunOutcome.FAILED


def error_text(exc: BaseException) -> str:
    """What the run row says about an error: the clerk message, secrets removed."""
    text = str(exc) if isinstance(exc, ConnectorError) else f"{type(exc).__name__}: {exc}"
    scrubbed = REDACTOR.scrub(text)
    return scrubbed if isinstance(scrubbed, str) else text


@dataclass
class RunRecord:
    """A run in progress: add counts as the work goes; set `outcome` to override the default."""

    run_id: str
    command: str
    trigger: str
    started_at: datetime
    dry_run: bool = False
    counts: dict[str, Count] = field(default_factory=dict)
    outcome: RunOutcome | None = None

    def update(self, counts: Mapping[str, Count]) -> None:
        """Set (replace) counts by name."""
        self.counts.update(counts)

    def add(self, counts: Mapping[str, Count]) -> None:
        """Add to counts by name (for commands made of several steps)."""
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value


def _write_start(ledger: Ledger, record: RunRecord) -> None:
    with ledger.transaction() as session:
        session.add(
            SyncRun(
                run_id=record.run_id,
                command=record.command,
                trigger=record.trigger,
                started_at=to_utc(record.started_at),
                outcome=RunOutcome.RUNNING.value,
                counts_json="{}",
                dry_run=record.dry_run,
            )
        )


def _write_end(
    ledger: Ledger, record: RunRecord, outcome: RunOutcome, ended_at: datetime, error: str
) -> None:
    with ledger.transaction() as session:
        row = session.get(SyncRun, record.run_id)
        if row is None:  # the start was not recorded (e.g. the ledger came back)
            row = SyncRun(run_id=record.run_id, started_at=to_utc(record.started_at))
            session.add(row)
        row.command = record.command
        row.trigger = record.trigger
        row.ended_at = to_utc(ended_at)
        row.outcome = outcome.value
        row.counts_json = json.dumps(record.counts, sort_keys=True)
        row.error = error
        row.dry_run = record.dry_run


@contextlib.contextmanager
def recorded_run(
    ledger: Ledger,
    command: str,
    trigger: str,
    run_id: str,
    clock: Clock,
    *,
    dry_run: bool = False,
    monotonic: Callable[[], float] = time.monotonic,
    lock_held: bool = False,
) -> Iterator[RunRecord]:
    """Record the run around the block (see the module docstring); re-raise what it raises.

    `lock_held`: the caller holds the run lock, so runs left ``running`` are marked
    ``abandoned`` first (`mark_abandoned`).
    """
    record = RunRecord(
        run_id=run_id, command=command, trigger=trigger, started_at=clock.now(), dry_run=dry_run
    )
    start = monotonic()
    with structlog.contextvars.bound_contextvars(run_id=run_id, command=command):
        if lock_held:
            mark_abandoned(ledger, by_run=run_id)
        _write_start(ledger, record)
        log.info("run_started", trigger=trigger, dry_run=dry_run)
        error: BaseException | None = None
        try:
            yield record
        except BaseException as exc:
            error = exc
            raise
        finally:
            outcome = outcome_for(error, record.counts)
            if error is None and record.outcome is not None:
                outcome = record.outcome
            duration = round(monotonic() - start, 3)
            try:
                _write_end(
                    ledger,
                    record,
                    outcome,
                    clock.now(),
                    error_text(error) if error is not None else "",
                )
            except LedgerError as exc:
                log.error("run_record_failed", error=str(exc))
                if error is None:
                    raise
            fields: dict[str, object] = {
                "outcome": outcome.value,
                "trigger": trigger,
                "duration_s": duration,
                "dry_run": dry_run,
                **record.counts,
            }
            if error is not None:
                fields["error"] = error_text(error)
            level = log.info if outcome in (RunOutcome.SUCCESS, RunOutcome.PROBLEMS) else log.error
            level("run_finished", **fields)


@dataclass(frozen=True)
class RunSummary:
    """A recorded run as `list_runs` returns it."""

    run_id: str
    command: str
    trigger: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    counts: dict[str, Count]
    error: str
    dry_run: bool


def _summary(row: SyncRun) -> RunSummary:
    try:
        counts = json.loads(row.counts_json or "{}")
    except json.JSONDecodeError:
        counts = {}
    return RunSummary(
        run_id=row.run_id,
        command=row.command,
        trigger=row.trigger,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=row.outcome,
        counts=counts if isinstance(counts, dict) else {},
        error=row.error,
        dry_run=row.dry_run,
    )


def mark_abandoned(ledger: Ledger, *, by_run: str) -> list[str]:
    """Mark every run still ``running`` but `by_run` as ``abandoned``; their ids.

    Call it only while holding the run lock (`connector.ops.locking.run_lock`): then no other run
    can be in progress, and a ``running`` row is one that died without recording its end. Its
    end time stays unknown (NULL); its counts stay those it recorded.
    """
    with ledger.transaction() as session:
        rows = session.scalars(
            select(SyncRun).where(
                col(SyncRun.outcome) == RunOutcome.RUNNING.value,
                col(SyncRun.run_id) != by_run,
            )
        ).all()
        for row in rows:
            row.outcome = RunOutcome.ABANDONED.value
            row.error = (
                "the run ended without recording its end (killed, power cut or the ledger "
                f"could not be written); found by run {by_run}"
            )
        ids = [row.run_id for row in rows]
    for run_id in ids:
        log.warning("run_abandoned", abandoned_run=run_id, found_by=by_run)
    return ids


def list_runs(
    ledger: Ledger, *, limit: int | None = 20, command: str | None = None
) -> list[RunSummary]:
    """The most recent runs, newest first (`limit` None: all of them)."""
    query = select(SyncRun).order_by(col(SyncRun.started_at).desc()).limit(limit)
    if command is not None:
        query = query.where(col(SyncRun.command) == command)
    with ledger.reading() as session:
        return [_summary(row) for row in session.scalars(query)]


def get_run(ledger: Ledger, run_id: str) -> RunSummary | None:
    """One recorded run."""
    with ledger.reading() as session:
        row = session.get(SyncRun, run_id)
        return _summary(row) if row is not None else None
