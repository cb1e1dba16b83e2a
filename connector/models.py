"""The connector's typed vocabulary: a normalised task, its classification, and the codes
official reports use.

A `NormalisedTask` is what a mapping makes of one source record, whatever the source's dialect.
Everything downstream (ledger, deadline rules, alerts, reports) reads only this. A
`Classification` is what the deadline rules (`connector.rules.deadlines.classify`) make of a task
as of one date. The ledger stores both in the task table, its columns derived from these two
definitions (`connector.ledger.columns`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol


class TaskState(StrEnum):
    """Where a task stands at the source, after the mapping's status table."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class StatusCode(StrEnum):
    """Deadline status as official reports count it (domain brief, status taxonomy)."""

    HT_DUNG_HAN = "HT_DUNG_HAN"
    HT_QUA_HAN = "HT_QUA_HAN"
    HT_KHONG_HAN = "HT_KHONG_HAN"
    DTH_TRONG_HAN = "DTH_TRONG_HAN"
    DTH_QUA_HAN = "DTH_QUA_HAN"
    KHONG_THOI_HAN = "KHONG_THOI_HAN"
    DA_HUY = "DA_HUY"


STATUS_LABELS: dict[StatusCode, dict[str, str]] = {
    StatusCode.HT_DUNG_HAN: {"vi": "Hoàn thành đúng hạn", "en": "Completed on time"},
    StatusCode.HT_QUA_HAN: {"vi": "Hoàn thành quá hạn", "en": "Completed late"},
    StatusCode.HT_KHONG_HAN: {
        "vi": "Hoàn thành (không có thời hạn)",
        "en": "Completed (no deadline)",
    },
    StatusCode.DTH_TRONG_HAN: {
        "vi": "Đang thực hiện trong hạn",
        "en": "In progress, within deadline",
    },
    StatusCode.DTH_QUA_HAN: {"vi": "Đang thực hiện quá hạn", "en": "In progress, overdue"},
    StatusCode.KHONG_THOI_HAN: {
        "vi": "Đang thực hiện, không có thời hạn",
        "en": "In progress, no deadline",
    },
    StatusCode.DA_HUY: {"vi": "Đã thu hồi / hủy", "en": "Withdrawn / cancelled"},
}


class AlertType(StrEnum):
    """Notification types of the contract (section 7)."""

    SAP_DEN_HAN = "SAP_DEN_HAN"
    QUA_HAN = "QUA_HAN"
    DON_DOC_KHONG_HAN = "DON_DOC_KHONG_HAN"
    THIEU_THOI_HAN = "THIEU_THOI_HAN"
    DE_NGHI_XAC_NHAN = "DE_NGHI_XAC_NHAN"
    TONG_HOP = "TONG_HOP"


class TaskKind(StrEnum):
    """What an assignment asks for (`connector.rules.kinds` reads it from the task's words)."""

    PRODUCT = "product"
    """A concrete work product (nhiệm vụ có sản phẩm cụ thể): it must have a deadline."""
    ROUTINE = "routine"
    """A routine, ongoing duty (nhiệm vụ thường xuyên): urged every three months instead."""


@dataclass(frozen=True)
class KindOverride:
    """An administrator's choice of a task's kind (``idesk-connector tasks kind``)."""

    kind: TaskKind
    by: str
    reason: str = ""
    set_at: datetime | None = None


@dataclass(frozen=True)
class TaskFacts:
    """What the ledger knows of a task beyond its record, as of a date: the local dates of the
    lead unit's progress reports seen (oldest first) and an administrator's kind override."""

    report_dates: tuple[date, ...] = ()
    kind_override: KindOverride | None = None


NO_FACTS = TaskFacts()
"""A task the ledger knows nothing more of."""


class UnitKind(StrEnum):
    DEPARTMENT = "department"
    DISTRICT = "district"
    CENTRAL = "central"
    OFFICE = "office"


@dataclass(frozen=True)
class UnitRef:
    """A unit named on a task: its code and display name."""

    code: str
    name: str = ""


@dataclass(frozen=True)
class Unit:
    """A unit of the province as the source lists it (contract section 8)."""

    code: str
    name: str
    kind: UnitKind
    parent_code: str = ""


@dataclass(frozen=True)
class DeadlineChange:
    """One change of a task's deadline, oldest first on the task."""

    old_deadline: date | None
    new_deadline: date | None
    changed_at: datetime | None = None
    reason: str = ""


