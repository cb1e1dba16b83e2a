"""idesk-connector: pull assigned tasks from an iDesk-style document system into a ledger,
classify their deadline status the Vietnamese way, push tracking status and alerts back, and
report to the Chairman's Working Group.

The public API, by concept (each module holds one):

- settings and errors: `load_settings`, `Settings`, `ConnectorError` and its branches;
- vocabulary: `NormalisedTask`, `StatusCode`, `AlertType`, `TaskState`, `Unit`;
- mapping and client: `load_mapping`, `normalise`, `SourceClient`;
- ledger: `open_ledger`, `Ledger`;
- rules: `load_calendar`, `WorkingCalendar`, `classify`, `DeadlinePolicy`, `suggest_deadline`
  (with `Suggestion`, `Recurrence`);
- runs: `run_job` (pull / push / sync), `pull`, `deliver_pending`;
- reports: `ReportOptions`, `build_report`, `report_current`, `report_as_of`, `render`.
"""

from connector.calendar import WorkingCalendar, load_calendar
from connector.client import SourceClient
from connector.deadlines import Classification, DeadlinePolicy, classify
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
from connector.jobs import JobResult, run_job
from connector.ledger.db import Ledger, open_ledger
from connector.mapping import MappingSpec, load_mapping, normalise
from connector.models import AlertType, NormalisedTask, StatusCode, TaskState, Unit, UnitKind
from connector.phrases import Recurrence, Suggestion, suggest_deadline
from connector.push import deliver_pending
from connector.report_render import render
from connector.reports import ReportOptions, build_report, report_as_of, report_current
from connector.settings import Settings, load_settings
from connector.sync import PullResult, pull

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
