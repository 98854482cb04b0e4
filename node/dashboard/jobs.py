"""Periodic dashboard job, run by the node's scheduler."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from node.core.db import unit_of_work, utcnow
from node.core.settings import Settings
from node.dashboard.counters import ensure_current

logger = logging.getLogger(__name__)


def start_day(session_factory: sessionmaker[Session], settings: Settings) -> None:
    """Move the counters' horizon to today and store today's snapshot of the level counts.

    The first dashboard read of a day does the same; the job makes sure the
    snapshot of the trend chart is taken on days when no one opens the dashboard.
    """
    with unit_of_work(session_factory) as session:
        state = ensure_current(session, now=utcnow())
    logger.info("dashboard day started", extra={"horizon_at": state["horizon_at"].isoformat(),
                                                "node_id": settings.node_id})
