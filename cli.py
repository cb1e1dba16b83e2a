"""The `idesk-connector` command line: parse options, call one library function, render, exit.

No SQL, HTTP or business rule lives here: every command calls into `connector`, renders what it
returns, and maps the library's error families to the documented exit codes:

    0 success · 1 finished with problems · 2 configuration or mapping error ·
    3 source unavailable or authentication failed · 75 another run holds the lock ·
    130 interrupted
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from connector.errors import ConfigError, ConnectorError, Interrupted
from connector.log import configure_logging, get_logger
from connector.settings import LoadedSettings, load_settings, load_settings_lenient

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CONFIG = 2
EXIT_SOURCE = 3
EXIT_LOCKED = 75
EXIT_INTERRUPTED = 130

PANEL_SYNC = "Sync"
PANEL_INSPECT = "Inspect"
PANEL_REPORT = "Report"
PANEL_ADMIN = "Admin"
PANEL_SIM = "Simulator"

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
)


@dataclass
class Options:
    """Global options, shared by every command."""

    config: Path | None = None
    log_format: str = "auto"
    log_level: str | None = None


OPTIONS = Options()


def _stdout(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _stderr(text: str) -> None:
    sys.stderr.write(text if text.endswith("\n") else text + "\n")


def settings(*, need_source: bool = True) -> LoadedSettings:
    """Load and validate settings once, then configure logging from them."""
    loader = load_settings if need_source else load_settings_lenient
    loaded = loader(OPTIONS.config)
    s = loaded.settings
    fmt = OPTIONS.log_format if OPTIONS.log_format != "auto" else s.log.format
    configure_logging(
        level=OPTIONS.log_level or s.log.level,
        fmt=fmt,  # type: ignore[arg-type]
        file=s.log.file or None,
        secrets=s.secret_values(),
    )
    for warning in loaded.warnings:
        get_logger("cli").warning("config_warning", message=warning)
    return loaded


def exit_code_for(exc: BaseException) -> int:
    if isinstance(exc, ConnectorError):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_PROBLEMS


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn library errors into one clear message on stderr and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except ConfigError as exc:
            _stderr(f"error: {exc}")
            raise typer.Exit(EXIT_CONFIG) from None
        except Interrupted as exc:
            _stderr(f"interrupted: {exc}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except ConnectorError as exc:
            _stderr(f"error: {exc}")
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _stderr("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper


def emit_json(data: Any) -> None:
    _stdout(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def parse_day(value: str | None, what: str = "--as-of") -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"{what} must be a date YYYY-MM-DD, got {value!r}") from None


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (TOML). Default: $IDESK_CONNECTOR_CONFIG, else ./config.toml.",
            envvar="IDESK_CONNECTOR_CONFIG",
        ),
    ] = None,
    log_format: Annotated[
        str,
        typer.Option(help="auto (console on a terminal, JSON otherwise), console or json."),
    ] = "auto",
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default from config).")
    ] = None,
) -> None:
    """Global options."""
    if log_format not in {"auto", "console", "json"}:
        _stderr("error: --log-format must be auto, console or json")
        raise typer.Exit(EXIT_CONFIG)
    OPTIONS.config = config
    OPTIONS.log_format = log_format
    OPTIONS.log_level = log_level
    configure_logging(level=log_level or "info", fmt=log_format)  # type: ignore[arg-type]


# --- commands are added below, grouped by panel -------------------------------------------


def _parse_range(text: str) -> tuple[date, date]:
    start_s, sep, end_s = text.partition("..")
    start = parse_day(start_s, "DATE..DATE")
    end = parse_day(end_s if sep else start_s, "DATE..DATE")
    assert start is not None and end is not None
    if end < start:
        raise ConfigError(f"empty range {text!r}: the first date is after the second")
    return start, end


@app.command("calendar", rich_help_panel=PANEL_INSPECT)
@handle_errors
def calendar_cmd(
    days: Annotated[str, typer.Argument(help="A date range FROM..TO (YYYY-MM-DD..YYYY-MM-DD).")],
    lang: Annotated[str, typer.Option(help="vi or en.")] = "vi",
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """List days off and swapped working days in a range, with their source.

    Example: idesk-connector calendar 2026-01-01..2026-01-31
    """
    from connector.calendar import load_calendar

    loaded = settings(need_source=False)
    overrides = loaded.settings.calendar.overrides
    cal = load_calendar(Path(overrides) if overrides else None)
    start, end = _parse_range(days)
    entries = cal.days_off(start, end)
    if fmt == "json":
        emit_json(
            {
                "from": start.isoformat(),
                "to": end.isoformat(),
                "working_days": cal.working_days_between(start - _one_day(), end),
                "days": [
                    {
                        "date": e.day.isoformat(),
                        "kind": str(e.kind),
                        "working": e.working,
                        "name": e.label(lang),
                        "source": e.source,
                    }
                    for e in entries
                ],
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    vi = lang != "en"
    table = Table(
        title=(
            f"Lịch ngày nghỉ, ngày làm bù {start:%d/%m/%Y}–{end:%d/%m/%Y}"
            if vi
            else f"Days off and swapped working days {start:%d/%m/%Y}–{end:%d/%m/%Y}"
        )
    )
    for header in (
        ("Ngày", "Thứ", "Loại", "Tên", "Nguồn")
        if vi
        else ("Date", "Weekday", "Kind", "Name", "Source")
    ):
        table.add_column(header)
    weekdays_vi = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
    for e in entries:
        kind = ("Làm việc" if vi else "Working") if e.working else ("Nghỉ" if vi else "Day off")
        weekday = weekdays_vi[e.day.weekday()] if vi else f"{e.day:%A}"
        table.add_row(f"{e.day:%d/%m/%Y}", weekday, kind, e.label(lang), e.source)
    Console().print(table)
    total = cal.working_days_between(start - _one_day(), end)
    _stdout(
        f"Số ngày làm việc: {total}" if vi else f"Working days in range: {total}"
    )


def _one_day() -> Any:
    from datetime import timedelta

    return timedelta(days=1)



# --- report & inspect -----------------------------------------------------------------------


def _calendar_for(loaded: LoadedSettings) -> Any:
    from connector.calendar import load_calendar

    overrides = loaded.settings.calendar.overrides
    return load_calendar(Path(overrides) if overrides else None)


def _open_ledger(loaded: LoadedSettings) -> Any:
    from connector.ledger.db import open_ledger

    return open_ledger(loaded.settings.ledger.url)


def _today() -> date:
    from connector.clock import SystemClock, local_today

    return local_today(SystemClock())


REPORT_FORMATS = ("table", "json", "csv", "xlsx", "html", "md")


@app.command("report", rich_help_panel=PANEL_REPORT)
@handle_errors
def report_cmd(
    as_of: Annotated[
        str | None,
        typer.Option(help="Report as of this local date (YYYY-MM-DD), rebuilt from history."),
    ] = None,
    period: Annotated[
        str, typer.Option(help="2022-03 (month), 2022-Q1 (quarter), 2022 (year) or open.")
    ] = "open",
    unit: Annotated[str | None, typer.Option(help="Only this lead unit (code).")] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table, json, csv, xlsx, html or md.")
    ] = "table",
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of the terminal.")
    ] = None,
    lang: Annotated[str | None, typer.Option(help="vi (default) or en.")] = None,
    fold: Annotated[
        bool | None,
        typer.Option(
            "--fold/--no-fold",
            help="Bình Định style: done without deadline = on time, open without = within.",
        ),
    ] = None,
    denominator: Annotated[
        str | None, typer.Option(help="On-time rate denominator: done, due or all.")
    ] = None,
    annex: Annotated[
        str | None,
        typer.Option(help="csv only: write this annex (overdue, late, stale, missing)."),
    ] = None,
) -> None:
    """The Working Group's report: one row per lead unit, a total row, and the annexes.

    Example: idesk-connector report --as-of 2022-03-31 --period 2022-Q1 --format xlsx
    --output q1.xlsx
    """
    from connector.report_render import render, render_bytes
    from connector.reports import ReportOptions, report_as_of, report_current

    if fmt not in REPORT_FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(REPORT_FORMATS)}, got {fmt!r}")
    if fmt == "xlsx" and output is None:
        raise ConfigError("--format xlsx needs --output FILE.xlsx")
    loaded = settings(need_source=False)
    day = parse_day(as_of)
    options = ReportOptions.from_settings(
        loaded.settings.report,
        as_of=day or _today(),
        period=period,
        unit=unit,
        lang=lang,
        denominator=denominator,
        fold=fold,
    )
    cal = _calendar_for(loaded)
    with _open_ledger(loaded) as ledger, ledger.reading() as session:
        build = report_as_of if day is not None else report_current
        report = build(session, loaded.settings, options, cal)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(render_bytes(report, fmt, options.lang, annex=annex))
        get_logger("cli").info("report_written", path=str(output), format=fmt)
        _stderr(f"report written: {output}")
        return
    if fmt == "table":
        from rich.console import Console

        from connector.report_render import report_renderable

        Console(width=max(120, Console().width)).print(report_renderable(report, options.lang))
        return
    rendered = render(report, fmt, options.lang, annex=annex)
    if isinstance(rendered, bytes):
        sys.stdout.buffer.write(rendered)
    else:
        _stdout(rendered)


@app.command("status", rich_help_panel=PANEL_INSPECT)
@handle_errors
def status_cmd(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    lang: Annotated[str, typer.Option(help="vi or en.")] = "vi",
) -> None:
    """Last runs with outcome and counts, cursor, pending outbox, quarantine, ledger location.

    Example: idesk-connector status --format json
    """
    from connector.status import render_status, status_summary

    loaded = settings(need_source=False)
    with _open_ledger(loaded) as ledger:
        summary = status_summary(ledger, loaded.settings)
    if fmt == "json":
        _stdout(render_status(summary, "json", lang))
    else:
        from rich.console import Console

        from connector.status import status_renderable

        Console().print(status_renderable(summary, lang))  # type: ignore[arg-type]


db_app = typer.Typer(help="Ledger database administration.", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel=PANEL_ADMIN)


@db_app.command("upgrade")
@handle_errors
def db_upgrade_cmd() -> None:
    """Create or upgrade the ledger schema to the latest migration.

    Example: idesk-connector db upgrade
    """
    from connector.ledger.db import redact_url, upgrade

    loaded = settings(need_source=False)
    result = upgrade(loaded.settings.ledger.url)
    _stdout(
        f"ledger {redact_url(loaded.settings.ledger.url)}: "
        f"{result.before or 'empty'} -> {result.after}"
    )


# --- simulator ------------------------------------------------------------------------------

sim_app = typer.Typer(help="The embedded iDesk-style simulator (loopback only).", no_args_is_help=True)
app.add_typer(sim_app, name="simulator", rich_help_panel=PANEL_SIM)


@sim_app.command("serve")
@handle_errors
def simulator_serve_cmd(
    port: Annotated[int, typer.Option(help="Loopback port (0 = any free port).")] = 8765,
    tasks: Annotated[int, typer.Option(help="Number of tasks in the generated world.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of the world generator (same seed, same world).")] = 1,
    today: Annotated[
        str | None, typer.Option(help="The simulated today, YYYY-MM-DD (default 2022-03-07).")
    ] = None,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults, e.g. rate_limit=20,http5xx=0.05,slow=0.02:2.0,drop=0.02,"
            "expire=0.05,expire_style=html,mutate=0.1 ('' = none but the contract's rate limit)."
        ),
    ] = "",
    malformed: Annotated[
        float, typer.Option(help="Share of malformed records, 0..1 (e.g. 0.01).")
    ] = 0.0,
    host: Annotated[str, typer.Option(help="Bind address; only loopback is accepted.")] = "127.0.0.1",
    lang: Annotated[str, typer.Option(help="vi or en, for the banner.")] = "vi",
) -> None:
    """Serve a province-like world over HTTP on loopback until Ctrl+C.

    Example: idesk-connector simulator serve --port 8765 --tasks 2000 --seed 1
    """
    from connector.simulator import DEFAULT_TODAY, SimulatorConfig, banner, parse_faults, serve

    day = parse_day(today, "--today") or DEFAULT_TODAY
    config = SimulatorConfig(
        tasks=tasks,
        seed=seed,
        today=day,
        malformed_rate=malformed,
        faults=parse_faults(faults),
        host=host,
        port=port,
    )

    def ready(sim: Any) -> None:
        _stdout(banner(sim, lang))
        sys.stdout.flush()

    serve(config, port, on_ready=ready)

if __name__ == "__main__":  # pragma: no cover
    app()
