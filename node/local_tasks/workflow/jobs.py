"""Periodic workflow jobs, run by the node's scheduler."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from node.core.db import unit_of_work, utcnow
from node.core.settings import Settings
from node.local_tasks.workflow.explanations import open_explanations_for_missed_checkpoints

logger = logging.getLogger(__name__)


def open_explanations(session_factory: sessionmaker[Session], settings: Settings) -> int:
    """Open explanation requests for checkpoints and result reports missed by now."""
    with unit_of_work(session_factory) as session:
        opened = open_explanations_for_missed_checkpoints(session, at=utcnow())
    logger.info("explanation requests opened", extra={"opened": opened,
                                                      "node_id": settings.node_id})
    return opened
