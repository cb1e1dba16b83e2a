"""A judgement made on first use, from what the classification step stored when it holds.

`connector.rules.judge.judge` reads a task's text (the deadline it states, its kind, the rule of
a recurring obligation): most of the cost of judging a task. The classification step stores what
it read (`connector.ledger.columns.READING_COLUMNS`, the suggestion); a caller that only needs
some of a judgement, on a day the stored reading holds for, makes a `LazyJudgement`: the report
(`connector.reports.build`) and the alert preview (`connector.outbox.planning.preview_alerts`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from connector.models import NormalisedTask, StatusCode, TaskFacts
from connector.rules.calendar import WorkingCalendar
from connector.rules.deadlines import Classification, DeadlinePolicy, LateExtension
from connector.rules.judge import Judgement, judge, start_of
from connector.rules.kinds import KindReading, KindSource, TaskKind
from connector.rules.phrases import Recurrence
from connector.rules.recurring import RecurringObligation, can_lay, occurrences

if TYPE_CHECKING:
    from connector.ledger.columns import SuggestionLike
    from connector.ledger.lines import StoredReading
    from connector.models import ReportedTask

_OVERRIDE = KindSource.OVERRIDE.value


@dataclass(frozen=True)
class StoredSuggestion:
    """The deadline suggested from a task's text, as the classification step stored it."""

    deadline: date | None
    phrase: str
    recurrence: str | None


class LazyJudgement:
    """A task judged as of a day (the report's: an `Item`), its costly readings made on first
    use.

    The classification is given; the rest of `connector.rules.judge.judge` (the deadline read
    from the text, the kind, the occurrences of a recurring obligation, the late extensions)
    is made only when the caller reads it. The report (`connector.reports.build.build_report`)
    does for tasks without a deadline in force, tasks done or open without one, and tasks
    extended after their deadline had passed: the rest, most tasks, are counted from their
    classification alone. The alert preview reads the kind and the occurrences of each task.

    With `stored` (what the classification step stored of the task's text when it classified it
    as of that day, from its current content, with the current settings:
    `connector.ledger.lines.iter_source_tasks_read`, `connector.ledger.tasks.iter_tasks_read`),
    the kind, the suggested deadline and the recurrence rule are taken from it instead of
    reading the text again; the occurrences are laid from the stored rule with what the ledger
    knows now. Either way every answer is the one of a full judgement
    (``tests/integration/test_report_fast_path.py``).
    """

    __slots__ = (
        "_calendar",
        "_facts",
        "_full",
        "_kind",
        "_policy",
        "_recurring",
        "_stored",
        "classification",
        "task",
    )

    def __init__(
        self,
        task: ReportedTask,
        classification: Classification,
        facts: TaskFacts,
        calendar: WorkingCalendar,
        policy: DeadlinePolicy,
        *,
        stored: StoredReading | None = None,
    ) -> None:
        self.task = task
        self.classification = classification
        self._facts = facts
        self._calendar = calendar
        self._policy = policy
        self._full: Judgement | None = None
        self._kind: KindReading | None = None
        self._recurring: tuple[RecurringObligation | None] | None = None
        overridden = stored is not None and stored.kind_source == _OVERRIDE
        # Read under an override that is gone now: the rule's own source is not known, so the
        # text is read again.
        self._stored = None if overridden and facts.kind_override is None else stored

    def judgement(self) -> Judgement:
        """The full judgement (made once; never of a task read from a trusted stored verdict,
        whose stored reading answers every question `build_report` asks)."""
        if self._full is None:
            task = self.task
            if not isinstance(task, NormalisedTask):
                raise TypeError(f"task {task.source_id}: judged from a stored verdict only")
            self._full = judge(task, self.classification, self._calendar, self._policy, self._facts)
        return self._full

    @property
    def suggestion(self) -> SuggestionLike | None:
        stored = self._stored
        if stored is None:
            return self.judgement().suggestion
        if self.classification.deadline is not None:  # `judge` reads none then
            return None
        return StoredSuggestion(
            stored.suggested_deadline, stored.suggested_phrase, stored.suggested_recurrence or None
        )

    @property
    def kind(self) -> KindReading:
        stored = self._stored
        if stored is None:
            return self.judgement().kind
        if self._kind is None:
            self._kind = stored_kind(stored, self._facts)
        return self._kind

    @property
    def late_extensions(self) -> tuple[LateExtension, ...]:
        if not self.classification.extended_after_overdue:  # `judge` reads none then
            return ()
        return self.judgement().late_extensions

    @property
    def recurring(self) -> RecurringObligation | None:
        # `judge` lays occurrences from a suggested deadline, which it reads only for a task
        # without a deadline in force.
        cls = self.classification
        if cls.deadline is not None:
            return None
        stored = self._stored
        if stored is None:
            return self.judgement().recurring
        if self._recurring is None:
            self._recurring = (self._laid(stored),)
        return self._recurring[0]

    def _laid(self, stored: StoredReading) -> RecurringObligation | None:
        """`judge`'s occurrences, from the stored recurrence rule."""
        cls = self.classification
        if not stored.recurrence_rule_json or cls.status is StatusCode.DA_HUY:
            return None
        rule = _rule_of(stored.recurrence_rule_json)
        if not can_lay(rule):
            return None
        found = occurrences(
            rule,
            assigned_on=start_of(self.task),
            completed_on=cls.completed_on,
            report_dates=self._facts.report_dates,
            as_of=cls.as_of,
            calendar=self._calendar,
            policy=self._policy,
        )
        return RecurringObligation(rule, found)


def stored_kind(stored: StoredReading, facts: TaskFacts) -> KindReading:
    """`connector.rules.kinds.task_kind` from the stored reading and today's override."""
    override = facts.kind_override
    if override is None:
        return _automatic_kind(stored.kind, stored.kind_source, stored.kind_words_json)
    automatic = TaskKind(stored.kind)
    words = tuple(json.loads(stored.kind_words_json))
    return KindReading(
        override.kind, KindSource.OVERRIDE, words, override=override, automatic=automatic
    )


@functools.lru_cache(maxsize=4096)
def _rule_of(rule_json: str) -> Recurrence:
    """A stored recurrence rule (frozen: one shared by the tasks that state the same rule)."""
    return Recurrence(**json.loads(rule_json))


@functools.lru_cache(maxsize=4096)
def _automatic_kind(kind: str, source: str, words_json: str) -> KindReading:
    """The stored reading of a kind without an override (frozen: one shared by the many tasks
    read from the same words)."""
    return KindReading(TaskKind(kind), KindSource(source), tuple(json.loads(words_json)))
