"""Time for tests that must not wait: a clock that moves only when slept on, and a sleep that
waits a capped real moment (for servers whose rate limit refills in real time)."""

from __future__ import annotations

import time


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps; `sleeps` lists the
    waits asked for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class QuickSleep:
    """A retry wait cut to at most `cap` real seconds (the simulator's rate limit refills in
    real time, so some real wait is needed); `asked` lists the waits asked for."""

    def __init__(self, cap: float = 0.05) -> None:
        self.cap = cap
        self.asked: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        time.sleep(min(seconds, self.cap))
