"""The simulator's faults: parsing, rate limit, proxy errors, slowness, drops, expiry, mutation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
import requests

import simulator.api
from connector.errors import ConfigError
from simulator import Faults, Simulator, SimulatorConfig, parse_faults
from simulator.faults import FaultDice, RateLimiter, WindowLimiter, limiter_for
from simulator.timefmt import utc_str

TIMEOUT = 10


def start(faults: Faults, **overrides: Any) -> Simulator:
    settings: dict[str, Any] = {"tasks": 60, "seed": 3, "faults": faults, "frozen_clock": True}
    settings.update(overrides)
    return Simulator(SimulatorConfig(**settings)).start()


@pytest.fixture
def client() -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


def bearer(sim: Simulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {sim.credentials.token}"}


def units(sim: Simulator, client: requests.Session) -> requests.Response:
    return client.get(sim.url("/comm/units.cpx"), headers=bearer(sim), timeout=TIMEOUT)


def login(sim: Simulator, client: requests.Session) -> requests.Response:
    """The session login of the demo account (the cookie stays in `client`)."""
    return client.post(
        sim.url("/auth/login.cpx"),
        data={"username": "demo", "password": "demo-password"},
        timeout=TIMEOUT,
    )


# -- parsing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param("", Faults(), id="empty-is-default"),
        pytest.param("none", Faults(rate_limit=0), id="none"),
        pytest.param(
            "rate_limit=20,http5xx=0.05,slow=0.02:2.0,drop=0.02,expire=0.05,"
            "expire_style=html,mutate=0.1",
            Faults(
                rate_limit=20,
                http5xx=0.05,
                slow=0.02,
                slow_seconds=2.0,
                drop=0.02,
                expire=0.05,
                expire_style="html",
                mutate=0.1,
            ),
            id="brief-example",
        ),
        pytest.param("slow=0.5", Faults(slow=0.5, slow_seconds=2.0), id="slow-default-delay"),
        pytest.param("rate_limit=off", Faults(rate_limit=0), id="rate-limit-off"),
        pytest.param(
            " retry_after=date , seed=9 ", Faults(retry_after="date", seed=9), id="spaces"
        ),
        pytest.param("rate_limit=20,rate_burst=20", Faults(rate_burst=20), id="burst"),
    ],
)
def test_parse_faults(spec: str, expected: Faults) -> None:
    """The CLI form parses into the Faults it names."""
    assert parse_faults(spec) == expected


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        pytest.param("http5xx=2", "http5xx=2", id="probability-above-1"),
        pytest.param("drop", "drop", id="no-value"),
        pytest.param("explode=0.1", "explode", id="unknown-name"),
        pytest.param("slow=0.1:x", "slow=0.1:x", id="bad-delay"),
        pytest.param("expire_style=xml", "expire_style=xml", id="bad-style"),
        pytest.param("rate_limit=-1", "rate_limit=-1", id="negative-rate"),
        pytest.param("rate_burst=0.5", "rate_burst=0.5", id="burst-below-1"),
        pytest.param("drop=0.1,drop=0.2", "drop=0.2", id="duplicate"),
    ],
)
def test_parse_faults_names_the_bad_item(spec: str, named: str) -> None:
    """A bad item raises ConfigError whose message names it."""
    with pytest.raises(ConfigError) as caught:
        parse_faults(spec)
    assert named in str(caught.value)


def test_parse_faults_reports_every_problem_together() -> None:
    """All bad items are listed in one error."""
    with pytest.raises(ConfigError) as caught:
        parse_faults("http5xx=7,bogus=1,drop=0.1")
    assert len(caught.value.problems) == 2


def test_faults_spec_round_trips() -> None:
    """to_spec() gives a text that parses back to equal faults."""
    faults = Faults(
        rate_limit=5,
        rate_burst=3,
        retry_after="seconds",
        http5xx=0.1,
        slow=0.2,
        slow_seconds=0.5,
        drop=0.01,
        expire=0.3,
        expire_style="html",
        mutate=0.4,
        seed=11,
    )
    assert parse_faults(faults.to_spec()) == faults


def test_faults_are_validated_on_construction() -> None:
    """Faults(...) with impossible values raises ConfigError listing each."""
    with pytest.raises(ConfigError) as caught:
        Faults(drop=1.5, rate_limit=-2)
    assert {p.where for p in caught.value.problems} == {"faults.drop", "faults.rate_limit"}


def test_fault_dice_are_deterministic() -> None:
    """The same seed draws the same fault sequence."""
    a, b = FaultDice(5), FaultDice(5)
    assert [a.roll(0.5) for _ in range(50)] == [b.roll(0.5) for _ in range(50)]


# -- rate limit ----------------------------------------------------------------------------------


def test_rate_limiter_token_bucket() -> None:
    """A bucket of R allows R requests at once, then one per 1/R seconds, per client."""
    now = [100.0]
    limiter = RateLimiter(4, burst=4, monotonic=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(4)] == [0.0] * 4
    assert limiter.acquire("a") == pytest.approx(0.25)
    assert limiter.acquire("b") == 0.0
    now[0] += 0.25
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0


def test_the_contracts_limit_is_a_one_second_window() -> None:
    """By default (the contract: 20 requests per second) a client may send 20 requests in any
    one second, however close together, and the 21st within that second gets 429 with the wait
    until the first leaves the window; refused requests do not count."""
    now = [100.0]
    limiter = limiter_for(Faults(), monotonic=lambda: now[0])
    assert isinstance(limiter, WindowLimiter)
    assert [limiter.acquire("a") for _ in range(10)] == [0.0] * 10
    now[0] = 100.5
    assert [limiter.acquire("a") for _ in range(10)] == [0.0] * 10
    now[0] = 100.75
    assert limiter.acquire("a") == pytest.approx(0.25)
    assert limiter.acquire("b") == 0.0
    now[0] = 101.0
    assert [limiter.acquire("a") for _ in range(10)] == [0.0] * 10  # the first ten left
    assert limiter.acquire("a") == pytest.approx(0.5)


def test_the_window_is_not_stricter_than_the_contract() -> None:
    """16 requests per second sent as pairs 1 ms apart, 8 pairs a second, never make more than
    16 in any one second: the window refuses none, where a token bucket of one (stricter than
    the contract) refuses the second of every pair."""
    now = [0.0]
    window = WindowLimiter(16, monotonic=lambda: now[0])
    bucket = RateLimiter(16, 1.0, monotonic=lambda: now[0])
    refused_window = refused_bucket = 0
    for i in range(160):
        now[0] = (i // 2) * 0.125 + (i % 2) * 2**-10  # exact on the clock
        refused_window += window.acquire("a") > 0
        refused_bucket += bucket.acquire("a") > 0
    assert refused_window == 0
    assert refused_bucket == 80


def test_a_rate_below_one_allows_one_request_per_interval() -> None:
    """rate_limit=0.5: one request in any 2 s."""
    now = [0.0]
    limiter = WindowLimiter(0.5, monotonic=lambda: now[0])
    assert limiter.acquire("a") == 0.0
    now[0] = 1.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] = 2.0
    assert limiter.acquire("a") == 0.0


def test_rate_burst_chooses_the_token_bucket() -> None:
    """rate_burst=B (a stricter shape than the contract's) makes the limiter a token bucket."""
    assert isinstance(limiter_for(Faults(rate_burst=1)), RateLimiter)
    assert parse_faults("rate_limit=20,rate_burst=1").rate_burst == 1
    assert Faults().to_spec() == "rate_limit=20"


def test_rate_limit_answers_429_with_both_retry_after_forms(client: requests.Session) -> None:
    """Above the rate: 429 with Retry-After, alternating seconds and HTTP-date forms."""
    sim = start(Faults(rate_limit=2))
    try:
        responses = [units(sim, client) for _ in range(8)]
    finally:
        sim.stop()
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) >= 4
    assert limited[0].json()["error"] == "rate_limited"
    forms = [r.headers["Retry-After"] for r in limited]
    assert forms[0].isdigit() and int(forms[0]) >= 1
    retry_at = parsedate_to_datetime(forms[1])
    assert retry_at > parsedate_to_datetime(limited[1].headers["Date"])
    assert sim.count_requests(fault="rate_limit") == len(limited)


