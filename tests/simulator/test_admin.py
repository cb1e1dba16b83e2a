"""Changing the simulated world while it runs (Python API and /_sim/), lifecycle, serve()."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from connector.errors import ConfigError
from simulator import (
    Faults,
    Scenario,
    Simulator,
    SimulatorConfig,
    UnknownTaskError,
    serve,
)
from simulator.timefmt import date_str, local_str, utc_str

TIMEOUT = 10


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = Simulator(
        SimulatorConfig(tasks=40, seed=11, faults=Faults.none(), frozen_clock=True)
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def client() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


def some_open_task(sim: Simulator) -> int:
    return min(
        key
        for key, record in sim.world.tasks.items()
        if record.get("id") == key and record["status"] in ("received", "processing")
    )


def admin(client: requests.Session, sim: Simulator, action: str, **body: Any) -> requests.Response:
    return client.post(f"{sim.admin_url}/{action}", json=body, timeout=TIMEOUT)


def stamped_now(sim: Simulator, record: dict[str, Any]) -> bool:
    stamps = (record["lastModifyStr"], record["lastModify"])
    return stamps == (utc_str(sim.now()), local_str(sim.now()))


# -- the Python API ------------------------------------------------------------------------------


def test_clock_starts_today_at_8_local(sim: Simulator) -> None:
    """The simulated clock starts at the world's today, 08:00 Asia/Ho_Chi_Minh."""
    assert sim.now() == datetime(2022, 3, 7, 1, 0, tzinfo=UTC)
    assert sim.today() == date(2022, 3, 7)


def test_clock_runs_with_real_time_unless_frozen() -> None:
    """Without frozen_clock the simulated clock moves with real time."""
    with Simulator(SimulatorConfig(tasks=5, faults=Faults.none())) as running:
        first = running.now()
        assert running.now() > first


def test_advance_days_moves_today(sim: Simulator) -> None:
    """advance_days(n) moves the simulated date n days forward (never back)."""
    sim.advance_days(30)
    assert sim.today() == date(2022, 4, 6)
    with pytest.raises(ValueError, match="forward"):
        sim.advance(timedelta(seconds=-1))


def test_complete_task_now_and_at_an_instant(sim: Simulator) -> None:
    """complete_task sets completed/completeDate (default now) and bumps lastModifyStr to now."""
    task_id = some_open_task(sim)
    sim.advance(timedelta(hours=1))
    at = datetime(2022, 3, 6, 17, 30, tzinfo=UTC)  # 00:30 local on 7 March
    sim.complete_task(task_id, at=at)
    record = sim.world.task(task_id)
    assert record["status"] == "completed"
    assert record["completeDateStr"] == "2022-03-06T17:30:00+00:00"
    assert record["completeDate"] == "Mar 7, 2022, 12:30:00 AM"
    assert record["progress"] == 100
    assert stamped_now(sim, record)
    assert task_id not in sim.world.scenario


def test_change_deadline_appends_history(sim: Simulator) -> None:
    """change_deadline appends {old, new, when, reason}; deadline holds the latest."""
    task_id = some_open_task(sim)
    old = sim.world.task(task_id)["deadline"]
    sim.change_deadline(task_id, date(2022, 4, 15), reason="Theo đề nghị của Sở")
    sim.change_deadline(task_id, date(2022, 5, 2))
    record = sim.world.task(task_id)
    assert record["deadline"] == date_str(date(2022, 5, 2)) == "May 2, 2022, 12:00:00 AM"
    changes = record["deadlineChanges"][-2:]
    assert changes[0]["oldDeadline"] == old
    assert changes[0]["newDeadline"] == changes[1]["oldDeadline"] == "Apr 15, 2022, 12:00:00 AM"
    assert changes[0]["reason"] == "Theo đề nghị của Sở"
    assert changes[1]["changedDateStr"] == utc_str(sim.now())
    assert stamped_now(sim, record)


