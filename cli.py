"""The `idesk-connector` command line: parse options, call one library function, render, exit.

No SQL, HTTP or business rule lives here: every command calls into `connector`, renders what it
returns, and maps the library's error families to the documented exit codes:

    0 success · 1 finished with problems · 2 configuration, mapping or usage error ·
    3 source unavailable or authentication failed · 4 not found · 70 internal error (a bug) ·
    74 ledger or file I/O error · 75 another run holds the lock · 130 interrupted

Everything printed for the operator goes through the same redaction as the logs and has its
control characters made visible (`connector.ops.log.for_terminal`); a traceback never reaches the
terminal (it goes to the JSON log only).
"""

# No `from __future__ import annotations` here: typer reads every command's annotations on each
# run, and real objects spare it evaluating them from strings (a faster start).
import contextlib
import contextvars
import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, ParamSpec, TypeVar

import typer
import typer.core

from connector.errors import (
    ConfigError,
    ConnectorError,
    Interrupted,
    OutboxStateError,
    interrupt_in,
)
from connector.ops.log import (
    LogFormat,
    LogLevel,
    configure_logging,
    for_terminal,
    get_logger,
    json_safe,
    log_internal_error,
    redact,
    terminal_safe,
)
from connector.outbox.states import OutboxState  # the option's values (a light module)

if TYPE_CHECKING:
    from connector.i18n import Lang
    from connector.settings import LoadedSettings  # pydantic: loaded by the commands only

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CONFIG = 2
EXIT_SOURCE = 3
EXIT_NOT_FOUND = 4
EXIT_INTERNAL = 70
EXIT_IO = 74
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130

PANEL_SYNC = "Sync"
PANEL_INSPECT = "Inspect"
PANEL_REPORT = "Report"
PANEL_ADMIN = "Admin"
PANEL_SIM = "Simulator"


def _no_value_for_flags(params: list[Any]) -> list[Any]:
    """A flag takes no value, so its help shows none: typer (0.29) shows a parameter without a
    metavar by its Python type, a flag too (``--dry-run <bool>``), and its own ``--help`` and
    completion flags have none. An empty metavar shows nothing (older typers show none anyway).
    """
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class Command(typer.core.TyperCommand):
    """Every command (``cls=Command``): its help shows no value for a flag."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_value_for_flags(super().get_params(ctx))


class Group(typer.core.TyperGroup):
    """The program and its groups (``tasks``, ``db``...): their help shows no value for a flag."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _no_value_for_flags(super().get_params(ctx))


app = typer.Typer(
    name="idesk-connector",
    help=(
        "Pull assigned tasks from an iDesk-style document system, classify their deadline "
        "status, push tracking status and alerts back, and report to the Working Group.\n\n"
        "Example: idesk-connector --config /etc/idesk-connector/config.toml sync"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=Group,
)


def command_group(name: str, help_text: str, panel: str) -> typer.Typer:
    """A group of commands (``tasks list``, ``outbox retry``...) under `panel` of the help."""
    group = typer.Typer(help=help_text, no_args_is_help=True, cls=Group)
    app.add_typer(group, name=name, rich_help_panel=panel)
    return group


class OutputFormat(StrEnum):
    """``--format`` of the commands that print a table or JSON."""

    TABLE = "table"
    JSON = "json"


class ReportFormat(StrEnum):
    """``report --format``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    DOCX = "docx"
    HTML = "html"
    MD = "md"


class DemoDelivery(StrEnum):
    """``demo --deliver``."""

    SOURCE = "source"
    EMAIL = "email"


class Language(StrEnum):
    """``--lang``."""

    VI = "vi"
    EN = "en"


class SimDialect(StrEnum):
    """``--dialect`` of the simulator and the demo."""

    CONTRACT = "contract"
    IDESK6 = "idesk6"

    @property
    def literal(self) -> Literal["contract", "idesk6"]:
        return "idesk6" if self is SimDialect.IDESK6 else "contract"


class DenominatorChoice(StrEnum):
    """``report --denominator`` (the values of `connector.reports.model.Denominator`, which is
    not imported here: start-up time)."""

    DONE = "done"
    DUE = "due"
    ALL = "all"


class BasisChoice(StrEnum):
    """``report --basis`` (the values of `connector.reports.model.Basis`)."""

    ASSIGNED = "assigned"
    COMPLETED = "completed"
    DUE = "due"


class ByChoice(StrEnum):
    """``report --by`` (the values of `connector.reports.rollup.By`)."""

    UNIT = "unit"
    SOURCE = "source"


@dataclass
class Options:
    """Global options, shared by every command."""

    config: Path | None = None
    log_format: LogFormat = LogFormat.AUTO
    log_level: LogLevel | None = None
    verbose: bool = False

    @property
    def terminal_level(self) -> str | None:
        """What the console shows on a terminal: the command line's level, else None (warnings
        and errors only; `connector.ops.log.configure_logging`)."""
        if self.log_level is not None:
            return self.log_level.value
        return LogLevel.INFO.value if self.verbose else None


OPTIONS = Options()

FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table or json.")]
UiLangOpt = Annotated[
    Language | None, typer.Option("--lang", help="vi or en (default: ui.lang, vi).")
]


def ui_lang(loaded: "LoadedSettings", lang: Language | None) -> "Lang":
    """The language of a command's terminal output: its ``--lang``, else ``ui.lang``."""
    from connector.i18n import check_lang

    return check_lang(lang.value if lang is not None else loaded.settings.ui.lang)


def _said(key: str, lang: "Lang", **values: object) -> str:
    """A short confirmation or summary line of `labels.toml` in `lang` (``ui.lang`` or the
    command's ``--lang``)."""
    from connector.i18n import label

    return label(key, lang, **values)


def _seconds(value: float, lang: "Lang") -> str:
    """Seconds with one decimal, as the reports write numbers (a decimal comma in Vietnamese)."""
    from connector.views.text import seconds_text

    return seconds_text(value, lang)


