"""`idesk-connector simulator serve`, as the README starts it: its clock is this machine's."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

from tests.support.harness import CLI, at_default_sigint


def _serve(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        at_default_sigint(
            [str(CLI), "simulator", "serve", "--port", "0", "--tasks", "20", "--lang", "en", *args]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("the simulator printed no base URL")


def _server_date(base_url: str) -> datetime:
    answer = requests.post(
        f"{base_url}/auth/login.cpx",
        data={"username": "demo", "password": "demo-password"},
        timeout=10,
    )
    return parsedate_to_datetime(answer.headers["Date"])


def test_serve_without_today_keeps_this_machines_time() -> None:
    """Without --today the world is built around today and the `Date` header is the real time
    (within two minutes), so `check` reports no clock skew against it."""
    proc, base_url = _serve()
    try:
        skew = abs((_server_date(base_url) - datetime.now(UTC)).total_seconds())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert skew < 120


def test_serve_with_today_starts_that_day_at_eight() -> None:
    """With --today the simulated clock starts that day at 08:00 Vietnam time (01:00 UTC)."""
    proc, base_url = _serve("--today", "2022-03-07")
    try:
        served = _server_date(base_url)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert datetime(2022, 3, 7, 1, 0, tzinfo=UTC) <= served < datetime(2022, 3, 7, 1, 5, tzinfo=UTC)


def test_serve_with_tenants_serves_each_on_its_own_port() -> None:
    """`--tenant` twice prints both tenants with their base URLs; each answers its own login and
    refuses the other's."""
    proc = subprocess.Popen(
        at_default_sigint(
            [
                str(CLI),
                *("simulator", "serve", "--port", "0", "--tasks", "20", "--today", "2022-03-07"),
                *("--tenant", "gialai:2", "--tenant", "binhdinh", "--faults", "rate_limit=0"),
            ]
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    try:
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Nhấn Ctrl+C"):
                break
        text = "".join(banner)
        urls = re.findall(r"base URL\): (http://127\.0\.0\.1:\d+/\S+)", text)
        assert "đang chạy 2 hệ thống" in text and "[gialai]" in text and "[binhdinh]" in text
        assert len(set(urls)) == 2
        for url, own, other in ((urls[0], "gialai", "binhdinh"), (urls[1], "binhdinh", "gialai")):
            for name, status in ((own, 200), (other, 401)):
                answer = requests.post(
                    f"{url}/auth/login.cpx",
                    data={"username": f"demo-{name}", "password": f"demo-password-{name}"},
                    timeout=10,
                )
                assert answer.status_code == status
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
