"""Workflow screens through the test client, signed in through the sign-in form.

The screens act at the current instant, so the app here gets a working
calendar (weekends off, no holidays) for this year and the next, and each
task's deadline lies months ahead.
"""

from __future__ import annotations

import dataclasses
import html
import io
import itertools
import re
import threading
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.auth.service import create_user, grant_role, org_unit_by_code
from node.core.db import utcnow
from node.local_tasks.assessment.models import Attachment, InspectionFinding, TaskEvaluation
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import ClassificationScheme, ClassificationValue, Task, TaskEvent
from node.local_tasks.service import create_document
from node.local_tasks.workflow.models import ExplanationRequest, Objection, ProgressUpdate, Receipt
from node.local_tasks.workflow.progress import submit_update
from tests.conftest import app_for_test, build_test_app

PASSWORD = "mat-khau-kiem-thu-2026"
AGENCY_CODE = "TU04"
OTHER_AGENCY_CODE = "TU01"
# username, role, org unit code of the grant.
ACCOUNTS = (
    ("vanphong.kt", "central_officer", "VPTW"),
    ("capnhat.kt", "updater", AGENCY_CODE),
    ("pheduyet.kt", "approver", AGENCY_CODE),
    ("capnhat.khac", "updater", OTHER_AGENCY_CODE),
    ("theodoi.kt", "monitoring_officer", "BCHTW"),
    ("kiemtra.kt", "inspector", "BCHTW"),
)
_references = itertools.count(1)


def write_calendar(folder: Path) -> Path:
    """Write yearly calendar files without holidays for this year and the next."""
    folder.mkdir(parents=True, exist_ok=True)
    year = utcnow().year
    for each in (year, year + 1):
        (folder / f"{each}.toml").write_text(
            "# Test calendar: Monday to Friday, no holidays.\n", encoding="utf-8")
    return folder


def create_accounts(session) -> None:  # noqa: ANN001
    for username, role, code in ACCOUNTS:
        user = create_user(session, username=username, full_name=f"Tài khoản {username}",
                           password=PASSWORD)
        grant_role(session, user, role, org_unit_by_code(session, code))


def add_document(session, calendar, *, confidentiality: str = "regular",  # noqa: ANN001
                 tasks: int = 1) -> list[Task]:
    """Store a document whose tasks are led by AGENCY_CODE and due about ten months ahead."""
    lead = org_unit_by_code(session, AGENCY_CODE).name
    monitor = org_unit_by_code(session, "VPTW").name
    deadline_on = (utcnow() + timedelta(days=300)).date()
    regular = confidentiality == "regular"
    document = create_document(session, DocumentInput(
        reference=f"{next(_references)}-KH/VPTW", issued_on=date.today() - timedelta(days=3),
        summary="Kế hoạch kiểm thử" if regular else None, confidentiality=confidentiality,
        tasks=[TaskInput(task_no=str(number + 1),
                         content=f"Xây dựng đề án số {number + 1}" if regular else None,
                         lead_agencies=[lead], monitoring_agency=monitor,
                         deadline=DeadlineInput(text=deadline_on.strftime("%d/%m/%Y"),
                                                on=deadline_on, precision="day"))
               for number in range(tasks)]), calendar=calendar)
    return list(document.tasks)


def visible(markup: str) -> str:
    text = re.sub(r"<[^>]+>", " ", markup)
    return re.sub(r"\s+", " ", html.unescape(text)).strip()


