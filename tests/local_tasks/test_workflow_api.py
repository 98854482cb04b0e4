"""Workflow endpoints: receipt deadlines, idempotent updates, If-Match, strict bodies, queues.

The server's clock is set through app.config["THEODOI_CLOCK"], so each step
happens at a known Vietnam time.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from node.local_tasks.models import TaskEvent
from node.local_tasks.workflow.models import ProgressUpdate
from tests.local_tasks.roles import (
    TU04,
    bearer_client,
    create_account,
    post_document,
    set_clock,
    task_body,
    task_ids,
)

TRANSFER_AT = "2026-03-06T16:30:00+07:00"  # a Friday
ON_TIME = "2026-03-09T11:30:00+07:00"  # the next Monday, the last minute of the deadline
LATE = "2026-03-09T11:31:00+07:00"
RECEIPT_DUE_UTC = "2026-03-09T04:30:00Z"


@pytest.fixture
def accounts(app, session_factory) -> dict:  # noqa: ANN001
    """Clients of TU04's updater, approver and of a user who holds both roles there."""
    with session_factory() as session:
        tokens = {
            "updater": create_account(session, "capnhat.tu04", [("updater", "TU04")]),
            "approver": create_account(session, "pheduyet.tu04", [("approver", "TU04")]),
            "both": create_account(session, "kiemnhiem.tu04",
                                   [("updater", "TU04"), ("approver", "TU04")]),
        }
        session.commit()
    return {name: bearer_client(app, token) for name, token in tokens.items()}


@pytest.fixture
def task_id(client) -> int:  # noqa: ANN001
    document = post_document(client, "15-KH/TU", [
        task_body("1", "Sơ kết việc thực hiện nghị quyết tại Cao Bằng", TU04)])
    return task_ids(document)[0]


def transfer(app, client, task_id: int, at: str = TRANSFER_AT) -> dict:  # noqa: ANN001
    set_clock(app, at)
    response = client.post(f"/api/v1/tasks/{task_id}/transfer")
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def receive(app, client, task_id: int, at: str) -> dict:  # noqa: ANN001
    set_clock(app, at)
    response = client.post(f"/api/v1/tasks/{task_id}/receipt")
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def event_count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(TaskEvent))


# Receipt ---------------------------------------------------------------------------


def test_transfer_sets_receipt_deadline(app, client, task_id) -> None:  # noqa: ANN001
    body = transfer(app, client, task_id)

    assert body["task"]["transferred_at"] == "2026-03-06T09:30:00Z"
    deadlines = {row["kind"]: row["due_at"] for row in body["task"]["service_deadlines"]}
    assert deadlines["receipt"] == RECEIPT_DUE_UTC


def test_receipt_at_deadline_on_time(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)

    body = receive(app, accounts["updater"], task_id, ON_TIME)

    assert body["receipt"]["received_at"] == "2026-03-09T04:30:00Z"
    assert body["receipt"]["due_at"] == RECEIPT_DUE_UTC
    assert body["receipt"]["is_late"] is False
    assert body["receipt"]["received_by"] == "capnhat.tu04"


def test_receipt_minute_after_late(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)

    body = receive(app, accounts["updater"], task_id, LATE)

    assert body["receipt"]["is_late"] is True
    assert body["task"]["received_at"] == "2026-03-09T04:31:00Z"


def test_second_receipt_conflict(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)
    receive(app, accounts["updater"], task_id, ON_TIME)

    response = accounts["approver"].post(f"/api/v1/tasks/{task_id}/receipt")

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_inbox_lists_tasks_to_confirm(app, client, accounts, task_id) -> None:  # noqa: ANN001
    assert accounts["updater"].get("/api/v1/inbox").get_json()["items"] == []
    transfer(app, client, task_id)

    before = accounts["updater"].get("/api/v1/inbox").get_json()
    receive(app, accounts["updater"], task_id, ON_TIME)
    after = accounts["updater"].get("/api/v1/inbox").get_json()

    assert [item["id"] for item in before["items"]] == [task_id]
    assert before["items"][0]["workflow"]["transferred_at"] == "2026-03-06T09:30:00Z"
    assert after["items"] == []
    assert client.get("/api/v1/inbox").get_json()["items"] == []


# Progress updates ------------------------------------------------------------------


def test_update_same_key_stored_once(app, accounts, task_id, session) -> None:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    body = {"reported_state": "in_progress", "progress_percent": 40,
            "results": "Đã hoàn thành dự thảo báo cáo"}
    headers = {"Idempotency-Key": "tu04-2026-04-01-a"}

    first = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates", json=body,
                                     headers=headers)
    set_clock(app, "2026-04-01T09:05:00+07:00")
    second = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates", json=body,
                                      headers=headers)

    assert first.status_code == 201, first.get_data(as_text=True)
    assert second.status_code == first.status_code
    assert second.get_json() == first.get_json()
    assert first.get_json()["update"]["idempotency_key"] == "tu04-2026-04-01-a"
    stored = session.scalar(select(func.count()).select_from(ProgressUpdate)
                            .where(ProgressUpdate.task_id == task_id))
    assert stored == 1


