"""The generated world: deterministic, province-like, every scenario true by the calendar."""

from __future__ import annotations

import itertools
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from connector.clock import LOCAL_TZ, local_date
from connector.rules.calendar import DayKind, WorkingCalendar
from simulator import (
    NO_DEADLINE,
    UNITS,
    MalformKind,
    Scenario,
    World,
    generate_world,
)
from simulator.timefmt import date_str, http_date, local_str, utc_str
from simulator.world import default_calendar

TODAY = date(2022, 3, 7)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(seed=5, tasks=800, today=TODAY)


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return default_calendar()


def local_day(text: str) -> date:
    return datetime.strptime(text, "%b %d, %Y, %I:%M:%S %p").date()


def deadline_of(record: dict[str, Any]) -> date | None:
    text = record["deadline"]
    return None if text in ("", NO_DEADLINE) else local_day(text)


def completed_on(record: dict[str, Any]) -> date | None:
    text = record["completeDateStr"]
    return local_date(datetime.fromisoformat(text)) if text else None


# -- formats ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "local", "utc"),
    [
        pytest.param(
            datetime(2022, 4, 12, 17, 0, tzinfo=UTC),
            "Apr 13, 2022, 12:00:00 AM",
            "2022-04-12T17:00:00+00:00",
            id="local-midnight",
        ),
        pytest.param(
            datetime(2022, 4, 13, 5, 0, 1, 999, tzinfo=UTC),
            "Apr 13, 2022, 12:00:01 PM",
            "2022-04-13T05:00:01+00:00",
            id="noon-fraction-dropped",
        ),
        pytest.param(
            datetime(2022, 12, 31, 16, 59, 59, tzinfo=UTC),
            "Dec 31, 2022, 11:59:59 PM",
            "2022-12-31T16:59:59+00:00",
            id="last-second",
        ),
    ],
)
def test_date_formats(instant: datetime, local: str, utc: str) -> None:
    """Local en-US (UTC+7) and UTC strings are written exactly as the contract shows."""
    assert local_str(instant) == local
    assert utc_str(instant) == utc


def test_date_str_and_http_date() -> None:
    """A date is written at local midnight; HTTP-dates are GMT."""
    assert date_str(date(2022, 4, 13)) == "Apr 13, 2022, 12:00:00 AM"
    assert http_date(datetime(2022, 3, 7, 1, 0, tzinfo=UTC)) == "Mon, 07 Mar 2022 01:00:00 GMT"


# -- determinism -------------------------------------------------------------------------------


def test_same_seed_same_world() -> None:
    """The same seed, size and today give identical records; another seed does not."""
    a = generate_world(seed=9, tasks=150, today=TODAY, malformed_rate=0.05)
    b = generate_world(seed=9, tasks=150, today=TODAY, malformed_rate=0.05)
    c = generate_world(seed=10, tasks=150, today=TODAY, malformed_rate=0.05)
    assert a.tasks == b.tasks
    assert a.malformed == b.malformed
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_world_size(world: World) -> None:
    """The world holds exactly the number of tasks asked for."""
    assert len(world) == 800
    assert generate_world(tasks=0, today=TODAY).tasks == {}


# -- the province -------------------------------------------------------------------------------


def test_units_of_binh_dinh() -> None:
    """About 40 units with unique codes; the departments and districts named in the brief."""
    codes = [u.code for u in UNITS]
    names = {u.name for u in UNITS}
    assert len(codes) == len(set(codes)) == 42
    for name in (
        "Sở Nội vụ",
        "Sở Tài chính",
        "Sở Thông tin và Truyền thông",
        "Thanh tra tỉnh",
        "UBND thành phố Quy Nhơn",
        "UBND thị xã Hoài Nhơn",
        "UBND huyện An Lão",
        "Công an tỉnh",
        "Kho bạc Nhà nước tỉnh",
        "Văn phòng UBND tỉnh",
        "Tổ công tác của Chủ tịch UBND tỉnh",
    ):
        assert name in names


def test_documents_assign_to_one_to_four_units(world: World) -> None:
    """Records sharing an edId share the document fields and have distinct lead units."""
    by_doc: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in world.tasks.values():
        by_doc[record["edId"]].append(record)
    sizes = Counter(len(records) for records in by_doc.values())
    assert set(sizes) == {1, 2, 3, 4}
    for records in by_doc.values():
        assert len({r["signNumber"] for r in records}) == 1
        assert len({r["docDateStr"] for r in records}) == 1
        leads = [r["receiverCommCode"] for r in records]
        assert len(leads) == len(set(leads))
        assert "TCT" not in leads


def test_vietnamese_text_with_some_nfd(world: World) -> None:
    """Subjects are Vietnamese with diacritics; some records are stored decomposed (NFD)."""
    assert 0.02 <= len(world.nfd) / len(world) <= 0.12
    for key, record in world.tasks.items():
        nfc = unicodedata.normalize("NFC", record["steeringContent"])
        assert (nfc != record["steeringContent"]) is (key in world.nfd)
        assert nfc.startswith("Giao ")


