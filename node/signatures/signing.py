"""The node's signing key and certificate, and PAdES signatures on the PDFs it issues.

By default `theodoi init` creates an ECDSA P-256 key and a self-signed
certificate named after the node's org unit in the instance folder. An
administrator can instead set `signatures_pkcs12` to a PKCS#12 file issued by
a certification authority; its password is read from THEODOI_SIGNING_PASSWORD.
The same key signs PDF reports and approval records (see `approvals`).
"""

from __future__ import annotations

import io
import logging
import os
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from node.core.errors import DomainError
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.signatures.verify import PdfRejectedError, open_pdf

logger = logging.getLogger(__name__)

KEY_FILE = "signing_key.pem"
CERTIFICATE_FILE = "signing_certificate.pem"
PRIVATE_KEY_MODE = 0o600
PASSWORD_ENV = "THEODOI_SIGNING_PASSWORD"
CERTIFICATE_YEARS = 5
# RFC 5280 bounds commonName and organizationName at 64, and the cryptography
# package checks commonName in UTF-8 bytes. "Đảng bộ thành phố Hồ Chí Minh
# (Thành ủy Hồ Chí Minh)" is 52 characters but 69 bytes.
NAME_ATTRIBUTE_MAX_BYTES = 64
# Each signature gets its own field, so a signed PDF can be signed again.
SIGNATURE_FIELD_PREFIX = "TheodoiNodeSignature"
# Bottom right of the last page, in PDF points (1/72 inch): 240 x 70 on an A4 page.
STAMP_BOX = (330, 36, 570, 106)
# A font with Vietnamese letters for the visible signature block. Debian's
# fonts-dejavu-core package installs it; without it the block is written
# without diacritics in the PDF standard font Helvetica.
STAMP_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
STAMP_FONT_SIZE = 9
# Glyph space units per em in PDF (ISO 32000-1, 9.2.4).
PDF_GLYPH_UNITS = 1000


class SigningKeyError(DomainError):
    """The node's signing key or certificate is missing, unreadable or locked."""

    status = 503
    title = "Signing key unavailable"


@dataclass(frozen=True)
class SigningIdentity:
    """The private key and certificate chain that sign for the node."""

    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def certificate_sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()

    @property
    def office_name(self) -> str:
        for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
            values = self.certificate.subject.get_attributes_for_oid(oid)
            if values:
                return str(values[0].value)
        return self.certificate.subject.rfc4514_string()


def key_path(settings: Settings) -> Path:
    return settings.instance_path / KEY_FILE


def certificate_path(settings: Settings) -> Path:
    return settings.instance_path / CERTIFICATE_FILE


def _fit_name_attribute(value: str) -> str:
    """Cut `value` to NAME_ATTRIBUTE_MAX_BYTES bytes of UTF-8 without splitting a character."""
    return value.encode("utf-8")[:NAME_ATTRIBUTE_MAX_BYTES].decode("utf-8", "ignore").rstrip()


def _self_signed_certificate(key: ec.EllipticCurvePrivateKey, org_unit_name: str,
                             node_id: str) -> x509.Certificate:
    org_unit_name = _fit_name_attribute(org_unit_name)
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, org_unit_name),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org_unit_name),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"theodoi node {node_id}"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
    ])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=False,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )


def ensure_signing_identity(settings: Settings, org_unit_name: str) -> str:
    """Create the node's signing key and certificate unless they exist; return its SHA-256.

    Nothing is created when `signatures_pkcs12` names a PKCS#12 file.
    """
    if settings.signatures_pkcs12:
        return load_signing_identity(settings).certificate_sha256
    path = key_path(settings)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            # O_EXCL: of two processes creating the key at once, one keeps its key.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
        except FileExistsError:
            return load_signing_identity(settings).certificate_sha256
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        certificate = _self_signed_certificate(key, org_unit_name, settings.node_id)
        certificate_path(settings).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        logger.info("node signing key and self-signed certificate created",
                    extra={"node_id": settings.node_id, "org_unit": org_unit_name,
                           "certificate_sha256": certificate.fingerprint(hashes.SHA256()).hex()})
    return load_signing_identity(settings).certificate_sha256


def _load_pkcs12(settings: Settings) -> SigningIdentity:
    path = settings.signatures_pkcs12
    assert path is not None
    password = os.environ.get(PASSWORD_ENV)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"Setting signatures_pkcs12: cannot read {path} ({exc.strerror}); "
                              "check the path and the file's permissions") from None
    try:
        key, certificate, chain = pkcs12.load_key_and_certificates(
            data, password.encode("utf-8") if password else None)
    except ValueError:
        raise SigningKeyError(
            f"Setting signatures_pkcs12: {path} cannot be opened; check that it is a PKCS#12 "
            f"file and that ${PASSWORD_ENV} holds its password") from None
    if key is None or certificate is None:
        raise SigningKeyError(f"Setting signatures_pkcs12: {path} contains no private key with "
                              "its certificate; export the key together with the certificate")
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise SigningKeyError(f"Setting signatures_pkcs12: the key in {path} is a "
                              f"{type(key).__name__}; use an RSA or ECDSA key")
    return SigningIdentity(key=key, certificate=certificate, chain=tuple(chain))


