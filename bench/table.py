"""Print a results file of ``bench/run.py`` as a dated Markdown section for bench/README.md.

Usage::

    .venv/bin/python bench/table.py /tmp/bench.json >> bench/README.md   # then edit the title

One row per size and ledger (the ``runs`` of issue 15), the machine it ran on and the load,
then the targets that failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

COLUMNS = (
    ("tasks", "tasks", ",d"),
    ("db", "db", ""),
    ("floor s", "floor_s", ".2f"),
    ("full pull s", "full_pull_s", ".2f"),
    ("× floor", "ratio", ".1f"),
    ("× SQLite", "pg_to_sqlite", ".2f"),
    ("peak MiB", "peak_rss_mb", ".1f"),
    ("incr requests", "incremental_requests", "d"),
    ("incr s", "incremental_s", ".2f"),
    ("report json s", "report_s", ".2f"),
    ("report table s", "report_table_s", ".2f"),
    ("tasks show s", "cli_show_s", ".2f"),
    ("push rows/s", "push_rps", ".2f"),
    ("limit /s", "rate_limit_rps", "g"),
    ("429s", "push_429", "d"),
    ("rows pushed", "push_rows", ",d"),
)


def _cell(value: Any, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def _postgres(pg: dict[str, Any]) -> str:
    if pg.get("version"):
        return str(pg["version"])
    return f"PostgreSQL skipped: {pg['skipped']}" if pg.get("skipped") else "PostgreSQL not run"


def markdown(results: dict[str, Any]) -> str:
    host = results["host"]
    pg = results.get("postgresql") or {}
    git = results.get("git") or {}
    commit = (git.get("commit") or "?")[:10] + (" (changed)" if git.get("dirty") else "")
    lines = [
        f"### {results['started_at'][:10]}: commit {commit}",
        "",
        f"{host.get('cpu_model')}, {host['cpus']} CPUs, {host.get('ram_gib')} GiB RAM; Python"
        f" {host['python']}, SQLite {host.get('sqlite')},"
        f" {_postgres(pg)}; load average"
        f" {host['load_before']} before, {host['load_after']} after; {results['total_s']:.0f} s.",
        "",
        "| " + " | ".join(title for title, _, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for run in results.get("runs", []):
        cells = [_cell(run.get(key), spec) for _, key, spec in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    files = [
        f"{run['tasks']:,} {run['db']}: docx {_cell(run.get('report_docx_s'), '.2f')} s"
        f" ({_cell(run.get('report_docx_peak_mib'), '.0f')} MiB), xlsx"
        f" {_cell(run.get('report_xlsx_s'), '.2f')} s"
        f" ({_cell(run.get('report_xlsx_peak_mib'), '.0f')} MiB)"
        for run in results.get("runs", [])
        if run.get("report_docx_s") is not None
    ]
    if files:
        lines += ["", "Report files (wall, peak RSS): " + "; ".join(files) + "."]
    pulls = [
        f"{run['tasks']:,} {run['db']}: pull's process {_cell(run.get('full_pull_cpu_s'), '.1f')}"
        f" s of CPU; second process {_cell(run.get('full_pull_child_cpu_s'), '.1f')} s,"
        f" peak {_cell(run.get('full_pull_child_peak_mib'), '.0f')} MiB"
        for run in results.get("runs", [])
        if run.get("full_pull_child_cpu_s")
    ]
    if pulls:
        lines += ["", "Full pull classified beside its pages: " + "; ".join(pulls) + "."]
    cli = results.get("cli")
    if cli:
        shown = ", ".join(f"`{c['name']}` {c['median_s']:.2f} s" for c in cli["commands"])
        lines += ["", f"CLI start-up (median of {cli['runs']}): {shown}."]
    failed = [c for c in results.get("checks", []) if not c["ok"]]
    if failed:
        missed = "; ".join(
            f"`{c['name']}` {c['value']} {c['unit']} (limit {c['limit']})" for c in failed
        )
        lines += ["", f"Missed: {missed}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: bench/table.py RESULTS_JSON", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(json.loads(Path(argv[1]).read_text(encoding="utf-8"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
