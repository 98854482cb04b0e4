"""`theodoi demo`: a federation of four nodes (or one node) with the real example documents.

By default the demo runs a central node, the nodes of two provincial party
committees and the node of a ward party committee, each served by its own
`theodoi serve` process on loopback. `--single` runs one central node, as
before the exchange between nodes existed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click
from sqlalchemy import func, select

from node.core.cli_support import open_session
from node.core.settings import ENV_PREFIX, PROJECT_ROOT, Settings, load_settings
from node.demo_federation import DemoNode, node_by_id
from node.demo_processes import NodeServer, log_tail

logger = logging.getLogger(__name__)

EXAMPLES_DIR = PROJECT_ROOT / "examples"
# The real task tables loaded into the demo, in order; their sources are in
# examples/SOURCES.md.
EXAMPLE_FILES = ("tasks_real_documents.csv",)
DEMO_LOG = "demo.log"
SUPERVISE_INTERVAL_SECONDS = 0.5
# How long a province waits for its sub-units' aggregate reports before sending its own.
AGGREGATE_WAIT_SECONDS = 20

DEMO_CONFIG = """\
# Settings of a demo node; see config/node.example.toml for every setting.
instance_path = "."

[node]
id = "demo-central"
level = 0
org_unit = "VPTW"
"""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    """Return whether a server could listen on `host`:`port` now, as gunicorn does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # gunicorn sets SO_REUSEADDR too, so connections of an earlier run
        # still in TIME_WAIT do not make the port look taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


# One node (--single) ---------------------------------------------------------


def prepare_demo(folder: Path) -> Settings:
    """Create (or reuse) a demo node in `folder` and load the example documents once."""
    from node.cli import initialise_node
    from node.local_tasks.importer.importer import import_file
    from node.local_tasks.models import Document

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "theodoi.toml"
    if not config.exists():
        config.write_text(DEMO_CONFIG, encoding="utf-8")
    settings = load_settings(config)
    initialise_node(settings)
    with open_session(settings) as session:
        if session.scalar(select(func.count()).select_from(Document)):
            return settings
    for name in EXAMPLE_FILES:
        with open_session(settings) as session:
            result = import_file(session, EXAMPLES_DIR / name, create_agencies=True)
            click.echo(f"Imported {name}: {result.summary_line()}")
    return settings


def _print_accounts(accounts: list[tuple[str, str, str, str]], indent: str = "  ") -> None:
    for username, password, role, org_unit_code in accounts:
        click.echo(f"{indent}{username:<18} {password:<18} {role} @ {org_unit_code}")


def _print_demo_accounts(settings: Settings) -> None:
    """Create one account per role (new passwords on every start) and print them."""
    from node.auth.demo import create_demo_accounts

    with open_session(settings) as session:
        accounts = create_demo_accounts(session)
    click.echo("Demo accounts (sign in at /login):")
    _print_accounts(accounts)


def raise_warnings_now(settings: Settings, node_id: str | None = None) -> None:
    """Raise the day's deadline warnings at once, so the example tasks show theirs."""
    from node.notifications.jobs import raise_demo_warnings

    counts = raise_demo_warnings(settings)
    where = f" at {node_id}" if node_id else ""
    click.echo(f"Warnings raised{where}: {counts['overdue']} overdue, {counts['due_soon']} due soon, "
               f"{counts['due_today']} due today, {counts['transfer_missed']} transfers late; "
               f"{counts['notifications']} notifications")


def _say_folder_stays(folder: Path, options: str = "") -> None:
    click.echo(f"The demo's databases and logs stay in {folder}: "
               f"`theodoi demo {folder}{options}` serves them again; delete the folder when "
               "done.")


def run_single(folder: Path, host: str, port: int, no_serve: bool) -> None:
    """Run one central node with the real documents in `folder`."""
    from node.core.server import run_server

    settings = prepare_demo(folder.resolve())
    _print_demo_accounts(settings)
    raise_warnings_now(settings)
    if no_serve:
        click.echo(f"Demo node ready in {folder}")
        return
    port = port or free_port(host)
    click.echo(f"Demo node in {folder}")
    click.echo(f"Open http://{host}:{port}/ in a browser (Ctrl+C stops it)")
    try:
        run_server(settings, host=host, port=port, workers=2)
    finally:
        _say_folder_stays(folder, " --single")


# Four nodes ------------------------------------------------------------------


