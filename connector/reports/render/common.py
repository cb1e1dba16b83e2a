"""What every report renderer shares: the summary's columns, its lines, the annexes' columns.

A renderer walks `summary_lines(report)` (group headings, unit rows, the total row) and prints
each `SUMMARY_COLUMNS` cell; for each annex it walks `annexes(report)` and prints each
`AnnexColumn`. Cells are raw values (int, `Decimal`, `date`, bool, str, None); `cell_text`
turns one into the text a person reads, the xlsx writer keeps numbers and dates typed.

A task's text comes from the source as it was typed or pasted, control characters included;
the Word and Excel files are XML, which cannot hold most of them, so those renderers write each
text through `printable`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connector.i18n import (
    DEFAULT_RECIPIENTS,
    Lang,
    fmt_date,
    kind_label,
    label,
    month_name,
    occurrence_label,
    period_text,
    recurrence_text,
    roman,
    yes_no,
)
from connector.i18n import status_label as _status_label
from connector.models import StatusCode, UnitKind
from connector.reports.model import (
    Counts,
    ExtensionEntry,
    LateEntry,
    MissingEntry,
    OverdueEntry,
    RecurringEntry,
    Report,
    StaleEntry,
    TaskRef,
    UnitLine,
)
from connector.reports.render.lines import (  # re-exported: the renderers take them from here
    LINE_JOINER as LINE_JOINER,  # noqa: PLC0414
)
from connector.reports.render.lines import one_line as one_line  # noqa: PLC0414
from connector.reports.render.lines import text_lines as text_lines  # noqa: PLC0414

Cell = int | Decimal | date | bool | str | None

ANNEX_LIMIT = 50
"""Tasks shown per annex on a terminal; the files (xlsx, html, json, csv, md) list them all."""


@dataclass(frozen=True)
class SummaryColumn:
    """One figure column of the summary table."""

    key: str
    """Stable English name (the JSON key path, the CSV's machine name)."""
    group: str | None
    """Label key of the merged group header above it, or None for a stand-alone column."""
    label_key: str
    fold_label_key: str | None
    value: Callable[[Counts], int | Decimal | None]

    def label(self, lang: Lang, fold: bool) -> str:
        key = self.fold_label_key if fold and self.fold_label_key else self.label_key
        return label(key, lang)


SUMMARY_COLUMNS: tuple[SummaryColumn, ...] = (
    SummaryColumn("total", "group_assigned", "col_total", None, lambda c: c.total),
    SummaryColumn(
        "with_deadline", "group_assigned", "col_with_deadline", None, lambda c: c.with_deadline
    ),
    SummaryColumn(
        "without_deadline",
        "group_assigned",
        "col_without_deadline",
        None,
        lambda c: c.without_deadline,
    ),
    SummaryColumn(
        "done.on_time",
        "group_done",
        "col_done_on_time",
        "col_done_on_time_fold",
        lambda c: c.done_on_time,
    ),
    SummaryColumn("done.late", "group_done", "col_done_late", None, lambda c: c.done_late),
    SummaryColumn(
        "done.no_deadline",
        "group_done",
        "col_done_no_deadline",
        "col_done_no_deadline_fold",
        lambda c: c.done_no_deadline,
    ),
    SummaryColumn(
        "open.within_deadline",
        "group_open",
        "col_open_within",
        "col_open_within_fold",
        lambda c: c.open_within,
    ),
    SummaryColumn("open.overdue", "group_open", "col_open_overdue", None, lambda c: c.open_overdue),
    SummaryColumn(
        "open.overdue_over_30",
        "group_open",
        "col_open_overdue_30",
        None,
        lambda c: c.open_overdue_over_30,
    ),
    SummaryColumn(
        "open.no_deadline",
        "group_open",
        "col_open_no_deadline",
        "col_open_no_deadline_fold",
        lambda c: c.open_no_deadline,
    ),
    SummaryColumn(
        "open.no_deadline_stale",
        "group_open",
        "col_open_stale",
        None,
        lambda c: c.open_no_deadline_stale,
    ),
    SummaryColumn("on_time_rate.percent", None, "col_rate", None, lambda c: c.rate.percent),
    SummaryColumn("unconfirmed", None, "col_unconfirmed", None, lambda c: c.unconfirmed),
)


def summary_value(column: SummaryColumn, counts: Counts) -> Cell:
    """The cell of `column` for `counts`; a rate that cannot be computed reads "—"."""
    value = column.value(counts)
    if value is None and column.key == "on_time_rate.percent":
        return label("rate_na", "vi")
    return value


def column_groups(
    columns: Sequence[SummaryColumn] = SUMMARY_COLUMNS,
) -> list[tuple[str | None, int]]:
    """Consecutive runs of columns under one group header: [(group label key, width), ...]."""
    runs: list[tuple[str | None, int]] = []
    for column in columns:
        if runs and column.group is not None and runs[-1][0] == column.group:
            runs[-1] = (column.group, runs[-1][1] + 1)
        else:
            runs.append((column.group, 1))
    return runs


SOFT_HYPHEN = "\u00ad"

_HEADER_BREAKS = {
    "deadline": "dead·line",
    "overdue": "over·due",
    "Overdue": "Over·due",
    "Unconfirmed": "Un·con·firmed",
    "without": "with·out",
}
"""The words of the summary header's English labels that are wider than a figure column of the
printed table (about 8 mm at 7.5 pt), with their syllable breaks ("·"). Vietnamese syllables
are short: its labels need none."""

_HEADER_WORD = re.compile(r"[A-Za-z]+")


def header_label(text: str, lang: Lang) -> str:
    """A summary column's label as a printed header cell shows it: in English, with soft hyphens
    (U+00AD) at the syllable breaks of its long words, where Word, LibreOffice and browsers may
    break the line, printing a hyphen; left alone they cut a word anywhere ("deadli" / "ne",
    "Uncon" / "firmed"). CSV, Markdown and the terminal keep the label as it is."""
    if lang != "en":
        return text
    return _HEADER_WORD.sub(
        lambda word: _HEADER_BREAKS.get(word.group(), word.group()).replace("·", SOFT_HYPHEN),
        text,
    )


@dataclass(frozen=True)
class Line:
    """One line of the summary: a group heading, a unit's row, or the total row."""

    kind: str  # "group" | "unit" | "total"
    number: str
    """STT: "1", "2", … for units; "I", "II", … for group headings; "" for the total."""
    name: str
    counts: Counts | None = None
    unit_kind: UnitKind | None = None


def unit_text(report: Report, row: UnitLine) -> str:
    """A row's unit as the summary shows it: its name; over several sources followed by the
    source(s) its tasks come from, "Văn phòng UBND tỉnh [gialai]" (the source as a column in
    JSON and CSV)."""
    if not report.sources:
        return row.name
    where = row.source or "+".join(row.sources)
    return f"{row.name} [{where}]" if where else row.name


def summary_lines(report: Report, lang: Lang) -> Iterator[Line]:
    """Group headings (only when rows of more than one kind are shown), unit rows, total."""
    kinds: list[UnitKind | None] = []
    for row in report.rows:
        if not kinds or kinds[-1] != row.kind:
            kinds.append(row.kind)
    headed = len(kinds) > 1
    group_no = 0
    unit_no = 0
    current: UnitKind | str | None = "-"
    for row in report.rows:
        if headed and row.kind != current:
            group_no += 1
            unit_no = 0
            current = row.kind
            yield Line("group", roman(group_no), kind_label(row.kind, lang), unit_kind=row.kind)
        unit_no += 1
        yield Line("unit", str(unit_no), unit_text(report, row), row.counts, row.kind)
    yield Line("total", "", label("total_row", lang), report.total)


def percent_text(value: Decimal | None, lang: Lang) -> str:
    """87,4 (vi) / 87.4 (en); "—" when there is no rate."""
    if value is None:
        return label("rate_na", lang)
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""What XML 1.0 cannot hold: the control characters but tab, line feed and carriage return; a
lone surrogate; the noncharacters U+FFFE and U+FFFF. Also DEL and the C1 controls, which XML
holds but no document should (U+009B is the 8-bit CSI a terminal runs as ESC [)."""
_LINE_BREAKS = {"\x0b": "\n", "\x0c": "\n", "\x85": "\n"}
"""A vertical tab is the line break a word processor's Shift+Enter pastes; a form feed its
page break; U+0085 (NEL) the C1 "next line"."""


def _replacement(found: re.Match[str]) -> str:
    char = found.group()
    if char in _LINE_BREAKS:
        return _LINE_BREAKS[char]
    return "" if char < " " or "\x7f" <= char <= "\x9f" else "\ufffd"


def printable(text: str) -> str:
    """`text` as an XML document can hold it (`_UNPRINTABLE`): a vertical tab or a form feed
    as a line break, any other control character left out, a lone surrogate or a
    noncharacter as U+FFFD (the replacement character, seen where something was)."""
    return _UNPRINTABLE.sub(_replacement, text)


def cell_text(value: Cell, lang: Lang) -> str:
    """A cell as text: dates dd/mm/yyyy (vi) or ISO (en), booleans Có/Không, None empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes_no(value, lang)
    if isinstance(value, Decimal):
        return percent_text(value, lang)
    if isinstance(value, date):
        return fmt_date(value, lang)
    return str(value)


def notes(report: Report, lang: Lang) -> list[str]:
    """The lines printed under the summary: the rate's rule, the fold rule, counts left out,
    what "unconfirmed" counts."""
    out = [report.denominator_text(lang)]
    if report.fold:
        out.append(label("fold_note", lang))
    out.append(label("cancelled_note", lang, n=report.cancelled))
    out.append(label("unconfirmed_note", lang, date=fmt_date(report.confirmation_since, lang)))
    if report.undated:
        out.append(label("undated_note", lang, n=report.undated))
    if report.unreadable:
        out.append(label("unreadable_note", lang, n=report.unreadable))
    return out


def fmt_int(value: int, lang: Lang) -> str:
    """A count with its thousands separated: 1.387 (vi), 1,387 (en)."""
    text = f"{value:,}"
    return text.replace(",", ".") if lang == "vi" else text


def head_lines(report: Report, lang: Lang) -> list[str]:
    """Period, unit filter and as-of lines under the title."""
    out = [label("period", lang, period=report.period_label(lang))]
    if report.options.unit is not None:
        name = report.rows[0].name if report.rows else report.options.unit
        out.append(label("unit_filter", lang, unit=name))
    out.append(label("as_of", lang, date=fmt_date(report.as_of, lang)))
    return out


# -- the administrative document (Decree 30/2020/NĐ-CP) --------------------------------------

NUMBER_BLANK = "\u00a0" * 8
"""Room left for the number the văn thư writes at signing ("Số:        /BC-TCT")."""


def decree_date(day: date, lang: Lang) -> str:
    """ "ngày 05 tháng 02 năm 2022", "ngày 30 tháng 5 năm 2022" (Decree 30: a day below 10 and
    the months 1 and 2 take a leading zero); "May 30, 2022" in English."""
    if lang == "en":
        return label(
            "doc_date", lang, month_name=month_name(day.month), day_plain=day.day, year=day.year
        )
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return label("doc_date", lang, day=f"{day.day:02d}", month=month, year=day.year)


def _recipient_lines(items: Sequence[str]) -> tuple[str, ...]:
    """ "- A;" … "- Z." as a Vietnamese "Nơi nhận:" list is punctuated."""
    out: list[str] = []
    for index, raw in enumerate(items):
        text = raw.strip().lstrip("-").strip().rstrip(";.")
        if not text:
            continue
        out.append(f"- {text}" + ("." if index == len(items) - 1 else ";"))
    return tuple(out)


@dataclass(frozen=True)
class DocumentText:
    """Every fixed line of the report as an administrative document, in one language."""

    governing_body: str
    """ "UBND TỈNH BÌNH ĐỊNH", or "" (the issuing body stands alone)."""
    issuing_body: str
    reference: str
    """ "Số: 45/BC-TCT" (a blank left for the number when none is set)."""
    national_title: str
    motto: str
    place_date: str
    doc_type: str
    subject: str
    recipients_heading: str
    recipients: tuple[str, ...]
    signer_authority: str
    signer_title: str
    signer_name: str
    annex_attached: str
    """ "(Kèm theo Báo cáo số 45/BC-TCT ngày 30/05/2022 của Tổ công tác …)" under an annex."""
    closing: str

    @property
    def heading_first_line(self) -> str:
        """The first line of the heading's left column."""
        return self.governing_body or self.issuing_body


def document_text(report: Report, lang: Lang) -> DocumentText:
    """The document's fixed lines from the report's `DocumentForm` (settings ``[report]``);
    a form field left ``None`` gives the standard text in `lang`."""
    form = report.form
    body = form.issuing_body if form.issuing_body is not None else label("working_group", lang)
    body_name = (
        form.issuing_body_name
        if form.issuing_body_name is not None
        else label("working_group_name", lang)
    )
    number = form.number.strip() or NUMBER_BLANK
    when = decree_date(report.as_of, lang)
    place = form.place.strip()
    place_date = f"{place}, {when}" if place else when[:1].upper() + when[1:]
    recipients = form.recipients if form.recipients is not None else DEFAULT_RECIPIENTS[lang]
    title = form.signer_title if form.signer_title is not None else label("signer_title", lang)
    return DocumentText(
        governing_body=report.issuer.strip(),
        issuing_body=body,
        reference=label("doc_number", lang, number=number, symbol=form.symbol),
        national_title=label("national_title", lang),
        motto=label("motto", lang),
        place_date=place_date,
        doc_type=label("doc_type", lang),
        subject=report.title,
        recipients_heading=label("recipients", lang),
        recipients=_recipient_lines(recipients),
        signer_authority=form.signer_authority.strip(),
        signer_title=title,
        signer_name=form.signer_name.strip(),
        annex_attached=label(
            "annex_attached",
            lang,
            number=number,
            symbol=form.symbol,
            date=fmt_date(report.as_of, lang),
            body=body_name,
        ),
        closing=label("closing", lang, body=body_name),
    )


def prose(report: Report, lang: Lang) -> list[str]:
    """The body's summary in sentences (one paragraph each), with the figures of the total row:
    what the report covers, what is done, what is open, the on-time rate, what is unconfirmed.
    """
    t = report.total

    def n(value: int) -> str:
        return fmt_int(value, lang)

    period = report.period_label(lang)
    units = sum(1 for row in report.rows if row.counts.total)
    out = [
        label(
            "prose_scope",
            lang,
            period_cap=period[:1].upper() + period[1:],
            total=n(t.total),
            units=n(units),
            with_deadline=n(t.with_deadline),
            without_deadline=n(t.without_deadline),
        )
    ]
    suffix = "_fold" if report.fold else ""
    out.append(
        label(
            "prose_done" + suffix,
            lang,
            done=n(t.done_on_time + t.done_late + (0 if report.fold else t.done_no_deadline)),
            on_time=n(t.done_on_time),
            late=n(t.done_late),
            no_deadline=n(t.done_no_deadline),
        )
    )
    out.append(
        label(
            "prose_open" + suffix,
            lang,
            open=n(t.open_within + t.open_overdue + (0 if report.fold else t.open_no_deadline)),
            within=n(t.open_within),
            overdue=n(t.open_overdue),
            over_30=n(t.open_overdue_over_30),
            no_deadline=n(t.open_no_deadline),
            stale=n(t.open_no_deadline_stale),
        )
    )
    rule = report.denominator_text(lang).partition(" = ")[2]
    if t.rate.percent is None:
        out.append(label("prose_no_rate", lang, rule=rule))
    else:
        out.append(
            label(
                "prose_rate",
                lang,
                percent=percent_text(t.rate.percent, lang),
                numerator=n(t.rate.numerator),
                denominator=n(t.rate.denominator),
                rule=rule,
            )
        )
    if t.without_deadline:
        out.append(
            label(
                "prose_no_deadline_kinds",
                lang,
                without=n(t.without_deadline),
                product=n(t.without_deadline_product),
                routine=n(t.without_deadline_routine),
            )
        )
    if t.extended_after_overdue:
        number = next(a.number for a in annexes(report) if a.name == "extended_after_overdue")
        out.append(
            label(
                "prose_extended_after_overdue",
                lang,
                n=n(t.extended_after_overdue),
                annex=roman(number),
            )
        )
    if t.unconfirmed:
        out.append(label("prose_unconfirmed", lang, n=n(t.unconfirmed)))
    occ = t.occurrences
    if occ.total:
        number = next(a.number for a in annexes(report) if a.name == "recurring")
        out.append(
            label(
                "prose_recurring",
                lang,
                tasks=n(t.recurring),
                total=n(occ.total),
                on_time=n(occ.on_time),
                late=n(occ.late),
                overdue=n(occ.overdue),
                pending=n(occ.pending),
                annex=roman(number),
            )
        )
    return out


def annex_list_sentence(report: Report, lang: Lang) -> str:
    """ "Danh mục chi tiết các nhiệm vụ tại Phụ lục I, II, III, IV kèm theo." """
    numbers = ", ".join(roman(a.number) for a in annexes(report))
    return label("annex_list", lang, annexes=f"{label('annex_list_names', lang)} {numbers}")


# -- annexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnexColumn:
    label_key: str
    value: Callable[[Any, Lang], Cell]
    width: int = 14
    """Width in characters (xlsx, where the sheet is then fit to the page's width)."""
    wrap: bool = False
    fill_in: bool = False
    """An empty column for the unit to fill in on paper or in Word ("Nguyên nhân / ghi chú"):
    printed (xlsx, docx, html, md), left out of the data formats (json, csv, terminal)."""
    mm: float = 20.0
    """Width on an A4 landscape page at 9 pt (docx, html: shares of the page's width)."""
    terminal: bool = True
    """Shown in the terminal preview (long texts are not: they are in every file format)."""


ANNEX_NO_MM = 9.0
"""Width of the annexes' STT column on paper."""


@dataclass(frozen=True)
class Annex:
    """One annex: its stable name, titles and columns, and its entries."""

    number: int
    name: str
    title_key: str
    sheet_key: str
    columns: tuple[AnnexColumn, ...]
    entries: tuple[Any, ...]

    def title(self, lang: Lang) -> str:
        """ "Phụ lục I: Danh mục …" """
        return f"{self.heading(lang)}: {self.subject(lang)}"

    def heading(self, lang: Lang) -> str:
        """ "Phụ lục I" """
        return label("annex", lang, n=roman(self.number))

    def subject(self, lang: Lang) -> str:
        """ "Danh mục nhiệm vụ quá hạn, còn tồn đọng" """
        return label(self.title_key, lang)

    def data_columns(self) -> tuple[AnnexColumn, ...]:
        """The columns that hold data (not the ones left to fill in)."""
        return tuple(c for c in self.columns if not c.fill_in)

    def terminal_columns(self) -> tuple[AnnexColumn, ...]:
        """The columns of the terminal preview."""
        return tuple(c for c in self.data_columns() if c.terminal)


def _status(value: StatusCode, lang: Lang) -> str:
    return _status_label(value, lang)


def _task_unit(task: TaskRef) -> str:
    """An annex line's unit: its name; over several sources followed by the task's source."""
    return f"{task.unit_name} [{task.source}]" if task.source else task.unit_name


_REF_COLUMNS: tuple[AnnexColumn, ...] = (
    AnnexColumn("a_sign_number", lambda e, _l: e.task.sign_number, 12, wrap=True, mm=16),
    AnnexColumn("a_subject", lambda e, _l: e.task.subject, 28, wrap=True, mm=30),
    AnnexColumn("a_content", lambda e, _l: e.task.content, 36, wrap=True, mm=50, terminal=False),
    AnnexColumn("a_unit", lambda e, _l: _task_unit(e.task), 16, wrap=True, mm=17),
)
DATE_WIDTH, DATE_MM = 11, 18.5
"""A date (dd/mm/yyyy) on one line: characters in xlsx, millimetres at 9 pt."""
FLAG_WIDTH, FLAG_MM = 8, 11.0
PROGRESS_COLUMN = AnnexColumn("a_progress", lambda e, _l: e.task.progress, FLAG_WIDTH, mm=FLAG_MM)
NOTES_COLUMN = AnnexColumn("a_notes", lambda _e, _l: None, 16, wrap=True, fill_in=True, mm=16)


def _date_column(key: str, value: Callable[[Any, Lang], Cell]) -> AnnexColumn:
    return AnnexColumn(key, value, DATE_WIDTH, mm=DATE_MM)


def _flag_column(key: str, value: Callable[[Any, Lang], Cell]) -> AnnexColumn:
    return AnnexColumn(key, value, FLAG_WIDTH, mm=FLAG_MM)


OVERDUE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    _date_column("a_assigned_on", lambda e, _l: e.task.assigned_on),
    _date_column("a_original_deadline", lambda e, _l: e.original_deadline),
    _date_column("a_deadline", lambda e, _l: e.deadline),
    _date_column("a_eff_due", lambda e, _l: e.eff_due),
    _flag_column("a_days_overdue", lambda e, _l: e.days_overdue),
    _flag_column("a_extended", lambda e, _l: e.extended),
    _flag_column("a_confirmed", lambda e, _l: e.confirmed),
    PROGRESS_COLUMN,
    NOTES_COLUMN,
)
LATE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    _date_column("a_original_deadline", lambda e, _l: e.original_deadline),
    _date_column("a_deadline", lambda e, _l: e.deadline),
    _date_column("a_eff_due", lambda e, _l: e.eff_due),
    _date_column("a_completed_on", lambda e, _l: e.completed_on),
    _flag_column("a_days_late", lambda e, _l: e.days_late),
    _flag_column("a_extended", lambda e, _l: e.extended),
    NOTES_COLUMN,
)
STALE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    _date_column("a_assigned_on", lambda e, _l: e.task.assigned_on),
    _date_column("a_last_report", lambda e, _l: e.last_report_on),
    _flag_column("a_idle_days", lambda e, _l: e.idle_days),
    PROGRESS_COLUMN,
    NOTES_COLUMN,
)
MISSING_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    _date_column("a_assigned_on", lambda e, _l: e.task.assigned_on),
    AnnexColumn("a_status", lambda e, lang: _status(e.status, lang), 16, wrap=True, mm=22),
    _date_column("a_suggested_deadline", lambda e, _l: e.suggested_deadline),
    AnnexColumn("a_suggested_phrase", lambda e, _l: e.suggested_phrase, 26, wrap=True, mm=30),
    AnnexColumn(
        "a_recurrence",
        lambda e, lang: (
            recurrence_text(e.suggested_recurrence, lang) if e.suggested_recurrence else ""
        ),
        12,
        wrap=True,
        mm=16,
    ),
    PROGRESS_COLUMN,
    NOTES_COLUMN,
)


