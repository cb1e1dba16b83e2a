"""Limits on the wire (connector.source.transport, used by connector.source.client): a deadline for the whole
request (``source.request_timeout``) and a cap on the answer's size (``source.max_response_bytes``,
counted as received and after decompression), against a hostile loopback server."""

from __future__ import annotations

import gzip
import io
import socket
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3

from connector.errors import SourceError, SourceUnavailable
from connector.mapping.spec import load_mapping
from connector.source.client import SourceClient
from connector.source.transport import (
    DeadlineExceeded,
    RequestDeadline,
    ResponseTooLarge,
    read_capped,
)
from tests.support.factories import make_records, make_settings
from tests.support.faultproxy import Fault, FaultKind, FaultProxy
from tests.support.harness import Deployment, ledger_rows
from tests.support.hostile_server import BASE_PATH, PASSWORD, USERNAME, HostileServer, gzip_bomb

SPEC = load_mapping("idesk")
MIB = 1024 * 1024


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer(make_records(5)) as hostile:
        yield hostile


def client_for(server: HostileServer, tmp_path: Path, **source: Any) -> SourceClient:
    """A client of `server` (two attempts, no waiting) with `source` settings changed."""
    settings = make_settings(
        server,
        f"sqlite:///{tmp_path / 'l.db'}",
        source=source,
        retry={"max_attempts": 2, "initial_wait": 0.01, "max_wait": 0.02},
    )
    return SourceClient(settings.source, settings.retry, SPEC, sleep=lambda _s: None)


# -- the deadline of a whole request -------------------------------------------------------------


def test_a_dripping_answer_is_cut_at_the_request_deadline(
    server: HostileServer, tmp_path: Path
) -> None:
    """One byte every 50 ms never trips read_timeout; the request deadline ends each attempt,
    which counts as a transient failure (retried, then SourceUnavailable naming the setting)."""
    server.switches.drip_delay_s = 0.05
    client = client_for(server, tmp_path, request_timeout=0.5, read_timeout=5)
    with pytest.raises(SourceUnavailable) as info, client:
        client.login()
    assert "(deadline: no complete answer within source.request_timeout = 0.5 s)" in str(
        info.value
    )
    assert client.stats.retries == 1  # retry.max_attempts = 2: retried once
    assert len(server.requests) == 2


def test_the_deadline_shuts_the_socket_a_request_waits_on() -> None:
    """The watchdog shuts the registered socket when the deadline passes: a blocked read ends."""
    left, right = socket.socketpair()
    try:
        deadline = RequestDeadline(0.05)
        with deadline:
            deadline.attach(left)
            assert left.recv(10) == b""  # woken by the shutdown, not by data
        assert deadline.expired
    finally:
        left.close()
        right.close()


def test_a_deadline_that_passed_stops_reading_the_body() -> None:
    """read_capped checks the deadline between chunks (DeadlineExceeded)."""
    now = [0.0]
    deadline = RequestDeadline(1.0, monotonic=lambda: now[0])
    resp = _response(b"x" * (200 * 1024))
    now[0] = 2.0
    with pytest.raises(DeadlineExceeded):
        read_capped(resp, MIB, deadline)


@pytest.mark.slow
def test_sync_through_a_dripping_network_ends_with_exit_3(tmp_path: Path) -> None:
    """A proxy that trickles every answer a byte at a time: the run gives up at the deadline
    (exit 3, recorded) instead of holding the lock for hours; nothing was half-written."""
    with HostileServer(make_records(30)) as hostile, FaultProxy(_port(hostile)) as proxy:
        dep = _deployment(tmp_path, proxy.url(BASE_PATH), "request_timeout = 1.0")
        proxy.set_fault(Fault(FaultKind.DRIP, delay_s=0.05, chunk=1))
        run = dep.run("sync", timeout=90)
        assert run.returncode == 3, run.stderr[-2000:]
        assert "deadline" in run.stderr
        [row] = ledger_rows(dep.ledger_path, "sync_run")
        assert row["outcome"] == "source_unavailable"
        assert ledger_rows(dep.ledger_path, "task") == []


