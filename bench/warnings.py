"""Time the daily warning job on a generated database, beside a plain SELECT of the due tasks.

    python bench/warnings.py --url URL [--at 2026-12-01T06:15:00+07:00] [--repeat 3]

The database comes from `generate.py`. The script first adds, once, the
people the warnings go to: an updater with an e-mail address at each
provincial party committee, three officers of the office, a monitoring
officer at the Central Inspection Commission, and one webhook. Then, for
each repetition, inside one transaction that is rolled back afterwards:

1. baseline: a plain SELECT count(*) of the open tasks whose deadline is
   before the end of the due-soon window (the rows the job reads);
2. the job's database work for the day of --at: `raise_warnings`,
   `address_notifications` and `queue_webhook_deliveries`;
3. the same work again on the same day, which must add nothing.

Sending the e-mails and the webhook requests is not timed. The result is a
Markdown table of the median seconds and the row counts. A first run over
BUDGET_SECONDS ends the script with exit status 1.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from generate import AS_OF
from node.auth.models import User
from node.auth.service import create_user, grant_role
from node.core.db import make_engine
from node.core.logging import configure_logging
from node.core.settings import Settings
from node.core.timezone import VN_TZ
from node.local_tasks.calendar import load_calendar
from node.local_tasks.models import OrgUnit, Task
from node.local_tasks.timeparse import parse_instant
from node.notifications.models import Webhook
from node.notifications.service import (
    OPEN_STATES,
    address_notifications,
    queue_webhook_deliveries,
    raise_warnings,
)

logger = logging.getLogger("bench.warnings")

BUDGET_SECONDS = 60.0
PASSWORD = "bench-password-not-secret"


def add_people(session: Session) -> int:
    """Create the benchmark's accounts and webhook unless they exist; return the people."""
    if session.scalar(select(func.count()).select_from(User)
                      .where(User.username.like("bench.%"))):
        return session.scalar(select(func.count()).select_from(User)
                              .where(User.username.like("bench.%")))
    provinces = session.scalars(select(OrgUnit).where(
        OrgUnit.kind == "provincial_party_committee").order_by(OrgUnit.code)).all()
    grants = [(f"bench.updater.{unit.code.lower()}", "updater", unit) for unit in provinces]
    office = session.scalar(select(OrgUnit).where(OrgUnit.code == "VPTW"))
    inspection = session.scalar(select(OrgUnit).where(OrgUnit.code == "UBKTTW"))
    grants += [(f"bench.officer.{number}", "central_officer", office) for number in (1, 2, 3)]
    grants.append(("bench.monitoring", "monitoring_officer", inspection))
    for username, role, unit in grants:
        user = create_user(session, username=username, full_name=username, password=PASSWORD)
        user.email = f"{username}@bench.test"
        grant_role(session, user, role, unit)
    session.add(Webhook(name="bench", url="http://127.0.0.1:9/bench", secret="bench"))
    session.commit()
    return len(grants)


def due_tasks_baseline(session: Session, window_end: datetime) -> int:
    """Count the open tasks with a deadline before `window_end`: the rows the job reads."""
    return session.scalar(select(func.count()).select_from(Task).where(
        Task.reported_state.in_(OPEN_STATES), Task.deadline_at < window_end))


def run_job(session: Session, *, at: datetime, calendar, settings: Settings) -> dict:  # noqa: ANN001
    counts = raise_warnings(session, at=at, calendar=calendar, settings=settings)
    counts["notifications"] = address_notifications(session, at=at)
    counts["webhook_deliveries"] = queue_webhook_deliveries(session, at=at)
    return counts


def timed(function):  # noqa: ANN001, ANN201
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def measure(engine, at: datetime, settings: Settings) -> dict:  # noqa: ANN001
    calendar = load_calendar(settings)
    day = at.astimezone(VN_TZ).date()
    lead = max(settings.warnings_due_soon_working_days)
    window_end = datetime.combine(calendar.add_working_days(day, lead) + timedelta(days=1),
                                  datetime.min.time(), tzinfo=VN_TZ)
    with Session(engine) as session:
        baseline_seconds, due = timed(lambda: due_tasks_baseline(session, window_end))
        first_seconds, first = timed(lambda: run_job(session, at=at, calendar=calendar,
                                                     settings=settings))
        again_seconds, again = timed(lambda: run_job(session, at=at + timedelta(hours=1),
                                                     calendar=calendar, settings=settings))
        session.rollback()
    logger.info("repetition done", extra={"baseline_s": round(baseline_seconds, 2),
                                          "job_s": round(first_seconds, 2),
                                          "again_s": round(again_seconds, 2)})
    return {"baseline": baseline_seconds, "first": first_seconds, "again": again_seconds,
            "due": due, "counts": first, "again_counts": again}


def markdown(results: list[dict], engine, at: datetime) -> str:  # noqa: ANN001
    first = results[0]
    counts = first["counts"]
    lines = [
        f"Database: {engine.dialect.name}, day of {at.isoformat()}, "
        f"{len(results)} repetitions (median seconds).",
        "",
        "| step | seconds | rows |",
        "| --- | ---: | ---: |",
        f"| baseline: SELECT count(*) of the due tasks | "
        f"{statistics.median(r['baseline'] for r in results):.2f} | {first['due']:,} |",
        f"| daily warning job (warnings, notifications, webhook queue) | "
        f"{statistics.median(r['first'] for r in results):.2f} | "
        f"{sum(v for k, v in counts.items() if k not in ('notifications', 'webhook_deliveries')):,}"
        f" warnings, {counts['notifications']:,} notifications |",
        f"| the same job again that day (adds nothing) | "
        f"{statistics.median(r['again'] for r in results):.2f} | "
        f"{sum(first['again_counts'].values()):,} |",
        "",
        "Warnings by kind: " + ", ".join(f"{kind} {count:,}" for kind, count in counts.items()),
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True,
                        help="database URL of a database filled by generate.py")
    parser.add_argument("--at", default=(AS_OF + timedelta(hours=6, minutes=15)).isoformat(),
                        help="instant of the run, ISO 8601 (default: 06:15 on the day "
                             "generate.py's states are for)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="number of repetitions, each rolled back (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    try:
        args.at = parse_instant(args.at)
    except ValueError as exc:
        parser.error(f"--at {args.at!r}: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("INFO")
    engine = make_engine(args.url)
    settings = Settings()
    with Session(engine) as session:
        tasks = session.scalar(select(func.count()).select_from(Task))
        people = add_people(session)
    logger.info("benchmark started", extra={"tasks": tasks, "people": people,
                                            "at": args.at.isoformat()})
    results = [measure(engine, args.at, settings) for _ in range(args.repeat)]
    print(f"{tasks:,} tasks, {people} people with a role.\n")
    print(markdown(results, engine, args.at))
    engine.dispose()
    if results[0]["first"] > BUDGET_SECONDS:
        print(f"\nThe first run took {results[0]['first']:.1f} s, over the "
              f"{BUDGET_SECONDS:.0f} s budget.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
