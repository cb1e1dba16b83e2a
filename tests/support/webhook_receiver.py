"""A loopback webhook receiver for the webhook channel's tests: a province's gateway as a test
sees it.

`WebhookReceiver(secret)` checks each POST's ``X-Signature`` itself (its own HMAC, not the
connector's code), records it (`Post`: the key, the body, whether the signature held), and
answers from a script (`script`: one action per request, then ``ok``): ``ok`` (200 with an
id), ``status:NNN`` (that status), ``cut`` (read the request, keep it as received, and close the
connection without an answer: the connector cannot know it arrived). `delivered` gives one post
per ``Idempotency-Key``, as a receiver that keeps keys acts on them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from simulator.loopback import Loopback, LoopbackHTTPServer, RequestLog


@dataclass(frozen=True)
class Post:
    key: str
    body: bytes
    signature: str
    signed: bool

    @property
    def data(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


def _signed(secret: str, header: str, body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    stamp = parts.get("t", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts.get("v1", ""))


class _Server(LoopbackHTTPServer):
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        header = self.headers.get("X-Signature", "")
        post = Post(
            self.headers.get("Idempotency-Key", ""),
            body,
            header,
            _signed(receiver.secret, header, body),
        )
        receiver.posts.append(post)
        action = receiver.next_action()
        if action == "cut":
            self.close_connection = True
            self.connection.close()
            return
        status = int(action.split(":", 1)[1]) if action.startswith("status:") else 200
        answer = json.dumps({"id": f"gw-{len(receiver.posts)}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class WebhookReceiver(Loopback[_Server]):
    """The receiver on 127.0.0.1 (see the module docstring)."""

    thread_name = "webhook-receiver"

    def __init__(self, secret: str = "whsec-test-0123456789") -> None:
        super().__init__()
        self.secret = secret
        self.posts: RequestLog[Post] = RequestLog()
        self.script: list[str] = []

    def bind(self) -> _Server:
        server = _Server(_Handler)
        server.receiver = self
        return server

    def next_action(self) -> str:
        return self.script.pop(0) if self.script else "ok"

    def delivered(self) -> dict[str, Post]:
        """One post per Idempotency-Key (the first that was signed)."""
        out: dict[str, Post] = {}
        for post in self.posts.all():
            if post.signed:
                out.setdefault(post.key, post)
        return out

    def webhook_section(self, **changes: Any) -> dict[str, Any]:
        """The ``[webhook]`` settings reaching this receiver."""
        return {"url": self.url("/hooks/idesk"), "secret": self.secret, "read_timeout": 5.0,
                **changes}
