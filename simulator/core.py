"""The simulator without its socket: world, clock, server state, faults, and the changes a test
(or the `/_sim/` admin endpoints) can make while it runs.

Every change to a task sets its `lastModifyStr` to the simulated now.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from connector.clock import local_date
from simulator.config import SimulatorConfig
from simulator.faults import ExpireStyle, FaultDice, Faults, Limiter, limiter_for
from simulator.generator import Scenario
from simulator.recorder import RequestLog
from simulator.simclock import SimClock
from simulator.state import (
    AccessTokens,
    IdempotencyStore,
    Notification,
    Outcomes,
    Sessions,
    TrackingWrite,
)
from simulator.timefmt import floor_second, local_str, utc_str
from simulator.world import World, generate_world

log = structlog.get_logger(__name__)

MAX_ADDED_TASKS = 100_000


class SimCore:
    """State shared by the HTTP handlers, the admin endpoints and the Python API."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.world: World = config.world or generate_world(
            config.seed,
            config.tasks,
            config.today,
            malformed_rate=config.malformed_rate,
            units=config.units,
        )
        self.clock = SimClock(config.clock_start or self.world.start, frozen=config.frozen_clock)
        self.requests = RequestLog()
        self.sessions = Sessions(timedelta(seconds=config.session_ttl))
        self.tokens = AccessTokens()
        self.idempotency = IdempotencyStore(config.idempotency_window)
        self.outcomes = Outcomes()
        self.write_lock = threading.Lock()
        """Held around check-and-store of idempotent writes."""
        self._faults_lock = threading.Lock()
        self._faults = config.faults
        seed = config.faults.seed if config.faults.seed is not None else f"faults:{config.seed}"
        self.dice = FaultDice(seed)
        self.limiter: Limiter = limiter_for(config.faults)
        self._retry_after_count = 0

    # -- faults ------------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        with self._faults_lock:
            return self._faults

    def set_faults(self, faults: Faults) -> None:
        """Change the faults while running (the rate limiter restarts with full buckets)."""
        with self._faults_lock:
            self._faults = faults
            self.limiter = limiter_for(faults)
        log.info("simulator_faults_changed", faults=faults.to_spec())

    @property
    def expired_style(self) -> ExpireStyle:
        if self.config.dialect == "idesk6":
            return "html"
        return self.config.expired_style or self.faults.expire_style

    def next_retry_after_is_date(self) -> bool:
        """Whether the next `Retry-After` is an HTTP-date (alternating unless configured)."""
        style = self.faults.retry_after
        if style != "alternate":
            return style == "date"
        with self._faults_lock:
            self._retry_after_count += 1
            return self._retry_after_count % 2 == 0

    # -- time --------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def today(self) -> date:
        return local_date(self.clock.now())

    def advance(self, delta: timedelta) -> datetime:
        """Move the simulated clock forward."""
        now = self.clock.advance(delta)
        log.info("simulator_clock_advanced", by=str(delta), now=utc_str(now))
        return now

    def advance_days(self, days: float) -> datetime:
        return self.advance(timedelta(days=days))

    # -- changes to the world --------------------------------------------------------------------

    def complete_task(self, task_id: int, at: datetime | None = None) -> None:
        self.world.complete(task_id, self.now(), at)

    def change_deadline(self, task_id: int, deadline: date | None, reason: str = "") -> None:
        self.world.change_deadline(task_id, deadline, self.now(), reason)

    def confirm_task(self, task_id: int, confirmed: bool = True) -> None:
        self.world.confirm(task_id, self.now(), confirmed)

    def report_progress(self, task_id: int, progress: int) -> None:
        self.world.report_progress(task_id, self.now(), progress)

    def withdraw_task(self, task_id: int) -> None:
        self.world.withdraw(task_id, self.now())

    def soft_delete(self, task_id: int) -> None:
        self.world.soft_delete(task_id, self.now())

    def hard_delete(self, task_id: int) -> None:
        self.world.hard_delete(task_id)

    def touch(self, task_id: int) -> None:
        """Bump the task's `lastModifyStr` to now without any other change."""
        key = self.world.key_of(task_id)
        if key is None:
            self.world.task(task_id)  # raises UnknownTaskError
            return
        self.world.touch(key, self.now())

    def add_tasks(
        self, count: int, *, same_timestamp: bool = False, scenario: Scenario | None = None
    ) -> list[int]:
        """Assign `count` new tasks now; returns their ids.

        With `same_timestamp` all share one `lastModifyStr` (the current second). Otherwise the
        simulated clock moves forward one second per task so each has its own.
        """
        if not 0 <= count <= MAX_ADDED_TASKS:
            raise ValueError(f"count must be within 0..{MAX_ADDED_TASKS}, got {count}")
        with self.world.lock:
            if same_timestamp:
                now = floor_second(self.now())
                instants = [now] * count
            else:
                instants = []
                for _ in range(count):
                    self.clock.advance(timedelta(seconds=1))
                    instants.append(self.now())
            ids = self.world.add_tasks(instants, scenario)
        log.info("simulator_tasks_added", count=count, same_timestamp=same_timestamp)
        return ids

    def expire_sessions(self) -> int:
        """Force every session and every OAuth 2.0 access token to expire; returns how many
        were live."""
        return self.sessions.expire_all() + self.tokens.expire_all(self.now())

    # -- what happened ---------------------------------------------------------------------------

    @property
    def notifications(self) -> list[Notification]:
        return self.outcomes.notifications_copy()

    @property
    def tracking_writes(self) -> list[TrackingWrite]:
        return self.outcomes.tracking_copy()

    def state(self) -> dict[str, Any]:
        """What `GET /_sim/state` answers."""
        now = self.now()
        by_endpoint: dict[str, int] = {}
        for request in self.requests.all():
            by_endpoint[request.endpoint] = by_endpoint.get(request.endpoint, 0) + 1
        notes = self.notifications
        return {
            "today": local_date(now).isoformat(),
            "worldToday": self.world.today.isoformat(),
            "now": utc_str(now),
            "nowLocal": local_str(now),
            "advancedSeconds": int(self.clock.offset.total_seconds()),
            "seed": self.world.seed,
            "tenant": self.config.tenant,
            "units": self.world.unit_set.name,
            "faults": self.faults.to_spec(),
            "tasks": self.world.counts(),
            "notificationsCreated": len(notes),
            "notifications": [n.to_json() | {"recipients": list(n.recipients)} for n in notes],
            "trackingWrites": len(self.outcomes.tracking_copy()),
            "sessionsActive": self.sessions.active(),
            "requests": {"total": sum(by_endpoint.values()), "byEndpoint": by_endpoint},
        }
