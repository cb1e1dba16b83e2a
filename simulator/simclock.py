"""The simulator's clock: its start instant, plus real time elapsed, plus days advanced.

Session expiry, the 24-hour idempotency window, `lastModifyStr` of changes and the `Date` header
all read this clock, so a test moves time forward with `advance` instead of sleeping. A frozen
clock ignores real time (fully deterministic `lastModifyStr` values).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from connector.clock import local_date, require_aware, to_utc


class SimClock:
    """A `connector.clock.Clock` that starts at a given instant and can be moved forward."""

    def __init__(
        self,
        start: datetime,
        *,
        frozen: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._start = to_utc(start)
        self._frozen = frozen
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    @property
    def start(self) -> datetime:
        return self._start

    @property
    def offset(self) -> timedelta:
        """How far the clock was moved forward by `advance`."""
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        """The simulated instant (UTC, aware)."""
        elapsed = 0.0 if self._frozen else self._monotonic() - self._t0
        with self._lock:
            return self._start + self._offset + timedelta(seconds=elapsed)

    def today(self) -> date:
        """The simulated local date."""
        return local_date(self.now())

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward (never back); returns the new instant."""
        if delta < timedelta(0):
            raise ValueError(f"the simulated clock only moves forward, got {delta}")
        with self._lock:
            self._offset += delta
        return self.now()

    def advance_to(self, instant: datetime) -> datetime:
        """Move the clock forward to `instant` (no-op when it is already later)."""
        gap = to_utc(require_aware(instant)) - self.now()
        if gap > timedelta(0):
            self.advance(gap)
        return self.now()
