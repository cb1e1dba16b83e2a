"""Sending an e-mail digest over SMTP: the message, its Message-ID, and the connection.

**The message** (`build_message`): multipart/alternative, a UTF-8 plain-text part and an HTML
part (both quoted-printable, so any server takes them), the Vietnamese subject and display names
as RFC 2047 encoded words, ``Auto-Submitted: auto-generated``, and a ``Message-ID`` derived
from the digest's idempotency key (`message_id`): a resend after a crash is the same message
to the same people, which mail clients show once.

**The connection** (`SmtpSender`): ``email.security`` ``starttls`` (the default: plain
connection upgraded with STARTTLS, refused when the server does not offer it), ``tls``
(implicit TLS, port 465) or ``none`` (loopback only); certificates are always verified,
against ``email.ca_bundle`` when set; ``email.username`` logs in with the password from the
environment or the secrets file. One connection serves a run's digests; a connection that went
stale is replaced before the next message.

**What a reply means** (`SmtpSender.send`): the server's ``250`` to the message data is the only
proof of delivery, and SMTP has no idempotency: a message whose reply was not seen (connection
cut, timeout, crash) may or may not have been accepted. The outbox resends it with the same
Message-ID (at least once: see `connector.outbox.channels`). A ``5xx`` to the data or to every
recipient refuses the message for good (`DeliveryRefused`: the row is dead); a ``4xx``, a
dropped connection or a timeout is transient (`DeliveryError`); a refused login, an untrusted
certificate, no STARTTLS or a refused sender stop the channel until the settings are fixed
(`ChannelUnusable`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

import structlog

from connector.clock import LOCAL_TZ
from connector.errors import ChannelUnusable, DeliveryError, DeliveryRefused
from connector.notify.addressbook import Mailbox, parse_mailbox
from connector.settings import EmailSettings

log = structlog.get_logger(__name__)

CHANNEL = "email"


def message_id(key: str, domain: str) -> str:
    """``<dig-STTTT-2022-03-22.<16 hex>@domain>``: readable, and the same for the same key."""
    readable = re.sub(r"[^A-Za-z0-9.-]+", "-", key).strip("-.")[:64] or "digest"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return f"<{readable}.{digest}@{domain}>"


@dataclass(frozen=True)
class Digest:
    """A digest as frozen when its row was first claimed: what every (re)send carries."""

    key: str
    unit: str
    day: str
    subject: str
    text: str
    html: str
    date: str
    """The Date header (RFC 5322), the time of the first claim."""
    message_id: str
    alert_keys: tuple[str, ...]
    lang: str = "vi"

    def payload(self) -> dict[str, Any]:
        """The row's stored body."""
        return {
            "unit": self.unit,
            "day": self.day,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "date": self.date,
            "message_id": self.message_id,
            "alerts": list(self.alert_keys),
            "lang": self.lang,
        }

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> Digest:
        """From a claimed digest row's body (`ValueError` when it is not one)."""
        try:
            return cls(
                key=key,
                unit=str(payload["unit"]),
                day=str(payload["day"]),
                subject=str(payload["subject"]),
                text=str(payload["text"]),
                html=str(payload["html"]),
                date=str(payload["date"]),
                message_id=str(payload["message_id"]),
                alert_keys=tuple(str(k) for k in payload.get("alerts", ())),
                lang=str(payload.get("lang", "vi")),
            )
        except KeyError as exc:
            raise ValueError(f"digest payload without {exc.args[0]!r}") from None


def header_date(when: datetime) -> str:
    """An instant as a Date header, in Vietnam's time zone."""
    return format_datetime(when.astimezone(LOCAL_TZ))


def _address(mailbox: Mailbox) -> Address:
    local, _, domain = mailbox.address.partition("@")
    return Address(display_name=mailbox.name, username=local, domain=domain)


