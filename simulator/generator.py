"""The deterministic world generator: directive documents and their assignments.

`TaskFactory` draws every value from one `random.Random(seed)`, so the same (seed, number of
tasks, today) gives the same records, byte for byte. Each record is generated for a *scenario*
(`Scenario`): the deadline status it has as of `today` at 08:00 local, the simulator's start
instant. Deadlines are chosen so that the scenario holds after the Civil Code roll-forward (a
deadline on a weekend or a holiday counts until the end of the next working day), and some are
deliberately put on weekends and holidays (Tết), or completed near local midnight, where a naive
UTC reading of the dates gives the wrong answer.
"""

from __future__ import annotations

import bisect
import itertools
import random
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from connector.clock import LOCAL_TZ, local_date
from connector.models import StatusCode, Unit, UnitKind
from connector.rules.calendar import WorkingCalendar
from simulator import textgen
from simulator.textgen import DeadlinePhrase
from simulator.timefmt import (
    NO_DEADLINE,
    date_str,
    date_utc_str,
    floor_second,
    local_str,
    utc_str,
)
from simulator.units import DEFAULT_UNIT_SET, UNIT_SETS, WORKING_GROUP, UnitSet

FIRST_TASK_ID = 210_000
FIRST_DOCUMENT_ID = 5_100_000
WORLD_SPAN_DAYS = 420
"""Documents are dated up to this many days before `today`."""


class Scenario(StrEnum):
    """What a generated record is, as of the world's `today` (before any change)."""

    DONE_ON_TIME = "done_on_time"
    DONE_LATE = "done_late"
    DONE_NO_DEADLINE = "done_no_deadline"
    OPEN_IN_TIME = "open_in_time"
    """Open, deadline at least 5 working days away."""
    DUE_SOON = "due_soon"
    """Open, the effective deadline is today or within the next 2 working days."""
    OVERDUE = "overdue"
    """Open, 1 to 30 days past the effective deadline."""
    OVERDUE_LONG = "overdue_long"
    """Open, more than 30 days past the effective deadline."""
    OPEN_NO_DEADLINE = "open_no_deadline"
    """Open without deadline, assigned less than 3 months ago."""
    NO_DEADLINE_STALE = "no_deadline_stale"
    """Open without deadline, assigned over 3 months ago, no report in the last 3 months."""
    NO_DEADLINE_REPORTED = "no_deadline_reported"
    """Open without deadline, assigned over 3 months ago, but reported within 60 days."""
    WITHDRAWN = "withdrawn"
    """Withdrawn by the assigner (`retrieved`)."""
    RETURNED = "returned"
    """Sent back to the assigner (`returned`), still open, deadline at least 5 working days away."""

    @property
    def expected_status(self) -> StatusCode:
        """The report status the scenario stands for (domain brief, status taxonomy)."""
        return _EXPECTED[self]


_EXPECTED: dict[Scenario, StatusCode] = {
    Scenario.DONE_ON_TIME: StatusCode.HT_DUNG_HAN,
    Scenario.DONE_LATE: StatusCode.HT_QUA_HAN,
    Scenario.DONE_NO_DEADLINE: StatusCode.HT_KHONG_HAN,
    Scenario.OPEN_IN_TIME: StatusCode.DTH_TRONG_HAN,
    Scenario.DUE_SOON: StatusCode.DTH_TRONG_HAN,
    Scenario.OVERDUE: StatusCode.DTH_QUA_HAN,
    Scenario.OVERDUE_LONG: StatusCode.DTH_QUA_HAN,
    Scenario.OPEN_NO_DEADLINE: StatusCode.KHONG_THOI_HAN,
    Scenario.NO_DEADLINE_STALE: StatusCode.KHONG_THOI_HAN,
    Scenario.NO_DEADLINE_REPORTED: StatusCode.KHONG_THOI_HAN,
    Scenario.WITHDRAWN: StatusCode.DA_HUY,
    Scenario.RETURNED: StatusCode.DTH_TRONG_HAN,
}