def csrf_of(markup: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', markup)
    assert match, "the page has no CSRF field"
    return match.group(1)


def form_key_of(markup: str, action: str) -> str:
    """Return the idempotency key of the form posting to `action`."""
    match = re.search(rf'action="{re.escape(action)}"[^>]*>.*?name="idempotency_key" '
                      r'value="([^"]+)"', markup, re.S)
    assert match, f"no form posts to {action}"
    return match.group(1)


class Browser:
    """A test client signed in through the sign-in form, posting with its CSRF token."""

    def __init__(self, app, username: str) -> None:  # noqa: ANN001
        self.client = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        response = self.client.post("/login", data={
            "username": username, "password": PASSWORD, "csrf_token": csrf_of(page)})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.csrf = csrf_of(self.get("/workflow/inbox"))

    def get(self, url: str, status: int = 200) -> str:
        response = self.client.get(url)
        assert response.status_code == status, response.get_data(as_text=True)[:2000]
        return response.get_data(as_text=True)

    def post(self, url: str, data: dict | None = None, status: int = 303,
             key: str | None = None):  # noqa: ANN201
        form = {"csrf_token": self.csrf, **(data or {})}
        if key is not None:
            form["idempotency_key"] = key
        response = self.client.post(url, data=form)
        assert response.status_code == status, response.get_data(as_text=True)[:3000]
        return response


@pytest.fixture(scope="module")
def calendar_app(settings, engine, tmp_path_factory):  # noqa: ANN001
    """An app whose calendar covers this year and the next, shared by the module's tests."""
    calendar_dir = write_calendar(tmp_path_factory.mktemp("calendar"))
    app = build_test_app(dataclasses.replace(settings, calendar_dir=calendar_dir))
    yield app
    app.extensions["theodoi_engine"].dispose()


@pytest.fixture
def app(calendar_app, session_factory):  # noqa: ANN001
    with app_for_test(calendar_app, session_factory) as app:
        yield app


@pytest.fixture
def tasks(app, session_factory):  # noqa: ANN001
    """Accounts and one document with two tasks led by TU04; returns the task ids."""
    with session_factory() as session:
        create_accounts(session)
        stored = add_document(session, app.extensions["theodoi_calendar"], tasks=2)
        session.commit()
        return [task.id for task in stored]


def count(session_factory, model) -> int:  # noqa: ANN001
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def load_task(session_factory, task_id: int) -> Task:  # noqa: ANN001
    with session_factory() as session:
        task = session.get(Task, task_id)
        session.expunge(task)
        return task


def transfer_and_confirm(app, task_id: int) -> tuple[Browser, Browser]:  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    office.post(f"/workflow/tasks/{task_id}/transfer")
    updater = Browser(app, "capnhat.kt")
    updater.post(f"/workflow/tasks/{task_id}/receipt")
    return office, updater


# Sign-in and permissions -------------------------------------------------------


def test_screens_need_sign_in(app, tasks):  # noqa: ANN001
    client = app.test_client()
    for url in ("/workflow/transfers", "/workflow/inbox", "/workflow/objections",
                "/workflow/approvals", "/workflow/updates", "/workflow/explanations"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


def test_post_without_csrf_rejected(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    response = office.client.post(f"/workflow/tasks/{tasks[0]}/transfer", data={})
    assert response.status_code == 400
    assert load_task(session_factory, tasks[0]).transferred_at is None


def test_updater_cannot_transfer(app, tasks, session_factory):  # noqa: ANN001
    updater = Browser(app, "capnhat.kt")
    updater.post(f"/workflow/tasks/{tasks[0]}/transfer", status=403)
    assert load_task(session_factory, tasks[0]).transferred_at is None


def test_other_agency_gets_not_found(app, tasks):  # noqa: ANN001
    other = Browser(app, "capnhat.khac")
    other.get(f"/workflow/tasks/{tasks[0]}/update", status=404)
    assert "Nhiệm vụ 1" not in visible(other.get("/workflow/inbox"))


def test_nav_links_follow_roles(app, tasks):  # noqa: ANN001
    office_page = Browser(app, "vanphong.kt").get("/workflow/transfers")
    assert 'href="/workflow/transfers"' in office_page
    assert 'href="/workflow/inbox"' not in office_page

    updater_page = Browser(app, "capnhat.kt").get("/workflow/inbox")
    assert 'href="/workflow/inbox"' in updater_page
    assert 'href="/workflow/transfers"' not in updater_page

    anonymous = app.test_client().get("/login").get_data(as_text=True)
    assert 'href="/workflow/inbox"' not in anonymous


# 1. Transfer -----------------------------------------------------------------------


def test_transfer_all_of_document(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    queue = visible(office.get("/workflow/transfers"))
    assert "1-KH/VPTW" in queue or "KH/VPTW" in queue
    with session_factory() as session:
        document_id = session.get(Task, tasks[0]).document_id
    page = office.get(f"/workflow/documents/{document_id}")
    action = f"/workflow/documents/{document_id}/transfer"
    key = form_key_of(page, action)

    response = office.post(action, key=key)
    follow = visible(office.get(response.headers["Location"]))

    assert "Đã chuyển giao 2 nhiệm vụ" in follow
    for task_id in tasks:
        assert load_task(session_factory, task_id).transferred_at is not None


def test_transfer_double_click_one_event(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    url = f"/workflow/tasks/{tasks[0]}/transfer"

    first = office.post(url, key="same-click")
    second = office.post(url, key="same-click")

    assert second.headers["Location"] == first.headers["Location"]
    with session_factory() as session:
        events = session.scalar(select(func.count()).select_from(TaskEvent).where(
            TaskEvent.task_id == tasks[0], TaskEvent.kind == "task.transfer"))
    assert events == 1


def test_submission_registry_second_waits():
    from node.local_tasks.views.workflow_pages import _SubmissionRegistry

    registry = _SubmissionRegistry()
    first, is_first = registry.claim(1, "key")
    seen: list[str | None] = []

    def second_click() -> None:
        entry, second_is_first = registry.claim(1, "key")
        assert not second_is_first
        entry.done.wait(5)
        seen.append(entry.redirect_to)

    thread = threading.Thread(target=second_click)
    thread.start()
    first.redirect_to = "/tasks/1"
    first.done.set()
    thread.join(5)

    assert is_first
    assert seen == ["/tasks/1"]
    assert registry.claim(2, "key")[1]


def test_transfer_again_shows_error(app, tasks):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    office.post(f"/workflow/tasks/{tasks[0]}/transfer", key="first")
    response = office.post(f"/workflow/tasks/{tasks[0]}/transfer", key="second", status=409)
    assert "đã được chuyển" in visible(response.get_data(as_text=True))


def test_group_resolved_then_transferred(app, tasks, session_factory):  # noqa: ANN001
    with session_factory() as session:
        deadline_on = (utcnow() + timedelta(days=300)).date()
        document = create_document(session, DocumentInput(
            reference="90-KH/VPTW", issued_on=date.today() - timedelta(days=1),
            summary="Kế hoạch có giao nhóm cơ quan", tasks=[
                TaskInput(task_no="1", content="Nhiệm vụ giao nhóm",
                          group_assignments=[("lead", "Các tỉnh ủy, thành ủy")],
                          deadline=DeadlineInput(text=deadline_on.strftime("%d/%m/%Y"),
                                                 on=deadline_on, precision="day")),
                TaskInput(task_no="2", content="Nhiệm vụ đã có cơ quan",
                          lead_agencies=[org_unit_by_code(session, AGENCY_CODE).name],
                          deadline=DeadlineInput(text=deadline_on.strftime("%d/%m/%Y"),
                                                 on=deadline_on, precision="day"))]),
            calendar=app.extensions["theodoi_calendar"])
        document_id = document.id
        group_id = document.tasks[0].group_assignments[0].id
        group_task_id = document.tasks[0].id
        unit_id = org_unit_by_code(session, AGENCY_CODE).id
        session.commit()
    office = Browser(app, "vanphong.kt")
    page = visible(office.get(f"/workflow/documents/{document_id}"))
    assert "Nhóm cơ quan chủ trì chưa được xác định" in page

    response = office.post(f"/workflow/documents/{document_id}/transfer")
    follow = visible(office.get(response.headers["Location"]))
    assert "Đã chuyển giao 1 nhiệm vụ" in follow
    assert "1 nhiệm vụ chưa đủ điều kiện" in follow
    assert load_task(session_factory, group_task_id).transferred_at is None

    invalid = office.post(f"/workflow/groups/{group_id}/resolve", {"org_units": "abc"},
                          status=422)
    assert 'data-error="org_units"' in invalid.get_data(as_text=True)
    office.post(f"/workflow/groups/{group_id}/resolve", {"org_units": str(unit_id)})
    with session_factory() as session:
        task = session.get(Task, group_task_id)
        assert [link.org_unit_id for link in task.agencies if link.role == "lead"] == [unit_id]
    resolved_page = office.get(f"/workflow/documents/{document_id}")
    assert 'data-group-state="resolved"' in resolved_page
    assert "giao nhóm cơ quan (chưa xác định)" not in visible(resolved_page)
    assert "Các tỉnh ủy, thành ủy Đã xác định" in visible(resolved_page)
    office.post(f"/workflow/documents/{document_id}/transfer")
    assert load_task(session_factory, group_task_id).transferred_at is not None


def test_classification_saved(app, tasks, session_factory):  # noqa: ANN001
    with session_factory() as session:
        priority = session.scalars(
            select(ClassificationValue).join(ClassificationScheme)
            .where(ClassificationScheme.code == "priority")
            .order_by(ClassificationValue.position)).first()
        time_value = session.scalars(
            select(ClassificationValue).join(ClassificationScheme)
            .where(ClassificationScheme.code == "time")).first()
        priority_id, time_id = priority.id, time_value.id
    office = Browser(app, "vanphong.kt")
    url = f"/workflow/tasks/{tasks[0]}/classification"
    page = office.get(url)
    assert f'value="{priority_id}"' in page
    assert f'value="{time_id}"' not in page

    rejected = office.post(url, {"scheme_priority": "xyz"}, status=422)
    assert 'data-error="values"' in rejected.get_data(as_text=True)
    office.post(url, {"scheme_priority": str(priority_id)})

    with session_factory() as session:
        values = {value.id for value in session.get(Task, tasks[0]).classifications}
    assert priority_id in values
    Browser(app, "capnhat.kt").get(url, status=403)


# 2. Receipt ------------------------------------------------------------------------


def test_inbox_lists_and_confirms(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    office.post(f"/workflow/tasks/{tasks[0]}/transfer")
    updater = Browser(app, "capnhat.kt")
    inbox = updater.get("/workflow/inbox")
    assert f'data-task="{tasks[0]}"' in inbox
    assert f'data-task="{tasks[1]}"' not in inbox
    assert "Hạn xác nhận tiếp nhận" in visible(inbox)

    updater.post(f"/workflow/tasks/{tasks[0]}/receipt",
                 key=form_key_of(inbox, f"/workflow/tasks/{tasks[0]}/receipt"))

    assert load_task(session_factory, tasks[0]).received_at is not None
    assert count(session_factory, Receipt) == 1
    assert f'data-task="{tasks[0]}"' not in updater.get("/workflow/inbox")


def test_late_receipt_marked(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    office.post(f"/workflow/tasks/{tasks[0]}/transfer")
    with session_factory() as session:
        task = session.get(Task, tasks[0])
        deadline = next(row for row in task.deadlines if row.kind == "receipt")
        deadline.due_at = utcnow() - timedelta(hours=1)
        session.commit()
    updater = Browser(app, "capnhat.kt")

    assert "Tiếp nhận muộn" in visible(updater.get("/workflow/inbox"))
    response = updater.post(f"/workflow/tasks/{tasks[0]}/receipt")
    page = visible(updater.get(response.headers["Location"]))

    assert "tiếp nhận muộn" in page.lower()
    with session_factory() as session:
        assert session.scalars(select(Receipt)).one().is_late is True


# 3. Objections ---------------------------------------------------------------------


def test_objection_missing_reason_kept_form(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    url = f"/workflow/tasks/{tasks[0]}/objection"
    page = updater.get(url)

    response = updater.post(url, {"kind": "outside_competence", "reason": "  "},
                            key=form_key_of(page, url), status=422)

    markup = response.get_data(as_text=True)
    assert 'data-error="reason"' in markup
    assert 'value="outside_competence" selected' in markup
    assert visible(markup).count("Thiếu lý do; hãy nhập và gửi lại") == 1
    assert "Thiếu reason" not in visible(markup)
    assert count(session_factory, Objection) == 0


def test_objection_unknown_kind_shows_value(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    response = updater.post(f"/workflow/tasks/{tasks[0]}/objection",
                            {"kind": "bogus", "reason": "Không thuộc chức năng"}, status=422)
    markup = response.get_data(as_text=True)
    assert 'data-error="kind"' in markup
    assert "bogus" in visible(markup)
    assert count(session_factory, Objection) == 0


def test_objection_accept_reassigns(app, tasks, session_factory):  # noqa: ANN001
    office, updater = transfer_and_confirm(app, tasks[0])
    updater.post(f"/workflow/tasks/{tasks[0]}/objection",
                 {"kind": "outside_competence", "reason": "Không thuộc chức năng của tỉnh"})
    queue = office.get("/workflow/objections")
    assert "Không thuộc chức năng của tỉnh" in visible(queue)
    with session_factory() as session:
        objection = session.scalars(select(Objection)).one()
        other = org_unit_by_code(session, OTHER_AGENCY_CODE)
        other_id, other_name = other.id, other.name

    response = office.post(f"/workflow/objections/{objection.id}/decision",
                           {"decision": "accept", "reassign_to": str(other_id), "reason": ""})

    assert other_name in visible(office.get(response.headers["Location"]))
    task = load_task(session_factory, tasks[0])
    assert task.transferred_at is None
    with session_factory() as session:
        leads = [link.org_unit_id for link in session.get(Task, tasks[0]).agencies
                 if link.role == "lead"]
    assert leads == [other_id]
    assert f'data-task="{tasks[0]}"' not in updater.get("/workflow/inbox")


def test_objection_reject_needs_reason(app, tasks, session_factory):  # noqa: ANN001
    office, updater = transfer_and_confirm(app, tasks[0])
    updater.post(f"/workflow/tasks/{tasks[0]}/objection",
                 {"kind": "other", "reason": "Đề nghị điều chỉnh thời hạn"})
    with session_factory() as session:
        objection_id = session.scalars(select(Objection.id)).one()
    url = f"/workflow/objections/{objection_id}/decision"

    response = office.post(url, {"decision": "reject", "reason": ""}, status=422)
    assert 'data-error="reason"' in response.get_data(as_text=True)
    with session_factory() as session:
        assert session.get(Objection, objection_id).status == "open"

    office.post(url, {"decision": "reject", "reason": "Nhiệm vụ đúng chức năng"})
    with session_factory() as session:
        assert session.get(Objection, objection_id).status == "rejected"


# 4. Progress updates ---------------------------------------------------------------


def test_update_approved_completes_task(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    url = f"/workflow/tasks/{tasks[0]}/update"
    key = form_key_of(updater.get(url), url)
    data = {"reported_state": "completed", "progress_percent": "100",
            "results": "Đề án đã trình", "difficulties": "", "next_steps": "", "milestone": ""}

    updater.post(url, data, key=key)
    updater.post(url, data, key=key)

    assert count(session_factory, ProgressUpdate) == 1
    assert load_task(session_factory, tasks[0]).reported_state == "not_started"
    approver = Browser(app, "pheduyet.kt")
    queue = approver.get("/workflow/approvals")
    assert "Đề án đã trình" in visible(queue)
    with session_factory() as session:
        update_id = session.scalars(select(ProgressUpdate.id)).one()

    approver.post(f"/workflow/updates/{update_id}/approve")

    page = visible(approver.get(f"/tasks/{tasks[0]}"))
    assert "Hoàn thành đúng hạn" in page
    assert "Phê duyệt báo cáo tiến độ" in page
    history = visible(approver.get(f"/tasks/{tasks[0]}").split('class="history"', 1)[1])
    assert "Kết quả, sản phẩm: Đề án đã trình" in history


def test_update_with_attachment(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    url = f"/workflow/tasks/{tasks[0]}/update"
    page = updater.get(url)
    assert 'enctype="multipart/form-data"' in page
    key = form_key_of(page, url)

    for _attempt in range(2):
        response = updater.client.post(url, data={
            "csrf_token": updater.csrf, "idempotency_key": key, "reported_state": "in_progress",
            "progress_percent": "50", "results": "Dự thảo đề án",
            "files": (io.BytesIO("Báo cáo tiến độ quý III\n".encode()), "bao-cao.txt")})
        assert response.status_code == 303, response.get_data(as_text=True)[:2000]

    assert count(session_factory, ProgressUpdate) == 1
    with session_factory() as session:
        attachment = session.scalars(select(Attachment)).one()
    assert attachment.filename == "bao-cao.txt"
    approver = Browser(app, "pheduyet.kt")
    assert "bao-cao.txt" in approver.get("/workflow/approvals")
    download = approver.client.get(f"/workflow/attachments/{attachment.id}")
    assert download.status_code == 200
    assert download.get_data() == "Báo cáo tiến độ quý III\n".encode()
    Browser(app, "capnhat.khac").get(f"/workflow/attachments/{attachment.id}", status=404)


def test_update_rejected_file_writes_nothing(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    response = updater.client.post(f"/workflow/tasks/{tasks[0]}/update", data={
        "csrf_token": updater.csrf, "reported_state": "in_progress", "progress_percent": "50",
        "files": (io.BytesIO(b"MZ\x90\x00"), "chuong-trinh.exe")})
    assert response.status_code == 422
    markup = response.get_data(as_text=True)
    assert 'data-error="files"' in markup
    assert "chuong-trinh.exe" in markup
    assert count(session_factory, ProgressUpdate) == 0
    assert count(session_factory, Attachment) == 0


def test_update_invalid_percent_writes_nothing(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    response = updater.post(f"/workflow/tasks/{tasks[0]}/update",
                            {"reported_state": "in_progress", "progress_percent": "chín mươi",
                             "results": "Đang soạn thảo"}, status=422)
    markup = response.get_data(as_text=True)
    assert 'data-error="progress_percent"' in markup
    assert "chín mươi" in visible(markup)
    assert "Đang soạn thảo" in markup
    assert count(session_factory, ProgressUpdate) == 0


def test_updater_cannot_approve_own(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    updater.post(f"/workflow/tasks/{tasks[0]}/update", {"reported_state": "in_progress",
                                                        "progress_percent": "40"})
    with session_factory() as session:
        update_id = session.scalars(select(ProgressUpdate.id)).one()
    updater.post(f"/workflow/updates/{update_id}/approve", status=403)
    with session_factory() as session:
        assert session.get(ProgressUpdate, update_id).status == "submitted"


def test_approver_own_update_has_no_approve(app, tasks, session_factory):  # noqa: ANN001
    transfer_and_confirm(app, tasks[0])
    with session_factory() as session:
        own = submit_update(session, session.get(Task, tasks[0]), at=utcnow(),
                            actor="pheduyet.kt", reported_state="in_progress",
                            progress_percent=30)
        other = submit_update(session, session.get(Task, tasks[0]), at=utcnow(),
                              actor="capnhat.kt", reported_state="in_progress",
                              progress_percent=40)
        own_id, other_id = own.id, other.id
        session.commit()

    queue = Browser(app, "pheduyet.kt").get("/workflow/approvals")

    assert f'action="/workflow/updates/{own_id}/approve"' not in queue
    assert f'action="/workflow/updates/{own_id}/return"' in queue
    assert f'action="/workflow/updates/{other_id}/approve"' in queue


def test_returned_update_shows_comment(app, tasks, session_factory):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    updater.post(f"/workflow/tasks/{tasks[0]}/update", {"reported_state": "in_progress",
                                                        "progress_percent": "40"})
    with session_factory() as session:
        update_id = session.scalars(select(ProgressUpdate.id)).one()
    approver = Browser(app, "pheduyet.kt")

    missing = approver.post(f"/workflow/updates/{update_id}/return", {"comment": ""},
                            status=422)
    assert 'data-error="comment"' in missing.get_data(as_text=True)
    assert visible(missing.get_data(as_text=True)).count("Thiếu ý kiến; hãy nhập và gửi lại") == 1
    # The only problem shows beside its field, so no empty alert box is drawn.
    assert 'data-error="form"' not in missing.get_data(as_text=True)
    approver.post(f"/workflow/updates/{update_id}/return",
                  {"comment": "Bổ sung số liệu quý III"})

    task_page = updater.get(f"/tasks/{tasks[0]}")
    assert "Bổ sung số liệu quý III" in visible(task_page)
    history = visible(task_page.split('class="history"', 1)[1])
    assert "Nội dung" in history
    assert "Ý kiến của người phê duyệt: Bổ sung số liệu quý III" in history
    assert "Bổ sung số liệu quý III" in visible(updater.get("/workflow/updates"))
    task = load_task(session_factory, tasks[0])
    assert task.reported_state == "not_started"
    assert task.progress_percent is None


def test_confidential_update_form_has_no_text(app, session_factory):  # noqa: ANN001
    with session_factory() as session:
        create_accounts(session)
        task_id = add_document(session, app.extensions["theodoi_calendar"],
                               confidentiality="confidential")[0].id
        session.commit()
    _, updater = transfer_and_confirm(app, task_id)
    page = updater.get(f"/workflow/tasks/{task_id}/update")
    assert 'name="reported_state"' in page
    assert 'name="results"' not in page
    assert 'name="difficulties"' not in page

    updater.post(f"/workflow/tasks/{task_id}/update",
                 {"reported_state": "in_progress", "progress_percent": "30",
                  "results": "nội dung mật"})
    with session_factory() as session:
        update = session.scalars(select(ProgressUpdate)).one()
    assert update.results is None
    assert update.progress_percent == 30


# 5. Explanations -------------------------------------------------------------------


def test_explanation_request_and_answer(app, tasks, session_factory):  # noqa: ANN001
    transfer_and_confirm(app, tasks[0])
    monitor = Browser(app, "theodoi.kt")
    empty = monitor.post(f"/workflow/tasks/{tasks[0]}/explanation-request", {"reason": ""},
                         status=422)
    assert 'data-error="reason"' in empty.get_data(as_text=True)
    assert count(session_factory, ExplanationRequest) == 0
    monitor.post(f"/workflow/tasks/{tasks[0]}/explanation-request",
                 {"reason": "Chưa báo cáo tiến độ giữa kỳ"})
    updater = Browser(app, "capnhat.kt")
    listing = visible(updater.get("/workflow/explanations"))
    assert "Chưa báo cáo tiến độ giữa kỳ" in listing
    with session_factory() as session:
        request_id = session.scalars(select(ExplanationRequest.id)).one()
    url = f"/workflow/explanations/{request_id}"

    missing = updater.post(url, {"answer": ""}, status=422)
    assert 'data-error="answer"' in missing.get_data(as_text=True)
    updater.post(url, {"answer": "Đang chờ số liệu của các sở"})

    with session_factory() as session:
        row = session.get(ExplanationRequest, request_id)
        assert row.status == "answered"
        assert row.answer == "Đang chờ số liệu của các sở"


# Task page ------------------------------------------------------------------------


def test_task_panel_shows_allowed_forms(app, tasks):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    page = office.get(f"/tasks/{tasks[0]}")
    assert f'action="/workflow/tasks/{tasks[0]}/transfer"' in page
    assert f'action="/workflow/tasks/{tasks[0]}/receipt"' not in page

    office.post(f"/workflow/tasks/{tasks[0]}/transfer")
    updater = Browser(app, "capnhat.kt")
    page = updater.get(f"/tasks/{tasks[0]}")
    assert f'action="/workflow/tasks/{tasks[0]}/receipt"' in page
    assert f'action="/workflow/tasks/{tasks[0]}/transfer"' not in page


def test_timeline_labels_in_vietnamese(app, tasks):  # noqa: ANN001
    _, updater = transfer_and_confirm(app, tasks[0])
    page = visible(updater.get(f"/tasks/{tasks[0]}"))
    assert "Chuyển giao nhiệm vụ" in page
    assert "Xác nhận tiếp nhận" in page
    assert "Đúng hạn" in page


# 6. Evaluation and inspection findings ------------------------------------------


def test_evaluation_by_central_office(app, tasks, session_factory):  # noqa: ANN001
    office = Browser(app, "vanphong.kt")
    url = f"/workflow/tasks/{tasks[0]}/evaluation"
    page = office.get(url)

    missing = office.post(url, {"rating": "", "comment": "Chưa chọn"},
                          key=form_key_of(page, url), status=422)
    assert 'data-error="rating"' in missing.get_data(as_text=True)
    assert count(session_factory, TaskEvaluation) == 0

    office.post(url, {"rating": "completed", "comment": "Đạt yêu cầu"})
    with session_factory() as session:
        evaluation = session.scalars(select(TaskEvaluation)).one()
    assert evaluation.rating == "completed"
    assert evaluation.comment == "Đạt yêu cầu"
    assert "Đạt yêu cầu" in visible(office.get(url))
    assert 'data-rating="completed"' in office.get(f"/tasks/{tasks[0]}")


def test_updater_cannot_evaluate(app, tasks):  # noqa: ANN001
    updater = Browser(app, "capnhat.kt")
    updater.get(f"/workflow/tasks/{tasks[0]}/evaluation", status=403)


def test_finding_visible_to_agency(app, tasks, session_factory):  # noqa: ANN001
    inspector = Browser(app, "kiemtra.kt")
    url = f"/workflow/tasks/{tasks[0]}/findings"

    missing = inspector.post(url, {"kind": "delay_sign", "finding": ""}, status=422)
    assert 'data-error="finding"' in missing.get_data(as_text=True)
    inspector.post(url, {"kind": "delay_sign", "finding": "Chậm báo cáo quý III",
                         "recommendation": "Đề nghị Tỉnh ủy kiểm điểm"})

    updater = Browser(app, "capnhat.kt")
    listing = visible(updater.get("/workflow/findings"))
    assert "Chậm báo cáo quý III" in listing
    assert "Đề nghị Tỉnh ủy kiểm điểm" in listing
    assert "Chậm báo cáo quý III" in visible(updater.get(f"/tasks/{tasks[0]}"))
    other = Browser(app, "capnhat.khac")
    assert "Chậm báo cáo quý III" not in visible(other.get("/workflow/findings"))

    with session_factory() as session:
        finding_id = session.scalars(select(InspectionFinding.id)).one()
    assert f'data-close="{finding_id}"' not in updater.get("/workflow/findings")
    close_url = f"/workflow/findings/{finding_id}/close"
    missing = inspector.post(close_url, {"note": ""}, status=422)
    assert 'data-error="note"' in missing.get_data(as_text=True)
    inspector.post(close_url, {"note": "Tỉnh ủy đã kiểm điểm"})
    with session_factory() as session:
        assert session.get(InspectionFinding, finding_id).status == "closed"
    assert "Tỉnh ủy đã kiểm điểm" in visible(updater.get("/workflow/findings"))


def test_confidential_evaluation_has_no_comment(app, session_factory):  # noqa: ANN001
    with session_factory() as session:
        create_accounts(session)
        task_id = add_document(session, app.extensions["theodoi_calendar"],
                               confidentiality="top_secret")[0].id
        session.commit()
    office = Browser(app, "vanphong.kt")
    url = f"/workflow/tasks/{task_id}/evaluation"
    assert 'name="comment"' not in office.get(url)

    office.post(url, {"rating": "not_fully_completed", "comment": "nội dung mật"})
    with session_factory() as session:
        evaluation = session.scalars(select(TaskEvaluation)).one()
    assert evaluation.comment is None
