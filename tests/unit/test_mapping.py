"""Mapping files: loading, validation reporting every problem, source paths, normalise."""

from __future__ import annotations

import copy
import tomllib
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.errors import BadRecord, MappingError
from connector.mapping import files as paths
from connector.mapping.normalise import normalise, record_key
from connector.mapping.spec import FIELD_KINDS, MappingSpec, build_mapping, load_mapping
from connector.models import (
    REQUIRED_TASK_FIELDS,
    TASK_FIELDS,
    DeadlineChange,
    NormalisedTask,
    TaskState,
    UnitRef,
)
from connector.source.paths import MISSING, compile_path, resolve
from tests.support import ROOT

SPEC = load_mapping(ROOT / "mappings" / "idesk.toml")


def raw_idesk() -> dict[str, Any]:
    return tomllib.loads((ROOT / "mappings" / "idesk.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def spec() -> MappingSpec:
    return load_mapping("idesk")


RECORD: dict[str, Any] = {
    "id": 123,
    "edId": 45,
    "signNumber": "1907/UBND-KSTT",
    "category": "Công văn",
    "subject": unicodedata.normalize("NFD", "Triển khai chuyển đổi số\nnăm 2022"),
    "author": "UBND tỉnh",
    "publisherCode": "H08",
    "signer": "Nguyễn Văn A",
    "position": "Chủ tịch",
    "docDate": "Apr 13, 2022, 12:00:00 AM",
    "docDateStr": "2022-04-12T17:00:00+00:00",
    "steeringType": 2,
    "steeringBy": "Chủ tịch UBND tỉnh",
    "steeringContent": "Báo cáo kết quả",
    "receiverCommCode": "STTTT",
    "receiverAname": "Sở Thông tin và Truyền thông",
    "coordinators": [{"commCode": "SNV", "aname": "Sở Nội vụ"}],
    "createDate": "Apr 13, 2022, 9:00:00 AM",
    "createDateStr": "2022-04-13T02:00:00+00:00",
    "deadline": "Apr 30, 2022, 12:00:00 AM",
    "deadlineChanges": [
        {
            "oldDeadline": "Apr 20, 2022, 12:00:00 AM",
            "newDeadline": "Apr 30, 2022, 12:00:00 AM",
            "changedDateStr": "2022-04-18T03:00:00+00:00",
            "reason": "Gia hạn",
        }
    ],
    "status": "completed",
    "completeDate": "Apr 29, 2022, 3:00:00 PM",
    "completeDateStr": "2022-04-29T08:00:00+00:00",
    "priority": 1,
    "progress": 100,
    "lastReportDateStr": "2022-04-28T08:00:00+00:00",
    "confirmed": "Y",
    "confirmedDateStr": "2022-04-29T09:00:00+00:00",
    "trackingStatus": "",
    "lastModify": "Apr 29, 2022, 4:00:00 PM",
    "lastModifyStr": "2022-04-29T09:00:00+00:00",
    "deleted": "N",
    "security": 0,
    "exchangeKey": "6a5f",
}


# -- loading ----------------------------------------------------------------------------------------


def test_shipped_mappings_load() -> None:
    """Both shipped mappings validate; every rule names a ledger field."""
    for name in ("idesk", "idesk6"):
        spec = load_mapping(name)
        assert spec.name == name
        assert set(spec.rules) <= set(TASK_FIELDS)
        assert set(REQUIRED_TASK_FIELDS) <= set(spec.rules)


def test_contract_mapping_has_a_rule_for_every_field(spec: MappingSpec) -> None:
    """The contract mapping fills every ledger field."""
    assert set(spec.rules) == set(TASK_FIELDS)


def test_every_ledger_field_has_a_kind() -> None:
    """Each NormalisedTask field maps to a converter kind (else no mapping could fill it)."""
    assert set(FIELD_KINDS) == set(TASK_FIELDS)


def test_load_by_path_and_env_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A path loads as given; a bare name resolves in $IDESK_CONNECTOR_MAPPINGS_DIR."""
    copy_path = tmp_path / "mine.toml"
    copy_path.write_text(
        (ROOT / "mappings" / "idesk.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert load_mapping(copy_path).name == "idesk"
    assert load_mapping(str(copy_path)).name == "idesk"
    monkeypatch.setenv(paths.ENV_MAPPINGS_DIR, str(tmp_path))
    assert paths.mappings_dir() == tmp_path
    assert load_mapping("mine").file.endswith("mine.toml")


def test_mappings_dir_fallbacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the env var: the checkout's mappings/, else sys.prefix/share/idesk-connector."""
    monkeypatch.delenv(paths.ENV_MAPPINGS_DIR, raising=False)
    assert paths.mappings_dir() == ROOT / "mappings"
    monkeypatch.setattr(paths, "_PACKAGE_DIR", tmp_path / "site-packages" / "connector")
    monkeypatch.setattr(paths.sys, "prefix", str(tmp_path / "venv"))
    assert paths.mappings_dir() == tmp_path / "venv" / "share" / "idesk-connector" / "mappings"


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    """A missing file or broken TOML is a MappingError naming the file."""
    with pytest.raises(MappingError, match="not found"):
        load_mapping(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(bad)


# -- validation -------------------------------------------------------------------------------------


def problems_of(data: dict[str, Any]) -> dict[str, str]:
    """Where -> message(s) of the one MappingError raised (several messages joined by ' | ')."""
    with pytest.raises(MappingError) as caught:
        build_mapping(data, file="mappings/x.toml")
    found: dict[str, str] = {}
    for problem in caught.value.problems:
        found[problem.where] = " | ".join(filter(None, [found.get(problem.where), problem.message]))
    assert str(caught.value).count("mappings/x.toml: ") == len(caught.value.problems)
    return found


def test_all_problems_are_reported_together() -> None:
    """One MappingError lists every problem, each with file and key, valid names included."""
    data = raw_idesk()
    data["fields"]["deadline"]["converter"] = "en_us_dat"
    data["fields"]["subject"]["converter"] = "en_us_date"
    data["fields"]["progress"]["options"] = {"min": 0, "maximum": 100}
    data["fields"]["doc_date"]["source"] = "docDate[abc"
    data["fields"]["colour"] = {"source": "colour", "converter": "text"}
    data["fields"]["sign_number"]["default"] = {"not": "text"}
    del data["fields"]["state"]
    data["pagination"]["style"] = "scroll"
    data["auth"]["modes"] = ["session", "oauth"]
    data["status"]["archived"] = "closed"
    data["endpoints"]["exports"] = {"path": "/x"}
    data["endpoints"]["view"]["query"] = {"id": "{task}"}
    data["extra"] = 1
    found = problems_of(data)
    pre = "mappings/x.toml: "
    assert (
        "valid: deadline_changes, dmy_date, dmy_instant, en_us_date"
        in found[pre + "fields.deadline.converter"]
    )
    assert (
        "gives date but subject needs text; valid for subject: text"
        in found[pre + "fields.subject.converter"]
    )
    assert (
        "unknown option for 'int'; valid: clamp, max, min"
        in found[pre + "fields.progress.options.maximum"]
    )
    assert "docDate[abc" in found[pre + "fields.doc_date.source"]
    assert "unknown field 'colour'; valid: assigned_at" in found[pre + "fields.colour"]
    assert "is not text" in found[pre + "fields.sign_number.default"]
    assert "required field 'state'" in found[pre + "fields.state"]
    assert "valid: cursor, link, offset, page" in found[pre + "pagination.style"]
    assert (
        "unknown auth mode 'oauth'; valid: headers, oauth2, session, token"
        in found[pre + "auth.modes"]
    )
    assert "valid: cancelled, done, open" in found[pre + "status.archived"]
    assert "unknown endpoint 'exports'; valid: detail, login" in found[pre + "endpoints.exports"]
    assert (
        "unknown placeholder {task}; valid here: account_code, id" in found[pre + "endpoints.view"]
    )
    assert "unknown section" in found[pre + "extra"]
    assert len(found) >= 12


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        pytest.param(
            lambda d: d["endpoints"].pop("search"),
            "endpoints.search",
            "is required",
            id="no-search",
        ),
        pytest.param(
            lambda d: d["endpoints"].pop("login"),
            "endpoints.login",
            "when auth.modes includes 'session'",
            id="no-login",
        ),
        pytest.param(
            lambda d: d["endpoints"]["search"]["body"].pop("start"),
            "endpoints.search",
            "needs {offset}",
            id="offset-needs-offset",
        ),
        pytest.param(
            lambda d: d["endpoints"]["search"]["body"].pop("modifiedFrom"),
            "pagination.keyset",
            "needs {modified_from}",
            id="keyset-needs-filter",
        ),
        pytest.param(
            lambda d: d["pagination"].update(style="page"),
            "pagination.keyset",
            "offset' style only",
            id="keyset-offset-only",
        ),
        pytest.param(
            lambda d: d["pagination"]["keyset"].update(converter="iso_date"),
            "pagination.keyset.converter",
            "not an instant converter",
            id="keyset-converter",
        ),
        pytest.param(
            lambda d: d["pagination"].update(modified_format="rfc"),
            "pagination.modified_format",
            "valid: dmy_local_date",
            id="format",
        ),
        pytest.param(
            lambda d: d["pagination"].update(style="cursor"),
            "pagination.next_path",
            "where the next token",
            id="cursor-needs-next",
        ),
        pytest.param(
            lambda d: d["endpoints"]["view"].update(total_path="t"),
            "endpoints.view.total_path",
            "no meaning for endpoint 'view'",
            id="key-meaning",
        ),
        pytest.param(
            lambda d: d["endpoints"]["view"].update(path="tasks/view"),
            "endpoints.view.path",
            "must start with '/'",
            id="relative-path",
        ),
        pytest.param(
            lambda d: d["endpoints"]["view"].update(query={}),
            "endpoints.view",
            "must use {id}",
            id="view-needs-id",
        ),
        pytest.param(
            lambda d: d["endpoints"]["view"].update(method="DELETE"),
            "endpoints.view.method",
            "Input should be",
            id="method",
        ),
        pytest.param(
            lambda d: d["fields"]["state"].update(required=False),
            "fields.state.required",
            "must always have a value",
            id="required-off",
        ),
        pytest.param(
            lambda d: d["fields"]["state"].update(options={"table": {}}),
            "fields.state.options.table",
            "comes from the [status] table",
            id="status-table-option",
        ),
        pytest.param(
            lambda d: d.update(status={}),
            "fields.state.options",
            "needs the [status] table",
            id="empty-status",
        ),
        pytest.param(
            lambda d: d["fields"]["deadline"].update(options={"tz": "Mars/Olympus"}),
            "fields.deadline.options",
            "not a known time zone",
            id="tz",
        ),
        pytest.param(
            lambda d: d["fields"]["deadline_changes"]["options"].update(date="text"),
            "fields.deadline_changes.options",
            "not a date converter",
            id="nested-converter",
        ),
        pytest.param(
            lambda d: d["fields"]["deadline"].update(colour="red"),
            "fields.deadline.colour",
            "unknown key; valid keys: converter, default",
            id="rule-key",
        ),
        pytest.param(
            lambda d: d["units"]["kinds"].update(club="club"),
            "units.kinds.club",
            "valid: central, department",
            id="unit-kind",
        ),
        pytest.param(
            lambda d: d["auth"].update(probe="nowhere"),
            "auth.probe",
            "unknown endpoint 'nowhere'",
            id="probe",
        ),
        pytest.param(
            lambda d: d["fields"]["deadline"].update(source=""),
            "fields.deadline.source",
            "must not be empty",
            id="empty-source",
        ),
    ],
)
def test_validation_cases(change: Any, where: str, message: str) -> None:
    """Each mistake is reported at its key with a message saying what is valid."""
    data = raw_idesk()
    change(data)
    found = problems_of(data)
    key = "mappings/x.toml: " + where
    assert key in found, found
    assert message in found[key]


def test_default_is_converted_at_load() -> None:
    """A rule's default is run through its converter once, at start-up."""
    data = raw_idesk()
    data["fields"]["deadline"]["default"] = "Apr 30, 2022, 12:00:00 AM"
    spec = build_mapping(data)
    record = dict(RECORD, deadline="")
    assert normalise(record, spec).deadline == date(2022, 4, 30)


# -- source paths -----------------------------------------------------------------------------------

DOC = {
    "id": 7,
    "ed": {"signNumber": "812/STC-NS", "tags": ["a", "b", "c"]},
    "proInfos": [
        {"responsibility": "coordinate", "deadline": "c1", "unit": {"code": "SNV"}},
        {"responsibility": "main", "deadline": "m", "unit": {"code": "STTTT"}, "step": 3},
        {"responsibility": "coordinate", "deadline": "c2", "unit": {"code": "STP"}},
    ],
    "@list": {"edSearchDto": {"priority": 1}},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("id", 7, id="key"),
        pytest.param("ed.signNumber", "812/STC-NS", id="nested"),
        pytest.param("ed.tags[1]", "b", id="index"),
        pytest.param("ed.tags[-1]", "c", id="negative-index"),
        pytest.param("ed.tags[9]", MISSING, id="index-out-of-range"),
        pytest.param("proInfos[responsibility=main].deadline", "m", id="first-match"),
        pytest.param("proInfos[step=3].deadline", "m", id="match-int"),
        pytest.param("proInfos[responsibility=receive].deadline", MISSING, id="no-match"),
        pytest.param(
            "proInfos[?responsibility=coordinate].unit.code", ["SNV", "STP"], id="all-matches"
        ),
        pytest.param("proInfos[?responsibility=nobody]", [], id="all-matches-none"),
        pytest.param("proInfos[*].unit.code", ["SNV", "STTTT", "STP"], id="every"),
        pytest.param("proInfos[*].step", [3], id="every-drops-missing"),
        pytest.param("@list.edSearchDto.priority", 1, id="client-key"),
        pytest.param("ed.signNumber.more", MISSING, id="into-a-string"),
        pytest.param("id[0]", MISSING, id="index-a-number"),
        pytest.param("nope", MISSING, id="missing"),
        pytest.param("", DOC, id="root"),
    ],
)
def test_resolve(path: str, expected: Any) -> None:
    """Source paths reach nested keys, indexes, the element matching a condition, or all."""
    assert resolve(DOC, path) == expected


