"""A task judged as of a date: its deadline classification, and everything else the rules read
from it. Pure: a function of (task, classification, what the ledger knows of it, calendar,
policy).

`judge` gathers, beside the `Classification` (`connector.rules.deadlines.classify`):

* the **suggested deadline** its text states (`connector.rules.phrases`), for a task without a
  deadline in force;
* its **kind**, product or routine (`connector.rules.kinds`), with an administrator's override;
* the **extensions granted after the deadline had passed** that are in force
  (`connector.rules.deadlines.late_extensions`), when it is flagged so.

The classification step, the outbox planner, the report and ``tasks show`` all read a task
through it (`connector.rules.classify.judged`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from connector.models import NO_FACTS, NormalisedTask, TaskFacts
from connector.rules.deadlines import Classification, DeadlinePolicy, LateExtension, late_extensions
from connector.rules.kinds import KindReading, task_kind

if TYPE_CHECKING:
    from connector.rules.calendar import WorkingCalendar
    from connector.rules.phrases import Suggestion

__all__ = ["Judgement", "judge"]


@dataclass(frozen=True)
class Judgement:
    """One task as the rules see it as of `classification.as_of` (see the module docstring)."""

    task: NormalisedTask
    classification: Classification
    suggestion: Suggestion | None
    kind: KindReading
    facts: TaskFacts = NO_FACTS
    late_extensions: tuple[LateExtension, ...] = ()


def judge(
    task: NormalisedTask,
    classification: Classification,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    facts: TaskFacts = NO_FACTS,
) -> Judgement:
    """The task judged as of `classification.as_of`, with what the ledger knows of it
    (`facts`: the kind override)."""
    from connector.rules.phrases import suggest_for_task  # noqa: PLC0415 - the reader is large

    cls = classification
    suggestion = suggest_for_task(task, calendar) if cls.deadline is None else None
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
    )
