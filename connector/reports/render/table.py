"""The report for a terminal: rich tables with a title, the as-of date and grouped headers."""

from __future__ import annotations

import io

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from connector.i18n import Lang, label
from connector.ops.log import terminal_safe
from connector.reports.model import Report
from connector.reports.render.common import (
    ANNEX_LIMIT,
    SUMMARY_COLUMNS,
    Annex,
    SummaryColumn,
    annexes,
    cell_text,
    column_groups,
    head_lines,
    notes,
    one_line,
    summary_lines,
    summary_value,
)

SUB_WIDTH = 8
"""Width of each figure column inside a group (the groups' cells are aligned grids), at least;
wider when a word of a column's label in the report's language is longer (`label_width`). With
8 the summary fits 160 columns in Vietnamese and English, every header word whole."""


def label_width(columns: list[SummaryColumn], lang: Lang, fold: bool) -> int:
    """The width of figure columns with these labels: `SUB_WIDTH`, or their longest word, so
    a header wraps between words and is never cut ("Unconfirmed")."""
    words = (word for c in columns for word in c.label(lang, fold).split())
    return max(SUB_WIDTH, *(len(word) for word in words))


UNIT_MIN_WIDTH = 18


class SummaryTable:
    """`summary_table` sized to the console it is printed on (its unit column gives way)."""

    def __init__(self, report: Report, lang: Lang | None = None) -> None:
        self.report = report
        self.lang = lang

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = summary_parts(self.report, self.lang, options.max_width)
        for index, part in enumerate(parts):
            if index:
                yield Text("")
            yield part
        if len(parts) > 1:  # the notes as wide as the console, not as the last part
            chosen: Lang = self.lang or self.report.lang
            yield Text("\n".join([*head_lines(self.report, chosen), *notes(self.report, chosen)]))


ANNEX_COLUMN_ROOM = 12
"""Columns an annex table needs per column to read as a table; on a narrower console each task
is a paragraph instead (`AnnexTable`)."""
ANNEX_TEXT_MIN = 10
"""The narrowest a text column (trích yếu, số ký hiệu, unit) of an annex table may be."""


def _whole_widths(annex: Annex, lang: Lang, shown: tuple[object, ...]) -> list[int]:
    """The width each column of `annex_table` needs: for a date, a number or a yes/no its
    widest value (never folded: "15/02/202" / "2" reads as a year 202), for a text column
    `ANNEX_TEXT_MIN`; each at least its label's longest word."""
    widths = []
    for column in annex.terminal_columns():
        word = max((len(w) for w in label(column.label_key, lang).split()), default=0)
        if column.wrap:
            widths.append(max(ANNEX_TEXT_MIN, word))
            continue
        values = (len(cell_text(column.value(entry, lang), lang)) for entry in shown)
        widths.append(max([word, *values]))
    return widths


def _table_room(annex: Annex, lang: Lang, shown: tuple[object, ...]) -> int:
    """The console width `annex_table` needs to show every date, number and header word whole:
    each column its `_whole_widths`, a space either side and a rule; the STT column."""
    number = max(len(label("col_no", lang)), len(str(len(shown))))
    return 1 + (number + 3) + sum(width + 3 for width in _whole_widths(annex, lang, shown))


class AnnexTable:
    """`annex_table` on a console wide enough for its columns; on a narrower one (80 columns:
    ten columns of six or seven characters, every word on its own line), each task is one
    numbered paragraph, ``Label: value`` for every column that has a value."""

    def __init__(self, annex: Annex, lang: Lang, limit: int | None = None) -> None:
        self.annex = annex
        self.lang = lang
        self.limit = limit

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        columns = self.annex.terminal_columns()
        shown = self.annex.entries if self.limit is None else self.annex.entries[: self.limit]
        room = max(
            ANNEX_COLUMN_ROOM * (len(columns) + 1), _table_room(self.annex, self.lang, shown)
        )
        if options.max_width >= room or not self.annex.entries:
            yield annex_table(self.annex, self.lang, self.limit)
            return
        yield Text(self.annex.title(self.lang), style="bold")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", no_wrap=True)
        grid.add_column(overflow="fold")
        for number, entry in enumerate(shown, start=1):
            parts = []
            for column in columns:
                value = one_line(cell_text(column.value(entry, self.lang), self.lang))
                if value:
                    parts.append(f"{label(column.label_key, self.lang)}: {value}")
            # Task text from the source: plain text (never rich markup), controls made visible.
            grid.add_row(f"{number}.", Text(terminal_safe(" · ".join(parts), one_line=True)))
        yield grid
        rest = len(self.annex.entries) - len(shown)
        if rest:
            yield Text(label("more_rows", self.lang, n=rest), style="italic")


