"""The e-mail and webhook channels (connector.outbox.routing, .channels) through `run_job`,
against a real SMTP server (aiosmtpd, STARTTLS/TLS) and a loopback webhook receiver, on SQLite
and PostgreSQL: each alert reaches each of its units once, across runs and faults.

The alerts are seeded as the planner records them (``alert`` rows with their stored bodies); the
runs are ``push`` runs at a fixed working-day clock, as cron's ``sync`` would deliver them.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from connector.clock import FixedClock
from connector.ledger.db import open_ledger
from connector.ledger.outbox import PlannedRow, add_row, list_entries
from connector.ledger.tables import QuarantineRow
from connector.ledger.units import upsert_units
from connector.models import Unit, UnitKind
from connector.ops.jobs import JobResult, run_job
from connector.outbox.actions import retry_dead
from connector.outbox.keys import dump_payload
from connector.outbox.states import OutboxKind, OutboxState
from connector.settings import Settings
from tests.support.mail import SmtpServer, distinct
from tests.support.webhook_receiver import WebhookReceiver

NOW = datetime(2022, 3, 22, 2, 0, tzinfo=UTC)
"""Tuesday 22 March 2022, 09:00 in Vietnam: a working day."""

UNITS = [
    Unit("STTTT", "Sở Thông tin và Truyền thông", UnitKind.DEPARTMENT),
    Unit("SYT", "Sở Y tế", UnitKind.DEPARTMENT),
    Unit("VPUBND", "Văn phòng UBND tỉnh", UnitKind.OFFICE),
]

BOOK = """
[units]
STTTT = ["Văn thư Sở TT&TT <vanthu@stttt.binhdinh.example>", "giamdoc@stttt.binhdinh.example"]
SYT = ["vanthu@syt.binhdinh.example"]
VPUBND = ["vanthu@vpubnd.binhdinh.example"]
"""

ALERTS = [
    # key, task, type, recipients, level, title
    ("alr:101:QUA_HAN:2022-03-01#3", 101, "QUA_HAN", ["STTTT", "VPUBND"], 2, "Nhiệm vụ quá hạn: 12/UBND-VX"),
    ("alr:102:SAP_DEN_HAN:2022-03-24", 102, "SAP_DEN_HAN", ["STTTT"], 1, "Nhiệm vụ sắp đến hạn: 7/TB-UBND"),
    ("alr:103:SAP_DEN_HAN:2022-03-25", 103, "SAP_DEN_HAN", ["SYT"], 1, "Nhiệm vụ sắp đến hạn: 9/UBND-KT"),
]  # fmt: skip


def seed(url: str, alerts: list[tuple[str, int, str, list[str], int, str]] = ALERTS) -> None:
    """The alert rows the planner would have recorded (and the units they name)."""
    with open_ledger(url) as ledger, ledger.transaction() as session:
        upsert_units(session, UNITS, now=NOW)
        for key, task, kind, recipients, level, title in alerts:
            body = {
                "type": kind,
                "taskId": task,
                "recipients": recipients,
                "level": level,
                "title": title,
                "content": f"Nội dung của thông báo {key}.\nĐề nghị đơn vị khẩn trương thực hiện.",
            }
            add_row(
                session,
                PlannedRow.of(
                    key=key,
                    kind=OutboxKind.ALERT,
                    task_id=task,
                    payload_json=dump_payload(body),
                    state=OutboxState.PENDING,
                    run_id="seed",
                    now=NOW,
                    alert_type=kind,
                    occasion=key.split(":", 3)[3],
                ),
            )


def settings_for(
    tmp_path: Path,
    url: str,
    *,
    channels: list[str],
    smtp: SmtpServer | None = None,
    hook: WebhookReceiver | None = None,
    book: str = BOOK,
    **sections: Any,
) -> Settings:
    """A deployment delivering alerts by `channels` only (no tracking writes to the source)."""
    book_path = tmp_path / "units.toml"
    book_path.write_text(book, encoding="utf-8")
    data: dict[str, Any] = {
        "ledger": {"url": url, "lock_file": str(tmp_path / "run.lock")},
        "push": {"tracking_status": False, "retry_initial_seconds": 60, "max_attempts": 5},
        "delivery": {"channels": channels},
    }
    if smtp is not None:
        data["email"] = smtp.email_section(address_book=str(book_path))
    if hook is not None:
        data["webhook"] = hook.webhook_section()
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings.model_validate(data)


def push(settings: Settings, when: datetime = NOW) -> JobResult:
    return run_job(settings, "push", clock=FixedClock(when))


def outbox(url: str) -> dict[str, Any]:
    with open_ledger(url) as ledger:
        return {e.idempotency_key: e for e in list_entries(ledger)}


def pairs_in(messages: list[Any], url: str) -> Counter[tuple[str, str]]:
    """(alert key, unit) for every alert of every distinct message, through its digest row."""
    rows = outbox(url)
    by_message = {
        e.payload.get("message_id"): e for e in rows.values() if e.kind == OutboxKind.DIGEST.value
    }
    found: Counter[tuple[str, str]] = Counter()
    for message in distinct(messages):
        row = by_message[message.message_id]
        for key in row.payload["alerts"]:
            found[(key, row.payload["unit"])] += 1
    return found


WANTED = Counter(
    {(key, unit): 1 for key, _, _, recipients, _, _ in ALERTS for unit in recipients}
)


# -- the happy path --------------------------------------------------------------------------


def test_each_alert_reaches_each_unit_once_by_email_and_webhook(
    tmp_path: Path, ledger_url: str
) -> None:
    """Three runs: one digest per unit (each alert once in each of its units' digests, sent to
    the book's addresses over STARTTLS), one signed webhook post per alert; nothing twice."""
    seed(ledger_url)
    with SmtpServer(tmp_path) as smtp, WebhookReceiver() as hook:
        settings = settings_for(
            tmp_path, ledger_url, channels=["email", "webhook"], smtp=smtp, hook=hook
        )
        first = push(settings)
        for hour in (1, 2):
            again = push(settings, NOW + timedelta(hours=hour))
            assert again.counts()["digests_sent"] == again.counts()["webhooks_sent"] == 0
        assert first.counts()["digests_sent"] == 3
        assert first.counts()["webhooks_sent"] == 3
        assert first.outcome.value == "success"
        assert len(smtp.messages) == 3
        assert pairs_in(smtp.messages, ledger_url) == WANTED
        sttt = next(m for m in smtp.messages if m.key == "dig:STTTT:2022-03-22")
        assert set(sttt.recipients) == {"vanthu@stttt.binhdinh.example", "giamdoc@stttt.binhdinh.example"}
        assert sttt.subject == "Nhắc việc ngày 22/03/2022: 2 thông báo về nhiệm vụ được giao"
        assert "Kính gửi: Sở Thông tin và Truyền thông." in sttt.text()
        assert sttt.text().index("[KHẨN] Nhiệm vụ quá hạn") < sttt.text().index("sắp đến hạn")
        assert "Nhiệm vụ sắp đến hạn: 7/TB-UBND" in sttt.html()
        assert sttt.message.get_content_type() == "multipart/alternative"
        posts = hook.delivered()
        assert sorted(posts) == sorted(f"whk:{a[0]}" for a in ALERTS)
        assert all(p.signed for p in hook.posts.all())
        assert len(hook.posts) == 3
    rows = outbox(ledger_url)
    assert {rows[a[0]].state for a in ALERTS} == {"routed"}
    assert {e.state for e in rows.values() if e.kind != "alert"} == {"sent"}


def test_webhook_body_is_the_documented_shape(tmp_path: Path, ledger_url: str) -> None:
    """The posted JSON holds the keys docs/webhook.md documents, the unit names resolved."""
    seed(ledger_url, ALERTS[:1])
    with WebhookReceiver() as hook:
        push(settings_for(tmp_path, ledger_url, channels=["webhook"], hook=hook))
        (post,) = hook.posts.all()
    assert post.key == "whk:alr:101:QUA_HAN:2022-03-01#3"
    assert set(post.data) == {
        "version", "event", "key", "type", "occasion", "level", "task_id", "title", "content",
        "lang", "recipients", "created_at",
    }  # fmt: skip
    assert post.data["recipients"] == [
        {"code": "STTTT", "name": "Sở Thông tin và Truyền thông"},
        {"code": "VPUBND", "name": "Văn phòng UBND tỉnh"},
    ]
    assert (post.data["key"], post.data["level"], post.data["version"]) == (ALERTS[0][0], 2, 1)
    assert post.data["created_at"] == "2022-03-22T02:00:00Z"


def test_alerts_of_a_task_whose_newer_record_is_quarantined_are_not_routed(
    tmp_path: Path, ledger_url: str
) -> None:
    """Task 101's newer record waits in quarantine: its alert is held (not routed to the
    webhook, counted `held_quarantined`) while the others go; once the quarantine is resolved,
    the next run routes it."""
    seed(ledger_url)
    with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
        session.add(
            QuarantineRow(
                record_key="101", task_id=101, field="completeDate", bad_value="Feb 30, 2022",
                reason="not a date", first_seen_at=NOW, last_seen_at=NOW,
            )
        )  # fmt: skip
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, ledger_url, channels=["webhook"], hook=hook)
        first = push(settings)
        assert sorted(hook.delivered()) == [f"whk:{a[0]}" for a in ALERTS[1:]]
        assert first.counts()["held_quarantined"] == 1
        assert outbox(ledger_url)[ALERTS[0][0]].state == "pending"
        with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
            session.execute(text("UPDATE quarantine SET resolved_at = last_seen_at"))
        second = push(settings, NOW + timedelta(hours=1))
        assert sorted(hook.delivered()) == sorted(f"whk:{a[0]}" for a in ALERTS)
        assert second.counts()["held_quarantined"] == 0


