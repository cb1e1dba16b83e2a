"""idesk-connector: pull assigned tasks from an iDesk-style document system into a ledger,
classify their deadline status the Vietnamese way, push tracking status and alerts back, and
report to the Chairman's Working Group.

The public API, by concept (each module holds one):

- settings and errors: `load_settings`, `Settings`, `ConnectorError` and its branches;
- vocabulary: `NormalisedTask`, `Classification`, `StatusCode`, `AlertType`, `TaskState`, `Unit`;
- mapping and client: `load_mapping`, `normalise`, `SourceClient`;
- ledger: `open_ledger`, `Ledger`;
- rules: `load_calendar`, `WorkingCalendar`, `classify`, `DeadlinePolicy`, `suggest_deadline`
  (with `Suggestion`, `Recurrence`);
- runs: `run_job` (pull / push / sync), `pull`, `deliver_pending`;
- reports: `ReportOptions`, `build_report`, `report_current`, `report_as_of`, `render`.

The names are loaded on first use (PEP 562), so ``import connector.errors`` or a command that
needs little does not pay for the libraries of the others (SQLAlchemy, alembic, openpyxl, rich,
requests). Where each name is defined: `_EXPORTS`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.errors import (
        AuthError,
        BadRecord,
        ConfigError,
        ConnectorError,
        DeliveryError,
        DeliveryRefused,
        Interrupted,
        LedgerError,
        LedgerMissing,
        LockHeld,
        MappingError,
        NotFound,
        SourceError,
        SourcePagingError,
        SourceUnavailable,
    )
    from connector.ledger.db import Ledger, open_ledger
    from connector.mapping.normalise import normalise
    from connector.mapping.spec import MappingSpec, load_mapping
    from connector.models import (
        AlertType,
        Classification,
        NormalisedTask,
        StatusCode,
        TaskState,
        Unit,
        UnitKind,
    )
    from connector.ops.jobs import JobResult, run_job
    from connector.outbox.delivery import deliver_pending
    from connector.reports.build import build_report, report_as_of, report_current
    from connector.reports.model import ReportOptions
    from connector.reports.render.formats import render
    from connector.rules.calendar import WorkingCalendar, load_calendar
    from connector.rules.deadlines import DeadlinePolicy, classify
    from connector.rules.phrases import Recurrence, Suggestion, suggest_deadline
    from connector.settings import Settings, load_settings
    from connector.source.client import SourceClient
    from connector.source.pull import PullResult, pull

_EXPORTS: dict[str, str] = {
    "AlertType": "connector.models",
    "AuthError": "connector.errors",
    "BadRecord": "connector.errors",
    "Classification": "connector.models",
    "ConfigError": "connector.errors",
    "ConnectorError": "connector.errors",
    "DeadlinePolicy": "connector.rules.deadlines",
    "DeliveryError": "connector.errors",
    "DeliveryRefused": "connector.errors",
    "Interrupted": "connector.errors",
    "JobResult": "connector.ops.jobs",
    "Ledger": "connector.ledger.db",
    "LedgerError": "connector.errors",
    "LedgerMissing": "connector.errors",
    "LockHeld": "connector.errors",
    "MappingError": "connector.errors",
    "MappingSpec": "connector.mapping.spec",
    "NormalisedTask": "connector.models",
    "NotFound": "connector.errors",
    "PullResult": "connector.source.pull",
    "Recurrence": "connector.rules.phrases",
    "ReportOptions": "connector.reports.model",
    "Settings": "connector.settings",
    "SourceClient": "connector.source.client",
    "SourceError": "connector.errors",
    "SourcePagingError": "connector.errors",
    "SourceUnavailable": "connector.errors",
    "StatusCode": "connector.models",
    "Suggestion": "connector.rules.phrases",
    "TaskState": "connector.models",
    "Unit": "connector.models",
    "UnitKind": "connector.models",
    "WorkingCalendar": "connector.rules.calendar",
    "build_report": "connector.reports.build",
    "classify": "connector.rules.deadlines",
    "deliver_pending": "connector.outbox.delivery",
    "load_calendar": "connector.rules.calendar",
    "load_mapping": "connector.mapping.spec",
    "load_settings": "connector.settings",
    "normalise": "connector.mapping.normalise",
    "open_ledger": "connector.ledger.db",
    "pull": "connector.source.pull",
    "render": "connector.reports.render.formats",
    "report_as_of": "connector.reports.build",
    "report_current": "connector.reports.build",
    "run_job": "connector.ops.jobs",
    "suggest_deadline": "connector.rules.phrases",
}
"""Each public name and the module that defines it."""

__all__ = [
    "AlertType",
    "AuthError",
    "BadRecord",
    "Classification",
    "ConfigError",
    "ConnectorError",
    "DeadlinePolicy",
    "DeliveryError",
    "DeliveryRefused",
    "Interrupted",
    "JobResult",
    "Ledger",
    "LedgerError",
    "LedgerMissing",
    "LockHeld",
    "MappingError",
    "MappingSpec",
    "NormalisedTask",
    "NotFound",
    "PullResult",
    "Recurrence",
    "ReportOptions",
    "Settings",
    "SourceClient",
    "SourceError",
    "SourcePagingError",
    "SourceUnavailable",
    "StatusCode",
    "Suggestion",
    "TaskState",
    "Unit",
    "UnitKind",
    "WorkingCalendar",
    "build_report",
    "classify",
    "deliver_pending",
    "load_calendar",
    "load_mapping",
    "load_settings",
    "normalise",
    "open_ledger",
    "pull",
    "render",
    "report_as_of",
    "report_current",
    "run_job",
    "suggest_deadline",
]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (PEP 562), then keep the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
