"""A parent node served by `theodoi serve` on loopback, and a child that joins it and sends.

The parent runs in its own process. The child runs in the test process
through the command-line interface and the client functions.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from node.cli import initialise_node, main
from node.core.cli_support import open_session
from node.core.settings import Settings, load_settings
from node.federation import client, service
from node.federation.client import FederationCallError, deliver, join_parent, queue_message
from node.federation.identity import PRIVATE_KEY_FILE
from node.federation.models import ExchangeLogEntry, InboxMessage, OutboxMessage, Peer
from node.federation.service import create_enrolment_token
from tests.conftest import DatabaseFactory
from tests.federation.helpers import CHILD_NODE_ID, CHILD_ORG_UNIT, aggregate_report_payload

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVER_START_TIMEOUT_SECONDS = 60


@pytest.fixture
def child_database_url(databases: DatabaseFactory) -> str:
    """A second empty database of the suite's kind, for the child node."""
    return databases.new("child")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"theodoi serve exited with {process.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"theodoi serve did not respond at {url} within {SERVER_START_TIMEOUT_SECONDS} s:\n"
                f"{log_path.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def parent(tmp_path: Path, migrated_database_url: str) -> Iterator[tuple[Settings, str]]:
    """The central node, run by `theodoi serve` in its own process on a free loopback port."""
    config = tmp_path / "parent.toml"
    config.write_text(
        f'instance_path = "parent"\ndatabase_url = "{migrated_database_url}"\n'
        'secret_key = "parent-secret"\nlog_level = "WARNING"\n'
        '[node]\nid = "central"\nlevel = 0\norg_unit = "VPTW"\n', encoding="utf-8")
    settings = load_settings(config)
    initialise_node(settings)

    port = free_port()
    log_path = tmp_path / "parent-server.log"
    environment = dict(os.environ, THEODOI_CONFIG=str(config), PYTHONPATH=str(REPO_ROOT))
    command = [str(Path(sys.executable).parent / "theodoi"), "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=tmp_path,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, f"{url}/federation/v1/info", log_path)
        yield settings, url
    finally:
        # Nothing is checked after the test, so the server and its worker are
        # killed at once instead of waiting seconds for gunicorn's graceful stop.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture
def child_cli(tmp_path: Path, child_database_url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Run `theodoi` as the level-1 node of TU01 with its own settings file."""
    config = tmp_path / "child.toml"
    config.write_text(
        f'instance_path = "child"\ndatabase_url = "{child_database_url}"\n'
        'log_level = "WARNING"\n'
        f'[node]\nid = "{CHILD_NODE_ID}"\nlevel = 1\norg_unit = "{CHILD_ORG_UNIT}"\n',
        encoding="utf-8")
    monkeypatch.setenv("THEODOI_CONFIG", str(config))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def parent_inbox(settings: Settings) -> list[InboxMessage]:
    with open_session(settings) as session:
        return session.scalars(select(InboxMessage)).all()


def test_child_joins_and_sends_once(parent, child_cli, tmp_path: Path) -> None:  # noqa: ANN001
    parent_settings, parent_url = parent
    with open_session(parent_settings) as session:
        token, _ = create_enrolment_token(session, CHILD_ORG_UNIT, hours=1)

    assert child_cli("init").exit_code == 0
    joined = child_cli("federation", "join", parent_url, token)
    assert joined.exit_code == 0, joined.output
    assert "Joined parent central" in joined.output

    # The parent pinned the child's key, and the child pinned the parent's.
    child_settings = load_settings()
    with open_session(parent_settings) as session:
        pinned = session.scalar(select(Peer).where(Peer.node_id == CHILD_NODE_ID))
        assert pinned.org_unit_code == CHILD_ORG_UNIT
    with open_session(child_settings) as session:
        parent_peer = session.scalar(select(Peer))
        assert parent_peer.node_id == "central"
        assert parent_peer.base_url == parent_url

    # Send, then send the same message again as a retry after a lost response.
    with open_session(child_settings) as session:
        parent_peer = session.scalar(select(Peer))
        message = queue_message(session, child_settings, parent_peer, "aggregate_report",
                                aggregate_report_payload())
        first = deliver(session, child_settings, message)
        second = deliver(session, child_settings, message)
    assert first.delivered, first.error
    assert second.delivered, second.error
    assert second.response == first.response
    assert first.response["result"] == {"status": "applied", "rows": 1}

    inbox = parent_inbox(parent_settings)
    assert [row.message_id for row in inbox] == [message.message_id]
    with open_session(child_settings) as session:
        sent = session.scalar(select(OutboxMessage))
        assert sent.attempts == 2
        assert sent.sent_at is not None
        assert session.scalar(select(func.count()).select_from(ExchangeLogEntry)) == 2

    links = child_cli("federation", "links")
    assert links.exit_code == 0
    row = links.output.splitlines()[1].split("\t")
    assert row[:4] == ["central", "parent", "VPTW", "active"]
    assert row[5] == "0"  # backlog
    assert row[7] == "1"  # last queued sequence

    # A second join is rejected, and so is the used token.
    again = CliRunner().invoke(main, ["federation", "join", parent_url, token])
    assert again.exit_code == 2
    assert "already linked" in again.output


def test_exchange_log_export_and_verify(parent, child_cli, tmp_path: Path) -> None:  # noqa: ANN001
    parent_settings, parent_url = parent
    with open_session(parent_settings) as session:
        token, _ = create_enrolment_token(session, CHILD_ORG_UNIT, hours=1)
    child_cli("init")
    assert child_cli("federation", "join", parent_url, token).exit_code == 0
    child_settings = load_settings()
    with open_session(child_settings) as session:
        parent_peer = session.scalar(select(Peer))
        for index in range(2):
            message = queue_message(session, child_settings, parent_peer, "aggregate_report",
                                    aggregate_report_payload(row_code=f"TU01X{index}"))
            assert deliver(session, child_settings, message).delivered

    exported = tmp_path / "child-log.jsonl"
    result = child_cli("federation", "export-log", str(exported))
    assert result.exit_code == 0, result.output
    assert "Exported 2" in result.output
    assert "PRIVATE KEY" not in exported.read_text(encoding="utf-8")
    verified = child_cli("federation", "verify-log", str(exported))
    assert verified.exit_code == 0, verified.output
    assert "2 entries checked, 0 failed" in verified.output

    lines = exported.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[2])
    raw = base64.b64decode(entry["raw_base64"]).replace(b"TU01X1", b"TU01X9")
    entry["raw_base64"] = base64.b64encode(raw).decode("ascii")
    lines[2] = json.dumps(entry)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    failed = CliRunner().invoke(main, ["federation", "verify-log", str(tampered)])
    assert failed.exit_code == 1
    assert "line 3" in failed.output
    assert "bad_signature" in failed.output
    assert "2 entries checked, 1 failed" in failed.output


def test_join_refuses_bad_token(parent, child_cli) -> None:  # noqa: ANN001
    _, parent_url = parent
    child_cli("init")
    result = child_cli("federation", "join", parent_url, "x" * 43)
    assert result.exit_code == 2
    assert "HTTP 403" in result.output
    assert "token is not valid" in result.output


def test_enrol_token_command(node_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))
    runner = CliRunner()
    assert runner.invoke(main, ["init"]).exit_code == 0
    key_file = node_config.parent / "instance" / PRIVATE_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    result = runner.invoke(main, ["federation", "enrol-token", "TU01", "--hours", "2"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert len(token) >= 40
    unknown = runner.invoke(main, ["federation", "enrol-token", "XX99"])
    assert unknown.exit_code == 2
    assert "'XX99' not found" in unknown.output
    empty = runner.invoke(main, ["federation", "links"])
    assert "No linked nodes" in empty.output


def test_enrolment_token_never_starts_with_dash(session, monkeypatch) -> None:  # noqa: ANN001
    # A token after `theodoi federation join URL` that starts with "-" would be
    # read as an option, so such a draw is replaced.
    draws = iter(["-Wdash", "_underscore"])
    monkeypatch.setattr(service.secrets, "token_urlsafe", lambda size: next(draws))
    token, _ = create_enrolment_token(session, CHILD_ORG_UNIT, hours=1)
    assert token == "_underscore"


def test_join_without_common_version(session, settings, monkeypatch) -> None:  # noqa: ANN001
    child_settings = Settings(instance_path=settings.instance_path, node_id=CHILD_NODE_ID,
                              node_level=1, node_org_unit=CHILD_ORG_UNIT)
    info = {"node_id": "central", "level": 0, "org_unit_code": "VPTW",
            "protocol_versions": ["7", "8"], "public_key": "A" * 43}
    monkeypatch.setattr(client, "fetch_info", lambda url: info)
    with pytest.raises(FederationCallError) as caught:
        join_parent(session, child_settings, "http://127.0.0.1:9", "x" * 43)
    assert "this node supports 1" in str(caught.value)
    assert "the other node supports 7, 8" in str(caught.value)
