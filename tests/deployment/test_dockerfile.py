"""Static checks of docker/Dockerfile, its .dockerignore and the compose settings.

The image build itself is not exercised: no Docker engine runs on the test
machines, so `docker build` and `docker compose up` cannot run here. These
tests check what can be checked without building. The files the Dockerfile
copies must exist and reach the build context, and the scripts it installs
must be valid shell and executable. Its HEALTHCHECK, CMD and the THEODOI_*
variables of compose.yaml must match what a node serves and reads.
test_compose_topology.py runs the compose services as host processes.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from node.cli import main, serve
from node.core.settings import ENV_PREFIX, Settings, load_settings, replace
from tests.deployment.container_files import (
    COMPOSE_FILE,
    DOCKER_DIR,
    ENV_EXAMPLE,
    POSTGRES_INIT_SQL,
    REPO_ROOT,
    load_compose,
    parse_dockerignore,
    read_dockerfile,
    read_dockerignore,
    read_env_file,
    service_environment,
    variables_referenced,
)

NODE_SERVICES = ("central", "init", "tu01", "tu79")


def git_files(*paths: str) -> list[str]:
    """Return the files tracked by git under `paths` (relative to the repository root)."""
    result = subprocess.run(["git", "ls-files", "-z", "--", *paths], cwd=REPO_ROOT,
                            capture_output=True, check=True)
    return [name.decode() for name in result.stdout.split(b"\0") if name]


def git_mode(path: str) -> str:
    result = subprocess.run(["git", "ls-files", "-s", "--", path], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True)
    assert result.stdout, f"{path} is not tracked by git"
    return result.stdout.split()[0]


@pytest.fixture(scope="module")
def dockerfile():  # noqa: ANN201
    return read_dockerfile()


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose(read_env_file(ENV_EXAMPLE))


def build_context(compose: dict) -> Path:
    """Return the build context of the node image as the compose file gives it."""
    build = compose["x-node"]["build"]
    return (COMPOSE_FILE.parent / build["context"]).resolve()


def test_compose_builds_from_repository_root(compose: dict) -> None:
    build = compose["x-node"]["build"]
    assert build_context(compose) == REPO_ROOT
    assert (REPO_ROOT / build["dockerfile"]).is_file()
    for name in NODE_SERVICES:
        assert compose["services"][name]["build"] == build, name


def test_copy_sources_exist(dockerfile) -> None:  # noqa: ANN001
    copies = dockerfile.copies()
    assert copies, "the Dockerfile copies nothing"
    for sources, _destination in copies:
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY source {source} does not exist"
            assert git_files(source), f"COPY source {source} has no file tracked by git"


def test_dockerignore_matcher() -> None:
    # Cases from the .dockerignore rules: `**` spans folders, `*` stays within
    # one, a matching folder excludes everything below it, `!` re-includes.
    patterns = parse_dockerignore("**/*.pyc\ninstance\ndocs/*.md\n!docs/keep.md\n")
    assert patterns.excludes("node/core/settings.pyc")
    assert patterns.excludes("settings.pyc")
    assert patterns.excludes("instance/theodoi.sqlite3")
    assert not patterns.excludes("node/instance.py")
    assert patterns.excludes("docs/deployment.md")
    assert not patterns.excludes("docs/keep.md")
    assert not patterns.excludes("docs/sub/deployment.md")


def test_dockerignore_keeps_copied_files(dockerfile) -> None:  # noqa: ANN001
    ignored = read_dockerignore()
    copied = [source for sources, _ in dockerfile.copies() for source in sources]
    files = git_files(*copied)
    assert len(files) > 100, "fewer tracked files under the COPY sources than expected"
    left_out = [name for name in files if ignored.excludes(name)]
    assert left_out == [], "Dockerfile.dockerignore leaves out files the Dockerfile copies"


def test_dockerignore_leaves_out_secrets_and_local_state() -> None:
    ignored = read_dockerignore()
    for path in ("docker/.env", ".git/config", ".venv/bin/python", "instance/theodoi.sqlite3"):
        assert ignored.excludes(path), path


def test_installed_scripts_are_valid_and_executable(dockerfile) -> None:  # noqa: ANN001
    scripts = dockerfile.installed_scripts()
    assert set(scripts) >= {"theodoi-node", "theodoi-enrol-children"}
    run_lines = " && ".join(item.arguments for item in dockerfile.all("RUN"))
    chmod_targets = {target for mode, targets in
                     re.findall(r"chmod\s+(\S+)\s+([^&;|]+)", run_lines)
                     if "x" in mode or int(mode, 8) & 0o111 == 0o111
                     for target in targets.split()}
    for command, script in scripts.items():
        relative = str(script.relative_to(REPO_ROOT))
        checked = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
        assert checked.returncode == 0, f"sh -n {relative}: {checked.stderr}"
        assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n"), relative
        executable = git_mode(relative) == "100755"
        assert executable or f"/usr/local/bin/{command}" in chmod_targets, (
            f"{relative} is neither executable in git nor made executable by a RUN line")


def test_entrypoints_are_installed_scripts(dockerfile, compose: dict) -> None:  # noqa: ANN001
    scripts = dockerfile.installed_scripts()
    entrypoint = dockerfile.last("ENTRYPOINT").exec_form()
    assert entrypoint is not None and entrypoint[0] in scripts
    for name in NODE_SERVICES:
        service_entrypoint = compose["services"][name].get("entrypoint")
        if service_entrypoint is not None:
            assert service_entrypoint[0] in scripts, name


def test_cmd_is_valid_serve_command(dockerfile) -> None:  # noqa: ANN001
    command = dockerfile.last("CMD").exec_form()
    assert command is not None, "CMD is not in exec (JSON) form"
    assert command[:2] == ["theodoi", "serve"]
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for word in command[2:]:
        if word.startswith("--"):
            assert word in help_text, f"`theodoi serve --help` lists no {word}"
    # Parsing the arguments checks their values too, without serving.
    context = serve.make_context("serve", command[2:])
    assert context.params["host"] == "0.0.0.0"
    assert context.params["port"] == 8000


def test_healthcheck_url_is_served(dockerfile, settings, engine, tmp_path: Path) -> None:  # noqa: ANN001
    from node import create_app
    from node.federation.identity import ensure_node_keys

    command = dockerfile.healthcheck_command()
    urls = [match for word in command for match in re.findall(r"https?://[^'\"\s]+", word)]
    assert len(urls) == 1, command
    # A node with its key pair, as `theodoi init` leaves it in the entrypoint.
    node_settings = replace(settings, instance_path=tmp_path)
    ensure_node_keys(node_settings)
    client = create_app(node_settings).test_client()
    response = client.get(urlsplit(urls[0]).path)
    assert response.status_code == 200
    assert "public_key" in response.get_json()


def test_ports_agree(dockerfile, compose: dict) -> None:  # noqa: ANN001
    serve_port = int(serve.make_context("serve", dockerfile.last("CMD").exec_form()[2:])
                     .params["port"])
    health_url = re.search(r"https?://[^'\"\s]+", " ".join(dockerfile.healthcheck_command()))
    assert urlsplit(health_url.group(0)).port == serve_port
    assert urlsplit(health_url.group(0)).hostname == "127.0.0.1"
    assert int(dockerfile.last("EXPOSE").arguments) == serve_port
    # docs/deployment.md and the compose file's header publish the nodes on
    # 127.0.0.1 only, on ports 8000 (central), 8001 (TU01) and 8002 (TU79).
    for name, published in (("central", 8000), ("tu01", 8001), ("tu79", 8002)):
        mappings = compose["services"][name]["ports"]
        assert len(mappings) == 1, name
        host_address, host_port, container_port = mappings[0].split(":")
        assert host_address == "127.0.0.1", f"{name} is published beyond this machine"
        assert int(host_port) == published, name
        assert int(container_port) == serve_port, name
    for name in ("tu01", "tu79"):
        parent = urlsplit(service_environment(compose["services"][name])["PARENT_URL"])
        assert (parent.hostname, parent.port) == ("central", serve_port), name


def theodoi_variables(dockerfile, compose: dict) -> dict[str, str]:  # noqa: ANN001
    """Return every THEODOI_* variable the image, compose.yaml and env.example set."""
    variables = {name: value for name, value in dockerfile.environment().items()}
    for name in NODE_SERVICES:
        variables.update(service_environment(compose["services"][name]))
    variables.update(read_env_file(ENV_EXAMPLE))
    return {name: value for name, value in variables.items() if name.startswith(ENV_PREFIX)}


def test_theodoi_variables_are_settings(dockerfile, compose: dict) -> None:  # noqa: ANN001
    variables = theodoi_variables(dockerfile, compose)
    assert {"THEODOI_DATABASE_URL", "THEODOI_NODE_ID", "THEODOI_INSTANCE_PATH"} <= set(variables)
    fields = {item.name for item in dataclasses.fields(Settings)}
    for name, value in variables.items():
        setting = name.removeprefix(ENV_PREFIX).lower()
        assert setting in fields, f"{name} names no setting of the node"
        # The loader must read the variable: the setting takes its value.
        loaded = getattr(load_settings(environ={name: value}), setting)
        assert str(loaded) == value, f"the settings loader ignores {name}"


def test_service_settings_load(dockerfile, compose: dict) -> None:  # noqa: ANN001
    for name in NODE_SERVICES:
        environment = dockerfile.environment() | service_environment(compose["services"][name])
        settings = load_settings(environ=environment)
        assert settings.database_url.startswith("postgresql://"), name
        assert settings.secret_key, name


def test_env_example_sets_every_compose_variable() -> None:
    referenced = variables_referenced(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert referenced == set(read_env_file(ENV_EXAMPLE))


def test_postgres_service_creates_node_databases(compose: dict) -> None:
    from sqlalchemy.engine import make_url

    postgres = compose["services"]["postgres"]
    created = {service_environment(postgres)["POSTGRES_DB"]}
    created |= set(re.findall(r"CREATE DATABASE (\w+);",
                              POSTGRES_INIT_SQL.read_text(encoding="utf-8")))
    mounted = [volume.split(":")[0] for volume in postgres["volumes"]]
    assert "./" + str(POSTGRES_INIT_SQL.relative_to(DOCKER_DIR)) in mounted
    for name in NODE_SERVICES:
        url = make_url(service_environment(compose["services"][name])["THEODOI_DATABASE_URL"])
        assert (url.host, url.port) == ("postgres", 5432), name
        assert url.username == service_environment(postgres)["POSTGRES_USER"], name
        assert url.database in created, f"{name}: nothing creates database {url.database}"


def test_copies_data_read_beside_package(dockerfile) -> None:  # noqa: ANN001
    from node.core.settings import DEFAULT_CALENDAR_DIR, DEFAULT_TRUST_DIR
    from node.evaluation.config import DEFAULT_DIR as EVALUATION_DIR
    from node.federation.schemas import SCHEMAS_DIR

    copied = [(REPO_ROOT / source).resolve()
              for sources, _destination in dockerfile.copies() for source in sources]
    # The package is installed in place, so these folders must sit in the image
    # where they sit in the repository.
    for folder in (DEFAULT_CALENDAR_DIR, DEFAULT_TRUST_DIR, EVALUATION_DIR, SCHEMAS_DIR):
        assert folder.is_dir(), folder
        assert any(folder == path or path in folder.parents for path in copied), (
            f"the Dockerfile does not copy {folder.relative_to(REPO_ROOT)}")


def test_copies_keep_repository_layout(dockerfile) -> None:  # noqa: ANN001
    from pathlib import PurePosixPath

    workdir = PurePosixPath(dockerfile.last("WORKDIR").arguments)
    copied_in_place = 0
    for sources, destination in dockerfile.copies():
        target = workdir / destination
        if workdir not in (target, *target.parents):
            continue  # installed elsewhere, such as the scripts in /usr/local/bin
        for source in sources:
            into_folder = destination.endswith("/") or len(sources) > 1
            in_image = target / PurePosixPath(source).name if into_folder else target
            assert in_image == workdir / source, f"COPY {source} lands at {in_image}"
            copied_in_place += 1
    assert copied_in_place >= 4


def test_run_python_snippets_succeed(dockerfile) -> None:  # noqa: ANN001
    # `pip install` needs the network, but the Python run after it at build
    # time can run against this checkout.
    snippets = [code for item in dockerfile.all("RUN")
                for code in re.findall(r'python -c "([^"]+)"', item.arguments)]
    assert snippets, "no RUN line runs Python"
    for code in snippets:
        result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{code}: {result.stderr}"
