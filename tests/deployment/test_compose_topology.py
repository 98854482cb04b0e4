"""The services of docker/compose.yaml run as processes on this machine, without Docker.

No Docker engine runs on the test machines, so neither the image build nor
`docker compose up` is exercised here. Instead the services central, init,
tu01 and tu79 start in the order of their `depends_on`. Each runs through
the script that the Dockerfile installs as its entrypoint
(docker/node-entrypoint.sh or docker/enrol-children.sh) with the compose
`command` or the Dockerfile CMD. Its environment is the one compose gives
the container: the Dockerfile's ENV, then the service's `environment`, with
test values for the `${VAR:?...}` variables that docker/env.example lists.
Only what differs between a container and a host is rewritten:

- the database host `postgres:5432` becomes the test server, with a fresh
  database per compose database (the compose user and password are dropped);
- a URL naming a service (`http://central:8000`) becomes that service's
  loopback address, and a published port becomes a free loopback port;
- each volume becomes a temporary folder, and the paths inside volumes
  (THEODOI_INSTANCE_PATH, and the enrolment folder through ENROLMENT_DIR and
  ENROLMENT_TOKEN_FILE) point into it;
- `serve --host 0.0.0.0` listens on 127.0.0.1 instead;
- the scripts run with mawk, the awk of the Debian-based python image, where
  this machine has it.

The Dockerfile HEALTHCHECK command decides when a service is healthy. The
second start of a province runs its entrypoint again beside the serving
first instance, with another command (see that test).

The topology uses PostgreSQL by design (the compose file has no SQLite
node), so the module runs in the PostgreSQL run of the suite only. There a
missing server fails the run, as everywhere in the suite.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from node.core.db import make_engine
from tests.conftest import DEFAULT_POSTGRES_URL, database_kind
from tests.deployment.container_files import (
    DOCKER_DIR,
    REPO_ROOT,
    Dockerfile,
    dependency_order,
    depends_on_conditions,
    load_compose,
    read_dockerfile,
    read_env_file,
    service_environment,
)

pytestmark = pytest.mark.skipif(
    database_kind() != "postgresql",
    reason="the compose topology runs on PostgreSQL only; it runs in the PostgreSQL run")

SERVICES = ("central", "init", "tu01", "tu79")
PROVINCES = {"tu01": ("tu01-ha-noi", "TU01"), "tu79": ("tu79-ho-chi-minh", "TU79")}
# Generous limits for a loaded 2-core machine; a healthy run needs a fraction.
HEALTHY_WITHIN_SECONDS = 120
COMMAND_TIMEOUT_SECONDS = 120
DIRECTIVE_APPLIED_WITHIN_SECONDS = 30
# Which variable of which script sets the path of a folder that compose mounts,
# and the default that the script falls back to inside the container.
SCRIPT_PATH_VARIABLES = {
    "ENROLMENT_DIR": DOCKER_DIR / "enrol-children.sh",
    "ENROLMENT_TOKEN_FILE": DOCKER_DIR / "node-entrypoint.sh",
}


def reserve_port() -> socket.socket:
    """Bind a socket to a free loopback port. While it stays open, neither another
    server nor an outgoing connection's source port takes the port."""
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reservation.bind(("127.0.0.1", 0))
    return reservation


def script_default(variable: str) -> str:
    """Return the default of `${VARIABLE:-default}` in the script that reads it."""
    script = SCRIPT_PATH_VARIABLES[variable].read_text(encoding="utf-8")
    # The default may itself contain `${NAME}`.
    match = re.search(r"\$\{" + variable + r":-((?:[^}$]|\$\{[^}]*\}|\$(?!\{))*)\}", script)
    assert match, f"{SCRIPT_PATH_VARIABLES[variable].name} gives {variable} no default"
    return match.group(1)


