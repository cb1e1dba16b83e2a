"""Ledger administration: `db backup`, `db downgrade`, `db upgrade` under the run lock,
`db current` and `db history`, on SQLite and (where it applies) PostgreSQL."""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from cli import app
from connector.errors import ConfigError, LedgerError, LedgerMissing, LockHeld
from connector.ledger.admin import backup, downgrade, history, schema_state, upgrade_locked
from connector.ledger.db import current_revision, head_revision, open_ledger, revisions, upgrade
from connector.ledger.tables import OutboxRow
from connector.ops.locking import ledger_lock, lock_path_for

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def invoke(url: str, *args: str) -> Any:
    """Run the CLI in-process against the ledger at `url` (no config file, JSON logs)."""
    env = {"IDESK_CONNECTOR__LEDGER__URL": url, "IDESK_CONNECTOR_CONFIG": ""}
    result = CliRunner().invoke(app, ["--log-format", "json", *args], env=env)
    structlog.reset_defaults()
    return result


def operator_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not JSON log events: what the operator reads."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def sqlite_ledger(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite ledger at the latest schema (WAL mode, as the connector leaves it)."""
    path = tmp_path / "var" / "ledger.db"
    url = f"sqlite:///{path}"
    open_ledger(url).close()
    return url, path


def add_pairs(path: Path, count: int, *, start: int = 0) -> None:
    """Add `count` rows to each of two tables in one transaction (their counts always match)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS pair_a (n INTEGER, pad TEXT)")
        connection.execute("CREATE TABLE IF NOT EXISTS pair_b (n INTEGER, pad TEXT)")
        connection.execute("BEGIN IMMEDIATE")
        rows = [(n, "x" * 200) for n in range(start, start + count)]
        connection.executemany("INSERT INTO pair_a VALUES (?, ?)", rows)
        connection.executemany("INSERT INTO pair_b VALUES (?, ?)", rows)
        connection.execute("COMMIT")
    finally:
        connection.close()


def counts(path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        a = connection.execute("SELECT count(*) FROM pair_a").fetchone()[0]
        b = connection.execute("SELECT count(*) FROM pair_b").fetchone()[0]
    finally:
        connection.close()
    return int(a), int(b)


# -- backup ----------------------------------------------------------------------------------


def test_backup_is_a_verified_private_self_contained_copy(tmp_path: Path) -> None:
    """The copy has mode 0600, passes integrity_check, holds the ledger's rows and revision, and
    is one file (journal_mode delete, no -wal beside it, no partial file left)."""
    url, path = sqlite_ledger(tmp_path)
    add_pairs(path, 300)
    target = tmp_path / "backups" / "ledger.db"
    target.parent.mkdir()
    result = backup(url, target)
    assert result.integrity == "ok"
    assert result.revision == head_revision()
    assert result.path == str(target) and result.bytes == target.stat().st_size
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["ledger.db"]
    copy = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        copy.close()
    assert counts(target) == (300, 300)


def test_backup_is_consistent_while_another_connection_writes(tmp_path: Path) -> None:
    """A transaction committed by another connection in the middle of the copy (between two
    steps of the online backup) gives a copy with the whole transaction, never half of it."""
    url, path = sqlite_ledger(tmp_path)
    add_pairs(path, 2000)
    steps: list[int] = []

    def write_once(_status: int, remaining: int, _total: int) -> None:
        steps.append(remaining)
        if len(steps) == 1:
            add_pairs(path, 500, start=2000)

    backup(url, tmp_path / "copy.db", step_pages=5, progress=write_once)
    assert steps[0] > 0, "the write must land while pages remain to copy"
    assert counts(tmp_path / "copy.db") == (2500, 2500)


def test_backup_leaves_out_an_uncommitted_transaction(tmp_path: Path) -> None:
    """A write transaction still open in another connection neither blocks the copy nor shows
    in it."""
    url, path = sqlite_ledger(tmp_path)
    add_pairs(path, 10)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO pair_a VALUES (99, 'open')")
        backup(url, tmp_path / "copy.db")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert counts(tmp_path / "copy.db") == (10, 10)


def test_backup_waits_for_the_run_lock(tmp_path: Path) -> None:
    """With --wait, a backup started while a run holds the lock waits and copies once the run
    ends (the lock released during the wait)."""
    url, _path = sqlite_ledger(tmp_path)
    holder = ledger_lock(url)
    holder.__enter__()
    waits: list[float] = []
    clock = iter(float(n) for n in range(1000))

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            holder.__exit__(None, None, None)

    result = backup(
        url, tmp_path / "copy.db", wait_s=60, sleep=sleep, monotonic=lambda: next(clock)
    )
    assert len(waits) == 3 and result.waited_s > 0
    assert (tmp_path / "copy.db").exists()


def test_backup_gives_up_past_wait_with_exit_75(tmp_path: Path) -> None:
    """A run holding the lock past --wait: exit 75 naming the lock, and no backup file."""
    url, _path = sqlite_ledger(tmp_path)
    with ledger_lock(url):
        result = invoke(url, "db", "backup", str(tmp_path / "copy.db"))
        with pytest.raises(LockHeld):
            backup(url, tmp_path / "copy.db", wait_s=0.5, sleep=lambda _s: None)
    assert result.exit_code == 75
    assert str(lock_path_for(url)) in operator_lines(result.stderr)[0]
    assert not (tmp_path / "copy.db").exists()


def test_backup_failing_its_integrity_check_keeps_the_previous_backup(tmp_path: Path) -> None:
    """A damaged ledger: the copy fails integrity_check, exit 74 naming the check, and the good
    backup already at PATH is left as it was (no partial file either)."""
    url, path = sqlite_ledger(tmp_path)
    add_pairs(path, 50)
    target = tmp_path / "good.db"
    backup(url, target)
    before = target.read_bytes()
    damage = sqlite3.connect(path)
    try:
        damage.execute("CREATE INDEX ix_pair_a ON pair_a (n)")
        damage.commit()
        damage.execute("PRAGMA writable_schema = ON")
        damage.execute(
            "UPDATE sqlite_master SET sql = 'CREATE INDEX ix_pair_a ON pair_a (n DESC)' "
            "WHERE name = 'ix_pair_a'"
        )
        damage.commit()
    finally:
        damage.close()
    with pytest.raises(LedgerError, match="integrity check"):
        backup(url, target, overwrite=True)
    result = invoke(url, "db", "backup", "--force", str(target))
    assert result.exit_code == 74
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["good.db"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        pytest.param("exists", "already exists; give --force", id="exists"),
        pytest.param("ledger", "is the ledger itself", id="the-ledger"),
        pytest.param("directory", "is a directory", id="a-directory"),
    ],
)
def test_backup_refuses_a_bad_path_with_exit_2(tmp_path: Path, where: str, message: str) -> None:
    """PATH that exists (without --force), that is the ledger, or that is a directory: exit 2."""
    url, path = sqlite_ledger(tmp_path)
    target = {"exists": tmp_path / "old.db", "ledger": path, "directory": tmp_path}[where]
    if where == "exists":
        target.write_bytes(b"keep me")
    result = invoke(url, "db", "backup", str(target))
    assert result.exit_code == 2
    assert message in operator_lines(result.stderr)[0]
    if where == "exists":
        assert target.read_bytes() == b"keep me"


def test_backup_into_a_missing_directory_is_exit_74(tmp_path: Path) -> None:
    """A backup directory that does not exist: exit 74 saying to create it."""
    url, _path = sqlite_ledger(tmp_path)
    result = invoke(url, "db", "backup", str(tmp_path / "nowhere" / "copy.db"))
    assert result.exit_code == 74
    assert "does not exist" in operator_lines(result.stderr)[0]


def test_backup_without_a_ledger_is_exit_2(tmp_path: Path) -> None:
    """No ledger file yet: exit 2, and nothing (no ledger, no copy) is created."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = invoke(url, "db", "backup", str(tmp_path / "copy.db"))
    assert result.exit_code == 2
    assert not (tmp_path / "ledger.db").exists() and not (tmp_path / "copy.db").exists()


