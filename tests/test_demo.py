"""`theodoi demo`: the four-node federation on loopback, and the single node (`--single`).

The demo keeps its data in SQLite inside its folder, whatever database the
suite runs on.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

import node.cli
from node.auth.models import RoleGrant, User
from node.federation.models import InboxMessage, Peer
from node.local_tasks.models import Document, OrgUnit, Task, TaskAgency
from node.local_tasks.workflow.models import ProgressUpdate

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 40

# The four nodes: node id -> (level, org unit, parent node id).
NODES = {
    "central": (0, "VPTW", None),
    "tu01-ha-noi": (1, "TU01", "central"),
    "tu79-ho-chi-minh": (1, "TU79", "central"),
    "tu01-ba-dinh": (2, "TU01-P00004", "tu01-ha-noi"),
}
# Tasks of examples/tasks_real_documents.csv whose lead agency is a group
# meaning every province ("Các tỉnh, thành phố", "Các tỉnh, thành phố trực
# thuộc TW", "Các địa phương") or the centrally-run cities ("Các thành phố
# trực thuộc Trung ương"). Hà Nội and Hồ Chí Minh City are centrally-run
# cities, so each leads all eight, read off the file by hand.
PROVINCE_TASK_NUMBERS = {"2", "46", "66", "115", "PLI.2.11", "PLI.2.14", "PLI.2.32", "PLI.3.2"}


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove THEODOI_* settings so that the demo reads only the files in its folder."""
    for name in list(os.environ):
        if name.startswith("THEODOI_") and not name.startswith("THEODOI_TEST_"):
            monkeypatch.delenv(name)


# One node -------------------------------------------------------------------


def run_single(folder: Path) -> Result:
    return CliRunner().invoke(node.cli.main, ["demo", str(folder), "--single", "--no-serve"])


def stored_counts(database: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            documents = connection.scalar(select(func.count()).select_from(Document))
            tasks = connection.scalar(select(func.count()).select_from(Task))
    finally:
        engine.dispose()
    return documents, tasks


def test_single_demo_loads_examples(tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    result = run_single(folder)

    assert result.exit_code == 0, result.output
    assert "Imported tasks_real_documents.csv" in result.stdout
    assert f"Demo node ready in {folder}" in result.stdout
    assert (folder / "theodoi.toml").is_file()
    assert stored_counts(folder / "theodoi.sqlite3") == (5, 256)


def test_single_demo_reuses_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = run_single(folder)
    assert first.exit_code == 0, first.output
    settings_text = (folder / "theodoi.toml").read_text(encoding="utf-8")

    second = run_single(folder)

    assert second.exit_code == 0, second.output
    assert "Imported" not in second.stdout
    assert f"Demo node ready in {folder}" in second.stdout
    assert stored_counts(folder / "theodoi.sqlite3") == (5, 256)
    assert (folder / "theodoi.toml").read_text(encoding="utf-8") == settings_text


# Four nodes -----------------------------------------------------------------


class DemoProcess:
    """`theodoi demo FOLDER` in its own process, with its output read line by line."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        command = [str(Path(sys.executable).parent / "theodoi"), "demo", str(folder)]
        environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, cwd=folder.parent)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float) -> str:
        """Return the first output line containing `text`; fail with the output so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the demo exited ({self.process.wait()}) before printing "
                            f"{text!r}:\n" + "\n".join(self.lines[-60:]))
            self.lines.append(line)
            if text in line:
                return line
        pytest.fail(f"the demo did not print {text!r} within {timeout} s:\n"
                    + "\n".join(self.lines[-60:]))

    def state(self) -> dict:
        return json.loads((self.folder / "demo.json").read_text(encoding="utf-8"))

    def node_pids(self) -> list[int]:
        return [entry["pid"] for entry in self.state()["nodes"].values() if entry["pid"]]

    def interrupt(self) -> int:
        """Press Ctrl+C: send SIGINT and return the demo's exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def close(self) -> None:
        """Stop the demo and any node it left running (used after a failure)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        if (self.folder / "demo.json").is_file():
            for pid in self.node_pids():
                if process_is_running(pid):
                    os.killpg(pid, signal.SIGKILL)


def process_is_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """One demo for the tests of this module; the last test stops it."""
    demo = DemoProcess(tmp_path_factory.mktemp("demo") / "federation")
    try:
        demo.wait_for("Demo ready", START_TIMEOUT_SECONDS)
        yield demo
    finally:
        demo.close()


def node_engine(folder: Path, node_id: str) -> Engine:
    return create_engine(f"sqlite:///{folder / node_id / 'theodoi.sqlite3'}")


def node_info(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/federation/v1/info", timeout=10) as response:
        return json.loads(response.read())


def peers(folder: Path, node_id: str) -> dict[str, tuple[int, str, str | None]]:
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(Peer.node_id, Peer.level, Peer.status,
                                             Peer.base_url))
            return {row.node_id: (row.level, row.status, row.base_url) for row in rows}
    finally:
        engine.dispose()


def grant_units(folder: Path, node_id: str) -> dict[str, set[str]]:
    """Return the org unit codes of each demo account's grants on one node."""
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(User.username, OrgUnit.code).join(RoleGrant, RoleGrant.user_id == User.id)
                .join(OrgUnit, OrgUnit.id == RoleGrant.org_unit_id))
            units: dict[str, set[str]] = {}
            for username, code in rows:
                units.setdefault(username, set()).add(code)
            return units
    finally:
        engine.dispose()


