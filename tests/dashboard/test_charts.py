"""Tests of the inline SVG chart geometry."""
from node.dashboard import charts


def test_trend_labels_read_day_first() -> None:
    _, _, labelled = charts.line_points([("2026-11-30", 4), ("2026-12-01", 7)])

    assert [point[2] for point in labelled] == ["30/11/2026", "01/12/2026"]


def test_trend_axis_rounds_up_the_maximum() -> None:
    _, maximum, labelled = charts.line_points([("2026-12-01", 7), ("2026-12-02", 3)])

    # 7 lies between 5 and 10, the next of the round steps 1, 2, 5 and 10.
    assert maximum == 10
    assert labelled[0][3] == 7
    assert labelled[1][3] == 3
