"""Per-request database session: one unit of work per request."""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from node.core.db import make_engine, make_session_factory


def init_db(app: Flask) -> None:
    settings = app.config["THEODOI_SETTINGS"]
    engine = make_engine(settings.effective_database_url)
    app.extensions["theodoi_engine"] = engine
    app.extensions["theodoi_sessions"] = make_session_factory(engine, settings)

    @app.after_request
    def _commit_session(response: Response) -> Response:
        # Committing before the response leaves means a failed commit becomes
        # an error response instead of a success the client wrongly trusts.
        session: Session | None = g.get("db_session")
        if session is not None and response.status_code < 400:
            session.commit()
        return response

    @app.teardown_request
    def _close_session(error: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.rollback()
            session.close()


def db_session() -> Session:
    """Return this request's session; it commits when the request succeeds."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["theodoi_sessions"]()
    return g.db_session
