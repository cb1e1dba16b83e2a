"""Labels of the Working Group's report, in Vietnamese (default) and English.

Every piece of text a report renderer prints comes from here, so a renderer never hard-codes a
word. Vietnamese is written with its full diacritics; English is a faithful translation for
readers outside the province. `label(key, lang)` raises `KeyError` naming the missing key, so a
typo fails a test instead of printing a key.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from connector.models import STATUS_LABELS, StatusCode, UnitKind

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = ("vi", "en")

_ROMAN = ("I", "II", "III", "IV", "V", "VI")

LABELS: dict[str, dict[Lang, str]] = {
    # -- report head -------------------------------------------------------------------------
    "default_title": {
        "vi": "Tình hình thực hiện nhiệm vụ do UBND tỉnh, Chủ tịch UBND tỉnh giao",
        "en": "Progress of the tasks assigned by the Provincial People's Committee and its "
        "Chairman",
    },
    "working_group": {
        "vi": "TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH",
        "en": "THE CHAIRMAN'S WORKING GROUP",
    },
    "working_group_name": {
        "vi": "Tổ công tác của Chủ tịch UBND tỉnh",
        "en": "the Chairman's Working Group",
    },
    "as_of": {"vi": "Tính đến ngày {date}", "en": "As of {date}"},
    "period": {"vi": "Kỳ báo cáo: {period}", "en": "Reporting period: {period}"},
    "unit_filter": {"vi": "Đơn vị: {unit}", "en": "Unit: {unit}"},
    "summary": {"vi": "Tổng hợp", "en": "Summary"},
    # -- the administrative document (Decree 30/2020/NĐ-CP) -----------------------------------
    "national_title": {
        "vi": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "en": "SOCIALIST REPUBLIC OF VIET NAM",
    },
    "motto": {"vi": "Độc lập - Tự do - Hạnh phúc", "en": "Independence - Freedom - Happiness"},
    "doc_number": {"vi": "Số: {number}/{symbol}", "en": "No. {number}/{symbol}"},
    "doc_date": {
        "vi": "ngày {day} tháng {month} năm {year}",
        "en": "{month_name} {day_plain}, {year}",
    },
    "doc_type": {"vi": "BÁO CÁO", "en": "REPORT"},
    "recipients": {"vi": "Nơi nhận:", "en": "Recipients:"},
    "signer_title": {"vi": "TỔ TRƯỞNG", "en": "HEAD OF THE WORKING GROUP"},
    "annex_attached": {
        "vi": "(Kèm theo Báo cáo số {number}/{symbol} ngày {date} của {body})",
        "en": "(Attached to Report No. {number}/{symbol} of {date} by {body})",
    },
    "annex_list": {
        "vi": "Danh mục chi tiết các nhiệm vụ tại {annexes} kèm theo.",
        "en": "The tasks are listed in {annexes} attached.",
    },
    "annex_list_names": {"vi": "Phụ lục", "en": "Annexes"},
    "closing": {
        "vi": "Trên đây là báo cáo tình hình thực hiện nhiệm vụ của {body}./.",
        "en": "This is the report of {body} on the progress of the assigned tasks.",
    },
    # -- the summary in prose ----------------------------------------------------------------
    "prose_scope": {
        "vi": "{period_cap}: tổng số {total} nhiệm vụ, giao cho {units} cơ quan, đơn vị "
        "({with_deadline} nhiệm vụ có thời hạn, {without_deadline} nhiệm vụ không có thời hạn).",
        "en": "{period_cap}: {total} tasks assigned to {units} units ({with_deadline} with a "
        "deadline, {without_deadline} without).",
    },
    "prose_done": {
        "vi": "Đã hoàn thành {done} nhiệm vụ: {on_time} nhiệm vụ đúng hạn, {late} nhiệm vụ quá "
        "hạn (trễ hạn), {no_deadline} nhiệm vụ không có thời hạn.",
        "en": "{done} completed: {on_time} on time, {late} late, {no_deadline} without a deadline.",
    },
    "prose_done_fold": {
        "vi": "Đã hoàn thành {done} nhiệm vụ: {on_time} nhiệm vụ đúng hạn (trong đó "
        "{no_deadline} nhiệm vụ không có thời hạn), {late} nhiệm vụ quá hạn (trễ hạn).",
        "en": "{done} completed: {on_time} on time (of which {no_deadline} without a "
        "deadline), {late} late.",
    },
    "prose_open": {
        "vi": "Đang thực hiện {open} nhiệm vụ: {within} nhiệm vụ trong hạn, {overdue} nhiệm vụ "
        "quá hạn (trong đó {over_30} nhiệm vụ quá hạn trên 30 ngày), {no_deadline} nhiệm vụ "
        "không có thời hạn (trong đó {stale} nhiệm vụ quá 3 tháng chưa báo cáo tiến độ).",
        "en": "{open} in progress: {within} within their deadline, {overdue} overdue (of "
        "which {over_30} by more than 30 days), {no_deadline} without a deadline (of which "
        "{stale} more than 3 months without a progress report).",
    },
    "prose_open_fold": {
        "vi": "Đang thực hiện {open} nhiệm vụ: {within} nhiệm vụ trong hạn (trong đó "
        "{no_deadline} nhiệm vụ không có thời hạn, {stale} nhiệm vụ quá 3 tháng chưa báo cáo "
        "tiến độ), {overdue} nhiệm vụ quá hạn (trong đó {over_30} nhiệm vụ quá hạn trên 30 "
        "ngày).",
        "en": "{open} in progress: {within} within their deadline (of which {no_deadline} "
        "without a deadline, {stale} more than 3 months without a progress report), {overdue} "
        "overdue (of which {over_30} by more than 30 days).",
    },
    "prose_rate": {
        "vi": "Tỷ lệ hoàn thành đúng hạn đạt {percent}% ({numerator}/{denominator}; cách tính: "
        "{rule}).",
        "en": "On-time rate: {percent}% ({numerator}/{denominator}; computed as {rule}).",
    },
    "prose_no_rate": {
        "vi": "Chưa tính được tỷ lệ hoàn thành đúng hạn (cách tính: {rule}; mẫu số bằng 0).",
        "en": "No on-time rate yet (computed as {rule}; the denominator is 0).",
    },
    "prose_unconfirmed": {
        "vi": "Có {n} nhiệm vụ đơn vị chủ trì chưa xác nhận tình trạng thực hiện.",
        "en": "{n} tasks await the lead unit's confirmation of their status.",
    },
    "prose_table": {
        "vi": "Số liệu cụ thể của từng cơ quan, đơn vị như sau:",
        "en": "The figures of each unit:",
    },
    # -- periods -----------------------------------------------------------------------------
    "period_month": {
        "vi": "tháng {month:02d}/{year} ({which})",
        "en": "{month_name} {year} ({which})",
    },
    "period_quarter": {
        "vi": "quý {roman}/{year} ({which})",
        "en": "Q{quarter} {year} ({which})",
    },
    "period_year": {"vi": "năm {year} ({which})", "en": "{year} ({which})"},
    "period_range": {
        "vi": "từ ngày {start} đến ngày {end} ({which})",
        "en": "{start} to {end} ({which})",
    },
    "period_to_date": {
        "vi": "lũy kế đến ngày {date} ({which})",
        "en": "cumulative to {date} ({which})",
    },
    "period_open": {
        "vi": "các nhiệm vụ đang thực hiện tại ngày {date}",
        "en": "tasks open on {date}",
    },
    "unit_month": {"vi": "tháng", "en": "month"},
    "unit_quarter": {"vi": "quý", "en": "quarter"},
    "unit_year": {"vi": "năm", "en": "year"},
    "unit_range": {"vi": "kỳ", "en": "period"},
    "basis_assigned": {"vi": "nhiệm vụ giao trong {unit}", "en": "tasks assigned in the {unit}"},
    "basis_completed": {
        "vi": "nhiệm vụ hoàn thành trong {unit}",
        "en": "tasks completed in the {unit}",
    },
    "basis_due": {"vi": "nhiệm vụ đến hạn trong {unit}", "en": "tasks due in the {unit}"},
    "basis_to_date_assigned": {
        "vi": "toàn bộ nhiệm vụ đã giao",
        "en": "every task assigned",
    },
    "basis_to_date_completed": {
        "vi": "toàn bộ nhiệm vụ đã hoàn thành",
        "en": "every task completed",
    },
    "basis_to_date_due": {
        "vi": "toàn bộ nhiệm vụ đã đến hạn",
        "en": "every task due",
    },
    # -- column groups and columns -----------------------------------------------------------
    "col_no": {"vi": "STT", "en": "No."},
    "col_unit": {"vi": "Đơn vị", "en": "Unit"},
    "group_assigned": {"vi": "Tổng số nhiệm vụ được giao", "en": "Tasks assigned"},
    "group_done": {"vi": "Đã hoàn thành", "en": "Completed"},
    "group_open": {"vi": "Đang thực hiện", "en": "In progress"},
    "col_total": {"vi": "Tổng số", "en": "Total"},
    "col_with_deadline": {"vi": "Có thời hạn", "en": "With deadline"},
    "col_without_deadline": {"vi": "Không có thời hạn", "en": "No deadline"},
    "col_done_on_time": {"vi": "Đúng hạn", "en": "On time"},
    "col_done_on_time_fold": {
        "vi": "Đúng hạn (kể cả không có thời hạn)",
        "en": "On time (incl. without deadline)",
    },
    "col_done_late": {"vi": "Quá hạn (trễ hạn)", "en": "Late"},
    "col_done_no_deadline": {"vi": "Không có thời hạn", "en": "No deadline"},
    "col_done_no_deadline_fold": {
        "vi": "Trong đó: không có thời hạn",
        "en": "Of which: without deadline",
    },
    "col_open_within": {"vi": "Trong hạn", "en": "Within deadline"},
    "col_open_within_fold": {
        "vi": "Trong hạn (kể cả không có thời hạn)",
        "en": "Within deadline (incl. without deadline)",
    },
    "col_open_overdue": {"vi": "Quá hạn", "en": "Overdue"},
    "col_open_overdue_30": {
        "vi": "Trong đó: quá hạn trên 30 ngày",
        "en": "Of which: overdue > 30 days",
    },
    "col_open_no_deadline": {"vi": "Không có thời hạn", "en": "No deadline"},
    "col_open_no_deadline_fold": {
        "vi": "Trong đó: không có thời hạn",
        "en": "Of which: without deadline",
    },
    "col_open_stale": {
        "vi": "Trong đó: quá 3 tháng chưa báo cáo",
        "en": "Of which: > 3 months without a report",
    },
    "col_rate": {"vi": "Tỷ lệ đúng hạn (%)", "en": "On-time rate (%)"},
    "col_unconfirmed": {"vi": "Chưa xác nhận", "en": "Unconfirmed"},
    "col_code": {"vi": "Mã đơn vị", "en": "Unit code"},
    "col_cancelled": {"vi": "Đã thu hồi / hủy", "en": "Withdrawn / cancelled"},
    "col_source_id": {"vi": "Mã nhiệm vụ", "en": "Task id"},
    "total_row": {"vi": "TỔNG CỘNG", "en": "TOTAL"},
    "no_unit": {"vi": "(chưa xác định đơn vị chủ trì)", "en": "(no lead unit)"},
    "no_data": {"vi": "Không có nhiệm vụ nào trong phạm vi báo cáo.", "en": "No task in scope."},
    # -- unit kinds (group headings) ----------------------------------------------------------
    "kind_department": {"vi": "Sở, ban, ngành", "en": "Departments and agencies"},
    "kind_district": {
        "vi": "UBND các huyện, thị xã, thành phố",
        "en": "District People's Committees",
    },
    "kind_central": {"vi": "Cơ quan Trung ương đóng trên địa bàn", "en": "Central agencies"},
    "kind_office": {"vi": "Văn phòng", "en": "Offices"},
    "kind_other": {"vi": "Đơn vị khác", "en": "Other units"},
    # -- notes -------------------------------------------------------------------------------
    "rate_done": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn / tổng số đã hoàn thành có thời hạn",
        "en": "On-time rate = completed on time / all completed tasks that had a deadline",
    },
    "rate_done_fold": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn (kể cả không có thời hạn) / "
        "tổng số đã hoàn thành",
        "en": "On-time rate = completed on time (incl. without deadline) / all completed tasks",
    },
    "rate_due": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn / số nhiệm vụ đã đến hạn "
        "(đã hoàn thành có thời hạn và đang thực hiện quá hạn)",
        "en": "On-time rate = completed on time / tasks due by the as-of date "
        "(completed with a deadline, and open past their deadline)",
    },
    "rate_due_fold": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn (kể cả không có thời hạn) / "
        "số nhiệm vụ đã đến hạn (đã hoàn thành và đang thực hiện quá hạn)",
        "en": "On-time rate = completed on time (incl. without deadline) / tasks due by the "
        "as-of date (all completed, and open past their deadline)",
    },
    "rate_all": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn / tổng số nhiệm vụ được giao",
        "en": "On-time rate = completed on time / all tasks assigned",
    },
    "rate_all_fold": {
        "vi": "Tỷ lệ đúng hạn = số hoàn thành đúng hạn (kể cả không có thời hạn) / "
        "tổng số nhiệm vụ được giao",
        "en": "On-time rate = completed on time (incl. without deadline) / all tasks assigned",
    },
    "fold_note": {
        "vi": "Cách tính: nhiệm vụ hoàn thành không có thời hạn được tính là đúng hạn; "
        "nhiệm vụ đang thực hiện không có thời hạn được tính là trong hạn.",
        "en": "Counting: tasks completed without a deadline count as on time; open tasks "
        "without a deadline count as within deadline.",
    },
    "cancelled_note": {
        "vi": "Nhiệm vụ đã thu hồi / hủy (không tính vào các số liệu trên): {n}",
        "en": "Withdrawn / cancelled tasks (excluded from every figure above): {n}",
    },
    "undated_note": {
        "vi": "Nhiệm vụ không xác định được ngày giao (không tính vào kỳ báo cáo): {n}",
        "en": "Tasks without an assignment date (left out of the period): {n}",
    },
    "unreadable_note": {
        "vi": "Nhiệm vụ có dữ liệu không hợp lệ (không tính vào báo cáo, xem nhật ký): {n}",
        "en": "Tasks with invalid data (left out of the report, see the log): {n}",
    },
    "rate_na": {"vi": "—", "en": "—"},
    # -- annexes -----------------------------------------------------------------------------
    "annex": {"vi": "Phụ lục {n}", "en": "Annex {n}"},
    "annex_overdue": {
        "vi": "Danh mục nhiệm vụ quá hạn, còn tồn đọng",
        "en": "Open tasks past their deadline",
    },
    "annex_late": {
        "vi": "Danh mục nhiệm vụ hoàn thành quá hạn",
        "en": "Tasks completed late",
    },
    "annex_stale": {
        "vi": "Danh mục nhiệm vụ không có thời hạn quá 3 tháng chưa báo cáo",
        "en": "Tasks without deadline, more than 3 months without a report",
    },
    "annex_missing": {
        "vi": "Danh mục nhiệm vụ giao không có thời hạn hoàn thành",
        "en": "Assignments without a completion deadline",
    },
    "annex_sheet_overdue": {"vi": "PL I Quá hạn", "en": "Annex I Overdue"},
    "annex_sheet_late": {"vi": "PL II Hoàn thành trễ", "en": "Annex II Late"},
    "annex_sheet_stale": {"vi": "PL III Không hạn quá 3 tháng", "en": "Annex III Stale"},
    "annex_sheet_missing": {"vi": "PL IV Thiếu thời hạn", "en": "Annex IV Missing deadline"},
    "annex_empty": {"vi": "Không có.", "en": "None."},
    "more_rows": {
        "vi": "… và {n} nhiệm vụ khác (xem bản docx, xlsx, html hoặc json)",
        "en": "… and {n} more (see the docx, xlsx, html or json output)",
    },
    "a_sign_number": {"vi": "Số ký hiệu", "en": "Reference"},
    "a_subject": {"vi": "Trích yếu", "en": "Subject"},
    "a_content": {"vi": "Nội dung chỉ đạo", "en": "Directive"},
    "a_progress": {"vi": "Tiến độ (%)", "en": "Progress (%)"},
    "a_notes": {"vi": "Nguyên nhân / ghi chú", "en": "Reason / notes"},
    "a_unit": {"vi": "Đơn vị chủ trì", "en": "Lead unit"},
    "a_doc_date": {"vi": "Ngày văn bản", "en": "Document date"},
    "a_assigned_on": {"vi": "Ngày giao", "en": "Assigned on"},
    "a_original_deadline": {"vi": "Thời hạn ban đầu", "en": "Original deadline"},
    "a_deadline": {"vi": "Thời hạn hiện tại", "en": "Current deadline"},
    "a_eff_due": {"vi": "Hạn xử lý (đã lùi qua ngày nghỉ)", "en": "Due (moved past days off)"},
    "a_days_overdue": {"vi": "Số ngày quá hạn", "en": "Days overdue"},
    "a_extended": {"vi": "Đã gia hạn", "en": "Extended"},
    "a_confirmed": {"vi": "Đã xác nhận", "en": "Confirmed"},
    "a_completed_on": {"vi": "Ngày hoàn thành", "en": "Completed on"},
    "a_days_late": {"vi": "Số ngày trễ", "en": "Days late"},
    "a_last_report": {"vi": "Báo cáo gần nhất", "en": "Last report"},
    "a_idle_days": {"vi": "Số ngày chưa báo cáo", "en": "Days without a report"},
    "a_status": {"vi": "Tình trạng", "en": "Status"},
    "a_suggested_deadline": {"vi": "Thời hạn đề xuất", "en": "Suggested deadline"},
    "a_suggested_phrase": {"vi": "Căn cứ (trích nội dung)", "en": "Based on (quoted text)"},
    "a_recurrence": {"vi": "Định kỳ", "en": "Recurrence"},
    # -- notes on a deadline read from text (connector.rules.phrases.Note) -------------------------
    "phrase_note_receipt_date_assumed": {
        "vi": "Thời hạn tính từ ngày nhận được văn bản; ngày nhận được tạm lấy là ngày văn bản.",
        "en": "The period runs from the day the document is received; the document date was "
        "taken as that day.",
    },
    "phrase_note_conflicting_deadlines": {
        "vi": "Văn bản nêu nhiều thời hạn khác nhau; đã chọn thời hạn gắn với việc của đơn vị "
        "được giao, cụ thể nhất (xem các thời hạn khác).",
        "en": "The text states several different deadlines; the one bound to the assigned "
        "unit's action, the most specific, was chosen (see the alternatives).",
    },
    "phrase_note_cited_document_deadline": {
        "vi": "Thời hạn lấy từ văn bản được viện dẫn, không phải thời hạn giao riêng cho đơn vị.",
        "en": "The deadline is the cited document's, not one set for the unit.",
    },
    "yes": {"vi": "Có", "en": "Yes"},
    "no": {"vi": "Không", "en": "No"},
    "estimated": {"vi": "(ước tính)", "en": "(estimated)"},
    "chart_title": {
        "vi": "Hoàn thành đúng hạn, hoàn thành trễ hạn và quá hạn theo đơn vị",
        "en": "On time, late and overdue by unit",
    },
    "chart_on_time": {"vi": "Hoàn thành đúng hạn", "en": "Completed on time"},
    "chart_late": {"vi": "Hoàn thành trễ hạn", "en": "Completed late"},
    "chart_overdue": {"vi": "Quá hạn, còn tồn đọng", "en": "Open, overdue"},
}

DEFAULT_RECIPIENTS: dict[Lang, tuple[str, ...]] = {
    "vi": ("Chủ tịch UBND tỉnh (để báo cáo)", "Lưu: VT, TCT"),
    "en": ("The Chairman of the Provincial People's Committee (for information)", "File: TCT"),
}
"""The "Nơi nhận:" list when the settings keep theirs (the Vietnamese one is the default)."""

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def check_lang(lang: str) -> Lang:
    """`lang` as a `Lang`; `ValueError` naming the valid ones otherwise."""
    if lang == "vi":
        return "vi"
    if lang == "en":
        return "en"
    raise ValueError(f"unknown language {lang!r}; valid: {', '.join(LANGS)}")


def label(key: str, lang: Lang = "vi", **values: object) -> str:
    """The text of `key` in `lang`, with `{placeholders}` filled from `values`."""
    try:
        text = LABELS[key][lang]
    except KeyError:
        raise KeyError(f"no report label {key!r} in {lang!r}") from None
    return text.format(**values) if values else text


def fmt_date(day: date | None, lang: Lang = "vi") -> str:
    """A date as reports print it: dd/mm/yyyy in Vietnamese, ISO 8601 in English; "" for None."""
    if day is None:
        return ""
    if lang == "vi":
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return day.isoformat()


def yes_no(value: bool, lang: Lang = "vi") -> str:
    """ "Có"/"Không" (Yes/No)."""
    return label("yes" if value else "no", lang)


def status_label(status: StatusCode, lang: Lang = "vi") -> str:
    """The official label of a status code (connector.models.STATUS_LABELS)."""
    return STATUS_LABELS[status][lang]


def kind_label(kind: UnitKind | None, lang: Lang = "vi") -> str:
    """Heading of a group of units of one kind; `None` is "other units"."""
    return label(f"kind_{kind.value}" if kind is not None else "kind_other", lang)


def roman(number: int) -> str:
    """I, II, III, … VI (quarters and group numbers in Vietnamese reports)."""
    if 1 <= number <= len(_ROMAN):
        return _ROMAN[number - 1]
    return str(number)


_RECURRENCE_UNITS: dict[str, tuple[str, str]] = {
    "D": ("ngày", "day"),
    "W": ("tuần", "week"),
    "M": ("tháng", "month"),
    "Y": ("năm", "year"),
}


def recurrence_text(iso: str, lang: Lang = "vi") -> str:
    """An ISO 8601 period ("P3M") in words: "định kỳ 3 tháng/lần" / "every 3 months".

    Anything else is returned as it is.
    """
    body = iso[1:] if iso.startswith("P") else ""
    number, unit = body[:-1], body[-1:]
    if not number.isdigit() or unit not in _RECURRENCE_UNITS:
        return iso
    vi, en = _RECURRENCE_UNITS[unit]
    n = int(number)
    if lang == "vi":
        return f"định kỳ {n} {vi}/lần"
    return f"every {en}" if n == 1 else f"every {n} {en}s"


def month_name(month: int) -> str:
    """English month name."""
    return _MONTHS_EN[month - 1]
