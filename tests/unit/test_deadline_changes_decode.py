"""The task table's deadline changes are decoded by a spelt-out decoder for the shape the ledger
writes, giving exactly what the general decoder gives (and falling back to it for any other
shape)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.ledger.codec import canonical_json, decode_field, encode
from connector.ledger.columns import _deadline_changes
from connector.models import DeadlineChange

_CHANGES = st.lists(
    st.builds(
        DeadlineChange,
        old_deadline=st.none() | st.dates(date(1990, 1, 1), date(2100, 1, 1)),
        new_deadline=st.none() | st.dates(date(1990, 1, 1), date(2100, 1, 1)),
        changed_at=st.none()
        | st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
        reason=st.text(max_size=20),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(_CHANGES)
def test_the_stored_changes_decode_as_the_general_decoder_does(
    changes: list[DeadlineChange],
) -> None:
    """Changes as the ledger stores them (canonical JSON) decode to the same tuple both ways,
    equal to the changes written."""
    data = json.loads(canonical_json(encode(tuple(changes))))
    assert _deadline_changes(data) == decode_field("deadline_changes", data) == tuple(changes)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["old_deadline", "new_deadline", "changed_at", "reason", "other"]),
            st.none() | st.just("") | st.just("2022-03-04") | st.just(7),
        ),
        max_size=3,
    )
)
def test_any_other_shape_is_left_to_the_general_decoder(data: list[dict[str, Any]]) -> None:
    """Whatever the spelt-out decoder takes, it decodes as the general one; what it refuses
    (None) is the general decoder's to decode or to refuse."""
    try:
        found = _deadline_changes(data)
    except (TypeError, ValueError):
        found = None
    if found is not None:
        assert found == decode_field("deadline_changes", data)
