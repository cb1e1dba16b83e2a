"""Work done in a forked child process while this one goes on: its answer comes back pickled
over a pipe.

`Forked(work)` forks (Linux's ``fork``: the child starts with this process's memory, so `work`
is a closure over what this process already has: settings, calendar, options, no pickling on the
way in) and runs ``work()`` in the child; `Forked.result` waits for its answer. Only the answer
is pickled, so it should be compact (plain tuples pickle several times faster than frozen
dataclasses). The child ignores Ctrl+C: the parent stops it (`Forked.close`) when it stops.

`can_fork()` says whether it is worth it and safe here: Linux, at least two CPUs this process
may run on, and no other thread (a fork copies locks held by other threads, never released in
the child). A caller falls back to doing the work itself when it is not, and when the child
fails (`ForkFailed`): nothing is lost, it only takes longer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_OK, _FAILED = "ok", "failed"


class ForkFailed(Exception):
    """The child ended without an answer, or its work raised (the message says which)."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return len(affinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether a `Forked` child may run beside this process (see the module docstring)."""
    return sys.platform.startswith("linux") and usable_cpus() >= 2 and threading.active_count() == 1


class Forked(Generic[T]):
    """``work()`` running in a forked child (see the module docstring); `close` it when done
    (a ``with`` block does)."""

    def __init__(self, work: Callable[[], T]) -> None:
        import multiprocessing  # noqa: PLC0415 - only for the few commands that fork

        context = multiprocessing.get_context("fork")
        # What this process has buffered would be written twice: by the child's exit too.
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        self._answers, sending = context.Pipe(duplex=False)
        self._process = context.Process(target=_answer, args=(work, sending), daemon=True)
        self._process.start()
        sending.close()  # the child's end: EOF here when the child is gone

    def result(self) -> T:
        """The child's answer (waiting for it); `ForkFailed` when it has none."""
        try:
            status, value = self._answers.recv()
        except (EOFError, OSError) as exc:
            self._process.join()
            raise ForkFailed(
                f"the child process ended without an answer (exit code {self._process.exitcode})"
            ) from exc
        if status != _OK:
            raise ForkFailed(str(value))
        answer: T = value
        return answer

    def close(self) -> None:
        """Stop the child if it is still running (its answer is not wanted any more, or it was
        sent), and wait for it."""
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._answers.close()

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _answer(work: Callable[[], Any], sending: Any) -> None:
    """The child: do `work` and send its answer (or why it failed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us,
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # with SIGTERM
    try:
        answer: tuple[str, Any] = (_OK, work())
    except BaseException as exc:
        answer = (_FAILED, f"{type(exc).__name__}: {exc}")
    try:
        sending.send(answer)
    except OSError:  # the parent is gone: nobody to answer
        pass
    except Exception as exc:  # an answer that cannot be pickled
        with contextlib.suppress(OSError):
            sending.send((_FAILED, f"the answer could not be sent: {type(exc).__name__}: {exc}"))
    finally:
        sending.close()
