"""The report as JSON: a stable, documented schema (docs/report-json.md), version 1.

Keys are English and never depend on `lang`; only the human texts (`title`, `period.label`,
`denominator.text`, the standard lines of `document`, unit names of rows without a unit) are in
the report's language. Status
codes are those of the domain brief. Dates are ISO 8601 strings, absent values ``null``.
Adding a key keeps version 1; renaming or removing one, or changing a meaning, bumps it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, BinaryIO

from connector.i18n import Lang
from connector.models import StatusCode
from connector.reports.model import (
    Counts,
    ExtensionEntry,
    LateEntry,
    MissingEntry,
    OverdueEntry,
    RecurringEntry,
    Report,
    StaleEntry,
    TaskRef,
    UnitLine,
    denominator_text,
)
from connector.reports.render.common import DocumentText, document_text, prose

SCHEMA_VERSION = 1


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def counts_dict(counts: Counts) -> dict[str, Any]:
    """The figures of one row (or the total) under their schema keys."""
    percent = counts.rate.percent
    return {
        "total": counts.total,
        "with_deadline": counts.with_deadline,
        "without_deadline": counts.without_deadline,
        "without_deadline_product": counts.without_deadline_product,
        "without_deadline_routine": counts.without_deadline_routine,
        "extended_after_overdue": counts.extended_after_overdue,
        "recurring": counts.recurring,
        "occurrences": {
            "on_time": counts.occurrences.on_time,
            "late": counts.occurrences.late,
            "overdue": counts.occurrences.overdue,
            "pending": counts.occurrences.pending,
            "total": counts.occurrences.total,
        },
        "done": {
            "on_time": counts.done_on_time,
            "late": counts.done_late,
            "no_deadline": counts.done_no_deadline,
        },
        "open": {
            "within_deadline": counts.open_within,
            "overdue": counts.open_overdue,
            "overdue_over_30": counts.open_overdue_over_30,
            "no_deadline": counts.open_no_deadline,
            "no_deadline_stale": counts.open_no_deadline_stale,
        },
        "on_time_rate": {
            "numerator": counts.rate.numerator,
            "denominator": counts.rate.denominator,
            "percent": float(percent) if percent is not None else None,
        },
        "unconfirmed": counts.unconfirmed,
        "cancelled": counts.cancelled,
        "by_status": {code.value: counts.by_status.get(code, 0) for code in StatusCode},
    }


def _ref(ref: TaskRef) -> dict[str, Any]:
    """The task of an annex line: every field of `TaskRef` under its name, in its order
    (``tests/unit/test_report_json_stream.py`` holds it to `connector.ledger.codec.encode`)."""
    data: dict[str, Any] = {
        "source_id": ref.source_id,
        "sign_number": ref.sign_number,
        "subject": ref.subject,
        "unit_code": ref.unit_code,
        "unit_name": ref.unit_name,
        "doc_date": _day(ref.doc_date),
        "assigned_on": _day(ref.assigned_on),
        "content": ref.content,
        "progress": ref.progress,
    }
    if ref.source or ref.unit_source:  # over several sources (a one-source report: as before)
        data["source"] = ref.source
        data["unit_source"] = ref.unit_source
    return data


def _overdue(e: OverdueEntry) -> dict[str, Any]:
    return {
        **_ref(e.task),
        "original_deadline": _day(e.original_deadline),
        "deadline": _day(e.deadline),
        "eff_due": _day(e.eff_due),
        "days_overdue": e.days_overdue,
        "working_days_overdue": e.working_days_overdue,
        "overdue_over_30": e.over_30,
        "extended": e.extended,
        "confirmed": e.confirmed,
    }


def _late(e: LateEntry) -> dict[str, Any]:
    return {
        **_ref(e.task),
        "original_deadline": _day(e.original_deadline),
        "deadline": _day(e.deadline),
        "eff_due": _day(e.eff_due),
        "completed_on": _day(e.completed_on),
        "completion_estimated": e.completion_estimated,
        "days_late": e.days_late,
        "extended": e.extended,
    }


def _stale(e: StaleEntry) -> dict[str, Any]:
    return {**_ref(e.task), "last_report_on": _day(e.last_report_on), "idle_days": e.idle_days}


def _missing(e: MissingEntry) -> dict[str, Any]:
    return {
        **_ref(e.task),
        "status": e.status.value,
        "suggested_deadline": _day(e.suggested_deadline),
        "suggested_phrase": e.suggested_phrase,
        "suggested_recurrence": e.suggested_recurrence or None,
        "kind_words": list(e.kind_words),
    }


def _extended(e: ExtensionEntry) -> dict[str, Any]:
    return {
        **_ref(e.task),
        "status": e.status.value,
        "original_deadline": _day(e.original_deadline),
        "overdue_deadline": _day(e.old_deadline),
        "overdue_eff_due": _day(e.old_eff_due),
        "extended_on": _day(e.extended_on),
        "new_deadline": _day(e.new_deadline),
        "days_overdue_when_extended": e.days_overdue_when_extended,
        "extensions": e.extensions,
    }


def _recurring(e: RecurringEntry) -> dict[str, Any]:
    return {
        **_ref(e.task),
        "recurrence": e.recurrence,
        "period": e.period,
        "period_start": _day(e.period_start),
        "period_end": _day(e.period_end),
        "due": _day(e.due),
        "eff_due": _day(e.eff_due),
        "status": e.status.value,
        "reported_on": _day(e.reported_on),
        "days_overdue": e.days_overdue,
    }


def _document(report: Report, doc: DocumentText, lang: Lang) -> dict[str, Any]:
    form = report.form
    return {
        "governing_body": doc.governing_body,
        "issuing_body": doc.issuing_body,
        "number": form.number.strip() or None,
        "symbol": form.symbol,
        "reference": doc.reference,
        "place": form.place.strip() or None,
        "date": report.as_of.isoformat(),
        "place_date": doc.place_date,
        "doc_type": doc.doc_type,
        "subject": doc.subject,
        "summary": prose(report, lang),
        "recipients": list(doc.recipients),
        "signer": {
            "authority": doc.signer_authority or None,
            "title": doc.signer_title,
            "name": doc.signer_name or None,
        },
        "annex_attached": doc.annex_attached,
    }


def _row_sources(report: Report, row: UnitLine) -> dict[str, Any]:
    """Over several sources: the row's source (null: a mapped unit) and the sources it
    counts; nothing in a one-source report."""
    if not report.sources:
        return {}
    return {"source": row.source or None, "sources": list(row.sources)}


def _rollup_keys(report: Report) -> dict[str, Any]:
    """Over several sources (``report --by unit``): ``by`` and ``sources``; nothing in a
    one-source report."""
    if not report.sources:
        return {}
    return {"by": "unit", "sources": list(report.sources)}


def _head_dict(report: Report, lang: Lang | None) -> dict[str, Any]:
    """The report as `report_dict` gives it, but its annexes."""
    chosen: Lang = lang or report.lang
    period = report.period
    doc = document_text(report, chosen)
    return {
        **_rollup_keys(report),
        "schema_version": SCHEMA_VERSION,
        "title": report.title,
        "issuer": doc.heading_first_line,
        "lang": chosen,
        "as_of": report.as_of.isoformat(),
        "period": {
            "code": period.code,
            "kind": period.kind.value,
            "start": _day(period.start),
            "end": _day(period.end),
            "label": report.period_label(chosen),
            "basis": report.basis.value,
        },
        "unit_filter": report.options.unit,
        "fold": report.fold,
        "denominator": {
            "code": report.denominator.value,
            "text": denominator_text(report.denominator, report.fold, chosen),
        },
        "rows": [
            {
                "unit_code": row.code,
                "unit_name": row.name,
                "unit_kind": row.kind.value if row.kind is not None else None,
                **_row_sources(report, row),
                **counts_dict(row.counts),
            }
            for row in report.rows
        ],
        "total": counts_dict(report.total),
        "cancelled": report.cancelled,
        "undated": report.undated,
        "unreadable": report.unreadable,
        "confirmation_since": report.confirmation_since.isoformat(),
        "document": _document(report, doc, chosen),
    }


_Entry = Any
ANNEXES: tuple[tuple[str, str, Callable[[_Entry], dict[str, Any]]], ...] = (
    ("overdue", "overdue", _overdue),
    ("late", "late", _late),
    ("stale_no_deadline", "stale", _stale),
    ("missing_deadline", "missing_deadline", _missing),
    ("extended_after_overdue", "extended_after_overdue", _extended),
    ("recurring", "recurring", _recurring),
)
"""The annexes in the schema's order: their key, the `Report` attribute, one line's object."""


def report_dict(report: Report, lang: Lang | None = None) -> dict[str, Any]:
    """The report as plain JSON-ready data (schema version 1)."""
    return {
        **_head_dict(report, lang),
        "annexes": {key: [line(e) for e in getattr(report, attr)] for key, attr, line in ANNEXES},
    }


def render_json(report: Report, lang: Lang | None = None) -> str:
    """The report as pretty-printed UTF-8 JSON text (diacritics kept, not escaped)."""
    return "".join(iter_json(report, lang))


def iter_json(report: Report, lang: Lang | None = None) -> Iterator[str]:
    """`render_json`'s text piece by piece, for writing it out without the whole text (nor
    its objects) in memory: the annex lines are encoded one at a time, as
    ``json.dumps(report_dict(report, lang), ensure_ascii=False, indent=2)`` writes them, byte
    for byte (a report of 100,000 tasks is tens of megabytes of JSON)."""
    head = json.dumps(_head_dict(report, lang), ensure_ascii=False, indent=2)
    yield head[: -len("\n}")]  # the last key follows: the annexes
    yield ',\n  "annexes": {'
    for n, (key, attr, line) in enumerate(ANNEXES):
        yield f"{',' if n else ''}\n    {_string(key)}: "
        empty = True
        for entry in getattr(report, attr):
            yield f"{'[' if empty else ','}\n      {_line(line(entry))}"
            empty = False
        yield "[]" if empty else "\n    ]"
    yield "\n  }\n}\n"


def write_json(report: Report, out: BinaryIO, lang: Lang | None = None) -> None:
    """`render_json`'s text, UTF-8, written to `out` piece by piece."""
    for piece in iter_json(report, lang):
        out.write(piece.encode("utf-8"))