@pytest.mark.parametrize(
    ("style", "is_date"),
    [pytest.param("seconds", False, id="seconds"), pytest.param("date", True, id="date")],
)
def test_retry_after_form_is_configurable(
    client: requests.Session, style: str, is_date: bool
) -> None:
    """retry_after=seconds|date fixes the Retry-After form."""
    sim = start(Faults(rate_limit=1, retry_after=style))  # type: ignore[arg-type]
    try:
        limited = [r for r in (units(sim, client) for _ in range(5)) if r.status_code == 429]
    finally:
        sim.stop()
    assert len(limited) >= 2
    assert all(r.headers["Retry-After"].isdigit() != is_date for r in limited)


def test_rate_limit_is_per_client(client: requests.Session) -> None:
    """The bucket is keyed by identity: a throttled token does not block another client."""
    sim = start(Faults(rate_limit=1))
    try:
        units(sim, client)
        assert units(sim, client).status_code == 429
        assert login(sim, client).status_code == 200
    finally:
        sim.stop()


@pytest.mark.parametrize(
    ("burst", "passed"),
    [pytest.param(1, 1, id="no-burst"), pytest.param(5, 5, id="burst-5")],
)
def test_rate_burst_is_how_many_may_come_at_once(
    client: requests.Session, burst: int, passed: int
) -> None:
    """With rate_burst=B, B back-to-back requests pass and the next ones get 429."""
    sim = start(Faults(rate_limit=0.5, rate_burst=burst))
    try:
        statuses = [units(sim, client).status_code for _ in range(burst + 3)]
    finally:
        sim.stop()
    assert statuses == [200] * passed + [429] * (burst + 3 - passed)


