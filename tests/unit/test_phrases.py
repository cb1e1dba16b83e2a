"""Deadlines written in words: real-style directive sentences and the date each one sets."""

from __future__ import annotations

import re
import tomllib
import unicodedata
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.models import NormalisedTask, TaskState
from connector.rules import phrases
from connector.rules.calendar import load_calendar
from connector.rules.phrase_layout import FoldedText
from connector.rules.phrases import (
    Alternative,
    Note,
    PhraseKind,
    Recurrence,
    Suggestion,
    note_text,
    suggest_deadline,
    suggest_for_task,
)
from connector.views.shapes import suggestion_json
from tests.support import DATA

CAL = load_calendar()
K = PhraseKind
DOC = date(2022, 3, 10)  # a Thursday: the usual document date of these cases

# (text, anchor, deadline, phrase, recurrence, kind)
CASES = [
    pytest.param(
        "Giao Sở Tài chính chủ trì, phối hợp với các sở, ngành liên quan tham mưu UBND tỉnh "
        "ban hành quy định trước ngày 15/4/2022.",
        DOC, date(2022, 4, 15), "trước ngày 15/4/2022", None, K.DATE,
        id="truoc-ngay-slashes",
    ),
    pytest.param(
        "Sở Kế hoạch và Đầu tư tổng hợp, báo cáo Chủ tịch UBND tỉnh trước ngày 25 tháng 4 "
        "năm 2021.",
        date(2021, 3, 15), date(2021, 4, 25), "trước ngày 25 tháng 4 năm 2021", None, K.DATE,
        id="truoc-ngay-in-words",
    ),
    pytest.param(
        "UBND các huyện, thị xã, thành phố gửi báo cáo về Sở Nội vụ trước ngày 20.7.2020 để "
        "tổng hợp, báo cáo UBND tỉnh.",
        date(2020, 7, 1), date(2020, 7, 20), "trước ngày 20.7.2020", None, K.DATE,
        id="truoc-ngay-dots",
    ),
    pytest.param(
        "Yêu cầu các đơn vị hoàn thành trước ngày 15-4-2022.",
        DOC, date(2022, 4, 15), "trước ngày 15-4-2022", None, K.DATE,
        id="truoc-ngay-dashes",
    ),
    pytest.param(
        "Các sở, ban, ngành hoàn thành việc rà soát, gửi kết quả về Văn phòng UBND tỉnh chậm "
        "nhất ngày 30/6/2022.",
        DOC, date(2022, 6, 30), "chậm nhất ngày 30/6/2022", None, K.DATE,
        id="cham-nhat-ngay",
    ),
    pytest.param(
        "Chậm nhất là ngày 31/5/2022, Sở Xây dựng phải trình UBND tỉnh phê duyệt đồ án quy "
        "hoạch.",
        DOC, date(2022, 5, 31), "Chậm nhất là ngày 31/5/2022", None, K.DATE,
        id="cham-nhat-la-ngay",
    ),
    pytest.param(
        "Giao UBND các huyện thực hiện chậm nhất vào ngày 10 tháng 5.",
        DOC, date(2022, 5, 10), "chậm nhất vào ngày 10 tháng 5", None, K.DATE,
        id="cham-nhat-vao-ngay-no-year",
    ),
    pytest.param(
        "Chậm nhất đến hết ngày 31/5/2022, các địa phương hoàn thành việc chi trả.",
        DOC, date(2022, 5, 31), "Chậm nhất đến hết ngày 31/5/2022", None, K.DATE,
        id="cham-nhat-den-het-ngay",
    ),
    pytest.param(
        "Hạn chót nhận hồ sơ đề nghị khen thưởng là ngày 20/5/2022.",
        DOC, date(2022, 5, 20), "Hạn chót nhận hồ sơ đề nghị khen thưởng là ngày 20/5/2022",
        None, K.DATE,
        id="han-chot-with-words",
    ),
    pytest.param(
        "Hạn chót: 17 giờ 00 ngày 15/3/2022.",
        DOC, date(2022, 3, 15), "Hạn chót: 17 giờ 00 ngày 15/3/2022", None, K.DATE,
        id="han-chot-with-hour",
    ),
    pytest.param(
        "Đề nghị các đơn vị gửi báo cáo trước 16 giờ 00 phút, ngày 14/3/2022 để tổng hợp.",
        DOC, date(2022, 3, 14), "trước 16 giờ 00 phút, ngày 14/3/2022", None, K.DATE,
        id="truoc-gio-ngay",
    ),
    pytest.param(
        "Thời hạn hoàn thành: ngày 30/9/2022.",
        DOC, date(2022, 9, 30), "Thời hạn hoàn thành: ngày 30/9/2022", None, K.DATE,
        id="thoi-han-hoan-thanh",
    ),
    pytest.param(
        "Gửi báo cáo về Văn phòng UBND tỉnh trước ngày 20/12.",
        DOC, date(2022, 12, 20), "trước ngày 20/12", None, K.DATE,
        id="no-year-later-this-year",
    ),
    pytest.param(
        "Gửi kế hoạch về Sở Kế hoạch và Đầu tư trước ngày 15/01 để tổng hợp.",
        DOC, date(2023, 1, 15), "trước ngày 15/01", None, K.DATE,
        id="no-year-already-past-rolls-to-next-year",
    ),
    pytest.param(
        "Sở Tư pháp trình UBND tỉnh trước ngày 29/02.",
        date(2023, 3, 10), date(2024, 2, 29), "trước ngày 29/02", None, K.DATE,
        id="no-year-29-february-next-leap-year",
    ),
    pytest.param(
        "Giao Sở Nông nghiệp và Phát triển nông thôn hoàn thành trong tháng 3 năm 2022.",
        DOC, date(2022, 3, 31), "trong tháng 3 năm 2022", None, K.MONTH,
        id="trong-thang-nam",
    ),
    pytest.param(
        "Sở Giao thông vận tải khẩn trương triển khai, hoàn thành trong tháng 9/2022.",
        DOC, date(2022, 9, 30), "trong tháng 9/2022", None, K.MONTH,
        id="trong-thang-slash",
    ),
    pytest.param(
        "Sở Tài chính khẩn trương hoàn thành trong tháng này.",
        DOC, date(2022, 3, 31), "trong tháng này", None, K.MONTH,
        id="trong-thang-nay",
    ),
    pytest.param(
        "Sở Tài nguyên và Môi trường chủ trì, hoàn thành việc xây dựng bảng giá đất trong quý "
        "II/2022.",
        DOC, date(2022, 6, 30), "trong quý II/2022", None, K.QUARTER,
        id="trong-quy-roman",
    ),
    pytest.param(
        "Ban Quản lý dự án hoàn thành công tác giải phóng mặt bằng trong quý IV năm 2022.",
        DOC, date(2022, 12, 31), "trong quý IV năm 2022", None, K.QUARTER,
        id="trong-quy-iv-nam",
    ),
    pytest.param(
        "Triển khai thực hiện trong Quý 3/2022.",
        DOC, date(2022, 9, 30), "trong Quý 3/2022", None, K.QUARTER,
        id="trong-quy-arabic",
    ),
    pytest.param(
        "Các huyện hoàn thành việc cấp giấy chứng nhận đến hết quý III/2022.",
        DOC, date(2022, 9, 30), "đến hết quý III/2022", None, K.QUARTER,
        id="den-het-quy",
    ),
    pytest.param(
        "Đề nghị hoàn thành chậm nhất trong quý I/2023.",
        date(2022, 10, 1), date(2023, 3, 31), "chậm nhất trong quý I/2023", None, K.QUARTER,
        id="cham-nhat-trong-quy",
    ),
    pytest.param(
        "Sở Y tế báo cáo kết quả thực hiện quý I năm 2022 về UBND tỉnh.",
        DOC, date(2022, 3, 31), "quý I năm 2022", None, K.QUARTER,
        id="bare-quarter-is-weak-but-used-alone",
    ),
    pytest.param(
        "Các đơn vị báo cáo sơ kết 6 tháng đầu năm về Sở Nội vụ.",
        DOC, date(2022, 6, 30), "6 tháng đầu năm", None, K.HALF_YEAR,
        id="6-thang-dau-nam-anchor-year",
    ),
    pytest.param(
        "Các đơn vị tổ chức đánh giá kết quả thực hiện 6 tháng đầu năm 2023.",
        date(2022, 12, 20), date(2023, 6, 30), "6 tháng đầu năm 2023", None, K.HALF_YEAR,
        id="6-thang-dau-nam-stated-year",
    ),
    pytest.param(
        "Hoàn thành trong 6 tháng cuối năm 2022.",
        DOC, date(2022, 12, 31), "trong 6 tháng cuối năm 2022", None, K.HALF_YEAR,
        id="6-thang-cuoi-nam",
    ),
    pytest.param(
        "Sở Công Thương chủ trì triển khai, hoàn thành trong năm 2022.",
        DOC, date(2022, 12, 31), "trong năm 2022", None, K.YEAR,
        id="trong-nam",
    ),
    pytest.param(
        "UBND thành phố Quy Nhơn hoàn thành việc di dời các hộ dân đến hết năm 2023.",
        DOC, date(2023, 12, 31), "đến hết năm 2023", None, K.YEAR,
        id="den-het-nam",
    ),
    pytest.param(
        "Hoàn thành cuối năm 2022.",
        DOC, date(2022, 12, 31), "cuối năm 2022", None, K.PART_OF_YEAR,
        id="cuoi-nam",
    ),
    pytest.param(
        "Sở Tư pháp trình UBND tỉnh vào cuối tháng 6.",
        DOC, date(2022, 6, 30), "vào cuối tháng 6", None, K.PART_OF_MONTH,
        id="cuoi-thang",
    ),
    pytest.param(
        "Đề nghị các đơn vị gửi dự thảo về Sở Nội vụ giữa tháng 5/2022 để thẩm định.",
        DOC, date(2022, 5, 15), "giữa tháng 5/2022", None, K.PART_OF_MONTH,
        id="giua-thang",
    ),
    pytest.param(
        "Tổ chức hội nghị tổng kết vào đầu tháng 01 năm 2023.",
        date(2022, 11, 20), date(2023, 1, 1), "vào đầu tháng 01 năm 2023", None,
        K.PART_OF_MONTH,
        id="dau-thang",
    ),
    pytest.param(
        "Báo cáo UBND tỉnh cuối tháng 02.",
        DOC, date(2023, 2, 28), "cuối tháng 02", None, K.PART_OF_MONTH,
        id="cuoi-thang-past-rolls-to-next-year",
    ),
    pytest.param(
        "Trong 05 ngày làm việc kể từ ngày nhận được văn bản này, Sở Y tế báo cáo UBND tỉnh.",
        DOC, date(2022, 3, 17), "Trong 05 ngày làm việc", None, K.WORKING_DAYS,
        id="working-days-from-document-date",
    ),
    pytest.param(
        "Trong thời hạn 07 (bảy) ngày làm việc kể từ ngày 11/3/2022, Sở Tư pháp có ý kiến "
        "thẩm định gửi Sở Nội vụ.",
        DOC, date(2022, 3, 22), "Trong thời hạn 07 (bảy) ngày làm việc kể từ ngày 11/3/2022",
        None, K.WORKING_DAYS,
        id="working-days-from-stated-date",
    ),
    pytest.param(
        "Các sở, ngành có ý kiến bằng văn bản gửi Sở Tài chính trong vòng 03 ngày làm việc.",
        date(2022, 1, 27), date(2022, 2, 8), "trong vòng 03 ngày làm việc", None,
        K.WORKING_DAYS,
        id="working-days-across-tet",
    ),
    pytest.param(
        "Chậm nhất sau 10 ngày làm việc kể từ ngày 25/4/2022, UBND huyện Tuy Phước phải báo "
        "cáo kết quả.",
        date(2022, 4, 20), date(2022, 5, 11),
        "Chậm nhất sau 10 ngày làm việc kể từ ngày 25/4/2022", None, K.WORKING_DAYS,
        id="working-days-across-30-4",
    ),
    pytest.param(
        "Trong 05 ngày làm việc kể từ ngày 11/3, Sở Nội vụ có văn bản trả lời.",
        date(2022, 3, 14), date(2022, 3, 18), "Trong 05 ngày làm việc kể từ ngày 11/3", None,
        K.WORKING_DAYS,
        id="working-days-from-yearless-start",
    ),
    pytest.param(
        "Trong năm ngày làm việc, các đơn vị phải có ý kiến.",
        DOC, date(2022, 3, 17), "Trong năm ngày làm việc", None, K.WORKING_DAYS,
        id="working-days-number-in-words",
    ),
    pytest.param(
        "Trong vòng 10 ngày, các đơn vị phải gửi ý kiến góp ý về Sở Kế hoạch và Đầu tư.",
        DOC, date(2022, 3, 20), "Trong vòng 10 ngày", None, K.PERIOD,
        id="calendar-days",
    ),
    pytest.param(
        "Trong thời hạn 15 ngày kể từ ngày 01/4/2022, Sở Nội vụ hoàn thành thẩm định.",
        DOC, date(2022, 4, 16), "Trong thời hạn 15 ngày kể từ ngày 01/4/2022", None, K.PERIOD,
        id="calendar-days-from-stated-date",
    ),
    pytest.param(
        "Trong 2 tuần, Sở Y tế hoàn thành việc kiểm tra.",
        DOC, date(2022, 3, 24), "Trong 2 tuần", None, K.PERIOD,
        id="weeks",
    ),
    pytest.param(
        "Trong 02 tháng kể từ ngày ký, UBND các huyện hoàn thành kiểm kê.",
        date(2022, 3, 31), date(2022, 5, 31), "Trong 02 tháng", None, K.PERIOD,
        id="months-same-day-number",
    ),
    pytest.param(
        "Định kỳ 03 tháng/lần, Sở Nội vụ tổng hợp, báo cáo UBND tỉnh.",
        DOC, None, "Định kỳ 03 tháng/lần", "P3M", K.RECURRING,
        id="dinh-ky-3-thang",
    ),
    pytest.param(
        "Các đơn vị báo cáo hằng quý về Văn phòng UBND tỉnh để theo dõi.",
        DOC, None, "hằng quý", "P3M", K.RECURRING,
        id="hang-quy",
    ),
    pytest.param(
        "Thực hiện chế độ báo cáo hàng quý theo quy định.",
        DOC, None, "hàng quý", "P3M", K.RECURRING,
        id="hang-quy-spelling",
    ),
    pytest.param(
        "Định kỳ 6 tháng một lần, Sở Tài chính báo cáo UBND tỉnh.",
        DOC, None, "Định kỳ 6 tháng một lần", "P6M", K.RECURRING,
        id="dinh-ky-6-thang",
    ),
    pytest.param(
        "Báo cáo hằng tháng về tình hình thực hiện, gửi trước ngày 20 hằng tháng.",
        DOC, date(2022, 3, 20), "trước ngày 20 hằng tháng", "P1M", K.DAY_OF_MONTH,
        id="day-of-each-month",
    ),
    pytest.param(
        "Định kỳ hằng năm, các đơn vị báo cáo kết quả trước ngày 15/12.",
        DOC, date(2022, 12, 15), "trước ngày 15/12", "P1Y", K.DATE,
        id="yearly-with-date",
    ),
    pytest.param(
        "Sở Nội vụ hoàn thành trước ngày 30/4/2022, sau đó báo cáo hằng quý.",
        DOC, date(2022, 4, 30), "trước ngày 30/4/2022", "P3M", K.DATE,
        id="date-and-quarterly",
    ),
    pytest.param(
        "Báo cáo trước ngày 31/02/2022; trường hợp chưa hoàn thành thì báo cáo trước ngày "
        "15/3/2022.",
        DOC, date(2022, 3, 15), "trước ngày 15/3/2022", None, K.DATE,
        id="invalid-date-skipped",
    ),
    pytest.param(
        "Báo cáo kết quả thực hiện quý I năm 2022 về UBND tỉnh trước ngày 25/3/2022.",
        DOC, date(2022, 3, 25), "trước ngày 25/3/2022", None, K.DATE,
        id="strong-date-beats-earlier-bare-quarter",
    ),
    pytest.param(
        "Trước ngày 30/4/2022 các huyện báo cáo; trước ngày 15/4/2022 các sở báo cáo.",
        DOC, date(2022, 4, 30), "Trước ngày 30/4/2022", None, K.DATE,
        id="first-in-reading-order-wins",
    ),
    pytest.param(
        "SỞ TÀI CHÍNH BÁO CÁO UBND TỈNH TRƯỚC NGÀY 15/4/2022.",
        DOC, date(2022, 4, 15), "TRƯỚC NGÀY 15/4/2022", None, K.DATE,
        id="upper-case",
    ),
]


