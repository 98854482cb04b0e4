"""The nodes of the federated demo: their settings, enrolment, accounts and the centre's tasks.

The demo builds a small hierarchy on one machine. The central node of the
Central Party Office is at the top, with the nodes of the Hà Nội and Hồ Chí
Minh City party committees below it. The node of a ward party committee of
Hà Nội is below the Hà Nội node. Each node keeps its SQLite database in its own folder. The children
join their parents with the one-time enrolment tokens of the exchange
protocol, as their administrators would.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import secrets
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.core.cli_support import open_session
from node.core.settings import CONFIG_ENV, Settings, load_settings
from node.core.text import fold
from node.signatures.demo import DemoSamples, write_demo_samples
from node.signatures.signing import certificate_path

logger = logging.getLogger(__name__)

DEMO_ACTOR = "demo"
STATE_FILE = "demo.json"
CONFIG_FILE = "theodoi.toml"
SERVER_LOG = "server.log"

# Account rows: (username, full name, role, org unit code of the grant).
AccountRow = tuple[str, str, str, str]


@dataclass(frozen=True)
class DemoNode:
    """One node of the demo hierarchy: its id (also its folder name), level and org unit."""

    node_id: str
    level: int
    org_unit_code: str
    title: str
    parent_id: str | None
    accounts: tuple[AccountRow, ...]


def _agency_accounts(suffix: str, unit_code: str, unit_title: str,
                     roles: tuple[str, ...]) -> tuple[AccountRow, ...]:
    """Return accounts named ROLE_WORD.suffix, each with one role over `unit_code`."""
    names = {
        "administrator": ("quantri", "Quản trị hệ thống"),
        "central_officer": ("vanphong", "Chuyên viên Văn phòng"),
        "updater": ("capnhat", "Chuyên viên cập nhật"),
        "approver": ("pheduyet", "Lãnh đạo phê duyệt"),
        "leader": ("lanhdao", "Lãnh đạo"),
    }
    return tuple((f"{names[role][0]}.{suffix}", f"{names[role][1]}, {unit_title}", role, unit_code)
                 for role in roles)


CENTRAL_ACCOUNTS: tuple[AccountRow, ...] = (
    ("quantri", "Quản trị hệ thống", "administrator", "BCHTW"),
    ("vanphong", "Chuyên viên Văn phòng Trung ương Đảng", "central_officer", "VPTW"),
    ("theodoi", "Chuyên viên theo dõi, Văn phòng Trung ương Đảng", "monitoring_officer", "VPTW"),
    ("kiemtra", "Cán bộ kiểm tra, Ủy ban Kiểm tra Trung ương", "inspector", "BCHTW"),
    ("lanhdao", "Lãnh đạo", "leader", "BCHTW"),
)
# The provincial office (văn phòng tỉnh ủy) transfers the province's tasks to
# its sub-units, as the central office does nationally.
PROVINCE_ROLES = ("administrator", "central_officer", "updater", "approver", "leader")
SUB_UNIT_ROLES = ("administrator", "updater", "approver", "leader")

# The ward of the sub-unit node. Phường Ba Đình (commune code 00004) is a ward
# of Hà Nội from 1 July 2025. The seed data stops at the provinces, so the demo
# adds its party committee below TU01 on the Hà Nội node and on its own node.
SUB_UNIT = {
    "code": "TU01-P00004",
    "name": "Đảng bộ phường Ba Đình (Đảng ủy phường Ba Đình)",
    "name_en": "Ba Đình Ward Party Committee",
    "kind": "commune_party_committee",
    "parent_code": "TU01",
    "source": "Phường Ba Đình, commune code 00004 of Thành phố Hà Nội from 1 July 2025, in "
              "mapping/merges.json of the public repository dvhcvn/20250701 at commit dd94887 "
              "(MIT licence)",
}

NODES: tuple[DemoNode, ...] = (
    DemoNode("central", 0, "VPTW", "Văn phòng Trung ương Đảng", None, CENTRAL_ACCOUNTS),
    DemoNode("tu01-ha-noi", 1, "TU01", "Thành ủy Hà Nội", "central",
             _agency_accounts("tu01", "TU01", "Thành ủy Hà Nội", PROVINCE_ROLES)),
    DemoNode("tu79-ho-chi-minh", 1, "TU79", "Thành ủy Thành phố Hồ Chí Minh", "central",
             _agency_accounts("tu79", "TU79", "Thành ủy Thành phố Hồ Chí Minh", PROVINCE_ROLES)),
    DemoNode("tu01-ba-dinh", 2, SUB_UNIT["code"], "Đảng ủy phường Ba Đình", "tu01-ha-noi",
             _agency_accounts("badinh", SUB_UNIT["code"], "Đảng ủy phường Ba Đình",
                              SUB_UNIT_ROLES)),
)


def node_by_id(node_id: str) -> DemoNode:
    return next(node for node in NODES if node.node_id == node_id)


# Settings and state ---------------------------------------------------------


NODE_CONFIG = """\
# Settings of the demo node {node_id}; see config/node.example.toml for every setting.
# The demo ignores THEODOI_* environment variables, so this file is all it reads.
instance_path = "."
secret_key = "{secret_key}"
log_level = "INFO"

