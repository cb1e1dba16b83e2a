"""The source-path language: where a value sits in a source record or answer.

A mapping (`connector.mapping.spec`) names every value it reads by a source path, and the client
(`connector.source.client`) finds the records, totals, ids and cursors of an answer the same way.

Source paths
    ``signNumber``, ``edSearchDto.signNumber`` (nested objects), ``items[0]`` (list index,
    negative from the end), ``proInfos[responsibility=main].deadline`` (the first element whose
    key equals the value), ``proInfos[?responsibility=coordinate]`` (every such element, a list),
    ``steps[*].unit`` (every element); after ``[?..]`` or ``[*]`` the rest of the path applies to
    each element. Keys starting with ``@`` are added by the client: ``@list`` (the list item a
    detail record was fetched for) and ``@fetched_at`` (when the record was fetched, ISO-8601).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


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
    if len(steps) == 1 and type(steps[0]) is Key:  # most paths: one key of the record
        if type(data) is dict or isinstance(data, Mapping):
            return data.get(steps[0].name, MISSING)
        return MISSING
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


def text_at(path: str) -> Callable[[Any], str]:
    """A reader of the text at source path `path` of a JSON body ("" when absent or not text):
    how the client tells the HTTP layer where a dialect puts its error code and message."""

    def read(body: Any) -> str:
        value = resolve(body, path) if isinstance(body, dict) else MISSING
        return value if isinstance(value, str) else ""

    return read
