"""`idesk-connector demo --dialect idesk6`: the simulator as iDesk 6, two syncs and the report."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from cli import app


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream


@pytest.mark.slow
def test_demo_idesk6_reads_the_snapshot_and_writes_the_reports(tmp_path: Path) -> None:
    """The demo in iDesk 6 mode: a full sync (no quarantine, no push), a second unchanged sync
    making only the refresh share of detail calls, units from the organisation tree, reports."""
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--dialect", "idesk6", "--tasks", "150", "--dir", str(out), "--lang", "en"]
    )
    assert result.exit_code == 0, result.output
    second = re.search(
        r"Second sync \S+ \(nothing changed\): (\d+) list items, detail calls (\d+)", result.output
    )
    assert second is not None, result.output
    listed, calls = int(second.group(1)), int(second.group(2))
    assert 0 < calls <= -(-listed * 2 // 100)  # ceil(2 % of the listed items)
    assert "intake-only skipped 6" in result.output  # 150 tasks: one intake document per 25
    assert "tracking statuses sent 0, alerts sent 0" in result.output
    for name in ("report.docx", "report.xlsx", "report.html", "ledger.db"):
        assert (out / name).stat().st_size > 0
    db = sqlite3.connect(out / "ledger.db")
    try:
        names = {row[0] for row in db.execute("select lead_unit_name from task")}
        assert "Sở Tài chính" in names and not any(n.startswith("Phó ") for n in names)
        assert db.execute("select count(*) from snapshot_item").fetchone()[0] == listed
    finally:
        db.close()


def test_demo_help_names_the_dialect_option() -> None:
    """`demo --help` offers --dialect (contract or idesk6), independent of other options."""
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--dialect" in result.output and "idesk6" in result.output


@pytest.mark.slow
def test_demo_idesk6_with_email_delivery(tmp_path: Path) -> None:
    """--dialect and --deliver compose: iDesk 6 takes no writes, so the alerts reach the units
    as e-mail digests addressed by their organisation-tree ids."""
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        ["demo", "--dialect", "idesk6", "--deliver", "email", "--tasks", "120", "--dir", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "đã gửi 0 cảnh báo về nguồn" in result.output  # Vietnamese by default
    assert "Đồng bộ lần hai" in result.output
    mails = sorted((out / "mail").glob("*.eml"))
    assert mails
    assert all(re.match(r"\d{4}-dig-\d+-", m.name) for m in mails)  # numeric tree ids
