"""The notification centre in headless Chromium: the unread count, marking warnings read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from node import create_app
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.timezone import VN_TZ
from node.local_tasks.calendar import load_calendar
from node.notifications.service import address_notifications, raise_warnings
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import served
from tests.e2e.test_browser import node_settings
from tests.notifications.helpers import PASSWORD, add_person, add_tasks

pytestmark = pytest.mark.browser

USERNAME = "capnhat.trinhduyet"
# Fri 6 March 2026: task 1 (due Mon 9 March) is 1 working day away and task
# 2 is due that day; both were received, so these are the only warnings.
RUN_AT = datetime(2026, 3, 6, 6, 15, tzinfo=VN_TZ)


@pytest.fixture
def node_url(tmp_path: Path, databases: DatabaseFactory) -> Iterator[str]:
    """Serve a node on a free 127.0.0.1 port whose updater has two unread warnings."""
    settings = node_settings(tmp_path, databases)
    engine = make_engine(settings.effective_database_url)
    calendar = load_calendar(settings)
    with unit_of_work(make_session_factory(engine)) as session:
        tasks = add_tasks(session, calendar, {"1": date(2026, 3, 9), "2": date(2026, 3, 6)},
                          transferred_at=datetime(2026, 2, 3, 9, 0, tzinfo=VN_TZ))
        for task in tasks.values():
            task.received_at = datetime(2026, 2, 3, 10, 0, tzinfo=VN_TZ)
        add_person(session, USERNAME, "updater", "TU04")
        raise_warnings(session, at=RUN_AT, calendar=calendar, settings=settings)
        address_notifications(session, at=RUN_AT)
    engine.dispose()

    with served(create_app(settings)) as url:
        yield url


def test_mark_warnings_read(node_url: str, page) -> None:  # noqa: ANN001
    page.goto(f"{node_url}/notifications")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.locator("#username").fill(USERNAME)
    page.locator("#password").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{node_url}/notifications")

    badge = page.locator('[data-nav="notifications"] .badge')
    assert page.locator("h1").inner_text() == "Thông báo"
    assert badge.inner_text() == "2"
    assert page.locator("tr.unread").count() == 2
    soon = page.locator('tr[data-kind="due_soon"]')
    assert "Thời hạn của nhiệm vụ 1 thuộc văn bản 21-KH/VPTW là 09/03/2026 " \
           "(còn 1 ngày làm việc)." in soon.inner_text()

    soon.get_by_role("button", name="Đánh dấu đã đọc").click()
    page.wait_for_load_state()
    assert badge.inner_text() == "1"
    assert page.locator('tr[data-kind="due_soon"]').get_attribute("class") == "read"
    assert page.locator("tr.unread").count() == 1

    page.get_by_role("button", name="Đánh dấu tất cả là đã đọc").click()
    page.wait_for_load_state()
    assert badge.count() == 0
    assert page.locator("tr.unread").count() == 0
    assert "Đã đánh dấu 1 thông báo là đã đọc." in page.locator("p.flash").inner_text()
