"""Measure the delay of an approved update from a sub-unit to the province and to the centre.

Three nodes run on loopback. The central node and the provincial node of
Hà Nội (TU01) are each served by `theodoi serve` (gunicorn). The sub-unit node
of the Ba Đình ward party committee (TU01-P00004) is this script, which
pushes right after each commit as a node's background sender does. The centre assigns a
document of `--tasks` tasks to the ward; the province pulls it and the ward
pulls the province's copy.

Then, `--updates` times, the ward submits and approves a progress update of
one of its tasks (each with a new percentage) and pushes it at once. The
province applies it, which approves its own copy of the task and queues a
status for the centre in the same transaction, and its background sender
pushes that to the centre. The script polls both databases and takes:

- one level: from the ward's approval commit to the percentage at the province;
- two levels: from the same instant to the percentage at the centre.

The baseline is measured in the same run after the servers stop, on the same
path without HTTP. The province's `service.receive_message` receives the
ward's message in this process, and the centre receives the message the
province queued in the same way.

    python bench/federation_chain_delay.py --updates 60 --pause 0.5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sqlalchemy import select  # noqa: E402

from federation_throughput import free_port, percentile, write_config  # noqa: E402
from node.cli import initialise_node  # noqa: E402
from node.core.cli_support import open_session  # noqa: E402
from node.core.db import make_engine, make_session_factory, utcnow  # noqa: E402
from node.core.settings import Settings, load_settings  # noqa: E402
from node.demo_federation import SUB_UNIT, enrol, ensure_sub_unit  # noqa: E402
from node.demo_processes import NodeServer  # noqa: E402
from node.federation.content_models import TaskLink  # noqa: E402
from node.federation.delivery import pull_from_parent, send_pending  # noqa: E402
from node.federation.identity import ensure_node_keys  # noqa: E402
from node.federation.models import OutboxMessage  # noqa: E402
from node.federation.service import receive_message  # noqa: E402
from node.local_tasks.calendar import load_calendar  # noqa: E402
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput  # noqa: E402
from node.local_tasks.models import Task  # noqa: E402
from node.local_tasks.service import create_document  # noqa: E402
from node.local_tasks.workflow import approve_update, submit_update  # noqa: E402

POLL_SECONDS = 0.005
# The scheduled catch-up of the served nodes; pushes after a commit do not wait for it.
SYNC_INTERVAL_SECONDS = 60
VISIBILITY_TIMEOUT_SECONDS = 60.0


@dataclass
class Node:
    name: str
    config_path: Path
    settings: Settings
    sessions: object
    server: NodeServer | None = None


def make_node(work: Path, name: str, level: int, org_unit: str) -> Node:
    directory = work / name
    write_config(directory, f"sqlite:///{directory / 'node.sqlite3'}", name, level, org_unit)
    # The served nodes need their background sender, which an interval of 0 turns off.
    config = directory / "theodoi.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        "sync_interval_seconds = 0", f"sync_interval_seconds = {SYNC_INTERVAL_SECONDS}"),
        encoding="utf-8")
    settings = load_settings(config)
    initialise_node(settings)
    ensure_node_keys(settings)
    with open_session(settings) as session:
        ensure_sub_unit(session)
        session.commit()
    return Node(name, directory / "theodoi.toml", settings,
                make_session_factory(make_engine(settings.effective_database_url), settings))


def serve(node: Node, work: Path, workers: int) -> str:
    node.server = NodeServer(node.name, node.config_path, "127.0.0.1", free_port(),
                             work / f"{node.name}.log", workers=workers)
    node.server.start()
    node.server.wait_until_serving()
    return node.server.url


def pull_until_applied(node: Node, timeout: float = 60) -> int:
    """Pull from the parent until a pull applies something; return how many it applied."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = pull_from_parent(node.sessions, node.settings)
        if not stats.busy and stats.applied:
            return stats.applied
        time.sleep(0.1)
    raise SystemExit(f"{node.name} received nothing from its parent within {timeout} s")


def assign_to_ward(centre: Node, count: int) -> None:
    deadline = DeadlineInput(text="2027-06-30", on=date(2027, 6, 30), precision="day",
                             time_class="with_deadline")
    tasks = [TaskInput(content=f"Nhiệm vụ số {index + 1}", lead_agencies=[SUB_UNIT["name"]],
                       coordinating_agencies=[], deadline=deadline) for index in range(count)]
    with centre.sessions() as session:
        create_document(session, DocumentInput(
            reference="1-KH/TW", summary="Kế hoạch thực hiện nghị quyết", issued_on=date(2026, 1, 5),
            signer="Trần Văn B", confidentiality="regular", tasks=tasks),
            calendar=load_calendar(centre.settings))
        session.commit()


def received_copies(node: Node) -> dict[int, int]:
    """Map each task this node received to the parent's task id (from the reference PARENT/ID)."""
    with node.sessions() as session:
        rows = session.execute(select(TaskLink.task_id, TaskLink.task_ref)
                               .where(TaskLink.direction == "received")).all()
    return {task_id: int(task_ref.rsplit("/", 1)[1]) for task_id, task_ref in rows}


