"""Reading pages ahead in a thread (`connector.source.readahead`)."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator

import pytest

from connector.errors import SourceUnavailable
from connector.source.readahead import read_ahead

WAIT_S = 10.0
"""A safety bound on waiting for the reading thread (never reached when the code is right)."""


class Listing:
    """A listing of `count` pages that records how far it was read and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced = 0
        self.consumed = 0
        self.most_ahead = 0
        self.closed = threading.Event()
        self.thread: str | None = None
        self.changed = threading.Condition()

    def pages(self) -> Iterator[int]:
        self.thread = threading.current_thread().name
        try:
            for number in range(1, self.count + 1):
                if number == self.fail_at:
                    raise SourceUnavailable(f"page {number}: the source is down")
                with self.changed:
                    self.produced = number
                    self.most_ahead = max(self.most_ahead, number - self.consumed)
                    self.changed.notify_all()
                yield number
        finally:
            self.closed.set()

    def wait_produced(self, at_least: int) -> None:
        with self.changed:
            self.changed.wait_for(lambda: self.produced >= at_least, timeout=WAIT_S)


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_pages_arrive_in_order_and_never_more_than_depth_plus_one_ahead(depth: int) -> None:
    """Every page comes once, in order, and the reader holds at most `depth` + 1 pages the
    caller has not taken (memory stays flat)."""
    listing = Listing(12)
    got: list[int] = []
    with read_ahead(listing.pages(), depth) as pages:
        for page in pages:
            listing.consumed = page
            got.append(page)
            # Let the reader go as far as it can before taking the next page.
            listing.wait_produced(min(page + depth + 1, listing.count))
    assert got == list(range(1, 13))
    assert listing.most_ahead == depth + 1
    assert listing.thread == "page-reader"


def test_an_error_of_the_listing_is_raised_after_the_pages_before_it() -> None:
    """The listing's own exception reaches the caller where its page would have been."""
    listing = Listing(6, fail_at=4)
    got: list[int] = []
    with pytest.raises(SourceUnavailable, match="page 4"), read_ahead(listing.pages(), 1) as pages:
        got.extend(pages)
    assert got == [1, 2, 3]
    assert listing.closed.wait(WAIT_S)


def test_a_caller_that_stops_early_stops_the_reader() -> None:
    """An error in the caller ends the reading thread and closes the listing."""
    listing = Listing(1000)
    with pytest.raises(RuntimeError, match="disk full"), read_ahead(listing.pages(), 1) as pages:
        for page in pages:
            if page == 2:
                raise RuntimeError("disk full")
    assert listing.closed.wait(WAIT_S)
    assert listing.produced < 10
    assert not any(t.name == "page-reader" and t.is_alive() for t in threading.enumerate())


def test_the_reader_keeps_the_callers_context() -> None:
    """Log fields bound in the caller's context (the run id) are seen by the reading thread."""
    run_id: contextvars.ContextVar[str] = contextvars.ContextVar("run_id", default="")
    run_id.set("run-42")
    seen: list[str] = []

    def pages() -> Iterator[int]:
        seen.append(run_id.get())
        yield 1

    with read_ahead(pages(), 1) as read:
        assert list(read) == [1]
    assert seen == ["run-42"]


def test_depth_zero_reads_in_the_callers_thread() -> None:
    """With no read-ahead the listing is read in the caller's thread, one page per request."""
    listing = Listing(3)
    with read_ahead(listing.pages(), 0) as pages:
        assert next(iter(pages)) == 1
        assert listing.produced == 1
        assert list(pages) == [2, 3]
    assert listing.thread == threading.current_thread().name
