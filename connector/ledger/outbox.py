"""The outbox table: every intent to write to the source, as the planner, the delivery and the
operator read and change it.

The rows' meaning (states, kinds, keys) is the outbox package's (`connector.outbox`); the SQL is
here. Reading takes anything `reader.reading` does and returns `OutboxEntry` records; the rows a
step changes are ORM objects (`get_row`, `replaceable_tracking`), changed by the state machine
(`connector.outbox.states`) inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.clock import to_utc
from connector.ledger.reader import in_list, reading
from connector.ledger.scope import current_source
from connector.ledger.values import instant, record
from connector.outbox.states import (
    BULK_KINDS,
    DELIVERABLE,
    REPLACEABLE,
    OutboxKind,
    OutboxState,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db
    from connector.ledger.tables import OutboxRow


@dataclass(frozen=True)
class OutboxEntry:
    """One ``outbox`` row, read back."""

    id: int
    idempotency_key: str
    kind: str
    task_id: int | None
    alert_type: str
    occasion: str
    payload_json: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    created_run: str
    created_at: datetime
    sending_at: datetime | None
    sent_at: datetime | None
    response_id: str
    superseded_by: int | None
    in_doubt_since: datetime | None
    routed_at: datetime | None = None

    @property
    def payload(self) -> dict[str, Any]:
        """The stored request body ({} when it is not a JSON object)."""
        try:
            data = json.loads(self.payload_json or "{}")
        except json.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}


def _states(states: Collection[OutboxState]) -> list[str]:
    return sorted(s.value for s in states)


def _entries(
    db: Db, where: str = "", params: dict[str, Any] | None = None, limit: int | None = None
) -> list[OutboxEntry]:
    sql = "SELECT * FROM outbox" + (f" WHERE {where}" if where else "") + " ORDER BY id"
    if limit is not None:
        sql += " LIMIT :limit"
        params = {**(params or {}), "limit": limit}
    with reading(db) as r:
        return [record(OutboxEntry, row) for row in r.rows(sql, params)]


def list_entries(
    db: Db, state: OutboxState | None = None, *, limit: int | None = None
) -> list[OutboxEntry]:
    """Outbox rows by id, optionally in one state, the first `limit` of them (None: all)."""
    if state is None:
        return _entries(db, limit=limit)
    return _entries(db, "state = :state", {"state": state}, limit=limit)


def iter_entries(
    db: Db, state: OutboxState | None = None, *, limit: int | None = None, batch_size: int = 1000
) -> Iterator[OutboxEntry]:
    """`list_entries`, read `batch_size` rows at a time by id (memory flat in the number of
    rows)."""
    where = "id > :after" if state is None else "state = :state AND id > :after"
    params: dict[str, Any] = {} if state is None else {"state": state}
    after, left = 0, limit
    while left is None or left > 0:
        size = batch_size if left is None else min(batch_size, left)
        batch = _entries(db, where, {**params, "after": after}, limit=size)
        yield from batch
        if len(batch) < size:
            return
        after = int(batch[-1].id or 0)
        left = None if left is None else left - len(batch)


def count_entries(db: Db, state: OutboxState | None = None) -> int:
    """How many outbox rows there are, optionally in one state."""
    where, params = ("", {}) if state is None else (" WHERE state = :state", {"state": state})
    with reading(db) as r:
        return int(r.scalar(f"SELECT count(*) AS n FROM outbox{where}", params) or 0)


def in_states(db: Db, states: Collection[OutboxState]) -> list[OutboxEntry]:
    """Outbox rows in any of `states`, by id (e.g. what a dry run would deliver)."""
    wanted, params = in_list("s", _states(states))
    return _entries(db, f"state IN ({wanted})", params)


def by_task(db: Db, task_ids: Sequence[int]) -> dict[int, list[OutboxEntry]]:
    """The outbox rows of several tasks (one query), by task id, oldest first."""
    out: dict[int, list[OutboxEntry]] = {task_id: [] for task_id in task_ids}
    if not task_ids:
        return out
    wanted, params = in_list("t", list(task_ids))
    for entry in _entries(db, f"task_id IN ({wanted})", params):
        out.setdefault(int(entry.task_id or 0), []).append(entry)
    return out


def alert_keys_by_task(
    db: Db, task_ids: Sequence[int], *, but: Collection[OutboxState] = ()
) -> dict[int, set[str]]:
    """The idempotency keys of the alert rows of several tasks (one query), by task id; `but`:
    leave out the rows in these states."""
    out: dict[int, set[str]] = {task_id: set() for task_id in task_ids}
    if not task_ids:
        return out
    wanted, params = in_list("t", list(task_ids))
    sql = (
        f"SELECT task_id, idempotency_key FROM outbox WHERE kind = :kind AND task_id IN ({wanted})"
    )
    if but:
        left_out, more = in_list("s", _states(but))
        sql += f" AND state NOT IN ({left_out})"
        params = {**params, **more}
    with reading(db) as r:
        for task_id, key in r.tuples(sql, {**params, "kind": OutboxKind.ALERT.value})[1]:
            out.setdefault(int(task_id), set()).add(str(key))
    return out


def state_counts(db: Db) -> dict[str, int]:
    """How many rows are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys((s.value for s in OutboxState), 0)
    with reading(db) as r:
        for row in r.rows("SELECT state, count(*) AS n FROM outbox GROUP BY state"):
            counts[str(row["state"])] = int(row["n"])
    return counts


