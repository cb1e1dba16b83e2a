"""Two other dialects, read by mapping alone: the same client and pull, other mapping files.

Dialect b (`tests/support/dialect_server.py`, mapping `tests/support/data/dialect_b.toml`) has
other keys, dd/mm/yyyy dates, page-number pagination and a list of refs plus one detail call per
job; iDesk 6 (mapping ``idesk6``) the shapes of docs/idesk6.md.

The client reads both (paging, details, logins, expiry the dialect's way). The pull of dialect b
meets the same acceptance as the contract's (tests/integration/test_pull.py): after `pull` the
ledger holds what the server's jobs say, read by the server's own reading of its format
(`b_expected`, no mapping involved): 0 lost, 0 duplicated, 0 stale; every malformed record is in
quarantine with a reason naming its field; a second pull with no change writes nothing; changes
arrive; a record fixed at the server leaves quarantine. A page-number listing never moves the
cursor, so every pull reads everything (see mappings/README.md, "The cursor").
"""

from __future__ import annotations

import hashlib
import json
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select
from sqlmodel import col
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import AuthError, SourceError
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import QuarantineRow, TaskHistory, TaskRow, TaskSnapshot, UnitRow
from connector.mapping.normalise import normalise
from connector.mapping.spec import MappingSpec, load_mapping
from connector.models import TaskState, UnitRef
from connector.ops.runs import recorded_run
from connector.rules.calendar import load_calendar
from connector.rules.classify import DONE_STATUSES
from connector.source.client import DETAIL_FAILURES_TO_STOP, SourceClient
from connector.source.pull import PullResult, pull
from tests.support import DATA, contract
from tests.support.dialect_server import (
    BWorld,
    DialectServer,
    b_date,
    b_expected,
    b_instant,
    b_jobs,
    b_world,
    idesk6_docs,
)
from tests.support.factories import make_settings

MAPPING = DATA / "dialect_b.toml"
SPEC: MappingSpec = load_mapping(MAPPING)
SOURCE = "dialect-b"
JOBS, MALFORMED = 300, 4  # 1.3 %: one of each kind in B_MALFORM_KINDS
PAGE = 50
CALENDAR = load_calendar()  # the deployment's calendar (shipped overrides), built once
RETRY: dict[str, Any] = {
    "max_attempts": 8,
    "initial_wait": 0.0,
    "max_wait": 0.01,
    "total_budget": 1,
}
ACCOUNT_CODE = "8f3a61c2d9e04b7a"
"""The reading account's own code (``source.account_code``, iDesk 6's ``exeacode``)."""
NO_LEDGER = "sqlite:///unused.db"
"""The client tests open no ledger; settings need a URL all the same."""


def no_sleep(_: float) -> None:
    """Retries in these tests never wait."""


# -- the client, by mapping alone ---------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_b() -> MappingSpec:
    return SPEC


@pytest.fixture(scope="module")
def spec_6() -> MappingSpec:
    return load_mapping("idesk6")


def client_for(
    server: DialectServer, spec: MappingSpec, *, password: str = "", page_size: int = 3
) -> SourceClient:
    """A client of `server` reading through `spec`: session login, `page_size` a page."""
    source: dict[str, Any] = {"page_size": page_size, "account_code": ACCOUNT_CODE}
    if password:
        source["password"] = password
    settings = make_settings(server, NO_LEDGER, source=source, retry=RETRY)
    return SourceClient(settings.source, settings.retry, spec, sleep=no_sleep)


def read_all(client: SourceClient, spec: MappingSpec, since: datetime | None = None) -> list:
    return [normalise(r, spec) for page in client.iter_pages(since) for r in page.records]


