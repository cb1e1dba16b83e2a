"""What `idesk-connector status` shows: the ledger's state at a glance, read-only.

`status_summary(ledger, settings)` reads the last runs (outcome and counts), the incremental
cursor of the configured source, the outbox by state, the quarantine, the tasks by deadline
status, and where the ledger is (its URL without the password, its schema revision). It writes
nothing. `connector.views.shapes.status_json` gives the JSON shape below (stable,
``schema_version`` 1; keys in English; instants ISO 8601 in UTC; absent values ``null``);
`render_status` prints it as a terminal table (`connector.views.text.status_renderable`) or as
JSON.

::

    {
      "schema_version": 1,
      "generated_at": "2022-03-07T02:00:00+00:00",
      "ledger": {"url": "sqlite:////var/lib/idesk/ledger.db", "backend": "sqlite",
                 "schema_revision": "0003_outbox", "schema_head": "0003_outbox",
                 "schema_current": true},
      "source": {"name": "idesk", "base_url": "https://idesk.example.vn/ubnd/smartcloud"},
      "cursor": {"cursor": "2022-03-07T01:59:12+00:00", "last_full_at": null,
                 "updated_at": "2022-03-07T02:00:00+00:00", "updated_run": "9f1c2d3e4a5b",
                 "strategy": "incremental"},
      "runs": [{"run_id": "9f1c2d3e4a5b", "command": "sync", "trigger": "cron",
                "started_at": "...", "ended_at": "...", "duration_s": 12.4,
                "outcome": "success", "counts": {"fetched": 200, "inserted": 3},
                "error": "", "dry_run": false, "source": "idesk"}],
      "last_success": {... one run, or null ...},
      "outbox": {"pending": 2, "sending": 0, "sent": 40, "failed": 1, "dead": 0, "past": 0,
                 "superseded": 3, "routed": 0},
      "outbox_oldest_waiting_at": "2022-03-07T01:00:00+00:00",
      "quarantine": {"open": 1, "resolved": 4},
      "tasks": {"total": 1387, "deleted_at_source": 2, "unclassified": 0,
                "by_status": {"HT_DUNG_HAN": 506, ..., "DA_HUY": 0}},
      "units": 41
    }

``cursor.strategy`` says how the source is read (``null`` when its mapping cannot be read). An
``incremental`` source's ``cursor`` is the ``lastModifyStr`` read up to, ``updated_at`` when it
last moved. A ``snapshot`` source (iDesk 6: no modification time, the whole list every run) has
no cursor (``cursor`` is always ``null``): ``updated_at`` / ``updated_run`` are the end of the
last complete read of its list, ``last_full_at`` that of the last ``sync --full``.

``runs`` is newest first (at most `runs` of them, default 5); ``last_success`` is the newest
run whose outcome is ``success`` or ``problems`` (it finished), whatever its place in ``runs``.
``outbox_oldest_waiting_at`` is the creation time of the oldest row still to be delivered
(pending, failed or sending). ``quarantine.open`` counts records not yet resolved.
``tasks.by_status`` counts the status stored by the last classification (every code listed,
zeros included; tasks never classified are ``unclassified``; deleted ones are not counted there).

Over several sources (``[[sources]]``, with or without ``--source``) the figures are those of the
sources read, ``source`` and ``cursor`` are the first's, and one more key lists every source read
with its own cursor (absent over one source)::

      "sources": [{"name": "gialai", "base_url": "...", "cursor": {... as "cursor" ...}}, ...]
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import structlog

from connector.clock import Clock, SystemClock, to_utc
from connector.errors import ConfigError
from connector.ledger.cursor import CursorState, get_sync_state
from connector.ledger.location import LedgerUrl
from connector.ledger.outbox import oldest_waiting, state_counts
from connector.ledger.quarantine import quarantine_counts
from connector.ledger.reader import reading
from connector.ledger.runs import RunSummary, last_finished, list_runs
from connector.ledger.schema import head_revision, read_revision
from connector.ledger.tasks import TaskCounts, task_counts
from connector.ledger.units import count_units

if TYPE_CHECKING:
    from collections.abc import Sequence

    from connector.ledger.reader import Db
    from connector.settings import Settings

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 1


def absolute_url(url: str) -> str:
    """A SQLite URL with its file's absolute path (a relative ``ledger.url`` resolves against
    the working directory: status says which file it read); other URLs as they are."""
    try:
        parsed = LedgerUrl.parse(url)
    except ConfigError:
        return url
    path = parsed.sqlite_path
    if parsed.backend != "sqlite" or path is None or path.is_absolute():
        return url
    return replace(parsed, database=str(path.resolve())).display()


@dataclass(frozen=True)
class LedgerInfo:
    url: str
    """The ledger URL without its password."""
    backend: str
    schema_revision: str | None
    schema_head: str

    @property
    def schema_current(self) -> bool:
        return self.schema_revision == self.schema_head


@dataclass(frozen=True)
class SourceCursor:
    """One source of several: its name, public URL and cursor (``status`` over several)."""

    name: str
    base_url: str
    cursor: CursorState
    strategy: str | None = None
    """How its mapping reads it (``incremental``, ``snapshot``; None: mapping unreadable)."""


def read_strategy(mapping: str) -> str | None:
    """``incremental`` or ``snapshot``: how the mapping reads its source (None when the mapping
    cannot be read: ``status`` still shows what the ledger holds)."""
    from connector.mapping.spec import load_mapping  # noqa: PLC0415 - the mapping, for status

    try:
        return load_mapping(mapping).sync.strategy
    except (ConfigError, OSError):
        return None


@dataclass(frozen=True)
class StatusSummary:
    """The ledger at a glance (see the module docstring for the JSON shape)."""

    generated_at: datetime
    ledger: LedgerInfo
    source_name: str
    source_base_url: str
    cursor: CursorState
    runs: tuple[RunSummary, ...]
    last_success: RunSummary | None
    outbox: dict[str, int]
    outbox_oldest_waiting_at: datetime | None
    quarantine_open: int
    quarantine_resolved: int
    tasks: TaskCounts
    units: int
    sources: tuple[SourceCursor, ...] = ()
    """Over several sources, each one's cursor (`source_name`/`cursor` are the first's); empty
    over one."""
    strategy: str | None = None
    """How the (first) source is read: ``incremental`` (a lastModifyStr cursor) or
    ``snapshot`` (iDesk 6: the whole list every run, no cursor); None when its mapping cannot
    be read."""


def _public_url(url: str) -> str:
    """An HTTP URL without user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def status_summary(
    db: Db,
    settings: Settings,
    *,
    clock: Clock | None = None,
    runs: int = 5,
    sources: Sequence[str] = (),
) -> StatusSummary:
    """Read the ledger's state (read-only; one short read transaction). `sources`: the names
    of the configured sources shown, when more than one (each one's cursor is read); the
    summary's own source is `settings.source`."""
    now = to_utc((clock or SystemClock()).now())
    name = settings.source.name
    urls = {src.name: src.base_url for src in settings.all_sources}
    mappings = {src.name: src.mapping for src in settings.all_sources}
    strategies = {m: read_strategy(m) for m in {settings.source.mapping, *mappings.values()}}
    with reading(db) as r:
        recent = tuple(list_runs(r, limit=runs))
        last_success = next((run for run in recent if run.finished), None) or last_finished(r)
        state = get_sync_state(r, name) or CursorState(name, None, None, None, "")
        several = tuple(
            SourceCursor(
                each,
                _public_url(urls.get(each, "")),
                get_sync_state(r, each) or CursorState(each, None, None, None, ""),
                strategies.get(mappings.get(each, "")),
            )
            for each in (sources if len(sources) > 1 else ())
        )
        open_q, resolved_q = quarantine_counts(r)
        summary = StatusSummary(
            generated_at=now,
            ledger=LedgerInfo(
                url=absolute_url(r.display_url),
                backend=r.backend,
                schema_revision=read_revision(r),
                schema_head=head_revision(),
            ),
            source_name=name,
            source_base_url=_public_url(settings.source.base_url),
            cursor=state,
            runs=recent,
            last_success=last_success,
            outbox=state_counts(r),
            outbox_oldest_waiting_at=oldest_waiting(r),
            quarantine_open=open_q,
            quarantine_resolved=resolved_q,
            tasks=task_counts(r),
            units=count_units(r),
            sources=several,
            strategy=strategies[settings.source.mapping],
        )
    log.debug("status_read", runs=len(recent), tasks=summary.tasks.total, quarantine=open_q)
    return summary


def render_status(summary: StatusSummary, fmt: str = "table", lang: str = "vi") -> str:
    """The summary as terminal text (``table``) or JSON (``json``)."""
    from connector.i18n import check_lang  # noqa: PLC0415 - the labels, for a table
    from connector.views import shapes, text  # noqa: PLC0415 - rich only for a table

    chosen = check_lang(lang)
    if fmt == "json":
        return json.dumps(shapes.status_json(summary), ensure_ascii=False, indent=2) + "\n"
    if fmt != "table":
        raise ValueError(f"unknown status format {fmt!r}; valid: table, json")
    from rich.console import Console  # noqa: PLC0415 - rich only for a table

    buffer = io.StringIO()
    Console(file=buffer, width=160, no_color=True, highlight=False).print(
        text.status_renderable(summary, chosen)
    )
    return buffer.getvalue()