def build_message(digest: Digest, sender: Mailbox, to: Sequence[Mailbox]) -> EmailMessage:
    """The e-mail of `digest` from `sender` to `to` (see the module docstring)."""
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = digest.subject
    msg["From"] = _address(sender)
    msg["To"] = [_address(m) for m in to]
    msg["Date"] = digest.date
    msg["Message-ID"] = digest.message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["Content-Language"] = digest.lang
    msg["X-Idesk-Connector-Key"] = digest.key
    msg.set_content(digest.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(digest.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # The boundary too comes from the key: a resend is the same bytes, not just the same text.
    msg.set_boundary("=_idesk_" + hashlib.sha256(digest.key.encode("utf-8")).hexdigest()[:32])
    return msg


def message_bytes(msg: EmailMessage) -> bytes:
    """The message as sent (CRLF line ends, 7-bit)."""
    return msg.as_bytes(policy=SMTP)


@dataclass(frozen=True)
class SmtpReceipt:
    """The server's acceptance of one message."""

    reply: str
    """The reply to the data (e.g. ``250 2.0.0 Ok: queued as 4F2A``)."""
    refused: Mapping[str, tuple[int, str]]
    """Recipients the server refused while it took the message for the others."""


def _reply_text(code: int, resp: bytes | str) -> str:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    return f"{code} {' '.join(text.split())}"[:300]


def _classify(exc: BaseException, settings: EmailSettings) -> DeliveryError:
    where = f"{settings.host}:{settings.effective_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return ChannelUnusable(
            f"the SMTP server {where} refused the login of email.username "
            f"{settings.username!r} ({_reply_text(exc.smtp_code, exc.smtp_error)}); check the "
            "user and IDESK_CONNECTOR__EMAIL__PASSWORD",
            channel=CHANNEL,
            setting="email.username",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError) and "AUTH" in str(exc):
        return ChannelUnusable(
            f"the SMTP server {where} offers no login (AUTH) on this connection; check "
            "email.security, or leave email.username empty if it takes mail without a login",
            channel=CHANNEL,
            setting="email.username",
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return ChannelUnusable(
            f"the SMTP server {where} does not offer what email.security = "
            f"{settings.security!r} needs ({exc}); the message was not sent in clear",
            channel=CHANNEL,
            setting="email.security",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ChannelUnusable(
            f"the certificate of the SMTP server {where} is not trusted ({exc.verify_message}); "
            "set email.ca_bundle to the CA that signed it",
            channel=CHANNEL,
            setting="email.ca_bundle",
        )
    if isinstance(exc, ssl.SSLError):
        return ChannelUnusable(
            f"TLS with the SMTP server {where} failed ({exc.reason or exc}); check email.security "
            "(starttls on port 587, tls on port 465) and email.port",
            channel=CHANNEL,
            setting="email.security",
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        reply = _reply_text(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return ChannelUnusable(
                f"the SMTP server {where} refused the sender email.from_address ({reply})",
                channel=CHANNEL,
                setting="email.from_address",
            )
        return DeliveryError(f"the SMTP server {where} deferred the sender ({reply})")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        replies = {a: _reply_text(c, r) for a, (c, r) in exc.recipients.items()}
        text = "; ".join(f"{a}: {r}" for a, r in sorted(replies.items()))[:500]
        if all(code >= 500 for code, _ in exc.recipients.values()):
            return DeliveryRefused(
                f"the SMTP server {where} refused every recipient ({text}); fix the unit's "
                "addresses in the address book, then `outbox retry`",
                status=min(code for code, _ in exc.recipients.values()),
                code="recipients_refused",
            )
        return DeliveryError(f"the SMTP server {where} deferred the recipients ({text})")
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPHeloError):
        return DeliveryError(
            f"the SMTP server {where} would not talk ({_reply_text(exc.smtp_code, exc.smtp_error)})"
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = _reply_text(exc.smtp_code, exc.smtp_error)
        if exc.smtp_code >= 500:
            return DeliveryRefused(
                f"the SMTP server {where} refused the message ({reply})",
                status=exc.smtp_code,
                code=f"smtp_{exc.smtp_code}",
            )
        return DeliveryError(f"the SMTP server {where} deferred the message ({reply})")
    if isinstance(exc, TimeoutError):
        return DeliveryError(
            f"the SMTP server {where} did not answer within email.timeout = {settings.timeout} s"
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"the SMTP server {where} closed the connection ({exc})")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        return DeliveryError(f"cannot reach the SMTP server {where}: {reason}")
    return DeliveryError(f"SMTP with {where} failed: {exc}")


class SmtpSender:
    """Sends digests through the server of `settings`; one connection per run, opened lazily."""

    channel = CHANNEL

    def __init__(self, settings: EmailSettings) -> None:
        sender = parse_mailbox(settings.from_address)
        if sender is None:
            raise ChannelUnusable(
                "email.from_address is not an e-mail address",
                channel=CHANNEL,
                setting="email.from_address",
            )
        self.settings = settings
        self.sender = sender
        self.domain = sender.address.rsplit("@", 1)[1]
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        cafile = self.settings.ca_bundle or None
        return ssl.create_default_context(cafile=cafile)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        port = s.effective_port
        smtp: smtplib.SMTP
        if s.security == "tls":
            smtp = smtplib.SMTP_SSL(s.host, port, timeout=s.timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(s.host, port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the server offers no STARTTLS")
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if s.username:
                password = s.password.get_secret_value() if s.password is not None else ""
                smtp.login(s.username, password)
        except BaseException:
            smtp.close()
            raise
        log.info("smtp_connected", host=s.host, port=port, security=s.security)
        return smtp

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is not None:
            try:
                if self._smtp.noop()[0] == 250:
                    return self._smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._drop()
        self._smtp = self._open()
        return self._smtp

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def probe(self) -> str:
        """Connect, secure, log in and quit without sending (``check``); what was done."""
        try:
            smtp = self._open()
            smtp.quit()
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc, self.settings) from exc
        s = self.settings
        login = f", logged in as {s.username}" if s.username else ""
        return f"{s.host}:{s.effective_port} ({s.security}{login})"

    def send(self, data: bytes, to: Sequence[Mailbox]) -> SmtpReceipt:
        """Send the message `data` to `to`; the receipt once the server accepted the data."""
        addresses = [m.address for m in to]
        try:
            smtp = self._connection()
            code, resp = smtp.mail(self.sender.address)
            if code != 250:
                smtp.rset()
                raise smtplib.SMTPSenderRefused(code, resp, self.sender.address)
            refused: dict[str, tuple[int, str]] = {}
            for address in addresses:
                code, resp = smtp.rcpt(address)
                if code not in (250, 251):
                    refused[address] = (code, resp.decode("utf-8", "replace"))
            if len(refused) == len(addresses):
                smtp.rset()
                raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
            code, resp = smtp.data(data)
            if code != 250:
                smtp.rset()
                raise smtplib.SMTPDataError(code, resp)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise _classify(exc, self.settings) from exc
        return SmtpReceipt(_reply_text(code, resp), refused)

    def close(self) -> None:
        """Say QUIT and close (idempotent)."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()
