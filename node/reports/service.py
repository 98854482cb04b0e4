"""Producing, issuing and listing reports; the periodic job's entry point.

`produce_report` gathers the figures as of the report's date into a draft
snapshot. `issue_report` gives the draft its number and symbol and freezes
it: later changes to tasks never alter an issued report, and producing the
same report again makes a new version that supersedes it when issued.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from node.audit import service as audit_log
from node.core.db import unit_of_work
from node.core.errors import ProblemCollector
from node.core.settings import DEFAULT_REPORTS_PLACE, Settings
from node.core.text import clean
from node.core.timezone import VN_TZ
from node.local_tasks.models import OrgUnit, TaskAgency
from node.local_tasks.workflow.errors import invalid, message
from node.reports.content import build_content
from node.reports.errors import ReportInputError, ReportNotFoundError, ReportStateError  # noqa: F401
from node.reports.models import REPORT_KINDS, REPORT_SCOPES, ReportSnapshot
from node.reports.periods import (
    AGENCY_KINDS,
    SUMMARY_KINDS,
    Period,
    calendar_period,
    last_due_summary_period,
    last_ended_calendar_period,
)

logger = logging.getLogger(__name__)

# The place of issue when neither the request nor the caller gives one; the
# node's setting reports_place (node.core.settings) has the same default.
DEFAULT_PLACE = DEFAULT_REPORTS_PLACE
# Maximum length of the period of a report on request, in days.
MAX_AD_HOC_DAYS = 3 * 366


def content_digest(content: dict) -> str:
    """Return the SHA-256 of the canonical JSON of a report's content."""
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def org_unit_by_code(session: Session, code: str, field: str = "org_unit") -> OrgUnit:
    """Return the agency with `code`, or raise naming the field and the fix."""
    unit = session.scalar(select(OrgUnit).where(OrgUnit.code == code))
    if unit is None:
        raise invalid(field, code, "No agency has the code %(code)s; choose one from the "
                       "agency list", code=code)
    return unit


def requested_period(kind: str, *, start: date | None = None, end: date | None = None,
                     day: date | None = None) -> Period:
    """Return the period a request names: a calendar period containing `day`, or start..end.

    Raises ReportInputError naming the field when the kind or the dates are invalid.
    """
    if kind not in REPORT_KINDS:
        raise invalid("kind", kind, "Unknown report kind %(kind)s; use one of %(kinds)s",
                       kind=kind, kinds=", ".join(REPORT_KINDS))
    if kind != "ad_hoc":
        if day is None:
            raise invalid("day", None, "Give a date (YYYY-MM-DD) inside the report's period")
        return calendar_period(kind, day)
    problems = ProblemCollector()
    if start is None:
        problems.add("period_start", message("Give the first day of the period (YYYY-MM-DD)"))
    if end is None:
        problems.add("period_end", message("Give the last day of the period (YYYY-MM-DD)"))
    if start and end and end < start:
        problems.add("period_end", message("The last day must not be before the first day"),
                     end.isoformat())
    if start and end and (end - start).days > MAX_AD_HOC_DAYS:
        problems.add("period_end", message("A report on request covers at most three years"),
                     end.isoformat())
    problems.raise_if_any(message("The report period is invalid"))
    return Period("ad_hoc", start, end)  # type: ignore[arg-type]


