"""The outbox rows of the channels other than the source: routing alerts, bundling digests.

The meaning is `connector.outbox.routing`'s and `connector.outbox.channels`'; the SQL is here.
Read functions take anything `reader.reading` does; the ones that change rows take the
caller's session and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from connector.clock import to_utc
from connector.ledger.outbox import QUARANTINED, OutboxEntry, PlannedRow, add_row
from connector.ledger.reader import in_list, reading
from connector.ledger.values import record
from connector.outbox.states import OutboxKind, OutboxState

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlmodel import Session

    from connector.ledger.reader import Db
    from connector.ledger.tables import OutboxRow


@dataclass(frozen=True)
class DueRow:
    """A row due for delivery: its id and kind."""

    id: int
    kind: str


def unrouted_alert_ids(db: Db, *, limit: int) -> list[int]:
    """Pending alert rows not yet handed to their channels, oldest first (at most `limit`);
    not those held while their task's newer record waits in quarantine (`QUARANTINED`)."""
    sql = (
        "SELECT id FROM outbox WHERE kind = :kind AND state = :state AND routed_at IS NULL "
        f"AND NOT {QUARANTINED} ORDER BY id LIMIT :limit"
    )
    params = {"kind": OutboxKind.ALERT, "state": OutboxState.PENDING, "limit": limit}
    with reading(db) as r:
        return [int(i) for i in r.column(sql, params)]


def key_exists(db: Db, key: str) -> bool:
    """Whether an outbox row has this idempotency key."""
    with reading(db) as r:
        return r.scalar("SELECT 1 FROM outbox WHERE idempotency_key = :k", {"k": key}) is not None


def row_by_key(session: Session, key: str) -> OutboxRow | None:
    """The outbox row with this key, to change it."""
    from connector.ledger.outbox import get_row  # noqa: PLC0415

    with reading(session) as r:
        found = r.scalar("SELECT id FROM outbox WHERE idempotency_key = :k", {"k": key})
    return get_row(session, int(found)) if found is not None else None


def add_channel_row(
    session: Session,
    *,
    key: str,
    kind: OutboxKind,
    task_id: int | None,
    alert_type: str,
    occasion: str,
    payload_json: str,
    run_id: str,
    now: datetime,
) -> OutboxRow:
    """A new pending row of a channel (a digest, a webhook post); flushed, so it has its id."""
    row = add_row(
        session,
        PlannedRow.of(
            key=key,
            kind=kind,
            task_id=task_id,
            payload_json=payload_json,
            state=OutboxState.PENDING,
            run_id=run_id,
            now=now,
            alert_type=alert_type,
            occasion=occasion,
        ),
    )
    session.flush()
    return row


def add_digest_item(session: Session, *, alert_id: int, unit_code: str, now: datetime) -> bool:
    """Put an alert in the queue of `unit_code`'s next digest; False when it is there already."""
    from connector.ledger.tables import DigestItem  # noqa: PLC0415 - writing: the ORM

    with reading(session) as r:
        exists = r.scalar(
            "SELECT 1 FROM outbox_digest_item WHERE alert_id = :a AND unit_code = :u",
            {"a": alert_id, "u": unit_code},
        )
    if exists is not None:
        return False
    session.add(DigestItem(alert_id=alert_id, unit_code=unit_code, created_at=to_utc(now)))
    return True


def waiting_units(db: Db) -> list[str]:
    """Units with alerts queued for a digest not yet made, by code (code point order, as
    `connector.ledger.units.list_units`)."""
    sql = "SELECT DISTINCT unit_code FROM outbox_digest_item WHERE digest_id IS NULL"
    with reading(db) as r:
        return sorted(str(code) for code in r.column(sql))


def bundle_waiting(session: Session, *, unit_code: str, digest_id: int) -> int:
    """Put every alert queued for `unit_code` into the digest row `digest_id`; how many."""
    from connector.ledger.tables import DIGEST_ITEM  # noqa: PLC0415 - writing: Core

    session.flush()
    statement = (
        DIGEST_ITEM.update()
        .where(DIGEST_ITEM.c.unit_code == unit_code, DIGEST_ITEM.c.digest_id.is_(None))
        .values(digest_id=digest_id)
    )
    return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]


def digest_alerts(db: Db, digest_id: int) -> list[OutboxEntry]:
    """The alert rows a digest bundles, oldest first."""
    sql = (
        "SELECT o.* FROM outbox o JOIN outbox_digest_item i ON i.alert_id = o.id "
        "WHERE i.digest_id = :d ORDER BY o.id"
    )
    with reading(db) as r:
        return [record(OutboxEntry, row) for row in r.rows(sql, {"d": digest_id})]


def digests_of_alerts(db: Db, alert_ids: Collection[int]) -> dict[int, list[str]]:
    """For each alert row id, the keys of the digest rows that bundle it (for listings)."""
    out: dict[int, list[str]] = {i: [] for i in alert_ids}
    if not alert_ids:
        return out
    wanted, params = in_list("a", sorted(alert_ids))
    sql = (
        "SELECT i.alert_id AS alert_id, o.idempotency_key AS key FROM outbox_digest_item i "
        f"JOIN outbox o ON o.id = i.digest_id WHERE i.alert_id IN ({wanted}) ORDER BY o.id"
    )
    with reading(db) as r:
        for row in r.rows(sql, params):
            out.setdefault(int(row["alert_id"]), []).append(str(row["key"]))
    return out


def due_rows(db: Db, now: datetime, kinds: Collection[OutboxKind]) -> list[DueRow]:
    """Rows of `kinds` due at `now`, oldest first: ``pending``, ``failed`` whose
    ``next_attempt_at`` has come, and any a crash left in ``sending``."""
    if not kinds:
        return []
    ready, ready_params = in_list("r", [OutboxState.PENDING.value, OutboxState.FAILED.value])
    wanted, kind_params = in_list("k", sorted(k.value for k in kinds))
    sql = (
        f"SELECT id, kind FROM outbox WHERE ((state IN ({ready}) AND (next_attempt_at IS NULL "
        f"OR next_attempt_at <= :now)) OR state = :sending) AND kind IN ({wanted}) ORDER BY id"
    )
    params = {**ready_params, **kind_params, "now": to_utc(now), "sending": OutboxState.SENDING}
    with reading(db) as r:
        return [DueRow(int(row["id"]), str(row["kind"])) for row in r.rows(sql, params)]
