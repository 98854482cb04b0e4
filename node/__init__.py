"""theodoi: the node software of the task monitoring and evaluation system."""

from __future__ import annotations

from flask import Flask

from node.core.settings import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask application of one node."""
    from node.auth.web import init_auth
    from node.core.catalogs import compile_catalogs
    from node.core.errors_web import init_error_handlers
    from node.core.i18n import init_i18n
    from node.core.logging import configure_logging
    from node.core.web import init_db
    from node.local_tasks.calendar import load_calendar
    from node.signatures.approvals import init_approval_signing

    settings = settings or load_settings()
    configure_logging(settings.log_level)

    app = Flask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.config["THEODOI_SETTINGS"] = settings
    app.config["SECRET_KEY"] = settings.secret_key or "theodoi-dev-only-secret"
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    app.config["BABEL_DEFAULT_LOCALE"] = settings.default_locale
    app.extensions["theodoi_calendar"] = load_calendar(settings)

    init_db(app)
    compile_catalogs()
    init_i18n(app)
    init_error_handlers(app)
    init_auth(app)
    init_approval_signing(app)
    _register_blueprints(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from node.auth.views import auth
    from node.dashboard.views import dashboard
    from node.evaluation.views import evaluation, evaluation_api
    from node.federation.admin_views import federation_admin
    from node.federation.views import federation
    from node.guide import guide
    from node.local_tasks.api import api
    from node.local_tasks.views import views
    from node.notifications.views import notifications
    from node.reports.api import reports_api
    from node.reports.views import reports
    from node.signatures.views import signatures, signatures_api

    app.register_blueprint(views)
    app.register_blueprint(auth)
    app.register_blueprint(api, url_prefix="/api/v1")
    app.register_blueprint(federation)
    app.register_blueprint(federation_admin)
    app.register_blueprint(signatures)
    app.register_blueprint(signatures_api, url_prefix="/api/v1")
    app.register_blueprint(dashboard, url_prefix="/dashboard")
    app.register_blueprint(reports)
    app.register_blueprint(reports_api, url_prefix="/api/v1/reports")
    app.register_blueprint(evaluation)
    app.register_blueprint(evaluation_api, url_prefix="/api/v1")
    app.register_blueprint(notifications)
    app.register_blueprint(guide)
