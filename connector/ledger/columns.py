"""Where the vocabulary sits in the ledger's task table: every column derived from the models.

The ``task`` table holds a `NormalisedTask` (its *source columns*), the `Classification` computed
last (its *classification columns*) and the deadline suggested from the task's text, beside the
ledger's own bookkeeping (raw JSON, content hash, runs, what the source acknowledged), which
`connector.ledger.tables` declares by hand. The rest follows from the models' fields:

* a task field is the column of its name, except the `RENAMED` ones (``last_modified`` is
  ``source_modified``, ``tracking_status`` is ``source_tracking_status``, ``deleted`` is
  ``deleted_at_source``); a tuple field (``coordinators``, ``deadline_changes``) is its
  canonical JSON in ``<name>_json``; ``extra`` is not a column (the snapshots keep it); the
  property ``original_deadline`` is stored as well (`STORED_PROPERTIES`);
* a classification field is the column of its name (``status`` is ``status_code``), except those
  that hold only for the as-of date or repeat a task column (`CLASSIFICATION_NOT_STORED`); one
  without a default is nullable (a task not classified yet);
* a suggestion's ``deadline``, ``phrase`` and ``recurrence`` are ``suggested_deadline``,
  ``suggested_phrase`` and ``suggested_recurrence``.

So a field added to `NormalisedTask` or `Classification` needs a migration and nothing else:
``tables.py`` declares its column from `SOURCE_COLUMNS` / `CLASSIFICATION_COLUMNS`, and every
conversion here (a task's row values, the task back from a row, a row's history values, a
classification's values) follows. ``tests/integration/test_ledger_columns.py`` holds every
field to it.

No SQLAlchemy here: the commands that only read use these conversions on plain DB-API rows.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any, Protocol

from connector.ledger.codec import canonical_json, decode_field, encode, history_value
from connector.ledger.values import column_value, day, instant
from connector.models import Classification, DeadlineChange, NormalisedTask

RENAMED: Mapping[str, str] = {
    "last_modified": "source_modified",
    "tracking_status": "source_tracking_status",
    "deleted": "deleted_at_source",
}
"""Task fields whose column has another name (what the ledger's columns have always been)."""

NOT_STORED: frozenset[str] = frozenset({"extra"})
"""Task fields without a column (``extra``: the mapping's additional values; snapshots keep it)."""

STORED_PROPERTIES: tuple[str, ...] = ("original_deadline",)
"""Properties of `NormalisedTask` stored beside its fields (a report reads them without the
deadline changes)."""

CLASSIFICATION_RENAMED: Mapping[str, str] = {"status": "status_code"}
CLASSIFICATION_NOT_STORED: frozenset[str] = frozenset(
    {
        "as_of",
        "deadline",
        "original_deadline",
        "completed_on",
        "completion_estimated",
        "not_yet_assigned",
        "judged_on",
    }
)
"""Classification fields without a column: ``as_of`` is the row's ``classified_on``, the
deadlines are task columns, and the rest hold only for the as-of date."""

SUGGESTION_COLUMNS: Mapping[str, str] = {
    "deadline": "suggested_deadline",
    "phrase": "suggested_phrase",
    "recurrence": "suggested_recurrence",
}
"""What is stored of a deadline suggested from the text (`connector.rules.phrases.Suggestion`)."""

READING_COLUMNS: Mapping[str, str] = {
    "kind": "kind_read",
    "source": "kind_source",
    "words": "kind_words_json",
    "recurrence_rule": "recurrence_rule_json",
}
"""What else the classification step read from the text (migration 0009), so that the report of
the day needs not read it again: the kind the rule reads (`connector.rules.kinds.read_kind`: its
kind, where it was read from, ``override`` when an administrator's override hid that, and its
words as a JSON list) and the recurrence rule of the suggested deadline (JSON, ``""``: none).
``kind_read`` ``""``: not read (a row classified before 0009, or by a caller that gave no
kind)."""


@dataclass(frozen=True)
class ColumnSpec:
    """One column derived from a model field: its name, the field, the Python type it holds
    (enums as their value, tuples as JSON text) and its default (`REQUIRED`: none)."""

    name: str
    field: str
    hint: Any
    default: Any
    json: bool = False

    @property
    def nullable(self) -> bool:
        return self.default is None


REQUIRED: Any = dataclasses.MISSING
"""The default of a column that must be given."""


def _column_hint(hint: Any) -> Any:
    """The type a column holds for a field of type `hint` (an enum is stored as its value)."""
    base = hint
    if isinstance(hint, type) and issubclass(hint, Enum):
        base = str
    return base


_TASK_HINTS: Mapping[str, Any] = typing.get_type_hints(NormalisedTask)


def _source_columns() -> tuple[ColumnSpec, ...]:
    hints = _TASK_HINTS
    specs: list[ColumnSpec] = []
    for f in dataclasses.fields(NormalisedTask):
        if f.name in NOT_STORED:
            continue
        hint = hints[f.name]
        default: Any = f.default
        if typing.get_origin(hint) is tuple:
            specs.append(ColumnSpec(f"{f.name}_json", f.name, str, "[]", json=True))
            continue
        if isinstance(hint, type) and issubclass(hint, Enum):
            # A required enum field (``state``): its first member is the column's default.
            default = (default if default is not REQUIRED else next(iter(hint))).value
        specs.append(ColumnSpec(RENAMED.get(f.name, f.name), f.name, _column_hint(hint), default))
    for name in STORED_PROPERTIES:
        hint = typing.get_type_hints(getattr(NormalisedTask, name).fget)["return"]
        specs.append(ColumnSpec(name, name, hint, None))
    return tuple(specs)


def _classification_columns() -> tuple[ColumnSpec, ...]:
    hints = typing.get_type_hints(Classification)
    specs: list[ColumnSpec] = []
    for f in dataclasses.fields(Classification):
        if f.name in CLASSIFICATION_NOT_STORED:
            continue
        hint = _column_hint(hints[f.name])
        default = f.default
        if default is REQUIRED:  # unclassified rows hold NULL
            hint, default = hint | None, None
        specs.append(ColumnSpec(CLASSIFICATION_RENAMED.get(f.name, f.name), f.name, hint, default))
    specs += [
        ColumnSpec(SUGGESTION_COLUMNS["deadline"], "deadline", date | None, None),
        ColumnSpec(SUGGESTION_COLUMNS["phrase"], "phrase", str, ""),
        ColumnSpec(SUGGESTION_COLUMNS["recurrence"], "recurrence", str, ""),
        ColumnSpec(READING_COLUMNS["kind"], "kind", str, ""),
        ColumnSpec(READING_COLUMNS["source"], "source", str, ""),
        ColumnSpec(READING_COLUMNS["words"], "words", str, "[]"),
        ColumnSpec(READING_COLUMNS["recurrence_rule"], "recurrence_rule", str, ""),
    ]
    return tuple(specs)


SOURCE_COLUMNS: tuple[ColumnSpec, ...] = _source_columns()
"""The task table's columns for the fields of a `NormalisedTask` (and `STORED_PROPERTIES`)."""

CLASSIFICATION_COLUMNS: tuple[ColumnSpec, ...] = _classification_columns()
"""The task table's columns for a `Classification` and a suggested deadline."""

CLASSIFICATION_NAMES: tuple[str, ...] = tuple(c.name for c in CLASSIFICATION_COLUMNS)
"""Task columns the classification step writes (``classified_on`` goes with any change)."""

_BY_FIELD: Mapping[str, ColumnSpec] = {c.field: c for c in SOURCE_COLUMNS}
_FIELDS: tuple[ColumnSpec, ...] = tuple(
    c for c in SOURCE_COLUMNS if c.field not in STORED_PROPERTIES
)


def column_of(field: str) -> str:
    """The task column that holds field `field` of a `NormalisedTask`."""
    return _BY_FIELD[field].name


# -- a task to its row values, and back ----------------------------------------------------------


def task_values(task: NormalisedTask, encoded: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The task table's source columns for `task` (tuples as canonical JSON, enums by value).

    `encoded`: the task already made JSON-ready data (`codec.task_to_dict`), so that its lists
    are not encoded a second time."""
    out: dict[str, Any] = {}
    for spec in SOURCE_COLUMNS:
        if spec.json:
            data = encoded[spec.field] if encoded is not None else encode(getattr(task, spec.field))
            out[spec.name] = canonical_json(data)
            continue
        value = getattr(task, spec.field)
        out[spec.name] = value.value if isinstance(value, Enum) else value
    return out


def getter(row: Any) -> Callable[[str], Any]:
    """Read columns by name from a mapping (a plain row) or by attribute (an ORM or Core row)."""
    if isinstance(row, Mapping):
        return row.__getitem__
    return lambda name: getattr(row, name)


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


_CHANGE_KEYS = frozenset(f.name for f in dataclasses.fields(DeadlineChange))


def _deadline_changes(data: Any) -> tuple[DeadlineChange, ...] | None:
    """`decode_field("deadline_changes", data)` spelt out for the shape the ledger writes (a
    list of objects with both deadlines), else None (the general decoder then): a report reads
    thousands of them."""
    if not isinstance(data, list):
        return None
    out: list[DeadlineChange] = []
    for item in data:
        if (
            not isinstance(item, dict)
            or not item.keys() <= _CHANGE_KEYS
            or "old_deadline" not in item
            or "new_deadline" not in item
        ):
            return None
        old, new = item["old_deadline"], item["new_deadline"]
        at, reason = item.get("changed_at"), item.get("reason", "")
        if not isinstance(reason, str):
            return None
        out.append(
            DeadlineChange(
                old_deadline=None if old is None or old == "" else day(old),
                new_deadline=None if new is None or new == "" else day(new),
                changed_at=None if at is None or at == "" else instant(at),
                reason=reason,
            )
        )
    return tuple(out)


_FAST_JSON: Mapping[str, Callable[[Any], Any]] = {"deadline_changes": _deadline_changes}
"""JSON columns with a decoder spelt out (`_deadline_changes`)."""


def _decoder(spec: ColumnSpec) -> Callable[[Any], Any]:
    """How a raw column value becomes the field's value (fast paths for the common types)."""
    hint = _TASK_HINTS[spec.field]
    if spec.json:
        # The same lists recur from task to task (coordinating units, "[]"): each text is
        # decoded once; the result is a tuple of frozen dataclasses, safe to share.
        fast = _FAST_JSON.get(spec.field)

        @functools.lru_cache(maxsize=4096)
        def decoded(text: str) -> Any:
            data = json.loads(text or "[]")
            found = fast(data) if fast is not None else None
            return found if found is not None else decode_field(spec.field, data)

        return lambda value: decoded(value or "")
    if hint in (str, int, str | None, int | None):
        return lambda value: value
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if hint is bool:
        return bool
    if hint == datetime | None or hint is datetime:
        return _optional(instant)
    if hint == date | None:
        return _optional(day)
    return lambda value: column_value(hint, value)


_DECODER_OF: Mapping[str, Callable[[Any], Any]] = {spec.field: _decoder(spec) for spec in _FIELDS}
_DECODERS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = tuple(
    (spec.field, spec.name, _DECODER_OF[spec.field]) for spec in _FIELDS
)


def decode_deadline_changes(text: str | None) -> tuple[DeadlineChange, ...]:
    """The deadline changes a ``deadline_changes_json`` column holds (as `task_from_row`)."""
    changes: tuple[DeadlineChange, ...] = _DECODER_OF["deadline_changes"](text)
    return changes


def task_from_row(row: Any) -> NormalisedTask:
    """The normalised task a task row holds (``extra`` is not stored: empty).

    `row`: a plain row (a mapping of column names, raw values as the driver gives them), an ORM
    `TaskRow` or a Core row of the task table.
    """
    get = getter(row)
    return NormalisedTask(**{field: decode(get(name)) for field, name, decode in _DECODERS})


def tracked_values(row: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """How a task row's `fields` are written in its history (``history_value`` of each field,
    read from its column; equal to the values of `task_from_row(row)`)."""
    get = getter(row)
    out: dict[str, str] = {}
    for name in fields:
        spec = _BY_FIELD[name]
        raw = get(spec.name)
        if spec.json:
            out[name] = "" if raw in (None, "", "[]") else str(raw)
        else:
            out[name] = history_value(_DECODER_OF[name](raw))
    return out


# -- a classification to its row values -----------------------------------------------------------


class SuggestionLike(Protocol):
    """What is stored of a suggested deadline (`connector.rules.phrases.Suggestion`)."""

    @property
    def deadline(self) -> date | None: ...

    @property
    def phrase(self) -> str: ...

    @property
    def recurrence(self) -> str | None: ...


class KindLike(Protocol):
    """What is stored of a task's kind (`connector.rules.kinds.KindReading`)."""

    @property
    def kind(self) -> Enum: ...

    @property
    def source(self) -> Enum: ...

    @property
    def words(self) -> tuple[str, ...]: ...

    @property
    def automatic(self) -> Enum | None: ...


OVERRIDDEN = "override"
"""``kind_source`` of a kind read under an administrator's override (the rule's own source is
not known then)."""


def reading_values(kind: KindLike | None, suggestion: SuggestionLike | None) -> dict[str, Any]:
    """The `READING_COLUMNS` of a task's kind and suggested deadline (no kind: not read)."""
    if kind is None:
        return dict(_READING_DEFAULTS)
    automatic = kind.automatic if kind.automatic is not None else kind.kind
    rule = getattr(suggestion, "recurrence_rule", None) if suggestion is not None else None
    return {
        READING_COLUMNS["kind"]: str(automatic.value),
        READING_COLUMNS["source"]: str(kind.source.value),
        READING_COLUMNS["words"]: canonical_json(list(kind.words)),
        READING_COLUMNS["recurrence_rule"]: (
            canonical_json(dataclasses.asdict(rule)) if rule is not None else ""
        ),
    }


def classification_values(
    result: Classification,
    suggestion: SuggestionLike | None,
    kind: KindLike | None = None,
) -> dict[str, Any]:
    """The task columns a classification, the deadline suggested from the text and the task's
    kind (`reading_values`) fill."""
    out: dict[str, Any] = reading_values(kind, suggestion)
    for name, field, suggested, default in _FILLED:
        if suggested:
            value = getattr(suggestion, field) if suggestion is not None else None
            out[name] = default if value is None else value
        else:
            value = getattr(result, field)
            out[name] = value.value if isinstance(value, Enum) else value
    return out


_FILLED: tuple[tuple[str, str, bool, Any], ...] = tuple(
    (c.name, c.field, c.name in SUGGESTION_COLUMNS.values(), c.default)
    for c in CLASSIFICATION_COLUMNS
    if c.name not in READING_COLUMNS.values()
)
"""The columns `classification_values` fills after the reading columns, in order: each with
its field, whether the suggestion holds it (else the classification) and its default."""


def classification_differs(row: Any, values: Mapping[str, Any]) -> bool:
    """True when storing `values` would change the row (``classified_on`` not compared).

    A plain row's raw values are read as the columns' types first (SQLite's text dates).
    """
    get = getter(row)
    return any(_stored(name, get(name)) != value for name, value in values.items())


_READING_DEFAULTS: Mapping[str, Any] = {
    c.name: c.default for c in CLASSIFICATION_COLUMNS if c.name in READING_COLUMNS.values()
}

_CLASSIFICATION_HINTS: Mapping[str, Any] = {c.name: c.hint for c in CLASSIFICATION_COLUMNS}


def _stored(name: str, raw: Any) -> Any:
    hint = _CLASSIFICATION_HINTS.get(name)
    return raw if hint is None or raw is None else column_value(hint, raw)
