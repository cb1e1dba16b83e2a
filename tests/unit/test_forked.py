"""`connector.ops.forked`: work done in a forked child comes back as its answer; a child that
raises or dies is `ForkFailed`, never a hang or a lost error; no fork beside another thread."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from connector.ops.forked import Forked, ForkedWorker, ForkFailed, can_fork

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs Linux, two CPUs and one thread")


def test_the_childs_answer_comes_back() -> None:
    """The child's work sees this process's memory and its answer is returned pickled."""
    here = {"tasks": [1, 2, 3]}
    with Forked(lambda: (os.getpid(), sum(here["tasks"]))) as child:
        pid, total = child.result()
    assert total == 6
    assert pid != os.getpid()


def test_an_error_in_the_child_is_fork_failed_with_its_message() -> None:
    """An exception raised by the work is `ForkFailed` naming the exception and its message."""

    def fails() -> int:
        raise ValueError("task 7: no such unit")

    with (
        Forked(fails) as child,
        pytest.raises(ForkFailed, match="ValueError: task 7: no such unit"),
    ):
        child.result()


def test_a_child_that_dies_is_fork_failed_with_its_exit_code() -> None:
    """A child that ends without answering is `ForkFailed` with its exit code, not a hang."""
    with Forked(lambda: os._exit(3)) as child, pytest.raises(ForkFailed, match="exit code 3"):
        child.result()


def test_an_answer_that_cannot_be_pickled_is_fork_failed() -> None:
    """An answer pickle refuses is `ForkFailed` saying so."""
    with Forked(threading.Lock) as child, pytest.raises(ForkFailed, match="not be sent"):
        child.result()


def test_a_child_still_working_is_stopped_on_close() -> None:
    """Closing before the answer stops the child (the parent no longer wants it)."""
    gate = threading.Event()
    child = Forked(gate.wait)  # never set in the child: it would wait forever
    child.close()
    assert not child._process.is_alive()


def test_no_fork_beside_another_thread() -> None:
    """While another thread runs, `can_fork` is false (a fork would copy its held locks)."""
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        other.join()
    assert can_fork()


# -- ForkedWorker: one child, many requests ------------------------------------------------------


def test_a_worker_answers_each_request_in_order() -> None:
    """Requests sent before any answer is taken come back in their order, from one child
    that sees this process's memory; `ready` never waits."""
    offset = {"value": 100}
    with ForkedWorker(lambda n: (os.getpid(), n + offset["value"])) as worker:
        assert not worker.ready()
        for n in range(5):
            worker.send(n)
        assert worker.pending == 5
        answers = [worker.answer() for _ in range(5)]
        assert worker.pending == 0
    assert [n for _, n in answers] == [100, 101, 102, 103, 104]
    assert len({pid for pid, _ in answers}) == 1
    assert answers[0][0] != os.getpid()


def test_a_request_that_fails_is_fork_failed_and_the_next_is_answered() -> None:
    """An exception on one request is `ForkFailed` with its message for that request only."""

    def handle(n: int) -> int:
        if n == 2:
            raise ValueError("task 2: no such unit")
        return n * 10

    with ForkedWorker(handle) as worker:
        for n in (1, 2, 3):
            worker.send(n)
        assert worker.answer() == 10
        with pytest.raises(ForkFailed, match="ValueError: task 2: no such unit"):
            worker.answer()
        assert worker.answer() == 30


def test_setup_runs_first_in_the_child_and_its_failure_fails_every_request() -> None:
    """`setup` runs once in the child before any request (here: not in this process); when it
    raises, each request is `ForkFailed` saying so."""
    seen: list[int] = []
    with ForkedWorker(lambda _: list(seen), lambda: seen.append(os.getpid())) as worker:
        worker.send(0)
        (pid,) = worker.answer()
    assert pid != os.getpid() and seen == []

    def broken() -> None:
        raise RuntimeError("no ledger")

    with ForkedWorker(lambda n: n, broken) as worker:
        worker.send(1)
        with pytest.raises(ForkFailed, match="setting up failed: RuntimeError: no ledger"):
            worker.answer()


def test_a_worker_that_dies_is_fork_failed_not_a_hang() -> None:
    """A child that exits while handling a request is `ForkFailed` with its exit code; sending
    to it afterwards is `ForkFailed` too."""
    with ForkedWorker(lambda _: os._exit(4)) as worker:
        worker.send(1)
        with pytest.raises(ForkFailed, match="exit code 4"):
            worker.answer()
        with pytest.raises(ForkFailed):
            for _ in range(1000):  # the pipe's buffer takes a few before the send fails
                worker.send(list(range(1000)))


def test_closing_a_worker_stops_its_child() -> None:
    """`close` ends the child even when it is busy (terminated after a short wait)."""

    worker: ForkedWorker[float, None] = ForkedWorker(time.sleep)
    worker.send(60.0)
    pid = worker._process.pid
    assert pid is not None
    worker.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


_ORPHAN = """
import os, signal, sys, time
from connector.ops.forked import Forked, ForkedWorker
if sys.argv[1] == "worker":
    child = ForkedWorker(lambda n: time.sleep(n))
    child.send(60.0)
else:
    child = Forked(lambda: time.sleep(60.0))
print(child._process.pid, flush=True)
time.sleep(0.5)  # the child is at its work
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("kind", ["worker", "forked"])
def test_a_child_does_not_outlive_a_killed_parent(kind: str) -> None:
    """A parent killed with SIGKILL (no clean-up) takes its child along: no process is left
    holding the command's output or the ledger."""
    proc = subprocess.run(
        [sys.executable, "-c", _ORPHAN, kind],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    pid = int(proc.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    raise AssertionError(f"the child {pid} outlived its parent")
