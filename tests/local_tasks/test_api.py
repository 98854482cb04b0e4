"""JSON API under /api/v1: creating documents, task lists, counts and reference data.

Expected levels and counts come from hand calculation (see sample_data).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.local_tasks.completion import LEVELS
from node.local_tasks.models import Document, OrgUnit, Task, TaskEvent
from tests.local_tasks.sample_data import (
    AT_JULY,
    CONCLUSION,
    COUNTS_IN_JULY,
    LEAD_AGENCIES_IN_JULY,
    LEVELS_IN_JULY,
    RESOLUTION,
    confidential_directive,
    numbered_plan,
)

PROBLEM_JSON = "application/problem+json"
INSTANT_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def post_document(client, body: dict, **params: str):  # noqa: ANN001, ANN201
    response = client.post("/api/v1/documents", json=body, query_string=params)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def sample(client) -> dict:  # noqa: ANN001
    """Post the two sample documents; return their JSON by reference."""
    return {body["reference"]: post_document(client, body) for body in (RESOLUTION, CONCLUSION)}


def task_ids(documents: dict) -> dict[tuple[str, int], int]:
    return {(reference, task["position"]): task["id"]
            for reference, document in documents.items()
            for task in document["tasks"]["items"]}


def document_count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(Document))


def assert_problem(response, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status
    return body


# Creating documents -------------------------------------------------------------


def test_create_document_returns_location(client, session) -> None:  # noqa: ANN001
    response = client.post("/api/v1/documents", json=RESOLUTION)

    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"] == f"/api/v1/documents/{body['id']}"
    assert body["reference"] == "01-NQ/TW"
    assert body["kind"]["code"] == "resolution"
    assert body["issued_on"] == "2026-01-05"
    assert body["task_count"] == 4
    assert body["tasks"]["total"] == 4
    stored = client.get(response.headers["Location"]).get_json()
    assert stored["summary"] == "Về phát triển hạ tầng giao thông"
    assert stored["signer"] == "Nguyễn Văn An"
    assert [task["task_no"] for task in stored["tasks"]["items"]] == ["1", "2", "3", "4"]


def test_create_document_reads_deadline_forms(client) -> None:  # noqa: ANN001
    document = post_document(client, RESOLUTION)
    deadlines = [task["deadline"] for task in document["tasks"]["items"]]

    assert deadlines[0] == {"text": None, "on": "2026-03-31", "at": "2026-03-31T16:59:59.999999Z",
                            "precision": "day"}
    assert deadlines[1] == {"text": "Quý II/2026", "on": "2026-06-30",
                            "at": "2026-06-30T16:59:59.999999Z", "precision": "quarter"}
    assert deadlines[2] == {"text": None, "on": "2026-02-27", "at": "2026-02-27T10:00:00Z",
                            "precision": "instant"}
    assert deadlines[3] == {"text": None, "on": None, "at": None, "precision": "none"}


def test_deadline_text_without_year_uses_issue_year(client) -> None:  # noqa: ANN001
    body = numbered_plan(1)
    body["tasks"][0].pop("deadline_on")
    body["tasks"][0]["deadline"] = "Quý III"

    task = post_document(client, body)["tasks"]["items"][0]

    assert task["deadline"]["on"] == "2026-09-30"
    assert task["deadline"]["text"] == "Quý III"


def test_deadline_text_with_date_kept_verbatim(client) -> None:  # noqa: ANN001
    body = numbered_plan(1)
    body["tasks"][0]["deadline"] = "Trước ngày 30/9"

    task = post_document(client, body)["tasks"]["items"][0]

    assert task["deadline"]["text"] == "Trước ngày 30/9"
    assert task["deadline"]["on"] == "2026-09-30"
    assert task["deadline"]["precision"] == "day"


def test_unknown_agencies_created_when_asked(client, session) -> None:  # noqa: ANN001
    body = numbered_plan(2)
    body["tasks"][0]["lead_agencies"] = ["Bộ Công Thương"]
    body["tasks"][1]["lead_agencies"] = ["Bộ Công an"]

    rejected = client.post("/api/v1/documents", json=body)
    problems = assert_problem(rejected, 422)["errors"]
    assert {problem["value"] for problem in problems} == {"Bộ Công Thương", "Bộ Công an"}

    post_document(client, body, create_agencies="true")
    review = client.get("/api/v1/org-units", query_string={"needs_review": "true"}).get_json()
    # Vietnamese order compares "an" with "thương" (a < t); code points put "T" before "a".
    assert [unit["name"] for unit in review["items"]] == ["Bộ Công an", "Bộ Công Thương"]
    counts = client.get("/api/v1/counts/agencies").get_json()
    assert [item["org_unit"]["name"] for item in counts["items"]] == ["Bộ Công an",
                                                                      "Bộ Công Thương"]


def test_duplicate_reference_is_conflict(client, session) -> None:  # noqa: ANN001
    post_document(client, RESOLUTION)

    body = assert_problem(client.post("/api/v1/documents", json=RESOLUTION), 409)

    assert "01-NQ/TW" in body["detail"]
    assert document_count(session) == 1


# Invalid documents ----------------------------------------------------------------


def test_invalid_document_lists_every_problem(client, session) -> None:  # noqa: ANN001
    body = {
        "reference": 123,
        "issued_on": "2026-13-01",
        "colour": "red",
        "tasks": [
            {"content": "Nhiệm vụ thứ nhất", "lead_agencies": "Ban Tổ chức Trung ương",
             "deadline_on": "31/03/2026", "progress_percent": "50", "owner": "A"},
            {"content": "Nhiệm vụ thứ hai", "lead_agencies": ["Cơ quan không có thật"],
             "deadline_at": "2026-03-01T10:00:00", "reported_state": "done"},
            "not an object",
            {"content": "Nhiệm vụ thứ tư", "lead_agencies": ["Văn phòng Trung ương Đảng"]},
            {"content": "Nhiệm vụ thứ năm", "lead_agencies": ["Văn phòng Trung ương Đảng"],
             "deadline": "một ngày nào đó",
             "group_assignments": [{"role": "owner", "text": "Các bộ"}],
             "classifications": [{"scheme": "priority", "value": "very_high"}]},
        ],
    }

    problem = assert_problem(client.post("/api/v1/documents", json=body), 422)

    paths = [error["path"] for error in problem["errors"]]
    assert sorted(paths) == sorted([
        "reference",
        "issued_on",
        "colour",
        "tasks[0].owner",
        "tasks[0].lead_agencies",
        "tasks[0].deadline_on",
        "tasks[0].progress_percent",
        "tasks[1].deadline_at",
        "tasks[1].reported_state",
        "agencies",
        "tasks[2]",
        "tasks[3].time_class",
        "tasks[4].deadline",
        "tasks[4].group_assignments[0].role",
        "tasks[4].classifications",
    ])
    by_path = {error["path"]: error for error in problem["errors"]}
    assert by_path["issued_on"]["value"] == "2026-13-01"
    assert by_path["agencies"]["value"] == "Cơ quan không có thật"
    assert by_path["tasks[0].progress_percent"]["message"].startswith("expected an integer")
    assert "time zone" in by_path["tasks[1].deadline_at"]["message"]
    assert by_path["tasks[4].deadline"]["value"] == "một ngày nào đó"
    assert document_count(session) == 0


def test_reader_problem_alone_stores_nothing(client, session) -> None:  # noqa: ANN001
    body = copy.deepcopy(RESOLUTION)
    body["tasks"][0]["note"] = "an unknown field on an otherwise valid document"

    problem = assert_problem(client.post("/api/v1/documents", json=body), 422)

    assert [error["path"] for error in problem["errors"]] == ["tasks[0].note"]
    assert document_count(session) == 0
    assert session.scalar(select(func.count()).select_from(Task)) == 0


def test_body_must_be_json_object(client) -> None:  # noqa: ANN001
    problem = assert_problem(client.post("/api/v1/documents", json=[RESOLUTION]), 422)
    assert [error["path"] for error in problem["errors"]] == [""]

    form = client.post("/api/v1/documents", data={"reference": "01-NQ/TW"})
    assert_problem(form, 415)

    broken = client.post("/api/v1/documents", data="{not json",
                         content_type="application/json")
    assert_problem(broken, 400)


@pytest.mark.parametrize("word", ["Tuyệt mật", "TUYỆT MẬT", "tuyet mat", "absolutely_secret"])
def test_absolutely_secret_rejected(client, session, word: str) -> None:  # noqa: ANN001
    body = copy.deepcopy(RESOLUTION)
    body["confidentiality"] = word
    body["tasks"][0]["content"] = "Nội dung tuyệt mật không được lưu"

    response = client.post("/api/v1/documents", json=body)

    problem = assert_problem(response, 422)
    assert [error["path"] for error in problem["errors"]] == ["confidentiality"]
    assert "Nội dung tuyệt mật" not in json.dumps(problem, ensure_ascii=False)
    assert document_count(session) == 0
    assert session.scalar(select(func.count()).select_from(Task)) == 0


# Confidential documents -------------------------------------------------------------


def test_confidential_content_rejected_not_echoed(client, session) -> None:  # noqa: ANN001
    body = confidential_directive()
    body["summary"] = "Trích yếu bí mật"
    body["tasks"][0]["content"] = "Nội dung bí mật của nhiệm vụ"
    body["tasks"][0]["product"] = 42

    response = client.post("/api/v1/documents", json=body)

    problem = assert_problem(response, 422)
    assert sorted(error["path"] for error in problem["errors"]) == [
        "summary", "tasks[0].content", "tasks[0].product"]
    assert "bí mật" not in json.dumps(problem, ensure_ascii=False)
    assert [error["value"] for error in problem["errors"]] == [None, None, None]
    assert document_count(session) == 0


def test_confidential_task_content_never_exposed(client) -> None:  # noqa: ANN001
    document = post_document(client, confidential_directive())
    task_id = document["tasks"]["items"][0]["id"]

    assert document["confidentiality"] == "confidential"
    assert document["summary"] is None
    assert document["summary_withheld"] is True
    responses = [
        client.get(f"/api/v1/documents/{document['id']}").get_json(),
        client.get("/api/v1/tasks").get_json()["items"][0],
        client.get(f"/api/v1/tasks/{task_id}").get_json(),
    ]
    for body in responses[1:]:
        assert body["content"] is None
        assert body["content_withheld"] is True
        assert body["section"] is None
    detail = responses[2]
    assert detail["product"] is None
    assert detail["result_summary"] is None
    assert detail["extra"] is None
    assert detail["agencies"]["lead"][0]["name"] == "Ban Nội chính Trung ương"


# Levels and counts ---------------------------------------------------------------------


def test_task_levels_in_july(client, sample) -> None:  # noqa: ANN001
    ids = task_ids(sample)

    listed = client.get("/api/v1/tasks", query_string={"at": AT_JULY}).get_json()

    assert listed["total"] == 8
    assert listed["at"] == "2026-07-10T02:00:00Z"
    levels = {task["id"]: task["level"] for task in listed["items"]}
    for key, expected in LEVELS_IN_JULY.items():
        assert levels[ids[key]] == expected, key


def test_counts_by_level_in_july(client, sample) -> None:  # noqa: ANN001
    body = client.get("/api/v1/counts/levels", query_string={"at": AT_JULY}).get_json()

    assert body["total"] == 8
    assert body["counts"] == COUNTS_IN_JULY
    assert list(body["counts"]) == sorted(LEVELS)


@pytest.mark.parametrize(("at", "expected"), [
    # T1 is reported completed on 20/03, so on 15/03 it is still in progress.
    ("2026-03-15T00:00:00+07:00", {"in_progress_on_time": 3, "not_started_overdue": 1}),
    ("2026-04-15T12:00:00+07:00", {"completed_on_time": 1, "in_progress_on_time": 2,
                                   "not_started_overdue": 1}),
    # T3 is due at 17:00 on 27/02: not overdue at that instant, overdue a second later.
    ("2026-02-27T17:00:00+07:00", {"in_progress_on_time": 3, "not_started_on_time": 1}),
    ("2026-02-27T17:00:01+07:00", {"in_progress_on_time": 3, "not_started_overdue": 1}),
    # A bare date means the end of that day in Vietnam; no offset means Vietnam time.
    ("2026-02-27", {"in_progress_on_time": 3, "not_started_overdue": 1}),
    ("2026-02-27T16:59:00", {"in_progress_on_time": 3, "not_started_on_time": 1}),
    ("2026-02-27T10:00:01Z", {"in_progress_on_time": 3, "not_started_overdue": 1}),
])
def test_counts_follow_at(client, sample, at: str, expected: dict) -> None:  # noqa: ANN001
    document_id = sample["01-NQ/TW"]["id"]

    body = client.get("/api/v1/counts/levels",
                      query_string={"at": at, "document_id": document_id}).get_json()

    assert body["counts"] == {level: expected.get(level, 0) for level in LEVELS}
    assert body["total"] == 4


def test_counts_by_agency_vietnamese_order(client, sample) -> None:  # noqa: ANN001
    body = client.get("/api/v1/counts/agencies", query_string={"at": AT_JULY}).get_json()

    assert body["role"] == "lead"
    names = [item["org_unit"]["name"] for item in body["items"]]
    assert names == [name for name, _ in LEAD_AGENCIES_IN_JULY]
    for item, (_, counts) in zip(body["items"], LEAD_AGENCIES_IN_JULY, strict=True):
        assert item["counts"] == {level: counts.get(level, 0) for level in LEVELS}
        assert item["total"] == sum(counts.values())


def test_counts_by_agency_for_role(client, sample) -> None:  # noqa: ANN001
    coordinating = client.get("/api/v1/counts/agencies",
                              query_string={"role": "coordinating", "at": AT_JULY}).get_json()
    monitoring = client.get("/api/v1/counts/agencies",
                            query_string={"role": "monitoring", "at": AT_JULY}).get_json()

    assert [(item["org_unit"]["name"], item["total"]) for item in coordinating["items"]] == [
        ("Ban Tổ chức Trung ương", 1)]
    assert monitoring["items"][0]["counts"]["completed_on_time"] == 1


# Task filters -----------------------------------------------------------------------------


def _listed_ids(client, **params) -> list[int]:  # noqa: ANN001
    body = client.get("/api/v1/tasks", query_string={"at": AT_JULY, **params}).get_json()
    assert "items" in body, body
    return sorted(task["id"] for task in body["items"])


def test_task_filters(client, session, sample) -> None:  # noqa: ANN001
    ids = task_ids(sample)
    resolution, conclusion = "01-NQ/TW", "02-KL/TW"
    organisation = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "BTCTW"))
    priority_key = sample[resolution]["tasks"]["items"][0]["id"]
    classification = client.get(f"/api/v1/tasks/{priority_key}").get_json()["classifications"]
    key_value_id = next(value["id"] for value in classification if value["scheme"] == "priority")

    assert _listed_ids(client, level=["not_started_overdue", "completed_late"]) == sorted(
        [ids[(resolution, 2)], ids[(conclusion, 0)], ids[(conclusion, 3)]])
    assert _listed_ids(client, agency_id=organisation) == sorted(
        [ids[(resolution, 0)], ids[(resolution, 1)], ids[(resolution, 2)]])
    assert _listed_ids(client, agency_id=organisation, role="lead") == sorted(
        [ids[(resolution, 1)], ids[(resolution, 2)]])
    assert _listed_ids(client, document_id=sample[conclusion]["id"]) == sorted(
        ids[(conclusion, position)] for position in range(4))
    assert _listed_ids(client, classification=key_value_id) == [ids[(resolution, 0)]]
    assert _listed_ids(client, deadline_from="2026-03-01", deadline_to="2026-06-01") == sorted(
        [ids[(resolution, 0)], ids[(conclusion, 1)], ids[(conclusion, 3)]])
    assert _listed_ids(client, has_deadline="false") == [ids[(resolution, 3)]]
    assert len(_listed_ids(client, has_deadline="true")) == 7
    assert _listed_ids(client, level="not_started_overdue", agency_id=organisation) == [
        ids[(resolution, 2)]]


@pytest.mark.parametrize(("text", "positions"), [
    ("duong sat", [("01-NQ/TW", 0)]),
    ("ĐƯỜNG SẮT", [("01-NQ/TW", 0)]),
    ("dat dai", [("01-NQ/TW", 1)]),
    ("the che ve dat", [("01-NQ/TW", 1)]),
    # The phrase is matched whole: these words occur, but not in this order.
    ("the che dat", []),
    ("ca mau", [("02-KL/TW", 2)]),
    ("01-NQ", [("01-NQ/TW", position) for position in range(4)]),
    ("không có nhiệm vụ này", []),
])
def test_text_search_ignores_accents(client, sample, text: str, positions: list) -> None:  # noqa: ANN001
    ids = task_ids(sample)

    assert _listed_ids(client, q=text) == sorted(ids[key] for key in positions)


def test_pagination_totals(client) -> None:  # noqa: ANN001
    post_document(client, numbered_plan(7))

    pages = [client.get("/api/v1/tasks", query_string={"page_size": 3, "page": page}).get_json()
             for page in (1, 2, 3, 4)]

    assert [page["total"] for page in pages] == [7, 7, 7, 7]
    assert [page["pages"] for page in pages] == [3, 3, 3, 3]
    assert [len(page["items"]) for page in pages] == [3, 3, 1, 0]
    numbers = [task["task_no"] for page in pages for task in page["items"]]
    assert numbers == [str(number) for number in range(1, 8)]


def test_invalid_query_lists_every_parameter(client, sample) -> None:  # noqa: ANN001
    response = client.get("/api/v1/tasks", query_string={
        "level": ["bogus", "completed_on_time"], "agency_id": "abc", "role": "owner",
        "deadline_from": "2026-02-30", "has_deadline": "maybe", "at": "yesterday",
        "page": "0", "page_size": "1000", "colour": "red", "document_id": "999999",
        "classification": "x",
    })

    problem = assert_problem(response, 400)
    values = {(error["path"], str(error["value"])) for error in problem["errors"]}
    assert values == {
        ("colour", "red"), ("level", "bogus"), ("agency_id", "abc"), ("role", "owner"),
        ("deadline_from", "2026-02-30"), ("has_deadline", "maybe"), ("at", "yesterday"),
        ("page", "0"), ("page_size", "1000"), ("document_id", "999999"),
        ("classification", "x"),
    }


def test_role_alone_rejected_in_list(client) -> None:  # noqa: ANN001
    problem = assert_problem(client.get("/api/v1/tasks?role=lead"), 400)
    assert [error["path"] for error in problem["errors"]] == ["role"]

    problem = assert_problem(client.get("/api/v1/tasks?deadline_from=2026-05-01"
                                        "&deadline_to=2026-04-01"), 400)
    assert [error["path"] for error in problem["errors"]] == ["deadline_to"]


# One task ------------------------------------------------------------------------------------


def test_task_detail_fields(client, sample) -> None:  # noqa: ANN001
    task_id = task_ids(sample)[("01-NQ/TW", 0)]

    task = client.get(f"/api/v1/tasks/{task_id}", query_string={"at": AT_JULY}).get_json()

    assert task["level"] == "completed_on_time"
    assert task["content"] == "Xây dựng đề án phát triển đường sắt tốc độ cao"
    assert [unit["code"] for unit in task["agencies"]["lead"]] == ["VPTW"]
    assert [unit["code"] for unit in task["agencies"]["coordinating"]] == ["BTCTW"]
    assert [unit["code"] for unit in task["agencies"]["monitoring"]] == ["UBKTTW"]
    assert task["completed_at"] == "2026-03-20T02:00:00Z"
    assert {(value["scheme"], value["code"]) for value in task["classifications"]} == {
        ("priority", "key"), ("time", "with_deadline")}
    deadlines = {row["kind"]: row for row in task["service_deadlines"]}
    # Issued Monday 05/01/2026: three working days later is Thursday 08/01, 17:00 in Hà Nội.
    assert deadlines["transfer"]["due_at"] == "2026-01-08T10:00:00Z"
    # Due Tuesday 31/03: the result is reported within three working days, by Friday 03/04.
    assert deadlines["result_report"]["due_at"] == "2026-04-03T10:00:00Z"
    assert deadlines["checkpoint_half"]["due_at"] is not None
    assert [row["kind"] for row in task["service_deadlines"]] == [
        "transfer", "result_report", "checkpoint_half"]
    assert [event["kind"] for event in task["history"]] == ["created"]
    assert task["history"][0]["actor"] == "vanphong.test"


def test_pending_deadline_has_reason(client, sample) -> None:  # noqa: ANN001
    task_id = task_ids(sample)[("02-KL/TW", 2)]

    task = client.get(f"/api/v1/tasks/{task_id}").get_json()

    report = next(row for row in task["service_deadlines"] if row["kind"] == "result_report")
    # Due 31/12/2026, so the report falls in 2027, a year the calendar lacks.
    assert report["due_at"] is None
    assert "2027" in report["pending_reason"]


def test_group_assignment_in_task(client, sample) -> None:  # noqa: ANN001
    task_id = task_ids(sample)[("01-NQ/TW", 3)]

    task = client.get(f"/api/v1/tasks/{task_id}").get_json()

    assert task["lead_agencies"] == []
    assert task["group_assignments"][0]["text"] == "Các tỉnh ủy, thành ủy"
    assert task["group_assignments"][0]["role"] == "lead"
    assert task["group_assignments"][0]["resolved"] is False
    assert {(value["scheme"], value["code"]) for value in task["classifications"]} == {
        ("time", "regular")}


def test_missing_records_are_404(client) -> None:  # noqa: ANN001
    assert_problem(client.get("/api/v1/tasks/999999"), 404)
    assert_problem(client.get("/api/v1/documents/999999"), 404)


def test_instants_are_utc_with_z(client, sample) -> None:  # noqa: ANN001
    task_id = task_ids(sample)[("01-NQ/TW", 0)]
    task = client.get(f"/api/v1/tasks/{task_id}").get_json()

    instants = [task["completed_at"], task["created_at"], task["updated_at"], task["at"],
                task["deadline"]["at"], task["history"][0]["at"],
                *[row["due_at"] for row in task["service_deadlines"]]]

    for value in instants:
        assert INSTANT_PATTERN.match(value), value


# Reference data and description --------------------------------------------------------------


def test_org_units_in_vietnamese_order(client) -> None:  # noqa: ANN001
    units = client.get("/api/v1/org-units").get_json()["items"]

    provincial = [unit for unit in units if unit["kind"] == "provincial_party_committee"]
    assert len(provincial) == 34
    names = [unit["name"] for unit in provincial]
    # Điện Biên comes after Đà Nẵng and before Gia Lai, not after every plain letter.
    assert names.index("Đảng bộ tỉnh Điện Biên (Tỉnh ủy Điện Biên)") < names.index(
        "Đảng bộ tỉnh Gia Lai (Tỉnh ủy Gia Lai)")
    assert units[0]["name"].startswith("Ban")


def test_classifications_and_kinds(client) -> None:  # noqa: ANN001
    schemes = client.get("/api/v1/classifications").get_json()["items"]
    kinds = client.get("/api/v1/document-kinds").get_json()["items"]

    assert {scheme["code"] for scheme in schemes} >= {"time", "scope", "priority", "other"}
    time_scheme = next(scheme for scheme in schemes if scheme["code"] == "time")
    assert [value["code"] for value in time_scheme["values"]][:2] == ["with_deadline", "regular"]
    resolution = next(kind for kind in kinds if kind["code"] == "resolution")
    assert resolution["name_vi"] == "Nghị quyết"
    assert resolution["symbol_prefixes"] == ["NQ"]
    assert_problem(client.get("/api/v1/document-kinds?page=2"), 400)


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_openapi_describes_every_route(app, client) -> None:  # noqa: ANN001
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    on_disk = json.loads((Path(app.root_path) / "web" / "static" / "openapi.json").read_text())
    assert document == on_disk
    assert document["openapi"].startswith("3.1")

    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], (path, method)

    for ref in _refs(document):
        target = document
        for part in ref.removeprefix("#/").split("/"):
            assert part in target, ref
            target = target[part]


def test_openapi_lists_task_parameters(client) -> None:  # noqa: ANN001
    document = client.get("/api/v1/openapi.json").get_json()
    parameters = document["components"]["parameters"]

    operation = document["paths"]["/tasks"]["get"]
    names = set()
    for parameter in operation["parameters"]:
        if "$ref" in parameter:
            parameter = parameters[parameter["$ref"].rsplit("/", 1)[-1]]
        names.add(parameter["name"])

    assert names == {"level", "agency_id", "role", "document_id", "classification",
                     "deadline_from", "deadline_to", "has_deadline", "q", "at", "page",
                     "page_size", "lang"}


def test_create_document_needs_sign_in(anonymous_client, session):
    documents_before = session.scalar(select(func.count()).select_from(Document))
    response = anonymous_client.post("/api/v1/documents", json=RESOLUTION)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert session.scalar(select(func.count()).select_from(Document)) == documents_before


def test_create_document_rejects_leader(app, session_factory):
    from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code

    with session_factory() as session:
        user = create_user(session, username="lanhdao.test", full_name="Lãnh đạo (kiểm thử)",
                           password="mat-khau-lanh-dao-2026")
        grant_role(session, user, "leader", org_unit_by_code(session, "BCHTW"))
        _, token = create_api_token(session, user, "tests")
        session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = client.post("/api/v1/documents", json=RESOLUTION)
    assert response.status_code == 403


def test_created_document_names_its_author(client, session):
    assert client.post("/api/v1/documents", json=RESOLUTION).status_code == 201
    event = session.scalars(select(TaskEvent).order_by(TaskEvent.id.desc())).first()
    assert event.actor == "vanphong.test"
