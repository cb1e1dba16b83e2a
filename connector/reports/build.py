"""The report the Working Group sends up: pure computation from classified tasks.

`build_report` takes judged tasks (`connector.rules.judge.Judgement`: the classification, the
suggested deadline, the kind), the unit table and the options, and returns a `Report`
(`connector.reports.model`): one row per lead unit in the configured order, a total row (TỔNG
CỘNG), the count of withdrawn tasks (listed apart, in no total) and six annexes. It reads
nothing else: no clock, no database. `report_as_of` and `report_current`, at the end of this
module, are the edge that feeds it from the ledger.

**Scope.** A task belongs to a report when

* its lead unit is the unit filter (when one is given: the exact unit code),
* it had been assigned by the as-of date (``Classification.not_yet_assigned`` is false), and
* its *date* lies in the period. Which date is the ``basis`` (``report --basis``):

  - ``assigned`` (default): the assignment date, the local date of ``assigned_at``, else the
    document date ``doc_date``; a task with neither cannot be placed in a month, quarter,
    year or range and is counted in ``Report.undated`` instead (``to-date`` holds it: it was
    known by the as-of date);
  - ``completed``: the local completion date (``Classification.completed_on``); only tasks
    completed by the as-of date have one (so a task assigned in January and completed late in
    March is in March's report, whenever it was assigned);
  - ``due``: the effective deadline ``eff_due`` in force on the as-of date, once reached: a task
    not yet due on the as-of date is in no period (a quarter running past the as-of date counts
    the tasks due by then); tasks without a deadline have none;

  the period ``to-date`` (the default) holds every such date up to the as-of date: the
  cumulative figures the Working Group publishes. A month, quarter, year (``2022-03``,
  ``2022-Q1``, ``2022``) or range (``2022-01-01..2022-05-30``) holds the dates from its first
  to its last day. The status is always taken as of the as-of date, whatever the period;
* for the period ``open``: its status as of the as-of date is open (``DTH_TRONG_HAN``,
  ``DTH_QUA_HAN`` or ``KHONG_THOI_HAN``), whenever it was assigned (no basis applies).

**Columns** (per unit and in total; ``D, L, K, W, O, N`` are the counts of ``HT_DUNG_HAN,
HT_QUA_HAN, HT_KHONG_HAN, DTH_TRONG_HAN, DTH_QUA_HAN, KHONG_THOI_HAN``; ``DA_HUY`` is in no
column)::

    total            = D+L+K+W+O+N      with_deadline = D+L+W+O     without_deadline = K+N
    done_on_time     = D   (fold: D+K)  done_late = L               done_no_deadline = K
    open_within      = W   (fold: W+N)  open_overdue = O            open_no_deadline = N
    open_overdue_over_30    = overdue tasks flagged "quá hạn trên 30 ngày"
    open_no_deadline_stale  = N tasks flagged "quá 3 tháng chưa báo cáo"
    without_deadline_product / _routine
                     = of K+N: product tasks and routine duties (`connector.rules.kinds`; the
                       two add up to without_deadline)
    extended_after_overdue  = tasks flagged "gia hạn sau khi đã quá hạn"
    recurring        = recurring obligations with an occurrence the period counts (below)
    occurrences      = those occurrences by verdict: on time, late, overdue, pending
    unconfirmed      = tasks in the row the lead unit is asked to confirm and has not confirmed
                       by the as-of date: open ones, and those completed (on time or late)
                       after the last report cut-off before the as-of date
                       (``alerts.report_cutoff_day``; `connector.rules.confirmation`), exactly
                       the tasks the confirmation request ``DE_NGHI_XAC_NHAN`` goes to; not
                       withdrawn ones, nor tasks completed by that cut-off

With ``fold`` (Bình Định's published figures) tasks done without a deadline count as on time
and open tasks without a deadline as within deadline; ``done_no_deadline`` and
``open_no_deadline`` then read "of which".

**On-time rate** = numerator / denominator, numerator ``D`` (fold: ``D+K``):

* ``done``: completed tasks that could be judged: ``D+L`` (fold: ``D+L+K``, all completed);
* ``due``: tasks whose deadline has come by the as-of date: completed with a deadline plus
  open overdue, ``D+L+O`` (fold: ``D+L+K+O``);
* ``all``: every task assigned, ``D+L+K+W+O+N``.

A zero denominator gives no rate (printed "—"). The report prints the rule in words.

**Order of rows.** By unit kind in ``unit_order`` (default departments, districts, central
agencies); units of a kind not listed follow in the order department, district, central, office,
and appear only when they have tasks; within a kind, by position in the unit table (by code, in
code-point order on every backend: `connector.ledger.units.list_units`), then name.
Lead units missing from the unit table come last, by name, then tasks without a lead unit.
Rows exist for units with at least one task in scope (withdrawn ones included), or for every
unit of a listed kind with ``include_empty``.

**Annexes** (withdrawn tasks never appear), in row order, then:

* ``overdue``: open past ``eff_due``; most days overdue first;
* ``late``: completed after ``eff_due``; by completion date;
* ``stale``: open without deadline, flagged "quá 3 tháng chưa báo cáo"; oldest activity first;
* ``missing_deadline``: every **product** assignment without a deadline (completed or open; not
  a routine duty), with the deadline suggested from its text when
  one was found and the words that make it a product; by assignment date;
* ``extended_after_overdue``: tasks whose deadline in force was extended after it had passed,
  with the deadline that had passed, the day of the extension and the days overdue then; by
  extension date;
* ``recurring``: one line per occurrence of a recurring obligation the period counts, by task
  and period.

**Recurring obligations** (`connector.rules.recurring`: "báo cáo định kỳ hằng tháng trước ngày
20") are counted apart: each has one occurrence per period, judged on time, late, overdue or
pending (`occurrences_in` says which ones a period counts, whatever the basis: those whose
``eff_due`` lies in a month, quarter, year or range; every one up to the as-of date and the
current one for ``to-date``; those still overdue or pending of an open task for ``open``). The
unit filter applies; a unit with such occurrences has a row even when none of its tasks is in
scope. The task itself is still counted in the columns above by its own status.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field, fields, replace
from datetime import date
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar, cast

import structlog

from connector.clock import local_date
from connector.i18n import label
from connector.ledger.history import iter_tasks_as_of
from connector.ledger.lines import (
    ReadTask,
    StoredReading,
    StoredTask,
    StoredVerdict,
    TaskView,
    halfway_id,
    iter_report_rows,
)
from connector.ledger.reader import PlainReader, reading
from connector.ledger.units import list_units
from connector.models import (
    NO_FACTS,
    NormalisedTask,
    ReportedTask,
    StatusCode,
    TaskState,
    Unit,
    UnitKind,
)
from connector.ops.collector import collection_paused
from connector.ops.forked import Forked, ForkFailed, can_fork
from connector.reports.model import (
    OPEN_STATUSES,
    Basis,
    Counts,
    Denominator,
    ExtensionEntry,
    Item,
    LateEntry,
    MissingEntry,
    OccurrenceCounts,
    OverdueEntry,
    Period,
    PeriodKind,
    Rate,
    RecurringEntry,
    Report,
    ReportOptions,
    StaleEntry,
    TaskRef,
    UnitLine,
    option_problem,
)
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import (
    FactsOf,
    Unclassifiable,
    classified,
    ledger_facts,
    settings_key,
)
from connector.rules.confirmation import confirmation_since, to_confirm
from connector.rules.deadlines import (
    Classification,
    DeadlinePolicy,
    completion_from,
    deadline_in_force_of,
    policy_from_settings,
)
from connector.rules.kinds import TaskKind
from connector.rules.lazy import LazyJudgement
from connector.rules.phrases import Suggestion, suggest_for_task
from connector.rules.recurring import Occurrence
from connector.rules.unitmap import UnitMap
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.ledger.reader import Db, Reader

log = structlog.get_logger(__name__)

UNREADABLE = "report_task_unreadable"
"""The event of a task the deadline rules refuse while reporting (left out, counted in
``Report.unreadable``)."""

_KIND_ORDER: tuple[UnitKind, ...] = tuple(UnitKind)

# Enum values looked up once (a member's ``.value`` is a descriptor call: these are read a task).
_STATUS_OF: dict[str, StatusCode] = {code.value: code for code in StatusCode}
_DONE = TaskState.DONE.value
_CANCELLED = StatusCode.DA_HUY
_OVERDUE = StatusCode.DTH_QUA_HAN
_NO_DEADLINE_OPEN = StatusCode.KHONG_THOI_HAN
_WITHOUT_DEADLINE = frozenset({StatusCode.HT_KHONG_HAN, StatusCode.KHONG_THOI_HAN})


# -- computation -------------------------------------------------------------------------------


@dataclass
class _Tally:
    by_status: dict[StatusCode, int] = field(default_factory=lambda: dict.fromkeys(StatusCode, 0))
    overdue_over_30: int = 0
    stale: int = 0
    unconfirmed: int = 0
    extended_after_overdue: int = 0
    product: int = 0
    routine: int = 0
    recurring: int = 0
    occurrences: dict[StatusCode, int] = field(default_factory=dict)

    def add_occurrences(self, found: Sequence[Occurrence]) -> None:
        """One recurring obligation's occurrences in the period."""
        self.recurring += 1
        for occ in found:
            self.occurrences[occ.status] = self.occurrences.get(occ.status, 0) + 1

    def add(self, judgement: Item, since: date) -> None:
        cls = judgement.classification
        status = cls.status
        self.by_status[status] += 1
        if status is _CANCELLED:
            return
        if cls.overdue_over_30 and status is _OVERDUE:
            self.overdue_over_30 += 1
        if cls.stale_no_deadline and status is _NO_DEADLINE_OPEN:
            self.stale += 1
        if cls.unconfirmed and to_confirm(cls, since):  # (never asked of a confirmed task)
            self.unconfirmed += 1
        if cls.extended_after_overdue:
            self.extended_after_overdue += 1
        if status in _WITHOUT_DEADLINE:
            if judgement.kind.kind is TaskKind.ROUTINE:
                self.routine += 1
            else:
                self.product += 1

    def merge(self, other: _Tally) -> None:
        for status, n in other.by_status.items():
            self.by_status[status] += n
        self.overdue_over_30 += other.overdue_over_30
        self.stale += other.stale
        self.unconfirmed += other.unconfirmed
        self.extended_after_overdue += other.extended_after_overdue
        self.product += other.product
        self.routine += other.routine
        self.recurring += other.recurring
        for status, n in other.occurrences.items():
            self.occurrences[status] = self.occurrences.get(status, 0) + n

    def counts(self, fold: bool, denominator: Denominator) -> Counts:
        s = self.by_status
        d, late, k = s[StatusCode.HT_DUNG_HAN], s[StatusCode.HT_QUA_HAN], s[StatusCode.HT_KHONG_HAN]
        w, o, n = (
            s[StatusCode.DTH_TRONG_HAN],
            s[StatusCode.DTH_QUA_HAN],
            s[StatusCode.KHONG_THOI_HAN],
        )
        total = d + late + k + w + o + n
        numerator = d + k if fold else d
        if denominator is Denominator.DONE:
            base = d + late + (k if fold else 0)
        elif denominator is Denominator.DUE:
            base = d + late + o + (k if fold else 0)
        else:
            base = total
        return Counts(
            total=total,
            with_deadline=d + late + w + o,
            without_deadline=k + n,
            done_on_time=numerator,
            done_late=late,
            done_no_deadline=k,
            open_within=w + n if fold else w,
            open_overdue=o,
            open_overdue_over_30=self.overdue_over_30,
            open_no_deadline=n,
            open_no_deadline_stale=self.stale,
            unconfirmed=self.unconfirmed,
            cancelled=s[StatusCode.DA_HUY],
            rate=Rate(numerator, base),
            by_status=dict(s),
            without_deadline_product=self.product,
            without_deadline_routine=self.routine,
            extended_after_overdue=self.extended_after_overdue,
            recurring=self.recurring,
            occurrences=OccurrenceCounts(
                on_time=self.occurrences.get(StatusCode.HT_DUNG_HAN, 0),
                late=self.occurrences.get(StatusCode.HT_QUA_HAN, 0),
                overdue=self.occurrences.get(StatusCode.DTH_QUA_HAN, 0),
                pending=self.occurrences.get(StatusCode.DTH_TRONG_HAN, 0),
            ),
        )


