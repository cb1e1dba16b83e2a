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
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_type_hints

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connector.errors import ConfigError, MappingError, Problem
from connector.mapping.converters import FORMATTERS, REGISTRY, ConversionError, Kind, names_of_kind
from connector.mapping.files import is_bare_name, mappings_dir, resolve_mapping, shipped_names
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
from connector.validation import (
    ROOT,
    Loc,
    ProblemList,
    dotted,
    model_at,
    problems_from,
    unknown_key_message,
    valid_names,
)

# -- the typed specification --------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


AuthMode = Literal["session", "token", "headers", "oauth2"]
AUTH_MODES: tuple[str, ...] = ("session", "token", "headers", "oauth2")
SYNC_STRATEGIES: tuple[str, ...] = ("incremental", "snapshot")
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
    "search": frozenset({"modified_from", "offset", "limit", "page", "cursor", "account_code"}),
    "detail": frozenset({"id", "account_code"}),
    "view": frozenset({"id", "account_code"}),
    "tracking": frozenset(),
    "notify": frozenset(),
    "notifications": frozenset({"task_id", "account_code"}),
    "units": frozenset({"account_code"}),
}
"""The ``{placeholders}`` each endpoint's path, query and body may use (``{account_code}``: the
reading account's own code, ``source.account_code``)."""

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


def _source_path(text: str) -> str:
    compile_path(text)  # a ValueError saying what is wrong with the path
    return text


SourcePath = Annotated[str, AfterValidator(_source_path)]
"""A source path (`connector.source.paths`), checked when the mapping is loaded."""


class EndpointSpec(_Model):
    """One HTTP endpoint: method, path, request template and where the answer's data sits."""

    method: Literal["GET", "POST", "PUT", "PATCH"] = "GET"
    path: str
    query: dict[str, Any] = Field(default_factory=dict)
    body: dict[str, Any] = Field(default_factory=dict)
    body_format: Literal["json", "form"] = "json"
    records_path: SourcePath = ""
    record_path: SourcePath = ""
    total_path: SourcePath = ""
    id_path: SourcePath = "id"
    idempotency_header: str = "Idempotency-Key"
    created_status: int | None = None
    replay_header: str = ""

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not path.startswith("/"):
            raise ValueError("must start with '/' (it is relative to source.base_url)")
        return path

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

    @field_validator("modes")
    @classmethod
    def _known_modes(cls, modes: tuple[str, ...]) -> tuple[str, ...]:
        if not modes:
            raise ValueError(f"needs at least one mode; valid: {valid_names(AUTH_MODES)}")
        unknown = [m for m in modes if m not in AUTH_MODES]
        if unknown:
            listed = ", ".join(repr(m) for m in unknown)
            raise ValueError(f"unknown auth mode {listed}; valid: {valid_names(AUTH_MODES)}")
        return modes

    @field_validator("probe")
    @classmethod
    def _known_probe(cls, probe: str) -> str:
        if probe and probe not in ENDPOINT_NAMES:
            raise ValueError(f"unknown endpoint {probe!r}; valid: {valid_names(ENDPOINT_NAMES)}")
        return probe


class ErrorsSpec(_Model):
    """Where an error body keeps its code and message."""

    code_path: SourcePath = "error"
    message_path: SourcePath = "message"


class KeysetSpec(_Model):
    """Where a list item keeps its modification instant and id (for keyset paging)."""

    modified: SourcePath
    converter: str = "iso_instant"
    id: SourcePath = "id"

    @field_validator("converter")
    @classmethod
    def _instant(cls, name: str) -> str:
        conv = REGISTRY.get(name)
        if conv is None or conv.kind != "instant":
            raise ValueError(
                f"{name!r} is not an instant converter; "
                f"valid: {valid_names(names_of_kind('instant'))}"
            )
        return name


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

    @field_validator("style")
    @classmethod
    def _known_style(cls, style: str) -> str:
        if style not in PAGINATION_STYLES:
            raise ValueError(
                f"unknown pagination style {style!r}; valid: {valid_names(PAGINATION_STYLES)}"
            )
        return style

    @field_validator("modified_format")
    @classmethod
    def _known_format(cls, name: str) -> str:
        if name not in FORMATTERS:
            raise ValueError(f"unknown format {name!r}; valid: {valid_names(FORMATTERS)}")
        return name

    @property
    def is_stable(self) -> bool:
        """Whether a finished listing covers every record that existed when it started."""
        if self.stable is not None:
            return self.stable
        return self.style in {"cursor", "link"}


