"""What the simulator does wrong on purpose, how often, and the rate limiter.

`Faults` is written on the command line as a comma-separated list::

    rate_limit=20,http5xx=0.05,slow=0.02:2.0,drop=0.02,expire=0.05,expire_style=html,mutate=0.1

===============  ===============================================================================
item             meaning
===============  ===============================================================================
rate_limit=R     R requests/second per client, as the contract states it: at most R requests in
                 any window of one second (a sliding log; below 1/s: one request in any 1/R s);
                 0 or ``off``: no limit; default 20
rate_burst=B     a stricter shape instead: a token bucket of R requests/second holding B (B = 1:
                 a reverse proxy's ``limit_req`` without burst, requests closer than 1/R s apart
                 get 429); default: none, the contract's window
retry_after=S    form of ``Retry-After`` on 429 and 503: ``alternate`` (default), ``seconds``,
                 ``date``
http5xx=P        share of requests answered 502/503/504 with an HTML body (503 sometimes with
                 ``Retry-After``)
slow=P[:S]       share of responses delayed by S seconds (default 2.0)
drop=P           share of responses cut mid-body (headers with the full ``Content-Length``,
                 half the body, then the connection closes)
expire=P         share of session-authenticated requests whose session is forced to expire
                 (never in a session's first second: a fresh login holds)
expire_style=X   how an expired session is answered: ``json`` (401 session_expired, default) or
                 ``html`` (200 with the login page)
mutate=P         share of searches with ``start > 0`` during which some already-returned and
                 not-yet-returned tasks are modified (their ``lastModifyStr`` set to now)
seed=N           seed of the fault dice (default: the world's seed)
===============  ===============================================================================

``none`` (alone) turns every fault off, the rate limit included.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal, Protocol, cast, get_args

from connector.errors import ConfigError, Problem

RetryAfterStyle = Literal["alternate", "seconds", "date"]
ExpireStyle = Literal["json", "html"]

_PROBABILITIES = ("http5xx", "slow", "drop", "expire", "mutate")
_MAX_SLOW_SECONDS = 300.0


@dataclass(frozen=True)
class Faults:
    """Switchable faults, each with its rate (see the module docstring)."""

    rate_limit: float = 20.0
    rate_burst: float | None = None
    retry_after: RetryAfterStyle = "alternate"
    http5xx: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 2.0
    drop: float = 0.0
    expire: float = 0.0
    expire_style: ExpireStyle = "json"
    mutate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = [Problem(f"faults.{name}", msg) for name, msg in self._problems()]
        if problems:
            raise ConfigError(problems, source="faults")

    def _problems(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for name in _PROBABILITIES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                found.append((name, f"must be a probability within 0..1, got {value}"))
        if self.rate_limit < 0 or not math.isfinite(self.rate_limit):
            found.append(("rate_limit", f"must be >= 0 requests/second, got {self.rate_limit}"))
        if self.rate_burst is not None and (
            self.rate_burst < 1 or not math.isfinite(self.rate_burst)
        ):
            found.append(("rate_burst", f"must be >= 1 request, got {self.rate_burst}"))
        if not 0.0 <= self.slow_seconds <= _MAX_SLOW_SECONDS:
            found.append(
                (
                    "slow_seconds",
                    f"must be within 0..{_MAX_SLOW_SECONDS:g}, got {self.slow_seconds}",
                )
            )
        if self.retry_after not in get_args(RetryAfterStyle):
            valid = ", ".join(get_args(RetryAfterStyle))
            found.append(("retry_after", f"must be one of {valid}, got {self.retry_after!r}"))
        if self.expire_style not in get_args(ExpireStyle):
            valid = ", ".join(get_args(ExpireStyle))
            found.append(("expire_style", f"must be one of {valid}, got {self.expire_style!r}"))
        return found

    @classmethod
    def none(cls) -> Faults:
        """No fault at all, not even the rate limit."""
        return cls(rate_limit=0.0)

    def to_spec(self) -> str:
        """The command-line form of these faults (parse_faults(f.to_spec()) == f)."""
        parts = [f"rate_limit={self.rate_limit:g}" if self.rate_limit else "rate_limit=off"]
        if self.rate_burst is not None:
            parts.append(f"rate_burst={self.rate_burst:g}")
        if self.retry_after != "alternate":
            parts.append(f"retry_after={self.retry_after}")
        if self.http5xx:
            parts.append(f"http5xx={self.http5xx:g}")
        if self.slow:
            parts.append(f"slow={self.slow:g}:{self.slow_seconds:g}")
        if self.drop:
            parts.append(f"drop={self.drop:g}")
        if self.expire:
            parts.append(f"expire={self.expire:g}")
        if self.expire_style != "json":
            parts.append(f"expire_style={self.expire_style}")
        if self.mutate:
            parts.append(f"mutate={self.mutate:g}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)


FAULT_ITEMS: tuple[str, ...] = (
    "rate_limit",
    "rate_burst",
    "retry_after",
    "http5xx",
    "slow",
    "drop",
    "expire",
    "expire_style",
    "mutate",
    "seed",
)


def _probability(value: str) -> float:
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"a probability must be within 0..1, got {value}")
    return p


def _parse_item(name: str, value: str, out: dict[str, object]) -> None:
    """Put the parsed value of one item into `out`; raises ValueError when it is invalid."""
    if name == "rate_limit":
        out["rate_limit"] = 0.0 if value.lower() in ("off", "none") else float(value)
        if not math.isfinite(cast(float, out["rate_limit"])) or cast(float, out["rate_limit"]) < 0:
            raise ValueError(f"must be >= 0 requests/second or off, got {value}")
    elif name == "rate_burst":
        out["rate_burst"] = float(value)
        if not math.isfinite(cast(float, out["rate_burst"])) or cast(float, out["rate_burst"]) < 1:
            raise ValueError(f"must be >= 1 request, got {value}")
    elif name in ("http5xx", "drop", "expire", "mutate"):
        out[name] = _probability(value)
    elif name == "slow":
        p, _, seconds = value.partition(":")
        out["slow"] = _probability(p)
        if seconds:
            delay = float(seconds)
            if not 0.0 <= delay <= _MAX_SLOW_SECONDS:
                raise ValueError(f"the delay must be within 0..{_MAX_SLOW_SECONDS:g} s")
            out["slow_seconds"] = delay
    elif name == "retry_after":
        if value not in get_args(RetryAfterStyle):
            raise ValueError("must be one of " + ", ".join(get_args(RetryAfterStyle)))
        out["retry_after"] = value
    elif name == "expire_style":
        if value not in get_args(ExpireStyle):
            raise ValueError("must be one of " + ", ".join(get_args(ExpireStyle)))
        out["expire_style"] = value
    else:  # seed
        out["seed"] = int(value)


def parse_faults(text: str) -> Faults:
    """Faults from ``name=value,...``; raises `ConfigError` naming every bad item.

    An empty text gives the defaults (rate limit 20 req/s, nothing else); ``none`` gives none.
    """
    spec = text.strip()
    if spec.lower() in ("none", "off"):
        return Faults.none()
    values: dict[str, object] = {}
    problems: list[Problem] = []
    seen: set[str] = set()
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        where = f"fault {item!r}"
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            problems.append(Problem(where, "expected name=value"))
            continue
        if name not in FAULT_ITEMS:
            problems.append(
                Problem(where, f"unknown fault {name!r}; valid: {', '.join(FAULT_ITEMS)}")
            )
            continue
        if name in seen:
            problems.append(Problem(where, f"{name} is given more than once"))
            continue
        seen.add(name)
        try:
            _parse_item(name, value, values)
        except ValueError as exc:
            problems.append(Problem(where, f"invalid value: {exc}"))
    if problems:
        raise ConfigError(problems, source="--faults")
    known = {f.name for f in fields(Faults)}
    return Faults(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


class FaultDice:
    """The faults' own random source: deterministic for a given seed and call sequence."""

    def __init__(self, seed: int | str) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def roll(self, probability: float) -> bool:
        """True with the given probability (always draws, so the sequence stays aligned)."""
        with self._lock:
            draw = self._rng.random()
        return draw < probability

    def randint(self, lo: int, hi: int) -> int:
        with self._lock:
            return self._rng.randint(lo, hi)

    def sample(self, population: list[int], k: int) -> list[int]:
        with self._lock:
            return self._rng.sample(population, min(k, len(population)))


