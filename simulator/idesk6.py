"""The simulator's iDesk 6 mode: the same world served as a deployed iDesk 6 web application's
pages answer it (docs/idesk6.md), read by the stock mapping ``mappings/idesk6.toml``.

Endpoints below the base path (the tenant path):

``POST /auth/login.cpx``
    The login form (``username``, ``password``); sets ``JSESSIONID``. An expired session is
    answered with the HTML login page. The other auth modes of the simulator (token, static
    gateway headers, OAuth 2.0 at ``POST /oauth2/token``) are accepted the same way as in the
    contract's mode.
``POST /document/edocs/qsprocess.cpx`` (form ``page``, ``pageSize``)
    The processing list ``{"total", "items"}``: one item per document, ordered by id, the clerk's
    intake-only documents among them. No modified-since filter, no modification time.
``POST /document/edocs/qsreceiving.cpx``
    The clerk's intake list: the intake-only documents alone, same shape.
``GET /document/edocs/view.cpx?exeacode=&id=&responsibility=main``
    A document's detail ``{"ed", "book", "senders", "proInfos", ...}``. ``exeacode`` must be the
    reading account's own code (`SimulatorConfig.account_code`): missing → 400, another → 403.
``POST /comm/nodes/fbyvsphere.cpx`` (form ``exeacode``, ``type``, ``responsibility``)
    The organisation tree ``{"elements": [...]}``: the province (``unit``), its units
    (``dept``), a leader account (``alias``) per unit.
``GET /system/userprofile/view.cpx``
    The signed-in account; its ``user.code`` is not the account code.

The shapes are the observed ones: an open step has no ``completeDate``/``completeDateStr`` keys;
the detail's ``ed`` lacks ``createDateStr`` and ``replyDeadline`` for one document in three;
one subject in seven has a line break (``"THÔNG BÁO\\n…"``); a step's ``receiverAname`` is the
receiving position ("Giám đốc"), its unit is ``receiverDeptId`` (an element of the tree).
A list item's ``piStatus`` (and ``edSearchDto.status``) follow the lead step, as for an account
that is the lead handler: a completion changes the list item. A deployment read with the
account of an office that follows up shows that account's own step there instead.
A document id is the world's task id. A malformed world record stays malformed here: a
missing id leaves the list item without one, a bad date or an unknown status is in the lead
step (`quarantined_ids` lists the ids a reader must quarantine).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from connector.models import UnitKind
from simulator.core import SimCore
from simulator.timefmt import NO_DEADLINE, local_str, utc_str
from simulator.units import DEFAULT_UNIT_SET, UNIT_SETS, UnitSet
from simulator.wire import Request, Response, error, json_response
from simulator.world import MalformKind, World

PROCESS = "/document/edocs/qsprocess.cpx"
RECEIVING = "/document/edocs/qsreceiving.cpx"
DETAIL = "/document/edocs/view.cpx"
TREE = "/comm/nodes/fbyvsphere.cpx"
PROFILE = "/system/userprofile/view.cpx"

ROOT_ID = 1
"""The tree's root element: the province's People's Committee (``type = unit``)."""
_DEFAULT = UNIT_SETS[DEFAULT_UNIT_SET]
ROOT_NAME = f"UBND tỉnh {_DEFAULT.province}"
"""The default world's root (a world of another unit set names its own province)."""
DEPT_BASE = 200
"""A unit's tree id is ``DEPT_BASE`` + its place in its unit set (`simulator.units`)."""
ALIAS_BASE = 985300
INTAKE_BASE = 7_000_000
"""Intake-only documents have ids from here (no world task has such an id)."""
STATUSES = frozenset({"received", "processing", "tranfered", "returned", "completed", "retrieved"})
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 200
CLERK = "Văn thư UBND tỉnh"
_POSITIONS: dict[UnitKind, tuple[str, str]] = {
    UnitKind.DEPARTMENT: ("Giám đốc", "Phó Giám đốc"),
    UnitKind.DISTRICT: ("Chủ tịch UBND", "Phó Chủ tịch UBND"),
    UnitKind.CENTRAL: ("Thủ trưởng cơ quan", "Phó Thủ trưởng cơ quan"),
    UnitKind.OFFICE: ("Chánh Văn phòng", "Phó Chánh Văn phòng"),
}

