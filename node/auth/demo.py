"""Demo accounts: one per role, for trying a demo node."""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from node.auth.service import (
    create_user,
    find_user,
    grant_role,
    org_unit_by_code,
    set_password,
)

DEMO_ACTOR = "demo"

# username, full name, role, org unit code of the grant.
DEMO_ACCOUNTS = (
    ("quantri", "Quản trị hệ thống", "administrator", "BCHTW"),
    ("vanphong", "Chuyên viên Văn phòng Trung ương Đảng", "central_officer", "VPTW"),
    ("capnhat.tu04", "Chuyên viên cập nhật, Tỉnh ủy Cao Bằng", "updater", "TU04"),
    ("pheduyet.tu04", "Lãnh đạo phê duyệt, Tỉnh ủy Cao Bằng", "approver", "TU04"),
    ("theodoi", "Chuyên viên theo dõi, Văn phòng Trung ương Đảng", "monitoring_officer", "VPTW"),
    # An officer of the Central Inspection Commission (UBKTTW) who reads the whole tree.
    ("kiemtra", "Cán bộ kiểm tra, Ủy ban Kiểm tra Trung ương", "inspector", "BCHTW"),
    ("lanhdao", "Lãnh đạo", "leader", "BCHTW"),
)


def generate_password() -> str:
    """Return a random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def create_demo_accounts(session: Session, passwords: dict[str, str] | None = None, *,
                         accounts: tuple[tuple[str, str, str, str], ...] = DEMO_ACCOUNTS,
                         ) -> list[tuple[str, str, str, str]]:
    """Create the demo `accounts` and return (username, password, role, org unit code) rows.

    `accounts` contains (username, full name, role, org unit code) rows; the
    default is one account per role for a central node.

    A password missing from `passwords` (keyed by username) is generated. An
    account that already exists gets the new password and keeps its other
    roles, so the returned passwords always work. The org units must be
    seeded (`theodoi init`).
    """
    passwords = passwords or {}
    created: list[tuple[str, str, str, str]] = []
    for username, full_name, role, org_unit_code in accounts:
        password = passwords.get(username) or generate_password()
        user = find_user(session, username)
        if user is None:
            user = create_user(session, username=username, full_name=full_name,
                               password=password, actor=DEMO_ACTOR)
        else:
            set_password(session, user, password, actor=DEMO_ACTOR)
        grant_role(session, user, role, org_unit_by_code(session, org_unit_code),
                   actor=DEMO_ACTOR)
        created.append((username, password, role, org_unit_code))
    return created
