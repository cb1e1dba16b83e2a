"""`connector.ops.forked`: work done in a forked child comes back as its answer; a child that
raises or dies is `ForkFailed`, never a hang or a lost error; no fork beside another thread."""

from __future__ import annotations

import os
import threading

import pytest

from connector.ops.forked import Forked, ForkFailed, can_fork

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
