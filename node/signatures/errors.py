"""Errors of the signatures domain."""

from __future__ import annotations

from node.core.errors import DomainError, FieldProblem
from node.signatures.verify import PdfRejectedError

__all__ = ["ConfidentialDocumentError", "PdfRejectedError", "file_problem"]


class ConfidentialDocumentError(DomainError):
    """A confidential or top-secret document cannot carry its PDF in the system."""

    status = 422
    title = "Document content not stored"
    reason = "confidential"


def file_problem(error: PdfRejectedError, filename: str | None) -> PdfRejectedError:
    """Return `error` with a problem on the `file` field naming the uploaded file."""
    error.problems = [FieldProblem("file", error.message, filename)]
    return error
