"""Errors of the task workflow, and the one function that builds their messages.

Messages are English msgids with %(name)s placeholders, so that each can
become a translated message without changing its text.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask import has_request_context
from flask_babel import gettext

from node.core.errors import ConflictError, DomainError, FieldProblem, ValidationError
from node.core.timezone import VN_TZ

if TYPE_CHECKING:
    from node.local_tasks.models import Task


def format_instant(value: datetime | None) -> str:
    """Format an instant as Vietnam local time with its offset, e.g. 2026-03-09 11:30 +07:00."""
    if value is None:
        return "(unknown)"
    local = value.astimezone(VN_TZ)
    return local.strftime("%Y-%m-%d %H:%M ") + local.isoformat()[-6:]


def message(template: str, **values: object) -> str:
    """Fill the %(name)s placeholders of `template`, formatting datetimes as local instants."""
    # Inside a request the template is translated to the request's locale;
    # services called from the CLI or jobs keep the English text.
    if has_request_context():
        template = gettext(template)
    formatted = {name: format_instant(value) if isinstance(value, datetime) else value
                 for name, value in values.items()}
    return template % formatted


def task_reference(task: Task) -> str:
    """Name a task in messages as its pages do: its number within the document and the document.

    The database id is left out because the pages show the number, so a
    message about "task 1" next to a page headed "Task 2" would mislead.
    """
    return message("%(number)s of %(document)s", number=task.task_no or task.position + 1,
                   document=task.document.reference)


def invalid(path: str, value: object, template: str, **values: object) -> ValidationError:
    """Build a ValidationError with one problem on field `path`."""
    text = message(template, **values)
    return ValidationError(text, problems=[FieldProblem(path, text, value)])


class WorkflowStateError(ConflictError):
    """The step is not allowed in the task's or record's current state."""


class SelfApprovalError(DomainError):
    """The checker of a progress update is the person who submitted it."""

    status = 403
    title = "Forbidden"


class StaleTaskError(ConflictError):
    """The task changed since the caller read it."""


class IdempotencyKeyReusedError(ConflictError):
    """An idempotency key was sent again with a different task or different content."""
