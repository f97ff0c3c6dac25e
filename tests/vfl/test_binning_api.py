"""vfl.HeteroBinning and vfl.tables.binning_model: the exchange's result is the plaintext
binning of each party's own columns; transform, attributes, categories, missing values,
weights, noise, errors; the binning's documents."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone  # type: ignore[import-untyped]

from protocols.binning import FeatureBins
from vfl import HeteroBinning
from vfl.exceptions import DataError
from vfl.hetero_lr import NotFittedError
from vfl.tables.binning_model import (
    BinCounts,
    BinningSettings,
    FeatureWoe,
    PartyBinning,
    finish_binning,
    own_statistics,
    prepare_bins,
)

ROWS = 1_200
WEAK = {"key_length": 1024, "allow_weak_key": True}


def _data(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.0, 0.6, ROWS)
    region = rng.choice(["north", "south", "east", "west"], ROWS, p=[0.4, 0.3, 0.2, 0.1])
    risk = -1.2 * np.log(income / 22_000) + 0.8 * (region == "east") + rng.normal(0, 0.5, ROWS)
    y = (rng.random(ROWS) < 1 / (1 + np.exp(-(risk - 1.5)))).astype(np.int64)
    debt = np.where(rng.random(ROWS) < 0.1, np.nan, rng.normal(size=ROWS) + y)
    guest = pd.DataFrame({"income": income, "debt": debt})
    host_1 = pd.DataFrame({"region": region, "spend": rng.normal(size=ROWS)})
    host_2 = pd.DataFrame({"tenure": rng.integers(1, 100, ROWS).astype(float) - 10 * y})
    return guest, y, host_1, host_2


@pytest.fixture(scope="module")
def fitted() -> tuple[HeteroBinning, tuple[pd.DataFrame, np.ndarray, pd.DataFrame, pd.DataFrame]]:
    data = _data()
    guest, y, host_1, host_2 = data
    binning = HeteroBinning(categorical=["region"], n_bins=8, min_iv=0.02, **WEAK)
    return binning.fit(guest, y, hosts=[host_1, host_2]), data


def _plaintext(frame: pd.DataFrame, y: np.ndarray, settings: BinningSettings) -> PartyBinning:
    """The same party's binning computed alone with the labels in the clear."""
    columns = {name: frame[name].to_numpy() for name in frame.columns}
    if "region" in columns:
        columns["region"] = columns["region"].astype(object)
    bins, codes = prepare_bins(columns, settings)
    return finish_binning(
        bins, own_statistics(codes, [b.n_bins for b in bins], y), settings, columns
    )


def test_every_partys_binning_is_the_plaintext_binning_of_its_columns(fitted) -> None:
    binning, (guest, y, host_1, host_2) = fitted
    assert list(binning.party_binnings_) == ["guest", "host-1", "host-2"]
    for party, frame in (("guest", guest), ("host-1", host_1), ("host-2", host_2)):
        ours = binning.party_binnings_[party]
        theirs = _plaintext(frame, y, ours.settings)
        assert [f.bins for f in ours.features] == [f.bins for f in theirs.features]
        for mine, reference in zip(ours.features, theirs.features, strict=True):
            assert mine.rows == reference.rows and mine.events == reference.events
            assert np.allclose(mine.woe, reference.woe, atol=1e-12)
            assert mine.iv == pytest.approx(reference.iv, abs=1e-12)
        assert ours.selected == theirs.selected
    assert binning.party_binnings_["host-1"].settings.categorical == ("region",)
    assert binning.party_binnings_["guest"].settings.categorical == ()


def test_attributes_per_party(fitted) -> None:
    binning, _ = fitted
    assert binning.iv_["guest"]["income"] > 0.1 and binning.iv_["host-1"]["spend"] < 0.02
    assert binning.selected_["host-1"] == ["region"]
    assert binning.bins_["host-1"]["region"].kind == "categorical"
    assert binning.bins_["guest"]["debt"].labels()[-1] == "missing"
    assert len(binning.woe_["guest"]["income"]) == binning.bins_["guest"]["income"].n_bins
    assert binning.n_features_in_ == 2
    assert binning.feature_names_in_.tolist() == ["income", "debt"]
    assert binning.classes_.tolist() == [0, 1]
    assert binning.get_feature_names_out().tolist() == binning.selected_["guest"]
    table = binning.iv_table()
    assert {row["party"] for row in table} == {"guest", "host-1", "host-2"}
    assert [row["selected"] for row in table if row["name"] == "spend"] == [False]


