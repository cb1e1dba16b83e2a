"""Routing: handing each alert to the channels chosen for its type, and bundling e-mail digests.

The planner records an alert as one ``alert`` row (`connector.outbox.planning`), whatever the
channels. Before delivering, a run routes every pending alert row not yet routed, in the
transaction that records the result (`route_alerts`), by ``delivery.channels`` (or
``delivery.by_type[type]``):

- ``source``: the alert row itself is delivered to the source, as before
  (`connector.outbox.delivery`);
- ``webhook``: a ``webhook`` row keyed ``whk:{alert key}`` holding the JSON body to post
  (`webhook_body`, docs/webhook.md), made once;
- ``email``: the alert is queued for the digest of each of its recipient units
  (``outbox_digest_item``), once per unit.

An alert whose channels leave out the source becomes ``routed``: its delivery is that of the
rows made from it. Routing stamps ``routed_at``, so an alert is routed once, even when an
operator later puts it back to pending (it then goes to the source only, where it was refused).

Then `build_digests` makes each unit's digest of the day: one ``digest`` row keyed
``dig:{unit}:{day}`` (local day), bundling every alert queued for that unit. Alerts queued while
the day's digest is still pending join it; alerts queued once it is on its way (``sending``,
``sent``, ``dead``...) wait for the next day's: **one e-mail per unit per day**.

Alerts are routed, and digests made, only on a day alerts may be delivered (with
``alerts.hold_on_non_working_days``, a working day).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import structlog

from connector.clock import to_utc
from connector.errors import OutboxStateError
from connector.ledger.channels import (
    add_channel_row,
    add_digest_item,
    bundle_waiting,
    key_exists,
    row_by_key,
    unrouted_alert_ids,
    waiting_units,
)
from connector.ledger.outbox import get_row
from connector.models import AlertType, Unit
from connector.outbox.keys import dump_payload, payload_of
from connector.outbox.states import OutboxKind, OutboxState, mark_dead, transition
from connector.settings import Settings

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.db import Ledger
    from connector.ledger.tables import OutboxRow

log = structlog.get_logger(__name__)

WEBHOOK_VERSION = 1
"""The version of the webhook body (docs/webhook.md); raised only for a change that is not an
addition."""

ROUTE_BATCH = 200
"""Alert rows routed per transaction."""


def webhook_key(alert_key: str) -> str:
    """The key of an alert's webhook row: ``whk:{alert key}``."""
    return f"whk:{alert_key}"


def digest_key(unit_code: str, day: date) -> str:
    """The key of a unit's digest of a day: ``dig:{unit}:{YYYY-MM-DD}``."""
    return f"dig:{unit_code}:{day.isoformat()}"


def _instant(value: datetime) -> str:
    return to_utc(value).isoformat().replace("+00:00", "Z")


def webhook_body(
    row: OutboxRow, payload: Mapping[str, Any], units: Mapping[str, Unit], lang: str
) -> dict[str, Any]:
    """The JSON posted for one alert (docs/webhook.md documents every key)."""
    recipients = [str(code) for code in payload.get("recipients", ())]
    return {
        "version": WEBHOOK_VERSION,
        "event": "alert",
        "key": row.idempotency_key,
        "type": row.alert_type,
        "occasion": row.occasion,
        "level": payload.get("level"),
        "task_id": row.task_id,
        "title": payload.get("title", ""),
        "content": payload.get("content", ""),
        "lang": lang,
        "recipients": [
            {"code": code, "name": units[code].name if code in units else ""} for code in recipients
        ],
        "created_at": _instant(row.created_at),
    }


@dataclass
class RouteResult:
    """What routing made."""

    routed: int = 0
    """Alert rows handed to their channels."""
    channel_only: int = 0
    """... of which the source is not a channel (now ``routed``)."""
    webhooks: int = 0
    queued: int = 0
    """(alert, unit) pairs queued for a digest."""
    digests: int = 0
    """Digest rows made."""
    bundled: int = 0
    """Queued alerts put into a digest."""

    def counts(self) -> dict[str, int]:
        return {"routed": self.routed, "digests_made": self.digests, "webhooks_made": self.webhooks}


def _route_one(
    session: Session,
    row: OutboxRow,
    *,
    settings: Settings,
    units: Mapping[str, Unit],
    run_id: str,
    now: datetime,
    result: RouteResult,
) -> None:
    row.routed_at = to_utc(now)
    try:
        payload = payload_of(row)
    except (OutboxStateError, ValueError) as exc:
        mark_dead(row, f"bad_payload: {exc}")
        log.error("delivery_dead", code="bad_payload", key=row.idempotency_key, id=row.id)
        return
    channels = settings.delivery.channels_for(row.alert_type)
    if "webhook" in channels:
        key = webhook_key(row.idempotency_key)
        if not key_exists(session, key):
            body = webhook_body(row, payload, units, settings.alerts.lang)
            add_channel_row(
                session,
                key=key,
                kind=OutboxKind.WEBHOOK,
                task_id=row.task_id,
                alert_type=row.alert_type,
                occasion=row.occasion,
                payload_json=dump_payload(body),
                run_id=run_id,
                now=now,
            )
            result.webhooks += 1
    if "email" in channels and row.id is not None:
        for code in dict.fromkeys(str(c) for c in payload.get("recipients", ())):
            if add_digest_item(session, alert_id=row.id, unit_code=code, now=now):
                result.queued += 1
    result.routed += 1
    if "source" not in channels:
        transition(row, OutboxState.ROUTED)
        result.channel_only += 1
    log.debug("alert_routed", key=row.idempotency_key, channels=list(channels))


def route_alerts(
    ledger: Ledger,
    settings: Settings,
    *,
    units: Mapping[str, Unit],
    run_id: str,
    now: datetime,
    result: RouteResult | None = None,
    batch_size: int = ROUTE_BATCH,
) -> RouteResult:
    """Route every pending alert row not yet routed (see the module docstring)."""
    result = result or RouteResult()
    while True:
        ids = unrouted_alert_ids(ledger, limit=batch_size)
        if not ids:
            break
        with ledger.transaction() as session:
            for row_id in ids:
                row = get_row(session, row_id)
                if row is None or row.state != OutboxState.PENDING.value or row.routed_at:
                    continue
                _route_one(
                    session,
                    row,
                    settings=settings,
                    units=units,
                    run_id=run_id,
                    now=now,
                    result=result,
                )
    return result


def build_digests(
    ledger: Ledger,
    *,
    day: date,
    run_id: str,
    now: datetime,
    result: RouteResult | None = None,
) -> RouteResult:
    """Make (or fill while still pending) each waiting unit's digest of `day`."""
    result = result or RouteResult()
    with ledger.transaction() as session:
        for unit in waiting_units(session):
            key = digest_key(unit, day)
            row = row_by_key(session, key)
            if row is None:
                row = add_channel_row(
                    session,
                    key=key,
                    kind=OutboxKind.DIGEST,
                    task_id=None,
                    alert_type=AlertType.TONG_HOP.value,
                    occasion=day.isoformat(),
                    payload_json=dump_payload(
                        {"unit": unit, "day": day.isoformat(), "recipients": [unit]}
                    ),
                    run_id=run_id,
                    now=now,
                )
                result.digests += 1
            elif row.state != OutboxState.PENDING.value:
                log.info("digest_waits_for_next_day", unit=unit, key=key, state=row.state)
                continue
            if row.id is not None:
                result.bundled += bundle_waiting(session, unit_code=unit, digest_id=row.id)
    return result
