"""Directives from a parent to its child nodes: queued with the change, applied once, passed on."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from node.federation import links
from node.federation.client import queue_message
from node.federation.content_models import SentDirective, TaskLink
from node.federation.hooks import PENDING_INFO_KEY
from node.federation.models import Peer
from node.local_tasks.models import Document, GroupAssignment, Task, TaskEvent
from node.local_tasks.workflow import update_task_fields
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    SUB_UNIT,
    add_document,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
    pump,
    task_for,
)


def payload_of(message) -> dict:  # noqa: ANN001
    return json.loads(message.body.decode("utf-8"))["payload"]


@pytest.fixture
def centre_and_province(make_node):  # noqa: ANN001, ANN201, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    return centre, province


def test_directive_carries_only_child_tasks(centre_and_province) -> None:  # noqa: ANN001
    centre, province = centre_and_province
    with centre.session() as session:
        add_document(session, "12-NQ/TW", [
            task_for(session, "TU01", content="Nhiệm vụ của Hà Nội"),
            task_for(session, "TU79", content="Nhiệm vụ của TP Hồ Chí Minh"),
            task_for(session, SUB_UNIT[2], content="Nhiệm vụ của Ban Tuyên giáo",
                     coordinating=["TU79"]),
        ])

    messages = outbox(centre, message_type="directive")
    assert [message.recipient_node_id for message in messages] == [PROVINCE[0]]
    payload = payload_of(messages[0])
    assert [task["content"] for task in payload["tasks"]] == ["Nhiệm vụ của Hà Nội",
                                                             "Nhiệm vụ của Ban Tuyên giáo"]
    assert payload["document"]["summary"] == "Trích yếu văn bản"
    assert payload["document"]["task_count"] == 3

    results = pump(centre, province)
    assert results == [{"type": "directive", "status": "applied", "document_reference": "12-NQ/TW",
                        "created": 2, "updated": 0, "unchanged": 0, "withdrawn": 0}]
    with province.session() as session:
        tasks = session.scalars(select(Task).order_by(Task.position)).all()
        assert [task.content for task in tasks] == ["Nhiệm vụ của Hà Nội",
                                                    "Nhiệm vụ của Ban Tuyên giáo"]
        assert [[(link.org_unit.code, link.role) for link in task.agencies] for task in tasks] == [
            [("TU01", "lead")], [(SUB_UNIT[2], "lead"), ("TU79", "coordinating")]]
        assert all(task.transferred_at is not None for task in tasks)
        # The receipt deadline is computed from the parent's transfer instant.
        assert all(any(row.kind == "receipt" and row.due_at for row in task.deadlines)
                   for task in tasks)
        refs = session.scalars(select(TaskLink.task_ref).order_by(TaskLink.id)).all()
    with centre.session() as session:
        sent = session.scalars(select(TaskLink.task_ref).where(TaskLink.direction == "sent")
                               .order_by(TaskLink.id)).all()
    assert refs == sent


def test_directive_applied_twice_changes_nothing(centre_and_province) -> None:  # noqa: ANN001
    centre, province = centre_and_province
    with centre.session() as session:
        add_document(session, "13-NQ/TW", [task_for(session, "TU01")])
    pump(centre, province)
    with province.session() as session:
        before = [(task.id, task.version, task.updated_at)
                  for task in session.scalars(select(Task))]
        events_before = session.scalar(select(func.count()).select_from(TaskEvent))
        document_version = session.scalar(select(Document.version))

    with centre.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        again = payload_of(outbox(centre, message_type="directive")[0])
        queue_message(session, centre.settings, peer, "directive", again)
    results = pump(centre, province)

    assert results[0]["created"] == 0
    assert results[0]["unchanged"] == 1
    with province.session() as session:
        after = [(task.id, task.version, task.updated_at)
                 for task in session.scalars(select(Task))]
        assert after == before
        assert session.scalar(select(func.count()).select_from(TaskEvent)) == events_before
        assert session.scalar(select(Document.version)) == document_version
    # Applying the directive queued nothing back to the centre.
    assert outbox(province) == []


def test_directive_sent_only_on_change(centre_and_province) -> None:  # noqa: ANN001
    centre, province = centre_and_province
    with centre.session() as session:
        document = add_document(session, "14-NQ/TW", [task_for(session, "TU01")])
        task_id = document.tasks[0].id
    with centre.session() as session:
        task = session.get(Task, task_id)
        update_task_fields(session, task, expected_version=task.version, actor="cán bộ",
                           content="Nội dung nhiệm vụ")
    assert len(outbox(centre, message_type="directive")) == 1

    with centre.session() as session:
        task = session.get(Task, task_id)
        update_task_fields(session, task, expected_version=task.version, actor="cán bộ",
                           content="Nội dung đã sửa")
    messages = outbox(centre, message_type="directive")
    assert len(messages) == 2
    assert payload_of(messages[1])["tasks"][0]["content"] == "Nội dung đã sửa"

    results = pump(centre, province)
    assert [(result["created"], result["updated"]) for result in results] == [(1, 0), (0, 1)]
    with province.session() as session:
        assert session.scalar(select(Task.content)) == "Nội dung đã sửa"


def test_progress_change_skips_directive_check(centre_and_province) -> None:  # noqa: ANN001
    centre, _ = centre_and_province
    with centre.session() as session:
        document = add_document(session, "15-NQ/TW", [task_for(session, "TU01")])
        task_id, document_id = document.tasks[0].id, document.id

    with centre.session() as session:
        task = session.get(Task, task_id)
        task.reported_state = "in_progress"
        task.progress_percent = 40
        session.flush()
        # Progress is not part of a directive, so the document is not compared again.
        assert document_id not in session.info[PENDING_INFO_KEY].document_ids

        task.content = "Nội dung đã sửa"
        session.flush()
        assert document_id in session.info[PENDING_INFO_KEY].document_ids


def test_directive_held_while_link_suspended(centre_and_province) -> None:  # noqa: ANN001
    centre, province = centre_and_province
    with centre.session() as session:
        links.suspend(session, PROVINCE[0])
    with centre.session() as session:
        add_document(session, "26-NQ/TW", [task_for(session, "TU01")])
    [message] = outbox(centre, recipient=PROVINCE[0], message_type="directive")
    assert message.sent_at is None

    with centre.session() as session:
        links.resume(session, PROVINCE[0])
    assert [result["status"] for result in pump(centre, province)] == ["applied"]
    with province.session() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1


def test_unknown_agency_kept_as_text(centre_and_province) -> None:  # noqa: ANN001
    centre, province = centre_and_province
    with centre.session() as session:
        add_document(session, "15-NQ/TW", [task_for(session, "TU01")])
    message = outbox(centre, message_type="directive")[0]
    payload = payload_of(message)
    payload["document"]["reference"] = "16-NQ/TW"
    payload["tasks"][0]["task_ref"] = "centre/extra"
    payload["tasks"][0]["agencies"] = [
        {"org_unit_code": "XX-MOI", "role": "lead", "org_unit_name": "Ban Chỉ đạo mới"},
        {"org_unit_code": "TU79", "role": "coordinating"}]
    with centre.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        queue_message(session, centre.settings, peer, "directive", payload)
    pump(centre, province)

    with province.session() as session:
        document = session.scalar(select(Document).where(Document.reference == "16-NQ/TW"))
        task = document.tasks[0]
        # The unknown lead is kept as text, and the node's own unit leads the task here.
        assert [(link.org_unit.code, link.role) for link in task.agencies] == [
            ("TU01", "lead"), ("TU79", "coordinating")]
        groups = session.scalars(select(GroupAssignment.text)).all()
        assert groups == ["Ban Chỉ đạo mới (XX-MOI)"]


def test_reassigned_task_withdrawn(centre_and_province) -> None:  # noqa: ANN001
    from node.local_tasks.models import OrgUnit, TaskAgency

    centre, province = centre_and_province
    with centre.session() as session:
        document = add_document(session, "17-NQ/TW", [task_for(session, "TU01"),
                                                      task_for(session, "TU01")])
        task_id = document.tasks[1].id
    pump(centre, province)
    with centre.session() as session:
        task = session.get(Task, task_id)
        other = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU79"))
        for link_row in list(task.agencies):
            task.agencies.remove(link_row)
        task.agencies.append(TaskAgency(org_unit=other, role="lead"))
    payload = payload_of(outbox(centre, message_type="directive")[-1])
    assert len(payload["tasks"]) == 1
    assert payload["withdrawn_task_refs"] == [f"centre/{task_id}"]

    results = pump(centre, province)
    assert results[0]["withdrawn"] == 1
    with province.session() as session:
        assert session.scalar(select(func.count()).select_from(Task)) == 1
    with centre.session() as session:
        state = session.scalar(select(SentDirective))
        assert state.task_refs == [payload["tasks"][0]["task_ref"]]


def test_province_passes_directive_to_sub_unit(make_node) -> None:  # noqa: ANN001, F811
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    link(centre, province)
    link(province, sub_unit)
    with centre.session() as session:
        add_document(session, "18-NQ/TW", [
            task_for(session, "TU01", content="Thành ủy chủ trì"),
            task_for(session, SUB_UNIT[2], content="Ban Tuyên giáo chủ trì"),
        ])
    pump(centre, province)

    # The province queued the sub-unit's task in the transaction that applied the directive.
    passed = outbox(province, message_type="directive")
    assert [message.recipient_node_id for message in passed] == [SUB_UNIT[0]]
    assert [task["content"] for task in payload_of(passed[0])["tasks"]] == [
        "Ban Tuyên giáo chủ trì"]
    results = pump(province, sub_unit)
    assert results[0]["created"] == 1
    with sub_unit.session() as session:
        task = session.scalar(select(Task))
        assert task.content == "Ban Tuyên giáo chủ trì"
        link_row = session.scalar(select(TaskLink))
        assert link_row.peer_node_id == PROVINCE[0]
        assert link_row.task_ref.startswith(f"{PROVINCE[0]}/")


def test_absolutely_secret_directive_rejected(centre_and_province) -> None:  # noqa: ANN001
    from node.core.errors import ValidationError
    from node.federation.envelope import EnvelopeRejected
    from node.federation.identity import load_private_key
    from node.federation.service import receive_message
    from tests.federation.helpers import envelope_for, wire

    centre, province = centre_and_province
    payload = {"document": {"reference": "1-NQ/TW", "number": "1", "symbol": "NQ/TW",
                            "confidentiality": "absolutely_secret"},
               "tasks": [{"task_ref": "centre/1", "position": 0,
                          "confidentiality": "absolutely_secret",
                          "agencies": [{"org_unit_code": "TU01", "role": "lead"}]}],
               "transferred_at": "2026-03-02T00:00:00Z"}
    with pytest.raises(ValidationError), centre.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        queue_message(session, centre.settings, peer, "directive", payload)

    raw = wire(envelope_for(load_private_key(centre.settings), sender=CENTRE[0],
                            recipient=PROVINCE[0], message_type="directive", payload=payload))
    with pytest.raises(EnvelopeRejected) as caught, province.session() as session:
        receive_message(session, province.settings, raw)
    assert caught.value.reason == "schema_invalid"
    assert "payload/document/confidentiality" in [problem.path
                                                  for problem in caught.value.problems]
    with province.session() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0
