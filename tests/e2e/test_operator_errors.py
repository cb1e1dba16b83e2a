"""What the operator sees when something goes wrong: one line, the documented exit code, no
secret and no traceback on the terminal, and a log that survives a full disk.

The CLI is driven as the README documents it (`CliRunner` in-process, or the installed console
script through `tests.support.harness`); echoing servers are tiny loopback servers.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from cli import EXIT_CONFIG, EXIT_INTERNAL, EXIT_IO, EXIT_NOT_FOUND, EXIT_OK, EXIT_SOURCE, app
from simulator import Faults, Simulator, SimulatorConfig
from simulator.world import generate_world
from tests.support.harness import ROOT

TODAY = date(2022, 3, 7)


# -- helpers -----------------------------------------------------------------------------------


def invoke(env: dict[str, str], *args: str, fmt: str = "json") -> Any:
    """Run the CLI in-process (stdin, stdout and stderr are not terminals, as under cron)."""
    result = CliRunner().invoke(app, ["--log-format", fmt, *args], env=env)
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream
    return result


def operator_lines(stderr: str) -> list[str]:
    """The lines of stderr that are not JSON log events: what the operator reads."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def write_config(home: Path, base_url: str, *, auth: str = "session", extra: str = "") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "config.toml"
    cfg.write_text(
        f'[source]\nbase_url = "{base_url}"\nauth = "{auth}"\n'
        "[retry]\nmax_attempts = 2\ninitial_wait = 0.01\nmax_wait = 0.02\ntotal_budget = 1\n"
        f'[ledger]\nurl = "sqlite:///{home / "ledger.db"}"\n' + extra,
        encoding="utf-8",
    )
    cfg.chmod(0o600)
    return cfg


# -- an echoing server -------------------------------------------------------------------------

SESSION_COOKIE = "Sess-Cookie-9d2f7a41c0"


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with 400 and a message that echoes what it was sent."""

    mode = "form"  # "form": the login form comes back; "headers": the request headers do

    def _answer(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        if self.path.endswith("/auth/login.cpx"):
            if self.server.mode == "form":  # type: ignore[attr-defined]
                self._answer(400, {"error": "bad_request", "message": f"cannot parse {raw}"}, {})
            else:
                cookie = f"JSESSIONID={SESSION_COOKIE}; Path=/; HttpOnly"
                self._answer(200, {"ok": True}, {"Set-Cookie": cookie})
            return
        echoed = "; ".join(f"{k}: {v}" for k, v in self.headers.items())
        self._answer(400, {"error": "bad_request", "message": f"echo {echoed}"}, {})

    do_GET = do_POST

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[ThreadingHTTPServer]:
    """A loopback server that echoes the login form or the request headers in its errors."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.mode = "form"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _echo_env(
    tmp_path: Path, server: ThreadingHTTPServer, auth: str, secret: str
) -> dict[str, str]:
    base = f"http://127.0.0.1:{server.server_address[1]}/ubnd/smartcloud"
    cfg = write_config(tmp_path, base, auth=auth)
    key = "PASSWORD" if auth == "session" else "TOKEN"
    return {"IDESK_CONNECTOR_CONFIG": str(cfg), f"IDESK_CONNECTOR__SOURCE__{key}": secret}


# -- never a secret on the terminal ------------------------------------------------------------


@pytest.mark.parametrize("command", ["pull", "sync", "check"])
def test_echoed_login_form_never_reaches_the_terminal(
    tmp_path: Path, echo_server: ThreadingHTTPServer, command: str
) -> None:
    """A server echoing `password=…` from the login form: the error line and check's table
    show `password=***`, never the password (exit 3)."""
    secret = "Echo-Form-Pw-51c8e2"
    env = _echo_env(tmp_path, echo_server, "session", secret)
    result = invoke(env, command)
    assert result.exit_code == EXIT_SOURCE
    assert secret not in result.stdout + result.stderr
    shown = result.stdout if command == "check" else "\n".join(operator_lines(result.stderr))
    assert "password=***" in shown


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_echoed_bearer_token_never_reaches_the_terminal(
    tmp_path: Path, echo_server: ThreadingHTTPServer, fmt: str
) -> None:
    """A server echoing the `Authorization: Bearer …` header: neither `check` (table or JSON)
    nor the error line of `pull` shows the token."""
    echo_server.mode = "headers"  # type: ignore[attr-defined]
    secret = "Echo-Bearer-Tok-7e3b90aa"
    env = _echo_env(tmp_path, echo_server, "token", secret)
    checked = invoke(env, "check", "--format", fmt)
    pulled = invoke(env, "pull")
    assert checked.exit_code == pulled.exit_code == EXIT_SOURCE
    for result in (checked, pulled):
        assert secret not in result.stdout + result.stderr
    assert "Bearer ***" in checked.stdout
    if fmt == "json":
        details = [s["detail"] for s in json.loads(checked.stdout)["steps"]]
        assert any("Bearer ***" in d for d in details)