def _default_kinds() -> dict[str, str]:
    return {kind.value: kind.value for kind in UnitKind}


class UnitsSpec(_Model):
    """Where a unit of the units list keeps its code, name, kind and parent, and what its kind
    means (a flat list such as the contract's, or an organisation tree such as iDesk 6's)."""

    code: SourcePath = "commCode"
    name: SourcePath = "aname"
    kind: SourcePath = "kind"
    parent_code: SourcePath = "parentCode"
    kinds: dict[str, str] = Field(default_factory=_default_kinds)
    kind_by_name: dict[str, str] = Field(default_factory=dict)
    """Regular expression on the unit's name → kind, tried in order before `kinds` (a tree whose
    ``type`` does not tell a district from a department)."""
    skip_kinds: tuple[str, ...] = ()
    """Source kinds that are no units (an organisation tree's accounts): left out silently."""
    none_values: tuple[Any, ...] = ()
    """Raw codes and parent codes meaning "none" (a tree's root parent ``0``)."""
    name_tasks: bool = False
    """The tasks' lead and co-handling units are named from this list (the records name a
    position or an account, not the unit)."""

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: dict[str, str]) -> dict[str, str]:
        problems, valid = ProblemList(), [k.value for k in UnitKind]
        for source, kind in kinds.items():
            if kind not in valid:
                problems.add(source, f"unknown unit kind {kind!r}; valid: {valid_names(valid)}")
        problems.raise_if_any()
        return kinds

    @field_validator("kind_by_name")
    @classmethod
    def _patterns(cls, patterns: dict[str, str]) -> dict[str, str]:
        problems, valid = ProblemList(), [k.value for k in UnitKind]
        for pattern, kind in patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.add(pattern, f"is not a valid regular expression ({exc})")
            if kind not in valid:
                problems.add(pattern, f"unknown unit kind {kind!r}; valid: {valid_names(valid)}")
        problems.raise_if_any()
        return patterns

    def kind_of(self, raw_kind: Any, name: str) -> UnitKind | None:
        """The ledger's kind of a unit (None: not a unit this mapping knows)."""
        for pattern, kind in self.kind_by_name.items():
            if re.search(pattern, name):
                return UnitKind(kind)
        if not isinstance(raw_kind, str) or raw_kind not in self.kinds:
            return None
        return UnitKind(self.kinds[raw_kind])


class SyncSpec(_Model):
    """How a run reads the source (``[sync]``)."""

    strategy: Literal["incremental", "snapshot"] = "incremental"
    """``incremental``: the list from the cursor (a modified-since filter, or the whole list
    when there is none), every listed record read. ``snapshot``: the whole list every run, a
    content hash kept per list item, the detail read only for new or changed items, plus a
    share of the oldest checked (``sync.snapshot_refresh_percent``)."""
    assignment: SourcePath = ""
    """A record without a value at this source path is not an assignment (a clerk's intake
    document): skipped and counted (``skipped_not_assignment``), not quarantined."""


class _RuleIn(_Model):
    source: str | list[str]
    converter: str
    options: dict[str, Any] = Field(default_factory=dict)
    none_values: list[Any] = Field(default_factory=list)
    required: bool | None = None
    default: Any = None
    done_when: str | None = None


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
    done_when: tuple[Step, ...] | None = None
    """``state`` only: a source path; when it has a value, an ``open`` state is ``done``."""

    def describe_source(self) -> str:
        return " | ".join(self.sources)


