"""Readers for the container deployment files: the Dockerfile, compose.yaml, env.example
and Dockerfile.dockerignore.

They read only what the tests need, following the Dockerfile reference and
the Compose specification. Dockerfile instructions may continue over lines
with a backslash and take the JSON (exec) or the shell form. Compose values
interpolate `${VAR}` with its `:-`, `-`, `:?`, `?`, `:+` and `+` forms, and
YAML merge keys are resolved. .dockerignore patterns may use `*`, `?`, `**`
and `!` exceptions.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER_DIR = REPO_ROOT / "docker"
DOCKERFILE = DOCKER_DIR / "Dockerfile"
DOCKERIGNORE = DOCKER_DIR / "Dockerfile.dockerignore"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
ENV_EXAMPLE = DOCKER_DIR / "env.example"
POSTGRES_INIT_SQL = DOCKER_DIR / "postgres" / "init.sql"


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword in upper case and the text after it."""

    keyword: str
    arguments: str

    def exec_form(self) -> list[str] | None:
        """Return the JSON array of an exec-form instruction, or None for the shell form."""
        text = self.arguments.strip()
        if not text.startswith("["):
            return None
        return json.loads(text)


@dataclass
class Dockerfile:
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [item for item in self.instructions if item.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"the Dockerfile has no {keyword} instruction"
        return found[-1]

    def environment(self) -> dict[str, str]:
        """Return the variables of every ENV instruction, later ones overriding earlier ones."""
        variables: dict[str, str] = {}
        for instruction in self.all("ENV"):
            words = shlex.split(instruction.arguments)
            if words and "=" not in words[0]:
                # The legacy form `ENV NAME value with spaces`.
                variables[words[0]] = " ".join(words[1:])
                continue
            for word in words:
                name, _, value = word.partition("=")
                variables[name] = value
        return variables

    def copies(self) -> list[tuple[list[str], str]]:
        """Return (sources, destination) of every COPY, sources relative to the build context."""
        result = []
        for instruction in self.all("COPY"):
            words = instruction.exec_form() or shlex.split(instruction.arguments)
            words = [word for word in words if not word.startswith("--")]
            result.append((words[:-1], words[-1]))
        return result

    def healthcheck_command(self) -> list[str]:
        """Return the exec-form command of HEALTHCHECK, without its options."""
        text = self.last("HEALTHCHECK").arguments
        _options, separator, command = text.partition("CMD ")
        assert separator, f"HEALTHCHECK has no CMD: {text!r}"
        parsed = Instruction("CMD", command).exec_form()
        assert parsed is not None, f"HEALTHCHECK CMD is not in exec (JSON) form: {command!r}"
        return parsed

    def installed_scripts(self) -> dict[str, Path]:
        """Map the command name of each script copied to /usr/local/bin to its file in the
        repository."""
        scripts = {}
        for sources, destination in self.copies():
            if len(sources) == 1 and destination.startswith("/usr/local/bin/"):
                scripts[PurePosixPath(destination).name] = REPO_ROOT / sources[0]
        return scripts


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """Parse the instructions of a Dockerfile, joining backslash-continued lines."""
    instructions: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        # Comment lines are dropped, also inside a continued instruction.
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, arguments = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    assert not pending, f"{path} ends inside a continued instruction"
    return Dockerfile(instructions)


def read_env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """Read NAME=value lines as `docker compose --env-file` does (comments and blanks skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, separator, value = stripped.partition("=")
        assert separator, f"{path}: line {line!r} is not NAME=value"
        values[name.strip()] = value.strip()
    return values


_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<operator>:?[-?+])(?P<word>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


class InterpolationError(ValueError):
    """A `${VAR:?message}` or `${VAR?message}` variable is missing or empty."""


def interpolate(text: str, variables: dict[str, str]) -> str:
    """Substitute `$VAR` and `${VAR...}` as the Compose specification describes."""

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("bare")
        operator = match.group("operator") or ""
        word = match.group("word") or ""
        value = variables.get(name)
        unset_or_empty = not value
        missing = unset_or_empty if operator.startswith(":") else value is None
        if operator.endswith("-"):
            return word if missing else value  # type: ignore[return-value]
        if operator.endswith("?"):
            if missing:
                raise InterpolationError(f"{name}: {word}")
            return value  # type: ignore[return-value]
        if operator.endswith("+"):
            return "" if missing else word
        return value or ""

    return _INTERPOLATION.sub(substitute, text)


def variables_referenced(text: str) -> set[str]:
    """Return the names of the variables that `text` interpolates."""
    return {match.group("braced") or match.group("bare")
            for match in _INTERPOLATION.finditer(text) if match.group(0) != "$$"}


def _interpolate_tree(node: object, variables: dict[str, str]) -> object:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, list):
        return [_interpolate_tree(item, variables) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, variables) for key, value in node.items()}
    return node


def load_compose(variables: dict[str, str], path: Path = COMPOSE_FILE) -> dict:
    """Load the compose file with YAML merge keys resolved and variables interpolated."""
    with path.open(encoding="utf-8") as handle:
        tree = yaml.safe_load(handle)
    return _interpolate_tree(tree, variables)  # type: ignore[return-value]


def service_environment(service: dict) -> dict[str, str]:
    """Return a service's `environment`, given as a mapping or as a list of NAME=value."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def dependency_order(services: dict, names: list[str]) -> list[str]:
    """Order `names` so that every service comes after the services it depends on."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"depends_on cycle: {' -> '.join((*path, name))}"
        if name in ordered or name not in names:
            return
        for dependency in services[name].get("depends_on") or {}:
            visit(dependency, (*path, name))
        ordered.append(name)

    for name in names:
        visit(name, ())
    return ordered


def depends_on_conditions(service: dict) -> dict[str, str]:
    """Return {service: condition} of `depends_on`, in its short (list) or long form."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return dict.fromkeys(depends_on, "service_started")
    return {name: (spec or {}).get("condition", "service_started")
            for name, spec in depends_on.items()}


@dataclass
class IgnorePatterns:
    """The patterns of a .dockerignore file, applied in order, the last match deciding."""

    rules: list[tuple[bool, re.Pattern]] = field(default_factory=list)

    def excludes(self, path: str) -> bool:
        """Whether a path relative to the build context is left out of the context."""
        # A path is left out when it or one of its parent folders matches.
        parts = PurePosixPath(path).parts
        candidates = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
        excluded = False
        for is_exception, pattern in self.rules:
            if any(pattern.fullmatch(candidate) for candidate in candidates):
                excluded = not is_exception
        return excluded


def _pattern_regex(pattern: str) -> re.Pattern:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        character = pattern[index]
        if pattern.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if pattern.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if character == "*":
            parts.append("[^/]*")
        elif character == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(character))
        index += 1
    return re.compile("".join(parts))


def read_dockerignore(path: Path = DOCKERIGNORE) -> IgnorePatterns:
    return parse_dockerignore(path.read_text(encoding="utf-8"))


def parse_dockerignore(text: str) -> IgnorePatterns:
    patterns = IgnorePatterns()
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        is_exception = stripped.startswith("!")
        text = stripped.removeprefix("!").strip()
        # Docker cleans each pattern like a path: no leading slash, no "./" parts.
        cleaned = str(PurePosixPath("/" + text)).lstrip("/") or "."
        assert "[" not in cleaned, f"character classes are not read here: {stripped!r}"
        patterns.rules.append((is_exception, _pattern_regex(cleaned)))
    return patterns
