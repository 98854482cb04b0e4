"""The node's periodic jobs: the one list that other packages add their entries to.

Each entry names a function by dotted path ("package.module:function"), so
that this package imports no domain code. The function takes either the
Flask app (`def job(app)`) or a session factory and the settings
(`def job(session_factory, settings)`); it opens its own sessions and
commits them. A trigger is `{"cron": {...}}` or `{"interval": {...}}` with
APScheduler 3 fields, or a function of the settings returning one. The
scheduler adds the time zone, always Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from node.core.settings import Settings

TriggerSpec = Mapping[str, Mapping[str, Any]]

# How often pending warning e-mails and webhook retries are sent.
DELIVERY_INTERVAL_MINUTES = 1
# How often the scheduler pushes and pulls the exchange messages. Each serving
# process also runs a background sender every federation.sync_interval_seconds.
# This job is the backstop that runs on one process, even when that is 0 (off).
FEDERATION_CATCH_UP_MINUTES = 5


@dataclass(frozen=True)
class JobSpec:
    """One periodic job: a stable id, the function to call and when to call it."""

    job_id: str
    target: str
    trigger: TriggerSpec | Callable[[Settings], TriggerSpec]
    description: str = ""

    def trigger_for(self, settings: Settings) -> TriggerSpec:
        """Return the trigger spec, resolved against `settings` when it depends on them."""
        return self.trigger(settings) if callable(self.trigger) else self.trigger


def _daily_warnings_trigger(settings: Settings) -> TriggerSpec:
    hour, minute = settings.warnings_run_at.hour, settings.warnings_run_at.minute
    return {"cron": {"hour": hour, "minute": minute, "second": settings.warnings_run_at.second}}


JOBS: list[JobSpec] = [
    JobSpec(
        job_id="workflow.open_explanations",
        target="node.local_tasks.workflow.jobs:open_explanations",
        # Before the daily warnings, which report the requests it opens.
        trigger={"cron": {"hour": 6, "minute": 0}},
        description="Open explanation requests for missed checkpoints and result reports",
    ),
    JobSpec(
        job_id="notifications.daily_warnings",
        target="node.notifications.jobs:raise_daily_warnings",
        trigger=_daily_warnings_trigger,
        description="Raise the day's deadline warnings and send them (Điều 18.1.d)",
    ),
    JobSpec(
        job_id="dashboard.start_day",
        target="node.dashboard.jobs:start_day",
        # Just after midnight in Vietnam, when the counters' horizon moves.
        trigger={"cron": {"hour": 0, "minute": 5}},
        description="Move the dashboard counters to the new day and store the day's counts",
    ),
    JobSpec(
        job_id="reports.produce_due",
        target="node.reports.jobs:produce_reports",
        # Early each day, so a report whose period ended yesterday, or whose
        # summary falls due today (Điều 16.2), is waiting as a draft at 08:00.
        trigger={"cron": {"hour": 5, "minute": 30}},
        description="Produce the periodic reports that fell due, as drafts (Điều 15.1, 16.2)",
    ),
    JobSpec(
        job_id="evaluation.evaluate_ended_periods",
        target="node.evaluation.jobs:evaluate",
        # After the reports: the scores of the ended quarter, half-year and year,
        # and explanation requests for two low ratings in a row.
        trigger={"cron": {"hour": 5, "minute": 45}},
        description="Evaluate ended periods and follow up low ratings (Điều 17.1, 17.3.b)",
    ),
    JobSpec(
        job_id="notifications.deliver",
        target="node.notifications.jobs:deliver_pending",
        trigger={"interval": {"minutes": DELIVERY_INTERVAL_MINUTES}},
        description="Send pending warning e-mails and retry failed webhook deliveries",
    ),
    JobSpec(
        job_id="federation.push_aggregates",
        target="node.federation.jobs:push_aggregates",
        # Each morning; the central node has no parent and queues nothing.
        trigger={"cron": {"hour": 6, "minute": 30}},
        description="Queue the aggregate reports of the periods in progress for the parent",
    ),
    JobSpec(
        job_id="federation.catch_up",
        target="node.federation.delivery:catch_up",
        trigger={"interval": {"minutes": FEDERATION_CATCH_UP_MINUTES}},
        description="Push the queued exchange messages and pull from the parent node",
    ),
]


def find_job(job_id: str, jobs: list[JobSpec] | None = None) -> JobSpec:
    """Return the job named `job_id`; raise KeyError listing the known ids otherwise."""
    for spec in JOBS if jobs is None else jobs:
        if spec.job_id == job_id:
            return spec
    known = ", ".join(spec.job_id for spec in (JOBS if jobs is None else jobs))
    raise KeyError(f"unknown job {job_id!r}; known jobs: {known}")
