"""The simulator's iDesk 6 mode serves the shapes observed on a deployment (docs/idesk6.md)
and accepts each auth mode."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from simulator import Faults, Simulator, SimulatorConfig, banner
from simulator import idesk6 as sim6
from simulator.config import ALL_AUTH_MODES


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    config = SimulatorConfig(
        tasks=80,
        seed=4,
        dialect="idesk6",
        malformed_rate=0.0,
        faults=Faults(rate_limit=0),
        auth_modes=ALL_AUTH_MODES,
    )
    with Simulator(config) as running:
        yield running


def session(sim: Simulator) -> requests.Session:
    """A signed-in browser session (the login form)."""
    s = requests.Session()
    answer = s.post(
        sim.url("/auth/login.cpx"),
        data={"username": sim.credentials.username, "password": sim.credentials.password},
        timeout=5,
    )
    assert answer.status_code == 200
    return s


def all_items(sim: Simulator, s: requests.Session, path: str = sim6.PROCESS) -> list[Any]:
    items: list[Any] = []
    page = 1
    while True:
        body = s.post(sim.url(path), data={"page": page, "pageSize": 50}, timeout=5).json()
        items += body["items"]
        if page * 50 >= body["total"]:
            return items
        page += 1


def details(sim: Simulator, s: requests.Session, ids: list[int]) -> list[dict[str, Any]]:
    code = sim.credentials.account_code
    return [
        s.get(
            sim.url(sim6.DETAIL),
            params={"exeacode": code, "id": i, "responsibility": "main"},
            timeout=5,
        ).json()
        for i in ids
    ]


def main_step(detail: dict[str, Any]) -> dict[str, Any] | None:
    return next((p for p in detail["proInfos"] if p["responsibility"] == "main"), None)


def test_list_holds_every_document_and_the_intake_only_ones(sim: Simulator) -> None:
    """qsprocess lists each live world task once (a deleted one is not listed), plus the
    intake-only documents; qsreceiving
    lists the intake-only ones alone, each with a receive step and no main step."""
    s = session(sim)
    items = all_items(sim, s)
    intake = [i for i in items if i["responsibility"] == "receive"]
    assert len(intake) == sim6.intake_count(sim.core) > 0
    live = sorted(k for k, r in sim.world.tasks.items() if r.get("deleted") != "Y")
    assert len(live) < len(sim.world.tasks)  # deleted documents leave the list
    assert sorted(i["id"] for i in items if i["responsibility"] == "main") == live
    receiving = all_items(sim, s, sim6.RECEIVING)
    assert [i["id"] for i in receiving] == [i["id"] for i in intake]
    for detail in details(sim, s, [i["id"] for i in intake[:3]]):
        assert main_step(detail) is None
        assert {p["responsibility"] for p in detail["proInfos"]} == {"receive"}


def test_detail_shapes_are_the_observed_ones(sim: Simulator) -> None:
    """Open main steps lack the completeDate keys; some ed lack createDateStr/replyDeadline;
    some subjects hold a line break; receiverAname is a position, receiverDeptId a tree id."""
    s = session(sim)
    found = details(sim, s, sorted(sim.world.tasks)[:40])
    mains = [main_step(d) for d in found]
    assert all(m is not None for m in mains)
    open_steps = [m for m in mains if m and m["status"] in ("processing", "received", "returned")]
    done_steps = [m for m in mains if m and m["status"] == "completed"]
    assert open_steps and done_steps
    assert all("completeDate" not in m and "completeDateStr" not in m for m in open_steps)
    assert all(m["completeDateStr"] for m in done_steps)
    assert any("createDateStr" not in d["ed"] and "replyDeadline" not in d["ed"] for d in found)
    assert any("createDateStr" in d["ed"] for d in found)
    assert any("\n" in d["ed"]["subject"] for d in found)
    tree_ids = {e["id"]: e for e in sim6.tree()}
    unit_names = {e["name"] for e in tree_ids.values() if e["type"] in ("unit", "dept")}
    for m in mains:
        assert m is not None
        assert tree_ids[m["receiverDeptId"]]["type"] == "dept"
        assert m["receiverAname"] not in unit_names


def test_detail_and_tree_need_the_account_code(sim: Simulator) -> None:
    """view.cpx and fbyvsphere.cpx refuse a missing exeacode (400) and another account's (403)."""
    s = session(sim)
    doc = min(sim.world.tasks)
    assert s.get(sim.url(sim6.DETAIL), params={"id": doc}, timeout=5).status_code == 400
    wrong = s.get(sim.url(sim6.DETAIL), params={"id": doc, "exeacode": "0000"}, timeout=5)
    assert wrong.status_code == 403
    assert s.post(sim.url(sim6.TREE), data={"exeacode": "0000"}, timeout=5).status_code == 403
    tree = s.post(
        sim.url(sim6.TREE),
        data={"exeacode": sim.credentials.account_code, "type": "transfer"},
        timeout=5,
    ).json()
    kinds = {e["type"] for e in tree["elements"]}
    assert kinds == {"unit", "dept", "alias", "group"}


