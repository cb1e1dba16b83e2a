"""Vietnamese text of the simulated directives: subjects, steering content, deadline phrases.

Every function draws from the `random.Random` it is given, so the same seed gives the same
text. The people named are invented; the units are the province's real ones (`units.py`).
"""

from __future__ import annotations

import calendar as _gregorian
import random
from dataclasses import dataclass
from datetime import date, timedelta

from connector.models import Unit
from connector.rules.calendar import WorkingCalendar

MAX_STEERING_CONTENT = 1023
"""The contract's maximum length of `steeringContent`."""

CATEGORIES: tuple[tuple[str, float], ...] = (
    ("Công văn", 0.45),
    ("Thông báo", 0.25),
    ("Kế hoạch", 0.12),
    ("Quyết định", 0.10),
    ("Chỉ thị", 0.08),
)

_COMMUNIQUE_DESKS = ("KSTT", "KT", "TH", "VX", "NC", "CN", "XD", "NN")
_SYMBOLS = {
    "Thông báo": "TB-UBND",
    "Kế hoạch": "KH-UBND",
    "Quyết định": "QĐ-UBND",
    "Chỉ thị": "CT-UBND",
}

_TOPICS: tuple[str, ...] = (
    "chuyển đổi số và xây dựng chính quyền số",
    "cải cách thủ tục hành chính, cung cấp dịch vụ công trực tuyến toàn trình",
    "giải ngân kế hoạch vốn đầu tư công",
    "phòng, chống dịch COVID-19 và phục hồi kinh tế - xã hội",
    "xây dựng nông thôn mới nâng cao, nông thôn mới kiểu mẫu",
    "quản lý, bảo vệ và phát triển rừng",
    "phòng, chống thiên tai và tìm kiếm cứu nạn mùa mưa bão",
    "bảo đảm trật tự an toàn giao thông",
    "bồi thường, giải phóng mặt bằng dự án tuyến đường ven biển",
    "thu ngân sách nhà nước và chống thất thu thuế",
    "phát triển du lịch Quy Nhơn - Bình Định",
    "cấp nước sinh hoạt cho khu vực nông thôn",
    "thu gom, xử lý chất thải rắn sinh hoạt",
    "đầu tư hạ tầng Khu kinh tế Nhơn Hội",
    "sắp xếp lại, xử lý nhà, đất thuộc sở hữu nhà nước",
    "cấp giấy chứng nhận quyền sử dụng đất lần đầu",
    "chống khai thác hải sản bất hợp pháp, không báo cáo và không theo quy định (IUU)",
    "bảo đảm an toàn thông tin mạng trong các cơ quan nhà nước",
    "nâng cao Chỉ số năng lực cạnh tranh cấp tỉnh (PCI)",
    "Chương trình mục tiêu quốc gia giảm nghèo bền vững",
    "tiêm chủng mở rộng cho trẻ em",
    "quản lý trật tự xây dựng đô thị",
    "giải quyết kiến nghị của cử tri gửi đến kỳ họp Hội đồng nhân dân tỉnh",
    "kiểm tra, rà soát các dự án chậm tiến độ",
    "hỗ trợ người lao động gặp khó khăn",
    "phát triển các cụm công nghiệp",
    "chỉnh trang đô thị và phát triển cây xanh",
    "quản lý hoạt động khai thác khoáng sản",
    "nâng cấp đê, kè chống sạt lở bờ biển",
    "số hóa hồ sơ, kết quả giải quyết thủ tục hành chính",
)

_ACTIONS: tuple[str, ...] = (
    "khẩn trương triển khai",
    "tổ chức thực hiện",
    "rà soát, tham mưu UBND tỉnh về",
    "kiểm tra, xử lý dứt điểm các tồn tại về",
    "xây dựng kế hoạch",
    "nghiên cứu, đề xuất giải pháp về",
    "tổng hợp, đánh giá tình hình",
)

_CLOSINGS: tuple[str, ...] = (
    "báo cáo kết quả về UBND tỉnh (qua Văn phòng UBND tỉnh)",
    "báo cáo UBND tỉnh",
    "tham mưu UBND tỉnh xem xét, chỉ đạo",
    "báo cáo Chủ tịch UBND tỉnh",
)

