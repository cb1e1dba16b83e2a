"""The pull end to end for a second, different dialect, by mapping alone, on SQLite and PostgreSQL.

Dialect b (`tests/dialect_server.py`, mapping `tests/fixtures/dialect_b.toml`) has other keys,
dd/mm/yyyy dates, page-number pagination and a list of refs plus one detail call per job. The
same acceptance as the contract's (`tests/test_sync.py`): after `pull` the ledger matches the
server's truth (0 lost, 0 duplicated, 0 stale), every malformed record is in quarantine with a
reason naming its field, a second pull with no change writes nothing, changes arrive, and a
record fixed at the server leaves quarantine. A page-number listing never moves the cursor, so
every pull reads everything (see mappings/README.md, "The cursor").
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Table, func, select
from sqlmodel import col

from connector.clock import FixedClock
from connector.errors import BadRecord
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import QuarantineRow, TaskHistory, TaskRow, TaskSnapshot
from connector.mapping.normalise import normalise, record_key
from connector.mapping.spec import MappingSpec, load_mapping
from connector.models import NormalisedTask, TaskState
from connector.ops.runs import recorded_run
from connector.rules.calendar import load_calendar
from connector.rules.classify import DONE_STATUSES
from connector.settings import LedgerSettings, PushSettings, RetrySettings, Settings, SourceSettings
from connector.source.pull import PullResult, pull
from tests.support import DATA
from tests.support.dialect_server import BWorld, DialectServer, b_date, b_instant, b_world

MAPPING = DATA / "dialect_b.toml"
SPEC: MappingSpec = load_mapping(MAPPING)
SOURCE = "dialect-b"
JOBS, MALFORMED = 300, 4  # 1.3 %: one of each kind in B_MALFORM_KINDS
PAGE = 50
CALENDAR = load_calendar()  # the deployment's calendar (shipped overrides), built once


def no_sleep(_: float) -> None:
    """Retries in these tests never wait."""


def make_settings(server: DialectServer, ledger: Ledger) -> Settings:
    """A deployment reading dialect b through its mapping file (read-only: no push)."""
    return Settings(
        source=SourceSettings(
            base_url=server.base_url,
            mapping=str(MAPPING),
            name=SOURCE,
            username=server.state.username,
            password=SecretStr(server.state.password),
            page_size=PAGE,
            connect_timeout=2,
            read_timeout=5,
        ),
        retry=RetrySettings(max_attempts=3, initial_wait=0.0, max_wait=0.01, total_budget=2),
        ledger=LedgerSettings(url=ledger.url),
        push=PushSettings(enabled=False),
    )


def run_pull(
    server: DialectServer, ledger: Ledger, *, full: bool = False, run_id: str = ""
) -> PullResult:
    """A recorded pull, classified as of the server's local today."""
    clock = FixedClock(server.state.now)
    run_id = run_id or f"run-{time.monotonic_ns()}"
    with recorded_run(ledger, "pull", "cron", run_id, clock) as run:
        return pull(
            make_settings(server, ledger),
            run_id=run_id,
            full=full,
            clock=clock,
            ledger=ledger,
            run=run,
            sleep=no_sleep,
            calendar=CALENDAR,
        )


@dataclass
class Truth:
    """What the ledger should hold for the server's current jobs."""

    tasks: dict[int, NormalisedTask]
    bad: dict[str, tuple[int, BadRecord]]  # record key -> (the server's ref, why it is refused)


def truth(server: DialectServer) -> Truth:
    """Each detail record as the server would send it, normalised (or refused) by the mapping."""
    with server.state.lock:
        records = dict(server.state.records)
    tasks: dict[int, NormalisedTask] = {}
    bad: dict[str, tuple[int, BadRecord]] = {}
    for ref, record in records.items():
        try:
            task = normalise(record, SPEC)
        except BadRecord as exc:
            bad[record_key(record, SPEC)] = (ref, exc)
        else:
            assert task.source_id not in tasks
            tasks[task.source_id] = task
    return Truth(tasks, bad)


def stored_tasks(ledger: Ledger) -> list[NormalisedTask]:
    with ledger.reading() as s:
        return [repo.task_from_row(row) for row in s.scalars(select(TaskRow))]


