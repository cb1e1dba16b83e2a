"""Read-only views of the ledger for the inspection commands, with stable JSON shapes.

Each ``*_dict`` function returns plain JSON-ready data whose keys are documented in the README
("JSON shapes") and do not change without a note there: scripts depend on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from connector.clock import to_utc
from connector.errors import ConfigError
from connector.i18n import Lang
from connector.ledger import repo
from connector.ledger.codec import task_from_json
from connector.ledger.tables import OutboxRow, QuarantineRow, TaskHistory, TaskRow, TaskSnapshot
from connector.models import NormalisedTask
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import suggestion_for
from connector.rules.deadlines import Classification, DeadlinePolicy, classify
from connector.rules.phrases import Suggestion, note_text


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    return value.isoformat()


def task_summary_dict(row: TaskRow) -> dict[str, Any]:
    """One line of ``tasks list``."""
    return {
        "id": row.source_id,
        "sign_number": row.sign_number,
        "subject": row.subject,
        "lead_unit": row.lead_unit_code,
        "state": row.state,
        "status": row.status_code,
        "deadline": _iso(row.deadline),
        "eff_due": _iso(row.eff_due),
        "days_overdue": row.days_overdue,
        "due_soon": row.due_soon,
        "confirmed": row.confirmed,
        "deleted_at_source": row.deleted_at_source,
    }


def classification_dict(result: Classification) -> dict[str, Any]:
    return {
        "as_of": _iso(result.as_of),
        "status": result.status.value,
        "deadline": _iso(result.deadline),
        "original_deadline": _iso(result.original_deadline),
        "eff_due": _iso(result.eff_due),
        "days_overdue": result.days_overdue,
        "working_days_overdue": result.working_days_overdue,
        "working_days_left": result.working_days_left,
        "completed_on": _iso(result.completed_on),
        "flags": {
            "due_soon": result.due_soon,
            "overdue_over_30": result.overdue_over_30,
            "stale_no_deadline": result.stale_no_deadline,
            "unconfirmed": result.unconfirmed,
            "extended": result.extended,
        },
    }


def suggestion_dict(found: Suggestion | None, lang: Lang = "vi") -> dict[str, Any] | None:
    """``suggested_deadline`` of ``tasks show``; note texts in `lang`."""
    if found is None:
        return None
    rule = found.recurrence_rule
    return {
        "deadline": _iso(found.deadline),
        "phrase": found.phrase,
        "recurrence": found.recurrence,
        "recurrence_phrase": found.recurrence_phrase,
        "kind": str(found.kind),
        "recurrence_rule": None
        if rule is None
        else {
            "period": rule.period,
            "due_month": rule.due_month,
            "due_day": rule.due_day,
            "due_weekday": rule.due_weekday,
            "due_phrase": rule.due_phrase,
        },
        "alternatives": [
            {"deadline": _iso(a.deadline), "phrase": a.phrase, "kind": str(a.kind)}
            for a in found.alternatives
        ],
        "notes": [{"code": str(n), "text": note_text(n, lang)} for n in found.notes],
    }


def history_dict(entry: TaskHistory) -> dict[str, Any]:
    return {
        "field": entry.field,
        "old": entry.old_value,
        "new": entry.new_value,
        "observed_on": _iso(entry.observed_on),
        "effective_on": _iso(entry.effective_on),
        "source_modified": _iso(entry.source_modified),
        "run_id": entry.run_id,
    }


@dataclass(frozen=True)
class TaskView:
    """A task as the ledger knows it (now, or at the end of an as-of day), classified."""

    task: NormalisedTask
    row: TaskRow
    classification: Classification
    suggestion: Suggestion | None
    history: list[TaskHistory]
    as_of: date
    known_since: date | None


def _version_on(session: Session, task_id: int, day: date) -> TaskSnapshot | None:
    query = (
        select(TaskSnapshot)
        .where(col(TaskSnapshot.task_id) == task_id, col(TaskSnapshot.observed_on) <= day)
        .order_by(col(TaskSnapshot.id).desc())
        .limit(1)
    )
    return session.exec(query).first()


def task_view(
    session: Session,
    task_id: int,
    *,
    as_of: date,
    historical: bool,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
) -> TaskView | None:
    """Task `task_id` classified as of `as_of`; with `historical`, as the ledger knew it then."""
    row = repo.get_task(session, task_id)
    if row is None:
        return None
    if historical:
        snap = _version_on(session, task_id, as_of)
        if snap is None:
            raise ConfigError(
                f"task {task_id} was not yet in the ledger on {as_of.isoformat()} "
                "(first seen later)"
            )
        task = task_from_json(snap.normalised_json)
        known = snap.observed_on
    else:
        task = repo.task_from_row(row)
        known = None
    result = classify(task, as_of, calendar, policy)
    history = [
        h for h in repo.task_history(session, task_id) if not historical or h.observed_on <= as_of
    ]
    return TaskView(
        task=task,
        row=row,
        classification=result,
        suggestion=suggestion_for(task, calendar),
        history=history,
        as_of=as_of,
        known_since=known,
    )


def task_view_dict(view: TaskView, lang: Lang = "vi") -> dict[str, Any]:
    """``tasks show --format json``; texts meant for people (notes) in `lang`."""
    task = view.task
    return {
        "id": task.source_id,
        "ed_id": task.ed_id,
        "sign_number": task.sign_number,
        "category": task.category,
        "subject": task.subject,
        "steering_content": task.steering_content,
        "lead_unit": {"code": task.lead_unit_code, "name": task.lead_unit_name},
        "coordinators": [{"code": c.code, "name": c.name} for c in task.coordinators],
        "source_status": task.source_status,
        "state": task.state.value,
        "assigned_at": _iso(task.assigned_at),
        "doc_date": _iso(task.doc_date),
        "deadline": _iso(task.deadline),
        "deadline_changes": [
            {
                "old": _iso(c.old_deadline),
                "new": _iso(c.new_deadline),
                "changed_at": _iso(c.changed_at),
                "reason": c.reason,
            }
            for c in task.deadline_changes
        ],
        "completed_at": _iso(task.completed_at),
        "progress": task.progress,
        "last_report_at": _iso(task.last_report_at),
        "confirmed": task.confirmed,
        "source_tracking_status": task.tracking_status,
        "last_modified": _iso(task.last_modified),
        "deleted_at_source": view.row.deleted_at_source or task.deleted,
        "classification": classification_dict(view.classification),
        "suggested_deadline": suggestion_dict(view.suggestion, lang),
        "acknowledged": {
            "tracking_status": view.row.acked_tracking_status or None,
            "eff_due": _iso(view.row.acked_eff_due),
        },
        "history": [history_dict(h) for h in view.history],
    }


def quarantine_dict(row: QuarantineRow) -> dict[str, Any]:
    """One line of ``quarantine list``."""
    return {
        "id": row.id,
        "record_key": row.record_key,
        "task_id": row.task_id,
        "field": row.field,
        "bad_value": row.bad_value,
        "reason": row.reason,
        "first_seen_at": _iso(row.first_seen_at),
        "last_seen_at": _iso(row.last_seen_at),
        "attempts": row.attempts,
        "resolved_at": _iso(row.resolved_at),
    }


def outbox_dict(row: OutboxRow) -> dict[str, Any]:
    """One line of ``outbox list``."""
    payload = json.loads(row.payload_json or "{}")
    return {
        "id": row.id,
        "key": row.idempotency_key,
        "kind": row.kind,
        "task_id": row.task_id,
        "alert_type": row.alert_type or None,
        "occasion": row.occasion or None,
        "state": row.state,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "last_error": row.last_error or None,
        "created_at": _iso(row.created_at),
        "sent_at": _iso(row.sent_at),
        "response_id": row.response_id or None,
        "recipients": payload.get("recipients"),
        "title": payload.get("title"),
    }