class Limiter(Protocol):
    """What the simulator asks of a rate limiter."""

    rate: float

    def acquire(self, client: str) -> float:
        """0.0 when the request may pass, else the seconds until the client may retry."""
        ...


def limiter_for(
    faults: Faults, monotonic: Callable[[], float] = time.monotonic
) -> WindowLimiter | RateLimiter:
    """The limiter `faults` ask for: the contract's window, or a token bucket (`rate_burst`)."""
    if faults.rate_burst is not None:
        return RateLimiter(faults.rate_limit, faults.rate_burst, monotonic)
    return WindowLimiter(faults.rate_limit, monotonic)


class WindowLimiter:
    """The contract's limit: at most `rate` requests per client in any window of one second
    (a sliding log of the requests let through; refused ones do not count). A rate below one
    allows one request in any 1 / `rate` seconds; a fractional rate above one, floor(rate)
    requests in any floor(rate) / `rate` seconds."""

    def __init__(self, rate: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._count = max(1, math.floor(rate)) if rate > 0 else 0
        self._window = self._count / rate if rate > 0 else 0.0
        self._monotonic = monotonic
        self._passed: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0.0 when the request may pass, else the seconds until the client may retry."""
        if self.rate <= 0:
            return 0.0
        now = self._monotonic()
        with self._lock:
            passed = self._passed.setdefault(client, deque())
            while passed and passed[0] <= now - self._window:
                passed.popleft()
            if len(passed) < self._count:
                passed.append(now)
                return 0.0
            return passed[0] + self._window - now


class RateLimiter:
    """A token bucket per client: `rate` tokens per second, holding at most `burst` tokens."""

    def __init__(
        self, rate: float, burst: float = 1.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self._capacity = max(1.0, burst)
        self._monotonic = monotonic
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """0.0 when the request may pass, else the seconds until the client may retry."""
        if self.rate <= 0:
            return 0.0
        now = self._monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                return 0.0
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
