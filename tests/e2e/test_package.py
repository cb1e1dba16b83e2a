"""The package's shape: a lazy public API, and heavy libraries kept out of commands that do not use them."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import connector
from connector.ledger.db import open_ledger
from tests.support import ROOT

HEAVY = ("alembic", "openpyxl", "requests", "urllib3", "psycopg", "simulator", "holidays")
"""Libraries (and the simulator) a light command must not load."""


def _loaded_after(code: str, *, cwd: Path = ROOT, env: dict[str, str] | None = None) -> set[str]:
    """Top-level packages in sys.modules after running `code` in a fresh interpreter."""
    script = (
        "import sys, json\n"
        "try:\n" + "".join(f"    {line}\n" for line in code.splitlines()) + "except SystemExit:\n"
        "    pass\n"
        "sys.stdout.flush()\n"
        "sys.__stdout__.write('\\nMODULES ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = proc.stdout.rsplit("MODULES ", 1)
    assert len(marker) == 2, proc.stderr[-2000:]
    return set(json.loads(marker[1]))


def test_every_public_name_resolves_to_its_defining_module() -> None:
    """Each name of connector.__all__ is the object its module defines, and dir() lists it."""
    for name in connector.__all__:
        module = importlib.import_module(connector._EXPORTS[name])
        assert getattr(connector, name) is getattr(module, name), name
    assert set(connector.__all__) <= set(dir(connector))
    assert sorted(connector.__all__) == sorted(connector._EXPORTS)


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError naming it."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = connector.no_such_name  # type: ignore[attr-defined]


def test_importing_the_errors_loads_no_library() -> None:
    """`import connector.errors` loads neither SQLAlchemy nor any other heavy library."""
    loaded = _loaded_after("import connector.errors")
    assert loaded.isdisjoint({*HEAVY, "sqlalchemy", "sqlmodel", "rich", "structlog"})


def test_the_cli_module_loads_no_database_or_http_library() -> None:
    """Importing the CLI (what --help needs) loads no database, HTTP, Excel or migration library."""
    loaded = _loaded_after("import cli")
    assert loaded.isdisjoint({*HEAVY, "sqlalchemy", "sqlmodel"})


def test_the_cli_module_loads_no_settings_model() -> None:
    """Importing the CLI (what --help needs) loads neither the settings nor pydantic: the
    commands load them when they read the configuration."""
    loaded = _loaded_after("import cli")
    assert loaded.isdisjoint({"pydantic", "pydantic_core", "pydantic_settings"})
    assert "connector.settings" not in _loaded_modules_after("import cli")


def _loaded_modules_after(code: str) -> set[str]:
    """Every module name in sys.modules after running `code` in a fresh interpreter."""
    script = (
        f"{code}\nimport sys, json\n"
        "sys.stdout.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    marker = proc.stdout.rsplit("MODULES ", 1)
    assert len(marker) == 2, proc.stderr[-2000:]
    return set(json.loads(marker[1]))


def test_no_connector_module_imports_the_simulator() -> None:
    """Every module of the connector package imports without loading the simulator (a tool)."""
    names = [m.name for m in pkgutil.walk_packages(connector.__path__, "connector.")]
    code = "import importlib\n" + "".join(
        f"importlib.import_module({name!r})\n" for name in names if ".migrations" not in name
    )
    assert "simulator" not in _loaded_after(code)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["status"], id="status"),
        pytest.param(["status", "--format", "json"], id="status-json"),
        pytest.param(["tasks", "show", "1"], id="tasks-show"),
        pytest.param(["tasks", "list", "--format", "json"], id="tasks-list"),
        pytest.param(["report", "--format", "json"], id="report-json"),
        pytest.param(["runs", "list"], id="runs-list"),
        pytest.param(["outbox", "list", "--format", "json"], id="outbox-list"),
        pytest.param(["quarantine", "list"], id="quarantine-list"),
        pytest.param(["alerts", "preview", "--format", "json"], id="alerts-preview"),
    ],
)
def test_reading_commands_load_no_orm_migration_http_or_excel_library(
    tmp_path: Path, argv: list[str]
) -> None:
    """Commands that read a current ledger load neither SQLAlchemy, SQLModel, alembic, requests,
    openpyxl nor the simulator: they read through a plain read-only connection."""
    ledger_path = tmp_path / "ledger.db"
    open_ledger(f"sqlite:///{ledger_path}").close()
    config = tmp_path / "config.toml"
    config.write_text(f'[ledger]\nurl = "sqlite:///{ledger_path}"\n', encoding="utf-8")
    config.chmod(0o600)
    code = (
        "import cli\n"
        f"sys.argv = ['idesk-connector', '--config', {str(config)!r}, *{argv!r}]\n"
        "cli.app(prog_name='idesk-connector')"
    )
    loaded = _loaded_after(code, cwd=tmp_path)
    heavy = {"sqlalchemy", "sqlmodel", "alembic", "openpyxl", "requests", "urllib3", "simulator"}
    assert loaded.isdisjoint(heavy), loaded & heavy


def test_the_transport_does_not_load_the_mapping_language() -> None:
    """`connector.source.http` (classification and retries) needs nothing of the mapping: no
    source-path language, no mapping module."""
    code = (
        "import sys, connector.source.http\n"
        "bad = [m for m in sys.modules if m.startswith('connector.mapping')"
        " or m == 'connector.source.paths']\n"
        "assert not bad, bad"
    )
    assert "connector" in _loaded_after(code)


START_UP_UNUSED = frozenset({"rich.traceback", "rich.pretty", "alembic"})
"""What structlog would import with rich installed (its traceback formatter and pretty-printer,
never used by the logging), and the migration machinery: no start-up command needs them."""
STATUS_UNUSED = START_UP_UNUSED | {"pygments", "connector.reports.model"}
"""`status` prints a table or JSON: neither pygments nor the report model."""


@pytest.mark.parametrize(
    ("argv", "unused"),
    [
        pytest.param(["--help"], {"alembic"}, id="help"),  # typer's rich help uses them all
        pytest.param(["status"], STATUS_UNUSED, id="status"),
        pytest.param(["status", "--format", "json"], STATUS_UNUSED, id="json"),
        pytest.param(["tasks", "show", "1"], START_UP_UNUSED | {"pygments"}, id="tasks-show"),
    ],
)
def test_start_up_commands_skip_what_they_do_not_use(
    tmp_path: Path, argv: list[str], unused: set[str] | frozenset[str]
) -> None:
    """`status` and `tasks show` load neither rich's traceback and pretty-printer (structlog's
    optional extras) nor pygments nor alembic (`status` not the report model either); `--help`
    not alembic."""
    ledger_path = tmp_path / "ledger.db"
    open_ledger(f"sqlite:///{ledger_path}").close()
    config = tmp_path / "config.toml"
    config.write_text(f'[ledger]\nurl = "sqlite:///{ledger_path}"\n', encoding="utf-8")
    config.chmod(0o600)
    loaded = _loaded_modules_after(
        "import sys\nimport cli\n"
        f"sys.argv = ['idesk-connector', '--config', {str(config)!r}, *{argv!r}]\n"
        "try:\n    cli.app(prog_name='idesk-connector')\nexcept SystemExit:\n    pass"
    )
    assert not {m for m in loaded if m.split(".")[0] in unused or m in unused}


def test_logging_still_renders_console_lines_without_rich_extras() -> None:
    """With rich's traceback module kept out of structlog's import, console logging still
    writes its lines (warnings on a terminal-less stream)."""
    code = (
        "import io\n"
        "from connector.ops.log import configure_logging, get_logger\n"
        "out = io.StringIO()\n"
        "configure_logging(fmt='console', stream=out)\n"
        "get_logger('t').warning('probe_event', n=1)\n"
        "import sys\n"
        "assert 'probe_event' in out.getvalue(), out.getvalue()\n"
        "assert 'rich.traceback' not in sys.modules\n"
    )
    assert "rich.traceback" not in _loaded_modules_after(code)
