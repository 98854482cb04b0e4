"""JSON API of reports under /api/v1/reports, described in node/web/static/openapi.json."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from werkzeug.exceptions import Forbidden, UnsupportedMediaType

from node.auth.web import current_user, login_required
from node.core.db import utcnow
from node.core.i18n import _
from node.core.web import db_session
from node.reports import access, export, service
from node.reports.inputs import read_report_request
from node.reports.models import ReportSnapshot
from node.reports.views import actor_name, download_response, produce_from_request, readable_report

reports_api = Blueprint("reports_api", __name__)


def _summary(snapshot: ReportSnapshot) -> dict:
    return {
        "id": snapshot.id, "kind": snapshot.kind, "scope": snapshot.scope,
        "org_unit": snapshot.content["org_unit"], "title": snapshot.title,
        "period_start": snapshot.period_start.isoformat(),
        "period_end": snapshot.period_end.isoformat(), "as_of": snapshot.as_of.isoformat(),
        "version": snapshot.version, "status": snapshot.status, "symbol": snapshot.symbol,
        "issued_at": snapshot.issued_at.isoformat() if snapshot.issued_at else None,
        "supersedes_id": snapshot.supersedes_id, "content_sha256": snapshot.content_sha256,
        "downloads": {fmt: url_for("reports_api.download", report_id=snapshot.id, fmt=fmt)
                      for fmt in export.FORMATS},
    }


@reports_api.get("")
@login_required
def list_reports():  # noqa: ANN201
    session = db_session()
    user = current_user()
    snapshots = service.latest_versions(session,
                                        org_unit_ids=access.visible_unit_ids(session, user))
    return jsonify({"items": [_summary(item) for item in snapshots
                              if access.may_read(session, user, item)]})


@reports_api.post("")
@login_required
def produce():  # noqa: ANN201
    if not request.is_json:
        raise UnsupportedMediaType(description=_("Send the report request as application/json."))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise service.ReportInputError(_("The body must be a JSON object."))
    snapshot = produce_from_request(db_session(), current_user(), read_report_request(body))
    return jsonify(_summary(snapshot)), 201


@reports_api.get("/<int:report_id>")
@login_required
def detail(report_id: int):  # noqa: ANN201
    snapshot = readable_report(db_session(), report_id)
    return jsonify({**_summary(snapshot), "content": snapshot.content})


@reports_api.post("/<int:report_id>/issue")
@login_required
def issue(report_id: int):  # noqa: ANN201
    session = db_session()
    snapshot = readable_report(session, report_id)
    if not access.may_manage(session, current_user(), snapshot.scope, snapshot.org_unit):
        raise Forbidden(description=_(
            "Your roles do not allow issuing this report. Central-office officers issue every "
            "report; an agency's approver issues that agency's reports."))
    service.issue_report(session, snapshot, at=utcnow(), actor=actor_name(current_user()))
    return jsonify(_summary(snapshot))


@reports_api.get("/<int:report_id>/download/<fmt>")
@login_required
def download(report_id: int, fmt: str):  # noqa: ANN201
    return download_response(readable_report(db_session(), report_id), fmt)
