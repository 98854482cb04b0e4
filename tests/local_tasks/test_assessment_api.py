"""Assessment endpoints: evaluations, findings, classification, group resolution, transfer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from node.local_tasks.models import ClassificationScheme, ClassificationValue, OrgUnit
from tests.local_tasks.roles import (
    TU01,
    TU04,
    bearer_client,
    create_account,
    post_document,
    set_clock,
    task_body,
    task_ids,
)


@pytest.fixture
def accounts(app, session_factory) -> dict:  # noqa: ANN001
    with session_factory() as session:
        tokens = {
            "monitor": create_account(session, "theodoi.tu04", [("monitoring_officer", "TU04")]),
            "inspector": create_account(session, "kiemtra.tu04", [("inspector", "TU04")]),
            "updater": create_account(session, "capnhat.tu04", [("updater", "TU04")]),
        }
        session.commit()
    return {name: bearer_client(app, token) for name, token in tokens.items()}


@pytest.fixture
def document(client) -> dict:  # noqa: ANN001
    """A plan with a TU01 task monitored by TU04 and a task led by a group of agencies."""
    return post_document(client, "51-KH/TU", [
        task_body("1", "Phát triển kinh tế cửa khẩu", TU01, monitoring_agency=TU04),
        {"task_no": "2", "content": "Các tỉnh ủy quán triệt nghị quyết",
         "group_assignments": [{"role": "lead", "text": "Các tỉnh ủy, thành ủy"}],
         "deadline_on": "2026-12-31"},
    ])


def value_id(session, scheme: str) -> int:  # noqa: ANN001
    return session.scalar(select(ClassificationValue.id).join(ClassificationScheme)
                          .where(ClassificationScheme.code == scheme)
                          .order_by(ClassificationValue.position))


def test_monitor_evaluates_task(app, accounts, document) -> None:  # noqa: ANN001
    task_id = task_ids(document)[0]
    set_clock(app, "2026-06-01T09:00:00+07:00")
    first = accounts["monitor"].post(f"/api/v1/tasks/{task_id}/evaluations",
                                     json={"rating": "not_fully_completed"})
    set_clock(app, "2026-06-02T09:00:00+07:00")

    second = accounts["monitor"].post(f"/api/v1/tasks/{task_id}/evaluations",
                                      json={"rating": "completed", "comment": "Đã bổ sung"})

    assert first.status_code == 201, first.get_data(as_text=True)
    assert second.status_code == 201, second.get_data(as_text=True)
    evaluation = second.get_json()["evaluation"]
    assert evaluation["rating"] == "completed"
    assert evaluation["evaluated_by"] == "theodoi.tu04"
    assert evaluation["evaluated_at"] == "2026-06-02T02:00:00Z"


def test_unknown_rating_rejected(accounts, document) -> None:  # noqa: ANN001
    task_id = task_ids(document)[0]

    response = accounts["monitor"].post(f"/api/v1/tasks/{task_id}/evaluations",
                                        json={"rating": "good", "score": 5})

    assert response.status_code == 422
    assert [error["path"] for error in response.get_json()["errors"]] == ["score"]


def test_finding_recorded_and_closed(app, accounts, document) -> None:  # noqa: ANN001
    task_id = task_ids(document)[0]
    set_clock(app, "2026-06-01T09:00:00+07:00")
    recorded = accounts["inspector"].post(f"/api/v1/tasks/{task_id}/findings",
                                          json={"kind": "delay_sign", "finding": "Chậm tiến độ",
                                                "recommendation": "Đôn đốc"})
    finding_id = recorded.get_json()["finding"]["id"]

    closed = accounts["inspector"].post(f"/api/v1/findings/{finding_id}/close",
                                        json={"note": "Đã khắc phục"})

    assert recorded.status_code == 201, recorded.get_data(as_text=True)
    assert closed.status_code == 200, closed.get_data(as_text=True)
    assert closed.get_json()["finding"]["status"] == "closed"
    assert closed.get_json()["finding"]["closed_by"] == "kiemtra.tu04"


def test_classification_replaced(client, document, session) -> None:  # noqa: ANN001
    task_id = task_ids(document)[0]
    priority = value_id(session, "priority")

    response = client.post(f"/api/v1/tasks/{task_id}/classifications",
                           json={"value_ids": [priority]})

    assert response.status_code == 200, response.get_data(as_text=True)
    rows = response.get_json()["classifications"]
    assert [row["id"] for row in rows if row["scheme"] == "priority"] == [priority]
    # The time classification follows the deadline and stays.
    assert [row["scheme"] for row in rows if row["id"] != priority] == ["time"]


def test_classification_problems_listed(client, document, session) -> None:  # noqa: ANN001
    task_id = task_ids(document)[0]

    response = client.post(f"/api/v1/tasks/{task_id}/classifications",
                           json={"value_ids": [999999, "x"]})

    assert response.status_code == 422
    assert [error["path"] for error in response.get_json()["errors"]] == ["value_ids"]


def test_group_resolution_shows_task(client, accounts, document, session) -> None:  # noqa: ANN001
    group_task = document["tasks"]["items"][1]
    group_id = group_task["group_assignments"][0]["id"]
    tu04_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == "TU04"))
    hidden = accounts["updater"].get(f"/api/v1/tasks/{group_task['id']}")

    response = client.post(f"/api/v1/group-assignments/{group_id}/resolution",
                           json={"org_unit_ids": [tu04_id]})

    assert hidden.status_code == 404
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [unit["code"] for unit in response.get_json()["added"]] == ["TU04"]
    assert accounts["updater"].get(f"/api/v1/tasks/{group_task['id']}").status_code == 200


def test_document_transfer_fills_inbox(app, client, accounts) -> None:  # noqa: ANN001
    document = post_document(client, "61-KH/TU", [
        task_body("1", "Rà soát đảng viên", TU04), task_body("2", "Sơ kết chuyên đề", TU04)])
    set_clock(app, "2026-03-06T16:30:00+07:00")

    response = client.post(f"/api/v1/documents/{document['id']}/transfer")

    assert response.status_code == 200, response.get_data(as_text=True)
    assert sorted(row["id"] for row in response.get_json()["transferred"]) == sorted(
        task_ids(document))
    inbox = accounts["updater"].get("/api/v1/inbox").get_json()
    assert sorted(item["id"] for item in inbox["items"]) == sorted(task_ids(document))
    refused = accounts["updater"].post(f"/api/v1/documents/{document['id']}/transfer")
    assert refused.status_code == 403
