"""Verification of signed PDFs with test certificates made at run time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from node.signatures import verify
from node.signatures.demo import append_update, make_authority, make_pdf, make_signer, sign_with
from node.signatures.verify import PdfRejectedError, verify_pdf
from tests.signatures.pki import government_like_chain, trust_folder

MAX_BYTES = 5 * 1024 * 1024
TEXT = ["KET LUAN so 01-KL/TEST", "Noi dung giao nhiem vu"]


@pytest.fixture(scope="module")
def chain():  # noqa: ANN201
    return government_like_chain()


@pytest.fixture(scope="module")
def signed_pdf(chain) -> bytes:  # noqa: ANN001
    return sign_with(make_pdf(TEXT), chain[2])


@pytest.fixture
def anchors(tmp_path: Path, chain):  # noqa: ANN001, ANN201
    return trust_folder(tmp_path / "trust", chain[0])


def test_valid_signature_through_intermediate(signed_pdf: bytes, anchors) -> None:  # noqa: ANN001
    report = verify_pdf(signed_pdf, anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.VALID
    assert report.is_authenticated
    assert report.sha256 == hashlib.sha256(signed_pdf).hexdigest()
    assert len(report.signatures) == 1
    signature = report.signatures[0]
    assert signature.signer_name == "Trần Thị Bình"
    assert signature.signer_organisation == "Văn phòng Tỉnh ủy Thử nghiệm"
    assert signature.problems == ()
    assert signature.covers_whole_file
    assert abs(signature.signing_time - datetime.now(UTC)) < timedelta(minutes=5)


def test_fingerprint_is_certificate_sha256(signed_pdf: bytes, anchors, chain) -> None:  # noqa: ANN001
    from cryptography.hazmat.primitives import hashes

    report = verify_pdf(signed_pdf, anchors, max_bytes=MAX_BYTES)

    assert report.signatures[0].certificate_sha256 == chain[2].certificate.fingerprint(
        hashes.SHA256()).hex()


def test_changed_byte_in_signed_range_is_invalid(signed_pdf: bytes, anchors) -> None:  # noqa: ANN001
    position = signed_pdf.index(b"Noi dung")
    tampered = signed_pdf[:position] + b"M" + signed_pdf[position + 1:]

    report = verify_pdf(tampered, anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.INVALID
    assert not report.is_authenticated
    assert verify.INTEGRITY_FAILED in report.signatures[0].problems


def test_content_appended_after_signing_is_modified(signed_pdf: bytes, anchors) -> None:  # noqa: ANN001
    report = verify_pdf(append_update(signed_pdf), anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.MODIFIED
    assert verify.MODIFIED_AFTER_SIGNING in report.signatures[0].problems
    assert not report.signatures[0].covers_whole_file


def test_signer_outside_trust_anchors_is_untrusted(signed_pdf: bytes, tmp_path: Path) -> None:
    other_root = make_authority("Unrelated Root CA")
    anchors = trust_folder(tmp_path / "other", other_root)

    report = verify_pdf(signed_pdf, anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.UNTRUSTED
    assert report.signatures[0].problems == (verify.CHAIN_UNTRUSTED,)
    assert not report.is_authenticated


def test_empty_trust_folder_trusts_nothing(signed_pdf: bytes, tmp_path: Path) -> None:
    report = verify_pdf(signed_pdf, trust_folder(tmp_path / "empty"), max_bytes=MAX_BYTES)

    assert report.status == verify.UNTRUSTED


def test_expired_certificate_reports_its_dates(chain, anchors) -> None:  # noqa: ANN001
    not_before = datetime(2020, 1, 1, tzinfo=UTC)
    not_after = datetime(2021, 1, 1, tzinfo=UTC)
    expired = make_signer(chain[1], "Người ký cũ", "Cơ quan thử nghiệm",
                          not_before=not_before, not_after=not_after)

    report = verify_pdf(sign_with(make_pdf(TEXT), expired), anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.INVALID
    signature = report.signatures[0]
    assert verify.CERTIFICATE_EXPIRED in signature.problems
    assert signature.not_before == not_before
    assert signature.not_after == not_after


def test_two_signatures_both_valid(chain, anchors) -> None:  # noqa: ANN001
    second = make_signer(chain[1], "Lê Văn Cường", "Văn phòng Tỉnh ủy Thử nghiệm")
    once = sign_with(make_pdf(TEXT), chain[2], field_name="First")
    twice = sign_with(once, second, field_name="Second")

    report = verify_pdf(twice, anchors, max_bytes=MAX_BYTES)

    assert [item.status for item in report.signatures] == [verify.VALID, verify.VALID]
    assert report.status == verify.VALID


def test_unsigned_pdf_is_not_authenticated(anchors) -> None:  # noqa: ANN001
    report = verify_pdf(make_pdf(TEXT), anchors, max_bytes=MAX_BYTES)

    assert report.status == verify.UNSIGNED
    assert report.signatures == ()
    assert not report.is_authenticated


@pytest.mark.parametrize(("data", "reason"), [
    (b"PK\x03\x04 a zip file, not a PDF", "not_pdf"),
    (b"%PDF-1.7\n garbage without objects", "unreadable"),
])
def test_bad_input_rejected(data: bytes, reason: str, anchors) -> None:  # noqa: ANN001
    with pytest.raises(PdfRejectedError) as caught:
        verify_pdf(data, anchors, max_bytes=MAX_BYTES)

    assert caught.value.reason == reason


def test_encrypted_pdf_rejected(anchors) -> None:  # noqa: ANN001
    with pytest.raises(PdfRejectedError) as caught:
        verify_pdf(make_pdf(TEXT, password="secret"), anchors, max_bytes=MAX_BYTES)

    assert caught.value.reason == "encrypted"
    assert "encrypted" in caught.value.message


def test_file_over_limit_rejected(signed_pdf: bytes, anchors) -> None:  # noqa: ANN001
    with pytest.raises(PdfRejectedError) as caught:
        verify_pdf(signed_pdf, anchors, max_bytes=len(signed_pdf) - 1)

    assert caught.value.reason == "too_large"
    assert str(len(signed_pdf)) in caught.value.message
