"""A big pull classified in a second process as its pages commit (`connector.source.classifier`,
``sync.parallel_min_tasks``), run as cron runs the installed CLI: it leaves the ledger a pull
classifying after its pages leaves, on SQLite and PostgreSQL; a task written again by a later
page (records changed while the pull read them) is judged from its last version.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connector.clock import SystemClock
from connector.ledger.db import open_ledger
from connector.ledger.reader import open_reader
from connector.ops.faultpoints import ENV_VAR as CRASH_ENV
from connector.ops.forked import usable_cpus
from connector.rules.classify import ClassifyResult, reclassify
from connector.settings import load_settings
from connector.source.pull import classification_of
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.harness import CLI

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or usable_cpus() < 2,
    reason="the second process needs Linux and two CPUs",
)

TODAY = date(2022, 3, 7)
TASKS = 1200
PAGE_SIZE = 100


@dataclass
class Pulled:
    """One `pull --full` by the CLI into its own ledger."""

    url: str
    config: Path
    env: dict[str, str]
    events: list[dict[str, Any]]


def _pull(
    home: Path,
    sim: Simulator,
    url: str,
    min_tasks: int,
    *args: str,
    crash_at: str = "",
    codes: tuple[int, ...] = (0, 1),
    extra_toml: str = "",
    push_toml: str = "",
) -> Pulled:
    home.mkdir(parents=True, exist_ok=True)
    config = home / "config.toml"
    config.write_text(
        f'[source]\nbase_url = "{sim.base_url}"\npage_size = {PAGE_SIZE}\n'
        f'[ledger]\nurl = "{url}"\n'
        f"[sync]\nparallel_min_tasks = {min_tasks}\n"
        f"[push]\nrate_per_second = 500.0\n{push_toml}" + extra_toml,
        encoding="utf-8",
    )
    config.chmod(0o600)
    env = {
        "PATH": "/usr/bin:/bin",
        "IDESK_CONNECTOR_CONFIG": str(config),
        "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
    }
    if crash_at:
        env[CRASH_ENV] = crash_at
    proc = subprocess.run(
        [str(CLI), "--log-format", "json", "pull", "--full", *args],
        env=env,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode in codes, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    return Pulled(url, config, env, events)


def _named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e.get("event") == name]


_RUN_COLUMNS = {"first_seen_run", "last_seen_run", "last_full_run", "first_seen_at", "updated_at"}


def _ledger(url: str) -> dict[str, Any]:
    """What a pull decided, without the run ids and instants that differ between two runs."""
    reader = open_reader(url)
    try:
        tasks = [
            {k: v for k, v in row.items() if k not in _RUN_COLUMNS}
            for row in reader.rows("SELECT * FROM task ORDER BY source_id")
        ]
        outbox = reader.rows(
            "SELECT o.idempotency_key, o.kind, o.task_id, o.alert_type, o.occasion,"
            " o.payload_json, o.state, s.idempotency_key AS superseded_by"
            " FROM outbox o LEFT JOIN outbox s ON s.id = o.superseded_by"
            " ORDER BY o.idempotency_key"
        )
        history = reader.rows(
            "SELECT task_id, field, old_value, new_value, observed_on, effective_on,"
            " source_modified FROM task_history ORDER BY task_id, field, id"
        )
    finally:
        reader.close()
    return {"tasks": tasks, "outbox": outbox, "history": history}


@pytest.fixture(params=["sqlite", "postgres"])
def two_ledgers(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'after.db'}", f"sqlite:///{tmp_path / 'beside.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    database = request.getfixturevalue("pg_database")
    schemas = [cluster.create_schema(database) for _ in range(2)]
    request.addfinalizer(lambda: [cluster.drop_schema(database, s) for s in schemas])
    return cluster.schema_url(database, schemas[0]), cluster.schema_url(database, schemas[1])


def test_classified_beside_the_pages_is_classified_after_them(
    tmp_path: Path, two_ledgers: tuple[str, str]
) -> None:
    """The same listing pulled twice, classified after the pages (``parallel_min_tasks = 0``)
    and beside them (1): the same tasks with the same classification, stamps and suggestions,
    the same outbox rows (keys, payloads, states, what supersedes what) and the same history."""
    after_url, beside_url = two_ledgers
    config = SimulatorConfig(
        tasks=TASKS, seed=11, today=TODAY, malformed_rate=0.01, faults=Faults.none()
    )
    with Simulator(config) as sim:
        after = _pull(tmp_path / "after", sim, after_url, 0)
        beside = _pull(tmp_path / "beside", sim, beside_url, 1)
    assert not _named(after.events, "classify_beside_pages")
    (started,) = _named(beside.events, "classify_beside_pages")
    (finished,) = _named(beside.events, "classified_beside_pages")
    assert started["total"] >= TASKS
    assert finished["pages"] >= TASKS // PAGE_SIZE
    assert finished["classified"] > TASKS * 0.9
    assert finished["planned"] > 0
    assert not _named(beside.events, "classify_worker_failed")
    (after_run,) = _named(after.events, "run_finished")
    (beside_run,) = _named(beside.events, "run_finished")
    counted = ("classified", "status_changes", "suggested", "planned", "classify_errors")
    assert {k: beside_run[k] for k in counted} == {k: after_run[k] for k in counted}
    expected, found = _ledger(after.url), _ledger(beside.url)
    assert len(found["tasks"]) == len(expected["tasks"]) > TASKS * 0.9
    assert found == expected


def test_a_task_written_again_by_a_later_page_is_judged_from_its_last_version(
    tmp_path: Path,
) -> None:
    """Records change while the pull reads them (the simulator's ``mutate`` fault, on every
    page): verdicts of a task a later page wrote again are left out (no status history row for
    a version written over), and every task ends classified from what the ledger holds of it:
    judged again from scratch, no task changes its classification and nothing more is
    planned."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    faults = Faults(rate_limit=0, mutate=1.0, seed=3)
    config = SimulatorConfig(tasks=TASKS, seed=12, today=TODAY, faults=faults)
    with Simulator(config) as sim:
        pulled = _pull(tmp_path / "home", sim, url, 1)
    (finished,) = _named(pulled.events, "classified_beside_pages")
    assert finished["judged_again"] > 0
    assert not _named(pulled.events, "classify_worker_failed")
    # Classified once, from the version the pull stored last: one status row per task, as a
    # pull classifying after its pages writes (none for a version written over).
    reader = open_reader(url)
    try:
        twice = reader.rows(
            "SELECT task_id, count(*) AS n FROM task_history WHERE field = 'status_code'"
            " GROUP BY task_id HAVING count(*) > 1"
        )
    finally:
        reader.close()
    assert twice == []

    settings = load_settings(pulled.config, environ=pulled.env).settings
    ledger = open_ledger(url)
    try:
        with ledger.transaction() as session:  # every task due again
            session.connection().exec_driver_sql("UPDATE task SET recheck_on = NULL")
            as_of = session.connection().exec_driver_sql("SELECT max(checked_on) FROM task")
            day = date.fromisoformat(str(as_of.scalar()))
        history_before = _count(url, "task_history")
        outbox_before = _count(url, "outbox")
        how = classification_of(
            settings,
            ledger,
            clock=SystemClock(),
            run_id="check",
            as_of=day,
            calendar=None,
            plan_outbox=True,
        )
        again: ClassifyResult = reclassify(
            ledger,
            as_of=how.as_of,
            calendar=how.calendar,
            policy=how.policy,
            run_id="check",
            clock=SystemClock(),
            planner=how.planner,
            key=how.key,
            alerts=how.alerts,
        )
    finally:
        ledger.close()
    assert again.classified > TASKS * 0.9
    assert (again.changed, again.status_changes, again.planned) == (0, 0, 0)
    assert _count(url, "task_history") == history_before
    assert _count(url, "outbox") == outbox_before


