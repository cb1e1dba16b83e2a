"""Delivery pace: every request to the source counts against ``push.rate_per_second`` (logins,
retries and reconciling reads included), a ``Retry-After`` holds the whole pace back, the
delivery client's retries reach the run summary, and rows left undelivered make the run end
with problems (exit 1) instead of ``success``."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from pydantic import SecretStr
from responses import matchers

from connector.clock import FixedClock
from connector.ledger.db import open_ledger
from connector.mapping.spec import load_mapping
from connector.ops.jobs import JobResult, run_job
from connector.ops.runs import RunOutcome, list_runs
from connector.outbox.delivery import deliver_pending
from connector.settings import (
    RetrySettings,
    Settings,
    SourceSettings,
)
from connector.source.client import SourceClient
from connector.source.pull import default_client
from connector.source.transport import TokenBucket, pace_for
from simulator import Faults, Simulator, SimulatorConfig
from simulator.faults import RateLimiter
from tests.support.factories import make_settings
from tests.support.timing import FakeTime

BASE = "http://127.0.0.1:9/ubnd/smartcloud"
SPEC = load_mapping("idesk")
SEND = "/notifications/send.cpx"
TRACK = "/tasks/tracking.cpx"


# -- the pace of one client, on fake time ----------------------------------------------------------


def _paced_client(t: FakeTime, rate: float) -> SourceClient:
    source = SourceSettings(base_url=BASE, auth="session", password=SecretStr("pw"))
    retry = RetrySettings(max_attempts=4, initial_wait=0.01, max_wait=30, total_budget=100)
    client = SourceClient(source, retry, SPEC, sleep=t.sleep)
    client.pace(TokenBucket(rate, monotonic=t.monotonic, sleep=t.sleep))
    return client


@responses.activate(registry=responses.registries.OrderedRegistry)
def test_every_request_keeps_the_pace_and_retry_after_holds_it() -> None:
    """Login, writes and the retry after a 429 all keep 1/rate apart; nothing before Retry-After."""
    t = FakeTime()
    stamps: list[tuple[str, float]] = []

    def answer(name: str, status: int, body: dict[str, Any], **headers: str) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            stamps.append((name, t.now))
            return status, {"Content-Type": "application/json", **headers}, json.dumps(body)

        return callback

    responses.add_callback(
        responses.POST, BASE + "/auth/login.cpx", callback=answer("login", 200, {"ok": True})
    )
    responses.add_callback(
        responses.POST,
        BASE + TRACK,
        callback=answer("write1", 429, {"error": "rate_limited"}, **{"Retry-After": "3"}),
    )
    responses.add_callback(
        responses.POST, BASE + TRACK, callback=answer("write1-retry", 200, {"ok": True})
    )
    for n in (2, 3):
        responses.add_callback(
            responses.POST,
            BASE + TRACK,
            callback=answer(f"write{n}", 200, {"ok": True}),
            match=[matchers.header_matcher({"Idempotency-Key": f"k{n}"})],
        )
    client = _paced_client(t, rate=4)
    for n in (1, 2, 3):
        client.post_tracking({"id": n, "trackingStatus": "DTH_QUA_HAN"}, f"k{n}")
    names = [name for name, _ in stamps]
    assert names == ["login", "write1", "write1-retry", "write2", "write3"]
    times = dict(stamps)
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(stamps)]
    assert all(gap >= 0.25 - 1e-9 for gap in gaps), gaps
    assert times["write1-retry"] >= times["write1"] + 3 - 1e-9
    assert times["write2"] >= times["write1-retry"] + 0.25 - 1e-9
    assert client.stats.rate_limited == 1 and client.stats.retries == 1


def test_hold_keeps_every_acquisition_back() -> None:
    """TokenBucket.hold: the next acquisition waits for the hold, later ones for the rate."""
    t = FakeTime()
    bucket = TokenBucket(10, monotonic=t.monotonic, sleep=t.sleep)
    bucket.acquire()
    bucket.hold(2.0)
    bucket.hold(0.5)  # a shorter hold does not shorten the longer one
    bucket.acquire()
    assert t.now == pytest.approx(2.0)
    bucket.acquire()
    assert t.now == pytest.approx(2.1)
    assert bucket.holds == 1 and bucket.acquired == 3


# -- against the simulator's rate limit ------------------------------------------------------------


PACED_RETRY = {"max_attempts": 4, "initial_wait": 0.05, "max_wait": 5, "total_budget": 60}


def _job(sim: Simulator, settings: Settings, command: str) -> JobResult:
    return run_job(settings, command, clock=FixedClock(sim.now()))  # type: ignore[arg-type]


@pytest.mark.slow
def test_push_under_the_sources_rate_limit_does_not_cascade(tmp_path: Path) -> None:
    """Against a 20/s limit, delivering at 10/s draws (almost) no 429 and sends everything.

    Before: once one write got 429, its retry and the next write went out back to back, so
    nearly every following write got 429 too.
    """
    config = SimulatorConfig(tasks=40, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            auth="token",
            retry=PACED_RETRY,
            push={"rate_per_second": 10},
        )
        pulled = _job(sim, settings, "pull")
        assert pulled.pull is not None and pulled.pull.planned >= 40
        sim.set_faults(Faults(rate_limit=20))
        pushed = _job(sim, settings, "push")
        writes = sum(sim.count_requests(e, status=s) for e in (SEND, TRACK) for s in (200, 201))
        limited = sum(sim.count_requests(e, fault="rate_limit") for e in (SEND, TRACK))
        assert pushed.push is not None
        assert pushed.push.due >= 40 and pushed.push.sent == pushed.push.due
        assert writes == pushed.push.sent
        # A stray 429 from scheduling jitter is tolerated; a cascade (one per write) is not.
        assert limited <= 2, f"{limited} writes got 429 for {writes} writes"
        assert pushed.outcome is RunOutcome.SUCCESS


@pytest.mark.slow
def test_push_at_the_contracts_limit_draws_no_429_on_one_clock(tmp_path: Path) -> None:
    """300 deliveries paced for the contract's 20/s, against a 20/s limiter stricter than the
    contract's one-second window (a token bucket of one) on the same fake clock as the
    connector's pace: all sent, the login and every write within the one budget, not one 429
    (at exactly 20/s, 0.05 s apart, clock rounding alone would refuse about a quarter of them)."""
    config = SimulatorConfig(tasks=320, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            auth="session",
            retry=PACED_RETRY,
            push={"rate_per_second": 20, "concurrency": 1},
        )
        pulled = _job(sim, settings, "pull")
        assert pulled.pull is not None and pulled.pull.planned >= 300, pulled.pull.planned
        t = FakeTime()
        sim.set_faults(Faults(rate_limit=20))
        sim.core.limiter = RateLimiter(20, 1.0, monotonic=t.monotonic)
        bucket = TokenBucket(pace_for(20), monotonic=t.monotonic, sleep=t.sleep)
        spec = load_mapping(settings.source.mapping)
        with (
            open_ledger(settings.ledger.url) as ledger,
            default_client(settings, spec, t.sleep) as client,
        ):
            result = deliver_pending(
                ledger, client, settings, "run", FixedClock(sim.now()), bucket=bucket, limit=300
            )
        assert result.due == result.sent == 300
        assert client.stats.rate_limited == 0 and client.stats.relogins == 0
        assert bucket.acquired == 301  # the login, then one request per delivery


class _CountingBucket(TokenBucket):
    """A pace that counts the requests the transport reports as gone."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.reported = 0

    def sent(self) -> None:
        self.reported += 1
        super().sent()


