"""The same client and normaliser read two other dialects over loopback, by mapping alone."""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

import pytest
from pydantic import SecretStr

from connector.errors import AuthError
from connector.mapping.normalise import normalise
from connector.mapping.spec import MappingSpec, load_mapping
from connector.models import TaskState, UnitRef
from connector.settings import RetrySettings, SourceSettings
from connector.source.client import SourceClient
from tests.support import DATA
from tests.support.dialect_server import DialectServer, b_jobs, idesk6_docs

FIXTURES = DATA
RETRY = RetrySettings(initial_wait=0.0, max_wait=0.01, total_budget=1.0)


def no_sleep(_: float) -> None:
    """Tests never wait."""


def settings(
    server: DialectServer, *, password: str | None = None, page_size: int = 3
) -> SourceSettings:
    return SourceSettings(
        base_url=server.base_url,
        auth="session",
        username=server.state.username,
        password=SecretStr(password or server.state.password),
        page_size=page_size,
    )


@pytest.fixture(scope="module")
def spec_b() -> MappingSpec:
    return load_mapping(FIXTURES / "dialect_b.toml")


@pytest.fixture(scope="module")
def spec_6() -> MappingSpec:
    return load_mapping("idesk6")


def read_all(client: SourceClient, spec: MappingSpec, since: datetime | None = None) -> list:
    return [normalise(r, spec) for page in client.iter_pages(since) for r in page.records]


def test_dialect_b_full_read(spec_b: MappingSpec) -> None:
    """Page numbers, a detail call per id, dd/mm/yyyy dates, nested units: all by mapping."""
    jobs = b_jobs(7)
    with (
        DialectServer("b", jobs) as server,
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
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
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
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
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
    ):
        assert [p.safe_cursor for p in client.iter_pages(None)] == [None, None]


def test_dialect_b_relogin_on_its_own_expiry_code(spec_b: MappingSpec) -> None:
    """A 401 with the dialect's expiry code (fault.code) leads to one new login, then goes on."""
    with (
        DialectServer("b", b_jobs(7)) as server,
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
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
        SourceClient(
            settings(server, password="wrong-pw-77"), RETRY, spec_b, sleep=no_sleep
        ) as client,
    ):
        with pytest.raises(AuthError) as caught:
            list(client.iter_pages(None))
        assert "WRONG_LOGIN" in str(caught.value)
        assert "wrong-pw-77" not in str(caught.value)


def test_dialect_b_record_vanished_between_list_and_detail(spec_b: MappingSpec) -> None:
    """A detail answering 404 with the dialect's code is skipped, the others are read."""
    with (
        DialectServer("b", b_jobs(4)) as server,
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
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
        SourceClient(settings(server, page_size=2), RETRY, spec_6, sleep=no_sleep) as client,
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
        assert views[0].query == {"exeacode": "", "id": "5100231", "responsibility": "main"}


def test_idesk6_html_login_page_means_log_in_again(spec_6: MappingSpec) -> None:
    """An expired iDesk 6 session answers 200 with the HTML login page: one new login."""
    with (
        DialectServer("idesk6", idesk6_docs(3)) as server,
        SourceClient(settings(server, page_size=1), RETRY, spec_6, sleep=no_sleep) as client,
    ):
        pages = client.iter_pages(None)
        next(pages)
        server.expire_sessions()
        assert len([r for p in pages for r in p.records]) == 2
        assert client.stats.relogins == 1


def test_idesk6_get_record_uses_the_detail_endpoint(spec_6: MappingSpec) -> None:
    """Without a view endpoint, one record is read through the detail endpoint."""
    with (
        DialectServer("idesk6", idesk6_docs(2)) as server,
        SourceClient(settings(server), RETRY, spec_6, sleep=no_sleep) as client,
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
        SourceClient(settings(server), RETRY, spec_b, sleep=no_sleep) as client,
    ):
        assert client.server_time() == now
        assert [r.path for r in server.requests] == ["/t/api/session"]


def test_mapping_without_units_endpoint_lists_none(spec_6: MappingSpec) -> None:
    """list_units() on a mapping that has no units endpoint is empty, not an error."""
    with (
        DialectServer("idesk6", idesk6_docs(1)) as server,
        SourceClient(settings(server), RETRY, spec_6, sleep=no_sleep) as client,
    ):
        assert client.list_units() == []
        assert server.requests == []
