"""idesk-connector: pull assigned tasks from an iDesk-style document system into a ledger,
classify their deadline status the Vietnamese way, push tracking status and alerts back, and
report to the Chairman's Working Group.

The public API, by concept (each module holds one):

- settings and errors: `load_settings`, `Settings`, `ConnectorError` and its branches;
- vocabulary: `NormalisedTask`, `StatusCode`, `AlertType`, `TaskState`, `Unit`;
- mapping and client: `load_mapping`, `normalise`, `SourceClient`;
- ledger: `open_ledger`, `Ledger`;
- rules: `load_calendar`, `WorkingCalendar`, `classify`, `DeadlinePolicy`, `suggest_deadline`;
- runs: `run_job` (pull / push / sync), `pull`, `deliver_pending`;
- reports: `ReportOptions`, `build_report`, `report_current`, `report_as_of`, `render`.
"""

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
from connector.models import AlertType, NormalisedTask, StatusCode, TaskState, Unit, UnitKind
from connector.ops.jobs import JobResult, run_job
from connector.outbox.delivery import deliver_pending
from connector.reports.build import build_report, report_as_of, report_current
from connector.reports.model import ReportOptions
from connector.reports.render.formats import render
from connector.rules.calendar import WorkingCalendar, load_calendar
from connector.rules.deadlines import Classification, DeadlinePolicy, classify
from connector.rules.phrases import Suggestion, suggest_deadline
from connector.settings import Settings, load_settings
from connector.source.client import SourceClient
from connector.source.pull import PullResult, pull

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
