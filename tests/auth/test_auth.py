"""Account services: passwords, sign-in throttling, sessions, API tokens, scopes and the CLI."""

import unicodedata
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from node.auth import service
from node.auth.demo import DEMO_ACCOUNTS, create_demo_accounts
from node.auth.models import ApiToken, LoginFailure, RoleGrant, User, WebSession
from node.auth.passwords import hash_password, password_problems, verify_password
from node.auth.scope import subtree_ids
from node.auth.service import (
    IP_FAILURE_WINDOW,
    LOCKOUT_DURATION,
    MAX_FAILED_LOGINS,
    MAX_FAILURES_PER_IP,
    SESSION_IDLE_TIMEOUT,
    SESSION_MAX_LIFETIME,
    AuthenticationError,
    ThrottledError,
    authenticate,
    authenticate_token,
    create_api_token,
    create_user,
    end_session,
    grant_role,
    has_role,
    load_session,
    org_unit_by_code,
    revoke_api_token,
    revoke_role,
    start_session,
    user_scope,
)
from node.cli import main
from node.core.db import make_engine, make_session_factory, unit_of_work, utcnow
from node.core.errors import ConflictError, NotFoundError, ValidationError
from node.core.settings import load_settings
from node.local_tasks.service import create_org_unit

PASSWORD = "mật khẩu đủ dài 2026"


@pytest.fixture
def user(session):
    return create_user(session, username="capnhat.tu04", full_name="Nguyễn Văn An",
                       password=PASSWORD, email="an@example.org")


def unit(session, code):
    return org_unit_by_code(session, code)


# Passwords -------------------------------------------------------------------------


def test_password_hash_uses_scrypt():
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("scrypt:")
    assert PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "x")


def test_password_hash_is_salted():
    assert hash_password(PASSWORD) != hash_password(PASSWORD)


def test_password_check_ignores_normalisation_form():
    decomposed = unicodedata.normalize("NFD", PASSWORD)
    assert decomposed != PASSWORD
    assert verify_password(hash_password(PASSWORD), decomposed)


def test_password_policy_minimum_length():
    assert password_problems("123456789")
    assert password_problems("1234567890") == []


def test_password_policy_rejects_username_and_spaces():
    assert password_problems("Capnhat.TU04", "capnhat.tu04")
    assert password_problems(" " * 12)


def test_create_user_rejects_short_password(session):
    with pytest.raises(ValidationError) as caught:
        create_user(session, username="ngan", full_name="Ngắn", password="short")
    assert [problem.path for problem in caught.value.problems] == ["password"]
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_reports_every_invalid_field(session):
    with pytest.raises(ValidationError) as caught:
        create_user(session, username="a b", full_name="  ", password="x", email="not-an-email")
    paths = {problem.path for problem in caught.value.problems}
    assert paths == {"username", "full_name", "password", "email"}


def test_create_user_stores_hash_not_password(user):
    assert user.password_hash != PASSWORD
    assert verify_password(user.password_hash, PASSWORD)
    assert user.is_active
    assert user.failed_logins == 0


# Usernames -------------------------------------------------------------------------


def test_username_is_nfc_and_case_folded(session):
    created = create_user(session, username="Trần.Thị.Bích", full_name="Trần Thị Bích",
                          password=PASSWORD)
    assert created.username == "trần.thị.bích"
    assert unicodedata.is_normalized("NFC", created.username)
    found = service.find_user(session, unicodedata.normalize("NFD", "TRẦN.THỊ.BÍCH"))
    assert found is created


def test_username_unique_ignoring_case(session, user):
    with pytest.raises(ConflictError):
        create_user(session, username="CAPNHAT.TU04", full_name="Khác", password=PASSWORD)


# Sign-in throttling ----------------------------------------------------------------


def test_authenticate_success_resets_counters(session, user):
    now = utcnow()
    with pytest.raises(AuthenticationError):
        authenticate(session, "capnhat.tu04", "wrong password!", now=now)
    assert user.failed_logins == 1
    signed_in = authenticate(session, "CapNhat.TU04", PASSWORD, now=now)
    assert signed_in is user
    assert user.failed_logins == 0
    assert user.last_login_at == now


def test_lock_after_five_failures(session, user):
    now = utcnow()
    for _attempt in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(session, "capnhat.tu04", "wrong password!", ip="10.0.0.1", now=now)
    assert user.locked_until == now + LOCKOUT_DURATION
    assert user.failed_logins == 0
    with pytest.raises(AuthenticationError):
        authenticate(session, "capnhat.tu04", PASSWORD, now=now + timedelta(minutes=14))


