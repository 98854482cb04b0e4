"""A directive, and the child's receipt and status, between a served parent and a child.

The parent runs `theodoi serve` on a loopback port. The child pulls the
parent's directive over HTTP and pushes its receipt and approved status back
with the delivery functions that the background sender runs.
"""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

from sqlalchemy import select

from node.core.cli_support import open_session
from node.core.db import make_engine, make_session_factory, utcnow
from node.core.settings import load_settings
from node.federation.delivery import pull_from_parent, send_pending
from node.federation.models import OutboxMessage
from node.federation.service import create_enrolment_token
from node.local_tasks.calendar import load_calendar
from node.local_tasks.completion import level_of
from node.local_tasks.models import Task
from node.local_tasks.workflow import approve_update, confirm_receipt, submit_update
from tests.federation.helpers import CHILD_ORG_UNIT
from tests.federation.nodes import add_document, task_for
from tests.federation.test_two_nodes import (  # noqa: F401 - fixtures
    child_cli,
    child_database_url,
    parent,
)

# Everything delivered must be visible at the parent well within this time.
VISIBLE_WITHIN_SECONDS = 5


def test_directive_and_status_between_processes(parent, child_cli) -> None:  # noqa: ANN001, F811
    parent_settings, parent_url = parent
    with open_session(parent_settings) as session:
        token, _ = create_enrolment_token(session, CHILD_ORG_UNIT, hours=1)
    assert child_cli("init").exit_code == 0
    assert child_cli("federation", "join", parent_url, token).exit_code == 0
    child_settings = load_settings()

    with open_session(parent_settings) as session:
        document = add_document(session, "40-NQ/TW", [
            task_for(session, CHILD_ORG_UNIT, content="Xây dựng kế hoạch thực hiện",
                     deadline=date(2027, 6, 30)),
            task_for(session, "TU79", content="Nhiệm vụ của đơn vị khác")])
        parent_task_id = document.tasks[0].id
    with open_session(parent_settings) as session:
        directives = session.scalars(select(OutboxMessage)).all()
        assert [row.message_type for row in directives] == ["directive"]

    child_engine = make_engine(child_settings.effective_database_url)
    child_sessions = make_session_factory(child_engine, child_settings)
    try:
        exchange_with_parent(parent_settings, child_settings, child_sessions, parent_task_id)
    finally:
        child_engine.dispose()


def exchange_with_parent(parent_settings, child_settings, child_sessions,  # noqa: ANN001
                         parent_task_id: int) -> None:
    pulled = pull_from_parent(child_sessions, child_settings)
    assert pulled.error is None
    assert pulled.applied == 1

    calendar = load_calendar(child_settings)
    received_at = (utcnow() + timedelta(seconds=1)).replace(microsecond=0)
    with open_session(child_settings) as session:
        task = session.scalar(select(Task))
        assert task.content == "Xây dựng kế hoạch thực hiện"
        confirm_receipt(session, task, at=received_at, actor="Văn thư", calendar=calendar)
        update = submit_update(session, task, at=received_at, actor="Chuyên viên",
                               reported_state="completed", progress_percent=100,
                               results="Kế hoạch số 12-KH/TU đã ban hành")
        approve_update(session, update, at=received_at, actor="Chánh Văn phòng")

    with open_session(child_settings) as session:
        pending = session.scalars(select(OutboxMessage).order_by(OutboxMessage.sequence)).all()
        assert [row.message_type for row in pending] == ["receipt_confirmation", "task_status"]
    started = time.monotonic()
    pushed = send_pending(child_sessions, child_settings)
    assert pushed.delivered == 2, pushed.errors

    with open_session(parent_settings) as session:
        task = session.get(Task, parent_task_id)
        elapsed = time.monotonic() - started
        assert task.received_at == received_at
        assert task.reported_state == "completed"
        assert task.result_summary == "Kế hoạch số 12-KH/TU đã ban hành"
        # The completion instant is a second ahead of the clock, so the level
        # is read a minute later.
        assert level_of(task, received_at + timedelta(minutes=1)) == "completed_on_time"
    assert elapsed < VISIBLE_WITHIN_SECONDS
    sent = json.loads(pending[1].body)["payload"]["updates"][0]
    assert sent["task_ref"] == f"central/{parent_task_id}"
