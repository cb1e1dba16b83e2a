"""The unit map: which units of several sources are one agency, and which stay apart.

A merged province runs several document systems; the same agency may be listed in two of them
under different codes (the old Bình Định Sở Tài chính is ``STC`` in Bình Định's system and
``SO_TC_BD`` in Gia Lai's). A unit map file (docs/unit-map.md) names the *mapped units* and the
(source, unit code) pairs each stands for::

    sources = ["gialai", "binhdinh"]

    [[unit]]
    code = "SO_TC_BD"
    name = "Sở Tài chính tỉnh Bình Định (cũ)"
    members = ["gialai:SO_TC_BD", "binhdinh:STC"]

`UnitMap.resolve(source, code)` is a pure function of the map: a listed unit resolves to its
mapped unit (``source == ""``: it stands for units of any source); an unlisted one stays apart,
as itself (its own source, code and name). `UnitMap.identity()` is the map without entries.

The file is validated once, as a whole: every problem is reported together in one `ConfigError`,
each naming the file, the line of its ``[[unit]]`` table and the key (an unknown source, a unit
listed twice, a unit mapped to two mapped units, two mapped units with one code).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from connector.errors import ConfigError, Problem

MAPPED = ""
"""The `MappedUnit.source` of a mapped unit: it stands for units of one or more sources."""

_UNIT_HEADER = re.compile(r"^\s*\[\[\s*unit\s*\]\]")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, order=True)
class MappedUnit:
    """The unit a report groups by: a mapped unit (`source` ``""``) or a unit kept apart."""

    source: str
    """The source of a unit kept apart; ``""`` (`MAPPED`) for a mapped unit."""
    code: str
    name: str

    @property
    def key(self) -> tuple[str, str]:
        """What tells two units apart: (source, code); equal keys are one unit in a report."""
        return (self.source, self.code)

    @property
    def mapped(self) -> bool:
        return self.source == MAPPED


@dataclass(frozen=True)
class _Entry:
    unit: MappedUnit
    members: tuple[tuple[str, str], ...]
    positions: tuple[int, ...] = field(default=(), compare=False)
    """Where each member is in the file's ``members`` list (for error messages)."""


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value.strip())