def _count(url: str, table: str) -> int:
    reader = open_reader(url)
    try:
        return int(reader.scalar(f"SELECT count(*) FROM {table}") or 0)
    finally:
        reader.close()


def test_a_dry_run_classifies_after_its_pages(tmp_path: Path) -> None:
    """``--dry-run`` writes in one transaction rolled back at the end, which a second process
    could not see: it classifies after its pages, and leaves nothing behind."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    config = SimulatorConfig(tasks=300, seed=13, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        pulled = _pull(tmp_path / "home", sim, url, 1, "--dry-run")
    assert not _named(pulled.events, "classify_beside_pages")
    (finished,) = _named(pulled.events, "run_finished")
    assert finished["dry_run"] is True
    assert finished["classified"] == finished["inserted"] == 300
    assert _count(url, "task") == 0


def _sqlite_pair(tmp_path: Path) -> tuple[str, str]:
    return f"sqlite:///{tmp_path / 'after.db'}", f"sqlite:///{tmp_path / 'beside.db'}"


def test_a_second_process_that_dies_leaves_its_pages_to_the_classification_step(
    tmp_path: Path,
) -> None:
    """The second process is killed as it starts its third page (crash point
    ``page_classifier``): the pull logs it, writes what it had answered, classifies the rest
    after its pages and exits 0 with the ledger a pull classifying after its pages leaves."""
    after_url, beside_url = _sqlite_pair(tmp_path)
    config = SimulatorConfig(tasks=TASKS, seed=14, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        after = _pull(tmp_path / "after", sim, after_url, 0, codes=(0,))
        beside = _pull(
            tmp_path / "beside", sim, beside_url, 1, crash_at="page_classifier@3", codes=(0,)
        )
    (failed,) = _named(beside.events, "classify_worker_failed")
    assert "exit code -9" in failed["error"]
    (finished,) = _named(beside.events, "classified_beside_pages")
    assert 0 < finished["classified"] < TASKS
    (run,) = _named(beside.events, "run_finished")
    assert run["classified"] == TASKS and run["outcome"] == "success"
    assert _ledger(beside.url) == _ledger(after.url)


def test_a_pull_killed_while_writing_verdicts_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL as the pull's process writes the outbox rows planned beside its pages (crash
    point ``before_intent_commit``, second time): that page's transaction is lost whole, and
    the next pull leaves the ledger one uninterrupted pull leaves (no intent lost or doubled,
    no status written twice)."""
    after_url, beside_url = _sqlite_pair(tmp_path)
    config = SimulatorConfig(tasks=TASKS, seed=15, today=TODAY, faults=Faults.none())
    with Simulator(config) as sim:
        after = _pull(tmp_path / "after", sim, after_url, 0, codes=(0,))
        killed = _pull(
            tmp_path / "beside",
            sim,
            beside_url,
            1,
            crash_at="before_intent_commit@2",
            codes=(-9,),
        )
        assert _named(killed.events, "classify_beside_pages")
        assert 0 < _count(beside_url, "outbox") < _count(after_url, "outbox")
        _pull(tmp_path / "beside", sim, beside_url, 1, codes=(0,))
    assert _ledger(beside_url) == _ledger(after.url)


