"""A task judged as of a date: its deadline classification, and everything else the rules read
from it. Pure: a function of (task, classification, what the ledger knows of it, calendar,
policy).

`judge` gathers, beside the `Classification` (`connector.rules.deadlines.classify`):

* the **suggested deadline** its text states (`connector.rules.phrases`), for a task without a
  deadline in force;
* its **kind**, product or routine (`connector.rules.kinds`), with an administrator's override;
* its **occurrences** when it is a recurring obligation (`connector.rules.recurring`): no
  deadline in force, not withdrawn, and a recurrence in its text the calendar can place;
* the **extensions granted after the deadline had passed** that are in force
  (`connector.rules.deadlines.late_extensions`), when it is flagged so.

The classification step, the outbox planner, the report and ``tasks show`` all read a task
through it (`connector.rules.classify.judged`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from connector.clock import local_date
from connector.models import NO_FACTS, NormalisedTask, ReportedTask, StatusCode, TaskFacts
from connector.rules.deadlines import Classification, DeadlinePolicy, LateExtension, late_extensions
from connector.rules.kinds import KindReading, task_kind
from connector.rules.recurring import RecurringObligation, can_lay, occurrences

if TYPE_CHECKING:
    from connector.rules.calendar import WorkingCalendar
    from connector.rules.phrases import Suggestion

__all__ = ["Judgement", "judge", "start_of"]


@dataclass(frozen=True)
class Judgement:
    """One task as the rules see it as of `classification.as_of` (see the module docstring)."""

    task: NormalisedTask
    classification: Classification
    suggestion: Suggestion | None
    kind: KindReading
    facts: TaskFacts = NO_FACTS
    late_extensions: tuple[LateExtension, ...] = ()
    recurring: RecurringObligation | None = None

    @property
    def is_recurring(self) -> bool:
        """A recurring obligation: judged by its occurrences."""
        return self.recurring is not None


def start_of(task: ReportedTask) -> date:
    """The day a task's obligations start: its assignment date, else its document date, else
    the date of its last modification."""
    if task.assigned_at is not None:
        return local_date(task.assigned_at)
    if task.doc_date is not None:
        return task.doc_date
    return local_date(task.last_modified)


def judge(
    task: NormalisedTask,
    classification: Classification,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    facts: TaskFacts = NO_FACTS,
) -> Judgement:
    """The task judged as of `classification.as_of`, with what the ledger knows of it
    (`facts`: the report dates seen, the kind override)."""
    from connector.rules.phrases import suggest_for_task  # noqa: PLC0415 - the reader is large

    cls = classification
    suggestion = suggest_for_task(task, calendar) if cls.deadline is None else None
    recurring: RecurringObligation | None = None
    rule = suggestion.recurrence_rule if suggestion is not None else None
    if rule is not None and cls.status is not StatusCode.DA_HUY and can_lay(rule):
        found = occurrences(
            rule,
            assigned_on=start_of(task),
            completed_on=cls.completed_on,
            report_dates=facts.report_dates,
            as_of=cls.as_of,
            calendar=calendar,
            policy=policy,
        )
        recurring = RecurringObligation(rule, found)
    late: tuple[LateExtension, ...] = ()
    if cls.extended_after_overdue and cls.judged_on is not None:
        late = late_extensions(task, cls.judged_on, calendar, policy)
    return Judgement(
        task=task,
        classification=cls,
        suggestion=suggestion,
        kind=task_kind(task, facts.kind_override),
        facts=facts,
        late_extensions=late,
        recurring=recurring,
    )
