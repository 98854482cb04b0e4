"""`theodoi org-unit`: add the org unit of a sub-unit node, list org units.

Invalid input exits with status 2, after one error line per invalid field on
stderr, and writes nothing.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from node.core.cli_support import open_session
from node.core.errors import DomainError

CLI_ACTOR = "cli"


def _fail(error: DomainError) -> NoReturn:
    click.echo(f"Error: {error.message}", err=True)
    for problem in error.problems:
        click.echo(f"  {problem.path} = {problem.value!r}: {problem.message}", err=True)
    sys.exit(2)


@click.group("org-unit")
def org_unit() -> None:
    """Org units: add the unit of a sub-unit node, list units."""


@org_unit.command("add")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", required=True,
              help="Code of the unit directly above the new one, such as TU01.")
@click.option("--kind", default=None,
              help="Kind of unit [default: commune_party_committee]; `org-unit list` shows the "
                   "kinds in use.")
def org_unit_add(code: str, name: str, parent_code: str, kind: str | None) -> None:
    """Add org unit CODE called NAME under the unit PARENT_CODE.

    Add the unit of a sub-unit node with the same code at the sub-unit node and
    at its province before the sub-unit joins.
    """
    from node.local_tasks.org_units import DEFAULT_KIND, add_org_unit

    try:
        with open_session() as session:
            unit = add_org_unit(session, code=code, name=name, parent_code=parent_code,
                                kind=kind or DEFAULT_KIND, actor=CLI_ACTOR)
            summary = f"Added org unit {unit.code} ({unit.name}) under {unit.parent.code}."
    except DomainError as error:
        _fail(error)
    click.echo(summary)


@org_unit.command("list")
@click.option("--parent", "parent_code", default=None,
              help="List only the units directly under the unit with this code.")
def org_unit_list(parent_code: str | None) -> None:
    """List org units by code: code, parent code, kind and name, tab-separated."""
    from node.local_tasks.org_units import list_org_units

    try:
        with open_session() as session:
            rows = [(unit.code, unit.parent.code if unit.parent else "-", unit.kind, unit.name)
                    for unit in list_org_units(session, parent_code)]
    except DomainError as error:
        _fail(error)
    for row in rows:
        click.echo("\t".join(row))
