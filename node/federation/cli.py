"""The `theodoi federation` commands: enrolment, joining, links and the exchange log."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import select

from node.core.cli_support import cli_settings, open_session
from node.core.errors import DomainError

LOG_FORMAT_VERSION = 1


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


def _instant(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else "-"


@click.group()
def federation() -> None:
    """Links with the parent and child nodes (exchange protocol)."""


@federation.command("enrol-token")
@click.argument("org_unit_code")
@click.option("--hours", default=24, show_default=True, type=int,
              help="Hours until the token expires.")
def enrol_token(org_unit_code: str, hours: int) -> None:
    """Print a one-time token that lets the child node of ORG_UNIT_CODE join this node."""
    from node.federation.service import create_enrolment_token

    try:
        with open_session() as session:
            token, enrolment = create_enrolment_token(session, org_unit_code, hours=hours)
    except DomainError as exc:
        _fail(exc.message)
    click.echo(token)
    click.echo(f"Valid once for org unit {org_unit_code} until {_instant(enrolment.expires_at)}. "
               "Give it to the child node's administrator, who runs "
               "`theodoi federation join PARENT_URL TOKEN`.", err=True)


@federation.command("join")
@click.argument("parent_url")
@click.argument("token")
def join(parent_url: str, token: str) -> None:
    """Join the parent node at PARENT_URL with the one-time TOKEN its administrator gave."""
    from node.federation.client import FederationCallError, join_parent
    from node.federation.identity import fingerprint

    settings = cli_settings()
    try:
        with open_session(settings) as session:
            parent = join_parent(session, settings, parent_url, token)
    except (FederationCallError, DomainError) as exc:
        _fail(str(exc))
    click.echo(f"Joined parent {parent.node_id} (org unit {parent.org_unit_code}, level "
               f"{parent.level}) at {parent.base_url}")
    click.echo(f"Pinned key fingerprint {fingerprint(parent.public_key)}. Ask the parent's "
               "administrator to confirm it: the parent publishes it at /federation/v1/info.")


@federation.command("links")
def links() -> None:
    """List the linked nodes with their last contact, backlog, sequence and last error."""
    from node.federation.identity import fingerprint
    from node.federation.models import Peer
    from node.federation.service import last_sent_sequence, outbox_backlog, relation_of

    settings = cli_settings()
    with open_session(settings) as session:
        peers = session.scalars(select(Peer).order_by(Peer.level, Peer.node_id)).all()
        backlog = outbox_backlog(session)
        sent = last_sent_sequence(session)
    if not peers:
        click.echo("No linked nodes. On a parent run `theodoi federation enrol-token`; on a "
                   "child run `theodoi federation join`.")
        return
    click.echo("node\trelation\torg_unit\tstatus\tlast_contact\tbacklog\tnext_expected_in"
               "\tlast_queued_out\tlast_error\tkey_fingerprint")
    for peer in peers:
        error = (peer.last_error or "-").replace("\n", " ")
        click.echo(f"{peer.node_id}\t{relation_of(peer, settings)}\t{peer.org_unit_code}\t"
                   f"{peer.status}\t{_instant(peer.last_contact_at)}\t"
                   f"{backlog.get(peer.node_id, 0)}\t{peer.next_expected_sequence}\t"
                   f"{sent.get(peer.node_id, 0)}\t{error}\t{fingerprint(peer.public_key)}")


@federation.command("export-log")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def export_log(file: Path) -> None:
    """Write the exchange log to FILE as JSON Lines, with the keys needed to verify it."""
    from node.federation.logcheck import LOG_FORMAT
    from node.federation.models import ExchangeLogEntry, Peer
    from node.federation.service import node_info

    settings = cli_settings()
    header = {"format": LOG_FORMAT, "version": LOG_FORMAT_VERSION,
              "exported_at": datetime.now(UTC).isoformat(timespec="seconds")}
    count = 0
    with open_session(settings) as session, file.open("w", encoding="utf-8") as handle:
        identity = node_info(settings)
        header["node"] = {key: identity[key] for key in ("node_id", "level", "org_unit_code",
                                                        "public_key")}
        header["peers"] = [{"node_id": peer.node_id, "public_key": peer.public_key}
                           for peer in session.scalars(select(Peer).order_by(Peer.node_id))]
        handle.write(json.dumps(header, ensure_ascii=False) + "\n")
        for entry in session.scalars(select(ExchangeLogEntry).order_by(ExchangeLogEntry.id)):
            handle.write(json.dumps({
                "id": entry.id, "direction": entry.direction, "at": entry.at.isoformat(),
                "message_id": entry.message_id, "peer_node_id": entry.peer_node_id,
                "raw_base64": base64.b64encode(entry.raw).decode("ascii"),
            }) + "\n")
            count += 1
    click.echo(f"Exported {count} exchange log entries to {file}")


@federation.command("verify-log")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify_log(file: Path) -> None:
    """Check every signature in an exported exchange log FILE; exit 1 if any fails.

    The keys come from the file's header, so this proves that the messages are
    those the listed keys signed, not that the keys belong to those nodes.
    """
    from node.federation.logcheck import LogFormatError, verify_exported_log

    try:
        report = verify_exported_log(file)
    except LogFormatError as exc:
        _fail(str(exc))
    for failure in report.failures:
        click.echo(failure, err=True)
    click.echo(f"{report.checked} entries checked, {len(report.failures)} failed")
    if report.failures:
        sys.exit(1)