@pytest.mark.parametrize(("text", "anchor", "deadline", "phrase", "recurrence", "kind"), CASES)
def test_suggest_deadline(
    text: str,
    anchor: date,
    deadline: date | None,
    phrase: str,
    recurrence: str | None,
    kind: PhraseKind,
) -> None:
    """Each directive sentence yields its deadline, the exact phrase, recurrence and kind."""
    got = suggest_deadline(text, anchor, CAL)
    assert got is not None
    assert (got.deadline, got.phrase, got.recurrence, got.kind) == (
        deadline,
        phrase,
        recurrence,
        kind,
    )
    assert got.phrase in unicodedata.normalize("NFC", text)


@pytest.mark.parametrize(("text", "anchor", "deadline", "phrase", "recurrence", "kind"), CASES)
def test_nfd_input_reads_the_same(
    text: str,
    anchor: date,
    deadline: date | None,
    phrase: str,
    recurrence: str | None,
    kind: PhraseKind,
) -> None:
    """Decomposed (NFD) text gives the same suggestion as composed text."""
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    got = suggest_deadline(nfd, anchor, CAL)
    assert got is not None
    assert (got.deadline, got.phrase, got.recurrence, got.kind) == (
        deadline,
        phrase,
        recurrence,
        kind,
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Thường xuyên theo dõi, đôn đốc, khẩn trương triển khai và báo cáo kịp thời các vấn "
            "đề phát sinh.",
            id="vague-words",
        ),
        pytest.param("Đề nghị Sở Y tế sớm tham mưu UBND tỉnh.", id="som"),
        pytest.param("Sở Xây dựng báo cáo trước ngày 31/02/2022 theo đề nghị.", id="only-invalid"),
        pytest.param(
            "Thực hiện Công văn số 123/UBND-TH ngày 10/3/2022 của UBND tỉnh về việc triển khai.",
            id="document-date-is-not-a-deadline",
        ),
        pytest.param("Từ đầu năm 2022 đến nay, tỉnh đã triển khai nhiều nhiệm vụ.", id="tu-dau-nam"),
        pytest.param("", id="empty"),
    ],
)
def test_no_deadline(text: str) -> None:
    """Text without a deadline-bearing phrase gives no suggestion."""
    assert suggest_deadline(text, DOC, CAL) is None


