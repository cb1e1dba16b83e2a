"""The one pacing budget of a source (`connector.source.transport.TokenBucket`): no burst, a
``Retry-After`` hold that every sender waits for, a slower pace after a 429 that climbs back,
requests that keep their distance as they actually go, and a little headroom below the limit."""

from __future__ import annotations

import itertools
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.source.transport import (
    PACE_HEADROOM,
    QUIET_LONGEST,
    QUIET_SECONDS,
    RECOVERY,
    SEND_TOLERANCE,
    SLOW_DOWN,
    RequestDeadline,
    TokenBucket,
    pace_for,
)
from simulator.faults import RateLimiter, WindowLimiter
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
    once), then each request brings back RECOVERY of it until the full rate (within the quiet
    period: 505 requests at 100/s take about 5 s)."""
    t = FakeTime()
    bucket = _bucket(t, 100)
    bucket.acquire()
    bucket.slow_down()
    bucket.slow_down()  # a second sender's 429 of the same moment
    assert bucket.slowed == 1
    assert bucket.current_rate == pytest.approx(100 * SLOW_DOWN)
    before = t.now
    bucket.acquire()
    assert t.now - before == pytest.approx(1 / (100 * SLOW_DOWN))
    for _ in range(round((1 - SLOW_DOWN) / RECOVERY) + 5):
        bucket.acquire()
    assert t.now - before < QUIET_SECONDS
    assert bucket.current_rate == pytest.approx(100)


def test_a_quiet_period_after_a_429_brings_the_full_rate_back() -> None:
    """Two 429s lower the pace; QUIET_SECONDS after the last of them without another, the next
    request goes at the full rate again (not 1,000 requests later)."""
    t = FakeTime()
    bucket = _bucket(t, 20)
    bucket.acquire()
    bucket.slow_down()
    t.now += 1.0
    bucket.slow_down()
    assert bucket.current_rate == pytest.approx(20 * SLOW_DOWN**2)
    bucket.acquire()
    t.now += QUIET_SECONDS / 2
    bucket.acquire()
    assert bucket.current_rate < 20 * 0.9  # not yet: the last 429 is 5 s old
    t.now += QUIET_SECONDS / 2
    bucket.acquire()
    assert bucket.current_rate == pytest.approx(20)
    bucket.acquire()  # reserved at the slower pace by the request before
    before = t.now
    bucket.acquire()
    assert t.now - before == pytest.approx(1 / 20)


def test_the_pace_keeps_97_percent_of_the_limit() -> None:
    """1,001 requests paced for a limit of 20/s span 1,000 intervals at 97 % of it: 51.5 s."""
    t = FakeTime()
    bucket = _bucket(t, pace_for(20))
    for _ in range(1001):
        bucket.acquire()
    assert pytest.approx(0.97) == PACE_HEADROOM
    assert t.now == pytest.approx(1000 / (20 * 0.97))


def test_paced_requests_pass_the_contracts_window_with_late_arrivals() -> None:
    """The contract's limit (at most 20 requests in any one second): 2,000 requests paced for
    it pass, on the same clock, even when each one reaches the source up to 30 ms late (a busy
    machine), any one later than the others; none is refused."""
    t = FakeTime()
    bucket = _bucket(t, pace_for(20))
    arrivals: list[float] = []
    for i in range(2000):
        bucket.acquire()
        arrivals.append(t.now + (0.030 if i % 7 == 3 else 0.0) + (i % 5) * 0.001)
    limiter_clock = [0.0]
    limiter = WindowLimiter(20, monotonic=lambda: limiter_clock[0])
    refused = 0
    for at in sorted(arrivals):
        limiter_clock[0] = at
        refused += limiter.acquire("connector") > 0
    assert refused == 0


def test_set_rate_keeps_the_hold() -> None:
    """A run's next phase changes the rate, not the hold in force."""
    t = FakeTime()
    bucket = _bucket(t, 10)
    bucket.hold(2.0)
    bucket.set_rate(20)
    bucket.acquire()
    bucket.acquire()
    assert t.now == pytest.approx(2.05)


