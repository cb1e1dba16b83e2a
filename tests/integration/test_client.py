"""SourceClient against precise HTTP fault cases (`responses`, checking what was sent)."""

from __future__ import annotations

import json
import random
import tomllib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr
from responses import matchers
from responses.registries import OrderedRegistry
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import (
    AuthError,
    ConfigError,
    DeliveryError,
    DeliveryRefused,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from connector.mapping.files import mappings_dir
from connector.mapping.spec import MappingSpec, build_mapping, load_mapping
from connector.models import Unit, UnitKind
from connector.settings import RetrySettings, SourceSettings
from connector.source.client import SourceClient, WriteResult
from tests.support import DATA

BASE = "https://vpdt.example.gov.vn/ubnd/smartcloud"
PASSWORD = "pw-Secret-123!"
TOKEN = "tok-Secret-456"
NOW = datetime(2022, 4, 12, 10, 0, tzinfo=UTC)
DATE = format_datetime(NOW, usegmt=True)
LOGIN = BASE + "/auth/login.cpx"
SEARCH = BASE + "/tasks/search.cpx"
RETRY = RetrySettings(max_attempts=5, initial_wait=1.0, max_wait=30.0, total_budget=300.0)


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping("idesk")


@pytest.fixture
def rsps() -> Any:
    with responses.RequestsMock(
        registry=OrderedRegistry, assert_all_requests_are_fired=True
    ) as mock:
        yield mock


def source(**overrides: Any) -> SourceSettings:
    values: dict[str, Any] = {
        "base_url": BASE,
        "auth": "session",
        "username": "clerk",
        "password": SecretStr(PASSWORD),
        "token": SecretStr(TOKEN),
        "page_size": 50,
    }
    values.update(overrides)
    return SourceSettings(**values)


def make(
    spec: MappingSpec, sleeps: Sleeps | None = None, retry: RetrySettings = RETRY, **src: Any
) -> SourceClient:
    return SourceClient(
        source(**src),
        retry,
        spec,
        sleep=sleeps if sleeps is not None else Sleeps(),
        clock=FixedClock(NOW),
        rng=random.Random(7),
    )


def login_ok(rsps: Any, date: str = DATE) -> None:
    rsps.post(
        LOGIN,
        json={"ok": True, "expiresIn": 1800},
        headers={"Set-Cookie": "JSESSIONID=s1; Path=/", "Date": date},
        match=[matchers.urlencoded_params_matcher({"username": "clerk", "password": PASSWORD})],
    )


def task(i: int, second: int = 0) -> dict[str, Any]:
    stamp = (NOW - timedelta(days=1) + timedelta(seconds=second)).isoformat()
    return {"id": i, "status": "processing", "lastModifyStr": stamp}


def search_ok(rsps: Any, items: list[dict[str, Any]], total: int | None = None, **kw: Any) -> None:
    rsps.post(SEARCH, json={"total": len(items) if total is None else total, "items": items}, **kw)


def records(client: SourceClient, since: datetime | None = None) -> list[dict[str, Any]]:
    return [r for page in client.iter_pages(since) for r in page.records]


# -- what is sent -----------------------------------------------------------------------------------


def test_login_form_and_search_body_come_from_the_mapping(rsps: Any, spec: MappingSpec) -> None:
    """Session login posts the mapping's form; search sends its JSON body, timeouts, verify."""
    login_ok(rsps)
    body = {
        "modifiedFrom": "2022-03-01T00:00:00+00:00",
        "start": 0,
        "limit": 50,
        "includeDeleted": True,
    }
    kwargs = {"timeout": (5.0, 30.0)}
    search_ok(
        rsps,
        [task(1), task(2)],
        match=[matchers.json_params_matcher(body), matchers.request_kwargs_matcher(kwargs)],
    )
    with make(spec) as client:
        pages = list(client.iter_pages(datetime(2022, 3, 1, 0, 0, 0, 900_000, tzinfo=UTC)))
    assert [r["id"] for r in pages[0].records] == [1, 2]
    assert pages[-1].safe_cursor == NOW  # the horizon: the server clock at login
    assert rsps.calls[1].request.headers["Cookie"] == "JSESSIONID=s1"


def test_full_read_leaves_out_modified_from(rsps: Any, spec: MappingSpec) -> None:
    """full=True (or no cursor) sends no modifiedFrom at all."""
    login_ok(rsps)
    search_ok(
        rsps,
        [],
        match=[matchers.json_params_matcher({"start": 0, "limit": 50, "includeDeleted": True})],
    )
    with make(spec) as client:
        pages = list(client.iter_pages(NOW, full=True))
    assert pages[0].records == [] and pages[0].safe_cursor == NOW


def test_keyset_second_request_targets_the_tie_group(rsps: Any, spec: MappingSpec) -> None:
    """The next request asks modifiedFrom = last instant seen, offset within its group - 1; a
    full page reaching the total is not the end: one more request (only the overlap) ends it."""
    login_ok(rsps)
    first = [task(1, 0), task(2, 5), task(3, 5)]
    search_ok(
        rsps,
        first,
        total=5,
        match=[matchers.json_params_matcher({"start": 0, "limit": 3, "includeDeleted": True})],
    )
    stamp = first[1]["lastModifyStr"]
    search_ok(
        rsps,
        [task(3, 5), task(4, 6), task(5, 7)],
        total=4,
        match=[
            matchers.json_params_matcher(
                {"modifiedFrom": stamp, "start": 1, "limit": 3, "includeDeleted": True}
            )
        ],
    )
    last = task(5, 7)
    search_ok(
        rsps,
        [last],
        total=1,
        match=[
            matchers.json_params_matcher(
                {
                    "modifiedFrom": last["lastModifyStr"],
                    "start": 0,
                    "limit": 3,
                    "includeDeleted": True,
                }
            )
        ],
    )
    with make(spec, page_size=3) as client:
        assert [r["id"] for r in records(client)] == [1, 2, 3, 4, 5]


def test_token_mode_sends_bearer_and_probes(rsps: Any, spec: MappingSpec) -> None:
    """Token mode: the Authorization header on every call, the probe reads the clock first."""
    auth = matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})
    rsps.get(BASE + "/comm/units.cpx", json={"items": []}, headers={"Date": DATE}, match=[auth])
    search_ok(rsps, [task(1)], match=[auth])
    with make(spec, auth="token") as client:
        assert client.server_time() == NOW
        assert [r["id"] for r in records(client)] == [1]


