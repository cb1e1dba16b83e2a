"""Issue 12 in the ledger: the overdue spell before a late extension stays in the history, the
flag is stored, and an administrator's kind override (``tasks kind``) is kept with who and when
and applies to reports as of the days after it was set (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import inspect, text

from connector.clock import FixedClock
from connector.errors import ConfigError, NotFound
from connector.ledger import repo
from connector.ledger.admin import downgrade, upgrade_locked
from connector.ledger.db import Ledger, head_revision, open_ledger
from connector.ledger.facts import KIND_FIELD, change_kind, task_facts
from connector.ledger.history import task_history
from connector.models import DeadlineChange, NormalisedTask, TaskKind, Unit, UnitKind
from connector.reports.build import report_as_of
from connector.reports.model import Report, ReportOptions
from connector.rules.calendar import WorkingCalendar
from connector.rules.classify import reclassify
from connector.rules.deadlines import DEFAULT_POLICY
from connector.settings import Settings
from connector.views.shapes import task_show_json
from connector.views.tasks import task_view
from connector.views.text import task_text
from tests.support.report_world import at, d, task

CAL = WorkingCalendar()
UNITS = (Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),)


def _write(ledger: Ledger, observed: str, *tasks: NormalisedTask) -> None:
    with ledger.transaction() as session:
        repo.upsert_units(session, UNITS, now=at(d("2022-03-01")))
        for t in tasks:
            repo.upsert_task(
                session, t, {}, run_id=f"run-{observed}", observed_at=at(d(observed), 10)
            )


def _reclassify(ledger: Ledger, day: str) -> None:
    reclassify(
        ledger,
        as_of=d(day),
        calendar=CAL,
        policy=DEFAULT_POLICY,
        run_id=f"classify-{day}",
        clock=FixedClock(at(d(day), 12)),
    )


def test_late_extension_keeps_the_overdue_spell_in_the_history(ledger: Ledger) -> None:
    """Overdue on 04/04 (deadline 31/03), extended to 30/04 on 05/04: on 06/04 the stored
    status is within deadline with the flag set, and the history still shows the spell."""
    first = replace(task(1, "STC", "2022-03-01", "2022-03-31"), last_modified=at(d("2022-03-01")))
    _write(ledger, "2022-03-01", first)
    _reclassify(ledger, "2022-04-04")
    change = DeadlineChange(d("2022-03-31"), d("2022-04-30"), at(d("2022-04-05"), 9), "gia hạn")
    later = replace(
        first,
        deadline=date(2022, 4, 30),
        deadline_changes=(change,),
        last_modified=at(d("2022-04-05"), 9),
    )
    _write(ledger, "2022-04-05", later)
    _reclassify(ledger, "2022-04-06")
    with ledger.reading() as session:
        row = session.execute(
            text("SELECT status_code, extended_after_overdue FROM task WHERE source_id = 1")
        ).one()
        statuses = [
            (h.old_value, h.new_value, h.effective_on)
            for h in task_history(session, 1)
            if h.field == "status_code"
        ]
    assert (row[0], bool(row[1])) == ("DTH_TRONG_HAN", True)
    assert statuses == [
        ("", "DTH_QUA_HAN", d("2022-04-01")),  # first classified on 04/04: overdue since 01/04
        ("DTH_QUA_HAN", "DTH_TRONG_HAN", d("2022-04-06")),
    ]


def _report(ledger: Ledger, day: str) -> Report:
    with ledger.reading() as session:
        return report_as_of(session, Settings(), ReportOptions(as_of=d(day)), CAL)


def test_kind_override_is_kept_and_applies_from_the_day_it_was_set(ledger: Ledger) -> None:
    """A product task without deadline overridden as routine on 10/03: a report as of 05/03
    still lists it in annex IV and counts it as a product; as of 15/03 it counts as routine."""
    product = replace(
        task(7, "STC", "2022-03-01", text="Tham mưu UBND tỉnh phương án xử lý."),
        last_modified=at(d("2022-03-01")),
    )
    _write(ledger, "2022-03-01", product)
    with ledger.transaction() as session:
        before, after = change_kind(
            session,
            7,
            "routine",
            by=" Nguyễn  Văn A ",
            reason="thường xuyên",
            at=at(d("2022-03-10")),
        )
    assert before is None and after is not None
    assert (after.kind, after.by, after.reason) == (
        TaskKind.ROUTINE,
        "Nguyễn Văn A",
        "thường xuyên",
    )
    with ledger.reading() as session:
        row = session.execute(text("SELECT kind, set_by, reason FROM task_kind")).one()
        history = [h for h in task_history(session, 7) if h.field == KIND_FIELD]
        past = task_facts(session, [7], as_of=d("2022-03-05"))
        now = task_facts(session, [7])
    assert tuple(row) == ("routine", "Nguyễn Văn A", "thường xuyên")
    assert len(history) == 1 and history[0].observed_on == d("2022-03-10")
    assert past == {}
    override = now[7].kind_override
    assert override is not None and override.kind is TaskKind.ROUTINE
    early, late = _report(ledger, "2022-03-05"), _report(ledger, "2022-03-15")
    assert [e.task.source_id for e in early.missing_deadline] == [7]
    assert (early.total.without_deadline_product, early.total.without_deadline_routine) == (1, 0)
    assert late.missing_deadline == ()
    assert (late.total.without_deadline_product, late.total.without_deadline_routine) == (0, 1)


def test_tasks_show_gives_when_the_kind_was_set_in_vietnam_time(ledger: Ledger) -> None:
    """The text of tasks show gives the override's instant as the tables give times (Vietnam
    time, named), not the JSON's UTC ISO string."""
    product = replace(
        task(7, "STC", "2022-03-01", text="Tham mưu UBND tỉnh phương án xử lý."),
        last_modified=at(d("2022-03-01")),
    )
    _write(ledger, "2022-03-01", product)
    with ledger.transaction() as session:
        change_kind(session, 7, "routine", by="A", reason="", at=at(d("2022-03-10"), 14, 5))
    with ledger.reading() as session:
        view = task_view(
            session, 7, as_of=d("2022-03-15"), historical=False, calendar=CAL, policy=DEFAULT_POLICY
        )
    assert task_show_json(view)["kind"]["override"]["set_at"] == "2022-03-10T07:05:00+00:00"
    assert "set by A at 2022-03-10 14:05:00 (ICT)" in task_text(view, "en")
    assert "do A đặt lúc 10/03/2022 14:05:00 (giờ Việt Nam)" in task_text(view)


