"""The exchange schemas: their own rules, formats that are really checked, confidentiality."""

from __future__ import annotations

import copy
import json
import socket

import pytest

from node.federation import schemas
from node.federation.envelope import MESSAGE_TYPES
from node.local_tasks.completion import LEVELS
from node.local_tasks.models import REPORTED_STATES
from tests.federation.helpers import task_status_payload

ID_PREFIX = "https://theodoi.invalid/schemas/exchange/v1/"


def walk_object_schemas(node: object, path: str = ""):  # noqa: ANN201
    """Yield (path, schema) for every subschema that lists properties.

    The if/then/else branches only add conditions to an object described
    elsewhere, so they are left out.
    """
    if isinstance(node, dict):
        if "properties" in node:
            yield path, node
        for key, value in node.items():
            if key in ("if", "then", "else", "not"):
                continue
            yield from walk_object_schemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_object_schemas(value, f"{path}/{index}")


def load(name: str) -> dict:
    return json.loads(schemas.schema_path(name).read_text(encoding="utf-8"))


def test_every_message_type_has_schema() -> None:
    names = set(schemas.schema_names())
    assert set(MESSAGE_TYPES) <= names
    assert "envelope" in names


@pytest.mark.parametrize("name", schemas.schema_names())
def test_schema_ids_and_draft(name: str) -> None:
    schema = load(name)
    assert schema["$id"] == f"{ID_PREFIX}{name}.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("name", schemas.schema_names())
def test_objects_closed_and_typed(name: str) -> None:
    for path, schema in walk_object_schemas(load(name)):
        assert schema.get("additionalProperties") is False, f"{name}{path}"
        for prop, subschema in schema["properties"].items():
            assert "type" in subschema, f"{name}{path}/properties/{prop}"


