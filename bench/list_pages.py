"""Time the task list pages and their pager totals against plain SQL in the same run.

    python bench/list_pages.py --url URL [--repeat 20]

Each measurement calls `list_tasks` of `node.local_tasks.queries` (one page
of 50 tasks and the total for the pager) and a plain SQL baseline,
alternately, in the same run. The baseline is what the list did before it
capped its total, written by hand: the exact COUNT(*) of the filter, then the
page's SELECT with ORDER BY, LIMIT and OFFSET. Other work on the machine
slows both the same way, so the ratio of the two medians is steadier than
either time alone.

Before timing, the script checks that the service returns the same tasks
and levels as the baseline, and a total that agrees with the exact COUNT:
equal to it up to the cap, otherwise the cap with `total_exact` false. A
mismatch ends it with exit status 1.

With `--web`, each row also times the whole task list page, GET /tasks with
the same filters, through the Flask test client of a node on the database:
the list, the filter choices and the template, without a network. The page
is requested as a central-office officer, a bench account that the script
creates once in the database (which must be migrated to the newest revision).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from dashboard import (
    LEVEL_CASE,
    LIST_TARGET_MS,
    PAGE_SIZE,
    SEARCH_TEXT,
    TASK_COLUMNS,
    Bench,
    busiest_agency,
    describe,
    percentile,
    time_call,
)
from generate import AS_OF
from node.core.db import make_engine
from node.core.migrate import model_differences
from node.core.logging import configure_logging
from node.core.text import fold
from node.local_tasks import queries
from node.local_tasks.completion import OVERDUE_LEVELS
from node.local_tasks.queries import TaskFilter, list_tasks
from node.local_tasks.timeparse import parse_instant

logger = logging.getLogger("bench.list_pages")

# A phrase that few generated tasks contain: the search reads every task.
RARE_TEXT = "an ninh mạng"
# The phrase of the combined filter in dashboard.py.
FILTER_TEXT = "kế hoạch"
BENCH_USERNAME = "bench.vanphong"


class MismatchError(Exception):
    """The service and the plain SQL returned different results."""


@dataclass
class Case:
    name: str
    filters: TaskFilter
    page: int
    note: str = ""


@dataclass
class Result:
    case: Case
    service_ms: list[float]
    baseline_ms: list[float]
    exact_total: int
    service_total: int
    total_exact: bool
    web_ms: list[float] = field(default_factory=list)


def where_clause(filters: TaskFilter) -> tuple[str, dict]:
    """Build by hand the WHERE clause of the filters used here."""
    conditions: list[str] = []
    params: dict[str, object] = {}
    if filters.levels:
        names = ", ".join(f"'{level}'" for level in filters.levels)
        conditions.append(f"{LEVEL_CASE} IN ({names})")
    if filters.agency_id is not None:
        conditions.append("t.id IN (SELECT a.task_id FROM task_agencies a "
                          "WHERE a.org_unit_id = :agency_id)")
        params["agency_id"] = filters.agency_id
    if filters.text:
        # The phrases used here contain no LIKE wildcards, so none are escaped.
        conditions.append("t.search_text LIKE :phrase")
        params["phrase"] = f"%{fold(filters.text)}%"
    return (" AND ".join(conditions) if conditions else "1 = 1"), params


def baseline(bench: Bench, filters: TaskFilter, page: int) -> tuple[int, list]:
    """Run the exact COUNT(*) and the page query, as the list did before the capped total."""
    where, params = where_clause(filters)
    total = bench.plain(f"SELECT count(*) FROM tasks t WHERE {where}", **params)[0][0]
    rows = bench.plain(
        f"SELECT {TASK_COLUMNS}, {LEVEL_CASE} AS level "
        "FROM tasks t JOIN documents d ON d.id = t.document_id "
        f"WHERE {where} "
        "ORDER BY d.issued_on DESC NULLS LAST, d.id, t.position "
        "LIMIT :limit OFFSET :offset",
        limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, **params)
    return total, [(row.id, row.level) for row in rows]


def service(bench: Bench, filters: TaskFilter, page: int) -> queries.Page:
    with bench.session() as session:
        result = list_tasks(session, filters, at=bench.at, page=page, page_size=PAGE_SIZE)
        # Touch what the list template shows, so lazy loads would be timed too.
        for task, _level in result.items:
            _ = [link.org_unit.name for link in task.agencies], task.document.reference
        return result


def check(bench: Bench, case: Case) -> tuple[int, int, bool]:
    """Compare the service with the baseline; return the exact and the service totals."""
    result = service(bench, case.filters, case.page)
    exact, plain_rows = baseline(bench, case.filters, case.page)
    rows = [(task.id, level) for task, level in result.items]
    if rows != plain_rows:
        raise MismatchError(f"{case.name}: service page {rows[:5]}..., plain page "
                            f"{plain_rows[:5]}...")
    total_exact = getattr(result, "total_exact", True)
    if total_exact and result.total != exact:
        raise MismatchError(f"{case.name}: service total {result.total}, exact {exact}")
    if not total_exact and not result.total < exact:
        raise MismatchError(f"{case.name}: service total {result.total} is a lower bound, "
                            f"but the exact count is {exact}")
    return exact, result.total, total_exact


def web_client(bench: Bench):  # noqa: ANN201
    """Return a Flask test client of a node on the bench database, as a central-office officer."""
    from node import create_app
    from node.auth.service import create_api_token, create_user, find_user, grant_role, \
        org_unit_by_code
    from node.core.settings import Settings

    differences = model_differences(bench.engine)
    if differences:
        raise SystemExit(f"--web needs the database at the newest revision; upgrade it first "
                         f"({len(differences)} differences from the models)")
    with bench.session() as session:
        user = find_user(session, BENCH_USERNAME)
        if user is None:
            user = create_user(session, username=BENCH_USERNAME, full_name="Cán bộ đo hiệu năng",
                               password="mat-khau-do-hieu-nang-2026")
            grant_role(session, user, "central_officer", org_unit_by_code(session, "VPTW"))
        _, token = create_api_token(session, user, "bench/list_pages.py")
        session.commit()
    # Removed when the client is garbage collected or the script exits.
    instance = tempfile.TemporaryDirectory(prefix="theodoi-bench-")
    settings = Settings(instance_path=Path(instance.name),
                        database_url=bench.engine.url.render_as_string(hide_password=False),
                        secret_key="bench", log_level="WARNING", scheduler_enabled=False)
    client = create_app(settings).test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client.instance_directory = instance
    return client


def web_params(bench: Bench, case: Case) -> dict:
    """Return the query string of the task list page with the case's filters."""
    params: dict[str, object] = {"page": case.page, "page_size": PAGE_SIZE,
                                 "at": bench.at.isoformat(), "lang": "vi"}
    if case.filters.levels:
        params["level"] = case.filters.levels
    if case.filters.agency_id is not None:
        params["agency_id"] = case.filters.agency_id
    if case.filters.text:
        params["q"] = case.filters.text
    return params


