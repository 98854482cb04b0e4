"""Report screens: list and produce, one report with its figures, issue, download."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import Forbidden, NotFound

from node.auth.models import User
from node.auth.web import current_user, login_required
from node.core.db import utcnow
from node.core.errors import DomainError
from node.core.i18n import _
from node.core.timezone import VN_TZ
from node.core.web import db_session
from node.local_tasks.models import OrgUnit, TaskAgency
from node.reports import access, export, service
from node.reports.inputs import ReportRequest, read_report_request
from node.reports.layout import layout
from node.reports.models import REPORT_KINDS, REPORT_SCOPES, ReportSnapshot
from node.reports.periods import Period

WEB_DIR = Path(__file__).resolve().parents[1] / "web"

reports = Blueprint("reports", __name__, template_folder=str(WEB_DIR / "templates"))


def actor_name(user: User | None) -> str | None:
    return user.username if user is not None else None


def produce_from_request(session: Session, user: User | None, wanted: ReportRequest
                         ) -> ReportSnapshot:
    """Produce the report that a form or API body requests, after checking the user's right."""
    unit = service.org_unit_by_code(session, wanted.org_unit)
    period = service.requested_period(wanted.kind, start=wanted.period_start,
                                      end=wanted.period_end, day=wanted.day)
    return produce_for(session, user, wanted.scope, unit, period, wanted.place,
                       wanted.recipients)


def produce_for(session: Session, user: User | None, scope: str, unit: OrgUnit, period: Period,
                place: str | None, recipients: list[str]) -> ReportSnapshot:
    if not access.may_manage(session, user, scope, unit):
        raise Forbidden(description=_(
            "Your roles do not allow producing this report. Central-office officers produce "
            "every report; an agency's approver produces that agency's reports."))
    settings = current_app.config["THEODOI_SETTINGS"]
    issuer = unit
    if scope == "summary":
        issuer = session.scalar(select(OrgUnit).where(
            OrgUnit.code == settings.node_org_unit)) or unit
    return service.produce_report(
        session, scope=scope, org_unit=unit, issuer=issuer, period=period, now=utcnow(),
        actor=actor_name(user), locale=settings.default_locale,
        place=place or settings.reports_place,
        recipients=recipients)


def readable_report(session: Session, report_id: int) -> ReportSnapshot:
    """Return the report when the user may read it; 404 otherwise, as for a missing id."""
    snapshot = service.get_report(session, report_id)
    if not access.may_read(session, current_user(), snapshot):
        raise service.ReportNotFoundError(_("No report with id %(report_id)s",
                                            report_id=report_id))
    return snapshot


