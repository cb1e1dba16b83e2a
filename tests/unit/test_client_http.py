"""connector.source.http: the one classification of answers, Retry-After, URL redaction."""

from __future__ import annotations

import http.client
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import urllib3.exceptions

from connector.source.http import (
    OutcomeKind,
    ResponseOutcome,
    ResponseRules,
    classify_response,
    parse_http_date,
    parse_retry_after,
    redact_url,
)
from connector.source.paths import text_at

NOW = datetime(2022, 4, 12, 10, 0, tzinfo=UTC)


def response(
    status: int, body: bytes | str = b"", headers: dict[str, str] | None = None
) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = body.encode() if isinstance(body, str) else body
    resp.headers.update(headers or {})
    resp.url = "https://h/x"
    return resp


JSON = {"Content-Type": "application/json"}
HTML = {"Content-Type": "text/html; charset=utf-8"}


@pytest.mark.parametrize(
    ("resp", "kind", "reason"),
    [
        pytest.param(response(200, '{"items": []}', JSON), OutcomeKind.OK, "ok", id="200-json"),
        pytest.param(response(204), OutcomeKind.OK, "ok", id="204-empty"),
        pytest.param(response(201, '{"id": "TB-1"}', JSON), OutcomeKind.OK, "ok", id="201"),
        pytest.param(
            response(200, '{"items": [', JSON),
            OutcomeKind.TRANSIENT,
            "invalid_json",
            id="truncated-json",
        ),
        pytest.param(
            response(200, "not json", {"Content-Type": "text/plain"}),
            OutcomeKind.TRANSIENT,
            "invalid_json",
            id="text-plain",
        ),
        pytest.param(
            response(200, "<html>login</html>", HTML),
            OutcomeKind.SESSION_EXPIRED,
            "html_login_page",
            id="200-html",
        ),
        pytest.param(
            response(200, "  <!DOCTYPE html>", {}),
            OutcomeKind.SESSION_EXPIRED,
            "html_login_page",
            id="html-sniffed",
        ),
        pytest.param(
            response(401, '{"error": "session_expired"}', JSON),
            OutcomeKind.SESSION_EXPIRED,
            "session_expired",
            id="401-expired",
        ),
        pytest.param(
            response(401, '{"error": "bad_credentials"}', JSON),
            OutcomeKind.AUTH_FAILED,
            "bad_credentials",
            id="401-bad-credentials",
        ),
        pytest.param(
            response(401, '{"error": "invalid_token"}', JSON),
            OutcomeKind.AUTH_FAILED,
            "invalid_token",
            id="401-invalid-token",
        ),
        pytest.param(
            response(401, "<html>401</html>", HTML),
            OutcomeKind.AUTH_FAILED,
            "unauthorized",
            id="401-html",
        ),
        pytest.param(
            response(429, '{"error": "rate_limited"}', JSON),
            OutcomeKind.TRANSIENT,
            "rate_limited",
            id="429",
        ),
        pytest.param(
            response(502, "<html>Bad Gateway</html>", HTML),
            OutcomeKind.TRANSIENT,
            "bad_gateway",
            id="502-html",
        ),
        pytest.param(response(503, "", {}), OutcomeKind.TRANSIENT, "unavailable", id="503"),
        pytest.param(response(504, "<html>", HTML), OutcomeKind.TRANSIENT, "timeout", id="504"),
        pytest.param(
            response(400, '{"error": "limit_too_large"}', JSON),
            OutcomeKind.FATAL,
            "limit_too_large",
            id="400",
        ),
        pytest.param(
            response(404, '{"error": "not_found"}', JSON), OutcomeKind.FATAL, "not_found", id="404"
        ),
        pytest.param(
            response(422, '{"error": "invalid_status"}', JSON),
            OutcomeKind.FATAL,
            "invalid_status",
            id="422",
        ),
        pytest.param(response(500, "boom", {}), OutcomeKind.FATAL, "http_500", id="500"),
        pytest.param(
            response(302, "", {"Location": "https://elsewhere/"}),
            OutcomeKind.FATAL,
            "redirect",
            id="302",
        ),
        pytest.param(
            requests.exceptions.ConnectTimeout(),
            OutcomeKind.TRANSIENT,
            "timeout",
            id="connect-timeout",
        ),
        pytest.param(
            requests.exceptions.ReadTimeout(), OutcomeKind.TRANSIENT, "timeout", id="read-timeout"
        ),
        pytest.param(
            requests.exceptions.ConnectionError(),
            OutcomeKind.TRANSIENT,
            "connection",
            id="connection",
        ),
        pytest.param(
            requests.exceptions.ChunkedEncodingError(),
            OutcomeKind.TRANSIENT,
            "truncated",
            id="chunked",
        ),
        pytest.param(
            http.client.IncompleteRead(b"ab", 10),
            OutcomeKind.TRANSIENT,
            "truncated",
            id="incomplete-read",
        ),
        pytest.param(
            urllib3.exceptions.ProtocolError("cut"),
            OutcomeKind.TRANSIENT,
            "truncated",
            id="protocol-error",
        ),
        pytest.param(ConnectionResetError(), OutcomeKind.TRANSIENT, "connection", id="reset"),
        pytest.param(requests.exceptions.SSLError(), OutcomeKind.FATAL, "tls", id="tls"),
        pytest.param(
            requests.exceptions.InvalidURL(), OutcomeKind.FATAL, "invalid_request", id="invalid-url"
        ),
    ],
)
def test_classify(resp: Any, kind: OutcomeKind, reason: str) -> None:
    """Every answer (or failure to get one) lands in exactly one documented class."""
    outcome = classify_response(resp)
    assert (outcome.kind, outcome.reason) == (kind, reason)


