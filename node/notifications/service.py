"""The daily warnings of Điều 18.1.d, raised set-based in SQL.

On each working day (of the node's working calendar) the job raises, for
every open task (not started or in progress):

- due_soon: the deadline falls N working days ahead, for each N of the
  setting warnings_due_soon_working_days (default 3 and 1). A deadline on a
  day off is warned on the working day whose N-th next working day is the
  first on or after it;
- due_today: the deadline falls today;
- overdue: the deadline has passed; repeated every
  warnings_overdue_every_working_days working days (default 3), and
  escalated to the monitoring agency and the office;
- transfer_missed, receipt_missed, feedback_missed: a service-level deadline
  of Điều 6 passed without the transfer, the receipt or the decision on an
  objection; once per deadline;
- checkpoint_missed: the node opened an explanation request for a missed
  progress checkpoint or result report; once per request;

and the periodic report warnings (report_* for agencies, summary_* for the
office), N working days before and on their due day. An agency whose report
is past its due day and not issued gets report_overdue, repeated and
escalated to the office as overdue tasks are.

Every insert is one INSERT ... SELECT that skips rows the unique indexes
already hold, so a day's warnings are the same whether one worker or many
run the job, and a second run adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy import Date, Integer, String, and_, exists, literal, select
from sqlalchemy.orm import Session, aliased

from node.auth.models import RoleGrant, User
from node.core.db import UTCDateTime
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.local_tasks.calendar import CalendarError, WorkingCalendar
from node.local_tasks.models import OrgUnit, Task, TaskAgency, TaskDeadline
from node.local_tasks.workflow.models import ExplanationRequest, Objection
from node.notifications.models import DeadlineWarning, Notification, Webhook, WebhookDelivery
from node.notifications.report_calendar import (
    ReportDue,
    agency_due_dates,
    summary_due_dates,
    working_days_before,
)
from node.notifications.sql import insert_missing
from node.reports.models import ReportSnapshot
from node.reports.periods import calendar_period

logger = logging.getLogger(__name__)

OPEN_STATES = ("not_started", "in_progress")
WARNING_COLUMNS = ["kind", "warned_on", "task_id", "due_at", "working_days_left", "audience",
                   "created_at"]
REPORT_COLUMNS = ["kind", "warned_on", "org_unit_id", "report_period", "due_at",
                  "working_days_left", "audience", "created_at"]
# Roles of the people who write and approve an agency's reports (Điều 15.3).
REPORTING_ROLES = ("updater", "approver")
OFFICE_ROLE = "central_officer"


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=VN_TZ)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=VN_TZ)


def _constants(kind: str, day: date, audience: str, now: datetime,
               working_days_left: int | None = None) -> dict:
    return {
        "kind": literal(kind, String),
        "warned_on": literal(day, Date),
        "working_days_left": literal(working_days_left, Integer),
        "audience": literal(audience, String),
        "created_at": literal(now, UTCDateTime),
    }


def _task_rows(kind: str, day: date, audience: str, now: datetime, due_at, *conditions,  # noqa: ANN001
               working_days_left: int | None = None, join=None):  # noqa: ANN001
    values = _constants(kind, day, audience, now, working_days_left)
    query = select(values["kind"], values["warned_on"], Task.id, due_at,
                   values["working_days_left"], values["audience"], values["created_at"])
    if join is not None:
        query = query.select_from(join)
    return query.where(Task.reported_state.in_(OPEN_STATES), *conditions)


def _not_warned_for(kind: str, due_at) -> object:  # noqa: ANN001
    earlier = aliased(DeadlineWarning)
    return ~exists().where(earlier.task_id == Task.id, earlier.kind == kind,
                           earlier.due_at == due_at)


def _insert_task_warnings(session: Session, rows) -> int:  # noqa: ANN001
    return insert_missing(session, DeadlineWarning.__table__, WARNING_COLUMNS, rows)


def _deadline_warnings(session: Session, *, day: date, now: datetime,
                       calendar: WorkingCalendar, settings: Settings) -> dict[str, int]:
    counts = {"due_soon": 0}
    for lead in settings.warnings_due_soon_working_days:
        try:
            after = calendar.add_working_days(day, lead - 1)
            until = calendar.add_working_days(day, lead)
        except CalendarError as exc:
            # NOTE: near the end of a year whose successor has no calendar file
            # yet, the deadlines of the new year get no due-soon warning.
            logger.warning("due-soon window unknown", extra={"lead": lead, "error": str(exc)})
            continue
        counts["due_soon"] += _insert_task_warnings(session, _task_rows(
            "due_soon", day, "agency", now, Task.deadline_at,
            Task.deadline_at >= _start_of(after + timedelta(days=1)),
            Task.deadline_at < _start_of(until + timedelta(days=1)),
            working_days_left=lead))
    counts["due_today"] = _insert_task_warnings(session, _task_rows(
        "due_today", day, "agency", now, Task.deadline_at,
        Task.deadline_at >= _start_of(day), Task.deadline_at < _start_of(day + timedelta(days=1))))
    # The last overdue warning must be at least `every` working days old.
    last_allowed = working_days_before(calendar, day, settings.warnings_overdue_every_working_days)
    earlier = aliased(DeadlineWarning)
    counts["overdue"] = _insert_task_warnings(session, _task_rows(
        "overdue", day, "escalated", now, Task.deadline_at,
        Task.deadline_at < _start_of(day),
        ~exists().where(earlier.task_id == Task.id, earlier.kind == "overdue",
                        earlier.warned_on > last_allowed)))
    return counts


def _service_level_warnings(session: Session, *, day: date, now: datetime) -> dict[str, int]:
    counts = {}
    for kind, deadline_kind, not_done, audience in (
        ("transfer_missed", "transfer", Task.transferred_at.is_(None), "office"),
        ("receipt_missed", "receipt", Task.received_at.is_(None), "agency"),
    ):
        counts[kind] = _insert_task_warnings(session, _task_rows(
            kind, day, audience, now, TaskDeadline.due_at,
            TaskDeadline.kind == deadline_kind, TaskDeadline.due_at < now, not_done,
            _not_warned_for(kind, TaskDeadline.due_at),
            join=Task.__table__.join(TaskDeadline.__table__, TaskDeadline.task_id == Task.id)))
    counts["feedback_missed"] = _insert_task_warnings(session, _task_rows(
        "feedback_missed", day, "office", now, Objection.feedback_due_at,
        Objection.status == "open", Objection.feedback_due_at < now,
        _not_warned_for("feedback_missed", Objection.feedback_due_at),
        join=Task.__table__.join(Objection.__table__, Objection.task_id == Task.id)))
    counts["checkpoint_missed"] = _insert_task_warnings(session, _task_rows(
        "checkpoint_missed", day, "agency", now, ExplanationRequest.deadline_due_at,
        ExplanationRequest.status == "open", ExplanationRequest.deadline_kind.is_not(None),
        _not_warned_for("checkpoint_missed", ExplanationRequest.deadline_due_at),
        join=Task.__table__.join(ExplanationRequest.__table__,
                                 ExplanationRequest.task_id == Task.id)))
    return counts


def _due_warning_kind(due: ReportDue, *, day: date, calendar: WorkingCalendar,
                      leads: Iterable[int]) -> tuple[str, int] | None:
    """Return ("due_today", 0) or ("due_soon", N) when `due` is warned on `day`, else None."""
    if due.due_on == day:
        return "due_today", 0
    for lead in leads:
        if calendar.add_working_days(day, lead - 1) < due.due_on \
                <= calendar.add_working_days(day, lead):
            return "due_soon", lead
    return None


def _agency_dues(calendar: WorkingCalendar, year: int, settings: Settings) -> list[ReportDue]:
    """Return the agencies' report due dates of `year`, or none when the calendar lacks them."""
    if year not in calendar.years:
        return []
    try:
        return agency_due_dates(calendar, year, settings.warnings_agency_report_lead_working_days)
    except CalendarError as exc:
        logger.warning("report due dates unknown", extra={"year": year, "error": str(exc)})
        return []


