"""Time the live dashboard's counts from its counter tables against plain GROUP BY queries.

    python bench/dashboard_counters.py --url URL [--repeat 20] [--at INSTANT]

Run it on a database filled by `generate.py`, which rebuilds the counters at
its end. The script first moves the counters' horizon to the day of `--at`
(as the first dashboard read of a day does). It checks that every count from
the counters equals the plain SQL result, and that the tables of the largest
agencies and latest documents list the rows plain SQL picks. A mismatch ends
it with exit status 1. It then times each pair alternately and prints a
Markdown table of the median and 95th percentile in milliseconds. The target
is 50 ms for each count from the counters.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dashboard import LEVEL_CASE, Bench, describe, percentile, time_call
from generate import AS_OF
from node.core.db import make_engine
from node.core.logging import configure_logging
from node.dashboard import counters
from node.dashboard.figures import (
    TABLE_ROWS,
    build_figures,
    counted_levels,
    largest_members,
    recent_documents,
)
from node.dashboard.models import DashboardCounter, DashboardMemberTotal
from node.local_tasks.timeparse import parse_instant

logger = logging.getLogger("bench.dashboard_counters")

TARGET_MS = 50.0

PROVINCE_SQL = f"""
WITH RECURSIVE province_units(unit_id, province_id) AS (
  SELECT id, id FROM org_units
  WHERE kind = 'provincial_party_committee' AND gso_code IS NOT NULL
  UNION ALL
  SELECT o.id, p.province_id FROM org_units o JOIN province_units p ON o.parent_id = p.unit_id
)
SELECT p.province_id, level, count(DISTINCT t.id) FROM (
  SELECT t.id, {LEVEL_CASE} AS level FROM tasks t) t
JOIN task_agencies a ON a.task_id = t.id AND a.role = 'lead'
JOIN province_units p ON p.unit_id = a.org_unit_id
GROUP BY 1, 2
"""


class MismatchError(Exception):
    """The counters and the plain SQL returned different counts."""


@dataclass
class Pair:
    name: str
    counters: Callable[[], object]
    plain: Callable[[], object]


def nonzero(levels: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    return {(member, level): count for member, counts in levels.items()
            for level, count in counts.items() if count}


class CounterBench:
    """The counters' read path and its plain SQL baselines on one database."""

    def __init__(self, engine: Engine, at: datetime):
        self.engine = engine
        self.at = at
        self.plain_bench = Bench(engine, at)
        with Session(engine) as session:
            state = counters.ensure_current(session, now=at)
            session.commit()
        self.horizon = state["horizon_at"]

    def counted(self, dimension: str) -> dict[tuple[str, str], int]:
        with Session(self.engine) as session:
            return nonzero(counted_levels(session, dimension, now=self.at, horizon=self.horizon))

    def plain_grouped(self, sql: str) -> dict[tuple[str, str], int]:
        return {(str(member), level): count
                for member, level, count in self.plain_bench.plain(sql)}

    def plain_levels(self) -> dict[tuple[str, str], int]:
        return {("", level): count for level, count in self.plain_bench.plain_levels().items()
                if count}

    def plain_agencies(self) -> dict[tuple[str, str], int]:
        return {(str(unit), level): count
                for (unit, level), count in self.plain_bench.plain_agencies().items()}

    def plain_documents(self) -> dict[tuple[str, str], int]:
        return self.plain_grouped(
            f"SELECT t.document_id, {LEVEL_CASE} AS level, count(*) FROM tasks t GROUP BY 1, 2")

    def plain_provinces(self) -> dict[tuple[str, str], int]:
        return self.plain_grouped(PROVINCE_SQL)

    def largest_agencies(self) -> dict[str, dict[str, int]]:
        """Count the levels of the agencies the dashboard's table shows, as it does."""
        with Session(self.engine) as session:
            largest, _ = largest_members(session, "lead", limit=TABLE_ROWS)
            return counted_levels(session, "lead", now=self.at, horizon=self.horizon,
                                  members=largest)

    def recent_documents(self) -> dict[str, dict[str, int]]:
        """Count the levels of the documents the dashboard's table shows, as it does."""
        with Session(self.engine) as session:
            documents, _ = recent_documents(session, limit=TABLE_ROWS)
            return counted_levels(session, "document", now=self.at, horizon=self.horizon,
                                  members=[str(document.id) for document in documents])

    def figures(self) -> None:
        with Session(self.engine) as session:
            build_figures(session, now=self.at)

    def plain_figures(self) -> None:
        self.plain_levels()
        self.plain_agencies()
        self.plain_documents()
        self.plain_provinces()


LATEST_DOCUMENTS_SQL = f"""
SELECT d.id FROM documents d WHERE EXISTS (SELECT 1 FROM tasks t WHERE t.document_id = d.id)
ORDER BY d.issued_on DESC NULLS LAST, d.id LIMIT {TABLE_ROWS}
"""


