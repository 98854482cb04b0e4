"""Plain input records that every entry point (API, form, import) fills in.

Services validate them; entry points only translate their own format into
these records, so the rules of Điều 5 are enforced in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class DeadlineInput:
    """A deadline as written in the source, and what it means.

    `on` is the last day of the stated period; the task is due at the end of
    that day in Vietnam. `on` is None for tasks without a deadline (regular,
    continuous, long-term), which are never overdue. `at` is set only when the
    source gives an exact instant.
    """

    text: str | None = None
    on: date | None = None
    at: datetime | None = None
    # One of: instant, day, month, quarter, half_year, year, range, none.
    precision: str = "none"
    # Code of the "time" classification: with_deadline, regular, continuous, long_term, ad_hoc.
    time_class: str = "with_deadline"


@dataclass
class TaskInput:
    """One task of a document, as an entry point received it."""

    task_no: str | None = None
    content: str | None = None
    section: str | None = None
    product: str | None = None
    # Each item names one agency; joint leads give several.
    lead_agencies: list[str] = field(default_factory=list)
    coordinating_agencies: list[str] = field(default_factory=list)
    monitoring_agency: str | None = None
    # (role, verbatim text) for cells that name a class of agencies.
    group_assignments: list[tuple[str, str]] = field(default_factory=list)
    deadline: DeadlineInput = field(default_factory=DeadlineInput)
    reported_state: str = "not_started"
    completed_at: datetime | None = None
    progress_percent: int | None = None
    result_summary: str | None = None
    transferred_at: datetime | None = None
    # (scheme code, value code) pairs, e.g. ("priority", "key").
    classifications: list[tuple[str, str]] = field(default_factory=list)
    extra: dict | None = None
    # Where the task came from, e.g. "row 12", for error messages.
    origin: str | None = None


@dataclass
class DocumentInput:
    """An assigning document with its tasks, as an entry point received it."""

    reference: str = ""
    kind_code: str | None = None
    summary: str | None = None
    issued_on: date | None = None
    signer: str | None = None
    issuing_body: str | None = None
    submitting_body: str | None = None
    confidentiality: str = "regular"
    tasks: list[TaskInput] = field(default_factory=list)
    # For confidential and top-secret documents only the number of tasks is kept
    # when no per-task rows are given.
    task_count: int | None = None
    source: str | None = None
    source_sha256: str | None = None
