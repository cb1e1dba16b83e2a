"""The operator's view of the ledger: one lock per real ledger, killed runs marked abandoned,
counts of committed work only, terminal-safe listings, read-only commands on a read-only file
system, and a full disk that ends a run with exit 74.

Full-disk and read-only cases run the installed console script in a private mount namespace
(``unshare -m``: a small tmpfs, or a read-only bind mount, that vanishes with the process).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from cli import EXIT_CONFIG, EXIT_IO, EXIT_LOCKED, EXIT_OK, app
from connector.clock import FixedClock
from connector.errors import LedgerError, LedgerMissing
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.tables import TaskRow
from connector.ops.locking import ledger_lock, lock_path_for
from connector.ops.runs import get_run, recorded_run
from connector.source.pull import PullResult, pull
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.factories import make_settings
from tests.support.harness import CLI, connect_ro, events_in, events_named, integrity_check

TODAY = date(2022, 3, 7)


def invoke(env: dict[str, str], *args: str) -> Any:
    """Run the CLI in-process, JSON logs on stderr (not a terminal, as under cron)."""
    result = CliRunner().invoke(app, ["--log-format", "json", *args], env=env)
    structlog.reset_defaults()
    return result


def operator_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not JSON log events: what the operator reads."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def write_config(path: Path, base_url: str, ledger: Path, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'[source]\nbase_url = "{base_url}"\n'
        "[retry]\nmax_attempts = 2\ninitial_wait = 0.01\nmax_wait = 0.02\ntotal_budget = 1\n"
        f'[ledger]\nurl = "sqlite:///{ledger}"\n'
        "[push]\nrate_per_second = 500.0\n" + extra,
        encoding="utf-8",
    )
    path.chmod(0o600)
    return path


def cli_env(config: Path, sim: Simulator | None = None, **extra: str) -> dict[str, str]:
    """The environment of a subprocess run: this one, less connector variables, plus config."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")}
    env["IDESK_CONNECTOR_CONFIG"] = str(config)
    env["IDESK_CONNECTOR__SOURCE__PASSWORD"] = sim.credentials.password if sim else "unused-pw"
    env.update(extra)
    return env


# -- one lock per real ledger ------------------------------------------------------------------


def test_lock_path_follows_the_real_ledger(tmp_path: Path) -> None:
    """A symlink to the ledger, a symlinked directory and a relative path all name one lock."""
    real = tmp_path / "real" / "ledger.db"
    real.parent.mkdir()
    real.touch()
    (tmp_path / "alias.db").symlink_to(real)
    (tmp_path / "linkdir").symlink_to(real.parent)
    expected = Path(f"{real}.lock")
    assert lock_path_for(f"sqlite:///{real}") == expected
    assert lock_path_for(f"sqlite:///{tmp_path / 'alias.db'}") == expected
    assert lock_path_for(f"sqlite:///{tmp_path / 'linkdir' / 'ledger.db'}") == expected
    assert lock_path_for("sqlite:///real/ledger.db", cwd=tmp_path) == expected
    assert lock_path_for("sqlite:///x.db", str(tmp_path / "linkdir" / "run.lock")) == (
        real.parent / "run.lock"
    )


def test_two_configs_reaching_one_ledger_by_a_symlink_share_the_lock(tmp_path: Path) -> None:
    """Config A names the ledger, config B a symlink to it: while A's run holds the lock, B's
    sync waits its turn (exit 75) instead of running at the same time."""
    real = tmp_path / "a" / "ledger.db"
    alias = tmp_path / "b" / "alias.db"
    write_config(tmp_path / "a" / "config.toml", "http://127.0.0.1:9/x", real)
    config_b = write_config(tmp_path / "b" / "config.toml", "http://127.0.0.1:9/x", alias)
    open_ledger(f"sqlite:///{real}").close()
    alias.symlink_to(real)
    with ledger_lock(f"sqlite:///{real}"):
        result = invoke(cli_env(config_b), "sync")
    assert result.exit_code == EXIT_LOCKED, result.stderr[-1500:]
    assert str(real) in operator_lines(result.stderr)[0]


