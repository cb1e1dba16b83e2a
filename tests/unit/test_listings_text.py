"""The inspection commands' tables (`connector.views.text`): column headers, the terminal's
language, times in Vietnam time, and no "0x attempts" for rows that never failed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from rich.console import Console, RenderableType

from connector.ledger.lines import TaskLine
from connector.ledger.outbox import OutboxEntry
from connector.ledger.quarantine import QuarantineEntry
from connector.ledger.runs import RunSummary
from connector.views.listings import AlertPreview, OutboxListing
from connector.views.text import (
    alerts_text,
    local_time,
    outbox_text,
    quarantine_text,
    runs_text,
    seconds_text,
    tasks_table,
)

T0 = datetime(2022, 3, 7, 2, 30, tzinfo=UTC)  # 09:30 in Vietnam


def shown(renderable: RenderableType) -> str:
    console = Console(width=220, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def entry(row_id: int, state: str, attempts: int = 0, error: str = "") -> OutboxEntry:
    return OutboxEntry(
        id=row_id,
        idempotency_key=f"trk:{row_id}:DTH_QUA_HAN:2022-03-14",
        kind="tracking",
        task_id=row_id,
        alert_type="",
        occasion="",
        payload_json="{}",
        state=state,
        attempts=attempts,
        next_attempt_at=None,
        last_error=error,
        created_run="r1",
        created_at=T0,
        sending_at=None,
        sent_at=T0 if state == "sent" else None,
        response_id="",
        superseded_by=None,
        in_doubt_since=None,
    )


def run(outcome: str) -> RunSummary:
    return RunSummary(
        run_id="9f1c2d3e4a5b",
        command="sync",
        trigger="manual",
        started_at=T0,
        ended_at=T0,
        outcome=outcome,
        counts={"fetched": 200},
        error="",
        dry_run=False,
    )


def test_local_time_is_vietnam_time() -> None:
    """An instant is shown in Asia/Ho_Chi_Minh (UTC+7), dd/mm/yyyy in Vietnamese."""
    assert local_time(T0, "vi") == "07/03/2022 09:30:00"
    assert local_time(T0, "en") == "2022-03-07 09:30:00"
    assert local_time(None) == "-"


def test_outbox_list_has_headers_words_and_no_zero_attempts() -> None:
    """`outbox list` has a header row, states in words in the chosen language, Vietnam time, and
    a row that never failed shows no attempt count ("0x" is gone)."""
    listing = OutboxListing(
        [entry(1, "sent"), entry(2, "failed", 2, "HTTP 503"), entry(3, "past")], total=3
    )
    en = shown(outbox_text(listing, "en"))
    for header in ("ID", "State", "Failed attempts", "When (ICT)", "Key", "Last error"):
        assert header in en
    assert "failed (to retry)" in en and "past (not sent)" in en and "HTTP 503" in en
    assert "2022-03-07 09:30:00" in en and "0x" not in en
    sent_line = next(line for line in en.splitlines() if "#1" in line)
    assert " 0 " not in sent_line
    vi = shown(outbox_text(listing, "vi"))
    assert "Tình trạng" in vi and "đã gửi" in vi and "07/03/2022 09:30:00" in vi


def test_runs_list_has_headers_and_outcomes_in_words() -> None:
    """`runs list` has a header row, the start in Vietnam time and the outcome in words."""
    en = shown(runs_text([run("source_unavailable")], "en"))
    for header in ("Started (ICT)", "Run", "Command", "Trigger", "Outcome", "Duration"):
        assert header in en
    assert "source unavailable" in en and "2022-03-07 09:30:00" in en
    vi = shown(runs_text([run("success")], "vi"))
    assert "Bắt đầu (giờ Việt Nam)" in vi and "thành công" in vi


def test_runs_list_writes_seconds_with_the_language_s_decimal_mark() -> None:
    """A run's duration has a decimal comma in Vietnamese (as the reports write numbers) and a
    point in English."""
    took = replace(run("success"), ended_at=T0 + timedelta(seconds=12.5))
    assert "12,5 s" in shown(runs_text([took], "vi"))
    assert "12.5 s" in shown(runs_text([took], "en"))
    assert (seconds_text(1.25, "vi"), seconds_text(0.04, "en"), seconds_text(None)) == (
        "1,2",
        "0.0",
        "-",
    )


def test_quarantine_list_follows_the_language() -> None:
    """`quarantine list` is a table in the chosen language."""
    q = QuarantineEntry(
        id=1,
        record_key="task:7",
        task_id=7,
        field="deadline",
        bad_value="31/02/2022",
        reason="not a date",
        raw_json="{}",
        first_seen_at=T0,
        last_seen_at=T0,
        first_run="r1",
        last_run="r2",
        attempts=2,
        resolved_at=None,
        resolved_run="",
    )
    assert "seen 2x" in shown(quarantine_text([q], "en"))
    vi = shown(quarantine_text([q], "vi"))
    assert "Bản ghi" in vi and "gặp 2 lần" in vi


def test_runs_list_reads_whole_at_80_columns() -> None:
    """At 80 columns `runs list` keeps each cell whole (the run id, the start, every count:
    they were folded into 11-column cells, ``c9c63d883`` / ``4ab``) and every line fits; the
    counts go under the table, each run's on its own line."""
    many = RunSummary(
        run_id="c9c63d8834ab",
        command="sync",
        trigger="demo",
        started_at=T0,
        ended_at=T0,
        outcome="success",
        counts={
            "fetched": 2000,
            "inserted": 2000,
            "updated": 0,
            "quarantined": 0,
            "alerts_sent": 321,
            "pushes_sent": 1952,
        },
        error="",
        dry_run=False,
    )
    for lang in ("vi", "en"):
        console = Console(width=80, record=True, color_system=None)
        console.print(runs_text([many], lang))
        lines = console.export_text().splitlines()
        assert max(len(line.rstrip()) for line in lines) <= 80
        day, hour = local_time(T0, lang).split()  # the start may wrap between the two
        for whole in (
            "c9c63d8834ab",
            day,
            hour,
            "alerts_sent=321",
            "fetched=2000",
            "pushes_sent=1952",
            "quarantined=0",
        ):
            assert any(whole in line for line in lines), (whole, "\n".join(lines))


