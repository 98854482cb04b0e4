"""Reading a request for a report from a form or a JSON body, every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from node.core.errors import ProblemCollector
from node.core.text import clean
from node.local_tasks.workflow.errors import message
from node.reports.errors import ReportInputError
from node.reports.models import REPORT_KINDS, REPORT_SCOPES

MAX_RECIPIENTS = 20
MAX_TEXT = 300


@dataclass
class ReportRequest:
    scope: str
    kind: str
    org_unit: str
    day: date | None
    period_start: date | None
    period_end: date | None
    place: str | None
    recipients: list[str]


def _date(values: Mapping, name: str, problems: ProblemCollector) -> date | None:
    raw = values.get(name)
    if raw in (None, ""):
        return None
    try:
        return date.fromisoformat(str(raw).strip())
    except ValueError:
        problems.add(name, message("Write a date that exists, as YYYY-MM-DD, e.g. 2026-03-31"), raw)
        return None


def _recipients(values: Mapping, problems: ProblemCollector) -> list[str]:
    raw = values.get("recipients") or []
    if isinstance(raw, str):
        raw = raw.splitlines()
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        problems.add("recipients", message("Give the recipients as a list of names"), raw)
        return []
    items = [clean(item) for item in raw if clean(item)]
    if len(items) > MAX_RECIPIENTS or any(len(item) > MAX_TEXT for item in items):
        problems.add("recipients", message(
            "At most %(count)s recipients of at most %(length)s characters each",
            count=MAX_RECIPIENTS, length=MAX_TEXT), len(items))
    return items


def read_report_request(values: Mapping) -> ReportRequest:
    """Check a request for a report; raise ReportInputError listing every invalid field."""
    problems = ProblemCollector()
    scope = clean(str(values.get("scope") or "agency"))
    if scope not in REPORT_SCOPES:
        problems.add("scope", message("Use one of %(values)s", values=", ".join(REPORT_SCOPES)),
                     scope)
    kind = clean(str(values.get("kind") or ""))
    if kind not in REPORT_KINDS:
        problems.add("kind", message("Use one of %(values)s", values=", ".join(REPORT_KINDS)),
                     kind)
    org_unit = clean(str(values.get("org_unit") or ""))
    if not org_unit:
        problems.add("org_unit", message("Choose the agency the report is about"))
    day = _date(values, "day", problems)
    start = _date(values, "period_start", problems)
    end = _date(values, "period_end", problems)
    place = clean(str(values.get("place") or "")) or None
    if place and len(place) > MAX_TEXT:
        problems.add("place", message("At most %(length)s characters", length=MAX_TEXT), place)
    recipients = _recipients(values, problems)
    problems.raise_if_any(message("The report request is invalid"))
    return ReportRequest(scope, kind, org_unit, day, start, end, place, recipients)


__all__ = ["ReportRequest", "read_report_request", "ReportInputError"]
