"""A small HTTP server on 127.0.0.1 (ephemeral port) speaking a dialect other than the contract.

It proves the mapping engine is general: the same `SourceClient` and `normalise` read it through
a different mapping file, with no code change. Two dialects:

``b`` (mapping ``tests/support/data/dialect_b.toml``)
    ``POST /t/api/session`` (form ``user``, ``pass``) sets cookie ``SID``; an expired session is
    ``401 {"fault": {"code": "SESSION_TIMEOUT"}}``. ``GET /t/api/jobs?p=&n=&since=dd/mm/yyyy``
    → ``{"result": {"rows": [{"ref": 7}], "count": N}}`` (page numbers from 1; ``since`` keeps
    jobs updated on or after that local day). ``GET /t/api/jobs/<ref>`` → ``{"data": job}`` or
    ``404 {"fault": {"code": "NO_SUCH_JOB"}}``. Dates are ``dd/mm/yyyy [HH:MM:SS]``, local.

``idesk6`` (mapping ``mappings/idesk6.toml``, shapes of docs/idesk6.md)
    ``POST /ubnd/smartcloud/auth/login.cpx`` (form) sets ``JSESSIONID``; an expired session is
    ``200`` with the HTML login page (or ``302`` to ``…/login``: ``login_redirect``).
    ``POST .../document/edocs/qsprocess.cpx`` (form ``page``, ``pageSize``) →
    ``{"total", "items"}``; ``GET .../document/edocs/view.cpx?id=`` → detail;
    ``POST .../comm/nodes/fbyvsphere.cpx`` → the observed organisation tree (`IDESK6_TREE`). A
    document's detail can answer 500 (`DialectState.broken`), 403 (``refused``), as JSON or as
    the application server's HTML error page (``html_errors``), or a gateway's 504 every time
    (``stuck``).

Every answer carries the server clock (`now`) in its ``Date`` header; every request is recorded.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from simulator.loopback import Loopback, LoopbackHTTPServer, RequestLog
from tests.support.contract import LOCAL, Expected, Malformed, units
from tests.support.factories import ServerLogin

Dialect = Literal["b", "idesk6"]
BASE_PATHS = {"b": "/t", "idesk6": "/ubnd/smartcloud"}
LOGIN_PAGE = (
    "<!DOCTYPE html><html><head><title>Đăng nhập</title></head>"
    "<body><form action='login.cpx'>...</form></body></html>"
)


TOMCAT_500 = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 500 – Internal Server Error'
    '</title></head><body><h1>HTTP Status 500 – Internal Server Error</h1><hr class="line" />'
    "<p><b>Type</b> Exception Report</p><p><b>Message</b> java.lang.NullPointerException</p>"
    "<h3>Apache Tomcat/9.0.83</h3></body></html>"
)
TOMCAT_403 = (
    '<!doctype html><html lang="en"><head><title>HTTP Status 403 – Forbidden</title></head>'
    "<body><h1>HTTP Status 403 – Forbidden</h1><h3>Apache Tomcat/9.0.83</h3></body></html>"
)
GATEWAY_504 = (
    "<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway "
    "Time-out</h1></center><hr><center>nginx</center></body></html>"
)
IDESK6_TREE: list[dict[str, Any]] = [
    {
        "id": 313,
        "parent": 0,
        "name": "UBND xã Hòa Bình",
        "type": "unit",
        "order": 1,
        "config": 0,
        "office": "Y",
    },
    {
        "id": 278,
        "parent": 313,
        "name": "Lãnh đạo UBND",
        "type": "dept",
        "order": 2,
        "config": 0,
        "office": "N",
    },
    {
        "id": 279,
        "parent": 313,
        "name": "Văn phòng HĐND và UBND",
        "type": "dept",
        "order": 3,
        "config": 0,
        "office": "N",
    },
    {
        "id": 5144387,
        "parent": 313,
        "name": "Thôn Hội Phú",
        "type": "dept",
        "order": 20,
        "config": 0,
        "office": "N",
    },
    {
        "id": 985301,
        "parent": 278,
        "name": "Phó Chủ tịch UBND",
        "type": "alias",
        "rank": "leader",
        "order": 0,
        "config": 0,
        "office": "N",
        "refCode": "b3c5e1",
        "refUname": "nguyenvana@example.gov.vn",
        "refFullname": "Nguyễn Văn A",
        "defaultBook": 0,
        "transferToCode": "",
    },
]
"""The organisation tree of docs/idesk6.md (``fbyvsphere.cpx``), as observed."""


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    cookies: str


@dataclass
class DialectState:
    """What the server holds: the records, the sessions, the clock, the request log."""

    dialect: Dialect
    records: dict[int, dict[str, Any]]
    username: str
    password: str
    now: datetime
    sessions: set[str] = field(default_factory=set)
    log: RequestLog[Recorded] = field(default_factory=RequestLog)
    lock: threading.Lock = field(default_factory=threading.Lock)
    vanish: set[int] = field(default_factory=set)
    broken: set[int] = field(default_factory=set)
    """iDesk 6 documents whose detail answers ``500`` (a record the application fails on)."""
    refused: set[int] = field(default_factory=set)
    """iDesk 6 documents whose detail answers ``403`` (not the account's to read)."""
    stuck: set[int] = field(default_factory=set)
    """iDesk 6 documents whose detail a gateway in front answers ``504`` every time (the
    application takes too long over them), the other documents answering."""
    html_errors: bool = False
    """iDesk 6: error answers are the application server's HTML error page, not JSON."""
    login_redirect: bool = False
    """iDesk 6: a request without a live session is answered ``302 Location: …/login`` (the
    application sends the browser to its login page) instead of the HTML login page."""
    always_redirect: bool = False
    """iDesk 6: every request but the login is answered ``302 Location: …/login``, even with a
    fresh session (a session that never holds)."""


def _local_day(text: str) -> tuple[int, int, int]:
    day, month, year = text.split(" ", maxsplit=1)[0].split("/")
    return int(year), int(month), int(day)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def date_time_string(self, timestamp: float | None = None) -> str:
        return format_datetime(self.server.state.now, usegmt=True)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    # -- plumbing ---------------------------------------------------------------------------------

    def _send(
        self, status: int, body: Any, *, html: bool = False, cookie: str = "", location: str = ""
    ) -> None:
        data = (body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)).encode()
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        ctype = "text/html; charset=utf-8" if html else "application/json; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def _serve(self) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        state.log.append(
            Recorded(self.command, parts.path, query, form, self.headers.get("Cookie", ""))
        )
        base = BASE_PATHS[state.dialect]
        if not parts.path.startswith(base + "/"):
            self._send(404, {"error": "no_route"})
            return
        path = parts.path[len(base) :]
        if state.dialect == "b":
            self._dialect_b(state, path, query, form)
        else:
            self._dialect_idesk6(state, path, query, form)

    def _session(self, name: str) -> str:
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return ""

    def _login(self, state: DialectState, user: str, password: str, cookie: str) -> bool:
        if user != state.username or password != state.password:
            return False
        sid = secrets.token_hex(8)
        with state.lock:
            state.sessions.add(sid)
        self._cookie = f"{cookie}={sid}; Path=/; HttpOnly"
        return True

    # -- dialect b --------------------------------------------------------------------------------

    def _dialect_b(
        self, state: DialectState, path: str, query: dict[str, str], form: dict[str, str]
    ) -> None:
        if path == "/api/session" and self.command == "POST":
            if self._login(state, form.get("user", ""), form.get("pass", ""), "SID"):
                self._send(200, {"status": "ok"}, cookie=self._cookie)
            else:
                self._send(401, {"fault": {"code": "WRONG_LOGIN", "text": "Sai mật khẩu"}})
            return
        if self._session("SID") not in state.sessions:
            self._send(401, {"fault": {"code": "SESSION_TIMEOUT"}})
            return
        if path == "/api/jobs" and self.command == "GET":
            # Listed by the key the server holds the job under (a malformed job may lack "ref").
            refs = sorted(state.records)
            since = query.get("since")
            if since:
                day = _local_day(since)
                refs = [r for r in refs if _local_day(state.records[r]["updated"]) >= day]
            page, size = int(query.get("p", "1")), int(query.get("n", "10"))
            chosen = refs[(page - 1) * size : page * size]
            body = {"result": {"rows": [{"ref": ref} for ref in chosen], "count": len(refs)}}
            self._send(200, body)
            return
        if path.startswith("/api/jobs/") and self.command == "GET":
            ref = int(path.rsplit("/", 1)[1])
            job = state.records.get(ref)
            if job is None or ref in state.vanish:
                self._send(404, {"fault": {"code": "NO_SUCH_JOB"}})
            else:
                self._send(200, {"data": job})
            return
        self._send(404, {"fault": {"code": "NO_ROUTE"}})

    # -- dialect idesk6 ---------------------------------------------------------------------------

    def _dialect_idesk6(
        self, state: DialectState, path: str, query: dict[str, str], form: dict[str, str]
    ) -> None:
        if path == "/auth/login.cpx" and self.command == "POST":
            user, password = form.get("username", ""), form.get("password", "")
            if self._login(state, user, password, "JSESSIONID"):
                self._send(200, {"ok": True, "expiresIn": 1800}, cookie=self._cookie)
            else:
                self._send(401, {"error": "bad_credentials"})
            return
        expired = self._session("JSESSIONID") not in state.sessions
        if state.always_redirect or (expired and state.login_redirect):
            login = f"http://{self.headers.get('Host', '')}{BASE_PATHS['idesk6']}/login"
            self._send(302, "", html=True, location=login)
            return
        if expired:
            self._send(200, LOGIN_PAGE, html=True)
            return
        if path == "/document/edocs/qsprocess.cpx" and self.command == "POST":
            docs = [state.records[k] for k in sorted(state.records)]
            page, size = int(form.get("page", "1")), int(form.get("pageSize", "20"))
            chosen = docs[(page - 1) * size : page * size]
            self._send(200, {"total": len(docs), "items": [doc["list"] for doc in chosen]})
            return
        if path == "/document/edocs/view.cpx" and self.command == "GET":
            doc_id = int(query.get("id", "0"))
            doc = state.records.get(doc_id)
            if doc is None or doc_id in state.vanish:
                self._send(404, {"error": "not_found"})
            elif doc_id in state.stuck:
                self._send(504, GATEWAY_504, html=True)
            elif doc_id in state.broken and state.html_errors:
                self._send(500, TOMCAT_500, html=True)
            elif doc_id in state.broken:
                self._send(500, {"error": "internal_error", "message": "NullPointerException"})
            elif doc_id in state.refused and state.html_errors:
                self._send(403, TOMCAT_403, html=True)
            elif doc_id in state.refused:
                self._send(403, {"error": "access_denied"})
            else:
                self._send(200, doc["detail"])
            return
        if path == "/comm/nodes/fbyvsphere.cpx" and self.command == "POST":
            self._send(200, {"elements": IDESK6_TREE})
            return
        self._send(404, {"error": "not_found"})