def _group_width(count: int, width: int) -> int:
    return count * width + (count - 1)


def _grid(cells: list[Text], sub_width: int = SUB_WIDTH) -> Table:
    grid = Table.grid(padding=(0, 1), collapse_padding=True)
    for _ in cells:
        grid.add_column(width=sub_width, justify="right")
    grid.add_row(*cells)
    return grid


def _runs() -> list[tuple[str | None, list[SummaryColumn]]]:
    runs: list[tuple[str | None, list[SummaryColumn]]] = []
    index = 0
    for group, width in column_groups():
        runs.append((group, list(SUMMARY_COLUMNS[index : index + width])))
        index += width
    return runs


def _taken(report: Report, lang: Lang, runs: list[tuple[str | None, list[SummaryColumn]]]) -> int:
    """Columns the summary's No. column, borders and these figure groups take (not the unit)."""
    every = _runs()
    figure = label_width(
        [c for group, columns in every if group is not None for c in columns], lang, report.fold
    )
    taken = max(len(label("col_no", lang)), 3) + 2 + len(runs) + 3
    for group, columns in runs:
        single = max(figure, label_width(columns, lang, report.fold))
        taken += 2 + (single if group is None else _group_width(len(columns), figure))
    return taken


def summary_parts(report: Report, lang: Lang | None, width: int) -> list[Table]:
    """The summary in as many tables as `width` needs to show every header whole: one when it
    fits, else the figure groups split over several tables (each with the No. and unit
    columns; the title over the first, the notes under the last). At 80 columns the one table
    was printed 120 wide (every line wrapped by the terminal) with its headers cut."""
    chosen: Lang = lang or report.lang
    runs = _runs()
    room = width - 2 - UNIT_MIN_WIDTH
    if _taken(report, chosen, runs) <= room:
        return [summary_table(report, chosen, width)]
    parts: list[list[tuple[str | None, list[SummaryColumn]]]] = [[]]
    for run in runs:
        if parts[-1] and _taken(report, chosen, [*parts[-1], run]) > room:
            parts.append([])
        parts[-1].append(run)
    if len(parts) == len(runs) and _taken(report, chosen, parts[0]) > room:
        return [summary_table(report, chosen, width)]  # not even one group fits: rich shrinks
    return [  # the notes follow the last part (`SummaryTable`), as wide as the console
        summary_table(report, chosen, width, runs=part, title=i == 0, caption=False)
        for i, part in enumerate(parts)
    ]


