"""Errors of the local task domain."""

from __future__ import annotations

from node.core.errors import ConflictError, FieldProblem, NotFoundError, ValidationError


class AbsolutelySecretError(ValidationError):
    """Absolutely-secret (tuyệt mật) material must never enter the system (Điều 5)."""

    def __init__(self, path: str, value: object) -> None:
        message = (
            "Absolutely secret (tuyệt mật) documents must never be entered into the system; "
            "keep them out of every import, form and message"
        )
        super().__init__(message, problems=[FieldProblem(path, message, value)])


class ConfidentialContentError(ValidationError):
    """A confidential or top-secret document was given content it must not store."""


class DocumentExistsError(ConflictError):
    """A document with the same number and symbol is already stored."""


class OrgUnitNotFoundError(NotFoundError):
    """No org unit has the given id or code."""


class TaskNotFoundError(NotFoundError):
    """No task has the given id."""
