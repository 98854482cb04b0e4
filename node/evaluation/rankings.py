"""Quarterly and yearly rankings of agencies (Điều 17.2.c), local and national.

A local ranking orders this node's lead agencies by their evaluation score.
The central node's national ranking orders its child nodes' org units by a
score computed from their counts by completion level: the tasks this node
assigned to them, from its own task states, plus their aggregate reports of
the tasks they hold alone, with the weights of the indicator set's [aggregate] section. Agencies with the
same score share a rank (1, 2, 2, 4), listed in Vietnamese alphabetical order.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from node.audit import service as audit_log
from node.core.settings import Settings
from node.core.text import sort_key
from node.evaluation.config import IndicatorSet, set_for
from node.evaluation.models import RANKING_PERIOD_KINDS, EvaluationScore, Ranking
from node.evaluation.service import evaluate_period
from node.local_tasks.workflow.errors import invalid, message
from node.reports.errors import ReportStateError
from node.reports.periods import Period

logger = logging.getLogger(__name__)


def ranked(entries: list[dict]) -> list[dict]:
    """Order entries by score, best first, giving tied scores the same rank."""
    scored = sorted((entry for entry in entries if entry["score"] is not None),
                    key=lambda entry: (-entry["score"], sort_key(entry["org_unit_name"])))
    previous_score, rank = None, 0
    for position, entry in enumerate(scored, 1):
        if entry["score"] != previous_score:
            rank, previous_score = position, entry["score"]
        entry["rank"] = rank
    return scored


def _check_kind(kind: str) -> None:
    if kind not in RANKING_PERIOD_KINDS:
        raise invalid("period_kind", kind, "Rankings are quarterly or yearly; use one of "
                      "%(kinds)s", kinds=", ".join(RANKING_PERIOD_KINDS))


def _next_version(session: Session, scope: str, kind: str, period: Period) -> int:
    return (session.scalar(select(func.max(Ranking.version)).where(
        Ranking.scope == scope, Ranking.period_kind == kind,
        Ranking.period_start == period.start)) or 0) + 1


def build_local_ranking(session: Session, *, kind: str, period: Period, now: datetime,
                        sets: list[IndicatorSet]) -> Ranking:
    """Evaluate the period and rank this node's lead agencies by score; flush."""
    _check_kind(kind)
    indicator_set = set_for(sets, period.end)
    scores: list[EvaluationScore] = evaluate_period(session, kind=kind, period=period, now=now,
                                                    sets=sets)
    entries = ranked([{"org_unit_code": row.org_unit.code, "org_unit_name": row.org_unit.name,
                       "score": row.score, "rating": row.rating,
                       "counts": row.inputs["counts"]} for row in scores])
    ranking = Ranking(scope="local", period_kind=kind, period_start=period.start,
                      period_end=period.end, version=_next_version(session, "local", kind,
                                                                   period),
                      indicator_set=indicator_set.code,
                      indicator_set_version=indicator_set.version, entries=entries,
                      computed_at=now)
    session.add(ranking)
    session.flush()
    return ranking


def aggregate_score(weights: dict[str, float], counts: dict[str, int]) -> float | None:
    """Return 100 x sum(weight x count) / sum(count) over the weighted levels, or None."""
    counted = sum(counts.get(level, 0) for level in weights)
    if not counted:
        return None
    return round(100 * sum(weight * counts.get(level, 0) for level, weight in weights.items())
                 / counted, 2)


def _federation(module: str):  # noqa: ANN202
    """Return a federation module, or None while this node's software does not have it."""
    try:
        return importlib.import_module(f"node.federation.{module}")
    except ImportError:
        return None


