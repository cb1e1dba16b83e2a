"""A normalised task as canonical JSON, and back (snapshots, content hashes, history values).

`task_to_json` is deterministic: every field of `NormalisedTask` (``last_modified`` and ``extra``
included), keys sorted, no whitespace, dates as ISO dates, instants as ISO instants in UTC, enums
by value. Its SHA-256 without ``last_modified`` and ``tracking_status`` (`HASH_EXCLUDED`) is the
task's content hash. `task_from_json` inverts it, guided by the
dataclass's type hints, so a field added to the model round-trips without a change here.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

from connector.clock import to_utc
from connector.ledger.values import converter, optional_base
from connector.models import NormalisedTask

_HINTS: dict[str, Any] = typing.get_type_hints(NormalisedTask)


def _encodable(text: str) -> bool:
    """True when `text` can be written as UTF-8 (no lone surrogate from a ``\\ud800`` escape)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_CANONICAL = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str
)
"""`json.dumps` with `canonical_json`'s options, made once (a first pull encodes several
documents per task; `json.dumps` would build an encoder for each)."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text kept as is.

    Always storable: NUL is escaped by JSON itself, and text holding a lone surrogate (which no
    database accepts as UTF-8) is written with ASCII escapes instead.
    """
    text = _CANONICAL.encode(value)
    if _encodable(text):
        return text
    return json.dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"), default=str)