def web_page(client, params: dict) -> None:  # noqa: ANN001
    response = client.get("/tasks", query_string=params)
    if response.status_code != 200:
        raise MismatchError(f"GET /tasks {params}: status {response.status_code}")


def build_cases(bench: Bench) -> list[Case]:
    agency_id, agency_name, agency_rows = busiest_agency(bench.engine)
    agency_note = f"agency {agency_id} ({agency_name}, {agency_rows} task roles)"
    combined = TaskFilter(levels=list(OVERDUE_LEVELS), agency_id=agency_id, text=FILTER_TEXT)
    return [
        Case("no filter, page 1", TaskFilter(), 1),
        Case("no filter, page 30", TaskFilter(), 30),
        Case("busiest agency, page 1", TaskFilter(agency_id=agency_id), 1, agency_note),
        Case(f"text '{SEARCH_TEXT}', page 1", TaskFilter(text=SEARCH_TEXT), 1),
        Case(f"text '{RARE_TEXT}', page 1", TaskFilter(text=RARE_TEXT), 1),
        Case("overdue + busiest agency + text, page 1", combined, 1,
             f"overdue levels, {agency_note}, text '{FILTER_TEXT}'"),
    ]


def run(bench: Bench, cases: list[Case], repeat: int, client=None) -> list[Result]:  # noqa: ANN001
    results = []
    for case in cases:
        exact, total, total_exact = check(bench, case)
        params = web_params(bench, case)
        if client is not None:
            web_page(client, params)
        service_ms: list[float] = []
        baseline_ms: list[float] = []
        web_ms: list[float] = []
        for _ in range(repeat):
            service_ms.append(time_call(lambda: service(bench, case.filters, case.page)))
            baseline_ms.append(time_call(lambda: baseline(bench, case.filters, case.page)))
            if client is not None:
                web_ms.append(time_call(lambda: web_page(client, params)))
        results.append(Result(case, service_ms, baseline_ms, exact, total, total_exact, web_ms))
        logger.info("measured", extra={"case": case.name,
                                       "service_median_ms": round(statistics.median(service_ms), 1),
                                       "baseline_median_ms": round(statistics.median(baseline_ms), 1)})
    return results