def assert_matches(
    ledger: Ledger, server: DialectServer, world: BWorld, *, missing: frozenset[int] = frozenset()
) -> Truth:
    """0 lost, 0 duplicated, 0 stale (every field); quarantine == the malformed, naming fields.

    `missing`: tasks gone from the server, which a full read keeps marked deleted (``missing``).
    """
    want = truth(server)
    rows = stored_tasks(ledger)
    ids = [t.source_id for t in rows]
    assert len(ids) == len(set(ids)), "duplicated tasks"
    have = {t.source_id: t for t in rows}
    lost = sorted(want.tasks.keys() - have.keys())
    extra = sorted(have.keys() - want.tasks.keys() - missing)
    stale = sorted(i for i in want.tasks.keys() & have.keys() if want.tasks[i] != have[i])
    assert (lost, extra, stale) == ([], [], [])
    with ledger.reading() as s:
        for task_id in missing:
            row = repo.get_task(s, task_id)
            assert row is not None and (row.deleted_at_source, row.deleted_reason) == (
                True,
                "missing",
            )
        found = s.execute(select(col(TaskRow.source_id), col(TaskRow.content_hash)))
        hashes = {int(task_id): digest for task_id, digest in found}
        open_q = repo.list_quarantine(s)
    for task_id, task in want.tasks.items():
        assert hashes[task_id] == repo.content_hash(task)
    keys = [q.record_key for q in open_q]
    assert len(keys) == len(set(keys)), "a bad record quarantined twice"
    assert set(keys) == set(want.bad)
    named = {q.record_key: q for q in open_q}
    for key, (ref, exc) in want.bad.items():
        q = named[key]
        assert (q.reason, q.field) == (str(exc), exc.field)
        assert f"(source '{world.malformed[ref]}')" in q.field, q.reason
        assert q.field in q.reason
    return want


