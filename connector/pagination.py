"""Paging through the task list: one class per style, all behind the `Paginator` protocol.

A paginator knows nothing about HTTP. It asks a `fetch` function for one `ListRequest` at a time
(the client turns it into a request from the mapping's template) and gets back a `ListResponse`
(items, total, next token or link, and the server's clock as known *before* the request was
sent). It yields `Page`s, each with a ``safe_cursor``: every record modified before that instant
has been yielded by this or an earlier page, so the caller may store it with the page.

Styles: ``offset`` (start + limit), ``keyset`` (offset addressing made safe for a live list, see
`KeysetPaginator`), ``page`` (page number), ``cursor`` (a next token in the answer) and ``link``
(an HTTP ``Link: <...>; rel="next"`` header). Each stops on an empty page or when the total is
reached, refuses to read more than ``max_pages`` pages, and fails with `SourceError` when the
server hands back a token or link it already gave.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog

from connector.errors import ConfigError, Problem, SourceError

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Page:
    """One page of records, and the cursor it makes safe to store with it.

    ``total`` is what the first answer of the run said matched (for progress), or None.
    ``records`` may be empty on the last page: it then only carries the final ``safe_cursor``.
    ``safe_cursor`` is None when this page does not let the cursor move.
    """

    records: list[dict[str, Any]]
    number: int
    total: int | None
    safe_cursor: datetime | None


@dataclass(frozen=True)
class ListRequest:
    """What the paginator wants next; the client fills the mapping's template with it."""

    modified_from: datetime | None = None
    offset: int | None = None
    limit: int | None = None
    page: int | None = None
    cursor: str | None = None
    next_url: str | None = None


@dataclass(frozen=True)
class ListResponse:
    """One answer of the list endpoint, already taken apart by the client."""

    items: list[dict[str, Any]]
    total: int | None = None
    next_token: str | None = None
    next_url: str | None = None
    server_time_before: datetime | None = None


Fetch = Callable[[ListRequest], ListResponse]
RecordKey = Callable[[dict[str, Any]], tuple[datetime, Hashable] | None]
"""(modification instant, id) of a list item, or None when the item lacks either."""


class Paginator(Protocol):
    """Reads the whole list (from `modified_from`, or everything) page by page."""

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]: ...


class _Counter:
    """Counts requests against the page limit."""

    def __init__(self, max_pages: int) -> None:
        self.max_pages = max_pages
        self.count = 0

    def tick(self) -> None:
        if self.count >= self.max_pages:
            raise SourceError(
                f"stopped after {self.max_pages} list pages without reaching the end of the "
                "list; raise sync.max_pages (or the mapping's pagination.max_pages) if the list "
                "is really that long"
            )
        self.count += 1


def _final_cursor(stable: bool, first: ListResponse | None) -> datetime | None:
    """The cursor a finished listing makes safe: the server clock before the first request."""
    if not stable or first is None:
        return None
    return first.server_time_before


@dataclass
class OffsetPaginator:
    """``start``/``limit`` paging. On a live list, offsets shift: use `KeysetPaginator` there."""

    limit: int
    max_pages: int
    stable: bool = False

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        counter, offset, number = _Counter(self.max_pages), 0, 0
        first: ListResponse | None = None
        while True:
            counter.tick()
            resp = fetch(ListRequest(modified_from=modified_from, offset=offset, limit=self.limit))
            first = first or resp
            offset += len(resp.items)
            done = not resp.items or (resp.total is not None and offset >= resp.total)
            number += 1
            cursor = _final_cursor(self.stable, first) if done else None
            yield Page(list(resp.items), number, first.total, cursor)
            if done:
                return


@dataclass
class PagePaginator:
    """Page-number paging (``page = 1, 2, ...``)."""

    limit: int
    max_pages: int
    first_page: int = 1
    stable: bool = False

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        counter, page, seen, number = _Counter(self.max_pages), self.first_page, 0, 0
        first: ListResponse | None = None
        while True:
            counter.tick()
            resp = fetch(ListRequest(modified_from=modified_from, page=page, limit=self.limit))
            first = first or resp
            seen += len(resp.items)
            done = not resp.items or (resp.total is not None and seen >= resp.total)
            number += 1
            cursor = _final_cursor(self.stable, first) if done else None
            yield Page(list(resp.items), number, first.total, cursor)
            if done:
                return
            page += 1


@dataclass
class CursorPaginator:
    """A next-page token in the answer, sent back in the next request."""

    limit: int
    max_pages: int
    stable: bool = True

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        counter, token, number = _Counter(self.max_pages), None, 0
        given: set[str] = set()
        first: ListResponse | None = None
        while True:
            counter.tick()
            resp = fetch(ListRequest(modified_from=modified_from, cursor=token, limit=self.limit))
            first = first or resp
            token = resp.next_token or None
            done = not resp.items or token is None
            if token is not None and token in given:
                raise SourceError(
                    f"the source repeated the page token {token[:40]!r}; the list would never "
                    "end (a bug at the source); nothing past the pages already read was used"
                )
            if token is not None:
                given.add(token)
            number += 1
            cursor = _final_cursor(self.stable, first) if done else None
            yield Page(list(resp.items), number, first.total, cursor)
            if done:
                return