def test_confirm_task(sim: Simulator) -> None:
    """confirm_task sets confirmed Y with the date; False clears it."""
    task_id = some_open_task(sim)
    sim.confirm_task(task_id)
    record = sim.world.task(task_id)
    assert (record["confirmed"], record["confirmedDateStr"]) == ("Y", utc_str(sim.now()))
    sim.confirm_task(task_id, confirmed=False)
    assert sim.world.task(task_id)["confirmed"] == "N"


def test_add_tasks_sharing_one_timestamp(sim: Simulator) -> None:
    """add_tasks(1000, same_timestamp=True) gives 1,000 tasks with one lastModifyStr."""
    ids = sim.add_tasks(1000, same_timestamp=True)
    stamps = {sim.world.tasks[i]["lastModifyStr"] for i in ids}
    assert len(ids) == len(set(ids)) == 1000
    assert stamps == {utc_str(sim.now())}
    assert ids == sorted(ids)
    assert [r["id"] for r in sim.world.served()][-1000:] == ids


def test_add_tasks_each_own_timestamp(sim: Simulator) -> None:
    """Without same_timestamp each new task gets its own second; the clock moves on."""
    before = sim.now()
    ids = sim.add_tasks(5)
    stamps = [sim.world.tasks[i]["lastModifyStr"] for i in ids]
    assert len(set(stamps)) == 5
    assert sim.now() == before + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("scenario", "no_deadline"),
    [
        pytest.param(Scenario.OPEN_NO_DEADLINE, True, id="no-deadline"),
        pytest.param(Scenario.OPEN_IN_TIME, False, id="in-time"),
        pytest.param(Scenario.DUE_SOON, False, id="due-soon"),
    ],
)
def test_added_tasks_are_new_open_assignments(
    sim: Simulator, scenario: Scenario, no_deadline: bool
) -> None:
    """Added tasks are received today, unconfirmed, with or without a deadline as asked."""
    (task_id,) = sim.add_tasks(1, scenario=scenario)
    record = sim.world.task(task_id)
    assert record["status"] == "received"
    assert record["confirmed"] == "N"
    assert record["createDateStr"] == utc_str(sim.now())
    assert (record["deadline"] in ("", "Feb 1, 2200, 12:00:01 AM")) is no_deadline
    assert sim.world.scenario[task_id] is scenario


def test_added_tasks_refuse_past_scenarios(sim: Simulator) -> None:
    """A task created now cannot be generated as, e.g., completed late."""
    with pytest.raises(ValueError, match="cannot be"):
        sim.add_tasks(1, scenario=Scenario.DONE_LATE)


def test_soft_and_hard_delete(sim: Simulator) -> None:
    """soft_delete flags deleted Y (served with includeDeleted); hard_delete removes the task."""
    soft, hard = sorted(k for k, r in sim.world.tasks.items() if r["deleted"] == "N")[:2]
    sim.soft_delete(soft)
    sim.hard_delete(hard)
    assert sim.world.task(soft)["deleted"] == "Y"
    assert soft not in [r["id"] for r in sim.world.served()]
    assert soft in [r["id"] for r in sim.world.served(include_deleted=True)]
    assert hard in sim.world.hard_deleted
    with pytest.raises(UnknownTaskError):
        sim.world.task(hard)


def test_unknown_task_raises(sim: Simulator) -> None:
    """Changing a task that does not exist raises UnknownTaskError."""
    with pytest.raises(UnknownTaskError):
        sim.complete_task(1)


def test_notifications_count_created_not_sent(sim: Simulator, client: requests.Session) -> None:
    """sim.notifications counts distinct created notifications; requests count every send."""
    task_id = some_open_task(sim)
    body = {
        "type": "SAP_DEN_HAN",
        "taskId": task_id,
        "recipients": ["SNV"],
        "level": 0,
        "title": "Sắp đến hạn",
        "content": "...",
    }
    headers = {"Authorization": f"Bearer {sim.credentials.token}"}
    for key in ("a", "a", "b"):
        client.post(
            sim.url("/notifications/send.cpx"),
            json=body,
            timeout=TIMEOUT,
            headers={**headers, "Idempotency-Key": key},
        )
    assert [n.idempotency_key for n in sim.notifications] == ["a", "b"]
    assert sim.count_requests("/notifications/send.cpx") == 3
    assert sim.state()["notificationsCreated"] == 2


