"""Scores, ratings and the follow-up of low ratings, against hand calculations.

The data are those of tests/reports/data.py; the levels of each task at the
end of Q1/2026 are worked out there.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from node.core.timezone import VN_TZ
from node.evaluation import service
from node.evaluation.config import DEFAULT_DIR, IndicatorSetError, load_set, load_sets, set_for
from node.evaluation.models import EvaluationExplanation, EvaluationScore
from node.local_tasks.models import OrgUnit, Task, TaskAgency, TaskDeadline
from node.local_tasks.workflow.models import EXPLANATION_DEADLINE_KINDS, ExplanationRequest
from node.reports.content import period_start_instant
from tests.reports import data

APRIL = datetime(2026, 4, 2, 10, 0, tzinfo=VN_TZ)
JULY = datetime(2026, 7, 2, 10, 0, tzinfo=VN_TZ)


@pytest.fixture
def stored(client, session):  # noqa: ANN001, ANN201
    data.store(client)
    session.expire_all()
    return session


def _scores(session, period_day: date, now: datetime, sets) -> dict:  # noqa: ANN001
    period = service.evaluation_period("quarter", period_day)
    rows = service.evaluate_period(session, kind="quarter", period=period, now=now, sets=sets)
    return {row.org_unit.code: row for row in rows}


def _reporting_deadlines(session, code: str, start: date, end: date) -> int:  # noqa: ANN001
    unit_id = session.scalar(select(OrgUnit.id).where(OrgUnit.code == code))
    led = select(TaskAgency.task_id).where(TaskAgency.org_unit_id == unit_id,
                                           TaskAgency.role == "lead")
    return session.scalar(select(func.count(TaskDeadline.id)).where(
        TaskDeadline.task_id.in_(led), TaskDeadline.kind.in_(EXPLANATION_DEADLINE_KINDS),
        TaskDeadline.due_at >= period_start_instant(start),
        TaskDeadline.due_at <= datetime(end.year, end.month, end.day, 23, 59, 59,
                                        999999, tzinfo=VN_TZ)))


def test_default_set_is_the_regulations_ratings() -> None:
    indicator_set = set_for(load_sets(DEFAULT_DIR), date(2026, 3, 31))
    assert indicator_set.weights == {"on_time_completion": 50, "not_overdue": 30,
                                     "reports_on_time": 20}
    assert indicator_set.rating_for(90) == "excellent"
    assert indicator_set.rating_for(89.99) == "completed"
    assert indicator_set.rating_for(50) == "not_fully_completed"
    assert indicator_set.rating_for(49.99) == "not_completed"


def test_quarter_scores_by_hand(stored) -> None:  # noqa: ANN001
    sets = load_sets(DEFAULT_DIR)
    scores = _scores(stored, date(2026, 2, 1), APRIL, sets)
    btctw = scores["BTCTW"]
    # A, B, C and H fall due in Q1; only A was completed on time: 1/4.
    # C and H are overdue on 31/03 among the 4 tasks due by then: 1 - 2/4.
    assert btctw.inputs["counts"]["due_in_period"] == 4
    assert btctw.inputs["counts"]["completed_on_time"] == 1
    assert btctw.inputs["counts"]["overdue"] == 2
    assert btctw.inputs["counts"]["assessable"] == 4
    # No explanation request was opened, so no reporting deadline counts as missed.
    assert _reporting_deadlines(stored, "BTCTW", date(2026, 1, 1), date(2026, 3, 31)) > 0
    assert btctw.inputs["values"]["reports_on_time"] == 1.0
    # (50 x 0.25 + 30 x 0.5 + 20 x 1) / 100 x 100 = 47.5: below 50, not completed.
    assert btctw.score == pytest.approx(47.5)
    assert btctw.rating == "not_completed"
    # Ủy ban Kiểm tra Trung ương: E due and overdue, D not due yet: (0 + 0 + 20 x 1) = 20.
    assert _reporting_deadlines(stored, "UBKTTW", date(2026, 1, 1), date(2026, 3, 31)) > 0
    assert scores["UBKTTW"].score == pytest.approx(20.0)
    assert scores["UBKTTW"].inputs["values"]["on_time_completion"] == 0.0


def test_missed_report_lowers_the_score(stored) -> None:  # noqa: ANN001
    task = stored.scalar(select(Task).where(Task.task_no == "A"))
    deadline = next(row for row in task.deadlines if row.kind == "result_report")
    stored.add(ExplanationRequest(task=task, deadline_kind=deadline.kind,
                                  deadline_due_at=deadline.due_at, reason="Chậm báo cáo",
                                  requested_at=APRIL, status="open"))
    stored.flush()
    total = _reporting_deadlines(stored, "BTCTW", date(2026, 1, 1), date(2026, 3, 31))
    btctw = _scores(stored, date(2026, 2, 1), APRIL, load_sets(DEFAULT_DIR))["BTCTW"]
    assert btctw.inputs["counts"]["reporting_missed"] == 1
    assert btctw.score == pytest.approx(12.5 + 15 + 20 * (1 - 1 / total))


def _only_overdue_set(tmp_path: Path) -> list:
    (tmp_path / "only.toml").write_text(
        'code = "only-overdue"\nversion = 1\neffective_on = 2026-01-01\n'
        '[[indicators]]\ncode = "not_overdue"\nweight = 1\n'
        '[ratings]\nexcellent = 90\ncompleted = 70\nnot_fully_completed = 50\n'
        '[low]\nratings = ["not_fully_completed", "not_completed"]\n'
        '[aggregate]\ncompleted_on_time = 1.0\n', encoding="utf-8")
    return load_sets(tmp_path)


def test_two_low_quarters_open_one_explanation_request(stored, tmp_path) -> None:  # noqa: ANN001
    sets = _only_overdue_set(tmp_path)
    q1 = _scores(stored, date(2026, 2, 1), APRIL, sets)
    q2 = _scores(stored, date(2026, 5, 1), JULY, sets)
    # Ban Tổ chức Trung ương: C and H overdue among A, B, C, H in both quarters: 50.
    assert (q1["BTCTW"].score, q1["BTCTW"].rating) == (50.0, "not_fully_completed")
    assert (q2["BTCTW"].score, q2["BTCTW"].rating) == (50.0, "not_fully_completed")
    # Văn phòng: G overdue in Q1 (0), completed late on 10/04 so nothing overdue in Q2 (100).
    assert (q1["VPTW"].rating, q2["VPTW"].rating) == ("not_completed", "excellent")
    period = service.evaluation_period("quarter", date(2026, 5, 1))
    opened = service.open_explanations_for_low_ratings(stored, kind="quarter", period=period,
                                                       at=JULY, sets=sets)
    # Ủy ban Kiểm tra Trung ương is low twice too: E overdue alone (0), then E of D and E (50).
    assert opened == 2
    again = service.open_explanations_for_low_ratings(stored, kind="quarter", period=period,
                                                      at=JULY, sets=sets)
    assert again == 0
    btctw = stored.scalar(select(OrgUnit).where(OrgUnit.code == "BTCTW"))
    links = stored.scalars(select(EvaluationExplanation).where(
        EvaluationExplanation.org_unit_id == btctw.id)).all()
    assert len(links) == 1
    request = stored.get(ExplanationRequest, links[0].explanation_request_id)
    # It hangs on the agency's oldest overdue task, H (due 01/03), and names the agency.
    assert request.task.task_no == "H"
    assert request.status == "open"
    assert "Ban Tổ chức Trung ương" in request.reason
    assert "Hoàn thành chưa đầy đủ" in request.reason


def test_invalid_indicator_set_names_the_key(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "bad.toml"
    path.write_text('code = "x"\nversion = 1\neffective_on = 2026-01-01\n'
                    '[[indicators]]\ncode = "popularity"\nweight = 1\n'
                    '[low]\nratings = ["not_completed"]\n[aggregate]\ncompleted_on_time = 1\n',
                    encoding="utf-8")
    with pytest.raises(IndicatorSetError, match=r"indicators\[0\]\.code"):
        load_set(path)


def test_reevaluation_deletes_stale_scores(stored) -> None:  # noqa: ANN001
    sets = load_sets(DEFAULT_DIR)
    first = _scores(stored, date(2026, 2, 1), APRIL, sets)
    assert first["UBKTTW"].score == pytest.approx(20.0)
    ubkttw = stored.scalar(select(OrgUnit).where(OrgUnit.code == "UBKTTW"))
    led = stored.scalars(select(Task).join(TaskAgency).where(
        TaskAgency.org_unit_id == ubkttw.id, TaskAgency.role == "lead")).all()
    # D and E are the only tasks Ủy ban Kiểm tra Trung ương leads.
    assert sorted(task.task_no for task in led) == ["D", "E"]
    for task in led:
        stored.delete(task)
    stored.flush()

    second = _scores(stored, date(2026, 2, 1), APRIL, sets)

    assert "UBKTTW" not in second
    stored_units = set(stored.scalars(select(OrgUnit.code).join(
        EvaluationScore, EvaluationScore.org_unit_id == OrgUnit.id).where(
        EvaluationScore.period_kind == "quarter",
        EvaluationScore.period_start == date(2026, 1, 1))))
    assert stored_units == set(first) - {"UBKTTW"}
    # The other agencies keep their scores: Ban Tổ chức Trung ương still 47.5.
    assert second["BTCTW"].score == pytest.approx(47.5)
