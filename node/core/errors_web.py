"""Turn domain errors into responses: RFC 9457 problem+json for API callers, HTML otherwise."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from node.core.errors import DomainError, FieldProblem
from node.core.i18n import _

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def wants_json() -> bool:
    """Return whether the caller is an API client rather than a browser."""
    if request.path.startswith(("/api/", "/federation/")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def problem_response(status: int, title: str, detail: str,
                     problems: list[FieldProblem] | None = None):
    """Build an RFC 9457 problem+json response with an `errors` list of {path, message}."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [problem.as_dict() for problem in problems or []],
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def init_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):  # noqa: ANN202
        logger.info("request rejected", extra={"status": error.status, "reason": error.message})
        if wants_json():
            return problem_response(error.status, error.title, error.message, error.problems)
        return render_template("error.html", status=error.status, error=error), error.status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):  # noqa: ANN202
        status = error.code or 500
        detail = None
        if status == 413:
            limit_mb = round(app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024))
            detail = _("The upload is larger than the limit of %(limit)s MB; go back, choose a "
                       "smaller file or split it, and send the form again.", limit=limit_mb)
        elif status == 403:
            detail = error.description
        if wants_json():
            return problem_response(status, error.name, detail or error.description or error.name)
        return render_template("error.html", status=status, error=error, detail=detail), status