def test_classify_reads_code_and_message_where_the_mapping_says() -> None:
    """Error code and message are read at the mapping's paths (another dialect: fault.code)."""
    rules = ResponseRules(
        code_of=text_at("fault.code"),
        message_of=text_at("fault.text"),
        expired_codes=frozenset({"SESSION_TIMEOUT"}),
        html_means_expired=False,
    )
    expired = classify_response(
        response(401, '{"fault": {"code": "SESSION_TIMEOUT"}}', JSON), rules=rules
    )
    refused = classify_response(
        response(409, '{"fault": {"code": "BUSY", "text": "Đang bận"}}', JSON), rules=rules
    )
    html = classify_response(response(200, "<html>", HTML), rules=rules)
    assert expired.kind is OutcomeKind.SESSION_EXPIRED
    assert (refused.code, refused.message) == ("BUSY", "Đang bận")
    assert (html.kind, html.reason) == (OutcomeKind.TRANSIENT, "html_body")


def test_classify_keeps_the_server_clock_and_retry_after() -> None:
    """The Date header and a Retry-After measured against it travel with the outcome."""
    headers = {
        "Date": format_datetime(NOW, usegmt=True),
        "Retry-After": format_datetime(NOW + timedelta(seconds=9), usegmt=True),
    }
    outcome = classify_response(response(503, "", headers), now=NOW - timedelta(hours=5))
    assert outcome.date == NOW
    assert outcome.retry_after == pytest.approx(9.0)
    assert isinstance(outcome, ResponseOutcome) and not outcome.ok


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("3", 3.0, id="seconds"),
        pytest.param(" 2.5 ", 2.5, id="fraction"),
        pytest.param("0", None, id="zero"),
        pytest.param("-1", None, id="negative"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param(format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0, id="date"),
        pytest.param(
            format_datetime(NOW - timedelta(seconds=30), usegmt=True), None, id="past-date"
        ),
        pytest.param(format_datetime(NOW, usegmt=True), None, id="now"),
        pytest.param("Tue, 99 Foo 2022", None, id="garbage-date"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After: delta-seconds or HTTP-date; 0, negative, past or garbage mean no hint."""
    result = parse_retry_after(value, NOW)
    assert result == (pytest.approx(expected) if expected is not None else None)


def test_parse_http_date() -> None:
    """The Date header becomes an aware UTC datetime; garbage becomes None."""
    assert parse_http_date("Tue, 12 Apr 2022 10:00:00 GMT") == NOW
    assert parse_http_date("yesterday") is None
    assert parse_http_date(None) is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://h/x/view.cpx?id=5", "https://h/x/view.cpx?id=5", id="plain"),
        pytest.param("https://clerk:pw@h:8443/x", "https://h:8443/x", id="userinfo"),
        pytest.param("https://h/x?token=abc&id=1", "https://h/x?token=***&id=1", id="token"),
        pytest.param(
            "https://h/x?access_token=abc", "https://h/x?access_token=***", id="access-token"
        ),
        pytest.param(
            "https://h/x?password=p%40ss&user=u", "https://h/x?password=***&user=u", id="password"
        ),
        pytest.param("https://h/x?API_KEY=k", "https://h/x?API_KEY=***", id="api-key-case"),
        pytest.param(
            "https://h/app/view.cpx;jsessionid=ABC123?id=1",
            "https://h/app/view.cpx;***?id=1",
            id="jsessionid-path",
        ),
        pytest.param("http://[::1]:9/x", "http://[::1]:9/x", id="ipv6"),
        pytest.param("https://h/x#frag-token", "https://h/x", id="fragment"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    """No userinfo, no secret-looking query values, no servlet session ids in shown URLs."""
    assert redact_url(url) == expected
