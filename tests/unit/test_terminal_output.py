"""What an admin sees on a terminal: warnings and errors only by default, log lines above the
live progress bars (never glued to them), and the bars' phases in the terminal's language."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from connector.ops.log import configure_logging, get_logger
from connector.ops.progress import PULL, PUSH, RichProgress, make_progress, phase_label


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _reset() -> None:
    configure_logging(fmt="json", stream=io.StringIO())


def test_terminal_shows_warnings_and_errors_only_by_default(tmp_path: Path) -> None:
    """On a terminal an info event is not printed (it goes to the JSON log file), a warning is."""
    out = FakeTTY()
    log_file = tmp_path / "connector.log"
    try:
        configure_logging(level="info", fmt="auto", stream=out, file=log_file)
        get_logger("t").info("ledger_migrated", revision="abc")
        get_logger("t").warning("config_warning", message="check this")
    finally:
        _reset()
    shown = out.getvalue()
    assert "ledger_migrated" not in shown
    assert "config_warning" in shown
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert events == ["ledger_migrated", "config_warning"]


def test_terminal_level_from_the_command_line_shows_info() -> None:
    """--log-level info / -v (terminal_level) brings the info events back on the terminal."""
    out = FakeTTY()
    try:
        configure_logging(level="info", fmt="auto", stream=out, terminal_level="info")
        get_logger("t").info("ledger_migrated")
    finally:
        _reset()
    assert "ledger_migrated" in out.getvalue()


def test_json_stream_keeps_the_configured_level() -> None:
    """Without a terminal (cron) the stream is JSON at log.level: info events are kept."""
    out = io.StringIO()
    try:
        configure_logging(level="info", fmt="auto", stream=out)
        get_logger("t").info("ledger_migrated")
    finally:
        _reset()
    assert json.loads(out.getvalue())["event"] == "ledger_migrated"


def test_log_line_goes_above_a_live_bar_on_its_own_line() -> None:
    """While a bar is live, a warning is printed through the bar's console: on a line of its
    own (never followed by the bar's text on the same line), and the bar is still drawn."""
    out = FakeTTY()
    try:
        configure_logging(level="info", fmt="console", stream=out)
        with make_progress(stream=out, environ={"TERM": "xterm"}, lang="en") as progress:
            assert isinstance(progress, RichProgress)
            progress.start(total=4, description=PULL)
            progress.advance(2)
            get_logger("t").warning("slow_page", page=3)
            progress.advance(2)
    finally:
        _reset()
    text = out.getvalue()
    assert "Fetching tasks" in text and "4/4" in text
    line = next(chunk for chunk in text.replace("\r", "\n").split("\n") if "slow_page" in chunk)
    assert "Fetching tasks" not in line


def test_finish_leaves_the_terminal_on_a_fresh_line() -> None:
    """After `finish` the stream ends with a newline (the summary never lands on the bar)."""
    out = FakeTTY()
    try:
        configure_logging(level="info", fmt="console", stream=out)
        progress = make_progress(stream=out, environ={"TERM": "xterm"})
        progress.start(total=2, description=PUSH)
        progress.advance(2)
        progress.finish()
        before = out.getvalue()
        assert re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", before).endswith("\n")
        get_logger("t").warning("after_bars")  # written straight to the stream again
    finally:
        _reset()
    after = out.getvalue()[len(before) :]
    assert "after_bars" in after and "Gửi" not in after


def test_phase_labels_follow_the_language() -> None:
    """A phase key is shown in the reporter's language; any other text as given."""
    assert phase_label(PUSH, "vi") == "Gửi cập nhật, cảnh báo"
    assert phase_label(PUSH, "en") == "Sending updates, alerts"
    assert phase_label("Tải nhiệm vụ", "en") == "Tải nhiệm vụ"


def test_an_empty_phase_is_drawn_finished() -> None:
    """A phase with nothing to do (a second sync classifies 0 of 0 tasks) ends as a finished
    bar, not one still spinning with an unknown time left ("-:--:--")."""
    out = FakeTTY()
    try:
        configure_logging(level="info", fmt="console", stream=out)
        with make_progress(stream=out, environ={"TERM": "xterm"}, lang="en") as progress:
            progress.start(total=0, description=PULL)
            progress.start(total=1, description=PUSH)
            progress.advance(1)
    finally:
        _reset()
    frames = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue()).replace("\r", "\n")
    last = [line for line in frames.split("\n") if "Fetching tasks" in line][-1]
    assert "0/0" in last and "-:--:--" not in last, last
