"""The report as Markdown: title, summary table, notes, one table per annex."""

from __future__ import annotations

from connector.i18n import Lang, label
from connector.reports.model import Report
from connector.reports.render.common import (
    SUMMARY_COLUMNS,
    annexes,
    cell_text,
    head_lines,
    notes,
    summary_lines,
    summary_value,
)


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes, backslashes and markup escaped."""
    out = text.replace("\\", "\\\\").replace("|", "\\|")
    for char in "*_`[]<>":
        out = out.replace(char, "\\" + char)
    return " ".join(out.split())


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(labels: list[str], numeric_from: int) -> list[str]:
    align = [":--" if i < numeric_from else "--:" for i in range(len(labels))]
    return [_row([md_escape(x) for x in labels]), _row(align)]


def render_markdown(report: Report, lang: Lang | None = None) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    chosen: Lang = lang or report.lang
    out = [f"# {md_escape(report.title)}", "", md_escape(report.issuer), ""]
    out += [f"{md_escape(line)}  " for line in head_lines(report, chosen)]
    out.append("")
    labels = [label("col_no", chosen), label("col_unit", chosen)]
    for column in SUMMARY_COLUMNS:
        own = column.label(chosen, report.fold)
        labels.append(f"{label(column.group, chosen)}: {own}" if column.group else own)
    out += _header(labels, 2)
    for line in summary_lines(report, chosen):
        if line.counts is None:
            out.append(
                _row(
                    [f"**{line.number}**", f"**{md_escape(line.name)}**"]
                    + [""] * len(SUMMARY_COLUMNS)
                )
            )
            continue
        cells = [
            cell_text(summary_value(column, line.counts), chosen) for column in SUMMARY_COLUMNS
        ]
        if line.kind == "total":
            out.append(_row(["", f"**{md_escape(line.name)}**", *(f"**{c}**" for c in cells)]))
        else:
            out.append(_row([line.number, md_escape(line.name), *cells]))
    out.append("")
    out += [f"{md_escape(line)}  " for line in notes(report, chosen)]
    for annex in annexes(report):
        out += ["", f"## {md_escape(annex.title(chosen))}", ""]
        if not annex.entries:
            out.append(label("annex_empty", chosen))
            continue
        out += _header(
            [label("col_no", chosen), *(label(c.label_key, chosen) for c in annex.columns)], 99
        )
        for number, entry in enumerate(annex.entries, start=1):
            out.append(
                _row(
                    [
                        str(number),
                        *(
                            md_escape(cell_text(c.value(entry, chosen), chosen))
                            for c in annex.columns
                        ),
                    ]
                )
            )
    return "\n".join(out) + "\n"