# -- transient failures ------------------------------------------------------------------------------

HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param({"status": 429, "json": {"error": "rate_limited"}}, "rate_limited", id="429"),
        pytest.param(
            {"status": 502, "body": HTML_502, "content_type": "text/html"},
            "bad_gateway",
            id="502-html",
        ),
        pytest.param(
            {"status": 503, "body": HTML_502, "content_type": "text/html"}, "unavailable", id="503"
        ),
        pytest.param({"status": 504, "body": ""}, "timeout", id="504"),
        pytest.param(
            {"body": requests.exceptions.ConnectionError("reset")},
            "connection",
            id="connection-error",
        ),
        pytest.param(
            {"body": requests.exceptions.ReadTimeout("slow")}, "timeout", id="read-timeout"
        ),
        pytest.param(
            {"body": requests.exceptions.ConnectTimeout("no route")},
            "timeout",
            id="connect-timeout",
        ),
        pytest.param(
            {"body": requests.exceptions.ChunkedEncodingError("cut")},
            "truncated",
            id="chunked-encoding",
        ),
        pytest.param(
            {
                "status": 200,
                "body": '{"total": 2, "items": [{"id"',
                "content_type": "application/json",
            },
            "invalid_json",
            id="truncated-json",
        ),
        pytest.param(
            {"status": 200, "body": "\xff\xfe", "content_type": "application/json"},
            "invalid_json",
            id="not-utf8",
        ),
    ],
)
def test_each_transient_failure_is_retried(
    rsps: Any, spec: MappingSpec, failure: dict[str, Any], reason: str
) -> None:
    """Each transient class is retried once after a logged, counted wait, then succeeds."""
    login_ok(rsps)
    rsps.post(SEARCH, **failure)
    search_ok(rsps, [task(1)])
    sleeps = Sleeps()
    with capture_logs() as logs, make(spec, sleeps) as client:
        assert [r["id"] for r in records(client)] == [1]
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 1.0  # first backoff: 1 s with equal jitter
    waits = [e for e in logs if e["event"] == "source_retry_wait"]
    assert len(waits) == 1
    assert waits[0]["reason"] == reason and waits[0]["attempt"] == 1
    assert waits[0]["url"] == SEARCH
    assert client.stats.retries == 1
    assert client.stats.waited_s == pytest.approx(sleeps[0])
    assert client.stats.rate_limited == (1 if failure.get("status") == 429 else 0)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param("3", 3.0, id="seconds"),
        pytest.param(format_datetime(NOW + timedelta(seconds=7), usegmt=True), 7.0, id="http-date"),
        pytest.param("120", 30.0, id="capped-at-max-wait"),
        pytest.param("0", None, id="zero-means-backoff"),
        pytest.param("-5", None, id="negative-means-backoff"),
        pytest.param(
            format_datetime(NOW - timedelta(seconds=30), usegmt=True),
            None,
            id="past-date-means-backoff",
        ),
        pytest.param("soon", None, id="garbage-means-backoff"),
    ],
)
def test_retry_after_both_forms(
    rsps: Any, spec: MappingSpec, retry_after: str, expected: float | None
) -> None:
    """Retry-After in seconds or as an HTTP-date is honoured (capped); 0/negative/past = backoff."""
    login_ok(rsps)
    rsps.post(SEARCH, status=503, body="", headers={"Retry-After": retry_after, "Date": DATE})
    search_ok(rsps, [])
    sleeps = Sleeps()
    with make(spec, sleeps) as client:
        records(client)
    if expected is None:
        assert 0.5 <= sleeps[0] <= 1.0
    else:
        assert sleeps == [pytest.approx(expected)]


