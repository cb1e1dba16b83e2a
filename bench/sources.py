"""Benchmark: several sources in one ledger (issue 16, "Scale").

Usage (see bench/README.md, "Several sources")::

    .venv/bin/python bench/sources.py --sources 4 --tasks 2k                  # PostgreSQL
    .venv/bin/python bench/sources.py --sources 20 --tasks 50k --json /tmp/sources.json
    .venv/bin/python bench/sources.py --sources 2 --tasks 200 --db sqlite

Serves S simulated document systems (seeds 1..S, faults and rate limit off) on loopback from
server processes of their own (``--per-server`` systems each, so that their worlds are not in
any measured process), starts a throwaway PostgreSQL cluster (``tests/support/pg.py``) or uses a
SQLite file, and names the S systems as ``[[sources]]`` ``s01`` .. ``sNN`` of one config. Then,
each step a run of the installed ``idesk-connector`` (what an operator runs) in a process of its
own (peak RSS: its own ``VmHWM``, read as it exits; wall and CPU time: ``wait4``):

1. fill: ``pull --full --source sK`` for each source in turn (does the k-th pull get slower, or
   bigger, as the ledger grows?);
2. ``pull --full --source s01`` again, into the full ledger (nothing changed at the source);
3. ``pull --source s01`` (incremental, nothing changed), then ``pull`` (incremental, every
   source one after the other): per source its run's time (``sync_run``) and its requests;
4. ``report --format json`` over every source, and with ``--source s01``;
5. ``tasks list --limit 50`` with and without ``--source s01``; ``status`` likewise;
6. the roll-up check: ``report --source`` of each source (of the first two beyond 4 sources)
   against ``report --source`` of them together (the totals must add up);
7. EXPLAIN of the key queries (PostgreSQL: ``EXPLAIN ANALYZE``; SQLite: ``EXPLAIN QUERY PLAN``).

On PostgreSQL, ``auto_explain`` logs the plan of every statement slower than
``--slow-ms`` (default 500 ms); the slow statements of each step are counted and kept.

Prints a table and writes every figure as JSON (``--json``). Exit 0 when every step ran, 1 when
the roll-up check failed (``report`` over several sources is not the sum of each source's own
report), 2 when the benchmark could not run. No time or memory is checked against a target: the
figures are read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXIT_OK, EXIT_ROLLUP_DIFFERS, EXIT_BROKEN = 0, 1, 2
PER_SERVER = 5
SLOW_MS = 500
LIST_LIMIT = 50


class BenchError(Exception):
    """The benchmark itself could not run (a step failed)."""


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_size(text: str) -> int:
    """``2000``, ``2_000`` or ``2k`` → 2000."""
    text = text.strip().lower().replace("_", "")
    try:
        value = int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (write 50000 or 50k)") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"a count must be positive, got {text!r}")
    return value


def source_name(index: int) -> str:
    """The k-th source's name (1-based): ``s01``, ``s02``, ..."""
    return f"s{index:02d}"


# -- the simulated systems, served from processes of their own -----------------------------------