# -- the size of an answer -----------------------------------------------------------------------


def _response(body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    """A streamed response over `body` without Content-Length unless given."""
    resp = requests.Response()
    resp.status_code = 200
    resp.headers.update(headers or {})
    resp.raw = urllib3.HTTPResponse(
        body=io.BytesIO(body),
        headers=headers or {},
        preload_content=False,
        decode_content=False,
    )
    return resp


def test_body_without_length_is_counted_while_read() -> None:
    """No Content-Length: the cap is checked as the body streams in."""
    with pytest.raises(ResponseTooLarge):
        read_capped(_response(b"[" + b"0," * MIB + b"0]"), MIB)
    assert read_capped(_response(b'{"ok": true}'), MIB) == b'{"ok": true}'


def test_compressed_body_is_counted_after_decompression() -> None:
    """A gzip body small on the wire is refused once it inflates past the cap."""
    body = gzip.compress(b"0" * (4 * MIB))
    assert len(body) < MIB
    with pytest.raises(ResponseTooLarge):
        read_capped(_response(body, {"Content-Encoding": "gzip"}), MIB)


def test_gzip_bomb_page_is_refused_in_bounded_memory(server: HostileServer, tmp_path: Path) -> None:
    """A 510 KiB gzip answer inflating to 512 MiB is refused under the default cap, naming the
    URL and the cap, while memory stays far below the inflated size."""
    server.switches.gzip_bomb_bytes = 512 * MIB
    gzip_bomb(512 * MIB)  # made before it is served: the answer comes within the read timeout
    client = client_for(server, tmp_path)
    tracemalloc.start()
    try:
        with pytest.raises(SourceError) as info, client:
            list(client.iter_pages(None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "source.max_response_bytes = 33554432 bytes" in message
    assert f"{server.base_url}/tasks/search.cpx" in message
    assert peak < 96 * MIB, f"peak {peak / MIB:.0f} MiB"
    assert not isinstance(info.value, SourceUnavailable)  # refused, not retried
    assert len(server.searches()) == 1


def test_oversized_page_is_refused_before_it_is_read(server: HostileServer, tmp_path: Path) -> None:
    """A page announcing more bytes than the cap is refused from its Content-Length."""
    server.switches.oversized_body_bytes = 3 * MIB
    client = client_for(server, tmp_path, max_response_bytes=MIB)
    with pytest.raises(SourceError) as info, client:
        list(client.iter_pages(None))
    message = str(info.value)
    assert "announces" in message and "source.max_response_bytes = 1048576 bytes" in message
    assert "lower source.page_size or raise source.max_response_bytes" in message


@pytest.mark.slow
def test_sync_refuses_an_oversized_page_with_exit_3(tmp_path: Path) -> None:
    """The CLI: exit 3, the error names the cap and the (redacted) URL; no cursor moved."""
    with HostileServer(make_records(5)) as hostile:
        hostile.switches.oversized_body_bytes = 2 * MIB
        dep = _deployment(tmp_path, hostile.base_url, f"max_response_bytes = {MIB}")
        run = dep.run("sync", timeout=90)
    assert run.returncode == 3, run.stderr[-2000:]
    assert "source.max_response_bytes = 1048576 bytes" in run.stderr
    assert "/tasks/search.cpx" in run.stderr
    assert "hostile-pw-7" not in run.stderr + run.stdout
    assert ledger_rows(dep.ledger_path, "sync_state") == []


# -- helpers -------------------------------------------------------------------------------------


def _deployment(home: Path, base_url: str, source_toml: str) -> Deployment:
    """A session-authenticated, pull-only deployment reading the hostile server at `base_url`."""
    dep = Deployment(
        home=home,
        base_url=base_url,
        auth="session",
        username=USERNAME,
        password=PASSWORD,
        read_timeout=5.0,
        source_toml=source_toml,
        extra_toml="[push]\nenabled = false\n",
    )
    dep.write_config()
    return dep


def _port(hostile: HostileServer) -> int:
    return int(hostile.base_url.split(":")[2].split("/")[0])
