"""Normalising records: a raw source record turned into a `NormalisedTask` by its mapping.

`normalise` is pure: it turns a raw record into a `NormalisedTask` or raises `BadRecord` naming
the task, the field and the bad value.

Bounds (`RecordLimits`, from ``sync.max_field_chars`` / ``sync.max_list_items``) are checked on
the raw record before anything else, so one huge or absurd value costs no more than reading it:
a text longer than ``max_field_chars``, a list longer than ``max_list_items`` or nesting deeper
than `MAX_DEPTH` makes the record a `BadRecord` naming the field. After conversion every date
and instant must lie in `EARLIEST_YEAR`..`LATEST_YEAR` and every integer must fit the ledger's
column (64-bit ids, 32-bit other numbers); a mapping can tighten a text field further with the
``text`` converter's ``max_chars`` option (``steeringContent``: 1023, as the contract says).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from connector.errors import BadRecord
from connector.mapping.converters import (
    REGISTRY,
    ConversionError,
    escape_unstorable,
    is_none,
    none_text,
)
from connector.mapping.spec import FieldRule, MappingSpec
from connector.models import (
    DeadlineChange,
    NormalisedTask,
    TaskState,
)
from connector.source.paths import MISSING, Key, resolve

_SHOWN_MAX = 80


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if isinstance(value, str):
        text = repr(value)
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 3] + "..."


def _canonical(raw: Any) -> bytes:
    if isinstance(raw, Mapping):
        raw = {k: v for k, v in raw.items() if not str(k).startswith("@")}
    return json.dumps(
        raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    ).encode("utf-8", "surrogatepass")  # a lone surrogate (``\ud800`` in the JSON) hashes too


def _raw_id(raw: Any, spec: MappingSpec) -> str:
    rule = spec.rules.get("source_id")
    if rule is None or not isinstance(raw, Mapping):
        return ""
    for path in rule.paths:
        value = resolve(raw, path)
        if isinstance(value, bool):
            continue
        if isinstance(value, int) or (isinstance(value, str) and value.strip()):
            return str(value).strip()
    return ""


def record_key(raw: Any, spec: MappingSpec) -> str:
    """A stable key for a raw record, also without an id: ``id:<id>``, else ``sha256:<hash>``.

    The hash is over the canonical JSON of the record without the client's ``@`` keys, so the
    same bad record gets the same key on every run.
    """
    raw_id = _raw_id(raw, spec)
    if raw_id:
        return f"id:{escape_unstorable(raw_id[:200])}"
    return "sha256:" + hashlib.sha256(_canonical(raw)).hexdigest()[:32]


EARLIEST_YEAR = 1900
LATEST_YEAR = 2199
"""Dates and instants outside these years are refused (``Jan 1, 0001``, year 9999...): no task
was assigned before 1900, and the contract's "no deadline" sentinel (2200) is a none value."""

MAX_DEPTH = 32
"""Raw records nested deeper than this are refused (JSON bombs; no real record comes close)."""

_INT64 = 2**63 - 1
_INT32 = 2**31 - 1
_WIDE_INTS = frozenset({"source_id", "ed_id"})
"""Integer fields stored in 64-bit columns; the others are 32-bit."""


@dataclass(frozen=True)
class RecordLimits:
    """How big a raw record's values may be (``sync.max_field_chars``, ``sync.max_list_items``)."""

    max_field_chars: int = 4000
    max_list_items: int = 200

    @property
    def max_keys(self) -> int:
        """Keys allowed in the record itself (it has about 35; unknown keys count too)."""
        return max(self.max_list_items, 1000)


def _oversized(value: Any, limits: RecordLimits, depth: int = 1) -> str:
    """Why `value` (one field of a raw record) is too big, or ``""``."""
    if isinstance(value, str):
        if len(value) > limits.max_field_chars:
            return (
                f"is {len(value)} characters long, over the limit of {limits.max_field_chars} "
                "(sync.max_field_chars)"
            )
        return ""
    if not isinstance(value, list | dict):
        return ""
    if depth > MAX_DEPTH:
        return f"is nested deeper than {MAX_DEPTH} levels"
    if len(value) > limits.max_list_items:
        kind = "items" if isinstance(value, list) else "keys"
        return (
            f"has {len(value)} {kind}, over the limit of {limits.max_list_items} "
            "(sync.max_list_items)"
        )
    members = value if isinstance(value, list) else list(value.values())
    for member in members:
        problem = _oversized(member, limits, depth + 1)
        if problem:
            return problem
    return ""


