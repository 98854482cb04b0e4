"""Database side of the scheduler: the runner lease and the once-only record of runs.

Two guards keep a job from running twice. The lease elects one runner among
all the processes that share the database; the unique (job_id,
scheduled_for) row of `scheduler_job_runs`, inserted and committed before
the job starts, stops a second run of the same scheduled instant even when
two runners overlap (a lease that expired while its holder still worked).
Both are plain INSERT/UPDATE statements, so they work on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from node.core.db import unit_of_work
from node.scheduler.models import SchedulerJobRun, SchedulerJobState, SchedulerLease

logger = logging.getLogger(__name__)

RUNNER_LEASE = "runner"


def acquire_lease(factory: sessionmaker[Session], *, holder: str, now: datetime,
                  duration: timedelta, name: str = RUNNER_LEASE) -> bool:
    """Take or renew the lease `name` for `holder`; return whether `holder` now holds it."""
    with unit_of_work(factory) as session:
        result = session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name,
                   or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now))
            .values(holder=holder, expires_at=now + duration)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            return True
        if session.get(SchedulerLease, name) is not None:
            return False
    try:
        with unit_of_work(factory) as session:
            session.add(SchedulerLease(name=name, holder=holder, acquired_at=now,
                                       expires_at=now + duration))
    except IntegrityError:
        # Another process inserted the first lease row at the same moment.
        return False
    return True


def release_lease(factory: sessionmaker[Session], *, holder: str,
                  name: str = RUNNER_LEASE) -> None:
    """Give up the lease if `holder` holds it, so another runner can take over at once."""
    with unit_of_work(factory) as session:
        session.execute(
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.holder == holder)
            .values(expires_at=datetime(2000, 1, 1, tzinfo=UTC))
            .execution_options(synchronize_session=False)
        )


def lease_holder(session: Session, *, now: datetime, name: str = RUNNER_LEASE) -> str | None:
    """Return the owner of the lease at `now`, or None when the lease is free or expired."""
    lease = session.get(SchedulerLease, name)
    if lease is None or lease.expires_at < now:
        return None
    return lease.holder


def claim_run(factory: sessionmaker[Session], *, job_id: str, scheduled_for: datetime,
              reason: str, runner: str, now: datetime) -> int | None:
    """Record the start of a run; return its id, or None when this instant already ran."""
    try:
        with unit_of_work(factory) as session:
            run = SchedulerJobRun(job_id=job_id, scheduled_for=scheduled_for, reason=reason,
                                  runner=runner, status="running", started_at=now)
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        return None


def finish_run(factory: sessionmaker[Session], run_id: int, *, now: datetime,
               error: str | None) -> None:
    """Record how run `run_id` ended and, for scheduled runs, the job's last instant."""
    with unit_of_work(factory) as session:
        run = session.get(SchedulerJobRun, run_id)
        run.status = "failed" if error else "succeeded"
        run.finished_at = now
        run.error = error
        if run.reason == "manual":
            return
        state = session.get(SchedulerJobState, run.job_id)
        if state is None:
            state = SchedulerJobState(job_id=run.job_id, last_scheduled_for=run.scheduled_for)
            session.add(state)
        elif state.last_scheduled_for > run.scheduled_for:
            return
        state.last_scheduled_for = run.scheduled_for
        state.last_status = run.status
        state.last_finished_at = now


def job_states(session: Session) -> dict[str, SchedulerJobState]:
    """Return the last recorded run of every job that has run, by job id."""
    return {state.job_id: state for state in session.scalars(select(SchedulerJobState))}


def last_scheduled_for(factory: sessionmaker[Session], job_id: str) -> datetime | None:
    """Return the latest scheduled instant `job_id` was started for (manual runs aside).

    A run that started but never finished, because its process died, counts
    too: running that instant again could repeat work that was half done.
    """
    with factory() as session:
        return session.scalar(
            select(func.max(SchedulerJobRun.scheduled_for))
            .where(SchedulerJobRun.job_id == job_id, SchedulerJobRun.reason != "manual")
        )
