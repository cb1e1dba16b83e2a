"""Sync safety at the edges: a hostile source over loopback never makes the pull lose a task or
stall on one record (SQLite and PostgreSQL).

Each test runs `pull` against `tests.support.hostile_server.HostileServer` with one misbehaviour switched
on: a ``Date`` header ahead of or behind the records' clock, a lying ``total``, paging ignored,
one id listed twice, records with absurd values, a unit name PostgreSQL cannot store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select
from structlog.testing import capture_logs
from typer.testing import CliRunner

from cli import app
from connector.clock import FixedClock
from connector.errors import SourceError, SourcePagingError
from connector.ledger import repo
from connector.ledger.db import Ledger
from connector.ledger.tables import QuarantineRow, TaskRow, TaskSnapshot, UnitRow
from connector.mapping.spec import load_mapping
from connector.settings import Settings
from connector.source.pull import PullResult, pull, to_page_item
from connector.views.check import run_checks
from tests.support.hostile_server import (
    DEFAULT_NOW,
    PASSWORD,
    UNITS,
    HostileServer,
    task_record,
    task_records,
    utc_str,
)

SPEC = load_mapping("idesk")
NOW = DEFAULT_NOW
MINUTE = timedelta(minutes=1)


def recent(count: int, **kw: Any) -> list[dict[str, Any]]:
    """`count` records modified a minute apart, the newest one minute before `NOW`."""
    return task_records(count, start=NOW - count * MINUTE, **kw)


def settings_for(server: HostileServer, ledger: Ledger, **sync: Any) -> Settings:
    return Settings.model_validate(server.settings_data(ledger.url, sync=sync))


def run(server: HostileServer, settings: Settings, ledger: Ledger, run_id: str) -> PullResult:
    """One pull as cron runs it, the connector's clock agreeing with the records' clock."""
    return pull(
        settings,
        run_id=run_id,
        clock=FixedClock(server.now),
        ledger=ledger,
        sleep=lambda _: None,
        plan_outbox=False,
    )


def stored(ledger: Ledger) -> dict[int, TaskRow]:
    with ledger.reading() as s:
        return {row.source_id: row for row in s.scalars(select(TaskRow))}


def cursor_of(ledger: Ledger) -> datetime | None:
    with ledger.reading() as s:
        return repo.get_cursor(s, "idesk")


def count(ledger: Ledger, model: type[Any]) -> int:
    with ledger.reading() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def quarantine(ledger: Ledger) -> dict[str, QuarantineRow]:
    with ledger.reading() as s:
        return {q.record_key: q for q in repo.list_quarantine(s)}


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


# -- the cursor and the server's clock -------------------------------------------------------------


def test_date_ahead_never_skips_a_task_changed_after_the_run(ledger: Ledger) -> None:
    """With Date 10 minutes ahead, a task changed just after a run is read by the next run:
    the cursor stays at the newest lastModifyStr stored; the skew is logged once per run."""
    records = recent(600)
    newest = max(datetime.fromisoformat(r["lastModifyStr"]) for r in records)
    with HostileServer(records) as server:
        server.switches.date_offset_s = 600
        settings = settings_for(server, ledger)
        with capture_logs() as logs:
            first = run(server, settings, ledger, "ahead-1")
        assert first.inserted == 600
        assert cursor_of(ledger) == newest
        assert len(events(logs, "source_clock_skew")) == 1
        assert events(logs, "source_clock_skew")[0]["skew_s"] == 600
        server.advance(60)
        server.touch(17, subject="Đã sửa ngay sau lần chạy trước")
        with capture_logs() as logs:
            second = run(server, settings, ledger, "ahead-2")
        assert len(events(logs, "source_clock_skew")) == 1
    assert second.updated == 1
    assert stored(ledger)[17].subject == "Đã sửa ngay sau lần chạy trước"
    assert cursor_of(ledger) == NOW + MINUTE


def test_date_behind_reads_every_page_on_every_run(ledger: Ledger) -> None:
    """With Date one day behind, each run reads all 600 records (not the first page only); the
    cursor never passes that Date, and a run with nothing new writes nothing."""
    with HostileServer(recent(600)) as server:
        server.switches.date_offset_s = -86400
        settings = settings_for(server, ledger)
        first = run(server, settings, ledger, "behind-1")
        assert (first.fetched, first.inserted) == (600, 600)
        assert len(stored(ledger)) == 600
        assert cursor_of(ledger) == NOW - timedelta(days=1)
        snapshots = count(ledger, TaskSnapshot)
        second = run(server, settings, ledger, "behind-2")
    assert (second.fetched, second.inserted, second.updated) == (600, 0, 0)
    assert count(ledger, TaskSnapshot) == snapshots
    assert cursor_of(ledger) == NOW - timedelta(days=1)


def test_no_date_header_keeps_the_cursor_at_the_newest_record(ledger: Ledger) -> None:
    """Without a Date header the local clock stands in for it; the cursor still stops at the
    newest lastModifyStr stored."""
    records = recent(300)
    with HostileServer(records) as server:
        server.switches.no_date = True
        with capture_logs() as logs:
            result = run(server, settings_for(server, ledger), ledger, "no-date")
    assert result.inserted == 300 and events(logs, "server_time_unknown")
    assert cursor_of(ledger) == datetime.fromisoformat(records[-1]["lastModifyStr"])


@pytest.mark.parametrize(
    ("offset_s", "max_skew", "logged"),
    [
        pytest.param(120, 300, False, id="within-tolerance"),
        pytest.param(-301, 300, True, id="behind-beyond"),
        pytest.param(120, 60, True, id="setting-lowered"),
    ],
)
def test_clock_skew_logged_beyond_the_setting(
    sqlite_url: str, offset_s: int, max_skew: int, logged: bool
) -> None:
    """source_clock_skew is logged when Date differs from the local clock by more than
    sync.max_clock_skew_seconds, and not otherwise."""
    with HostileServer(recent(5)) as server:
        server.switches.date_offset_s = offset_s
        data = server.settings_data(sqlite_url, sync={"max_clock_skew_seconds": max_skew})
        settings = Settings.model_validate(data)
        with capture_logs() as logs:
            result = pull(settings, run_id="skew", clock=FixedClock(server.now), sleep=lambda _: 0)
    assert bool(events(logs, "source_clock_skew")) is logged
    assert result.clock_skew_s == offset_s


def test_check_names_the_clock_skew(sqlite_url: str) -> None:
    """`check` reports a skewed source clock in the server_time step's detail (still passing)."""
    with HostileServer(recent(5)) as server:
        server.switches.date_offset_s = 600
        settings = Settings.model_validate(server.settings_data(sqlite_url))
        steps = {s.name: s for s in run_checks(settings, clock=FixedClock(server.now))}
        assert steps["server_time"].ok
        assert "source_clock_skew: 600 s ahead" in steps["server_time"].detail
        server.switches.date_offset_s = 0
        steps = {s.name: s for s in run_checks(settings, clock=FixedClock(server.now))}
    assert "source_clock_skew" not in steps["server_time"].detail