_NO_DATE_WORDS: tuple[str, ...] = ("thường xuyên", "khẩn trương", "kịp thời")
"""Words that set no date; some tasks without deadline carry one."""

CHAIRMAN = "Nguyễn Tuấn Thanh"
VICE_CHAIRMEN: tuple[str, ...] = ("Lâm Hải Giang", "Nguyễn Thị Hồng Nhung", "Trần Văn Phước")
OFFICE_HEADS: tuple[tuple[str, str], ...] = (
    ("Đặng Minh Quân", "Chánh Văn phòng"),
    ("Hồ Thị Ngọc Lan", "Phó Chánh Văn phòng"),
)

_REASONS: tuple[str, ...] = (
    "Theo đề nghị của đơn vị chủ trì",
    "Gia hạn theo ý kiến chỉ đạo của Chủ tịch UBND tỉnh",
    "Điều chỉnh do chờ ý kiến của các Bộ, ngành Trung ương",
    "Gia hạn do ảnh hưởng của mưa lũ",
)

_ROMAN = ("I", "II", "III", "IV")


@dataclass(frozen=True)
class Document:
    """The document-level fields shared by every assignment of one directive."""

    category: str
    sign_number: str
    subject: str
    author: str
    publisher_code: str
    signer: str
    position: str
    steering_type: int
    steering_by: str
    topic: str


@dataclass(frozen=True)
class DeadlinePhrase:
    """A deadline written in words inside `steeringContent`, and what it means.

    `nominal` is the date the phrase names (before any move to a working day: "trước ngày
    15/4/2022" names 15 April 2022, "trong quý II/2022" 30 June 2022); `recurrence` an ISO-8601
    duration for periodic work ("P3M" for "định kỳ 03 tháng/lần"), with `nominal` None.
    """

    text: str
    nominal: date | None
    recurrence: str | None = None