def test_lock_ends_after_fifteen_minutes(session, user):
    now = utcnow()
    for _attempt in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(session, "capnhat.tu04", "wrong password!", now=now)
    later = now + LOCKOUT_DURATION + timedelta(seconds=1)
    assert authenticate(session, "capnhat.tu04", PASSWORD, now=later) is user
    assert user.locked_until is None


def test_four_failures_do_not_lock(session, user):
    now = utcnow()
    for _attempt in range(MAX_FAILED_LOGINS - 1):
        with pytest.raises(AuthenticationError):
            authenticate(session, "capnhat.tu04", "wrong password!", now=now)
    assert user.locked_until is None
    assert authenticate(session, "capnhat.tu04", PASSWORD, now=now) is user


def test_failure_message_same_for_unknown_user(session, user):
    now = utcnow()
    with pytest.raises(AuthenticationError) as unknown:
        authenticate(session, "khong.ton.tai", PASSWORD, now=now)
    with pytest.raises(AuthenticationError) as wrong:
        authenticate(session, "capnhat.tu04", "wrong password!", now=now)
    for _attempt in range(MAX_FAILED_LOGINS):
        with pytest.raises(AuthenticationError):
            authenticate(session, "capnhat.tu04", "wrong password!", now=now)
    with pytest.raises(AuthenticationError) as locked:
        authenticate(session, "capnhat.tu04", PASSWORD, now=now)
    assert unknown.value.message == wrong.value.message
    assert locked.value.message == wrong.value.message
    assert "capnhat" not in unknown.value.message
    assert "khong" not in unknown.value.message


def test_inactive_user_cannot_sign_in(session, user):
    user.is_active = False
    with pytest.raises(AuthenticationError) as caught:
        authenticate(session, "capnhat.tu04", PASSWORD)
    assert caught.value.message == service.sign_in_failed_message()


def test_ip_throttle_after_many_failures(session, user):
    now = utcnow()
    for number in range(MAX_FAILURES_PER_IP):
        with pytest.raises(AuthenticationError):
            authenticate(session, f"nobody{number}", "wrong password!", ip="192.0.2.7", now=now)
    with pytest.raises(ThrottledError):
        authenticate(session, "capnhat.tu04", PASSWORD, ip="192.0.2.7", now=now)
    assert authenticate(session, "capnhat.tu04", PASSWORD, ip="192.0.2.8", now=now) is user
    after_window = now + IP_FAILURE_WINDOW + timedelta(seconds=1)
    assert authenticate(session, "capnhat.tu04", PASSWORD, ip="192.0.2.7",
                        now=after_window) is user


def test_ip_failures_store_no_username(session):
    with pytest.raises(AuthenticationError):
        authenticate(session, "typed-a-secret-here", "wrong password!", ip="192.0.2.9")
    failures = session.scalars(select(LoginFailure)).all()
    assert [(failure.ip) for failure in failures] == ["192.0.2.9"]


# Web sessions ----------------------------------------------------------------------


def test_session_stores_only_hash(session, user):
    web_session, secret = start_session(session, user, ip="127.0.0.1", user_agent="pytest")
    assert web_session.id != secret
    assert len(web_session.id) == 64
    assert load_session(session, secret) is web_session
    assert load_session(session, web_session.id) is None


def test_session_idle_timeout(session, user):
    now = utcnow()
    web_session, secret = start_session(session, user, now=now)
    idle_end = now + SESSION_IDLE_TIMEOUT
    assert load_session(session, secret, now=idle_end - timedelta(seconds=1)) is web_session
    assert web_session.last_seen_at == idle_end - timedelta(seconds=1)
    assert load_session(session, secret, now=idle_end + SESSION_IDLE_TIMEOUT) is None
    assert session.get(WebSession, web_session.id) is None


def test_session_absolute_lifetime(session, user):
    now = utcnow()
    web_session, secret = start_session(session, user, now=now)
    moment = now
    # Activity every 30 minutes keeps the session alive, but only until its absolute end.
    while moment + timedelta(minutes=30) < now + SESSION_MAX_LIFETIME:
        moment += timedelta(minutes=30)
        assert load_session(session, secret, now=moment) is web_session
    assert load_session(session, secret, now=now + SESSION_MAX_LIFETIME) is None


def test_session_of_deactivated_user_ends(session, user):
    web_session, secret = start_session(session, user)
    user.is_active = False
    assert load_session(session, secret) is None


def test_end_session_deletes_it(session, user):
    web_session, secret = start_session(session, user)
    end_session(session, web_session)
    assert load_session(session, secret) is None


