"""One place that imports every model module, so metadata is complete."""


def import_all_models() -> None:
    import node.audit.models  # noqa: F401
    import node.auth.models  # noqa: F401
    import node.dashboard.counters  # noqa: F401 - models and the counter upkeep on flush
    import node.evaluation.models  # noqa: F401
    import node.federation.content_models  # noqa: F401
    import node.federation.models  # noqa: F401
    import node.federation_merge_check  # noqa: F401 - registers the merge's check of linked nodes
    import node.local_tasks.assessment.models  # noqa: F401
    import node.local_tasks.models  # noqa: F401
    import node.local_tasks.workflow.models  # noqa: F401
    import node.notifications.models  # noqa: F401
    import node.reports.models  # noqa: F401
    import node.scheduler.models  # noqa: F401
    import node.signatures.models  # noqa: F401