# -- runs killed without a trace ---------------------------------------------------------------


def test_killed_run_is_marked_abandoned_by_the_next_run(tmp_path: Path) -> None:
    """A sync killed with SIGKILL stays `running` (duration shown as -, never `Nones`) until the
    next run takes the lock and marks it `abandoned`."""
    config = SimulatorConfig(tasks=60, seed=4, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(tmp_path / "config.toml", sim.base_url, tmp_path / "ledger.db")

        def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [str(CLI), "--log-format", "json", *args],
                env=cli_env(cfg, sim, **env),
                cwd=tmp_path,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=180,
                check=False,
            )

        killed = run("sync", IDESK_CONNECTOR_CRASH_AT="after_mark_sending")
        assert killed.returncode == -9
        listed = json.loads(run("runs", "list", "--format", "json").stdout)["runs"]
        assert [(r["outcome"], r["duration_s"]) for r in listed] == [("running", None)]
        table = run("runs", "list", "--lang", "en")
        assert "Nones" not in table.stdout and " running " in table.stdout
        assert " đang chạy " in run("runs", "list").stdout  # ui.lang's default: Vietnamese
        killed_id = listed[0]["run_id"]

        again = run("sync")
        assert again.returncode == EXIT_OK, again.stderr[-2000:]
        runs = {
            r["run_id"]: r
            for r in json.loads(run("runs", "list", "--format", "json").stdout)["runs"]
        }
        assert runs[killed_id]["outcome"] == "abandoned"
        assert runs[killed_id]["ended_at"] is None and runs[killed_id]["error"]
        assert [
            e["abandoned_run"] for e in events_named(events_in(again.stderr), "run_abandoned")
        ] == [killed_id]