def _stdout(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()  # a closed pipe is found here, by the command's own error handling


def _output_gone() -> None:
    """After a broken pipe on stdout: what is still buffered for it goes nowhere, so that the
    interpreter's last flush does not fail again (and change the exit code) on the way out."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _document_out(text: str) -> str:
    """A csv or md report for stdout: on a terminal its control characters made visible (a
    subject's escape sequence would drive the terminal; CRLF row ends are plain line ends);
    piped or redirected, as stored."""
    if not sys.stdout.isatty():
        return text
    return terminal_safe(text.replace("\r\n", "\n"))


def _table_console(least: int) -> Any:
    """The console a wide report table is printed on: on a terminal, the terminal's own width
    (the table splits to fit; one printed wider is wrapped line by line by the terminal, and
    unreadable), else (a file, a pipe) at least `least` columns."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=max(least, console.width))


def _stderr(text: str) -> None:
    """A message for the operator: secrets removed, control characters made visible. Nothing,
    when nobody reads stderr any more (a closed pipe): the exit code still tells."""
    text = for_terminal(text)
    with contextlib.suppress(OSError):
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


def settings(*, need_source: bool = True) -> "LoadedSettings":
    """Load and validate settings once, then configure logging from them."""
    from connector.settings import load_settings, load_settings_lenient

    loader = load_settings if need_source else load_settings_lenient
    loaded = loader(OPTIONS.config)
    s = loaded.settings
    from connector.ledger.scope import DEFAULT_SOURCE, set_source

    # Rows written by this command belong to the one source (several: each run sets its own).
    set_source(DEFAULT_SOURCE if s.sources else s.source.name)
    fmt = OPTIONS.log_format if OPTIONS.log_format != LogFormat.AUTO else s.log.format
    configure_logging(
        level=OPTIONS.log_level or s.log.level,
        fmt=fmt,
        file=s.log.file or None,
        secrets=s.secret_values(),
        terminal_level=OPTIONS.terminal_level,
    )
    for warning in loaded.warnings:
        get_logger("cli").warning("config_warning", message=warning)
    return loaded


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an error that ends a command."""
    if isinstance(exc, ConnectorError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, OSError):
        return EXIT_IO
    return EXIT_INTERNAL


def error_text(exc: BaseException) -> str:
    """The message of an error for the terminal: one line per problem, nothing secret."""
    if isinstance(exc, ConfigError):
        lines = [for_terminal(str(p), one_line=True) for p in exc.problems]
        if len(lines) == 1:
            return for_terminal(exc.brief(), one_line=True)
        head = for_terminal(exc.message.splitlines()[0], one_line=True)
        return "\n".join([head, *(f"  - {line}" for line in lines)])
    if isinstance(exc, ConnectorError):
        return for_terminal(str(exc), one_line=True)
    if isinstance(exc, BrokenPipeError) and not exc.filename:
        return (
            "the output was closed before everything was written (broken pipe: the command "
            "reading it, such as head, stopped early)"
        )
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        reason = exc.strerror or type(exc).__name__
        return for_terminal(f"cannot read or write{where}: {reason}", one_line=True)
    return for_terminal(f"{type(exc).__name__}: {exc}", one_line=True)


def _internal_error(exc: Exception) -> None:
    """An unexpected error: the traceback to the JSON log only, one line on the terminal."""
    try:
        where = log_internal_error(exc)
    except Exception:  # the log itself failed: still one line, still the documented code
        where = ""
    keep = (
        f"the traceback is in {where}"
        if where
        else "set log.file (or run with --log-format json 2>FILE) to record the traceback"
    )
    _stderr(
        f"error: internal error ({error_text(exc)}); this is a bug in idesk-connector, "
        f"please report it; {keep}"
    )


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn every error into one clear message on stderr and the documented exit code.

    Library errors map by family (`connector.errors`); an escaped `OSError` is an I/O error
    (74); anything else is a bug (70), its traceback kept in the JSON log, never on the terminal.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            # Each command in a context of its own: the ledger scope it sets
            # (`connector.ledger.scope`) ends with it.
            return contextvars.copy_context().run(func, *args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Interrupted as exc:
            _stderr(f"interrupted: {error_text(exc)}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except ConnectorError as exc:
            _stderr(f"error: {error_text(exc)}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _stderr("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and not exc.filename:
                _output_gone()
            _stderr(f"error: {error_text(exc)}")
            raise typer.Exit(EXIT_IO) from None
        except Exception as exc:
            interrupt = interrupt_in(exc)
            if interrupt is not None:  # a signal a library's clean-up turned into another error
                _stderr(f"interrupted: {error_text(interrupt)}")
                raise typer.Exit(EXIT_INTERRUPTED) from None
            _internal_error(exc)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper


def emit_json(data: Any, *, secret_free: bool = False) -> None:
    """Print JSON for scripts; characters that could drive a terminal are ``\\u``-escaped (the
    same data once decoded). `secret_free` also runs every string through the log redaction
    (for text that came from the server, such as `check`'s details)."""
    if secret_free:
        data = _redacted(data)
    _stdout(json_safe(json.dumps(data, ensure_ascii=False, indent=2, default=str)))


def render(fmt: str, as_json: Callable[[], Any], as_text: Callable[[], Any]) -> None:
    """Print a command's result: its documented JSON shape with ``--format json``, else its
    terminal text (a string, printed unless empty) or table (a rich renderable)."""
    if fmt == "json":
        emit_json(as_json())
        return
    shown = as_text()
    if isinstance(shown, str):
        if shown:
            _stdout(shown)
        return
    from rich.console import Console

    Console().print(shown)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def parse_day(value: str | None, what: str = "--as-of") -> date | None:
    """A command-line date: ISO, and inside the years the working calendar covers."""
    from connector.rules.calendar import require_covered

    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{what} must be a date YYYY-MM-DD, got {value!r}") from None
    return require_covered(day, what)


def check_limit(limit: int, what: str = "--limit") -> int:
    """A row limit: 0 (all) or more."""
    if limit < 0:
        raise ConfigError(f"{what} must be 0 (all) or a positive number, got {limit}")
    return limit


MAX_TASK_ID = 2**63 - 1
"""The largest id a ledger can hold (a signed 64-bit integer, SQLite and PostgreSQL alike)."""


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="FILE",
            help="Config file (TOML). Default: $IDESK_CONNECTOR_CONFIG, else ./config.toml.",
            envvar="IDESK_CONNECTOR_CONFIG",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(help="auto (console on a terminal, JSON otherwise), console or json."),
    ] = LogFormat.AUTO,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            help="debug, info, warning or error (default: log.level; on a terminal the console "
            "shows warnings and errors only unless this or -v asks for more)."
        ),
    ] = None,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show the info events on the terminal too (--log-level info)."
        ),
    ] = False,
) -> None:
    """Global options."""
    OPTIONS.config = config
    OPTIONS.log_format = log_format
    OPTIONS.log_level = log_level
    OPTIONS.verbose = verbose
    configure_logging(
        level=log_level or "info", fmt=log_format, terminal_level=OPTIONS.terminal_level
    )


# --- commands are added below, grouped by panel -------------------------------------------


def _parse_range(text: str) -> tuple[date, date]:
    start_s, sep, end_s = text.partition("..")
    start = parse_day(start_s, "DATE..DATE")
    end = parse_day(end_s if sep else start_s, "DATE..DATE")
    assert start is not None and end is not None
    if end < start:
        raise ConfigError(f"empty range {text!r}: the first date is after the second")
    return start, end


