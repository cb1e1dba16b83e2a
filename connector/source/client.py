"""The client of the document system: one HTTP session per run, driven entirely by a mapping.

`SourceClient` logs in (session cookie or bearer token), pages through the task list (fetching a
detail record per item when the mapping says so), reads one record, writes tracking status and
notifications with idempotency keys, and lists notifications and units. Endpoints, form fields,
JSON paths and pagination come from the `MappingSpec`; what an answer means comes from
`connector.source.http.classify_response`; how failures are retried from
`connector.source.http.RetryPolicy`.

Security, decided before any socket opens: ``http://`` only to a loopback host; TLS verification
always on (``source.ca_bundle`` for a private CA); redirects never followed (so credentials never
travel to another host; one to the source's own login page is an expired session, answered by a
new login); no secret in a URL, a log event or an error message.
"""

from __future__ import annotations

import contextvars
import http.client
import os
import random
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests
import structlog
import urllib3.exceptions
from pydantic import SecretStr

from connector.clock import Clock, SystemClock, require_aware
from connector.closing import Closing
from connector.errors import (
    AuthError,
    BadRecord,
    ConfigError,
    DeliveryError,
    DeliveryRefused,
    Problem,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from connector.mapping.converters import (
    REGISTRY,
    ConversionError,
    floor_for,
    format_instant,
    is_none,
    nfc,
)
from connector.mapping.normalise import normalise
from connector.mapping.spec import PLACEHOLDER, EndpointSpec, MappingSpec
from connector.models import Unit
from connector.ops.log import REDACTOR
from connector.ops.signals import signals_blocked
from connector.settings import RetrySettings, SourceSettings, base_url_problems
from connector.source.auth import AccessToken, basic_header, read_token, static_credentials
from connector.source.http import (
    ClientStats,
    OutcomeKind,
    ResponseOutcome,
    ResponseRules,
    RetryPolicy,
    TransientFailure,
    classify_response,
    redact_url,
)
from connector.source.pagination import (
    CursorPaginator,
    KeysetPaginator,
    LinkPaginator,
    ListRequest,
    ListResponse,
    OffsetPaginator,
    Page,
    PagePaginator,
    Paginator,
)
from connector.source.paths import MISSING, resolve, text_at
from connector.source.transport import (
    DeadlineExceeded,
    RequestDeadline,
    ResponseTooLarge,
    TokenBucket,
    pace_for,
    read_capped,
    watched_session,
)

log = structlog.get_logger(__name__)

USER_AGENT = "idesk-connector/0.1"
_NETWORK_ERRORS = (
    requests.RequestException,
    OSError,
    http.client.HTTPException,
    urllib3.exceptions.HTTPError,
)
_KEY_OK = re.compile(r"^[\x21-\x7e]{1,255}$")
_SESSIONS_PER_REQUEST = 3
"""Sessions one request may be sent with after the first expired: another thread's new session
may have ended too before this request used it (an expiry right after this thread's own fresh
login is final at once)."""

__all__ = [
    "ClientStats",
    "Detail",
    "Page",
    "SourceClient",
    "SourceTracking",
    "WriteResult",
    "check_transport",
]


@dataclass(frozen=True)
class WriteResult:
    """The answer to a tracking write or a notification; ``replayed`` when the source says the
    same key and body were already accepted (nothing happened again)."""

    status: int
    body: dict[str, Any]
    replayed: bool


@dataclass(frozen=True)
class SourceTracking:
    """A task's tracking status as the source holds it, and the task's last change there."""

    status: str
    last_modified: str


@dataclass(frozen=True)
class Detail:
    """A list item and its detail record (merged: the detail with the item under ``@list``);
    `record` is None when the source says the record no longer exists (404 with an error code),
    or when the detail call failed for this record alone (`error`, see `fetch_details`).
    """

    item: dict[str, Any]
    record: dict[str, Any] | None
    error: SourceError | None = None


DETAIL_FAILURES_TO_STOP = 5
"""Detail calls failing in a row (none answered between them) that stop the read: one failing
is that record's problem (its detail is read again on the next run), five the source's."""


OTP_CODES = frozenset({"otp_required", "totp_required", "mfa_required"})
"""Error codes of a login that asks for a one-time code."""


def check_transport(base_url: str, key: str = "source.base_url") -> None:
    """Refuse a base URL that would leak credentials: http:// off loopback, or userinfo."""
    problems = base_url_problems(base_url)
    if problems:
        raise ConfigError([Problem(key, p) for p in problems], source="settings")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def _fill_text(text: str, values: dict[str, Any], *, quote_values: bool = False) -> str:
    def sub(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        shown = "" if value is None else str(value)
        return quote(shown, safe="") if quote_values else shown

    return PLACEHOLDER.sub(sub, text)


def fill_template(template: Any, values: dict[str, Any]) -> Any:
    """Fill ``{placeholders}``: a string that is exactly one placeholder takes the value with its
    type (and its key is dropped when the value is None); others are formatted as text."""
    if isinstance(template, str):
        whole = PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return values.get(whole.group(1))
        return _fill_text(template, values)
    if isinstance(template, dict):
        filled = {k: fill_template(v, values) for k, v in template.items()}
        return {
            k: v for k, v in filled.items() if v is not None or not isinstance(template[k], str)
        }
    if isinstance(template, list):
        return [fill_template(v, values) for v in template]
    return template


def _unit_text(value: Any, none_values: Sequence[Any]) -> str:
    """A unit's code, name or parent as text: a JSON number as its digits (a tree's ids);
    "" for a missing value or one of `none_values`."""
    if value is MISSING or is_none(value, none_values) or isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return str(value)
    return nfc(value) if isinstance(value, str) else ""


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class _Call:
    """One prepared request (never logged as is: `url` may be shown only redacted)."""

    what: str
    method: str
    url: str
    params: dict[str, str]
    json: Any = None
    data: dict[str, str] | None = None
    headers: Mapping[str, str | None] | None = None

    @property
    def shown(self) -> str:
        """The URL with its query, as it may appear in logs and errors (redacted)."""
        if not self.params:
            return redact_url(self.url)
        joiner = "&" if "?" in self.url else "?"
        return redact_url(self.url + joiner + urlencode(self.params))


def _login_page(url: str, target: str) -> bool:
    """Whether a redirect from `url` goes to a login page of the same origin (a path with
    "login" in it, as `SourceClient._check_login_redirect` reads a login form's redirect)."""
    return _origin(target) == _origin(url) and "login" in urlsplit(target).path.lower()


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
"""Redirect statuses, which a login form may answer (`SourceClient._check_login_redirect`)."""


class SourceClient(Closing):
    """A run's connection to the document system (see the module docstring). Use as a context
    manager; nothing touches the network before the first call."""

    def __init__(
        self,
        source: SourceSettings,
        retry: RetrySettings,
        spec: MappingSpec,
        *,
        sleep: Callable[[float], None] = time.sleep,
        max_pages: int = 10_000,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        secrets: Mapping[str, SecretStr] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """`secrets` are the named secrets (``Settings.secrets``) and `environ` the environment
        (default: the process's) that the ``headers`` mode's ``{secret:…}`` / ``{env:…}`` name."""
        check_transport(source.base_url)
        mode = source.auth
        if mode not in spec.auth.modes:
            raise ConfigError(
                [
                    Problem(
                        "source.auth",
                        f"mapping {spec.name!r} supports auth mode(s) "
                        f"{', '.join(spec.auth.modes)}, not {mode!r}",
                    )
                ],
                source="settings",
            )
        problems: list[Problem] = []
        secret: SecretStr | None = None
        if mode in ("session", "token"):
            secret = source.password if mode == "session" else source.token
            if secret is None or not secret.get_secret_value():
                env = "PASSWORD" if mode == "session" else "TOKEN"
                problems.append(
                    Problem(
                        f"source.{env.lower()}",
                        f"auth = {mode!r} needs IDESK_CONNECTOR__SOURCE__{env}",
                    )
                )
        elif mode == "oauth2":
            secret = source.client_secret
            if secret is None or not secret.get_secret_value():
                problems.append(
                    Problem(
                        "source.client_secret",
                        "auth = 'oauth2' needs IDESK_CONNECTOR__SOURCE__CLIENT_SECRET (or "
                        "client_secret in the secrets file)",
                    )
                )
            for key in ("token_url", "client_id"):
                if not getattr(source, key).strip():
                    problems.append(Problem(f"source.{key}", f"auth = 'oauth2' needs source.{key}"))
        if spec.uses_account_code and not source.account_code.strip():
            problems.append(
                Problem(
                    "source.account_code",
                    f"mapping {spec.name!r} sends the reading account's own code "
                    "({account_code}; iDesk 6: exeacode); set it (README, 'Pointing the "
                    "connector at an iDesk 6 deployment')",
                )
            )
        if problems:
            raise ConfigError(problems, source="settings")
        self._static = None
        if mode == "headers":
            self._static = static_credentials(
                source.auth_headers,
                source.auth_query,
                secrets or {},
                os.environ if environ is None else environ,
            )
            REDACTOR.add(self._static.secrets)
        self._token_url = ""
        if mode == "oauth2":
            url = source.token_url
            self._token_url = url if "://" in url else source.base_url.rstrip("/") + url
            check_transport(self._token_url, "source.token_url")
        self._token: AccessToken | None = None
        # Guards logging in and renewing (detail calls run in threads); `_auth_generation`
        # counts renewals, so that of several threads refused at once only one renews.
        self._auth_lock = threading.RLock()
        self._auth_generation = 0
        # The latest generation a request was answered with: a login that served one request
        # held, and its session ending later is an ordinary expiry, not a login that fails.
        self._held_generation = -1
        # Clear while a session login renews the cookie jar: other threads' requests wait for
        # it instead of going out without a session cookie (a 401, taken for a refused login).
        self._session_ready = threading.Event()
        self._session_ready.set()
        self.source = source
        self.spec = spec
        self.stats = ClientStats()
        self.clock: Clock = clock or SystemClock()
        self._policy = RetryPolicy(retry, self.stats, sleep=sleep, clock=self.clock, rng=rng)
        self._retry = retry
        self._rules = ResponseRules(
            code_of=text_at(spec.errors.code_path),
            message_of=text_at(spec.errors.message_path),
            expired_codes=frozenset(spec.auth.expired_codes),
            html_means_expired=spec.auth.html_means_expired,
        )
        self._mode = mode
        self._secret = secret
        self._base = source.base_url.rstrip("/")
        self._verify: bool | str = source.ca_bundle or True
        self._timeout = (source.connect_timeout, source.read_timeout)
        self._session = watched_session(session)
        self._pacer: TokenBucket | None = None
        self._pace_sleep = sleep
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        self._logged_in = False
        self._server_time: datetime | None = None
        self._detail_failures = 0  # detail calls failed in a row (`fetch_details`)
        pagination = spec.pagination
        limit = pagination.page_size or source.page_size
        if pagination.max_page_size is not None:
            limit = min(limit, pagination.max_page_size)
        self.page_size = limit
        self.max_pages = min(max_pages, pagination.max_pages or max_pages)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._session.close()

    def pace(self, bucket: TokenBucket) -> None:
        """Send every later request within `bucket`'s rate: logins, retries and reconciling
        reads count like the writes, and a ``Retry-After`` holds the whole pace back. Give the
        same bucket to every client of a run, so that the run has one budget for the source."""
        self._pacer = bucket

    def pace_at(self, limit: float) -> TokenBucket:
        """Pace every later request a little below `limit` requests per second
        (`connector.source.transport.pace_for`): the budget the client already has (`pace`)
        keeps its schedule and any hold and takes the new rate; without one, a new one."""
        rate = pace_for(limit)
        if self._pacer is None:
            self._pacer = TokenBucket(rate, sleep=self._pace_sleep)
        else:
            self._pacer.set_rate(rate)
        return self._pacer

    # -- requests -----------------------------------------------------------------------------

    def _build(
        self,
        name: str,
        values: dict[str, Any],
        *,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> _Call:
        ep = self.spec.endpoint(name)
        values = {"account_code": self.source.account_code.strip(), **values}
        path = _fill_text(ep.path, values, quote_values=True)
        params = {
            k: _form_value(v) for k, v in fill_template(ep.query, values).items() if v is not None
        }
        body = fill_template(ep.body, values)
        data: dict[str, str] | None = None
        payload: Any = None
        if json_body is not None:
            payload = json_body
        elif body and ep.body_format == "form":
            data = {k: _form_value(v) for k, v in body.items() if v is not None}
        elif body:
            payload = body
        return _Call(name, ep.method, self._base + path, params, payload, data, headers)

    def _request(self, call: _Call, deadline: RequestDeadline) -> requests.Response:
        """The response with its body read (capped), within the deadline."""
        with deadline:
            resp = self._session.request(
                call.method,
                call.url,
                params=call.params or None,
                json=call.json,
                data=call.data,
                headers=call.headers,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,
            )
            try:
                body = read_capped(resp, self.source.max_response_bytes, deadline)
                resp._content = body
                resp._content_consumed = True  # type: ignore[attr-defined]
            finally:
                resp.close()
        return resp

    def _send_once(self, call: _Call) -> ResponseOutcome:
        if self._pacer is not None:
            self._pacer.acquire()
        if call.what != "login":
            self._session_ready.wait()
        self.stats.add("requests")
        deadline = RequestDeadline(
            self.source.request_timeout,
            on_sent=self._pacer.sent if self._pacer is not None else None,
        )
        late = ResponseOutcome(
            OutcomeKind.TRANSIENT,
            "deadline",
            message=f"no complete answer within source.request_timeout = "
            f"{self.source.request_timeout:g} s",
        )
        try:
            resp = self._request(call, deadline)
        except ResponseTooLarge as exc:
            outcome = ResponseOutcome(OutcomeKind.FATAL, "too_large", message=str(exc))
        except (DeadlineExceeded, *_NETWORK_ERRORS) as exc:
            late_now = deadline.expired or isinstance(exc, DeadlineExceeded)
            outcome = late if late_now else classify_response(exc, rules=self._rules)
        else:
            # Once the watchdog shut the socket, what was read may look complete (an end of
            # file ends the headers and an unsized body alike): it is never trusted.
            outcome = (
                late
                if deadline.expired
                else classify_response(resp, rules=self._rules, now=self.clock.now())
            )
            if outcome.date is not None and call.what != "token":  # the gateway's clock
                self._server_time = outcome.date
            if resp.is_redirect:
                target = urljoin(call.url, resp.headers.get("Location", ""))
                # To the source's own login page, a data request was sent with a session that
                # has ended (web applications send the browser there): an expired session, as a
                # 401 or the HTML login page is; anything else is not followed (`_fatal`).
                kind, reason = (
                    (OutcomeKind.SESSION_EXPIRED, "login_redirect")
                    if call.what not in ("login", "token") and _login_page(call.url, target)
                    else (OutcomeKind.FATAL, "redirect")
                )
                outcome = ResponseOutcome(
                    kind, reason, status=outcome.status, message=redact_url(target)
                )
        if outcome.status == 429:
            self.stats.add("rate_limited")
            if self._pacer is not None:
                self._pacer.slow_down()
        if self._pacer is not None and outcome.retry_after is not None:
            self._pacer.hold(min(outcome.retry_after, self._retry.max_wait))
        if outcome.kind is OutcomeKind.TRANSIENT:
            raise TransientFailure(outcome, call.shown)
        return outcome

    def _exchange(self, call: _Call) -> ResponseOutcome:
        try:
            return self._policy.run(lambda: self._send_once(call))
        except TransientFailure as exc:
            last = exc.outcome
            budget = (
                f"; the run's retry budget (retry.total_budget = {self._retry.total_budget:g} s) "
                "is used up"
                if self._policy.exhausted_budget
                else f" (retry.max_attempts = {self._retry.max_attempts})"
            )
            reason = f"{last.reason}: {last.message}" if last.reason == "deadline" else last.reason
            unavailable = SourceUnavailable(
                f"the document system did not answer usably ({reason}) after "
                f"{self.stats.retries} retries and {self.stats.waited_s:.1f} s of waiting in "
                f"this run{budget}; nothing was written, the next run will try again",
                url=call.shown,
                status=last.status,
            )
            unavailable.budget_spent = self._policy.exhausted_budget
            raise unavailable from None

    def _auth_failure(self, outcome: ResponseOutcome, call: _Call) -> AuthError:
        code = outcome.code or outcome.reason
        if self._mode == "token":
            text = (
                f"the document system refused the API token ({code}); ask its administrator "
                "for a valid token and set IDESK_CONNECTOR__SOURCE__TOKEN"
            )
        elif self._mode == "headers":
            text = (
                f"the source (or its integration gateway) refused the application's credentials "
                f"({code}); check source.auth_headers / source.auth_query and the secrets they "
                "name, or ask the province's IT department whether the key is still valid"
            )
        elif self._mode == "oauth2":
            text = (
                f"the source refused a freshly issued access token ({code}); check source.scope "
                "and ask the province's IT department whether the client may call this API"
            )
        elif code in OTP_CODES:
            text = (
                f"the account {self.source.username!r} asks for a one-time code (OTP) at login "
                f"({code}), which a service cannot give; ask the province's IT department for "
                "access through its integration gateway (auth = 'headers' or 'oauth2') or for an "
                "account without a one-time code"
            )
        else:
            text = (
                f"the document system refused the login ({code}); check source.username and "
                "IDESK_CONNECTOR__SOURCE__PASSWORD"
            )
        return AuthError(text, url=call.shown, status=outcome.status)

    def _fatal(self, outcome: ResponseOutcome, call: _Call) -> Exception:
        if outcome.reason == "tls":
            host = urlsplit(call.url).hostname or ""
            return ConfigError(
                [
                    Problem(
                        "source.ca_bundle",
                        f"the TLS certificate of {host} could not be verified; if the source "
                        "uses a private certificate authority, set source.ca_bundle to its PEM "
                        "file (verification is never switched off)",
                    )
                ],
                source="settings",
            )
        if outcome.reason == "too_large":
            limit = self.source.max_response_bytes
            return SourceError(
                f"the answer to the {call.what} request was refused: it is larger than "
                f"source.max_response_bytes = {limit} bytes ({outcome.message}; counted as "
                "received and after decompression). If the source really sends answers this "
                "large, lower source.page_size or raise source.max_response_bytes",
                url=call.shown,
                status=outcome.status,
            )
        if outcome.reason == "redirect":
            return SourceRefused(
                f"the source answered with a redirect to {outcome.message}; set "
                "source.base_url to the final address (redirects are not followed, so "
                "credentials never go to another host)",
                url=call.shown,
                status=outcome.status,
                code="redirect",
            )
        detail = f": {outcome.message[:200]}" if outcome.message else ""
        if outcome.status is not None and 400 <= outcome.status < 500:
            return SourceRefused(
                f"the source refused the {call.what} request ({outcome.reason}){detail}",
                url=call.shown,
                status=outcome.status,
                code=outcome.code or outcome.reason,
            )
        return SourceError(
            f"the {call.what} request failed ({outcome.reason}){detail}",
            url=call.shown,
            status=outcome.status,
        )

    def _call(
        self, call: _Call, *, authed: bool = True, accept: frozenset[int] = frozenset()
    ) -> ResponseOutcome:
        """Send with retries; log in again once on an expired session (renew an OAuth 2.0
        token once on a 401); raise on failures."""
        if authed:
            self._ensure_login()
        generation = self._auth_generation
        outcome = self._exchange(call)
        if authed and self._sent_during_login(outcome, generation):
            # Another thread logged in again while this request was out, clearing the session
            # cookie it should have carried: the source saw no session, not a bad login.
            self._ensure_login()
            generation = self._auth_generation
            outcome = self._exchange(call)
        if authed and self._renewable(outcome):
            for _ in range(_SESSIONS_PER_REQUEST):
                own = self._renew(generation, outcome, call)
                generation = self._auth_generation
                outcome = self._exchange(call)
                if self._mode != "session" or outcome.kind is not OutcomeKind.SESSION_EXPIRED:
                    break
                if own and generation == self._auth_generation != self._held_generation:
                    break  # this thread's own fresh login did not hold for one request
                # Another thread's session (it logged in again, before this thread or since), or
                # this thread's own that served other requests while this one waited for its
                # turn: it may have ended by now.
            if self._mode == "session" and outcome.kind is OutcomeKind.SESSION_EXPIRED:
                again = (
                    f"the document system still sends the {call.what} request to its login "
                    f"page ({outcome.message}) right after a fresh login"
                    if outcome.reason == "login_redirect"
                    else "the session expired again right after a fresh login"
                )
                raise AuthError(
                    f"{again}; check that the "
                    "account may use this endpoint and that cookies are kept by any proxy",
                    url=call.shown,
                    status=outcome.status,
                )
        if outcome.kind is OutcomeKind.SESSION_EXPIRED:
            what = {
                "html_login_page": "an HTML page",
                "login_redirect": f"a redirect to its login page ({outcome.message})",
            }.get(outcome.reason, "session_expired")
            used = {
                "token": "a token",
                "headers": "the application's credentials",
                "oauth2": "a fresh access token",
            }.get(self._mode, "a fresh login")
            raise AuthError(
                f"the document system answered {what} instead of data although {used} was "
                "used; check source.auth and the credentials",
                url=call.shown,
                status=outcome.status,
            )
        if outcome.kind is OutcomeKind.AUTH_FAILED:
            raise self._auth_failure(outcome, call)
        if outcome.kind is OutcomeKind.FATAL and outcome.status not in accept:
            raise self._fatal(outcome, call)
        if authed and generation > self._held_generation:
            self._held_generation = generation
        return outcome

    def _sent_during_login(self, outcome: ResponseOutcome, generation: int) -> bool:
        """A session-mode 401 to a request that went out while another thread was logging in
        again (`_login_session` clears the cookie jar first), or before it had done so: the
        request is sent again once with the new session (a 401 is never acted on)."""
        return (
            self._mode == "session"
            and outcome.kind is OutcomeKind.AUTH_FAILED
            and (self._auth_generation != generation or not self._logged_in)
        )

    def _renewable(self, outcome: ResponseOutcome) -> bool:
        """Whether new credentials may help: an expired session, or a 401 to a token."""
        if self._mode == "session":
            return outcome.kind is OutcomeKind.SESSION_EXPIRED
        if self._mode == "oauth2":
            return outcome.kind in (OutcomeKind.SESSION_EXPIRED, OutcomeKind.AUTH_FAILED)
        return False

    def _renew(self, generation: int, outcome: ResponseOutcome, call: _Call) -> bool:
        """New credentials, unless another thread got some since `generation` was read; True
        when this call got them."""
        with self._auth_lock:
            if self._auth_generation != generation:
                return False
            event = "source_session_expired" if self._mode == "session" else "source_token_refused"
            log.info(event, url=call.shown, reason=outcome.reason, status=outcome.status)
            self.stats.add("relogins")
            if self._mode == "session":
                self._login_session()
            else:
                self._fetch_token()
            return True

    # -- authentication -----------------------------------------------------------------------

    def _ensure_login(self) -> None:
        token = self._token
        if self._logged_in and (token is None or not token.due(self.clock.now())):
            return
        with self._auth_lock:
            if not self._logged_in:
                self.login()
                return
            token = self._token
            if token is not None and token.due(self.clock.now()):
                log.info("source_token_renewing", reason="expires_soon")
                self._fetch_token()

    def login(self) -> None:
        """Authenticate the way `source.auth` says (see `connector.source.auth`): POST the login
        form (session), set the token or the static headers, or fetch an access token
        (oauth2); then call the mapping's probe, if it has one."""
        with self._auth_lock:
            if self._mode == "session":
                self._login_session()
                return
            auth = self.spec.auth
            if self._mode == "token":
                self._session.headers[auth.token_header] = auth.token_prefix + self._secret_value()
            elif self._mode == "headers":
                assert self._static is not None
                self._session.headers.update(self._static.headers)
                self._session.params = dict(self._static.query)
            else:
                self._fetch_token()
            self._logged_in = True
            if auth.probe:
                self._call(self._build(auth.probe, {}), authed=False)
            log.info("source_login", mode=self._mode, url=redact_url(self._base))

    def _secret_value(self) -> str:
        assert self._secret is not None
        return self._secret.get_secret_value()

    def _fetch_token(self) -> None:
        """An access token from ``source.token_url`` (client credentials), set on the session."""
        src = self.source
        secret = self._secret_value()
        form = {"grant_type": "client_credentials"}
        if src.scope:
            form["scope"] = src.scope
        headers: dict[str, str | None] = {"Authorization": None}
        if src.token_auth == "basic":  # noqa: S105 (a client authentication method)
            header = basic_header(src.client_id, secret)
            REDACTOR.add([header.split(" ", 1)[1]])
            headers["Authorization"] = header
        else:
            form.update(client_id=src.client_id, client_secret=secret)
        call = _Call("token", "POST", self._token_url, {}, data=form, headers=headers)
        outcome = self._exchange(call)
        if outcome.kind is not OutcomeKind.OK:
            code = outcome.code or outcome.reason
            raise AuthError(
                f"the token endpoint refused the client credentials ({code}); check "
                "source.client_id, source.scope and IDESK_CONNECTOR__SOURCE__CLIENT_SECRET",
                url=call.shown,
                status=outcome.status,
            )
        token = read_token(outcome.body, self.clock.now(), url=call.shown)
        REDACTOR.add([token.value])
        auth = self.spec.auth
        self._session.headers[auth.token_header] = auth.token_prefix + token.value
        self._token = token
        self._auth_generation += 1
        log.info(
            "source_token_issued",
            url=call.shown,
            renew_at=token.renew_at.isoformat() if token.renew_at else None,
        )

    def _login_session(self) -> None:
        self._session_ready.clear()
        try:
            self._session.cookies.clear()
            self._logged_in = False
            values = {"username": self.source.username, "password": self._secret_value()}
            call = self._build("login", values)
            outcome = self._call(call, authed=False, accept=_REDIRECTS)
            if outcome.reason == "redirect":
                self._check_login_redirect(outcome, call)
            body = outcome.body
            if isinstance(body, dict) and body.get("ok") is False:
                raise AuthError(
                    "the document system did not accept the login; check source.username and "
                    "IDESK_CONNECTOR__SOURCE__PASSWORD",
                    url=call.shown,
                    status=outcome.status,
                )
            self._logged_in = True
            self._auth_generation += 1
        finally:
            self._session_ready.set()
        # The session cookie (JSESSIONID) is a credential: never in a log, an error or the ledger.
        REDACTOR.add(cookie.value for cookie in self._session.cookies if cookie.value)
        log.info("source_login", mode="session", user=self.source.username, url=call.shown)

    def _check_login_redirect(self, outcome: ResponseOutcome, call: _Call) -> None:
        """A login form answered with a redirect (not followed). To a page of the same host,
        with a session cookie set, it logged in, as web applications' forms do; back to the
        form itself (a path with "login" in it) or without a session cookie, the credentials
        were not accepted (AuthError); to another host, `source.base_url` is not the final
        address (SourceRefused, `_fatal`)."""
        target = urlsplit(outcome.message)
        here = urlsplit(call.url)
        if (target.scheme, target.hostname, target.port) != (here.scheme, here.hostname, here.port):
            raise self._fatal(outcome, call)
        if "login" in target.path.lower() or not any(c.value for c in self._session.cookies):
            raise AuthError(
                "the document system did not accept the login (its form answered with a "
                f"redirect to {target.path or '/'} without opening a session); check "
                "source.username and IDESK_CONNECTOR__SOURCE__PASSWORD",
                url=call.shown,
                status=outcome.status,
            )

    def server_time(self) -> datetime | None:
        """The source's clock (aware UTC) from the Date header of the latest answer.

        Logs in first when nothing was exchanged yet, so a run has the server's time at its start.
        """
        if self._server_time is None and not self._logged_in:
            self._ensure_login()
        return self._server_time

    # -- the task list ------------------------------------------------------------------------

    def _key_function(self) -> Callable[[dict[str, Any]], tuple[datetime, Hashable] | None]:
        keyset = self.spec.pagination.keyset
        assert keyset is not None
        converter = REGISTRY[keyset.converter]
        fmt = self.spec.pagination.modified_format

        def key(item: dict[str, Any]) -> tuple[datetime, Hashable] | None:
            raw_id = resolve(item, keyset.id)
            if isinstance(raw_id, bool) or not isinstance(raw_id, int | str):
                return None
            try:
                instant = converter(resolve(item, keyset.modified))
            except ConversionError:
                return None
            return floor_for(fmt, instant), raw_id

        return key

    def _paginator(self, min_horizon: datetime | None = None) -> Paginator:
        p = self.spec.pagination
        limit, pages = self.page_size, self.max_pages
        if p.style == "offset" and p.keyset is not None:
            return KeysetPaginator(limit, pages, self._key_function(), min_horizon)
        if p.style == "offset":
            return OffsetPaginator(limit, pages, stable=p.is_stable)
        if p.style == "page":
            return PagePaginator(limit, pages, first_page=p.first_page, stable=p.is_stable)
        if p.style == "cursor":
            return CursorPaginator(limit, pages, stable=p.is_stable)
        return LinkPaginator(limit, pages, stable=p.is_stable)

    def _list_call(self, req: ListRequest) -> _Call:
        if req.next_url is not None:
            if _origin(req.next_url) != _origin(self._base):
                raise SourceError(
                    "the source's next-page link points to another host; it is not followed "
                    "(credentials would go there)",
                    url=redact_url(req.next_url),
                )
            return _Call("search", "GET", req.next_url, {})
        fmt = self.spec.pagination.modified_format
        values: dict[str, Any] = {
            "modified_from": (
                format_instant(fmt, req.modified_from) if req.modified_from is not None else None
            ),
            "offset": req.offset,
            "limit": req.limit,
            "page": req.page,
            "cursor": req.cursor,
        }
        return self._build("search", values)

    def _fetch_list(self, req: ListRequest) -> ListResponse:
        before = self._server_time
        call = self._list_call(req)
        outcome = self._call(call)
        ep = self.spec.endpoint("search")
        items = resolve(outcome.body, ep.records_path)
        if not isinstance(items, list):
            raise SourceError(
                f"the list answer has no list at {ep.records_path or '(the whole answer)'!r}; "
                f"check endpoints.search.records_path in {self.spec.file}",
                url=call.shown,
                status=outcome.status,
            )
        total = resolve(outcome.body, ep.total_path) if ep.total_path else None
        if isinstance(total, bool) or not isinstance(total, int):
            total = None
        token: str | None = None
        if self.spec.pagination.next_path:
            raw = resolve(outcome.body, self.spec.pagination.next_path)
            if isinstance(raw, str | int) and not isinstance(raw, bool) and str(raw):
                token = str(raw)
        next_url = None
        link = outcome.headers.get("Link", "")
        if link:
            for entry in requests.utils.parse_header_links(link):
                if "next" in entry.get("rel", "").split():
                    next_url = urljoin(call.url, entry.get("url", ""))
                    break
        records = [item if isinstance(item, dict) else {"@item": item} for item in items]
        stamp = self._stamp(outcome)
        if stamp is not None and not self.spec.has_endpoint("detail"):
            records = [{**record, "@fetched_at": stamp} for record in records]
        return ListResponse(records, total, token, next_url, before)

    def _stamp(self, outcome: ResponseOutcome) -> str | None:
        if not self.spec.uses_fetched_at:
            return None
        return (outcome.date or self.clock.now()).isoformat()

    def _detail(self, item: dict[str, Any]) -> dict[str, Any] | None:
        ep = self.spec.endpoint("detail")
        raw_id = resolve(item, ep.id_path)
        if raw_id is MISSING or raw_id is None or isinstance(raw_id, dict | list):
            return {"@list": item}
        self.stats.add("detail_calls")
        call = self._build("detail", {"id": raw_id})
        outcome = self._call(call, accept=frozenset({404}))
        if outcome.status == 404:
            if not outcome.code:  # an HTML 404: the path is wrong, not the record gone
                raise self._fatal(outcome, call)
            log.info("record_vanished", source_id=str(raw_id))
            return None
        found = resolve(outcome.body, ep.record_path)
        record = dict(found) if isinstance(found, dict) else {"@detail": outcome.body}
        record["@list"] = item
        stamp = self._stamp(outcome)
        if stamp is not None:
            record["@fetched_at"] = stamp
        return record

    def iter_pages(
        self,
        modified_from: datetime | None,
        *,
        full: bool = False,
        min_horizon: datetime | None = None,
    ) -> Iterator[Page]:
        """Every record modified at or after `modified_from` (all when None or `full`), by page.

        Each `Page` carries ``safe_cursor`` (see `connector.source.pagination.Page`); store
        ``min(page.safe_cursor, server time at run start)`` with the page. `min_horizon` (the
        connector's clock at the start of the run) keeps a server clock running behind from
        ending a keyset listing early (`KeysetPaginator.min_horizon`). With a detail endpoint
        the records are the detail records, with the list item under ``@list``. The last page
        may have no records (it then only moves the cursor).
        """
        since = None if full else modified_from
        if since is not None:
            since = floor_for(self.spec.pagination.modified_format, require_aware(since))
        self._ensure_login()
        detail = self.spec.has_endpoint("detail")
        for page in self._paginator(min_horizon).pages(self._fetch_list, since):
            records = page.records
            if detail:
                records = [r for r in (self._detail(item) for item in records) if r is not None]
            self.stats.pages += 1
            self.stats.records += len(records)
            log.info(
                "page_fetched",
                page=page.number,
                records=len(records),
                total=page.total,
                safe_cursor=page.safe_cursor.isoformat() if page.safe_cursor else None,
            )
            yield Page(records, page.number, page.total, page.safe_cursor)

    def iter_list(self, *, min_horizon: datetime | None = None) -> Iterator[Page]:
        """The whole list, page by page, without the detail calls (the snapshot strategy reads
        the details it needs with `fetch_details`). No page carries a safe cursor."""
        self._ensure_login()
        for page in self._paginator(min_horizon).pages(self._fetch_list, None):
            self.stats.add("pages")
            self.stats.add("records", len(page.records))
            log.info("page_fetched", page=page.number, records=len(page.records), total=page.total)
            yield Page(page.records, page.number, page.total, None)

    def item_id(self, item: dict[str, Any]) -> str | None:
        """The id of a list item (the detail endpoint's ``id_path``) as text; None without one."""
        raw = resolve(item, self.spec.endpoint("detail").id_path)
        if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
            return None
        return str(raw).strip()

    def fetch_details(self, items: Sequence[dict[str, Any]], workers: int = 1) -> list[Detail]:
        """The detail of each list item, `workers` requests at a time, in the items' order.

        Every request still goes through the pace (`pace`) and the retry budget shared by the
        run. A call that fails for its record alone (a final answer such as an HTTP 500 or 403,
        an answer too large, no usable answer through ``retry.max_attempts`` attempts: not an
        expired login, not the run's retry budget used up) gives a `Detail` with its `error`
        and no record, logged as ``detail_failed``; `DETAIL_FAILURES_TO_STOP` of them in a row,
        across calls, raise the last one. Any other error stops the calls not yet started and
        is raised once the ones in flight have ended.
        """
        if workers <= 1 or len(items) <= 1:
            return [self._tallied(self._detail_or_failure(item)) for item in items]
        self._ensure_login()  # once, before the threads start
        pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="detail")
        try:
            # Each call in a copy of this thread's context: its events carry the run's run_id.
            with signals_blocked():  # submit starts threads: never interrupted midway
                futures = [
                    pool.submit(contextvars.copy_context().run, self._detail_or_failure, item)
                    for item in items
                ]
            found = [self._tallied(future.result()) for future in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        return found

    def _tallied(self, detail: Detail) -> Detail:
        """`detail`, counted among the detail calls failed in a row; the failure that makes
        `DETAIL_FAILURES_TO_STOP` of them is raised."""
        if detail.error is None:
            self._detail_failures = 0
            return detail
        self._detail_failures += 1
        if self._detail_failures >= DETAIL_FAILURES_TO_STOP:
            raise detail.error
        return detail

    def _detail_or_failure(self, item: dict[str, Any]) -> Detail:
        """`_detail` of one item, its failure kept when it is the record's alone: a final
        answer, or no usable answer through ``retry.max_attempts`` attempts (a document the
        application or a gateway keeps timing out on) while the run's retry budget lasts. A
        source down for every document fails `DETAIL_FAILURES_TO_STOP` in a row."""
        try:
            return Detail(item, self._detail(item))
        except AuthError:
            raise
        except SourceUnavailable as exc:
            if exc.budget_spent:
                raise
            log.warning("detail_failed", source_id=self.item_id(item), error=str(exc))
            return Detail(item, None, exc)
        except SourceError as exc:
            log.warning("detail_failed", source_id=self.item_id(item), error=str(exc))
            return Detail(item, None, exc)

    def get_record(self, source_id: int | str) -> dict[str, Any] | None:
        """One record by id (the view endpoint, else the detail endpoint); None when the source
        says it does not exist (404 with an error code)."""
        name = "view" if self.spec.has_endpoint("view") else "detail"
        ep = self.spec.endpoint(name)
        call = self._build(name, {"id": source_id})
        outcome = self._call(call, accept=frozenset({404}))
        if outcome.status == 404:
            if not outcome.code:
                raise self._fatal(outcome, call)
            return None
        found = resolve(outcome.body, ep.record_path)
        if not isinstance(found, dict):
            raise SourceError(
                f"the {name} answer has no record at {ep.record_path or '(the whole answer)'!r}; "
                f"check endpoints.{name}.record_path in {self.spec.file}",
                url=call.shown,
                status=outcome.status,
            )
        record = dict(found)
        stamp = self._stamp(outcome)
        if stamp is not None:
            record["@fetched_at"] = stamp
        return record

    # -- writes -------------------------------------------------------------------------------

    def _write(self, name: str, body: dict[str, Any], key: str, what: str) -> WriteResult:
        ep: EndpointSpec = self.spec.endpoint(name)
        if not _KEY_OK.match(key):
            raise DeliveryRefused(
                f"the idempotency key for the {what} must be 1-255 printable ASCII characters",
                key=key[:80],
                code="invalid_idempotency_key",
            )
        call = self._build(name, {}, json_body=body, headers={ep.idempotency_header: key})
        try:
            outcome = self._call(call)
        except AuthError:
            raise
        except SourceRefused as exc:
            raise DeliveryRefused(
                f"the source refused the {what} ({exc.code}); it will not be sent again as is",
                key=key,
                status=exc.status,
                code=exc.code,
            ) from None
        except SourceUnavailable as exc:
            why = (
                f"the run's retry budget (retry.total_budget = {self._retry.total_budget:g} s) "
                "is used up"
                if self._policy.exhausted_budget
                else f"retry.max_attempts = {self._retry.max_attempts} reached"
            )
            raise DeliveryError(
                f"the {what} could not be delivered now: the source stayed unavailable "
                f"({why}); it stays in the outbox and is retried on a later run",
                key=key,
                status=exc.status,
            ) from None
        except SourceError as exc:
            # A final answer to this one request (an HTTP 500), not retried here: the row
            # fails alone and the run goes on with the others.
            raise DeliveryError(
                f"the {what} could not be delivered now ({exc.message}); it is retried later",
                key=key,
                status=exc.status,
                retried=False,
            ) from None
        status = outcome.status or 0
        answer = outcome.body if isinstance(outcome.body, dict) else {}
        replayed = ep.created_status is not None and status != ep.created_status
        if ep.replay_header:
            flag = outcome.headers.get(ep.replay_header, "")
            replayed = replayed or flag.strip().lower() in {"true", "1", "yes"}
        log.info("source_write", what=what, status=status, replayed=replayed, key=key)
        return WriteResult(status=status, body=answer, replayed=replayed)

    def post_tracking(self, body: dict[str, Any], idempotency_key: str) -> WriteResult:
        """Write a task's tracking status (contract section 6)."""
        return self._write("tracking", body, idempotency_key, "tracking-status write")

    def send_notification(self, body: dict[str, Any], idempotency_key: str) -> WriteResult:
        """Send a notification (contract section 7)."""
        return self._write("notify", body, idempotency_key, "notification")

    # -- lists --------------------------------------------------------------------------------

    def _records(self, name: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        ep = self.spec.endpoint(name)
        call = self._build(name, values)
        outcome = self._call(call)
        items = resolve(outcome.body, ep.records_path)
        if not isinstance(items, list):
            raise SourceError(
                f"the {name} answer has no list at {ep.records_path or '(the whole answer)'!r}",
                url=call.shown,
                status=outcome.status,
            )
        return [item for item in items if isinstance(item, dict)]

    def read_tracking(self, task_id: int) -> SourceTracking | None:
        """The tracking status the source holds for a task (None: the task is gone, or its
        record cannot be read), to reconcile a write whose key the source no longer replays."""
        record = self.get_record(task_id)
        if record is None:
            return None
        try:
            task = normalise(record, self.spec)
        except BadRecord as exc:
            log.warning("tracking_unreadable", task_id=task_id, field=exc.field)
            return None
        return SourceTracking(
            status=task.tracking_status, last_modified=task.last_modified.isoformat()
        )

    def list_notifications(self, task_id: int | str) -> list[dict[str, Any]]:
        """The notifications the source holds for a task (to reconcile an unseen send)."""
        return self._records("notifications", {"task_id": task_id})

    def list_units(self) -> list[Unit]:
        """The province's units; items with an unknown kind or no code are skipped (logged).

        A mapping without a units endpoint (iDesk 6 pages) gives an empty list.
        """
        if not self.spec.has_endpoint("units"):
            log.info("units_not_in_mapping", mapping=self.spec.name)
            return []
        spec = self.spec.units
        units: list[Unit] = []
        skipped = 0
        for item in self._records("units", {}):
            raw_kind = resolve(item, spec.kind)
            if isinstance(raw_kind, str) and raw_kind in spec.skip_kinds:
                skipped += 1
                continue
            code = _unit_text(resolve(item, spec.code), spec.none_values)
            name = _unit_text(resolve(item, spec.name), ())
            parent = _unit_text(resolve(item, spec.parent_code), spec.none_values)
            kind = spec.kind_of(raw_kind, name)
            if not code or kind is None:
                log.warning("unit_skipped", code=code[:40], kind=str(raw_kind)[:40])
                continue
            units.append(Unit(code=code, name=name, kind=kind, parent_code=parent))
        if skipped:
            log.debug("units_not_units", skipped=skipped, kinds=list(spec.skip_kinds))
        return units