def test_set_password_ends_sessions(session, user):
    _web_session, secret = start_session(session, user)
    service.set_password(session, user, "một mật khẩu mới hơn")
    assert load_session(session, secret) is None
    assert authenticate(session, "capnhat.tu04", "một mật khẩu mới hơn") is user


# API tokens ------------------------------------------------------------------------


def test_api_token_round_trip(session, user):
    token, text = create_api_token(session, user, "Báo cáo tự động")
    assert text.startswith(service.API_TOKEN_MARKER)
    assert token.prefix == text[:service.API_TOKEN_PREFIX_LENGTH]
    assert text not in token.token_hash
    assert authenticate_token(session, text) is token
    assert token.last_used_at is not None


def test_api_token_revoked_rejected(session, user):
    token, text = create_api_token(session, user, "cron")
    revoke_api_token(session, token)
    with pytest.raises(AuthenticationError, match="revoked"):
        authenticate_token(session, text)


def test_api_token_expired_rejected(session, user):
    now = utcnow()
    token, text = create_api_token(session, user, "cron", expires_at=now + timedelta(days=1),
                                   now=now)
    assert authenticate_token(session, text, now=now) is token
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate_token(session, text, now=now + timedelta(days=1))


@pytest.mark.parametrize("text", ["", "tdk_", "Bearer", "tdk_not-base64!!", "x" * 47,
                                  "tdk_" + "A" * 42])
def test_api_token_malformed_rejected(session, user, text):
    with pytest.raises(AuthenticationError, match="invalid"):
        authenticate_token(session, text)


def test_api_token_rejects_past_expiry(session, user):
    with pytest.raises(ValidationError):
        create_api_token(session, user, "old", expires_at=utcnow() - timedelta(seconds=1))


# Roles and scope -------------------------------------------------------------------


def test_role_at_root_covers_province(session, user):
    grant_role(session, user, "inspector", unit(session, "BCHTW"))
    assert has_role(user, "inspector", unit(session, "TU04").id)
    assert has_role(user, "inspector", unit(session, "BCHTW").id)
    assert not has_role(user, "updater", unit(session, "TU04").id)


def test_role_at_province_not_sibling(session, user):
    grant_role(session, user, "updater", unit(session, "TU04"))
    assert has_role(user, "updater", unit(session, "TU04").id)
    assert not has_role(user, "updater", unit(session, "TU01").id)
    assert not has_role(user, "updater", unit(session, "BCHTW").id)
    assert user_scope(session, user, "updater") == {unit(session, "TU04").id}


def test_scope_reaches_grandchildren(session, user):
    province = unit(session, "TU04")
    district = create_org_unit(session, code="TU04-X1", name="Đảng ủy xã thử nghiệm",
                               kind="commune_party_committee", parent=province)
    session.flush()
    grant_role(session, user, "approver", province)
    assert user_scope(session, user, "approver") == {province.id, district.id}
    assert district.id in subtree_ids(session, [unit(session, "BCHTW").id])


def test_scope_unions_several_grants(session, user):
    grant_role(session, user, "updater", unit(session, "TU04"))
    grant_role(session, user, "updater", unit(session, "TU01"))
    assert user_scope(session, user, "updater") == {unit(session, "TU04").id,
                                                    unit(session, "TU01").id}
    assert user_scope(session, user, "approver") == set()


def test_subtree_of_root_is_whole_tree(session):
    from node.local_tasks.models import OrgUnit

    total = session.scalar(select(func.count()).select_from(OrgUnit))
    assert len(subtree_ids(session, [unit(session, "BCHTW").id])) == total
    assert subtree_ids(session, []) == set()


def test_has_role_anywhere(session, user):
    grant_role(session, user, "leader", unit(session, "VPTW"))
    assert has_role(user, "leader")
    assert not has_role(user, "administrator")


def test_grant_is_idempotent(session, user):
    first = grant_role(session, user, "updater", unit(session, "TU04"))
    second = grant_role(session, user, "updater", unit(session, "TU04"))
    assert first is second
    assert session.scalar(select(func.count()).select_from(RoleGrant)) == 1


def test_grant_rejects_unknown_role(session, user):
    with pytest.raises(ValidationError):
        grant_role(session, user, "superuser", unit(session, "TU04"))


def test_revoke_role(session, user):
    grant_role(session, user, "updater", unit(session, "TU04"))
    revoke_role(session, user, "updater", unit(session, "TU04"))
    assert not has_role(user, "updater", unit(session, "TU04").id)
    assert service.roles_of(user) == set()
    assert session.scalar(select(func.count()).select_from(RoleGrant)) == 0
    with pytest.raises(NotFoundError):
        revoke_role(session, user, "updater", unit(session, "TU04"))


