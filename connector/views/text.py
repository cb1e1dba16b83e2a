"""The commands' terminal output: what a person reads when ``--format`` is not ``json``.

One function per command result, taking the same typed results as `connector.views.shapes`
(the JSON) does; text from the ledger or the server is shown as plain text with its control
characters made visible (`connector.ops.log.terminal_safe`), never as rich markup. `cli.py`
prints what these return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.clock import LOCAL_TZ, to_utc
from connector.i18n import fmt_date, label, labels, recurrence_text
from connector.ops.log import for_terminal, redact, terminal_safe
from connector.reports.render.lines import one_line
from connector.views import shapes

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
    from rich.table import Table
    from rich.text import Text

    from connector.i18n import Lang
    from connector.ledger.cursor import CursorState
    from connector.ledger.lines import TaskLine
    from connector.ledger.quarantine import QuarantineEntry
    from connector.ledger.runs import RunSummary
    from connector.ops.jobs import JobResult
    from connector.views.check import CheckStep
    from connector.views.listings import AlertPreview, CalendarRange, OutboxListing
    from connector.views.status import StatusSummary
    from connector.views.tasks import TaskView


def _lines(lines: Sequence[str]) -> str:
    return "\n".join(terminal_safe(line, one_line=True) for line in lines)


def _cells(*values: Any) -> list[Text]:
    """Table cells from ledger values: plain text (never rich markup), controls made visible."""
    from rich.text import Text  # noqa: PLC0415 - rich only for a table

    return [Text(terminal_safe("" if v is None else str(v), one_line=True)) for v in values]


def _dash(value: Any) -> str:
    return "-" if value is None else str(value)


# -- time, labels --------------------------------------------------------------------------------


def local_time(value: datetime | None, lang: Lang = "vi") -> str:
    """An instant in Vietnam time (Asia/Ho_Chi_Minh) as tables show it: ``30/11/2026 14:24:02``
    in Vietnamese, ``2026-11-30 14:24:02`` in English; "-" for None. JSON keeps UTC."""
    if value is None:
        return "-"
    local = to_utc(value).astimezone(LOCAL_TZ)
    return local.strftime("%d/%m/%Y %H:%M:%S" if lang == "vi" else "%Y-%m-%d %H:%M:%S")


def seconds_text(value: float | None, lang: Lang = "vi") -> str:
    """Seconds with one decimal as tables and summaries show them: ``1,8`` in Vietnamese (a
    decimal comma, as the reports write numbers), ``1.8`` in English; "-" for None."""
    if value is None:
        return "-"
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


def zone(lang: Lang = "vi") -> str:
    """The note that says the times are Vietnam time: "giờ Việt Nam" / "ICT"."""
    return label("time_zone_note", lang)


def _label_or(key: str, lang: Lang, fallback: str) -> str:
    """`label(key)`, or `fallback` for a value without a label (a state added later)."""
    try:
        return label(key, lang)
    except KeyError:
        return fallback


def outcome_label(outcome: str, lang: Lang = "vi") -> str:
    """A run's outcome in words (``success`` → "thành công")."""
    return _label_or(f"outcome_{outcome}", lang, outcome)


def outbox_state_label(state: str, lang: Lang = "vi") -> str:
    """An outbox row's state in words (``pending`` → "chờ gửi")."""
    return _label_or(f"outbox_state_{state}", lang, state)


COUNTS_ROOM = 40
"""Columns a run's counts need beside its other cells; with fewer, they go under the table."""