def serve_group(spec: dict[str, Any]) -> int:
    """Child mode: serve a group of simulators, print their URLs as one JSON line, and serve
    until stdin closes."""
    from connector.ops.log import configure_logging  # noqa: PLC0415
    from simulator import Faults, Simulator, SimulatorConfig  # noqa: PLC0415

    configure_logging(level="warning", fmt="json", stream=sys.stderr)
    today = date.fromisoformat(spec["today"])
    sims = []
    served: dict[str, Any] = {}
    try:
        for tenant in spec["tenants"]:
            start = time.perf_counter()
            config = SimulatorConfig(
                tasks=int(tenant["tasks"]),
                seed=int(tenant["seed"]),
                today=today,
                faults=Faults.none(),
            )
            sim = Simulator(config).start()
            sims.append(sim)
            served[tenant["name"]] = {
                "base_url": sim.base_url,
                "username": sim.credentials.username,
                "password": sim.credentials.password,
                "world_s": round(time.perf_counter() - start, 3),
            }
        served["_rss_mib"] = _status_mib("VmRSS")
        sys.stdout.write(json.dumps(served) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        for sim in sims:
            sim.stop()
    return 0


def _status_mib(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


@dataclass
class Served:
    """The simulated systems: their URLs and credentials, and the processes serving them."""

    systems: dict[str, dict[str, Any]]
    processes: list[subprocess.Popen[str]]
    server_rss_mib: list[float | None]
    world_s: float

    def requests(self) -> dict[str, int]:
        """Requests each system has served so far (``GET /_sim/state``)."""
        counts = {}
        for name, system in self.systems.items():
            url = system["base_url"].split("/ubnd/")[0] + "/_sim/state"
            with urllib.request.urlopen(url, timeout=60) as answer:  # loopback only
                counts[name] = int(json.load(answer)["requests"]["total"])
        return counts

    def stop(self) -> None:
        for proc in self.processes:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def start_systems(sources: int, tasks: int, per_server: int, seed: int, today: date) -> Served:
    """S simulated systems (seeds seed..seed+S-1), `per_server` to a process."""
    names = [source_name(i + 1) for i in range(sources)]
    groups = [names[i : i + per_server] for i in range(0, sources, per_server)]
    start = time.perf_counter()
    processes = []
    for group in groups:
        spec = {
            "today": today.isoformat(),
            "tenants": [{"name": n, "seed": seed + names.index(n), "tasks": tasks} for n in group],
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    systems: dict[str, dict[str, Any]] = {}
    rss: list[float | None] = []
    served = Served(systems, processes, rss, 0.0)
    try:
        for proc in processes:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise BenchError(f"a simulator process ended before serving (exit {proc.wait()})")
            answer = json.loads(line)
            rss.append(answer.pop("_rss_mib"))
            systems.update(answer)
    except BaseException:
        served.stop()
        raise
    served.world_s = round(time.perf_counter() - start, 3)
    return served


# -- the ledger ----------------------------------------------------------------------------------


@dataclass
class Ledger:
    """The ledger's URL, a way to query it directly, and how to stop it."""

    db: str
    url: str
    cluster: Any = None
    path: Path | None = None
    database: str = "ledger"

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.cluster is not None:
            with self.cluster.connect(self.database) as conn:
                return list(conn.execute(sql.replace("?", "%s"), params).fetchall())
        assert self.path is not None
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            return list(conn.execute(sql, params).fetchall())

    def size_mib(self) -> float:
        if self.cluster is not None:
            size = self.rows("SELECT pg_database_size(current_database())")[0][0]
            return round(int(size) / 2**20, 1)
        assert self.path is not None
        extra = [Path(f"{self.path}{suffix}") for suffix in ("-wal", "-shm")]
        files = [self.path, *(p for p in extra if p.exists())]
        return round(sum(p.stat().st_size for p in files) / 2**20, 1)

    def version(self) -> str:
        if self.cluster is not None:
            return str(self.rows("SHOW server_version")[0][0])
        return sqlite3.sqlite_version

    def server_log(self) -> Path | None:
        return self.cluster.base_dir / "server.log" if self.cluster is not None else None

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


def start_ledger(db: str, work: Path, slow_ms: int) -> Ledger:
    if db == "sqlite":
        path = work / "ledger.db"
        return Ledger(db="sqlite", url=f"sqlite:///{path}", path=path)
    sys.path.insert(0, str(ROOT))
    from tests.support.pg import PostgresUnavailable, start_cluster  # noqa: PLC0415

    try:
        cluster = start_cluster()
    except PostgresUnavailable as exc:
        raise BenchError(f"no PostgreSQL: {exc}") from exc
    ledger = Ledger(db="postgresql", url=cluster.url("ledger"), cluster=cluster)
    try:
        cluster.create_database("ledger")
        with cluster.connect() as conn:
            # The plan of every statement slower than slow_ms goes to the server's log.
            conn.execute("ALTER DATABASE ledger SET session_preload_libraries = 'auto_explain'")
            conn.execute(f"ALTER DATABASE ledger SET auto_explain.log_min_duration = {slow_ms}")
    except BaseException:
        cluster.stop()
        raise
    return ledger


SLOW_LINE = re.compile(r"duration: ([0-9.]+) ms\s+plan:")


def slow_statements(log: Path | None, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The statements auto_explain logged after `offset` bytes of the server's log: duration
    and the first lines of the query and the plan; and the log's new size."""
    if log is None or not log.exists():
        return [], offset
    with log.open("rb") as handle:
        handle.seek(offset)
        text = handle.read().decode("utf-8", errors="replace")
        end = offset + len(text.encode("utf-8", errors="replace"))
    found = []
    blocks = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text)
    for block in blocks:
        match = SLOW_LINE.search(block)
        if match is None:
            continue
        lines = [ln.strip() for ln in block.splitlines()[1:] if ln.strip()]
        query = next((ln for ln in lines if ln.startswith("Query Text:")), "")
        plan = [ln for ln in lines if not ln.startswith("Query Text:")][:8]
        found.append({"ms": float(match.group(1)), "query": query[:300], "plan": plan})
    return found, end


# -- running the CLI -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One CLI run in a process of its own."""

    args: list[str]
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def figures(self) -> dict[str, Any]:
        return {
            "args": self.args,
            "wall_s": round(self.wall_s, 3),
            "cpu_s": round(self.cpu_s, 3),
            "peak_rss_mib": self.peak_rss_mib,
            "exit_code": self.exit_code,
        }


def run_cli(hwm_path: str, argv: list[str]) -> int:
    """Child mode: what the installed ``idesk-connector`` does (``cli.app``), then its peak RSS
    (``VmHWM``) written to `hwm_path`. (``wait4``'s ``ru_maxrss`` would not do: on Linux it
    counts the parent's resident size at the fork.)"""
    sys.argv = ["idesk-connector", *argv]
    code: int | str | None = 0
    try:
        from cli import app  # noqa: PLC0415 - what the console script imports

        app()
    except SystemExit as exc:
        code = exc.code
    finally:
        Path(hwm_path).write_text(str(_status_mib("VmHWM")), encoding="ascii")
    return code if isinstance(code, int) else (0 if code is None else 1)


def _hwm(path: Path) -> float:
    try:
        return float(path.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return float("nan")


class Cli:
    """Runs ``idesk-connector`` (its ``cli.app``, in a child) with the bench's config and
    credentials."""

    def __init__(self, config: Path, env: dict[str, str], work: Path, timeout_s: float) -> None:
        self.config = config
        self.env = env
        self.work = work
        self.timeout_s = timeout_s

    def run(self, *args: str, ok: tuple[int, ...] = (0, 1)) -> Measured:
        """One run; its wall time and CPU time (``wait4``), its peak RSS (`run_cli`)."""
        hwm_path = self.work / "cli.hwm"
        hwm_path.unlink(missing_ok=True)
        argv = [sys.executable, str(Path(__file__).resolve()), "--run-cli", str(hwm_path)]
        argv += ["--config", str(self.config), *args]
        out_path, err_path = self.work / "cli.out", self.work / "cli.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=self.work, env=self.env, stdout=out, stderr=err)
            timer = threading.Timer(self.timeout_s, lambda: os.kill(proc.pid, signal.SIGKILL))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        measured = Measured(
            args=list(args),
            wall_s=wall,
            cpu_s=usage.ru_utime + usage.ru_stime,
            peak_rss_mib=_hwm(hwm_path),
            exit_code=proc.returncode,
            stdout=out_path.read_text(encoding="utf-8"),
            stderr=err_path.read_text(encoding="utf-8", errors="replace"),
        )
        if measured.exit_code not in ok:
            tail = "\n".join(measured.stderr.strip().splitlines()[-15:])
            raise BenchError(f"idesk-connector {' '.join(args)} exited {proc.returncode}:\n{tail}")
        return measured


def write_config(work: Path, ledger: Ledger, served: Served) -> tuple[Path, dict[str, str]]:
    """The config naming every system as a ``[[sources]]`` entry, and the environment holding
    their passwords."""
    lines = [
        "[ledger]",
        f'url = "{ledger.url}"',
        "",
        "[log]",
        'level = "warning"',
        'format = "json"',
        "",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")}
    for name, system in served.systems.items():
        lines += [
            "[[sources]]",
            f'name = "{name}"',
            f'base_url = "{system["base_url"]}"',
            f'username = "{system["username"]}"',
            "",
        ]
        env[f"IDESK_CONNECTOR__SOURCES__{name.upper()}__PASSWORD"] = system["password"]
    config = work / "config.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    config.chmod(0o600)
    return config, env


# -- the steps -----------------------------------------------------------------------------------


def _seconds(started: Any, ended: Any) -> float | None:
    if started is None or ended is None:
        return None
    if isinstance(started, str):
        started, ended = datetime.fromisoformat(started), datetime.fromisoformat(ended)
    elapsed: float = (ended - started).total_seconds()
    return round(elapsed, 3)


def run_times(ledger: Ledger, run_ids: list[str]) -> dict[str, float | None]:
    """Each run's recorded time (``sync_run``: start to end), by run id."""
    if not run_ids:
        return {}
    marks = ", ".join("?" for _ in run_ids)
    rows = ledger.rows(
        f"SELECT run_id, started_at, ended_at FROM sync_run WHERE run_id IN ({marks})",
        tuple(run_ids),
    )
    return {str(r[0]): _seconds(r[1], r[2]) for r in rows}


class Steps:
    """The measured steps, their figures and the slow statements each one caused."""

    def __init__(self, cli: Cli, ledger: Ledger, served: Served) -> None:
        self.cli, self.ledger, self.served = cli, ledger, served
        log = ledger.server_log()
        self.log_offset = log.stat().st_size if log is not None and log.exists() else 0

    def slow(self) -> list[dict[str, Any]]:
        found, self.log_offset = slow_statements(self.ledger.server_log(), self.log_offset)
        return found

    def pull(self, *args: str) -> dict[str, Any]:
        """One ``pull`` run: its figures, the requests served, each source's run time."""
        before = self.served.requests()
        measured = self.cli.run("pull", "--format", "json", *args)
        after = self.served.requests()
        answer = measured.json()
        sections = answer.get("sources", [answer])
        times = run_times(self.ledger, [s["run_id"] for s in sections if "run_id" in s])
        per_source = []
        for section in sections:
            name = section.get("source", "")
            if "error" in section:
                raise BenchError(f"source {name}: {section['error']}")
            per_source.append(
                {
                    "source": name,
                    "run_s": times.get(section["run_id"]),
                    "requests": after.get(name, 0) - before.get(name, 0),
                    "outcome": section["outcome"],
                    "counts": section["counts"],
                }
            )
        return {
            **measured.figures(),
            "requests": sum(after.values()) - sum(before.values()),
            "sources": per_source,
            "slow_statements": self.slow(),
        }

    def read(self, *args: str) -> dict[str, Any]:
        """One reading command (``report``, ``tasks list``, ``status``) with ``--format json``."""
        measured = self.cli.run(*args, "--format", "json")
        figures = {
            **measured.figures(),
            "output_bytes": len(measured.stdout.encode()),
            "slow_statements": self.slow(),
        }
        answer = measured.json()
        if args[0] == "tasks":
            figures["rows"] = len(answer.get("tasks", []))
        if args[0] == "report":
            figures["total"] = int(answer["total"]["total"])
        return figures

    def rollup_check(self, names: list[str]) -> dict[str, Any]:
        """The roll-up over `names` against the sum of each one's own report: the figures of
        one source must equal those of a one-source ledger, and a roll-up is their sum."""
        each = {n: self.read("report", "--source", n)["total"] for n in names}
        together = self.read("report", "--source", ",".join(names))["total"]
        return {
            "sources": names,
            "each": each,
            "sum_of_each": sum(each.values()),
            "rollup": together,
            "ok": together == sum(each.values()),
        }

    def ledger_state(self) -> dict[str, Any]:
        rows = self.ledger.rows("SELECT count(*), count(DISTINCT source) FROM task")
        return {
            "tasks": int(rows[0][0]),
            "sources": int(rows[0][1]),
            "size_mib": self.ledger.size_mib(),
        }


def key_queries(first: str, every: list[str], unit: str, task_id: int) -> list[tuple[str, str]]:
    """The queries whose plans matter as the ledger grows, as the connector writes them
    (`connector.ledger.lines` for the report and the listings, `connector.ledger.tasks` for
    the classification; reads narrowed to sources by `connector.ledger.scope.scope_sql`), with
    literal values: `task_id` is a task of `first` from the middle of its ids."""
    from connector.ledger import lines  # noqa: PLC0415
    from connector.ledger.scope import scope_sql, use_read_sources  # noqa: PLC0415
    from connector.ledger.tasks import TASK_COLUMNS  # noqa: PLC0415

    values = {
        ":after_source": f"'{first}'",
        ":after": str(task_id),
        ":batch": "1000",
        ":limit": "500",
        ":source": f"'{first}'",
        ":false": "false",
    }

    def literal(sql: str, names: list[str] | None = None) -> str:
        with use_read_sources(names):
            text, params = scope_sql(sql)
        for key, value in params.items():
            text = text.replace(f":{key}", f"'{value}'")
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    report_batch = lines._TASKS_AFTER
    listing = (
        f"SELECT {lines._LINE_COLUMNS}, source FROM task WHERE deleted_at_source = :false"
        f" {lines._BY_KEY} LIMIT {LIST_LIMIT}"
    )
    classify_batch = (
        f"SELECT {', '.join(TASK_COLUMNS)} FROM task WHERE source = :source"
        " AND source_id > :after ORDER BY source_id LIMIT :limit"
    )
    return [
        (
            "a task by its key (source, id): the pull's upsert",
            f"SELECT content_hash FROM task WHERE source = '{first}' AND source_id = {task_id}",
        ),
        ("a batch of one source's tasks by id (classification)", literal(classify_batch)),
        (
            "the sources a read over every source goes through (classification, alerts)",
            "SELECT DISTINCT source FROM task ORDER BY source",
        ),
        ("a batch of the report over every source (by id, then source)", literal(report_batch)),
        ("a batch of report --source s01", literal(report_batch, [first])),
        ("a batch of report --source s01,s02", literal(report_batch, every[:2])),
        ("tasks list --source s01 --limit 50", literal(listing, [first])),
        ("tasks list --limit 50 (every source)", literal(listing)),
        (
            "one source's tasks of a lead unit by state (source, lead unit, state)",
            literal(
                "SELECT lead_unit_code, state, count(*) FROM task"
                f" WHERE lead_unit_code = '{unit}' GROUP BY lead_unit_code, state",
                [first],
            ),
        ),
        (
            "one source's tasks changed since a time (source, last modified)",
            f"SELECT source_id FROM task WHERE source = '{first}'"
            " AND source_modified >= '2026-11-01'",
        ),
    ]


def explain(ledger: Ledger, first: str, every: list[str]) -> list[dict[str, Any]]:
    plans = []
    found = ledger.rows("SELECT min(lead_unit_code) FROM task WHERE source = ?", (first,))
    unit = str(found[0][0]) if found and found[0][0] is not None else "VP"
    ids = ledger.rows("SELECT min(source_id), max(source_id) FROM task WHERE source = ?", (first,))
    low, high = (int(ids[0][0]), int(ids[0][1])) if ids and ids[0][0] is not None else (0, 0)
    for what, sql in key_queries(first, every, unit, (low + high) // 2):
        if ledger.db == "sqlite":
            sql_lite = sql.replace("= false", "= 0")
            lines = [str(r[-1]) for r in ledger.rows(f"EXPLAIN QUERY PLAN {sql_lite}")]
        else:
            lines = [str(r[0]) for r in ledger.rows(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")]
        plans.append({"query": what, "sql": sql, "plan": lines})
    return plans


# -- the whole run -------------------------------------------------------------------------------


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def host_info() -> dict[str, Any]:
    cpu, mem_gib = platform.processor(), None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 2**20, 1)
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "mem_gib": mem_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_before": _load(),
    }


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


SKIPPABLE = ("report-all", "rollup-check", "explain")
"""Steps ``--skip`` leaves out (at 1,000,000 tasks the report over every source alone takes
minutes and gigabytes)."""


def save_json(path: Path | None, results: dict[str, Any], *, partial: bool) -> None:
    """Write the figures so far (``partial``: after each step, so a killed run keeps them)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**results, "partial": True} if partial else results
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def keep_cluster(ledger: Ledger, work: Path) -> dict[str, Any]:
    """Stop the PostgreSQL cluster cleanly and move it into `work` instead of deleting it, out
    of the reach of `tests.support.pg.reap_orphans`; how to start it again."""
    cluster = ledger.cluster
    argv = [str(cluster.bin_dir / "pg_ctl"), "stop", "-D", str(cluster.data_dir), "-m", "fast"]
    if cluster.run_as is not None:
        argv = ["runuser", "-u", cluster.run_as, "--", *argv]
    subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    (cluster.base_dir / "owner.pid").unlink(missing_ok=True)
    target = work / "pg"
    shutil.move(str(cluster.base_dir), str(target))
    data = target / "data"
    options = f"-h 127.0.0.1 -p {cluster.port} -k {target}"
    start = f"{cluster.bin_dir / 'pg_ctl'} -D {data} -o '{options}' start"
    if cluster.run_as is not None:
        start = f"runuser -u {cluster.run_as} -- {start}"
    progress(f"  the ledger's cluster is kept (stopped) in {target}; start it with: {start}")
    return {"data_dir": str(data), "start": start, "url": ledger.url}


def bench(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    from connector.clock import SystemClock, local_today  # noqa: PLC0415

    today = local_today(SystemClock())
    names = [source_name(i + 1) for i in range(args.sources)]
    first = names[0]
    progress(f"sources: {args.sources} x {args.tasks:,} tasks on {args.db}; today {today}")
    served = start_systems(args.sources, args.tasks, args.per_server, args.seed, today)
    try:
        results["simulators"] = {
            "processes": len(served.processes),
            "per_process": args.per_server,
            "world_s": served.world_s,
            "rss_mib": served.server_rss_mib,
        }
        progress(
            f"  {args.sources} systems served by {len(served.processes)} processes"
            f" ({served.world_s:.1f} s)"
        )
        ledger = start_ledger(args.db, work, args.slow_ms)
        try:
            results["host"]["ledger_version"] = ledger.version()
            config, env = write_config(work, ledger, served)
            cli = Cli(config, env, work, args.timeout_s)
            migrate = cli.run("db", "upgrade", ok=(0,))
            results["migrate_s"] = round(migrate.wall_s, 3)
            skip = set(args.skip or ())
            steps = Steps(cli, ledger, served)

            def checkpoint() -> None:
                save_json(args.json, results, partial=True)

            run_steps(steps, names, first, results, skip=skip, checkpoint=checkpoint)
            if "explain" not in skip:
                progress("  EXPLAIN of the key queries")
                results["explain"] = explain(ledger, first, names)
                checkpoint()
            results["ledger"] = {
                "tasks": results["ledger_after_fill"]["tasks"],
                "size_mib": ledger.size_mib(),
            }
            if "report-all" not in skip:  # last: at 1,000,000 tasks the longest read by far
                progress("  report (every source)")
                results["reads"]["report_all"] = steps.read("report")
                checkpoint()
        finally:
            if args.keep_ledger and ledger.cluster is not None and args.keep is not None:
                results["kept_ledger"] = keep_cluster(ledger, work)
            else:
                ledger.stop()
    finally:
        served.stop()


def run_steps(
    steps: Steps,
    names: list[str],
    first: str,
    results: dict[str, Any],
    *,
    skip: set[str] | None = None,
    checkpoint: Any = None,
) -> None:
    skip = skip or set()
    save = checkpoint if checkpoint is not None else (lambda: None)
    fill: list[dict[str, Any]] = []
    results["fill"] = fill
    for k, name in enumerate(names, start=1):
        before = steps.ledger_state()["tasks"]
        progress(f"  fill {k}/{len(names)}: pull --full --source {name} ({before:,} in the ledger)")
        step = steps.pull("--full", "--source", name)
        step["ledger_tasks_before"] = before
        fill.append(step)
        save()
    results["fill"] = fill  # filled in as it goes: a partial run keeps the steps done
    results["ledger_after_fill"] = steps.ledger_state()
    progress(f"  re-pull --full --source {first} into the full ledger")
    results["repull_full_one"] = steps.pull("--full", "--source", first)
    save()
    progress(f"  incremental --source {first}")
    results["incremental_one"] = steps.pull("--source", first)
    save()
    progress(f"  incremental over all {len(names)} sources")
    results["incremental_all"] = steps.pull()
    save()
    reads: dict[str, Any] = {}
    results["reads"] = reads
    for key, argv in (
        ("report_one", ["report", "--source", first]),
        ("tasks_list_one", ["tasks", "list", "--source", first, "--limit", str(LIST_LIMIT)]),
        ("tasks_list_all", ["tasks", "list", "--limit", str(LIST_LIMIT)]),
        ("status_all", ["status"]),
        ("status_one", ["status", "--source", first]),
        ("help", ["--help"]),
    ):
        progress(f"  {' '.join(argv)}")
        if key == "help":
            reads[key] = steps.cli.run("--help", ok=(0,)).figures()
        else:
            reads[key] = steps.read(*argv)
        save()
    results["reads"] = reads
    if "rollup-check" in skip:
        return
    checked = names if len(names) <= 4 else names[:2]
    progress(f"  roll-up check: report --source {','.join(checked)} against each one's report")
    results["rollup_check"] = steps.rollup_check(checked)
    save()


def _growth(fill: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The first and last third of the fill's figure `key`, and the ratio."""
    third = max(1, len(fill) // 3)
    early = sum(f[key] for f in fill[:third]) / third
    late = sum(f[key] for f in fill[-third:]) / third
    return {
        "first_third": round(early, 3),
        "last_third": round(late, 3),
        "ratio": round(late / early, 3) if early else None,
    }


def summarise(results: dict[str, Any]) -> None:
    fill = results["fill"]
    results["growth"] = {
        "fill_wall_s": _growth(fill, "wall_s"),
        "fill_cpu_s": _growth(fill, "cpu_s"),
        "fill_peak_rss_mib": _growth(fill, "peak_rss_mib"),
    }


# -- output --------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _pull_row(label: str, step: dict[str, Any]) -> list[str]:
    fetched = sum(s["counts"].get("fetched", 0) for s in step["sources"])
    return [
        label,
        f"{fetched:,}",
        f"{step['requests']:,}",
        f"{step['wall_s']:.2f}",
        f"{step['cpu_s']:.2f}",
        f"{step['peak_rss_mib']:.1f}",
        f"{len(step['slow_statements'])}",
    ]


def render(results: dict[str, Any]) -> str:
    cfg = results["config"]
    out = [
        f"{cfg['sources']} sources x {cfg['tasks']:,} tasks, {cfg['db']} ledger"
        f" ({results['ledger']['tasks']:,} tasks, {results['ledger']['size_mib']:,} MiB)",
        "",
        "Fill: pull --full of each source in turn (each run its own process)",
    ]
    rows = [
        [
            f"{k}",
            f"{f['ledger_tasks_before']:,}",
            *_pull_row(f["sources"][0]["source"], f)[1:],
        ]
        for k, f in enumerate(results["fill"], start=1)
    ]
    out.append(
        _table(
            ["k", "ledger before", "fetched", "requests", "wall s", "cpu s", "peak MiB", "slow"],
            rows,
        )
    )
    g = results["growth"]
    out.append(
        "first third -> last third: wall {a} -> {b} s, peak RSS {c} -> {d} MiB".format(
            a=g["fill_wall_s"]["first_third"],
            b=g["fill_wall_s"]["last_third"],
            c=g["fill_peak_rss_mib"]["first_third"],
            d=g["fill_peak_rss_mib"]["last_third"],
        )
    )
    out += ["", "Pulls into the full ledger"]
    pulls = [
        _pull_row("re-pull --full (1 source)", results["repull_full_one"]),
        _pull_row("incremental (1 source)", results["incremental_one"]),
        _pull_row(f"incremental (all {cfg['sources']})", results["incremental_all"]),
    ]
    out.append(_table(["run", "fetched", "requests", "wall s", "cpu s", "peak MiB", "slow"], pulls))
    per = results["incremental_all"]["sources"]
    run_s = [s["run_s"] for s in per if s["run_s"] is not None]
    if run_s:
        out.append(
            f"incremental over all: per source run {min(run_s):.2f}-{max(run_s):.2f} s"
            f" (median {sorted(run_s)[len(run_s) // 2]:.2f}),"
            f" {min(s['requests'] for s in per)}-{max(s['requests'] for s in per)} requests"
        )
    out += ["", "Reading commands (--format json)"]
    out.append(
        _table(
            ["command", "wall s", "cpu s", "peak MiB", "slow"],
            [
                [
                    " ".join(r["args"]),
                    f"{r['wall_s']:.2f}",
                    f"{r['cpu_s']:.2f}",
                    f"{r['peak_rss_mib']:.1f}",
                    f"{len(r.get('slow_statements', []))}",
                ]
                for r in results["reads"].values()
            ],
        )
    )
    check = results.get("rollup_check")
    if check is not None:
        verdict = "equal" if check["ok"] else "DIFFERENT: the roll-up loses or repeats tasks"
        out.append(
            f"roll-up check: report --source {','.join(check['sources'])} total"
            f" {check['rollup']:,}, sum of each source's report {check['sum_of_each']:,}"
            f" ({verdict})"
        )
    if results.get("skipped"):
        out.append(f"skipped: {', '.join(results['skipped'])}")
    out += ["", "Plans of the key queries"]
    for p in results.get("explain", []):
        out.append(f"  {p['query']}:")
        out += [f"    {line}" for line in p["plan"][:6]]
    host = results["host"]
    out.append(
        f"\nHost: {host['cpu']}, {host['cpus']} CPUs, {host['mem_gib']} GiB; Python"
        f" {host['python']}; {cfg['db']} {host.get('ledger_version')}; load"
        f" {host['load_before']} before, {host.get('load_after')} after; total"
        f" {results['total_s']:.0f} s"
    )
    return "\n".join(out)


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return lines + ["| " + " | ".join(r) + " |" for r in rows]


def _md_pull(label: str, step: dict[str, Any]) -> list[str]:
    fetched = sum(s["counts"].get("fetched", 0) for s in step["sources"])
    return [
        label,
        f"{fetched:,}",
        f"{step['requests']:,}",
        f"{step['wall_s']:.1f}",
        f"{step['cpu_s']:.1f}",
        f"{step['peak_rss_mib']:.1f}",
    ]


def render_markdown(results: dict[str, Any]) -> str:
    """The figures as a section of bench/README.md (machine, fill, pulls, reads, check)."""
    cfg, host = results["config"], results["host"]
    out = [
        f"### {results['started_at'][:10]}: {cfg['sources']} sources x {cfg['tasks']:,} tasks,"
        f" {cfg['db']}",
        "",
        f"{host['cpu']}, {host['cpus']} CPUs, {host['mem_gib']} GiB RAM; Python"
        f" {host['python']}; {cfg['db']} {host.get('ledger_version')}; load average"
        f" {host['load_before']} before, {host.get('load_after')} after; commit"
        f" {str(results['git']['commit'])[:10]}; {results['total_s']:.0f} s in all."
        f" Ledger after the fill: {results['ledger_after_fill']['tasks']:,} tasks,"
        f" {results['ledger_after_fill']['size_mib']:,} MiB.",
        "",
    ]
    rows = [
        [str(k), f"{f['ledger_tasks_before']:,}", *_md_pull(f["sources"][0]["source"], f)[1:]]
        for k, f in enumerate(results["fill"], start=1)
    ]
    out += _md_table(
        ["k", "ledger before", "fetched", "requests", "wall s", "cpu s", "peak MiB"], rows
    )
    out += [""]
    out += _md_table(
        ["run into the full ledger", "fetched", "requests", "wall s", "cpu s", "peak MiB"],
        [
            _md_pull("`pull --full --source s01`", results["repull_full_one"]),
            _md_pull("`pull --source s01`", results["incremental_one"]),
            _md_pull(f"`pull` (all {cfg['sources']})", results["incremental_all"]),
        ],
    )
    per = [s["run_s"] for s in results["incremental_all"]["sources"] if s["run_s"] is not None]
    if per:
        out += [
            "",
            f"`pull` over all: each source's run {min(per):.1f} to {max(per):.1f} s"
            f" (median {sorted(per)[len(per) // 2]:.1f} s).",
        ]
    out += [""]
    out += _md_table(
        ["command (`--format json`)", "wall s", "cpu s", "peak MiB", "output"],
        [
            [
                "`" + " ".join(r["args"]) + "`",
                f"{r['wall_s']:.2f}",
                f"{r['cpu_s']:.2f}",
                f"{r['peak_rss_mib']:.1f}",
                f"{r.get('output_bytes', 0) / 2**20:.1f} MiB" if "output_bytes" in r else "",
            ]
            for r in results["reads"].values()
        ],
    )
    check = results.get("rollup_check")
    if check is not None:
        out += [
            "",
            f"Roll-up check: `report --source {','.join(check['sources'])}` total"
            f" {check['rollup']:,}, the sum of each source's report {check['sum_of_each']:,}"
            f" ({'equal' if check['ok'] else 'different'}).",
        ]
    if results.get("skipped"):
        out += ["", f"Skipped (`--skip`): {', '.join(results['skipped'])}."]
    return "\n".join(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/sources.py",
        description="Several sources in one ledger: fill, pulls, roll-up report, plans.",
    )
    parser.add_argument("--sources", type=int, default=4, help="simulated systems (4)")
    parser.add_argument("--tasks", type=parse_size, default=2000, help="tasks per system (2k)")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--seed", type=int, default=1, help="the first system's seed (1)")
    parser.add_argument(
        "--per-server", type=int, default=PER_SERVER, help="systems per server process (5)"
    )
    parser.add_argument(
        "--slow-ms", type=int, default=SLOW_MS, help="PostgreSQL: log plans slower than this"
    )
    parser.add_argument("--timeout-s", type=float, default=3600.0, help="per CLI run")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="work in this directory and keep it (a SQLite ledger stays there)",
    )
    parser.add_argument(
        "--keep-ledger",
        action="store_true",
        help="PostgreSQL, with --keep: keep the cluster (stopped) in DIR/pg, not delete it",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=SKIPPABLE,
        default=[],
        help="leave out a step (repeatable): report-all, rollup-check, explain",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="also print the figures as README tables"
    )
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--run-cli"]:
        return run_cli(argv[1], argv[2:])
    args = build_parser().parse_args(argv)
    if args.serve is not None:
        return serve_group(json.loads(args.serve))
    if args.sources < 1 or args.sources > 99 or args.per_server < 1:
        print("--sources is 1 to 99, --per-server at least 1", file=sys.stderr)
        return EXIT_BROKEN
    if args.keep_ledger and args.keep is None:
        print("--keep-ledger needs --keep DIR (where the cluster is kept)", file=sys.stderr)
        return EXIT_BROKEN
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1,
        "started_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "git": _git(),
        "host": host_info(),
        "config": {
            "sources": args.sources,
            "tasks": args.tasks,
            "db": args.db,
            "seed": args.seed,
            "per_server": args.per_server,
            "slow_ms": args.slow_ms if args.db == "postgresql" else None,
        },
    }
    if args.skip:
        results["skipped"] = sorted(set(args.skip))
    try:
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            bench(args, args.keep.resolve(), results)
        else:
            with tempfile.TemporaryDirectory(prefix="idesk-sources-") as tmp:
                bench(args, Path(tmp), results)
    except (BenchError, KeyboardInterrupt) as exc:
        progress(f"sources: could not run: {str(exc) or 'interrupted'}")
        if args.json is not None:  # what was measured before, marked partial
            results["host"]["load_after"] = _load()
            save_json(args.json, results, partial=True)
            progress(f"partial results: {args.json}")
        return EXIT_BROKEN
    summarise(results)
    results["host"]["load_after"] = _load()
    results["total_s"] = round(time.perf_counter() - started, 1)
    print(render(results))
    if args.markdown:
        print("\n" + render_markdown(results))
    if args.json is not None:
        save_json(args.json, results, partial=False)
        print(f"Results: {args.json}")
    check = results.get("rollup_check")
    return EXIT_ROLLUP_DIFFERS if check is not None and not check["ok"] else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