@app.command("calendar", rich_help_panel=PANEL_INSPECT, cls=Command)
@handle_errors
def calendar_cmd(
    days: Annotated[
        str,
        typer.Argument(metavar="FROM..TO", help="A date range FROM..TO (YYYY-MM-DD..YYYY-MM-DD)."),
    ],
    lang: UiLangOpt = None,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """List days off and swapped working days in a range, with their source.

    Example: idesk-connector calendar 2026-01-01..2026-01-31
    """
    from connector.views import shapes, text
    from connector.views.listings import calendar_range

    loaded = settings(need_source=False)
    chosen = ui_lang(loaded, lang)
    found = calendar_range(_calendar_for(loaded), *_parse_range(days))
    render(
        fmt, lambda: shapes.calendar_json(found, chosen), lambda: text.calendar_table(found, chosen)
    )


# --- sync -----------------------------------------------------------------------------------

WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        metavar="N",
        help="Wait up to N seconds for another run's lock (default: exit 75).",
    ),
]
DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run",
        help="Same code path, nothing written to the source, the ledger rolled back; "
        "prints what would have changed and been sent.",
    ),
]


SourceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--source",
        metavar="NAME",
        help="Only these sources of a \\[\\[sources]] config (repeat, or a comma list; "
        "default: all, one after the other).",
    ),
]


