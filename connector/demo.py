"""`idesk-connector demo`: the whole product on an embedded province, in under a minute.

Starts the simulator on a free loopback port with a province-sized world (2,000 tasks, today's
date), runs one full `sync` into ``./demo/ledger.db`` (pull, classify, plan, deliver), then
writes the Working Group's report (cumulative to today, as Bình Định's Working Group would
send it) as ``./demo/report.docx``, ``./demo/report.xlsx`` and ``./demo/report.html``.

``deliver="email"`` (``demo --deliver email``) shows the e-mail channel instead of the source's
notifications: a loopback SMTP sink (`simulator.mailsink`) writes every message it receives to
``./demo/mail/`` as an ``.eml`` file, the units' address book is written to
``./demo/units.toml``, and the sync sends each unit one digest of its alerts of the day
(`email_delivery` turns any demo settings into these, so it composes with other demo options).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from connector.clock import SystemClock, local_today
from connector.ledger.db import open_ledger
from connector.mapping.spec import load_mapping
from connector.ops.jobs import JobResult, run_job
from connector.reports.build import report_current
from connector.reports.model import Report, ReportOptions
from connector.reports.render.formats import render_bytes
from connector.rules.calendar import load_calendar
from connector.settings import (
    DeliverySettings,
    EmailSettings,
    LedgerSettings,
    PushSettings,
    ReportSettings,
    Settings,
    SourceSettings,
    SyncSettings,
)

DEMO_SYNC = SyncSettings(max_clock_skew_seconds=86_400)
"""The demo's sync settings: its simulator's clock runs from 08:00 local today (its world's
start, so every generated record is older than the changes made during the demo), up to a day
away from this machine's clock; a skew warning there would only be noise."""

DEMO_REPORT = ReportSettings(
    governing_body="UBND TỈNH BÌNH ĐỊNH",
    place="Bình Định",
    recipients=(
        "Chủ tịch, các Phó Chủ tịch UBND tỉnh (để báo cáo)",
        "Các sở, ban, ngành; UBND các huyện, thị xã, thành phố",
        "Lãnh đạo Văn phòng UBND tỉnh",
        "Lưu: VT, TCT",
    ),
    signer_authority="KT. TỔ TRƯỞNG",
    signer_title="TỔ PHÓ",
    signer_name="Nguyễn Văn A",
)
"""The demo's report settings: a province's heading, place, recipients and signer (the name
is the conventional placeholder of Vietnamese forms)."""


@dataclass(frozen=True)
class DemoResult:
    """What the demo did and where it wrote."""

    base_url: str
    tasks: int
    today: date
    job: JobResult
    report: Report
    ledger_path: Path
    xlsx_path: Path
    html_path: Path
    docx_path: Path
    notifications: int
    tracking_writes: int
    dialect: str = "contract"
    second_job: JobResult | None = None
    """iDesk 6 mode: a second sync with nothing changed (only the refresh share's details)."""
    deliver: str = "source"
    mail_dir: Path | None = None
    """Where the e-mails were written (``deliver="email"``)."""
    emails: int = 0
    """Messages the SMTP sink received."""
    config_path: Path | None = None
    """``<dir>/config.toml``: the demo's ledger and report heading, for the other commands."""


def toml_string(value: str) -> str:
    """`value` as a TOML basic string (quotes, backslashes and controls escaped): a demo's
    config file."""
    import json  # noqa: PLC0415 - a TOML basic string is a JSON string

    return json.dumps(value, ensure_ascii=False)


