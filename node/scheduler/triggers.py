"""APScheduler triggers built from registry specs, always in Vietnam time."""

from __future__ import annotations

from datetime import datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from node.core.timezone import VN_TZ
from node.scheduler.registry import TriggerSpec

# Interval jobs count from this fixed instant, so every worker and every
# restart computes the same scheduled instants and the (job, instant) key of
# a run is the same wherever it is computed.
INTERVAL_ORIGIN = datetime(2026, 1, 1, tzinfo=VN_TZ)
# How far back a job that never ran looks for a missed run to catch up.
FIRST_RUN_LOOKBACK = timedelta(days=35)
_MAX_STEPS = 100_000


class TriggerSpecError(ValueError):
    """A job's trigger spec is not a valid cron or interval spec."""


def build_trigger(spec: TriggerSpec) -> BaseTrigger:
    """Build the APScheduler trigger of `spec`, in Asia/Ho_Chi_Minh."""
    if len(spec) != 1:
        raise TriggerSpecError(f"trigger {dict(spec)!r}: give exactly one of cron, interval")
    (kind, fields), = spec.items()
    try:
        if kind == "cron":
            return CronTrigger(timezone=VN_TZ, **fields)
        if kind == "interval":
            return IntervalTrigger(timezone=VN_TZ, start_date=INTERVAL_ORIGIN, **fields)
    except (TypeError, ValueError) as exc:
        raise TriggerSpecError(f"trigger {dict(spec)!r}: {exc}") from None
    raise TriggerSpecError(f"trigger {dict(spec)!r}: unknown kind {kind!r}; use cron or interval")


def latest_fire_time(trigger: BaseTrigger, *, now: datetime,
                     after: datetime | None = None) -> datetime | None:
    """Return the last instant at or before `now` the trigger fires at, later than `after`.

    Without `after` the search starts FIRST_RUN_LOOKBACK before `now`.
    Returns None when the trigger does not fire in that span.
    """
    start = after if after is not None else now - FIRST_RUN_LOOKBACK
    if isinstance(trigger, IntervalTrigger):
        step = trigger.interval
        if now < INTERVAL_ORIGIN:
            return None
        latest = INTERVAL_ORIGIN + ((now - INTERVAL_ORIGIN) // step) * step
        return latest if latest > start else None
    latest = None
    fire = trigger.get_next_fire_time(None, start + timedelta(microseconds=1))
    for _ in range(_MAX_STEPS):
        if fire is None or fire > now:
            return latest
        latest = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return latest