def test_deadline_phrases_in_words(world: World) -> None:
    """Some tasks without a structured deadline state one in words inside steeringContent."""
    assert len(world.phrases) >= 30
    recurring = 0
    for key, phrase in world.phrases.items():
        record = world.tasks[key]
        assert deadline_of(record) is None
        assert phrase.text in unicodedata.normalize("NFC", record["steeringContent"])
        doc_day = local_day(record["docDate"])
        if phrase.nominal is None:
            recurring += 1
            assert phrase.recurrence in ("P1M", "P3M")
        else:
            assert phrase.nominal > doc_day
    assert 0 < recurring < len(world.phrases)


# -- scenarios are true by the calendar ----------------------------------------------------------


def test_every_scenario_is_present(world: World) -> None:
    """An 800-task world spreads over every scenario."""
    assert set(world.scenario.values()) == set(Scenario)


def test_scenarios_hold_by_the_civil_code(world: World, calendar: WorkingCalendar) -> None:
    """Each record's dates make its scenario true with the next-working-day roll-forward."""
    today = world.today
    for key, record in world.tasks.items():
        scenario = world.scenario[key]
        due = deadline_of(record)
        eff = calendar.next_working_day_on_or_after(due) if due else None
        done = completed_on(record)
        status = record["status"]
        if scenario in (Scenario.DONE_ON_TIME, Scenario.DONE_LATE):
            assert status == "completed" and eff and done
            assert (done <= eff) is (scenario is Scenario.DONE_ON_TIME), key
            assert done < today
        elif scenario is Scenario.DONE_NO_DEADLINE:
            assert status == "completed" and eff is None and done
        elif scenario in (Scenario.OPEN_IN_TIME, Scenario.RETURNED):
            assert eff and calendar.working_days_between(today, eff) >= 5
            assert status == ("returned" if scenario is Scenario.RETURNED else status)
            assert status in ("received", "processing", "returned")
        elif scenario is Scenario.DUE_SOON:
            assert eff and 0 <= calendar.working_days_between(today, eff) <= 2
        elif scenario is Scenario.OVERDUE:
            assert eff and 1 <= (today - eff).days <= 30
        elif scenario is Scenario.OVERDUE_LONG:
            assert eff and (today - eff).days > 30
        elif scenario is Scenario.WITHDRAWN:
            assert status == "retrieved"
        else:  # the three open scenarios without deadline
            assert eff is None and status in ("received", "processing")
            created = local_date(datetime.fromisoformat(record["createDateStr"]))
            report = record["lastReportDateStr"]
            last = local_date(datetime.fromisoformat(report)) if report else created
            if scenario is Scenario.OPEN_NO_DEADLINE:
                assert (today - created).days < 90
            elif scenario is Scenario.NO_DEADLINE_STALE:
                assert (today - created).days > 92 and (today - last).days > 92
            else:
                assert (today - created).days > 92 and (today - last).days <= 60
        if scenario not in (Scenario.DONE_ON_TIME, Scenario.DONE_LATE, Scenario.DONE_NO_DEADLINE):
            assert record["completeDate"] == record["completeDateStr"] == ""


def test_expected_status_per_scenario() -> None:
    """Each scenario names the report status it stands for."""
    assert Scenario.DONE_LATE.expected_status == "HT_QUA_HAN"
    assert Scenario.DUE_SOON.expected_status == "DTH_TRONG_HAN"
    assert Scenario.NO_DEADLINE_STALE.expected_status == "KHONG_THOI_HAN"
    assert Scenario.WITHDRAWN.expected_status == "DA_HUY"


def test_deadlines_on_weekends_and_holidays(world: World, calendar: WorkingCalendar) -> None:
    """Some deadlines fall on a Saturday/Sunday and some on a public holiday such as Tết."""
    deadlines = [d for d in map(deadline_of, world.tasks.values()) if d]
    holidays = {
        entry.day
        for entry in calendar.days_off(min(deadlines), max(deadlines))
        if entry.kind is DayKind.PUBLIC_HOLIDAY
    }
    assert sum(d.weekday() >= 5 for d in deadlines) >= 10
    on_holiday = [d for d in deadlines if d in holidays]
    assert len(on_holiday) >= 3
    assert any(d.month in (1, 2) for d in on_holiday)  # Tết


def test_completions_near_local_midnight(world: World) -> None:
    """Some completions happen just before or just after local midnight."""
    hours = Counter(
        datetime.fromisoformat(r["completeDateStr"]).astimezone(LOCAL_TZ).hour
        for r in world.tasks.values()
        if r["completeDateStr"]
    )
    assert hours[23] >= 5
    assert hours[0] >= 5


def test_deadline_changes_end_at_the_current_deadline(world: World) -> None:
    """deadlineChanges are oldest first, chained, and the last one is the current deadline."""
    changed = [r for r in world.tasks.values() if r["deadlineChanges"]]
    assert len(changed) >= 20
    for record in changed:
        changes = record["deadlineChanges"]
        assert changes[-1]["newDeadline"] == record["deadline"]
        for older, newer in itertools.pairwise(changes):
            assert older["newDeadline"] == newer["oldDeadline"]
            assert older["changedDateStr"] <= newer["changedDateStr"]