def seed_tracking(url: str, count: int) -> None:
    """Tracking writes queued for tasks 1..count, as a first sync queues one for every task."""
    with open_ledger(url) as ledger, ledger.transaction() as session:
        for task_id in range(1, count + 1):
            body = {"id": task_id, "trackingStatus": "DTH_QUA_HAN", "effectiveDeadline": "2022-03-14"}
            add_row(
                session,
                PlannedRow.of(
                    key=f"trk:{task_id}:DTH_QUA_HAN:2022-03-14",
                    kind=OutboxKind.TRACKING,
                    task_id=task_id,
                    payload_json=dump_payload(body),
                    state=OutboxState.PENDING,
                    run_id="seed",
                    now=NOW,
                ),
            )


def with_source(
    tmp_path: Path, url: str, hook: WebhookReceiver, sim: Any, password: str | None = None
) -> Settings:
    """Alerts by webhook, tracking writes to the simulator `sim`."""
    login = sim.credentials
    source = {"base_url": sim.base_url, "username": login.username,
              "password": password or login.password}
    return settings_for(tmp_path, url, channels=["webhook"], hook=hook, source=source,
                        push={"tracking_status": True, "rate_per_second": 1000})


def test_webhook_posts_go_before_the_bulk_tracking_writes(tmp_path: Path, ledger_url: str) -> None:
    """A run delivers the alerts' webhook posts before the first tracking write to the source
    (a first sync queues one for every task): all 3 posts are in when the first write goes."""
    from connector.source.pull import default_client
    from simulator import Faults, Simulator, SimulatorConfig

    seed(ledger_url)
    seed_tracking(ledger_url, 5)
    posts_at_tracking: list[int] = []
    with (
        WebhookReceiver() as hook,
        Simulator(SimulatorConfig(tasks=5, seed=3, faults=Faults.none())) as sim,
    ):

        def observed_client(settings: Settings, spec: Any, sleep: Any) -> Any:
            client = default_client(settings, spec, sleep)
            post_tracking = client.post_tracking

            def observed(body: dict[str, Any], key: str) -> Any:
                posts_at_tracking.append(len(hook.posts.all()))
                return post_tracking(body, key)

            client.post_tracking = observed  # type: ignore[method-assign]
            return client

        settings = with_source(tmp_path, ledger_url, hook, sim)
        run_job(settings, "push", clock=FixedClock(NOW), client_factory=observed_client)
        assert len(hook.delivered()) == 3
    assert posts_at_tracking == [3] * 5


