"""The state of each lead agency of a task that reports through a child node, and the task's own.

A task led jointly by agencies that report through different child nodes
keeps one state per such agency (`LeadAgencyState`). `derive_state` derives
the task's own state from them. The task is completed only when every one of
them has completed, at the latest of their completion instants, and
otherwise in progress as soon as any has started. Each agency's row takes only reports
newer than the one it has, so reports that arrive out of order never move an
agency back.

NOTE: an update approved at this node by its own officers
(`progress.approve_update`) sets the task's state directly and leaves these
rows unchanged, so the next report of a child derives the state again
without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.core.db import utcnow
from node.local_tasks.models import Task
from node.local_tasks.workflow.models import LeadAgencyState, ProgressUpdate

# The function that returns the ids of a task's lead agencies that report
# through child nodes, or None for a task sent to no child node. The
# federation package sets it, because this package does not import that one.
_reporting_leads_reader: Callable[[Session, Task], set[int] | None] | None = None


def set_reporting_leads_reader(reader: Callable[[Session, Task], set[int] | None]) -> None:
    """Set the function behind `reporting_lead_ids`."""
    global _reporting_leads_reader
    _reporting_leads_reader = reader


def reporting_lead_ids(session: Session, task: Task) -> set[int] | None:
    """Return the ids of the task's lead agencies whose state comes from a child node.

    None means that this is not known: no child node links are kept, or the
    task was sent to no child node.
    """
    if _reporting_leads_reader is None:
        return None
    return _reporting_leads_reader(session, task)


# States after which a lead agency does no more work on the task.
FINISHED_STATES = ("completed", "ended_not_completed", "will_not_carry_out")
# States of a lead agency that has carried out at least part of the task.
STARTED_STATES = ("in_progress", "completed", "ended_not_completed")


@dataclass(frozen=True)
class DerivedState:
    """The state of a task as its lead agencies' states give it."""

    reported_state: str
    completed_at: datetime | None
    progress_percent: int | None


def derive_state(states: list[LeadAgencyState | None]) -> DerivedState:
    """Return the task state that the states of its lead agencies give.

    `states` has one entry per lead agency, None for one that has not
    reported yet (not started). The rules, in order:

    - every agency completed: completed, at the latest completion instant;
    - every agency finished, but not all completed: ended without
      completion when any carried out part of it, else will not be carried out;
    - any agency started: in progress;
    - otherwise not started.

    The progress is the mean of the agencies' percentages, rounded down,
    where a completed agency counts 100 and one without a percentage 0;
    it is None when no agency reported a percentage or a completion.
    """
    reported = [state.reported_state if state is not None else "not_started"
                for state in states]
    completed_at = None
    if reported and all(state == "completed" for state in reported):
        result = "completed"
        completed_at = max(state.completed_at for state in states if state is not None)
    elif reported and all(state in FINISHED_STATES for state in reported):
        started = any(state in STARTED_STATES for state in reported)
        result = "ended_not_completed" if started else "will_not_carry_out"
    elif any(state in STARTED_STATES for state in reported):
        result = "in_progress"
    else:
        result = "not_started"

    percents = [100 if state is not None and state.reported_state == "completed"
                else state.progress_percent if state is not None else None
                for state in states]
    known = [percent for percent in percents if percent is not None]
    progress = sum(known) // len(percents) if known else None
    return DerivedState(result, completed_at, progress)


def lead_states(session: Session, task_id: int) -> dict[int, LeadAgencyState]:
    """Return the stored lead agency states of a task, by org unit id."""
    return {state.org_unit_id: state for state in session.scalars(
        select(LeadAgencyState).where(LeadAgencyState.task_id == task_id))}


def is_superseded(states: dict[int, LeadAgencyState], lead_ids: set[int], at: datetime) -> bool:
    """Return whether each of `lead_ids` already has a report newer than `at`."""
    return bool(lead_ids) and all(
        lead_id in states and states[lead_id].reported_at > at for lead_id in lead_ids)


def record_lead_report(session: Session, task: Task, update: ProgressUpdate, *,
                       lead_ids: set[int], reporting_lead_ids: set[int], source_node_id: str,
                       states: dict[int, LeadAgencyState]) -> DerivedState:
    """Apply an approved update to the states of `lead_ids` and derive the task's state.

    `reporting_lead_ids` are every lead agency of the task whose state is
    kept here, including `lead_ids`, and `states` their stored rows
    (`lead_states`), which this function updates and adds to. A lead agency
    whose row has a newer report keeps it. The task gets the derived state,
    and the update's results when it is a regular task.
    """
    now = utcnow()
    for lead_id in sorted(lead_ids):
        state = states.get(lead_id)
        if state is not None and state.reported_at > update.at:
            continue
        if state is None:
            state = LeadAgencyState(task_id=task.id, org_unit_id=lead_id)
            session.add(state)
            states[lead_id] = state
        state.reported_state = update.reported_state
        state.completed_at = update.at if update.reported_state == "completed" else None
        if update.progress_percent is not None:
            state.progress_percent = update.progress_percent
        state.reported_at = update.at
        state.progress_update_id = update.id
        state.source_node_id = source_node_id
        state.updated_at = now

    derived = derive_state([states.get(lead_id)
                            for lead_id in sorted(reporting_lead_ids | lead_ids)])
    task.reported_state = derived.reported_state
    task.completed_at = derived.completed_at
    if derived.progress_percent is not None:
        task.progress_percent = derived.progress_percent
    if update.results is not None and task.confidentiality == "regular":
        task.result_summary = update.results
    # As in `progress.apply_to_task`, the version increases with every report.
    task.updated_at = now
    return derived