def test_dialect_b_full_read(spec_b: MappingSpec) -> None:
    """Page numbers, a detail call per id, dd/mm/yyyy dates, nested units: all by mapping."""
    jobs = b_jobs(7)
    with (
        DialectServer("b", jobs) as server,
        client_for(server, spec_b) as client,
    ):
        tasks = read_all(client, spec_b)
        assert [t.source_id for t in tasks] == sorted(jobs)
        first = tasks[0]
        assert first.sign_number == "101/QĐ-UBND"
        assert first.subject == unicodedata.normalize("NFC", "Báo cáo tình hình 101")
        assert first.doc_date == date(2022, 3, 1)
        assert first.last_modified == datetime(2022, 4, 1, 1, 30, tzinfo=UTC)
        assert first.state is TaskState.OPEN
        assert first.deadline is None  # "" means none
        assert first.lead_unit_code == "STC"
        assert first.coordinators == (UnitRef("SNV", "Sở Nội vụ"), UnitRef("STP", "Sở Tư pháp"))
        assert tasks[1].state is TaskState.DONE
        assert tasks[1].completed_at == datetime(2022, 4, 2, 9, 0, tzinfo=UTC)
        assert tasks[1].deadline == date(2022, 5, 3)
        assert tasks[2].state is TaskState.CANCELLED
        assert tasks[-1].deleted and not first.deleted
        sent = server.requests
        lists = [r for r in sent if r.path == "/t/api/jobs"]
        assert [r.query for r in lists] == [
            {"p": "1", "n": "3"},
            {"p": "2", "n": "3"},
            {"p": "3", "n": "3"},
        ]
        assert len([r for r in sent if r.path.startswith("/t/api/jobs/")]) == 7
        assert client.stats.detail_calls == 7
        assert client.stats.pages == 3


def test_dialect_b_incremental_filter_is_the_local_day(spec_b: MappingSpec) -> None:
    """The cursor goes out as the local date of the instant, rounded down: 00:30 local = 17:30 UTC."""
    with (
        DialectServer("b", b_jobs(7)) as server,
        client_for(server, spec_b) as client,
    ):
        since = datetime(2022, 4, 4, 17, 30, tzinfo=UTC)  # 5 April 00:30 in Hanoi
        tasks = read_all(client, spec_b, since)
        assert [t.source_id for t in tasks] == [105, 106, 107]
        lists = [r for r in server.requests if r.path == "/t/api/jobs"]
        assert lists[0].query["since"] == "05/04/2022"


def test_dialect_b_pages_never_move_the_cursor(spec_b: MappingSpec) -> None:
    """A page-number listing of a live list is no snapshot: no page carries a safe cursor."""
    with (
        DialectServer("b", b_jobs(4)) as server,
        client_for(server, spec_b) as client,
    ):
        assert [p.safe_cursor for p in client.iter_pages(None)] == [None, None]


def test_dialect_b_relogin_on_its_own_expiry_code(spec_b: MappingSpec) -> None:
    """A 401 with the dialect's expiry code (fault.code) leads to one new login, then goes on."""
    with (
        DialectServer("b", b_jobs(7)) as server,
        client_for(server, spec_b) as client,
    ):
        pages = client.iter_pages(None)
        first = next(pages)
        server.expire_sessions()
        rest = [r for page in pages for r in page.records]
        assert len(first.records) + len(rest) == 7
        assert client.stats.relogins == 1
        logins = [r for r in server.requests if r.path == "/t/api/session"]
        assert len(logins) == 2
        assert logins[0].form == {"user": "clerk", "pass": "dialect-pw-9"}


def test_dialect_b_wrong_password_is_auth_error(spec_b: MappingSpec) -> None:
    """The dialect's refusal (401 WRONG_LOGIN) is final and names no secret."""
    with (
        DialectServer("b", b_jobs(2)) as server,
        client_for(server, spec_b, password="wrong-pw-77") as client,
    ):
        with pytest.raises(AuthError) as caught:
            list(client.iter_pages(None))
        assert "WRONG_LOGIN" in str(caught.value)
        assert "wrong-pw-77" not in str(caught.value)


def test_dialect_b_record_vanished_between_list_and_detail(spec_b: MappingSpec) -> None:
    """A detail answering 404 with the dialect's code is skipped, the others are read."""
    with (
        DialectServer("b", b_jobs(4)) as server,
        client_for(server, spec_b) as client,
    ):
        server.state.vanish.add(102)
        ids = [normalise(r, spec_b).source_id for p in client.iter_pages(None) for r in p.records]
        assert ids == [101, 103, 104]
        assert client.get_record(102) is None
        record = client.get_record(103)
        assert record is not None and normalise(record, spec_b).source_id == 103