def chosen_sources(loaded: "LoadedSettings", given: list[str] | None) -> tuple[str, ...]:
    """The source names `--source` picks (each known, each once; none given: every source)."""
    known = [src.name for src in loaded.settings.all_sources]
    if not given:
        return tuple(known)
    wanted = [n.strip() for item in given for n in item.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(
            f"--source: no source named {', '.join(map(repr, unknown))}; the sources are: "
            f"{', '.join(known)}"
        )
    return tuple(dict.fromkeys(wanted))


def narrow_reads(loaded: "LoadedSettings", given: list[str] | None) -> None:
    """With `--source`, the ledger reads of this command see those sources only (checked
    against the configured names); without, every source."""
    from connector.ledger.scope import set_read_sources

    if given:
        set_read_sources(chosen_sources(loaded, given))


def _single_source_of_task(reader: Any, task_id: int) -> None:
    """Without `--source`: a task id two sources share is ambiguous (exit 2); a task of one
    source is read from (and written as) that source."""
    from connector.ledger.scope import set_read_sources, set_source

    found = [
        str(s)
        for s in reader.column("SELECT source FROM task WHERE source_id = :id", {"id": task_id})
    ]
    if len(found) > 1:
        raise ConfigError(
            f"task {task_id} exists in several sources ({', '.join(sorted(found))}); "
            "say which with --source NAME"
        )
    if found:
        set_read_sources(found)
        set_source(found[0])


def _run_sources(
    loaded: "LoadedSettings",
    names: tuple[str, ...],
    command: Literal["sync", "pull", "push"],
    *,
    full: bool,
    dry_run: bool,
    wait: float,
    fmt: OutputFormat,
    language: "Lang",
) -> None:
    """One run per source of a [[sources]] config, one after the other; a source that fails
    is reported with its name and the others still run (exit code: README, "Several
    sources")."""
    from connector.ops.jobs import run_job
    from connector.views import shapes, text

    sections: list[dict[str, Any]] = []
    texts: list[str] = []
    failed: list[int] = []
    finished: list[int] = []
    for name in names:
        try:
            result = run_job(
                loaded.settings.for_source(name),
                command,
                full=full,
                dry_run=dry_run,
                wait_s=wait,
                lang=language,
                source=name,
            )
        except Interrupted:
            raise
        except ConnectorError as exc:
            _stderr(f"error: source {name}: {error_text(exc)}")
            sections.append({"source": name, "error": error_text(exc), "exit_code": exc.exit_code})
            texts.append(f"[{name}] error: {error_text(exc)}")
            failed.append(exc.exit_code)
            continue
        sections.append({"source": name, **shapes.job_json(result)})
        texts.append(f"[{name}]\n{text.job_text(result, language)}")
        if result.push is not None and result.push.left_behind():
            _stderr(f"problem: source {name}: {result.push.left_behind()}")
        finished.append(result.exit_code)
    render(fmt, lambda: {"sources": sections}, lambda: "\n".join(texts))
    raise typer.Exit(failed[0] if failed else max(finished, default=EXIT_OK))


def _run(
    command: Literal["sync", "pull", "push"],
    *,
    full: bool,
    dry_run: bool,
    wait: float,
    fmt: OutputFormat,
    lang: Language | None = None,
    source: list[str] | None = None,
) -> None:
    from connector.ops.jobs import run_job
    from connector.views import shapes, text

    loaded = settings()
    language = ui_lang(loaded, lang)
    names = chosen_sources(loaded, source)
    if loaded.settings.sources:
        _run_sources(
            loaded,
            names,
            command,
            full=full,
            dry_run=dry_run,
            wait=wait,
            fmt=fmt,
            language=language,
        )
    try:
        result = run_job(
            loaded.settings,
            command,
            full=full,
            dry_run=dry_run,
            wait_s=wait,
            lang=language,
        )
    except Interrupted:
        raise
    except ConnectorError as exc:
        if fmt == "json":  # a script reads an answer: that of a failed source of [[sources]]
            emit_json({"command": command, "error": error_text(exc), "exit_code": exc.exit_code})
        raise
    render(fmt, lambda: shapes.job_json(result), lambda: text.job_text(result, language))
    if result.push is not None and result.push.left_behind():
        _stderr(f"problem: {result.push.left_behind()}")
    raise typer.Exit(result.exit_code)


@app.command("sync", rich_help_panel=PANEL_SYNC, cls=Command)
@handle_errors
def sync_cmd(
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything from the source.")
    ] = False,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = 0.0,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """Pull, classify, plan alerts and deliver, in one run (the cron job).

    Example: idesk-connector sync --wait 60
    """
    _run("sync", full=full, dry_run=dry_run, wait=wait, fmt=fmt, lang=lang, source=source)


@app.command("pull", rich_help_panel=PANEL_SYNC, cls=Command)
@handle_errors
def pull_cmd(
    full: Annotated[
        bool,
        typer.Option("--full", help="Re-read everything; mark tasks gone from the source deleted."),
    ] = False,
    dry_run: DryRunOpt = False,
    wait: WaitOpt = 0.0,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """Pull changed tasks into the ledger and classify them (no delivery).

    Example: idesk-connector pull --full
    """
    _run("pull", full=full, dry_run=dry_run, wait=wait, fmt=fmt, lang=lang, source=source)


@app.command("push", rich_help_panel=PANEL_SYNC, cls=Command)
@handle_errors
def push_cmd(
    dry_run: DryRunOpt = False,
    wait: WaitOpt = 0.0,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """Deliver pending tracking statuses and alerts from the outbox.

    Example: idesk-connector push --dry-run
    """
    _run("push", full=False, dry_run=dry_run, wait=wait, fmt=fmt, lang=lang, source=source)


@app.command("check", rich_help_panel=PANEL_ADMIN, cls=Command)
@handle_errors
def check_cmd(fmt: FormatOpt = OutputFormat.TABLE, lang: UiLangOpt = None) -> None:
    """Validate config and mapping, open the ledger, reach the source and log in, step by step.

    Example: idesk-connector check
    """
    from connector.views import shapes, text
    from connector.views.check import run_checks

    loaded = settings()
    language = ui_lang(loaded, lang)
    steps = []
    code = EXIT_OK
    every = [loaded.settings.for_source(n) for n in chosen_sources(loaded, None)]
    several = len(every) > 1
    for each in every:
        if several and fmt == "table":
            _stdout(text.check_source_line(each.source.name, language))
        for found in run_checks(each):
            step = replace(found, source=each.source.name) if several else found
            steps.append(step)
            if fmt == "table":
                _stdout(text.check_line(step, language))
            if not step.ok and code == EXIT_OK:
                code = step.exit_code or EXIT_PROBLEMS
    if fmt == "json":
        emit_json(shapes.check_json(steps, code == EXIT_OK), secret_free=True)
    raise typer.Exit(code)


# --- report & inspect -----------------------------------------------------------------------


def _calendar_for(loaded: "LoadedSettings") -> Any:
    from connector.rules.calendar import calendar_for

    return calendar_for(loaded.settings.calendar)


def _open_ledger(loaded: "LoadedSettings") -> Any:
    """The ledger for a command that writes (created or migrated on first use)."""
    from connector.ledger.db import open_ledger

    return open_ledger(loaded.settings.ledger.url)


def _reader(loaded: "LoadedSettings") -> Any:
    """The ledger for a command that only reads: a plain read-only connection, never creating
    or migrating a ledger (`LedgerMissing`, exit 2, when there is none)."""
    from connector.ledger.reader import open_reader

    return open_reader(loaded.settings.ledger.url)


def _today() -> date:
    from connector.clock import SystemClock, local_today

    return local_today(SystemClock())


@app.command("report", rich_help_panel=PANEL_REPORT, cls=Command)
@handle_errors
def report_cmd(
    as_of: Annotated[
        str | None,
        typer.Option(
            metavar="DATE", help="Report as of this local date (YYYY-MM-DD), rebuilt from history."
        ),
    ] = None,
    period: Annotated[
        str,
        typer.Option(
            metavar="PERIOD",
            help="to-date (every task up to the as-of date), 2022-03 (month), 2022-Q1 "
            "(quarter), 2022 (year), 2022-01-01..2022-05-30 (range) or open.",
        ),
    ] = "to-date",
    basis: Annotated[
        BasisChoice | None,
        typer.Option(
            help="Which date places a task in the period: assigned (default), completed or due."
        ),
    ] = None,
    unit: Annotated[
        str | None, typer.Option(metavar="CODE", help="Only this lead unit (code).")
    ] = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="table, json, csv, xlsx, docx, html or md.")
    ] = ReportFormat.TABLE,
    output: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Write to this file instead of the terminal."),
    ] = None,
    number: Annotated[
        str | None,
        typer.Option(
            metavar="NUMBER",
            help="The report's number (Số: NUMBER/BC-TCT); default report.number.",
        ),
    ] = None,
    lang: Annotated[Language | None, typer.Option(help="vi (default) or en.")] = None,
    fold: Annotated[
        bool | None,
        typer.Option(
            "--fold/--no-fold",
            help="Bình Định style: done without deadline = on time, open without = within.",
        ),
    ] = None,
    denominator: Annotated[
        DenominatorChoice | None, typer.Option(help="On-time rate denominator: done, due or all.")
    ] = None,
    annex: Annotated[
        str | None,
        typer.Option(
            metavar="ANNEX",
            help="csv only: write this annex (overdue, late, stale, missing, extended, recurring).",
        ),
    ] = None,
    source: SourceOpt = None,
    by: Annotated[
        ByChoice,
        typer.Option(
            help="Several sources: unit (one table, a row per mapped unit) or source (one "
            "section per source)."
        ),
    ] = ByChoice.UNIT,
    unit_map: Annotated[
        Path | None,
        typer.Option(
            "--unit-map",
            metavar="PATH",
            help="Several sources: the unit map file to group by (default: report.unit_map).",
        ),
    ] = None,
) -> None:
    """The Working Group's report: one row per lead unit, a total row, and the annexes.

    Example: idesk-connector report --as-of 2022-05-30 --format docx --output bao-cao.docx
    (the monthly late completions: --period 2022-03 --basis completed)
    """
    from connector.reports.model import ReportOptions
    from connector.reports.render.formats import annex_option, render, render_bytes
    from connector.reports.rollup import By, load_unit_map, report_rollup
    from connector.views.tasks import check_unit

    if fmt in {ReportFormat.XLSX, ReportFormat.DOCX} and output is None:
        raise ConfigError(f"--format {fmt} needs --output FILE.{fmt}")
    if output is not None and output.is_dir():  # refused before the report is made
        suffix = "txt" if fmt == ReportFormat.TABLE else fmt.value
        raise ConfigError(
            f"--output {output} is a directory; give a file name, e.g. "
            f"--output {output / ('bao-cao.' + suffix)}"
        )
    annex = annex_option(annex, fmt)
    loaded = settings(need_source=False)
    narrow_reads(loaded, source)
    mapping = (
        load_unit_map(str(unit_map), loaded.settings, key="--unit-map")
        if unit_map is not None
        else load_unit_map(loaded.settings.report.unit_map, loaded.settings)
    )
    day = parse_day(as_of)
    options = ReportOptions.from_settings(
        loaded.settings.report,
        as_of=day or _today(),
        period=period,
        unit=unit,
        lang=lang,
        denominator=denominator,
        fold=fold,
        basis=basis,
        number=number,
    )
    cal = _calendar_for(loaded)
    with _reader(loaded) as reader:
        check_unit(reader, unit)
        rollup = report_rollup(
            reader,
            loaded.settings,
            options,
            cal,
            by=By(by.value),
            unit_map=mapping,
            history=day is not None,
        )
        if day is not None:
            _note_as_of(reader, day, options.lang)
    if rollup.report is None:
        _write_sections(rollup.sections, fmt.value, options.lang, annex, output)
        return
    report = rollup.report
    if output is not None:
        try:
            _make_parent(output)
            if fmt == "json" and annex is None:  # written piece by piece, never the whole text
                from connector.reports.render.jsonfmt import write_json

                with output.open("wb") as out:
                    write_json(report, out, options.lang)
            else:
                output.write_bytes(render_bytes(report, fmt, options.lang, annex=annex))
        except OSError as exc:  # exit 74, naming the file
            exc.filename = exc.filename or str(output)
            raise
        get_logger("cli").info("report_written", path=str(output), format=fmt)
        _stderr(_said("cli_report_written", options.lang, path=output))
        return
    if fmt == "table":
        from connector.reports.render.table import report_renderable

        _table_console(120).print(report_renderable(report, options.lang))
        return
    if fmt == "json" and annex is None:  # written piece by piece, never the whole text
        from connector.reports.render.jsonfmt import iter_json

        for piece in iter_json(report, options.lang):
            sys.stdout.write(json_safe(piece))
        return
    rendered = render(report, fmt, options.lang, annex=annex)
    if isinstance(rendered, bytes):
        sys.stdout.buffer.write(rendered)
    else:
        _stdout(json_safe(rendered) if fmt == "json" else _document_out(rendered))


