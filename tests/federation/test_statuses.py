"""Receipts, objections and approved statuses travel from the child to the parent's task."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from node.audit.models import AuditEntry
from node.core.db import utcnow
from node.dashboard import counters
from node.federation.aggregates import queue_aggregate_report
from node.federation.client import queue_message
from node.federation.envelope import format_timestamp, parse_timestamp
from node.federation.models import InboxMessage, OutboxMessage, Peer
from node.local_tasks.calendar import load_calendar
from node.local_tasks.inputs import DeadlineInput, TaskInput
from node.local_tasks.completion import level_of
from node.local_tasks.models import Task, TaskEvent
from node.local_tasks.workflow import (
    approve_update,
    confirm_receipt,
    lodge_objection,
    submit_update,
)
from node.local_tasks.workflow.models import LeadAgencyState, Objection, ProgressUpdate
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
    unit_name,
)

DEADLINE = date(2027, 6, 30)
CONFIDENTIAL_FIELDS = {"summary", "content", "product", "section", "result_summary", "milestone",
                       "difficulties", "next_steps"}


@pytest.fixture
def assigned(make_node):  # noqa: ANN001, ANN201, F811
    """A centre and a province node, and a regular task the centre assigned to the province."""
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        document = add_document(session, "20-NQ/TW", [task_for(session, "TU01",
                                                               deadline=DEADLINE)])
        centre_task_id = document.tasks[0].id
    pump(centre, province)
    with province.session() as session:
        province_task_id = session.scalar(select(Task.id))
    return centre, province, centre_task_id, province_task_id


def test_receipt_and_objection_reach_parent(assigned) -> None:  # noqa: ANN001
    centre, province, centre_task_id, province_task_id = assigned
    calendar = load_calendar(province.settings)
    received_at = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    with province.session() as session:
        task = session.get(Task, province_task_id)
        confirm_receipt(session, task, at=received_at, actor="Văn thư Thành ủy", calendar=calendar)
    assert [message.message_type for message in outbox(province)] == ["receipt_confirmation"]
    assert pump(province, centre)[0]["confirmed"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.received_at == received_at
        assert task.transferred_at is not None

    with province.session() as session:
        task = session.get(Task, province_task_id)
        lodge_objection(session, task, at=received_at + timedelta(minutes=5),
                        actor="Chánh Văn phòng", reason="Nhiệm vụ thuộc thẩm quyền Chính phủ",
                        kind="outside_competence", calendar=calendar)
    results = pump(province, centre)
    assert results[0]["status"] == "applied"
    with centre.session() as session:
        objection = session.scalar(select(Objection))
        assert objection.task_id == centre_task_id
        assert objection.reason == "Nhiệm vụ thuộc thẩm quyền Chính phủ"
        assert objection.kind == "outside_competence"
        assert objection.status == "open"
        assert objection.lodged_by == f"Chánh Văn phòng ({PROVINCE[0]})"
        # The centre's feedback deadline (1 working day) starts from the objection.
        assert objection.feedback_due_at is not None


def test_only_approved_updates_travel(assigned) -> None:  # noqa: ANN001
    centre, province, centre_task_id, province_task_id = assigned
    now = utcnow().replace(microsecond=0) - timedelta(minutes=2)
    with province.session() as session:
        update_id = submit_update(session, session.get(Task, province_task_id), at=now,
                                  actor="Chuyên viên", reported_state="in_progress",
                                  progress_percent=40, milestone="Đã xây dựng dự thảo").id
    assert outbox(province) == []

    with province.session() as session:
        approve_update(session, session.get(ProgressUpdate, update_id), at=now,
                       actor="Lãnh đạo Văn phòng")
    messages = outbox(province, message_type="task_status")
    assert len(messages) == 1
    update = json.loads(messages[0].body)["payload"]["updates"][0]
    assert update["reported_state"] == "in_progress"
    assert update["progress_percent"] == 40
    assert update["milestone"] == "Đã xây dựng dự thảo"
    assert update["reported_by"] == "Chuyên viên"
    assert update["approved_by"] == "Lãnh đạo Văn phòng"

    assert pump(province, centre)[0]["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "in_progress"
        assert task.progress_percent == 40
        assert level_of(task, utcnow()) == "in_progress_on_time"

    completed_at = now + timedelta(minutes=1)
    with province.session() as session:
        update_id = submit_update(session, session.get(Task, province_task_id), at=completed_at,
                                  actor="Chuyên viên", reported_state="completed",
                                  progress_percent=100, results="Đã ban hành kế hoạch").id
        approve_update(session, session.get(ProgressUpdate, update_id), at=completed_at,
                       actor="Lãnh đạo Văn phòng")
    pump(province, centre)
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "completed"
        assert task.completed_at == completed_at
        assert task.result_summary == "Đã ban hành kế hoạch"
        # The deadline is in 2027, so the completion is on time.
        assert level_of(task, utcnow()) == "completed_on_time"
        approved = session.scalars(select(ProgressUpdate).where(
            ProgressUpdate.status == "approved")).all()
        assert len(approved) == 2
        # The child's maker and checker, each named with the child node.
        assert {row.submitted_by for row in approved} == {f"Chuyên viên ({PROVINCE[0]})"}
        assert {row.reviewed_by for row in approved} == {f"Lãnh đạo Văn phòng ({PROVINCE[0]})"}


def test_sub_unit_status_reaches_centre(make_node) -> None:  # noqa: ANN001, F811
    """A sub-unit's approved update of a centre task is applied at the province and passed on."""
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    link(centre, province)
    link(province, sub_unit)
    with centre.session() as session:
        document = add_document(session, "21-NQ/TW", [task_for(session, SUB_UNIT[2],
                                                               deadline=DEADLINE)])
        centre_task_id = document.tasks[0].id
    pump(centre, province)
    pump(province, sub_unit)
    with sub_unit.session() as session:
        [sub_unit_task_id] = session.scalars(select(Task.id)).all()

    completed_at = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    with sub_unit.session() as session:
        update = submit_update(session, session.get(Task, sub_unit_task_id), at=completed_at,
                               actor="Chuyên viên phường", reported_state="completed",
                               progress_percent=100, results="Đã tổ chức quán triệt")
        approve_update(session, update, at=completed_at, actor="Bí thư Đảng ủy phường")
    assert pump(sub_unit, province)[0]["applied"] == 1

    # The province's copy is approved in the same transaction, which queues it for the centre.
    [message] = outbox(province, recipient=CENTRE[0], message_type="task_status")
    forwarded = json.loads(message.body)["payload"]["updates"][0]
    assert forwarded["reported_state"] == "completed"
    assert parse_timestamp(forwarded["completed_at"]) == completed_at
    assert pump(province, centre)[0]["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "completed"
        assert task.completed_at == completed_at
        assert task.result_summary == "Đã tổ chức quán triệt"
        assert level_of(task, utcnow()) == "completed_on_time"


def test_status_of_unknown_task_rejected(assigned) -> None:  # noqa: ANN001
    from node.federation.client import queue_message
    from node.federation.envelope import EnvelopeRejected
    from node.federation.models import Peer
    from node.federation.service import receive_message
    from tests.federation.helpers import task_status_payload

    centre, province, centre_task_id, _ = assigned
    with province.session() as session:
        parent = session.scalar(select(Peer))
        message = queue_message(session, province.settings, parent, "task_status",
                                task_status_payload(task_ref=f"centre/{centre_task_id + 1}"))
    with pytest.raises(EnvelopeRejected) as caught, centre.session() as session:
        receive_message(session, centre.settings, message.body)
    assert caught.value.reason == "not_applicable"
    assert f"centre/{centre_task_id + 1}" in caught.value.message
    with centre.session() as session:
        assert session.get(Task, centre_task_id).reported_state == "not_started"


def test_confidential_payloads_carry_no_content(make_node) -> None:  # noqa: ANN001, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        add_document(session, "21-NQ/TW", [task_for(session, "TU01", content=None,
                                                    deadline=DEADLINE)],
                     confidentiality="confidential")
    pump(centre, province)
    calendar = load_calendar(province.settings)
    now = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    with province.session() as session:
        task = session.scalar(select(Task))
        assert task.confidentiality == "confidential"
        confirm_receipt(session, task, at=now, actor="Văn thư", calendar=calendar)
        lodge_objection(session, task, at=now, actor="Chánh Văn phòng", reason="Cần làm rõ",
                        kind="other", calendar=calendar)
        update = submit_update(session, task, at=now, actor="Chuyên viên",
                               reported_state="completed", progress_percent=100)
        approve_update(session, update, at=now, actor="Lãnh đạo")
        queue_aggregate_report(session, province.settings, "year", date(2026, 1, 1))
    pump(province, centre)

    payloads = []
    for node in (centre, province):
        with node.session() as session:
            payloads += [json.loads(row.body)["payload"]
                         for row in session.scalars(select(OutboxMessage))]
    types = sorted({row.message_type for node in (centre, province) for row in outbox(node)})
    assert types == ["aggregate_report", "directive", "objection", "receipt_confirmation",
                     "task_status"]

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {key for item in value.values() for key in keys(item)}
        if isinstance(value, list):
            return {key for item in value for key in keys(item)}
        return set()

    for payload in payloads:
        assert keys(payload) & CONFIDENTIAL_FIELDS == set(), payload
    directive = next(payload for payload in payloads if "document" in payload)
    assert directive["document"]["confidentiality"] == "confidential"
    assert directive["document"]["task_count"] == 1
    status = next(payload for payload in payloads if "updates" in payload)["updates"][0]
    assert status["reported_state"] == "completed"
    assert status["confidentiality"] == "confidential"
    with centre.session() as session:
        assert session.scalar(select(Task.reported_state)) == "completed"


