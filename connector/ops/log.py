"""The one place that configures structlog (its stdlib route: `configure_logging`).

Human console output on a terminal, one JSON object per line otherwise (or when asked), an
optional log file (created 0600), a processor that removes secret values from every event, and a
``run_id`` on every event.

On a terminal the console shows warnings and errors only, unless the command line asks for more
(``--log-level info``, ``-v``): the operator reads the command's own output, and the info events
(one per page, per delivery) stay in the JSON log (``log.file``, or stderr when it is not a
terminal), whose level ``log.level`` sets. While progress bars are live on the same terminal
(`connector.ops.progress`), console lines are printed through the bars' rich console
(`live_console`), above the bars, never glued to them.

The same redaction serves every text meant for the operator (`for_terminal`, `redact`): known
secrets, and whatever a server echoes that looks like a credential. Control characters are made
visible on the console (`terminal_safe`) and ``\\u``-escaped in JSON (`json_safe`). A log file
that cannot be written is dropped with one ``log_file_unwritable`` warning; a traceback goes to
the JSON log only (`log_internal_error`), never to a terminal.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import logging
import os
import re
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

_UNUSED_BY_STRUCTLOG = ("rich.traceback", "rich.pretty")
"""What ``import structlog`` would load from rich and this module never uses."""


def _import_structlog_lightly() -> None:
    """Import structlog without rich's traceback and pretty-printer modules.

    When rich is installed, ``import structlog`` also loads ``rich.traceback`` and
    ``rich.pretty`` (with pygments' lexers): its rich exception formatter and the repr of a
    traceback's locals. Neither is used here (a traceback goes to the JSON log through
    ``format_exc_info``; the console never shows one), and together they cost every command
    about a tenth of a second of start-up. They are hidden from that one import only; whoever
    needs them later imports them as usual. An already imported structlog is left as it is.
    """
    if "structlog" in sys.modules:
        return
    hidden = [name for name in _UNUSED_BY_STRUCTLOG if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # "cannot import": structlog skips it
    try:
        importlib.import_module("structlog")
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


_import_structlog_lightly()

import structlog  # noqa: E402 - loaded by the line above
from structlog.typing import EventDict, Processor, WrappedLogger  # noqa: E402

from connector.ops.signals import signals_blocked  # noqa: E402 - after structlog's light import


class LogFormat(StrEnum):
    """``log.format`` / ``--log-format``."""

    AUTO = "auto"
    CONSOLE = "console"
    JSON = "json"


class LogLevel(StrEnum):
    """``log.level`` / ``--log-level``."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


REDACTED = "***"
SENSITIVE_KEYS = frozenset(
    {"password", "token", "authorization", "cookie", "set-cookie", "jsessionid", "secret"}
)
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}
TERMINAL_LEVEL = "warning"
"""What the console shows on a terminal unless the command line asks for more."""
SHOWN_BY_THE_COMMAND = frozenset({"run_finished"})
"""Events a terminal console leaves out at any level: the command prints the same itself (its
summary, or its one ``error:`` line), so an error is read once. They stay in the JSON log."""


def _not_shown_by_the_command(record: logging.LogRecord) -> bool:
    event = record.msg.get("event") if isinstance(record.msg, dict) else None
    return event not in SHOWN_BY_THE_COMMAND


def new_run_id() -> str:
    """A short, unique id for one run of the connector."""
    return uuid.uuid4().hex[:12]


_SECRET_NAME = "|".join(  # names of fields that hold a credential (not secrets themselves)
    (
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "api[_-]?key",
        "jsessionid",
        "sessionid",
        "session_id",
        "phpsessid",
        "sid",
    )
)
_ASSIGNED = re.compile(rf"(?i)(?<![\w-])((?:{_SECRET_NAME})=)([^\s&;,\"'<>]+)")
"""``password=…`` in a form, a query or a cookie (``JSESSIONID=…``, ``;jsessionid=…``)."""
_QUOTED = re.compile(rf"(?i)([\"'](?:{_SECRET_NAME})[\"']\s*:\s*[\"'])([^\"']+)")
"""``"password": "…"`` in an echoed JSON or Python dict."""
_AUTH_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\s*[:=]\s*(?:(?:bearer|basic|digest|token)\s+)?"
    r"|\bx-(?:auth|access|api)-(?:token|key)\s*[:=]\s*)([^\s,;\"']+)"
)
"""An echoed ``Authorization: Bearer …`` (or ``X-Auth-Token: …``) header."""
_SCHEME_TOKEN = re.compile(r"\b(Bearer\s+|Basic\s+)([A-Za-z0-9._~+/=-]{8,})")
"""A ``Bearer …`` credential wherever it appears."""
_COOKIE_HEADER = re.compile(r"(?i)(\b(?:set-)?cookie\s*[:=]\s*)([^\r\n]*)")
_COOKIE_PAIR = re.compile(r"([\w.$!#%&'*+^`|~-]+=)([^;,\s)]*)")


