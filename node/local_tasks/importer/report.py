"""Text and JSON renderings of an import's outcome."""

from __future__ import annotations

import json

from node.core.i18n import lazy_gettext as _l
from node.local_tasks.importer.importer import Problem, confidentiality_name
from node.local_tasks.importer.storing import ImportResult


def report_dict(result: ImportResult) -> dict:
    """Return the outcome as plain data: counts, documents, created agencies and problems.

    Unless "written" is true, "created_agencies" lists the agencies that would be created.
    """
    return {
        "file": result.file_name,
        "dry_run": result.dry_run,
        "written": result.written,
        "rejected": result.rejected,
        "counts": {
            "documents": len(result.documents),
            "tasks": result.task_count,
            "group_assignments": result.group_assignment_count,
            "created_agencies": len(result.created_agencies),
            "problems": len(result.problems),
        },
        "documents": [
            {
                "reference": document.reference,
                "tasks": document.tasks,
                "group_assignments": document.group_assignments,
                "confidentiality": document.confidentiality,
            }
            for document in result.documents
        ],
        "created_agencies": list(result.created_agencies),
        "problems": [problem.as_dict() for problem in result.problems],
        "notes": list(result.notes),
    }


def render_json(result: ImportResult) -> str:
    """Render the outcome as indented JSON with the Vietnamese text unescaped."""
    return json.dumps(report_dict(result), ensure_ascii=False, indent=2)


def _status(result: ImportResult) -> str:
    count = len(result.problems)
    if result.rejected:
        return str(_l("Rejected: nothing was read or written."))
    if count:
        return str(_l("Nothing was written: the file has {count} problem(s). Correct them and "
                      "import the file again.")).format(count=count)
    if result.dry_run:
        return str(_l("Dry run: the file is valid and nothing was written."))
    if result.written:
        return str(_l("Imported."))
    return str(_l("Nothing was written."))


def format_problem(problem: Problem) -> str:
    """Render one problem as "row 12, column E (Thời hạn), value '31/02/2026': reason"."""
    parts = []
    if problem.document:
        parts.append(str(_l("document {reference}")).format(reference=problem.document))
    if problem.row is not None:
        parts.append(str(_l("row {row}")).format(row=problem.row))
    if problem.column:
        parts.append(str(_l("column {column}")).format(column=problem.column))
    if problem.value not in (None, ""):
        parts.append(str(_l("value '{value}'")).format(value=problem.value))
    elif problem.value == "":
        parts.append(str(_l("empty cell")))
    where = ", ".join(parts)
    return f"{where}: {problem.reason}" if where else problem.reason


def render_text(result: ImportResult) -> str:
    """Render the outcome for a terminal: status, counts, documents, agencies, problems.

    Agencies are reported as created only when the import was written, and
    as those that would be created otherwise (a dry run, or problems found).
    """
    if result.written:
        counts = _l("Documents: {documents}   Tasks: {tasks}   Group assignments: {groups}   "
                    "Agencies created: {agencies}")
        heading = _l("Agencies created for review:")
    else:
        counts = _l("Documents: {documents}   Tasks: {tasks}   Group assignments: {groups}   "
                    "Agencies that would be created: {agencies}")
        heading = _l("Agencies that would be created for review:")
    lines = [
        str(_l("File: {name}")).format(name=result.file_name),
        _status(result),
        str(counts).format(
            documents=len(result.documents),
            tasks=result.task_count,
            groups=result.group_assignment_count,
            agencies=len(result.created_agencies),
        ),
    ]
    for document in result.documents:
        lines.append("  " + str(_l(
            "{reference}: {tasks} task(s), {groups} group assignment(s), {level}"
        )).format(reference=document.reference or "?", tasks=document.tasks,
                  groups=document.group_assignments,
                  level=confidentiality_name(document.confidentiality)))
    if result.created_agencies:
        lines.append(str(heading))
        lines.extend(f"  {name}" for name in result.created_agencies)
    if result.problems:
        lines.append(str(_l("Problems:")))
        lines.extend(f"  {format_problem(problem)}" for problem in result.problems)
    if result.notes:
        lines.append(str(_l("Notes:")))
        lines.extend(f"  {note}" for note in result.notes)
    return "\n".join(lines)
