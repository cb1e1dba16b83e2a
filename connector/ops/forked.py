"""Work done in a forked child process while this one goes on: its answer comes back pickled
over a pipe.

`Forked(work)` forks (Linux's ``fork``: the child starts with this process's memory, so `work`
is a closure over what this process already has: settings, calendar, options, no pickling on the
way in) and runs ``work()`` in the child; `Forked.result` waits for its answer. Only the answer
is pickled, so it should be compact (plain tuples pickle several times faster than frozen
dataclasses). The child ignores Ctrl+C: the parent stops it (`Forked.close`) when it stops.

`ForkedWorker(handle)` is the same child for a stream of requests: each request sent is handled
by ``handle(request)`` in the child, and the answers come back in the order of the requests (a big
pull's pages, `connector.source.classifier`).

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
        context = _context()
        self._answers, sending = context.Pipe(duplex=False)
        self._process = _start(context, _answer, (work, sending), (sending,), (self._answers,))

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


def _context() -> Any:
    """multiprocessing's ``fork`` context (imported only by the few commands that fork)."""
    import multiprocessing  # noqa: PLC0415

    return multiprocessing.get_context("fork")


def _start(
    context: Any,
    target: Callable[..., None],
    args: tuple[Any, ...],
    childs_ends: tuple[Any, ...],
    parents_ends: tuple[Any, ...],
) -> Any:
    """Fork a daemon child running ``target(*args, parents_ends, parent pid)`` (it closes the
    parent's ends, `_orphan_proof`), then close the child's ends here: EOF here when the child
    is gone."""
    # What this process has buffered would be written twice: by the child's exit too.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    process = context.Process(target=target, args=(*args, parents_ends, os.getpid()), daemon=True)
    process.start()
    for end in childs_ends:
        end.close()
    return process


def _orphan_proof(parents_ends: tuple[Any, ...], parent: int) -> None:
    """In a child: close the parent's ends of the pipes (a copy held here would keep a pipe
    open after the parent died: a child blocked on it for ever), and die with the parent
    (Linux's ``PR_SET_PDEATHSIG``). The parent stops us with SIGTERM, never Ctrl+C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in parents_ends:
        with contextlib.suppress(OSError):
            end.close()
    with contextlib.suppress(Exception):  # best effort: the pipes end a child too
        import ctypes  # noqa: PLC0415 - only in a forked child

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _answer(
    work: Callable[[], Any], sending: Any, parents_ends: tuple[Any, ...], parent: int
) -> None:
    """The child: do `work` and send its answer (or why it failed)."""
    _orphan_proof(parents_ends, parent)
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


Q = TypeVar("Q")
A = TypeVar("A")

_STOP = None
"""Sent to a `ForkedWorker`'s child: no more requests."""


class ForkedWorker(Generic[Q, A]):
    """``handle(request)`` for every request sent, in one forked child, its answers back in the
    order of the requests (see the module docstring: a closure over what this process has;
    requests and answers are pickled). ``setup()`` runs first in the child (e.g. its own
    connections). `close` it when done (a ``with`` block does)."""

    def __init__(self, handle: Callable[[Q], A], setup: Callable[[], None] | None = None) -> None:
        context = _context()
        self._answers, answering = context.Pipe(duplex=False)
        asked, self._requests = context.Pipe(duplex=False)
        self._process = _start(
            context,
            _serve,
            (handle, setup, (asked, answering)),
            (asked, answering),
            (self._answers, self._requests),
        )
        self.pending = 0
        """Requests sent whose answer was not taken yet."""

    def send(self, request: Q) -> None:
        """Ask the child to handle `request`; `ForkFailed` when it is gone."""
        try:
            self._requests.send(request)
        except OSError as exc:
            raise ForkFailed(self._gone()) from exc
        self.pending += 1

    def ready(self) -> bool:
        """Whether an answer is waiting (never waits)."""
        return self.pending > 0 and self._answers.poll(0)

    def answer(self) -> A:
        """The answer to the oldest request not answered yet (waiting for it); `ForkFailed`
        when the child failed on it or is gone."""
        try:
            status, value = self._answers.recv()
        except (EOFError, OSError) as exc:
            raise ForkFailed(self._gone()) from exc
        self.pending -= 1
        if status != _OK:
            raise ForkFailed(str(value))
        answer: A = value
        return answer

    def _gone(self) -> str:
        self._process.join(timeout=1.0)
        return f"the child process ended (exit code {self._process.exitcode})"

    def close(self) -> None:
        """Tell the child to stop, stop it if it does not, and wait for it."""
        with contextlib.suppress(OSError):
            self._requests.send(_STOP)
        self._requests.close()
        self._process.join(timeout=0.5)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._answers.close()

    def __enter__(self) -> ForkedWorker[Q, A]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _serve(
    handle: Callable[[Any], Any],
    setup: Callable[[], None] | None,
    ends: tuple[Any, Any],
    parents_ends: tuple[Any, ...],
    parent: int,
) -> None:
    """The child of a `ForkedWorker`: set up, then answer each request (on `ends`: where they
    are asked, where they are answered) until told to stop."""
    _orphan_proof(parents_ends, parent)
    asked, answering = ends
    try:
        if setup is not None:
            setup()
        ready: str | None = None
    except BaseException as exc:
        ready = f"{type(exc).__name__}: {exc}"
    while True:
        try:
            request = asked.recv()
        except (EOFError, OSError):
            return
        if request is _STOP:
            return
        if ready is not None:
            answer: tuple[str, Any] = (_FAILED, f"setting up failed: {ready}")
        else:
            try:
                answer = (_OK, handle(request))
            except BaseException as exc:
                answer = (_FAILED, f"{type(exc).__name__}: {exc}")
        try:
            answering.send(answer)
        except OSError:  # the parent is gone
            return
        except Exception as exc:  # an answer that cannot be pickled
            with contextlib.suppress(OSError):
                answering.send((_FAILED, f"the answer could not be sent: {type(exc).__name__}"))
