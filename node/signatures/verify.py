"""Verification of the signatures in a PDF (PAdES and adbe.pkcs7.detached) with pyHanko.

Each signature gets five checks. The digest of the signed byte ranges
shows integrity, and the CMS signature must be valid. The certificate must
chain up to the node's trust anchors and be valid at the signing time.
Last, the file must not have changed after the signature. The file's status is the
worst status of its signatures, in the order invalid, modified, untrusted,
valid. A PDF without any signature is "unsigned".

NOTE: the signing time is the time the signer's software wrote into the
signature (or a signature timestamp when there is one); without a trusted
timestamp it is the signer's claim. Revocation is not checked, because the
node fetches nothing from outside (no OCSP or CRL requests).
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESIndeterminate
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from node.core.errors import DomainError
from node.signatures.trust import TrustAnchors

logger = logging.getLogger(__name__)

# pyHanko logs a traceback at warning level for every chain it cannot build
# and every change it finds after a signature. The result returned here
# already reports both, so only its errors are kept.
logging.getLogger("pyhanko").setLevel(logging.ERROR)
logging.getLogger("pyhanko_certvalidator").setLevel(logging.ERROR)
# fontTools warns about every font table it does not subset when a signature block is drawn.
logging.getLogger("fontTools").setLevel(logging.ERROR)

# File statuses, from best to worst.
VALID = "valid"
UNTRUSTED = "untrusted"
MODIFIED = "modified"
INVALID = "invalid"
UNSIGNED = "unsigned"
STATUS_ORDER = (VALID, UNTRUSTED, MODIFIED, INVALID)
STATUSES = (*STATUS_ORDER, UNSIGNED)

# Problems found in one signature.
INTEGRITY_FAILED = "integrity_failed"
SIGNATURE_INVALID = "signature_invalid"
CERTIFICATE_EXPIRED = "certificate_expired"
CERTIFICATE_NOT_YET_VALID = "certificate_not_yet_valid"
CHAIN_UNTRUSTED = "chain_untrusted"
CHAIN_INVALID = "chain_invalid"
MODIFIED_AFTER_SIGNING = "modified_after_signing"
UNREADABLE_SIGNATURE = "unreadable_signature"

# Changes after a signature that leave the signed content as it was:
# none at all, or only validation data and document timestamps (PAdES LTA).
_HARMLESS_LEVELS = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
_EXPIRED_INDICATIONS = (AdESIndeterminate.EXPIRED, AdESIndeterminate.OUT_OF_BOUNDS_NO_POE,
                        AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED)
_UNTRUSTED_INDICATIONS = (AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND,)

# Maximum number of certificates followed when looking for the root of a signature.
MAX_CHAIN_LENGTH = 10

PDF_MAGIC = b"%PDF-"
# PDF readers accept the header anywhere in the first 1024 bytes (ISO 32000-2, 7.5.2).
PDF_HEADER_WINDOW = 1024


class PdfRejectedError(DomainError):
    """The file cannot be verified: too large, not a PDF, unreadable or encrypted."""

    status = 422
    title = "File rejected"

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class SignatureReport:
    """Verification outcome of one signature of a PDF, with its signer."""

    field_name: str
    status: str
    problems: tuple[str, ...]
    signer_name: str | None
    signer_organisation: str | None
    signing_time: datetime | None
    certificate_sha256: str
    certificate_subject: str
    certificate_issuer: str
    not_before: datetime
    not_after: datetime
    covers_whole_file: bool
    modification_level: str | None
    is_node_certificate: bool


@dataclass(frozen=True)
class VerificationReport:
    """The verification result of one PDF file."""

    sha256: str
    size_bytes: int
    status: str
    signatures: tuple[SignatureReport, ...]

    @property
    def is_authenticated(self) -> bool:
        """Return whether every signature is valid and chains to a trust anchor."""
        return self.status == VALID

    def as_json(self) -> dict:
        """Return the report as JSON types, instants in ISO 8601 UTC."""
        def convert(value: object) -> object:
            if isinstance(value, datetime):
                return value.astimezone(UTC).isoformat()
            if isinstance(value, tuple | list):
                return [convert(item) for item in value]
            if isinstance(value, dict):
                return {key: convert(item) for key, item in value.items()}
            return value

        body = convert(asdict(self))
        assert isinstance(body, dict)
        body["is_authenticated"] = self.is_authenticated
        return body


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_pdf(data: bytes, *, max_bytes: int) -> PdfFileReader:
    """Parse `data` as a PDF, or raise PdfRejectedError saying why it cannot be verified."""
    if len(data) > max_bytes:
        raise PdfRejectedError(
            f"The file has {len(data)} bytes, more than the limit of {max_bytes} bytes; "
            "send a smaller file", reason="too_large")
    if PDF_MAGIC not in data[:PDF_HEADER_WINDOW]:
        raise PdfRejectedError(
            "The file is not a PDF (it does not start with %PDF-); send the signed PDF "
            "of the document", reason="not_pdf")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        encrypted = reader.encrypted
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise PdfRejectedError(
            f"The PDF cannot be read ({exc}); send the file as the issuing office signed it",
            reason="unreadable") from None
    if encrypted:
        raise PdfRejectedError(
            "The PDF is encrypted, so its signatures cannot be checked; ask the issuing "
            "office for the signed PDF without a password or encryption", reason="encrypted")
    return reader


def certificate_sha256(certificate: asn1_x509.Certificate) -> str:
    return hashlib.sha256(certificate.dump()).hexdigest()


def _name_part(certificate: asn1_x509.Certificate, key: str) -> str | None:
    value = certificate.subject.native.get(key)
    if isinstance(value, list):
        value = ", ".join(value)
    return value or None


def _validation_context(anchors: TrustAnchors, moment: datetime,
                        extra_root: asn1_x509.Certificate | None = None) -> ValidationContext:
    roots = [*anchors.roots, *([extra_root] if extra_root is not None else [])]
    # allow_fetching=False: no certificate, OCSP or CRL is fetched from the network.
    return ValidationContext(trust_roots=roots, other_certs=list(anchors.intermediates),
                             allow_fetching=False, moment=moment, revocation_mode="soft-fail")


def _embedded_root(embedded) -> asn1_x509.Certificate | None:  # noqa: ANN001
    """Return the self-signed certificate that ends the signer's embedded chain, if any."""
    by_subject = {cert.subject.dump(): cert for cert in embedded.other_embedded_certs}
    current = embedded.signer_cert
    for _step in range(MAX_CHAIN_LENGTH):
        if current.self_signed != "no":
            return current
        current = by_subject.get(current.issuer.dump())
        if current is None:
            return None
    return None


