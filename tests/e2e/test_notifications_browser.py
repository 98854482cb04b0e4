"""The notification centre in headless Chromium: the unread count, marking warnings read."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from node import create_app
from node.core import migrate
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.local_tasks.calendar import load_calendar
from node.local_tasks.reference import seed_reference_data
from node.notifications.service import address_notifications, raise_warnings
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, sync_playwright_or_fail
from tests.notifications.helpers import PASSWORD, add_person, add_tasks

pytestmark = pytest.mark.browser

USERNAME = "capnhat.trinhduyet"
# Fri 6 March 2026: task 1 (due Mon 9 March) is 1 working day away and task
# 2 is due that day; both were received, so these are the only warnings.
RUN_AT = datetime(2026, 3, 6, 6, 15, tzinfo=VN_TZ)


@pytest.fixture
def node_url(tmp_path: Path) -> Iterator[str]:
    """Serve a node on a free 127.0.0.1 port whose updater has two unread warnings."""
    settings = Settings(instance_path=tmp_path / "instance",
                        database_url=f"sqlite:///{tmp_path / 'node.sqlite3'}",
                        secret_key="browser-test", log_level="WARNING")
    settings.instance_path.mkdir()
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    calendar = load_calendar(settings)
    with unit_of_work(make_session_factory(engine)) as session:
        seed_reference_data(session)
        tasks = add_tasks(session, calendar, {"1": date(2026, 3, 9), "2": date(2026, 3, 6)},
                          transferred_at=datetime(2026, 2, 3, 9, 0, tzinfo=VN_TZ))
        for task in tasks.values():
            task.received_at = datetime(2026, 2, 3, 10, 0, tzinfo=VN_TZ)
        add_person(session, USERNAME, "updater", "TU04")
        raise_warnings(session, at=RUN_AT, calendar=calendar, settings=settings)
        address_notifications(session, at=RUN_AT)
    engine.dispose()

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="node-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    app.extensions["theodoi_engine"].dispose()


def test_mark_warnings_read(node_url: str) -> None:
    sync_playwright = sync_playwright_or_fail()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
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
        finally:
            browser.close()