_DEPT_IDS: dict[str, dict[str, int]] = {
    name: {u.code: DEPT_BASE + i for i, u in enumerate(units.units)}
    for name, units in UNIT_SETS.items()
}
DEPT_IDS: dict[str, int] = _DEPT_IDS[DEFAULT_UNIT_SET]
"""Unit code -> its ``dept`` element id in the default world's tree (a step's
``receiverDeptId``)."""


def dept_ids(units: UnitSet) -> dict[str, int]:
    """Unit code -> its ``dept`` element id in the tree of a world of `units`."""
    return _DEPT_IDS[units.name]


def position(code: str, doc_id: int, units: UnitSet = _DEFAULT) -> str:
    """The receiving position a step names for unit `code` (the head or a deputy)."""
    unit = units.by_code.get(code)
    heads = _POSITIONS[unit.kind if unit is not None else UnitKind.DEPARTMENT]
    return heads[doc_id % 2]


def subject(record: dict[str, Any], doc_id: int) -> str:
    """The document's subject as iDesk 6 shows it: one in seven starts with a heading line."""
    text = str(record.get("subject", ""))
    return f"THÔNG BÁO\n{text}" if doc_id % 7 == 0 else text


def tree(units: UnitSet = _DEFAULT) -> list[dict[str, Any]]:
    """The organisation tree's elements (``fbyvsphere.cpx``) of a world of `units`."""
    ids = dept_ids(units)
    elements: list[dict[str, Any]] = [
        {
            "id": ROOT_ID,
            "parent": 0,
            "name": f"UBND tỉnh {units.province}",
            "type": "unit",
            "order": 0,
            "config": 0,
            "office": "Y",
        },
    ]
    for i, unit in enumerate(units.units):
        parent = ids[unit.parent_code] if unit.parent_code else ROOT_ID
        elements.append(
            {
                "id": ids[unit.code],
                "parent": parent,
                "name": unit.name,
                "type": "dept",
                "order": i + 1,
                "config": 0,
                "office": "Y" if unit.kind is UnitKind.OFFICE else "N",
            }
        )
        elements.append(
            {
                "id": ALIAS_BASE + i,
                "parent": ids[unit.code],
                "name": position(unit.code, 0, units),
                "type": "alias",
                "rank": "unit_leader",
                "order": 0,
                "config": 0,
                "office": "N",
                "refCode": f"{0xB3C50000 + i:x}",
                "refUname": f"lanhdao.{unit.code.lower()}@{units.domain}",
                "refFullname": f"Lãnh đạo {unit.name}",
                "defaultBook": 0,
                "transferToCode": "",
            }
        )
    elements.append(
        {
            "id": 9,
            "parent": ROOT_ID,
            "name": "Nhóm lãnh đạo tỉnh",
            "type": "group",
            "order": 99,
            "config": 0,
            "office": "N",
        }
    )
    return elements


def _step(
    doc_id: int,
    sid: int,
    responsibility: str,
    *,
    code: str,
    status: str,
    created: tuple[str, str],
    deadline: str = NO_DEADLINE,
    completed: tuple[str, str] | None = None,
    priority: int = 0,
    confirmed: str = "N",
    units: UnitSet = _DEFAULT,
) -> dict[str, Any]:
    ids = dept_ids(units)
    step: dict[str, Any] = {
        "id": sid,
        "parent": doc_id + 1,
        "senderAname": CLERK,
        "senderName": "Văn Thư",
        "receiverAcode": f"{0xB3C50000 + ids.get(code, 0):x}",
        "receiverAname": position(code, doc_id, units) if responsibility != "receive" else CLERK,
        "receiverName": "Trần Thị B",
        "receiverDeptId": ids.get(code, ROOT_ID),
        "createDate": created[0],
        "createDateStr": created[1],
        "deadline": deadline,
        "status": status,
        "responsibility": responsibility,
        "finalHandle": "Y" if responsibility == "main" else "N",
        "priority": priority,
        "confirmed": confirmed,
        "read": "Y",
    }
    if completed is not None:  # an open step has no completeDate keys at all
        step["completeDate"], step["completeDateStr"] = completed
    return step


def _malformed_status(value: str) -> str:
    return value if value not in STATUSES else "pending_approval"