class _Server(LoopbackHTTPServer):
    def __init__(self, state: DialectState) -> None:
        self.state = state
        super().__init__(_Handler)


class DialectServer(Loopback[_Server]):
    """``with DialectServer("b", records) as server: server.base_url ...``"""

    thread_name = "dialect-server"

    def __init__(
        self,
        dialect: Dialect,
        records: dict[int, dict[str, Any]],
        *,
        username: str = "clerk",
        password: str = "dialect-pw-9",
        now: datetime | None = None,
    ) -> None:
        super().__init__()
        self.state = DialectState(
            dialect=dialect,
            records=records,
            username=username,
            password=password,
            now=now or datetime(2022, 4, 20, 3, 0, tzinfo=UTC),
        )

    def bind(self) -> _Server:
        return _Server(self.state)

    @property
    def base_url(self) -> str:
        return self.url(BASE_PATHS[self.state.dialect])

    @property
    def credentials(self) -> ServerLogin:
        """The login this server accepts (session only)."""
        return ServerLogin(self.state.username, self.state.password)

    @property
    def requests(self) -> list[Recorded]:
        return self.state.log.all()

    def expire_sessions(self) -> None:
        """Forget every session: the next request answers "expired" the dialect's way."""
        with self.state.lock:
            self.state.sessions.clear()


