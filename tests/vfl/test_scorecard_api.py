"""vfl.Scorecard and vfl.tables.scorecard_model: points per bin, the score is
offset - factor * log-odds, the PDO and FATE forms, exports and documents."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from protocols.binning import FeatureBins, PointsScale
from vfl import HeteroBinning, HeteroLogisticRegression, Scorecard
from vfl.datasets import make_rare_event_credit
from vfl.exceptions import DataError
from vfl.hetero_lr import NotFittedError
from vfl.tables.binning_model import FeatureWoe, PartyBinning
from vfl.tables.scorecard_model import BASE_ROW, FeaturePoints, PartyPoints, build_points

WEAK = {"key_length": 1024, "allow_weak_key": True}


@pytest.fixture(scope="module")
def pipeline() -> tuple[HeteroBinning, HeteroLogisticRegression, list[pd.DataFrame], np.ndarray]:
    guest, host = make_rare_event_credit(4_000, event_rate=0.15, seed=1)
    assert guest.labels is not None
    tables = [
        pd.DataFrame(guest.features, columns=guest.feature_names),
        pd.DataFrame(host.features[:, :3], columns=host.feature_names[:3]),
        pd.DataFrame(host.features[:, 3:], columns=host.feature_names[3:]),
    ]
    binning = HeteroBinning(**WEAK)
    woe_guest, woe_hosts = binning.fit_transform(tables[0], guest.labels, hosts=tables[1:])
    model = HeteroLogisticRegression(backend="plaintext", batch_size=500, random_state=0)
    model.fit(woe_guest, guest.labels, hosts=woe_hosts)
    return binning, model, tables, guest.labels


def test_the_score_is_offset_minus_factor_times_the_log_odds(pipeline) -> None:
    binning, model, tables, _ = pipeline
    card = Scorecard(binning, model, base_score=600, pdo=20, base_odds=50).fit()
    assert card.scale_ == PointsScale(600.0, 20.0, 50.0)
    assert list(card.points_) == ["guest", "host-1", "host-2"]
    assert card.points_["guest"].base is not None and card.points_["host-1"].base is None
    scores = card.score(tables[0], hosts=tables[1:])
    woe_guest, woe_hosts = binning.transform(tables[0], hosts=tables[1:])
    log_odds = model.decision_function(woe_guest, hosts=woe_hosts)
    factor = 20 / math.log(2)
    assert np.allclose(scores, 600 - factor * math.log(50) - factor * log_odds, atol=1e-9)
    # each party's points are its own share: -factor times its part of the log-odds
    woe = dict(zip(card.points_, [woe_guest, *woe_hosts], strict=True))
    for party, table in zip(card.points_, tables, strict=True):
        share = model.party_models_[party].decision_part(woe[party])
        offset = card.scale_.offset if party == "guest" else 0.0
        assert np.allclose(card.points_[party].points(dict(table.items())), offset - factor * share)
    # safer customers score higher
    assert np.corrcoef(scores, -log_odds)[0, 1] > 0.999


def test_the_points_table_shows_each_bins_own_woe(pipeline) -> None:
    """The standardisation is folded into the points, not into the WOE column shown: an
    empty bin (the missing bin of a column without missing cells) shows WOE 0."""
    binning, model, _, _ = pipeline
    card = Scorecard(binning, model).fit()
    empty_bins = 0
    for party, points in card.points_.items():
        for feature in points.features:
            own = binning.party_binnings_[party].feature(feature.name)
            assert feature.woe == own.woe
            empty_bins += sum(
                1 for rows, woe in zip(own.rows, feature.woe, strict=True) if rows == 0
            )
            assert all(
                woe == 0.0 for rows, woe in zip(own.rows, feature.woe, strict=True) if rows == 0
            )
    assert empty_bins > 0  # the data have no missing cells: every missing bin is empty


def test_fate_form_and_scale_refusals(pipeline) -> None:
    binning, model, tables, _ = pipeline
    fate = Scorecard(binning, model, offset=500, factor=20).fit()
    assert fate.scale_.offset == pytest.approx(500.0) and fate.scale_.factor == pytest.approx(20)
    woe_guest, woe_hosts = binning.transform(tables[0], hosts=tables[1:])
    log_odds = model.decision_function(woe_guest, hosts=woe_hosts)
    assert np.allclose(fate.score(tables[0], hosts=tables[1:]), 500 - 20 * log_odds)
    with pytest.raises(DataError, match="give both offset and factor"):
        Scorecard(binning, model, offset=500).fit()
    with pytest.raises(DataError, match="pdo"):
        Scorecard(binning, model, pdo=0).fit()


def test_exports(pipeline, tmp_path: Path) -> None:
    binning, model, _, _ = pipeline
    card = Scorecard(binning, model).fit()
    frame = card.to_frame()
    assert frame.columns.tolist() == ["party", "feature", "bin", "woe", "points"]
    assert frame.iloc[0]["feature"] == BASE_ROW and frame.iloc[0]["party"] == "guest"
    guest_frame = card.to_frame("guest")
    assert "party" not in guest_frame.columns
    selected = binning.selected_["guest"]
    assert list(dict.fromkeys(guest_frame["feature"][1:])) == selected
    files = card.to_csv(tmp_path / "cards")
    assert sorted(files) == ["guest", "host-1", "host-2"]
    with files["host-2"].open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["feature", "bin", "woe", "points"]
    expected = card.points_["host-2"].rows()
    assert [(r[0], r[1], float(r[3])) for r in rows[1:]] == expected
    markdown = card.to_markdown()
    assert markdown.startswith("### guest\n\n| feature | bin | WOE | points |")
    assert "### host-2" in markdown
    assert card.to_markdown("host-1") == card.points_["host-1"].to_markdown()
    with pytest.raises(DataError, match="no party 'bank'"):
        card.to_frame("bank")


def test_refusals(pipeline) -> None:
    binning, model, tables, labels = pipeline
    with pytest.raises(NotFittedError):
        Scorecard(binning, model).score(tables[0], hosts=tables[1:])
    with pytest.raises(DataError, match="fitted HeteroBinning"):
        Scorecard(HeteroBinning(), model).fit()
    with pytest.raises(DataError, match="fitted HeteroLogisticRegression"):
        Scorecard(binning, HeteroLogisticRegression()).fit()
    raw = HeteroLogisticRegression(backend="plaintext", batch_size=500, max_iter=1)
    raw.fit(tables[0], labels, hosts=tables[1:])
    with pytest.raises(DataError, match=r"train the model on binning\.transform"):
        Scorecard(binning, raw).fit()
    card = Scorecard(binning, model).fit()
    with pytest.raises(DataError, match="needs every party's points"):
        card.score(tables[0])


# the points table -----------------------------------------------------------------------
def _binning() -> PartyBinning:
    age = FeatureWoe(
        FeatureBins("age", "numeric", edges=(30.0, 50.0)),
        woe=(0.6, -0.1, -0.5, 0.0),
        iv=0.3,
        rows=(300, 400, 300, 0),
        events=(90.0, 50.0, 20.0, 0.0),
        non_events=(210.0, 350.0, 280.0, 0.0),
    )
    region = FeatureWoe(
        FeatureBins("region", "categorical", groups=(("north",), ("south|east",), ())),
        woe=(0.2, -0.3, 0.0, 0.1),
        iv=0.05,
        rows=(500, 400, 0, 100),
        events=(90.0, 50.0, 0.0, 20.0),
        non_events=(410.0, 350.0, 0.0, 80.0),
    )
    return PartyBinning((age, region), ("age", "region"))


def test_build_points_by_hand() -> None:
    scale = PointsScale(600, 20, 50)
    card = build_points(_binning(), [0.8, 1.5], intercept=-1.2, scale=scale)
    factor = 20 / math.log(2)
    assert card.base == pytest.approx(scale.offset + factor * 1.2)
    assert card.features[0].points == pytest.approx(
        tuple(-factor * 0.8 * w for w in (0.6, -0.1, -0.5, 0.0))
    )
    columns = {"age": [25.0, 60.0, np.nan], "region": ["north", "mars", None]}
    expected = [
        card.base + card.features[0].points[0] + card.features[1].points[0],
        card.base + card.features[0].points[2] + card.features[1].points[2],  # unseen: other
        card.base + card.features[0].points[3] + card.features[1].points[3],  # missing
    ]
    assert card.points(columns).tolist() == pytest.approx(expected)
    host = build_points(_binning(), [0.8, 1.5], intercept=None, scale=scale)
    assert host.base is None and host.rows()[0][0] == "age"
    assert "south\\|east" in host.to_markdown()  # a pipe inside a cell is escaped
    with pytest.raises(DataError, match="1 weights for the 2 selected features"):
        build_points(_binning(), [0.8], intercept=None, scale=scale)
    with pytest.raises(DataError, match="the scorecard cannot be built"):
        build_points(_binning(), [0.8, math.inf], intercept=None, scale=scale)


def test_points_documents_round_trip_and_refuse_malformed_ones() -> None:
    card = build_points(_binning(), [0.8, 1.5], intercept=-1.2, scale=PointsScale(500, 30, 20))
    document = json.loads(json.dumps(card.to_dict()))
    assert PartyPoints.from_dict(document) == card
    feature = document["features"][0]
    for broken, message in [
        ({**document, "base": "x"}, "base must be a number"),
        ({**document, "scale": {"pdo": 1}}, "scale is invalid"),
        ({**document, "features": {}}, "features must be a list"),
        ({**document, "more": 1}, "a points table needs the keys"),
        ({**document, "features": [{**feature, "points": [1.0]}]}, "4 bins but 4 WOE values and 1"),
        ({**document, "features": [{**feature, "weight": True}]}, "weight must be a number"),
        ({**document, "features": [{**feature, "bins": []}]}, "invalid bins"),
        ({**document, "features": [feature, feature]}, "lists a feature twice"),
    ]:
        with pytest.raises(DataError, match=message):
            PartyPoints.from_dict(broken)
    with pytest.raises(DataError, match="not finite"):
        FeaturePoints(FeatureBins("a", "numeric"), (0.0, 0.0), math.nan, (0.0, 0.0))
