"""Operator actions on the outbox: list rows, put dead (failed, past) rows back to ``pending``."""

from __future__ import annotations

import structlog
from sqlmodel import Session, col, select

from connector.errors import OutboxStateError
from connector.ledger.tables import OutboxRow
from connector.outbox.states import RETRYABLE, OutboxState, transition

log = structlog.get_logger(__name__)


def list_outbox(session: Session, state: str | OutboxState | None = None) -> list[OutboxRow]:
    """Outbox rows by id, optionally in one state."""
    query = select(OutboxRow).order_by(col(OutboxRow.id))
    if state is not None:
        try:
            wanted = OutboxState(state)
        except ValueError:
            valid = ", ".join(s.value for s in OutboxState)
            raise OutboxStateError(f"unknown outbox state {state!r}; valid: {valid}") from None
        query = query.where(col(OutboxRow.state) == wanted.value)
    return list(session.scalars(query))


def retry_row(session: Session, row_id: int) -> OutboxRow:
    """Put a dead, failed or past row back to ``pending`` (attempts reset); caller commits."""
    row = session.get(OutboxRow, row_id)
    if row is None:
        raise OutboxStateError(f"no outbox row with id {row_id}", row_id=row_id)
    if row.state not in RETRYABLE:
        raise OutboxStateError(
            f"outbox row {row_id} ({row.idempotency_key}) is {row.state}; only dead, failed "
            "or past rows can be retried",
            row_id=row_id,
            state=row.state,
        )
    transition(row, OutboxState.PENDING)
    row.attempts = 0
    row.next_attempt_at = None
    session.flush()
    log.info("outbox_retry", id=row_id, key=row.idempotency_key)
    return row


def retry_dead(session: Session) -> int:
    """Put every dead row back to ``pending`` (attempts reset); how many. Caller commits."""
    rows = list_outbox(session, OutboxState.DEAD)
    for row in rows:
        transition(row, OutboxState.PENDING)
        row.attempts = 0
        row.next_attempt_at = None
    session.flush()
    log.info("outbox_retry_dead", rows=len(rows))
    return len(rows)
