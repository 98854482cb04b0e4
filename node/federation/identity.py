"""The node's Ed25519 key pair, and signatures over canonical JSON.

The private key lives in one PEM file (PKCS #8, unencrypted) in the instance
folder with mode 0600. Nothing in this package logs it, sends it or exports
it. The public key is exchanged as the unpadded base64url form of its 32 raw
bytes, and signatures as the unpadded base64url form of their 64 bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import stat
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from node.core.errors import DomainError
from node.core.settings import Settings
from node.federation.canonical import canonicalize, normalize_nfc

logger = logging.getLogger(__name__)

PRIVATE_KEY_FILE = "federation_ed25519_key.pem"
# The key used before the last rotation, kept until every peer has the new one.
PREVIOUS_PRIVATE_KEY_FILE = "federation_ed25519_key.previous.pem"
# The key of a rotation in progress, written before the rotation is committed
# and renamed to PRIVATE_KEY_FILE after it (see `links.rotate_key`).
NEXT_PRIVATE_KEY_FILE = "federation_ed25519_key.next.pem"
PRIVATE_KEY_MODE = 0o600


class NodeKeyError(DomainError):
    """The key file is missing, unreadable or not an Ed25519 key."""

    status = 503
    title = "Node key unavailable"


def private_key_path(settings: Settings) -> Path:
    return settings.instance_path / PRIVATE_KEY_FILE


def ensure_node_keys(settings: Settings) -> str:
    """Create the node's key pair unless it exists; return the public key.

    A key file readable by group or others is tightened to 0600, with a warning.
    """
    path = private_key_path(settings)
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: two concurrent `init` runs never overwrite each other's key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_KEY_MODE)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        logger.info("federation key pair created",
                     extra={"node_id": settings.node_id,
                            "fingerprint": fingerprint(encode_public_key(key.public_key()))})
    else:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, PRIVATE_KEY_MODE)
            logger.warning("federation key file was readable by others; mode set to 0600",
                           extra={"previous_mode": oct(mode)})
    return encode_public_key(load_private_key(settings).public_key())


def load_private_key(settings: Settings) -> Ed25519PrivateKey:
    """Read the node's private key; raise NodeKeyError when it is missing or invalid."""
    path = private_key_path(settings)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NodeKeyError(
            f"Federation key file {PRIVATE_KEY_FILE} is missing from the instance folder; "
            "run `theodoi init` to create it") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise NodeKeyError(
            f"Federation key file {PRIVATE_KEY_FILE} is not a readable PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NodeKeyError(
            f"Federation key file {PRIVATE_KEY_FILE} does not contain an Ed25519 key")
    return key


def previous_private_key_path(settings: Settings) -> Path:
    return settings.instance_path / PREVIOUS_PRIVATE_KEY_FILE


def load_previous_private_key(settings: Settings) -> Ed25519PrivateKey:
    """Read the key that the node used before its last key rotation."""
    path = previous_private_key_path(settings)
    if not path.exists():
        raise NodeKeyError(
            f"Federation key file {PREVIOUS_PRIVATE_KEY_FILE} is missing from the instance "
            "folder, but a peer has not yet received the node's new key; restore the file "
            "from backup")
    return read_key_file(path, PREVIOUS_PRIVATE_KEY_FILE)


def next_private_key_path(settings: Settings) -> Path:
    return settings.instance_path / NEXT_PRIVATE_KEY_FILE


def sync_directory(path: Path) -> None:
    """Flush the directory entry changes of `path` (renames, removals) to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_key_file(path: Path, key: Ed25519PrivateKey) -> None:
    """Write `key` to `path` with mode 0600, replacing the file in one step.

    The content is flushed to disk before the rename and the rename before
    returning, so after a crash `path` contains either its old content or `key`.
    """
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_KEY_MODE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    sync_directory(path.parent)


def read_key_file(path: Path, name: str) -> Ed25519PrivateKey:
    """Read the Ed25519 private key in `path`; `name` is the file name for messages."""
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise NodeKeyError(f"Federation key file {name} is not a readable PEM key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NodeKeyError(f"Federation key file {name} does not contain an Ed25519 key")
    return key


def node_public_key(settings: Settings) -> str:
    """Return the node's public key in its exchanged form."""
    return encode_public_key(load_private_key(settings).public_key())


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not isinstance(text, str) or "=" in text:
        raise ValueError("expected unpadded base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("invalid base64url text") from None


def encode_public_key(key: Ed25519PublicKey) -> str:
    return _b64encode(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def decode_public_key(text: str) -> Ed25519PublicKey:
    """Parse an exchanged public key; raise ValueError when it is not 32 base64url bytes."""
    raw = _b64decode(text)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, not {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def fingerprint(public_key: str) -> str:
    """Return a short SHA-256 fingerprint of a public key, for people to compare."""
    digest = hashlib.sha256(_b64decode(public_key)).hexdigest()
    return ":".join(digest[index:index + 4] for index in range(0, 32, 4))


def signing_bytes(document: dict, *, exclude: str = "signature") -> bytes:
    """Return the bytes that are signed: canonical JSON of the NFC form, without `exclude`."""
    unsigned = {key: value for key, value in document.items() if key != exclude}
    return canonicalize(normalize_nfc(unsigned))


def sign_document(document: dict, key: Ed25519PrivateKey, *, field: str = "signature") -> dict:
    """Return the NFC form of `document` with `field` set to its signature."""
    normalized = normalize_nfc({k: v for k, v in document.items() if k != field})
    assert isinstance(normalized, dict)
    normalized[field] = _b64encode(key.sign(signing_bytes(normalized, exclude=field)))
    return normalized


def verify_document(document: dict, public_key: str, *, field: str = "signature") -> bool:
    """Return whether `document[field]` is a valid signature of the rest by `public_key`."""
    try:
        signature = _b64decode(document[field])
        decode_public_key(public_key).verify(signature, signing_bytes(document, exclude=field))
    except (KeyError, ValueError, InvalidSignature):
        return False
    return True


@lru_cache(maxsize=1024)
def _cached_public_key(public_key: str) -> Ed25519PublicKey:
    return decode_public_key(public_key)


def verify_signature(signed_bytes: bytes, signature: object, public_key: str) -> bool:
    """Return whether `signature` (base64url text) signs `signed_bytes` under `public_key`.

    `signed_bytes` must already be the form `signing_bytes` returns. The
    decoded keys of the linked nodes are cached.
    """
    try:
        _cached_public_key(public_key).verify(_b64decode(signature), signed_bytes)
    except (ValueError, InvalidSignature):
        return False
    return True
