"""The units of a simulated province: departments, districts, central agencies.

The default world is Bình Định's (`UNITS`, the unit set ``binhdinh``). Codes are short and
stable; names are the units' real names. `VPUBND` (the provincial People's Committee office) and
`TCT` (the Chairman's Working Group) are the two `office` units the alerts of the domain brief are
addressed to; every unit set has both.

The unit set ``gialai`` is the document system of the merged province of Gia Lai (since July
2025, Gia Lai and Bình Định): its own departments, wards and agencies under its own code style,
plus the former Bình Định units that already moved into it (`MOVED_FROM_BINHDINH`), each listed
under a new code (``SO_TC_BD``) while the old system still lists it under its old one (``STC``).
A simulator serving both as two tenants is a merged province with two systems side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.models import Unit, UnitKind

_D = UnitKind.DEPARTMENT
_H = UnitKind.DISTRICT
_C = UnitKind.CENTRAL
_O = UnitKind.OFFICE

UNITS: tuple[Unit, ...] = (
    # sở, ban, ngành
    Unit("SNV", "Sở Nội vụ", _D),
    Unit("STC", "Sở Tài chính", _D),
    Unit("STTTT", "Sở Thông tin và Truyền thông", _D),
    Unit("SKHDT", "Sở Kế hoạch và Đầu tư", _D),
    Unit("SXD", "Sở Xây dựng", _D),
    Unit("SGTVT", "Sở Giao thông vận tải", _D),
    Unit("SYT", "Sở Y tế", _D),
    Unit("SGDDT", "Sở Giáo dục và Đào tạo", _D),
    Unit("STNMT", "Sở Tài nguyên và Môi trường", _D),
    Unit("SNNPTNT", "Sở Nông nghiệp và Phát triển nông thôn", _D),
    Unit("SCT", "Sở Công Thương", _D),
    Unit("STP", "Sở Tư pháp", _D),
    Unit("SLDTBXH", "Sở Lao động - Thương binh và Xã hội", _D),
    Unit("SVHTT", "Sở Văn hóa và Thể thao", _D),
    Unit("SDL", "Sở Du lịch", _D),
    Unit("SKHCN", "Sở Khoa học và Công nghệ", _D),
    Unit("SNGV", "Sở Ngoại vụ", _D),
    Unit("BQLKKT", "Ban Quản lý Khu kinh tế tỉnh", _D),
    Unit("TTT", "Thanh tra tỉnh", _D),
    Unit("BDT", "Ban Dân tộc tỉnh", _D),
    # UBND huyện, thị xã, thành phố
    Unit("TPQN", "UBND thành phố Quy Nhơn", _H),
    Unit("TXAN", "UBND thị xã An Nhơn", _H),
    Unit("TXHN", "UBND thị xã Hoài Nhơn", _H),
    Unit("HPM", "UBND huyện Phù Mỹ", _H),
    Unit("HPC", "UBND huyện Phù Cát", _H),
    Unit("HTS", "UBND huyện Tây Sơn", _H),
    Unit("HTP", "UBND huyện Tuy Phước", _H),
    Unit("HVC", "UBND huyện Vân Canh", _H),
    Unit("HVT", "UBND huyện Vĩnh Thạnh", _H),
    Unit("HHA", "UBND huyện Hoài Ân", _H),
    Unit("HAL", "UBND huyện An Lão", _H),
    # cơ quan Trung ương trên địa bàn
    Unit("CAT", "Công an tỉnh", _C),
    Unit("BCHQS", "Bộ Chỉ huy Quân sự tỉnh", _C),
    Unit("BCHBP", "Bộ Chỉ huy Bộ đội Biên phòng tỉnh", _C),
    Unit("CTHUE", "Cục Thuế tỉnh", _C),
    Unit("KBNN", "Kho bạc Nhà nước tỉnh", _C),
    Unit("CHQ", "Cục Hải quan tỉnh", _C),
    Unit("BHXH", "Bảo hiểm xã hội tỉnh", _C),
    Unit("CTK", "Cục Thống kê tỉnh", _C),
    Unit("NHNN", "Ngân hàng Nhà nước - Chi nhánh tỉnh Bình Định", _C),
    # văn phòng
    Unit("VPUBND", "Văn phòng UBND tỉnh", _O),
    Unit("TCT", "Tổ công tác của Chủ tịch UBND tỉnh", _O, parent_code="VPUBND"),
)

WORKING_GROUP = "TCT"
"""The Chairman's Working Group: never a task's lead nor a coordinator, in every unit set."""

UNITS_BY_CODE: dict[str, Unit] = {u.code: u for u in UNITS}
UNIT_CODES: frozenset[str] = frozenset(UNITS_BY_CODE)

LEAD_UNITS: tuple[Unit, ...] = tuple(u for u in UNITS if u.code != WORKING_GROUP)
"""Units that can be given a task to lead (the Working Group never is)."""


def unit_json(unit: Unit) -> dict[str, Any]:
    """A unit as `GET /comm/units.cpx` lists it (contract section 8)."""
    return {
        "commCode": unit.code,
        "aname": unit.name,
        "kind": unit.kind.value,
        "parentCode": unit.parent_code,
    }


MOVED_FROM_BINHDINH: dict[str, str] = {
    "SO_TC_BD": "STC",
    "SO_NV_BD": "SNV",
    "SO_YT_BD": "SYT",
    "SO_GDDT_BD": "SGDDT",
    "SO_XD_BD": "SXD",
    "SO_TP_BD": "STP",
    "UBND_QN_BD": "TPQN",
    "UBND_AN_BD": "TXAN",
}
"""Former Bình Định units already working in Gia Lai's system: code there -> code in Bình
Định's own system (the same agency under two codes)."""

