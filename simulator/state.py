"""Server-side state besides the tasks: sessions, idempotency keys, notifications, writes."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from simulator.timefmt import utc_str

# -- sessions -------------------------------------------------------------------------------


class SessionState(StrEnum):
    OK = "ok"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass
class Session:
    sid: str
    username: str
    last_seen: datetime
    expired: bool = False
    opened: float = field(default_factory=time.monotonic)
    """When it was opened, on this process's monotonic clock (real seconds, whatever the
    simulated clock says)."""
    served: bool = False
    """Whether a request was answered with it yet."""


class Sessions:
    """JSESSIONID -> session; a session expires after `ttl` without a request."""

    def __init__(self, ttl: timedelta) -> None:
        self.ttl = ttl
        self._by_sid: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, username: str, now: datetime) -> Session:
        session = Session(sid=secrets.token_hex(16).upper(), username=username, last_seen=now)
        with self._lock:
            self._by_sid[session.sid] = session
        return session

    def username_of(self, sid: str) -> str | None:
        with self._lock:
            session = self._by_sid.get(sid)
            return session.username if session else None

    def check(self, sid: str, now: datetime) -> tuple[SessionState, Session | None]:
        """Whether the session is usable at `now`; a usable one counts this as activity."""
        with self._lock:
            session = self._by_sid.get(sid)
            if session is None:
                return SessionState.UNKNOWN, None
            if session.expired or now - session.last_seen > self.ttl:
                session.expired = True
                return SessionState.EXPIRED, session
            session.last_seen = max(session.last_seen, now)
            return SessionState.OK, session

    def expire(self, sid: str) -> None:
        with self._lock:
            session = self._by_sid.get(sid)
            if session is not None:
                session.expired = True

    def expire_all(self) -> int:
        """Force every live session to expire; returns how many were live."""
        with self._lock:
            live = [s for s in self._by_sid.values() if not s.expired]
            for session in live:
                session.expired = True
            return len(live)

    def active(self) -> int:
        with self._lock:
            return sum(1 for s in self._by_sid.values() if not s.expired)


class AccessTokens:
    """OAuth 2.0 access tokens the gateway issued (client credentials), each until it expires."""

    def __init__(self) -> None:
        self._expires: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, now: datetime, ttl: timedelta) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._expires[token] = now + ttl
            self.issued += 1
        return token

    def valid(self, token: str, now: datetime) -> bool:
        with self._lock:
            expires = self._expires.get(token)
            return expires is not None and now < expires

    def expire_all(self, now: datetime) -> int:
        """Make every live token expire now; returns how many were live."""
        with self._lock:
            live = [t for t, e in self._expires.items() if now < e]
            for token in live:
                self._expires[token] = now
            return len(live)


# -- idempotency ----------------------------------------------------------------------------


class KeyUse(StrEnum):
    NEW = "new"
    """First use of the key (or its previous use is older than the window)."""
    REPLAY = "replay"
    """Same key, same body, within the window: answer the stored response."""
    REUSED = "reused"
    """Same key, different body, within the window: refuse."""


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: dict[str, Any]
    at: datetime


class IdempotencyStore:
    """Successful responses by (endpoint, key), kept for `window` of simulated time."""

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._stored: dict[tuple[str, str], StoredResponse] = {}
        self._lock = threading.Lock()

    def lookup(
        self, scope: str, key: str, fingerprint: str, now: datetime
    ) -> tuple[KeyUse, StoredResponse | None]:
        with self._lock:
            stored = self._stored.get((scope, key))
            if stored is None or now - stored.at >= self.window:
                return KeyUse.NEW, None
            if stored.fingerprint == fingerprint:
                return KeyUse.REPLAY, stored
            return KeyUse.REUSED, stored

    def store(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        *,
        status: int,
        body: dict[str, Any],
        now: datetime,
    ) -> None:
        with self._lock:
            self._stored[(scope, key)] = StoredResponse(fingerprint, status, body, now)

    def __len__(self) -> int:
        with self._lock:
            return len(self._stored)


# -- what clients caused --------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """A notification the system created (one per distinct send, replays excluded)."""

    id: str
    type: str
    task_id: int | None
    recipients: tuple[str, ...]
    level: int
    title: str
    content: str
    idempotency_key: str
    created: datetime

    def to_json(self) -> dict[str, Any]:
        """The item `GET /notifications/list.cpx` returns."""
        return {
            "id": self.id,
            "type": self.type,
            "taskId": self.task_id,
            "idempotencyKey": self.idempotency_key,
            "createdDateStr": utc_str(self.created),
        }


@dataclass(frozen=True)
class TrackingWrite:
    """A tracking-status write that took effect (replays excluded)."""

    task_id: int
    tracking_status: str
    body: dict[str, Any]
    idempotency_key: str
    at: datetime
    last_modify_str: str


@dataclass
class Outcomes:
    """Notifications created and tracking writes applied, in order (thread-safe)."""

    notifications: list[Notification] = field(default_factory=list)
    tracking_writes: list[TrackingWrite] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_notification(
        self,
        *,
        type_: str,
        task_id: int | None,
        recipients: tuple[str, ...],
        level: int,
        title: str,
        content: str,
        idempotency_key: str,
        now: datetime,
    ) -> Notification:
        with self._lock:
            note = Notification(
                id=f"TB-{len(self.notifications) + 1:06d}",
                type=type_,
                task_id=task_id,
                recipients=recipients,
                level=level,
                title=title,
                content=content,
                idempotency_key=idempotency_key,
                created=now,
            )
            self.notifications.append(note)
            return note

    def add_tracking(self, write: TrackingWrite) -> None:
        with self._lock:
            self.tracking_writes.append(write)

    def notifications_copy(self) -> list[Notification]:
        with self._lock:
            return list(self.notifications)

    def tracking_copy(self) -> list[TrackingWrite]:
        with self._lock:
            return list(self.tracking_writes)
