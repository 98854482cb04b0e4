"""Accounts for tests that call protected endpoints."""

from __future__ import annotations

from sqlalchemy.orm import Session

from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code

OFFICER_PASSWORD = "mat-khau-van-phong-2026"


def officer_token(session: Session, username: str = "vanphong.test") -> str:
    """Create a central-office officer at VPTW and return a bearer token of theirs."""
    user = create_user(session, username=username, full_name="Cán bộ Văn phòng (kiểm thử)",
                       password=OFFICER_PASSWORD)
    grant_role(session, user, "central_officer", org_unit_by_code(session, "VPTW"))
    _, token = create_api_token(session, user, "tests")
    session.flush()
    return token
