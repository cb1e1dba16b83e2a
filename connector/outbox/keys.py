"""The outbox's key scheme and the stored request bodies.

Idempotency keys are deterministic, made from what the intent means:

* tracking status: ``trk:{task_id}:{status}:{eff_due or '-'}``; when the same meaning has to be
  written again later (the status went X → Y → X, and X was already sent or superseded), the
  n-th write of it is ``...#n`` (n = 2, 3, ...), so the server does not replay the first one;
* alert: ``alr:{task_id}:{type}:{occasion}`` (`connector.rules.alerts.alert_key`).

The unique index on the key makes a second insert of an intent impossible; planning checks
first, so inserting an existing key is a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Protocol

from connector.errors import OutboxStateError
from connector.models import Classification
from connector.rules.alerts import tracking_note

NO_EFF_DUE = "-"


def tracking_key(task_id: int, status: str, eff_due: date | None, revision: int = 1) -> str:
    """``trk:{task_id}:{status}:{eff_due or '-'}``, with ``#n`` for the n-th write (n >= 2)."""
    base = f"trk:{task_id}:{status}:{eff_due.isoformat() if eff_due else NO_EFF_DUE}"
    return base if revision <= 1 else f"{base}#{revision}"


def key_meaning(key: str) -> str:
    """A key without its revision suffix (``trk:1:X:-#2`` → ``trk:1:X:-``)."""
    return key.split("#", 1)[0] if key.startswith("trk:") else key


def tracking_payload(
    task_id: int, classification: Classification, lang: str = "vi"
) -> dict[str, Any]:
    """Body of ``POST /tasks/tracking.cpx`` (contract section 6); no deadline: key omitted."""
    body: dict[str, Any] = {
        "id": task_id,
        "trackingStatus": classification.status.value,
    }
    if classification.eff_due is not None:
        body["effectiveDeadline"] = classification.eff_due.isoformat()
    body["daysOverdue"] = classification.days_overdue
    body["note"] = tracking_note(classification, "en" if lang == "en" else "vi")
    return body


class StoredRow(Protocol):
    """An outbox row as stored (`connector.ledger.tables.OutboxRow` or a read-back entry)."""

    @property
    def id(self) -> int | None: ...

    @property
    def payload_json(self) -> str: ...


def payload_of(row: StoredRow) -> dict[str, Any]:
    """The stored request body of a row."""
    data = json.loads(row.payload_json)
    if not isinstance(data, dict):
        raise OutboxStateError(f"outbox row {row.id}: payload is not a JSON object", row_id=row.id)
    return data


def dump_payload(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
