"""Batch requests: POST /federation/v1/messages:batch, and the sender that uses it."""

from __future__ import annotations

import json
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from node.federation import schemas
from node.federation.batch_delivery import (
    batch_limits,
    forget_batch_limits,
    parse_batch_limits,
    refresh_batch_limits,
    remember_batch_limits,
)
from node.federation.delivery import send_pending
from node.federation.envelope import format_timestamp
from node.federation.identity import encode_public_key, sign_document
from node.federation.key_rotation import proof_document
from node.federation.models import (
    ExchangeLogEntry,
    InboxMessage,
    OutboxMessage,
    QuarantinedMessage,
)
from node.federation.service import MAX_BATCH_MESSAGES
from tests.conftest import DatabaseFactory
from tests.federation.delivery_support import FlakyProxy, Node, link, make_node
from tests.federation.helpers import (
    CHILD_NODE_ID,
    aggregate_report_payload,
    envelope_for,
    link_child,
    task_status_payload,
)
from tests.federation.test_delivery import (
    FAST_RETRIES,
    PARENT_ID,
    assert_exactly_once,
    queue_reports,
    send_until_done,
)

BATCH = "/federation/v1/messages:batch"


@pytest.fixture
def linked(session, child_key, node_key):  # noqa: ANN001, ANN201
    """The test node with one linked child whose key is `child_key`."""
    peer = link_child(session, child_key)
    session.commit()
    return peer


def post_batch(client, envelopes: list) -> object:  # noqa: ANN001
    body = json.dumps({"protocol_version": "1", "messages": envelopes}, ensure_ascii=False)
    return client.post(BATCH, data=body.encode("utf-8"), content_type="application/json")


def quarantine_reasons(session) -> list[str]:  # noqa: ANN001
    session.expire_all()
    return list(session.scalars(select(QuarantinedMessage.reason)
                                .order_by(QuarantinedMessage.id)))


def inbox_count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(InboxMessage))


# Receiving -------------------------------------------------------------------------


def test_info_publishes_batch_limits(anonymous_client, node_key) -> None:  # noqa: ANN001
    body = anonymous_client.get("/federation/v1/info").get_json()
    assert body["batch"]["path"] == "/messages:batch"
    assert body["batch"]["max_messages"] == MAX_BATCH_MESSAGES
    schema = json.loads(schemas.schema_path("batch_request").read_text(encoding="utf-8"))
    assert schema["properties"]["messages"]["maxItems"] == MAX_BATCH_MESSAGES


