"""The unit map: its file format, its validation and the resolution of (source, code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ConfigError
from connector.rules.unitmap import MAPPED, MappedUnit, UnitMap
from simulator.units import MOVED_FROM_BINHDINH, unit_set
from tests.support import ROOT

EXAMPLE = ROOT / "mappings" / "units-gialai.toml"

SMALL = """\
sources = ["gialai", "binhdinh"]

[[unit]]
code = "SO_TC_BD"
name = "Sở Tài chính tỉnh Bình Định (cũ)"
members = ["gialai:SO_TC_BD", "binhdinh:STC"]

[[unit]]
code = "BD.VPUBND"
name = "Văn phòng UBND tỉnh Bình Định (cũ)"
members = ["binhdinh:VPUBND"]
"""


def problems_of(text: str, sources: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        UnitMap.parse(text, "units.toml", sources=sources)
    return [str(p) for p in caught.value.problems]


# -- resolution ---------------------------------------------------------------------------------


def test_a_listed_unit_resolves_to_its_mapped_unit() -> None:
    """Both codes of one agency resolve to the same mapped unit, with the map's name."""
    unit_map = UnitMap.parse(SMALL)
    merged = unit_map.resolve("binhdinh", "STC", "Sở Tài chính")
    assert merged == MappedUnit(MAPPED, "SO_TC_BD", "Sở Tài chính tỉnh Bình Định (cũ)")
    assert unit_map.resolve("gialai", "SO_TC_BD") == merged
    assert merged.mapped
    assert unit_map.resolve(*merged.key) == merged
    assert unit_map.members(merged) == {("gialai", "SO_TC_BD"), ("binhdinh", "STC")}


def test_an_unlisted_unit_stays_apart_with_its_own_name() -> None:
    """A unit the map does not list is itself: its source, code and name (the code without)."""
    unit_map = UnitMap.parse(SMALL)
    kept = unit_map.resolve("gialai", "VPUBND", "Văn phòng UBND tỉnh")
    assert kept == MappedUnit("gialai", "VPUBND", "Văn phòng UBND tỉnh")
    assert not kept.mapped
    assert unit_map.resolve("gialai", "X").name == "X"
    assert unit_map.members(kept) == {("gialai", "VPUBND")}


def test_one_code_in_two_sources_stays_two_units_unless_mapped() -> None:
    """VPUBND of two systems is two units (two keys); the map may rename one of them apart."""
    unit_map = UnitMap.parse(SMALL)
    gialai = unit_map.resolve("gialai", "VPUBND", "Văn phòng UBND tỉnh")
    binhdinh = unit_map.resolve("binhdinh", "VPUBND", "Văn phòng UBND tỉnh")
    assert gialai.key != binhdinh.key
    assert binhdinh.name == "Văn phòng UBND tỉnh Bình Định (cũ)"


def test_identity_keeps_every_unit_apart() -> None:
    """`UnitMap.identity()` maps nothing: each (source, code) is its own unit."""
    identity = UnitMap.identity()
    assert len(identity) == 0 and identity.units == ()
    assert identity.resolve("a", "STC", "Sở Tài chính") == MappedUnit("a", "STC", "Sở Tài chính")


