"""Several sources in one ledger, end to end through the installed ``idesk-connector``:
per-source runs (``sync --source``), one source's failure reported with its name while the
others' work is kept, and four sources synced concurrently by four processes into one
PostgreSQL ledger ending exactly as four sequential runs into another."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from connector.ledger.db import normalise_url
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import CLI

SEEDS = {"gia-lai": 3, "binh-dinh": 4, "kon-tum": 5, "dak-lak": 6}
TASKS = 60


@contextlib.contextmanager
def _simulators(names: list[str]) -> Iterator[dict[str, Simulator]]:
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(
                Simulator(
                    SimulatorConfig(
                        tasks=TASKS, seed=SEEDS[name], malformed_rate=0.02, faults=Faults.none()
                    )
                )
            )
            for name in names
        }


def _deployment(home: Path, sims: dict[str, Simulator], ledger_url: str) -> dict[str, str]:
    """A config with one [[sources]] per simulator; the environment to run it with."""
    home.mkdir(parents=True, exist_ok=True)
    lines = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDESK_CONNECTOR")}
    for name, sim in sims.items():
        lines += [
            "[[sources]]",
            f'name = "{name}"',
            f'base_url = "{sim.base_url}"',
            'auth = "token"',
            "connect_timeout = 2",
            "read_timeout = 5",
        ]
        env[f"IDESK_CONNECTOR__SOURCES__{name.upper().replace('-', '_')}__TOKEN"] = (
            sim.credentials.token
        )
    lines += [
        "[retry]",
        "max_attempts = 3",
        "initial_wait = 0.01",
        "max_wait = 0.05",
        "[ledger]",
        f'url = "{ledger_url}"',
        f'lock_file = "{home / "run.lock"}"',
        "[log]",
        f'file = "{home / "log.jsonl"}"',
    ]
    config = home / "config.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config.chmod(0o600)
    env["IDESK_CONNECTOR_CONFIG"] = str(config)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _state(url: str) -> dict[str, Any]:
    """What a ledger holds per source, without ids and times."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return sorted(tuple(r) for r in conn.execute(text(sql)))

            return {
                "task": rows(
                    "SELECT source, source_id, content_hash, status_code, lead_unit_code, "
                    "state, deleted_at_source, acked_tracking_status FROM task"
                ),
                "history": rows(
                    "SELECT source, task_id, field, old_value, new_value, count(*) "
                    "FROM task_history GROUP BY source, task_id, field, old_value, new_value"
                ),
                "quarantine": rows(
                    "SELECT source, record_key, field, resolved_at IS NULL FROM quarantine"
                ),
                "outbox": rows(
                    "SELECT source, idempotency_key, kind, alert_type, occasion, state, "
                    "payload_json FROM outbox"
                ),
                "unit": rows("SELECT source, code, name FROM unit"),
                "cursor": rows("SELECT source FROM sync_state"),
                "runs": rows("SELECT source, command, outcome FROM sync_run"),
            }
    finally:
        engine.dispose()


def _counts(state: dict[str, Any], source: str) -> dict[str, int]:
    return {table: sum(1 for r in rows if r[0] == source) for table, rows in state.items()}