def assigned_on(task: ReportedTask) -> date | None:
    """The local date a task was assigned: ``assigned_at``, else the document date."""
    if type(task) is TaskView:  # worked out as it was read
        return task.assigned_on
    if task.assigned_at is not None:
        return local_date(task.assigned_at)
    return task.doc_date


RowKey = tuple[str, str]
"""What tells a report's rows apart: (``""``, lead unit code) in a one-source report; the
mapped unit's `connector.rules.unitmap.MappedUnit.key` (source, code) over several sources."""


@dataclass(frozen=True)
class _Where:
    """A task's source (``""``: a one-source report) and the row it is counted in."""

    source: str
    row: RowKey


_ONE_SOURCE = ""


def _ref(task: ReportedTask, unit_name: str, where: _Where | None = None) -> TaskRef:
    return TaskRef(
        source_id=task.source_id,
        sign_number=task.sign_number,
        subject=task.subject,
        unit_code=task.lead_unit_code if where is None else where.row[1],
        unit_name=unit_name,
        doc_date=task.doc_date,
        assigned_on=assigned_on(task),
        content=task.steering_content,
        progress=task.progress,
        source=where.source if where is not None else "",
        unit_source=where.row[0] if where is not None else "",
    )


def _deadlines(cls: Classification) -> dict[str, Any]:
    """What an annex line shows of a task's deadlines: original, in force, effective, extended."""
    return {
        "original_deadline": cls.original_deadline,
        "deadline": cls.deadline,
        "eff_due": cls.eff_due,
        "extended": cls.extended,
    }