def test_transform_per_party(fitted) -> None:
    binning, (guest, y, host_1, host_2) = fitted
    woe_guest, woe_hosts = binning.transform(guest, hosts=[host_1, host_2])
    assert woe_guest.shape == (ROWS, len(binning.selected_["guest"]))
    assert [w.shape[1] for w in woe_hosts] == [
        len(binning.selected_["host-1"]),
        len(binning.selected_["host-2"]),
    ]
    alone = binning.transform(guest[["debt", "income"]])  # reordered: matched by name
    assert np.array_equal(alone, woe_guest)
    region = binning.party_binnings_["host-1"].feature("region")
    codes = region.bins.assign(host_1["region"].to_numpy(dtype=object))
    assert np.array_equal(woe_hosts[0][:, 0], np.asarray(region.woe)[codes])
    assert abs(np.corrcoef(woe_guest[:, 0], y)[0, 1]) > 0.1  # riskier bins, positive WOE


def test_unseen_categories_and_new_missing_values_fall_in_their_bins(fitted) -> None:
    binning, (guest, _, _, host_2) = fitted
    new_host = pd.DataFrame({"region": ["mars", None, "north"], "spend": [0.0, 1.0, np.nan]})
    _, woe_hosts = binning.transform(guest.iloc[:3], hosts=[new_host, host_2.iloc[:3]])
    region = binning.party_binnings_["host-1"].feature("region")
    other = region.bins.n_value_bins - 1
    assert woe_hosts[0][:, 0].tolist() == [
        region.woe[other],
        region.woe[region.bins.n_bins - 1],  # the missing bin: empty at fit, WOE 0
        region.woe[region.bins.assign(np.array(["north"], dtype=object))[0]],
    ]
    assert woe_hosts[0][1, 0] == 0.0


def test_weights_and_arrays_by_position() -> None:
    guest, y, host_1, _ = _data(1)
    weights = np.where(y == 1, 3.0, 1.0)
    arrays = HeteroBinning(method="quantile", categorical={"host": [0]}, **WEAK)
    arrays.fit(guest.to_numpy(), y, hosts=[host_1.to_numpy()], sample_weight=weights)
    assert list(arrays.party_binnings_) == ["guest", "host"]
    assert arrays.bins_["host"]["x0"].kind == "categorical"
    assert not hasattr(arrays, "feature_names_in_")
    settings = arrays.party_binnings_["host"].settings
    columns = {"x0": host_1["region"].to_numpy(dtype=object), "x1": host_1["spend"].to_numpy()}
    bins, codes = prepare_bins(columns, settings)
    weighted = own_statistics(codes, [b.n_bins for b in bins], y, weights)
    host = arrays.party_binnings_["host"]
    assert [f.events for f in host.features] == [tuple(w.events) for w in weighted]
    with pytest.warns(UserWarning, match="fitted without feature names"):
        arrays.transform(guest)


def test_label_noise_changes_what_hosts_get_but_not_the_guests_own() -> None:
    guest, y, host_1, _ = _data(2)
    exact = HeteroBinning(categorical=["region"], **WEAK).fit(guest, y, hosts=[host_1])
    noisy = HeteroBinning(categorical=["region"], noise_epsilon=1.0, **WEAK)
    noisy.fit(guest, y, hosts=[host_1])
    assert noisy.woe_["guest"] == exact.woe_["guest"]
    assert noisy.party_binnings_["host"].feature("spend").events != (
        exact.party_binnings_["host"].feature("spend").events
    )


