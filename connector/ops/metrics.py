"""Metrics for node_exporter's textfile collector, in the Prometheus text exposition format.

After a run the connector can write a ``*.prom`` file (``metrics.file``) that node_exporter's
``--collector.textfile.directory`` picks up: when each command last finished and how, the counts of
that run, the overdue tasks per lead unit and the tasks per deadline status, and what the outbox
still holds to deliver (so a stuck delivery shows in monitoring).

The text is made by ``prometheus_client`` (a registry of gauges, `render_metrics`). The file is
replaced atomically (written to a hidden temporary file beside it, synced, then renamed), so the
collector never reads half a file; the temporary name does not end in ``.prom``, so the
collector ignores it. The file is created mode 0644, not 0600 like the ledger and logs:
node_exporter usually runs as another user and must read it, and it holds no secret, only
counts and unit codes. (``prometheus_client.write_to_textfile`` is not used for the write: it
creates the file with the process umask, 0600 under cron's usual ``umask 077``, which
node_exporter could not read, and it does not sync before the rename.)

Metrics (gauges; ``command`` is ``sync``, ``pull``, ``push``...)::

    idesk_connector_last_run_timestamp_seconds{command}          end of the last finished run
    idesk_connector_last_run_duration_seconds{command}
    idesk_connector_last_run_success{command,outcome}             1 when the outcome is a success
    idesk_connector_last_success_timestamp_seconds{command}       end of the last successful run
    idesk_connector_last_run_<count>{command}                     each count of the last run
    idesk_connector_overdue_tasks{unit}                           open tasks past their deadline
    idesk_connector_tasks{status}                                 tasks per deadline status code
    idesk_connector_last_success_age_seconds{command}             seconds since that success
    idesk_connector_outbox_rows{state}                            outbox rows per state
    idesk_connector_outbox_waiting                                rows still to deliver
    idesk_connector_outbox_oldest_waiting_timestamp_seconds       creation of the oldest of them
    idesk_connector_outbox_oldest_waiting_age_seconds             its age (0 when none waits)

**Several sources** (``[[sources]]``, a ledger holding more than one): every gauge also has a
``source`` label, one series per source, read as that source's own ledger would give it (a run
of one source writes the figures of every source). A one-source ledger's file is unchanged.

"Waiting" rows are those still to be delivered: ``pending``, ``failed`` (retried later) and
``sending`` (`connector.outbox.states.DELIVERABLE`). The ``*_age_seconds`` gauges are the ages
when the file was written (``written_at``); a connector that stopped running stops refreshing
the file, so alert on ``time() - idesk_connector_last_success_timestamp_seconds`` (and
node_exporter's ``node_textfile_mtime_seconds``), which keep growing (docs/install.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from connector.clock import to_utc
from connector.ledger.outbox import oldest_waiting, state_counts
from connector.ledger.reader import reading
from connector.ledger.runs import (
    RunSummary,
    last_ended_by_command,
    last_success_by_command,
)
from connector.ledger.scope import use_read_sources
from connector.ledger.tasks import live_by_unit, task_counts
from connector.ledger.units import unit_codes
from connector.models import StatusCode
from connector.outbox.states import DELIVERABLE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge

    from connector.ledger.reader import Db

log = structlog.get_logger(__name__)

PREFIX = "idesk_connector_"
OVERDUE_STATUS = StatusCode.DTH_QUA_HAN.value
UNCLASSIFIED = "unclassified"

COUNT_HELP: dict[str, str] = {
    "pages": "Pages fetched from the source.",
    "fetched": "Records fetched from the source.",
    "inserted": "Tasks new to the ledger.",
    "updated": "Tasks whose content changed.",
    "unchanged": "Tasks fetched again without a change.",
    "older_skipped": "Records older than the ledger's version, skipped.",
    "quarantined": "Records that could not be normalised and were quarantined.",
    "duplicates": "Extra versions of one task id in a listing, dropped.",
    "clock_skew_s": "Seconds the source's clock was ahead of ours at the start of the pull.",
    "resolved": "Quarantined records that arrived valid.",
    "deleted_marked": "Tasks marked deleted at the source.",
    "status_changes": "Deadline status changes recorded.",
    "classify_errors": "Tasks whose deadline status could not be computed.",
    "pushes_sent": "Tracking-status writes delivered to the source.",
    "alerts_sent": "Notifications delivered to the source.",
    "delivery_failed": "Deliveries that failed and will be retried.",
    "dead": "Deliveries given up as permanently refused.",
    "retries": "Requests retried after a transient failure.",
    "rate_limited": "Responses 429 (rate limited) received.",
    "waited_s": "Seconds spent waiting before retries.",
}

_NOT_NAME = re.compile(r"[^a-zA-Z0-9_]+")


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything one metrics file shows."""

    last_runs: tuple[RunSummary, ...] = ()
    last_success: Mapping[str, datetime] = field(default_factory=dict)
    overdue_by_unit: Mapping[str, int] = field(default_factory=dict)
    tasks_by_status: Mapping[str, int] = field(default_factory=dict)
    outbox_by_state: Mapping[str, int] = field(default_factory=dict)
    outbox_oldest_waiting: datetime | None = None
    written_at: datetime | None = None
    """When the snapshot was taken: the ``*_age_seconds`` gauges are shown only with it."""
    source: str = ""
    """The source these figures are of, in a ledger of several (its ``source`` label); ``""``:
    a one-source ledger (no label)."""


