"""An operator's broken configuration files, driven through the CLI as the README documents:
exit 2, one line naming the file and the key or line at fault, and nothing written first (no
ledger created, no run recorded) by a command that then refuses its configuration.

Nothing listens at the configured source: a command that got as far as the source would stop
with exit 3 instead, so these tests also pin that the files are checked before the source is.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli import EXIT_CONFIG, app
from tests.support.harness import ROOT


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _home(tmp_path: Path, source_keys: str = "", extra: str = "") -> dict[str, str]:
    """A config file (mode 0600) with a SQLite ledger in `tmp_path`, `source_keys` added to
    its `[source]` and `extra` sections at its end, and the environment naming it."""
    base_url = f"http://127.0.0.1:{_closed_port()}/ubnd/smartcloud"
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[source]\nbase_url = "{base_url}"\n{source_keys}'
        "[retry]\nmax_attempts = 1\ninitial_wait = 0.01\nmax_wait = 0.02\ntotal_budget = 1\n"
        f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n{extra}',
        encoding="utf-8",
    )
    cfg.chmod(0o600)
    return {
        "IDESK_CONNECTOR_CONFIG": str(cfg),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": "pw-not-used-7c1e",
        "IDESK_CONNECTOR_SECRETS": "",
    }


def _run(env: dict[str, str], *args: str) -> tuple[int, list[str]]:
    """Exit code and the operator's lines of stderr (not the JSON log events)."""
    result = CliRunner().invoke(app, ["--log-format", "json", *args], env=env)
    structlog.reset_defaults()
    lines = [ln for ln in result.stderr.splitlines() if ln.strip() and not ln.startswith("{")]
    return result.exit_code, lines


def _broken_mapping(tmp_path: Path) -> dict[str, str]:
    """A copy of the shipped mapping with an unknown converter (the environment naming it)."""
    text = (ROOT / "mappings" / "idesk.toml").read_text(encoding="utf-8")
    broken = text.replace('converter = "iso_local_date"', 'converter = "iso_locl_date"', 1)
    assert broken != text
    path = tmp_path / "my-mapping.toml"
    path.write_text(broken, encoding="utf-8")
    return _home(tmp_path, source_keys=f'mapping = "{path}"\n')


def _broken_calendar(tmp_path: Path) -> dict[str, str]:
    """A calendar override file listing one day twice (the environment naming it)."""
    path = tmp_path / "calendar.toml"
    path.write_text(
        '[[day_off]]\ndate = 2027-02-05\nname = "Nghỉ bù"\nsource = "TB 1"\n\n'
        '[[day_off]]\ndate = 2027-02-05\nname = "Nghỉ bù"\nsource = "TB 2"\n',
        encoding="utf-8",
    )
    return _home(tmp_path, extra=f'[calendar]\noverrides = "{path}"\n')


@pytest.mark.parametrize("command", ["sync", "pull", "push"])
@pytest.mark.parametrize(
    ("broken", "named"),
    [
        pytest.param(_broken_mapping, "fields.doc_date.converter", id="mapping-converter"),
        pytest.param(_broken_calendar, "calendar.toml:6", id="calendar-duplicate-day"),
    ],
)
def test_a_broken_file_stops_the_run_before_the_ledger_is_created(
    tmp_path: Path, command: str, broken: Callable[[Path], dict[str, str]], named: str
) -> None:
    """A broken mapping or calendar override stops sync/pull/push with exit 2 naming the file
    and the key or line, before any ledger is created or run recorded (was: ledger created,
    run recorded, and the calendar checked only after the login and the units were written)."""
    env = broken(tmp_path)
    code, stderr = _run(env, command)
    assert code == EXIT_CONFIG, stderr
    assert len(stderr) == 1 and stderr[0].startswith("error: "), stderr
    assert named in stderr[0]
    assert not (tmp_path / "ledger.db").exists()
    assert not list(tmp_path.glob("ledger.db*"))
