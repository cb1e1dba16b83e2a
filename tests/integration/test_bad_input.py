"""Bad input: hypothesis-generated records through the mapping and a whole pull never crash the
run; each record is stored or quarantined with a reason."""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from connector.clock import FixedClock
from connector.errors import BadRecord
from connector.ledger.codec import unstorable_text
from connector.ledger.db import open_ledger
from connector.mapping.normalise import normalise, record_key
from connector.mapping.spec import load_mapping
from connector.models import NormalisedTask
from connector.source.pull import pull, to_page_item
from simulator import Faults, Simulator, SimulatorConfig, generate_world
from tests.support.factories import make_settings
from tests.support.harness import ledger_rows, ledger_tasks

SPEC = load_mapping("idesk")
BASE = generate_world(seed=11, tasks=40).served(include_deleted=True)
FIELDS = sorted({k for record in BASE for k in record})

HOSTILE = [
    "'; DROP TABLE task; --",
    'Robert"); DELETE FROM quarantine; --',
    "dòng 1\r\ndòng 2\rdòng 3\n",
    "\x1b[31mđỏ\x1b[0m\x1b]0;title\x07",
    "a\x00b",
    "\u202eRTL override",
    "x" * 100_000,
    "",
    " ",
    "Feb 30, 2022, 12:00:00 AM",
    "31/02/2022",
    "2022-02-30T00:00:00+00:00",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+00:00",
    "Feb 1, 2200, 12:00:01 AM",
    "NaN",
]
_DELETE = object()

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(HOSTILE),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["commCode", "aname", "x", ""]) | text, children, max_size=3
        )
    ),
    max_leaves=6,
)


@st.composite
def records(draw: st.DrawFn, *, keep_id: bool = False) -> dict[str, Any]:
    """A real record with a few keys removed, replaced by anything, or added."""
    record: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASE)))
    keys = st.sampled_from([*FIELDS, "unknownKey", "@list"])
    changes = draw(st.dictionaries(keys, st.just(_DELETE) | json_values, max_size=5))
    for key, value in changes.items():
        if keep_id and key == "id":
            continue
        if value is _DELETE:
            record.pop(key, None)
        else:
            record[key] = value
    return record


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=records())
def test_mapping_normalises_or_names_the_problem(raw: dict[str, Any]) -> None:
    """Any record normalises or raises BadRecord naming the field; never another exception."""
    key = record_key(raw, SPEC)
    assert key.startswith(("id:", "sha256:"))
    try:
        task = normalise(raw, SPEC)
    except BadRecord as exc:
        assert exc.message
        event("quarantined")
        return
    event("stored")
    assert isinstance(task, NormalisedTask)
    assert task.last_modified.tzinfo is not None


@settings(max_examples=200, deadline=None)
@given(raw=st.one_of(json_values, st.lists(json_values, max_size=2)))
def test_non_objects_are_bad_records(raw: Any) -> None:
    """A record that is not even a JSON object becomes a quarantinable item, not a crash."""
    item = to_page_item(raw, SPEC)
    assert type(item).__name__ in {"Incoming", "Rejected"}


@pytest.fixture(scope="module")
def template_ledger() -> Iterator[Path]:
    """A migrated, empty SQLite ledger to copy (migrating once keeps the examples fast)."""
    home = Path(tempfile.mkdtemp(prefix="idesk-bad-input-"))
    url = f"sqlite:///{home / 'ledger.db'}"
    open_ledger(url).close()
    yield home / "ledger.db"
    shutil.rmtree(home, ignore_errors=True)


def _renumber(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give the drawn records distinct ids (when they still have an int one)."""
    return [
        {**r, "id": 900_000 + i}
        if isinstance(r.get("id"), int) and not isinstance(r.get("id"), bool)
        else r
        for i, r in enumerate(batch)
    ]


_NUL_AUTHOR: dict[str, Any] = {
    "id": 900_000,
    "signNumber": "2294/CT-UBND",
    "subject": "Về tăng cường thu ngân sách nhà nước",
    "author": "\x00",
    "docDateStr": "2021-03-31T17:00:00+00:00",
    "steeringContent": "Giao UBND thành phố Quy Nhơn chủ trì tổ chức thực hiện.",
    "receiverCommCode": "TPQN",
    "receiverAname": "UBND thành phố Quy Nhơn",
    "createDateStr": "2021-04-01T05:33:49+00:00",
    "deadline": "Jul 20, 2021, 12:00:00 AM",
    "status": "completed",
    "completeDateStr": "2021-04-03T06:29:18+00:00",
    "lastModifyStr": "2021-04-03T23:29:18+00:00",
    "deleted": "N",
}
"""A record the mapping reads whose author is NUL (drawn by hypothesis once, 2026-11-30)."""


def split_by_the_mapping(
    records: list[dict[str, Any]],
) -> tuple[dict[int, NormalisedTask], set[str]]:
    """The records the mapping normalises (by id: the last one served) and the keys of those it
    refuses. The pull test below is a differential test: the whole pull must agree with the
    mapping record by record (what the mapping reads is pinned by tests/unit/test_mapping.py and
    the contract oracle of the end-to-end tests, not here)."""
    stored: dict[int, NormalisedTask] = {}
    refused: set[str] = set()
    for raw in records:
        try:
            task = normalise(raw, SPEC)
        except BadRecord:
            refused.add(record_key(raw, SPEC))
        else:
            if unstorable_text(task) is not None:  # NUL or a lone surrogate: quarantined
                refused.add(record_key(raw, SPEC))
                stored.pop(task.source_id, None)
            else:
                stored[task.source_id] = task
    return stored, refused


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(records(), min_size=1, max_size=12).map(_renumber))
@example(batch=[_NUL_AUTHOR])  # the ledger cannot store NUL: quarantined, not stored
def test_a_pull_of_hostile_records_stores_or_quarantines_each(
    template_ledger: Path, batch: list[dict[str, Any]]
) -> None:
    """A whole pull over generated records finishes; each is stored or quarantined, with reason."""
    world = generate_world(seed=11, tasks=0)
    home = Path(tempfile.mkdtemp(prefix="idesk-bad-input-"))
    try:
        ledger_path = home / "ledger.db"
        shutil.copy(template_ledger, ledger_path)
        with world.lock:
            for i, record in enumerate(batch):
                world.tasks[800_000 + i] = record
                world._mod[800_000 + i] = int(world.start.timestamp()) - 3600 + i
        config = SimulatorConfig(world=world, faults=Faults.none())
        with Simulator(config) as sim, capture_logs():
            settings_ = make_settings(
                sim,
                f"sqlite:///{ledger_path}",
                auth="token",
                retry={"max_attempts": 2, "initial_wait": 0, "total_budget": 2},
            )
            served = sim.world.served(include_deleted=True)
            result = pull(
                settings_, run_id="hyp", clock=FixedClock(sim.now()), sleep=lambda _: None
            )
        stored, refused = split_by_the_mapping(served)
        tasks = ledger_tasks(ledger_path)
        quarantine = {q["record_key"]: q for q in ledger_rows(ledger_path, "quarantine")}
        assert set(stored) <= set(tasks)
        for source_id, task in stored.items():
            assert tasks[source_id]["subject"] == task.subject
        for key in refused:
            assert key in quarantine, f"bad record {key} neither stored nor quarantined"
            assert quarantine[key]["reason"]
        assert result.fetched == len(served)
        event(f"quarantined: {'some' if refused else 'none'}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
