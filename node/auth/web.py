"""Request authentication: the signed-in user, CSRF protection and access decorators.

A request is authenticated by `Authorization: Bearer <API token>` or else by
the web-session cookie. Every POST, PUT, PATCH and DELETE must carry a CSRF
token (form field `csrf_token` or header `X-CSRF-Token`) except:

* requests authenticated by a bearer token, which a browser never adds on
  its own, so another site cannot forge them;
* anonymous requests to /api/ and /federation/, which carry no credentials
  that a forged request could abuse.

A signed-in user's token is stored in the web session. A visitor's token
(for the sign-in form) is an HMAC of a random value kept in its own cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, redirect, request, url_for
from werkzeug.exceptions import BadRequest, Forbidden

from node.auth.models import User
from node.auth.service import (
    SESSION_MAX_LIFETIME,
    AuthenticationError,
    authenticate_token,
    end_session,
    load_session,
    roles_of,
    start_session,
)
from node.core.errors_web import problem_response, wants_json
from node.core.i18n import _
from node.core.web import db_session

SESSION_COOKIE = "theodoi_session"
VISITOR_CSRF_COOKIE = "theodoi_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MACHINE_PATH_PREFIXES = ("/api/", "/federation/")


class CSRFError(BadRequest):
    """A state-changing request without a valid CSRF token."""

    def __init__(self) -> None:
        super().__init__(description=_(
            "The form's security token is missing or invalid, so nothing was changed. "
            "Reload the page and submit the form again."))


def current_user() -> User | None:
    """Return the user of this request, or None for an anonymous visitor."""
    return g.get("user")


def init_auth(app: Flask) -> None:
    """Authenticate each request, check CSRF tokens, expose `current_user` and `csrf_token()`."""
    # NOTE: Settings has no field for this yet. Set SESSION_COOKIE_SECURE in the
    # Flask config when the node is served over HTTPS.
    app.config.setdefault("SESSION_COOKIE_SECURE", False)
    app.before_request(_load_user)
    app.before_request(_check_csrf)
    app.after_request(_write_cookies)
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"current_user": current_user()})


# Loading the user ------------------------------------------------------------------


def _unauthorized_bearer(message: str) -> Response:
    response = problem_response(401, "Unauthorized", message)
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def _load_user() -> Response | None:
    g.user = None
    g.web_session = None
    g.api_token = None
    if request.endpoint is not None and request.endpoint.rpartition(".")[2] == "static":
        return None

    scheme, _separator, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        try:
            token = authenticate_token(db_session(), credentials)
        except AuthenticationError as exc:
            return _unauthorized_bearer(exc.message)
        g.api_token = token
        g.user = token.user
        return None

    secret = request.cookies.get(SESSION_COOKIE)
    web_session = load_session(db_session(), secret) if secret else None
    if web_session is None:
        g.clear_session_cookie = secret is not None
        return None
    g.web_session = web_session
    g.user = web_session.user
    return None


# CSRF ------------------------------------------------------------------------------


def _visitor_token(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode("utf-8")
    return hmac.new(key, b"csrf:" + nonce.encode("utf-8"), hashlib.sha256).hexdigest()


def csrf_token() -> str:
    """Return the CSRF token that forms of this request must send back."""
    web_session = g.get("web_session")
    if web_session is not None:
        return web_session.csrf_token
    nonce = request.cookies.get(VISITOR_CSRF_COOKIE) or g.get("new_csrf_nonce")
    if not nonce:
        nonce = secrets.token_urlsafe(32)
        g.new_csrf_nonce = nonce
    return _visitor_token(nonce)


def _expected_csrf_token() -> str | None:
    web_session = g.get("web_session")
    if web_session is not None:
        return web_session.csrf_token
    nonce = request.cookies.get(VISITOR_CSRF_COOKIE)
    return _visitor_token(nonce) if nonce else None


def _check_csrf() -> None:
    if request.method not in UNSAFE_METHODS or g.get("api_token") is not None:
        return
    if g.get("web_session") is None and request.path.startswith(MACHINE_PATH_PREFIXES):
        return
    expected = _expected_csrf_token()
    submitted = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise CSRFError()


# Cookies -----------------------------------------------------------------------------


def _cookie_options() -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "path": "/",
            "secure": bool(current_app.config.get("SESSION_COOKIE_SECURE"))}


def _write_cookies(response: Response) -> Response:
    nonce = g.get("new_csrf_nonce")
    if nonce:
        response.set_cookie(VISITOR_CSRF_COOKIE, nonce, **_cookie_options())
    new_secret = g.get("new_session_secret")
    if new_secret:
        response.set_cookie(SESSION_COOKIE, new_secret,
                            max_age=int(SESSION_MAX_LIFETIME.total_seconds()), **_cookie_options())
    elif g.get("clear_session_cookie"):
        response.delete_cookie(SESSION_COOKIE, **_cookie_options())
    if g.get("user") is not None:
        response.vary.add("Cookie")
        response.cache_control.private = True
    return response


def sign_in(user: User) -> None:
    """Start a web session for `user` in place of any current one. The response sets the cookie."""
    session = db_session()
    if g.get("web_session") is not None:
        end_session(session, g.web_session)
    web_session, secret = start_session(
        session, user, ip=request.remote_addr, user_agent=request.user_agent.string)
    g.web_session = web_session
    g.user = user
    g.new_session_secret = secret


def sign_out() -> None:
    """End the current web session. The response deletes the cookie."""
    web_session = g.get("web_session")
    if web_session is not None:
        end_session(db_session(), web_session)
    g.web_session = None
    g.user = None
    g.clear_session_cookie = True


# Decorators ----------------------------------------------------------------------------


def safe_next_url(value: str | None) -> str | None:
    """Return `value` when it is a path on this node, None otherwise (no open redirects)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def _authentication_required() -> Response:
    if g.get("api_token") is None and not wants_json():
        target = request.full_path if request.query_string else request.path
        return redirect(url_for("auth.login", next=target))
    response = problem_response(401, "Unauthorized",
                                _("Sign in, or send an API token in the Authorization header."))
    response.headers["WWW-Authenticate"] = "Bearer"
    return response


def login_required(view: Callable) -> Callable:
    """Let only signed-in users (by session or API token) reach `view`.

    A browser is sent to the sign-in page and comes back afterwards. An API
    client gets 401 problem+json.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _authentication_required()
        return view(*args, **kwargs)

    return wrapper


def role_required(*roles: str) -> Callable[[Callable], Callable]:
    """Let only users who hold at least one of `roles`, over any org unit, reach the view.

    The view still has to check that the object it touches is in the user's
    scope (see `node.auth.service.user_scope`). Others get 403.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _authentication_required()
            if not roles_of(user) & set(roles):
                raise Forbidden(description=_(
                    "Your account has none of the roles this page requires. Ask an "
                    "administrator for access."))
            return view(*args, **kwargs)

        return wrapper

    return decorator