def test_a_pull_the_source_stops_counts_what_was_classified_beside_its_pages(
    tmp_path: Path,
) -> None:
    """The source fails for good after a few pages (HTTP 500s beyond the retries): the pull
    exits 3 as ever, having written the verdicts of every committed page (the second process's
    answers waited for, however late they come), and the run's record counts them; the second
    process ends with it."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    faults = Faults(rate_limit=0, http5xx=0.2, seed=4)
    config = SimulatorConfig(tasks=TASKS, seed=16, today=TODAY, faults=faults)
    retry = "[retry]\nmax_attempts = 2\ninitial_wait = 0.01\nmax_wait = 0.02\n"
    with Simulator(config) as sim:
        pulled = _pull(tmp_path / "home", sim, url, 1, codes=(3,), extra_toml=retry)
    assert _named(pulled.events, "classify_beside_pages")
    (run,) = _named(pulled.events, "run_finished")
    assert run["outcome"] == "source_unavailable"
    stored = _count(url, "task")
    assert 0 < run["inserted"] == stored < TASKS
    reader = open_reader(url)
    try:
        judged = int(reader.scalar("SELECT count(*) FROM task WHERE recheck_on IS NOT NULL"))
        status_rows = int(
            reader.scalar("SELECT count(*) FROM task_history WHERE field = 'status_code'")
        )
    finally:
        reader.close()
    assert run["classified"] == judged == stored  # the committed pages' verdicts waited for
    assert run["status_changes"] == status_rows
    assert run["planned"] == _count(url, "outbox") > 0


def test_without_push_the_verdicts_alone_are_written_beside_the_pages(tmp_path: Path) -> None:
    """``push.enabled = false``: nothing is planned, the second process judges only, and the
    ledger is the one a pull classifying after its pages leaves."""
    after_url, beside_url = _sqlite_pair(tmp_path)
    config = SimulatorConfig(tasks=TASKS, seed=17, today=TODAY, faults=Faults.none())
    off = "enabled = false\n"
    with Simulator(config) as sim:
        after = _pull(tmp_path / "after", sim, after_url, 0, codes=(0,), push_toml=off)
        beside = _pull(tmp_path / "beside", sim, beside_url, 1, codes=(0,), push_toml=off)
    (finished,) = _named(beside.events, "classified_beside_pages")
    assert finished["classified"] == TASKS and finished["planned"] == 0
    assert _count(beside_url, "outbox") == 0
    assert _ledger(beside.url) == _ledger(after.url)
