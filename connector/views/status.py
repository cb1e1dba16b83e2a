"""What `idesk-connector status` shows: the ledger's state at a glance, read-only.

`status_summary(ledger, settings)` reads the last runs (outcome and counts), the incremental
cursor of the configured source, the outbox by state, the quarantine, the tasks by deadline
status, and where the ledger is (its URL without the password, its schema revision). It writes
nothing. `status_dict` gives the JSON shape below (stable, ``schema_version`` 1; keys in
English; instants ISO 8601 in UTC; absent values ``null``); `render_status` prints it as a
terminal table or as JSON.

::

    {
      "schema_version": 1,
      "generated_at": "2022-03-07T02:00:00+00:00",
      "ledger": {"url": "sqlite:////var/lib/idesk/ledger.db", "backend": "sqlite",
                 "schema_revision": "0003_outbox", "schema_head": "0003_outbox",
                 "schema_current": true},
      "source": {"name": "idesk", "base_url": "https://idesk.example.vn/ubnd/smartcloud"},
      "cursor": {"cursor": "2022-03-07T01:59:12+00:00", "last_full_at": null,
                 "updated_at": "2022-03-07T02:00:00+00:00", "updated_run": "9f1c2d3e4a5b"},
      "runs": [{"run_id": "9f1c2d3e4a5b", "command": "sync", "trigger": "cron",
                "started_at": "...", "ended_at": "...", "duration_s": 12.4,
                "outcome": "success", "counts": {"fetched": 200, "inserted": 3},
                "error": "", "dry_run": false}],
      "last_success": {... one run, or null ...},
      "outbox": {"pending": 2, "sending": 0, "sent": 40, "failed": 1, "dead": 0, "past": 0,
                 "superseded": 3},
      "outbox_oldest_waiting_at": "2022-03-07T01:00:00+00:00",
      "quarantine": {"open": 1, "resolved": 4},
      "tasks": {"total": 1387, "deleted_at_source": 2, "unclassified": 0,
                "by_status": {"HT_DUNG_HAN": 506, ..., "DA_HUY": 0}},
      "units": 41
    }

``runs`` is newest first (at most `runs` of them, default 5); ``last_success`` is the newest
run whose outcome is ``success`` or ``problems`` (it finished), whatever its place in ``runs``.
``outbox_oldest_waiting_at`` is the creation time of the oldest row still to be delivered
(pending, failed or sending). ``quarantine.open`` counts records not yet resolved.
``tasks.by_status`` counts the status stored by the last classification (every code listed,
zeros included; tasks never classified are ``unclassified``; deleted ones are not counted there).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import structlog
from sqlalchemy import false, func, select
from sqlmodel import col

from connector.clock import Clock, SystemClock, to_utc
from connector.i18n import Lang, check_lang
from connector.ledger import repo
from connector.ledger.db import Ledger, head_revision, revision_of
from connector.ledger.tables import OutboxRow, QuarantineRow, SyncRun, TaskRow, UnitRow
from connector.models import StatusCode
from connector.ops.runs import RunOutcome, RunSummary, get_run, list_runs
from connector.settings import Settings

if TYPE_CHECKING:
    from rich.console import RenderableType

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 1
OUTBOX_STATES: tuple[str, ...] = (
    "pending",
    "sending",
    "sent",
    "failed",
    "dead",
    "past",
    "superseded",
)
"""Every outbox state (`connector.outbox.states.OutboxState`), listed even when no row has it."""
_WAITING = ("pending", "failed", "sending")
_FINISHED = (RunOutcome.SUCCESS.value, RunOutcome.PROBLEMS.value)


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
class CursorInfo:
    cursor: datetime | None
    last_full_at: datetime | None
    updated_at: datetime | None
    updated_run: str


@dataclass(frozen=True)
class TaskCounts:
    total: int
    deleted_at_source: int
    unclassified: int
    by_status: dict[str, int]


@dataclass(frozen=True)
class StatusSummary:
    """The ledger at a glance (see the module docstring for the JSON shape)."""

    generated_at: datetime
    ledger: LedgerInfo
    source_name: str
    source_base_url: str
    cursor: CursorInfo
    runs: tuple[RunSummary, ...]
    last_success: RunSummary | None
    outbox: dict[str, int]
    outbox_oldest_waiting_at: datetime | None
    quarantine_open: int
    quarantine_resolved: int
    tasks: TaskCounts
    units: int


def _public_url(url: str) -> str:
    """An HTTP URL without user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, ""))