def test_http_date_without_date_header_uses_the_clock(rsps: Any, spec: MappingSpec) -> None:
    """With no Date header, an HTTP-date Retry-After is measured from the injected clock."""
    login_ok(rsps)
    rsps.post(
        SEARCH,
        status=429,
        body="",
        headers={"Retry-After": format_datetime(NOW + timedelta(seconds=4), usegmt=True)},
    )
    search_ok(rsps, [])
    sleeps = Sleeps()
    with make(spec, sleeps) as client:
        records(client)
    assert sleeps == [pytest.approx(4.0)]


def test_budget_exhaustion_is_source_unavailable(rsps: Any, spec: MappingSpec) -> None:
    """Past the run's wait budget the client gives up with SourceUnavailable, nothing yielded."""
    login_ok(rsps)
    for _ in range(3):
        rsps.post(SEARCH, status=503, body="maintenance", headers={"Retry-After": "6"})
    sleeps = Sleeps()
    retry = RetrySettings(max_attempts=10, initial_wait=1.0, max_wait=6.0, total_budget=13.0)
    with make(spec, sleeps, retry) as client, pytest.raises(SourceUnavailable) as caught:
        records(client)
    assert sleeps == [6.0, 6.0]  # a third wait would pass 13 s
    assert "retry.total_budget = 13 s" in str(caught.value)
    assert caught.value.status == 503
    assert client.stats.waited_s == 12.0


def test_attempts_exhaustion_is_source_unavailable(rsps: Any, spec: MappingSpec) -> None:
    """After max_attempts transient failures the client gives up."""
    login_ok(rsps)
    for _ in range(3):
        rsps.post(SEARCH, body=requests.exceptions.ConnectionError("down"))
    sleeps = Sleeps()
    with (
        make(spec, sleeps, RetrySettings(max_attempts=3, initial_wait=0.1)) as client,
        pytest.raises(SourceUnavailable, match="max_attempts = 3"),
    ):
        records(client)
    assert len(sleeps) == 2
    assert 0.05 <= sleeps[0] <= 0.1 and 0.1 <= sleeps[1] <= 0.2  # exponential


def test_backoff_is_capped_by_max_wait(spec: MappingSpec) -> None:
    """Exponential backoff never waits more than max_wait, jitter included."""
    client = make(spec, retry=RetrySettings(initial_wait=1.0, max_wait=5.0))
    waits = [client._policy.backoff(n) for n in range(1, 40)]
    assert max(waits) <= 5.0 and waits[-1] >= 2.5


# -- authentication ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expired",
    [
        pytest.param({"status": 401, "json": {"error": "session_expired"}}, id="json-401"),
        pytest.param(
            {
                "status": 200,
                "body": "<!DOCTYPE html><html>Đăng nhập</html>",
                "content_type": "text/html",
            },
            id="html-login-page",
        ),
    ],
)
def test_expired_session_logs_in_once_and_repeats(
    rsps: Any, spec: MappingSpec, expired: dict[str, Any]
) -> None:
    """An expired session (either style) leads to one new login and the same request again."""
    login_ok(rsps)
    rsps.post(SEARCH, **expired)
    login_ok(rsps)
    search_ok(rsps, [task(1)])
    sleeps = Sleeps()
    with make(spec, sleeps) as client:
        assert [r["id"] for r in records(client)] == [1]
    assert client.stats.relogins == 1
    assert sleeps == []


@pytest.mark.parametrize(
    "expired",
    [
        pytest.param({"status": 401, "json": {"error": "session_expired"}}, id="json-401"),
        pytest.param(
            {"status": 200, "body": "<html>login</html>", "content_type": "text/html"},
            id="html-login-page",
        ),
    ],
)
def test_second_expiry_is_auth_error(rsps: Any, spec: MappingSpec, expired: dict[str, Any]) -> None:
    """Expired again right after a fresh login: AuthError, no third login."""
    login_ok(rsps)
    rsps.post(SEARCH, **expired)
    login_ok(rsps)
    rsps.post(SEARCH, **expired)
    with make(spec) as client, pytest.raises(AuthError, match="expired again"):
        records(client)


def test_a_session_another_thread_opened_and_that_ended_too_is_renewed_by_this_one(
    rsps: Any, spec: MappingSpec
) -> None:
    """A request refused for an expired session while another thread logged in again is sent
    with that thread's session; when that one has ended too (used by the others meanwhile),
    this thread logs in itself and the request goes through. (It was taken for this thread's
    own fresh login failing: 'the session expired again right after a fresh login'.)"""
    clients: list[SourceClient] = []

    def expired_while_another_thread_logs_in(_: Any) -> tuple[int, dict[str, str], str]:
        clients[0]._login_session()  # the other thread's login, before this answer arrives
        return 401, {}, json.dumps({"error": "session_expired"})

    login_ok(rsps)  # this thread's login
    rsps.add_callback(responses.POST, SEARCH, callback=expired_while_another_thread_logs_in)
    login_ok(rsps)  # the other thread's
    rsps.post(SEARCH, status=401, json={"error": "session_expired"})  # its session ended too
    login_ok(rsps)  # this thread's own, again
    search_ok(rsps, [task(1)])
    with make(spec) as client:
        clients.append(client)
        assert [r["id"] for r in records(client)] == [1]
    assert client.stats.relogins == 1  # the other thread's login is not one of this request's