class MappingSpec(_Model):
    """A validated mapping: the whole file, checked by this one model's validators, each mistake
    at its key. Build it with `load_mapping` (or `build_mapping`)."""

    file: str = Field(default="<mapping>", validation_alias="@file")
    name: str
    description: str = ""
    auth: AuthSpec = AuthSpec()
    errors: ErrorsSpec = ErrorsSpec()
    endpoints: dict[str, EndpointSpec] = Field(default_factory=dict, validate_default=True)
    sync: SyncSpec = SyncSpec()
    pagination: PaginationSpec
    status: dict[str, TaskState] = Field(default_factory=dict, validate_default=True)
    units: UnitsSpec = UnitsSpec()
    rules: dict[str, FieldRule] = Field(
        default_factory=dict, validation_alias="fields", validate_default=True
    )

    @model_validator(mode="before")
    @classmethod
    def _file_and_name(cls, data: Any, info: ValidationInfo) -> Any:
        """The file (from the validation context) and the default name, its stem."""
        if not isinstance(data, Mapping):
            return data
        file = str((info.context or {}).get("file", "<mapping>"))
        return {"name": Path(file).stem, **data, "@file": file}

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        if not name:
            raise ValueError("must be a non-empty string")
        return name

    @field_validator("endpoints", mode="plain")
    @classmethod
    def _endpoints(cls, raw: Any, info: ValidationInfo) -> dict[str, EndpointSpec]:
        problems = ProblemList()
        if not isinstance(raw, Mapping):
            problems.add((), "must be a table of endpoints")
            problems.raise_if_any()
        endpoints: dict[str, EndpointSpec] = {}
        for name, table in raw.items():
            if name not in ENDPOINT_NAMES:
                valid = valid_names(ENDPOINT_NAMES)
                problems.add(name, f"unknown endpoint {name!r}; valid: {valid}")
                continue
            try:
                spec = EndpointSpec.model_validate(table)
            except ValidationError as exc:
                problems.extend(exc, (name,), EndpointSpec)
                continue
            meaningful = ENDPOINT_KEYS[name]
            for extra in sorted(spec.model_fields_set - meaningful):
                problems.add(
                    (name, extra),
                    f"has no meaning for endpoint {name!r}; valid keys: {valid_names(meaningful)}",
                )
            for unknown in sorted(spec.placeholders() - PLACEHOLDERS[name]):
                allowed = valid_names(PLACEHOLDERS[name]) or "none"
                problems.add(name, f"unknown placeholder {{{unknown}}}; valid here: {allowed}")
            if name in {"detail", "view"} and "id" not in spec.placeholders():
                problems.add(name, "must use {id} in its path or query")
            endpoints[name] = spec
        auth = info.data.get("auth")
        if "search" not in raw:
            problems.add("search", "is required (the list of tasks)")
        if auth is not None and "session" in auth.modes and "login" not in raw:
            problems.add("login", "is required when auth.modes includes 'session'")
        problems.raise_if_any()
        return endpoints

    @field_validator("sync")
    @classmethod
    def _sync(cls, sync: SyncSpec, info: ValidationInfo) -> SyncSpec:
        endpoints = info.data.get("endpoints")
        if sync.strategy == "snapshot" and endpoints is not None and "detail" not in endpoints:
            raise ValueError(
                "strategy 'snapshot' needs a detail endpoint (the list items are hashed, the "
                "detail of the changed ones is read)"
            )
        return sync

    @field_validator("pagination")
    @classmethod
    def _pagination(cls, pagination: PaginationSpec, info: ValidationInfo) -> PaginationSpec:
        problems = ProblemList()
        if pagination.style == "cursor" and not pagination.next_path:
            problems.add("next_path", "the cursor style needs where the next token sits")
        try:  # checked here, so that a bad path does not hide the checks below
            compile_path(pagination.next_path)
        except ValueError as exc:
            problems.add("next_path", str(exc))
        search = (info.data.get("endpoints") or {}).get("search")
        used = search.placeholders() if search is not None else set()
        if search is not None:
            for needed in _STYLE_NEEDS[pagination.style]:
                if needed not in used:
                    problems.add(
                        (ROOT, "endpoints", "search"),
                        f"pagination style {pagination.style!r} needs {{{needed}}} in the search "
                        "query or body",
                    )
        if pagination.keyset is not None:
            if pagination.style != "offset":
                problems.add("keyset", "keyset paging works with the 'offset' style only")
            if search is not None and "modified_from" not in used:
                problems.add("keyset", "needs {modified_from} in the search query or body")
        size, largest = pagination.page_size, pagination.max_page_size
        if size is not None and largest is not None and size > largest:
            problems.add("page_size", "is larger than pagination.max_page_size")
        problems.raise_if_any()
        return pagination

    @field_validator("status", mode="plain")
    @classmethod
    def _status(cls, raw: Any) -> dict[str, TaskState]:
        problems = ProblemList()
        if not isinstance(raw, Mapping):
            problems.add((), 'must be a table: source status = "open" | "done" | "cancelled"')
            problems.raise_if_any()
        valid = [s.value for s in TaskState]
        for source, state in raw.items():
            if state not in valid:
                problems.add(str(source), f"unknown state {state!r}; valid: {valid_names(valid)}")
        problems.raise_if_any()
        return {str(source): TaskState(state) for source, state in raw.items()}

    @field_validator("rules", mode="plain")
    @classmethod
    def _rules(cls, raw: Any, info: ValidationInfo) -> dict[str, FieldRule]:
        problems = ProblemList()
        if not isinstance(raw, Mapping):
            problems.add((), "must be a table of field rules")
            problems.raise_if_any()
        status: Mapping[str, TaskState] | None = info.data.get("status")
        rules: dict[str, FieldRule] = {}
        for name, table in raw.items():
            rule = _field_rule(str(name), table, status, problems)
            if rule is not None:
                rules[rule.field] = rule
        for required in REQUIRED_TASK_FIELDS:
            if required not in raw:
                problems.add(required, f"no rule for the required field {required!r}")
        problems.raise_if_any()
        return rules

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
    def uses_account_code(self) -> bool:
        """True when an endpoint uses ``{account_code}`` (``source.account_code`` is needed)."""
        return any("account_code" in ep.placeholders() for ep in self.endpoints.values())

    @property
    def snapshot(self) -> bool:
        """Whether runs use the snapshot strategy (``[sync] strategy = "snapshot"``)."""
        return self.sync.strategy == "snapshot"

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
    "sync",
    "pagination",
    "status",
    "units",
    "fields",
)


