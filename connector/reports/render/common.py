"""What every report renderer shares: the summary's columns, its lines, the annexes' columns.

A renderer walks `summary_lines(report)` (group headings, unit rows, the total row) and prints
each `SUMMARY_COLUMNS` cell; for each annex it walks `annexes(report)` and prints each
`AnnexColumn`. Cells are raw values (int, `Decimal`, `date`, bool, str, None); `cell_text`
turns one into the text a person reads, the xlsx writer keeps numbers and dates typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connector.i18n import Lang, fmt_date, kind_label, label, recurrence_text, roman, yes_no
from connector.i18n import status_label as _status_label
from connector.models import StatusCode, UnitKind
from connector.reports.model import (
    Counts,
    LateEntry,
    MissingEntry,
    OverdueEntry,
    Report,
    StaleEntry,
)

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


@dataclass(frozen=True)
class Line:
    """One line of the summary: a group heading, a unit's row, or the total row."""

    kind: str  # "group" | "unit" | "total"
    number: str
    """STT: "1", "2", … for units; "I", "II", … for group headings; "" for the total."""
    name: str
    counts: Counts | None = None
    unit_kind: UnitKind | None = None


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
        yield Line("unit", str(unit_no), row.name, row.counts, row.kind)
    yield Line("total", "", label("total_row", lang), report.total)


def percent_text(value: Decimal | None, lang: Lang) -> str:
    """87,4 (vi) / 87.4 (en); "—" when there is no rate."""
    if value is None:
        return label("rate_na", lang)
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "vi" else text


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
    """The lines printed under the summary: the rate's rule, the fold rule, counts left out."""
    out = [report.denominator_text(lang)]
    if report.fold:
        out.append(label("fold_note", lang))
    out.append(label("cancelled_note", lang, n=report.cancelled))
    if report.undated:
        out.append(label("undated_note", lang, n=report.undated))
    if report.unreadable:
        out.append(label("unreadable_note", lang, n=report.unreadable))
    return out


def head_lines(report: Report, lang: Lang) -> list[str]:
    """Period, unit filter and as-of lines under the title."""
    out = [label("period", lang, period=report.period_label(lang))]
    if report.options.unit is not None:
        name = report.rows[0].name if report.rows else report.options.unit
        out.append(label("unit_filter", lang, unit=name))
    out.append(label("as_of", lang, date=fmt_date(report.as_of, lang)))
    return out


# -- annexes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnexColumn:
    label_key: str
    value: Callable[[Any, Lang], Cell]
    width: int = 14
    """Width in characters (xlsx)."""
    wrap: bool = False


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
        return f"{label('annex', lang, n=self.number)}: {label(self.title_key, lang)}"


def _status(value: StatusCode, lang: Lang) -> str:
    return _status_label(value, lang)


_REF_COLUMNS: tuple[AnnexColumn, ...] = (
    AnnexColumn("a_sign_number", lambda e, _l: e.task.sign_number, 16),
    AnnexColumn("a_subject", lambda e, _l: e.task.subject, 60, wrap=True),
    AnnexColumn("a_unit", lambda e, _l: e.task.unit_name, 28, wrap=True),
)

OVERDUE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn("a_assigned_on", lambda e, _l: e.task.assigned_on),
    AnnexColumn("a_original_deadline", lambda e, _l: e.original_deadline),
    AnnexColumn("a_deadline", lambda e, _l: e.deadline),
    AnnexColumn("a_eff_due", lambda e, _l: e.eff_due),
    AnnexColumn("a_days_overdue", lambda e, _l: e.days_overdue, 12),
    AnnexColumn("a_extended", lambda e, _l: e.extended, 11),
    AnnexColumn("a_confirmed", lambda e, _l: e.confirmed, 11),
)
LATE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn("a_original_deadline", lambda e, _l: e.original_deadline),
    AnnexColumn("a_deadline", lambda e, _l: e.deadline),
    AnnexColumn("a_eff_due", lambda e, _l: e.eff_due),
    AnnexColumn("a_completed_on", lambda e, _l: e.completed_on),
    AnnexColumn("a_days_late", lambda e, _l: e.days_late, 11),
    AnnexColumn("a_extended", lambda e, _l: e.extended, 11),
)
STALE_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn("a_assigned_on", lambda e, _l: e.task.assigned_on),
    AnnexColumn("a_last_report", lambda e, _l: e.last_report_on),
    AnnexColumn("a_idle_days", lambda e, _l: e.idle_days, 12),
)
MISSING_COLUMNS: tuple[AnnexColumn, ...] = (
    *_REF_COLUMNS,
    AnnexColumn("a_assigned_on", lambda e, _l: e.task.assigned_on),
    AnnexColumn("a_status", lambda e, lang: _status(e.status, lang), 24, wrap=True),
    AnnexColumn("a_suggested_deadline", lambda e, _l: e.suggested_deadline),
    AnnexColumn("a_suggested_phrase", lambda e, _l: e.suggested_phrase, 36, wrap=True),
    AnnexColumn(
        "a_recurrence",
        lambda e, lang: (
            recurrence_text(e.suggested_recurrence, lang) if e.suggested_recurrence else ""
        ),
        18,
    ),
)


def annexes(report: Report) -> tuple[Annex, ...]:
    """The four annexes in their fixed order (names are the JSON keys)."""
    overdue: tuple[OverdueEntry, ...] = report.overdue
    late: tuple[LateEntry, ...] = report.late
    stale: tuple[StaleEntry, ...] = report.stale
    missing: tuple[MissingEntry, ...] = report.missing_deadline
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
    )


ANNEX_NAMES: tuple[str, ...] = ("overdue", "late", "stale_no_deadline", "missing_deadline")
