"""One definition of a task: the ledger's columns, the row conversions and ``tasks show``'s JSON
all follow `NormalisedTask` and `Classification`, so no field can be left out of one of them."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from connector.ledger import repo
from connector.ledger.codec import encode
from connector.ledger.columns import (
    CLASSIFICATION_COLUMNS,
    CLASSIFICATION_NAMES,
    NOT_STORED,
    READING_COLUMNS,
    SOURCE_COLUMNS,
    classification_values,
    column_of,
)
from connector.ledger.db import Ledger
from connector.ledger.location import LedgerUrl
from connector.ledger.reader import open_reader, reading
from connector.ledger.tables import TaskRow
from connector.models import Classification, NormalisedTask
from connector.rules.calendar import load_calendar
from connector.rules.deadlines import DEFAULT_POLICY
from connector.views.shapes import (
    CHANGE_RENAMED,
    TASK_GROUPED,
    TASK_NOT_SHOWN,
    TASK_RENAMED,
    classification_json,
    task_json,
)
from connector.views.tasks import task_view

NOW = datetime(2022, 3, 7, 2, 0, tzinfo=UTC)
CAL = load_calendar()


def _sample(hint: Any, name: str) -> Any:
    """A value of type `hint` that is not the field's default (for every type a model uses)."""
    if isinstance(hint, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return (_sample(typing.get_args(hint)[0], name),)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return list(hint)[-1]
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return hint(**{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(hint)})
    if hint is bool:
        return True
    if hint is int:
        return 1000 + len(name)
    if hint is datetime:
        return datetime(2022, 3, 1, 3, len(name) % 60, 7, 250000, tzinfo=UTC)
    if hint is date:
        return date(2022, 3, len(name) % 28 + 1)
    if hint is str:
        return f"{name} · giá trị"
    raise AssertionError(f"no sample for {hint!r}: teach _sample the new type")


def full_task(source_id: int = 1) -> NormalisedTask:
    """A task with every field set to a value other than its default (``extra`` left empty:
    it is not stored)."""
    hints = typing.get_type_hints(NormalisedTask)
    values = {
        f.name: _sample(hints[f.name], f.name)
        for f in dataclasses.fields(NormalisedTask)
        if f.name not in NOT_STORED
    }
    return NormalisedTask(**{**values, "source_id": source_id, "last_modified": NOW})


def test_every_model_field_has_a_task_column() -> None:
    """Each field of NormalisedTask (but `extra`) and of the stored Classification has a column
    of the task table, derived from the model; the table declares nothing else for them."""
    columns = {c.name for c in TaskRow.__table__.columns}  # type: ignore[attr-defined]
    for f in dataclasses.fields(NormalisedTask):
        if f.name not in NOT_STORED:
            assert column_of(f.name) in columns, f.name
    assert {c.name for c in (*SOURCE_COLUMNS, *CLASSIFICATION_COLUMNS)} <= columns
    assert set(CLASSIFICATION_NAMES) <= columns


def test_every_field_round_trips_through_the_ledger_row(ledger: Ledger) -> None:
    """A task with every field set comes back equal from its row, read by the plain reader and
    through the ORM, on SQLite and PostgreSQL."""
    task = full_task()
    with ledger.transaction() as s:
        repo.upsert_task(s, task, {"id": 1}, run_id="r1", observed_at=NOW)
    with ledger.reading() as s:
        orm = repo.get_task(s, 1)
        assert orm is not None and repo.task_from_row(orm) == task
        stored = repo.read_task(s, 1)
        assert stored is not None and stored.task == task
        with reading(s) as r:
            (raw,) = r.rows("SELECT * FROM task WHERE source_id = 1")
        assert repo.task_from_row(raw) == task
        assert repo.tracked_from_row(raw) == repo.tracked_from_row(orm)


def test_the_plain_read_only_reader_reads_what_the_orm_wrote(ledger: Ledger) -> None:
    """`open_reader` (no SQLAlchemy) reads the task the sync wrote, equal field for field."""
    task = full_task(7)
    with ledger.transaction() as s:
        repo.upsert_task(s, task, {"id": 7}, run_id="r1", observed_at=NOW)
    with open_reader(ledger.url) as reader:
        stored = repo.read_task(reader, 7)
    assert stored is not None and stored.task == task


def test_every_classification_column_round_trips(ledger: Ledger) -> None:
    """A classification with every stored field set is read back equal, column for column."""
    task = full_task()
    hints = typing.get_type_hints(Classification)
    result = Classification(
        **{f.name: _sample(hints[f.name], f.name) for f in dataclasses.fields(Classification)}
    )
    values = classification_values(result, None)
    assert set(values) == set(CLASSIFICATION_NAMES)
    with ledger.transaction() as s:
        repo.upsert_task(s, task, {"id": 1}, run_id="r1", observed_at=NOW)
        change = repo.ClassificationChange(1, values, None, date(2022, 3, 7), NOW)
        repo.write_classifications(s, [change], as_of=date(2022, 3, 7), run_id="r1",
                                   observed_at=NOW)
    with ledger.reading() as s:
        stored = repo.read_task(s, 1)
    assert stored is not None and dict(stored.stored) == values
    assert not repo.classification_differs(stored.stored, values)


def test_every_field_appears_in_tasks_show_json(ledger: Ledger) -> None:
    """`tasks show --format json` holds every field of the task (but `extra`), each under its
    derived key with its encoded value, and every stored classification value."""
    task = full_task()
    with ledger.transaction() as s:
        repo.upsert_task(s, task, {"id": 1}, run_id="r1", observed_at=NOW)
    with open_reader(ledger.url) as reader:
        view = task_view(reader, 1, as_of=date(2022, 3, 7), historical=False, calendar=CAL,
                         policy=DEFAULT_POLICY)
    shown = task_json(view.task)
    grouped = {field: (group, key) for group, names in TASK_GROUPED.items()
               for field, key in names.items()}
    for f in dataclasses.fields(NormalisedTask):
        if f.name in TASK_NOT_SHOWN:
            continue
        value = getattr(task, f.name)
        if f.name in grouped:
            group, key = grouped[f.name]
            assert shown[group][key] == encode(value), f.name
        elif f.name == "deadline_changes":
            assert shown[f.name] == [
                {CHANGE_RENAMED.get(k, k): v for k, v in encode(change).items()}
                for change in value
            ]
        else:
            assert shown[TASK_RENAMED.get(f.name, f.name)] == encode(value), f.name
    classification = classification_json(view.classification)
    for spec in CLASSIFICATION_COLUMNS:
        if spec.name in READING_COLUMNS.values():  # the text's reading: shown with the task
            continue
        if spec.name in CLASSIFICATION_NAMES and not spec.name.startswith("suggested_"):
            key = "status" if spec.field == "status" else spec.field
            assert key in classification or key in classification["flags"], key
    assert TASK_NOT_SHOWN == NOT_STORED


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///ledger.db",
        "sqlite:////var/lib/idesk/ledger.db",
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://idesk@dbhost:5432/idesk",
        "postgresql://idesk:s3cr%40t@dbhost:5432/idesk?options=-csearch_path%3Dt1",
        "postgresql+psycopg://u:p@[::1]:5433/db",
        "postgresql:///db?host=/tmp&port=5433",
        "postgresql://u:@h/db",
    ],
)
def test_ledger_urls_read_and_show_as_sqlalchemy_does(url: str) -> None:
    """The URL parser of the read-only path reads and renders a URL as SQLAlchemy does."""
    ours, theirs = LedgerUrl.parse(url), make_url(url)
    assert (ours.username, ours.password, ours.host, ours.port, ours.database) == (
        theirs.username, theirs.password, theirs.host, theirs.port, theirs.database)
    assert ours.render(hide_password=True) == theirs.render_as_string(hide_password=True)
    assert ours.render(hide_password=False) == theirs.render_as_string(hide_password=False)
