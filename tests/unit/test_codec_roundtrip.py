"""A snapshot's JSON reads back as the task it was written from (`connector.ledger.codec`):
every field of every shape, through the decoders made once per type."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.ledger.codec import task_from_json, task_to_dict, task_to_json
from connector.models import DeadlineChange, NormalisedTask, TaskState, UnitRef

texts = st.text(max_size=20)
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda d: d - timedelta(microseconds=d.microsecond))
numbers = st.none() | st.integers(min_value=-(2**40), max_value=2**40)
extras = st.dictionaries(st.text(max_size=5), st.none() | st.integers() | st.text(max_size=5))

tasks = st.builds(
    NormalisedTask,
    source_id=st.integers(min_value=1, max_value=2**40),
    last_modified=instants,
    state=st.sampled_from(TaskState),
    source_status=texts,
    ed_id=numbers,
    sign_number=texts,
    subject=texts,
    doc_date=st.none() | days,
    steering_type=numbers,
    steering_content=texts,
    lead_unit_code=texts,
    lead_unit_name=texts,
    coordinators=st.lists(st.builds(UnitRef, texts, texts), max_size=3).map(tuple),
    assigned_at=st.none() | instants,
    deadline=st.none() | days,
    deadline_changes=st.lists(
        st.builds(DeadlineChange, st.none() | days, st.none() | days, st.none() | instants, texts),
        max_size=3,
    ).map(tuple),
    completed_at=st.none() | instants,
    priority=numbers,
    progress=numbers,
    last_report_at=st.none() | instants,
    confirmed=st.booleans(),
    confirmed_at=st.none() | instants,
    tracking_status=texts,
    deleted=st.booleans(),
    extra=extras,
)


@settings(max_examples=300, deadline=None)
@given(tasks)
def test_a_snapshot_reads_back_as_its_task(task: NormalisedTask) -> None:
    """`task_from_json(task_to_json(t))` is `t`, field for field, the extra fields too."""
    back = task_from_json(task_to_json(task))
    assert back == task
    assert back.extra == task.extra
    assert task_to_dict(back) == task_to_dict(task)


def test_a_snapshot_of_an_older_shape_reads_back() -> None:
    """A snapshot without the fields added since, or with ones no longer known, or with an
    empty instant, still reads: the missing take their defaults, the unknown are ignored."""
    text = (
        '{"source_id": 7, "last_modified": "2022-03-01T03:00:00+00:00", "state": "open", '
        '"assigned_at": "", "retired_field": 1, "coordinators": [{"code": "STC"}]}'
    )
    back = task_from_json(text)
    assert back == NormalisedTask(
        source_id=7,
        last_modified=datetime(2022, 3, 1, 3, tzinfo=UTC),
        state=TaskState.OPEN,
        coordinators=(UnitRef("STC"),),
    )
