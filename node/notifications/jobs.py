"""The daily warning job and the delivery job, run by the node's scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from node.core.db import unit_of_work, utcnow
from node.notifications import email, service, webhooks

logger = logging.getLogger(__name__)



def raise_daily_warnings(app: Flask, *, clock: Callable[[], datetime] = utcnow,
                         mailer: email.Mailer | None = None) -> dict[str, int]:
    """Raise today's warnings, address them to people and webhooks, then send them."""
    settings = app.config["THEODOI_SETTINGS"]
    calendar = app.extensions["theodoi_calendar"]
    at = clock()
    with unit_of_work(app.extensions["theodoi_sessions"]) as session:
        counts = service.raise_warnings(session, at=at, calendar=calendar, settings=settings)
        counts["notifications"] = service.address_notifications(session, at=at)
        counts["webhook_deliveries"] = service.queue_webhook_deliveries(session, at=at)
    counts["emails"] = email.send_pending_emails(app, at=at, mailer=mailer)
    counts["webhooks_delivered"] = webhooks.deliver_due(app, at=at)["delivered"]
    logger.info("daily warnings done", extra={"node_id": settings.node_id, **counts})
    return counts


def deliver_pending(app: Flask, *, clock: Callable[[], datetime] = utcnow) -> dict[str, int]:
    """Send the e-mails still pending and the webhook deliveries whose retry time came."""
    at = clock()
    counts = webhooks.deliver_due(app, at=at)
    counts["emails"] = email.send_pending_emails(app, at=at)
    return counts
