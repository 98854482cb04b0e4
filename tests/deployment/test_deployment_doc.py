"""docs/deployment.md: its `theodoi` commands parse and its settings files load.

The commands are parsed by the real command line, without running them, so
a renamed command, option or argument in the guide fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from node.cli import main
from node.core.settings import load_settings
from tests.deployment.container_files import REPO_ROOT

DEPLOYMENT_DOC = REPO_ROOT / "docs" / "deployment.md"


def code_blocks(language: str) -> list[str]:
    text = DEPLOYMENT_DOC.read_text(encoding="utf-8")
    return re.findall(r"^```" + language + r"\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def theodoi_commands() -> list[str]:
    commands = []
    for block in code_blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("theodoi "):
                commands.append(line.split("#")[0].strip())
    return commands


def parse_command(words: list[str]) -> click.Context:
    """Parse `words` (without the program name) down to the leaf command, as click does
    before it runs one; raise click's usage errors on a mistake."""
    context = main.make_context("theodoi", list(words))
    command: click.Command = main
    while isinstance(command, click.Group):
        # Click 8.2 keeps the subcommand name apart (protected_args, deprecated);
        # Click 9 leaves every remaining word in args.
        remaining = [*getattr(context, "_protected_args", []), *context.args]
        name, command, rest = command.resolve_command(context, remaining)
        context = command.make_context(name, rest, parent=context)
    return context


def test_guide_lists_commands() -> None:
    assert len(theodoi_commands()) >= 15


@pytest.mark.parametrize("line", theodoi_commands())
def test_guide_command_parses(line: str) -> None:
    parse_command(shlex.split(line)[1:])


def test_parse_command_rejects_unknown_option() -> None:
    with pytest.raises(click.NoSuchOption):
        parse_command(["federation", "enrol-token", "TU01", "--days", "2"])
    with pytest.raises(click.UsageError):
        parse_command(["federation", "enrol"])


def test_guide_settings_files_load(tmp_path: Path) -> None:
    blocks = code_blocks("toml")
    assert len(blocks) >= 2
    for index, block in enumerate(blocks):
        path = tmp_path / f"node-{index}.toml"
        path.write_text(block, encoding="utf-8")
        settings = load_settings(path, environ={})
        assert settings.node_id in ("central", "tu01-ha-noi")
