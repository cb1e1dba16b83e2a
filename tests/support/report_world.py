"""A hand-built world of 34 tasks over 7 units for the report tests, and the statuses it is meant
to have as of 30 May 2022 (written by hand; tests/unit/test_report_figures.py checks them
against `deadlines.classify`).

Units (the unit table's order is deliberately not the report's order)::

    STC      Sở Tài chính                  department   (table position 0)
    QUYNHON  UBND thành phố Quy Nhơn       district     (1)
    SXD      Sở Xây dựng                   department   (2)
    VPUBND   Văn phòng UBND tỉnh           office       (3)
    CTHADS   Cục Thi hành án dân sự tỉnh   central      (4)
    TAYSON   UBND huyện Tây Sơn            district     (5)
    SYT      Sở Y tế                       department   (6, never has a task)
    XYZ      Ban Quản lý Khu kinh tế       not in the unit table

Calendar facts used (2022): Tết 31/01–04/02 (deadline Sun 30/01 → eff_due Mon 07/02);
Hùng Kings Sun 10/04 with Mon 11/04 off (→ Tue 12/04); 30/04 Sat and 01/05 Sun with 02–03/05
off (→ Wed 04/05); Sun 20/03 → Mon 21/03.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from connector.clock import LOCAL_TZ
from connector.models import DeadlineChange, NormalisedTask, StatusCode, TaskState, Unit, UnitKind
from connector.rules.calendar import WorkingCalendar
from connector.rules.deadlines import DEFAULT_POLICY, classify
from connector.rules.judge import Judgement, judge

AS_OF = date(2022, 5, 30)

UNITS: tuple[Unit, ...] = (
    Unit("STC", "Sở Tài chính", UnitKind.DEPARTMENT),
    Unit("QUYNHON", "UBND thành phố Quy Nhơn", UnitKind.DISTRICT),
    Unit("SXD", "Sở Xây dựng", UnitKind.DEPARTMENT),
    Unit("VPUBND", "Văn phòng UBND tỉnh", UnitKind.OFFICE),
    Unit("CTHADS", "Cục Thi hành án dân sự tỉnh", UnitKind.CENTRAL),
    Unit("TAYSON", "UBND huyện Tây Sơn", UnitKind.DISTRICT),
    Unit("SYT", "Sở Y tế", UnitKind.DEPARTMENT),
)


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A local wall time on `day` as an aware UTC instant."""
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ).astimezone(UTC)


def d(text: str) -> date:
    return date.fromisoformat(text)


def task(
    source_id: int,
    unit: str,
    assigned: str | None,
    deadline: str | None = None,
    *,
    state: TaskState = TaskState.OPEN,
    completed: datetime | str | None = None,
    confirmed: bool = True,
    last_report: str | None = None,
    changes: tuple[DeadlineChange, ...] = (),
    text: str = "",
    assigned_at: datetime | None = None,
) -> NormalisedTask:
    day = d(assigned) if assigned else None
    done_at = at(d(completed), 15) if isinstance(completed, str) else completed
    if done_at is not None:
        state = TaskState.DONE
    return NormalisedTask(
        source_id=source_id,
        last_modified=done_at or at(AS_OF, 8),
        state=state,
        sign_number=f"{source_id}/UBND-TH",
        subject=f'Về việc nhiệm vụ số {source_id} <của> đơn vị & "{unit}"',
        doc_date=day,
        steering_content=text,
        lead_unit_code=unit,
        lead_unit_name="Ban Quản lý Khu kinh tế" if unit == "XYZ" else "",
        assigned_at=assigned_at or (at(day) if day else None),
        deadline=d(deadline) if deadline else None,
        deadline_changes=changes,
        completed_at=done_at,
        last_report_at=at(d(last_report)) if last_report else None,
        confirmed=confirmed,
        # the lead unit confirms the status it holds: an open task on its assignment day, one
        # completed by AS_OF an hour after its completion
        confirmed_at=(
            done_at + timedelta(hours=1) if done_at and done_at.date() <= AS_OF else at(day, 10)
        )
        if confirmed and day
        else None,
    )


def change(old: str, new: str, on: str) -> tuple[DeadlineChange, ...]:
    return (DeadlineChange(d(old), d(new), at(d(on)), "Đơn vị đề nghị gia hạn"),)


C = TaskState.CANCELLED