def test_rate_limit_is_on_by_default_at_20() -> None:
    """Default faults: a 20 req/s rate limit and nothing else."""
    assert Faults() == parse_faults("rate_limit=20")
    assert SimulatorConfig().faults.rate_limit == 20


# -- proxy errors, slowness, drops ---------------------------------------------------------------


def test_proxy_errors_are_html_5xx(client: requests.Session) -> None:
    """http5xx answers 502/503/504 with an HTML body; some 503s carry Retry-After."""
    sim = start(Faults(rate_limit=0, http5xx=1.0, seed=1))
    try:
        responses = [units(sim, client) for _ in range(30)]
    finally:
        sim.stop()
    assert {r.status_code for r in responses} == {502, 503, 504}
    assert all(r.headers["Content-Type"].startswith("text/html") for r in responses)
    assert all("<html>" in r.text and str(r.status_code) in r.text for r in responses)
    assert any("Retry-After" in r.headers for r in responses if r.status_code == 503)
    assert all("Retry-After" not in r.headers for r in responses if r.status_code != 503)


def test_faults_repeat_for_the_same_seed(client: requests.Session) -> None:
    """Two simulators with the same fault seed fail the same requests of a sequential client."""
    runs = []
    for _ in range(2):
        sim = start(Faults(rate_limit=0, http5xx=0.4, seed=21))
        try:
            runs.append([units(sim, client).status_code for _ in range(20)])
        finally:
            sim.stop()
    assert runs[0] == runs[1]
    assert 200 in runs[0] and set(runs[0]) - {200}


def test_slow_responses_are_delayed(client: requests.Session) -> None:
    """slow=P:S delays responses by S seconds."""
    sim = start(Faults(rate_limit=0, slow=1.0, slow_seconds=0.3))
    try:
        began = time.monotonic()
        response = units(sim, client)
        elapsed = time.monotonic() - began
    finally:
        sim.stop()
    assert response.status_code == 200
    assert elapsed >= 0.3
    assert sim.requests[-1].faults == ("slow",)


def test_dropped_connection_raises_in_the_client(client: requests.Session) -> None:
    """drop sends the full Content-Length, half the body, and closes: the client sees an error."""
    sim = start(Faults(rate_limit=0, drop=1.0))
    try:
        with pytest.raises(requests.exceptions.RequestException):
            units(sim, client)
    finally:
        sim.stop()
    assert sim.count_requests("/comm/units.cpx", fault="drop") == 1


def test_dropped_write_still_took_effect(client: requests.Session) -> None:
    """A write whose response is cut was applied: the client must reconcile, not assume."""
    sim = start(Faults(rate_limit=0, drop=1.0))
    task_id = next(iter(sim.world.tasks))
    body = {
        "type": "QUA_HAN",
        "taskId": task_id,
        "recipients": ["VPUBND"],
        "level": 1,
        "title": "Quá hạn",
        "content": "...",
    }
    try:
        with pytest.raises(requests.exceptions.RequestException):
            client.post(
                sim.url("/notifications/send.cpx"),
                json=body,
                headers={**bearer(sim), "Idempotency-Key": "x"},
                timeout=TIMEOUT,
            )
        sim.set_faults(Faults.none())
        listed = client.get(
            sim.url("/notifications/list.cpx"),
            params={"taskId": task_id},
            headers=bearer(sim),
            timeout=TIMEOUT,
        ).json()
    finally:
        sim.stop()
    assert [item["idempotencyKey"] for item in listed["items"]] == ["x"]


