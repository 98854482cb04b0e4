"""Query parameters of the task list and the counts, shared by the API and the web pages.

A QueryReader collects every problem of a request's parameters, so the
caller learns about all of them at once from one InvalidQueryError.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from node.core.errors import ProblemCollector, ValidationError
from node.local_tasks.completion import LEVELS
from node.local_tasks.models import AGENCY_ROLES, ClassificationValue, Document, OrgUnit
from node.local_tasks.queries import MAX_PAGE_SIZE, TaskFilter
from node.local_tasks.timeparse import parse_instant

TASK_FILTER_PARAMS = ("level", "agency_id", "role", "document_id", "classification",
                      "deadline_from", "deadline_to", "has_deadline", "q")
PAGING_PARAMS = ("page", "page_size")
# Accepted anywhere: the language of the pages (see node.core.i18n).
GLOBAL_PARAMS = ("lang",)
MAX_TEXT_LENGTH = 200
_TRUE = ("true", "1")
_FALSE = ("false", "0")


class InvalidQueryError(ValidationError):
    """One or more query parameters are invalid; `problems` names each one."""

    status = 400
    title = "Invalid query parameter"


class QueryReader:
    """Reads typed query parameters, recording a problem for each invalid one.

    With `known`, parameters outside it (and outside GLOBAL_PARAMS) are
    problems too; the web pages pass None and ignore them.
    """

    def __init__(self, args: MultiDict, known: tuple[str, ...] | None = None) -> None:
        self.args = args
        self.problems = ProblemCollector()
        if known is not None:
            for name in args:
                if name not in known and name not in GLOBAL_PARAMS:
                    self.problems.add(name, "unknown query parameter; known parameters are "
                                      + (", ".join(known) or "none"), args.get(name))

    def values(self, name: str) -> list[str]:
        """Return the non-empty values of a parameter; forms send empty ones for "any"."""
        return [value.strip() for value in self.args.getlist(name) if value.strip()]

    def single(self, name: str) -> str | None:
        values = self.values(name)
        if len(values) > 1:
            self.problems.add(name, "given more than once; give it once", values)
            return None
        return values[0] if values else None

    def integer(self, name: str, *, minimum: int = 1, maximum: int | None = None) -> int | None:
        text = self.single(name)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            self.problems.add(name, "invalid integer; give a whole number such as 12", text)
            return None
        if value < minimum:
            self.problems.add(name, f"out of range; give a number of at least {minimum}", text)
            return None
        if maximum is not None and value > maximum:
            self.problems.add(name, f"out of range; give a number of at most {maximum}", text)
            return None
        return value

    def day(self, name: str) -> date | None:
        text = self.single(name)
        if text is None:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            self.problems.add(name, "invalid date; write it as YYYY-MM-DD, e.g. 2026-06-30", text)
            return None

    def boolean(self, name: str) -> bool | None:
        text = self.single(name)
        if text is None:
            return None
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        self.problems.add(name, "invalid boolean; use true or false", text)
        return None

    def at(self) -> tuple[datetime, bool]:
        """Return the instant of `at` (now when absent or invalid) and whether it was given."""
        text = self.single("at")
        if text is None:
            return datetime.now(UTC), False
        try:
            return parse_instant(text), True
        except ValueError as exc:
            self.problems.add("at", str(exc), text)
            return datetime.now(UTC), False

    def paging(self, default_page_size: int) -> tuple[int, int]:
        page = self.integer("page") or 1
        page_size = self.integer("page_size", maximum=MAX_PAGE_SIZE) or default_page_size
        return page, page_size

    def task_filter(self, session: Session, *, role_needs_agency: bool = True) -> TaskFilter:
        """Read the task filters; with `role_needs_agency`, `role` alone is a problem."""
        filters = TaskFilter()
        filters.levels = self.values("level")
        for level in filters.levels:
            if level not in LEVELS:
                self.problems.add("level", "unknown completion level; use one of "
                                  + ", ".join(LEVELS), level)

        filters.agency_id = self.integer("agency_id")
        role = self.single("role")
        if role is not None and role not in AGENCY_ROLES:
            self.problems.add("role", "unknown role; use one of " + ", ".join(AGENCY_ROLES), role)
        elif role is not None and role_needs_agency and not self.values("agency_id"):
            self.problems.add("role", "role narrows the agency filter; give agency_id too", role)
        else:
            filters.agency_role = role

        filters.document_id = self.integer("document_id")
        for text in self.values("classification"):
            try:
                filters.classification_ids.append(int(text))
            except ValueError:
                self.problems.add("classification", "invalid classification value id; give a "
                                  "whole number listed under /api/v1/classifications", text)

        filters.deadline_from = self.day("deadline_from")
        filters.deadline_to = self.day("deadline_to")
        start, end = filters.deadline_from, filters.deadline_to
        if start is not None and end is not None and start > end:
            self.problems.add("deadline_to", "ends before deadline_from; swap the two dates",
                              end.isoformat())
        filters.has_deadline = self.boolean("has_deadline")

        text = self.single("q")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            self.problems.add("q", f"too long; search with at most {MAX_TEXT_LENGTH} characters",
                              text[:MAX_TEXT_LENGTH] + "…")
        else:
            filters.text = text

        self._check_exists(session, OrgUnit, [filters.agency_id], "agency_id")
        self._check_exists(session, Document, [filters.document_id], "document_id")
        self._check_exists(session, ClassificationValue, filters.classification_ids,
                           "classification")
        return filters

    def _check_exists(self, session: Session, model: type, ids: list[int | None],
                      name: str) -> None:
        requested = [value for value in ids if value is not None]
        if not requested:
            return
        found = set(session.scalars(select(model.id).where(model.id.in_(requested))))
        for missing in requested:
            if missing not in found:
                self.problems.add(name, "no record with this id", missing)

    def finish(self) -> None:
        """Raise InvalidQueryError listing every problem found so far, if any."""
        if self.problems.problems:
            names = ", ".join(dict.fromkeys(problem.path for problem in self.problems.problems))
            raise InvalidQueryError(f"Invalid query parameters: {names}",
                                    problems=self.problems.problems)
