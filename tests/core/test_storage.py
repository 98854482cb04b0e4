"""Instants are stored in UTC and read back the same on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from node.core import migrate
from node.core.errors import ValidationError
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import Task
from node.local_tasks.service import create_document

PLUS_SEVEN = timezone(timedelta(hours=7))


def _document(deadline_at: datetime) -> DocumentInput:
    return DocumentInput(
        reference="15/KH-VPTW",
        summary="Kế hoạch thử lưu thời điểm",
        issued_on=date(2026, 2, 2),
        tasks=[TaskInput(task_no="1", content="Nhiệm vụ có hạn theo giờ",
                         lead_agencies=["Văn phòng Trung ương Đảng"],
                         deadline=DeadlineInput(text="16:30 13/02/2026", at=deadline_at,
                                                precision="instant"))],
    )


def test_deadline_reads_back_in_utc(session, calendar):
    entered = datetime(2026, 2, 13, 16, 30, tzinfo=PLUS_SEVEN)
    document = create_document(session, _document(entered), calendar=calendar)
    task_id = document.tasks[0].id
    session.expunge_all()

    stored = session.get(Task, task_id).deadline_at

    assert stored == datetime(2026, 2, 13, 9, 30, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)
    assert stored.isoformat() == "2026-02-13T09:30:00+00:00"


def test_deadline_compares_in_sql_as_an_instant(session, calendar):
    create_document(session, _document(datetime(2026, 2, 13, 16, 30, tzinfo=PLUS_SEVEN)),
                    calendar=calendar)
    just_before = datetime(2026, 2, 13, 9, 29, tzinfo=UTC)
    just_after = datetime(2026, 2, 13, 16, 31, tzinfo=PLUS_SEVEN)

    before = session.scalars(select(Task.id).where(Task.deadline_at > just_before)).all()
    after = session.scalars(select(Task.id).where(Task.deadline_at > just_after)).all()

    assert len(before) == 1
    assert after == []


def test_naive_instant_is_rejected(session, calendar):
    with pytest.raises(ValidationError) as raised:
        create_document(session, _document(datetime(2026, 2, 13, 16, 30)), calendar=calendar)
    problem = raised.value.problems[0]
    assert problem.path == "tasks[0].deadline"
    assert "time zone" in problem.message
    assert problem.value == "2026-02-13T16:30:00"


def test_models_match_migrations(engine):
    assert migrate.model_differences(engine) == []
