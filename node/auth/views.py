"""Pages of the `auth` blueprint: sign-in, sign-out and the user's own account."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Blueprint, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import Forbidden, NotFound

from node.auth.models import ApiToken, RoleGrant
from node.auth.service import (
    AuthenticationError,
    ThrottledError,
    authenticate,
    create_api_token,
    revoke_api_token,
    user_api_tokens,
)
from node.auth.web import login_required, safe_next_url, sign_in, sign_out
from node.core.db import utcnow
from node.core.errors import ValidationError
from node.core.i18n import _, _l
from node.core.web import db_session

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

auth = Blueprint("auth", __name__, template_folder=str(WEB_DIR / "templates"))

ROLE_LABELS = {
    "administrator": _l("Administrator"),
    "central_officer": _l("Central office officer"),
    "updater": _l("Progress updater"),
    "approver": _l("Progress approver"),
    "monitoring_officer": _l("Monitoring officer"),
    "inspector": _l("Inspector (read only)"),
    "leader": _l("Leader (dashboards)"),
}

# Choices of the token form: days until expiry, "" for a token that never expires.
TOKEN_LIFETIME_CHOICES = (
    ("30", _l("30 days")),
    ("90", _l("90 days")),
    ("365", _l("1 year")),
    ("", _l("Never expires")),
)


def _next_url() -> str:
    return safe_next_url(request.values.get("next")) or url_for("views.dashboard")


@auth.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if request.method == "GET":
        if g.get("user") is not None:
            return redirect(_next_url())
        return render_template("auth/login.html", username="", error=None,
                               next=safe_next_url(request.args.get("next")))

    username = request.form.get("username", "")
    password = request.form.get("password", "")
    next_url = safe_next_url(request.form.get("next"))
    if not username.strip() or not password:
        return render_template("auth/login.html", username=username, next=next_url,
                               error=_("Enter both the username and the password.")), 422

    session = db_session()
    try:
        # NOTE: behind a reverse proxy remote_addr is the proxy's address unless
        # werkzeug's ProxyFix is configured, and then all visitors share one throttle.
        user = authenticate(session, username, password, ip=request.remote_addr)
    except (AuthenticationError, ThrottledError) as exc:
        # The failure counters must be stored although sign-in failed, and the
        # request commits by itself only responses below 400.
        session.commit()
        # A failed sign-in re-renders the form with 200, because a 401 response
        # needs a WWW-Authenticate challenge, which does not fit an HTML form.
        status = 429 if isinstance(exc, ThrottledError) else 200
        return render_template("auth/login.html", username=username, next=next_url,
                               error=exc.message), status
    sign_in(user)
    return redirect(_next_url())


@auth.post("/logout")
def logout():  # noqa: ANN201
    sign_out()
    return redirect(url_for("auth.login"))


def _render_account(status: int = 200, *, new_token: str | None = None,
                    new_token_name: str | None = None, token_error: str | None = None,
                    token_name: str = ""):  # noqa: ANN202
    session = db_session()
    grants = session.scalars(
        select(RoleGrant).options(selectinload(RoleGrant.org_unit))
        .where(RoleGrant.user_id == g.user.id).order_by(RoleGrant.role, RoleGrant.id)).all()
    response = render_template(
        "auth/account.html", grants=grants, role_labels=ROLE_LABELS,
        tokens=user_api_tokens(session, g.user), lifetime_choices=TOKEN_LIFETIME_CHOICES,
        new_token=new_token, new_token_name=new_token_name, token_error=token_error,
        token_name=token_name, now=utcnow(),
    )
    # The page may show a new token, which is shown only once, so no cache may keep it.
    return response, status, {"Cache-Control": "no-store"}


def _require_browser_session() -> None:
    if g.get("web_session") is None:
        raise Forbidden(description=_("API tokens cannot create or revoke API tokens; "
                                      "sign in with a browser to manage them."))


@auth.get("/account")
@login_required
def account():  # noqa: ANN201
    return _render_account()


@auth.post("/account/tokens")
@login_required
def create_token():  # noqa: ANN201
    _require_browser_session()
    name = request.form.get("name", "")
    lifetime = request.form.get("lifetime_days", "")
    if lifetime not in {value for value, _label in TOKEN_LIFETIME_CHOICES}:
        return _render_account(422, token_name=name,
                               token_error=_("Choose a validity period from the list."))
    expires_at = utcnow() + timedelta(days=int(lifetime)) if lifetime else None
    try:
        token, token_text = create_api_token(db_session(), g.user, name, expires_at=expires_at)
    except ValidationError as exc:
        messages = "; ".join(problem.message for problem in exc.problems) or exc.message
        return _render_account(422, token_name=name, token_error=messages)
    return _render_account(201, new_token=token_text, new_token_name=token.name)


@auth.post("/account/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):  # noqa: ANN201
    _require_browser_session()
    token = db_session().get(ApiToken, token_id)
    # Another user's token is reported as missing, so ids of other users' tokens stay hidden.
    if token is None or token.user_id != g.user.id:
        raise NotFound(description=_("No API token with id %(id)d in your account.", id=token_id))
    revoke_api_token(db_session(), token)
    return redirect(url_for("auth.account"))