def test_every_request_reports_when_it_actually_went(tmp_path: Path) -> None:
    """Over real HTTP, each request of a delivery (the login and every write) tells the pace
    once it is written to the socket (`TokenBucket.sent`), so the next one keeps its distance
    from when it went."""
    config = SimulatorConfig(tasks=8, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim, f"sqlite:///{tmp_path / 'ledger.db'}", auth="session", push={"concurrency": 2}
        )
        pulled = _job(sim, settings, "pull")
        assert pulled.pull is not None and pulled.pull.planned >= 5
        bucket = _CountingBucket(1000)
        spec = load_mapping(settings.source.mapping)
        with (
            open_ledger(settings.ledger.url) as ledger,
            default_client(settings, spec, time.sleep) as client,
        ):
            result = deliver_pending(
                ledger, client, settings, "run", FixedClock(sim.now()), bucket=bucket, limit=5
            )
    assert result.sent == 5
    assert bucket.acquired == client.stats.requests == 6  # the login, then the writes
    assert bucket.reported == bucket.acquired


def test_a_sync_run_paces_pull_and_push_from_one_budget(tmp_path: Path) -> None:
    """`sync`: the pull's client and the delivery's client share one budget (one schedule, one
    Retry-After hold), at push.rate_per_second once delivering."""
    clients: list[SourceClient] = []

    def recorded(settings: Settings, spec: Any, sleep: Any) -> SourceClient:
        client = default_client(settings, spec, sleep)
        clients.append(client)
        return client

    config = SimulatorConfig(tasks=5, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            auth="token",
            sync={"rate_per_second": 200},
            push={"rate_per_second": 100},
        )
        result = run_job(settings, "sync", clock=FixedClock(sim.now()), client_factory=recorded)
    assert result.push is not None and result.push.sent > 0
    assert len(clients) == 2
    pull_pace, push_pace = (client._pacer for client in clients)
    assert pull_pace is push_pace and push_pace is not None
    assert push_pace.rate == pytest.approx(pace_for(100))
    assert push_pace.acquired == sum(client.stats.requests for client in clients)


@pytest.mark.slow
def test_rows_left_undelivered_end_the_run_with_problems(tmp_path: Path) -> None:
    """The source keeps answering 429 past the retry budget: outcome problems, exit 1, counted."""
    config = SimulatorConfig(tasks=6, seed=5, faults=Faults.none(), frozen_clock=True)
    with Simulator(config) as sim:
        settings = make_settings(
            sim,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            auth="token",
            retry={"max_attempts": 50, "initial_wait": 0.01, "max_wait": 0.05, "total_budget": 0.3},
            push={"rate_per_second": 50},
        )
        pulled = _job(sim, settings, "pull")
        assert pulled.pull is not None and pulled.pull.planned >= 6
        sim.set_faults(Faults(rate_limit=0.001))  # every request after the first: 429
        started = time.monotonic()
        pushed = _job(sim, settings, "push")
        assert time.monotonic() - started < 60
        assert pushed.push is not None
        assert pushed.push.stopped == "source_trouble"
        assert pushed.push.undelivered >= 6
        assert pushed.outcome is RunOutcome.PROBLEMS and pushed.exit_code == 1
        counts = pushed.counts()
        assert counts["push_retries"] > 0 and counts["rate_limited"] > 0
        assert counts["undelivered"] == pushed.push.undelivered
        with open_ledger(settings.ledger.url) as ledger:
            [run] = [r for r in list_runs(ledger) if r.run_id == pushed.run_id]
        assert run.outcome == "problems"
        assert run.counts["undelivered"] == pushed.push.undelivered
        assert run.counts["push_retries"] == counts["push_retries"]
