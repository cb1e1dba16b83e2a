"""The fault proxy itself: each fault does what it says to a plain HTTP exchange on loopback."""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.support.faultproxy import Fault, FaultKind, FaultProxy, wait_until

BODY = bytes(range(256)) * 40  # 10 240 bytes


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: int) -> Iterator[FaultProxy]:
    with FaultProxy(upstream) as p:
        yield p


def _get(proxy: FaultProxy, timeout: float = 2.0) -> requests.Response:
    with requests.Session() as session:
        return session.get(proxy.url("/x"), timeout=timeout)


def test_pass_forwards_untouched(proxy: FaultProxy) -> None:
    """Without a fault, GET and POST bodies arrive byte for byte."""
    assert _get(proxy).content == BODY
    with requests.Session() as session:
        assert session.post(proxy.url("/echo"), data=b"hello", timeout=2).content == b"hello"
    assert proxy.stats.faulted == 0


def test_latency_delays_but_delivers(proxy: FaultProxy) -> None:
    """LATENCY holds the request back by delay_s; the response is still whole."""
    proxy.set_fault(Fault(FaultKind.LATENCY, delay_s=0.3))
    start = time.monotonic()
    assert _get(proxy).content == BODY
    assert time.monotonic() - start >= 0.3


def test_stall_never_answers(proxy: FaultProxy) -> None:
    """STALL accepts the connection and never answers: the client's read timeout fires."""
    proxy.set_fault(Fault(FaultKind.STALL))
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(proxy, timeout=0.3)
    assert time.monotonic() - start < 2
    assert proxy.stats.faulted == 1


def test_reset_mid_body_sends_rst(proxy: FaultProxy) -> None:
    """RESET lets the headers and N body bytes through, then the connection is reset."""
    proxy.set_fault(Fault(FaultKind.RESET, after_bytes=1000))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
    conn.request("GET", "/x")
    response = conn.getresponse()
    assert response.status == 200
    got = b""
    with pytest.raises(ConnectionResetError):
        while chunk := response.read1(4096):
            got += chunk
    assert got == BODY[:1000]
    conn.close()


def test_truncate_closes_early(proxy: FaultProxy) -> None:
    """TRUNCATE closes cleanly after N body bytes: the client sees an incomplete body."""
    proxy.set_fault(Fault(FaultKind.TRUNCATE, after_bytes=500))
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=2)
    conn.request("GET", "/x")
    response = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead) as info:
        response.read()
    assert info.value.partial == BODY[:500]
    conn.close()


@pytest.mark.parametrize(
    "kind",
    [pytest.param(FaultKind.RESET, id="reset"), pytest.param(FaultKind.TRUNCATE, id="truncate")],
)
def test_requests_sees_a_connection_error(proxy: FaultProxy, kind: FaultKind) -> None:
    """Through requests, a cut body raises a requests exception (what the client classifies)."""
    proxy.set_fault(Fault(kind, after_bytes=100))
    with pytest.raises(requests.exceptions.RequestException):
        _get(proxy)


def test_drip_trickles_the_whole_response(proxy: FaultProxy) -> None:
    """DRIP delivers everything, chunk by chunk, delay_s apart."""
    proxy.set_fault(Fault(FaultKind.DRIP, delay_s=0.01, chunk=2048))
    start = time.monotonic()
    assert _get(proxy).content == BODY
    assert time.monotonic() - start >= 0.05  # ≥ 6 chunks (headers + 10 KiB) 10 ms apart


def test_times_limits_the_fault_then_passes(proxy: FaultProxy) -> None:
    """A fault with times=2 hits the next two connections, then traffic passes again."""
    proxy.set_fault(Fault(FaultKind.TRUNCATE, after_bytes=10, times=2))
    for _ in range(2):
        with pytest.raises(requests.exceptions.RequestException):
            _get(proxy)
    assert _get(proxy).content == BODY
    assert proxy.stats.faulted == 2
    assert proxy.stats.connections == 3


def test_stop_closes_stalled_connections(upstream: int) -> None:
    """Stopping the proxy ends stalled connections and its threads promptly."""
    proxy = FaultProxy(upstream).start()
    proxy.set_fault(Fault(FaultKind.STALL))
    client = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert wait_until(lambda: proxy.stats.bytes_up > 0)
    start = time.monotonic()
    proxy.stop()
    try:
        ended = client.recv(10) == b""
    except ConnectionResetError:
        ended = True
    assert ended
    assert time.monotonic() - start < 2
    client.close()


def test_refuses_a_non_loopback_upstream() -> None:
    """The proxy never forwards anywhere but loopback."""
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy(80, upstream_host="example.org")
