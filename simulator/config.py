"""How a simulator is set up: the world, the deployment's conventions, the faults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from connector.errors import ConfigError, Problem
from simulator.faults import ExpireStyle, Faults

if TYPE_CHECKING:
    from simulator.world import World

AuthMode = Literal["session", "token"]
AUTH_MODES: frozenset[AuthMode] = frozenset({"session", "token"})

DEFAULT_TODAY = date(2022, 3, 7)
"""The default `today` of a world: the week the Chairman's directive was signed."""
DEFAULT_BASE_PATH = "/ubnd/smartcloud"
MAX_TASKS = 1_000_000


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Credentials:
    """What a client uses to authenticate, for both modes."""

    username: str
    password: str
    token: str
    modes: frozenset[AuthMode]


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything a `Simulator` needs; validated on construction (raises `ConfigError`).

    `world` serves a world generated beforehand (then `tasks`, `seed`, `today` and
    `malformed_rate` are not used). `expired_style` overrides `faults.expire_style` for how an
    expired session is answered (None: take the faults' setting, JSON by default).
    """

    tasks: int = 500
    seed: int = 1
    today: date = DEFAULT_TODAY
    malformed_rate: float = 0.0
    faults: Faults = field(default_factory=Faults)
    host: str = "127.0.0.1"
    port: int = 0
    base_path: str = DEFAULT_BASE_PATH
    auth_modes: frozenset[AuthMode] = AUTH_MODES
    username: str = "demo"
    password: str = "demo-password"  # noqa: S105 - the simulator's documented demo credential
    token: str = "demo-token"  # noqa: S105 - ditto
    session_ttl: int = 1800
    expired_style: ExpireStyle | None = None
    frozen_clock: bool = False
    clock_start: datetime | None = None
    """Where the simulated clock starts (aware); None: the world's start, `today` at 08:00 local.
    `simulator serve` without `--today` starts it at the real time, so its `Date` is right."""
    idempotency_window: timedelta = timedelta(hours=24)
    world: World | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []

        def bad(name: str, message: str) -> None:
            problems.append(Problem(f"simulator.{name}", message))

        if not 0 <= self.tasks <= MAX_TASKS:
            bad("tasks", f"must be within 0..{MAX_TASKS}, got {self.tasks}")
        if not 0.0 <= self.malformed_rate <= 1.0:
            bad("malformed_rate", f"must be within 0..1, got {self.malformed_rate}")
        if not 1996 <= self.today.year <= 2098:
            bad("today", f"must be within 1996..2098, got {self.today.isoformat()}")
        if not is_loopback(self.host):
            bad("host", f"the simulator listens on loopback only, got {self.host!r}")
        if not 0 <= self.port <= 65535:
            bad("port", f"must be within 0..65535 (0: any free port), got {self.port}")
        if not self.base_path.startswith("/") or self.base_path.endswith("/"):
            bad("base_path", f"must start with '/' and not end with one, got {self.base_path!r}")
        if self.base_path.startswith("/_sim"):
            bad("base_path", "must not start with /_sim (the admin endpoints live there)")
        if not self.auth_modes or not self.auth_modes <= AUTH_MODES:
            bad("auth_modes", f"must be a non-empty subset of {sorted(AUTH_MODES)}")
        if not self.username or not self.password or not self.token:
            bad("credentials", "username, password and token must not be empty")
        if self.session_ttl <= 0:
            bad("session_ttl", f"must be > 0 seconds, got {self.session_ttl}")
        if self.expired_style not in (None, "json", "html"):
            bad("expired_style", f"must be json or html, got {self.expired_style!r}")
        if self.idempotency_window <= timedelta(0):
            bad("idempotency_window", "must be positive")
        if problems:
            raise ConfigError(problems, source="simulator")

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.username, self.password, self.token, self.auth_modes)

    @property
    def effective_expired_style(self) -> ExpireStyle:
        return self.expired_style or self.faults.expire_style
