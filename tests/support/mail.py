"""A real SMTP server on loopback for the e-mail channel's tests: aiosmtpd, with STARTTLS or
implicit TLS under a throwaway CA (trustme), an optional login, and switchable faults.

`SmtpServer(mode="starttls" | "tls" | "plain", login=("user", "pw"))` is a context manager;
`server.messages` lists what it accepted (`Received`: envelope, bytes, and the parsed headers),
`server.faults` turns on a fault for the next messages (`SmtpFaults`), and `server.ca_path` is
the PEM bundle of the CA that signed its certificate (for ``email.ca_bundle``). `distinct`
de-duplicates messages by Message-ID, as a mail client does.
"""

from __future__ import annotations

import email
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

Mode = Literal["starttls", "tls", "plain"]


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    recipients: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def key(self) -> str:
        return str(self.message["X-Idesk-Connector-Key"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]

    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None
        return str(part.get_content())  # type: ignore[attr-defined]


@dataclass
class SmtpFaults:
    """Faults of the next messages (each counter is used up one message at a time)."""

    data_reply: str = ""
    """Answer the data with this reply (e.g. ``451 4.3.0 later``, ``554 5.7.1 no``)."""
    data_replies: int = 0
    rcpt_reply: str = ""
    """Answer every RCPT with this reply (e.g. ``550 5.1.1 unknown``)."""
    cut_after_data: int = 0
    """Accept this many messages, then cut the connection before the reply is sent."""


@dataclass
class _Handler:
    faults: SmtpFaults
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.faults.rcpt_reply:
            return self.faults.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: Any, session: Any, envelope: Any
    ) -> str:
        if self.faults.data_replies > 0:
            self.faults.data_replies -= 1
            return self.faults.data_reply
        data = envelope.original_content or envelope.content
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(data))
            )
        if self.faults.cut_after_data > 0:
            self.faults.cut_after_data -= 1
            server.transport.close()  # accepted, and the client never sees the 250
        return "250 2.0.0 OK queued"


class _Controller(Controller):
    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # aiosmtpd warns of AUTH without STARTTLS; under implicit TLS the whole session is TLS.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


def _self_signed_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "smtp-self-signed.pem"
    key_path = directory / "smtp-self-signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpServer:
    """aiosmtpd on 127.0.0.1 (see the module docstring)."""

    def __init__(
        self,
        directory: Path,
        *,
        mode: Mode = "starttls",
        login: tuple[str, str] | None = None,
        self_signed: bool = False,
    ) -> None:
        self.mode = mode
        self.login = login
        self.faults = SmtpFaults()
        self._handler = _Handler(self.faults)
        self.ca = trustme.CA()
        self.ca_path = directory / "smtp-ca.pem"
        self._self_signed: tuple[Path, Path] | None = None
        if self_signed:
            # One certificate that signs itself (no CA): what a small mail server often has.
            self._self_signed = _self_signed_pair(directory)
            self.ca_path.write_bytes(self._self_signed[0].read_bytes())
        else:
            self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.host = "127.0.0.1"
        self.port = _free_port()
        self._controller: _Controller | None = None

    def _server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        if self._self_signed is not None:
            context.load_cert_chain(*self._self_signed)
        else:
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login.decode(), data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {}
        if self.mode == "starttls":
            kwargs.update(tls_context=self._server_context(), require_starttls=True)
        elif self.mode == "tls":
            kwargs.update(ssl_context=self._server_context(), server_hostname="127.0.0.1")
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
            if self.mode != "starttls":
                # aiosmtpd counts only STARTTLS as TLS for AUTH; implicit TLS is TLS too.
                kwargs.update(auth_require_tls=False)
        self._controller = _Controller(self._handler, hostname=self.host, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    def email_section(self, **changes: Any) -> dict[str, Any]:
        """The ``[email]`` settings reaching this server."""
        section: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": {"starttls": "starttls", "tls": "tls", "plain": "none"}[self.mode],
            "from_address": "Tổ công tác của Chủ tịch UBND tỉnh <tct@ubnd.binhdinh.example>",
            "ca_bundle": str(self.ca_path) if self.mode != "plain" else "",
            "timeout": 5.0,
        }
        if self.login is not None:
            section.update(username=self.login[0], password=self.login[1])
        section.update(changes)
        return section


def distinct(messages: list[Received]) -> list[Received]:
    """One message per Message-ID (the first), as a mail client shows them."""
    seen: dict[str, Received] = {}
    for message in messages:
        seen.setdefault(message.message_id, message)
    return list(seen.values())

