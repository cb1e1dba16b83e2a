"""CLI options with a fixed set of values: typer refuses others, naming the option and the set."""

from __future__ import annotations

import re

import pytest
import structlog
from typer.testing import CliRunner

from cli import BasisChoice, DenominatorChoice, app
from connector.reports.model import Basis, Denominator


def _plain(text: str) -> str:
    """The error panel's text without its frame and line breaks."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize(
    ("args", "option", "valid"),
    [
        pytest.param(
            ["--log-format", "xml", "status"],
            "--log-format",
            "'auto', 'console', 'json'",
            id="log-format",
        ),
        pytest.param(
            ["--log-level", "loud", "status"],
            "--log-level",
            "'debug', 'info', 'warning', 'error'",
            id="log-level",
        ),
        pytest.param(["status", "--format", "xml"], "--format", "'table', 'json'", id="format"),
        pytest.param(
            ["report", "--format", "pdf"],
            "--format",
            "'table', 'json', 'csv', 'xlsx', 'docx', 'html', 'md'",
            id="report-format",
        ),
        pytest.param(
            ["report", "--basis", "finished"],
            "--basis",
            "'assigned', 'completed', 'due'",
            id="basis",
        ),
        pytest.param(
            ["report", "--denominator", "most"],
            "--denominator",
            "'done', 'due', 'all'",
            id="denominator",
        ),
        pytest.param(["status", "--lang", "fr"], "--lang", "'vi', 'en'", id="lang"),
        pytest.param(
            ["outbox", "list", "--state", "lost"],
            "--state",
            "'pending', 'sending'",
            id="outbox-state",
        ),
    ],
)
def test_a_value_outside_the_set_exits_2_naming_option_and_values(
    args: list[str], option: str, valid: str
) -> None:
    """typer's usage error: exit 2, the option's name and its valid values."""
    result = CliRunner().invoke(app, args)
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream
    assert result.exit_code == 2
    text = _plain(result.stderr)
    assert f"Invalid value for '{option}'" in text
    assert valid in text


def test_cli_choices_mirror_the_library() -> None:
    """The CLI's copies of library enums (kept out of its imports for start-up time) agree."""
    assert [c.value for c in DenominatorChoice] == [d.value for d in Denominator]
    assert [c.value for c in BasisChoice] == [b.value for b in Basis]
