"""Signing and verifying envelopes without a database."""

from __future__ import annotations

import json
import os
import stat
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node.core.settings import Settings
from node.federation.envelope import (
    MAX_ENVELOPE_BYTES,
    EnvelopeRejected,
    content_hash,
    verify_envelope,
)
from node.federation.identity import (
    encode_public_key,
    ensure_node_keys,
    fingerprint,
    private_key_path,
    verify_document,
)
from tests.federation.helpers import CHILD_NODE_ID, envelope_for, task_status_payload, wire

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def keys(key: Ed25519PrivateKey) -> dict[str, str]:
    return {CHILD_NODE_ID: encode_public_key(key.public_key())}


def rejection(raw: bytes, keys: dict[str, str], **kwargs) -> EnvelopeRejected:  # noqa: ANN003
    with pytest.raises(EnvelopeRejected) as caught:
        verify_envelope(raw, keys, **kwargs)
    return caught.value


def test_signed_envelope_verifies(key, keys) -> None:  # noqa: ANN001
    envelope = envelope_for(key, created_at=NOW)
    verified = verify_envelope(wire(envelope), keys, recipient="local", now=NOW)
    assert verified.message_id == envelope["message_id"]
    assert verified.sender == CHILD_NODE_ID
    assert verified.content_hash == content_hash(envelope)


def test_signing_normalises_to_nfc(key, keys) -> None:  # noqa: ANN001
    decomposed = unicodedata.normalize("NFD", "Đã hoàn thành đúng hạn")
    envelope = envelope_for(key, message_type="task_status",
                            payload=task_status_payload(summary=decomposed), created_at=NOW)
    assert envelope["payload"]["updates"][0]["result_summary"] == "Đã hoàn thành đúng hạn"
    # A relay that decomposes the text again does not break the signature.
    relayed = json.loads(wire(envelope))
    relayed["payload"]["updates"][0]["result_summary"] = decomposed
    raw = json.dumps(relayed, ensure_ascii=False).encode("utf-8")
    assert verify_envelope(raw, keys, now=NOW).message_id == envelope["message_id"]


def test_forged_signature_rejected(key, keys) -> None:  # noqa: ANN001
    envelope = envelope_for(key, created_at=NOW)
    envelope["payload"]["rows"][0]["total"] = 40
    assert rejection(wire(envelope), keys).reason == "bad_signature"


def test_signature_by_other_key_rejected(keys) -> None:  # noqa: ANN001
    envelope = envelope_for(Ed25519PrivateKey.generate(), created_at=NOW)
    assert rejection(wire(envelope), keys).reason == "bad_signature"


def test_unsigned_rejected(key, keys) -> None:  # noqa: ANN001
    envelope = envelope_for(key, created_at=NOW, sign=False)
    assert rejection(wire(envelope), keys).reason == "unsigned"


def test_unknown_sender_rejected(key) -> None:  # noqa: ANN001
    found = rejection(wire(envelope_for(key, created_at=NOW)), {})
    assert found.reason == "unknown_sender"
    assert CHILD_NODE_ID in found.message


@pytest.mark.parametrize(("offset", "accepted"), [
    (timedelta(minutes=-6), False),
    (timedelta(minutes=-4, seconds=-59), True),
    (timedelta(seconds=59), True),
    (timedelta(minutes=2), False),
])
def test_clock_window(key, keys, offset: timedelta, accepted: bool) -> None:  # noqa: ANN001
    raw = wire(envelope_for(key, created_at=NOW + offset))
    if accepted:
        verify_envelope(raw, keys, now=NOW)
        return
    found = rejection(raw, keys, now=NOW)
    assert found.reason == "clock_skew"
    assert "clock skew" in found.message
    assert "2026-03-02T08:00:00.000Z" in found.message
    assert (NOW + offset).strftime("%Y-%m-%dT%H:%M") in found.message


