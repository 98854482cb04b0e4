"""The wording of warnings, in the current locale, for the page, e-mails and webhooks."""

from __future__ import annotations

from datetime import datetime

from node.core.i18n import _, _l
from node.core.timezone import VN_TZ
from node.notifications.models import DeadlineWarning

KIND_TITLES = {
    "due_soon": _l("Due soon"),
    "due_today": _l("Due today"),
    "overdue": _l("Overdue"),
    "transfer_missed": _l("Transfer late"),
    "receipt_missed": _l("Receipt not confirmed"),
    "feedback_missed": _l("Objection not decided"),
    "checkpoint_missed": _l("Progress report missed"),
    "report_due_soon": _l("Periodic report due soon"),
    "report_due_today": _l("Periodic report due today"),
    "report_overdue": _l("Periodic report overdue"),
    "summary_due_soon": _l("Summary report due soon"),
    "summary_due_today": _l("Summary report due today"),
}

PERIOD_KINDS = {
    "month": _l("month %(period)s"),
    "quarter": _l("quarter %(period)s"),
    "half_year": _l("first half-year %(period)s"),
    "year": _l("year %(period)s"),
}


def _day(value: datetime | None) -> str:
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y") if value else ""


def _instant(value: datetime | None) -> str:
    return value.astimezone(VN_TZ).strftime("%H:%M %d/%m/%Y") if value else ""


def period_label(period: str) -> str:
    """Name a report period ("2026-03", "2026-Q1", "2026-H1", "2026") in words."""
    year, _sep, part = period.partition("-")
    if not part:
        return str(PERIOD_KINDS["year"]) % {"period": year}
    if part.startswith("Q"):
        return str(PERIOD_KINDS["quarter"]) % {"period": f"{part[1:]}/{year}"}
    if part.startswith("H"):
        return str(PERIOD_KINDS["half_year"]) % {"period": year}
    return str(PERIOD_KINDS["month"]) % {"period": f"{part}/{year}"}


def task_label(warning: DeadlineWarning) -> str:
    """Name the task of a warning by its number and its document's reference.

    Only these are used, never the task's content, so that the text is the
    same for confidential and top-secret documents (Điều 5.2).
    """
    task = warning.task
    number = task.task_no or str(task.position + 1)
    return _("task %(number)s of %(document)s", number=number,
             document=task.document.reference)


def warning_text(warning: DeadlineWarning) -> str:
    """Return the sentence that describes the warning to a person."""
    kind, due = warning.kind, warning.due_at
    if warning.task_id is None:
        unit = warning.org_unit.name if warning.org_unit else ""
        period = period_label(warning.report_period or "")
        if kind == "report_due_soon":
            return _("The report for %(period)s of %(unit)s is due on %(due)s "
                     "(%(days)s working days left).", period=period, unit=unit, due=_day(due),
                     days=warning.working_days_left)
        if kind == "report_due_today":
            return _("The report for %(period)s of %(unit)s is due today, %(due)s.",
                     period=period, unit=unit, due=_day(due))
        if kind == "report_overdue":
            return _("The report for %(period)s of %(unit)s is overdue: it was due on %(due)s "
                     "and has not been issued.", period=period, unit=unit, due=_day(due))
        if kind == "summary_due_soon":
            return _("The office's summary report for %(period)s is due on %(due)s "
                     "(%(days)s working days left).", period=period, due=_day(due),
                     days=warning.working_days_left)
        return _("The office's summary report for %(period)s is due today, %(due)s.",
                 period=period, due=_day(due))
    task = task_label(warning)
    texts = {
        "due_soon": lambda: _("The deadline of %(task)s is %(due)s (%(days)s working days left).",
                              task=task, due=_day(due), days=warning.working_days_left),
        "due_today": lambda: _("The deadline of %(task)s is today, %(due)s.", task=task,
                               due=_day(due)),
        "overdue": lambda: _("%(task)s is overdue: its deadline was %(due)s.", task=task,
                             due=_day(due)),
        "transfer_missed": lambda: _(
            "%(task)s was not transferred to its agencies by %(due)s (3 working days after "
            "the document was issued).", task=task, due=_instant(due)),
        "receipt_missed": lambda: _(
            "The receipt of %(task)s was not confirmed by %(due)s (4 working hours after the "
            "transfer).", task=task, due=_instant(due)),
        "feedback_missed": lambda: _(
            "The objection to %(task)s was not decided by %(due)s (1 working day).",
            task=task, due=_instant(due)),
        "checkpoint_missed": lambda: _(
            "The progress report of %(task)s due %(due)s was missed; an explanation is "
            "requested.", task=task, due=_instant(due)),
    }
    text = texts[kind]()
    return text[:1].upper() + text[1:]
