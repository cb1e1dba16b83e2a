"""The contract's endpoints (docs/source-api.md), with authentication and injected faults.

A request goes through, in this order: the rate limit (429), a proxy error (502/503/504 with
HTML), routing (404 / 405), authentication (401, or the HTML login page), the endpoint itself;
then its response may be delayed (slow) or cut mid-body (drop). Each fault draws from the
simulator's own dice, so a sequential client meets the same faults for the same seed.
"""

from __future__ import annotations

import base64
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from connector.models import AlertType, StatusCode
from simulator import idesk6
from simulator.core import SimCore
from simulator.state import KeyUse, SessionState, TrackingWrite
from simulator.timefmt import http_date, parse_instant
from simulator.units import unit_json
from simulator.wire import (
    BodyError,
    Request,
    Response,
    error,
    fingerprint,
    html_response,
    json_object,
    json_response,
    login_page,
    proxy_page,
)
from simulator.world import World

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
MAX_KEY_LENGTH = 255
FRESH_SESSION_SECONDS = 1.0
"""A session is never forced to expire (fault ``expire``) in its first second, nor before it has
served one request: no real server ends a session it has just opened, and a client would take it
for a login that does not hold (one whose request waited for its turn under the client's pace can
be sent more than a second after the login)."""
TRACKING_STATUSES = frozenset(s.value for s in StatusCode)
NOTIFICATION_TYPES = frozenset(t.value for t in AlertType)

LOGIN = "/auth/login.cpx"
SEARCH = "/tasks/search.cpx"
VIEW = "/tasks/view.cpx"
TRACKING = "/tasks/tracking.cpx"
SEND = "/notifications/send.cpx"
LIST = "/notifications/list.cpx"
UNITS_PATH = "/comm/units.cpx"
TOKEN_PATH = "/oauth2/token"  # noqa: S105 - a path, not a secret
"""The gateway's OAuth 2.0 token endpoint (client credentials), below the base path."""

Handler = Callable[[SimCore, Request, str], Response]


@dataclass(frozen=True)
class Route:
    method: str
    handler: Handler
    auth: bool = True


# -- authentication ----------------------------------------------------------------------------


def client_key(core: SimCore, request: Request) -> str:
    """Who the rate limit counts a request against: the token, the session's user, else the
    address."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return f"token:{value.strip()}"
    sid = request.cookie("JSESSIONID")
    if sid:
        user = core.sessions.username_of(sid)
        return f"user:{user}" if user else f"session:{sid}"
    return f"addr:{request.client}"


def _expired(core: SimCore) -> Response:
    if core.expired_style == "html":
        return html_response(200, login_page(core.config.base_path))
    return error(401, "session_expired")


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def authenticate(core: SimCore, request: Request) -> tuple[str, Response | None]:
    """The caller's identity, or the response refusing it."""
    config = core.config
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer":
            return "", error(401, "unauthorized", "Chỉ hỗ trợ xác thực kiểu Bearer.")
        if "token" in config.auth_modes and _same(value.strip(), config.token):
            return "token", None
        if "oauth2" in config.auth_modes and core.tokens.valid(value.strip(), core.now()):
            return "oauth2", None
        return "", error(401, "invalid_token")
    app = request.headers.get("x-app-name")
    key = request.headers.get("x-api-key") or request.param("apikey")
    if "headers" in config.auth_modes and (app is not None or key is not None):
        if _same(app, config.app_name) and _same(key, config.api_key):
            return f"app:{config.app_name}", None
        return "", error(401, "invalid_api_key")
    sid = request.cookie("JSESSIONID")
    if sid and "session" in config.auth_modes:
        state, session = core.sessions.check(sid, core.now())
        if state is not SessionState.OK or session is None:
            return "", _expired(core)
        # The dice are rolled for every request (a seed draws the faults it drew before), but
        # a session is not forced to expire in its first second (`FRESH_SESSION_SECONDS`) nor
        # before it has served a request.
        fresh = not session.served or time.monotonic() - session.opened < FRESH_SESSION_SECONDS
        session.served = True
        if core.dice.roll(core.faults.expire) and not fresh:
            core.sessions.expire(sid)
            response = _expired(core)
            response.faults.append("expire")
            return "", response
        return session.username, None
    return "", error(401, "unauthorized")