def test_profile_code_is_not_the_account_code(sim: Simulator) -> None:
    """The user profile's code differs from the exeacode (the connector must not take it)."""
    profile = session(sim).get(sim.url(sim6.PROFILE), timeout=5).json()
    assert profile["user"]["code"] != sim.credentials.account_code
    assert "totp" in profile


def test_expired_session_answers_the_html_login_page(sim: Simulator) -> None:
    """iDesk 6 answers an expired session with its HTML login page (status 200)."""
    s = session(sim)
    sim.expire_sessions()
    answer = s.post(sim.url(sim6.PROCESS), data={"page": 1, "pageSize": 5}, timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/html")


def test_gateway_headers_query_key_and_oauth2_are_accepted(sim: Simulator) -> None:
    """Static gateway headers, the apikey query key and an OAuth 2.0 token each read the list;
    a wrong key or client secret is refused."""
    creds = sim.credentials
    url, form = sim.url(sim6.PROCESS), {"page": 1, "pageSize": 5}
    good = {"X-App-Name": creds.app_name, "X-Api-Key": creds.api_key}
    assert requests.post(url, data=form, headers=good, timeout=5).status_code == 200
    by_query = requests.post(
        url,
        params={"apikey": creds.api_key},
        data=form,
        headers={"X-App-Name": creds.app_name},
        timeout=5,
    )
    assert by_query.status_code == 200
    bad = requests.post(url, data=form, headers={**good, "X-Api-Key": "x"}, timeout=5)
    assert bad.status_code == 401
    basic = base64.b64encode(f"{creds.client_id}:{creds.client_secret}".encode()).decode()
    token = requests.post(
        sim.url("/oauth2/token"),
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
        timeout=5,
    ).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    assert requests.post(url, data=form, headers=bearer, timeout=5).status_code == 200
    refused = requests.post(
        sim.url("/oauth2/token"),
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": "x",
        },
    )
    assert refused.status_code == 401


def test_totp_account_refuses_the_login_form() -> None:
    """An account asking for a one-time code refuses the form login (otp_required)."""
    config = SimulatorConfig(tasks=5, dialect="idesk6", require_totp=True)
    with Simulator(config) as sim:
        answer = requests.post(
            sim.url("/auth/login.cpx"),
            timeout=5,
            data={"username": sim.credentials.username, "password": sim.credentials.password},
        )
        assert answer.status_code == 401 and answer.json()["error"] == "otp_required"


def test_banner_names_the_account_code_and_the_endpoints(sim: Simulator) -> None:
    """The iDesk 6 banner shows the exeacode, its endpoints and the gateway credentials."""
    text = banner(sim, "en")
    assert sim.credentials.account_code in text
    assert sim6.PROCESS in text and sim6.DETAIL in text and sim6.TREE in text
    assert "X-Api-Key" in text and "OAuth 2.0" in text