class RunsWithCounts:
    """A table of runs whose last column, each run's counts, moves under the table when the
    console leaves it fewer than `COUNTS_ROOM` columns: one line per run, its id then its
    counts, wrapped between two counts, never inside one. Folded into a narrow column (80
    columns), ``alerts_sent=321`` was cut into pieces, a line or two per count. Every count is
    shown either way."""

    def __init__(
        self,
        build: Callable[[bool], Table],
        counts: Sequence[tuple[str, str, str]],
        heading: str,
    ) -> None:
        self.build = build  # the table, with (True) or without (False) its counts column
        self.counts = counts  # (run id, its counts, its row style) per run
        self.heading = heading

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.measure import Measurement  # noqa: PLC0415 - rich only for a table
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        without = self.build(False)
        taken = Measurement.get(console, options, without).maximum
        if options.max_width - taken >= COUNTS_ROOM or not self.counts:
            yield self.build(True)
            return
        yield without
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for run_id, counts, style in self.counts:
            grid.add_row(Text(run_id), Text(counts), style=style)
        yield Text(f"{self.heading}:", style="bold")
        yield grid


OUTBOX_TABLE_WIDTH = 110
"""Columns `outbox list` and `quarantine list` need as tables (keys and reasons readable);
narrower, each row is lines (`NarrowList`)."""


class NarrowList:
    """A table on a console of `width` columns or more; on a narrower one its title, then each
    row as lines beside its id (given by the caller: every value of the row, whole). At 80
    columns the outbox table cut each key in three: "alr:210014:Q" / "UA_HAN:2026-" / "11-13#1"."""

    def __init__(self, table: Table, lines: Sequence[tuple[str, str]], width: int) -> None:
        self.table = table
        self.lines = lines
        self.width = width

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table  # noqa: PLC0415 - rich only for a table
        from rich.text import Text  # noqa: PLC0415

        if options.max_width >= self.width or not self.lines:
            yield self.table
            return
        if self.table.title:
            yield Text(str(self.table.title), style="bold")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, shown in self.lines:
            grid.add_row(
                Text(terminal_safe(key, one_line=True)),
                Text("\n".join(terminal_safe(line, one_line=True) for line in shown.split("\n"))),
            )
        yield grid


def _table(title: str, headers: Sequence[str]) -> Table:
    from rich.table import Table  # noqa: PLC0415 - rich only for a table

    table = Table(title=title, title_justify="left", header_style="bold")
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


# -- sync, pull, push --------------------------------------------------------------------------

_JOB_COUNTS = (
    "pages",
    "fetched",
    "inserted",
    "updated",
    "unchanged",
    "quarantined",
    "resolved",
    "deleted_marked",
    "status_changes",
    "planned",
    "pushes_sent",
    "alerts_sent",
    "would_send",
    "delivery_failed",
    "dead",
    "undelivered",
    "retries",
    "push_retries",
    "rate_limited",
    "waited_s",
)
_SNAPSHOT_COUNTS = ("detail_calls", "detail_failed", "skipped_not_assignment", "left_list")
"""Shown after ``deleted_marked`` when the pull read a snapshot listing (iDesk 6)."""


def _job_keys(counts: dict[str, Any]) -> list[str]:
    """The counts a summary shows, in order: a snapshot pull's after ``deleted_marked``."""
    keys = [key for key in _JOB_COUNTS if key in counts]
    if counts.get("list_changed") or counts.get("list_unchanged"):
        at = keys.index("deleted_marked") + 1 if "deleted_marked" in keys else len(keys)
        keys[at:at] = [key for key in _SNAPSHOT_COUNTS if key in counts]
    return keys


def job_text(result: JobResult, lang: Lang = "vi") -> str:
    """What a ``sync``, ``pull`` or ``push`` did: its outcome, counts and what it would send."""
    data = shapes.job_json(result)
    counts = data["counts"]
    head = label("job_dry_run", lang) if data["dry_run"] else ""
    lines = [
        head
        + label(
            "job_head",
            lang,
            command=data["command"],
            run_id=data["run_id"],
            outcome=outcome_label(data["outcome"], lang),
        )
    ]
    named = [(label(f"job_{key}", lang), counts[key]) for key in _job_keys(counts)]
    cursor = result.pull.cursor_after if result.pull is not None else None
    if cursor is not None:
        named.append((label("job_cursor", lang), f"{local_time(cursor, lang)} ({zone(lang)})"))
    width = max((len(name) for name, _ in named), default=0) + 2
    lines += [
        f"  {name:<{width}} {seconds_text(value, lang) if isinstance(value, float) else value}"
        for name, value in named
    ]
    would = data["would_deliver"]
    for item in would[:50]:
        what = item["alert_type"] or label("job_tracking_status", lang)
        lines.append(
            label(
                "job_would_deliver", lang, what=what, task_id=item["task_id"], item_key=item["key"]
            )
        )
    if len(would) > 50:
        lines.append(label("job_more", lang, count=len(would) - 50))
    return "\n".join(lines)


