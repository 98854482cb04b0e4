"""Errors of the reports domain, each naming what to change."""

from __future__ import annotations

from node.core.errors import ConflictError, NotFoundError, ValidationError


class ReportInputError(ValidationError):
    """A request for a report names an unknown kind, agency or an invalid period."""


class ReportNotFoundError(NotFoundError):
    """No report with that id (or not one the user may see)."""


class ReportStateError(ConflictError):
    """The step does not fit the report's state, e.g. issuing an issued report."""
