"""The runner: APScheduler in the app process, running jobs only while it holds the lease.

Every process that serves the node (each gunicorn worker, on each host)
starts a runner. Each runner tries every RENEW_SECONDS to take or renew the
lease row; the one that holds it starts an APScheduler BackgroundScheduler
with the registry's jobs, the others wait. When the holder dies its lease
expires after LEASE_SECONDS and another runner takes over. On taking the
lease a runner first catches up, once, the latest scheduled instant of each
job that no runner started (the node was down at that time).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from node.core.db import utcnow
from node.core.timezone import VN_TZ
from node.scheduler import service
from node.scheduler.registry import JOBS, JobSpec, find_job
from node.scheduler.triggers import build_trigger, latest_fire_time

logger = logging.getLogger(__name__)

LEASE_SECONDS = 30
RENEW_SECONDS = 10.0
# A job whose scheduled instant passed less than this long ago while the
# runner was busy still runs (APScheduler's misfire grace time).
MISFIRE_GRACE_SECONDS = 600


def resolve_target(target: str) -> Callable:
    """Import the job function named "package.module:function"."""
    module_name, _, attribute = target.partition(":")
    if not attribute:
        raise ValueError(f"job target {target!r}: write it as package.module:function")
    return getattr(importlib.import_module(module_name), attribute)


def _required_positional(function: Callable) -> list[str]:
    """Name the parameters a caller must pass by position (keyword-only options aside)."""
    return [parameter.name for parameter in inspect.signature(function).parameters.values()
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
            and parameter.default is parameter.empty]


def check_target(target: str) -> None:
    """Raise ValueError unless `target` is a function taking (app) or (session_factory, settings)."""
    required = _required_positional(resolve_target(target))
    if len(required) not in (1, 2):
        raise ValueError(f"job target {target!r} takes {required}; a job takes (app) or "
                         "(session_factory, settings)")


def call_job(app: Flask, target: str) -> object:
    """Call the job function with the app, or with a session factory and the settings."""
    function = resolve_target(target)
    if len(_required_positional(function)) == 1:
        return function(app)
    return function(app.extensions["theodoi_sessions"], app.config["THEODOI_SETTINGS"])


def _runner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SchedulerRunner:
    """One process's runner; `tick` is one round of lease renewal and catch-up."""

    def __init__(self, app: Flask, *, jobs: list[JobSpec] | None = None,
                 clock: Callable[[], datetime] = utcnow, name: str | None = None,
                 lease_seconds: int = LEASE_SECONDS, renew_seconds: float = RENEW_SECONDS) -> None:
        self.app = app
        self.settings = app.config["THEODOI_SETTINGS"]
        self.factory = app.extensions["theodoi_sessions"]
        self.jobs = list(JOBS if jobs is None else jobs)
        self.triggers = {spec.job_id: build_trigger(spec.trigger_for(self.settings))
                         for spec in self.jobs}
        self.clock = clock
        self.name = name or _runner_name()
        self.lease_duration = timedelta(seconds=lease_seconds)
        self.renew_seconds = renew_seconds
        self._scheduler: BackgroundScheduler | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_running_jobs(self) -> bool:
        """Whether this runner holds the lease and its APScheduler is running."""
        return self._scheduler is not None

    def start(self) -> None:
        """Start the lease loop in a daemon thread."""
        self._thread = threading.Thread(target=self._lease_loop, name="theodoi-scheduler",
                                        daemon=True)
        self._thread.start()
        logger.info("scheduler runner started", extra={"runner": self.name})

    def stop(self) -> None:
        """Stop the jobs and the lease loop and hand the lease back."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self.renew_seconds + 5)
        self._stop_scheduler()
        try:
            service.release_lease(self.factory, holder=self.name)
        except SQLAlchemyError as exc:
            logger.warning("scheduler lease not released", extra={"runner": self.name,
                                                                  "error": str(exc)})
        logger.info("scheduler runner stopped", extra={"runner": self.name})

    def _lease_loop(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            self._stopping.wait(self.renew_seconds)

    def tick(self) -> None:
        """Renew or take the lease; start the jobs on winning it, stop them on losing it."""
        try:
            held = service.acquire_lease(self.factory, holder=self.name, now=self.clock(),
                                         duration=self.lease_duration)
        except SQLAlchemyError as exc:
            logger.warning("scheduler lease check failed", extra={"runner": self.name,
                                                                  "error": str(exc)})
            held = False
        if held and self._scheduler is None and not self._stopping.is_set():
            logger.info("scheduler lease taken", extra={"runner": self.name})
            self._start_scheduler()
        elif not held and self._scheduler is not None:
            logger.warning("scheduler lease lost", extra={"runner": self.name})
            self._stop_scheduler()

    def _start_scheduler(self) -> None:
        scheduler = BackgroundScheduler(
            timezone=VN_TZ,
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        )
        for spec in self.jobs:
            scheduler.add_job(self.run_scheduled, trigger=self.triggers[spec.job_id],
                              args=[spec.job_id], id=spec.job_id, name=spec.job_id)
        scheduler.start()
        self._scheduler = scheduler
        for job_id, scheduled_for in self.missed_runs():
            # Without a trigger APScheduler runs the job once, at once.
            scheduler.add_job(self.run, args=[job_id, scheduled_for, "catch_up"],
                              id=f"{job_id}:catch_up", name=f"{job_id} (catch-up)")

    def _stop_scheduler(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)

    def missed_runs(self) -> list[tuple[str, datetime]]:
        """List each job's latest scheduled instant, up to now, that no runner started."""
        now = self.clock()
        missed = []
        for spec in self.jobs:
            last = service.last_scheduled_for(self.factory, spec.job_id)
            latest = latest_fire_time(self.triggers[spec.job_id], now=now, after=last)
            if latest is not None:
                missed.append((spec.job_id, latest))
        return missed

    def catch_up(self) -> dict[str, str]:
        """Run every missed job once now, in this thread; return each outcome by job id."""
        return {job_id: self.run(job_id, scheduled_for, "catch_up")
                for job_id, scheduled_for in self.missed_runs()}

    def run_scheduled(self, job_id: str) -> str:
        """Run `job_id` for its scheduled instant that has just come."""
        now = self.clock()
        scheduled_for = latest_fire_time(self.triggers[job_id], now=now) or now
        return self.run(job_id, scheduled_for, "schedule")

    def run(self, job_id: str, scheduled_for: datetime, reason: str) -> str:
        """Run `job_id` for `scheduled_for` unless a run of that instant exists.

        Returns "skipped", "succeeded" or "failed". A failing job is logged
        and recorded; it never stops the scheduler.
        """
        spec = find_job(job_id, self.jobs)
        log_ids = {"job_id": job_id, "scheduled_for": scheduled_for.isoformat(),
                   "reason": reason, "runner": self.name}
        run_id = service.claim_run(self.factory, job_id=job_id, scheduled_for=scheduled_for,
                                   reason=reason, runner=self.name, now=self.clock())
        if run_id is None:
            logger.info("job run skipped: this instant already ran", extra=log_ids)
            return "skipped"
        logger.info("job started", extra={**log_ids, "run_id": run_id})
        error = None
        try:
            call_job(self.app, spec.target)
        except Exception:  # noqa: BLE001 - a failing job is recorded, the runner goes on
            error = traceback.format_exc(limit=20)
            logger.exception("job failed", extra={**log_ids, "run_id": run_id})
        service.finish_run(self.factory, run_id, now=self.clock(), error=error)
        status = "failed" if error else "succeeded"
        logger.info("job finished", extra={**log_ids, "run_id": run_id, "status": status})
        return status


def run_once(app: Flask, job_id: str, *, clock: Callable[[], datetime] = utcnow) -> str:
    """Run `job_id` now, by hand, whatever the lease; return its outcome."""
    runner = SchedulerRunner(app, clock=clock, name=f"manual:{_runner_name()}")
    find_job(job_id, runner.jobs)
    return runner.run(job_id, clock(), "manual")


def start_scheduler(app: Flask) -> SchedulerRunner | None:
    """Start this process's runner when the settings allow it; keep it on the app."""
    if not app.config["THEODOI_SETTINGS"].scheduler_enabled:
        logger.info("scheduler disabled by the settings")
        return None
    runner = SchedulerRunner(app)
    runner.start()
    app.extensions["theodoi_scheduler"] = runner
    return runner


def stop_scheduler(app: Flask) -> None:
    """Stop the runner started by `start_scheduler`, if any."""
    runner = app.extensions.pop("theodoi_scheduler", None)
    if runner is not None:
        runner.stop()
