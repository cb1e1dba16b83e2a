"""`idesk-connector demo --merged`: a merged province, two document systems, one ledger, one
report (issue 16).

Since July 2025 Gia Lai and Bình Định are one province, and two systems run side by side: Gia
Lai's (where the former Bình Định departments that moved work under new codes such as
``SO_TC_BD``) and Bình Định's own (where the same agencies are still ``STC``, ``SNV``, …, and
whose ``VPUBND`` and ``TCT`` are other agencies than Gia Lai's). The demo

1. serves both systems in-process, each on its own loopback port (`simulator.tenants.Tenants`:
   tenants ``gialai`` and ``binhdinh``);
2. writes ``<dir>/config.toml``: one ``[[sources]]`` per system, the ledger
   ``<dir>/ledger.db`` and ``report.unit_map = "units-gialai"`` (the shipped example map,
   mappings/units-gialai.toml);
3. runs a full ``sync`` of each source into the one ledger, one after the other;
4. writes the merged report (``report --by unit`` with the map: a former Bình Định department
   is one row, whichever system its tasks are in) as ``<dir>/report.docx``, ``.xlsx`` and
   ``.html``, and the report by source as ``<dir>/report-by-source.html``.

Afterwards ``idesk-connector --config <dir>/config.toml report --by source`` (or any other
reading command) reads the same ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import SecretStr

from connector.clock import SystemClock, local_today
from connector.demo import DEMO_SYNC, toml_string
from connector.ledger.db import open_ledger
from connector.mapping.files import resolve_mapping
from connector.ops.jobs import JobResult, run_job
from connector.reports.model import Report, ReportOptions
from connector.reports.render.formats import render_bytes
from connector.reports.render.sections import render_sections_bytes
from connector.reports.rollup import By, Section, report_rollup
from connector.rules.calendar import load_calendar
from connector.rules.unitmap import UnitMap
from connector.settings import LedgerSettings, PushSettings, ReportSettings, Settings
from connector.settings import SourceSettings as Source

TENANTS: tuple[str, ...] = ("gialai", "binhdinh")
"""The two systems of the merged province, as the simulator's tenants and the sources."""
UNIT_MAP = "units-gialai"
"""The shipped unit map of the merged province (mappings/units-gialai.toml)."""

MERGED_REPORT = ReportSettings(
    governing_body="UBND TỈNH GIA LAI",
    place="Gia Lai",
    recipients=(
        "Chủ tịch, các Phó Chủ tịch UBND tỉnh (để báo cáo)",
        "Các sở, ban, ngành; UBND các xã, phường",
        "Lãnh đạo Văn phòng UBND tỉnh",
        "Lưu: VT, TCT",
    ),
    signer_authority="KT. TỔ TRƯỞNG",
    signer_title="TỔ PHÓ",
    signer_name="Nguyễn Văn A",
    unit_map=UNIT_MAP,
)
"""The merged province's report settings (the signer's name is the forms' placeholder)."""


@dataclass(frozen=True)
class MergedDemoResult:
    """What the merged-province demo did and where it wrote."""

    base_urls: dict[str, str]
    tasks: int
    """Tasks per system."""
    today: date
    jobs: dict[str, JobResult]
    report: Report
    """The merged report (rows by mapped unit)."""
    sections: tuple[Section, ...]
    """The report by source."""
    config_path: Path
    ledger_path: Path
    docx_path: Path
    xlsx_path: Path
    html_path: Path
    by_source_path: Path


def merged_settings(
    directory: Path, systems: dict[str, tuple[str, str, str]], *, unit_map: str = UNIT_MAP
) -> Settings:
    """Settings of the merged province: one source per system (name → base URL, user name,
    password), the ledger under `directory`, the report grouped by `unit_map`."""
    sources = tuple(
        Source(name=name, base_url=url, username=user, password=SecretStr(password))
        for name, (url, user, password) in systems.items()
    )
    return Settings(
        sources=sources,
        ledger=LedgerSettings(url=f"sqlite:///{directory / 'ledger.db'}"),
        # The simulators run without the contract's rate limit.
        push=PushSettings(rate_per_second=500.0),
        sync=DEMO_SYNC,
        report=MERGED_REPORT.model_copy(update={"unit_map": unit_map}),
    )


