"""A source text on one line (a terminal or Markdown cell): no dependency but `re`, so the
terminal views (`connector.views.text`) use it without loading the report model."""

from __future__ import annotations

import re

LINE_JOINER = " – "
"""What joins the lines of a source text (a subject "THÔNG BÁO\nKết thúc …") shown on one line."""
_LINE_BREAK = re.compile(r"\r\n|[\n\r\v\f\x85\u2028\u2029]")


def text_lines(text: str) -> list[str]:
    """The non-blank lines of a source text, each stripped (iDesk 6 subjects hold line breaks)."""
    return [line.strip() for line in _LINE_BREAK.split(text) if line.strip()]


def one_line(text: str) -> str:
    """A source text for a one-line cell (a terminal or Markdown table): its lines joined by
    `LINE_JOINER`, so a heading line stays apart from the rest instead of running into it."""
    return LINE_JOINER.join(text_lines(text))