@pytest.mark.parametrize(
    "path", ["a..b", "a[", "a[x=]]", "a[1.5]", ".a", "a.", " a", "a b", "a[~]"]
)
def test_bad_paths(path: str) -> None:
    """Unreadable paths fail at compile time with the reason."""
    with pytest.raises(ValueError, match="path"):
        compile_path(path)


# -- normalise --------------------------------------------------------------------------------------


def test_normalise_contract_record(spec: MappingSpec) -> None:
    """A contract record becomes the expected NormalisedTask (dates local, instants UTC, NFC)."""
    task = normalise(RECORD, spec)
    assert task == NormalisedTask(
        source_id=123,
        last_modified=datetime(2022, 4, 29, 9, tzinfo=UTC),
        state=TaskState.DONE,
        source_status="completed",
        ed_id=45,
        sign_number="1907/UBND-KSTT",
        category="Công văn",
        subject="Triển khai chuyển đổi số\nnăm 2022",
        author="UBND tỉnh",
        publisher_code="H08",
        signer="Nguyễn Văn A",
        position="Chủ tịch",
        doc_date=date(2022, 4, 13),
        steering_type=2,
        steering_by="Chủ tịch UBND tỉnh",
        steering_content="Báo cáo kết quả",
        lead_unit_code="STTTT",
        lead_unit_name="Sở Thông tin và Truyền thông",
        coordinators=(UnitRef("SNV", "Sở Nội vụ"),),
        assigned_at=datetime(2022, 4, 13, 2, tzinfo=UTC),
        deadline=date(2022, 4, 30),
        deadline_changes=(
            DeadlineChange(
                date(2022, 4, 20),
                date(2022, 4, 30),
                datetime(2022, 4, 18, 3, tzinfo=UTC),
                "Gia hạn",
            ),
        ),
        completed_at=datetime(2022, 4, 29, 8, tzinfo=UTC),
        priority=1,
        progress=100,
        last_report_at=datetime(2022, 4, 28, 8, tzinfo=UTC),
        confirmed=True,
        confirmed_at=datetime(2022, 4, 29, 9, tzinfo=UTC),
        tracking_status="",
        deleted=False,
    )
    assert task.subject == unicodedata.normalize("NFC", task.subject)
    assert task.extra == {}


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        pytest.param(
            {"deadline": "Feb 1, 2200, 12:00:01 AM"},
            lambda t: t.deadline is None,
            id="sentinel-no-deadline",
        ),
        pytest.param({"deadline": ""}, lambda t: t.deadline is None, id="empty-no-deadline"),
        pytest.param({"deadline": None}, lambda t: t.deadline is None, id="null-no-deadline"),
        pytest.param(
            {"completeDateStr": "", "status": "processing"},
            lambda t: t.completed_at is None and t.state is TaskState.OPEN,
            id="open",
        ),
        pytest.param(
            {"status": "retrieved"}, lambda t: t.state is TaskState.CANCELLED, id="cancelled"
        ),
        pytest.param(
            {"status": "returned"}, lambda t: t.state is TaskState.OPEN, id="returned-open"
        ),
        pytest.param({"progress": 130}, lambda t: t.progress == 100, id="progress-clamped"),
        pytest.param({"coordinators": []}, lambda t: t.coordinators == (), id="no-coordinators"),
        pytest.param({"deleted": "Y"}, lambda t: t.deleted, id="deleted"),
        pytest.param({"edId": 0}, lambda t: t.ed_id is None, id="ed-zero-none"),
        pytest.param({"subject": "  "}, lambda t: t.subject == "", id="blank-subject"),
        pytest.param({"newKey": {"deep": [1]}}, lambda t: t.extra == {}, id="unknown-key-ignored"),
        pytest.param({"id": "123"}, lambda t: t.source_id == 123, id="string-id"),
    ],
)
def test_normalise_cases(spec: MappingSpec, changes: dict[str, Any], check: Any) -> None:
    """Messy but valid values normalise as the contract says."""
    record = dict(RECORD, **changes)
    assert check(normalise(record, spec))