@pytest.mark.slow
@pytest.mark.postgres
def test_four_sources_synced_concurrently_end_as_four_sequential_runs(
    tmp_path: Path, pg_url: str, pg_cluster: Any, pg_database: str
) -> None:
    """Four processes `sync --source X` into one PostgreSQL ledger at once: every source's
    tasks, history, quarantine, outbox, units, cursor and run equal those of a sequential
    `sync` of the same four worlds into another ledger (0 lost, 0 duplicated)."""
    names = list(SEEDS)
    other = pg_cluster.create_schema(pg_database)
    sequential_url = pg_cluster.schema_url(pg_database, other)
    try:
        with _simulators(names) as first, _simulators(names) as second:
            env = _deployment(tmp_path / "concurrent", first, pg_url)
            _cli(env, "db", "upgrade")
            running = [
                subprocess.Popen(
                    [str(CLI), "sync", "--source", name, "--format", "json"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for name in names
            ]
            outputs = [p.communicate(timeout=300) for p in running]
            for process, (out, err) in zip(running, outputs, strict=True):
                assert process.returncode in (0, 1), err
                assert json.loads(out)["sources"][0]["outcome"] in ("success", "problems")
            seq_env = _deployment(tmp_path / "sequential", second, sequential_url)
            done = _cli(seq_env, "sync", "--format", "json")
            assert done.returncode in (0, 1), done.stderr
            assert [s["source"] for s in json.loads(done.stdout)["sources"]] == names
        concurrent, sequential = _state(pg_url), _state(sequential_url)
    finally:
        pg_cluster.drop_schema(pg_database, other)
    assert concurrent == sequential
    for name in names:
        figures = _counts(concurrent, name)
        assert figures["task"] > 0 and figures["outbox"] > 0, name
        assert figures["cursor"] == 1 and figures["runs"] == 1, name
    ids = [r[:2] for r in concurrent["task"]]
    assert len(ids) == len(set(ids)), "a task duplicated"
    # Ids are unique per source only: the worlds share task ids.
    by_id: dict[int, set[str]] = {}
    for source, source_id, *_ in concurrent["task"]:
        by_id.setdefault(source_id, set()).add(source)
    assert any(len(sources) > 1 for sources in by_id.values())


def _add_unreachable_source(env: dict[str, str]) -> None:
    """A second source, ``kon-tum``, at an address where nothing listens (loopback port 9)."""
    config = Path(env["IDESK_CONNECTOR_CONFIG"])
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            "[retry]",
            '[[sources]]\nname = "kon-tum"\nbase_url = "http://127.0.0.1:9/x"\n'
            'auth = "token"\nconnect_timeout = 1\n[retry]',
        ),
        encoding="utf-8",
    )
    env["IDESK_CONNECTOR__SOURCES__KON_TUM__TOKEN"] = "t"


def test_a_failing_source_is_named_and_the_others_work_is_kept(tmp_path: Path) -> None:
    """`sync` over two sources whose second cannot be reached: that source is reported by
    name with exit 3 (source unavailable), the first source's tasks are kept."""
    with _simulators(["gia-lai"]) as sims:
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
        env = _deployment(tmp_path, sims, url)
        _add_unreachable_source(env)
        done = _cli(env, "sync", "--format", "json")
        only = _cli(env, "sync", "--source", "gia-lai", "--format", "json")
    assert done.returncode == 3, done.stderr
    assert "source kon-tum" in done.stderr
    sections = {s["source"]: s for s in json.loads(done.stdout)["sources"]}
    assert sections["kon-tum"]["exit_code"] == 3
    assert sections["gia-lai"]["outcome"] in ("success", "problems")
    state = _state(url)
    assert _counts(state, "gia-lai")["task"] > 0
    assert _counts(state, "kon-tum")["task"] == 0
    assert only.returncode in (0, 1), only.stderr
    unknown = _cli(env, "sync", "--source", "nowhere")
    assert unknown.returncode == 2 and "nowhere" in unknown.stderr


def test_check_names_the_source_of_each_step(tmp_path: Path) -> None:
    """`check` over two sources says whose each step is: a `source` key on every JSON step and a
    "Source: NAME" line before each source's steps, so the one that cannot be reached is known."""
    with _simulators(["gia-lai"]) as sims:
        env = _deployment(tmp_path, sims, f"sqlite:///{tmp_path / 'ledger.db'}")
        _add_unreachable_source(env)
        done = _cli(env, "check", "--format", "json")
        table = _cli(env, "check", "--lang", "en")
    assert done.returncode == 3, done.stderr
    steps = json.loads(done.stdout)["steps"]
    failed = [s for s in steps if not s["ok"]]
    assert [(s["source"], s["name"]) for s in failed] == [("kon-tum", "reach")]
    assert {s["source"] for s in steps} == {"gia-lai", "kon-tum"}
    lines = table.stdout.splitlines()
    heads = [n for n, line in enumerate(lines) if line.startswith("Source: ")]
    assert [lines[n] for n in heads] == ["Source: gia-lai", "Source: kon-tum"]
    assert "[FAIL] reach" in "\n".join(lines[heads[1] :])
    assert "[FAIL]" not in "\n".join(lines[: heads[1]])


