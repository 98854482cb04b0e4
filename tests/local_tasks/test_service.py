"""Documents and tasks through the service layer: Điều 5 rules and service levels."""

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from node.core.errors import ValidationError
from node.local_tasks.deadlines_service import recompute_all
from node.local_tasks.errors import AbsolutelySecretError, DocumentExistsError
from node.local_tasks.inputs import DeadlineInput, DocumentInput, TaskInput
from node.local_tasks.models import Document, OrgUnit, Task
from node.local_tasks.service import create_document, find_org_unit, parse_confidentiality

VN = timezone(timedelta(hours=7))


def _task(**changes) -> TaskInput:
    values = dict(task_no="1", content="Xây dựng kế hoạch triển khai",
                  lead_agencies=["Văn phòng Trung ương Đảng"],
                  deadline=DeadlineInput(text="6/2026", on=date(2026, 6, 30), precision="month"))
    values.update(changes)
    return TaskInput(**values)


def _document(**changes) -> DocumentInput:
    values = dict(reference="05/KH-VPTW", summary="Kế hoạch thực hiện", issued_on=date(2026, 3, 2),
                  tasks=[_task()])
    values.update(changes)
    return DocumentInput(**values)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("word", ["tuyệt mật", "TUYỆT MẬT", "Tuyet mat", "absolutely_secret"])
def test_absolutely_secret_is_rejected(session, calendar, word):
    documents_before = _count(session, Document)
    with pytest.raises(AbsolutelySecretError) as raised:
        create_document(session, _document(confidentiality=word), calendar=calendar)
    assert "tuyệt mật" in raised.value.message
    assert raised.value.problems[0].path == "confidentiality"
    assert _count(session, Document) == documents_before


@pytest.mark.parametrize(("word", "code"), [("", "regular"), ("Thường", "regular"),
                                            ("mật", "confidential"), ("MẬT", "confidential"),
                                            ("tối mật", "top_secret"), ("top_secret", "top_secret")])
def test_confidentiality_words(word, code):
    assert parse_confidentiality(word) == code


def test_unknown_confidentiality_names_value():
    with pytest.raises(ValidationError) as raised:
        parse_confidentiality("bí mật quốc gia")
    assert raised.value.problems[0].value == "bí mật quốc gia"


def test_confidential_document_rejects_summary_and_content(session, calendar):
    with pytest.raises(ValidationError) as raised:
        create_document(session, _document(confidentiality="mật"), calendar=calendar)
    paths = {problem.path for problem in raised.value.problems}
    assert paths == {"summary", "tasks[0].content"}
    assert _count(session, Document) == 0


def test_confidential_document_stores_count_and_deadline_only(session, calendar):
    tasks = [_task(task_no=str(n), content=None) for n in range(1, 4)]
    document = create_document(session, _document(confidentiality="tối mật", summary=None,
                                                  tasks=tasks), calendar=calendar)
    assert document.confidentiality == "top_secret"
    assert document.summary is None
    assert document.task_count == 3
    assert all(task.content is None and task.product is None for task in document.tasks)
    assert document.tasks[0].deadline_on == date(2026, 6, 30)


def test_confidential_document_with_count_only(session, calendar):
    document = create_document(session, _document(confidentiality="mật", summary=None, tasks=[],
                                                  task_count=7), calendar=calendar)
    assert document.task_count == 7
    assert document.tasks == []


def test_every_problem_reported_at_once(session, calendar):
    bad = _document(reference="không số", tasks=[
        _task(content=""),
        _task(lead_agencies=[], reported_state="finished"),
        _task(progress_percent=140),
    ])
    with pytest.raises(ValidationError) as raised:
        create_document(session, bad, calendar=calendar)
    paths = [problem.path for problem in raised.value.problems]
    assert "reference" in paths
    assert "tasks[0].content" in paths
    assert "tasks[1].lead_agencies" in paths
    assert "tasks[1].reported_state" in paths
    assert "tasks[2].progress_percent" in paths
    assert _count(session, Task) == 0


def test_unknown_agency_rejected_without_create(session, calendar):
    with pytest.raises(ValidationError) as raised:
        create_document(session, _document(tasks=[_task(lead_agencies=["Sở Tài chính tỉnh X"])]),
                        calendar=calendar)
    assert raised.value.problems[0].value == "Sở Tài chính tỉnh X"
    assert _count(session, Document) == 0


def test_missing_agency_created_for_review(session, calendar):
    document = create_document(
        session, _document(tasks=[_task(lead_agencies=["Bộ Tài chính", "Bộ Nội vụ"])]),
        create_agencies=True, calendar=calendar)
    leads = [link.org_unit for link in document.tasks[0].agencies if link.role == "lead"]
    assert [unit.name for unit in leads] == ["Bộ Tài chính", "Bộ Nội vụ"]
    assert all(unit.needs_review and unit.kind == "imported" for unit in leads)


def test_agency_matched_by_alias_ignoring_accents(session):
    unit = find_org_unit(session, "tinh uy cao bang")
    assert unit is not None
    assert unit.gso_code == "04"
    assert find_org_unit(session, "Thành ủy Hà Nội").code == "TU01"