@pytest.mark.parametrize(
    ("changes", "field", "value", "message"),
    [
        pytest.param(
            {"deadline": "Feb 30, 2022, 12:00:00 AM"},
            "deadline (source 'deadline')",
            "'Feb 30, 2022, 12:00:00 AM'",
            "task 123: field deadline (source 'deadline'): 'Feb 30, 2022, 12:00:00 AM' is not a valid en-US date",
            id="feb-30",
        ),
        pytest.param(
            {"deadline": "31/02/2022"},
            "deadline (source 'deadline')",
            "'31/02/2022'",
            "is not a valid en-US date",
            id="dmy-in-en-us",
        ),
        pytest.param(
            {"status": "archived"},
            "state (source 'status')",
            "'archived'",
            "'archived' is not a known status (known: completed, processing, received, retrieved, returned)",
            id="unknown-status",
        ),
        pytest.param(
            {"lastModifyStr": ""},
            "last_modified (source 'lastModifyStr')",
            "",
            "has no value, and the field is required",
            id="no-last-modified",
        ),
        pytest.param(
            {"completeDateStr": "2021-02-30T17:00:00+00:00"},
            "completed_at (source 'completeDateStr')",
            "'2021-02-30T17:00:00+00:00'",
            "not a valid ISO-8601 instant",
            id="bad-instant",
        ),
        pytest.param(
            {"coordinators": [{"aname": "x"}]},
            "coordinators (source 'coordinators')",
            '[{"aname": "x"}]',
            "item 0 has no unit code",
            id="unit-without-code",
        ),
        pytest.param(
            {"priority": "x" * 500},
            "priority (source 'priority')",
            "'" + "x" * 76 + "...",
            "is not an integer",
            id="value-truncated",
        ),
    ],
)
def test_bad_records(
    spec: MappingSpec, changes: dict[str, Any], field: str, value: str, message: str
) -> None:
    """A bad value is a BadRecord naming the task, the field with its source, and the value."""
    with pytest.raises(BadRecord) as caught:
        normalise(dict(RECORD, **changes), spec)
    err = caught.value
    assert (err.task_id, err.field, err.value) == ("123", field, value)
    assert message in str(err)
    assert len(err.value) <= 80


