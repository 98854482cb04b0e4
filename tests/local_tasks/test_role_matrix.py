"""Role matrix: every page and API endpoint against every role and an anonymous visitor.

The expected status of each cell is written below from the access policy
(node/local_tasks/permissions.py), not taken from running the code. Agency
roles are granted over TU04. Tasks:

  A  led by TU04, not transferred         R  led by TU04, transferred
  L  led by TU04, received                W  led by TU04, received, with the
                                             open objection O, the submitted
                                             update U and the open explanation
                                             request E
  C  led by TU01, TU04 monitors it        B  led by TU01, received, with OB,
  G  led by the unresolved group GA          UB and EB like W
                                          F  an open finding on W

A, R, L, W and G are in document D1.

B is in document D2, which TU04's officers must not learn about. Each cell
runs inside a savepoint that is rolled back, so every cell starts from the
same state.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from node.audit.models import AuditEntry
from node.local_tasks.assessment.models import InspectionFinding, TaskEvaluation
from node.local_tasks.models import (
    ClassificationScheme,
    ClassificationValue,
    Document,
    OrgUnit,
    Task,
    TaskAgency,
    TaskClassification,
    TaskEvent,
)
from node.local_tasks.workflow.models import (
    ExplanationRequest,
    Objection,
    ProgressUpdate,
    Receipt,
)
from tests.local_tasks.roles import (
    ROLE_UNITS,
    TU01,
    TU04,
    bearer_client,
    create_account,
    post_document,
    role_clients,
    set_clock,
    task_body,
    task_ids,
)

ROLES = ("anonymous", *ROLE_UNITS)
# TU04's officers: nothing of TU01's task B may reach them.
TU04_ROLES = ("leader", "inspector", "updater", "approver", "monitoring_officer")

B_CONTENT = "Chuyển đổi số riêng của Thành ủy Hà Nội"
D2_REFERENCE = "88-KH/TU"

# Bodies of the POST endpoints, by the last part of the path.
BODIES = {
    "transfer": None,
    "receipt": None,
    "objections": {"kind": "other", "reason": "Không thuộc thẩm quyền"},
    "decision": {"accept": False, "reason": "Giữ nguyên giao nhiệm vụ"},
    "updates": {"reported_state": "in_progress", "progress_percent": 10},
    "approve": None,
    "return": {"comment": "Bổ sung số liệu"},
    "explanations": {"reason": "Đề nghị giải trình"},
    "answer": {"text": "Đã giải trình"},
    "documents": {"reference": "99-KH/TU", "kind": "plan", "issued_on": "2026-03-02",
                  "tasks": [task_body("1", "Nhiệm vụ mới", TU04)]},
    "evaluations": {"rating": "completed", "comment": "Đạt yêu cầu"},
    "findings": {"kind": "delay_sign", "finding": "Chậm báo cáo",
                 "recommendation": "Đôn đốc báo cáo"},
    "close": {"note": "Đã khắc phục"},
    "classifications": "filled in by the world fixture",
    "resolution": "filled in by the world fixture",
}

ALL_200 = "200 200 200 200 200 200 200"
ONLY_NODE_WIDE = "200 200 404 404 404 404 404"

# method, path, then the expected status for: anonymous, administrator,
# central_officer, leader, inspector, updater, approver, monitoring_officer.
MATRIX = [
    # Pages: a visitor is sent to the sign-in page.
    ("GET", "/", "302 " + ALL_200),
    ("GET", "/tasks", "302 " + ALL_200),
    ("GET", "/tasks/{A}", "302 " + ALL_200),
    ("GET", "/tasks/{C}", "302 " + ALL_200),
    ("GET", "/tasks/{B}", "302 " + ONLY_NODE_WIDE),
    ("GET", "/documents", "302 " + ALL_200),
    ("GET", "/documents/{D1}", "302 " + ALL_200),
    ("GET", "/documents/{D2}", "302 " + ONLY_NODE_WIDE),
    ("GET", "/agencies", "302 " + ALL_200),
    ("GET", "/group-assignments", "302 " + ALL_200),
    ("GET", "/login", "200 302 302 302 302 302 302 302"),
    ("GET", "/assets/style.css", "200 " + ALL_200),
    # API reads.
    ("GET", "/api/v1/openapi.json", "200 " + ALL_200),
    ("GET", "/api/v1/documents", "401 " + ALL_200),
    ("GET", "/api/v1/documents/{D1}", "401 " + ALL_200),
    ("GET", "/api/v1/documents/{D2}", "401 " + ONLY_NODE_WIDE),
    ("GET", "/api/v1/tasks", "401 " + ALL_200),
    ("GET", "/api/v1/tasks/{A}", "401 " + ALL_200),
    ("GET", "/api/v1/tasks/{C}", "401 " + ALL_200),
    ("GET", "/api/v1/tasks/{B}", "401 " + ONLY_NODE_WIDE),
    ("GET", "/api/v1/tasks/{W}/timeline", "401 " + ALL_200),
    ("GET", "/api/v1/tasks/{B}/timeline", "401 " + ONLY_NODE_WIDE),
    ("GET", "/api/v1/counts/levels", "401 " + ALL_200),
    ("GET", "/api/v1/counts/agencies", "401 " + ALL_200),
    ("GET", "/api/v1/org-units", "401 " + ALL_200),
    ("GET", "/api/v1/classifications", "401 " + ALL_200),
    ("GET", "/api/v1/document-kinds", "401 " + ALL_200),
    ("GET", "/api/v1/inbox", "401 " + ALL_200),
    ("GET", "/api/v1/approvals", "401 " + ALL_200),
    ("GET", "/api/v1/objections?status=open", "401 " + ALL_200),
    # Central-office steps.
    ("POST", "/api/v1/documents", "401 201 201 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{A}/transfer", "401 200 200 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{B}/transfer", "401 409 409 404 404 404 404 404"),
    ("POST", "/api/v1/objections/{O}/decision", "401 200 200 403 403 403 403 403"),
    ("POST", "/api/v1/objections/{OB}/decision", "401 200 200 404 404 404 404 404"),
    # Explanation requests: the central office, or the monitoring agency's officer.
    ("POST", "/api/v1/tasks/{A}/explanations", "401 201 201 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{C}/explanations", "401 201 201 403 403 403 403 201"),
    ("POST", "/api/v1/tasks/{B}/explanations", "401 201 201 404 404 404 404 404"),
    # Steps of the lead agency.
    ("POST", "/api/v1/tasks/{R}/receipt", "401 403 403 403 403 201 201 403"),
    ("POST", "/api/v1/tasks/{B}/receipt", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/tasks/{L}/objections", "401 403 403 403 403 201 201 403"),
    ("POST", "/api/v1/tasks/{B}/objections", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/tasks/{L}/updates", "401 403 403 403 403 201 403 403"),
    ("POST", "/api/v1/tasks/{C}/updates", "401 403 403 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{B}/updates", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/updates/{U}/approve", "401 403 403 403 403 403 200 403"),
    ("POST", "/api/v1/updates/{U}/return", "401 403 403 403 403 403 200 403"),
    ("POST", "/api/v1/updates/{UB}/approve", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/updates/{UB}/return", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/explanations/{E}/answer", "401 403 403 403 403 200 200 403"),
    ("POST", "/api/v1/explanations/{EB}/answer", "401 403 403 404 404 404 404 404"),
    # Assessment: the monitoring agency evaluates, inspectors record findings.
    ("POST", "/api/v1/tasks/{C}/evaluations", "401 201 201 403 403 403 403 201"),
    ("POST", "/api/v1/tasks/{A}/evaluations", "401 201 201 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{B}/evaluations", "401 201 201 404 404 404 404 404"),
    ("POST", "/api/v1/tasks/{A}/findings", "401 403 403 403 201 403 403 403"),
    ("POST", "/api/v1/tasks/{B}/findings", "401 403 403 404 404 404 404 404"),
    ("POST", "/api/v1/findings/{F}/close", "401 403 403 403 200 403 403 403"),
    # Assignment by the central office.
    ("POST", "/api/v1/tasks/{A}/classifications", "401 200 200 403 403 403 403 403"),
    ("POST", "/api/v1/tasks/{B}/classifications", "401 200 200 404 404 404 404 404"),
    ("POST", "/api/v1/group-assignments/{GA}/resolution", "401 200 200 404 404 404 404 404"),
    ("POST", "/api/v1/documents/{D1}/transfer", "401 200 200 403 403 403 403 403"),
    ("POST", "/api/v1/documents/{D2}/transfer", "401 200 200 404 404 404 404 404"),
]

WRITTEN_MODELS = (Document, Task, TaskEvent, TaskAgency, TaskClassification, Receipt, Objection,
                  ProgressUpdate, ExplanationRequest, TaskEvaluation, InspectionFinding,
                  AuditEntry)


def expected_status(row: tuple[str, str, str], role: str) -> int:
    statuses = row[2].split()
    assert len(statuses) == len(ROLES), row
    return int(statuses[ROLES.index(role)])


def stored_state(connection) -> tuple:  # noqa: ANN001
    """Return the row count of every table a step writes, and the sum of the task versions."""
    counts = tuple(connection.scalar(select(func.count()).select_from(model))
                   for model in WRITTEN_MODELS)
    return (*counts, connection.scalar(select(func.sum(Task.version))))


def post_ok(client, url: str, body: dict | None = None) -> dict:  # noqa: ANN001
    response = client.post(url, json=body) if body is not None else client.post(url)
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def world(app, client, session_factory) -> dict:  # noqa: ANN001
    """Store the tasks of the module docstring and return their ids and the role clients."""
    clients = role_clients(app, session_factory)
    with session_factory() as session:
        tu01_updater = bearer_client(app, create_account(session, "capnhat.tu01",
                                                         [("updater", "TU01")]))
        session.commit()

    d1 = post_document(client, "21-KH/TU", [
        task_body("1", "Rà soát quy hoạch tỉnh Cao Bằng", TU04),
        task_body("2", "Tổng kết công tác dân vận", TU04),
        task_body("3", "Xây dựng kế hoạch chuyển đổi số", TU04),
        task_body("4", "Đánh giá cán bộ cấp cơ sở", TU04),
        {"task_no": "5", "content": "Các tỉnh ủy quán triệt nghị quyết",
         "group_assignments": [{"role": "lead", "text": "Các tỉnh ủy, thành ủy"}],
         "deadline_on": "2026-12-31"},
    ])
    d2 = post_document(client, D2_REFERENCE, [task_body("1", B_CONTENT, TU01)])
    d3 = post_document(client, "31-KH/TU", [
        task_body("1", "Phát triển du lịch biên giới", TU01, monitoring_agency=TU04)])
    ids = dict(zip("ARLWG", task_ids(d1), strict=True))
    ids["GA"] = d1["tasks"]["items"][4]["group_assignments"][0]["id"]
    ids["B"] = task_ids(d2)[0]
    ids["C"] = task_ids(d3)[0]
    ids.update(D1=d1["id"], D2=d2["id"])

    set_clock(app, "2026-03-09T08:00:00+07:00")
    for name in "RLWB":
        post_ok(client, f"/api/v1/tasks/{ids[name]}/transfer")
    set_clock(app, "2026-03-09T08:30:00+07:00")
    for name in "LW":
        post_ok(clients["updater"], f"/api/v1/tasks/{ids[name]}/receipt")
    post_ok(tu01_updater, f"/api/v1/tasks/{ids['B']}/receipt")

    set_clock(app, "2026-03-09T09:00:00+07:00")
    for name, agency in (("W", clients["updater"]), ("B", tu01_updater)):
        suffix = "" if name == "W" else "B"
        task_url = f"/api/v1/tasks/{ids[name]}"
        ids["O" + suffix] = post_ok(agency, f"{task_url}/objections",
                                    BODIES["objections"])["objection"]["id"]
        ids["U" + suffix] = post_ok(agency, f"{task_url}/updates",
                                    BODIES["updates"])["update"]["id"]
        ids["E" + suffix] = post_ok(client, f"{task_url}/explanations",
                                    BODIES["explanations"])["explanation"]["id"]

    ids["F"] = post_ok(clients["inspector"], f"/api/v1/tasks/{ids['W']}/findings",
                       BODIES["findings"])["finding"]["id"]

    set_clock(app, "2026-03-09T10:00:00+07:00")
    clients["anonymous"] = app.test_client()
    with session_factory() as session:
        priority = session.scalar(select(ClassificationValue.id).join(ClassificationScheme)
                                  .where(ClassificationScheme.code == "priority")
                                  .order_by(ClassificationValue.position))
        tu04_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "TU04"))
    bodies = {**BODIES, "classifications": {"value_ids": [priority]},
              "resolution": {"org_unit_ids": [tu04_id]}}
    return {"ids": ids, "clients": clients, "bodies": bodies}


def request_cell(client, method: str, url: str, bodies: dict):  # noqa: ANN001, ANN201
    if method == "GET":
        return client.get(url)
    body = bodies[url.rstrip("/").rsplit("/", 1)[-1]]
    return client.post(url, json=body) if body is not None else client.post(url)


@pytest.mark.parametrize("role", ROLES)
def test_role_matrix(role: str, world, connection) -> None:  # noqa: ANN001
    client = world["clients"][role]
    mismatches = []
    for row in MATRIX:
        method, template, _ = row
        url = template.format(**world["ids"])
        expected = expected_status(row, role)

        # A plain SQL savepoint: the requests' sessions open and release
        # savepoints of their own inside it.
        connection.exec_driver_sql("SAVEPOINT matrix_cell")
        try:
            before = stored_state(connection)
            response = request_cell(client, method, url, world["bodies"])
            after = stored_state(connection)
        finally:
            connection.exec_driver_sql("ROLLBACK TO SAVEPOINT matrix_cell")
            connection.exec_driver_sql("RELEASE SAVEPOINT matrix_cell")

        if response.status_code != expected:
            mismatches.append(f"{method} {template}: expected {expected}, "
                              f"got {response.status_code}")
            continue
        text = response.get_data(as_text=True)
        response.close()
        if expected == 302 and role == "anonymous":
            assert response.headers["Location"].startswith("/login"), url
        if expected in (401, 403, 404) and url.startswith("/api/"):
            assert response.mimetype == "application/problem+json", url
        if method == "POST" and expected >= 400:
            assert after == before, f"{method} {template} as {role} wrote to the database"
        if role in TU04_ROLES:
            assert B_CONTENT not in text, f"{method} {template} shows B's content to {role}"
            assert D2_REFERENCE not in text, f"{method} {template} shows D2's reference to {role}"
    assert mismatches == []


def test_missing_and_hidden_alike(world) -> None:  # noqa: ANN001
    """A TU01 task reads as a missing id to TU04's updater: same status, same detail form."""
    updater = world["clients"]["updater"]
    hidden_id = world["ids"]["B"]

    hidden = updater.get(f"/api/v1/tasks/{hidden_id}")
    missing = updater.get("/api/v1/tasks/999999")

    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["detail"] == f"No task with id {hidden_id}"
    assert missing.get_json()["detail"] == "No task with id 999999"
    assert hidden.get_json()["title"] == missing.get_json()["title"]


