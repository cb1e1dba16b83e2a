"""Hostile strings in every text field (SQL, CR/LF, ANSI escapes, 1 MB text, NUL, Unicode line
separators) are stored verbatim or quarantined with a reason; JSON logs stay one event per line
and carry no raw control character."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from sqlalchemy import text

from connector.clock import FixedClock
from connector.ledger.db import open_ledger
from connector.ops.log import configure_logging
from connector.source.pull import pull
from simulator import Faults, Simulator, SimulatorConfig, generate_world
from tests.support.factories import make_settings

HOSTILE: dict[str, str] = {
    "sql": "x'); DROP TABLE task; -- ' OR '1'='1",
    "crlf": "dòng 1\r\ndòng 2\rdòng 3\nevent=fake level=error",
    "ansi": "\x1b[2J\x1b[31mđỏ\x1b[0m\x1b]0;pwned\x07 end",
    "nul": "trước\x00sau",
    "json": '"}, {"event": "forged", "level": "critical',
    "separators": "a\u2028b\u2029c\x85d",
    "bidi": "\u202egnp.exe",
    "megabyte": "Nội dung " + "x" * 1_000_000,
}

TEXT_FIELDS: dict[str, str] = {
    "signNumber": "sign_number",
    "category": "category",
    "subject": "subject",
    "author": "author",
    "publisherCode": "publisher_code",
    "signer": "signer",
    "position": "position",
    "steeringBy": "steering_by",
    "steeringContent": "steering_content",
    "receiverAname": "lead_unit_name",
}
"""Source key -> ledger column of every free-text field of a record."""


def _hostile_world() -> tuple[Any, dict[int, tuple[str, str]]]:
    """A small world where each record carries one hostile string in every text field."""
    world = generate_world(seed=5, tasks=len(HOSTILE) + 4)
    planted: dict[int, tuple[str, str]] = {}
    with world.lock:
        keys = sorted(world.tasks)
        for key, (name, value) in zip(keys, HOSTILE.items(), strict=False):
            record = world.tasks[key]
            fields = ("subject", "steeringContent") if name == "megabyte" else TEXT_FIELDS
            for field in fields:
                record[field] = value
            record["coordinators"] = [{"commCode": "SNV", "aname": value[:2000]}]
            planted[key] = (name, value)
        # A hostile status and a hostile unit code must not slip through as data either.
        record = world.tasks[keys[-1]]
        record["status"] = HOSTILE["sql"]
        record = world.tasks[keys[-2]]
        record["receiverCommCode"] = HOSTILE["ansi"]
    return world, planted


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging(fmt="json", level="debug", stream=out)
    yield out
    structlog.reset_defaults()


def test_hostile_strings_are_stored_verbatim_or_quarantined(
    ledger_url: str, json_log: io.StringIO
) -> None:
    """Every hostile value is in the ledger byte for byte, or its record quarantined with a reason."""
    world, planted = _hostile_world()
    with Simulator(SimulatorConfig(world=world, faults=Faults.none())) as sim:
        settings = make_settings(sim, ledger_url, auth="token")
        served = sim.world.served(include_deleted=True)
        pull(settings, run_id="hostile", clock=FixedClock(sim.now()), sleep=lambda _: None)
    ledger = open_ledger(ledger_url)
    try:
        with ledger.engine.connect() as conn:
            rows = {r["source_id"]: r for r in conn.execute(text("SELECT * FROM task")).mappings()}
            quarantine = {
                r["record_key"]: r
                for r in conn.execute(text("SELECT * FROM quarantine")).mappings()
            }
            tables = {r[0] for r in conn.execute(text("SELECT source_id FROM task"))}
    finally:
        ledger.close()
    assert tables, "the task table survived"
    verbatim = 0
    for key, (name, value) in planted.items():
        if key in rows:
            row = rows[key]
            columns = (
                ("subject", "steering_content") if name == "megabyte" else TEXT_FIELDS.values()
            )
            for column in columns:
                assert row[column] == value, f"{name} altered in {column}"
                verbatim += 1
            assert json.loads(row["raw_json"])["subject"] == value
        else:
            planted_key = f"id:{key}"
            assert planted_key in quarantine, f"{name}: neither stored nor quarantined"
            assert quarantine[planted_key]["reason"]
    served_ids = {int(r["id"]) for r in served}
    held = {int(k[3:]) for k in quarantine if k[3:].isdigit()}
    lost = served_ids - set(rows) - held
    assert lost == set(), f"records neither stored nor quarantined: {lost}"
    assert len(quarantine) == len(held) and held <= served_ids
    for key, row in quarantine.items():
        assert row["reason"], f"{key} quarantined without a reason"
    assert verbatim > 0
    _assert_one_event_per_line(json_log.getvalue())


def _assert_one_event_per_line(output: str) -> None:
    assert output.endswith("\n")
    for number, line in enumerate(output[:-1].split("\n"), 1):
        event = json.loads(line)  # one complete JSON object per line
        assert isinstance(event, dict) and "event" in event, f"line {number}"
        for bad in ("\r", "\x1b", "\x00", "\u2028", "\u2029", "\x85"):
            assert bad not in line, f"line {number} carries a raw {bad!r}"
    assert "forged" not in {json.loads(line).get("event") for line in output[:-1].split("\n")}


LOG_VALUES = {
    **{n: v for n, v in HOSTILE.items() if n != "megabyte"},
    "bare_ansi": "\x1b[2J\x1b[31mđỏ",
}


@pytest.mark.parametrize("fmt", ["console", "json"])
@pytest.mark.parametrize("name", [pytest.param(n, id=n) for n in LOG_VALUES])
def test_logs_neutralise_control_characters(name: str, fmt: str) -> None:
    """A hostile value cannot move the cursor, clear the screen or forge a log line."""
    out = io.StringIO()
    configure_logging(fmt=fmt, stream=out)  # type: ignore[arg-type]
    try:
        structlog.get_logger("test").warning("record_quarantined", value=LOG_VALUES[name])
    finally:
        structlog.reset_defaults()
    shown = out.getvalue()
    assert shown.count("\n") == 1, "one event, one line"
    for bad in ("\r", "\x1b", "\x00", "\u2028", "\u2029", "\x85"):
        assert bad not in shown, f"raw {bad!r} in the {fmt} output"
    if fmt == "json":
        assert json.loads(shown)["value"] == LOG_VALUES[name]
