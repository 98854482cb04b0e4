"""A parent publishes a ranking to its active children, which store it."""

from __future__ import annotations

import pytest

from node.core.errors import ValidationError
from node.federation.models import Peer
from node.federation.rankings_exchange import publish_ranking, received_rankings
from tests.federation.nodes import (
    CENTRE,
    PROVINCE,
    SUB_UNIT,
    link,
    make_node,  # noqa: F401 - fixture
    outbox,
    pump,
)

RANKING = {
    "period": {"kind": "quarter", "start": "2026-07-01", "end": "2026-09-30"},
    "published_at": "2026-10-20T02:00:00Z",
    "method": "Bộ chỉ số đánh giá quý, phiên bản 2026",
    "entries": [
        {"rank": 1, "org_unit_code": "TU79", "score": 92.5, "grade": "excellent"},
        {"rank": 2, "org_unit_code": "TU01", "score": 88.0, "grade": "completed"},
    ],
}


def test_ranking_queued_for_every_child(make_node) -> None:  # noqa: ANN001, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    with centre.session() as session:
        session.add(Peer(node_id="tu79-hcm", level=1, org_unit_code="TU79", public_key="A" * 43,
                         protocol_version="1", status="suspended"))
    with centre.session() as session:
        messages = publish_ranking(session, centre.settings, RANKING)
    # The suspended child's copy waits in the outbox until its link is resumed.
    assert sorted(message.recipient_node_id for message in messages) == sorted(
        [PROVINCE[0], "tu79-hcm"])

    assert pump(centre, province)[0]["entries"] == 2
    with province.session() as session:
        rankings = received_rankings(session)
        assert len(rankings) == 1
        assert rankings[0].sender_node_id == CENTRE[0]
        assert rankings[0].period_kind == "quarter"
        assert rankings[0].period_start.isoformat() == "2026-07-01"
        assert [entry["org_unit_code"] for entry in rankings[0].entries] == ["TU79", "TU01"]
        assert rankings[0].method == RANKING["method"]


def test_province_passes_ranking_to_sub_unit(make_node) -> None:  # noqa: ANN001, F811
    centre, province, sub_unit = make_node(CENTRE), make_node(PROVINCE), make_node(SUB_UNIT)
    link(centre, province)
    link(province, sub_unit)
    with centre.session() as session:
        publish_ranking(session, centre.settings, RANKING)

    results = pump(centre, province)
    assert results[0]["entries"] == 2
    assert results[0]["passed_on"] == 1
    # The province queued the ranking in the transaction that stored it.
    passed = outbox(province, message_type="ranking_publication")
    assert [message.recipient_node_id for message in passed] == [SUB_UNIT[0]]

    results = pump(province, sub_unit)
    assert results[0]["entries"] == 2
    assert results[0]["passed_on"] == 0
    with sub_unit.session() as session:
        rankings = received_rankings(session)
        assert len(rankings) == 1
        assert rankings[0].sender_node_id == PROVINCE[0]
        assert rankings[0].period_start.isoformat() == "2026-07-01"
        assert rankings[0].published_at.isoformat() == "2026-10-20T02:00:00+00:00"
        assert [entry["org_unit_code"] for entry in rankings[0].entries] == ["TU79", "TU01"]
        assert rankings[0].method == RANKING["method"]
    # The sub-unit has no children, so the ranking stops there.
    assert outbox(sub_unit, message_type="ranking_publication") == []


def test_invalid_ranking_queues_nothing(make_node) -> None:  # noqa: ANN001, F811
    centre, province = make_node(CENTRE), make_node(PROVINCE)
    link(centre, province)
    payload = {**RANKING, "entries": [{"rank": 0, "org_unit_code": "TU01", "score": 1}]}
    with pytest.raises(ValidationError) as caught, centre.session() as session:
        publish_ranking(session, centre.settings, payload)
    assert [problem.path for problem in caught.value.problems] == ["payload/entries/0/rank"]
    assert outbox(centre) == []
