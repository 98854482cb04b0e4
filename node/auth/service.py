"""Account services: users, scoped roles, sign-in with throttling, web sessions and API tokens.

The functions change the session but never commit: the caller's unit of work
does. Each change appends an audit entry when the audit module is installed;
passwords, session ids and tokens never enter the audit log or the logs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, object_session

from node.auth.models import (
    ROLES,
    USERNAME_MAX_LENGTH,
    ApiToken,
    LoginFailure,
    RoleGrant,
    User,
    WebSession,
)
from node.auth.passwords import (
    hash_password,
    password_problems,
    spend_verification_time,
    verify_password,
)
from node.auth.scope import subtree_ids
from node.core.db import utcnow
from node.core.errors import ConflictError, DomainError, NotFoundError, ProblemCollector
from node.core.i18n import _
from node.core.text import clean, nfc
from node.local_tasks.errors import OrgUnitNotFoundError
from node.local_tasks.models import OrgUnit

logger = logging.getLogger(__name__)

# Account lockout: this many consecutive failures lock the account for LOCKOUT_DURATION.
MAX_FAILED_LOGINS = 5
LOCKOUT_DURATION = timedelta(minutes=15)
# Per-address throttle: this many failures from one IP within the window block
# every sign-in from it until the oldest failure leaves the window.
MAX_FAILURES_PER_IP = 20
IP_FAILURE_WINDOW = timedelta(minutes=15)

# A web session ends after this long without a request, and at the latest
# SESSION_MAX_LIFETIME after sign-in.
SESSION_IDLE_TIMEOUT = timedelta(minutes=60)
SESSION_MAX_LIFETIME = timedelta(hours=12)
# last_seen_at / last_used_at are written at most this often, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)

API_TOKEN_MARKER = "tdk_"
API_TOKEN_SECRET_BYTES = 32
API_TOKEN_PREFIX_LENGTH = 12

USERNAME_MIN_LENGTH = 3
# Letters of any script (Vietnamese included), digits, ".", "_" and "-".
_USERNAME_PATTERN = re.compile(r"^[\w.-]+$")
_EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AuthenticationError(DomainError):
    """Sign-in or token authentication failed."""

    status = 401
    title = "Authentication failed"


class ThrottledError(DomainError):
    """Too many failed sign-ins came from one address."""

    status = 429
    title = "Too many requests"


class UserNotFoundError(NotFoundError):
    """No user has the given username or id."""


def sign_in_failed_message() -> str:
    """Return the one message of every failed sign-in, so it never reveals whether a user exists."""
    return _("Sign-in failed. Check the username and password. After %(count)d failed "
             "attempts an account is locked for %(minutes)d minutes.",
             count=MAX_FAILED_LOGINS, minutes=int(LOCKOUT_DURATION.total_seconds() // 60))


# Audit ---------------------------------------------------------------------------


def _audit(session: Session, *, actor: str | None, action: str, object_type: str,
           object_id: object, before: dict | None = None, after: dict | None = None) -> None:
    """Append an audit entry when the audit module is installed, and do nothing otherwise.

    `actor` is the username or tool that made the change, None for the node itself.
    """
    try:
        from node.audit import service as audit_service
    except ModuleNotFoundError as exc:
        if exc.name in ("node.audit", "node.audit.service"):
            return
        raise
    audit_service.record(session, actor=actor, action=action, object_type=object_type,
                         object_id=object_id, before=before, after=after)


# Users ---------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    """Return the stored form of a username: NFC, trimmed and case-folded."""
    return nfc(nfc(username).strip().casefold())


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == normalize_username(username)))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise UserNotFoundError(_("No user with username %(username)s.", username=username))
    return user


def _user_summary(user: User) -> dict:
    return {"username": user.username, "full_name": user.full_name, "email": user.email,
            "is_active": user.is_active}


def create_user(session: Session, *, username: str, full_name: str, password: str,
                email: str | None = None, actor: str | None = None) -> User:
    """Create an active user, reporting every invalid field at once."""
    key = normalize_username(username)
    full_name = clean(full_name)
    email = clean(email) or None
    problems = ProblemCollector()
    if not USERNAME_MIN_LENGTH <= len(key) <= USERNAME_MAX_LENGTH:
        problems.add("username", _("The username must have %(min)d to %(max)d characters.",
                                   min=USERNAME_MIN_LENGTH, max=USERNAME_MAX_LENGTH), username)
    elif not _USERNAME_PATTERN.match(key):
        problems.add("username", _("The username may contain only letters, digits, dots, "
                                   "underscores and hyphens."), username)
    if not full_name:
        problems.add("full_name", _("The full name is missing."))
    elif len(full_name) > 200:
        problems.add("full_name", _("The full name must have at most 200 characters."))
    if email is not None and (len(email) > 254 or not _EMAIL_PATTERN.match(email)):
        problems.add("email", _("The email address is invalid."), email)
    for message in password_problems(password, key):
        problems.add("password", message)
    problems.raise_if_any(_("The account data is invalid."))
    if find_user(session, key) is not None:
        raise ConflictError(_("The username %(username)s is already taken.", username=key))

    user = User(username=key, full_name=full_name, email=email,
                password_hash=hash_password(password), is_active=True, failed_logins=0)
    session.add(user)
    session.flush()
    _audit(session, actor=actor, action="user.create", object_type="user", object_id=user.id,
           after=_user_summary(user))
    logger.info("user created", extra={"user_id": user.id, "actor": actor})
    return user


def set_password(session: Session, user: User, password: str, *,
                 actor: str | None = None) -> None:
    """Replace the password of `user`, clear any lock and end every session of the user."""
    problems = ProblemCollector()
    for message in password_problems(password, user.username):
        problems.add("password", message)
    problems.raise_if_any(_("The password is invalid."))
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    end_user_sessions(session, user)
    _audit(session, actor=actor, action="user.set_password", object_type="user",
           object_id=user.id)
    logger.info("password changed", extra={"user_id": user.id, "actor": actor})


# Roles ---------------------------------------------------------------------------


def org_unit_by_code(session: Session, code: str) -> OrgUnit:
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == clean(code).upper()))
    if unit is None:
        raise OrgUnitNotFoundError(_("No org unit with code %(code)s.", code=code))
    return unit


def _check_role(role: str) -> None:
    if role not in ROLES:
        problems = ProblemCollector()
        problems.add("role", _("Unknown role %(role)s; use one of: %(roles)s.",
                               role=role, roles=", ".join(ROLES)), role)
        problems.raise_if_any(_("The role is invalid."))


def grant_role(session: Session, user: User, role: str, org_unit: OrgUnit, *,
               actor: str | None = None) -> RoleGrant:
    """Grant `role` over `org_unit` and its subtree, or return the existing grant unchanged."""
    _check_role(role)
    grant = session.scalar(select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role,
        RoleGrant.org_unit_id == org_unit.id))
    if grant is not None:
        return grant
    grant = RoleGrant(user=user, role=role, org_unit_id=org_unit.id)
    session.add(grant)
    session.flush()
    _audit(session, actor=actor, action="role.grant", object_type="user", object_id=user.id,
           after={"role": role, "org_unit": org_unit.code})
    logger.info("role granted", extra={"user_id": user.id, "role": role,
                                       "org_unit": org_unit.code, "actor": actor})
    return grant


def revoke_role(session: Session, user: User, role: str, org_unit: OrgUnit, *,
                actor: str | None = None) -> None:
    """Remove the grant of `role` over `org_unit`, raising NotFoundError when there is none."""
    _check_role(role)
    grant = session.scalar(select(RoleGrant).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role,
        RoleGrant.org_unit_id == org_unit.id))
    if grant is None:
        raise NotFoundError(_("User %(username)s has no role %(role)s over %(code)s.",
                              username=user.username, role=role, code=org_unit.code))
    # Removing it from the collection keeps `user.role_grants` current, and the
    # delete-orphan cascade deletes the row.
    user.role_grants.remove(grant)
    session.flush()
    _audit(session, actor=actor, action="role.revoke", object_type="user", object_id=user.id,
           before={"role": role, "org_unit": org_unit.code})
    logger.info("role revoked", extra={"user_id": user.id, "role": role,
                                       "org_unit": org_unit.code, "actor": actor})


def user_scope(session: Session, user: User, role: str) -> set[int]:
    """Return the ids of the org units where `user` has `role`: granted units and their subtrees.

    Every call runs one recursive query, so a view should call it once per request.
    """
    granted = session.scalars(select(RoleGrant.org_unit_id).where(
        RoleGrant.user_id == user.id, RoleGrant.role == role))
    return subtree_ids(session, granted)


def has_role(user: User, role: str, org_unit_id: int | None = None, *,
             session: Session | None = None) -> bool:
    """Return whether `user` has `role` over `org_unit_id`, or over any unit when it is None.

    A grant over a unit covers its whole subtree. `session` defaults to the
    user's own session.
    """
    if org_unit_id is None:
        return any(grant.role == role for grant in user.role_grants)
    session = session or object_session(user)
    if session is None:
        raise ValueError("has_role needs a session: the user is detached")
    return org_unit_id in user_scope(session, user, role)


def roles_of(user: User) -> set[str]:
    """Return the roles `user` has over any unit."""
    return {grant.role for grant in user.role_grants}


# Sign-in ---------------------------------------------------------------------------


def ip_is_throttled(session: Session, ip: str, now: datetime | None = None) -> bool:
    """Return whether `ip` has reached MAX_FAILURES_PER_IP failures within the window."""
    now = now or utcnow()
    failures = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.ip == ip, LoginFailure.failed_at > now - IP_FAILURE_WINDOW)) or 0
    return failures >= MAX_FAILURES_PER_IP


def _record_ip_failure(session: Session, ip: str | None, now: datetime) -> None:
    if not ip:
        return
    # Rows older than the window are no longer counted, so they are removed to keep the table small.
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= now - IP_FAILURE_WINDOW))
    session.add(LoginFailure(ip=ip, failed_at=now))
    session.flush()


def _count_account_failure(session: Session, user: User, now: datetime) -> None:
    # Incremented in SQL so that concurrent failures are all counted.
    user.failed_logins = User.failed_logins + 1
    session.flush()
    session.refresh(user, ["failed_logins"])
    if user.failed_logins < MAX_FAILED_LOGINS:
        return
    user.failed_logins = 0
    user.locked_until = now + LOCKOUT_DURATION
    session.flush()
    _audit(session, actor=None, action="user.lock", object_type="user", object_id=user.id,
           after={"locked_until": user.locked_until.isoformat()})
    logger.warning("account locked after failed sign-ins",
                   extra={"user_id": user.id, "locked_until": user.locked_until.isoformat()})


def authenticate(session: Session, username: str, password: str, *, ip: str | None = None,
                 now: datetime | None = None) -> User:
    """Return the active user whose username and password match, or raise.

    Raises ThrottledError when `ip` has failed too often, and otherwise
    AuthenticationError with the same message whether the username is unknown,
    the password is wrong, or the account is locked or deactivated. A failure
    is recorded and must be committed even though this raises.
    """
    now = now or utcnow()
    if ip and ip_is_throttled(session, ip, now):
        logger.warning("sign-in rejected: address throttled", extra={"ip": ip})
        raise ThrottledError(_("Too many failed sign-ins came from this address. Try again in "
                               "%(minutes)d minutes.",
                               minutes=int(IP_FAILURE_WINDOW.total_seconds() // 60)))

    user = find_user(session, username)
    if user is None:
        spend_verification_time(password)
        _record_ip_failure(session, ip, now)
        logger.info("sign-in failed: unknown username", extra={"ip": ip})
        raise AuthenticationError(sign_in_failed_message())

    # The password is checked even for a locked account, so the timing is the same.
    password_matches = verify_password(user.password_hash, password)
    locked = user.locked_until is not None and user.locked_until > now
    if password_matches and not locked and user.is_active:
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = now
        session.flush()
        return user

    if not password_matches and not locked:
        _count_account_failure(session, user, now)
    _record_ip_failure(session, ip, now)
    if locked:
        reason = "locked"
    elif not user.is_active:
        reason = "inactive"
    else:
        reason = "wrong password"
    logger.info("sign-in failed", extra={"user_id": user.id, "ip": ip, "reason": reason})
    raise AuthenticationError(sign_in_failed_message())


# Web sessions -----------------------------------------------------------------------


def _sha256_hex(value: str | bytes) -> str:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def start_session(session: Session, user: User, *, ip: str | None = None,
                  user_agent: str | None = None,
                  now: datetime | None = None) -> tuple[WebSession, str]:
    """Open a web session for `user` and return it with the secret to put in the cookie.

    Only the SHA-256 of the secret is stored, so a copy of the database
    cannot be used to take over a session.
    """
    now = now or utcnow()
    delete_expired_sessions(session, now)
    secret = secrets.token_urlsafe(32)
    web_session = WebSession(
        id=_sha256_hex(secret), user=user, created_at=now, last_seen_at=now,
        expires_at=now + SESSION_MAX_LIFETIME, csrf_token=secrets.token_urlsafe(32),
        ip=ip, user_agent=(user_agent or "")[:300] or None,
    )
    session.add(web_session)
    session.flush()
    _audit(session, actor=user.username, action="session.start", object_type="user",
           object_id=user.id, after={"ip": ip})
    logger.info("signed in", extra={"user_id": user.id, "ip": ip})
    return web_session, secret


def load_session(session: Session, secret: str | None, *,
                 now: datetime | None = None) -> WebSession | None:
    """Return the live web session whose cookie secret is `secret`, or None.

    A session past its absolute end or idle for SESSION_IDLE_TIMEOUT, or whose
    user was deactivated, is deleted and None is returned.
    """
    if not secret:
        return None
    now = now or utcnow()
    web_session = session.get(WebSession, _sha256_hex(secret))
    if web_session is None:
        return None
    idle = now - web_session.last_seen_at >= SESSION_IDLE_TIMEOUT
    expired = now >= web_session.expires_at or idle
    if expired or not web_session.user.is_active:
        session.delete(web_session)
        session.flush()
        return None
    if now - web_session.last_seen_at >= TOUCH_INTERVAL:
        web_session.last_seen_at = now
    return web_session


def end_session(session: Session, web_session: WebSession) -> None:
    """Delete `web_session` (sign-out)."""
    user = web_session.user
    session.delete(web_session)
    session.flush()
    _audit(session, actor=user.username, action="session.end", object_type="user",
           object_id=user.id)
    logger.info("signed out", extra={"user_id": user.id})


def delete_expired_sessions(session: Session, now: datetime | None = None) -> int:
    """Delete the web sessions past their absolute end or idle timeout and return how many."""
    now = now or utcnow()
    result = session.execute(delete(WebSession).where(or_(
        WebSession.expires_at <= now, WebSession.last_seen_at <= now - SESSION_IDLE_TIMEOUT)))
    return result.rowcount or 0


def end_user_sessions(session: Session, user: User) -> int:
    """Delete every web session of `user` and return how many there were."""
    result = session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    return result.rowcount or 0


# API tokens --------------------------------------------------------------------------


def _encode_secret(secret: bytes) -> str:
    return API_TOKEN_MARKER + base64.urlsafe_b64encode(secret).decode("ascii").rstrip("=")


def _decode_token(token: str) -> bytes | None:
    """Return the secret bytes of a token string, or None when it is malformed."""
    if not token.startswith(API_TOKEN_MARKER):
        return None
    encoded = token.removeprefix(API_TOKEN_MARKER)
    try:
        secret = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_",
                                  validate=True)
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling is accepted, so one secret has exactly one token string.
    if len(secret) != API_TOKEN_SECRET_BYTES or _encode_secret(secret) != token:
        return None
    return secret


def create_api_token(session: Session, user: User, name: str, *,
                     expires_at: datetime | None = None, actor: str | None = None,
                     now: datetime | None = None) -> tuple[ApiToken, str]:
    """Create an API token for `user` and return it with the token string, shown only this once."""
    now = now or utcnow()
    name = clean(name)
    problems = ProblemCollector()
    if not name:
        problems.add("name", _("The token name is missing."))
    elif len(name) > 100:
        problems.add("name", _("The token name must have at most 100 characters."), name)
    if expires_at is not None and expires_at <= now:
        problems.add("expires_at", _("The expiry must be in the future."), expires_at.isoformat())
    problems.raise_if_any(_("The API token data is invalid."))

    secret = secrets.token_bytes(API_TOKEN_SECRET_BYTES)
    token_text = _encode_secret(secret)
    token = ApiToken(user=user, name=name, token_hash=_sha256_hex(secret),
                     prefix=token_text[:API_TOKEN_PREFIX_LENGTH], created_at=now,
                     expires_at=expires_at)
    session.add(token)
    session.flush()
    _audit(session, actor=actor or user.username, action="api_token.create",
           object_type="api_token", object_id=token.id,
           after={"user": user.username, "name": name, "prefix": token.prefix,
                  "expires_at": expires_at.isoformat() if expires_at else None})
    logger.info("API token created", extra={"user_id": user.id, "token_id": token.id})
    return token, token_text


def revoke_api_token(session: Session, token: ApiToken, *, actor: str | None = None,
                     now: datetime | None = None) -> None:
    """Revoke `token` from now on. Revoking it again changes nothing."""
    if token.revoked_at is not None:
        return
    token.revoked_at = now or utcnow()
    session.flush()
    _audit(session, actor=actor or token.user.username, action="api_token.revoke",
           object_type="api_token", object_id=token.id,
           after={"user": token.user.username, "prefix": token.prefix})
    logger.info("API token revoked", extra={"user_id": token.user_id, "token_id": token.id})


def authenticate_token(session: Session, token_text: str, *,
                       now: datetime | None = None) -> ApiToken:
    """Return the live API token `token_text` names, or raise AuthenticationError."""
    now = now or utcnow()
    secret = _decode_token(token_text.strip())
    token = None
    if secret is not None:
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256_hex(secret)))
    if token is None:
        raise AuthenticationError(_("The API token is invalid."))
    if token.revoked_at is not None:
        raise AuthenticationError(_("The API token was revoked; create a new one."))
    if token.expires_at is not None and token.expires_at <= now:
        raise AuthenticationError(_("The API token has expired; create a new one."))
    if not token.user.is_active:
        raise AuthenticationError(_("The account of this API token is deactivated."))
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL:
        token.last_used_at = now
    return token


def user_api_tokens(session: Session, user: User) -> list[ApiToken]:
    """Return the API tokens of `user`, newest first, revoked ones included."""
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))
