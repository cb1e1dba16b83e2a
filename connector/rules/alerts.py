"""Alert rules: which notifications a task calls for on a given local day. Pure functions.

Given a task, its `Classification` as of ``as_of``, the working calendar, the `AlertSettings` and
the idempotency keys already in the outbox, `alert_intents` returns what is new to record. Each
alert is sent once per *occasion*, and the occasion is part of its idempotency key
(`alert_key`: ``alr:{task_id}:{type}:{occasion}``):

=====================  ==========================================================  ===============
type                   when (nominal day; see "holding" below)                      occasion
=====================  ==========================================================  ===============
``SAP_DEN_HAN``        the first day an open task has at most N working days left   ``eff_due``
                       (N = ``due_soon_working_days``, default 3; 0 disables it):   (ISO date)
                       working days *after* the day up to and including ``eff_due``
``QUA_HAN``            the first day after ``eff_due``, then every                  ``{eff}#{k}``
                       ``overdue_repeat_days`` (7) days while the task is open      (k = 1, 2..)
``DON_DOC_KHONG_HAN``  open, no deadline, not a recurring obligation: every         ``{k}``
                       ``no_deadline_urge_months`` (3) months after the assignment
                       date (Civil Code Art. 148); product and routine tasks alike
``THIEU_THOI_HAN``     an open **product** assignment without deadline (not a       assignment date
                       routine duty, not a recurring obligation), first seen by     (ISO) or ``-``
                       the connector and assigned at most
                       ``new_assignment_window_days`` (7) days before that
``DE_NGHI_XAC_NHAN``   ``confirm_days_before`` (3) working days before the monthly  ``YYYY-MM``
                       report cut-off (``report_cutoff_day``) until the cut-off, for
                       tasks the lead unit has not confirmed that are open or were
                       completed since the last report (after the previous month's
                       cut-off; `connector.rules.confirmation`)
=====================  ==========================================================  ===============

Only open tasks (statuses ``DTH_TRONG_HAN``, ``DTH_QUA_HAN``, ``KHONG_THOI_HAN``) call for alerts,
except ``DE_NGHI_XAC_NHAN``, which also asks to confirm the completion of a task completed (on
time or late) since the previous month's cut-off; its text then says so.

**Recurring obligations** (`connector.rules.recurring`: "báo cáo định kỳ hằng tháng trước ngày
20") get ``SAP_DEN_HAN`` and ``QUA_HAN`` **per occurrence** instead of ``DON_DOC_KHONG_HAN`` and
``THIEU_THOI_HAN``; the occasion names the occurrence's period and its ``eff_due``:
``{period}@{eff}`` (``2022-03@2022-03-21``) and ``{period}@{eff}#{k}``. Due soon: as for a task,
for an occurrence not yet reported. Overdue: the first day after its ``eff_due``, then every
``overdue_repeat_days`` while it stays unreported and its window is open (a report after the
window belongs to the next period); an occasion is the latest to send only while it is current
(fewer than ``overdue_repeat_days`` days past the day it could first be sent, held to a working
day: one held over Tết is sent on the first working day after it), so a missed period is not
announced again weeks later.

**Holding.** With ``hold_on_non_working_days`` (the default) an alert whose nominal day is not a
working day is held until the next working day (`WorkingCalendar.next_working_day_on_or_after`),
and nothing new is produced on a non-working day at all (a task that arrives on a Saturday
already due soon is alerted on Monday); `connector.outbox.delivery` likewise holds alert deliveries.

**No flood.** For each task and alert type only the most recent occasion due by ``as_of`` is
sent (``is_latest``); the older ones that are not yet in the outbox are returned with
``is_latest=False`` and recorded as ``past`` (never sent). So the first sync of a province, or a
run after the connector was stopped for weeks, sends a task overdue for ten weeks one overdue
alert, not ten. At most `MAX_PAST_OCCASIONS` (12) older occasions are recorded per task and
type. A ``THIEU_THOI_HAN`` for an assignment older than the window is likewise ``past``.
``DE_NGHI_XAC_NHAN`` after the month's cut-off, and ``SAP_DEN_HAN`` once the task is overdue,
are not due at all (nothing is recorded).

**Levels** (contract section 7: 0 information, 1 warning, 2 urgent): ``QUA_HAN`` 2 when the task
is overdue by more than ``overdue_long_days`` (30) calendar days, else 1; ``SAP_DEN_HAN``,
``DON_DOC_KHONG_HAN`` and ``THIEU_THOI_HAN`` 1 (each asks a unit to act); ``DE_NGHI_XAC_NHAN`` 0
(a routine monthly request).

**Recipients** come from ``alerts.recipients[type]`` (``"lead"`` is the task's lead unit, anything
else a unit code) plus ``alerts.extra_recipients[kind]`` for the kind of the lead unit. Only codes
in the ledger's unit table are addressed; the others are returned in ``skipped_recipients`` for
the caller to log. An alert left with no recipient is not produced at all (so it can be planned
once the unit table knows the units).

**Text** comes from ``connector/rules/templates/alerts.{lang}.toml`` (formal Vietnamese by default,
English with ``lang = "en"``), never from code. It is **bounded**, whatever the source holds:
each value taken from a record is cut to `FIELD_CHARS` (the subject to 500 characters, the
steering content to 1,023, ...), and a title to `MAX_TITLE_CHARS` (250), a content to
`MAX_CONTENT_CHARS` (4,000); a cut ends with "…".
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from connector.clock import local_date
from connector.errors import ConfigError, Problem
from connector.models import STATUS_LABELS, AlertType, NormalisedTask, StatusCode, Unit
from connector.rules.calendar import WorkingCalendar
from connector.rules.confirmation import previous_cutoff, since_cutoff, to_confirm
from connector.rules.deadlines import Classification, add_months
from connector.rules.kinds import TaskKind
from connector.rules.recurring import Occurrence, RecurringObligation
from connector.settings import AlertSettings

Lang = Literal["vi", "en"]

OPEN_STATUSES: frozenset[StatusCode] = frozenset(
    {StatusCode.DTH_TRONG_HAN, StatusCode.DTH_QUA_HAN, StatusCode.KHONG_THOI_HAN}
)
"""Statuses of tasks that call for alerts."""

ALERT_TYPES: tuple[AlertType, ...] = (
    AlertType.SAP_DEN_HAN,
    AlertType.QUA_HAN,
    AlertType.DON_DOC_KHONG_HAN,
    AlertType.THIEU_THOI_HAN,
    AlertType.DE_NGHI_XAC_NHAN,
)
"""The per-task alert types, in the order they are evaluated (``TONG_HOP`` is a digest)."""

LEAD = "lead"
"""The recipient placeholder for the task's lead unit."""