def test_update_key_with_other_content(app, accounts, task_id) -> None:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    headers = {"Idempotency-Key": "tu04-key"}
    url = f"/api/v1/tasks/{task_id}/updates"
    accounts["updater"].post(url, json={"reported_state": "in_progress", "progress_percent": 10},
                             headers=headers)

    response = accounts["updater"].post(url, json={"reported_state": "in_progress",
                                                   "progress_percent": 90}, headers=headers)

    assert response.status_code == 409
    assert "tu04-key" in response.get_json()["detail"]


def test_approve_applies_update(app, accounts, task_id, client) -> None:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    submitted = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates",
                                         json={"reported_state": "in_progress",
                                               "progress_percent": 40})
    update_id = submitted.get_json()["update"]["id"]
    queue = accounts["approver"].get("/api/v1/approvals").get_json()

    set_clock(app, "2026-04-01T10:00:00+07:00")
    response = accounts["approver"].post(f"/api/v1/updates/{update_id}/approve")

    assert [item["id"] for item in queue["items"]] == [update_id]
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["update"]["status"] == "approved"
    assert response.get_json()["update"]["reviewed_by"] == "pheduyet.tu04"
    task = client.get(f"/api/v1/tasks/{task_id}").get_json()
    assert task["reported_state"] == "in_progress"
    assert task["progress_percent"] == 40
    assert accounts["approver"].get("/api/v1/approvals").get_json()["items"] == []


def test_approver_cannot_approve_own(app, accounts, task_id, session) -> None:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    submitted = accounts["both"].post(f"/api/v1/tasks/{task_id}/updates",
                                      json={"reported_state": "in_progress", "progress_percent": 10})
    update_id = submitted.get_json()["update"]["id"]
    events = event_count(session)

    response = accounts["both"].post(f"/api/v1/updates/{update_id}/approve")

    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert "kiemnhiem.tu04" in response.get_json()["detail"]
    assert session.get(ProgressUpdate, update_id).status == "submitted"
    assert event_count(session) == events
    assert accounts["both"].get("/api/v1/approvals").get_json()["items"] == []


def test_return_update_with_comment(app, accounts, task_id) -> None:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    submitted = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates",
                                         json={"reported_state": "in_progress", "progress_percent": 10})
    update_id = submitted.get_json()["update"]["id"]

    response = accounts["approver"].post(f"/api/v1/updates/{update_id}/return",
                                         json={"comment": "Bổ sung số liệu"})

    assert response.status_code == 200
    assert response.get_json()["update"]["status"] == "returned"
    assert response.get_json()["update"]["review_comment"] == "Bổ sung số liệu"


# If-Match --------------------------------------------------------------------------


def test_stale_if_match_conflict(app, accounts, task_id, client, session) -> None:  # noqa: ANN001
    read = client.get(f"/api/v1/tasks/{task_id}")
    version = read.get_json()["version"]
    assert read.headers["ETag"] == f'"{version}"'
    set_clock(app, "2026-04-01T09:00:00+07:00")
    submitted = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates",
                                         json={"reported_state": "in_progress", "progress_percent": 10})
    set_clock(app, "2026-04-01T10:00:00+07:00")
    accounts["approver"].post(f"/api/v1/updates/{submitted.get_json()['update']['id']}/approve")
    events = event_count(session)

    response = client.post(f"/api/v1/tasks/{task_id}/transfer?lang=en",
                           headers={"If-Match": str(version)})

    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    detail = response.get_json()["detail"]
    assert "changed by pheduyet.tu04 at 2026-04-01 10:00 +07:00" in detail
    assert "reload" in detail
    assert event_count(session) == events
    assert client.get(f"/api/v1/tasks/{task_id}").get_json()["transferred_at"] is None


def test_current_if_match_accepted(app, client, task_id) -> None:  # noqa: ANN001
    version = client.get(f"/api/v1/tasks/{task_id}").get_json()["version"]
    set_clock(app, TRANSFER_AT)

    response = client.post(f"/api/v1/tasks/{task_id}/transfer",
                           headers={"If-Match": f'"{version}"'})

    assert response.status_code == 200, response.get_data(as_text=True)


def test_invalid_if_match_rejected(client, task_id) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/tasks/{task_id}/transfer", headers={"If-Match": "*x"})

    assert response.status_code == 422
    assert [error["path"] for error in response.get_json()["errors"]] == ["If-Match"]


# Strict bodies ---------------------------------------------------------------------


def test_body_lists_every_problem(app, accounts, task_id, session) -> None:  # noqa: ANN001
    events = event_count(session)

    response = accounts["updater"].post(
        f"/api/v1/tasks/{task_id}/updates",
        json={"progress_percent": "40", "state": "in_progress", "results": 3},
        headers={"If-Match": "abc"})

    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    paths = sorted(error["path"] for error in response.get_json()["errors"])
    assert paths == ["If-Match", "progress_percent", "reported_state", "results", "state"]
    assert event_count(session) == events