def test_a_request_sent_late_keeps_the_next_one_at_its_distance() -> None:
    """A request the machine held back 40 ms after its moment (`sent` tells when it went): the
    next one goes an interval after that, less SEND_TOLERANCE, not 10 ms after it."""
    t = FakeTime()
    bucket = _bucket(t, 20)
    bucket.acquire()  # t = 0
    t.now = 0.040
    bucket.sent()
    bucket.acquire()
    assert t.now == pytest.approx(0.040 - SEND_TOLERANCE + 0.05)


def test_a_request_sent_on_time_keeps_the_pace() -> None:
    """Sent within SEND_TOLERANCE of its moment: the pace is unchanged (no slip per request)."""
    t = FakeTime()
    bucket = _bucket(t, 20)
    for _ in range(10):
        bucket.acquire()
        t.now += SEND_TOLERANCE / 2
        bucket.sent()
    assert t.now == pytest.approx(9 * 0.05 + SEND_TOLERANCE / 2)


def test_the_deadline_tells_once_when_the_request_has_gone() -> None:
    """`RequestDeadline.attach` (the request written, its socket now awaited) calls `on_sent`
    once, however often the socket is reported."""
    calls: list[int] = []
    a, b = socket.socketpair()
    try:
        with RequestDeadline(5.0, on_sent=lambda: calls.append(1)) as deadline:
            assert calls == []
            deadline.attach(a)
            deadline.attach(a)
        assert calls == [1]
    finally:
        a.close()
        b.close()


def test_requests_bunched_by_a_stall_do_not_crowd_the_next_second() -> None:
    """A busy moment holds one sender's request back 200 ms, and it goes together with the next
    sender's (`sent` tells): the 21st request after it still goes 1.021 s after it actually
    went (20 at 97 % of 20/s, less SEND_TOLERANCE), not 0.98 s after as the interval alone
    would send it, which a source counting 20 in any second refuses."""
    t = FakeTime()
    bucket = _bucket(t, pace_for(20))
    with ThreadPoolExecutor(1) as first, ThreadPoolExecutor(1) as second:
        first.submit(bucket.acquire).result()  # request 0, at 0
        t.now = 0.2
        second.submit(bucket.acquire).result()  # request 1, due at 0.0515: goes at 0.2
        second.submit(bucket.sent).result()
        first.submit(bucket.sent).result()  # request 0 actually went only now
        went = t.now
        for _ in range(18):
            second.submit(bucket.acquire).result()  # requests 2..19: the interval
        assert t.now == pytest.approx(went + 18 / pace_for(20))
        second.submit(bucket.acquire).result()  # request 20
    assert t.now == pytest.approx(went - SEND_TOLERANCE + 20 / pace_for(20))
    assert t.now - went > 1.02


def test_a_429_soon_after_the_full_rate_came_back_lengthens_the_quiet_period() -> None:
    """A source that refuses again within a quiet period of the full rate's return (stricter
    than its limit says): the quiet period doubles each time, up to QUIET_LONGEST; a 429 long
    after the return sets it back to QUIET_SECONDS."""
    t = FakeTime()
    bucket = _bucket(t, 20)
    quiet = []
    for _ in range(7):
        bucket.acquire()
        bucket.slow_down()
        t.now += bucket.quiet  # quiet: the next request brings the full rate back
        bucket.acquire()
        assert bucket.current_rate == pytest.approx(20)
        t.now += 2.0  # refused again 2 s later
        quiet.append(bucket.quiet)
    bucket.slow_down()
    quiet.append(bucket.quiet)
    assert quiet == [
        QUIET_SECONDS,
        20.0,
        40.0,
        80.0,
        QUIET_LONGEST,
        QUIET_LONGEST,
        QUIET_LONGEST,
        QUIET_LONGEST,
    ]
    t.now += bucket.quiet
    bucket.acquire()
    t.now += QUIET_LONGEST + 1  # the full rate held longer than the quiet period
    bucket.slow_down()
    assert bucket.quiet == QUIET_SECONDS
