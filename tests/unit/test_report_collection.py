"""A report reads, judges and counts its tasks with Python's cyclic garbage collector paused
(`connector.ops.collector.collection_paused`: each batch of rows read set it off again and
again), and leaves it as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from connector.ops.collector import collection_paused


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    """Whatever a test does, the collector is as it was afterwards."""
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_the_collector_is_paused_inside_and_runs_again_after() -> None:
    """Inside the block the collector does not run; after it, it runs again."""
    gc.enable()
    with collection_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_failing_report_still_sets_the_collector_going_again() -> None:
    """An error inside the block leaves the collector running, as it was."""
    gc.enable()
    with pytest.raises(RuntimeError, match="boom"), collection_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_collector_paused_by_the_caller_stays_paused() -> None:
    """A caller that had paused the collector itself finds it still paused."""
    gc.disable()
    with collection_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
