"""Limits on the wire: a deadline for the whole request, a cap on the answer's size, a pace.

A source that misbehaves must never hang a run (and its lock) or exhaust the machine:

* `RequestDeadline`: ``source.read_timeout`` bounds each read, not the request, so a server
  dripping one byte a second would keep a run for hours. The deadline (``source.request_timeout``)
  covers the whole exchange, headers and body: when it passes, a watchdog shuts the socket of the
  request in flight (the connection classes that `WatchedAdapter` installs tell it which one), and
  the caller treats the request as a transient failure.
* `read_capped`: the body is streamed and counted, as received and after decompression, and
  refused (`ResponseTooLarge`) past ``source.max_response_bytes``; it is never read unbounded.
  (urllib3 >= 2.6 inflates a compressed body only as far as each read asks, so a gzip bomb is
  stopped after a few chunks.)
* `TokenBucket`: the one pacing budget of a source, shared by every thread and every client of a
  run, every request counted (logins and retries included); `TokenBucket.hold` keeps every
  request back until a ``Retry-After`` has passed; `pace_for` keeps a little below a limit.

Sleep and clock are injectable so tests never wait.
"""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from connector.ops.signals import signals_blocked

CHUNK_BYTES = 64 * 1024


# -- the deadline of a whole request --------------------------------------------------------------

_ACTIVE = threading.local()