@dataclass
class _Pending:
    """Annex lines made as their tasks are read (compact: neither the task nor its judgement
    is kept), before the row order is known; a line's unit name is the one known when it was
    made, set right at the end (`_named`) when a later task named the unit."""

    overdue: list[OverdueEntry] = field(default_factory=list)
    late: list[LateEntry] = field(default_factory=list)
    stale: list[StaleEntry] = field(default_factory=list)
    missing: list[MissingEntry] = field(default_factory=list)
    extended: list[ExtensionEntry] = field(default_factory=list)
    recurring: list[RecurringEntry] = field(default_factory=list)

    def extend(self, later: _Pending) -> None:
        """`later`'s lines after these."""
        self.overdue += later.overdue
        self.late += later.late
        self.stale += later.stale
        self.missing += later.missing
        self.extended += later.extended
        self.recurring += later.recurring

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as plain tuples (frozen dataclasses pickle several times slower): a report
        # read in two processes sends its half's lines back (`connector.ops.forked`).
        lines = (self.overdue, self.late, self.stale, self.missing, self.extended, self.recurring)
        return (_unpacked, (tuple([_packed(line) for line in kind] for kind in lines),))


_REF_FIELDS = tuple(f.name for f in fields(TaskRef))


def _fields_after_task(kind: type[Any]) -> tuple[str, ...]:
    names = tuple(f.name for f in fields(kind))
    assert names[0] == "task", kind  # every annex line starts with its task
    return names[1:]


_LINE_KINDS: tuple[type[Any], ...] = (
    OverdueEntry,
    LateEntry,
    StaleEntry,
    MissingEntry,
    ExtensionEntry,
    RecurringEntry,
)
_LINE_FIELDS = {kind: _fields_after_task(kind) for kind in _LINE_KINDS}


def _packed(line: Any) -> tuple[Any, ...]:
    """An annex line as a tuple: its task's fields, then its own (in field order)."""
    ref = line.task
    return (
        tuple([getattr(ref, name) for name in _REF_FIELDS]),
        *[getattr(line, name) for name in _LINE_FIELDS[type(line)]],
    )


def _unpacked(packed: tuple[list[tuple[Any, ...]], ...]) -> _Pending:
    """The `_Pending` of `_Pending.__reduce__`."""
    made = [
        [kind(TaskRef(*ref), *rest) for ref, *rest in lines]
        for kind, lines in zip(_LINE_KINDS, packed, strict=True)
    ]
    return _Pending(*made)


_Line = TypeVar(
    "_Line", OverdueEntry, LateEntry, StaleEntry, MissingEntry, ExtensionEntry, RecurringEntry
)


def _named(lines: list[_Line], name_of: Callable[[RowKey], str]) -> list[_Line]:
    """`lines` with the final unit name of their row (most already have it)."""
    for i, line in enumerate(lines):
        ref = line.task
        name = name_of((ref.unit_source, ref.unit_code))
        if ref.unit_name != name:
            lines[i] = replace(line, task=replace(ref, unit_name=name))
    return lines


def occurrences_in(judgement: Item, period: Period) -> tuple[Occurrence, ...]:
    """A recurring obligation's occurrences the report's period counts: those whose effective
    due date lies in it (a month, quarter, year or range); every one up to the as-of date and
    the current one (``to-date``); those still overdue or pending of an open task (``open``)."""
    if judgement.recurring is None:
        return ()
    found = judgement.recurring.occurrences
    if period.kind is PeriodKind.TO_DATE:
        return found
    if period.kind is PeriodKind.OPEN:
        if judgement.classification.status not in OPEN_STATUSES:
            return ()
        waiting = (StatusCode.DTH_QUA_HAN, StatusCode.DTH_TRONG_HAN)
        return tuple(o for o in found if o.status in waiting)
    return tuple(o for o in found if period.contains(o.eff_due))


def _recurring_entries(
    judgement: Item, found: Sequence[Occurrence], unit_name: str, where: _Where
) -> list[RecurringEntry]:
    ref = _ref(judgement.task, unit_name, where)
    rule = judgement.recurring.rule.period if judgement.recurring is not None else ""
    return [
        RecurringEntry(
            task=ref,
            recurrence=rule,
            period=o.key,
            period_start=o.period.start,
            period_end=o.period.end,
            period_unit=o.period.unit,
            due=o.due,
            eff_due=o.eff_due,
            status=o.status,
            reported_on=o.reported_on,
            days_overdue=o.days_overdue,
        )
        for o in found
    ]


def _overdue_entry(
    task: ReportedTask, c: Classification, unit_name: str, where: _Where
) -> OverdueEntry:
    return OverdueEntry(
        task=_ref(task, unit_name, where),
        **_deadlines(c),
        days_overdue=c.days_overdue,
        working_days_overdue=c.working_days_overdue,
        over_30=c.overdue_over_30,
        confirmed=not c.unconfirmed,
    )


def _late_entry(task: ReportedTask, c: Classification, unit_name: str, where: _Where) -> LateEntry:
    return LateEntry(
        task=_ref(task, unit_name, where),
        **_deadlines(c),
        completed_on=c.completed_on,
        completion_estimated=c.completion_estimated,
        days_late=c.days_overdue,
    )


