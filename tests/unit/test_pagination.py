"""Paging: every style stops and fails cleanly; keyset paging loses nothing on a live list."""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from connector.errors import ConfigError, SourceError, SourcePagingError
from connector.source.pagination import (
    CursorPaginator,
    KeysetPaginator,
    LinkPaginator,
    ListRequest,
    ListResponse,
    OffsetPaginator,
    Page,
    PagePaginator,
)

T0 = datetime(2022, 3, 1, tzinfo=UTC)


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


def key_of(item: dict[str, Any]) -> tuple[datetime, Hashable] | None:
    """(lastModifyStr, id) of a fake item, as the client derives it from the mapping."""
    if "id" not in item or "lastModifyStr" not in item:
        return None
    return datetime.fromisoformat(item["lastModifyStr"]), item["id"]


@dataclass
class LiveList:
    """The contract's search in memory: ordered by (modified, id), evaluated afresh per call.

    Before each call and *after* evaluating it (same second, before the Date is stamped) random
    tasks may be modified: they take the current second and move to the end, as on the server.
    """

    modified: dict[int, int]  # id -> second
    rng: random.Random
    now: int = 0
    rate: float = 0.0
    burst: int = 3
    tick: float = 0.5
    last_date: datetime | None = None
    calls: list[ListRequest] = field(default_factory=list)
    next_id: int = 1_000_000

    def mutate(self) -> None:
        if self.modified and self.rng.random() < self.rate:
            for _ in range(self.rng.randint(1, self.burst)):
                roll = self.rng.random()
                if roll < 0.15:  # a new task appears
                    self.modified[self.next_id] = self.now
                    self.next_id += 1
                else:
                    task = self.rng.choice(list(self.modified))
                    self.modified[task] = self.now

    def select(self, since: datetime | None) -> list[tuple[int, int]]:
        rows = sorted((second, task) for task, second in self.modified.items())
        if since is not None:
            rows = [(s, t) for s, t in rows if at(s) >= since]
        return rows

    def __post_init__(self) -> None:
        self.last_date = at(self.now)  # the login answer's Date, before the first page

    def fetch(self, req: ListRequest) -> ListResponse:
        self.calls.append(req)
        before = self.last_date
        if self.rng.random() < self.tick:
            self.now += 1
        self.mutate()
        rows = self.select(req.modified_from)
        start, limit = req.offset or 0, req.limit or 10
        page = rows[start : start + limit]
        self.mutate()  # after evaluation, within the same second
        self.last_date = at(self.now)
        items = [{"id": t, "lastModifyStr": at(s).isoformat()} for s, t in page]
        return ListResponse(items=items, total=len(rows), server_time_before=before)

    def versions(self) -> set[tuple[int, datetime]]:
        return {(t, at(s)) for t, s in self.modified.items()}


def drain(
    pages: Any,
    live: LiveList,
    check: Callable[[Page, set[tuple[int, datetime]]], None] | None = None,
) -> tuple[list[Page], list[tuple[int, datetime]]]:
    got: list[Page] = []
    yielded: list[tuple[int, datetime]] = []
    for page in pages:
        got.append(page)
        yielded.extend((r["id"], datetime.fromisoformat(r["lastModifyStr"])) for r in page.records)
        if check is not None:
            check(page, set(yielded))
    return got, yielded


def cursor_is_safe(
    live: LiveList, since: datetime | None = None
) -> Callable[[Page, set[tuple[int, datetime]]], None]:
    """Every version in the live list modified in [since, safe_cursor) has been yielded by now."""

    def check(page: Page, yielded: set[tuple[int, datetime]]) -> None:
        if page.safe_cursor is None:
            return
        low = since or at(-1)
        missing = {v for v in live.versions() if low <= v[1] < page.safe_cursor} - yielded
        assert not missing, f"page {page.number}: lost {sorted(missing)[:5]}"

    return check


# -- keyset: the live list ------------------------------------------------------------------------


