"""Every command's --help names what an option takes (``--as-of DATE``), never a Python type
(``--as-of <str>``), and shows no value at all for a flag (``--dry-run``, ``--help``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import typer.main
from rich.markup import render
from typer.testing import CliRunner

from cli import app

PYTHON_TYPE = re.compile(
    r"<(?:str|int|float|bool|path|file|uuid|datetime|\w+ range|(?:list|tuple)\[[^<>]*\])"
    r"(?:\.\.\.)?>"
)
"""How typer shows a value without a metavar: its Python type, e.g. ``<str>`` or ``<list[str]>``."""

VALUE = re.compile(r"[A-Z][A-Z0-9_]*(?:\.\.[A-Z][A-Z0-9_]*)?|<[^<>|\s]+(?:\|[^<>|\s]+)+>")
"""What an option's value column may show: a metavar in capitals (``DATE``, ``FILE``) or its
choices (``<table|json>``)."""

ROW = re.compile(r"^│ (?:\*)? {0,4}(?P<opts>--[-\w]+(?: +-[-\w]+)*)(?P<rest>.*?)\s*│$")
"""A row of an options panel: the option's names (``--fold  --no-fold``), then the rest."""


USAGE_ARGUMENT = re.compile(r"[{\[](?P<name>[^{}\[\]]+)[}\]]")
"""An argument on the usage line: ``{ID}`` (required) or ``[ID]`` (optional)."""


def _commands() -> Iterator[tuple[list[str], Any]]:
    """Every command and group (the top level too) with its path under the program."""
    pending: list[tuple[list[str], Any]] = [([], typer.main.get_command(app))]
    while pending:
        path, command = pending.pop(0)
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            pending.append(([*path, name], sub))


COMMANDS = list(_commands())
LEAVES = [(path, command) for path, command in COMMANDS if not hasattr(command, "commands")]


def _help(path: list[str]) -> str:
    """The command's --help as a wide terminal shows it (every option's row on one line)."""
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    structlog.reset_defaults()  # the program's callback logged to CliRunner's (now closed) stream
    assert result.exit_code == 0, result.output
    return result.output


def _options_panel(help_text: str) -> list[str]:
    """The lines of the Options panel (not the Arguments panel, not the commands)."""
    lines: list[str] = []
    inside = False
    for line in help_text.splitlines():
        if line.startswith("╭─ Options "):
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside:
            lines.append(line)
    return lines


def _value_column(row_rest: str, help_text: str) -> str:
    """What a row shows between the option's names and its help: the value it takes, if any."""
    first = re.split(r"\s{2,}", row_rest.strip())[0]
    return "" if first.split()[0] == render(help_text).plain.split()[0] else first


def _options(command: Any) -> dict[str, tuple[str, bool]]:
    """The command's options, by long name: their help and whether each is a flag."""
    options = {
        next(o for o in p.opts if o.startswith("--")): (p.help or "", bool(p.is_flag))
        for p in command.params
        if p.param_type_name == "option" and not p.hidden
    }
    options["--help"] = ("Show this message and exit.", True)
    return options


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "(top)" for p, _ in COMMANDS]
)
def test_help_names_values_and_flags_take_none(path: list[str], command: Any) -> None:
    """An option's help shows a metavar or its choices, never a Python type; a flag, no value."""
    panel = _options_panel(_help(path))
    assert [line for line in panel if PYTHON_TYPE.search(line)] == []
    rows: dict[str, str] = {}
    for match in filter(None, map(ROW.match, panel)):
        rows.setdefault(match["opts"].split()[0], match["rest"])
    options = _options(command)
    assert sorted(rows) == sorted(options)
    flags_with_a_value = {
        name: value
        for name, (help_text, is_flag) in options.items()
        if is_flag and (value := _value_column(rows[name], help_text))
    }
    assert flags_with_a_value == {}
    values_unnamed = {
        name: value
        for name, (help_text, is_flag) in options.items()
        if not is_flag and not VALUE.fullmatch(value := _value_column(rows[name], help_text))
    }
    assert values_unnamed == {}


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_usage_names_arguments_in_capitals(path: list[str], command: Any) -> None:
    """The usage line names each argument by what is typed (``{ID} {KIND}``), not ``{task_id}``."""
    usage = next(line for line in _help(path).splitlines() if "Usage:" in line)
    shown = [m["name"] for m in USAGE_ARGUMENT.finditer(usage.split("[OPTIONS]", 1)[1])]
    arguments = [p for p in command.params if p.param_type_name == "argument"]
    assert len(shown) == len(arguments)
    assert [name for name in shown if not re.fullmatch(r"[A-Z][A-Z_]*(?:\.\.[A-Z]+)?", name)] == []