def test_missing_id_names_the_record_key(spec: MappingSpec) -> None:
    """Without an id, the error names the record by the same key quarantine uses."""
    record = {k: v for k, v in RECORD.items() if k != "id"}
    with pytest.raises(BadRecord) as caught:
        normalise(record, spec)
    key = record_key(record, spec)
    assert key.startswith("sha256:")
    assert str(caught.value).startswith(f"record {key} (no id): field source_id (source 'id')")
    assert caught.value.task_id == ""


def test_record_key(spec: MappingSpec) -> None:
    """The key is the id when there is one, else a hash stable across key order and @-keys."""
    assert record_key(RECORD, spec) == "id:123"
    no_id = {"b": 1, "a": [1, {"c": "Sở"}]}
    same = {"a": [1, {"c": "Sở"}], "b": 1, "@fetched_at": "2022-01-01T00:00:00+00:00"}
    assert record_key(no_id, spec) == record_key(same, spec)
    assert record_key(no_id, spec) != record_key({"b": 2, "a": []}, spec)
    assert record_key({"id": True}, spec).startswith("sha256:")


def test_normalise_non_object(spec: MappingSpec) -> None:
    """A list item that is not an object is a BadRecord too."""
    with pytest.raises(BadRecord, match="not a JSON object"):
        normalise(["not", "a", "record"], spec)  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=6,
)
FIELD_KEYS = sorted(set(RECORD) | {"oldDeadline", "newDeadline", "commCode", "aname"})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELD_KEYS), json_values, max_size=10))
def test_any_dict_normalises_or_is_a_bad_record(raw: dict[str, Any]) -> None:
    """Whatever the dict, normalise returns a task or raises BadRecord, never anything else."""
    try:
        task = normalise(raw, SPEC)
    except BadRecord as err:
        assert str(err) and len(err.value) <= 80
    else:
        assert task.last_modified.tzinfo is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(sorted(RECORD)), json_values), max_size=4))