def _report_dues(calendar: WorkingCalendar, day: date, settings: Settings):  # noqa: ANN202
    for year in (day.year, day.year + 1):
        if year not in calendar.years:
            continue
        yield from (("report", due) for due in _agency_dues(calendar, year, settings))
        yield from (("summary", due) for due in summary_due_dates(year))


def _report_warnings(session: Session, *, day: date, now: datetime, calendar: WorkingCalendar,
                     settings: Settings) -> dict[str, int]:
    counts = {"report_due": 0, "summary_due": 0}
    office = session.scalar(select(OrgUnit.id).where(OrgUnit.code == settings.node_org_unit)) \
        or session.scalar(select(OrgUnit.id).where(OrgUnit.is_root))
    for prefix, due in _report_dues(calendar, day, settings):
        try:
            found = _due_warning_kind(due, day=day, calendar=calendar,
                                      leads=settings.warnings_due_soon_working_days)
        except CalendarError:
            continue
        if found is None:
            continue
        suffix, lead = found
        values = _constants(f"{prefix}_{suffix}", day, "org_unit" if prefix == "report" else "office",
                            now, lead or None)
        period, due_at = literal(due.period, String), literal(_end_of(due.due_on), UTCDateTime)
        if prefix == "report":
            org_units = select(RoleGrant.org_unit_id).where(
                RoleGrant.role.in_(REPORTING_ROLES)).distinct().subquery()
            unit_column = org_units.c.org_unit_id
        else:
            if office is None:
                continue
            org_units, unit_column = None, literal(office, Integer)
        rows = select(values["kind"], values["warned_on"], unit_column, period, due_at,
                      values["working_days_left"], values["audience"], values["created_at"])
        if org_units is not None:
            rows = rows.select_from(org_units)
        counts[f"{prefix}_due"] += insert_missing(session, DeadlineWarning.__table__,
                                                  REPORT_COLUMNS, rows)
    return counts


