"""Measure how many exchange messages a parent node applies per second from 50 children.

A parent node runs under `theodoi serve` (gunicorn) on a loopback port. Each
child is a thread of this script with its own key pair, its own SQLite
database (copied from one migrated file) and its own outbox. Child n belongs
to the n-th provincial committee of the seeded org tree (there are 34, so
children 35 to 50 share one with another child). The parent first assigns a
document of `--tasks` tasks to each of these org units, which sends each
child a directive, and each child reports on its tasks in turn.
The messages are task_status reports (state in_progress), which the parent
applies through its task workflow: a progress update submitted and approved.
The script runs two phases:

1. Throughput: every child queues `--burst` task_status messages, then all
   children push at once with `send_pending`, in batch requests when the
   parent publishes them (`--single` sends one message per request), and
   each child pushes again after a failed request until its outbox is empty. The
   figure is the number of messages the parent stored divided by the time
   from the start of the push to the return of the last child's push. (The
   messages of one batch share one `received_at`, so the span between the
   first and the last stored message would overstate the rate.)
2. Delay: every child queues one message, pushes it at once (as the
   background sender does after a commit), waits `--pause` seconds and
   repeats, `--paced` times. The delay of a message runs from its queueing
   at the child to its row in the parent's inbox (`received_at`).

Beside each figure it measures baselines in the same run: the same kind of
messages queued and then verified and stored in this process, without HTTP,
on a database of the same kind. One baseline calls `service.receive_message`
per message, the other `service.receive_batch` per batch.

    python bench/federation_throughput.py                  # SQLite parent
    python bench/federation_throughput.py --parent-url postgresql://postgres@127.0.0.1:5432/fedbench

The PostgreSQL database must exist and be empty.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
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
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from node.cli import initialise_node  # noqa: E402
from node.core.db import make_engine, make_session_factory  # noqa: E402
from node.core.settings import Settings, load_settings  # noqa: E402
from node.core.cli_support import open_session  # noqa: E402
from node.core.db import utcnow  # noqa: E402
from node.federation.batch_delivery import (  # noqa: E402
    forget_batch_limits,
    refresh_batch_limits,
)
from node.federation.client import queue_message  # noqa: E402
from node.federation.content_models import TaskLink  # noqa: E402
from node.federation.delivery import send_pending  # noqa: E402
from node.federation.envelope import format_timestamp  # noqa: E402
from node.federation.identity import ensure_node_keys, node_public_key  # noqa: E402
from node.federation.models import InboxMessage, OutboxMessage, Peer  # noqa: E402
from node.federation.service import receive_batch, receive_message  # noqa: E402
from node.local_tasks.calendar import load_calendar  # noqa: E402
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput  # noqa: E402
from node.local_tasks.models import OrgUnit  # noqa: E402
from node.local_tasks.service import create_document  # noqa: E402

CHILD_ORG_UNIT = "TU01"


def task_status(task_ref: str, index: int) -> dict:
    """Return an approved in_progress report on `task_ref`, stamped now (about 600 bytes signed)."""
    now = format_timestamp(utcnow())
    return {"updates": [{
        "task_ref": task_ref,
        "reported_state": "in_progress",
        "progress_percent": index % 100,
        "result_summary": "Đang triển khai, đã hoàn thành các bước chuẩn bị",
        "confidentiality": "regular",
        "reported_at": now,
        "approved_at": now,
        "approved_by": "Nguyễn Văn A",
    }]}


def aggregate_report(org_unit: str, index: int) -> dict:
    """Return a quarterly aggregate report of `org_unit`, as of now."""
    counts = {"completed_on_time": index % 7, "completed_late": 1, "in_progress_on_time": 2,
              "in_progress_overdue": 0, "implemented_not_completed": 0,
              "not_started_on_time": 3, "not_started_overdue": 1}
    return {"org_unit_code": org_unit,
            "period": {"kind": "quarter", "start": "2026-01-01", "end": "2026-03-31"},
            "as_of": format_timestamp(utcnow()),
            "rows": [{"org_unit_code": org_unit, "counts": counts,
                      "total": sum(counts.values())}]}


def payload_for(message_type: str, org_unit: str, task_ref: str, index: int) -> dict:
    if message_type == "aggregate_report":
        return aggregate_report(org_unit, index)
    return task_status(task_ref, index)


def province_codes(settings: Settings) -> list[str]:
    """Return the codes of the provincial party committees (TU...) in the seeded org tree."""
    with open_session(settings) as session:
        return list(session.scalars(select(OrgUnit.code).where(OrgUnit.code.like("TU%"))
                                    .order_by(OrgUnit.code)))


def assign_tasks(settings: Settings, org_units: set[str], count: int) -> dict[str, list[str]]:
    """Assign a document of `count` tasks to each org unit; return each child's task refs.

    Committing each document queues its directive to the children of that
    org unit, which also records the task references they report on.
    """
    deadline = DeadlineInput(text="2027-06-30", on=date(2027, 6, 30), precision="day",
                             time_class="with_deadline")
    for number, code in enumerate(sorted(org_units)):
        with open_session(settings) as session:
            unit_name = session.scalar(select(OrgUnit.name).where(OrgUnit.code == code))
            tasks = [TaskInput(content=f"Nhiệm vụ số {index + 1}", lead_agencies=[unit_name],
                               coordinating_agencies=[], deadline=deadline)
                     for index in range(count)]
            create_document(session, DocumentInput(
                reference=f"{number + 1}-KH/TW", summary="Kế hoạch kiểm tra, giám sát",
                issued_on=date(2026, 1, 5), signer="Trần Văn B", confidentiality="regular",
                tasks=tasks), calendar=load_calendar(settings))
    refs: dict[str, list[str]] = {}
    with open_session(settings) as session:
        for node_id, task_ref in session.execute(
                select(TaskLink.peer_node_id, TaskLink.task_ref)
                .where(TaskLink.direction == "sent").order_by(TaskLink.task_id)):
            refs.setdefault(node_id, []).append(task_ref)
    return refs


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_config(directory: Path, database_url: str, node_id: str, level: int,
                 org_unit: str, batch_size: int = 50) -> Settings:
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "theodoi.toml"
    config.write_text(
        f'instance_path = "instance"\ndatabase_url = "{database_url}"\n'
        f'secret_key = "bench"\nlog_level = "WARNING"\n'
        f'[node]\nid = "{node_id}"\nlevel = {level}\norg_unit = "{org_unit}"\n'
        '[federation]\nretry_base_seconds = 0.05\nretry_max_seconds = 0.5\n'
        f'sync_interval_seconds = 0\npush_batch_size = {batch_size}\n', encoding="utf-8")
    return load_settings(config)


@dataclass
class Child:
    settings: Settings
    sessions: object
    task_refs: list[str] = field(default_factory=list)
    message_type: str = "task_status"

    def queue(self, index: int, child_number: int) -> None:
        # Children that share an org unit start on different tasks.
        task_ref = self.task_refs[(index + child_number) % len(self.task_refs)]
        with self.sessions() as session:
            parent = session.scalar(select(Peer))
            queue_message(session, self.settings, parent, self.message_type,
                          payload_for(self.message_type, self.settings.node_org_unit,
                                      task_ref, index))
            session.commit()


def make_children(work: Path, count: int, parent_id: str, parent_url: str,
                  batch_size: int, org_units: list[str]) -> list[Child]:
    """Create `count` children; child n belongs to org unit n of `org_units`, cycling."""
    template = work / "child-template.sqlite3"
    template_settings = write_config(work / "template", f"sqlite:///{template}", "template",
                                     1, CHILD_ORG_UNIT)
    initialise_node(template_settings)
    children = []
    for number in range(count):
        directory = work / f"child{number:02d}"
        database = directory / "child.sqlite3"
        directory.mkdir()
        shutil.copyfile(template, database)
        settings = write_config(directory, f"sqlite:///{database}", f"tinh{number:02d}", 1,
                                org_units[number % len(org_units)], batch_size)
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
            session.add(Peer(node_id=child.settings.node_id, level=1,
                             org_unit_code=child.settings.node_org_unit,
                             public_key=node_public_key(child.settings), protocol_version="1"))
        session.commit()


def push_until_sent(child: Child, timeout: float = 600) -> int:
    """Push until the child's outbox is empty; return how many messages waited for a retry."""
    deadline = time.monotonic() + timeout
    retried = 0
    while time.monotonic() < deadline:
        stats = send_pending(child.sessions, child.settings)
        retried += stats.retry_later
        if stats.delivered + stats.retry_later + stats.waiting + stats.rejected == 0:
            return retried
        if stats.retry_later or stats.waiting:
            time.sleep(0.05)
    raise SystemExit(f"{child.settings.node_id} still had messages to push after {timeout} s")


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


