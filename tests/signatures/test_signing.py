"""The node's signing key and the PAdES signature on the PDFs it issues."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.reader import PdfFileReader

from node.core.settings import Settings
from node.signatures import verify
from node.signatures.demo import make_authority, make_pdf, make_signer
from node.signatures.signing import (
    PASSWORD_ENV,
    SigningKeyError,
    certificate_path,
    ensure_signing_identity,
    key_path,
    load_signing_identity,
    sign_pdf,
)
from node.signatures.trust import load_trust_anchors
from node.signatures.verify import PdfRejectedError, verify_pdf
from tests.signatures.pki import trust_folder

OFFICE = "Văn phòng Trung ương Đảng"
MAX_BYTES = 5 * 1024 * 1024


@pytest.fixture
def node_settings(tmp_path: Path) -> Settings:
    settings = Settings(instance_path=tmp_path / "instance", node_id="central",
                        signatures_trust_dir=tmp_path / "trust")
    ensure_signing_identity(settings, OFFICE)
    return settings


def test_identity_created_once_with_private_mode(node_settings: Settings) -> None:
    first = load_signing_identity(node_settings).certificate_sha256

    again = ensure_signing_identity(node_settings, "another name")

    assert again == first
    assert stat.S_IMODE(key_path(node_settings).stat().st_mode) == 0o600
    assert load_signing_identity(node_settings).office_name == OFFICE


def test_signed_report_untrusted_without_node_certificate(node_settings: Settings) -> None:
    signed = sign_pdf(make_pdf(["Bao cao"]), node_settings, reason="Báo cáo định kỳ",
                      location="Hà Nội")
    fingerprint = load_signing_identity(node_settings).certificate_sha256

    report = verify_pdf(signed, load_trust_anchors(node_settings.signatures_trust_dir),
                        max_bytes=MAX_BYTES, node_certificate_sha256=fingerprint)

    assert report.status == verify.UNTRUSTED
    assert report.signatures[0].is_node_certificate
    assert report.signatures[0].signer_organisation == OFFICE


def test_signed_report_valid_with_node_certificate_trusted(node_settings: Settings) -> None:
    signed = sign_pdf(make_pdf(["Bao cao"], pages=2), node_settings, reason="Báo cáo",
                      location="Hà Nội")
    trust = node_settings.signatures_trust_dir
    trust.mkdir()
    (trust / "node.pem").write_bytes(certificate_path(node_settings).read_bytes())

    report = verify_pdf(signed, load_trust_anchors(trust), max_bytes=MAX_BYTES)

    assert report.status == verify.VALID
    assert report.signatures[0].signer_name == OFFICE


def test_signature_block_visible_on_last_page(node_settings: Settings) -> None:
    signed = sign_pdf(make_pdf(["Bao cao"], pages=3), node_settings, reason="Báo cáo",
                      location="Hà Nội")

    reader = PdfFileReader(io.BytesIO(signed))
    last_page = reader.root["/Pages"]["/Kids"][2]
    widgets = [annotation.get_object() for annotation in last_page.get("/Annots", [])]
    assert len(widgets) == 1
    left, bottom, right, top = (float(value) for value in widgets[0]["/Rect"])
    assert right - left > 100
    assert top - bottom > 30
    signature = reader.embedded_signatures[0].sig_object
    assert signature["/Reason"] == "Báo cáo"
    assert signature["/Location"] == "Hà Nội"


def test_signing_twice_keeps_both_valid(node_settings: Settings) -> None:
    once = sign_pdf(make_pdf(["Bao cao"]), node_settings, reason="first", location="Hà Nội")
    twice = sign_pdf(once, node_settings, reason="second", location="Hà Nội")
    trust = trust_folder(node_settings.signatures_trust_dir)
    (node_settings.signatures_trust_dir / "node.pem").write_bytes(
        certificate_path(node_settings).read_bytes())

    report = verify_pdf(twice, load_trust_anchors(trust.folder), max_bytes=MAX_BYTES)

    assert [item.status for item in report.signatures] == [verify.VALID, verify.VALID]


def test_sign_rejects_non_pdf(node_settings: Settings) -> None:
    with pytest.raises(PdfRejectedError):
        sign_pdf(b"not a pdf", node_settings, reason="x", location="y")


def _pkcs12_file(tmp_path: Path, password: bytes) -> tuple[Path, object]:
    authority = make_authority("Test Government CA")
    credential = make_signer(authority, "Văn phòng Tỉnh ủy Thử nghiệm", "Tỉnh ủy Thử nghiệm")
    data = pkcs12.serialize_key_and_certificates(
        b"node", credential.key, credential.certificate, [authority.certificate],
        serialization.BestAvailableEncryption(password))
    path = tmp_path / "node.p12"
    path.write_bytes(data)
    return path, authority


def test_pkcs12_signs_with_its_certificate(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    path, authority = _pkcs12_file(tmp_path, b"mat-khau")
    monkeypatch.setenv(PASSWORD_ENV, "mat-khau")
    settings = Settings(instance_path=tmp_path / "instance", signatures_pkcs12=path)

    signed = sign_pdf(make_pdf(["Bao cao"]), settings, reason="Báo cáo", location="Hà Nội")
    report = verify_pdf(signed, trust_folder(tmp_path / "trust", authority), max_bytes=MAX_BYTES)

    assert report.status == verify.VALID
    assert report.signatures[0].signer_name == "Văn phòng Tỉnh ủy Thử nghiệm"
    assert not key_path(settings).exists()


def test_pkcs12_wrong_password_names_variable(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    path, _authority = _pkcs12_file(tmp_path, b"mat-khau")
    monkeypatch.setenv(PASSWORD_ENV, "sai")
    settings = Settings(instance_path=tmp_path / "instance", signatures_pkcs12=path)

    with pytest.raises(SigningKeyError) as caught:
        load_signing_identity(settings)

    assert PASSWORD_ENV in caught.value.message


def test_missing_key_asks_for_init(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError) as caught:
        load_signing_identity(Settings(instance_path=tmp_path / "empty"))

    assert "theodoi init" in caught.value.message


def _stamp_fonts(signed: bytes) -> list:
    reader = PdfFileReader(io.BytesIO(signed))
    widget = reader.root["/Pages"]["/Kids"][0]["/Annots"][0].get_object()
    appearance = widget["/AP"]["/N"]
    fonts = []
    for stream in (appearance, *appearance["/Resources"].get("/XObject", {}).values()):
        resources = stream.get_object().get("/Resources", {})
        fonts += [font.get_object() for font in resources.get("/Font", {}).values()]
    return fonts


def test_signature_block_widths_in_pdf_units(node_settings: Settings) -> None:
    from node.signatures.signing import STAMP_FONT

    signed = sign_pdf(make_pdf(["Bao cao"]), node_settings, reason="Báo cáo", location="Hà Nội")

    fonts = _stamp_fonts(signed)
    assert fonts, "the signature block has no font"
    if STAMP_FONT.is_file():
        descendant = fonts[0]["/DescendantFonts"][0].get_object()
        widths = [value for item in descendant["/W"] if isinstance(item, list)
                  for value in item]
        # PDF glyph widths are thousandths of an em; no letter of DejaVu Sans
        # in the block is wider than one em.
        assert 0 < max(widths) <= 1000
    else:
        assert fonts[0]["/BaseFont"] == "/Helvetica"


def test_empty_pkcs12_setting_means_node_key(tmp_path: Path) -> None:
    from node.core.settings import load_settings

    settings = load_settings(environ={"THEODOI_INSTANCE_PATH": str(tmp_path),
                                      "THEODOI_SIGNATURES_PKCS12": ""})

    assert settings.signatures_pkcs12 is None


def test_pkcs12_setting_relative_to_config(tmp_path: Path) -> None:
    from node.core.settings import load_settings

    config = tmp_path / "node.toml"
    config.write_text('[signatures]\npkcs12 = "keys/node.p12"\ntrust_dir = "trust"\n',
                      encoding="utf-8")

    settings = load_settings(config, environ={})

    assert settings.signatures_pkcs12 == tmp_path / "keys" / "node.p12"
    assert settings.signatures_trust_dir == tmp_path / "trust"