def _config_text(settings: Settings) -> str:
    """The demo's settings as a config file (passwords stay out: the environment holds them)."""
    text = toml_string
    lines = ["# The merged-province demo (idesk-connector demo --merged): two systems, one ledger."]
    for src in settings.sources:
        lines += [
            "",
            "[[sources]]",
            f"name = {text(src.name)}",
            f"base_url = {text(src.base_url)}",
            f"username = {text(src.username)}",
        ]
    lines += [
        "",
        "[ledger]",
        f"url = {text(settings.ledger.url)}",
        "",
        "[report]",
        f"unit_map = {text(settings.report.unit_map)}",
        f"governing_body = {text(settings.report.governing_body)}",
        f"place = {text(settings.report.place)}",
        "",
    ]
    return "\n".join(lines)


def run_merged_demo(
    directory: Path = Path("demo/merged"), *, tasks: int = 1000, seed: int = 1, lang: str = "vi"
) -> MergedDemoResult:
    """Run the demo (see the module docstring); replaces an earlier merged demo's ledger."""
    # The simulator is a tool shipped beside the product, not part of it: only the demo uses it.
    from simulator import Faults, SimulatorConfig  # noqa: PLC0415
    from simulator.tenants import Tenants, TenantSpec, tenant_configs  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    home = directory.resolve()
    for name in ("ledger.db", "ledger.db-wal", "ledger.db-shm", "ledger.db.lock"):
        (directory / name).unlink(missing_ok=True)
    today = local_today(SystemClock())
    base = SimulatorConfig(tasks=tasks, seed=seed, today=today, faults=Faults.none())
    specs = [TenantSpec(name, seed=seed + i) for i, name in enumerate(TENANTS)]
    jobs: dict[str, JobResult] = {}
    with Tenants(tenant_configs(base, specs)) as tenants:
        systems = {
            sim.config.tenant: (
                sim.base_url,
                sim.credentials.username,
                sim.credentials.password,
            )
            for sim in tenants
        }
        settings = merged_settings(home, systems)
        for name in TENANTS:
            jobs[name] = run_job(
                settings.for_source(name), "sync", full=True, trigger="demo", source=name
            )
    config_path = directory / "config.toml"
    config_path.write_text(_config_text(settings), encoding="utf-8")
    config_path.chmod(0o600)
    unit_map = UnitMap.load(resolve_mapping(UNIT_MAP), sources=TENANTS)
    options = ReportOptions.from_settings(settings.report, as_of=today, lang=lang)
    calendar = load_calendar(None)
    with open_ledger(settings.ledger.url) as ledger, ledger.reading() as session:
        merged = report_rollup(session, settings, options, calendar, unit_map=unit_map).report
        by_source = report_rollup(session, settings, options, calendar, by=By.SOURCE).sections
    assert merged is not None  # two sources, by unit: one report
    paths = {ext: directory / f"report.{ext}" for ext in ("docx", "xlsx", "html")}
    for ext, path in paths.items():
        path.write_bytes(render_bytes(merged, ext, lang))
    by_source_path = directory / "report-by-source.html"
    by_source_path.write_bytes(render_sections_bytes(by_source, "html", merged.lang))
    return MergedDemoResult(
        base_urls={name: url for name, (url, _, _) in systems.items()},
        tasks=tasks,
        today=today,
        jobs=jobs,
        report=merged,
        sections=by_source,
        config_path=config_path,
        ledger_path=directory / "ledger.db",
        docx_path=paths["docx"],
        xlsx_path=paths["xlsx"],
        html_path=paths["html"],
        by_source_path=by_source_path,
    )
