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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from connector.clock import Clock, SystemClock
from connector.errors import ConfigError, ConnectorError, Problem, SourceRefused, SourceUnavailable
from connector.i18n import Lang, label
from connector.ledger.db import open_ledger
from connector.mapping.spec import MappingSpec, load_mapping
from connector.rules.calendar import load_calendar
from connector.settings import Settings
from connector.source.client import SourceClient
from connector.source.pull import clock_skew, skew_beyond


@dataclass(frozen=True)
class Found:
    """What a step that passed found, as a label of ``labels.toml`` (``check_found_*``) and
    the values of its placeholders: the terminal says it in the run's language."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)
    then: Found | None = None
    """A further remark, said after this one (``; ...``)."""

    def said(self, lang: Lang) -> str:
        text = label(f"check_found_{self.key}", lang, **self.values)
        return text if self.then is None else f"{text}; {self.then.said(lang)}"


@dataclass(frozen=True)
class CheckStep:
    """One step of the check: its name, whether it passed, and what was found.

    `detail` is in English (``check --format json``, a stable shape); a step that passed also
    carries `found`, which the terminal says in the run's language (`said`). A failed step's
    detail is the error's message, in English as every error of the connector."""

    name: str
    ok: bool
    detail: str
    seconds: float
    exit_code: int = 0
    found: Found | None = None
    source: str = ""
    """The source checked when a config has several (``[[sources]]``); "" for one source."""

    def said(self, lang: Lang) -> str:
        return self.detail if self.found is None else self.found.said(lang)


def _timed(name: str, action: Callable[[], Found]) -> CheckStep:
    start = time.monotonic()
    try:
        found = action()
    except ConnectorError as exc:
        said = exc.brief() if isinstance(exc, ConfigError) else str(exc)
        return CheckStep(name, False, said, round(time.monotonic() - start, 3), exc.exit_code)
    seconds = round(time.monotonic() - start, 3)
    return CheckStep(name, True, found.said("en"), seconds, found=found)


def _endpoint(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def probe_source(base_url: str, timeout: float, proxies: Mapping[str, str] | None = None) -> Found:
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
    values = {"address": f"{host}:{port}", "ms": f"{(time.monotonic() - start) * 1000:.0f}"}
    if proxy:
        return Found("reach_proxy", {**values, "base_url": base_url})
    return Found("reach", values)


def _account_code(client: SourceClient) -> Found:
    """Read the first listed document's detail with ``source.account_code`` (iDesk 6: the
    detail answers 400/403 to a missing or foreign ``exeacode``)."""
    for page in client.iter_list():
        ids = [item for item in page.records if client.item_id(item) is not None]
        if not ids:
            continue
        try:
            (detail,) = client.fetch_details(ids[:1])
            if detail.error is not None:
                raise detail.error
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
        key = "account_code" if detail.record is not None else "account_code_gone"
        return Found(key, {"document": client.item_id(ids[0])})
    return Found("account_code_unverified")


def run_checks(settings: Settings, clock: Clock | None = None) -> Iterator[CheckStep]:
    """Run every step in order; stop after the first step that the next ones depend on.

    The ``server_time`` step compares the source's clock with `clock` (this machine's): a
    difference beyond ``sync.max_clock_skew_seconds`` is named in its detail
    (``source_clock_skew``); the step still passes, as a sync runs safely with it.
    """
    local = clock or SystemClock()
    spec: list[MappingSpec] = []

    def mapping() -> Found:
        spec.append(load_mapping(settings.source.mapping))
        values = {
            "mapping": settings.source.mapping,
            "pagination": spec[0].pagination.style,
            "auth": settings.source.auth,
        }
        return Found("mapping", values)

    step = _timed("mapping", mapping)
    yield step
    if not step.ok:
        return

    def calendar() -> Found:
        path = settings.calendar.overrides
        cal = load_calendar(Path(path) if path else None)
        return Found("calendar", {"source": cal.source})

    yield _timed("calendar", calendar)

    def ledger() -> Found:
        with open_ledger(settings.ledger.url) as opened:
            return Found("ledger", {"url": opened.display_url, "backend": opened.backend})

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

        def login() -> Found:
            client.login()
            return Found("login", {"auth": settings.source.auth, "url": settings.source.base_url})

        step = _timed("login", login)
        yield step
        if not step.ok:
            return

        def server_clock() -> Found:
            now = client.server_time()
            if now is None:
                raise ConfigError("the source sent no Date header; the cursor needs its clock")
            skew = clock_skew(now, local.now())
            if skew is None or not skew_beyond(skew, settings.sync):
                return Found("server_time", {"time": now.isoformat()})
            values = {
                "seconds": f"{abs(skew):.0f}",
                "limit": settings.sync.max_clock_skew_seconds,
            }
            drift = Found("clock_ahead" if skew > 0 else "clock_behind", values)
            return Found("server_time", {"time": now.isoformat()}, then=drift)

        yield _timed("server_time", server_clock)

        def units() -> Found:
            return Found("units", {"count": len(client.list_units())})

        yield _timed("units", units)

        if spec[0].uses_account_code:

            def account_code() -> Found:
                return _account_code(client)

            yield _timed("account_code", account_code)

        def first_page() -> Found:
            # The snapshot strategy reads details apart (the account_code step read one): the
            # list page alone, not a detail call per item, and not failed by one document.
            pages = client.iter_list() if spec[0].snapshot else client.iter_pages(None)
            for page in pages:
                total = "?" if page.total is None else str(page.total)
                return Found("first_page", {"records": len(page.records), "total": total})
            return Found("no_tasks")

        yield _timed("tasks", first_page)
