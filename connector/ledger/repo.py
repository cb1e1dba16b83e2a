"""The ledger's reading and writing functions in one namespace (``from connector.ledger import
repo``), for scripts and tests; each is defined in the module of its concept:

- `pages`: writing a page of records (tasks, history, snapshots, quarantine), idempotently;
- `tasks`: the task table read back (`LedgerTask`), its classification, a full read's marks;
- `history`: the tracked fields' history and the snapshots, and any past day rebuilt from them;
- `quarantine`, `units`, `cursor`: what their names say;
- `columns` and `codec`: a task as row values and as canonical JSON.

The outbox's and the runs' tables have theirs in `connector.ledger.outbox` and
`connector.ledger.runs`.
"""

from __future__ import annotations

from connector.ledger.codec import (
    canonical_json,
    content_hash,
    history_value,
    task_from_dict,
    task_from_json,
    task_to_dict,
    task_to_json,
)
from connector.ledger.columns import (
    CLASSIFICATION_NAMES,
    classification_differs,
    classification_values,
    task_from_row,
    task_values,
)
from connector.ledger.cursor import CursorState, get_cursor, get_sync_state, save_cursor
from connector.ledger.history import (
    STATUS_FIELD,
    TRACKED_FIELDS,
    HistoryEntry,
    Observation,
    SnapshotEntry,
    iter_tasks_as_of,
    statuses_on,
    task_history,
    task_snapshots,
    tasks_as_of,
    tracked_from_row,
)
from connector.ledger.pages import (
    Incoming,
    PageItem,
    RecordOutcome,
    Rejected,
    WriteCounts,
    quarantine_record,
    upsert_task,
    write_page,
)
from connector.ledger.quarantine import QuarantineEntry, list_quarantine
from connector.ledger.tasks import (
    ClassificationChange,
    LedgerTask,
    count_tasks,
    get_task,
    iter_tasks,
    list_tasks,
    mark_missing,
    missing_task_ids,
    read_task,
    stamp_full_read,
    task_batch,
    write_classifications,
    write_status_history,
)
from connector.ledger.units import known_unit_codes, list_units, upsert_units

__all__ = [
    "CLASSIFICATION_NAMES",
    "STATUS_FIELD",
    "TRACKED_FIELDS",
    "ClassificationChange",
    "CursorState",
    "HistoryEntry",
    "Incoming",
    "LedgerTask",
    "Observation",
    "PageItem",
    "QuarantineEntry",
    "RecordOutcome",
    "Rejected",
    "SnapshotEntry",
    "WriteCounts",
    "canonical_json",
    "classification_differs",
    "classification_values",
    "content_hash",
    "count_tasks",
    "get_cursor",
    "get_sync_state",
    "get_task",
    "history_value",
    "iter_tasks",
    "iter_tasks_as_of",
    "known_unit_codes",
    "list_quarantine",
    "list_tasks",
    "list_units",
    "mark_missing",
    "missing_task_ids",
    "quarantine_record",
    "read_task",
    "save_cursor",
    "stamp_full_read",
    "statuses_on",
    "task_batch",
    "task_from_dict",
    "task_from_json",
    "task_from_row",
    "task_history",
    "task_snapshots",
    "task_to_dict",
    "task_to_json",
    "task_values",
    "tasks_as_of",
    "tracked_from_row",
    "upsert_task",
    "upsert_units",
    "write_classifications",
    "write_page",
    "write_status_history",
]