def test_registry_never_retrieves(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("schema loading opened a network connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    schemas.validator.cache_clear()
    schemas._registry.cache_clear()
    for name in MESSAGE_TYPES:
        schemas.validator(name)
    registry, _ = schemas._registry("1")
    with pytest.raises(Exception, match="example.org"):
        registry.get_or_retrieve("https://example.org/other.json")


def test_enums_match_local_model() -> None:
    common = load("common")["$defs"]
    assert common["completion_level"]["enum"] == list(LEVELS)
    assert common["reported_state"]["enum"] == list(REPORTED_STATES)


@pytest.mark.parametrize("value", ["2026-02-30", "2026-13-01", "2025-02-29", "2026-2-3",
                                   "20260228", "2026-02-28T00:00:00Z", ""])
def test_invalid_date_rejected(value: str) -> None:
    payload = {"period": {"kind": "month", "start": value, "end": "2026-03-31"},
               "published_at": "2026-04-01T00:00:00Z", "method": "Điều 20", "entries": []}
    problems = schemas.validation_problems("ranking_publication", payload)
    assert [problem.path for problem in problems] == ["period/start"]
    assert "is not a 'date'" in problems[0].message


@pytest.mark.parametrize("value", ["2024-02-29", "2026-12-31"])
def test_valid_date_accepted(value: str) -> None:
    payload = {"period": {"kind": "custom", "start": value, "end": value},
               "published_at": "2026-04-01T00:00:00Z", "method": "Điều 20", "entries": []}
    assert schemas.validation_problems("ranking_publication", payload) == []


@pytest.mark.parametrize("value", ["2026-02-30T10:00:00Z", "2026-03-01T10:00:00",
                                   "2026-03-01 10:00:00Z", "2026-03-01T25:00:00Z",
                                   "2026-03-01T10:00Z", "2026-03-01T10:00:00+7"])
def test_invalid_date_time_rejected(value: str) -> None:
    payload = task_status_payload()
    payload["updates"][0]["reported_at"] = value
    problems = schemas.validation_problems("task_status", payload)
    assert [problem.path for problem in problems] == ["updates/0/reported_at"]


def test_task_status_valid() -> None:
    assert schemas.validation_problems("task_status", task_status_payload()) == []


def test_completed_at_needs_completed_state() -> None:
    payload = task_status_payload()
    payload["updates"][0]["reported_state"] = "in_progress"
    problems = schemas.validation_problems("task_status", payload)
    assert [problem.path for problem in problems] == ["updates/0/completed_at"]
    assert "only when reported_state is completed" in problems[0].message


def test_confidential_status_without_summary() -> None:
    payload = task_status_payload(summary="Nội dung mật")
    payload["updates"][0]["confidentiality"] = "confidential"
    problems = schemas.validation_problems("task_status", payload)
    assert [problem.path for problem in problems] == ["updates/0/result_summary"]
    assert "Nội dung mật" not in problems[0].message


def directive_payload(confidentiality: str = "regular") -> dict:
    document = {"reference": "12-NQ/TW", "number": "12", "symbol": "NQ/TW",
                "kind_code": "resolution", "issued_on": "2026-01-15", "signer": "Tô Lâm",
                "issuing_body": "Bộ Chính trị", "confidentiality": confidentiality}
    task = {"task_ref": "VPTW/12-NQ/TW/1", "position": 1, "task_no": "1",
            "confidentiality": confidentiality, "deadline_on": "2026-06-30",
            "deadline_at": "2026-06-30T16:59:59Z",
            "agencies": [{"org_unit_code": "TU01", "role": "lead"}]}
    if confidentiality == "regular":
        document["summary"] = "Về phát triển kinh tế tư nhân"
        task["content"] = "Xây dựng chương trình hành động"
        task["product"] = "Chương trình hành động"
    return {"document": document, "tasks": [task], "transferred_at": "2026-01-16T02:00:00Z"}


@pytest.mark.parametrize("confidentiality", ["regular", "confidential", "top_secret"])
def test_directive_valid(confidentiality: str) -> None:
    assert schemas.validation_problems("directive", directive_payload(confidentiality)) == []


def test_confidential_directive_omits_summary_and_content() -> None:
    payload = directive_payload("confidential")
    payload["document"]["summary"] = "Tóm tắt mật"
    payload["tasks"][0]["content"] = "Nội dung mật"
    payload["tasks"][0]["product"] = "Sản phẩm mật"
    problems = schemas.validation_problems("directive", payload, prefix="payload")
    assert sorted(problem.path for problem in problems) == [
        "payload/document/summary", "payload/tasks/0/content", "payload/tasks/0/product"]
    for problem in problems:
        assert "mật" not in problem.message


def test_regular_task_of_confidential_document_omits_content() -> None:
    payload = directive_payload("confidential")
    payload["tasks"][0]["confidentiality"] = "regular"
    payload["tasks"][0]["content"] = "Nội dung"
    problems = schemas.validation_problems("directive", payload)
    assert [problem.path for problem in problems] == ["tasks/0/content"]


def test_directive_lists_every_error() -> None:
    payload = directive_payload()
    payload["document"]["issued_on"] = "2026-02-30"
    payload["document"]["extra"] = "x"
    payload["tasks"][0]["agencies"] = []
    del payload["transferred_at"]
    paths = sorted(problem.path for problem in schemas.validation_problems("directive", payload))
    assert paths == ["/", "document", "document/issued_on", "tasks/0/agencies"]


def test_aggregate_report_counts_every_level() -> None:
    counts = {level: 0 for level in LEVELS}
    payload = {"org_unit_code": "TU01",
               "period": {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"},
               "as_of": "2026-04-01T00:00:00Z",
               "rows": [{"org_unit_code": "TU01", "counts": counts, "total": 0}]}
    assert schemas.validation_problems("aggregate_report", payload) == []
    broken = copy.deepcopy(payload)
    del broken["rows"][0]["counts"]["completed_late"]
    problems = schemas.validation_problems("aggregate_report", broken)
    assert [problem.path for problem in problems] == ["rows/0/counts"]