def oldest_waiting(db: Db) -> datetime | None:
    """When the oldest row still to be delivered (pending, failed or sending) was created."""
    wanted, params = in_list("s", _states(DELIVERABLE))
    with reading(db) as r:
        found = r.scalar(f"SELECT min(created_at) FROM outbox WHERE state IN ({wanted})", params)
    return instant(found) if found is not None else None


QUARANTINED = (
    "EXISTS (SELECT 1 FROM quarantine q WHERE q.task_id = outbox.task_id "
    "AND q.source = outbox.source AND q.resolved_at IS NULL)"
)
"""SQL: the outbox row's task has a newer record waiting in quarantine. Its rows are **held**
(not sent, not routed) until the record arrives valid: they were planned from the task's last
good version, which the source has since changed in a way the connector cannot read (a unit
completing a task with a malformed completion date must not be told it is overdue). The pull
that reads the valid record judges the task again and supersedes what no longer applies."""


def due_ids(db: Db, now: datetime, kinds: Collection[OutboxKind]) -> list[int]:
    """Ids of the rows of `kinds` due for delivery at `now`: ``pending`` or ``failed`` whose
    ``next_attempt_at`` has come and whose task is not held (`QUARANTINED`), and any row a
    crash left in ``sending`` (it may have reached the source: it is finished, held or not).

    In order of priority, then oldest first: alerts before the bulk tracking writes
    (`BULK_KINDS`), so that a run cut short (its `limit`, the source in trouble, an interrupt)
    has sent what matters; within a kind, the order the rows were planned in."""
    if not kinds:
        return []
    ready, ready_params = in_list("r", _states({OutboxState.PENDING, OutboxState.FAILED}))
    wanted, kind_params = in_list("k", sorted(k.value for k in kinds))
    bulk, bulk_params = in_list("b", sorted(k.value for k in BULK_KINDS))
    sql = (
        f"SELECT id FROM outbox WHERE ((state IN ({ready}) AND (next_attempt_at IS NULL OR "
        f"next_attempt_at <= :now) AND NOT {QUARANTINED}) OR state = :sending) "
        f"AND kind IN ({wanted}) "
        f"ORDER BY CASE WHEN kind IN ({bulk}) THEN 1 ELSE 0 END, id"
    )
    params = {
        **ready_params,
        **kind_params,
        **bulk_params,
        "now": to_utc(now),
        "sending": OutboxState.SENDING,
    }
    with reading(db) as r:
        return [int(i) for i in r.column(sql, params)]


def held_count(db: Db) -> int:
    """How many ``pending`` or ``failed`` rows (alerts not yet routed to their channels
    included) are held: their task's newer record waits in quarantine (`QUARANTINED`)."""
    ready, params = in_list("r", _states({OutboxState.PENDING, OutboxState.FAILED}))
    sql = (
        f"SELECT count(*) AS n FROM outbox WHERE state IN ({ready}) "
        f"AND task_id IS NOT NULL AND {QUARANTINED}"
    )
    with reading(db) as r:
        return int(r.scalar(sql, params) or 0)


def still_due(db: Db, ids: Sequence[int]) -> int:
    """How many of these rows are still waiting to be delivered (pending, failed, sending)."""
    if not ids:
        return 0
    wanted = set(ids)
    states, params = in_list("s", _states(DELIVERABLE))
    sql = f"SELECT id FROM outbox WHERE id >= :first AND state IN ({states})"
    with reading(db) as r:
        found = r.column(sql, {**params, "first": min(ids)})
    return sum(1 for row_id in found if int(row_id) in wanted)