def test_an_own_login_whose_session_served_other_requests_is_renewed_when_it_ends(
    rsps: Any, spec: MappingSpec
) -> None:
    """This thread logged in again, and its request, sent when its turn under the pace came,
    found the session ended; another thread's request had been answered with that session
    meanwhile, so the login held: this thread logs in once more and the request goes through.
    (It was taken for a login that does not hold: 'the session expired again right after a
    fresh login', and the run stopped.)"""
    clients: list[SourceClient] = []

    def another_request_went_first(_: Any) -> tuple[int, dict[str, str], str]:
        assert [r["id"] for r in records(clients[0])] == [7]  # another thread's, answered
        return 401, {}, json.dumps({"error": "session_expired"})

    login_ok(rsps)
    rsps.post(SEARCH, status=401, json={"error": "session_expired"})
    login_ok(rsps)  # this thread's own login
    rsps.add_callback(responses.POST, SEARCH, callback=another_request_went_first)
    search_ok(rsps, [task(7)])  # the other thread's request, with the new session
    login_ok(rsps)  # this thread's, once more
    search_ok(rsps, [task(1)])
    with make(spec) as client:
        clients.append(client)
        assert [r["id"] for r in records(client)] == [1]
    assert client.stats.relogins == 2


def test_bad_credentials_are_final(rsps: Any, spec: MappingSpec) -> None:
    """401 bad_credentials at login: AuthError at once, no retry, no secret in the message."""
    rsps.post(LOGIN, status=401, json={"error": "bad_credentials"})
    sleeps = Sleeps()
    with make(spec, sleeps) as client, pytest.raises(AuthError) as caught:
        records(client)
    assert "bad_credentials" in str(caught.value)
    assert PASSWORD not in str(caught.value)
    assert sleeps == []


def test_invalid_token_is_final(rsps: Any, spec: MappingSpec) -> None:
    """401 invalid_token: AuthError, no login attempt, no retry."""
    rsps.get(BASE + "/comm/units.cpx", status=401, json={"error": "invalid_token"})
    with (
        make(spec, auth="token") as client,
        pytest.raises(AuthError, match="invalid_token") as caught,
    ):
        records(client)
    assert TOKEN not in str(caught.value)
    assert len(rsps.calls) == 1


def test_html_page_in_token_mode_is_auth_error(rsps: Any, spec: MappingSpec) -> None:
    """A login page while using a token cannot be fixed by logging in: AuthError."""
    rsps.get(
        BASE + "/comm/units.cpx", status=200, body="<html>login</html>", content_type="text/html"
    )
    with make(spec, auth="token") as client, pytest.raises(AuthError, match="HTML page"):
        client.login()


def test_no_secret_in_logs_or_errors(rsps: Any, spec: MappingSpec) -> None:
    """Across retries, a re-login and a final failure, no secret reaches a log event or error."""
    login_ok(rsps)
    rsps.post(SEARCH, status=503, body="", headers={"Retry-After": "1"})
    rsps.post(SEARCH, status=401, json={"error": "session_expired"})
    login_ok(rsps)
    rsps.post(
        SEARCH, status=400, json={"error": "limit_too_large", "message": "Giới hạn tối đa 500"}
    )
    with capture_logs() as logs, make(spec) as client, pytest.raises(SourceRefused) as caught:
        records(client)
    text = repr(logs) + str(caught.value) + repr(caught.value.__dict__)
    for secret in (PASSWORD, TOKEN, "JSESSIONID=s1", "s1;"):
        assert secret not in text
    assert {e["event"] for e in logs} >= {
        "source_retry_wait",
        "source_session_expired",
        "source_login",
    }


# -- refusals and security ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://vpdt.example.gov.vn/ubnd", id="plain-http"),
        pytest.param("http://10.0.0.5:8080/ubnd", id="private-ip"),
        pytest.param("http://localhost.example.com/x", id="lookalike"),
        pytest.param("https://clerk:pw@vpdt.example.gov.vn/ubnd", id="userinfo"),
    ],
)
def test_insecure_base_url_refused_before_any_request(
    rsps: Any, spec: MappingSpec, url: str
) -> None:
    """http:// off loopback, or credentials in the URL: ConfigError before any socket opens
    (the client checks again what the settings already refuse at start-up)."""
    unchecked = source().model_copy(update={"base_url": url})
    with pytest.raises(ConfigError) as caught:
        SourceClient(unchecked, RETRY, spec)
    assert caught.value.problems[0].where == "source.base_url"
    assert "pw" not in str(caught.value).replace("https://", "")
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765/x", "http://127.8.9.10/x", "http://localhost:1/x", "http://[::1]:9/x"],
)
def test_plain_http_allowed_on_loopback(spec: MappingSpec, url: str) -> None:
    """Loopback hosts may use http:// (the simulator, tests)."""
    SourceClient(source(base_url=url), RETRY, spec).close()


