"""SIGTERM and SIGINT become `Interrupted`, raised where it is safe, so a run can stop cleanly.

Inside `interrupt_guard()` the first SIGTERM or SIGINT raises `SignalInterrupted` (an
`Interrupted`, exit code 130) in the main thread at once, wherever it is (a blocking HTTP read
included), except inside a `critical()` block, where it is held until the block ends. A database
transaction opened with ``with session.begin():`` therefore rolls back on the way out, and one
wrapped in ``critical()`` (a commit, say) finishes first. `check()` raises a pending interrupt
at a safe point of the caller's choosing (between pages, between deliveries); with
``immediate=False`` that is the only place the first signal is raised (a second one, the impatient
operator's, is raised at once). `check()` also runs the checks given to `watch()` (the run
lock's: a PostgreSQL advisory lock lost with its session raises `LockLost` there), so the run's
safe points are one place; the end of a `critical()` block does not.

After the first signal, further signals are noted but never raised again, so the clean-up that
follows (rolling back, recording the run as ``interrupted``, releasing the lock) is not itself
interrupted. The previous handlers are restored when the block ends.

A handler that runs inside a finaliser (a ``__del__`` or weakref callback of the HTTP or
database layers, run whenever an object is dropped) raises where Python cannot let it out: it
swallows it, printing "Exception ignored in ...". The guard sees it through `sys.unraisablehook`
(installed with the handlers), as it sees one that SQLAlchemy's pool swallowed (it catches every
Exception while it resets a connection given back, and logs it), and arms the interrupt again,
so the next safe point (`check()`, the end of a `critical()` block: every commit) raises it;
without this the run went on to its end and exited 0, ignoring the SIGTERM of ``systemctl
stop``.

Signal handlers can only be installed from the main thread; elsewhere the guard installs none and
only `check()` works (it never fires).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import structlog

from connector.errors import Interrupted

log = structlog.get_logger(__name__)

HANDLED_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class SignalInterrupted(Interrupted):
    """A run stopped by a signal; `signum` says which."""

    def __init__(self, signum: int, *, recorded: bool = True) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(
            f"stopped by {self.signal_name}; the current transaction was rolled back "
            "and the run recorded as interrupted"
            if recorded
            else f"stopped by {self.signal_name} before the run started (while it opened the "
            "ledger or waited for the lock): nothing was written and no run recorded"
        )


class InterruptGuard:
    """The state of one `interrupt_guard()` block: which signal arrived and whether it fired."""

    def __init__(self, *, immediate: bool = True) -> None:
        self.immediate = immediate
        self.received: int | None = None
        self.raised = False
        self._critical_depth = 0
        self._watches: list[Callable[[], None]] = []
        self.run_recorded: bool | None = None
        """False until the run's start is recorded (`recorded_run` sets it), so that an interrupt
        before then says no run was recorded; None: not tracked."""

    @property
    def interrupted(self) -> bool:
        """True once a handled signal has arrived."""
        return self.received is not None

    def _fire(self) -> None:
        assert self.received is not None
        self.raised = True
        raise SignalInterrupted(self.received, recorded=self.run_recorded is not False)

    def handle(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler (public so tests can call it without sending a signal)."""
        del frame
        first = self.received is None
        if first:
            self.received = signum
        log.warning(
            "signal_received",
            signal=signal.Signals(signum).name,
            first=first,
            deferred=self._critical_depth > 0 or not self.immediate,
        )
        if not self.raised and self._critical_depth == 0 and (self.immediate or not first):
            self._fire()

    def swallowed(self, exc: BaseException | None) -> bool:
        """If `exc` is our interrupt, which something swallowed instead of letting it out, arm
        it again (raised at the next safe point); whether it was."""
        if isinstance(exc, SignalInterrupted) and self.received is not None:
            self.raised = False
            return True
        return False

    def unraisable(self, unraisable: Any, previous: Any) -> None:
        """`sys.unraisablehook` in the block: our interrupt swallowed by a finaliser is armed
        again; anything else goes to `previous`."""
        if not self.swallowed(unraisable.exc_value):
            previous(unraisable)

    def watch(self, check: Callable[[], None]) -> None:
        """Run `check` (which raises what stops the run) at every `check()` from now on."""
        self._watches.append(check)

    def _pending(self) -> None:
        if self.received is not None and not self.raised and self._critical_depth == 0:
            self._fire()

    def check(self) -> None:
        """A safe point: raise the pending interrupt, if any, unless it was raised already;
        then run the watches (none inside a `critical()` or `held()` block, or after
        `stand_down()`)."""
        self._pending()
        if self._critical_depth == 0:
            for watch in self._watches:
                watch()

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block no signal interrupts; a signal that arrived meanwhile is raised at its end."""
        with self.held():
            yield
        if self.immediate:
            self._pending()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A block no signal interrupts, which leaves a signal that arrived meanwhile pending
        (for the caller's next `check()`, which it places where the interrupt is handled)."""
        self._critical_depth += 1
        try:
            yield
        finally:
            self._critical_depth -= 1

    def stand_down(self) -> None:
        """From here to the end of the block signals are only noted, never raised: the run is
        recording how it ended, which a signal must not cut short (the process ends next)."""
        self._critical_depth += 1


class _PoolSwallowed(logging.Handler):
    """On SQLAlchemy's pool logger: the pool catches every Exception raised while it resets a
    connection given back, logs "Exception during reset or similar" and goes on; our
    interrupt among them is armed again."""

    def __init__(self, guard: InterruptGuard) -> None:
        super().__init__(logging.ERROR)
        self.guard = guard

    def emit(self, record: logging.LogRecord) -> None:
        self.guard.swallowed(record.exc_info[1] if record.exc_info else None)


POOL_LOGGER = "sqlalchemy.pool"


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """Block the handled signals in this thread for the block (``pthread_sigmask``); one that
    arrives meanwhile is delivered, its handler run, as the block ends.

    Around starting a thread: `threading.Thread.start` is not safe against an exception raised
    inside it (the thread is left half-registered and its clean-up raises KeyError, or the new
    thread prints a traceback), and a thread started while they are blocked keeps them blocked,
    so they go on reaching the main thread, where the guard handles them. Around writing a log
    line (`connector.ops.log`): the line is written whole before the interrupt is raised.
    """
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on Linux
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def interrupt_guard(
    *, immediate: bool = True, signals: tuple[signal.Signals, ...] = HANDLED_SIGNALS
) -> Iterator[InterruptGuard]:
    """Turn `signals` into `SignalInterrupted` for the duration of the block (see module doc)."""
    guard = InterruptGuard(immediate=immediate)
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous: dict[signal.Signals, Any] = {}
    previous_hook = sys.unraisablehook
    pool = _PoolSwallowed(guard)
    try:
        sys.unraisablehook = lambda unraisable: guard.unraisable(unraisable, previous_hook)
        logging.getLogger(POOL_LOGGER).addHandler(pool)
        for sig in signals:
            previous[sig] = signal.signal(sig, guard.handle)
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        logging.getLogger(POOL_LOGGER).removeHandler(pool)
        sys.unraisablehook = previous_hook
