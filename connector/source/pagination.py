"""Paging through the task list: one class per style, all behind the `Paginator` protocol.

A paginator knows nothing about HTTP. It asks a `fetch` function for one `ListRequest` at a time
(the client turns it into a request from the mapping's template) and gets back a `ListResponse`
(items, total, next token or link, and the server's clock as known *before* the request was
sent). It yields `Page`s, each with a ``safe_cursor``: every record modified before that instant
has been yielded by this or an earlier page, so the caller may store it with the page.

Styles: ``offset`` (start + limit), ``keyset`` (offset addressing made safe for a live list, see
`KeysetPaginator`), ``page`` (page number), ``cursor`` (a next token in the answer) and ``link``
(an HTTP ``Link: <...>; rel="next"`` header).

One driver loop (`_drive`) does the paging for every style; a style only says which request
follows each answer (`next_request`) and which of its records to yield. Where a list ends is
decided the same way for every style (`_Listing`): an **empty page** ends
it, and so does a **short page** (fewer items than asked for) unless the answer's ``total`` says
more records follow; the cursor and link styles also end when no next token or link is given. A
``total`` never ends a listing early on its own: a server whose ``total`` disagrees with what was
read (the page length, or matches without soft-deleted records) is logged
(``source_total_mismatch``) and paging goes on until an empty or short page. Every style refuses
to read more than ``max_pages`` pages, and fails with `SourcePagingError` (exit 3) when the
server answers a request for the next page with the very page it answered before (it ignores
the paging parameters), or hands back a token or link it already gave.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import structlog

from connector.errors import ConfigError, Problem, SourceError, SourcePagingError

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


def _fingerprint(items: list[dict[str, Any]]) -> str:
    """A digest of a page's items (to notice the same page answered twice)."""
    text = json.dumps(items, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


class _Listing:
    """What every style shares: the page limit, where the list ends, repeated pages, totals."""

    def __init__(self, max_pages: int, limit: int) -> None:
        self.max_pages = max_pages
        self.limit = limit
        self.count = 0
        self.previous: str | None = None
        self.total_noted = False
        self.claimed_end: int | None = None  # a full page reached this total: was it the end?

    def tick(self) -> None:
        """Count one more request; past ``max_pages``: SourceError."""
        if self.count >= self.max_pages:
            raise SourceError(
                f"stopped after {self.max_pages} list pages without reaching the end of the "
                "list; raise sync.max_pages (or the mapping's pagination.max_pages) if the list "
                "is really that long"
            )
        self.count += 1

    def check_repeat(self, items: list[dict[str, Any]], *, forward: bool) -> None:
        """Fail when a request for a *later* position answers exactly the previous page.

        `forward` is False for a request that may legitimately read the same records again
        (keyset paging restarting a group); such an answer is only remembered.
        """
        if not items:
            self.previous = None
            return
        digest = _fingerprint(items)
        if forward and digest == self.previous:
            raise SourcePagingError(
                f"the source answered the request for page {self.count} with the same "
                f"{len(items)} records as the page before: it ignores the paging parameters, "
                "so the list would never end; nothing past the pages already stored was used "
                "and the cursor did not move past them (check the mapping's pagination, or ask "
                "the source's administrator)",
                page=self.count,
            )
        self.previous = digest

    def ended(self, got: int, total: int | None, read: int) -> bool:
        """Whether an answer of `got` items ends the list; `read` counts the records of the
        list up to the end of this answer (in the numbering `total` uses).

        Empty: the end. Short (fewer than asked for): the end, unless `total` says more follow.
        Full: never the end, whatever `total` says (a lying total must not lose records). A
        total that disagrees with what was read is logged once per listing.
        """
        if got and self.claimed_end is not None:
            self._mismatch(self.claimed_end, read, "records kept coming after the total")
        self.claimed_end = None
        if got == 0 or got < self.limit:
            if got and total is not None and total > read:
                return False  # a short page, but the total says more follow: ask again
            if total is not None and total != read:
                self._mismatch(total, read, "the list ended elsewhere than the total said")
            return True
        if total is not None and total <= read:
            self.claimed_end = total
        return False

    def _mismatch(self, total: int, read: int, what: str) -> None:
        if self.total_noted:
            return
        self.total_noted = True
        log.warning("source_total_mismatch", total=total, read=read, page=self.count, what=what)


def _later(*instants: datetime | None) -> datetime | None:
    """The latest of the instants given (None when none is)."""
    known = [i for i in instants if i is not None]
    return max(known) if known else None


# -- one driver loop, one `next_request` per style ------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What a style makes of one answer: the request for the page after it, and what to yield."""

    following: ListRequest | None
    """The next request; None when the style itself sees the end (no token or link, horizon)."""
    records: list[dict[str, Any]]
    """The records of this answer to yield (keyset paging drops the overlap and those seen)."""
    position: tuple[int, int] | None = None
    """(items that count, records of the list read up to this answer's end) for the shared
    end-of-listing rule (`_Listing.ended`); None for styles that end where the links do."""
    again: bool = False
    """The answer is not used: the following request reads the same records again (a keyset
    group that shifted); it is not checked for being the page before."""


class _Walk(Protocol):
    """One listing of one style: its first request, then the request after each answer."""

    first: ListRequest

    def next_request(self, response: ListResponse) -> Step: ...

    def safe_cursor(self, done: bool, first: ListResponse) -> datetime | None: ...


def _drive(walk: _Walk, fetch: Fetch, limit: int, max_pages: int) -> Iterator[Page]:
    """The paging loop every style shares: page limit, repeated pages, where the list ends."""
    listing = _Listing(max_pages, limit)
    request, forward, number = walk.first, True, 0
    first: ListResponse | None = None
    while True:
        listing.tick()
        response = fetch(request)
        first = first or response
        step = walk.next_request(response)
        listing.check_repeat(response.items, forward=forward)
        forward = not step.again
        if step.again:
            assert step.following is not None
            request = step.following
            continue
        ended = False
        if step.position is not None:
            got, read = step.position
            ended = listing.ended(got, response.total, read)
        done = ended or step.following is None
        if step.records or done:
            number += 1
            yield Page(list(step.records), number, first.total, walk.safe_cursor(done, first))
        if done or step.following is None:
            return
        request = step.following


class _Stable:
    """A listing that, when `stable`, is a snapshot: once finished, the cursor may move to the
    server clock before its first request."""

    def __init__(self, first: ListRequest, stable: bool) -> None:
        self.first, self.stable = first, stable

    def safe_cursor(self, done: bool, first: ListResponse) -> datetime | None:
        return first.server_time_before if done and self.stable else None


class _Numbered(_Stable):
    """Offset or page-number addressing: the next request counts on from this one."""

    def __init__(self, first: ListRequest, stable: bool, *, by_page: bool) -> None:
        super().__init__(first, stable)
        self.by_page, self.read, self.request = by_page, 0, first

    def next_request(self, response: ListResponse) -> Step:
        got = len(response.items)
        self.read += got
        if self.by_page:
            following = replace(self.request, page=(self.request.page or 0) + 1)
        else:
            following = replace(self.request, offset=self.read)
        self.request = following
        return Step(following, response.items, position=(got, self.read))


class _Linked(_Stable):
    """A next token (cursor style) or next link (link style) in each answer."""

    def __init__(self, first: ListRequest, stable: bool, *, link: bool) -> None:
        super().__init__(first, stable)
        self.link = link
        self.given: set[str] = set()

    def next_request(self, response: ListResponse) -> Step:
        nxt = (response.next_url if self.link else response.next_token) or None
        if nxt is not None and nxt in self.given:
            what = "a next-page link" if self.link else f"the page token {nxt[:40]!r}"
            raise SourcePagingError(
                f"the source repeated {what}; the list would never end (a bug at the source); "
                "nothing past the pages already read was used",
                page=len(self.given) + 1,
            )
        following = None
        if nxt is not None and response.items:
            self.given.add(nxt)
            following = (
                replace(self.first, next_url=nxt) if self.link else replace(self.first, cursor=nxt)
            )
        return Step(following, response.items)


@dataclass
class OffsetPaginator:
    """``start``/``limit`` paging. On a live list, offsets shift: use `KeysetPaginator` there."""

    limit: int
    max_pages: int
    stable: bool = False

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        first = ListRequest(modified_from=modified_from, offset=0, limit=self.limit)
        walk = _Numbered(first, self.stable, by_page=False)
        return _drive(walk, fetch, self.limit, self.max_pages)


@dataclass
class PagePaginator:
    """Page-number paging (``page = 1, 2, ...``)."""

    limit: int
    max_pages: int
    first_page: int = 1
    stable: bool = False

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        first = ListRequest(modified_from=modified_from, page=self.first_page, limit=self.limit)
        walk = _Numbered(first, self.stable, by_page=True)
        return _drive(walk, fetch, self.limit, self.max_pages)


@dataclass
class CursorPaginator:
    """A next-page token in the answer, sent back in the next request."""

    limit: int
    max_pages: int
    stable: bool = True

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        first = ListRequest(modified_from=modified_from, limit=self.limit)
        return _drive(_Linked(first, self.stable, link=False), fetch, self.limit, self.max_pages)


@dataclass
class LinkPaginator:
    """An HTTP ``Link`` header with ``rel="next"`` names the next page (RFC 8288)."""

    limit: int
    max_pages: int
    stable: bool = True

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        first = ListRequest(modified_from=modified_from, limit=self.limit)
        return _drive(_Linked(first, self.stable, link=True), fetch, self.limit, self.max_pages)


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

    The *horizon* is the server clock known before the first request (or `min_horizon`, the
    connector's clock, when that is later: a ``Date`` running behind must not end the listing
    after one page, run after run). A record modified before
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
    min_horizon: datetime | None = None
    """The connector's own clock at the start of the run: the horizon is the later of it and the
    server's clock, so a server clock running behind never ends the listing early."""

    def __post_init__(self) -> None:
        if self.limit < 2:
            raise ConfigError(
                [Problem("source.page_size", "keyset paging needs a page size of at least 2")]
            )

    def pages(self, fetch: Fetch, modified_from: datetime | None) -> Iterator[Page]:
        return _drive(_KeysetWalk(self, modified_from), fetch, self.limit, self.max_pages)


class _KeysetWalk:
    """One keyset listing (see `KeysetPaginator`)."""

    def __init__(self, paginator: KeysetPaginator, modified_from: datetime | None) -> None:
        self.p = paginator
        self.anchor = modified_from  # the client floors it to the precision of the filter
        self.pos = 0  # records of the anchor group already read, in server order
        self.expect: tuple[datetime, Hashable] | None = None  # the record at position pos - 1
        self.seen: set[Hashable] = set()  # ids yielded with the anchor instant
        self.unkeyed: set[str] = set()  # fingerprints of yielded items without a key
        self.horizon: datetime | None = None
        self.answered = False
        self.first = self._request()

    def _request(self) -> ListRequest:
        self.start = self.pos - 1 if self.expect is not None else self.pos
        return ListRequest(modified_from=self.anchor, offset=self.start, limit=self.p.limit)

    def next_request(self, response: ListResponse) -> Step:
        items, start = response.items, self.start
        if not self.answered:
            self.answered = True
            self.horizon = _later(response.server_time_before, self.p.min_horizon)
        body = items
        if self.expect is not None:
            head = self.p.key(items[0]) if items else None
            if head != self.expect:
                log.info(
                    "keyset_group_shifted",
                    anchor=self.anchor.isoformat() if self.anchor else None,
                    position=self.pos,
                )
                self.pos, self.expect = 0, None
                return Step(self._request(), [], again=True)
            body = items[1:]
        fresh = []
        for item in body:
            k = self.p.key(item)
            if k is None:
                # No key: it may come back as the next page's overlap. Yield it once.
                digest = _fingerprint([item])
                if digest in self.unkeyed:
                    continue
                self.unkeyed.add(digest)
            elif self.anchor is not None and k[0] == self.anchor and k[1] in self.seen:
                continue
            fresh.append(item)
        self.anchor, self.pos, self.expect, self.seen = self._advance(
            items, start, self.anchor, self.seen
        )
        past = self.horizon is not None and self.anchor is not None and self.anchor >= self.horizon
        following = None if past else self._request()
        return Step(following, fresh, position=(len(items) if body else 0, start + len(items)))

    def safe_cursor(self, done: bool, first: ListResponse) -> datetime | None:
        return self._cursor(self.anchor, self.horizon, done=done)

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
        keys = [self.p.key(item) for item in items]
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
