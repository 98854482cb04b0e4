"""The counts behind each indicator, for every lead agency at once, and the score they give.

For an agency and a period ending at `as_of` (the end of its last day), over
the tasks the agency leads:

* on_time_completion = completed on time / tasks whose deadline falls in the
  period, both as of `as_of`;
* not_overdue = 1 - overdue / assessable, where overdue counts the tasks in an
  overdue level as of `as_of` and assessable the tasks due by `as_of` plus any
  overdue task without a deadline (ended without completion, or abandoned);
* reports_on_time = 1 - missed / reporting deadlines, over the progress
  checkpoints and result-report deadlines (Điều 6) that fell in the period;
  a deadline is missed when an explanation request was opened for it.

Each count is one grouped query over all agencies, so a node with thousands
of agencies is evaluated in a few queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from node.evaluation.config import INDICATORS, IndicatorSet
from node.local_tasks.completion import COMPLETED_ON_TIME, OVERDUE_LEVELS, completion_level_expr
from node.local_tasks.models import Task, TaskAgency, TaskDeadline
from node.local_tasks.workflow.models import EXPLANATION_DEADLINE_KINDS, ExplanationRequest

COUNT_NAMES = ("due_in_period", "completed_on_time", "assessable", "overdue",
               "reporting_deadlines", "reporting_missed")


@dataclass
class Outcome:
    """An agency's counts, indicator values, score and rating for one period."""

    counts: dict[str, int]
    values: dict[str, float | None]
    score: float | None
    rating: str | None


def _sum(condition) -> object:  # noqa: ANN001
    return func.sum(case((condition, 1), else_=0))


def agency_counts(session: Session, *, start: datetime, as_of: datetime
                  ) -> dict[int, dict[str, int]]:
    """Return the indicator counts of every lead agency, keyed by org unit id."""
    level = completion_level_expr(as_of)
    in_period = and_(Task.deadline_at >= start, Task.deadline_at <= as_of)
    overdue = level.in_(OVERDUE_LEVELS)
    counts: dict[int, dict[str, int]] = {}
    task_rows = session.execute(
        select(TaskAgency.org_unit_id, _sum(in_period), _sum(and_(in_period,
                                                                   level == COMPLETED_ON_TIME)),
               _sum(or_(Task.deadline_at <= as_of, overdue)), _sum(overdue))
        .join(Task, Task.id == TaskAgency.task_id).where(TaskAgency.role == "lead")
        .group_by(TaskAgency.org_unit_id))
    for unit_id, due, on_time, assessable, late in task_rows:
        counts[unit_id] = dict.fromkeys(COUNT_NAMES, 0) | {
            "due_in_period": due or 0, "completed_on_time": on_time or 0,
            "assessable": assessable or 0, "overdue": late or 0}
    missed = and_(ExplanationRequest.task_id == TaskDeadline.task_id,
                  ExplanationRequest.deadline_kind == TaskDeadline.kind,
                  ExplanationRequest.deadline_due_at == TaskDeadline.due_at)
    report_rows = session.execute(
        select(TaskAgency.org_unit_id, func.count(TaskDeadline.id),
               func.count(ExplanationRequest.id))
        .join(TaskDeadline, TaskDeadline.task_id == TaskAgency.task_id)
        .outerjoin(ExplanationRequest, missed)
        .where(TaskAgency.role == "lead", TaskDeadline.kind.in_(EXPLANATION_DEADLINE_KINDS),
               TaskDeadline.due_at >= start, TaskDeadline.due_at <= as_of)
        .group_by(TaskAgency.org_unit_id))
    for unit_id, deadlines, requests in report_rows:
        row = counts.setdefault(unit_id, dict.fromkeys(COUNT_NAMES, 0))
        row["reporting_deadlines"], row["reporting_missed"] = deadlines, requests
    return counts


def indicator_values(counts: dict[str, int]) -> dict[str, float | None]:
    """Return each indicator's value in 0..1, or None when it has nothing to count."""
    def share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    not_overdue = share(counts["overdue"], counts["assessable"])
    reports_missed = share(counts["reporting_missed"], counts["reporting_deadlines"])
    return {
        "on_time_completion": share(counts["completed_on_time"], counts["due_in_period"]),
        "not_overdue": None if not_overdue is None else 1 - not_overdue,
        "reports_on_time": None if reports_missed is None else 1 - reports_missed,
    }


def outcome(indicator_set: IndicatorSet, counts: dict[str, int]) -> Outcome:
    """Score the counts with the set's weights and rate the score with its thresholds."""
    values = indicator_values(counts)
    applied = {code: weight for code, weight in indicator_set.weights.items()
               if code in INDICATORS and values[code] is not None}
    total_weight = sum(applied.values())
    if not total_weight:
        return Outcome(counts, values, None, None)
    score = round(100 * sum(weight * values[code] for code, weight in applied.items())  # type: ignore[operator]
                  / total_weight, 2)
    return Outcome(counts, values, score, indicator_set.rating_for(score))
