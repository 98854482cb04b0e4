"""Periodic job of the reports domain: produce the reports that fell due."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from node.core.db import utcnow
from node.core.settings import Settings
from node.reports.service import produce_due_reports

JOB_ID = "reports.produce_due"


def produce_reports(session_factory: sessionmaker[Session], settings: Settings) -> list[int]:
    """Produce, as drafts, the periodic reports due by now (Điều 15.1, 16.2)."""
    return produce_due_reports(session_factory, settings, utcnow())
