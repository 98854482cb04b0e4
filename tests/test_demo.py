"""`theodoi demo --no-serve`: a demo node prepared in a folder, and reused on a second run.

The demo keeps its data in SQLite inside its folder, whatever database the
suite runs on.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, func, select

import node.cli
from node.local_tasks.models import Document, Task


@pytest.fixture(autouse=True)
def default_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove THEODOI_* settings so that the demo reads only the file in its folder."""
    for name in list(os.environ):
        if name.startswith("THEODOI_") and not name.startswith("THEODOI_TEST_"):
            monkeypatch.delenv(name)


def run_demo(folder: Path) -> Result:
    return CliRunner().invoke(node.cli.main, ["demo", str(folder), "--no-serve"])


def stored_counts(folder: Path) -> tuple[int, int]:
    engine = create_engine(f"sqlite:///{folder / 'theodoi.sqlite3'}")
    try:
        with engine.connect() as connection:
            documents = connection.scalar(select(func.count()).select_from(Document))
            tasks = connection.scalar(select(func.count()).select_from(Task))
    finally:
        engine.dispose()
    return documents, tasks


def test_demo_loads_examples(tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    result = run_demo(folder)

    assert result.exit_code == 0, result.output
    assert "Imported tasks_real_documents.csv" in result.stdout
    assert f"Demo node ready in {folder}" in result.stdout
    assert (folder / "theodoi.toml").is_file()
    assert stored_counts(folder) == (5, 256)


def test_demo_reuses_folder(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    first = run_demo(folder)
    assert first.exit_code == 0, first.output
    settings_text = (folder / "theodoi.toml").read_text(encoding="utf-8")

    second = run_demo(folder)

    assert second.exit_code == 0, second.output
    assert "Imported" not in second.stdout
    assert f"Demo node ready in {folder}" in second.stdout
    assert stored_counts(folder) == (5, 256)
    assert (folder / "theodoi.toml").read_text(encoding="utf-8") == settings_text
