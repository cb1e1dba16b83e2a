"""A small threaded TCP proxy on 127.0.0.1 that misbehaves on purpose, between connector and
simulator.

``FaultProxy(upstream_port)`` listens on 127.0.0.1 (an ephemeral port) and forwards every
connection to ``127.0.0.1:upstream_port``. Each new connection takes the fault in force when it is
accepted (`set_fault`); a fault with ``times=k`` hits the next k connections only, then the proxy
passes traffic through again (so a client that retries can converge).

Faults (``FaultKind``):

- ``PASS``: forward both ways untouched.
- ``LATENCY``: hold each chunk the client sends for ``delay_s`` before forwarding it.
- ``STALL``: accept, read the request, never answer (until the client gives up or the proxy stops).
- ``RESET``: forward the response headers and ``after_bytes`` bytes of the body, then send a TCP
  RST (``SO_LINGER`` 0 and close).
- ``TRUNCATE``: forward the headers and ``after_bytes`` body bytes, then close cleanly (FIN).
- ``DRIP``: forward the response ``chunk`` bytes at a time, ``delay_s`` apart.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from simulator.loopback import Loopback, LoopbackServer, is_loopback

_BUF = 65536
_HEADER_END = b"\r\n\r\n"


class FaultKind(StrEnum):
    PASS = "pass"
    LATENCY = "latency"
    STALL = "stall"
    RESET = "reset"
    TRUNCATE = "truncate"
    DRIP = "drip"


@dataclass(frozen=True)
class Fault:
    """What the proxy does to the next connections (see the module docstring)."""

    kind: FaultKind = FaultKind.PASS
    delay_s: float = 0.0
    after_bytes: int = 0
    chunk: int = 1
    times: int | None = None


PASS = Fault()


@dataclass
class ProxyStats:
    """What the proxy saw: connections accepted, how many were faulted, bytes each way."""

    connections: int = 0
    faulted: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class _Connection(socketserver.BaseRequestHandler):
    server: _ProxyServer

    def handle(self) -> None:
        self.server.proxy._handle(self.request, self.server.fault_of(self.request))


class _ProxyServer(LoopbackServer):
    """Takes each connection's fault as it is accepted, in the order connections arrive."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        self._faults: dict[socket.socket, Fault] = {}
        self._faults_lock = threading.Lock()
        super().__init__(_Connection)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self._faults_lock:
            self._faults[request] = self.proxy._take_fault()
        return True

    def fault_of(self, request: socket.socket) -> Fault:
        with self._faults_lock:
            return self._faults.pop(request, PASS)


class FaultProxy(Loopback[_ProxyServer]):
    """A fault-injecting TCP proxy on loopback; use as a context manager."""

    thread_name = "fault-proxy"

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        if not is_loopback(upstream_host):
            raise ValueError("the fault proxy only forwards to loopback")
        super().__init__()
        self.upstream = (upstream_host, upstream_port)
        self.stats = ProxyStats()
        self._fault = PASS
        self._remaining: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def bind(self) -> _ProxyServer:
        self._stopping.clear()
        return _ProxyServer(self)

    # -- control -------------------------------------------------------------------------
    def set_fault(self, fault: Fault) -> None:
        """Apply `fault` to the next connections (``fault.times`` of them, or all)."""
        with self._lock:
            self._fault = fault
            self._remaining = fault.times

    def _take_fault(self) -> Fault:
        with self._lock:
            self.stats.connections += 1
            fault = self._fault
            if fault.kind is FaultKind.PASS:
                return fault
            if self._remaining is not None:
                if self._remaining <= 0:
                    return PASS
                self._remaining -= 1
            self.stats.faulted += 1
            return fault

    def on_stopping(self) -> None:
        self._stopping.set()  # a held or trickled chunk is dropped at once

    def stop(self) -> None:
        """Stop accepting, cut every connection (client and upstream sides), join the pumps."""
        super().stop()
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        for thread in threads:
            thread.join(timeout=5)

    # -- plumbing ------------------------------------------------------------------------
    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.close()

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _handle(self, client: socket.socket, fault: Fault) -> None:
        try:
            if fault.kind is FaultKind.STALL:
                self._stall(client)
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                return
            upstream.settimeout(None)
            self._track(upstream)
            try:
                self._spawn(self._pump_up, client, upstream, fault)
                self._pump_down(upstream, client, fault)
            finally:
                self._forget(upstream)
        finally:
            self._forget(client)

    def _stall(self, client: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                data = client.recv(_BUF)
            except OSError:
                return
            if not data:
                return
            self.stats.bytes_up += len(data)

    def _pump_up(self, client: socket.socket, upstream: socket.socket, fault: Fault) -> None:
        """Client → upstream, each chunk held for `delay_s` under LATENCY."""
        try:
            while True:
                data = client.recv(_BUF)
                if not data:
                    with contextlib.suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    return
                if (
                    fault.kind is FaultKind.LATENCY
                    and fault.delay_s > 0
                    and self._stopping.wait(fault.delay_s)
                ):
                    return
                upstream.sendall(data)
                self.stats.bytes_up += len(data)
        except OSError:
            return

    def _pump_down(self, upstream: socket.socket, client: socket.socket, fault: Fault) -> None:
        """Upstream → client, cut or trickled as the fault says."""
        cutting = fault.kind in (FaultKind.RESET, FaultKind.TRUNCATE)
        head = b""
        budget: int | None = None  # bytes still allowed through, once the headers are known
        try:
            while True:
                data = upstream.recv(_BUF)
                if not data:
                    return
                if cutting:
                    if budget is None:
                        head += data
                        end = head.find(_HEADER_END)
                        if end < 0:
                            continue
                        budget = end + len(_HEADER_END) + fault.after_bytes
                        data, head = head, b""
                    if len(data) >= budget:
                        client.sendall(data[:budget])
                        self.stats.bytes_down += budget
                        self._cut(client, reset=fault.kind is FaultKind.RESET)
                        return
                    client.sendall(data)
                    self.stats.bytes_down += len(data)
                    budget -= len(data)
                    continue
                if fault.kind is FaultKind.DRIP:
                    step = max(fault.chunk, 1)
                    for i in range(0, len(data), step):
                        if self._stopping.wait(fault.delay_s):
                            return
                        client.sendall(data[i : i + step])
                        self.stats.bytes_down += len(data[i : i + step])
                    continue
                client.sendall(data)
                self.stats.bytes_down += len(data)
        except OSError:
            return

    def _cut(self, client: socket.socket, *, reset: bool) -> None:
        if reset:
            # SHUT_RD wakes our own reader thread without telling the peer anything; closing
            # with a zero linger then sends the RST.
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RD)
            with contextlib.suppress(OSError):
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        else:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self._forget(client)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll `predicate()` until true or `timeout` seconds pass (for tests)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