def test_recurrence_phrase_is_reported_with_the_deadline() -> None:
    """A deadline and a recurrence in one text come back together, each with its own phrase."""
    got = suggest_deadline("Định kỳ hằng năm, báo cáo trước ngày 15/12.", DOC, CAL)
    assert got == Suggestion(
        deadline=date(2022, 12, 15),
        phrase="trước ngày 15/12",
        recurrence="P1Y",
        kind=K.DATE,
        recurrence_phrase="Định kỳ hằng năm",
        recurrence_rule=Recurrence("P1Y", due_month=12, due_day=15, due_phrase="trước ngày 15/12"),
    )


def test_phrase_is_taken_from_the_nfc_text() -> None:
    """For NFD input the returned phrase is the composed (NFC) form of the matched text."""
    got = suggest_deadline(unicodedata.normalize("NFD", "Chậm nhất là ngày 31/5/2022."), DOC, CAL)
    assert got is not None
    assert got.phrase == "Chậm nhất là ngày 31/5/2022"
    assert unicodedata.is_normalized("NFC", got.phrase)


def test_cases_cover_at_least_forty_phrasings() -> None:
    """The table keeps at least 40 real-style sentences."""
    assert len(CASES) >= 40


WORDS = ["trước", "ngày", "tháng", "năm", "quý", "quí", "chậm", "nhất", "là", "vào", "hạn", "chót", "thời", "hạn", "trong", "vòng", "làm", "việc", "kể", "từ", "tính", "đến", "hết", "đầu", "giữa", "cuối", "6", "sáu", "định", "kỳ", "hằng", "hàng", "mỗi", "lần", "/", ".", "-", ":", ",", "(", ")", "I", "II", "III", "IV", "mười", "hai", "mươi", "lăm", "nay", "tới", "sau", "này", "15/4/2022", "31/02/2022", "20.7", "29/2", "3", "12", "2022", "1900", "9999", "0", "00", "17h00", "giờ", "phút", "tuần"]