_WEIGHTS: tuple[tuple[Scenario, float], ...] = (
    (Scenario.DONE_ON_TIME, 0.36),
    (Scenario.DONE_LATE, 0.08),
    (Scenario.DONE_NO_DEADLINE, 0.14),
    (Scenario.OPEN_IN_TIME, 0.08),
    (Scenario.DUE_SOON, 0.04),
    (Scenario.OVERDUE, 0.04),
    (Scenario.OVERDUE_LONG, 0.025),
    (Scenario.OPEN_NO_DEADLINE, 0.25),
    (Scenario.NO_DEADLINE_STALE, 0.04),
    (Scenario.NO_DEADLINE_REPORTED, 0.02),
    (Scenario.WITHDRAWN, 0.03),
    (Scenario.RETURNED, 0.03),
)

NEW_TASK_SCENARIOS: frozenset[Scenario] = frozenset(
    {Scenario.OPEN_IN_TIME, Scenario.DUE_SOON, Scenario.OPEN_NO_DEADLINE}
)
"""Scenarios a task added while the simulator runs (created "now") can have."""

_NO_DEADLINE_SCENARIOS = frozenset(
    {
        Scenario.DONE_NO_DEADLINE,
        Scenario.OPEN_NO_DEADLINE,
        Scenario.NO_DEADLINE_STALE,
        Scenario.NO_DEADLINE_REPORTED,
    }
)
_NEEDS_DEADLINE = frozenset(
    {
        Scenario.DONE_ON_TIME,
        Scenario.DONE_LATE,
        Scenario.OPEN_IN_TIME,
        Scenario.DUE_SOON,
        Scenario.OVERDUE,
        Scenario.OVERDUE_LONG,
        Scenario.RETURNED,
    }
)
_KIND_WEIGHT = {
    UnitKind.DEPARTMENT: 1.0,
    UnitKind.DISTRICT: 0.8,
    UnitKind.CENTRAL: 0.3,
    UnitKind.OFFICE: 0.15,
}


def start_instant(today: date) -> datetime:
    """The simulated clock's start: `today` at 08:00 local, in UTC."""
    return datetime.combine(today, time(8, 0), tzinfo=LOCAL_TZ).astimezone(UTC)


@dataclass(frozen=True)
class GeneratedTask:
    """One generated record with what the generator knows about it."""

    key: int
    record: dict[str, Any]
    scenario: Scenario
    phrase: DeadlinePhrase | None
    nfd: bool


@dataclass
class _Plan:
    """The instants of one record, chosen before it is written out."""

    created: datetime
    deadline: date | None = None
    changes: tuple[tuple[date, date, datetime], ...] = ()
    completed: datetime | None = None
    report: datetime | None = None