# -- tasks -------------------------------------------------------------------------------------


def _status_text(code: str | None, lang: Lang) -> str:
    from connector.i18n import status_label  # noqa: PLC0415
    from connector.models import StatusCode  # noqa: PLC0415

    if not code:
        return "-"
    try:
        return f"{status_label(StatusCode(code), lang)} ({code})"
    except ValueError:
        return code


SUBJECT_CHARS = 80
"""A subject longer than this is cut, ending with "…", in `tasks list` (`tasks show` has it all)."""

TASKS_TABLE_WIDTH = 110
"""Columns `tasks list` needs as a table; on a narrower console each task is two lines."""


def _subject(text: str | None) -> str:
    whole = one_line(text or "")
    return whole if len(whole) <= SUBJECT_CHARS else whole[: SUBJECT_CHARS - 1].rstrip() + "…"


class TasksTable:
    """``tasks list`` as a table on a console of `TASKS_TABLE_WIDTH` columns or more (its codes,
    numbers and dates never folded); on a narrower one (80 columns: seven columns of 6 to 11
    characters, "2026-05-2" / "7", "(HT_QUA_" / "HAN)") each task is two lines: its id, then
    number, unit, status, deadline and days overdue; under them its subject."""

    columns = ("id", "sign_number", "lead_unit", "status", "eff_due", "overdue", "subject")
    kept = ("id", "sign_number", "lead_unit", "eff_due", "overdue")  # never folded

    def __init__(self, rows: Sequence[TaskLine], lang: Lang) -> None:
        self.rows = [
            {
                "id": str(r["id"]),
                "sign_number": r["sign_number"] or "",
                "lead_unit": r["lead_unit"] or "",
                "status": _status_text(r["status"], lang)
                + (f" · {label('status_deleted', lang)}" if r["deleted_at_source"] else ""),
                "eff_due": r["eff_due"] or "",
                "overdue": str(r["days_overdue"] or ""),
                "subject": _subject(r["subject"]),
            }
            for r in (shapes.line_json(row) for row in rows)
        ]
        self.lang = lang

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table  # noqa: PLC0415 - rich only for a table
        from rich.text import Text  # noqa: PLC0415

        lang = self.lang
        title = label("tasks_title", lang, count=len(self.rows))
        if options.max_width >= TASKS_TABLE_WIDTH or not self.rows:
            table = Table(title=title, title_justify="left", header_style="bold")
            for column in self.columns:
                longest = max(
                    len(terminal_safe(r[column], one_line=True))
                    for r in self.rows or [{column: ""}]
                )
                kept = column in self.kept
                table.add_column(
                    label(f"tasks_col_{column}", lang),
                    overflow="fold",
                    min_width=min(longest, 24) if kept else None,
                    justify="right" if column == "overdue" else "left",
                )
            for r in self.rows:
                table.add_row(*_cells(*(r[c] for c in self.columns)))
            yield table
            return
        yield Text(title, style="bold")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        due, overdue = label("tasks_col_eff_due", lang), label("tasks_col_overdue", lang)
        for r in self.rows:
            head = [r["sign_number"], r["lead_unit"], r["status"]]
            head.append(f"{due}: {r['eff_due']}" if r["eff_due"] else "")
            head.append(f"{overdue}: {r['overdue']}" if r["overdue"] else "")
            first = " · ".join(part for part in head if part)
            shown = "\n".join(
                terminal_safe(line, one_line=True) for line in (first, r["subject"]) if line
            )
            grid.add_row(*_cells(r["id"]), Text(shown))
        yield grid


