"""One unit's alerts of one day as one e-mail: its subject, plain text and HTML.

The texts come from ``connector/notify/templates/digest.{lang}.toml`` (formal Vietnamese by
default, English with ``alerts.lang = "en"``); each alert's title and content are the ones the
source channel would send, verbatim. Alerts are listed most urgent first, then by task. The
HTML part says the same as the text part, every value escaped.
"""

from __future__ import annotations

import functools
import html
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any

from connector.errors import ConfigError, Problem
from connector.rules.alerts import plain_line

TEXT_KEYS: tuple[str, ...] = (
    "subject",
    "greeting_label",
    "intro",
    "item",
    "urgent",
    "closing",
    "footer",
)
"""What every digest template file defines."""

URGENT_LEVEL = 2
"""An alert of this level (contract section 7: urgent) is marked as such."""


@dataclass(frozen=True)
class DigestAlert:
    """One alert in a digest, as its outbox row holds it."""

    key: str
    type: str
    task_id: int | None
    level: int
    title: str
    content: str

    @classmethod
    def from_payload(cls, key: str, payload: Mapping[str, Any]) -> DigestAlert:
        """From an alert row's stored body (`connector.rules.alerts.AlertIntent.payload`)."""
        task = payload.get("taskId")
        level = payload.get("level", 1)
        return cls(
            key=key,
            type=str(payload.get("type", "")),
            task_id=int(task) if isinstance(task, int) else None,
            level=int(level) if isinstance(level, int) else 1,
            title=str(payload.get("title", "")),
            content=str(payload.get("content", "")),
        )


@dataclass(frozen=True)
class DigestText:
    """A digest's subject and its two bodies."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class DigestTemplates:
    lang: str
    date_format: str
    texts: Mapping[str, str]

    def format(self, name: str, **values: object) -> str:
        return self.texts[name].format(**values)


@functools.cache
def load_digest_templates(lang: str = "vi") -> DigestTemplates:
    """The shipped digest texts of `lang` ("vi" or "en"), read once."""
    if lang not in ("vi", "en"):
        raise ConfigError(f"unknown digest language {lang!r}; valid: vi, en")
    name = f"digest.{lang}.toml"
    source = f"connector/notify/templates/{name}"
    text = resources.files("connector.notify").joinpath("templates", name).read_text("utf-8")
    data = tomllib.loads(text)
    problems = [
        Problem(f"{source}: {key}", "missing or not a text")
        for key in (*TEXT_KEYS, "date_format")
        if not isinstance(data.get(key), str) or not data.get(key)
    ]
    if problems:
        raise ConfigError(problems, source=source)
    texts = {k: unicodedata.normalize("NFC", str(data[k])) for k in TEXT_KEYS}
    return DigestTemplates(lang, str(data["date_format"]), texts)


def ordered(alerts: Sequence[DigestAlert]) -> list[DigestAlert]:
    """Most urgent first, then by task and key."""
    return sorted(alerts, key=lambda a: (-a.level, a.task_id or 0, a.key))


def render_digest(
    *,
    key: str,
    unit_name: str,
    day: date,
    alerts: Sequence[DigestAlert],
    lang: str = "vi",
) -> DigestText:
    """The digest of `alerts` for the unit named `unit_name` on `day` (message key `key`)."""
    t = load_digest_templates(lang)
    unit_name = plain_line(unit_name)  # one line, no control character, as the alerts name it
    values = {"unit_name": unit_name, "day": day.strftime(t.date_format), "count": len(alerts)}
    subject = t.format("subject", **values)
    items = ordered(alerts)
    text_lines = [f"{t.texts['greeting_label']}: {unit_name}.", "", t.format("intro", **values)]
    html_items: list[str] = []
    for number, alert in enumerate(items, start=1):
        title = alert.title
        if alert.level >= URGENT_LEVEL:
            title = f"[{t.texts['urgent']}] {title}"
        heading = t.format("item", number=number, title=title)
        text_lines += ["", heading, alert.content.strip()]
        html_items.append(
            '<li style="margin-bottom:14px">'
            f'<p style="margin:0 0 4px 0;font-weight:bold">{html.escape(title)}</p>'
            '<p style="margin:0;white-space:pre-line">'
            f"{html.escape(alert.content.strip())}</p></li>"
        )
    closing = t.format("closing", **values)
    footer = t.format("footer", key=key)
    text_lines += ["", closing, "", "--", footer, ""]
    body = "\n".join(text_lines)
    page = (
        f'<!DOCTYPE html>\n<html lang="{t.lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(subject)}</title></head>\n"
        "<body style=\"font-family:'Times New Roman',Times,serif;font-size:14px;"
        'line-height:1.45;color:#111;max-width:760px">\n'
        f"<p><b>{html.escape(t.texts['greeting_label'])}:</b> {html.escape(unit_name)}.</p>\n"
        f"<p>{html.escape(t.format('intro', **values))}</p>\n"
        f'<ol style="padding-left:22px">{"".join(html_items)}</ol>\n'
        f"<p>{html.escape(closing)}</p>\n"
        '<hr style="border:none;border-top:1px solid #bbb">\n'
        f'<p style="font-size:12px;color:#555">{html.escape(footer)}</p>\n'
        "</body></html>\n"
    )
    return DigestText(subject, body, page)