def test_idesk6_full_read_through_detail_calls(spec_6: MappingSpec) -> None:
    """qsprocess pages + view.cpx details: the lead unit's (main) step gives state and deadline."""
    docs = idesk6_docs(5)
    now = datetime(2026, 7, 28, 2, 0, tzinfo=UTC)
    with (
        DialectServer("idesk6", docs, username="vanthu", now=now) as server,
        client_for(server, spec_6, page_size=2) as client,
    ):
        tasks = read_all(client, spec_6)
        assert [t.source_id for t in tasks] == sorted(docs)
        t0, t1, t2 = tasks[:3]
        assert t0.state is TaskState.OPEN and t0.source_status == "processing"
        assert t0.deadline == date(2026, 7, 31)
        assert t1.deadline is None  # the far-future sentinel
        assert t1.state is TaskState.DONE
        assert t1.completed_at == datetime(2026, 7, 25, 2, 0, tzinfo=UTC)
        assert t2.source_status == "tranfered" and t2.state is TaskState.OPEN
        assert t0.lead_unit_name == "Sở Thông tin và Truyền thông"
        assert t0.lead_unit_code == "278"
        assert t0.coordinators == (UnitRef("279", "Sở Nội vụ"), UnitRef("280", "Sở Tư pháp"))
        assert t0.doc_date == date(2026, 7, 21)
        assert t0.priority == 1  # from the list item (@list.edSearchDto.priority)
        assert t0.last_modified == now  # no modification time: when it was read
        lists = [r for r in server.requests if r.path.endswith("qsprocess.cpx")]
        assert [r.form for r in lists] == [
            {"page": "1", "pageSize": "2"},
            {"page": "2", "pageSize": "2"},
            {"page": "3", "pageSize": "2"},
        ]
        views = [r for r in server.requests if r.path.endswith("view.cpx")]
        assert views[0].query == {
            "exeacode": ACCOUNT_CODE,
            "id": "5100231",
            "responsibility": "main",
        }


def test_idesk6_html_login_page_means_log_in_again(spec_6: MappingSpec) -> None:
    """An expired iDesk 6 session answers 200 with the HTML login page: one new login."""
    with (
        DialectServer("idesk6", idesk6_docs(3)) as server,
        client_for(server, spec_6, page_size=1) as client,
    ):
        pages = client.iter_pages(None)
        next(pages)
        server.expire_sessions()
        assert len([r for p in pages for r in p.records]) == 2
        assert client.stats.relogins == 1


def test_idesk6_redirect_to_the_login_page_mid_run_means_log_in_again(
    spec_6: MappingSpec,
) -> None:
    """A session that expires mid-run on a server answering ``302 Location: …/login`` (to a
    list page, then to a detail call) is an expired session: one new login each time, the
    request repeated, every document read; not a wrong source.base_url."""
    with (
        DialectServer("idesk6", idesk6_docs(3)) as server,
        client_for(server, spec_6, page_size=1) as client,
    ):
        server.state.login_redirect = True
        pages = client.iter_list()
        items = [*next(pages).records]
        server.expire_sessions()
        items += [r for p in pages for r in p.records]
        assert len(items) == 3
        server.expire_sessions()
        details = client.fetch_details(items)
        assert [d.error for d in details] == [None] * 3
        assert all(d.record is not None for d in details)
        assert client.stats.relogins == 2
        logins = [r for r in server.requests if r.path.endswith("/auth/login.cpx")]
        assert len(logins) == 3


def test_idesk6_redirect_to_the_login_page_after_a_fresh_login_is_an_auth_error(
    spec_6: MappingSpec,
) -> None:
    """A redirect to the login page that goes on after one fresh login is an AuthError saying
    so (the login page named, no secret), after exactly one new login."""
    with (
        DialectServer("idesk6", idesk6_docs(2)) as server,
        client_for(server, spec_6) as client,
    ):
        server.state.always_redirect = True
        with pytest.raises(AuthError) as caught:
            list(client.iter_list())
        text = str(caught.value)
        assert "login page" in text and "/ubnd/smartcloud/login" in text, text
        assert "dialect-pw-9" not in text
        assert client.stats.relogins == 1


def test_idesk6_get_record_uses_the_detail_endpoint(spec_6: MappingSpec) -> None:
    """Without a view endpoint, one record is read through the detail endpoint."""
    with (
        DialectServer("idesk6", idesk6_docs(2)) as server,
        client_for(server, spec_6) as client,
    ):
        record = client.get_record(5100232)
        assert record is not None
        assert normalise(record, spec_6).sign_number == "813/STC-NS"
        assert client.get_record(999) is None