def tasks_table(rows: Sequence[TaskLine], lang: Lang = "vi") -> RenderableType:
    """``tasks list``: the tasks with their stored status, as a table on a wide console and
    two lines a task on a narrow one (`TasksTable`)."""
    return TasksTable(rows, lang)


def _field(key: str, lang: Lang, width: int) -> str:
    """A `tasks show` field name, indented and padded so the values line up."""
    return f"  {(label(key, lang) + ':'):<{width}} "


_SHOW_FIELDS = (
    "show_subject",
    "show_lead_unit",
    "show_source_status",
    "show_deadline",
    "show_overdue",
    "show_completed",
    "show_flags",
    "show_judged",
    "show_kind",
    "show_extended",
    "show_suggested",
    "show_also_stated",
    "show_note",
    "show_recurring",
    "show_acknowledged",
)


def task_text(view: TaskView, lang: Lang = "vi") -> str:
    """``tasks show``: the task, its classification, suggestion, acknowledgement and history,
    field names in `lang` (codes and dates as the JSON has them)."""
    data = shapes.task_show_json(view, lang)
    c = data["classification"]
    width = max(len(label(k, lang)) for k in _SHOW_FIELDS) + 1

    def f(key: str) -> str:
        return _field(key, lang, width)

    flags = [k for k, v in c["flags"].items() if v]
    status = f"  {label('show_status', lang, as_of=c['as_of'])}: {_status_text(c['status'], lang)}"
    lines = [
        label(
            "show_task",
            lang,
            id=data["id"],
            sign_number=data["sign_number"],
            category=data["category"],
        ),
        f"{f('show_subject')}{one_line(data['subject'] or '')}",
        f"{f('show_lead_unit')}{data['lead_unit']['code']} {data['lead_unit']['name']}",
        f"{f('show_source_status')}{data['source_status']} ({data['state']})",
        status,
        f("show_deadline")
        + label(
            "show_deadline_line",
            lang,
            deadline=data["deadline"] or "-",
            eff_due=c["eff_due"] or "-",
            original=c["original_deadline"] or "-",
        ),
        f("show_overdue")
        + label(
            "show_overdue_line",
            lang,
            days=c["days_overdue"],
            working=c["working_days_overdue"],
            left=_days_left(c["working_days_left"], lang),
        ),
        f"{f('show_completed')}{c['completed_on'] or '-'}",
        f"{f('show_flags')}{', '.join(flags) or '-'}",
    ]
    lines += _judgement_lines(data, lang, f)
    sug = data["suggested_deadline"]
    if sug:
        recurs = (
            label("show_recurs", lang, recurrence=sug["recurrence"]) if sug["recurrence"] else ""
        )
        lines.append(
            f("show_suggested")
            + label(
                "show_suggested_line",
                lang,
                deadline=sug["deadline"] or "-",
                phrase=sug["phrase"],
                recurs=recurs,
            )
        )
        for alt in sug["alternatives"]:
            lines.append(
                f("show_also_stated")
                + label(
                    "show_suggested_line",
                    lang,
                    deadline=alt["deadline"],
                    phrase=alt["phrase"],
                    recurs="",
                )
            )
        for note in sug["notes"]:
            lines.append(f"{f('show_note')}{note['text']}")
    lines += _recurring_lines(data["recurring"], lang, f)
    lines.append(
        f"{f('show_acknowledged')}{data['acknowledged']['tracking_status'] or '-'}"
        f" / {data['acknowledged']['eff_due'] or '-'}"
    )
    lines.append(f"  {label('show_history', lang)}:")
    # In the order of the days the changes took effect (a first sync records a task's whole
    # past at once, in field order: 2026-05-28, 2025-10-11, ...); JSON keeps the ledger's order.
    for h in sorted(data["history"], key=lambda h: h["effective_on"] or ""):
        lines.append(
            f"    {h['effective_on']}  {h['field']}: {h['old'] or '∅'} -> {h['new'] or '∅'}"
        )
    return _lines(lines)