def test_mutated_valid_record_normalises_or_is_a_bad_record(changes: list[tuple[str, Any]]) -> None:
    """A valid record with random fields replaced: a task or a BadRecord naming that field."""
    record = copy.deepcopy(RECORD)
    record.update(dict(changes))
    try:
        normalise(record, SPEC)
    except BadRecord as err:
        assert err.field.split(" ")[0] in SPEC.rules


def test_idesk6_shapes_normalise() -> None:
    """The idesk6 mapping reads the observed detail shape (main step) with the list item."""
    from tests.support.dialect_server import idesk6_docs

    spec = load_mapping("idesk6")
    doc = idesk6_docs(1)[5100231]
    record = {**doc["detail"], "@list": doc["list"], "@fetched_at": "2026-07-28T02:00:00+00:00"}
    task = normalise(record, spec)
    assert (task.source_id, task.state, task.deadline) == (
        5100231,
        TaskState.OPEN,
        date(2026, 7, 31),
    )
    assert task.last_modified == datetime(2026, 7, 28, 2, tzinfo=UTC)
    assert spec.uses_fetched_at and not load_mapping("idesk").uses_fetched_at


def test_readme_documents_every_name() -> None:
    """mappings/README.md names every converter, formatter, style, endpoint and ledger field."""
    from connector.mapping.converters import FORMATTERS, REGISTRY
    from connector.mapping.spec import ENDPOINT_NAMES, PAGINATION_STYLES

    text = (ROOT / "mappings" / "README.md").read_text(encoding="utf-8")
    for name in [*REGISTRY, *FORMATTERS, *PAGINATION_STYLES, *ENDPOINT_NAMES, *TASK_FIELDS]:
        assert f"`{name}`" in text, f"{name} is not documented in mappings/README.md"


