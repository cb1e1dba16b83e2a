"""The report as CSV: the summary by default, or one annex.

The summary has one row per unit and a last row for the total; its header row holds the
column labels in the report's language ("Đã hoàn thành - Đúng hạn"), its first two columns the
unit code and name. Numbers are plain integers; the rate has a dot as decimal separator and is
empty when there is no rate. An annex (``annex=`` one of `ANNEX_NAMES`: ``"overdue" | "late" |
"stale_no_deadline" | "missing_deadline" | "extended_after_overdue" | "recurring"``) has one row
per task (per occurrence for ``recurring``), with ISO dates and its source id first.
Text is returned as a str; `connector.reports.render.formats.render_bytes` adds a UTF-8 byte
order mark so that spreadsheet programs read the diacritics.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

from connector.i18n import Lang, label
from connector.reports.model import Counts, Report
from connector.reports.render.common import ANNEX_NAMES, SUMMARY_COLUMNS, Cell, annexes


def _machine(value: Cell, lang: Lang) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return label("yes" if value else "no", lang)
    if isinstance(value, Decimal):
        return f"{value:.1f}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _counts(counts: Counts, lang: Lang) -> list[str]:
    return [_machine(column.value(counts), lang) for column in SUMMARY_COLUMNS] + [
        str(counts.cancelled)
    ]


def render_csv(report: Report, lang: Lang | None = None, annex: str | None = None) -> str:
    """The summary (default) or the annex named `annex` as CSV text."""
    chosen: Lang = lang or report.lang
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if annex is None:
        # Over several sources the first column is the row's source(s).
        lead = [label("col_source", chosen)] if report.sources else []
        header = [*lead, label("col_code", chosen), label("col_unit", chosen)]
        for column in SUMMARY_COLUMNS:
            own = column.label(chosen, report.fold)
            header.append(f"{label(column.group, chosen)} - {own}" if column.group else own)
        header.append(label("col_cancelled", chosen))
        writer.writerow(header)
        for row in report.rows:
            where = [row.source or "+".join(row.sources)] if report.sources else []
            writer.writerow([*where, row.code, row.name, *_counts(row.counts, chosen)])
        total = [""] if report.sources else []
        writer.writerow([*total, "", label("total_row", chosen), *_counts(report.total, chosen)])
        return buffer.getvalue()
    chosen_annex = next((a for a in annexes(report) if a.name == annex), None)
    if chosen_annex is None:
        raise ValueError(f"unknown annex {annex!r}; valid: {', '.join(ANNEX_NAMES)}")
    lead = [label("col_source", chosen)] if report.sources else []
    writer.writerow(
        [
            *lead,
            label("col_source_id", chosen),
            *(label(c.label_key, chosen) for c in chosen_annex.data_columns()),
        ]
    )
    for entry in chosen_annex.entries:
        writer.writerow(
            [
                *([entry.task.source] if report.sources else []),
                str(entry.task.source_id),
                *(_machine(c.value(entry, chosen), chosen) for c in chosen_annex.data_columns()),
            ]
        )
    return buffer.getvalue()
