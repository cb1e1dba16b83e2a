"""Pull acceptance against the simulator's iDesk 6 mode (mapping ``idesk6``, snapshot strategy).

The simulator serves the observed shapes (simulator/idesk6.py): open steps without completeDate
keys, subjects with line breaks, positions in ``receiverAname`` and the unit in
``receiverDeptId`` (named by the organisation tree), ``exeacode`` required by the detail, and
intake-only documents. Each run reads every list page; details only of new or changed list items
plus the refresh share.
"""

from __future__ import annotations

import math
import time
import unicodedata
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import AuthError, SourceError, SourceRefused
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.tables import TaskRow, UnitRow
from connector.mapping.converters import to_en_us_date
from connector.models import TaskState
from connector.ops.runs import RunOutcome, outcome_for, recorded_run
from connector.settings import Settings
from connector.source.client import SourceClient
from connector.source.pull import PullResult, pull
from connector.views.check import run_checks
from simulator import UNITS_BY_CODE, Faults, Simulator, SimulatorConfig
from simulator import idesk6 as sim6
from simulator.timefmt import NO_DEADLINE
from tests.support.factories import make_settings
from tests.support.timing import QuickSleep

STATES = {
    "received": TaskState.OPEN,
    "processing": TaskState.OPEN,
    "returned": TaskState.OPEN,
    "completed": TaskState.DONE,
    "retrieved": TaskState.CANCELLED,
}


def idesk6_sim(tasks: int = 120, **changes: Any) -> Simulator:
    """A simulator in iDesk 6 mode, no rate limit unless asked, 5 % malformed records (every
    kind of malformation, one list item without an id among them)."""
    config: dict[str, Any] = {
        "tasks": tasks,
        "seed": 11,
        "dialect": "idesk6",
        "malformed_rate": 0.05,
        "faults": Faults(rate_limit=0),
        "auth_modes": frozenset({"session", "token", "headers", "oauth2"}),
    }
    config.update(changes)
    return Simulator(SimulatorConfig(**config))


def settings_for(sim: Simulator, url: str, *, refresh: float = 0.0, **source: Any) -> Settings:
    """Settings reading `sim` through the idesk6 mapping (push off: iDesk 6 takes no writes)."""
    return make_settings(
        sim,
        url,
        source={
            "mapping": "idesk6",
            "account_code": sim.config.account_code,
            "page_size": 50,
            **source,
        },
        retry={"max_attempts": 8, "initial_wait": 0.01, "max_wait": 0.05, "total_budget": 30},
        sync={"snapshot_refresh_percent": refresh, "detail_workers": 4, "rate_per_second": 500},
        push={"enabled": False},
    )


def run(settings: Settings, ledger: Ledger, sim: Simulator, **kw: Any) -> PullResult:
    """A recorded pull as the CLI runs it, the simulator's today as the local date."""
    clock = FixedClock(sim.now())
    run_id = f"run-{time.monotonic_ns()}"
    with recorded_run(ledger, "pull", "cron", run_id, clock) as rec:
        return pull(
            settings,
            run_id=run_id,
            clock=clock,
            ledger=ledger,
            run=rec,
            sleep=QuickSleep(cap=0.1),
            plan_outbox=False,
            **kw,
        )


def ledger_rows(ledger: Ledger) -> dict[int, dict[str, Any]]:
    with ledger.reading() as s:
        rows = s.execute(select(TaskRow.__table__)).mappings()  # type: ignore[attr-defined]
        return {int(r["source_id"]): dict(r) for r in rows}


def served_keys(sim: Simulator) -> list[int]:
    """The keys of the world's documents the list holds (soft-deleted ones leave it)."""
    world = sim.world
    with world.lock:
        return [k for k in sorted(world.tasks) if world.tasks[k].get("deleted") != "Y"]


def expected_deadline(raw: str) -> date | None:
    return None if raw in ("", NO_DEADLINE) else to_en_us_date(raw, {})


