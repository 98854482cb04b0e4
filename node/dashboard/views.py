"""Pages of the live dashboard and the map, their refreshable panels, and the change stream."""

from __future__ import annotations

import logging
import threading
import time

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import True_

from node.auth.web import current_user, login_required
from node.core.web import db_session
from node.dashboard import charts, counters
from node.dashboard.figures import Figures, Row, build_figures
from node.dashboard.geo import province_map
from node.dashboard.models import DashboardState
from node.dashboard.provincial import ProvinceReport, province_reports
from node.local_tasks import permissions
from node.local_tasks.api.workflow_routes import now
from node.local_tasks.models import OrgUnit
from node.local_tasks.views import WEB_DIR

logger = logging.getLogger(__name__)

dashboard = Blueprint("dashboard", __name__, template_folder=str(WEB_DIR / "templates"))

# A stream ends after this many seconds and the browser opens a new one, so a
# worker thread is never held by one page for longer (gunicorn gthread workers
# have a fixed number of threads).
STREAM_SECONDS = 25
# Open streams per process. `theodoi serve` runs 4 threads per worker, so at
# least half of them stay free for other requests. A page beyond the limit
# gets one check and reconnects after BUSY_RETRY_MILLISECONDS: it polls.
MAX_STREAMS = 2
BUSY_RETRY_MILLISECONDS = 4000

_stream_slots = threading.BoundedSemaphore(MAX_STREAMS)
# How often a stream reads the change counter.
POLL_SECONDS = 1.0
# The browser waits this long before reconnecting after a stream ends.
RETRY_MILLISECONDS = 1000


def _figures(session: Session) -> Figures:
    visible = permissions.visible_task_filter(session, current_user())
    return build_figures(session, now=now(),
                         visible=None if isinstance(visible, True_) else visible)


def _change_count(session: Session) -> int:
    return session.scalar(select(DashboardState.change_count)
                          .where(DashboardState.id == counters.STATE_ID)) or 0


def _panel_context(session: Session) -> dict:
    figures = _figures(session)
    columns, month_maximum = charts.month_columns(figures.completed_by_month)
    trend_points, trend_maximum, trend_labelled = charts.line_points(figures.overdue_by_day)
    return {
        "figures": figures, "columns": columns,
        "month_maximum": month_maximum, "trend_points": trend_points,
        "trend_maximum": trend_maximum, "trend_labelled": trend_labelled, "charts": charts,
        "change_count": _change_count(session),
    }


def _map_context(session: Session) -> dict:
    figures = _figures(session)
    # The provincial nodes' reports count tasks the viewer's scope cannot be
    # checked against, so only a viewer who sees every task gets them.
    reports = (province_reports(session, current_app.config["THEODOI_SETTINGS"])
               if figures.from_counters else {})
    shapes = province_map()
    units = {unit.gso_code: unit for unit in session.scalars(
        select(OrgUnit).where(OrgUnit.gso_code.in_([shape.gso_code for shape in shapes.shapes]),
                              OrgUnit.kind == counters.PROVINCIAL_KIND))}
    provinces = []
    for shape in shapes.shapes:
        unit = units.get(shape.gso_code)
        own = figures.provinces.get(unit.id) if unit is not None else None
        report = reports.get(unit.id) if unit is not None else None
        row = _with_report(own, report, unit)
        counts = row.counts if row is not None else None
        provinces.append({"shape": shape, "unit": unit, "row": row, "report": report,
                          "own_total": own.total if own is not None else 0,
                          "band": charts.rate_band(counts) if counts else "rate-none"})
    return {"figures": figures, "map": shapes, "provinces": provinces,
            "has_reports": bool(reports), "bands": charts.RATE_BANDS,
            "change_count": _change_count(session)}


def _with_report(own: Row | None, report: ProvinceReport | None, unit: OrgUnit | None) -> Row | None:
    """Return the province's own row with the counts of its node's report added."""
    if report is None:
        return own
    counts = {level: (own.counts[level] if own is not None else 0) + report.counts[level]
              for level in report.counts}
    return Row(key=str(unit.id), label="", counts=counts)


@dashboard.get("/")
@login_required
def live():  # noqa: ANN201
    """Show the live dashboard."""
    return render_template("dashboard/live.html", **_panel_context(db_session()))


@dashboard.get("/panel")
@login_required
def panel():  # noqa: ANN201
    """Return the dashboard's live part, which the page swaps in after a change."""
    return render_template("dashboard/_panel.html", **_panel_context(db_session()))


@dashboard.get("/map")
@login_required
def province_map_page():  # noqa: ANN201
    """Show the map of the provinces coloured by on-time completion rate."""
    return render_template("dashboard/map.html", **_map_context(db_session()))


@dashboard.get("/map/panel")
@login_required
def map_panel():  # noqa: ANN201
    """Return the map's live part."""
    return render_template("dashboard/_map_panel.html", **_map_context(db_session()))


def _last_event_id() -> int | None:
    value = request.headers.get("Last-Event-ID", "")
    return int(value) if value.isdigit() else None


@dashboard.get("/events")
@login_required
def events():  # noqa: ANN201
    """Stream server-sent events: `hello` with the change count, then `change` on each change.

    Every worker reads the change count from the database, so a change made
    through any worker reaches every open page. The stream ends after
    STREAM_SECONDS; the browser reconnects and sends the last count it saw
    (Last-Event-ID), so no change is missed in between.
    """
    sessions = current_app.extensions["theodoi_sessions"]
    previous = _last_event_id()

    def read_count() -> int:
        session = sessions()
        try:
            return _change_count(session)
        finally:
            session.close()

    def stream():  # noqa: ANN202
        streaming = _stream_slots.acquire(blocking=False)
        try:
            last = previous
            retry = RETRY_MILLISECONDS if streaming else BUSY_RETRY_MILLISECONDS
            yield f"retry: {retry}\n\n"
            ends_at = time.monotonic() + (STREAM_SECONDS if streaming else 0)
            while True:
                count = read_count()
                if last is None:
                    yield f"event: hello\nid: {count}\ndata: {count}\n\n"
                elif count != last:
                    yield f"event: change\nid: {count}\ndata: {count}\n\n"
                last = count
                if time.monotonic() >= ends_at:
                    return
                time.sleep(POLL_SECONDS)
        finally:
            if streaming:
                _stream_slots.release()

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