def produce_report(session: Session, *, scope: str, org_unit: OrgUnit, issuer: OrgUnit,
                   period: Period, now: datetime, actor: str | None, locale: str = "vi",
                   place: str | None = None, recipients: list[str] | None = None
                   ) -> ReportSnapshot:
    """Gather the report's figures as of its date into a new draft version; flush.

    `place` is the place of issue, usually the request's place or else the
    node's reports_place setting; DEFAULT_PLACE when empty.
    """
    if scope not in REPORT_SCOPES:
        raise invalid("scope", scope, "Unknown report scope %(scope)s; use one of %(scopes)s",
                       scope=scope, scopes=", ".join(REPORT_SCOPES))
    if period.start > now.astimezone(VN_TZ).date():
        raise invalid("period_start", period.start.isoformat(),
                       "The period starts on %(start)s, after today; choose a period that "
                       "has started", start=period.start.strftime("%d/%m/%Y"))
    as_of = period.as_of(now)
    recipients = [clean(item) for item in recipients or [] if clean(item)]
    content = build_content(session, scope=scope, org_unit=org_unit, issuer=issuer,
                            period=period, as_of=as_of, locale=locale,
                            place=clean(place) or DEFAULT_PLACE, recipients=recipients)
    version = (session.scalar(select(func.max(ReportSnapshot.version)).where(
        ReportSnapshot.kind == period.kind, ReportSnapshot.scope == scope,
        ReportSnapshot.org_unit_id == org_unit.id, ReportSnapshot.period_start == period.start,
        ReportSnapshot.period_end == period.end)) or 0) + 1
    snapshot = ReportSnapshot(
        kind=period.kind, scope=scope, org_unit=org_unit, period_start=period.start,
        period_end=period.end, as_of=as_of, version=version, status="draft",
        title=content["title"][:500], content=content, content_sha256=content_digest(content),
        produced_at=now, produced_by=actor)
    session.add(snapshot)
    session.flush()
    audit_log.record(session, actor=actor, action="report.produce", object_type="report",
                     object_id=snapshot.id, after=_audit_fields(snapshot))
    logger.info("report produced", extra={"report_id": snapshot.id, "kind": snapshot.kind,
                                          "scope": scope, "org_unit": org_unit.code,
                                          "version": version})
    return snapshot


def _audit_fields(snapshot: ReportSnapshot) -> dict:
    return {"kind": snapshot.kind, "scope": snapshot.scope, "org_unit_id": snapshot.org_unit_id,
            "period_start": snapshot.period_start, "period_end": snapshot.period_end,
            "as_of": snapshot.as_of, "version": snapshot.version, "status": snapshot.status,
            "symbol": snapshot.symbol, "content_sha256": snapshot.content_sha256}


def issue_report(session: Session, snapshot: ReportSnapshot, *, at: datetime,
                 actor: str | None) -> ReportSnapshot:
    """Number, date and freeze a draft report; it supersedes the last issued version. Flush."""
    if snapshot.status == "issued":
        raise ReportStateError(message(
            "Report %(report_id)s was already issued as %(symbol)s; nothing was changed. "
            "Produce it again to issue a new version", report_id=snapshot.id,
            symbol=snapshot.symbol))
    issuer_code = snapshot.content["issuer"]["code"]
    year = at.astimezone(VN_TZ).year
    # Numbers run from 1 each calendar year, per issuing body.
    issued = session.scalars(select(ReportSnapshot.symbol).where(
        ReportSnapshot.status == "issued",
        ReportSnapshot.issued_at >= datetime(year, 1, 1, tzinfo=VN_TZ),
        ReportSnapshot.issued_at < datetime(year + 1, 1, 1, tzinfo=VN_TZ))).all()
    number = sum(1 for symbol in issued if symbol.endswith(f"-BC/{issuer_code}")) + 1
    previous = session.scalar(select(ReportSnapshot).where(
        ReportSnapshot.status == "issued", ReportSnapshot.kind == snapshot.kind,
        ReportSnapshot.scope == snapshot.scope, ReportSnapshot.org_unit_id == snapshot.org_unit_id,
        ReportSnapshot.period_start == snapshot.period_start,
        ReportSnapshot.period_end == snapshot.period_end)
        .order_by(ReportSnapshot.version.desc()).limit(1))
    snapshot.status = "issued"
    snapshot.number = number
    snapshot.symbol = f"{number}-BC/{issuer_code}"
    snapshot.issued_at = at
    snapshot.issued_by = actor
    snapshot.supersedes_id = previous.id if previous else None
    session.flush()
    audit_log.record(session, actor=actor, action="report.issue", object_type="report",
                     object_id=snapshot.id, before={"status": "draft"},
                     after=_audit_fields(snapshot))
    logger.info("report issued", extra={"report_id": snapshot.id, "symbol": snapshot.symbol})
    return snapshot


def get_report(session: Session, report_id: int) -> ReportSnapshot:
    snapshot = session.get(ReportSnapshot, report_id)
    if snapshot is None:
        raise ReportNotFoundError(message("No report with id %(report_id)s",
                                          report_id=report_id))
    return snapshot