NO_ASSIGNMENT_DATE = "-"

MAX_PAST_OCCASIONS = 12
"""Older occasions of a repeating alert kept as ``past`` behind the latest (a bounded record: a
task overdue for years does not add hundreds of rows; an occasion older than these is never due
again, so it needs no record to stay unsent)."""


def alert_key(task_id: int, alert_type: AlertType | str, occasion: str) -> str:
    """The idempotency key of one alert occasion: ``alr:{task_id}:{type}:{occasion}``."""
    return f"alr:{task_id}:{AlertType(alert_type).value}:{occasion}"


# -- what the rules are given and what they return -----------------------------------------------


@dataclass(frozen=True)
class AlertContext:
    """What the rules need beyond the task, its classification and the settings.

    * `units`: the ledger's unit table by code (recipients must be listed there).
    * `first_seen_on`: local date the connector first saw the task (None: today).
    * `suggested_deadline` / `suggested_phrase`: a deadline read from the text, if any.
    * `overdue_long_days`: ``QUA_HAN`` is urgent (level 2) past this many calendar days.
    * `kind`: product or routine (`connector.rules.kinds`); only a product task without
      deadline calls for ``THIEU_THOI_HAN``. `kind_words`: the words it was read from.
    * `recurring`: the task's occurrences when it is a recurring obligation (None: it is not).
    """

    units: Mapping[str, Unit]
    first_seen_on: date | None = None
    suggested_deadline: date | None = None
    suggested_phrase: str = ""
    overdue_long_days: int = 30
    kind: TaskKind = TaskKind.PRODUCT
    kind_words: tuple[str, ...] = ()
    recurring: RecurringObligation | None = None


@dataclass(frozen=True)
class Occasion:
    """One occasion of an alert type that is due by ``as_of``.

    `nominal_on` is the day the rule names, `send_on` the day it may be sent (held to a working
    day when so configured), `index` the k of a repeating alert (0 otherwise), `occurrence` the
    occurrence of a recurring obligation it is about (None: the task itself).
    """

    type: AlertType
    occasion: str
    nominal_on: date
    send_on: date
    is_latest: bool
    index: int = 0
    occurrence: Occurrence | None = None


@dataclass(frozen=True)
class AlertIntent:
    """One notification to record in the outbox (sent when `is_latest`, else kept as ``past``)."""

    type: AlertType
    task_id: int
    occasion: str
    recipients: tuple[str, ...]
    level: int
    send_on: date
    title: str
    content: str
    is_latest: bool
    skipped_recipients: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The idempotency key (`alert_key`)."""
        return alert_key(self.task_id, self.type, self.occasion)

    def payload(self) -> dict[str, Any]:
        """The body of ``POST /notifications/send.cpx`` (contract section 7)."""
        return {
            "type": self.type.value,
            "taskId": self.task_id,
            "recipients": list(self.recipients),
            "level": self.level,
            "title": self.title,
            "content": self.content,
        }


# -- templates -----------------------------------------------------------------------------------

MAX_TITLE_CHARS = 250
"""An alert's title never exceeds this many characters."""
MAX_CONTENT_CHARS = 4000
"""An alert's content never exceeds this many characters."""
FIELD_CHARS: Mapping[str, int] = {
    "sign_number": 100,
    "subject": 500,
    "steering_content": 1023,
    "lead_unit": 200,
    "phrase": 200,
}
"""At most this many characters of each value taken from a record into an alert's text (the
steering content: the contract's own limit)."""
ELLIPSIS = "…"

