"""The ``--format json`` shapes of the commands: the one place read models become JSON.

Each function takes the typed result of a command (`connector.views.*`, a `JobResult`, the
ledger's records) and returns plain JSON-ready data whose keys are documented in the README
("JSON shapes") and do not change without a note there: scripts depend on them. Values are
encoded once (`connector.ledger.codec.encode`): instants ISO 8601 in UTC, dates ISO, enums by
value, absent values ``null``.

A task (``tasks show``) is derived from `NormalisedTask` itself: every field under its own name
but those `TASK_RENAMED`, the lead unit grouped as ``lead_unit`` and ``extra`` left out, so a
field added to the model is shown without a change here
(``tests/integration/test_ledger_columns.py``).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connector.ledger.codec import encode
from connector.models import Classification, DeadlineChange, NormalisedTask

if TYPE_CHECKING:
    from connector.i18n import Lang
    from connector.ledger.history import HistoryEntry
    from connector.ledger.lines import TaskLine
    from connector.ledger.outbox import OutboxEntry
    from connector.ledger.quarantine import QuarantineEntry
    from connector.ledger.runs import RunSummary
    from connector.ledger.tasks import LedgerTask
    from connector.ops.jobs import JobResult
    from connector.rules.deadlines import LateExtension
    from connector.rules.kinds import KindReading
    from connector.rules.phrases import Suggestion
    from connector.rules.recurring import Occurrence, RecurringObligation
    from connector.views.check import CheckStep
    from connector.views.listings import AlertPreview, CalendarRange, OutboxListing
    from connector.views.status import StatusSummary
    from connector.views.tasks import TaskView


def fields_of(
    item: Any, names: Iterable[str], renamed: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`names` of a record as JSON-ready data, each under its name or its `renamed` key."""
    renamed = renamed or {}
    return {renamed.get(name, name): encode(getattr(item, name)) for name in names}


def _none_if_empty(value: str | None) -> str | None:
    return value or None


# -- sync, pull, push --------------------------------------------------------------------------


def job_json(result: JobResult) -> dict[str, Any]:
    """``sync``/``pull``/``push --format json``."""
    pulled = result.pull
    return {
        "run_id": result.run_id,
        "command": result.command,
        "outcome": result.outcome.value,
        "dry_run": result.dry_run,
        "counts": result.counts(),
        "cursor_before": encode(pulled.cursor_before) if pulled else None,
        "cursor_after": encode(pulled.cursor_after) if pulled else None,
        "would_deliver": [
            fields_of(d, ("key", "kind", "task_id", "alert_type", "recipients"))
            for d in result.would_deliver
        ],
    }


# -- tasks -------------------------------------------------------------------------------------


def task_line_json(row: LedgerTask) -> dict[str, Any]:
    """One line of ``tasks list``."""
    task, stored = row.task, row.stored
    return {
        "id": task.source_id,
        "sign_number": task.sign_number,
        "subject": task.subject,
        "lead_unit": task.lead_unit_code,
        "state": task.state.value,
        "status": row.status_code,
        "deadline": encode(task.deadline),
        "eff_due": encode(stored.get("eff_due")),
        "days_overdue": stored.get("days_overdue", 0),
        "due_soon": bool(stored.get("due_soon")),
        "confirmed": task.confirmed,
        "deleted_at_source": task.deleted,
    }


def tasks_json(rows: Sequence[LedgerTask]) -> dict[str, Any]:
    """``tasks list --format json``."""
    return {"tasks": [task_line_json(r) for r in rows], "count": len(rows)}


def line_json(line: TaskLine) -> dict[str, Any]:
    """One line of ``tasks list`` from its listing row (the same object as `task_line_json`)."""
    return {
        "id": line.source_id,
        "sign_number": line.sign_number,
        "subject": line.subject,
        "lead_unit": line.lead_unit_code,
        "state": line.state,
        "status": line.status_code,
        "deadline": encode(line.deadline),
        "eff_due": encode(line.eff_due),
        "days_overdue": line.days_overdue,
        "due_soon": bool(line.due_soon),
        "confirmed": line.confirmed,
        "deleted_at_source": line.deleted_at_source,
    }


_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode
_STRING = json.encoder.encode_basestring  # what that encoder writes a string as


