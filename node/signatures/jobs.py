"""Verification of large signed files in a background thread, so a web worker is not held.

The file's row is the status row: "pending" with the number of signatures
checked so far, then the outcome. A thread that dies with its process
leaves the row pending, and the pages show it as failed after
`service.STALE_PENDING_AFTER`.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from node.core.db import unit_of_work
from node.core.settings import Settings
from node.signatures import service
from node.signatures.models import DocumentFile

logger = logging.getLogger(__name__)


def verify_in_background(session_factory: sessionmaker[Session], file_id: int,
                         settings: Settings) -> threading.Thread:
    """Start verifying the committed file `file_id` in a daemon thread; return the thread."""
    thread = threading.Thread(target=run_verification, args=(session_factory, file_id, settings),
                              name=f"verify-document-file-{file_id}", daemon=True)
    thread.start()
    return thread


def _save_progress(session_factory: sessionmaker[Session], file_id: int, checked: int,
                   total: int) -> None:
    with unit_of_work(session_factory) as session:
        session.execute(update(DocumentFile).where(DocumentFile.id == file_id)
                        .values(checked_signatures=checked, total_signatures=total))


def run_verification(session_factory: sessionmaker[Session], file_id: int,
                     settings: Settings) -> None:
    """Verify file `file_id` and store the outcome; on an unexpected error mark it failed."""
    logger.info("background verification started", extra={"file_id": file_id})
    try:
        with unit_of_work(session_factory) as session:
            file = session.get(DocumentFile, file_id)
            if file is None:
                logger.warning("background verification found no file", extra={"file_id": file_id})
                return
            service.verify_document_file(
                session, file, settings=settings,
                on_progress=lambda checked, total: _save_progress(session_factory, file_id,
                                                                  checked, total))
            status = file.status
    except Exception as exc:  # noqa: BLE001 - any failure must end in a visible status
        logger.error("background verification failed", exc_info=True,
                     extra={"file_id": file_id, "error": str(exc)})
        with unit_of_work(session_factory) as session:
            file = session.get(DocumentFile, file_id)
            if file is not None:
                service.mark_failed(session, file, f"{type(exc).__name__}: {exc}")
        return
    logger.info("background verification finished", extra={"file_id": file_id, "status": status})