# Words of the readings added for issue 12 (no diacritics, units, recurrence due points, ...).
WORDS += ["truoc", "ngay", "thang", "quy", "hang", "cham", "nhat", "thứ", "Sáu", "Năm", "chủ", "nhật", "sáng", "hằng", "của", "tháng", "cuối", "đầu", "sau", "tiếp", "theo", "nhận", "được", "văn", "bản", "ký", "ban", "hành", "hồ", "sơ", "để", "UBND", "tỉnh", "Sở", "Tài", "chính", "các", "sở", "huyện", "giao", "Thực", "hiện", "Công", "số", "12/BTC", "về", "việc", "đã", "liệu", "gia", "từ", "nay", "khi", "kết", "thúc", "và", ";", "'", "15/3/22", "02", "10", "20", "05", "Hàn", "mới", "\n"]
UNITS = ["", "Sở Tài chính", "UBND huyện Tuy Phước", "Ủy ban nhân dân xã Phước Lộc", "Công an tỉnh", "-"]


@given(
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=25),
    anchor=st.dates(min_value=date(1990, 1, 1), max_value=date(2110, 12, 31)),
    nfd=st.booleans(),
    unit=st.sampled_from(UNITS),
)
def test_any_text_reads_without_error(words: list[str], anchor: date, nfd: bool, unit: str) -> None:
    """Any jumble of deadline words gives None or a well-formed suggestion, never an error."""
    text = " ".join(words)
    got = suggest_deadline(
        unicodedata.normalize("NFD", text) if nfd else text, anchor, CAL, unit=unit
    )
    if got is None:
        return
    nfc = unicodedata.normalize("NFC", text)
    assert got.phrase and got.phrase in nfc
    if got.deadline is None:
        assert got.kind is K.RECURRING and got.recurrence is not None
    else:
        assert 1995 <= got.deadline.year <= 2099
        assert got.deadline >= anchor
    if got.recurrence is not None:
        assert got.recurrence.startswith("P") and got.recurrence_phrase
        assert got.recurrence_rule is not None and got.recurrence_rule.period == got.recurrence
    for other in got.alternatives:
        assert other.phrase in nfc and other.deadline != got.deadline
    assert (Note.CONFLICTING_DEADLINES in got.notes) == bool(got.alternatives)


