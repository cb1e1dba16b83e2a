"""The report as one self-contained HTML page, laid out to print as the administrative document.

The page follows Decree 30/2020/NĐ-CP: the heading in two columns (the issuing body and "Số:
…/BC-TCT" on the left; quốc hiệu, the underlined tiêu ngữ, place and date on the right), "BÁO
CÁO" and its trích yếu, the body (the summary in sentences, the summary table, the notes), the
"Nơi nhận:" list and the signature, then one annex per landscape page ("Phụ lục I, II, …",
"(Kèm theo Báo cáo số …)"). An inline SVG bar chart (completed on time / completed late / open
overdue per unit) is shown on screen, not printed.

Printing (``@page``): A4, margins per Decree 30 (top and bottom 20 mm, left 30 mm, right 15
mm), the body portrait, the annexes on A4 landscape pages (named page ``wide``), page numbers at
the top centre from page 2, table header rows repeated on every page, rows never split.

The page loads nothing: no script, no font, no image, no stylesheet from elsewhere (the SVG is
inline HTML5 and needs no namespace URL). Every text from the data is escaped.
"""

from __future__ import annotations

from datetime import date
from html import escape

from connector.i18n import Lang, label
from connector.reports.model import Report
from connector.reports.render.common import (
    ANNEX_NO_MM,
    SUMMARY_COLUMNS,
    Annex,
    DocumentText,
    annex_list_sentence,
    annexes,
    cell_text,
    column_groups,
    document_text,
    head_lines,
    header_label,
    notes,
    printable,
    prose,
    summary_lines,
    summary_value,
    text_lines,
)

CSS = """
@page{size:A4 portrait;margin:20mm 15mm 20mm 30mm;
@top-center{content:counter(page);font:13pt "Times New Roman",Times,serif}}
@page:first{@top-center{content:none}}
@page wide{size:A4 landscape;margin:20mm 15mm 20mm 20mm}
body{font-family:"Times New Roman",Times,"Liberation Serif",serif;font-size:14pt;color:#000;
margin:2em auto;max-width:1150px;padding:0 1em;line-height:1.25}
@media print{body{margin:0;max-width:none;padding:0}.screen{display:none}}
table.letterhead{width:100%;border-collapse:collapse;font-size:13pt;margin-bottom:12pt}
table.letterhead td{border:none;text-align:center;vertical-align:top;padding:0}
table.letterhead td.left{width:42%}
.bold{font-weight:bold}
.rule{width:32%;margin:1pt auto 5pt;border:0;border-top:1px solid #000}
.motto{font-weight:bold;font-size:14pt;text-decoration:underline;text-underline-offset:3pt}
.place-date{font-style:italic;font-size:14pt;margin-top:8pt}
.doc-type{text-align:center;font-size:14pt;font-weight:bold;margin:18pt 0 0}
.subject{text-align:center;font-weight:bold;font-size:14pt;margin:0 0 2pt}
.head-lines p{text-align:center;font-style:italic;margin:0}
.body p{text-align:justify;text-indent:12.7mm;margin:6pt 0}
.notes p{font-size:12pt;font-style:italic;margin:2pt 0}
table.grid{border-collapse:collapse;width:100%;font-size:9pt;line-height:1.15;
margin:6pt 0;table-layout:fixed}
table.grid th,table.grid td{border:1px solid #000;padding:2pt 3pt;vertical-align:top;
overflow-wrap:break-word}
table.grid th{text-align:center;vertical-align:middle;background:#f2f2f2}
table.grid thead{display:table-header-group}
table.grid tr{break-inside:avoid}
td.n{text-align:right;font-variant-numeric:tabular-nums}
td.c{text-align:center}
tr.group td{font-weight:bold;font-style:italic}
tr.total td{font-weight:bold}
tr.colno th{font-weight:normal;font-style:italic;background:#fff}
table.summary{font-size:9pt}
table.summary th{font-size:7.5pt;padding:2pt 1pt}
table.summary td{padding:1pt 2pt}
table.signature{width:100%;border-collapse:collapse;margin-top:12pt;break-inside:avoid}
table.signature td{border:none;vertical-align:top;padding:0}
td.recipients{width:45%;font-size:11pt}
td.recipients .heading{font-size:12pt;font-weight:bold;font-style:italic}
td.signer{text-align:center;font-weight:bold;font-size:14pt}
td.signer .space{height:70pt}
section.annex{page:wide;break-before:page}
section.annex .annex-head{text-align:center;margin-bottom:6pt}
section.annex .annex-no{font-weight:bold;margin:0}
section.annex h2{font-size:14pt;margin:0;text-transform:uppercase}
section.annex .attached{font-style:italic;margin:0}
figure{margin:1em 0}
figcaption{font-weight:bold;margin-bottom:.4em}
svg{max-width:100%;height:auto}
svg text{font-family:"Times New Roman",Times,serif;font-size:12px}
"""

