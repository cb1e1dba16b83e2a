"""The simulated world: every task record as the API serves it, and what tests need to know.

`World.tasks` maps a record's *key* to the exact JSON object the API serves for it. The key is
the record's `id`; a record generated malformed with its `id` removed keeps the key it would have
had (and cannot be viewed or written by id). `World.malformed` says which records are malformed
and how; `World.scenario` what each record was generated to be as of `today`.

All reads and changes hold `World.lock` (re-entrant), so the HTTP threads and a test can use the
world at the same time. Every change sets `lastModify`/`lastModifyStr` to the instant given.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import json
import math
import random
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import cache
from typing import Any

from connector.models import Unit
from connector.rules.calendar import WorkingCalendar, load_calendar
from simulator.generator import (
    GeneratedTask,
    Scenario,
    TaskFactory,
    start_instant,
)
from simulator.textgen import DeadlinePhrase
from simulator.timefmt import date_str, epoch, local_str, utc_str
from simulator.units import DEFAULT_UNIT_SET, UnitSet, unit_set


class MalformKind(StrEnum):
    BAD_DATE = "bad_date"
    MISSING_ID = "missing_id"
    UNKNOWN_STATUS = "unknown_status"


@dataclass(frozen=True)
class Malformation:
    """How a record was made malformed: which field, and the bad value it now holds.

    For `completeDate` the UTC twin `completeDateStr` is made impossible too.
    """

    kind: MalformKind
    field: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.field}={self.value!r}"


class UnknownTaskError(LookupError):
    """No (not hard-deleted) task with that id."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"no task with id {task_id}")
        self.task_id = task_id