# -- the admin endpoints ---------------------------------------------------------------------------


def test_admin_state(sim: Simulator, client: requests.Session) -> None:
    """GET /_sim/state gives today, counts and notifications created, without auth."""
    state = client.get(sim.admin_url + "/state", timeout=TIMEOUT).json()
    assert state["today"] == "2022-03-07"
    assert state["tasks"]["total"] == len(sim.world)
    assert state["notificationsCreated"] == 0
    assert state["faults"] == "rate_limit=off"


def test_admin_changes_over_http(sim: Simulator, client: requests.Session) -> None:
    """Each /_sim/ action changes the world like its Python twin and bumps lastModifyStr."""
    task_id = some_open_task(sim)
    assert admin(client, sim, "advance", days=2).json()["today"] == "2022-03-09"
    assert admin(client, sim, "deadline", id=task_id, deadline="2022-03-31").status_code == 200
    assert admin(client, sim, "confirm", id=task_id).status_code == 200
    assert admin(client, sim, "report", id=task_id, progress=60).status_code == 200
    assert admin(client, sim, "complete", id=task_id, at="2022-03-08T09:00:00+07:00").ok
    record = sim.world.task(task_id)
    assert record["deadline"] == "Mar 31, 2022, 12:00:00 AM"
    assert record["confirmed"] == "Y"
    assert record["completeDateStr"] == "2022-03-08T02:00:00+00:00"
    assert stamped_now(sim, record)
    added = admin(client, sim, "add", count=3, sameTimestamp=True).json()["ids"]
    assert len(added) == 3
    assert admin(client, sim, "soft-delete", id=added[0]).ok
    assert admin(client, sim, "hard-delete", id=added[1]).ok
    assert admin(client, sim, "touch", id=added[2]).ok
    assert admin(client, sim, "withdraw", id=added[2]).ok
    assert sim.world.task(added[2])["status"] == "retrieved"
    assert sim.world.task(added[0])["deleted"] == "Y"
    got = client.get(sim.admin_url + "/task", params={"id": added[1]}, timeout=TIMEOUT)
    assert got.status_code == 404


@pytest.mark.parametrize(
    ("action", "body", "status"),
    [
        pytest.param("complete", {"id": 1}, 404, id="unknown-task"),
        pytest.param("complete", {"id": "x"}, 400, id="id-not-int"),
        pytest.param("deadline", {"id": 1, "deadline": "15/4/2022"}, 400, id="bad-date"),
        pytest.param("advance", {"days": -1}, 400, id="backwards"),
        pytest.param("add", {"count": 1, "scenario": "done_late"}, 400, id="bad-scenario"),
        pytest.param("faults", {"faults": "explode=1"}, 400, id="bad-faults"),
        pytest.param("nothing", {}, 404, id="unknown-action"),
    ],
)
def test_admin_refuses_bad_requests(
    sim: Simulator, client: requests.Session, action: str, body: dict[str, Any], status: int
) -> None:
    """Admin calls with bad input answer 400 (or 404) with a JSON error."""
    response = admin(client, sim, action, **body)
    assert response.status_code == status
    assert "error" in response.json()


def test_admin_changes_faults_and_expires_sessions(
    sim: Simulator, client: requests.Session
) -> None:
    """/_sim/faults swaps the faults live; /_sim/expire-sessions expires every session."""
    login = client.post(
        sim.url("/auth/login.cpx"),
        timeout=TIMEOUT,
        data={"username": "demo", "password": "demo-password"},
    )
    assert login.ok
    assert admin(client, sim, "expire-sessions").json()["expired"] == 1
    expired = client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
    assert expired.json()["error"] == "session_expired"
    assert admin(client, sim, "faults", faults="http5xx=1").json()["faults"] == (
        "rate_limit=20,http5xx=1"
    )
    assert client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT).status_code in (502, 503, 504)


# -- configuration, lifecycle and serve() --------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        pytest.param("0.0.0.0", id="any"),
        pytest.param("192.168.1.10", id="lan"),
        pytest.param("example.gov.vn", id="name"),
    ],
)
def test_refuses_non_loopback_hosts(host: str) -> None:
    """The simulator listens on loopback only: other hosts raise ConfigError."""
    with pytest.raises(ConfigError, match="loopback"):
        Simulator(SimulatorConfig(host=host, tasks=1))


