"""What the ledger knows of a task beyond its record: the progress reports seen, and an
administrator's choice of its kind.

* ``task_report`` keeps every progress report date of a task the connector has read (the
  source's ``lastReportDateStr`` holds only the latest, so each one seen is kept when the task
  is stored: `record_report_dates`, called by the page writer).

* ``task_kind`` holds an administrator's override of a task's kind (``tasks kind``), with who,
  when and why (`set_kind_override`); every change is also a ``kind_override`` history row,
  whose values are the override as JSON (``{"kind", "by", "reason"}``, ``""`` for none), so a
  past day's override is known too.
* `task_facts` reads both for a batch of tasks, as the ledger knew them now or at the end of a
  past day, as `TaskFacts` (what the rules take).

Writing takes an open session and never commits; reading takes anything `reader.reading` does.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from connector.clock import local_date, to_utc
from connector.ledger.history import HistoryEntry, Observation, insert_history
from connector.ledger.reader import in_list, reading
from connector.ledger.scope import current_source
from connector.ledger.values import day, instant
from connector.models import KindOverride, TaskFacts, TaskKind

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db

KIND_FIELD = "kind_override"
"""The ``task_history.field`` of a change of an administrator's kind override."""
KIND_RUN_ID = "tasks-kind"
"""The ``run_id`` of the history rows ``tasks kind`` writes."""


@dataclass(frozen=True)
class ReportDate:
    """One progress report date of a task and when the connector first saw it."""

    reported_at: datetime
    reported_on: date
    observed_on: date


# -- report dates ----------------------------------------------------------------------------------


def record_report_dates(
    session: Session,
    reports: Iterable[tuple[int, datetime]],
    obs: Observation,
    *,
    new_tasks: Collection[int] = (),
) -> int:
    """Keep each (task id, report instant) not yet in ``task_report``; how many were new.

    `new_tasks`: tasks the caller has just inserted, which have no report date yet (not
    looked up)."""
    wanted = {(task_id, to_utc(at)) for task_id, at in reports}
    if not wanted:
        return 0
    from connector.ledger.bulk import insert_many  # noqa: PLC0415 - writing: SQLAlchemy
    from connector.ledger.tables import TASK_REPORT  # noqa: PLC0415

    ids = sorted({task_id for task_id, _ in wanted if task_id not in new_tasks})
    known: set[tuple[int, datetime]] = set()
    if ids:
        listed, params = in_list("id", ids)
        with reading(session) as r:
            rows = r.rows(
                f"SELECT task_id, reported_at FROM task_report WHERE task_id IN ({listed})",
                params,
            )
        known = {(int(row["task_id"]), to_utc(instant(row["reported_at"]))) for row in rows}
    new = sorted(wanted - known)
    if new:
        insert_many(
            session,
            TASK_REPORT,
            [
                {
                    "task_id": task_id,
                    "reported_at": at,
                    "reported_on": local_date(at),
                    "observed_at": obs.observed_at,
                    "observed_on": obs.observed_on,
                    "run_id": obs.run_id,
                }
                for task_id, at in new
            ],
        )
    return len(new)


def report_dates(db: Db, task_id: int, *, until: date | None = None) -> list[ReportDate]:
    """A task's report dates, oldest first (`until`: those the ledger had seen by that day)."""
    sql = "SELECT reported_at, reported_on, observed_on FROM task_report WHERE task_id = :id"
    if until is not None:
        sql += " AND observed_on <= :until"
    with reading(db) as r:
        rows = r.rows(sql + " ORDER BY reported_at", {"id": task_id, "until": until})
    return [
        ReportDate(instant(row["reported_at"]), day(row["reported_on"]), day(row["observed_on"]))
        for row in rows
    ]


# -- kind overrides --------------------------------------------------------------------------------


def _override_json(override: KindOverride | None) -> str:
    if override is None:
        return ""
    body = {"kind": override.kind.value, "by": override.by, "reason": override.reason}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _override_from_json(text: str, set_at: datetime | None) -> KindOverride | None:
    if not text:
        return None
    data: dict[str, Any] = json.loads(text)
    return KindOverride(
        TaskKind(data["kind"]), str(data.get("by", "")), str(data.get("reason", "")), set_at
    )


def kind_override(db: Db, task_id: int) -> KindOverride | None:
    """The task's current override (None: its kind is read from its words)."""
    return task_facts(db, [task_id]).get(task_id, TaskFacts()).kind_override