_string: Callable[[str], str] = json.encoder.encode_basestring
_INDENT = "  "


_LINE_KEY = "\n" + _INDENT * 4
_LINE_KEYS: dict[str, str] = {}


def _line(data: dict[str, Any]) -> str:
    """One annex line's object at its level in the document (3), as `_encoded` writes it:
    its values are mostly strings, numbers and null, encoded here without a call each."""
    parts = []
    for key, value in data.items():
        name = _LINE_KEYS.get(key)
        if name is None:
            name = _LINE_KEYS[key] = f"{_LINE_KEY}{_string(key)}: "
        if value is None:
            parts.append(name + "null")
        elif type(value) is str:
            parts.append(name + _string(value))
        elif type(value) is int:
            parts.append(name + int.__repr__(value))
        else:
            parts.append(name + _encoded(value, 4))
    if not parts:
        return "{}"
    return "{" + ",".join(parts) + "\n" + _INDENT * 3 + "}"


def _encoded(value: Any, level: int) -> str:
    """`value` as ``json.dumps(..., ensure_ascii=False, indent=2)`` writes it at nesting
    `level` (the same text, without the pure-Python encoder's generator per value)."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + _INDENT * (level + 1)
        items = (
            f"{_string(k) if isinstance(k, str) else _encoded(str(k), 0)}: {_encoded(v, level + 1)}"
            for k, v in value.items()
        )
        return "{" + inner + ("," + inner).join(items) + "\n" + _INDENT * level + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = "\n" + _INDENT * (level + 1)
        values = (_encoded(v, level + 1) for v in value)
        return "[" + inner + ("," + inner).join(values) + "\n" + _INDENT * level + "]"
    return json.dumps(value, ensure_ascii=False)  # a float, as json writes it
