"""Every CLI command has help with an example and a place in the README's command reference."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import typer.main
from typer.testing import CliRunner

from cli import app
from tests.support import ROOT

PANELS = {"Sync", "Inspect", "Report", "Admin", "Simulator"}


def _commands() -> Iterator[tuple[str, Any]]:
    root: Any = typer.main.get_command(app)
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            for sub_name, sub in command.commands.items():
                yield f"{name} {sub_name}", sub
        else:
            yield name, command


def test_every_command_has_help_with_an_example() -> None:
    """A command without help text, or without an 'Example:' line, fails this test."""
    missing = [
        name
        for name, command in _commands()
        if not command.help or "Example: idesk-connector" not in command.help
    ]
    assert missing == []


def test_every_command_is_in_the_readme_reference() -> None:
    """Each command appears as a heading-like entry `idesk-connector NAME` in the README."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    reference = readme.split("## Command reference", 1)[1]
    missing = [
        name
        for name, _ in _commands()
        if not re.search(rf"`idesk-connector {re.escape(name)}\b", reference)
    ]
    assert missing == []


def test_top_level_help_groups_commands() -> None:
    """`idesk-connector --help` lists the commands in the sync/inspect/report/admin/simulator groups."""
    result = CliRunner().invoke(app, ["--help"], terminal_width=120)
    assert result.exit_code == 0
    for panel in PANELS:
        assert f"─ {panel} " in result.output


def test_option_help_keeps_its_brackets() -> None:
    """An option's help is rich markup: a bracketed word such as ``[[sources]]`` must be escaped,
    or the help shows ``[]`` (it did for every ``--source``)."""
    from rich.markup import render

    eaten = [
        (name, text[:40])
        for name, command in _commands()
        for text in [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        if render(text).plain != text.replace("\\[", "[")
    ]
    assert eaten == []
    import structlog

    result = CliRunner().invoke(app, ["sync", "--help"], terminal_width=200)
    structlog.reset_defaults()  # the CLI's callback logged to CliRunner's (now closed) stream
    assert "[[sources]] config" in result.output