def redact_credentials(text: str) -> str:
    """Hide what looks like a credential in `text`, whoever echoed it: ``password=…``,
    ``"token": "…"``, ``Authorization: Bearer …``, and every value of a ``Cookie:`` or
    ``Set-Cookie:`` header (the session cookie, e.g. ``JSESSIONID``, is a credential too)."""
    if not text or not any(c in text for c in "=:"):
        return text
    text = _COOKIE_HEADER.sub(
        lambda m: m.group(1) + _COOKIE_PAIR.sub(rf"\1{REDACTED}", m.group(2)), text
    )
    text = _ASSIGNED.sub(rf"\1{REDACTED}", text)
    text = _QUOTED.sub(rf"\1{REDACTED}", text)
    text = _AUTH_HEADER.sub(rf"\1{REDACTED}", text)
    return _SCHEME_TOKEN.sub(rf"\1{REDACTED}", text)


class SecretRedactor:
    """Replace every known secret (raw, URL-encoded, base64) in every string of an event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._needles: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        needles = set(self._needles)
        for secret in secrets:
            if not secret or len(secret) < 3:
                continue
            needles.update(
                {
                    secret,
                    quote(secret, safe=""),
                    quote_plus(secret),
                    base64.b64encode(secret.encode()).decode().rstrip("="),
                }
            )
        with self._lock:
            self._needles = tuple(sorted(needles, key=len, reverse=True))

    def needles(self) -> tuple[str, ...]:
        """What is hidden now (each secret in its raw and encoded forms)."""
        return self._needles

    def forget_all_but(self, needles: tuple[str, ...]) -> None:
        """Hide only `needles` again (from `needles()`): for a process that serves several
        configurations one after the other, as a test run does."""
        with self._lock:
            self._needles = needles

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for needle in self._needles:
                if needle in value:
                    value = value.replace(needle, REDACTED)
            return redact_credentials(value)
        if isinstance(value, dict):
            return {
                k: (REDACTED if str(k).lower() in SENSITIVE_KEYS and v else self.scrub(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        if isinstance(value, BaseException):
            return self.scrub(repr(value))
        return value

    def __call__(self, _: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        for key in list(event_dict):
            if key.lower() in SENSITIVE_KEYS and event_dict[key]:
                event_dict[key] = REDACTED
            else:
                event_dict[key] = self.scrub(event_dict[key])
        return event_dict


REDACTOR = SecretRedactor()
_PROCESS_RUN_ID = new_run_id()


_CONTROL = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff]"
)
"""Characters that must never reach a terminal raw: C0/C1 controls but TAB and LF (ESC, CR,
NUL, CSI…), the Unicode line and paragraph separators, the bidirectional controls (right-to-
left override and its kin, which reorder what a clerk sees), and lone surrogates (no UTF-8
stream could write them)."""
_CONTROL_OR_BREAK = re.compile(_CONTROL.pattern[:-1] + "\t\n]")
_JSON_UNSAFE = re.compile(
    "[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
"""What JSON leaves raw (it escapes C0 itself): escaped as ``\\uXXXX``, which decodes the same."""


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _escape_controls(value: Any) -> Any:
    """Make control characters visible (``\\x1b``): a value can never drive the terminal."""
    if isinstance(value, str):
        return _CONTROL.sub(_escape_char, value)
    if isinstance(value, dict):
        return {k: _escape_controls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_escape_controls(v) for v in value)
    return value


def terminal_safe(text: str, *, one_line: bool = False) -> str:
    """`text` with every control character made visible (``\\x1b``, ``\\u202e``), as the console
    log shows values; with `one_line`, TAB and LF too."""
    pattern = _CONTROL_OR_BREAK if one_line else _CONTROL
    return pattern.sub(_escape_char, text)


def json_safe(text: str) -> str:
    """A rendered JSON document with the characters JSON leaves raw (C1 controls, Unicode line
    separators, bidirectional controls) escaped as ``\\uXXXX``: the same data, terminal-safe."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def redact(text: str) -> str:
    """`text` without any secret: the known ones and whatever looks like a credential."""
    scrubbed = REDACTOR.scrub(text)
    return scrubbed if isinstance(scrubbed, str) else text


def for_terminal(text: str, *, one_line: bool = False) -> str:
    """What may be printed on a terminal from `text`: secrets removed, controls made visible."""
    return terminal_safe(redact(text), one_line=one_line)