def _days_left(value: int | None, lang: Lang = "vi") -> str:
    """Working days left; 0 is "đến hạn hôm nay" (due today)."""
    return label("show_due_today", lang) if value == 0 else _dash(value)


def _kind_name(kind: str, lang: Lang) -> str:
    key = f"show_kind_{kind}"
    return label(key, lang) if key in labels() else kind


def _judgement_lines(data: dict[str, Any], lang: Lang, f: Callable[[str], str]) -> list[str]:
    """Why the task is judged as it is: the deadline in force, the kind, late extensions."""
    c = data["classification"]
    lines: list[str] = []
    if c["completed_on"] and c["judged_on"]:
        lines.append(f("show_judged") + label("show_judged_line", lang, day=c["judged_on"]))
    kind = data["kind"]
    quoted = ", ".join(f"“{w}”" for w in kind["words"])
    override = kind["override"]
    if override is not None:
        lines.append(
            f("show_kind")
            + label(
                "show_kind_set",
                lang,
                kind=_kind_name(kind["kind"], lang),
                by=override["by"],
                at=_when(datetime.fromisoformat(override["set_at"]), lang),
                reason=f": {override['reason']}" if override["reason"] else "",
                automatic=_kind_name(kind["automatic"], lang),
                words=label("show_kind_words", lang, words=quoted) if quoted else "",
            )
        )
    else:
        key = f"show_kind_src_{kind['source']}"
        source = label(key, lang) if key in labels() else kind["source"]
        read_from = f"{source}: {quoted}" if quoted else source
        lines.append(
            f("show_kind")
            + label("show_kind_read", lang, kind=_kind_name(kind["kind"], lang), source=read_from)
        )
    for late in data["extended_after_overdue"]:
        lines.append(
            f("show_extended")
            + label(
                "show_extended_line",
                lang,
                old=late["old_deadline"],
                new=late["new_deadline"] or "∅",
                changed_on=late["changed_on"],
                days=late["days_overdue"],
                old_eff_due=late["old_eff_due"],
            )
        )
    return lines


def _recurring_lines(rec: dict[str, Any] | None, lang: Lang, f: Callable[[str], str]) -> list[str]:
    """A recurring obligation's occurrences, one line each, with its verdict in words."""
    if rec is None:
        return []
    lines = [
        f("show_recurring")
        + label(
            "show_recurring_line",
            lang,
            rule=recurrence_text(rec["period"], lang),
            count=len(rec["occurrences"]),
            reports=", ".join(rec["report_dates"]) or "-",
        )
    ]
    for occ in rec["occurrences"]:
        due = occ["eff_due"]
        if occ["due"] != occ["eff_due"]:
            due = f"{occ['due']} -> {occ['eff_due']}"
        detail = ""
        if occ["reported_on"]:
            detail = label("show_occ_reported", lang, day=occ["reported_on"])
        if occ["days_overdue"]:
            detail += label("show_occ_overdue", lang, days=occ["days_overdue"])
        elif occ["working_days_left"] is not None:
            detail += label("show_occ_left", lang, left=_days_left(occ["working_days_left"], lang))
        lines.append(
            "    "
            + label(
                "show_occurrence",
                lang,
                period=f"{occ['period']:<10}",
                due=due,
                status_label=occ["status_label"],
                status=occ["status"],
                detail=detail,
            )
        )
    return lines


# -- quarantine, outbox, runs, alerts ----------------------------------------------------------


