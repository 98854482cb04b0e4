"""The agency search field of the task list in headless Chromium, with and without JavaScript.

The sample documents name Ban Tổ chức Trung ương on three tasks (two as lead).
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_browser import node_url, sign_in  # noqa: F401 - node_url is a fixture

pytestmark = pytest.mark.browser

AGENCY = "Ban Tổ chức Trung ương"


def test_agency_suggestion_sets_filter(node_url: str, page) -> None:  # noqa: ANN001, F811
    sign_in(page, node_url, "/tasks")

    page.locator("#agency").press_sequentially("to chuc")
    option = page.locator(f'#agency-suggestions option[value="{AGENCY}"]')
    option.wait_for(state="attached")
    assert page.locator("#agency-suggestions option").count() == 1
    assert page.locator("#agency_id").input_value() == ""

    page.locator("#agency").fill(AGENCY)
    agency_id = page.locator("#agency_id").input_value()
    assert agency_id.isdigit()
    page.select_option("#role", "lead")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(rf"/tasks\?.*agency_id={agency_id}"))

    assert page.locator("table.tasks tbody tr").count() == 2
    assert page.locator("#agency").input_value() == AGENCY

    # Typing another name drops the chosen id, so the server reads the name.
    page.locator("#agency").fill("Văn phòng Trung ương Đảng")
    assert page.locator("#agency_id").input_value() == ""


def test_agency_field_without_javascript(node_url: str, browser) -> None:  # noqa: ANN001, F811
    page = browser.new_context(java_script_enabled=False).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, node_url, "/tasks")

    page.locator("#agency").fill("ban to chuc trung uong")
    page.locator("form.filters button[type=submit]").click()
    page.wait_for_url(re.compile(r"/tasks\?.*agency=ban\+to\+chuc"))

    assert page.locator("table.tasks tbody tr").count() == 3
    assert page.locator("#agency").input_value() == AGENCY
    assert page.locator("#agency-suggestions option").count() == 0