def _make_parent(output: Path) -> None:
    """Create the directory of a report file; a part of its path that is a file is named
    ("cannot read or write /srv/r: File exists" did not say which part was wrong)."""
    import errno

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocking = next((p for p in output.parents if p.exists() and not p.is_dir()), None)
        what = f"{blocking} is a file, not a directory" if blocking else str(exc.strerror)
        raise OSError(errno.ENOTDIR, what, str(output)) from exc


def _write_sections(
    sections: Any, fmt: str, lang: "Lang", annex: str | None, output: Path | None
) -> None:
    """``report --by source``: every source's report, to `output` or the terminal."""
    from connector.reports.render.sections import render_sections, render_sections_bytes

    if output is not None:
        data = render_sections_bytes(sections, fmt, lang, annex=annex)
        try:
            _make_parent(output)
            output.write_bytes(data)
        except OSError as exc:  # exit 74, naming the file
            exc.filename = exc.filename or str(output)
            raise
        get_logger("cli").info("report_written", path=str(output), format=fmt, by="source")
        _stderr(_said("cli_report_written", lang, path=output))
        return
    if fmt == "table":
        from connector.i18n import label
        from connector.reports.render.table import report_renderable

        console = _table_console(120)
        for section in sections:
            console.rule(label("source_section", lang, source=section.source))
            console.print(report_renderable(section.report, lang))
        return
    rendered = render_sections(sections, fmt, lang, annex=annex)
    _stdout(json_safe(rendered) if fmt == "json" else _document_out(rendered))


def _note_as_of(reader: Any, day: date, lang: "Lang") -> None:
    """Say so, in the report's language, when `--as-of` is before anything the ledger observed
    (its figures are all 0) or after today (the tasks the ledger holds today, judged as of that
    day: a projection)."""
    from connector.ledger.history import first_observed_on

    today = _today()
    if day > today:
        _stderr(_said("cli_report_after_today", lang, day=day.isoformat(), today=today))
        return
    first = first_observed_on(reader)
    if first is not None and day >= first:
        return
    since = (
        _said("cli_report_first_data_of", lang, first=first.isoformat())
        if first
        else _said("cli_report_no_task_yet", lang)
    )
    _stderr(_said("cli_report_before_first_data", lang, day=day.isoformat(), since=since))


@app.command("status", rich_help_panel=PANEL_INSPECT, cls=Command)
@handle_errors
def status_cmd(
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """Last runs with outcome and counts, cursor, pending outbox, quarantine, ledger location.

    Example: idesk-connector status --format json
    """
    from connector.views.status import render_status, status_summary

    loaded = settings(need_source=False)
    narrow_reads(loaded, source)
    shown = loaded.settings
    chosen: tuple[str, ...] = ()
    if shown.sources:  # the first source chosen; each one's cursor when several
        chosen = chosen_sources(loaded, source)
        shown = shown.for_source(chosen[0])
    with _reader(loaded) as reader:
        summary = status_summary(reader, shown, sources=chosen)
    if fmt == "json":
        _stdout(json_safe(render_status(summary, "json")))
    else:
        from rich.console import Console

        from connector.views.text import status_renderable

        Console().print(status_renderable(summary, ui_lang(loaded, lang)))


db_app = command_group("db", "Ledger database administration.", PANEL_ADMIN)


@db_app.command("upgrade", cls=Command)
@handle_errors
def db_upgrade_cmd(wait: WaitOpt = 0.0) -> None:
    """Create or upgrade the ledger schema to the latest migration (holds the run lock).

    Example: idesk-connector db upgrade --wait 600
    """
    from connector.ledger.admin import upgrade_locked
    from connector.ledger.db import redact_url

    loaded = settings(need_source=False)
    ledger = loaded.settings.ledger
    result = upgrade_locked(ledger.url, lock_file=ledger.lock_file, wait_s=wait)
    shown = ui_lang(loaded, None)
    before = result.before or _said("cli_ledger_empty", shown)
    line = _said(
        "cli_ledger_migrated",
        shown,
        ledger=redact_url(ledger.url),
        before=before,
        after=result.after,
    )
    _stdout(line)


@db_app.command("downgrade", cls=Command)
@handle_errors
def db_downgrade_cmd(
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="REVISION",
            help="The revision to go back to (`db history`: the older release's last).",
        ),
    ],
    wait: WaitOpt = 0.0,
) -> None:
    """Take the ledger schema back to an older revision, before installing an older release.

    Run it with the newer release still installed (it holds the scripts that undo its
    migrations), under the run lock.

    Example: idesk-connector db downgrade --to 0001 --wait 600
    """
    from connector.ledger.admin import downgrade

    loaded = settings(need_source=False)
    ledger = loaded.settings.ledger
    result = downgrade(ledger.url, to, lock_file=ledger.lock_file, wait_s=wait)
    shown = ui_lang(loaded, None)
    note = "" if result.changed else _said("cli_nothing_to_do", shown)
    line = _said(
        "cli_ledger_migrated",
        shown,
        ledger=result.database,
        before=result.before,
        after=result.after,
    )
    _stdout(line + note)


@db_app.command("current", cls=Command)
@handle_errors
def db_current_cmd(fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """Show the ledger's schema revision and the latest this version knows; changes nothing.

    Example: idesk-connector db current --format json
    """
    from connector.ledger.admin import schema_state

    loaded = settings(need_source=False)
    state = schema_state(loaded.settings.ledger.url)
    if fmt == "json":
        emit_json(state.as_dict())
        return
    shown = ui_lang(loaded, None)
    line = _said(
        "cli_db_current",
        shown,
        ledger=state.ledger,
        revision=state.revision or "-",
        head=state.head,
        advice=_said(f"cli_db_current_{state.state}", shown),
    )
    _stdout(line)


@db_app.command("history", cls=Command)
@handle_errors
def db_history_cmd(fmt: FormatOpt = OutputFormat.TABLE) -> None:
    """List the schema migrations this version ships, oldest first, with their release.

    Example: idesk-connector db history
    """
    from connector.ledger.admin import history

    migrations = history()
    if fmt == "json":
        emit_json({"revisions": [m.as_dict() for m in migrations]})
        return
    for m in migrations:
        head = "  (head)" if m.head else ""
        _stdout(f"{m.revision}  release {m.release or '-':<8} {m.description}{head}")


@db_app.command("backup", cls=Command)
@handle_errors
def db_backup_cmd(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="The backup file to write (mode 0600).")
    ],
    wait: WaitOpt = 0.0,
    force: Annotated[bool, typer.Option("--force", help="Replace PATH if it exists.")] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
) -> None:
    """Copy the SQLite ledger to PATH under the run lock, and verify the copy.

    SQLite's online backup; the copy is written with mode 0600, checked with
    PRAGMA integrity_check, and only then put at PATH. PostgreSQL: use pg_dump (exit 2).

    Example: idesk-connector db backup /var/backups/idesk-connector/ledger.db --wait 600
    """
    from connector.ledger.admin import backup

    loaded = settings(need_source=False)
    ledger = loaded.settings.ledger
    result = backup(ledger.url, path, lock_file=ledger.lock_file, wait_s=wait, overwrite=force)
    if fmt == "json":
        emit_json(result.as_dict())
        return
    line = _said(
        "cli_db_backup",
        ui_lang(loaded, None),
        ledger=result.ledger,
        path=result.path,
        bytes=result.bytes,
        revision=result.revision or "-",
        integrity=result.integrity,
    )
    _stdout(line)


