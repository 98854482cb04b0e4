"""`theodoi reports produce-due` and `theodoi evaluation run` on a fresh node."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from node.cli import main


@pytest.fixture
def run(node_config, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_produce_due_makes_the_four_summaries_once(run) -> None:  # noqa: ANN001
    assert run("init").exit_code == 0
    # A central node without tasks: the monthly, quarterly, half-yearly and yearly summaries.
    first = run("reports", "produce-due", "--at", "2026-04-02T10:00+07:00")
    assert first.exit_code == 0, first.output
    assert "Reports produced: 4" in first.output
    again = run("reports", "produce-due", "--at", "2026-04-02T10:00+07:00")
    assert "Reports produced: 0" in again.output


def test_produce_due_rejects_a_bad_instant(run) -> None:  # noqa: ANN001
    run("init")
    result = CliRunner().invoke(main, ["reports", "produce-due", "--at", "02/04/2026"])
    assert result.exit_code == 2
    assert "--at" in result.output


def test_evaluation_run_on_a_node_without_tasks(run) -> None:  # noqa: ANN001
    run("init")
    result = run("evaluation", "run", "--at", "2026-04-02T10:00+07:00")
    assert result.exit_code == 0, result.output
    assert "quarter from 2026-01-01: 0 agencies, 0 explanation requests opened" in result.output
