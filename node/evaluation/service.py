"""Evaluation of agencies per quarter, half-year and year (Điều 17.1), and its follow-up.

`evaluate_period` stores one score per lead agency, with the counts and the
indicator set it used, so the page can show the formula and its inputs.
`open_explanations_for_low_ratings` opens one explanation request for an
agency rated low in two periods in a row (Điều 17.3.b).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from node.audit import service as audit_log
from node.core.db import unit_of_work
from node.core.timezone import VN_TZ
from node.evaluation.config import DEFAULT_DIR, IndicatorSet, load_sets, set_for
from node.evaluation.indicators import agency_counts, outcome
from node.evaluation.models import PERIOD_KINDS, EvaluationExplanation, EvaluationScore
from node.local_tasks.completion import OVERDUE_LEVELS, completion_level_expr
from node.local_tasks.models import OrgUnit, Task, TaskAgency
from node.local_tasks.workflow import explanations
from node.local_tasks.workflow.errors import invalid
from node.reports import texts
from node.reports.content import period_start_instant
from node.reports.periods import Period, calendar_period

logger = logging.getLogger(__name__)

# Evaluation period kinds and the report period kinds with the same calendar periods.
REPORT_KIND = {"quarter": "quarterly", "half_year": "half_yearly", "year": "yearly"}


def evaluation_period(kind: str, day: date) -> Period:
    """Return the quarter, half-year or year that contains `day`."""
    if kind not in PERIOD_KINDS:
        raise invalid("period_kind", kind, "Unknown evaluation period %(kind)s; use one of "
                      "%(kinds)s", kind=kind, kinds=", ".join(PERIOD_KINDS))
    return calendar_period(REPORT_KIND[kind], day)


def previous_period(kind: str, period: Period) -> Period:
    return evaluation_period(kind, period.start - timedelta(days=1))


def last_ended_period(kind: str, now: datetime) -> Period:
    today = now.astimezone(VN_TZ).date()
    return previous_period(kind, evaluation_period(kind, today))


def evaluate_period(session: Session, *, kind: str, period: Period, now: datetime,
                    sets: list[IndicatorSet]) -> list[EvaluationScore]:
    """Compute and store every lead agency's score for one period; flush and return them.

    Scores of a period that has not ended are as of `now` and are replaced
    when the period is evaluated again. A new evaluation also deletes the
    stored scores of the period's agencies that no longer lead any task, in
    the same transaction, so the period never mixes two evaluations.
    """
    indicator_set = set_for(sets, period.end)
    as_of = period.as_of(now)
    counts = agency_counts(session, start=period_start_instant(period.start), as_of=as_of)
    existing = {row.org_unit_id: row for row in session.scalars(select(EvaluationScore).where(
        EvaluationScore.period_kind == kind, EvaluationScore.period_start == period.start))}
    rows = []
    for unit_id, unit_counts in counts.items():
        result = outcome(indicator_set, unit_counts)
        row = existing.get(unit_id) or EvaluationScore(org_unit_id=unit_id, period_kind=kind,
                                                       period_start=period.start)
        row.period_end, row.as_of, row.computed_at = period.end, as_of, now
        row.indicator_set, row.indicator_set_version = indicator_set.code, indicator_set.version
        row.score, row.rating = result.score, result.rating
        row.inputs = {"counts": result.counts, "values": result.values,
                      "weights": indicator_set.weights, "thresholds": indicator_set.thresholds,
                      "source": indicator_set.source}
        session.add(row)
        rows.append(row)
    stale = [row for unit_id, row in existing.items() if unit_id not in counts]
    for row in stale:
        session.delete(row)
    session.flush()
    logger.info("evaluation computed", extra={"period_kind": kind,
                                              "period_start": period.start.isoformat(),
                                              "agencies": len(rows),
                                              "stale_scores_deleted": len(stale)})
    return rows


def _representative_task(session: Session, unit_id: int, as_of: datetime) -> Task | None:
    """Pick the task the explanation request hangs on: the agency's oldest overdue task."""
    level = completion_level_expr(as_of)
    led = select(TaskAgency.task_id).where(TaskAgency.role == "lead",
                                           TaskAgency.org_unit_id == unit_id)
    query = select(Task).where(Task.id.in_(led))
    return (session.scalar(query.where(level.in_(OVERDUE_LEVELS))
                           .order_by(Task.deadline_at.nulls_last(), Task.id).limit(1))
            or session.scalar(query.order_by(Task.deadline_at.nulls_last(), Task.id).limit(1)))


