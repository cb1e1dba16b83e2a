"""Mapping files: how one deployment's API is read, validated once into frozen typed models.

A mapping (``mappings/<name>.toml``, see ``mappings/README.md``) says where the endpoints are,
what the list request looks like, how it pages, where records and totals sit in an answer, and
gives one rule per ledger field: where the value sits in a record (a *source path*), which
converter turns it into the ledger's type, which raw values mean "none", whether it is required
and its default. `load_mapping` reads and checks everything at start-up and reports every
problem together in one `MappingError`; `normalise` then turns a raw record into a
`NormalisedTask` (pure) or raises `BadRecord` naming the task, the field and the bad value.

Bounds (`RecordLimits`, from ``sync.max_field_chars`` / ``sync.max_list_items``) are checked on
the raw record before anything else, so one huge or absurd value costs no more than reading it:
a text longer than ``max_field_chars``, a list longer than ``max_list_items`` or nesting deeper
than `MAX_DEPTH` makes the record a `BadRecord` naming the field. After conversion every date
and instant must lie in `EARLIEST_YEAR`..`LATEST_YEAR` and every integer must fit the ledger's
column (64-bit ids, 32-bit other numbers); a mapping can tighten a text field further with the
``text`` converter's ``max_chars`` option (``steeringContent``: 1023, as the contract says).

Source paths
    ``signNumber``, ``edSearchDto.signNumber`` (nested objects), ``items[0]`` (list index,
    negative from the end), ``proInfos[responsibility=main].deadline`` (the first element whose
    key equals the value), ``proInfos[?responsibility=coordinate]`` (every such element, a list),
    ``steps[*].unit`` (every element); after ``[?..]`` or ``[*]`` the rest of the path applies to
    each element. Keys starting with ``@`` are added by the client: ``@list`` (the list item a
    detail record was fetched for) and ``@fetched_at`` (when the record was fetched, ISO-8601).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.converters import (
    FORMATTERS,
    REGISTRY,
    ConversionError,
    Kind,
    escape_unstorable,
    is_none,
    names_of_kind,
)
from connector.errors import BadRecord, ConfigError, MappingError, Problem
from connector.models import (
    REQUIRED_TASK_FIELDS,
    TASK_FIELDS,
    DeadlineChange,
    NormalisedTask,
    TaskState,
    UnitKind,
    UnitRef,
)
from connector.paths import mappings_dir, resolve_mapping

# -- source paths -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """Step into an object's key."""

    name: str


@dataclass(frozen=True)
class Index:
    """Step into a list's element (negative counts from the end)."""

    index: int


@dataclass(frozen=True)
class First:
    """Step into the first list element whose `key` equals `value`."""

    key: str
    value: str


@dataclass(frozen=True)
class Every:
    """Fan out over the list elements (all, or those whose `key` equals `value`)."""

    key: str = ""
    value: str = ""


Step = Key | Index | First | Every


class _Missing:
    """The value at a path that leads nowhere."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""What `resolve` gives when a path leads nowhere (falsy, a singleton)."""

_SEGMENT = re.compile(r"^(?P<name>@?[A-Za-z_][\w\-]*)?(?P<sels>(?:\[[^\[\]]*\])*)$")
_SELECTOR = re.compile(r"\[([^\[\]]*)\]")
_MATCH = re.compile(r"^(?P<every>\?)?(?P<key>@?[A-Za-z_][\w\-]*)=(?P<value>.*)$")


