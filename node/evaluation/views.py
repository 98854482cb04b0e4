"""Evaluation and ranking screens and API.

The regulation has evaluation results shown publicly (Điều 17.1.b) and the
rankings published (Điều 17.2.c, 18.1.b), so these pages and the read-only
API calls need no sign-in. They show agency names, counts, scores and
ratings only, never a task's content. Computing scores and publishing a
ranking is for the central office's officers.
"""

from __future__ import annotations

import io
from datetime import date

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from node.auth.web import current_user, role_required
from node.core.db import utcnow
from node.core.i18n import _, gettext
from node.core.web import db_session
from node.evaluation import rankings, service
from node.evaluation.config import DEFAULT_DIR, load_sets, set_for
from node.evaluation.models import PERIOD_KINDS, RANKING_PERIOD_KINDS, EvaluationScore, Ranking
from node.local_tasks.workflow.errors import invalid
from node.reports.periods import Period

WEB_DIR = __import__("pathlib").Path(__file__).resolve().parents[1] / "web"
OFFICER_ROLES = ("administrator", "central_officer")

evaluation = Blueprint("evaluation", __name__, template_folder=str(WEB_DIR / "templates"))
evaluation_api = Blueprint("evaluation_api", __name__)


def _period_from(values, kinds: tuple[str, ...]) -> tuple[str, Period]:  # noqa: ANN001
    kind = values.get("period_kind") or "quarter"
    if kind not in kinds:
        raise invalid("period_kind", kind, "Use one of %(values)s", values=", ".join(kinds))
    raw_day = values.get("day") or values.get("period_start")
    if raw_day:
        try:
            day = date.fromisoformat(str(raw_day))
        except ValueError:
            raise invalid("day", raw_day,
                          "Write a date that exists, as YYYY-MM-DD, e.g. 2026-03-31") from None
        return kind, service.evaluation_period(kind, day)
    return kind, service.last_ended_period(kind, utcnow())


@evaluation.app_template_global()
def rating_label(rating: str | None) -> str:
    if rating is None:
        return _("Not rated: nothing was due")
    return service.rating_labels(gettext)[rating]


@evaluation.app_template_global()
def indicator_label(code: str) -> str:
    return {"on_time_completion": _("Tasks completed on time"),
            "not_overdue": _("Tasks not overdue"),
            "reports_on_time": _("Reports sent on time")}.get(code, code)


@evaluation.app_template_global()
def indicator_formula(code: str, counts: dict) -> str:
    if code == "on_time_completion":
        return _("%(on_time)s completed on time / %(due)s due in the period",
                 on_time=counts["completed_on_time"], due=counts["due_in_period"])
    if code == "not_overdue":
        return _("1 − %(overdue)s overdue / %(due)s due by the period's end",
                 overdue=counts["overdue"], due=counts["assessable"])
    return _("1 − %(missed)s missed / %(total)s reporting deadlines in the period",
             missed=counts["reporting_missed"], total=counts["reporting_deadlines"])


@evaluation.app_template_global()
def period_kind_label(kind: str) -> str:
    return {"quarter": _("Quarter"), "half_year": _("Half-year"),
            "year": _("Year")}.get(kind, kind)


def _is_officer() -> bool:
    user = current_user()
    return user is not None and any(grant.role in OFFICER_ROLES for grant in user.role_grants)


@evaluation.get("/evaluation")
def score_page():  # noqa: ANN201
    """Show every agency's score for one period, with the formula and its inputs."""
    kind, period = _period_from(request.args, PERIOD_KINDS)
    session = db_session()
    scores = list(session.scalars(select(EvaluationScore).where(
        EvaluationScore.period_kind == kind, EvaluationScore.period_start == period.start)))
    scores.sort(key=lambda row: (row.score is None, -(row.score or 0), row.org_unit.sort_key))
    indicator_set = set_for(load_sets(DEFAULT_DIR), period.end)
    return render_template("evaluation/scores.html", kind=kind, period=period, scores=scores,
                           indicator_set=indicator_set, kinds=PERIOD_KINDS,
                           can_compute=_is_officer())


@evaluation.post("/evaluation")
@role_required(*OFFICER_ROLES)
def score_compute():  # noqa: ANN201
    kind, period = _period_from(request.form, PERIOD_KINDS)
    rows = service.evaluate_period(db_session(), kind=kind, period=period, now=utcnow(),
                                   sets=load_sets(DEFAULT_DIR))
    flash(_("%(count)s agencies evaluated.", count=len(rows)), "success")
    return redirect(url_for("evaluation.score_page", period_kind=kind,
                            day=period.start.isoformat()))


def _rankings_page_data() -> dict:
    session = db_session()
    published = list(session.scalars(select(Ranking).where(Ranking.published_at.is_not(None))
                                     .order_by(Ranking.period_end.desc(), Ranking.scope,
                                               Ranking.version.desc()).limit(40)))
    drafts = list(session.scalars(select(Ranking).where(Ranking.published_at.is_(None))
                                  .order_by(Ranking.id.desc()).limit(10))) if _is_officer() else []
    return {"published": published, "drafts": drafts, "kinds": RANKING_PERIOD_KINDS,
            "received": rankings.received_rankings(session), "can_publish": _is_officer()}


@evaluation.get("/rankings")
def ranking_list():  # noqa: ANN201
    """Show the published rankings, readable without signing in."""
    return render_template("evaluation/rankings.html", **_rankings_page_data())


def _visible_ranking(ranking_id: int) -> Ranking:
    ranking = db_session().get(Ranking, ranking_id)
    if ranking is None or (ranking.published_at is None and not _is_officer()):
        raise NotFound(description=_("No published ranking with id %(ranking_id)s.",
                                     ranking_id=ranking_id))
    return ranking


