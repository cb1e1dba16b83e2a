"""The simulator as a real HTTP server on loopback, its Python API, and the blocking `serve`.

::

    with Simulator(SimulatorConfig(tasks=500, seed=1, today=date(2022, 3, 7))) as sim:
        requests.post(sim.url("/tasks/search.cpx"), json={"limit": 200},
                      headers={"Authorization": f"Bearer {sim.credentials.token}"})
        sim.advance_days(1)
        sim.notifications   # created notifications, replays excluded

It is a `ThreadingHTTPServer` speaking HTTP/1.1 with keep-alive; every response carries the
simulated clock in its `Date` header.
"""

from __future__ import annotations

import contextlib
import shlex
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import structlog

from connector.errors import ConfigError, Problem
from simulator import admin, api
from simulator.config import Credentials, SimulatorConfig
from simulator.core import SimCore
from simulator.faults import Faults
from simulator.generator import Scenario
from simulator.loopback import Loopback, LoopbackHTTPServer
from simulator.recorder import RecordedRequest, RequestLog
from simulator.simclock import SimClock
from simulator.state import Notification, TrackingWrite
from simulator.timefmt import http_date
from simulator.wire import Request, Response
from simulator.world import World

log = structlog.get_logger(__name__)

SERVER_NAME = "iDesk/6 (simulator)"
IDLE_TIMEOUT_SECONDS = 120.0
"""A keep-alive connection idle this long is closed by the server."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    # -- stdlib hooks ------------------------------------------------------------------------------

    def version_string(self) -> str:
        return SERVER_NAME

    def date_time_string(self, timestamp: float | None = None) -> str:
        return http_date(self.server.core.now())

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: every API request is in `Simulator.requests` instead."""

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # -- one exchange ----------------------------------------------------------------------------

    def _serve(self) -> None:
        core = self.server.core
        at = core.now()
        split = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        raw_headers = dict(self.headers.items())
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in raw_headers.items()},
            body=body,
            client=str(self.client_address[0]),
        )
        if split.path == admin.PREFIX or split.path.startswith(admin.PREFIX + "/"):
            self._send(admin.handle(core, request))
            return
        base = core.config.base_path
        endpoint = split.path[len(base) :] if split.path.startswith(base + "/") else None
        response = api.handle(core, request, endpoint)
        core.requests.append(
            RecordedRequest(
                method=self.command,
                path=split.path,
                endpoint=endpoint if endpoint is not None else split.path,
                query=request.query,
                headers=raw_headers,
                body=body,
                at=at,
                status=response.status,
                faults=tuple(response.faults),
                client=request.client,
            )
        )
        self._send(response)

    def _send(self, response: Response) -> None:
        if response.delay > 0:
            time.sleep(response.delay)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if response.drop:
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(response.body)