def test_kind_change_refuses_unknown_tasks_kinds_and_anonymous_admins(ledger: Ledger) -> None:
    """An unknown task is NotFound; a kind other than product/routine/auto, or no --by, is a
    configuration error; nothing is written."""
    _write(
        ledger,
        "2022-03-01",
        replace(task(8, "STC", "2022-03-01"), last_modified=at(d("2022-03-01"))),
    )
    with ledger.transaction() as session:
        with pytest.raises(NotFound):
            change_kind(session, 99, "routine", by="A", reason="", at=at(d("2022-03-10")))
        with pytest.raises(ConfigError, match="not a task kind"):
            change_kind(session, 8, "other", by="A", reason="", at=at(d("2022-03-10")))
        with pytest.raises(ConfigError, match="--by"):
            change_kind(session, 8, "routine", by="  ", reason="", at=at(d("2022-03-10")))
    with ledger.reading() as session:
        assert session.execute(text("SELECT COUNT(*) FROM task_kind")).scalar_one() == 0


def test_tasks_show_explains_the_deadline_in_force_the_kind_and_a_late_extension(
    ledger: Ledger,
) -> None:
    """tasks show (text and JSON) says the verdict was judged on the completion date, the kind
    and the words it was read from, and the extension granted after the deadline had passed."""
    change = DeadlineChange(d("2022-03-31"), d("2022-04-30"), at(d("2022-04-05"), 9), "gia hạn")
    done = replace(
        task(
            9,
            "STC",
            "2022-03-01",
            "2022-04-30",
            completed="2022-04-20",
            text="Tham mưu UBND tỉnh phương án xử lý.",
        ),
        deadline_changes=(change,),
        last_modified=at(d("2022-04-20"), 16),
    )
    _write(ledger, "2022-04-20", done)
    with ledger.reading() as session:
        view = task_view(
            session, 9, as_of=d("2022-05-31"), historical=False, calendar=CAL, policy=DEFAULT_POLICY
        )
    data = task_show_json(view)
    assert data["classification"]["status"] == "HT_DUNG_HAN"
    assert data["classification"]["judged_on"] == "2022-04-20"
    assert data["classification"]["flags"]["extended_after_overdue"] is True
    assert data["kind"] == {
        "kind": "product",
        "source": "steering_content",
        "words": ["Tham mưu"],
        "automatic": None,
        "override": None,
    }
    assert data["extended_after_overdue"] == [
        {
            "old_deadline": "2022-03-31",
            "new_deadline": "2022-04-30",
            "old_eff_due": "2022-03-31",
            "changed_on": "2022-04-05",
            "days_overdue": 5,
        }
    ]
    shown = " ".join(task_text(view, "en").split())
    assert "deadline in force on its completion date 2022-04-20" in shown
    assert "kind: product (read from the steering content: “Tham mưu”)" in shown
    assert "extended after overdue: 2022-03-31 -> 2022-04-30 on 2022-04-05, 5 day(s)" in shown
    shown_vi = " ".join(task_text(view).split())
    assert "thời hạn có hiệu lực vào ngày hoàn thành 2022-04-20" in shown_vi
    assert "loại nhiệm vụ: có sản phẩm (product), đọc từ nội dung chỉ đạo: “Tham mưu”" in shown_vi
    assert "gia hạn sau khi đã quá hạn: 2022-03-31 -> 2022-04-30 ngày 2022-04-05, 5 ngày" in shown_vi


def test_migration_0004_round_trip_keeps_tasks_that_other_tables_reference(
    ledger_url: str,
) -> None:
    """Downgrading 0004 (to 0003) and upgrading again on a ledger holding a task with history,
    snapshots and a kind override keeps every task row (no copy of ``task`` trips the foreign
    keys); the flag column and ``task_kind`` go and come back."""
    with open_ledger(ledger_url) as ledger:
        _write(
            ledger,
            "2022-03-01",
            replace(task(5, "STC", "2022-03-01"), last_modified=at(d("2022-03-01"))),
        )
        with ledger.transaction() as session:
            change_kind(session, 5, "routine", by="A", reason="", at=at(d("2022-03-02")))
    result = downgrade(ledger_url, "0003")
    assert (result.before, result.after) == (head_revision(), "0003")
    with open_ledger(ledger_url, migrate=False) as ledger:
        columns = {c["name"] for c in inspect(ledger.engine).get_columns("task")}
        tables = set(inspect(ledger.engine).get_table_names())
        with ledger.reading() as session:
            ids = session.execute(text("SELECT source_id FROM task")).scalars().all()
    assert "extended_after_overdue" not in columns and "task_kind" not in tables
    assert ids == [5]
    assert upgrade_locked(ledger_url).after == head_revision()
    with open_ledger(ledger_url, read_only=True) as ledger, ledger.reading() as session:
        row = session.execute(text("SELECT source_id, extended_after_overdue FROM task")).one()
    assert (row[0], bool(row[1])) == (5, False)
