"""Benchmark: the connector side by side with the network floor, by size and ledger backend;
the demo's time, the CLI's start-up, the snapshot strategy.

Usage (see bench/README.md)::

    make bench                                   # or: .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --sizes 10k,100k --json /tmp/bench.json
    .venv/bin/python bench/run.py --sizes 2000 --skip-demo --db sqlite --push-rows 200
    .venv/bin/python bench/run.py --cli-only     # the CLI start-up step alone

For each size, this process serves a simulated province of that many tasks on loopback
(`simulator`, faults and rate limit off) and starts ``bench/measure.py`` for each measurement,
a process of its own so that its peak RSS is its own: the floor (a bare `requests` session
paging the search), then for each ledger backend (``--db``: SQLite, and PostgreSQL in a
throwaway cluster) a full pull into an empty ledger, an incremental pull that finds nothing new
(requests counted at the simulator), ``report --format json`` and ``report`` by the installed
CLI, ``tasks show`` (median of 5), and at the largest size on SQLite a push of ``--push-rows``
planned tracking writes with the simulator's rate limit on (20/s) and the connector's pace set to
it. Then one more process does what ``make demo`` does (simulator, full sync with delivery,
report, xlsx and html) at the demo's size. Then the CLI start-up: the installed
``idesk-connector`` runs ``--help``, ``status`` and ``tasks show ID`` on a small existing ledger,
each five times, and the median wall time of each is checked. The snapshot step serves the
province as a deployed iDesk 6 (``--dialect idesk6``, 2,000 listed documents) and runs three
pulls through the ``idesk6`` mapping: the first (every detail), one with nothing changed (only
the refresh share of details), one after 50 documents changed their list item (those 50 plus the
refresh share), and checks the number of detail calls.

Prints a table, writes the figures as JSON (``--json``, alias ``--out``; ``runs`` holds the names
of issue 15), and checks the targets: exit status 0 when they hold, 1 when one fails, 2 when the
benchmark itself could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.clock import SystemClock, local_today
from connector.ops.log import configure_logging
from simulator import Faults, Simulator, SimulatorConfig

HERE = Path(__file__).resolve().parent
MEASURE = HERE / "measure.py"

DEFAULT_SIZES = (1000, 3000, 10000)
DEMO_TASKS = 2000
RSS_FLOOR_MIB = 8.0
RSS_PER_TASK_KIB = 0.25
DEFAULT_DEMO_LIMIT_S = 60.0
CLI_TASKS = 300
CLI_RUNS = 5
DEFAULT_CLI_LIMIT_S = 0.5
SNAPSHOT_LISTED = 2000
SNAPSHOT_CHANGED = 50
SNAPSHOT_REFRESH_PERCENT = 2.0
EXIT_OK, EXIT_TARGET_MISSED, EXIT_BROKEN = 0, 1, 2
DBS = ("sqlite", "postgresql")
DEFAULT_DBS = DBS
PAGE_SIZE = 500
PUSH_ROWS = 5000
PUSH_RATE = 20.0
PUSH_START_S = 30.0
FLOOR_RATIO = 1.5
PG_RATIO = 1.5
INCREMENTAL_REQUESTS = 3
INCREMENTAL_LIMIT_S = 2.0
REPORT_LIMIT_S = 3.0
PUSH_SHARE = 0.9
PUSH_429_PERCENT = 1.0


class BenchError(Exception):
    """The benchmark itself could not run (a measuring process failed)."""


@dataclass(frozen=True)
class Check:
    """One target, what was measured against it, and whether it holds."""

    name: str
    ok: bool
    value: float
    limit: float
    unit: str
    detail: str


def parse_size(text: str) -> int:
    """``2000``, ``2_000`` or ``2k`` → 2000."""
    text = text.strip().lower().replace("_", "")
    value = int(float(text[:-1]) * 1000) if text.endswith("k") else int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(
            f"a size must be positive, got {text!r} (write 1000 or 1k, not 1,000)"
        )
    return value


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"sizes are comma-separated counts: {exc}") from exc
    if not sizes:
        raise argparse.ArgumentTypeError("give at least one size")
    return sizes


def parse_dbs(text: str) -> list[str]:
    """``sqlite``, ``postgresql`` or both, comma-separated (``pg`` for short)."""
    aliases = {"pg": "postgresql", "postgres": "postgresql"}
    names = [aliases.get(p.strip().lower(), p.strip().lower()) for p in text.split(",")]
    names = [n for n in names if n]
    wrong = [n for n in names if n not in DBS]
    if wrong or not names:
        raise argparse.ArgumentTypeError(f"--db takes sqlite and/or postgresql, got {text!r}")
    return [db for db in DBS if db in names]


def parse_push_settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (``push.`` prefix optional; VALUE as JSON, else a string)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise BenchError(f"--push-setting takes KEY=VALUE, got {pair!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip().removeprefix("push.")] = value
    return out


def run_measure(
    job: dict[str, Any], timeout_s: float, *, stop_after_s: float | None = None
) -> tuple[dict[str, Any], float]:
    """Run one job in a fresh process; its JSON answer and the process's wall time.

    `stop_after_s`: past it, the job gets SIGTERM (the connector's interrupt guard ends its run
    cleanly and the job still answers); ``stopped_s`` in the answer says when."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(MEASURE), json.dumps(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stopped_s: float | None = None
    try:
        try:
            stdout, stderr = proc.communicate(timeout=stop_after_s or timeout_s)
        except subprocess.TimeoutExpired:
            if stop_after_s is None:
                raise
            stopped_s = round(time.perf_counter() - start, 3)
            proc.send_signal(signal.SIGTERM)
            stdout, stderr = proc.communicate(timeout=max(60.0, timeout_s - stop_after_s))
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise BenchError(f"{job['kind']} job took longer than {timeout_s:.0f} s") from exc
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    wall = time.perf_counter() - start
    lines = stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(stderr.strip().splitlines()[-20:])
        raise BenchError(f"{job['kind']} job failed (exit {proc.returncode}):\n{tail}")
    answer: dict[str, Any] = json.loads(lines[-1])
    if stopped_s is not None:
        answer["stopped_s"] = stopped_s
    return answer, wall


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class SizeOptions:
    """What each size measures besides the pull (from the command line)."""

    dbs: tuple[str, ...]
    page_size: int
    floor: bool
    report: bool
    cli_runs: int
    push_rows: int
    push_rate: float
    push_settings: dict[str, Any]
    push_limit_s: float
    push_burst: float | None = None


def _served(sim: Any) -> int:
    return len(sim.requests)