EXTENDED_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn("a_status", lambda e, lang: _status(e.status, lang), 16, wrap=True, mm=22),
    _date_column("a_overdue_deadline", lambda e, _l: e.old_eff_due),
    _date_column("a_extended_on", lambda e, _l: e.extended_on),
    _flag_column("a_days_overdue_then", lambda e, _l: e.days_overdue_when_extended),
    _date_column("a_new_deadline", lambda e, _l: e.new_deadline),
    NOTES_COLUMN,
)


RECURRING_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn(
        "a_recurrence", lambda e, lang: recurrence_text(e.recurrence, lang), 12, wrap=True, mm=16
    ),
    AnnexColumn(
        "a_period",
        lambda e, lang: period_text(e.period_start, e.period_end, e.period_unit, lang),
        14,
        wrap=True,
        mm=20,
    ),
    _date_column("a_period_due", lambda e, _l: e.due),
    _date_column("a_eff_due", lambda e, _l: e.eff_due),
    AnnexColumn("a_status", lambda e, lang: occurrence_label(e.status, lang), 16, wrap=True, mm=22),
    _date_column("a_reported_on", lambda e, _l: e.reported_on),
    _flag_column("a_days_overdue", lambda e, _l: e.days_overdue),
    NOTES_COLUMN,
)