def test_auth_mode_must_be_supported_by_the_mapping(spec: MappingSpec) -> None:
    """A mapping without token auth refuses auth = 'token' as configuration."""
    with pytest.raises(ConfigError, match="supports auth mode"):
        SourceClient(source(auth="token"), RETRY, load_mapping("idesk6"))


def test_missing_secret_is_config_error(spec: MappingSpec) -> None:
    """Session mode without a password fails before any request."""
    with pytest.raises(ConfigError, match="IDESK_CONNECTOR__SOURCE__PASSWORD"):
        SourceClient(source(password=None), RETRY, spec)


def test_ca_bundle_is_used_for_verification(rsps: Any, spec: MappingSpec) -> None:
    """source.ca_bundle goes to requests as `verify`."""
    kwargs = matchers.request_kwargs_matcher({"verify": "/etc/ssl/private-ca.pem"})
    rsps.post(LOGIN, json={"ok": True}, match=[kwargs])
    with make(spec, ca_bundle="/etc/ssl/private-ca.pem") as client:
        client.login()


def test_tls_failure_is_config_error_naming_ca_bundle(rsps: Any, spec: MappingSpec) -> None:
    """A certificate that does not verify is not retried: fix source.ca_bundle."""
    rsps.post(LOGIN, body=requests.exceptions.SSLError("certificate verify failed"))
    sleeps = Sleeps()
    with make(spec, sleeps) as client, pytest.raises(ConfigError) as caught:
        client.login()
    assert caught.value.problems[0].where == "source.ca_bundle"
    assert sleeps == []


def test_other_4xx_is_source_refused_with_code(rsps: Any, spec: MappingSpec) -> None:
    """A 400 is final: SourceRefused carrying the source's error code."""
    login_ok(rsps)
    rsps.post(SEARCH, status=400, json={"error": "limit_too_large"})
    with make(spec) as client, pytest.raises(SourceRefused) as caught:
        records(client)
    assert caught.value.code == "limit_too_large" and caught.value.status == 400


def test_redirect_is_not_followed(rsps: Any, spec: MappingSpec) -> None:
    """A redirect (possibly to another host) is never followed with credentials."""
    rsps.post(LOGIN, status=302, headers={"Location": "https://evil.example/steal?token=abc123"})
    with make(spec) as client, pytest.raises(SourceRefused) as caught:
        client.login()
    assert caught.value.code == "redirect"
    assert "abc123" not in str(caught.value)
    assert "evil.example" in str(caught.value)
    assert len(rsps.calls) == 1


def test_a_login_form_answering_a_redirect_with_its_session_cookie_is_a_login(
    rsps: Any, spec: MappingSpec
) -> None:
    """A login form that answers 302 to a page of the same host with the session cookie (as web
    applications' forms do) has logged in: the redirect is not followed, the cookie is kept and
    the search goes on with it."""
    rsps.post(
        LOGIN,
        status=302,
        headers={"Location": BASE + "/home.cpx", "Set-Cookie": "JSESSIONID=s9; Path=/"},
    )
    search_ok(rsps, [task(1)], match=[matchers.header_matcher({"Cookie": "JSESSIONID=s9"})])
    with make(spec) as client:
        assert [r["id"] for r in records(client)] == [1]
    assert len(rsps.calls) == 2


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            {"Location": BASE + "/auth/login.cpx?error=1", "Set-Cookie": "JSESSIONID=s9"},
            id="back-to-the-login-form",
        ),
        pytest.param({"Location": BASE + "/home.cpx"}, id="no-session-cookie"),
    ],
)
def test_a_login_redirect_back_to_the_form_or_without_a_session_is_refused_credentials(
    rsps: Any, spec: MappingSpec, headers: dict[str, str]
) -> None:
    """A login form that redirects back to itself (the form's answer to a wrong password), or
    away without setting a session cookie, did not log in: AuthError naming the credentials,
    no secret in it, nothing sent after it."""
    rsps.post(LOGIN, status=302, headers=headers)
    with make(spec) as client, pytest.raises(AuthError) as caught:
        records(client)
    assert "source.username" in str(caught.value)
    assert PASSWORD not in str(caught.value) and "s9" not in str(caught.value)
    assert len(rsps.calls) == 1


# -- records and writes ------------------------------------------------------------------------------