class TaskFactory:
    """Makes records for one world; also used to add tasks while the simulator runs."""

    def __init__(
        self,
        seed: int,
        today: date,
        calendar: WorkingCalendar,
        units: UnitSet = UNIT_SETS[DEFAULT_UNIT_SET],
    ) -> None:
        self.rng = random.Random(seed)
        self.units = units
        self._lead_weights = [_KIND_WEIGHT[u.kind] for u in units.lead_units]
        self.today = today
        self.calendar = calendar
        self.start = start_instant(today)
        self.next_id = FIRST_TASK_ID
        self.next_ed_id = FIRST_DOCUMENT_ID
        self.used_numbers: set[str] = set()
        first = today - timedelta(days=WORLD_SPAN_DAYS + 30)
        last = today + timedelta(days=200)
        self._working = {d: calendar.is_working_day(d) for d in _days(first, last)}
        off = [d for d, working in self._working.items() if not working]
        self._weekend_off = [d for d in off if d.weekday() >= 5]
        self._holidays = [d for d in off if d.weekday() < 5 or d.month in (1, 2)]

    # -- building blocks -----------------------------------------------------------------------

    def _is_working(self, day: date) -> bool:
        known = self._working.get(day)
        return self.calendar.is_working_day(day) if known is None else known

    def _eff(self, day: date) -> date:
        """The deadline's effective date: itself, or the next working day (Civil Code Art. 148)."""
        while not self._is_working(day):
            day += timedelta(days=1)
        return day

    def _day_between(self, lo: date, hi: date) -> date:
        return lo + timedelta(days=self.rng.randint(0, max(0, (hi - lo).days)))

    def _at(self, day: date, lo: time = time(7, 30), hi: time = time(17, 30)) -> datetime:
        """An instant on local `day` between two wall times."""
        span = (hi.hour * 3600 + hi.minute * 60) - (lo.hour * 3600 + lo.minute * 60)
        offset = self.rng.randint(0, max(0, span))
        local = datetime.combine(day, lo, tzinfo=LOCAL_TZ) + timedelta(seconds=offset)
        return local.astimezone(UTC)

    def _off_day_in(self, pool: list[date], lo: date, hi: date) -> date | None:
        i, j = bisect.bisect_left(pool, lo), bisect.bisect_right(pool, hi)
        return pool[self.rng.randrange(i, j)] if i < j else None

    def _deadline(self, lo_eff: date, hi_eff: date, not_before: date) -> date | None:
        """A deadline whose effective (rolled-forward) date lies in [lo_eff, hi_eff].

        About one in twelve falls on a weekend, one in twenty-five on a holiday (mostly Tết).
        """
        if lo_eff > hi_eff:
            return None
        lo = max(not_before, lo_eff - timedelta(days=5))
        for _ in range(40):
            roll = self.rng.random()
            candidate: date | None
            if roll < 0.04:
                candidate = self._off_day_in(self._holidays, lo, hi_eff)
            elif roll < 0.12:
                candidate = self._off_day_in(self._weekend_off, lo, hi_eff)
            else:
                candidate = self._day_between(lo, hi_eff)
                if not self._is_working(candidate):
                    continue
            if candidate is None or candidate < not_before:
                continue
            if lo_eff <= self._eff(candidate) <= hi_eff:
                return candidate
        for day in _days(max(lo_eff, not_before), hi_eff):
            if self._is_working(day):
                return day
        return None

    def _scenario(self, created: date) -> Scenario:
        """A scenario drawn by weight among those possible for a task assigned on `created`."""
        age = (self.today - created).days
        table = [(s, w) for s, w in _WEIGHTS if _feasible(s, age)]
        return self.rng.choices([s for s, _ in table], weights=[w for _, w in table], k=1)[0]

    def _completion(self, day: date, *, near_midnight: str = "") -> datetime:
        if near_midnight == "late":  # 23:30-23:59 local: still `day` locally, same UTC date
            return self._at(day, time(23, 30), time(23, 59))
        if near_midnight == "early":  # 00:00-00:59 local: the UTC date is the day before
            return self._at(day, time(0, 0), time(0, 59))
        return self._at(day)

    def _plan(self, scenario: Scenario, created: datetime) -> _Plan:
        """Choose deadline, completion and report instants so that `scenario` holds today."""
        rng, t, cal = self.rng, self.today, self.calendar
        c = local_date(created)
        plan = _Plan(created=created)
        day = timedelta(days=1)
        if scenario is Scenario.DONE_ON_TIME:
            plan.deadline = self._deadline(c + 5 * day, t - 2 * day, c + day)
        elif scenario is Scenario.DONE_LATE:
            plan.deadline = self._deadline(c + 5 * day, t - 3 * day, c + day)
        elif scenario in (Scenario.OPEN_IN_TIME, Scenario.RETURNED):
            lo = cal.add_working_days(t, 5)
            plan.deadline = self._deadline(lo, t + 150 * day, max(c + day, t))
        elif scenario is Scenario.DUE_SOON:
            plan.deadline = self._deadline(t, cal.add_working_days(t, 2), c + day)
        elif scenario is Scenario.OVERDUE:
            plan.deadline = self._deadline(max(c + 3 * day, t - 30 * day), t - day, c + day)
        elif scenario is Scenario.OVERDUE_LONG:
            lo = max(c + 3 * day, t - 250 * day)
            plan.deadline = self._deadline(lo, t - 31 * day, c + day)
        elif scenario is Scenario.WITHDRAWN and rng.random() < 0.5:
            plan.deadline = self._deadline(c + 5 * day, t + 60 * day, c + day)

        if plan.deadline is not None:
            eff = self._eff(plan.deadline)
            if scenario is Scenario.DONE_ON_TIME:
                last = min(eff, t - day)
                roll = rng.random()
                if roll < 0.25:
                    plan.completed = self._completion(last, near_midnight="late")
                elif roll < 0.35:
                    plan.completed = self._completion(last, near_midnight="early")
                else:
                    plan.completed = self._completion(self._day_between(c + day, last))
            elif scenario is Scenario.DONE_LATE:
                first = eff + day
                if rng.random() < 0.3:
                    plan.completed = self._completion(first, near_midnight="early")
                else:
                    last = min(eff + 60 * day, t - day)
                    plan.completed = self._completion(self._day_between(first, last))
            plan.changes = self._changes(plan.deadline, c, plan.completed)
        elif scenario is Scenario.DONE_NO_DEADLINE:
            plan.completed = self._completion(self._day_between(c + day, t - day))

        plan.report = self._report(scenario, c, plan.completed)
        return plan

    def _changes(
        self, final: date, created: date, completed: datetime | None
    ) -> tuple[tuple[date, date, datetime], ...]:
        """Deadline changes (old, new, when), oldest first, ending at `final`; often none."""
        if self.rng.random() >= 0.12:
            return ()
        n = 1 if self.rng.random() < 0.8 else 2
        deadlines = [final]
        for _ in range(n):
            earlier = deadlines[0] - timedelta(days=self.rng.randint(7, 45))
            if earlier <= created:
                break
            deadlines.insert(0, earlier)
        changes: list[tuple[date, date, datetime]] = []
        not_before = created + timedelta(days=1)
        for old, new in itertools.pairwise(deadlines):
            latest = min(old, self.today - timedelta(days=1))
            if completed is not None:
                latest = min(latest, local_date(completed))
            if latest < not_before:
                break
            when = self._at(self._day_between(not_before, latest))
            changes.append((old, new, when))
            not_before = local_date(when)
        if changes and changes[-1][1] != final:
            return ()
        return tuple(changes)

    def _report(
        self, scenario: Scenario, created: date, completed: datetime | None
    ) -> datetime | None:
        t, rng, day = self.today, self.rng, timedelta(days=1)
        if scenario is Scenario.NO_DEADLINE_STALE:
            if rng.random() < 0.5:
                return None
            return self._at(self._day_between(created + day, t - 100 * day))
        if scenario is Scenario.NO_DEADLINE_REPORTED:
            return self._at(self._day_between(max(created + day, t - 60 * day), t - day))
        if completed is not None:
            return completed if rng.random() < 0.6 else None
        if scenario in (Scenario.WITHDRAWN, Scenario.RETURNED) or created >= t - day:
            return None
        if rng.random() < 0.6:
            lo = max(created + day, t - 80 * day)
            return self._at(self._day_between(lo, t - day))
        return None

    def _leads(self, k: int) -> list[Unit]:
        chosen: list[Unit] = []
        while len(chosen) < k:
            unit = self.rng.choices(self.units.lead_units, weights=self._lead_weights, k=1)[0]
            if unit not in chosen:
                chosen.append(unit)
        return chosen

    def _coordinators(self, lead: Unit) -> list[Unit]:
        n = self.rng.choices((0, 1, 2, 3), weights=(0.3, 0.35, 0.25, 0.1), k=1)[0]
        pool = [u for u in self.units.units if u.code not in (lead.code, WORKING_GROUP)]
        return self.rng.sample(pool, n)

    def _take_id(self) -> int:
        key = self.next_id
        self.next_id += self.rng.randint(1, 3)
        return key

    def _take_ed_id(self) -> int:
        ed = self.next_ed_id
        self.next_ed_id += self.rng.randint(1, 40)
        return ed

    # -- records -------------------------------------------------------------------------------

    def _record(
        self,
        *,
        ed_id: int,
        doc: textgen.Document,
        doc_date: date,
        lead: Unit,
        scenario: Scenario,
        plan: _Plan,
        last_modified: datetime | None,
    ) -> GeneratedTask:
        rng = self.rng
        key = self._take_id()
        coordinators = self._coordinators(lead)
        phrase: DeadlinePhrase | None = None
        if plan.deadline is None and scenario in _NO_DEADLINE_SCENARIOS and rng.random() < 0.35:
            phrase = textgen.deadline_phrase(rng, doc_date, self.calendar)
        content = textgen.steering_content(
            rng,
            doc.topic,
            lead,
            coordinators,
            phrase=phrase,
            no_date_word=phrase is None and rng.random() < 0.2,
        )
        subject = doc.subject
        nfd = rng.random() < 0.06
        if nfd:
            subject = unicodedata.normalize("NFD", subject)
            content = unicodedata.normalize("NFD", content)

        status = {
            Scenario.WITHDRAWN: "retrieved",
            Scenario.RETURNED: "returned",
        }.get(scenario, "completed" if plan.completed is not None else "")
        fresh = last_modified is not None  # assigned just now, while the simulator runs
        if not status:
            started = plan.report is not None or rng.random() >= 0.6
            status = "processing" if started and not fresh else "received"
        progress = {
            "completed": 100,
            "received": 0,
        }.get(status, rng.randrange(5, 95, 5))

        events = [plan.created]
        events += [when for _, _, when in plan.changes]
        if plan.completed is not None:
            events.append(plan.completed)
        if plan.report is not None:
            events.append(plan.report)
        confirmed_at: datetime | None = None
        if rng.random() < 0.72 and not fresh:
            confirmed_at = _before(
                max(events) + timedelta(hours=rng.randint(1, 72)),
                max(events),
                self.start - timedelta(minutes=1),
            )
            events.append(confirmed_at)
        deleted = not fresh and rng.random() < 0.025
        if deleted:
            events.append(
                _before(
                    max(events) + timedelta(days=rng.randint(1, 20)),
                    max(events),
                    self.start - timedelta(hours=1),
                )
            )
        modified = last_modified if last_modified is not None else max(events)

        if plan.deadline is not None:
            deadline = date_str(plan.deadline)
        else:
            deadline = NO_DEADLINE if rng.random() < 0.85 else ""
        record: dict[str, Any] = {
            "id": key,
            "edId": ed_id,
            "signNumber": doc.sign_number,
            "category": doc.category,
            "subject": subject,
            "author": doc.author,
            "publisherCode": doc.publisher_code,
            "signer": doc.signer,
            "position": doc.position,
            "docDate": date_str(doc_date),
            "docDateStr": date_utc_str(doc_date),
            "steeringType": doc.steering_type,
            "steeringBy": doc.steering_by,
            "steeringContent": content,
            "receiverCommCode": lead.code,
            "receiverAname": lead.name,
            "coordinators": [{"commCode": u.code, "aname": u.name} for u in coordinators],
            "createDate": local_str(plan.created),
            "createDateStr": utc_str(plan.created),
            "deadline": deadline,
            "deadlineChanges": [
                {
                    "oldDeadline": date_str(old),
                    "newDeadline": date_str(new),
                    "changedDateStr": utc_str(when),
                    "reason": textgen.deadline_reason(rng),
                }
                for old, new, when in plan.changes
            ],
            "status": status,
            "completeDate": local_str(plan.completed) if plan.completed else "",
            "completeDateStr": utc_str(plan.completed) if plan.completed else "",
            "priority": rng.choices((0, 1, 2, 3, 4), weights=(70, 20, 6, 3, 1), k=1)[0],
            "progress": progress,
            "lastReportDateStr": utc_str(plan.report) if plan.report else "",
            "confirmed": "Y" if confirmed_at else "N",
            "confirmedDateStr": utc_str(confirmed_at) if confirmed_at else "",
            "trackingStatus": "",
            "lastModify": local_str(modified),
            "lastModifyStr": utc_str(modified),
            "deleted": "Y" if deleted else "N",
            "security": 0,
        }
        if rng.random() < 0.3:
            record["exchangeKey"] = f"{rng.getrandbits(96):024x}"
        return GeneratedTask(key=key, record=record, scenario=scenario, phrase=phrase, nfd=nfd)

    def generate(self, count: int) -> list[GeneratedTask]:
        """`count` records of documents dated over the last `WORLD_SPAN_DAYS` days."""
        rng, t = self.rng, self.today
        docs: list[tuple[datetime, date, int]] = []
        planned = 0
        while planned < count:
            doc_date = self._eff(t - timedelta(days=rng.randint(1, WORLD_SPAN_DAYS)))
            if doc_date >= t:
                doc_date = t - timedelta(days=1)
            created_day = min(doc_date + timedelta(days=rng.randint(0, 2)), t - timedelta(days=1))
            k = min(count - planned, rng.choices((1, 2, 3, 4), weights=(50, 25, 15, 10), k=1)[0])
            docs.append((self._at(created_day), doc_date, k))
            planned += k
        docs.sort()
        out: list[GeneratedTask] = []
        for created, doc_date, k in docs:
            doc = textgen.document(rng, doc_date, self.used_numbers, self.units.province)
            ed_id = self._take_ed_id()
            for lead in self._leads(k):
                scenario = self._scenario(local_date(created))
                plan = self._plan(scenario, created)
                if plan.deadline is None and scenario in _NEEDS_DEADLINE:
                    # no working day fits the scenario's window: make it a withdrawn task
                    scenario = Scenario.WITHDRAWN
                    plan = self._plan(scenario, created)
                out.append(
                    self._record(
                        ed_id=ed_id,
                        doc=doc,
                        doc_date=doc_date,
                        lead=lead,
                        scenario=scenario,
                        plan=plan,
                        last_modified=None,
                    )
                )
        return _batch_timestamps(rng, out, self.start)

    def new_task(self, now: datetime, scenario: Scenario | None = None) -> GeneratedTask:
        """A task assigned at `now` (received, unconfirmed), as the simulator adds it live."""
        if scenario is None:
            scenario = self.rng.choices(
                (Scenario.OPEN_IN_TIME, Scenario.DUE_SOON, Scenario.OPEN_NO_DEADLINE),
                weights=(0.5, 0.15, 0.35),
                k=1,
            )[0]
        if scenario not in NEW_TASK_SCENARIOS:
            allowed = ", ".join(sorted(NEW_TASK_SCENARIOS))
            raise ValueError(f"a new task cannot be {scenario!s}; use one of {allowed}")
        now = floor_second(now)
        today = local_date(now)
        saved = self.today
        self.today = today  # deadlines are relative to the simulated today
        try:
            plan = _Plan(created=now)
            if scenario is Scenario.OPEN_IN_TIME:
                lo = self.calendar.add_working_days(today, 5)
                plan.deadline = self._deadline(lo, today + timedelta(days=90), today)
            elif scenario is Scenario.DUE_SOON:
                hi = self.calendar.add_working_days(today, 2)
                plan.deadline = self._deadline(today, hi, today)
            doc = textgen.document(self.rng, today, self.used_numbers, self.units.province)
            lead = self._leads(1)[0]
            return self._record(
                ed_id=self._take_ed_id(),
                doc=doc,
                doc_date=today,
                lead=lead,
                scenario=scenario,
                plan=plan,
                last_modified=now,
            )
        finally:
            self.today = saved