# --- inspect: tasks, quarantine, outbox, alerts, runs ----------------------------------------

tasks_app = command_group("tasks", "Tasks in the ledger.", PANEL_INSPECT)


@tasks_app.command("list", cls=Command)
@handle_errors
def tasks_list_cmd(
    unit: Annotated[
        str | None, typer.Option(metavar="CODE", help="Lead unit code, e.g. STTTT.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(metavar="CODE", help="Status code, e.g. DTH_QUA_HAN.")
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="At most this many tasks (0 = all).")
    ] = 200,
    include_deleted: Annotated[
        bool,
        typer.Option(
            "--include-deleted",
            help="Also the tasks deleted at the source (the report counts them as withdrawn).",
        ),
    ] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """List tasks with their current deadline status.

    Example: idesk-connector tasks list --unit STTTT --status DTH_QUA_HAN
    """
    from connector.views import shapes
    from connector.views.tasks import check_status, task_lines

    check_limit(limit)
    check_status(status)
    loaded = settings(need_source=False)
    narrow_reads(loaded, source)
    with _reader(loaded) as reader:
        lines = task_lines(
            reader,
            unit=unit,
            status=status,
            limit=limit or None,
            include_deleted=include_deleted,
        )
        if fmt == "json":  # written as it is read: memory flat in the number of tasks
            for piece in shapes.tasks_json_text(lines):
                sys.stdout.write(json_safe(piece))
            _stdout("")
            return
        rows = list(lines)
    from connector.views import text

    render(fmt, lambda: None, lambda: text.tasks_table(rows, ui_lang(loaded, lang)))


@tasks_app.command("show", cls=Command)
@handle_errors
def tasks_show_cmd(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="The task's source id.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Show the task as the ledger knew and classified it on this date.",
        ),
    ] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
    source: Annotated[
        str | None,
        typer.Option("--source", metavar="NAME", help="The task's source (several sources)."),
    ] = None,
) -> None:
    """One task: status, effective deadline, flags, suggested deadline, and its history.

    Example: idesk-connector tasks show 1042 --as-of 2022-03-07
    """
    from connector.rules.deadlines import policy_from_settings
    from connector.views import shapes, text
    from connector.views.tasks import task_view

    if not -MAX_TASK_ID <= task_id <= MAX_TASK_ID:
        raise ConfigError(f"a task id is a whole number up to {MAX_TASK_ID}, got {task_id}")
    loaded = settings(need_source=False)
    language = ui_lang(loaded, lang)
    day = parse_day(as_of)
    cal = _calendar_for(loaded)
    narrow_reads(loaded, [source] if source else None)
    with _reader(loaded) as reader:
        if source is None:
            _single_source_of_task(reader, task_id)
        view = task_view(
            reader,
            task_id,
            as_of=day or _today(),
            historical=day is not None,
            calendar=cal,
            policy=policy_from_settings(loaded.settings.deadlines),
        )
    render(
        fmt, lambda: shapes.task_show_json(view, language), lambda: text.task_text(view, language)
    )


@tasks_app.command("kind", cls=Command)
@handle_errors
def tasks_kind_cmd(
    task_id: Annotated[int, typer.Argument(metavar="ID", help="The task's source id.")],
    kind: Annotated[
        str,
        typer.Argument(
            metavar="KIND",
            help="product, routine, or auto (read the kind from the task's words again).",
        ),
    ],
    by: Annotated[
        str, typer.Option("--by", metavar="NAME", help="Who decides (kept in the ledger).")
    ],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="Why (kept in the ledger).")] = "",
    source: Annotated[
        str | None,
        typer.Option("--source", metavar="NAME", help="The task's source (several sources)."),
    ] = None,
) -> None:
    """Set a task's kind (product: must have a deadline; routine: urged every three months).

    Example: idesk-connector tasks kind 1042 routine --by "Nguyễn Văn A"
    """
    from connector.clock import SystemClock
    from connector.ledger.facts import change_kind

    if not -MAX_TASK_ID <= task_id <= MAX_TASK_ID:
        raise ConfigError(f"a task id is a whole number up to {MAX_TASK_ID}, got {task_id}")
    loaded = settings(need_source=False)
    from connector.ledger.reader import reading
    from connector.ledger.scope import set_source

    if source is not None:
        narrow_reads(loaded, [source])
        set_source(source)
    with _open_ledger(loaded) as ledger, ledger.transaction() as session:
        if source is None:
            with reading(session) as r:
                _single_source_of_task(r, task_id)
        before, after = change_kind(
            session, task_id, kind, by=by, reason=reason, at=SystemClock().now()
        )
    shown = ui_lang(loaded, None)
    was = before.kind.value if before is not None else "auto"
    now = "auto"
    if after is not None:
        now = _said("cli_kind_set_by", shown, kind=after.kind.value, by=after.by)
    _stdout(_said("cli_kind_set", shown, id=task_id, now=now, was=was))


quarantine_app = command_group("quarantine", "Records that could not be normalised.", PANEL_INSPECT)


@quarantine_app.command("list", cls=Command)
@handle_errors
def quarantine_list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include resolved records.")] = False,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
) -> None:
    """Quarantined records with the field and value at fault.

    Example: idesk-connector quarantine list --format json
    """
    from connector.views import shapes, text
    from connector.views.listings import quarantine_list

    loaded = settings(need_source=False)
    with _reader(loaded) as reader:
        entries = quarantine_list(reader, include_resolved=all_)
    render(
        fmt,
        lambda: shapes.quarantine_json(entries),
        lambda: text.quarantine_text(entries, ui_lang(loaded, lang)),
    )


outbox_app = command_group(
    "outbox", "Deliveries to the source (tracking status, alerts).", PANEL_INSPECT
)


