"""The e-mail and webhook channels across a SIGKILL of the connector process mid-delivery: the
installed console script runs ``push`` against a real SMTP server (aiosmtpd, STARTTLS under a
throwaway CA, login) and a loopback webhook receiver, configured as an operator would (a config
file, the SMTP password and the webhook secret only in the environment). It is killed at a
crash point (`connector.ops.faultpoints`), then rerun until nothing is left: each alert reaches
each of its units exactly once (one Message-ID per unit and day; one Idempotency-Key per alert),
and no row is left in doubt.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector.ledger.db import open_ledger
from connector.ledger.outbox import PlannedRow, add_row
from connector.ledger.units import upsert_units
from connector.models import Unit, UnitKind
from connector.ops.faultpoints import ENV_VAR as CRASH_ENV
from connector.outbox.keys import dump_payload
from connector.outbox.states import OutboxKind, OutboxState
from tests.support.harness import Deployment, Launcher, Run, integrity_check, ledger_rows
from tests.support.mail import SmtpServer, distinct
from tests.support.webhook_receiver import WebhookReceiver

SMTP_LOGIN = ("tct-mailer", "Smtp-Pw-4k!q z")
HOOK_SECRET = "whsec-e2e-5d1c9a"

UNITS = [
    Unit("STTTT", "Sở Thông tin và Truyền thông", UnitKind.DEPARTMENT),
    Unit("SYT", "Sở Y tế", UnitKind.DEPARTMENT),
]
ALERTS = [
    ("alr:201:QUA_HAN:2022-03-01#3", 201, "QUA_HAN", ["STTTT", "SYT"]),
    ("alr:202:SAP_DEN_HAN:2022-03-24", 202, "SAP_DEN_HAN", ["STTTT"]),
    ("alr:203:SAP_DEN_HAN:2022-03-25", 203, "SAP_DEN_HAN", ["SYT"]),
]
WANTED = Counter({(key, unit): 1 for key, _, _, units in ALERTS for unit in units})

BOOK = """
[units]
STTTT = ["vanthu@stttt.binhdinh.example"]
SYT = ["vanthu@syt.binhdinh.example", "giamdoc@syt.binhdinh.example"]
"""


def _seed(url: str) -> None:
    """The alert rows the planner would have recorded, now."""
    now = datetime.now(UTC)
    with open_ledger(url) as ledger, ledger.transaction() as session:
        upsert_units(session, UNITS, now=now)
        for key, task, kind, recipients in ALERTS:
            body = {
                "type": kind,
                "taskId": task,
                "recipients": recipients,
                "level": 1,
                "title": f"Thông báo {key}",
                "content": "Đề nghị đơn vị khẩn trương thực hiện.",
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
                    now=now,
                    alert_type=kind,
                    occasion=key.split(":", 3)[3],
                ),
            )


def _deployment(home: Path, smtp: SmtpServer, hook: WebhookReceiver) -> Deployment:
    book = home / "units.toml"
    home.mkdir(parents=True, exist_ok=True)
    book.write_text(BOOK, encoding="utf-8")
    extra = (
        "[alerts]\n"
        "hold_on_non_working_days = false\n"
        "[push]\n"
        "tracking_status = false\n"
        "[delivery]\n"
        'channels = ["email", "webhook"]\n'
        "[email]\n"
        f'host = "{smtp.host}"\n'
        f"port = {smtp.port}\n"
        'security = "starttls"\n'
        f'username = "{SMTP_LOGIN[0]}"\n'
        'from_address = "Tổ công tác <tct@ubnd.binhdinh.example>"\n'
        f'ca_bundle = "{smtp.ca_path}"\n'
        "timeout = 5\n"
        f'address_book = "{book}"\n'
        "[webhook]\n"
        f'url = "{hook.url("/hooks/idesk")}"\n'
        "read_timeout = 5\n"
    )
    dep = Deployment(
        home=home,
        base_url="http://127.0.0.1:9",
        token="unused-token",
        extra_toml=extra,
        extra_env={
            "IDESK_CONNECTOR__EMAIL__PASSWORD": SMTP_LOGIN[1],
            "IDESK_CONNECTOR__WEBHOOK__SECRET": HOOK_SECRET,
        },
    )
    dep.write_config()
    return dep


def _killed_at(launcher: Launcher, point: str) -> Run:
    """`push` held at `point` (``:wait``) and SIGKILLed there from outside."""
    run = launcher.start("push", env={CRASH_ENV: f"{point}:wait"})
    name = point.partition("@")[0]
    deadline = time.monotonic() + 60
    while f"crash point {name} reached: waiting" not in run.stderr:
        code = run.wait(0.01)
        assert code is None, f"the run ended ({code}) before its crash point:\n{run.stderr}"
        assert time.monotonic() < deadline, "the run never reached its crash point"
    run.signal(signal.SIGKILL)
    assert run.wait(30) == -signal.SIGKILL, "the kill did not land"
    return run


def _payloads(path: Path, kind: str) -> list[dict[str, Any]]:
    return [
        {**json.loads(r["payload_json"]), "_state": r["state"]}
        for r in ledger_rows(path, "outbox")
        if r["kind"] == kind
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("point", "in_doubt"),
    [
        pytest.param("after_mark_sending@1", True, id="claimed-nothing-sent"),
        pytest.param("after_request_sent@1", True, id="first-accepted-not-recorded"),
        pytest.param("after_request_sent@4", True, id="fourth-accepted-not-recorded"),
        pytest.param("after_mark_sent@2", False, id="second-recorded"),
    ],
)
def test_sigkill_mid_delivery_then_rerun_delivers_each_alert_once(
    tmp_path: Path, point: str, in_doubt: bool
) -> None:
    """Killed at a crash point of the channels' delivery, then rerun: every (alert, unit) in
    exactly one distinct e-mail, every alert in one signed webhook key with one body, a row
    found in ``sending`` resent with the same Message-ID or key, none left undelivered."""
    with SmtpServer(tmp_path, login=SMTP_LOGIN) as smtp, WebhookReceiver(HOOK_SECRET) as hook:
        dep = _deployment(tmp_path / "home", smtp, hook)
        _seed(dep.ledger_url)
        launcher = Launcher(dep)
        _killed_at(launcher, point)
        assert integrity_check(dep.ledger_path) == "ok"
        states = Counter(r["state"] for r in ledger_rows(dep.ledger_path, "outbox"))
        assert (states["sending"] == 1) is in_doubt
        resent = 0
        for _ in range(3):
            rerun = launcher.run("push", "--format", "json")
            assert rerun.returncode == 0, rerun.stderr[-3000:]
            counts = json.loads(rerun.stdout)["counts"]
            resent += counts.get("resent_in_doubt", 0)
            if counts.get("digests_sent", 0) + counts.get("webhooks_sent", 0) == 0:
                break
        assert resent == int(in_doubt)
        messages = smtp.messages
        posts = hook.posts.all()
    digests = {p["message_id"]: p for p in _payloads(dep.ledger_path, "digest")}
    pairs: Counter[tuple[str, str]] = Counter()
    for message in distinct(messages):
        for key in digests[message.message_id]["alerts"]:
            pairs[(key, digests[message.message_id]["unit"])] += 1
    assert pairs == WANTED
    assert len(distinct(messages)) == len(digests) == 2
    assert all(m.mail_from == "tct@ubnd.binhdinh.example" for m in messages)
    assert all(p.signed for p in posts)
    bodies: dict[str, set[bytes]] = {}
    for post in posts:
        bodies.setdefault(post.key, set()).add(post.body)
    assert sorted(bodies) == sorted(f"whk:{key}" for key, *_ in ALERTS)
    assert all(len(b) == 1 for b in bodies.values())
    # A duplicate on the wire comes only from a send the ledger never recorded.
    assert len(messages) + len(posts) <= 5 + int(point.startswith("after_request_sent"))
    states = Counter(r["state"] for r in ledger_rows(dep.ledger_path, "outbox"))
    assert set(states) == {"routed", "sent"}, states
    assert "Smtp-Pw-4k!q z" not in "".join(str(r) for r in ledger_rows(dep.ledger_path, "outbox"))
