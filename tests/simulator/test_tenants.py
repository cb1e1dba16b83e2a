"""Several tenants in one simulator process, and the merged province's two unit sets."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from connector.errors import ConfigError
from simulator import Faults, SimulatorConfig, generate_world
from simulator import idesk6 as sim6
from simulator.server import Simulator
from simulator.tenants import (
    Tenants,
    TenantSpec,
    parse_tenant,
    tenant_configs,
)
from simulator.units import GIALAI_UNITS, MOVED_FROM_BINHDINH, UNIT_SETS, UNITS, unit_set

TIMEOUT = 10
TODAY = date(2022, 3, 7)
BASE = SimulatorConfig(tasks=40, seed=3, today=TODAY, faults=Faults.none(), frozen_clock=True)


@pytest.fixture(scope="module")
def tenants() -> Iterator[Tenants]:
    specs = [parse_tenant("gialai:11:70"), parse_tenant("binhdinh::50")]
    with Tenants(tenant_configs(BASE, specs)) as running:
        yield running


def login(sim: Simulator, username: str, password: str) -> requests.Response:
    return requests.post(
        sim.url("/auth/login.cpx"),
        data={"username": username, "password": password},
        timeout=TIMEOUT,
    )


def session_of(sim: Simulator) -> requests.Session:
    creds = sim.credentials
    session = requests.Session()
    answer = session.post(
        sim.url("/auth/login.cpx"),
        data={"username": creds.username, "password": creds.password},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200
    return session


def page_through(session: requests.Session, sim: Simulator, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start = 0
    while True:
        answer = session.post(
            sim.url("/tasks/search.cpx"),
            json={"start": start, "limit": limit, "includeDeleted": True},
            timeout=TIMEOUT,
        )
        assert answer.status_code == 200
        data = answer.json()
        items += data["items"]
        start += limit
        if start >= data["total"]:
            return items


# -- the --tenant option --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("gialai", TenantSpec("gialai"), id="name"),
        pytest.param("gialai:2", TenantSpec("gialai", 2), id="seed"),
        pytest.param("bd-old:2:300", TenantSpec("bd-old", 2, 300), id="tasks"),
        pytest.param("a::300", TenantSpec("a", None, 300), id="tasks-without-seed"),
        pytest.param("x_1:5:10:idesk6", TenantSpec("x_1", 5, 10, "idesk6"), id="dialect"),
        pytest.param("x:::contract", TenantSpec("x", None, None, "contract"), id="dialect-only"),
    ],
)
def test_parse_tenant(spec: str, expected: TenantSpec) -> None:
    """NAME[:SEED[:TASKS[:DIALECT]]]: an empty part keeps the base configuration's value."""
    assert parse_tenant(spec) == expected


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        pytest.param("GiaLai", "lower-case", id="upper-case"),
        pytest.param("", "lower-case", id="empty"),
        pytest.param("1st", "starting with a letter", id="digit-first"),
        pytest.param("a:two", "seed must be a whole number", id="seed"),
        pytest.param("a:1:many", "number of tasks must be a whole number", id="tasks"),
        pytest.param("a:1:2:soap", "dialect must be one of contract, idesk6", id="dialect"),
        pytest.param("a:1:2:contract:x", "expected NAME[:SEED[:TASKS[:DIALECT]]]", id="too-many"),
    ],
)
def test_parse_tenant_refuses_a_bad_spec(spec: str, says: str) -> None:
    """A bad --tenant value is a ConfigError naming the value and what is wrong."""
    with pytest.raises(ConfigError, match=r"simulator\.tenant") as caught:
        parse_tenant(spec)
    assert says in str(caught.value)