def test_group_assignment_kept_verbatim(session, calendar):
    task = _task(lead_agencies=["Bộ Tài chính"],
                 group_assignments=[("coordinating", "Các bộ, ngành, địa phương")])
    document = create_document(session, _document(tasks=[task]), create_agencies=True,
                               calendar=calendar)
    groups = document.tasks[0].group_assignments
    assert [(group.role, group.text) for group in groups] == [
        ("coordinating", "Các bộ, ngành, địa phương")]
    fake = session.scalar(select(func.count()).select_from(OrgUnit)
                          .where(OrgUnit.name_folded.like("%bo, nganh%")))
    assert fake == 0


def test_group_lead_is_enough_for_a_task(session, calendar):
    task = _task(lead_agencies=[], group_assignments=[("lead", "UBND các tỉnh, thành phố")])
    document = create_document(session, _document(tasks=[task]), calendar=calendar)
    assert document.tasks[0].agencies == []


def test_duplicate_document_rejected(session, calendar):
    create_document(session, _document(), calendar=calendar)
    with pytest.raises(DocumentExistsError):
        create_document(session, _document(), calendar=calendar)


def _deadlines(task: Task) -> dict[str, datetime | None]:
    return {row.kind: row.due_at for row in task.deadlines}


def test_service_levels_of_a_four_month_task(session, calendar):
    # Issued Mon 2026-03-02, deadline 2026-06-30: 3 to 6 months, so checkpoints at half and
    # three quarters and the result report 5 working days after the deadline.
    document = create_document(session, _document(), calendar=calendar)
    due = _deadlines(document.tasks[0])
    # Transfer: 3rd working day after Mon 2026-03-02 is Thu 2026-03-05, end of day.
    assert due["transfer"] == datetime(2026, 3, 5, 17, 0, tzinfo=VN)
    # Half of 120 days after 2026-03-02 is 2026-05-01 (a holiday), so Mon 2026-05-04.
    assert due["checkpoint_half"] == datetime(2026, 5, 4, 17, 0, tzinfo=VN)
    # Three quarters: 90 days after 2026-03-02 is Sun 2026-05-31, so Mon 2026-06-01.
    assert due["checkpoint_three_quarters"] == datetime(2026, 6, 1, 17, 0, tzinfo=VN)
    # Five working days after Tue 2026-06-30: Jul 1, 2, 3, 6, 7.
    assert due["result_report"] == datetime(2026, 7, 7, 17, 0, tzinfo=VN)


def test_service_levels_of_a_short_task(session, calendar):
    task = _task(deadline=DeadlineInput(text="20/03/2026", on=date(2026, 3, 20), precision="day"))
    document = create_document(session, _document(tasks=[task]), calendar=calendar)
    due = _deadlines(document.tasks[0])
    assert "checkpoint_half" not in due
    # Three working days after Fri 2026-03-20: Mar 23, 24, 25.
    assert due["result_report"] == datetime(2026, 3, 25, 17, 0, tzinfo=VN)


def test_receipt_deadline_from_transfer(session, calendar):
    transferred = datetime(2026, 3, 6, 16, 30, tzinfo=VN)
    document = create_document(session, _document(tasks=[_task(transferred_at=transferred)]),
                               calendar=calendar)
    # 30 minutes on Friday, then 3.5 hours on Monday from 08:00.
    assert _deadlines(document.tasks[0])["receipt"] == datetime(2026, 3, 9, 11, 30, tzinfo=VN)


def test_deadline_in_year_without_calendar_is_pending(session, calendar):
    task = _task(deadline=DeadlineInput(text="Năm 2030", on=date(2030, 12, 31), precision="year"))
    document = create_document(session, _document(tasks=[task]), calendar=calendar)
    row = next(r for r in document.tasks[0].deadlines if r.kind == "result_report")
    assert row.due_at is None
    assert "2030" in row.pending_reason


def test_recompute_follows_calendar_change(session, calendar, settings, tmp_path):
    document = create_document(session, _document(), calendar=calendar)
    # Make Wed 2026-03-04 an extra day off: the transfer deadline moves to Fri 2026-03-06.
    for source in settings.calendar_dir.glob("*.toml"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    extra = ('\n[[days_off]]\ndate = 2026-03-04\nreason = "Nghỉ thử"\nsource = "test"\n')
    with open(tmp_path / "2026.toml", "a", encoding="utf-8") as handle:
        handle.write(extra)
    changed = type(calendar)(calendar.hours, tmp_path)
    assert changed.fingerprint != calendar.fingerprint

    recompute_all(session, changed)

    assert _deadlines(document.tasks[0])["transfer"] == datetime(2026, 3, 6, 17, 0, tzinfo=VN)


@pytest.mark.parametrize(("reference", "number", "symbol", "kind"), [
    ("57-NQ/TW", "57", "NQ/TW", "resolution"),
    ("03/NQ-CP", "03", "NQ-CP", "resolution"),
    ("45-CT/TW", "45", "CT/TW", "directive"),
    ("624/TB-VPCP", "624", "TB-VPCP", "notice"),
])
def test_reference_split_both_styles(session, calendar, reference, number, symbol, kind):
    document = create_document(session, _document(reference=reference), calendar=calendar)
    assert document.number == number
    assert document.symbol == symbol
    assert document.kind.code == kind


def test_confidential_summary_not_echoed(session, calendar):
    with pytest.raises(ValidationError) as raised:
        create_document(session, _document(confidentiality="mật", summary="Nội dung kín",
                                           tasks=[_task(content=None)]), calendar=calendar)
    assert all(problem.value != "Nội dung kín" for problem in raised.value.problems)
    assert "Nội dung kín" not in raised.value.message
