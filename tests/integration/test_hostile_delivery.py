"""Delivery against a hostile loopback server (tests/support/hostile_server.py): replies cut
after the write was applied, then an operator's ``outbox retry --dead`` days later; 429 with
Retry-After on writes behind a proxy limit; oversized fields that must not travel on in an alert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.clock import SystemClock
from connector.ops.jobs import JobResult, run_job
from connector.ops.runs import RunOutcome
from connector.outbox.delivery import LONE_FAILURES_TO_STOP
from connector.settings import Settings
from tests.support import ROOT
from tests.support.factories import make_records, make_settings
from tests.support.harness import Deployment, ledger_rows
from tests.support.hostile_server import PASSWORD, USERNAME, HostileServer

pytestmark = pytest.mark.slow

TRACK = "/tasks/tracking.cpx"
SEND = "/notifications/send.cpx"
LIST = "/notifications/list.cpx"
VIEW = "/tasks/view.cpx"

# Records modified in 2022 with a deadline 30 days later: overdue on any later day, so each
# task calls for one tracking write and one overdue alert (to STTTT and VPUBND).
ALERTS = {"types": ["QUA_HAN"], "hold_on_non_working_days": False}


def _posts(server: HostileServer, endpoint: str) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path.endswith(endpoint))


def _gets(server: HostileServer, endpoint: str) -> int:
    return sum(1 for r in server.requests if r.method == "GET" and r.path.endswith(endpoint))


# -- a reply cut after the write was applied, retried by the operator two days later -------------


def _config(dep: Deployment, server: HostileServer) -> None:
    dep.config_path.write_text(
        "[source]\n"
        f'base_url = "{server.base_url}"\n'
        'auth = "session"\n'
        f'username = "{USERNAME}"\n'
        "read_timeout = 5\n"
        "[retry]\n"
        "max_attempts = 2\n"
        "initial_wait = 0.01\n"
        "max_wait = 0.05\n"
        "[ledger]\n"
        f'url = "{dep.ledger_url}"\n'
        "[push]\n"
        "max_attempts = 1\n"
        "rate_per_second = 50\n"
        # One delivery at a time: the cut replies and 429s below count one stream of requests.
        "concurrency = 1\n"
        # The source's idempotency window is over at once: as if the retry came days later.
        "idempotency_window_hours = 0\n"
        "[alerts]\n"
        'types = ["QUA_HAN"]\n'
        "hold_on_non_working_days = false\n",
        encoding="utf-8",
    )
    dep.config_path.chmod(0o600)


def _live_states(dep: Deployment) -> list[str]:
    """States of the outbox rows meant to be sent (older occasions are recorded as past)."""
    return sorted(
        r["state"] for r in ledger_rows(dep.ledger_path, "outbox") if r["state"] != "past"
    )


def test_cut_replies_then_retry_dead_days_later_sends_nothing_twice(tmp_path: Path) -> None:
    """Each write is applied but its reply cut: both rows die. The source then forgets the keys
    (two days later) and the operator runs ``outbox retry --dead``: the next push reconciles the
    alert from notifications/list.cpx and the tracking write from the task, and sends neither
    again (before: a second notification)."""
    with HostileServer(make_records(1)) as server:
        dep = Deployment(home=tmp_path, base_url=server.base_url, password=PASSWORD)
        dep.home.mkdir(parents=True, exist_ok=True)
        _config(dep, server)
        server.switches.cut_after_write = 4  # two attempts of each of the two writes
        first = dep.run("sync")
        second = dep.run("push")
        assert (first.returncode, second.returncode) == (1, 1), first.stderr[-2000:]
        assert _live_states(dep) == ["dead", "dead"]
        assert len(server.notifications()) == 1
        tracking_posts = _posts(server, TRACK)
        server.forget_idempotency_keys()
        retried = dep.run("outbox", "retry", "--dead")
        assert retried.returncode == 0, retried.stderr[-2000:]
        final = dep.run("push", "--format", "json")
        assert final.returncode == 0, final.stderr[-2000:]
        assert len(server.notifications()) == 1, "a second notification was created"
        assert _posts(server, TRACK) == tracking_posts, "the tracking status was written again"
        assert _gets(server, LIST) >= 1 and _gets(server, VIEW) >= 1
        counts = json.loads(final.stdout)["counts"]
        assert counts["reconciled"] == 2 and counts["dead"] == 0
        assert _live_states(dep) == ["sent", "sent"]


# -- 429 with Retry-After on writes, behind a proxy's limit -------------------------------------


def _run(settings: Settings, command: str) -> JobResult:
    return run_job(settings, command, clock=SystemClock())  # type: ignore[arg-type]


def test_429_with_retry_after_on_writes_does_not_cascade(tmp_path: Path) -> None:
    """Every 5th write gets 429 + Retry-After: 1 behind a proxy that refuses requests closer than
    50 ms: at 10/s each 429 costs one retry after the Retry-After, never a cascade of 429s, and
    no request, from any of the four senders, arrives before the Retry-After has passed (it holds
    the whole budget, not only the sender that got it). The retries reach the run summary."""
    with HostileServer(make_records(10)) as server:
        settings = make_settings(
            server,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            retry={"max_attempts": 4, "initial_wait": 0.05, "max_wait": 5, "total_budget": 60},
            push={"rate_per_second": 10, "concurrency": 4},
            alerts=ALERTS,
        )
        pulled = _run(settings, "pull")
        assert pulled.outcome is RunOutcome.SUCCESS
        server.switches.write_429_every = 5
        server.switches.retry_after = "1"
        server.switches.min_interval_s = 0.05
        pushed = _run(settings, "push")
        throttle = server.throttle
        assert pushed.push is not None and pushed.push.sent == pushed.push.due == 20
        assert throttle.early == 0, "a request arrived before its Retry-After had passed"
        # A stray 429 from scheduling jitter is tolerated; a cascade (one per write) is not.
        assert throttle.too_close <= 1, f"{throttle.too_close} requests came within 50 ms"
        assert throttle.limited - throttle.too_close >= 4  # the forced ones: every 5th write
        counts = pushed.counts()
        assert counts["push_retries"] == counts["rate_limited"] == throttle.limited
        assert pushed.outcome is RunOutcome.SUCCESS


def test_events_of_the_delivery_threads_carry_the_run_id(tmp_path: Path) -> None:
    """What the sending threads log (a 429's wait, a delivery) carries the run's run_id and
    command, like every other event of the run (they carried the process's id, no command)."""
    import structlog

    events: list[dict[str, Any]] = []

    def keep(_: Any, __: str, event_dict: Any) -> Any:
        events.append(dict(event_dict))
        raise structlog.DropEvent

    with HostileServer(make_records(6)) as server:
        settings = make_settings(
            server,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            retry={"max_attempts": 4, "initial_wait": 0.05, "max_wait": 5, "total_budget": 60},
            push={"rate_per_second": 50, "concurrency": 2},
            alerts=ALERTS,
        )
        assert _run(settings, "pull").outcome is RunOutcome.SUCCESS
        server.switches.write_429_every = 3
        saved = structlog.get_config()
        structlog.configure(processors=[structlog.contextvars.merge_contextvars, keep])
        try:
            pushed = _run(settings, "push")
        finally:
            structlog.configure(**saved)
    assert pushed.push is not None and pushed.push.sent == pushed.push.due == 12
    waits = [e for e in events if e["event"] == "source_retry_wait"]
    assert waits, "no 429 was waited for"
    run_id = next(e["run_id"] for e in events if e["event"] == "run_started")
    assert all((e.get("run_id"), e.get("command")) == (run_id, "push") for e in waits)


def _pulled_with_one_sender(server: HostileServer, tmp_path: Path) -> Settings:
    """Settings of one sender at 50/s, after a pull of the server's records (20 rows due)."""
    settings = make_settings(
        server,
        f"sqlite:///{tmp_path / 'ledger.db'}",
        push={"rate_per_second": 50, "concurrency": 1},
        alerts=ALERTS,
    )
    assert _run(settings, "pull").outcome is RunOutcome.SUCCESS
    return settings


def test_one_500_to_a_write_fails_that_row_alone(tmp_path: Path) -> None:
    """An application 500 to one write (not a proxy's 502-504: the client does not retry it)
    fails that row alone, to be retried on a later run; the run goes on with the other rows
    (it stops delivering only when the source stays in trouble past retry.*)."""
    with HostileServer(make_records(10)) as server:
        settings = _pulled_with_one_sender(server, tmp_path)
        server.switches.fail_next_writes = 1
        pushed = _run(settings, "push")
        push = pushed.push
        assert push is not None and push.due == 20
        assert (push.failed, push.sent, push.undelivered) == (1, 19, 0)
        assert push.stopped == ""
        assert _posts(server, SEND) + _posts(server, TRACK) == 20


def test_an_application_failing_every_write_stops_the_run_after_a_few(tmp_path: Path) -> None:
    """When every write is answered 500 (the application is broken, not one row), the run
    stops after LONE_FAILURES_TO_STOP rows with no delivery between them instead of sending it
    every due row; the rest wait in the outbox for the next run."""
    with HostileServer(make_records(10)) as server:
        settings = _pulled_with_one_sender(server, tmp_path)
        server.switches.fail_next_writes = 1_000
        pushed = _run(settings, "push")
        push = pushed.push
        assert push is not None and push.due == 20
        assert (push.failed, push.sent) == (LONE_FAILURES_TO_STOP, 0)
        assert push.undelivered == 20  # every due row waits in the outbox, the failed ones too
        assert push.stopped == "source_trouble"
        assert f"{LONE_FAILURES_TO_STOP} deliveries in a row failed" in push.stop_error
        assert pushed.outcome is RunOutcome.PROBLEMS
        assert _posts(server, SEND) + _posts(server, TRACK) == LONE_FAILURES_TO_STOP


# -- oversized fields never travel on in an alert -----------------------------------------------


def test_oversized_fields_reach_the_source_bounded_in_alerts(tmp_path: Path) -> None:
    """Subjects and steering contents of 3,000 characters (accepted by a mapping without the
    contract's 1,023-character cap): the alerts sent carry a title of at most 250 and a content of
    at most 4,000 characters."""
    mapping = tmp_path / "uncapped.toml"
    stock = (ROOT / "mappings" / "idesk.toml").read_text("utf-8")
    assert "options = { max_chars = 1023 }\n" in stock
    mapping.write_text(stock.replace("options = { max_chars = 1023 }\n", ""), encoding="utf-8")
    with HostileServer(make_records(3)) as server:
        server.switches.oversized_field_chars = 3000
        settings = make_settings(
            server,
            f"sqlite:///{tmp_path / 'ledger.db'}",
            source={"mapping": str(mapping)},
            push={"rate_per_second": 50},
            alerts=ALERTS,
        )
        result = _run(settings, "sync")
        assert result.push is not None and result.push.alerts_sent == 3
        sent = [r.json for r in server.requests if r.path.endswith(SEND)]
        assert len(sent) == 3
        for body in sent:
            assert len(body["title"]) <= 250 and len(body["content"]) <= 4000
            assert "…" in body["content"]


def test_budget_spent_on_429s_exits_1_with_a_clear_line(tmp_path: Path) -> None:
    """Every write answered 429 until the retry budget is spent: exit 1 (not 0), a line saying
    how many deliveries were left and why, and the run recorded as problems with its retries."""
    with HostileServer(make_records(3)) as server:
        dep = Deployment(home=tmp_path, base_url=server.base_url, password=PASSWORD)
        dep.home.mkdir(parents=True, exist_ok=True)
        _config(dep, server)
        text = dep.config_path.read_text(encoding="utf-8")
        text = text.replace("max_attempts = 2\n", "max_attempts = 50\ntotal_budget = 0.3\n", 1)
        dep.config_path.write_text(text.replace("max_attempts = 1\n", "max_attempts = 5\n"))
        server.switches.write_429_every = 1
        run = dep.run("sync")
        assert run.returncode == 1, run.stderr[-2000:]
        assert "problem: 6 delivery(ies) left in the outbox for the next run" in run.stderr
        assert "retry budget (retry.total_budget = 0.3 s) is used up" in run.stderr
        [row] = ledger_rows(dep.ledger_path, "sync_run")
        counts = json.loads(row["counts_json"])
        assert row["outcome"] == "problems"
        assert counts["undelivered"] == 6 and counts["push_retries"] > 0
        assert counts["rate_limited"] == counts["push_retries"] + 1
        listed = dep.run("runs", "list", "--format", "json")
        [shown] = json.loads(listed.stdout)["runs"]
        assert shown["counts"]["push_retries"] == counts["push_retries"]
