"""From pydantic's `ValidationError` to the user's problem list, in one place.

Settings (`connector.settings`) and mappings (`connector.mapping.spec`) are validated by pydantic
models; whatever is wrong comes back as one `ValidationError`, which `problems_from` turns into
`Problem`\\ s: one per mistake, each at its dotted key, with a message a clerk can act on
(unknown keys name the valid ones, a missing key "is required", a validator's own message
without pydantic's "Value error, " prefix).

A validator that finds several mistakes at once, each at its own key below the field it checks
(a mapping's field rules, its endpoints), collects them in a `ProblemList` and raises them
together (`ProblemList.raise_if_any`): pydantic then reports each at its key, beside every other
error of the model, so the user sees all of them in one go.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from connector.errors import Problem

Loc = tuple[str | int, ...]


ROOT = "^"
"""A location that starts with ROOT is counted from the model's root, not from the field whose
validator noted it (a check between two sections reported at the other section's key)."""


def dotted(loc: Loc) -> str:
    """``("sync", "page_size")`` → ``"sync.page_size"``; see `ROOT`."""
    if ROOT in loc:
        loc = loc[len(loc) - loc[::-1].index(ROOT) :]
    return ".".join(str(part) for part in loc)


def valid_names(names: Iterable[Any]) -> str:
    """Names for a message, sorted and comma-separated."""
    return ", ".join(sorted(str(n) for n in names))


def _inner(annotation: Any) -> Any:
    """``X | None`` → ``X``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model that holds the keys at `loc` below `root` (through nested models, the values of
    ``dict[str, Model]`` and optional fields), or None when `loc` leads elsewhere."""
    current: Any = root
    for part in loc:
        current = _inner(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = {**current.model_fields}
            by_alias = {str(f.validation_alias): f for f in fields.values() if f.validation_alias}
            info = by_alias.get(str(part)) or fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _inner(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def input_keys(model: type[BaseModel]) -> list[str]:
    """The keys a file may use for `model` (validation aliases where a field has one)."""
    return [
        str(f.validation_alias) if f.validation_alias else name
        for name, f in model.model_fields.items()
        if not f.exclude
    ]


def _message(
    err: Any,
    unknown: Callable[[Loc], str] | None,
    missing: Callable[[Loc], str] | None,
) -> str:
    loc: Loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return unknown(loc) if unknown is not None else "unknown key"
    if kind == "missing":
        return missing(loc) if missing is not None else "is required"
    if kind in {"model_type", "dict_type"}:
        return f"must be a table, not {type(err.get('input')).__name__}"
    if kind == "value_error" and "error" in err.get("ctx", {}):
        return str(err["ctx"]["error"])
    return str(err["msg"])


def problems_from(
    exc: ValidationError,
    *,
    where: Callable[[Loc], str] = dotted,
    unknown: Callable[[Loc], str] | None = None,
    missing: Callable[[Loc], str] | None = None,
) -> list[Problem]:
    """One `Problem` per error of `exc`. `where` names its place from the error's location;
    `unknown` and `missing` word the message for an unknown key and a missing one (default
    "unknown key", "is required"); a validator's message comes without pydantic's prefix."""
    return [
        Problem(where(tuple(err["loc"])), _message(err, unknown, missing)) for err in exc.errors()
    ]


def unknown_key_message(model: type[BaseModel] | None) -> str:
    """ "unknown key; valid keys: ..." for an unknown key of `model`."""
    if model is None:
        return "unknown key"
    return f"unknown key; valid keys: {valid_names(input_keys(model))}"


class ProblemList:
    """Several problems found by one validator, each at its own location below the field."""

    def __init__(self) -> None:
        self.items: list[tuple[Loc, str]] = []

    def add(self, loc: str | Loc, message: str) -> None:
        """Note a problem at `loc` (a key, or a tuple of keys, relative to the field)."""
        self.items.append(((loc,) if isinstance(loc, str) else loc, message))

    def extend(self, exc: ValidationError, at: Loc, model: type[BaseModel]) -> None:
        """Take over the errors of validating `model` at `at` (unknown keys name its valid keys)."""

        def unknown(loc: Loc) -> str:
            return unknown_key_message(model_at(model, loc[:-1]))

        for err in exc.errors():
            self.add((*at, *err["loc"]), _message(err, unknown, None))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise every problem noted, as one `ValidationError`: pydantic reports each at its
        location (below the field being validated), beside the model's other errors."""
        if not self.items:
            return
        details = [
            InitErrorDetails(
                type=PydanticCustomError("problem", "{message}", {"message": message}),
                loc=loc,
                input=None,
            )
            for loc, message in self.items
        ]
        raise ValidationError.from_exception_data("problems", details)