def _count(session: Any, query: Any) -> int:
    return int(session.scalar(query) or 0)


def _last_finished(ledger: Ledger) -> RunSummary | None:
    """The newest run that finished (success or problems), however old."""
    with ledger.reading() as session:
        run_id = session.scalar(
            select(col(SyncRun.run_id))
            .where(col(SyncRun.outcome).in_(_FINISHED))
            .order_by(col(SyncRun.started_at).desc())
            .limit(1)
        )
    return get_run(ledger, str(run_id)) if run_id is not None else None


def status_summary(
    ledger: Ledger, settings: Settings, *, clock: Clock | None = None, runs: int = 5
) -> StatusSummary:
    """Read the ledger's state (read-only; one short read transaction)."""
    now = to_utc((clock or SystemClock()).now())
    recent = tuple(list_runs(ledger, limit=runs))
    last_success = next((r for r in recent if r.outcome in _FINISHED), None)
    if last_success is None:
        last_success = _last_finished(ledger)
    with ledger.engine.connect() as connection:
        revision = revision_of(connection)
    with ledger.reading() as session:
        state = repo.get_sync_state(session, settings.source.name)
        outbox = dict.fromkeys(OUTBOX_STATES, 0)
        for name, n in session.execute(
            select(col(OutboxRow.state), func.count()).group_by(col(OutboxRow.state))
        ):
            outbox[str(name)] = int(n)
        oldest = session.scalar(
            select(func.min(col(OutboxRow.created_at))).where(col(OutboxRow.state).in_(_WAITING))
        )
        q_open = _count(
            session,
            select(func.count())
            .select_from(QuarantineRow)
            .where(col(QuarantineRow.resolved_at).is_(None)),
        )
        q_all = _count(session, select(func.count()).select_from(QuarantineRow))
        by_status = {code.value: 0 for code in StatusCode}
        unclassified = 0
        live = col(TaskRow.deleted_at_source) == false()
        for code, n in session.execute(
            select(col(TaskRow.status_code), func.count())
            .where(live)
            .group_by(col(TaskRow.status_code))
        ):
            if code is None or code == "":
                unclassified += int(n)
            else:
                by_status[str(code)] = by_status.get(str(code), 0) + int(n)
        total = _count(session, select(func.count()).select_from(TaskRow))
        deleted = _count(
            session,
            select(func.count())
            .select_from(TaskRow)
            .where(col(TaskRow.deleted_at_source).is_(True)),
        )
        units = _count(session, select(func.count()).select_from(UnitRow))
    summary = StatusSummary(
        generated_at=now,
        ledger=LedgerInfo(
            url=ledger.display_url,
            backend=ledger.backend,
            schema_revision=revision,
            schema_head=head_revision(),
        ),
        source_name=settings.source.name,
        source_base_url=_public_url(settings.source.base_url),
        cursor=CursorInfo(
            cursor=state.cursor if state else None,
            last_full_at=state.last_full_at if state else None,
            updated_at=state.updated_at if state else None,
            updated_run=state.updated_run if state else "",
        ),
        runs=recent,
        last_success=last_success,
        outbox=outbox,
        outbox_oldest_waiting_at=oldest,
        quarantine_open=q_open,
        quarantine_resolved=q_all - q_open,
        tasks=TaskCounts(
            total=total, deleted_at_source=deleted, unclassified=unclassified, by_status=by_status
        ),
        units=units,
    )
    log.debug("status_read", runs=len(recent), tasks=total, quarantine=q_open)
    return summary