def _config_file(directory: Path, ledger_url: str) -> Path:
    """A config file naming the ledger, for the installed CLI (mode 600, as it requires), with
    the pull's push pace (`connector.demo.demo_settings`): a deployment pulls and reports with
    one config, so the report's classification key is the pull's and the report reads the
    verdicts the pull stored (with another key it judges every task again)."""
    from connector.demo import demo_settings  # noqa: PLC0415 - the pull's settings

    rate = demo_settings("http://127.0.0.1", "", directory).push.rate_per_second
    config = directory / "config.toml"
    config.write_text(
        f'[ledger]\nurl = "{ledger_url}"\n\n[push]\nrate_per_second = {rate!r}\n',
        encoding="utf-8",
    )
    config.chmod(0o600)
    return config


def _first_task(ledger_url: str) -> int | None:
    """The smallest task id in a ledger (SQLite file or PostgreSQL database)."""
    if ledger_url.startswith("sqlite:///"):
        with contextlib.closing(sqlite3.connect(ledger_url.removeprefix("sqlite:///"))) as db:
            row = db.execute("SELECT min(source_id) FROM task").fetchone()
    else:
        import psycopg  # noqa: PLC0415 - only with a PostgreSQL ledger

        with psycopg.connect(ledger_url) as conn:
            row = conn.execute("SELECT min(source_id) FROM task").fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


REPORT_FORMATS = ("json", "table", "docx", "xlsx")
"""The report formats timed: json and the table against the target, the files as details."""


def bench_report(directory: Path, ledger_url: str, timeout_s: float) -> dict[str, Any]:
    """``report --format F`` of every task for each of `REPORT_FORMATS`, each as the installed
    CLI runs it (one process, start to exit; output to a file): wall time, peak RSS, bytes."""
    script = _console_script()
    config = _config_file(directory, ledger_url)
    out: dict[str, Any] = {}
    for fmt in REPORT_FORMATS:
        target = directory / f"report.{fmt}"
        argv = [str(script), "--config", str(config), "report", "--format", fmt]
        argv += ["--output", str(target)]
        wall, peak = _run_cli_measured(argv, directory, timeout_s)
        out[f"{fmt}_s"] = round(wall, 3)
        out[f"{fmt}_peak_mib"] = peak
        out[f"{fmt}_bytes"] = target.stat().st_size if target.exists() else 0
    return out


def bench_show(directory: Path, ledger_url: str, runs: int, timeout_s: float) -> dict[str, Any]:
    """``tasks show ID`` on this size's ledger: one untimed run, then the median of `runs`."""
    script = _console_script()
    config = _config_file(directory, ledger_url)
    task = _first_task(ledger_url)
    if task is None:
        raise BenchError(f"the ledger {ledger_url} holds no task")
    argv = [str(script), "--config", str(config), "tasks", "show", str(task)]
    _run_cli(argv, directory, timeout_s)
    times = [round(_run_cli(argv, directory, timeout_s), 3) for _ in range(runs)]
    return {"task": task, "times_s": times, "median_s": round(statistics.median(times), 3)}


def bench_push(
    sim: Any, job: dict[str, Any], options: SizeOptions, timeout_s: float
) -> dict[str, Any]:
    """Deliver `push_rows` planned tracking writes at the simulator's rate limit (the contract's:
    at most `push_rate` requests in any one second; with `push_burst`, a token bucket of that
    size instead) with the connector's pace set to the same rate."""
    sim.set_faults(
        replace(Faults.none(), rate_limit=options.push_rate, rate_burst=options.push_burst)
    )
    before = _served(sim)
    try:
        push, wall = run_measure(
            {
                **job,
                "kind": "push",
                "rows": options.push_rows,
                "rate_per_second": options.push_rate,
                "push_settings": options.push_settings,
            },
            timeout_s,
            stop_after_s=options.push_limit_s,
        )
    finally:
        sim.set_faults(Faults.none())
    served = sim.requests[before:]
    push["process_s"] = round(wall, 3)
    push["rate_limit_rps"] = options.push_rate
    push["requests"] = len(served)
    push["status_429"] = sum(1 for r in served if r.status == 429)
    push["tracking_accepted"] = sum(
        1 for r in served if r.endpoint == "/tasks/tracking.cpx" and 200 <= r.status < 300
    )
    if push["outcome"] == "raised":  # stopped, or gave up: what reached the source, its count
        progress(f"  push run raised {push['error']}")
        push["sent"] = push["tracking_accepted"]
        push["rows_per_s"] = round(push["sent"] / push["wall_s"], 2) if push["wall_s"] else None
    return push


def bench_size(
    tasks: int,
    seed: int,
    today: Any,
    work: Path,
    timeout_s: float,
    *,
    options: SizeOptions,
    cluster: Any,
) -> dict[str, Any]:
    """One simulated province of `tasks` tasks: the floor, then per ledger backend a full pull,
    an unchanged incremental pull, the report, ``tasks show`` and (SQLite) the push."""
    config = SimulatorConfig(tasks=tasks, seed=seed, today=today, faults=Faults.none())
    start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    floor: dict[str, Any] | None = None
    with Simulator(config) as sim:
        world_s = time.perf_counter() - start
        progress(f"  {tasks:>7,} tasks: world generated in {world_s:.1f} s")
        if options.floor:
            progress(f"  {tasks:>7,} tasks: floor (requests, {options.page_size} per page) ...")
            floor, _ = run_measure(
                {
                    "kind": "floor",
                    "base_url": sim.base_url,
                    "username": sim.credentials.username,
                    "password": sim.credentials.password,
                    "page_size": options.page_size,
                },
                timeout_s,
            )
            if floor["records"] != tasks:
                raise BenchError(f"the floor read {floor['records']} records of {tasks}")
        for db in options.dbs:
            directory = work / f"pull-{tasks}-{db}"
            directory.mkdir()
            if db == "postgresql":
                ledger_url = cluster.url(cluster.create_database(f"bench_{tasks}"))
            else:
                ledger_url = f"sqlite:///{directory / 'ledger.db'}"
            job = {
                "kind": "pull",
                "base_url": sim.base_url,
                "password": sim.credentials.password,
                "dir": str(directory),
                "ledger_url": ledger_url,
                "page_size": options.page_size,
            }
            progress(f"  {tasks:>7,} tasks, {db}: full pull ...")
            served = _served(sim)
            full, _ = run_measure({**job, "full": True, "run_id": f"bench-full-{tasks}"}, timeout_s)
            full["requests"] = _served(sim) - served
            fetched = full["counts"].get("fetched", 0)
            if fetched != tasks:
                raise BenchError(f"the full pull of {tasks} tasks fetched {fetched}")
            progress(f"  {tasks:>7,} tasks, {db}: incremental pull, nothing changed ...")
            served = _served(sim)
            incremental, _ = run_measure(
                {**job, "full": False, "run_id": f"bench-incr-{tasks}"}, timeout_s
            )
            incremental["requests"] = _served(sim) - served
            report = None
            if options.report:
                progress(f"  {tasks:>7,} tasks, {db}: report --format json, report (table) ...")
                report = bench_report(directory, ledger_url, timeout_s)
            show = None
            if options.cli_runs > 0:
                progress(f"  {tasks:>7,} tasks, {db}: tasks show x {options.cli_runs} ...")
                show = bench_show(directory, ledger_url, options.cli_runs, timeout_s)
            push = None
            if options.push_rows > 0 and db == "sqlite":
                progress(
                    f"  {tasks:>7,} tasks, {db}: push {options.push_rows:,} tracking writes at"
                    f" {options.push_rate:g}/s (simulator limit {options.push_rate:g}/s) ..."
                )
                push = bench_push(sim, job, options, timeout_s)
            runs.append(
                {
                    "tasks": tasks,
                    "db": db,
                    "full": full,
                    "incremental": incremental,
                    "report": report,
                    "show": show,
                    "push": push,
                }
            )
    return {"tasks": tasks, "world_s": round(world_s, 3), "floor": floor, "runs": runs}


