"""`theodoi org-unit add` and `list` on a fresh, initialised node."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from node.cli import main

WARD = ("TU01-P00004", "Đảng bộ phường Ba Đình")
# The seed data has 58 units (see test_cli.py).
SEEDED_UNITS = 58


@pytest.fixture
def run(node_config, monkeypatch):  # noqa: ANN001, ANN201
    monkeypatch.setenv("THEODOI_CONFIG", str(node_config))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def _codes(run) -> list[str]:  # noqa: ANN001
    result = run("org-unit", "list")
    assert result.exit_code == 0, result.output
    return [line.split("\t")[0] for line in result.output.splitlines()]


def test_add_sub_unit_and_list(run) -> None:  # noqa: ANN001
    added = run("org-unit", "add", *WARD, "--parent", "TU01")
    assert added.exit_code == 0, added.output
    assert "Added org unit TU01-P00004 (Đảng bộ phường Ba Đình) under TU01." in added.output

    listed = run("org-unit", "list", "--parent", "TU01")
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        "TU01-P00004\tTU01\tcommune_party_committee\tĐảng bộ phường Ba Đình"]
    assert len(_codes(run)) == SEEDED_UNITS + 1

    body = run("org-unit", "add", "TU01-BTG", "Ban Tuyên giáo Thành ủy Hà Nội",
               "--parent", "tu01", "--kind", "party_body")
    assert body.exit_code == 0, body.output
    listed = run("org-unit", "list", "--parent", "TU01")
    assert [line.split("\t")[:3] for line in listed.output.splitlines()] == [
        ["TU01-BTG", "TU01", "party_body"], ["TU01-P00004", "TU01", "commune_party_committee"]]


@pytest.mark.parametrize(("arguments", "field", "value", "fix"), [
    (("TU01 P4", "Đảng bộ phường A", "--parent", "TU01"), "code", "'TU01 P4'",
     "at most 40 letters, digits, dots, hyphens or underscores"),
    (("tu79", "Đảng bộ phường A", "--parent", "TU01"), "code", "'tu79'",
     "choose another code"),
    (("TU01-P1", "  ", "--parent", "TU01"), "name", "''", "give the full name"),
    (("TU01-P1", "Thành ủy Hà Nội", "--parent", "TU01"), "name", "'Thành ủy Hà Nội'",
     "tells the two units apart"),
    (("TU01-P1", "Đảng bộ phường A", "--parent", "TU99"), "parent", "'TU99'",
     "theodoi org-unit list"),
    (("TU01-P1", "Đảng bộ phường A", "--parent", "TU01", "--kind", "ward"), "kind", "'ward'",
     "use one of: central_committee"),
])
def test_invalid_field_rejected(run, arguments, field, value, fix) -> None:  # noqa: ANN001
    result = run("org-unit", "add", *arguments)

    assert result.exit_code == 2
    assert "The org unit was not added." in result.output
    line = next(line for line in result.output.splitlines() if line.startswith(f"  {field} ="))
    assert line.startswith(f"  {field} = {value}: ")
    assert fix in line
    assert len(_codes(run)) == SEEDED_UNITS


def test_every_invalid_field_listed(run) -> None:  # noqa: ANN001
    result = run("org-unit", "add", "bad code!", "", "--parent", "NOPE", "--kind", "ward")

    assert result.exit_code == 2
    fields = [line.split(" = ")[0].strip() for line in result.output.splitlines()
              if line.startswith("  ")]
    assert fields == ["code", "name", "parent", "kind"]
    assert len(_codes(run)) == SEEDED_UNITS


def test_list_unknown_parent_rejected(run) -> None:  # noqa: ANN001
    result = run("org-unit", "list", "--parent", "TU99")

    assert result.exit_code == 2
    assert "  parent = 'TU99': No org unit has the code TU99" in result.output