# -- output -------------------------------------------------------------------------------------


def _instant(value: datetime | None) -> str | None:
    return to_utc(value).isoformat() if value is not None else None


def run_dict(run: RunSummary) -> dict[str, Any]:
    """One run in the status JSON."""
    duration = (
        round((to_utc(run.ended_at) - to_utc(run.started_at)).total_seconds(), 3)
        if run.ended_at is not None
        else None
    )
    return {
        "run_id": run.run_id,
        "command": run.command,
        "trigger": run.trigger,
        "started_at": _instant(run.started_at),
        "ended_at": _instant(run.ended_at),
        "duration_s": duration,
        "outcome": run.outcome,
        "counts": dict(run.counts),
        "error": run.error,
        "dry_run": run.dry_run,
    }


def status_dict(summary: StatusSummary) -> dict[str, Any]:
    """The summary as JSON-ready data (shape in the module docstring)."""
    led = summary.ledger
    cur = summary.cursor
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": _instant(summary.generated_at),
        "ledger": {
            "url": led.url,
            "backend": led.backend,
            "schema_revision": led.schema_revision,
            "schema_head": led.schema_head,
            "schema_current": led.schema_current,
        },
        "source": {"name": summary.source_name, "base_url": summary.source_base_url},
        "cursor": {
            "cursor": _instant(cur.cursor),
            "last_full_at": _instant(cur.last_full_at),
            "updated_at": _instant(cur.updated_at),
            "updated_run": cur.updated_run,
        },
        "runs": [run_dict(r) for r in summary.runs],
        "last_success": run_dict(summary.last_success) if summary.last_success else None,
        "outbox": dict(summary.outbox),
        "outbox_oldest_waiting_at": _instant(summary.outbox_oldest_waiting_at),
        "quarantine": {"open": summary.quarantine_open, "resolved": summary.quarantine_resolved},
        "tasks": {
            "total": summary.tasks.total,
            "deleted_at_source": summary.tasks.deleted_at_source,
            "unclassified": summary.tasks.unclassified,
            "by_status": dict(summary.tasks.by_status),
        },
        "units": summary.units,
    }


_LABELS: dict[str, dict[Lang, str]] = {
    "title": {"vi": "Tình trạng kết nối iDesk", "en": "iDesk connector status"},
    "ledger": {"vi": "Cơ sở dữ liệu", "en": "Ledger"},
    "schema": {"vi": "Phiên bản lược đồ", "en": "Schema revision"},
    "outdated": {"vi": "cần nâng cấp: idesk-connector db upgrade", "en": "needs: db upgrade"},
    "source": {"vi": "Nguồn", "en": "Source"},
    "cursor": {"vi": "Đã đọc đến (lastModifyStr)", "en": "Read up to (lastModifyStr)"},
    "last_full": {"vi": "Lần đọc toàn bộ gần nhất", "en": "Last full read"},
    "last_success": {"vi": "Lần chạy hoàn tất gần nhất", "en": "Last finished run"},
    "outbox": {"vi": "Hàng đợi gửi", "en": "Outbox"},
    "oldest": {"vi": "chờ lâu nhất từ", "en": "oldest waiting since"},
    "quarantine": {"vi": "Bản ghi lỗi (cách ly)", "en": "Quarantined records"},
    "resolved": {"vi": "đã xử lý", "en": "resolved"},
    "tasks": {"vi": "Nhiệm vụ", "en": "Tasks"},
    "deleted": {"vi": "đã xóa ở nguồn", "en": "deleted at source"},
    "unclassified": {"vi": "chưa phân loại", "en": "unclassified"},
    "units": {"vi": "Đơn vị", "en": "Units"},
    "runs": {"vi": "Các lần chạy gần nhất", "en": "Recent runs"},
    "never": {"vi": "chưa có", "en": "never"},
    "col_run": {"vi": "Mã lần chạy", "en": "Run"},
    "col_command": {"vi": "Lệnh", "en": "Command"},
    "col_started": {"vi": "Bắt đầu (UTC)", "en": "Started (UTC)"},
    "col_duration": {"vi": "Thời gian (giây)", "en": "Duration (s)"},
    "col_outcome": {"vi": "Kết quả", "en": "Outcome"},
    "col_counts": {"vi": "Số liệu", "en": "Counts"},
}