def transferred_task_numbers(folder: Path, unit_code: str) -> set[str]:
    engine = node_engine(folder, "central")
    try:
        with engine.connect() as connection:
            return set(connection.scalars(
                select(Task.task_no).join(TaskAgency, TaskAgency.task_id == Task.id)
                .join(OrgUnit, OrgUnit.id == TaskAgency.org_unit_id)
                .where(TaskAgency.role == "lead", OrgUnit.code == unit_code,
                       Task.transferred_at.is_not(None))))
    finally:
        engine.dispose()


def test_federation_nodes_report_levels(federation: DemoProcess) -> None:
    nodes = federation.state()["nodes"]

    assert set(nodes) == set(NODES)
    for node_id, (level, org_unit, _) in NODES.items():
        info = node_info(nodes[node_id]["url"])
        assert info["node_id"] == node_id
        assert info["level"] == level
        assert info["org_unit_code"] == org_unit
        assert nodes[node_id]["url"].startswith("http://127.0.0.")
        assert f"{nodes[node_id]['url']}/" in "\n".join(federation.lines)


def test_federation_links_are_active(federation: DemoProcess) -> None:
    folder = federation.folder
    nodes = federation.state()["nodes"]

    for node_id, (level, _, parent_id) in NODES.items():
        if parent_id is None:
            continue
        assert peers(folder, node_id)[parent_id] == (level - 1, "active",
                                                      nodes[parent_id]["url"])
        assert peers(folder, parent_id)[node_id] == (level, "active", None)


def test_federation_nodes_know_their_unit(federation: DemoProcess) -> None:
    # Each node's org unit exists before its scheduler first produces reports,
    # the ward's included although the seed data lacks it.
    for node_id in NODES:
        server_log = (federation.folder / node_id / "server.log").read_text(encoding="utf-8")
        assert "node org unit not found" not in server_log, node_id


def test_federation_province_shows_warnings(federation: DemoProcess) -> None:
    from node.notifications.models import DeadlineWarning

    engine = node_engine(federation.folder, "tu01-ha-noi")
    try:
        with engine.connect() as connection:
            task_ids = set(connection.scalars(select(Task.id)))
            overdue = set(connection.scalars(select(DeadlineWarning.task_id).where(
                DeadlineWarning.kind == "overdue")))
    finally:
        engine.dispose()

    # The centre transferred tasks of 2025 and 2026 that are past their deadlines,
    # so the province raises its own overdue warnings on them.
    assert overdue
    assert overdue <= task_ids


