"""The words of a report, translated once when it is produced and stored with it.

A report is a record: its text must not change when the catalogue does, so
every label it needs is written into the snapshot in the node's language.
The functions take the `gettext` to use, so they work in a web request and
in a scheduler job alike (see `translator`).
"""

from __future__ import annotations

from collections.abc import Callable

from babel.support import NullTranslations, Translations

from node.core.catalogs import TRANSLATIONS_DIR, compile_catalogs

Gettext = Callable[..., str]

_LOADED: dict[str, NullTranslations] = {}


def translator(locale: str) -> Gettext:
    """Return a gettext for `locale` that needs no Flask request, with %(name)s placeholders."""
    translations = _LOADED.get(locale)
    if translations is None:
        compile_catalogs()
        translations = Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")
        _LOADED[locale] = translations

    def gettext(msgid: str, **values: object) -> str:
        text = translations.gettext(msgid)
        return text % values if values else text

    return gettext


def level_labels(_: Gettext) -> dict[str, str]:
    return {
        "completed_on_time": _("Completed on time"),
        "completed_late": _("Completed late"),
        "in_progress_on_time": _("In progress, on time"),
        "in_progress_overdue": _("In progress, overdue"),
        "implemented_not_completed": _("Implemented but not completed"),
        "not_started_on_time": _("Not started, on time"),
        "not_started_overdue": _("Not started, overdue"),
    }


def kind_labels(_: Gettext) -> dict[str, str]:
    return {
        "monthly": _("Monthly report"),
        "quarterly": _("Quarterly report"),
        "half_yearly": _("Half-yearly report"),
        "yearly": _("Yearly report"),
        "ad_hoc": _("Report on request"),
    }


def scope_labels(_: Gettext) -> dict[str, str]:
    return {"agency": _("Agency report"), "summary": _("Party committee office summary")}


QUARTER_NUMERALS = ("I", "II", "III", "IV")


def period_phrase(_: Gettext, kind: str, start, end) -> str:  # noqa: ANN001
    """Name the period as a report title does: "quý IV năm 2026", "tháng 11 năm 2026"...

    A periodic report is named after the month, quarter, half-year or year its
    last day falls in, which also fits the summaries cut off on the 24th.
    """
    if kind == "monthly":
        return _("month %(month)s of %(year)s", month=end.month, year=end.year)
    if kind == "quarterly":
        return _("quarter %(quarter)s of %(year)s",
                 quarter=QUARTER_NUMERALS[(end.month - 1) // 3], year=end.year)
    if kind == "half_yearly":
        if end.month <= 6:
            return _("the first half of %(year)s", year=end.year)
        return _("the second half of %(year)s", year=end.year)
    if kind == "yearly":
        return _("the year %(year)s", year=end.year)
    return _("from %(start)s to %(end)s", start=start.strftime("%d/%m/%Y"),
             end=end.strftime("%d/%m/%Y"))


def document_labels(_: Gettext) -> dict[str, str]:
    """Return every fixed text of the laid-out report, translated with `_`."""
    return {
        "party": _("COMMUNIST PARTY OF VIETNAM"),
        "report": _("REPORT"),
        "draft": _("DRAFT"),
        "number": _("No. %(symbol)s"),
        "number_blank": _("No.      -BC/%(code)s"),
        "place_date": _("%(place)s, day %(day)s month %(month)s year %(year)s"),
        "as_of": _("Period from %(start)s to %(end)s; figures as of %(as_of)s "
                   "(Vietnam time)."),
        "scope_summary": _("Scope: every task followed on this node."),
        "scope_agency": _("Scope: the tasks led by %(name)s and the units under it."),
        "section_levels": _("I. Tasks by completion level"),
        "section_agencies": _("II. Tasks by lead agency"),
        "section_documents": _("III. Tasks by assigning document"),
        "section_overdue": _("IV. Overdue tasks"),
        "section_completed": _("V. Tasks completed in the period"),
        "level": _("Completion level"),
        "count": _("Number of tasks"),
        "share": _("Share"),
        "total": _("Total"),
        "agency": _("Lead agency"),
        "document": _("Document"),
        "overdue": _("Overdue"),
        "not_yet_due": _("Not yet due"),
        "completed": _("Completed"),
        "no_": _("No."),
        "task": _("Task"),
        "deadline": _("Deadline"),
        "completed_on": _("Completed on"),
        "none_listed": _("None."),
        "more_rows": _("…and %(count)s more tasks, not listed here."),
        "confidential_task": _("(task of a confidential document: content not recorded)"),
        "no_deadline": _("No deadline"),
        "recipients": _("Recipients:"),
        "signature": _("ON BEHALF OF %(name)s"),
        "summary_title": _("Summary of the implementation of assigned tasks in %(period)s"),
        "agency_title": _("Implementation of assigned tasks by %(name)s in %(period)s"),
        "totals_sentence": _("%(total)s tasks: %(completed)s completed (%(on_time)s on time), "
                             "%(overdue)s overdue."),
        "sheet_summary": _("Overview"),
        "sheet_agencies": _("By agency"),
        "sheet_documents": _("By document"),
        "sheet_overdue": _("Overdue"),
        "sheet_completed": _("Completed in the period"),
    }


def default_recipients(_: Gettext, scope: str) -> list[str]:
    if scope == "summary":
        return [_("The Secretariat (to report)"), _("The Standing Member of the Secretariat "
                                                    "(to report)"), _("Filed at the office")]
    return [_("The Central Party Office (to consolidate)"),
            _("The Central Inspection Commission (for inspection and supervision)"),
            _("Filed at the office")]
