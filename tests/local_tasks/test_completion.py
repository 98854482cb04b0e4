"""Completion levels (Điều 4.1.đ): hand-worked cases, and SQL agreeing with Python."""

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from node.local_tasks.completion import completion_level, completion_level_expr
from node.local_tasks.models import REPORTED_STATES, Document, Task
from node.local_tasks.service import end_of_day

VN = timezone(timedelta(hours=7))
DEADLINE = end_of_day(date(2026, 6, 30))  # 2026-06-30 23:59:59.999999 +07:00


def level(state, *, completed_at=None, at, deadline=DEADLINE):
    return completion_level(reported_state=state, deadline_at=deadline, completed_at=completed_at,
                            at=at)


def test_completed_at_2359_is_on_time():
    completed = datetime(2026, 6, 30, 23, 59, tzinfo=VN)
    assert level("completed", completed_at=completed, at=datetime(2026, 7, 5, tzinfo=VN)) == \
        "completed_on_time"


def test_completion_next_morning_is_late():
    completed = datetime(2026, 7, 1, 0, 0, tzinfo=VN)
    assert level("completed", completed_at=completed, at=datetime(2026, 7, 5, tzinfo=VN)) == \
        "completed_late"


def test_deadline_day_in_utc_is_still_on_time():
    # 2026-06-30 16:59 UTC is 23:59 in Vietnam, still the deadline day.
    completed = datetime(2026, 6, 30, 16, 59, tzinfo=UTC)
    assert level("completed", completed_at=completed, at=datetime(2026, 7, 1, tzinfo=UTC)) == \
        "completed_on_time"


def test_in_progress_turns_overdue_after_deadline_day():
    assert level("in_progress", at=datetime(2026, 6, 30, 23, 0, tzinfo=VN)) == "in_progress_on_time"
    assert level("in_progress", at=datetime(2026, 7, 1, 0, 0, tzinfo=VN)) == "in_progress_overdue"


def test_not_started_levels():
    assert level("not_started", at=datetime(2026, 6, 1, tzinfo=VN)) == "not_started_on_time"
    assert level("not_started", at=datetime(2026, 7, 2, tzinfo=VN)) == "not_started_overdue"


def test_will_not_carry_out_is_overdue():
    # Even before the deadline: the agency declared it will not be carried out.
    assert level("will_not_carry_out", at=datetime(2026, 1, 1, tzinfo=VN)) == "not_started_overdue"


def test_ended_without_completion_is_implemented_not_completed():
    assert level("ended_not_completed", at=datetime(2026, 1, 1, tzinfo=VN)) == \
        "implemented_not_completed"


def test_task_without_deadline_is_never_overdue():
    far = datetime(2040, 1, 1, tzinfo=VN)
    assert level("not_started", at=far, deadline=None) == "not_started_on_time"
    assert level("in_progress", at=far, deadline=None) == "in_progress_on_time"
    assert level("completed", completed_at=far, at=far, deadline=None) == "completed_on_time"


def test_completion_after_at_counts_as_in_progress():
    completed = datetime(2026, 7, 10, tzinfo=VN)
    assert level("completed", completed_at=completed, at=datetime(2026, 6, 1, tzinfo=VN)) == \
        "in_progress_on_time"
    assert level("completed", completed_at=completed, at=datetime(2026, 7, 5, tzinfo=VN)) == \
        "in_progress_overdue"


INSTANTS = [
    datetime(2026, 6, 30, 16, 59, 59, tzinfo=UTC),
    datetime(2026, 6, 30, 17, 0, 0, tzinfo=UTC),
    datetime(2026, 5, 1, tzinfo=UTC),
    datetime(2026, 8, 1, tzinfo=UTC),
]


def _combinations():
    for state, deadline, completed in itertools.product(
            REPORTED_STATES, [None, DEADLINE, DEADLINE - timedelta(days=60)], INSTANTS + [None]):
        if (state == "completed") != (completed is not None):
            continue
        yield state, deadline, completed


@pytest.fixture
def every_combination(session):
    document = Document(reference="99/TB-TEST", number="99", symbol="TB-TEST",
                        summary="Tổ hợp trạng thái", task_count=0)
    session.add(document)
    tasks = []
    for position, (state, deadline, completed) in enumerate(_combinations()):
        task = Task(document=document, position=position, content=f"Tổ hợp {position}",
                    reported_state=state, deadline_at=deadline, completed_at=completed)
        session.add(task)
        tasks.append(task)
    session.flush()
    return tasks


@pytest.mark.parametrize("at", INSTANTS)
def test_sql_expression_agrees_with_python(session, every_combination, at):
    by_id = {task.id: task for task in every_combination}
    rows = session.execute(
        select(Task.id, completion_level_expr(at)).where(Task.id.in_(by_id))).all()
    assert len(rows) == len(by_id)
    for task_id, sql_level in rows:
        task = by_id[task_id]
        expected = completion_level(reported_state=task.reported_state,
                                    deadline_at=task.deadline_at,
                                    completed_at=task.completed_at, at=at)
        assert sql_level == expected, (task.reported_state, task.deadline_at, task.completed_at)