_TEXT_KEYS = ("title", "content")
OCCURRENCE_TYPES: tuple[AlertType, ...] = (AlertType.SAP_DEN_HAN, AlertType.QUA_HAN)
"""Alert types that also speak of an occurrence of a recurring obligation; their sections
hold ``occurrence_title`` and ``occurrence_content`` as well."""
_OCCURRENCE_KEYS = ("occurrence_title", "occurrence_content")
FRAGMENT_KEYS: tuple[str, ...] = (
    "document",
    "document_no_date",
    "no_sign_number",
    "no_subject",
    "no_date",
    "task_content",
    "rolled",
    "extended",
    "last_report",
    "no_report",
    "suggestion",
    "no_suggestion",
    "deadline_part",
    "days_left",
    "due_today",
    "product_words",
    "confirm_status",
    "confirm_completion",
    "completion_part",
    "period_day",
    "period_week",
    "period_month",
    "period_months",
    "period_quarter",
    "period_half",
    "period_year",
    "first_half",
    "second_half",
)
"""Fragments every template file must define."""


@dataclass(frozen=True)
class Templates:
    """The texts of one language, as loaded from ``rules/templates/alerts.{lang}.toml``."""

    lang: Lang
    date_format: str
    fragments: Mapping[str, str]
    alerts: Mapping[AlertType, Mapping[str, str]]
    tracking_notes: Mapping[StatusCode, str]
    source: str = ""

    def date(self, day: date | None) -> str:
        """A date as the texts print it (dd/mm/yyyy); the "unknown" fragment for None."""
        return day.strftime(self.date_format) if day is not None else self.fragments["no_date"]

    def fragment(self, name: str, **values: object) -> str:
        return self.fragments[name].format(**values)

    def title(
        self, alert_type: AlertType, values: Mapping[str, object], *, occurrence: bool = False
    ) -> str:
        """The title (of an occurrence's alert with `occurrence`), at most `MAX_TITLE_CHARS`."""
        key = "occurrence_title" if occurrence else "title"
        return bounded(self.alerts[alert_type][key].format_map(values), MAX_TITLE_CHARS)

    def content(
        self, alert_type: AlertType, values: Mapping[str, object], *, occurrence: bool = False
    ) -> str:
        """The content (of an occurrence's alert with `occurrence`), at most
        `MAX_CONTENT_CHARS` characters."""
        key = "occurrence_content" if occurrence else "content"
        return bounded(self.alerts[alert_type][key].format_map(values), MAX_CONTENT_CHARS)

    def period(self, occurrence: Occurrence) -> str:
        """An occurrence's period in words ("tháng 03/2022", "quý I/2022", ...)."""
        period = occurrence.period
        start, end = period.start, period.end
        if period.unit == "D":
            return self.fragment("period_day", day=self.date(start))
        if period.unit == "W":
            return self.fragment("period_week", start=self.date(start), end=self.date(end))
        roman = ("I", "II", "III", "IV")
        values: dict[str, object] = {
            "month": f"{start.month:02d}",
            "last_month": f"{end.month:02d}",
            "year": start.year,
            "quarter": (start.month - 1) // 3 + 1,
            "roman": roman[(start.month - 1) // 3],
            "half_name": self.fragments["first_half" if start.month <= 6 else "second_half"],
        }
        name = {1: "period_month", 3: "period_quarter", 6: "period_half", 12: "period_year"}
        return self.fragment(name.get(period.months, "period_months"), **values)

    def tracking_note(self, status: StatusCode, values: Mapping[str, object]) -> str:
        return self.tracking_notes[status].format_map(values)


def _template_text(lang: str) -> tuple[str, str]:
    name = f"alerts.{lang}.toml"
    try:
        resource = resources.files("connector.rules").joinpath("templates", name)
        return resource.read_text(encoding="utf-8"), f"connector/rules/templates/{name}"
    except (NotADirectoryError, TypeError, ModuleNotFoundError):  # pragma: no cover
        path = Path(__file__).parent / "templates" / name
        return path.read_text(encoding="utf-8"), str(path)


def parse_templates(text: str, source: str, lang: Lang) -> Templates:
    """Validate a template file; every problem is reported together (`ConfigError`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(source, f"not valid TOML: {exc}")], source=source) from exc
    problems: list[Problem] = []

    def text_at(section: Any, key: str, where: str) -> str:
        value = section.get(key) if isinstance(section, dict) else None
        if not isinstance(value, str) or not value:
            problems.append(Problem(f"{source}: {where}.{key}", "missing or not a text"))
            return ""
        return unicodedata.normalize("NFC", value)

    date_format = data.get("date_format")
    if not isinstance(date_format, str) or not date_format:
        problems.append(Problem(f"{source}: date_format", "missing or not a text"))
        date_format = "%d/%m/%Y"
    fragments = {k: text_at(data.get("fragments"), k, "fragments") for k in FRAGMENT_KEYS}
    alerts = {
        t: {
            k: text_at(data.get(t.value), k, t.value)
            for k in (*_TEXT_KEYS, *(_OCCURRENCE_KEYS if t in OCCURRENCE_TYPES else ()))
        }
        for t in ALERT_TYPES
    }
    notes = {s: text_at(data.get("tracking_note"), s.value, "tracking_note") for s in StatusCode}
    if problems:
        raise ConfigError(problems, source=source)
    return Templates(
        lang=lang,
        date_format=date_format,
        fragments=fragments,
        alerts=alerts,
        tracking_notes=notes,
        source=source,
    )


@functools.cache
def load_templates(lang: Lang = "vi") -> Templates:
    """The shipped texts of `lang` ("vi" or "en"), read once as package data."""
    if lang not in ("vi", "en"):
        raise ConfigError(f"unknown alert language {lang!r}; valid: vi, en")
    text, source = _template_text(lang)
    return parse_templates(text, source, lang)


# -- recipients ----------------------------------------------------------------------------------


def resolve_recipients(
    alert_type: AlertType,
    task: NormalisedTask,
    settings: AlertSettings,
    units: Mapping[str, Unit],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(recipients known to the unit table, codes skipped because they are not), in order."""
    wanted: list[str] = []
    for code in settings.recipients.get(alert_type.value, ()):
        wanted.append(task.lead_unit_code if code == LEAD else code)
    lead = units.get(task.lead_unit_code)
    if lead is not None:
        wanted.extend(settings.extra_recipients.get(lead.kind.value, ()))
    known: list[str] = []
    skipped: list[str] = []
    for code in dict.fromkeys(wanted):
        if code and code in units:
            known.append(code)
        else:
            skipped.append(code or f"{LEAD}(?)")
    return tuple(known), tuple(skipped)


# -- occasions -----------------------------------------------------------------------------------


def _held(day: date, calendar: WorkingCalendar, settings: AlertSettings) -> date:
    if settings.hold_on_non_working_days:
        return calendar.next_working_day_on_or_after(day)
    return day


def due_soon_day(eff_due: date, working_days: int, calendar: WorkingCalendar) -> date:
    """The first day on which at most `working_days` working days are left after it, up to and
    including `eff_due` (the definition of `Classification.working_days_left`).

    That is the (N+1)-th working day counted back from `eff_due` (inclusive), so it agrees with
    `Classification.due_soon` (``working_days_left <= N``): with N = 3 and a Thursday deadline,
    the Monday before (Tuesday, Wednesday and Thursday are left).
    """
    day = eff_due
    seen = 0
    while True:
        if calendar.is_working_day(day):
            seen += 1
            if seen == working_days + 1:
                return day
        day -= timedelta(days=1)


def assigned_on(task: NormalisedTask) -> date | None:
    """Local date of the assignment (its creation), else the document date."""
    if task.assigned_at is not None:
        return local_date(task.assigned_at)
    return task.doc_date


def months_between(start: date, day: date) -> int:
    """Whole months from `start` to `day`: the most `m` with ``add_months(start, m) <= day``."""
    months = (day.year - start.year) * 12 + day.month - start.month
    while months > 0 and add_months(start, months) > day:
        months -= 1
    return max(months, 0)


def confirmation_day(year: int, month: int, settings: AlertSettings, cal: WorkingCalendar) -> date:
    """Nominal day of the month's ``DE_NGHI_XAC_NHAN``: N working days before the cut-off."""
    day = date(year, month, settings.report_cutoff_day)
    remaining = settings.confirm_days_before
    while remaining:
        day -= timedelta(days=1)
        if cal.is_working_day(day):
            remaining -= 1
    return day


@dataclass(frozen=True)
class ConfirmationWindow:
    """The days the ``DE_NGHI_XAC_NHAN`` of one month's report cut-off is due: from `send_on`
    (`confirmation_day`, held to a working day) to `end` (the cut-off, or `send_on` when the
    request is held past it). It may open in the month before the cut-off's (a cut-off early in
    the month) or, held, close in the month after (a cut-off on a day off late in the month)."""

    year: int
    month: int
    cutoff: date
    send_on: date

    @property
    def end(self) -> date:
        return max(self.cutoff, self.send_on)

    @property
    def occasion(self) -> str:
        """The request's occasion: the cut-off's month, ``YYYY-MM``."""
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def since(self) -> date:
        """The previous cut-off: a task completed after it is asked to confirm its completion."""
        return previous_cutoff(self.year, self.month, self.cutoff.day)


def confirmation_window(
    year: int, month: int, settings: AlertSettings, cal: WorkingCalendar
) -> ConfirmationWindow:
    """The request window of the cut-off of (`year`, `month`)."""
    nominal = confirmation_day(year, month, settings, cal)
    cutoff = date(year, month, settings.report_cutoff_day)
    return ConfirmationWindow(year, month, cutoff, _held(nominal, cal, settings))


def confirmation_windows(
    day: date, settings: AlertSettings, cal: WorkingCalendar
) -> list[ConfirmationWindow]:
    """The request windows of the cut-offs of the month before `day`'s, its own and the next,
    in this order: every window that can hold `day` or open soon after it."""
    first = day.replace(day=1)
    months = (add_months(first, -1), first, add_months(first, 1))
    return [confirmation_window(m.year, m.month, settings, cal) for m in months]


def confirmation_due(
    as_of: date, settings: AlertSettings, cal: WorkingCalendar
) -> ConfirmationWindow | None:
    """The request window `as_of` lies in (the earliest, should two overlap), or None."""
    for window in confirmation_windows(as_of, settings, cal):
        if window.send_on <= as_of <= window.end:
            return window
    return None


def _series(
    alert_type: AlertType,
    nominal: list[tuple[int, date]],
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
    *,
    label: str,
) -> list[Occasion]:
    """Occasions (index, nominal day) whose held day is on or before `as_of`; last is latest.

    Only the latest and the `MAX_PAST_OCCASIONS` before it are returned (nominal days are in
    order and holding never reorders them; a held day can pass `as_of` only for the last few).
    """
    tail = nominal[-(MAX_PAST_OCCASIONS + 4) :]
    due = [(k, day, _held(day, calendar, settings)) for k, day in tail]
    due = [item for item in due if item[2] <= as_of][-(MAX_PAST_OCCASIONS + 1) :]
    return [
        Occasion(
            type=alert_type,
            occasion=f"{label}{k}",
            nominal_on=day,
            send_on=held,
            is_latest=i == len(due) - 1,
            index=k,
        )
        for i, (k, day, held) in enumerate(due)
    ]


def _overdue(
    cls: Classification, as_of: date, calendar: WorkingCalendar, settings: AlertSettings
) -> list[Occasion]:
    eff = cls.eff_due
    if cls.status is not StatusCode.DTH_QUA_HAN or eff is None:
        return []
    repeat = settings.overdue_repeat_days
    first = eff + timedelta(days=1)
    last_k = (as_of - first).days // repeat + 1
    nominal = [(k, first + timedelta(days=repeat * (k - 1))) for k in range(1, last_k + 1)]
    label = f"{eff.isoformat()}#"
    return _series(AlertType.QUA_HAN, nominal, as_of, calendar, settings, label=label)


def _due_soon(
    cls: Classification, as_of: date, calendar: WorkingCalendar, settings: AlertSettings
) -> list[Occasion]:
    eff = cls.eff_due
    n = settings.due_soon_working_days
    if cls.status is not StatusCode.DTH_TRONG_HAN or eff is None or n <= 0:
        return []
    nominal = due_soon_day(eff, n, calendar)
    send_on = _held(nominal, calendar, settings)
    if not send_on <= as_of <= eff:
        return []
    return [Occasion(AlertType.SAP_DEN_HAN, eff.isoformat(), nominal, send_on, True)]


def _occurrence_due_soon(
    recurring: RecurringObligation,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
) -> list[Occasion]:
    """``SAP_DEN_HAN`` of each occurrence not yet reported whose last N working days began."""
    n = settings.due_soon_working_days
    if n <= 0:
        return []
    found: list[Occasion] = []
    for occ in recurring.occurrences:
        if occ.status is not StatusCode.DTH_TRONG_HAN:
            continue
        nominal = due_soon_day(occ.eff_due, n, calendar)
        send_on = _held(nominal, calendar, settings)
        if send_on <= as_of <= occ.eff_due:
            label = f"{occ.key}@{occ.eff_due.isoformat()}"
            found.append(
                Occasion(AlertType.SAP_DEN_HAN, label, nominal, send_on, False, occurrence=occ)
            )
    if found:
        found[-1] = replace(found[-1], is_latest=True)
    return found


def _occurrence_overdue(
    recurring: RecurringObligation,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
) -> list[Occasion]:
    """``QUA_HAN`` of each unreported occurrence past its ``eff_due``: the day after, then every
    ``overdue_repeat_days`` while its window is open; only a current occasion is the latest."""
    repeat = settings.overdue_repeat_days
    due: list[Occasion] = []
    for occ in recurring.occurrences:
        if occ.status is not StatusCode.DTH_QUA_HAN:
            continue
        first = occ.eff_due + timedelta(days=1)
        k, day = 1, first
        while day <= as_of and (k == 1 or day <= occ.window_end):
            held = _held(day, calendar, settings)
            if held <= as_of:
                label = f"{occ.key}@{occ.eff_due.isoformat()}#{k}"
                due.append(Occasion(AlertType.QUA_HAN, label, day, held, False, k, occ))
            k += 1
            day = first + timedelta(days=repeat * (k - 1))
    due.sort(key=lambda o: (o.nominal_on, o.occasion))
    due = due[-(MAX_PAST_OCCASIONS + 1) :]
    if due and (as_of - due[-1].send_on).days < repeat:  # held over a long break: still current
        due[-1] = replace(due[-1], is_latest=True)
    return due


def _urge(
    task: NormalisedTask,
    cls: Classification,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
) -> list[Occasion]:
    start = assigned_on(task)
    if cls.status is not StatusCode.KHONG_THOI_HAN or start is None:
        return []
    months = settings.no_deadline_urge_months
    nominal: list[tuple[int, date]] = []
    k = 1
    while (day := add_months(start, months * k)) <= as_of:
        nominal.append((k, day))
        k += 1
    return _series(AlertType.DON_DOC_KHONG_HAN, nominal, as_of, calendar, settings, label="")


def _missing_deadline(
    task: NormalisedTask,
    cls: Classification,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
    *,
    context: AlertContext,
) -> list[Occasion]:
    if cls.status is not StatusCode.KHONG_THOI_HAN or context.kind is not TaskKind.PRODUCT:
        return []
    start = assigned_on(task)
    seen = context.first_seen_on or as_of
    send_on = _held(seen, calendar, settings)
    if send_on > as_of:
        return []
    recent = start is not None and (seen - start).days <= settings.new_assignment_window_days
    occasion = start.isoformat() if start is not None else NO_ASSIGNMENT_DATE
    return [Occasion(AlertType.THIEU_THOI_HAN, occasion, seen, send_on, recent)]


def _confirmation(
    cls: Classification, as_of: date, calendar: WorkingCalendar, settings: AlertSettings
) -> list[Occasion]:
    window = confirmation_due(as_of, settings, calendar)
    if window is None or not to_confirm(cls, window.since):
        return []
    nominal = confirmation_day(window.year, window.month, settings, calendar)
    return [Occasion(AlertType.DE_NGHI_XAC_NHAN, window.occasion, nominal, window.send_on, True)]


@functools.cache
def enabled_types(types: tuple[str, ...]) -> frozenset[AlertType]:
    """The alert types ``alerts.types`` enables (worked out once, not per task)."""
    return frozenset(AlertType(t) for t in types)


def due_occasions(
    task: NormalisedTask,
    classification: Classification,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
    *,
    context: AlertContext,
) -> list[Occasion]:
    """Every occasion of every enabled alert type due by `as_of` (older ones and the latest).

    The latest occasion of each type is the one to send; see the module docstring for the rules.
    Nothing for tasks not yet assigned as of `as_of`, or when alerts are off; for a task that is
    not open, at most the confirmation request of a completion since the last report.
    A recurring obligation (`AlertContext.recurring`) gets ``SAP_DEN_HAN`` and ``QUA_HAN`` per
    occurrence, and neither ``DON_DOC_KHONG_HAN`` nor ``THIEU_THOI_HAN``.
    """
    if not settings.enabled or classification.not_yet_assigned:
        return []
    is_open = classification.status in OPEN_STATUSES
    recurring = context.recurring
    enabled = enabled_types(settings.types)
    found: list[Occasion] = []
    for alert_type in ALERT_TYPES:
        if alert_type not in enabled:
            continue
        if not is_open and alert_type is not AlertType.DE_NGHI_XAC_NHAN:
            continue
        if alert_type is AlertType.SAP_DEN_HAN:
            found += _due_soon(classification, as_of, calendar, settings)
            if recurring is not None:
                found += _occurrence_due_soon(recurring, as_of, calendar, settings)
        elif alert_type is AlertType.QUA_HAN:
            found += _overdue(classification, as_of, calendar, settings)
            if recurring is not None:
                found += _occurrence_overdue(recurring, as_of, calendar, settings)
        elif alert_type is AlertType.DE_NGHI_XAC_NHAN:
            found += _confirmation(classification, as_of, calendar, settings)
        elif recurring is not None:
            continue  # its occurrences speak for it: no urge, no missing-deadline flag
        elif alert_type is AlertType.DON_DOC_KHONG_HAN:
            found += _urge(task, classification, as_of, calendar, settings)
        else:
            found += _missing_deadline(
                task, classification, as_of, calendar, settings, context=context
            )
    return found


# -- text ----------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)
"""Left out of an alert's text: the control characters that are not whitespace (an escape
sequence, a bell, DEL, the C1 controls such as the 8-bit CSI) and the bidirectional controls
(a right-to-left override reorders what the unit reads). The text goes out as it is, to the
source's notifications, an e-mail or a webhook's gateway."""


def _clean(text: str, limit: int | None = None) -> str:
    """NFC, control characters left out (`_INVISIBLE`), whitespace (newlines included)
    collapsed to single spaces, trimmed; at most `limit` characters (`bounded`)."""
    if limit is None:
        return _SPACES.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", text))).strip()
    head = text[: limit * 4 + 64]  # never normalise megabytes to keep a few hundred characters
    cleaned = _SPACES.sub(" ", _INVISIBLE.sub("", unicodedata.normalize("NFC", head))).strip()
    if len(head) < len(text) and len(cleaned) <= limit:
        return bounded(cleaned + " " + ELLIPSIS, limit)
    return bounded(cleaned, limit)


def plain_line(text: str) -> str:
    """`text` as an alert names it: NFC, on one line, without control characters
    (`_INVISIBLE`). For a unit's name in an e-mail digest's own lines."""
    return _clean(text)


def bounded(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, a cut marked with "…"."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def _lead_name(task: NormalisedTask, units: Mapping[str, Unit]) -> str:
    limit = FIELD_CHARS["lead_unit"]
    if task.lead_unit_name.strip():
        return _clean(task.lead_unit_name, limit)
    unit = units.get(task.lead_unit_code)
    return _clean(unit.name if unit is not None else task.lead_unit_code, limit)


def _deadline_note(cls: Classification, t: Templates) -> str:
    note = ""
    if cls.deadline is not None and cls.eff_due is not None and cls.eff_due != cls.deadline:
        note += t.fragment("rolled", eff_due=t.date(cls.eff_due))
    original = cls.original_deadline
    if cls.extended and original is not None and original != cls.deadline:
        note += t.fragment("extended", original_deadline=t.date(original))
    return note


def text_values(
    task: NormalisedTask,
    cls: Classification,
    as_of: date,
    templates: Templates,
    context: AlertContext,
) -> dict[str, object]:
    """Every placeholder the alert texts may use, for one task as of `as_of`."""
    t = templates
    sign = _clean(task.sign_number, FIELD_CHARS["sign_number"]) or t.fragments["no_sign_number"]
    if task.doc_date is not None:
        document = t.fragment("document", sign_number=sign, doc_date=t.date(task.doc_date))
    else:
        document = t.fragment("document_no_date", sign_number=sign)
    steering = _clean(task.steering_content, FIELD_CHARS["steering_content"])
    last_report = task.last_report_at
    if last_report is not None and local_date(last_report) <= as_of:
        report_status = t.fragment("last_report", last_report=t.date(local_date(last_report)))
    else:
        report_status = t.fragments["no_report"]
    if context.suggested_deadline is not None:
        suggestion = t.fragment(
            "suggestion",
            phrase=_clean(context.suggested_phrase, FIELD_CHARS["phrase"]),
            suggested_deadline=t.date(context.suggested_deadline),
        )
    else:
        suggestion = t.fragments["no_suggestion"]
    deadline = t.date(cls.deadline) if cls.deadline is not None else ""
    cutoff_day = date(as_of.year, as_of.month, 1)
    days_left = cls.working_days_left if cls.working_days_left is not None else 0
    words = "”, “".join(_clean(w, FIELD_CHARS["phrase"]) for w in context.kind_words)
    return {
        "sign_number": sign,
        "document": document,
        "subject": _clean(task.subject, FIELD_CHARS["subject"]) or t.fragments["no_subject"],
        "task_content": t.fragment("task_content", steering_content=steering) if steering else "",
        "lead_unit": _lead_name(task, context.units),
        "as_of": t.date(as_of),
        "deadline": deadline,
        "deadline_note": _deadline_note(cls, t),
        "deadline_part": t.fragment("deadline_part", deadline=deadline) if deadline else "",
        "days_overdue": cls.days_overdue,
        "days_left": days_left,
        "days_left_text": _days_left_text(days_left, cls.eff_due, as_of, t),
        "product_note": (
            t.fragment("product_words", words=words)
            if context.kind is TaskKind.PRODUCT and words
            else ""
        ),
        "period": "",
        "assigned": t.date(assigned_on(task)),
        "months": 0,
        "report_status": report_status,
        "suggestion": suggestion,
        "status_label": STATUS_LABELS[cls.status][t.lang],
        "month": f"{cutoff_day.month:02d}/{cutoff_day.year}",
        "cutoff": "",
        "confirm_subject": t.fragments["confirm_status"],
        "completion_part": "",
    }


def _days_left_text(days_left: int, eff_due: date | None, as_of: date, t: Templates) -> str:
    """ "còn 3 ngày làm việc", or "đến hạn hôm nay" on the due day itself."""
    if eff_due is not None and eff_due == as_of:
        return t.fragments["due_today"]
    return t.fragment("days_left", days_left=days_left)


def _occurrence_values(
    occasion: Occasion, occ: Occurrence, as_of: date, values: dict[str, object], t: Templates
) -> dict[str, object]:
    """The placeholders of an alert about one occurrence of a recurring obligation."""
    out = dict(values)
    out["period"] = t.period(occ)
    out["deadline"] = t.date(occ.due)
    out["deadline_note"] = (
        t.fragment("rolled", eff_due=t.date(occ.eff_due)) if occ.eff_due != occ.due else ""
    )
    if occasion.type is AlertType.QUA_HAN:
        day = as_of if occasion.is_latest else occasion.send_on
        out["as_of"] = t.date(day)
        out["days_overdue"] = (day - occ.eff_due).days
    else:
        left = occ.working_days_left if occ.working_days_left is not None else 0
        out["days_left"] = left
        out["days_left_text"] = _days_left_text(left, occ.eff_due, as_of, t)
    return out


def _occasion_values(
    occasion: Occasion,
    cls: Classification,
    as_of: date,
    values: dict[str, object],
    *,
    settings: AlertSettings,
    calendar: WorkingCalendar,
    assigned: date | None,
    t: Templates,
) -> dict[str, object]:
    """The placeholders that depend on the occasion (an older occasion speaks of its own day;
    a reminder sent late, of the whole months since the assignment; a confirmation request of
    the month and the cut-off it is for)."""
    out = dict(values)
    if occasion.occurrence is not None:
        return _occurrence_values(occasion, occasion.occurrence, as_of, out, t)
    if occasion.type is AlertType.QUA_HAN and cls.eff_due is not None:
        day = as_of if occasion.is_latest else occasion.send_on
        out["as_of"] = t.date(day)
        out["days_overdue"] = (day - cls.eff_due).days
    elif occasion.type is AlertType.DON_DOC_KHONG_HAN:
        months = settings.no_deadline_urge_months * occasion.index
        if assigned is not None:  # the months as of the day the reminder speaks of
            day = as_of if occasion.is_latest else occasion.send_on
            out["as_of"] = t.date(day)
            months = max(months, months_between(assigned, day))
        out["months"] = months
    elif occasion.type is AlertType.DE_NGHI_XAC_NHAN:
        year, month = (int(part) for part in occasion.occasion.split("-"))
        window = confirmation_window(year, month, settings, calendar)
        out["month"] = f"{month:02d}/{year:04d}"
        out["cutoff"] = t.date(window.cutoff)
        if since_cutoff(cls, window.since):
            out["confirm_subject"] = t.fragments["confirm_completion"]
            out["completion_part"] = t.fragment(
                "completion_part", completed_on=t.date(cls.completed_on)
            )
    return out


def _level(occasion: Occasion, days_overdue: int, context: AlertContext) -> int:
    if occasion.type is AlertType.QUA_HAN:
        return 2 if days_overdue > context.overdue_long_days else 1
    if occasion.type is AlertType.DE_NGHI_XAC_NHAN:
        return 0
    return 1


def alert_intents(
    task: NormalisedTask,
    classification: Classification,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
    *,
    existing_keys: Collection[str],
    context: AlertContext,
    occasions: Sequence[Occasion] | None = None,
) -> list[AlertIntent]:
    """The alerts to record for `task` as of `as_of` whose keys are not in `existing_keys`
    (`occasions`: its `due_occasions`, when the caller has them already).

    The latest occasion of each type comes with ``is_latest=True`` (to send); older occasions
    with ``is_latest=False`` (to record as ``past``). See the module docstring.
    """
    if settings.hold_on_non_working_days and not calendar.is_working_day(as_of):
        return []  # held: whatever is due is recorded (and sent) on the next working day
    if occasions is None:
        occasions = due_occasions(task, classification, as_of, calendar, settings, context=context)
    fresh = [
        o for o in occasions if alert_key(task.source_id, o.type, o.occasion) not in existing_keys
    ]
    if not fresh:
        return []
    templates = load_templates(settings.lang)
    values = text_values(task, classification, as_of, templates, context)
    intents: list[AlertIntent] = []
    for occasion in fresh:
        recipients, skipped = resolve_recipients(occasion.type, task, settings, context.units)
        if not recipients:
            continue
        text = _occasion_values(
            occasion,
            classification,
            as_of,
            values,
            settings=settings,
            calendar=calendar,
            assigned=assigned_on(task),
            t=templates,
        )
        days = text["days_overdue"]
        is_occurrence = occasion.occurrence is not None
        intents.append(
            AlertIntent(
                type=occasion.type,
                task_id=task.source_id,
                occasion=occasion.occasion,
                recipients=recipients,
                level=_level(occasion, days if isinstance(days, int) else 0, context),
                send_on=occasion.send_on,
                title=templates.title(occasion.type, text, occurrence=is_occurrence),
                content=templates.content(occasion.type, text, occurrence=is_occurrence),
                is_latest=occasion.is_latest,
                skipped_recipients=skipped,
            )
        )
    return intents


def latest_keys(
    task: NormalisedTask,
    classification: Classification,
    as_of: date,
    calendar: WorkingCalendar,
    settings: AlertSettings,
    *,
    context: AlertContext,
) -> set[str]:
    """Keys of the occasions that are current (latest of their type) as of `as_of`."""
    return {
        alert_key(task.source_id, o.type, o.occasion)
        for o in due_occasions(task, classification, as_of, calendar, settings, context=context)
        if o.is_latest
    }


def tracking_note(classification: Classification, lang: Lang = "vi") -> str:
    """The note sent with a tracking status, e.g. "Quá hạn 5 ngày" (from the templates)."""
    t = load_templates(lang)
    values = {
        "days_overdue": classification.days_overdue,
        "eff_due": t.date(classification.eff_due),
    }
    return t.tracking_note(classification.status, values)
