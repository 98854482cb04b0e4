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
progress, which the scheduler pushes every morning), and among reports of
periods ending on the same day, the newest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    """Return the newest report of each child node that is a provincial committee, by its unit id.

    Child nodes are the peers at a lower level than this node. A child whose
    org unit is not a provincial committee with a GSO code here has no province
    on the map and is left out.

    NOTE: a report has one row per lead agency, so a task led jointly by two
    units of the province counts twice in this sum. The report does not
    carry a count of distinct tasks.
    """
    children = session.execute(
        select(Peer.node_id, OrgUnit.id)
        .join(OrgUnit, OrgUnit.code == Peer.org_unit_code)
        .where(Peer.level > settings.node_level, OrgUnit.kind == PROVINCIAL_KIND,
               OrgUnit.gso_code.is_not(None))
        .order_by(Peer.node_id)).all()
    reports: dict[int, ProvinceReport] = {}
    for node_id, unit_id in children:
        newest = session.execute(
            select(AggregateRow.period_kind, AggregateRow.period_start, AggregateRow.period_end,
                   AggregateRow.as_of)
            .where(AggregateRow.sender_node_id == node_id)
            .order_by(AggregateRow.period_end.desc(), AggregateRow.as_of.desc())
            .limit(1)).first()
        if newest is None:
            continue
        kind, start, end, as_of = newest
        counts = dict.fromkeys(LEVELS, 0)
        for row_counts in session.scalars(
                select(AggregateRow.counts).where(AggregateRow.sender_node_id == node_id,
                                                  AggregateRow.period_kind == kind,
                                                  AggregateRow.period_start == start)):
            for level in LEVELS:
                counts[level] += int(row_counts.get(level, 0))
        reports[unit_id] = ProvinceReport(sender_node_id=node_id, period_kind=kind,
                                          period_start=start, period_end=end, as_of=as_of,
                                          counts=counts)
    return reports