def test_echoed_session_cookie_is_a_secret_everywhere(
    tmp_path: Path, echo_server: ThreadingHTTPServer
) -> None:
    """The session cookie (JSESSIONID) echoed back: not in the error line, check's output, the
    JSON log, or the run recorded in the ledger."""
    echo_server.mode = "headers"  # type: ignore[attr-defined]
    env = _echo_env(tmp_path, echo_server, "session", "Echo-Cookie-Pw-0b77")
    checked = invoke(env, "check", "--format", "json")
    pulled = invoke(env, "pull")
    assert checked.exit_code == pulled.exit_code == EXIT_SOURCE
    for result in (checked, pulled):
        assert SESSION_COOKIE not in result.stdout + result.stderr
    assert "JSESSIONID=***" in "\n".join(operator_lines(pulled.stderr))
    errors = invoke(env, "runs", "list", "--format", "json")
    assert errors.exit_code == EXIT_OK
    assert SESSION_COOKIE not in errors.stdout
    assert (tmp_path / "ledger.db").read_bytes().find(SESSION_COOKIE.encode()) == -1


# -- a log file that cannot be written ---------------------------------------------------------


@pytest.mark.parametrize(
    "log_file",
    [
        pytest.param("/dev/full", id="disk-full"),
        pytest.param("{home}/not-a-dir/connector.log", id="unwritable-path"),
    ],
)
def test_unwritable_log_file_falls_back_to_stderr(tmp_path: Path, log_file: str) -> None:
    """A full disk or an unwritable log.file: one warning on stderr, and the run goes on (the
    sync completes with exit 0, every event still on stderr)."""
    (tmp_path / "not-a-dir").write_text("a file where a directory should be")
    config = SimulatorConfig(tasks=40, seed=3, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        path = log_file.format(home=tmp_path)
        extra = f'[log]\nfile = "{path}"\n[push]\nrate_per_second = 500.0\n'
        cfg = write_config(tmp_path, sim.base_url, extra=extra)
        env = {
            "IDESK_CONNECTOR_CONFIG": str(cfg),
            "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
        }
        result = invoke(env, "sync", "--format", "json")
    assert result.exit_code == EXIT_OK, result.stderr[-2000:]
    assert json.loads(result.stdout)["outcome"] == "success"
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    warnings = [e for e in events if e["event"] == "log_file_unwritable"]
    assert len(warnings) == 1 and warnings[0]["path"] == path
    assert "run_finished" in {e["event"] for e in events}
    assert operator_lines(result.stderr) == []


# -- one line and exit 2, never a traceback ----------------------------------------------------


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A deployment with a synced ledger (the simulator stays up for the module)."""
    home = tmp_path_factory.mktemp("operator")
    config = SimulatorConfig(tasks=60, seed=11, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(home, sim.base_url, extra="[push]\nrate_per_second = 500.0\n")
        env = {
            "IDESK_CONNECTOR_CONFIG": str(cfg),
            "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
        }
        assert invoke(env, "sync").exit_code == EXIT_OK
        ids = [
            t["id"]
            for t in json.loads(invoke(env, "tasks", "list", "--format", "json").stdout)["tasks"]
        ]
        yield {"env": env, "home": home, "ids": ids, "sim": sim}


BAD_INPUT = [
    pytest.param(["tasks", "show", "99999999999999999999999"], id="task-id-too-big"),
    pytest.param(["report", "--as-of", "9999-12-31"], id="report-9999"),
    pytest.param(["report", "--as-of", "2100-01-01"], id="report-2100"),
    pytest.param(["report", "--as-of", "0001-01-01"], id="report-0001"),
    pytest.param(["tasks", "show", "{id}", "--as-of", "9999-12-31"], id="show-9999"),
    pytest.param(["tasks", "show", "{id}", "--as-of", "2100-01-01"], id="show-2100"),
    pytest.param(["tasks", "show", "{id}", "--as-of", "0001-01-01"], id="show-0001"),
    pytest.param(["alerts", "preview", "--as-of", "9999-12-31"], id="preview-9999"),
    pytest.param(["alerts", "preview", "--as-of", "2100-01-01"], id="preview-2100"),
    pytest.param(["alerts", "preview", "--as-of", "0001-01-01"], id="preview-0001"),
    pytest.param(["calendar", "1800-01-01..1800-12-31"], id="calendar-1800"),
    pytest.param(["report", "--format", "csv", "--annex", "nope"], id="annex-unknown"),
    pytest.param(["report", "--format", "json", "--annex", "late"], id="annex-json"),
    pytest.param(["report", "--format", "md", "--annex", "overdue"], id="annex-md"),
    pytest.param(["report", "--annex", "stale"], id="annex-table"),
    pytest.param(["tasks", "list", "--limit", "-5"], id="tasks-limit-negative"),
    pytest.param(["outbox", "list", "--limit", "-5"], id="outbox-limit-negative"),
    pytest.param(["runs", "list", "--limit", "-5"], id="runs-limit-negative"),
    pytest.param(["tasks", "list", "--unit", "XYZ"], id="tasks-unknown-unit"),
    pytest.param(["report", "--unit", "XYZ"], id="report-unknown-unit"),
    pytest.param(["report", "--period", "open", "--basis", "completed"], id="basis-with-open"),
    pytest.param(["report", "--period", "2022-05-30..2022-01-01"], id="range-backwards"),
    pytest.param(["report", "--format", "docx"], id="docx-without-output"),
]


@pytest.mark.parametrize("args", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_2(synced: dict[str, Any], args: list[str]) -> None:
    """Input the connector cannot use is refused with one `error:` line and exit 2, never a
    traceback (exit 1)."""
    argv = [a.format(id=synced["ids"][0]) for a in args]
    result = invoke(synced["env"], *argv)
    assert result.exit_code == EXIT_CONFIG, (result.exception, result.stderr[-1500:])
    lines = operator_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.stderr


def test_annex_names_of_the_help_are_accepted(synced: dict[str, Any]) -> None:
    """`report --format csv --annex stale` (the name the help gives) writes that annex."""
    short = invoke(synced["env"], "report", "--format", "csv", "--annex", "stale")
    full = invoke(synced["env"], "report", "--format", "csv", "--annex", "stale_no_deadline")
    assert short.exit_code == full.exit_code == EXIT_OK
    assert short.stdout == full.stdout
    assert short.stdout.splitlines()[0].split(",")[-1] != ""


def test_missing_config_file_is_named_once(tmp_path: Path) -> None:
    """A --config file that does not exist: one line naming the file once, exit 2."""
    missing = tmp_path / "nope.toml"
    result = invoke({}, "--config", str(missing), "status")
    assert result.exit_code == EXIT_CONFIG
    assert operator_lines(result.stderr) == [f"error: {missing}: config file does not exist"]


def test_config_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """--config naming a directory: one line and exit 2 (it was read as no file at all and
    every default applied, the ledger looked for in the working directory)."""
    result = invoke({}, "--config", str(tmp_path), "status")
    assert result.exit_code == EXIT_CONFIG, result.exception
    assert operator_lines(result.stderr) == [
        f"error: {tmp_path}: is not a file; give the config file's path"
    ]


def test_config_file_not_in_utf8_is_a_configuration_error(tmp_path: Path) -> None:
    """A config file saved as UTF-16: one line naming it and exit 2 (it was an internal error,
    exit 70); one saved as UTF-8 with a byte order mark (Notepad) is read."""
    text = f'[ledger]\nurl = "sqlite:///{tmp_path / "ledger.db"}"\n'
    utf16 = tmp_path / "utf16.toml"
    utf16.write_bytes(text.encode("utf-16"))
    utf16.chmod(0o600)
    result = invoke({}, "--config", str(utf16), "db", "current")
    assert result.exit_code == EXIT_CONFIG, result.exception
    assert operator_lines(result.stderr) == [
        f"error: {utf16}: is not UTF-8 text (byte 0); save it as UTF-8"
    ]
    bom = tmp_path / "bom.toml"
    bom.write_bytes(text.encode("utf-8-sig"))
    bom.chmod(0o600)
    result = invoke({}, "--config", str(bom), "db", "upgrade")
    assert result.exit_code == EXIT_OK, (result.exception, result.stderr[-600:])
    assert (tmp_path / "ledger.db").exists()


def test_malformed_ledger_url_is_a_configuration_error(synced: dict[str, Any]) -> None:
    """`ledger.url = postgresql://idesk@[::1:5432/idesk` is refused in one line (exit 2)."""
    env = {**synced["env"], "IDESK_CONNECTOR__LEDGER__URL": "postgresql://idesk@[::1:5432/idesk"}
    for args in (["status"], ["sync"], ["db", "upgrade"], ["report"]):
        result = invoke(env, *args)
        assert result.exit_code == EXIT_CONFIG, (args, result.exception)
        lines = operator_lines(result.stderr)
        assert len(lines) == 1 and "ledger.url" in lines[0], lines


def test_task_not_in_the_ledger_is_exit_4(synced: dict[str, Any]) -> None:
    """`tasks show` of an id the ledger does not hold: one line and exit 4 (not found), not 1."""
    missing = max(synced["ids"]) + 1000
    result = invoke(synced["env"], "tasks", "show", str(missing))
    assert result.exit_code == EXIT_NOT_FOUND
    assert operator_lines(result.stderr) == [
        f"error: task {missing} is not in the ledger; `idesk-connector tasks list` lists the "
        "tasks it holds"
    ]


def test_outbox_row_not_in_the_ledger_is_exit_4(synced: dict[str, Any]) -> None:
    """`outbox retry` of an id the outbox does not hold: one line and exit 4 (not found, as for
    a task), not 1 (finished with problems)."""
    result = invoke(synced["env"], "outbox", "retry", "999999999")
    assert result.exit_code == EXIT_NOT_FOUND, (result.exception, result.stderr[-800:])
    assert operator_lines(result.stderr) == [
        "error: no outbox row with id 999999999; `idesk-connector outbox list` lists the rows"
    ]


def test_outbox_retry_of_a_sent_row_is_a_usage_error(synced: dict[str, Any]) -> None:
    """`outbox retry` of a row already sent: one line and exit 2 (a usage error, nothing to
    retry), not 1 (that says a run finished with problems); the row stays sent."""
    listed = invoke(synced["env"], "outbox", "list", "--state", "sent", "--limit", "1")
    row = json.loads(
        invoke(synced["env"], "outbox", "list", "--state", "sent", "--format", "json").stdout
    )["rows"][0]
    assert listed.exit_code == EXIT_OK
    result = invoke(synced["env"], "outbox", "retry", str(row["id"]))
    assert result.exit_code == EXIT_CONFIG, (result.exception, result.stderr[-800:])
    assert operator_lines(result.stderr) == [
        f"error: outbox row {row['id']} ({row['key']}) is sent; only dead, failed or past rows "
        "can be retried"
    ]
    again = json.loads(
        invoke(synced["env"], "outbox", "list", "--state", "sent", "--format", "json").stdout
    )["rows"][0]
    assert again["id"] == row["id"] and again["state"] == "sent"


# -- internal errors: exit 70, the traceback in the log only -----------------------------------

_PLANTED_BUG = """
import sys
import cli
import connector.views.status

def boom(*args, **kwargs):
    raise RuntimeError("planted bug password=Planted-Pw-33 in status_summary")

connector.views.status.status_summary = boom
sys.argv = ["idesk-connector", *sys.argv[1:]]
cli.app(prog_name="idesk-connector")
"""


def _run_on_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal, as an admin at the console; the screen."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, cwd=ROOT
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def _refused_url() -> str:
    """A loopback URL where nothing listens (a port bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ubnd/smartcloud"


def test_check_and_sync_on_a_terminal_against_a_refused_port(tmp_path: Path) -> None:
    """On a terminal, against a port where nothing listens: `check` says "connection refused at
    <base_url>" at its `reach` step and stops there (no login, no retries), `sync` prints its
    error once; neither prints an info event (calendar_loaded, ledger_migrated, run_finished)."""
    base = _refused_url()
    cfg = write_config(tmp_path, base)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
        "IDESK_CONNECTOR_CONFIG": str(cfg),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": "Refused-Pw-1",
        "COLUMNS": "200",
        "TERM": "xterm",
    }
    program = [sys.executable, "-m", "cli"]
    code, screen = _run_on_a_terminal([*program, "check", "--lang", "en"], env)
    assert code == EXIT_SOURCE, screen
    failed = [line for line in screen.splitlines() if line.startswith("[FAIL]")]
    assert len(failed) == 1 and "reach" in failed[0], screen
    assert f"connection refused at {base}" in failed[0]
    assert "login" not in screen and "source_retry_wait" not in screen
    code, screen = _run_on_a_terminal([*program, "sync"], env)
    assert code == EXIT_SOURCE, screen
    assert len([line for line in screen.splitlines() if "did not answer" in line]) == 1, screen
    for quiet in ("calendar_loaded", "ledger_migrated", "run_finished", "run_started"):
        assert quiet not in screen, screen


HOSTILE_TAIL = " \x1b]0;pwned\x07\x1b[2J\x9b31m \u202eRLO"
"""What a clerk's paste can add to a subject: a title-setting OSC ended by a bell, a screen
clear, an 8-bit CSI and a right-to-left override."""


def test_csv_and_md_on_a_terminal_print_no_control_character(tmp_path: Path) -> None:
    """`report --format csv` (and md) on a terminal: the source's escape sequences in the
    subjects are shown (``\\x1b``), never run (a screen clear, a window title); piped, the CSV
    keeps the text as stored."""
    world = generate_world(seed=11, tasks=40, today=TODAY)
    for key, record in list(world.tasks.items()):
        world.put_record(key, {**record, "subject": str(record["subject"]) + HOSTILE_TAIL})
    config = SimulatorConfig(world=world, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(tmp_path, sim.base_url)
        env = {
            "IDESK_CONNECTOR_CONFIG": str(cfg),
            "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
        }
        assert invoke(env, "pull").exit_code == EXIT_OK
    piped = invoke(env, "report", "--format", "csv", "--annex", "overdue")
    assert piped.exit_code == EXIT_OK and HOSTILE_TAIL in piped.stdout
    term = {**os.environ, **env, "COLUMNS": "200", "TERM": "xterm"}
    program = [sys.executable, "-m", "cli", "--log-format", "json"]
    for fmt in ("csv", "md"):
        argv = [*program, "report", "--format", fmt, *(["--annex", "overdue"] * (fmt == "csv"))]
        code, screen = _run_on_a_terminal(argv, term)
        assert code == EXIT_OK, screen
        assert "pwned" in screen and "RLO" in screen, screen[-2000:]
        found = re.findall("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e]", screen)
        assert not found, (fmt, sorted(set(found)))


@pytest.mark.parametrize("command", ["sync", "pull"])
def test_a_run_that_fails_answers_its_json_with_the_error(tmp_path: Path, command: str) -> None:
    """`sync`/`pull --format json` stopped by an error (nothing listens: exit 3) print
    `{"command", "error", "exit_code"}` on stdout, as a failed source of a [[sources]] config
    does, and the message on stderr (stdout was empty: a script had no JSON to read)."""
    cfg = write_config(tmp_path, _refused_url())
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
        "IDESK_CONNECTOR_CONFIG": str(cfg),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": "Refused-Pw-2",
    }
    done = subprocess.run(
        [sys.executable, "-m", "cli", "--log-level", "error", command, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == EXIT_SOURCE, done.stderr
    answer = json.loads(done.stdout)
    assert answer == {"command": command, "error": answer["error"], "exit_code": EXIT_SOURCE}
    assert "127.0.0.1" in answer["error"]
    assert f"error: {answer['error']}" in done.stderr
    assert "Refused-Pw-2" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args", [["report"], ["status"], ["runs", "list"]], ids=["report", "status", "runs-list"]
)
def test_tables_fit_an_80_column_terminal(synced: dict[str, Any], args: list[str]) -> None:
    """On an 80-column terminal `report`, `status` and `runs list` print no line wider than the
    terminal (`report` was printed 120 wide whatever the terminal, so the terminal wrapped every
    line of it)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
        **synced["env"],
        "COLUMNS": "80",
        "LINES": "40",
        "TERM": "xterm",
    }
    code, screen = _run_on_a_terminal([sys.executable, "-m", "cli", *args], env)
    assert code == EXIT_OK, screen
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    wide = [line for line in plain.splitlines() if len(line.rstrip("\r ")) > 80]
    assert wide == [], "\n".join(wide[:5])


def test_internal_error_on_a_terminal_is_one_line_exit_70(synced: dict[str, Any]) -> None:
    """A bug (an unexpected exception) on a terminal: exit 70, one line naming the log file, no
    traceback on the screen; the traceback is in log.file, without the secret."""
    log_file = synced["home"] / "internal.log"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
        **synced["env"],
        "IDESK_CONNECTOR__LOG__FILE": str(log_file),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": "Planted-Pw-33",
        "COLUMNS": "200",
    }
    code, screen = _run_on_a_terminal([sys.executable, "-c", _PLANTED_BUG, "status"], env)
    assert code == EXIT_INTERNAL, screen
    assert "Traceback" not in screen and "Planted-Pw-33" not in screen
    errors = [line for line in screen.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "internal error" in errors[0] and str(log_file) in errors[0]
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    crash = [e for e in events if e["event"] == "internal_error"]
    assert len(crash) == 1 and "Traceback" in crash[0]["exception"]
    assert "Planted-Pw-33" not in log_file.read_text()


def test_internal_error_under_cron_keeps_the_traceback_in_the_json_log(
    synced: dict[str, Any],
) -> None:
    """Under cron (stderr is the log file of the README's cron line) a bug exits 70; the
    traceback is one JSON event, never raw lines; one `error:` line for the operator."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
        **synced["env"],
    }
    proc = subprocess.run(
        [sys.executable, "-c", _PLANTED_BUG, "status"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == EXIT_INTERNAL
    lines = operator_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: internal error"), lines
    crash = [json.loads(x) for x in proc.stderr.splitlines() if '"internal_error"' in x]
    assert len(crash) == 1 and "RuntimeError" in crash[0]["exception"]
    assert "Planted-Pw-33" not in proc.stderr


def test_report_on_a_full_disk_is_an_io_error(synced: dict[str, Any]) -> None:
    """`report --output` onto a full disk (/dev/full): one line and exit 74, not a traceback."""
    result = invoke(synced["env"], "report", "--format", "csv", "--output", "/dev/full")
    assert result.exit_code == EXIT_IO, result.exception
    lines = operator_lines(result.stderr)
    assert len(lines) == 1 and "/dev/full" in lines[0] and "No space left" in lines[0], lines


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_report_output_under_a_file_names_that_file(
    synced: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    """`report --output` whose directory would be under a file: exit 74, one line naming the
    output and the file in its way (it said "cannot read or write <file>: File exists")."""
    blocking = tmp_path / "reports"
    blocking.write_text("not a directory", encoding="utf-8")
    output = blocking / "2022" / f"r.{fmt}"
    result = invoke(synced["env"], "report", "--format", fmt, "--output", str(output))
    assert result.exit_code == EXIT_IO, result.exception
    assert operator_lines(result.stderr) == [
        f"error: cannot read or write {output}: {blocking} is a file, not a directory"
    ]
    assert blocking.read_text(encoding="utf-8") == "not a directory"


@pytest.mark.parametrize("fmt", ["table", "xlsx"])
def test_report_output_that_is_a_directory_is_refused_before_the_report(
    synced: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    """`report --output DIR`: exit 2 before the report is made (as `db backup DIR` is), one
    line suggesting a file in it (it made the report, then exit 74 "Is a directory")."""
    result = invoke(synced["env"], "report", "--format", fmt, "--output", str(tmp_path))
    assert result.exit_code == EXIT_CONFIG, result.exception
    suffix = "txt" if fmt == "table" else fmt
    assert operator_lines(result.stderr) == [
        f"error: --output {tmp_path} is a directory; give a file name, e.g. "
        f"--output {tmp_path / ('bao-cao.' + suffix)}"
    ]
    assert '"report_built"' not in result.stderr
    assert list(tmp_path.iterdir()) == []


# -- the README says the same ------------------------------------------------------------------


def _exit_table() -> dict[int, str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", section, re.M)}


def test_readme_exit_table_lists_every_code() -> None:
    """Every exit code the CLI uses is in the README's table, and only those."""
    import cli

    codes = {v for k, v in vars(cli).items() if k.startswith("EXIT_") and isinstance(v, int)}
    assert set(_exit_table()) == codes


def test_readme_systemd_unit_fails_on_errors() -> None:
    """The README's systemd unit counts only 'problems' (1) and 'lock held' (75) as success:
    configuration, source, not-found, internal and ledger I/O errors fail the unit; it waits
    for the network (Wants= and After=)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    head, service = readme.split("[Service]", 1)
    unit = service.split("[Install]", 1)[0]
    found = re.search(r"^SuccessExitStatus=(.*)$", unit, re.M)
    assert found is not None
    assert set(found[1].split()) == {"1", "75"}
    # After= alone does not wait for the network: the unit must also pull it in.
    section = head.rsplit("[Unit]", 1)[1]
    assert "Wants=network-online.target" in section and "After=network-online.target" in section


def test_a_sync_whose_reader_goes_away_still_finishes_and_is_recorded(tmp_path: Path) -> None:
    """`sync -v 2>&1 | head -1`: stdout and stderr are one pipe whose reader stops after the
    first line. The run goes on to the end (its log lines are dropped; it was stopped, recorded
    `failed`, by the first line that could not be written), is recorded `success`, and the
    command ends with the I/O exit code 74 since its summary could not be printed."""
    config = SimulatorConfig(tasks=60, seed=5, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        cfg = write_config(tmp_path, sim.base_url, extra="[push]\nrate_per_second = 500.0\n")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")},
            "IDESK_CONNECTOR_CONFIG": str(cfg),
            "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
        }
        read, write = os.pipe()
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "--log-format", "json", "-v", "sync"],
            env=env,
            stdout=write,
            stderr=write,
        )
        os.close(write)
        with os.fdopen(read, "rb") as reader:
            first = reader.readline()  # then the reader goes away, as head does
        assert json.loads(first)["event"]
        assert proc.wait(timeout=120) == EXIT_IO
        runs = json.loads(invoke(env, "runs", "list", "--format", "json").stdout)["runs"]
    assert [(r["command"], r["outcome"]) for r in runs] == [("sync", "success")]


# -- a PostgreSQL ledger that refuses the password ---------------------------------------------


@pytest.mark.postgres
def test_wrong_postgresql_password_is_a_configuration_error(
    tmp_path: Path, pg_cluster: Any, pg_database: str
) -> None:
    """A PostgreSQL ledger refusing the password (PGPASSWORD, or one in ledger.url) is a
    configuration error: exit 2, one line naming ledger.url and PGPASSWORD / ~/.pgpass, the
    password nowhere in the output; a server that is down stays exit 74; the right password
    works."""
    role = pg_cluster.password_role("idesk_pw", "right-pw-5")
    url = f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{pg_database}"
    cfg = write_config(tmp_path, "http://127.0.0.1:9/ubnd/smartcloud")
    base = {
        "IDESK_CONNECTOR_CONFIG": str(cfg),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": "source-pw-1",
        "IDESK_CONNECTOR__LEDGER__URL": url,
    }
    in_url = url.replace(f"{role}@", f"{role}:wrong-pw-8@")
    for env, secret in (
        ({**base, "PGPASSWORD": "wrong-pw-7"}, "wrong-pw-7"),
        ({**base, "IDESK_CONNECTOR__LEDGER__URL": in_url}, "wrong-pw-8"),
    ):
        for args in (["status"], ["db", "upgrade"], ["sync"], ["report"]):
            result = invoke(env, *args)
            assert result.exit_code == EXIT_CONFIG, (args, result.exception, result.stderr[-800:])
            lines = operator_lines(result.stderr)
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)
            assert "ledger.url" in lines[0] and "PGPASSWORD" in lines[0], lines
            assert "~/.pgpass" in lines[0], lines
            assert secret not in result.stderr + result.stdout, args
    down = {**base, "IDESK_CONNECTOR__LEDGER__URL": url.replace(str(pg_cluster.port), "9")}
    assert invoke({**down, "PGPASSWORD": "right-pw-5"}, "status").exit_code == EXIT_IO
    assert invoke({**base, "PGPASSWORD": "right-pw-5"}, "db", "upgrade").exit_code == EXIT_OK
