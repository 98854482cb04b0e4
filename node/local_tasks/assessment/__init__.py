"""Assessment of tasks: evaluations, inspection findings, attachments and assignment.

See `service` for the rules of each part and `models` for the tables.
"""

from node.local_tasks.assessment.service import (
    ALLOWED_TYPES,
    SKIP_REASONS,
    AttachmentIntegrityError,
    AttachmentTooLargeError,
    attachments_of,
    classify_task,
    clean_filename,
    close_finding,
    current_evaluation,
    evaluate_task,
    evaluation_history,
    findings_for_org_unit,
    findings_for_task,
    is_transfer_late,
    open_attachment,
    record_finding,
    resolve_group_assignment,
    store_attachment,
    transfer_deadline,
    transfer_document,
    untransferable_tasks,
)

__all__ = [
    "ALLOWED_TYPES",
    "SKIP_REASONS",
    "AttachmentIntegrityError",
    "AttachmentTooLargeError",
    "attachments_of",
    "classify_task",
    "clean_filename",
    "close_finding",
    "current_evaluation",
    "evaluate_task",
    "evaluation_history",
    "findings_for_org_unit",
    "findings_for_task",
    "is_transfer_late",
    "open_attachment",
    "record_finding",
    "resolve_group_assignment",
    "store_attachment",
    "transfer_deadline",
    "transfer_document",
    "untransferable_tasks",
]