@dataclass
class Service:
    """One compose service run as a host process."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    ports: dict[int, int]  # container port -> loopback port
    healthcheck: list[str] | None
    log_path: Path
    # How many leading words of `argv` are the entrypoint, the rest being the command.
    entrypoint_length: int = 1
    process: subprocess.Popen | None = None

    def command_argv(self, command: tuple[str, ...], *, entrypoint: bool) -> list[str]:
        """Return the argv of `docker compose exec` (or, with `entrypoint`, of
        `docker compose run`) running `command` in this service."""
        if entrypoint:
            return [*self.argv[:self.entrypoint_length], *command]
        return list(command)

    def run(self, *command: str, entrypoint: bool = False) -> subprocess.CompletedProcess:
        """Run a command in the service's environment and wait for it."""
        return run_together((self, command, entrypoint))[0]

    def healthy(self) -> bool:
        assert self.healthcheck is not None, f"{self.name} has no healthcheck"
        try:
            probe = subprocess.run(self.healthcheck, env=self.environment,
                                   capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            # Docker counts a probe that times out as a failed one.
            return False
        return probe.returncode == 0

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]


@dataclass
class Topology:
    services: dict[str, Service] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    volumes: dict[str, Path] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)


class ServiceBuilder:
    """Turns a compose service into a host process description, rewriting container details."""

    def __init__(self, compose: dict, dockerfile: Dockerfile, root: Path, admin_url: str) -> None:
        self.compose = compose
        self.dockerfile = dockerfile
        self.root = root
        self.admin_url = make_url(admin_url)
        self.run_id = uuid.uuid4().hex[:8]
        self.volumes: dict[str, Path] = {}
        self.databases: dict[str, str] = {}
        self.ports: dict[str, dict[int, int]] = {}
        self.reservations: dict[str, list[socket.socket]] = {}
        # The scripts run with the image's awk, mawk (the awk of Debian, on which
        # the python:*-slim images are built), where this machine has it.
        # NOTE: without mawk the host's awk runs them.
        self.tools = root / "image-tools"
        self.tools.mkdir()
        if shutil.which("mawk"):
            (self.tools / "awk").symlink_to(shutil.which("mawk"))
        for name, service in compose["services"].items():
            self.ports[name] = {}
            self.reservations[name] = []
            for mapping in service.get("ports", []):
                host_address, _host_port, container_port = mapping.split(":")
                assert host_address == "127.0.0.1", f"{name} publishes {mapping} beyond loopback"
                reservation = reserve_port()
                self.reservations[name].append(reservation)
                self.ports[name][int(container_port)] = reservation.getsockname()[1]

    def release_ports(self, name: str) -> None:
        """Free the service's ports for it to bind, right before it starts."""
        for reservation in self.reservations.pop(name, []):
            reservation.close()

    def mounts(self, name: str) -> dict[str, Path]:
        """Return {container path: host folder} of the service's volumes."""
        mounts: dict[str, Path] = {}
        for volume in self.compose["services"][name].get("volumes", []):
            source, target = volume.split(":")[:2]
            assert source in self.compose["volumes"], f"{name}: {source} is not a named volume"
            folder = self.volumes.setdefault(source, self.root / "volumes" / source)
            folder.mkdir(parents=True, exist_ok=True)
            mounts[target] = folder
        # A VOLUME of the image that the service does not mount gets an anonymous volume.
        for instruction in self.dockerfile.all("VOLUME"):
            for target in instruction.exec_form() or instruction.arguments.split():
                if target not in mounts:
                    folder = self.root / "anonymous" / name / PurePosixPath(target).name
                    folder.mkdir(parents=True, exist_ok=True)
                    mounts[target] = folder
        return mounts

    def host_path(self, path: str, mounts: dict[str, Path]) -> str | None:
        for target, folder in mounts.items():
            if path == target or path.startswith(target + "/"):
                return str(folder) + path[len(target):]
        return None

    def database_url(self, url_text: str) -> str:
        url = make_url(url_text)
        assert (url.host, url.port) == ("postgres", 5432), url_text
        fresh = self.databases.setdefault(url.database,
                                          f"theodoi_compose_{self.run_id}_{url.database}")
        return (url.set(host=self.admin_url.host, port=self.admin_url.port,
                        username=self.admin_url.username, password=self.admin_url.password,
                        database=fresh)
                .render_as_string(hide_password=False))

    def service_url(self, value: str) -> str:
        parts = urlsplit(value)
        if parts.hostname not in self.compose["services"] or parts.port is None:
            return value
        port = self.ports[parts.hostname][parts.port]
        return parts._replace(netloc=f"127.0.0.1:{port}").geturl()

    def build(self, name: str) -> Service:
        service = self.compose["services"][name]
        mounts = self.mounts(name)
        environment = {
            "PATH": f"{Path(sys.executable).parent}:{self.tools}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.root / "home"),
            "LANG": "C.UTF-8",
        }
        environment |= self.dockerfile.environment() | service_environment(service)
        for variable, value in list(environment.items()):
            if variable == "THEODOI_DATABASE_URL":
                environment[variable] = self.database_url(value)
            elif value.startswith("/"):
                environment[variable] = self.host_path(value, mounts) or value
            elif "://" in value:
                environment[variable] = self.service_url(value)
        # The scripts' default paths lie in a volume; the same path on the host is
        # given through the variable each script reads.
        for variable in SCRIPT_PATH_VARIABLES:
            default = script_default(variable).replace(
                "${THEODOI_NODE_ORG_UNIT}", environment.get("THEODOI_NODE_ORG_UNIT", ""))
            on_host = self.host_path(default, mounts)
            if on_host is not None:
                environment[variable] = on_host

        scripts = self.dockerfile.installed_scripts()
        entrypoint = service.get("entrypoint") or self.dockerfile.last("ENTRYPOINT").exec_form()
        command = (service["command"] if "command" in service
                   else self.dockerfile.last("CMD").exec_form())
        assert entrypoint[0] in scripts, f"{name}: entrypoint {entrypoint[0]} is not installed"
        argv = [str(scripts[entrypoint[0]]), *entrypoint[1:],
                *self.serve_on_loopback(name, command)]

        healthcheck = None
        disabled = (service.get("healthcheck") or {}).get("disable", False)
        if not disabled and self.ports[name]:
            healthcheck = [self.loopback_address(name, word)
                           for word in self.dockerfile.healthcheck_command()]
        return Service(name=name, argv=argv, environment=environment, ports=self.ports[name],
                       healthcheck=healthcheck, log_path=self.root / f"{name}.log",
                       entrypoint_length=len(entrypoint))

    def serve_on_loopback(self, name: str, command: list[str]) -> list[str]:
        rewritten = list(command)
        for index, word in enumerate(rewritten[:-1]):
            if word == "--host" and rewritten[index + 1] == "0.0.0.0":
                rewritten[index + 1] = "127.0.0.1"
            if word == "--port":
                rewritten[index + 1] = str(self.ports[name][int(rewritten[index + 1])])
        return rewritten

    def loopback_address(self, name: str, word: str) -> str:
        for container_port, port in self.ports[name].items():
            word = word.replace(f"127.0.0.1:{container_port}", f"127.0.0.1:{port}")
        return word