def test_runs_of_several_sources_name_their_source() -> None:
    """`runs list` names each run's source when the runs are of several sources (a merged
    province's ledger: which system did a failed run read?), and adds no column for one."""
    from dataclasses import replace

    gialai = replace(run("success"), run_id="a1", source="gia-lai")
    binhdinh = replace(run("failed"), run_id="b2", source="binh-dinh")

    def shown(runs: list[RunSummary]) -> str:
        console = Console(width=160, record=True, color_system=None)
        console.print(runs_text(runs, "en"))
        return console.export_text()

    both = shown([gialai, binhdinh]).splitlines()
    assert any("Run / source" in line for line in both), both
    for run_id, source in (("a1", "gia-lai"), ("b2", "binh-dinh")):  # the source under the id
        at = next(i for i, line in enumerate(both) if f"│ {run_id} " in line)
        assert f"│ {source} " in both[at + 1], both
    one = shown([gialai, replace(gialai, run_id="a2")])
    assert "source" not in one and "gia-lai" not in one


def task_line(task_id: int, subject: str, status: str, days: int | None) -> TaskLine:
    return TaskLine(
        source_id=task_id,
        sign_number="7064/TB-UBND",
        subject=subject,
        lead_unit_code="SNNPTNT",
        state="open",
        status_code=status,
        deadline=date(2026, 5, 27),
        eff_due=date(2026, 5, 27),
        days_overdue=days,
        due_soon=False,
        confirmed=True,
        deleted_at_source=False,
    )


LONG_SUBJECT = (
    "Kết luận của Chủ tịch UBND tỉnh tại cuộc họp về giải quyết kiến nghị của cử tri "
    "trước kỳ họp thứ mười của Hội đồng nhân dân tỉnh"
)


@pytest.mark.parametrize("width", [80, 110, 160])
def test_tasks_list_keeps_codes_numbers_and_dates_whole(width: int) -> None:
    """`tasks list` at 80, 110 and 160 columns: every line fits, the id, number, unit, status
    code and deadline are never cut (at 80 columns they were folded: "2026-05-2" / "7",
    "(HT_QUA_" / "HAN)"), and a subject cut at 80 characters ends with "…"."""
    rows = [
        task_line(210021, LONG_SUBJECT, "DTH_QUA_HAN", 188),
        task_line(210024, "V/v rà soát", "KHONG_THOI_HAN", None),
    ]
    for lang in ("vi", "en"):
        console = Console(width=width, record=True, color_system=None)
        console.print(tasks_table(rows, lang))
        lines = console.export_text().splitlines()
        assert max(len(line.rstrip()) for line in lines) <= width
        for whole in (
            "210021",
            "7064/TB-UBND",
            "SNNPTNT",
            "(DTH_QUA_HAN)",
            "(KHONG_THOI_HAN)",
            "2026-05-27",
            "188",
        ):
            assert any(whole in line for line in lines), (whole, "\n".join(lines))
        text = " ".join(line.strip(" │") for line in lines)
        assert "…" in text and "kỳ họp thứ mười" not in text


def test_outbox_list_keeps_keys_whole_at_80_columns() -> None:
    """At 80 columns `outbox list` prints each row's key whole on a line of its own, with its
    state, time, failed attempts and last error (the table cut a key in three)."""
    failed = entry(12, "failed", attempts=3, error="HTTP 503 from the source")
    listing = OutboxListing(rows=[entry(8, "sent"), failed], total=2)
    for lang in ("vi", "en"):
        console = Console(width=80, record=True, color_system=None)
        console.print(outbox_text(listing, lang))
        lines = [line.rstrip() for line in console.export_text().splitlines()]
        assert max(len(line) for line in lines) <= 80
        for whole in (
            "trk:8:DTH_QUA_HAN:2022-03-14",
            "trk:12:DTH_QUA_HAN:2022-03-14",
            "HTTP 503 from the source",
            local_time(T0, lang),
            "#12",
        ):
            assert any(whole in line for line in lines), (whole, "\n".join(lines))
        assert any(line.endswith(": 3") for line in lines)