def test_keyset_static_list_reads_everything_once() -> None:
    """Without changes, keyset paging yields each record exactly once, in order."""
    live = LiveList({i: i // 3 for i in range(50)}, random.Random(1), now=100, tick=0)
    pages, yielded = drain(KeysetPaginator(7, 1000, key_of).pages(live.fetch, None), live)
    assert [v[0] for v in yielded] == list(range(50))
    assert pages[-1].safe_cursor == at(100)  # the server clock before the last request
    assert all(p.safe_cursor is not None for p in pages)
    assert all(p.total == 50 for p in pages)


def test_keyset_requests_stay_within_the_tie_group() -> None:
    """Requests move modifiedFrom forward and keep offsets within the group sharing it."""
    live = LiveList({i: i // 7 for i in range(20)}, random.Random(2), now=50, tick=0)
    _, yielded = drain(KeysetPaginator(5, 1000, key_of).pages(live.fetch, at(0)), live)
    assert [(c.modified_from, c.offset) for c in live.calls] == [
        (at(0), 0),
        (at(0), 4),  # 5 of second 0 read: overlap the 5th
        (at(1), 1),  # page 2 ended on the 2nd record of second 1: overlap it
        (at(1), 5),
        (at(2), 2),  # the total (6 from second 2) is reached: no empty request
    ]
    assert [v[0] for v in yielded] == list(range(20))


def test_keyset_thousand_records_sharing_one_second() -> None:
    """1,000 records with one lastModifyStr span many pages; tasks move away meanwhile: 0 lost."""
    live = LiveList(dict.fromkeys(range(1000), 0), random.Random(3), now=10, rate=0.5, tick=0.3)
    pages, yielded = drain(
        KeysetPaginator(200, 10_000, key_of).pages(live.fetch, at(0)), live, cursor_is_safe(live)
    )
    moved = {task for task, second in live.modified.items() if second != 0}
    assert moved, "the scenario must modify tasks while paging"
    untouched = set(range(1000)) - moved
    ids = [v[0] for v in yielded]
    assert untouched <= set(ids), f"lost {sorted(untouched - set(ids))[:5]}"
    assert len(ids) == len(set(yielded)), "a version was yielded twice"
    assert len(pages) >= 5
    assert pages[-1].safe_cursor == at(10)  # the horizon: the next run starts there
    # Every modified task comes back in this run or is at/after the horizon (next run).
    for task in moved:
        assert (task, at(live.modified[task])) in set(yielded) or live.modified[task] >= 10


def test_keyset_shift_restarts_the_group_and_dedupes() -> None:
    """When the record expected first moved away, the group is read again; no repeats."""
    live = LiveList(dict.fromkeys(range(10), 0), random.Random(4), now=5, tick=0)
    original = live.fetch

    def fetch(req: ListRequest) -> ListResponse:
        if len(live.calls) == 1:  # between page 1 and page 2, task 3 is modified
            live.modified[3] = 5
        return original(req)

    _pages, yielded = drain(KeysetPaginator(4, 100, key_of).pages(fetch, at(0)), live)
    ids = [v[0] for v in yielded]
    assert sorted(set(ids)) == list(range(10))
    assert ids.count(3) == 2  # once at second 0, once at its new second 5
    assert (live.calls[2].modified_from, live.calls[2].offset) == (at(0), 0)  # restart


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    count=st.integers(0, 150),
    limit=st.integers(2, 40),
    spread=st.integers(1, 60),
    rate=st.floats(0, 1),
    tick=st.floats(0, 1),
    since=st.one_of(st.none(), st.integers(0, 30)),
)
def test_keyset_never_loses_a_record_property(
    seed: int, count: int, limit: int, spread: int, rate: float, tick: float, since: int | None
) -> None:
    """Random live lists mutating between (and during) calls: every page's cursor is safe and
    every record existing at the end is yielded in its final version unless the final cursor
    says it may be read next time."""
    rng = random.Random(seed)
    live = LiveList(
        {i: rng.randrange(spread) for i in range(count)}, rng, now=spread, rate=rate, tick=tick
    )
    start = at(since) if since is not None else None
    pages, yielded = drain(
        KeysetPaginator(limit, 100_000, key_of).pages(live.fetch, start),
        live,
        cursor_is_safe(live, start),
    )
    got = set(yielded)
    assert len(yielded) == len(got)
    final = pages[-1].safe_cursor
    assert final is not None
    for version in live.versions():
        if start is None or version[1] >= start:
            assert version in got or version[1] >= final, f"lost {version}"


def test_plain_offsets_lose_records_on_a_live_list() -> None:
    """Why keyset exists: deep offsets skip a record when an earlier one moves to the end."""
    live = LiveList(dict.fromkeys(range(10), 0), random.Random(5), now=5, tick=0)
    original = live.fetch

    def fetch(req: ListRequest) -> ListResponse:
        if len(live.calls) == 1:
            live.modified[0] = 5
        return original(req)

    _, yielded = drain(OffsetPaginator(4, 100).pages(fetch, at(0)), live)
    assert 4 not in {v[0] for v in yielded}


def test_keyset_needs_two_records_per_page() -> None:
    """A page of one record leaves no room for the overlap: refused as configuration."""
    with pytest.raises(ConfigError):
        KeysetPaginator(1, 10, key_of)


def test_keyset_items_without_a_key_are_still_yielded() -> None:
    """Records without id or instant (bad records) are passed on for quarantine, not dropped."""
    items = [
        {"id": 1, "lastModifyStr": at(0).isoformat()},
        {"junk": True},
        {"id": 2, "lastModifyStr": at(1).isoformat()},
    ]
    calls: list[ListRequest] = []

    def fetch(req: ListRequest) -> ListResponse:
        calls.append(req)
        rows = [
            i for i in items if key_of(i) is None or key_of(i)[0] >= (req.modified_from or at(0))
        ]  # type: ignore[index]
        start = req.offset or 0
        return ListResponse(rows[start : start + (req.limit or 0)], total=len(rows))

    pages = list(KeysetPaginator(10, 10, key_of).pages(fetch, None))
    assert [r for p in pages for r in p.records] == items


def test_keyset_refuses_a_source_ignoring_the_filter() -> None:
    """Records older than modifiedFrom mean the filter is ignored: fail instead of looping."""

    def fetch(req: ListRequest) -> ListResponse:
        rows = [{"id": i, "lastModifyStr": at(i).isoformat()} for i in range(6)]
        start = req.offset or 0
        return ListResponse(rows[start : start + 3], total=6)

    with pytest.raises(SourceError, match="filter"):
        list(KeysetPaginator(3, 50, key_of).pages(fetch, at(4)))


def test_keyset_max_pages() -> None:
    """A list that never ends stops at max_pages with SourceError."""
    live = LiveList({i: i for i in range(100)}, random.Random(6), now=200, tick=0)
    with pytest.raises(SourceError, match="3 list pages"):
        list(KeysetPaginator(5, 3, key_of).pages(live.fetch, None))


# -- the other styles -----------------------------------------------------------------------------


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": i} for i in range(n)]


@pytest.mark.parametrize(
    ("count", "total", "expected_calls"),
    [
        pytest.param(10, 10, 3, id="short-page-total-agrees"),
        pytest.param(10, None, 3, id="short-page-no-total"),
        pytest.param(8, 8, 3, id="full-last-page-asks-once-more"),
        pytest.param(10, 4, 3, id="total-is-page-length-read-on"),
        pytest.param(10, 12, 4, id="short-page-but-total-says-more"),
    ],
)
def test_offset_stops(count: int, total: int | None, expected_calls: int) -> None:
    """Offset paging ends on an empty page, or a short one unless the total says more; a total
    never ends it early."""
    data = rows(count)
    calls: list[ListRequest] = []

    def fetch(req: ListRequest) -> ListResponse:
        calls.append(req)
        start = req.offset or 0
        return ListResponse(data[start : start + 4], total=total, server_time_before=at(9))

    pages = list(OffsetPaginator(4, 10).pages(fetch, None))
    assert [r["id"] for p in pages for r in p.records] == list(range(count))
    assert len(calls) == expected_calls
    assert [c.offset for c in calls][:3] == [0, 4, 8]
    assert all(p.safe_cursor is None for p in pages)  # not a snapshot: never moves the cursor


def test_offset_marked_stable_moves_cursor_at_the_end() -> None:
    """A listing the mapping declares stable moves the cursor to the clock before it began."""

    def fetch(req: ListRequest) -> ListResponse:
        start = req.offset or 0
        return ListResponse(rows(3)[start : start + 2], total=3, server_time_before=at(start))

    pages = list(OffsetPaginator(2, 10, stable=True).pages(fetch, None))
    assert [p.safe_cursor for p in pages] == [None, at(0)]


def test_page_numbers() -> None:
    """Page paging counts from first_page and stops when the total is read."""
    calls: list[ListRequest] = []

    def fetch(req: ListRequest) -> ListResponse:
        calls.append(req)
        first = (req.page or 0) * 3
        return ListResponse(rows(7)[first : first + 3], total=7)

    pages = list(PagePaginator(3, 10, first_page=0).pages(fetch, None))
    assert [c.page for c in calls] == [0, 1, 2]
    assert sum(len(p.records) for p in pages) == 7
    assert [p.number for p in pages] == [1, 2, 3]


def test_page_max_pages() -> None:
    """A page listing that never ends fails at max_pages."""

    def fetch(req: ListRequest) -> ListResponse:
        first = (req.page or 0) * 3
        return ListResponse([{"id": first + i} for i in range(3)])

    with pytest.raises(SourceError, match="2 list pages"):
        list(PagePaginator(3, 2).pages(fetch, None))


def test_cursor_tokens() -> None:
    """The cursor style sends back each token and stops when none is given."""
    tokens = {None: "a", "a": "b", "b": None}
    sent: list[str | None] = []

    def fetch(req: ListRequest) -> ListResponse:
        sent.append(req.cursor)
        items = [{"id": len(sent) * 10 + i} for i in range(2)]
        return ListResponse(items, next_token=tokens[req.cursor], server_time_before=at(len(sent)))

    pages = list(CursorPaginator(2, 10).pages(fetch, None))
    assert sent == [None, "a", "b"]
    assert [p.safe_cursor for p in pages] == [None, None, at(1)]


def test_cursor_repeated_token_fails() -> None:
    """A token given twice would loop forever: SourceError."""
    with pytest.raises(SourceError, match="repeated the page token"):
        list(
            CursorPaginator(2, 10).pages(lambda req: ListResponse(rows(2), next_token="same"), None)
        )


def test_cursor_empty_page_stops() -> None:
    """An empty page ends the cursor listing even when a token comes with it."""
    pages = list(CursorPaginator(2, 10).pages(lambda req: ListResponse([], next_token="x"), None))
    assert len(pages) == 1 and pages[0].records == []


def test_link_follows_next() -> None:
    """The link style requests exactly the next link it was given."""
    links = {
        None: "https://h/x?page=2",
        "https://h/x?page=2": "https://h/x?page=3",
        "https://h/x?page=3": None,
    }
    sent: list[str | None] = []

    def fetch(req: ListRequest) -> ListResponse:
        sent.append(req.next_url)
        return ListResponse([{"id": len(sent)}], next_url=links[req.next_url])

    assert len(list(LinkPaginator(5, 10).pages(fetch, None))) == 3
    assert sent == [None, "https://h/x?page=2", "https://h/x?page=3"]


def test_link_repeated_fails() -> None:
    """A next link given twice fails with SourceError."""
    with pytest.raises(SourceError, match="repeated a next-page link"):
        list(
            LinkPaginator(5, 10).pages(
                lambda req: ListResponse(rows(1), next_url="https://h/again"), None
            )
        )


# -- a hostile source: the same page again, items without a key, a clock running behind -----------


def _same_page(req: ListRequest) -> ListResponse:
    """A source that ignores every paging parameter: always the same first page."""
    return ListResponse(
        [{"id": i, "lastModifyStr": at(0).isoformat()} for i in range(4)],
        total=100,
        next_token=f"t{req.cursor or 0}1",
        next_url=f"https://h/x?after={req.next_url or ''}1",
    )


@pytest.mark.parametrize(
    "paginator",
    [
        pytest.param(OffsetPaginator(4, 1000), id="offset"),
        pytest.param(PagePaginator(4, 1000), id="page"),
        pytest.param(KeysetPaginator(4, 1000, key_of), id="keyset"),
        pytest.param(CursorPaginator(4, 1000), id="cursor"),
        pytest.param(LinkPaginator(4, 1000), id="link"),
    ],
)
def test_the_same_page_again_fails_at_the_second_request(paginator: Any) -> None:
    """Every style stops with SourcePagingError when the next page is the page before."""
    calls: list[ListRequest] = []

    def fetch(req: ListRequest) -> ListResponse:
        calls.append(req)
        return _same_page(req)

    with pytest.raises(SourcePagingError, match="same 4 records"):
        list(paginator.pages(fetch, None))
    assert len(calls) == 2


def test_keyset_item_without_a_key_at_a_page_end_is_yielded_once() -> None:
    """A keyless record that ends a page comes back as the next page's overlap: yielded once."""
    items = [{"id": i, "lastModifyStr": at(i).isoformat()} for i in range(1, 4)]
    items.insert(3, {"junk": "no key"})  # the 4th record, last of the first page
    items += [{"id": i, "lastModifyStr": at(i).isoformat()} for i in range(5, 9)]

    def fetch(req: ListRequest) -> ListResponse:
        rows = [i for i in items if key_of(i) is None or key_of(i)[0] >= (req.modified_from or at(0))]  # type: ignore[index]
        start = req.offset or 0
        return ListResponse(rows[start : start + (req.limit or 0)], total=len(rows))

    pages = list(KeysetPaginator(4, 20, key_of).pages(fetch, None))
    got = [r for p in pages for r in p.records]
    assert got.count({"junk": "no key"}) == 1
    assert [r["id"] for r in got if "id" in r] == [1, 2, 3, 5, 6, 7, 8]


def test_keyset_clock_behind_does_not_end_the_listing() -> None:
    """A server clock a day behind the records ends nothing early when the connector's clock is
    given (min_horizon): every record is read; without it, one page only (the old behaviour)."""
    live = LiveList({i: 1000 + i for i in range(30)}, random.Random(7), now=1100, tick=0)
    live.last_date = at(1100 - 86400)
    _, short = drain(KeysetPaginator(10, 100, key_of).pages(live.fetch, None), live)
    assert len(short) == 10
    live.last_date = at(1100 - 86400)
    paginator = KeysetPaginator(10, 100, key_of, min_horizon=at(1100))
    pages, yielded = drain(paginator.pages(live.fetch, None), live)
    assert sorted(v[0] for v in yielded) == list(range(30))
    assert pages[-1].safe_cursor == at(1100)


def test_total_disagreement_is_logged_once() -> None:
    """A total equal to the page length is logged as source_total_mismatch, once per listing."""
    data = rows(10)

    def fetch(req: ListRequest) -> ListResponse:
        start = req.offset or 0
        page = data[start : start + 4]
        return ListResponse(page, total=len(page))

    with capture_logs() as logs:
        pages = list(OffsetPaginator(4, 10).pages(fetch, None))
    assert sum(len(p.records) for p in pages) == 10
    assert [e["event"] for e in logs].count("source_total_mismatch") == 1
