"""The first sync's back-fill cut-off: no initial tracking write for tasks long completed.

A first sync plans a tracking-status write for every task in the ledger; for a big province
most of them were completed years ago, and writing their status back delays everything else by
hours. With ``push.backfill_completed_before`` set (an ISO date), `skips_backfill` leaves out the
*initial* tracking write of a task that

* is completed, with its (local) completion date before the cut-off, and
* never had a tracking status written: the source acknowledged none
  (``task.acked_tracking_status`` is empty) and the outbox holds no tracking row for it, in any
  state (pending, sent, dead, superseded...), and
* its source record holds no tracking status, or already the one computed: a record showing
  another one (written by an earlier client, "in progress" on a finished task) is corrected.

Everything else is planned as without the setting: open tasks, alerts (confirmation requests
included), and any later change of such a task: once it is reopened it is no longer completed
before the cut-off, gets its tracking write, and from then on has a tracking row. Clearing the
setting (or moving the date back) back-fills the skipped tasks at the next planning.

A date rather than a number of days: a first sync is one event, spread over several runs; a
fixed date leaves out the same tasks in each of them and says in the configuration exactly what
was left out, where a window of days would slide from one run to the next.

The skipped tasks are counted (`BackfillTally`, the run's ``backfill_skipped``) and the total is
logged once per planning pass (event ``tracking_backfill_skipped``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import structlog

from connector.models import Classification

SKIPPED_EVENT = "tracking_backfill_skipped"
"""The event logged once per planning pass when tasks were left out (with their count)."""

log = structlog.get_logger(__name__)


def skips_backfill(
    classification: Classification,
    *,
    cutoff: date | None,
    acked_status: str,
    has_tracking_rows: bool,
    source_status: str = "",
) -> bool:
    """Whether the initial tracking write of this task is left out (see the module docstring).

    `cutoff`: ``push.backfill_cutoff`` (None: never); `acked_status`: the status the source last
    acknowledged for the task ("" when none); `has_tracking_rows`: whether the outbox holds a
    tracking row for the task, in any state; `source_status`: the ``trackingStatus`` the task's
    source record holds ("" when none).
    """
    if cutoff is None or acked_status or has_tracking_rows:
        return False
    if source_status and source_status != classification.status.value:
        return False
    completed = classification.completed_on
    return completed is not None and completed < cutoff


@dataclass
class BackfillTally:
    """How many tasks' initial tracking writes a planning pass left out."""

    skipped: int = 0

    def report(self, cutoff: date | None, **fields: object) -> None:
        """Log the count (event `SKIPPED_EVENT`) when any task was left out."""
        if self.skipped and cutoff is not None:
            log.info(
                SKIPPED_EVENT, skipped=self.skipped, completed_before=cutoff.isoformat(), **fields
            )