@lru_cache(maxsize=1024)
def compile_path(text: str) -> tuple[Step, ...]:
    """Parse a source path (see the module docstring); raises ValueError with the reason."""
    if text.strip() != text:
        raise ValueError(f"path {text!r} has surrounding spaces")
    if text == "":
        return ()
    steps: list[Step] = []
    depth, start, segments = 0, 0, []
    for i, char in enumerate(text):
        depth += (char == "[") - (char == "]")
        if char == "." and depth == 0:
            segments.append(text[start:i])
            start = i + 1
    segments.append(text[start:])
    for segment in segments:
        m = _SEGMENT.match(segment)
        if not segment or m is None or not (m.group("name") or m.group("sels")):
            raise ValueError(f"path {text!r}: cannot read the part {segment!r}")
        if m.group("name"):
            steps.append(Key(m.group("name")))
        for found in _SELECTOR.findall(m.group("sels")):
            inner = found.strip()
            if re.fullmatch(r"-?\d+", inner):
                steps.append(Index(int(inner)))
            elif inner == "*":
                steps.append(Every())
            elif (sel := _MATCH.match(inner)) is not None:
                key, value = sel.group("key"), sel.group("value").strip()
                steps.append(Every(key, value) if sel.group("every") else First(key, value))
            else:
                raise ValueError(
                    f"path {text!r}: selector [{inner}] is not [N], [*], [key=value] or "
                    "[?key=value]"
                )
    return tuple(steps)


def _matches(element: Any, key: str, value: str) -> bool:
    if not isinstance(element, Mapping) or key not in element:
        return False
    found = element[key]
    if isinstance(found, bool) or not isinstance(found, str | int):
        return False
    return str(found) == value


def _step(current: Any, step: Step) -> Any:
    if isinstance(step, Key):
        return current.get(step.name, MISSING) if isinstance(current, Mapping) else MISSING
    if not isinstance(current, list):
        return MISSING
    if isinstance(step, Index):
        return current[step.index] if -len(current) <= step.index < len(current) else MISSING
    if isinstance(step, First):
        return next((e for e in current if _matches(e, step.key, step.value)), MISSING)
    return MISSING  # Every is handled by resolve


def resolve(data: Any, path: str | tuple[Step, ...]) -> Any:
    """The value at `path` in `data`, or `MISSING`. After a fan-out step, a list of values."""
    steps = compile_path(path) if isinstance(path, str) else path
    current: Any = data
    for position, step in enumerate(steps):
        if isinstance(step, Every):
            if not isinstance(current, list):
                return MISSING
            chosen = [e for e in current if not step.key or _matches(e, step.key, step.value)]
            rest = steps[position + 1 :]
            values = [resolve(element, rest) for element in chosen]
            return [v for v in values if v is not MISSING]
        current = _step(current, step)
        if current is MISSING:
            return MISSING
    return current


# -- the typed specification --------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


AuthMode = Literal["session", "token"]
AUTH_MODES: tuple[str, ...] = ("session", "token")
PAGINATION_STYLES: tuple[str, ...] = ("offset", "page", "cursor", "link")
ENDPOINT_NAMES: tuple[str, ...] = (
    "login",
    "search",
    "detail",
    "view",
    "tracking",
    "notify",
    "notifications",
    "units",
)
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "login": frozenset({"username", "password"}),
    "search": frozenset({"modified_from", "offset", "limit", "page", "cursor"}),
    "detail": frozenset({"id"}),
    "view": frozenset({"id"}),
    "tracking": frozenset(),
    "notify": frozenset(),
    "notifications": frozenset({"task_id"}),
    "units": frozenset(),
}
"""The ``{placeholders}`` each endpoint's path, query and body may use."""

_COMMON_KEYS = frozenset({"method", "path", "query", "body", "body_format"})
ENDPOINT_KEYS: Mapping[str, frozenset[str]] = {
    "login": _COMMON_KEYS,
    "search": _COMMON_KEYS | {"records_path", "total_path"},
    "detail": _COMMON_KEYS | {"record_path", "id_path"},
    "view": _COMMON_KEYS | {"record_path"},
    "tracking": _COMMON_KEYS | {"idempotency_header", "created_status", "replay_header"},
    "notify": _COMMON_KEYS | {"idempotency_header", "created_status", "replay_header"},
    "notifications": _COMMON_KEYS | {"records_path"},
    "units": _COMMON_KEYS | {"records_path"},
}
"""Which keys mean something for each endpoint."""

PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


class EndpointSpec(_Model):
    """One HTTP endpoint: method, path, request template and where the answer's data sits."""

    method: Literal["GET", "POST", "PUT", "PATCH"] = "GET"
    path: str
    query: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] = Field(default_factory=dict)
    body_format: Literal["json", "form"] = "json"
    records_path: str = ""
    record_path: str = ""
    total_path: str = ""
    id_path: str = "id"
    idempotency_header: str = "Idempotency-Key"
    created_status: int | None = None
    replay_header: str = ""

    def placeholders(self) -> set[str]:
        """Every ``{name}`` used in the path, query and body."""
        found: set[str] = set()
        for text in _strings((self.path, self.query, self.body)):
            found.update(PLACEHOLDER.findall(text))
        return found


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


class AuthSpec(_Model):
    """How a deployment authenticates (contract section 2)."""

    modes: tuple[str, ...] = ("session",)
    expired_codes: tuple[str, ...] = ("session_expired",)
    html_means_expired: bool = True
    token_header: str = "Authorization"  # noqa: S105 (a header name, not a secret)
    token_prefix: str = "Bearer "  # noqa: S105
    probe: str = ""


class ErrorsSpec(_Model):
    """Where an error body keeps its code and message."""

    code_path: str = "error"
    message_path: str = "message"


class KeysetSpec(_Model):
    """Where a list item keeps its modification instant and id (for keyset paging)."""

    modified: str
    converter: str = "iso_instant"
    id: str = "id"


class PaginationSpec(_Model):
    """How the list pages, and how the modified-from cursor is written."""

    style: str
    modified_format: str = "iso_utc"
    page_size: int | None = Field(default=None, ge=1)
    max_page_size: int | None = Field(default=None, ge=1)
    first_page: int = Field(default=1, ge=0)
    next_path: str = ""
    max_pages: int | None = Field(default=None, ge=1)
    stable: bool | None = None
    keyset: KeysetSpec | None = None

    @property
    def is_stable(self) -> bool:
        """Whether a finished listing covers every record that existed when it started."""
        if self.stable is not None:
            return self.stable
        return self.style in {"cursor", "link"}


def _default_kinds() -> dict[str, str]:
    return {kind.value: kind.value for kind in UnitKind}


class UnitsSpec(_Model):
    """Where a unit of the units list keeps its code, name, kind and parent."""

    code: str = "commCode"
    name: str = "aname"
    kind: str = "kind"
    parent_code: str = "parentCode"
    kinds: dict[str, str] = Field(default_factory=_default_kinds)


class _RuleIn(_Model):
    source: str | list[str]
    converter: str
    options: dict[str, Any] = Field(default_factory=dict)
    none_values: list[Any] = Field(default_factory=list)
    required: bool | None = None
    default: Any = None


