"""The loopback server base (`simulator.loopback`): a peer that hangs up mid-answer is no error."""

from __future__ import annotations

import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler

import pytest

from simulator.loopback import Loopback, LoopbackHTTPServer

ANSWER = b"x" * (8 * 1024 * 1024)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/boom":
            raise ValueError("a fault of the server")
        self.server.started.set()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(ANSWER)))
        self.end_headers()
        for start in range(0, len(ANSWER), 65536):
            self.wfile.write(ANSWER[start : start + 65536])
            time.sleep(0.001)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.started = threading.Event()
        super().__init__(_Handler)


class _Big(Loopback[_Server]):
    def bind(self) -> _Server:
        return _Server()


def _ask_and_hang_up(port: int, path: str, *, wait: threading.Event | None) -> None:
    """Send a request and close with a reset (SO_LINGER 0) once the answer has started."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    if wait is not None:
        assert wait.wait(5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _until_served(server: _Server) -> None:
    ends = time.monotonic() + 10
    while server._connections and time.monotonic() < ends:
        time.sleep(0.01)
    assert not server._connections


def test_a_client_hanging_up_mid_answer_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    """A client past its deadline or a killed run hangs up while the server writes: the
    server goes on quietly. (socketserver printed a traceback for each such connection,
    'Exception occurred during processing of request', BrokenPipeError / ConnectionResetError.)"""
    with _Big() as big:
        _ask_and_hang_up(big.port, "/big", wait=big.server.started)
        _until_served(big.server)
    assert capsys.readouterr().err == ""


def test_a_fault_of_the_server_is_still_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """Any other exception in a handler is printed, traceback and all, as socketserver does."""
    with _Big() as big:
        _ask_and_hang_up(big.port, "/boom", wait=None)
        time.sleep(0.2)
        _until_served(big.server)
    err = capsys.readouterr().err
    assert "Exception occurred during processing of request" in err
    assert "ValueError: a fault of the server" in err
