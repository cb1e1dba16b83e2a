"""``report --by source``: one section per source, each the usual report of that source.

======  =================================================================================
format  what
======  =================================================================================
table   each section's terminal report under a line "Nguồn: NAME" ("Source: NAME")
json    ``{"schema_version", "by": "source", "sources": [...], "sections": [...]}``, each
        section the one-source report's JSON (docs/report-json.md) with its ``source``
csv     the summary (or ``annex=``) of every section, a first column naming its source
md      each section's Markdown under a heading "# Nguồn: NAME"
html    one page, each section's report under a heading, a page break between sections
xlsx    one workbook: each section's summary and annex sheets, named after its source
docx    one file: each section's whole administrative document (heading, body, signature,
        annexes) on new pages under a heading "Nguồn: NAME"
======  =================================================================================
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from connector.errors import ConfigError, Problem
from connector.i18n import Lang, label
from connector.reports.render.csvfmt import render_csv
from connector.reports.render.html import render_html
from connector.reports.render.jsonfmt import SCHEMA_VERSION, report_dict
from connector.reports.render.markdown import render_markdown
from connector.reports.rollup import Section

SECTION_FORMATS: tuple[str, ...] = ("table", "json", "csv", "md", "html", "xlsx", "docx")
"""The formats ``--by source`` writes."""


def check_section_format(fmt: str) -> None:
    """A `ConfigError` (exit 2) for a format ``--by source`` does not write."""
    if fmt not in SECTION_FORMATS:
        raise ConfigError(
            [
                Problem(
                    "--by",
                    f"'source' writes {', '.join(SECTION_FORMATS)}; a {fmt} file holds one "
                    f"report: write one per source with --source NAME --format {fmt}",
                )
            ]
        )


def sections_dict(sections: Sequence[Section], lang: Lang) -> dict[str, Any]:
    """The sections as JSON-ready data (docs/report-json.md, "By source")."""
    return {
        "schema_version": SCHEMA_VERSION,
        "by": "source",
        "sources": [s.source for s in sections],
        "sections": [{"source": s.source, **report_dict(s.report, lang)} for s in sections],
    }


def _csv(sections: Sequence[Section], lang: Lang, annex: str | None) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for i, section in enumerate(sections):
        rows = list(csv.reader(io.StringIO(render_csv(section.report, lang, annex))))
        if not rows:
            continue
        if i == 0:
            writer.writerow([label("col_source", lang), *rows[0]])
        for row in rows[1:]:
            writer.writerow([section.source, *row])
    if not sections:
        writer.writerow([label("col_source", lang)])
    return buffer.getvalue()


def _html(sections: Sequence[Section], lang: Lang) -> str:
    """One page: the first section's head, every section's body under a heading."""
    pages = [render_html(s.report, lang) for s in sections]
    if not pages:
        return ""
    head, _, _ = pages[0].partition("<body>")
    out = [head, "<body>"]
    for i, (section, page) in enumerate(zip(sections, pages, strict=True)):
        body = page.partition("<body>")[2].rpartition("</body>")[0]
        style = ' style="break-before: page"' if i else ""
        heading = label("source_section", lang, source=section.source)
        out += [f'<section class="source"{style}>', f"<h1>{_escape(heading)}</h1>", body]
        out.append("</section>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_sections(
    sections: Sequence[Section], fmt: str, lang: Lang, *, annex: str | None = None
) -> str:
    """The sections in `fmt` as text (see the module docstring; xlsx and docx:
    `render_sections_bytes`)."""
    check_section_format(fmt)
    if fmt in {"xlsx", "docx"}:
        raise ValueError(f"{fmt} is bytes: use render_sections_bytes")
    if fmt == "json":
        return json.dumps(sections_dict(sections, lang), ensure_ascii=False, indent=2) + "\n"
    if fmt == "csv":
        return _csv(sections, lang, annex)
    if fmt == "md":
        parts = [
            f"# {label('source_section', lang, source=s.source)}\n\n"
            + render_markdown(s.report, lang)
            for s in sections
        ]
        return "\n\n".join(parts)
    if fmt == "html":
        return _html(sections, lang)
    from connector.reports.render.table import render_table  # noqa: PLC0415 - rich

    parts = [
        f"{label('source_section', lang, source=s.source)}\n\n{render_table(s.report, lang)}"
        for s in sections
    ]
    return "\n".join(parts)


def render_sections_bytes(
    sections: Sequence[Section], fmt: str, lang: Lang, *, annex: str | None = None
) -> bytes:
    """What to write to a file: UTF-8 text (CSV with a byte order mark), the xlsx or the docx
    bytes."""
    if fmt == "docx":
        from connector.reports.render.docxfmt import render_docx_sections  # noqa: PLC0415

        return render_docx_sections([(s.source, s.report) for s in sections], lang)
    if fmt == "xlsx":
        from connector.reports.render.xlsx import render_xlsx_sections  # noqa: PLC0415

        return render_xlsx_sections([(s.source, s.report) for s in sections], lang)
    text = render_sections(sections, fmt, lang, annex=annex)
    return text.encode("utf-8-sig" if fmt == "csv" else "utf-8")
