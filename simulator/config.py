"""How a simulator is set up: the world, the deployment's conventions, the faults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from connector.errors import ConfigError, Problem
from simulator.faults import ExpireStyle, Faults
from simulator.units import DEFAULT_UNIT_SET, UNIT_SETS

if TYPE_CHECKING:
    from simulator.world import World

AuthMode = Literal["session", "token", "headers", "oauth2"]
AUTH_MODES: frozenset[AuthMode] = frozenset({"session", "token"})
"""The modes a simulator accepts by default (the contract's two)."""
ALL_AUTH_MODES: frozenset[AuthMode] = frozenset({"session", "token", "headers", "oauth2"})
"""Every mode a simulator can accept: also an integration gateway's (LGSP) static application
headers (``X-App-Name`` + ``X-Api-Key``, or the ``apikey`` query key) and OAuth 2.0 client
credentials (``POST <base>/oauth2/token``)."""
Dialect = Literal["contract", "idesk6"]
DIALECTS: tuple[Dialect, ...] = ("contract", "idesk6")
"""``contract``: the contract's API (docs/source-api.md); ``idesk6``: the same world served as
a deployed iDesk 6 web application's pages answer it (docs/idesk6.md)."""

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
    """What a client uses to authenticate, in every mode the simulator accepts."""

    username: str
    password: str
    token: str
    modes: frozenset[AuthMode]
    app_name: str = ""
    api_key: str = ""
    client_id: str = ""
    client_secret: str = ""
    account_code: str = ""


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
    dialect: Dialect = "contract"
    account_code: str = "8f3a61c2d9e04b7a"
    """iDesk 6: the reading account's own code, the ``exeacode`` that view.cpx and the
    organisation tree require."""
    app_name: str = "idesk-connector"
    api_key: str = "demo-api-key"
    client_id: str = "idesk-connector"
    client_secret: str = "demo-client-secret"  # noqa: S105 - the documented demo credential
    token_ttl: int = 3600
    """Seconds an OAuth 2.0 access token lives (``expires_in``)."""
    intake_documents: int | None = None
    """iDesk 6: how many intake-only documents (a ``receive`` step, no lead step) the list holds
    besides the world's tasks (None: one per 25 tasks)."""
    require_totp: bool = False
    """The account asks for a one-time code at login: the login form alone is refused."""
    expired_style: ExpireStyle | None = None
    frozen_clock: bool = False
    clock_start: datetime | None = None
    """Where the simulated clock starts (aware); None: the world's start, `today` at 08:00 local.
    `simulator serve` without `--today` starts it at the real time, so its `Date` is right."""
    idempotency_window: timedelta = timedelta(hours=24)
    units: str = DEFAULT_UNIT_SET
    """The unit set the world's tasks are assigned to (`simulator.units.UNIT_SETS`):
    ``binhdinh`` (the default province) or ``gialai`` (the merged province's system)."""
    tenant: str = ""
    """The tenant's name when one simulator process serves several (`simulator.tenants`);
    "" for a lone simulator."""
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
        if not self.auth_modes or not self.auth_modes <= ALL_AUTH_MODES:
            bad("auth_modes", f"must be a non-empty subset of {sorted(ALL_AUTH_MODES)}")
        if not self.username or not self.password or not self.token:
            bad("credentials", "username, password and token must not be empty")
        creds = (self.app_name, self.api_key, self.client_id, self.client_secret)
        if not all(creds) or not self.account_code:
            bad("credentials", "the gateway's credentials and the account code must not be empty")
        if self.dialect not in DIALECTS:
            bad("dialect", f"must be one of {', '.join(DIALECTS)}, got {self.dialect!r}")
        if self.intake_documents is not None and not 0 <= self.intake_documents <= MAX_TASKS:
            bad("intake_documents", f"must be within 0..{MAX_TASKS}, got {self.intake_documents}")
        if self.token_ttl <= 0:
            bad("token_ttl", f"must be > 0 seconds, got {self.token_ttl}")
        if self.session_ttl <= 0:
            bad("session_ttl", f"must be > 0 seconds, got {self.session_ttl}")
        if self.expired_style not in (None, "json", "html"):
            bad("expired_style", f"must be json or html, got {self.expired_style!r}")
        if self.idempotency_window <= timedelta(0):
            bad("idempotency_window", "must be positive")
        if self.units not in UNIT_SETS:
            bad("units", f"must be one of {', '.join(sorted(UNIT_SETS))}, got {self.units!r}")
        if problems:
            raise ConfigError(problems, source="simulator")

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            self.username,
            self.password,
            self.token,
            self.auth_modes,
            app_name=self.app_name,
            api_key=self.api_key,
            client_id=self.client_id,
            client_secret=self.client_secret,
            account_code=self.account_code,
        )

    @property
    def effective_expired_style(self) -> ExpireStyle:
        """How an expired session is answered (iDesk 6 always with its HTML login page)."""
        if self.dialect == "idesk6":
            return "html"
        return self.expired_style or self.faults.expire_style
