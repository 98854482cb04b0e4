"""Several nodes in the test process, each with its own database, key and settings.

Messages move between them through the real outbox, signatures, schemas and
`service.receive_message`. Only the HTTP hop is left out, and the loopback
tests in test_two_nodes.py and test_content_two_nodes.py cover it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from node.cli import initialise_node
from node.core.cli_support import open_session
from node.core.db import SETTINGS_INFO_KEY, utcnow
from node.core.settings import Settings
from node.federation import service
from node.federation.identity import node_public_key
from node.federation.models import OutboxMessage, Peer
from node.local_tasks.calendar import load_calendar
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import OrgUnit
from node.local_tasks.service import create_document, create_org_unit
from tests.conftest import DatabaseFactory

CENTRE = ("centre", 0, "VPTW")
PROVINCE = ("tu01-hanoi", 1, "TU01")
SUB_UNIT = ("tu01-btg", 2, "TU01-BTG")
SUB_UNIT_NAME = "Ban Tuyên giáo Thành ủy Hà Nội"


@dataclass(frozen=True)
class TestNode:
    """One node of the test federation."""

    settings: Settings

    @property
    def node_id(self) -> str:
        return self.settings.node_id

    def session(self):  # noqa: ANN201
        return open_session(self.settings)


@pytest.fixture
def make_node(tmp_path: Path,
              databases: DatabaseFactory) -> Callable[[tuple[str, int, str]], TestNode]:
    """Build initialised nodes on new databases of the suite's kind."""

    def build(identity: tuple[str, int, str]) -> TestNode:
        node_id, level, org_unit = identity
        settings = Settings(instance_path=tmp_path / node_id,
                            database_url=databases.new(node_id, migrated=True),
                            secret_key="test-secret", log_level="WARNING", node_id=node_id,
                            node_level=level, node_org_unit=org_unit)
        initialise_node(settings)
        with open_session(settings) as session:
            ensure_sub_unit(session)
        return TestNode(settings)

    return build


def ensure_sub_unit(session) -> OrgUnit:  # noqa: ANN001
    """Create the sub-unit TU01-BTG under TU01, so every node of the test tree has it."""
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == SUB_UNIT[2]))
    if unit is None:
        province = session.scalar(select(OrgUnit).where(OrgUnit.code == "TU01"))
        unit = create_org_unit(session, code=SUB_UNIT[2], name=SUB_UNIT_NAME,
                               kind="party_body", parent=province)
    return unit


def link(parent: TestNode, child: TestNode) -> None:
    """Pin each node's key at the other, as enrolment does."""
    for here, there in ((parent, child), (child, parent)):
        with here.session() as session:
            session.add(Peer(node_id=there.node_id, level=there.settings.node_level,
                             org_unit_code=there.settings.node_org_unit,
                             public_key=node_public_key(there.settings), protocol_version="1",
                             status="active"))


def outbox(node: TestNode, *, recipient: str | None = None,
           message_type: str | None = None) -> list[OutboxMessage]:
    with node.session() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if recipient:
            query = query.where(OutboxMessage.recipient_node_id == recipient)
        if message_type:
            query = query.where(OutboxMessage.message_type == message_type)
        return list(session.scalars(query))


def pump(sender: TestNode, receiver: TestNode) -> list[dict]:
    """Deliver the sender's unsent messages for `receiver`; return the receiver's results."""
    results = []
    with sender.session() as sender_session:
        pending = sender_session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient_node_id == receiver.node_id,
                                        OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.sequence)).all()
        for message in pending:
            with receiver.session() as session:
                receipt = service.receive_message(session, receiver.settings, message.body)
            message.sent_at = utcnow()
            results.append({"type": message.message_type, **receipt.result})
    return results


def unit_name(session, code: str) -> str:  # noqa: ANN001
    return session.scalar(select(OrgUnit.name).where(OrgUnit.code == code))


def add_document(session, reference: str, tasks: list[TaskInput], *,  # noqa: ANN001
                 confidentiality: str = "regular", summary: str | None = "Trích yếu văn bản",
                 issued_on: date = date(2026, 1, 5)):  # noqa: ANN201
    """Create a document the way the API does, with agencies named as in the tree."""
    return create_document(session, DocumentInput(
        reference=reference, summary=summary if confidentiality == "regular" else None,
        issued_on=issued_on, signer="Trần Văn B", confidentiality=confidentiality, tasks=tasks),
        calendar=load_calendar(session.info[SETTINGS_INFO_KEY]))


def task_for(session, lead_code: str, *, content: str | None = "Nội dung nhiệm vụ",  # noqa: ANN001
             deadline: date | None = date(2026, 6, 30), coordinating: list[str] | None = None,
             **fields: object) -> TaskInput:
    return TaskInput(content=content, lead_agencies=[unit_name(session, lead_code)],
                     coordinating_agencies=[unit_name(session, code)
                                            for code in coordinating or []],
                     deadline=DeadlineInput(text=deadline.isoformat() if deadline else None,
                                            on=deadline, precision="day" if deadline else "none",
                                            time_class="with_deadline" if deadline else "regular"),
                     **fields)