def login(core: SimCore, request: Request, _: str) -> Response:
    config = core.config
    if "session" not in config.auth_modes:
        return error(404, "not_found", "Hệ thống không dùng đăng nhập theo phiên.")
    try:
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        form = {}
    username = (form.get("username") or [""])[0]
    password = (form.get("password") or [""])[0]
    good_user = hmac.compare_digest(username.encode(), config.username.encode())
    good_password = hmac.compare_digest(password.encode(), config.password.encode())
    if not (good_user and good_password):
        return error(401, "bad_credentials")
    if config.require_totp:
        return error(401, "otp_required")
    session = core.sessions.create(username, core.now())
    cookie = f"JSESSIONID={session.sid}; Path={config.base_path}; HttpOnly"
    return json_response(
        200, {"ok": True, "expiresIn": config.session_ttl}, headers=[("Set-Cookie", cookie)]
    )


def token(core: SimCore, request: Request, _: str) -> Response:
    """The gateway's token endpoint: client credentials (RFC 6749 section 4.4), the client
    authenticated by HTTP Basic or by ``client_id`` / ``client_secret`` in the form."""
    config = core.config
    if "oauth2" not in config.auth_modes:
        return error(404, "not_found", "Hệ thống không dùng OAuth 2.0.")
    try:
        form = {
            k: v[-1]
            for k, v in parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()
        }
    except UnicodeDecodeError:
        form = {}
    if form.get("grant_type") != "client_credentials":
        return error(400, "unsupported_grant_type")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            pair = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            pair = ""
        raw_id, _, raw_secret = pair.partition(":")
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if not (_same(client_id, config.client_id) and _same(secret, config.client_secret)):
        return error(401, "invalid_client")
    issued = core.tokens.issue(core.now(), timedelta(seconds=config.token_ttl))
    answer: dict[str, Any] = {
        "access_token": issued,
        "token_type": "Bearer",
        "expires_in": config.token_ttl,
    }
    if form.get("scope"):
        answer["scope"] = form["scope"]
    return json_response(200, answer, headers=[("Cache-Control", "no-store")])


# -- reading tasks ---------------------------------------------------------------------------


def _int_field(data: dict[str, Any], name: str, default: int) -> int:
    value = data.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError(f"Trường {name} phải là số nguyên.")
    return value


def _mutate_while_paging(core: SimCore, world: World, keys: list[int], start: int) -> list[int]:
    """Modify a few already-returned and not-yet-returned tasks (fault `mutate`)."""
    before, after = keys[:start], keys[start:]
    chosen = core.dice.sample(before, core.dice.randint(1, 2)) + core.dice.sample(
        after, core.dice.randint(1, 2)
    )
    now = core.now()
    for key in chosen:
        world.touch(key, now)
    return chosen


def search(core: SimCore, request: Request, _: str) -> Response:
    try:
        data = json_object(request.body)
        start = _int_field(data, "start", 0)
        limit = _int_field(data, "limit", DEFAULT_LIMIT)
        include_deleted = data.get("includeDeleted", False)
        if not isinstance(include_deleted, bool):
            raise BodyError("Trường includeDeleted phải là true hoặc false.")
        raw_from = data.get("modifiedFrom")
        modified_from: datetime | None = None
        if raw_from not in (None, ""):
            if not isinstance(raw_from, str):
                raise BodyError("Trường modifiedFrom phải là chuỗi ISO-8601.")
            try:
                modified_from = parse_instant(raw_from)
            except ValueError:
                raise BodyError(
                    f"modifiedFrom {raw_from!r} không phải thời điểm ISO-8601 có múi giờ."
                ) from None
    except BodyError as exc:
        return error(400, "bad_request", str(exc))
    if start < 0:
        return error(400, "bad_request", "Trường start phải >= 0.")
    if limit > MAX_LIMIT:
        return error(400, "limit_too_large")
    if limit < 1:
        return error(400, "invalid_limit")

    world = core.world
    faults: list[str] = []
    with world.lock:
        keys = world.select(modified_from, include_deleted)
        if start > 0 and core.dice.roll(core.faults.mutate):
            _mutate_while_paging(core, world, keys, start)
            faults.append("mutate")
            keys = world.select(modified_from, include_deleted)
        page = keys[start : start + limit]
        items = b",".join(world.encoded(k) for k in page)
        total = len(keys)
    body = b'{"total":%d,"items":[%s]}' % (total, items)
    return Response(status=200, body=body, faults=faults)