def test_unknown_org_unit_code(session):
    with pytest.raises(NotFoundError):
        org_unit_by_code(session, "TU99")


# Audit -----------------------------------------------------------------------------


def test_writes_are_audited_without_secrets(session, user):
    audit_models = pytest.importorskip("node.audit.models")
    grant_role(session, user, "updater", unit(session, "TU04"))
    _token, text = create_api_token(session, user, "cron")
    _web_session, secret = start_session(session, user)
    entry = audit_models.AuditEntry
    entries = session.scalars(select(entry).where(entry.object_type.in_(["user", "api_token"]))
                              .order_by(entry.sequence)).all()
    actions = [entry.action for entry in entries]
    assert actions == ["user.create", "role.grant", "api_token.create", "session.start"]
    stored = repr([(entry.before, entry.after) for entry in entries])
    for secret_text in (PASSWORD, user.password_hash, text, secret):
        assert secret_text not in stored


# Demo accounts ---------------------------------------------------------------------


def test_demo_accounts_one_per_role(session):
    accounts = create_demo_accounts(session, {"quantri": "quản trị demo 2026"})
    assert [row[0] for row in accounts] == [row[0] for row in DEMO_ACCOUNTS]
    assert {row[2] for row in accounts} == set(service.ROLES)
    assert accounts[0][1] == "quản trị demo 2026"
    for username, password, role, code in accounts:
        signed_in = authenticate(session, username, password)
        assert has_role(signed_in, role, unit(session, code).id)
    inspector = service.get_user(session, "kiemtra")
    assert has_role(inspector, "inspector", unit(session, "TU04").id)


def test_demo_accounts_rerun_resets_passwords(session):
    create_demo_accounts(session)
    again = create_demo_accounts(session)
    for username, password, _role, _code in again:
        assert authenticate(session, username, password).username == username
    assert session.scalar(select(func.count()).select_from(RoleGrant)) == len(DEMO_ACCOUNTS)


# CLI -------------------------------------------------------------------------------


@pytest.fixture
def run(node_config, monkeypatch):
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str, input: str | None = None):  # noqa: A002 - click's parameter name
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_cli_creates_user_and_grants_role(run, node_config):
    assert run("init").exit_code == 0
    created = run("user", "create", "CapNhat.TU04", "--full-name", "Nguyễn Văn An",
                  "--password-stdin", input=PASSWORD + "\n")
    assert created.exit_code == 0, created.output
    assert "Created user capnhat.tu04" in created.output
    granted = run("user", "grant", "capnhat.tu04", "updater", "tu04")
    assert granted.exit_code == 0, granted.output
    listed = run("user", "list")
    assert "capnhat.tu04\tNguyễn Văn An\tactive\tupdater@TU04" in listed.output

    settings = load_settings(node_config)
    engine = make_engine(settings.effective_database_url)
    try:
        with unit_of_work(make_session_factory(engine)) as session:
            stored = authenticate(session, "capnhat.tu04", PASSWORD)
            assert has_role(stored, "updater", org_unit_by_code(session, "TU04").id)
            assert not has_role(stored, "updater", org_unit_by_code(session, "TU01").id)
    finally:
        engine.dispose()


def test_cli_revokes_role(run):
    run("init")
    run("user", "create", "vanphong", "--full-name", "Văn phòng", "--password-stdin",
        input=PASSWORD + "\n")
    run("user", "grant", "vanphong", "central_officer", "VPTW")
    revoked = run("user", "revoke", "vanphong", "central_officer", "VPTW")
    assert revoked.exit_code == 0, revoked.output
    listed = run("user", "list")
    assert "vanphong\tVăn phòng\tactive\t\n" in listed.output


def test_cli_rejects_short_password(run):
    run("init")
    result = run("user", "create", "ngan", "--full-name", "Ngắn", "--password-stdin",
                 input="short\n")
    assert result.exit_code == 2
    assert "at least 10 characters" in result.output
    assert "ngan" not in run("user", "list").output


def test_cli_rejects_unknown_org_unit(run):
    run("init")
    run("user", "create", "vanphong", "--full-name", "Văn phòng", "--password-stdin",
        input=PASSWORD + "\n")
    result = run("user", "grant", "vanphong", "updater", "TU99")
    assert result.exit_code == 2
    assert "TU99" in result.output


def test_cli_rejects_duplicate_user(run):
    run("init")
    run("user", "create", "vanphong", "--full-name", "Văn phòng", "--password-stdin",
        input=PASSWORD + "\n")
    again = run("user", "create", "VANPHONG", "--full-name", "Khác", "--password-stdin",
                input=PASSWORD + "\n")
    assert again.exit_code == 2
    assert "already taken" in again.output