def summary_table(
    report: Report,
    lang: Lang | None = None,
    width: int | None = None,
    *,
    runs: list[tuple[str | None, list[SummaryColumn]]] | None = None,
    title: bool = True,
    caption: bool = True,
) -> Table:
    """The summary as a rich `Table` (print it on any console).

    A terminal has no merged cells: each group (Tổng số nhiệm vụ được giao / Đã hoàn thành /
    Đang thực hiện) is one column whose header names the group above a rule and its own
    columns' labels, and whose cells are grids of fixed-width figures, so that they line up.
    Given the console's `width`, the unit column (its names fold) takes what the figures leave,
    so the figures' headers are never cut when the console is wide enough for them (about 160
    columns; `SummaryTable` passes the width, and splits the groups over several tables,
    `runs` each, on a narrower console).
    """
    chosen: Lang = lang or report.lang
    table = Table(
        title=report.title if title else None,
        title_style="bold",
        caption="\n".join([*head_lines(report, chosen), *notes(report, chosen)])
        if caption
        else None,
        caption_justify="left",
        header_style="bold",
    )
    every = _runs()
    runs = every if runs is None else runs
    figure = label_width(
        [c for group, columns in every if group is not None for c in columns], chosen, report.fold
    )
    singles = {
        id(columns): max(figure, label_width(columns, chosen, report.fold))
        for group, columns in runs
        if group is None
    }
    number = label("col_no", chosen)
    table.add_column(number, justify="right", no_wrap=True)
    taken = max(len(number), 3) + 2 + len(runs) + 3  # the No. column and the borders
    for group, columns in runs:
        taken += 2 + (singles[id(columns)] if group is None else _group_width(len(columns), figure))
    # Headers whole when the console has room for them; on a narrower one (or of unknown
    # width) rich shrinks every column, as it must, rather than crop the right-hand ones.
    whole = width is not None and width >= taken + 2 + UNIT_MIN_WIDTH
    unit_room = width - taken - 2 if whole and width is not None else None
    table.add_column(
        label("col_unit", chosen), overflow="fold", min_width=UNIT_MIN_WIDTH, max_width=unit_room
    )
    width = figure
    for group, columns in runs:
        if group is None:
            table.add_column(
                columns[0].label(chosen, report.fold),
                justify="right",
                width=singles[id(columns)],
                vertical="top",
            )
            continue
        subs = [Text(c.label(chosen, report.fold), justify="right", style="bold") for c in columns]
        header = Group(
            Text(label(group, chosen), justify="center", style="bold"),
            Rule(style="dim"),
            _grid(subs, width),
        )
        # Never narrower than its figures: the unit column (it folds) gives way instead.
        table.add_column(
            header,
            justify="right",
            vertical="top",
            min_width=_group_width(len(columns), width) if whole else None,
        )
    for line in summary_lines(report, chosen):
        if line.kind == "group" or line.counts is None:
            table.add_row(line.number, Text(terminal_safe(line.name), style="bold italic"))
            continue
        style = "bold" if line.kind == "total" else ""
        counts = line.counts
        cells: list[RenderableType] = []
        for group, columns in runs:
            texts = [
                Text(cell_text(summary_value(c, counts), chosen), style=style, justify="right")
                for c in columns
            ]
            cells.append(texts[0] if group is None else _grid(texts, width))
        if line.kind == "total":
            table.add_section()
        name = Text(terminal_safe(line.name), style=style)
        table.add_row(Text(line.number, style=style), name, *cells)
    return table


def annex_table(annex: Annex, lang: Lang, limit: int | None = None) -> Table:
    """One annex as a rich `Table`; with `limit`, its first tasks and a count of the rest."""
    table = Table(title=annex.title(lang), header_style="bold", title_justify="left")
    table.add_column(label("col_no", lang), justify="right", no_wrap=True)
    shown = annex.entries if limit is None else annex.entries[:limit]
    widths = _whole_widths(annex, lang, shown)
    for column, width in zip(annex.terminal_columns(), widths, strict=True):
        # A date, a number or a yes/no is never folded: its column is as wide as its widest
        # value (or label word), and the text columns share what is left.
        fixed = None if column.wrap or not shown else width
        table.add_column(label(column.label_key, lang), overflow="fold", width=fixed)
    if not annex.entries:
        table.add_row("", label("annex_empty", lang))
    for number, entry in enumerate(shown, start=1):
        table.add_row(
            str(number),
            # Task text from the source: plain text (never rich markup), controls made visible.
            *(
                Text(
                    terminal_safe(
                        one_line(cell_text(column.value(entry, lang), lang)), one_line=True
                    )
                )
                for column in annex.terminal_columns()
            ),
        )
    rest = len(annex.entries) - len(shown)
    if rest:
        # Under the table, as wide as it: a cell of one column would fold the sentence.
        table.caption = Text(label("more_rows", lang, n=rest), style="italic")
        table.caption_justify = "left"
    return table


def report_renderable(
    report: Report, lang: Lang | None = None, *, annex_limit: int | None = ANNEX_LIMIT
) -> RenderableType:
    """The summary followed by the six annexes (each cut at `annex_limit` tasks; None: all)."""
    chosen: Lang = lang or report.lang
    parts: list[RenderableType] = [SummaryTable(report, chosen)]
    for annex in annexes(report):
        parts.extend([Text(""), AnnexTable(annex, chosen, annex_limit)])
    return Group(*parts)


def render_table(
    report: Report,
    lang: Lang | None = None,
    *,
    width: int = 200,
    color: bool = False,
    annex_limit: int | None = ANNEX_LIMIT,
) -> str:
    """The report as terminal text; ANSI styles only with `color`."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        width=width,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        highlight=False,
        legacy_windows=False,
    )
    console.print(report_renderable(report, lang, annex_limit=annex_limit))
    return buffer.getvalue()