def _task_id(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return None


def view(core: SimCore, request: Request, _: str) -> Response:
    task_id = _task_id(request.param("id"))
    if task_id is None:
        return error(400, "bad_request", "Thiếu hoặc sai tham số id.")
    world = core.world
    with world.lock:
        key = world.key_of(task_id)
        if key is None:
            return error(404, "not_found", f"Không có nhiệm vụ id={task_id}.")
        return Response(status=200, body=b'{"item":%s}' % world.encoded(key))


def units(core: SimCore, request: Request, _: str) -> Response:
    return json_response(200, {"items": [unit_json(u) for u in core.world.units]})


def list_notifications(core: SimCore, request: Request, _: str) -> Response:
    raw = request.param("taskId")
    notes = core.notifications
    if raw not in (None, ""):
        task_id = _task_id(raw)
        if task_id is None:
            return error(400, "bad_request", "Tham số taskId phải là số nguyên.")
        notes = [n for n in notes if n.task_id == task_id]
    return json_response(200, {"items": [n.to_json() for n in notes]})


# -- writes ------------------------------------------------------------------------------------


def _idempotent(
    core: SimCore,
    request: Request,
    scope: str,
    perform: Callable[[dict[str, Any], str, datetime], Response],
    replay_status: Callable[[int], int],
) -> Response:
    """Run a write once per (key, body) within the window; replay or refuse otherwise."""
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        return error(400, "idempotency_key_required")
    if len(key) > MAX_KEY_LENGTH:
        return error(400, "idempotency_key_too_long")
    try:
        data = json_object(request.body)
    except BodyError as exc:
        return error(400, "bad_request", str(exc))
    print_ = fingerprint(data)
    with core.write_lock:
        now = core.now()
        use, stored = core.idempotency.lookup(scope, key, print_, now)
        if use is KeyUse.REPLAY and stored is not None:
            return json_response(replay_status(stored.status), stored.body)
        if use is KeyUse.REUSED:
            return error(422, "idempotency_key_reused")
        response = perform(data, key, now)
        if 200 <= response.status < 300:
            body = json_object(response.body)
            core.idempotency.store(scope, key, print_, status=response.status, body=body, now=now)
        return response


def tracking(core: SimCore, request: Request, _: str) -> Response:
    def perform(data: dict[str, Any], key: str, now: datetime) -> Response:
        status = data.get("trackingStatus")
        if status not in TRACKING_STATUSES:
            return error(422, "invalid_status", f"Giá trị nhận được: {status!r}.")
        task_id = _task_id(data.get("id"))
        if task_id is None or isinstance(data.get("id"), str):
            return error(400, "bad_request", "Trường id phải là số nguyên.")
        with core.world.lock:
            if core.world.key_of(task_id) is None:
                return error(404, "not_found", f"Không có nhiệm vụ id={task_id}.")
            stamp = core.world.set_tracking(task_id, str(status), now)
        core.outcomes.add_tracking(TrackingWrite(task_id, str(status), data, key, now, stamp))
        return json_response(200, {"ok": True, "lastModifyStr": stamp})

    return _idempotent(core, request, "tracking", perform, lambda status: status)


def send_notification(core: SimCore, request: Request, _: str) -> Response:
    def perform(data: dict[str, Any], key: str, now: datetime) -> Response:
        kind = data.get("type")
        if kind not in NOTIFICATION_TYPES:
            return error(422, "invalid_type", f"Giá trị nhận được: {kind!r}.")
        raw_task = data.get("taskId")
        task_id: int | None = None
        if raw_task is not None:
            task_id = _task_id(raw_task)
            if task_id is None or isinstance(raw_task, str):
                return error(400, "bad_request", "Trường taskId phải là số nguyên.")
        elif kind != AlertType.TONG_HOP:
            return error(400, "bad_request", "Thiếu trường taskId.")
        recipients = data.get("recipients")
        if (
            not isinstance(recipients, list)
            or not recipients
            or not all(isinstance(r, str) for r in recipients)
        ):
            return error(400, "bad_request", "Trường recipients phải là danh sách mã đơn vị.")
        unknown = [r for r in recipients if r not in core.world.unit_set.codes]
        if unknown:
            return error(422, "unknown_recipient", "Mã không hợp lệ: " + ", ".join(unknown) + ".")
        level = data.get("level", 0)
        if isinstance(level, bool) or level not in (0, 1, 2):
            return error(422, "invalid_level")
        title, content = data.get("title", ""), data.get("content", "")
        if not isinstance(title, str) or not isinstance(content, str) or not title.strip():
            return error(400, "bad_request", "Trường title (bắt buộc) và content phải là chuỗi.")
        if task_id is not None and core.world.key_of(task_id) is None:
            return error(404, "not_found", f"Không có nhiệm vụ id={task_id}.")
        note = core.outcomes.add_notification(
            type_=str(kind),
            task_id=task_id,
            recipients=tuple(recipients),
            level=int(level),
            title=title,
            content=content,
            idempotency_key=key,
            now=now,
        )
        return json_response(201, {"id": note.id})

    return _idempotent(core, request, "notification", perform, lambda _status: 200)


ROUTES: dict[str, Route] = {
    LOGIN: Route("POST", login, auth=False),
    SEARCH: Route("POST", search),
    VIEW: Route("GET", view),
    TRACKING: Route("POST", tracking),
    SEND: Route("POST", send_notification),
    LIST: Route("GET", list_notifications),
    UNITS_PATH: Route("GET", units),
    TOKEN_PATH: Route("POST", token, auth=False),
}

IDESK6_ROUTES: dict[str, Route] = {
    LOGIN: Route("POST", login, auth=False),
    TOKEN_PATH: Route("POST", token, auth=False),
    idesk6.PROCESS: Route("POST", idesk6.process_list),
    idesk6.RECEIVING: Route("POST", idesk6.receiving_list),
    idesk6.DETAIL: Route("GET", idesk6.detail),
    idesk6.TREE: Route("POST", idesk6.organisation),
    idesk6.PROFILE: Route("GET", idesk6.profile),
}
"""The endpoints of the iDesk 6 mode (`simulator.idesk6`)."""


# -- faults and dispatch -------------------------------------------------------------------------


def _retry_after(core: SimCore, seconds: float) -> str:
    whole = max(1, math.ceil(seconds))
    if core.next_retry_after_is_date():
        return http_date(core.now() + timedelta(seconds=whole + 1))
    return str(whole)


def _proxy_error(core: SimCore) -> Response:
    status = (502, 503, 504)[core.dice.randint(0, 2)]
    headers: list[tuple[str, str]] = []
    if status == 503 and core.dice.roll(0.5):
        headers.append(("Retry-After", _retry_after(core, core.dice.randint(1, 3))))
    response = html_response(status, proxy_page(status), headers)
    response.faults.append("http5xx")
    return response


def handle(
    core: SimCore,
    request: Request,
    endpoint: str | None,
    routes: dict[str, Route] | None = None,
) -> Response:
    """Answer one request to the API (`endpoint` is the path below the base path, or None;
    `routes` the endpoints, by default the configured dialect's)."""
    faults = core.faults
    wait = core.limiter.acquire(client_key(core, request))
    if wait > 0:
        response = error(429, "rate_limited")
        response.headers.append(("Retry-After", _retry_after(core, wait)))
        response.faults.append("rate_limit")
        return response
    proxy_fails = core.dice.roll(faults.http5xx)
    slow = core.dice.roll(faults.slow)
    drop = core.dice.roll(faults.drop)
    table = routes if routes is not None else _dialect_routes(core)
    response = _proxy_error(core) if proxy_fails else _route(core, request, endpoint, table)
    if slow and faults.slow_seconds > 0:
        response.delay = faults.slow_seconds
        response.faults.append("slow")
    if drop and len(response.body) >= 2:
        response.drop = True
        response.faults.append("drop")
    return response


def _dialect_routes(core: SimCore) -> dict[str, Route]:
    return IDESK6_ROUTES if core.config.dialect == "idesk6" else ROUTES


def _route(
    core: SimCore, request: Request, endpoint: str | None, routes: dict[str, Route]
) -> Response:
    route = routes.get(endpoint) if endpoint is not None else None
    if route is None:
        return error(404, "not_found", f"Không có địa chỉ {request.path}.")
    if request.method != route.method:
        response = error(405, "method_not_allowed")
        response.headers.append(("Allow", route.method))
        return response
    identity = ""
    if route.auth:
        identity, refusal = authenticate(core, request)
        if refusal is not None:
            return refusal
    return route.handler(core, request, identity)
