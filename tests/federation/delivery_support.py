"""Nodes for the delivery tests: each has its own database, key and settings file.

A node served by `theodoi serve` runs in its own process on a loopback port;
the tests start, kill (SIGKILL) and restart it. A node that only sends may
run in the test process, through a session factory on its database.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from node.cli import initialise_node
from node.core.db import make_engine, make_session_factory
from node.core.settings import Settings, load_settings
from node.federation.identity import node_public_key
from node.federation.models import InboxMessage, OutboxMessage, Peer
from tests.conftest import DatabaseFactory

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Node:
    """One node: its settings file, database and, once started, its server process."""

    name: str
    directory: Path
    config: Path
    settings: Settings
    port: int
    process: subprocess.Popen | None = None
    engine: object | None = None
    _factory: sessionmaker[Session] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}-server.log"

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._factory is None:
            self.engine = make_engine(self.settings.effective_database_url)
            self._factory = make_session_factory(self.engine)
        return self._factory

    def environment(self) -> dict[str, str]:
        return dict(os.environ, THEODOI_CONFIG=str(self.config), PYTHONPATH=str(REPO_ROOT))

    def command(self, *args: str) -> list[str]:
        return [str(Path(sys.executable).parent / "theodoi"), *args]

    def start(self) -> None:
        """Run `theodoi serve` for this node and wait until it responds."""
        assert self.process is None, f"{self.name} is already running"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command("serve", "--host", "127.0.0.1", "--port", str(self.port),
                             "--workers", "1"),
                env=self.environment(), stdout=log, stderr=subprocess.STDOUT, cwd=self.directory,
                start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n"
                                     f"{self.log_path.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/federation/v1/info", timeout=2):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer within {START_TIMEOUT_SECONDS} s")

    def kill(self) -> None:
        """Stop the server and its workers at once with SIGKILL, as a crash would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=15)
        self.process = None

    def close(self) -> None:
        """Kill the server, if it runs, and dispose of the engine, after the test.

        Nothing is checked after this, so the test does not wait seconds for
        gunicorn's graceful stop.
        """
        if self.process is not None:
            self.kill()
        if self.engine is not None:
            self.engine.dispose()  # type: ignore[attr-defined]


def make_node(tmp_path: Path, databases: DatabaseFactory, name: str, *, node_id: str, level: int,
              org_unit: str, federation: str = "") -> Node:
    directory = tmp_path / name
    directory.mkdir()
    config = directory / "theodoi.toml"
    config.write_text(
        f'instance_path = "instance"\ndatabase_url = "{databases.new(name, migrated=True)}"\n'
        f'secret_key = "{name}-secret"\nlog_level = "WARNING"\n'
        f'[node]\nid = "{node_id}"\nlevel = {level}\norg_unit = "{org_unit}"\n'
        f'[federation]\n{federation}', encoding="utf-8")
    settings = load_settings(config)
    initialise_node(settings)
    return Node(name=name, directory=directory, config=config, settings=settings,
                port=free_port())


def link(parent: Node, child: Node, *, child_knows_parent_url: str | None = None,
         parent_knows_child: bool = True) -> None:
    """Pin each node's key at the other, as a completed enrolment leaves them."""
    with parent.sessions() as session:
        if parent_knows_child:
            session.add(Peer(node_id=child.settings.node_id, level=child.settings.node_level,
                             org_unit_code=child.settings.node_org_unit,
                             public_key=node_public_key(child.settings), protocol_version="1",
                             status="active"))
        session.commit()
    with child.sessions() as session:
        session.add(Peer(node_id=parent.settings.node_id, level=parent.settings.node_level,
                         org_unit_code=parent.settings.node_org_unit,
                         public_key=node_public_key(parent.settings),
                         base_url=child_knows_parent_url or parent.url, protocol_version="1",
                         status="active"))
        session.commit()


