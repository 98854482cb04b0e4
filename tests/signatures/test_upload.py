"""Upload of a document's signed PDF through the API and the web form, on the suite's engine."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.audit.models import AuditEntry
from node.core.settings import replace
from node.signatures.demo import append_update, make_pdf, sign_with
from node.signatures.models import DocumentFile, FileSignature, TaskSourceFingerprint
from node.signatures.verify import sha256_hex
from tests.accounts import OFFICER_PASSWORD, officer_token
from tests.conftest import app_for_test, build_test_app
from tests.local_tasks.sample_data import RESOLUTION, confidential_directive
from tests.signatures.pki import government_like_chain, trust_folder

SIGNER = "Trần Thị Bình"


@pytest.fixture(scope="module")
def chain():  # noqa: ANN201
    return government_like_chain()


@pytest.fixture(scope="module")
def signed_pdf(chain) -> bytes:  # noqa: ANN001
    return sign_with(make_pdf(["NGHI QUYET 01-NQ/TW", "Ve phat trien ha tang giao thong"]),
                     chain[2])


@pytest.fixture(scope="module")
def trusted_settings(settings, tmp_path_factory, chain):  # noqa: ANN001, ANN201
    trust = tmp_path_factory.mktemp("trust")
    trust_folder(trust, chain[0])
    return replace(settings, signatures_trust_dir=trust, max_upload_bytes=512 * 1024)


@pytest.fixture(scope="module")
def trusted_app(trusted_settings, engine):  # noqa: ANN001, ANN201
    """An app that trusts the test chain's root, shared by the module's tests."""
    app = build_test_app(trusted_settings)
    yield app
    app.extensions["theodoi_engine"].dispose()


@pytest.fixture
def app(trusted_app, session_factory):  # noqa: ANN001, ANN201
    with app_for_test(trusted_app, session_factory) as app:
        yield app


@pytest.fixture
def document(client) -> dict:  # noqa: ANN001
    response = client.post("/api/v1/documents", json=RESOLUTION)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def upload(client, document_id: int, data: bytes, filename: str = "01-NQ-TW.pdf"):  # noqa: ANN001, ANN201
    return client.post(f"/api/v1/documents/{document_id}/signed-file",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def stored_files(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(DocumentFile))


def audit_count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(AuditEntry))


def test_api_upload_valid_is_authenticated(client, document, signed_pdf, session) -> None:  # noqa: ANN001
    response = upload(client, document["id"], signed_pdf)

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "valid"
    assert body["is_authenticated"] is True
    assert body["sha256"] == sha256_hex(signed_pdf)
    assert body["signatures"][0]["signer_name"] == SIGNER
    assert body["signatures"][0]["signer_organisation"] == "Văn phòng Tỉnh ủy Thử nghiệm"
    stored = session.get(DocumentFile, body["id"])
    assert stored.content == signed_pdf
    assert stored.size_bytes == len(signed_pdf)


def test_api_upload_then_download_same_bytes(client, document, signed_pdf) -> None:  # noqa: ANN001
    body = upload(client, document["id"], signed_pdf).get_json()

    content = client.get(body["content_url"])

    assert content.status_code == 200
    assert content.mimetype == "application/pdf"
    assert content.data == signed_pdf


def test_raw_pdf_body_accepted(client, document, signed_pdf) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/documents/{document['id']}/signed-file", data=signed_pdf,
                           content_type="application/pdf",
                           headers={"Content-Disposition": 'attachment; filename="nq.pdf"'})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["filename"] == "nq.pdf"


def test_tasks_refer_to_fingerprint(client, document, signed_pdf, session) -> None:  # noqa: ANN001
    upload(client, document["id"], signed_pdf)
    task_ids = [task["id"] for task in client.get(
        f"/api/v1/tasks?document_id={document['id']}").get_json()["items"]]

    rows = session.scalars(select(TaskSourceFingerprint)).all()

    assert sorted(row.task_id for row in rows) == sorted(task_ids)
    assert {row.sha256 for row in rows} == {sha256_hex(signed_pdf)}
    page = client.get(f"/tasks/{task_ids[0]}", headers={"Accept": "text/html"})
    assert sha256_hex(signed_pdf) in page.get_data(as_text=True)


def test_document_page_shows_signer(client, document, signed_pdf) -> None:  # noqa: ANN001
    upload(client, document["id"], signed_pdf)

    text = client.get(f"/documents/{document['id']}?lang=vi").get_data(as_text=True)

    assert "Đã xác thực" in text
    assert SIGNER in text
    assert sha256_hex(signed_pdf) in text


def test_modified_pdf_stored_not_authenticated(client, document, signed_pdf) -> None:  # noqa: ANN001
    response = upload(client, document["id"], append_update(signed_pdf))

    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "modified"
    assert body["is_authenticated"] is False
    text = client.get(f"/documents/{document['id']}?lang=vi").get_data(as_text=True)
    assert "Chưa xác thực" in text
    assert 'data-authenticated="false"' in text


def test_changed_byte_stored_as_invalid(client, document, signed_pdf) -> None:  # noqa: ANN001
    position = signed_pdf.index(b"Ve phat trien")
    tampered = signed_pdf[:position] + b"X" + signed_pdf[position + 1:]

    body = upload(client, document["id"], tampered).get_json()

    assert body["status"] == "invalid"
    assert body["signatures"][0]["problems"] == ["integrity_failed"]


@pytest.mark.parametrize(("data", "filename", "reason_text"), [
    (b"Just some text", "notes.txt", ".txt"),
    (b"PK\x03\x04zip", "document.pdf", "not a PDF"),
    (make_pdf(["secret"], password="abc"), "locked.pdf", "encrypted"),
    (b"%PDF-1.7\nbroken", "broken.pdf", "cannot be read"),
])
def test_rejected_upload_stores_nothing(client, document, session, data: bytes,  # noqa: ANN001
                                        filename: str, reason_text: str) -> None:
    files_before, audit_before = stored_files(session), audit_count(session)

    response = upload(client, document["id"], data, filename)

    assert response.status_code == 422
    problem = response.get_json()
    assert reason_text in problem["detail"]
    assert problem["errors"][0]["path"] == "file"
    assert problem["errors"][0]["value"] == filename
    assert stored_files(session) == files_before
    assert audit_count(session) == audit_before


def test_upload_over_limit_rejected(client, document, session) -> None:  # noqa: ANN001
    big = make_pdf(["x" * 80] * 30, pages=400)
    assert len(big) > 512 * 1024

    # A raw body: the server rejects it by its Content-Length before reading it.
    response = client.post(f"/api/v1/documents/{document['id']}/signed-file", data=big,
                           content_type="application/pdf")

    assert response.status_code == 413
    assert "MB" in response.get_json()["detail"]
    assert stored_files(session) == 0


def test_confidential_document_rejects_pdf(client, signed_pdf, session) -> None:  # noqa: ANN001
    created = client.post("/api/v1/documents", json=confidential_directive()).get_json()

    response = upload(client, created["id"], signed_pdf)

    assert response.status_code == 422
    assert "confidential" in response.get_json()["detail"]
    assert stored_files(session) == 0


def test_missing_file_field_named(client, document) -> None:  # noqa: ANN001
    response = client.post(f"/api/v1/documents/{document['id']}/signed-file", json={})

    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "file"


def test_status_without_upload_is_404(client, document) -> None:  # noqa: ANN001
    response = client.get(f"/api/v1/documents/{document['id']}/signed-file")

    assert response.status_code == 404


def _web_login(app, session_factory) -> object:  # noqa: ANN001
    web = app.test_client()
    with session_factory() as session:
        officer_token(session, "vanphong.kyso")
        session.commit()
    login_page = web.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    response = web.post("/login", data={"csrf_token": token, "username": "vanphong.kyso",
                                        "password": OFFICER_PASSWORD})
    assert response.status_code in (302, 303)
    return web


def _form_post(web, document_id: int, data: bytes, filename: str):  # noqa: ANN001, ANN202
    page = web.get(f"/documents/{document_id}?lang=vi").get_data(as_text=True)
    form = page[page.index('id="signed-file"'):]
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    action = re.search(r'<form method="post" enctype="multipart/form-data" action="([^"]+)"',
                       form).group(1)
    return web.post(action, data={"csrf_token": token, "file": (io.BytesIO(data), filename)},
                    content_type="multipart/form-data")


def test_web_form_upload_authenticated(app, session_factory, document, signed_pdf) -> None:  # noqa: ANN001
    web = _web_login(app, session_factory)

    response = _form_post(web, document["id"], signed_pdf, "01-NQ-TW.pdf")

    assert response.status_code == 303
    text = web.get(response.headers["Location"] + "?lang=vi").get_data(as_text=True)
    assert "Đã xác thực" in text
    assert SIGNER in text


def test_web_form_rejects_text_file(app, session_factory, document, session) -> None:  # noqa: ANN001
    web = _web_login(app, session_factory)

    response = _form_post(web, document["id"], b"plain text", "ghi-chu.txt")

    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "ghi-chu.txt" in text
    assert stored_files(session) == 0


def test_signature_rows_keep_certificate_dates(client, document, signed_pdf, chain,  # noqa: ANN001
                                               session) -> None:
    body = upload(client, document["id"], signed_pdf).get_json()

    row = session.scalars(select(FileSignature).where(FileSignature.file_id == body["id"])).one()

    assert row.not_after == chain[2].certificate.not_valid_after_utc
    assert row.not_before == chain[2].certificate.not_valid_before_utc


def test_large_file_verified_in_background(fresh_database_url, tmp_path: Path, chain,  # noqa: ANN001
                                           signed_pdf) -> None:
    from node import create_app
    from node.core import migrate
    from node.core.db import make_engine, make_session_factory, unit_of_work
    from node.core.settings import Settings
    from node.local_tasks.reference import seed_reference_data

    trust_folder(tmp_path / "trust", chain[0])
    settings = Settings(instance_path=tmp_path / "instance", database_url=fresh_database_url,
                        secret_key="background", log_level="WARNING",
                        signatures_trust_dir=tmp_path / "trust", signatures_background_bytes=0)
    engine = make_engine(fresh_database_url)
    migrate.upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        seed_reference_data(session)
        token = officer_token(session, "vanphong.nen")
    engine.dispose()
    app = create_app(settings)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    document = client.post("/api/v1/documents", json=RESOLUTION).get_json()

    response = upload(client, document["id"], signed_pdf)

    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["status"] == "pending"
    status_url = response.headers["Location"]
    deadline = time.monotonic() + 20
    body = client.get(status_url).get_json()
    while body["status"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.05)
        body = client.get(status_url).get_json()
    assert body["status"] == "valid"
    assert body["checked_signatures"] == 1
    assert body["total_signatures"] == 1
    app.extensions["theodoi_engine"].dispose()