def latest_versions(session: Session, *, org_unit_ids: set[int] | None = None,
                    limit: int = 200) -> list[ReportSnapshot]:
    """Return reports newest period first; `org_unit_ids` None means every agency."""
    query = select(ReportSnapshot).order_by(
        ReportSnapshot.period_end.desc(), ReportSnapshot.kind, ReportSnapshot.org_unit_id,
        ReportSnapshot.version.desc()).limit(limit)
    if org_unit_ids is not None:
        query = query.where(ReportSnapshot.org_unit_id.in_(org_unit_ids))
    return list(session.scalars(query))


# The periodic job -----------------------------------------------------------------


def _exists(session: Session, scope: str, org_unit: OrgUnit, period: Period) -> bool:
    return session.scalar(select(ReportSnapshot.id).where(
        ReportSnapshot.scope == scope, ReportSnapshot.kind == period.kind,
        ReportSnapshot.org_unit_id == org_unit.id, ReportSnapshot.period_start == period.start,
        ReportSnapshot.period_end == period.end).limit(1)) is not None


def _reporting_agencies(session: Session) -> list[OrgUnit]:
    leads = select(TaskAgency.org_unit_id).where(TaskAgency.role == "lead").distinct()
    return list(session.scalars(select(OrgUnit).where(OrgUnit.id.in_(leads))
                                .order_by(OrgUnit.sort_key)))


def due_reports(session: Session, settings: Settings, now: datetime
                ) -> list[tuple[str, OrgUnit, Period]]:
    """List the (scope, agency, period) of reports due by `now` and not produced yet.

    Only the latest due period of each kind is considered, so a node started
    after a long pause does not produce years of back reports.
    """
    today = now.astimezone(VN_TZ).date()
    node_unit = session.scalar(select(OrgUnit).where(OrgUnit.code == settings.node_org_unit))
    due: list[tuple[str, OrgUnit, Period]] = []
    if node_unit is not None and settings.node_level == 0:
        for kind in SUMMARY_KINDS:
            period = last_due_summary_period(kind, today)
            if not _exists(session, "summary", node_unit, period):
                due.append(("summary", node_unit, period))
    for agency in _reporting_agencies(session):
        for kind in AGENCY_KINDS:
            period = last_ended_calendar_period(kind, today)
            if not _exists(session, "agency", agency, period):
                due.append(("agency", agency, period))
    return due


def produce_due_reports(session_factory: sessionmaker[Session], settings: Settings,
                        now: datetime) -> list[int]:
    """Produce, as drafts, every periodic report due by `now`; return their ids.

    Each report is its own transaction, so one failure does not undo the
    others; running again produces only what is still missing.
    """
    with session_factory() as session:
        node_unit = session.scalar(select(OrgUnit).where(OrgUnit.code == settings.node_org_unit))
        plan = [(scope, unit.id, period) for scope, unit, period in due_reports(session, settings,
                                                                               now)]
    if node_unit is None:
        logger.warning("node org unit not found; summaries skipped",
                       extra={"org_unit": settings.node_org_unit})
    logger.info("periodic reports started", extra={"due": len(plan)})
    produced: list[int] = []
    for scope, unit_id, period in plan:
        try:
            with unit_of_work(session_factory) as session:
                unit = session.get(OrgUnit, unit_id)
                issuer = unit if scope == "agency" or node_unit is None else session.get(
                    OrgUnit, node_unit.id)
                snapshot = produce_report(session, scope=scope, org_unit=unit, issuer=issuer,
                                          period=period, now=now, actor=None,
                                          locale=settings.default_locale,
                                          place=settings.reports_place)
                produced.append(snapshot.id)
        except Exception:
            logger.exception("periodic report failed", extra={
                "scope": scope, "org_unit_id": unit_id, "kind": period.kind,
                "period_start": period.start.isoformat()})
    logger.info("periodic reports finished", extra={"produced": len(produced),
                                                    "failed": len(plan) - len(produced)})
    return produced


def current_quarter(now: datetime) -> Period:
    """Return the calendar quarter that contains `now` in Vietnam."""
    return calendar_period("quarterly", now.astimezone(VN_TZ).date())


__all__ = ["produce_report", "issue_report", "produce_due_reports", "requested_period",
           "get_report", "latest_versions", "current_quarter"]