class FieldRule(_Model):
    """How one ledger field is read: first present source path, converter, sentinels."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    field: str
    sources: tuple[str, ...]
    paths: tuple[tuple[Step, ...], ...]
    converter: str
    options: dict[str, Any]
    none_values: tuple[Any, ...]
    required: bool
    default: Any = None
    has_default: bool = False

    def describe_source(self) -> str:
        return " | ".join(self.sources)


class MappingSpec(_Model):
    """A validated mapping. Build it with `load_mapping`."""

    name: str
    file: str
    description: str = ""
    auth: AuthSpec
    errors: ErrorsSpec
    endpoints: dict[str, EndpointSpec]
    pagination: PaginationSpec
    rules: dict[str, FieldRule]
    status: dict[str, TaskState]
    units: UnitsSpec

    def has_endpoint(self, name: str) -> bool:
        return name in self.endpoints

    def endpoint(self, name: str) -> EndpointSpec:
        """The endpoint `name`; ConfigError when this mapping has none."""
        if name not in self.endpoints:
            raise ConfigError(
                [
                    Problem(
                        f"{self.file}: endpoints.{name}",
                        f"mapping {self.name!r} has no {name!r} endpoint, so this operation "
                        "is not available for this source",
                    )
                ],
                source=self.file,
            )
        return self.endpoints[name]

    @property
    def uses_fetched_at(self) -> bool:
        """True when a field reads ``@fetched_at`` (the client then stamps every record)."""
        return any(
            path and path[0] == Key("@fetched_at")
            for rule in self.rules.values()
            for path in rule.paths
        )


# -- field kinds ---------------------------------------------------------------------------------

_HINT_KINDS: tuple[tuple[Any, Kind], ...] = (
    (int, "int"),
    (int | None, "int"),
    (str, "text"),
    (bool, "flag"),
    (datetime, "instant"),
    (datetime | None, "instant"),
    (date, "date"),
    (date | None, "date"),
    (TaskState, "state"),
    (tuple[UnitRef, ...], "units"),
    (tuple[DeadlineChange, ...], "deadline_changes"),
)


def field_kinds() -> dict[str, Kind]:
    """The kind of value each ledger field holds (fields of an unknown type are left out)."""
    hints = get_type_hints(NormalisedTask)
    kinds: dict[str, Kind] = {}
    for name in TASK_FIELDS:
        for hint, kind in _HINT_KINDS:
            if hints[name] == hint:
                kinds[name] = kind
                break
    return kinds


FIELD_KINDS: Mapping[str, Kind] = field_kinds()


# -- loading and validation ---------------------------------------------------------------------

_TOP_KEYS = (
    "name",
    "description",
    "auth",
    "errors",
    "endpoints",
    "pagination",
    "status",
    "units",
    "fields",
)


def _valid(names: Any) -> str:
    return ", ".join(sorted(str(n) for n in names))


class _Checker:
    """Collects problems while a mapping is read, each with file and key."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def add(self, key: str, message: str) -> None:
        self.problems.append(Problem(f"{self.file}: {key}", message))

    def model(self, cls: type[_Model], raw: Any, key: str) -> Any:
        """Validate `raw` into `cls`; report every error under `key`; None when invalid."""
        if not isinstance(raw, dict):
            self.add(key, f"must be a table, not {type(raw).__name__}")
            return None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                where = f"{key}.{loc}" if loc else key
                if err["type"] == "extra_forbidden":
                    message = f"unknown key; valid keys: {_valid(cls.model_fields)}"
                elif err["type"] == "missing":
                    message = "is required"
                else:
                    message = err["msg"]
                self.add(where, message)
            return None

    def path(self, text: str, key: str) -> tuple[Step, ...] | None:
        try:
            return compile_path(text)
        except ValueError as exc:
            self.add(key, str(exc))
            return None


def _check_auth(c: _Checker, auth: AuthSpec) -> None:
    for mode in auth.modes:
        if mode not in AUTH_MODES:
            c.add("auth.modes", f"unknown auth mode {mode!r}; valid: {_valid(AUTH_MODES)}")
    if not auth.modes:
        c.add("auth.modes", f"needs at least one mode; valid: {_valid(AUTH_MODES)}")
    if auth.probe and auth.probe not in ENDPOINT_NAMES:
        c.add("auth.probe", f"unknown endpoint {auth.probe!r}; valid: {_valid(ENDPOINT_NAMES)}")


