"""A command run as its own process keeps the dashboard counters and queues federation messages.

The session listeners behind both are registered when their modules are
imported, and a `theodoi` process imports only the modules of the command it
runs. These tests therefore run the commands as separate processes, because
in the test process every module is already imported.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from node.core.cli_support import open_session
from node.core.settings import load_settings
from node.federation.models import OutboxMessage, Peer

THEODOI = str(Path(sys.executable).with_name("theodoi"))
CHILD_NODE_ID = "tu01-ha-noi"


def _theodoi(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([THEODOI, "--config", str(config), *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_import_command_updates_counters_and_outbox(node_config: Path, tmp_path: Path) -> None:
    initialised = _theodoi(node_config, "init")
    assert initialised.returncode == 0, initialised.stderr
    settings = load_settings(node_config)
    with open_session(settings) as session:
        session.add(Peer(node_id=CHILD_NODE_ID, level=1, org_unit_code="TU01",
                         public_key="A" * 43, protocol_version="1"))

    table = tmp_path / "ke-hoach.csv"
    with table.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([
            ["STT", "Nội dung nhiệm vụ", "Cơ quan chủ trì", "Thời gian hoàn thành"],
            ["1", "Xây dựng kế hoạch chuyển đổi số của Thành ủy", "Thành ủy Hà Nội",
             "30/06/2027"],
            ["2", "Tổng kết việc thực hiện nghị quyết", "Thành ủy Hà Nội", "Quý IV/2027"],
        ])
    imported = _theodoi(node_config, "import", str(table), "--reference", "12-KH/VPTW",
                        "--issued-on", "01/12/2026", "--kind", "plan",
                        "--summary", "Kế hoạch chuyển đổi số",
                        "--issuer", "Văn phòng Trung ương Đảng")
    assert imported.returncode == 0, imported.stdout + imported.stderr

    checked = _theodoi(node_config, "dashboard", "recount", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "equal a full recount" in checked.stdout

    with open_session(settings) as session:
        messages = session.scalars(select(OutboxMessage).where(
            OutboxMessage.recipient_node_id == CHILD_NODE_ID)).all()
        assert [message.message_type for message in messages] == ["directive"]
        payload = json.loads(messages[0].body)["payload"]
        assert len(payload["tasks"]) == 2
