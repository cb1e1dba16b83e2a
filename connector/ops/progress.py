"""Progress bars for long manual runs in a terminal; nothing at all under cron or in a pipe.

The sync and push call one small interface and never ask where the output goes::

    progress = make_progress(lang="vi")   # a bar on a terminal, a no-op otherwise
    with progress:
        progress.start(total=None, description=PULL)   # total unknown yet
        progress.set_total(1234)         # once the first page says how many
        progress.advance(200)            # after each page
        progress.start(total=17, description=PUSH)     # next phase

A phase is named by its key (`PULL`, `CLASSIFY`, `PUSH`), shown in the reporter's language
("Tải nhiệm vụ" / "Fetching tasks"); any other description is shown as given.

A bar is shown only when the stream is a terminal, ``TERM`` is not ``dumb``, and ``NO_PROGRESS``
is unset (cron runs have no terminal, so they never get one). The bar goes to stderr, where the
console logs go too: while the bars are live, a log line is printed through their console, above
them (`connector.ops.log.live_console`), never on the bar's line. `finish` (or leaving the
``with`` block) stops the bars, leaving their last state on its own lines, so what the command
prints next (its summary, the prompt) starts on a fresh line; stdout stays clean for what a
command prints.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from typing import Protocol, Self, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from connector.closing import Closing
from connector.ops.log import live_console

PULL = "pull"
CLASSIFY = "classify"
PUSH = "push"
PHASES = (PULL, CLASSIFY, PUSH)
"""The phases of a run, by key; `RichProgress` shows each in its language."""


def phase_label(description: str, lang: str = "vi") -> str:
    """What a bar shows for `description`: a phase key in `lang`, anything else as given."""
    if description not in PHASES:
        return description
    from connector.i18n import check_lang, label  # noqa: PLC0415 - the labels, on a terminal

    return label(f"progress_{description}", check_lang(lang))


class ProgressReporter(Protocol):
    """What a long-running step may call; every method is cheap and may be called any time."""

    def start(self, total: int | None = None, description: str = "") -> None:
        """Begin a phase (ending the previous one); `total` may be unknown (None)."""

    def set_total(self, total: int | None) -> None:
        """Set or correct the total of the current phase."""

    def advance(self, n: int = 1) -> None:
        """Record `n` more items done in the current phase."""

    def finish(self) -> None:
        """End the display; idempotent."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class NullProgress(Closing):
    """Counts silently (for tests and logs); shows nothing."""

    def __init__(self) -> None:
        self.description = ""
        self.total: int | None = None
        self.completed = 0
        self.phases: list[str] = []

    def start(self, total: int | None = None, description: str = "") -> None:
        self.description = description
        self.total = total
        self.completed = 0
        self.phases.append(description)

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, n: int = 1) -> None:
        self.completed += n

    def finish(self) -> None:
        return None

    def close(self) -> None:
        self.finish()


class RichProgress(Closing):
    """A rich progress bar on a terminal stream; log lines go above it while it is live."""

    def __init__(self, stream: TextIO | None = None, lang: str = "vi") -> None:
        self._stream = stream if stream is not None else sys.stderr
        console = Console(file=self._stream)
        self._console = console
        self._lang = lang
        self._live = contextlib.ExitStack()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task: TaskID | None = None
        self._running = False

    def _print_above(self, line: str) -> None:
        """A log line (console format, possibly with colours) above the live bars."""
        from rich.text import Text  # noqa: PLC0415

        self._console.print(Text.from_ansi(line), soft_wrap=True)

    def _ensure_running(self) -> None:
        if not self._running:
            self._progress.start()
            self._live.enter_context(live_console(self._stream, self._print_above))
            self._running = True

    def start(self, total: int | None = None, description: str = "") -> None:
        self._ensure_running()
        if self._task is not None:
            self._progress.stop_task(self._task)
        label = phase_label(description, self._lang)
        # nothing to do (total 0): drawn finished, which rich marks only on an update; hidden
        # until then, so that no frame of it spinning is kept (rich caches a column's text)
        self._task = self._progress.add_task(label, total=total, visible=total != 0)
        if total == 0:
            self._progress.update(self._task, completed=0, visible=True)

    def set_total(self, total: int | None) -> None:
        if self._task is None:
            self.start(total)
            return
        self._progress.update(self._task, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is None:
            self.start(None)
        assert self._task is not None
        self._progress.advance(self._task, n)

    def finish(self) -> None:
        if self._running:
            self._live.close()
            self._progress.stop()
            self._running = False

    def close(self) -> None:
        self.finish()


def progress_wanted(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """True on an interactive terminal; False under cron, in a pipe, or when turned off."""
    env = os.environ if environ is None else environ
    if env.get("NO_PROGRESS") or env.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def make_progress(
    enabled: bool | None = None,
    stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
    lang: str = "vi",
) -> ProgressReporter:
    """A bar when `enabled` (default: `progress_wanted`), else a silent `NullProgress`; the
    phases are named in `lang`."""
    out = stream if stream is not None else sys.stderr
    show = progress_wanted(out, environ) if enabled is None else enabled
    return RichProgress(out, lang) if show else NullProgress()
