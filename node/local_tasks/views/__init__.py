"""Server-rendered pages of one node: dashboard, tasks, documents, agencies.

Templates and the style sheet live in node/web/; the pages use no script and
load nothing from outside the node, so they work offline.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

WEB_DIR = Path(__file__).resolve().parents[2] / "web"

views = Blueprint(
    "views",
    __name__,
    template_folder=str(WEB_DIR / "templates"),
    static_folder=str(WEB_DIR / "static"),
    # The app registers /static for its own (unused) folder, so the pages use /assets.
    static_url_path="/assets",
)

from node.local_tasks.views import helpers, pages  # noqa: E402,F401 - registers on `views`
from node.local_tasks.views import workflow_pages  # noqa: E402,F401 - registers on `views`
from node.local_tasks.views import merge_pages  # noqa: E402,F401 - registers on `views`