def build_national_ranking(session: Session, *, kind: str, period: Period, now: datetime,
                           sets: list[IndicatorSet]) -> Ranking:
    """Rank the child nodes from their aggregate reports for the period; flush."""
    _check_kind(kind)
    aggregates = _federation("aggregates")
    if aggregates is None:
        raise ReportStateError(message(
            "The national ranking needs the child nodes' aggregate reports, which this node "
            "cannot receive yet; publish the local ranking instead"))
    indicator_set = set_for(sets, period.end)
    rows = aggregates.child_unit_aggregates(session, kind, period.start, now=now)
    entries = ranked([{"org_unit_code": row.org_unit_code, "org_unit_name": row.org_unit_name,
                       "score": aggregate_score(indicator_set.aggregate_weights, row.counts),
                       "rating": None, "counts": dict(row.counts), "total": row.total,
                       "as_of": row.as_of.isoformat() if row.as_of else None}
                      for row in rows])
    for entry in entries:
        entry["rating"] = indicator_set.rating_for(entry["score"])
    ranking = Ranking(scope="national", period_kind=kind, period_start=period.start,
                      period_end=period.end, version=_next_version(session, "national", kind,
                                                                   period),
                      indicator_set=indicator_set.code,
                      indicator_set_version=indicator_set.version, entries=entries,
                      computed_at=now)
    session.add(ranking)
    session.flush()
    return ranking


def publish(session: Session, settings: Settings, ranking: Ranking, *, at: datetime,
            actor: str | None) -> Ranking:
    """Publish a ranking on the public page and, when the exchange can, to the child nodes."""
    if ranking.published_at is not None:
        raise ReportStateError(message("Ranking %(ranking_id)s was already published; "
                                       "nothing was changed", ranking_id=ranking.id))
    ranking.published_at, ranking.published_by = at, actor
    session.flush()
    exchange = _federation("rankings_exchange")
    if exchange is not None:
        exchange.publish_ranking(session, settings, publication_payload(ranking))
    audit_log.record(session, actor=actor, action="ranking.publish", object_type="ranking",
                     object_id=ranking.id, after={"scope": ranking.scope,
                                                  "period_kind": ranking.period_kind,
                                                  "period_start": ranking.period_start,
                                                  "version": ranking.version,
                                                  "sent_to_children": exchange is not None})
    logger.info("ranking published", extra={"ranking_id": ranking.id, "scope": ranking.scope})
    return ranking


def export_payload(ranking: Ranking) -> dict:
    """Return the ranking as the emulation-and-rewards system reads it (Điều 17.2.a)."""
    return {
        "ranking_id": ranking.id, "scope": ranking.scope, "period_kind": ranking.period_kind,
        "period_start": ranking.period_start.isoformat(),
        "period_end": ranking.period_end.isoformat(), "version": ranking.version,
        "indicator_set": {"code": ranking.indicator_set,
                          "version": ranking.indicator_set_version},
        "published_at": ranking.published_at.isoformat() if ranking.published_at else None,
        "entries": [{"rank": entry["rank"], "org_unit_code": entry["org_unit_code"],
                     "org_unit_name": entry["org_unit_name"], "score": entry["score"],
                     "rating": entry["rating"]} for entry in ranking.entries],
    }


def publication_payload(ranking: Ranking) -> dict:
    """Return the ranking as the exchange's ranking_publication message carries it."""
    method = (f"Indicator set {ranking.indicator_set} version {ranking.indicator_set_version}; "
              + ("score from the counts by completion level of the aggregate reports"
                 if ranking.scope == "national" else "score of the agency's evaluation"))
    entries = []
    for entry in ranking.entries:
        item = {"rank": entry["rank"], "org_unit_code": entry["org_unit_code"],
                "score": entry["score"]}
        if entry.get("rating"):
            item["grade"] = entry["rating"]
        entries.append(item)
    return {"period": {"kind": ranking.period_kind, "start": ranking.period_start.isoformat(),
                       "end": ranking.period_end.isoformat()},
            "published_at": ranking.published_at.isoformat() if ranking.published_at else None,
            "method": method, "entries": entries}


def received_rankings(session: Session) -> list[dict]:
    """Return the rankings the parent node published to this node, newest first.

    The list is empty while this node's software cannot receive rankings.
    """
    exchange = _federation("rankings_exchange")
    if exchange is None:
        return []
    return [{"period_kind": row.period_kind, "period_start": row.period_start,
             "period_end": row.period_end, "published_at": row.published_at,
             "entries": list(row.entries or [])}
            for row in exchange.received_rankings(session)]
