"""The canonical JSON of a task and its content hash (`connector.ledger.codec`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.ledger.codec import (
    canonical_json,
    content_hash,
    hash_of_dict,
    snapshot_and_hash,
    task_to_dict,
    task_to_json,
)
from connector.models import DeadlineChange, TaskState, UnitRef
from tests.support.factories import make_task

# Texts that canonical JSON writes with care: quotes, backslashes, commas and colons, keys of
# the task spelt inside a value, Vietnamese, NUL and a lone surrogate (written ASCII-escaped).
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ['","last_report_at":', '"tracking_status":null}', "\\", "Đã hoàn thành", "\x00", "\ud800"]
    ),
)
EXTRA = st.dictionaries(
    st.one_of(TEXTS, st.sampled_from(["last_modified", "tracking_status", "subject"])),
    st.one_of(TEXTS, st.integers(), st.none(), st.lists(TEXTS, max_size=2)),
    max_size=3,
)
INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 1),  # hypothesis takes naive bounds
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7))]),
)


@given(
    subject=TEXTS,
    tracking=TEXTS,
    modified=INSTANTS,
    extra=EXTRA,
    state=st.sampled_from(list(TaskState)),
    units=st.lists(st.tuples(TEXTS, TEXTS), max_size=2),
    reason=TEXTS,
)
def test_snapshot_and_hash_is_the_json_and_hash_made_apart(
    subject: str,
    tracking: str,
    modified: datetime,
    extra: dict[str, Any],
    state: TaskState,
    units: list[tuple[str, str]],
    reason: str,
) -> None:
    """The snapshot JSON and content hash made together equal `task_to_json` and
    `content_hash` of the task, on any text (escapes, lone surrogates, keys in values)."""
    task = make_task(
        subject=subject,
        tracking_status=tracking,
        last_modified=modified,
        extra=extra,
        state=state,
        coordinators=tuple(UnitRef(code, name) for code, name in units),
        deadline_changes=(DeadlineChange(None, None, None, reason),),
    )
    data = task_to_dict(task)
    assert snapshot_and_hash(data) == (task_to_json(task), content_hash(task))


def test_snapshot_and_hash_of_another_dict_is_made_apart() -> None:
    """A dict that is not a whole task's is encoded the plain way."""
    data = {"subject": "a", "last_modified": None}
    assert snapshot_and_hash(data) == (canonical_json(data), hash_of_dict(data))
