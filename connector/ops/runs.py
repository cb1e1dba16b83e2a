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
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

import structlog

from connector.clock import Clock
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    Interrupted,
    LedgerError,
    SourceError,
    interrupt_in,
)
from connector.ledger.db import Ledger
from connector.ledger.runs import (
    Count,
    RunOutcome,
    RunSummary,
    get_run,
    list_runs,
    write_end,
    write_start,
)
from connector.ledger.runs import mark_abandoned as _mark_abandoned
from connector.ops.log import REDACTOR

if TYPE_CHECKING:
    from connector.ops.signals import InterruptGuard

__all__ = [
    "PROBLEM_COUNTS",
    "Count",
    "RunOutcome",
    "RunRecord",
    "RunSummary",
    "default_trigger",
    "error_text",
    "get_run",
    "list_runs",
    "mark_abandoned",
    "outcome_for",
    "recorded_run",
]

log = structlog.get_logger(__name__)


PROBLEM_COUNTS: tuple[str, ...] = (
    "quarantined",
    "dead",
    "classify_errors",
    "undelivered",
    "detail_failed",
)
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


def _write_end(
    ledger: Ledger, record: RunRecord, outcome: RunOutcome, ended_at: datetime, error: str
) -> None:
    write_end(
        ledger,
        record.run_id,
        command=record.command,
        trigger=record.trigger,
        started_at=record.started_at,
        ended_at=ended_at,
        outcome=outcome,
        counts=record.counts,
        error=error,
        dry_run=record.dry_run,
    )


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
    guard: InterruptGuard | None = None,
) -> Iterator[RunRecord]:
    """Record the run around the block (see the module docstring); re-raise what it raises.

    `lock_held`: the caller holds the run lock, so runs left ``running`` are marked
    ``abandoned`` first (`mark_abandoned`).

    `guard`: the run's `interrupt_guard`. A signal arriving while the start is recorded is held
    and raised once the row exists (the run is recorded ``interrupted``); one arriving while the
    end is recorded is noted but never cuts that write short (the run keeps the outcome of what
    it did: a row left ``running`` with exit 130 "recorded as interrupted" was the alternative).
    """
    record = RunRecord(
        run_id=run_id, command=command, trigger=trigger, started_at=clock.now(), dry_run=dry_run
    )
    start = monotonic()
    error: BaseException | None = None
    with structlog.contextvars.bound_contextvars(run_id=run_id, command=command):
        with guard.held() if guard is not None else contextlib.nullcontext():
            if lock_held:
                mark_abandoned(ledger, by_run=run_id)
            write_start(
                ledger,
                run_id,
                command=command,
                trigger=trigger,
                started_at=record.started_at,
                dry_run=dry_run,
            )
            if guard is not None:
                guard.run_recorded = True
        try:
            log.info("run_started", trigger=trigger, dry_run=dry_run)
            if guard is not None:
                guard.check()  # a signal held while the start was recorded: recorded below
            yield record
        except BaseException as exc:
            error = interrupt_in(exc) or exc  # an interrupt turned into another error is one
            raise
        finally:
            if guard is not None:
                guard.stand_down()
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


def mark_abandoned(ledger: Ledger, *, by_run: str) -> list[str]:
    """Mark every run still ``running`` but `by_run` as ``abandoned`` and log each
    (``run_abandoned``); their ids. Only while holding the run lock (see
    `connector.ledger.runs.mark_abandoned`)."""
    ids = _mark_abandoned(ledger, by_run=by_run)
    for run_id in ids:
        log.warning("run_abandoned", abandoned_run=run_id, found_by=by_run)
    return ids
