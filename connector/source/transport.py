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
* `TokenBucket`: the pace of a client's requests, every request counted (logins and retries
  included); `TokenBucket.hold` keeps every request back until a ``Retry-After`` has passed.

Sleep and clock are injectable so tests never wait.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

CHUNK_BYTES = 64 * 1024


# -- the deadline of a whole request --------------------------------------------------------------

_ACTIVE = threading.local()


class RequestDeadline:
    """The deadline of one request; use as a context manager around the request and its body.

    While the block runs, the socket of the request is registered (`WatchedAdapter`); when
    `seconds` pass first, `expired` becomes true and that socket is shut down, which makes the
    blocked read return at once with an error.
    """

    def __init__(self, seconds: float, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._monotonic = monotonic
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
        """The socket the request now waits on (shut at once when the deadline has passed)."""
        with self._lock:
            if not self._open or sock is None:
                return
            self._sock = sock
            if self._fired:
                _shut(sock)

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
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.deadline = None
        with self._lock:
            self._open = False
            self._sock = None
        if self._timer is not None:
            self._timer.cancel()


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


class TokenBucket:
    """At most `rate` acquisitions per second on average, bursts up to `capacity`.

    `hold(seconds)` keeps every acquisition back until that time has passed (a server's
    ``Retry-After`` applies to the whole pace, not only to the request that got it).
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
        self._tokens = capacity
        self._last = monotonic()
        self._hold_until = self._last
        self._lock = threading.Lock()
        self.waited = 0.0
        """Seconds spent waiting so far."""
        self.acquired = 0
        """Acquisitions so far (one per request when a client is paced)."""
        self.holds = 0
        """How many times `hold` pushed the pace back."""

    def hold(self, seconds: float) -> None:
        """No acquisition before `seconds` from now (a longer earlier hold stands)."""
        with self._lock:
            until = self._monotonic() + max(0.0, seconds)
            if until > self._hold_until:
                self._hold_until = until
                self.holds += 1

    def acquire(self) -> None:
        """Take one token, sleeping until one is available (and any hold has passed)."""
        with self._lock:
            self.acquired += 1
            now = self._monotonic()
            if now < self._hold_until:
                wait = self._hold_until - now
                self.waited += wait
                self._sleep(wait)
                # The pace starts afresh once the hold is over: this request goes at once.
                self._tokens = 0.0
                self._last = self._monotonic()
                return
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            wait = (1 - self._tokens) / self.rate
            self.waited += wait
            self._sleep(wait)
            # The token accrued while sleeping is the one taken; time counts from now on.
            self._tokens = 0.0
            self._last = self._monotonic()
