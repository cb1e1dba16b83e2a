"""The units of the simulated province (Bình Định): departments, districts, central agencies.

Codes are short and stable; names are the units' real names. `VPUBND` (the provincial People's
Committee office) and `TCT` (the Chairman's Working Group) are the two `office` units the alerts
of the domain brief are addressed to.
"""

from __future__ import annotations

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

UNITS_BY_CODE: dict[str, Unit] = {u.code: u for u in UNITS}
UNIT_CODES: frozenset[str] = frozenset(UNITS_BY_CODE)

LEAD_UNITS: tuple[Unit, ...] = tuple(u for u in UNITS if u.code != "TCT")
"""Units that can be given a task to lead (the Working Group never is)."""


def unit_json(unit: Unit) -> dict[str, Any]:
    """A unit as `GET /comm/units.cpx` lists it (contract section 8)."""
    return {
        "commCode": unit.code,
        "aname": unit.name,
        "kind": unit.kind.value,
        "parentCode": unit.parent_code,
    }
