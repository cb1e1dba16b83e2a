"""Reading ahead: the next pages of a listing are fetched (and their JSON parsed) in a thread of
their own while the caller writes the current one.

`read_ahead(pages, depth)` runs the page iterator in one thread and hands its pages over a queue
of `depth` pages, so at most ``depth + 2`` pages are in memory at once (the one being written,
the ones waiting, the one being fetched): memory stays flat whatever the size of the listing.
Only the fetching goes ahead; everything that decides what is stored (normalising, writing, the
cursor) stays in the caller's thread, in the listing's order, so the cursor still only moves
after the page it covers is committed, and a crash loses at most the pages in flight, none of
them committed.

An error of the listing (`SourceUnavailable`, `AuthError`...) is raised to the caller where the
page it stopped would have been, the same exception object, after the pages read before it. When
the caller stops early (its own error, an interrupt, a `break`), the reader is told to stop: it
reads no further page, and the caller waits for it at most `join_s` seconds (a request in
flight ends on its own timeout; the thread is a daemon that touches nothing but the listing).

The thread runs in a copy of the caller's context, so its log events keep the run's bound
fields (`structlog.contextvars`).
"""

from __future__ import annotations

import contextlib
import contextvars
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from connector.ops.signals import signals_blocked

T = TypeVar("T")

_POLL_S = 0.05
"""How often a reader waiting for room in the queue looks whether it was told to stop."""


@dataclass(frozen=True)
class _Failed:
    """The listing raised this: re-raised to the caller in its turn."""

    error: BaseException


class _End:
    """The listing ended."""


_END = _End()


class _Reader(Generic[T]):
    """The reading thread and its queue (`read_ahead`)."""

    def __init__(self, pages: Iterator[T], depth: int) -> None:
        self._pages = pages
        self._queue: queue.Queue[T | _Failed | _End] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="page-reader", daemon=True
        )

    def start(self) -> None:
        with signals_blocked():  # an interrupt is raised after the start, never inside it
            self._thread.start()

    def _put(self, item: T | _Failed | _End) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL_S)
            except queue.Full:
                continue
            return True
        return False

    def _run(self) -> None:
        try:
            for page in self._pages:
                if self._stop.is_set() or not self._put(page):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the caller, raised there
            self._put(_Failed(exc))
        finally:
            close = getattr(self._pages, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item

    def stop(self, join_s: float) -> None:
        self._stop.set()
        while True:  # free a reader blocked on a full queue
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=join_s)


@contextlib.contextmanager
def read_ahead(pages: Iterator[T], depth: int, *, join_s: float = 5.0) -> Iterator[Iterator[T]]:
    """`pages`, read `depth` pages ahead in a thread (see the module docstring); with `depth`
    0, `pages` itself, read in the caller's thread as it asks for each."""
    if depth <= 0:
        yield pages
        return
    reader = _Reader(pages, depth)
    try:
        reader.start()  # an interrupt raised right after the start stops the reader too
        yield iter(reader)
    finally:
        reader.stop(join_s)
