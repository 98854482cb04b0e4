"""The node's signature on approval decisions, and the check that finds changed records."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from node.audit.models import AuditEntry
from node.local_tasks.workflow.models import Objection, ProgressUpdate
from node.signatures import approvals
from node.signatures.models import ApprovalSignature
from tests.local_tasks.roles import (
    TU04,
    bearer_client,
    create_account,
    post_document,
    set_clock,
    task_body,
    task_ids,
)


@pytest.fixture
def accounts(app, session_factory) -> dict:  # noqa: ANN001
    with session_factory() as session:
        tokens = {
            "updater": create_account(session, "capnhat.kyso", [("updater", "TU04")]),
            "approver": create_account(session, "pheduyet.kyso", [("approver", "TU04")]),
        }
        session.commit()
    return {name: bearer_client(app, token) for name, token in tokens.items()}


@pytest.fixture
def task_id(client) -> int:  # noqa: ANN001
    document = post_document(client, "16-KH/TU", [
        task_body("1", "Tổng kết việc thực hiện chỉ thị tại Cao Bằng", TU04)])
    return task_ids(document)[0]


def approve(app, accounts, task_id: int) -> int:  # noqa: ANN001
    set_clock(app, "2026-04-01T09:00:00+07:00")
    submitted = accounts["updater"].post(f"/api/v1/tasks/{task_id}/updates",
                                         json={"reported_state": "in_progress",
                                               "progress_percent": 40})
    update_id = submitted.get_json()["update"]["id"]
    set_clock(app, "2026-04-01T10:00:00+07:00")
    response = accounts["approver"].post(f"/api/v1/updates/{update_id}/approve")
    assert response.status_code == 200, response.get_data(as_text=True)
    return update_id


def test_approval_signed_with_record(app, accounts, task_id, session) -> None:  # noqa: ANN001
    update_id = approve(app, accounts, task_id)

    row = session.scalars(select(ApprovalSignature)).one()
    entry = session.get(AuditEntry, row.audit_entry_id)

    assert row.action == "task.progress_approve"
    assert row.object_id == str(update_id)
    assert row.record["decided_by"] == "pheduyet.kyso"
    assert row.record["decision"]["status"] == "approved"
    assert row.record["decision"]["progress_percent"] == 40
    assert row.record["decision"]["reviewed_at"] == "2026-04-01T03:00:00.000000Z"
    assert row.record["audit_entry_hash"] == entry.entry_hash
    assert row.algorithm == "ecdsa-sha256"


def test_untouched_approvals_check_ok(app, accounts, task_id, session) -> None:  # noqa: ANN001
    approve(app, accounts, task_id)

    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert result.checked == 1
    assert result.ok


def test_changed_decision_detected(app, accounts, task_id, session) -> None:  # noqa: ANN001
    update_id = approve(app, accounts, task_id)
    session.execute(update(ProgressUpdate).where(ProgressUpdate.id == update_id)
                    .values(progress_percent=90))

    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert not result.ok
    assert len(result.problems) == 1
    assert result.problems[0].problem == approvals.RECORD_CHANGED
    assert result.problems[0].changed_fields == ("decision.progress_percent",)


def test_changed_approver_detected(app, accounts, task_id, session) -> None:  # noqa: ANN001
    update_id = approve(app, accounts, task_id)
    session.execute(update(ProgressUpdate).where(ProgressUpdate.id == update_id)
                    .values(reviewed_by="nguoi.khac"))

    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert result.problems[0].changed_fields == ("decision.reviewed_by",)


def test_edited_signed_record_detected(app, accounts, task_id, session) -> None:  # noqa: ANN001
    approve(app, accounts, task_id)
    row = session.scalars(select(ApprovalSignature)).one()
    record = json.loads(json.dumps(row.record))
    record["decision"]["progress_percent"] = 90
    session.execute(update(ApprovalSignature).where(ApprovalSignature.id == row.id)
                    .values(record=record))
    session.expire_all()

    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert [item.problem for item in result.problems] == [approvals.SIGNATURE_INVALID]


def test_removed_signature_reported_unsigned(app, accounts, task_id, session) -> None:  # noqa: ANN001
    approve(app, accounts, task_id)
    session.query(ApprovalSignature).delete()

    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert [item.problem for item in result.problems] == [approvals.UNSIGNED]


def test_objection_decision_signed(app, client, accounts, task_id, session) -> None:  # noqa: ANN001
    set_clock(app, "2026-03-06T16:30:00+07:00")
    client.post(f"/api/v1/tasks/{task_id}/transfer")
    set_clock(app, "2026-03-09T09:00:00+07:00")
    accounts["updater"].post(f"/api/v1/tasks/{task_id}/receipt")
    set_clock(app, "2026-03-09T14:00:00+07:00")
    lodged = accounts["approver"].post(f"/api/v1/tasks/{task_id}/objections",
                                       json={"kind": "outside_competence",
                                             "reason": "Không thuộc thẩm quyền của tỉnh"})
    objection_id = lodged.get_json()["objection"]["id"]
    set_clock(app, "2026-03-10T09:00:00+07:00")
    decided = client.post(f"/api/v1/objections/{objection_id}/decision",
                          json={"accept": False, "reason": "Thuộc nhiệm vụ của tỉnh"})
    assert decided.status_code == 200, decided.get_data(as_text=True)

    row = session.scalars(select(ApprovalSignature)).one()
    session.execute(update(Objection).where(Objection.id == objection_id)
                    .values(status="accepted"))
    result = approvals.check_approvals(session, app.config["THEODOI_SETTINGS"])

    assert row.record["decision"]["status"] == "rejected"
    assert row.record["decision"]["decision_reason"] == "Thuộc nhiệm vụ của tỉnh"
    assert row.record["decided_by"] == "vanphong.test"
    assert result.problems[0].changed_fields == ("decision.status",)


def test_cli_reports_changed_record(fresh_database_url, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from node import create_app
    from node.cli import main
    from node.core.db import make_engine, make_session_factory, unit_of_work
    from tests.accounts import officer_token

    config = tmp_path / "node.toml"
    config.write_text(f'instance_path = "instance"\ndatabase_url = "{fresh_database_url}"\n'
                      'log_level = "WARNING"\n', encoding="utf-8")
    monkeypatch.setenv("THEODOI_CONFIG", str(config))
    runner = CliRunner()
    assert runner.invoke(main, ["init"], catch_exceptions=False).exit_code == 0
    engine = make_engine(fresh_database_url)
    with unit_of_work(make_session_factory(engine)) as session:
        tokens = {"officer": officer_token(session, "vanphong.cli"),
                  "updater": create_account(session, "capnhat.cli", [("updater", "TU04")]),
                  "approver": create_account(session, "pheduyet.cli", [("approver", "TU04")])}
    from node.core.settings import load_settings

    app = create_app(load_settings())
    clients = {name: bearer_client(app, token) for name, token in tokens.items()}
    document = post_document(clients["officer"], "17-KH/TU", [
        task_body("1", "Báo cáo kết quả thực hiện tại Cao Bằng", TU04)])
    update_id = approve(app, clients, task_ids(document)[0])
    app.extensions["theodoi_engine"].dispose()

    intact = runner.invoke(main, ["sign", "check-approvals"], catch_exceptions=False)
    audit_intact = runner.invoke(main, ["audit", "verify"], catch_exceptions=False)
    with engine.begin() as connection:
        connection.execute(update(ProgressUpdate).where(ProgressUpdate.id == update_id)
                           .values(progress_percent=100))
    engine.dispose()
    broken = runner.invoke(main, ["sign", "check-approvals"], catch_exceptions=False)
    audit_broken = runner.invoke(main, ["audit", "verify"], catch_exceptions=False)

    assert intact.exit_code == 0, intact.output
    assert "Approval signatures intact: 1 signed decision" in intact.output
    assert audit_intact.exit_code == 0, audit_intact.output
    assert broken.exit_code == 1
    assert "record_changed (decision.progress_percent)" in broken.output
    assert audit_broken.exit_code == 1
    assert "Audit log intact" in audit_broken.output
    assert "record_changed" in audit_broken.output
