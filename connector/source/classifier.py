"""Classifying a big pull's pages in a second process while the next ones are fetched and written.

A pull classifies what it wrote after its pages (`connector.rules.classify.reclassify`): on one
core, a first sync of 100,000 tasks spends about as long judging and planning them as writing
them. When a listing is big enough (its first page's total at least
``sync.parallel_min_tasks``, default 5,000; 0 = never) and the machine allows it
(`connector.ops.forked.can_fork`: Linux, two CPUs, no other thread yet), the pull forks one
child before its pages (`PageClassifier.start`) and, as each page commits, sends it the ids the
page wrote (`PageClassifier.written`). The child reads those tasks that are due from the ledger
(its own read-only connections), judges them and plans their outbox rows (`judge_batch`,
`OutboxPlanner.plan`): everything but the writing, which stays in the pull's process, in the
transaction of a later page (`PageClassifier.apply`) or, after the last page, of its own
(`PageClassifier.finish`). Only this process writes the ledger.

**Nothing is judged from a stale row.** A task written again by a later page (a record changed
while the pull ran) is judged with that page: the verdicts of an earlier page are applied
without the tasks a page committed since wrote (`Verdicts.without`, `PlanBatch.without`), and a
page's own write makes its tasks due again in any case. Whatever is not applied (the child
failed, the pull stopped) is still due: the classification step after the pages judges it, as
it judges everything without a child. The child's log events are written by this process, when
its verdicts are applied (a task the rules refuse is logged once, by that step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog

from connector.ledger.outbox import PlannedRow
from connector.ledger.tasks import due_tasks_among
from connector.ops.faultpoints import crash_point, only_here
from connector.ops.forked import ForkedWorker, ForkFailed, can_fork
from connector.ops.log import capture_events, replay_events
from connector.outbox.planning import OutboxPlanner, PlanBatch, Planned
from connector.rules.classify import (
    UNCLASSIFIABLE,
    ClassifyResult,
    Unclassifiable,
    Verdicts,
    judge_batch,
    store_verdicts,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.clock import Clock
    from connector.ledger.db import Ledger
    from connector.rules.calendar import WorkingCalendar
    from connector.rules.deadlines import DeadlinePolicy
    from connector.settings import AlertSettings

log = structlog.get_logger(__name__)

STARTED = "classify_beside_pages"
"""The event of a pull whose pages are classified in a second process (with the listing's
``total``)."""
FINISHED = "classified_beside_pages"
"""Its end: the pages sent, the tasks classified and the outbox rows planned beside them, and
the verdicts left out because a later page wrote the task again (``judged_again``)."""
CHILD_CRASH_POINT = "page_classifier"
"""The crash point of the child (`connector.ops.faultpoints`): a test kills it there."""
WORKER_FAILED = "classify_worker_failed"
"""The event of a child that failed: what it did not answer is classified after the pages."""


@dataclass(frozen=True)
class Classification:
    """What a run classifies with: the as-of date, the rules' inputs, the verdict key and the
    outbox planner (None: nothing planned)."""

    as_of: date
    calendar: WorkingCalendar
    policy: DeadlinePolicy
    key: str
    alerts: AlertSettings
    planner: OutboxPlanner | None
    run_id: str
    clock: Clock


@dataclass
class PageVerdicts:
    """The child's answer for one page: its verdicts and plan, and the events it logged."""

    page: int
    verdicts: Verdicts
    rows: list[PlannedRow] = field(default_factory=list)
    superseding: list[tuple[int, Planned | None, int | None]] = field(default_factory=list)
    backfill_skipped: set[int] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)


def judge_page(ledger: Ledger, how: Classification, page: int, ids: Sequence[int]) -> PageVerdicts:
    """The verdicts and plan of the tasks due among `ids`, the ids page `page` wrote (reading
    only): the child's work."""
    with ledger.reading() as session:
        batch = due_tasks_among(session, ids, as_of=how.as_of, key=how.key)
        verdicts = judge_batch(
            session,
            batch,
            as_of=how.as_of,
            calendar=how.calendar,
            policy=how.policy,
            skipped=Unclassifiable(),
            key=how.key,
            alerts=how.alerts if how.planner is not None else None,
        )
        plan = how.planner.plan(session, verdicts.to_plan) if how.planner is not None else None
    verdicts.to_plan = []  # the rows and judgements stay here: the plan is what is sent
    if plan is None:
        return PageVerdicts(page, verdicts)
    return PageVerdicts(page, verdicts, plan.rows, plan.superseding, plan.backfill_skipped)


