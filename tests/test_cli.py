"""The `theodoi` command on a fresh database of the suite's kind."""

import json

import pytest
from click.testing import CliRunner

from node.cli import main


@pytest.fixture
def run(node_config, monkeypatch):
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_init_creates_and_seeds(run):
    first = run("init")
    assert first.exit_code == 0, first.output
    assert "org_units: 58 added" in first.output
    second = run("init")
    assert "org_units: 0 added" in second.output


def test_db_check_after_init(run):
    run("init")
    result = run("db", "check")
    assert result.exit_code == 0
    assert "Models match the migrations" in result.output


def test_report_levels_on_empty_node(run):
    run("init")
    result = run("report", "levels", "--json", "--at", "2026-03-02T10:00:00+07:00")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["total"] == 0
    assert data["at"] == "2026-03-02T10:00:00+07:00"
    assert set(data["counts"]) == {
        "completed_on_time", "completed_late", "in_progress_on_time", "in_progress_overdue",
        "implemented_not_completed", "not_started_on_time", "not_started_overdue"}


def test_report_levels_rejects_bad_instant(run):
    run("init")
    result = CliRunner().invoke(main, ["report", "levels", "--at", "31/02/2026"])
    assert result.exit_code == 2
    assert "31/02/2026" in result.output


def test_classification_add_and_list(run):
    run("init")
    added = run("classification", "add", "scope", "border", "Biên giới", "Border areas")
    assert added.exit_code == 0
    listed = run("classification", "list")
    assert "scope\tborder\tBiên giới\tBorder areas" in listed.output


def test_classification_add_rejects_bad_code(run):
    run("init")
    result = CliRunner().invoke(main, ["classification", "add", "scope", "Biên Giới", "x", "y"])
    assert result.exit_code == 2
    assert "Biên Giới" in result.output


def test_uninitialised_node_gets_hint(run):
    result = CliRunner().invoke(main, ["report", "levels"])
    assert result.exit_code == 2
    assert "theodoi init" in result.output
    assert "Traceback" not in result.output


def test_missing_config_file_named(tmp_path, monkeypatch):
    # `--config` sets THEODOI_CONFIG in this process; monkeypatch removes it
    # afterwards, so later tests and the processes they start do not read it.
    monkeypatch.setenv("THEODOI_CONFIG", "")
    missing = tmp_path / "absent.toml"
    result = CliRunner().invoke(main, ["--config", str(missing), "report", "levels"])
    assert result.exit_code == 2
    assert str(missing) in result.output
    assert "--config" in result.output


def test_report_levels_defaults_to_vietnam_time(run):
    run("init")
    result = run("report", "levels", "--json")
    assert json.loads(result.output)["at"].endswith("+07:00")


def test_init_is_quiet_without_verbose(run):
    result = run("init")
    assert "INFO" not in result.output


def test_open_explanations_on_empty_node(run):
    run("init")
    result = run("workflow", "open-explanations", "--at", "2026-07-01T00:00:00+07:00")
    assert result.exit_code == 0, result.output
    assert "Explanation requests opened: 0" in result.output


def test_open_explanations_for_missed_report(run, node_config):
    from datetime import date

    from node.core.cli_support import open_session
    from node.core.settings import load_settings
    from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
    from node.local_tasks.service import create_document

    run("init")
    with open_session(load_settings(node_config)) as session:
        create_document(session, DocumentInput(
            reference="09/KH-VPTW", summary="Kế hoạch kiểm thử", issued_on=date(2026, 3, 2),
            tasks=[TaskInput(task_no="1", content="Báo cáo chuyên đề",
                             lead_agencies=["Văn phòng Trung ương Đảng"],
                             deadline=DeadlineInput(text="20/03/2026", on=date(2026, 3, 20),
                                                    precision="day"))]))
    # The result report was due three working days after 20/03/2026: 25/03/2026 17:00.
    before = run("workflow", "open-explanations", "--at", "2026-03-25T16:00:00+07:00")
    after = run("workflow", "open-explanations", "--at", "2026-04-01T09:00:00+07:00")
    again = run("workflow", "open-explanations", "--at", "2026-04-02T09:00:00+07:00")
    assert "opened: 0" in before.output
    assert "opened: 1" in after.output
    assert "opened: 0" in again.output
