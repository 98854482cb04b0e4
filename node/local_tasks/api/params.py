"""Query parameters of the task list and the counts, shared by the API and the web pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from node.core.errors import FieldProblem, ProblemCollector, ValidationError
from node.local_tasks.completion import LEVELS
from node.local_tasks.models import AGENCY_ROLES, ClassificationValue, Document, OrgUnit
from node.local_tasks.queries import MAX_PAGE_SIZE, TaskFilter
from node.local_tasks.timeparse import parse_instant

TASK_FILTER_PARAMS = ("level", "agency_id", "role", "document_id", "classification",
                      "deadline_from", "deadline_to", "has_deadline", "q")
PAGING_PARAMS = ("page", "page_size")
# Accepted anywhere: the language of the response (see node.core.i18n).
GLOBAL_PARAMS = ("lang",)
MAX_TEXT_LENGTH = 200
_TRUE = ("true", "1")
_FALSE = ("false", "0")


class InvalidQueryError(ValidationError):
    """One or more query parameters are invalid; `problems` names each one."""

    status = 400
    title = "Invalid query parameter"


@dataclass
class TaskQuery:
    """Parsed filters, the evaluation instant and the page of a task list or count."""

    filters: TaskFilter
    at: datetime
    # Whether the caller gave `at`; links then carry it on.
    at_given: bool
    page: int = 1
    page_size: int = 50


def _values(args: MultiDict, name: str) -> list[str]:
    """Return the non-empty values of a parameter; forms send empty ones for "any"."""
    return [value.strip() for value in args.getlist(name) if value.strip()]


def _single(args: MultiDict, name: str, problems: ProblemCollector) -> str | None:
    values = _values(args, name)
    if len(values) > 1:
        problems.add(name, "given more than once; give it once", values)
        return None
    return values[0] if values else None


def _integer(args: MultiDict, name: str, problems: ProblemCollector, *,
             minimum: int = 1, maximum: int | None = None) -> int | None:
    text = _single(args, name, problems)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        problems.add(name, "invalid integer; give a whole number such as 12", text)
        return None
    if value < minimum:
        problems.add(name, f"out of range; give a number of at least {minimum}", text)
        return None
    if maximum is not None and value > maximum:
        problems.add(name, f"out of range; give a number of at most {maximum}", text)
        return None
    return value


def _date(args: MultiDict, name: str, problems: ProblemCollector) -> date | None:
    text = _single(args, name, problems)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.add(name, "invalid date; write it as YYYY-MM-DD, e.g. 2026-06-30", text)
        return None


def parse_at(args: MultiDict, problems: ProblemCollector) -> tuple[datetime, bool]:
    """Return the instant of `at` (now when absent) and whether it was given."""
    text = _single(args, "at", problems)
    if text is None:
        return datetime.now(UTC), False
    try:
        return parse_instant(text), True
    except ValueError as exc:
        problems.add("at", str(exc), text)
        return datetime.now(UTC), False


def _check_exists(session: Session, model: type, ids: list[int], name: str,
                  problems: ProblemCollector) -> None:
    if not ids:
        return
    found = set(session.scalars(select(model.id).where(model.id.in_(ids))))
    for missing in [value for value in ids if value not in found]:
        problems.add(name, "no record with this id", missing)


def reject_unknown(args: MultiDict, known: tuple[str, ...]) -> None:
    """Raise InvalidQueryError naming every parameter outside `known`."""
    unknown = [name for name in args if name not in known and name not in GLOBAL_PARAMS]
    if unknown:
        problems = [FieldProblem(name, "unknown query parameter; known parameters are "
                                 + ", ".join(known), args.get(name)) for name in unknown]
        raise InvalidQueryError("Unknown query parameters: " + ", ".join(unknown),
                                problems=problems)


def parse_task_query(session: Session, args: MultiDict, *, default_page_size: int = 50,
                     role_required_agency: bool = True) -> TaskQuery:
    """Parse the task filters, `at`, `page` and `page_size`; every problem is reported at once.

    With `role_required_agency` (the task list), `role` narrows `agency_id` and is
    invalid on its own.
    """
    problems = ProblemCollector()
    filters = TaskFilter()

    filters.levels = _values(args, "level")
    for level in filters.levels:
        if level not in LEVELS:
            problems.add("level", "unknown completion level; use one of " + ", ".join(LEVELS),
                         level)

    filters.agency_id = _integer(args, "agency_id", problems)
    role = _single(args, "role", problems)
    if role is not None and role not in AGENCY_ROLES:
        problems.add("role", "unknown role; use one of " + ", ".join(AGENCY_ROLES), role)
    elif role is not None and role_required_agency and not _values(args, "agency_id"):
        problems.add("role", "role filters by agency; give agency_id too", role)
    else:
        filters.agency_role = role

    filters.document_id = _integer(args, "document_id", problems)
    for text in _values(args, "classification"):
        try:
            filters.classification_ids.append(int(text))
        except ValueError:
            problems.add("classification", "invalid classification value id; give a whole "
                         "number listed under /api/v1/classifications", text)

    filters.deadline_from = _date(args, "deadline_from", problems)
    filters.deadline_to = _date(args, "deadline_to", problems)
    start, end = filters.deadline_from, filters.deadline_to
    if start is not None and end is not None and start > end:
        problems.add("deadline_to", "ends before deadline_from; swap the two dates",
                     filters.deadline_to.isoformat())

    has_deadline = _single(args, "has_deadline", problems)
    if has_deadline is not None:
        if has_deadline.lower() in _TRUE:
            filters.has_deadline = True
        elif has_deadline.lower() in _FALSE:
            filters.has_deadline = False
        else:
            problems.add("has_deadline", "invalid boolean; use true or false", has_deadline)

    text = _single(args, "q", problems)
    if text is not None and len(text) > MAX_TEXT_LENGTH:
        problems.add("q", f"too long; search with at most {MAX_TEXT_LENGTH} characters",
                     text[:MAX_TEXT_LENGTH] + "…")
    else:
        filters.text = text

    at, at_given = parse_at(args, problems)
    page = _integer(args, "page", problems) or 1
    page_size = _integer(args, "page_size", problems, maximum=MAX_PAGE_SIZE) or default_page_size

    _check_exists(session, OrgUnit, [filters.agency_id] if filters.agency_id else [],
                  "agency_id", problems)
    _check_exists(session, Document, [filters.document_id] if filters.document_id else [],
                  "document_id", problems)
    _check_exists(session, ClassificationValue, filters.classification_ids, "classification",
                  problems)
    if problems.problems:
        raise InvalidQueryError("Invalid query parameters: "
                                + ", ".join(dict.fromkeys(p.path for p in problems.problems)),
                                problems=problems.problems)
    return TaskQuery(filters=filters, at=at, at_given=at_given, page=page, page_size=page_size)


def parse_paging(args: MultiDict, *, default_page_size: int = 50) -> tuple[int, int]:
    """Parse `page` and `page_size` alone, for lists other than tasks."""
    problems = ProblemCollector()
    page = _integer(args, "page", problems) or 1
    page_size = _integer(args, "page_size", problems, maximum=MAX_PAGE_SIZE) or default_page_size
    if problems.problems:
        raise InvalidQueryError("Invalid query parameters", problems=problems.problems)
    return page, page_size


def parse_at_only(args: MultiDict) -> tuple[datetime, bool]:
    """Parse `at` alone, raising InvalidQueryError when it is invalid."""
    problems = ProblemCollector()
    at, given = parse_at(args, problems)
    if problems.problems:
        raise InvalidQueryError("Invalid query parameter: at", problems=problems.problems)
    return at, given