def change_kind(
    session: Session,
    task_id: int,
    choice: str,
    *,
    by: str,
    reason: str,
    at: datetime,
) -> tuple[KindOverride | None, KindOverride | None]:
    """``tasks kind``: set the override of task `task_id` to `choice` (``product``,
    ``routine``, or ``auto`` to remove it), as `by` at `at`; (before, after).

    `NotFound` when the ledger does not hold the task; `ConfigError` for an unknown choice or
    an empty `by`.
    """
    from connector.errors import ConfigError, NotFound  # noqa: PLC0415
    from connector.ledger.tasks import read_task  # noqa: PLC0415
    from connector.rules.kinds import parse_kind_choice  # noqa: PLC0415

    try:
        kind = parse_kind_choice(choice)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    who = " ".join(by.split())
    if not who:
        raise ConfigError("--by names who decides the task's kind (kept in the ledger)")
    if read_task(session, task_id) is None:
        raise NotFound(
            f"task {task_id} is not in the ledger; `idesk-connector tasks list` lists the tasks "
            "it holds",
            what="task",
            key=str(task_id),
        )
    obs = Observation(KIND_RUN_ID, to_utc(at))
    return set_kind_override(
        session, task_id, kind, by=who, reason=" ".join(reason.split()), obs=obs
    )


def set_kind_override(
    session: Session,
    task_id: int,
    kind: TaskKind | None,
    *,
    by: str,
    reason: str,
    obs: Observation,
) -> tuple[KindOverride | None, KindOverride | None]:
    """Set (or with `kind` None remove) the task's override, with a history row when it
    changes; (the override before, the override after)."""
    from sqlalchemy import delete, insert, update  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import TASK, TASK_KIND  # noqa: PLC0415

    before = kind_override(session, task_id)
    after = KindOverride(kind, by, reason, obs.observed_at) if kind is not None else None
    old, new = _override_json(before), _override_json(after)
    mine = TASK_KIND.c.source == current_source()
    session.execute(delete(TASK_KIND).where(mine, TASK_KIND.c.task_id == task_id))
    if after is not None:
        session.execute(
            insert(TASK_KIND).values(
                task_id=task_id,
                kind=after.kind.value,
                set_by=by,
                reason=reason,
                set_at=obs.observed_at,
            )
        )
    if old != new:
        entry = HistoryEntry.observed(
            task_id, KIND_FIELD, (old, new), obs, effective_on=obs.observed_on, source_modified=None
        )
        insert_history(session, [entry])
        # Another kind, another verdict: the next run classifies the task again.
        again = TASK.c.source == current_source(), TASK.c.source_id == task_id
        session.execute(update(TASK).where(*again).values(recheck_on=None))
    return before, after


# -- facts for the rules ---------------------------------------------------------------------------


def task_facts(db: Db, ids: Sequence[int], *, as_of: date | None = None) -> dict[int, TaskFacts]:
    """The report dates and kind override of each task of `ids` (those with none are left
    out): as the ledger knows them now, or with `as_of` as it knew them at the end of that local
    day (report dates seen by then and reported by then; the override of the last history row
    observed by then)."""
    if not ids:
        return {}
    listed, params = in_list("id", list(ids))
    overrides: dict[int, KindOverride | None] = {}
    reports: dict[int, list[date]] = {}
    with reading(db) as r:
        sql = f"SELECT task_id, reported_on FROM task_report WHERE task_id IN ({listed})"
        if as_of is not None:
            sql += " AND observed_on <= :day AND reported_on <= :day"
        for row in r.rows(sql + " ORDER BY task_id, reported_on", {**params, "day": as_of}):
            reports.setdefault(int(row["task_id"]), []).append(day(row["reported_on"]))
        if as_of is None:
            for row in r.rows(
                f"SELECT task_id, kind, set_by, reason, set_at FROM task_kind "
                f"WHERE task_id IN ({listed})",
                params,
            ):
                overrides[int(row["task_id"])] = KindOverride(
                    TaskKind(str(row["kind"])),
                    str(row["set_by"]),
                    str(row["reason"] or ""),
                    instant(row["set_at"]),
                )
        else:
            for row in r.rows(
                f"SELECT task_id, new_value, observed_at FROM task_history "
                f"WHERE field = :field AND task_id IN ({listed}) AND observed_on <= :day "
                "ORDER BY task_id, id",
                {**params, "field": KIND_FIELD, "day": as_of},
            ):
                overrides[int(row["task_id"])] = _override_from_json(
                    str(row["new_value"] or ""), instant(row["observed_at"])
                )
    out: dict[int, TaskFacts] = {}
    for task_id in set(reports) | {k for k, v in overrides.items() if v is not None}:
        out[task_id] = TaskFacts(
            report_dates=tuple(sorted(set(reports.get(task_id, ())))),
            kind_override=overrides.get(task_id),
        )
    return out