def test_backup_of_a_postgresql_ledger_says_pg_dump(tmp_path: Path) -> None:
    """A PostgreSQL ledger: exit 2 with one line saying to use pg_dump; nothing is connected."""
    url = "postgresql://idesk:hunter2@127.0.0.1:1/idesk"
    result = invoke(url, "db", "backup", str(tmp_path / "copy.db"))
    assert result.exit_code == 2
    lines = operator_lines(result.stderr)
    assert len(lines) == 1 and "pg_dump" in lines[0] and "hunter2" not in result.stderr
    with pytest.raises(ConfigError, match="pg_dump"):
        backup(url, tmp_path / "copy.db")


def test_backup_cli_prints_json(tmp_path: Path) -> None:
    """`db backup --format json` prints the documented keys."""
    url, _path = sqlite_ledger(tmp_path)
    result = invoke(url, "db", "backup", "--format", "json", str(tmp_path / "copy.db"))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"ledger", "path", "bytes", "revision", "integrity", "waited_s"}
    assert data["integrity"] == "ok"


# -- downgrade and upgrade -------------------------------------------------------------------


def _outbox_row(key: str) -> OutboxRow:
    now = datetime(2022, 3, 7, 8, 0, tzinfo=UTC)
    return OutboxRow(
        idempotency_key=key,
        kind="alert",
        payload_json="{}",
        state="sent",
        created_at=now,
        sending_at=now,
        sent_at=now,
        in_doubt_since=now,
    )