# -- sample data --------------------------------------------------------------------------------

NFD_SUBJECT = "Báo cáo tình hình"  # decomposed (NFD): as older clients send it


def b_jobs(count: int = 7) -> dict[int, dict[str, Any]]:
    """`count` dialect-b jobs: refs 101.., updated on 1..count April 2022, one lead step each."""
    jobs: dict[int, dict[str, Any]] = {}
    states = ("DANG_XL", "HOAN_THANH", "THU_HOI")
    for i in range(count):
        ref = 101 + i
        day = i + 1
        jobs[ref] = {
            "ref": ref,
            "docNo": f"{ref}/QĐ-UBND",
            "title": NFD_SUBJECT + f" {ref}",
            "kind": "Quyết định",
            "issued": f"{day:02d}/03/2022",
            "updated": f"{day:02d}/04/2022 08:30:00",
            "state": states[i % 3],
            "urgency": str(i % 3),
            "steps": [
                {"role": "intake", "unit": {"code": "VT", "label": "Văn thư"}},
                {
                    "role": "lead",
                    "unit": {"code": "STC", "label": "Sở Tài chính"},
                    "due": f"{(day % 28) + 1:02d}/05/2022" if i % 4 else "",
                    "doneAt": f"{day:02d}/04/2022 16:00:00" if i % 3 == 1 else "",
                },
                {"role": "support", "unit": {"code": "SNV", "label": "Sở Nội vụ"}},
                {"role": "support", "unit": {"code": "STP", "label": "Sở Tư pháp"}},
            ],
            "removed": "1" if i == count - 1 else "0",
            "internalNote": {"ignored": True},
        }
    return jobs


