"""The pull's garbage-collector setting (`connector.ops.collector`) is scoped: set inside,
the process's own setting back afterwards, nested and failing blocks included."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from connector.ops.collector import PULL_THRESHOLD, fewer_collections, with_fewer_collections


@pytest.fixture(autouse=True)
def _own_threshold() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(600, 9, 8)
    yield
    gc.set_threshold(*before)


def test_the_threshold_is_raised_inside_and_restored_after() -> None:
    """Inside the block the pull's threshold holds; afterwards the caller's, nothing frozen."""
    with fewer_collections():
        assert gc.get_threshold() == PULL_THRESHOLD
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (600, 9, 8)
    assert gc.get_freeze_count() == 0


def test_nested_and_failing_blocks_restore_the_outer_setting() -> None:
    """A nested block leaves the pull's threshold to the outer one; an error still restores."""

    @with_fewer_collections
    def inner() -> tuple[int, int, int]:
        return gc.get_threshold()

    with pytest.raises(RuntimeError), fewer_collections():
        assert inner() == PULL_THRESHOLD
        assert gc.get_threshold() == PULL_THRESHOLD
        raise RuntimeError("boom")
    assert gc.get_threshold() == (600, 9, 8)
    assert gc.get_freeze_count() == 0