def report(task_ref: str, state: str, at, *, percent: int, results: str | None = None,  # noqa: ANN001
           approved_by: str = "Lãnh đạo Văn phòng") -> dict:
    """Return one approved update of a task_status payload, as a child builds it."""
    entry = {"task_ref": task_ref, "reported_state": state, "confidentiality": "regular",
             "reported_at": format_timestamp(at), "approved_at": format_timestamp(at),
             "approved_by": approved_by, "reported_by": "Chuyên viên",
             "progress_percent": percent}
    if state == "completed":
        entry["completed_at"] = format_timestamp(at)
    if results:
        entry["result_summary"] = results
    return entry


def send_reports(child, parent, *entries: dict) -> list[dict]:  # noqa: ANN001
    """Queue one task_status message per entry at `child` and deliver them to `parent`."""
    with child.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == parent.node_id))
        for entry in entries:
            queue_message(session, child.settings, peer, "task_status", {"updates": [entry]})
    return pump(child, parent)


def test_status_applied_in_one_step(assigned) -> None:  # noqa: ANN001
    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    with centre.session() as session:
        counters.rebuild(session)
        audit_entries = session.query(AuditEntry).count()
        events = session.query(TaskEvent).count()
    # Two days ago, so before the counters' horizon (the start of today in Vietnam).
    at = utcnow().replace(microsecond=0) - timedelta(days=2)

    results = send_reports(province, centre, report(task_ref, "completed", at, percent=100,
                                                    results="Đã ban hành kế hoạch"))
    assert results[0]["applied"] == 1
    with centre.session() as session:
        update = session.scalar(select(ProgressUpdate))
        assert update.status == "approved"
        assert update.submitted_by == f"Chuyên viên ({PROVINCE[0]})"
        assert update.reviewed_by == f"Lãnh đạo Văn phòng ({PROVINCE[0]})"
        assert update.reviewed_at == at
        new_events = session.scalars(select(TaskEvent).order_by(TaskEvent.id)).all()[events:]
        assert [event.kind for event in new_events] == ["task.progress_approve"]
        assert new_events[0].detail["object_id"] == update.id
        # The exchange log keeps the signed envelope as evidence, so no audit entry is written.
        assert session.query(AuditEntry).count() == audit_entries
        task = session.get(Task, centre_task_id)
        assert task.completed_at == at
        assert task.result_summary == "Đã ban hành kế hoạch"
        # One task, due 30 June 2027 and completed before the horizon: completed on time.
        stored = counters.stored_counters(session)
        assert stored[("all", "", "completed_on_time")] == 1
        assert stored[("all", "", "not_started_on_time")] == 0
        assert not counters.check_against_recount(session)


