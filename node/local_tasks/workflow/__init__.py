"""Workflow of a task: transfer, receipt, objections, progress updates and explanations.

`service` covers Điều 6 (transfer, receipt, objections), `progress` the
reviewed progress updates of Điều 15 and optimistic locking, and
`explanations` the explanation requests of Điều 15.4.
"""

from node.local_tasks.workflow.errors import (
    IdempotencyKeyReusedError,
    SelfApprovalError,
    StaleTaskError,
    WorkflowStateError,
)
from node.local_tasks.workflow.explanations import (
    answer_explanation,
    open_explanations_for_missed_checkpoints,
    request_explanation,
)
from node.local_tasks.workflow.progress import (
    approve_update,
    return_update,
    submit_update,
    update_task_fields,
)
from node.local_tasks.workflow.service import (
    confirm_receipt,
    decide_objection,
    lodge_objection,
    transfer_task,
)

__all__ = [
    "IdempotencyKeyReusedError",
    "SelfApprovalError",
    "StaleTaskError",
    "WorkflowStateError",
    "answer_explanation",
    "approve_update",
    "confirm_receipt",
    "decide_objection",
    "lodge_objection",
    "open_explanations_for_missed_checkpoints",
    "request_explanation",
    "return_update",
    "submit_update",
    "transfer_task",
    "update_task_fields",
]
