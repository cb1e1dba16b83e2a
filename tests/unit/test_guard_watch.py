"""The interrupt guard's watches (the run lock's check): run at every safe point (`check()`),
never inside a critical or held block, at a critical block's end, or after `stand_down()`."""

from __future__ import annotations

import signal

import pytest

from connector.errors import LockLost
from connector.ops.signals import InterruptGuard, SignalInterrupted


def test_watches_run_at_check_only() -> None:
    guard = InterruptGuard()
    calls: list[str] = []
    guard.watch(lambda: calls.append("a"))
    guard.watch(lambda: calls.append("b"))
    guard.check()
    assert calls == ["a", "b"]
    with guard.critical():
        guard.check()
    with guard.held():
        guard.check()
    assert calls == ["a", "b"]  # neither inside the blocks nor at the critical block's end
    guard.stand_down()
    guard.check()
    assert calls == ["a", "b"]


def test_a_watch_raises_at_check_and_a_pending_signal_comes_first() -> None:
    guard = InterruptGuard(immediate=False)

    def lost() -> None:
        raise LockLost("postgresql advisory lock 1 on database 'x'")

    guard.watch(lost)
    with pytest.raises(LockLost):
        guard.check()
    guard.handle(signal.SIGTERM, None)  # deferred (immediate=False) to the next check
    with pytest.raises(SignalInterrupted):
        guard.check()