def test_lists_hide_other_agencies(world) -> None:  # noqa: ANN001
    updater = world["clients"]["updater"]
    ids = world["ids"]

    tasks = updater.get("/api/v1/tasks").get_json()
    documents = updater.get("/api/v1/documents").get_json()
    levels = updater.get("/api/v1/counts/levels").get_json()
    agencies = updater.get("/api/v1/counts/agencies").get_json()
    objections = updater.get("/api/v1/objections").get_json()

    assert sorted(item["id"] for item in tasks["items"]) == sorted(ids[name] for name in "ARLWC")
    assert ids["D2"] not in [item["id"] for item in documents["items"]]
    assert levels["total"] == 5
    assert {item["org_unit"]["code"]: item["total"] for item in agencies["items"]} == {
        "TU01": 1, "TU04": 4}
    assert [item["id"] for item in objections["items"]] == [ids["O"]]


def test_leader_sees_scope_only(world) -> None:  # noqa: ANN001
    leader = world["clients"]["leader"]
    administrator = world["clients"]["administrator"]

    assert leader.get("/api/v1/counts/levels").get_json()["total"] == 5
    assert administrator.get("/api/v1/counts/levels").get_json()["total"] == 7


def test_every_endpoint_needs_sign_in(app) -> None:  # noqa: ANN001
    """Walk the URL map: only /login, /assets/ and the OpenAPI file respond to a visitor."""
    public = {"auth.login", "views.static", "api.openapi"}
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in public or not rule.endpoint.startswith(("views.", "api.")):
            continue
        url = re.sub(r"<(?:int:)?[a-z_]+>", "1", rule.rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = client.open(url, method=method)
            response.close()
            checked += 1
            if url.startswith("/api/"):
                assert response.status_code == 401, f"{method} {url}"
            elif method == "GET":
                assert response.status_code == 302, f"{method} {url}"
                assert response.headers["Location"].startswith("/login"), f"{method} {url}"
            else:
                # A visitor's page POST without a CSRF token is rejected before the view.
                assert response.status_code in (302, 400), f"{method} {url}"
    assert checked >= 30
