"""The incremental pull: read what changed at the source, write it to the ledger, classify.

One pull:

1. logs in and takes the **server's clock** at the start (``Date`` header); the cursor never
   moves past it, nor past the newest ``last_modified`` the run actually stored (a ``Date``
   running ahead must not skip what changes next). A ``Date`` further than
   ``sync.max_clock_skew_seconds`` from the connector's clock is logged once
   (``source_clock_skew``); it can only lower the cursor, and a keyset listing pages on to the
   later of the two clocks, so a ``Date`` running behind never ends a listing early;
2. refreshes the units (one cheap request);
3. reads ``modifiedFrom = cursor - lookback`` (``sync.lookback_seconds``, default 120 s; a full
   read, ``full=True``, reads everything, soft-deleted records included), **page by page**,
   the next ``sync.read_ahead_pages`` pages fetched and parsed in a thread while the current
   one is written (`connector.source.readahead`; what is stored is decided in this thread);
4. writes each page in **one transaction**: the tasks (insert / update / unchanged by content
   hash, never older over newer; of several versions of one id on a page, only the one with the
   newest ``last_modified``, ties broken by content hash), the quarantine of the records that
   could not be normalised or stored, and the cursor that page makes safe (`connector.source.client`
   guarantees every record modified before a page's ``safe_cursor`` was yielded already). A
   crash or an unavailable source loses at most the page in flight, and the cursor always
   matches the committed pages;
5. after a complete full read, marks the tasks it did not list as deleted at the source
   (reason ``missing``);
6. classifies every task due as of today's local date (`reclassify`; due: new or changed, not
   yet classified today, or classified with other rules, settings, calendar or units:
   `verdict_key`): the deadline status and flags on the task row, a ``status_code`` history row
   on each status change, and a deadline suggested from the text for tasks without one; in the
   same transaction it plans the outbox (tracking writes and alerts due,
   `connector.outbox.planning.plan`). What did not change is not written, and a second run of
   the same day with nothing new classifies nothing. A listing of at least
   ``sync.parallel_min_tasks`` records (its first page's total) is judged and planned page by
   page in a forked process while the next pages are written (`connector.source.classifier`);
   this step then finds little left to do.

Memory does not grow with the number of tasks: pages are streamed, each page looks up only its
own ids, and the classification walks the task table in batches.

**The snapshot strategy** (a mapping's ``[sync] strategy = "snapshot"``, for a source with no
modified-since filter such as iDesk 6) replaces step 3: every run reads every list page, but a
detail only for the list items that are new, whose list item changed (a content hash per item,
`connector.ledger.snapshot`), or that are among the ``sync.snapshot_refresh_percent`` of the
listed items checked longest ago, so that a change inside a document alone (a new deadline) is
still seen within 100 / percent runs. The details of a page are read by ``sync.detail_workers``
threads, every request of the run paced by one `TokenBucket` at ``sync.rate_per_second``.
An item that left the list is read once more, with its last list item: its record, if the
source still answers it, tells a completed document from a withdrawn one; if not (gone, or
refused with a 4xx), the task keeps its last known state; a read that fails on the source's
side (an HTTP 500) leaves the item listed, to be read again on the next run. Which items were
read is stored in the transaction of their tasks. The source's ``sync_state`` row keeps no
cursor (None), but its ``updated_at`` the end of the last complete read of the list, and
``last_full_at`` that of the last full read, for ``status``.
A detail call that fails for its record alone (an HTTP 500 to that document, an answer
too large, no usable answer to it through ``retry.max_attempts`` attempts while the run's retry
budget lasts) leaves that item unread, to be read again on the next run, counts it
(``detail_failed``, which makes the run's outcome ``problems``) and goes on; several in a row
stop the run (`connector.source.client.DETAIL_FAILURES_TO_STOP`). A listed document the source
refuses to the account (HTTP 403) is not read either: it is quarantined as refused
(`connector.ledger.quarantine.REFUSED_FIELD`; ``quarantined``, a problem) by the first run that
meets the refusal, and counted in ``still_refused`` (no problem) by the later runs refused the
same way, as a quarantined record that did not change is not counted again; the run in which
its detail answers resolves that row.

A record without a value at the mapping's ``[sync] assignment`` path (a clerk's intake
document, with no lead step) is no assignment: it is skipped and counted
(``skipped_not_assignment``), not quarantined. With ``[units] name_tasks``, the tasks' lead and
co-handling units are named from the units list (a record that names a position, not a unit).

A bad record never stops the run: whatever fails while one record is normalised or stored
(a converter, a bound of `connector.mapping.normalise.RecordLimits`, the database refusing a
value) puts that record in quarantine with the field and the reason, and the rest of its page
is stored (`connector.ledger.write_page` falls back to one savepoint per record). It is
resolved when it later arrives valid. Errors of the source (`SourceUnavailable`, `AuthError`)
abort the run after the pages already committed; the caller records the run
(`connector.ops.runs`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from connector.clock import Clock, SystemClock, local_today, to_utc
from connector.errors import (
    AuthError,
    BadRecord,
    Interrupted,
    SourceError,
    SourceRefused,
    SourceUnavailable,
)
from connector.ledger import cursor as ledger_cursor
from connector.ledger import quarantine as ledger_quarantine
from connector.ledger import snapshot as ledger_snapshot
from connector.ledger import tasks as ledger_tasks
from connector.ledger.codec import content_hash
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.pages import Incoming, PageItem, Rejected, WriteCounts, write_page
from connector.ledger.units import list_units, upsert_units
from connector.mapping.normalise import RecordLimits, bounded_raw, normalise, record_key
from connector.mapping.spec import MappingSpec, load_mapping
from connector.models import NormalisedTask, UnitRef
from connector.ops.collector import with_fewer_collections
from connector.ops.progress import CLASSIFY, PULL, NullProgress, ProgressReporter
from connector.ops.runs import RunRecord
from connector.ops.signals import InterruptGuard
from connector.outbox.planning import outbox_planner
from connector.rules.calendar import WorkingCalendar, calendar_for
from connector.rules.classify import (
    ClassifyResult,
    reclassify,
    settings_key,
)
from connector.rules.deadlines import policy_from_settings
from connector.settings import Settings, SyncSettings
from connector.source.classifier import Classification, PageClassifier
from connector.source.client import DETAIL_FAILURES_TO_STOP, Detail, SourceClient
from connector.source.pagination import Page
from connector.source.paths import MISSING, resolve
from connector.source.readahead import read_ahead

log = structlog.get_logger(__name__)


@dataclass
class PullResult:
    """What a pull did (every count goes to the run record and the ``run_finished`` event)."""

    run_id: str
    full: bool = False
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    older_skipped: int = 0
    quarantined: int = 0
    duplicates: int = 0
    skipped_not_assignment: int = 0
    detail_calls: int = 0
    detail_failed: int = 0
    still_refused: int = 0
    """Documents the source refused again (HTTP 403) that are in quarantine as refused since an
    earlier run: counted, not a problem (the first refusal was one: `quarantined`)."""
    list_unchanged: int = 0
    list_changed: int = 0
    refreshed: int = 0
    left_list: int = 0
    resolved: int = 0
    deleted_marked: int = 0
    history_rows: int = 0
    snapshots: int = 0
    units_changed: int = 0
    classified: int = 0
    reclassified: int = 0
    status_changes: int = 0
    suggested: int = 0
    planned: int = 0
    backfill_skipped: int = 0
    """Tasks whose initial tracking write ``push.backfill_completed_before`` left out."""
    classify_errors: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0
    clock_skew_s: float = 0.0
    cursor_before: datetime | None = None
    cursor_after: datetime | None = None
    server_time: datetime | None = None
    modified_from: datetime | None = None

    def add_writes(self, counts: WriteCounts) -> None:
        self.inserted += counts.inserted
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.older_skipped += counts.older_skipped
        self.quarantined += counts.quarantined
        self.resolved += counts.resolved
        self.deleted_marked += counts.deleted_marked
        self.history_rows += counts.history_rows
        self.snapshots += counts.snapshots

    def add_classification(self, result: ClassifyResult) -> None:
        self.classified += result.classified
        self.reclassified += result.changed
        self.status_changes += result.status_changes
        self.suggested += result.suggested
        self.planned += result.planned
        self.classify_errors += result.errors

    def counts(self) -> dict[str, int | float]:
        """The numeric counts by name (for `RunRecord.update` and the summary event)."""
        out: dict[str, int | float] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out[f.name] = round(value, 3) if isinstance(value, float) else value
        return out

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (instants as ISO strings)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = to_utc(value).isoformat()
        return data


# -- cursor --------------------------------------------------------------------------------------


def modified_from(cursor: datetime | None, lookback_seconds: int, *, full: bool) -> datetime | None:
    """Where a pull reads from: None (everything) when full or first, else cursor - lookback."""
    if full or cursor is None:
        return None
    return to_utc(cursor) - timedelta(seconds=lookback_seconds)


def advance_cursor(
    current: datetime | None,
    safe: datetime | None,
    server_start: datetime | None,
    newest_stored: datetime | None = None,
) -> datetime | None:
    """The cursor after a page: up to the page's safe cursor, but never past the newest
    ``last_modified`` stored so far in this run (`newest_stored`; None: nothing stored yet, the
    cursor stays), and never past the server's clock at the start of the run.

    The cursor never moves back because of a page; it is pulled back only when it stands beyond
    the server clock (re-reading is always safe, skipping never is). So the server's ``Date``
    can only lower the cursor: a clock running ahead cannot skip a task changed after the run.
    """
    candidate = current
    if safe is not None and newest_stored is not None:
        reach = min(to_utc(safe), to_utc(newest_stored))
        candidate = reach if current is None else max(to_utc(current), reach)
    if candidate is not None and server_start is not None and candidate > to_utc(server_start):
        candidate = to_utc(server_start)
    return candidate


def clock_skew(server_time: datetime | None, local_time: datetime) -> float | None:
    """Seconds the source's clock is ahead of ours (negative: behind); None when unknown."""
    if server_time is None:
        return None
    return (to_utc(server_time) - to_utc(local_time)).total_seconds()