class RequestDeadline:
    """The deadline of one request; use as a context manager around the request and its body.

    While the block runs, the socket of the request is registered (`WatchedAdapter`); when
    `seconds` pass first, `expired` becomes true and that socket is shut down, which makes the
    blocked read return at once with an error.
    """

    def __init__(
        self,
        seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
        self._on_sent = on_sent
        self._ends = monotonic() + seconds
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None
        self._fired = False
        self._open = False

    @property
    def expired(self) -> bool:
        """Whether the deadline has passed (the watchdog fired, or the clock says so)."""
        return self._fired or self._monotonic() >= self._ends

    def check(self) -> None:
        """Raise `DeadlineExceeded` when the deadline has passed."""
        if self.expired:
            raise DeadlineExceeded(self.seconds)

    def attach(self, sock: socket.socket | None) -> None:
        """The socket the request now waits on (shut at once when the deadline has passed).

        It is called once the request has been written to the socket: `on_sent` (given to the
        constructor: `TokenBucket.sent`) learns then that the request has actually gone."""
        with self._lock:
            if not self._open or sock is None:
                return
            self._sock = sock
            if self._fired:
                _shut(sock)
            on_sent, self._on_sent = self._on_sent, None
        if on_sent is not None:
            on_sent()

    def _fire(self) -> None:
        with self._lock:
            if not self._open:
                return
            self._fired = True
            if self._sock is not None:
                _shut(self._sock)

    def __enter__(self) -> Self:
        with self._lock:
            self._open = True
        _ACTIVE.deadline = self
        remaining = max(0.0, self._ends - self._monotonic())
        self._timer = threading.Timer(remaining, self._fire)
        self._timer.daemon = True
        try:
            with signals_blocked():  # an interrupt is raised after the start, never inside it
                self._timer.start()
        except BaseException:  # raised right after the start: __exit__ will not run
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.deadline = None
        with self._lock:
            self._open = False
            self._sock = None
        if self._timer is not None:
            self._timer.cancel()
            # Gone when the request is: a command that forks next (a big pull's classifier,
            # `connector.ops.forked.can_fork`) finds no thread of ours but its own.
            self._timer.join(timeout=1.0)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watch(sock: Any) -> None:
    deadline = getattr(_ACTIVE, "deadline", None)
    if isinstance(deadline, RequestDeadline) and isinstance(sock, socket.socket):
        deadline.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self) -> Any:
        _watch(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> Any:
        _watch(self.sock)
        return super().getresponse()


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watched(manager: PoolManager) -> PoolManager:
    manager.pool_classes_by_scheme = {
        "http": _WatchedHTTPPool,
        "https": _WatchedHTTPSPool,
    }
    return manager


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections report their socket to the `RequestDeadline` in force
    (mount it on a session for ``http://`` and ``https://``)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        manager: PoolManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        return _watched(manager)


def watched_session(session: requests.Session | None = None) -> requests.Session:
    """`session` (or a new one) with `WatchedAdapter` mounted for both schemes."""
    session = session or requests.Session()
    session.mount("http://", WatchedAdapter())
    session.mount("https://", WatchedAdapter())
    return session


class DeadlineExceeded(Exception):
    """The whole request took longer than its deadline (transient: retried with backoff)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


# -- the size of an answer ------------------------------------------------------------------------


class ResponseTooLarge(Exception):
    """The answer is larger than the cap (as received, or once decompressed)."""

    def __init__(self, limit: int, seen: int, *, declared: bool = False) -> None:
        how = "announces" if declared else "reached"
        super().__init__(f"the answer {how} {seen} bytes; the cap is {limit} bytes")
        self.limit = limit
        self.seen = seen


def read_capped(
    resp: requests.Response, limit: int, deadline: RequestDeadline | None = None
) -> bytes:
    """The body of a streamed response (``stream=True``), decompressed, at most `limit` bytes.

    Raises `ResponseTooLarge` as soon as the declared length, the bytes received or the bytes
    after decompression pass `limit`, and `DeadlineExceeded` when `deadline` passes between
    chunks; network errors propagate as requests' exceptions.
    """
    declared = resp.headers.get("Content-Length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(limit, int(declared), declared=True)
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_content(CHUNK_BYTES):
        total += len(chunk)
        received = _received(resp)
        if total > limit or received > limit:
            raise ResponseTooLarge(limit, max(total, received))
        if deadline is not None:
            deadline.check()
        chunks.append(chunk)
    return b"".join(chunks)


def _received(resp: requests.Response) -> int:
    tell = getattr(resp.raw, "tell", None)
    try:
        value = tell() if callable(tell) else 0
    except (OSError, ValueError):
        return 0
    return value if isinstance(value, int) else 0


# -- the pace -------------------------------------------------------------------------------------

PACE_HEADROOM = 0.97
"""The share of a configured limit the connector actually uses (`pace_for`). The contract's
limit is 20 requests per second: at most 20 in any one second. Paced evenly at 97 % of it
(51.5 ms apart at 20/s, never closer as the requests actually go), the 21st request goes
1.031 s after the first, so a request may reach the source up to 31 ms later than the one 20
before it (thread scheduling on a busy machine, the network) before the source counts 21 in one
second; 97 % of what the source allows is used. A source stricter than the contract (a token
bucket without burst, refusing a request 49 ms after the one before) refuses now and then at
this pace; `slow_down` then settles the pace lower for a while."""

SLOW_DOWN = 0.9
"""After a 429 the pace drops to this share of what it was (once per hold)..."""

SLOWEST = 0.1
"""...never below this share of the configured rate..."""

RECOVERY = 0.0002
"""...climbs back by this share of the configured rate with every request after it (500
requests undo one slow-down)..."""

QUIET_SECONDS = 10.0
"""...and returns to the full rate once this long has passed since the last slow-down without
another 429 (the quiet period): a refusal from one busy moment costs its ``Retry-After`` (whole
seconds, every sender) and a few seconds at a slower pace, not the rest of the run..."""

QUIET_LONGEST = 160.0
"""...while a 429 that comes back within a quiet period of the full rate's return doubles the
quiet period, up to this (a source stricter than the contract, or a machine too busy to keep
the pace, is met at the slower pace most of the time: after the longest quiet period, 500
requests at the slower pace bring the full rate back first, about one 429 per 30 s); a 429
that comes later than that sets it back to `QUIET_SECONDS`."""

SEND_TOLERANCE = 0.010
"""How late (seconds) a request may actually go after the moment the pace gave it before the
next request keeps its distance from the moment it went instead (`TokenBucket.sent`): a busy
machine that holds one request back 40 ms must not send the next one 10 ms after it, two
requests the source would count 10 ms apart."""


def _window_count(rate: float) -> int:
    """How many requests of a pace of `rate` per second fit in about one second (at least 1):
    the pace keeps that many within the time they take (`TokenBucket`), as a source counts."""
    return max(1, math.ceil(rate - 1e-9))


def pace_for(limit: float) -> float:
    """The pace (requests per second) the connector keeps for a source that allows `limit`."""
    return limit * PACE_HEADROOM


class TokenBucket:
    """One pacing budget: at most `rate` requests per second, bursts up to `capacity` (default 1:
    none), shared by every thread that sends to the same source.

    Each `acquire` reserves the next free moment of the schedule under a lock and sleeps until
    then outside it, so several threads keep one even pace (a generic cell rate algorithm: the
    n-th request of a busy stream goes n / rate after the first, never sooner).
    `hold(seconds)` keeps every acquisition back until that time has passed (a server's
    ``Retry-After`` applies to the whole pace, every sender, not only to the request that got
    it); a thread already waiting for a later moment reserves again after the hold.
    Without a burst, the pace also follows the requests as they actually go: `sent` (the
    transport, once a request is written to its socket) moves a request held back by a busy
    machine to when it went, the next one keeps its interval from then, and never more than
    the rate's worth of requests (20 at 19.4/s) go within the time they take at the pace
    (1.031 s), so a stall that lets two requests go together does not make the source count 21
    in one second.
    `slow_down` (a 429) lowers the pace to `SLOW_DOWN` of what it was; each later request
    brings it back up by `RECOVERY` of `rate`, and a quiet period (`quiet`, from
    `QUIET_SECONDS`, doubled up to `QUIET_LONGEST` by a 429 soon after the full rate came back)
    after the last slow-down without another one the full rate is back.
    `monotonic` and `sleep` are injectable so tests never wait. Thread-safe.
    """

    def __init__(
        self,
        rate: float,
        capacity: float = 1.0,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._monotonic = monotonic
        self._sleep = sleep
        self._factor = 1.0
        now = monotonic()
        self._next = now  # the theoretical moment of the next request (at the current pace)
        self._last_gone = now - 1.0 / rate * capacity  # when the latest request actually went
        self._hold_until = now
        self._slowed_until = now
        self._slowed_at: float | None = None  # the latest slow-down, while the pace is lower
        self._recovered_at: float | None = None  # when the full rate last came back
        self.quiet = QUIET_SECONDS
        """The quiet period now (`QUIET_SECONDS`, doubled by 429s soon after a recovery)."""
        self._epoch = 0  # counts holds: a reservation made before one is made again
        self._lock = threading.Lock()
        self._recent: deque[list[float]] = deque(maxlen=_window_count(rate))
        """The moments the latest requests went (one list per request, moved later by `sent`)."""
        self._mine = threading.local()  # this thread's latest request, for `sent`
        self.waited = 0.0
        """Seconds spent waiting so far (summed over the threads that waited)."""
        self.acquired = 0
        """Acquisitions so far (one per request when a client is paced)."""
        self.holds = 0
        """How many times `hold` pushed the pace back."""
        self.slowed = 0
        """How many times `slow_down` lowered the pace."""

    @property
    def current_rate(self) -> float:
        """The pace now: `rate`, or less for a while after a 429 (`slow_down`)."""
        with self._lock:
            return self.rate * self._factor

    def set_rate(self, rate: float) -> None:
        """Pace at `rate` from now on, keeping the schedule and any hold (a run's next phase)."""
        if rate <= 0:
            raise ValueError("rate must be > 0")
        with self._lock:
            self.rate = rate
            self._recent = deque(self._recent, maxlen=_window_count(rate))

    def hold(self, seconds: float) -> None:
        """No acquisition, by any thread, before `seconds` from now (a longer earlier hold
        stands)."""
        with self._lock:
            until = self._monotonic() + max(0.0, seconds)
            if until > self._hold_until:
                self._hold_until = until
                self._next = max(self._next, until)
                self._epoch += 1
                self.holds += 1

    def slow_down(self) -> None:
        """The source refused a request for its rate (429): a slower pace for a while. Several
        refusals of the same moment (threads in flight together) count once."""
        with self._lock:
            now = self._monotonic()
            if now < self._slowed_until:
                return
            if self._recovered_at is not None:
                soon = now - self._recovered_at < self.quiet
                self.quiet = min(QUIET_LONGEST, self.quiet * 2) if soon else QUIET_SECONDS
                self._recovered_at = None
            self._factor = max(SLOWEST, self._factor * SLOW_DOWN)
            self._slowed_until = max(self._hold_until, now + 1.0 / (self.rate * self._factor))
            self._slowed_at = now
            self.slowed += 1

    def sent(self) -> None:
        """The request just let go has actually been written to the socket, now (the transport
        says so: `RequestDeadline`'s ``on_sent``). Sent more than `SEND_TOLERANCE` after the
        latest moment the pace gave, the next request keeps its interval from this moment
        (less the tolerance), not from the one the pace gave: the source counts requests as
        they arrive. Without a burst only (a bucket with a burst allows close requests)."""
        if self.capacity != 1:
            return
        mine: list[float] | None = getattr(self._mine, "request", None)
        self._mine.request = None
        with self._lock:
            went = self._monotonic() - SEND_TOLERANCE
            if mine is not None and went > mine[0]:
                mine[0] = went
            if went <= self._last_gone:
                return
            self._last_gone = went
            self._next = max(self._next, went + 1.0 / (self.rate * self._factor))

    def _reserve(self) -> tuple[float, float, int]:
        """The moment this request may go, now, and the hold epoch it was reserved in."""
        with self._lock:
            now = self._monotonic()
            interval = 1.0 / (self.rate * self._factor)
            tolerance = (self.capacity - 1.0) * interval
            start = max(now, self._hold_until, self._next - tolerance)
            self._next = max(self._next, start) + interval
            return start, now, self._epoch

    def acquire(self) -> None:
        """Take the next moment of the pace, sleeping until it has come (and any hold passed)."""
        while True:
            start, now, epoch = self._reserve()
            if start > now:
                self._sleep(start - now)
                self._count_wait(start - now)
            earliest = start  # a sleep is trusted to have lasted as long as asked
            while True:
                with self._lock:
                    woke = max(self._monotonic(), earliest)
                    if epoch != self._epoch and woke < self._hold_until:
                        break  # a hold came while this thread waited: reserve after it
                    interval = 1.0 / (self.rate * self._factor)
                    # A thread woken late (a busy machine) must not leave the next one too close
                    # behind it: without a burst, requests keep `interval` apart as they go.
                    gap = self._last_gone + interval - woke if self.capacity == 1 else 0.0
                    if self.capacity == 1 and len(self._recent) == self._recent.maxlen:
                        # As the source counts: never more than the rate's worth of requests
                        # within the time they take at the pace, as they actually went (`sent`).
                        span = len(self._recent) / self.rate
                        gap = max(gap, min(r[0] for r in self._recent) + span - woke)
                    if gap <= 0:
                        request = [woke]
                        self._recent.append(request)
                        self._mine.request = request
                        self._last_gone = woke
                        self._next = max(self._next, woke + interval)
                        self.acquired += 1
                        self._recover(woke)
                        return
                    earliest = woke + gap
                self._sleep(gap)
                self._count_wait(gap)

    def _recover(self, now: float) -> None:
        """One request gone at `now`: the slower pace climbs back (under the lock)."""
        if self._slowed_at is None:
            return
        if now - self._slowed_at >= self.quiet:
            self._factor = 1.0
        else:
            self._factor = min(1.0, self._factor + RECOVERY)
        if self._factor >= 1.0:
            self._slowed_at = None
            self._recovered_at = now

    def _count_wait(self, seconds: float) -> None:
        with self._lock:
            self.waited += seconds