def b_date(day: date) -> str:
    """A date as dialect b writes it: ``dd/mm/yyyy``."""
    return day.strftime("%d/%m/%Y")


def b_instant(instant: datetime) -> str:
    """An instant as dialect b writes it: local wall time ``dd/mm/yyyy HH:MM:SS``."""
    return instant.astimezone(LOCAL).strftime("%d/%m/%Y %H:%M:%S")


B_UNITS = (
    ("STC", "Sở Tài chính"),
    ("SNV", "Sở Nội vụ"),
    ("STP", "Sở Tư pháp"),
    ("SYT", "Sở Y tế"),
    ("SGDDT", "Sở Giáo dục và Đào tạo"),
    ("UBND-HBT", "UBND huyện Hòa Bình"),
)

B_MALFORM_KINDS: dict[str, str] = {
    "bad_issued": "issued",
    "unknown_state": "state",
    "missing_ref": "ref",
    "bad_due": "steps[role=lead].due",
}
"""Kinds of malformed dialect-b jobs `b_world` makes, with the source path each one breaks."""


@dataclass
class BWorld:
    """A generated dialect-b world: the jobs (by ref) and which of them are malformed."""

    jobs: dict[int, dict[str, Any]]
    malformed: dict[int, str]
    """ref -> the source path (see `B_MALFORM_KINDS`) the job has wrong."""