def skew_beyond(skew: float | None, settings: SyncSettings) -> bool:
    """Whether a clock skew is larger than ``sync.max_clock_skew_seconds``."""
    return skew is not None and abs(skew) > settings.max_clock_skew_seconds


# -- records -------------------------------------------------------------------------------------


def _task_id(raw: Any, exc: BadRecord | None = None) -> int | None:
    text = exc.task_id if exc is not None and exc.task_id else None
    if text is None and isinstance(raw, Mapping):
        text = raw.get("id")
    number: int | None = None
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    elif isinstance(text, str) and text.strip().isascii() and text.strip().isdigit():
        digits = text.strip().lstrip("0") or "0"
        number = int(digits) if len(digits) <= 19 else None
    # Only an id the ledger can hold links the quarantine to a task (BIGINT).
    return number if number is not None and -(2**63) <= number < 2**63 else None


def _stored(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """The raw record as the ledger keeps it: without the client's ``@`` keys (fetch time...);
    the record itself when it has none (most mappings read none: no copy a record)."""
    marks = [k for k in raw if (k if type(k) is str else str(k)).startswith("@")]
    if not marks:
        return raw
    return {k: v for k, v in raw.items() if k not in marks}


def record_limits(settings: SyncSettings) -> RecordLimits:
    """The bounds of a raw record (``sync.max_field_chars``, ``sync.max_list_items``)."""
    return RecordLimits(
        max_field_chars=settings.max_field_chars, max_list_items=settings.max_list_items
    )


def _key_of(record: Mapping[str, Any], spec: MappingSpec, limits: RecordLimits) -> str:
    try:
        return record_key(record, spec)
    except (RecursionError, ValueError, TypeError):  # too deep or odd to serialise as it is
        return record_key(bounded_raw(record, limits), spec)


def to_page_item(raw: Any, spec: MappingSpec, limits: RecordLimits | None = None) -> PageItem:
    """Normalise one raw record: an `Incoming` task, or a `Rejected` one for the quarantine.

    Whatever goes wrong while reading one record (a `BadRecord`, or any error a converter did
    not foresee) rejects that record only. A rejected record's raw JSON is kept bounded
    (`connector.mapping.normalise.bounded_raw`), so a 50 MB field does not reach the quarantine
    table.
    """
    lim = limits or RecordLimits()
    record = raw if isinstance(raw, Mapping) else {"@item": raw}
    key = _key_of(record, spec, lim)
    try:
        task = normalise(record, spec, lim)
    except BadRecord as exc:
        log.warning("record_quarantined", record_key=key, field=exc.field, value=exc.value)
        return _rejected(
            record,
            key,
            lim,
            field_name=exc.field,
            value=exc.value,
            reason=str(exc),
            task_id=_task_id(record, exc),
        )
    except Interrupted:
        raise  # a signal landing while this record was read stops the run, it is no bad record
    except Exception as exc:  # one unreadable record must never stop the run
        label = f"task {_task_id(record)}" if _task_id(record) is not None else f"record {key}"
        reason = f"{label}: could not be read ({type(exc).__name__}: {_short(exc)})"
        log.warning("record_quarantined", record_key=key, field="", error=type(exc).__name__)
        return _rejected(
            record, key, lim, field_name="", value="", reason=reason, task_id=_task_id(record)
        )
    return Incoming(task=task, raw=_stored(record), record_key=key)


def _refused(error: SourceError | None) -> bool:
    """Whether a detail call's failure is the source refusing the document to the account."""
    return isinstance(error, SourceRefused) and error.status == 403


def _short(exc: BaseException) -> str:
    text = repr(str(exc))[1:-1]
    return text if len(text) <= 200 else text[:197] + "..."


def _rejected(
    record: Mapping[str, Any],
    key: str,
    limits: RecordLimits,
    *,
    field_name: str,
    value: str,
    reason: str,
    task_id: int | None,
) -> Rejected:
    kept = bounded_raw(_stored(record) or dict(record), limits)
    return Rejected(
        record_key=key,
        raw=kept if isinstance(kept, dict) else {"@item": kept},
        field=field_name,
        value=value,
        reason=reason,
        task_id=task_id,
    )


def newest_versions(items: Sequence[PageItem]) -> tuple[list[PageItem], int]:
    """One version per task id (source order kept), and how many versions were dropped.

    The source may list one id twice with different content (it should not). The version with
    the newest ``last_modified`` is kept; on a tie, the one with the greater content hash
    (whatever order the source gave them in), so every run keeps the same one and a re-read
    writes nothing. Rejected records of an id that also came valid are dropped too.
    """
    seen: set[int] = set()
    twice: set[int] = set()
    for item in items:
        if isinstance(item, Incoming):
            sid = item.task.source_id
            (twice if sid in seen else seen).add(sid)
    if not twice and all(
        isinstance(i, Incoming) or i.task_id is None or i.task_id not in seen for i in items
    ):
        return list(items), 0  # the usual page: nothing to choose
    best: dict[int, tuple[int, datetime, str]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Incoming):
            continue
        task = item.task
        digest = content_hash(task) if task.source_id in twice else ""
        rank = (to_utc(task.last_modified), digest)
        kept = best.get(task.source_id)
        if kept is None or rank > kept[1:]:
            best[task.source_id] = (index, *rank)
    chosen = {index for index, *_ in best.values()}
    out: list[PageItem] = []
    dropped = 0
    for index, item in enumerate(items):
        if isinstance(item, Incoming):
            keep = index in chosen
        else:
            keep = item.task_id is None or item.task_id not in best
        if keep:
            out.append(item)
            continue
        dropped += 1
        task_id = item.task.source_id if isinstance(item, Incoming) else item.task_id
        log.warning(
            "duplicate_record",
            task_id=task_id,
            kept_modified=best[task_id][1].isoformat() if task_id in best else None,
        )
    return out, dropped


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_MARKS = frozenset({"@list", "@fetched_at"})
"""Keys the client adds to a record (its list item, the instant it was read)."""


def not_assignment(raw: Any, path: str) -> bool:
    """True when `raw` is a record read from the source with no value at `path` (a clerk's
    intake document with no lead step). A list item whose detail could not be asked for (no
    id) is not one: it is quarantined like any record without an id."""
    if not isinstance(raw, Mapping) or not any(key not in _MARKS for key in raw):
        return False
    return resolve(raw, path) is MISSING


def name_units(task: NormalisedTask, names: Mapping[str, str]) -> NormalisedTask:
    """`task` with its lead and co-handling units named from `names` (code -> name); a unit not
    in it gets no name (the record named a position or an account, not the unit)."""
    coordinators = tuple(UnitRef(u.code, names.get(u.code, "")) for u in task.coordinators)
    return replace(
        task,
        lead_unit_name=names.get(task.lead_unit_code, "") if task.lead_unit_code else "",
        coordinators=coordinators,
    )


# -- the pull ------------------------------------------------------------------------------------

ClientFactory = Callable[[Settings, MappingSpec, Callable[[float], None]], SourceClient]


def default_client(
    settings: Settings, spec: MappingSpec, sleep: Callable[[float], None]
) -> SourceClient:
    """The HTTP client of the source, configured from settings."""
    return SourceClient(
        settings.source,
        settings.retry,
        spec,
        sleep=sleep,
        max_pages=settings.sync.max_pages,
        secrets=settings.secrets,
    )


@dataclass
class _Pull:
    settings: Settings
    ledger: Ledger
    spec: MappingSpec
    result: PullResult
    clock: Clock
    run: RunRecord | None
    guard: InterruptGuard | None
    progress: ProgressReporter
    on_page: Callable[[PullResult], None] | None
    source: str = field(init=False)
    unit_names: dict[str, str] = field(default_factory=dict)
    """Code -> name of the ledger's units, when the mapping names tasks' units from them."""
    how: Classification | None = None
    """What the tasks are classified with (None: not by this pull)."""
    classified: ClassifyResult = field(default_factory=ClassifyResult)
    """What was classified as the pages were written (`connector.source.classifier`)."""
    failed_ids: set[str] = field(default_factory=set)
    """Snapshot strategy: the items whose detail call failed for them alone in this run."""
    failures_in_a_row: int = 0
    """`missing`: candidates in a row whose record the source failed on."""

    def __post_init__(self) -> None:
        self.source = self.settings.source.name

    def publish(self, client: SourceClient | None = None) -> None:
        if client is not None:
            stats = client.stats
            self.result.retries = stats.retries
            self.result.rate_limited = stats.rate_limited
            self.result.detail_calls = stats.detail_calls
            self.result.waited_s = round(stats.waited_s, 3)
        if self.run is not None:
            self.run.update(self.result.counts())

    def _critical(self) -> contextlib.AbstractContextManager[None]:
        return self.guard.critical() if self.guard is not None else contextlib.nullcontext()

    def units(self, client: SourceClient) -> None:
        try:
            units = client.list_units()
        except SourceRefused as exc:
            log.warning("units_unavailable", error=str(exc))
            return
        with self._critical(), self.ledger.transaction() as session:
            self.result.units_changed = upsert_units(session, units, now=self.clock.now())
        if self.spec.units.name_tasks:
            with self.ledger.reading() as session:
                self.unit_names = {u.code: u.name for u in list_units(session)}

    def prepare(self, records: Sequence[Any]) -> list[PageItem]:
        """A page's records as page items: the ones that are no assignment left out (counted),
        the rest normalised (units named from the units list when the mapping says so), one
        version per id."""
        limits = record_limits(self.settings.sync)
        path = self.spec.sync.assignment
        items: list[PageItem] = []
        for raw in records:
            if path and not_assignment(raw, path):
                self.result.skipped_not_assignment += 1
                continue
            items.append(self.named(to_page_item(raw, self.spec, limits)))
        kept, dropped = newest_versions(items)
        self.result.duplicates += dropped
        return kept

    def named(self, item: PageItem) -> PageItem:
        """`item` with its units named from the units list (``[units] name_tasks``)."""
        if not self.spec.units.name_tasks or not isinstance(item, Incoming):
            return item
        return replace(item, task=name_units(item.task, self.unit_names))

    def write(
        self,
        items: Sequence[PageItem],
        *,
        full: bool,
        also: Callable[[Any], object] | None = None,
    ) -> None:
        """Write page items in one transaction (with `also`, given the session, in it too)."""
        written = WriteCounts()  # counted once the transaction committed
        run_id = self.result.run_id
        with self._critical(), self.ledger.transaction() as session:
            now = self.clock.now()
            for chunk in _chunks(items, self.settings.sync.batch_size):
                written.add(write_page(session, chunk, run_id=run_id, observed_at=now, full=full))
            if also is not None:
                also(session)
        self.result.add_writes(written)

    def counted(self, client: SourceClient, records: int, number: int, total: int | None) -> None:
        """One more page read: counts, progress, and the caller's hook."""
        self.result.pages += 1
        self.result.fetched += records
        if self.result.pages == 1:
            self.progress.set_total(total)
        self.progress.advance(records)
        self.publish(client)
        log.debug("page_written", page=number, records=records, total=total)
        if self.on_page is not None:
            self.on_page(self.result)

    def pages(
        self,
        client: SourceClient,
        start_from: datetime | None,
        full: bool,
        local_start: datetime | None = None,
    ) -> None:
        cursor = self.result.cursor_before
        newest: datetime | None = None  # the newest last_modified stored by this run
        listing = client.iter_pages(start_from, full=full, min_horizon=local_start)
        # The first page is read here, its total says whether to classify in a second process;
        # that one is forked before the read-ahead thread starts (`can_fork`).
        first = next(listing, None)
        classifier = PageClassifier.start(
            self.ledger,
            self.how,
            min_tasks=self.settings.sync.parallel_min_tasks,
            total=_listed(first, full=full),
        )
        try:
            with read_ahead(listing, self.settings.sync.read_ahead_pages) as rest:
                pages = rest if first is None else itertools.chain((first,), rest)
                for page in pages:
                    if self.guard is not None:
                        self.guard.check()
                    cursor, newest, kept = self.page(
                        page, cursor, newest, full=full, classifier=classifier
                    )
                    self.publish(client)
                    log.debug(
                        "page_written",
                        page=page.number,
                        records=kept,
                        total=page.total,
                        cursor=cursor.isoformat() if cursor is not None else None,
                    )
                    if self.on_page is not None:
                        self.on_page(self.result)
            if classifier is not None:
                with self._critical():
                    classifier.finish()
                self.classified = classifier.result
        except SourceError:
            if classifier is not None:
                # The pages committed before the source stopped are sound: their verdicts are
                # written as after a last page (the second process's answers waited for), so
                # they are judged once and the run's record counts them, whatever the timing.
                with self._critical():
                    classifier.finish()
                self.result.add_classification(classifier.result)
            raise
        except BaseException:
            if classifier is not None:  # the run's record counts what was written before
                self.result.add_classification(classifier.result)
            raise
        finally:
            if classifier is not None:
                classifier.close()

    def page(
        self,
        page: Page,
        cursor: datetime | None,
        newest: datetime | None,
        *,
        full: bool,
        classifier: PageClassifier | None = None,
    ) -> tuple[datetime | None, datetime | None, int]:
        """Write one page of the listing with the cursor it makes safe, in one transaction:
        the cursor and the newest ``last_modified`` stored after it, and the records kept.
        With a `classifier`: the verdicts it has ready go in the same transaction, before the
        page, and the page's tasks go to it once committed."""
        items = self.prepare(page.records)
        for item in items:
            if isinstance(item, Incoming):
                modified = to_utc(item.task.last_modified)
                newest = modified if newest is None else max(newest, modified)
        server_start = self.result.server_time
        new_cursor = advance_cursor(cursor, page.safe_cursor, server_start, newest)
        written = WriteCounts()  # counted once the page's transaction committed
        with self._critical(), self.ledger.transaction() as session:
            if classifier is not None:
                classifier.apply(session)
            observed_at = self.clock.now()
            for chunk in _chunks(items, self.settings.sync.batch_size):
                counts = write_page(
                    session,
                    chunk,
                    run_id=self.result.run_id,
                    observed_at=observed_at,
                    full=full,
                )
                written.add(counts)
            if new_cursor != cursor:
                ledger_cursor.save_cursor(
                    session,
                    self.source,
                    new_cursor,
                    run_id=self.result.run_id,
                    now=observed_at,
                )
        self.result.add_writes(written)
        if classifier is not None:
            classifier.written([i.task.source_id for i in items if isinstance(i, Incoming)])
        self.result.cursor_after = new_cursor
        self.result.pages += 1
        self.result.fetched += len(page.records)
        if self.result.pages == 1:
            self.progress.set_total(page.total)
        self.progress.advance(len(page.records))
        return new_cursor, newest, len(items)

    def snapshot(self, client: SourceClient, full: bool, local_start: datetime | None) -> None:
        """The snapshot strategy (see the module docstring): the whole list, the details of
        what is new, changed or due for a refresh (every detail with `full`), then the items
        that left the list."""
        sync, source = self.settings.sync, self.source
        with self.ledger.reading() as session:
            listed = ledger_snapshot.count_listed(session, source)
            share = math.ceil(listed * sync.snapshot_refresh_percent / 100)
            due = set(ledger_snapshot.oldest_checked(session, source, share))
        seen: set[str] = set()
        for page in client.iter_list(min_horizon=local_start):
            if self.guard is not None:
                self.guard.check()
            ids = [client.item_id(item) for item in page.records]
            with self.ledger.reading() as session:
                known = ledger_snapshot.known_items(session, source, [i for i in ids if i])
            wanted: list[tuple[dict[str, Any], str | None, str]] = []
            for item, item_id in zip(page.records, ids, strict=True):
                if item_id is None:  # no id: its record is quarantined, keyed by its content
                    wanted.append((item, None, ""))
                    continue
                if item_id in seen:  # listed twice in one run (a live list moved): read once
                    continue
                seen.add(item_id)
                digest = ledger_snapshot.item_hash(item)
                state = known.get(item_id)
                if state is None or not state.listed or state.list_hash != digest or full:
                    self.result.list_changed += 1
                elif item_id in due:
                    self.result.refreshed += 1
                else:
                    self.result.list_unchanged += 1
                    continue
                wanted.append((item, item_id, digest))
            details = client.fetch_details([w[0] for w in wanted], sync.detail_workers)
            self.store_details(details, wanted, known, full=full)
            self.counted(client, len(page.records), page.number, page.total)
        self.left(client, seen)
        # No cursor to move (no lastModifyStr), but when the whole list was last read is what
        # `status` shows of this source; `missing` then stamps a full read (`sync --full`).
        with self._critical(), self.ledger.transaction() as session:
            ledger_cursor.save_cursor(
                session, source, None, run_id=self.result.run_id, now=self.clock.now()
            )

    def store_details(
        self,
        details: Sequence[Detail],
        wanted: Sequence[tuple[dict[str, Any], str | None, str]],
        known: Mapping[str, ledger_snapshot.ItemState],
        *,
        full: bool,
    ) -> None:
        """Write the records read for a page of list items, and which items were read."""
        checked: list[ledger_snapshot.Checked] = []
        records: list[dict[str, Any]] = []
        refused: list[tuple[dict[str, Any], int]] = []
        answered: list[int] = []
        for detail, (item, item_id, digest) in zip(details, wanted, strict=True):
            number = _task_id({"id": item_id})
            if detail.error is not None and item_id is not None:
                self.failed_ids.add(item_id)
            if _refused(detail.error) and number is not None:
                refused.append((item, number))
            elif detail.error is not None:
                self.result.detail_failed += 1
            if detail.record is not None and number is not None:
                answered.append(number)
            if detail.record is None:
                # Gone between the list and its detail, or its detail call failed: not marked
                # as read, so it is read again on the next run.
                continue
            records.append(detail.record)
            if item_id is not None:
                checked.append(ledger_snapshot.Checked(item_id, digest, item))
        items = self.prepare(records) + self.refusals(refused)
        run_id, now = self.result.run_id, self.clock.now()

        def mark(session: Any) -> None:
            ledger_snapshot.record_checked(
                session, self.source, checked, known=known, run_id=run_id, now=now
            )
            self.result.resolved += ledger_quarantine.resolve_refused(
                session, source=self.source, ids=answered, run_id=run_id, now=now
            )

        self.write(items, full=full, also=mark)

    def refusals(self, refused: Sequence[tuple[dict[str, Any], int]]) -> list[PageItem]:
        """Documents whose detail the source refused (HTTP 403: the account may not open them),
        as quarantine entries: a problem the first time (`quarantined`); one already in
        quarantine as refused is counted in `still_refused` and not written again, as a
        quarantined record that did not change is not (it stays listed until it answers)."""
        if not refused:
            return []
        with self.ledger.reading() as session:
            known = ledger_quarantine.refused_ids(session, self.source, [n for _, n in refused])
        limits = record_limits(self.settings.sync)
        items: list[PageItem] = []
        for item, number in refused:
            if number in known:
                self.result.still_refused += 1
                log.info("detail_still_refused", source_id=str(number))
                continue
            log.warning("detail_refused", source_id=str(number), status=403)
            key = _key_of({"id": number}, self.spec, limits)
            items.append(
                _rejected(
                    item,
                    key if key.startswith("id:") else f"id:{number}",
                    limits,
                    field_name=ledger_quarantine.REFUSED_FIELD,
                    value="HTTP 403",
                    reason=ledger_quarantine.REFUSED_REASON,
                    task_id=number,
                )
            )
        return items

    def left(self, client: SourceClient, seen: set[str]) -> None:
        """The items listed before but not in this run's list: each read once more with its
        last list item (a completed or withdrawn document says so), then marked as left; one
        the source no longer answers keeps its last known state."""
        with self.ledger.reading() as session:
            gone = sorted(ledger_snapshot.listed_ids(session, self.source) - seen)
        for chunk in _chunks(gone, self.settings.sync.batch_size):
            if self.guard is not None:
                self.guard.check()
            with self.ledger.reading() as session:
                stored = ledger_snapshot.stored_items(session, self.source, list(chunk))
            items = [stored.get(item_id, {}) for item_id in chunk]
            details = client.fetch_details(items, self.settings.sync.detail_workers)
            self.result.detail_failed += sum(d.error is not None for d in details)
            self.failed_ids.update(i for i, d in zip(chunk, details, strict=True) if d.error)
            # An item whose last read failed on the source's side (an HTTP 500, a dropped
            # answer) stays listed: the next run reads it again, else its completion or
            # withdrawal would never be seen. A refusal (a 403: the document is no longer the
            # account's to read) is an answer: the item keeps its last known state.
            failed = {
                i
                for i, d in zip(chunk, details, strict=True)
                if d.error is not None and not isinstance(d.error, SourceRefused)
            }
            answered = [d.record for d in details if d.record is not None]
            pairs = zip(chunk, details, strict=True)
            vanished = [i for i, d in pairs if d.record is None and i not in failed]
            left = [i for i in chunk if i not in failed]
            page = self.prepare(answered)
            mark = functools.partial(
                ledger_snapshot.mark_left,
                source=self.source,
                ids=left,
                run_id=self.result.run_id,
                now=self.clock.now(),
            )
            self.write(page, full=False, also=mark)
            self.result.left_list += len(left)
            log.info(
                "records_left_list",
                count=len(left),
                answered=len(answered),
                vanished=len(vanished),
                failed=len(failed),
                first_id=chunk[0],
            )
            self.publish(client)

    def _detail_failed(self, task_id: int, exc: SourceError) -> None:
        """A candidate of `missing` whose record the source failed on or refused: counted;
        `DETAIL_FAILURES_TO_STOP` in a row raise the last (the source fails them all)."""
        log.warning("detail_failed", source_id=str(task_id), error=str(exc))
        self.result.detail_failed += 1
        self.failures_in_a_row += 1
        if self.failures_in_a_row >= DETAIL_FAILURES_TO_STOP:
            raise exc

    def missing(self, client: SourceClient) -> None:
        """After a complete full read: the tasks it did not list are deleted at the source.

        Each candidate is asked for once (``get_record``): gone (404) is marked ``missing``;
        a record that is still there (modified after its page was read) is written instead.
        With the snapshot strategy, a candidate whose detail failed in this run is not asked
        again, and one the source fails on or refuses now is counted (``detail_failed``),
        neither marked nor a stop (`DETAIL_FAILURES_TO_STOP` in a row are).
        """
        after = 0
        size = self.settings.sync.batch_size
        run_id = self.result.run_id
        while True:
            with self.ledger.reading() as session:
                ids = ledger_tasks.missing_task_ids(session, run_id, after=after, limit=size)
            if not ids:
                break
            gone: list[int] = []
            records: list[dict[str, Any]] = []
            failed: set[int] = set()
            for task_id in ids:
                if self.guard is not None:
                    self.guard.check()
                if str(task_id) in self.failed_ids:  # its detail failed in this run already
                    failed.add(task_id)
                    continue
                try:
                    record = client.get_record(task_id)
                except (AuthError, SourceUnavailable):
                    raise
                except SourceError as exc:
                    if not self.spec.snapshot:
                        raise
                    # The snapshot strategy reads a source document by document: one the source
                    # fails on or refuses is counted, neither marked deleted nor a stop.
                    self._detail_failed(task_id, exc)
                    failed.add(task_id)
                    continue
                self.failures_in_a_row = 0
                if record is None:
                    gone.append(task_id)
                else:
                    records.append(record)
            found = self.prepare(records)
            written = WriteCounts()  # counted once the transaction committed
            with self._critical(), self.ledger.transaction() as session:
                now = self.clock.now()
                if found:
                    written.add(
                        write_page(session, found, run_id=run_id, observed_at=now, full=True)
                    )
                # A candidate that came back with a bad record stays listed: do not re-ask.
                stamp = [i for i in ids if i not in gone and i not in failed]
                ledger_tasks.stamp_full_read(session, stamp, run_id=run_id)
                marked = ledger_tasks.mark_missing(session, gone, run_id=run_id, observed_at=now)
            self.result.add_writes(written)
            self.result.deleted_marked += marked
            if marked:
                log.info("tasks_missing_at_source", count=marked, first_id=gone[0])
            after = ids[-1]
        with self._critical(), self.ledger.transaction() as session:
            ledger_cursor.save_cursor(
                session,
                self.source,
                self.result.cursor_after,
                run_id=run_id,
                now=self.clock.now(),
                full_done=True,
            )


@with_fewer_collections
def pull(
    settings: Settings,
    *,
    run_id: str,
    full: bool = False,
    clock: Clock | None = None,
    ledger: Ledger | None = None,
    run: RunRecord | None = None,
    sleep: Callable[[float], None] = time.sleep,
    client_factory: ClientFactory = default_client,
    guard: InterruptGuard | None = None,
    progress: ProgressReporter | None = None,
    on_page: Callable[[PullResult], None] | None = None,
    classify_after: bool = True,
    plan_outbox: bool = True,
    as_of: date | None = None,
    calendar: WorkingCalendar | None = None,
) -> PullResult:
    """Pull what changed (everything with `full`) into the ledger, then classify every task.

    `run` receives the counts as they grow (so an aborted run still records what it did);
    `on_page` is called after each committed page; `as_of` (default: today's local date by
    `clock`) is the date of the classification, which also plans the outbox (tracking writes
    and alerts, `connector.outbox.planning.plan`) unless `plan_outbox` is False or push is disabled.
    Source errors are re-raised after the committed pages (the cursor matches them).
    """
    clock = clock or SystemClock()
    spec = load_mapping(settings.source.mapping)
    own_ledger = ledger is None
    ledger = ledger or open_ledger(settings.ledger.url)
    shown = progress or NullProgress()
    result = PullResult(run_id=run_id, full=full)
    work = _Pull(settings, ledger, spec, result, clock, run, guard, shown, on_page)

    def classifying() -> Classification:
        return classification_of(
            settings,
            ledger,
            clock=clock,
            run_id=run_id,
            as_of=as_of,
            calendar=calendar,
            plan_outbox=plan_outbox,
        )

    try:
        with ledger.reading() as session:
            result.cursor_before = ledger_cursor.get_cursor(session, work.source)
        result.cursor_after = result.cursor_before
        with client_factory(settings, spec, sleep) as client:
            if spec.snapshot:  # details go concurrently: every request from one budget
                client.pace_at(settings.sync.rate_per_second)
            try:
                client.login()
                local_start = clock.now()
                result.server_time = client.server_time()
                if result.server_time is None:
                    result.server_time = local_start
                    log.warning("server_time_unknown", using="local clock")
                skew = clock_skew(result.server_time, local_start)
                result.clock_skew_s = round(skew or 0.0, 3)
                if skew_beyond(skew, settings.sync):
                    log.warning(
                        "source_clock_skew",
                        skew_s=result.clock_skew_s,
                        server_time=_iso(result.server_time),
                        local_time=_iso(local_start),
                        max_clock_skew_seconds=settings.sync.max_clock_skew_seconds,
                        effect="the cursor stays at the newest record stored; nothing is skipped",
                    )
                start_from = modified_from(
                    result.cursor_before, settings.sync.lookback_seconds, full=full
                )
                result.modified_from = start_from
                log.info(
                    "pull_started",
                    full=full,
                    cursor=_iso(result.cursor_before),
                    modified_from=_iso(start_from),
                    server_time=_iso(result.server_time),
                )
                work.units(client)
                if classify_after:  # the units are the ledger's now: the key can be made
                    work.how = classifying()
                shown.start(total=None, description=PULL)
                if spec.snapshot:
                    work.snapshot(client, full, local_start)
                else:
                    work.pages(client, start_from, full, local_start)
                if full:
                    work.missing(client)
            finally:
                work.publish(client)
        if classify_after:
            how = work.how or classifying()
            planner = how.planner
            total = None
            if progress is not None:
                with ledger.reading() as session:
                    total = ledger_tasks.count_due(session, as_of=how.as_of, key=how.key)
            shown.start(total=total, description=CLASSIFY)
            result.add_classification(
                reclassify(
                    ledger,
                    as_of=how.as_of,
                    calendar=how.calendar,
                    policy=how.policy,
                    run_id=run_id,
                    clock=clock,
                    batch_size=max(settings.sync.batch_size, 200),
                    progress=shown,
                    planner=planner,
                    key=how.key,
                    alerts=how.alerts,
                    result=work.classified,
                )
            )
            if planner is not None:
                result.backfill_skipped += planner.tally.skipped
                planner.tally.report(settings.push.backfill_cutoff, run_id=run_id)
        work.publish()
        return result
    finally:
        if own_ledger:
            ledger.close()


def _listed(first: Page | None, *, full: bool) -> int | None:
    """How many records a listing holds, as its first page says; when it does not say, a full
    read may be big (None: unknown), an incremental one is taken as small."""
    if first is None:
        return 0
    if first.total is not None:
        return first.total
    return None if full else len(first.records)


def classification_of(
    settings: Settings,
    ledger: Ledger,
    *,
    clock: Clock,
    run_id: str,
    as_of: date | None,
    calendar: WorkingCalendar | None,
    plan_outbox: bool,
) -> Classification:
    """What a pull classifies with: as of `as_of` (default: today by `clock`), the outbox
    planned unless `plan_outbox` is False or push is disabled, and the verdict key."""
    cal = calendar or calendar_for(settings.calendar)
    day = as_of or local_today(clock)
    planner = (
        outbox_planner(settings, as_of=day, calendar=cal, run_id=run_id, clock=clock)
        if plan_outbox
        else None
    )
    return Classification(
        as_of=day,
        calendar=cal,
        policy=policy_from_settings(settings.deadlines),
        key=verdict_key(settings, cal, ledger, planning=planner is not None),
        alerts=settings.alerts,
        planner=planner,
        run_id=run_id,
        clock=clock,
    )


def verdict_key(
    settings: Settings, calendar: WorkingCalendar, db: Ledger, *, planning: bool
) -> str:
    """The classification key of a pull (`connector.rules.classify.classify_key`): the
    release and `RULES_VERSION`, the deadline, alert and push settings (push: only when the
    outbox is planned), the calendar and the ledger's units. A task classified with another
    key is classified again whatever its ``recheck_on``."""
    with db.reading() as session:
        units = list_units(session)
    return settings_key(settings, calendar, units, planning=planning)


def _iso(value: datetime | None) -> str | None:
    return to_utc(value).isoformat() if value is not None else None