def _field_of_key(spec: MappingSpec, key: str) -> str:
    """How a raw record's top-level key is named in a BadRecord: the ledger field reading it."""
    for name, rule in spec.rules.items():
        for source in rule.sources:
            if re.split(r"[.\[]", source, maxsplit=1)[0] == key:
                return f"{name} (source '{source}')"
    return f"(source '{key}')"


def _check_size(
    raw: Mapping[str, Any], spec: MappingSpec, limits: RecordLimits, label: str
) -> None:
    if len(raw) > limits.max_keys:
        raise BadRecord(
            f"{label}: the record has {len(raw)} keys, over the limit of {limits.max_keys}",
            task_id=_raw_id(raw, spec),
            field="(record)",
            value=f"{len(raw)} keys",
        )
    max_chars = limits.max_field_chars
    for key, value in raw.items():
        # Most values are short texts or scalars: `_oversized` only for the others.
        if type(value) is str:
            if len(value) <= max_chars:
                continue
        elif not isinstance(value, list | dict):
            continue
        problem = _oversized(value, limits)
        if problem:
            where = _field_of_key(spec, str(key))
            raise BadRecord(
                f"{label}: field {where}: {problem}",
                task_id=_raw_id(raw, spec),
                field=where,
                value=_shown(value),
            )


def _out_of_range(name: str, value: Any) -> str:
    """Why a converted value cannot be stored or reasoned about, or ``""``."""
    kind = type(value)
    if kind is str or kind is bool or value is None:  # most values: nothing to check
        return ""
    if isinstance(value, datetime | date):
        if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            return f"is outside the years {EARLIEST_YEAR}..{LATEST_YEAR}"
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        bound = _INT64 if name in _WIDE_INTS else _INT32
        if not -bound - 1 <= value <= bound:
            return f"does not fit the ledger (at most {bound})"
        return ""
    if isinstance(value, DeadlineChange):
        for part in (value.old_deadline, value.new_deadline, value.changed_at):
            problem = _out_of_range(name, part) if part is not None else ""
            if problem:
                return problem
        return ""
    if isinstance(value, tuple):
        for item in value:
            problem = _out_of_range(name, item)
            if problem:
                return problem
    return ""


def _first_value(raw: Mapping[str, Any], rule: FieldRule) -> tuple[Any, str]:
    for source, path in zip(rule.sources, rule.paths, strict=True):
        value = resolve(raw, path)
        if value is not MISSING and not is_none(value, rule.none_values):
            return value, source
    return MISSING, rule.sources[0]


@dataclass(frozen=True)
class _Field:
    """One rule of a mapping, made ready for the per-record loop (`_compiled`)."""

    name: str
    rule: FieldRule
    keys: tuple[str, ...] | None  # each source one key of the record: read with ``get``
    convert: Callable[[Any, dict[str, Any]], Any]
    none_texts: frozenset[str]  # text sentinels, as `none_text` gives them
    none_others: tuple[Any, ...]  # other sentinels (compared with their type)
    plain_key: str | None  # one source, one key, no sentinel but null: read with ``get`` alone
    text_out: bool  # the converter gives text: nothing for `_out_of_range` to check

    def first_value(self, raw: Mapping[str, Any]) -> tuple[Any, str]:
        """`_first_value` of the rule, without a path walk for one-key sources."""
        if self.keys is None:
            return _first_value(raw, self.rule)
        for index, key in enumerate(self.keys):
            value = raw.get(key, MISSING)
            if value is MISSING or value is None:
                continue
            if type(value) is str or isinstance(value, str):
                if self.none_texts and none_text(value) in self.none_texts:
                    continue
            elif self.none_others and any(
                type(value) is type(s) and value == s for s in self.none_others
            ):
                continue
            return value, self.rule.sources[index]
        return MISSING, self.rule.sources[0]


_COMPILED: dict[int, tuple[MappingSpec, tuple[_Field, ...]]] = {}


def _compiled(spec: MappingSpec) -> tuple[_Field, ...]:
    """The rules of `spec` ready for `normalise` (worked out once per mapping)."""
    found = _COMPILED.get(id(spec))
    if found is not None and found[0] is spec:
        return found[1]
    fields: list[_Field] = []
    for name, rule in spec.rules.items():
        one_key = all(len(path) == 1 and type(path[0]) is Key for path in rule.paths)
        keys = tuple(cast("Key", path[0]).name for path in rule.paths) if one_key else None
        texts = frozenset(none_text(s) for s in rule.none_values if isinstance(s, str))
        others = tuple(s for s in rule.none_values if not isinstance(s, str))
        converter = REGISTRY[rule.converter]
        one = keys is not None and len(keys) == 1 and not texts and not others
        plain = keys[0] if keys is not None and one else None
        text_out = converter.kind == "text"
        fields.append(_Field(name, rule, keys, converter.func, texts, others, plain, text_out))
    if len(_COMPILED) >= 16:  # a process uses one or two mappings; tests build many
        _COMPILED.clear()
    _COMPILED[id(spec)] = (spec, tuple(fields))
    return tuple(fields)


