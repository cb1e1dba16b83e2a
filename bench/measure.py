"""The measured side of the benchmark: one job per process, so each peak RSS is its own.

``bench/run.py`` starts this script once per measurement with a JSON job as its only argument
and reads one JSON line from its stdout. Logs (warnings and up) go to stderr.

Jobs:

``{"kind": "pull", "base_url": ..., "password": ..., "dir": ..., "full": true, "run_id": ...}``
    one `connector.source.pull.pull` against a simulator that the parent process serves (so the
    simulator's world is not counted in this process's memory), into ``DIR/ledger.db``;
``{"kind": "demo", "dir": ..., "tasks": 2000, "seed": 1}``
    what ``idesk-connector demo`` does (`connector.demo.run_demo`), step by step and timed:
    the simulator in this process, a full ``sync`` with delivery (`connector.ops.jobs.run_job`),
    the report (`connector.reports.build.report_current`) and its xlsx and html renderings;
``{"kind": "floor", "base_url": ..., "username": ..., "password": ..., "page_size": 500}``
    the network floor: a bare `requests` session that logs in and pages the search endpoint
    (``start``/``limit``, deleted records included, as the connector reads it), parsing the
    JSON of every page, and nothing else;
``{"kind": "push", "base_url": ..., "password": ..., "dir": ..., "ledger_url": ..., "rows": N,
"rate_per_second": R, "push_settings": {...}}``
    delivery as the scheduled ``push`` runs it (`connector.ops.jobs.run_job`) from a ledger a
    full pull planned: every due outbox row but the first `rows` tracking writes is set aside
    (state ``past``), then one push run at ``push.rate_per_second`` R (and any other
    ``push.*`` setting given) against the rate-limited simulator the parent serves.
"""

from __future__ import annotations

import contextlib
import json
import resource
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()

# The library, imported before the baseline is taken: a run pays for these imports whatever the
# number of tasks, so they belong to the baseline, not to the pull's working memory.
from connector.clock import SystemClock, local_today  # noqa: E402
from connector.demo import demo_settings  # noqa: E402
from connector.errors import ConnectorError  # noqa: E402
from connector.ledger.db import open_ledger  # noqa: E402
from connector.ops.jobs import run_job  # noqa: E402
from connector.ops.log import configure_logging  # noqa: E402
from connector.ops.progress import NullProgress  # noqa: E402
from connector.reports.build import report_current  # noqa: E402
from connector.reports.model import ReportOptions  # noqa: E402
from connector.reports.render.formats import render_bytes  # noqa: E402
from connector.rules.calendar import load_calendar  # noqa: E402
from connector.settings import Settings  # noqa: E402
from connector.source.pull import PullResult, pull  # noqa: E402
from simulator import Faults, Simulator, SimulatorConfig  # noqa: E402

MIB = 1024 * 1024