class UnitMap:
    """A validated unit map (immutable). Build it with `load`, `parse` or `identity`."""

    def __init__(self, entries: Iterable[_Entry] = (), sources: Iterable[str] = ()) -> None:
        self._entries: tuple[_Entry, ...] = tuple(entries)
        self.sources: frozenset[str] = frozenset(sources)
        """The sources the file declares (empty: not declared)."""
        self._by_member: dict[tuple[str, str], MappedUnit] = {}
        self._members: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        for entry in self._entries:
            self._members[entry.unit.key] = frozenset(entry.members)
            self._by_member[entry.unit.key] = entry.unit
            for member in entry.members:
                self._by_member[member] = entry.unit

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def identity(cls) -> Self:
        """The map without entries: every unit stays apart."""
        return cls()

    @classmethod
    def load(cls, path: str | Path, *, sources: Iterable[str] | None = None) -> Self:
        """Read and validate a unit map file (raises `ConfigError`).

        `sources`: the source names the configuration knows; a member naming another is refused
        (as it is when the file's own ``sources`` list does not name it).
        """
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                [Problem(str(file), f"cannot read the unit map: {exc.strerror or exc}")],
                source=str(file),
            ) from exc
        return cls.parse(text, str(file), sources=sources)

    @classmethod
    def parse(
        cls, text: str, origin: str = "<unit map>", *, sources: Iterable[str] | None = None
    ) -> Self:
        """Validate a unit map's TOML text; `origin` names it in errors (raises `ConfigError`)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Problem(origin, f"not valid TOML: {exc}")], source=origin) from exc
        lines = [n for n, line in enumerate(text.splitlines(), 1) if _UNIT_HEADER.match(line)]
        return cls(*_validate(data, origin, lines, None if sources is None else set(sources)))

    # -- reading -----------------------------------------------------------------------------

    @property
    def units(self) -> tuple[MappedUnit, ...]:
        """The mapped units, in file order."""
        return tuple(e.unit for e in self._entries)

    def resolve(self, source: str, code: str, name: str = "") -> MappedUnit:
        """The unit a report groups (source, code) under.

        A listed unit gives its mapped unit; any other stays apart as (source, code) with
        `name` (its own name; the code when empty). Resolving a result again gives it back.
        """
        found = self._by_member.get((source, code))
        if found is not None:
            return found
        return MappedUnit(source, code, name or code)

    def members(self, unit: MappedUnit) -> frozenset[tuple[str, str]]:
        """The (source, code) pairs that resolve to `unit`: a unit kept apart is its own."""
        return self._members.get(unit.key, frozenset({unit.key}))

    def dumps(self) -> str:
        """The map as a unit map file (`parse` reads it back to an equal map)."""
        out: list[str] = []
        if self.sources:
            listed = ", ".join(_quote(s) for s in sorted(self.sources))
            out += [f"sources = [{listed}]", ""]
        for entry in self._entries:
            members = ", ".join(_quote(f"{s}:{c}") for s, c in entry.members)
            out += [
                "[[unit]]",
                f"code = {_quote(entry.unit.code)}",
                f"name = {_quote(entry.unit.name)}",
                f"members = [{members}]",
                "",
            ]
        return "\n".join(out)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UnitMap):
            return NotImplemented
        return self._entries == other._entries and self.sources == other.sources

    def __hash__(self) -> int:
        return hash((self._entries, self.sources))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"UnitMap({len(self._entries)} mapped units, sources={sorted(self.sources)})"


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _validate(
    data: Mapping[str, Any], origin: str, lines: Sequence[int], known: set[str] | None
) -> tuple[list[_Entry], set[str]]:
    """The entries and declared sources of a parsed file, or a `ConfigError` with every
    problem."""
    problems: list[Problem] = []

    def bad(where: str, message: str) -> None:
        problems.append(Problem(f"{origin}: {where}", message))

    for key in sorted(set(data) - {"sources", "unit"}):
        bad(key, "unknown key; valid: sources, unit")
    declared: set[str] = set()
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not all(isinstance(s, str) for s in raw_sources):
        bad("sources", "must be a list of source names")
    else:
        for i, name in enumerate(raw_sources):
            if not _SOURCE_NAME.fullmatch(name):
                bad(f"sources[{i}]", f"{name!r} is not a source name")
            elif name in declared:
                bad(f"sources[{i}]", f"{name!r} is listed twice")
            else:
                declared.add(name)
    if known is not None:
        for name in sorted(declared - known):
            bad("sources", f"{name!r} is not a configured source; configured: {_names(known)}")
    # a member naming a declared source that is not configured is the problem above, once:
    # the members are checked against the file's own list (else the configured sources)
    allowed = declared if declared else known
    raw_units = data.get("unit", [])
    if not isinstance(raw_units, list):
        bad("unit", "must be an array of tables ([[unit]])")
        raw_units = []
    entries: list[_Entry] = []
    seen_member: dict[tuple[str, str], str] = {}
    seen_code: dict[str, str] = {}
    for i, raw in enumerate(raw_units):
        where = f"line {lines[i]}: unit[{i}]" if i < len(lines) else f"unit[{i}]"
        entry = _entry(raw, where, allowed, bad)
        if entry is None:
            continue
        code = entry.unit.code
        if not code:
            pass
        elif code in seen_code:
            bad(f"{where}.code", f"mapped unit {code!r} is already defined at {seen_code[code]}")
        else:
            seen_code[code] = where
        for j, member in zip(entry.positions, entry.members, strict=True):
            label = f"{member[0]}:{member[1]}"
            earlier = seen_member.get(member)
            if earlier is None:
                seen_member[member] = f"{where} ({code})"
            elif earlier.startswith(where + " "):
                bad(f"{where}.members[{j}]", f"{label} is listed twice in this unit")
            else:
                bad(
                    f"{where}.members[{j}]",
                    f"{label} is mapped to two units: {code!r} here and {earlier}",
                )
        entries.append(entry)
    if problems:
        raise ConfigError(problems, source=origin)
    return entries, declared


def _names(names: Iterable[str]) -> str:
    return ", ".join(sorted(names)) or "(none)"


def _entry(
    raw: object, where: str, allowed: set[str] | None, bad: Callable[[str, str], None]
) -> _Entry | None:
    """One ``[[unit]]`` table, or None after reporting its problems."""
    if not isinstance(raw, dict):
        bad(where, "must be a table with code, name and members")
        return None
    ok = True
    for key in sorted(set(raw) - {"code", "name", "members"}):
        bad(f"{where}.{key}", "unknown key; valid: code, name, members")
        ok = False
    code, name, members = raw.get("code"), raw.get("name"), raw.get("members")
    if not isinstance(code, str) or not _nfc(code):
        bad(f"{where}.code", "a mapped unit needs a code (a non-empty text)")
        ok = False
    if not isinstance(name, str) or not _nfc(name):
        bad(f"{where}.name", "a mapped unit needs a name (a non-empty text, in Vietnamese)")
        ok = False
    if not isinstance(members, list) or not members:
        bad(f"{where}.members", 'needs at least one "source:code"')
        return None
    pairs: list[tuple[str, str]] = []
    positions: list[int] = []
    for j, member in enumerate(members):
        source, sep, unit = member.partition(":") if isinstance(member, str) else ("", "", "")
        source, unit = source.strip(), _nfc(unit)
        if not sep or not source or not unit:
            bad(f"{where}.members[{j}]", f'expected "source:code", got {member!r}')
            ok = False
        elif allowed is not None and source not in allowed:
            bad(f"{where}.members[{j}]", f"unknown source {source!r}; known: {_names(allowed)}")
            ok = False
        else:
            pairs.append((source, unit))
            positions.append(j)
    if not ok or not isinstance(code, str) or not isinstance(name, str):
        # still checked against the other units (every problem is reported together)
        placeholder = MappedUnit(MAPPED, _nfc(code) if isinstance(code, str) else "", "")
        return _Entry(placeholder, tuple(pairs), tuple(positions))
    return _Entry(MappedUnit(MAPPED, _nfc(code), _nfc(name)), tuple(pairs), tuple(positions))
