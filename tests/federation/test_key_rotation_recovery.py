"""A key rotation interrupted at each step leaves the node able to sign.

Each test stops the rotation where a crash would: an exception inside the
transaction (before the commit), or no `install_new_key` after the commit.
The node then restarts through `recover_key_rotation`, and the linked node
must accept what it signs.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from node.federation.aggregates import queue_aggregate_report
from node.federation.identity import (
    NEXT_PRIVATE_KEY_FILE,
    encode_public_key,
    load_previous_private_key,
    load_private_key,
    next_private_key_path,
    node_public_key,
)
from node.federation.links import install_new_key, recover_key_rotation, rotate_key
from node.federation.models import Peer
from node.federation.service import receive_message
from tests.federation.helpers import envelope_for, wire
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
    pump,
)


class SimulatedCrash(Exception):
    """Raised where a crash would stop the rotation."""


@pytest.fixture
def linked(make_node):  # noqa: ANN001, ANN201, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    return centre, province


def _recover(node) -> str | None:  # noqa: ANN001
    with node.session() as session:
        return recover_key_rotation(session, node.settings)


def _report_applied(province, centre) -> bool:  # noqa: ANN001
    """Queue an aggregate report at the province and return whether the centre applied it."""
    with province.session() as session:
        queue_aggregate_report(session, province.settings, "year", date(2026, 1, 1))
    return [result["status"] for result in pump(province, centre)] == ["applied"]


def test_crash_before_commit_keeps_old_key(linked) -> None:  # noqa: ANN001
    centre, province = linked
    old_public = node_public_key(province.settings)

    with pytest.raises(SimulatedCrash), province.session() as session:
        rotate_key(session, province.settings)
        raise SimulatedCrash("crash before the commit")

    # The rolled-back rotation left its staged key and no announcement.
    assert next_private_key_path(province.settings).exists()
    assert outbox(province, message_type="key_rotation") == []
    assert _recover(province) == "discarded"
    assert not next_private_key_path(province.settings).exists()
    assert node_public_key(province.settings) == old_public
    with province.session() as session:
        assert session.scalar(select(Peer.key_rotation_sequence)) is None
    assert _report_applied(province, centre)


def test_crash_after_commit_installs_new_key(linked) -> None:  # noqa: ANN001
    centre, province = linked
    old_public = node_public_key(province.settings)

    with province.session() as session:
        rotation = rotate_key(session, province.settings)
    # The crash comes here, before install_new_key.
    assert node_public_key(province.settings) == old_public
    assert _recover(province) == "installed"
    assert node_public_key(province.settings) == rotation.public_key
    assert not next_private_key_path(province.settings).exists()
    previous = load_previous_private_key(province.settings)
    assert encode_public_key(previous.public_key()) == old_public

    # The announcement, signed with the former key, reaches the centre.
    assert [result["status"] for result in pump(province, centre)] == ["key_rotated"]
    with centre.session() as session:
        pinned = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        assert pinned.public_key == rotation.public_key
        assert pinned.previous_public_key == old_public
    # A message signed with the recovered node key passes the centre's check.
    envelope = envelope_for(load_private_key(province.settings), recipient=CENTRE[0],
                            sender=PROVINCE[0], sequence=2)
    with centre.session() as session:
        receipt = receive_message(session, centre.settings, wire(envelope))
    assert receipt.result["status"] == "applied"


def test_recovery_after_install_changes_nothing(linked) -> None:  # noqa: ANN001
    _, province = linked
    with province.session() as session:
        rotation = rotate_key(session, province.settings)
    assert install_new_key(province.settings)

    assert _recover(province) is None
    assert not install_new_key(province.settings)
    assert node_public_key(province.settings) == rotation.public_key


def test_interrupted_file_write_removed(linked) -> None:  # noqa: ANN001
    centre, province = linked
    old_public = node_public_key(province.settings)
    # A write stopped before its rename leaves a partial temporary file.
    leftover = province.settings.instance_path / (NEXT_PRIVATE_KEY_FILE + ".tmp")
    leftover.write_bytes(b"-----BEGIN PRIVATE KEY-----\nMC4C")

    assert _recover(province) is None
    assert not leftover.exists()
    assert node_public_key(province.settings) == old_public
    assert _report_applied(province, centre)


def test_rotation_after_crash_keeps_committed_key(linked) -> None:  # noqa: ANN001
    centre, province = linked
    old_public = node_public_key(province.settings)
    with province.session() as session:
        first = rotate_key(session, province.settings)
    # The crash comes before install_new_key. The announcement is delivered and
    # acknowledged before anyone restarts the node.
    pump(province, centre)
    with province.session() as session:
        session.scalar(select(Peer)).key_rotation_sequence = None

    # The next rotation installs the committed key first, so the former key
    # it keeps is the key the centre has pinned, not the one before.
    with province.session() as session:
        second = rotate_key(session, province.settings)
    install_new_key(province.settings)
    assert node_public_key(province.settings) == second.public_key
    previous = load_previous_private_key(province.settings)
    assert encode_public_key(previous.public_key()) == first.public_key
    assert encode_public_key(previous.public_key()) != old_public
    assert [result["status"] for result in pump(province, centre)] == ["key_rotated"]
    with centre.session() as session:
        pinned = session.scalar(select(Peer).where(Peer.node_id == PROVINCE[0]))
        assert pinned.public_key == second.public_key