def assert_matches(ledger: Ledger, sim: Simulator) -> None:
    """0 lost, 0 extra, 0 stale; every malformed document quarantined; units from the tree."""
    world = sim.world
    bad = sim6.quarantined_ids(world)
    want = {k: world.tasks[k] for k in served_keys(sim) if k not in bad}
    have = ledger_rows(ledger)
    assert sorted(want.keys() - have.keys()) == []  # 0 lost
    assert sorted(have.keys() - want.keys()) == []  # no intake document, no extra
    stale = []
    for key, record in want.items():
        row = have[key]
        code = str(record["receiverCommCode"])
        expected = {
            "state": STATES[record["status"]].value,
            "subject": unicodedata.normalize("NFC", sim6.subject(record, key)).strip(),
            "deadline": expected_deadline(str(record["deadline"])),
            "lead_unit_code": str(sim6.DEPT_IDS[code]),
            "lead_unit_name": UNITS_BY_CODE[code].name,
        }
        got = {name: row[name] for name in expected}
        got["state"] = str(got["state"])
        if got != expected:
            stale.append((key, got, expected))
    assert [(k, {n: (g[n], e[n]) for n in e if g[n] != e[n]}) for k, g, e in stale[:2]] == []
    with ledger.reading() as s:
        quarantined = {q.record_key for q in repo.list_quarantine(s)}
        units = {u.code: u for u in s.scalars(select(UnitRow))}
    with_id = {k for k in bad if "id" in world.tasks[k]}
    assert {f"id:{k}" for k in with_id} <= quarantined
    assert len(quarantined) == len(bad)  # the one without an id is keyed by its content
    assert units[str(sim6.DEPT_IDS["SNV"])].kind == "department"
    assert units[str(sim6.DEPT_IDS["HPM"])].kind == "district"
    assert units[str(sim6.DEPT_IDS["CAT"])].kind == "central"
    assert units[str(sim6.DEPT_IDS["TCT"])].parent_code == str(sim6.DEPT_IDS["VPUBND"])
    assert not any(
        u.name.startswith("Phó") or u.name.startswith("Giám đốc") for u in units.values()
    )


def listed(sim: Simulator) -> int:
    """The list items that have an id (one without an id has no detail to ask for)."""
    world = sim.world
    without_id = sum(1 for k in served_keys(sim) if "id" not in world.tasks[k])
    assert without_id == 1, "the world must hold one record without an id"
    return len(served_keys(sim)) + sim6.intake_count(sim.core) - without_id


@pytest.fixture
def ledger_6(sqlite_url: str) -> Any:
    with open_ledger(sqlite_url) as opened:
        yield opened


def test_first_run_reads_everything_second_reads_no_detail(ledger_6: Ledger) -> None:
    """0 lost, malformed quarantined, intake-only skipped and counted; an unchanged second
    run makes no detail call (refresh share 0)."""
    with idesk6_sim() as sim:
        settings = settings_for(sim, ledger_6.url)
        first = run(settings, ledger_6, sim)
        assert_matches(ledger_6, sim)
        intake = sim6.intake_count(sim.core)
        assert intake > 0 and first.skipped_not_assignment == intake
        assert first.quarantined == len(sim6.quarantined_ids(sim.world))
        with_id = listed(sim)
        assert first.detail_calls == with_id
        details_before = len([r for r in sim.requests if r.endpoint == sim6.DETAIL])
        second = run(settings, ledger_6, sim)
        details_after = len([r for r in sim.requests if r.endpoint == sim6.DETAIL])
        assert (second.detail_calls, details_after - details_before) == (0, 0)
        assert (second.inserted, second.updated) == (0, 0)
        assert second.list_unchanged == with_id
        assert_matches(ledger_6, sim)