_STYLE_NEEDS: Mapping[str, tuple[str, ...]] = {
    "offset": ("offset", "limit"),
    "page": ("page",),
    "cursor": ("cursor",),
    "link": (),
}


def _field_rule(
    name: str, raw: Any, status: Mapping[str, TaskState] | None, problems: ProblemList
) -> FieldRule | None:
    """One ``[fields.NAME]`` rule, checked against the ledger field's kind (`status`: the
    mapping's status table, None when that table is itself invalid)."""
    if name not in TASK_FIELDS or name not in FIELD_KINDS:
        problems.add(name, f"unknown field {name!r}; valid: {valid_names(FIELD_KINDS)}")
        return None
    if not isinstance(raw, Mapping):
        problems.add(name, f"must be a table, not {type(raw).__name__}")
        return None
    try:
        rule = _RuleIn.model_validate(raw)
    except ValidationError as exc:
        problems.extend(exc, (name,), _RuleIn)
        return None
    kind = FIELD_KINDS[name]
    conv = REGISTRY.get(rule.converter)
    ok = True
    if conv is None:
        problems.add(
            (name, "converter"),
            f"unknown converter {rule.converter!r}; valid: {valid_names(REGISTRY)}",
        )
        ok = False
    elif conv.kind != kind:
        problems.add(
            (name, "converter"),
            f"{rule.converter!r} gives {conv.kind} but {name} needs {kind}; "
            f"valid for {name}: {valid_names(names_of_kind(kind))}",
        )
        ok = False
    sources = [rule.source] if isinstance(rule.source, str) else list(rule.source)
    if not sources:
        problems.add((name, "source"), "needs at least one source path")
        ok = False
    paths = []
    for source in sources:
        try:
            steps = compile_path(source)
        except ValueError as exc:
            problems.add((name, "source"), str(exc))
            ok = False
            continue
        if not steps:
            problems.add((name, "source"), "must not be empty")
            ok = False
        paths.append(steps)
    options: dict[str, Any] = {}
    if conv is not None and conv.kind == kind:
        if conv.name == "status":
            if "table" in rule.options:
                problems.add(
                    (name, "options", "table"), "comes from the [status] table; remove it here"
                )
            options = {"table": dict(status or {})}
        for unknown in sorted(set(rule.options) - set(conv.params)):
            problems.add(
                (name, "options", unknown),
                f"unknown option for {conv.name!r}; valid: {valid_names(conv.params) or 'none'}",
            )
            ok = False
        options = conv.options({**rule.options, **options})
        if conv.name != "status" or status is not None:  # an invalid table is reported already
            for message in conv.check(options):
                problems.add((name, "options"), message)
                ok = False
    required = rule.required if rule.required is not None else name in REQUIRED_TASK_FIELDS
    has_default = "default" in rule.model_fields_set and rule.default is not None
    default: Any = None
    if has_default and conv is not None and ok:
        try:
            default = conv(rule.default, options)
        except ConversionError as exc:
            problems.add((name, "default"), f"{rule.default!r} {exc}")
            ok = False
    if name in REQUIRED_TASK_FIELDS and not required and not has_default:
        problems.add(
            (name, "required"),
            f"{name} must always have a value: keep it required or set a default",
        )
    done_when: tuple[Step, ...] | None = None
    if rule.done_when is not None:
        if name != "state":
            problems.add((name, "done_when"), "is only allowed in the state field's rule")
            ok = False
        else:
            try:
                done_when = compile_path(rule.done_when)
            except ValueError as exc:
                problems.add((name, "done_when"), str(exc))
                ok = False
            else:
                if not done_when:
                    problems.add((name, "done_when"), "must not be empty")
                    ok = False
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
        done_when=done_when,
    )