class PageClassifier:
    """The child judging a pull's pages, and what this process does with its answers (see the
    module docstring)."""

    def __init__(self, ledger: Ledger, how: Classification) -> None:
        self.ledger = ledger
        self.how = how
        self.result = ClassifyResult()
        self._pages = 0
        self.judged_again = 0
        """Verdicts left out: their task was written again by a later page."""
        self._last_page: dict[int, int] = {}  # task id -> the last page that wrote it (pending)
        self._page_ids: dict[int, Sequence[int]] = {}  # page -> its ids, until answered
        events: list[dict[str, Any]] = []

        def setup() -> None:
            ledger.engine.dispose(close=False)  # the parent's connections stay the parent's
            capture_events(events)
            only_here(CHILD_CRASH_POINT)

        def handle(request: tuple[int, Sequence[int]]) -> PageVerdicts:
            page, ids = request
            crash_point(CHILD_CRASH_POINT)
            events.clear()
            answer = judge_page(ledger, how, page, ids)
            answer.events = list(events)
            return answer

        self._worker: ForkedWorker[tuple[int, Sequence[int]], PageVerdicts] | None
        self._worker = ForkedWorker(handle, setup)

    @classmethod
    def start(
        cls, ledger: Ledger, how: Classification | None, *, min_tasks: int, total: int | None
    ) -> PageClassifier | None:
        """A classifier for a listing of `total` records (its first page's; None: unknown), or
        None when it is not used: no classification, fewer records than `min_tasks`
        (``sync.parallel_min_tasks``; 0: never), a dry run (a child would not see its pages), a
        machine or process where forking does not pay or is not safe, or an in-memory SQLite
        ledger (a child cannot open it)."""
        if how is None or min_tasks <= 0 or not ledger.shared:
            return None
        if total is not None and total < min_tasks:
            return None
        if not can_fork():
            return None
        url = ledger.engine.url
        if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
            return None
        try:
            classifier = cls(ledger, how)
        except OSError as exc:  # no process to be had (a limit): after the pages, as always
            log.warning(WORKER_FAILED, error=str(exc), left_to="the classification step")
            return None
        log.info(STARTED, total=total)
        return classifier

    def written(self, ids: Sequence[int]) -> None:
        """A page that wrote (or found unchanged) the tasks `ids` committed: judge them."""
        if self._worker is None or not ids:
            return
        self._pages += 1
        for task_id in ids:
            self._last_page[task_id] = self._pages
        self._page_ids[self._pages] = ids
        try:
            self._worker.send((self._pages, ids))
        except ForkFailed as exc:
            self._failed(exc)

    def apply(self, session: Session) -> None:
        """Write, in `session` (a page's transaction, before the page), the verdicts the child
        has ready, without waiting."""
        while self._worker is not None and self._worker.ready():
            self._take(session)

    def finish(self) -> None:
        """Wait for the child's remaining answers and write them (one transaction each), then
        stop it."""
        try:
            while self._worker is not None and self._worker.pending:
                with self.ledger.transaction() as session:
                    self._take(session)
        finally:
            self.close()
        log.info(
            FINISHED,
            pages=self._pages,
            classified=self.result.classified,
            planned=self.result.planned,
            judged_again=self.judged_again,
        )

    def close(self) -> None:
        """Stop the child (what it did not answer stays due for the classification step)."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def _take(self, session: Session) -> None:
        assert self._worker is not None
        try:
            answer = self._worker.answer()
        except ForkFailed as exc:
            self._failed(exc)
            return
        self._write(session, answer)

    def _write(self, session: Session, answer: PageVerdicts) -> None:
        """Write one page's verdicts, less the tasks a later page wrote again."""
        page = answer.page
        for task_id in self._page_ids.pop(page, ()):
            if self._last_page.get(task_id) == page:
                del self._last_page[task_id]
        again = {i for i in answer.verdicts.judged if self._last_page.get(i, 0) > page}
        self.judged_again += len(again)
        verdicts = answer.verdicts.without(again)
        replay_events(
            event
            for event in answer.events
            if event.get("event") != UNCLASSIFIABLE and event.get("task_id") not in again
        )
        how = self.how
        self.result.add(verdicts)
        if how.planner is not None:
            plan = PlanBatch(
                session,
                {},
                rows=answer.rows,
                superseding=answer.superseding,
                backfill_skipped=answer.backfill_skipped,
            ).without(again)
            how.planner.tally.skipped += len(plan.backfill_skipped)
            added = plan.finish()
            self.result.planned += added
            if added:
                crash_point("before_intent_commit")
        self.result.status_changes += store_verdicts(
            session,
            verdicts,
            as_of=how.as_of,
            run_id=how.run_id,
            observed_at=how.clock.now(),
            key=how.key,
        )

    def _failed(self, exc: ForkFailed) -> None:
        log.warning(WORKER_FAILED, error=str(exc), left_to="the classification step")
        self.close()