def test_webhook_posts_count_when_the_source_then_refuses_the_login(
    tmp_path: Path, ledger_url: str
) -> None:
    """Refused credentials end the run after the webhook posts: the run still counts them."""
    from connector.errors import AuthError
    from connector.ops.runs import get_run
    from simulator import Faults, Simulator, SimulatorConfig

    seed(ledger_url)
    seed_tracking(ledger_url, 2)
    with (
        WebhookReceiver() as hook,
        Simulator(SimulatorConfig(tasks=2, seed=3, faults=Faults.none())) as sim,
    ):
        settings = with_source(tmp_path, ledger_url, hook, sim, password="not-the-password")
        with pytest.raises(AuthError):
            run_job(settings, "push", clock=FixedClock(NOW), run_id="refused")
        assert len(hook.delivered()) == 3
    with open_ledger(ledger_url) as ledger:
        run = get_run(ledger, "refused")
    assert run is not None and run.counts["webhooks_sent"] == 3


def test_source_stays_a_channel_beside_email(tmp_path: Path, ledger_url: str) -> None:
    """With ["source", "email"] an alert is queued for the digests and stays pending for the
    source; `by_type` sends one type by webhook only."""
    from connector.outbox.routing import route_alerts

    seed(ledger_url)
    settings = Settings.model_validate(
        {
            "ledger": {"url": ledger_url},
            "delivery": {"channels": ["source", "email"], "by_type": {"SAP_DEN_HAN": ["webhook"]}},
        }
    )
    with open_ledger(ledger_url) as ledger:
        result = route_alerts(ledger, settings, units={}, run_id="r", now=NOW)
        again = route_alerts(ledger, settings, units={}, run_id="r", now=NOW)
        with ledger.reading() as session:
            items = session.execute(text("SELECT count(*) FROM outbox_digest_item")).scalar()
    rows = outbox(ledger_url)
    assert (result.routed, again.routed) == (3, 0)
    assert rows[ALERTS[0][0]].state == "pending" and rows[ALERTS[0][0]].routed_at is not None
    assert {rows[a[0]].state for a in ALERTS[1:]} == {"routed"}
    assert sorted(k for k in rows if k.startswith("whk:")) == sorted(f"whk:{a[0]}" for a in ALERTS[1:])
    assert items == 2  # QUA_HAN for STTTT and VPUBND