def annexes(report: Report) -> tuple[Annex, ...]:
    """The six annexes in their fixed order (names are the JSON keys)."""
    overdue: tuple[OverdueEntry, ...] = report.overdue
    late: tuple[LateEntry, ...] = report.late
    stale: tuple[StaleEntry, ...] = report.stale
    missing: tuple[MissingEntry, ...] = report.missing_deadline
    extended: tuple[ExtensionEntry, ...] = report.extended_after_overdue
    recurring: tuple[RecurringEntry, ...] = report.recurring
    return (
        Annex(1, "overdue", "annex_overdue", "annex_sheet_overdue", OVERDUE_COLUMNS, overdue),
        Annex(2, "late", "annex_late", "annex_sheet_late", LATE_COLUMNS, late),
        Annex(3, "stale_no_deadline", "annex_stale", "annex_sheet_stale", STALE_COLUMNS, stale),
        Annex(
            4,
            "missing_deadline",
            "annex_missing",
            "annex_sheet_missing",
            MISSING_COLUMNS,
            missing,
        ),
        Annex(
            5,
            "extended_after_overdue",
            "annex_extended",
            "annex_sheet_extended",
            EXTENDED_COLUMNS,
            extended,
        ),
        Annex(
            6,
            "recurring",
            "annex_recurring",
            "annex_sheet_recurring",
            RECURRING_COLUMNS,
            recurring,
        ),
    )


ANNEX_NAMES: tuple[str, ...] = (
    "overdue",
    "late",
    "stale_no_deadline",
    "missing_deadline",
    "extended_after_overdue",
    "recurring",
)
