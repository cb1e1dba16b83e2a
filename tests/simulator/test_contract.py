"""Contract tests: one per rule of docs/source-api.md, over real HTTP against the simulator."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

from simulator import Faults, Simulator, SimulatorConfig
from simulator.timefmt import http_date

TIMEOUT = 10

CONTRACT_KEYS = {
    "id",
    "edId",
    "signNumber",
    "category",
    "subject",
    "author",
    "publisherCode",
    "signer",
    "position",
    "docDate",
    "docDateStr",
    "steeringType",
    "steeringBy",
    "steeringContent",
    "receiverCommCode",
    "receiverAname",
    "coordinators",
    "createDate",
    "createDateStr",
    "deadline",
    "deadlineChanges",
    "status",
    "completeDate",
    "completeDateStr",
    "priority",
    "progress",
    "lastReportDateStr",
    "confirmed",
    "confirmedDateStr",
    "trackingStatus",
    "lastModify",
    "lastModifyStr",
    "deleted",
}
UTC_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
LOCAL_RE = re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}:\d{2} [AP]M$")


def start(**overrides: Any) -> Simulator:
    settings: dict[str, Any] = {
        "tasks": 60,
        "seed": 7,
        "faults": Faults.none(),
        "frozen_clock": True,
    }
    settings.update(overrides)
    return Simulator(SimulatorConfig(**settings)).start()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    simulator = start()
    yield simulator
    simulator.stop()


@pytest.fixture
def http(sim: Simulator) -> Iterator[requests.Session]:
    """A client authenticated with the bearer token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.credentials.token}"
    yield session
    session.close()


def search(http: requests.Session, sim: Simulator, **body: Any) -> requests.Response:
    return http.post(sim.url("/tasks/search.cpx"), json=body, timeout=TIMEOUT)


def all_items(http: requests.Session, sim: Simulator, **body: Any) -> list[dict[str, Any]]:
    response = search(http, sim, start=0, limit=500, **body)
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == len(data["items"])
    return list(data["items"])