def metric_name(raw: str) -> str:
    """A valid metric-name fragment from a count key (``"429s"`` → ``"_429s"``)."""
    name = _NOT_NAME.sub("_", raw.strip()).strip("_").lower() or "unnamed"
    if name[0].isdigit():
        name = "_" + name
    return name


def _seconds(instant: datetime) -> float:
    return to_utc(instant).timestamp()


def render_metrics(snapshot: MetricsSnapshot | Sequence[MetricsSnapshot]) -> str:
    """The snapshot in the Prometheus text format (sorted, so equal snapshots give equal text).

    Several snapshots (one per source, each with its `MetricsSnapshot.source`): every gauge
    gets a ``source`` label. ``prometheus_client`` writes the format (escaping, HELP/TYPE
    lines, number spelling); it is imported here, not at start-up, as only a run that writes
    ``metrics.file`` needs it.
    """
    from prometheus_client import CollectorRegistry  # noqa: PLC0415
    from prometheus_client.exposition import generate_latest  # noqa: PLC0415

    snapshots = [snapshot] if isinstance(snapshot, MetricsSnapshot) else list(snapshot)
    registry = CollectorRegistry(auto_describe=False)
    families: dict[str, Gauge] = {}
    for one in sorted(snapshots, key=lambda s: s.source):
        _render_one(one, registry, families)
    return generate_latest(registry).decode("utf-8")


class _Sourced:
    """A gauge family whose series all carry ``source`` (a snapshot of one of several
    sources), or none (a one-source ledger)."""

    def __init__(self, gauge: Gauge, source: str) -> None:
        self._gauge = gauge
        self._source = source

    def labels(self, **labels: str) -> Gauge:
        if self._source:
            labels["source"] = self._source
        return self._gauge.labels(**labels) if labels else self._gauge

    def set(self, value: float) -> None:
        self.labels().set(value)


def _render_one(
    snapshot: MetricsSnapshot, registry: CollectorRegistry, families: dict[str, Gauge]
) -> None:
    from prometheus_client import Gauge  # noqa: PLC0415

    def family(suffix: str, help_text: str, *labels: str) -> _Sourced:
        name = PREFIX + suffix
        if name not in families:
            names = (*labels, "source") if snapshot.source else labels
            families[name] = Gauge(name, help_text, names, registry=registry)
        return _Sourced(families[name], snapshot.source)

    for run in sorted(snapshot.last_runs, key=lambda r: r.command):
        ended = run.ended_at or run.started_at
        family(
            "last_run_timestamp_seconds", "When the last finished run ended (Unix time).", "command"
        ).labels(command=run.command).set(_seconds(ended))
        family(
            "last_run_duration_seconds", "How long the last finished run took.", "command"
        ).labels(command=run.command).set(
            max((to_utc(ended) - to_utc(run.started_at)).total_seconds(), 0.0)
        )
        family(
            "last_run_success",
            "1 when the last finished run succeeded; its outcome as a label.",
            "command",
            "outcome",
        ).labels(command=run.command, outcome=run.outcome).set(1 if run.success else 0)
        for key in sorted(run.counts):
            suffix = "last_run_" + metric_name(key)
            if suffix in {
                "last_run_timestamp_seconds",
                "last_run_duration_seconds",
                "last_run_success",
            }:
                suffix += "_count"
            help_text = COUNT_HELP.get(key, f"Count {key!r} of the last finished run.")
            family(suffix, help_text, "command").labels(command=run.command).set(run.counts[key])
    for command in sorted(snapshot.last_success):
        family(
            "last_success_timestamp_seconds",
            "When the last successful run ended (Unix time).",
            "command",
        ).labels(command=command).set(_seconds(snapshot.last_success[command]))
    overdue = family("overdue_tasks", "Open tasks past their deadline, per lead unit.", "unit")
    for unit in sorted(snapshot.overdue_by_unit):
        overdue.labels(unit=unit).set(snapshot.overdue_by_unit[unit])
    by_status = family("tasks", "Tasks in the ledger per deadline status code.", "status")
    for status in sorted(snapshot.tasks_by_status):
        by_status.labels(status=status).set(snapshot.tasks_by_status[status])
    _outbox_and_ages(snapshot, family)


