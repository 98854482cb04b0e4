"""JSON forms of documents, tasks and reference data for the API.

Instants are ISO 8601 in UTC with a `Z`, dates YYYY-MM-DD. Confidential and
top-secret tasks store no content, and their JSON marks that with
`content_withheld` instead of an empty text that could pass for real data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from node.local_tasks.completion import LEVELS, level_of
from node.local_tasks.models import (
    AGENCY_ROLES,
    DEADLINE_KINDS,
    ClassificationScheme,
    Document,
    DocumentKind,
    OrgUnit,
    Task,
    TaskEvent,
)


def instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def org_unit_ref(unit: OrgUnit) -> dict:
    return {"id": unit.id, "code": unit.code, "name": unit.name}


def org_unit(unit: OrgUnit) -> dict:
    return {
        "id": unit.id,
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "short_name": unit.short_name,
        "kind": unit.kind,
        "parent_id": unit.parent_id,
        "gso_code": unit.gso_code,
        "status": unit.status,
        "needs_review": unit.needs_review,
    }


def document_kind(kind: DocumentKind) -> dict:
    return {"id": kind.id, "code": kind.code, "name_vi": kind.name_vi, "name_en": kind.name_en,
            "symbol_prefixes": kind.symbol_prefixes.split()}


def classification_scheme(scheme: ClassificationScheme) -> dict:
    return {
        "id": scheme.id,
        "code": scheme.code,
        "name_vi": scheme.name_vi,
        "name_en": scheme.name_en,
        "allows_many": scheme.allows_many,
        "values": [
            {"id": value.id, "code": value.code, "name_vi": value.name_vi,
             "name_en": value.name_en, "is_active": value.is_active}
            for value in scheme.values
        ],
    }


def document(doc: Document) -> dict:
    return {
        "id": doc.id,
        "reference": doc.reference,
        "number": doc.number,
        "symbol": doc.symbol,
        "kind": document_kind(doc.kind) if doc.kind else None,
        "summary": doc.summary,
        "summary_withheld": doc.confidentiality != "regular",
        "issued_on": day(doc.issued_on),
        "signer": doc.signer,
        "issuing_body": doc.issuing_body,
        "submitting_body": doc.submitting_body,
        "confidentiality": doc.confidentiality,
        "task_count": doc.task_count,
        "created_at": instant(doc.created_at),
    }


def level_counts(counts: dict[str, int]) -> dict:
    return {"total": sum(counts.values()), "counts": {level: counts[level] for level in LEVELS}}


def _deadline(task: Task) -> dict:
    return {
        "text": task.deadline_text,
        "on": day(task.deadline_on),
        "at": instant(task.deadline_at),
        "precision": task.deadline_precision,
    }


def _group(group) -> dict:  # noqa: ANN001 - GroupAssignment
    return {"id": group.id, "role": group.role, "text": group.text,
            "resolved": group.resolved_at is not None, "resolved_at": instant(group.resolved_at)}


def task_summary(task: Task, level: str) -> dict:
    """Build the JSON of a task as lists show it: no history, no service-level deadlines."""
    regular = task.confidentiality == "regular"
    return {
        "id": task.id,
        "document": {"id": task.document.id, "reference": task.document.reference},
        "position": task.position,
        "task_no": task.task_no,
        "section": task.section if regular else None,
        "content": task.content if regular else None,
        "content_withheld": not regular,
        "confidentiality": task.confidentiality,
        "lead_agencies": [org_unit_ref(link.org_unit) for link in task.agencies
                          if link.role == "lead"],
        "group_assignments": [_group(group) for group in task.group_assignments],
        "deadline": _deadline(task),
        "reported_state": task.reported_state,
        "completed_at": instant(task.completed_at),
        "progress_percent": task.progress_percent,
        "level": level,
    }


def _event(event: TaskEvent) -> dict:
    return {"id": event.id, "kind": event.kind, "at": instant(event.at), "actor": event.actor,
            "detail": event.detail}


def task_detail(task: Task, at: datetime) -> dict:
    """Build the JSON of every stored field of a task, with its level as of `at`."""
    regular = task.confidentiality == "regular"
    body = task_summary(task, level_of(task, at))
    body.update({
        "product": task.product if regular else None,
        "result_summary": task.result_summary if regular else None,
        "extra": task.extra if regular else None,
        "agencies": {role: [org_unit_ref(link.org_unit) for link in task.agencies
                            if link.role == role] for role in AGENCY_ROLES},
        "classifications": [
            {"id": value.id, "scheme": value.scheme.code, "code": value.code,
             "name_vi": value.name_vi, "name_en": value.name_en}
            for value in task.classifications
        ],
        "transferred_at": instant(task.transferred_at),
        "received_at": instant(task.received_at),
        "service_deadlines": [
            {"kind": row.kind, "due_at": instant(row.due_at), "basis_at": instant(row.basis_at),
             "pending_reason": row.pending_reason}
            for row in sorted(task.deadlines, key=lambda row: DEADLINE_KINDS.index(row.kind))
        ],
        "history": [_event(event) for event in task.events],
        "created_at": instant(task.created_at),
        "updated_at": instant(task.updated_at),
        "at": instant(at),
    })
    return body
