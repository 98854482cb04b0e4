"""A demo certification authority and signed sample PDFs, made at run time.

Used by `theodoi sign make-demo-pdf`, `theodoi demo` and the tests. Nothing here is
meant for real signatures: the keys are generated on the spot and the
authority is trusted only by a node whose trust folder contains its root.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

A4 = (0, 0, 595, 842)


@dataclass(frozen=True)
class Credential:
    """A key with its certificate, and the certificates above it up to the root."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")])


def _key_usage(*, signer: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=signer, content_commitment=signer,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=not signer, crl_sign=not signer, encipher_only=False,
                         decipher_only=False)


def make_authority(common_name: str = "Demo Root CA theodoi", *,
                   issuer: Credential | None = None, days: int = 3650) -> Credential:
    """Create a certification authority: a root, or an intermediate under `issuer`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    subject = _name(common_name, "Demo certification authority (not for real use)")
    builder = (
        x509.CertificateBuilder().subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(signer=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    chain = (issuer.certificate, *issuer.chain) if issuer else ()
    return Credential(key=key, certificate=certificate, chain=chain)


def make_signer(authority: Credential, common_name: str, organisation: str, *,
                not_before: datetime | None = None,
                not_after: datetime | None = None) -> Credential:
    """Create a signer's key and certificate issued by `authority`."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(_name(common_name, organisation))
        .issuer_name(authority.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(days=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signer=True), critical=True)
        .sign(authority.key, hashes.SHA256())
    )
    return Credential(key=key, certificate=certificate,
                      chain=(authority.certificate, *authority.chain))


def make_pdf(lines: list[str], *, pages: int = 1, password: str | None = None) -> bytes:
    """Build a PDF of `pages` A4 pages showing `lines` in Helvetica (ASCII text only).

    With `password` the file is encrypted (AES-256) with it as owner and user password.
    """
    writer = PdfFileWriter()
    if password is not None:
        writer.encrypt(password, password)
    font = writer.add_object(generic.DictionaryObject({
        generic.NameObject("/Type"): generic.NameObject("/Font"),
        generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
        generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
    }))
    resources = generic.DictionaryObject({generic.NameObject("/Font"): generic.DictionaryObject(
        {generic.NameObject("/F1"): font})})
    for page_number in range(1, pages + 1):
        commands = ["BT", "/F1 14 Tf", "72 760 Td", "18 TL"]
        for line in [*lines, f"Page {page_number} / {pages}"]:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            commands.append(f"({escaped}) Tj T*")
        commands.append("ET")
        stream = generic.StreamObject(stream_data="\n".join(commands).encode("latin-1"))
        page = PageObject(contents=writer.add_object(stream),
                          media_box=generic.ArrayObject(generic.NumberObject(n) for n in A4),
                          resources=resources)
        writer.insert_page(page)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _der(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def sign_with(pdf: bytes, credential: Credential, *, field_name: str = "Signature1",
              reason: str = "Ban hành văn bản", location: str = "Hà Nội") -> bytes:
    """Sign `pdf` as `credential` (PAdES, invisible signature, certificate chain embedded)."""
    key_der = credential.key.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())
    signer = signers.SimpleSigner(
        signing_cert=_der(credential.certificate),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(
            [_der(cert) for cert in credential.chain]),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name, reason=reason, location=location,
        subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256")
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return signers.sign_pdf(writer, metadata, signer=signer).getvalue()


def append_update(pdf: bytes, text: str = "added after signing") -> bytes:
    """Return `pdf` with an incremental update that adds a page after its signatures."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    stream = generic.StreamObject(
        stream_data=f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode("latin-1"))
    page = PageObject(contents=writer.add_object(stream),
                      media_box=generic.ArrayObject(generic.NumberObject(n) for n in A4))
    writer.insert_page(page)
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


@dataclass(frozen=True)
class DemoSamples:
    """Files written by `write_demo_samples`."""

    authority_certificate: Path
    signed_pdf: Path
    modified_pdf: Path


def write_demo_samples(folder: Path) -> DemoSamples:
    """Write a demo root certificate and two sample PDFs signed under it into `folder`.

    FOLDER/trust/demo-root-ca.pem is a certification authority made on the
    spot; FOLDER/signed-sample.pdf is signed by a certificate it issued, and
    FOLDER/modified-sample.pdf is the same file with a page added after signing.
    """
    trust = folder / "trust"
    trust.mkdir(parents=True, exist_ok=True)
    authority = make_authority()
    signer = make_signer(authority, "Nguyen Van Demo", "Văn phòng Trung ương Đảng (demo)")
    pdf = make_pdf(["THEODOI DEMO - signed assigning document",
                    "Nghi quyet mau so 01-NQ/DEMO (sample text, not a real document)"])
    signed = sign_with(pdf, signer)
    samples = DemoSamples(trust / "demo-root-ca.pem", folder / "signed-sample.pdf",
                          folder / "modified-sample.pdf")
    samples.authority_certificate.write_bytes(authority.certificate_pem())
    samples.signed_pdf.write_bytes(signed)
    samples.modified_pdf.write_bytes(append_update(signed))
    return samples