def test_running_row_of_a_live_run_is_left_alone(tmp_path: Path) -> None:
    """While another run holds the lock its `running` row is not abandoned: the second run
    exits 75 and touches nothing."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    cfg = write_config(tmp_path / "config.toml", "http://127.0.0.1:9/x", tmp_path / "ledger.db")
    with (
        open_ledger(url) as ledger,
        ledger_lock(url),
        recorded_run(ledger, "sync", "cron", "live-run", FixedClock()),
    ):
        assert invoke(cli_env(cfg), "sync").exit_code == EXIT_LOCKED
        summary = get_run(ledger, "live-run")
        assert summary is not None and summary.outcome == "running"


# -- counts of committed work only -------------------------------------------------------------


@dataclass(eq=False)
class CommitFails(Ledger):
    """A ledger whose next write transaction fails at its end (as a full disk fails a commit)."""

    armed: bool = False

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        with super().transaction() as session:
            yield session
            if self.armed:
                self.armed = False
                raise LedgerError("cannot write to the ledger database: database or disk is full")


def test_failed_run_counts_only_committed_pages(ledger: Ledger) -> None:
    """The second page's transaction fails: the run records `inserted` = the tasks the ledger
    holds (the first page), not the rolled-back page too."""
    failing = CommitFails(url=ledger.url, engine=ledger.engine, sessions=ledger.sessions)
    config = SimulatorConfig(tasks=500, seed=8, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        settings = make_settings(sim, ledger.url, source={"page_size": 200})
        clock = FixedClock(sim.now())

        def arm(result: PullResult) -> None:
            failing.armed = result.pages == 1

        with (
            pytest.raises(LedgerError),
            recorded_run(failing, "pull", "cron", "disk-full", clock) as run,
        ):
            pull(
                settings,
                run_id="disk-full",
                clock=clock,
                ledger=failing,
                run=run,
                sleep=lambda s: time.sleep(min(s, 0.05)),
                on_page=arm,
                classify_after=False,
            )
    recorded = get_run(ledger, "disk-full")
    assert recorded is not None and recorded.outcome == "failed"
    with ledger.reading() as session:
        stored = session.scalar(select(func.count()).select_from(TaskRow))
    assert stored == 200
    assert recorded.counts["inserted"] == recorded.counts["fetched"] == stored
    assert recorded.counts["pages"] == 1


# -- control characters never reach the terminal -----------------------------------------------

HOSTILE_SUBJECT = "\u202eevil\u202c \x1b[2J\x1b[31mred\x9b1m [/bold] [link=x]y[/link] done"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A synced ledger where every task's subject carries RLO, ESC, CSI and rich markup."""
    home = tmp_path_factory.mktemp("hostile")
    config = SimulatorConfig(tasks=20, seed=2, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(home / "config.toml", sim.base_url, home / "ledger.db")
        env = {**cli_env(cfg, sim), "COLUMNS": "400"}
        assert invoke(env, "pull").exit_code == EXIT_OK
    with contextlib.closing(sqlite3.connect(home / "ledger.db")) as db, db:
        task_id = db.execute("SELECT min(source_id) FROM task").fetchone()[0]
        db.execute("UPDATE task SET subject = ?", (HOSTILE_SUBJECT,))
    yield {"env": env, "id": task_id}


def _strings(value: Any) -> set[str]:
    """Every string inside a decoded JSON document."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return set().union(*(_strings(v) for v in value)) if value else set()
    return set()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["tasks", "list"], id="list-table"),
        pytest.param(["tasks", "show", "{id}"], id="show-table"),
        pytest.param(["tasks", "list", "--format", "json"], id="list-json"),
        pytest.param(["tasks", "show", "{id}", "--format", "json"], id="show-json"),
        pytest.param(["report"], id="report-annexes"),
        pytest.param(["report", "--format", "json"], id="report-json"),
    ],
)
def test_listings_escape_control_characters(hostile: dict[str, Any], args: list[str]) -> None:
    """A subject with a right-to-left override, escape sequences and rich markup is shown
    escaped (`\\u202e`, `\\x1b`) in tables; JSON escapes them and decodes to the same text."""
    result = invoke(hostile["env"], *(a.format(id=hostile["id"]) for a in args))
    assert result.exit_code == EXIT_OK, (result.exception, result.stderr[-1000:])
    for raw in ("\u202e", "\u202c", "\x1b", "\x9b"):
        assert raw not in result.stdout
    if "json" in args:
        assert HOSTILE_SUBJECT in _strings(json.loads(result.stdout))
    elif args[0] == "report":  # the annexes fold the subject over several lines
        assert "evil" in result.stdout
    else:
        assert "\\u202eevil" in result.stdout and "\\x1b[2J" in result.stdout
        assert "[/bold]" in result.stdout and "[link=x]" in result.stdout


# -- read-only commands ------------------------------------------------------------------------

READ_COMMANDS = [
    pytest.param(["status"], id="status"),
    pytest.param(["report"], id="report"),
    pytest.param(["tasks", "list"], id="tasks-list"),
    pytest.param(["runs", "list"], id="runs-list"),
    pytest.param(["alerts", "preview", "--as-of", "2022-03-07"], id="alerts-preview"),
]


@pytest.mark.parametrize("args", READ_COMMANDS)
def test_read_only_command_never_creates_a_ledger(tmp_path: Path, args: list[str]) -> None:
    """With no ledger yet, a read-only command says so in one line (exit 2) and creates none."""
    ledger = tmp_path / "var" / "ledger.db"
    cfg = write_config(tmp_path / "config.toml", "http://127.0.0.1:9/x", ledger)
    result = invoke(cli_env(cfg), *args)
    assert result.exit_code == EXIT_CONFIG, result.exception
    assert operator_lines(result.stderr) == [
        f"error: ledger.url: there is no ledger at {ledger}; run `idesk-connector sync` (or "
        "`idesk-connector db upgrade`) first, or point ledger.url at the ledger"
    ]
    assert not ledger.parent.exists()


def test_a_missing_relative_ledger_is_named_with_the_directory_looked_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ledger.url that names no ledger yet is reported with its absolute path, so
    the operator sees which directory was looked in (it said only "ledger.db")."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[source]\nbase_url = "http://127.0.0.1:9/x"\n[ledger]\nurl = "sqlite:///ledger.db"\n',
        encoding="utf-8",
    )
    cfg.chmod(0o600)
    monkeypatch.chdir(tmp_path)
    result = invoke(cli_env(cfg), "status")
    assert result.exit_code == EXIT_CONFIG, result.exception
    [line] = operator_lines(result.stderr)
    assert f"there is no ledger at {tmp_path / 'ledger.db'};" in line
    assert not (tmp_path / "ledger.db").exists()


def test_read_only_command_never_migrates(tmp_path: Path) -> None:
    """An existing file without the schema is not migrated by `status` (exit 2, no table)."""
    ledger = tmp_path / "ledger.db"
    sqlite3.connect(ledger).close()
    cfg = write_config(tmp_path / "config.toml", "http://127.0.0.1:9/x", ledger)
    result = invoke(cli_env(cfg), "status")
    assert result.exit_code == EXIT_CONFIG
    assert "has no schema yet" in operator_lines(result.stderr)[0]
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        assert db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def _damage(ledger: Path, how: str) -> None:
    """Spoil a ledger file as a failing disk or a stray copy does: its header (not a database
    any more) or every page but the first, which holds the schema (a malformed database)."""
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
    data = bytearray(ledger.read_bytes())
    if how == "header":
        data[:16] = b"not a ledger\0\0\0\0"
    else:
        for start in range(page_size, len(data), page_size):
            data[start : start + 64] = b"\xff" * 64
    ledger.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["header", "page"])
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["sync"], id="sync"),
        pytest.param(["status"], id="status"),
        pytest.param(["runs", "list"], id="runs-list"),
        pytest.param(["db", "backup", "{backup}"], id="db-backup"),
    ],
)
def test_a_damaged_ledger_file_says_to_restore_it(
    tmp_path: Path, how: str, args: list[str]
) -> None:
    """A ledger file that is no database any more, or a malformed one: exit 74, one line that
    says the ledger is damaged and to restore the last backup (it said to check the directory,
    the disk and other programs' locks; `db backup` blamed the backup's directory), no
    traceback, and the file is left exactly as it was."""
    ledger = tmp_path / "ledger.db"
    cfg = write_config(tmp_path / "config.toml", "http://127.0.0.1:9/x", ledger)
    assert invoke(cli_env(cfg), "db", "upgrade").exit_code == EXIT_OK
    _damage(ledger, how)
    before = ledger.read_bytes()
    backup = tmp_path / "backup.db"
    result = invoke(cli_env(cfg), *(a.format(backup=backup) for a in args))
    assert result.exit_code == EXIT_IO, result.stderr
    [line] = operator_lines(result.stderr)
    assert str(ledger) in line
    assert "damaged" in line and "restore" in line and "db backup" in line
    assert "writable" not in line and "cannot write the backup" not in line
    assert "Traceback" not in result.stderr
    assert ledger.read_bytes() == before
    assert not backup.exists()


def test_read_only_open_refuses_writes(ledger: Ledger) -> None:
    """`open_ledger(read_only=True)` reads, and a write fails (SQLite `mode=ro`, PostgreSQL
    read-only transactions); a ledger without schema is `LedgerMissing`, never migrated."""
    with open_ledger(ledger.url, read_only=True) as ro:
        with ro.reading() as session:
            assert session.scalar(select(func.count()).select_from(TaskRow)) == 0
        with pytest.raises(LedgerError), ro.transaction() as session:
            session.execute(text("DELETE FROM task"))


def test_read_only_open_of_an_empty_database(ledger_url: str) -> None:
    """A database without the schema opened read-only: `LedgerMissing`, and still no schema."""
    if ledger_url.startswith("sqlite"):
        Path(ledger_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        sqlite3.connect(ledger_url.removeprefix("sqlite:///")).close()
    with pytest.raises(LedgerMissing):
        open_ledger(ledger_url, read_only=True)
    with pytest.raises(LedgerMissing):
        open_ledger(ledger_url, read_only=True)  # the first attempt created nothing


def _private_mounts() -> bool:
    """Whether this machine lets a test mount in a private namespace (root, util-linux)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


needs_mounts = pytest.mark.skipif(
    not _private_mounts(), reason="needs root and `unshare -m` to mount in a private namespace"
)


def in_namespace(setup: str, argv: list[str], env: dict[str, str], cwd: Path) -> Any:
    """Run `argv` after the shell `setup` in a private mount namespace; its mounts die with it."""
    script = f'{setup} && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )


@needs_mounts
def test_read_only_file_system(tmp_path: Path) -> None:
    """On a read-only file system, `status`, `report` and `tasks list` read an existing ledger
    (exit 0); `sync` stops with one line and exit 74."""
    data = tmp_path / "data"
    config = SimulatorConfig(tasks=30, seed=6, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(tmp_path / "etc" / "config.toml", sim.base_url, data / "ledger.db")
        env = cli_env(cfg, sim)
        assert invoke(env, "sync").exit_code == EXIT_OK
        read_only = f"mount --bind {data} {data} && mount -o remount,bind,ro {data}"
        for args in (["status"], ["report"], ["tasks", "list"], ["tasks", "show", "0"]):
            done = in_namespace(
                read_only,
                [str(CLI), "--log-format", "json", *args, "--format", "json"],
                env,
                tmp_path,
            )
            if args[-1] == "0":
                assert done.returncode == 4, done.stderr[-1500:]
                continue
            assert done.returncode == EXIT_OK, (args, done.stderr[-1500:])
            assert json.loads(done.stdout)
        sync = in_namespace(read_only, [str(CLI), "--log-format", "json", "sync"], env, tmp_path)
    assert sync.returncode == EXIT_IO, sync.stderr[-1500:]
    lines = operator_lines(sync.stderr)
    assert len(lines) == 1 and "Read-only file system" in lines[0], lines
    assert "Traceback" not in sync.stderr


@needs_mounts
def test_full_ledger_disk_is_exit_74_with_committed_counts(tmp_path: Path) -> None:
    """The ledger's disk fills up mid-sync: one `error:` line, exit 74, no traceback; the run's
    summary event counts only the tasks the ledger committed."""
    data = tmp_path / "data"
    data.mkdir()
    saved = tmp_path / "saved"
    saved.mkdir()
    config = SimulatorConfig(tasks=600, seed=9, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(tmp_path / "etc" / "config.toml", sim.base_url, data / "ledger.db")
        cfg.write_text(cfg.read_text().replace("[retry]", "page_size = 25\n[retry]"))
        env = cli_env(cfg, sim)
        setup = f"mount -t tmpfs -o size=3m tmpfs {data}"
        script = f'{setup} && "$@"; rc=$?; cp -a {data}/. {saved}/; exit $rc'
        full = subprocess.run(
            ["unshare", "-m", "sh", "-c", script, "sh", str(CLI), "--log-format", "json", "sync"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=600,
            check=False,
        )
    assert full.returncode == EXIT_IO, full.stderr[-2000:]
    lines = operator_lines(full.stderr)
    assert len(lines) == 1 and "full" in lines[0], lines
    assert "Traceback" not in full.stderr
    assert integrity_check(saved / "ledger.db") == "ok"
    with contextlib.closing(connect_ro(saved / "ledger.db")) as db:
        stored = db.execute("SELECT count(*) FROM task").fetchone()[0]
    finished = events_named(events_in(full.stderr), "run_finished")
    assert len(finished) == 1
    assert finished[0]["inserted"] == stored
    assert 0 < stored < 600