def test_tenant_configs_give_each_its_port_logins_and_units() -> None:
    """Tenants listen on --port, --port+1, ...; each has its own credentials; a tenant named
    like a unit set serves that set, another name the base's."""
    base = SimulatorConfig(port=18765, tasks=10)
    specs = [parse_tenant("gialai:2"), parse_tenant("binhdinh"), parse_tenant("other::5")]
    configs = tenant_configs(base, specs)
    assert [c.port for c in configs] == [18765, 18766, 18767]
    assert [c.tenant for c in configs] == ["gialai", "binhdinh", "other"]
    assert [c.units for c in configs] == ["gialai", "binhdinh", "binhdinh"]
    assert [(c.seed, c.tasks) for c in configs] == [(2, 10), (1, 10), (1, 5)]
    assert len({c.username for c in configs}) == 3
    assert len({c.password for c in configs}) == 3
    assert len({c.token for c in configs}) == 3
    assert configs[0].username == "demo-gialai"


def test_tenant_configs_with_port_zero_take_any_free_port() -> None:
    """With --port 0 every tenant takes any free port."""
    configs = tenant_configs(SimulatorConfig(), [TenantSpec("a"), TenantSpec("b")])
    assert [c.port for c in configs] == [0, 0]


@pytest.mark.parametrize(
    ("specs", "port", "says"),
    [
        pytest.param([], 0, "at least one tenant", id="none"),
        pytest.param([TenantSpec("a"), TenantSpec("a")], 0, "given twice: a", id="twice"),
        pytest.param([TenantSpec("a"), TenantSpec("b")], 65535, "past 65535", id="ports"),
    ],
)
def test_tenant_configs_refuse(specs: list[TenantSpec], port: int, says: str) -> None:
    """No tenant, a name given twice, or ports past 65535 are a ConfigError."""
    with pytest.raises(ConfigError, match=says):
        tenant_configs(SimulatorConfig(port=port), specs)


def test_a_tenant_that_cannot_bind_stops_the_others() -> None:
    """When one tenant's port is taken, the tenants already started are stopped again."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        configs = [
            SimulatorConfig(tasks=5, tenant="a"),
            SimulatorConfig(tasks=5, tenant="b", port=taken),
        ]
        tenants = Tenants(configs)
        with pytest.raises(ConfigError, match=r"simulator\.port"):
            tenants.start()
    assert not tenants["a"].running
    assert not tenants["b"].running


def test_tenants_need_distinct_names() -> None:
    """Tenants built from configurations without a name, or with one name twice, are refused."""
    with pytest.raises(ConfigError, match="name of its own"):
        Tenants([SimulatorConfig(tasks=1)])
    with pytest.raises(ConfigError, match="name of its own"):
        Tenants([SimulatorConfig(tasks=1, tenant="a"), SimulatorConfig(tasks=1, tenant="a")])


# -- two tenants over loopback ------------------------------------------------------------------


def test_each_tenant_has_its_own_port_and_world(tenants: Tenants) -> None:
    """Two tenants listen on two ports, with worlds of their own seed, size and units."""
    gialai, binhdinh = tenants["gialai"], tenants["binhdinh"]
    assert gialai.port != binhdinh.port
    assert (len(gialai.world), gialai.world.seed) == (70, 11)
    assert (len(binhdinh.world), binhdinh.world.seed) == (50, 3)
    assert gialai.world.unit_set.name == "gialai"
    assert binhdinh.world.unit_set.name == "binhdinh"
    assert gialai.world.fingerprint() != binhdinh.world.fingerprint()


@pytest.mark.parametrize("name", ["gialai", "binhdinh"])
def test_each_tenant_answers_the_contract(tenants: Tenants, name: str) -> None:
    """Each tenant logs in with its own credentials, pages its own tasks in full and shows each
    task's details, like a lone iDesk."""
    sim = tenants[name]
    with session_of(sim) as session:
        items = page_through(session, sim, limit=9)
        assert [i["id"] for i in items] == [r["id"] for r in sim.world.served(include_deleted=True)]
        first = items[0]["id"]
        answer = session.get(sim.url("/tasks/view.cpx"), params={"id": first}, timeout=TIMEOUT)
        assert answer.status_code == 200
        assert answer.json()["item"] == sim.world.task(first)
        units = session.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT).json()["items"]
        assert [u["commCode"] for u in units] == [u.code for u in sim.world.units]


