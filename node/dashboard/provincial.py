"""The aggregate reports that provincial nodes push up, as the map of a parent node shows them.

A provincial node reports the tasks assigned at the province or below and
leaves out the tasks it received from its parent (node.federation.aggregates),
because the parent stores those itself and its own counters count them. So
a province's figure on the parent's map is the parent's own count plus the
province node's report, and a task the parent transferred to the province
is counted once, by the parent.

A node stores one report per sender and period, replacing the older one. A
report's population is every task assigned by the end of its period, with
levels as of the earlier of that end and the report instant. The map takes,
for each sender, the report of the period that ends last (the year in
progress, which the scheduler pushes every morning). Among reports of
periods ending on the same day it takes the newest, then the longest period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from node.core.settings import Settings
from node.dashboard.counters import PROVINCIAL_KIND
from node.federation.content_models import AggregateRow
from node.federation.models import Peer
from node.local_tasks.completion import LEVELS
from node.local_tasks.models import OrgUnit


@dataclass(frozen=True)
class ProvinceReport:
    """A provincial node's newest aggregate report, summed over its org units."""

    sender_node_id: str
    period_kind: str
    period_start: date
    period_end: date
    as_of: datetime
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def province_reports(session: Session, settings: Settings) -> dict[int, ProvinceReport]:
    """Return each province's newest report from a child node, keyed by the province's unit id.

    Child nodes are the peers at a lower level than this node. A child whose
    org unit is not a provincial committee with a GSO code here has no province
    on the map and is left out.

    NOTE: a report has one row per lead agency, so a task led jointly by two
    units of the province counts twice in this sum. The report does not
    carry a count of distinct tasks.
    """
    newest_row = (select(AggregateRow.id)
                  .where(AggregateRow.sender_node_id == Peer.node_id)
                  .order_by(AggregateRow.period_end.desc(), AggregateRow.as_of.desc(),
                            AggregateRow.period_start)
                  .limit(1).correlate(Peer).scalar_subquery())
    newest = aliased(AggregateRow)
    # One statement for every province, because the map is read on each
    # change: each sender's newest row names its report, and the rows of
    # that report come from the unique index of (sender, period, unit).
    rows = session.execute(
        select(Peer.node_id, OrgUnit.id, newest.period_kind, newest.period_start,
               newest.period_end, newest.as_of, AggregateRow.counts)
        .join(OrgUnit, OrgUnit.code == Peer.org_unit_code)
        .join(newest, newest.id == newest_row)
        .join(AggregateRow, and_(AggregateRow.sender_node_id == Peer.node_id,
                                 AggregateRow.period_kind == newest.period_kind,
                                 AggregateRow.period_start == newest.period_start))
        .where(Peer.level > settings.node_level, OrgUnit.kind == PROVINCIAL_KIND,
               OrgUnit.gso_code.is_not(None))
        .order_by(Peer.node_id))
    by_sender: dict[tuple[int, str], ProvinceReport] = {}
    for node_id, unit_id, kind, start, end, as_of, row_counts in rows:
        report = by_sender.get((unit_id, node_id))
        if report is None:
            report = by_sender[(unit_id, node_id)] = ProvinceReport(
                sender_node_id=node_id, period_kind=kind, period_start=start, period_end=end,
                as_of=as_of, counts=dict.fromkeys(LEVELS, 0))
        for level in LEVELS:
            report.counts[level] += int(row_counts.get(level, 0))
    # A province served by two child nodes (a node enrolled again under a new
    # id) shows the newer report only.
    reports: dict[int, ProvinceReport] = {}
    for (unit_id, _node_id), report in sorted(by_sender.items()):
        if unit_id not in reports or report.as_of > reports[unit_id].as_of:
            reports[unit_id] = report
    return reports
