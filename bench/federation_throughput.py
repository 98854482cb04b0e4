"""Measure how many exchange messages a parent node applies per second from 50 children.

A parent node runs under `theodoi serve` (gunicorn) on a loopback port. Each
child is a thread of this script with its own key pair, its own SQLite
database (copied from one migrated file) and its own outbox. The script runs
two phases:

1. Throughput: every child queues `--burst` task_status messages, then all
   children push at once with `send_pending`. The figure is the number of
   messages the parent stored divided by the time from the first to the last
   stored message.
2. Delay: every child queues one message, pushes it at once (as the
   background sender does after a commit), waits `--pause` seconds and
   repeats, `--paced` times. The delay of a message runs from its queueing
   at the child to its row in the parent's inbox (`received_at`).

Beside each figure it measures a baseline in the same run: the same kind of
messages queued and then verified and stored by `service.receive_message`
in this process, without HTTP, on a database of the same kind.

    python bench/federation_throughput.py                  # SQLite parent
    python bench/federation_throughput.py --parent-url postgresql://postgres@127.0.0.1:5432/fedbench

The PostgreSQL database must exist and be empty.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from node.cli import initialise_node  # noqa: E402
from node.core.db import make_engine, make_session_factory  # noqa: E402
from node.core.settings import Settings, load_settings  # noqa: E402
from node.federation.client import queue_message  # noqa: E402
from node.federation.delivery import send_pending  # noqa: E402
from node.federation.identity import ensure_node_keys, node_public_key  # noqa: E402
from node.federation.models import InboxMessage, OutboxMessage, Peer  # noqa: E402
from node.federation.service import receive_message  # noqa: E402


def task_status(child: int, index: int) -> dict:
    return {"updates": [{
        "task_ref": f"VPTW/12-NQ/TW/{child}/{index}",
        "reported_state": "completed",
        "completed_at": "2026-03-02T03:00:00Z",
        "result_summary": "Đã hoàn thành, báo cáo kết quả kèm theo",
        "confidentiality": "regular",
        "reported_at": "2026-03-02T04:00:00Z",
        "approved_at": "2026-03-02T05:00:00+07:00",
        "approved_by": "Nguyễn Văn A",
    }]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(directory: Path, database_url: str, node_id: str, level: int,
                 org_unit: str) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "theodoi.toml"
    config.write_text(
        f'instance_path = "instance"\ndatabase_url = "{database_url}"\n'
        f'secret_key = "bench"\nlog_level = "WARNING"\n'
        f'[node]\nid = "{node_id}"\nlevel = {level}\norg_unit = "{org_unit}"\n'
        '[federation]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.5\n'
        'sync_interval_seconds = 0\n', encoding="utf-8")
    return load_settings(config)


@dataclass
class Child:
    settings: Settings
    sessions: object

    def queue(self, index: int, child_number: int) -> None:
        with self.sessions() as session:
            parent = session.scalar(select(Peer))
            queue_message(session, self.settings, parent, "task_status",
                          task_status(child_number, index))
            session.commit()


def make_children(work: Path, count: int, parent_id: str, parent_url: str) -> list[Child]:
    template = work / "child-template.sqlite3"
    template_settings = write_config(work / "template", f"sqlite:///{template}", "template",
                                     1, "TU01")
    initialise_node(template_settings)
    children = []
    for number in range(count):
        directory = work / f"child{number:02d}"
        database = directory / "child.sqlite3"
        directory.mkdir()
        shutil.copyfile(template, database)
        settings = write_config(directory, f"sqlite:///{database}", f"tinh{number:02d}", 1,
                                "TU01")
        ensure_node_keys(settings)
        sessions = make_session_factory(make_engine(settings.effective_database_url))
        with sessions() as session:
            session.add(Peer(node_id=parent_id, level=0, org_unit_code="VPTW",
                             public_key=PARENT_KEY[0], base_url=parent_url,
                             protocol_version="1"))
            session.commit()
        children.append(Child(settings, sessions))
    return children


PARENT_KEY: list[str] = []


def link_children(parent_sessions, children: list[Child]) -> None:  # noqa: ANN001
    with parent_sessions() as session:
        for child in children:
            session.add(Peer(node_id=child.settings.node_id, level=1, org_unit_code="TU01",
                             public_key=node_public_key(child.settings), protocol_version="1"))
        session.commit()


def run_threads(children: list[Child], work) -> float:  # noqa: ANN001
    errors: list[BaseException] = []

    def target(number: int, child: Child) -> None:
        try:
            work(number, child)
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(number, child))
               for number, child in enumerate(children)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def inbox_rows(parent_sessions, after_id: int = 0) -> list[tuple]:  # noqa: ANN001
    with parent_sessions() as session:
        return session.execute(select(InboxMessage.id, InboxMessage.message_id,
                                      InboxMessage.received_at)
                               .where(InboxMessage.id > after_id)).all()


def created_times(children: list[Child]) -> dict[str, object]:
    created = {}
    for child in children:
        with child.sessions() as session:
            for message_id, created_at in session.execute(
                    select(OutboxMessage.message_id, OutboxMessage.created_at)):
                created[message_id] = created_at
    return created


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def baseline(work: Path, database_url: str, children: int, burst: int) -> tuple[float, list]:
    """Queue and then receive the same kind of messages in this process, without HTTP."""
    settings = write_config(work / "baseline-parent", database_url, "central-baseline", 0,
                            "VPTW")
    initialise_node(settings)
    parent_sessions = make_session_factory(make_engine(settings.effective_database_url))
    child_settings = write_config(work / "baseline-child",
                                  f"sqlite:///{work / 'baseline-child.sqlite3'}", "tinh-base",
                                  1, "TU01")
    initialise_node(child_settings)
    child_sessions = make_session_factory(make_engine(child_settings.effective_database_url))
    with child_sessions() as session:
        session.add(Peer(node_id=settings.node_id, level=0, org_unit_code="VPTW",
                         public_key=node_public_key(settings), protocol_version="1"))
        session.commit()
    with parent_sessions() as session:
        session.add(Peer(node_id=child_settings.node_id, level=1, org_unit_code="TU01",
                         public_key=node_public_key(child_settings), protocol_version="1"))
        session.commit()
    total = children * burst
    bodies = []
    with child_sessions() as session:
        parent = session.scalar(select(Peer))
        for index in range(total):
            bodies.append(queue_message(session, child_settings, parent, "task_status",
                                        task_status(0, index)).body)
        session.commit()
    started = time.perf_counter()
    for body in bodies:
        with parent_sessions() as session:
            receive_message(session, settings, body)
            session.commit()
    rate = total / (time.perf_counter() - started)

    # Delay without HTTP: queue at the child, then verify and store at the parent.
    delays = []
    for index in range(200):
        begun = time.perf_counter()
        with child_sessions() as session:
            parent = session.scalar(select(Peer))
            body = queue_message(session, child_settings, parent, "task_status",
                                 task_status(1, index)).body
            session.commit()
        with parent_sessions() as session:
            receive_message(session, settings, body)
            session.commit()
        delays.append(time.perf_counter() - begun)
    return rate, delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--children", type=int, default=50)
    parser.add_argument("--burst", type=int, default=40,
                        help="messages each child queues for the throughput phase")
    parser.add_argument("--paced", type=int, default=10,
                        help="messages each child sends one by one in the delay phase")
    parser.add_argument("--pause", type=float, default=0.5,
                        help="seconds a child waits between two paced messages")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of the parent")
    parser.add_argument("--parent-url", default="",
                        help="database URL of the parent (default: SQLite in a temporary folder)")
    parser.add_argument("--baseline-url", default="",
                        help="database URL for the baseline (default: SQLite; give an empty "
                             "PostgreSQL database when --parent-url is PostgreSQL)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="theodoi-fedbench-"))
    parent_url = options.parent_url or f"sqlite:///{work / 'parent.sqlite3'}"
    parent_settings = write_config(work / "parent", parent_url, "central", 0, "VPTW")
    print(f"Preparing the parent and {options.children} children in {work} ...", flush=True)
    initialise_node(parent_settings)
    PARENT_KEY.append(node_public_key(parent_settings))
    parent_sessions = make_session_factory(make_engine(parent_settings.effective_database_url))
    port = free_port()
    parent_http = f"http://127.0.0.1:{port}"
    children = make_children(work, options.children, "central", parent_http)
    link_children(parent_sessions, children)

    log = (work / "parent-server.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "theodoi"), "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(options.workers)],
        env=dict(os.environ, THEODOI_CONFIG=str(work / "parent" / "theodoi.toml"),
                 PYTHONPATH=str(ROOT)),
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{parent_http}/federation/v1/info", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the parent did not start; see parent-server.log")
                time.sleep(0.2)

        # Phase 1: throughput.
        run_threads(children, lambda number, child: [child.queue(index, number)
                                                     for index in range(options.burst)])
        print(f"Queued {options.children * options.burst} messages; pushing ...", flush=True)
        elapsed = run_threads(children, lambda number, child: send_pending(child.sessions,
                                                                           child.settings))
        rows = inbox_rows(parent_sessions)
        expected = options.children * options.burst
        if len(rows) != expected:
            raise SystemExit(f"the parent stored {len(rows)} messages, not {expected}")
        times = sorted(row[2] for row in rows)
        span = (times[-1] - times[0]).total_seconds()
        applied_rate = len(rows) / span if span else float("inf")
        wall_rate = len(rows) / elapsed
        last_id = max(row[0] for row in rows)

        # Phase 2: delay from queue to visibility.
        def paced(number: int, child: Child) -> None:
            for index in range(options.paced):
                child.queue(options.burst + index, number)
                send_pending(child.sessions, child.settings)
                time.sleep(options.pause)

        run_threads(children, paced)
        created = created_times(children)
        paced_rows = inbox_rows(parent_sessions, last_id)
        delays = [(received_at - created[message_id]).total_seconds()
                  for _, message_id, received_at in paced_rows]
        if len(delays) != options.children * options.paced:
            raise SystemExit(f"the parent stored {len(delays)} paced messages")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    base_rate, base_delays = baseline(work, options.baseline_url
                                      or f"sqlite:///{work / 'baseline.sqlite3'}",
                                      options.children, options.burst)
    engine = "PostgreSQL" if parent_url.startswith("postgresql") else "SQLite"
    print(f"\nParent database: {engine}; gunicorn workers: {options.workers} x 4 threads; "
          f"CPUs: {os.cpu_count()}")
    print(f"Throughput, {expected} messages from {options.children} children over HTTP: "
          f"{applied_rate:.0f} messages/s applied (first to last stored), "
          f"{wall_rate:.0f} messages/s over the whole push ({elapsed:.1f} s)")
    print(f"  baseline without HTTP (receive_message in one thread): {base_rate:.0f} messages/s")
    print(f"Delay from queue to visibility, {len(delays)} messages "
          f"({options.children} children, one every {options.pause} s each): "
          f"p50 {statistics.median(delays) * 1000:.0f} ms, "
          f"p95 {percentile(delays, 0.95) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
    print(f"  baseline without HTTP (queue, then receive): "
          f"p50 {statistics.median(base_delays) * 1000:.1f} ms, "
          f"p95 {percentile(base_delays, 0.95) * 1000:.1f} ms")
    if options.keep:
        print(f"Kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