def demo_config_text(settings: Settings) -> str:
    """The demo's settings as a config file, so that ``--config demo/config.toml status`` (or
    ``tasks list``, ``report``...) reads its ledger afterwards; no password (the simulator
    has stopped; a `sync` with it fails to reach it)."""
    text = toml_string
    source, report = settings.source, settings.report
    lines = [
        "# The demo (idesk-connector demo): its ledger and its report's heading.",
        "[source]",
        f"base_url = {text(source.base_url)}",
        f"username = {text(source.username)}",
    ]
    if source.mapping != "idesk":
        lines += [
            f"mapping = {text(source.mapping)}",
            f"account_code = {text(source.account_code)}",
        ]
    lines += [
        "",
        "[ledger]",
        f"url = {text(settings.ledger.url)}",
        "",
        "[sync]",
        f"max_clock_skew_seconds = {settings.sync.max_clock_skew_seconds}",
        "",
        "[report]",
        f"governing_body = {text(report.governing_body)}",
        f"place = {text(report.place)}",
        f"recipients = [{', '.join(text(r) for r in report.recipients)}]",
        f"signer_authority = {text(report.signer_authority)}",
        f"signer_title = {text(report.signer_title)}",
        f"signer_name = {text(report.signer_name)}",
        "",
    ]
    return "\n".join(lines)


DemoDelivery = Literal["source", "email"]

DEMO_SENDER = "Tổ công tác của Chủ tịch UBND tỉnh <tct@ubnd.binhdinh.example>"
"""The demo's e-mail sender (a reserved ``.example`` domain: nothing leaves the machine)."""


def write_demo_address_book(path: Path, units: list[tuple[str, str]]) -> Path:
    """A TOML address book giving each (code, name) unit one address under ``.example``."""
    lines = [
        "# The demo's address book: unit code = its addresses (idesk-connector demo).",
        "[units]",
    ]
    for code, name in units:
        label = "".join(ch for ch in code.lower() if ch.isascii() and ch.isalnum()) or "unit"
        display = name.replace("\\", "").replace('"', "")
        lines.append(f'"{code}" = ["{display} <vanthu@{label}.binhdinh.example>"]')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def email_delivery(settings: Settings, *, host: str, port: int, address_book: Path) -> Settings:
    """`settings` with the alerts delivered by e-mail to the loopback server `host`:`port`.

    Tracking statuses still go to the source when its mapping has the endpoint; reminders are
    not held on a day off (the demo shows its digests any day).
    """
    tracking = settings.push.tracking_status and load_mapping(settings.source.mapping).has_endpoint(
        "tracking"
    )
    return settings.model_copy(
        update={
            "delivery": DeliverySettings(channels=("email",)),
            "email": EmailSettings(
                host=host,
                port=port,
                security="none",
                from_address=DEMO_SENDER,
                address_book=str(address_book),
            ),
            "push": settings.push.model_copy(update={"enabled": True, "tracking_status": tracking}),
            "alerts": settings.alerts.model_copy(update={"hold_on_non_working_days": False}),
        }
    )


def demo_settings(base_url: str, password: str, directory: Path) -> Settings:
    """Settings for the demo: the simulator as source, a ledger under `directory`."""
    return Settings(
        source=SourceSettings(base_url=base_url, password=SecretStr(password)),
        ledger=LedgerSettings(url=f"sqlite:///{directory / 'ledger.db'}"),
        # The demo's simulator runs without the contract's rate limit, so deliveries need not
        # be paced at the production rate.
        push=PushSettings(rate_per_second=500.0),
        sync=DEMO_SYNC,
        report=DEMO_REPORT,
    )


def demo_unit_code(code: str, dialect: str) -> str:
    """A simulated unit's code as the dialect names it (iDesk 6: its organisation tree id)."""
    if dialect != "idesk6":
        return code
    from simulator.idesk6 import DEPT_IDS  # noqa: PLC0415 - the demo only

    return str(DEPT_IDS.get(code, code))