def test_unsupported_version_lists_supported(key, keys) -> None:  # noqa: ANN001
    envelope = envelope_for(key, created_at=NOW, sign=False)
    envelope["protocol_version"] = "2"
    from node.federation.envelope import sign_envelope

    found = rejection(wire(sign_envelope(envelope, key)), keys)
    assert found.reason == "unsupported_version"
    assert "'2'" in found.message
    assert "supports 1" in found.message


def test_unknown_type_rejected(key, keys) -> None:  # noqa: ANN001
    raw = wire(envelope_for(key, created_at=NOW, message_type="gossip"))
    assert rejection(raw, keys).reason == "unknown_type"


def test_envelope_schema_errors_listed(key, keys) -> None:  # noqa: ANN001
    envelope = envelope_for(key, created_at=NOW, sign=False)
    envelope.update({"message_id": "not-a-uuid", "created_at": "2026-02-30T08:00:00Z",
                     "sequence": 0, "signature": "x" * 86, "extra": 1})
    found = rejection(wire(envelope), keys)
    assert found.reason == "schema_invalid"
    assert sorted(problem.path for problem in found.problems) == [
        "/", "created_at", "message_id", "sequence"]


def test_payload_schema_errors_listed(key, keys) -> None:  # noqa: ANN001
    payload = task_status_payload()
    payload["updates"][0]["approved_at"] = "2026-02-30T08:00:00Z"
    payload["updates"][0]["progress_percent"] = 140
    found = rejection(wire(envelope_for(key, message_type="task_status", payload=payload,
                                         created_at=NOW)), keys)
    assert found.reason == "schema_invalid"
    assert [problem.path for problem in found.problems] == [
        "payload/updates/0/approved_at", "payload/updates/0/progress_percent"]
    assert found.authenticated


def test_oversized_rejected(keys) -> None:  # noqa: ANN001
    found = rejection(b"{" + b" " * MAX_ENVELOPE_BYTES + b"}", keys)
    assert found.reason == "oversized"
    assert found.status == 413


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'{"a": 1, "a": 2}',
                                 b'{"a": NaN}', b"\xff\xfe"])
def test_malformed_rejected(raw: bytes, keys) -> None:  # noqa: ANN001
    assert rejection(raw, keys).reason == "malformed"


def test_wrong_recipient_rejected(key, keys) -> None:  # noqa: ANN001
    raw = wire(envelope_for(key, recipient="another-node", created_at=NOW))
    assert rejection(raw, keys, recipient="local").reason == "wrong_recipient"


def test_content_hash_ignores_timestamp(key) -> None:  # noqa: ANN001
    first = envelope_for(key, created_at=NOW, message_id="7d3f5a0e-8f5b-4c61-9d7e-1b2a3c4d5e6f")
    later = envelope_for(key, created_at=NOW + timedelta(minutes=9),
                         message_id="7d3f5a0e-8f5b-4c61-9d7e-1b2a3c4d5e6f")
    changed = envelope_for(key, created_at=NOW, sequence=2,
                           message_id="7d3f5a0e-8f5b-4c61-9d7e-1b2a3c4d5e6f")
    assert content_hash(first) == content_hash(later)
    assert content_hash(first) != content_hash(changed)


def test_key_file_created_private(tmp_path) -> None:  # noqa: ANN001
    settings = Settings(instance_path=tmp_path / "instance")
    public_key = ensure_node_keys(settings)
    path = private_key_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_node_keys(settings) == public_key
    assert len(fingerprint(public_key)) == 39


def test_key_file_mode_tightened(tmp_path) -> None:  # noqa: ANN001
    settings = Settings(instance_path=tmp_path / "instance")
    ensure_node_keys(settings)
    os.chmod(private_key_path(settings), 0o644)
    ensure_node_keys(settings)
    assert stat.S_IMODE(private_key_path(settings).stat().st_mode) == 0o600


def test_verify_document_rejects_bad_key() -> None:
    assert not verify_document({"a": 1, "signature": "x" * 86}, "not-a-key")


def test_error_count_singular_and_plural() -> None:
    from node.federation.envelope import error_count

    assert error_count(["missing sender"]) == "1 error"
    assert error_count(["missing sender", "invalid date"]) == "2 errors"
