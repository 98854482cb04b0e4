"""The state of each lead agency of a jointly led task, and the task state derived from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import OrgUnit
from node.local_tasks.service import create_document
from node.local_tasks.workflow.lead_states import derive_state, lead_states, record_lead_report
from node.local_tasks.workflow.models import LeadAgencyState
from node.local_tasks.workflow.progress import record_reviewed_update
from tests.local_tasks.test_views import page_text, visible

MAY = datetime(2026, 5, 10, 2, tzinfo=UTC)
JULY = datetime(2026, 7, 15, 2, tzinfo=UTC)


def state(reported_state: str, percent: int | None = None,
          completed_at: datetime | None = None) -> LeadAgencyState:
    return LeadAgencyState(reported_state=reported_state, progress_percent=percent,
                           completed_at=completed_at)


@pytest.mark.parametrize(("states", "expected"), [
    # Every lead agency completed: completed at the latest instant.
    ([state("completed", 100, MAY), state("completed", 100, JULY)], ("completed", JULY, 100)),
    # One has not reported: in progress, (100 + 0) / 2.
    ([state("completed", 100, MAY), None], ("in_progress", None, 50)),
    ([state("in_progress", 30), state("not_started")], ("in_progress", None, 15)),
    # (100 + 45) / 2 = 72.5, rounded down.
    ([state("completed", None, MAY), state("in_progress", 45)], ("in_progress", None, 72)),
    ([None, None], ("not_started", None, None)),
    ([state("not_started"), state("will_not_carry_out")], ("not_started", None, None)),
    # All finished, one without completing it.
    ([state("completed", 100, MAY), state("ended_not_completed", 60)],
     ("ended_not_completed", None, 80)),
    ([state("completed", 100, MAY), state("will_not_carry_out")],
     ("ended_not_completed", None, 50)),
    ([state("will_not_carry_out"), state("will_not_carry_out")],
     ("will_not_carry_out", None, None)),
])
def test_derived_state_rules(states, expected) -> None:  # noqa: ANN001
    derived = derive_state(states)
    assert (derived.reported_state, derived.completed_at, derived.progress_percent) == expected


def joint_task(session, calendar):  # noqa: ANN001, ANN201
    names = [session.scalar(select(OrgUnit.name).where(OrgUnit.code == code))
             for code in ("TU01", "TU79")]
    document = create_document(session, DocumentInput(
        reference="26-NQ/TW", issued_on=datetime(2026, 1, 5).date(), summary="Nghị quyết",
        confidentiality="regular", tasks=[TaskInput(
            content="Tổng kết thí điểm", lead_agencies=names, coordinating_agencies=[],
            deadline=DeadlineInput(text="30/6/2026", on=datetime(2026, 6, 30).date(),
                                   precision="day"))]), calendar=calendar)
    return document.tasks[0]


def test_task_page_lists_lead_states(client, session, calendar) -> None:  # noqa: ANN001
    task = joint_task(session, calendar)
    hanoi = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU01"))
    hcm = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU79"))
    update, _ = record_reviewed_update(
        session, task, at=MAY, submitted_by="Chuyên viên (tu01-hanoi)",
        reported_state="completed", progress_percent=100, results="Đã tổng kết",
        idempotency_key="lead-state-page", status="approved", reviewed_at=MAY,
        reviewed_by="Lãnh đạo (tu01-hanoi)")
    derived = record_lead_report(session, task, update, lead_ids={hanoi.id},
                                 reporting_lead_ids={hanoi.id, hcm.id},
                                 source_node_id="tu01-hanoi",
                                 states=lead_states(session, task.id))
    session.commit()
    assert derived.reported_state == "in_progress"

    english = visible(page_text(client, f"/tasks/{task.id}", lang="en"))
    assert "State of each lead agency" in english
    assert f"{hanoi.name} Completed 100 %" in english
    assert "tu01-hanoi" in english
    # Hồ Chí Minh City has not reported, and the page explains how it counts.
    assert f"{hcm.name} No report from a child node yet" in english
    assert "counts as not started, with a progress of zero" in english
    vietnamese = visible(page_text(client, f"/tasks/{task.id}", lang="vi"))
    assert "Tình trạng của từng cơ quan chủ trì" in vietnamese
    assert f"{hanoi.name} Đã hoàn thành 100 %" in vietnamese
    assert f"{hcm.name} Chưa có báo cáo từ nút cấp dưới" in vietnamese


def test_task_page_names_leads_without_node(client, session, calendar) -> None:  # noqa: ANN001
    """A lead agency outside the org trees of the task's child nodes is named apart, not as missing."""
    from node.federation.content_models import TaskLink
    from node.federation.models import Peer

    task = joint_task(session, calendar)
    hanoi = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU01"))
    hcm = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU79"))
    update, _ = record_reviewed_update(
        session, task, at=MAY, submitted_by="Chuyên viên (tu01-hanoi)",
        reported_state="in_progress", progress_percent=40, results="Đang tổng kết",
        idempotency_key="lead-without-node", status="approved", reviewed_at=MAY,
        reviewed_by="Lãnh đạo (tu01-hanoi)")
    record_lead_report(session, task, update, lead_ids={hanoi.id},
                       reporting_lead_ids={hanoi.id}, source_node_id="tu01-hanoi",
                       states=lead_states(session, task.id))
    session.commit()
    # The mean over the one lead agency that reports through a child node.
    assert task.progress_percent == 40
    # The task went to the Hà Nội node only; Hồ Chí Minh City has no node.
    session.add(Peer(node_id="tu01-hanoi", level=1, org_unit_code="TU01",
                     public_key="A" * 43, protocol_version="1"))
    session.add(TaskLink(task_id=task.id, peer_node_id="tu01-hanoi", direction="sent",
                         task_ref=f"central/{task.id}", document_reference="26-NQ/TW"))
    session.commit()

    english = visible(page_text(client, f"/tasks/{task.id}", lang="en"))
    assert f"{hanoi.name} In progress 40 %" in english
    assert f"{hcm.name} No report from a child node yet" not in english
    assert ("Lead agencies outside the child nodes' org trees, which are not counted above: "
            f"{hcm.name}") in english
    vietnamese = visible(page_text(client, f"/tasks/{task.id}", lang="vi"))
    assert ("Cơ quan chủ trì không thuộc phạm vi của các nút cấp dưới, không được tính "
            f"ở bảng trên: {hcm.name}") in vietnamese
    assert "Chưa có báo cáo từ nút cấp dưới" not in vietnamese