def markdown_table(results: list[Result]) -> str:
    web = any(result.web_ms for result in results)
    lines = [
        "| Page | Matching tasks | Total shown | Service median (ms) | Service p95 (ms) "
        "| Baseline median (ms) | Baseline p95 (ms) | Ratio | < 100 ms |"
        + (" Web page median (ms) | Web page p95 (ms) | Web ratio |" if web else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|---:|---:|" if web else ""),
    ]
    for result in results:
        service_median = statistics.median(result.service_ms)
        baseline_median = statistics.median(result.baseline_ms)
        shown = f"{result.service_total:,}" if result.total_exact \
            else f"more than {result.service_total:,}"
        met = "yes" if service_median < LIST_TARGET_MS else "**no**"
        lines.append(
            f"| {result.case.name} | {result.exact_total:,} | {shown} "
            f"| {service_median:.1f} | {percentile(result.service_ms, 0.95):.1f} "
            f"| {baseline_median:.1f} | {percentile(result.baseline_ms, 0.95):.1f} "
            f"| {service_median / baseline_median:.2f} | {met} |"
            + (f" {statistics.median(result.web_ms):.1f} | {percentile(result.web_ms, 0.95):.1f} "
               f"| {statistics.median(result.web_ms) / baseline_median:.2f} |"
               if result.web_ms else ""))
    return "\n".join(lines)


def load_average() -> str:
    try:
        with open("/proc/loadavg", encoding="ascii") as handle:
            return handle.read().split()[0]
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="database URL filled by bench/generate.py")
    parser.add_argument("--repeat", type=int, default=20,
                        help="timed runs of each service call and of each baseline (default 20)")
    parser.add_argument("--web", action="store_true",
                        help="also time the whole task list page through the Flask test client")
    parser.add_argument("--at", default=AS_OF.isoformat(),
                        help="instant the completion levels are computed for, ISO 8601 "
                             f"(default {AS_OF.isoformat()})")
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
    engine: Engine = make_engine(args.url)
    bench = Bench(engine, args.at)
    logger.info("benchmark started", extra={
        "url": engine.url.render_as_string(hide_password=True), "repeat": args.repeat})
    client = web_client(bench) if args.web else None
    load_before = load_average()
    try:
        results = run(bench, build_cases(bench), args.repeat, client)
    except MismatchError as error:
        logger.error("service and plain SQL results differ: %s", error)
        return 1
    load_after = load_average()
    print(f"\n{describe(engine, args.at)}, {args.repeat} runs each, page size {PAGE_SIZE}, "
          f"load average {load_before} at start, {load_after} at end\n")
    print(markdown_table(results))
    notes = [f"- {result.case.name}: {result.case.note}" for result in results if result.case.note]
    if notes:
        print("\n" + "\n".join(notes))
    engine.dispose()
    logger.info("benchmark finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