def _stale_entry(task: ReportedTask, unit_name: str, where: _Where, as_of: date) -> StaleEntry:
    ref = _ref(task, unit_name, where)
    reported = local_date(task.last_report_at) if task.last_report_at is not None else None
    if reported is not None and reported > as_of:
        reported = None
    last = max((d for d in (ref.assigned_on, reported) if d is not None), default=None)
    idle = (as_of - last).days if last is not None else 0
    return StaleEntry(task=ref, last_report_on=reported, idle_days=idle)


def _missing_entry(judgement: Item, unit_name: str, where: _Where) -> MissingEntry:
    s = judgement.suggestion
    return MissingEntry(
        task=_ref(judgement.task, unit_name, where),
        status=judgement.classification.status,
        suggested_deadline=s.deadline if s is not None else None,
        suggested_phrase=s.phrase if s is not None else "",
        suggested_recurrence=(s.recurrence or "") if s is not None else "",
        kind_words=judgement.kind.words,
    )


def _extension_entry(judgement: Item, unit_name: str, where: _Where) -> ExtensionEntry:
    cls = judgement.classification
    last = judgement.late_extensions[-1]
    return ExtensionEntry(
        task=_ref(judgement.task, unit_name, where),
        status=cls.status,
        original_deadline=cls.original_deadline,
        old_deadline=last.old_deadline,
        old_eff_due=last.old_eff_due,
        extended_on=last.changed_on,
        new_deadline=last.new_deadline,
        days_overdue_when_extended=last.days_overdue,
        extensions=len(judgement.late_extensions),
    )


_Scope = Callable[[ReportedTask, Classification], tuple[bool, bool]]
_OUT = (False, False)


def _in_scope(options: ReportOptions) -> _Scope:
    """(in scope?, undated?) of one task and its classification, by the options of a report
    (read once: this is asked of every task)."""
    unit = options.unit
    period = options.parsed_period
    if period.kind is PeriodKind.OPEN:

        def open_now(task: ReportedTask, cls: Classification) -> tuple[bool, bool]:
            if (unit is not None and task.lead_unit_code != unit) or cls.not_yet_assigned:
                return _OUT
            return cls.status in OPEN_STATUSES, False

        return open_now
    basis = options.basis
    contains = period.contains
    as_of = options.as_of
    # Known by the as-of date, so assigned by then; no month can be told.
    to_date = period.kind is PeriodKind.TO_DATE
    no_day = (to_date, not to_date)

    def dated(task: ReportedTask, cls: Classification) -> tuple[bool, bool]:
        if (unit is not None and task.lead_unit_code != unit) or cls.not_yet_assigned:
            return _OUT
        if basis is Basis.COMPLETED:
            day = cls.completed_on
        elif basis is Basis.DUE:
            day = cls.eff_due
            if day is not None and day > as_of:  # not yet due on the as-of date
                return _OUT
        else:
            day = assigned_on(task)
            if day is None:
                return no_day
        return day is not None and contains(day), False

    return dated


def _recurring_in_scope(options: ReportOptions) -> Callable[[Item], tuple[Occurrence, ...]]:
    """The occurrences a report counts of a recurring obligation (none for other tasks): of its
    unit (when filtered), assigned by the as-of date, in the period (`occurrences_in`),
    whatever the basis (the options read once: this is asked of every task)."""
    unit = options.unit
    period = options.parsed_period

    def counted(judgement: Item) -> tuple[Occurrence, ...]:
        cls = judgement.classification
        if cls.not_yet_assigned or cls.status is _CANCELLED:
            return ()
        if unit is not None and judgement.task.lead_unit_code != unit:
            return ()
        if judgement.recurring is None:  # read last: the costly part
            return ()
        return occurrences_in(judgement, period)

    return counted


def _row_key(
    key: RowKey, name: str, units: dict[RowKey, tuple[int, Unit]], order: tuple[UnitKind, ...]
) -> tuple[int, int, str, str, str]:
    code = key[1]
    known = units.get(key)
    if known is not None:
        position, unit = known
        if unit.kind in order:
            rank = order.index(unit.kind)
        else:
            rank = len(order) + _KIND_ORDER.index(unit.kind)
        return rank, position, unit.name, code, key[0]
    unknown_rank = len(order) + len(_KIND_ORDER) + (1 if code == "" else 0)
    return unknown_rank, 0, name.casefold(), code, key[0]


class _Rows:
    """Which row a unit of a source is counted in: its lead unit code in a one-source report
    (`unit_map` None); over several sources, its mapped unit (`UnitMap.resolve`)."""

    def __init__(self, units: Sequence[tuple[str, Unit]], unit_map: UnitMap | None) -> None:
        self.unit_map = unit_map
        self.table: dict[RowKey, tuple[int, Unit]] = {}
        """The unit table by row: position and the unit (a mapped unit: its code and name)."""
        self.mapped_names: dict[RowKey, str] = {}
        self.codes: set[str] = set()
        """Every unit code of the unit tables (the ``--unit`` filter is a source's own code)."""
        for position, (source, unit) in enumerate(units):
            self.codes.add(unit.code)
            key = self.key(source, unit.code, unit.name)
            if key in self.table:
                continue
            name = self.mapped_names.get(key, unit.name)
            self.table[key] = (position, Unit(key[1], name, unit.kind, unit.parent_code))

    def key(self, source: str, code: str, name: str = "") -> RowKey:
        if self.unit_map is None:
            return (_ONE_SOURCE, code)
        mapped = self.unit_map.resolve(source, code, name)
        if mapped.mapped:
            self.mapped_names[mapped.key] = mapped.name
        return mapped.key


def _tally(tallies: dict[RowKey, _Tally], row: RowKey) -> _Tally:
    """The tally of `row`, made on first use (not one per task)."""
    found = tallies.get(row)
    if found is None:
        found = tallies[row] = _Tally()
    return found


def build_report(items: Iterable[Item], units: Sequence[Unit], options: ReportOptions) -> Report:
    """The report of `items` (each a task, its classification as of `options.as_of`, and the
    deadline suggested from its text or ``None``), with rows for `units` (the unit table, in
    its order). Pure: reads nothing but its arguments. See the module docstring for every rule.

    Raises `ConfigError` when the unit filter names a unit that is neither in the unit table nor
    on any task, and `ValueError` when a classification was made as of another date.
    """
    sourced = ((_ONE_SOURCE, item) for item in items)
    return _build(sourced, [(_ONE_SOURCE, u) for u in units], options, None, ())