def test_quarantine_list_keeps_keys_and_fields_whole_at_80_columns() -> None:
    """At 80 columns `quarantine list` prints each record's key and field whole, its reason
    under them (the 4-column table folded "sha256:52f8…" over three lines and the reason over
    ten)."""
    q = QuarantineEntry(
        id=1,
        record_key="sha256:52f886325d9304c5d566ddba34bf5c68",
        task_id=None,
        field="completed_at (source 'completeDateStr')",
        bad_value="2026-02-30T17:00:00+00:00",
        reason="task 210100: field completed_at: '2026-02-30T17:00:00+00:00' is not a valid "
        "ISO-8601 instant with a UTC offset (like '2022-04-12T17:00:00+00:00')",
        raw_json="{}",
        first_seen_at=T0,
        last_seen_at=T0,
        first_run="r1",
        last_run="r1",
        attempts=1,
        resolved_at=None,
        resolved_run="",
    )
    for lang in ("vi", "en"):
        console = Console(width=80, record=True, color_system=None)
        console.print(quarantine_text([q], lang))
        lines = [line.rstrip() for line in console.export_text().splitlines()]
        assert max(len(line) for line in lines) <= 80
        for whole in (q.record_key, q.field, "'2026-02-30T17:00:00+00:00'"):
            assert any(whole in line for line in lines), (whole, "\n".join(lines))


@pytest.mark.parametrize(
    ("lang", "header"),
    [
        pytest.param("vi", "0 cảnh báo tính đến ngày 11/02/2027", id="vi-dd-mm-yyyy"),
        pytest.param("en", "0 alert(s) as of 2027-02-11", id="en-iso"),
    ],
)
def test_alerts_preview_header_writes_the_date_as_the_language_does(lang: str, header: str) -> None:
    """`alerts preview`'s header gives its date as the other tables do: dd/mm/yyyy in
    Vietnamese (it printed 2027-02-11 inside the Vietnamese sentence), ISO in English."""
    preview = AlertPreview(as_of=date(2027, 2, 11), alerts=[])
    assert alerts_text(preview, lang).splitlines() == [header]


def test_run_summary_seconds_waited_take_the_languages_decimal_mark() -> None:
    """The summary of sync/pull/push writes the seconds waited as the other tables write
    seconds: a decimal comma in Vietnamese, a dot in English (it printed ``1.84`` in both)."""
    from connector.ledger.runs import RunOutcome
    from connector.ops.jobs import JobResult
    from connector.outbox.delivery import PushResult
    from connector.views.text import job_text

    result = JobResult("r1", "push", RunOutcome.SUCCESS, push=PushResult(waited_s=1.84))
    vi = [line.split() for line in job_text(result).splitlines() if "giây chờ" in line]
    en = [line.split() for line in job_text(result, "en").splitlines() if "seconds waited" in line]
    assert vi == [["giây", "chờ", "1,8"]] and en == [["seconds", "waited", "1.8"]]


def test_run_summary_of_a_snapshot_pull_says_what_made_it_problems() -> None:
    """The text summary of a sync of a snapshot source (iDesk 6) gives its detail calls, the
    documents whose detail failed (what makes the outcome "problems", exit 1), those skipped as
    no assignment and those that left the list; it gave none, so a run with problems and 0
    quarantined said nothing of why. A contract pull shows no such rows."""
    from connector.ledger.runs import RunOutcome
    from connector.ops.jobs import JobResult
    from connector.source.pull import PullResult
    from connector.views.text import job_text

    pull = PullResult(run_id="r1")
    pull.detail_calls, pull.detail_failed, pull.list_changed, pull.list_unchanged = 9, 2, 9, 0
    pull.skipped_not_assignment, pull.left_list = 1, 3
    result = JobResult("r1", "sync", RunOutcome.PROBLEMS, pull=pull)
    vi = {" ".join(line.split()[:-1]): line.split()[-1] for line in job_text(result).splitlines()}
    en = {
        " ".join(line.split()[:-1]): line.split()[-1]
        for line in job_text(result, "en").splitlines()
    }
    assert vi["đọc chi tiết lỗi"] == "2" and en["detail failed"] == "2"
    assert vi["lần đọc chi tiết"] == "9" and en["detail calls"] == "9"
    assert vi["bỏ qua (không phải nhiệm vụ)"] == "1" and en["skipped (not an assignment)"] == "1"
    assert vi["rời danh sách"] == "3" and en["left the list"] == "3"
    plain = job_text(
        JobResult("r2", "sync", RunOutcome.SUCCESS, pull=PullResult(run_id="r2")), "en"
    )
    assert "detail calls" not in plain and "left the list" not in plain
