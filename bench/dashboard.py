"""Time the dashboard queries of the service against hand-written SQL on one database.

    python bench/dashboard.py --url URL [--repeat 20]

Each measurement runs a service function of `node.local_tasks.queries` and a
plain SQL baseline that returns the same rows, alternately, in the same run.
Before timing, the script checks that both return the same counts and rows;
a mismatch ends it with exit status 1. The result is a Markdown table of the
median and 95th percentile in milliseconds and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from generate import AS_OF
from node.core.db import UTCDateTime, make_engine
from node.core.logging import configure_logging
from node.core.text import fold
from node.local_tasks.completion import LEVELS, OVERDUE_LEVELS
from node.local_tasks.models import Task, TaskAgency
from node.local_tasks.queries import TaskFilter, count_by_agency, count_by_level, list_tasks
from node.local_tasks.timeparse import parse_instant

logger = logging.getLogger("bench.dashboard")

PAGE_SIZE = 50
# Service counts may take at most this multiple of the plain SQL time.
COUNT_RATIO_TARGET = 1.5
LIST_TARGET_MS = 100.0
# A phrase of the generated task contents that matches about a fifth of them.
FILTER_TEXT = "kế hoạch"
# A rarer phrase for the text-only search, as a user would type it.
SEARCH_TEXT = "chuyển đổi số"

# The completion level written by hand. It must agree with completion_level_expr.
LEVEL_CASE = """CASE
  WHEN t.reported_state = 'completed' AND t.completed_at IS NOT NULL AND t.completed_at <= :at
       AND (t.deadline_at IS NULL OR t.completed_at <= t.deadline_at) THEN 'completed_on_time'
  WHEN t.reported_state = 'completed' AND t.completed_at IS NOT NULL AND t.completed_at <= :at
       THEN 'completed_late'
  WHEN t.reported_state = 'ended_not_completed' THEN 'implemented_not_completed'
  WHEN t.reported_state = 'will_not_carry_out' THEN 'not_started_overdue'
  WHEN t.reported_state IN ('in_progress', 'completed') AND t.deadline_at IS NOT NULL
       AND t.deadline_at < :at THEN 'in_progress_overdue'
  WHEN t.reported_state IN ('in_progress', 'completed') THEN 'in_progress_on_time'
  WHEN t.deadline_at IS NOT NULL AND t.deadline_at < :at THEN 'not_started_overdue'
  ELSE 'not_started_on_time'