def login(sim: Simulator) -> requests.Session:
    session = requests.Session()
    creds = sim.credentials
    response = session.post(
        sim.url("/auth/login.cpx"),
        data={"username": creds.username, "password": creds.password},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    return session


def track(
    http: requests.Session, sim: Simulator, body: dict[str, Any], key: str | None = "k-1"
) -> requests.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return http.post(sim.url("/tasks/tracking.cpx"), json=body, headers=headers, timeout=TIMEOUT)


def notify(
    http: requests.Session, sim: Simulator, body: dict[str, Any], key: str = "n-1"
) -> requests.Response:
    return http.post(
        sim.url("/notifications/send.cpx"),
        json=body,
        headers={"Idempotency-Key": key},
        timeout=TIMEOUT,
    )


def open_task_id(sim: Simulator) -> int:
    return min(k for k, r in sim.world.tasks.items() if r.get("id") == k and r["deleted"] == "N")


def a_notification(task_id: int, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "QUA_HAN",
        "taskId": task_id,
        "recipients": ["STTTT", "VPUBND"],
        "level": 1,
        "title": "Nhiệm vụ quá hạn: 1907/UBND-KSTT",
        "content": "Đề nghị khẩn trương hoàn thành.",
    }
    body.update(changes)
    return body


# -- 1. transport --------------------------------------------------------------------------


def test_error_body_has_code_and_vietnamese_message(sim: Simulator) -> None:
    """Error bodies are {"error": code, "message": Vietnamese text}."""
    response = requests.post(sim.url("/tasks/search.cpx"), json={}, timeout=TIMEOUT)
    body = response.json()
    assert response.status_code == 401
    assert set(body) == {"error", "message"}
    assert body["error"] == "unauthorized"
    assert re.search(r"[ăâđêôơưạảấầẩậắằặẹẻếềệỉịọỏốồổộớờởợụủứừửựỳỵỷỹ]", body["message"])


def test_date_header_carries_the_simulated_clock(sim: Simulator, http: requests.Session) -> None:
    """Every response's Date header is the simulator's clock, also on errors."""
    for response in (
        search(http, sim, limit=1),
        requests.get(sim.url("/nope.cpx"), timeout=TIMEOUT),
        requests.post(sim.url("/tasks/search.cpx"), json={}, timeout=TIMEOUT),
    ):
        assert response.headers["Date"] == http_date(sim.now())
    sim.advance_days(3)
    moved = parsedate_to_datetime(search(http, sim, limit=1).headers["Date"])
    assert moved.date() == (sim.world.start + timedelta(days=3)).date()


def test_json_bodies_are_utf8(sim: Simulator, http: requests.Session) -> None:
    """Bodies are UTF-8 JSON with Vietnamese text unescaped."""
    response = http.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "Sở Nội vụ".encode() in response.content


def test_unknown_path_is_404_json(sim: Simulator, http: requests.Session) -> None:
    """Paths outside the contract answer 404 with a JSON error body."""
    for url in (sim.url("/tasks/nothing.cpx"), sim.root_url + "/other/tenant/tasks/search.cpx"):
        response = http.get(url, timeout=TIMEOUT)
        assert response.status_code == 404
        assert response.json()["error"] == "not_found"


def test_wrong_method_is_405(sim: Simulator, http: requests.Session) -> None:
    """A known path with the wrong method answers 405 and names the allowed one."""
    response = http.get(sim.url("/tasks/search.cpx"), timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_base_path_is_configurable() -> None:
    """The tenant prefix is configurable; the default one is then unknown."""
    simulator = start(base_path="/sodong/smartcloud")
    try:
        assert simulator.base_url.endswith("/sodong/smartcloud")
        headers = {"Authorization": f"Bearer {simulator.credentials.token}"}
        ok = requests.get(simulator.url("/comm/units.cpx"), headers=headers, timeout=TIMEOUT)
        other = simulator.root_url + "/ubnd/smartcloud/comm/units.cpx"
        assert ok.status_code == 200
        assert requests.get(other, headers=headers, timeout=TIMEOUT).status_code == 404
    finally:
        simulator.stop()


# -- 2. authentication -----------------------------------------------------------------------


def test_session_login_returns_expires_in_and_cookie(sim: Simulator) -> None:
    """POST /auth/login.cpx with the form answers ok, expiresIn and a JSESSIONID cookie."""
    response = requests.post(
        sim.url("/auth/login.cpx"),
        data={"username": "demo", "password": "demo-password"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "expiresIn": 1800}
    assert "JSESSIONID" in response.cookies
    assert "Path=/ubnd/smartcloud" in response.headers["Set-Cookie"]


def test_session_cookie_authenticates(sim: Simulator) -> None:
    """Requests carrying the session cookie are served."""
    session = login(sim)
    with session:
        response = session.post(sim.url("/tasks/search.cpx"), json={"limit": 5}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert len(response.json()["items"]) == 5


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("demo", "wrong", id="wrong-password"),
        pytest.param("admin", "demo-password", id="wrong-user"),
        pytest.param("", "", id="empty"),
    ],
)
def test_wrong_credentials_are_401_bad_credentials(
    sim: Simulator, username: str, password: str
) -> None:
    """Wrong credentials answer 401 bad_credentials and set no cookie."""
    response = requests.post(
        sim.url("/auth/login.cpx"),
        data={"username": username, "password": password},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "bad_credentials"
    assert "JSESSIONID" not in response.cookies


def test_session_expires_after_idle_ttl_with_json(sim: Simulator) -> None:
    """A session idle longer than expiresIn answers 401 session_expired; logging in again works."""
    session = login(sim)
    with session:
        sim.advance(timedelta(seconds=1801))
        expired = session.post(sim.url("/tasks/search.cpx"), json={"limit": 1}, timeout=TIMEOUT)
        assert expired.status_code == 401
        assert expired.json()["error"] == "session_expired"
    fresh = login(sim)
    with fresh:
        again = fresh.post(sim.url("/tasks/search.cpx"), json={"limit": 1}, timeout=TIMEOUT)
    assert again.status_code == 200


def test_session_activity_keeps_it_alive(sim: Simulator) -> None:
    """Expiry counts idle time: a request within expiresIn renews the session."""
    session = login(sim)
    with session:
        for _ in range(3):
            sim.advance(timedelta(seconds=1700))
            response = session.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
            assert response.status_code == 200


def test_expired_session_html_login_page_style() -> None:
    """With expired_style="html" an expired session answers 200 text/html with a login form."""
    simulator = start(expired_style="html")
    try:
        session = login(simulator)
        with session:
            simulator.advance(timedelta(hours=1))
            response = session.post(
                simulator.url("/tasks/search.cpx"), json={"limit": 1}, timeout=TIMEOUT
            )
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/html")
        assert "<form" in response.text
        assert "/auth/login.cpx" in response.text
    finally:
        simulator.stop()


def test_unknown_session_cookie_counts_as_expired(sim: Simulator) -> None:
    """A JSESSIONID the server does not know answers session_expired."""
    response = requests.post(
        sim.url("/tasks/search.cpx"),
        json={"limit": 1},
        cookies={"JSESSIONID": "DEADBEEF"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "session_expired"


def test_bearer_token_authenticates(sim: Simulator, http: requests.Session) -> None:
    """Authorization: Bearer <token> is accepted."""
    assert search(http, sim, limit=1).status_code == 200


def test_invalid_token_is_401_invalid_token(sim: Simulator) -> None:
    """A wrong token answers 401 invalid_token."""
    response = requests.post(
        sim.url("/tasks/search.cpx"),
        json={"limit": 1},
        headers={"Authorization": "Bearer not-the-token"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/tasks/search.cpx", id="search"),
        pytest.param("GET", "/tasks/view.cpx?id=1", id="view"),
        pytest.param("POST", "/tasks/tracking.cpx", id="tracking"),
        pytest.param("POST", "/notifications/send.cpx", id="send"),
        pytest.param("GET", "/notifications/list.cpx", id="list"),
        pytest.param("GET", "/comm/units.cpx", id="units"),
    ],
)
def test_requests_without_credentials_are_401(sim: Simulator, method: str, path: str) -> None:
    """Every endpoint but login refuses a request without credentials."""
    response = requests.request(method, sim.url(path), json={}, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_token_only_deployment_has_no_login() -> None:
    """With auth_modes={"token"}, login is 404 and a session cookie authenticates nothing."""
    simulator = start(auth_modes=frozenset({"token"}))
    try:
        response = requests.post(
            simulator.url("/auth/login.cpx"),
            data={"username": "demo", "password": "demo-password"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 404
        cookie = requests.get(
            simulator.url("/comm/units.cpx"), cookies={"JSESSIONID": "X"}, timeout=TIMEOUT
        )
        assert cookie.status_code == 401
    finally:
        simulator.stop()


def test_session_only_deployment_refuses_tokens() -> None:
    """With auth_modes={"session"}, even the right token is invalid_token."""
    simulator = start(auth_modes=frozenset({"session"}))
    try:
        response = requests.get(
            simulator.url("/comm/units.cpx"),
            headers={"Authorization": f"Bearer {simulator.credentials.token}"},
            timeout=TIMEOUT,
        )
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_token"
    finally:
        simulator.stop()


# -- 3. listing tasks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "status", "code"),
    [
        pytest.param(1, 200, None, id="1"),
        pytest.param(500, 200, None, id="500"),
        pytest.param(501, 400, "limit_too_large", id="501"),
        pytest.param(10_000, 400, "limit_too_large", id="10000"),
        pytest.param(0, 400, "invalid_limit", id="0"),
    ],
)
def test_search_limit_is_1_to_500(
    sim: Simulator, http: requests.Session, limit: int, status: int, code: str | None
) -> None:
    """limit above 500 answers 400 limit_too_large; below 1 is refused too."""
    response = search(http, sim, limit=limit)
    assert response.status_code == status
    if code:
        assert response.json()["error"] == code


def test_search_response_shape_and_total(sim: Simulator, http: requests.Session) -> None:
    """The response is {"total", "items"}; total counts all matches, items only the page."""
    response = search(http, sim, start=5, limit=10)
    data = response.json()
    assert set(data) == {"total", "items"}
    served = sim.world.served()
    assert data["total"] == len(served)
    assert data["items"] == served[5:15]


def test_search_orders_by_last_modify_then_id(sim: Simulator, http: requests.Session) -> None:
    """Items come ordered by lastModifyStr ascending, ties by id ascending."""
    sim.add_tasks(5, same_timestamp=True)
    items = all_items(http, sim)
    keys = [(item["lastModifyStr"], item.get("id", 0)) for item in items]
    assert keys == sorted(keys)
    tied = [item["id"] for item in items if item["lastModifyStr"] == items[-1]["lastModifyStr"]]
    assert len(tied) >= 5
    assert tied == sorted(tied)


def test_paging_without_changes_covers_every_task_once(
    sim: Simulator, http: requests.Session
) -> None:
    """Pages of `limit` from start=0 concatenate to the full ordered list."""
    expected = [item["id"] for item in all_items(http, sim, includeDeleted=True)]
    got: list[int] = []
    offset = 0
    while True:
        data = search(http, sim, start=offset, limit=7, includeDeleted=True).json()
        got += [item["id"] for item in data["items"]]
        offset += 7
        if offset >= data["total"]:
            break
    assert got == expected


def test_search_list_is_live_offsets_shift(sim: Simulator, http: requests.Session) -> None:
    """A task modified between pages moves to the end, so the next page's offsets shift."""
    before = [item["id"] for item in all_items(http, sim)]
    first = [item["id"] for item in search(http, sim, start=0, limit=10).json()["items"]]
    sim.advance(timedelta(minutes=5))
    sim.touch(first[0])  # an already-returned task moves to the end
    second = search(http, sim, start=10, limit=10).json()
    assert second["total"] == len(before)
    assert [item["id"] for item in second["items"]] == before[11:21]  # before[10] was skipped
    assert all_items(http, sim)[-1]["id"] == first[0]


def test_modified_from_is_inclusive(sim: Simulator, http: requests.Session) -> None:
    """modifiedFrom returns exactly the tasks with lastModifyStr >= it."""
    items = all_items(http, sim)
    pivot = items[len(items) // 2]["lastModifyStr"]
    got = all_items(http, sim, modifiedFrom=pivot)
    assert got == [item for item in items if item["lastModifyStr"] >= pivot]
    assert got[0]["lastModifyStr"] == pivot


def test_modified_from_accepts_any_offset(sim: Simulator, http: requests.Session) -> None:
    """modifiedFrom is an instant: the same moment written at +07:00 selects the same tasks."""
    items = all_items(http, sim)
    pivot = items[len(items) // 3]["lastModifyStr"]
    local = datetime.fromisoformat(pivot).astimezone().isoformat()
    assert all_items(http, sim, modifiedFrom=local) == all_items(http, sim, modifiedFrom=pivot)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("2022-03-01T00:00:00", id="naive"),
        pytest.param("01/03/2022", id="not-iso"),
        pytest.param(20220301, id="number"),
    ],
)
def test_modified_from_must_be_an_iso_instant(
    sim: Simulator, http: requests.Session, value: Any
) -> None:
    """A modifiedFrom that is not an ISO-8601 instant with offset answers 400."""
    response = search(http, sim, modifiedFrom=value)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_include_deleted(sim: Simulator, http: requests.Session) -> None:
    """Soft-deleted tasks are served only with includeDeleted=true, flagged deleted "Y"."""
    victim = open_task_id(sim)
    sim.soft_delete(victim)
    default = all_items(http, sim)
    everything = all_items(http, sim, includeDeleted=True)
    deleted = [item for item in everything if item["deleted"] == "Y"]
    assert victim in {item["id"] for item in deleted}
    assert all(item["deleted"] == "N" for item in default)
    assert len(everything) - len(default) == len(deleted)


# -- 4. the record -------------------------------------------------------------------------


def test_records_have_every_contract_key_and_format(sim: Simulator, http: requests.Session) -> None:
    """Each record carries every key of section 4 with the contract's formats."""
    for item in all_items(http, sim, includeDeleted=True):
        assert set(item) >= CONTRACT_KEYS
        for key in ("docDateStr", "createDateStr", "lastModifyStr"):
            assert UTC_RE.match(item[key]), (key, item[key])
        for key in ("docDate", "createDate", "lastModify", "deadline"):
            assert item[key] == "" or LOCAL_RE.match(item[key]), (key, item[key])
        assert item["status"] in {"received", "processing", "completed", "returned", "retrieved"}
        assert item["confirmed"] in {"Y", "N"}
        assert item["deleted"] in {"Y", "N"}
        assert len(item["steeringContent"]) <= 1023
        assert unicodedata.is_normalized("NFC", item["receiverAname"])


def test_doc_date_local_and_utc_agree(sim: Simulator, http: requests.Session) -> None:
    """docDate (local midnight) and docDateStr (UTC) name the same instant (UTC+7)."""
    for item in all_items(http, sim):
        utc = datetime.fromisoformat(item["docDateStr"])
        local = datetime.strptime(item["docDate"], "%b %d, %Y, %I:%M:%S %p")
        assert (utc + timedelta(hours=7)).replace(tzinfo=None) == local


# -- 5. one task ---------------------------------------------------------------------------


def test_view_returns_the_item(sim: Simulator, http: requests.Session) -> None:
    """GET /tasks/view.cpx?id= answers {"item": task}, the same record the search serves."""
    task_id = open_task_id(sim)
    response = http.get(sim.url("/tasks/view.cpx"), params={"id": task_id}, timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json() == {"item": sim.world.task(task_id)}


def test_view_hard_deleted_is_404(sim: Simulator, http: requests.Session) -> None:
    """A hard-deleted task answers 404 not_found (and leaves the search)."""
    task_id = open_task_id(sim)
    sim.hard_delete(task_id)
    response = http.get(sim.url("/tasks/view.cpx"), params={"id": task_id}, timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert task_id not in {item["id"] for item in all_items(http, sim, includeDeleted=True)}


def test_view_without_numeric_id_is_400(sim: Simulator, http: requests.Session) -> None:
    """A missing or non-numeric id answers 400."""
    response = http.get(sim.url("/tasks/view.cpx"), params={"id": "abc"}, timeout=TIMEOUT)
    assert response.status_code == 400


# -- 6. tracking status ----------------------------------------------------------------------


def test_tracking_write_changes_status_and_bumps_last_modify(
    sim: Simulator, http: requests.Session
) -> None:
    """A tracking write sets trackingStatus, bumps lastModifyStr to now, and shows in search."""
    task_id = open_task_id(sim)
    sim.advance(timedelta(hours=2))
    body = {
        "id": task_id,
        "trackingStatus": "DTH_QUA_HAN",
        "effectiveDeadline": "2022-03-04",
        "daysOverdue": 3,
        "note": "Quá hạn 3 ngày",
    }
    response = track(http, sim, body)
    assert response.status_code == 200
    stamp = response.json()["lastModifyStr"]
    assert response.json() == {"ok": True, "lastModifyStr": stamp}
    assert datetime.fromisoformat(stamp) == sim.now().replace(microsecond=0)
    changed = all_items(http, sim, modifiedFrom=stamp)
    assert [(i["id"], i["trackingStatus"]) for i in changed] == [(task_id, "DTH_QUA_HAN")]


def test_tracking_without_idempotency_key_is_400(sim: Simulator, http: requests.Session) -> None:
    """A write without Idempotency-Key answers 400 idempotency_key_required."""
    response = track(http, sim, {"id": open_task_id(sim), "trackingStatus": "DA_HUY"}, key=None)
    assert response.status_code == 400
    assert response.json()["error"] == "idempotency_key_required"


@pytest.mark.parametrize(
    ("length", "status"),
    [pytest.param(255, 200, id="255"), pytest.param(256, 400, id="256")],
)
def test_idempotency_key_at_most_255_characters(
    sim: Simulator, http: requests.Session, length: int, status: int
) -> None:
    """Keys of up to 255 characters are accepted; longer ones refused."""
    body = {"id": open_task_id(sim), "trackingStatus": "DA_HUY"}
    assert track(http, sim, body, key="k" * length).status_code == status


@pytest.mark.parametrize(
    "status",
    [
        pytest.param("QUA_HAN", id="alert-type"),
        pytest.param("", id="empty"),
        pytest.param(None, id="missing"),
        pytest.param("dth_qua_han", id="lower-case"),
    ],
)
def test_tracking_invalid_status_is_422(
    sim: Simulator, http: requests.Session, status: str | None
) -> None:
    """A trackingStatus outside the seven codes answers 422 invalid_status and changes nothing."""
    task_id = open_task_id(sim)
    before = sim.world.task(task_id)
    response = track(http, sim, {"id": task_id, "trackingStatus": status})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_status"
    assert sim.world.task(task_id) == before


@pytest.mark.parametrize(
    "status",
    [
        "HT_DUNG_HAN",
        "HT_QUA_HAN",
        "HT_KHONG_HAN",
        "DTH_TRONG_HAN",
        "DTH_QUA_HAN",
        "KHONG_THOI_HAN",
        "DA_HUY",
    ],
)
def test_tracking_accepts_the_seven_codes(
    sim: Simulator, http: requests.Session, status: str
) -> None:
    """Each of the seven status codes is accepted."""
    response = track(http, sim, {"id": open_task_id(sim), "trackingStatus": status}, key=status)
    assert response.status_code == 200


def test_tracking_unknown_task_is_404(sim: Simulator, http: requests.Session) -> None:
    """A write for a task that does not exist answers 404."""
    response = track(http, sim, {"id": 999_999_999, "trackingStatus": "DA_HUY"})
    assert response.status_code == 404


def test_tracking_replay_changes_nothing(sim: Simulator, http: requests.Session) -> None:
    """Same key and body replays the first response; the task is not changed again."""
    task_id = open_task_id(sim)
    first = track(http, sim, {"id": task_id, "trackingStatus": "HT_DUNG_HAN"}, key="same")
    sim.advance(timedelta(hours=3))
    replay = track(http, sim, {"trackingStatus": "HT_DUNG_HAN", "id": task_id}, key="same")
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert sim.world.task(task_id)["lastModifyStr"] == first.json()["lastModifyStr"]
    assert len(sim.tracking_writes) == 1


def test_tracking_key_reused_with_other_body_is_422(sim: Simulator, http: requests.Session) -> None:
    """Same key with a different body answers 422 idempotency_key_reused."""
    task_id = open_task_id(sim)
    track(http, sim, {"id": task_id, "trackingStatus": "HT_DUNG_HAN"}, key="same")
    response = track(http, sim, {"id": task_id, "trackingStatus": "HT_QUA_HAN"}, key="same")
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert sim.world.task(task_id)["trackingStatus"] == "HT_DUNG_HAN"


def test_idempotency_window_is_24_hours_of_simulated_time(
    sim: Simulator, http: requests.Session
) -> None:
    """After 24 simulated hours a key is forgotten: the same request is performed again."""
    task_id = open_task_id(sim)
    body = {"id": task_id, "trackingStatus": "DTH_TRONG_HAN"}
    first = track(http, sim, body, key="daily")
    sim.advance(timedelta(hours=23, minutes=59))
    assert track(http, sim, body, key="daily").json() == first.json()
    sim.advance(timedelta(minutes=2))
    later = track(http, sim, body, key="daily")
    assert later.status_code == 200
    assert later.json()["lastModifyStr"] > first.json()["lastModifyStr"]
    assert len(sim.tracking_writes) == 2


# -- 7. notifications ------------------------------------------------------------------------


def test_notification_created_201_then_replayed_200(sim: Simulator, http: requests.Session) -> None:
    """The first send answers 201 with an id TB-nnnnnn; a replay answers 200 with the same id."""
    body = a_notification(open_task_id(sim))
    first = notify(http, sim, body, key="qh-1")
    again = notify(http, sim, body, key="qh-1")
    assert first.status_code == 201
    assert re.fullmatch(r"TB-\d{6}", first.json()["id"])
    assert again.status_code == 200
    assert again.json() == first.json()
    assert len(sim.notifications) == 1
    assert sim.count_requests("/notifications/send.cpx") == 2


def test_notification_key_reused_is_422(sim: Simulator, http: requests.Session) -> None:
    """Same key with a different body answers 422 idempotency_key_reused; nothing is created."""
    task_id = open_task_id(sim)
    notify(http, sim, a_notification(task_id), key="qh-2")
    response = notify(http, sim, a_notification(task_id, level=2), key="qh-2")
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"
    assert len(sim.notifications) == 1


def test_notification_unknown_recipient_is_422(sim: Simulator, http: requests.Session) -> None:
    """A recipient that is not a unit code answers 422 unknown_recipient."""
    body = a_notification(open_task_id(sim), recipients=["STTTT", "SO_MA"])
    response = notify(http, sim, body)
    assert response.status_code == 422
    assert response.json()["error"] == "unknown_recipient"
    assert "SO_MA" in response.json()["message"]
    assert sim.notifications == []


@pytest.mark.parametrize(
    "kind",
    ["SAP_DEN_HAN", "QUA_HAN", "DON_DOC_KHONG_HAN", "THIEU_THOI_HAN", "DE_NGHI_XAC_NHAN"],
)
def test_notification_types_are_accepted(sim: Simulator, http: requests.Session, kind: str) -> None:
    """Each per-task notification type is accepted."""
    response = notify(http, sim, a_notification(open_task_id(sim), type=kind), key=kind)
    assert response.status_code == 201


def test_digest_notification_has_no_task(sim: Simulator, http: requests.Session) -> None:
    """TONG_HOP (digest) is sent without taskId."""
    body = a_notification(0, type="TONG_HOP", recipients=["TCT"])
    del body["taskId"]
    response = notify(http, sim, body)
    assert response.status_code == 201
    assert sim.notifications[0].task_id is None


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        pytest.param({"type": "NHAC_NHO"}, 422, "invalid_type", id="type"),
        pytest.param({"level": 3}, 422, "invalid_level", id="level"),
        pytest.param({"recipients": []}, 400, "bad_request", id="no-recipient"),
    ],
)
def test_notification_validation(
    sim: Simulator, http: requests.Session, change: dict[str, Any], status: int, code: str
) -> None:
    """Invalid type, level (0-2) or recipients are refused."""
    response = notify(http, sim, a_notification(open_task_id(sim), **change))
    assert response.status_code == status
    assert response.json()["error"] == code


def test_list_notifications_by_task(sim: Simulator, http: requests.Session) -> None:
    """GET /notifications/list.cpx?taskId= lists what the system holds for that task."""
    task_id = open_task_id(sim)
    created = notify(http, sim, a_notification(task_id), key="rec-1").json()["id"]
    notify(http, sim, a_notification(task_id + 1), key="rec-2")
    response = http.get(
        sim.url("/notifications/list.cpx"), params={"taskId": task_id}, timeout=TIMEOUT
    )
    items = response.json()["items"]
    assert [set(item) for item in items] == [
        {"id", "type", "taskId", "idempotencyKey", "createdDateStr"}
    ]
    assert items[0]["id"] == created
    assert items[0]["taskId"] == task_id
    assert items[0]["idempotencyKey"] == "rec-1"
    assert UTC_RE.match(items[0]["createdDateStr"])


# -- 8. units -----------------------------------------------------------------------------


def test_units_lists_kinds_and_offices(sim: Simulator, http: requests.Session) -> None:
    """GET /comm/units.cpx lists ~40 units of the four kinds; VPUBND and TCT are offices."""
    items = http.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT).json()["items"]
    assert 38 <= len(items) <= 45
    assert all(set(item) == {"commCode", "aname", "kind", "parentCode"} for item in items)
    kinds = {item["kind"] for item in items}
    assert kinds == {"department", "district", "central", "office"}
    by_code = {item["commCode"]: item for item in items}
    assert by_code["STTTT"]["aname"] == "Sở Thông tin và Truyền thông"
    assert by_code["VPUBND"]["kind"] == by_code["TCT"]["kind"] == "office"
    assert by_code["TPQN"]["kind"] == "district"
