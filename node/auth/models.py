"""Models of accounts: users, role grants, web sessions, API tokens and failed sign-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.core.db import Base, UTCDateTime, utcnow
from node.local_tasks.models import OrgUnit

# Roles of Quy chế 08-QC/TW as this node uses them. A grant applies to its org
# unit and every unit below it.
#   administrator       manages accounts, reference data and the node's settings
#   central_officer     the office (văn phòng): classifies documents, assigns and
#                       transfers tasks, handles objections
#   updater, approver   an agency's officer who enters progress and the one who
#                       approves it before it is sent (Điều 15.3)
#   monitoring_officer  follows up tasks and their deadlines
#   inspector           reads everything in scope and never edits
#   leader              reads the dashboards
ROLES = (
    "administrator",
    "central_officer",
    "updater",
    "approver",
    "monitoring_officer",
    "inspector",
    "leader",
)

# Roles that grant no right to change anything.
READ_ONLY_ROLES = frozenset({"inspector", "leader"})

USERNAME_MAX_LENGTH = 60
# Long enough for an IPv6 address with a zone index.
IP_MAX_LENGTH = 64


class User(Base):
    """A person who signs in to the node. The username is stored NFC and case-folded."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX_LENGTH), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Consecutive failed sign-ins since the last success or lock.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    role_grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="RoleGrant.id"
    )


class RoleGrant(Base):
    """One role held by a user over an org unit and its subtree."""

    __tablename__ = "role_grants"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "org_unit_id"),
        CheckConstraint(f"role IN ({', '.join(repr(role) for role in ROLES)})", name="role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="role_grants")
    org_unit: Mapped[OrgUnit] = relationship()


class WebSession(Base):
    """A signed-in browser. Its `id` is the SHA-256 of the secret kept in the cookie."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The absolute end of the session. The idle timeout can end it earlier.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(IP_MAX_LENGTH))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A bearer token of a user. Only the SHA-256 of its secret is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, shown so that its owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class LoginFailure(Base):
    """A failed sign-in from one IP address, kept for the per-address throttle.

    The username typed is not stored: users sometimes type a password into it.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_ip_failed_at", "ip", "failed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ip: Mapped[str] = mapped_column(String(IP_MAX_LENGTH))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