# -- where the list ends -----------------------------------------------------------------------------


def test_total_equal_to_the_page_length_reads_everything(ledger: Ledger) -> None:
    """A total that is the page length does not end the listing: all 600 are stored, and the
    disagreement is logged."""
    with HostileServer(recent(600)) as server:
        server.switches.total_is_page_length = True
        with capture_logs() as logs:
            result = run(server, settings_for(server, ledger), ledger, "page-total")
    assert result.inserted == 600 and len(stored(ledger)) == 600
    assert len(events(logs, "source_total_mismatch")) == 1


def test_total_without_deleted_records_keeps_the_newest(ledger: Ledger) -> None:
    """A total leaving out soft-deleted records (includeDeleted is true) loses nothing: the two
    newest, soft-deleted, records are stored as deleted at the source."""
    records = recent(600)
    for record in records[-2:]:
        record["deleted"] = "Y"
    with HostileServer(records) as server:
        server.switches.total_without_deleted = True
        result = run(server, settings_for(server, ledger), ledger, "no-deleted-total")
    rows = stored(ledger)
    assert result.inserted == 600 and len(rows) == 600
    assert {i for i, r in rows.items() if r.deleted_at_source} == {599, 600}


def test_server_ignoring_paging_stops_with_exit_3_and_the_cursor_unchanged(
    ledger: Ledger,
) -> None:
    """A server answering the same page again and again is caught at the second request (exit 3,
    SourcePagingError), not re-read until sync.max_pages; the cursor does not move."""
    same_second = NOW - MINUTE
    records = [task_record(i, same_second) for i in range(1, 601)]
    with HostileServer(records) as server:
        settings = settings_for(server, ledger, max_pages=60)
        run(server, settings, ledger, "honest")
        before = cursor_of(ledger)
        assert before == same_second and len(stored(ledger)) == 600
        server.switches.ignore_paging = True
        server.clear_log()
        with pytest.raises(SourcePagingError) as caught:
            run(server, settings, ledger, "ignoring")
        searches = len(server.searches())
    assert caught.value.exit_code == 3 and isinstance(caught.value, SourceError)
    assert "same 200 records" in str(caught.value)
    assert searches == 2
    assert cursor_of(ledger) == before


