"""The exchange links page: its content for an administrator, and the retry and suspend buttons."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code
from node.federation.links import sequence_gaps
from node.federation.models import InboxMessage, OutboxMessage, Peer, QuarantinedMessage
from tests.federation.helpers import CHILD_NODE_ID, link_child

PAGE = "/admin/federation/"


def bearer_client(app, session, role: str):  # noqa: ANN001, ANN201
    user = create_user(session, username=f"{role}.links", full_name="Quản trị (kiểm thử)",
                       password="mat-khau-quan-tri-2026")
    grant_role(session, user, role, org_unit_by_code(session, "VPTW"))
    _, token = create_api_token(session, user, "tests")
    session.commit()
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def received(session, sequences: list[int]) -> None:  # noqa: ANN001
    for sequence in sequences:
        session.add(InboxMessage(message_id=f"00000000-0000-4000-8000-{sequence:012d}",
                                 message_type="task_status", sender_node_id=CHILD_NODE_ID,
                                 sequence=sequence, body_sha256="0" * 64, result={}))


def test_gaps_are_missing_ranges(session, child_key) -> None:  # noqa: ANN001
    link_child(session, child_key)
    received(session, [1, 2, 5, 6, 9])
    session.flush()
    assert sequence_gaps(session, CHILD_NODE_ID) == [(3, 4), (7, 8)]
    assert sequence_gaps(session, "another-node") == []


def test_gap_before_first_received(session, child_key) -> None:  # noqa: ANN001
    link_child(session, child_key)
    received(session, [3])
    session.flush()
    assert sequence_gaps(session, CHILD_NODE_ID) == [(1, 2)]


def test_links_page_in_vietnamese(app, session, child_key) -> None:  # noqa: ANN001
    peer = link_child(session, child_key)
    peer.last_error = "HTTP 503"
    received(session, [1, 4])
    session.add(OutboxMessage(message_id="11111111-1111-4111-8111-111111111111",
                              message_type="directive", recipient_node_id=CHILD_NODE_ID,
                              sequence=1, body=b"{}", attempts=2,
                              failed_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
                              last_error="rejected by tu01-hanoi: schema_invalid: payload"))
    session.add(QuarantinedMessage(raw=b"{}", reason="clock_skew",
                                   detail="clock skew: the sender stamped the message",
                                   sender_node_id=CHILD_NODE_ID,
                                   received_at=datetime(2026, 3, 2, 4, 0, tzinfo=UTC)))
    client = bearer_client(app, session, "administrator")
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Liên kết trao đổi" in page
    assert CHILD_NODE_ID in page
    assert "Tạm ngừng" in page
    assert "HTTP 503" in page
    # Sequences 2 and 3 never arrived.
    assert "2–3" in page
    assert "Thiếu 2 thông điệp" in page
    assert "rejected by tu01-hanoi: schema_invalid" in page
    assert "Gửi lại" in page
    assert "02/03/2026 10:00" in page
    assert "Lệch đồng hồ" in page
    assert "clock skew: the sender stamped the message" in page
    # The sender of a quarantined message is only the one it names.
    assert "Nút gửi ghi trong thông điệp" in page


def test_links_page_needs_administrator(app, session) -> None:  # noqa: ANN001
    client = bearer_client(app, session, "central_officer")
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}links/{CHILD_NODE_ID}/suspend").status_code == 403


def test_retry_and_suspend_buttons(app, session, child_key) -> None:  # noqa: ANN001
    link_child(session, child_key)
    session.add(OutboxMessage(message_id="22222222-2222-4222-8222-222222222222",
                              message_type="directive", recipient_node_id=CHILD_NODE_ID,
                              sequence=1, body=b"{}", attempts=1,
                              failed_at=datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
                              last_error="rejected"))
    client = bearer_client(app, session, "administrator")
    response = client.post(f"{PAGE}messages/22222222-2222-4222-8222-222222222222/retry")
    assert response.status_code == 303
    session.expire_all()
    message = session.scalar(select(OutboxMessage))
    assert message.failed_at is None
    assert message.next_attempt_at is not None
    again = client.post(f"{PAGE}messages/22222222-2222-4222-8222-222222222222/retry",
                        follow_redirects=True)
    assert "has not failed" in again.get_data(as_text=True)

    assert client.post(f"{PAGE}links/{CHILD_NODE_ID}/suspend").status_code == 303
    session.expire_all()
    assert session.scalar(select(Peer.status)) == "suspended"
    page = client.get(PAGE).get_data(as_text=True)
    assert "Tiếp tục" in page
    assert client.post(f"{PAGE}links/{CHILD_NODE_ID}/resume").status_code == 303
    session.expire_all()
    assert session.scalar(select(Peer.status)) == "active"
