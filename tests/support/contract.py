"""Contract v1 records read and written from the contract's text (docs/source-api.md, section 4):
the oracle of the end-to-end tests.

A test that judges the pull by the connector's own mapping or content hash cannot catch a bug in
either. What the ledger must hold for a served record is worked out here, by a small reading of
the contract's fields that imports nothing from `connector`; it covers the fields the
simulator's changes touch (status, deadline and its extensions, completion, progress,
confirmation, tracking status, deletion) and the ones a wrong mapping would garble (subject,
lead unit).

- `utc_str`, `en_us`: the contract's two ways of writing an instant (to build records);
- `read`: what the ledger must hold for one record, or `Malformed` naming the field at fault;
- `row_problems`: how a ledger row (any mapping of column to value: a ``sqlite3.Row`` dict or a
  ``TaskRow``'s fields) differs from that.

Two expected values are not ledger columns: ``tracking_status`` (what the source holds, see
`_ledger_value`) and ``coordinators`` (the units' code and name pairs, read from the row's
``coordinators_json`` whatever its keys).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
"""Local time of the contract: dates are taken in it (UTC+7, no daylight saving)."""

STATES: dict[str, str] = {
    "received": "open",
    "processing": "open",
    "returned": "open",
    "completed": "done",
    "retrieved": "cancelled",
}
"""The contract's `status` values, and the ledger state each one means (section 4)."""

NO_DEADLINE = frozenset({"", "Feb 1, 2200, 12:00:01 AM"})
"""`deadline` values that mean "no deadline"."""

EN_US = "%b %d, %Y, %I:%M:%S %p"
"""A local date and time the en-US way: ``Apr 13, 2022, 9:00:00 AM``."""

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

DATE_COLUMNS = frozenset({"deadline", "original_deadline", "doc_date"})
INSTANT_COLUMNS = frozenset({"completed_at", "last_report_at"})
FLAG_COLUMNS = frozenset({"confirmed", "deleted_at_source"})


def utc_str(instant: datetime) -> str:
    """An instant as the contract writes ``...Str`` keys: ISO-8601 UTC, whole seconds."""
    return instant.astimezone(UTC).replace(microsecond=0).isoformat()


def en_us(instant: datetime) -> str:
    """An instant as local wall time, the en-US way (``Apr 13, 2022, 9:00:00 AM``)."""
    local = instant.astimezone(LOCAL)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return (
        f"{_MONTHS[local.month - 1]} {local.day}, {local.year}, "
        f"{hour}:{local.minute:02d}:{local.second:02d} {half}"
    )


class Malformed(ValueError):
    """A record the contract calls malformed; `field` is the source key at fault."""

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(f"{field}={value!r}")
        self.field = field
        self.value = value


@dataclass(frozen=True)
class Expected:
    """What the ledger must hold for one record: its id, and ledger column -> value."""

    source_id: int
    columns: dict[str, Any]


def _text(record: Mapping[str, Any], key: str) -> str:
    value = record.get(key, "")
    if not isinstance(value, str):
        raise Malformed(key, value)
    return unicodedata.normalize("NFC", value).strip()


def units(pairs: Any) -> list[tuple[str, ...]]:
    """Units (code, name) in a form that compares whatever keys hold them: each pair's values,
    sorted, then the pairs sorted."""
    return sorted(tuple(sorted(map(str, pair))) for pair in pairs)


def _instant(record: Mapping[str, Any], key: str) -> datetime | None:
    value = record.get(key, "")
    if value == "":
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError:
        raise Malformed(key, value) from None
    if instant.tzinfo is None:
        raise Malformed(key, value)
    return instant.astimezone(UTC)


def _local_date(record: Mapping[str, Any], key: str) -> date | None:
    value = record.get(key, "")
    if value in NO_DEADLINE:
        return None
    try:
        return datetime.strptime(str(value), EN_US).date()
    except ValueError:
        raise Malformed(key, value) from None


def read(record: Any) -> Expected:
    """What the ledger must hold for `record`; `Malformed` when the contract's reading fails."""
    if not isinstance(record, Mapping):
        raise Malformed("(record)", record)
    task_id = record.get("id")
    if not isinstance(task_id, int) or isinstance(task_id, bool):
        raise Malformed("id", task_id)
    status = record.get("status")
    if status not in STATES:
        raise Malformed("status", status)
    if _instant(record, "lastModifyStr") is None:
        raise Malformed("lastModifyStr", "")
    for key in ("docDateStr", "createDateStr", "confirmedDateStr"):
        _instant(record, key)
    deadline = _local_date(record, "deadline")
    changes = record.get("deadlineChanges") or []
    original = _local_date(changes[0], "oldDeadline") if changes else deadline
    progress = record.get("progress", "")
    columns: dict[str, Any] = {
        "state": STATES[str(status)],
        "source_status": status,
        "sign_number": _text(record, "signNumber"),
        "subject": _text(record, "subject"),
        "lead_unit_code": _text(record, "receiverCommCode"),
        "lead_unit_name": _text(record, "receiverAname"),
        "coordinators": units(
            (_text(unit, "commCode"), _text(unit, "aname"))
            for unit in record.get("coordinators") or []
        ),
        "deadline": deadline,
        "original_deadline": original,
        "completed_at": _instant(record, "completeDateStr"),
        "progress": None if progress == "" else int(progress),
        "last_report_at": _instant(record, "lastReportDateStr"),
        "confirmed": record.get("confirmed") == "Y",
        "tracking_status": _text(record, "trackingStatus"),
        "deleted_at_source": record.get("deleted") == "Y",
    }
    return Expected(task_id, columns)


def _ledger_value(column: str, row: Mapping[str, Any]) -> Any:
    """A row's value in the form `read` gives (SQLite hands back dates and instants as text)."""
    if column == "tracking_status":
        # The source echoes the connector's own tracking write without a change of content, so
        # what the source holds is what it last acknowledged, else what the ledger last read.
        return row["acked_tracking_status"] or row["source_tracking_status"]
    if column == "coordinators":
        return units(unit.values() for unit in json.loads(row["coordinators_json"]))
    value = row[column]
    if value is None:
        return None
    if column in DATE_COLUMNS and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if column in INSTANT_COLUMNS:
        instant = datetime.fromisoformat(value) if isinstance(value, str) else value
        return instant.replace(tzinfo=instant.tzinfo or UTC).astimezone(UTC)
    if column in FLAG_COLUMNS:
        return bool(value)
    return value


def row_problems(expected: Expected, row: Mapping[str, Any]) -> list[str]:
    """Each column of `row` that differs from `expected`, as a readable line."""
    problems = []
    for column, want in expected.columns.items():
        have = _ledger_value(column, row)
        if have != want:
            problems.append(
                f"task {expected.source_id}: {column} is {have!r}, the source has {want!r}"
            )
    return problems
