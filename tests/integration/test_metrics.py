"""Metrics textfile: valid Prometheus text format, atomic 0644 writes, figures from the ledger."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlmodel import Session, SQLModel

from connector.ledger.runs import RunSummary
from connector.ledger.scope import use_source
from connector.ledger.tables import OutboxRow, SyncRun, TaskRow, UnitRow
from connector.ops.metrics import (
    MetricsSnapshot,
    export_metrics,
    metric_name,
    render_metrics,
    snapshot_from_ledger,
    write_textfile,
)
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import Launcher, deployment_for

T0 = datetime(2022, 4, 13, 1, 0, tzinfo=UTC)

# --- a strict validator of the text exposition format (version 0.0.4) ---------------------
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_LABELS = (
    rf"\{{(?:[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE}(?:,[a-zA-Z_][a-zA-Z0-9_]*={_LABEL_VALUE})*)?\}}"
)
_VALUE = r"(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)"
SAMPLE = re.compile(rf"^(?P<name>{_NAME})(?P<labels>{_LABELS})? (?P<value>{_VALUE})(?: -?\d+)?$")
HELP = re.compile(rf"^# HELP (?P<name>{_NAME}) (?:[^\\\n]|\\[\\n])*$")
TYPE = re.compile(rf"^# TYPE (?P<name>{_NAME}) (?:counter|gauge|histogram|summary|untyped)$")
LABEL_PAIR = re.compile(rf"([a-zA-Z_][a-zA-Z0-9_]*)=({_LABEL_VALUE})")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value[1:-1])


def parse_strict(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the exposition text, failing on anything a strict scraper would refuse."""
    assert text.endswith("\n"), "the file must end with a newline"
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    typed: set[str] = set()
    helped: set[str] = set()
    finished: set[str] = set()
    current = ""
    for number, line in enumerate(text[:-1].split("\n"), 1):
        if m := HELP.match(line):
            assert m["name"] not in helped, f"line {number}: second HELP"
            helped.add(m["name"])
            continue
        if m := TYPE.match(line):
            name = m["name"]
            assert name not in typed, f"line {number}: second TYPE for {name}"
            assert not any(k[0] == name for k in samples), f"line {number}: TYPE after samples"
            typed.add(name)
            continue
        m = SAMPLE.match(line)
        assert m, f"line {number} is not valid exposition format: {line!r}"
        name = m["name"]
        assert name in typed, f"line {number}: sample before its TYPE"
        if name != current:
            assert name not in finished, f"line {number}: samples of {name} not contiguous"
            if current:
                finished.add(current)
            current = name
        labels = tuple(
            (k, _unescape(v)) for k, v in LABEL_PAIR.findall((m["labels"] or "{}")[1:-1])
        )
        assert len({k for k, _ in labels}) == len(labels), f"line {number}: repeated label"
        key = (name, tuple(sorted(labels)))
        assert key not in samples, f"line {number}: duplicate series {key}"
        samples[key] = float(m["value"])
    return samples


# --- rendering -------------------------------------------------------------------------------
def _summary(
    command: str,
    outcome: str,
    started_at: datetime,
    ended_at: datetime,
    counts: dict[str, int | float],
) -> RunSummary:
    return RunSummary(
        f"{command}-run", command, "cron", started_at, ended_at, outcome, counts, "", False
    )


def _snapshot(**overrides: object) -> MetricsSnapshot:
    runs = (
        _summary(
            "sync",
            "success",
            T0,
            T0 + timedelta(seconds=42.5),
            {"fetched": 1200, "inserted": 3, "seconds_waited": 1.25, "429s": 2},
        ),
        _summary("push", "problems", T0, T0, {}),
    )
    values: dict[str, object] = {
        "last_runs": runs,
        "last_success": {"sync": T0 + timedelta(seconds=42.5)},
        "overdue_by_unit": {"STTTT": 4, "SNV": 0},
        "tasks_by_status": {"DTH_QUA_HAN": 4, "HT_DUNG_HAN": 10},
    }
    values.update(overrides)
    return MetricsSnapshot(**values)  # type: ignore[arg-type]