def test_a_tenant_refuses_the_other_tenants_logins(tenants: Tenants) -> None:
    """A tenant's username, token and session cookie are refused by the other tenant."""
    gialai, binhdinh = tenants["gialai"], tenants["binhdinh"]
    other = binhdinh.credentials
    assert login(gialai, other.username, other.password).status_code == 401
    bearer = {"Authorization": f"Bearer {other.token}"}
    answer = requests.post(gialai.url("/tasks/search.cpx"), json={}, headers=bearer, timeout=10)
    assert answer.status_code == 401
    with session_of(binhdinh) as session:
        cookie = session.cookies.get("JSESSIONID")
    answer = requests.post(
        gialai.url("/tasks/search.cpx"), json={}, cookies={"JSESSIONID": cookie}, timeout=10
    )
    assert answer.status_code == 401


def test_a_change_on_one_tenant_does_not_touch_the_other() -> None:
    """Requests, admin changes, the clock and faults of one tenant leave the other's state as
    it was."""
    specs = [TenantSpec("a", 1, 30), TenantSpec("b", 1, 30)]
    with Tenants(tenant_configs(BASE, specs)) as running:
        a, b = running["a"], running["b"]
        assert a.world.fingerprint() == b.world.fingerprint()  # same seed: the same world
        before = (b.world.fingerprint(), b.now(), b.faults, len(b.requests), b.state()["tasks"])
        task_id = min(a.world.tasks)
        with session_of(a) as session:
            page_through(session, a, limit=7)
        answer = requests.post(f"{a.admin_url}/complete", json={"id": task_id}, timeout=10)
        assert answer.status_code == 200
        requests.post(f"{a.admin_url}/advance", json={"days": 2}, timeout=10)
        requests.post(f"{a.admin_url}/faults", json={"spec": "http5xx=1"}, timeout=10)
        a.add_tasks(3)
        assert a.world.task(task_id)["status"] == "completed"
        assert a.now() >= BASE_START + timedelta(days=2)
        after = (b.world.fingerprint(), b.now(), b.faults, len(b.requests), b.state()["tasks"])
        assert after == before
        assert a.state()["tenant"] == "a" and b.state()["tenant"] == "b"


BASE_START = generate_world(3, 0, TODAY).start


@pytest.mark.parametrize(
    ("lang", "head", "units"),
    [
        pytest.param("vi", "đang chạy 2 hệ thống (tenant)", "đơn vị tỉnh Gia Lai", id="vi"),
        pytest.param("en", "running 2 systems (tenants)", "units of Gia Lai", id="en"),
    ],
)
def test_banner_lists_every_tenant(tenants: Tenants, lang: str, head: str, units: str) -> None:
    """The banner names each tenant with its world, base URL, logins and admin URL."""
    text = tenants.banner(lang)
    assert head in text
    assert units in text
    for sim in tenants:
        creds = sim.credentials
        assert f"[{sim.config.tenant}] " in text
        assert sim.base_url in text and f"{sim.admin_url}/state" in text
        assert f"username={creds.username} password={creds.password}" in text
        assert f"Bearer {creds.token}" in text
    assert text.index("[gialai]") < text.index("[binhdinh]")


# -- the merged province's unit sets -------------------------------------------------------------


def test_the_default_unit_set_keeps_the_default_world() -> None:
    """Naming the default unit set gives the very world generated without it."""
    plain = generate_world(4, 300, TODAY)
    named = generate_world(4, 300, TODAY, units="binhdinh")
    assert named.fingerprint() == plain.fingerprint()
    assert plain.units == UNITS


def test_moved_units_are_one_agency_in_both_systems() -> None:
    """Every moved Bình Định unit has a code in Gia Lai's system and its old code in Bình
    Định's, the same agency under two codes."""
    gialai, binhdinh = unit_set("gialai"), unit_set("binhdinh")
    for new_code, old_code in MOVED_FROM_BINHDINH.items():
        assert new_code in gialai.codes and new_code not in binhdinh.codes
        assert old_code in binhdinh.codes and old_code not in gialai.codes
        old_name = binhdinh.by_code[old_code].name
        assert gialai.by_code[new_code].name.startswith(old_name)
        assert "(cũ)" in gialai.by_code[new_code].name
        assert gialai.by_code[new_code].kind == binhdinh.by_code[old_code].kind


