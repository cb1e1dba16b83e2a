"""How the connector judges an HTTP exchange, and how it retries: one place for each decision.

`classify_response` is the single function that decides what an answer (or a failure to get one)
means for the caller::

    OK               2xx with a JSON body
    TRANSIENT        429, 502, 503, 504, timeouts, dropped connections, truncated or non-JSON
                     bodies: retry with backoff (honouring Retry-After)
    SESSION_EXPIRED  JSON 401 with an "expired" code, or 2xx with an HTML page where JSON was
                     expected (the login page): log in again once, repeat (the client also
                     reads a redirect to the source's own login page so, `SourceClient`)
    AUTH_FAILED      any other 401 (bad credentials, invalid token): final
    FATAL            any other status (4xx, 500, redirects), TLS failures: final

`RetryPolicy` is the tenacity policy for TRANSIENT outcomes: exponential backoff with jitter,
Retry-After honoured in both forms, every single wait capped, and one waiting budget shared by
the whole run; sleep and clock are injected so tests never wait. `redact_url` strips secrets
from a URL before it reaches a log line or an error.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
import structlog
import tenacity
import urllib3.exceptions

from connector.clock import Clock, SystemClock
from connector.settings import RetrySettings

log = structlog.get_logger(__name__)

# -- redaction -------------------------------------------------------------------------------------

REDACTED = "***"
_SECRET_WORDS = ("token", "password", "passwd", "secret", "session", "apikey", "api_key", "auth")
_SECRET_NAMES = frozenset({"pwd", "pass", "key", "sid", "sig", "signature", "code", "jsessionid"})


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in _SECRET_NAMES or any(word in lowered for word in _SECRET_WORDS)


def redact_url(url: str) -> str:
    """The URL without userinfo, with secret-looking query values and ``;jsessionid=`` hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{host}:{port}" if port is not None else host
    path_segments = []
    for segment in parts.path.split("/"):
        name, sep, _ = segment.partition(";")
        path_segments.append(name + (f";{REDACTED}" if sep else ""))
    query = [
        (name, REDACTED if _is_secret_name(name) and value else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(
        (
            parts.scheme,
            netloc,
            "/".join(path_segments),
            urlencode(query, safe="*", quote_via=quote),
            "",
        )
    )


# -- Retry-After and Date --------------------------------------------------------------------------


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP-date (``Tue, 12 Apr 2022 17:00:00 GMT``) as an aware UTC datetime, else None."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date.

    Zero, a negative number, a date in the past or garbage mean "no hint" (None): the caller
    then backs off on its own schedule.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        when = parse_http_date(text)
        if when is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    return seconds


# -- classification --------------------------------------------------------------------------------


class OutcomeKind(StrEnum):
    OK = "ok"
    TRANSIENT = "transient"
    SESSION_EXPIRED = "session_expired"
    AUTH_FAILED = "auth_failed"
    FATAL = "fatal"


@dataclass(frozen=True)
class ResponseOutcome:
    """What one HTTP exchange means (`classify_response`): its kind, a short reason word, and
    what the server said."""

    kind: OutcomeKind
    reason: str
    status: int | None = None
    code: str = ""
    message: str = ""
    retry_after: float | None = None
    body: Any = None
    date: datetime | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.kind is OutcomeKind.OK


def _text_field(name: str) -> Callable[[Any], str]:
    """Read the text at key `name` of a JSON object body ("" when absent or not text)."""

    def read(body: Any) -> str:
        value = body.get(name) if isinstance(body, dict) else None
        return value if isinstance(value, str) else ""

    return read


@dataclass(frozen=True)
class ResponseRules:
    """The deployment-specific part of classification (from the mapping's auth and errors).

    `code_of` and `message_of` read the error code and message from a JSON body; the client
    builds them from the mapping's paths (`connector.source.client`), so this module needs
    nothing of the mapping's language.
    """

    code_of: Callable[[Any], str] = field(default=_text_field("error"))
    message_of: Callable[[Any], str] = field(default=_text_field("message"))
    expired_codes: frozenset[str] = frozenset({"session_expired"})
    html_means_expired: bool = True


CONTRACT_RULES = ResponseRules()
TRANSIENT_STATUS = {429: "rate_limited", 502: "bad_gateway", 503: "unavailable", 504: "timeout"}


def _is_html(resp: requests.Response) -> bool:
    ctype = resp.headers.get("Content-Type", "").lower()
    if "html" in ctype:
        return True
    return resp.content[:64].lstrip().startswith(b"<")


def _json_body(resp: requests.Response) -> tuple[bool, Any]:
    if not resp.content:
        return True, None
    try:
        return True, json.loads(resp.content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False, None


_FAILURES: tuple[tuple[tuple[type[BaseException], ...], OutcomeKind, str], ...] = (
    ((requests.exceptions.SSLError,), OutcomeKind.FATAL, "tls"),
    ((requests.exceptions.Timeout,), OutcomeKind.TRANSIENT, "timeout"),
    (
        (
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            http.client.IncompleteRead,
            urllib3.exceptions.ProtocolError,
        ),
        OutcomeKind.TRANSIENT,
        "truncated",
    ),
    ((requests.exceptions.ConnectionError, ConnectionError), OutcomeKind.TRANSIENT, "connection"),
    (
        (
            requests.exceptions.InvalidURL,
            requests.exceptions.InvalidHeader,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ),
        OutcomeKind.FATAL,
        "invalid_request",
    ),
    ((requests.exceptions.RequestException, OSError), OutcomeKind.TRANSIENT, "connection"),
)
"""A failure to get an answer, by exception class (the first that matches): its kind and
reason. Anything else is FATAL ``error``."""


def _classify_exception(exc: BaseException) -> ResponseOutcome:
    kind, reason = next(
        ((kind, reason) for types, kind, reason in _FAILURES if isinstance(exc, types)),
        (OutcomeKind.FATAL, "error"),
    )
    return ResponseOutcome(kind, reason, message=type(exc).__name__)


def classify_response(
    resp: requests.Response | BaseException,
    *,
    rules: ResponseRules = CONTRACT_RULES,
    now: datetime | None = None,
) -> ResponseOutcome:
    """Decide what a response (or the exception raised instead of one) means. See the module doc.

    `now` is the fallback clock for an HTTP-date Retry-After when the response has no Date.
    """
    if isinstance(resp, BaseException):
        return _classify_exception(resp)
    status = resp.status_code
    date = parse_http_date(resp.headers.get("Date"))
    reference = date or now or datetime.now(UTC)
    headers = {"Link": resp.headers.get("Link", "")} if resp.headers.get("Link") else {}
    for name, value in resp.headers.items():
        if name.lower().startswith(("idempot", "x-idempot")):
            headers[name] = value
    parsed, body = _json_body(resp) if not _is_html(resp) else (False, None)
    code = rules.code_of(body)
    message = rules.message_of(body)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "message": message,
        "date": date,
        "headers": headers,
    }
    if status in TRANSIENT_STATUS:
        retry_after = parse_retry_after(resp.headers.get("Retry-After"), reference)
        return ResponseOutcome(
            OutcomeKind.TRANSIENT, TRANSIENT_STATUS[status], retry_after=retry_after, **common
        )
    if status == 401:
        if code in rules.expired_codes:
            return ResponseOutcome(OutcomeKind.SESSION_EXPIRED, "session_expired", **common)
        return ResponseOutcome(OutcomeKind.AUTH_FAILED, code or "unauthorized", **common)
    if 200 <= status < 300:
        if _is_html(resp):
            if rules.html_means_expired:
                return ResponseOutcome(OutcomeKind.SESSION_EXPIRED, "html_login_page", **common)
            return ResponseOutcome(OutcomeKind.TRANSIENT, "html_body", **common)
        if not parsed:
            return ResponseOutcome(OutcomeKind.TRANSIENT, "invalid_json", **common)
        return ResponseOutcome(OutcomeKind.OK, "ok", body=body, **common)
    if 300 <= status < 400:
        return ResponseOutcome(OutcomeKind.FATAL, "redirect", **common)
    return ResponseOutcome(OutcomeKind.FATAL, code or f"http_{status}", **common)


# -- retry policy ----------------------------------------------------------------------------------


class TransientFailure(Exception):
    """Raised inside the retry loop for a TRANSIENT outcome (never leaves the client)."""

    def __init__(self, outcome: ResponseOutcome, url: str) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome
        self.url = url


@dataclass
class ClientStats:
    """What one client did in a run, for the run summary and metrics."""

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    relogins: int = 0
    pages: int = 0
    records: int = 0
    detail_calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: float = 1) -> None:
        """Count `amount` more of `name` (thread-safe: detail calls run in threads)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def as_dict(self) -> dict[str, float | int]:
        return {
            "requests": self.requests,
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "waited_s": round(self.waited_s, 3),
            "relogins": self.relogins,
            "pages": self.pages,
            "records": self.records,
            "detail_calls": self.detail_calls,
        }


class RetryPolicy:
    """Retries TRANSIENT failures: backoff with jitter, Retry-After, caps, a per-run budget."""

    def __init__(
        self,
        settings: RetrySettings,
        stats: ClientStats,
        *,
        sleep: Callable[[float], None],
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self._sleep = sleep
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self.exhausted_budget = False

    @property
    def budget_left(self) -> float:
        return max(0.0, self.settings.total_budget - self.stats.waited_s)

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random; capped."""
        base = min(self.settings.max_wait, self.settings.initial_wait * 2.0 ** min(attempt - 1, 60))
        return base / 2 + self._rng.uniform(0, base / 2)

    def wait_for(self, attempt: int, outcome: ResponseOutcome) -> float:
        """How long to wait after failed attempt number `attempt` (1-based)."""
        if outcome.retry_after is not None:
            return min(float(outcome.retry_after), self.settings.max_wait)
        return self.backoff(attempt)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if not isinstance(exc, TransientFailure):
            return 0.0
        return self.wait_for(state.attempt_number, exc.outcome)

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self.settings.max_attempts:
            return True
        if self.stats.waited_s + state.upcoming_sleep > self.settings.total_budget:
            self.exhausted_budget = True
            return True
        return False

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.upcoming_sleep
        self.stats.add("retries")
        self.stats.add("waited_s", wait)
        if isinstance(exc, TransientFailure):
            log.warning(
                "source_retry_wait",
                attempt=state.attempt_number,
                wait_s=round(wait, 3),
                reason=exc.outcome.reason,
                status=exc.outcome.status,
                hinted=exc.outcome.retry_after is not None,
                url=exc.url,
                budget_left_s=round(self.budget_left, 3),
            )

    def run(self, attempt: Callable[[], ResponseOutcome]) -> ResponseOutcome:
        """Call `attempt` until it returns; it raises TransientFailure to ask for a retry.

        Re-raises the last TransientFailure when attempts or the run's budget are exhausted.
        """
        self.exhausted_budget = False
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(TransientFailure),
            wait=self._wait,
            stop=self._stop,
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(attempt)
