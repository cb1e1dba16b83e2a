"""Logging: events carry run_id, secrets never appear, JSON lines stay one per line."""

from __future__ import annotations

import io
import json
import os
import signal
from pathlib import Path

import pytest
import structlog
from structlog.testing import capture_logs

from connector.ops.log import REDACTOR, bind_run, configure_logging, get_logger
from connector.ops.signals import SignalInterrupted, interrupt_guard


def test_json_events_carry_run_id_and_hide_secrets() -> None:
    """Every JSON event has run_id; a known secret is removed in every encoding."""
    out = io.StringIO()
    configure_logging(fmt="json", secrets=["canary-Pa55word"], stream=out)
    bind_run("run-1")
    log = get_logger("t")
    log.info("login", detail="pw=canary-Pa55word", url="https://x/?p=canary-Pa55word")
    log.info("auth_header", authorization="Bearer abc", headers={"Cookie": "JSESSIONID=1"})
    log.info("b64", blob="Y2FuYXJ5LVBhNTV3b3Jk")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    events = [json.loads(line) for line in lines]
    assert all(e["run_id"] == "run-1" for e in events)
    assert "canary-Pa55word" not in out.getvalue()
    assert "Y2FuYXJ5LVBhNTV3b3Jk" not in out.getvalue()
    assert events[1]["authorization"] == "***"
    assert events[1]["headers"]["Cookie"] == "***"


def test_multiline_values_stay_one_line() -> None:
    """CR/LF and ANSI escapes in values never split a JSON log line."""
    out = io.StringIO()
    configure_logging(fmt="json", stream=out)
    get_logger().warning("hostile", text="a\r\nb\x1b[31mred\x00")
    assert len(out.getvalue().splitlines()) == 1
    assert json.loads(out.getvalue())["text"] == "a\r\nb\x1b[31mred\x00"


def test_log_file_is_private_and_json(tmp_path: Path) -> None:
    """The optional log file is created 0600 and holds JSON lines."""
    path = tmp_path / "logs" / "connector.log"
    configure_logging(fmt="console", file=path, stream=io.StringIO())
    get_logger().info("hello", n=1)
    assert (path.stat().st_mode & 0o777) == 0o600
    event = json.loads(path.read_text().splitlines()[-1])
    assert event["event"] == "hello"
    configure_logging(fmt="json", stream=io.StringIO())


def test_capture_logs_sees_redacted_processor_output() -> None:
    """The redactor scrubs nested structures, for any processor chain that uses it."""
    REDACTOR.add(["zz-secret-zz"])
    scrubbed = REDACTOR.scrub({"a": ["x zz-secret-zz y"], "password": "p"})
    assert scrubbed == {"a": ["x *** y"], "password": "***"}
    with capture_logs() as logs:
        structlog.get_logger().info("evt", n=2)
    assert logs == [{"event": "evt", "n": 2, "log_level": "info"}]


class _SignalledStream(io.StringIO):
    """A stderr whose write of the line `at` receives SIGTERM before it is done, as a write to a
    full pipe is interrupted (EINTR) and the signal handler runs inside it."""

    def __init__(self, at: str) -> None:
        super().__init__()
        self.at = at
        self.sent = False

    def write(self, text: str) -> int:
        if self.at in text and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGTERM)  # the handler may run from here on
            half = len(text) // 2
            return super().write(text[:half]) + super().write(text[half:])
        return super().write(text)


def test_a_signal_during_a_log_write_waits_for_the_line_then_interrupts() -> None:
    """A SIGTERM that arrives while a log line is being written is raised once the line is
    written whole: no half line, no line lost, the signal's own event after it, and the run
    still stopped (before, the handler ran inside the write: the line was lost)."""
    out = _SignalledStream(at="page_written")
    configure_logging(fmt="json", stream=out)
    log = get_logger("t")
    with pytest.raises(SignalInterrupted), interrupt_guard():
        log.info("page_written", page=3)
        log.info("after_the_signal")  # never reached: the interrupt is raised first
    configure_logging(fmt="json", stream=io.StringIO())
    events = [json.loads(line)["event"] for line in out.getvalue().splitlines()]
    assert events == ["page_written", "signal_received"]


class _ClosedPipe(io.StringIO):
    """A stream whose reader went away after `lines` lines (``pull 2>&1 | head``)."""

    def __init__(self, lines: int) -> None:
        super().__init__()
        self.left = lines
        self.refused = 0

    def write(self, text: str) -> int:
        if self.left <= 0:
            self.refused += 1
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= 1
        return super().write(text)


def test_a_closed_log_stream_does_not_stop_the_run_and_the_file_keeps_every_event(
    tmp_path: Path,
) -> None:
    """Once the reader of stderr is gone, events go on to the log file, the stream is not
    written again, and logging raises nothing (it stopped the run: `pull 2>&1 | head`)."""
    path = tmp_path / "connector.log"
    out = _ClosedPipe(lines=1)
    configure_logging(fmt="json", file=path, stream=out)
    log = get_logger("t")
    for n in range(4):
        log.info("page_fetched", page=n)
    assert [json.loads(line)["page"] for line in out.getvalue().splitlines()] == [0]
    assert out.refused == 1
    pages = [json.loads(line).get("page") for line in path.read_text().splitlines()]
    assert [p for p in pages if p is not None] == [0, 1, 2, 3]
    configure_logging(fmt="json", stream=io.StringIO())
