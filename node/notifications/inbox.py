"""The notification centre: a person's warnings, read and unread, and e-mail preferences."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload

from node.audit import service as audit_log
from node.auth.models import User
from node.core.errors import NotFoundError
from node.local_tasks.models import Task
from node.local_tasks.workflow.errors import invalid, message
from node.notifications.models import (
    EMAIL_MODES,
    DeadlineWarning,
    Notification,
    NotificationPreference,
)

logger = logging.getLogger(__name__)

PAGE_SIZE = 50


def unread_count(session: Session, user: User) -> int:
    """Return how many of `user`'s notifications are unread."""
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


def list_notifications(session: Session, user: User, *, unread_only: bool = False,
                       page: int = 1) -> tuple[list[Notification], int]:
    """Return one page of `user`'s notifications, newest first, and the number of pages."""
    condition = [Notification.user_id == user.id]
    if unread_only:
        condition.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*condition)) or 0
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = session.scalars(
        select(Notification).where(*condition)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
        .options(joinedload(Notification.warning).joinedload(DeadlineWarning.task)
                 .joinedload(Task.document),
                 joinedload(Notification.warning).joinedload(DeadlineWarning.org_unit))
    ).all()
    return list(rows), pages


def mark_read(session: Session, user: User, notification_id: int, *, at: datetime) -> Notification:
    """Mark one of `user`'s notifications read; another person's is not found."""
    notification = session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        raise NotFoundError(message("Notification %(id)s not found", id=notification_id))
    if notification.read_at is None:
        notification.read_at = at
        session.flush()
        logger.info("notification read", extra={"notification_id": notification.id,
                                                "user_id": user.id})
    return notification


def mark_all_read(session: Session, user: User, *, at: datetime) -> int:
    """Mark every unread notification of `user` read; return how many changed."""
    result = session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=at).execution_options(synchronize_session=False))
    logger.info("notifications read", extra={"user_id": user.id, "count": result.rowcount})
    return result.rowcount


def email_mode(session: Session, user: User) -> str:
    """Return how `user` gets warnings by e-mail: each, digest or none (default each)."""
    preference = session.get(NotificationPreference, user.id)
    return preference.email_mode if preference else "each"


def update_email_mode(session: Session, user: User, mode: str) -> None:
    """Set how `user` gets warnings by e-mail."""
    if mode not in EMAIL_MODES:
        raise invalid("email_mode", mode, "Unknown e-mail mode %(mode)r; use one of %(modes)s",
                      mode=mode, modes=", ".join(EMAIL_MODES))
    preference = session.get(NotificationPreference, user.id)
    before = preference.email_mode if preference else None
    if preference is None:
        session.add(NotificationPreference(user_id=user.id, email_mode=mode))
    else:
        preference.email_mode = mode
    session.flush()
    audit_log.record(session, actor=user.username, action="notification_preference.update",
                     object_type="user", object_id=user.id,
                     before={"email_mode": before}, after={"email_mode": mode})
    logger.info("e-mail mode updated", extra={"user_id": user.id, "email_mode": mode})