def load_signing_identity(settings: Settings) -> SigningIdentity:
    """Read the node's signing key and certificate; raise SigningKeyError when unusable."""
    if settings.signatures_pkcs12:
        return _load_pkcs12(settings)
    try:
        key = serialization.load_pem_private_key(key_path(settings).read_bytes(), password=None)
        certificate = x509.load_pem_x509_certificate(certificate_path(settings).read_bytes())
    except FileNotFoundError:
        raise SigningKeyError(
            f"The node's signing key ({KEY_FILE}) or certificate ({CERTIFICATE_FILE}) is "
            "missing from the instance folder; run `theodoi init` to create them") from None
    except ValueError:
        raise SigningKeyError(
            f"The node's signing key ({KEY_FILE}) or certificate ({CERTIFICATE_FILE}) cannot "
            "be read; restore them from a backup or remove both and run `theodoi init`") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"The node's signing key ({KEY_FILE}) is not an ECDSA key; remove "
                              "it with its certificate and run `theodoi init`")
    return SigningIdentity(key=key, certificate=certificate)


def sign_bytes(identity: SigningIdentity, data: bytes) -> bytes:
    """Sign `data` with the node's key: ECDSA or RSA PKCS#1 v1.5, both over SHA-256."""
    key = identity.key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def _der(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _pyhanko_signer(identity: SigningIdentity) -> signers.SimpleSigner:
    key_der = identity.key.private_bytes(serialization.Encoding.DER,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption())
    return signers.SimpleSigner(
        signing_cert=_der(identity.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs([_der(cert) for cert in identity.chain]),
    )


class _ThousandthsGlyphAccumulator(GlyphAccumulator):
    """Works in units of 1/1000 em, the unit of glyph widths and TJ offsets in PDF.

    pyHanko 0.38 writes a TrueType font's widths in the font's own units,
    2048 per em for DejaVu Sans, where PDF expects 1000, which spreads the
    letters of the signature block apart. Shaping at a scale of 1000 and
    scaling the widths keeps every number in PDF units.
    """

    def __init__(self, **kwargs) -> None:  # noqa: ANN003
        super().__init__(**kwargs)
        self._font_units_per_em = self.units_per_em
        self.units_per_em = PDF_GLYPH_UNITS
        self.hb_font.scale = (PDF_GLYPH_UNITS, PDF_GLYPH_UNITS)

    def _get_cid_and_width(self, glyph_id: int) -> tuple[int, int]:
        cached = self._glyphs.get(glyph_id)
        if cached is not None:
            return cached
        cid, width = super()._get_cid_and_width(glyph_id)
        scaled = (cid, round(width * PDF_GLYPH_UNITS / self._font_units_per_em))
        self._glyphs[glyph_id] = scaled
        return scaled


class _InMemoryFontFactory(GlyphAccumulatorFactory):
    """Reads the font file into memory, where pyHanko's factory leaves the file open."""

    def create_font_engine(self, writer, obj_stream=None):  # noqa: ANN001, ANN201
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return _ThousandthsGlyphAccumulator(
            writer=writer, font_handle=io.BytesIO(Path(self.font_file).read_bytes()),
            font_size=self.font_size, obj_stream=obj_stream)


def _ascii_fold(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _stamp_style(office: str, signed_at: datetime) -> tuple[TextStampStyle, dict]:
    date_text = signed_at.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")
    if STAMP_FONT.is_file():
        text_style = TextBoxStyle(font=_InMemoryFontFactory(str(STAMP_FONT), font_size=STAMP_FONT_SIZE),
                                  font_size=STAMP_FONT_SIZE)
        template = "Ký số bởi: %(office)s\nNgày ký: %(date)s (giờ Việt Nam)"
    else:
        text_style = TextBoxStyle(font_size=STAMP_FONT_SIZE)
        template = "Ky so boi: %(office)s\nNgay ky: %(date)s (gio Viet Nam)"
        office = _ascii_fold(office)
    style = TextStampStyle(stamp_text=template, text_box_style=text_style, border_width=1)
    return style, {"office": office, "date": date_text}


def sign_pdf(pdf: bytes, settings: Settings, *, reason: str, location: str) -> bytes:
    """Return `pdf` with a PAdES signature of the node and a visible signature block.

    The block, at the bottom right of the last page, names the office from
    the node's certificate and the signing date in Vietnam time. Raises
    PdfRejectedError when `pdf` is not a readable, unencrypted PDF and
    SigningKeyError when the node's key is unusable.
    """
    open_pdf(pdf, max_bytes=max(settings.max_upload_bytes, len(pdf)))
    identity = load_signing_identity(settings)
    signed_at = datetime.now(UTC)
    style, text_params = _stamp_style(identity.office_name, signed_at)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    last_page = int(writer.root["/Pages"]["/Count"]) - 1
    if last_page < 0:
        raise PdfRejectedError("The PDF has no page to carry the signature block; send a PDF "
                               "with at least one page", reason="unreadable")
    field_name = f"{SIGNATURE_FIELD_PREFIX}{signed_at:%Y%m%d%H%M%S%f}"
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name, reason=reason, location=location,
        name=identity.office_name, subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256")
    pdf_signer = signers.PdfSigner(
        metadata, signer=_pyhanko_signer(identity), stamp_style=style,
        new_field_spec=fields.SigFieldSpec(sig_field_name=field_name, on_page=last_page,
                                           box=STAMP_BOX))
    output = pdf_signer.sign_pdf(writer, appearance_text_params=text_params)
    logger.info("PDF signed by the node", extra={"certificate_sha256": identity.certificate_sha256,
                                                  "bytes": len(pdf)})
    return output.getvalue()


REPORT_REASON = "Báo cáo do cơ quan phát hành qua Hệ thống theo dõi, đánh giá việc thực hiện nhiệm vụ"
REPORT_LOCATION = "Việt Nam"


def sign_report_pdf(pdf: bytes, settings: Settings) -> bytes:
    """Sign a PDF report that the node issues, creating the node's key first if it is missing."""
    if not settings.signatures_pkcs12:
        ensure_signing_identity(settings, settings.node_org_unit)
    return sign_pdf(pdf, settings, reason=REPORT_REASON, location=REPORT_LOCATION)