class DemoStopped(Exception):
    """Raised in the main thread when the demo process receives SIGTERM."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise DemoStopped


def _loopback_hosts(count: int) -> list[str]:
    """Return one loopback address per node (127.0.0.1, .2, ...) where the system allows it.

    Browsers keep cookies per host name and not per port, so nodes on one
    address would sign each other's users out. Without the extra loopback
    addresses every node uses 127.0.0.1.
    """
    hosts = [f"127.0.0.{index}" for index in range(1, count + 1)]
    if all(port_is_free(host, 0) for host in hosts):
        return hosts
    return ["127.0.0.1"] * count


def _addresses(folder: Path, state: dict, host: str | None, base_port: int) -> dict[str, dict]:
    """Return host and port per node id: the saved ones, else new free ones."""
    from node.demo_federation import NODES

    saved = state.get("nodes", {})
    hosts = [host] * len(NODES) if host else _loopback_hosts(len(NODES))
    addresses: dict[str, dict] = {}
    for index, node in enumerate(NODES):
        if node.node_id in saved:
            address = {"host": saved[node.node_id]["host"], "port": saved[node.node_id]["port"]}
            if not port_is_free(address["host"], address["port"]):
                raise click.ClickException(
                    f"port {address['port']} on {address['host']} of node {node.node_id} "
                    f"(kept in {folder / 'demo.json'}, because its children call that URL) is "
                    "in use; stop the program that uses it, or start the demo in a new folder")
        else:
            node_host = hosts[index]
            port = base_port + index if base_port else free_port(node_host)
            address = {"host": node_host, "port": port}
        addresses[node.node_id] = address
    return addresses


def _start_file_log(path: Path, verbose: bool) -> tuple[logging.Handler, dict]:
    """Log the demo's steps at INFO to `path`; return the handler and the levels to restore.

    Unless `verbose`, the terminal shows only the demo's own messages, and
    every log line, warnings included, goes to the file.
    """
    from node.core.logging import KeyValueFormatter, configure_logging

    configure_logging("INFO")
    root = logging.getLogger()
    previous_levels = {}
    if not verbose:
        for handler in root.handlers:
            if getattr(handler, "_theodoi", False):
                previous_levels[handler] = handler.level
                handler.setLevel(logging.CRITICAL + 1)
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(KeyValueFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(file_handler)
    return file_handler, previous_levels


class FederatedDemo:
    """Build, link, fill and serve the four demo nodes in `folder`."""

    def __init__(self, folder: Path, *, host: str | None, base_port: int) -> None:
        from node.demo_federation import load_state

        self.folder = folder
        self.state = load_state(folder)
        self.addresses = _addresses(folder, self.state, host, base_port)
        self.servers: dict[str, NodeServer] = {}
        self.accounts: dict[str, list[tuple[str, str, str, str]]] = {}
        self._ready_ids: set[str] = set()

    def prepare(self) -> None:
        """Start every node, then link each child once it and its parent serve.

        `theodoi serve` initialises its node (keys, tables, reference data),
        so the nodes initialise and boot at the same time, except the two that
        need the ward's org unit first. A node looks for its parent on every
        sync run, so it may start before it joins.
        """
        from node.demo_federation import (
            NODES,
            SUB_UNIT,
            ensure_demo_samples,
            node_settings,
            write_node_config,
        )

        ensure_demo_samples(self.folder)
        # The ward's party committee is not in the seed data. Its node and its
        # parent's node need it before their schedulers first produce reports,
        # so those two are initialised here and start last.
        needs_sub_unit = [node for node in NODES
                          if node.org_unit_code in (SUB_UNIT["code"], SUB_UNIT["parent_code"])]
        for node in NODES:
            write_node_config(self.folder, node)
            if node not in needs_sub_unit:
                self._start(node)
        # One after the other: Alembic's command context is global to the process.
        for node in needs_sub_unit:
            self._add_sub_unit(node)
            self._start(node)
        for level in sorted({node.level for node in NODES if node.parent_id}):
            for node in NODES:
                if node.level == level and node.parent_id is not None:
                    self._ready(node_by_id(node.parent_id))
                    self._ready(node)
                    self._link(node)
            # The centre assigns its tasks once the provinces are linked, so
            # that the directives for them are queued.
            if level == 1:
                self._fill_centre()
        self._create_accounts()
        self._push_aggregates()
        # After the accounts, so that the warnings reach the demo's people, and
        # after the children's reports, by which time the directives have arrived.
        for node in NODES:
            raise_warnings_now(node_settings(self.folder, node), node.node_id)
        self._save_state()

    def _push_aggregates(self) -> None:
        """Send every child node's aggregate reports up, the deepest level first.

        A province's report includes its sub-units' reports, so each province
        waits a bounded time for them before it reports to the centre.
        """
        from node.demo_federation import (
            NODES,
            holds_aggregates_from,
            node_settings,
            push_aggregate_reports,
        )

        for level in sorted({node.level for node in NODES if node.parent_id}, reverse=True):
            for node in NODES:
                if node.level != level:
                    continue
                settings = node_settings(self.folder, node)
                children = [child for child in NODES if child.parent_id == node.node_id]
                deadline = time.monotonic() + AGGREGATE_WAIT_SECONDS
                while children and time.monotonic() < deadline and not all(
                        holds_aggregates_from(settings, child.node_id)
                        for child in children):
                    time.sleep(0.5)
                push_aggregate_reports(settings)
                click.echo(f"Node {node.node_id} queued its aggregate reports for "
                           f"{node.parent_id}")

    def _ready(self, node: DemoNode) -> None:
        """Wait until the node serves, then trust its signing certificate."""
        from node.demo_federation import node_settings, trust_node_certificate

        if node.node_id in self._ready_ids:
            return
        server = self.servers[node.node_id]
        try:
            server.wait_until_serving()
        except RuntimeError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Node {node.node_id} serving at {server.url}/ (pid {server.pid})")
        settings = node_settings(self.folder, node)
        trust_node_certificate(self.folder, settings)
        self._ready_ids.add(node.node_id)

    def _add_sub_unit(self, node: DemoNode) -> None:
        """Initialise the node's folder and add the ward's party committee to it."""
        from node.cli import initialise_node
        from node.demo_federation import ensure_sub_unit, node_settings

        settings = node_settings(self.folder, node)
        initialise_node(settings)
        with open_session(settings) as session:
            ensure_sub_unit(session)

    def _create_accounts(self) -> None:
        """Create every node's accounts, one thread per node.

        Password hashing (scrypt) runs outside the GIL, and each node has its
        own database, so the nodes' accounts are created at the same time.
        """
        from node.demo_federation import NODES, create_accounts, node_settings

        def create(node: DemoNode) -> list[tuple[str, str, str, str]]:
            return create_accounts(node_settings(self.folder, node), node)

        with ThreadPoolExecutor(max_workers=len(NODES)) as pool:
            for node, accounts in zip(NODES, pool.map(create, NODES), strict=True):
                self.accounts[node.node_id] = accounts

    def _start(self, node: DemoNode) -> None:
        """Start the node's server without waiting for it."""
        from node.demo_federation import CONFIG_FILE, SERVER_LOG, node_folder

        address = self.addresses[node.node_id]
        folder = node_folder(self.folder, node)
        server = NodeServer(node.node_id, folder / CONFIG_FILE, address["host"],
                            address["port"], folder / SERVER_LOG)
        self.servers[node.node_id] = server
        server.start()
        self._save_state()

    def _link(self, node: DemoNode) -> None:
        from node.demo_federation import enrol, node_settings, parent_link
        from node.federation.client import FederationCallError

        assert node.parent_id is not None
        parent = node_by_id(node.parent_id)
        child_settings = node_settings(self.folder, node)
        if parent_link(child_settings) is not None:
            return
        try:
            enrol(node_settings(self.folder, parent), child_settings,
                  self.servers[parent.node_id].url)
        except FederationCallError as exc:
            raise click.ClickException(f"node {node.node_id} could not join {parent.node_id}: "
                                       f"{exc}") from None
        click.echo(f"Node {node.node_id} joined {parent.node_id} with a one-time enrolment token")

    def _fill_centre(self) -> None:
        from node.demo_federation import (
            CONFIG_FILE,
            NODES,
            assign_to_provinces,
            import_documents,
            node_settings,
        )

        central = node_settings(self.folder, NODES[0])
        config_path = self.folder / NODES[0].node_id / CONFIG_FILE
        for name in EXAMPLE_FILES:
            summary = import_documents(central, config_path, EXAMPLES_DIR / name)
            if summary is not None:
                click.echo(f"Centre imported {name}: {summary}")
        provinces = tuple(node.org_unit_code for node in NODES if node.level == 1)
        assignment = assign_to_provinces(central, provinces)
        counts = ", ".join(f"{code}: {count}" for code, count in
                           assignment.tasks_per_unit.items())
        click.echo(f"Centre resolved {assignment.groups_resolved} lead groups of provinces and "
                   f"transferred {assignment.tasks_transferred} tasks; tasks led by the linked "
                   f"provinces ({counts})")

    def print_nodes(self) -> None:
        """Print each node's URL, log file and demo accounts, and the sample PDFs."""
        from node.demo_federation import NODES, ensure_demo_samples

        click.echo("")
        for node in NODES:
            server = self.servers[node.node_id]
            parent = f", child of {node.parent_id}" if node.parent_id else ""
            click.echo(f"{node.title}: node {node.node_id}, level {node.level}, org unit "
                       f"{node.org_unit_code}{parent}")
            click.echo(f"  {server.url}/   (log: {server.log_path})")
            _print_accounts(self.accounts[node.node_id], "    ")
        click.echo(f"Sign in at /login on each node. The demo's own steps are logged in "
                   f"{self.folder / DEMO_LOG}.")
        samples = ensure_demo_samples(self.folder)
        click.echo(f"Signed sample PDF to upload on a document page: {samples.signed_pdf} "
                   f"(the same file changed after signing: {samples.modified_pdf})")

    def _save_state(self) -> None:
        from node.demo_federation import NODES, SERVER_LOG, save_state

        nodes = {}
        for node in NODES:
            server = self.servers.get(node.node_id)
            address = self.addresses[node.node_id]
            nodes[node.node_id] = {
                **address, "url": f"http://{address['host']}:{address['port']}",
                "level": node.level, "org_unit": node.org_unit_code, "parent": node.parent_id,
                "pid": server.pid if server else None,
                "log": str(self.folder / node.node_id / SERVER_LOG)}
        self.state = {"nodes": nodes}
        save_state(self.folder, self.state)

    def supervise(self) -> int:
        """Wait until every node has stopped, reporting each one that stops; return 1."""
        running = list(self.servers.values())
        while running:
            time.sleep(SUPERVISE_INTERVAL_SECONDS)
            for server in list(running):
                code = server.exit_code()
                if code is None:
                    continue
                running.remove(server)
                logger.error("demo node stopped unexpectedly",
                             extra={"node_id": server.name, "pid": server.pid,
                                    "exit_code": code})
                click.echo(f"Node {server.name} (pid {server.pid}) stopped unexpectedly with "
                           f"exit code {code}; the other nodes keep running. Last lines of "
                           f"{server.log_path}:\n{log_tail(server.log_path)}", err=True)
        click.echo("Every demo node has stopped.", err=True)
        return 1

    def stop(self) -> None:
        """Stop the running nodes: signal all of them, children first, then wait for each."""
        running = [server for server in reversed(list(self.servers.values()))
                   if server.exit_code() is None]
        for server in running:
            server.terminate()
        for server in running:
            code = server.stop()
            click.echo(f"Stopped node {server.name} (exit code {code})")


