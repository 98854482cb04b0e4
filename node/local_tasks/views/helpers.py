"""Template helpers: dates in Vietnam time, percentages, labels and links that keep the filters."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

from flask import request
from flask_babel import format_decimal, get_locale

from node.core.timezone import VN_TZ
from node.local_tasks.completion import LEVELS, OVERDUE_LEVELS
from node.local_tasks.views import labels, views


def current_locale() -> str:
    locale = get_locale()
    return locale.language if locale is not None else "vi"


@views.app_template_filter("vn_date")
def vn_date(value: date | datetime | None) -> str:
    """Format a date as dd/mm/yyyy; an instant is first turned into Vietnam time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(VN_TZ).date()
    return value.strftime("%d/%m/%Y")


@views.app_template_filter("vn_datetime")
def vn_datetime(value: datetime | None) -> str:
    """Format an instant as dd/mm/yyyy HH:MM in Vietnam time."""
    if value is None:
        return ""
    return value.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


@views.app_template_filter("iso_local")
def iso_local(value: datetime | None) -> str:
    """Format an instant for an <input type=datetime-local>, in Vietnam time."""
    if value is None:
        return ""
    return value.astimezone(VN_TZ).strftime("%Y-%m-%dT%H:%M")


@views.app_template_global()
def percent(count: int, total: int) -> str:
    """Return count/total as a percentage with one decimal, in the page's number format."""
    if not total:
        return format_decimal(0, format="#,##0.0")
    return format_decimal(round(100 * count / total, 1), format="#,##0.0")


@views.app_template_global()
def number(value: int) -> str:
    return format_decimal(value)


@views.app_template_global()
def url_with(**changes: object) -> str:
    """Return the current path and query with `changes` applied; None removes a parameter.

    A change of filter goes back to the first page, because the old page
    number means nothing for a new filter.
    """
    args = request.args.copy()
    args.pop("lang", None)
    if any(name not in ("page", "lang") for name in changes):
        args.pop("page", None)
    for name, value in changes.items():
        args.pop(name, None)
        if value is None:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            args.add(name, str(item))
    query = urlencode(list(args.items(multi=True)))
    return f"{request.path}?{query}" if query else request.path


@views.app_template_global()
def localized_name(record: object) -> str:
    """Return the English or Vietnamese name of a reference record, by the page's language."""
    if current_locale() == "en":
        return getattr(record, "name_en", None) or getattr(record, "name_vi", "")
    return getattr(record, "name_vi", None) or getattr(record, "name_en", "")


@views.app_template_global()
def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Return the page numbers a pager shows, None marking a gap."""
    numbers = sorted({1, pages, *range(max(1, page - around), min(pages, page + around) + 1)})
    result: list[int | None] = []
    for index, value in enumerate(numbers):
        if index and value - numbers[index - 1] > 1:
            result.append(None)
        result.append(value)
    return result


@views.app_context_processor
def _template_context() -> dict:
    return {
        "locale": current_locale(),
        "LEVELS": LEVELS,
        "OVERDUE_LEVELS": OVERDUE_LEVELS,
        "labels": labels,
        "label": labels.label,
    }
