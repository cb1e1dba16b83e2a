"""Loopback servers: a threaded server on 127.0.0.1, an ephemeral port, a context manager, a log.

The simulator (`simulator.server.Simulator`) and the test servers of ``tests/support/``
(``dialect_server.py``, ``hostile_server.py``, ``faultproxy.py``) are built on this one base:

- `LoopbackServer`: a threaded TCP server bound to a loopback address only (port 0 asks the
  system for a free one), with daemon threads; it remembers its open connections so that
  `LoopbackServer.close_connections` can cut them (a keep-alive connection would otherwise
  outlive the server);
- `LoopbackHTTPServer`: the same speaking HTTP (``http.server`` handlers);
- `Loopback`: runs one such server in a background thread, as a context manager or with
  `Loopback.start` / `Loopback.stop`, and says where it listens (`Loopback.port`,
  `Loopback.root_url`, `Loopback.url`);
- `RequestLog`: what a server received, appended by its threads, read by the tests.

::

    class Echo(Loopback[LoopbackHTTPServer]):
        def bind(self) -> LoopbackHTTPServer:
            return LoopbackHTTPServer(EchoHandler)

    with Echo() as echo:
        requests.get(echo.url("/ping"))
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from abc import ABC, abstractmethod
from http.server import HTTPServer
from typing import Any, Generic, Self, TypeVar

LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "::1", "localhost"})
"""The addresses a loopback server may bind (and a test proxy may forward to)."""

POLL_INTERVAL_S = 0.02
"""How often the serving thread looks for `Loopback.stop` (seconds)."""

JOIN_TIMEOUT_S = 5.0
"""How long `Loopback.stop` waits for the serving thread."""

HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)
"""What a handler meets when its peer has gone (a client past its deadline, a killed run)."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine's loopback interface (``127.0.0.0/8``, ``::1``)."""
    return host in LOOPBACK_HOSTS or host.startswith("127.")


class LoopbackServer(socketserver.ThreadingTCPServer):
    """A threaded TCP server on a loopback address (port 0: an ephemeral one).

    Refuses any other address (`ValueError`). Every connection is served in a daemon thread of
    its own; the open ones are remembered until their handler returns.
    """

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self,
        handler: type[socketserver.BaseRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not is_loopback(host):
            raise ValueError(f"a loopback server listens on loopback only, not on {host!r}")
        if ":" in host:
            self.address_family = socket.AF_INET6
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host, port), handler)

    @property
    def host(self) -> str:
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that hung up mid-exchange is part of the job, not a fault of the server:
        nothing is printed. Anything else is printed, traceback and all, as socketserver does."""
        if isinstance(sys.exc_info()[1], HUNG_UP):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Cut every connection still open (both ways): its peer sees the end at once."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class LoopbackHTTPServer(LoopbackServer, HTTPServer):
    """A `LoopbackServer` for ``http.server`` request handlers."""


ServerT = TypeVar("ServerT", bound=LoopbackServer)


class Loopback(ABC, Generic[ServerT]):
    """A loopback server run in a background thread; a context manager.

    Subclasses say how to make their server (`bind`); `start` binds and serves (idempotent),
    `stop` stops serving, cuts the connections still open and closes the socket (idempotent).
    Override `on_stopping` to wake handlers that wait (it runs before the server is shut down).
    """

    thread_name = "loopback"

    def __init__(self) -> None:
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None

    @abstractmethod
    def bind(self) -> ServerT:
        """A new server, bound and listening (not yet serving)."""

    def on_stopping(self) -> None:
        """Called by `stop` before the server shuts down."""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background thread (idempotent)."""
        if self._server is not None:
            return self
        server = self.bind()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"{self.thread_name}-{server.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.on_stopping()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=JOIN_TIMEOUT_S)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> ServerT:
        """The running server (`RuntimeError` when not started)."""
        if self._server is None:
            raise RuntimeError(f"the {self.thread_name} server is not started")
        return self._server

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT`` (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "") -> str:
        """The absolute URL of `path` on this server."""
        return self.root_url + path


RecordT = TypeVar("RecordT")


class RequestLog(Generic[RecordT]):
    """The requests a server received, oldest first; appended by its threads (thread-safe)."""

    def __init__(self) -> None:
        self._items: list[RecordT] = []
        self._lock = threading.Lock()

    def append(self, request: RecordT) -> None:
        with self._lock:
            self._items.append(request)

    def all(self) -> list[RecordT]:
        """A copy of every recorded request, oldest first."""
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
