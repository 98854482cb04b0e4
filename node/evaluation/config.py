"""Indicator sets (Điều 17.1.b) as versioned TOML files in config/evaluation/.

A file names its set's code, version and effective date, the weight of each
indicator, the minimum score of each rating, which ratings count as low and
the weights of completion levels for rankings built from aggregate counts.
A file with a missing or invalid value is rejected whole, naming the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from node.core.settings import PROJECT_ROOT
from node.evaluation.models import RATINGS
from node.local_tasks.completion import LEVELS

DEFAULT_DIR = PROJECT_ROOT / "config" / "evaluation"
INDICATORS = ("on_time_completion", "not_overdue", "reports_on_time")
# Ratings with a minimum score; the last rating, not_completed, takes the rest.
THRESHOLD_RATINGS = RATINGS[:-1]


class IndicatorSetError(ValueError):
    """An indicator set file is invalid; the message names the file, the key and the fix."""


@dataclass(frozen=True)
class IndicatorSet:
    code: str
    version: int
    effective_on: date
    name_vi: str
    name_en: str
    weights: dict[str, float]
    thresholds: dict[str, float]
    low_ratings: tuple[str, ...]
    aggregate_weights: dict[str, float]
    source: str

    def rating_for(self, score: float) -> str:
        """Return the rating a score earns: the first whose minimum it reaches."""
        for rating in THRESHOLD_RATINGS:
            if score >= self.thresholds[rating]:
                return rating
        return RATINGS[-1]


def _number(path: Path, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise IndicatorSetError(f"{path.name}: {key} = {value!r} is invalid; "
                                "write a number of 0 or more")
    return float(value)


def _weights(path: Path, raw: object) -> dict[str, float]:
    if not isinstance(raw, list) or not raw:
        raise IndicatorSetError(f"{path.name}: [[indicators]] is missing; list at least one")
    weights: dict[str, float] = {}
    for index, item in enumerate(raw):
        code = item.get("code") if isinstance(item, dict) else None
        if code not in INDICATORS or code in weights:
            raise IndicatorSetError(f"{path.name}: indicators[{index}].code = {code!r} is "
                                    f"invalid; use each of {', '.join(INDICATORS)} at most once")
        weights[code] = _number(path, f"indicators[{index}].weight", item.get("weight"))
    if sum(weights.values()) <= 0:
        raise IndicatorSetError(f"{path.name}: the indicator weights add up to 0; give one "
                                "a positive weight")
    return weights


def _thresholds(path: Path, raw: object) -> dict[str, float]:
    raw = raw if isinstance(raw, dict) else {}
    thresholds = {rating: _number(path, f"ratings.{rating}", raw.get(rating))
                  for rating in THRESHOLD_RATINGS}
    values = [thresholds[rating] for rating in THRESHOLD_RATINGS]
    if values != sorted(values, reverse=True) or values[0] > 100:
        raise IndicatorSetError(f"{path.name}: [ratings] must decrease from excellent to "
                                "not_fully_completed and stay within 0-100")
    return thresholds


def load_set(path: Path) -> IndicatorSet:
    """Read one indicator set file; raise IndicatorSetError naming what is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise IndicatorSetError(f"{path.name} is not valid TOML: {exc}") from None
    version, effective_on = raw.get("version"), raw.get("effective_on")
    if not isinstance(raw.get("code"), str) or not raw["code"]:
        raise IndicatorSetError(f"{path.name}: code is missing; name the set, e.g. \"qc08\"")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise IndicatorSetError(f"{path.name}: version = {version!r} is invalid; use 1, 2, ...")
    if not isinstance(effective_on, date):
        raise IndicatorSetError(f"{path.name}: effective_on = {effective_on!r} is invalid; "
                                "write a date such as 2026-01-01")
    low = tuple((raw.get("low") or {}).get("ratings") or ())
    if not low or any(rating not in RATINGS for rating in low):
        raise IndicatorSetError(f"{path.name}: low.ratings = {list(low)!r} is invalid; list "
                                f"ratings among {', '.join(RATINGS)}")
    aggregate = raw.get("aggregate") or {}
    if not aggregate or any(level not in LEVELS for level in aggregate):
        raise IndicatorSetError(f"{path.name}: [aggregate] is invalid; weigh completion levels "
                                f"among {', '.join(LEVELS)}")
    return IndicatorSet(
        code=raw["code"], version=version, effective_on=effective_on,
        name_vi=str(raw.get("name_vi") or raw["code"]),
        name_en=str(raw.get("name_en") or raw["code"]),
        weights=_weights(path, raw.get("indicators")),
        thresholds=_thresholds(path, raw.get("ratings")), low_ratings=low,
        aggregate_weights={level: _number(path, f"aggregate.{level}", value)
                           for level, value in aggregate.items()},
        source=path.name)


def load_sets(directory: Path = DEFAULT_DIR) -> list[IndicatorSet]:
    """Read every indicator set in `directory`, oldest effective date first."""
    sets = [load_set(path) for path in sorted(directory.glob("*.toml"))]
    if not sets:
        raise IndicatorSetError(f"No indicator set in {directory}; add a .toml file")
    return sorted(sets, key=lambda item: (item.effective_on, item.version))


def set_for(sets: list[IndicatorSet], period_end: date) -> IndicatorSet:
    """Return the newest set in force on `period_end` (the oldest when none was yet)."""
    in_force = [item for item in sets if item.effective_on <= period_end]
    return in_force[-1] if in_force else sets[0]