def _idesk6_record(doc_id: int = 5100231) -> dict[str, Any]:
    from tests.support.dialect_server import idesk6_docs

    doc = copy.deepcopy(idesk6_docs(1)[doc_id])
    return {**doc["detail"], "@list": doc["list"], "@fetched_at": "2026-07-28T02:00:00+00:00"}


def test_idesk6_document_fields_fall_back_to_the_list_item() -> None:
    """idesk6: author, publisher code, signer and steering type come from `ed`, else from the
    list item's edSearchDto (docs/idesk6.md), as the number and subject already did."""
    spec = load_mapping("idesk6")
    record = _idesk6_record()
    record["ed"] = {"id": record["ed"]["id"]}  # a detail whose `ed` carries only its id
    record["@list"]["edSearchDto"].update(
        author="Sở Tài chính", publisherCode="H08.05", signer="Nguyễn Văn A", steeringType=2
    )
    task = normalise(record, spec)
    assert (task.author, task.publisher_code, task.signer, task.steering_type) == (
        "Sở Tài chính",
        "H08.05",
        "Nguyễn Văn A",
        2,
    )


@pytest.mark.parametrize("status", ["processing", "tranfered", "received"])
def test_idesk6_step_with_a_completion_date_is_done(status: str) -> None:
    """idesk6: a lead step with completeDateStr is completed whatever its status says (an open
    step has no such key: docs/idesk6.md), and is judged on that date."""
    spec = load_mapping("idesk6")
    record = _idesk6_record()
    main = next(s for s in record["proInfos"] if s["responsibility"] == "main")
    main.update(status=status, completeDate="Jul 30, 2026, 9:00:00 AM")
    main["completeDateStr"] = "2026-07-30T02:00:00+00:00"
    task = normalise(record, spec)
    assert task.state is TaskState.DONE
    assert task.completed_at == datetime(2026, 7, 30, 2, tzinfo=UTC)


