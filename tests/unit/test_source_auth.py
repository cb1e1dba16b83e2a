"""The gateway auth modes' pure parts: header templates, the Basic header, token answers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from connector.errors import AuthError, ConfigError
from connector.source.auth import REFRESH_MARGIN_S, basic_header, read_token, static_credentials

NOW = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


def test_templates_take_env_and_named_secrets() -> None:
    """{env:NAME} and {secret:NAME} are filled; filled values are listed as secrets to hide."""
    creds = static_credentials(
        {"X-App-Name": "{env:APP}", "X-Api-Key": "k-{secret:api_key}"},
        {"apikey": "{secret:api_key}"},
        {"api_key": SecretStr("s3cr3t")},
        {"APP": "idesk-connector"},
    )
    assert creds.headers == {"X-App-Name": "idesk-connector", "X-Api-Key": "k-s3cr3t"}
    assert creds.query == {"apikey": "s3cr3t"}
    assert set(creds.secrets) == {"idesk-connector", "k-s3cr3t", "s3cr3t"}


def test_every_missing_template_value_is_reported_at_once() -> None:
    """A variable not set and a secret not given are both named, by their key."""
    with pytest.raises(ConfigError) as caught:
        static_credentials({"X-App-Name": "{env:NOPE}", "X-Api-Key": "{secret:gone}"}, {}, {}, {})
    text = str(caught.value)
    assert "source.auth_headers.X-App-Name" in text and "NOPE" in text
    assert "source.auth_headers.X-Api-Key" in text and "gone" in text


def test_headers_mode_needs_something_to_send() -> None:
    """auth = 'headers' with neither headers nor query keys is a configuration error."""
    with pytest.raises(ConfigError, match=r"source\.auth_headers"):
        static_credentials({}, {}, {}, {})


def test_basic_header_form_encodes_each_part() -> None:
    """RFC 6749 2.3.1: client id and secret form-encoded before Base64."""
    header = basic_header("app id", "p:ss&")
    raw = base64.b64decode(header.removeprefix("Basic ")).decode()
    assert raw == "app+id:p%3Ass%26"


def test_token_renewed_before_it_expires() -> None:
    """A token is due REFRESH_MARGIN_S before expires_in (a tenth of a short lifetime)."""
    long = read_token({"access_token": "t", "token_type": "bearer", "expires_in": 3600}, NOW)
    assert long.renew_at == NOW + timedelta(seconds=3600 - REFRESH_MARGIN_S)
    assert not long.due(NOW) and long.due(NOW + timedelta(seconds=3541))
    short = read_token({"access_token": "t", "expires_in": "100"}, NOW)
    assert short.renew_at == NOW + timedelta(seconds=90)
    forever = read_token({"access_token": "t"}, NOW)
    assert forever.renew_at is None and not forever.due(NOW + timedelta(days=365))


@pytest.mark.parametrize(
    "body",
    [{}, {"access_token": ""}, {"access_token": "t", "token_type": "mac"}, "not json"],
)
def test_token_answer_without_a_bearer_token_is_an_auth_error(body: object) -> None:
    """No access_token, or a token type other than Bearer: AuthError naming the token URL."""
    with pytest.raises(AuthError):
        read_token(body, NOW, url="https://lgsp.example/token")