def test_render_is_valid_and_carries_the_figures() -> None:
    """The rendered text parses strictly and holds each run's time, outcome and counts."""
    samples = parse_strict(render_metrics(_snapshot()))
    sync = (("command", "sync"),)
    assert samples[("idesk_connector_last_run_timestamp_seconds", sync)] == (T0.timestamp() + 42.5)
    assert samples[("idesk_connector_last_run_duration_seconds", sync)] == 42.5
    assert samples[("idesk_connector_last_run_success", (*sync, ("outcome", "success")))] == 1
    push = (("command", "push"), ("outcome", "problems"))
    assert samples[("idesk_connector_last_run_success", push)] == 0
    assert samples[("idesk_connector_last_run_fetched", sync)] == 1200
    assert samples[("idesk_connector_last_run_seconds_waited", sync)] == 1.25
    assert samples[("idesk_connector_last_run__429s", sync)] == 2
    assert samples[("idesk_connector_last_success_timestamp_seconds", sync)] > 0
    assert samples[("idesk_connector_overdue_tasks", (("unit", "STTTT"),))] == 4
    assert samples[("idesk_connector_overdue_tasks", (("unit", "SNV"),))] == 0
    assert samples[("idesk_connector_tasks", (("status", "HT_DUNG_HAN"),))] == 10


def test_render_is_deterministic() -> None:
    """Equal snapshots render to equal text (sorted families and series)."""
    a = _snapshot(overdue_by_unit={"B": 1, "A": 2})
    b = _snapshot(overdue_by_unit={"A": 2, "B": 1})
    assert render_metrics(a) == render_metrics(b)


HOSTILE_UNITS = [
    pytest.param('S"TTTT', id="quote"),
    pytest.param("S\\NV", id="backslash"),
    pytest.param("A\nB", id="newline"),
    pytest.param("x} 1\nevil_metric 1", id="injection"),
    pytest.param("Sở Nội vụ", id="vietnamese"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("unit", HOSTILE_UNITS)
def test_hostile_unit_codes_are_escaped(unit: str) -> None:
    """A unit code from the source cannot break the format or inject a series."""
    text = render_metrics(_snapshot(overdue_by_unit={unit: 7}))
    samples = parse_strict(text)
    assert samples[("idesk_connector_overdue_tasks", (("unit", unit),))] == 7
    assert not any(name == "evil_metric" for name, _ in samples)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("fetched", "fetched", id="plain"),
        pytest.param("429s", "_429s", id="leading-digit"),
        pytest.param("Pushes Sent!", "pushes_sent", id="spaces"),
        pytest.param("---", "unnamed", id="nothing-left"),
    ],
)
def test_metric_name(raw: str, expected: str) -> None:
    """Count keys become valid metric-name fragments."""
    assert metric_name(raw) == expected


def test_count_named_like_a_fixed_metric_does_not_collide() -> None:
    """A count key named like a fixed metric gets its own name, not a duplicate series."""
    run = _summary("sync", "success", T0, T0, {"success": 5, "duration_seconds": 1})
    parse_strict(render_metrics(MetricsSnapshot(last_runs=(run,))))


# --- writing ---------------------------------------------------------------------------------
@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_write_is_0644_atomic_and_leaves_no_temp(tmp_path: Path, strict_umask: None) -> None:
    """The file is 0644 (node_exporter reads it) whatever the umask; no temporary file remains."""
    target = tmp_path / "textfile" / "idesk.prom"
    write_textfile(target, "a 1\n")
    write_textfile(target, "a 2\n")
    assert target.read_text() == "a 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert sorted(p.name for p in target.parent.iterdir()) == ["idesk.prom"]


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    """If writing fails midway, the previous file is intact and the temporary file removed."""
    target = tmp_path / "idesk.prom"
    write_textfile(target, "a 1\n")
    with pytest.raises(UnicodeEncodeError):
        write_textfile(target, "a \udcff\n")  # a lone surrogate cannot be encoded
    assert target.read_text() == "a 1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["idesk.prom"]


# --- from the ledger -------------------------------------------------------------------------
@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _task(source_id: int, unit: str, status: str | None, deleted: bool = False) -> TaskRow:
    return TaskRow(
        source_id=source_id,
        lead_unit_code=unit,
        status_code=status,
        source_modified=T0,
        deleted_at_source=deleted,
    )