TASKS: tuple[NormalisedTask, ...] = (
    # -- STC, department -------------------------------------------------------------------
    task(1, "STC", "2022-01-10", "2022-01-30", completed="2022-02-07"),  # Tết roll-forward
    task(2, "STC", "2022-01-12", "2022-02-15", completed="2022-02-18"),  # 3 days late
    task(3, "STC", "2022-02-08", "2022-03-15", completed=at(d("2022-03-15"), 23, 30)),
    task(
        4,
        "STC",
        "2022-03-01",
        completed="2022-04-20",
        text="Sở Tài chính tham mưu, báo cáo UBND tỉnh trước ngày 15/4/2022.",
    ),
    task(5, "STC", "2022-03-10", "2022-04-10", confirmed=False),  # eff 12/04, 48 days
    task(6, "STC", "2022-03-20", "2022-06-30"),
    task(7, "STC", "2022-04-05", "2022-05-20"),  # 10 days overdue, April
    task(8, "STC", "2022-02-10", "2022-03-10", state=C),
    task(32, "STC", None, confirmed=False),  # no date at all
    task(34, "STC", "2022-02-01", "2022-03-01", completed="2022-06-05"),  # done after as-of
    # -- SXD, department ----------------------------------------------------------------------
    task(
        9,
        "SXD",
        "2022-01-05",
        confirmed=False,
        last_report="2022-02-01",
        text="Thường xuyên theo dõi, kịp thời báo cáo.",
    ),
    task(10, "SXD", "2022-03-15", text="Sở Xây dựng hoàn thành trong quý II/2022."),
    task(
        11,
        "SXD",
        "2022-02-14",
        "2022-03-31",
        completed="2022-04-04",
        changes=change("2022-03-15", "2022-03-31", "2022-03-10"),
    ),
    task(
        12,
        "SXD",
        "2022-03-03",
        "2022-04-29",
        changes=change("2022-04-15", "2022-04-29", "2022-04-10"),
    ),
    task(13, "SXD", "2022-03-25", "2022-04-30", confirmed=False),  # eff 04/05, 26 days
    task(33, "SXD", "2022-06-02", "2022-06-30"),  # assigned after the as-of date
    # -- QUYNHON, district ------------------------------------------------------------------
    task(14, "QUYNHON", "2022-01-20", "2022-02-28", completed="2022-02-25"),
    task(15, "QUYNHON", "2022-02-21", "2022-03-31", completed="2022-03-31"),
    task(
        16,
        "QUYNHON",
        "2022-03-07",
        completed="2022-03-30",
        text="Báo cáo kết quả trước ngày 25 tháng 3 năm 2022.",
    ),
    task(17, "QUYNHON", "2022-03-28", "2022-05-27"),  # 3 days overdue
    task(18, "QUYNHON", "2021-11-15", "2021-12-31"),  # 150 days overdue, assigned 2021
    task(19, "QUYNHON", "2022-04-20", "2022-06-15", completed="2022-05-10"),
    # -- TAYSON, district ---------------------------------------------------------------------
    task(20, "TAYSON", "2022-01-25", "2022-02-10", completed="2022-03-15"),  # 33 days late
    task(21, "TAYSON", "2022-02-15", confirmed=False, last_report="2022-05-01"),
    task(22, "TAYSON", "2022-03-31", "2022-06-10", assigned_at=at(d("2022-03-31"), 5)),
    task(23, "TAYSON", "2022-04-01", "2022-05-31", assigned_at=at(d("2022-04-01"), 6)),
    task(24, "TAYSON", "2022-03-02", state=C),
    # -- CTHADS, central --------------------------------------------------------------------
    task(25, "CTHADS", "2022-02-22", "2022-03-20", completed="2022-03-21"),  # Sun → Mon
    task(26, "CTHADS", "2022-01-04", text="Định kỳ hằng quý báo cáo UBND tỉnh kết quả thực hiện."),
    task(27, "CTHADS", "2022-03-16", "2022-03-25", completed="2022-03-28", confirmed=False),
    # -- VPUBND, office -----------------------------------------------------------------------
    task(28, "VPUBND", "2022-03-08", "2022-03-18", completed="2022-03-17"),
    task(29, "VPUBND", "2022-02-28", "2022-04-08"),  # 52 days overdue
    # -- XYZ, not in the unit table -----------------------------------------------------------
    task(30, "XYZ", "2022-03-09"),
    task(31, "XYZ", "2022-04-25", completed="2022-05-05"),
)

S = StatusCode
INTENDED: dict[int, tuple[StatusCode, int]] = {
    # id: (status as of 30/05/2022, days overdue or late)
    1: (S.HT_DUNG_HAN, 0),
    2: (S.HT_QUA_HAN, 3),
    3: (S.HT_DUNG_HAN, 0),
    4: (S.HT_KHONG_HAN, 0),
    5: (S.DTH_QUA_HAN, 48),
    6: (S.DTH_TRONG_HAN, 0),
    7: (S.DTH_QUA_HAN, 10),
    8: (S.DA_HUY, 0),
    9: (S.KHONG_THOI_HAN, 0),
    10: (S.KHONG_THOI_HAN, 0),
    11: (S.HT_QUA_HAN, 4),
    12: (S.DTH_QUA_HAN, 31),
    13: (S.DTH_QUA_HAN, 26),
    14: (S.HT_DUNG_HAN, 0),
    15: (S.HT_DUNG_HAN, 0),
    16: (S.HT_KHONG_HAN, 0),
    17: (S.DTH_QUA_HAN, 3),
    18: (S.DTH_QUA_HAN, 150),
    19: (S.HT_DUNG_HAN, 0),
    20: (S.HT_QUA_HAN, 33),
    21: (S.KHONG_THOI_HAN, 0),
    22: (S.DTH_TRONG_HAN, 0),
    23: (S.DTH_TRONG_HAN, 0),
    24: (S.DA_HUY, 0),
    25: (S.HT_DUNG_HAN, 0),
    26: (S.KHONG_THOI_HAN, 0),
    27: (S.HT_QUA_HAN, 3),
    28: (S.HT_DUNG_HAN, 0),
    29: (S.DTH_QUA_HAN, 52),
    30: (S.KHONG_THOI_HAN, 0),
    31: (S.HT_KHONG_HAN, 0),
    32: (S.KHONG_THOI_HAN, 0),
    33: (S.DTH_TRONG_HAN, 0),
    34: (S.DTH_QUA_HAN, 90),
}
OVER_30 = {5, 12, 18, 29, 34}
STALE = {9, 26}
UNCONFIRMED = {5, 9, 13, 21, 27, 32}


@cache
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def items(tasks: tuple[NormalisedTask, ...] = TASKS, as_of: date = AS_OF) -> Iterator[Judgement]:
    """The world, judged as of `as_of`, as `build_report` takes it (a one-shot iterator)."""
    for t in tasks:
        yield judge(t, classify(t, as_of, calendar()), calendar(), DEFAULT_POLICY)