@outbox_app.command("list", cls=Command)
@handle_errors
def outbox_list_cmd(
    state: Annotated[
        OutboxState | None,
        typer.Option(help="pending, sending, sent, failed, dead, past or superseded."),
    ] = None,
    limit: Annotated[
        int, typer.Option(metavar="N", help="At most this many rows (0 = all).")
    ] = 200,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
) -> None:
    """Outbox rows with their state, attempts and last error.

    Example: idesk-connector outbox list --state dead
    """
    from connector.views import shapes, text
    from connector.views.listings import outbox_list, outbox_rows, outbox_total

    check_limit(limit)
    loaded = settings(need_source=False)
    with _reader(loaded) as reader:
        if fmt == "json":  # written as it is read: memory flat in the number of rows
            rows = outbox_rows(reader, state=state, limit=limit)
            total = functools.partial(outbox_total, reader, state, limit)
            for piece in shapes.outbox_json_text(rows, total):
                sys.stdout.write(json_safe(piece))
            _stdout("")
            return
        listing = outbox_list(reader, state=state, limit=limit)
    render(fmt, lambda: None, lambda: text.outbox_text(listing, ui_lang(loaded, lang)))


@outbox_app.command("retry", cls=Command)
@handle_errors
def outbox_retry_cmd(
    row_id: Annotated[
        int | None, typer.Argument(metavar="ID", help="The outbox row id to retry.")
    ] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead row.")] = False,
) -> None:
    """Put a dead or failed row (or all dead rows) back to pending; the next push sends it.

    Example: idesk-connector outbox retry --dead
    """
    from connector.outbox.actions import retry_dead, retry_row

    if (row_id is None) == (not dead):
        raise ConfigError("give either an outbox row ID or --dead")
    loaded = settings(need_source=False)
    with _open_ledger(loaded) as ledger, ledger.transaction() as session:
        if dead:
            count = retry_dead(session)
            _stdout(_said("cli_dead_retried", ui_lang(loaded, None), count=count))
        else:
            assert row_id is not None
            try:
                row = retry_row(session, row_id)
            except OutboxStateError as exc:  # a row in another state: a usage error, exit 2
                raise ConfigError(str(exc)) from exc
            shown = ui_lang(loaded, None)
            _stdout(_said("cli_row_retried", shown, id=row.id, row_key=row.idempotency_key))


alerts_app = command_group("alerts", "Alerts to units.", PANEL_INSPECT)


@alerts_app.command("preview", cls=Command)
@handle_errors
def alerts_preview_cmd(
    as_of: Annotated[
        str | None, typer.Option(metavar="DATE", help="Plan as of this date (default today).")
    ] = None,
    fmt: FormatOpt = OutputFormat.TABLE,
    show_past: Annotated[
        bool, typer.Option("--past", help="Also list older occasions that are recorded, not sent.")
    ] = False,
    lang: UiLangOpt = None,
    source: SourceOpt = None,
) -> None:
    """What alerts would be sent as of a date; nothing is sent or written.

    Example: idesk-connector alerts preview --as-of 2022-03-10
    """
    from connector.views import shapes, text
    from connector.views.listings import alert_preview

    loaded = settings(need_source=False)
    narrow_reads(loaded, source)
    day = parse_day(as_of) or _today()
    with _reader(loaded) as reader:
        preview = alert_preview(reader, loaded.settings, day, past=show_past)
    render(
        fmt,
        lambda: shapes.alerts_json(preview),
        lambda: text.alerts_text(preview, ui_lang(loaded, lang)),
    )


runs_app = command_group("runs", "Recorded runs.", PANEL_INSPECT)


@runs_app.command("list", cls=Command)
@handle_errors
def runs_list_cmd(
    limit: Annotated[int, typer.Option(metavar="N", help="How many recent runs (0 = all).")] = 20,
    fmt: FormatOpt = OutputFormat.TABLE,
    lang: UiLangOpt = None,
) -> None:
    """Recent runs: trigger, start, end, outcome and counts.

    Example: idesk-connector runs list --limit 5
    """
    from connector.views import shapes, text
    from connector.views.listings import runs_list

    check_limit(limit)
    loaded = settings(need_source=False)
    with _reader(loaded) as reader:
        runs = runs_list(reader, limit=limit)
    render(fmt, lambda: shapes.runs_json(runs), lambda: text.runs_text(runs, ui_lang(loaded, lang)))


def _merged_demo(directory: Path, tasks: int, lang: str) -> None:
    """``demo --merged``: run it, print the merged table and where everything is."""

    from connector.demo_merged import run_merged_demo
    from connector.reports.render.table import SummaryTable
    from connector.views.text import outcome_label

    result = run_merged_demo(directory, tasks=tasks, lang=lang)
    shown: Lang = "en" if lang == "en" else "vi"
    _table_console(140).print(SummaryTable(result.report, shown))
    for name, job in result.jobs.items():
        counts = job.counts()
        line = _said(
            "demo_merged_source",
            shown,
            name=name,
            url=result.base_urls[name],
            tasks=result.tasks,
            run_id=job.run_id,
            outcome=outcome_label(job.outcome.value, shown),
            fetched=counts.get("fetched", 0),
            inserted=counts.get("inserted", 0),
            quarantined=counts.get("quarantined", 0),
        )
        _stdout(line)
    next_command = f"idesk-connector --config {result.config_path} report --by source"
    lines = (
        _said("demo_merged_files", shown, ledger=result.ledger_path, config=result.config_path),
        _said(
            "demo_merged_reports",
            shown,
            docx=result.docx_path,
            xlsx=result.xlsx_path,
            html=result.html_path,
            by_source=result.by_source_path,
        ),
        _said("demo_next", shown, command=next_command),
    )
    _stdout("\n".join(lines))


def _demo_snapshot_line(result: Any, lang: "Lang") -> str:
    """The demo's line on the second, unchanged sync of the iDesk 6 mode ('' otherwise)."""
    second = result.second_job
    if second is None:
        return ""
    counts = second.counts()
    return "\n" + _said(
        "demo_second_sync",
        lang,
        run_id=second.run_id,
        fetched=counts.get("fetched", 0),
        details=counts.get("detail_calls", 0),
        skipped=result.job.counts().get("skipped_not_assignment", 0),
    )


