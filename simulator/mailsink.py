"""A loopback SMTP sink for the demo: takes every message it is given and keeps it as a file.

`MailSink` listens on 127.0.0.1 (an ephemeral port) on the shared loopback base
(`simulator.loopback`) and speaks just enough plain SMTP (RFC 5321: ``EHLO``/``HELO``,
``MAIL``, ``RCPT``, ``DATA``, ``RSET``, ``NOOP``, ``QUIT``) for a client such as
`smtplib` or the connector's e-mail channel, with no TLS and no login: loopback only. Each
message accepted is appended to `MailSink.messages` and, when a directory is given, written there
as ``NNNN-<message id>.eml`` (the message as received, CRLF line ends), which a mail program
opens as it is.

A test tool like the simulator, not part of the product: the connector imports it only in
``idesk-connector demo --deliver email``. (The connector's own tests use an independent SMTP
server, aiosmtpd, with STARTTLS and implicit TLS.)
"""

from __future__ import annotations

import re
import socketserver
import threading
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path

from simulator.loopback import Loopback, LoopbackServer, RequestLog

MAX_LINE = 4096
"""Longest command line taken."""
MAX_MESSAGE_BYTES = 50 * 1024 * 1024
"""Largest message taken (the ``SIZE`` announced)."""


@dataclass(frozen=True)
class ReceivedMail:
    """One message the sink accepted."""

    number: int
    mail_from: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str
    path: Path | None


def _address(argument: str, prefix: str) -> str | None:
    """The address of ``FROM:<a@b>`` / ``TO:<a@b>`` (parameters after it ignored)."""
    if not argument.upper().startswith(prefix):
        return None
    rest = argument[len(prefix) :].strip()
    found = re.match(r"<([^>]*)>", rest)
    return found.group(1) if found else rest.split(" ", 1)[0] or None


class _SmtpHandler(socketserver.StreamRequestHandler):
    server: SinkServer

    def _reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _read_data(self) -> bytes | None:
        """The message up to the lone dot, dots unstuffed; None when too large or cut."""
        lines: list[bytes] = []
        size = 0
        too_large = False
        while True:
            line = self.rfile.readline(MAX_MESSAGE_BYTES + 3)
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if size > MAX_MESSAGE_BYTES:
                too_large = True
                lines.clear()
            elif not too_large:
                lines.append(line)
        return None if too_large else b"".join(lines)

    def handle(self) -> None:
        self._reply("220 127.0.0.1 idesk-simulator mail sink ESMTP")
        mail_from: str | None = None
        recipients: list[str] = []
        while True:
            raw = self.rfile.readline(MAX_LINE)
            if not raw:
                return
            command, _, argument = raw.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = command.upper()
            if verb == "EHLO":
                self._reply("250-127.0.0.1 hello")
                self._reply("250-8BITMIME")
                self._reply(f"250 SIZE {MAX_MESSAGE_BYTES}")
            elif verb == "HELO":
                self._reply("250 127.0.0.1 hello")
            elif verb == "MAIL":
                mail_from = _address(argument, "FROM:")
                recipients = []
                self._reply("250 2.1.0 OK" if mail_from is not None else "501 5.5.4 Syntax")
            elif verb == "RCPT":
                address = _address(argument, "TO:")
                if mail_from is None:
                    self._reply("503 5.5.1 MAIL first")
                elif not address:
                    self._reply("501 5.5.4 Syntax")
                else:
                    recipients.append(address)
                    self._reply("250 2.1.5 OK")
            elif verb == "DATA":
                if mail_from is None or not recipients:
                    self._reply("503 5.5.1 RCPT first")
                    continue
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                if data is None:
                    self._reply("552 5.3.4 Message too large")
                else:
                    kept = self.server.keep(mail_from, tuple(recipients), data)
                    self._reply(f"250 2.0.0 OK queued as {kept.number}")
                mail_from, recipients = None, []
            elif verb == "RSET":
                mail_from, recipients = None, []
                self._reply("250 2.0.0 OK")
            elif verb == "NOOP":
                self._reply("250 2.0.0 OK")
            elif verb == "QUIT":
                self._reply("221 2.0.0 Bye")
                return
            else:
                self._reply("502 5.5.2 Command not implemented")


class SinkServer(LoopbackServer):
    """The sink's TCP server: keeps each message (and writes it to `directory`)."""

    def __init__(self, directory: Path | None, log: RequestLog[ReceivedMail]) -> None:
        self.directory = directory
        self.log = log
        self._lock = threading.Lock()
        super().__init__(_SmtpHandler)

    def keep(self, mail_from: str, recipients: tuple[str, ...], data: bytes) -> ReceivedMail:
        headers = BytesHeaderParser().parsebytes(data)
        message_id = str(headers.get("Message-ID", "")).strip()
        with self._lock:
            number = len(self.log) + 1
            path = None
            if self.directory is not None:
                stem = re.sub(r"[^A-Za-z0-9.@-]+", "-", message_id.strip("<>"))[:80] or "message"
                path = self.directory / f"{number:04d}-{stem}.eml"
                partial = path.with_suffix(".part")
                partial.write_bytes(data)
                partial.replace(path)
            kept = ReceivedMail(number, mail_from, recipients, data, message_id, path)
            self.log.append(kept)
        return kept


class MailSink(Loopback[SinkServer]):
    """The SMTP sink on loopback, as a context manager; `messages` holds what it received."""

    thread_name = "mail-sink"

    def __init__(self, directory: Path | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.messages: RequestLog[ReceivedMail] = RequestLog()
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def bind(self) -> SinkServer:
        return SinkServer(self.directory, self.messages)