def test_one_digest_per_unit_and_day(tmp_path: Path, ledger_url: str) -> None:
    """An alert recorded after the unit's digest of the day went out waits for the next day's
    digest; one recorded while it is still pending joins it."""
    seed(ledger_url, ALERTS[1:2])
    with SmtpServer(tmp_path) as smtp:
        settings = settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp)
        push(settings)
        seed(ledger_url, [("alr:104:QUA_HAN:2022-03-10#2", 104, "QUA_HAN", ["STTTT"], 1, "Muộn")])
        later = push(settings, NOW + timedelta(hours=3))
        assert later.counts()["digests_sent"] == 0
        tomorrow = push(settings, NOW + timedelta(days=1))
        assert tomorrow.counts()["digests_sent"] == 1
        assert [m.key for m in smtp.messages] == ["dig:STTTT:2022-03-22", "dig:STTTT:2022-03-23"]
    rows = outbox(ledger_url)
    assert rows["dig:STTTT:2022-03-23"].payload["alerts"] == ["alr:104:QUA_HAN:2022-03-10#2"]


# -- faults of the SMTP server -------------------------------------------------------------------


def test_server_down_then_up_delivers_each_digest_once(tmp_path: Path, ledger_url: str) -> None:
    """Server down: the first digest fails (an attempt counted), the channel stops with the
    others left for the next run (outcome problems, exit 1); after the backoff, all arrive once."""
    seed(ledger_url)
    smtp = SmtpServer(tmp_path)
    settings = settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp)
    down = push(settings)
    assert down.counts()["delivery_failed"] == 1
    assert down.counts()["undelivered"] == 3
    assert down.exit_code == 1
    assert "cannot reach the SMTP server" in (down.push.left_behind() if down.push else "")
    with smtp:
        early = push(settings, NOW + timedelta(seconds=30))
        late = push(settings, NOW + timedelta(minutes=15))
        assert early.counts()["digests_sent"] == 2  # the failed one waits for its backoff
        assert late.counts()["digests_sent"] == 1
        assert pairs_in(smtp.messages, ledger_url) == WANTED
        assert len(smtp.messages) == 3


