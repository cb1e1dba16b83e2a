"""`status_summary`: runs, cursor, outbox, quarantine, tasks and the ledger, read from the ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connector.clock import FixedClock
from connector.errors import SourceUnavailable
from connector.ledger import repo
from connector.ledger.db import Ledger, open_ledger
from connector.ledger.tables import OutboxRow, QuarantineRow
from connector.ops.runs import recorded_run
from connector.settings import Settings
from connector.views.shapes import status_json
from connector.views.status import absolute_url, render_status, status_summary
from tests.support.report_world import TASKS

T0 = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)
_VALID = Settings()
SETTINGS = _VALID.model_copy(
    update={
        # Refused when settings load; built unchecked here to pin that status never shows it.
        "source": _VALID.source.model_copy(
            update={"base_url": "https://clerk:hunter2@idesk.example.vn/ubnd/smartcloud"}
        )
    }
)


def _run(ledger: Ledger, run_id: str, start: datetime, fail: bool = False) -> None:
    clock = FixedClock(start)
    ticks = iter([0.0, 12.5])
    try:
        with recorded_run(
            ledger, "sync", "cron", run_id, clock, monotonic=lambda: next(ticks)
        ) as r:
            r.update({"fetched": 200, "inserted": 3})
            clock.advance(timedelta(seconds=12.5))
            if fail:
                raise SourceUnavailable("down", url="https://idesk.example.vn")
    except SourceUnavailable:
        pass


@pytest.fixture
def busy(ledger: Ledger) -> Ledger:
    _run(ledger, "run-a", T0)
    _run(ledger, "run-b", T0 + timedelta(hours=1), fail=True)
    with ledger.transaction() as session:
        for t in TASKS[:5]:
            repo.upsert_task(session, t, {}, run_id="run-a", observed_at=T0)
        repo.save_cursor(session, "idesk", T0 - timedelta(minutes=1), run_id="run-a", now=T0)
        rows = [repo.get_task(session, i) for i in (1, 2, 3)]
        rows[0].status_code, rows[1].status_code = "HT_DUNG_HAN", "HT_QUA_HAN"
        rows[2].deleted_at_source = True
        for i, state in enumerate(["pending", "pending", "failed", "sent", "dead"]):
            session.add(
                OutboxRow(
                    idempotency_key=f"k{i}",
                    kind="tracking",
                    payload_json="{}",
                    state=state,
                    created_at=T0 + timedelta(minutes=i),
                )
            )
        for i, resolved in enumerate([None, T0]):
            session.add(
                QuarantineRow(
                    record_key=f"r{i}", first_seen_at=T0, last_seen_at=T0, resolved_at=resolved
                )
            )
        repo.upsert_units(session, [], now=T0)
    return ledger


def test_status_summary_reads_every_part(busy: Ledger) -> None:
    """Runs newest first with outcome and counts, cursor, outbox by state, quarantine, tasks."""
    s = status_summary(busy, SETTINGS, clock=FixedClock(T0 + timedelta(hours=2)))
    assert [(r.run_id, r.outcome) for r in s.runs] == [
        ("run-b", "source_unavailable"),
        ("run-a", "success"),
    ]
    assert s.last_success is not None and s.last_success.run_id == "run-a"
    assert s.cursor.cursor == T0 - timedelta(minutes=1)
    assert s.outbox == {
        "pending": 2,
        "sending": 0,
        "sent": 1,
        "failed": 1,
        "dead": 1,
        "past": 0,
        "superseded": 0,
        "routed": 0,
    }
    assert s.outbox_oldest_waiting_at == T0
    assert (s.quarantine_open, s.quarantine_resolved) == (1, 1)
    assert (s.tasks.total, s.tasks.deleted_at_source, s.tasks.unclassified) == (5, 1, 2)
    assert s.tasks.by_status["HT_DUNG_HAN"] == 1
    assert s.tasks.by_status["DA_HUY"] == 0
    assert s.ledger.schema_current


def test_status_json_shape_and_no_secret(busy: Ledger) -> None:
    """The JSON has the documented keys, and neither the source password nor the DB password."""
    s = status_summary(busy, SETTINGS, clock=FixedClock(T0))
    data = json.loads(render_status(s, "json"))
    assert set(data) == {
        "schema_version",
        "generated_at",
        "ledger",
        "source",
        "cursor",
        "runs",
        "last_success",
        "outbox",
        "outbox_oldest_waiting_at",
        "quarantine",
        "tasks",
        "units",
    }
    assert data["schema_version"] == 1
    assert set(data["runs"][0]) == {
        "run_id",
        "command",
        "trigger",
        "started_at",
        "ended_at",
        "duration_s",
        "outcome",
        "counts",
        "error",
        "dry_run",
        "source",
    }
    assert data["runs"][1]["duration_s"] == 12.5
    assert data["runs"][1]["counts"] == {"fetched": 200, "inserted": 3}
    assert data["source"]["base_url"] == "https://idesk.example.vn/ubnd/smartcloud"
    text = json.dumps(data)
    assert "hunter2" not in text and "clerk" not in text
    assert data["ledger"]["url"] == busy.display_url  # the URL without its password
    assert status_json(s) == data


def test_status_of_an_empty_ledger(ledger: Ledger) -> None:
    """A fresh ledger: no runs, no cursor, zero everywhere, and the table says 'never'."""
    s = status_summary(ledger, SETTINGS, clock=FixedClock(T0))
    assert (s.runs, s.last_success, s.cursor.cursor) == ((), None, None)
    assert sum(s.outbox.values()) == 0
    out = render_status(s, "table")
    assert "chưa có" in out
    assert "Tình trạng kết nối iDesk" in out
    assert "never" in render_status(s, "table", "en")


def test_status_table_lists_runs(busy: Ledger) -> None:
    """The table shows the ledger URL, the outbox and each recent run, outcomes and outbox
    states in words, times in Vietnam time (the JSON keeps UTC)."""
    summary = status_summary(busy, SETTINGS, clock=FixedClock(T0))
    out = render_status(summary, "table", "en")
    assert "run-a" in out and "run-b" in out and "source unavailable" in out
    assert "pending 2" in out and "failed (to retry) 1" in out
    assert "2022-03-07 09:00:00" in out and "(ICT)" in out  # T0, 02:00 UTC
    vi = render_status(summary, "table", "vi")
    assert "chờ gửi 2" in vi and "07/03/2022 09:00:00" in vi and "giờ Việt Nam" in vi
    assert json.loads(render_status(summary, "json"))["runs"][-1]["started_at"].endswith("+00:00")
    with pytest.raises(ValueError, match="valid: table, json"):
        render_status(status_summary(busy, SETTINGS), "xml")


def test_status_table_shows_a_runs_nonzero_counts_and_json_all(ledger: Ledger) -> None:
    """The runs table lists a run's counts that are not zero (a run records some fifty, most
    of them 0: the column was a wall of zeros); the JSON keeps every count."""
    clock = FixedClock(T0)
    with recorded_run(ledger, "sync", "cron", "run-z", clock, monotonic=lambda: 0.0) as r:
        r.update({"fetched": 200, "inserted": 0, "quarantined": 0})
    with recorded_run(ledger, "sync", "cron", "run-e", clock, monotonic=lambda: 0.0) as r:
        r.update({"fetched": 0})
    summary = status_summary(ledger, SETTINGS, clock=clock)
    out = render_status(summary, "table", "en")
    assert "fetched=200" in out
    assert "inserted=0" not in out and "quarantined=0" not in out and "fetched=0" not in out
    runs = {run["run_id"]: run for run in json.loads(render_status(summary, "json"))["runs"]}
    assert runs["run-z"]["counts"] == {"fetched": 200, "inserted": 0, "quarantined": 0}
    assert runs["run-e"]["counts"] == {"fetched": 0}


def test_status_shows_a_relative_sqlite_ledger_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative ``ledger.url`` is shown with the absolute path of the file it read."""
    monkeypatch.chdir(tmp_path)
    with open_ledger("sqlite:///rel/ledger.db") as opened:
        shown = status_summary(opened, SETTINGS, clock=FixedClock(T0)).ledger.url
    assert shown == f"sqlite:///{tmp_path.resolve()}/rel/ledger.db"
    assert absolute_url("postgresql://u:pw@h/db") == "postgresql://u:pw@h/db"