def check_counts(bench: CounterBench) -> None:
    """Raise MismatchError unless the counters' counts and table rows equal the plain SQL ones."""
    checks = [("all", bench.plain_levels), ("lead", bench.plain_agencies),
              ("document", bench.plain_documents), ("province", bench.plain_provinces)]
    for dimension, plain in checks:
        counted, expected = bench.counted(dimension), plain()
        if counted != expected:
            differing = sorted(key for key in set(counted) | set(expected)
                               if counted.get(key) != expected.get(key))[:10]
            raise MismatchError(f"{dimension}: counters and plain SQL differ at {differing}")
    check_table_rows(bench)


def check_table_rows(bench: CounterBench) -> None:
    """Raise MismatchError unless both tables list the members that plain SQL picks.

    Ties in task count are broken by the member's id as text, as the
    dashboard does.
    """
    totals: dict[str, int] = {}
    for (unit, _level), count in bench.plain_agencies().items():
        totals[unit] = totals.get(unit, 0) + count
    expected_agencies = sorted(totals, key=lambda unit: (-totals[unit], unit))[:TABLE_ROWS]
    expected_documents = [str(row[0]) for row in bench.plain_bench.plain(LATEST_DOCUMENTS_SQL)]
    with Session(bench.engine) as session:
        agencies, agency_count = largest_members(session, "lead", limit=TABLE_ROWS)
        documents, document_count = recent_documents(session, limit=TABLE_ROWS)
    if agencies != expected_agencies or agency_count != len(totals):
        raise MismatchError(f"largest agencies: {agencies} of {agency_count} from the totals, "
                            f"{expected_agencies} of {len(totals)} from plain SQL")
    document_ids = [str(document.id) for document in documents]
    if document_ids != expected_documents:
        raise MismatchError(f"latest documents: {document_ids} from the totals, "
                            f"{expected_documents} from plain SQL")
    if document_count != len({member for member, _level in bench.plain_documents()}):
        raise MismatchError(f"documents with tasks: {document_count} from the totals")


def build_pairs(bench: CounterBench) -> list[Pair]:
    return [
        Pair("levels (all tasks)", lambda: bench.counted("all"), bench.plain_levels),
        Pair(f"levels of the {TABLE_ROWS} agencies with most tasks (plain: all agencies)",
             bench.largest_agencies, bench.plain_agencies),
        Pair(f"levels of the {TABLE_ROWS} latest documents (plain: all documents)",
             bench.recent_documents, bench.plain_documents),
        Pair("levels by province (map)", lambda: bench.counted("province"),
             bench.plain_provinces),
        Pair("whole dashboard (all dimensions, charts)", bench.figures, bench.plain_figures),
    ]


def counter_rows(engine: Engine, model: type = DashboardCounter) -> dict[str, int]:
    with Session(engine) as session:
        return dict(session.execute(select(model.dimension, func.count())
                                    .group_by(model.dimension)).all())


def run(pairs: list[Pair], repeat: int) -> str:
    lines = ["| Measurement | Counters median (ms) | Counters p95 (ms) | Plain SQL median (ms) "
             "| Plain SQL p95 (ms) | Target | Met |",
             "|---|---:|---:|---:|---:|---|---|"]
    for pair in pairs:
        counted_ms: list[float] = []
        plain_ms: list[float] = []
        for _ in range(repeat):
            counted_ms.append(time_call(pair.counters))
            plain_ms.append(time_call(pair.plain))
        median = statistics.median(counted_ms)
        logger.info("measured", extra={"measurement": pair.name,
                                       "counters_median_ms": round(median, 1)})
        met = "yes" if median <= TARGET_MS else "**no**"
        lines.append(f"| {pair.name} | {median:.1f} | {percentile(counted_ms, 0.95):.1f} "
                     f"| {statistics.median(plain_ms):.1f} | {percentile(plain_ms, 0.95):.1f} "
                     f"| ≤ {TARGET_MS:.0f} ms | {met} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="database URL filled by bench/generate.py")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs of each count and of each baseline (default 20)")
    parser.add_argument("--at", default=AS_OF.isoformat(),
                        help=f"instant of the levels, ISO 8601 (default {AS_OF.isoformat()})")
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
    logger.info("benchmark started", extra={
        "url": engine.url.render_as_string(hide_password=True), "repeat": args.repeat})
    bench = CounterBench(engine, args.at)
    try:
        check_counts(bench)
    except MismatchError as error:
        logger.error("counters and plain SQL differ: %s", error)
        return 1
    table = run(build_pairs(bench), args.repeat)
    print(describe(engine, args.at))
    print("Counter rows per dimension:", counter_rows(engine))
    print("Member total rows per dimension:", counter_rows(engine, DashboardMemberTotal))
    unsettled = bench.plain_bench.plain(
        "SELECT count(*) FROM tasks t WHERE t.completed_at > :at")[0][0]
    print(f"Tasks completed after --at (corrected at read time): {unsettled}")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
