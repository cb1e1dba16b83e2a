"""Classify: the deadline rules applied to every task of the ledger, writing what changed.

`reclassify` walks the task table in batches, one transaction a batch: it classifies each task
as of a date (`connector.rules.deadlines.classify`), reads a deadline from the text of a task
without one (`connector.rules.phrases`), and writes only what changed: the classification
columns, a ``status_code`` history row per status change (dated by `status_effective_on`), and
whatever its `planner` adds in the same transaction (the outbox rows,
`connector.outbox.planning.outbox_planner`). The pull calls it after its pages
(`connector.source.pull`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import structlog
from sqlmodel import Session

from connector.clock import Clock, local_date
from connector.errors import BadRecord
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import TaskRow
from connector.models import NormalisedTask, StatusCode
from connector.ops.progress import ProgressReporter
from connector.rules.calendar import WorkingCalendar
from connector.rules.deadlines import Classification, DeadlinePolicy, classify
from connector.rules.phrases import Suggestion, suggest_for_task

log = structlog.get_logger(__name__)

DONE_STATUSES = frozenset({StatusCode.HT_DUNG_HAN, StatusCode.HT_QUA_HAN, StatusCode.HT_KHONG_HAN})
OPEN_FROM_ASSIGNMENT = frozenset({StatusCode.DTH_TRONG_HAN, StatusCode.KHONG_THOI_HAN})


def suggestion_for(task: NormalisedTask, calendar: WorkingCalendar) -> Suggestion | None:
    """A deadline read from the text of a task without one (steering content, then subject)."""
    return None if task.deadline is not None else suggest_for_task(task, calendar)


def classification_values(result: Classification, suggestion: Suggestion | None) -> dict[str, Any]:
    """The task columns a classification (and a suggested deadline) fills."""
    return {
        "status_code": result.status.value,
        "eff_due": result.eff_due,
        "days_overdue": result.days_overdue,
        "working_days_overdue": result.working_days_overdue,
        "working_days_left": result.working_days_left,
        "due_soon": result.due_soon,
        "overdue_over_30": result.overdue_over_30,
        "stale_no_deadline": result.stale_no_deadline,
        "unconfirmed": result.unconfirmed,
        "extended": result.extended,
        "suggested_deadline": suggestion.deadline if suggestion is not None else None,
        "suggested_phrase": suggestion.phrase if suggestion is not None else "",
        "suggested_recurrence": (suggestion.recurrence or "") if suggestion is not None else "",
    }


def status_effective_on(
    result: Classification, previous: str | None, task: NormalisedTask, as_of: date
) -> date:
    """The local date a (new) status took effect, never after `as_of`.

    Overdue: the day after ``eff_due``. Done: the completion date. A first classification of a
    task open within its deadline (or without one): the day it was assigned. Otherwise the
    as-of date (the day the change was seen).
    """
    status = result.status
    day = as_of
    if status is StatusCode.DTH_QUA_HAN and result.eff_due is not None:
        day = result.eff_due + timedelta(days=1)
    elif status in DONE_STATUSES and result.completed_on is not None:
        day = result.completed_on
    elif previous is None and status in OPEN_FROM_ASSIGNMENT and task.assigned_at is not None:
        day = local_date(task.assigned_at)
    return min(day, as_of)


@dataclass
class ClassifyResult:
    """What `reclassify` did."""

    classified: int = 0
    changed: int = 0
    status_changes: int = 0
    suggested: int = 0
    planned: int = 0
    errors: int = 0


Planner = Callable[[Session, TaskRow, NormalisedTask, Classification], int]
"""Called for every classified task inside its batch transaction (after its row was updated);
returns how many outbox rows it added (`outbox_planner`)."""


def reclassify(
    ledger: Ledger,
    *,
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    run_id: str,
    clock: Clock,
    batch_size: int = 500,
    progress: ProgressReporter | None = None,
    planner: Planner | None = None,
) -> ClassifyResult:
    """Classify every task as of `as_of`, one transaction a batch, writing only what changed:
    the classification columns, a ``status_code`` history row per status change, and whatever
    `planner` adds (outbox rows) in the same transaction."""
    result = ClassifyResult()
    after = 0
    while True:
        with ledger.transaction() as session:
            ids = repo.task_ids_after(session, after, batch_size)
            if not ids:
                break
            observed_at = clock.now()
            changes: list[repo.ClassificationChange] = []
            for row in repo.load_tasks(session, ids):
                task = repo.task_from_row(row)
                try:
                    classification = classify(task, as_of, calendar, policy)
                except BadRecord as exc:
                    result.errors += 1
                    log.warning(
                        "classify_failed", task_id=task.source_id, field=exc.field, error=str(exc)
                    )
                    continue
                suggestion = suggestion_for(task, calendar)
                values = classification_values(classification, suggestion)
                result.classified += 1
                result.suggested += suggestion is not None and suggestion.deadline is not None
                if repo.classification_differs(row, values):
                    changes.append(
                        repo.ClassificationChange(
                            task_id=task.source_id,
                            values=values,
                            old_status=row.status_code,
                            effective_on=status_effective_on(
                                classification, row.status_code, task, as_of
                            ),
                            source_modified=task.last_modified,
                        )
                    )
                    repo.show_classification(row, values, as_of=as_of)
                if planner is not None:
                    result.planned += planner(session, row, task, classification)
            result.changed += len(changes)
            result.status_changes += repo.write_classifications(
                session, changes, as_of=as_of, run_id=run_id, observed_at=observed_at
            )
            after = ids[-1]
        if progress is not None:
            progress.advance(len(ids))
    return result