def test_config_problems_are_reported_together() -> None:
    """Every invalid setting is listed in one ConfigError."""
    with pytest.raises(ConfigError) as caught:
        SimulatorConfig(tasks=-1, base_path="nope/", session_ttl=0, auth_modes=frozenset())
    assert len(caught.value.problems) == 4


def test_ipv6_loopback() -> None:
    """::1 is accepted and served."""
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with Simulator(SimulatorConfig(host="::1", tasks=3, faults=Faults.none())) as simulator:
        assert simulator.base_url.startswith("http://[::1]:")
        response = requests.get(simulator.admin_url + "/state", timeout=TIMEOUT)
    assert response.status_code == 200


def test_serve_blocks_until_stopped() -> None:
    """serve() calls on_ready with the running simulator and returns when stop is set."""
    ready: list[Simulator] = []
    stop = threading.Event()
    config = SimulatorConfig(tasks=10, faults=Faults.none())
    thread = threading.Thread(
        target=serve, args=(config,), kwargs={"port": 0, "on_ready": ready.append, "stop": stop}
    )
    thread.start()
    try:
        for _ in range(200):
            if ready:
                break
            stop.wait(0.01)
        assert ready and ready[0].running
        status = requests.get(ready[0].admin_url + "/state", timeout=TIMEOUT).status_code
    finally:
        stop.set()
        thread.join(timeout=5)
    assert status == 200
    assert not thread.is_alive()
    assert not ready[0].running


def test_serve_on_a_busy_port_is_a_config_error() -> None:
    """A port already in use raises ConfigError naming it."""
    with (
        Simulator(SimulatorConfig(tasks=1, faults=Faults.none())) as busy,
        pytest.raises(ConfigError, match=str(busy.port)),
    ):
        serve(SimulatorConfig(tasks=1, port=busy.port))


@pytest.mark.parametrize(
    ("lang", "phrase"),
    [
        pytest.param("vi", "Nhấn Ctrl+C để dừng.", id="vi"),
        pytest.param("en", "Press Ctrl+C to stop.", id="en"),
    ],
)
def test_banner_names_url_credentials_and_curl(sim: Simulator, lang: str, phrase: str) -> None:
    """The CLI banner gives the base URL, both credentials and curl commands to page tasks."""
    text = sim.banner(lang)
    assert sim.base_url in text
    assert "username=demo" in text and "password=demo-password" in text
    assert "Bearer demo-token" in text
    assert text.count("curl ") == 3
    assert '"start": 200' in text
    assert phrase in text


def test_concurrent_clients() -> None:
    """Many threads paging and writing at once all get consistent answers."""
    config = SimulatorConfig(tasks=300, seed=2, faults=Faults.none(), frozen_clock=True)
    errors: list[str] = []
    with Simulator(config) as simulator:
        ids = [r["id"] for r in simulator.world.served()]
        headers = {"Authorization": f"Bearer {simulator.credentials.token}"}

        def worker(n: int) -> None:
            with requests.Session() as session:
                for i in range(15):
                    page = session.post(
                        simulator.url("/tasks/search.cpx"),
                        headers=headers,
                        json={"start": i * 10, "limit": 50},
                        timeout=TIMEOUT,
                    )
                    write = session.post(
                        simulator.url("/tasks/tracking.cpx"),
                        json={"id": ids[n * 15 + i], "trackingStatus": "DTH_TRONG_HAN"},
                        headers={**headers, "Idempotency-Key": f"w-{n}-{i}"},
                        timeout=TIMEOUT,
                    )
                    if page.status_code != 200 or write.status_code != 200:
                        errors.append(f"{page.status_code}/{write.status_code}")
                    elif page.json()["total"] != len(ids):
                        errors.append("total")

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        writes = simulator.tracking_writes
    assert errors == []
    assert len(writes) == 8 * 15
    assert len({w.task_id for w in writes}) == 8 * 15