def test_names_and_codes_are_nfc() -> None:
    """A decomposed (NFD) name in the file is stored composed, as the ledger stores names."""
    text = SMALL.replace("Sở Tài chính", "So\u031b\u0309 Tài chính")
    assert UnitMap.parse(text).units[0].name == "Sở Tài chính tỉnh Bình Định (cũ)"


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            SMALL.replace('"binhdinh:STC"', '"bd:STC"'),
            "units.toml: line 3: unit[0].members[1]: unknown source 'bd'; known: binhdinh, gialai",
            id="unknown-source",
        ),
        pytest.param(
            SMALL.replace('"binhdinh:STC"]', '"binhdinh:STC", "binhdinh:STC"]'),
            "units.toml: line 3: unit[0].members[2]: binhdinh:STC is listed twice in this unit",
            id="listed-twice",
        ),
        pytest.param(
            SMALL.replace('"binhdinh:VPUBND"', '"binhdinh:STC"'),
            "units.toml: line 8: unit[1].members[0]: binhdinh:STC is mapped to two units: "
            "'BD.VPUBND' here and line 3: unit[0] (SO_TC_BD)",
            id="two-targets",
        ),
        pytest.param(
            SMALL.replace('"BD.VPUBND"', '"SO_TC_BD"'),
            "units.toml: line 8: unit[1].code: mapped unit 'SO_TC_BD' is already defined at "
            "line 3: unit[0]",
            id="code-twice",
        ),
        pytest.param(
            SMALL.replace('"binhdinh:VPUBND"', '"VPUBND"'),
            "units.toml: line 8: unit[1].members[0]: expected \"source:code\", got 'VPUBND'",
            id="no-source",
        ),
        pytest.param(
            SMALL.replace('name = "Văn phòng UBND tỉnh Bình Định (cũ)"', 'name = " "'),
            "units.toml: line 8: unit[1].name: a mapped unit needs a name",
            id="no-name",
        ),
        pytest.param(
            SMALL.replace('members = ["binhdinh:VPUBND"]', "members = []"),
            'units.toml: line 8: unit[1].members: needs at least one "source:code"',
            id="no-members",
        ),
        pytest.param(
            SMALL + "colour = 1\n",
            "units.toml: line 8: unit[1].colour: unknown key; valid: code, name, members",
            id="unknown-key",
        ),
        pytest.param(
            "unit = 3\n",
            "units.toml: unit: must be an array of tables ([[unit]])",
            id="unit-not-tables",
        ),
        pytest.param(
            'sources = ["a", "a"]\n',
            "units.toml: sources[1]: 'a' is listed twice",
            id="source-twice",
        ),
        pytest.param("[[unit]\n", "units.toml: not valid TOML", id="not-toml"),
    ],
)
def test_validation_names_file_line_and_key(text: str, expected: str) -> None:
    """Each problem names the file, the line of its [[unit]] table and the key."""
    assert any(p.startswith(expected) for p in problems_of(text)), problems_of(text)


def test_every_problem_is_reported_together() -> None:
    """A file with several problems reports them all in one ConfigError."""
    text = SMALL.replace('"binhdinh:STC"', '"bd:STC"').replace('"BD.VPUBND"', '"SO_TC_BD"')
    found = problems_of(text)
    assert len(found) == 2
    assert "unknown source 'bd'" in found[0] and "already defined" in found[1]


def test_configured_sources_are_checked() -> None:
    """With the configuration's sources, a member or declared source naming another is
    refused; without a `sources` list in the file the configured ones are the known ones."""
    found = problems_of(SMALL, sources=["gialai"])
    assert any("'binhdinh' is not a configured source; configured: gialai" in p for p in found)
    undeclared = SMALL.split("\n", 1)[1]
    found = problems_of(undeclared, sources=["gialai"])
    assert any("unknown source 'binhdinh'; known: gialai" in p for p in found)
    assert len(UnitMap.parse(undeclared)) == 2


def test_sources_named_otherwise_than_the_file_say_so_once() -> None:
    """A file declaring sources that the configuration names otherwise (`gia-lai` for
    `gialai`) gets one problem per declared source, naming the configured ones, and no
    "unknown source ...; known: (none)" for every member."""
    found = problems_of(SMALL, sources=["gia-lai", "binh-dinh"])
    assert found == [
        "units.toml: sources: 'binhdinh' is not a configured source; configured: binh-dinh, gia-lai",
        "units.toml: sources: 'gialai' is not a configured source; configured: binh-dinh, gia-lai",
    ]


def test_load_names_an_unreadable_file(tmp_path: Path) -> None:
    """A missing file is a ConfigError naming it."""
    missing = tmp_path / "units.toml"
    with pytest.raises(ConfigError, match=re.escape(str(missing))):
        UnitMap.load(missing)


# -- the merged province's example map ----------------------------------------------------------


