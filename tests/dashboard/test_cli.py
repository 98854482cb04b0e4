"""`theodoi dashboard recount`: rebuild the counters, or compare them with a full recount."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from node.cli import main
from node.core.db import make_engine

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def run(node_config, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_recount_check_finds_and_fixes_drift(run, fresh_database_url):  # noqa: ANN001
    assert run("init").exit_code == 0
    imported = run("import", str(EXAMPLES / "624_TB-VPCP.xlsx"), "--create-agencies")
    assert imported.exit_code == 0, imported.output

    clean = run("dashboard", "recount", "--check")
    assert clean.exit_code == 0, clean.output
    assert "equal a full recount" in clean.output

    engine = make_engine(fresh_database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "UPDATE dashboard_counters SET task_count = task_count + 3 WHERE dimension = 'all'"))
        connection.execute(text(
            "UPDATE dashboard_member_totals SET task_count = task_count + 2 "
            "WHERE dimension = 'all'"))
    engine.dispose()
    drifted = run("dashboard", "recount", "--check")
    assert drifted.exit_code == 1
    assert "dashboard counters differ from a full recount" in drifted.output
    assert "  all - " in drifted.output
    assert "1 dashboard member totals differ from a full recount" in drifted.output
    # The file contains 74 tasks (the real overdue tasks of 624/TB-VPCP).
    assert "  all -: 76, 74" in drifted.output

    rebuilt = run("dashboard", "recount")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "74 tasks" in rebuilt.output
    assert run("dashboard", "recount", "--check").exit_code == 0
