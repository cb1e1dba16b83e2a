"""The webhook channel: one signed JSON POST per alert to the province's own gateway.

The request (docs/webhook.md has the body and a receiver's verification recipe)::

    POST <webhook.url>
    Content-Type: application/json; charset=utf-8
    Idempotency-Key: whk:alr:123:QUA_HAN:2022-04-04#2
    X-Signature: t=1648000000,v1=<hex(hmac_sha256(secret, "1648000000." + body))>

The body is the outbox row's stored JSON, byte for byte (`connector.outbox.routing` made it), so
every resend carries the same bytes and the same ``Idempotency-Key``; ``t`` is the time of each
send, so a receiver can refuse old replays of a captured request.

What the answer means (`classify`): ``2xx`` delivered; ``408``, ``429`` and ``5xx``, a timeout or
a dropped connection: try again later (`DeliveryError`); any other ``4xx`` and a ``3xx``
(redirects are not followed): refused for good (`DeliveryRefused`, the row is dead); a
certificate not trusted: fix ``webhook.ca_bundle`` (`ChannelUnusable`). TLS is always verified;
``http://`` only to a loopback address.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
import structlog

from connector.errors import ChannelUnusable, DeliveryError, DeliveryRefused
from connector.notify.urls import url_host
from connector.settings import WebhookSettings

log = structlog.get_logger(__name__)

CHANNEL = "webhook"
SIGNATURE_HEADER = "X-Signature"
KEY_HEADER = "Idempotency-Key"
MAX_ANSWER_BYTES = 64 * 1024
"""At most this much of an answer is read (for its id or its reason)."""
TOLERANCE_S = 300
"""How far a signature's ``t`` may be from the receiver's clock in `verify` (seconds)."""
RETRIED_4XX = frozenset({408, 429})


def signature(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """``hex(hmac_sha256(secret, f"{timestamp}." + body))``."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` value: ``t=<unix seconds>,v1=<hex>``."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify(
    secret: str | bytes, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE_S
) -> bool:
    """A receiver's check of ``X-Signature`` (the recipe of docs/webhook.md): the ``t`` within
    `tolerance` seconds of `now`, and one ``v1`` equal to the HMAC, compared in constant time."""
    fields = [part.strip().partition("=") for part in header.split(",")]
    stamps = [v for k, _, v in fields if k == "t"]
    signatures = [v for k, _, v in fields if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or not signatures:
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    wanted = signature(secret, timestamp, body)
    return any(hmac.compare_digest(wanted, candidate) for candidate in signatures)


@dataclass(frozen=True)
class WebhookReceipt:
    """A 2xx answer: its status and the receiver's id of the message (when it gave one)."""

    status: int
    response_id: str


def _answer_text(response: requests.Response) -> str:
    try:
        raw = response.raw.read(MAX_ANSWER_BYTES, decode_content=True) if response.raw else b""
    except (requests.RequestException, OSError):
        raw = b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
    return " ".join(text.split())[:200]


def _response_id(response: requests.Response, text: str) -> str:
    for header in ("X-Request-Id", "X-Message-Id"):
        if response.headers.get(header):
            return str(response.headers[header])[:200]
    if text.startswith("{"):
        import json  # noqa: PLC0415

        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("id") not in (None, ""):
            return str(data["id"])[:200]
    return f"http {response.status_code}"


def classify(response: requests.Response, url_host_text: str, key: str) -> WebhookReceipt:
    """The one place a webhook answer is judged (see the module docstring)."""
    status = response.status_code
    text = _answer_text(response)
    where = f"the webhook at {url_host_text}"
    if 200 <= status < 300:
        return WebhookReceipt(status, _response_id(response, text))
    reason = f"HTTP {status}" + (f": {text}" if text else "")
    if status in RETRIED_4XX or status >= 500:
        raise DeliveryError(
            f"{where} answered {reason}; it is tried again later", key=key, status=status
        )
    if 300 <= status < 400:
        raise DeliveryRefused(
            f"{where} redirected ({reason}); redirects are not followed: set webhook.url to "
            "the final address, then `outbox retry`",
            key=key,
            status=status,
            code=f"http_{status}",
        )
    raise DeliveryRefused(
        f"{where} refused the alert ({reason})", key=key, status=status, code=f"http_{status}"
    )


class WebhookSender:
    """Posts alert bodies to ``webhook.url``, signed with ``webhook.secret``."""

    channel = CHANNEL

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not settings.url or settings.secret is None:
            raise ChannelUnusable(
                "the webhook channel needs webhook.url and IDESK_CONNECTOR__WEBHOOK__SECRET",
                channel=CHANNEL,
                setting="webhook.url",
            )
        self.settings = settings
        self.host = url_host(settings.url)
        self._secret = settings.secret.get_secret_value()
        self._session = session or requests.Session()
        self._session.trust_env = False
        self._clock = clock

    def send(self, body: bytes, key: str) -> WebhookReceipt:
        """POST `body` with its `key`; the receipt of a 2xx (else the error of `classify`)."""
        timestamp = int(self._clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            KEY_HEADER: key,
            SIGNATURE_HEADER: signature_header(self._secret, timestamp, body),
            "User-Agent": "idesk-connector",
        }
        s = self.settings
        try:
            response = self._session.post(
                s.url,
                data=body,
                headers=headers,
                timeout=(s.connect_timeout, s.read_timeout),
                verify=s.ca_bundle or True,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise ChannelUnusable(
                f"TLS with the webhook at {self.host} failed ({type(exc).__name__}); if it uses "
                "a private certificate authority, set webhook.ca_bundle to its PEM bundle",
                channel=CHANNEL,
                setting="webhook.ca_bundle",
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise DeliveryError(
                f"the webhook at {self.host} did not answer in time (webhook.read_timeout = "
                f"{s.read_timeout} s); it is tried again later",
                key=key,
            ) from exc
        except requests.RequestException as exc:
            raise DeliveryError(
                f"cannot reach the webhook at {self.host} ({type(exc).__name__}); it is tried "
                "again later",
                key=key,
            ) from exc
        try:
            return classify(response, self.host, key)
        finally:
            response.close()

    def close(self) -> None:
        self._session.close()
