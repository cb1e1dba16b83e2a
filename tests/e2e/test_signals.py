"""SIGTERM/SIGINT become Interrupted at a safe point; critical blocks finish; handlers restored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from sqlalchemy import create_engine, event, text
from structlog.testing import capture_logs

from cli import EXIT_INTERRUPTED, handle_errors
from connector.errors import Interrupted
from connector.ops.locking import ledger_lock
from connector.ops.signals import InterruptGuard, SignalInterrupted, interrupt_guard
from connector.source.readahead import read_ahead
from connector.source.transport import RequestDeadline
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import (
    ForkServer,
    Launcher,
    deployment_for,
    events_in,
    integrity_check,
    ledger_matches_world,
    ledger_rows,
)


@pytest.mark.parametrize(
    "sig",
    [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")],
)
def test_signal_raises_interrupted_with_exit_130(sig: signal.Signals) -> None:
    """A real SIGTERM or SIGINT inside the guard raises Interrupted (exit 130) naming it."""
    with capture_logs() as logs, pytest.raises(SignalInterrupted) as info, interrupt_guard():
        os.kill(os.getpid(), sig)  # delivered to ourselves before kill() returns
        pytest.fail("the signal did not interrupt")
    assert isinstance(info.value, Interrupted)
    assert info.value.exit_code == 130
    assert info.value.signal_name == sig.name
    assert logs[0]["event"] == "signal_received"
    assert logs[0]["signal"] == sig.name


def test_handlers_are_restored() -> None:
    """After the block, the previous handlers are back (even after an interrupt)."""
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(Interrupted), interrupt_guard() as guard:
        assert signal.getsignal(signal.SIGTERM) == guard.handle
        guard.handle(signal.SIGTERM, None)
    assert {s: signal.getsignal(s) for s in before} == before


def test_critical_block_defers_until_its_end() -> None:
    """A signal inside critical() is held: the block completes, then Interrupted is raised."""
    done: list[str] = []
    with pytest.raises(Interrupted), interrupt_guard() as guard:
        with guard.critical():
            guard.handle(signal.SIGTERM, None)
            done.append("commit")
        done.append("after")  # never reached
    assert done == ["commit"]


def test_nested_critical_blocks_defer_to_the_outermost() -> None:
    """Nested critical blocks: the interrupt waits for the outermost to end."""
    guard = InterruptGuard()
    order: list[str] = []
    with pytest.raises(Interrupted), guard.critical():
        with guard.critical():
            guard.handle(signal.SIGINT, None)
            order.append("inner")
        order.append("outer")
    assert order == ["inner", "outer"]


def test_deferred_mode_raises_only_at_check() -> None:
    """With immediate=False the first signal waits for check(); a second one fires at once."""
    guard = InterruptGuard(immediate=False)
    guard.handle(signal.SIGTERM, None)
    assert guard.interrupted and not guard.raised
    with pytest.raises(Interrupted):
        guard.check()
    guard2 = InterruptGuard(immediate=False)
    guard2.handle(signal.SIGTERM, None)
    with pytest.raises(Interrupted):
        guard2.handle(signal.SIGINT, None)


def test_later_signals_do_not_interrupt_the_cleanup() -> None:
    """Once raised, further signals are logged but never raised again (clean-up runs whole)."""
    guard = InterruptGuard()
    with pytest.raises(Interrupted):
        guard.handle(signal.SIGTERM, None)
    with capture_logs() as logs:
        guard.handle(signal.SIGINT, None)
        guard.handle(signal.SIGTERM, None)
        guard.check()
    assert [e["first"] for e in logs] == [False, False]
    assert guard.received == signal.SIGTERM


class _SignalledWhenFinalised:
    """An object whose finaliser receives SIGTERM, as a weakref callback or ``__del__`` of the
    HTTP or database layers does when the signal lands while it runs."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs here, inside the finaliser


