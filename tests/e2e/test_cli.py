"""The CLI as the README documents it: commands, `--format json` shapes and exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog
from typer.testing import CliRunner

from cli import app
from simulator import Faults, Simulator, SimulatorConfig
from tests.support.documents import docx_text

TODAY = date(2022, 3, 7)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A simulator (with 1% malformed records) and a config file pointing at it."""
    home = tmp_path_factory.mktemp("cli")
    config = SimulatorConfig(
        tasks=150, seed=5, today=TODAY, malformed_rate=0.02, faults=Faults.none()
    )
    with Simulator(config) as sim:
        cfg = home / "config.toml"
        cfg.write_text(
            f'[source]\nbase_url = "{sim.base_url}"\n'
            f'[ledger]\nurl = "sqlite:///{home / "ledger.db"}"\n'
            "[push]\nrate_per_second = 500.0\n",
            encoding="utf-8",
        )
        cfg.chmod(0o600)
        env = {
            "IDESK_CONNECTOR_CONFIG": str(cfg),
            "IDESK_CONNECTOR__SOURCE__PASSWORD": sim.credentials.password,
        }
        yield {"sim": sim, "env": env, "home": home}
        structlog.reset_defaults()  # the CLI logged to CliRunner's (now closed) stream


def run(dep: dict[str, Any], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--log-format", "json", *args], env=dep["env"])
    return result.exit_code, result.stdout


def as_json(dep: dict[str, Any], *args: str) -> Any:
    code, out = run(dep, *args, "--format", "json")
    assert code in (0, 1), out
    return json.loads(out)


def test_sync_then_every_inspection_command(deployment: dict[str, Any]) -> None:
    """sync exits 1 (quarantined records), then each listing answers in its documented shape."""
    sim: Simulator = deployment["sim"]
    code, out = run(deployment, "sync", "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["outcome"] == "problems"
    assert set(data) == {
        "run_id",
        "command",
        "outcome",
        "dry_run",
        "counts",
        "cursor_before",
        "cursor_after",
        "would_deliver",
    }
    assert data["counts"]["quarantined"] == len(sim.world.malformed)

    tasks = as_json(deployment, "tasks", "list", "--limit", "0")
    assert tasks["count"] == len(tasks["tasks"]) > 0
    assert set(tasks["tasks"][0]) == {
        "id",
        "sign_number",
        "subject",
        "lead_unit",
        "state",
        "status",
        "deadline",
        "eff_due",
        "days_overdue",
        "due_soon",
        "confirmed",
        "deleted_at_source",
    }
    first = tasks["tasks"][0]["id"]
    shown = as_json(deployment, "tasks", "show", str(first))
    assert shown["id"] == first and shown["classification"]["status"]
    assert set(shown["classification"]["flags"]) == {
        "due_soon",
        "overdue_over_30",
        "stale_no_deadline",
        "unconfirmed",
        "extended",
        "extended_after_overdue",
    }
    quarantine = as_json(deployment, "quarantine", "list")
    assert quarantine["count"] == len(sim.world.malformed)
    assert all(r["field"] and r["reason"] for r in quarantine["records"])
    outbox = as_json(deployment, "outbox", "list", "--state", "sent")
    assert outbox["count"] == len(sim.tracking_writes) + len(sim.notifications)
    runs = as_json(deployment, "runs", "list")
    assert runs["runs"][0]["outcome"] == "problems"
    status = as_json(deployment, "status")
    assert status["schema_version"] == 1
    report = as_json(deployment, "report", "--as-of", "2026-01-01")
    assert report["schema_version"] == 1
    calendar = as_json(deployment, "calendar", "2022-01-31..2022-02-06")
    assert [d["date"] for d in calendar["days"]][:5] == [
        "2022-01-31",
        "2022-02-01",
        "2022-02-02",
        "2022-02-03",
        "2022-02-04",
    ]


def test_listings_follow_lang_and_ui_lang(deployment: dict[str, Any]) -> None:
    """tasks, quarantine, outbox, runs, status and calendar print in `ui.lang` (default
    Vietnamese), `--lang` overriding it; outbox and runs lists have column headers."""
    run(deployment, "pull")
    env_en = {**deployment["env"], "IDESK_CONNECTOR__UI__LANG": "en", "COLUMNS": "220"}

    def text(env: dict[str, str], *args: str) -> str:
        result = CliRunner().invoke(app, ["--log-format", "json", *args], env=env)
        assert result.exit_code == 0, result.stdout
        return result.stdout

    vi_env = {**deployment["env"], "COLUMNS": "220"}
    assert "nhiệm vụ" in text(vi_env, "tasks", "list", "--limit", "3")
    assert "task(s)" in text(env_en, "tasks", "list", "--limit", "3")
    assert "nhiệm vụ" in text(env_en, "tasks", "list", "--limit", "3", "--lang", "vi")
    assert "quarantined record(s)" in text(env_en, "quarantine", "list")
    outbox = text(env_en, "outbox", "list", "--limit", "3")
    assert "State" in outbox and "When (ICT)" in outbox
    assert "Tình trạng" in text(vi_env, "outbox", "list", "--limit", "3")
    runs = text(vi_env, "runs", "list", "--lang", "en")
    assert "Started (ICT)" in runs and "Outcome" in runs
    # status and calendar follow ui.lang too (they printed Vietnamese whatever ui.lang said)
    assert "iDesk connector status" in text(env_en, "status")
    assert "Tình trạng kết nối iDesk" in text(env_en, "status", "--lang", "vi")
    assert "Tình trạng kết nối iDesk" in text(vi_env, "status")
    assert "Days off and swapped" in text(env_en, "calendar", "2022-01-01..2022-01-31")
    assert "Lịch ngày nghỉ" in text(vi_env, "calendar", "2022-01-01..2022-01-31")


def test_report_as_of_before_the_first_sync_says_so(deployment: dict[str, Any]) -> None:
    """report --as-of a day before the ledger's first data says (on stderr) that it knew
    nothing then and the figures are 0; as of today no such note."""
    from connector.clock import SystemClock, local_today

    run(deployment, "pull")

    def report(day: str, *more: str) -> Any:
        args = ["--log-format", "json", "report", "--as-of", day, "--format", "json", *more]
        return CliRunner().invoke(app, args, env=deployment["env"])

    before = report("2022-03-07", "--lang", "en")
    assert before.exit_code == 0
    assert "before the ledger's first data" in before.stderr
    assert json.loads(before.stdout)["total"]["total"] == 0
    today = report(local_today(SystemClock()).isoformat())
    assert today.exit_code == 0 and "first data" not in today.stderr
    assert "dữ liệu đầu tiên" not in today.stderr and "sau ngày hôm nay" not in today.stderr
    # In the report's language, Vietnamese by default (the note was English whatever --lang).
    vietnamese = report("2022-03-07")
    assert "trước dữ liệu đầu tiên" in vietnamese.stderr
    assert "first data" not in vietnamese.stderr


def test_report_as_of_a_future_day_says_it_is_a_projection(deployment: dict[str, Any]) -> None:
    """report --as-of a day after today judges the tasks the ledger holds today as of that day:
    it says so on stderr (it said nothing, and read as that day's figures), in the report's
    language; the figures are those of that day (an open task may be overdue by then)."""
    from datetime import timedelta

    from connector.clock import SystemClock, local_today

    run(deployment, "pull")
    today = local_today(SystemClock())
    later = (today + timedelta(days=400)).isoformat()

    def report(*args: str) -> Any:
        argv = ["--log-format", "json", "report", "--as-of", later, "--format", "json", *args]
        return CliRunner().invoke(app, argv, env=deployment["env"])

    english = report("--lang", "en")
    assert english.exit_code == 0
    assert f"--as-of {later} is after today ({today.isoformat()})" in english.stderr
    assert "projection" in english.stderr
    assert json.loads(english.stdout)["as_of"] == later
    vietnamese = report()
    assert vietnamese.exit_code == 0
    assert f"--as-of {later} là sau ngày hôm nay ({today.isoformat()})" in vietnamese.stderr
    assert "projection" not in vietnamese.stderr


def test_report_files_and_bad_options(deployment: dict[str, Any], tmp_path: Path) -> None:
    """report writes xlsx/html files; a bad --format or --status is a configuration error (2)."""
    run(deployment, "pull")
    for fmt in ("xlsx", "html", "csv", "md"):
        out = tmp_path / f"r.{fmt}"
        code, _ = run(deployment, "report", "--format", fmt, "--output", str(out))
        assert code == 0 and out.stat().st_size > 0
    assert run(deployment, "report", "--format", "pdf")[0] == 2
    assert run(deployment, "tasks", "list", "--status", "NOPE")[0] == 2
    assert run(deployment, "outbox", "list", "--state", "nope")[0] == 2


def test_report_period_basis_number_and_word_file(
    deployment: dict[str, Any], tmp_path: Path
) -> None:
    """report is cumulative by default (to-date); --period takes ranges, --basis another date;
    --number and the [report] settings reach the Word file's heading."""
    from connector.clock import SystemClock, local_today
    from connector.reports.render.common import decree_date

    today = local_today(SystemClock())
    run(deployment, "pull")
    default = as_json(deployment, "report")
    assert default["period"]["code"] == "to-date"
    assert default["period"]["end"] == today.isoformat()
    assert default["total"]["done"]["on_time"] > 0  # the cumulative report has completions
    ranged = as_json(deployment, "report", "--period", "2022-01-01..2022-03-07")
    assert ranged["period"]["kind"] == "range"
    done = as_json(deployment, "report", "--period", "2022-02", "--basis", "completed")
    assert done["period"]["basis"] == "completed"
    assert done["total"]["open"]["overdue"] == 0 and done["total"]["total"] > 0
    out = tmp_path / "bao-cao.docx"
    env = {
        **deployment["env"],
        "IDESK_CONNECTOR__REPORT__GOVERNING_BODY": "UBND TỈNH BÌNH ĐỊNH",
        "IDESK_CONNECTOR__REPORT__PLACE": "Bình Định",
    }
    result = CliRunner().invoke(
        app,
        ["report", "--format", "docx", "--number", "45", "--output", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.stdout
    assert f"đã ghi báo cáo: {out}" in result.stderr  # the confirmation follows the language
    out_en = tmp_path / "report-en.docx"
    english = CliRunner().invoke(
        app, ["report", "--format", "docx", "--output", str(out_en), "--lang", "en"], env=env
    )
    assert f"report written: {out_en}" in english.stderr
    text = docx_text(out.read_bytes())
    for line in ("UBND TỈNH BÌNH ĐỊNH", "Số: 45/BC-TCT", f"Bình Định, {decree_date(today, 'vi')}"):
        assert line in text
    assert run(deployment, "report", "--format", "docx")[0] == 2  # a Word file needs --output


def test_tasks_show_suggested_deadline_shape_and_lang(deployment: dict[str, Any]) -> None:
    """tasks show gives the suggestion with its rule, alternatives and notes; bad --lang is 2."""
    run(deployment, "pull")
    stored = {t["id"] for t in as_json(deployment, "tasks", "list", "--limit", "0")["tasks"]}
    phrases = deployment["sim"].world.phrases
    task_id = next(k for k in sorted(stored) if k in phrases and phrases[k].nominal)
    shown = as_json(deployment, "tasks", "show", str(task_id), "--lang", "en")
    assert set(shown["suggested_deadline"]) == {
        "deadline",
        "phrase",
        "recurrence",
        "recurrence_phrase",
        "kind",
        "recurrence_rule",
        "alternatives",
        "notes",
    }
    code, _ = run(deployment, "tasks", "show", str(task_id), "--lang", "fr")
    assert code == 2


def test_tasks_list_leaves_out_tasks_deleted_at_the_source_unless_asked(
    deployment: dict[str, Any],
) -> None:
    """tasks list shows the live tasks; --include-deleted adds those deleted at the source
    (withdrawn, DA_HUY, as the report counts them), marked in the JSON and in the table."""
    run(deployment, "pull")
    live = as_json(deployment, "tasks", "list", "--limit", "0")["tasks"]
    every = as_json(deployment, "tasks", "list", "--limit", "0", "--include-deleted")["tasks"]
    world = deployment["sim"].world
    stored = {t["id"] for t in every}
    deleted = {r["id"] for r in world.served(include_deleted=True) if r.get("deleted") == "Y"}
    deleted &= stored  # a malformed one is in quarantine, not in the list
    assert deleted  # the simulated world soft-deletes some tasks
    assert not {t["id"] for t in live} & deleted
    assert {t["id"] for t in every if t["deleted_at_source"]} == deleted
    assert {t["id"] for t in every} == {t["id"] for t in live} | deleted
    assert {t["status"] for t in every if t["deleted_at_source"]} == {"DA_HUY"}
    withdrawn = as_json(
        deployment, "tasks", "list", "--status", "DA_HUY", "--include-deleted", "--limit", "0"
    )["tasks"]
    report = as_json(deployment, "report")
    assert len(withdrawn) == report["cancelled"]
    code, table = run(deployment, "tasks", "list", "--include-deleted", "--limit", "0")
    assert code == 0 and table.count("đã xóa ở nguồn") == len(deleted)


def test_tasks_kind_override_is_kept_with_who_and_shown(deployment: dict[str, Any]) -> None:
    """tasks kind sets a task's kind as an administrator (kept with who, why and when, and as a
    history row), tasks show explains it; auto removes it; bad input exits 2, an unknown task 4."""
    run(deployment, "pull")
    task_id = as_json(deployment, "tasks", "list", "--limit", "1")["tasks"][0]["id"]
    before = as_json(deployment, "tasks", "show", str(task_id))["kind"]
    assert before["override"] is None and before["kind"] in {"product", "routine"}
    flipped = "routine" if before["kind"] == "product" else "product"
    code, out = run(
        deployment,
        "tasks",
        "kind",
        str(task_id),
        flipped,
        "--by",
        "Nguyễn Văn A",
        "--reason",
        "nhiệm vụ thường xuyên",
    )
    assert code == 0 and f"loại {flipped} (do Nguyễn Văn A đặt); trước đó auto" in out
    shown = as_json(deployment, "tasks", "show", str(task_id))
    assert shown["kind"]["kind"] == flipped and shown["kind"]["source"] == "override"
    assert shown["kind"]["automatic"] == before["kind"]
    assert shown["kind"]["override"]["by"] == "Nguyễn Văn A"
    assert shown["kind"]["override"]["reason"] == "nhiệm vụ thường xuyên"
    assert shown["kind"]["override"]["set_at"]
    [row] = [h for h in shown["history"] if h["field"] == "kind_override"]
    assert (row["old"], json.loads(row["new"])["kind"]) == ("", flipped)
    code, text = run(deployment, "tasks", "show", str(task_id), "--lang", "en")
    assert code == 0 and f"kind: {flipped} (set by Nguyễn Văn A" in " ".join(text.split())
    code, text = run(deployment, "tasks", "show", str(task_id))
    vi_kind = {"product": "có sản phẩm (product)", "routine": "thường xuyên (routine)"}[flipped]
    assert code == 0 and f"loại nhiệm vụ: {vi_kind}, do Nguyễn Văn A" in " ".join(text.split())
    code, _ = run(deployment, "tasks", "kind", str(task_id), "auto", "--by", "Nguyễn Văn A")
    assert code == 0
    after = as_json(deployment, "tasks", "show", str(task_id))
    assert after["kind"]["override"] is None and after["kind"]["kind"] == before["kind"]
    assert len([h for h in after["history"] if h["field"] == "kind_override"]) == 2
    assert run(deployment, "tasks", "kind", str(task_id), "san-pham", "--by", "A")[0] == 2
    assert run(deployment, "tasks", "kind", str(task_id), "routine", "--by", " ")[0] == 2
    assert run(deployment, "tasks", "kind", "99999999", "routine", "--by", "A")[0] == 4


def test_check_reports_each_step(deployment: dict[str, Any]) -> None:
    """check reaches the source, logs in, reads the clock, the units and a first page."""
    data = as_json(deployment, "check")
    assert data["ok"] is True
    assert [s["name"] for s in data["steps"]] == [
        "mapping",
        "calendar",
        "ledger",
        "reach",
        "login",
        "server_time",
        "units",
        "tasks",
    ]
    assert data["steps"][-1]["detail"].startswith("first page: ")
    code, out = run(deployment, "check")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 8, out
    assert lines[0].startswith("[đạt ] ánh xạ") and "phân trang" in lines[0]
    assert "trang đầu: " in lines[-1] and "đơn vị" in lines[-2]
    assert not any(word in out for word in ("answers", "accepted", "records", "units")), out
    code, out = run(deployment, "check", "--lang", "en")
    assert code == 0 and "first page: " in out.splitlines()[-1]


def test_wrong_password_exits_3_and_missing_password_exits_2(
    deployment: dict[str, Any],
) -> None:
    """Authentication refused is exit 3; a missing secret is a configuration error, exit 2."""
    env = dict(deployment["env"])
    env["IDESK_CONNECTOR__SOURCE__PASSWORD"] = "wrong-password"
    result = CliRunner().invoke(app, ["pull"], env=env)
    assert result.exit_code == 3
    assert "wrong-password" not in result.output
    env.pop("IDESK_CONNECTOR__SOURCE__PASSWORD")
    env["IDESK_CONNECTOR__SOURCE__PASSWORD"] = ""
    result = CliRunner().invoke(app, ["pull"], env={**env})
    assert result.exit_code in (2, 3)


def test_tasks_show_history_reads_in_date_order(deployment: dict[str, Any]) -> None:
    """`tasks show` lists a task's history in the order of the days the changes took effect (a
    first sync records the task's whole past at once, field by field, so the dates jumped
    back and forth); `--format json` keeps the ledger's order."""
    run(deployment, "pull")
    ids = [t["id"] for t in as_json(deployment, "tasks", "list", "--limit", "0")["tasks"]]
    shown = None
    for task_id in ids:
        history = as_json(deployment, "tasks", "show", str(task_id))["history"]
        days = [h["effective_on"] for h in history]
        if days != sorted(days):
            shown = task_id, history
            break
    assert shown is not None, "no task whose recorded history is out of date order"
    task_id, history = shown
    code, out = run(deployment, "tasks", "show", str(task_id), "--lang", "en")
    assert code == 0
    printed = out.split("history:", 1)[1].splitlines()
    dates = [line.split()[0] for line in printed if line.startswith("    ")]
    assert len(dates) == len(history)
    assert dates == sorted(dates)
