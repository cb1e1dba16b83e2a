"""The report as Markdown, as text reads the administrative document: the heading (issuing body,
number, quốc hiệu, tiêu ngữ, place and date), "BÁO CÁO" and its trích yếu, the summary in
sentences, the summary table, the notes, "Nơi nhận:" and the signature, one table per annex
headed "Phụ lục I: …" and "(Kèm theo Báo cáo số …)"."""

from __future__ import annotations

from connector.i18n import Lang, label
from connector.reports.model import Report
from connector.reports.render.common import (
    NUMBER_BLANK,
    SUMMARY_COLUMNS,
    DocumentText,
    annex_list_sentence,
    annexes,
    cell_text,
    document_text,
    head_lines,
    notes,
    one_line,
    printable,
    prose,
    summary_lines,
    summary_value,
)


def md_escape(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes, backslashes and markup escaped, control
    characters left out (`printable`: an escape sequence would drive the terminal it is
    printed on)."""
    out = printable(text).replace("\\", "\\\\").replace("|", "\\|")
    for char in "*_`[]<>":
        out = out.replace(char, "\\" + char)
    return " ".join(out.split())


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(labels: list[str], numeric_from: int) -> list[str]:
    align = [":--" if i < numeric_from else "--:" for i in range(len(labels))]
    return [_row([md_escape(x) for x in labels]), _row(align)]


def _heading(doc: DocumentText) -> list[str]:
    left = [md_escape(doc.governing_body)] if doc.governing_body else []
    # The blank left for the number stays (md_escape folds runs of spaces into one); its
    # stand-in is a private-use character, which `printable` keeps (a NUL it leaves out).
    hold = "\ue000"
    reference = md_escape(doc.reference.replace(NUMBER_BLANK, hold)).replace(hold, NUMBER_BLANK)
    left += [f"**{md_escape(doc.issuing_body)}**", reference]
    right = [
        f"**{md_escape(doc.national_title)}**",
        f"**{md_escape(doc.motto)}**",
        f"*{md_escape(doc.place_date)}*",
    ]
    return [
        *(f"{line}  " for line in left[:-1]),
        left[-1],
        "",
        *(f"{line}  " for line in right[:-1]),
        right[-1],
        "",
        f"# {md_escape(doc.doc_type)}: {md_escape(doc.subject)}",
        "",
    ]


def _signature(doc: DocumentText) -> list[str]:
    out = [f"***{md_escape(doc.recipients_heading)}***", ""]
    out += [f"- {md_escape(line[2:])}" for line in doc.recipients]
    out.append("")
    signer = [doc.signer_authority, doc.signer_title]
    out += [f"**{md_escape(line)}**  " for line in signer if line]
    if doc.signer_name:
        out += ["", f"**{md_escape(doc.signer_name)}**"]
    return out


def render_markdown(report: Report, lang: Lang | None = None) -> str:
    """The whole report as GitHub-flavoured Markdown."""
    chosen: Lang = lang or report.lang
    doc = document_text(report, chosen)
    out = _heading(doc)
    out += [f"*{md_escape(line)}*  " for line in head_lines(report, chosen)]
    out.append("")
    for text in (*prose(report, chosen), label("prose_table", chosen)):
        out += [md_escape(text), ""]
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
    out += [f"*{md_escape(line)}*  " for line in notes(report, chosen)]
    out += ["", md_escape(annex_list_sentence(report, chosen)), "", md_escape(doc.closing), ""]
    out += _signature(doc)
    for annex in annexes(report):
        out += ["", f"## {md_escape(annex.title(chosen))}", ""]
        out += [f"*{md_escape(doc.annex_attached)}*", ""]
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
                            md_escape(one_line(cell_text(c.value(entry, chosen), chosen)))
                            for c in annex.columns
                        ),
                    ]
                )
            )
    return "\n".join(out) + "\n"