def test_get_record(rsps: Any, spec: MappingSpec) -> None:
    """view.cpx gives the record; 404 with an error code means gone (None)."""
    login_ok(rsps)
    rsps.get(
        BASE + "/tasks/view.cpx",
        json={"item": task(5)},
        match=[matchers.query_param_matcher({"id": "5"})],
    )
    rsps.get(
        BASE + "/tasks/view.cpx",
        status=404,
        json={"error": "not_found"},
        match=[matchers.query_param_matcher({"id": "6"})],
    )
    with make(spec) as client:
        assert client.get_record(5) == task(5)
        assert client.get_record(6) is None


def test_get_record_404_without_code_is_an_error(rsps: Any, spec: MappingSpec) -> None:
    """A 404 HTML page (wrong path) must not read as "the task was deleted"."""
    login_ok(rsps)
    rsps.get(
        BASE + "/tasks/view.cpx",
        status=404,
        body="<html>Not Found</html>",
        content_type="text/html",
    )
    with make(spec) as client, pytest.raises(SourceRefused):
        client.get_record(5)


def test_post_tracking_sends_key_and_body(rsps: Any, spec: MappingSpec) -> None:
    """The tracking write carries the Idempotency-Key header and the body as given."""
    body = {
        "id": 123,
        "trackingStatus": "DTH_QUA_HAN",
        "effectiveDeadline": "2022-04-04",
        "daysOverdue": 5,
        "note": "Quá hạn 5 ngày",
    }
    login_ok(rsps)
    rsps.post(
        BASE + "/tasks/tracking.cpx",
        json={"ok": True, "lastModifyStr": "2022-04-12T10:00:00+00:00"},
        match=[
            matchers.json_params_matcher(body),
            matchers.header_matcher({"Idempotency-Key": "trk-123-abc"}),
        ],
    )
    with make(spec) as client:
        result = client.post_tracking(body, "trk-123-abc")
    assert result == WriteResult(
        200, {"ok": True, "lastModifyStr": "2022-04-12T10:00:00+00:00"}, False
    )


@pytest.mark.parametrize(
    ("status", "replayed"),
    [pytest.param(201, False, id="created"), pytest.param(200, True, id="replayed")],
)
def test_send_notification_replay(
    rsps: Any, spec: MappingSpec, status: int, replayed: bool
) -> None:
    """201 is a new notification; 200 is the first answer replayed for the same key."""
    login_ok(rsps)
    rsps.post(BASE + "/notifications/send.cpx", status=status, json={"id": "TB-000123"})
    with make(spec) as client:
        result = client.send_notification({"type": "QUA_HAN", "taskId": 1}, "ntf-1")
    assert result.replayed is replayed and result.body == {"id": "TB-000123"}


@pytest.mark.parametrize("code", ["idempotency_key_reused", "invalid_status", "unknown_recipient"])
def test_write_refusals_are_delivery_refused(rsps: Any, spec: MappingSpec, code: str) -> None:
    """A 422 is a permanent refusal: DeliveryRefused with the source's code."""
    login_ok(rsps)
    rsps.post(BASE + "/notifications/send.cpx", status=422, json={"error": code})
    with make(spec) as client, pytest.raises(DeliveryRefused) as caught:
        client.send_notification({"type": "QUA_HAN"}, "ntf-2")
    assert caught.value.code == code and caught.value.key == "ntf-2" and caught.value.status == 422


def test_write_past_budget_is_delivery_error(rsps: Any, spec: MappingSpec) -> None:
    """A write that stays unavailable is a DeliveryError (retried later), not a run failure."""
    login_ok(rsps)
    rsps.post(BASE + "/tasks/tracking.cpx", status=503, body="")
    rsps.post(BASE + "/tasks/tracking.cpx", status=503, body="")
    with (
        make(spec, retry=RetrySettings(max_attempts=2, initial_wait=0.1)) as client,
        pytest.raises(DeliveryError) as caught,
    ):
        client.post_tracking({"id": 1}, "k-1")
    assert not isinstance(caught.value, DeliveryRefused)
    assert not isinstance(caught.value, SourceError)


def test_write_with_bad_key_is_refused_without_request(rsps: Any, spec: MappingSpec) -> None:
    """An empty or non-ASCII idempotency key never reaches the wire."""
    with make(spec) as client, pytest.raises(DeliveryRefused, match="idempotency key"):
        client.post_tracking({"id": 1}, "khóa\n")
    assert len(rsps.calls) == 0


def test_write_auth_failure_stays_auth_error(rsps: Any, spec: MappingSpec) -> None:
    """A refused token during a write is an AuthError: the run stops."""
    rsps.get(BASE + "/comm/units.cpx", json={"items": []})
    rsps.post(BASE + "/tasks/tracking.cpx", status=401, json={"error": "invalid_token"})
    with make(spec, auth="token") as client, pytest.raises(AuthError):
        client.post_tracking({"id": 1}, "k-2")


