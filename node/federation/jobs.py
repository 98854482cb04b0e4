"""Periodic exchange work run by the node's scheduler: the aggregate reports for the parent."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from node.core.db import unit_of_work, utcnow
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.federation.aggregates import PERIOD_MONTHS, queue_aggregate_report
from node.federation.directives import parent_peer

logger = logging.getLogger(__name__)


def period_start(kind: str, day: date) -> date:
    """Return the first day of the period of `kind` that contains `day`."""
    months = PERIOD_MONTHS[kind]
    return date(day.year, (day.month - 1) // months * months + 1, 1)


def periods_to_report(at: datetime) -> list[tuple[str, date]]:
    """Return the periods whose counts the parent needs on the day of `at` in Vietnam.

    These are the month, quarter, half-year and year in progress and, on the
    first day of a period, the period that ended the day before, so that its
    final counts reach the parent once it has ended.
    """
    today = at.astimezone(VN_TZ).date()
    periods = [(kind, period_start(kind, today)) for kind in PERIOD_MONTHS]
    yesterday = today - timedelta(days=1)
    periods += [(kind, period_start(kind, yesterday)) for kind, start in periods
                if start == today]
    return periods


def push_aggregates(session_factory: sessionmaker[Session], settings: Settings, *,
                    now: datetime | None = None) -> int:
    """Queue the aggregate reports of `periods_to_report` for the parent; return how many.

    A node without a parent (the central node) has nothing to report and
    queues none. The reports leave with the next push of the outbox.
    """
    now = now or utcnow()
    with unit_of_work(session_factory) as session:
        if parent_peer(session, settings) is None:
            logger.info("aggregate reports skipped: this node has no parent node",
                        extra={"node_id": settings.node_id})
            return 0
        periods = periods_to_report(now)
        for kind, start in periods:
            queue_aggregate_report(session, settings, kind, start, now=now)
    logger.info("aggregate reports queued for the parent node",
                extra={"node_id": settings.node_id, "reports": len(periods)})
    return len(periods)