def test_mixed_batch_applies_good_ones(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    now = datetime.now(UTC)
    good_first = envelope_for(child_key, sequence=1)
    forged = envelope_for(Ed25519PrivateKey.generate(), sequence=2)
    good_second = envelope_for(child_key, sequence=3,
                               payload=aggregate_report_payload(completed_on_time=4))
    skewed = envelope_for(child_key, sequence=4, created_at=now - timedelta(minutes=6))
    reused = envelope_for(child_key, sequence=1,
                          payload=aggregate_report_payload(completed_on_time=7))
    response = post_batch(anonymous_client,
                          [good_first, forged, good_second, skewed, "not an object", reused])

    assert response.status_code == 200, response.get_data(as_text=True)
    results = response.get_json()["results"]
    assert [result["outcome"] for result in results] == [
        "applied", "rejected", "applied", "rejected", "rejected", "rejected"]
    assert [result.get("reason") for result in results] == [
        None, "bad_signature", None, "clock_skew", "malformed", "sequence_reused"]
    assert [result.get("status") for result in results] == [None, 401, None, 422, 400, 409]
    assert results[0]["message_id"] == good_first["message_id"]
    assert results[1]["message_id"] == forged["message_id"]
    assert results[4]["message_id"] is None
    assert "signature does not match" in results[1]["detail"]
    assert "already belongs to another message" in results[5]["detail"]

    assert quarantine_reasons(session) == ["bad_signature", "clock_skew", "malformed",
                                           "sequence_reused"]
    stored = session.scalars(select(InboxMessage.message_id)
                             .order_by(InboxMessage.sequence)).all()
    assert stored == [good_first["message_id"], good_second["message_id"]]
    assert session.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 2
    session.refresh(linked)
    assert linked.next_expected_sequence == 4
    # Only the rejections of correctly signed messages are charged to the child.
    assert linked.last_error.startswith("sequence_reused:")


def test_relayed_nfd_envelope_in_batch(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    summary = "Đã hoàn thành đúng hạn"
    relayed = envelope_for(child_key, sequence=1, message_type="task_status",
                           payload=task_status_payload(summary=summary))
    changed = envelope_for(child_key, sequence=2, message_type="task_status",
                           payload=task_status_payload(summary=summary))
    # The signature covers the NFC form, so a relay that decomposes a string
    # keeps it valid, while a changed string breaks it.
    relayed["payload"]["updates"][0]["result_summary"] = unicodedata.normalize("NFD", summary)
    changed["payload"]["updates"][0]["result_summary"] = "Đã hoàn thành"
    results = post_batch(anonymous_client, [relayed, changed]).get_json()["results"]

    # The test node assigned no task, so a message past its signature check
    # is rejected as not applicable.
    assert [result["reason"] for result in results] == ["not_applicable", "bad_signature"]


def test_duplicate_inside_one_batch(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key, sequence=1)
    other_body = envelope_for(child_key, sequence=1, message_id=envelope["message_id"],
                              payload=aggregate_report_payload(completed_on_time=9))
    response = post_batch(anonymous_client, [envelope, envelope, other_body])

    results = response.get_json()["results"]
    assert [result["outcome"] for result in results] == ["applied", "duplicate", "rejected"]
    assert results[1]["result"] == results[0]["result"]
    assert results[1]["received_at"] == results[0]["received_at"]
    assert results[2]["reason"] == "replay"
    assert results[2]["status"] == 409
    assert inbox_count(session) == 1
    assert quarantine_reasons(session) == ["replay"]


def test_rotation_then_new_key_batch(anonymous_client, session, linked,  # noqa: ANN001
                                     child_key) -> None:
    new_key = Ed25519PrivateKey.generate()
    new_public = encode_public_key(new_key.public_key())
    proof = sign_document(proof_document(CHILD_NODE_ID, new_public), new_key,
                          field="proof")["proof"]
    now = datetime.now(UTC)
    rotation = envelope_for(child_key, sequence=1, message_type="key_rotation", payload={
        "public_key": new_public, "proof": proof, "rotated_at": format_timestamp(now),
        "previous_key_valid_until": format_timestamp(now + timedelta(hours=1))})
    # Signed with the key that the message before it announces.
    report = envelope_for(new_key, sequence=2)
    results = post_batch(anonymous_client, [rotation, report]).get_json()["results"]

    assert [result["outcome"] for result in results] == ["applied", "applied"]
    assert results[0]["result"]["status"] == "key_rotated"
    session.refresh(linked)
    assert linked.public_key == new_public
    assert inbox_count(session) == 2


def test_replay_across_batches(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    first = envelope_for(child_key, sequence=1)
    applied = post_batch(anonymous_client, [first]).get_json()["results"][0]
    assert applied["outcome"] == "applied"

    # The sender signs a retry again with a fresh timestamp; the content is the same.
    retried = envelope_for(child_key, sequence=1, message_id=first["message_id"],
                           created_at=datetime.now(UTC) + timedelta(seconds=5))
    replayed = envelope_for(child_key, sequence=2, message_id=first["message_id"],
                            payload=aggregate_report_payload(completed_on_time=3))
    second = envelope_for(child_key, sequence=2)
    results = post_batch(anonymous_client, [retried, replayed, second]).get_json()["results"]

    assert [result["outcome"] for result in results] == ["duplicate", "rejected", "applied"]
    assert results[0]["result"] == applied["result"]
    assert results[0]["received_at"] == applied["received_at"]
    assert results[1]["reason"] == "replay"
    assert inbox_count(session) == 2
    assert quarantine_reasons(session) == ["replay"]


def test_oversized_batch_rejected(anonymous_client, session, linked, child_key) -> None:  # noqa: ANN001
    envelope = envelope_for(child_key, sequence=1)
    response = post_batch(anonymous_client, [envelope] * (MAX_BATCH_MESSAGES + 1))

    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["title"] == "Batch too large"
    assert body["reason"] == "oversized"
    assert (f"batch request of {MAX_BATCH_MESSAGES + 1} messages is larger than the limit "
            f"of {MAX_BATCH_MESSAGES} messages") in body["detail"]
    assert inbox_count(session) == 0
    assert quarantine_reasons(session) == ["oversized"]


@pytest.mark.parametrize(("body", "status", "reason", "words"), [
    (b"[1, 2", 400, "malformed", "not valid UTF-8 JSON"),
    (b'["a"]', 400, "malformed", "must be a JSON object"),
    (b'{"protocol_version": "1", "messages": []}', 422, "schema_invalid", "messages"),
    (b'{"protocol_version": "2", "messages": [{}]}', 400, "unsupported_version",
     "protocol version '2' is not supported"),
])
def test_invalid_batch_rejected(anonymous_client, session, linked, body: bytes, status: int,  # noqa: ANN001
                                reason: str, words: str) -> None:
    response = anonymous_client.post(BATCH, data=body, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["reason"] == reason
    assert words in response.get_json()["detail"]
    assert quarantine_reasons(session) == [reason]


def test_batch_limits_need_valid_fields() -> None:
    assert parse_batch_limits({"node_id": "central"}) is None
    assert parse_batch_limits({"batch": {"path": "/messages:batch", "max_messages": 0,
                                         "max_bytes": 1000}}) is None
    limits = parse_batch_limits({"batch": {"path": "/messages:batch", "max_messages": 20,
                                           "max_bytes": 1000}})
    assert (limits.path, limits.max_messages, limits.max_bytes) == ("/messages:batch", 20, 1000)


# Sending ---------------------------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path, databases: DatabaseFactory) -> Iterator[tuple[Node, Node]]:
    parent = make_node(tmp_path, databases, "parent", node_id=PARENT_ID, level=0,
                       org_unit="VPTW")
    child = make_node(tmp_path, databases, "child", node_id=CHILD_NODE_ID, level=1,
                      org_unit="TU01", federation=FAST_RETRIES)
    yield parent, child
    for node in (parent, child):
        node.close()


def test_batches_survive_503_and_lost_response(pair) -> None:  # noqa: ANN001
    parent, child = pair
    # The first request is the GET /info that publishes the batch limits to the child.
    proxy = FlakyProxy(parent.port, ["pass", "503", "drop"])
    try:
        link(parent, child, child_knows_parent_url=proxy.url)
        parent.start()
        assert refresh_batch_limits(proxy.url) is not None
        queue_reports(child, 25)
        # Batches of 10, so that 25 messages take three requests.
        child.settings = replace(child.settings, federation_push_batch_size=10)

        rejected_run = send_pending(child.sessions, child.settings)
        assert (rejected_run.attempted, rejected_run.retry_later, rejected_run.waiting) == (10, 10, 15)
        time.sleep(0.06)
        lost = send_pending(child.sessions, child.settings)
        assert (lost.attempted, lost.delivered, lost.retry_later) == (10, 0, 10)
        # The parent applied the batch although the child never heard back.
        with parent.sessions() as session:
            assert inbox_count(session) == 10
        time.sleep(0.11)
        send_until_done(child)
        # After the GET /info, three batches of 10 (one sent again) and one of 5.
        assert proxy.seen == ["pass", "503", "drop", "pass", "pass", "pass"]
    finally:
        proxy.close()
        forget_batch_limits(proxy.url)
    assert_exactly_once(parent, child, 25)
    with child.sessions() as session:
        attempts = session.scalars(select(OutboxMessage.attempts)
                                   .order_by(OutboxMessage.sequence)).all()
    assert attempts == [3] * 10 + [1] * 15


def test_parent_without_batches_gets_single_messages(pair) -> None:  # noqa: ANN001
    parent, child = pair
    proxy = FlakyProxy(parent.port, ["404"])
    try:
        link(parent, child, child_knows_parent_url=proxy.url)
        parent.start()
        # As if the parent had published batches and then been replaced by an older version.
        remember_batch_limits(proxy.url, {"batch": {"path": "/messages:batch",
                                                    "max_messages": 200, "max_bytes": 10**6}})
        queue_reports(child, 3)
        stats = send_pending(child.sessions, child.settings)
        assert (stats.attempted, stats.delivered) == (3, 3)
        assert proxy.seen == ["404", "pass", "pass", "pass"]
        assert batch_limits(proxy.url) is None
    finally:
        proxy.close()
        forget_batch_limits(proxy.url)
    assert_exactly_once(parent, child, 3)
    with child.sessions() as session:
        assert set(session.scalars(select(OutboxMessage.attempts))) == {1}