def test_federation_accounts_scoped_to_node(federation: DemoProcess) -> None:
    for node_id, (_, org_unit, _) in NODES.items():
        units = grant_units(federation.folder, node_id)
        if node_id == "central":
            assert units["vanphong"] == {"VPTW"}
            continue
        assert units, f"no demo accounts on {node_id}"
        assert all(codes == {org_unit} for codes in units.values()), units
        output = "\n".join(federation.lines)
        assert all(username in output for username in units)


def test_federation_centre_assigns_province_tasks(federation: DemoProcess) -> None:
    assert transferred_task_numbers(federation.folder, "TU01") == PROVINCE_TASK_NUMBERS
    assert transferred_task_numbers(federation.folder, "TU79") == PROVINCE_TASK_NUMBERS
    engine = node_engine(federation.folder, "central")
    try:
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(Document)) == 5
    finally:
        engine.dispose()


FLOW_TIMEOUT_SECONDS = 30
# Task 2 of 03/NQ-CP (lead "VTV, VOV, TTXVN, các địa phương") has no deadline
# ("Thường xuyên"), so an update of it needs no statement of difficulties.
FLOW_DOCUMENT = "03/NQ-CP"
FLOW_TASK_NUMBER = "2"


def test_federation_trusts_demo_signatures(federation: DemoProcess) -> None:
    from node.core.settings import load_settings
    from node.signatures.trust import load_trust_anchors
    from node.signatures.verify import verify_pdf

    trust = federation.folder / "trust"
    stored = sorted(path.name for path in trust.glob("*.pem"))
    assert stored == sorted(["demo-root-ca.pem", *(f"{node_id}.pem" for node_id in NODES)])

    settings = load_settings(federation.folder / "central" / "theodoi.toml", environ={})
    assert settings.signatures_trust_dir == trust.resolve()
    anchors = load_trust_anchors(settings.signatures_trust_dir)
    limit = settings.max_upload_bytes
    signed = verify_pdf((federation.folder / "signed-sample.pdf").read_bytes(), anchors,
                        max_bytes=limit)
    modified = verify_pdf((federation.folder / "modified-sample.pdf").read_bytes(), anchors,
                          max_bytes=limit)
    assert signed.status == "valid"
    assert modified.status == "modified"


def wait_until(condition, timeout: float, what):  # noqa: ANN001, ANN201
    """Return the first true value of `condition()`, polling; fail after `timeout` seconds.

    `what` names the awaited event, or is a function that describes it at the failure.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"{what() if callable(what) else what} did not happen within {timeout} s")


def task_numbers_at(folder: Path, node_id: str) -> set[str]:
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(Task.task_no)))
    finally:
        engine.dispose()


def flow_task_id(folder: Path, node_id: str) -> int | None:
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(Task.id).join(Document, Document.id == Task.document_id)
                .where(Document.reference == FLOW_DOCUMENT, Task.task_no == FLOW_TASK_NUMBER))
    finally:
        engine.dispose()


def api_token(folder: Path, node_id: str, username: str) -> str:
    """Create an API token of a demo account directly in the node's database."""
    from node.auth.service import create_api_token, find_user
    from node.core.cli_support import open_session
    from node.demo_federation import node_by_id, node_settings

    with open_session(node_settings(folder, node_by_id(node_id))) as session:
        _, token = create_api_token(session, find_user(session, username), "demo test")
    return token