# -- issue 12: choosing among several dates, notes, recurrence due points, diacritics ----------


def test_conflicting_dates_are_listed_with_a_note() -> None:
    """Two different dates for the same kind of step: the first is taken, the other is listed."""
    got = suggest_deadline(
        "Trước ngày 30/4/2022 các huyện báo cáo; trước ngày 15/4/2022 các sở báo cáo.", DOC, CAL
    )
    assert got is not None and got.deadline == date(2022, 4, 30)
    assert got.alternatives == (Alternative(date(2022, 4, 15), "trước ngày 15/4/2022", K.DATE),)
    assert got.notes == (Note.CONFLICTING_DEADLINES,)


def test_lead_unit_picks_its_own_date() -> None:
    """With the lead unit known, the date of the clause where that unit acts is taken."""
    text = "Trước ngày 30/4/2022 các huyện báo cáo; trước ngày 15/4/2022 các sở báo cáo."
    for unit, expected in (
        ("Sở Tư pháp", date(2022, 4, 15)),
        ("UBND huyện Tuy Phước", date(2022, 4, 30)),
        ("Ủy ban nhân dân thị xã An Nhơn", date(2022, 4, 30)),
    ):
        got = suggest_deadline(text, DOC, CAL, unit=unit)
        assert got is not None and got.deadline == expected, unit


