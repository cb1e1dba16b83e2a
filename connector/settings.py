"""Settings: a TOML file, overridden by environment variables, validated once into frozen models.

Precedence (highest first): environment ``IDESK_CONNECTOR__SECTION__KEY`` > the secrets file >
the config file > defaults, each a pydantic-settings source (`connector.settings_sources`). The
file is ``--config``, else ``$IDESK_CONNECTOR_CONFIG``, else ``./config.toml``
(missing default file = all defaults). Secrets (``source.password``, ``source.token``,
``source.client_secret`` and the named ``[secrets]``) come only from the environment or from a
secrets file with mode 0600; a secret in the config file is refused.
Every problem is reported together, each naming its key.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from connector.errors import ConfigError, Problem

ENV_PREFIX = "IDESK_CONNECTOR__"
ENV_CONFIG = "IDESK_CONNECTOR_CONFIG"
ENV_SECRETS = "IDESK_CONNECTOR_SECRETS"
DEFAULT_CONFIG = Path("config.toml")
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("source", "password"),
        ("source", "token"),
        ("source", "client_secret"),
        ("email", "password"),
        ("webhook", "secret"),
    }
)
SECRETS_SECTION = "secrets"
"""The named secrets (``{secret:NAME}`` in ``source.auth_headers`` / ``source.auth_query``):
refused in the config file like the keys of `SECRET_KEYS`."""
AuthName = Literal["session", "token", "headers", "oauth2"]


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problems(base_url: str) -> list[str]:
    """What is wrong with a source base URL that would leak credentials: not http(s) with a
    host, plain http:// off loopback, or a user name / password in it ([] when fine).

    Checked when the settings load (so every command refuses it before it opens a ledger or a
    socket) and again by the client (`connector.source.client.check_transport`)."""
    parts = urlsplit(base_url)
    problems = []
    try:
        host = parts.hostname or ""
    except ValueError:
        host = ""
    if parts.scheme not in {"http", "https"} or not host:
        problems.append("must be an https:// URL with a host name")
    elif parts.scheme == "http" and not _is_loopback(host):
        problems.append(
            f"plain http:// to {host} is refused: passwords and tokens would cross the network "
            "unencrypted; use https:// (http:// is allowed only on a loopback address such as "
            "127.0.0.1 or localhost)"
        )
    if parts.username is not None or parts.password is not None:
        problems.append(
            "must not contain a user name or password; give credentials through "
            "IDESK_CONNECTOR__SOURCE__PASSWORD / IDESK_CONNECTOR__SOURCE__TOKEN"
        )
    return problems


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceSettings(_Section):
    """Where the document system is and how to talk to it."""

    base_url: str = "http://127.0.0.1:8765/ubnd/smartcloud"
    mapping: str = "idesk"
    auth: AuthName = "session"
    username: str = "demo"
    password: SecretStr | None = None
    token: SecretStr | None = None
    # auth = "headers": static headers / query keys; values may hold {env:NAME}, {secret:NAME}
    auth_headers: dict[str, str] = Field(default_factory=dict)
    auth_query: dict[str, str] = Field(default_factory=dict)
    # auth = "oauth2": client credentials at a token endpoint (an integration gateway, LGSP)
    token_url: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    scope: str = ""
    token_auth: Literal["basic", "body"] = "basic"  # noqa: S105 (how the client authenticates)
    # The reading account's own code, for mappings whose endpoints use {account_code}
    # (iDesk 6: the exeacode of view.cpx)
    account_code: str = ""
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    request_timeout: float = Field(default=120.0, gt=0)
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    page_size: int = Field(default=200, ge=1, le=500)
    ca_bundle: str = ""
    secrets_file: str = ""
    name: str = "idesk"
    # Several sources ([[sources]]): a `sync` over all of them runs the heavier first.
    weight: int = Field(default=1, ge=1, le=1000)

    @field_validator("base_url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// on a loopback address)")
        problems = base_url_problems(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value.rstrip("/")

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://", "/")):
            raise ValueError(
                "must be an https:// URL, or a path starting with '/' (relative to base_url)"
            )
        return value


SOURCE_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
"""A ``[[sources]]`` name: lower-case letters, digits, ``_`` and ``-`` (up to 40), starting with
a letter or digit; it names the source in the ledger, in lock files and in environment
variables."""
SOURCE_SECRET_KEYS: tuple[str, ...] = ("password", "token", "client_secret")


def source_env_name(source: str, key: str) -> str:
    """The environment variable of one ``[[sources]]`` entry's secret, e.g.
    ``IDESK_CONNECTOR__SOURCES__GIA_LAI__PASSWORD`` for source ``gia-lai``."""
    return f"{ENV_PREFIX}SOURCES__{source.upper().replace('-', '_')}__{key.upper()}"


def sources_problems(sources: tuple[SourceSettings, ...]) -> list[Problem]:
    """What is wrong with the ``[[sources]]`` names: unsafe characters, duplicates."""
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, src in enumerate(sources):
        where = f"sources[{index}].name"
        if "name" not in src.model_fields_set:
            problems.append(Problem(where, "each [[sources]] entry needs its own name"))
            continue
        if not SOURCE_NAME_PATTERN.fullmatch(src.name):
            problems.append(
                Problem(
                    where,
                    f"{src.name!r} is not a source name: use 1-40 lower-case letters, digits, "
                    "'_' or '-', starting with a letter or digit",
                )
            )
        key = src.name.upper().replace("-", "_")
        if key in seen:
            problems.append(
                Problem(
                    where,
                    f"{src.name!r} is used by sources[{seen[key]}] too (names must differ, also "
                    "after upper-casing and '-' → '_', as in their environment variables)",
                )
            )
        else:
            seen[key] = index
    return problems


class RetrySettings(_Section):
    """How transient failures of the source are retried within one run."""

    max_attempts: int = Field(default=8, ge=1)
    initial_wait: float = Field(default=0.5, ge=0)
    max_wait: float = Field(default=30.0, gt=0)
    total_budget: float = Field(default=300.0, gt=0)


class SyncSettings(_Section):
    """Incremental pull."""

    lookback_seconds: int = Field(default=120, ge=0)
    max_pages: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=200, ge=1)
    max_clock_skew_seconds: int = Field(default=300, ge=0)
    max_field_chars: int = Field(default=4000, ge=1)
    max_list_items: int = Field(default=200, ge=1)
    read_ahead_pages: int = Field(default=1, ge=0, le=4)
    """Pages of a listing fetched ahead in a thread while the current one is written
    (`connector.source.readahead`); 0: each page is fetched when the previous one is written."""
    parallel_min_tasks: int = Field(default=5_000, ge=0)
    """A listing of at least this many records (its first page's total) is classified in a
    second process as its pages are written (`connector.source.classifier`; Linux, two CPUs
    or more); 0 = always after the pages, in the pull's process."""
    # The snapshot strategy (a mapping's [sync] strategy = "snapshot"): the share of the listed
    # items, oldest checked first, whose detail is read again on every run although their list
    # item did not change; the detail calls' threads; every request's pace in such a run.
    snapshot_refresh_percent: float = Field(default=2.0, ge=0, le=100)
    detail_workers: int = Field(default=4, ge=1, le=32)
    rate_per_second: float = Field(default=20.0, gt=0, le=1000)
    """Requests per second the source allows while pulling (every request of the pull, pages,
    details, logins and retries; the contract: 20). The run's one budget for the source keeps a
    little below it (`connector.source.transport.pace_for`)."""


class LedgerSettings(_Section):
    """The local ledger database."""

    url: str = "sqlite:///ledger.db"
    lock_file: str = ""

    @field_validator("url")
    @classmethod
    def _url_kind(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be sqlite:///PATH or postgresql://user@host:port/db")
        # Read as SQLAlchemy reads it, without loading SQLAlchemy (a read-only command).
        from connector.ledger.location import LedgerUrl  # noqa: PLC0415

        try:
            LedgerUrl.parse(value)
        except ConfigError:
            # The message never repeats the URL: it may hold a password.
            raise ValueError(
                "is not a valid database URL (check the brackets of an IPv6 host and the port); "
                "use sqlite:///PATH or postgresql://user@host:port/db"
            ) from None
        return value


class CalendarSettings(_Section):
    """The working-day calendar."""

    overrides: str = ""


class DeadlineSettings(_Section):
    """How deadline status is computed."""

    roll_forward_to_working_day: bool = True
    due_soon_working_days: int = Field(default=3, ge=0)
    overdue_long_days: int = Field(default=30, ge=1)
    no_deadline_stale_months: int = Field(default=3, ge=1)


AlertName = Literal[
    "SAP_DEN_HAN", "QUA_HAN", "DON_DOC_KHONG_HAN", "THIEU_THOI_HAN", "DE_NGHI_XAC_NHAN"
]


def _default_recipients() -> dict[str, tuple[str, ...]]:
    return {
        "SAP_DEN_HAN": ("lead",),
        "QUA_HAN": ("lead", "VPUBND"),
        "DON_DOC_KHONG_HAN": ("lead", "TCT"),
        "THIEU_THOI_HAN": ("VPUBND",),
        "DE_NGHI_XAC_NHAN": ("lead",),
    }


class AlertSettings(_Section):
    """Which alerts are sent, when, and to whom."""

    enabled: bool = True
    types: tuple[AlertName, ...] = (
        "SAP_DEN_HAN",
        "QUA_HAN",
        "DON_DOC_KHONG_HAN",
        "THIEU_THOI_HAN",
        "DE_NGHI_XAC_NHAN",
    )
    due_soon_working_days: int = Field(default=3, ge=0)
    overdue_repeat_days: int = Field(default=7, ge=1)
    no_deadline_urge_months: int = Field(default=3, ge=1)
    report_cutoff_day: int = Field(default=25, ge=1, le=28)
    confirm_days_before: int = Field(default=3, ge=0)
    new_assignment_window_days: int = Field(default=7, ge=0)
    hold_on_non_working_days: bool = True
    lang: Literal["vi", "en"] = "vi"
    recipients: dict[str, tuple[str, ...]] = Field(default_factory=_default_recipients)
    extra_recipients: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("recipients")
    @classmethod
    def _known_alerts(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        valid = set(_default_recipients())
        unknown = sorted(set(value) - valid)
        if unknown:
            raise ValueError(f"unknown alert type(s) {unknown}; valid: {sorted(valid)}")
        return {**_default_recipients(), **value}

    @field_validator("extra_recipients")
    @classmethod
    def _known_kinds(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        valid = {"department", "district", "central", "office"}
        unknown = sorted(set(value) - valid)
        if unknown:
            raise ValueError(f"unknown unit kind(s) {unknown}; valid: {sorted(valid)}")
        return value


class PushSettings(_Section):
    """Writing tracking status and alerts back to the source."""

    enabled: bool = True
    tracking_status: bool = True
    max_attempts: int = Field(default=10, ge=1)
    retry_initial_seconds: float = Field(default=60.0, ge=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    rate_per_second: float = Field(default=20.0, gt=0, le=1000)
    """Requests per second the source allows while delivering (the same budget as the pull's,
    at this rate from the first delivery on)."""
    concurrency: int = Field(default=4, ge=1, le=10)
    """Deliveries in flight at once, all within the one pace (for a source whose round trip is
    longer than 1 / rate_per_second)."""
    idempotency_window_hours: float = Field(default=24.0, ge=0)
    backfill_completed_before: str = ""
    """An ISO date: a task completed before it, whose tracking status was never written, gets
    no first tracking write (`connector.outbox.backfill`); "" = back-fill every task."""

    @field_validator("backfill_completed_before", mode="before")
    @classmethod
    def _iso_date(cls, value: object) -> object:
        if isinstance(value, date):  # an unquoted TOML date
            return value.isoformat()
        if isinstance(value, str) and value.strip():
            try:
                return date.fromisoformat(value.strip()).isoformat()
            except ValueError:
                raise ValueError(
                    f'{value!r} is not a date; write it as YYYY-MM-DD, or "" to back-fill '
                    "every task"
                ) from None
        return value

    @property
    def backfill_cutoff(self) -> date | None:
        """`backfill_completed_before` as a date (None: off)."""
        text = self.backfill_completed_before
        return date.fromisoformat(text) if text else None


Channel = Literal["source", "email", "webhook"]
"""Where an alert goes: the source's notifications, e-mail digests, or a webhook."""

CHANNELS: tuple[str, ...] = ("source", "email", "webhook")


def _is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    return host in {"localhost", "::1"} or host.startswith("127.")


class DeliverySettings(_Section):
    """Which channels carry the alerts (tracking statuses always go to the source)."""

    channels: tuple[Channel, ...] = ("source",)
    by_type: dict[str, tuple[Channel, ...]] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _some_channel(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"name at least one channel; valid: {list(CHANNELS)}")
        return tuple(dict.fromkeys(value))

    @field_validator("by_type")
    @classmethod
    def _known_types(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        valid = set(_default_recipients())
        unknown = sorted(set(value) - valid)
        if unknown:
            raise ValueError(f"unknown alert type(s) {unknown}; valid: {sorted(valid)}")
        return {k: tuple(dict.fromkeys(v)) for k, v in value.items()}

    def channels_for(self, alert_type: str) -> tuple[Channel, ...]:
        """The channels of one alert type: ``by_type[type]`` when given, else ``channels``."""
        return self.by_type.get(alert_type, self.channels)

    def uses(self, channel: Channel) -> bool:
        """Whether any alert type goes through `channel`."""
        every = {*self.channels, *(c for cs in self.by_type.values() for c in cs)}
        return channel in every


class EmailSettings(_Section):
    """The e-mail channel: one digest per unit and day, over SMTP."""

    host: str = ""
    port: int = Field(default=0, ge=0, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str = ""
    password: SecretStr | None = None
    from_address: str = ""
    ca_bundle: str = ""
    timeout: float = Field(default=30.0, gt=0)
    address_book: str = ""
    address_book_command: str = ""

    @property
    def effective_port(self) -> int:
        """``port``, or the usual one of ``security`` (587 STARTTLS, 465 TLS, 25 none)."""
        if self.port:
            return self.port
        return {"starttls": 587, "tls": 465, "none": 25}[self.security]


class WebhookSettings(_Section):
    """The webhook channel: a signed JSON POST per alert to the province's own gateway."""

    url: str = ""
    secret: SecretStr | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    ca_bundle: str = ""

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str) -> str:
        if not value:
            return value
        from urllib.parse import urlsplit  # noqa: PLC0415

        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname and _is_loopback_host(parts.hostname):
            return value
        raise ValueError("must start with https:// (or http:// on a loopback address)")


def unit_map_problems(settings: Settings) -> list[Problem]:
    """What is wrong with ``report.unit_map``: the file's problems (`connector.rules.unitmap`,
    its sources checked against the configured ones), each under the key."""
    if not settings.report.unit_map:
        return []
    from connector.mapping.files import resolve_mapping  # noqa: PLC0415
    from connector.rules.unitmap import UnitMap  # noqa: PLC0415

    names = [src.name for src in settings.all_sources]
    try:
        UnitMap.load(resolve_mapping(settings.report.unit_map), sources=names)
    except ConfigError as exc:
        return [Problem("report.unit_map", f"{p.where}: {p.message}") for p in exc.problems]
    return []


def delivery_problems(settings: Settings) -> list[Problem]:
    """What the chosen channels need and the settings lack, each naming its key."""
    problems: list[Problem] = []
    if settings.delivery.uses("email"):
        mail = settings.email
        if not mail.host:
            problems.append(Problem("email.host", "the email channel needs the SMTP server"))
        from connector.notify.addressbook import parse_mailbox  # noqa: PLC0415

        if not mail.from_address:
            problems.append(Problem("email.from_address", "the email channel needs a sender"))
        elif parse_mailbox(mail.from_address) is None:
            problems.append(
                Problem("email.from_address", "is not an e-mail address (Name <local@domain>)")
            )
        if bool(mail.address_book) == bool(mail.address_book_command):
            problems.append(
                Problem(
                    "email.address_book",
                    "the email channel needs exactly one of email.address_book (a TOML or CSV "
                    "file) and email.address_book_command",
                )
            )
        if mail.security == "none" and mail.host and not _is_loopback_host(mail.host):
            problems.append(
                Problem("email.security", "'none' (no TLS) is allowed on a loopback host only")
            )
        if mail.username and mail.password is None:
            problems.append(
                Problem("email.password", f"email.username needs {ENV_PREFIX}EMAIL__PASSWORD")
            )
    if settings.delivery.uses("webhook"):
        if not settings.webhook.url:
            problems.append(Problem("webhook.url", "the webhook channel needs a URL"))
        if settings.webhook.secret is None:
            problems.append(
                Problem("webhook.secret", f"the webhook channel needs {ENV_PREFIX}WEBHOOK__SECRET")
            )
    return problems


class ReportSettings(_Section):
    """Defaults of `idesk-connector report`."""

    lang: Literal["vi", "en"] = "vi"
    unit_order: tuple[Literal["department", "district", "central", "office"], ...] = (
        "department",
        "district",
        "central",
    )
    denominator: Literal["done", "due", "all"] = "done"
    fold: bool = False
    title: str = "Tình hình thực hiện nhiệm vụ do UBND tỉnh, Chủ tịch UBND tỉnh giao"
    # The administrative document's form (Decree 30/2020/NĐ-CP); a key left at its default
    # prints the standard text in the report's language.
    governing_body: str = ""
    issuing_body: str = "TỔ CÔNG TÁC CỦA CHỦ TỊCH UBND TỈNH"
    issuing_body_name: str = "Tổ công tác của Chủ tịch UBND tỉnh"
    number: str = ""
    symbol: str = "BC-TCT"
    place: str = ""
    recipients: tuple[str, ...] = ("Chủ tịch UBND tỉnh (để báo cáo)", "Lưu: VT, TCT")
    signer_authority: str = ""
    signer_title: str = "TỔ TRƯỞNG"
    signer_name: str = ""
    unit_map: str = ""
    """A unit map file (docs/unit-map.md), or the name of a shipped one ("units-gialai"): a
    report over several sources groups by the mapped unit; "" = none (units of different
    sources stay apart)."""
    parallel_min_tasks: int = Field(default=20_000, ge=0)
    """A report of a ledger of at least this many tasks is read in two processes, half the
    tasks each (Linux, two CPUs or more); 0 = always in one."""


class LogSettings(_Section):
    """Structured logs."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "console", "json"] = "auto"
    file: str = ""


class MetricsSettings(_Section):
    """Prometheus textfile output (for node_exporter's textfile collector)."""

    file: str = ""


class UiSettings(_Section):
    """What the terminal shows: the language of tables, summaries, bars and labels."""

    lang: Literal["vi", "en"] = "vi"


class Settings(_Section):
    """All settings, read-only after start-up."""

    source: SourceSettings = SourceSettings()
    sources: tuple[SourceSettings, ...] = ()
    """Several document systems in one ledger (``[[sources]]``); empty: the one ``[source]``."""
    retry: RetrySettings = RetrySettings()
    sync: SyncSettings = SyncSettings()
    ledger: LedgerSettings = LedgerSettings()
    calendar: CalendarSettings = CalendarSettings()
    deadlines: DeadlineSettings = DeadlineSettings()
    alerts: AlertSettings = AlertSettings()
    push: PushSettings = PushSettings()
    report: ReportSettings = ReportSettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()
    delivery: DeliverySettings = DeliverySettings()
    email: EmailSettings = EmailSettings()
    webhook: WebhookSettings = WebhookSettings()
    ui: UiSettings = UiSettings()
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    """Named secrets for ``{secret:NAME}`` (environment ``IDESK_CONNECTOR__SECRETS__NAME`` or
    the secrets file's ``[secrets]`` table; never the config file)."""

    @property
    def all_sources(self) -> tuple[SourceSettings, ...]:
        """Every source of this configuration: the ``[[sources]]``, heavier ``weight`` first
        (ties in the file's order), or the one ``[source]``."""
        if not self.sources:
            return (self.source,)
        return tuple(sorted(self.sources, key=lambda s: -s.weight))

    def for_source(self, name: str) -> Settings:
        """These settings with `name` as ``source`` (what one source's run works with)."""
        for src in self.all_sources:
            if src.name == name:
                return self.model_copy(update={"source": src})
        known = ", ".join(s.name for s in self.all_sources)
        raise ConfigError(
            [Problem("--source", f"no source named {name!r}; the sources are: {known}")],
            source="--source",
        )

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value in force, for the log redaction processor."""
        values = []
        secrets: list[SecretStr | None] = [self.email.password]
        for src in (self.source, *self.sources):
            secrets += [src.password, src.token, src.client_secret]
        for secret in (*secrets, self.webhook.secret, *self.secrets.values()):
            if secret is not None and secret.get_secret_value():
                values.append(secret.get_secret_value())
        return tuple(values)


@dataclass(frozen=True)
class LoadedSettings:
    """Settings plus where they came from and the warnings found while loading."""

    settings: Settings
    config_path: Path | None
    warnings: tuple[str, ...] = field(default=())


def resolve_config_path(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    """Which config file to read; ``None`` when the default file is absent (all defaults)."""
    if explicit:
        return Path(explicit)
    if environ.get(ENV_CONFIG):
        return Path(environ[ENV_CONFIG])
    return DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None


def _credential_problems(src: SourceSettings, key: str, env_prefix: str) -> list[Problem]:
    """The credential `src`'s auth mode needs and lacks (`key`: its place in the file,
    `env_prefix`: its variables' common start)."""
    if src.auth == "token" and src.token is None:
        return [Problem(f"{key}.token", f"auth = 'token' needs {env_prefix}TOKEN")]
    if src.auth == "session" and src.password is None:
        return [Problem(f"{key}.password", f"auth = 'session' needs {env_prefix}PASSWORD")]
    if src.auth == "oauth2" and src.client_secret is None:
        return [
            Problem(
                f"{key}.client_secret",
                f"auth = 'oauth2' needs {env_prefix}CLIENT_SECRET (or client_secret in the "
                "secrets file)",
            )
        ]
    return []


def load_settings(
    config_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    lenient: bool = False,
) -> LoadedSettings:
    """Read, merge and validate every setting; raise one ConfigError listing all problems.

    Each problem names its key; one in a value from the environment names that variable, and
    the error says it is in the environment (not in the config file). `lenient`: the
    ``[[sources]]`` entries need no credentials (`load_settings_lenient`).
    """
    env = os.environ if environ is None else environ
    path = resolve_config_path(config_path, env)
    if path is not None and not path.exists():
        raise ConfigError([Problem(str(path), "config file does not exist")], source=str(path))
    if path is not None and not path.is_file():  # read as no file at all, the defaults applied
        raise ConfigError(
            [Problem(str(path), "is not a file; give the config file's path")], source=str(path)
        )
    # pydantic-settings only now: importing the models (and `--help`) does without it.
    from connector.settings_sources import ENVIRONMENT, read_settings  # noqa: PLC0415

    settings, load = read_settings(path, env, lenient=lenient)
    if settings is not None:
        for problem in sources_problems(settings.sources):
            load.note(problem)
        if not settings.sources:
            problems = _credential_problems(settings.source, "source", f"{ENV_PREFIX}SOURCE__")
            for problem in problems:
                load.note(problem)
        for index, src in enumerate(settings.sources):
            if not lenient:
                env_of = source_env_name(src.name, "")
                for problem in _credential_problems(src, f"sources[{index}]", env_of):
                    load.note(problem)
        for problem in delivery_problems(settings):
            load.note(problem)
        for problem in unit_map_problems(settings):
            load.note(problem)
    if load.problems or settings is None:
        here = str(path) if path else "settings"
        origins = {origin for origin, _ in load.problems}
        if origins == {ENVIRONMENT}:
            here = "the environment"
        elif ENVIRONMENT in origins:
            here = f"{here} and the environment"
        raise ConfigError([problem for _, problem in load.problems], source=here)
    return LoadedSettings(settings=settings, config_path=path, warnings=tuple(load.warnings))


def load_settings_lenient(
    config_path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> LoadedSettings:
    """Like `load_settings` but without requiring the source credentials.

    For commands that never talk to the source (reports, ledger inspection, calendar).
    """
    env = dict(os.environ if environ is None else environ)
    env.setdefault(f"{ENV_PREFIX}SOURCE__PASSWORD", "")
    env.setdefault(f"{ENV_PREFIX}SOURCE__TOKEN", "")
    env.setdefault(f"{ENV_PREFIX}SOURCE__CLIENT_SECRET", "")
    env.setdefault(f"{ENV_PREFIX}EMAIL__PASSWORD", "")
    env.setdefault(f"{ENV_PREFIX}WEBHOOK__SECRET", "")
    return load_settings(config_path, env, lenient=True)
