"""Package layering: the local task domain never depends on the federation package."""

from __future__ import annotations

import ast
from pathlib import Path

LOCAL_TASKS = Path(__file__).resolve().parents[2] / "node" / "local_tasks"


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
    return modules


def test_local_tasks_never_imports_federation() -> None:
    offenders = []
    for path in sorted(LOCAL_TASKS.rglob("*.py")):
        for module in imported_modules(path):
            if module == "node.federation" or module.startswith("node.federation."):
                offenders.append(f"{path.relative_to(LOCAL_TASKS)}: {module}")
    assert offenders == []
