"""Handlers that apply verified messages, one per message type.

A handler runs inside the transaction that stores the message in the inbox,
so a message is applied exactly once or not at all. Its return value is the
result that the sender gets, again, for every repeat of the same message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from node.federation.models import Peer

PARENT = "parent"
CHILD = "child"

ApplyFunction = Callable[[Session, Peer, dict], dict]


@dataclass(frozen=True)
class Handler:
    """How to apply one message type, and which linked node may send it."""

    message_type: str
    accepted_from: str
    apply: ApplyFunction


HANDLERS: dict[str, Handler] = {}


def register(message_type: str, accepted_from: str) -> Callable[[ApplyFunction], ApplyFunction]:
    """Register the decorated function as the handler of `message_type`."""

    def decorate(function: ApplyFunction) -> ApplyFunction:
        HANDLERS[message_type] = Handler(message_type, accepted_from, function)
        return function

    return decorate


def _record_only(session: Session, peer: Peer, envelope: dict) -> dict:
    # NOTE: this handler only records the message in the inbox. Creating tasks
    # from a directive, applying receipts, objections and statuses to local
    # tasks, and storing aggregates and rankings are not implemented yet.
    return {"status": "recorded", "message_type": envelope["type"]}


for _type in ("directive", "ranking_publication"):
    register(_type, PARENT)(_record_only)
for _type in ("receipt_confirmation", "objection", "task_status", "aggregate_report"):
    register(_type, CHILD)(_record_only)