def test_same_report_twice_unchanged(assigned) -> None:  # noqa: ANN001
    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    at = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    entry = report(task_ref, "in_progress", at, percent=30)

    results = send_reports(province, centre, entry, entry)
    assert [(result["applied"], result["unchanged"]) for result in results] == [(1, 0), (0, 1)]
    with centre.session() as session:
        assert session.query(ProgressUpdate).count() == 1
        assert session.get(Task, centre_task_id).progress_percent == 30


def test_older_report_superseded(assigned) -> None:  # noqa: ANN001
    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    newer_at = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    older_at = newer_at - timedelta(hours=1)
    with centre.session() as session:
        counters.rebuild(session)

    results = send_reports(province, centre,
                           report(task_ref, "completed", newer_at, percent=100, results="Xong"),
                           report(task_ref, "in_progress", older_at, percent=50))
    assert results[0]["applied"] == 1
    assert results[1]["superseded"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "completed"
        assert task.completed_at == newer_at
        assert task.progress_percent == 100
        older = session.scalar(select(ProgressUpdate).where(ProgressUpdate.at == older_at))
        assert older.status == "returned"
        assert "superseded" in older.review_comment
        kinds = session.scalars(select(TaskEvent.kind).where(TaskEvent.task_id == task.id)
                                .order_by(TaskEvent.id)).all()
        assert kinds[-2:] == ["task.progress_approve", "task.progress_return"]
        assert not counters.check_against_recount(session)


def test_batch_applies_statuses_of_several_tasks(make_node) -> None:  # noqa: ANN001, F811
    from node.federation.service import receive_batch

    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        add_document(session, "23-NQ/TW", [task_for(session, "TU01", deadline=DEADLINE),
                                           task_for(session, "TU01", deadline=DEADLINE)])
        task_ids = session.scalars(select(Task.id).order_by(Task.id)).all()
    pump(centre, province)
    at = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    entries = [report(f"{CENTRE[0]}/{task_ids[0]}", "in_progress", at, percent=10),
               report(f"{CENTRE[0]}/{task_ids[1]}", "in_progress", at, percent=20),
               report(f"{CENTRE[0]}/{task_ids[1] + 100}", "in_progress", at, percent=30),
               report(f"{CENTRE[0]}/{task_ids[0]}", "in_progress",
                      at + timedelta(minutes=1), percent=40)]
    with province.session() as session:
        peer = session.scalar(select(Peer))
        bodies = [queue_message(session, province.settings, peer, "task_status",
                                {"updates": [entry]}).body for entry in entries]
    request = b'{"messages":[' + b",".join(bodies) + b'],"protocol_version":"1"}'
    with centre.session() as session:
        results = receive_batch(session, centre.settings, request)

    assert [result["outcome"] for result in results] == ["applied", "applied", "rejected",
                                                         "applied"]
    assert results[2]["reason"] == "not_applicable"
    with centre.session() as session:
        assert [session.get(Task, task_id).progress_percent for task_id in task_ids] == [40, 20]
        assert session.query(ProgressUpdate).count() == 3


def test_status_after_concurrent_report(assigned) -> None:  # noqa: ANN001
    """A batch whose task changed after the batch read it applies to the task as stored."""
    from node.federation.service import Receiver, receive_batch

    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    at = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    with province.session() as session:
        peer = session.scalar(select(Peer))
        older, newer = [queue_message(session, province.settings, peer, "task_status",
                                      {"updates": [entry]}).body
                        for entry in (report(task_ref, "in_progress", at, percent=30),
                                      report(task_ref, "in_progress", at + timedelta(minutes=1),
                                             percent=60))]
    with centre.session() as session:
        counters.rebuild(session)

    with centre.session() as session:
        receiver = Receiver(session, centre.settings, utcnow())
        receiver.prefetch([json.loads(newer)])
        # Another request applies the older report after this one read the task.
        with centre.session() as other:
            results = receive_batch(other, centre.settings,
                                    b'{"messages":[' + older + b'],"protocol_version":"1"}')
        assert results[0]["outcome"] == "applied"
        receipt = receiver.receive(newer)
        receiver.finish()

    assert receipt.result["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "in_progress"
        assert task.progress_percent == 60
        assert session.query(ProgressUpdate).count() == 2
        assert not counters.check_against_recount(session)


def batch_of(child, parent, *payloads: dict) -> bytes:  # noqa: ANN001
    """Queue one task_status message per payload at `child`; return them as one batch request."""
    with child.session() as session:
        peer = session.scalar(select(Peer).where(Peer.node_id == parent.node_id))
        bodies = [queue_message(session, child.settings, peer, "task_status", payload).body
                  for payload in payloads]
    return b'{"messages":[' + b",".join(bodies) + b'],"protocol_version":"1"}'


def test_rejected_message_leaves_no_lead_state(assigned) -> None:  # noqa: ANN001
    """A message rejected after its first update set a lead state leaves no trace for the next."""
    from node.federation.service import receive_batch

    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    at = utcnow().replace(microsecond=0) - timedelta(hours=1)
    request = batch_of(province, centre,
                       {"updates": [report(task_ref, "completed", at, percent=100, results="Xong"),
                                    report(f"{task_ref}0", "in_progress", at, percent=10)]},
                       {"updates": [report(task_ref, "in_progress", at - timedelta(minutes=30),
                                           percent=40)]})
    with centre.session() as session:
        results = receive_batch(session, centre.settings, request)

    assert [result["outcome"] for result in results] == ["rejected", "applied"]
    assert results[0]["reason"] == "not_applicable"
    # The older report is not superseded by the completion that was rolled back.
    assert results[1]["result"]["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "in_progress"
        assert task.progress_percent == 40
        assert session.query(LeadAgencyState).count() == 1


def test_same_report_twice_in_batch(assigned) -> None:  # noqa: ANN001
    from node.federation.service import receive_batch

    centre, province, centre_task_id, _ = assigned
    entry = report(f"{CENTRE[0]}/{centre_task_id}", "in_progress",
                   utcnow().replace(microsecond=0) - timedelta(minutes=5), percent=30)
    request = batch_of(province, centre, {"updates": [entry]}, {"updates": [entry]})
    with centre.session() as session:
        results = receive_batch(session, centre.settings, request)

    assert [result["outcome"] for result in results] == ["applied", "applied"]
    assert [(result["result"]["applied"], result["result"]["unchanged"])
            for result in results] == [(1, 0), (0, 1)]
    with centre.session() as session:
        assert session.query(ProgressUpdate).count() == 1


def test_reports_applied_together(make_node, caplog) -> None:  # noqa: ANN001, F811
    """Valid reports of one batch are applied in one savepoint, with the same outcome as one by one."""
    from node.federation.service import receive_batch

    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        add_document(session, "24-NQ/TW", [task_for(session, "TU01", deadline=DEADLINE),
                                           task_for(session, "TU01", deadline=DEADLINE)])
        first_id, second_id = session.scalars(select(Task.id).order_by(Task.id)).all()
        counters.rebuild(session)
        events_before = session.query(TaskEvent).count()
    pump(centre, province)
    at = utcnow().replace(microsecond=0) - timedelta(days=2)
    first_ref, second_ref = f"{CENTRE[0]}/{first_id}", f"{CENTRE[0]}/{second_id}"
    request = batch_of(
        province, centre,
        {"updates": [report(first_ref, "in_progress", at, percent=20)]},
        {"updates": [report(second_ref, "completed", at, percent=100, results="Xong")]},
        {"updates": [report(first_ref, "in_progress", at + timedelta(hours=2), percent=70)]},
        # Older than the report before it on the same task: superseded.
        {"updates": [report(first_ref, "in_progress", at + timedelta(hours=1), percent=50)]})
    with caplog.at_level("DEBUG", logger="node.federation.service"):
        with centre.session() as session:
            results = receive_batch(session, centre.settings, request)

    assert "federation batch applied together" in caplog.text
    assert "federation batch applied one by one" not in caplog.text
    assert [result["outcome"] for result in results] == ["applied"] * 4
    assert [result["result"]["superseded"] for result in results] == [0, 0, 0, 1]
    with centre.session() as session:
        first, second = session.get(Task, first_id), session.get(Task, second_id)
        assert (first.reported_state, first.progress_percent) == ("in_progress", 70)
        assert (second.reported_state, second.completed_at) == ("completed", at)
        assert session.query(ProgressUpdate).count() == 4
        # Three approvals and one return for the superseded report.
        assert session.query(TaskEvent).count() == events_before + 4
        assert session.query(LeadAgencyState).count() == 2
        assert session.query(InboxMessage).count() == 4
        assert not counters.check_against_recount(session)
        stored = counters.stored_counters(session)
        # Both tasks are due on 30 June 2027: one in progress, one completed on time.
        assert stored[("all", "", "in_progress_on_time")] == 1
        assert stored[("all", "", "completed_on_time")] == 1


def test_failed_report_one_by_one(assigned, caplog) -> None:  # noqa: ANN001
    from node.federation.service import receive_batch

    centre, province, centre_task_id, _ = assigned
    task_ref = f"{CENTRE[0]}/{centre_task_id}"
    at = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    request = batch_of(province, centre,
                       {"updates": [report(task_ref, "in_progress", at, percent=20)]},
                       {"updates": [report(f"{task_ref}9", "in_progress", at, percent=30)]},
                       {"updates": [report(task_ref, "in_progress", at + timedelta(minutes=1),
                                           percent=40)]})
    with caplog.at_level("DEBUG", logger="node.federation.service"):
        with centre.session() as session:
            results = receive_batch(session, centre.settings, request)

    assert "federation batch applied one by one" in caplog.text
    assert [result["outcome"] for result in results] == ["applied", "rejected", "applied"]
    with centre.session() as session:
        assert session.get(Task, centre_task_id).progress_percent == 40
        assert session.query(ProgressUpdate).count() == 2
        assert session.query(InboxMessage).count() == 2


OTHER_PROVINCE = ("tu79-hcm", 1, "TU79")


def vietnam_time(year: int, month: int, day: int, hour: int = 9):  # noqa: ANN201
    """Return an instant given in Vietnam time (UTC+7) as UTC."""
    from datetime import datetime, timezone

    return datetime(year, month, day, hour, tzinfo=timezone(timedelta(hours=7))).astimezone(
        timezone.utc)


def test_joint_leads_complete_together(make_node) -> None:  # noqa: ANN001, F811
    centre = make_node(CENTRE)
    hanoi, hcm = make_node(PROVINCE), make_node(OTHER_PROVINCE)
    link(centre, hanoi)
    link(centre, hcm)
    with centre.session() as session:
        deadline = date(2026, 6, 30)
        add_document(session, "24-NQ/TW", [TaskInput(
            content="Tổng kết thí điểm mô hình chính quyền đô thị",
            lead_agencies=[unit_name(session, "TU01"), unit_name(session, "TU79")],
            coordinating_agencies=[],
            deadline=DeadlineInput(text="30/6/2026", on=deadline, precision="day",
                                   time_class="with_deadline"))])
        task_id = session.scalar(select(Task.id))
        counters.rebuild(session)
    assert pump(centre, hanoi)[0]["created"] == 1
    assert pump(centre, hcm)[0]["created"] == 1
    task_ref = f"{CENTRE[0]}/{task_id}"

    def task_state() -> tuple:
        with centre.session() as session:
            task = session.get(Task, task_id)
            assert not counters.check_against_recount(session)
            return task.reported_state, task.completed_at, task.progress_percent, \
                level_of(task, utcnow())

    # Hà Nội completes on 10 May, before the deadline (30 June 2026, Vietnam
    # time). Hồ Chí Minh City has not reported, so the task is in progress,
    # overdue as of today (after 30 June 2026), at (100 + 0) / 2 = 50 %.
    hanoi_done = vietnam_time(2026, 5, 10)
    assert send_reports(hanoi, centre, report(task_ref, "completed", hanoi_done, percent=100,
                                              results="Đã tổng kết"))[0]["applied"] == 1
    assert task_state() == ("in_progress", None, 50, "in_progress_overdue")

    # A report of Hồ Chí Minh City older than Hà Nội's completion still
    # applies to its own lead agency: (100 + 40) / 2 = 70 %.
    hcm_started = vietnam_time(2026, 5, 1)
    assert send_reports(hcm, centre, report(task_ref, "in_progress", hcm_started,
                                            percent=40))[0]["applied"] == 1
    assert task_state() == ("in_progress", None, 70, "in_progress_overdue")

    # Hà Nội's own older report, arriving late, is superseded.
    results = send_reports(hanoi, centre, report(task_ref, "in_progress",
                                                 vietnam_time(2026, 4, 1), percent=20))
    assert results[0]["superseded"] == 1
    assert task_state() == ("in_progress", None, 70, "in_progress_overdue")

    # Hồ Chí Minh City completes on 15 July: the task completes at the later
    # of the two instants, after the deadline, so it is completed late.
    hcm_done = vietnam_time(2026, 7, 15)
    assert send_reports(hcm, centre, report(task_ref, "completed", hcm_done, percent=100,
                                            results="Đã tổng kết"))[0]["applied"] == 1
    assert task_state() == ("completed", hcm_done, 100, "completed_late")

    with centre.session() as session:
        states = {state.org_unit.code: (state.reported_state, state.completed_at,
                                        state.source_node_id)
                  for state in session.scalars(select(LeadAgencyState))}
        assert states == {"TU01": ("completed", hanoi_done, PROVINCE[0]),
                          "TU79": ("completed", hcm_done, OTHER_PROVINCE[0])}
        stored = counters.stored_counters(session)
        assert stored[("all", "", "completed_late")] == 1
        assert stored[("all", "", "in_progress_overdue")] == 0


def test_joint_sub_units_forward_derived_state(make_node) -> None:  # noqa: ANN001, F811
    """Two sub-units of one province lead a task of the centre together."""
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    second_sub_unit = make_node(("tu01-bdv", 2, "TU01-BDV"))
    for node in (centre, province, sub_unit, second_sub_unit):
        with node.session() as session:
            ensure_second_sub_unit(session)
    link(centre, province)
    link(province, sub_unit)
    link(province, second_sub_unit)
    with centre.session() as session:
        add_document(session, "25-NQ/TW", [TaskInput(
            content="Tuyên truyền nghị quyết", coordinating_agencies=[],
            lead_agencies=[unit_name(session, SUB_UNIT[2]), unit_name(session, "TU01-BDV")],
            deadline=DeadlineInput(text="30/6/2027", on=DEADLINE, precision="day",
                                   time_class="with_deadline"))])
        centre_task_id = session.scalar(select(Task.id))
    pump(centre, province)
    pump(province, sub_unit)
    pump(province, second_sub_unit)
    with province.session() as session:
        province_task_id = session.scalar(select(Task.id))
    first_done = utcnow().replace(microsecond=0) - timedelta(days=3)

    send_reports(sub_unit, province, report(f"{PROVINCE[0]}/{province_task_id}", "completed",
                                            first_done, percent=100, results="Đã tuyên truyền"))
    assert pump(province, centre)[0]["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        # One of the two sub-units finished, so the province reports the task
        # in progress at (100 + 0) / 2 = 50 %, not completed.
        assert task.reported_state == "in_progress"
        assert task.progress_percent == 50

    second_done = first_done + timedelta(days=1)
    send_reports(second_sub_unit, province, report(f"{PROVINCE[0]}/{province_task_id}",
                                                   "completed", second_done, percent=100,
                                                   results="Đã tuyên truyền"))
    assert pump(province, centre)[0]["applied"] == 1
    with centre.session() as session:
        task = session.get(Task, centre_task_id)
        assert task.reported_state == "completed"
        assert task.completed_at == second_done


def ensure_second_sub_unit(session) -> None:  # noqa: ANN001
    """Create a second sub-unit, TU01-BDV, under TU01."""
    from node.local_tasks.models import OrgUnit
    from node.local_tasks.service import create_org_unit

    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == "TU01-BDV")) is None:
        province = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU01"))
        create_org_unit(session, code="TU01-BDV", name="Ban Dân vận Thành ủy Hà Nội",
                        kind="party_body", parent=province)
