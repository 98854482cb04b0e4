"""Screen names of the codes stored by the domain (levels, roles, states...), translated lazily."""

from __future__ import annotations

from node.core.i18n import _l
from node.local_tasks.completion import (
    COMPLETED_LATE,
    COMPLETED_ON_TIME,
    IMPLEMENTED_NOT_COMPLETED,
    IN_PROGRESS_ON_TIME,
    IN_PROGRESS_OVERDUE,
    NOT_STARTED_ON_TIME,
    NOT_STARTED_OVERDUE,
)

LEVEL_LABELS = {
    COMPLETED_ON_TIME: _l("Completed on time"),
    COMPLETED_LATE: _l("Completed late"),
    IN_PROGRESS_ON_TIME: _l("In progress, on time"),
    IN_PROGRESS_OVERDUE: _l("In progress, overdue"),
    IMPLEMENTED_NOT_COMPLETED: _l("Implemented but not completed"),
    NOT_STARTED_ON_TIME: _l("Not started, on time"),
    NOT_STARTED_OVERDUE: _l("Not started, overdue"),
}

ROLE_LABELS = {
    "lead": _l("Lead agency"),
    "coordinating": _l("Coordinating agency"),
    "monitoring": _l("Monitoring agency"),
}

CONFIDENTIALITY_LABELS = {
    "regular": _l("Regular"),
    "confidential": _l("Confidential"),
    "top_secret": _l("Top secret"),
}

REPORTED_STATE_LABELS = {
    "not_started": _l("Not started"),
    "in_progress": _l("In progress"),
    "completed": _l("Completed"),
    "ended_not_completed": _l("Ended without completion"),
    "will_not_carry_out": _l("Will not be carried out"),
}

DEADLINE_KIND_LABELS = {
    "transfer": _l("Transfer deadline"),
    "receipt": _l("Receipt confirmation deadline"),
    "objection": _l("Feedback or objection deadline"),
    "feedback": _l("Feedback processing deadline"),
    "result_report": _l("Result report deadline"),
    "checkpoint_half": _l("Mid-term report checkpoint"),
    "checkpoint_three_quarters": _l("Three-quarter-time report checkpoint"),
}

PRECISION_LABELS = {
    "instant": _l("exact time"),
    "day": _l("day"),
    "month": _l("end of month"),
    "quarter": _l("end of quarter"),
    "half_year": _l("end of half-year"),
    "year": _l("end of year"),
    "range": _l("end of period"),
    "none": _l("no deadline"),
}

EVENT_LABELS = {
    "created": _l("Task created"),
    "task.transfer": _l("Task transferred"),
    "task.receipt": _l("Receipt confirmed"),
    "task.objection": _l("Feedback or objection sent"),
    "task.objection_decision": _l("Objection decided"),
    "task.progress_submit": _l("Progress report sent for approval"),
    "task.progress_approve": _l("Progress report approved"),
    "task.progress_return": _l("Progress report returned for revision"),
    "task.explanation_request": _l("Explanation requested"),
    "task.explanation_answer": _l("Explanation given"),
    "task.edit": _l("Task details changed"),
    "task.evaluation": _l("Task evaluated"),
    "task.attachment": _l("File attached to a progress report"),
    "task.classify": _l("Task classified"),
    "task.group_resolve": _l("Group of agencies identified"),
    "inspection.finding": _l("Inspection finding recorded"),
    "inspection.finding_close": _l("Inspection finding closed"),
}

# Outcomes recorded with the workflow's task events (TaskEvent.detail["outcome"]).
EVENT_OUTCOME_LABELS = {
    "transferred": _l("Transferred"),
    "on_time": _l("On time"),
    "late": _l("Late"),
    "deadline_unknown": _l("Deadline not yet computed"),
    "open": _l("Waiting"),
    "accepted": _l("Accepted"),
    "rejected": _l("Not accepted"),
    "submitted": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "returned": _l("Returned for revision"),
    "answered": _l("Answered"),
    "changed": _l("Changed"),
    "stored": _l("Stored"),
    "resolved": _l("Identified"),
    "closed": _l("Closed"),
}

OBJECTION_KIND_LABELS = {
    "wrong_task": _l("The task was assigned wrongly"),
    "outside_competence": _l("Outside the agency's functions and powers"),
    "other": _l("Other"),
}

EVALUATION_RATING_LABELS = {
    "excellent": _l("Completed excellently"),
    "completed": _l("Completed"),
    "not_fully_completed": _l("Not fully completed"),
    "not_completed": _l("Not completed"),
}

FINDING_KIND_LABELS = {
    "delay_sign": _l("Signs of delay"),
    "data_error": _l("Wrong or missing data"),
    "process_violation": _l("Breach of the procedure"),
    "other": _l("Other"),
}

FINDING_STATUS_LABELS = {
    "open": _l("Being handled"),
    "closed": _l("Closed"),
}

UPDATE_STATUS_LABELS = {
    "submitted": _l("Waiting for approval"),
    "approved": _l("Approved"),
    "returned": _l("Returned for revision"),
}

ORG_UNIT_KIND_LABELS = {
    "central_committee": _l("Central Committee"),
    "leadership_body": _l("Leadership body"),
    "central_party_agency": _l("Central party agency"),
    "central_party_council": _l("Central party council"),
    "central_party_press": _l("Central party press"),
    "party_committee_directly_under_CC": _l("Party committee directly under the Central Committee"),
    "provincial_party_committee": _l("Provincial party committee"),
    "commune_party_committee": _l("Commune or ward party committee"),
    "party_body": _l("Party body"),
    "party_committee": _l("Party committee"),
    "imported": _l("Created by import"),
}

ORG_UNIT_STATUS_LABELS = {
    "active": _l("Active"),
    "historical": _l("Former name"),
    "dissolved": _l("Dissolved"),
}


def label(labels: dict, code: str | None) -> str:
    """Return the translated name of `code`, or the code itself when it has none."""
    if code is None:
        return ""
    return str(labels.get(code, code))


def event_outcome(kind: str, outcome: str | None) -> str:
    """Return the translated outcome of a task event; a late receipt has its own name."""
    if kind == "task.receipt" and outcome == "late":
        return str(_l("Late receipt"))
    if kind == "task.evaluation":
        return label(EVALUATION_RATING_LABELS, outcome)
    return label(EVENT_OUTCOME_LABELS, outcome)


# Keys of TaskEvent.detail that carry the text of a step, in display order.
EVENT_CONTENT_LABELS = {
    "reason": _l("Reason"),
    "decision_reason": _l("Reason"),
    "reassigned_to": _l("Task reassigned to"),
    "comment": _l("Approver's comment"),
    "milestone": _l("Milestone reached"),
    "results": _l("Results and products"),
}


def event_content(detail: dict | None) -> list[tuple[str, str]]:
    """Return the translated label and text of each content entry of an event's detail."""
    detail = detail or {}
    return [(str(name), str(detail[key])) for key, name in EVENT_CONTENT_LABELS.items()
            if detail.get(key)]