def test_both_systems_have_their_own_office_and_working_group() -> None:
    """Each unit set has VPUBND and TCT (the alerts' recipients) and unique codes."""
    for units in UNIT_SETS.values():
        assert {"VPUBND", "TCT"} <= units.codes
        assert len(units.codes) == len(units.units)
        assert "TCT" not in {u.code for u in units.lead_units}


def test_a_gialai_world_assigns_tasks_to_gialai_units_only() -> None:
    """A gialai world's lead units and coordinators are Gia Lai's, moved units among them, and
    its documents are Gia Lai's."""
    world = generate_world(2, 400, TODAY, units="gialai")
    codes = {u.code for u in GIALAI_UNITS}
    leads = {r["receiverCommCode"] for r in world.served(include_deleted=True)}
    coordinators = {
        c["commCode"] for r in world.served(include_deleted=True) for c in r["coordinators"]
    }
    assert leads <= codes and coordinators <= codes
    assert "TCT" not in leads
    assert leads & set(MOVED_FROM_BINHDINH)
    authors = {r["author"] for r in world.served(include_deleted=True)}
    assert "UBND tỉnh Gia Lai" in authors and "UBND tỉnh Bình Định" not in authors


def test_notifications_are_checked_against_the_tenants_own_units(tenants: Tenants) -> None:
    """A Gia Lai unit code is a valid recipient on the gialai tenant and unknown on binhdinh."""
    for name, status in (("gialai", 201), ("binhdinh", 422)):
        sim = tenants[name]
        task_id = min(k for k, r in sim.world.tasks.items() if r.get("id") == k)
        body = {
            "type": "QUA_HAN",
            "taskId": task_id,
            "recipients": ["SO_TC_BD"],
            "level": 1,
            "title": "Nhiệm vụ quá hạn",
            "content": "Đề nghị khẩn trương hoàn thành.",
        }
        answer = requests.post(
            sim.url("/notifications/send.cpx"),
            json=body,
            headers={
                "Authorization": f"Bearer {sim.credentials.token}",
                "Idempotency-Key": f"unit-{name}",
            },
            timeout=TIMEOUT,
        )
        assert answer.status_code == status, answer.text


def test_config_refuses_an_unknown_unit_set() -> None:
    """A unit set the simulator does not have is a ConfigError listing the known ones."""
    with pytest.raises(ConfigError, match=r"simulator\.units") as caught:
        SimulatorConfig(units="hanoi")
    assert "must be one of binhdinh, gialai, got 'hanoi'" in str(caught.value)


def test_an_idesk6_tenant_serves_its_own_organisation_tree() -> None:
    """A gialai tenant in the idesk6 dialect lists Gia Lai's units in its tree, under UBND tỉnh
    Gia Lai, and every step's unit is one of them."""
    configs = tenant_configs(BASE, [parse_tenant("gialai:5:40:idesk6")])
    with Tenants(configs) as running:
        sim = running["gialai"]
        code = sim.credentials.account_code
        with session_of(sim) as session:
            tree = session.post(
                sim.url(sim6.TREE), data={"exeacode": code, "type": "transfer"}, timeout=TIMEOUT
            ).json()["elements"]
            depts = {e["id"]: e["name"] for e in tree if e["type"] == "dept"}
            assert sorted(depts.values()) == sorted(u.name for u in GIALAI_UNITS)
            assert [e["name"] for e in tree if e["type"] == "unit"] == ["UBND tỉnh Gia Lai"]
            for task_id in sorted(sim.world.tasks)[:10]:
                found = session.get(
                    sim.url(sim6.DETAIL),
                    params={"exeacode": code, "id": task_id, "responsibility": "main"},
                    timeout=TIMEOUT,
                ).json()
                lead = sim.world.tasks[task_id]["receiverCommCode"]
                main = next(p for p in found["proInfos"] if p["responsibility"] == "main")
                assert depts[main["receiverDeptId"]] == unit_set("gialai").by_code[lead].name