def _trust_indication(embedded, anchors: TrustAnchors, moment: datetime,  # noqa: ANN001
                      first_indication):  # noqa: ANN001, ANN202
    """Tell an untrusted root apart from a chain that is broken whatever its root.

    When the chain fails to validate and ends in a root outside the trust
    anchors, it is validated again with that root trusted: passing then means
    the only problem is the untrusted root.
    """
    if first_indication is None:
        return None
    root = _embedded_root(embedded)
    anchor_digests = {certificate_sha256(cert) for cert in anchors.roots}
    if root is None:
        return AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
    if certificate_sha256(root) in anchor_digests:
        return first_indication
    retry = validate_pdf_signature(embedded, _validation_context(anchors, moment, root),
                                   skip_diff=True)
    if retry.trust_problem_indic is None:
        return AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND
    return retry.trust_problem_indic


def _signing_time(embedded) -> datetime | None:  # noqa: ANN001
    claimed = embedded.self_reported_timestamp
    if claimed is None:
        return None
    if claimed.tzinfo is None:
        claimed = claimed.replace(tzinfo=UTC)
    return claimed.astimezone(UTC)


def _date_problem(certificate: asn1_x509.Certificate, at: datetime) -> str | None:
    validity = certificate["tbs_certificate"]["validity"]
    if at < validity["not_before"].native:
        return CERTIFICATE_NOT_YET_VALID
    if at > validity["not_after"].native:
        return CERTIFICATE_EXPIRED
    return None


