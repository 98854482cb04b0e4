"""Tasks and accounts for the warning tests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from node.auth.service import create_user, grant_role, org_unit_by_code
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import Task
from node.local_tasks.service import create_document

LEAD = "Tỉnh ủy Cao Bằng"  # TU04
MONITORING = "Ủy ban Kiểm tra Trung ương"  # UBKTTW
PASSWORD = "mat-khau-canh-bao-2026"


def add_tasks(session: Session, calendar, deadlines: dict[str, date | None], *,  # noqa: ANN001
              reference: str = "21-KH/VPTW", issued_on: date = date(2026, 2, 2),
              transferred_at: datetime | None = None,
              states: dict[str, str] | None = None) -> dict[str, Task]:
    """Store one document whose tasks, numbered by the keys, fall due on the given days."""
    states = states or {}
    tasks = []
    for task_no, due_on in deadlines.items():
        state = states.get(task_no, "not_started")
        tasks.append(TaskInput(
            task_no=task_no, content=f"Nhiệm vụ kiểm thử cảnh báo {task_no}",
            lead_agencies=[LEAD], monitoring_agency=MONITORING,
            deadline=(DeadlineInput(text=due_on.strftime("%d/%m/%Y"), on=due_on, precision="day")
                      if due_on else DeadlineInput(time_class="regular")),
            reported_state=state,
            completed_at=datetime(2026, 3, 2, 9, 0).astimezone() if state == "completed" else None,
            transferred_at=transferred_at))
    document = create_document(session, DocumentInput(
        reference=reference, summary="Kế hoạch kiểm thử cảnh báo", issued_on=issued_on,
        tasks=tasks), calendar=calendar)
    return {task.task_no: task for task in document.tasks}


def add_person(session: Session, username: str, role: str, unit_code: str, *,
               email: str | None = None):  # noqa: ANN201
    """Create a person holding `role` over the unit `unit_code`."""
    user = create_user(session, username=username, full_name=f"Cán bộ {username}",
                       password=PASSWORD)
    user.email = email
    grant_role(session, user, role, org_unit_by_code(session, unit_code))
    session.flush()
    return user