def _console_safe(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Console output only: escape control characters (CR/LF included) in every value."""
    return {k: _escape_controls(v) for k, v in event_dict.items()}


class _SafeJSONRenderer:
    """JSON lines where Unicode line separators (and every other character JSON leaves raw
    that could drive a terminal) are escaped too: one event, one line."""

    def __init__(self) -> None:
        self._inner = structlog.processors.JSONRenderer(ensure_ascii=False)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        return json_safe(str(self._inner(logger, name, event_dict)))


def _add_run_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("run_id", _PROCESS_RUN_ID)
    return event_dict


_TIMESTAMP = structlog.processors.TimeStamper(fmt="iso", utc=True)

TRACEBACK_KEYS = frozenset({"exception", "exc_info", "stack", "traceback"})
"""Event keys that carry a traceback: kept in the JSON log, never shown on a terminal."""


def open_private(path: Path) -> int:
    """Open a file for appending, creating it (and its directory) with mode 0600; the fd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)


_LOGGER = "idesk_connector"
"""The stdlib logger every event goes through (its own handlers; it does not propagate, so the
root logger and other libraries' logging are left as they are)."""


class _Handler(logging.Handler):
    """A handler whose formatting or writing error reaches the caller (a bug is a bug), instead
    of the stdlib's "--- Logging error ---" traceback on stderr."""

    def handleError(self, record: logging.LogRecord) -> None:
        raise  # noqa: PLE0704 (called from the except block of `emit`)


_LIVE: dict[int, Callable[[str], None]] = {}
"""While progress bars are live on a stream: how to print a line above them, by ``id(stream)``."""


@contextlib.contextmanager
def live_console(stream: TextIO, write: Callable[[str], None]) -> Iterator[None]:
    """While in the block, log lines for `stream` go through `write` (the live display's
    console, which prints them above the bars) instead of straight to the stream."""
    _LIVE[id(stream)] = write
    try:
        yield
    finally:
        _LIVE.pop(id(stream), None)


class _StreamHandler(_Handler):
    """The console stream (stderr): console lines or JSON lines, each written whole even when a
    signal arrives meanwhile (`connector.ops.signals.signals_blocked`).

    A stream whose reader went away (a closed pipe: ``sync 2>&1 | head``; a terminal lost with
    its SSH session) is not written again, and the run goes on: a log line is no reason to
    stop a sync half-way. The log file, if any, still gets every event."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self.gone = False

    def emit(self, record: logging.LogRecord) -> None:
        if self.gone:
            return
        try:
            line = self.format(record)
            with signals_blocked():
                live = _LIVE.get(id(self.stream))
                if live is not None:
                    live(line)
                    return
                self.stream.write(line + "\n")
                self.stream.flush()
        except OSError:  # EPIPE, EIO: nobody reads the stream any more
            self.gone = True
        except Exception:
            self.handleError(record)


class _FileHandler(_Handler):
    """The log file (``log.file``): JSON lines, traceback included, created 0600. When it cannot
    be written (full disk, unwritable path), it is dropped with ONE ``log_file_unwritable``
    warning on the stream and the run goes on: every event still reaches the stream."""

    def __init__(self, path: str | Path, fallback: _StreamHandler) -> None:
        super().__init__()
        self.path, self.fallback = str(path), fallback
        self.fd: int | None = None
        try:
            self.fd = open_private(Path(path))
        except OSError as exc:
            self._failed(exc)

    def emit(self, record: logging.LogRecord) -> None:
        if self.fd is None:
            return
        try:
            line = self.format(record) + "\n"
            os.write(self.fd, line.encode("utf-8"))
        except OSError as exc:
            self._failed(exc)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        super().close()

    def _failed(self, exc: OSError) -> None:
        self.close()
        warning: EventDict = {
            "event": "log_file_unwritable",
            "level": "warning",
            "path": self.path,
            "error": exc.strerror or type(exc).__name__,
            "hint": "the log goes on to stderr only; free space or fix log.file",
            "run_id": _PROCESS_RUN_ID,
            **structlog.contextvars.get_contextvars(),
        }
        warning = _TIMESTAMP(None, "warning", warning)
        record = logging.makeLogRecord(
            {"name": _LOGGER, "levelno": logging.WARNING, "levelname": "WARNING", "msg": warning}
        )
        record._logger, record._name = logging.getLogger(_LOGGER), "warning"
        self.fallback.handle(record)


def _hide_traceback(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Drop the traceback of an event shown on a terminal (it stays in the JSON log)."""
    for key in TRACEBACK_KEYS & event_dict.keys():
        del event_dict[key]
    return event_dict


