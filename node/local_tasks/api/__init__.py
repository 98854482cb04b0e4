"""JSON API of one node under /api/v1, described by node/web/static/openapi.json."""

from __future__ import annotations

from flask import Blueprint

api = Blueprint("api", __name__)

from node.local_tasks.api import routes  # noqa: E402,F401 - registers the routes on `api`