def quarantine_text(entries: Sequence[QuarantineEntry], lang: Lang = "vi") -> RenderableType:
    """``quarantine list``: one row a record, with the field, its state and the reason."""
    table = _table(
        label("quarantine_title", lang, count=len(entries)),
        [label(f"quarantine_col_{c}", lang) for c in ("record", "field", "state", "reason")],
    )
    from connector.ledger.quarantine import REFUSED_FIELD  # noqa: PLC0415

    lines: list[tuple[str, str]] = []  # below 110 columns: the reason whole, under the record
    for q in entries:
        state = (
            label("quarantine_resolved", lang)
            if q.resolved_at
            else label("quarantine_seen", lang, count=q.attempts)
        )
        # A document the source refuses to the account: no field at fault, its reason in words.
        field, reason = (
            (label("quarantine_refused_field", lang), label("quarantine_refused", lang))
            if q.field == REFUSED_FIELD
            else (q.field, redact(q.reason))
        )
        table.add_row(*_cells(q.record_key, field, state, reason))
        shown = f"{q.record_key} · {state}\n{field}\n{reason}"
        lines.append((f"{len(lines) + 1}.", shown))
    return NarrowList(table, lines, OUTBOX_TABLE_WIDTH)


def outbox_text(listing: OutboxListing, lang: Lang = "vi") -> RenderableType:
    """``outbox list``: one row an outbox row, with its state, failed attempts, when it was
    created or sent (Vietnam time), its key and its last error."""
    rows, total = listing.rows, listing.total
    shown = label("outbox_showing", lang, count=len(rows)) if len(rows) < total else ""
    table = _table(
        label("outbox_title", lang, total=total) + shown,
        [
            label("outbox_col_id", lang),
            label("outbox_col_state", lang),
            label("outbox_col_attempts", lang),
            label("outbox_col_when", lang, zone=zone(lang)),
            label("outbox_col_key", lang),
            label("outbox_col_error", lang),
        ],
    )
    lines: list[tuple[str, str]] = []
    for r in rows:
        when = r.sent_at if r.sent_at is not None else r.created_at
        cells = (
            f"#{r.id}",
            outbox_state_label(r.state, lang),
            r.attempts or "",
            local_time(when, lang),
            r.idempotency_key,
            redact(r.last_error),
        )
        table.add_row(*_cells(*cells))
        head = [str(cells[1]), str(cells[3])]
        if r.attempts:
            head.append(f"{label('outbox_col_attempts', lang)}: {r.attempts}")
        lines.append(
            (
                str(cells[0]),
                "\n".join(
                    [
                        " · ".join(head),
                        r.idempotency_key,
                        *([f"{label('outbox_col_error', lang)}: {cells[5]}"] if cells[5] else []),
                    ]
                ),
            )
        )
    return NarrowList(table, lines, OUTBOX_TABLE_WIDTH)


def several_sources(runs: Sequence[RunSummary]) -> bool:
    """Whether `runs` ran for more than one source (their tables then name each run's)."""
    return len({run.source for run in runs}) > 1


def _run_cell(run: RunSummary, sourced: bool) -> Text:
    """A run's id, and under it its source when the runs are of several sources."""
    from rich.text import Text  # noqa: PLC0415 - rich only for a table

    return Text("\n").join(_cells(run.run_id, run.source) if sourced else _cells(run.run_id))


_RUN_BRIEF = ("fetched", "inserted", "updated", "quarantined", "alerts_sent", "pushes_sent")


