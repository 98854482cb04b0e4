"""The administrator's page of the exchange links: state, failed messages and quarantine."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, render_template, url_for

from node.auth.web import current_user, role_required
from node.auth.service import roles_of
from node.core.errors import DomainError
from node.core.i18n import _, _l
from node.core.settings import Settings
from node.core.web import db_session
from node.federation import links as link_admin
from node.federation.identity import fingerprint

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

federation_admin = Blueprint("federation_admin", __name__, url_prefix="/admin/federation",
                             template_folder=str(WEB_DIR / "templates"))

RELATION_LABELS = {"parent": _l("Parent node"), "child": _l("Child node")}
STATUS_LABELS = {"active": _l("Active"), "suspended": _l("Suspended")}
# Labels of the quarantine reasons, for the administrator.
REASON_LABELS = {
    "oversized": _l("Message too large"),
    "malformed": _l("Not valid JSON"),
    "unsupported_version": _l("Unsupported protocol version"),
    "unsigned": _l("No signature"),
    "schema_invalid": _l("Does not match the schema"),
    "unknown_type": _l("Unknown message type"),
    "wrong_recipient": _l("Addressed to another node"),
    "unknown_sender": _l("Unknown sender"),
    "suspended_sender": _l("Sender suspended"),
    "bad_signature": _l("Invalid signature"),
    "clock_skew": _l("Clock skew"),
    "not_allowed_from_peer": _l("Message type not allowed from this node"),
    "replay": _l("Message id reused with other content"),
    "sequence_reused": _l("Sequence number reused"),
}
MAX_ROWS = 100


def _settings() -> Settings:
    return current_app.config["THEODOI_SETTINGS"]


@federation_admin.app_template_global()
def show_federation_admin() -> bool:
    """Return whether the signed-in user may open the exchange links page."""
    user = current_user()
    return user is not None and "administrator" in roles_of(user)


@federation_admin.get("/")
@role_required("administrator")
def links_page():  # noqa: ANN201
    session = db_session()
    return render_template(
        "federation/links.html", links=link_admin.link_overview(session, _settings()),
        failed=link_admin.failed_messages(session, limit=MAX_ROWS),
        quarantined=link_admin.quarantined_messages(session, limit=MAX_ROWS),
        relation_labels=RELATION_LABELS, status_labels=STATUS_LABELS,
        reason_labels=REASON_LABELS, fingerprint=fingerprint, max_rows=MAX_ROWS)


def _act(action, success: str):  # noqa: ANN001, ANN202
    session = db_session()
    try:
        action(session)
    except DomainError as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("federation_admin.links_page"), 303)
    session.commit()
    flash(success, "success")
    return redirect(url_for("federation_admin.links_page"), 303)


@federation_admin.post("/messages/<message_id>/retry")
@role_required("administrator")
def retry_message(message_id: str):  # noqa: ANN201
    return _act(lambda session: link_admin.retry_failed(session, message_id=message_id),
                _("Message %(id)s is queued again and will be sent shortly.", id=message_id))


@federation_admin.post("/links/<node_id>/suspend")
@role_required("administrator")
def suspend_link(node_id: str):  # noqa: ANN201
    return _act(lambda session: link_admin.suspend(session, node_id),
                _("The link with %(node)s is suspended: its messages are rejected and "
                  "quarantined until you resume it.", node=node_id))


@federation_admin.post("/links/<node_id>/resume")
@role_required("administrator")
def resume_link(node_id: str):  # noqa: ANN201
    return _act(lambda session: link_admin.resume(session, node_id),
                _("The link with %(node)s is active again.", node=node_id))
