"""Trust anchors of the node: the root and intermediate certificates in one folder.

Every file in the folder ending in .pem, .crt, .cer or .der is read. A PEM
file may hold several certificates. Self-signed certificates become trust
roots; the others are intermediates that may complete a chain but are not
trusted on their own.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

logger = logging.getLogger(__name__)

CERTIFICATE_SUFFIXES = (".pem", ".crt", ".cer", ".der")


@dataclass(frozen=True)
class TrustAnchors:
    """Certificates read from the trust folder, and the files that could not be read."""

    folder: Path
    roots: tuple[asn1_x509.Certificate, ...] = ()
    intermediates: tuple[asn1_x509.Certificate, ...] = ()
    unreadable: tuple[str, ...] = field(default_factory=tuple)


def _certificates_in(path: Path) -> list[asn1_x509.Certificate]:
    data = path.read_bytes()
    if pem.detect(data):
        return [asn1_x509.Certificate.load(der) for kind, _headers, der in pem.unarmor(data, True)
                if kind == "CERTIFICATE"]
    return [asn1_x509.Certificate.load(data)]


def load_trust_anchors(folder: Path) -> TrustAnchors:
    """Read the certificates of `folder`; a missing folder means no trust anchor."""
    if not folder.is_dir():
        logger.warning("trust folder not found; no signature will be trusted",
                       extra={"trust_dir": str(folder)})
        return TrustAnchors(folder=folder)
    roots: list[asn1_x509.Certificate] = []
    intermediates: list[asn1_x509.Certificate] = []
    unreadable: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in CERTIFICATE_SUFFIXES or not path.is_file():
            continue
        try:
            certificates = _certificates_in(path)
            for certificate in certificates:
                # Reading the subject parses the certificate, which load() defers.
                _ = certificate.subject.native
        except (ValueError, TypeError, OSError) as exc:
            logger.warning("trust folder file is not a certificate; skipped",
                           extra={"file": path.name, "error": str(exc)})
            unreadable.append(path.name)
            continue
        for certificate in certificates:
            (roots if certificate.self_signed != "no" else intermediates).append(certificate)
    return TrustAnchors(folder=folder, roots=tuple(roots), intermediates=tuple(intermediates),
                        unreadable=tuple(unreadable))