def wait_until(condition, service: Service, state: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if service.process is not None and service.process.poll() is not None:
            pytest.fail(f"{service.name} exited with {service.process.returncode} before it "
                        f"was {state}:\n{service.log()}")
        time.sleep(0.5)
    pytest.fail(f"{service.name} was not {state} within {HEALTHY_WITHIN_SECONDS} s:\n"
                f"{service.log()}")


def wait_for_condition(dependency: Service, condition: str) -> None:
    """Wait as compose does before starting a service that depends on `dependency`."""
    if condition == "service_healthy":
        wait_until(dependency.healthy, dependency, "healthy")
    elif condition == "service_completed_successfully":
        process = dependency.process
        assert process is not None
        try:
            process.wait(timeout=HEALTHY_WITHIN_SECONDS)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{dependency.name} did not finish:\n{dependency.log()}")
        assert process.returncode == 0, f"{dependency.name} failed:\n{dependency.log()}"
    else:
        assert condition == "service_started", condition


def stop_all(services: list[Service]) -> None:
    """Stop the services' processes by pid: all at once, then wait for each."""
    running = [service.process for service in services
               if service.process is not None and service.process.poll() is None]
    for process in running:
        process.terminate()
    for process in running:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # The process leads its own group, so this reaches its gunicorn workers too.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """Start central, init, tu01 and tu79 as compose would; stop them and drop their databases."""
    root = tmp_path_factory.mktemp("compose")
    (root / "home").mkdir()
    # Test values for the variables docker/env.example lists: keys, and a
    # password of letters and digits.
    variables = {name: uuid.uuid4().hex + uuid.uuid4().hex for name in read_env_file()}
    compose = load_compose(variables)
    admin_url = os.environ.get("THEODOI_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    builder = ServiceBuilder(compose, read_dockerfile(), root, admin_url)
    topology = Topology()
    for name in SERVICES:
        topology.services[name] = builder.build(name)
    topology.volumes = builder.volumes
    topology.database_urls = {name: service.environment["THEODOI_DATABASE_URL"]
                              for name, service in topology.services.items()}

    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        try:
            with admin.connect() as connection:
                for database in builder.databases.values():
                    connection.execute(text(f'CREATE DATABASE "{database}"'))
        except Exception as exc:  # noqa: BLE001 - any failure means the server is unusable
            pytest.fail(f"PostgreSQL at {admin_url} is not reachable "
                        f"({exc.__class__.__name__}: {exc}); start it or set "
                        "THEODOI_TEST_POSTGRES_URL", pytrace=False)
        for name in dependency_order(compose["services"], list(SERVICES)):
            service = topology.services[name]
            for dependency, condition in depends_on_conditions(compose["services"][name]).items():
                if dependency in topology.services:
                    wait_for_condition(topology.services[dependency], condition)
                # The postgres service is the test server, reachable once the
                # databases above exist.
            builder.release_ports(name)
            with service.log_path.open("wb") as log:
                service.process = subprocess.Popen(
                    service.argv, env=service.environment, cwd=REPO_ROOT, stdout=log,
                    stderr=subprocess.STDOUT, start_new_session=True)
            topology.started.append(name)
        for name in PROVINCES:
            service = topology.services[name]
            wait_until(service.healthy, service, "healthy")
        yield topology
    finally:
        for name in list(builder.reservations):
            builder.release_ports(name)
        stop_all(list(topology.services.values()))
        with admin.connect() as connection:
            for database in builder.databases.values():
                connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def link_rows(output: str) -> list[dict[str, str]]:
    """Read the tab-separated table of `theodoi federation links` by its header."""
    lines = [line for line in output.splitlines() if "\t" in line]
    assert lines, f"no table in the links output:\n{output}"
    return list(csv.DictReader(lines, delimiter="\t"))


def run_together(*calls: tuple[Service, tuple[str, ...], bool]
                 ) -> list[subprocess.CompletedProcess]:
    """Run commands in several services at the same time; return their results in order.

    A command still running after COMMAND_TIMEOUT_SECONDS is killed with its
    process group, and the test fails."""
    started: list[tuple[list[str], subprocess.Popen]] = []
    results = []
    try:
        for service, command, entrypoint in calls:
            argv = service.command_argv(command, entrypoint=entrypoint)
            started.append((argv, subprocess.Popen(
                argv, env=service.environment, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True)))
        for argv, process in started:
            try:
                stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{' '.join(argv)} did not finish within "
                            f"{COMMAND_TIMEOUT_SECONDS} s")
            results.append(subprocess.CompletedProcess(argv, process.returncode, stdout, stderr))
    finally:
        for _argv, process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    return results


def test_services_start_after_dependencies(topology: Topology) -> None:
    # init needs the central node running to create tokens; the provinces need the tokens.
    started = topology.started
    assert started[:2] == ["central", "init"]
    assert sorted(started[2:]) == ["tu01", "tu79"]
    assert topology.services["init"].process.returncode == 0
    for name in ("central", "tu01", "tu79"):
        assert topology.services[name].process.poll() is None, f"{name} is not running"


def test_provinces_linked_to_centre(topology: Topology) -> None:
    services = topology.services
    central, tu01, tu79 = run_together(
        *((services[name], ("theodoi", "federation", "links"), False)
          for name in ("central", "tu01", "tu79")))
    assert central.returncode == 0, central.stderr
    children = {(row["node"], row["relation"], row["org_unit"], row["status"])
                for row in link_rows(central.stdout)}
    assert children == {("tu01-ha-noi", "child", "TU01", "active"),
                        ("tu79-ho-chi-minh", "child", "TU79", "active")}
    for result in (tu01, tu79):
        assert result.returncode == 0, result.stderr
        rows = [(row["node"], row["relation"], row["org_unit"], row["status"])
                for row in link_rows(result.stdout)]
        assert rows == [("central", "parent", "VPTW", "active")]


def test_join_pins_published_fingerprint(topology: Topology) -> None:
    # docs/deployment.md: `join` prints the fingerprint of the centre's key, to
    # compare with the one the centre publishes at /federation/v1/info.
    central = topology.services["central"]
    with urllib.request.urlopen(
            f"http://127.0.0.1:{central.ports[8000]}/federation/v1/info", timeout=10) as reply:
        published = json.load(reply)["fingerprint"]
    for name in PROVINCES:
        log = topology.services[name].log_path.read_text(encoding="utf-8")
        assert f"Pinned key fingerprint {published}." in log, name


def test_enrolment_tokens_consumed(topology: Topology) -> None:
    init_log = topology.services["init"].log_path.read_text(encoding="utf-8")
    for _node_id, org_unit in PROVINCES.values():
        assert f"enrolment token for {org_unit} written" in init_log
    enrolment = topology.volumes["enrolment"]
    assert sorted(path.name for path in enrolment.iterdir()) == []


def test_private_keys_in_instance_volumes(topology: Topology) -> None:
    from node.federation.identity import PRIVATE_KEY_FILE

    # docs/deployment.md: each node keeps its private key in its own named volume.
    for volume in ("central-data", "tu01-data", "tu79-data"):
        assert (topology.volumes[volume] / PRIVATE_KEY_FILE).is_file(), volume
    assert PRIVATE_KEY_FILE in (DOCKER_DIR.parent / "docs" / "deployment.md").read_text(
        encoding="utf-8")


def test_second_start_does_not_join_again(topology: Topology) -> None:
    """A restarted province skips the join, and a rerun of init writes no token.

    The restart runs the province's entrypoint with `true` in place of
    `theodoi serve`: the entrypoint decides on joining before it runs its
    command, and the first instance keeps serving on the port.
    """
    services = topology.services
    tu01, tu79, init = run_together(
        (services["tu01"], ("true",), True),
        (services["tu79"], ("true",), True),
        (services["init"], (), True))
    for result in (tu01, tu79):
        # The token file is gone, so a join attempt would exit 1.
        assert result.returncode == 0, result.stderr
        assert "Node initialised" in result.stdout
        assert "Joined parent" not in result.stdout
    assert init.returncode == 0, init.stderr
    for _node_id, org_unit in PROVINCES.values():
        assert f"the node of {org_unit} is already linked to central" in init.stdout
    assert sorted(path.name for path in topology.volumes["enrolment"].iterdir()) == []


def test_directive_reaches_province(topology: Topology, tmp_path: Path) -> None:
    from node.local_tasks.models import Document, OrgUnit, Task, TaskAgency

    table = tmp_path / "ke-hoach.csv"
    with table.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([
            ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời gian hoàn thành"],
            ["1", "Xây dựng kế hoạch chuyển đổi số của Thành ủy", "Thành ủy Hà Nội",
             "30/06/2027"],
        ])
    central, tu01 = topology.services["central"], topology.services["tu01"]
    imported = central.run("theodoi", "import", str(table), "--reference", "12-KH/VPTW",
                           "--issued-on", "01/12/2026", "--kind", "plan",
                           "--summary", "Kế hoạch chuyển đổi số",
                           "--issuer", "Văn phòng Trung ương Đảng")
    assert imported.returncode == 0, imported.stdout + imported.stderr

    engine = make_engine(topology.database_urls["tu01"])
    query = (select(Document.reference, Task.content, OrgUnit.code, TaskAgency.role)
             .join(Task, Task.document_id == Document.id)
             .join(TaskAgency, TaskAgency.task_id == Task.id)
             .join(OrgUnit, OrgUnit.id == TaskAgency.org_unit_id))
    deadline = time.monotonic() + DIRECTIVE_APPLIED_WITHIN_SECONDS
    try:
        while True:
            # `docker compose exec tu01 theodoi federation sync` pulls at once.
            # The node's own sender may pull first, or hold the sending lease so
            # that the sync does nothing and is repeated.
            # Its exit status also reports pushes to the centre, so it is not checked.
            synced = tu01.run("theodoi", "federation", "sync")
            with engine.connect() as connection:
                rows = connection.execute(query).all()
            if rows or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("12-KH/VPTW", "Xây dựng kế hoạch chuyển đổi số của Thành ủy", "TU01", "lead")], (
        f"last sync:\n{synced.stdout}{synced.stderr}")
