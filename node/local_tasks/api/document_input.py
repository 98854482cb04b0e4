"""Strict reading of a JSON document body into a DocumentInput.

Unknown fields and values of the wrong type are problems, and every problem
is collected so the caller sees all of them in one response. Free-text fields
(summary, content...) are never echoed back in a problem, because a
confidential document must not have its text copied into responses or logs.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from node.core.errors import FieldProblem, ProblemCollector
from node.local_tasks.deadlines import DeadlineError, parse_deadline
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import AGENCY_ROLES
from node.local_tasks.service import parse_confidentiality

DOCUMENT_FIELDS = ("reference", "kind", "summary", "issued_on", "signer", "issuing_body",
                   "submitting_body", "confidentiality", "task_count", "tasks", "source")
TASK_FIELDS = ("task_no", "section", "content", "product", "lead_agencies",
               "coordinating_agencies", "monitoring_agency", "group_assignments", "deadline",
               "deadline_on", "deadline_at", "time_class", "reported_state", "completed_at",
               "progress_percent", "result_summary", "transferred_at", "classifications", "extra")
GROUP_FIELDS = ("role", "text")
CLASSIFICATION_FIELDS = ("scheme", "value")
# Fields whose values may be confidential text; problems about them carry no value.
_PRIVATE_FIELDS = {"summary", "section", "content", "product", "result_summary", "extra"}
_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer",
               float: "number", type(None): "null"}


def redact(problem: FieldProblem) -> FieldProblem:
    """Return `problem` without its value when the field may hold confidential text."""
    field_name = problem.path.rsplit(".", 1)[-1]
    if field_name in _PRIVATE_FIELDS and problem.value is not None:
        return FieldProblem(problem.path, problem.message, None)
    return problem


def _type_name(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


class _Reader:
    """Reads typed fields out of JSON objects, recording a problem for each invalid one."""

    def __init__(self, problems: ProblemCollector) -> None:
        self.problems = problems

    def problem(self, path: str, message: str, value: object) -> None:
        field_name = path.rsplit(".", 1)[-1]
        self.problems.add(path, message, None if field_name in _PRIVATE_FIELDS else value)

    def object(self, value: object, path: str, known: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected an object, got {_type_name(value)}", value)
            return None
        for name in value:
            if name not in known:
                self.problems.add(_join(path, name), "unknown field; remove it or use one of "
                                  + ", ".join(known), None)
        return value

    def string(self, data: dict, name: str, path: str, *, required: bool = False) -> str | None:
        value = data.get(name)
        field_path = _join(path, name)
        if value is None:
            if required:
                self.problems.add(field_path, "missing; this field is required", None)
            return None
        if not isinstance(value, str):
            self.problem(field_path, f"expected a string, got {_type_name(value)}", value)
            return None
        return value

    def integer(self, data: dict, name: str, path: str) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        # bool is a subclass of int in Python but not an integer in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(_join(path, name), f"expected an integer, got {_type_name(value)}", value)
            return None
        return value

    def day(self, data: dict, name: str, path: str) -> date | None:
        text = self.string(data, name, path)
        if text is None:
            return None
        try:
            if not _DATE_PATTERN.match(text):
                raise ValueError(text)
            return date.fromisoformat(text)
        except ValueError:
            self.problem(_join(path, name), "invalid date; write it as YYYY-MM-DD, "
                         "e.g. 2026-06-30", text)
            return None

    def instant(self, data: dict, name: str, path: str) -> datetime | None:
        text = self.string(data, name, path)
        if text is None:
            return None
        field_path = _join(path, name)
        try:
            if _DATE_PATTERN.match(text):
                raise ValueError(text)
            value = datetime.fromisoformat(text)
        except ValueError:
            self.problem(field_path, "invalid instant; write it as ISO 8601 with a time and an "
                         "offset, e.g. 2026-06-30T17:00:00+07:00", text)
            return None
        if value.tzinfo is None:
            self.problem(field_path, "instant without a time zone; add Z or an offset such as "
                         "+07:00", text)
            return None
        return value

    def array(self, data: dict, name: str, path: str) -> list:
        value = data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(_join(path, name), f"expected an array, got {_type_name(value)}", value)
            return []
        return value

    def strings(self, data: dict, name: str, path: str) -> list[str]:
        result: list[str] = []
        for index, item in enumerate(self.array(data, name, path)):
            if isinstance(item, str):
                result.append(item)
            else:
                self.problem(f"{_join(path, name)}[{index}]",
                             f"expected a string, got {_type_name(item)}", item)
        return result


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _read_deadline(reader: _Reader, data: dict, path: str,
                   issued_on: date | None) -> DeadlineInput:
    text = reader.string(data, "deadline", path)
    on = reader.day(data, "deadline_on", path)
    at = reader.instant(data, "deadline_at", path)
    time_class = reader.string(data, "time_class", path)
    if on is not None and at is not None:
        reader.problems.add(_join(path, "deadline_at"), "give either deadline_on or "
                            "deadline_at, not both", data.get("deadline_at"))
        at = None
    if on is not None:
        deadline = DeadlineInput(text=text, on=on, precision="day")
    elif at is not None:
        deadline = DeadlineInput(text=text, at=at, precision="instant")
    elif text is not None and text.strip():
        try:
            # A period without a year ("Quý II") takes the year of the document's issue.
            deadline = parse_deadline(text, issued_on=issued_on)
        except DeadlineError as exc:
            reader.problems.add(_join(path, "deadline"), str(exc), text)
            return DeadlineInput(text=text)
    else:
        has_any = any(data.get(name) is not None for name in ("deadline_on", "deadline_at"))
        if time_class is None and not has_any:
            reader.problems.add(_join(path, "time_class"), "a task without a deadline needs its "
                                "time class: regular, continuous, long_term or ad_hoc", None)
        deadline = DeadlineInput(text=text)
    if time_class is not None:
        if time_class == "with_deadline" and deadline.on is None and deadline.at is None:
            reader.problems.add(_join(path, "time_class"), "with_deadline needs deadline, "
                                "deadline_on or deadline_at", time_class)
        deadline.time_class = time_class
    return deadline


def _read_groups(reader: _Reader, data: dict, path: str) -> list[tuple[str, str]]:
    groups: list[tuple[str, str]] = []
    for index, item in enumerate(reader.array(data, "group_assignments", path)):
        item_path = f"{_join(path, 'group_assignments')}[{index}]"
        group = reader.object(item, item_path, GROUP_FIELDS)
        if group is None:
            continue
        role = reader.string(group, "role", item_path, required=True)
        text = reader.string(group, "text", item_path, required=True)
        if role is not None and role not in AGENCY_ROLES:
            reader.problems.add(_join(item_path, "role"), "unknown role; use one of "
                                + ", ".join(AGENCY_ROLES), role)
            continue
        if text is not None and not text.strip():
            reader.problems.add(_join(item_path, "text"), "empty; copy the cell's text", text)
            continue
        if role is not None and text is not None:
            groups.append((role, text))
    return groups


def _read_classifications(reader: _Reader, data: dict, path: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for index, item in enumerate(reader.array(data, "classifications", path)):
        item_path = f"{_join(path, 'classifications')}[{index}]"
        pair = reader.object(item, item_path, CLASSIFICATION_FIELDS)
        if pair is None:
            continue
        scheme = reader.string(pair, "scheme", item_path, required=True)
        value = reader.string(pair, "value", item_path, required=True)
        if scheme is not None and value is not None:
            pairs.append((scheme, value))
    return pairs


def _read_task(reader: _Reader, item: object, path: str,
               issued_on: date | None) -> TaskInput | None:
    data = reader.object(item, path, TASK_FIELDS)
    if data is None:
        return None
    task = TaskInput(
        task_no=reader.string(data, "task_no", path),
        section=reader.string(data, "section", path),
        content=reader.string(data, "content", path),
        product=reader.string(data, "product", path),
        lead_agencies=reader.strings(data, "lead_agencies", path),
        coordinating_agencies=reader.strings(data, "coordinating_agencies", path),
        monitoring_agency=reader.string(data, "monitoring_agency", path),
        group_assignments=_read_groups(reader, data, path),
        deadline=_read_deadline(reader, data, path, issued_on),
        completed_at=reader.instant(data, "completed_at", path),
        progress_percent=reader.integer(data, "progress_percent", path),
        result_summary=reader.string(data, "result_summary", path),
        transferred_at=reader.instant(data, "transferred_at", path),
        classifications=_read_classifications(reader, data, path),
    )
    state = reader.string(data, "reported_state", path)
    if state is not None:
        task.reported_state = state
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, dict):
        reader.problem(_join(path, "extra"), f"expected an object, got {_type_name(extra)}", extra)
    elif extra is not None:
        task.extra = extra
    return task


def read_document(body: object) -> tuple[DocumentInput, ProblemCollector]:
    """Read a JSON body into a DocumentInput and the problems found on the way.

    Raises AbsolutelySecretError at once for tuyệt mật, before any other field
    is looked at. Fields with problems are left out of the returned input, so
    the service can still check the rest.
    """
    problems = ProblemCollector()
    reader = _Reader(problems)
    data = reader.object(body, "", DOCUMENT_FIELDS)
    if data is None:
        return DocumentInput(), problems
    confidentiality = reader.string(data, "confidentiality", "")
    if confidentiality is not None:
        parse_confidentiality(confidentiality)
    doc = DocumentInput(
        reference=reader.string(data, "reference", "", required=True) or "",
        kind_code=reader.string(data, "kind", ""),
        summary=reader.string(data, "summary", ""),
        issued_on=reader.day(data, "issued_on", ""),
        signer=reader.string(data, "signer", ""),
        issuing_body=reader.string(data, "issuing_body", ""),
        submitting_body=reader.string(data, "submitting_body", ""),
        confidentiality=confidentiality or "regular",
        task_count=reader.integer(data, "task_count", ""),
        source=reader.string(data, "source", ""),
    )
    if doc.task_count is not None and doc.task_count < 0:
        problems.add("task_count", "must not be negative", doc.task_count)
        doc.task_count = None
    for index, item in enumerate(reader.array(data, "tasks", "")):
        # An empty placeholder keeps the indices that the service reports in line.
        task = _read_task(reader, item, f"tasks[{index}]", doc.issued_on)
        doc.tasks.append(task or TaskInput())
    return doc, problems