def test_recipient_is_not_the_actor() -> None:
    """A unit named after "về"/"gửi" receives; the date is the sender's, not the recipient's."""
    text = (
        "UBND các huyện gửi báo cáo về Sở Nội vụ trước ngày 15/4/2022; Sở Nội vụ tổng hợp, "
        "báo cáo UBND tỉnh trước ngày 25/4/2022."
    )
    got = suggest_deadline(text, DOC, CAL, unit="Sở Nội vụ")
    assert got is not None and got.deadline == date(2022, 4, 25)


def test_suggest_for_task_uses_the_lead_unit() -> None:
    """`suggest_for_task` passes the task's lead unit, so a two-unit text gives its date."""
    task = NormalisedTask(
        source_id=7,
        last_modified=datetime(2022, 3, 10, 2, 0, tzinfo=UTC),
        state=TaskState.OPEN,
        doc_date=DOC,
        lead_unit_name="Sở Xây dựng",
        steering_content=(
            "1. Giao Sở Tài chính rà soát, báo cáo trước ngày 15/4/2022. 2. Giao Sở Xây dựng "
            "hoàn thành thẩm định trong quý II/2022."
        ),
    )
    got = suggest_for_task(task, CAL)
    assert got is not None and got.deadline == date(2022, 6, 30)


def test_nested_dates_do_not_conflict() -> None:
    """A day inside the month the text also names refines it: no alternative, no note."""
    got = suggest_deadline("Tổ chức trong tháng 12/2022 (trước ngày 20/12/2022).", DOC, CAL)
    assert got is not None and got.deadline == date(2022, 12, 20)
    assert (got.alternatives, got.notes) == ((), ())


def test_cited_document_date_is_used_last_and_noted() -> None:
    """The cited document's date loses to the unit's own; alone, it is used with a note."""
    cited = (
        "Thực hiện Công văn số 12/BTC ngày 01/3/2022 của Bộ Tài chính đề nghị báo cáo trước "
        "ngày 20/3/2022"
    )
    both = suggest_deadline(
        f"{cited}, Chủ tịch UBND tỉnh giao Sở Tài chính báo cáo trước ngày 15/3/2022.", DOC, CAL
    )
    assert both is not None and both.deadline == date(2022, 3, 15)
    assert [a.deadline for a in both.alternatives] == [date(2022, 3, 20)]
    alone = suggest_deadline(f"{cited}; giao Sở Tài chính tham mưu thực hiện.", DOC, CAL)
    assert alone is not None and alone.deadline == date(2022, 3, 20)
    assert alone.notes == (Note.CITED_DOCUMENT_DEADLINE,)


def test_plan_without_reference_is_not_a_cited_document() -> None:
    """"Theo kế hoạch, ..." cites no document: its date is the unit's, without a note."""
    got = suggest_deadline("Theo kế hoạch, hoàn thành trước ngày 30/6/2022.", DOC, CAL)
    assert got is not None and (got.deadline, got.notes) == (date(2022, 6, 30), ())


def test_superiors_step_after_de_is_not_the_units() -> None:
    """"..., để UBND tỉnh báo cáo Bộ ... trước ngày ..." is the superior's date, not the unit's."""
    got = suggest_deadline(
        "Sở Tài chính báo cáo UBND tỉnh trước ngày 20/3/2022 để UBND tỉnh báo cáo Bộ Tài chính "
        "trước ngày 18/3/2022.",
        DOC,
        CAL,
    )
    assert got is not None and got.deadline == date(2022, 3, 20)


def test_receipt_date_assumed_is_noted_in_both_languages() -> None:
    """Counting "kể từ ngày nhận được văn bản" from the document date says so, vi and en."""
    got = suggest_deadline(
        "Trong thời hạn 07 ngày làm việc kể từ ngày nhận được văn bản, Sở Y tế có ý kiến.", DOC, CAL
    )
    assert got is not None and got.deadline == date(2022, 3, 21)
    assert got.notes == (Note.RECEIPT_DATE_ASSUMED,)
    assert "ngày nhận được" in note_text(Note.RECEIPT_DATE_ASSUMED)
    assert "received" in note_text(Note.RECEIPT_DATE_ASSUMED, "en")
    signed = suggest_deadline("Trong 05 ngày làm việc kể từ ngày ký, Sở Y tế báo cáo.", DOC, CAL)
    assert signed is not None and signed.notes == ()


@pytest.mark.parametrize("note", list(Note))
def test_every_note_has_both_texts(note: Note) -> None:
    """Each note code has a Vietnamese and an English text."""
    assert note_text(note, "vi") and note_text(note, "en")
    assert note_text(note, "vi") != note_text(note, "en")