def _run(
    run_id: str,
    command: str,
    outcome: str,
    end: int,
    counts: dict[str, object] | None = None,
    dry_run: bool = False,
) -> SyncRun:
    return SyncRun(
        run_id=run_id,
        command=command,
        started_at=T0 + timedelta(minutes=end - 1),
        ended_at=None if outcome == "running" else T0 + timedelta(minutes=end),
        outcome=outcome,
        counts_json=json.dumps(counts or {}),
        dry_run=dry_run,
    )


def test_snapshot_from_ledger(ledger: Engine) -> None:
    """The last finished, non-dry run per command and the live tasks' figures are read."""
    with Session(ledger) as session:
        session.add_all(
            [
                UnitRow(code="STTTT", name="Sở TT&TT", kind="department"),
                UnitRow(code="SNV", name="Sở Nội vụ", kind="department"),
                _task(1, "STTTT", "DTH_QUA_HAN"),
                _task(2, "STTTT", "DTH_QUA_HAN"),
                _task(3, "SNV", "HT_DUNG_HAN"),
                _task(4, "SNV", "DTH_QUA_HAN", deleted=True),
                _task(5, "SNV", None),
                _run("r1", "sync", "success", 1, counts={"inserted": 5}),
                _run("r2", "sync", "problems", 2, counts={"inserted": 1, "note": "x"}),
                _run("r3", "sync", "success", 3, counts={"inserted": 99}, dry_run=True),
                _run("r4", "sync", "running", 4),
                _run("r5", "push", "success", 5, counts={"pushes_sent": 2}),
            ]
        )
        session.commit()
    snap = snapshot_from_ledger(ledger)
    runs = {r.command: r for r in snap.last_runs}
    assert runs["sync"].outcome == "problems"
    assert runs["sync"].counts == {"inserted": 1}
    assert runs["push"].counts == {"pushes_sent": 2}
    assert snap.last_success == {
        "sync": T0 + timedelta(minutes=1),
        "push": T0 + timedelta(minutes=5),
    }
    assert snap.overdue_by_unit == {"STTTT": 2, "SNV": 0}
    assert snap.tasks_by_status["DTH_QUA_HAN"] == 2
    assert snap.tasks_by_status["HT_DUNG_HAN"] == 1
    assert snap.tasks_by_status["DA_HUY"] == 0
    assert snap.tasks_by_status["unclassified"] == 1


def test_export_metrics_writes_a_valid_file(ledger: Engine, tmp_path: Path) -> None:
    """export_metrics writes a strictly valid file for an empty ledger too."""
    target = export_metrics(ledger, tmp_path / "idesk.prom")
    samples = parse_strict(target.read_text())
    assert samples[("idesk_connector_tasks", (("status", "DTH_QUA_HAN"),))] == 0


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('# TYPE a gauge\na{u="x\ny"} 1\n', id="raw-newline-in-label"),
        pytest.param("a 1\n", id="no-type"),
        pytest.param("# TYPE a gauge\na 1\na 2\n", id="duplicate-series"),
        pytest.param('# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x="1"} 1\n', id="split"),
        pytest.param("# TYPE a gauge\na one\n", id="bad-value"),
        pytest.param("# TYPE a gauge\na 1", id="no-final-newline"),
    ],
)
def test_the_validator_refuses_broken_text(text: str) -> None:
    """The strict validator used above really rejects malformed exposition text."""
    with pytest.raises(AssertionError):
        parse_strict(text)


def test_a_real_sync_writes_a_valid_metrics_file(tmp_path: Path) -> None:
    """`idesk-connector sync` with metrics.file set leaves a strictly valid 0644 textfile."""
    config = SimulatorConfig(tasks=30, seed=8, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path / "home")
        run = Launcher(dep).run("sync")
        assert run.returncode in (0, 1), run.stderr[-2000:]
    samples = parse_strict(dep.metrics_path.read_text())
    assert stat.S_IMODE(dep.metrics_path.stat().st_mode) == 0o644
    outcome = "success" if run.returncode == 0 else "problems"
    key = ("idesk_connector_last_run_success", (("command", "sync"), ("outcome", outcome)))
    assert samples[key] == (1 if outcome == "success" else 0)
    assert samples[("idesk_connector_last_run_fetched", (("command", "sync"),))] == 30
    overdue = sum(v for (name, _), v in samples.items() if name == "idesk_connector_overdue_tasks")
    live = sum(v for (name, _), v in samples.items() if name == "idesk_connector_tasks")
    assert 0 < overdue <= live <= 30