REPORT_KINDS_OF_PERIODS = {"month": "monthly", "quarter": "quarterly", "half_year": "half_yearly",
                           "year": "yearly"}


def report_period_bounds(due: ReportDue) -> tuple[date, date]:
    """Return the first and last day of the calendar period `due.period` names."""
    year_text, _sep, part = due.period.partition("-")
    year = int(year_text)
    if due.period_kind == "month":
        first = date(year, int(part), 1)
    elif due.period_kind == "quarter":
        first = date(year, (int(part[1:]) - 1) * 3 + 1, 1)
    elif due.period_kind == "half_year":
        first = date(year, 1 if part == "H1" else 7, 1)
    else:
        first = date(year, 1, 1)
    period = calendar_period(REPORT_KINDS_OF_PERIODS[due.period_kind], first)
    return period.start, period.end


def _past_agency_dues(calendar: WorkingCalendar, day: date, settings: Settings):  # noqa: ANN202
    """Yield the agencies' reports of this year and last year that were due before `day`."""
    for year in (day.year - 1, day.year):
        yield from (due for due in _agency_dues(calendar, year, settings) if due.due_on < day)


def _report_overdue_warnings(session: Session, *, day: date, now: datetime,
                             calendar: WorkingCalendar, settings: Settings) -> int:
    """Warn each reporting agency about each of its reports past due and not issued.

    Agencies are the org units where someone has a reporting role, as for
    the report-due warnings. An agency created on this node after a report's
    due day is not warned about that report. The warning repeats every
    `warnings_overdue_every_working_days` working days until an agency
    report of that kind and period is issued.
    """
    last_allowed = working_days_before(calendar, day, settings.warnings_overdue_every_working_days)
    reporting_units = select(RoleGrant.org_unit_id).where(
        RoleGrant.role.in_(REPORTING_ROLES)).distinct().subquery()
    unit_id = reporting_units.c.org_unit_id
    added = 0
    for due in _past_agency_dues(calendar, day, settings):
        start, end = report_period_bounds(due)
        values = _constants("report_overdue", day, "escalated", now)
        issued = exists().where(
            ReportSnapshot.scope == "agency", ReportSnapshot.org_unit_id == unit_id,
            ReportSnapshot.kind == REPORT_KINDS_OF_PERIODS[due.period_kind],
            ReportSnapshot.period_start == start, ReportSnapshot.period_end == end,
            ReportSnapshot.status == "issued")
        earlier = aliased(DeadlineWarning)
        warned_lately = exists().where(
            earlier.org_unit_id == unit_id, earlier.report_period == due.period,
            earlier.kind == "report_overdue", earlier.warned_on > last_allowed)
        rows = (
            select(values["kind"], values["warned_on"], unit_id, literal(due.period, String),
                   literal(_end_of(due.due_on), UTCDateTime), values["working_days_left"],
                   values["audience"], values["created_at"])
            .select_from(reporting_units.join(OrgUnit, OrgUnit.id == unit_id))
            .where(OrgUnit.created_at <= _end_of(due.due_on), ~issued, ~warned_lately))
        added += insert_missing(session, DeadlineWarning.__table__, REPORT_COLUMNS, rows)
    return added


