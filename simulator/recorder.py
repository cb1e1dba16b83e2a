"""Every request the simulator received, for tests to count and inspect (thread-safe)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from simulator import loopback


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received, and how it was answered.

    `endpoint` is the path below the base path (``/tasks/search.cpx``), or the full path when
    the request was outside it. `headers` keep the names as sent. `at` is the simulated instant.
    `faults` names the faults injected into this exchange (``rate_limit``, ``http5xx``,
    ``slow``, ``drop``, ``expire``, ``mutate``), empty when none.
    """

    method: str
    path: str
    endpoint: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: datetime
    status: int
    faults: tuple[str, ...] = ()
    client: str = ""

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON (raises ValueError when it is not)."""
        return json.loads(self.body.decode("utf-8"))


class RequestLog(loopback.RequestLog[RecordedRequest]):
    """The list of `RecordedRequest`, appended by the server threads, with queries for tests."""

    def filter(
        self,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        status: int | None = None,
        fault: str | None = None,
        where: Callable[[RecordedRequest], bool] | None = None,
    ) -> list[RecordedRequest]:
        """The recorded requests matching every criterion given."""
        return [
            r
            for r in self.all()
            if (endpoint is None or r.endpoint == endpoint)
            and (method is None or r.method == method.upper())
            and (status is None or r.status == status)
            and (fault is None or fault in r.faults)
            and (where is None or where(r))
        ]

    def count(
        self,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        status: int | None = None,
        fault: str | None = None,
    ) -> int:
        """How many recorded requests match every criterion given."""
        return len(self.filter(endpoint=endpoint, method=method, status=status, fault=fault))
