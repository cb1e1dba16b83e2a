"""`idesk-connector check`: validate the configuration and mapping, reach the source, log in.

Each step is reported on its own, so an admin sees exactly where a new deployment stops.
Nothing is written to the source; the ledger is opened (and migrated on first use). Before the
login, one plain TCP connection to the source (or to the proxy the environment names) says at
once whether anything answers there (``reach``): a server that is down or a wrong address
fails the check in at most ``source.connect_timeout`` seconds, not after the run's retries.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from connector.clock import Clock, SystemClock
from connector.errors import ConfigError, ConnectorError, Problem, SourceRefused, SourceUnavailable
from connector.ledger.db import open_ledger
from connector.mapping.spec import MappingSpec, load_mapping
from connector.rules.calendar import load_calendar
from connector.settings import Settings
from connector.source.client import SourceClient
from connector.source.pull import clock_skew, skew_beyond


@dataclass(frozen=True)
class CheckStep:
    """One step of the check: its name, whether it passed, and what was found."""

    name: str
    ok: bool
    detail: str
    seconds: float
    exit_code: int = 0


def _timed(name: str, action: Callable[[], str]) -> CheckStep:
    start = time.monotonic()
    try:
        detail = action()
    except ConnectorError as exc:
        return CheckStep(name, False, str(exc), round(time.monotonic() - start, 3), exc.exit_code)
    return CheckStep(name, True, detail, round(time.monotonic() - start, 3))


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def probe_source(base_url: str, timeout: float, proxies: Mapping[str, str] | None = None) -> str:
    """Open (and close) one TCP connection to the source, or to the proxy `proxies` (default:
    the environment's, as requests uses them) names for it; no retry. `SourceUnavailable`
    saying plainly what happened when nothing answers."""
    if proxies is None:
        from requests.utils import get_environ_proxies  # noqa: PLC0415 - only for the check

        proxies = get_environ_proxies(base_url)
    scheme = urlsplit(base_url).scheme
    proxy = proxies.get(scheme) or proxies.get("all")
    host, port = _endpoint(proxy or base_url)
    via = f"the proxy {host}:{port} for {base_url}" if proxy else base_url
    start = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except ConnectionRefusedError:
        raise SourceUnavailable(
            f"connection refused at {via}: nothing listens on {host}:{port}; check "
            "source.base_url and that the server (or the simulator) is running"
        ) from None
    except TimeoutError:
        raise SourceUnavailable(
            f"no answer from {via} within {timeout:g} s (source.connect_timeout): a wrong "
            "address, or a firewall dropping the connection"
        ) from None
    except socket.gaierror:
        raise SourceUnavailable(
            f"cannot resolve the host name {host} of {via}: check source.base_url and this "
            "machine's DNS"
        ) from None
    except OSError as exc:
        raise SourceUnavailable(
            f"cannot connect to {via}: {exc.strerror or type(exc).__name__}"
        ) from None
    return f"{host}:{port} answers ({(time.monotonic() - start) * 1000:.0f} ms)" + (
        f", the proxy for {base_url}" if proxy else ""
    )


def _account_code(client: SourceClient) -> str:
    """Read the first listed document's detail with ``source.account_code`` (iDesk 6: the
    detail answers 400/403 to a missing or foreign ``exeacode``)."""
    for page in client.iter_list():
        ids = [item for item in page.records if client.item_id(item) is not None]
        if not ids:
            continue
        try:
            (detail,) = client.fetch_details(ids[:1])
        except SourceRefused as exc:
            raise ConfigError(
                [
                    Problem(
                        "source.account_code",
                        f"the source refused a document's detail with this account code "
                        f"(HTTP {exc.status}, {exc.code}); copy the exeacode of the view.cpx "
                        "address the browser opens for a document, signed in as the "
                        "connector's account (README, 'iDesk 6')",
                    )
                ],
                source="settings",
            ) from None
        found = "read" if detail.record is not None else "gone since it was listed"
        return f"source.account_code accepted (document {client.item_id(ids[0])} {found})"
    return "the source lists no documents: source.account_code not verified yet"


def run_checks(settings: Settings, clock: Clock | None = None) -> Iterator[CheckStep]:
    """Run every step in order; stop after the first step that the next ones depend on.

    The ``server_time`` step compares the source's clock with `clock` (this machine's): a
    difference beyond ``sync.max_clock_skew_seconds`` is named in its detail
    (``source_clock_skew``); the step still passes, as a sync runs safely with it.
    """
    local = clock or SystemClock()
    spec: list[MappingSpec] = []

    def mapping() -> str:
        spec.append(load_mapping(settings.source.mapping))
        m = spec[0]
        style = m.pagination.style
        return f"{settings.source.mapping}: pagination {style}, auth {settings.source.auth}"

    step = _timed("mapping", mapping)
    yield step
    if not step.ok:
        return

    def calendar() -> str:
        path = settings.calendar.overrides
        cal = load_calendar(Path(path) if path else None)
        return f"overrides {cal.source}"

    yield _timed("calendar", calendar)

    def ledger() -> str:
        with open_ledger(settings.ledger.url) as opened:
            return f"{opened.display_url} ({opened.backend})"

    yield _timed("ledger", ledger)

    step = _timed(
        "reach",
        lambda: probe_source(settings.source.base_url, settings.source.connect_timeout),
    )
    yield step
    if not step.ok:
        return

    with SourceClient(
        settings.source, settings.retry, spec[0], max_pages=settings.sync.max_pages
    ) as client:

        def login() -> str:
            client.login()
            return f"{settings.source.auth} login accepted at {settings.source.base_url}"

        step = _timed("login", login)
        yield step
        if not step.ok:
            return

        def server_clock() -> str:
            now = client.server_time()
            if now is None:
                raise ConfigError("the source sent no Date header; the cursor needs its clock")
            detail = f"server clock {now.isoformat()}"
            skew = clock_skew(now, local.now())
            if skew is not None and skew_beyond(skew, settings.sync):
                way = "ahead of" if skew > 0 else "behind"
                detail += (
                    f"; source_clock_skew: {abs(skew):.0f} s {way} this machine's clock (more "
                    f"than sync.max_clock_skew_seconds = {settings.sync.max_clock_skew_seconds}); "
                    "the cursor never trusts it beyond the newest record stored, nothing is "
                    "skipped, but fix the clock of the source or of this machine (NTP)"
                )
            return detail

        yield _timed("server_time", server_clock)

        def units() -> str:
            found = client.list_units()
            return f"{len(found)} units"

        yield _timed("units", units)

        if spec[0].uses_account_code:

            def account_code() -> str:
                return _account_code(client)

            yield _timed("account_code", account_code)

        def first_page() -> str:
            for page in client.iter_pages(None):
                total = "?" if page.total is None else str(page.total)
                return f"first page: {len(page.records)} records, total {total}"
            return "the source lists no tasks"

        yield _timed("tasks", first_page)
