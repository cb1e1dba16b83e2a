"""Operator actions on the outbox: list rows, put dead (failed, past) rows back to ``pending``
(their tasks are classified and planned again by the next pull: a newer status supersedes a
stale row before it is delivered)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from connector.errors import NotFound, OutboxStateError
from connector.ledger.outbox import get_row, list_entries, rows_in
from connector.ledger.tasks import classify_again
from connector.outbox.states import RETRYABLE, OutboxState, transition

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.tables import OutboxRow

log = structlog.get_logger(__name__)


def outbox_state(state: str | OutboxState) -> OutboxState:
    """An outbox state by name; `OutboxStateError` listing the valid ones for another name."""
    try:
        return OutboxState(state)
    except ValueError:
        valid = ", ".join(s.value for s in OutboxState)
        raise OutboxStateError(f"unknown outbox state {state!r}; valid: {valid}") from None


def list_outbox(session: Session, state: str | OutboxState | None = None) -> list[OutboxRow]:
    """Outbox rows by id, optionally in one state, to change them."""
    wanted = outbox_state(state) if state is not None else None
    return rows_in(session, list_entries(session, wanted))


def _back_to_pending(row: OutboxRow) -> None:
    transition(row, OutboxState.PENDING)
    row.attempts = 0
    row.next_attempt_at = None


def retry_row(session: Session, row_id: int) -> OutboxRow:
    """Put a dead, failed or past row back to ``pending`` (attempts reset); caller commits."""
    row = get_row(session, row_id)
    if row is None:
        raise NotFound(
            f"no outbox row with id {row_id}; `idesk-connector outbox list` lists the rows",
            what="outbox row",
            key=str(row_id),
        )
    if row.state not in RETRYABLE:
        raise OutboxStateError(
            f"outbox row {row_id} ({row.idempotency_key}) is {row.state}; only dead, failed "
            "or past rows can be retried",
            row_id=row_id,
            state=row.state,
        )
    _back_to_pending(row)
    session.flush()
    classify_again(session, [row.task_id] if row.task_id is not None else [])
    log.info("outbox_retry", id=row_id, key=row.idempotency_key)
    return row


def retry_dead(session: Session) -> int:
    """Put every dead row back to ``pending`` (attempts reset); how many. Caller commits."""
    rows = list_outbox(session, OutboxState.DEAD)
    for row in rows:
        _back_to_pending(row)
    session.flush()
    classify_again(session, [row.task_id for row in rows if row.task_id is not None])
    log.info("outbox_retry_dead", rows=len(rows))
    return len(rows)