@app.command("demo", rich_help_panel=PANEL_SIM, cls=Command)
@handle_errors
def demo_cmd(
    directory: Annotated[Path, typer.Option("--dir", metavar="DIR", help="Where to write.")] = Path(
        "demo"
    ),
    tasks: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Tasks in the simulated province (default 2000; --merged: 1000 per system).",
        ),
    ] = None,
    lang: Annotated[Language, typer.Option(help="vi or en.")] = Language.VI,
    dialect: Annotated[
        SimDialect,
        typer.Option(
            help="contract, or idesk6: the simulator as a deployed iDesk 6 (read-only, snapshot "
            "sync; a second, unchanged sync shows the detail calls it saves)."
        ),
    ] = SimDialect.CONTRACT,
    deliver: Annotated[
        DemoDelivery,
        typer.Option(
            "--deliver",
            help="Where alerts go: the simulator's notifications (source) or e-mail digests "
            "to a loopback SMTP sink writing ./demo/mail/*.eml (email).",
        ),
    ] = DemoDelivery.SOURCE,
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="A merged province: Gia Lai's and Bình Định's systems (two simulators), one "
            "ledger, one report by mapped unit, in DIR/merged/ (--tasks per system).",
        ),
    ] = False,
) -> None:
    """Simulator + full sync + report: ./demo/ledger.db, report.docx, report.xlsx, report.html.

    Example: idesk-connector demo --deliver email
    """
    import time as _time

    from connector.demo import run_demo
    from connector.reports.render.table import SummaryTable
    from connector.views.text import outcome_label

    shown: Lang = "en" if lang is Language.EN else "vi"

    configure_logging(
        level=OPTIONS.log_level or "warning",
        fmt=OPTIONS.log_format,
        terminal_level=OPTIONS.terminal_level,
    )
    start = _time.monotonic()
    if merged:
        if dialect is not SimDialect.CONTRACT or deliver is not DemoDelivery.SOURCE:
            raise ConfigError("--merged runs the contract dialect, alerts to the source")
        _merged_demo(directory / "merged", 1000 if tasks is None else tasks, lang.value)
        _stdout(_said("demo_done", shown, seconds=_seconds(_time.monotonic() - start, shown)))
        return
    result = run_demo(
        directory,
        tasks=2000 if tasks is None else tasks,
        lang=lang,
        dialect=dialect.literal,
        deliver=deliver.value,
    )
    _table_console(140).print(SummaryTable(result.report, shown))
    counts = result.job.counts()
    alerts = _said("demo_alerts_sent", shown, count=result.notifications)
    if result.mail_dir is not None:
        alerts = _said(
            "demo_alerts_sent_email", shown, count=result.notifications, digests=result.emails
        )
    sync = _said(
        "demo_sync",
        shown,
        run_id=result.job.run_id,
        outcome=outcome_label(result.job.outcome.value, shown),
        fetched=counts.get("fetched", 0),
        inserted=counts.get("inserted", 0),
        quarantined=counts.get("quarantined", 0),
        tracking=result.tracking_writes,
        alerts=alerts,
    )
    simulator = _said(
        "demo_simulator",
        shown,
        url=result.base_url,
        tasks=result.tasks,
        today=result.today.isoformat(),
    )
    lines = (
        f"\n{simulator}",
        sync + _demo_snapshot_line(result, shown),
        _said("demo_files", shown, ledger=result.ledger_path, config=result.config_path),
        _said(
            "demo_reports",
            shown,
            docx=result.docx_path,
            xlsx=result.xlsx_path,
            html=result.html_path,
        ),
        _said("demo_next", shown, command=f"idesk-connector --config {result.config_path} status"),
        _said("demo_done", shown, seconds=_seconds(_time.monotonic() - start, shown)),
    )
    _stdout("\n".join(lines))
    if result.mail_dir is not None:
        _stdout(_said("demo_emails", shown, count=result.emails, dir=result.mail_dir))


# --- simulator ------------------------------------------------------------------------------

sim_app = command_group(
    "simulator", "The embedded iDesk-style simulator (loopback only).", PANEL_SIM
)


@sim_app.command("serve", cls=Command)
@handle_errors
def simulator_serve_cmd(
    port: Annotated[
        int, typer.Option(metavar="PORT", help="Loopback port (0 = any free port).")
    ] = 8765,
    tasks: Annotated[
        int, typer.Option(metavar="N", help="Number of tasks in the generated world.")
    ] = 2000,
    seed: Annotated[
        int,
        typer.Option(metavar="N", help="Seed of the world generator (same seed, same world)."),
    ] = 1,
    today: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="The simulated today, YYYY-MM-DD (default: today, the date the connector "
            "classifies against).",
        ),
    ] = None,
    faults: Annotated[
        str,
        typer.Option(
            metavar="SPEC",
            help="Faults, e.g. rate_limit=20,http5xx=0.05,slow=0.02:2.0,drop=0.02,"
            "expire=0.05,expire_style=html,mutate=0.1 ('' = none but the contract's rate limit).",
        ),
    ] = "",
    malformed: Annotated[
        float,
        typer.Option(metavar="SHARE", help="Share of malformed records, 0..1 (e.g. 0.01)."),
    ] = 0.0,
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Bind address; only loopback is accepted.")
    ] = "127.0.0.1",
    lang: Annotated[Language, typer.Option(help="vi or en, for the banner.")] = Language.VI,
    dialect: Annotated[
        SimDialect,
        typer.Option(
            help="contract: the API of docs/source-api.md; idesk6: the same world as a deployed "
            "iDesk 6 web application's pages answer it (docs/idesk6.md)."
        ),
    ] = SimDialect.CONTRACT,
    gateway: Annotated[
        bool,
        typer.Option(
            "--gateway",
            help="Also accept an integration gateway's static headers and OAuth 2.0 client "
            "credentials.",
        ),
    ] = False,
    tenant: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant",
            metavar="TENANT",
            help="Serve several document systems, one per port from --port up: "
            "NAME[:SEED[:TASKS[:DIALECT]]], repeated (e.g. --tenant gialai:2 --tenant binhdinh). "
            "gialai and binhdinh are the merged province's two systems.",
        ),
    ] = None,
) -> None:
    """Serve a province-like world over HTTP on loopback until Ctrl+C.

    Example: idesk-connector simulator serve --port 8765 --tasks 2000 --seed 1
    """
    from simulator import SimulatorConfig, banner, parse_faults, serve
    from simulator.config import ALL_AUTH_MODES, AUTH_MODES

    day = parse_day(today, "--today") or _today()
    config = SimulatorConfig(
        tasks=tasks,
        seed=seed,
        today=day,
        # a world of this machine's today keeps this machine's time (a right `Date` header)
        clock_start=None if today else datetime.now(UTC),
        malformed_rate=malformed,
        faults=parse_faults(faults),
        host=host,
        port=port,
        dialect=dialect.literal,
        auth_modes=ALL_AUTH_MODES if gateway else AUTH_MODES,
    )

    def ready(sim: Any) -> None:
        _stdout(banner(sim, lang))
        sys.stdout.flush()

    if tenant:
        from simulator.tenants import parse_tenant, serve_tenants, tenant_configs

        def ready_all(tenants: Any) -> None:
            _stdout(tenants.banner(lang))
            sys.stdout.flush()

        configs = tenant_configs(config, [parse_tenant(spec) for spec in tenant])
        serve_tenants(configs, on_ready=ready_all)
        return
    serve(config, port, on_ready=ready)


if __name__ == "__main__":  # pragma: no cover
    app()
