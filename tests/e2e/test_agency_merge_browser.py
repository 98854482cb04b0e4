"""An administrator merges a duplicate agency from the Agencies page in headless Chromium.

The node stores one document, imported with missing agencies created: task 1
is led by "Bộ Khoa học và Công nghệ", task 2 by the spelling "Bộ Khoa học,
Công nghệ". Both units are marked for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from node import create_app
from node.auth.service import create_user, grant_role, org_unit_by_code
from node.core.db import make_engine, make_session_factory, unit_of_work
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import served
from tests.e2e.test_browser import node_settings
from tests.local_tasks.roles import bearer_client, create_account, task_body

pytestmark = pytest.mark.browser

ADMIN_USERNAME = "quantri.trinhduyet"
ADMIN_PASSWORD = "mat-khau-quan-tri-2026"
KEPT = "Bộ Khoa học và Công nghệ"
DUPLICATE = "Bộ Khoa học, Công nghệ"
DOCUMENT = {"reference": "12/KH-BCĐ", "kind": "plan", "summary": "Kế hoạch chuyển đổi số",
            "issued_on": "2026-03-02",
            "tasks": [task_body("1", "Xây dựng cơ sở dữ liệu khoa học", KEPT),
                      task_body("2", "Đánh giá tiềm lực công nghệ", DUPLICATE)]}


@pytest.fixture
def merge_node_url(tmp_path: Path, databases: DatabaseFactory) -> Iterator[str]:
    """Serve a node with DOCUMENT stored and the administrator ADMIN_USERNAME."""
    settings = node_settings(tmp_path, databases)
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        admin = create_user(session, username=ADMIN_USERNAME, full_name="Quản trị (kiểm thử)",
                            password=ADMIN_PASSWORD)
        grant_role(session, admin, "administrator", org_unit_by_code(session, "BCHTW"))
        token = create_account(session, "vanphong.nhapdulieu", [("central_officer", "VPTW")])
    engine.dispose()

    app = create_app(settings)
    response = bearer_client(app, token).post("/api/v1/documents?create_agencies=true",
                                              json=DOCUMENT)
    assert response.status_code == 201, response.get_data(as_text=True)

    with served(app) as url:
        yield url


def test_admin_merges_duplicate_agency(merge_node_url: str, page) -> None:  # noqa: ANN001
    page.goto(f"{merge_node_url}/agencies?needs_review=1")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.locator("#username").fill(ADMIN_USERNAME)
    page.locator("#password").fill(ADMIN_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r"/agencies\?needs_review=1$"))

    row = page.locator("table.units tbody tr", has_text=DUPLICATE)
    row.get_by_role("link", name="Gộp vào cơ quan khác").click()
    page.wait_for_url(re.compile(r"/agencies/\d+/merge$"))
    assert page.locator("h1").inner_text() == "Gộp vào cơ quan khác"
    search = page.get_by_role("searchbox", name="Tìm cơ quan theo tên")
    assert search.input_value() == "Bộ Khoa học"

    page.get_by_label(KEPT).check()
    page.get_by_role("button", name="Tiếp tục").click()
    page.wait_for_url(re.compile(r"/merge/confirm\?"))
    assert page.locator("h1").inner_text() == "Xác nhận gộp cơ quan"
    assert page.locator("[data-plan=tasks]").inner_text() == \
        f"1 nhiệm vụ có tên {DUPLICATE}; {KEPT} thay thế cơ quan này trong từng nhiệm vụ."
    assert DUPLICATE in page.locator("[data-plan=names]").inner_text()

    page.get_by_role("button", name="Gộp", exact=True).click()
    page.wait_for_url(re.compile(r"/agencies\?needs_review=1$"))
    flash = page.locator(".flash.success").inner_text()
    assert flash.startswith(f"{DUPLICATE} đã được gộp vào {KEPT}: đã chuyển 1 nhiệm vụ")
    names = page.locator("table.units tbody tr td:first-child").all_inner_texts()
    assert not any(name.startswith(DUPLICATE) for name in names)
    kept_row = page.locator("table.units tbody tr", has_text=KEPT)
    assert kept_row.locator("td.num").inner_text() == "2"