def b_world(count: int = 300, *, malformed: int = 3, seed: int = 7) -> BWorld:
    """`count` varied dialect-b jobs (refs 1001..), `malformed` of them spread evenly and broken
    in turn as in `B_MALFORM_KINDS`: 31/02 issue date, unknown state, no ``ref``, 30/02 due date.

    Updates fall between 3 January and the end of March 2022 (local), some on the same second;
    about 60 % are open, 30 % done, 10 % withdrawn; 15 % have no due date; 2 % are removed.
    """
    rng = random.Random(seed)
    start = datetime(2022, 1, 3, 8, 0, tzinfo=LOCAL)
    jobs: dict[int, dict[str, Any]] = {}
    for i in range(count):
        ref = 1001 + i
        step = i - 1 if i % 5 == 4 else i  # every 5th job shares its predecessor's second
        updated = start + timedelta(hours=7 * step)
        issued = updated.date() - timedelta(days=rng.randint(0, 20))
        state = rng.choices(("DANG_XL", "HOAN_THANH", "THU_HOI"), weights=(6, 3, 1))[0]
        lead = rng.choice(B_UNITS)
        support = rng.sample([u for u in B_UNITS if u != lead], rng.randint(0, 2))
        due = "" if rng.random() < 0.15 else b_date(issued + timedelta(days=rng.randint(5, 60)))
        done = b_instant(updated) if state == "HOAN_THANH" else ""
        subject = f"Báo cáo tình hình thực hiện nhiệm vụ số {ref}"
        jobs[ref] = {
            "ref": ref,
            "docNo": f"{ref}/UBND-{lead[0]}",
            "title": NFD_SUBJECT + f" {ref}" if i % 7 == 0 else subject,
            "kind": rng.choice(("Quyết định", "Công văn", "Thông báo")),
            "issued": b_date(issued),
            "updated": b_instant(updated),
            "state": state,
            "urgency": str(rng.randint(0, 2)),
            "steps": [
                {"role": "intake", "unit": {"code": "VT", "label": "Văn thư"}},
                {
                    "role": "lead",
                    "unit": {"code": lead[0], "label": lead[1]},
                    "due": due,
                    "doneAt": done,
                },
                *({"role": "support", "unit": {"code": c, "label": n}} for c, n in support),
            ],
            "removed": "1" if rng.random() < 0.02 else "0",
            "internalNote": {"ignored": True},
        }
    kinds = list(B_MALFORM_KINDS)
    bad: dict[int, str] = {}
    for k in range(malformed):
        ref = 1001 + int((k + 0.5) * count / malformed)
        kind = kinds[k % len(kinds)]
        job = jobs[ref]
        if kind == "bad_issued":
            job["issued"] = "31/02/2022"
        elif kind == "unknown_state":
            job["state"] = "TAM_DUNG"
        elif kind == "missing_ref":
            del job["ref"]
        else:
            job["steps"][1]["due"] = "30/02/2022"
        bad[ref] = B_MALFORM_KINDS[kind]
    return BWorld(jobs, bad)


B_STATES = {"DANG_XL": "open", "HOAN_THANH": "done", "THU_HOI": "cancelled"}
"""Dialect b's job states and what each one means (open, done, withdrawn)."""


def _b_date(job: dict[str, Any], key: str) -> date | None:
    value = job.get(key, "")
    if value == "":
        return None
    try:
        return datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        raise Malformed(key, value) from None


def _b_instant(value: str) -> datetime | None:
    """Local wall time ``dd/mm/yyyy HH:MM:SS`` as a UTC instant."""
    if value == "":
        return None
    local = datetime.strptime(value, "%d/%m/%Y %H:%M:%S")
    return local.replace(tzinfo=LOCAL).astimezone(UTC)


def b_expected(job: dict[str, Any]) -> Expected:
    """What the ledger must hold for a dialect-b job, read from the format described above
    (not through the mapping); `Malformed` names the source path at fault (as
    `B_MALFORM_KINDS` does)."""
    ref = job.get("ref")
    if not isinstance(ref, int):
        raise Malformed("ref", ref)
    if job.get("state") not in B_STATES:
        raise Malformed("state", job.get("state"))
    issued = _b_date(job, "issued")
    (lead,) = [step for step in job["steps"] if step["role"] == "lead"]
    try:
        due = _b_date(lead, "due")
    except Malformed as exc:
        raise Malformed("steps[role=lead].due", exc.value) from None
    support = [step["unit"] for step in job["steps"] if step["role"] == "support"]
    return Expected(
        ref,
        {
            "state": B_STATES[job["state"]],
            "source_status": job["state"],
            "sign_number": job["docNo"],
            "subject": unicodedata.normalize("NFC", job["title"]).strip(),
            "category": job["kind"],
            "doc_date": issued,
            "lead_unit_code": lead["unit"]["code"],
            "lead_unit_name": lead["unit"]["label"],
            "coordinators": units((unit["code"], unit["label"]) for unit in support),
            "deadline": due,
            "completed_at": _b_instant(lead.get("doneAt", "")),
            "priority": int(job["urgency"]),
            "deleted_at_source": job["removed"] == "1",
        },
    )