def test_example_map_merges_exactly_the_moved_units() -> None:
    """mappings/units-gialai.toml merges each moved Bình Định unit's two codes, and lists only
    units the simulator's two tenants serve."""
    unit_map = UnitMap.load(EXAMPLE, sources=["gialai", "binhdinh"])
    merged = {u.code: unit_map.members(u) for u in unit_map.units if len(unit_map.members(u)) > 1}
    assert merged == {
        new: {("gialai", new), ("binhdinh", old)} for new, old in MOVED_FROM_BINHDINH.items()
    }
    for unit in unit_map.units:
        for source, code in unit_map.members(unit):
            assert code in unit_set(source).codes


def test_example_map_keeps_the_two_offices_apart() -> None:
    """VPUBND of the two systems resolves to two units with names that tell them apart."""
    unit_map = UnitMap.load(EXAMPLE)
    offices = {unit_map.resolve(s, "VPUBND", "Văn phòng UBND tỉnh") for s in ("gialai", "binhdinh")}
    assert len(offices) == 2
    assert len({u.name for u in offices}) == 2


# -- properties ---------------------------------------------------------------------------------

SOURCES = st.sampled_from(["gialai", "binhdinh", "kontum", "s1"])
CODES = st.text(alphabet="ABCDTS_0123", min_size=1, max_size=4)
NAMES = st.text(alphabet="Sở Tài chínhUBNDtỉnh ơưđ", min_size=1, max_size=12).filter(
    lambda n: n.strip() == n and n != ""
)


@st.composite
def unit_maps(draw: st.DrawFn) -> UnitMap:
    """A valid unit map: distinct target codes, each (source, code) in at most one target."""
    pool = draw(st.lists(st.tuples(SOURCES, CODES), unique=True, max_size=20))
    targets = draw(st.lists(CODES, unique=True, min_size=0, max_size=6))
    groups: dict[str, list[tuple[str, str]]] = {t: [] for t in targets}
    for member in pool:
        if targets:
            groups[draw(st.sampled_from(targets))].append(member)
    lines: list[str] = []
    for target, members in groups.items():
        if not members:
            continue
        listed = ", ".join(f'"{s}:{c}"' for s, c in members)
        lines += [
            "[[unit]]",
            f'code = "{target}"',
            f'name = "{draw(NAMES)}"',
            f"members = [{listed}]",
        ]
    return UnitMap.parse("\n".join(lines))


@given(unit_maps(), SOURCES, CODES, NAMES)
def test_resolution_is_deterministic_and_idempotent(
    unit_map: UnitMap, source: str, code: str, name: str
) -> None:
    """The same question gets the same answer, and resolving an answer gives it back."""
    first = unit_map.resolve(source, code, name)
    assert unit_map.resolve(source, code, name) == first
    assert UnitMap.parse(unit_map.dumps()).resolve(source, code, name) == first
    assert unit_map.resolve(first.source, first.code, first.name) == first
    if first.mapped:
        assert unit_map.resolve(*first.key) == first


@given(unit_maps(), st.lists(st.tuples(SOURCES, CODES), unique=True, max_size=30))
def test_merging_never_loses_a_unit(unit_map: UnitMap, units: list[tuple[str, str]]) -> None:
    """Every unit resolves to exactly one mapped unit whose members include it, so grouping by
    the mapped unit accounts for every unit once."""
    grouped: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for source, code in units:
        mapped = unit_map.resolve(source, code)
        assert (source, code) in unit_map.members(mapped)
        grouped.setdefault(mapped.key, set()).add((source, code))
    assert sorted(u for members in grouped.values() for u in members) == sorted(units)
    for key, members in grouped.items():
        assert all(key == unit_map.resolve(s, c).key for s, c in members)


@given(unit_maps())
def test_a_map_written_out_reads_back_equal(unit_map: UnitMap) -> None:
    """`dumps` gives a file that `parse` reads back to an equal map."""
    assert UnitMap.parse(unit_map.dumps()) == unit_map