def test_server_time_comes_from_the_date_header(spec_b: MappingSpec) -> None:
    """server_time() logs in when nothing was exchanged yet and reads the Date header."""
    now = datetime(2022, 4, 20, 3, 0, 5, tzinfo=UTC)
    with (
        DialectServer("b", b_jobs(1), now=now) as server,
        client_for(server, spec_b) as client,
    ):
        assert client.server_time() == now
        assert [r.path for r in server.requests] == ["/t/api/session"]


def test_mapping_without_units_endpoint_lists_none(spec_b: MappingSpec) -> None:
    """list_units() on a mapping that has no units endpoint is empty, not an error."""
    with (
        DialectServer("b", b_jobs(1)) as server,
        client_for(server, spec_b) as client,
    ):
        assert client.list_units() == []
        assert server.requests == []


# -- the pull of dialect b -----------------------------------------------------------------------

PULL_B: dict[str, Any] = {
    "source": {"mapping": str(MAPPING), "name": SOURCE, "page_size": PAGE},
    "retry": {"max_attempts": 3, "initial_wait": 0.0, "max_wait": 0.01, "total_budget": 2},
    "push": {"enabled": False},
}
"""A deployment reading dialect b through its mapping file (read-only: no push)."""


def run_pull(
    server: DialectServer, ledger: Ledger, *, full: bool = False, run_id: str = ""
) -> PullResult:
    """A recorded pull, classified as of the server's local today."""
    clock = FixedClock(server.state.now)
    run_id = run_id or f"run-{time.monotonic_ns()}"
    with recorded_run(ledger, "pull", "cron", run_id, clock) as run:
        return pull(
            make_settings(server, ledger.url, **PULL_B),
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
    """What the ledger should hold for the server's current jobs (`b_expected`)."""

    tasks: dict[int, contract.Expected]
    bad: dict[int, str]  # the server's ref -> the source path at fault


def truth(server: DialectServer) -> Truth:
    """Each job the server holds, read by the server's own reading of its format."""
    with server.state.lock:
        records = dict(server.state.records)
    tasks: dict[int, contract.Expected] = {}
    bad: dict[int, str] = {}
    for ref, record in records.items():
        try:
            expected = b_expected(record)
        except contract.Malformed as exc:
            bad[ref] = exc.field
        else:
            assert expected.source_id not in tasks
            tasks[expected.source_id] = expected
    return Truth(tasks, bad)


def assert_matches(
    ledger: Ledger, server: DialectServer, world: BWorld, *, missing: frozenset[int] = frozenset()
) -> Truth:
    """0 lost, 0 duplicated, 0 stale; quarantine == the malformed, naming their fields.

    `missing`: tasks gone from the server, which a full read keeps marked deleted (``missing``).
    """
    want = truth(server)
    with ledger.reading() as s:
        rows = [dict(r) for r in s.execute(select(TaskRow.__table__)).mappings()]  # type: ignore[attr-defined]
        open_q = repo.list_quarantine(s)
    ids = [int(r["source_id"]) for r in rows]
    assert len(ids) == len(set(ids)), "duplicated tasks"
    have = {int(r["source_id"]): r for r in rows}
    lost = sorted(want.tasks.keys() - have.keys())
    extra = sorted(have.keys() - want.tasks.keys() - missing)
    stale = [
        p
        for i in sorted(want.tasks.keys() & have.keys())
        for p in contract.row_problems(want.tasks[i], have[i])
    ]
    assert (lost, extra, stale[:10]) == ([], [], [])
    for task_id in missing:
        assert (have[task_id]["deleted_at_source"], have[task_id]["deleted_reason"]) == (
            True,
            "missing",
        )
    assert want.bad == {ref: world.malformed[ref] for ref in want.bad}  # the world agrees
    keys = [q.record_key for q in open_q]
    assert len(keys) == len(set(keys)), "a bad record quarantined twice"
    assert len(open_q) == len(want.bad)
    by_key = {q.record_key: q for q in open_q}
    for ref, path in want.bad.items():
        if path == "ref":  # no id: keyed by a hash of the record
            (q,) = [q for q in open_q if not q.record_key.startswith("id:")]
            assert json.loads(q.raw_json)["docNo"] == server.state.records[ref]["docNo"]
        else:
            q = by_key[f"id:{ref}"]
        assert f"(source '{path}')" in q.field, q.reason
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
    removed = {i for i, t in want.tasks.items() if t.columns["deleted_at_source"]}
    states = {t.columns["state"] for t in want.tasks.values()}
    assert removed and states == {s.value for s in TaskState}  # every kind of record
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
        i
        for i, t in want.tasks.items()
        if t.columns["state"] == "open" and not t.columns["deleted_at_source"]
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


def test_idesk6_detail_threads_log_under_the_run_id(spec_6: MappingSpec) -> None:
    """Events logged by the detail calls' threads (a re-login, a vanished record) carry the
    run's run_id and command, like every other event of the run."""
    import structlog

    events: list[dict[str, Any]] = []

    def keep(_: Any, __: str, event_dict: Any) -> Any:
        events.append(dict(event_dict))
        raise structlog.DropEvent

    saved = structlog.get_config()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, keep])
    try:
        with (
            structlog.contextvars.bound_contextvars(run_id="run-6", command="sync"),
            DialectServer("idesk6", idesk6_docs(4)) as server,
            client_for(server, spec_6) as client,
        ):
            items = [r for page in client.iter_list() for r in page.records]
            server.expire_sessions()
            details = client.fetch_details([*items, {"id": 999}], workers=3)
    finally:
        structlog.configure(**saved)
    assert [d.record is None for d in details] == [False] * 4 + [True]
    threaded = [e for e in events if e["event"] in {"record_vanished", "source_session_expired"}]
    assert {e["event"] for e in threaded} == {"record_vanished", "source_session_expired"}
    assert all((e.get("run_id"), e.get("command")) == ("run-6", "sync") for e in threaded)


