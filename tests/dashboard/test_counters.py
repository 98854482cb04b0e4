"""Dashboard counters kept up to date by the flush listener equal a full recount.

Each test changes tasks through the services (documents, import, workflow
steps, edits, deletions) and then compares the stored counters with a recount
from the tasks, and the levels they give with the plain GROUP BY of
`node.local_tasks.queries.count_by_level`.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from node.dashboard import counters
from node.dashboard.figures import counted_levels, largest_members, recent_documents
from node.dashboard.models import DashboardMemberTotal
from node.local_tasks.importer.importer import import_file
from node.local_tasks.models import ClassificationValue, Task, TaskAgency
from node.local_tasks.queries import count_by_level, count_by_agency
from node.local_tasks.service import find_org_unit
from node.local_tasks.workflow import approve_update, decide_objection, submit_update
from tests.local_tasks.test_workflow import (
    LEAD,
    OTHER_AGENCY,
    holiday_objection,
    make_task,
    received_task,
    vn,
)

# The instant the levels are compared at: after every deadline the tests set in
# the first half of 2026, before those at the end of the year.
NOW = vn(2026, 7, 10, 9)


def assert_counters_equal_recount(session) -> None:  # noqa: ANN001
    session.flush()
    assert counters.compare_with_recount(session) == []


def assert_levels_match_group_by(session) -> None:  # noqa: ANN001
    horizon = counters.read_state(session)["horizon_at"]
    counted = counted_levels(session, "all", now=NOW, horizon=horizon).get("", {})
    plain = count_by_level(session, at=NOW)
    assert {level: count for level, count in counted.items() if count} == \
        {level: count for level, count in plain.items() if count}
    by_agency = counted_levels(session, "lead", now=NOW, horizon=horizon)
    plain_agencies = {str(row["org_unit"].id): {k: v for k, v in row["counts"].items() if v}
                      for row in count_by_agency(session, at=NOW, role="lead")}
    assert {unit: {k: v for k, v in counts.items() if v}
            for unit, counts in by_agency.items() if any(counts.values())} == plain_agencies


def test_counters_follow_workflow_steps(session, calendar):
    counters.rebuild(session, now=vn(2026, 3, 1))
    first = make_task(session, calendar, deadline_on=date(2026, 6, 30))
    second = received_task(session, calendar, transferred_at=vn(2026, 3, 3, 9),
                           received_at=vn(2026, 3, 3, 10), deadline_on=date(2026, 4, 15))
    assert_counters_equal_recount(session)

    update = submit_update(session, second, at=vn(2026, 4, 20, 9), actor="bo.canbo",
                           reported_state="completed", progress_percent=100,
                           results="Đã ban hành kế hoạch")
    approve_update(session, update, at=vn(2026, 4, 20, 10), actor="bo.lanhdao")
    assert second.reported_state == "completed"
    assert_counters_equal_recount(session)

    objection = holiday_objection(session, calendar)
    decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly", accept=True,
                     reason="Chuyển cho cơ quan đúng chức năng",
                     reassign_to=find_org_unit(session, OTHER_AGENCY))
    assert_counters_equal_recount(session)

    first.classifications.append(session.scalars(
        select(ClassificationValue).where(ClassificationValue.code == "key")).first())
    first.confidentiality = "regular"
    first.deadline_at = vn(2026, 7, 1, 17)
    assert_counters_equal_recount(session)

    session.delete(first)
    assert_counters_equal_recount(session)
    assert_levels_match_group_by(session)


def test_counters_follow_import_and_horizon(session, calendar, examples_dir):
    counters.rebuild(session, now=vn(2025, 12, 1))
    import_file(session, examples_dir / "tasks_real_documents.csv", create_agencies=True)
    assert_counters_equal_recount(session)

    # Move the horizon past many deadlines, as on the first read of a later day.
    counters.ensure_current(session, now=NOW)
    assert counters.read_state(session)["horizon_at"] == counters.day_start(NOW)
    assert_counters_equal_recount(session)
    assert_levels_match_group_by(session)

    tasks = session.scalars(select(Task).order_by(Task.id).limit(40)).all()
    for index, task in enumerate(tasks):
        if index % 3 == 0:
            task.reported_state = "completed"
            task.completed_at = vn(2026, 7, 10, 12)  # after NOW: still in progress at NOW
        elif index % 3 == 1:
            task.reported_state = "in_progress"
            task.deadline_at = vn(2026, 7, 10, 8)  # due earlier on the day of NOW
        else:
            task.reported_state = "completed"
            task.completed_at = vn(2026, 7, 10, 8, 30)  # completed earlier on the day of NOW
    assert_counters_equal_recount(session)
    assert_levels_match_group_by(session)


def stored_levels(session, dimension: str) -> dict[tuple[str, str], int]:  # noqa: ANN001
    session.flush()
    return {(member, level): count for (stored_dimension, member, level), count
            in counters.stored_counters(session).items() if stored_dimension == dimension}


def test_level_changes_move_counted_tasks(session, calendar):
    """Changes of state, completion instant or deadline alone move a task between levels.

    The horizon is 01/07/2026 00:00 in Vietnam; both tasks are due on 30/06/2026.
    """
    counters.rebuild(session, now=vn(2026, 7, 1, 9))
    first = make_task(session, calendar)
    second = make_task(session, calendar)
    first.reported_state, first.completed_at = "completed", vn(2026, 5, 20, 9)
    second.reported_state, second.completed_at = "completed", vn(2026, 6, 30, 23)
    assert stored_levels(session, "completed_month") == {
        ("2026-05", "completed_on_time"): 1, ("2026-06", "completed_on_time"): 1}

    # The completion is corrected into July, after the horizon: the month is
    # July, and the level stays in progress (overdue) until the horizon passes it.
    second.completed_at = vn(2026, 7, 1, 0, 30)
    assert stored_levels(session, "completed_month") == {
        ("2026-05", "completed_on_time"): 1, ("2026-07", "in_progress_overdue"): 1}
    # A completion withdrawn: the task leaves its month and is overdue in progress.
    first.reported_state, first.completed_at = "in_progress", None
    assert stored_levels(session, "completed_month") == {("2026-07", "in_progress_overdue"): 1}
    assert stored_levels(session, "all") == {("", "in_progress_overdue"): 2}
    assert_counters_equal_recount(session)

    # A new deadline set on a task whose previous one was never loaded.
    session.expire(first, ["deadline_at"])
    first.deadline_at = vn(2026, 12, 31, 23, 59)
    assert stored_levels(session, "all") == {("", "in_progress_on_time"): 1,
                                             ("", "in_progress_overdue"): 1}
    assert_counters_equal_recount(session)


def test_level_moves_follow_new_lead(session, calendar):
    """A level move after a change of lead agency counts for the lead as stored then."""
    counters.rebuild(session, now=vn(2026, 3, 1))
    lead = find_org_unit(session, LEAD)
    other = find_org_unit(session, OTHER_AGENCY)
    task = make_task(session, calendar)
    task.reported_state = "in_progress"
    session.flush()
    role = session.scalars(select(TaskAgency).where(TaskAgency.task_id == task.id,
                                                    TaskAgency.role == "lead")).one()

    role.org_unit_id = other.id
    session.flush()
    task.reported_state, task.completed_at = "completed", vn(2026, 2, 27, 9)
    assert stored_levels(session, "lead") == {(str(other.id), "completed_on_time"): 1}
    assert_counters_equal_recount(session)

    # A change of lead and a level move, both undone by their savepoint's rollback.
    savepoint = session.begin_nested()
    role.org_unit_id = lead.id
    session.flush()
    task.reported_state, task.completed_at = "in_progress", None
    session.flush()
    savepoint.rollback()
    assert stored_levels(session, "lead") == {(str(other.id), "completed_on_time"): 1}
    session.refresh(task)
    task.reported_state, task.completed_at = "in_progress", None
    assert stored_levels(session, "lead") == {(str(other.id), "in_progress_on_time"): 1}
    assert_counters_equal_recount(session)


def test_level_move_from_stale_object(session, session_factory, calendar):
    """A task changed by another transaction after it was loaded cannot move the counters."""
    counters.rebuild(session, now=vn(2026, 3, 1))
    task = make_task(session, calendar)
    session.commit()
    assert task.reported_state == "not_started"

    other = session_factory()
    other.get(Task, task.id).reported_state = "in_progress"
    other.commit()
    other.close()

    # This session still has the task as not started, so the version check
    # rejects its write, and the counters keep the other transaction's move.
    task.reported_state, task.completed_at = "completed", vn(2026, 2, 27, 9)
    with pytest.raises(StaleDataError):
        session.flush()
    session.rollback()
    assert stored_levels(session, "all") == {("", "in_progress_on_time"): 1}
    assert_counters_equal_recount(session)


def test_rebuild_replaces_wrong_counters(session, calendar):
    counters.rebuild(session, now=vn(2026, 3, 1))
    make_task(session, calendar)
    session.flush()
    counters.apply_delta(session, {("all", "", "not_started_on_time"): 5})

    differences = counters.compare_with_recount(session)

    # The new task is due on 30/06/2026, after the horizon of 01/03: not started, on time.
    assert differences == [(("all", "", "not_started_on_time"), 6, 1)]
    counters.rebuild(session, now=vn(2026, 3, 1))
    assert counters.compare_with_recount(session) == []


def totals_of(session, dimension: str) -> dict[str, int]:  # noqa: ANN001
    session.flush()
    return {member: count for (stored_dimension, member), count
            in counters.stored_member_totals(session).items() if stored_dimension == dimension}


def test_member_totals_follow_hand_count(session, calendar):
    counters.rebuild(session, now=vn(2026, 3, 1))
    lead = str(find_org_unit(session, LEAD).id)
    other = str(find_org_unit(session, OTHER_AGENCY).id)

    # Create: three documents of one task each, all led by the central office.
    first = make_task(session, calendar, issued_on=date(2026, 3, 2))
    second = received_task(session, calendar, transferred_at=vn(2026, 3, 3, 9),
                           received_at=vn(2026, 3, 3, 10), deadline_on=date(2026, 4, 15))
    objection = holiday_objection(session, calendar)
    documents = [str(task.document_id) for task in (first, second, objection.task)]
    assert totals_of(session, "all") == {"": 3}
    assert totals_of(session, "lead") == {lead: 3}
    assert totals_of(session, "document") == dict.fromkeys(documents, 1)

    # Approve a completion: the task changes level, not member.
    update = submit_update(session, second, at=vn(2026, 4, 20, 9), actor="bo.canbo",
                           reported_state="completed", progress_percent=100,
                           results="Đã ban hành kế hoạch")
    approve_update(session, update, at=vn(2026, 4, 20, 10), actor="bo.lanhdao")
    assert totals_of(session, "lead") == {lead: 3}
    assert totals_of(session, "completed_month") == {"2026-04": 1}

    # Move: the accepted objection hands the task to another lead agency.
    decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly", accept=True,
                     reason="Chuyển cho cơ quan đúng chức năng",
                     reassign_to=find_org_unit(session, OTHER_AGENCY))
    assert totals_of(session, "lead") == {lead: 2, other: 1}

    # Delete: the first document's only task goes, and so does its total.
    session.delete(first)
    assert totals_of(session, "all") == {"": 2}
    assert totals_of(session, "lead") == {lead: 1, other: 1}
    assert totals_of(session, "document") == {documents[1]: 1, documents[2]: 1}
    assert counters.check_against_recount(session).member_totals == []


def test_largest_members_read_from_totals(session, calendar):
    counters.rebuild(session, now=vn(2026, 3, 1))
    lead = str(find_org_unit(session, LEAD).id)
    other = str(find_org_unit(session, OTHER_AGENCY).id)
    make_task(session, calendar, issued_on=date(2026, 3, 2))
    make_task(session, calendar, issued_on=date(2026, 3, 9))
    objection = holiday_objection(session, calendar)
    decide_objection(session, objection, at=vn(2026, 5, 4, 9), actor="vptw.xuly", accept=True,
                     reason="Chuyển cho cơ quan đúng chức năng",
                     reassign_to=find_org_unit(session, OTHER_AGENCY))
    session.flush()

    largest, count = largest_members(session, "lead", limit=1)
    assert largest == [lead]
    assert count == 2
    assert largest_members(session, "lead", limit=5) == ([lead, other], 2)

    recent, document_count = recent_documents(session, limit=2)
    # holiday_objection's document is issued on 02/03/2026 like the first one,
    # so the tie goes to the lower id, the first document.
    assert [document.issued_on for document in recent] == [date(2026, 3, 9), date(2026, 3, 2)]
    assert document_count == 3


def test_check_finds_drifted_member_total(session, calendar):
    counters.rebuild(session, now=vn(2026, 3, 1))
    make_task(session, calendar)
    session.flush()
    lead = str(find_org_unit(session, LEAD).id)
    session.execute(DashboardMemberTotal.__table__.update()
                    .where(DashboardMemberTotal.dimension == "lead")
                    .values(task_count=DashboardMemberTotal.task_count + 2))

    differences = counters.check_against_recount(session)

    assert differences.counters == []
    assert differences.member_totals == [(("lead", lead), 3, 1)]