@pytest.mark.parametrize(
    ("fault", "state", "error"),
    [
        pytest.param({"data_reply": "451 4.3.0 Try again later", "data_replies": 1}, "failed",
                     "deferred the message (451", id="451-to-data"),
        pytest.param({"data_reply": "554 5.7.1 Rejected as spam", "data_replies": 1}, "dead",
                     "smtp_554", id="554-to-data"),
        pytest.param({"rcpt_reply": "550 5.1.1 No such user"}, "dead", "recipients_refused",
                     id="550-to-every-recipient"),
    ],
)  # fmt: skip
def test_smtp_replies_decide_retry_or_dead(
    tmp_path: Path, ledger_url: str, fault: dict[str, Any], state: str, error: str
) -> None:
    """A 4xx reply is retried later; a 5xx to the data or to every recipient makes the digest
    dead with the server's reason."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path) as smtp:
        for name, value in fault.items():
            setattr(smtp.faults, name, value)
        push(settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp))
        assert smtp.messages == []
    row = outbox(ledger_url)["dig:SYT:2022-03-22"]
    assert row.state == state
    assert error in row.last_error


def test_connection_cut_after_the_data_was_accepted_resends_the_same_message(
    tmp_path: Path, ledger_url: str
) -> None:
    """The server accepts the message and the connection is cut before its 250 is read: the
    digest is in doubt, resent after the backoff with the SAME Message-ID and bytes (one message
    in a mail client), and counted as resent in doubt."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path) as smtp:
        settings = settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp)
        smtp.faults.cut_after_data = 1
        first = push(settings)
        assert first.counts()["digests_sent"] == 0
        assert len(smtp.messages) == 1
        second = push(settings, NOW + timedelta(minutes=5))
        assert second.counts()["digests_sent"] == 1
        assert second.counts()["resent_in_doubt"] == 1
        one, two = smtp.messages
    assert one.message_id == two.message_id
    assert one.data == two.data
    assert len(distinct([one, two])) == 1
    assert outbox(ledger_url)["dig:SYT:2022-03-22"].state == "sent"


def test_implicit_tls_with_login(tmp_path: Path, ledger_url: str) -> None:
    """security = "tls" (port 465 style) with a login delivers; the password never lands in
    the ledger."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path, mode="tls", login=("tct", "Mail-Pw-9x!")) as smtp:
        push(settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp))
        assert [m.key for m in smtp.messages] == ["dig:SYT:2022-03-22"]
    with open_ledger(ledger_url) as ledger, ledger.reading() as session:
        dumped = json.dumps([list(r) for r in session.execute(text("SELECT * FROM outbox"))],
                            default=str)
    assert "Mail-Pw-9x!" not in dumped


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        pytest.param({"password": "wrong"}, "email.username", id="login-refused"),
        pytest.param({"ca_bundle": ""}, "email.ca_bundle", id="certificate-not-trusted"),
    ],
)
def test_settings_the_server_refuses_stop_the_channel_without_an_attempt(
    tmp_path: Path, ledger_url: str, changes: dict[str, str], setting: str
) -> None:
    """A refused login or an untrusted certificate: the digest goes back to failed without an
    attempt counted, the channel stops, and the error names the setting to fix."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path, login=("tct", "right")) as smtp:
        settings = settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp)
        settings = settings.model_copy(
            update={"email": settings.email.model_validate({**settings.email.model_dump(), **changes})}
        )
        result = push(settings)
        assert smtp.messages == []
    row = outbox(ledger_url)["dig:SYT:2022-03-22"]
    assert (row.state, row.attempts) == ("failed", 0)
    assert setting in row.last_error
    assert result.exit_code == 1