@pytest.mark.parametrize(
    ("text", "deadline", "recurrence"),
    [
        pytest.param("Tổ chức trong tháng sáu.", None, None, id="thang-sau-is-june-not-next"),
        pytest.param("So Tai chinh hoan thanh trong thang sau.", date(2022, 4, 30), None,
                     id="plain-thang-sau-is-next-month"),
        pytest.param("Đoàn Hàn Quốc: ngày 25/3/2022 đến làm việc.", None, None,
                     id="han-quoc-is-not-a-deadline-label"),
        pytest.param("Mới tháng 3 đã hoàn thành 40% khối lượng.", None, None,
                     id="moi-is-not-moi"),
        pytest.param("Hạn hoàn thành: 30/6/2022.", date(2022, 6, 30), None,
                     id="han-label"),
    ],
)
def test_diacritics_tell_folded_words_apart(
    text: str, deadline: date | None, recurrence: str | None
) -> None:
    """Words that fold alike are told apart when written with diacritics."""
    got = suggest_deadline(text, DOC, CAL)
    assert (got.deadline if got else None, got.recurrence if got else None) == (
        deadline,
        recurrence,
    )


@pytest.mark.parametrize(
    ("text", "rule", "deadline"),
    [
        pytest.param(
            "Báo cáo hằng tháng trước ngày 20.", Recurrence("P1M", 1, 20, None, "trước ngày 20"),
            date(2022, 3, 20), id="monthly-day",
        ),
        pytest.param(
            "Định kỳ hằng quý (trước ngày 15 của tháng cuối quý), báo cáo UBND tỉnh.",
            Recurrence("P3M", 3, 15, None, "trước ngày 15 của tháng cuối quý"),
            date(2022, 3, 15), id="quarterly-last-month",
        ),
        pytest.param(
            "Trước 15 giờ thứ Năm hằng tuần, các đơn vị báo cáo.",
            Recurrence("P1W", None, None, 4, "Trước 15 giờ thứ Năm hằng tuần"),
            date(2022, 3, 10), id="weekly-thursday",
        ),
        pytest.param(
            "Báo cáo hằng quý trước ngày 20.", Recurrence("P3M", None, 20, None, "trước ngày 20"),
            None, id="quarterly-day-without-month-sets-no-date",
        ),
        pytest.param(
            "Sở Y tế báo cáo hằng tháng, hoàn thành đề án trước ngày 30/4.", Recurrence("P1M"),
            date(2022, 4, 30), id="dated-deadline-is-not-a-monthly-due-day",
        ),
        pytest.param(
            "Định kỳ hằng tháng, Sở Tài chính tổng hợp và báo cáo UBND tỉnh trước ngày 20.",
            Recurrence("P1M", 1, 20, None, "trước ngày 20"),
            date(2022, 3, 20), id="bare-day-binds-across-va",
        ),
        pytest.param(
            "Hoàn thành đề án trước ngày 30/4 và báo cáo hằng năm.", Recurrence("P1Y"),
            date(2022, 4, 30), id="va-separates-a-dated-deadline-from-the-recurrence",
        ),
    ],
)
def test_recurrence_due_point(text: str, rule: Recurrence, deadline: date | None) -> None:
    """The due point next to a recurrence is structured; the deadline is its first due date."""
    got = suggest_deadline(text, DOC, CAL)
    assert got is not None
    assert (got.recurrence_rule, got.deadline) == (rule, deadline)


def test_bare_day_without_recurrence_is_not_read() -> None:
    """"trước ngày 20" with no month and no recurrence names no date."""
    assert suggest_deadline("Các đơn vị báo cáo trước ngày 20.", DOC, CAL) is None


@pytest.mark.parametrize(
    ("rule", "start", "end", "expected"),
    [
        pytest.param(Recurrence("P1M", 1, 20), date(2022, 3, 10), date(2022, 5, 31),
                     [date(2022, 3, 20), date(2022, 4, 20), date(2022, 5, 20)], id="monthly"),
        pytest.param(Recurrence("P1M", 1, 31), date(2022, 2, 1), date(2022, 4, 30),
                     [date(2022, 2, 28), date(2022, 3, 31), date(2022, 4, 30)],
                     id="day-31-in-short-months"),
        pytest.param(Recurrence("P3M", 3, 15), date(2022, 3, 16), date(2022, 12, 31),
                     [date(2022, 6, 15), date(2022, 9, 15), date(2022, 12, 15)],
                     id="quarterly-last-month"),
        pytest.param(Recurrence("P3M", 1, 5), date(2022, 1, 1), date(2022, 6, 30),
                     [date(2022, 1, 5), date(2022, 4, 5)], id="quarterly-first-month"),
        pytest.param(Recurrence("P6M", 6, 15), date(2022, 1, 1), date(2023, 1, 1),
                     [date(2022, 6, 15), date(2022, 12, 15)], id="half-yearly"),
        pytest.param(Recurrence("P1Y", 12, 15), date(2022, 12, 16), date(2024, 12, 31),
                     [date(2023, 12, 15), date(2024, 12, 15)], id="yearly"),
        pytest.param(Recurrence("P3M"), date(2022, 3, 10), date(2022, 9, 30),
                     [date(2022, 3, 31), date(2022, 6, 30), date(2022, 9, 30)],
                     id="no-due-point-is-period-end"),
        pytest.param(Recurrence("P1W", due_weekday=5), date(2022, 3, 10), date(2022, 3, 25),
                     [date(2022, 3, 11), date(2022, 3, 18), date(2022, 3, 25)], id="weekly"),
        pytest.param(Recurrence("P3M", None, 20), date(2022, 1, 1), date(2022, 12, 31), [],
                     id="day-without-month-of-quarter"),
        pytest.param(Recurrence("P5M", 1, 1), date(2022, 1, 1), date(2022, 12, 31), [],
                     id="months-not-dividing-a-year"),
    ],
)
def test_recurrence_due_dates(
    rule: Recurrence, start: date, end: date, expected: list[date]
) -> None:
    """Due dates of periodic work lie on calendar-aligned periods at the stated due point."""
    assert rule.due_dates(start, end) == expected
    assert rule.first_due(start) == (expected[0] if expected else None)


