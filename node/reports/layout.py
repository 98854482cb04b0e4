"""The laid-out report: header, title, sentences, tables and recipients, from a snapshot.

The three exports (DOCX, XLSX, PDF) draw the same `Layout`, so their content
is identical. Only the snapshot is read, never the tasks, so an issued report
looks the same however the data change afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from node.core.timezone import VN_TZ
from node.local_tasks.completion import LEVELS, OVERDUE_LEVELS
from node.reports.models import ReportSnapshot


@dataclass
class Table:
    heading: str
    columns: list[str]
    rows: list[list[object]]
    # Relative widths of the columns, for the page layouts.
    widths: list[float]
    # Shown under the heading when the table has no row, or under it when rows were cut.
    note: str | None = None
    sheet: str = ""


@dataclass
class Layout:
    issuer_name: str
    number_line: str
    party: str
    place_date: str
    report_word: str
    title: str
    is_draft: bool
    draft_word: str
    sentences: list[str]
    tables: list[Table] = field(default_factory=list)
    recipients_heading: str = ""
    recipients: list[str] = field(default_factory=list)
    signature: str = ""
    file_stem: str = "report"


def _place_date(labels: dict, place: str, day: date) -> str:
    return labels["place_date"] % {"place": place, "day": f"{day.day:02d}",
                                   "month": f"{day.month:02d}", "year": day.year}


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%".replace(".", ",") if total else "0,0%"


def _figure_columns(labels: dict, levels: dict) -> list[str]:
    return [labels["total"], levels["completed_on_time"], levels["completed_late"],
            labels["overdue"], labels["not_yet_due"]]


def _figures(counts: dict[str, int], total: int) -> list[object]:
    overdue = sum(counts[name] for name in OVERDUE_LEVELS)
    not_due = counts["in_progress_on_time"] + counts["not_started_on_time"]
    return [total, counts["completed_on_time"], counts["completed_late"], overdue, not_due]


def _task_text(labels: dict, row: dict) -> str:
    number = f"{row['task_no']}. " if row.get("task_no") else ""
    return number + (labels["confidential_task"] if row["confidential"] else row["content"] or "")


def _task_tables(content: dict) -> list[Table]:
    labels, levels = content["labels"], content["level_labels"]
    overdue, completed = content["overdue_tasks"], content["completed_tasks"]

    def note(listing: dict) -> str | None:
        if not listing["rows"]:
            return labels["none_listed"]
        return labels["more_rows"] % {"count": listing["more"]} if listing["more"] else None

    return [
        Table(labels["section_overdue"],
              [labels["no_"], labels["document"], labels["task"], labels["agency"],
               labels["deadline"], labels["level"]],
              [[index, row["document"], _task_text(labels, row), "; ".join(row["leads"]),
                row["deadline"] or labels["no_deadline"], levels[row["level"]]]
               for index, row in enumerate(overdue["rows"], 1)],
              [0.6, 1.6, 4.2, 2.2, 1.3, 1.7], note(overdue), labels["sheet_overdue"]),
        Table(labels["section_completed"],
              [labels["no_"], labels["document"], labels["task"], labels["agency"],
               labels["deadline"], labels["completed_on"]],
              [[index, row["document"], _task_text(labels, row), "; ".join(row["leads"]),
                row["deadline"] or labels["no_deadline"], row["completed_on"]]
               for index, row in enumerate(completed["rows"], 1)],
              [0.6, 1.6, 4.2, 2.2, 1.5, 1.5], note(completed), labels["sheet_completed"]),
    ]


def _count_tables(content: dict) -> list[Table]:
    labels, levels = content["labels"], content["level_labels"]
    totals = content["totals"]
    total = totals["total"]
    level_rows: list[list[object]] = [
        [levels[name], totals["counts"][name], _share(totals["counts"][name], total)]
        for name in LEVELS]
    level_rows.append([labels["total"], total, _share(total, total)])
    figure_widths = [0.6, 4.4, 1.0, 1.3, 1.3, 1.0, 1.2]
    return [
        Table(labels["section_levels"], [labels["level"], labels["count"], labels["share"]],
              level_rows, [6.0, 2.0, 2.0], sheet=labels["sheet_summary"]),
        Table(labels["section_agencies"],
              [labels["no_"], labels["agency"], *_figure_columns(labels, levels)],
              [[index, row["name"], *_figures(row["counts"], row["total"])]
               for index, row in enumerate(content["by_agency"], 1)],
              figure_widths, None if content["by_agency"] else labels["none_listed"],
              labels["sheet_agencies"]),
        Table(labels["section_documents"],
              [labels["no_"], labels["document"], *_figure_columns(labels, levels)],
              [[index, row["reference"], *_figures(row["counts"], row["total"])]
               for index, row in enumerate(content["by_document"], 1)],
              figure_widths, None if content["by_document"] else labels["none_listed"],
              labels["sheet_documents"]),
    ]


def layout(snapshot: ReportSnapshot) -> Layout:
    """Lay out a report snapshot for the exports."""
    content = snapshot.content
    labels = content["labels"]
    issuer = content["issuer"]
    when: datetime = snapshot.issued_at or snapshot.produced_at
    if snapshot.symbol:
        number_line = labels["number"] % {"symbol": snapshot.symbol}
    else:
        number_line = labels["number_blank"] % {"code": issuer["code"]}
    as_of = datetime.fromisoformat(content["as_of"]).astimezone(VN_TZ)
    totals = content["totals"]
    sentences = [
        labels["as_of"] % {"as_of": as_of.strftime("%H:%M %d/%m/%Y"),
                           "start": date.fromisoformat(content["period"]["start"]).strftime(
                               "%d/%m/%Y"),
                           "end": date.fromisoformat(content["period"]["end"]).strftime(
                               "%d/%m/%Y")},
        labels["scope_summary"] if content["scope"] == "summary"
        else labels["scope_agency"] % {"name": content["org_unit"]["name"]},
        labels["totals_sentence"] % {"total": totals["total"], "completed": totals["completed"],
                                     "on_time": totals["completed_on_time"],
                                     "overdue": totals["overdue"]},
    ]
    stem = (snapshot.symbol or f"draft-{snapshot.id}").replace("/", "-")
    return Layout(
        issuer_name=issuer["name"].upper(), number_line=number_line, party=labels["party"],
        place_date=_place_date(labels, content["place"], when.astimezone(VN_TZ).date()),
        report_word=labels["report"], title=content["title"],
        is_draft=snapshot.status != "issued", draft_word=labels["draft"], sentences=sentences,
        tables=[*_count_tables(content), *_task_tables(content)],
        recipients_heading=labels["recipients"], recipients=content["recipients"],
        signature=labels["signature"] % {"name": issuer["name"].upper()},
        file_stem=f"bao-cao-{stem}-v{snapshot.version}",
    )