def _check_endpoints(c: _Checker, raw: Any, auth: AuthSpec | None) -> dict[str, EndpointSpec]:
    endpoints: dict[str, EndpointSpec] = {}
    if not isinstance(raw, dict):
        c.add("endpoints", "must be a table of endpoints")
        return endpoints
    for name, table in raw.items():
        key = f"endpoints.{name}"
        if name not in ENDPOINT_NAMES:
            c.add(key, f"unknown endpoint {name!r}; valid: {_valid(ENDPOINT_NAMES)}")
            continue
        spec = c.model(EndpointSpec, table, key)
        if spec is None:
            continue
        for extra in sorted(spec.model_fields_set - ENDPOINT_KEYS[name]):
            c.add(
                f"{key}.{extra}",
                f"has no meaning for endpoint {name!r}; valid keys: {_valid(ENDPOINT_KEYS[name])}",
            )
        if not spec.path.startswith("/"):
            c.add(f"{key}.path", "must start with '/' (it is relative to source.base_url)")
        for unknown in sorted(spec.placeholders() - PLACEHOLDERS[name]):
            allowed = _valid(PLACEHOLDERS[name]) or "none"
            c.add(key, f"unknown placeholder {{{unknown}}}; valid here: {allowed}")
        for path_key in ("records_path", "record_path", "total_path", "id_path"):
            c.path(getattr(spec, path_key), f"{key}.{path_key}")
        if name in {"detail", "view"} and "id" not in spec.placeholders():
            c.add(key, "must use {id} in its path or query")
        endpoints[name] = spec
    if "search" not in raw:
        c.add("endpoints.search", "is required (the list of tasks)")
    if auth is not None and "session" in auth.modes and "login" not in raw:
        c.add("endpoints.login", "is required when auth.modes includes 'session'")
    if auth is not None and auth.probe and auth.probe in ENDPOINT_NAMES and auth.probe not in raw:
        c.add("auth.probe", f"names endpoint {auth.probe!r}, which this mapping does not define")
    return endpoints


_STYLE_NEEDS: Mapping[str, tuple[str, ...]] = {
    "offset": ("offset", "limit"),
    "page": ("page",),
    "cursor": ("cursor",),
    "link": (),
}


def _check_pagination(c: _Checker, pagination: PaginationSpec, search: EndpointSpec | None) -> None:
    if pagination.style not in PAGINATION_STYLES:
        c.add(
            "pagination.style",
            f"unknown pagination style {pagination.style!r}; valid: {_valid(PAGINATION_STYLES)}",
        )
        return
    if pagination.modified_format not in FORMATTERS:
        c.add(
            "pagination.modified_format",
            f"unknown format {pagination.modified_format!r}; valid: {_valid(FORMATTERS)}",
        )
    if pagination.style == "cursor":
        if not pagination.next_path:
            c.add("pagination.next_path", "the cursor style needs where the next token sits")
        else:
            c.path(pagination.next_path, "pagination.next_path")
    used = search.placeholders() if search is not None else set()
    if search is not None:
        for needed in _STYLE_NEEDS[pagination.style]:
            if needed not in used:
                c.add(
                    "endpoints.search",
                    f"pagination style {pagination.style!r} needs {{{needed}}} in the search "
                    "query or body",
                )
    keyset = pagination.keyset
    if keyset is not None:
        if pagination.style != "offset":
            c.add("pagination.keyset", "keyset paging works with the 'offset' style only")
        if search is not None and "modified_from" not in used:
            c.add("pagination.keyset", "needs {modified_from} in the search query or body")
        conv = REGISTRY.get(keyset.converter)
        if conv is None or conv.kind != "instant":
            c.add(
                "pagination.keyset.converter",
                f"{keyset.converter!r} is not an instant converter; "
                f"valid: {_valid(names_of_kind('instant'))}",
            )
        c.path(keyset.modified, "pagination.keyset.modified")
        c.path(keyset.id, "pagination.keyset.id")
    if (
        pagination.page_size is not None
        and pagination.max_page_size is not None
        and pagination.page_size > pagination.max_page_size
    ):
        c.add("pagination.page_size", "is larger than pagination.max_page_size")


def _check_status(c: _Checker, raw: Any) -> dict[str, TaskState]:
    if not isinstance(raw, dict):
        c.add("status", 'must be a table: source status = "open" | "done" | "cancelled"')
        return {}
    table: dict[str, TaskState] = {}
    valid = [s.value for s in TaskState]
    for source, state in raw.items():
        if state not in valid:
            c.add(f"status.{source}", f"unknown state {state!r}; valid: {_valid(valid)}")
        else:
            table[str(source)] = TaskState(state)
    return table