def _scalar(value: Any) -> str:
    """One JSON value as `_ENCODE` writes it (the common scalars without its generic path)."""
    if isinstance(value, str):
        return _STRING(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    return _ENCODE(value)


def _value(value: Any, margin: str) -> str:
    """One JSON value as ``json.dumps(..., ensure_ascii=False, indent=2)`` writes it at `margin`
    inside a document: a scalar with the C encoder, a list or an object (rare) indented."""
    if isinstance(value, list | tuple | dict):
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
        return text.replace("\n", "\n" + margin)
    return _scalar(value)


def _flat_object(data: Mapping[str, Any], margin: str) -> str:
    """A dict as ``json.dumps(..., ensure_ascii=False, indent=2)`` writes it at `margin` inside
    a document (that encoder in pure Python is slow; this uses the C one for each scalar)."""
    inner = margin + "  "
    body = ",\n".join(
        f"{inner}{_scalar(key)}: {_value(value, inner)}" for key, value in data.items()
    )
    return f"{margin}{{\n{body}\n{margin}}}" if data else f"{margin}{{}}"


def tasks_json_text(lines: Iterable[TaskLine]) -> Iterator[str]:
    """``tasks list --format json`` written as it is read, piece by piece: the very text of
    ``json.dumps(tasks_json(...), ensure_ascii=False, indent=2)`` (the documented shape), without
    holding the lines in memory. The count comes last, as in that shape."""
    return _listing_text("tasks", map(line_json, lines), lambda count: count)


def _listing_text(
    key: str, objects: Iterable[Mapping[str, Any]], total: Callable[[int], int]
) -> Iterator[str]:
    """``{key: [objects...], "count": total(n)}`` as ``json.dumps(..., ensure_ascii=False,
    indent=2)`` writes it, piece by piece as the objects are read (n: how many there were)."""
    count = 0
    yield f'{{\n  "{key}": ['
    for data in objects:
        yield ("\n" if count == 0 else ",\n") + _flat_object(data, "    ")
        count += 1
    yield ("\n  ]" if count else "]") + f',\n  "count": {total(count)}\n}}'


TASK_RENAMED: Mapping[str, str] = {
    "source_id": "id",
    "tracking_status": "source_tracking_status",
    "deleted": "deleted_at_source",
}
"""Task fields shown under another name in ``tasks show``."""
TASK_GROUPED: Mapping[str, Mapping[str, str]] = {
    "lead_unit": {"lead_unit_code": "code", "lead_unit_name": "name"},
}
"""Task fields shown together, as one object."""
TASK_NOT_SHOWN: frozenset[str] = frozenset({"extra"})
"""Task fields ``tasks show`` leaves out (``extra``: the mapping's additional values)."""
CHANGE_RENAMED: Mapping[str, str] = {"old_deadline": "old", "new_deadline": "new"}
"""`DeadlineChange` fields under another name in ``deadline_changes``."""

_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(NormalisedTask))
_GROUPED_FIELDS = {name: group for group, names in TASK_GROUPED.items() for name in names}


def task_json(task: NormalisedTask) -> dict[str, Any]:
    """Every field of a task (see the module docstring), in the model's order."""
    out: dict[str, Any] = {}
    for name in _TASK_FIELDS:
        if name in TASK_NOT_SHOWN:
            continue
        value = getattr(task, name)
        group = _GROUPED_FIELDS.get(name)
        if group is not None:
            out.setdefault(group, {})[TASK_GROUPED[group][name]] = encode(value)
        elif name == "deadline_changes":
            out[name] = [
                fields_of(c, (f.name for f in dataclasses.fields(DeadlineChange)), CHANGE_RENAMED)
                for c in value
            ]
        else:
            out[TASK_RENAMED.get(name, name)] = encode(value)
    return out


FLAGS: tuple[str, ...] = (
    "due_soon",
    "overdue_over_30",
    "stale_no_deadline",
    "unconfirmed",
    "extended",
    "extended_after_overdue",
)
"""The classification's flags, grouped as ``flags`` in ``tasks show``."""
_CLASSIFICATION_SHOWN = (
    "as_of",
    "status",
    "deadline",
    "original_deadline",
    "eff_due",
    "days_overdue",
    "working_days_overdue",
    "working_days_left",
    "completed_on",
    "judged_on",
)


def classification_json(result: Classification) -> dict[str, Any]:
    """``classification`` of ``tasks show``."""
    return {**fields_of(result, _CLASSIFICATION_SHOWN), "flags": fields_of(result, FLAGS)}


def suggestion_json(found: Suggestion | None, lang: Lang = "vi") -> dict[str, Any] | None:
    """``suggested_deadline`` of ``tasks show``; note texts in `lang`."""
    from connector.rules.phrases import note_text  # noqa: PLC0415 - the phrase reader is large

    if found is None:
        return None
    rule = found.recurrence_rule
    return {
        **fields_of(found, ("deadline", "phrase", "recurrence", "recurrence_phrase")),
        "kind": str(found.kind),
        "recurrence_rule": None
        if rule is None
        else fields_of(rule, ("period", "due_month", "due_day", "due_weekday", "due_phrase")),
        "alternatives": [
            {**fields_of(a, ("deadline", "phrase")), "kind": str(a.kind)}
            for a in found.alternatives
        ],
        "notes": [{"code": str(n), "text": note_text(n, lang)} for n in found.notes],
    }


