"""Rankings: ties, the public page, the JSON and XLSX exports for the emulation system."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from node.evaluation.rankings import aggregate_score, ranked
from tests.reports import data


def test_tied_scores_share_a_rank() -> None:
    entries = [{"org_unit_name": name, "score": score} for name, score in (
        ("Văn phòng", 80.0), ("Ban Tổ chức", 95.5), ("Ủy ban Kiểm tra", 80.0),
        ("Đảng ủy", None), ("Ban Dân vận", 60.0))]
    result = [(entry["rank"], entry["org_unit_name"]) for entry in ranked(entries)]
    # Ủ sorts before V in Vietnamese order; an agency without a score is not ranked.
    assert result == [(1, "Ban Tổ chức"), (2, "Ủy ban Kiểm tra"), (2, "Văn phòng"),
                      (4, "Ban Dân vận")]


def test_aggregate_score_by_hand() -> None:
    weights = {"completed_on_time": 1.0, "completed_late": 0.5, "in_progress_overdue": 0.0}
    counts = {"completed_on_time": 6, "completed_late": 2, "in_progress_overdue": 2,
              "not_started_on_time": 40}
    # (6 x 1 + 2 x 0.5 + 2 x 0) / (6 + 2 + 2) x 100 = 70; tasks not yet due do not count.
    assert aggregate_score(weights, counts) == 70.0
    assert aggregate_score(weights, {"not_started_on_time": 3}) is None


def test_quarter_ranking_published_and_public(client, anonymous_client) -> None:  # noqa: ANN001
    data.store(client)
    response = client.post("/api/v1/rankings", json={"period_kind": "quarter",
                                                     "day": "2026-02-01"})
    assert response.status_code == 201, response.get_json()
    ranking = response.get_json()
    # Scores by hand in test_evaluation: 47.5, then 20 and 20 (tied, Ủ before V).
    assert [(entry["rank"], entry["org_unit_code"], entry["score"])
            for entry in ranking["entries"]] == [(1, "BTCTW", 47.5), (2, "UBKTTW", 20.0),
                                                 (2, "VPTW", 20.0)]
    assert ranking["published_at"] is None
    assert anonymous_client.get(f"/api/v1/rankings/{ranking['ranking_id']}").status_code == 404
    published = client.post(f"/api/v1/rankings/{ranking['ranking_id']}/publish")
    assert published.status_code == 200
    assert client.post(f"/api/v1/rankings/{ranking['ranking_id']}/publish").status_code == 409

    public = anonymous_client.get(f"/api/v1/rankings/{ranking['ranking_id']}").get_json()
    assert public["entries"][0] == {"rank": 1, "org_unit_code": "BTCTW",
                                    "org_unit_name": "Ban Tổ chức Trung ương", "score": 47.5,
                                    "rating": "not_completed"}
    listing = anonymous_client.get("/api/v1/rankings").get_json()["items"]
    assert [item["ranking_id"] for item in listing] == [ranking["ranking_id"]]
    page = anonymous_client.get(f"/rankings/{ranking['ranking_id']}").get_data(as_text=True)
    assert "Ban Tổ chức Trung ương" in page
    assert "Không hoàn thành nhiệm vụ" in page
    workbook = load_workbook(io.BytesIO(
        anonymous_client.get(f"/rankings/{ranking['ranking_id']}/xlsx").data))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0] == ("Thứ hạng", "Mã cơ quan", "Cơ quan", "Điểm", "Xếp loại")
    assert rows[1] == (1, "BTCTW", "Ban Tổ chức Trung ương", 47.5, "Không hoàn thành nhiệm vụ")


def test_evaluation_page_shows_formula_and_inputs(client, anonymous_client) -> None:  # noqa: ANN001
    data.store(client)
    assert client.post("/api/v1/evaluation", json={"period_kind": "quarter",
                                                   "day": "2026-02-01"}).status_code == 200
    page = anonymous_client.get("/evaluation?period_kind=quarter&day=2026-02-01")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Điểm = 100 × Σ(trọng số × giá trị) / Σ(trọng số)" in text
    assert "1 hoàn thành đúng hạn / 4 đến hạn trong kỳ" in text
    assert "47.50" in text


def test_bad_period_names_the_field(client) -> None:  # noqa: ANN001
    response = client.post("/api/v1/rankings", json={"period_kind": "half_year",
                                                     "day": "2026-02-01"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["path"] == "period_kind"
    response = client.get("/api/v1/evaluation?period_kind=quarter&day=01-02-2026")
    assert response.get_json()["errors"][0]["path"] == "day"


def test_only_officers_compute(anonymous_client) -> None:  # noqa: ANN001
    assert anonymous_client.post("/api/v1/rankings", json={}).status_code == 401


def test_publication_matches_the_exchange_schema(client, session) -> None:  # noqa: ANN001
    from node.evaluation.models import Ranking
    from node.evaluation.rankings import publication_payload
    from node.federation.schemas import validation_problems

    data.store(client)
    built = client.post("/api/v1/rankings", json={"period_kind": "year", "day": "2026-02-01",
                                                  "publish": True}).get_json()
    payload = publication_payload(session.get(Ranking, built["ranking_id"]))
    assert validation_problems("ranking_publication", payload) == []
    assert payload["period"] == {"kind": "year", "start": "2026-01-01", "end": "2026-12-31"}


def _aggregate(session, sender: str, code: str, name: str, counts: dict) -> None:  # noqa: ANN001
    from datetime import date, datetime

    from node.core.timezone import VN_TZ
    from node.federation.content_models import AggregateRow

    full = dict.fromkeys(("completed_on_time", "completed_late", "in_progress_on_time",
                          "in_progress_overdue", "implemented_not_completed",
                          "not_started_on_time", "not_started_overdue"), 0) | counts
    session.add(AggregateRow(sender_node_id=sender, period_kind="quarter",
                             period_start=date(2026, 1, 1), period_end=date(2026, 3, 31),
                             org_unit_code=code, org_unit_name=name, counts=full,
                             total=sum(full.values()), message_id=f"{sender}-{code}",
                             as_of=datetime(2026, 3, 31, 23, 0, tzinfo=VN_TZ)))
    session.flush()


def test_national_ranking_from_child_aggregates(client, session) -> None:  # noqa: ANN001
    _aggregate(session, "child-hn", "HNI", "Thành ủy Hà Nội",
               {"completed_on_time": 6, "completed_late": 2, "in_progress_overdue": 2,
                "not_started_on_time": 40})
    _aggregate(session, "child-hcm", "HCM", "Thành ủy Thành phố Hồ Chí Minh",
               {"completed_on_time": 9, "not_started_overdue": 1})
    session.commit()
    response = client.post("/api/v1/rankings", json={"scope": "national", "period_kind": "quarter",
                                                     "day": "2026-02-01", "publish": True})
    assert response.status_code == 201, response.get_json()
    # With the default [aggregate] weights (on time 1, late 0.5, overdue 0):
    # HCM (9 x 1) / 10 = 90, excellent; HNI (6 + 2 x 0.5) / 10 = 70, completed.
    assert [(entry["rank"], entry["org_unit_code"], entry["score"], entry["rating"])
            for entry in response.get_json()["entries"]] == [(1, "HCM", 90.0, "excellent"),
                                                            (2, "HNI", 70.0, "completed")]


def test_rankings_received_from_the_parent_are_shown(session, anonymous_client) -> None:  # noqa: ANN001
    from datetime import date, datetime

    from node.core.timezone import VN_TZ
    from node.federation.content_models import ReceivedRanking

    session.add(ReceivedRanking(
        sender_node_id="central", message_id="0f6f8a52-6f0e-4a43-9a55-8c7c6b1e2d31",
        period_kind="quarter", period_start=date(2026, 1, 1), period_end=date(2026, 3, 31),
        published_at=datetime(2026, 4, 5, 9, tzinfo=VN_TZ), method="qc08 v1",
        entries=[{"rank": 1, "org_unit_code": "HCM", "score": 90.0, "grade": "excellent"}]))
    session.commit()
    page = anonymous_client.get("/rankings").get_data(as_text=True)
    assert "Bảng xếp hạng do nút cha công bố" in page
    assert "HCM" in page
    assert "Hoàn thành xuất sắc nhiệm vụ" in page


def test_national_ranking_adds_tasks_assigned_here(client, session) -> None:  # noqa: ANN001
    from node.federation.models import Peer

    data.store(client)
    # A child node serves Ban Tổ chức Trung ương. Its report leaves out the tasks
    # it received from this node, so the ranking counts those from this node's data.
    session.add(Peer(node_id="child-btc", level=1, org_unit_code="BTCTW",
                     public_key="A" * 43, protocol_version="1"))
    _aggregate(session, "child-btc", "BTCTW", "Ban Tổ chức Trung ương",
               {"completed_on_time": 2})
    session.commit()

    response = client.post("/api/v1/rankings", json={"scope": "national", "period_kind": "quarter",
                                                     "day": "2026-02-01"})

    assert response.status_code == 201, response.get_json()
    entries = response.get_json()["entries"]
    # Only the child's unit is ranked, not this node's other agencies.
    assert [entry["org_unit_code"] for entry in entries] == ["BTCTW"]
    # Here A on time, B late, C overdue, H ended not completed; the child adds 2 on time:
    # 100 x (3 x 1 + 1 x 0.5) / (3 + 1 + 1 + 1) = 58.33.
    assert entries[0]["score"] == 58.33