[node]
id = "{node_id}"
level = {level}
org_unit = "{org_unit}"

# A child pushes what it queued as soon as it is committed, and pulls its
# parent's messages every few seconds, so a change shows on the other node
# within seconds. A failed push is retried after 2, 4, 8... seconds.
[federation]
sync_interval_seconds = 2
retry_base_seconds = 2
retry_max_seconds = 30

# The demo's certification authority and the four nodes' own certificates, so
# that the signed sample PDF and the nodes' signed reports verify as valid.
[signatures]
trust_dir = "../{trust_dir}"
"""

TRUST_DIR = "trust"


def node_folder(folder: Path, node: DemoNode) -> Path:
    return folder / node.node_id


def write_node_config(folder: Path, node: DemoNode) -> Path:
    """Write the settings file of `node` unless it exists; return its path."""
    node_dir = node_folder(folder, node)
    node_dir.mkdir(parents=True, exist_ok=True)
    config = node_dir / CONFIG_FILE
    if not config.exists():
        config.write_text(NODE_CONFIG.format(node_id=node.node_id, level=node.level,
                                             org_unit=node.org_unit_code, trust_dir=TRUST_DIR,
                                             secret_key=secrets.token_hex(32)),
                          encoding="utf-8")
    return config


def node_settings(folder: Path, node: DemoNode) -> Settings:
    """Load the node's settings from its file only, without THEODOI_* overrides."""
    return load_settings(node_folder(folder, node) / CONFIG_FILE, environ={})


def ensure_demo_samples(folder: Path) -> DemoSamples:
    """Make the demo certification authority and its signed sample PDFs once."""
    samples = DemoSamples(folder / TRUST_DIR / "demo-root-ca.pem", folder / "signed-sample.pdf",
                          folder / "modified-sample.pdf")
    if all(path.exists() for path in (samples.authority_certificate, samples.signed_pdf,
                                      samples.modified_pdf)):
        return samples
    return write_demo_samples(folder)


def trust_node_certificate(folder: Path, settings: Settings) -> None:
    """Copy the node's signing certificate into the demo trust folder.

    Every demo node then verifies the reports that any of them signed as
    valid. The certificate exists once `theodoi serve` has initialised the node.
    """
    target = folder / TRUST_DIR / f"{settings.node_id}.pem"
    target.write_bytes(certificate_path(settings).read_bytes())


def push_aggregate_reports(settings: Settings) -> int:
    """Queue the node's aggregate reports for its parent now, as the morning job does."""
    from node.core.db import make_engine, make_session_factory
    from node.federation.jobs import push_aggregates

    engine = make_engine(settings.effective_database_url)
    try:
        return push_aggregates(make_session_factory(engine, settings), settings)
    finally:
        engine.dispose()