def run_federated(folder: Path, host: str | None, port: int, no_serve: bool,
                  verbose: bool) -> int:
    """Run the four-node demo in `folder` until Ctrl+C (or, with `no_serve`, prepare it)."""
    folder.mkdir(parents=True, exist_ok=True)
    # Each node reads only its own settings file; a THEODOI_* variable meant
    # for another node would override them all.
    for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
        del os.environ[name]
    file_log, stderr_levels = _start_file_log(folder / DEMO_LOG, verbose)
    previous_term = signal.signal(signal.SIGTERM, _raise_stopped)
    # A shell that starts the demo in the background ignores SIGINT for it;
    # the demo still stops its nodes on SIGINT.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    demo: FederatedDemo | None = None
    exit_code = 0
    try:
        click.echo(f"Demo federation in {folder}")
        demo = FederatedDemo(folder, host=host, base_port=port)
        demo.prepare()
        demo.print_nodes()
        if no_serve:
            click.echo(f"Demo nodes ready in {folder}; `theodoi demo {folder}` serves them again")
            return 0
        click.echo("Demo ready: 4 nodes serving. Ctrl+C stops them.")
        exit_code = demo.supervise()
    except (KeyboardInterrupt, DemoStopped):
        click.echo("\nStopping the demo nodes...")
    finally:
        if demo is not None:
            demo.stop()
            if not no_serve:
                _say_folder_stays(folder)
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
        logging.getLogger().removeHandler(file_log)
        file_log.close()
        for handler, level in stderr_levels.items():
            handler.setLevel(level)
    return exit_code


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--single", is_flag=True,
              help="Run one central node instead of the federation of four nodes.")
@click.option("--host", default=None,
              help="Address to listen on [default: 127.0.0.1; each federated node gets its own "
                   "loopback address 127.0.0.N where the system allows it].")
@click.option("--port", default=0, type=int,
              help="TCP port; 0 picks free ones. The federated nodes use PORT to PORT+3.")
@click.option("--no-serve", is_flag=True,
              help="Prepare the node(s), print the accounts, stop and exit.")
def demo(folder: Path | None, single: bool, host: str | None, port: int, no_serve: bool) -> None:
    """Run a demo in FOLDER (a new temporary folder by default) with the real documents."""
    from node.core import cli_support

    folder = (folder or Path(tempfile.mkdtemp(prefix="theodoi-demo-"))).resolve()
    if single:
        run_single(folder, host or "127.0.0.1", port, no_serve)
        return
    exit_code = run_federated(folder, host, port, no_serve, cli_support.VERBOSE)
    if exit_code:
        raise SystemExit(exit_code)