def test_server_ignoring_paging_on_a_first_run_keeps_only_what_it_read(ledger: Ledger) -> None:
    """On a first run the page read before the repeat is stored; the cursor covers no record
    that was not read (the next run re-reads the group)."""
    same_second = NOW - MINUTE
    records = [task_record(i, same_second) for i in range(1, 601)]
    with HostileServer(records) as server:
        server.switches.ignore_paging = True
        settings = settings_for(server, ledger, max_pages=60)
        with pytest.raises(SourcePagingError):
            run(server, settings, ledger, "ignoring-first")
        assert len(server.searches()) == 2
    assert len(stored(ledger)) == 200
    cursor = cursor_of(ledger)
    assert cursor is None or cursor <= same_second


# -- one id, two versions ----------------------------------------------------------------------------


def twins() -> list[dict[str, Any]]:
    """150 tasks each listed twice: 130 with the same lastModifyStr and another subject, 20 with
    an older version listed too (different lastModifyStr)."""
    base = recent(150)
    records: list[dict[str, Any]] = []
    for record in base:
        twin = dict(record, subject=record["subject"] + " (bản trùng)")
        if record["id"] > 130:
            older = datetime.fromisoformat(record["lastModifyStr"]) - timedelta(hours=5)
            twin["lastModifyStr"] = utc_str(older)
        records.extend((record, twin))
    return records


def expected_twin(records: list[dict[str, Any]], task_id: int) -> str:
    """The subject the ledger must keep: newest lastModifyStr, then the greater content hash."""
    versions = [r for r in records if r["id"] == task_id]

    def rank(record: dict[str, Any]) -> tuple[datetime, str]:
        item = to_page_item(record, SPEC)
        assert isinstance(item, repo.Incoming)
        return item.task.last_modified, repo.content_hash(item.task)

    return str(max(versions, key=rank)["subject"])