def _instant(value: Any) -> datetime | None:
    """An aware instant from an ISO-8601 string, else None."""
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.utcoffset() is not None else None


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class World:
    """The records of one simulated province and the operations that change them."""

    def __init__(
        self,
        *,
        seed: int,
        today: date,
        factory: TaskFactory,
        generated: Iterable[GeneratedTask],
    ) -> None:
        self.seed = seed
        self.today = today
        """The local date the world was generated for (the simulated clock starts on it)."""
        self.start: datetime = start_instant(today)
        """`today` at 08:00 local (UTC): the simulated clock's start instant."""
        self.lock = threading.RLock()
        self.tasks: dict[int, dict[str, Any]] = {}
        """key -> the exact JSON object served. Read it under `lock`; change it only by methods."""
        self.scenario: dict[int, Scenario] = {}
        """key -> what the record was generated to be as of `today` (dropped once changed)."""
        self.phrases: dict[int, DeadlinePhrase] = {}
        """key -> the deadline phrase written into `steeringContent` (tasks without deadline)."""
        self.nfd: set[int] = set()
        """keys whose `subject` and `steeringContent` are stored decomposed (NFD)."""
        self.malformed: dict[int, Malformation] = {}
        """key -> how the record is malformed (empty unless a malformed rate was given)."""
        self.hard_deleted: set[int] = set()
        self._factory = factory
        self._mod: dict[int, int] = {}
        self._enc: dict[int, bytes] = {}
        self._deleted: set[int] = set()
        self._order: tuple[list[int], list[int]] | None = None
        for task in generated:
            self._insert(task)

    # -- reading -------------------------------------------------------------------------------

    @property
    def units(self) -> tuple[Unit, ...]:
        return self._factory.units.units

    @property
    def unit_set(self) -> UnitSet:
        """The units this world's tasks are assigned to (``binhdinh`` by default)."""
        return self._factory.units

    @property
    def calendar(self) -> WorkingCalendar:
        return self._factory.calendar

    def __len__(self) -> int:
        with self.lock:
            return len(self.tasks)

    def key_of(self, task_id: int) -> int | None:
        """The key of the servable record whose `id` is `task_id`, else None."""
        with self.lock:
            record = self.tasks.get(task_id)
            if record is None or record.get("id") != task_id:
                return None
            return task_id

    def task(self, task_id: int) -> dict[str, Any]:
        """A deep copy of the record with this id (raises `UnknownTaskError`)."""
        with self.lock:
            return copy.deepcopy(self.tasks[self._require(task_id)])

    def snapshot(self) -> dict[int, dict[str, Any]]:
        """A deep copy of every record (key -> JSON object), taken atomically."""
        with self.lock:
            return copy.deepcopy(self.tasks)

    def served(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Deep copies of the records a full search would return, in search order."""
        with self.lock:
            return [copy.deepcopy(self.tasks[k]) for k in self.select(None, include_deleted)]

    def select(self, modified_from: datetime | None, include_deleted: bool) -> list[int]:
        """Keys matching a search, ordered by `lastModifyStr` then `id` (contract section 3)."""
        with self.lock:
            if self._order is None:
                keys = sorted(self.tasks, key=lambda k: (self._mod[k], k))
                self._order = (keys, [self._mod[k] for k in keys])
            keys, mods = self._order
            first = 0
            if modified_from is not None:
                first = bisect.bisect_left(mods, math.ceil(modified_from.timestamp()))
            chosen = keys[first:]
            if include_deleted or not self._deleted:
                return list(chosen)
            return [k for k in chosen if k not in self._deleted]

    def encoded(self, key: int) -> bytes:
        """The record's JSON as UTF-8 bytes (cached until the record changes)."""
        with self.lock:
            data = self._enc.get(key)
            if data is None:
                data = _encode(self.tasks[key])
                self._enc[key] = data
            return data

    def counts(self) -> dict[str, Any]:
        """How many records there are, by status and deletion."""
        with self.lock:
            statuses = Counter(str(r.get("status", "")) for r in self.tasks.values())
            return {
                "total": len(self.tasks),
                "softDeleted": len(self._deleted),
                "hardDeleted": len(self.hard_deleted),
                "malformed": len(self.malformed),
                "byStatus": dict(sorted(statuses.items())),
            }

    def fingerprint(self) -> str:
        """SHA-256 of every record in key order: equal fingerprints, identical worlds."""
        with self.lock:
            digest = hashlib.sha256()
            for key in sorted(self.tasks):
                digest.update(str(key).encode())
                digest.update(json.dumps(self.tasks[key], sort_keys=True).encode())
            return digest.hexdigest()

    # -- changing ------------------------------------------------------------------------------

    def touch(self, key: int, now: datetime) -> None:
        """Set the record's `lastModify`/`lastModifyStr` to `now` (nothing else changes)."""
        with self.lock:
            record = self.tasks[key]
            record["lastModify"] = local_str(now)
            record["lastModifyStr"] = utc_str(now)
            self._mod[key] = epoch(now)
            self._changed(key)

    def set_tracking(self, task_id: int, status: str, now: datetime) -> str:
        """Write the tracking status (contract section 6); returns the new `lastModifyStr`."""
        with self.lock:
            key = self._require(task_id)
            self.tasks[key]["trackingStatus"] = status
            self.touch(key, now)
            return str(self.tasks[key]["lastModifyStr"])

    def complete(self, task_id: int, now: datetime, at: datetime | None = None) -> None:
        """The lead unit completes the task at `at` (default `now`)."""
        done = at or now
        with self.lock:
            key = self._require(task_id)
            record = self.tasks[key]
            record["status"] = "completed"
            record["completeDate"] = local_str(done)
            record["completeDateStr"] = utc_str(done)
            record["progress"] = 100
            self._user_change(key, now)

    def change_deadline(
        self, task_id: int, new_deadline: date | None, now: datetime, reason: str = ""
    ) -> None:
        """Set a new deadline (None: no deadline), appending to `deadlineChanges`."""
        with self.lock:
            key = self._require(task_id)
            record = self.tasks[key]
            new = date_str(new_deadline) if new_deadline is not None else ""
            record["deadlineChanges"].append(
                {
                    "oldDeadline": record["deadline"],
                    "newDeadline": new,
                    "changedDateStr": utc_str(now),
                    "reason": reason or "Điều chỉnh hạn xử lý theo đề nghị của đơn vị chủ trì",
                }
            )
            record["deadline"] = new
            self._user_change(key, now)

    def confirm(self, task_id: int, now: datetime, confirmed: bool = True) -> None:
        """The lead unit confirms (or withdraws its confirmation of) the task's status."""
        with self.lock:
            key = self._require(task_id)
            record = self.tasks[key]
            record["confirmed"] = "Y" if confirmed else "N"
            record["confirmedDateStr"] = utc_str(now) if confirmed else ""
            self._user_change(key, now)

    def report_progress(self, task_id: int, now: datetime, progress: int) -> None:
        """The lead unit reports progress (sets `lastReportDateStr`)."""
        with self.lock:
            key = self._require(task_id)
            record = self.tasks[key]
            record["progress"] = max(0, min(100, progress))
            record["lastReportDateStr"] = utc_str(now)
            if record["status"] == "received":
                record["status"] = "processing"
            self._user_change(key, now)

    def withdraw(self, task_id: int, now: datetime) -> None:
        """The assigner withdraws the task (`retrieved`)."""
        with self.lock:
            key = self._require(task_id)
            self.tasks[key]["status"] = "retrieved"
            self._user_change(key, now)

    def soft_delete(self, task_id: int, now: datetime) -> None:
        """Mark the task `deleted: "Y"` (it is served only with `includeDeleted`)."""
        with self.lock:
            key = self._require(task_id)
            self.tasks[key]["deleted"] = "Y"
            self._deleted.add(key)
            self._user_change(key, now)

    def hard_delete(self, task_id: int) -> None:
        """Remove the task: no longer served; `view.cpx` answers 404."""
        with self.lock:
            key = self._require(task_id)
            del self.tasks[key]
            del self._mod[key]
            self._enc.pop(key, None)
            self._deleted.discard(key)
            self.scenario.pop(key, None)
            self.hard_deleted.add(key)
            self._order = None

    def add_tasks(
        self, instants: Iterable[datetime], scenario: Scenario | None = None
    ) -> list[int]:
        """Assign one new task at each instant (its `createDate` and `lastModify`)."""
        ids: list[int] = []
        with self.lock:
            for now in instants:
                task = self._factory.new_task(now, scenario)
                self._insert(task)
                ids.append(task.key)
        return ids

    def put_record(
        self, key: int, record: dict[str, Any], *, last_modified: datetime | None = None
    ) -> None:
        """Insert or replace a record verbatim, whatever it holds (for bad-input tests).

        It is ordered by `last_modified`, else by its `lastModifyStr` when that is a valid
        instant, else by the world's start instant. Its `scenario` entry is dropped.
        """
        with self.lock:
            self.tasks[key] = record
            self._mod[key] = epoch(last_modified or self._stamp(record))
            self._sync_deleted(key)
            self.scenario.pop(key, None)
            self.hard_deleted.discard(key)
            self._changed(key)

    def refresh(self) -> None:
        """Re-read every record after editing `tasks` in place (order, deletions, encodings)."""
        with self.lock:
            for key in list(self._mod):
                if key not in self.tasks:
                    del self._mod[key]
            for key, record in self.tasks.items():
                stamp = _instant(record.get("lastModifyStr"))
                if stamp is not None or key not in self._mod:
                    self._mod[key] = epoch(stamp or self.start)
                self._sync_deleted(key)
            self._enc.clear()
            self._order = None

    # -- internals -----------------------------------------------------------------------------

    def _stamp(self, record: dict[str, Any]) -> datetime:
        return _instant(record.get("lastModifyStr")) or self.start

    def _sync_deleted(self, key: int) -> None:
        if self.tasks[key].get("deleted") == "Y":
            self._deleted.add(key)
        else:
            self._deleted.discard(key)

    def _require(self, task_id: int) -> int:
        key = self.key_of(task_id)
        if key is None:
            raise UnknownTaskError(task_id)
        return key

    def _changed(self, key: int) -> None:
        self._enc.pop(key, None)
        self._order = None

    def _user_change(self, key: int, now: datetime) -> None:
        self.scenario.pop(key, None)
        self.touch(key, now)

    def _insert(self, task: GeneratedTask) -> None:
        key = task.key
        self.tasks[key] = task.record
        self.scenario[key] = task.scenario
        if task.phrase is not None:
            self.phrases[key] = task.phrase
        if task.nfd:
            self.nfd.add(key)
        if task.record.get("deleted") == "Y":
            self._deleted.add(key)
        self._mod[key] = epoch(datetime.fromisoformat(task.record["lastModifyStr"]))
        self._changed(key)

    def _malform(self, rate: float, rng: random.Random) -> None:
        """Spoil round(rate x records) records (at least one when rate > 0)."""
        keys = sorted(self.tasks)
        if rate <= 0 or not keys:
            return
        count = min(len(keys), max(1, round(rate * len(keys))))
        for i, key in enumerate(sorted(rng.sample(keys, count))):
            self.malformed[key] = self._spoil(key, i)
            self._changed(key)

    def _spoil(self, key: int, i: int) -> Malformation:
        record = self.tasks[key]
        year = str(record["lastModifyStr"][:4])
        has_deadline = record["deadline"] not in ("", "Feb 1, 2200, 12:00:01 AM")
        has_completion = bool(record["completeDate"])
        for step in range(6):
            choice = (i + step) % 6
            if choice == 0 and has_deadline:
                record["deadline"] = f"31/02/{year}"
                return Malformation(MalformKind.BAD_DATE, "deadline", record["deadline"])
            if choice == 1 and has_completion:
                record["completeDate"] = f"Feb 30, {year}, 12:00:00 AM"
                record["completeDateStr"] = f"{year}-02-30T17:00:00+00:00"
                return Malformation(MalformKind.BAD_DATE, "completeDate", record["completeDate"])
            if choice == 2:
                del record["id"]
                return Malformation(MalformKind.MISSING_ID, "id", "")
            if choice == 3:
                record["status"] = ("tranfered", "pending_approval", "DANG_XU_LY")[i % 3]
                return Malformation(MalformKind.UNKNOWN_STATUS, "status", record["status"])
            if choice == 4 and has_deadline:
                record["deadline"] = f"Feb 30, {year}, 12:00:00 AM"
                return Malformation(MalformKind.BAD_DATE, "deadline", record["deadline"])
            if choice == 5 and has_completion:
                record["completeDate"] = f"31/02/{year}"
                record["completeDateStr"] = f"{year}-02-31T17:00:00+00:00"
                return Malformation(MalformKind.BAD_DATE, "completeDate", record["completeDate"])
        raise AssertionError("unreachable: missing_id always applies")  # pragma: no cover


@cache
def default_calendar() -> WorkingCalendar:
    """The shipped working calendar (loaded once per process)."""
    return load_calendar()


def generate_world(
    seed: int = 1,
    tasks: int = 500,
    today: date | None = None,
    *,
    malformed_rate: float = 0.0,
    calendar: WorkingCalendar | None = None,
    units: str = DEFAULT_UNIT_SET,
) -> World:
    """A deterministic world: the same arguments give identical records.

    `today` defaults to 7 March 2022 (the week the Chairman's directive was signed); `units`
    names the unit set (`simulator.units.UNIT_SETS`; raises `ValueError` for an unknown one).
    """
    if tasks < 0:
        raise ValueError(f"tasks must be >= 0, got {tasks}")
    if not 0.0 <= malformed_rate <= 1.0:
        raise ValueError(f"malformed_rate must be within 0..1, got {malformed_rate}")
    day = today or date(2022, 3, 7)
    factory = TaskFactory(seed, day, calendar or default_calendar(), unit_set(units))
    world = World(seed=seed, today=day, factory=factory, generated=factory.generate(tasks))
    world._malform(malformed_rate, random.Random(f"malformed:{seed}"))
    return world
