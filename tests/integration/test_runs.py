"""Run records: one sync_run row per run with its outcome and counts, one run_finished event."""

from __future__ import annotations

import contextlib
import io
import json
import signal
from datetime import timedelta

import pytest
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import (
    AuthError,
    ConfigError,
    Interrupted,
    LedgerError,
    SourceRefused,
    SourceUnavailable,
)
from connector.ledger.db import Ledger
from connector.ops import runs as runs_module
from connector.ops.runs import (
    RunOutcome,
    default_trigger,
    get_run,
    list_runs,
    outcome_for,
    recorded_run,
)
from connector.ops.signals import InterruptGuard, SignalInterrupted, interrupt_guard


class Ticker:
    """A monotonic clock that moves 2.5 s per call."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 2.5
        return self.t


def test_success_is_recorded_with_counts_and_one_summary(
    ledger: Ledger, clock: FixedClock
) -> None:
    """A clean run: row running during the block, then success, counts, end time; one event."""
    start = clock.now()
    recorded = recorded_run(ledger, "pull", "cron", "run-1", clock, monotonic=Ticker())
    with capture_logs() as logs, recorded as run:
        during = get_run(ledger, "run-1")
        assert during is not None and during.outcome == "running"
        run.update({"fetched": 10, "inserted": 3})
        run.add({"inserted": 2, "waited_s": 1.5})
        clock.advance(timedelta(seconds=42))
    row = get_run(ledger, "run-1")
    assert row is not None
    assert (row.command, row.trigger, row.outcome, row.error) == ("pull", "cron", "success", "")
    assert (row.started_at, row.ended_at) == (start, start + timedelta(seconds=42))
    assert row.counts == {"fetched": 10, "inserted": 5, "waited_s": 1.5}
    finished = [e for e in logs if e["event"] == "run_finished"]
    assert len(finished) == 1
    event = finished[0]
    assert (event["outcome"], event["inserted"], event["fetched"]) == ("success", 5, 10)
    assert event["duration_s"] == 2.5


def test_quarantine_makes_problems(ledger: Ledger, clock: FixedClock) -> None:
    """A finished run that quarantined a record ends with outcome problems."""
    with recorded_run(ledger, "pull", "manual", "run-2", clock) as run:
        run.update({"quarantined": 1})
    row = get_run(ledger, "run-2")
    assert row is not None and row.outcome == "problems"


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        pytest.param(SourceUnavailable("gone", url="https://x/tasks"), "source_unavailable",
                     id="unavailable"),
        pytest.param(SourceRefused("no", status=400), "source_unavailable", id="refused"),
        pytest.param(AuthError("bad password"), "auth_failed", id="auth"),
        pytest.param(ConfigError("bad key"), "config_error", id="config"),
        pytest.param(Interrupted("stopped"), "interrupted", id="interrupted"),
        pytest.param(KeyboardInterrupt(), "interrupted", id="ctrl-c"),
        pytest.param(LedgerError("disk full"), "failed", id="ledger"),
        pytest.param(RuntimeError("bug"), "failed", id="bug"),
    ],
)
def test_errors_are_recorded_and_reraised(
    ledger: Ledger, clock: FixedClock, error: BaseException, outcome: str
) -> None:
    """An error ends the run with its outcome and message, and propagates unchanged."""
    recorded = recorded_run(ledger, "sync", "cron", "run-x", clock)
    with capture_logs() as logs, pytest.raises(type(error)) as raised, recorded as run:
        run.update({"pages": 2})
        raise error
    assert raised.value is error
    row = get_run(ledger, "run-x")
    assert row is not None
    assert row.outcome == outcome
    assert row.counts == {"pages": 2}
    assert row.ended_at is not None
    if str(error):
        assert str(error).splitlines()[0] in row.error
    (event,) = [e for e in logs if e["event"] == "run_finished"]
    assert event["outcome"] == outcome and event["pages"] == 2


def test_error_text_never_holds_a_known_secret(ledger: Ledger, clock: FixedClock) -> None:
    """A secret in an unexpected error's text is redacted before it is stored."""
    from connector.ops.log import REDACTOR

    REDACTOR.add(["canary-Secret-77"])
    with pytest.raises(RuntimeError), recorded_run(ledger, "pull", "cron", "run-s", clock):
        raise RuntimeError("login failed for canary-Secret-77")
    row = get_run(ledger, "run-s")
    assert row is not None and "canary-Secret-77" not in row.error


def test_explicit_outcome_wins_when_finished(ledger: Ledger, clock: FixedClock) -> None:
    """A command may set its own outcome (e.g. problems for dead deliveries)."""
    with recorded_run(ledger, "push", "cron", "run-o", clock) as run:
        run.outcome = RunOutcome.PROBLEMS
    row = get_run(ledger, "run-o")
    assert row is not None and row.outcome == "problems"


def test_list_runs_newest_first(ledger: Ledger, clock: FixedClock) -> None:
    """list_runs returns the latest runs first, filtered by command when asked."""
    for i, command in enumerate(["pull", "push", "pull"]):
        with recorded_run(ledger, command, "cron", f"r{i}", clock, dry_run=i == 1):
            pass
        clock.advance(timedelta(minutes=5))
    assert [r.run_id for r in list_runs(ledger)] == ["r2", "r1", "r0"]
    assert [r.run_id for r in list_runs(ledger, command="pull", limit=1)] == ["r2"]
    assert [r.dry_run for r in list_runs(ledger)] == [False, True, False]


