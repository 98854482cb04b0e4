"""Workflow screens in headless Chromium against a real server on a loopback port.

Each path signs in as the account whose role takes the step, each account in
its own browser context, the way different people would use the node. The
node runs on its own SQLite file with a working calendar for this year and
the next, because the screens act at the current instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node import create_app
from node.auth.service import org_unit_by_code
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.local_tasks.calendar import load_calendar
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import TIMEOUT_MS, served
from tests.e2e.test_browser import node_settings
from tests.local_tasks.test_workflow_pages import (
    OTHER_AGENCY_CODE,
    PASSWORD,
    add_document,
    create_accounts,
    write_calendar,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def node(tmp_path: Path, databases: DatabaseFactory) -> Iterator[dict]:
    """Serve a node on a free 127.0.0.1 port with the test accounts and one document."""
    settings = node_settings(tmp_path, databases,
                             calendar_dir=write_calendar(tmp_path / "calendar"))
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        create_accounts(session)
        tasks = add_document(session, load_calendar(settings), tasks=2)
        info = {"task_ids": [task.id for task in tasks], "document_id": tasks[0].document_id,
                "other_agency": org_unit_by_code(session, OTHER_AGENCY_CODE).name}
    engine.dispose()

    with served(create_app(settings)) as url:
        yield {**info, "url": url}


def sign_in(browser, url: str, username: str):  # noqa: ANN001, ANN201
    """Open a new browser context signed in as `username` and return its page."""
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.locator('main form button[type="submit"]').click()
    page.wait_for_load_state()
    assert "/login" not in page.url, page.locator("main").inner_text()
    return page


def transfer_and_confirm(browser, node: dict, task_id: int):  # noqa: ANN001, ANN201
    """Transfer the task as the central office and confirm it as the updater; return their pages."""
    office = sign_in(browser, node["url"], "vanphong.kt")
    office.goto(f"{node['url']}/workflow/documents/{node['document_id']}")
    office.locator(f'tr[data-task="{task_id}"] button').click()
    office.wait_for_load_state()
    assert "Đã chuyển giao" in office.locator("p.flash").inner_text()

    updater = sign_in(browser, node["url"], "capnhat.kt")
    updater.get_by_role("link", name="Nhiệm vụ chờ tiếp nhận").click()
    updater.wait_for_load_state()
    updater.locator(f'tr[data-task="{task_id}"] button').click()
    updater.wait_for_url(f"**/tasks/{task_id}")
    assert "Đã xác nhận tiếp nhận" in updater.locator("p.flash").inner_text()
    return office, updater


def submit_update(updater, node: dict, task_id: int, state: str, percent: str,  # noqa: ANN001
                  results: str, *, double_click: bool = False) -> None:
    updater.goto(f"{node['url']}/tasks/{task_id}")
    updater.get_by_role("link", name="Báo cáo tiến độ", exact=True).click()
    updater.wait_for_url(f"**/workflow/tasks/{task_id}/update")
    updater.select_option("#reported_state", state)
    updater.fill("#progress_percent", percent)
    updater.fill("#results", results)
    button = updater.get_by_role("button", name="Gửi phê duyệt")
    if double_click:
        button.dblclick()
    else:
        button.click()
    updater.wait_for_url(f"**/tasks/{task_id}")
    assert "chờ phê duyệt" in updater.locator("p.flash").inner_text()


def test_transfer_to_approved_completion(node: dict, browser) -> None:  # noqa: ANN001
    task_id = node["task_ids"][0]
    _, updater = transfer_and_confirm(browser, node, task_id)
    submit_update(updater, node, task_id, "completed", "100", "Đề án đã trình Ban Thường vụ",
                  double_click=True)

    approver = sign_in(browser, node["url"], "pheduyet.kt")
    approver.get_by_role("link", name="Báo cáo tiến độ chờ phê duyệt").click()
    approver.wait_for_load_state()
    assert "Đề án đã trình Ban Thường vụ" in approver.locator("main").inner_text()
    assert approver.locator("section.update").count() == 1
    approver.get_by_role("button", name="Phê duyệt").click()
    approver.wait_for_load_state()
    assert "Đã phê duyệt" in approver.locator("p.flash").inner_text()

    approver.goto(f"{node['url']}/tasks/{task_id}")
    assert approver.locator("h1 .badge").inner_text() == "Hoàn thành đúng hạn"
    steps = approver.locator("table.history tbody td:nth-child(2)").all_inner_texts()
    assert steps[-4:] == ["Chuyển giao nhiệm vụ", "Xác nhận tiếp nhận",
                          "Gửi báo cáo tiến độ chờ phê duyệt", "Phê duyệt báo cáo tiến độ"]


def test_returned_update_shows_comment(node: dict, browser) -> None:  # noqa: ANN001
    task_id = node["task_ids"][0]
    _, updater = transfer_and_confirm(browser, node, task_id)
    submit_update(updater, node, task_id, "in_progress", "60", "Đã có dự thảo lần 1")
    badge_before = updater.locator("h1 .badge").inner_text()

    approver = sign_in(browser, node["url"], "pheduyet.kt")
    approver.goto(f"{node['url']}/workflow/approvals")
    approver.locator("textarea[name=comment]").fill("Bổ sung ý kiến của các sở")
    approver.get_by_role("button", name="Trả lại để chỉnh sửa").click()
    approver.wait_for_load_state()
    assert "trả lại" in approver.locator("p.flash").inner_text()

    updater.goto(f"{node['url']}/tasks/{task_id}")
    assert "Bổ sung ý kiến của các sở" in updater.locator("#actions").inner_text()
    assert updater.locator("h1 .badge").inner_text() == badge_before
    assert "Đã có dự thảo lần 1" not in updater.locator("dl.fields").inner_text()


def test_objection_accepted_and_reassigned(node: dict, browser) -> None:  # noqa: ANN001
    task_id = node["task_ids"][1]
    office, updater = transfer_and_confirm(browser, node, task_id)
    updater.get_by_role("link", name="Gửi phản hồi, kiến nghị điều chỉnh").click()
    updater.wait_for_url(f"**/workflow/tasks/{task_id}/objection")
    updater.select_option("#kind", "outside_competence")
    updater.fill("#reason", "Nhiệm vụ thuộc chức năng của Thành ủy Hà Nội")
    updater.get_by_role("button", name="Gửi kiến nghị").click()
    updater.wait_for_url(f"**/tasks/{task_id}")

    office.get_by_role("link", name="Kiến nghị cần xử lý").click()
    office.wait_for_load_state()
    section = office.locator("section.objection")
    assert "Nhiệm vụ thuộc chức năng của Thành ủy Hà Nội" in section.inner_text()
    section.get_by_label("Chấp nhận kiến nghị", exact=True).check()
    section.locator("select[name=reassign_to]").select_option(label=node["other_agency"])
    section.get_by_role("button", name="Ghi nhận quyết định").click()
    office.wait_for_load_state()
    assert "giao lại cho" in office.locator("p.flash").inner_text()

    office.goto(f"{node['url']}/tasks/{task_id}")
    fields = office.locator("dl.fields").inner_text()
    assert node["other_agency"] in fields
    assert "Tỉnh ủy Cao Bằng" not in fields
    transfer_again = office.get_by_role("button", name="Chuyển giao nhiệm vụ cho cơ quan chủ trì")
    assert transfer_again.count() == 1