def api_post(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode("utf-8"), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.loads(response.read())


def approved_updates(folder: Path, node_id: str, task_id: int) -> list[tuple]:
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            return list(connection.execute(
                select(ProgressUpdate.reported_state, ProgressUpdate.progress_percent,
                       ProgressUpdate.milestone, ProgressUpdate.submitted_by)
                .where(ProgressUpdate.task_id == task_id,
                       ProgressUpdate.status == "approved")))
    finally:
        engine.dispose()


def test_federation_directive_reaches_provinces(federation: DemoProcess) -> None:
    for node_id in ("tu01-ha-noi", "tu79-ho-chi-minh"):
        wait_until(lambda node_id=node_id: task_numbers_at(federation.folder, node_id)
                   == PROVINCE_TASK_NUMBERS, FLOW_TIMEOUT_SECONDS,
                   lambda node_id=node_id: f"the centre's 8 tasks reaching {node_id} (it has "
                   f"{sorted(task_numbers_at(federation.folder, node_id))})")


def test_federation_approved_update_reaches_centre(federation: DemoProcess) -> None:
    folder = federation.folder
    province = federation.state()["nodes"]["tu01-ha-noi"]["url"]
    task_id = wait_until(lambda: flow_task_id(folder, "tu01-ha-noi"), FLOW_TIMEOUT_SECONDS,
                         "task 2 of 03/NQ-CP reaching tu01-ha-noi")
    central_task_id = flow_task_id(folder, "central")
    assert central_task_id is not None
    assert approved_updates(folder, "central", central_task_id) == []

    submitted = api_post(f"{province}/api/v1/tasks/{task_id}/updates",
                         api_token(folder, "tu01-ha-noi", "capnhat.tu01"),
                         {"reported_state": "in_progress", "progress_percent": 40,
                          "milestone": "Đã xây dựng chương trình chuyên biệt"})
    api_post(f"{province}/api/v1/updates/{submitted['update']['id']}/approve",
             api_token(folder, "tu01-ha-noi", "pheduyet.tu01"), {})

    updates = wait_until(lambda: approved_updates(folder, "central", central_task_id),
                         FLOW_TIMEOUT_SECONDS, "the approved update reaching the centre")
    assert len(updates) == 1
    state, percent, milestone, submitted_by = updates[0]
    assert (state, percent) == ("in_progress", 40)
    assert milestone == "Đã xây dựng chương trình chuyên biệt"
    assert "tu01-ha-noi" in submitted_by


# Stops the demo, so it comes last.
def aggregate_senders(folder: Path, node_id: str) -> set[str]:
    engine = node_engine(folder, node_id)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(
                select(InboxMessage.sender_node_id)
                .where(InboxMessage.message_type == "aggregate_report")))
    finally:
        engine.dispose()


def test_federation_aggregates_reach_centre(federation: DemoProcess) -> None:
    wait_until(lambda: aggregate_senders(federation.folder, "central")
               == {"tu01-ha-noi", "tu79-ho-chi-minh"},
               FLOW_TIMEOUT_SECONDS, "both provinces' aggregate reports at the centre")
    assert aggregate_senders(federation.folder, "tu01-ha-noi") == {"tu01-ba-dinh"}


def test_federation_reports_dead_node_and_stops(federation: DemoProcess) -> None:
    ward = federation.state()["nodes"]["tu01-ba-dinh"]["pid"]
    pids = federation.node_pids()

    os.kill(ward, signal.SIGTERM)
    line = federation.wait_for("stopped unexpectedly", 30)
    assert line.startswith(f"Node tu01-ba-dinh (pid {ward})")

    exit_code = federation.interrupt()
    assert exit_code == 0, "\n".join(federation.lines[-40:])
    stopped = {federation.wait_for("Stopped node", 5) for _ in range(3)}
    assert stopped == {f"Stopped node {node_id} (exit code 0)"
                       for node_id in ("tu79-ho-chi-minh", "tu01-ha-noi", "central")}
    assert all(not process_is_running(pid) for pid in pids)
    # The data stays for inspection, and the demo prints where and how to serve it again.
    kept = federation.wait_for("The demo's databases and logs stay in", 5)
    assert f"`theodoi demo {federation.folder}` serves them again" in kept
