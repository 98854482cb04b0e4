"""Uploading a signed PDF in headless Chromium against a real server on a loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node import create_app
from node.core.db import make_engine, make_session_factory, unit_of_work
from node.signatures.demo import make_pdf, sign_with
from tests.accounts import officer_token
from tests.conftest import DatabaseFactory
from tests.e2e.conftest import served
from tests.e2e.test_browser import OFFICER_USERNAME, node_settings, sign_in
from tests.local_tasks.sample_data import CONCLUSION
from tests.signatures.pki import government_like_chain, trust_folder

pytestmark = pytest.mark.browser


@pytest.fixture
def signing_node(tmp_path: Path,
                 databases: DatabaseFactory) -> Iterator[tuple[str, int, Path]]:
    """Serve a node that trusts a test root; yield its URL, a document id and a signed PDF."""
    root, _intermediate, signer = government_like_chain()
    trust_folder(tmp_path / "trust", root)
    pdf_path = tmp_path / "02-KL-TW.pdf"
    # pyHanko signs through asyncio.run, which cannot start in this thread while
    # Playwright's event loop runs in it, so the signing runs in a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as executor:
        signed = executor.submit(sign_with, make_pdf(["KET LUAN 02-KL/TW"]), signer).result()
    pdf_path.write_bytes(signed)
    settings = node_settings(tmp_path, databases, signatures_trust_dir=tmp_path / "trust")
    engine = make_engine(settings.effective_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        token = officer_token(session, OFFICER_USERNAME)
    engine.dispose()

    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = client.post("/api/v1/documents", json=CONCLUSION)
    assert response.status_code == 201, response.get_data(as_text=True)
    document_id = response.get_json()["id"]

    with served(app) as url:
        yield url, document_id, pdf_path


def test_upload_signed_pdf_shows_authenticated(signing_node, page) -> None:  # noqa: ANN001
    node_url, document_id, pdf_path = signing_node
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
