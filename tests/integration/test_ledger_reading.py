"""What the classification step read of a task's text (revision 0009, SQLite and PostgreSQL):
an older ledger gains the columns empty and has every task classified again on the next run; a
downgrade drops them and keeps the tasks."""

from __future__ import annotations

from datetime import date

from sqlalchemy import inspect, text

from connector.ledger import repo
from connector.ledger.admin import downgrade, upgrade_locked
from connector.ledger.db import head_revision, open_ledger
from connector.models import Unit, UnitKind
from tests.support.report_world import at, d, task

READING = {"kind_read", "kind_source", "kind_words_json", "recurrence_rule_json"}


def _columns(ledger_url: str) -> set[str]:
    with open_ledger(ledger_url, migrate=False) as ledger:
        return {c["name"] for c in inspect(ledger.engine).get_columns("task")}


def _stamp(ledger_url: str, recheck: date) -> None:
    """Task 1001 stamped current with key ``k`` (as the classification step of a schema before
    0010 stamps it: no ``checked_on``)."""
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.transaction() as session:
        session.execute(
            text("UPDATE task SET recheck_on = :day, classify_key = 'k' WHERE source_id = 1001"),
            {"day": recheck},
        )


def test_an_older_ledger_gains_the_reading_and_is_classified_again(ledger_url: str) -> None:
    """A ledger at 0008 whose task was stamped current upgrades to head with the reading columns
    empty and ``recheck_on`` cleared (so the next run stores the reading); back at 0008 the
    columns are gone and the task is kept."""
    with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
        repo.upsert_units(session, (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),),
                          now=at(d("2022-01-01")))
        repo.upsert_task(session, task(1001, "STC", "2022-01-03"), {}, run_id="r1",
                         observed_at=at(d("2022-01-10"), 10))
    assert downgrade(ledger_url, "0008").after == "0008"
    assert not READING & _columns(ledger_url)
    _stamp(ledger_url, date(2022, 1, 11))
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        row = session.execute(
            text("SELECT recheck_on, classify_key, kind_read, kind_source, kind_words_json, "
                 "recurrence_rule_json FROM task WHERE source_id = 1001")
        ).one()
    assert tuple(row) == (None, "k", "", "", "[]", "")
    assert downgrade(ledger_url, "0008").after == "0008"
    assert not READING & _columns(ledger_url)
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        assert session.execute(text("SELECT COUNT(*) FROM task")).scalar_one() == 1


def test_an_older_ledger_gains_checked_on_and_is_classified_again(ledger_url: str) -> None:
    """A ledger at 0009 whose task was stamped current upgrades to 0010 with ``checked_on``
    NULL and ``recheck_on`` cleared (so the next run judges it and stamps both); back at 0009
    the column is gone and the task is kept."""
    with open_ledger(ledger_url) as ledger, ledger.transaction() as session:
        repo.upsert_units(session, (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),),
                          now=at(d("2022-01-01")))
        repo.upsert_task(session, task(1001, "STC", "2022-01-03"), {}, run_id="r1",
                         observed_at=at(d("2022-01-10"), 10))
    assert downgrade(ledger_url, "0009").after == "0009"
    assert "checked_on" not in _columns(ledger_url)
    _stamp(ledger_url, date(2022, 1, 11))
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        row = session.execute(
            text("SELECT recheck_on, checked_on, classify_key FROM task WHERE source_id = 1001")
        ).one()
    assert tuple(row) == (None, None, "k")
    assert downgrade(ledger_url, "0009").after == "0009"
    assert "checked_on" not in _columns(ledger_url)
    with open_ledger(ledger_url, migrate=False) as ledger, ledger.reading() as session:
        assert session.execute(text("SELECT COUNT(*) FROM task")).scalar_one() == 1
