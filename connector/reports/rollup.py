"""A report over several sources of one ledger (issue 16): one merged table or one section per
source (``report --by unit|source``).

- ``by=unit`` (the default): one report whose rows are *mapped units*: each task's (source,
  lead unit code) resolved through the unit map (`connector.rules.unitmap`; without a map
  every unit stays apart, so two sources' ``VPUBND`` are two rows). Rows and annex lines carry
  their source (`UnitLine.source`, `TaskRef.source`), `Report.sources` names the sources.
- ``by=source``: one `Section` per source, each the report a ledger of that source alone would
  give (read through `connector.ledger.scope.use_read_sources`, the same path as a one-source
  report).

A read that sees one source (a one-source ledger, or ``--source NAME``) gives the one-source
report, as before: the unit map is not applied to it.

Each source is read in turn (its units, then its tasks in batches), so memory does not grow with
the number of sources; the figures of a source are those of a one-source ledger of it.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from connector.errors import ConfigError, Problem
from connector.ledger.history import iter_tasks_as_of
from connector.ledger.reader import PlainReader, reading
from connector.ledger.scope import read_sources, use_read_sources
from connector.ledger.units import list_units
from connector.mapping.files import resolve_mapping
from connector.models import Unit
from connector.ops.collector import collection_paused
from connector.reports.build import (
    build_merged_report,
    build_merged_report_in_halves,
    current_tasks,
    report_as_of,
    report_current,
    report_items,
    sources_split,
)
from connector.reports.model import Item, Report, ReportOptions
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import Unclassifiable, ledger_facts
from connector.rules.unitmap import UnitMap
from connector.settings import Settings

if TYPE_CHECKING:
    from connector.ledger.lines import ReadTask, StoredTask
    from connector.ledger.reader import Db


class By(StrEnum):
    """``report --by``: how a report over several sources is laid out."""

    UNIT = "unit"
    """One merged table, a row per mapped unit."""
    SOURCE = "source"
    """One section per source, each the usual report."""


@dataclass(frozen=True)
class Section:
    """One source's part of a ``--by source`` report."""

    source: str
    report: Report


@dataclass(frozen=True)
class Rollup:
    """What ``report`` computed: one report (``by=unit``, or a read of one source) or the
    sections of ``by=source``."""

    by: By
    sources: tuple[str, ...]
    report: Report | None = None
    sections: tuple[Section, ...] = ()


def load_unit_map(path: str, settings: Settings, *, key: str = "report.unit_map") -> UnitMap:
    """The unit map at `path` (a file, or the name of a shipped one as ``units-gialai``; "":
    `UnitMap.identity()`), its sources checked against the
    configured ones; a `ConfigError` naming `key` (exit 2) with every problem of the file."""
    if not path:
        return UnitMap.identity()
    names = [src.name for src in settings.all_sources]
    try:
        return UnitMap.load(resolve_mapping(path), sources=names)
    except ConfigError as exc:
        problems = [Problem(key, f"{p.where}: {p.message}") for p in exc.problems]
        raise ConfigError(problems, source=key) from None


def ledger_sources(db: Db, settings: Settings) -> tuple[str, ...]:
    """The sources the reads see (``--source``) that hold a task or a unit: in the
    configuration's order (`Settings.all_sources`), then any other by name."""
    with reading(db) as r:
        found = {
            str(s)
            for s in r.column("SELECT DISTINCT source FROM task UNION SELECT source FROM unit")
        }
    wanted = read_sources()
    if wanted is not None:
        found &= set(wanted)
    configured = [src.name for src in settings.all_sources if src.name in found]
    return (*configured, *sorted(found - set(configured)))


def report_rollup(
    db: Db,
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
    *,
    by: By = By.UNIT,
    unit_map: UnitMap | None = None,
    history: bool = False,
) -> Rollup:
    """The report of the sources the reads see (see the module docstring). `history`: rebuilt
    as the ledger knew it at the end of `options.as_of` (`report_as_of`), else from what it
    knows now (`report_current`). Raises what those raise."""
    by = By(by)
    build = report_as_of if history else report_current
    sources = ledger_sources(db, settings)
    if by is By.SOURCE and sources:
        sections = []
        for name in sources:
            with use_read_sources((name,)):
                sections.append(Section(name, build(db, settings, options, calendar)))
        return Rollup(by, sources, sections=tuple(sections))
    if len(sources) <= 1:  # also --by source of a ledger without data: the empty report
        # Reads narrowed to the one source (when reads see every source): the same rows, read
        # by the indexes that lead with the source (what the ledger knows of a task: by
        # (source, task id), not a scan of every report date each batch).
        with use_read_sources(sources if read_sources() is None else read_sources()):
            return Rollup(by, sources, report=build(db, settings, options, calendar))
    units: list[tuple[str, Unit]] = []
    for name in sources:
        with use_read_sources((name,)):
            units += [(name, unit) for unit in list_units(db)]
    unreadable = Unclassifiable()
    options = replace(options, report_cutoff_day=settings.alerts.report_cutoff_day)
    chosen = unit_map or UnitMap.identity()
    split = sources_split(db, sources, settings.report.parallel_min_tasks)
    if split is not None:  # two halves of the sources, the second in a forked process
        assert isinstance(db, PlainReader)  # `sources_split`

        def items_of(
            reader: Db, names: Sequence[str], skipped: Unclassifiable
        ) -> Generator[tuple[str, Item]]:
            return _sourced_items(reader, settings, options, calendar, names, skipped, history)

        merged, refused = build_merged_report_in_halves(
            db, items_of, units, options, chosen, sources, split
        )
        return Rollup(by, sources, report=replace(merged, unreadable=refused))
    # Closed here, in this context: the generator narrows the reads while it runs.
    with (
        closing(
            _sourced_items(db, settings, options, calendar, sources, unreadable, history)
        ) as items,
        collection_paused(),
    ):
        report = build_merged_report(items, units, options, chosen, sources)
    return Rollup(by, sources, report=replace(report, unreadable=unreadable.count))


def _sourced_items(  # noqa: PLR0917 - private, called once
    db: Db,
    settings: Settings,
    options: ReportOptions,
    calendar: WorkingCalendar,
    sources: Sequence[str],
    skipped: Unclassifiable,
    history: bool,
) -> Generator[tuple[str, Item]]:
    """Each source's tasks judged as its one-source report judges them, with its name; one
    source read at a time (`use_read_sources`)."""
    for name in sources:
        with use_read_sources((name,)), reading(db) as r:
            if history:
                past = iter_tasks_as_of(r, options.as_of, include_deleted=True)
                tasks: Iterator[StoredTask | ReadTask] = ((task, None) for task in past)
                facts = ledger_facts(r, as_of=options.as_of)
            else:
                units = list_units(r)
                tasks = current_tasks(r, settings, calendar, units, options.as_of)
                facts = ledger_facts(r)
            for item in report_items(
                tasks, settings, options.as_of, calendar, facts=facts, skipped=skipped
            ):
                yield name, item