def test_list_units_maps_kinds_and_skips_unknown(rsps: Any, spec: MappingSpec) -> None:
    """Units are read through the mapping; an unknown kind is skipped, not fatal."""
    login_ok(rsps)
    items = [
        {
            "commCode": "STTTT",
            "aname": "Sở Thông tin và Truyền thông",
            "kind": "department",
            "parentCode": "",
        },
        {"commCode": "VPUBND", "aname": "Văn phòng UBND tỉnh", "kind": "office", "parentCode": ""},
        {"commCode": "X", "aname": "?", "kind": "club"},
    ]
    rsps.get(BASE + "/comm/units.cpx", json={"items": items})
    with make(spec) as client:
        units = client.list_units()
    assert units == [
        Unit("STTTT", "Sở Thông tin và Truyền thông", UnitKind.DEPARTMENT),
        Unit("VPUBND", "Văn phòng UBND tỉnh", UnitKind.OFFICE),
    ]


def test_list_notifications_by_task(rsps: Any, spec: MappingSpec) -> None:
    """The notifications list is asked for one task id."""
    login_ok(rsps)
    item = {
        "id": "TB-1",
        "type": "QUA_HAN",
        "taskId": 9,
        "idempotencyKey": "k",
        "createdDateStr": "2022-04-12T10:00:00+00:00",
    }
    rsps.get(
        BASE + "/notifications/list.cpx",
        json={"items": [item]},
        match=[matchers.query_param_matcher({"taskId": "9"})],
    )
    with make(spec) as client:
        assert client.list_notifications(9) == [item]


def test_server_time_follows_the_latest_answer(rsps: Any, spec: MappingSpec) -> None:
    """server_time() is the Date of the most recent answer."""
    login_ok(rsps)
    later = NOW + timedelta(minutes=3)
    search_ok(rsps, [], headers={"Date": format_datetime(later, usegmt=True)})
    with make(spec) as client:
        assert client.server_time() == NOW
        records(client)
        assert client.server_time() == later


def test_records_path_mismatch_is_a_clear_error(rsps: Any, spec: MappingSpec) -> None:
    """An answer without the mapping's records list names the mapping key to check."""
    login_ok(rsps)
    rsps.post(SEARCH, json={"rows": []})
    with make(spec) as client, pytest.raises(SourceError, match="records_path"):
        records(client)


# -- other paging styles through the client ----------------------------------------------------------


def variant(**pagination: Any) -> MappingSpec:
    data = tomllib.loads((mappings_dir() / "idesk.toml").read_text(encoding="utf-8"))
    data["pagination"] = {"style": pagination.pop("style"), **pagination}
    data["endpoints"]["search"] = {
        "method": "GET",
        "path": "/tasks/list",
        "query": {"since": "{modified_from}", "after": "{cursor}", "n": "{limit}"},
        "records_path": "items",
    }
    return build_mapping(data, file="variant.toml")


def test_link_header_paging_same_host_only(rsps: Any) -> None:
    """Link rel="next" is followed on the same host; a link to another host is refused."""
    spec = variant(style="link")
    login_ok(rsps)
    rsps.get(
        BASE + "/tasks/list",
        json={"items": [task(1)]},
        headers={"Link": "<" + BASE + '/tasks/list?page=2>; rel="next"'},
        match=[matchers.query_param_matcher({"n": "50"})],
    )
    rsps.get(
        BASE + "/tasks/list",
        json={"items": [task(2)]},
        headers={"Link": '<https://other.example/tasks/list?page=3>; rel="next"'},
        match=[matchers.query_param_matcher({"page": "2"})],
    )
    with make(spec) as client, pytest.raises(SourceError, match="another host"):
        records(client)


def test_cursor_paging_through_the_client(rsps: Any) -> None:
    """A next token found at pagination.next_path is sent back in {cursor}."""
    spec = variant(style="cursor", next_path="paging.next")
    login_ok(rsps)
    rsps.get(
        BASE + "/tasks/list",
        json={"items": [task(1)], "paging": {"next": "t2"}},
        match=[matchers.query_param_matcher({"n": "50"})],
    )
    rsps.get(
        BASE + "/tasks/list",
        json={"items": [task(2)], "paging": {"next": ""}},
        match=[matchers.query_param_matcher({"n": "50", "after": "t2"})],
    )
    with make(spec) as client:
        pages = list(client.iter_pages(None))
    assert [r["id"] for p in pages for r in p.records] == [1, 2]
    assert pages[-1].safe_cursor == NOW


def test_max_pages_from_the_client(rsps: Any) -> None:
    """The client's max_pages bounds any listing."""
    spec = variant(style="cursor", next_path="paging.next")
    login_ok(rsps)
    for i in range(2):
        rsps.get(BASE + "/tasks/list", json={"items": [task(i)], "paging": {"next": f"t{i}"}})
    client = SourceClient(source(), RETRY, spec, sleep=Sleeps(), max_pages=2)
    with client, pytest.raises(SourceError, match="2 list pages"):
        records(client)


# -- over a real socket ------------------------------------------------------------------------------