def _problems(status, indication, certificate,  # noqa: ANN001
              signing_time: datetime | None, is_last: bool) -> list[str]:
    problems: list[str] = []
    if not status.intact:
        problems.append(INTEGRITY_FAILED)
    if not status.valid:
        problems.append(SIGNATURE_INVALID)
    date_problem = _date_problem(certificate, signing_time or datetime.now(UTC))
    if date_problem:
        problems.append(date_problem)
    if indication in _UNTRUSTED_INDICATIONS:
        problems.append(CHAIN_UNTRUSTED)
    elif indication is not None and indication not in _EXPIRED_INDICATIONS:
        problems.append(CHAIN_INVALID)
    elif indication is not None and date_problem is None:
        problems.append(CERTIFICATE_EXPIRED)
    level = status.modification_level
    if is_last and (status.coverage != SignatureCoverageLevel.ENTIRE_FILE
                    and level not in _HARMLESS_LEVELS):
        problems.append(MODIFIED_AFTER_SIGNING)
    elif not is_last and (level is None or level > ModificationLevel.FORM_FILLING
                          or status.docmdp_ok is False):
        # Later signatures add form fields; anything beyond that changed the content.
        problems.append(MODIFIED_AFTER_SIGNING)
    return problems


def _status_of(problems: list[str]) -> str:
    if {INTEGRITY_FAILED, SIGNATURE_INVALID, CERTIFICATE_EXPIRED, CERTIFICATE_NOT_YET_VALID,
            CHAIN_INVALID, UNREADABLE_SIGNATURE} & set(problems):
        return INVALID
    if MODIFIED_AFTER_SIGNING in problems:
        return MODIFIED
    if CHAIN_UNTRUSTED in problems:
        return UNTRUSTED
    return VALID


def _report_signature(embedded, anchors: TrustAnchors, *, is_last: bool,  # noqa: ANN001
                      node_certificate_sha256: str | None) -> SignatureReport:
    certificate = embedded.signer_cert
    signing_time = _signing_time(embedded)
    moment = signing_time or datetime.now(UTC)
    try:
        status = validate_pdf_signature(embedded, _validation_context(anchors, moment))
        indication = _trust_indication(embedded, anchors, moment, status.trust_problem_indic)
        problems = _problems(status, indication, certificate, signing_time, is_last)
        coverage, level = status.coverage, status.modification_level
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError) as exc:
        logger.warning("signature could not be validated",
                       extra={"field": embedded.field_name, "error": str(exc)})
        problems, coverage, level = [UNREADABLE_SIGNATURE], None, None
    validity = certificate["tbs_certificate"]["validity"]
    fingerprint = certificate_sha256(certificate)
    return SignatureReport(
        field_name=str(embedded.field_name or ""),
        status=_status_of(problems),
        problems=tuple(problems),
        signer_name=_name_part(certificate, "common_name"),
        signer_organisation=_name_part(certificate, "organization_name"),
        signing_time=signing_time,
        certificate_sha256=fingerprint,
        certificate_subject=certificate.subject.human_friendly,
        certificate_issuer=certificate.issuer.human_friendly,
        not_before=validity["not_before"].native,
        not_after=validity["not_after"].native,
        covers_whole_file=coverage == SignatureCoverageLevel.ENTIRE_FILE,
        modification_level=level.name.lower() if level is not None else None,
        is_node_certificate=fingerprint == node_certificate_sha256,
    )


def verify_pdf(data: bytes, anchors: TrustAnchors, *, max_bytes: int,
               node_certificate_sha256: str | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> VerificationReport:
    """Verify every signature of the PDF `data` against `anchors`.

    Raises PdfRejectedError when the file is too large, not a PDF, unreadable
    or encrypted. `node_certificate_sha256` marks the signatures made with
    the node's own certificate. `on_progress(checked, total)` is called
    before the first signature and after each one.
    """
    reader = open_pdf(data, max_bytes=max_bytes)
    try:
        embedded = list(reader.embedded_regular_signatures)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise PdfRejectedError(
            f"The signatures of the PDF cannot be read ({exc}); send the file as the issuing "
            "office signed it", reason="unreadable") from None
    collected: list[SignatureReport] = []
    for index, item in enumerate(embedded):
        if on_progress is not None:
            on_progress(index, len(embedded))
        collected.append(_report_signature(item, anchors, is_last=index == len(embedded) - 1,
                                           node_certificate_sha256=node_certificate_sha256))
    if on_progress is not None:
        on_progress(len(embedded), len(embedded))
    reports = tuple(collected)
    if not reports:
        status = UNSIGNED
    else:
        status = max((report.status for report in reports), key=STATUS_ORDER.index)
    logger.info("PDF verified", extra={"sha256": sha256_hex(data), "status": status,
                                       "signatures": len(reports)})
    return VerificationReport(sha256=sha256_hex(data), size_bytes=len(data), status=status,
                              signatures=reports)
