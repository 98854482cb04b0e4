"""Accounts of every role and documents led by two provinces, for the permission tests.

Agency roles are granted over TU04 (Tỉnh ủy Cao Bằng). TU01 (Thành ủy Hà
Nội) leads the tasks that TU04's officers must not see.
"""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from node.auth.service import create_api_token, create_user, grant_role, org_unit_by_code

PASSWORD = "mat-khau-kiem-thu-2026"

# Role -> the unit its grant covers. The administrator's grant is over the root.
ROLE_UNITS = {
    "administrator": "BCHTW",
    "central_officer": "VPTW",
    "leader": "TU04",
    "inspector": "TU04",
    "updater": "TU04",
    "approver": "TU04",
    "monitoring_officer": "TU04",
}
TU04 = "Tỉnh ủy Cao Bằng"
TU01 = "Thành ủy Hà Nội"


def username_for(role: str) -> str:
    return f"{role.replace('_', '.')}.test"


def create_account(session: Session, username: str, grants: list[tuple[str, str]]) -> str:
    """Create a user with `grants` (role, unit code) and return a bearer token of theirs."""
    user = create_user(session, username=username, full_name=f"Cán bộ {username}",
                       password=PASSWORD)
    for role, code in grants:
        grant_role(session, user, role, org_unit_by_code(session, code))
    _, token = create_api_token(session, user, "tests")
    session.flush()
    return token


def bearer_client(app: Flask, token: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def role_clients(app: Flask, session_factory: sessionmaker[Session]) -> dict[str, FlaskClient]:
    """Create one account per role and return a client signed in as each, by role."""
    with session_factory() as session:
        tokens = {role: create_account(session, username_for(role), [(role, code)])
                  for role, code in ROLE_UNITS.items()}
        session.commit()
    return {role: bearer_client(app, token) for role, token in tokens.items()}


def set_clock(app: Flask, instant: str) -> None:
    """Make the server's clock return `instant` (ISO 8601 with offset) from now on."""
    moment = datetime.fromisoformat(instant)
    app.config["THEODOI_CLOCK"] = lambda: moment


def task_body(task_no: str, content: str, lead: str, **extra: object) -> dict:
    return {"task_no": task_no, "content": content, "lead_agencies": [lead],
            "deadline_on": "2026-12-31", **extra}


def post_document(client: FlaskClient, reference: str, tasks: list[dict]) -> dict:
    """Store a regular document issued on 02/03/2026 through the API and return its JSON."""
    body = {"reference": reference, "kind": "plan", "summary": f"Kế hoạch {reference}",
            "issued_on": "2026-03-02", "tasks": tasks}
    response = client.post("/api/v1/documents", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def task_ids(document: dict) -> list[int]:
    return [task["id"] for task in document["tasks"]["items"]]