@dataclass
class _LowPair:
    unit: OrgUnit
    first: EvaluationScore
    second: EvaluationScore


def _low_pairs(session: Session, kind: str, period: Period, low: tuple[str, ...]
               ) -> list[_LowPair]:
    before = previous_period(kind, period)
    scores = session.scalars(select(EvaluationScore).where(
        EvaluationScore.period_kind == kind,
        EvaluationScore.period_start.in_((before.start, period.start)),
        EvaluationScore.rating.in_(low)))
    by_unit: dict[int, dict[date, EvaluationScore]] = {}
    for row in scores:
        by_unit.setdefault(row.org_unit_id, {})[row.period_start] = row
    return [_LowPair(rows[period.start].org_unit, rows[before.start], rows[period.start])
            for rows in by_unit.values() if len(rows) == 2]


def open_explanations_for_low_ratings(session: Session, *, kind: str, period: Period,
                                      at: datetime, sets: list[IndicatorSet],
                                      locale: str = "vi") -> int:
    """Open one explanation request per agency rated low in `period` and the one before.

    Running it again opens nothing new. Returns the number of requests opened.
    """
    _ = texts.translator(locale)
    labels = rating_labels(_)
    low = set_for(sets, period.end).low_ratings
    done = set(session.scalars(select(EvaluationExplanation.org_unit_id).where(
        EvaluationExplanation.period_kind == kind,
        EvaluationExplanation.period_start == period.start)))
    opened = 0
    for pair in _low_pairs(session, kind, period, low):
        if pair.unit.id in done:
            continue
        task = _representative_task(session, pair.unit.id, period.as_of(at))
        if task is None:
            continue
        reason = _("%(agency)s was rated “%(first)s” for the period ending %(first_end)s and "
                   "“%(second)s” for the period ending %(second_end)s. Explain the causes and "
                   "propose remedies (Article 17.3.b).", agency=pair.unit.name,
                   first=labels[pair.first.rating], second=labels[pair.second.rating],
                   first_end=pair.first.period_end.strftime("%d/%m/%Y"),
                   second_end=pair.second.period_end.strftime("%d/%m/%Y"))
        request = explanations.request_explanation(session, task, at=at, actor=None,
                                                   reason=reason)
        session.add(EvaluationExplanation(org_unit_id=pair.unit.id, period_kind=kind,
                                          period_start=period.start,
                                          explanation_request_id=request.id))
        session.flush()
        audit_log.record(session, actor=None, action="evaluation.explanation_request",
                         object_type="org_unit", object_id=pair.unit.id,
                         after={"period_kind": kind, "period_start": period.start,
                                "explanation_request_id": request.id})
        opened += 1
    return opened


def rating_labels(_: texts.Gettext) -> dict[str, str]:
    """Name the ratings with the regulation's words (Điều 17.1.c)."""
    return {"excellent": _("Completed the tasks excellently"),
            "completed": _("Completed the tasks"),
            "not_fully_completed": _("Did not fully complete the tasks"),
            "not_completed": _("Did not complete the tasks")}


def evaluate_ended_periods(session_factory: sessionmaker[Session], now: datetime, *,
                           config_dir=DEFAULT_DIR, locale: str = "vi") -> dict:  # noqa: ANN001
    """Evaluate the last ended quarter, half-year and year, then follow up low ratings.

    Meant for a periodic job: every step may run again without doing anything twice.
    """
    sets = load_sets(config_dir)
    summary = {}
    for kind in PERIOD_KINDS:
        period = last_ended_period(kind, now)
        with unit_of_work(session_factory) as session:
            rows = evaluate_period(session, kind=kind, period=period, now=now, sets=sets)
            before = previous_period(kind, period)
            if session.scalar(select(EvaluationScore.id).where(
                    EvaluationScore.period_kind == kind,
                    EvaluationScore.period_start == before.start).limit(1)) is None:
                evaluate_period(session, kind=kind, period=before, now=now, sets=sets)
            opened = open_explanations_for_low_ratings(session, kind=kind, period=period,
                                                       at=now, sets=sets, locale=locale)
        summary[kind] = {"period_start": period.start.isoformat(), "agencies": len(rows),
                         "explanations": opened}
    logger.info("evaluation job finished", extra={"summary": summary})
    return summary
