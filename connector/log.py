"""The one place that configures structlog.

Human console output on a terminal, one JSON object per line otherwise (or when asked), an
optional log file (created 0600), a processor that removes secret values from every event, and a
``run_id`` on every event.
"""

from __future__ import annotations

import base64
import io
import os
import re
import sys
import threading
import uuid
from collections.abc import Iterable, MutableMapping
from pathlib import Path
from typing import Any, Literal, TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["auto", "console", "json"]
REDACTED = "***"
SENSITIVE_KEYS = frozenset(
    {"password", "token", "authorization", "cookie", "set-cookie", "jsessionid", "secret"}
)
_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


def new_run_id() -> str:
    """A short, unique id for one run of the connector."""
    return uuid.uuid4().hex[:12]


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

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for needle in self._needles:
                if needle in value:
                    value = value.replace(needle, REDACTED)
            return value
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


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # lone ones: no UTF-8 stream could write them
_LINE_BREAKS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


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


def _console_safe(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Console output only: escape control characters (CR/LF included) in every value."""
    return {k: _escape_controls(v) for k, v in event_dict.items()}


class _SafeJSONRenderer:
    """JSON lines where Unicode line separators are escaped too (one event, one line)."""

    def __init__(self) -> None:
        self._inner = structlog.processors.JSONRenderer(ensure_ascii=False)

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        text = str(self._inner(logger, name, event_dict))
        for raw, escaped in _LINE_BREAKS.items():
            text = text.replace(raw, escaped)
        return _SURROGATE.sub(_escape_char, text)


def _add_run_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("run_id", _PROCESS_RUN_ID)
    return event_dict


class _TeeLogger:
    """Writes each rendered line to the console stream and, optionally, to a log file."""

    def __init__(self, stream: TextIO, file: TextIO | None) -> None:
        self._stream = stream
        self._file = file
        self._lock = threading.Lock()

    def msg(self, message: str) -> None:
        with self._lock:
            self._stream.write(message + "\n")
            self._stream.flush()
            if self._file is not None:
                self._file.write(message + "\n")
                self._file.flush()

    log = debug = info = warning = warn = error = critical = exception = msg


def open_private(path: Path, mode: str = "a") -> TextIO:
    """Open a file for appending, creating it with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return io.TextIOWrapper(os.fdopen(fd, mode + "b"), encoding="utf-8")


_log_file: TextIO | None = None


def configure_logging(
    *,
    level: str = "info",
    fmt: LogFormat = "auto",
    file: str | Path | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Configure structlog for the process. Safe to call again (e.g. after settings load)."""
    global _log_file
    out = stream if stream is not None else sys.stderr
    REDACTOR.add(secrets)
    json_out = fmt == "json" or (fmt == "auto" and not out.isatty())
    renderer: Processor = (
        _SafeJSONRenderer() if json_out else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    if _log_file is not None:
        _log_file.close()
        _log_file = None
    if file:
        _log_file = open_private(Path(file))
    file_renderer_needed = _log_file is not None and not json_out
    processors: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_run_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        REDACTOR,
        *([] if json_out else [_console_safe]),
        renderer,
    ]
    tee = _TeeLogger(out, None if file_renderer_needed else _log_file)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, 20)),
        logger_factory=lambda *_: tee,
        cache_logger_on_first_use=False,
    )
    if file_renderer_needed and _log_file is not None:
        # The file always gets JSON lines, whatever the console shows.
        _attach_json_file(_log_file, tee)


def _attach_json_file(file: TextIO, tee: _TeeLogger) -> None:
    json_renderer = _SafeJSONRenderer()
    console_msg = tee.msg

    def dual(event_dict: MutableMapping[str, Any]) -> None:
        file.write(str(json_renderer(None, "", dict(event_dict))) + "\n")
        file.flush()

    tee.msg = console_msg  # type: ignore[method-assign]
    config = structlog.get_config()
    processors = list(config["processors"])
    renderer = processors.pop()

    def render_both(logger: WrappedLogger, name: str, event_dict: EventDict) -> Any:
        dual(event_dict)
        return renderer(logger, name, event_dict)

    processors.append(render_both)
    structlog.configure(processors=processors)


def bind_run(run_id: str, **fields: Any) -> None:
    """Bind the run id (and other fields) to every event logged from now on."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(run_id=run_id, **fields)


def get_logger(name: str = "connector") -> Any:
    return structlog.get_logger(name)