def test_flags_and_deletions_vary(world: World) -> None:
    """Confirmed Y/N, soft deletions, ties of lastModifyStr and both no-deadline forms occur."""
    records = list(world.tasks.values())
    assert {r["confirmed"] for r in records} == {"Y", "N"}
    assert 0 < sum(r["deleted"] == "Y" for r in records) < len(records) * 0.06
    ties = Counter(r["lastModifyStr"] for r in records)
    assert max(ties.values()) >= 2
    assert {r["deadline"] for r in records} >= {"", NO_DEADLINE}
    starts = world.start
    assert all(datetime.fromisoformat(r["lastModifyStr"]) < starts for r in records)
    assert all(r["lastModifyStr"] >= r["createDateStr"] for r in records)


# -- malformed records ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        pytest.param(0.0, 0, id="none"),
        pytest.param(0.01, 2, id="1%"),
        pytest.param(0.1, 20, id="10%"),
    ],
)
def test_malformed_share(rate: float, expected: int) -> None:
    """malformed_rate spoils round(rate x tasks) records, and the world says which."""
    world = generate_world(seed=2, tasks=200, today=TODAY, malformed_rate=rate)
    assert len(world.malformed) == expected


def test_malformed_records_are_what_the_world_says() -> None:
    """Bad dates, missing ids and unknown statuses are in the records as described."""
    world = generate_world(seed=2, tasks=300, today=TODAY, malformed_rate=0.1)
    kinds = Counter(m.kind for m in world.malformed.values())
    assert set(kinds) == set(MalformKind)
    fields = {m.field for m in world.malformed.values() if m.kind is MalformKind.BAD_DATE}
    assert fields == {"deadline", "completeDate"}
    values = {m.value[:6] for m in world.malformed.values() if m.kind is MalformKind.BAD_DATE}
    assert values == {"31/02/", "Feb 30"}
    for key, bad in world.malformed.items():
        record = world.tasks[key]
        if bad.kind is MalformKind.MISSING_ID:
            assert "id" not in record
            assert world.key_of(key) is None
        elif bad.kind is MalformKind.UNKNOWN_STATUS:
            assert record["status"] == bad.value
            assert bad.value not in ("received", "processing", "completed", "returned")
        else:
            assert record[bad.field] == bad.value
    assert all("id" in r for k, r in world.tasks.items() if k not in world.malformed)


def test_new_tasks_are_deterministic() -> None:
    """Tasks added at the same instants to equal worlds are equal."""
    at = [datetime(2022, 3, 7, 2, 0, tzinfo=UTC) + timedelta(seconds=i) for i in range(3)]
    a = generate_world(seed=4, tasks=10, today=TODAY)
    b = generate_world(seed=4, tasks=10, today=TODAY)
    assert a.add_tasks(at) == b.add_tasks(at)
    assert a.tasks == b.tasks


def test_put_record_serves_any_record_in_order() -> None:
    """put_record inserts a record verbatim, ordered by its lastModifyStr (else the start)."""
    world = generate_world(seed=4, tasks=5, today=TODAY)
    hostile = {"id": 1, "subject": "'; DROP TABLE tasks; --", "lastModifyStr": "not a date"}
    world.put_record(1, hostile)
    world.put_record(2, {"id": 2, "deleted": "Y"}, last_modified=datetime(2020, 1, 1, tzinfo=UTC))
    assert world.served()[-1] == hostile
    assert world.select(None, include_deleted=True)[0] == 2
    assert 2 not in world.select(None, include_deleted=False)
    assert world.encoded(1).startswith(b'{"id":1,')


def test_refresh_after_in_place_edits() -> None:
    """Editing `tasks` in place then refresh() updates order, deletions and encodings."""
    world = generate_world(seed=4, tasks=5, today=TODAY)
    first = world.select(None, include_deleted=False)[0]
    world.encoded(first)
    with world.lock:
        world.tasks[first]["lastModifyStr"] = "2022-03-06T00:00:00+00:00"
        world.tasks[first]["subject"] = "đã sửa"
        world.refresh()
    assert world.select(None, include_deleted=False)[-1] == first
    assert "đã sửa".encode() in world.encoded(first)


def test_no_pile_of_records_shares_the_last_minutes_before_the_start() -> None:
    """Events the generator would place after the world's start are moved back to distinct
    seconds, not all onto one instant just before it: of 5,000 records only a few fall in the
    2 minutes before the newest, so an unchanged incremental read's look-back window re-reads a
    handful, as against a real system (before: 45 records on one second)."""
    world = generate_world(seed=1, tasks=5000, today=date(2026, 11, 30))
    stamps = sorted(
        datetime.fromisoformat(r["lastModifyStr"])
        for r in world.tasks.values()
        if r.get("lastModifyStr")
    )
    newest = stamps[-1]
    assert sum(1 for s in stamps if (newest - s).total_seconds() <= 120) <= 5