def test_a_unit_without_address_is_dead_until_the_book_names_it(
    tmp_path: Path, ledger_url: str
) -> None:
    """A digest for a unit the book does not list is dead (no_address); once the book names
    it, `outbox retry --dead` sends that same digest once."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path) as smtp:
        partial = "[units]\nSTTTT = [\"vanthu@stttt.binhdinh.example\"]\n"
        push(settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp, book=partial))
        row = outbox(ledger_url)["dig:SYT:2022-03-22"]
        assert (row.state, row.last_error.split(":")[0]) == ("dead", "no_address")
        with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
            assert retry_dead(session) == 1
        push(settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp),
             NOW + timedelta(minutes=1))
        assert [m.recipients for m in smtp.messages] == [("vanthu@syt.binhdinh.example",)]
        assert smtp.messages[0].message_id == row.payload["message_id"]


# -- faults of the webhook ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        pytest.param("status:500", "failed", id="500"),
        pytest.param("status:503", "failed", id="503"),
        pytest.param("status:408", "failed", id="408"),
        pytest.param("status:429", "failed", id="429"),
        pytest.param("status:400", "dead", id="400"),
        pytest.param("status:404", "dead", id="404"),
        pytest.param("status:410", "dead", id="410"),
        pytest.param("status:302", "dead", id="302-not-followed"),
        pytest.param("status:202", "sent", id="202"),
    ],
)
def test_webhook_answers_decide_sent_retry_or_dead(
    tmp_path: Path, ledger_url: str, answer: str, state: str
) -> None:
    """2xx delivered; 408, 429 and 5xx retried later; any other 4xx (and a redirect) dead."""
    seed(ledger_url, ALERTS[2:])
    with WebhookReceiver() as hook:
        hook.script = [answer]
        push(settings_for(tmp_path, ledger_url, channels=["webhook"], hook=hook))
    row = outbox(ledger_url)[f"whk:{ALERTS[2][0]}"]
    assert row.state == state
    if state != "sent":
        assert answer.split(":")[1] in row.last_error


def test_webhook_retried_and_cut_posts_carry_the_same_key(tmp_path: Path, ledger_url: str) -> None:
    """A 503, then a connection cut after the post was read: each resend carries the same
    Idempotency-Key and body, so a receiver keeping keys acts once per alert."""
    seed(ledger_url)
    with WebhookReceiver() as hook:
        settings = settings_for(tmp_path, ledger_url, channels=["webhook"], hook=hook)
        hook.script = ["status:503"]
        push(settings)
        hook.script = ["cut"]
        push(settings, NOW + timedelta(minutes=2))
        push(settings, NOW + timedelta(minutes=10))
        push(settings, NOW + timedelta(minutes=20))
        posts = hook.posts.all()
    assert sorted(hook.delivered()) == sorted(f"whk:{a[0]}" for a in ALERTS)
    by_key: dict[str, set[bytes]] = {}
    for post in posts:
        by_key.setdefault(post.key, set()).add(post.body)
    assert all(len(bodies) == 1 for bodies in by_key.values())
    assert len(posts) > len(ALERTS)  # resends happened
    assert {e.state for k, e in outbox(ledger_url).items() if k.startswith("whk:")} == {"sent"}


def test_dry_run_counts_what_the_channels_would_send(tmp_path: Path, ledger_url: str) -> None:
    """`push --dry-run` routes and bundles in a rolled-back view: it lists the digests and
    posts it would send, sends nothing and leaves the outbox as it was."""
    seed(ledger_url)
    with SmtpServer(tmp_path) as smtp, WebhookReceiver() as hook:
        settings = settings_for(
            tmp_path, ledger_url, channels=["email", "webhook"], smtp=smtp, hook=hook
        )
        result = run_job(settings, "push", dry_run=True, clock=FixedClock(NOW))
        assert smtp.messages == [] and len(hook.posts) == 0
    kinds = Counter(d.kind for d in result.would_deliver)
    assert kinds == {"digest": 3, "webhook": 3}
    assert result.counts()["would_send"] == 6
    assert {e.state for e in outbox(ledger_url).values()} == {"pending"}


# -- alerts preview ------------------------------------------------------------------------------


def test_alerts_preview_shows_each_alerts_channels_and_recipients(tmp_path: Path) -> None:
    """`alerts preview` lists, under each alert, every channel it goes by with its recipients:
    the unit codes for the source, the book's addresses for e-mail (units without one named),
    the gateway's host for the webhook; by_type applies per alert."""
    from connector.rules.alerts import AlertIntent, AlertType
    from connector.views import shapes
    from connector.views import text as views_text
    from connector.views.listings import AlertPreview, alert_targets

    book = tmp_path / "units.toml"
    book.write_text(BOOK.replace('SYT = ["vanthu@syt.binhdinh.example"]\n', ""), encoding="utf-8")
    settings = Settings.model_validate(
        {
            "delivery": {
                "channels": ["source", "email"],
                "by_type": {"SAP_DEN_HAN": ["email", "webhook"]},
            },
            "email": {"address_book": str(book)},
            "webhook": {"url": "https://gw.binhdinh.example:8443/hooks/idesk"},
        }
    )
    intents = [
        AlertIntent(AlertType(kind), task, key.split(":", 3)[3], tuple(units), level,
                    NOW.date(), title, "", is_latest=True)
        for key, task, kind, units, level, title in ALERTS
    ]  # fmt: skip
    targets, book_error = alert_targets(settings, intents)
    assert book_error == ""
    overdue, soon, soon_syt = (targets[a[0]] for a in ALERTS)
    assert [(t.channel, t.recipients, t.missing) for t in overdue] == [
        ("source", ("STTTT", "VPUBND"), ()),
        ("email", ("vanthu@stttt.binhdinh.example", "giamdoc@stttt.binhdinh.example",
                   "vanthu@vpubnd.binhdinh.example"), ()),
    ]  # fmt: skip
    assert [(t.channel, t.recipients) for t in soon] == [
        ("email", ("vanthu@stttt.binhdinh.example", "giamdoc@stttt.binhdinh.example")),
        ("webhook", ("gw.binhdinh.example:8443",)),
    ]
    assert (soon_syt[0].recipients, soon_syt[0].missing) == ((), ("SYT",))
    preview = AlertPreview(NOW.date(), intents, targets, book_error)
    data = shapes.alerts_json(preview)
    assert data["alerts"][1]["channels"][1] == {
        "channel": "webhook", "recipients": ["gw.binhdinh.example:8443"], "missing": []
    }  # fmt: skip
    assert data["address_book_error"] is None
    shown = views_text.alerts_text(preview, "en")
    first = intents[0]
    head = f"  {first.type.value:<18} task {first.task_id:<8} -> {', '.join(first.recipients)}"
    assert f"{head}\n    {first.title}\n" in shown  # the title on a line of its own
    assert "      email    - (no address: SYT)" in shown
    assert "      source   STTTT, VPUBND" in shown
    shown_vi = views_text.alerts_text(preview)
    assert shown_vi.startswith(f"{len(intents)} cảnh báo tính đến ngày {NOW.date():%d/%m/%Y}")
    assert "      email    - (không có địa chỉ: SYT)" in shown_vi


