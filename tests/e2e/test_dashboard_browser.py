"""Live dashboard and map in headless Chromium against a real server on a loopback port.

The dashboard page stays open while other accounts approve a completion in
their own browser contexts; the page must show the new count without being
reloaded, through its server-sent-event stream.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import TIMEOUT_MS
from tests.e2e.test_workflow_browser import (  # noqa: F401 - node is a fixture
    node,
    sign_in,
    submit_update,
    transfer_and_confirm,
)

pytestmark = pytest.mark.browser

# The browser must show a change within this time, stream reconnects included.
LIVE_UPDATE_MS = 8_000
# GSO code of Cao Bằng, whose party committee leads the test document's tasks.
CAO_BANG = "04"


def test_dashboard_updates_after_approval(node: dict, browser) -> None:  # noqa: ANN001, F811
    task_id = node["task_ids"][0]
    leader = sign_in(browser, node["url"], "vanphong.kt")
    leader.goto(f"{node['url']}/dashboard/")
    on_time = leader.locator('[data-figure="completed_on_time"]')
    total = leader.locator('[data-figure="total"]')
    assert on_time.inner_text() == "0"
    assert total.inner_text() == "2"
    leader.evaluate("window.notReloaded = true")

    _, updater = transfer_and_confirm(browser, node, task_id)
    submit_update(updater, node, task_id, "completed", "100", "Đề án đã trình Ban Thường vụ")
    approver = sign_in(browser, node["url"], "pheduyet.kt")
    approver.goto(f"{node['url']}/workflow/approvals")
    approver.get_by_role("button", name="Phê duyệt").click()
    approver.wait_for_load_state()
    assert "Đã phê duyệt" in approver.locator("p.flash").inner_text()

    leader.wait_for_function(
        "document.querySelector('[data-figure=\"completed_on_time\"]').textContent.trim() === '1'",
        timeout=LIVE_UPDATE_MS)
    assert leader.evaluate("window.notReloaded") is True
    assert leader.locator('td[data-level="completed_on_time"]').first.inner_text() == "1"
    assert total.inner_text() == "2"


def test_map_shows_provinces_and_figures(node: dict, browser) -> None:  # noqa: ANN001, F811
    page = sign_in(browser, node["url"], "vanphong.kt")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{node['url']}/dashboard/map")

    provinces = page.locator("svg.province-map path[data-province][data-name]")
    assert provinces.count() == 34
    names = provinces.evaluate_all("paths => paths.map(p => p.getAttribute('data-name'))")
    assert len(set(names)) == 34
    assert "Thành phố Hà Nội" in names
    boxes = provinces.evaluate_all(
        "paths => paths.filter(p => { const b = p.getBBox(); return b.width > 0 && b.height > 0; })"
        ".length")
    assert boxes == 34

    cao_bang = page.locator(f'path[data-province="{CAO_BANG}"]')
    assert "rate-low" in cao_bang.get_attribute("class")
    cao_bang.hover()
    info = page.locator("#map-info")
    assert "Cao Bằng" in info.inner_text()
    assert "0 trên 2 nhiệm vụ hoàn thành đúng hạn (0,0 %)" in info.inner_text()

    page.locator('path[data-province="01"]').click()
    page.mouse.move(0, 0)
    assert "Thành phố Hà Nội" in info.inner_text()
    assert re.search(r"Chưa có nhiệm vụ", info.inner_text())
