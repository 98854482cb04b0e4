"""The daily warning job and the delivery job, run by the node's scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from flask import Flask

from node.core.db import unit_of_work, utcnow
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.notifications import email, service, webhooks
from node.notifications.report_calendar import working_days_before

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


def raise_demo_warnings(settings: Settings) -> dict[str, int]:
    """Raise the warnings of the latest working day up to today, for a demo node.

    On a working day this is the daily job of today. On a day off it is the
    job of the last working day before it, so that a demo started at a
    weekend still shows the warnings of its overdue tasks.
    """
    from node import create_app

    app = create_app(settings)
    try:
        calendar = app.extensions["theodoi_calendar"]
        day = utcnow().astimezone(VN_TZ).date()
        run_at = datetime.combine(day, settings.warnings_run_at, tzinfo=VN_TZ)
        if not calendar.is_working_day(day):
            run_at = datetime.combine(working_days_before(calendar, day, 1),
                                      settings.warnings_run_at, tzinfo=VN_TZ)
        return raise_daily_warnings(app, clock=lambda: run_at)
    finally:
        app.extensions["theodoi_engine"].dispose()