def weighted(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    """One name of a (name, weight) table."""
    names = [name for name, _ in table]
    weights = [w for _, w in table]
    return rng.choices(names, weights=weights, k=1)[0]


def document(
    rng: random.Random, doc_date: date, used_numbers: set[str], province: str = "Bình Định"
) -> Document:
    """The fields of one directive document issued on `doc_date` by `province`'s UBND."""
    category = weighted(rng, CATEGORIES)
    symbol = _SYMBOLS.get(category) or f"UBND-{rng.choice(_COMMUNIQUE_DESKS)}"
    base = doc_date.timetuple().tm_yday * 25
    number = f"{base + rng.randint(1, 24)}/{symbol}"
    while f"{doc_date.year}:{number}" in used_numbers:
        number = f"{base + rng.randint(1, 4000)}/{symbol}"
    used_numbers.add(f"{doc_date.year}:{number}")
    topic = rng.choice(_TOPICS)
    steering_type = rng.choices((0, 1, 2, 3), weights=(0.05, 0.2, 0.35, 0.4), k=1)[0]
    leader = {
        0: ("", "UBND tỉnh"),
        1: (CHAIRMAN, "Chủ tịch UBND tỉnh"),
        2: (CHAIRMAN, "Chủ tịch UBND tỉnh"),
        3: (rng.choice(VICE_CHAIRMEN), "Phó Chủ tịch UBND tỉnh"),
    }[steering_type]
    if category == "Thông báo":
        author, code = "Văn phòng UBND tỉnh", "VPUBND"
        signer, position = rng.choice(OFFICE_HEADS)
        title = "Chủ tịch" if steering_type in (1, 2) else "Phó Chủ tịch"
        subject = f"Kết luận của {title} UBND tỉnh tại cuộc họp về {topic}"
    else:
        author, code = f"UBND tỉnh {province}", "UBNDT"
        if steering_type == 3:
            signer, position = leader[0], "Phó Chủ tịch"
        else:
            signer, position = CHAIRMAN, "Chủ tịch"
        subject = {
            "Công văn": f"V/v {rng.choice(_ACTIONS)} {topic}",
            "Kế hoạch": f"Kế hoạch thực hiện {topic} năm {doc_date.year}",
            "Quyết định": f"Ban hành Quy chế phối hợp về {topic}",
            "Chỉ thị": f"Về tăng cường {topic}",
        }[category]
    if rng.random() < 0.1:
        subject += "\n(kèm theo danh mục nhiệm vụ)"
    steering_by = f"{leader[1]} {leader[0]}".strip() if steering_type else ""
    return Document(
        category=category,
        sign_number=number,
        subject=subject,
        author=author,
        publisher_code=code,
        signer=signer,
        position=position,
        steering_type=steering_type,
        steering_by=steering_by,
        topic=topic,
    )


def steering_content(
    rng: random.Random,
    topic: str,
    lead: Unit,
    coordinators: list[Unit],
    *,
    phrase: DeadlinePhrase | None = None,
    no_date_word: bool = False,
) -> str:
    """The task as written: who leads, with whom, what, and (sometimes) when in words."""
    parts = [f"Giao {lead.name} chủ trì"]
    if coordinators:
        names = ", ".join(u.name for u in coordinators)
        parts.append(f", phối hợp với {names}")
    word = f" {rng.choice(_NO_DATE_WORDS)}" if no_date_word else ""
    parts.append(f"{word} {rng.choice(_ACTIONS)} {topic}")
    closing = rng.choice(_CLOSINGS)
    parts.append(f"; {closing} {phrase.text}" if phrase is not None else f"; {closing}")
    text = "".join(parts) + "."
    return text[:MAX_STEERING_CONTENT]


def deadline_reason(rng: random.Random) -> str:
    """Why a deadline was changed."""
    return rng.choice(_REASONS)


def _month_end(year: int, month: int) -> date:
    return date(year, month, _gregorian.monthrange(year, month)[1])


def _quarter_end(year: int, quarter: int) -> date:
    return _month_end(year, quarter * 3)


def deadline_phrase(rng: random.Random, anchor: date, calendar: WorkingCalendar) -> DeadlinePhrase:
    """A deadline in words for a document dated `anchor`, naming a date after it."""
    form = rng.randrange(13)
    target = anchor + timedelta(days=rng.randint(10, 60))
    d, m, y = target.day, target.month, target.year
    if form == 0:
        return DeadlinePhrase(f"trước ngày {d}/{m}/{y}", target)
    if form == 1:
        return DeadlinePhrase(f"trước ngày {d} tháng {m} năm {y}", target)
    if form == 2:
        return DeadlinePhrase(f"trước ngày {d:02d}.{m:02d}.{y}", target)
    if form == 3:
        return DeadlinePhrase(f"chậm nhất ngày {d:02d}/{m:02d}/{y}", target)
    if form == 4:
        return DeadlinePhrase(f"trong tháng {m} năm {y}", _month_end(y, m))
    if form == 5:
        return DeadlinePhrase(f"trong tháng {m}/{y}", _month_end(y, m))
    if form == 6:
        later = anchor + timedelta(days=rng.randint(20, 120))
        q = (later.month - 1) // 3 + 1
        return DeadlinePhrase(
            f"trong quý {_ROMAN[q - 1]}/{later.year}", _quarter_end(later.year, q)
        )
    if form == 7 and anchor.month <= 4:
        return DeadlinePhrase(f"trong 6 tháng đầu năm {anchor.year}", date(anchor.year, 6, 30))
    if form in (7, 8):
        return DeadlinePhrase(f"trong năm {anchor.year}", date(anchor.year, 12, 31))
    if form == 9:
        month_day = anchor + timedelta(days=rng.randint(35, 70))
        part = rng.choice(("đầu", "giữa", "cuối"))
        py, pm = month_day.year, month_day.month
        nominal = {
            "đầu": date(py, pm, 1),
            "giữa": date(py, pm, 15),
            "cuối": _month_end(py, pm),
        }[part]
        return DeadlinePhrase(f"vào {part} tháng {pm}", nominal)
    if form == 10:
        n = rng.choice((3, 5, 7, 10, 15))
        return DeadlinePhrase(
            f"trong {n:02d} ngày làm việc kể từ ngày {anchor.day}/{anchor.month}/{anchor.year}",
            calendar.add_working_days(anchor, n),
        )
    text, recurrence = rng.choice(
        (("định kỳ 03 tháng/lần", "P3M"), ("hằng quý", "P3M"), ("hằng tháng", "P1M"))
    )
    return DeadlinePhrase(text, None, recurrence)
