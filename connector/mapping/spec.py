"""Mapping files: how one deployment's API is read, validated once into frozen typed models.

A mapping (``mappings/<name>.toml``, see ``mappings/README.md``) says where the endpoints are,
what the list request looks like, how it pages, where records and totals sit in an answer, and
gives one rule per ledger field: where the value sits in a record (a *source path*,
`connector.source.paths`), which converter turns it into the ledger's type, which raw values
mean "none", whether it is required and its default. `load_mapping` reads and checks everything
at start-up and reports every problem together in one `MappingError`;
`connector.mapping.normalise` then applies it to each record.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connector.errors import ConfigError, MappingError, Problem
from connector.mapping.converters import FORMATTERS, REGISTRY, ConversionError, Kind, names_of_kind
from connector.mapping.files import mappings_dir, resolve_mapping
from connector.models import (
    REQUIRED_TASK_FIELDS,
    TASK_FIELDS,
    DeadlineChange,
    NormalisedTask,
    TaskState,
    UnitKind,
    UnitRef,
)
from connector.source.paths import Key, Step, compile_path

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
