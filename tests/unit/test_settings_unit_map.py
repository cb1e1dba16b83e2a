"""``report.unit_map``: the unit map is validated at start-up, its sources checked against the
configured ones, every problem named under the key; ``report --unit-map`` and ``--by`` refuse
what they cannot do with exit 2, naming the option."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli import app
from connector.errors import ConfigError
from connector.settings import load_settings_lenient
from tests.support import ROOT

TWO = """
[[sources]]
name = "gialai"
base_url = "http://127.0.0.1:9001/ubnd"
[[sources]]
name = "binhdinh"
base_url = "http://127.0.0.1:9002/ubnd"
"""


def _config(tmp_path: Path, unit_map: str) -> Path:
    path = tmp_path / "c.toml"
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    path.write_text(
        f'{TWO}[ledger]\nurl = "{ledger}"\n[report]\nunit_map = "{unit_map}"\n', encoding="utf-8"
    )
    path.chmod(0o600)
    return path


def test_the_example_unit_map_loads_with_its_sources(tmp_path: Path) -> None:
    """mappings/units-gialai.toml is accepted for a config with sources gialai and binhdinh."""
    example = ROOT / "mappings" / "units-gialai.toml"
    loaded = load_settings_lenient(_config(tmp_path, str(example)), {})
    assert loaded.settings.report.unit_map == str(example)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        pytest.param(None, "cannot read the unit map", id="missing-file"),
        pytest.param(
            'sources = ["gialai", "kontum"]\n', "'kontum' is not a configured source", id="source"
        ),
        pytest.param(
            '[[unit]]\ncode = "X"\nname = "X"\nmembers = ["STC"]\n',
            'expected "source:code"',
            id="member",
        ),
    ],
)
def test_a_bad_unit_map_is_a_config_error_under_its_key(
    tmp_path: Path, text: str | None, found: str
) -> None:
    """A unit map that cannot be read, names an unconfigured source or a member without its
    source stops the start-up with a ConfigError whose problem is under report.unit_map."""
    path = tmp_path / "units.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings_lenient(_config(tmp_path, str(path)), {})
    problems = [p for p in caught.value.problems if p.where == "report.unit_map"]
    assert problems and found in problems[0].message


def _run(tmp_path: Path, *args: str) -> tuple[int, str]:
    config = _config(tmp_path, "")
    result = CliRunner().invoke(app, ["--config", str(config), "report", *args])
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream
    return result.exit_code, result.output


def test_report_unit_map_option_names_itself(tmp_path: Path) -> None:
    """``report --unit-map`` with a file naming an unconfigured source: exit 2, the problem
    under --unit-map."""
    bad = tmp_path / "units.toml"
    bad.write_text('[[unit]]\ncode = "X"\nname = "X"\nmembers = ["kontum:STC"]\n', "utf-8")
    code, output = _run(tmp_path, "--unit-map", str(bad))
    assert code == 2
    assert "--unit-map" in output and "unknown source 'kontum'" in output


def test_report_by_source_as_a_word_file_needs_an_output_file(tmp_path: Path) -> None:
    """``report --by source --format docx`` without --output: exit 2, asking for the file."""
    code, output = _run(tmp_path, "--by", "source", "--format", "docx")
    assert code == 2 and "--output FILE.docx" in output