def download_response(snapshot: ReportSnapshot, fmt: str) -> Response:
    if fmt not in export.FORMATS:
        raise NotFound(description=_("Reports download as docx, xlsx or pdf."))
    body = export.render(snapshot, fmt)
    if fmt == "pdf" and snapshot.status == "issued":
        # The node signs the reports it issues: PAdES with a visible signature block.
        from node.signatures.signing import sign_report_pdf

        body = sign_report_pdf(body, current_app.config["THEODOI_SETTINGS"])
    response = Response(body, mimetype=export.FORMATS[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{export.file_name(snapshot, fmt)}"')
    return response


def _agency_choices(session: Session, user: User | None) -> list[OrgUnit]:
    units = access.manageable_units(session, user)
    leads = select(TaskAgency.org_unit_id).where(TaskAgency.role == "lead").distinct()
    query = select(OrgUnit).order_by(OrgUnit.sort_key)
    query = query.where(OrgUnit.id.in_(leads)) if units is None else query.where(
        OrgUnit.id.in_(units))
    settings = current_app.config["THEODOI_SETTINGS"]
    choices = list(session.scalars(query))
    node_unit = session.scalar(select(OrgUnit).where(OrgUnit.code == settings.node_org_unit))
    if units is None and node_unit is not None and node_unit not in choices:
        choices.insert(0, node_unit)
    return choices


def _render_list(error: DomainError | None = None, values: dict | None = None,
                 status: int = 200):  # noqa: ANN202
    session = db_session()
    user = current_user()
    snapshots = service.latest_versions(session,
                                        org_unit_ids=access.visible_unit_ids(session, user))
    snapshots = [item for item in snapshots if access.may_read(session, user, item)]
    today = utcnow().astimezone(VN_TZ).date()
    settings = current_app.config["THEODOI_SETTINGS"]
    defaults = {"scope": "summary" if access.manageable_units(session, user) is None
                else "agency", "kind": "quarterly", "day": today.isoformat(),
                "org_unit": settings.node_org_unit}
    return render_template(
        "reports/list.html", snapshots=snapshots, error=error,
        values={**defaults, **(values or {})}, kinds=REPORT_KINDS, scopes=REPORT_SCOPES,
        can_produce=access.may_produce_any(session, user),
        agencies=_agency_choices(session, user), default_place=settings.reports_place), status


@reports.get("/reports")
@login_required
def report_list():  # noqa: ANN201
    """List the reports the user may read, with the form to produce one."""
    return _render_list()


@reports.post("/reports")
@login_required
def report_produce():  # noqa: ANN201
    values = request.form.to_dict()
    try:
        snapshot = produce_from_request(db_session(), current_user(),
                                        read_report_request(values))
    except DomainError as error:
        db_session().rollback()
        return _render_list(error, values, status=error.status)
    flash(_("Report produced as a draft; check it, then issue it."), "success")
    return redirect(url_for("reports.report_detail", report_id=snapshot.id))


@reports.get("/reports/<int:report_id>")
@login_required
def report_detail(report_id: int):  # noqa: ANN201
    session = db_session()
    snapshot = readable_report(session, report_id)
    return render_template(
        "reports/detail.html", snapshot=snapshot, lay=layout(snapshot),
        formats=tuple(export.FORMATS),
        can_manage=access.may_manage(session, current_user(), snapshot.scope,
                                     snapshot.org_unit))


def _require_manage(session: Session, snapshot: ReportSnapshot) -> None:
    if not access.may_manage(session, current_user(), snapshot.scope, snapshot.org_unit):
        raise Forbidden(description=_(
            "Your roles do not allow issuing this report. Central-office officers issue every "
            "report; an agency's approver issues that agency's reports."))


@reports.post("/reports/<int:report_id>/issue")
@login_required
def report_issue(report_id: int):  # noqa: ANN201
    session = db_session()
    snapshot = readable_report(session, report_id)
    _require_manage(session, snapshot)
    service.issue_report(session, snapshot, at=utcnow(), actor=actor_name(current_user()))
    flash(_("Report issued as %(symbol)s; its content is now frozen.",
            symbol=snapshot.symbol), "success")
    return redirect(url_for("reports.report_detail", report_id=snapshot.id))


@reports.post("/reports/<int:report_id>/again")
@login_required
def report_again(report_id: int):  # noqa: ANN201
    """Produce a new version of the report from the current data."""
    session = db_session()
    snapshot = readable_report(session, report_id)
    _require_manage(session, snapshot)
    content = snapshot.content
    again = produce_for(session, current_user(), snapshot.scope, snapshot.org_unit,
                        Period(snapshot.kind, snapshot.period_start, snapshot.period_end),
                        content.get("place"), list(content.get("recipients") or []))
    flash(_("Version %(version)s produced from the current data.", version=again.version),
          "success")
    return redirect(url_for("reports.report_detail", report_id=again.id))


@reports.get("/reports/<int:report_id>/download/<fmt>")
@login_required
def report_download(report_id: int, fmt: str):  # noqa: ANN201
    return download_response(readable_report(db_session(), report_id), fmt)


@reports.app_template_global()
def report_kind_label(kind: str) -> str:
    return {"monthly": _("Monthly report"), "quarterly": _("Quarterly report"),
            "half_yearly": _("Half-yearly report"), "yearly": _("Yearly report"),
            "ad_hoc": _("Report on request")}.get(kind, kind)


@reports.app_template_global()
def report_scope_label(scope: str) -> str:
    return {"agency": _("Agency report"), "summary": _("Party committee office summary")}.get(scope, scope)
