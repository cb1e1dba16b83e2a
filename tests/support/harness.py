"""Shared pieces of the end-to-end suite: a deployment under test (config, secrets in the
environment, a SQLite ledger, a log file) around a loopback simulator, and readers of the truth
on both sides (the ledger's tables, read with plain sqlite3; the simulator's world, read with the
contract oracle of `tests.support.contract`; its notifications).

The connector runs as the installed console script ``.venv/bin/idesk-connector`` in a
subprocess (as cron would run it), or in-process through the library for the cheaper cases.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator import Simulator
from tests.support import ROOT, contract

CLI = Path(sys.executable).parent / "idesk-connector"


def at_default_sigint(argv: list[str]) -> list[str]:
    """`argv` run with SIGINT at its default, as Ctrl+C on a terminal finds it: a test run
    started in the background by a shell (``pytest ... &``) passes SIGINT on ignored, and a
    Python started with it ignored never raises KeyboardInterrupt, so a child stopped with
    SIGINT would run on."""
    restore = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    return [sys.executable, "-c", restore, *argv]
"""The console script of the venv running the tests."""

CANARY_PASSWORD = "Canary-Pw-7f3a9c!x y+z/="
CANARY_TOKEN = "canary-token-Q8vN2kL5mR1tZ6wY"


@dataclass
class Deployment:
    """One connector installation in a temporary directory, pointed at a simulator."""

    home: Path
    base_url: str
    auth: str = "token"
    username: str = "demo"
    password: str = ""
    token: str = ""
    read_timeout: float = 2.0
    source_toml: str = ""
    """Extra ``key = value`` lines for the ``[source]`` table."""
    extra_toml: str = ""
    """Extra tables appended to the config file."""
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.home / "config.toml"

    @property
    def ledger_path(self) -> Path:
        return self.home / "ledger.db"

    @property
    def ledger_url(self) -> str:
        return f"sqlite:///{self.ledger_path}"

    @property
    def log_path(self) -> Path:
        return self.home / "connector.log"

    @property
    def metrics_path(self) -> Path:
        return self.home / "metrics" / "idesk.prom"

    def write_config(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        text = (
            "[source]\n"
            f'base_url = "{self.base_url}"\n'
            f'auth = "{self.auth}"\n'
            f'username = "{self.username}"\n'
            "connect_timeout = 2\n"
            f"read_timeout = {self.read_timeout}\n"
            f"{self.source_toml}\n"
            "[retry]\n"
            "max_attempts = 3\n"
            "initial_wait = 0.05\n"
            "max_wait = 0.2\n"
            "total_budget = 5\n"
            "[ledger]\n"
            f'url = "{self.ledger_url}"\n'
            "[log]\n"
            f'file = "{self.log_path}"\n'
            "[metrics]\n"
            f'file = "{self.metrics_path}"\n'
        ) + self.extra_toml
        self.config_path.write_text(text, encoding="utf-8")
        self.config_path.chmod(0o600)
        return self.config_path

    def environ(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("IDESK_CONNECTOR") and k not in {"NO_PROGRESS"}
        }
        env["IDESK_CONNECTOR_CONFIG"] = str(self.config_path)
        if self.password:
            env["IDESK_CONNECTOR__SOURCE__PASSWORD"] = self.password
        if self.token:
            env["IDESK_CONNECTOR__SOURCE__TOKEN"] = self.token
        env.update(self.extra_env)
        return env

    def argv(self, *args: str) -> list[str]:
        return [str(CLI), "--log-format", "json", *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run one command to its end (stdin not a terminal: like cron)."""
        return subprocess.run(
            self.argv(*args),
            env=self.environ(),
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def popen(self, *args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            env=self.environ(),
            cwd=self.home,
            stdout=stdout,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )


# -- a fork server: the connector's start-up paid once, each run a fresh child process ---------

_ZYGOTE = r"""
import json, os, signal, sys, time, traceback
# The imports every run would pay for, done once here (imports only: no state is created).
import cli, connector.ops.jobs, connector.rules.calendar, connector.rules.alerts
import connector.outbox.planning, connector.outbox.delivery, connector.source.pull
import connector.views.status, connector.views.tasks, connector.views.check
import connector.reports.build, connector.reports.render.formats, rich.console, rich.table
import alembic.command, alembic.runtime.migration, holidays, sqlite3, psycopg

def child(req):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    fds = [os.open(os.devnull, os.O_RDONLY)]
    for path in (req["stdout"], req["stderr"]):
        fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    sys.argv = req["argv"]
    code = 1
    try:
        cli.app(prog_name="idesk-connector")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

reply = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "spawn":
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(req)
        answer = {"pid": pid}
    else:
        deadline = time.monotonic() + req["timeout"]
        status = None
        while True:
            done, raw = os.waitpid(req["pid"], os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(raw)
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.002)
        answer = {"status": status}
    reply.write(json.dumps(answer) + "\n")
    reply.flush()
"""


class ForkServer:
    """Runs the connector's CLI in fresh child processes forked from one pre-imported process.

    Each run is a real process of its own (its own PID, file descriptors, locks, signals; stdin
    /dev/null, stdout and stderr to files: as under cron) executing ``cli.app()`` with the given
    argv, environment and working directory; only the interpreter start-up and the imports are
    shared. It makes the 50+ SIGKILLs of the crash suite affordable (a run starts in ~20 ms
    instead of ~1.5 s). Send signals with `os.kill(pid, ...)`; reap with `wait`.
    """

    def __init__(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        self._live: set[int] = set()

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def spawn(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdout: Path, stderr: Path
    ) -> int:
        request = {
            "op": "spawn",
            "argv": list(argv),
            "env": dict(env),
            "cwd": str(cwd),
            "stdout": str(stdout),
            "stderr": str(stderr),
        }
        pid = int(self._ask(request)["pid"])
        self._live.add(pid)
        return pid

    def wait(self, pid: int, timeout: float) -> int | None:
        """The exit code (negative: killed by that signal), or None if still running."""
        status = self._ask({"op": "wait", "pid": pid, "timeout": timeout})["status"]
        if status is not None:
            self._live.discard(pid)
        return None if status is None else int(status)

    def close(self) -> None:
        for pid in list(self._live):  # only children this server started and has not reaped
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.wait(pid, 10)
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@dataclass
class Run:
    """One connector process started by `Launcher`."""

    launcher: Launcher
    pid: int
    stdout_path: Path
    stderr_path: Path
    popen: subprocess.Popen[bytes] | None = None
    returncode: int | None = None

    def wait(self, timeout: float) -> int | None:
        if self.returncode is None:
            if self.popen is not None:
                try:
                    self.returncode = self.popen.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    return None
            else:
                assert self.launcher.forks is not None
                self.returncode = self.launcher.forks.wait(self.pid, timeout)
        return self.returncode

    def signal(self, sig: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")


class Launcher:
    """Starts connector runs for a deployment: the console script, or children of a ForkServer."""

    def __init__(self, dep: Deployment, forks: ForkServer | None = None) -> None:
        self.dep = dep
        self.forks = forks
        self.count = 0
        (dep.home / "runs").mkdir(parents=True, exist_ok=True)
        self.out_dir = Path(
            tempfile.mkdtemp(prefix="fork-" if forks else "cli-", dir=dep.home / "runs")
        )

    def start(self, *args: str, env: Mapping[str, str] | None = None) -> Run:
        """Start one run; `env` adds variables for this run only."""
        self.count += 1
        environ = {**self.dep.environ(), **(env or {})}
        out = self.out_dir / f"{self.count:04d}.out"
        err = self.out_dir / f"{self.count:04d}.err"
        argv = self.dep.argv(*args)
        if self.forks is not None:
            out.touch()
            err.touch()  # the child opens them itself; they exist as soon as start returns
            pid = self.forks.spawn(argv, env=environ, cwd=self.dep.home, stdout=out, stderr=err)
            return Run(self, pid, out, err)
        with out.open("wb") as fo, err.open("wb") as fe:
            popen = subprocess.Popen(
                argv,
                env=environ,
                cwd=self.dep.home,
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
            )
        return Run(self, popen.pid, out, err, popen=popen)

    def run(self, *args: str, timeout: float = 120) -> Run:
        started = self.start(*args)
        if started.wait(timeout) is None:
            started.signal(signal.SIGKILL)
            started.wait(10)
            raise AssertionError(f"{args} did not finish within {timeout} s")
        return started


def deployment_for(sim: Simulator, home: Path, **kw: Any) -> Deployment:
    """A token-authenticated deployment against `sim` (override anything with keywords)."""
    kw.setdefault("token", sim.credentials.token)
    kw.setdefault("password", sim.credentials.password)
    dep = Deployment(home=home, base_url=sim.base_url, username=sim.credentials.username, **kw)
    dep.write_config()
    return dep


# -- reading the ledger (plain sqlite3: no connector code between the test and the file) -------


def connect_ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def integrity_check(path: Path) -> str:
    with connect_ro(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def ledger_tasks(path: Path) -> dict[int, dict[str, Any]]:
    with connect_ro(path) as conn:
        conn.row_factory = sqlite3.Row
        return {int(r["source_id"]): dict(r) for r in conn.execute("SELECT * FROM task")}


def ledger_rows(path: Path, table: str) -> list[dict[str, Any]]:
    with connect_ro(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]


def cursor_of(path: Path) -> str | None:
    if not path.exists():
        return None
    with connect_ro(path) as conn:
        try:
            row = conn.execute("SELECT cursor FROM sync_state").fetchone()
        except sqlite3.OperationalError:
            return None
    return None if row is None else str(row[0])


# -- the simulator's side ------------------------------------------------------------------------


def ledger_matches_world(path: Path, sim: Simulator) -> list[str]:
    """Differences between the ledger's task table and the simulator's world, each served
    record read by the contract oracle (`tests.support.contract`; empty: equal)."""
    truth: dict[int, contract.Expected] = {}
    for raw in sim.world.served(include_deleted=True):
        try:
            expected = contract.read(raw)
        except contract.Malformed:
            continue
        truth[expected.source_id] = expected
    rows = ledger_tasks(path)
    problems: list[str] = []
    missing = sorted(set(truth) - set(rows))
    if missing:
        problems.append(f"{len(missing)} task(s) missing from the ledger, e.g. {missing[:5]}")
    for source_id, expected in truth.items():
        row = rows.get(source_id)
        if row is not None:
            problems.extend(contract.row_problems(expected, row))
    return problems


def tracking_mismatches(path: Path, sim: Simulator) -> list[str]:
    """Live tasks whose tracking status at the source differs from the ledger's computed one."""
    rows = ledger_tasks(path)
    problems = []
    for raw in sim.world.served(include_deleted=False):
        row = rows.get(raw.get("id"))  # type: ignore[arg-type]
        if row is None or not row["status_code"] or row["deleted_at_source"]:
            continue
        if raw.get("trackingStatus") != row["status_code"]:
            problems.append(
                f"task {raw['id']}: source has {raw.get('trackingStatus')!r}, "
                f"ledger computed {row['status_code']!r}"
            )
    return problems


def duplicate_notifications(sim: Simulator) -> list[tuple[Any, ...]]:
    """Notifications the simulator created more than once for one (type, task, recipients)."""
    seen = Counter(
        (n.type, n.task_id, tuple(sorted(n.recipients)), n.title) for n in sim.notifications
    )
    return [key for key, count in seen.items() if count > 1]


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-empty line parsed as one JSON object (raises on a line that is not one)."""
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"line {number} is not one JSON event: {line[:200]!r}") from exc
        assert isinstance(event, dict), f"line {number} is not an object"
        events.append(event)
    return events


def events_in(text: str) -> list[dict[str, Any]]:
    """The JSON log events among a run's stderr lines (the CLI also prints one human line)."""
    return json_lines("\n".join(line for line in text.splitlines() if line.startswith("{")))


def events_named(events: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    return [e for e in events if e.get("event") == name]