def holds_aggregates_from(settings: Settings, child_node_id: str) -> bool:
    """Return whether the node has received an aggregate report from the child node."""
    from node.federation.models import InboxMessage

    with open_session(settings) as session:
        received = session.scalar(
            select(func.count()).select_from(InboxMessage)
            .where(InboxMessage.sender_node_id == child_node_id,
                   InboxMessage.message_type == "aggregate_report"))
    return bool(received)


def load_state(folder: Path) -> dict:
    """Return the saved addresses of the nodes, or an empty state for a new demo folder."""
    path = folder / STATE_FILE
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise RuntimeError(f"{path} is not valid JSON ({exc}); delete it or use a new "
                           "demo folder") from None
    return state if isinstance(state, dict) else {}


def save_state(folder: Path, state: dict) -> None:
    path = folder / STATE_FILE
    path.write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


# Org units and enrolment ----------------------------------------------------


def ensure_sub_unit(session: Session) -> None:
    """Add the ward party committee of the sub-unit node below TU01 if it is missing."""
    from node.auth.service import org_unit_by_code
    from node.local_tasks.models import OrgUnit
    from node.local_tasks.service import create_org_unit

    if session.scalar(select(OrgUnit.id).where(OrgUnit.code == SUB_UNIT["code"])) is not None:
        return
    create_org_unit(session, code=SUB_UNIT["code"], name=SUB_UNIT["name"],
                    name_en=SUB_UNIT["name_en"], kind=SUB_UNIT["kind"],
                    parent=org_unit_by_code(session, SUB_UNIT["parent_code"]),
                    source=SUB_UNIT["source"], aliases=["Đảng ủy phường Ba Đình"],
                    actor=DEMO_ACTOR)


def parent_link(settings: Settings) -> tuple[str, str, str] | None:
    """Return (node id, URL, status) of the node's parent link, or None before it joins."""
    from node.federation.models import Peer

    with open_session(settings) as session:
        peer = session.scalar(select(Peer).where(Peer.level < settings.node_level))
        return (peer.node_id, peer.base_url or "", peer.status) if peer else None


def enrol(parent_settings: Settings, child_settings: Settings, parent_url: str) -> None:
    """Link a child node to its parent: a one-time token at the parent, a join at the child."""
    from node.federation.client import join_parent
    from node.federation.service import create_enrolment_token

    with open_session(parent_settings) as session:
        token, _ = create_enrolment_token(session, child_settings.node_org_unit, hours=1)
    with open_session(child_settings) as session:
        join_parent(session, child_settings, parent_url, token)
    logger.info("demo node joined its parent",
                extra={"node_id": child_settings.node_id, "parent_url": parent_url})


# The centre's documents and assignments ---------------------------------------


# Lead-agency groups of the real documents that name the provinces and the
# centrally-run cities. The demo resolves them as the central office would,
# so that those tasks go to the party committees of the provinces.
ALL_PROVINCES_GROUPS = frozenset(fold(text) for text in (
    "Các tỉnh, thành phố", "Các tỉnh, thành phố trực thuộc TW", "Các địa phương"))
CITIES_GROUPS = frozenset(fold(text) for text in ("Các thành phố trực thuộc Trung ương",))
CITY_UNIT_TYPE = "thành phố trực thuộc Trung ương"