def _check_rule(
    c: _Checker, name: str, raw: Any, status: Mapping[str, TaskState]
) -> FieldRule | None:
    key = f"fields.{name}"
    if name not in TASK_FIELDS or name not in FIELD_KINDS:
        c.add(key, f"unknown field {name!r}; valid: {_valid(FIELD_KINDS)}")
        return None
    rule = c.model(_RuleIn, raw, key)
    if rule is None:
        return None
    kind = FIELD_KINDS[name]
    conv = REGISTRY.get(rule.converter)
    ok = True
    if conv is None:
        c.add(
            f"{key}.converter",
            f"unknown converter {rule.converter!r}; valid: {_valid(REGISTRY)}",
        )
        ok = False
    elif conv.kind != kind:
        c.add(
            f"{key}.converter",
            f"{rule.converter!r} gives {conv.kind} but {name} needs {kind}; "
            f"valid for {name}: {_valid(names_of_kind(kind))}",
        )
        ok = False
    sources = [rule.source] if isinstance(rule.source, str) else list(rule.source)
    if not sources:
        c.add(f"{key}.source", "needs at least one source path")
        ok = False
    paths = []
    for source in sources:
        steps = c.path(source, f"{key}.source")
        ok = ok and steps is not None and bool(steps)
        if steps == ():
            c.add(f"{key}.source", "must not be empty")
        paths.append(steps or ())
    options: dict[str, Any] = {}
    if conv is not None and conv.kind == kind:
        if conv.name == "status":
            if "table" in rule.options:
                c.add(f"{key}.options.table", "comes from the [status] table; remove it here")
            options = {"table": dict(status)}
        for unknown in sorted(set(rule.options) - set(conv.params)):
            c.add(
                f"{key}.options.{unknown}",
                f"unknown option for {conv.name!r}; valid: {_valid(conv.params) or 'none'}",
            )
            ok = False
        options = conv.options({**rule.options, **options})
        for message in conv.check(options):
            c.add(f"{key}.options", message)
            ok = False
    required = rule.required if rule.required is not None else name in REQUIRED_TASK_FIELDS
    has_default = "default" in rule.model_fields_set and rule.default is not None
    default: Any = None
    if has_default and conv is not None and ok:
        try:
            default = conv(rule.default, options)
        except ConversionError as exc:
            c.add(f"{key}.default", f"{rule.default!r} {exc}")
            ok = False
    if name in REQUIRED_TASK_FIELDS and not required and not has_default:
        c.add(
            f"{key}.required",
            f"{name} must always have a value: keep it required or set a default",
        )
    if not ok or conv is None:
        return None
    return FieldRule(
        field=name,
        sources=tuple(sources),
        paths=tuple(paths),
        converter=conv.name,
        options=options,
        none_values=tuple(rule.none_values),
        required=required,
        default=default,
        has_default=has_default,
    )


def _check_units(c: _Checker, raw: Any) -> UnitsSpec | None:
    units: UnitsSpec | None = c.model(UnitsSpec, raw, "units")
    if units is None:
        return None
    valid = [k.value for k in UnitKind]
    for source, kind in units.kinds.items():
        if kind not in valid:
            c.add(f"units.kinds.{source}", f"unknown unit kind {kind!r}; valid: {_valid(valid)}")
    for key in ("code", "name", "kind", "parent_code"):
        c.path(getattr(units, key), f"units.{key}")
    return units