def test_body_cut_mid_way_over_a_socket_is_retried(tmp_path: Path) -> None:
    """A response cut before its Content-Length (real TCP, fault proxy) is retried."""
    from tests.support.dialect_server import DialectServer, b_jobs
    from tests.support.faultproxy import Fault, FaultKind, FaultProxy

    spec_b = load_mapping(DATA / "dialect_b.toml")
    with (
        DialectServer("b", b_jobs(2)) as server,
        FaultProxy(int(server.base_url.split(":")[2].split("/")[0])) as proxy,
    ):
        proxy.set_fault(Fault(FaultKind.TRUNCATE, after_bytes=5, times=1))
        settings = source(
            base_url=proxy.url("/t"), username="clerk", password=SecretStr("dialect-pw-9")
        )
        sleeps = Sleeps()
        with SourceClient(settings, RETRY, spec_b, sleep=sleeps, rng=random.Random(1)) as client:
            assert len(records(client)) == 2
        assert len(sleeps) == 1
        assert client.stats.retries == 1


# -- a session renewed while other threads send ------------------------------------------------


class _Relogin:
    """A loopback source whose second login is held until a request without a session cookie
    has been answered: the moment another thread's request goes out while the cookie jar is
    being renewed."""

    def __init__(self) -> None:
        import threading

        self.login2_started = threading.Event()
        self.cookieless_answered = threading.Event()
        self.seen: list[tuple[str, str]] = []  # (path, session cookie or "")
        self.logins = 0
        self.lock = threading.Lock()
        self.hold = 10.0  # seconds the second login waits for a request without a cookie

    def answer(self, path: str, cookie: str) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self.lock:
            self.seen.append((path, cookie))
            first_notify = path.endswith("/notifications/send.cpx") and not any(
                p == path for p, _ in self.seen[:-1]
            )
        if path.endswith("/auth/login.cpx"):
            with self.lock:
                self.logins += 1
                sid = f"s{self.logins}"
            if sid == "s2":
                self.login2_started.set()
                self.cookieless_answered.wait(self.hold)
            return 200, {"ok": True}, {"Set-Cookie": f"JSESSIONID={sid}; Path=/"}
        if not cookie:
            self.cookieless_answered.set()
            return 401, {"error": "unauthorized"}, {}
        if cookie == "s1" and path.endswith("/tasks/tracking.cpx"):
            return 401, {"error": "session_expired"}, {}
        if first_notify:
            return 503, {"error": "busy"}, {}
        return 201, {"id": "n-1"}, {}


class _AlwaysReady:
    """A session gate that never holds a request back (the moment after a thread passed it)."""

    def wait(self, timeout: float | None = None) -> bool:
        return True

    def set(self) -> None:
        pass

    def clear(self) -> None:
        pass


@pytest.mark.parametrize("gate", ["held", "passed"])
def test_a_request_while_another_thread_logs_in_again_is_not_a_refused_login(
    spec: MappingSpec, gate: str
) -> None:
    """Thread A's session expires and it logs in again (clearing the cookie jar) while thread
    B delivers (push.concurrency): B's request waits for the new session instead of going out
    without a cookie; one that went out just before (the gate already passed) and got a 401 is
    sent again with the new session, not taken for a refused login. Both deliveries are made
    (B's 401 failed the run: "refused the login; check source.username", exit 3)."""
    import json as jsonlib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    source_state = _Relogin()
    source_state.hold = 0.3 if gate == "held" else 10.0

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            cookie = ""
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == "JSESSIONID":
                    cookie = value
            status, body, headers = source_state.answer(self.path, cookie)
            data = jsonlib.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    results: dict[str, Any] = {}

    def deliver(name: str, send: Any, key: str) -> None:
        try:
            results[name] = send({"taskId": 1}, key)
        except Exception as exc:  # the test reports what each thread got
            results[name] = exc

    try:
        client = SourceClient(
            source(base_url=f"http://127.0.0.1:{server.server_address[1]}/ubnd/smartcloud"),
            RETRY,
            spec,
            # B's backoff after its 503 lasts until A's second login has begun (its jar cleared)
            sleep=lambda _s: source_state.login2_started.wait(10),
            clock=FixedClock(NOW),
            rng=random.Random(7),
        )
        if gate == "passed":
            client._session_ready = _AlwaysReady()  # type: ignore[assignment]
        with client:
            client.login()
            b = threading.Thread(target=deliver, args=("b", client.send_notification, "k-b"))
            b.start()
            while not any(p.endswith("/notifications/send.cpx") for p, _ in source_state.seen):
                threading.Event().wait(0.01)
            a = threading.Thread(target=deliver, args=("a", client.post_tracking, "k-a"))
            a.start()
            a.join(20)
            b.join(20)
    finally:
        server.shutdown()
        server.server_close()
    assert not isinstance(results["b"], Exception), results["b"]
    assert not isinstance(results["a"], Exception), results["a"]
    assert isinstance(results["b"], WriteResult) and results["b"].status == 201
    notify = [c for p, c in source_state.seen if p.endswith("/notifications/send.cpx")]
    assert notify == (["s1", "s2"] if gate == "held" else ["s1", "", "s2"])
    assert source_state.logins == 2