def build_merged_report(
    items: Iterable[tuple[str, Item]],
    units: Sequence[tuple[str, Unit]],
    options: ReportOptions,
    unit_map: UnitMap,
    sources: Sequence[str],
) -> Report:
    """The report over several `sources` (``report --by unit``): `items` and `units` each with
    its source's name; one row per mapped unit (`unit_map`: `UnitMap.identity()` keeps every
    unit apart, so units of two sources never share a row even when their codes are equal).
    Every other rule is `build_report`'s; the ``--unit`` filter is a source's own unit code.
    """
    return _build(items, units, options, unit_map, tuple(sources))


def _build(
    items: Iterable[tuple[str, Item]],
    units: Sequence[tuple[str, Unit]],
    options: ReportOptions,
    unit_map: UnitMap | None,
    sources: tuple[str, ...],
) -> Report:
    table = _Rows(units, unit_map)
    counted = _Counted()
    _count(items, counted, table, options, sources)
    return _finish(counted, table, units, options, sources)


@dataclass
class _Counted:
    """What a report has counted of the tasks it has read: the tallies by row, the annex lines
    (their unit names as known then) and what names and places the rows. The tasks read in two
    runs (two halves of the ledger, in key order) are counted as in one when the later half's is
    `merge`d into the earlier's."""

    tallies: dict[RowKey, _Tally] = field(default_factory=dict)
    row_sources: dict[RowKey, dict[str, None]] = field(default_factory=dict)
    task_names: dict[RowKey, str] = field(default_factory=dict)
    """A row's unit name as its first task named it (for a unit missing from the unit table)."""
    counted_codes: set[str] = field(default_factory=set)
    pending: _Pending = field(default_factory=_Pending)
    undated: int = 0
    seen: int = 0

    def merge(self, later: _Counted) -> None:
        """Count in `later`, the tasks read after these (its rows' first names come second)."""
        for row, tally in later.tallies.items():
            _tally(self.tallies, row).merge(tally)
        for row, found in later.row_sources.items():
            self.row_sources.setdefault(row, {}).update(found)
        for row, name in later.task_names.items():
            if name and not self.task_names.get(row):
                self.task_names[row] = name
        self.counted_codes |= later.counted_codes
        self.pending.extend(later.pending)
        self.undated += later.undated
        self.seen += later.seen


def _name_of(
    key: RowKey, table: _Rows, task_names: dict[RowKey, str], options: ReportOptions
) -> str:
    """A row's unit name: the mapped unit's, the unit table's, its first task's, its code."""
    mapped = table.mapped_names.get(key)
    if mapped:
        return mapped
    known = table.table.get(key)
    if known is not None and known[1].name:
        return known[1].name
    return task_names.get(key) or key[1] or label("no_unit", options.lang)


def _count(
    items: Iterable[tuple[str, Item]],
    counted: _Counted,
    table: _Rows,
    options: ReportOptions,
    sources: tuple[str, ...],
) -> None:
    """Count `items` (each with its source) into `counted` (see the module docstring)."""
    tallies = counted.tallies
    row_sources = counted.row_sources
    task_names = counted.task_names
    counted_codes = counted.counted_codes
    pending = counted.pending
    places: dict[tuple[str, RowKey], _Where] = {}
    # A unit's (source, code, name): its row, where its tasks are, its tally (made once per
    # unit, not once per task).
    rows_of: dict[tuple[str, str, str], tuple[RowKey, _Where, _Tally]] = {}
    undated = 0
    seen = 0
    as_of = options.as_of
    since = confirmation_since(as_of, options.report_cutoff_day)
    in_scope_of = _in_scope(options)
    recurring_of = _recurring_in_scope(options)

    def name_of(key: RowKey) -> str:
        return _name_of(key, table, task_names, options)

    for source, judgement in items:
        task, cls = judgement.task, judgement.classification
        seen += 1
        if cls.as_of != as_of:
            raise ValueError(
                f"task {task.source_id} was classified as of {cls.as_of}, "
                f"the report is as of {as_of}"
            )
        in_scope, no_date = in_scope_of(task, cls)
        if no_date:
            undated += 1
        found = recurring_of(judgement)
        if not found and not in_scope:
            continue
        named = (source, task.lead_unit_code, task.lead_unit_name)
        unit_of = rows_of.get(named)
        if unit_of is None:  # the first task counted of this unit (source, code, name)
            code = named[1]
            row = table.key(*named)
            where = places.get((source, row))
            if where is None:
                where = places[source, row] = _Where(source, row)
            counted_codes.add(code)
            if sources:
                row_sources.setdefault(row, {})[source] = None
            if task.lead_unit_name and not task_names.get(row):
                task_names[row] = task.lead_unit_name
            unit_of = rows_of[named] = (row, where, _tally(tallies, row))
        row, where, tally = unit_of
        if found:
            tally.add_occurrences(found)
            pending.recurring += _recurring_entries(judgement, found, name_of(row), where)
        if not in_scope:
            continue
        tally.add(judgement, since)
        status = cls.status
        if status is StatusCode.DA_HUY:
            continue
        if status is StatusCode.DTH_QUA_HAN:
            pending.overdue.append(_overdue_entry(task, cls, name_of(row), where))
        elif status is StatusCode.HT_QUA_HAN:
            pending.late.append(_late_entry(task, cls, name_of(row), where))
        elif status is StatusCode.KHONG_THOI_HAN and cls.stale_no_deadline:
            pending.stale.append(_stale_entry(task, name_of(row), where, as_of))
        if cls.deadline is None and judgement.kind.kind is TaskKind.PRODUCT:
            pending.missing.append(_missing_entry(judgement, name_of(row), where))
        if cls.extended_after_overdue:
            pending.extended.append(_extension_entry(judgement, name_of(row), where))
    counted.undated += undated
    counted.seen += seen


