"""The `theodoi dashboard` commands: rebuild the counters and check them against a recount."""

from __future__ import annotations

import sys

import click

# Importing the counters registers their upkeep on every session of the command line.
from node.dashboard import counters
from node.core.cli_support import open_session

# Differences listed in full before the rest are summed up.
SHOWN_DIFFERENCES = 20


@click.group()
def dashboard() -> None:
    """The live dashboard's counters."""


@dashboard.command()
@click.option("--check", is_flag=True,
              help="Recount every task and compare with the stored counters and member totals "
                   "without changing them; exit with status 1 when they differ.")
def recount(check: bool) -> None:
    """Rebuild the dashboard counters and member totals from a full recount of the tasks."""
    if not check:
        with open_session() as session:
            totals = counters.rebuild(session)
        click.echo(f"Dashboard counters rebuilt: {len(totals)} counter rows, "
                   f"{sum(n for key, n in totals.items() if key[0] == 'all')} tasks.")
        return
    with open_session() as session:
        try:
            differences = counters.check_against_recount(session)
        except RuntimeError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
    if not differences:
        click.echo("Dashboard counters and member totals equal a full recount.")
        return
    if differences.counters:
        click.echo(f"{len(differences.counters)} dashboard counters differ from a full recount "
                   "(dimension, member, counted level: stored, recounted):")
        for (dimension, member, level), stored, recounted in \
                differences.counters[:SHOWN_DIFFERENCES]:
            click.echo(f"  {dimension} {member or '-'} {level}: {stored}, {recounted}")
        _echo_rest(len(differences.counters))
    if differences.member_totals:
        click.echo(f"{len(differences.member_totals)} dashboard member totals differ from a full "
                   "recount (dimension, member: stored, recounted):")
        for (dimension, member), stored, recounted in \
                differences.member_totals[:SHOWN_DIFFERENCES]:
            click.echo(f"  {dimension} {member or '-'}: {stored}, {recounted}")
        _echo_rest(len(differences.member_totals))
    click.echo("Run `theodoi dashboard recount` to rebuild them.")
    sys.exit(1)


def _echo_rest(count: int) -> None:
    if count > SHOWN_DIFFERENCES:
        click.echo(f"  ... and {count - SHOWN_DIFFERENCES} more")