def test_idesk6_step_without_a_completion_date_keeps_its_status() -> None:
    """idesk6: an open step (no completeDateStr key, or an empty one) stays open, and a
    withdrawn step stays cancelled even with a completion date."""
    spec = load_mapping("idesk6")
    record = _idesk6_record()
    main = next(s for s in record["proInfos"] if s["responsibility"] == "main")
    main["status"] = "processing"
    main.pop("completeDateStr", None)
    assert normalise(record, spec).state is TaskState.OPEN
    main["completeDateStr"] = ""
    assert normalise(record, spec).state is TaskState.OPEN
    main.update(status="retrieved", completeDateStr="2026-07-30T02:00:00+00:00")
    assert normalise(record, spec).state is TaskState.CANCELLED


def test_done_when_only_on_the_state_rule() -> None:
    """`done_when` is refused, naming the key, on any field rule but `state`."""
    data = raw_idesk()
    data["fields"]["deadline"]["done_when"] = "completedDateStr"
    with pytest.raises(MappingError) as err:
        build_mapping(data, file="mappings/x.toml")
    assert "fields.deadline.done_when" in str(err.value)
    data = raw_idesk()
    data["fields"]["state"]["done_when"] = "completedDateStr"
    assert build_mapping(data).rules["state"].done_when == compile_path("completedDateStr")


@pytest.mark.parametrize(
    "sentinel",
    [
        pytest.param("Feb 1, 2200, 12:00:01\u202fAM", id="icu-narrow-no-break-space"),
        pytest.param("Feb 1, 2200, 12:00:01\u00a0AM", id="no-break-space"),
        pytest.param("Feb 1, 2200 12:00:01 AM", id="java8-no-comma"),
        pytest.param("Feb 1, 2200, 12:00:01  AM", id="two-spaces"),
    ],
)
def test_idesk6_no_deadline_sentinel_in_every_accepted_en_us_form(sentinel: str) -> None:
    """idesk6: the "no deadline" date is none in each en-US form the converter reads (ICU's
    narrow no-break space before AM, Java 8 without the comma after the year): read as a date it
    is year 2200, beyond the ledger's range, and the document would be quarantined."""
    from connector.mapping.converters import convert

    assert convert("en_us_date", sentinel) == date(2200, 2, 1)  # the converter reads each form
    spec = load_mapping("idesk6")
    record = _idesk6_record()
    main = next(s for s in record["proInfos"] if s["responsibility"] == "main")
    main["deadline"] = sentinel
    assert normalise(record, spec).deadline is None