END"""

TASK_COLUMNS = ", ".join(f"t.{column.name}" for column in Task.__table__.columns)


class MismatchError(Exception):
    """The service and the plain SQL returned different results."""


@dataclass
class Measurement:
    """One service call and its baseline, with how to compare their results."""

    name: str
    service: Callable[[], object]
    baseline: Callable[[], object]
    # Target of the row: "ratio" for counts, "absolute" for list pages.
    target: str
    note: str = ""
    # For a page: the plain COUNT that the service's total must equal.
    plain_total: Callable[[], int] | None = None


@dataclass
class Timing:
    name: str
    service_ms: list[float]
    baseline_ms: list[float]
    target: str
    note: str


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `samples`."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


class Bench:
    """The database, the instant `at` and the plain SQL runner shared by the measurements."""

    def __init__(self, engine: Engine, at: datetime):
        self.engine = engine
        self.at = at
        self.at_param = bindparam("at", value=at, type_=UTCDateTime())

    def plain(self, sql: str, **params: object) -> list:
        statement = text(sql)
        if ":at" in sql:
            statement = statement.bindparams(self.at_param)
        with self.engine.connect() as connection:
            return connection.execute(statement, params).all()

    def session(self) -> Session:
        return Session(self.engine)

    # Counts by level --------------------------------------------------------

    def service_levels(self) -> dict[str, int]:
        with self.session() as session:
            return count_by_level(session, at=self.at)

    def plain_levels(self) -> dict[str, int]:
        rows = self.plain(f"SELECT {LEVEL_CASE} AS level, count(*) FROM tasks t GROUP BY 1")
        counts = dict.fromkeys(LEVELS, 0)
        counts.update({level: count for level, count in rows})
        return counts

    # Counts by agency -------------------------------------------------------

    def service_agencies(self) -> dict[tuple[int, str], int]:
        with self.session() as session:
            result = count_by_agency(session, at=self.at, role="lead")
        return {(entry["org_unit"].id, level): count for entry in result
                for level, count in entry["counts"].items() if count}

    def plain_agencies(self) -> dict[tuple[int, str], int]:
        rows = self.plain(
            f"SELECT a.org_unit_id, {LEVEL_CASE} AS level, count(*) "
            "FROM task_agencies a JOIN tasks t ON t.id = a.task_id "
            "WHERE a.role = 'lead' GROUP BY 1, 2")
        return {(unit_id, level): count for unit_id, level, count in rows}

    # List pages -------------------------------------------------------------

    def service_page(self, filters: TaskFilter, page: int) -> tuple[int, list]:
        with self.session() as session:
            result = list_tasks(session, filters, at=self.at, page=page, page_size=PAGE_SIZE)
            return ((result.total, result.total_exact),
                    [(task.id, level) for task, level in result.items])

    @staticmethod
    def _where(filters: TaskFilter) -> tuple[str, dict]:
        """Build the WHERE clause of the filters the measurements use, by hand."""
        conditions: list[str] = []
        params: dict[str, object] = {}
        if filters.levels:
            names = ", ".join(f"'{level}'" for level in filters.levels)
            conditions.append(f"{LEVEL_CASE} IN ({names})")
        if filters.agency_id is not None:
            conditions.append("EXISTS (SELECT 1 FROM task_agencies a WHERE a.task_id = t.id "
                              "AND a.org_unit_id = :agency_id)")
            params["agency_id"] = filters.agency_id
        if filters.text:
            # The service matches the folded phrase as a whole. The phrases used
            # here contain no LIKE wildcards, so none are escaped.
            conditions.append("t.search_text LIKE :phrase")
            params["phrase"] = f"%{fold(filters.text)}%"
        where = " AND ".join(conditions) if conditions else "1 = 1"
        return where, params

    def plain_page(self, filters: TaskFilter, page: int) -> list:
        where, params = self._where(filters)
        rows = self.plain(
            f"SELECT {TASK_COLUMNS}, {LEVEL_CASE} AS level "
            "FROM tasks t JOIN documents d ON d.id = t.document_id "
            f"WHERE {where} "
            "ORDER BY d.issued_on DESC NULLS LAST, d.id, t.position "
            "LIMIT :limit OFFSET :offset",
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **params)
        return [(row.id, row.level) for row in rows]

    def plain_total(self, filters: TaskFilter) -> int:
        where, params = self._where(filters)
        return self.plain(f"SELECT count(*) FROM tasks t WHERE {where}", **params)[0][0]


def busiest_agency(engine: Engine) -> tuple[int, str, int]:
    """Return the id, name and task-role count of the org unit named on the most tasks."""
    with Session(engine) as session:
        unit_id, count = session.execute(
            select(TaskAgency.org_unit_id, func.count())
            .group_by(TaskAgency.org_unit_id).order_by(func.count().desc(), TaskAgency.org_unit_id)
            .limit(1)).one()
        name = session.scalar(text("SELECT name FROM org_units WHERE id = :id"), {"id": unit_id})
    return unit_id, name, count


def build_measurements(bench: Bench) -> list[Measurement]:
    """Check each service result against its baseline and return the measurements."""
    agency_id, agency_name, agency_rows = busiest_agency(bench.engine)
    filtered = TaskFilter(levels=list(OVERDUE_LEVELS), agency_id=agency_id, text=FILTER_TEXT)
    search = TaskFilter(text=SEARCH_TEXT)
    everything = TaskFilter()

    filtered_total = bench.plain_total(filtered)
    last_page = max(1, math.ceil(filtered_total / PAGE_SIZE))
    filter_note = (f"overdue levels, agency {agency_id} ({agency_name}, {agency_rows} task "
                   f"roles), text '{FILTER_TEXT}': {filtered_total} tasks")
    measurements = [
        Measurement("count_by_level", bench.service_levels, bench.plain_levels, "ratio"),
        Measurement("count_by_agency (lead)", bench.service_agencies, bench.plain_agencies,
                    "ratio"),
        page_measurement(bench, "list_tasks, no filter, page 1", everything, 1),
        page_measurement(bench, "list_tasks, filtered, page 1", filtered, 1, filter_note),
        page_measurement(bench, f"list_tasks, filtered, last page ({last_page})", filtered,
                         last_page, filter_note),
        page_measurement(bench, "list_tasks, text only, page 1", search, 1,
                         f"text '{SEARCH_TEXT}': {bench.plain_total(search)} tasks"),
    ]
    for measurement in measurements:
        check(measurement)
    return measurements


def page_measurement(bench: Bench, name: str, filters: TaskFilter, page: int,
                     note: str = "") -> Measurement:
    return Measurement(
        name,
        service=lambda: bench.service_page(filters, page),
        baseline=lambda: bench.plain_page(filters, page),
        target="absolute",
        note=note,
        plain_total=lambda: bench.plain_total(filters),
    )


def check(measurement: Measurement) -> None:
    """Raise MismatchError unless the service and the baseline return the same result."""
    service = measurement.service()
    baseline = measurement.baseline()
    if measurement.plain_total is not None:
        # A page: the service also returns the total, which must equal the plain
        # COUNT, or stay below it when the service marks it as a lower bound.
        (total, exact), service = service
        plain_total = measurement.plain_total()
        wrong = total != plain_total if exact else total >= plain_total
        if wrong:
            raise MismatchError(f"{measurement.name}: service total {total} "
                                f"({'exact' if exact else 'lower bound'}), "
                                f"plain COUNT {plain_total}")
    if service != baseline:
        raise MismatchError(f"{measurement.name}: service returned {_summary(service)}, "
                            f"plain SQL returned {_summary(baseline)}")


def _summary(value: object) -> str:
    text_value = repr(value)
    return text_value if len(text_value) <= 300 else text_value[:300] + "..."


def time_call(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return (time.perf_counter() - started) * 1000


def run(measurements: list[Measurement], repeat: int) -> list[Timing]:
    """Time each measurement `repeat` times, alternating service and baseline calls."""
    timings = []
    for measurement in measurements:
        service_ms: list[float] = []
        baseline_ms: list[float] = []
        for _ in range(repeat):
            service_ms.append(time_call(measurement.service))
            baseline_ms.append(time_call(measurement.baseline))
        timings.append(Timing(measurement.name, service_ms, baseline_ms, measurement.target,
                              measurement.note))
        logger.info("measured", extra={"measurement": measurement.name,
                                       "service_median_ms": round(statistics.median(service_ms), 1)})
    return timings


def verdict(timing: Timing) -> tuple[str, str]:
    """Return the target text and whether the median meets it."""
    service = statistics.median(timing.service_ms)
    baseline = statistics.median(timing.baseline_ms)
    if timing.target == "ratio":
        met = service <= COUNT_RATIO_TARGET * baseline
        return f"≤ {COUNT_RATIO_TARGET}× plain", "yes" if met else "**no**"
    met = service < LIST_TARGET_MS
    return f"< {LIST_TARGET_MS:.0f} ms", "yes" if met else "**no**"


def markdown_table(timings: list[Timing]) -> str:
    lines = [
        "| Measurement | Service median (ms) | Service p95 (ms) | Plain SQL median (ms) "
        "| Plain SQL p95 (ms) | Ratio | Target | Met |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for timing in timings:
        service = statistics.median(timing.service_ms)
        baseline = statistics.median(timing.baseline_ms)
        target, met = verdict(timing)
        lines.append(
            f"| {timing.name} | {service:.1f} | {percentile(timing.service_ms, 0.95):.1f} "
            f"| {baseline:.1f} | {percentile(timing.baseline_ms, 0.95):.1f} "
            f"| {service / baseline:.2f} | {target} | {met} |")
    return "\n".join(lines)


def describe(engine: Engine, at: datetime) -> str:
    with engine.connect() as connection:
        tasks = connection.execute(text("SELECT count(*) FROM tasks")).scalar_one()
        if engine.dialect.name == "postgresql":
            version = connection.execute(text("SHOW server_version")).scalar_one()
            database = f"PostgreSQL {version}"
        else:
            version = connection.execute(text("SELECT sqlite_version()")).scalar_one()
            database = f"SQLite {version}"
    return f"{database}, {tasks} tasks, levels as of {at.isoformat()}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True,
                        help="database URL filled by bench/generate.py")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs of each service call and of each baseline (default 20)")
    parser.add_argument("--at", default=AS_OF.isoformat(),
                        help="instant the completion levels are computed for, ISO 8601 "
                             f"(default {AS_OF.isoformat()}, the generator's reference instant)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    try:
        args.at = parse_instant(args.at)
    except ValueError as error:
        parser.error(f"--at {args.at!r}: {error}")
    return args


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    args = parse_args(argv)
    engine = make_engine(args.url)
    bench = Bench(engine, args.at)
    logger.info("benchmark started", extra={
        "url": engine.url.render_as_string(hide_password=True), "repeat": args.repeat})
    try:
        measurements = build_measurements(bench)
    except MismatchError as error:
        logger.error("service and plain SQL results differ: %s", error)
        return 1
    timings = run(measurements, args.repeat)
    print(f"\n{describe(engine, args.at)}, {args.repeat} runs each, page size {PAGE_SIZE}\n")
    print(markdown_table(timings))
    notes = [f"- {timing.name}: {timing.note}" for timing in timings if timing.note]
    if notes:
        print("\n" + "\n".join(dict.fromkeys(notes)))
    engine.dispose()
    logger.info("benchmark finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