COLORS = (("chart_on_time", "#2e7d32"), ("chart_late", "#f9a825"), ("chart_overdue", "#c62828"))
LABEL_WIDTH = 260
BAR_WIDTH = 560
ROW_HEIGHT = 24
LEGEND_HEIGHT = 30


def _e(text: object) -> str:
    """`text` escaped for HTML, without the control characters HTML forbids (`printable`)."""
    return escape(printable(str(text)), quote=True)


def chart_svg(report: Report, lang: Lang) -> str:
    """A horizontal stacked bar per unit: on time, late, overdue (inline SVG)."""
    rows = [
        (r.name, (r.counts.done_on_time, r.counts.done_late, r.counts.open_overdue))
        for r in report.rows
    ]
    largest = max((sum(v) for _, v in rows), default=0) or 1
    height = LEGEND_HEIGHT + ROW_HEIGHT * max(len(rows), 1) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 60
    parts = [
        f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{_e(label("chart_title", lang))}">'
    ]
    x = LABEL_WIDTH
    for key, color in COLORS:
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="16">{_e(label(key, lang))}</text>')
        x += 190
    for index, (name, values) in enumerate(rows):
        y = LEGEND_HEIGHT + index * ROW_HEIGHT
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end">{_e(name)}</text>'
        )
        offset = float(LABEL_WIDTH)
        for (key, color), value in zip(COLORS, values, strict=True):
            if value <= 0:
                continue
            size = BAR_WIDTH * value / largest
            parts.append(
                f'<rect x="{offset:.1f}" y="{y + 3}" width="{size:.1f}" height="{ROW_HEIGHT - 6}" '
                f'fill="{color}"><title>{_e(name)}: {_e(label(key, lang))} {value}</title></rect>'
            )
            offset += size
        total = sum(values)
        parts.append(f'<text x="{offset + 4:.1f}" y="{y + 15}">{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


SUMMARY_STT_MM = 8
SUMMARY_UNIT_SHARE = 20
"""Percent of the summary table's width given to the unit names (the figures share the rest)."""


def _summary(report: Report, lang: Lang) -> list[str]:
    out = ['<table class="grid summary">', "<colgroup>"]
    figures = len(SUMMARY_COLUMNS)
    out.append(f'<col style="width:{SUMMARY_STT_MM}mm">')
    out.append(f'<col style="width:{SUMMARY_UNIT_SHARE}%">')
    out += ["<col>"] * figures
    out += ["</colgroup>", "<thead>", "<tr>"]
    out.append(f'<th rowspan="2">{_e(label("col_no", lang))}</th>')
    out.append(f'<th rowspan="2">{_e(label("col_unit", lang))}</th>')
    index = 0
    for group, width in column_groups():
        if group is None:
            text = header_label(SUMMARY_COLUMNS[index].label(lang, report.fold), lang)
            out.append(f'<th rowspan="2">{_e(text)}</th>')
        else:
            out.append(f'<th colspan="{width}">{_e(label(group, lang))}</th>')
        index += width
    out.append("</tr>")
    out.append("<tr>")
    for column in SUMMARY_COLUMNS:
        if column.group is not None:
            out.append(f"<th>{_e(header_label(column.label(lang, report.fold), lang))}</th>")
    out.append("</tr>")
    numbers = "".join(f"<th>({i})</th>" for i in range(1, figures + 3))
    out += [f'<tr class="colno">{numbers}</tr>', "</thead>", "<tbody>"]
    for line in summary_lines(report, lang):
        if line.counts is None:
            out.append(
                f'<tr class="group"><td class="c">{_e(line.number)}</td>'
                f'<td colspan="{figures + 1}">{_e(line.name)}</td></tr>'
            )
            continue
        cells = "".join(
            f'<td class="n">{_e(cell_text(summary_value(c, line.counts), lang))}</td>'
            for c in SUMMARY_COLUMNS
        )
        css = ' class="total"' if line.kind == "total" else ""
        out.append(
            f'<tr{css}><td class="c">{_e(line.number)}</td><td>{_e(line.name)}</td>{cells}</tr>'
        )
    out += ["</tbody>", "</table>"]
    return out


def _letterhead(doc: DocumentText) -> list[str]:
    left = []
    if doc.governing_body:
        left.append(f"<div>{_e(doc.governing_body)}</div>")
    left.append(f'<div class="bold">{_e(doc.issuing_body)}</div>')
    left.append('<hr class="rule">')
    left.append(f"<div>{_e(doc.reference)}</div>")
    right = [
        f'<div class="bold">{_e(doc.national_title)}</div>',
        f'<div class="motto">{_e(doc.motto)}</div>',
        f'<div class="place-date">{_e(doc.place_date)}</div>',
    ]
    return [
        '<table class="letterhead"><tr>',
        f'<td class="left">{"".join(left)}</td>',
        f'<td class="right">{"".join(right)}</td>',
        "</tr></table>",
    ]


def _signature(doc: DocumentText) -> list[str]:
    recipients = "".join(f"<div>{_e(line)}</div>" for line in doc.recipients)
    signer = []
    if doc.signer_authority:
        signer.append(f"<div>{_e(doc.signer_authority)}</div>")
    signer.append(f"<div>{_e(doc.signer_title)}</div>")
    signer.append('<div class="space"></div>')
    if doc.signer_name:
        signer.append(f"<div>{_e(doc.signer_name)}</div>")
    return [
        '<table class="signature"><tr>',
        f'<td class="recipients"><div class="heading">{_e(doc.recipients_heading)}</div>'
        f"{recipients}</td>",
        f'<td class="signer">{"".join(signer)}</td>',
        "</tr></table>",
    ]


def _annex(annex: Annex, doc: DocumentText, lang: Lang) -> list[str]:
    out = [
        f'<section class="annex" id="{_e(annex.name)}">',
        '<div class="annex-head">',
        f'<p class="annex-no">{_e(annex.heading(lang))}</p>',
        f"<h2>{_e(annex.subject(lang))}</h2>",
        f'<p class="attached">{_e(doc.annex_attached)}</p>',
        "</div>",
    ]
    if not annex.entries:
        out += [f"<p>{_e(label('annex_empty', lang))}</p>", "</section>"]
        return out
    total = ANNEX_NO_MM + sum(c.mm for c in annex.columns)
    cols = [f'<col style="width:{100 * ANNEX_NO_MM / total:.2f}%">']
    cols += [f'<col style="width:{100 * c.mm / total:.2f}%">' for c in annex.columns]
    head = "".join(f"<th>{_e(label(c.label_key, lang))}</th>" for c in annex.columns)
    out += [
        '<table class="grid">',
        f"<colgroup>{''.join(cols)}</colgroup>",
        f"<thead><tr><th>{_e(label('col_no', lang))}</th>{head}</tr></thead>",
        "<tbody>",
    ]
    for number, entry in enumerate(annex.entries, start=1):
        cells = []
        for column in annex.columns:
            value = column.value(entry, lang)
            css = ' class="c"' if isinstance(value, (int, date)) else ""  # bool is an int
            lines = text_lines(cell_text(value, lang))  # a subject's line breaks kept
            cells.append(f"<td{css}>{'<br>'.join(_e(line) for line in lines)}</td>")
        out.append(f'<tr><td class="c">{number}</td>{"".join(cells)}</tr>')
    out += ["</tbody>", "</table>", "</section>"]
    return out


def render_html(report: Report, lang: Lang | None = None) -> str:
    """The whole report as a single HTML5 document."""
    chosen: Lang = lang or report.lang
    doc = document_text(report, chosen)
    out = [
        "<!DOCTYPE html>",
        f'<html lang="{chosen}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(report.title)} – {_e(report.period_label(chosen))}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        *_letterhead(doc),
        f'<p class="doc-type">{_e(doc.doc_type)}</p>',
        f'<h1 class="subject">{_e(doc.subject)}</h1>',
        '<hr class="rule">',
        '<div class="head-lines">',
        *(f"<p>{_e(line)}</p>" for line in head_lines(report, chosen)),
        "</div>",
        "</header>",
        '<figure class="screen">',
        f"<figcaption>{_e(label('chart_title', chosen))}</figcaption>",
        chart_svg(report, chosen),
        "</figure>",
        '<div class="body">',
        *(f"<p>{_e(text)}</p>" for text in prose(report, chosen)),
        f"<p>{_e(label('prose_table', chosen))}</p>",
        "</div>",
        *_summary(report, chosen),
        '<div class="notes">',
        *(f"<p>{_e(text)}</p>" for text in notes(report, chosen)),
        "</div>",
        '<div class="body">',
        f"<p>{_e(annex_list_sentence(report, chosen))}</p>",
        f"<p>{_e(doc.closing)}</p>",
        "</div>",
        *_signature(doc),
    ]
    for annex in annexes(report):
        out += _annex(annex, doc, chosen)
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
