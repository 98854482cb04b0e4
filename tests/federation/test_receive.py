"""POST /federation/v1/messages, /enrol and /info through the Flask app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from node.federation.envelope import MAX_ENVELOPE_BYTES, sign_envelope
from node.federation.identity import encode_public_key, sign_document, verify_document
from node.federation.models import (
    Enrolment,
    ExchangeLogEntry,
    InboxMessage,
    Peer,
    QuarantinedMessage,
)
from node.federation.service import create_enrolment_token
from tests.federation.helpers import CHILD_NODE_ID, envelope_for, link_child, wire

MESSAGES = "/federation/v1/messages"


@pytest.fixture
def linked(session, child_key, node_key):  # noqa: ANN001, ANN201
    """The test node with one linked child whose key is `child_key`."""
    peer = link_child(session, child_key)
    session.commit()
    return peer


def post(client, raw: bytes):  # noqa: ANN001, ANN201
    return client.post(MESSAGES, data=raw, content_type="application/json")


def quarantined(session) -> list[QuarantinedMessage]:  # noqa: ANN001
    session.expire_all()
    return session.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id)).all()


def inbox_count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(InboxMessage))


def assert_rejected(response, session, reason: str, status: int) -> dict:  # noqa: ANN001
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["reason"] == reason
    rows = quarantined(session)
    assert [row.reason for row in rows] == [reason]
    assert rows[0].detail == body["detail"]
    return body


def test_valid_message_stored_once(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    raw = wire(envelope_for(child_key))
    first = post(anonymous_client, raw)
    second = post(anonymous_client, raw)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert first.get_json()["result"] == {"status": "applied", "rows": 1}
    assert inbox_count(session) == 1
    logged = session.scalars(select(ExchangeLogEntry)).all()
    assert [(entry.direction, entry.raw) for entry in logged] == [("inbound", raw)]
    session.refresh(linked)
    assert linked.next_expected_sequence == 2
    assert linked.last_contact_at is not None
    assert quarantined(session) == []


def test_retry_with_new_timestamp_is_repeat(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key, created_at=datetime.now(UTC) - timedelta(minutes=2))
    first = post(anonymous_client, wire(envelope))
    retried = dict(envelope, created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    second = post(anonymous_client, wire(sign_envelope(retried, child_key)))
    assert second.status_code == 200
    assert second.get_json() == first.get_json()
    assert inbox_count(session) == 1


def test_replay_with_other_body_conflicts(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key)
    assert post(anonymous_client, wire(envelope)).status_code == 200
    changed = envelope_for(child_key, message_id=envelope["message_id"], sequence=2)
    body = assert_rejected(post(anonymous_client, wire(changed)), session, "replay", 409)
    assert envelope["message_id"] in body["detail"]
    assert inbox_count(session) == 1
    session.refresh(linked)
    assert linked.last_error.startswith("replay:")


def test_forged_signature_quarantined(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key)
    envelope["payload"]["rows"][0]["counts"]["completed_on_time"] = 0
    envelope["payload"]["rows"][0]["total"] = 2
    raw = wire(envelope)
    assert_rejected(post(anonymous_client, raw), session, "bad_signature", 401)
    row = quarantined(session)[0]
    assert row.raw == raw
    assert row.sender_node_id == CHILD_NODE_ID
    assert row.message_id == envelope["message_id"]
    assert inbox_count(session) == 0
    session.refresh(linked)
    # A forger must not be able to write into the peer's error.
    assert linked.last_error is None


def test_skewed_clock_quarantined(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    raw = wire(envelope_for(child_key, created_at=datetime.now(UTC) - timedelta(minutes=6)))
    body = assert_rejected(post(anonymous_client, raw), session, "clock_skew", 422)
    assert "clock skew" in body["detail"]
    assert "this node's clock reads" in body["detail"]
    assert inbox_count(session) == 0


def test_unknown_sender_quarantined(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    raw = wire(envelope_for(child_key))
    body = assert_rejected(post(anonymous_client, raw), session, "unknown_sender", 403)
    assert CHILD_NODE_ID in body["detail"]


def test_wrong_version_quarantined(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key, sign=False)
    envelope["protocol_version"] = "9"
    raw = wire(sign_envelope(envelope, child_key))
    body = assert_rejected(post(anonymous_client, raw), session, "unsupported_version", 400)
    assert "supports 1" in body["detail"]


def test_unsigned_quarantined(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    raw = wire(envelope_for(child_key, sign=False))
    assert_rejected(post(anonymous_client, raw), session, "unsigned", 401)


def test_schema_errors_listed(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    payload = {"updates": [{"task_ref": "x", "reported_state": "done"}]}
    raw = wire(envelope_for(child_key, message_type="task_status", payload=payload))
    body = assert_rejected(post(anonymous_client, raw), session, "schema_invalid", 422)
    paths = [error["path"] for error in body["errors"]]
    assert "payload/updates/0/reported_state" in paths
    assert paths.count("payload/updates/0") >= 1


def test_oversized_quarantined(anonymous_client, session, linked) -> None:  # noqa: ANN001
    raw = b'{"x": "' + b"a" * MAX_ENVELOPE_BYTES + b'"}'
    assert_rejected(post(anonymous_client, raw), session, "oversized", 413)


def test_unknown_type_quarantined(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    raw = wire(envelope_for(child_key, message_type="gossip", payload={}))
    assert_rejected(post(anonymous_client, raw), session, "unknown_type", 422)


def test_directive_from_child_refused(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    payload = {"document": {"reference": "1-NQ/TW", "number": "1", "symbol": "NQ/TW",
                            "confidentiality": "top_secret"},
               "tasks": [{"task_ref": "a", "position": 1, "confidentiality": "top_secret",
                          "agencies": [{"org_unit_code": "VPTW", "role": "lead"}]}],
               "transferred_at": "2026-03-02T00:00:00Z"}
    raw = wire(envelope_for(child_key, message_type="directive", payload=payload))
    assert_rejected(post(anonymous_client, raw), session, "not_allowed_from_peer", 403)


def test_suspended_sender_refused(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    link_child(session, child_key, status="suspended")
    session.commit()
    raw = wire(envelope_for(child_key))
    assert_rejected(post(anonymous_client, raw), session, "suspended_sender", 403)


def test_sequence_reuse_refused(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    assert post(anonymous_client, wire(envelope_for(child_key, sequence=1))).status_code == 200
    raw = wire(envelope_for(child_key, sequence=1))
    assert_rejected(post(anonymous_client, raw), session, "sequence_reused", 409)


def test_info_publishes_identity(anonymous_client, node_key) -> None:  # noqa: ANN001
    response = anonymous_client.get("/federation/v1/info")
    assert response.status_code == 200
    body = response.get_json()
    assert body["node_id"] == "local"
    assert body["level"] == 0
    assert body["org_unit_code"] == "VPTW"
    assert body["protocol_versions"] == ["1"]
    assert body["public_key"] == encode_public_key(node_key.public_key())
    assert "PRIVATE" not in response.get_data(as_text=True)


def enrolment_request(child_key, token: str, **changes) -> dict:  # noqa: ANN001, ANN003
    request = {"token": token, "node_id": CHILD_NODE_ID, "level": 1, "org_unit_code": "TU01",
               "public_key": encode_public_key(child_key.public_key()),
               "protocol_versions": ["1"], "requested_at": "2026-03-02T00:00:00Z"}
    request.update(changes)
    return sign_document(request, child_key, field="proof")


def test_enrol_pins_child_key(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    token, _ = create_enrolment_token(session, "TU01", hours=24)
    session.commit()
    response = anonymous_client.post("/federation/v1/enrol",
                                     json=enrolment_request(child_key, token))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["child_node_id"] == CHILD_NODE_ID
    assert verify_document(body, encode_public_key(node_key.public_key()))
    session.expire_all()
    peer = session.scalar(select(Peer).where(Peer.node_id == CHILD_NODE_ID))
    assert peer.public_key == encode_public_key(child_key.public_key())
    assert session.scalar(select(Enrolment.used_by_node_id)) == CHILD_NODE_ID

    again = anonymous_client.post("/federation/v1/enrol", json=enrolment_request(child_key, token))
    assert again.status_code == 403
    assert "already used" in again.get_json()["detail"]


def test_enrol_token_expires(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    token, _ = create_enrolment_token(session, "TU01", hours=1,
                                      now=datetime.now(UTC) - timedelta(hours=2))
    session.commit()
    response = anonymous_client.post("/federation/v1/enrol",
                                     json=enrolment_request(child_key, token))
    assert response.status_code == 403
    assert "expired" in response.get_json()["detail"]


def test_enrol_refuses_other_org_unit(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    token, _ = create_enrolment_token(session, "TU01", hours=1)
    session.commit()
    response = anonymous_client.post(
        "/federation/v1/enrol", json=enrolment_request(child_key, token, org_unit_code="TU04"))
    assert response.status_code == 403
    assert "'TU01'" in response.get_json()["detail"]


def test_enrol_refuses_bad_proof(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    token, _ = create_enrolment_token(session, "TU01", hours=1)
    session.commit()
    request = enrolment_request(child_key, token)
    request["node_id"] = "impostor"
    response = anonymous_client.post("/federation/v1/enrol", json=request)
    assert response.status_code == 403
    assert "proof" in response.get_json()["detail"]
    assert session.scalar(select(func.count()).select_from(Peer)) == 0


def test_enrol_without_common_version(anonymous_client, session, node_key, child_key) -> None:  # noqa: ANN001
    token, _ = create_enrolment_token(session, "TU01", hours=1)
    session.commit()
    response = anonymous_client.post(
        "/federation/v1/enrol",
        json=enrolment_request(child_key, token, protocol_versions=["2", "3"]))
    assert response.status_code == 400
    detail = response.get_json()["detail"]
    assert "this node supports 1" in detail
    assert "the other node supports 2, 3" in detail


def test_enrol_validates_request(anonymous_client, node_key) -> None:  # noqa: ANN001
    response = anonymous_client.post("/federation/v1/enrol", json={"token": "short"})
    assert response.status_code == 422
    paths = {error["path"] for error in response.get_json()["errors"]}
    assert paths == {"/", "token"}
    assert json.loads(response.get_data())["title"] == "Invalid input"


def test_enrol_token_needs_known_org_unit(session) -> None:  # noqa: ANN001
    from node.core.errors import NotFoundError

    with pytest.raises(NotFoundError, match="'XX99'"):
        create_enrolment_token(session, "XX99", hours=1)