def _age(now: datetime, then: datetime) -> float:
    return max((to_utc(now) - to_utc(then)).total_seconds(), 0.0)


def _outbox_and_ages(snapshot: MetricsSnapshot, family: Callable[..., _Sourced]) -> None:
    """The outbox's gauges and the ages as of ``written_at`` (see the module docstring)."""
    now = snapshot.written_at
    if now is not None:
        for command in sorted(snapshot.last_success):
            family(
                "last_success_age_seconds",
                "Seconds since the last successful run ended, when this file was written.",
                "command",
            ).labels(command=command).set(_age(now, snapshot.last_success[command]))
    if not snapshot.outbox_by_state:
        return
    rows = family("outbox_rows", "Outbox rows per state.", "state")
    for state in sorted(snapshot.outbox_by_state):
        rows.labels(state=state).set(snapshot.outbox_by_state[state])
    waiting = sum(snapshot.outbox_by_state.get(s.value, 0) for s in DELIVERABLE)
    family("outbox_waiting", "Outbox rows still to be delivered (pending, failed, sending).").set(
        waiting
    )
    oldest = snapshot.outbox_oldest_waiting
    if oldest is not None:
        family(
            "outbox_oldest_waiting_timestamp_seconds",
            "When the oldest row still to be delivered was created (Unix time).",
        ).set(_seconds(oldest))
    if now is not None:
        family(
            "outbox_oldest_waiting_age_seconds",
            "Age of the oldest row still to be delivered when this file was written (0: none).",
        ).set(0.0 if oldest is None else _age(now, oldest))


def write_textfile(path: str | Path, content: str) -> Path:
    """Replace `path` atomically with `content`, mode 0644 (see the module docstring)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def numeric_counts(counts: Mapping[str, object]) -> dict[str, float]:
    """The counts that are numbers (a run's counts as recorded may hold anything)."""
    return {
        str(k): v
        for k, v in counts.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def snapshot_from_ledger(db: Db, now: datetime | None = None) -> MetricsSnapshot:
    """Read the last finished (non-dry) run per command, the task figures and the outbox from
    the ledger; `now` (default: the system clock) dates the snapshot, for the ages."""
    with reading(db) as r:
        overdue = dict.fromkeys(unit_codes(r), 0)
        overdue.update(live_by_unit(r, OVERDUE_STATUS))
        tasks = task_counts(r)
        by_status = dict(tasks.by_status)
        if tasks.unclassified:
            by_status[UNCLASSIFIED] = tasks.unclassified
        return MetricsSnapshot(
            last_runs=tuple(
                replace(run, counts=numeric_counts(run.counts))
                for run in last_ended_by_command(r).values()
            ),
            last_success=last_success_by_command(r),
            overdue_by_unit=overdue,
            tasks_by_status=by_status,
            outbox_by_state=state_counts(r),
            outbox_oldest_waiting=oldest_waiting(r),
            written_at=now or datetime.now(UTC),
        )


def snapshots_from_ledger(db: Db, now: datetime | None = None) -> list[MetricsSnapshot]:
    """`snapshot_from_ledger` of every source of the ledger, whatever the reads of the caller
    see (a run of one source): one snapshot for a one-source ledger, else one per source, each
    with its `MetricsSnapshot.source`."""
    when = now or datetime.now(UTC)
    with use_read_sources(None), reading(db) as r:
        sources = sorted(
            str(s) for s in r.column("SELECT source FROM task UNION SELECT source FROM sync_run")
        )
        if len(sources) <= 1:
            return [snapshot_from_ledger(r, when)]
    found = []
    for name in sources:
        with use_read_sources((name,)):
            found.append(replace(snapshot_from_ledger(db, when), source=name))
    return found


def export_metrics(db: Db, path: str | Path, now: datetime | None = None) -> Path:
    """Write the metrics file for this ledger as of `now` (a ``source`` label on every gauge
    when it holds several sources); log ``metrics_written``."""
    text = render_metrics(snapshots_from_ledger(db, now))
    target = write_textfile(path, text)
    log.info("metrics_written", path=str(target), bytes=len(text.encode()))
    return target