def _province_codes() -> tuple[list[str], list[str]]:
    """Return the org unit codes of all 34 provincial party committees and of the 6 cities."""
    text = resources.files("node.local_tasks").joinpath(
        "reference_data", "vn_provinces_34_2025.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    provinces = [f"TU{row['code_gso']}" for row in rows]
    cities = [f"TU{row['code_gso']}" for row in rows if row["unit_type"] == CITY_UNIT_TYPE]
    return provinces, cities


def import_documents(settings: Settings, config_path: Path, path: Path) -> str | None:
    """Import `path` at the centre once, creating missing agencies; return its summary line.

    The importer computes deadlines with the working calendar of the
    settings that THEODOI_CONFIG names, as `theodoi import` does, so the
    variable names the centre's file (`config_path`) while it runs.
    """
    from node.local_tasks.importer.importer import import_file
    from node.local_tasks.models import Document

    with open_session(settings) as session:
        if session.scalar(select(func.count()).select_from(Document)):
            return None
    previous = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(config_path)
    try:
        with open_session(settings) as session:
            result = import_file(session, path, create_agencies=True, actor=DEMO_ACTOR)
    finally:
        if previous is None:
            del os.environ[CONFIG_ENV]
        else:
            os.environ[CONFIG_ENV] = previous
    return result.summary_line()


@dataclass(frozen=True)
class Assignment:
    """Outcome of the centre's assignment step: groups resolved and tasks transferred."""

    groups_resolved: int
    tasks_transferred: int
    tasks_per_unit: dict[str, int]


def assign_to_provinces(settings: Settings, unit_codes: tuple[str, ...]) -> Assignment:
    """Resolve the province groups into party committees and transfer their tasks.

    Groups already resolved and tasks already transferred are left as they
    are. The counts per unit cover every transferred task that each of
    `unit_codes` leads, including those of earlier runs.
    """
    # Importing the package registers the session events that queue the
    # directives for the linked provinces when the transfer commits.
    import node.federation  # noqa: F401
    from node.auth.service import org_unit_by_code
    from node.core.db import utcnow
    from node.local_tasks.assessment.service import (
        resolve_group_assignment,
        untransferable_tasks,
    )
    from node.local_tasks.calendar import load_calendar
    from node.local_tasks.models import GroupAssignment, Task
    from node.local_tasks.workflow.service import transfer_task

    province_codes, city_codes = _province_codes()
    with open_session(settings) as session:
        provinces = [org_unit_by_code(session, code) for code in province_codes]
        cities = [org_unit_by_code(session, code) for code in city_codes]
        groups = session.scalars(select(GroupAssignment).where(
            GroupAssignment.role == "lead", GroupAssignment.resolved_at.is_(None))
            .order_by(GroupAssignment.id)).all()
        resolved: list[Task] = []
        for group in groups:
            folded = fold(group.text)
            units = (provinces if folded in ALL_PROVINCES_GROUPS
                     else cities if folded in CITIES_GROUPS else None)
            if units is not None:
                resolve_group_assignment(session, group, actor=DEMO_ACTOR, org_units=units)
                resolved.append(group.task)

        calendar = load_calendar(settings)
        transferred = []
        for task in resolved:
            if task.id not in untransferable_tasks(task.document):
                transfer_task(session, task, at=utcnow(), actor=DEMO_ACTOR, calendar=calendar)
                transferred.append(task)
        per_unit = {code: _transferred_tasks_led_by(session, code) for code in unit_codes}
    logger.info("demo tasks assigned to provinces",
                extra={"groups_resolved": len(resolved), "tasks_transferred": len(transferred)})
    return Assignment(len(resolved), len(transferred), per_unit)


def _transferred_tasks_led_by(session: Session, unit_code: str) -> int:
    from node.local_tasks.models import OrgUnit, Task, TaskAgency

    return session.scalar(
        select(func.count(func.distinct(Task.id))).select_from(Task)
        .join(TaskAgency, TaskAgency.task_id == Task.id)
        .join(OrgUnit, OrgUnit.id == TaskAgency.org_unit_id)
        .where(TaskAgency.role == "lead", OrgUnit.code == unit_code,
               Task.transferred_at.is_not(None))) or 0


def create_accounts(settings: Settings, node: DemoNode) -> list[AccountRow]:
    """Create or reset the node's demo accounts; return (username, password, role, unit) rows."""
    from node.auth.demo import create_demo_accounts

    with open_session(settings) as session:
        return create_demo_accounts(session, accounts=node.accounts)
