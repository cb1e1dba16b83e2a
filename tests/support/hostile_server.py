"""A small iDesk-contract server on 127.0.0.1 (ephemeral port) that misbehaves on purpose.

``HostileServer(records)`` serves the contract (mapping ``idesk``) under ``/ubnd/smartcloud``:
``auth/login.cpx`` (form; cookie ``JSESSIONID``) or a bearer token, ``tasks/search.cpx``
(``modifiedFrom``/``start``/``limit``/``includeDeleted``; ordered by ``lastModifyStr``, then
``id``), ``tasks/view.cpx``, ``tasks/tracking.cpx`` and ``notifications/send.cpx`` (with
idempotency keys), ``notifications/list.cpx`` and ``comm/units.cpx``, from an in-memory list of
**raw** task records and raw units. Records are served exactly as given, so a test can plant any
hostile value (a year-9999 date, an id of 2**63, a NUL byte, the same id twice...). The server
compares and sorts ``lastModifyStr`` as text (the contract's ISO strings sort that way), so a
malformed record never breaks the server itself.

The server's clock is `HostileState.now` (the clock of the records: a tracking write stamps it);
move it with `HostileServer.advance`. Every request is recorded (`HostileServer.requests`).

Misbehaviours are switched on one at a time through `Switches` (``server.switches.NAME =
value``, also while it runs); every switch is off by default, so the server is honest until a
test says otherwise.

Adding a switch: add a field to `Switches` (off by default, with a docstring saying what the
server then does), and read it where the behaviour lives: the listing in `_Handler._search`,
writes in `_Handler._tracking` / `_Handler._notify`, and everything that leaves the server
(headers, body bytes, pacing, the connection itself) in `_Handler._reply`, the single place a
response is written.
"""

from __future__ import annotations

import contextlib
import functools
import json
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from simulator.loopback import Loopback, LoopbackHTTPServer, RequestLog
from tests.support.contract import en_us, utc_str
from tests.support.factories import RECORDS_NOW, ServerLogin

BASE_PATH = "/ubnd/smartcloud"
USERNAME = "hostile-clerk"
PASSWORD = "hostile-pw-7"
TOKEN = "hostile-token-5"
MAX_LIMIT = 500
DEFAULT_NOW = RECORDS_NOW
"""The server's clock unless told otherwise: `make_records` counts back from it."""


@dataclass
class Switches:
    """One switch per misbehaviour; all off by default (an honest server).

    Listing (``tasks/search.cpx``) and clock:
    """

    date_offset_s: float = 0.0
    """The ``Date`` header is the records' clock plus this many seconds (negative: behind)."""

    no_date: bool = False
    """Answers carry no ``Date`` header at all."""

    total_is_page_length: bool = False
    """``total`` is the number of items on the page, not the number of matches."""

    total_without_deleted: bool = False
    """``total`` leaves out soft-deleted records even when ``includeDeleted`` is true."""

    ignore_paging: bool = False
    """``start`` and ``limit`` are ignored: every search answers the first page (of the default
    size, `page_size_when_ignoring`) of the filtered list, again and again."""

    page_size_when_ignoring: int = 200
    """How many records a search answers when `ignore_paging` is on."""

    # Transport and writes (delivery: request deadline, size caps, pace, replies lost):

    drip_delay_s: float = 0.0
    """Every answer, status line and headers included, is written `drip_chunk` bytes at a time,
    this many seconds apart (0: at once). The drip stops when the client hangs up."""

    drip_chunk: int = 1
    """Bytes per write while `drip_delay_s` is on."""

    gzip_bomb_bytes: int = 0
    """Searches answer a gzip body (``Content-Encoding: gzip``) that inflates to this many bytes
    (a JSON answer padded with zeros; about 1/1000 of that on the wire). 0: off."""

    oversized_body_bytes: int = 0
    """Searches answer their JSON padded (an extra ``pad`` key) to at least this many bytes,
    uncompressed. 0: off."""

    oversized_field_chars: int = 0
    """Records served (search, view) have ``subject`` and ``steeringContent`` padded to this
    many characters. 0: off."""

    write_429_every: int = 0
    """Every n-th write (tracking, notification) is answered ``429`` with ``Retry-After:
    retry_after`` and not applied. 0: off."""

    min_interval_s: float = 0.0
    """Any request arriving less than this after the previous one let through is answered
    ``429`` with ``Retry-After: retry_after`` (a reverse proxy's limit without burst). 0: off."""

    retry_after: str = "1"
    """The ``Retry-After`` value of the 429 answers above (seconds, or an HTTP-date)."""

    fail_next_writes: int = 0
    """The next n writes (tracking, notification) are answered ``500`` with a JSON error body
    (an application error, not the proxy's 502-504) and not applied; the count goes down by
    one each time."""

    cut_after_write: int = 0
    """The next n writes (tracking, notification; replays included) are applied, then the
    connection is closed without an answer; the count goes down by one each time."""


