"""Several simulated document systems (tenants) served by one process, each on its own port.

A merged province runs two or more document systems side by side; a tenant is one of them. Each
tenant is an ordinary `Simulator` on its own loopback port, so to the connector every tenant
looks like a lone iDesk: its own base URL, logins, world, clock, faults and ``/_sim/`` admin
endpoints. Nothing is shared between tenants but the process.

::

    specs = [parse_tenant("gialai:2:300"), parse_tenant("binhdinh")]
    with Tenants(tenant_configs(SimulatorConfig(), specs)) as tenants:
        tenants["gialai"].base_url    # http://127.0.0.1:PORT/ubnd/smartcloud
        tenants["binhdinh"].credentials.username    # demo-binhdinh

A tenant named like a unit set (``gialai``, ``binhdinh``: `simulator.units.UNIT_SETS`) serves
that set's units; any other name serves the base configuration's.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Self

import structlog

from connector.errors import ConfigError, Problem
from simulator.config import DIALECTS, Dialect, SimulatorConfig
from simulator.server import Simulator, tenant_banner
from simulator.units import UNIT_SETS

log = structlog.get_logger(__name__)

TENANT_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
"""A tenant's name: lower-case ASCII letters, digits, ``_`` and ``-``, starting with a letter."""
TENANT_SYNTAX = "NAME[:SEED[:TASKS[:DIALECT]]]"


@dataclass(frozen=True)
class TenantSpec:
    """One tenant as ``--tenant`` gives it; None: take the base configuration's value."""

    name: str
    seed: int | None = None
    tasks: int | None = None
    dialect: Dialect | None = None


def _problem(message: str) -> ConfigError:
    return ConfigError([Problem("simulator.tenant", message)], source="simulator")


def _number(part: str, what: str, spec: str) -> int | None:
    if part == "":
        return None
    try:
        return int(part)
    except ValueError:
        raise _problem(f"{spec!r}: the {what} must be a whole number, got {part!r}") from None


def parse_tenant(spec: str) -> TenantSpec:
    """``NAME[:SEED[:TASKS[:DIALECT]]]`` as a `TenantSpec` (raises `ConfigError`)."""
    parts = spec.split(":")
    if len(parts) > 4:
        raise _problem(f"{spec!r}: expected {TENANT_SYNTAX}")
    name = parts[0]
    if not TENANT_NAME.fullmatch(name):
        raise _problem(
            f"{spec!r}: a tenant's name is 1-32 lower-case letters, digits, '_' or '-', "
            "starting with a letter"
        )
    seed = _number(parts[1], "seed", spec) if len(parts) > 1 else None
    tasks = _number(parts[2], "number of tasks", spec) if len(parts) > 2 else None
    dialect: Dialect | None = None
    if len(parts) > 3 and parts[3]:
        chosen = next((d for d in DIALECTS if d == parts[3]), None)
        if chosen is None:
            raise _problem(f"{spec!r}: the dialect must be one of {', '.join(DIALECTS)}")
        dialect = chosen
    return TenantSpec(name, seed, tasks, dialect)


def tenant_config(base: SimulatorConfig, spec: TenantSpec, port: int) -> SimulatorConfig:
    """The configuration of one tenant: `base` with the tenant's world, port and own logins.

    Every credential gets the tenant's name as a suffix (``demo-gialai``,
    ``demo-password-gialai``), so a login of one tenant is refused by another.
    """
    name = spec.name
    return replace(
        base,
        tenant=name,
        seed=base.seed if spec.seed is None else spec.seed,
        tasks=base.tasks if spec.tasks is None else spec.tasks,
        dialect=base.dialect if spec.dialect is None else spec.dialect,
        units=name if name in UNIT_SETS else base.units,
        port=port,
        username=f"{base.username}-{name}",
        password=f"{base.password}-{name}",
        token=f"{base.token}-{name}",
        api_key=f"{base.api_key}-{name}",
        client_secret=f"{base.client_secret}-{name}",
        world=None,
    )


def tenant_configs(base: SimulatorConfig, specs: Sequence[TenantSpec]) -> list[SimulatorConfig]:
    """One configuration per tenant, in order: the first listens on ``base.port``, the next on
    the port after, and so on (with port 0 each takes any free port). Raises `ConfigError` for
    no tenant, a name given twice, or ports past 65535."""
    if not specs:
        raise _problem("at least one tenant is needed")
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _problem(f"each tenant needs its own name; given twice: {', '.join(twice)}")
    last = base.port + len(specs) - 1
    if base.port and last > 65535:
        raise _problem(f"ports {base.port}..{last} run past 65535; choose a lower --port")
    return [
        tenant_config(base, spec, base.port + i if base.port else 0) for i, spec in enumerate(specs)
    ]


class Tenants:
    """Several simulators, one per tenant, each on its own loopback port (a context manager)."""

    def __init__(self, configs: Sequence[SimulatorConfig]) -> None:
        names = [c.tenant for c in configs]
        if not configs or not all(names) or len(set(names)) != len(names):
            raise _problem("every tenant needs a name of its own (SimulatorConfig.tenant)")
        self.simulators: dict[str, Simulator] = {c.tenant: Simulator(c) for c in configs}

    @property
    def names(self) -> list[str]:
        return list(self.simulators)

    def __getitem__(self, name: str) -> Simulator:
        found = self.simulators.get(name)
        if found is None:
            raise KeyError(f"no tenant {name!r}; tenants: {', '.join(self.simulators)}")
        return found

    def __iter__(self) -> Iterator[Simulator]:
        return iter(self.simulators.values())

    def __len__(self) -> int:
        return len(self.simulators)

    def start(self) -> Self:
        """Start every tenant; if one cannot bind, stop those started and raise."""
        try:
            for sim in self:
                sim.start()
        except BaseException:
            self.stop()
            raise
        log.info("simulator_tenants_started", tenants=self.names)
        return self

    def stop(self) -> None:
        """Stop every tenant (idempotent)."""
        for sim in self:
            sim.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def banner(self, lang: str = "vi") -> str:
        return tenant_banner(list(self), lang)


def serve_tenants(
    configs: Sequence[SimulatorConfig],
    *,
    on_ready: Callable[[Tenants], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run several tenants until `stop` is set or Ctrl+C (which ends it normally).

    `on_ready(tenants)` is called once all listen (print `tenants.banner()` there). Raises
    `ConfigError` when a port cannot be bound.
    """
    event = stop or threading.Event()
    with Tenants(configs) as tenants:
        if on_ready is not None:
            on_ready(tenants)
        try:
            while not event.wait(0.5):
                pass
        except KeyboardInterrupt:
            log.info("simulator_interrupted")