def test_idesk6_a_detail_failing_alone_is_kept_aside_and_five_in_a_row_stop(
    spec_6: MappingSpec,
) -> None:
    """A document whose detail answers 500 gives no record and its error (logged as
    detail_failed), the others are read; DETAIL_FAILURES_TO_STOP failures in a row raise."""
    docs = idesk6_docs(7)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server, client_for(server, spec_6) as client:
        items = [r for page in client.iter_list() for r in page.records]
        server.state.broken = {ids[1]}
        with capture_logs() as logs:
            details = client.fetch_details(items, workers=3)
        assert [d.record is None for d in details] == [i == ids[1] for i in ids]
        failed = details[1].error
        assert isinstance(failed, SourceError) and failed.status == 500
        assert [(e["event"], e["source_id"]) for e in logs if e["event"] == "detail_failed"] == [
            ("detail_failed", str(ids[1]))
        ]
        server.state.broken = set(ids)
        with pytest.raises(SourceError) as caught:
            client.fetch_details(items, workers=1)
        assert caught.value.status == 500
        asked = [r for r in server.requests if r.path.endswith("/view.cpx")]
        assert len(asked) == len(ids) + DETAIL_FAILURES_TO_STOP  # none after the fifth


def test_idesk6_check_reads_the_list_page_not_every_detail(sqlite_url: str) -> None:
    """`check` on an iDesk 6 (snapshot strategy) reads the first list page without a detail
    call per item: the account_code step reads one document, and a document whose detail the
    application fails on (a Tomcat 500 page) does not fail the check, as it fails no sync."""
    from connector.views.check import run_checks

    docs = idesk6_docs(7)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server:
        server.state.broken = {ids[3]}
        server.state.html_errors = True
        source = {"mapping": "idesk6", "page_size": 5, "account_code": ACCOUNT_CODE}
        settings = make_settings(server, sqlite_url, source=source, retry=RETRY)
        steps = {step.name: step for step in run_checks(settings)}
        assert steps["units"].ok, steps["units"].detail
        assert steps["account_code"].ok, steps["account_code"].detail
        assert steps["tasks"].ok, steps["tasks"].detail
        assert "5" in steps["tasks"].detail and "7" in steps["tasks"].detail
        asked = [r for r in server.requests if r.path.endswith("/view.cpx")]
        assert len(asked) == 1


def _pull_6(
    server: DialectServer, ledger: Ledger, *, full: bool = False, **sync: Any
) -> PullResult:
    """A recorded pull of an iDesk 6 `server` through the idesk6 mapping (3 items a page, no
    refresh share)."""
    settings = {
        **PULL_B,
        "source": {"mapping": "idesk6", "page_size": 3, "account_code": ACCOUNT_CODE},
        "sync": {"snapshot_refresh_percent": 0, **sync},
    }
    clock = FixedClock(server.state.now)
    run_id = f"run-{time.monotonic_ns()}"
    with recorded_run(ledger, "pull", "cron", run_id, clock) as rec:
        return pull(
            make_settings(server, ledger.url, **settings),
            run_id=run_id,
            full=full,
            clock=clock,
            ledger=ledger,
            run=rec,
            sleep=no_sleep,
            calendar=CALENDAR,
        )


