"""The parent's decision on a child's objection travels down and is applied at the child."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from node.core.db import utcnow
from node.federation import links
from node.federation.envelope import EnvelopeRejected
from node.federation.identity import load_private_key
from node.federation.models import Peer
from node.federation.service import receive_message
from node.local_tasks.calendar import load_calendar
from node.local_tasks.models import OrgUnit, Task, TaskEvent
from node.local_tasks.workflow import confirm_receipt, decide_objection, lodge_objection
from node.local_tasks.workflow.models import Objection
from tests.federation.helpers import envelope_for, wire
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    SUB_UNIT,
    SUB_UNIT_NAME,
    add_document,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
    pump,
    task_for,
)

DEADLINE = date(2027, 6, 30)
OBJECTION_REASON = "Nhiệm vụ thuộc thẩm quyền Chính phủ"
REJECTION_REASON = "Nhiệm vụ thuộc chức năng của Thành ủy"


def _lodge_at(node, task_id: int) -> None:  # noqa: ANN001
    """Confirm receipt of the task at `node` and object to it a minute later."""
    calendar = load_calendar(node.settings)
    received_at = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    with node.session() as session:
        task = session.get(Task, task_id)
        confirm_receipt(session, task, at=received_at, actor="Văn thư", calendar=calendar)
        lodge_objection(session, task, at=received_at + timedelta(minutes=1),
                        actor="Chánh Văn phòng", reason=OBJECTION_REASON,
                        kind="outside_competence", calendar=calendar)


def _decide_at_centre(centre, *, accept: bool, reason: str | None = None,  # noqa: ANN001
                      reassign_code: str | None = None) -> None:
    with centre.session() as session:
        objection = session.scalar(select(Objection))
        reassign_to = None
        if reassign_code:
            reassign_to = session.scalar(select(OrgUnit).where(OrgUnit.code == reassign_code))
        decide_objection(session, objection, at=objection.lodged_at + timedelta(minutes=5),
                         actor="Phó Chánh Văn phòng Trung ương", accept=accept, reason=reason,
                         reassign_to=reassign_to)


def _decision_events(session, task_id: int) -> list[TaskEvent]:  # noqa: ANN001
    return list(session.scalars(select(TaskEvent).where(
        TaskEvent.task_id == task_id, TaskEvent.kind == "task.objection_decision")))


@pytest.fixture
def objected(make_node):  # noqa: ANN001, ANN201, F811
    """A province that objected to a task of the centre, and the centre that has the objection."""
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        add_document(session, "20-NQ/TW", [task_for(session, "TU01", deadline=DEADLINE)])
    pump(centre, province)
    with province.session() as session:
        province_task_id = session.scalar(select(Task.id))
    _lodge_at(province, province_task_id)
    assert [result["status"] for result in pump(province, centre)] == ["applied", "applied"]
    return centre, province, province_task_id


def test_rejection_reaches_child(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    _decide_at_centre(centre, accept=False, reason=REJECTION_REASON)

    messages = outbox(centre, recipient=PROVINCE[0], message_type="objection_decision")
    assert len(messages) == 1
    payload = json.loads(messages[0].body)["payload"]
    assert payload["decision"] == "rejected"
    assert payload["reason"] == REJECTION_REASON
    assert payload["decided_by"] == "Phó Chánh Văn phòng Trung ương"
    assert "reassigned_to" not in payload

    results = pump(centre, province)
    assert [(result["type"], result["status"]) for result in results] == [
        ("objection_decision", "applied")]
    with province.session() as session:
        objection = session.scalar(select(Objection))
        assert objection.status == "rejected"
        assert objection.decision_reason == REJECTION_REASON
        assert objection.decided_by == f"Phó Chánh Văn phòng Trung ương ({CENTRE[0]})"
        [event] = _decision_events(session, task_id)
        assert event.detail["outcome"] == "rejected"
        assert event.detail["decision_reason"] == REJECTION_REASON
        # The task stays with the province.
        assert session.get(Task, task_id) is not None
    # The decision at the child goes nowhere: the province's objection came from no child.
    assert outbox(province, message_type="objection_decision") == []


def test_decision_held_while_link_suspended(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    with centre.session() as session:
        links.suspend(session, PROVINCE[0])
    _decide_at_centre(centre, accept=False, reason=REJECTION_REASON)

    # The decision is queued although the child cannot pull it yet.
    [message] = outbox(centre, recipient=PROVINCE[0], message_type="objection_decision")
    assert message.sent_at is None
    with centre.session() as session:
        links.resume(session, PROVINCE[0])

    results = pump(centre, province)
    assert [(result["type"], result["status"]) for result in results] == [
        ("objection_decision", "applied")]
    with province.session() as session:
        assert session.scalar(select(Objection.status)) == "rejected"
        assert len(_decision_events(session, task_id)) == 1


def test_repeated_decision_changes_nothing(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    _decide_at_centre(centre, accept=False, reason=REJECTION_REASON)
    [message] = outbox(centre, message_type="objection_decision")
    pump(centre, province)

    # A repeat gets the stored result and decides nothing again.
    with province.session() as session:
        receipt = receive_message(session, province.settings, message.body)
    assert receipt.result["status"] == "applied"
    with province.session() as session:
        assert len(_decision_events(session, task_id)) == 1


def test_reassignment_outside_child_withdraws_task(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    _decide_at_centre(centre, accept=True, reassign_code="TU79")

    # The decision comes before the directive that withdraws the task.
    messages = outbox(centre, recipient=PROVINCE[0])
    assert [message.message_type for message in messages[-2:]] == [
        "objection_decision", "directive"]
    payload = json.loads(messages[-2].body)["payload"]
    assert payload["decision"] == "accepted"
    assert payload["reassigned_to"]["org_unit_code"] == "TU79"
    assert json.loads(messages[-1].body)["payload"]["withdrawn_task_refs"] == [
        payload["task_ref"]]

    results = pump(centre, province)
    assert [(result["type"], result["status"]) for result in results] == [
        ("objection_decision", "applied"), ("directive", "applied")]
    assert results[0]["decision"] == "accepted"
    assert results[1]["withdrawn"] == 1
    with province.session() as session:
        assert session.get(Task, task_id) is None


def test_reassignment_inside_child_changes_task(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    _decide_at_centre(centre, accept=True, reason="Giao Ban Tuyên giáo chủ trì",
                      reassign_code=SUB_UNIT[2])

    results = pump(centre, province)
    assert [(result["type"], result["status"]) for result in results] == [
        ("objection_decision", "applied"), ("directive", "applied")]
    assert results[1]["updated"] == 1
    with province.session() as session:
        task = session.get(Task, task_id)
        assert [(link.org_unit.code, link.role) for link in task.agencies] == [
            (SUB_UNIT[2], "lead")]
        objection = session.scalar(select(Objection))
        assert objection.status == "accepted"
        assert objection.decision_reason == "Giao Ban Tuyên giáo chủ trì"
        [event] = _decision_events(session, task_id)
        assert event.detail["outcome"] == "accepted"
        assert event.detail["reassigned_to"] == f"{SUB_UNIT_NAME} ({SUB_UNIT[2]})"


def test_decision_shown_in_task_history(objected) -> None:  # noqa: ANN001
    from node import create_app
    from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code

    centre, province, task_id = objected
    _decide_at_centre(centre, accept=True, reason="Giao Ban Tuyên giáo chủ trì",
                      reassign_code=SUB_UNIT[2])
    pump(centre, province)
    with province.session() as session:
        user = create_user(session, username="vanphong.tu01", full_name="Cán bộ Văn phòng",
                           password="mat-khau-van-phong-2026")
        grant_role(session, user, "central_officer", org_unit_by_code(session, "TU01"))
        _, token = create_api_token(session, user, "tests")

    app = create_app(province.settings)
    try:
        response = app.test_client().get(f"/tasks/{task_id}",
                                         headers={"Authorization": f"Bearer {token}"})
    finally:
        # The node's database is dropped after the test, so no pooled connection may stay open.
        app.extensions["theodoi_engine"].dispose()
    assert response.status_code == 200
    markup = response.get_data(as_text=True)
    assert "Xử lý kiến nghị" in markup
    assert "<td>Chấp nhận</td>" in markup
    assert "Lý do: Giao Ban Tuyên giáo chủ trì" in markup
    assert f"Giao lại cho: {SUB_UNIT_NAME} ({SUB_UNIT[2]})" in markup
    assert f"Phó Chánh Văn phòng Trung ương ({CENTRE[0]})" in markup


@pytest.fixture
def objected_by_sub_unit(make_node):  # noqa: ANN001, ANN201, F811
    """Three linked levels, and a sub-unit objection that reached the centre through the province.

    Returns the three nodes and the task's id at the sub-unit.
    """
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    link(centre, province)
    link(province, sub_unit)
    with centre.session() as session:
        add_document(session, "18-NQ/TW", [task_for(session, SUB_UNIT[2], deadline=DEADLINE)])
    pump(centre, province)
    pump(province, sub_unit)
    with sub_unit.session() as session:
        sub_unit_task_id = session.scalar(select(Task.id))

    # The objection goes up two levels: the province forwards it to the centre.
    _lodge_at(sub_unit, sub_unit_task_id)
    pump(sub_unit, province)
    assert [result["type"] for result in pump(province, centre)] == [
        "receipt_confirmation", "objection"]
    return centre, province, sub_unit, sub_unit_task_id


def test_decision_passes_through_province(objected_by_sub_unit) -> None:  # noqa: ANN001
    centre, province, sub_unit, sub_unit_task_id = objected_by_sub_unit
    _decide_at_centre(centre, accept=False, reason=REJECTION_REASON)
    assert [(result["type"], result["status"]) for result in pump(centre, province)] == [
        ("objection_decision", "applied")]
    # The province decided its own copy, so the decision goes on to the sub-unit.
    assert [(result["type"], result["status"]) for result in pump(province, sub_unit)] == [
        ("objection_decision", "applied")]
    with sub_unit.session() as session:
        objection = session.scalar(select(Objection))
        assert objection.status == "rejected"
        assert objection.decision_reason == REJECTION_REASON
        # Each level names the node that decided.
        assert objection.decided_by == (
            f"Phó Chánh Văn phòng Trung ương ({CENTRE[0]}) ({PROVINCE[0]})")
        assert len(_decision_events(session, sub_unit_task_id)) == 1


def test_province_decision_before_centre(objected_by_sub_unit) -> None:  # noqa: ANN001
    centre, province, sub_unit, _ = objected_by_sub_unit

    # The province decides its sub-unit's objection itself, then the centre decides too.
    with province.session() as session:
        objection = session.scalar(select(Objection))
        decide_objection(session, objection, at=objection.lodged_at + timedelta(minutes=2),
                         actor="Chánh Văn phòng Thành ủy", accept=False,
                         reason="Thành ủy giữ nguyên phân công")
    _decide_at_centre(centre, accept=False, reason=REJECTION_REASON)
    assert [(result["type"], result["status"]) for result in pump(centre, province)] == [
        ("objection_decision", "unchanged")]
    assert [(result["type"], result["status"]) for result in pump(province, sub_unit)] == [
        ("objection_decision", "applied")]
    with sub_unit.session() as session:
        objection = session.scalar(select(Objection))
        assert objection.decision_reason == "Thành ủy giữ nguyên phân công"


def test_rejection_without_reason_invalid(objected) -> None:  # noqa: ANN001
    centre, province, task_id = objected
    with centre.session() as session:
        objection = session.scalar(select(Objection))
        lodged_at = objection.lodged_at
    payload = {"document_reference": "20-NQ/TW", "task_ref": f"{CENTRE[0]}/1",
               "objection_submitted_at": lodged_at.isoformat(), "decision": "rejected",
               "decided_at": utcnow().isoformat(), "decided_by": "Văn phòng Trung ương"}

    # The sender checks the payload before queueing it.
    from node.core.errors import ValidationError
    from node.federation.client import queue_message

    with pytest.raises(ValidationError) as caught, centre.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        queue_message(session, centre.settings, peer, "objection_decision", payload)
    [problem] = caught.value.problems
    assert problem.path == "payload"
    assert "'reason' is a required property" in problem.message
    reassigned = {**payload, "reason": REJECTION_REASON,
                  "reassigned_to": {"org_unit_code": "TU79", "org_unit_name": "Thành ủy"}}
    with pytest.raises(ValidationError) as caught, centre.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        queue_message(session, centre.settings, peer, "objection_decision", reassigned)
    [problem] = caught.value.problems
    assert problem.path == "payload/reassigned_to"
    assert problem.message == "is allowed only when the decision is accepted"

    # The receiver validates it again, even when the parent signed it.
    envelope = envelope_for(load_private_key(centre.settings), recipient=PROVINCE[0],
                            sender=CENTRE[0], sequence=50, message_type="objection_decision",
                            payload=payload)
    with pytest.raises(EnvelopeRejected) as rejected, province.session() as session:
        receive_message(session, province.settings, wire(envelope))
    assert rejected.value.reason == "schema_invalid"
    with province.session() as session:
        assert session.scalar(select(Objection)).status == "open"
        assert _decision_events(session, task_id) == []
