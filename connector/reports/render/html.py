"""The report as one self-contained HTML page.

Inline CSS, an inline SVG bar chart (completed on time / completed late / open overdue per
unit), the summary table with merged group headers, the notes and the four annexes. The page
loads nothing: no script, no font, no image, no stylesheet from elsewhere (the SVG is inline
HTML5 and needs no namespace URL). Every text from the data is escaped.
"""

from __future__ import annotations

from html import escape

from connector.i18n import Lang, label
from connector.reports.model import Report
from connector.reports.render.common import (
    SUMMARY_COLUMNS,
    annexes,
    cell_text,
    column_groups,
    head_lines,
    notes,
    summary_lines,
    summary_value,
)

CSS = """
body{font-family:"Times New Roman",Times,serif;margin:2em auto;max-width:1400px;color:#111;
padding:0 1em}
header{text-align:center;margin-bottom:1.5em}
header .issuer{font-weight:bold;margin:0}
h1{font-size:1.35em;text-transform:uppercase;margin:.8em 0 .3em}
h2{font-size:1.1em;margin-top:2em}
header p{margin:.2em 0;font-style:italic}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border:1px solid #444;padding:.25em .4em;vertical-align:top}
th{background:#ddebf7;text-align:center;vertical-align:middle}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.group td{font-weight:bold;font-style:italic;background:#fafafa}
tr.total td{font-weight:bold;background:#f2f2f2}
tr.colno th{font-weight:normal;font-style:italic;background:#fff}
.notes p{margin:.2em 0;font-style:italic}
figure{margin:1em 0}
figcaption{font-weight:bold;margin-bottom:.4em}
svg text{font-family:"Times New Roman",Times,serif;font-size:12px}
"""

COLORS = (("chart_on_time", "#2e7d32"), ("chart_late", "#f9a825"), ("chart_overdue", "#c62828"))
LABEL_WIDTH = 260
BAR_WIDTH = 560
ROW_HEIGHT = 24
LEGEND_HEIGHT = 30


def _e(text: object) -> str:
    return escape(str(text), quote=True)


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


def _summary(report: Report, lang: Lang) -> list[str]:
    out = ['<table class="summary">', "<thead>", "<tr>"]
    out.append(f'<th rowspan="2">{_e(label("col_no", lang))}</th>')
    out.append(f'<th rowspan="2">{_e(label("col_unit", lang))}</th>')
    index = 0
    for group, width in column_groups():
        if group is None:
            text = SUMMARY_COLUMNS[index].label(lang, report.fold)
            out.append(f'<th rowspan="2">{_e(text)}</th>')
        else:
            out.append(f'<th colspan="{width}">{_e(label(group, lang))}</th>')
        index += width
    out.append("</tr>")
    out.append("<tr>")
    for column in SUMMARY_COLUMNS:
        if column.group is not None:
            out.append(f"<th>{_e(column.label(lang, report.fold))}</th>")
    out.append("</tr>")
    numbers = "".join(f"<th>({i})</th>" for i in range(1, len(SUMMARY_COLUMNS) + 3))
    out += [f'<tr class="colno">{numbers}</tr>', "</thead>", "<tbody>"]
    for line in summary_lines(report, lang):
        if line.counts is None:
            out.append(
                f'<tr class="group"><td>{_e(line.number)}</td>'
                f'<td colspan="{len(SUMMARY_COLUMNS) + 1}">{_e(line.name)}</td></tr>'
            )
            continue
        cells = "".join(
            f'<td class="n">{_e(cell_text(summary_value(c, line.counts), lang))}</td>'
            for c in SUMMARY_COLUMNS
        )
        css = ' class="total"' if line.kind == "total" else ""
        out.append(
            f'<tr{css}><td class="n">{_e(line.number)}</td><td>{_e(line.name)}</td>{cells}</tr>'
        )
    out += ["</tbody>", "</table>"]
    return out


def render_html(report: Report, lang: Lang | None = None) -> str:
    """The whole report as a single HTML5 document."""
    chosen: Lang = lang or report.lang
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
        f'<p class="issuer">{_e(report.issuer)}</p>',
        f'<p class="issuer">{_e(label("working_group", chosen))}</p>',
        f"<h1>{_e(report.title)}</h1>",
        *(f"<p>{_e(line)}</p>" for line in head_lines(report, chosen)),
        "</header>",
        "<figure>",
        f"<figcaption>{_e(label('chart_title', chosen))}</figcaption>",
        chart_svg(report, chosen),
        "</figure>",
        f"<h2>{_e(label('summary', chosen))}</h2>",
        *_summary(report, chosen),
        '<div class="notes">',
        *(f"<p>{_e(text)}</p>" for text in notes(report, chosen)),
        "</div>",
    ]
    for annex in annexes(report):
        out.append(f'<section class="annex" id="{_e(annex.name)}">')
        out.append(f"<h2>{_e(annex.title(chosen))}</h2>")
        if not annex.entries:
            out.append(f"<p>{_e(label('annex_empty', chosen))}</p>")
            out.append("</section>")
            continue
        head = "".join(f"<th>{_e(label(c.label_key, chosen))}</th>" for c in annex.columns)
        out.append(f"<table><thead><tr><th>{_e(label('col_no', chosen))}</th>{head}</tr></thead>")
        out.append("<tbody>")
        for number, entry in enumerate(annex.entries, start=1):
            cells = "".join(
                f"<td>{_e(cell_text(c.value(entry, chosen), chosen))}</td>" for c in annex.columns
            )
            out.append(f'<tr><td class="n">{number}</td>{cells}</tr>')
        out += ["</tbody>", "</table>", "</section>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
