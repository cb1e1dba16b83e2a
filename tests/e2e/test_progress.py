"""Progress bars: shown on a terminal for manual runs, never under cron or in a pipe."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import threading
from pathlib import Path

import pytest

from connector.ops.progress import NullProgress, RichProgress, make_progress, progress_wanted
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import Launcher, deployment_for


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("tty", "environ", "wanted"),
    [
        pytest.param(True, {"TERM": "xterm-256color"}, True, id="terminal"),
        pytest.param(False, {"TERM": "xterm"}, False, id="pipe-or-cron"),
        pytest.param(True, {"TERM": "dumb"}, False, id="dumb-terminal"),
        pytest.param(True, {"TERM": "xterm", "NO_PROGRESS": "1"}, False, id="turned-off"),
        pytest.param(True, {}, True, id="no-term-variable"),
    ],
)
def test_progress_wanted(tty: bool, environ: dict[str, str], wanted: bool) -> None:
    """Bars only on an interactive terminal that is not dumb and not turned off."""
    stream = FakeTTY() if tty else io.StringIO()
    assert progress_wanted(stream, environ) is wanted


def test_closed_stream_means_no_progress() -> None:
    """A closed stream (isatty raises) counts as no terminal."""
    stream = io.StringIO()
    stream.close()
    assert progress_wanted(stream, {}) is False


def test_non_tty_gets_a_silent_reporter() -> None:
    """Under cron (no terminal) the reporter writes nothing at all."""
    stream = io.StringIO()
    with make_progress(stream=stream, environ={}) as progress:
        progress.start(None, "Tải nhiệm vụ")
        progress.set_total(400)
        progress.advance(200)
        progress.advance(200)
    assert isinstance(progress, NullProgress)
    assert stream.getvalue() == ""
    assert (progress.total, progress.completed, progress.phases) == (400, 400, ["Tải nhiệm vụ"])


def test_null_progress_counts_per_phase() -> None:
    """Starting a phase resets the count; advance without start is harmless."""
    progress = NullProgress()
    progress.advance(3)
    progress.start(10, "a")
    progress.advance(4)
    progress.start(2, "b")
    progress.advance()
    assert (progress.phases, progress.total, progress.completed) == (["a", "b"], 2, 1)


def test_rich_progress_draws_on_a_terminal() -> None:
    """On a terminal a bar with the description and the counts is drawn, then stopped."""
    stream = FakeTTY()
    with make_progress(stream=stream, environ={"TERM": "xterm"}) as progress:
        assert isinstance(progress, RichProgress)
        progress.advance(1)  # before start: an implicit phase, no crash
        progress.start(total=None, description="Tải nhiệm vụ")
        progress.set_total(10)
        progress.advance(10)
        progress.start(total=3, description="Gửi cập nhật")
        progress.advance(3)
    out = stream.getvalue()
    assert "Tải nhiệm vụ" in out and "10/10" in out
    assert "Gửi cập nhật" in out and "3/3" in out
    progress.finish()  # idempotent


def test_forced_off_even_on_a_terminal() -> None:
    """enabled=False wins over a terminal (e.g. --no-progress or --log-format json)."""
    assert isinstance(make_progress(enabled=False, stream=FakeTTY()), NullProgress)


def test_manual_sync_in_a_terminal_shows_progress_and_cron_does_not(tmp_path: Path) -> None:
    """The real `sync`: a bar on a terminal (a pty); plain JSON events only without one."""
    config = SimulatorConfig(tasks=30, seed=4, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        dep = deployment_for(sim, tmp_path, extra_toml="[push]\nenabled = false\n")
        master, slave = pty.openpty()
        chunks: list[bytes] = []

        def drain() -> None:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        env = {**dep.environ(), "TERM": "xterm-256color", "COLUMNS": "120"}
        proc = subprocess.run(
            dep.argv("sync"),
            env=env,
            cwd=dep.home,
            stdin=slave,
            stdout=subprocess.DEVNULL,
            stderr=slave,
            timeout=120,
            check=False,
        )
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
        shown = b"".join(chunks).decode("utf-8", "replace")
        assert proc.returncode in (0, 1), shown[-2000:]
        assert "Tải nhiệm vụ" in shown  # the bar of the pull phase
        cron = Launcher(dep).run("sync")  # stdin /dev/null, stderr a file: as under cron
        assert cron.returncode in (0, 1)
        lines = [line for line in cron.stderr.splitlines() if line.strip()]
        assert lines and all(line.startswith("{") for line in lines), lines[:5]