def build_mapping(data: Mapping[str, Any], *, file: str = "<mapping>") -> MappingSpec:
    """Validate a parsed mapping; raise one MappingError listing every problem."""
    c = _Checker(file)
    for key in data:
        if key not in _TOP_KEYS:
            c.add(key, f"unknown section; valid: {_valid(_TOP_KEYS)}")
    name = data.get("name", Path(file).stem)
    if not isinstance(name, str) or not name:
        c.add("name", "must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        c.add("description", "must be a string")
    auth: AuthSpec | None = c.model(AuthSpec, data.get("auth", {}), "auth")
    if auth is not None:
        _check_auth(c, auth)
    errors: ErrorsSpec | None = c.model(ErrorsSpec, data.get("errors", {}), "errors")
    if errors is not None:
        c.path(errors.code_path, "errors.code_path")
        c.path(errors.message_path, "errors.message_path")
    endpoints = _check_endpoints(c, data.get("endpoints", {}), auth)
    pagination: PaginationSpec | None = None
    if "pagination" not in data:
        c.add("pagination", f"is required (style = one of {_valid(PAGINATION_STYLES)})")
    else:
        pagination = c.model(PaginationSpec, data["pagination"], "pagination")
        if pagination is not None:
            _check_pagination(c, pagination, endpoints.get("search"))
    status = _check_status(c, data.get("status", {}))
    units = _check_units(c, data.get("units", {}))
    rules: dict[str, FieldRule] = {}
    raw_fields = data.get("fields", {})
    if not isinstance(raw_fields, dict):
        c.add("fields", "must be a table of field rules")
        raw_fields = {}
    for field_name, raw_rule in raw_fields.items():
        rule = _check_rule(c, str(field_name), raw_rule, status)
        if rule is not None:
            rules[rule.field] = rule
    for required in REQUIRED_TASK_FIELDS:
        if required not in raw_fields:
            c.add(f"fields.{required}", f"no rule for the required field {required!r}")
    if c.problems or auth is None or errors is None or pagination is None or units is None:
        raise MappingError(c.problems, source=file)
    return MappingSpec(
        name=str(name),
        file=file,
        description=str(description),
        auth=auth,
        errors=errors,
        endpoints=endpoints,
        pagination=pagination,
        rules=rules,
        status=status,
        units=units,
    )


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_mapping(name_or_path: str | Path) -> MappingSpec:
    """Read and validate a mapping: a bare name (``idesk``) from `mappings_dir()`, or a path."""
    path = resolve_mapping(name_or_path)
    shown = _display(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise MappingError(
            [
                Problem(
                    shown,
                    f"mapping file not found (names resolve in {mappings_dir()}; "
                    "or give a path to a .toml file)",
                )
            ],
            source=shown,
        ) from None
    except OSError as exc:
        raise MappingError([Problem(shown, f"cannot read: {exc.strerror}")], source=shown) from exc
    except tomllib.TOMLDecodeError as exc:
        raise MappingError([Problem(shown, f"not valid TOML: {exc}")], source=shown) from exc
    return build_mapping(data, file=shown)


# -- normalising records ------------------------------------------------------------------------

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
    for key, value in raw.items():
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
    for name, rule in spec.rules.items():
        value, source = _first_value(raw, rule)
        where = f"{name} (source '{rule.describe_source() if value is MISSING else source}')"
        if value is MISSING:
            if rule.has_default:
                values[name] = rule.default
            elif rule.required:
                raise BadRecord(
                    f"{label}: field {where}: has no value, and the field is required",
                    task_id=raw_id,
                    field=where,
                    value="",
                )
            continue
        try:
            converted = REGISTRY[rule.converter].func(value, rule.options)
        except ConversionError as exc:
            shown = _shown(value)
            raise BadRecord(
                f"{label}: field {where}: {shown} {exc}",
                task_id=raw_id,
                field=where,
                value=shown,
            ) from None
        problem = _out_of_range(name, converted)
        if problem:
            shown = _shown(value)
            raise BadRecord(
                f"{label}: field {where}: {shown} {problem}",
                task_id=raw_id,
                field=where,
                value=shown,
            )
        values[name] = converted
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
