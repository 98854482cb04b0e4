"""Sign-in pages, session cookies, CSRF protection, bearer tokens and the access decorators."""

import re
from datetime import timedelta

import pytest
from flask import Blueprint, g, jsonify
from sqlalchemy import func, select, update

from node.auth.models import ApiToken, User, WebSession
from node.auth.service import (
    MAX_FAILED_LOGINS,
    MAX_FAILURES_PER_IP,
    SESSION_IDLE_TIMEOUT,
    create_api_token,
    create_user,
    grant_role,
    org_unit_by_code,
    revoke_api_token,
    sign_in_failed_message,
)
from node.auth.web import SESSION_COOKIE, VISITOR_CSRF_COOKIE, login_required, role_required
from node.core.db import utcnow
from tests.conftest import app_for_test, build_test_app

PASSWORD = "mật khẩu đủ dài 2026"
OTHER_PASSWORD = "một mật khẩu khác 2026"


@pytest.fixture(scope="module")
def probe_app(settings, engine):  # noqa: ANN001
    """An app of its own with two probe routes that use the decorators."""
    app = build_test_app(settings)
    probe = Blueprint("probe", __name__)

    @probe.route("/api/probe/whoami", methods=["GET", "POST"])
    @login_required
    def whoami():  # noqa: ANN202
        return jsonify(username=g.user.username)

    @probe.get("/probe/admin")
    @role_required("administrator")
    def admin_only():  # noqa: ANN202
        return "administrator page"

    app.register_blueprint(probe)
    yield app
    app.extensions["theodoi_engine"].dispose()


@pytest.fixture
def web_app(probe_app, session_factory):  # noqa: ANN001
    with app_for_test(probe_app, session_factory) as app:
        yield app


@pytest.fixture
def web(web_app):
    return web_app.test_client()


@pytest.fixture
def user(session):
    created = create_user(session, username="capnhat.tu04", full_name="Nguyễn Văn An",
                          password=PASSWORD)
    grant_role(session, created, "updater", org_unit_by_code(session, "TU04"))
    return created


@pytest.fixture
def other_user(session):
    return create_user(session, username="vanphong", full_name="Trần Thị Bình",
                       password=OTHER_PASSWORD)


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no csrf_token field"
    return match.group(1)


def login(web, username: str = "capnhat.tu04", password: str = PASSWORD, **extra: str):
    token = csrf_from(web.get("/login?lang=en").text)
    return web.post("/login", data={"csrf_token": token, "username": username,
                                    "password": password, **extra})


def login_error(response) -> str:
    match = re.search(r'id="login-error">([^<]*)<', response.text)
    assert match, "the page shows no sign-in error"
    return match.group(1)


def set_cookie_header(response, name: str) -> str:
    headers = [value for value in response.headers.getlist("Set-Cookie")
               if value.startswith(f"{name}=")]
    assert headers, f"the response sets no {name} cookie"
    return headers[0]


def session_count(session) -> int:
    return session.scalar(select(func.count()).select_from(WebSession))


# Sign-in ---------------------------------------------------------------------------