@evaluation.get("/rankings/<int:ranking_id>")
def ranking_detail(ranking_id: int):  # noqa: ANN201
    return render_template("evaluation/ranking.html", ranking=_visible_ranking(ranking_id),
                           can_publish=_is_officer())


def build_ranking(values) -> Ranking:  # noqa: ANN001
    kind, period = _period_from(values, RANKING_PERIOD_KINDS)
    scope = values.get("scope") or "local"
    builders = {"local": rankings.build_local_ranking,
                "national": rankings.build_national_ranking}
    if scope not in builders:
        raise invalid("scope", scope, "Use one of %(values)s", values="local, national")
    return builders[scope](db_session(), kind=kind, period=period, now=utcnow(),
                           sets=load_sets(DEFAULT_DIR))


def publish_ranking(ranking: Ranking) -> Ranking:
    user = current_user()
    return rankings.publish(db_session(), current_app.config["THEODOI_SETTINGS"], ranking,
                            at=utcnow(), actor=user.username if user else None)


@evaluation.post("/rankings")
@role_required(*OFFICER_ROLES)
def ranking_build():  # noqa: ANN201
    ranking = build_ranking(request.form)
    flash(_("Ranking computed; check it, then publish it."), "success")
    return redirect(url_for("evaluation.ranking_detail", ranking_id=ranking.id))


@evaluation.post("/rankings/<int:ranking_id>/publish")
@role_required(*OFFICER_ROLES)
def ranking_publish(ranking_id: int):  # noqa: ANN201
    publish_ranking(_visible_ranking(ranking_id))
    flash(_("Ranking published."), "success")
    return redirect(url_for("evaluation.ranking_detail", ranking_id=ranking_id))


def ranking_xlsx(ranking: Ranking) -> Response:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("Ranking")[:31]
    sheet.append([_("Rank"), _("Agency code"), _("Agency"), _("Score"), _("Completion rating")])
    for entry in ranking.entries:
        sheet.append([entry["rank"], entry["org_unit_code"], entry["org_unit_name"],
                      entry["score"], rating_label(entry["rating"])])
    buffer = io.BytesIO()
    workbook.save(buffer)
    name = f"xep-hang-{ranking.scope}-{ranking.period_kind}-{ranking.period_start}.xlsx"
    return Response(buffer.getvalue(), mimetype=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'})


@evaluation.get("/rankings/<int:ranking_id>/xlsx")
def ranking_download(ranking_id: int):  # noqa: ANN201
    return ranking_xlsx(_visible_ranking(ranking_id))


# API ------------------------------------------------------------------------------


def _score_body(row: EvaluationScore) -> dict:
    return {"org_unit_code": row.org_unit.code, "org_unit_name": row.org_unit.name,
            "period_kind": row.period_kind, "period_start": row.period_start.isoformat(),
            "period_end": row.period_end.isoformat(), "as_of": row.as_of.isoformat(),
            "indicator_set": {"code": row.indicator_set, "version": row.indicator_set_version},
            "score": row.score, "rating": row.rating, "inputs": row.inputs}


@evaluation_api.get("/evaluation")
def api_scores():  # noqa: ANN201
    kind, period = _period_from(request.args, PERIOD_KINDS)
    rows = db_session().scalars(select(EvaluationScore).where(
        EvaluationScore.period_kind == kind, EvaluationScore.period_start == period.start))
    return jsonify({"period_kind": kind, "period_start": period.start.isoformat(),
                    "period_end": period.end.isoformat(),
                    "items": [_score_body(row) for row in rows]})


@evaluation_api.post("/evaluation")
@role_required(*OFFICER_ROLES)
def api_compute():  # noqa: ANN201
    kind, period = _period_from(request.get_json(silent=True) or {}, PERIOD_KINDS)
    rows = service.evaluate_period(db_session(), kind=kind, period=period, now=utcnow(),
                                   sets=load_sets(DEFAULT_DIR))
    return jsonify({"period_kind": kind, "period_start": period.start.isoformat(),
                    "items": [_score_body(row) for row in rows]})


@evaluation_api.get("/rankings")
def api_rankings():  # noqa: ANN201
    rows = db_session().scalars(select(Ranking).where(Ranking.published_at.is_not(None))
                                .order_by(Ranking.period_end.desc(), Ranking.id.desc()))
    return jsonify({"items": [rankings.export_payload(row) for row in rows]})


@evaluation_api.post("/rankings")
@role_required(*OFFICER_ROLES)
def api_build_ranking():  # noqa: ANN201
    body = request.get_json(silent=True) or {}
    ranking = build_ranking(body)
    if body.get("publish"):
        publish_ranking(ranking)
    return jsonify(rankings.export_payload(ranking)), 201


@evaluation_api.post("/rankings/<int:ranking_id>/publish")
@role_required(*OFFICER_ROLES)
def api_publish(ranking_id: int):  # noqa: ANN201
    return jsonify(rankings.export_payload(publish_ranking(_visible_ranking(ranking_id))))


@evaluation_api.get("/rankings/<int:ranking_id>")
def api_ranking(ranking_id: int):  # noqa: ANN201
    """Return a published ranking in the form the emulation-and-rewards system reads."""
    return jsonify(rankings.export_payload(_visible_ranking(ranking_id)))


@evaluation_api.get("/rankings/<int:ranking_id>/xlsx")
def api_ranking_xlsx(ranking_id: int):  # noqa: ANN201
    return ranking_xlsx(_visible_ranking(ranking_id))