# -- rows to change (ORM, in the caller's transaction) ------------------------------------------


def get_row(session: Session, row_id: int) -> OutboxRow | None:
    """One outbox row by id, to change it."""
    from connector.ledger.tables import OutboxRow  # noqa: PLC0415 - writing: the ORM

    return session.get(OutboxRow, row_id)


def rows_in(session: Session, entries: Sequence[OutboxEntry]) -> list[OutboxRow]:
    """The ORM rows of these entries (to change them), in the same order."""
    rows = (get_row(session, e.id) for e in entries)
    return [row for row in rows if row is not None]


def replaceable_tracking(session: Session) -> list[OutboxRow]:
    """Tracking rows still replaceable (pending, failed), by task then age, to change them."""
    wanted, params = in_list("s", _states(REPLACEABLE))
    entries = _entries(
        session, f"kind = :kind AND state IN ({wanted})", {**params, "kind": OutboxKind.TRACKING}
    )
    entries.sort(key=lambda e: (e.task_id or 0, e.id))
    return rows_in(session, entries)


@dataclass(frozen=True)
class PlannedRow:
    """A new ``outbox`` row as a planner makes it (`connector.outbox.planning`): the columns it
    sets; every other column starts empty (`values`). The one column list of a new row: the
    batched insert (`add_rows`), the single ORM row (`add_row`) and a channel's row
    (`connector.ledger.channels.add_channel_row`, no task for a digest) all build from it."""

    idempotency_key: str
    kind: str
    task_id: int | None
    alert_type: str
    occasion: str
    payload_json: str
    state: str
    created_run: str
    created_at: datetime

    @classmethod
    def of(
        cls,
        *,
        key: str,
        kind: OutboxKind,
        task_id: int | None,
        payload_json: str,
        state: OutboxState,
        run_id: str,
        now: datetime,
        alert_type: str = "",
        occasion: str = "",
    ) -> PlannedRow:
        """A new row of `kind` in `state`, created by `run_id` at `now`."""
        return cls(
            idempotency_key=key,
            kind=kind.value,
            task_id=task_id,
            alert_type=alert_type,
            occasion=occasion,
            payload_json=payload_json,
            state=state.value,
            created_run=run_id,
            created_at=to_utc(now),
        )

    def values(self) -> dict[str, Any]:
        """Every column of the ``outbox`` row but the id (the database's) and the source (the
        current scope's, `connector.ledger.scope`)."""
        return {
            "idempotency_key": self.idempotency_key,
            "kind": self.kind,
            "task_id": self.task_id,
            "alert_type": self.alert_type,
            "occasion": self.occasion,
            "payload_json": self.payload_json,
            "state": self.state,
            "attempts": 0,
            "next_attempt_at": None,
            "last_error": "",
            "created_run": self.created_run,
            "created_at": self.created_at,
            "sending_at": None,
            "sent_at": None,
            "response_id": "",
            "superseded_by": None,
            "in_doubt_since": None,
            "routed_at": None,
        }


def add_row(session: Session, planned: PlannedRow) -> OutboxRow:
    """Add one new row to `session` as an ORM object (flushed by the caller when it needs the
    id); a batch of rows goes in one statement instead (`add_rows`)."""
    from connector.ledger.tables import OutboxRow  # noqa: PLC0415 - writing: the ORM

    row = OutboxRow(**planned.values())
    session.add(row)
    return row


def add_rows(session: Session, rows: Sequence[PlannedRow]) -> None:
    """Insert new rows in one statement (their `PlannedRow.values`)."""
    if not rows:
        return
    from connector.ledger.bulk import insert_many  # noqa: PLC0415 - writing: SQLAlchemy
    from connector.ledger.tables import OUTBOX  # noqa: PLC0415

    insert_many(session, OUTBOX, [r.values() for r in rows])


def ids_by_key(session: Session, keys: Sequence[str]) -> dict[str, int]:
    """The ids of the rows with these idempotency keys (one query)."""
    if not keys:
        return {}
    from sqlalchemy import select  # noqa: PLC0415 - writing: SQLAlchemy is loaded

    from connector.ledger.tables import OUTBOX  # noqa: PLC0415

    query = select(OUTBOX.c.id, OUTBOX.c.idempotency_key).where(
        OUTBOX.c.source == current_source(), OUTBOX.c.idempotency_key.in_(list(keys))
    )
    return {str(key): int(row_id) for row_id, key in session.execute(query)}
