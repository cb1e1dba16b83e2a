"""The snapshot strategy's memory of a source's list (``snapshot_item``).

A source without a modified-since filter (iDesk 6) is read whole on every run. To read only the
details that may have changed, the ledger keeps, per source and list item: the SHA-256 of the
item's canonical JSON when its detail was last read (`item_hash`), the item itself (to read its
detail again after it left the list), when that was (``checked_at``), and whether the item is
still listed. `connector.source.pull` decides from these which details to read; the rows are
written in the transaction of the tasks they cover, so a crash never marks a detail as read
that was not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.clock import to_utc
from connector.ledger.reader import in_list, reading

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db


def item_hash(item: Mapping[str, Any]) -> str:
    """SHA-256 of a list item's canonical JSON (keys sorted; the client's ``@`` keys left out)."""
    clean = {k: v for k, v in item.items() if not str(k).startswith("@")}
    text = json.dumps(clean, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ItemState:
    """What the ledger knows of one list item."""

    item_id: str
    list_hash: str
    listed: bool


@dataclass(frozen=True)
class Checked:
    """A list item whose detail was read (and its record stored, quarantined or skipped)."""

    item_id: str
    list_hash: str
    item: Mapping[str, Any]


def known_items(db: Db, source: str, ids: Sequence[str]) -> dict[str, ItemState]:
    """The states of these items (those the ledger knows), by id."""
    if not ids:
        return {}
    names, params = in_list("id", list(ids))
    sql = (
        "SELECT item_id, list_hash, listed FROM snapshot_item "
        f"WHERE source = :source AND item_id IN ({names})"
    )
    with reading(db) as r:
        rows = r.rows(sql, {"source": source, **params})
    states = (ItemState(str(r["item_id"]), str(r["list_hash"]), bool(r["listed"])) for r in rows)
    return {state.item_id: state for state in states}


def count_listed(db: Db, source: str) -> int:
    """How many items were listed when the source was last read."""
    sql = "SELECT count(*) FROM snapshot_item WHERE source = :source AND listed = :t"
    with reading(db) as r:
        return int(r.scalar(sql, {"source": source, "t": True}) or 0)


def oldest_checked(db: Db, source: str, limit: int) -> list[str]:
    """The `limit` listed items whose detail was read longest ago (ties by id)."""
    if limit <= 0:
        return []
    sql = (
        "SELECT item_id FROM snapshot_item WHERE source = :source AND listed = :t "
        "ORDER BY checked_at, item_id LIMIT :limit"
    )
    with reading(db) as r:
        return [str(i) for i in r.column(sql, {"source": source, "t": True, "limit": limit})]


def listed_ids(db: Db, source: str) -> set[str]:
    """Every item listed when the source was last read."""
    sql = "SELECT item_id FROM snapshot_item WHERE source = :source AND listed = :t"
    with reading(db) as r:
        return {str(i) for i in r.column(sql, {"source": source, "t": True})}


def stored_items(db: Db, source: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The list items as last stored, by id (to read the detail of an item that left)."""
    if not ids:
        return {}
    names, params = in_list("id", list(ids))
    sql = (
        "SELECT item_id, list_json FROM snapshot_item "
        f"WHERE source = :source AND item_id IN ({names})"
    )
    with reading(db) as r:
        rows = r.rows(sql, {"source": source, **params})
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = json.loads(str(row["list_json"]))
        out[str(row["item_id"])] = item if isinstance(item, dict) else {}
    return out


def record_checked(
    session: Session,
    source: str,
    checked: Iterable[Checked],
    *,
    known: Mapping[str, ItemState],
    run_id: str,
    now: datetime,
) -> int:
    """Store that these items' details were read now (listed again); how many rows."""
    from sqlalchemy import and_, bindparam, insert, update  # noqa: PLC0415 - writing

    from connector.ledger.tables import SNAPSHOT_ITEM as T  # noqa: PLC0415

    stamp = to_utc(now)
    new: list[dict[str, Any]] = []
    old: list[dict[str, Any]] = []
    for entry in checked:
        values = {
            "list_hash": entry.list_hash,
            "list_json": json.dumps(dict(entry.item), ensure_ascii=False, default=str),
            "listed": True,
            "checked_at": stamp,
            "checked_run": run_id,
            "left_at": None,
            "left_run": "",
        }
        if entry.item_id in known:
            old.append({"b_id": entry.item_id, **values})
        else:
            new.append(
                {"source": source, "item_id": entry.item_id, "first_seen_run": run_id, **values}
            )
    if new:
        session.execute(insert(T), new)
    if old:
        statement = (
            update(T)
            .where(and_(T.c.source == source, T.c.item_id == bindparam("b_id")))
            .values({name: bindparam(name) for name in old[0] if name != "b_id"})
        )
        session.execute(statement, old)
    return len(new) + len(old)


def mark_left(
    session: Session, *, source: str, ids: Sequence[str], run_id: str, now: datetime
) -> int:
    """Store that these items are no longer listed; how many rows changed."""
    if not ids:
        return 0
    from sqlalchemy import update  # noqa: PLC0415 - writing

    from connector.ledger.tables import SNAPSHOT_ITEM as T  # noqa: PLC0415

    result = session.execute(
        update(T)
        .where(T.c.source == source, T.c.item_id.in_(list(ids)))
        .values(listed=False, left_at=to_utc(now), left_run=run_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
