"""Periodic job of the evaluation domain: score ended periods and follow up low ratings."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from node.core.db import utcnow
from node.core.settings import Settings
from node.evaluation.service import evaluate_ended_periods

JOB_ID = "evaluation.evaluate_ended_periods"


def evaluate(session_factory: sessionmaker[Session], settings: Settings) -> dict:
    """Evaluate the last ended quarter, half-year and year (Điều 17.1, 17.3.b)."""
    return evaluate_ended_periods(session_factory, utcnow(), locale=settings.default_locale)