def fingerprint(ledger: Ledger) -> tuple[Any, ...]:
    """The row counts of tasks, history, snapshots and quarantine; a digest of every task and
    quarantine row (a full read's ``last_full_run`` stamp included)."""
    with ledger.reading() as s:
        counts = tuple(
            s.scalar(select(func.count()).select_from(m))
            for m in (TaskRow, TaskHistory, TaskSnapshot, QuarantineRow)
        )
        digest = hashlib.sha256()
        for model in (TaskRow, QuarantineRow):
            table: Table = getattr(model, "__table__")  # noqa: B009 (untyped on SQLModel)
            for row in s.execute(select(table).order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return counts, digest.hexdigest()


def edit(server: DialectServer, ref: int, /, **changes: Any) -> dict[str, Any]:
    """Change one job at the server (a new dict: the old one may be shared), bump ``updated``."""
    with server.state.lock:
        job = dict(server.state.records[ref])
        job.update(changes)
        job["updated"] = b_instant(server.state.now)
        server.state.records[ref] = job
        return job


def lead_step(job: dict[str, Any], **changes: str) -> list[dict[str, Any]]:
    """The job's steps with the lead step changed."""
    return [({**step, **changes} if step["role"] == "lead" else step) for step in job["steps"]]


@pytest.fixture
def big_world() -> BWorld:
    """The acceptance world: 300 varied dialect-b jobs, 4 malformed (one of each kind)."""
    return b_world(JOBS, malformed=MALFORMED)


@pytest.fixture
def big_server(big_world: BWorld) -> Iterator[DialectServer]:
    """The dialect-b test server on loopback, holding `big_world`."""
    with DialectServer("b", big_world.jobs) as running:
        yield running


@pytest.fixture
def world() -> BWorld:
    """A small world for the behaviour tests: 40 jobs, 4 malformed (one of each kind)."""
    return b_world(40, malformed=MALFORMED, seed=3)


@pytest.fixture
def server(world: BWorld) -> Iterator[DialectServer]:
    """The dialect-b test server on loopback, holding `world`."""
    with DialectServer("b", world.jobs) as running:
        yield running


def test_pull_matches_truth_and_second_pull_writes_nothing(
    big_server: DialectServer, big_world: BWorld, ledger: Ledger
) -> None:
    """300 jobs, 4 malformed: exact ledger, quarantine naming fields; re-pull writes nothing."""
    server, world = big_server, big_world
    first = run_pull(server, ledger)
    want = assert_matches(ledger, server, world)
    assert len(want.tasks) == JOBS - MALFORMED and len(want.bad) == MALFORMED
    assert (first.fetched, first.inserted, first.quarantined) == (JOBS, JOBS - 4, 4)
    assert (first.updated, first.older_skipped) == (0, 0)
    assert first.classified == first.inserted
    assert first.cursor_after is None  # page numbers over a live list never move the cursor
    removed = {i for i, t in want.tasks.items() if t.deleted}
    states = {t.state for t in want.tasks.values()}
    assert removed and states == set(TaskState)  # the world exercises every kind of record
    with ledger.reading() as s:
        assert s.scalar(select(func.count()).select_from(TaskSnapshot)) == first.inserted
        deleted_ids = select(col(TaskRow.source_id)).where(col(TaskRow.deleted_at_source))
        deleted = set(s.scalars(deleted_ids))
        assert deleted == removed
        unclassified = s.scalar(
            select(func.count()).select_from(TaskRow).where(col(TaskRow.status_code).is_(None))
        )
        assert unclassified == 0
        assert repo.get_cursor(s, SOURCE) is None
    lists = [r for r in server.requests if r.path == "/t/api/jobs"]
    # A full last page is not the end, whatever the total says: one more (empty) page ends it.
    pages = JOBS // PAGE + 1
    assert [r.query for r in lists] == [{"p": str(n), "n": str(PAGE)} for n in range(1, pages + 1)]
    details = [r for r in server.requests if r.path.startswith("/t/api/jobs/")]
    assert len(details) == JOBS

    before = fingerprint(ledger)
    assert all(before[0])  # tasks, history, snapshots, quarantine
    second = run_pull(server, ledger)
    assert fingerprint(ledger) == before
    assert (second.inserted, second.updated, second.resolved, second.deleted_marked) == (0,) * 4
    assert (second.history_rows, second.snapshots, second.status_changes) == (0, 0, 0)
    assert second.modified_from is None  # the cursor did not move: the whole list again
    assert second.fetched == JOBS and second.unchanged == first.inserted


def test_changes_at_the_server_arrive_with_the_next_full_pull(
    server: DialectServer, world: BWorld, ledger: Ledger
) -> None:
    """Completed, extended, removed, gone and new jobs: exactly those are written, once."""
    run_pull(server, ledger)
    want = truth(server)
    open_ids = sorted(
        i for i, t in want.tasks.items() if t.state is TaskState.OPEN and not t.deleted
    )
    done_id, extended_id, removed_id, gone_id = open_ids[:4]
    server.state.now += timedelta(days=1)
    new_id = max(world.jobs) + 1
    done = server.state.now - timedelta(hours=2)
    edit(
        server,
        done_id,
        state="HOAN_THANH",
        steps=lead_step(world.jobs[done_id], doneAt=b_instant(done)),
    )
    edit(
        server, extended_id, steps=lead_step(world.jobs[extended_id], due=b_date(date(2022, 6, 30)))
    )
    edit(server, removed_id, removed="1")
    with server.state.lock:
        del server.state.records[gone_id]
        server.state.records[new_id] = {
            **world.jobs[open_ids[4]],
            "ref": new_id,
            "updated": b_instant(server.state.now),
        }
    result = run_pull(server, ledger, full=True, run_id="changes")
    assert (result.inserted, result.updated, result.deleted_marked) == (1, 3, 2)
    assert_matches(ledger, server, world, missing=frozenset({gone_id}))
    with ledger.reading() as s:
        written = set(
            s.scalars(
                select(col(TaskSnapshot.task_id)).where(col(TaskSnapshot.run_id) == "changes")
            )
        )
        assert written == {done_id, extended_id, removed_id, gone_id, new_id}
        changed = {
            (h.task_id, h.field, h.new_value)
            for h in s.scalars(
                select(TaskHistory).where(
                    col(TaskHistory.run_id) == "changes",
                    col(TaskHistory.task_id) != new_id,
                    col(TaskHistory.field) != "status_code",
                )
            )
        }
        assert changed == {
            (done_id, "state", "done"),
            (done_id, "source_status", "HOAN_THANH"),
            (done_id, "completed_at", repo.history_value(done)),
            (extended_id, "deadline", "2022-06-30"),
            (removed_id, "deleted", "true"),
            (gone_id, "deleted", "true"),
        }
        row = repo.get_task(s, done_id)
        assert row is not None and row.status_code in {code.value for code in DONE_STATUSES}
        state = repo.get_sync_state(s, SOURCE)
        assert state is not None and state.last_full_at is not None and state.cursor is None
    counts, _ = fingerprint(ledger)
    again = run_pull(server, ledger, full=True)  # nothing changed: a full read only stamps
    assert (again.inserted, again.updated, again.deleted_marked) == (0, 0, 0)
    assert (again.snapshots, again.history_rows, again.status_changes) == (0, 0, 0)
    assert fingerprint(ledger)[0] == counts


def test_record_fixed_at_the_server_leaves_quarantine(
    server: DialectServer, world: BWorld, ledger: Ledger
) -> None:
    """A bad date or unknown state corrected at the server: written, its quarantine resolved."""
    run_pull(server, ledger)
    by_field = {field: ref for ref, field in world.malformed.items()}
    issued_ref, state_ref, due_ref = (
        by_field["issued"],
        by_field["state"],
        by_field["steps[role=lead].due"],
    )
    server.state.now += timedelta(hours=1)
    edit(server, issued_ref, issued="28/02/2022")
    edit(server, state_ref, state="THU_HOI")
    result = run_pull(server, ledger, run_id="fixed")
    assert (result.resolved, result.inserted, result.quarantined) == (2, 2, MALFORMED - 2)
    assert_matches(ledger, server, world)
    with ledger.reading() as s:
        everything = {q.task_id: q for q in repo.list_quarantine(s, include_resolved=True)}
        for ref in (issued_ref, state_ref):
            assert everything[ref].resolved_run == "fixed" and everything[ref].resolved_at
        assert everything[due_ref].resolved_at is None
        withdrawn = repo.get_task(s, state_ref)
        assert withdrawn is not None and withdrawn.state == "cancelled"
        assert withdrawn.status_code == "DA_HUY"
        dated = repo.get_task(s, issued_ref)
        assert dated is not None and dated.doc_date == date(2022, 2, 28)