def document(
    record: dict[str, Any], key: int, world: World
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A world record as an iDesk 6 (list item, detail)."""
    doc_id = int(record.get("id", key))
    has_id = "id" in record
    spoiled = world.malformed.get(key)
    status = str(record.get("status", "processing"))
    if spoiled is not None and spoiled.kind is MalformKind.UNKNOWN_STATUS:
        status = _malformed_status(status)
    created = (str(record.get("createDate", "")), str(record.get("createDateStr", "")))
    completed = None
    if record.get("completeDate") or record.get("completeDateStr"):
        completed = (str(record.get("completeDate", "")), str(record.get("completeDateStr", "")))
    title = subject(record, doc_id)
    ed: dict[str, Any] = {
        "id": doc_id,
        "documentId": f"{record.get('publisherCode', '')},{record.get('signNumber', '')}",
        "subject": title,
        "signNumber": record.get("signNumber", ""),
        "docDateStr": record.get("docDateStr", ""),
        "author": record.get("author", ""),
        "publisherCode": record.get("publisherCode", ""),
        "category": record.get("category", ""),
        "signer": record.get("signer", ""),
        "position": record.get("position", ""),
        "status": status,
        "steeringType": record.get("steeringType", 0),
        "receiverCommCode": "UBNDT",
        "solveDayNum": 0,
        "requiredReply": "N",
    }
    if doc_id % 3 != 0:  # missing on one document in three, as observed
        ed["createDateStr"] = created[1]
        ed["replyDeadline"] = NO_DEADLINE
    if not has_id:
        del ed["id"]
    lead = str(record.get("receiverCommCode", ""))
    intake = _step(
        doc_id,
        doc_id * 10 + 1,
        "receive",
        code="VPUBND",
        status="tranfered",
        created=created,
        completed=created,
        units=world.unit_set,
    )
    steps = [
        intake,
        _step(
            doc_id,
            doc_id * 10 + 2,
            "main",
            code=lead,
            status=status,
            created=created,
            deadline=str(record.get("deadline", NO_DEADLINE)),
            completed=completed,
            priority=int(record.get("priority", 0) or 0),
            confirmed=str(record.get("confirmed", "N")),
            units=world.unit_set,
        ),
    ]
    for n, unit in enumerate(record.get("coordinators") or ()):
        steps.append(
            _step(
                doc_id,
                doc_id * 10 + 3 + n,
                "coordinate",
                code=str(unit.get("commCode", "")),
                status="processing",
                created=created,
                units=world.unit_set,
            )
        )
    detail = {
        "ed": ed,
        "book": {
            "book": "UBNDT.DEN",
            "serialNumber": doc_id % 100000,
            "dateStr": record.get("docDateStr", ""),
        },
        "attachments": [],
        "senders": [intake],
        "proInfos": steps,
        "ideas": [],
        "conversations": [],
        "taskReply": [],
        "references": [],
    }
    search = {
        "id": doc_id,
        "author": record.get("author", ""),
        "publisherCode": record.get("publisherCode", ""),
        "subject": title,
        "signNumber": record.get("signNumber", ""),
        "priority": record.get("priority", 0),
        "security": record.get("security", 0),
        "category": record.get("category", ""),
        "status": status,
        "createDate": created[0],
        "createDateStr": created[1],
        "docDate": record.get("docDate", ""),
        "docDateStr": record.get("docDateStr", ""),
        "signer": record.get("signer", ""),
        "type": "in",
        "steeringType": record.get("steeringType", 0),
    }
    item: dict[str, Any] = {
        "id": doc_id,
        "edSearchDto": search,
        "book": {"serialNumber": doc_id % 100000, "dateStr": record.get("docDateStr", "")},
        "piStatus": status,
        "responsibility": "main",
        "senderAname": CLERK,
        "confirmed": record.get("confirmed", "N"),
        "read": "Y",
        "replyEdId": 0,
    }
    if not has_id:
        del item["id"], search["id"]
    return item, detail


def intake_document(
    n: int, now: datetime, units: UnitSet = _DEFAULT
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `n`-th intake-only document: received by the clerk, no lead step yet."""
    doc_id = INTAKE_BASE + n
    created = (local_str(now), utc_str(now))
    step = _step(
        doc_id,
        doc_id * 10 + 1,
        "receive",
        code="VPUBND",
        status="received",
        created=created,
        units=units,
    )
    title = f"V/v đề nghị cung cấp thông tin (văn bản đến số {n + 1})"
    ed = {
        "id": doc_id,
        "subject": title,
        "signNumber": f"{n + 1}/VP-TH",
        "status": "received",
        "author": "Văn phòng Chính phủ",
        "publisherCode": "VPCP",
        "category": "Công văn",
        "steeringType": 0,
    }
    detail = {
        "ed": ed,
        "book": {},
        "attachments": [],
        "senders": [step],
        "proInfos": [step],
        "ideas": [],
        "conversations": [],
        "taskReply": [],
        "references": [],
    }
    item = {
        "id": doc_id,
        "edSearchDto": {
            "id": doc_id,
            "subject": title,
            "status": "received",
            "signNumber": ed["signNumber"],
            "category": "Công văn",
        },
        "piStatus": "received",
        "responsibility": "receive",
        "senderAname": CLERK,
        "confirmed": "N",
        "read": "N",
        "replyEdId": 0,
    }
    return item, detail


def intake_count(core: SimCore) -> int:
    """How many intake-only documents the list holds (`SimulatorConfig.intake_documents`,
    else one per 25 tasks)."""
    configured = core.config.intake_documents
    return configured if configured is not None else len(core.world) // 25


def quarantined_ids(world: World) -> set[int]:
    """The world keys whose iDesk 6 documents a reader must quarantine (every malformation
    stays unreadable in this dialect)."""
    return set(world.malformed)


def _form(request: Request) -> dict[str, str]:
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _int(raw: str | None, default: int) -> int | None:
    if raw in (None, ""):
        return default
    text = raw.strip()
    return int(text) if text.isdigit() else None


def _account(core: SimCore, given: str | None) -> Response | None:
    """The refusal of a request whose ``exeacode`` is missing or not the reading account's."""
    if not given:
        return error(400, "bad_request", "Thiếu tham số exeacode (mã tài khoản).")
    if given != core.config.account_code:
        return error(403, "access_denied")
    return None


def _listed(core: SimCore) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    world, now = core.world, core.now()
    with world.lock:
        keys = [k for k in sorted(world.tasks) if world.tasks[k].get("deleted") != "Y"]
        docs = [document(world.tasks[k], k, world) for k in keys]
    units = world.unit_set
    return docs + [intake_document(n, now, units) for n in range(intake_count(core))]


def _page(docs: list[dict[str, Any]], request: Request) -> Response:
    form = _form(request)
    page, size = _int(form.get("page"), 1), _int(form.get("pageSize"), DEFAULT_PAGE_SIZE)
    if page is None or size is None or page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
        return error(400, "bad_request", f"page >= 1, 1 <= pageSize <= {MAX_PAGE_SIZE}.")
    chosen = docs[(page - 1) * size : page * size]
    return json_response(200, {"total": len(docs), "items": chosen})


def process_list(core: SimCore, request: Request, _: str) -> Response:
    return _page([item for item, _detail in _listed(core)], request)


def receiving_list(core: SimCore, request: Request, _: str) -> Response:
    now, units = core.now(), core.world.unit_set
    return _page([intake_document(n, now, units)[0] for n in range(intake_count(core))], request)


def detail(core: SimCore, request: Request, _: str) -> Response:
    refused = _account(core, request.param("exeacode"))
    if refused is not None:
        return refused
    doc_id = _int(request.param("id"), -1)
    if doc_id is None or doc_id < 0:
        return error(400, "bad_request", "Thiếu hoặc sai tham số id.")
    if INTAKE_BASE <= doc_id < INTAKE_BASE + intake_count(core):
        intake = intake_document(doc_id - INTAKE_BASE, core.now(), core.world.unit_set)
        return json_response(200, intake[1])
    world = core.world
    with world.lock:
        key = world.key_of(doc_id)
        if key is None:
            return error(404, "not_found", f"Không có văn bản id={doc_id}.")
        return json_response(200, document(world.tasks[key], key, world)[1])


def organisation(core: SimCore, request: Request, _: str) -> Response:
    refused = _account(core, _form(request).get("exeacode"))
    if refused is not None:
        return refused
    return json_response(200, {"elements": tree(core.world.unit_set)})


def profile(core: SimCore, request: Request, _: str) -> Response:
    config, units = core.config, core.world.unit_set
    user = {
        "username": config.username,
        "fullname": "Văn thư UBND tỉnh",
        "email": f"{config.username}@{units.domain}",
        "organization": f"UBND tỉnh {units.province}",
        "code": f"u{ROOT_ID:04d}",
    }
    totp = {
        "algorithm": "SHA1",
        "passwordLength": 6,
        "zoneId": "Asia/Ho_Chi_Minh",
        "enabled": config.require_totp,
    }
    return json_response(200, {"user": user, "attributes": [], "totp": totp})
