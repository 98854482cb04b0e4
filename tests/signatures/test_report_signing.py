"""Issued reports download as PDFs signed by the node."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.core.settings import replace
from node.signatures import verify
from node.signatures.signing import certificate_path, load_signing_identity
from node.signatures.trust import load_trust_anchors
from node.signatures.verify import verify_pdf
from tests.reports import data

MAX_BYTES = 20 * 1024 * 1024


@pytest.fixture
def trust_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "trust"
    folder.mkdir()
    return folder


@pytest.fixture
def app(settings, session_factory, engine, trust_dir: Path):  # noqa: ANN001, ANN201
    from node import create_app

    app = create_app(replace(settings, signatures_trust_dir=trust_dir))
    app.config["TESTING"] = True
    app.extensions["theodoi_sessions"] = session_factory
    return app


def _report(client, *, issue: bool) -> int:  # noqa: ANN001
    data.store(client)
    response = client.post("/api/v1/reports", json={
        "scope": "summary", "kind": "quarterly", "org_unit": "VPTW", "day": "2026-02-15"})
    assert response.status_code == 201, response.get_data(as_text=True)
    report_id = response.get_json()["id"]
    if issue:
        assert client.post(f"/api/v1/reports/{report_id}/issue").status_code == 200
    return report_id


def test_issued_report_signed_by_node(app, client, trust_dir: Path) -> None:  # noqa: ANN001
    report_id = _report(client, issue=True)

    pdf = client.get(f"/api/v1/reports/{report_id}/download/pdf").data
    settings = app.config["THEODOI_SETTINGS"]
    node_sha256 = load_signing_identity(settings).certificate_sha256
    untrusted = verify_pdf(pdf, load_trust_anchors(trust_dir), max_bytes=MAX_BYTES,
                           node_certificate_sha256=node_sha256)
    (trust_dir / "node.pem").write_bytes(certificate_path(settings).read_bytes())
    trusted = verify_pdf(pdf, load_trust_anchors(trust_dir), max_bytes=MAX_BYTES,
                         node_certificate_sha256=node_sha256)

    assert untrusted.status == verify.UNTRUSTED
    assert untrusted.signatures[0].is_node_certificate
    assert trusted.status == verify.VALID
    assert trusted.signatures[0].covers_whole_file


def test_web_download_of_issued_report_signed(app, client) -> None:  # noqa: ANN001
    report_id = _report(client, issue=True)

    pdf = client.get(f"/reports/{report_id}/download/pdf").data
    report = verify_pdf(pdf, load_trust_anchors(app.config["THEODOI_SETTINGS"]
                                                .signatures_trust_dir), max_bytes=MAX_BYTES)

    assert len(report.signatures) == 1


def test_draft_report_downloads_unsigned(client, trust_dir: Path) -> None:  # noqa: ANN001
    report_id = _report(client, issue=False)

    pdf = client.get(f"/api/v1/reports/{report_id}/download/pdf").data

    assert verify_pdf(pdf, load_trust_anchors(trust_dir), max_bytes=MAX_BYTES).status \
        == verify.UNSIGNED
