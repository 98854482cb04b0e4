"""The access policy itself: visibility by scope, allowed steps by role, 404 before 403."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from node.auth.service import create_user, grant_role, org_unit_by_code
from node.local_tasks import permissions
from node.local_tasks.errors import TaskNotFoundError
from node.local_tasks.models import Task
from tests.local_tasks.roles import PASSWORD, TU01, TU04, post_document, task_body, task_ids

TU01_CONTENT = "Chỉnh trang đô thị ven sông Hồng"


@pytest.fixture
def tasks(client, session) -> dict[str, Task]:  # noqa: ANN001
    """Tasks led by TU04, led by TU01, coordinated by TU04, monitored by TU04, led by a group."""
    document = post_document(client, "41-KH/TU", [
        task_body("1", "Nhiệm vụ do Cao Bằng chủ trì", TU04),
        task_body("2", TU01_CONTENT, TU01),
        task_body("3", "Hà Nội chủ trì, Cao Bằng phối hợp", TU01, coordinating_agencies=[TU04]),
        task_body("4", "Hà Nội chủ trì, Cao Bằng theo dõi", TU01, monitoring_agency=TU04),
        {"task_no": "5", "content": "Các tỉnh ủy triển khai",
         "group_assignments": [{"role": "lead", "text": "Các tỉnh ủy, thành ủy"}],
         "deadline_on": "2026-12-31"},
    ])
    ids = dict(zip(("tu04", "tu01", "coordinated", "monitored", "group"), task_ids(document),
                   strict=True))
    return {name: session.get(Task, task_id) for name, task_id in ids.items()}


def make_user(session, name: str, *grants: tuple[str, str]):  # noqa: ANN001, ANN201
    user = create_user(session, username=name, full_name=name, password=PASSWORD)
    for role, code in grants:
        grant_role(session, user, role, org_unit_by_code(session, code))
    session.flush()
    return user


def visible_ids(session, user) -> set[int]:  # noqa: ANN001
    condition = permissions.visible_task_filter(session, user)
    return set(session.scalars(select(Task.id).where(condition)))


def test_updater_sees_agency_tasks(session, tasks) -> None:  # noqa: ANN001
    updater = make_user(session, "capnhat", ("updater", "TU04"))

    expected = {tasks[name].id for name in ("tu04", "coordinated", "monitored")}
    assert visible_ids(session, updater) == expected
    for name, task in tasks.items():
        assert permissions.can(updater, permissions.READ, task) == (task.id in expected), name


def test_updater_steps_need_lead(session, tasks) -> None:  # noqa: ANN001
    updater = make_user(session, "capnhat", ("updater", "TU04"))

    assert permissions.can(updater, permissions.SUBMIT_UPDATE, tasks["tu04"])
    assert permissions.can(updater, permissions.CONFIRM_RECEIPT, tasks["tu04"])
    assert permissions.can(updater, permissions.LODGE_OBJECTION, tasks["tu04"])
    assert not permissions.can(updater, permissions.REVIEW_UPDATE, tasks["tu04"])
    assert not permissions.can(updater, permissions.SUBMIT_UPDATE, tasks["coordinated"])
    assert not permissions.can(updater, permissions.SUBMIT_UPDATE, tasks["tu01"])
    assert not permissions.can(updater, permissions.TRANSFER, tasks["tu04"])


def test_approver_reviews_not_submits(session, tasks) -> None:  # noqa: ANN001
    approver = make_user(session, "pheduyet", ("approver", "TU04"))

    assert permissions.can(approver, permissions.REVIEW_UPDATE, tasks["tu04"])
    assert permissions.can(approver, permissions.CONFIRM_RECEIPT, tasks["tu04"])
    assert permissions.can(approver, permissions.ANSWER_EXPLANATION, tasks["tu04"])
    assert not permissions.can(approver, permissions.SUBMIT_UPDATE, tasks["tu04"])
    assert not permissions.can(approver, permissions.REVIEW_UPDATE, tasks["monitored"])


def test_grant_covers_subtree(session, tasks) -> None:  # noqa: ANN001
    """A grant over the root covers TU01 below it."""
    updater = make_user(session, "capnhat.toanquoc", ("updater", "BCHTW"))

    assert permissions.can(updater, permissions.SUBMIT_UPDATE, tasks["tu01"])
    assert permissions.can(updater, permissions.READ, tasks["group"])
    assert not permissions.can(updater, permissions.SUBMIT_UPDATE, tasks["group"])


def test_monitoring_officer_scope(session, tasks) -> None:  # noqa: ANN001
    officer = make_user(session, "theodoi", ("monitoring_officer", "TU04"))
    root_officer = make_user(session, "theodoi.tw", ("monitoring_officer", "BCHTW"))

    assert permissions.can(officer, permissions.REQUEST_EXPLANATION, tasks["monitored"])
    assert permissions.can(officer, permissions.EVALUATE, tasks["monitored"])
    assert not permissions.can(officer, permissions.REQUEST_EXPLANATION, tasks["tu04"])
    assert not permissions.can(officer, permissions.SUBMIT_UPDATE, tasks["monitored"])
    assert permissions.can(root_officer, permissions.REQUEST_EXPLANATION, tasks["tu01"])
    assert permissions.can(root_officer, permissions.EVALUATE, tasks["group"])


def test_node_wide_roles(session, tasks) -> None:  # noqa: ANN001
    administrator = make_user(session, "quantri", ("administrator", "BCHTW"))
    officer = make_user(session, "vanphong.tw", ("central_officer", "VPTW"))

    for user in (administrator, officer):
        assert visible_ids(session, user) >= {task.id for task in tasks.values()}
        for action in (permissions.TRANSFER, permissions.DECIDE_OBJECTION,
                       permissions.REQUEST_EXPLANATION, permissions.RESOLVE_GROUPS,
                       permissions.EVALUATE, permissions.CLASSIFY, permissions.EDIT):
            assert permissions.can(user, action, tasks["tu01"]), (user.username, action)
        # The agency's own steps stay with the agency.
        assert not permissions.can(user, permissions.SUBMIT_UPDATE, tasks["tu01"])
        assert not permissions.can(user, permissions.REVIEW_UPDATE, tasks["tu01"])
        assert not permissions.can(user, permissions.CONFIRM_RECEIPT, tasks["tu01"])


def test_leader_reads_only(session, tasks) -> None:  # noqa: ANN001
    leader = make_user(session, "lanhdao", ("leader", "TU04"))

    assert permissions.can(leader, permissions.READ, tasks["tu04"])
    assert not permissions.can(leader, permissions.READ, tasks["tu01"])
    for action in permissions.ACTIONS - {permissions.READ}:
        assert not permissions.can(leader, action, tasks["tu04"]), action


def test_inspector_records_findings(session, tasks) -> None:  # noqa: ANN001
    inspector = make_user(session, "kiemtra", ("inspector", "TU04"))
    root_inspector = make_user(session, "kiemtra.tw", ("inspector", "BCHTW"))

    assert permissions.can(inspector, permissions.RECORD_FINDING, tasks["tu04"])
    assert not permissions.can(inspector, permissions.RECORD_FINDING, tasks["tu01"])
    assert not permissions.can(inspector, permissions.SUBMIT_UPDATE, tasks["tu04"])
    assert visible_ids(session, root_inspector) >= {task.id for task in tasks.values()}
    assert permissions.can(root_inspector, permissions.RECORD_FINDING, tasks["group"])


def test_user_without_roles_sees_nothing(session, tasks) -> None:  # noqa: ANN001
    nobody = make_user(session, "khongvaitro")

    assert visible_ids(session, nobody) == set()
    assert visible_ids(session, None) == set()
    assert not permissions.can(None, permissions.READ, tasks["tu04"])


def test_require_hidden_is_not_found(app, session, tasks) -> None:  # noqa: ANN001
    updater = make_user(session, "capnhat", ("updater", "TU04"))

    with app.test_request_context("/?lang=en"):
        with pytest.raises(TaskNotFoundError) as hidden:
            permissions.require(updater, permissions.SUBMIT_UPDATE, tasks["tu01"])
        with pytest.raises(Forbidden) as forbidden:
            permissions.require(updater, permissions.TRANSFER, tasks["tu04"])
        permissions.require(updater, permissions.SUBMIT_UPDATE, tasks["tu04"])

    assert hidden.value.message == f"No task with id {tasks['tu01'].id}"
    assert TU01_CONTENT not in hidden.value.message
    task = tasks["tu04"]
    # The message names the task as its page does: its number in the document.
    assert f"task {task.task_no or task.position + 1} of {task.document.reference}" \
        in forbidden.value.description


def test_unknown_action_rejected(session, tasks) -> None:  # noqa: ANN001
    administrator = make_user(session, "quantri", ("administrator", "BCHTW"))

    with pytest.raises(ValueError, match="unknown action"):
        permissions.can(administrator, "delete", tasks["tu04"])


def test_visible_documents(app, session, tasks) -> None:  # noqa: ANN001
    updater = make_user(session, "capnhat", ("updater", "TU01"))
    other = make_user(session, "capnhat.khac", ("updater", "TU04"))
    document_id = tasks["tu01"].document_id

    with app.test_request_context("/?lang=en"):
        assert permissions.get_visible_document(session, updater, document_id).id == document_id
        with pytest.raises(Exception) as missing:
            permissions.get_visible_document(session, make_user(session, "khongai"), document_id)
        assert permissions.get_visible_document(session, other, document_id).id == document_id

    assert missing.value.status == 404