_MIN_AGE = {
    Scenario.DONE_ON_TIME: 8,
    Scenario.DONE_LATE: 10,
    Scenario.DONE_NO_DEADLINE: 2,
    Scenario.DUE_SOON: 1,
    Scenario.OVERDUE: 5,
    Scenario.OVERDUE_LONG: 36,
    Scenario.NO_DEADLINE_STALE: 100,
    Scenario.NO_DEADLINE_REPORTED: 100,
}
_MAX_AGE = {Scenario.OPEN_NO_DEADLINE: 80}


def _feasible(scenario: Scenario, age_days: int) -> bool:
    """Whether a task assigned `age_days` before today can have this scenario."""
    return _MIN_AGE.get(scenario, 0) <= age_days <= _MAX_AGE.get(scenario, age_days)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _before(when: datetime, after: datetime, limit: datetime) -> datetime:
    """`when`, or when that would pass `limit` (the world's start), a second halfway between
    `after` and `limit`: clamping every such event to `limit` itself would give hundreds of
    records of a large world one shared modification time just before the start, which no real
    system shows (and which an incremental read's look-back window would re-read every run)."""
    if when <= limit:
        return when
    if after >= limit:
        return limit
    return floor_second(after + (limit - after) / 2)


def _batch_timestamps(
    rng: random.Random, tasks: list[GeneratedTask], start: datetime
) -> list[GeneratedTask]:
    """Move about one record in ten to a shared later `lastModifyStr` (batch edits)."""
    if not tasks:
        return tasks
    stamps = sorted(
        floor_second(start - timedelta(seconds=rng.randint(3600, WORLD_SPAN_DAYS * 86400)))
        for _ in range(max(3, len(tasks) // 80))
    )
    for task in tasks:
        if rng.random() >= 0.1:
            continue
        current = datetime.fromisoformat(task.record["lastModifyStr"])
        i = bisect.bisect_left(stamps, current)
        if i < len(stamps):
            stamp = stamps[i]
            task.record["lastModify"] = local_str(stamp)
            task.record["lastModifyStr"] = utc_str(stamp)
    return tasks
