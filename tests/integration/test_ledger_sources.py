"""Sources in the ledger (revision 0008, SQLite and PostgreSQL): an older one-source ledger
migrates in place, every row gets the ledger's source, ids are unique per source only."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from connector.errors import LedgerError
from connector.ledger import repo
from connector.ledger.admin import downgrade, upgrade_locked
from connector.ledger.db import Ledger, head_revision, open_ledger
from connector.ledger.scope import current_source, use_source
from connector.ledger.tasks import get_task
from connector.models import Unit, UnitKind
from tests.support.report_world import at, d, task

UNITS = (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),)
SOURCE_TABLES = (
    "task",
    "task_history",
    "task_snapshot",
    "task_report",
    "unit",
    "quarantine",
    "outbox",
    "sync_run",
)


def _write(ledger: Ledger, *ids: int) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(d("2022-01-01")))
        for source_id in ids:
            t = replace(task(source_id, "STC", "2022-01-03"), last_report_at=at(d("2022-01-05")))
            repo.upsert_task(session, t, {}, run_id="run-1", observed_at=at(d("2022-01-10"), 10))


def test_an_older_ledger_with_data_migrates_in_place(ledger_url: str) -> None:
    """A ledger at 0006 holding tasks, history, units and a cursor named "gia-lai" upgrades to
    head: no row lost, every row of every table carries "gia-lai" (its cursor's name)."""
    with open_ledger(ledger_url) as ledger:
        _write(ledger, 1001, 1002)
    assert downgrade(ledger_url, "0006").after == "0006"
    with open_ledger(ledger_url, migrate=False) as ledger:
        assert "source" not in {c["name"] for c in inspect(ledger.engine).get_columns("task")}
        with ledger.transaction() as session:
            session.execute(text("DELETE FROM sync_state"))
            session.execute(
                text("INSERT INTO sync_state (source, updated_run) VALUES ('gia-lai', '')")
            )
            before = {
                t: session.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
                for t in SOURCE_TABLES
            }
    assert before["task"] == 2 and before["task_history"] > 0 and before["unit"] == 1
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        for table in SOURCE_TABLES:
            rows = session.execute(
                text(f"SELECT source, COUNT(*) FROM {table} GROUP BY source")
            ).all()
            assert {r[0]: r[1] for r in rows} == (
                {"gia-lai": before[table]} if before[table] else {}
            ), table


def test_a_ledger_without_a_cursor_gets_the_default_source(ledger_url: str) -> None:
    """Rows of an older ledger that never recorded a cursor get the default source "idesk"."""
    with open_ledger(ledger_url) as ledger:
        _write(ledger, 7)
    downgrade(ledger_url, "0006")
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.transaction() as session:
        session.execute(text("DELETE FROM sync_state"))
    upgrade_locked(ledger_url)
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        assert session.execute(text("SELECT source FROM task")).scalars().all() == ["idesk"]


def test_two_sources_may_hold_the_same_task_id_and_unit_code(ledger: Ledger) -> None:
    """Task 1001 and unit STC exist once per source; each write lands in the source in scope."""
    assert current_source() == "idesk"
    with use_source("gia-lai"):
        _write(ledger, 1001)
    with use_source("binh-dinh"):
        _write(ledger, 1001)
    with ledger.reading() as session:
        tasks = session.execute(text("SELECT source, source_id FROM task ORDER BY source")).all()
        units = session.execute(text("SELECT source, code FROM unit ORDER BY source")).all()
        history = session.execute(
            text("SELECT DISTINCT source FROM task_history ORDER BY source")
        ).scalars()
        assert [tuple(r) for r in tasks] == [("binh-dinh", 1001), ("gia-lai", 1001)]
        assert [tuple(r) for r in units] == [("binh-dinh", "STC"), ("gia-lai", "STC")]
        assert list(history) == ["binh-dinh", "gia-lai"]
    with ledger.transaction() as session, use_source("gia-lai"):
        row = get_task(session, 1001)
        assert row is not None and row.source == "gia-lai"


def test_reading_every_task_yields_each_source_of_a_shared_id(ledger: Ledger) -> None:
    """`iter_tasks` over every source (e.g. `alerts preview` without --source) reads task 1001
    of both sources, not only the first: paging goes by source, then id."""
    with use_source("gia-lai"):
        _write(ledger, 1001, 1002)
    with use_source("binh-dinh"):
        _write(ledger, 1001)
    ids = [t.source_id for t in repo.iter_tasks(ledger, batch_size=1)]
    assert sorted(ids) == [1001, 1001, 1002]


def test_a_history_row_must_belong_to_a_task_of_its_own_source(ledger: Ledger) -> None:
    """The composite foreign key refuses a history row whose (source, task id) has no task."""
    with use_source("gia-lai"):
        _write(ledger, 1001)
    with pytest.raises((IntegrityError, LedgerError)), ledger.transaction() as session:
        session.execute(
            text(
                "INSERT INTO task_history (source, task_id, run_id, field, old_value, new_value, "
                "observed_at, observed_on, effective_on) VALUES ('binh-dinh', 1001, 'r', 'state', "
                "'', '', '2022-01-01 00:00:00+00:00', '2022-01-01', '2022-01-01')"
            )
        )


def test_downgrade_refuses_a_ledger_of_several_sources(ledger_url: str) -> None:
    """Going back before 0008 would merge two sources' ids: refused, the schema kept."""
    with open_ledger(ledger_url) as ledger:
        with use_source("a"):
            _write(ledger, 1)
        with use_source("b"):
            _write(ledger, 1)
    with pytest.raises(LedgerError):
        downgrade(ledger_url, "0006")
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        assert session.execute(text("SELECT COUNT(*) FROM task")).scalar_one() == 2