def summary_row(size: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """One entry of ``runs`` in the results: the issue's names first, then the details."""
    floor, full, incr = size["floor"], run["full"], run["incremental"]
    report, show, push = run["report"], run["show"], run["push"]
    floor_s = floor["wall_s"] if floor else None
    return {
        "tasks": run["tasks"],
        "db": run["db"],
        "floor_s": floor_s,
        "full_pull_s": full["wall_s"],
        "ratio": round(full["wall_s"] / floor_s, 2) if floor_s else None,
        "peak_rss_mb": full["rss_peak_mib"],
        "incremental_requests": incr["requests"],
        "incremental_s": incr["wall_s"],
        "report_s": report["json_s"] if report else None,
        "push_rps": push["rows_per_s"] if push else None,
        "rate_limit_rps": push["rate_limit_rps"] if push else None,
        "push_429": push["status_429"] if push else None,
        "cli_show_s": show["median_s"] if show else None,
        # details (extra keys)
        "world_s": size["world_s"],
        "floor_records_per_s": floor["records_per_s"] if floor else None,
        "full_pull_cpu_s": full["cpu_s"],
        "full_pull_child_cpu_s": full.get("children_cpu_s"),
        "full_pull_child_peak_mib": full.get("children_rss_peak_mib"),
        "full_pull_pages_s": full["pages_s"],
        "full_pull_after_pages_s": full["after_pages_s"],
        "full_pull_requests": full["requests"],
        "planned": full["counts"].get("planned"),
        "incremental_fetched": incr["counts"].get("fetched", 0),
        "incremental_peak_rss_mb": incr["rss_peak_mib"],
        "report_table_s": report["table_s"] if report else None,
        "report_docx_s": report["docx_s"] if report else None,
        "report_docx_peak_mib": report["docx_peak_mib"] if report else None,
        "report_xlsx_s": report["xlsx_s"] if report else None,
        "report_xlsx_peak_mib": report["xlsx_peak_mib"] if report else None,
        "push_rows": push["sent"] if push else None,
        "push_rows_asked": push["outbox"]["kept"] if push else None,
        "push_s": push["wall_s"] if push else None,
        "push_planned_tracking": push["outbox"]["planned_tracking"] if push else None,
        "push_retries": push["counts"].get("retries") if push else None,
        "push_outcome": push["outcome"] if push else None,
        "push_stopped_s": push.get("stopped_s") if push else None,
        "pg_to_sqlite": None,
    }


def bench_demo(tasks: int, seed: int, work: Path, timeout_s: float) -> dict[str, Any]:
    directory = work / "demo"
    directory.mkdir()
    progress(f"  demo ({tasks:,} tasks): simulator + sync + report ...")
    demo, wall = run_measure(
        {"kind": "demo", "dir": str(directory), "tasks": tasks, "seed": seed}, timeout_s
    )
    if demo["outcome"] != "success":
        raise BenchError(f"the demo's sync ended {demo['outcome']}: {demo['counts']}")
    demo["process_s"] = round(wall, 3)
    return demo


def _console_script() -> Path:
    """The installed ``idesk-connector`` beside this interpreter (what a user runs)."""
    script = Path(sys.executable).with_name("idesk-connector")
    if not script.exists():
        raise BenchError(f"no idesk-connector beside {sys.executable}; run `make install` first")
    return script


def _run_cli(argv: list[str], cwd: Path, timeout_s: float) -> float:
    """One run of the console script; its wall time (a failing run stops the benchmark)."""
    return _run_cli_measured(argv, cwd, timeout_s, peak=False)[0]


GNU_TIME = Path("/usr/bin/time")
"""GNU time: the peak RSS of one command (``%M``). The benchmark's own children inherit its peak
(a fork of a process holding the simulated world), so ``wait4`` cannot tell it."""


def _run_cli_measured(
    argv: list[str], cwd: Path, timeout_s: float, *, peak: bool = True
) -> tuple[float, float | None]:
    """One run of the console script: its wall time and, with `peak` and GNU time present, its
    own peak RSS in MiB (else None). A failing run stops the benchmark.

    Without ``PYTHONDONTWRITEBYTECODE``: like an installed package (pip byte-compiles it), the
    first run leaves the compiled modules, so the timed runs do not compile the sources again.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("IDESK_CONNECTOR") and k != "PYTHONDONTWRITEBYTECODE"
    }
    with tempfile.TemporaryDirectory() as scratch:
        measured = Path(scratch) / "peak"
        run = argv
        if peak and GNU_TIME.exists():
            run = [str(GNU_TIME), "-f", "%M", "-o", str(measured), *argv]
        start = time.perf_counter()
        try:
            proc = subprocess.run(
                run,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"{' '.join(argv[1:])} took longer than {timeout_s:.0f} s") from exc
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-10:])
            raise BenchError(f"{' '.join(argv[1:])} failed (exit {proc.returncode}):\n{tail}")
        kib = measured.read_text().strip().splitlines()[-1] if measured.exists() else ""
    return wall, (round(int(kib) / 1024, 1) if kib.isdigit() else None)


def bench_cli(work: Path, runs: int, timeout_s: float) -> dict[str, Any]:
    """Median wall time of ``--help``, ``status`` and ``tasks show ID`` on a small ledger.

    The ledger is made by the product itself (``idesk-connector demo``, not timed); each command
    runs once untimed (to read the files into the page cache), then `runs` times.
    """
    script = _console_script()
    directory = work / "cli"
    progress(f"  cli start-up: a ledger of {CLI_TASKS} tasks (idesk-connector demo) ...")
    _run_cli(
        [str(script), "demo", "--tasks", str(CLI_TASKS), "--dir", str(directory)],
        work,
        timeout_s,
    )
    ledger = directory / "ledger.db"
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        row = db.execute("SELECT min(source_id) FROM task").fetchone()
    if row is None or row[0] is None:
        raise BenchError(f"the demo left no task in {ledger}")
    config = directory / "config.toml"
    config.write_text(f'[ledger]\nurl = "sqlite:///{ledger}"\n', encoding="utf-8")
    config.chmod(0o600)
    commands = {
        "--help": ["--help"],
        "status": ["--config", str(config), "status"],
        "tasks show": ["--config", str(config), "tasks", "show", str(row[0])],
    }
    measured = []
    for name, args in commands.items():
        progress(f"  cli start-up: {name} x {runs} ...")
        argv = [str(script), *args]
        _run_cli(argv, directory, timeout_s)
        times = [round(_run_cli(argv, directory, timeout_s), 3) for _ in range(runs)]
        measured.append(
            {
                "name": name,
                "args": args,
                "times_s": times,
                "median_s": round(statistics.median(times), 3),
            }
        )
    return {"tasks": CLI_TASKS, "runs": runs, "commands": measured}


# -- checks --------------------------------------------------------------------------------------


def _snapshot_pull(settings: Any, ledger: Any, sim: Any, run_id: str) -> dict[str, Any]:
    """One pull through the idesk6 mapping: its counts, its detail calls, its wall time."""
    from connector.clock import FixedClock  # noqa: PLC0415
    from connector.source.pull import pull  # noqa: PLC0415

    before = sum(1 for r in sim.requests if r.endpoint.endswith("/view.cpx"))
    start = time.perf_counter()
    result = pull(
        settings, run_id=run_id, clock=FixedClock(sim.now()), ledger=ledger, plan_outbox=False
    )
    wall = time.perf_counter() - start
    served = sum(1 for r in sim.requests if r.endpoint.endswith("/view.cpx")) - before
    return {
        "wall_s": round(wall, 3),
        "listed": result.fetched,
        "detail_calls": result.detail_calls,
        "detail_requests_served": served,
        "list_changed": result.list_changed,
        "refreshed": result.refreshed,
        "skipped_not_assignment": result.skipped_not_assignment,
    }


def bench_snapshot(
    listed: int, changed: int, *, refresh_percent: float, seed: int, today: Any, work: Path
) -> dict[str, Any]:
    """The snapshot strategy against the simulator's iDesk 6 mode: first, unchanged and
    changed runs over `listed` documents (intake-only ones among them)."""
    from pydantic import SecretStr  # noqa: PLC0415

    from connector.ledger.db import open_ledger  # noqa: PLC0415
    from connector.settings import Settings  # noqa: PLC0415

    intake = listed // 25
    config = SimulatorConfig(
        tasks=listed - intake,
        seed=seed,
        today=today,
        faults=Faults.none(),
        dialect="idesk6",
        intake_documents=intake,
    )
    directory = work / "snapshot"
    directory.mkdir()
    with Simulator(config) as sim:
        world = sim.world
        # deleted documents are not listed: list exactly `listed` (the intake share tops it up)
        live = sum(1 for r in world.tasks.values() if r.get("deleted") != "Y")
        sim.core.config = replace(config, intake_documents=listed - live)
        settings = Settings.model_validate(
            {
                "source": {
                    "base_url": sim.base_url,
                    "mapping": "idesk6",
                    "account_code": sim.credentials.account_code,
                    "password": SecretStr(sim.credentials.password),
                    "page_size": 200,
                },
                "ledger": {"url": f"sqlite:///{directory / 'ledger.db'}"},
                "sync": {
                    "snapshot_refresh_percent": refresh_percent,
                    "detail_workers": 4,
                    "rate_per_second": 1000.0,
                },
                "push": {"enabled": False},
            }
        )
        with open_ledger(settings.ledger.url) as ledger:
            progress(f"  snapshot ({listed:,} listed): first run ...")
            first = _snapshot_pull(settings, ledger, sim, "bench-snapshot-1")
            progress(f"  snapshot ({listed:,} listed): unchanged run ...")
            unchanged = _snapshot_pull(settings, ledger, sim, "bench-snapshot-2")
            open_keys = [
                k
                for k in sorted(world.tasks)
                if world.tasks[k].get("status") == "processing"
                and world.tasks[k].get("deleted") != "Y"
            ][:changed]
            if len(open_keys) < changed:
                raise BenchError(f"the world has only {len(open_keys)} open documents to change")
            sim.advance(timedelta(hours=1))
            for key in open_keys:
                sim.complete_task(key)
            progress(f"  snapshot ({listed:,} listed): {changed} changed ...")
            after = _snapshot_pull(settings, ledger, sim, "bench-snapshot-3")
    if first["listed"] != listed:
        raise BenchError(f"the snapshot run listed {first['listed']}, not {listed}")
    return {
        "listed": listed,
        "changed": changed,
        "refresh_percent": refresh_percent,
        "refresh_share": math.ceil(listed * refresh_percent / 100),
        "first": first,
        "unchanged": unchanged,
        "after_change": after,
    }


def check_snapshot(snap: dict[str, Any] | None) -> list[Check]:
    """Detail calls of the unchanged run within the refresh share; of the changed run within
    the changed documents plus the share (and every changed one read)."""
    if snap is None:
        return []
    share, changed, listed = snap["refresh_share"], snap["changed"], snap["listed"]
    unchanged, after = snap["unchanged"], snap["after_change"]
    return [
        Check(
            name="snapshot_unchanged_reads_refresh_share_only",
            ok=unchanged["detail_calls"] <= share and unchanged["list_changed"] == 0,
            value=unchanged["detail_calls"],
            limit=share,
            unit="detail calls",
            detail=f"{listed:,} listed, nothing changed: {unchanged['detail_calls']} detail calls"
            f" (refresh share {snap['refresh_percent']:g} % = {share}; a full read: {listed:,})",
        ),
        Check(
            name="snapshot_changed_reads_changed_plus_share",
            ok=after["list_changed"] == changed
            and changed <= after["detail_calls"] <= changed + share,
            value=after["detail_calls"],
            limit=changed + share,
            unit="detail calls",
            detail=f"{listed:,} listed, {changed} changed: {after['detail_calls']} detail calls"
            f" ({after['list_changed']} changed + {after['refreshed']} refreshed), not {listed:,}",
        ),
    ]


@dataclass(frozen=True)
class Targets:
    """The issue's targets (command-line options; bench/README.md says why each)."""

    floor_ratio: float
    incremental_requests: int
    incremental_limit_s: float
    report_limit_s: float
    push_share: float
    push_429_percent: float
    pg_ratio: float


def check_runs(runs: list[dict[str, Any]], targets: Targets) -> list[Check]:
    """The side-by-side targets, checked at the largest size measured (SQLite), and PostgreSQL
    against SQLite at the largest size measured on both."""
    checks: list[Check] = []
    sqlite = [r for r in runs if r["db"] == "sqlite"]
    if sqlite:
        top = max(sqlite, key=lambda r: r["tasks"])
        n = f"{top['tasks']:,} tasks"
        if top["floor_s"]:
            checks.append(
                Check(
                    name="full_pull_within_floor_ratio",
                    ok=top["ratio"] <= targets.floor_ratio,
                    value=top["ratio"],
                    limit=targets.floor_ratio,
                    unit="x floor",
                    detail=f"{n}: full pull {top['full_pull_s']:.2f} s, floor (requests,"
                    f" JSON parsed) {top['floor_s']:.2f} s",
                )
            )
        checks += [
            Check(
                name="incremental_unchanged_requests",
                ok=top["incremental_requests"] <= targets.incremental_requests,
                value=top["incremental_requests"],
                limit=targets.incremental_requests,
                unit="requests",
                detail=f"{n}, nothing changed: requests the simulator served to the run"
                " (login included)",
            ),
            Check(
                name="incremental_unchanged_under_limit",
                ok=top["incremental_s"] < targets.incremental_limit_s,
                value=top["incremental_s"],
                limit=targets.incremental_limit_s,
                unit="s",
                detail=f"{n}, nothing changed: wall time of the pull call",
            ),
        ]
        if top["report_s"] is not None:
            for name, key, what in (
                ("report_json_under_limit", "report_s", "report --format json"),
                ("report_table_under_limit", "report_table_s", "report (table)"),
            ):
                checks.append(
                    Check(
                        name=name,
                        ok=top[key] < targets.report_limit_s,
                        value=top[key],
                        limit=targets.report_limit_s,
                        unit="s",
                        detail=f"{n}: idesk-connector {what}, process start to exit",
                    )
                )
        pushed = [r for r in sqlite if r["push_rps"] is not None]
        if pushed:
            push = max(pushed, key=lambda r: r["tasks"])
            rate, rows = push["rate_limit_rps"], push["push_rows_asked"]
            allowed_429 = math.floor(rows * targets.push_429_percent / 100)
            checks += [
                Check(
                    name="push_at_rate_limit",
                    ok=push["push_rps"] >= targets.push_share * rate and push["push_rows"] == rows,
                    value=push["push_rps"],
                    limit=round(targets.push_share * rate, 2),
                    unit="rows/s",
                    detail=f"{push['push_rows']:,} of {rows:,} tracking writes delivered in"
                    f" {push['push_s']:.1f} s (one push run), simulator limit {rate:g}/s,"
                    f" connector pace {rate:g}/s, run {push['push_outcome']}"
                    + (
                        f" (stopped by the bench after {push['push_stopped_s']:.0f} s)"
                        if push["push_stopped_s"]
                        else ""
                    )
                    + f"; target"
                    f" {targets.push_share:.0%} of the limit, every row delivered",
                ),
                Check(
                    name="push_no_429_cascade",
                    ok=push["push_429"] <= allowed_429,
                    value=push["push_429"],
                    limit=allowed_429,
                    unit="429 answers",
                    detail=f"429s the simulator sent during the push; a cascade is more than"
                    f" {targets.push_429_percent:g} % of the {rows:,} rows",
                ),
            ]
    both = {
        r["tasks"]: r for r in runs if r["db"] == "postgresql" and r["pg_to_sqlite"] is not None
    }
    if both:
        pg = both[max(both)]
        checks.append(
            Check(
                name="postgresql_pull_within_sqlite_ratio",
                ok=pg["pg_to_sqlite"] <= targets.pg_ratio,
                value=pg["pg_to_sqlite"],
                limit=targets.pg_ratio,
                unit="x SQLite",
                detail=f"{pg['tasks']:,} tasks: full pull on PostgreSQL {pg['full_pull_s']:.2f} s",
            )
        )
    return checks


def rss_growth_limit_mib(extra_tasks: int, floor_mib: float, per_task_kib: float) -> float:
    """The peak-RSS growth allowed for `extra_tasks` more tasks (bench/README.md says why)."""
    return round(floor_mib + per_task_kib * extra_tasks / 1024, 1)


def check_memory(pulls: list[dict[str, Any]], floor_mib: float, per_task_kib: float) -> list[Check]:
    """Peak RSS of the full pull, largest size against smallest, within the allowed growth."""
    if len(pulls) < 2:
        return []
    small, large = pulls[0], pulls[-1]
    growth = large["full"]["rss_peak_mib"] - small["full"]["rss_peak_mib"]
    extra = large["tasks"] - small["tasks"]
    per_task_kib_seen = growth * 1024 / extra
    limit_mib = rss_growth_limit_mib(extra, floor_mib, per_task_kib)
    return [
        Check(
            name="pull_memory_flat",
            ok=growth < limit_mib,
            value=round(growth, 1),
            limit=limit_mib,
            unit="MiB",
            detail=(
                f"full-pull peak RSS {small['full']['rss_peak_mib']} MiB at {small['tasks']:,}"
                f" tasks, {large['full']['rss_peak_mib']} MiB at {large['tasks']:,}"
                f" ({per_task_kib_seen:+.3f} KiB per extra task; allowed {floor_mib:g} MiB"
                f" + {per_task_kib:g} KiB per extra task)"
            ),
        )
    ]


def check_demo(demo: dict[str, Any] | None, limit_s: float) -> list[Check]:
    """The demo's whole process (start-up, simulator, sync, report) under `limit_s`."""
    if demo is None:
        return []
    return [
        Check(
            name="demo_under_limit",
            ok=demo["process_s"] < limit_s,
            value=demo["process_s"],
            limit=limit_s,
            unit="s",
            detail=(
                f"{demo['tasks']:,} tasks: imports {demo['imports_s']:.1f} s, world"
                f" {demo['world_s']:.1f} s, sync {demo['sync_s']:.1f} s, report"
                f" {demo['report_s']:.1f} s"
            ),
        )
    ]


def check_cli(cli: dict[str, Any] | None, limit_s: float) -> list[Check]:
    """Each command's median start-to-exit wall time under `limit_s`."""
    if cli is None:
        return []
    return [
        Check(
            name=f"cli_{c['name'].strip('-').replace(' ', '_')}_under_limit",
            ok=c["median_s"] < limit_s,
            value=c["median_s"],
            limit=limit_s,
            unit="s",
            detail=f"idesk-connector {c['name']}: median of {cli['runs']} runs"
            f" {', '.join(f'{t:.3f}' for t in c['times_s'])} s",
        )
        for c in cli["commands"]
    ]


# -- output --------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _fmt(value: Any, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def render_runs(runs: list[dict[str, Any]]) -> list[str]:
    """The side-by-side table of issue 15: one row per size and ledger backend."""
    if not runs:
        return []
    headers = [
        "tasks",
        "db",
        "floor s",
        "full s",
        "x floor",
        "x sqlite",
        "peak MiB",
        "incr req",
        "incr s",
        "report json s",
        "table s",
        "show s",
        "push rows/s",
        "limit/s",
        "429s",
    ]
    rows = [
        [
            f"{r['tasks']:,}",
            r["db"],
            _fmt(r["floor_s"]),
            _fmt(r["full_pull_s"]),
            _fmt(r["ratio"], ".1f"),
            _fmt(r["pg_to_sqlite"]),
            _fmt(r["peak_rss_mb"], ".1f"),
            _fmt(r["incremental_requests"], "d"),
            _fmt(r["incremental_s"]),
            _fmt(r["report_s"]),
            _fmt(r["report_table_s"]),
            _fmt(r["cli_show_s"], ".3f"),
            _fmt(r["push_rps"]),
            _fmt(r["rate_limit_rps"], "g"),
            _fmt(r["push_429"], "d"),
        ]
        for r in runs
    ]
    files = [
        f"{r['tasks']:,} {r['db']}: docx {_fmt(r.get('report_docx_s'))} s"
        f" ({_fmt(r.get('report_docx_peak_mib'), '.0f')} MiB), xlsx"
        f" {_fmt(r.get('report_xlsx_s'))} s ({_fmt(r.get('report_xlsx_peak_mib'), '.0f')} MiB)"
        for r in runs
        if r.get("report_docx_s") is not None
    ]
    return [
        "Side by side (issue 15): floor = one requests session paging the search, JSON parsed",
        _table(headers, rows),
        *(["Report files (wall, peak RSS): " + "; ".join(files)] if files else []),
        "",
    ]


def render(results: dict[str, Any]) -> str:
    out: list[str] = render_runs(results.get("runs", []))
    pulls = results["pull"]
    if pulls:
        rows = []
        for p in pulls:
            full, incr = p["full"], p["incremental"]
            rows.append(
                [
                    f"{p['tasks']:,}",
                    f"{full['counts'].get('pages', 0)}",
                    f"{full['wall_s']:.2f}",
                    f"{full['pages_s']:.2f}",
                    f"{full['after_pages_s']:.2f}",
                    f"{full['cpu_s']:.2f}",
                    f"{full['records_per_s']:,.0f}",
                    f"{full['rss_baseline_mib']:.1f}",
                    f"{full['rss_peak_mib']:.1f}",
                    f"{incr['wall_s']:.2f}",
                    f"{incr['counts'].get('fetched', 0)}",
                    f"{incr['rss_peak_mib']:.1f}",
                ]
            )
        headers = [
            "tasks",
            "pages",
            "full s",
            "read+write s",
            "classify+plan s",
            "cpu s",
            "records/s",
            "base MiB",
            "peak MiB",
            "incr s",
            "incr fetched",
            "incr peak MiB",
        ]
        out += ["Pull (each in its own process; simulator in the parent)", _table(headers, rows)]
    demo = results["demo"]
    if demo is not None:
        out += [
            "",
            f"Demo ({demo['tasks']:,} tasks, what `make demo` does)",
            _table(
                [
                    "process s",
                    "imports",
                    "world",
                    "sync",
                    "report build",
                    "xlsx",
                    "html",
                    "peak MiB",
                ],
                [
                    [
                        f"{demo['process_s']:.2f}",
                        f"{demo['imports_s']:.2f}",
                        f"{demo['world_s']:.2f}",
                        f"{demo['sync_s']:.2f}",
                        f"{demo['report_build_s']:.2f}",
                        f"{demo['render_xlsx_s']:.2f}",
                        f"{demo['render_html_s']:.2f}",
                        f"{demo['rss_peak_mib']:.1f}",
                    ]
                ],
            ),
            f"sync: fetched {demo['fetched']:,}, planned {demo['planned']:,}, delivered"
            f" {demo['delivered_tracking']:,} tracking statuses and {demo['delivered_alerts']:,}"
            " alerts",
        ]
    snap = results.get("snapshot")
    if snap is not None:
        out += [
            "",
            f"Snapshot strategy (iDesk 6 mode, {snap['listed']:,} listed, refresh share"
            f" {snap['refresh_percent']:g} % = {snap['refresh_share']})",
            _table(
                ["run", "wall s", "detail calls", "list changed", "refreshed"],
                [
                    [
                        name,
                        f"{snap[key]['wall_s']:.2f}",
                        f"{snap[key]['detail_calls']:,}",
                        f"{snap[key]['list_changed']:,}",
                        f"{snap[key]['refreshed']:,}",
                    ]
                    for name, key in (
                        ("first", "first"),
                        ("unchanged", "unchanged"),
                        (f"{snap['changed']} changed", "after_change"),
                    )
                ],
            ),
        ]
    cli = results.get("cli")
    if cli is not None:
        out += [
            "",
            f"CLI start-up (a ledger of {cli['tasks']} tasks; median of {cli['runs']} runs)",
            _table(
                ["command", "median s", "min s", "max s"],
                [
                    [
                        c["name"],
                        f"{c['median_s']:.3f}",
                        f"{min(c['times_s']):.3f}",
                        f"{max(c['times_s']):.3f}",
                    ]
                    for c in cli["commands"]
                ],
            ),
        ]
    out += ["", "Targets"]
    for c in results["checks"]:
        mark = "PASS" if c["ok"] else "FAIL"
        out.append(f"  {mark}  {c['name']}: {c['value']} {c['unit']} (limit {c['limit']})")
        out.append(f"        {c['detail']}")
    if not results["checks"]:
        out.append("  (none checked: give two sizes or more, and do not skip the demo or the CLI)")
    host = results["host"]
    pg = results.get("postgresql") or {}
    out.append(
        f"\nHost: {host['cpu_model']}, {host['cpus']} CPUs, {host['ram_gib']} GiB; load"
        f" {host['load_before']} before, {host['load_after']} after; Python {host['python']},"
        f" SQLite {host['sqlite']}, PostgreSQL {pg.get('version') or pg.get('skipped') or '-'};"
        f" total {results['total_s']:.0f} s"
    )
    return "\n".join(out)


def _cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what `platform` says."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def _ram_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def start_postgres() -> tuple[Any, str]:
    """A throwaway PostgreSQL cluster as the tests start one (`tests/support/pg.py`), or None
    and why it cannot run here."""
    if str(HERE.parent) not in sys.path:
        sys.path.insert(0, str(HERE.parent))
    try:
        from tests.support.pg import PostgresUnavailable, start_cluster  # noqa: PLC0415
    except ImportError as exc:
        return None, f"cannot load the test cluster helper (tests/support/pg.py): {exc}"
    progress("bench: starting a throwaway PostgreSQL cluster ...")
    try:
        return start_cluster(), ""
    except PostgresUnavailable as exc:
        return None, str(exc)


def postgres_version(bin_dir: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        proc = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.stdout.strip() or None
    return None


def add_pg_ratios(runs: list[dict[str, Any]]) -> None:
    """Each PostgreSQL run's full pull against SQLite's at the same size (``pg_to_sqlite``)."""
    sqlite = {r["tasks"]: r["full_pull_s"] for r in runs if r["db"] == "sqlite"}
    for run in runs:
        base = sqlite.get(run["tasks"])
        if run["db"] == "postgresql" and base:
            run["pg_to_sqlite"] = round(run["full_pull_s"] / base, 2)


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _git() -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False
            )
        except OSError:
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    status = git("status", "--porcelain")
    dirty = bool(status) if status is not None else None
    return {"commit": git("rev-parse", "HEAD"), "dirty": dirty}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Pull throughput and memory by size, and the demo's time, against the"
        " embedded simulator on loopback.",
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated task counts for the pull (default 1k,3k,10k)",
    )
    parser.add_argument(
        "--demo-tasks", type=parse_size, default=DEMO_TASKS, help="the demo's size (2000)"
    )
    parser.add_argument("--skip-demo", action="store_true", help="do not run the demo step")
    parser.add_argument("--skip-cli", action="store_true", help="do not run the CLI start-up step")
    parser.add_argument(
        "--skip-snapshot", action="store_true", help="do not run the snapshot-strategy step"
    )
    parser.add_argument(
        "--snapshot-only",
        action="store_true",
        help="run the snapshot-strategy step alone (no pull sizes, no demo, no CLI)",
    )
    parser.add_argument(
        "--snapshot-listed",
        type=parse_size,
        default=SNAPSHOT_LISTED,
        help="documents listed in the snapshot step (2000)",
    )
    parser.add_argument(
        "--snapshot-changed",
        type=int,
        default=SNAPSHOT_CHANGED,
        help="documents whose list item changes before the third run (50)",
    )
    parser.add_argument(
        "--snapshot-refresh-percent",
        type=float,
        default=SNAPSHOT_REFRESH_PERCENT,
        help="sync.snapshot_refresh_percent of the snapshot step (2)",
    )
    parser.add_argument(
        "--cli-only",
        action="store_true",
        help="run the CLI start-up step alone (no pull sizes, no demo)",
    )
    parser.add_argument(
        "--cli-runs", type=int, default=CLI_RUNS, help="timed runs per CLI command (5)"
    )
    parser.add_argument(
        "--cli-limit-s",
        type=float,
        default=DEFAULT_CLI_LIMIT_S,
        help="the CLI start-up target per command, median wall time in seconds (0.5)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the simulated world's seed")
    parser.add_argument(
        "--json",
        "--out",
        dest="out",
        type=Path,
        default=Path("bench-results.json"),
        help="where to write the JSON results (default ./bench-results.json)",
    )
    parser.add_argument(
        "--db",
        type=parse_dbs,
        default=list(DEFAULT_DBS),
        help="ledger backends, comma-separated: sqlite, postgresql (default both; PostgreSQL"
        " is skipped, saying why, when its server binaries are missing)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        default=PAGE_SIZE,
        help="records per search page, for the floor and the pull (source.page_size; 500)",
    )
    parser.add_argument("--skip-floor", action="store_true", help="do not measure the floor")
    parser.add_argument(
        "--skip-report", action="store_true", help="do not run the report of each size"
    )
    parser.add_argument("--skip-push", action="store_true", help="do not run the push step")
    parser.add_argument(
        "--push-rows",
        type=parse_size,
        default=PUSH_ROWS,
        help="tracking writes the push step delivers, at the largest SQLite size (5000: about"
        " 4 min at 20/s)",
    )
    parser.add_argument(
        "--push-rate",
        type=float,
        default=PUSH_RATE,
        help="the simulator's rate limit and push.rate_per_second during the push step (20/s,"
        " the contract's)",
    )
    parser.add_argument(
        "--push-burst",
        type=float,
        default=None,
        help="the simulator's limit during the push step as a token bucket of this size (1: no"
        " burst, stricter than the contract); default: the contract's, at most --push-rate"
        " requests in any one second",
    )
    parser.add_argument(
        "--push-limit-s",
        type=float,
        default=None,
        help="stop the push run (SIGTERM, a clean interrupt) after this many seconds (default"
        " twice the time the rows take at the rate, plus 30 s: 530 s for 5000 at 20/s)",
    )
    parser.add_argument(
        "--push-setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another push.* setting for the push step (repeatable; VALUE as JSON, else a"
        " string); a key the installed connector does not know stops the bench",
    )
    parser.add_argument(
        "--floor-ratio", type=float, default=FLOOR_RATIO, help="full pull / floor target (1.5)"
    )
    parser.add_argument(
        "--pg-ratio", type=float, default=PG_RATIO, help="PostgreSQL / SQLite pull target (1.5)"
    )
    parser.add_argument(
        "--incremental-requests",
        type=int,
        default=INCREMENTAL_REQUESTS,
        help="requests an unchanged incremental pull may make (3)",
    )
    parser.add_argument(
        "--incremental-limit-s",
        type=float,
        default=INCREMENTAL_LIMIT_S,
        help="an unchanged incremental pull's time target (2 s)",
    )
    parser.add_argument(
        "--report-limit-s",
        type=float,
        default=REPORT_LIMIT_S,
        help="the report's time target, json and table each (3 s)",
    )
    parser.add_argument(
        "--push-share",
        type=float,
        default=PUSH_SHARE,
        help="the share of the rate limit the push must reach (0.9)",
    )
    parser.add_argument(
        "--push-429-percent",
        type=float,
        default=PUSH_429_PERCENT,
        help="429 answers allowed during the push, in %% of its rows (1)",
    )
    parser.add_argument(
        "--rss-floor-mib",
        type=float,
        default=RSS_FLOOR_MIB,
        help="peak-RSS growth allowed whatever the sizes, for noise (MiB, default 8)",
    )
    parser.add_argument(
        "--rss-per-task-kib",
        type=float,
        default=RSS_PER_TASK_KIB,
        help="peak-RSS growth allowed per task beyond the smallest size (KiB, default 0.25)",
    )
    parser.add_argument(
        "--demo-limit-s",
        type=float,
        default=DEFAULT_DEMO_LIMIT_S,
        help="the demo's time target in seconds (60)",
    )
    parser.add_argument(
        "--timeout-s", type=float, default=1800.0, help="give up on one measurement after this"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cli_only:
        args.sizes, args.skip_demo, args.skip_cli, args.skip_snapshot = [], True, False, True
    if args.snapshot_only:
        args.sizes, args.skip_demo, args.skip_cli, args.skip_snapshot = [], True, True, False
    configure_logging(level="warning", fmt="json", stream=sys.stderr)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": _git(),
        "host": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpu_model": _cpu_model(),
            "ram_gib": _ram_gib(),
            "sqlite": sqlite3.sqlite_version,
            "load_before": _load(),
        },
        "config": {
            "sizes": args.sizes,
            "demo_tasks": None if args.skip_demo else args.demo_tasks,
            "seed": args.seed,
            "rss_floor_mib": args.rss_floor_mib,
            "rss_per_task_kib": args.rss_per_task_kib,
            "demo_limit_s": args.demo_limit_s,
            "cli_runs": None if args.skip_cli else args.cli_runs,
            "cli_limit_s": args.cli_limit_s,
            "snapshot": None
            if args.skip_snapshot
            else {
                "listed": args.snapshot_listed,
                "changed": args.snapshot_changed,
                "refresh_percent": args.snapshot_refresh_percent,
            },
            "ledger": "sqlite",
            "dbs": args.db,
            "page_size": args.page_size,
            "floor": not args.skip_floor,
            "report": not args.skip_report,
            "push_rows": None if args.skip_push else args.push_rows,
            "push_rate": args.push_rate,
            "push_burst": args.push_burst,
            "push_limit_s": args.push_limit_s,
            "push_settings": args.push_setting,
            "targets": {
                "floor_ratio": args.floor_ratio,
                "pg_ratio": args.pg_ratio,
                "incremental_requests": args.incremental_requests,
                "incremental_limit_s": args.incremental_limit_s,
                "report_limit_s": args.report_limit_s,
                "push_share": args.push_share,
                "push_429_percent": args.push_429_percent,
            },
        },
        "runs": [],
        "sizes": [],
        "pull": [],
        "postgresql": None,
        "demo": None,
        "cli": None,
        "snapshot": None,
    }
    today = local_today(SystemClock())
    sizes = ", ".join(f"{s:,}" for s in args.sizes) or "none"
    progress(f"bench: sizes {sizes}; ledgers {', '.join(args.db)}; today {today}")
    try:
        push_extra = parse_push_settings(args.push_setting)
        options = SizeOptions(
            dbs=tuple(args.db),
            page_size=args.page_size,
            floor=not args.skip_floor,
            report=not args.skip_report,
            cli_runs=0 if args.skip_cli else args.cli_runs,
            push_rows=0 if args.skip_push else args.push_rows,
            push_rate=args.push_rate,
            push_burst=args.push_burst,
            push_settings=push_extra,
            push_limit_s=args.push_limit_s
            or round(2 * args.push_rows / args.push_rate + PUSH_START_S, 1),
        )
        with contextlib.ExitStack() as stack:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="idesk-bench-"))
            work = Path(tmp)
            cluster = None
            if "postgresql" in options.dbs and args.sizes:
                cluster, why = start_postgres()
                if cluster is None:
                    progress(f"bench: PostgreSQL skipped: {why}")
                    results["postgresql"] = {"skipped": why}
                    options = replace(
                        options, dbs=tuple(d for d in options.dbs if d != "postgresql")
                    )
                    if not options.dbs:
                        raise BenchError(f"--db postgresql, and PostgreSQL cannot run: {why}")
                else:
                    stack.callback(cluster.stop)
                    results["postgresql"] = {"version": postgres_version(cluster.bin_dir)}
            largest = max(args.sizes, default=0)
            for size in args.sizes:
                size_options = options if size == largest else replace(options, push_rows=0)
                measured = bench_size(
                    size,
                    args.seed,
                    today,
                    work,
                    args.timeout_s,
                    options=size_options,
                    cluster=cluster,
                )
                results["sizes"].append(measured)
                for run in measured["runs"]:
                    results["runs"].append(summary_row(measured, run))
                    if run["db"] == "sqlite":
                        results["pull"].append(
                            {
                                "tasks": size,
                                "world_s": measured["world_s"],
                                "requests": run["full"]["requests"]
                                + run["incremental"]["requests"],
                                "full": run["full"],
                                "incremental": run["incremental"],
                            }
                        )
            add_pg_ratios(results["runs"])
            if not args.skip_demo:
                results["demo"] = bench_demo(args.demo_tasks, args.seed, work, args.timeout_s)
            if not args.skip_cli:
                results["cli"] = bench_cli(work, args.cli_runs, args.timeout_s)
            if not args.skip_snapshot:
                results["snapshot"] = bench_snapshot(
                    args.snapshot_listed,
                    args.snapshot_changed,
                    refresh_percent=args.snapshot_refresh_percent,
                    seed=args.seed,
                    today=today,
                    work=work,
                )
    except BenchError as exc:
        progress(f"bench: could not run: {exc}")
        return EXIT_BROKEN
    targets = Targets(
        floor_ratio=args.floor_ratio,
        incremental_requests=args.incremental_requests,
        incremental_limit_s=args.incremental_limit_s,
        report_limit_s=args.report_limit_s,
        push_share=args.push_share,
        push_429_percent=args.push_429_percent,
        pg_ratio=args.pg_ratio,
    )
    checks = check_memory(results["pull"], args.rss_floor_mib, args.rss_per_task_kib)
    checks += check_runs(results["runs"], targets)
    checks += check_demo(results["demo"], args.demo_limit_s)
    checks += check_cli(results["cli"], args.cli_limit_s)
    checks += check_snapshot(results["snapshot"])
    results["checks"] = [asdict(c) for c in checks]
    results["ok"] = all(c.ok for c in checks)
    results["host"]["load_after"] = _load()
    results["total_s"] = round(time.perf_counter() - started, 1)
    print(render(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Results: {args.out}")
    return EXIT_OK if results["ok"] else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