def test_login_page_shows_form(web):
    response = web.get("/login?lang=en")
    assert response.status_code == 200
    for text in ("Sign in", "Username", "Password", 'name="csrf_token"'):
        assert text in response.text
    cookie = set_cookie_header(response, VISITOR_CSRF_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_login_page_in_vietnamese(web):
    response = web.get("/login?lang=vi")
    assert response.status_code == 200
    for text in ("Đăng nhập", "Tên đăng nhập", "Mật khẩu"):
        assert text in response.text


def test_login_sets_session_cookie(web, user, session):
    response = login(web)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    cookie = set_cookie_header(response, SESSION_COOKIE)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie
    assert session_count(session) == 1
    stored = session.scalar(select(WebSession))
    assert web.get_cookie(SESSION_COOKIE).value != stored.id


def test_login_cookie_secure_when_configured(web_app, user):
    web_app.config["SESSION_COOKIE_SECURE"] = True
    response = login(web_app.test_client())
    assert "Secure" in set_cookie_header(response, SESSION_COOKIE)


def test_login_follows_local_next_only(web, user):
    local = login(web, next="/tasks?page=2")
    assert local.headers["Location"] == "/tasks?page=2"
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        web.post("/logout", data={"csrf_token": csrf_from(web.get("/account").text)})
        response = login(web, next=target)
        assert response.headers["Location"] == "/", target


def test_login_failure_same_for_unknown_user(web, user):
    unknown = login(web, username="khong.ton.tai")
    wrong = login(web, password="sai mật khẩu rồi")
    assert unknown.status_code == 200
    assert wrong.status_code == 200
    assert login_error(unknown) == login_error(wrong)
    assert "khong.ton.tai" not in login_error(unknown)
    assert SESSION_COOKIE not in unknown.headers.get("Set-Cookie", "")


def test_login_locks_after_five_failures(web, user, session):
    for _attempt in range(MAX_FAILED_LOGINS):
        login(web, password="sai mật khẩu rồi")
    locked = login(web)
    assert locked.status_code == 200
    assert login_error(locked) == sign_in_failed_message()
    assert web.get_cookie(SESSION_COOKIE) is None
    session.refresh(user)
    assert user.locked_until is not None
    assert user.locked_until > utcnow()


def test_login_throttles_address(web, user):
    for number in range(MAX_FAILURES_PER_IP):
        login(web, username=f"nobody{number}")
    throttled = login(web)
    assert throttled.status_code == 429
    assert web.get_cookie(SESSION_COOKIE) is None


def test_login_requires_both_fields(web, user):
    response = login(web, password="")
    assert response.status_code == 422


def test_login_without_csrf_rejected(web, user, session):
    web.get("/login")
    response = web.post("/login", data={"username": "capnhat.tu04", "password": PASSWORD})
    assert response.status_code == 400
    assert session_count(session) == 0


def test_login_with_forged_csrf_rejected(web, user, session):
    web.get("/login")
    response = web.post("/login", data={"username": "capnhat.tu04", "password": PASSWORD,
                                        "csrf_token": "0" * 64})
    assert response.status_code == 400
    assert session_count(session) == 0


# Sign-out and sessions -------------------------------------------------------------


def test_logout_without_csrf_rejected(web, user, session):
    login(web)
    response = web.post("/logout")
    assert response.status_code == 400
    assert session_count(session) == 1
    assert web.get("/account").status_code == 200


def test_logout_with_visitor_token_rejected(web, user, session):
    visitor_token = csrf_from(web.get("/login").text)
    login(web)
    response = web.post("/logout", data={"csrf_token": visitor_token})
    assert response.status_code == 400
    assert session_count(session) == 1


def test_logout_ends_session(web, user, session):
    login(web)
    token = csrf_from(web.get("/account").text)
    response = web.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert web.get_cookie(SESSION_COOKIE) is None
    assert session_count(session) == 0
    assert web.get("/account").status_code == 302


def test_idle_session_signs_out(web, user, session):
    login(web)
    session.execute(update(WebSession).values(
        last_seen_at=utcnow() - SESSION_IDLE_TIMEOUT - timedelta(minutes=1)))
    response = web.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert web.get_cookie(SESSION_COOKIE) is None


def test_second_login_replaces_session(web, user, session):
    login(web)
    first_cookie = web.get_cookie(SESSION_COOKIE).value
    token = csrf_from(web.get("/account").text)
    web.post("/login", data={"csrf_token": token, "username": "capnhat.tu04",
                             "password": PASSWORD})
    assert web.get_cookie(SESSION_COOKIE).value != first_cookie
    assert session_count(session) == 1


# Account page and tokens -----------------------------------------------------------


def test_account_requires_login(web):
    response = web.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/account"


def test_account_lists_roles(web, user):
    login(web)
    response = web.get("/account?lang=en")
    assert response.status_code == 200
    assert "capnhat.tu04" in response.text
    assert 'data-role="updater"' in response.text
    assert "(TU04)" in response.text


def test_token_creation_without_csrf_rejected(web, user, session):
    login(web)
    response = web.post("/account/tokens", data={"name": "cron", "lifetime_days": "30"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_token_shown_once(web, user, session):
    login(web)
    token = csrf_from(web.get("/account").text)
    created = web.post("/account/tokens", data={"csrf_token": token, "name": "Báo cáo",
                                                "lifetime_days": "30"})
    assert created.status_code == 201
    assert "no-store" in created.headers["Cache-Control"]
    text = re.search(r'id="new-token">([^<]+)<', created.text).group(1)
    stored = session.scalar(select(ApiToken))
    assert stored.name == "Báo cáo"
    assert stored.expires_at > utcnow() + timedelta(days=29)
    later = web.get("/account")
    assert text not in later.text
    assert stored.prefix in later.text


def test_token_creation_rejects_bad_lifetime(web, user, session):
    login(web)
    token = csrf_from(web.get("/account").text)
    response = web.post("/account/tokens", data={"csrf_token": token, "name": "cron",
                                                 "lifetime_days": "100000"})
    assert response.status_code == 422
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_token_revoked_from_page(web, user, session):
    api_token, _text = create_api_token(session, user, "cron")
    login(web)
    token = csrf_from(web.get("/account").text)
    response = web.post(f"/account/tokens/{api_token.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 302
    session.refresh(api_token)
    assert api_token.revoked_at is not None
    assert "Revoked on" in web.get("/account?lang=en").text


def test_account_marks_expired_token(web, user, session):
    api_token, _text = create_api_token(session, user, "cron",
                                        expires_at=utcnow() + timedelta(days=1))
    api_token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    login(web)
    page = web.get("/account?lang=en").text
    assert "Expired" in page


def test_token_revoke_without_csrf_rejected(web, user, session):
    api_token, _text = create_api_token(session, user, "cron")
    login(web)
    response = web.post(f"/account/tokens/{api_token.id}/revoke")
    assert response.status_code == 400
    session.refresh(api_token)
    assert api_token.revoked_at is None


def test_cannot_revoke_others_token(web, user, other_user, session):
    foreign, _text = create_api_token(session, other_user, "cron")
    login(web)
    token = csrf_from(web.get("/account").text)
    response = web.post(f"/account/tokens/{foreign.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 404
    session.refresh(foreign)
    assert foreign.revoked_at is None


def test_bearer_cannot_create_tokens(web, user, session):
    _token, text = create_api_token(session, user, "cron")
    response = web.post("/account/tokens", data={"name": "more", "lifetime_days": "30"},
                        headers={"Authorization": f"Bearer {text}"})
    assert response.status_code == 403
    assert session.scalar(select(func.count()).select_from(ApiToken)) == 1


# Bearer tokens ---------------------------------------------------------------------


def test_bearer_token_authenticates(web, user, session):
    _token, text = create_api_token(session, user, "cron")
    response = web.get("/api/probe/whoami", headers={"Authorization": f"Bearer {text}"})
    assert response.status_code == 200
    assert response.json == {"username": "capnhat.tu04"}


def test_bearer_post_needs_no_csrf(web, user, session):
    _token, text = create_api_token(session, user, "cron")
    response = web.post("/api/probe/whoami", headers={"Authorization": f"Bearer {text}"})
    assert response.status_code == 200


def test_revoked_token_gets_problem_401(web, user, session):
    api_token, text = create_api_token(session, user, "cron")
    revoke_api_token(session, api_token)
    response = web.get("/api/probe/whoami?lang=en", headers={"Authorization": f"Bearer {text}"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "revoked" in response.json["detail"]


def test_expired_token_gets_problem_401(web, user, session):
    api_token, text = create_api_token(session, user, "cron",
                                       expires_at=utcnow() + timedelta(days=1))
    api_token.expires_at = utcnow() - timedelta(seconds=1)
    session.flush()
    response = web.get("/api/probe/whoami?lang=en", headers={"Authorization": f"Bearer {text}"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "expired" in response.json["detail"]


def test_invalid_token_on_page_gets_problem_401(web):
    response = web.get("/account", headers={"Authorization": "Bearer tdk_wrong"})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_anonymous_api_call_gets_401(web):
    response = web.post("/api/probe/whoami", json={})
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_session_api_post_needs_csrf_header(web, user):
    login(web)
    rejected = web.post("/api/probe/whoami", json={})
    assert rejected.status_code == 400
    assert rejected.mimetype == "application/problem+json"
    token = csrf_from(web.get("/account").text)
    accepted = web.post("/api/probe/whoami", json={}, headers={"X-CSRF-Token": token})
    assert accepted.status_code == 200


# Roles -----------------------------------------------------------------------------


def test_role_required_rejects_other_roles(web, user):
    login(web)
    assert web.get("/probe/admin").status_code == 403


def test_role_required_admits_role(web, other_user, session):
    grant_role(session, other_user, "administrator", org_unit_by_code(session, "BCHTW"))
    login(web, username="vanphong", password=OTHER_PASSWORD)
    response = web.get("/probe/admin")
    assert response.status_code == 200
    assert response.text == "administrator page"


def test_role_required_sends_visitor_to_login(web):
    response = web.get("/probe/admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/probe/admin"


def test_deactivated_user_loses_session(web, user, session):
    login(web)
    session.execute(update(User).values(is_active=False))
    assert web.get("/account").status_code == 302