def approve_at_ward(ward: Node, task_id: int, percent: int) -> float:
    """Submit and approve an update at the ward; return `perf_counter()` after the commit."""
    now = utcnow()
    with ward.sessions() as session:
        update = submit_update(session, session.get(Task, task_id), at=now,
                               actor="Chuyên viên phường", reported_state="in_progress",
                               progress_percent=percent)
        approve_update(session, update, at=now, actor="Bí thư Đảng ủy phường")
        session.commit()
    return time.perf_counter()


def wait_for_percent(node: Node, task_id: int, percent: int, started: float) -> float:
    """Poll until `task_id` at `node` shows `percent`; return the seconds since `started`."""
    deadline = time.monotonic() + VISIBILITY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with node.sessions() as session:
            if session.scalar(select(Task.progress_percent).where(Task.id == task_id)) == percent:
                return time.perf_counter() - started
        time.sleep(POLL_SECONDS)
    raise SystemExit(f"task {task_id} at {node.name} did not show {percent}% within "
                     f"{VISIBILITY_TIMEOUT_SECONDS:.0f} s")


def deliver_in_process(sender: Node, receiver: Node) -> None:
    """Receive the sender's unsent messages for `receiver` in this process, without HTTP."""
    with sender.sessions() as session:
        pending = session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient_node_id == receiver.name, OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.sequence)).all()
        for message in pending:
            with receiver.sessions() as receiver_session:
                receive_message(receiver_session, receiver.settings, message.body)
                receiver_session.commit()
            message.sent_at = utcnow()
        session.commit()


def summary(label: str, delays: list[float]) -> str:
    milliseconds = [delay * 1000 for delay in delays]
    return (f"{label}: p50 {statistics.median(milliseconds):.0f} ms, "
            f"p95 {percentile(milliseconds, 0.95):.0f} ms, max {max(milliseconds):.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=60, help="approved updates at the ward")
    parser.add_argument("--pause", type=float, default=0.5,
                        help="seconds between one update's visibility at the centre and the next")
    parser.add_argument("--tasks", type=int, default=20, help="tasks the centre assigns")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each server")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="theodoi-chain-"))
    centre = make_node(work, "central", 0, "VPTW")
    province = make_node(work, "tu01-ha-noi", 1, "TU01")
    ward = make_node(work, "tu01-ba-dinh", 2, SUB_UNIT["code"])
    try:
        enrol(centre.settings, province.settings, serve(centre, work, args.workers))
        enrol(province.settings, ward.settings, serve(province, work, args.workers))
        assign_to_ward(centre, args.tasks)
        pull_until_applied(province)
        pull_until_applied(ward)
        ward_to_province = received_copies(ward)
        province_to_centre = received_copies(province)
        ward_tasks = sorted(ward_to_province)
        print(f"Nodes: central and tu01-ha-noi under gunicorn ({args.workers} workers each), "
              f"SQLite; the ward pushes from this process. Tasks: {len(ward_tasks)}; "
              f"CPUs: {os.cpu_count()}; load average before: "
              + ", ".join(f"{value:.1f}" for value in os.getloadavg()))

        one_level, two_levels = [], []
        for index in range(args.updates):
            task_id = ward_tasks[index % len(ward_tasks)]
            province_task = ward_to_province[task_id]
            centre_task = province_to_centre[province_task]
            percent = 1 + index % 99
            started = approve_at_ward(ward, task_id, percent)
            send_pending(ward.sessions, ward.settings)
            one_level.append(wait_for_percent(province, province_task, percent, started))
            two_levels.append(wait_for_percent(centre, centre_task, percent, started))
            time.sleep(args.pause)
        load_after = os.getloadavg()
    finally:
        for node in (province, centre):
            if node.server is not None:
                node.server.stop()

    baseline_one, baseline_two = [], []
    for index in range(args.updates):
        task_id = ward_tasks[index % len(ward_tasks)]
        province_task = ward_to_province[task_id]
        centre_task = province_to_centre[province_task]
        percent = 1 + (index + 50) % 99
        started = approve_at_ward(ward, task_id, percent)
        deliver_in_process(ward, province)
        baseline_one.append(wait_for_percent(province, province_task, percent, started))
        deliver_in_process(province, centre)
        baseline_two.append(wait_for_percent(centre, centre_task, percent, started))

    print("Load average after the HTTP phase: " + ", ".join(f"{v:.1f}" for v in load_after))
    print(summary(f"One level (ward to province), {args.updates} updates", one_level))
    print("  " + summary("baseline without HTTP", baseline_one))
    print(summary(f"Two levels (ward to province to centre), {args.updates} updates", two_levels))
    print("  " + summary("baseline without HTTP", baseline_two))
    ratio = percentile(two_levels, 0.95) / percentile(baseline_two, 0.95)
    print(f"  ratio of the p95 delays, HTTP / baseline: {ratio:.1f}")
    if args.keep:
        print(f"Work folder: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
