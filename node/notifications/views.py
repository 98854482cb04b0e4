"""The notification centre page, e-mail preferences and the webhook admin page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from node.auth.web import current_user, login_required, role_required
from node.core.db import utcnow
from node.core.errors import NotFoundError, ValidationError
from node.core.i18n import _
from node.core.web import db_session
from node.notifications import inbox, webhooks
from node.notifications.models import EMAIL_MODES, Webhook
from node.notifications.texts import KIND_TITLES, warning_text

notifications = Blueprint("notifications", __name__)


@notifications.app_template_global()
def unread_notification_count() -> int:
    """Return the signed-in person's unread notifications, for the navigation."""
    user = current_user()
    return inbox.unread_count(db_session(), user) if user is not None else 0


@notifications.get("/notifications")
@login_required
def index() -> str:
    """List the signed-in person's warnings, newest first."""
    unread_only = request.args.get("unread") == "1"
    page = request.args.get("page", default=1, type=int)
    session = db_session()
    user = current_user()
    rows, pages = inbox.list_notifications(session, user, unread_only=unread_only, page=page)
    return render_template("notifications/index.html", rows=rows, pages=pages, page=page,
                           unread_only=unread_only, kind_titles=KIND_TITLES,
                           warning_text=warning_text, email_mode=inbox.email_mode(session, user),
                           email_modes=EMAIL_MODES)


@notifications.post("/notifications/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> Response:
    """Mark one notification read."""
    try:
        inbox.mark_read(db_session(), current_user(), notification_id, at=utcnow())
    except NotFoundError:
        abort(404)
    return redirect(request.form.get("next") or url_for("notifications.index"))


@notifications.post("/notifications/read-all")
@login_required
def mark_all_read() -> Response:
    """Mark every notification of the signed-in person read."""
    count = inbox.mark_all_read(db_session(), current_user(), at=utcnow())
    flash(_("%(count)s notifications marked as read.", count=count), "success")
    return redirect(url_for("notifications.index"))


@notifications.post("/notifications/preferences")
@login_required
def update_preferences() -> Response:
    """Choose how warnings arrive by e-mail."""
    try:
        inbox.update_email_mode(db_session(), current_user(), request.form.get("email_mode", ""))
    except ValidationError as exc:
        flash(exc.message, "error")
    else:
        flash(_("E-mail preference saved."), "success")
    return redirect(url_for("notifications.index"))


@notifications.get("/notifications/webhooks")
@role_required("administrator")
def webhook_list() -> str:
    """List the registered webhooks."""
    rows = db_session().query(Webhook).order_by(Webhook.name).all()
    return render_template("notifications/webhooks.html", rows=rows, error=None, created=None)


@notifications.post("/notifications/webhooks")
@role_required("administrator")
def create_webhook() -> str | Response:
    """Register a webhook and show its secret once."""
    session = db_session()
    try:
        created = webhooks.create_webhook(session, name=request.form.get("name", ""),
                                          url=request.form.get("url", ""),
                                          actor=current_user().username)
    except ValidationError as exc:
        rows = session.query(Webhook).order_by(Webhook.name).all()
        return render_template("notifications/webhooks.html", rows=rows, error=exc,
                               created=None), 422
    rows = session.query(Webhook).order_by(Webhook.name).all()
    return render_template("notifications/webhooks.html", rows=rows, error=None, created=created)


@notifications.post("/notifications/webhooks/<int:webhook_id>/delete")
@role_required("administrator")
def delete_webhook(webhook_id: int) -> Response:
    """Remove a webhook."""
    try:
        webhooks.delete_webhook(db_session(), webhook_id, actor=current_user().username)
    except NotFoundError:
        abort(404)
    flash(_("Webhook removed."), "success")
    return redirect(url_for("notifications.webhook_list"))