def runs_text(runs: Sequence[RunSummary], lang: Lang = "vi") -> RenderableType:
    """``runs list``: one row a run, newest first, started in Vietnam time."""
    sourced = several_sources(runs)  # each run's source under its id
    run_column = "run_source" if sourced else "run"
    columns = ("started", run_column, "command", "trigger", "outcome", "duration", "counts")
    counts = [
        (
            r.run_id,
            ", ".join(f"{k}={r.counts[k]}" for k in _RUN_BRIEF if k in r.counts),
            "" if r.finished or r.outcome == "running" else "red",
        )
        for r in runs
    ]

    def table(with_counts: bool) -> Table:
        shown = columns if with_counts else columns[:-1]
        built = _table(
            label("runs_title", lang, count=len(runs)),
            [label(f"runs_col_{c}", lang, zone=zone(lang)) for c in shown],
        )
        for r, (_, brief, style) in zip(runs, counts, strict=True):
            duration = "-" if r.duration_s is None else f"{seconds_text(r.duration_s, lang)} s"
            cells = _cells(
                local_time(r.started_at, lang),
                r.run_id,
                r.command,
                r.trigger,
                outcome_label(r.outcome, lang),
                duration,
                *([brief] if with_counts else []),
            )
            cells[1] = _run_cell(r, sourced)
            built.add_row(*cells, style=style)
        return built

    return RunsWithCounts(table, counts, label("runs_col_counts", lang))


def alerts_text(preview: AlertPreview, lang: Lang = "vi") -> str:
    """``alerts preview``: a line an alert with its type, task and recipients, its title on the
    next line (beside them it ran past 80 columns and a terminal broke the document's number
    in two), then a line per channel it goes by, with that channel's recipients."""
    as_of = fmt_date(preview.as_of, lang)
    lines = [label("preview_title", lang, count=len(preview.alerts), as_of=as_of)]
    task = label("preview_task", lang)
    for i in preview.alerts:
        lines.append(f"  {i.type.value:<18} {task} {i.task_id:<8} -> {', '.join(i.recipients)}")
        lines.append(f"    {i.title}")
        for target in preview.targets.get(i.key, ()):
            to = ", ".join(target.recipients) or "-"
            if target.missing:
                to += f" ({label('preview_no_address', lang)}: {', '.join(target.missing)})"
            lines.append(f"      {target.channel:<8} {to}")
    if preview.address_book_error:
        lines.append(f"{label('preview_address_book', lang)}: {preview.address_book_error}")
    return _lines(lines)


# -- calendar, check ---------------------------------------------------------------------------

_WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")


def calendar_table(found: CalendarRange, lang: str) -> RenderableType:
    """``calendar``: the days off and swapped working days of a range, with their source, and
    how many working days the range has."""
    from rich.console import Group  # noqa: PLC0415 - rich only for a table
    from rich.table import Table  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    start, end = found.start, found.end
    vi = lang != "en"
    table = Table(
        title=(
            f"Lịch ngày nghỉ, ngày làm bù {start:%d/%m/%Y}–{end:%d/%m/%Y}"
            if vi
            else f"Days off and swapped working days {start:%d/%m/%Y}–{end:%d/%m/%Y}"
        )
    )
    for header in (
        ("Ngày", "Thứ", "Loại", "Tên", "Nguồn")
        if vi
        else ("Date", "Weekday", "Kind", "Name", "Source")
    ):
        table.add_column(header)
    for e in found.days:
        kind = ("Làm việc" if vi else "Working") if e.working else ("Nghỉ" if vi else "Day off")
        weekday = _WEEKDAYS_VI[e.day.weekday()] if vi else f"{e.day:%A}"
        table.add_row(f"{e.day:%d/%m/%Y}", weekday, kind, e.label(lang), e.source)
    total = found.working_days
    line = f"Số ngày làm việc: {total}" if vi else f"Working days in range: {total}"
    return Group(table, Text(line))


def check_source_line(name: str, lang: Lang = "vi") -> str:
    """The line before one source's steps when ``check`` checks several sources."""
    return for_terminal(label("source_section", lang, source=name), one_line=True)


def check_line(step: CheckStep, lang: Lang = "vi") -> str:
    """One step of ``check``, as it finishes."""
    mark = label("check_ok" if step.ok else "check_fail", lang)
    name = _label_or(f"check_step_{step.name}", lang, step.name)
    detail = " ".join(part.strip() for part in step.said(lang).splitlines())
    return for_terminal(f"[{mark:<4}] {name:<14} {detail}  ({step.seconds:.2f}s)", one_line=True)