def test_alerts_preview_reports_an_unreadable_address_book(tmp_path: Path) -> None:
    """A book that cannot be read does not stop the preview: the e-mail line has no address
    and the book's problem is shown once."""
    from connector.rules.alerts import AlertIntent, AlertType
    from connector.views.listings import alert_targets

    settings = Settings.model_validate(
        {
            "delivery": {"channels": ["email"]},
            "email": {"address_book": str(tmp_path / "missing.csv")},
        }
    )
    key, task, kind, units, level, title = ALERTS[0]
    intent = AlertIntent(AlertType(kind), task, "2022-03-01#3", tuple(units), level, NOW.date(),
                         title, "", is_latest=True)  # fmt: skip
    targets, book_error = alert_targets(settings, [intent])
    assert "missing.csv" in book_error and "cannot read" in book_error
    assert [(t.channel, t.recipients, t.missing) for t in targets[key]] == [("email", (), ())]


def test_starttls_to_a_self_signed_certificate_given_as_ca_bundle(
    tmp_path: Path, ledger_url: str
) -> None:
    """STARTTLS to a server whose certificate signs itself: refused (email.ca_bundle named)
    until email.ca_bundle names that certificate, then the login (password from the settings,
    never the ledger) and the digest go through."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path, login=("tct", "Pw-self-1"), self_signed=True) as smtp:
        trusting = settings_for(tmp_path, ledger_url, channels=["email"], smtp=smtp)
        untrusting = settings_for(
            tmp_path, ledger_url, channels=["email"], smtp=smtp, email={"ca_bundle": ""}
        )
        refused = push(untrusting)
        assert refused.exit_code == 1 and smtp.messages == []
        assert "email.ca_bundle" in outbox(ledger_url)["dig:SYT:2022-03-22"].last_error
        push(trusting, NOW + timedelta(minutes=1))
        assert [m.key for m in smtp.messages] == ["dig:SYT:2022-03-22"]
    assert outbox(ledger_url)["dig:SYT:2022-03-22"].state == "sent"


def test_starttls_is_required_when_chosen(tmp_path: Path, ledger_url: str) -> None:
    """security = "starttls" to a server that does not offer STARTTLS sends nothing in clear:
    the channel stops, no attempt counted, the error names email.security."""
    seed(ledger_url, ALERTS[2:])
    with SmtpServer(tmp_path, mode="plain") as smtp:
        settings = settings_for(
            tmp_path, ledger_url, channels=["email"], smtp=smtp, email={"security": "starttls"}
        )
        result = push(settings)
        assert smtp.messages == []
    row = outbox(ledger_url)["dig:SYT:2022-03-22"]
    assert (row.state, row.attempts, result.exit_code) == ("failed", 0, 1)
    assert "email.security" in row.last_error