def kind_json(reading: KindReading) -> dict[str, Any]:
    """``kind`` of ``tasks show``: product or routine, where and from which words it was read,
    and an administrator's override (who, when, why; ``automatic``: what the words say)."""
    override = reading.override
    return {
        "kind": reading.kind.value,
        "source": reading.source.value,
        "words": list(reading.words),
        "automatic": reading.automatic.value if reading.automatic is not None else None,
        "override": None
        if override is None
        else {
            "kind": override.kind.value,
            "by": override.by,
            "reason": override.reason or None,
            "set_at": encode(override.set_at),
        },
    }


def late_extension_json(late: LateExtension) -> dict[str, Any]:
    """One of ``tasks show``'s ``extended_after_overdue``: a deadline change made after the
    deadline it replaced had passed."""
    return fields_of(
        late, ("old_deadline", "new_deadline", "old_eff_due", "changed_on", "days_overdue")
    )


def occurrence_json(occ: Occurrence, lang: Lang = "vi") -> dict[str, Any]:
    """One of ``tasks show``'s ``recurring.occurrences``: a period, its due dates and verdict
    (`connector.rules.recurring.Occurrence`); ``period_label`` and ``status_label`` in `lang`."""
    from connector.i18n import occurrence_label, period_text  # noqa: PLC0415

    period = occ.period
    return {
        "period": occ.key,
        "period_label": period_text(period.start, period.end, period.unit, lang),
        "start": encode(period.start),
        "end": encode(period.end),
        "due": encode(occ.due),
        "eff_due": encode(occ.eff_due),
        "status": occ.status.value,
        "status_label": occurrence_label(occ.status, lang),
        "reported_on": encode(occ.reported_on),
        "days_overdue": occ.days_overdue,
        "working_days_left": occ.working_days_left,
        "due_soon": occ.due_soon,
        "missed": occ.missed,
    }


def recurring_json(
    recurring: RecurringObligation | None, report_dates: Sequence[Any], lang: Lang = "vi"
) -> dict[str, Any] | None:
    """``recurring`` of ``tasks show``: None for a task that is not a recurring obligation; else
    its rule, the progress report dates seen, its occurrences oldest first and their count by
    verdict."""
    if recurring is None:
        return None
    rule = recurring.rule
    counts = recurring.counts()
    return {
        "period": rule.period,
        "due_month": rule.due_month,
        "due_day": rule.due_day,
        "due_weekday": rule.due_weekday,
        "report_dates": [encode(d) for d in report_dates],
        "counts": {status.value: n for status, n in counts.items()},
        "occurrences": [occurrence_json(o, lang) for o in recurring.occurrences],
    }


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    """One change in ``tasks show``'s ``history``."""
    return fields_of(
        entry,
        (
            "field",
            "old_value",
            "new_value",
            "observed_on",
            "effective_on",
            "source_modified",
            "run_id",
        ),
        {"old_value": "old", "new_value": "new"},
    )


def task_show_json(view: TaskView, lang: Lang = "vi") -> dict[str, Any]:
    """``tasks show --format json``; texts meant for people (notes) in `lang`."""
    return {
        **task_json(view.task),
        "deleted_at_source": view.deleted_at_source,
        "classification": classification_json(view.classification),
        "suggested_deadline": suggestion_json(view.suggestion, lang),
        "kind": kind_json(view.judgement.kind),
        "extended_after_overdue": [late_extension_json(e) for e in view.judgement.late_extensions],
        "recurring": recurring_json(
            view.judgement.recurring, view.judgement.facts.report_dates, lang
        ),
        "acknowledged": {
            "tracking_status": _none_if_empty(view.ledger.acked_tracking_status),
            "eff_due": encode(view.ledger.acked_eff_due),
        },
        "history": [history_json(h) for h in view.history],
    }


# -- quarantine, outbox, runs --------------------------------------------------------------------

_QUARANTINE_SHOWN = (
    "id",
    "record_key",
    "task_id",
    "field",
    "bad_value",
    "reason",
    "first_seen_at",
    "last_seen_at",
    "attempts",
    "resolved_at",
)


def quarantine_json(entries: Sequence[QuarantineEntry]) -> dict[str, Any]:
    """``quarantine list --format json``."""
    return {
        "records": [fields_of(e, _QUARANTINE_SHOWN) for e in entries],
        "count": len(entries),
    }


def outbox_row_json(entry: OutboxEntry) -> dict[str, Any]:
    """One line of ``outbox list``."""
    payload = entry.payload
    return {
        "id": entry.id,
        "key": entry.idempotency_key,
        "kind": entry.kind,
        "task_id": entry.task_id,
        "alert_type": _none_if_empty(entry.alert_type),
        "occasion": _none_if_empty(entry.occasion),
        "state": entry.state,
        "attempts": entry.attempts,
        "next_attempt_at": encode(entry.next_attempt_at),
        "last_error": _none_if_empty(entry.last_error),
        "created_at": encode(entry.created_at),
        "sent_at": encode(entry.sent_at),
        "response_id": _none_if_empty(entry.response_id),
        "recipients": payload.get("recipients"),
        "title": payload.get("title"),
    }