def _status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` memory field in KiB (Linux), None elsewhere."""
    try:
        text = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def rss_mib() -> float:
    """The resident set size now."""
    kib = _status_kib("VmRSS")
    return round(kib / 1024, 1) if kib is not None else peak_rss_mib()


def peak_rss_mib() -> float:
    """The peak resident set size of this process so far (VmHWM, or ``ru_maxrss``)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # ru_maxrss is in KiB on Linux and in bytes on macOS.
        kib = maxrss // 1024 if sys.platform == "darwin" else maxrss
    return round(kib / 1024, 1)


def children_cpu_s() -> float:
    """CPU seconds used by this process's ended children (a pull's forked classifier)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_maxrss_kib() -> int:
    """The largest peak RSS of this process's ended children, in KiB."""
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return maxrss // 1024 if sys.platform == "darwin" else maxrss


def cpu_s() -> float:
    """CPU seconds (user + system) used by this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = work()
    return out, time.perf_counter() - start


def job_settings(job: dict[str, Any]) -> Settings:
    """The demo's settings for a job: its ledger URL (default ``DIR/ledger.db``) and page size."""
    settings = demo_settings(job["base_url"], job["password"], Path(job["dir"]))
    update: dict[str, Any] = {}
    if job.get("ledger_url"):
        update["ledger"] = settings.ledger.model_copy(update={"url": job["ledger_url"]})
    if job.get("page_size"):
        update["source"] = settings.source.model_copy(update={"page_size": int(job["page_size"])})
    return settings.model_copy(update=update) if update else settings


def floor_job(job: dict[str, Any]) -> dict[str, Any]:
    """The network floor: log in, page the search endpoint with one `requests` session and
    parse each page's JSON; nothing stored, nothing normalised."""
    import requests  # noqa: PLC0415 - imported before the clock starts, like the pull's imports

    base = job["base_url"].rstrip("/")
    limit = int(job["page_size"])
    cpu_before = cpu_s()
    start = time.perf_counter()
    with requests.Session() as session:
        login = session.post(
            f"{base}/auth/login.cpx",
            data={"username": job["username"], "password": job["password"]},
            timeout=60,
        )
        login.raise_for_status()
        offset, records, pages, total = 0, 0, 0, None
        while True:
            answer = session.post(
                f"{base}/tasks/search.cpx",
                json={"start": offset, "limit": limit, "includeDeleted": True},
                timeout=60,
            )
            answer.raise_for_status()
            body = answer.json()
            items = body["items"]
            pages += 1
            records += len(items)
            offset += len(items)
            total = body.get("total")
            if not items or (isinstance(total, int) and offset >= total):
                break
    wall = time.perf_counter() - start
    return {
        "kind": "floor",
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu_s() - cpu_before, 3),
        "records": records,
        "pages": pages,
        "total": total,
        "records_per_s": round(records / wall, 1) if wall > 0 else None,
        "rss_peak_mib": peak_rss_mib(),
    }


def push_settings(settings: Settings, rate: float, extra: dict[str, Any]) -> Settings:
    """``push.rate_per_second`` = `rate`, and the other ``push.*`` values given (validated by
    the installed `PushSettings`, so that a key it does not know fails loudly)."""
    push_type = type(settings.push)
    unknown = sorted(set(extra) - set(push_type.model_fields))
    if unknown:
        raise SystemExit(
            f"push settings {unknown} are not push.* settings of this connector"
            f" (known: {sorted(push_type.model_fields)})"
        )
    values = {**settings.push.model_dump(), "rate_per_second": rate, **extra}
    return settings.model_copy(update={"push": push_type.model_validate(values)})


def set_aside_outbox(ledger_path: Path, rows: int) -> dict[str, int]:
    """Keep the first `rows` pending tracking writes due; every other due row is set aside
    (``past``), so that one push run delivers exactly those. Counts before and after."""
    with contextlib.closing(sqlite3.connect(ledger_path)) as db, db:
        planned = db.execute(
            "SELECT count(*) FROM outbox WHERE kind = 'tracking' AND state = 'pending'"
        ).fetchone()[0]
        planned_alerts = db.execute(
            "SELECT count(*) FROM outbox WHERE kind != 'tracking' AND state = 'pending'"
        ).fetchone()[0]
        kept = [
            r[0]
            for r in db.execute(
                "SELECT id FROM outbox WHERE kind = 'tracking' AND state = 'pending'"
                " ORDER BY id LIMIT ?",
                (rows,),
            )
        ]
        db.execute("CREATE TEMP TABLE bench_keep (id INTEGER PRIMARY KEY)")
        db.executemany("INSERT INTO bench_keep (id) VALUES (?)", [(i,) for i in kept])
        set_aside = db.execute(
            "UPDATE outbox SET state = 'past' WHERE state IN ('pending', 'failed', 'sending')"
            " AND id NOT IN (SELECT id FROM bench_keep)"
        ).rowcount
    return {
        "planned_tracking": planned,
        "planned_alerts": planned_alerts,
        "kept": len(kept),
        "set_aside": set_aside,
    }


def push_job(job: dict[str, Any]) -> dict[str, Any]:
    """Deliver `rows` planned tracking writes with one push run, as the scheduler runs it."""
    base = job_settings(job)
    settings = push_settings(base, float(job["rate_per_second"]), job.get("push_settings") or {})
    ledger_path = Path(settings.ledger.url.removeprefix("sqlite:///"))
    outbox = set_aside_outbox(ledger_path, int(job["rows"]))
    cpu_before = cpu_s()
    start = time.perf_counter()
    error = ""
    try:
        result = run_job(settings, "push", trigger="bench", progress=NullProgress())
        outcome, counts = result.outcome.value, result.counts()
    except ConnectorError as exc:  # a run that gives up is a figure, not a broken bench
        outcome, counts, error = "raised", {}, f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - start
    sent = int(counts.get("pushes_sent", 0))
    return {
        "kind": "push",
        "outcome": outcome,
        "error": error,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu_s() - cpu_before, 3),
        "sent": sent,
        "rows_per_s": round(sent / wall, 2) if wall > 0 else None,
        "rate_per_second": settings.push.rate_per_second,
        "push_settings": settings.push.model_dump(mode="json"),
        "outbox": outbox,
        "rss_peak_mib": peak_rss_mib(),
        "counts": counts,
    }


def pull_job(job: dict[str, Any]) -> dict[str, Any]:
    """One pull, timed; the read-and-write phase is told apart from the classification."""
    settings = job_settings(job)
    # Open (and on the first run migrate) the ledger outside the measured time.
    ledger, migrate_s = _timed(lambda: open_ledger(settings.ledger.url))
    page_marks: list[float] = []

    def on_page(_result: PullResult) -> None:
        page_marks.append(time.perf_counter())

    baseline = rss_mib()
    cpu_before = cpu_s()
    start = time.perf_counter()
    try:
        result: PullResult = pull(
            settings,
            run_id=job["run_id"],
            full=bool(job["full"]),
            ledger=ledger,
            progress=NullProgress(),
            on_page=on_page,
        )
    finally:
        ledger.close()
    wall = time.perf_counter() - start
    pages_s = (page_marks[-1] - start) if page_marks else 0.0
    return {
        "kind": "pull",
        "full": bool(job["full"]),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu_s() - cpu_before, 3),
        "pages_s": round(pages_s, 3),
        "after_pages_s": round(wall - pages_s, 3),
        "migrate_s": round(migrate_s, 3),
        "records_per_s": round(result.fetched / wall, 1) if wall > 0 else None,
        "rss_baseline_mib": baseline,
        "rss_peak_mib": peak_rss_mib(),
        # The pull's second process (a big listing classified beside its pages), if any.
        "children_cpu_s": round(children_cpu_s(), 3),
        "children_rss_peak_mib": round(_children_maxrss_kib() / 1024, 1),
        "counts": result.counts(),
    }


def demo_job(job: dict[str, Any]) -> dict[str, Any]:
    """`connector.demo.run_demo`'s steps, each timed (keep the two in step)."""
    directory = Path(job["dir"])
    tasks = int(job["tasks"])
    lang = "vi"
    timings: dict[str, float] = {}
    imports_s = time.perf_counter() - STARTED
    today = local_today(SystemClock())
    config = SimulatorConfig(tasks=tasks, seed=int(job["seed"]), today=today, faults=Faults.none())
    sim, timings["world_s"] = _timed(lambda: Simulator(config).start())
    try:
        settings = demo_settings(sim.base_url, sim.credentials.password, directory.resolve())
        job_result, timings["sync_s"] = _timed(
            lambda: run_job(settings, "sync", full=True, trigger="bench", progress=NullProgress())
        )
        notifications = len(sim.notifications)
        tracking = len(sim.tracking_writes)
    finally:
        sim.stop()

    def build() -> Any:
        options = ReportOptions.from_settings(settings.report, as_of=today, lang=lang)
        calendar = load_calendar(None)
        with open_ledger(settings.ledger.url) as ledger, ledger.reading() as session:
            return report_current(session, settings, options, calendar)

    report, timings["report_build_s"] = _timed(build)
    xlsx, timings["render_xlsx_s"] = _timed(lambda: render_bytes(report, "xlsx", lang))
    html, timings["render_html_s"] = _timed(lambda: render_bytes(report, "html", lang))
    (directory / "report.xlsx").write_bytes(xlsx)
    (directory / "report.html").write_bytes(html)
    counts = job_result.counts()
    return {
        "kind": "demo",
        "tasks": tasks,
        "outcome": job_result.outcome.value,
        "imports_s": round(imports_s, 3),
        **{key: round(value, 3) for key, value in timings.items()},
        "report_s": round(
            timings["report_build_s"] + timings["render_xlsx_s"] + timings["render_html_s"], 3
        ),
        "cpu_s": round(cpu_s(), 3),
        "fetched": counts.get("fetched", 0),
        "planned": counts.get("planned", 0),
        "delivered_tracking": tracking,
        "delivered_alerts": notifications,
        "xlsx_bytes": len(xlsx),
        "html_bytes": len(html),
        "rss_peak_mib": peak_rss_mib(),
        "counts": counts,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: measure.py JOB_JSON (started by bench/run.py)", file=sys.stderr)
        return 2
    job = json.loads(argv[1])
    configure_logging(level="warning", fmt="json", stream=sys.stderr)
    kinds: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "pull": pull_job,
        "demo": demo_job,
        "floor": floor_job,
        "push": push_job,
    }
    out = kinds[job["kind"]](job)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