GIALAI_UNITS: tuple[Unit, ...] = (
    # sở, ban, ngành of the merged province
    Unit("SO_NV", "Sở Nội vụ", _D),
    Unit("SO_TC", "Sở Tài chính", _D),
    Unit("SO_XD", "Sở Xây dựng", _D),
    Unit("SO_YT", "Sở Y tế", _D),
    Unit("SO_GDDT", "Sở Giáo dục và Đào tạo", _D),
    Unit("SO_NNMT", "Sở Nông nghiệp và Môi trường", _D),
    Unit("SO_CT", "Sở Công Thương", _D),
    Unit("SO_TP", "Sở Tư pháp", _D),
    Unit("SO_VHTTDL", "Sở Văn hóa, Thể thao và Du lịch", _D),
    Unit("SO_KHCN", "Sở Khoa học và Công nghệ", _D),
    Unit("SO_DTTG", "Sở Dân tộc và Tôn giáo", _D),
    Unit("SO_NGV", "Sở Ngoại vụ", _D),
    Unit("TTRA_T", "Thanh tra tỉnh", _D),
    Unit("BQL_KKT", "Ban Quản lý Khu kinh tế tỉnh", _D),
    # former Bình Định units that already moved into this system (MOVED_FROM_BINHDINH)
    Unit("SO_TC_BD", "Sở Tài chính tỉnh Bình Định (cũ)", _D),
    Unit("SO_NV_BD", "Sở Nội vụ tỉnh Bình Định (cũ)", _D),
    Unit("SO_YT_BD", "Sở Y tế tỉnh Bình Định (cũ)", _D),
    Unit("SO_GDDT_BD", "Sở Giáo dục và Đào tạo tỉnh Bình Định (cũ)", _D),
    Unit("SO_XD_BD", "Sở Xây dựng tỉnh Bình Định (cũ)", _D),
    Unit("SO_TP_BD", "Sở Tư pháp tỉnh Bình Định (cũ)", _D),
    Unit("UBND_QN_BD", "UBND thành phố Quy Nhơn (cũ)", _H),
    Unit("UBND_AN_BD", "UBND thị xã An Nhơn (cũ)", _H),
    # UBND phường, xã
    Unit("UBND_PKU", "UBND phường Pleiku", _H),
    Unit("UBND_AK", "UBND phường An Khê", _H),
    Unit("UBND_AP", "UBND phường Ayun Pa", _H),
    # cơ quan Trung ương trên địa bàn
    Unit("CA_T", "Công an tỉnh", _C),
    Unit("BCH_QS", "Bộ Chỉ huy Quân sự tỉnh", _C),
    Unit("THUE_T", "Thuế tỉnh Gia Lai", _C),
    Unit("BHXH_T", "Bảo hiểm xã hội tỉnh", _C),
    # văn phòng
    Unit("VPUBND", "Văn phòng UBND tỉnh", _O),
    Unit(WORKING_GROUP, "Tổ công tác của Chủ tịch UBND tỉnh", _O, parent_code="VPUBND"),
)
"""The units of Gia Lai's system after the merger (the unit set ``gialai``)."""


@dataclass(frozen=True)
class UnitSet:
    """The units one simulated document system lists, and the province it belongs to."""

    name: str
    province: str
    """The province as its documents name it (``UBND tỉnh <province>``)."""
    domain: str
    """The province's mail domain (its accounts' addresses)."""
    units: tuple[Unit, ...]
    by_code: dict[str, Unit] = field(init=False, compare=False, repr=False)
    codes: frozenset[str] = field(init=False, compare=False, repr=False)
    lead_units: tuple[Unit, ...] = field(init=False, compare=False, repr=False)
    """Units that can be given a task to lead (the Working Group never is)."""

    def __post_init__(self) -> None:
        by_code = {u.code: u for u in self.units}
        object.__setattr__(self, "by_code", by_code)
        object.__setattr__(self, "codes", frozenset(by_code))
        lead = tuple(u for u in self.units if u.code != WORKING_GROUP)
        object.__setattr__(self, "lead_units", lead)


DEFAULT_UNIT_SET = "binhdinh"
UNIT_SETS: dict[str, UnitSet] = {
    "binhdinh": UnitSet("binhdinh", "Bình Định", "binhdinh.gov.vn", UNITS),
    "gialai": UnitSet("gialai", "Gia Lai", "gialai.gov.vn", GIALAI_UNITS),
}
"""Unit sets by name: ``binhdinh`` (the default world's) and ``gialai``."""


def unit_set(name: str) -> UnitSet:
    """The unit set called `name` (raises `ValueError` naming the known ones)."""
    found = UNIT_SETS.get(name)
    if found is None:
        known = ", ".join(sorted(UNIT_SETS))
        raise ValueError(f"unknown unit set {name!r}; known: {known}")
    return found