def test_downgrade_and_upgrade_round_trip_keeps_the_rows(ledger_url: str) -> None:
    """`db downgrade --to 0001` drops what 0002 added and keeps every row; `db upgrade` brings
    the schema back to the head with the rows still there (SQLite and PostgreSQL)."""
    with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
        session.add(_outbox_row("alr:1:QUA_HAN:2022-03-07"))
    result = downgrade(ledger_url, "0001")
    assert (result.before, result.after, result.changed) == (head_revision(), "0001", True)
    assert current_revision(ledger_url) == "0001"
    with open_ledger(ledger_url, migrate=False) as ledger:
        columns = {c["name"] for c in inspect(ledger.engine).get_columns("outbox")}
        with ledger.reading() as session:
            keys = session.execute(text("SELECT idempotency_key FROM outbox")).scalars().all()
    assert "in_doubt_since" not in columns
    assert keys == ["alr:1:QUA_HAN:2022-03-07"]
    assert schema_state(ledger_url).state == "older"
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, read_only=True) as ledger, ledger.reading() as session:
        row = session.execute(text("SELECT idempotency_key, in_doubt_since FROM outbox")).one()
    assert row[0] == "alr:1:QUA_HAN:2022-03-07"
    assert row[1] is not None  # 0002's upgrade fills it for rows that were sent
    assert schema_state(ledger_url).state == "current"


def test_downgrade_to_the_current_revision_changes_nothing(ledger_url: str) -> None:
    """Downgrading to the revision the ledger is at is a no-op, reported as such."""
    upgrade(ledger_url)
    result = downgrade(ledger_url, head_revision())
    assert not result.changed
    assert current_revision(ledger_url) == head_revision()


def test_downgrade_refuses_a_newer_or_unknown_target_with_exit_2(tmp_path: Path) -> None:
    """`--to` a revision the ledger is older than, or one this version does not know: exit 2,
    the schema untouched."""
    url, _path = sqlite_ledger(tmp_path)
    downgrade(url, "0001")
    newer = invoke(url, "db", "downgrade", "--to", head_revision())
    unknown = invoke(url, "db", "downgrade", "--to", "base")
    assert newer.exit_code == unknown.exit_code == 2
    assert "db upgrade" in operator_lines(newer.stderr)[0]
    assert "0001, 0002" in operator_lines(unknown.stderr)[0]
    assert current_revision(url) == "0001"


