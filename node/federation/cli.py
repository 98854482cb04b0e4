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
from node.core.settings import Settings

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
    """List the linked nodes: last contact, backlog, failed, sequences, gaps and last error."""
    from node.federation.identity import fingerprint
    from node.federation.links import link_overview

    settings = cli_settings()
    with open_session(settings) as session:
        overview = link_overview(session, settings)
    if not overview:
        click.echo("No linked nodes. On a parent run `theodoi federation enrol-token`; on a "
                   "child run `theodoi federation join`.")
        return
    click.echo("node\trelation\torg_unit\tstatus\tlast_contact\tbacklog\tnext_expected_in"
               "\tlast_queued_out\tlast_error\tkey_fingerprint\tfailed\tlast_delivered_out"
               "\tgaps_in\tkey_rotation")
    for link in overview:
        peer = link.peer
        error = (peer.last_error or "-").replace("\n", " ")
        gaps = ",".join(f"{first}-{last}" if first != last else str(first)
                        for first, last in link.gaps) or "-"
        rotation = (f"sending (sequence {peer.key_rotation_sequence})"
                    if peer.key_rotation_sequence is not None else "-")
        click.echo(f"{peer.node_id}\t{link.relation}\t{peer.org_unit_code}\t"
                   f"{peer.status}\t{_instant(peer.last_contact_at)}\t"
                   f"{link.backlog}\t{peer.next_expected_sequence}\t"
                   f"{link.last_queued_sequence}\t{error}\t{fingerprint(peer.public_key)}\t"
                   f"{link.failed}\t{link.last_delivered_sequence}\t{gaps}\t{rotation}")


def _change_link(action: str, node_id: str) -> None:
    from node.federation import links as link_admin

    try:
        with open_session() as session:
            getattr(link_admin, action)(session, node_id)
    except DomainError as exc:
        _fail(exc.message)


@federation.command("suspend")
@click.argument("node_id")
def suspend(node_id: str) -> None:
    """Suspend the link with NODE_ID: its messages are rejected and quarantined."""
    _change_link("suspend", node_id)
    click.echo(f"Link with {node_id} suspended. Messages to it stay queued; its messages are "
               "rejected with reason suspended_sender until `theodoi federation resume`.")


@federation.command("resume")
@click.argument("node_id")
def resume(node_id: str) -> None:
    """Resume the suspended link with NODE_ID."""
    _change_link("resume", node_id)
    click.echo(f"Link with {node_id} resumed.")


@federation.command("retry")
@click.argument("message_id", required=False)
@click.option("--node", "node_id", help="Retry every failed message to this node.")
@click.option("--all", "retry_all", is_flag=True, help="Retry every failed message.")
def retry(message_id: str | None, node_id: str | None, retry_all: bool) -> None:
    """Queue failed messages again: MESSAGE_ID, those of --node, or --all."""
    from node.federation.links import retry_failed

    if not (message_id or node_id or retry_all):
        _fail("name a MESSAGE_ID, a node with --node NODE_ID, or use --all; "
              "`theodoi federation links` counts the failed messages per node")
    try:
        with open_session() as session:
            count = retry_failed(session, message_id=message_id, node_id=node_id)
    except DomainError as exc:
        _fail(exc.message)
    click.echo(f"{count} failed messages queued again; `theodoi federation sync` sends them now.")


@federation.command("rotate-key")
def rotate_key_command() -> None:
    """Create a new node key pair and announce it to every linked node.

    Messages queued before the rotation are still delivered: until a peer has
    the announcement they are signed with the former key, which peers accept
    during the grace period (federation.key_grace_hours).
    """
    from node.federation.identity import fingerprint
    from node.federation.links import install_new_key, rotate_key

    settings = cli_settings()
    try:
        with open_session(settings) as session:
            rotation = rotate_key(session, settings)
    except DomainError as exc:
        _fail(exc.message)
    install_new_key(settings)
    click.echo(f"New key {fingerprint(rotation.public_key)} announced to "
               f"{len(rotation.announced_to)} linked nodes "
               f"({', '.join(rotation.announced_to) or 'none'}); they accept the former key "
               f"until {_instant(rotation.previous_key_valid_until)}.")


@federation.command("quarantine")
@click.option("--reason", help="Show only rejections with this reason, e.g. bad_signature.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def quarantine(reason: str | None, limit: int) -> None:
    """List rejected messages, newest first, with the reason and the explanation."""
    from node.federation.links import check_reason, quarantined_messages

    try:
        check_reason(reason)
    except DomainError as exc:
        _fail(exc.message)
    with open_session() as session:
        rows = quarantined_messages(session, limit=limit, reason=reason)
    if not rows:
        click.echo("No quarantined messages.")
        return
    click.echo("received_at\treason\tsender\tmessage_id\tremote_address\tdetail")
    for row in rows:
        detail = row.detail.replace("\n", " ")
        click.echo(f"{_instant(row.received_at)}\t{row.reason}\t{row.sender_node_id or '-'}\t"
                   f"{row.message_id or '-'}\t{row.remote_address or '-'}\t{detail}")


def _session_factory(settings):  # noqa: ANN001, ANN202
    from node.core.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings.effective_database_url))


def _print_stats(stats) -> None:  # noqa: ANN001
    push, pull = stats.push, stats.pull
    if push.busy:
        click.echo("Another process of this node is sending now; nothing done.")
        return
    click.echo(f"Push: {push.delivered} delivered, {push.retry_later} to retry later, "
               f"{push.rejected} rejected, {push.waiting} waiting.")
    for error in push.errors[:5]:
        click.echo(f"  {error}", err=True)
    click.echo(f"Pull: {pull.received} received ({pull.applied} applied, {pull.duplicates} "
               f"repeats, {pull.rejected} rejected) in {pull.requests} requests.")
    if pull.error:
        click.echo(f"  {pull.error}", err=True)


def _recover_key_rotation(settings: Settings) -> None:
    from node.federation.links import recover_key_rotation

    with open_session(settings) as session:
        outcome = recover_key_rotation(session, settings)
    if outcome == "installed":
        click.echo("The key of an interrupted key rotation is now the node key.")
    elif outcome == "discarded":
        click.echo("The new key of a key rotation that was not committed was removed.")


@federation.command("sync")
def sync() -> None:
    """Push every due message and pull from the parent once; exit 1 if anything failed."""
    from node.federation.delivery import catch_up

    settings = cli_settings()
    _recover_key_rotation(settings)
    stats = catch_up(_session_factory(settings), settings)
    _print_stats(stats)
    if stats.push.retry_later or stats.push.rejected or (
            stats.pull.error and "no parent" not in stats.pull.error):
        sys.exit(1)


@federation.command("run")
@click.option("--interval", type=click.FloatRange(min=0.1),
              help="Seconds between runs [default: federation.sync_interval_seconds].")
def run(interval: float | None) -> None:
    """Push and pull in a loop until interrupted (for a node not run by `theodoi serve`)."""
    import time

    from node.federation.delivery import catch_up

    settings = cli_settings()
    _recover_key_rotation(settings)
    interval = interval or settings.federation_sync_interval_seconds or 60.0
    factory = _session_factory(settings)
    click.echo(f"Exchanging every {interval:g} s; stop with Ctrl+C.")
    try:
        while True:
            stats = catch_up(factory, settings)
            if stats.push.attempted or stats.pull.received or stats.pull.error:
                _print_stats(stats)
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo("Stopped.")


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
