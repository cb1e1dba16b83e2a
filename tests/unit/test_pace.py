"""The one pacing budget of a source (`connector.source.transport.TokenBucket`): no burst, a
``Retry-After`` hold that every sender waits for, a slower pace after a 429 that climbs back,
requests that keep their distance as they actually go, and a little headroom below the limit."""

from __future__ import annotations

import itertools
import threading

import pytest

from connector.source.transport import (
    PACE_HEADROOM,
    RECOVERY,
    SLOW_DOWN,
    TokenBucket,
    pace_for,
)
from simulator.faults import RateLimiter
from tests.support.timing import FakeTime


def _bucket(t: FakeTime, rate: float) -> TokenBucket:
    return TokenBucket(rate, monotonic=t.monotonic, sleep=t.sleep)


def test_no_burst_after_an_idle_while() -> None:
    """Idle for a minute, the next requests still go 1/rate apart: nothing saved up."""
    t = FakeTime()
    bucket = _bucket(t, 10)
    t.now = 60.0
    stamps = []
    for _ in range(4):
        bucket.acquire()
        stamps.append(t.now)
    assert stamps == pytest.approx([60.0, 60.1, 60.2, 60.3])


def test_paced_requests_never_trip_a_burst_one_limiter_at_the_same_limit() -> None:
    """1,000 requests paced for a limit of 20/s all pass the simulator's limiter at 20/s with a
    burst of 1, on the same clock (at exactly 20/s, 0.05 s apart, rounding alone refuses some)."""
    t = FakeTime()
    bucket = _bucket(t, pace_for(20))
    limiter = RateLimiter(20, 1.0, monotonic=t.monotonic)
    refused = 0
    for _ in range(1000):
        bucket.acquire()
        refused += limiter.acquire("connector") > 0
    assert refused == 0
    assert PACE_HEADROOM < 1


def test_a_hold_keeps_back_a_reservation_made_before_it() -> None:
    """A sender waiting for its moment when another sender's 429 holds the pace waits for the
    hold too (the Retry-After pauses every sender), then the pace resumes 1/rate apart."""
    t = FakeTime()
    bucket = _bucket(t, 10)
    bucket.acquire()  # t = 0
    sleeps_before = len(t.sleeps)

    def sleep_and_hold(seconds: float) -> None:
        # While the second sender sleeps towards its moment (0.1), a 429 says: 3 s.
        if len(t.sleeps) == sleeps_before:
            bucket.hold(3.0)
        t.sleep(seconds)

    bucket._sleep = sleep_and_hold
    bucket.acquire()
    assert t.now == pytest.approx(3.0)
    bucket.acquire()
    assert t.now == pytest.approx(3.1)


def test_threads_share_one_pace() -> None:
    """Four threads taking 40 moments between them: 40 acquisitions, each 1/rate after the one
    before as they actually went (the bucket's own record), whoever took them."""
    bucket = TokenBucket(400)
    gone: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(10):
            bucket.acquire()
            with lock:
                gone.append(bucket._last_gone)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert bucket.acquired == 40
    moments = sorted(set(gone))
    assert len(moments) == 40
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= 1 / 400 - 1e-9


def test_a_429_slows_the_pace_once_then_it_climbs_back() -> None:
    """`slow_down`: the pace drops to SLOW_DOWN of the rate (several 429s of one moment count
    once), then each request brings back RECOVERY of it until the full rate."""
    t = FakeTime()
    bucket = _bucket(t, 10)
    bucket.acquire()
    bucket.slow_down()
    bucket.slow_down()  # a second sender's 429 of the same moment
    assert bucket.slowed == 1
    assert bucket.current_rate == pytest.approx(10 * SLOW_DOWN)
    before = t.now
    bucket.acquire()
    assert t.now - before == pytest.approx(1 / (10 * SLOW_DOWN))
    for _ in range(round((1 - SLOW_DOWN) / RECOVERY) + 5):
        bucket.acquire()
    assert bucket.current_rate == pytest.approx(10)


def test_set_rate_keeps_the_hold() -> None:
    """A run's next phase changes the rate, not the hold in force."""
    t = FakeTime()
    bucket = _bucket(t, 10)
    bucket.hold(2.0)
    bucket.set_rate(20)
    bucket.acquire()
    bucket.acquire()
    assert t.now == pytest.approx(2.05)
