"""`theodoi user`: create accounts, grant and revoke scoped roles, list accounts."""

from __future__ import annotations

import sys

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from node.auth.models import ROLES, RoleGrant, User
from node.core.cli_support import open_session
from node.core.db import utcnow
from node.core.errors import DomainError
from node.core.settings import SettingsError

CLI_ACTOR = "cli"


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _describe(error: DomainError | SettingsError) -> str:
    if isinstance(error, SettingsError):
        return str(error)
    if not error.problems:
        return error.message
    details = "; ".join(f"{problem.path}: {problem.message}" for problem in error.problems)
    return f"{error.message} {details}"


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # The first line only, without its line break, so `echo ... |` works.
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@click.group("user")
def user() -> None:
    """User accounts: create them, grant and revoke roles, list them."""


@user.command("create")
@click.argument("username")
@click.option("--full-name", required=True, help="The person's full name, as pages show it.")
@click.option("--email", help="Email address (optional).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input instead of prompting.")
def user_create(username: str, full_name: str, email: str | None, password_stdin: bool) -> None:
    """Create the account USERNAME (stored NFC and case-folded)."""
    from node.auth.service import create_user

    password = _read_password(password_stdin)
    try:
        with open_session() as session:
            account = create_user(session, username=username, full_name=full_name,
                                  password=password, email=email, actor=CLI_ACTOR)
            stored_name = account.username
    except (DomainError, SettingsError) as exc:
        _fail(_describe(exc))
    click.echo(f"Created user {stored_name}")


@user.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input instead of prompting.")
def user_password(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME, unlock it and end its web sessions."""
    from node.auth.service import get_user, set_password

    password = _read_password(password_stdin)
    try:
        with open_session() as session:
            set_password(session, get_user(session, username), password, actor=CLI_ACTOR)
    except (DomainError, SettingsError) as exc:
        _fail(_describe(exc))
    click.echo(f"Password of {username} changed")


def _change_grant(username: str, role: str, org_unit_code: str, *, grant: bool) -> None:
    from node.auth.service import get_user, grant_role, org_unit_by_code, revoke_role

    change = grant_role if grant else revoke_role
    try:
        with open_session() as session:
            change(session, get_user(session, username), role,
                   org_unit_by_code(session, org_unit_code), actor=CLI_ACTOR)
    except (DomainError, SettingsError) as exc:
        _fail(_describe(exc))


@user.command("grant")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.argument("org_unit_code")
def user_grant(username: str, role: str, org_unit_code: str) -> None:
    """Grant ROLE over the org unit ORG_UNIT_CODE and every unit under it."""
    _change_grant(username, role, org_unit_code, grant=True)
    click.echo(f"Granted {role} over {org_unit_code.upper()} to {username}")


@user.command("revoke")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.argument("org_unit_code")
def user_revoke(username: str, role: str, org_unit_code: str) -> None:
    """Revoke ROLE over ORG_UNIT_CODE from USERNAME."""
    _change_grant(username, role, org_unit_code, grant=False)
    click.echo(f"Revoked {role} over {org_unit_code.upper()} from {username}")


@user.command("list")
def user_list() -> None:
    """List every account: username, full name, state and roles (role@ORG_UNIT)."""
    try:
        with open_session() as session:
            users = session.scalars(
                select(User).options(selectinload(User.role_grants)
                                     .selectinload(RoleGrant.org_unit))
                .order_by(User.username)).all()
            now = utcnow()
            for account in users:
                if not account.is_active:
                    state = "inactive"
                elif account.locked_until is not None and account.locked_until > now:
                    state = "locked"
                else:
                    state = "active"
                roles = ",".join(f"{grant.role}@{grant.org_unit.code}"
                                 for grant in account.role_grants)
                click.echo(f"{account.username}\t{account.full_name}\t{state}\t{roles}")
    except SettingsError as exc:
        _fail(str(exc))