def peer_of(node: Node, session: Session, node_id: str) -> Peer:
    return session.scalar(select(Peer).where(Peer.node_id == node_id))


def inbox_ids(node: Node, sender: str) -> list[str]:
    with node.sessions() as session:
        return list(session.scalars(select(InboxMessage.message_id)
                                    .where(InboxMessage.sender_node_id == sender)
                                    .order_by(InboxMessage.sequence)))


def outbox_ids(node: Node, recipient: str, *, delivered_only: bool = False) -> list[str]:
    with node.sessions() as session:
        query = select(OutboxMessage.message_id).where(
            OutboxMessage.recipient_node_id == recipient)
        if delivered_only:
            query = query.where(OutboxMessage.sent_at.is_not(None))
        return list(session.scalars(query.order_by(OutboxMessage.sequence)))


def checksum(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("ascii")).hexdigest()


def inbox_state_checksum(node: Node, sender: str) -> str:
    """A checksum of what `node` received from `sender`: id, sequence and content hash."""
    with node.sessions() as session:
        rows = session.execute(select(InboxMessage.message_id, InboxMessage.sequence,
                                      InboxMessage.body_sha256)
                               .where(InboxMessage.sender_node_id == sender)
                               .order_by(InboxMessage.sequence)).all()
    return hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()


def wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class FlakyProxy:
    """A loopback HTTP proxy that misbehaves on the first POSTs it forwards, then passes through.

    `script` lists what to do with each POST in turn: "503" answers 503 without
    forwarding, "404" answers 404 without forwarding (a node that lacks the
    endpoint), "drop" forwards the request and closes the connection without
    answering (a lost response), "pass" forwards normally. After the script,
    every request passes.
    """

    def __init__(self, target_port: int, script: list[str]) -> None:
        self.target_port = target_port
        self.script = list(script)
        self.seen: list[str] = []
        self.port = free_port()
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(16)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        reader = connection.makefile("rb")
        try:
            while True:
                request_line = reader.readline()
                if not request_line:
                    return
                headers = []
                length = 0
                while True:
                    line = reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    headers.append(line)
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = reader.read(length) if length else b""
                with self._lock:
                    action = self.script.pop(0) if self.script else "pass"
                    self.seen.append(action)
                if action in ("503", "404"):
                    title = b"Service Unavailable" if action == "503" else b"Not Found"
                    payload = (b'{"title": "' + title + b'", "status": ' + action.encode()
                               + b"}")
                    connection.sendall(b"HTTP/1.1 " + action.encode() + b" " + title + b"\r\n"
                                       b"Content-Type: application/problem+json\r\n"
                                       b"Content-Length: " + str(len(payload)).encode()
                                       + b"\r\n\r\n" + payload)
                    continue
                status, response_headers, response_body = self._forward(request_line, headers,
                                                                        body)
                if action == "drop":
                    return
                connection.sendall(status + b"".join(response_headers) + b"\r\n"
                                   + response_body)
        except OSError:
            return
        finally:
            reader.close()
            connection.close()

    def _forward(self, request_line: bytes, headers: list[bytes],
                 body: bytes) -> tuple[bytes, list[bytes], bytes]:
        with socket.create_connection(("127.0.0.1", self.target_port), timeout=15) as upstream:
            kept = [line for line in headers
                    if not line.lower().startswith((b"connection:", b"keep-alive:"))]
            upstream.sendall(request_line + b"".join(kept) + b"Connection: close\r\n\r\n" + body)
            chunks = []
            while True:
                chunk = upstream.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        raw = b"".join(chunks)
        head, _, response_body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        response_headers = [line + b"\r\n" for line in lines[1:]
                            if not line.lower().startswith((b"connection:", b"keep-alive:"))]
        response_headers.append(b"Connection: keep-alive\r\n")
        return lines[0] + b"\r\n", response_headers, response_body

    def close(self) -> None:
        self._closed = True
        self._server.close()
