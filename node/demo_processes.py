"""Node servers of the federated demo: start `theodoi serve` processes, watch and stop them."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from node.core.settings import CONFIG_ENV, ENV_PREFIX

logger = logging.getLogger(__name__)

START_TIMEOUT_SECONDS = 60
# gunicorn finishes open requests after SIGTERM; a node still running after
# this long is killed with its whole process group.
STOP_TIMEOUT_SECONDS = 20
LOG_TAIL_LINES = 12


def serve_command() -> list[str]:
    """Return the command that runs `theodoi` with this interpreter."""
    script = Path(sys.executable).parent / "theodoi"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from node.cli import main; main()"]


def node_environment(config_path: Path) -> dict[str, str]:
    """Return this process's environment with THEODOI_CONFIG naming the node's file.

    Other THEODOI_* variables are removed, because a database URL or node id
    set for another node would override every demo node's own settings.
    """
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(ENV_PREFIX)}
    environment[CONFIG_ENV] = str(config_path)
    return environment


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Return the last `lines` lines of the log file at `path`, or a note that it is missing."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(log {path} could not be read: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class NodeServer:
    """One node served by `theodoi serve` in its own process group, logging to a file."""

    name: str
    config_path: Path
    host: str
    port: int
    log_path: Path
    workers: int = 1
    process: subprocess.Popen | None = field(default=None, repr=False)
    # A second SIGTERM during gunicorn's shutdown would end it without cleanup.
    terminated: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> None:
        """Start the server process; its output is appended to `log_path`."""
        command = [*serve_command(), "serve", "--host", self.host, "--port", str(self.port),
                   "--workers", str(self.workers)]
        with self.log_path.open("ab") as log:
            # A new session keeps Ctrl+C in the terminal away from the node, so
            # the demo stops the nodes itself, children first.
            self.process = subprocess.Popen(
                command, env=node_environment(self.config_path), stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.config_path.parent, start_new_session=True)
        logger.info("demo node starting", extra={"node_id": self.name, "pid": self.process.pid,
                                                 "url": self.url})

    def wait_until_serving(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until GET /federation/v1/info responds; raise RuntimeError naming the log."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        info_url = f"{self.url}/federation/v1/info"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"node {self.name} exited with code {self.process.returncode} while "
                    f"starting; last lines of {self.log_path}:\n{log_tail(self.log_path)}")
            try:
                with urllib.request.urlopen(info_url, timeout=2):
                    logger.info("demo node serving", extra={"node_id": self.name,
                                                            "url": self.url})
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"node {self.name} did not respond at {info_url} within "
                           f"{timeout:.0f} s; last lines of {self.log_path}:\n"
                           f"{log_tail(self.log_path)}")

    def exit_code(self) -> int | None:
        """Return the exit code once the process has ended, else None."""
        return self.process.poll() if self.process else None

    def terminate(self) -> None:
        """Ask the server to stop (SIGTERM) without waiting."""
        if self.process is not None and self.process.poll() is None and not self.terminated:
            self.process.terminate()
            self.terminated = True

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """Stop the server (SIGTERM, then SIGKILL of its process group) and return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("demo node did not stop, killing it",
                               extra={"node_id": self.name, "pid": self.process.pid})
                _kill_group(self.process)
        logger.info("demo node stopped", extra={"node_id": self.name, "pid": self.process.pid,
                                                "exit_code": self.process.returncode})
        return self.process.returncode


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the process group that `process` leads: the gunicorn arbiter and its workers.

    Called only while the leader is still running, so the group id is still ours.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        logger.error("demo node process did not end after SIGKILL", extra={"pid": process.pid})
