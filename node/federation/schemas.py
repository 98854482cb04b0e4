"""The JSON Schemas of the exchange protocol, loaded once from schemas/exchange/.

Every schema is read from the files into a `referencing` registry, so a `$ref`
between them resolves locally and no schema is ever retrieved over the network.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from node.core.errors import FieldProblem
from node.core.settings import PROJECT_ROOT

SCHEMAS_DIR = PROJECT_ROOT / "schemas" / "exchange"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339 date-time: a "T" (or "t"), seconds required, and a zone offset required.
_DATE_TIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")

FORMAT_CHECKER = FormatChecker()


@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(instance: object) -> bool:
    # jsonschema's own "date" check is only as strict as the installed version
    # makes it, so the RFC 3339 full-date form and the calendar are checked here.
    if not isinstance(instance, str):
        return True
    if not _DATE.match(instance):
        return False
    date.fromisoformat(instance)
    return True


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(instance: object) -> bool:
    # Without the optional rfc3339-validator package jsonschema skips date-time.
    if not isinstance(instance, str):
        return True
    match = _DATE_TIME.match(instance)
    if not match:
        return False
    date.fromisoformat(match.group(1))
    # Leap seconds (:60) are valid RFC 3339 but not Python times; they are rejected.
    datetime.fromisoformat(instance.upper().replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("uuid", raises=ValueError)
def _is_uuid(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    return re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                        instance.lower()) is not None


def _reject_retrieval(uri: str) -> Resource:
    raise NoSuchResource(ref=uri)


@cache
def _registry(version: str) -> tuple[Registry, dict[str, dict]]:
    directory = SCHEMAS_DIR / f"v{version}"
    schemas: dict[str, dict] = {}
    resources = []
    for path in sorted(directory.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        schemas[path.stem] = contents
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry = Registry(retrieve=_reject_retrieval).with_resources(resources).crawl()
    return registry, schemas


def schema_names(version: str = "1") -> list[str]:
    """Return the names of the schemas of a protocol version (e.g. "envelope")."""
    return sorted(_registry(version)[1])


def schema_path(name: str, version: str = "1") -> Path:
    return SCHEMAS_DIR / f"v{version}" / f"{name}.json"


@cache
def validator(name: str, version: str = "1") -> Draft202012Validator:
    """Return the validator of schema `name`; raise KeyError for an unknown name."""
    registry, schemas = _registry(version)
    inlined = _inline_refs(schemas[name], schemas[name], schemas, 0)
    return Draft202012Validator(inlined, registry=registry, format_checker=FORMAT_CHECKER)


# Resolving a `$ref` through the registry on every validation took about a third
# of the time to verify a message, so the references between these files are
# replaced by copies of their targets once, when a validator is built.
MAX_INLINE_DEPTH = 20


def _ref_target(ref: str, document: dict, schemas: dict[str, dict]) -> tuple[dict, dict] | None:
    file_part, _, pointer = ref.partition("#")
    target_document = schemas.get(file_part.removesuffix(".json")) if file_part else document
    if target_document is None or not pointer.startswith("/"):
        return None
    node: object = target_document
    for part in pointer.lstrip("/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return (node, target_document) if isinstance(node, dict) else None


def _inline_refs(node: object, document: dict, schemas: dict[str, dict], depth: int) -> object:
    if isinstance(node, list):
        return [_inline_refs(item, document, schemas, depth) for item in node]
    if not isinstance(node, dict):
        return node
    result = {key: _inline_refs(value, document, schemas, depth) if key != "$ref" else value
              for key, value in node.items()}
    ref = node.get("$ref")
    if not isinstance(ref, str) or depth >= MAX_INLINE_DEPTH:
        return result
    found = _ref_target(ref, document, schemas)
    if found is None:
        return result
    target = _inline_refs(found[0], found[1], schemas, depth + 1)
    del result["$ref"]
    result["allOf"] = [*result.get("allOf", []), target]
    return result


def _path_text(error: ValidationError, prefix: str) -> str:
    parts = [prefix] if prefix else []
    parts.extend(str(part) for part in error.absolute_path)
    return "/".join(parts) or "/"


# Long jsonschema messages quote the whole value; they are cut to this length.
MAX_MESSAGE_CHARS = 300


def validation_problems(name: str, instance: object, *, prefix: str = "",
                        version: str = "1") -> list[FieldProblem]:
    """Return every schema error of `instance` against schema `name`, in path order.

    An error that two rules of the schema both find is listed once.
    """
    problems: list[FieldProblem] = []
    seen: set[tuple[str, str]] = set()
    errors = sorted(validator(name, version).iter_errors(instance),
                    key=lambda error: [str(part) for part in error.absolute_path])
    for error in errors:
        for leaf in _leaf_errors(error):
            for problem in _problems_of(leaf, prefix):
                if (problem.path, problem.message) not in seen:
                    seen.add((problem.path, problem.message))
                    problems.append(problem)
    return problems


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    # Errors of anyOf and oneOf wrap the errors of the subschemas that failed;
    # the innermost ones name the actual field.
    if not error.context or error.validator == "not":
        return [error]
    leaves = []
    for child in error.context:
        leaves.extend(_leaf_errors(child))
    return leaves


def _required_names(schema: object) -> list[str]:
    if isinstance(schema, dict):
        names = list(schema.get("required", []))
        for branch in schema.get("anyOf", []):
            names.extend(_required_names(branch))
        return names
    return []


_CONFIDENTIAL_FIELD = ("is not allowed here: a confidential or top-secret item, and every task "
                      "of such a document, omits this field")
_FORBIDDEN_FIELD_MESSAGES = {
    "summary": _CONFIDENTIAL_FIELD,
    "content": _CONFIDENTIAL_FIELD,
    "product": _CONFIDENTIAL_FIELD,
    "result_summary": _CONFIDENTIAL_FIELD,
    "section": _CONFIDENTIAL_FIELD,
    "milestone": _CONFIDENTIAL_FIELD,
    "difficulties": _CONFIDENTIAL_FIELD,
    "next_steps": _CONFIDENTIAL_FIELD,
    "completed_at": "is allowed only when reported_state is completed",
    "reassigned_to": "is allowed only when the decision is accepted",
}


def _problems_of(error: ValidationError, prefix: str) -> list[FieldProblem]:
    path = _path_text(error, prefix)
    if error.validator == "not":
        # The schemas use `not: {required: [...]}` only to forbid fields, such as
        # the summary of a confidential document. The message names the fields
        # and never quotes their values.
        present = [field for field in _required_names(error.validator_value)
                   if isinstance(error.instance, dict) and field in error.instance]
        return [FieldProblem(f"{path.rstrip('/')}/{field}".lstrip("/"),
                             _FORBIDDEN_FIELD_MESSAGES.get(field, "is not allowed here"))
                for field in present]
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS - 1] + "…"
    return [FieldProblem(path, message)]
