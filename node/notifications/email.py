"""Warnings by e-mail: one message per warning, or one daily digest per person.

Each notification is claimed (its e-mail status set from pending to sent in
one conditional UPDATE, committed) before its message goes out, so two
processes sending at once never mail the same warning twice. A send that
fails marks it failed and is logged; it is not retried.
"""

from __future__ import annotations

import logging
import smtplib
from collections import defaultdict
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Protocol

from flask import Flask
from flask_babel import force_locale
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, joinedload, sessionmaker

from node.auth.models import User
from node.core.db import unit_of_work
from node.core.i18n import _
from node.core.settings import Settings
from node.local_tasks.models import Task
from node.notifications.models import DeadlineWarning, Notification, NotificationPreference
from node.notifications.texts import KIND_TITLES, warning_text

logger = logging.getLogger(__name__)

# Vietnamese first, English beside it, in every message.
LOCALES = ("vi", "en")
SEPARATOR = "\n\n" + "-" * 40 + "\n\n"


class Mailer(Protocol):
    """Sends one e-mail message."""

    def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """Sends through the SMTP server of the settings, one connection per message."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        settings = self.settings
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                          timeout=settings.smtp_timeout_seconds) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)


def _in_both_languages(render) -> tuple[str, str]:  # noqa: ANN001
    """Return (subject, body) rendered in Vietnamese, then English under it."""
    parts = []
    for locale in LOCALES:
        with force_locale(locale):
            parts.append(render())
    subject = parts[0][0]
    body = SEPARATOR.join(text for _subject, text in parts)
    return subject, body


def _link(settings: Settings, warning: DeadlineWarning) -> str:
    if not settings.public_url:
        return ""
    base = settings.public_url.rstrip("/")
    return f"{base}/tasks/{warning.task_id}" if warning.task_id else f"{base}/notifications"


def _single_text(settings: Settings, user: User, notifications: list[Notification]):  # noqa: ANN202
    warning = notifications[0].warning

    def render() -> tuple[str, str]:
        subject = _("Warning: %(title)s", title=str(KIND_TITLES[warning.kind]))
        lines = [_("Dear %(name)s,", name=user.full_name), "", warning_text(warning)]
        link = _link(settings, warning)
        if link:
            lines += ["", _("Open: %(link)s", link=link)]
        lines += ["", _("This message was sent by the task monitoring system; "
                        "change how you receive warnings on the notifications page.")]
        return subject, "\n".join(lines)

    return render


def _digest_text(settings: Settings, user: User, notifications: list[Notification]):  # noqa: ANN202
    warnings = [notification.warning for notification in notifications]

    def render() -> tuple[str, str]:
        subject = _("Daily digest: %(count)s warnings", count=len(warnings))
        lines = [_("Dear %(name)s,", name=user.full_name), "",
                 _("Today's warnings for you:"), ""]
        lines += [f"- {KIND_TITLES[w.kind]}: {warning_text(w)}" for w in warnings]
        if settings.public_url:
            lines += ["", _("Open: %(link)s",
                            link=settings.public_url.rstrip("/") + "/notifications")]
        return subject, "\n".join(lines)

    return render


def _message(settings: Settings, user: User, subject: str, body: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = settings.smtp_sender
    mail["To"] = user.email
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now().astimezone())
    mail["Message-ID"] = make_msgid(domain=settings.smtp_sender.rpartition("@")[2] or None)
    mail.set_content(body, charset="utf-8")
    return mail


def _skip_without_address(session: Session, *, mail_enabled: bool) -> int:
    """Mark pending notifications that get no e-mail as skipped; return how many."""
    no_mail = or_(
        User.email.is_(None), User.email == "",
        User.id.in_(select(NotificationPreference.user_id)
                    .where(NotificationPreference.email_mode == "none")))
    condition = [Notification.email_status == "pending"]
    if mail_enabled:
        condition.append(Notification.user_id.in_(select(User.id).where(no_mail)))
    result = session.execute(update(Notification).where(*condition)
                             .values(email_status="skipped")
                             .execution_options(synchronize_session=False))
    return result.rowcount


def _claim(factory: sessionmaker[Session], notification_ids: list[int], at: datetime) -> list[int]:
    """Claim the pending notifications among `notification_ids`; return the claimed ids."""
    claimed = []
    with unit_of_work(factory) as session:
        for notification_id in notification_ids:
            result = session.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.email_status == "pending")
                .values(email_status="sent", emailed_at=at)
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                claimed.append(notification_id)
    return claimed


def _mark_failed(factory: sessionmaker[Session], notification_ids: list[int]) -> None:
    with unit_of_work(factory) as session:
        session.execute(update(Notification).where(Notification.id.in_(notification_ids))
                        .values(email_status="failed")
                        .execution_options(synchronize_session=False))


def _pending_by_user(factory: sessionmaker[Session]) -> dict[int, list[Notification]]:
    with factory() as session:
        rows = session.scalars(
            select(Notification).where(Notification.email_status == "pending")
            .order_by(Notification.user_id, Notification.id)
            .options(joinedload(Notification.warning).joinedload(DeadlineWarning.task)
                     .joinedload(Task.document),
                     joinedload(Notification.warning).joinedload(DeadlineWarning.org_unit))
        ).all()
        grouped: dict[int, list[Notification]] = defaultdict(list)
        for row in rows:
            grouped[row.user_id].append(row)
        return grouped


def _send(mailer: Mailer, factory: sessionmaker[Session], settings: Settings, user: User,
          notifications: list[Notification], text_of, at: datetime) -> int:  # noqa: ANN001
    """Claim `notifications`, then mail those claimed in one message; return 1 if sent."""
    claimed = _claim(factory, [n.id for n in notifications], at)
    if not claimed:
        return 0
    render = text_of(settings, user, [n for n in notifications if n.id in claimed])
    subject, body = _in_both_languages(render)
    try:
        mailer.send(_message(settings, user, subject, body))
    except (OSError, smtplib.SMTPException) as exc:
        _mark_failed(factory, claimed)
        logger.warning("warning e-mail failed", extra={"user_id": user.id, "error": str(exc),
                                                       "notification_ids": claimed})
        return 0
    return 1


def send_pending_emails(app: Flask, *, at: datetime, mailer: Mailer | None = None) -> int:
    """Send the pending notifications by e-mail; return the number of messages sent."""
    settings: Settings = app.config["THEODOI_SETTINGS"]
    factory = app.extensions["theodoi_sessions"]
    mail_enabled = bool(settings.smtp_host) or mailer is not None
    with unit_of_work(factory) as session:
        skipped = _skip_without_address(session, mail_enabled=mail_enabled)
    if not mail_enabled:
        if skipped:
            logger.info("no SMTP server set: warnings not e-mailed", extra={"skipped": skipped})
        return 0
    mailer = mailer or SmtpMailer(settings)
    sent = 0
    with app.app_context():
        for user_id, notifications in _pending_by_user(factory).items():
            with factory() as session:
                user = session.get(User, user_id)
                mode = session.scalar(select(NotificationPreference.email_mode)
                                      .where(NotificationPreference.user_id == user_id))
            if mode == "digest":
                sent += _send(mailer, factory, settings, user, notifications, _digest_text, at)
                continue
            for notification in notifications:
                sent += _send(mailer, factory, settings, user, [notification], _single_text, at)
    logger.info("warning e-mails sent", extra={"sent": sent, "skipped": skipped})
    return sent