def test_body_must_be_object(client, task_id) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/tasks/{task_id}/explanations", json=["reason"])

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == ""


def test_body_must_be_json(client, task_id) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/tasks/{task_id}/explanations", data="reason=x",
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"


def test_true_is_no_percent(accounts, task_id) -> None:  # noqa: ANN001
    response = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates",
                                        json={"reported_state": "in_progress",
                                              "progress_percent": True})

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "progress_percent"


# Objections and explanations -------------------------------------------------------


def test_objection_lodged_and_decided(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)
    receive(app, accounts["updater"], task_id, ON_TIME)
    set_clock(app, "2026-03-09T14:00:00+07:00")
    lodged = accounts["approver"].post(f"/api/v1/tasks/{task_id}/objections",
                                       json={"kind": "outside_competence",
                                             "reason": "Không thuộc thẩm quyền của tỉnh"})
    assert lodged.status_code == 201, lodged.get_data(as_text=True)
    objection_id = lodged.get_json()["objection"]["id"]
    open_list = client.get("/api/v1/objections?status=open").get_json()

    set_clock(app, "2026-03-10T09:00:00+07:00")
    decided = client.post(f"/api/v1/objections/{objection_id}/decision",
                          json={"accept": False, "reason": "Thuộc nhiệm vụ của tỉnh"})

    assert [item["id"] for item in open_list["items"]] == [objection_id]
    assert decided.status_code == 200, decided.get_data(as_text=True)
    assert decided.get_json()["objection"]["status"] == "rejected"
    assert decided.get_json()["objection"]["decided_late"] is False
    assert client.get("/api/v1/objections?status=open").get_json()["items"] == []
    assert client.get("/api/v1/objections?status=rejected").get_json()["total"] == 1


def test_objection_decision_unknown_unit(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)
    receive(app, accounts["updater"], task_id, ON_TIME)
    set_clock(app, "2026-03-09T14:00:00+07:00")
    lodged = accounts["updater"].post(f"/api/v1/tasks/{task_id}/objections",
                                      json={"kind": "other", "reason": "Lý do"})
    objection_id = lodged.get_json()["objection"]["id"]

    response = client.post(f"/api/v1/objections/{objection_id}/decision",
                           json={"reassign_to": 999999, "extra": 1})

    assert response.status_code == 422
    paths = sorted(error["path"] for error in response.get_json()["errors"])
    assert paths == ["accept", "extra", "reassign_to"]


def test_objections_status_checked(client) -> None:  # noqa: ANN001
    response = client.get("/api/v1/objections?status=closed")

    assert response.status_code == 400
    assert response.get_json()["errors"][0]["path"] == "status"


def test_explanation_requested_and_answered(app, client, accounts, task_id) -> None:  # noqa: ANN001
    set_clock(app, "2026-05-04T08:00:00+07:00")
    requested = client.post(f"/api/v1/tasks/{task_id}/explanations",
                            json={"reason": "Chưa báo cáo tiến độ quý I"})
    assert requested.status_code == 201, requested.get_data(as_text=True)
    explanation_id = requested.get_json()["explanation"]["id"]

    set_clock(app, "2026-05-05T08:00:00+07:00")
    answered = accounts["updater"].post(f"/api/v1/explanations/{explanation_id}/answer",
                                        json={"text": "Đang tổng hợp số liệu"})

    assert answered.status_code == 200, answered.get_data(as_text=True)
    body = answered.get_json()["explanation"]
    assert body["status"] == "answered"
    assert body["answered_by"] == "capnhat.tu04"
    assert body["answered_at"] == "2026-05-05T01:00:00Z"


def test_timeline_lists_steps(app, client, accounts, task_id) -> None:  # noqa: ANN001
    transfer(app, client, task_id)
    receive(app, accounts["updater"], task_id, ON_TIME)

    body = accounts["updater"].get(f"/api/v1/tasks/{task_id}/timeline").get_json()

    assert [event["kind"] for event in body["events"]] == ["created", "task.transfer",
                                                          "task.receipt"]
    assert [event["actor"] for event in body["events"][1:]] == ["vanphong.test", "capnhat.tu04"]
    assert [row["is_late"] for row in body["receipts"]] == [False]
    assert body["updates"] == []
    assert body["task"]["received_at"] == "2026-03-09T04:30:00Z"


def test_missing_records_not_found(client) -> None:  # noqa: ANN001
    for url in ("/api/v1/tasks/999999/transfer", "/api/v1/objections/999999/decision",
                "/api/v1/updates/999999/approve", "/api/v1/explanations/999999/answer"):
        response = client.post(url, json={})
        assert response.status_code == 404, url
        assert response.mimetype == "application/problem+json", url
