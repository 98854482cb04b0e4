"""Test certification authorities and trust folders, made at run time."""

from __future__ import annotations

from pathlib import Path

from node.signatures.demo import Credential, make_authority, make_signer
from node.signatures.trust import TrustAnchors, load_trust_anchors


def trust_folder(path: Path, *credentials: Credential) -> TrustAnchors:
    """Write the certificates of `credentials` into `path` and read it as trust anchors."""
    path.mkdir(parents=True, exist_ok=True)
    for index, credential in enumerate(credentials):
        (path / f"anchor-{index}.pem").write_bytes(credential.certificate_pem())
    return load_trust_anchors(path)


def government_like_chain() -> tuple[Credential, Credential, Credential]:
    """Return a root, an intermediate under it and a signer under the intermediate."""
    root = make_authority("Test Root CA")
    intermediate = make_authority("Test Issuing CA", issuer=root)
    signer = make_signer(intermediate, "Trần Thị Bình", "Văn phòng Tỉnh ủy Thử nghiệm")
    return root, intermediate, signer