def test_readme_lists_the_status_json_keys(busy: Ledger) -> None:
    """The README's `status` JSON entry names exactly the keys `status --format json` has over
    one source (it named a `last_run` that does not exist and left four out)."""
    import re

    from tests.support import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    entry = readme.split("- `status`: documented in", 1)[1].split("\n- ", 1)[0]
    one_source = entry.split("over several sources", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", one_source))
    shown = set(status_json(status_summary(busy, SETTINGS, clock=FixedClock(T0))))
    assert documented == shown
    assert "`sources`" in entry


DEMO_COUNTS = {
    "alerts_sent": 321, "classified": 2000, "clock_skew_s": 23363.731, "deleted_marked": 48,
    "fetched": 2000, "history_rows": 10442, "inserted": 2000, "outbox_due": 2273, "pages": 11,
    "planned": 3230, "pushes_sent": 1952, "reclassified": 2000, "routed": 321,
    "snapshots": 2000, "status_changes": 2000, "suggested": 139, "units_changed": 42,
}  # a demo sync's counts that are not zero


def _printed(renderable: object, width: int) -> list[str]:
    import io

    from rich.console import Console

    out = io.StringIO()
    Console(file=out, width=width, no_color=True, highlight=False).print(renderable)
    return out.getvalue().splitlines()


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_status_runs_read_whole_at_80_columns(ledger: Ledger, lang: str) -> None:
    """At 80 columns every count of a run is printed whole on one line (the counts column had
    12 columns: ``alerts_sent=321`` was cut into pieces), every line fits, and at 160 columns
    the counts stay a column of the runs table."""
    from connector.views.text import status_renderable

    clock = FixedClock(T0)
    with recorded_run(ledger, "sync", "cron", "c9c63d8834ab", clock, monotonic=lambda: 0.0) as r:
        r.update(DEMO_COUNTS)
    summary = status_summary(ledger, SETTINGS, clock=clock)
    lines = _printed(status_renderable(summary, lang), 80)
    assert max(len(line.rstrip()) for line in lines) <= 80
    for key, value in DEMO_COUNTS.items():
        assert any(f"{key}={value}" in line for line in lines), (key, "\n".join(lines))
    wide = _printed(status_renderable(summary, lang), 160)
    assert any("c9c63d8834ab" in line and "alerts_sent=321" in line for line in wide)