def idesk6_settings(settings: Settings, account_code: str) -> Settings:
    """The demo's settings for the simulator's iDesk 6 mode: the ``idesk6`` mapping with the
    account code, no push (iDesk 6 takes no writes), alerts addressed to the organisation
    tree's ids of the office units."""
    from simulator.idesk6 import DEPT_IDS  # noqa: PLC0415 - the demo only

    source = settings.source.model_copy(update={"mapping": "idesk6", "account_code": account_code})
    recipients = {
        kind: tuple(str(DEPT_IDS.get(code, code)) if code != "lead" else code for code in codes)
        for kind, codes in settings.alerts.recipients.items()
    }
    return settings.model_copy(
        update={
            "source": source,
            "push": settings.push.model_copy(update={"enabled": False}),
            "alerts": settings.alerts.model_copy(update={"recipients": recipients}),
            "sync": settings.sync.model_copy(update={"rate_per_second": 200.0}),
        }
    )


def run_demo(
    directory: Path = Path("demo"),
    *,
    tasks: int = 2000,
    seed: int = 1,
    lang: str = "vi",
    dialect: Literal["contract", "idesk6"] = "contract",
    deliver: DemoDelivery = "source",
) -> DemoResult:
    """Run the demo (see the module docstring). Replaces an earlier demo's ledger (and mail).

    `dialect` ``idesk6``: the simulator serves a deployed iDesk 6's shapes, read through the
    ``idesk6`` mapping (snapshot sync, no push to the source); a second sync with nothing
    changed follows. `deliver` ``email``: the alerts go by e-mail to a loopback SMTP sink."""
    # The simulator is a tool shipped beside the product, not part of it: only the demo uses it.
    from simulator import UNITS, Faults, Simulator, SimulatorConfig  # noqa: PLC0415
    from simulator.mailsink import MailSink  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db.lock"):
        (directory / name).unlink(missing_ok=True)
    mail_dir = directory.resolve() / "mail" if deliver == "email" else None
    if mail_dir is not None and mail_dir.is_dir():
        for old in mail_dir.glob("*.eml"):
            old.unlink()
    today = local_today(SystemClock())
    config = SimulatorConfig(
        tasks=tasks, seed=seed, today=today, faults=Faults.none(), dialect=dialect
    )
    second: JobResult | None = None
    with Simulator(config) as sim, MailSink(mail_dir) as sink:
        base_url = sim.base_url
        settings = demo_settings(sim.base_url, sim.credentials.password, directory.resolve())
        if dialect == "idesk6":
            settings = idesk6_settings(settings, sim.credentials.account_code)
        if mail_dir is not None:
            book = write_demo_address_book(
                directory.resolve() / "units.toml",
                [(demo_unit_code(u.code, dialect), u.name) for u in UNITS],
            )
            settings = email_delivery(settings, host=sink.host, port=sink.port, address_book=book)
        job = run_job(settings, "sync", full=True, trigger="demo")
        if dialect == "idesk6":
            second = run_job(settings, "sync", trigger="demo")
        notifications = len(sim.notifications)
        tracking = len(sim.tracking_writes)
        emails = len(sink.messages)
    options = ReportOptions.from_settings(settings.report, as_of=today, lang=lang)
    calendar = load_calendar(None)
    with open_ledger(settings.ledger.url) as ledger, ledger.reading() as session:
        report = report_current(session, settings, options, calendar)
    xlsx = directory / "report.xlsx"
    html = directory / "report.html"
    docx = directory / "report.docx"
    config_path = directory / "config.toml"
    config_path.write_text(demo_config_text(settings), encoding="utf-8")
    config_path.chmod(0o600)
    xlsx.write_bytes(render_bytes(report, "xlsx", lang))
    html.write_bytes(render_bytes(report, "html", lang))
    docx.write_bytes(render_bytes(report, "docx", lang))
    return DemoResult(
        base_url=base_url,
        tasks=tasks,
        today=today,
        job=job,
        report=report,
        ledger_path=directory / "ledger.db",
        xlsx_path=xlsx,
        html_path=html,
        docx_path=docx,
        notifications=notifications,
        tracking_writes=tracking,
        dialect=dialect,
        second_job=second,
        deliver=deliver,
        mail_dir=mail_dir,
        emails=emails,
        config_path=config_path,
    )
