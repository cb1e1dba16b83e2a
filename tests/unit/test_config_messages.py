"""The one line an operator reads for a broken file: it names the file once, then the key or
line at fault, and says what is wrong with it (the secrets file, a mapping, a calendar override,
an address book)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cli import error_text
from connector.errors import ConfigError, Problem
from connector.ledger.location import LedgerUrl, ledger_error
from connector.mapping.spec import load_mapping
from connector.rules.calendar import load_calendar
from connector.settings import load_settings
from connector.views.check import run_checks
from tests.support.harness import ROOT

PW = {"IDESK_CONNECTOR__SOURCE__PASSWORD": "pw-123"}


def _config_error(call: object, *args: object) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call(*args)  # type: ignore[operator]
    return info.value


def test_a_mapping_problem_names_its_file_once(tmp_path: Path) -> None:
    """A mapping's one problem reads `FILE: key: what`, the file not repeated."""
    shipped = (ROOT / "mappings" / "idesk.toml").read_text(encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(shipped.replace('style = "offset"', 'style = "offst"', 1), encoding="utf-8")
    text = error_text(_config_error(load_mapping, path))
    assert text.count("m.toml") == 1, text
    assert "pagination.style" in text


def test_a_calendar_problem_names_its_file_and_line_once(tmp_path: Path) -> None:
    """A calendar override's one problem reads `FILE:LINE [[day_off]] #N: what`, once."""
    path = tmp_path / "cal.toml"
    path.write_text('[[day_off]]\ndate = "05/02/2027"\nname = "x"\nsource = "y"\n', "utf-8")
    text = error_text(_config_error(load_calendar, path))
    assert text.count("cal.toml") == 1, text
    assert "cal.toml:1 [[day_off]] #1" in text


def test_a_secrets_file_that_is_not_toml_is_named_once(tmp_path: Path) -> None:
    """A secrets file with a TOML error names the file once, with the line (no secret)."""
    secrets = tmp_path / "s.toml"
    secrets.write_text('[source]\npassword = "unterminated-s3cret\n', encoding="utf-8")
    secrets.chmod(0o600)
    text = error_text(_config_error(load_settings, None, {"IDESK_CONNECTOR_SECRETS": str(secrets)}))
    assert text.count("s.toml") == 1, text
    assert "secrets file" in text and "line 2" in text
    assert "s3cret" not in text


def test_a_secrets_file_that_is_a_directory_says_so(tmp_path: Path) -> None:
    """A secrets file path naming a directory says it is a directory, not to chmod it."""
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o755)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[source]\nsecrets_file = '{folder}'\n", encoding="utf-8")
    cfg.chmod(0o600)
    error = _config_error(load_settings, cfg, {})
    messages = {p.where: p.message for p in error.problems}
    assert "is a directory" in messages[f"secrets file {folder}"]
    assert "chmod" not in error_text(error)


def test_a_sources_entry_secrets_file_that_is_a_directory_says_so(tmp_path: Path) -> None:
    """A [[sources]] entry's secrets_file naming a directory says it is a directory."""
    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[[sources]]\nname = 'a'\nsecrets_file = '{folder}'\n", encoding="utf-8")
    cfg.chmod(0o600)
    error = _config_error(load_settings, cfg, {})
    messages = {p.where: p.message for p in error.problems}
    assert "is a directory" in messages[f"sources[0].secrets_file {folder}"]


def test_a_postgresql_error_says_where_the_password_goes() -> None:
    """A PostgreSQL ledger that cannot be opened points at PGPASSWORD or ~/.pgpass, as the
    README does, and never at putting the password in a URL."""
    url = LedgerUrl.parse("postgresql://idesk@127.0.0.1:5999/idesk")
    text = str(ledger_error(OSError("connection refused"), url, "open"))
    assert "PGPASSWORD" in text and "~/.pgpass" in text
    assert "LEDGER__URL" not in text


def test_an_unknown_mapping_name_lists_the_valid_ones() -> None:
    """`source.mapping = "idesc"` (a name, not a path) fails naming the key and listing the
    mapping names there are (not the unit maps), as mappings/README.md promises."""
    text = error_text(_config_error(load_mapping, "idesc"))
    assert text.startswith("source.mapping: unknown mapping 'idesc'; valid: idesk, idesk6 ")
    assert "units-" not in text


def test_check_words_a_mapping_problem_on_one_line(tmp_path: Path) -> None:
    """`check`'s mapping step gives the one problem as the error line does, not the
    "1 problem(s) in ...: - ..." block."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[source]\nmapping = 'idesc'\n", encoding="utf-8")
    cfg.chmod(0o600)
    settings = load_settings(cfg, PW).settings
    step = next(iter(run_checks(settings)))
    assert step.name == "mapping" and not step.ok
    assert step.detail.startswith("source.mapping: unknown mapping 'idesc'; valid:")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        pytest.param(ConfigError("row 3 is sent"), "row 3 is sent", id="message-alone"),
        pytest.param(ConfigError("bad", source="c.toml"), "c.toml: bad", id="file-level"),
        pytest.param(
            ConfigError([Problem("sync.x", "unknown key")], source="c.toml"),
            "c.toml: sync.x: unknown key",
            id="key-in-file",
        ),
        pytest.param(
            ConfigError([Problem("m.toml: fields.x", "bad")], source="m.toml"),
            "m.toml: fields.x: bad",
            id="file-named-once",
        ),
        pytest.param(
            ConfigError([Problem("m.toml.bak: x", "bad")], source="m.toml"),
            "m.toml: m.toml.bak: x: bad",
            id="another-file",
        ),
    ],
)
def test_one_problem_is_one_line(error: ConfigError, said: str) -> None:
    """`ConfigError.brief`: a lone message as is; a key after its file; a file named once."""
    assert error.brief() == said


def _locked_error(tmp_path: Path) -> sqlite3.OperationalError:
    """The sqlite3 driver's own error when another connection holds the write lock."""
    path = tmp_path / "ledger.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("the second writer was not refused")


def test_a_locked_sqlite_ledger_says_another_program_holds_it(tmp_path: Path) -> None:
    """'database is locked' (another program kept a write transaction open past the busy
    timeout) names that cause and what to do, not a full disk or an unwritable directory."""
    url = LedgerUrl.parse(f"sqlite:///{tmp_path / 'ledger.db'}")
    text = str(ledger_error(_locked_error(tmp_path), url, "write to"))
    assert "database is locked" in text
    assert "another program" in text and "close it" in text
    assert "disk is not full" not in text and "writable" not in text


def test_a_closed_output_is_named_as_such() -> None:
    """`tasks list --format json | head` closes the pipe: the error says the output was
    closed, not "cannot read or write Broken pipe" with no file named."""
    text = error_text(BrokenPipeError(32, "Broken pipe"))
    assert text == (
        "the output was closed before everything was written (broken pipe: the command "
        "reading it, such as head, stopped early)"
    )
    other = error_text(OSError(5, "Input/output error"))
    assert other == "cannot read or write: Input/output error"
