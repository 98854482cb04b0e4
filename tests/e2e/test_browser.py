"""The pages in headless Chromium against a real server on a loopback port.

The node runs on its own SQLite file with committed data, because the
server thread cannot see the rolled-back transaction of the other tests.
A missing Chromium or Playwright fails the test with what to install.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from node import create_app
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.settings import Settings
from tests.accounts import OFFICER_PASSWORD, officer_token
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import served
from tests.local_tasks.sample_data import AT_JULY, CONCLUSION, COUNTS_IN_JULY, RESOLUTION

pytestmark = pytest.mark.browser

OFFICER_USERNAME = "vanphong.trinhduyet"


def node_settings(tmp_path: Path, databases: DatabaseFactory, **options: object) -> Settings:
    """Settings of a node on a migrated SQLite copy, with its instance folder created."""
    settings = Settings(instance_path=tmp_path / "instance",
                        database_url=databases.new("node", migrated=True, kind="sqlite"),
                        secret_key="browser-test", log_level="WARNING", **options)
    settings.instance_path.mkdir()
    return settings


@pytest.fixture
def node_url(tmp_path: Path, databases: DatabaseFactory) -> Iterator[str]:
    """Serve a node on a free 127.0.0.1 port, with the two sample documents stored.

    The central-office officer OFFICER_USERNAME, with OFFICER_PASSWORD, can sign in.
    """
    settings = node_settings(tmp_path, databases)
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        token = officer_token(session, OFFICER_USERNAME)
    engine.dispose()

    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    for body in (RESOLUTION, CONCLUSION):
        response = client.post("/api/v1/documents", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)

    with served(app) as url:
        yield url


def sign_in(page, node_url: str, target: str) -> None:  # noqa: ANN001
    """Open `target`, which sends a visitor to the sign-in form, and sign in there."""
    page.goto(f"{node_url}{target}")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.locator("#username").fill(OFFICER_USERNAME)
    page.locator("#password").fill(OFFICER_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(f"{node_url}{target}")


def test_dashboard_to_task_page(node_url: str, page) -> None:  # noqa: ANN001
    sign_in(page, node_url, f"/?at={quote(AT_JULY)}")
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.locator("h1").inner_text() == "Tổng quan tình hình thực hiện nhiệm vụ"
    headings = page.locator("h2").all_inner_texts()
    assert headings == ["Nhiệm vụ theo mức độ hoàn thành",
                        "Nhiệm vụ theo cơ quan chủ trì và mức độ hoàn thành"]
    for level, count in COUNTS_IN_JULY.items():
        assert page.locator(f'td[data-level="{level}"]').inner_text() == str(count)
    assert page.locator('td[data-level="total"]').inner_text() == "8"

    page.locator('td[data-level="not_started_overdue"] a').click()
    page.wait_for_url("**/tasks?**")
    assert page.locator("h1").inner_text() == "Danh sách nhiệm vụ"
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() == 2
    assert "Tìm thấy 2 nhiệm vụ" in page.locator("p.summary").inner_text()

    page.get_by_role("link", name="Tổng kết công tác cán bộ").click()
    page.wait_for_url("**/tasks/*")
    assert page.locator("h1").inner_text().startswith("Nhiệm vụ 3")
    assert page.locator("h1 .badge").inner_text() == "Chưa triển khai quá hạn"
    assert page.get_by_text("Hạn chuyển giao").count() == 1

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text().startswith("Task 3")
    assert page.locator("h1 .badge").inner_text() == "Not started, overdue"

    page.get_by_role("link", name="Dashboard").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Overview of task implementation"