def normalise(
    raw: Mapping[str, Any], spec: MappingSpec, limits: RecordLimits | None = None
) -> NormalisedTask:
    """A raw record as a NormalisedTask, or BadRecord(task_id, field, value) saying what is wrong.

    Keys without a rule are ignored (but count against `limits`, default `RecordLimits()`). A
    field whose sources are all missing or "none" takes the rule's default, else the ledger's
    default (``""``, ``None``, ``()``, ``False``); a required field without a value is a
    BadRecord, and so is a value out of bounds (see the module docstring).
    """
    raw_id = _raw_id(raw, spec)
    if not isinstance(raw, Mapping):
        raise BadRecord(
            f"record {raw_id or '(no id)'}: is not a JSON object",
            task_id=raw_id,
            field="",
            value=_shown(raw),
        )
    label = f"task {raw_id}" if raw_id else "record (no id)"
    _check_size(raw, spec, limits or RecordLimits(), label)
    if not raw_id:
        label = f"record {record_key(raw, spec)} (no id)"
    values: dict[str, Any] = {}
    for compiled in _compiled(spec):
        name, rule = compiled.name, compiled.rule
        if compiled.plain_key is not None:  # `first_value` of one key without sentinels
            value, source = raw.get(compiled.plain_key, MISSING), rule.sources[0]
            if value is None:
                value = MISSING
        else:
            value, source = compiled.first_value(raw)
        if value is MISSING:
            if rule.has_default:
                values[name] = rule.default
            elif rule.required:
                where = f"{name} (source '{rule.describe_source()}')"
                raise BadRecord(
                    f"{label}: field {where}: has no value, and the field is required",
                    task_id=raw_id,
                    field=where,
                    value="",
                )
            continue
        try:
            converted = compiled.convert(value, rule.options)
        except ConversionError as exc:
            where = f"{name} (source '{source}')"
            shown = _shown(value)
            raise BadRecord(
                f"{label}: field {where}: {shown} {exc}",
                task_id=raw_id,
                field=where,
                value=shown,
            ) from None
        problem = "" if compiled.text_out else _out_of_range(name, converted)
        if problem:
            where = f"{name} (source '{source}')"
            shown = _shown(value)
            raise BadRecord(
                f"{label}: field {where}: {shown} {problem}",
                task_id=raw_id,
                field=where,
                value=shown,
            )
        values[name] = converted
    done_when = spec.rules["state"].done_when
    if done_when is not None and values.get("state") is TaskState.OPEN:
        marker = resolve(raw, done_when)
        if marker is not MISSING and not is_none(marker, ("",)):
            values["state"] = TaskState.DONE
    return NormalisedTask(**values)


def bounded_raw(raw: Any, limits: RecordLimits | None = None, depth: int = 0) -> Any:
    """A copy of a raw record small enough to keep in quarantine: texts cut at
    ``max_field_chars``, lists and objects at ``max_list_items`` entries, nesting at `MAX_DEPTH`
    (each cut is marked ``…[cut: N]`` with what was left out)."""
    lim = limits or RecordLimits()
    if isinstance(raw, str):
        if len(raw) <= lim.max_field_chars:
            return raw
        return raw[: lim.max_field_chars] + f"…[cut: {len(raw) - lim.max_field_chars} chars]"
    if not isinstance(raw, list | dict):
        return raw
    if depth >= MAX_DEPTH:
        return f"…[cut: nested deeper than {MAX_DEPTH}]"
    cap = lim.max_keys if depth == 0 else lim.max_list_items
    if isinstance(raw, list):
        kept = [bounded_raw(v, lim, depth + 1) for v in raw[:cap]]
        if len(raw) > cap:
            kept.append(f"…[cut: {len(raw) - cap} items]")
        return kept
    out = {str(k): bounded_raw(v, lim, depth + 1) for k, v in list(raw.items())[:cap]}
    if len(raw) > cap:
        out["…"] = f"[cut: {len(raw) - cap} keys]"
    return out
