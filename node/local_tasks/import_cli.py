"""The `theodoi import` command: load a task table (CSV or XLSX) into the node.

The report is written in the node's default_locale unless --lang names
another language; with --json its reasons and notes are translated too.

Exit status: 0 when the file was imported, or with --dry-run is valid.
1 when the file has problems: the report lists them and nothing is written.
2 for a usage error such as an unknown option or a bad date.
"""

from __future__ import annotations

import getpass
import re
import sys
from datetime import date
from pathlib import Path

import click

from node.local_tasks.importer.importer import (
    ImportOptions,
    confidentiality_code,
    parse_file,
)
from node.local_tasks.importer.readers import CSV_SUFFIXES, XLSX_SUFFIXES

EXIT_OK = 0
EXIT_PROBLEMS = 1


def _issue_date(_context: click.Context, _parameter: click.Parameter,
                value: str | None) -> date | None:
    if value is None:
        return None
    text = value.strip()
    try:
        match = re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})", text)
        if match:
            return date(int(match[3]), int(match[2]), int(match[1]))
        return date.fromisoformat(text)
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r} is not a date; write it as dd/mm/yyyy or yyyy-mm-dd"
        ) from error


def _confidentiality(_context: click.Context, _parameter: click.Parameter,
                     value: str | None) -> str | None:
    # An absolutely secret value passes, so that the import rejects the file
    # with its full message.
    if value is not None and confidentiality_code(value) is None:
        raise click.BadParameter(
            f"{value!r} is not a confidentiality level; use thường, mật or tối mật "
            "(regular, confidential, top_secret)"
        )
    return value


def _actor() -> str:
    """Name the person running the command, for the audit log."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):
        return "cli"


def _file(_context: click.Context, _parameter: click.Parameter, value: Path) -> Path:
    if value.suffix.lower() not in CSV_SUFFIXES + XLSX_SUFFIXES + (".xls",):
        raise click.BadParameter(f"{value.name} is neither a .csv nor an .xlsx file")
    return value


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                callback=_file)
@click.option("--dry-run", is_flag=True,
              help="Check everything, agency names included, and write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--create-agencies", is_flag=True,
              help="Create agencies that match no org unit, marked for review under the root.")
@click.option("--reference", help="Number and symbol of the document, e.g. 617/KH-UBND.")
@click.option("--issued-on", callback=_issue_date,
              help="Issue date of the document, dd/mm/yyyy or yyyy-mm-dd.")
@click.option("--kind", help="Document kind code, e.g. plan, decision, resolution, notice.")
@click.option("--summary", help="Summary (trích yếu) of the document.")
@click.option("--issuer", help="Issuing body of the document.")
@click.option("--confidentiality", callback=_confidentiality,
              help="thường, mật or tối mật (regular, confidential, top_secret).")
@click.option("--sheet", help="Sheet of an XLSX workbook; default: the first with a task header.")
@click.option("--lang", type=click.Choice(["vi", "en"]),
              help="Language of the report (default: the node's default_locale).")
def import_command(file: Path, dry_run: bool, as_json: bool, create_agencies: bool,
                   reference: str | None, issued_on: date | None, kind: str | None,
                   summary: str | None, issuer: str | None, confidentiality: str | None,
                   sheet: str | None, lang: str | None) -> None:
    """Import the tasks of FILE (CSV or XLSX): the whole file or nothing.

    Options give the document's details for a table of one document; a
    table with a document-number column gives one document per number.
    """
    from node.core.cli_support import cli_settings, open_session
    from node.core.i18n import translated_into
    from node.local_tasks.importer.report import render_json, render_text
    from node.local_tasks.importer.storing import store_documents, summarise

    settings = cli_settings()
    options = ImportOptions(
        reference=reference, issued_on=issued_on, kind=kind, summary=summary, issuer=issuer,
        confidentiality=confidentiality, sheet=sheet, create_agencies=create_agencies,
        dry_run=dry_run,
    )
    show_progress = not as_json
    # Problems and notes are worded as they are found, so the whole import
    # runs in the report's language.
    with translated_into(lang or settings.default_locale):
        parsed = parse_file(file, options, progress=show_progress)
        if parsed.rejected:
            result = summarise(parsed, dry_run=dry_run)
        else:
            with open_session(settings) as session:
                result = store_documents(session, parsed, options, actor=_actor(),
                                         progress=show_progress)
        click.echo(render_json(result) if as_json else render_text(result))
    sys.exit(EXIT_PROBLEMS if result.problems else EXIT_OK)