def _finish(
    counted: _Counted,
    table: _Rows,
    units: Sequence[tuple[str, Unit]],
    options: ReportOptions,
    sources: tuple[str, ...],
) -> Report:
    """The report of what was `counted`: its rows in order, the total, the annexes sorted."""
    unit_table = table.table
    tallies = counted.tallies
    pending = counted.pending
    as_of = options.as_of

    def name_of(key: RowKey) -> str:
        return _name_of(key, table, counted.task_names, options)

    if (
        options.unit is not None
        and units
        and options.unit not in table.codes
        and options.unit not in counted.counted_codes
    ):
        valid = ", ".join(dict.fromkeys(u.code for _, u in units))
        raise option_problem("--unit", f"unknown unit {options.unit!r}; valid: {valid}")
    for source, unit in units:
        listed = options.include_empty and unit.kind in options.unit_order
        if (listed and options.unit in (None, unit.code)) or options.unit == unit.code:
            tallies.setdefault(table.key(source, unit.code, unit.name), _Tally())

    ordered = sorted(tallies, key=lambda k: _row_key(k, name_of(k), unit_table, options.unit_order))
    rank = {key: i for i, key in enumerate(ordered)}
    grand = _Tally()
    rows: list[UnitLine] = []
    for key in ordered:
        tally = tallies[key]
        grand.merge(tally)
        known = unit_table.get(key)
        rows.append(
            UnitLine(
                code=key[1],
                name=name_of(key),
                kind=known[1].kind if known is not None else None,
                counts=tally.counts(options.fold, options.denominator),
                source=key[0],
                sources=tuple(counted.row_sources.get(key, {})),
            )
        )

    def rank_of(ref: TaskRef) -> int:
        return rank[(ref.unit_source, ref.unit_code)]

    def order_of(ref: TaskRef) -> tuple[int, str]:
        return rank_of(ref), ref.source

    overdue = _named(pending.overdue, name_of)
    overdue.sort(key=lambda e: (order_of(e.task), -e.days_overdue, e.task.source_id))
    late = _named(pending.late, name_of)
    late.sort(key=lambda e: (order_of(e.task), e.completed_on or date.max, e.task.source_id))
    stale = _named(pending.stale, name_of)
    stale.sort(key=lambda e: (order_of(e.task), -e.idle_days, e.task.source_id))
    missing = _named(pending.missing, name_of)
    missing.sort(key=lambda e: (order_of(e.task), e.task.assigned_on or date.max, e.task.source_id))
    extended = _named(pending.extended, name_of)
    extended.sort(key=lambda e: (order_of(e.task), e.extended_on, e.task.source_id))
    recurring = _named(pending.recurring, name_of)
    recurring.sort(key=lambda e: (rank_of(e.task), e.task.source_id, e.task.source, e.period_start))

    report = Report(
        options=options,
        title=options.title or label("default_title", options.lang),
        issuer=options.issuer if options.issuer is not None else options.form.governing_body,
        period=options.parsed_period,
        rows=tuple(rows),
        total=grand.counts(options.fold, options.denominator),
        undated=counted.undated,
        overdue=tuple(overdue),
        late=tuple(late),
        stale=tuple(stale),
        missing_deadline=tuple(missing),
        extended_after_overdue=tuple(extended),
        recurring=tuple(recurring),
        sources=sources,
    )
    log.info(
        "report_built",
        as_of=as_of.isoformat(),
        period=report.period.code,
        basis=options.basis.value,
        tasks_read=counted.seen,
        tasks_counted=report.total.total,
        cancelled=report.cancelled,
        undated=counted.undated,
        units=len(rows),
    )
    return report


# -- the edge: feeding the report from the ledger ----------------------------------------------


def suggestion_for(
    task: NormalisedTask, cls: Classification, calendar: WorkingCalendar
) -> Suggestion | None:
    """The deadline an assignment without one states in words (annex 4), else ``None``.

    The same reading as the sync's (`connector.rules.classify.suggestion_for`): the directive text
    (``steering_content``), then the subject; anchored on the document date, else the assignment
    date, else the last modification. Withdrawn tasks and tasks with a deadline in force on the
    report's date get none.
    """
    if cls.deadline is not None or cls.status is StatusCode.DA_HUY:
        return None
    return suggest_for_task(task, calendar)


def report_as_of(
    db: Db, settings: Settings, options: ReportOptions, calendar: WorkingCalendar
) -> Report:
    """The report as the ledger would have made it at the end of local day `options.as_of`.

    Rebuilds every task from its latest snapshot observed on or before that day
    (`connector.ledger.history.iter_tasks_as_of`, streamed in batches; tasks deleted at the
    source by then are counted as withdrawn), classifies it as of that day, and builds the
    report. What the ledger
    learnt later (a completion reported late, a task first seen afterwards) is not used.
    Read in two halves as `report_current` says.
    """
    day = options.as_of

    def tasks_of(r: Reader, ids: tuple[int, int | None], _units: Sequence[Unit]) -> _Tasks:
        past = iter_tasks_as_of(r, day, include_deleted=True, ids=ids)
        return ((task, None) for task in past), ledger_facts(r, as_of=day)

    return _report_of(db, settings, options, calendar, tasks_of)


def stored_classification(
    task: ReportedTask, verdict: StoredVerdict, as_of: date
) -> Classification:
    """The classification as of `as_of` that the classification step stored, judged as of a
    day from which it holds through `as_of` (`connector.ledger.lines.iter_report_rows`), with
    the fields it does not store (the deadline in force, the completion date, whether assigned
    yet) computed as `connector.rules.deadlines.classify` computes them."""
    status = _STATUS_OF[verdict.status_code]
    completed: date | None = None
    estimated = False
    if verdict.state == _DONE:
        completed, estimated = completion_from(task, verdict.completed_on, verdict.modified_on)
        if completed > as_of:  # done later: still open as of `as_of`
            completed, estimated = None, False
    judged_on = completed if completed is not None else as_of
    if status is StatusCode.DA_HUY:
        completed, estimated = None, False
    assigned = assigned_on(task)
    changes = verdict.changes
    if changes:
        deadline, _ = deadline_in_force_of(task, changes, verdict.deadline, judged_on)
    else:  # `deadline_in_force_of` without a change: the current deadline
        deadline = verdict.deadline
    return Classification(
        status=status,
        as_of=as_of,
        deadline=deadline,
        eff_due=verdict.eff_due,
        original_deadline=verdict.original_deadline,
        days_overdue=verdict.days_overdue,
        working_days_overdue=verdict.working_days_overdue,
        working_days_left=verdict.working_days_left,
        due_soon=verdict.due_soon,
        overdue_over_30=verdict.overdue_over_30,
        stale_no_deadline=verdict.stale_no_deadline,
        unconfirmed=verdict.unconfirmed,
        extended=verdict.extended,
        extended_after_overdue=verdict.extended_after_overdue,
        completed_on=completed,
        completion_estimated=estimated,
        not_yet_assigned=assigned is not None and assigned > as_of,
        judged_on=judged_on,
    )


