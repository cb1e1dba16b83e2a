"""Readers of the documents the connector writes, for the tests that check their text."""

from __future__ import annotations

import io


def docx_text(data: bytes) -> str:
    """Every paragraph of a .docx, body and table cells, one per line."""
    from docx import Document

    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            for cell in row.cells:
                lines.extend(p.text for p in cell.paragraphs)
    return "\n".join(lines)