def test_same_id_twice_keeps_one_version_and_writes_nothing_again(ledger: Ledger) -> None:
    """The same id listed twice with different content: the newest (ties: the greater content
    hash) is kept and the dropped version logged; later runs write nothing, whatever the order
    of the two versions."""
    records = twins()
    with HostileServer(records) as server:
        settings = settings_for(server, ledger, lookback_seconds=86400)  # re-read every twin
        with capture_logs() as logs:
            first = run(server, settings, ledger, "twins-1")
        # Twins sharing a lastModifyStr sit side by side in the list: one is dropped. An older
        # twin comes pages earlier: it is stored, then replaced by the newer one.
        assert first.duplicates == 130 and len(events(logs, "duplicate_record")) == 130
        assert (first.inserted, first.updated) == (150, 20)
        assert count(ledger, TaskSnapshot) == 170
        rows = stored(ledger)
        assert {i: r.subject for i, r in rows.items()} == {
            i: expected_twin(records, i) for i in range(1, 151)
        }
        second = run(server, settings, ledger, "twins-2")
        with server.lock:  # the source now lists each pair the other way round
            pairs = [server.records[i : i + 2][::-1] for i in range(0, 300, 2)]
            server.records[:] = [r for pair in pairs for r in pair]
        third = run(server, settings, ledger, "twins-3")
    for result in (second, third):
        assert (result.inserted, result.updated, result.snapshots) == (0, 0, 0)
        assert (result.fetched, result.duplicates, result.older_skipped) == (300, 130, 20)
    assert count(ledger, TaskSnapshot) == 170
    assert {i: r.subject for i, r in stored(ledger).items()} == {
        i: expected_twin(records, i) for i in range(1, 151)
    }


# -- one bad record never stalls the run --------------------------------------------------------------

BAD: dict[str, tuple[dict[str, Any], str]] = {
    "deadline_year_1": ({"deadline": "Jan 1, 0001, 12:00:00 AM"}, "deadline (source 'deadline')"),
    "deadline_year_9999": (
        {"deadline": "Dec 31, 9999, 11:59:59 PM"},
        "deadline (source 'deadline')",
    ),
    "modified_year_9999": (
        {"lastModifyStr": "9999-12-31T23:59:59+00:00"},
        "last_modified (source 'lastModifyStr')",
    ),
    "completed_year_9999": (
        {"status": "completed", "completeDateStr": "9999-12-31T23:59:59+00:00"},
        "completed_at (source 'completeDateStr')",
    ),
    "id_2_63": ({"id": 2**63}, "source_id (source 'id')"),
    "steering_1024": ({"steeringContent": "x" * 1024}, "steering_content"),
    "subject_over_cap": ({"subject": "Trích yếu " * 500}, "subject (source 'subject')"),
    "steering_5mb": ({"steeringContent": "N" * 5_000_000}, "steering_content"),
    "coordinators_201": (
        {"coordinators": [{"commCode": f"U{i}", "aname": "x"} for i in range(201)]},
        "coordinators (source 'coordinators')",
    ),
    "nested_unknown_key": ({"extra": json.loads("[" * 40 + "]" * 40)}, "(source 'extra')"),
}
"""Record changes that made a whole run fail (or store junk), and the field quarantine names."""

BAD_POSITIONS = (3, 150, 199, 200, 201, 260, 330, 399, 420, 449)


def bad_world() -> tuple[list[dict[str, Any]], dict[int, str]]:
    """450 records, those at `BAD_POSITIONS` spoilt as in `BAD`; position -> case name."""
    records = recent(450)
    planted: dict[int, str] = {}
    for position, (name, (change, _)) in zip(BAD_POSITIONS, BAD.items(), strict=True):
        records[position].update(change)
        planted[position] = name
    return records, planted


def test_bad_records_are_quarantined_and_the_run_goes_on(ledger: Ledger) -> None:
    """Absurd dates, a 2**63 id, oversized fields: each record quarantined naming its field, the
    other 440 stored in the first run, and every later run as well."""
    records, planted = bad_world()
    bad_ids = {int(records[p]["id"]) for p in planted if records[p]["id"] != 2**63}
    with HostileServer(records) as server:
        settings = settings_for(server, ledger)
        first = run(server, settings, ledger, "bad-1")
        second = run(server, settings, ledger, "bad-2")
    rows = stored(ledger)
    assert len(rows) == 440 and not bad_ids & set(rows)
    assert first.inserted == 440 and first.quarantined == len(BAD)
    assert first.classify_errors == 0 and second.classify_errors == 0
    assert all(r.status_code is not None for r in rows.values())
    held = quarantine(ledger)
    assert len(held) == len(BAD)
    for position, name in planted.items():
        key = f"id:{records[position]['id']}"
        assert BAD[name][1] in held[key].field, (name, held[key].field)
        assert held[key].reason
        assert len(held[key].raw_json) < 100_000, f"{name}: the quarantine kept the whole record"
    assert held[f"id:{2**63}"].task_id is None
    assert (second.inserted, second.updated) == (0, 0)