def test_a_run_is_listed_with_its_source(ledger: Ledger, clock: FixedClock) -> None:
    """Each run is read back with the source it ran for, and `runs list --format json` and
    `status` give it as ``source`` (a ledger of several sources)."""
    from connector.ledger.scope import writing_as
    from connector.views.shapes import runs_json

    for run_id, source in (("g1", "gia-lai"), ("b1", "binh-dinh")):
        with writing_as(source), recorded_run(ledger, "sync", "cron", run_id, clock):
            pass
        clock.advance(timedelta(minutes=5))
    assert [(r.run_id, r.source) for r in list_runs(ledger)] == [
        ("b1", "binh-dinh"),
        ("g1", "gia-lai"),
    ]
    assert [r["source"] for r in runs_json(list_runs(ledger))["runs"]] == ["binh-dinh", "gia-lai"]


def test_counts_json_is_valid(ledger: Ledger, clock: FixedClock) -> None:
    """The stored counts are a JSON object (what metrics reads)."""
    with recorded_run(ledger, "pull", "cron", "run-j", clock) as run:
        run.update({"fetched": 1})
    with ledger.reading() as session:
        from connector.ledger.tables import SyncRun

        row = session.get(SyncRun, "run-j")
        assert row is not None and json.loads(row.counts_json) == {"fetched": 1}


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(_Tty(), "manual", id="terminal"),
        pytest.param(io.StringIO(), "cron", id="pipe"),
    ],
)
def test_default_trigger(stream: io.StringIO, expected: str) -> None:
    """Runs from a terminal are manual, everything else counts as cron."""
    assert default_trigger(stream) == expected


def test_outcome_for_finished_runs() -> None:
    """Without an error: success, unless something was quarantined or dead."""
    assert outcome_for(None, {"fetched": 5}) is RunOutcome.SUCCESS
    assert outcome_for(None, {"dead": 1}) is RunOutcome.PROBLEMS
    assert outcome_for(None, {"quarantined": 0, "dead": 0}) is RunOutcome.SUCCESS


def _signalled_at(
    monkeypatch: pytest.MonkeyPatch, guard: InterruptGuard, name: str, *, before: bool
) -> None:
    """SIGTERM lands while `recorded_run` calls its `name` (``write_start``: recording the
    start; ``_write_end``: recording the end), `before` or after it wrote."""
    original = getattr(runs_module, name)

    def landing(*args: object, **kwargs: object) -> object:
        if before:
            guard.handle(signal.SIGTERM, None)
        result = original(*args, **kwargs)
        if not before:
            guard.handle(signal.SIGTERM, None)
        return result

    monkeypatch.setattr(runs_module, name, landing)


@pytest.mark.parametrize("before", [True, False], ids=["before-the-write", "after-the-write"])
def test_a_signal_while_the_start_is_recorded_is_recorded_as_interrupted(
    ledger: Ledger, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, before: bool
) -> None:
    """SIGTERM while the run's start is being recorded: the run stops with Interrupted and its
    row says `interrupted` (there was no row at all, or one left `running`, while the message
    said "the run recorded as interrupted")."""
    with pytest.raises(SignalInterrupted), interrupt_guard() as guard:
        _signalled_at(monkeypatch, guard, "write_start", before=before)
        with recorded_run(ledger, "sync", "cron", "run-s", clock, guard=guard):
            pytest.fail("the work started after the signal")
    row = get_run(ledger, "run-s")
    assert row is not None and row.outcome == "interrupted"


@pytest.mark.parametrize("failure", [None, SourceUnavailable("down")], ids=["done", "failed"])
def test_a_signal_while_the_end_is_recorded_leaves_the_record_whole(
    ledger: Ledger,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception | None,
) -> None:
    """SIGTERM while a run that did its work (or failed) records its end: the end is written
    with the run's own outcome and error, never cut short into a run left `running` (exit 130
    said "recorded as interrupted" while `runs list` showed it running, then abandoned)."""
    with contextlib.ExitStack() as stack, interrupt_guard() as guard:
        _signalled_at(monkeypatch, guard, "_write_end", before=True)
        if failure is not None:
            stack.enter_context(pytest.raises(SourceUnavailable))
        with recorded_run(ledger, "push", "cron", "run-e", clock, guard=guard) as run:
            run.update({"pushes_sent": 3})
            if failure is not None:
                raise failure
    row = get_run(ledger, "run-e")
    assert row is not None
    assert row.outcome == ("success" if failure is None else "source_unavailable")
    assert row.counts == {"pushes_sent": 3}
    assert guard.interrupted


def test_an_interrupt_turned_into_another_error_is_recorded_as_interrupted(
    ledger: Ledger, clock: FixedClock
) -> None:
    """SIGTERM raised inside library code whose own clean-up then fails (it landed in
    `threading.Thread.start`, which answered with a KeyError): the run is recorded
    `interrupted`, not `failed` as a bug."""
    with (
        pytest.raises(KeyError),
        interrupt_guard() as guard,
        recorded_run(ledger, "sync", "cron", "run-k", clock, guard=guard),
    ):
        try:
            guard.handle(signal.SIGTERM, None)
        except SignalInterrupted:
            raise KeyError("<Timer(Thread-2, started daemon)>") from None
    row = get_run(ledger, "run-k")
    assert row is not None and row.outcome == "interrupted"