def test_downgrade_of_a_ledger_newer_than_this_version_is_refused(tmp_path: Path) -> None:
    """A ledger at a revision this version does not ship: exit 74, saying to use the version
    that made it; nothing changes."""
    url, path = sqlite_ledger(tmp_path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    result = invoke(url, "db", "downgrade", "--to", "0001")
    assert result.exit_code == 74
    assert "the version that made it" in operator_lines(result.stderr)[0]
    with pytest.raises(LedgerError):
        downgrade(url, "0001")


def test_downgrade_without_a_ledger_is_exit_2_and_creates_none(tmp_path: Path) -> None:
    """No ledger file: `db downgrade` says so (exit 2) and creates no file."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with pytest.raises(LedgerMissing):
        downgrade(url, "0001")
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize("command", [["db", "downgrade", "--to", "0001"], ["db", "upgrade"]])
def test_schema_changes_wait_for_the_run_lock(tmp_path: Path, command: list[str]) -> None:
    """`db downgrade` and `db upgrade` hold the run lock: a run holding it gives exit 75 and the
    schema stays as it was."""
    url, _path = sqlite_ledger(tmp_path)
    if command[1] == "upgrade":
        downgrade(url, "0001")
    before = current_revision(url)
    with ledger_lock(url):
        result = invoke(url, *command)
    assert result.exit_code == 75
    assert current_revision(url) == before


def test_downgrade_waits_then_runs_once_the_lock_is_free(tmp_path: Path) -> None:
    """With --wait, a downgrade started during a run goes ahead when the run releases the lock."""
    url, _path = sqlite_ledger(tmp_path)
    holder = ledger_lock(url)
    holder.__enter__()
    released: list[bool] = []

    def sleep(_seconds: float) -> None:
        if not released:
            holder.__exit__(None, None, None)
            released.append(True)

    assert downgrade(url, "0001", wait_s=60, sleep=sleep).after == "0001"
    assert released == [True]


@pytest.mark.postgres
def test_downgrade_on_postgresql_takes_the_advisory_lock(pg_url: str, tmp_path: Path) -> None:
    """On PostgreSQL the downgrade also takes the advisory lock: another session holding it
    gives LockHeld, and the schema stays at the head."""
    from connector.ledger.db import create_ledger_engine
    from connector.ops.locking import pg_advisory_lock

    upgrade(pg_url)
    engine = create_ledger_engine(pg_url)
    try:
        with pg_advisory_lock(engine), pytest.raises(LockHeld):
            downgrade(pg_url, "0001", lock_file=str(tmp_path / "other.lock"))
    finally:
        engine.dispose()
    assert current_revision(pg_url) == head_revision()


# -- current and history ---------------------------------------------------------------------


def test_db_current_states(tmp_path: Path) -> None:
    """`db current` reads without creating: no file is exit 2; then empty → current → older."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert invoke(url, "db", "current").exit_code == 2
    assert not (tmp_path / "ledger.db").exists()
    upgrade(url)
    data = json.loads(invoke(url, "db", "current", "--format", "json").stdout)
    assert data == {
        "ledger": url,
        "revision": head_revision(),
        "head": head_revision(),
        "state": "current",
    }
    downgrade(url, "0001")
    assert "`idesk-connector db upgrade`" in invoke(url, "db", "current").stdout


def test_db_current_and_backup_text_follow_ui_lang(tmp_path: Path) -> None:
    """`db current` and `db backup` print in `ui.lang` (Vietnamese by default), as `db upgrade`
    does and as the README says of every table and summary."""
    url, _path = sqlite_ledger(tmp_path)
    current = invoke(url, "db", "current").stdout
    assert "cơ sở dữ liệu" in current and "đã là mới nhất" in current, current
    copied = invoke(url, "db", "backup", str(tmp_path / "copy.db")).stdout
    assert "đã sao lưu" in copied and "toàn vẹn: ok" in copied, copied
    env = {"IDESK_CONNECTOR__LEDGER__URL": url, "IDESK_CONNECTOR_CONFIG": ""}
    english = CliRunner().invoke(
        app, ["db", "current"], env=env | {"IDESK_CONNECTOR__UI__LANG": "en"}
    )
    structlog.reset_defaults()
    assert "this version's latest" in english.stdout and "up to date" in english.stdout


def test_history_lists_every_revision_oldest_first_with_its_release() -> None:
    """`db history` holds every shipped revision, in order, each with a release; the last is
    the head."""
    listed = history()
    assert [m.revision for m in listed] == sorted(revisions())
    assert listed[0].down_revision is None
    assert all(m.down_revision == p.revision for p, m in itertools.pairwise(listed))
    assert [m.head for m in listed] == [False] * (len(listed) - 1) + [True]
    assert all(m.release and m.description for m in listed)


def _version(text_: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text_.split("."))


def test_releases_follow_the_package_version() -> None:
    """A migration's release is never older than its parent's, nor newer than this package's
    version (pyproject.toml): set `release` in a new migration and bump the version."""
    package = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = _version(package["project"]["version"])
    releases = [_version(str(m.release)) for m in history()]
    assert releases == sorted(releases)
    assert releases[-1] <= version


def test_install_guide_lists_every_revision_with_its_release() -> None:
    """docs/install.md's table of releases and revisions names every shipped migration with
    the release `db history` gives it (and so does the Vietnamese guide)."""
    for guide in (ROOT / "docs" / "install.md", ROOT / "docs" / "vi" / "install.md"):
        body = guide.read_text(encoding="utf-8")
        rows = dict(re.findall(r"^\| `(\d{4})` \| ([0-9.]+) \|", body, flags=re.MULTILINE))
        assert rows == {m.revision: m.release for m in history()}, guide


def test_db_history_loads_no_alembic() -> None:
    """`db history` reads the migration files without loading alembic."""
    code = (
        "import sys\n"
        "sys.argv = ['idesk-connector', 'db', 'history']\n"
        "from cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "sys.stdout.write('\\nLOADED ' + ' '.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert head_revision() in proc.stdout, proc.stderr[-2000:]
    loaded = proc.stdout.rsplit("LOADED ", 1)[1].split()
    assert not [m for m in loaded if m == "alembic" or m.startswith("alembic.")]
