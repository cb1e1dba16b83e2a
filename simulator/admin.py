"""The admin endpoints under ``/_sim/``: change the world and read its state over HTTP.

They need no authentication, answer only loopback clients, are never rate-limited or faulted,
and are not recorded in the request log. Bodies are JSON objects:

==================================  =============================================================
``GET  /_sim/state``                today (simulated), counts, notifications created, requests
``GET  /_sim/task?id=N``            the record as stored (also hard-deleted: 404)
``POST /_sim/complete``             ``{"id": N, "at": "2022-03-08T10:00:00+07:00"?}``
``POST /_sim/deadline``             ``{"id": N, "deadline": "2022-04-15" | null, "reason": "..."?}``
``POST /_sim/confirm``              ``{"id": N, "confirmed": true?}``
``POST /_sim/report``               ``{"id": N, "progress": 50}``
``POST /_sim/withdraw``             ``{"id": N}``
``POST /_sim/touch``                ``{"id": N}`` (bump ``lastModifyStr`` only)
``POST /_sim/soft-delete``          ``{"id": N}``
``POST /_sim/hard-delete``          ``{"id": N}``
``POST /_sim/add``                  ``{"count": N, "sameTimestamp": false?, "scenario": "..."?}``
``POST /_sim/advance``              ``{"days": 1?, "seconds": 0?}``
``POST /_sim/expire-sessions``      ``{}``
``POST /_sim/faults``               ``{"faults": "http5xx=0.1,drop=0.05"}``
==================================  =============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from connector.errors import ConfigError
from simulator.config import is_loopback
from simulator.core import SimCore
from simulator.faults import parse_faults
from simulator.generator import NEW_TASK_SCENARIOS, Scenario
from simulator.timefmt import parse_instant, utc_str
from simulator.wire import BodyError, Request, Response, error, json_object, json_response
from simulator.world import UnknownTaskError

PREFIX = "/_sim"

AdminAction = Callable[[SimCore, dict[str, Any]], dict[str, Any]]


def _id(data: dict[str, Any]) -> int:
    value = data.get("id")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BodyError("Trường id phải là số nguyên.")
    return value


def _number(data: dict[str, Any], name: str, default: float = 0.0) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BodyError(f"Trường {name} phải là số.")
    return float(value)


def _complete(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    at = data.get("at")
    if at is not None and not isinstance(at, str):
        raise BodyError("Trường at phải là thời điểm ISO-8601.")
    try:
        instant = parse_instant(at) if at else None
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    core.complete_task(_id(data), instant)
    return {}


def _deadline(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    raw = data.get("deadline")
    if raw is not None and not isinstance(raw, str):
        raise BodyError("Trường deadline phải là ngày YYYY-MM-DD hoặc null.")
    try:
        new = date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    reason = data.get("reason", "")
    core.change_deadline(_id(data), new, reason if isinstance(reason, str) else "")
    return {}


def _confirm(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.confirm_task(_id(data), bool(data.get("confirmed", True)))
    return {}


def _report(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.report_progress(_id(data), int(_number(data, "progress", 50)))
    return {}


def _withdraw(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.withdraw_task(_id(data))
    return {}


def _touch(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.touch(_id(data))
    return {}


def _soft_delete(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.soft_delete(_id(data))
    return {}


def _hard_delete(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    core.hard_delete(_id(data))
    return {}


def _add(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    count = int(_number(data, "count", 1))
    raw = data.get("scenario")
    scenario: Scenario | None = None
    if raw is not None:
        if raw not in NEW_TASK_SCENARIOS:
            allowed = ", ".join(sorted(NEW_TASK_SCENARIOS))
            raise BodyError(f"scenario phải là một trong: {allowed}.")
        scenario = Scenario(raw)
    try:
        ids = core.add_tasks(
            count, same_timestamp=bool(data.get("sameTimestamp", False)), scenario=scenario
        )
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    return {"ids": ids}


def _advance(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    days, seconds = _number(data, "days"), _number(data, "seconds")
    try:
        core.advance(timedelta(days=days, seconds=seconds))
    except ValueError as exc:
        raise BodyError(str(exc)) from None
    return {"today": core.today().isoformat()}


def _expire_sessions(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    return {"expired": core.expire_sessions()}


def _faults(core: SimCore, data: dict[str, Any]) -> dict[str, Any]:
    spec = data.get("faults")
    if not isinstance(spec, str):
        raise BodyError('Trường faults phải là chuỗi, ví dụ "http5xx=0.1".')
    try:
        core.set_faults(parse_faults(spec))
    except ConfigError as exc:
        raise BodyError(str(exc)) from None
    return {"faults": core.faults.to_spec()}


ACTIONS: dict[str, AdminAction] = {
    "/complete": _complete,
    "/deadline": _deadline,
    "/confirm": _confirm,
    "/report": _report,
    "/withdraw": _withdraw,
    "/touch": _touch,
    "/soft-delete": _soft_delete,
    "/hard-delete": _hard_delete,
    "/add": _add,
    "/advance": _advance,
    "/expire-sessions": _expire_sessions,
    "/faults": _faults,
}


def handle(core: SimCore, request: Request) -> Response:
    """Answer one request below ``/_sim``."""
    if not is_loopback(request.client):
        return error(403, "forbidden")
    action = request.path[len(PREFIX) :]
    if request.method == "GET" and action == "/state":
        return json_response(200, core.state())
    if request.method == "GET" and action == "/task":
        raw = request.param("id") or ""
        if not raw.isdigit():
            return error(400, "bad_request", "Thiếu hoặc sai tham số id.")
        record = core.world.tasks.get(int(raw))
        if record is None:
            return error(404, "not_found")
        with core.world.lock:
            return json_response(200, {"item": record})
    handler = ACTIONS.get(action)
    if handler is None:
        return error(404, "not_found", f"Không có địa chỉ {request.path}.")
    if request.method != "POST":
        return error(405, "method_not_allowed")
    try:
        result = handler(core, json_object(request.body))
    except BodyError as exc:
        return error(400, "bad_request", str(exc))
    except UnknownTaskError as exc:
        return error(404, "not_found", f"Không có nhiệm vụ id={exc.task_id}.")
    return json_response(200, {"ok": True, "now": utc_str(core.now()), **result})