def test_suggestion_json_shape() -> None:
    """`tasks show` JSON keeps the old keys and adds recurrence_rule, alternatives and notes."""
    got = suggest_deadline(
        "Định kỳ hằng tháng (trước ngày 20), báo cáo; trước ngày 15/3/2022 báo cáo lần đầu; "
        "trước ngày 18/3/2022 gửi số liệu.",
        DOC,
        CAL,
    )
    data = suggestion_json(got, "en")
    assert data is not None
    assert set(data) == {
        "deadline", "phrase", "recurrence", "recurrence_phrase", "kind", "recurrence_rule",
        "alternatives", "notes",
    }
    assert data["deadline"] == "2022-03-15"
    assert data["recurrence_rule"] == {
        "period": "P1M", "due_month": 1, "due_day": 20, "due_weekday": None,
        "due_phrase": "trước ngày 20",
    }
    assert data["alternatives"] == [
        {"deadline": "2022-03-18", "phrase": "trước ngày 18/3/2022", "kind": "date"}
    ]
    assert data["notes"] == [
        {"code": "conflicting_deadlines", "text": note_text(Note.CONFLICTING_DEADLINES, "en")}
    ]
    assert suggestion_json(None) is None


# -- issue 15: the word check that spares a pattern's scan of a text it cannot match -------------

# Texts with and without the words the patterns need: the cases above, the corpus, and the
# letters that match an ASCII letter of a pattern when case is ignored (İ ı ſ K).
_CORPUS_TEXTS = [
    str(case["text"])
    for case in tomllib.loads((DATA / "phrase_corpus.toml").read_text(encoding="utf-8"))["case"]
]
_TWIN_TEXTS = [
    "Báo cáo trước tháng 6/2022.".replace("a", "\u212a"),
    "BÁO CÁO TRƯỚC THÁNG 6/2022 VÀ QUÝ İİİ/2022; ĐỊNH KỲ HẰNG THÁNG".replace("N", "\u0131"),
    "Hoàn thành trong 05 ngày làm việc ſau khi nhận; định kỳ 03 tháng/lần",
]


def _patterns() -> list[tuple[re.Pattern[str], phrases._Needs]]:
    return [(r.pattern, r.needs) for r in phrases._RULES] + list(phrases._RECURRENCE_PATTERNS)


def _never_left_out(text: str) -> None:
    folded = FoldedText.of(text).folded
    words = phrases._Words.of(folded)
    for pattern, needs in _patterns():
        if pattern.search(folded) is not None:
            assert words.allow(needs), (pattern.pattern[:60], text)


@pytest.mark.parametrize("text", [c.values[0] for c in CASES] + _CORPUS_TEXTS + _TWIN_TEXTS)
def test_word_check_never_leaves_out_a_pattern_that_matches(text: str) -> None:
    """A pattern that matches a text is never left out by the check of the words it needs."""
    _never_left_out(text)


@given(
    words=st.lists(st.sampled_from([*WORDS, "İ", "ı", "ſ", "\u212a", "tuần", "lần"]), max_size=25)
)
def test_word_check_never_leaves_out_a_pattern_on_any_text(words: list[str]) -> None:
    """On any jumble of deadline words, a pattern that matches is never left out."""
    _never_left_out(" ".join(words))


def test_word_check_leaves_out_patterns_a_text_cannot_match() -> None:
    """A text without a digit, "tháng" or "năm" is not scanned by the patterns needing them."""
    words = phrases._Words.of(FoldedText.of("Triển khai thực hiện nghiêm túc chỉ đạo").folded)
    left_out = [r.kind for r in phrases._RULES if not words.allow(r.needs)]
    assert K.DATE in left_out and K.MONTH in left_out and K.YEAR in left_out
    twin = phrases._Words.of(FoldedText.of("Triển khai thực hiện \u017f").folded)
    assert all(twin.allow(r.needs) for r in phrases._RULES)
