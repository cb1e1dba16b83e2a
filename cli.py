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


if __name__ == "__main__":  # pragma: no cover
    app()