@dataclass
class _Destinations:
    """Where the events go since the last `configure_logging`."""

    stream: _StreamHandler
    file: _FileHandler | None
    hide_traceback: bool

    @property
    def file_open(self) -> bool:
        return self.file is not None and self.file.fd is not None


_destinations: _Destinations | None = None


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def configure_logging(
    *,
    level: str = "info",
    fmt: str = "auto",
    file: str | Path | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
    terminal_level: str | None = None,
) -> None:
    """Configure structlog for the process. Safe to call again (e.g. after settings load).

    structlog's stdlib route: the shared processors (context, run id, level, time, traceback,
    redaction) run once per event, then `structlog.stdlib.ProcessorFormatter` renders it per
    destination: console lines (control characters made visible, no traceback) or JSON lines on
    the stream, JSON lines (traceback included) in the log file. A traceback reaches the stream
    only as JSON that is not a terminal (cron's or systemd's captured stderr, the log there).

    `level` is the level of the log file and of JSON on the stream. Console lines on a terminal
    show `terminal_level` (the command line's ``--log-level``/``-v``) when given, else warnings
    and errors only (or `level`, when it is stricter).
    """
    global _destinations
    out = stream if stream is not None else sys.stderr
    REDACTOR.add(secrets)
    tty = _is_tty(out)
    json_out = fmt == "json" or (fmt == "auto" and not tty)
    hide_traceback = tty or not json_out
    file_level = _LEVELS.get(level, 20)
    stream_level = file_level
    if tty and not json_out:
        stream_level = (
            _LEVELS.get(terminal_level, 20)
            if terminal_level
            else max(file_level, _LEVELS[TERMINAL_LEVEL])
        )
    meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    shown: list[Processor] = [meta, _hide_traceback] if hide_traceback else [meta]
    if json_out:
        shown.append(_SafeJSONRenderer())
    else:
        shown += [_console_safe, structlog.dev.ConsoleRenderer(colors=tty)]
    logger = logging.getLogger(_LOGGER)
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    on_stream = _StreamHandler(out)
    on_stream.setLevel(stream_level)
    if tty and not json_out:
        on_stream.addFilter(_not_shown_by_the_command)
    on_stream.setFormatter(structlog.stdlib.ProcessorFormatter(processors=shown))
    in_file = None
    lowest = stream_level
    if file:
        in_file = _FileHandler(file, on_stream)
        in_file.setLevel(file_level)
        in_file.setFormatter(
            structlog.stdlib.ProcessorFormatter(processors=[meta, _SafeJSONRenderer()])
        )
        logger.addHandler(in_file)
        lowest = min(lowest, file_level)
    logger.addHandler(on_stream)
    _destinations = _Destinations(on_stream, in_file, hide_traceback)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_run_id,
            structlog.processors.add_log_level,
            _TIMESTAMP,
            structlog.processors.format_exc_info,
            REDACTOR,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lowest),
        logger_factory=lambda *_: logger,
        cache_logger_on_first_use=False,
    )


def traceback_destination() -> str:
    """Where the traceback of an internal error is kept: the log file, the JSON stream, or ""."""
    if _destinations is None:
        return ""
    if _destinations.file_open and _destinations.file is not None:
        return _destinations.file.path
    if not _destinations.hide_traceback:
        return "stderr (JSON log)"
    return ""


def log_internal_error(exc: BaseException) -> str:
    """Log an unexpected error with its traceback (JSON log only); where the traceback went."""
    get_logger("cli").error(
        "internal_error",
        error_type=type(exc).__name__,
        error=str(exc),
        exc_info=(type(exc), exc, exc.__traceback__),
    )
    return traceback_destination()


def bind_run(run_id: str, **fields: Any) -> None:
    """Bind the run id (and other fields) to every event logged from now on."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id, **fields)


def get_logger(name: str = "connector") -> Any:
    return structlog.get_logger(name)


def capture_events(into: list[dict[str, Any]]) -> None:
    """From now on (in this process), keep the events logged in `into`, with their level, as
    dicts, instead of writing them (a forked child whose parent writes its events:
    `replay_events`). The level filter stays as configured."""

    def keep(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
        into.append(dict(event_dict))
        raise structlog.DropEvent

    structlog.configure(processors=[structlog.processors.add_log_level, keep])


def replay_events(events: Iterable[Mapping[str, Any]]) -> None:
    """Log events kept by `capture_events` (in another process) here, each at its level."""
    logger = structlog.get_logger("idesk_connector.replayed")
    for event in events:
        fields = dict(event)
        level = str(fields.pop("level", "info"))
        name = str(fields.pop("event", ""))
        method = getattr(logger, level if level in _LEVELS else "info")
        method(name, **fields)