def test_a_document_whose_detail_fails_alone_is_read_again_next_run(
    ledger_6: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detail call failing for its document alone (an HTTP 500 to it) leaves that document
    out of the run, counted (detail_failed: the run's outcome is problems), and every other
    document stored; the next run reads it again, with nothing else changed at the source."""
    with idesk6_sim(tasks=60, malformed_rate=0.0) as sim:
        settings = settings_for(sim, ledger_6.url)
        broken = served_keys(sim)[7]
        real = SourceClient._detail

        def failing(client: SourceClient, item: dict[str, Any]) -> Any:
            if client.item_id(item) == str(broken):
                raise SourceError("the detail request failed (internal_error)", status=500)
            return real(client, item)

        monkeypatch.setattr(SourceClient, "_detail", failing)
        first = run(settings, ledger_6, sim)
        assert first.detail_failed == 1
        assert outcome_for(None, first.counts()) is RunOutcome.PROBLEMS
        stored = ledger_rows(ledger_6)
        assert broken not in stored and len(stored) == first.inserted > 0
        monkeypatch.setattr(SourceClient, "_detail", real)
        second = run(settings, ledger_6, sim)
        assert (second.detail_failed, second.inserted, second.detail_calls) == (0, 1, 1)
        assert broken in ledger_rows(ledger_6)
        assert_matches(ledger_6, sim)


def test_unchanged_run_reads_only_the_refresh_share(ledger_6: Ledger) -> None:
    """With snapshot_refresh_percent = 10, an unchanged run reads ceil(10 % of listed)."""
    with idesk6_sim() as sim:
        settings = settings_for(sim, ledger_6.url, refresh=10.0)
        run(settings, ledger_6, sim)
        second = run(settings, ledger_6, sim)
        share = math.ceil(listed(sim) * 10 / 100)
        assert (second.refreshed, second.detail_calls) == (share, share)


def test_changed_list_item_has_its_detail_read(ledger_6: Ledger) -> None:
    """A document completed at the source changes its list item: that detail alone is read."""
    with idesk6_sim() as sim:
        settings = settings_for(sim, ledger_6.url)
        run(settings, ledger_6, sim)
        bad = sim6.quarantined_ids(sim.world)
        key = next(
            k
            for k in served_keys(sim)
            if k not in bad and sim.world.tasks[k]["status"] == "processing"
        )
        sim.advance(timedelta(hours=1))
        sim.complete_task(key)
        result = run(settings, ledger_6, sim)
        asked = [r for r in sim.requests if r.endpoint == sim6.DETAIL][-result.detail_calls :]
        assert result.detail_calls == 1 and asked[0].query["id"] == [str(key)]
        assert ledger_rows(ledger_6)[key]["state"] == TaskState.DONE.value
        assert_matches(ledger_6, sim)


def test_detail_only_change_seen_within_the_refresh_cycle(ledger_6: Ledger) -> None:
    """A deadline changed inside a document (list item unchanged) arrives within
    100 / snapshot_refresh_percent runs: the oldest checked are refreshed first."""
    with idesk6_sim(tasks=60) as sim:
        settings = settings_for(sim, ledger_6.url, refresh=25.0)
        run(settings, ledger_6, sim)
        bad = sim6.quarantined_ids(sim.world)
        key = next(
            k
            for k in served_keys(sim)
            if k not in bad and sim.world.tasks[k]["status"] == "processing"
        )
        new_deadline = sim.today() + timedelta(days=40)
        sim.change_deadline(key, new_deadline, "Lùi hạn theo đề nghị")
        seen_after = None
        for n in range(1, 5):  # 25 %: every item refreshed within 4 runs
            result = run(settings, ledger_6, sim)
            assert result.list_changed == 0
            if ledger_rows(ledger_6)[key]["deadline"] == new_deadline:
                seen_after = n
                break
        assert seen_after is not None


def test_withdrawn_document_leaving_the_list_is_read_once_more(ledger_6: Ledger) -> None:
    """A document that leaves the list (deleted) keeps its last known state, and one the
    source still answers is read once more."""
    with idesk6_sim() as sim:
        settings = settings_for(sim, ledger_6.url)
        run(settings, ledger_6, sim)
        bad = sim6.quarantined_ids(sim.world)
        key = next(
            k
            for k in served_keys(sim)
            if k not in bad and sim.world.tasks[k]["status"] == "processing"
        )
        sim.advance(timedelta(hours=1))
        sim.soft_delete(key)
        result = run(settings, ledger_6, sim)
        assert (result.left_list, result.detail_calls) == (1, 1)
        third = run(settings, ledger_6, sim)
        assert (third.left_list, third.detail_calls) == (0, 0)
        assert key in ledger_rows(ledger_6)


def test_a_document_whose_last_read_fails_after_leaving_the_list_is_read_again(
    ledger_6: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document completed and then gone from the list is read once more; when that read
    fails for it alone (an HTTP 500), it is counted (detail_failed) and not yet marked as left,
    so the next run reads it again and stores its completion."""
    with idesk6_sim(tasks=60, malformed_rate=0.0) as sim:
        settings = settings_for(sim, ledger_6.url)
        run(settings, ledger_6, sim)
        key = next(k for k in served_keys(sim) if sim.world.tasks[k]["status"] == "processing")
        sim.advance(timedelta(hours=1))
        sim.complete_task(key)
        sim.soft_delete(key)  # the completed document leaves the list
        real = SourceClient._detail

        def failing(client: SourceClient, item: dict[str, Any]) -> Any:
            if client.item_id(item) == str(key):
                raise SourceError("the detail request failed (internal_error)", status=500)
            return real(client, item)

        monkeypatch.setattr(SourceClient, "_detail", failing)
        second = run(settings, ledger_6, sim)
        assert (second.detail_failed, second.left_list) == (1, 0)
        assert ledger_rows(ledger_6)[key]["state"] == TaskState.OPEN.value
        monkeypatch.setattr(SourceClient, "_detail", real)
        third = run(settings, ledger_6, sim)
        assert (third.detail_failed, third.left_list, third.detail_calls) == (0, 1, 1)
        assert ledger_rows(ledger_6)[key]["state"] == TaskState.DONE.value
        fourth = run(settings, ledger_6, sim)
        assert (fourth.left_list, fourth.detail_calls) == (0, 0)


def test_a_document_refused_after_leaving_the_list_keeps_its_last_state(
    ledger_6: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document gone from the list whose detail is then refused (a 403: no longer the
    account's to read) is counted once and marked as left with its last known state; later
    runs do not ask for it again."""
    with idesk6_sim(tasks=60, malformed_rate=0.0) as sim:
        settings = settings_for(sim, ledger_6.url)
        run(settings, ledger_6, sim)
        key = next(k for k in served_keys(sim) if sim.world.tasks[k]["status"] == "processing")
        sim.advance(timedelta(hours=1))
        sim.soft_delete(key)
        real = SourceClient._detail

        def refused(client: SourceClient, item: dict[str, Any]) -> Any:
            if client.item_id(item) == str(key):
                raise SourceRefused("the source refused the detail request", status=403)
            return real(client, item)

        monkeypatch.setattr(SourceClient, "_detail", refused)
        second = run(settings, ledger_6, sim)
        assert (second.detail_failed, second.left_list) == (1, 1)
        third = run(settings, ledger_6, sim)
        assert (third.detail_failed, third.left_list, third.detail_calls) == (0, 0, 0)
        assert ledger_rows(ledger_6)[key]["state"] == TaskState.OPEN.value


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(
            {"auth_headers": {"X-App-Name": "idesk-connector", "X-Api-Key": "{secret:api_key}"}},
            id="headers",
        ),
        pytest.param(
            {
                "auth_headers": {"X-App-Name": "{env:I14_APP_NAME}"},
                "auth_query": {"apikey": "{secret:api_key}"},
            },
            id="headers-query",
        ),
        pytest.param(
            {"token_url": "/oauth2/token", "client_id": "idesk-connector", "token_auth": "body"},
            id="oauth2-body",
        ),
        pytest.param(
            {"token_url": "/oauth2/token", "client_id": "idesk-connector"}, id="oauth2-basic"
        ),
    ],
)
def test_each_gateway_auth_mode_reads_the_source(
    source: dict[str, Any], ledger_6: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Static gateway headers (or a query key) and OAuth 2.0 client credentials each read the
    whole source with no refused request; no secret reaches a log event or the ledger."""
    monkeypatch.setenv("I14_APP_NAME", "idesk-connector")
    with idesk6_sim(tasks=40) as sim:
        data = settings_for(sim, ledger_6.url).model_dump(mode="python")
        data["source"].update(source, auth="oauth2" if "token_url" in source else "headers")
        data["source"]["client_secret"] = sim.config.client_secret
        data["secrets"] = {"api_key": sim.config.api_key}
        settings = Settings.model_validate(data)
        with capture_logs() as events:
            run(settings, ledger_6, sim)
        assert_matches(ledger_6, sim)
        assert [r.status for r in sim.requests if r.status in (401, 403)] == []
        assert any(e["event"] == "source_login" for e in events)
        logged = repr(events)
        assert sim.config.api_key not in logged and sim.config.client_secret not in logged
        dump = repr(ledger_rows(ledger_6))
        assert sim.config.api_key not in dump and sim.config.client_secret not in dump


def test_wrong_gateway_key_is_an_auth_error(ledger_6: Ledger) -> None:
    """A gateway key the source refuses stops the run with an AuthError, nothing written."""
    with idesk6_sim(tasks=10) as sim:
        data = settings_for(sim, ledger_6.url).model_dump(mode="python")
        data["source"].update(
            auth="headers",
            auth_headers={"X-App-Name": "idesk-connector", "X-Api-Key": "{secret:api_key}"},
        )
        data["secrets"] = {"api_key": "not-the-key"}
        with pytest.raises(AuthError):
            run(Settings.model_validate(data), ledger_6, sim)
        assert ledger_rows(ledger_6) == {}


def test_totp_account_cannot_log_in_with_the_form(ledger_6: Ledger) -> None:
    """An account that asks for a one-time code refuses the login form: an AuthError."""
    with idesk6_sim(tasks=10, require_totp=True) as sim, pytest.raises(AuthError, match="OTP"):
        run(settings_for(sim, ledger_6.url), ledger_6, sim)


def test_check_verifies_the_account_code(ledger_6: Ledger) -> None:
    """`check` reads one document with source.account_code: a wrong code fails the
    account_code step naming the key; the right one passes."""
    with idesk6_sim(tasks=10) as sim:
        good = {s.name: s for s in run_checks(settings_for(sim, ledger_6.url))}
        assert good["account_code"].ok, good["account_code"].detail
        bad = {s.name: s for s in run_checks(settings_for(sim, ledger_6.url, account_code="0000"))}
        assert not bad["account_code"].ok
        assert "source.account_code" in bad["account_code"].detail


@pytest.mark.postgres
def test_snapshot_on_postgres(pg_url: str) -> None:
    """The same acceptance on a PostgreSQL ledger: 0 lost, then no detail call unchanged."""
    with idesk6_sim(tasks=60) as sim, open_ledger(pg_url) as ledger:
        settings = settings_for(sim, ledger.url)
        run(settings, ledger, sim)
        assert_matches(ledger, sim)
        assert run(settings, ledger, sim).detail_calls == 0


def test_oauth2_token_refused_mid_run_is_renewed_once(ledger_6: Ledger) -> None:
    """An access token the source stops accepting (a 401) is renewed once at the token
    endpoint and the list read goes on; the token is never in the ledger."""
    from connector.mapping.spec import load_mapping
    from connector.source.client import SourceClient

    with idesk6_sim(tasks=60) as sim:
        data = settings_for(sim, ledger_6.url, page_size=20).model_dump(mode="python")
        data["source"].update(auth="oauth2", token_url="/oauth2/token", client_id="idesk-connector")
        data["source"]["client_secret"] = sim.config.client_secret
        settings = Settings.model_validate(data)
        with SourceClient(settings.source, settings.retry, load_mapping("idesk6")) as client:
            pages = client.iter_list()
            first = next(pages)
            sim.expire_sessions()  # every issued token lapses
            rest = [item for page in pages for item in page.records]
        assert len(first.records) + len(rest) == listed(sim) + 1
        assert sim.core.tokens.issued == 2
        assert client.stats.relogins == 1
