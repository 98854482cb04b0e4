"""`theodoi audit`: check the audit log's hash chain and list its entries."""

from __future__ import annotations

import sys

import click

from node.core.cli_support import open_session


@click.group()
def audit() -> None:
    """Verify and list the tamper-evident audit log of every write to the node."""


@audit.command("verify")
def audit_verify() -> None:
    """Check the hash chain of the audit log and exit 1 at the first broken entry."""
    from node.audit.service import verify
    from node.core.cli_support import cli_settings
    from node.signatures.approvals import check_approvals
    from node.signatures.cli import print_approval_check

    settings = cli_settings()
    with open_session(settings) as session:
        result = verify(session)
        approvals = check_approvals(session, settings)
    if not result.ok:
        click.echo(f"Audit log broken at entry #{result.first_bad_sequence}: {result.reason}")
        sys.exit(1)
    noun = "entry" if result.checked == 1 else "entries"
    click.echo(f"Audit log intact: {result.checked} {noun}")
    if result.last_hash is not None:
        # Truncation at the end of the log only shows against a copy of this
        # hash kept outside the database.
        click.echo(f"Last entry hash: {result.last_hash}")
    # The node's signatures on approval decisions are kept with the log.
    print_approval_check(approvals)
    if not approvals.ok:
        sys.exit(1)


def _parse_object(_context: click.Context, _parameter: click.Parameter,
                  value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    object_type, _, object_id = value.partition(":")
    if not object_type or not object_id:
        raise click.BadParameter(f"invalid object {value!r}, expected TYPE:ID such as "
                                 "document:12")
    return object_type, object_id


@audit.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1),
              help="Maximum number of entries to print, newest first.")
@click.option("--object", "object_ref", metavar="TYPE:ID", callback=_parse_object,
              help="Print only the entries about this object, e.g. document:12.")
def audit_list(limit: int, object_ref: tuple[str, str] | None) -> None:
    """Print audit entries, newest first: sequence, instant, actor, action and object."""
    from node.audit.service import format_instant, list_entries

    object_type, object_id = object_ref or (None, None)
    with open_session() as session:
        entries = list_entries(session, limit=limit, object_type=object_type,
                               object_id=object_id)
    for entry in entries:
        actor = entry.actor if entry.actor is not None else "(system)"
        click.echo(f"#{entry.sequence}\t{format_instant(entry.at)}\t{actor}\t{entry.action}\t"
                   f"{entry.object_type}:{entry.object_id}")