def _outbox_row(key: str, state: str, created: datetime) -> OutboxRow:
    return OutboxRow(
        idempotency_key=key, kind="tracking", payload_json="{}", state=state, created_at=created
    )


def test_outbox_waiting_and_ages_from_the_ledger(ledger: Engine, tmp_path: Path) -> None:
    """The file shows the outbox rows per state, the rows still to deliver, the age of the
    oldest of them and the age of the last successful run, as of the time it is written."""
    with Session(ledger) as session:
        session.add_all(
            [
                _run("r1", "sync", "success", 1),
                _run("r2", "sync", "problems", 2),
                _outbox_row("a", "sent", T0 - timedelta(days=9)),
                _outbox_row("b", "failed", T0 - timedelta(hours=3)),
                _outbox_row("c", "pending", T0 - timedelta(hours=1)),
                _outbox_row("d", "past", T0 - timedelta(days=30)),
            ]
        )
        session.commit()
    now = T0 + timedelta(hours=2)
    samples = parse_strict(export_metrics(ledger, tmp_path / "m.prom", now).read_text())
    assert samples[("idesk_connector_outbox_rows", (("state", "pending"),))] == 1
    assert samples[("idesk_connector_outbox_rows", (("state", "failed"),))] == 1
    assert samples[("idesk_connector_outbox_rows", (("state", "past"),))] == 1
    assert samples[("idesk_connector_outbox_rows", (("state", "dead"),))] == 0
    assert samples[("idesk_connector_outbox_waiting", ())] == 2
    oldest = T0 - timedelta(hours=3)
    assert samples[("idesk_connector_outbox_oldest_waiting_timestamp_seconds", ())] == (
        oldest.timestamp()
    )
    assert samples[("idesk_connector_outbox_oldest_waiting_age_seconds", ())] == 5 * 3600
    sync = (("command", "sync"),)
    assert samples[("idesk_connector_last_success_age_seconds", sync)] == 2 * 3600 - 60


def test_empty_outbox_has_zero_waiting_and_age(ledger: Engine, tmp_path: Path) -> None:
    """With nothing to deliver the waiting count and the oldest age are 0 (no timestamp)."""
    samples = parse_strict(export_metrics(ledger, tmp_path / "m.prom", T0).read_text())
    assert samples[("idesk_connector_outbox_waiting", ())] == 0
    assert samples[("idesk_connector_outbox_oldest_waiting_age_seconds", ())] == 0
    assert ("idesk_connector_outbox_oldest_waiting_timestamp_seconds", ()) not in samples


def test_several_sources_get_a_source_label(ledger: Engine, tmp_path: Path) -> None:
    """A ledger of two sources: every gauge has a `source` label, each source's series its own
    figures (both have unit STC and task 1), also when written from inside one source's run."""
    with Session(ledger) as session:
        for source, overdue in (("gialai", 2), ("binhdinh", 1)):
            session.add(UnitRow(code="STC", name="Sở Tài chính", kind="department", source=source))
            for i in range(overdue):
                row = _task(i + 1, "STC", "DTH_QUA_HAN")
                row.source = source
                session.add(row)
            run = _run(f"r-{source}", "sync", "success", 1, counts={"inserted": overdue})
            run.source = source
            session.add(run)
        session.commit()
    with use_source("gialai"):
        target = export_metrics(ledger, tmp_path / "idesk.prom", now=T0 + timedelta(hours=1))
    samples = parse_strict(target.read_text())
    assert samples[("idesk_connector_overdue_tasks", (("source", "gialai"), ("unit", "STC")))] == 2
    key = ("idesk_connector_overdue_tasks", (("source", "binhdinh"), ("unit", "STC")))
    assert samples[key] == 1
    inserted = "idesk_connector_last_run_inserted"
    assert samples[(inserted, (("command", "sync"), ("source", "binhdinh")))] == 1
    assert all(
        ("source", "gialai") in labels or ("source", "binhdinh") in labels
        for (_, labels) in samples
    )