@dataclass
class LinkPaginator:
    """An HTTP ``Link`` header with ``rel="next"`` names the next page (RFC 8288)."""

    limit: int
    max_pages: int
    stable: bool = True

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        counter, number = _Counter(self.max_pages), 0
        request = ListRequest(modified_from=modified_from, limit=self.limit)
        given: set[str] = set()
        first: ListResponse | None = None
        while True:
            counter.tick()
            resp = fetch(request)
            first = first or resp
            link = resp.next_url or None
            done = not resp.items or link is None
            if link is not None and link in given:
                raise SourceError(
                    "the source repeated a next-page link; the list would never end "
                    "(a bug at the source)"
                )
            if link is not None:
                given.add(link)
                request = ListRequest(modified_from=modified_from, limit=self.limit, next_url=link)
            number += 1
            cursor = _final_cursor(self.stable, first) if done else None
            yield Page(list(resp.items), number, first.total, cursor)
            if done:
                return


@dataclass
class KeysetPaginator:
    """Offset addressing made safe for a live list ordered by (modified, id) ascending.

    Deep offsets lose records on a live list: a task modified while we page moves to the end and
    every later offset shifts by one. Instead each request asks for ``modifiedFrom = anchor`` (the
    last instant seen) and an offset only *within the group of records sharing that instant*
    (timestamps have one-second precision, so the group can outgrow a page). Each request
    overlaps the previous page by one record: when the record expected first is not first, the
    group shifted, and it is read again from its start, records already seen being skipped by id.
    Nothing is lost; a record modified meanwhile comes back at the end with its new instant.

    The *horizon* is the server clock known before the first request. A record modified before
    it existed when the listing began, so its group can only shrink (records leave it for the
    end), never grow: restarts are bounded. Records modified during the listing (at or after the
    horizon) belong to the next run: paging stops once the anchor reaches the horizon, so a busy
    source is never chased forever.

    ``safe_cursor`` of a page is min(anchor, horizon): every older record was read. The last
    page carries the horizon (or the anchor when the source sent no clock).
    """

    limit: int
    max_pages: int
    key: RecordKey

    def __post_init__(self) -> None:
        if self.limit < 2:
            raise ConfigError(
                [Problem("source.page_size", "keyset paging needs a page size of at least 2")]
            )

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        counter = _Counter(self.max_pages)
        anchor = modified_from  # the client floors it to the precision of the filter
        pos = 0  # records of the anchor group already read, in server order
        expect: tuple[datetime, Hashable] | None = None  # the record at position pos - 1
        seen: set[Hashable] = set()  # ids yielded with the anchor instant
        number, total, horizon = 0, None, None
        first = True
        while True:
            counter.tick()
            start = pos - 1 if expect is not None else pos
            resp = fetch(ListRequest(modified_from=anchor, offset=start, limit=self.limit))
            if first:
                total, horizon, first = resp.total, resp.server_time_before, False
            items = resp.items
            body = items
            if expect is not None:
                head = self.key(items[0]) if items else None
                if head != expect:
                    log.info(
                        "keyset_group_shifted",
                        anchor=anchor.isoformat() if anchor else None,
                        position=pos,
                    )
                    pos, expect = 0, None
                    continue
                body = items[1:]
            fresh = []
            for item in body:
                k = self.key(item)
                if k is not None and anchor is not None and k[0] == anchor and k[1] in seen:
                    continue
                fresh.append(item)
            anchor, pos, expect, seen = self._advance(items, start, anchor, seen)
            done = (
                not body
                or (resp.total is not None and start + len(items) >= resp.total)
                or (horizon is not None and anchor is not None and anchor >= horizon)
            )
            cursor = self._cursor(anchor, horizon, done=done)
            if fresh or done:
                number += 1
                yield Page(fresh, number, total, cursor)
            if done:
                return

    @staticmethod
    def _cursor(
        anchor: datetime | None, horizon: datetime | None, *, done: bool
    ) -> datetime | None:
        if horizon is None:
            return anchor
        if done or anchor is None:
            return horizon if done else None
        return min(anchor, horizon)

    def _advance(
        self,
        items: list[dict[str, Any]],
        start: int,
        anchor: datetime | None,
        seen: set[Hashable],
    ) -> tuple[datetime | None, int, tuple[datetime, Hashable] | None, set[Hashable]]:
        """The new (anchor, position in its group, expected overlap record, ids seen)."""
        keys = [self.key(item) for item in items]
        last = next((i for i in range(len(keys) - 1, -1, -1) if keys[i] is not None), None)
        if last is None:
            # No usable key: keep counting plain positions (no overlap check possible).
            return anchor, start + len(items), None, seen
        last_key = keys[last]
        assert last_key is not None
        if anchor is not None and last_key[0] < anchor:
            raise SourceError(
                "the source answered records modified before the modified-from filter; it does "
                "not honour the filter, so keyset paging cannot be used (check the mapping)"
            )
        if anchor is not None and last_key[0] == anchor:
            ids = {k[1] for k in keys[: last + 1] if k is not None and k[0] == anchor}
            return anchor, start + last + 1, last_key, seen | ids
        # A new anchor: count the run of records sharing its instant at the end of the page. An
        # item without a key ends the run early; undercounting only costs a re-read.
        run: set[Hashable] = set()
        count = 0
        for k in reversed(keys[: last + 1]):
            if k is None or k[0] != last_key[0]:
                break
            run.add(k[1])
            count += 1
        return last_key[0], count, last_key, run