def _judged_lazily(
    tasks: Iterable[StoredTask | ReadTask],
    as_of: date,
    calendar: WorkingCalendar,
    policy: DeadlinePolicy,
    *,
    facts: FactsOf,
    skipped: Unclassifiable,
    batch_size: int = 1000,
) -> Iterator[LazyJudgement]:
    """Each task classified as of `as_of` (those the rules refuse logged, counted in `skipped`
    and left out), with what the ledger knows of it read once a batch: the loop of
    `connector.rules.classify.judged`, the judgement itself left to `LazyJudgement`. A `StoredTask`
    is not classified again (`stored_classification`); what the ledger knows of it is read
    only when the report may read its kind or occurrences (no deadline in force)."""
    it = iter(tasks)
    while chunk := list(islice(it, batch_size)):
        stored = [item for item in chunk if type(item[0]) is TaskView]
        read = (
            [item for item in chunk if type(item[0]) is not TaskView]
            if len(stored) < len(chunk)
            else []
        )
        again: dict[int, tuple[NormalisedTask, Classification]] = {
            id(item): (task, cls)
            for item, task, cls in classified(
                read, as_of, calendar, policy, task_of=_task_of, event=UNREADABLE, skipped=skipped
            )
        }
        ids = [task.source_id for task, _ in again.values()]
        # What the ledger knows of a stored task is read only when the report lays its
        # occurrences (a recurrence rule, no deadline in force): its kind has no override (a
        # kind set or removed clears ``recheck_on``; one read under an override is not trusted).
        ids += _laying(stored)
        known = facts(ids) if ids else {}
        for item in chunk:
            if type(item[0]) is TaskView:
                view, verdict, reading_now = item
                cls = stored_classification(view, verdict, as_of)
                facts_of = known.get(view.source_id, NO_FACTS) if known else NO_FACTS
                yield LazyJudgement(view, cls, facts_of, calendar, policy, stored=reading_now)
                continue
            found = again.get(id(item))
            if found is None:  # refused by the rules: logged and counted
                continue
            task, cls = found
            facts_of_task = known.get(task.source_id, NO_FACTS)
            reading_then = _reading_of(item)
            yield LazyJudgement(task, cls, facts_of_task, calendar, policy, stored=reading_then)


def _laying(stored: list[StoredTask]) -> list[int]:
    """The ids of the stored tasks the report lays occurrences of (`LazyJudgement.recurring`)."""
    return [
        view.source_id
        for view, verdict, reading_now in stored
        if verdict.eff_due is None and reading_now.recurrence_rule_json
    ]


def _reading_of(item: StoredTask | ReadTask) -> StoredReading | None:
    """The stored reading of a `ReadTask` (None: the text is read again)."""
    return cast("ReadTask", item)[1]


def _report(
    tasks: Iterable[StoredTask | ReadTask],
    units: Sequence[Unit],
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
    *,
    facts: FactsOf,
) -> Report:
    unreadable = Unclassifiable()
    # The "unconfirmed" column counts from the cut-off the confirmation requests use.
    options = replace(options, report_cutoff_day=settings.alerts.report_cutoff_day)
    items = report_items(tasks, settings, options.as_of, calendar, facts=facts, skipped=unreadable)
    with collection_paused():
        report = build_report(items, units, options)
    return replace(report, unreadable=unreadable.count)


def report_items(
    tasks: Iterable[StoredTask | ReadTask],
    settings: Settings,
    as_of: date,
    calendar: WorkingCalendar,
    *,
    facts: FactsOf,
    skipped: Unclassifiable,
) -> Iterator[Item]:
    """`tasks` (each with what the classification step stored of its text, or None) judged as
    of `as_of`, as a report reads them (`_judged_lazily`: those the deadline rules refuse
    logged, counted in `skipped` and left out)."""
    policy = policy_from_settings(settings.deadlines)
    return _judged_lazily(tasks, as_of, calendar, policy, facts=facts, skipped=skipped)


def current_tasks(
    db: Db,
    settings: Settings,
    calendar: WorkingCalendar,
    units: Sequence[Unit],
    as_of: date,
    *,
    ids: tuple[int, int | None] = (1, None),
) -> Iterator[StoredTask | ReadTask]:
    """The tasks `report_current` reads (see there): each with its stored verdict and reading
    when they hold for `as_of`, else with its stored reading or None; `ids` as
    `iter_report_rows` takes them."""
    keys = tuple(
        settings_key(settings, calendar, units, planning=planning) for planning in (True, False)
    )
    return iter_report_rows(db, as_of=as_of, keys=keys, ids=ids)


def _task_of(item: StoredTask | ReadTask) -> NormalisedTask:
    task = item[0]
    assert isinstance(task, NormalisedTask)
    return task


def report_current(
    db: Db, settings: Settings, options: ReportOptions, calendar: WorkingCalendar
) -> Report:
    """The report from what the ledger knows now, judged as of `options.as_of` (usually today).

    Reads the tasks' own columns of the task table in batches (`iter_report_rows`), with what
    the classification step stored of each task when it classified the task as of that day with
    the same settings (the classification key of a pull that plans the outbox or of one that
    does not: `connector.rules.classify.settings_key`): a task whose stored verdict holds is not
    judged again, and the text of those whose reading holds is not read again. For a past date
    prefer `report_as_of`, which does not use what was learnt after that date.

    A command's read-only connection (`connector.ledger.reader.open_reader`) to a ledger of at
    least ``report.parallel_min_tasks`` tasks is read in two halves by task id, the second in a
    forked process with its own connection (`connector.ops.forked`; Linux, two CPUs or more),
    and the two counts merged: the same report in about half the time. Each task is read once,
    by one of the two; a sync that commits while the report reads may be seen by one half only.
    """
    as_of = options.as_of

    def tasks_of(r: Reader, ids: tuple[int, int | None], units: Sequence[Unit]) -> _Tasks:
        return current_tasks(r, settings, calendar, units, as_of, ids=ids), ledger_facts(r)

    return _report_of(db, settings, options, calendar, tasks_of)


_Tasks = tuple[Iterable[StoredTask | ReadTask], FactsOf]
"""The tasks a report reads, and what the ledger knows of them."""
_TasksOf = Callable[["Reader", tuple[int, int | None], Sequence[Unit]], _Tasks]
"""The tasks of a range of ids (`iter_report_rows`'s `ids`) as a reader reads them (with the
unit table)."""
_EVERY_ID: tuple[int, int | None] = (1, None)


