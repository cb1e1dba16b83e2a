"""Bulk writes (`connector.ledger.bulk`) store exactly what SQLAlchemy's own executemany stores:
the same text for instants and dates on SQLite, the same flags, JSON and NULLs, the source
column's default, on every backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, text, update
from sqlalchemy.exc import StatementError

from connector.ledger.bulk import insert_many, update_by_source_id
from connector.ledger.codec import task_to_dict
from connector.ledger.columns import task_values
from connector.ledger.db import Ledger
from connector.ledger.scope import current_source
from connector.ledger.tables import HISTORY, OUTBOX, TASK
from connector.models import DeadlineChange, UnitRef
from tests.support.factories import make_task

HANOI = timezone(timedelta(hours=7))
Rows = Sequence[Mapping[str, Any]]


def _core_insert(session: Any, table: Any, rows: Rows) -> None:
    session.execute(insert(table), list(rows))


def _core_update(session: Any, table: Any, rows: Rows) -> None:
    where = table.c.source_id == bindparam("b_source_id")
    session.execute(update(table).where(table.c.source == current_source(), where), list(rows))


def _task_row(source_id: int, **changes: Any) -> dict[str, Any]:
    given: dict[str, Any] = {
        "last_modified": datetime(2022, 1, 5, 9, 30, 15, 123456, tzinfo=HANOI),
        "coordinators": (UnitRef("SYT", "Sở Y tế"),),
        "deadline_changes": (
            DeadlineChange(date(2022, 1, 10), date(2022, 1, 20), datetime(2022, 1, 8, tzinfo=UTC)),
        ),
    }
    task = make_task(source_id, **{**given, **changes})
    values = task_values(task, task_to_dict(task))
    values.update(
        source_id=source_id,
        raw_json=f'{{"id": {source_id}}}',
        content_hash=f"h{source_id}",
        deleted_at_source=source_id % 2 == 0,
        deleted_reason="",
        last_seen_run="r1",
        first_seen_run="r1",
        first_seen_at=datetime(2022, 1, 6, 23, 59, 59, tzinfo=HANOI),
        updated_at=datetime(2022, 1, 6, 17, 0, tzinfo=UTC),
        recheck_on=None,
    )
    return values


def _stored(ledger: Ledger, table: str, key: str) -> list[dict[str, Any]]:
    """Every row of `table` as the database holds it (raw text on SQLite), by `key`."""
    with ledger.reading() as session:
        result = session.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
        return [dict(row._mapping) for row in result]


def _without(rows: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k not in names} for row in rows]


def test_task_rows_written_in_bulk_equal_sqlalchemy_executemany(ledger: Ledger) -> None:
    """A task row inserted by `insert_many` holds what SQLAlchemy's insert of the same values
    holds, column for column (instants, dates, flags, JSON, NULLs, the source's default)."""
    ours = [_task_row(1), _task_row(2, deadline=None, completed_at=None)]
    theirs = [{**row, "source_id": row["source_id"] + 10} for row in ours]
    with ledger.transaction() as session:
        insert_many(session, TASK, ours)
        _core_insert(session, TASK, theirs)
    stored = _stored(ledger, "task", "source_id")
    assert len(stored) == 4
    assert _without(stored[:2], "source_id") == _without(stored[2:], "source_id")
    assert stored[0]["source"] == current_source()


def test_updates_by_source_id_equal_sqlalchemy_executemany(ledger: Ledger) -> None:
    """`update_by_source_id` changes the current source's rows as SQLAlchemy's update does."""
    with ledger.transaction() as session:
        rows = [_task_row(1), _task_row(2)]
        insert_many(
            session, TASK, [*rows, *({**r, "source_id": r["source_id"] + 10} for r in rows)]
        )
    changes: list[dict[str, Any]] = [
        {"b_source_id": 1, "recheck_on": date(2022, 2, 1), "deleted_at_source": True},
        {"b_source_id": 2, "recheck_on": None, "deleted_at_source": False},
    ]
    with ledger.transaction() as session:
        update_by_source_id(session, TASK, changes)
        _core_update(session, TASK, [{**c, "b_source_id": c["b_source_id"] + 10} for c in changes])
    stored = _stored(ledger, "task", "source_id")
    assert stored[0]["recheck_on"] is not None
    assert _without(stored[:2], "source_id") == _without(stored[2:], "source_id")


@pytest.mark.parametrize(
    ("table", "rows_of"),
    [
        pytest.param(
            HISTORY,
            lambda task_id: [
                {
                    "task_id": task_id,
                    "run_id": "r1",
                    "field": "deadline",
                    "old_value": "",
                    "new_value": "2022-01-10",
                    "observed_at": datetime(2022, 1, 6, 1, 2, 3, 4, tzinfo=HANOI),
                    "observed_on": date(2022, 1, 6),
                    "effective_on": date(2022, 1, 3),
                    "source_modified": None if task_id % 2 else datetime(2022, 1, 5, tzinfo=UTC),
                }
            ],
            id="history",
        ),
        pytest.param(
            OUTBOX,
            lambda task_id: [
                {
                    "task_id": task_id,
                    "kind": "tracking",
                    "idempotency_key": f"trk:{task_id}",
                    "payload_json": "{}",
                    "last_error": "",
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": None,
                    "created_at": datetime(2022, 1, 6, 12, 0, tzinfo=UTC),
                }
            ],
            id="outbox",
        ),
    ],
)
def test_other_tables_written_in_bulk_equal_sqlalchemy_executemany(
    ledger: Ledger, table: Any, rows_of: Callable[[int], list[dict[str, Any]]]
) -> None:
    """History and outbox rows inserted in bulk equal SQLAlchemy's, row for row."""
    with ledger.transaction() as session:
        insert_many(session, TASK, [_task_row(1), {**_task_row(1), "source_id": 11}])
    with ledger.transaction() as session:
        insert_many(session, table, rows_of(1))
    with ledger.transaction() as session:
        _core_insert(session, table, rows_of(11))
    stored = _stored(ledger, table.name, "id")
    if table is OUTBOX:
        assert len(stored) == 2
    assert _without(stored[:1], "id", "task_id", "idempotency_key") == _without(
        stored[1:], "id", "task_id", "idempotency_key"
    )


def test_a_naive_instant_is_refused_in_bulk_as_by_sqlalchemy(ledger: Ledger) -> None:
    """A naive datetime is refused by both paths with the ledger's own message."""
    row = {**_task_row(1), "updated_at": datetime(2022, 1, 5, 9, 30)}
    for write in (insert_many, _core_insert):
        with (
            pytest.raises((ValueError, StatementError), match="naive datetime"),
            ledger.transaction() as session,
        ):
            write(session, TASK, [row])