def test_text_columns_not_declared_are_left_out_with_a_warning() -> None:
    guest, y, host_1, _ = _data(3)
    with pytest.warns(UserWarning, match=r"host: the text column\(s\) \['region'\] are left out"):
        binning = HeteroBinning(**WEAK).fit(guest, y, hosts=[host_1])
    assert binning.party_binnings_["host"].skipped == ("region",)
    assert "region" not in binning.bins_["host"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g, y, h: (g, y, None), "pass each host's aligned rows"),
        (lambda g, y, h: (g, y, [h.iloc[:-1]]), "the rows must be aligned"),
        (lambda g, y, h: (g, np.zeros_like(y), [h]), "one class"),
        (lambda g, y, h: (g, y, [h[["region"]]]), "host has no column to bin"),
    ],
    ids=["no-host", "rows", "one-class", "nothing-to-bin"],
)
def test_fit_refusals(change, message: str) -> None:
    guest, y, host_1, _ = _data(4)
    X, labels, hosts = change(guest, y, host_1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(DataError, match=message):
            HeteroBinning(**WEAK).fit(X, labels, hosts=hosts)


def test_parameter_and_use_refusals(fitted) -> None:
    guest, y, host_1, _ = _data(5)
    with pytest.raises(DataError, match="n_bins must be an integer >= 2"):
        HeteroBinning(n_bins=1, **WEAK).fit(guest, y, hosts=[host_1])
    with pytest.raises(DataError, match=r"categorical names \['zip'\]"):
        HeteroBinning(categorical=["zip"], **WEAK).fit(guest, y, hosts=[host_1])
    with pytest.raises(DataError, match=r"categorical names the parties \['host-9'\]"):
        HeteroBinning(categorical={"host-9": ["x"]}, **WEAK).fit(guest, y, hosts=[host_1])
    with pytest.raises(DataError, match=r"key_length: .*allow_weak_key"):
        HeteroBinning(key_length=1024).fit(guest, y, hosts=[host_1])  # weak key not allowed
    with pytest.raises(NotFittedError):
        HeteroBinning().transform(guest)
    binning, (guest, _, host_1, _) = fitted
    with pytest.raises(DataError, match="fitted with 2 host"):
        binning.transform(guest, hosts=[host_1])
    with pytest.raises(DataError, match=r"missing \['income'\]"):
        binning.transform(guest.rename(columns={"income": "salary"}))
    clone(binning)  # scikit-learn's contract


# the binning's documents ------------------------------------------------------------------
def test_settings_and_binning_documents_round_trip(fitted) -> None:
    binning, _ = fitted
    for party in binning.party_binnings_.values():
        document = json.loads(json.dumps(party.to_dict()))
        assert PartyBinning.from_dict(document) == party
    settings = BinningSettings(method="equal_width", categorical=("a",), max_vif=5.0)
    assert BinningSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"method": "best"}, "method must be one of"),
        ({"min_bin_share": 0.7}, "min_bin_share must be a number in"),
        ({"min_iv": -1}, "min_iv must be a number"),
        ({"top_k": 0}, "top_k must be an integer >= 1"),
        ({"categorical": "region"}, "categorical must be a list"),
        ({"categorical": ["a", "a"]}, "lists a column twice"),
        ({"max_abs_corr": 1.5}, "max_abs_corr must be a number"),
        ({"noise_delta": 0}, "noise_delta must be a number"),
        ({"n_bins": True}, "n_bins must be an integer"),
        ({"colour": 1}, r"unknown key\(s\) \['colour'\]"),
    ],
)
def test_settings_refusals(document: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        BinningSettings.from_dict(document)


def test_malformed_binning_documents_are_refused(fitted) -> None:
    binning, _ = fitted
    good = binning.party_binnings_["guest"].to_dict()
    broken = [
        ({**good, "selected": ["nope"]}, "must be distinct binned features"),
        ({**good, "selected": list(reversed(good["selected"]))}, None),
        ({**good, "extra": 1}, "a binning needs the keys"),
        ({**good, "features": "x"}, "features must be a list"),
        (
            {**good, "features": [{**good["features"][0], "woe": [0.0]}]},
            "per-bin values of lengths",
        ),
        (
            {**good, "features": [{**good["features"][0], "iv": "high"}]},
            "iv must be a number",
        ),
        ({**good, "features": [{**good["features"][0], "bins": {}}]}, "bins are invalid"),
    ]
    for document, message in broken:
        if message is None:
            if len(good["selected"]) < 2:
                continue
            message = "must keep the party's order"
        with pytest.raises(DataError, match=message):
            PartyBinning.from_dict(document)


def test_finish_binning_merges_to_a_monotone_woe_and_selects_by_iv() -> None:
    rng = np.random.default_rng(6)
    x = rng.uniform(0, 10, 5_000)
    y = (rng.random(5_000) < 0.05 + 0.03 * x).astype(np.int64)
    noise = rng.normal(size=5_000)
    columns = {"x": x, "noise": noise, "copy": x + rng.normal(0, 0.01, 5_000)}
    settings = BinningSettings(n_bins=20, max_abs_corr=0.9)
    bins, codes = prepare_bins(columns, settings)
    result = finish_binning(
        bins, own_statistics(codes, [b.n_bins for b in bins], y), settings, columns
    )
    woe = np.asarray(result.feature("x").woe[:-1])  # value bins (the missing bin is empty)
    assert np.all(np.diff(woe) >= 0)  # monotone (ties allowed)
    assert all(r >= 0.05 * 5_000 for r in result.feature("x").rows[:-1])
    assert result.feature("x").bins.n_bins < bins[0].n_bins
    assert result.selected in (("x",), ("copy",))  # one of the two correlated columns
    assert "noise" not in result.selected


def test_finish_binning_checks_the_counts() -> None:
    bins = [FeatureBins("a", "numeric", edges=(1.0,))]
    with pytest.raises(DataError, match="counts for 2 bins, 3 bins"):
        finish_binning(
            bins, [BinCounts((1, 1), (0.0, 1.0), (1.0, 0.0))], BinningSettings(), {"a": [0.0]}
        )
    with pytest.raises(DataError, match="1 features' counts for 0"):
        finish_binning([], [BinCounts((1,), (0.0,), (1.0,))], BinningSettings(), {})
    with pytest.raises(DataError, match="per-bin values of lengths"):
        FeatureWoe(bins[0], (0.0,), 0.0, (1,), (0.0,), (1.0,))