def test_idesk6_one_document_that_never_answers_does_not_stop_the_run(sqlite_url: str) -> None:
    """A document whose detail a gateway answers 504 on every attempt (the application is slow
    over that one document), the others answering: its retries spent, it is counted
    (detail_failed) like a document the application fails on, and every other document of
    every page is stored; it did stop the run, every run, before the pages after it."""
    from connector.ledger.db import open_ledger

    docs = idesk6_docs(7)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server, open_ledger(sqlite_url) as ledger:
        server.state.stuck = {ids[1]}
        with capture_logs() as logs:
            first = _pull_6(server, ledger)
        assert (first.detail_failed, first.inserted) == (1, 6)
        failed = [e for e in logs if e["event"] == "detail_failed"]
        assert [e["source_id"] for e in failed] == [str(ids[1])]
        assert "HTTP 504" in failed[0]["error"]
        server.state.stuck = set()
        second = _pull_6(server, ledger)
        assert (second.detail_failed, second.inserted, second.detail_calls) == (0, 1, 1)


def test_idesk6_pull_past_html_error_pages_of_single_documents(sqlite_url: str) -> None:
    """A sync of an iDesk 6 whose application server answers one document with its HTML 500
    page and another with its HTML 403 page: both named in the log with their ids and statuses,
    the 500 counted (detail_failed), the 403 quarantined as refused to the account, every other
    document stored; the next run reads both."""
    from connector.ledger.db import open_ledger

    docs = idesk6_docs(7)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server, open_ledger(sqlite_url) as ledger:
        server.state.broken, server.state.refused = {ids[1]}, {ids[4]}
        server.state.html_errors = True

        def run() -> PullResult:
            return _pull_6(server, ledger)

        with capture_logs() as logs:
            first = run()
        assert (first.detail_failed, first.inserted, first.quarantined) == (1, 5, 1)
        failed = {e["source_id"]: e["error"] for e in logs if e["event"] == "detail_failed"}
        assert set(failed) == {str(ids[1]), str(ids[4])}
        assert "HTTP 500" in failed[str(ids[1])] and "HTTP 403" in failed[str(ids[4])]
        server.state.broken, server.state.refused = set(), set()
        second = run()
        assert (second.detail_failed, second.inserted, second.detail_calls) == (0, 2, 2)
        assert second.resolved == 1
        with ledger.reading() as s:
            assert sorted(s.scalars(select(TaskRow.source_id))) == ids
            names = set(s.scalars(select(TaskRow.lead_unit_name)))
            units = {u.code: (u.name, u.kind, u.parent_code) for u in s.scalars(select(UnitRow))}
        # The observed organisation tree: departments named, accounts (alias) not units.
        assert names == {"Lãnh đạo UBND"}
        assert units["313"] == ("UBND xã Hòa Bình", "office", "")
        assert units["278"] == ("Lãnh đạo UBND", "department", "313")
        assert "985301" not in units and len(units) == 4


def test_idesk6_full_sync_past_a_document_the_application_fails_on(sqlite_url: str) -> None:
    """`sync --full` of an iDesk 6 (every detail read, then the tasks it did not read asked
    for once): a document whose detail answers 500 (counted: detail_failed), another 403
    (quarantined as refused to the account) are neither marked deleted nor a reason to stop
    the run; the others are stored."""
    from connector.ledger.db import open_ledger

    docs = idesk6_docs(7)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server, open_ledger(sqlite_url) as ledger:
        assert _pull_6(server, ledger).inserted == 7
        server.state.broken, server.state.refused = {ids[2]}, {ids[5]}
        server.state.html_errors = True
        result = _pull_6(server, ledger, full=True)
        assert (result.detail_failed, result.quarantined, result.deleted_marked) == (1, 1, 0)
        with ledger.reading() as s:
            deleted = s.scalars(select(TaskRow.source_id).where(TaskRow.deleted_at_source))
            assert list(deleted) == []
        server.state.broken, server.state.refused = set(), set()
        assert _pull_6(server, ledger, full=True).detail_failed == 0