def raise_warnings(session: Session, *, at: datetime, calendar: WorkingCalendar,
                   settings: Settings) -> dict[str, int]:
    """Raise the warnings of the Vietnam day of `at`; return how many of each were new.

    Nothing is raised on a day off: the due-soon warnings of a deadline after
    a day off fall on the working day before it.
    """
    day = at.astimezone(VN_TZ).date()
    if not calendar.is_working_day(day):
        logger.info("no warnings on a day off", extra={"day": day.isoformat()})
        return {}
    counts = _deadline_warnings(session, day=day, now=at, calendar=calendar, settings=settings)
    counts.update(_service_level_warnings(session, day=day, now=at))
    counts.update(_report_warnings(session, day=day, now=at, calendar=calendar, settings=settings))
    counts["report_overdue"] = _report_overdue_warnings(session, day=day, now=at,
                                                        calendar=calendar, settings=settings)
    session.flush()
    logger.info("warnings raised", extra={"day": day.isoformat(), **counts})
    return counts


def _recipients_of_agency(role: str, audiences: tuple[str, ...], day: date, now: datetime):  # noqa: ANN202
    return (
        select(RoleGrant.user_id, DeadlineWarning.id, literal(now, UTCDateTime))
        .select_from(DeadlineWarning)
        .join(TaskAgency, and_(TaskAgency.task_id == DeadlineWarning.task_id,
                               TaskAgency.role == role))
        .join(RoleGrant, RoleGrant.org_unit_id == TaskAgency.org_unit_id)
        .join(User, and_(User.id == RoleGrant.user_id, User.is_active))
        .where(DeadlineWarning.warned_on == day, DeadlineWarning.audience.in_(audiences))
        .distinct()
    )


def _recipients_in_office(day: date, now: datetime):  # noqa: ANN202
    return (
        select(RoleGrant.user_id, DeadlineWarning.id, literal(now, UTCDateTime))
        .select_from(DeadlineWarning)
        .join(RoleGrant, RoleGrant.role == OFFICE_ROLE)
        .join(User, and_(User.id == RoleGrant.user_id, User.is_active))
        .where(DeadlineWarning.warned_on == day,
               DeadlineWarning.audience.in_(("escalated", "office")))
        .distinct()
    )


def _recipients_in_org_unit(day: date, now: datetime):  # noqa: ANN202
    return (
        select(RoleGrant.user_id, DeadlineWarning.id, literal(now, UTCDateTime))
        .select_from(DeadlineWarning)
        .join(RoleGrant, and_(RoleGrant.org_unit_id == DeadlineWarning.org_unit_id,
                              RoleGrant.role.in_(REPORTING_ROLES)))
        .join(User, and_(User.id == RoleGrant.user_id, User.is_active))
        .where(DeadlineWarning.warned_on == day, DeadlineWarning.task_id.is_(None),
               DeadlineWarning.audience.in_(("org_unit", "escalated")))
        .distinct()
    )


def address_notifications(session: Session, *, at: datetime) -> int:
    """Address the warnings of the day of `at` to their people; return the new notifications.

    A warning reaches the people with a role at the task's lead agency.
    An escalated (overdue) warning also reaches the monitoring agency's
    people and the office's officers. Office warnings reach the officers
    only, and report warnings the people who write the org unit's reports,
    and the officers too when the report is overdue.
    """
    day = at.astimezone(VN_TZ).date()
    columns = ["user_id", "warning_id", "created_at"]
    table = Notification.__table__
    added = 0
    for rows in (
        _recipients_of_agency("lead", ("agency", "escalated"), day, at),
        _recipients_of_agency("monitoring", ("escalated",), day, at),
        _recipients_in_office(day, at),
        _recipients_in_org_unit(day, at),
    ):
        added += insert_missing(session, table, columns, rows)
    session.flush()
    logger.info("notifications addressed", extra={"day": day.isoformat(), "added": added})
    return added


def queue_webhook_deliveries(session: Session, *, at: datetime) -> int:
    """Queue every warning of the day of `at` for every active webhook; return the new ones."""
    day = at.astimezone(VN_TZ).date()
    rows = (
        select(Webhook.id, DeadlineWarning.id, literal("pending", String), literal(0, Integer),
               literal(at, UTCDateTime))
        .select_from(DeadlineWarning.__table__.join(Webhook.__table__, Webhook.is_active))
        .where(DeadlineWarning.warned_on == day)
    )
    added = insert_missing(session, WebhookDelivery.__table__,
                           ["webhook_id", "warning_id", "status", "attempts", "next_attempt_at"],
                           rows)
    session.flush()
    return added