def _t(key: str, lang: Lang) -> str:
    return _LABELS[key][lang]


def _when(value: datetime | None, lang: Lang) -> str:
    if value is None:
        return _t("never", lang)
    return to_utc(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_renderable(summary: StatusSummary, lang: Lang = "vi") -> RenderableType:
    """The summary as rich tables (overview, then the recent runs)."""
    from rich.console import Group  # noqa: PLC0415 - rich only for a table
    from rich.table import Table  # noqa: PLC0415

    overview = Table(title=_t("title", lang), show_header=False, title_justify="left")
    overview.add_column(style="bold")
    overview.add_column(overflow="fold")
    led = summary.ledger
    schema = led.schema_revision or "-"
    if not led.schema_current:
        schema += f" ({_t('outdated', lang)})"
    outbox = ", ".join(f"{k} {v}" for k, v in summary.outbox.items())
    if summary.outbox_oldest_waiting_at is not None:
        outbox += f"; {_t('oldest', lang)} {_when(summary.outbox_oldest_waiting_at, lang)}"
    tasks = summary.tasks
    by_status = ", ".join(f"{k} {v}" for k, v in tasks.by_status.items())
    last = summary.last_success
    rows = [
        (_t("ledger", lang), f"{led.url} ({led.backend})"),
        (_t("schema", lang), schema),
        (_t("source", lang), f"{summary.source_name} {summary.source_base_url}"),
        (_t("cursor", lang), _when(summary.cursor.cursor, lang)),
        (_t("last_full", lang), _when(summary.cursor.last_full_at, lang)),
        (
            _t("last_success", lang),
            f"{last.command} {last.run_id} {_when(last.ended_at, lang)} ({last.outcome})"
            if last
            else _t("never", lang),
        ),
        (_t("outbox", lang), outbox),
        (
            _t("quarantine", lang),
            f"{summary.quarantine_open} ({_t('resolved', lang)} {summary.quarantine_resolved})",
        ),
        (
            _t("tasks", lang),
            f"{tasks.total} ({_t('deleted', lang)} {tasks.deleted_at_source}, "
            f"{_t('unclassified', lang)} {tasks.unclassified}): {by_status}",
        ),
        (_t("units", lang), str(summary.units)),
    ]
    for key, value in rows:
        overview.add_row(key, value)
    runs = Table(title=_t("runs", lang), title_justify="left", header_style="bold")
    for key in ("col_run", "col_command", "col_started", "col_duration", "col_outcome"):
        runs.add_column(_t(key, lang))
    runs.add_column(_t("col_counts", lang), overflow="fold")
    for run in summary.runs:
        data = run_dict(run)
        counts = ", ".join(f"{k}={v}" for k, v in run.counts.items())
        style = "" if run.outcome in _FINISHED else "red"
        runs.add_row(
            run.run_id,
            run.command,
            _when(run.started_at, lang),
            "" if data["duration_s"] is None else f"{data['duration_s']:.1f}",
            run.outcome,
            counts,
            style=style,
        )
    return Group(overview, runs)


def render_status(summary: StatusSummary, fmt: str = "table", lang: str = "vi") -> str:
    """The summary as terminal text (``table``) or JSON (``json``)."""
    chosen = check_lang(lang)
    if fmt == "json":
        return json.dumps(status_dict(summary), ensure_ascii=False, indent=2) + "\n"
    if fmt != "table":
        raise ValueError(f"unknown status format {fmt!r}; valid: table, json")
    from rich.console import Console  # noqa: PLC0415 - rich only for a table

    buffer = io.StringIO()
    Console(file=buffer, width=160, no_color=True, highlight=False).print(
        status_renderable(summary, chosen)
    )
    return buffer.getvalue()