def test_idesk6_status_shows_the_last_read_and_the_last_full_read(sqlite_url: str) -> None:
    """`status` of an iDesk 6 source (snapshot strategy, no lastModifyStr): after a sync it
    shows when the whole list was last read, and after `sync --full` the last full read, in
    the table (vi and en) and in the JSON (``cursor.strategy`` added, the other keys kept);
    before any sync, "never"."""
    from connector.ledger.db import open_ledger
    from connector.views.shapes import status_json
    from connector.views.status import render_status, status_summary

    with DialectServer("idesk6", idesk6_docs(4)) as server, open_ledger(sqlite_url) as ledger:
        settings = make_settings(server, sqlite_url, source={"mapping": "idesk6"})

        def shown() -> tuple[dict[str, Any], str, str]:
            summary = status_summary(ledger, settings)
            return (
                status_json(summary)["cursor"],
                render_status(summary, "table", "en"),
                render_status(summary, "table", "vi"),
            )

        before, _, _ = shown()
        assert (before["updated_at"], before["last_full_at"]) == (None, None)
        assert before["strategy"] == "snapshot"
        _pull_6(server, ledger)
        cursor, en, vi = shown()
        assert cursor["cursor"] is None  # no lastModifyStr to read up to
        assert cursor["updated_at"] == "2022-04-20T03:00:00+00:00"
        assert cursor["last_full_at"] is None
        assert set(cursor) == {"cursor", "last_full_at", "updated_at", "updated_run", "strategy"}
        assert "Last complete read of the list" in en and "2022-04-20 10:00:00" in en
        assert "Read up to (lastModifyStr)" not in en
        assert "Lần đọc trọn danh sách gần nhất" in vi and "20/04/2022 10:00:00" in vi
        server.state.now += timedelta(hours=1)
        _pull_6(server, ledger, full=True)
        cursor, en, vi = shown()
        assert cursor["updated_at"] == cursor["last_full_at"] == "2022-04-20T04:00:00+00:00"
        assert "2022-04-20 11:00:00" in en and "sync --full" in en
        assert "never" not in en.split("Recent runs")[0]
        assert "chưa có" not in vi.split("Các lần chạy")[0]


def test_idesk6_a_document_refused_on_every_run_is_reported_once(sqlite_url: str) -> None:
    """A document whose detail answers 403 on every run (the reading account may not open it)
    is quarantined by the first run that meets it (its id, "the source refuses this document to
    the account (HTTP 403)", in vi and en), which ends with problems; later runs refused the
    same way count it in still_refused and end with success, the document still listed in
    quarantine; once it answers, it is stored and its quarantine row resolved."""
    import io

    from rich.console import Console

    from connector.ledger.db import open_ledger
    from connector.ledger.quarantine import list_quarantine, quarantine_counts
    from connector.ops.runs import list_runs
    from connector.views.text import quarantine_text

    def text(entries: Any, lang: str) -> str:
        out = io.StringIO()
        Console(file=out, width=160, no_color=True).print(quarantine_text(entries, lang))
        return out.getvalue()

    docs = idesk6_docs(5)
    ids = sorted(docs)
    with DialectServer("idesk6", docs) as server, open_ledger(sqlite_url) as ledger:
        server.state.refused = {ids[2]}
        server.state.html_errors = True  # Tomcat's HTML 403 page, as deployed
        first = _pull_6(server, ledger)
        assert (first.detail_failed, first.quarantined, first.inserted) == (0, 1, 4)
        assert list_runs(ledger, limit=1)[0].outcome == "problems"
        entries = list_quarantine(ledger)
        assert [(e.record_key, e.task_id) for e in entries] == [(f"id:{ids[2]}", ids[2])]
        assert "the source refuses this document to the account (HTTP 403)" in entries[0].reason
        assert str(ids[2]) in text(entries, "en")
        assert "the source refuses this document to the account (HTTP 403)" in text(entries, "en")
        assert "nguồn từ chối cho tài khoản đọc văn bản này (HTTP 403)" in text(entries, "vi")
        for _ in range(2):
            later = _pull_6(server, ledger)
            assert (later.detail_failed, later.quarantined, later.still_refused) == (0, 0, 1)
            assert list_runs(ledger, limit=1)[0].outcome == "success"
            assert quarantine_counts(ledger) == (1, 0)
        server.state.refused = set()
        answered = _pull_6(server, ledger)
        assert (answered.inserted, answered.still_refused, answered.resolved) == (1, 0, 1)
        assert list_runs(ledger, limit=1)[0].outcome == "success"
        assert quarantine_counts(ledger) == (0, 1)
