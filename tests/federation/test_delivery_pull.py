"""Pull from the parent, and key rotation, between real nodes on loopback."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from node.cli import main
from node.federation.client import queue_message
from node.federation.delivery import pull_from_parent
from node.federation.envelope import encode_envelope, format_timestamp
from node.federation.identity import (
    PREVIOUS_PRIVATE_KEY_FILE,
    load_private_key,
    node_public_key,
    sign_document,
)
from node.federation.models import InboxMessage, OutboxMessage, QuarantinedMessage
from tests.federation.delivery_support import Node, inbox_ids, outbox_ids, peer_of, wait_for
from tests.federation.helpers import CHILD_NODE_ID, envelope_for
from tests.federation.test_delivery import (  # noqa: F401 - fixtures
    PARENT_ID,
    assert_exactly_once,
    nodes,
    pair,
    queue_reports,
    send_until_done,
)


def ranking_payload(index: int) -> dict:
    return {"period": {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"},
            "published_at": "2026-04-05T02:00:00Z",
            "method": f"Xếp hạng theo tỷ lệ hoàn thành đúng hạn, bản {index}",
            "entries": [{"rank": 1, "org_unit_code": "TU01", "score": 95.5}]}


def queue_for_child(parent: Node, count: int) -> list[str]:
    with parent.sessions() as session:
        child = peer_of(parent, session, CHILD_NODE_ID)
        ids = [queue_message(session, parent.settings, child, "ranking_publication",
                             ranking_payload(index)).message_id for index in range(count)]
        session.commit()
    return ids


def pull_until_done(child: Node, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = pull_from_parent(child.sessions, child.settings)
        if stats.error is None and stats.received == 0:
            return
        time.sleep(0.05)
    raise AssertionError(f"pull did not finish within {timeout} s")


def test_pull_with_parent_restarting(pair) -> None:  # noqa: ANN001
    parent, child = pair
    from tests.federation.delivery_support import link

    link(parent, child)
    queued = queue_for_child(parent, 250)
    parent.start()

    results = []
    puller = threading.Thread(
        target=lambda: results.append(pull_from_parent(child.sessions, child.settings)))
    puller.start()
    wait_for(lambda: len(inbox_ids(child, PARENT_ID)) >= 120 or results, 60,
             "the child to apply 120 pulled messages")
    assert not results, f"the pull stopped before the parent was killed: {results}"
    parent.kill()
    puller.join(timeout=30)
    assert results and results[0].error is not None
    assert 120 <= results[0].applied < 250

    parent.start()
    pull_until_done(child)
    received = inbox_ids(child, PARENT_ID)
    assert received == queued
    assert outbox_ids(parent, CHILD_NODE_ID, delivered_only=True) == queued
    with child.sessions() as session:
        assert session.scalar(select(func.count()).select_from(InboxMessage)) == 250
        assert peer_of(child, session, PARENT_ID).next_expected_sequence == 251
    # A further pull finds nothing and changes nothing but the parent's last contact.
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    with child.sessions() as session:
        peer_of(child, session, PARENT_ID).last_contact_at = long_ago
        session.commit()
    before_pull = datetime.now(UTC)
    again = pull_from_parent(child.sessions, child.settings)
    assert (again.requests, again.received, again.error) == (1, 0, None)
    with child.sessions() as session:
        assert peer_of(child, session, PARENT_ID).last_contact_at >= before_pull


def post_pull(parent: Node, document: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"{parent.url}/federation/v1/pull",
                                     data=encode_envelope(document), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_pull_rejections_are_quarantined(pair, monkeypatch) -> None:  # noqa: ANN001
    parent, child = pair
    from tests.federation.delivery_support import link

    link(parent, child)
    queue_for_child(parent, 2)
    parent.start()
    key = load_private_key(child.settings)
    now = datetime.now(UTC)
    request = {"protocol_version": "1", "node_id": CHILD_NODE_ID, "recipient": PARENT_ID,
               "requested_at": format_timestamp(now), "last_applied_sequence": 0,
               "acknowledged": [], "limit": 10}
    code, body = post_pull(parent, sign_document(request, key))
    assert code == 200
    assert [envelope["sequence"] for envelope in body["messages"]] == [1, 2]

    skewed = sign_document(dict(request, requested_at=format_timestamp(
        now - timedelta(minutes=6))), key)
    code, body = post_pull(parent, skewed)
    assert (code, body["reason"]) == (422, "clock_skew")
    assert "clock skew" in body["detail"]
    forged = dict(sign_document(request, key), limit=500)
    assert post_pull(parent, forged)[1]["reason"] == "bad_signature"
    monkeypatch.setenv("THEODOI_CONFIG", str(parent.config))
    assert CliRunner().invoke(main, ["federation", "suspend", CHILD_NODE_ID]).exit_code == 0
    code, body = post_pull(parent, sign_document(request, key))
    assert (code, body["reason"]) == (403, "suspended_sender")
    stats = pull_from_parent(child.sessions, child.settings)
    assert "HTTP 403 suspended_sender" in stats.error
    with parent.sessions() as session:
        reasons = session.scalars(select(QuarantinedMessage.reason)
                                  .order_by(QuarantinedMessage.id)).all()
        assert reasons == ["clock_skew", "bad_signature", "suspended_sender", "suspended_sender"]
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.sent_at.is_not(None))) == 0
    assert CliRunner().invoke(main, ["federation", "resume", CHILD_NODE_ID]).exit_code == 0
    pull_until_done(child)
    assert len(inbox_ids(child, PARENT_ID)) == 2


def test_key_rotation_with_messages_in_flight(pair, monkeypatch) -> None:  # noqa: ANN001
    parent, child = pair
    from tests.federation.delivery_support import link

    link(parent, child)
    old_public = node_public_key(child.settings)
    before = queue_reports(child, 5)
    monkeypatch.setenv("THEODOI_CONFIG", str(child.config))
    rotated = CliRunner().invoke(main, ["federation", "rotate-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "announced to 1 linked nodes (central)" in rotated.output
    new_public = node_public_key(child.settings)
    assert new_public != old_public
    assert (child.settings.instance_path / PREVIOUS_PRIVATE_KEY_FILE).exists()
    # Queued after the rotation but before the parent has the new key.
    after = queue_reports(child, 5, start=5)
    again = CliRunner().invoke(main, ["federation", "rotate-key"])
    assert again.exit_code == 2
    assert "has not reached central yet" in again.output

    parent.start()
    send_until_done(child)
    assert_exactly_once(parent, child, 11)
    with parent.sessions() as session:
        pinned = peer_of(parent, session, CHILD_NODE_ID)
        assert pinned.public_key == new_public
        assert pinned.previous_public_key == old_public
        assert pinned.previous_key_valid_until > datetime.now(UTC) + timedelta(hours=71)
    with child.sessions() as session:
        assert peer_of(child, session, PARENT_ID).key_rotation_sequence is None
    assert set(before + after) <= set(inbox_ids(parent, CHILD_NODE_ID))

    # From now on the new key signs; the former one passes only until the grace period ends.
    [later] = queue_reports(child, 1, start=10)
    send_until_done(child)
    with child.sessions() as session:
        body = session.scalar(select(OutboxMessage.body)
                              .where(OutboxMessage.message_id == later))
    from node.federation.identity import verify_document

    assert verify_document(json.loads(body), new_public)
    with parent.sessions() as session:
        pinned = peer_of(parent, session, CHILD_NODE_ID)
        pinned.previous_key_valid_until = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    from node.federation.identity import load_previous_private_key

    stale = envelope_for(load_previous_private_key(child.settings), recipient=PARENT_ID,
                         sequence=13)
    request = urllib.request.Request(f"{parent.url}/federation/v1/messages",
                                     data=encode_envelope(stale), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a message signed with an expired key was accepted")
    except urllib.error.HTTPError as error:
        assert json.loads(error.read())["reason"] == "bad_signature"


def test_parent_key_rotation_reaches_child_by_pull(pair, monkeypatch) -> None:  # noqa: ANN001
    parent, child = pair
    from tests.federation.delivery_support import link

    link(parent, child)
    queue_for_child(parent, 3)
    old_public = node_public_key(parent.settings)
    monkeypatch.setenv("THEODOI_CONFIG", str(parent.config))
    assert CliRunner().invoke(main, ["federation", "rotate-key"]).exit_code == 0
    queue_for_child(parent, 2)
    parent.start()
    pull_until_done(child)
    assert len(inbox_ids(child, PARENT_ID)) == 6
    with child.sessions() as session:
        pinned = peer_of(child, session, PARENT_ID)
        assert pinned.public_key == node_public_key(parent.settings)
        assert pinned.previous_public_key == old_public
    with parent.sessions() as session:
        assert peer_of(parent, session, CHILD_NODE_ID).key_rotation_sequence is None
        assert session.scalar(select(func.count()).select_from(OutboxMessage)
                              .where(OutboxMessage.sent_at.is_(None))) == 0
    queue_for_child(parent, 1)
    pull_until_done(child)
    assert len(inbox_ids(child, PARENT_ID)) == 7