_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` as every backend can store it, the same on SQLite and PostgreSQL: NUL and the
    other control characters removed (tab, line feed and carriage return kept), and a lone
    surrogate (an unpaired ``\\ud800`` escape in the JSON) replaced by U+FFFD.

    For text the connector shows but does not judge (unit names). A task's text is never
    altered: a task field needing this is quarantined instead (`unstorable_text`).
    """
    if text.isascii() and text.isprintable():
        return text
    return _SURROGATE.sub("\ufffd", _CONTROLS.sub("", text))


def _unstorable(text: str) -> bool:
    return "\x00" in text or not _encodable(text)


def unstorable_text(task: NormalisedTask) -> tuple[str, str] | None:
    """The first text field the ledger cannot store as it is, with its value, else None.

    PostgreSQL refuses NUL (U+0000) in text, and no database takes a lone surrogate; such a
    record is quarantined rather than altered or allowed to stop the run (on every backend, so
    the ledger's content does not depend on the database).
    """
    texts = [v for v in map(task.__getattribute__, _FIELD_NAMES) if isinstance(v, str)]
    texts.extend(text for unit in task.coordinators for text in (unit.code, unit.name))
    texts.extend(change.reason for change in task.deadline_changes)
    if not _unstorable("".join(texts)):  # the usual case: every text storable, one check
        return None
    for name in _FIELD_NAMES:
        value = getattr(task, name)
        if isinstance(value, str) and _unstorable(value):
            return name, value
    for unit in task.coordinators:
        for text in (unit.code, unit.name):
            if _unstorable(text):
                return "coordinators", text
    for change in task.deadline_changes:
        if _unstorable(change.reason):
            return "deadline_changes", change.reason
    return None


def encode(value: Any) -> Any:
    """`value` as JSON-ready data: instants ISO in UTC, dates ISO, enums by value, a dataclass
    (`UnitRef`, `DeadlineChange`...) as an object of its fields, tuples as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {name: encode(getattr(value, name)) for name in _names_of(type(value))}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in value.items()}
    return str(value)


@functools.cache
def _names_of(cls: type[Any]) -> tuple[str, ...]:
    """The field names of dataclass `cls`, in order (`dataclasses.fields` is slow per call)."""
    return tuple(f.name for f in fields(cls))


_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(NormalisedTask))
_PLAIN = (str, int, float, bool, type(None))


def task_to_dict(task: NormalisedTask) -> dict[str, Any]:
    """The task as JSON-ready data: dates ISO, instants ISO in UTC, enums by value."""
    out: dict[str, Any] = {}
    for name in _FIELD_NAMES:
        value = getattr(task, name)
        # Most fields are plain values or instants: skip the general encoder (a hot path).
        kind = type(value)
        if kind in _PLAIN:
            out[name] = value
        elif kind is datetime:
            # the mapping's instants are UTC already: `to_utc` only for another zone
            out[name] = (value if value.tzinfo is UTC else to_utc(value)).isoformat()
        elif kind is date:
            out[name] = value.isoformat()
        elif kind is tuple and not value:
            out[name] = []
        else:
            out[name] = encode(value)
    return out


def task_to_json(task: NormalisedTask) -> str:
    """The canonical JSON of a task (what snapshots store and the content hash covers)."""
    return canonical_json(task_to_dict(task))


HASH_EXCLUDED: tuple[str, ...] = ("last_modified", "tracking_status")
"""Fields the content hash leaves out: the connector's own tracking-status write changes the
source's ``trackingStatus`` and bumps ``lastModifyStr`` and nothing else, and that echo must read
as *unchanged* (no snapshot, no history, no new outbox row). Snapshots still store them."""


def content_hash(task: NormalisedTask) -> str:
    """SHA-256 (hex) of the canonical JSON of `task` without `HASH_EXCLUDED`."""
    return hash_of_dict(task_to_dict(task))


def hash_of_dict(data: Mapping[str, Any]) -> str:
    """`content_hash` of a task already made a dict by `task_to_dict` (which a writer also
    needs for the snapshot's JSON: the task is encoded once)."""
    kept = {k: v for k, v in data.items() if k not in HASH_EXCLUDED}
    return hashlib.sha256(canonical_json(kept).encode("utf-8")).hexdigest()


def _segments() -> tuple[tuple[str, ...], ...]:
    """A task dict's keys in canonical order, cut at each of `HASH_EXCLUDED`: the runs of keys
    between them (each excluded key is a run of its own)."""
    runs: list[tuple[str, ...]] = []
    run: list[str] = []
    for name in sorted(_FIELD_NAMES):
        if name in HASH_EXCLUDED:
            runs += [tuple(run), (name,)]
            run = []
        else:
            run.append(name)
    return (*runs, tuple(run))


_SEGMENTS = _segments()
_KEYS = frozenset(_FIELD_NAMES)


def snapshot_and_hash(data: dict[str, Any]) -> tuple[str, str]:
    """The canonical JSON of a task dict (`task_to_dict`) and its `hash_of_dict`, the JSON
    encoded once: canonical JSON is the sorted keys' members joined, so the members of the
    keys between those `HASH_EXCLUDED` are encoded by run and make both documents."""
    if data.keys() != _KEYS:
        return canonical_json(data), hash_of_dict(data)
    kept: list[str] = []
    body: list[str] = []
    for run in _SEGMENTS:
        if not run:
            continue
        if run[0] in HASH_EXCLUDED:
            name = run[0]
            body.append(_CANONICAL.encode(name) + ":" + _CANONICAL.encode(data[name]))
            continue
        members = _CANONICAL.encode({name: data[name] for name in run})[1:-1]
        kept.append(members)
        body.append(members)
    text = "{" + ",".join(body) + "}"
    if not _encodable(text):  # canonical_json's ASCII escapes: the documents as it writes them
        return canonical_json(data), hash_of_dict(data)
    digest = hashlib.sha256(("{" + ",".join(kept) + "}").encode("utf-8")).hexdigest()
    return text, digest


Decoder = Callable[[Any], Any]


@functools.cache
def _decoder(hint: Any) -> Decoder:
    """How JSON data is read as the type `hint` names (the inverse of `encode`): a tuple of items,
    a dataclass from its object, a scalar as a column value is read (`values.column_value`).
    Its type tests are made once per hint: a report as of a past day decodes thirty fields of
    every task's snapshot."""
    base = optional_base(hint)
    if typing.get_origin(base) is tuple:
        item = _decoder(typing.get_args(base)[0])
        return lambda value: None if value is None else tuple([item(v) for v in value])
    if isinstance(base, type) and dataclasses.is_dataclass(base):
        made: Callable[..., Any] = base
        decoders = {name: _decoder(h) for name, h in _hints_of(base).items()}
        return lambda value: (
            None
            if value is None
            else made(**{k: decoders[k](v) for k, v in value.items() if k in decoders})
        )
    if base is str:
        return lambda value: None if value is None else str(value)
    convert = converter(base)
    if base in (datetime, date):
        return lambda value: None if value is None or value == "" else convert(value)
    return lambda value: None if value is None else convert(value)


@functools.cache
def _hints_of(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode_field(name: str, value: Any) -> Any:
    """The JSON data of field `name` of a `NormalisedTask` as the field's type."""
    return _FIELD_DECODERS[name](value)


_FIELD_DECODERS: dict[str, Decoder] = {name: _decoder(hint) for name, hint in _HINTS.items()}


def task_from_dict(data: Mapping[str, Any]) -> NormalisedTask:
    """Inverse of `task_to_dict` (unknown keys are ignored, missing ones take the default)."""
    decoders = _FIELD_DECODERS
    values = {k: decoders[k](v) for k, v in data.items() if k in decoders}
    return NormalisedTask(**values)


def task_from_json(text: str) -> NormalisedTask:
    """Inverse of `task_to_json`."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a task snapshot must be a JSON object")
    return task_from_dict(data)


def history_value(value: Any) -> str:
    """How a value is written in ``task_history.old_value`` / ``new_value``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return canonical_json(encode(value)) if value else ""
    encoded = encode(value)
    return encoded if isinstance(encoded, str) else canonical_json(encoded)