def test_signal_landing_in_a_finaliser_is_raised_at_the_next_safe_point(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A SIGTERM whose handler runs inside a finaliser (Python swallows what a finaliser raises,
    printing "Exception ignored in") is not lost: the next check raises it, and no raw
    traceback reaches stderr. (It was lost: the run went on to the end and exited 0.)"""
    with pytest.raises(SignalInterrupted), interrupt_guard() as guard:
        _SignalledWhenFinalised()  # finalised at once, the signal handled inside __del__
        assert guard.interrupted
        guard.check()
        pytest.fail("the signal received inside a finaliser was lost")
    assert "Exception ignored" not in capsys.readouterr().err


def test_a_finaliser_signal_held_by_a_critical_block_is_raised_at_its_end() -> None:
    """The same signal inside a critical block is held, then raised when the block ends."""
    done: list[str] = []
    with pytest.raises(SignalInterrupted), interrupt_guard() as guard:
        with guard.critical():
            _SignalledWhenFinalised()
            done.append("block")
        pytest.fail("not raised at the end of the critical block")
    assert done == ["block"]


def test_check_without_signal_is_silent() -> None:
    """check() does nothing when no signal arrived."""
    with interrupt_guard() as guard:
        guard.check()
        assert not guard.interrupted


def test_outside_main_thread_installs_nothing() -> None:
    """In another thread the guard installs no handler (Python forbids it) and does not fail."""
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def worker() -> None:
        with interrupt_guard() as guard:
            seen.append(signal.getsignal(signal.SIGTERM))
            guard.check()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_transaction_rolls_back_on_interrupt(tmp_path: Path) -> None:
    """An interrupt inside `with conn.begin()` leaves the database as before the transaction."""
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    with pytest.raises(Interrupted), interrupt_guard() as guard, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        guard.handle(signal.SIGTERM, None)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    engine.dispose()


_CHILD = textwrap.dedent(
    """
    import sys, time
    from connector.errors import Interrupted
    from connector.ops.locking import ledger_lock
    from connector.ops.signals import interrupt_guard
    try:
        with ledger_lock(sys.argv[1]), interrupt_guard():
            print("ready", flush=True)
            time.sleep(30)
    except Interrupted as exc:
        print("interrupted", exc.signal_name, flush=True)
        sys.exit(exc.exit_code)
    """
)


def test_sigterm_in_a_process_exits_130_and_frees_the_lock(tmp_path: Path) -> None:
    """A process SIGTERMed mid-sleep stops promptly with 130 and its lock is free afterwards."""
    from connector.ops.locking import ledger_lock

    url = f"sqlite:///{tmp_path / 'l.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, url], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "ready":
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert "interrupted SIGTERM" in out
    with ledger_lock(url):
        pass


@pytest.mark.parametrize(
    ("sig", "console_script"),
    [
        pytest.param(signal.SIGTERM, True, id="SIGTERM-console-script"),
        pytest.param(signal.SIGINT, False, id="SIGINT"),
    ],
)
def test_signal_mid_sync_is_recorded_and_frees_the_lock(
    tmp_path: Path, sig: signal.Signals, console_script: bool
) -> None:
    """A sync signalled mid-run exits 130, is recorded `interrupted`, and the lock is free."""
    config = SimulatorConfig(tasks=60, seed=2, faults=Faults.none(), frozen_clock=True)
    forks = None if console_script else ForkServer()
    try:
        with Simulator(config) as sim:
            dep = deployment_for(sim, tmp_path, source_toml="page_size = 5")
            launcher = Launcher(dep, forks)
            run = launcher.start("sync")
            deadline = time.monotonic() + 60
            while "page_fetched" not in run.stderr:
                assert run.wait(0.005) is None, f"finished before the signal:\n{run.stderr}"
                assert time.monotonic() < deadline
            run.signal(sig)
            assert run.wait(30) == 130, run.stderr[-3000:]
            assert "interrupted" in run.stderr
            rows = ledger_rows(dep.ledger_path, "sync_run")
            assert [r["outcome"] for r in rows] == ["interrupted"]
            assert rows[0]["ended_at"] is not None
            finished = [e for e in events_in(run.stderr) if e.get("event") == "run_finished"]
            assert finished and finished[0]["outcome"] == "interrupted"
            assert integrity_check(dep.ledger_path) == "ok"
            with ledger_lock(dep.ledger_url):  # released: taken at once, no waiting
                pass
            again = launcher.run("sync")
            assert again.returncode in (0, 1), again.stderr[-3000:]
            assert ledger_matches_world(dep.ledger_path, sim) == []
    finally:
        if forks is not None:
            forks.close()


def test_sigterm_while_waiting_for_the_lock_exits_130(tmp_path: Path) -> None:
    """`sync --wait N` (the README's cron line) SIGTERMed while another run holds the lock:
    exit 130 with the `interrupted` line, as the exit-code table says (it died of the signal,
    exit 143 with nothing said), and no run recorded."""
    config = SimulatorConfig(tasks=5, seed=2, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path)
        launcher = Launcher(dep)
        with ledger_lock(dep.ledger_url):
            run = launcher.start("sync", "--wait", "300")
            deadline = time.monotonic() + 60
            while "lock_waiting" not in run.stderr:
                assert run.wait(0.01) is None, f"ended before waiting:\n{run.stderr}"
                assert time.monotonic() < deadline, "the run never waited for the lock"
            run.signal(signal.SIGTERM)
            assert run.wait(30) == 130, run.stderr[-3000:]
        lines = [line for line in run.stderr.splitlines() if not line.startswith("{")]
        assert len(lines) == 1 and lines[0].startswith("interrupted: stopped by SIGTERM"), lines
        # It says that no run was recorded (it said "the run recorded as interrupted").
        assert "before the run started" in lines[0] and "recorded as interrupted" not in lines[0]
        assert ledger_rows(dep.ledger_path, "sync_run") == []


def test_an_interrupt_turned_into_another_error_exits_130(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A SIGTERM that landed in library code whose clean-up then raised something else (a
    KeyError from `threading.Thread.start`) ends the command as interrupted, exit 130, not as an
    internal error (exit 70, "this is a bug")."""

    @handle_errors
    def command() -> None:
        with interrupt_guard() as guard:
            try:
                guard.handle(signal.SIGTERM, None)
            except SignalInterrupted:
                raise KeyError("<Timer(Thread-2, started daemon)>")  # noqa: B904

    with pytest.raises(typer.Exit) as info:
        command()
    assert info.value.exit_code == EXIT_INTERRUPTED
    assert capsys.readouterr().err.startswith("interrupted: stopped by SIGTERM")


def _read_ahead_started() -> None:
    with read_ahead(iter([1, 2, 3]), depth=1) as pages:
        list(pages)


def _deadline_started() -> None:
    with RequestDeadline(30):
        pass


@pytest.mark.parametrize(
    "starting",
    [
        pytest.param(_read_ahead_started, id="page-reader"),
        pytest.param(_deadline_started, id="request-deadline"),
    ],
)
def test_a_signal_while_a_thread_starts_is_raised_after_the_start(
    monkeypatch: pytest.MonkeyPatch, starting: Callable[[], None]
) -> None:
    """SIGTERM arriving while the connector starts a thread (the page reader, a request's
    deadline timer) is raised once `Thread.start` has finished, never inside it: raised midway
    it left the thread half-registered, and `Thread.start`'s clean-up answered KeyError (an
    internal error, exit 70) or the new thread printed a raw traceback."""
    original = threading._start_new_thread  # type: ignore[attr-defined]

    def start_then_signal(*args: object) -> int:
        ident = int(original(*args))
        os.kill(os.getpid(), signal.SIGTERM)  # its handler runs as soon as it may
        return ident

    monkeypatch.setattr(threading, "_start_new_thread", start_then_signal)
    before = set(threading.enumerate())
    with pytest.raises(SignalInterrupted) as info, interrupt_guard():
        starting()
    inside_start = [
        frame
        for frame in traceback.extract_tb(info.value.__traceback__)
        if frame.filename == threading.__file__
    ]
    assert inside_start == [], "the interrupt was raised inside Thread.start"
    # The thread started is stopped too (a page reader left blocked on its full queue, or a
    # deadline timer left waiting, lived on in the process: a forked report then refused).
    left = [t for t in set(threading.enumerate()) - before if not _ended(t)]
    assert left == [], f"threads left running: {left}"


def _ended(thread: threading.Thread) -> bool:
    thread.join(timeout=5)
    return not thread.is_alive()


def test_a_signal_swallowed_by_the_connection_pool_is_raised_at_the_next_safe_point(
    tmp_path: Path,
) -> None:
    """SIGTERM landing while SQLAlchemy's pool resets a connection given back (it catches
    every Exception there, logs "Exception during reset or similar" and goes on) is not lost:
    the next check raises it. (It was: the run went on to its end, exit 0.)"""
    engine = create_engine(f"sqlite:///{tmp_path / 'pool.db'}")
    with pytest.raises(SignalInterrupted), interrupt_guard() as guard:

        @event.listens_for(engine, "reset")
        def signalled(dbapi_connection: object, record: object, state: object) -> None:
            guard.handle(signal.SIGTERM, None)  # the handler runs inside the pool's reset

        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert guard.interrupted
        guard.check()
        pytest.fail("the signal swallowed by the pool was lost")
    engine.dispose()