@dataclass
class Recorded:
    """One request the server received (headers as sent; the form and JSON body parsed)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    headers: dict[str, str]


@dataclass
class Throttle:
    """What the 429 switches keep: writes seen, the last request let through, 429s given, and
    requests that came before a ``Retry-After`` already given had passed (`early`)."""

    writes: int = 0
    last_passed: float | None = None
    limited: int = 0
    too_close: int = 0
    """Of the 429s, those given because a request came within `min_interval_s`."""
    hold_until: float = 0.0
    early: int = 0
    arrivals: list[tuple[str, float]] = field(default_factory=list)
    """(path, monotonic time) of every request, in arrival order."""


@dataclass
class HostileState:
    """What the server holds: records, units, sessions, writes, its clock and the request log."""

    records: list[dict[str, Any]]
    units: list[dict[str, Any]]
    now: datetime
    switches: Switches = field(default_factory=Switches)
    sessions: set[str] = field(default_factory=set)
    idempotency: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    log: RequestLog[Recorded] = field(default_factory=RequestLog)
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopping: threading.Event = field(default_factory=threading.Event)
    throttle: Throttle = field(default_factory=Throttle)

    def matching(self, modified_from: str | None, include_deleted: bool) -> list[dict[str, Any]]:
        """The records a search selects, in the contract's order (as text: hostile-proof)."""
        chosen = [
            r
            for r in self.records
            if (include_deleted or r.get("deleted") != "Y")
            and (modified_from is None or str(r.get("lastModifyStr", "")) >= modified_from)
        ]
        return sorted(chosen, key=_order)


