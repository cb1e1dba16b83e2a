"""The outbox's state machine: where a row stands and the steps it may take.

States and transitions (`TRANSITIONS`)::

    pending ──► sending ──► sent
      ▲  │        │  ▲
      │  │        ▼  │ (retry after backoff, or after a crash left it in `sending`)
      │  │      failed ──► dead ──(operator: retry_row / retry_dead)──► pending
      │  ▼        │
      │ superseded◄┘      (a newer intent for the same task made it moot)
      │
    past ──(operator: retry_row)──► pending       (an older occasion: recorded, never sent)

    pending ──► routed     (an alert whose channels leave out the source: its delivery is that
                            of the digest and webhook rows made from it, `connector.outbox.routing`)

Rows in ``sending`` are never superseded: the request may have reached the source, so they are
reconciled and finished (`connector.outbox.delivery`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from connector.clock import to_utc
from connector.errors import OutboxStateError

if TYPE_CHECKING:
    from connector.ledger.tables import OutboxRow
    from connector.settings import PushSettings


class OutboxState(StrEnum):
    """Where an outbox row stands (see the module docstring)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    PAST = "past"
    SUPERSEDED = "superseded"
    ROUTED = "routed"


class OutboxKind(StrEnum):
    """What an outbox row writes."""

    TRACKING = "tracking"
    ALERT = "alert"
    DIGEST = "digest"
    """One unit's e-mail of the day, bundling its alerts (`connector.outbox.routing`)."""
    WEBHOOK = "webhook"
    """One alert, posted to the province's gateway (`connector.outbox.routing`)."""


CHANNEL_KINDS: frozenset[OutboxKind] = frozenset({OutboxKind.DIGEST, OutboxKind.WEBHOOK})
"""Kinds of rows delivered by a channel other than the source (`connector.outbox.channels`)."""

BULK_KINDS: frozenset[OutboxKind] = frozenset({OutboxKind.TRACKING})
"""Kinds delivered after every other due row (`connector.ledger.outbox.due_ids`): a first sync
queues a tracking status for every task, and the alerts must not wait hours behind them."""


S = OutboxState
TRANSITIONS: Mapping[OutboxState, frozenset[OutboxState]] = {
    S.PENDING: frozenset({S.SENDING, S.SUPERSEDED, S.ROUTED}),
    S.SENDING: frozenset({S.SENDING, S.SENT, S.FAILED, S.DEAD}),
    S.FAILED: frozenset({S.SENDING, S.SUPERSEDED, S.DEAD, S.PENDING}),
    S.DEAD: frozenset({S.PENDING}),
    S.PAST: frozenset({S.PENDING}),
    S.SENT: frozenset(),
    S.SUPERSEDED: frozenset(),
    S.ROUTED: frozenset(),
}
"""Allowed steps; ``sending → sending`` is the retry of a row a crash left in ``sending``."""

DELIVERABLE: frozenset[OutboxState] = frozenset({S.PENDING, S.FAILED, S.SENDING})
"""States of rows that may still reach the source."""

REPLACEABLE: frozenset[OutboxState] = frozenset({S.PENDING, S.FAILED})
"""States a newer intent can supersede (never ``sending``: it may have reached the source)."""

RETRYABLE: frozenset[OutboxState] = frozenset({S.DEAD, S.FAILED, S.PAST})
"""States an operator can send again (`retry_row`)."""


def transition(row: OutboxRow, to: OutboxState) -> None:
    """Move `row` to state `to`, refusing a step `TRANSITIONS` does not allow."""
    current = OutboxState(row.state)
    if to not in TRANSITIONS[current]:
        raise OutboxStateError(
            f"outbox row {row.id} ({row.idempotency_key}) is {current.value}; "
            f"it cannot become {to.value}",
            row_id=row.id,
            state=current.value,
        )
    row.state = to.value


def backoff_seconds(attempts: int, push: PushSettings) -> float:
    """Wait before the next attempt after `attempts` failed ones: initial · 2^(n-1), capped."""
    if attempts <= 0:
        return 0.0
    wait = push.retry_initial_seconds * (2.0 ** min(attempts - 1, 62))
    return float(min(wait, push.retry_max_seconds))


def mark_sending(row: OutboxRow, now: datetime) -> None:
    transition(row, S.SENDING)
    row.sending_at = to_utc(now)


def mark_sent(row: OutboxRow, now: datetime, response_id: str) -> None:
    transition(row, S.SENT)
    row.sent_at = to_utc(now)
    row.response_id = response_id
    row.next_attempt_at = None


def mark_failed(row: OutboxRow, now: datetime, error: str, push: PushSettings) -> OutboxState:
    """One more failed attempt: ``failed`` with a backoff, or ``dead`` past ``max_attempts``."""
    row.attempts += 1
    row.last_error = error
    if row.attempts >= push.max_attempts:
        transition(row, S.DEAD)
        row.next_attempt_at = None
        return S.DEAD
    transition(row, S.FAILED)
    row.next_attempt_at = to_utc(now) + timedelta(seconds=backoff_seconds(row.attempts, push))
    return S.FAILED


def mark_dead(row: OutboxRow, error: str) -> None:
    transition(row, S.DEAD)
    row.attempts += 1
    row.last_error = error
    row.next_attempt_at = None


def supersede(row: OutboxRow, by: OutboxRow | None) -> None:
    transition(row, S.SUPERSEDED)
    row.superseded_by = by.id if by is not None else None
    row.next_attempt_at = None
