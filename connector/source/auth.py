"""Credentials for the source, one mode each: what `SourceClient` sends, and when it renews it.

::

    session   the login form (username + password) sets a session cookie; an expired session
              (a JSON code of the mapping's ``expired_codes``, or the HTML login page) logs in
              again once
    token     a static bearer token (``source.token``)
    headers   static headers and/or query keys an integration gateway (LGSP) issues, e.g.
              ``X-App-Name`` + ``X-Api-Key``; values are templates whose ``{env:NAME}`` and
              ``{secret:NAME}`` parts come from the environment and from the named secrets
              (``IDESK_CONNECTOR__SECRETS__NAME`` or the secrets file's ``[secrets]``)
    oauth2    OAuth 2.0 client credentials (RFC 6749 section 4.4) at ``source.token_url``: the
              access token is renewed before it expires, and once more on a 401

This module holds what does not need the network: filling the templates (`static_credentials`,
every problem reported together), the Basic header of the token request, and reading a token
answer (`read_token`). The exchanges themselves go through the client, so they are paced,
retried and redacted like every other request.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

from pydantic import SecretStr

from connector.errors import AuthError, ConfigError, Problem

TEMPLATE = re.compile(r"\{(env|secret):([A-Za-z_][A-Za-z0-9_]*)\}")
"""``{env:NAME}`` or ``{secret:NAME}`` inside a header or query value."""

REFRESH_MARGIN_S = 60.0
"""An access token is renewed this long before it expires (a tenth of its lifetime when that is
shorter), so a request never goes out with a token about to lapse."""


@dataclass(frozen=True)
class StaticCredentials:
    """The headers and query keys of the ``headers`` mode, filled; `secrets` are the values to
    hide in logs and errors (every filled value that came from a template)."""

    headers: dict[str, str]
    query: dict[str, str]
    secrets: tuple[str, ...]


def _fill(
    where: str,
    template: str,
    named: Mapping[str, SecretStr],
    environ: Mapping[str, str],
    problems: list[Problem],
) -> tuple[str, bool]:
    """The template filled, and whether any part of it came from a placeholder."""
    used = False

    def sub(match: re.Match[str]) -> str:
        nonlocal used
        used = True
        kind, name = match.group(1), match.group(2)
        if kind == "env":
            value = environ.get(name)
            if not value:
                problems.append(Problem(where, f"{{env:{name}}}: the variable {name} is not set"))
                return ""
            return value
        secret = named.get(name) or named.get(name.lower())
        if secret is None or not secret.get_secret_value():
            problems.append(
                Problem(
                    where,
                    f"{{secret:{name}}}: no secret named {name!r}; set "
                    f"IDESK_CONNECTOR__SECRETS__{name.upper()} or put {name} in the "
                    "[secrets] table of the secrets file (mode 0600)",
                )
            )
            return ""
        return secret.get_secret_value()

    filled = TEMPLATE.sub(sub, template)
    return filled, used


def static_credentials(
    headers: Mapping[str, str],
    query: Mapping[str, str],
    named: Mapping[str, SecretStr],
    environ: Mapping[str, str],
) -> StaticCredentials:
    """``source.auth_headers`` / ``source.auth_query`` filled; ConfigError lists every problem
    (a variable not set, a secret not given, nothing to send at all)."""
    problems: list[Problem] = []
    if not headers and not query:
        problems.append(
            Problem(
                "source.auth_headers",
                "auth = 'headers' needs source.auth_headers or source.auth_query, e.g. "
                'auth_headers = { "X-App-Name" = "…", "X-Api-Key" = "{secret:api_key}" }',
            )
        )
    secrets: list[str] = []
    out: dict[str, dict[str, str]] = {"auth_headers": {}, "auth_query": {}}
    for key, table in (("auth_headers", headers), ("auth_query", query)):
        for name, template in table.items():
            value, used = _fill(f"source.{key}.{name}", template, named, environ, problems)
            out[key][name] = value
            if used and value:
                secrets.append(value)
    if problems:
        raise ConfigError(problems, source="settings")
    return StaticCredentials(out["auth_headers"], out["auth_query"], tuple(secrets))


def basic_header(client_id: str, client_secret: str) -> str:
    """The ``Authorization: Basic`` value of a token request (RFC 6749 section 2.3.1: each part
    form-encoded first)."""
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    return "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


@dataclass(frozen=True)
class AccessToken:
    """An OAuth 2.0 access token and when it must be renewed (None: only on a 401)."""

    value: str
    renew_at: datetime | None

    def due(self, now: datetime) -> bool:
        """Whether the token must be renewed before the next request."""
        return self.renew_at is not None and now >= self.renew_at


def read_token(body: Any, now: datetime, *, url: str = "") -> AccessToken:
    """A token endpoint's answer (RFC 6749 section 5.1) as an `AccessToken`; AuthError when it
    holds none. ``expires_in`` sets the renewal `REFRESH_MARGIN_S` early (a tenth of the
    lifetime when that is shorter)."""
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token.strip():
        raise AuthError(
            "the token endpoint answered without an access_token; check source.token_url",
            url=url,
        )
    kind = body.get("token_type", "Bearer")
    if isinstance(kind, str) and kind.lower() != "bearer":
        raise AuthError(
            f"the token endpoint issued a {kind!r} token; only Bearer tokens are supported",
            url=url,
        )
    lifetime = body.get("expires_in")
    if isinstance(lifetime, str) and lifetime.strip().isdigit():
        lifetime = int(lifetime.strip())
    renew_at = None
    if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
        margin = min(REFRESH_MARGIN_S, float(lifetime) / 10)
        renew_at = now + timedelta(seconds=float(lifetime) - margin)
    return AccessToken(token.strip(), renew_at)
