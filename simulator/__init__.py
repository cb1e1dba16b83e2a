"""An iDesk-style document system for tests and demos (contract: docs/source-api.md).

A tool shipped beside the product, not part of it: `connector` imports it only in the demo.
A real HTTP server on loopback serving a deterministic, province-like world of assigned tasks,
with both authentication modes, a live paged search, idempotent writes, notifications, a rate
limit and switchable faults, plus admin endpoints under ``/_sim/`` to change the world while a
client runs.

Modules: `units` (the province's units, and the merged province's second system), `textgen`
(Vietnamese text), `generator` (records per scenario), `world` (the records and their changes),
`simclock`, `faults`, `state` (sessions, idempotency, notifications), `api` (the contract's
endpoints), `admin` (``/_sim/``), `core`, `server` (`Simulator`, `serve`), `tenants` (several
simulated systems in one process, one port each), `loopback` (the threaded loopback server, its
lifecycle and request log, shared with the test servers in ``tests/``).
"""

from __future__ import annotations

from simulator.config import (
    DEFAULT_BASE_PATH,
    DEFAULT_TODAY,
    AuthMode,
    Credentials,
    SimulatorConfig,
)
from simulator.faults import Faults, parse_faults
from simulator.generator import NEW_TASK_SCENARIOS, Scenario
from simulator.recorder import RecordedRequest, RequestLog
from simulator.server import Simulator, banner, serve
from simulator.state import Notification, TrackingWrite
from simulator.tenants import Tenants, TenantSpec, parse_tenant, serve_tenants, tenant_configs
from simulator.textgen import DeadlinePhrase
from simulator.timefmt import NO_DEADLINE
from simulator.units import UNIT_SETS, UNITS, UNITS_BY_CODE, UnitSet
from simulator.world import (
    Malformation,
    MalformKind,
    UnknownTaskError,
    World,
    generate_world,
)

__all__ = [
    "DEFAULT_BASE_PATH",
    "DEFAULT_TODAY",
    "NEW_TASK_SCENARIOS",
    "NO_DEADLINE",
    "UNITS",
    "UNITS_BY_CODE",
    "UNIT_SETS",
    "AuthMode",
    "Credentials",
    "DeadlinePhrase",
    "Faults",
    "MalformKind",
    "Malformation",
    "Notification",
    "RecordedRequest",
    "RequestLog",
    "Scenario",
    "Simulator",
    "SimulatorConfig",
    "TenantSpec",
    "Tenants",
    "TrackingWrite",
    "UnitSet",
    "UnknownTaskError",
    "World",
    "banner",
    "generate_world",
    "parse_faults",
    "parse_tenant",
    "serve",
    "serve_tenants",
    "tenant_configs",
]