# -- status ------------------------------------------------------------------------------------


def _t(key: str, lang: Lang) -> str:
    return label(f"status_{key}", lang)


def _when(value: datetime | None, lang: Lang, *, with_zone: bool = True) -> str:
    if value is None:
        return _t("never", lang)
    shown = local_time(value, lang)
    return f"{shown} ({zone(lang)})" if with_zone else shown


def _read_rows(
    cursor: CursorState, strategy: str | None, lang: Lang, indent: str = ""
) -> list[tuple[str, str]]:
    """How far a source was read: its cursor and last full read; for a snapshot source (iDesk
    6: no lastModifyStr, the whole list every run), the last complete read of its list and the
    last ``sync --full``."""
    if strategy == "snapshot":
        return [
            (f"{indent}{_t('last_list_read', lang)}", _when(cursor.updated_at, lang)),
            (f"{indent}{_t('last_full_snapshot', lang)}", _when(cursor.last_full_at, lang)),
        ]
    return [
        (f"{indent}{_t('cursor', lang)}", _when(cursor.cursor, lang)),
        (f"{indent}{_t('last_full', lang)}", _when(cursor.last_full_at, lang)),
    ]


def _source_rows(summary: StatusSummary, lang: Lang) -> list[tuple[str, str]]:
    """The source, its cursor and last full read; over several sources, those of each."""
    if not summary.sources:
        return [
            (_t("source", lang), f"{summary.source_name} {summary.source_base_url}"),
            *_read_rows(summary.cursor, summary.strategy, lang),
        ]
    rows: list[tuple[str, str]] = []
    for each in summary.sources:
        rows += [
            (_t("source", lang), f"{each.name} {each.base_url}"),
            *_read_rows(each.cursor, each.strategy, lang, "  "),
        ]
    return rows


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
    outbox = ", ".join(f"{outbox_state_label(k, lang)} {v}" for k, v in summary.outbox.items())
    if summary.outbox_oldest_waiting_at is not None:
        outbox += f"; {_t('oldest', lang)} {_when(summary.outbox_oldest_waiting_at, lang)}"
    tasks = summary.tasks
    by_status = ", ".join(f"{k} {v}" for k, v in tasks.by_status.items())
    last = summary.last_success
    rows = [
        (_t("ledger", lang), f"{led.url} ({led.backend})"),
        (_t("schema", lang), schema),
        *_source_rows(summary, lang),
        (
            _t("last_success", lang),
            f"{last.command} {last.run_id} {_when(last.ended_at, lang)}"
            f" ({outcome_label(last.outcome, lang)})"
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
    counts = [
        (
            run.run_id,
            ", ".join(f"{k}={v}" for k, v in run.counts.items() if v) or "–",
            "" if run.finished else "red",
        )
        for run in summary.runs
    ]

    sourced = several_sources(summary.runs)  # each run's source under its id

    def runs(with_counts: bool) -> Table:
        table = Table(title=_t("runs", lang), title_justify="left", header_style="bold")
        keys = ("col_run_source" if sourced else "col_run", "col_command", "col_started")
        for key in (*keys, "col_duration", "col_outcome"):
            table.add_column(label(f"status_{key}", lang, zone=zone(lang)))
        if with_counts:
            table.add_column(_t("col_counts", lang), overflow="fold")
        for run, (_, counted, style) in zip(summary.runs, counts, strict=True):
            table.add_row(
                _run_cell(run, sourced),
                run.command,
                _when(run.started_at, lang, with_zone=False),
                "" if run.duration_s is None else seconds_text(run.duration_s, lang),
                outcome_label(run.outcome, lang),
                *([counted] if with_counts else []),
                style=style,
            )
        return table

    return Group(overview, RunsWithCounts(runs, counts, _t("col_counts", lang)))
