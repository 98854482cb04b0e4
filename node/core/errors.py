"""Errors shared by every domain, and their problem+json form."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    """One invalid input: where it is, the value, and what is wrong with it."""

    path: str
    message: str
    value: object = None

    def as_dict(self) -> dict:
        return {"path": self.path, "message": self.message, "value": self.value}


class DomainError(Exception):
    """Base of the errors that services raise for the caller to show."""

    status = 400
    title = "Invalid request"

    def __init__(self, message: str, *, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or []


class ValidationError(DomainError):
    """Input is invalid; `problems` lists every invalid field at once."""

    status = 422
    title = "Invalid input"


class NotFoundError(DomainError):
    status = 404
    title = "Not found"


class ConflictError(DomainError):
    status = 409
    title = "Conflict"


@dataclass
class ProblemCollector:
    """Collects field problems so that every one is reported at once."""

    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, path: str, message: str, value: object = None) -> None:
        self.problems.append(FieldProblem(path, message, value))

    def raise_if_any(self, message: str = "Input is invalid") -> None:
        if self.problems:
            raise ValidationError(message, problems=list(self.problems))