class _Server(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], core: SimCore) -> None:
        self.core = core
        super().__init__(_Handler, *address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator_connection_error", client=str(client_address[0]))


class Simulator(Loopback[_Server]):
    """An iDesk-style server on 127.0.0.1 serving a generated world (contract: docs/source-api.md).

    Use it as a context manager, or call `start()` / `stop()`. Refuses non-loopback hosts
    (`ConfigError`, raised by `SimulatorConfig`).
    """

    thread_name = "idesk-simulator"

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        super().__init__()
        self.config = config or SimulatorConfig()
        self.core = SimCore(self.config)

    # -- lifecycle -------------------------------------------------------------------------------

    def bind(self) -> _Server:
        try:
            return _Server((self.config.host, self.config.port), self.core)
        except OSError as exc:
            where = f"{self.config.host}:{self.config.port}"
            raise ConfigError(
                [Problem("simulator.port", f"cannot listen on {where}: {exc.strerror or exc}")],
                source="simulator",
            ) from exc

    def start(self) -> Self:
        """Bind and serve in a background thread (idempotent)."""
        if self.running:
            return self
        super().start()
        log.info(
            "simulator_started",
            base_url=self.base_url,
            tasks=len(self.world),
            seed=self.world.seed,
            today=self.world.today.isoformat(),
            faults=self.core.faults.to_spec(),
            **({"tenant": self.config.tenant} if self.config.tenant else {}),
        )
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        if not self.running:
            return
        super().stop()
        log.info("simulator_stopped", requests=len(self.core.requests))

    # -- where and who -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def port(self) -> int:
        if not self.running:
            raise RuntimeError("the simulator is not started")
        return self.server.port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/ubnd/smartcloud``: the contract's paths are relative to it."""
        return self.root_url + self.config.base_path

    def url(self, path: str = "") -> str:
        """The absolute URL of a contract path such as ``/tasks/search.cpx``."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    @property
    def admin_url(self) -> str:
        return self.root_url + admin.PREFIX

    @property
    def credentials(self) -> Credentials:
        return self.config.credentials

    # -- truth for tests -------------------------------------------------------------------------

    @property
    def world(self) -> World:
        return self.core.world

    @property
    def clock(self) -> SimClock:
        return self.core.clock

    @property
    def request_log(self) -> RequestLog:
        return self.core.requests

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received so far (admin calls excluded), oldest first."""
        return self.core.requests.all()

    @property
    def notifications(self) -> list[Notification]:
        """Notifications effectively created (one per distinct send; replays excluded)."""
        return self.core.notifications

    @property
    def tracking_writes(self) -> list[TrackingWrite]:
        """Tracking-status writes that took effect (replays excluded)."""
        return self.core.tracking_writes

    def count_requests(
        self,
        endpoint: str | None = None,
        *,
        method: str | None = None,
        status: int | None = None,
        fault: str | None = None,
    ) -> int:
        """How many API requests match (``endpoint`` like ``/notifications/send.cpx``)."""
        return self.core.requests.count(
            endpoint=endpoint, method=method, status=status, fault=fault
        )

    def state(self) -> dict[str, Any]:
        """The same as ``GET /_sim/state``."""
        return self.core.state()

    # -- time and faults ---------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.core.now()

    def today(self) -> date:
        """The simulated local date."""
        return self.core.today()

    def advance(self, delta: timedelta) -> datetime:
        return self.core.advance(delta)

    def advance_days(self, days: float) -> datetime:
        return self.core.advance_days(days)

    @property
    def faults(self) -> Faults:
        return self.core.faults

    def set_faults(self, faults: Faults) -> None:
        self.core.set_faults(faults)

    def expire_sessions(self) -> int:
        return self.core.expire_sessions()

    # -- changing the world ------------------------------------------------------------------------

    def complete_task(self, task_id: int, at: datetime | None = None) -> None:
        self.core.complete_task(task_id, at)

    def change_deadline(self, task_id: int, deadline: date | None, reason: str = "") -> None:
        self.core.change_deadline(task_id, deadline, reason)

    def confirm_task(self, task_id: int, confirmed: bool = True) -> None:
        self.core.confirm_task(task_id, confirmed)

    def report_progress(self, task_id: int, progress: int) -> None:
        self.core.report_progress(task_id, progress)

    def withdraw_task(self, task_id: int) -> None:
        self.core.withdraw_task(task_id)

    def touch(self, task_id: int) -> None:
        self.core.touch(task_id)

    def soft_delete(self, task_id: int) -> None:
        self.core.soft_delete(task_id)

    def hard_delete(self, task_id: int) -> None:
        self.core.hard_delete(task_id)

    def add_tasks(
        self, count: int, *, same_timestamp: bool = False, scenario: Scenario | None = None
    ) -> list[int]:
        return self.core.add_tasks(count, same_timestamp=same_timestamp, scenario=scenario)

    def banner(self, lang: str = "vi") -> str:
        return banner(self, lang)


def _gateway_lines(sim: Simulator, vi: bool) -> list[str]:
    """The banner's lines for the integration gateway's modes (static headers, OAuth 2.0)."""
    creds, lines = sim.credentials, []
    if "headers" in creds.modes:
        lines.append(
            f"  {'Cổng tích hợp (header)' if vi else 'Gateway headers'}: "
            f"X-App-Name: {creds.app_name}, X-Api-Key: {creds.api_key} (or ?apikey=)"
        )
    if "oauth2" in creds.modes:
        lines.append(
            f"  OAuth 2.0: POST {api.TOKEN_PATH} grant_type=client_credentials "
            f"client_id={creds.client_id} client_secret={creds.client_secret}"
        )
    return lines


def _idesk6_banner(sim: Simulator, vi: bool) -> list[str]:
    """The iDesk 6 mode's banner: its endpoints, the account code, a curl example."""
    from simulator import idesk6  # noqa: PLC0415 - the iDesk 6 mode only

    creds = sim.credentials
    jar = "/tmp/idesk6-sim.cookies"  # noqa: S108 - an example path shown to the user
    form = shlex.quote(f"username={creds.username}&password={creds.password}")
    detail = shlex.quote(sim.url(f"{idesk6.DETAIL}?exeacode={creds.account_code}&id=<id>"))
    return [
        (
            f"  {'Mã tài khoản (exeacode, source.account_code)' if vi else 'Account code (exeacode, source.account_code)'}: "  # noqa: E501
            f"{creds.account_code}"
        ),
        f"  {'Danh sách' if vi else 'List'}: POST {idesk6.PROCESS} (page, pageSize); "
        f"{'chi tiết' if vi else 'detail'}: GET {idesk6.DETAIL}; "
        f"{'cây tổ chức' if vi else 'organisation tree'}: POST {idesk6.TREE}",
        "",
        "Ví dụ:" if vi else "Example:",
        f"  curl -s -c {jar} -d {form} {shlex.quote(sim.url(api.LOGIN))}",
        f"  curl -s -b {jar} -d 'page=1&pageSize=20' {shlex.quote(sim.url(idesk6.PROCESS))}",
        f"  curl -s -b {jar} {detail}",
    ]


def _banner_head(sim: Simulator, vi: bool, running: str) -> list[str]:
    """The banner's first lines, the same in both dialects: what runs, the base URL, the
    credentials of each login mode, the faults and the admin URL."""
    creds = sim.credentials
    lines = [running, f"  {'Địa chỉ gốc (base URL)' if vi else 'Base URL'}: {sim.base_url}"]
    if "session" in creds.modes:
        label = "Đăng nhập theo phiên" if vi else "Session login"
        lines.append(
            f"  {label}: username={creds.username} password={creds.password} "
            f"(POST {api.LOGIN}, cookie JSESSIONID)"
        )
    if "token" in creds.modes:
        lines.append(f"  Token: Authorization: Bearer {creds.token}")
    lines += _gateway_lines(sim, vi)
    lines += [
        f"  {'Lỗi giả lập' if vi else 'Faults'}: {sim.faults.to_spec()}",
        f"  {'Quản trị' if vi else 'Admin'}: {sim.admin_url}/state",
    ]
    return lines


def banner(sim: Simulator, lang: str = "vi") -> str:
    """What the CLI prints once the simulator listens: URLs, credentials, curl examples."""
    vi = lang != "en"
    if sim.config.dialect == "idesk6":
        return _banner_idesk6(sim, vi)
    creds, world = sim.credentials, sim.world
    search = shlex.quote(sim.url(api.SEARCH))
    login = shlex.quote(sim.url(api.LOGIN))
    jar = "/tmp/idesk-sim.cookies"  # noqa: S108 - an example path shown to the user
    json_type = "-H 'Content-Type: application/json'"
    first_page = shlex.quote('{"start": 0, "limit": 200, "includeDeleted": true}')
    next_page = shlex.quote('{"start": 200, "limit": 200, "includeDeleted": true}')
    lines = _banner_head(
        sim,
        vi,
        f"Trình mô phỏng iDesk đang chạy: {len(world)} nhiệm vụ, seed {world.seed}, "
        f"hôm nay {sim.today().isoformat()}."
        if vi
        else f"iDesk simulator running: {len(world)} tasks, seed {world.seed}, "
        f"today {sim.today().isoformat()}.",
    )
    lines += [
        "",
        "Ví dụ (phân trang danh sách nhiệm vụ):" if vi else "Example (paging through tasks):",
    ]
    if "session" in creds.modes:
        form = shlex.quote(f"username={creds.username}&password={creds.password}")
        lines += [
            f"  curl -s -c {jar} -d {form} {login}",
            f"  curl -s -b {jar} {json_type} -d {first_page} {search}",
        ]
    if "token" in creds.modes:
        bearer = shlex.quote(f"Authorization: Bearer {creds.token}")
        lines.append(f"  curl -s -H {bearer} {json_type} -d {next_page} {search}")
    lines.append("Nhấn Ctrl+C để dừng." if vi else "Press Ctrl+C to stop.")
    return "\n".join(lines)


def _banner_idesk6(sim: Simulator, vi: bool) -> str:
    world = sim.world
    lines = _banner_head(
        sim,
        vi,
        f"Trình mô phỏng iDesk 6 đang chạy: {len(world)} văn bản, seed {world.seed}, "
        f"hôm nay {sim.today().isoformat()}."
        if vi
        else f"iDesk 6 simulator running: {len(world)} documents, seed {world.seed}, "
        f"today {sim.today().isoformat()}.",
    )
    lines += [*_idesk6_banner(sim, vi), "Nhấn Ctrl+C để dừng." if vi else "Press Ctrl+C to stop."]
    return "\n".join(lines)


def tenant_banner(sims: list[Simulator], lang: str = "vi") -> str:
    """What the CLI prints once several tenants listen: for each its world, base URL, logins,
    faults and admin URL."""
    vi = lang != "en"
    lines = [
        f"Trình mô phỏng iDesk đang chạy {len(sims)} hệ thống (tenant), mỗi hệ thống một cổng:"
        if vi
        else f"iDesk simulator running {len(sims)} systems (tenants), each on its own port:"
    ]
    for sim in sims:
        world, day = sim.world, sim.today().isoformat()
        if sim.config.dialect == "idesk6":
            what = f"{len(world)} văn bản (iDesk 6)" if vi else f"{len(world)} documents (iDesk 6)"
        else:
            what = f"{len(world)} nhiệm vụ" if vi else f"{len(world)} tasks"
        province = world.unit_set.province
        running = (
            f"[{sim.config.tenant}] {what}, seed {world.seed}, đơn vị tỉnh {province}, "
            f"hôm nay {day}."
            if vi
            else f"[{sim.config.tenant}] {what}, seed {world.seed}, units of {province}, "
            f"today {day}."
        )
        lines += _banner_head(sim, vi, running)
    lines.append("Nhấn Ctrl+C để dừng." if vi else "Press Ctrl+C to stop.")
    return "\n".join(lines)


def serve(
    config: SimulatorConfig,
    port: int | None = None,
    *,
    on_ready: Callable[[Simulator], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run a simulator until `stop` is set or Ctrl+C (which ends it normally).

    `port` overrides `config.port`; `on_ready(sim)` is called once it listens (print
    `sim.banner()` there). Raises `ConfigError` when the port cannot be bound.
    """
    if port is not None:
        config = replace(config, port=port)
    event = stop or threading.Event()
    with Simulator(config) as sim:
        if on_ready is not None:
            on_ready(sim)
        try:
            while not event.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("simulator_interrupted")