def test_record_without_id_is_counted_once(ledger: Ledger) -> None:
    """A record without an id at the end of a page is quarantined once and counted once."""
    records = recent(450)
    del records[199]["id"]
    with HostileServer(records) as server:
        result = run(server, settings_for(server, ledger), ledger, "no-id")
    assert (result.quarantined, result.inserted) == (1, 449)
    assert len(quarantine(ledger)) == 1


def test_units_with_unstorable_text_never_stop_the_run(ledger: Ledger) -> None:
    """A NUL or a lone surrogate in a unit name is cleaned the same on both backends; a unit whose
    code holds one is skipped; every task is stored."""
    units = [dict(u) for u in UNITS]
    units += [
        {"commCode": "SXD", "aname": "Sở Xây\x00 dựng", "kind": "department", "parentCode": ""},
        {"commCode": "SYT", "aname": "Sở Y tế\ud800", "kind": "department", "parentCode": ""},
        {"commCode": "S\x00TC", "aname": "Sở Tài chính", "kind": "department", "parentCode": ""},
    ]
    with HostileServer(recent(50), units=units) as server:
        settings = settings_for(server, ledger)
        first = run(server, settings, ledger, "units-1")
        second = run(server, settings, ledger, "units-2")
    with ledger.reading() as s:
        names = {u.code: u.name for u in s.scalars(select(UnitRow))}
    assert names["SXD"] == "Sở Xây dựng" and names["SYT"] == "Sở Y tế\ufffd"
    assert not any("\x00" in code for code in names) and len(names) == len(UNITS) + 2
    assert first.inserted == 50 and first.units_changed == len(UNITS) + 2
    assert second.units_changed == 0


# -- through the command line ------------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream


def cli_pull(server: HostileServer, home: Path) -> int:
    """`idesk-connector pull` against `server` (this machine's clock): the exit code."""
    cfg = home / "config.toml"
    cfg.write_text(
        f'[source]\nbase_url = "{server.base_url}"\nusername = "hostile-clerk"\n'
        f'[ledger]\nurl = "sqlite:///{home / "ledger.db"}"\n[push]\nenabled = false\n',
        encoding="utf-8",
    )
    cfg.chmod(0o600)
    env = {"IDESK_CONNECTOR_CONFIG": str(cfg), "IDESK_CONNECTOR__SOURCE__PASSWORD": PASSWORD}
    return CliRunner().invoke(app, ["--log-format", "json", "pull"], env=env).exit_code


def test_cli_exit_codes_for_a_clock_behind_and_a_server_ignoring_paging(cli_home: Path) -> None:
    """A Date a day behind: exit 0 with all 600 stored; paging ignored: exit 3."""
    now = datetime.now(UTC).replace(microsecond=0)
    records = task_records(600, start=now - 600 * MINUTE)
    with HostileServer(records, now=now) as server:
        server.switches.date_offset_s = -86400
        assert cli_pull(server, cli_home) == 0
        server.switches.ignore_paging = True
        with server.lock:  # one shared second: paging through it needs offsets
            for record in server.records:
                record["lastModifyStr"] = utc_str(now)
        assert cli_pull(server, cli_home) == 3
    ledger_path = cli_home / "ledger.db"
    from connector.ledger.db import open_ledger

    opened = open_ledger(f"sqlite:///{ledger_path}")
    try:
        assert len(stored(opened)) == 600
    finally:
        opened.close()