def _step(
    doc_id: int, sid: int, responsibility: str, unit: str, dept: int, status: str, deadline: str
) -> dict[str, Any]:
    return {
        "id": sid,
        "parent": doc_id + 4,
        "senderAname": "Văn thư UBND tỉnh",
        "receiverAname": unit,
        "receiverName": "Trần Thị B",
        "receiverDeptId": dept,
        "createDate": "Jul 21, 2026, 3:07:00 PM",
        "createDateStr": "2026-07-21T08:07:00+00:00",
        "deadline": deadline,
        "completeDate": "Jul 25, 2026, 9:00:00 AM" if status == "completed" else "",
        "completeDateStr": "2026-07-25T02:00:00+00:00" if status == "completed" else "",
        "status": status,
        "responsibility": responsibility,
        "finalHandle": "Y",
        "priority": 0,
        "confirmed": "N",
        "read": "Y",
    }


def idesk6_docs(count: int = 5) -> dict[int, dict[str, Any]]:
    """`count` iDesk 6 documents (list item + detail), ids 5100231.., in the observed shapes."""
    docs: dict[int, dict[str, Any]] = {}
    for i in range(count):
        doc_id = 5100231 + i
        ed = {
            "id": doc_id,
            "documentId": f"H08.05,2026/07/21,{812 + i}/STC-NS",
            "subject": f"V/v rà soát kinh phí chuyển đổi số năm 2026 ({i})",
            "signNumber": f"{812 + i}/STC-NS",
            "docDateStr": "2026-07-20T17:00:00+00:00",
            "author": "Sở Tài chính",
            "publisherCode": "H08.05",
            "category": "Công văn",
            "signer": "Nguyễn Văn A",
            "position": "Giám đốc",
            "status": "processing",
            "steeringType": 0,
            "receiverCommCode": "H08.01",
            "solveDayNum": 0,
            "requiredReply": "N",
            "replyDeadline": "Feb 1, 2200, 12:00:01 AM",
        }

        main_status = ("processing", "completed", "tranfered", "received", "processing")[i % 5]
        deadline = "Jul 31, 2026, 12:00:00 AM" if i % 2 == 0 else "Feb 1, 2200, 12:00:01 AM"
        detail = {
            "ed": ed,
            "book": {"book": "UBNDT.DEN", "serialNumber": 2431 + i, "dateStr": ed["docDateStr"]},
            "attachments": [],
            "senders": [
                _step(doc_id, doc_id + 3, "receive", "Văn thư UBND tỉnh", 1, "tranfered", "")
            ],
            "proInfos": [
                _step(doc_id, doc_id + 5, "coordinate", "Sở Nội vụ", 279, "processing", deadline),
                _step(
                    doc_id,
                    doc_id + 9,
                    "main",
                    "Sở Thông tin và Truyền thông",
                    278,
                    main_status,
                    deadline,
                ),
                _step(doc_id, doc_id + 6, "coordinate", "Sở Tư pháp", 280, "received", ""),
            ],
            "ideas": [],
            "conversations": [],
            "taskReply": [],
            "references": [],
        }
        item = {
            "id": doc_id,
            "edSearchDto": {
                "id": doc_id,
                "subject": ed["subject"],
                "signNumber": ed["signNumber"],
                "priority": 1,
                "category": "Công văn",
                "status": "processing",
                "docDateStr": ed["docDateStr"],
            },
            "book": {"serialNumber": 2431 + i, "dateStr": ed["docDateStr"]},
            "piStatus": "processing",
            "responsibility": "main",
            "senderAname": "Văn thư UBND tỉnh",
            "confirmed": "N",
            "read": "N",
            "replyEdId": 0,
        }
        docs[doc_id] = {"list": item, "detail": detail}
    return docs