def _one_source_env(home: Path, sim: Simulator, name: str) -> dict[str, str]:
    """Today's one-[source] config for `sim`, its source named `name`."""
    env = _deployment(home, {name: sim}, f"sqlite:///{home / 'ledger.db'}")
    config = Path(env["IDESK_CONNECTOR_CONFIG"])
    text_ = config.read_text(encoding="utf-8").replace("[[sources]]", "[source]")
    config.write_text(text_, encoding="utf-8")
    env["IDESK_CONNECTOR__SOURCE__TOKEN"] = sim.credentials.token
    return env


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_figures_per_source_equal_a_one_source_ledger(tmp_path: Path) -> None:
    """`report`, `tasks list` and `alerts preview` with --source over a two-source ledger give
    exactly what a one-source ledger of that source gives; `status` lists each source's own
    cursor; `tasks show` of an id both sources hold needs --source."""
    with _simulators(["gia-lai", "binh-dinh"]) as both, _simulators(["gia-lai"]) as alone:
        env = _deployment(tmp_path / "two", both, f"sqlite:///{tmp_path / 'two' / 'ledger.db'}")
        assert _cli(env, "sync").returncode in (0, 1)
        one = _one_source_env(tmp_path / "one", alone["gia-lai"], "gia-lai")
        assert _cli(one, "sync").returncode in (0, 1), "one-source sync"
        # Push-back went to the system each task came from, and only there.
        outbox = _state(f"sqlite:///{tmp_path / 'two' / 'ledger.db'}")["outbox"]
        for name, sim in both.items():
            sent = {r[1] for r in outbox if r[0] == name and r[5] == "sent"}
            received = {w.idempotency_key for w in sim.tracking_writes} | {
                n.idempotency_key for n in sim.notifications
            }
            assert sent and received == sent, name
    for args in (
        ("report", "--as-of", "2026-01-01", "--format", "json"),
        ("tasks", "list", "--limit", "0", "--format", "json"),
        ("alerts", "preview", "--as-of", "2026-01-01", "--format", "json"),
    ):
        mine = _json(_cli(env, *args, "--source", "gia-lai"))
        assert mine == _json(_cli(one, *args)), args
    status = _cli(env, "status", "--source", "binh-dinh", "--format", "json")
    assert status.returncode == 0 and "binh-dinh" in status.stdout, status.stderr
    assert "sources" not in _json(status), "one source read: the one-source shape"
    every = _json(_cli(env, "status", "--format", "json"))
    cursors = {s["name"]: s["cursor"]["cursor"] for s in every["sources"]}
    assert set(cursors) == {"gia-lai", "binh-dinh"} and all(cursors.values()), every["sources"]
    assert every["source"]["name"] == every["sources"][0]["name"]
    for name, cursor in cursors.items():  # each source's own, as status --source NAME shows it
        alone_status = _json(_cli(env, "status", "--source", name, "--format", "json"))
        assert cursor == alone_status["cursor"]["cursor"], name
    state = _state(f"sqlite:///{tmp_path / 'two' / 'ledger.db'}")
    shared = sorted(
        {r[1] for r in state["task"] if r[0] == "gia-lai"}
        & {r[1] for r in state["task"] if r[0] == "binh-dinh"}
    )
    assert shared, "the two worlds share no task id"
    ambiguous = _cli(env, "tasks", "show", str(shared[0]))
    assert ambiguous.returncode == 2 and "--source" in ambiguous.stderr
    shown = _json(
        _cli(env, "tasks", "show", str(shared[0]), "--source", "gia-lai", "--format", "json")
    )
    alone_shown = _json(_cli(one, "tasks", "show", str(shared[0]), "--format", "json"))

    def steady(view: dict[str, Any]) -> dict[str, Any]:
        # The run ids and instants of the history differ between two ledgers; the changes not.
        changes = [(h["field"], h["old"], h["new"]) for h in view.pop("history")]
        return {**view, "history": changes}

    assert steady(shown) == steady(alone_shown)
    kind = ("tasks", "kind", str(shared[0]), "routine", "--by", "Nguyễn Văn A")
    assert _cli(env, *kind).returncode == 2
    assert _cli(env, *kind, "--source", "binh-dinh").returncode == 0
    kinds = _cli(env, "tasks", "show", str(shared[0]), "--source", "binh-dinh", "--format", "json")
    assert "routine" in kinds.stdout