def _report_of(
    db: Db,
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
    tasks_of: _TasksOf,
) -> Report:
    """The report of the tasks `tasks_of` reads: in one process, or in two halves."""
    with reading(db) as r:
        units = list_units(r)
        split = _halfway(db, settings.report.parallel_min_tasks)
        if split is None:
            tasks, facts = tasks_of(r, _EVERY_ID, units)
            return _report(tasks, units, settings, options, calendar, facts=facts)
        assert isinstance(db, PlainReader)  # `_halfway`
        return _report_in_halves(
            db,
            split,
            tasks_of,
            units=units,
            settings=settings,
            options=options,
            calendar=calendar,
        )


def _halfway(db: Db, at_least: int) -> int | None:
    """The task id that splits the report in two halves (`report_current`), or None: one
    process reads every task."""
    if at_least <= 0 or not isinstance(db, PlainReader) or not can_fork():
        return None
    return halfway_id(db, at_least=at_least)


_Half = tuple[_Counted, int]
"""What a half of the report counted, and how many of its tasks the rules refused."""

_Part = TypeVar("_Part")
_Counts = TypeVar("_Counts")


def _in_two_processes(
    db: PlainReader,
    count: Callable[[Db, _Part], _Counts],
    lower: _Part,
    upper: _Part,
    **about: Any,
) -> tuple[_Counts, _Counts]:
    """``count`` of the `lower` part here and of the `upper` part in a forked process, with its
    own connection to the ledger; when that process fails, here too (`report_half_failed`,
    with `about` the upper part)."""

    def upper_half() -> _Counts:
        with db.reopened() as own:
            return count(own, upper)

    with Forked(upper_half) as child:
        first = count(db, lower)
        try:
            second = child.result()
        except ForkFailed as exc:
            log.warning("report_half_failed", **about, reason=str(exc))
            second = count(db, upper)
    return first, second


def _counted_half(
    db: Db,
    ids: tuple[int, int | None],
    tasks_of: _TasksOf,
    *,
    units: Sequence[Unit],
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
) -> _Half:
    """`_report`'s reading and counting of the tasks of `ids`, without making the report."""
    unreadable = Unclassifiable()
    with reading(db) as r, collection_paused():
        tasks, facts = tasks_of(r, ids, units)
        items = report_items(
            tasks, settings, options.as_of, calendar, facts=facts, skipped=unreadable
        )
        counted = _Counted()
        table = _Rows([(_ONE_SOURCE, u) for u in units], None)
        _count(((_ONE_SOURCE, item) for item in items), counted, table, options, ())
    return counted, unreadable.count


def _report_in_halves(
    db: PlainReader,
    split: int,
    tasks_of: _TasksOf,
    *,
    units: Sequence[Unit],
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
) -> Report:
    """`_report` of the tasks below `split` read here and of the others in a forked process
    (or here too, when that one fails: logged)."""
    options = replace(options, report_cutoff_day=settings.alerts.report_cutoff_day)
    lower_ids, upper_ids = (1, split), (split, None)
    half = functools.partial(
        _counted_half,
        tasks_of=tasks_of,
        units=units,
        settings=settings,
        options=options,
        calendar=calendar,
    )

    (lower, lower_unreadable), (upper, upper_unreadable) = _in_two_processes(
        db, half, lower_ids, upper_ids, split_id=split
    )
    log.info("report_read_in_halves", split_id=split, lower=lower.seen, upper=upper.seen)
    with collection_paused():
        lower.merge(upper)
        sourced = [(_ONE_SOURCE, u) for u in units]
        report = _finish(lower, _Rows(sourced, None), sourced, options, ())
    return replace(report, unreadable=lower_unreadable + upper_unreadable)


# -- a report over several sources in two halves -------------------------------------------------

SourcedItems = Callable[
    ["Db", Sequence[str], Unclassifiable], Generator[tuple[str, Item], None, None]
]
"""The tasks of some sources judged, each with its source's name, as a merged report reads them
(`connector.reports.rollup`), the refused ones counted in the `Unclassifiable`."""


def sources_split(db: Db, sources: Sequence[str], at_least: int) -> int | None:
    """Where to split `sources` (in their order) so that the tasks of the sources before and
    after hold about as many tasks each, when a merged report of them is read in two halves
    (as `report_current` says: a command's reader, at least `at_least` tasks, two sources or
    more); else None."""
    if at_least <= 0 or len(sources) < 2 or not isinstance(db, PlainReader) or not can_fork():
        return None
    counts = {
        str(row["source"]): int(row["n"])
        for row in db.rows("SELECT source, count(*) AS n FROM task GROUP BY source")
    }
    sizes = [counts.get(name, 0) for name in sources]
    total = sum(sizes)
    if total < at_least:
        return None
    before = [sum(sizes[:k]) for k in range(1, len(sources))]
    best = min(range(len(before)), key=lambda i: abs(total - 2 * before[i]))
    return best + 1


def build_merged_report_in_halves(  # noqa: PLR0917 - the arguments of build_merged_report
    db: PlainReader,
    sourced_items: SourcedItems,
    units: Sequence[tuple[str, Unit]],
    options: ReportOptions,
    unit_map: UnitMap,
    sources: Sequence[str],
    split: int,
) -> tuple[Report, int]:
    """`build_merged_report` of the tasks `sourced_items` reads, the sources before `split` read
    here and the others in a forked process (here too when it fails: logged), with how many
    tasks the rules refused. The same report as one process reading them in order."""
    named = tuple(sources)

    def counted(reader: Db, names: Sequence[str]) -> tuple[_Counted, dict[RowKey, str], int]:
        skipped = Unclassifiable()
        table = _Rows(units, unit_map)
        found = _Counted()
        with closing(sourced_items(reader, names, skipped)) as items, collection_paused():
            _count(items, found, table, options, named)
        return found, table.mapped_names, skipped.count

    (lower, lower_names, lower_skipped), (upper, upper_names, upper_skipped) = _in_two_processes(
        db, counted, named[:split], named[split:], sources=list(named[split:])
    )
    log.info(
        "report_read_in_halves",
        sources=[list(named[:split]), list(named[split:])],
        lower=lower.seen,
        upper=upper.seen,
    )
    with collection_paused():
        lower.merge(upper)
        table = _Rows(units, unit_map)
        table.mapped_names.update(lower_names)
        table.mapped_names.update(upper_names)
        report = _finish(lower, table, units, options, named)
    return report, lower_skipped + upper_skipped
