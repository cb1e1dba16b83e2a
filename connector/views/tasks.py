"""The tasks as ``tasks list`` and ``tasks show`` present them: read models over the ledger.

`task_lines` is the tasks of a lead unit and/or a status, streamed as the few columns
``tasks list`` shows; `task_view` one task classified as of a
date (now, or as the ledger knew it then) with its suggested deadline and history. Both only
read; `connector.views.shapes` turns them into the documented JSON and `connector.views.text`
into terminal text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from connector.errors import ConfigError, NotFound
from connector.ledger.codec import task_from_json
from connector.ledger.facts import task_facts
from connector.ledger.history import HistoryEntry, snapshot_on, task_history
from connector.ledger.lines import TaskLine, iter_task_lines
from connector.ledger.reader import reading
from connector.ledger.tasks import LedgerTask, read_task
from connector.ledger.units import known_unit_codes
from connector.models import NO_FACTS, Classification, NormalisedTask, StatusCode
from connector.rules.deadlines import DeadlinePolicy, classify
from connector.rules.judge import Judgement, judge

if TYPE_CHECKING:
    from connector.ledger.reader import Db
    from connector.rules.calendar import WorkingCalendar
    from connector.rules.phrases import Suggestion


def check_unit(db: Db, unit: str | None) -> None:
    """Refuse a unit code the ledger does not know (`ConfigError` listing those it does)."""
    if unit is None:
        return
    known = sorted(known_unit_codes(db))
    if unit not in known:
        listed = ", ".join(known) if known else "none yet (run `idesk-connector sync`)"
        raise ConfigError(f"--unit {unit!r} is not a unit in the ledger; known units: {listed}")


def check_status(status: str | None) -> None:
    """Refuse a status code that is none of `StatusCode` (`ConfigError` listing them)."""
    if status is not None and status not in StatusCode.__members__:
        valid = ", ".join(StatusCode.__members__)
        raise ConfigError(f"--status {status!r} is not a status code; valid: {valid}")


def task_lines(
    db: Db,
    *,
    unit: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    include_deleted: bool = False,
) -> Iterator[TaskLine]:
    """The tasks by id as ``tasks list`` lines, streamed (`iter_task_lines`): the live ones, and
    those deleted at the source too with `include_deleted`. The unit and status are checked now,
    before the first line is read, so a wrong one fails before any output."""
    check_status(status)
    check_unit(db, unit)
    return iter_task_lines(
        db, unit=unit, status=status, limit=limit, include_deleted=include_deleted
    )


@dataclass(frozen=True)
class TaskView:
    """A task as the ledger knows it (now, or at the end of an as-of day), judged: its
    classification, suggested deadline, kind (with an administrator's override) and the
    extensions granted after its deadline had passed (`judgement`)."""

    task: NormalisedTask
    ledger: LedgerTask
    judgement: Judgement
    history: list[HistoryEntry]
    as_of: date
    known_since: date | None

    @property
    def classification(self) -> Classification:
        return self.judgement.classification

    @property
    def suggestion(self) -> Suggestion | None:
        return self.judgement.suggestion

    @property
    def deleted_at_source(self) -> bool:
        """Deleted at the source (by then, or since: the ledger's current row tells)."""
        return self.ledger.deleted_at_source or self.task.deleted


def task_view(
    db: Db,
    task_id: int,
    *,
    as_of: date,
    historical: bool,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
) -> TaskView:
    """Task `task_id` classified as of `as_of`; with `historical`, as the ledger knew it then.

    `NotFound` (exit 4) when the ledger does not hold it; `ConfigError` when it was first seen
    after `as_of`.
    """
    with reading(db) as r:
        current = read_task(r, task_id)
        if current is None:
            raise NotFound(
                f"task {task_id} is not in the ledger; `idesk-connector tasks list` lists "
                "the tasks it holds",
                what="task",
                key=str(task_id),
            )
        task, known = current.task, None
        if historical:
            snap = snapshot_on(r, task_id, as_of)
            if snap is None:
                raise ConfigError(
                    f"task {task_id} was not yet in the ledger on {as_of.isoformat()} "
                    "(first seen later)"
                )
            task, known = task_from_json(snap.normalised_json), snap.observed_on
        history = task_history(r, task_id, until=as_of if historical else None)
        facts = task_facts(r, [task_id], as_of=as_of if historical else None)
    classification = classify(task, as_of, calendar, policy)
    known_facts = facts.get(task_id, NO_FACTS)
    return TaskView(
        task=task,
        ledger=current,
        judgement=judge(task, classification, calendar, policy, known_facts),
        history=history,
        as_of=as_of,
        known_since=known,
    )