def outbox_json(listing: OutboxListing) -> dict[str, Any]:
    """``outbox list --format json`` (``count``: the rows before ``--limit``)."""
    return {"rows": [outbox_row_json(e) for e in listing.rows], "count": listing.total}


def outbox_json_text(rows: Iterable[OutboxEntry], total: Callable[[int], int]) -> Iterator[str]:
    """``outbox list --format json`` written as it is read, piece by piece: the very text of
    ``json.dumps(outbox_json(...), ensure_ascii=False, indent=2)`` without holding the rows in
    memory; `total` gives the count once that many rows were written."""
    return _listing_text("rows", map(outbox_row_json, rows), total)


_RUN_SHOWN = (
    "run_id",
    "command",
    "trigger",
    "started_at",
    "ended_at",
    "duration_s",
    "outcome",
    "counts",
    "error",
    "dry_run",
    "source",
)


def run_json(run: RunSummary) -> dict[str, Any]:
    """One run, in ``runs list`` and ``status``."""
    return fields_of(run, _RUN_SHOWN)


def runs_json(runs: Sequence[RunSummary]) -> dict[str, Any]:
    """``runs list --format json``."""
    return {"runs": [run_json(r) for r in runs]}


# -- status ------------------------------------------------------------------------------------


def status_json(summary: StatusSummary) -> dict[str, Any]:
    """``status --format json`` (shape in `connector.views.status`)."""
    from connector.views.status import SCHEMA_VERSION  # noqa: PLC0415

    led = summary.ledger
    tasks = summary.tasks
    out: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": encode(summary.generated_at),
        "ledger": {
            **fields_of(led, ("url", "backend", "schema_revision", "schema_head")),
            "schema_current": led.schema_current,
        },
        "source": {"name": summary.source_name, "base_url": summary.source_base_url},
        "cursor": {
            **fields_of(summary.cursor, ("cursor", "last_full_at", "updated_at", "updated_run")),
            "strategy": summary.strategy,
        },
        "runs": [run_json(r) for r in summary.runs],
        "last_success": run_json(summary.last_success) if summary.last_success else None,
        "outbox": dict(summary.outbox),
        "outbox_oldest_waiting_at": encode(summary.outbox_oldest_waiting_at),
        "quarantine": {"open": summary.quarantine_open, "resolved": summary.quarantine_resolved},
        "tasks": {
            **fields_of(tasks, ("total", "deleted_at_source", "unclassified")),
            "by_status": dict(tasks.by_status),
        },
        "units": summary.units,
    }
    if summary.sources:  # over several sources only: one-source JSON keeps its shape
        out["sources"] = [
            {
                "name": each.name,
                "base_url": each.base_url,
                "cursor": {
                    **fields_of(
                        each.cursor, ("cursor", "last_full_at", "updated_at", "updated_run")
                    ),
                    "strategy": each.strategy,
                },
            }
            for each in summary.sources
        ]
    return out


# -- alerts, calendar, check -------------------------------------------------------------------


def alerts_json(preview: AlertPreview) -> dict[str, Any]:
    """``alerts preview --format json``."""
    return {
        "as_of": preview.as_of.isoformat(),
        "alerts": [
            {
                **fields_of(
                    i, ("key", "type", "task_id", "occasion", "recipients", "level", "send_on")
                ),
                "to_send": i.is_latest,
                **fields_of(i, ("title", "content")),
                "channels": [
                    fields_of(t, ("channel", "recipients", "missing"))
                    for t in preview.targets.get(i.key, ())
                ],
            }
            for i in preview.alerts
        ],
        "address_book_error": preview.address_book_error or None,
    }


def calendar_json(found: CalendarRange, lang: str) -> dict[str, Any]:
    """``calendar --format json``: the days off and swapped working days of a range."""
    return {
        "from": found.start.isoformat(),
        "to": found.end.isoformat(),
        "working_days": found.working_days,
        "days": [
            {
                "date": d.day.isoformat(),
                "kind": str(d.kind),
                "working": d.working,
                "name": d.label(lang),
                "source": d.source,
            }
            for d in found.days
        ],
    }


def check_json(steps: Sequence[CheckStep], ok: bool) -> dict[str, Any]:
    """``check --format json``; over several sources each step also names its `source`."""
    names = ("name", "ok", "detail", "seconds")
    return {
        "ok": ok,
        "steps": [fields_of(s, (*names, "source") if s.source else names) for s in steps],
    }
