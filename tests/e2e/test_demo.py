"""`idesk-connector demo`: after it, the other commands read its ledger through the config it
leaves, as the README's Quick start says."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli import app


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream


@pytest.mark.slow
def test_demo_leaves_a_config_the_other_commands_read(tmp_path: Path) -> None:
    """`demo` writes `<dir>/config.toml` (0600, no password) and says so; with it `status`,
    `tasks list` and `report` read the demo's ledger, the report with the demo's heading
    (without it a new user had no way to point them at the ledger)."""
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["demo", "--tasks", "120", "--dir", str(out)])
    assert result.exit_code == 0, result.output
    config = out / "config.toml"
    assert f"cấu hình: {config}" in result.output  # the summary in Vietnamese by default
    assert f"Tiếp theo: idesk-connector --config {config} status" in result.output
    assert re.search(r"Xong sau \d+,\d giây", result.output) and "Next:" not in result.output
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "password" not in config.read_text(encoding="utf-8")

    def read(*args: str) -> dict[str, object]:
        shown = CliRunner().invoke(app, ["--config", str(config), *args, "--format", "json"])
        structlog.reset_defaults()
        assert shown.exit_code == 0, (args, shown.output)
        return json.loads(shown.stdout)

    status = read("status")
    assert status["ledger"]["url"] == f"sqlite:///{(out / 'ledger.db').resolve()}"  # type: ignore[index]
    assert 100 < status["tasks"]["total"] <= 120  # type: ignore[index,operator]
    assert 100 < read("tasks", "list", "--limit", "0")["count"] <= 120  # type: ignore[operator]
    document = read("report")["document"]
    assert document["place_date"].startswith("Bình Định, ngày")  # type: ignore[index]