@dataclass(frozen=True)
class NormalisedTask:
    """One assignment (one task given to one lead unit), normalised from any dialect.

    Dates (`doc_date`, `deadline`) are local calendar dates; instants (`*_at`, `last_modified`)
    are timezone-aware UTC datetimes. `deadline is None` means the task has no deadline.
    """

    source_id: int
    last_modified: datetime
    state: TaskState
    source_status: str = ""
    ed_id: int | None = None
    sign_number: str = ""
    category: str = ""
    subject: str = ""
    author: str = ""
    publisher_code: str = ""
    signer: str = ""
    position: str = ""
    doc_date: date | None = None
    steering_type: int | None = None
    steering_by: str = ""
    steering_content: str = ""
    lead_unit_code: str = ""
    lead_unit_name: str = ""
    coordinators: tuple[UnitRef, ...] = ()
    assigned_at: datetime | None = None
    deadline: date | None = None
    deadline_changes: tuple[DeadlineChange, ...] = ()
    completed_at: datetime | None = None
    priority: int | None = None
    progress: int | None = None
    last_report_at: datetime | None = None
    confirmed: bool = False
    confirmed_at: datetime | None = None
    tracking_status: str = ""
    deleted: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def original_deadline(self) -> date | None:
        """The first deadline ever set (before any extension), else the current one."""
        if self.deadline_changes:
            return self.deadline_changes[0].old_deadline
        return self.deadline

    @property
    def extended(self) -> bool:
        """True when the deadline was changed at least once (đã gia hạn)."""
        return bool(self.deadline_changes)


class ReportedTask(Protocol):
    """What a report reads of a task (a `NormalisedTask` is one; the report of the day reads a
    lighter view of a task whose stored verdict it trusts: `connector.ledger.lines.TaskView`)."""

    @property
    def source_id(self) -> int: ...

    @property
    def sign_number(self) -> str: ...

    @property
    def subject(self) -> str: ...

    @property
    def doc_date(self) -> date | None: ...

    @property
    def steering_content(self) -> str: ...

    @property
    def lead_unit_code(self) -> str: ...

    @property
    def lead_unit_name(self) -> str: ...

    @property
    def assigned_at(self) -> datetime | None: ...

    @property
    def progress(self) -> int | None: ...

    @property
    def last_report_at(self) -> datetime | None: ...

    @property
    def last_modified(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Classification:
    """A task's status and flags as of one local date.

    * `deadline`: the deadline in force on `as_of` (``None``: no deadline); `eff_due` is it
      moved to a working day; `original_deadline` the first deadline ever set.
    * `days_overdue` / `working_days_overdue`: for an open overdue task, days from `eff_due` to
      `as_of`; for a late completion, days from `eff_due` to the completion date; else 0.
      Working days count as in `WorkingCalendar.working_days_between` (eff_due excluded).
    * `deadline` is, for a task completed by `as_of`, the deadline in force on its completion
      date (`judged_on`): a change recorded after completion never changes the verdict.
    * `working_days_left`: open task within its deadline only: working days after `as_of` up to
      and including `eff_due` (due tomorrow: 1; due today: 0, "đến hạn hôm nay").
    * `due_soon`: open, within deadline, and ``working_days_left <= due_soon_working_days``
      (never when that policy value is 0, never for an overdue task).
    * `overdue_over_30`: open and overdue by more than `overdue_long_days` calendar days (the
      report's "of which > 30 days"); not set for late completions.
    * `stale_no_deadline`: open, no deadline, more than `no_deadline_stale_months` months
      since the later of assignment and the last progress report (both up to `as_of`).
    * `unconfirmed`: the lead unit had not confirmed the status by `as_of`.
    * `extended_after_overdue`: a deadline change in force was made after the deadline it
      replaced had passed ("gia hạn sau khi đã quá hạn"): the status follows the new deadline,
      the overdue spell is erased from it, and this flag says so.
    * `completed_on`: local completion date when done by `as_of`; `completion_estimated` says
      it was taken from `last_modified` because the source gave no completion instant.
    * `not_yet_assigned`: the task was assigned after `as_of` (reports as of that date should
      leave it out).
    * `judged_on`: the day whose deadline counts: the completion date of a task done by `as_of`,
      else `as_of` (None only for a classification built by hand).
    """

    status: StatusCode
    as_of: date
    deadline: date | None
    eff_due: date | None
    original_deadline: date | None
    days_overdue: int = 0
    working_days_overdue: int = 0
    working_days_left: int | None = None
    due_soon: bool = False
    overdue_over_30: bool = False
    stale_no_deadline: bool = False
    unconfirmed: bool = False
    extended: bool = False
    extended_after_overdue: bool = False
    completed_on: date | None = None
    completion_estimated: bool = False
    not_yet_assigned: bool = False
    judged_on: date | None = None


TASK_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(NormalisedTask) if f.name != "extra")
"""Names a mapping may fill (one rule per field)."""

REQUIRED_TASK_FIELDS: tuple[str, ...] = ("source_id", "last_modified", "state")
"""Fields every record must yield; a mapping must have a rule for each."""