# -- session expiry ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "status", "content_type"),
    [
        pytest.param("json", 401, "application/json", id="json"),
        pytest.param("html", 200, "text/html", id="html"),
    ],
)
def test_forced_session_expiry(
    client: requests.Session,
    style: str,
    status: int,
    content_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """expire forces a live session to expire, answered as 401 JSON or the HTML login page; a
    session in its first moments (FRESH_SESSION_SECONDS, shortened here) is never forced."""
    monkeypatch.setattr(simulator.api, "FRESH_SESSION_SECONDS", 0.3)
    sim = start(Faults(rate_limit=0, expire=1.0, expire_style=style))  # type: ignore[arg-type]
    try:
        assert login(sim, client).status_code == 200
        fresh = [client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT) for _ in range(3)]
        time.sleep(0.35)
        response = client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
        token = units(sim, client)
    finally:
        sim.stop()
    assert [r.status_code for r in fresh] == [200] * 3
    assert all(r.headers["Content-Type"].startswith("application/json") for r in fresh)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    assert token.status_code == 200  # tokens do not expire
    assert sim.count_requests(fault="expire") == 1


def test_a_session_first_used_after_its_fresh_moments_serves_that_request(
    client: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session whose first request comes after FRESH_SESSION_SECONDS (the client's request
    waited for its turn) serves it; only a later one may be forced to expire. (It was forced on
    that first request, and a client took it for its login not holding.)"""
    monkeypatch.setattr(simulator.api, "FRESH_SESSION_SECONDS", 0.1)
    sim = start(Faults(rate_limit=0, expire=1.0))
    try:
        assert login(sim, client).status_code == 200
        time.sleep(0.15)
        first = client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
        second = client.get(sim.url("/comm/units.cpx"), timeout=TIMEOUT)
    finally:
        sim.stop()
    assert (first.status_code, second.status_code) == (200, 401)
    assert sim.count_requests(fault="expire") == 1


# -- records modified while paging ---------------------------------------------------------------


def test_mutation_while_paging_shifts_offsets(client: requests.Session) -> None:
    """mutate bumps returned and unreturned tasks during a later page: naive paging misses some."""
    sim = start(Faults(rate_limit=0, mutate=1.0, seed=4))
    try:
        sim.advance(timedelta(hours=1))
        expected = {r["id"] for r in sim.world.served()}
        seen: list[int] = []
        offset, total = 0, 1
        while offset < total:
            data = client.post(
                sim.url("/tasks/search.cpx"),
                headers=bearer(sim),
                json={"start": offset, "limit": 10},
                timeout=TIMEOUT,
            ).json()
            seen += [item["id"] for item in data["items"]]
            total = data["total"]
            offset += 10
        now = utc_str(sim.now())
        bumped = [r["id"] for r in sim.world.served() if r["lastModifyStr"] == now]
    finally:
        sim.stop()
    assert total == len(expected)  # modifications move tasks, they do not add or remove any
    assert expected - set(seen)  # some tasks were skipped by the shifting offsets
    assert len(bumped) >= 2
    assert sim.count_requests(fault="mutate") == sim.count_requests("/tasks/search.cpx") - 1


# -- recording -----------------------------------------------------------------------------------


def test_every_request_is_recorded(client: requests.Session) -> None:
    """Requests are recorded with method, endpoint, query, headers, body and status."""
    sim = start(Faults.none())
    try:
        client.get(
            sim.url("/tasks/view.cpx"), params={"id": "1"}, headers=bearer(sim), timeout=TIMEOUT
        )
        client.post(
            sim.url("/tasks/search.cpx"), json={"limit": 2}, headers=bearer(sim), timeout=TIMEOUT
        )
        client.get(sim.admin_url + "/state", timeout=TIMEOUT)  # admin calls are not recorded
    finally:
        sim.stop()
    view, search = sim.requests
    assert (view.method, view.endpoint, view.query, view.status) == (
        "GET",
        "/tasks/view.cpx",
        {"id": ["1"]},
        404,
    )
    assert view.header("authorization") == f"Bearer {sim.credentials.token}"
    assert search.json() == {"limit": 2}
    assert search.at == sim.now()
    assert sim.request_log.count(method="POST") == 1