def _unknown(loc: Loc) -> str:
    if len(loc) == 1:
        return f"unknown section; valid: {valid_names(_TOP_KEYS)}"
    return unknown_key_message(model_at(MappingSpec, loc[:-1]))


def _missing(loc: Loc) -> str:
    if loc == ("pagination",):
        return f"is required (style = one of {valid_names(PAGINATION_STYLES)})"
    return "is required"


def _where(file: str) -> Callable[[Loc], str]:
    def where(loc: Loc) -> str:
        if loc[:1] == ("rules",):  # the rules are the file's [fields] (named so when missing)
            loc = ("fields", *loc[1:])
        return f"{file}: {dotted(loc)}"

    return where


def build_mapping(data: Mapping[str, Any], *, file: str = "<mapping>") -> MappingSpec:
    """Validate a parsed mapping; raise one MappingError listing every problem."""
    try:
        return MappingSpec.model_validate(data, context={"file": file})
    except ValidationError as exc:
        problems = problems_from(exc, where=_where(file), unknown=_unknown, missing=_missing)
        raise MappingError(problems, source=file) from None


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
        if is_bare_name(name_or_path):  # source.mapping = "idesc": the names there are
            valid = ", ".join(shipped_names()) or "none"
            raise MappingError(
                [
                    Problem(
                        "source.mapping",
                        f"unknown mapping '{name_or_path}'; valid: {valid} (in "
                        f"{mappings_dir()}), or give a path to a .toml file",
                    )
                ],
                source="source.mapping",
            ) from None
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
