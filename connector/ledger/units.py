"""The province's units as the source lists them (``unit``), and the unit codes the ledger knows.

Units are stored with their text cleaned the same way on every backend (`codec.clean_text`:
NUL and other control characters but tab and line breaks removed, a lone surrogate replaced by
U+FFFD); a unit whose *code* needs cleaning is skipped (logged ``unit_skipped``), and each unit
is written in its own savepoint, so one bad unit never stops the run. `list_units` is the one
place a stored unit becomes a `Unit` again.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from connector.clock import to_utc
from connector.ledger.codec import clean_text
from connector.ledger.reader import reading
from connector.models import Unit, UnitKind

if TYPE_CHECKING:
    from sqlmodel import Session

    from connector.ledger.reader import Db

log = structlog.get_logger(__name__)


def upsert_units(session: Session, units: Iterable[Unit], *, now: datetime) -> int:
    """Insert or update units as the source lists them; how many rows changed (see the module
    docstring for what is cleaned or skipped)."""
    from sqlmodel import select  # noqa: PLC0415 - writing: the ORM

    from connector.ledger.db import StoreError, store_error_text  # noqa: PLC0415
    from connector.ledger.scope import current_source  # noqa: PLC0415
    from connector.ledger.tables import UnitRow  # noqa: PLC0415

    mine = select(UnitRow).where(UnitRow.source == current_source())
    existing = {u.code: u for u in session.scalars(mine)}
    changed = 0
    for unit in units:
        code = clean_text(unit.code)
        if code != unit.code or not code:
            log.warning("unit_skipped", code=unit.code[:40], reason="unstorable characters in code")
            continue
        name, parent = clean_text(unit.name), clean_text(unit.parent_code)
        if name != unit.name or parent != unit.parent_code:
            log.info("unit_text_cleaned", code=code)
        values = {"name": name, "kind": unit.kind.value, "parent_code": parent}
        row = existing.get(code)
        if row is not None and all(getattr(row, k) == v for k, v in values.items()):
            continue
        try:
            with session.begin_nested():
                if row is None:
                    row = UnitRow(code=code, updated_at=to_utc(now), **values)
                    session.add(row)
                else:
                    for k, v in values.items():
                        setattr(row, k, v)
                    row.updated_at = to_utc(now)
                session.flush()
        except StoreError as exc:
            log.warning("unit_skipped", code=code[:40], reason=store_error_text(exc))
            existing.pop(code, None)
            continue
        existing[code] = row
        changed += 1
    return changed


def list_units(db: Db) -> list[Unit]:
    """Every unit, by code, as a `Unit`; a row of a kind this version does not know is logged
    (``unit_kind_unknown``) and left out (its tasks then count as of a unit not in the table).
    Read over several sources, a code two of them list is one unit (as the first source by name
    lists it): reports group by unit code. Sorted here, by code point, not by the database: a
    PostgreSQL collation other than ``C`` (ICU, ``en_US.UTF-8``) orders ``_`` and case otherwise
    than SQLite, and the report's rows follow this order."""
    units: list[Unit] = []
    with reading(db) as r:
        rows = r.rows("SELECT code, name, kind, parent_code, source FROM unit")
    seen: set[str] = set()
    for row in sorted(rows, key=lambda row: (row["code"], row["source"])):
        if row["code"] in seen:
            continue
        seen.add(row["code"])
        try:
            kind = UnitKind(row["kind"])
        except ValueError:
            log.warning("unit_kind_unknown", unit=row["code"], kind=row["kind"])
            continue
        units.append(Unit(row["code"], row["name"], kind, row["parent_code"]))
    return units


def unit_codes(db: Db) -> list[str]:
    """The codes of the unit table, whatever their kind, by code point (see `list_units`)."""
    with reading(db) as r:
        return sorted(str(code) for code in r.column("SELECT DISTINCT code FROM unit"))


def known_unit_codes(db: Db) -> set[str]:
    """Every unit code the ledger knows: the unit table's and every task's lead unit."""
    with reading(db) as r:
        codes = set(unit_codes(r))
        codes.update(c for c in r.column("SELECT DISTINCT lead_unit_code FROM task") if c)
    return codes


def count_units(db: Db) -> int:
    """How many units the unit table holds."""
    with reading(db) as r:
        return int(r.scalar("SELECT count(*) FROM unit") or 0)