def _encode(body: Any) -> bytes:
    """A body as UTF-8 bytes; JSON holding a lone surrogate goes out with ASCII escapes
    (``\\ud800``), as a Java server sends it."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, ensure_ascii=True).encode("ascii")


def _order(record: dict[str, Any]) -> tuple[str, int, str]:
    raw_id = record.get("id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        return str(record.get("lastModifyStr", "")), 0, f"{raw_id:+040d}"
    return str(record.get("lastModifyStr", "")), 1, str(raw_id)


def _seconds(retry_after: str) -> float | None:
    try:
        return float(retry_after)
    except ValueError:
        return None


@functools.cache
@functools.cache
def gzip_bomb(inflated: int) -> bytes:
    """A gzip body that inflates to about `inflated` bytes of a JSON search answer; made once
    per size (512 MiB takes 1.5 s of CPU, longer than a test client's read timeout on a loaded
    machine: a test calls it before serving, so the server answers at once)."""
    head, tail = b'{"total": 0, "items": [], "pad": "', b'"}'
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(head)]
    block = b"0" * (1 << 20)
    left = max(0, inflated - len(head) - len(tail))
    while left > 0:
        parts.append(packer.compress(block[: min(left, len(block))]))
        left -= len(block)
    parts.append(packer.compress(tail))
    parts.append(packer.flush())
    return b"".join(parts)


UNITS: tuple[dict[str, Any], ...] = (
    {
        "commCode": "STTTT",
        "aname": "Sở Thông tin và Truyền thông",
        "kind": "department",
        "parentCode": "",
    },
    {"commCode": "SNV", "aname": "Sở Nội vụ", "kind": "department", "parentCode": ""},
    {"commCode": "VPUBND", "aname": "Văn phòng UBND tỉnh", "kind": "office", "parentCode": ""},
    {
        "commCode": "TCT",
        "aname": "Tổ công tác của Chủ tịch",
        "kind": "office",
        "parentCode": "VPUBND",
    },
)
"""The units served by default (`HostileServer` copies them: a test may change its own)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # -- plumbing: every response leaves through _reply -------------------------------------------

    def _reply(
        self,
        status: int,
        body: Any,
        *,
        headers: dict[str, str] | None = None,
        html: bool = False,
    ) -> None:
        """Write one response (the place for switches about headers, bytes and the connection)."""
        body, headers = self._misshape(body, dict(headers or {}))
        state = self.server.state
        switches = state.switches
        data = _encode(body)
        self.send_response_only(status)
        if not switches.no_date:
            with state.lock:
                clock = state.now + timedelta(seconds=switches.date_offset_s)
            self.send_header("Date", format_datetime(clock.astimezone(UTC), usegmt=True))
        if headers.get("Content-Encoding") == "gzip":
            data = gzip_bomb(switches.gzip_bomb_bytes)
        ctype = "text/html; charset=utf-8" if html else "application/json; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        if switches.drip_delay_s > 0:
            self._drip(data, switches.drip_delay_s, max(1, switches.drip_chunk))
            return
        self.end_headers()
        self.wfile.write(data)

    def _misshape(self, body: Any, headers: dict[str, str]) -> tuple[Any, dict[str, str]]:
        """The answer as the size switches make it (gzip bomb, padded body, padded fields)."""
        switches = self.server.state.switches
        if switches.oversized_field_chars and isinstance(body, dict):
            records = body.get("items") if "total" in body else [body.get("item")]
            for record in records if isinstance(records, list) else []:
                if isinstance(record, dict):
                    for name in ("subject", "steeringContent"):
                        text = str(record.get(name, ""))
                        record[name] = (text + " Nội dung") * (
                            switches.oversized_field_chars // (len(text) + 9) + 1
                        )
                        record[name] = record[name][: switches.oversized_field_chars]
        searching = self.path.split("?", 1)[0].endswith("/tasks/search.cpx")
        if searching and switches.gzip_bomb_bytes:
            headers["Content-Encoding"] = "gzip"
        elif searching and switches.oversized_body_bytes and isinstance(body, dict):
            body = {**body, "pad": "0" * switches.oversized_body_bytes}
        return body, headers

    def _drip(self, data: bytes, delay: float, chunk: int) -> None:
        """Write the buffered status line and headers, then `data`, `chunk` bytes at a time."""
        self._headers_buffer.append(b"\r\n")
        raw = b"".join(self._headers_buffer) + data
        self._headers_buffer = []
        stopping = self.server.state.stopping
        try:
            for start in range(0, len(raw), chunk):
                if stopping.wait(delay):
                    break
                self.wfile.write(raw[start : start + chunk])
        except OSError:
            pass
        self.close_connection = True

    def _throttled(self, write: bool) -> bool:
        """Answer 429 (and return True) when a 429 switch says so for this request."""
        state = self.server.state
        switches = state.switches
        now = time.monotonic()
        with state.lock:
            throttle = state.throttle
            throttle.arrivals.append((self.path.split("?", 1)[0], now))
            if now < throttle.hold_until:
                throttle.early += 1
            if write:
                throttle.writes += 1
            every = switches.write_429_every
            limited = bool(write and every and throttle.writes % every == 0)
            gap = switches.min_interval_s
            if gap and throttle.last_passed is not None and now - throttle.last_passed < gap:
                throttle.too_close += 1
                limited = True
            if not limited:
                throttle.last_passed = now
                return False
            throttle.limited += 1
            seconds = _seconds(switches.retry_after)
            if seconds is not None:
                throttle.hold_until = max(throttle.hold_until, now + seconds)
        self._reply(429, {"error": "rate_limited"}, headers={"Retry-After": switches.retry_after})
        return True

    def _fail_write(self) -> bool:
        """Answer 500 without applying the write (and return True) when `fail_next_writes`."""
        state = self.server.state
        with state.lock:
            if state.switches.fail_next_writes <= 0:
                return False
            state.switches.fail_next_writes -= 1
        self._reply(500, {"error": "internal_error", "message": "Lỗi hệ thống"})
        return True

    def _cut_after_write(self) -> bool:
        """Close the connection without an answer (and return True) when `cut_after_write`."""
        state = self.server.state
        with state.lock:
            if state.switches.cut_after_write <= 0:
                return False
            state.switches.cut_after_write -= 1
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return True

    def _serve(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        ctype = self.headers.get("Content-Type", "")
        form: dict[str, str] = {}
        body: Any = None
        if "json" in ctype and raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        elif raw:
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        state.log.append(
            Recorded(self.command, parts.path, query, form, body, dict(self.headers.items()))
        )
        writing = parts.path.endswith(("/tasks/tracking.cpx", "/notifications/send.cpx"))
        if self._throttled(writing):
            return
        if writing and self._fail_write():
            return
        if not parts.path.startswith(BASE_PATH + "/"):
            self._reply(404, {"error": "not_found"})
            return
        path = parts.path[len(BASE_PATH) :]
        if path == "/auth/login.cpx" and self.command == "POST":
            self._login(form)
            return
        if not self._authed():
            self._reply(401, {"error": "session_expired", "message": "Phiên đã hết hạn"})
            return
        routes: dict[tuple[str, str], Callable[[dict[str, str], Any], None]] = {
            ("POST", "/tasks/search.cpx"): self._search,
            ("GET", "/tasks/view.cpx"): self._view,
            ("POST", "/tasks/tracking.cpx"): self._tracking,
            ("POST", "/notifications/send.cpx"): self._notify,
            ("GET", "/notifications/list.cpx"): self._notifications,
            ("GET", "/comm/units.cpx"): self._units,
        }
        handler = routes.get((self.command, path))
        if handler is None:
            self._reply(404, {"error": "not_found"})
            return
        handler(query, body)

    def _authed(self) -> bool:
        state = self.server.state
        if self.headers.get("Authorization", "") == f"Bearer {TOKEN}":
            return True
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == "JSESSIONID":
                with state.lock:
                    return value in state.sessions
        return False

    def _login(self, form: dict[str, str]) -> None:
        if form.get("username") != USERNAME or form.get("password") != PASSWORD:
            self._reply(401, {"error": "bad_credentials", "message": "Sai tên hoặc mật khẩu"})
            return
        sid = secrets.token_hex(8)
        with self.server.state.lock:
            self.server.state.sessions.add(sid)
        cookie = {"Set-Cookie": f"JSESSIONID={sid}; Path=/; HttpOnly"}
        self._reply(200, {"ok": True, "expiresIn": 1800}, headers=cookie)

    # -- the task list ----------------------------------------------------------------------------

    def _search(self, query: dict[str, str], body: Any) -> None:
        state = self.server.state
        request = body if isinstance(body, dict) else {}
        start, limit = request.get("start", 0), request.get("limit", 200)
        if not isinstance(start, int) or not isinstance(limit, int) or start < 0 or limit < 1:
            self._reply(400, {"error": "bad_request"})
            return
        if limit > MAX_LIMIT:
            self._reply(400, {"error": "limit_too_large"})
            return
        modified_from = request.get("modifiedFrom")
        include_deleted = request.get("includeDeleted") is True
        with state.lock:
            switches = state.switches
            matched = state.matching(
                str(modified_from) if modified_from is not None else None, include_deleted
            )
            if switches.ignore_paging:
                start, limit = 0, switches.page_size_when_ignoring
            items = [dict(r) for r in matched[start : start + limit]]
            total = len(matched)
            if switches.total_without_deleted:
                total = sum(1 for r in matched if r.get("deleted") != "Y")
            if switches.total_is_page_length:
                total = len(items)
        self._reply(200, {"total": total, "items": items})

    def _find(self, raw_id: Any) -> dict[str, Any] | None:
        for record in self.server.state.records:
            if str(record.get("id")) == str(raw_id):
                return record
        return None

    def _view(self, query: dict[str, str], body: Any) -> None:
        with self.server.state.lock:
            record = self._find(query.get("id"))
            item = dict(record) if record is not None else None
        if item is None:
            self._reply(404, {"error": "not_found"})
        else:
            self._reply(200, {"item": item})

    # -- writes -----------------------------------------------------------------------------------

    def _idempotent(
        self, key: str, body: Any, act: Callable[[], tuple[int, dict[str, Any]]], replay: int
    ) -> None:
        """Replay the first answer for the same key and body; refuse the key with another body."""
        state = self.server.state
        if not key:
            self._reply(400, {"error": "idempotency_key_required"})
            return
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
        with state.lock:
            seen = state.idempotency.get(key)
            if seen is not None:
                if seen[0] != canonical:
                    answer: tuple[int, dict[str, Any]] = (422, {"error": "idempotency_key_reused"})
                else:
                    answer = (replay or seen[1], seen[2])
            else:
                answer = act()
                if answer[0] < 300:
                    state.idempotency[key] = (canonical, answer[0], answer[1])
        if answer[0] < 300 and self._cut_after_write():
            return
        self._reply(*answer)

    def _tracking(self, query: dict[str, str], body: Any) -> None:
        state = self.server.state

        def act() -> tuple[int, dict[str, Any]]:
            request = body if isinstance(body, dict) else {}
            record = self._find(request.get("id"))
            if record is None:
                return 404, {"error": "not_found"}
            record["trackingStatus"] = str(request.get("trackingStatus", ""))
            record["lastModifyStr"] = utc_str(state.now)
            record["lastModify"] = en_us(state.now)
            return 200, {"ok": True, "lastModifyStr": record["lastModifyStr"]}

        self._idempotent(self.headers.get("Idempotency-Key", ""), body, act, replay=0)

    def _notify(self, query: dict[str, str], body: Any) -> None:
        state = self.server.state
        key = self.headers.get("Idempotency-Key", "")

        def act() -> tuple[int, dict[str, Any]]:
            request = body if isinstance(body, dict) else {}
            ident = f"TB-{len(state.notifications) + 1:06d}"
            state.notifications.append(
                {
                    "id": ident,
                    "type": request.get("type"),
                    "taskId": request.get("taskId"),
                    "idempotencyKey": key,
                    "createdDateStr": utc_str(state.now),
                }
            )
            return 201, {"id": ident}

        self._idempotent(key, body, act, replay=200)

    def _notifications(self, query: dict[str, str], body: Any) -> None:
        state = self.server.state
        with state.lock:
            items = [n for n in state.notifications if str(n["taskId"]) == query.get("taskId")]
        self._reply(200, {"items": items})

    def _units(self, query: dict[str, str], body: Any) -> None:
        with self.server.state.lock:
            items = [dict(u) for u in self.server.state.units]
        self._reply(200, {"items": items})


class _Server(LoopbackHTTPServer):
    def __init__(self, state: HostileState) -> None:
        self.state = state
        super().__init__(_Handler)


class HostileServer(Loopback[_Server]):
    """``with HostileServer(records) as server: server.switches.ignore_paging = True ...``"""

    thread_name = "hostile-server"

    def __init__(
        self,
        records: list[dict[str, Any]] | None = None,
        *,
        units: list[dict[str, Any]] | None = None,
        now: datetime = DEFAULT_NOW,
        switches: Switches | None = None,
    ) -> None:
        super().__init__()
        self.state = HostileState(
            records=records if records is not None else [],
            units=units if units is not None else [dict(u) for u in UNITS],
            now=now,
            switches=switches or Switches(),
        )

    def bind(self) -> _Server:
        return _Server(self.state)

    def on_stopping(self) -> None:
        self.state.stopping.set()  # a dripping answer stops at once

    @property
    def base_url(self) -> str:
        return self.url(BASE_PATH)

    @property
    def switches(self) -> Switches:
        return self.state.switches

    @property
    def records(self) -> list[dict[str, Any]]:
        """The served records themselves (change them under `lock`)."""
        return self.state.records

    @property
    def lock(self) -> threading.RLock:
        return self.state.lock

    @property
    def now(self) -> datetime:
        with self.state.lock:
            return self.state.now

    @property
    def requests(self) -> list[Recorded]:
        return self.state.log.all()

    def searches(self) -> list[Recorded]:
        """The recorded ``tasks/search.cpx`` requests."""
        return [r for r in self.requests if r.path.endswith("/tasks/search.cpx")]

    @property
    def throttle(self) -> Throttle:
        """What the 429 switches counted (`Throttle`)."""
        return self.state.throttle

    def forget_idempotency_keys(self) -> None:
        """The idempotency window has passed: no key is replayed any more (what was created
        stays: notifications are still listed, tracking statuses still on the records)."""
        with self.state.lock:
            self.state.idempotency.clear()

    def notifications(self) -> list[dict[str, Any]]:
        """The notifications the server created (replays excluded)."""
        with self.state.lock:
            return [dict(n) for n in self.state.notifications]

    def clear_log(self) -> None:
        self.state.log.clear()

    def advance(self, seconds: float) -> datetime:
        """Move the records' clock forward; the new time."""
        with self.state.lock:
            self.state.now += timedelta(seconds=seconds)
            return self.state.now

    def touch(self, task_id: int, **changes: Any) -> dict[str, Any]:
        """Change a record as a user would at the current time (``lastModifyStr`` = now)."""
        with self.state.lock:
            record = next(r for r in self.state.records if r.get("id") == task_id)
            record.update(changes)
            record["lastModifyStr"] = utc_str(self.state.now)
            record["lastModify"] = en_us(self.state.now)
            return record

    @property
    def credentials(self) -> ServerLogin:
        """The login this server accepts (session or token)."""
        return ServerLogin(USERNAME, PASSWORD, TOKEN)
