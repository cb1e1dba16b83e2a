"""One way to build each thing the tests need, so a change of shape is made in one place.

- `make_task`: a `NormalisedTask` (what the mapping gives the ledger and the rules);
- `make_record`, `make_records`: task records as a contract v1 source serves them;
- `make_settings`: `Settings` for a deployment reading a loopback server (the simulator, a
  hostile or dialect server) into a ledger.

Each takes the values a test cares about as keywords and fills the rest with the plain case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

from connector.models import NormalisedTask, TaskState
from connector.settings import Settings
from tests.support.contract import LOCAL, en_us, utc_str

T0 = datetime(2022, 1, 3, 2, tzinfo=UTC)
"""Monday 3 January 2022, 09:00 local: when `make_task`'s task is assigned."""

RECORDS_NOW = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)
"""Monday 7 March 2022, 09:00 local: the clock `make_records` counts back from."""


def make_task(source_id: int = 1, **changes: Any) -> NormalisedTask:
    """An open task of the Department of Information and Communications (STTTT), assigned on
    Monday 3 January 2022 by document ``<source_id>/UBND-KSTT``, due Monday 10 January, its
    status confirmed; `changes` replace any field (``deadline=None``: no deadline)."""
    base = NormalisedTask(
        source_id=source_id,
        last_modified=T0,
        state=TaskState.OPEN,
        sign_number=f"{source_id}/UBND-KSTT",
        subject="Triển khai kế hoạch chuyển đổi số",
        lead_unit_code="STTTT",
        lead_unit_name="Sở Thông tin và Truyền thông",
        doc_date=date(2022, 1, 3),
        assigned_at=T0,
        deadline=date(2022, 1, 10),
        confirmed=True,
    )
    return replace(base, **changes)


def make_record(task_id: int, modified: datetime, **changes: Any) -> dict[str, Any]:
    """A valid contract v1 record: open (``processing``), assigned ten days before `modified`,
    due 30 days after it, lead unit STTTT; `changes` replace or add keys."""
    local = modified.astimezone(LOCAL)
    created = modified - timedelta(days=10)
    deadline = (local + timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
    record: dict[str, Any] = {
        "id": task_id,
        "edId": 900_000 + task_id,
        "signNumber": f"{task_id}/UBND-KSTT",
        "category": "Công văn",
        "subject": f"Báo cáo tình hình thực hiện nhiệm vụ số {task_id}",
        "author": "UBND tỉnh",
        "publisherCode": "UBND",
        "signer": "Nguyễn Văn A",
        "position": "Phó Chủ tịch",
        "docDate": en_us(created),
        "docDateStr": utc_str(created),
        "steeringType": 1,
        "steeringBy": "Phó Chủ tịch Nguyễn Văn A",
        "steeringContent": f"Khẩn trương triển khai nhiệm vụ số {task_id}.",
        "receiverCommCode": "STTTT",
        "receiverAname": "Sở Thông tin và Truyền thông",
        "coordinators": [{"commCode": "SNV", "aname": "Sở Nội vụ"}],
        "createDate": en_us(created),
        "createDateStr": utc_str(created),
        "deadline": en_us(deadline),
        "deadlineChanges": [],
        "status": "processing",
        "completeDate": "",
        "completeDateStr": "",
        "priority": 0,
        "progress": 10,
        "lastReportDateStr": "",
        "confirmed": "N",
        "confirmedDateStr": "",
        "trackingStatus": "",
        "lastModify": en_us(modified),
        "lastModifyStr": utc_str(modified),
        "deleted": "N",
    }
    record.update(changes)
    return record


def make_records(
    count: int, *, start: datetime | None = None, step_s: float = 60.0, first_id: int = 1
) -> list[dict[str, Any]]:
    """`count` valid records with ids `first_id`..., modified `step_s` apart from `start`
    (default: a day before `RECORDS_NOW`)."""
    begin = start or RECORDS_NOW - timedelta(days=1)
    return [make_record(first_id + i, begin + timedelta(seconds=step_s * i)) for i in range(count)]


class Login(Protocol):
    """What a loopback server accepts: the simulator's `Credentials`, or a test server's."""

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def token(self) -> str: ...


@dataclass(frozen=True)
class ServerLogin:
    """The login a test server accepts (the simulator has its own `Credentials`)."""

    username: str
    password: str
    token: str = ""


class Source(Protocol):
    """A loopback server a deployment reads: its base URL and the login it accepts."""

    @property
    def base_url(self) -> str: ...
    @property
    def credentials(self) -> Login: ...


def _merge(into: dict[str, Any], changes: Mapping[str, Any]) -> None:
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def make_settings(
    server: Source,
    ledger_url: str,
    /,
    *,
    auth: Literal["session", "token"] = "session",
    **sections: Mapping[str, Any],
) -> Settings:
    """Settings reading `server` into `ledger_url` with the given authentication: short
    timeouts, quick retries (3 attempts, waits of at most 0.05 s, 10 s in all); `sections`
    (``retry={...}``, ``push={...}``...) override or add keys, table by table."""
    login = server.credentials
    data: dict[str, Any] = {
        "source": {
            "base_url": server.base_url,
            "auth": auth,
            "username": login.username,
            "connect_timeout": 2,
            "read_timeout": 5,
        },
        "retry": {"max_attempts": 3, "initial_wait": 0.01, "max_wait": 0.05, "total_budget": 10},
        "ledger": {"url": ledger_url},
    }
    data["source"]["token" if auth == "token" else "password"] = (
        login.token if auth == "token" else login.password
    )
    _merge(data, sections)
    return Settings.model_validate(data)
