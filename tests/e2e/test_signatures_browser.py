"""Uploading a signed PDF in headless Chromium against a real server on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from node import create_app
from node.core import migrate
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.core.settings import Settings
from node.local_tasks.reference import seed_reference_data
from node.signatures.demo import make_pdf, sign_with
from tests.accounts import officer_token
from tests.e2e.test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OFFICER_USERNAME,
    TIMEOUT_MS,
    sign_in,
    sync_playwright_or_fail,
)
from tests.local_tasks.sample_data import CONCLUSION
from tests.signatures.pki import government_like_chain, trust_folder

pytestmark = pytest.mark.browser


@pytest.fixture
def signing_node(tmp_path: Path) -> Iterator[tuple[str, int, Path]]:
    """Serve a node that trusts a test root; yield its URL, a document id and a signed PDF."""
    root, _intermediate, signer = government_like_chain()
    trust_folder(tmp_path / "trust", root)
    pdf_path = tmp_path / "02-KL-TW.pdf"
    pdf_path.write_bytes(sign_with(make_pdf(["KET LUAN 02-KL/TW"]), signer))
    settings = Settings(instance_path=tmp_path / "instance",
                        database_url=f"sqlite:///{tmp_path / 'node.sqlite3'}",
                        secret_key="browser-signatures", log_level="WARNING",
                        signatures_trust_dir=tmp_path / "trust")
    settings.instance_path.mkdir()
    engine = make_engine(settings.effective_database_url)
    migrate.upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        seed_reference_data(session)
        token = officer_token(session, OFFICER_USERNAME)
    engine.dispose()

    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = client.post("/api/v1/documents", json=CONCLUSION)
    assert response.status_code == 201, response.get_data(as_text=True)
    document_id = response.get_json()["id"]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="node-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", document_id, pdf_path
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)
    app.extensions["theodoi_engine"].dispose()


def test_upload_signed_pdf_shows_authenticated(signing_node) -> None:  # noqa: ANN001
    node_url, document_id, pdf_path = signing_node
    sync_playwright = sync_playwright_or_fail()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            sign_in(page, node_url, f"/documents/{document_id}")
            panel = page.locator("#signed-file")
            assert panel.locator(".auth-status").inner_text().strip() == "Chưa xác thực"

            page.locator("#signed-file-input").set_input_files(str(pdf_path))
            panel.get_by_role("button", name="Tải lên và kiểm tra chữ ký").click()
            page.wait_for_url(f"{node_url}/documents/{document_id}")

            panel = page.locator("#signed-file")
            assert panel.locator(".auth-status").inner_text().strip() == "Đã xác thực"
            assert panel.locator("dd.signer").inner_text() == "Trần Thị Bình"
            assert panel.get_attribute("data-status") == "valid"
            assert "02-KL-TW.pdf" in panel.inner_text()
        finally:
            browser.close()
