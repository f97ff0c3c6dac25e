"""Scorecard points (protocols.binning.scorecard): the textbook scale and the score identity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.binning import PointsScale, base_points, bin_points
from protocols.exceptions import BinningError


def test_textbook_scale_600_points_at_odds_50_pdo_20() -> None:
    scale = PointsScale(base_score=600, pdo=20, base_odds=50)
    assert scale.factor == pytest.approx(28.8539, abs=5e-5)
    assert scale.offset == pytest.approx(487.1229, abs=5e-5)
    assert scale.factor == pytest.approx(20 / math.log(2), rel=1e-15)
    assert scale.offset + scale.factor * math.log(50) == pytest.approx(600.0, rel=1e-15)
    assert scale == PointsScale()  # the defaults


def test_fate_offset_factor_form() -> None:
    fate = PointsScale.from_offset_factor(500, 20)
    assert fate.offset == pytest.approx(500.0, rel=1e-15)
    assert fate.factor == pytest.approx(20.0, rel=1e-15)
    # FATE: score = offset + factor * ln(odds); odds 4 -> 500 + 20 ln 4
    assert base_points(-math.log(4), fate) == pytest.approx(500 + 20 * math.log(4), rel=1e-14)


weights = st.lists(st.floats(-3, 3), min_size=1, max_size=5)


@given(
    weights=weights,
    intercept=st.floats(-5, 5),
    data=st.data(),
    pdo=st.floats(5, 80),
    odds=st.floats(0.5, 200),
)
def test_points_add_up_to_the_score_of_the_model_odds(
    weights: list[float], intercept: float, data: st.DataObject, pdo: float, odds: float
) -> None:
    scale = PointsScale(base_score=600, pdo=pdo, base_odds=odds)
    woes = [data.draw(st.lists(st.floats(-3, 3), min_size=1, max_size=6)) for _ in weights]
    chosen = [data.draw(st.integers(0, len(w) - 1)) for w in woes]
    tables = [bin_points(w, woe, scale) for w, woe in zip(weights, woes, strict=True)]
    score = base_points(intercept, scale) + sum(t[c] for t, c in zip(tables, chosen, strict=True))
    z = intercept + sum(w * woe[c] for w, woe, c in zip(weights, woes, chosen, strict=True))
    probability = 1 / (1 + math.exp(-z))  # of an event
    complement = 1 / (1 + math.exp(z))  # 1 - probability, without cancellation
    good_bad_odds = complement / probability
    assert score == pytest.approx(scale.offset + scale.factor * math.log(good_bad_odds), abs=1e-6)
    # pdo more points double the odds; base_odds scores base_score
    assert base_points(-math.log(2 * odds), scale) - base_points(
        -math.log(odds), scale
    ) == pytest.approx(pdo)
    assert base_points(-math.log(odds), scale) == pytest.approx(600.0)


def test_bin_points_exact_values_and_direction() -> None:
    scale = PointsScale()
    points = bin_points(0.8, np.array([-0.5, 0.0, 1.2]), scale)
    np.testing.assert_allclose(points, [0.4 * scale.factor, 0.0, -0.96 * scale.factor], rtol=1e-15)
    assert points[0] > points[2]  # the risky bin (positive WOE) scores lower
    assert base_points(0.0, scale) == scale.offset


def test_scale_round_trips_and_refuses_bad_values() -> None:
    scale = PointsScale(650, 40, 20)
    assert PointsScale.from_dict(json.loads(json.dumps(scale.to_dict()))) == scale
    for kwargs, message in [
        ({"pdo": 0}, "pdo .* must be > 0"),
        ({"pdo": -20}, "must be > 0"),
        ({"base_odds": 0}, "base_odds must be > 0"),
        ({"base_score": math.nan}, "base_score must be finite"),
        ({"base_odds": 10**400}, "base_odds must be finite"),
        ({"base_score": "600"}, "base_score must be a number"),
        ({"pdo": True}, "pdo must be a number"),
    ]:
        with pytest.raises(BinningError, match=message):
            PointsScale(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(BinningError, match="needs exactly the keys"):
        PointsScale.from_dict({"base_score": 600, "pdo": 20})
    with pytest.raises(BinningError, match="needs exactly the keys"):
        PointsScale.from_dict([600, 20, 50])
    with pytest.raises(BinningError, match="finite weight"):
        bin_points(math.nan, [0.1], scale)
    with pytest.raises(BinningError, match="intercept must be finite"):
        base_points(math.inf, scale)