def process_group_cpu(group_id: int) -> float:
    """Return the CPU seconds (user and system) used so far by the live processes of a group."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        # After the command name: state, ppid, pgrp, ..., utime (12th), stime (13th).
        if int(fields[2]) == group_id:
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def baseline(work: Path, database_url: str, children: int, burst: int, tasks: int,
             baseline_messages: int, profile: int, message_type: str,
             batch_size: int) -> tuple[float, float, list]:
    """Queue and then receive the same kind of messages in this process, without HTTP.

    Return the rate of `receive_message` one by one, the rate of
    `receive_batch` in batches of `batch_size`, and the delays of 200
    messages each queued and then received at once.
    """
    settings = write_config(work / "baseline-parent", database_url, "central-baseline", 0,
                            "VPTW")
    initialise_node(settings)
    parent_sessions = make_session_factory(make_engine(settings.effective_database_url))
    child_settings = write_config(work / "baseline-child",
                                  f"sqlite:///{work / 'baseline-child.sqlite3'}", "tinh-base",
                                  1, CHILD_ORG_UNIT)
    initialise_node(child_settings)
    child_sessions = make_session_factory(make_engine(child_settings.effective_database_url))
    with child_sessions() as session:
        session.add(Peer(node_id=settings.node_id, level=0, org_unit_code="VPTW",
                         public_key=node_public_key(settings), protocol_version="1"))
        session.commit()
    with parent_sessions() as session:
        session.add(Peer(node_id=child_settings.node_id, level=1, org_unit_code=CHILD_ORG_UNIT,
                         public_key=node_public_key(child_settings), protocol_version="1"))
        session.commit()
    task_refs = assign_tasks(settings, {CHILD_ORG_UNIT}, tasks)[child_settings.node_id]

    def queue_bodies(count: int, start: int) -> list[bytes]:
        with child_sessions() as session:
            parent = session.scalar(select(Peer))
            bodies = [queue_message(session, child_settings, parent, message_type,
                                    payload_for(message_type, CHILD_ORG_UNIT,
                                                task_refs[index % len(task_refs)],
                                                start + index)).body
                      for index in range(count)]
            session.commit()
        return bodies

    total = min(children * burst, baseline_messages)
    bodies = queue_bodies(total, 0)
    started = time.perf_counter()
    for body in bodies:
        with parent_sessions() as session:
            receive_message(session, settings, body)
            session.commit()
    single_rate = total / (time.perf_counter() - started)

    def receive_in_batches(first_index: int, profiler: cProfile.Profile | None) -> float:
        """Receive `total` new messages in batches; return the seconds it took."""
        bodies = queue_bodies(total, first_index)
        requests = [b'{"messages":[' + b",".join(bodies[first:first + batch_size])
                    + b'],"protocol_version":"1"}'
                    for first in range(0, total, batch_size)]
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        for request in requests:
            with parent_sessions() as session:
                results = receive_batch(session, settings, request)
                session.commit()
            rejected = [result for result in results if result["outcome"] != "applied"]
            if rejected:
                raise SystemExit(f"the baseline parent did not apply a message: {rejected[0]}")
        if profiler:
            profiler.disable()
        return time.perf_counter() - started

    # The rate is measured without the profiler, whose overhead would count
    # against the batches only; the profile comes from a second pass.
    batch_rate = total / receive_in_batches(total, None)
    if profile:
        profiler = cProfile.Profile()
        receive_in_batches(3 * total, profiler)
        print(f"\ncProfile of receive_batch, another {total} messages in batches of "
              f"{batch_size} (top {profile} by cumulative time):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)

    # Delay without HTTP: queue at the child, then verify and store at the parent.
    delays = []
    for index in range(200):
        begun = time.perf_counter()
        [body] = queue_bodies(1, 4 * total + index)
        with parent_sessions() as session:
            receive_message(session, settings, body)
            session.commit()
        delays.append(time.perf_counter() - begun)
    return single_rate, batch_rate, delays


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
    parser.add_argument("--message-type", choices=("task_status", "aggregate_report"),
                        default="task_status",
                        help="task_status runs the parent's task workflow for each message; "
                             "aggregate_report only replaces one stored row")
    parser.add_argument("--tasks", type=int, default=10,
                        help="tasks assigned to each org unit; a child reports on them in turn")
    parser.add_argument("--batch-size", type=int, default=50,
                        help="the children's federation.push_batch_size (the node's default "
                             "is 50), and the batch size of the receive_batch baseline")
    parser.add_argument("--single", action="store_true",
                        help="push one message per request, as to a parent without batches")
    parser.add_argument("--baseline-messages", type=int, default=500,
                        help="messages each baseline receives (at most children x burst)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="receive the batch baseline's messages once more under "
                             "cProfile and print its N costliest calls (the rate is "
                             "measured without the profiler)")
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
    children = make_children(work, options.children, "central", parent_http,
                             options.batch_size, province_codes(parent_settings))
    link_children(parent_sessions, children)
    task_refs = assign_tasks(parent_settings,
                             {child.settings.node_org_unit for child in children}, options.tasks)
    for child in children:
        child.task_refs = task_refs[child.settings.node_id]
        child.message_type = options.message_type
    load_before = os.getloadavg()

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
        if not options.single and refresh_batch_limits(parent_http) is None:
            raise SystemExit("the parent publishes no batch endpoint in GET /info")

        # Phase 1: throughput.
        run_threads(children, lambda number, child: [child.queue(index, number)
                                                     for index in range(options.burst)])
        print(f"Queued {options.children * options.burst} messages; pushing ...", flush=True)
        retries: list[int] = []
        parent_cpu = process_group_cpu(server.pid)
        elapsed = run_threads(children, lambda number, child: retries.append(
            push_until_sent(child)))
        parent_cpu = process_group_cpu(server.pid) - parent_cpu
        rows = inbox_rows(parent_sessions)
        expected = options.children * options.burst
        if len(rows) != expected:
            raise SystemExit(f"the parent stored {len(rows)} messages, not {expected}")
        applied_rate = len(rows) / elapsed
        last_id = max(row[0] for row in rows)
        print(f"Throughput phase: {applied_rate:.0f} messages/s, {sum(retries)} sends retried; "
              "measuring the delay ...", flush=True)

        # Phase 2: delay from queue to visibility.
        def paced(number: int, child: Child) -> None:
            for index in range(options.paced):
                child.queue(options.burst + index, number)
                push_until_sent(child)
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
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()
        forget_batch_limits(parent_http)
    load_after = os.getloadavg()

    single_rate, batch_rate, base_delays = baseline(
        work, options.baseline_url or f"sqlite:///{work / 'baseline.sqlite3'}",
        options.children, options.burst, options.tasks, options.baseline_messages,
        options.profile, options.message_type, options.batch_size)
    engine = "PostgreSQL" if parent_url.startswith("postgresql") else "SQLite"
    print(f"\nParent database: {engine}; gunicorn workers: {options.workers} x 4 threads; "
          f"CPUs: {os.cpu_count()}; messages: {options.message_type}; requests: "
          f"{'one message each' if options.single else f'batches of up to {options.batch_size}'}")
    print(f"Load average (1, 5, 15 min) before the HTTP phases: "
          f"{', '.join(f'{value:.1f}' for value in load_before)}; after them: "
          f"{', '.join(f'{value:.1f}' for value in load_after)}")
    print(f"Throughput, {expected} messages from {options.children} children over HTTP: "
          f"{applied_rate:.0f} messages/s applied ({elapsed:.1f} s from the start of the push "
          "to the last child's return)")
    print(f"  parent CPU time during the push: {parent_cpu:.1f} s, "
          f"{parent_cpu / expected * 1000:.1f} ms per message, "
          f"{parent_cpu / elapsed:.2f} cores busy on average")
    print(f"  message sends that failed and waited for a retry (a timeout, a 5xx response): "
          f"{sum(retries)}")
    print(f"  baseline without HTTP, one thread, {min(expected, options.baseline_messages)} "
          "messages: receive_message one by one "
          f"{single_rate:.0f} messages/s; receive_batch in batches of {options.batch_size} "
          f"{batch_rate:.0f} messages/s")
    print(f"  ratio HTTP / batch baseline: {applied_rate / batch_rate:.2f}; "
          f"HTTP / one-by-one baseline: {applied_rate / single_rate:.2f}")
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
