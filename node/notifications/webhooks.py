"""Signed webhooks: every warning POSTed as JSON to the addresses an administrator registers.

Each request carries `X-Theodoi-Timestamp` (Unix seconds) and
`X-Theodoi-Signature: sha256=HEX`, the HMAC-SHA256 with the webhook's
secret over the timestamp, a dot and the body bytes. A receiver recomputes
it and rejects a stale timestamp, so a captured request cannot be replayed
later. A delivery that fails is retried with exponential backoff, up to
MAX_ATTEMPTS times.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from node.audit import service as audit_log
from node.core.db import unit_of_work
from node.core.errors import NotFoundError
from node.core.timezone import VN_TZ
from node.local_tasks.models import Task
from node.local_tasks.workflow.errors import invalid, message
from node.notifications.models import DeadlineWarning, Webhook, WebhookDelivery
from node.notifications.texts import warning_text

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Theodoi-Timestamp"
SIGNATURE_HEADER = "X-Theodoi-Signature"
DELIVERY_HEADER = "X-Theodoi-Delivery"
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(seconds=30)
TIMEOUT_SECONDS = 10
# A claimed delivery is not picked up by another process for this long.
CLAIM_DURATION = timedelta(seconds=60)
BATCH_SIZE = 200


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value of `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def create_webhook(session: Session, *, name: str, url: str, actor: str | None) -> Webhook:
    """Register a webhook with a new random secret; the caller shows the secret once."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise invalid("name", name, "Give the webhook a name of 1 to 100 characters")
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("url", url, "Invalid webhook address %(url)r; give an http:// or "
                      "https:// URL with a host", url=url)
    webhook = Webhook(name=name, url=url.strip(), secret=secrets.token_hex(32),
                      created_by=actor)
    session.add(webhook)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise invalid("name", name, "A webhook named %(name)r exists already; choose another "
                      "name", name=name) from None
    audit_log.record(session, actor=actor, action="webhook.create", object_type="webhook",
                     object_id=webhook.id, after={"name": webhook.name, "url": webhook.url})
    logger.info("webhook created", extra={"webhook_id": webhook.id, "actor": actor})
    return webhook


def delete_webhook(session: Session, webhook_id: int, *, actor: str | None) -> None:
    """Remove a webhook and its queued deliveries."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        raise NotFoundError(message("Webhook %(id)s not found", id=webhook_id))
    audit_log.record(session, actor=actor, action="webhook.delete", object_type="webhook",
                     object_id=webhook.id, before={"name": webhook.name, "url": webhook.url})
    session.delete(webhook)
    session.flush()
    logger.info("webhook deleted", extra={"webhook_id": webhook_id, "actor": actor})


def payload(warning: DeadlineWarning) -> dict:
    """Return the JSON body of a warning; tasks appear by number and document only."""
    task = warning.task
    texts = {}
    for locale in ("vi", "en"):
        with force_locale(locale):
            texts[locale] = warning_text(warning)
    return {
        "id": warning.id,
        "kind": warning.kind,
        "warned_on": warning.warned_on.isoformat(),
        "due_at": warning.due_at.astimezone(VN_TZ).isoformat() if warning.due_at else None,
        "working_days_left": warning.working_days_left,
        "audience": warning.audience,
        "task": None if task is None else {
            "id": task.id, "task_no": task.task_no, "document": task.document.reference},
        "org_unit": warning.org_unit.code if warning.org_unit else None,
        "report_period": warning.report_period,
        "text": texts,
    }


def _claim_due(factory: sessionmaker[Session], at: datetime) -> list[int]:
    """Claim up to BATCH_SIZE deliveries that are due; return their ids."""
    claimed = []
    with unit_of_work(factory) as session:
        due = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= at)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(BATCH_SIZE)
        ).all()
        for delivery_id, next_attempt_at in due:
            result = session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id,
                       WebhookDelivery.next_attempt_at == next_attempt_at)
                .values(next_attempt_at=at + CLAIM_DURATION)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                claimed.append(delivery_id)
    return claimed


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        response.read()


def _attempt(factory: sessionmaker[Session], delivery_id: int, at: datetime) -> bool:
    with factory() as session:
        delivery = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
            .options(joinedload(WebhookDelivery.webhook),
                     joinedload(WebhookDelivery.warning).joinedload(DeadlineWarning.task)
                     .joinedload(Task.document),
                     joinedload(WebhookDelivery.warning).joinedload(DeadlineWarning.org_unit))
        ).one()
        body = json.dumps(payload(delivery.warning), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        url, secret = delivery.webhook.url, delivery.webhook.secret
    timestamp = str(int(at.timestamp()))
    headers = {"Content-Type": "application/json; charset=utf-8",
               TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(secret, timestamp, body),
               DELIVERY_HEADER: str(delivery_id), "User-Agent": "theodoi-webhook/1"}
    error = None
    try:
        _post(url, body, headers)
    except (OSError, urllib.error.URLError) as exc:
        error = str(exc)[:1000]
    _record(factory, delivery_id, at=at, error=error)
    return error is None


def _record(factory: sessionmaker[Session], delivery_id: int, *, at: datetime,
            error: str | None) -> None:
    with unit_of_work(factory) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.attempts += 1
        log_ids = {"delivery_id": delivery_id, "webhook_id": delivery.webhook_id,
                   "warning_id": delivery.warning_id, "attempt": delivery.attempts}
        if error is None:
            delivery.status, delivery.delivered_at, delivery.last_error = "delivered", at, None
            logger.info("webhook delivered", extra=log_ids)
            return
        delivery.last_error = error
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = "failed"
            logger.error("webhook delivery failed for good", extra={**log_ids, "error": error})
            return
        delivery.next_attempt_at = at + FIRST_RETRY * 2 ** (delivery.attempts - 1)
        logger.warning("webhook delivery failed; will retry",
                       extra={**log_ids, "error": error,
                              "next_attempt_at": delivery.next_attempt_at.isoformat()})


def deliver_due(app: Flask, *, at: datetime) -> dict[str, int]:
    """Send every webhook delivery that is due at `at`; return counts of outcomes."""
    factory = app.extensions["theodoi_sessions"]
    counts = {"delivered": 0, "failed": 0}
    with app.app_context():
        while True:
            claimed = _claim_due(factory, at)
            for delivery_id in claimed:
                counts["delivered" if _attempt(factory, delivery_id, at) else "failed"] += 1
            if len(claimed) < BATCH_SIZE:
                break
    if any(counts.values()):
        logger.info("webhook deliveries sent", extra=counts)
    return counts
