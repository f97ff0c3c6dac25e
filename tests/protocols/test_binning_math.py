"""Bins and WOE/IV of protocols.binning, against numpy, scikit-learn and pandas."""

from __future__ import annotations

import bisect
import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from sklearn.preprocessing import KBinsDiscretizer

from protocols.binning import (
    MISSING,
    FeatureBins,
    equal_width_edges,
    fit_bins,
    merge_counts,
    monotone_merge,
    quantile_edges,
    woe_iv,
)
from protocols.exceptions import BinningError, ProtocolError

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
columns = st.lists(
    st.one_of(finite, st.just(math.nan), st.sampled_from([0.0, 1.0, 2.0])), max_size=60
)


def kbins_inner_edges(values: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    extra = {"quantile_method": "linear"} if strategy == "quantile" else {}
    kbins = KBinsDiscretizer(
        n_bins=n_bins, encode="ordinal", strategy=strategy, subsample=None, **extra
    )
    kbins.fit(values.reshape(-1, 1))
    edges: np.ndarray = kbins.bin_edges_[0]
    return edges[1:-1]


# ---------------------------------------------------------------- edges


@pytest.mark.parametrize("n_bins", [2, 5, 10, 16])
@pytest.mark.parametrize("seed", [0, 1])
def test_quantile_edges_match_scikit_learn(n_bins: int, seed: int) -> None:
    values = np.random.default_rng(seed).lognormal(3.0, 1.5, size=2_000)  # heavy tail, no ties
    edges = quantile_edges(values, n_bins)
    assert len(edges) == n_bins - 1
    np.testing.assert_allclose(edges, kbins_inner_edges(values, n_bins, "quantile"), rtol=1e-12)


@pytest.mark.parametrize("n_bins", [2, 7, 10])
def test_equal_width_edges_match_scikit_learn(n_bins: int) -> None:
    values = np.random.default_rng(3).normal(50.0, 10.0, size=1_000)
    edges = equal_width_edges(values, n_bins)
    np.testing.assert_allclose(edges, kbins_inner_edges(values, n_bins, "uniform"), rtol=1e-12)


def test_missing_values_are_ignored_by_the_edges() -> None:
    values = np.random.default_rng(4).normal(size=500)
    holes = values.copy()
    holes[::7] = np.nan
    present = holes[~np.isnan(holes)]
    np.testing.assert_allclose(quantile_edges(holes, 5), np.quantile(present, [0.2, 0.4, 0.6, 0.8]))
    assert equal_width_edges(holes, 4) == equal_width_edges(present, 4)


def test_ties_and_a_mass_at_zero_give_unique_edges_below_the_maximum() -> None:
    # 60 % zeros, then a heavy tail: the zeros get a bin of their own
    values = np.concatenate([np.zeros(60), np.arange(1.0, 41.0) ** 3])
    edges = quantile_edges(values, 10)
    raw = np.quantile(values, np.arange(1, 10) / 10)
    assert edges == tuple(sorted(set(raw.tolist())))  # 0.0 once, then the distinct tail cuts
    assert edges[0] == 0.0
    bins = fit_bins("x", values, n_bins=10)
    assert bins.rows_per_bin(values)[0] == 60
    # a large mass at the maximum: no edge at the maximum (its bin would be empty)
    top = np.concatenate([np.arange(10.0), np.full(90, 99.0)])
    assert max(quantile_edges(top, 10)) < 99.0
    assert 0 not in fit_bins("top", top).rows_per_bin(top)[:-1]


@pytest.mark.parametrize("method", ["quantile", "equal_width"])
def test_one_distinct_value_or_none_gives_one_bin(method: str) -> None:
    assert fit_bins("c", np.full(30, 7.5), method=method).labels() == ["(-inf, inf)", MISSING]  # type: ignore[arg-type]
    assert fit_bins("c", np.full(5, np.nan), method=method).n_bins == 2  # type: ignore[arg-type]
    assert fit_bins("c", [], method=method).edges == ()  # type: ignore[arg-type]


# ---------------------------------------------------------------- assign


def test_a_value_equal_to_an_edge_falls_in_the_bin_the_edge_closes() -> None:
    bins = FeatureBins("x", "numeric", edges=(1.0, 2.0, 3.0))
    values = np.array([-np.inf, 0.5, 1.0, 1.0000001, 2.0, 3.0, 3.5, np.inf, np.nan])
    assert bins.assign(values).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 4]
    assert bins.labels() == ["(-inf, 1]", "(1, 2]", "(2, 3]", "(3, inf)", MISSING]


def test_labels_keep_every_digit_an_edge_needs() -> None:
    bins = FeatureBins("x", "numeric", edges=(0.1, 1_000_000.0, 1_000_001.0, 2.5e20))
    assert bins.labels()[:3] == ["(-inf, 0.1]", "(0.1, 1000000]", "(1000000, 1000001]"]
    assert bins.labels()[-2] == "(2.5e+20, inf)"


@given(
    edges=st.lists(finite, max_size=8, unique=True).map(lambda e: tuple(sorted(e))),
    values=st.lists(st.one_of(finite, st.just(math.nan)), max_size=40),
    missing_bin=st.booleans(),
)
def test_numeric_codes_are_in_range_monotone_and_match_bisect(
    edges: tuple[float, ...], values: list[float], missing_bin: bool
) -> None:
    bins = FeatureBins("x", "numeric", edges=edges, missing_bin=missing_bin)
    array = np.array(values, dtype=np.float64)
    if not missing_bin and np.isnan(array).any():
        with pytest.raises(BinningError, match="no missing bin"):
            bins.assign(array)
        return
    codes = bins.assign(array)
    assert codes.dtype == np.int64 and ((codes >= 0) & (codes < bins.n_bins)).all()
    expected = [len(edges) + 1 if math.isnan(v) else bisect.bisect_left(edges, v) for v in values]
    assert codes.tolist() == expected
    present = ~np.isnan(array)
    order = np.argsort(array[present], kind="stable")
    assert (np.diff(codes[present][order]) >= 0).all()  # monotone in x


def test_categorical_assign_missing_unseen_and_refusals() -> None:
    bins = FeatureBins("region", "categorical", groups=(("north",), ("east", "south"), ("x",)))
    cells = np.array(["south", "north", None, "", math.nan, "mars", "x", "east"], dtype=object)
    assert bins.assign(cells).tolist() == [1, 0, 3, 3, 3, 2, 2, 1]
    assert bins.labels() == ["{north}", "{east, south}", "other {x}", MISSING]
    with pytest.raises(BinningError, match=r"row 1 holds 3 \(int\).*must be text"):
        bins.assign(np.array(["north", 3], dtype=object))
    strict = FeatureBins("region", "categorical", groups=(("north",), ()), missing_bin=False)
    assert strict.labels() == ["{north}", "other"]
    with pytest.raises(BinningError, match=r"1 missing value\(s\) \(first at row 1\)"):
        strict.assign(np.array(["north", None], dtype=object))


def test_numeric_assign_refuses_text_and_matrices() -> None:
    bins = FeatureBins("x", "numeric", edges=(1.0,))
    with pytest.raises(BinningError, match=r"must be numbers.*categorical"):
        bins.assign(np.array(["a", "b"], dtype=object))
    with pytest.raises(BinningError, match="1-D"):
        bins.assign(np.zeros((2, 2)))


# ---------------------------------------------------------------- fit


def test_categorical_fit_groups_rare_categories_into_other() -> None:
    cells = ["a"] * 50 + ["b"] * 30 + ["c"] * 15 + ["d"] * 3 + ["e"] * 2 + [None] * 7 + [""] * 3
    bins = fit_bins("c", np.array(cells, dtype=object), categorical=True, rare_share=0.05)
    assert bins.groups == (("a",), ("b",), ("c",), ("d", "e"))
    assert bins.rows_per_bin(np.array(cells, dtype=object)).tolist() == [50, 30, 15, 5, 10]
    # the "other" group below min_bin_rows joins the smallest group
    merged = fit_bins(
        "c", np.array(cells, dtype=object), categorical=True, rare_share=0.05, min_bin_rows=6
    )
    assert merged.groups == (("a",), ("b",), ("c", "d", "e"))
    # no rare category: an empty "other" group for unseen ones
    plain = fit_bins("c", np.array(["u", "v", "u"], dtype=object), categorical=True)
    assert plain.groups == (("u",), ("v",), ())
    assert plain.assign(np.array(["w"], dtype=object)).tolist() == [2]


@given(values=columns, n_bins=st.integers(1, 12), min_rows=st.integers(0, 15))
def test_fit_bins_keeps_every_value_bin_above_min_rows(
    values: list[float], n_bins: int, min_rows: int
) -> None:
    for method in ("quantile", "equal_width"):
        bins = fit_bins("x", values, method=method, n_bins=n_bins, min_bin_rows=min_rows)  # type: ignore[arg-type]
        array = np.array(values, dtype=np.float64)
        rows = bins.rows_per_bin(array)
        n_missing = int(np.isnan(array).sum())
        if 0 < n_missing < min_rows:  # too few: folded into the largest value bin
            assert not bins.missing_bin and bins.missing_to is not None
            present = bins.rows_per_bin(array[~np.isnan(array)])
            assert bins.missing_to == int(np.argmax(present))
            assert (
                rows.tolist()
                == (present + n_missing * (np.arange(len(present)) == bins.missing_to)).tolist()
            )
        else:
            assert bins.missing_bin and rows[-1] == n_missing  # own bin, never merged
            rows = rows[:-1]
        if bins.n_value_bins > 1:
            assert (rows >= max(min_rows, 1)).all()
        cut = quantile_edges if method == "quantile" else equal_width_edges
        assert set(bins.edges) <= set(cut(values, n_bins))  # merging only drops edges


def test_fit_bins_refuses_bad_arguments() -> None:
    with pytest.raises(BinningError, match="unknown binning method 'kmeans'"):
        fit_bins("x", [1.0], method="kmeans")  # type: ignore[arg-type]
    with pytest.raises(BinningError, match="n_bins must be a positive integer, got 0"):
        fit_bins("x", [1.0], n_bins=0)
    with pytest.raises(BinningError, match="rare_share must be in"):
        fit_bins("x", ["a"], categorical=True, rare_share=1.5)
    with pytest.raises(BinningError, match="infinite value"):
        fit_bins("x", [1.0, math.inf])
    with pytest.raises(BinningError, match="min_bin_rows"):
        fit_bins("x", [1.0], min_bin_rows=-1)
    assert issubclass(BinningError, ProtocolError)


# ---------------------------------------------------------------- merge


@given(
    data=st.data(),
    n_edges=st.integers(0, 8),
    values=st.lists(st.one_of(st.floats(-20, 20), st.just(math.nan)), max_size=40),
)
def test_merge_of_adjacent_runs_maps_codes_through_the_runs(
    data: st.DataObject, n_edges: int, values: list[float]
) -> None:
    bins = FeatureBins(
        "x", "numeric", edges=tuple(float(e) for e in range(-n_edges // 2, n_edges - n_edges // 2))
    )
    cuts = sorted(data.draw(st.sets(st.integers(1, n_edges), max_size=n_edges)) if n_edges else [])
    bounds = [0, *cuts, bins.n_value_bins]
    runs = [list(range(low, high)) for low, high in itertools.pairwise(bounds)]
    with_missing = data.draw(st.booleans())
    merged = bins.merge([*runs, [bins.n_value_bins]] if with_missing else runs)
    assert merged.n_value_bins == len(runs)
    new_code = {old: new for new, run in enumerate(runs) for old in run}
    new_code[bins.n_value_bins] = merged.n_value_bins  # missing stays last
    array = np.array(values, dtype=np.float64)
    assert merged.assign(array).tolist() == [new_code[c] for c in bins.assign(array).tolist()]


def test_merge_refuses_what_is_not_a_partition_of_adjacent_runs() -> None:
    bins = FeatureBins("x", "numeric", edges=(1.0, 2.0, 3.0))
    for runs, message in [
        ([[0, 2], [1], [3]], "adjacent bins, in order"),
        ([[1], [0], [2, 3]], "adjacent bins, in order"),
        ([[0, 1], [2]], "cover each of the bins 0..3 exactly once"),
        ([[0, 1], [1, 2, 3]], "exactly once"),
        ([[0, 1], [2, 3, 4]], "missing bin 4 is never merged"),
        ([[4], [0, 1, 2, 3]], "missing bin 4 is never merged"),
        ([[0, 1, 2, 3, 5]], r"integers in \[0, 5\)"),
        ([[0, True, 2, 3]], "integers"),
        ([[]], "non-empty"),
        ([], "non-empty"),
    ]:
        with pytest.raises(BinningError, match=message):
            bins.merge(runs)


def test_categorical_merge_joins_any_groups_and_keeps_other_last() -> None:
    bins = FeatureBins("c", "categorical", groups=(("a",), ("b",), ("c",), ("d",), ("r",)))
    merged = bins.merge([[1], [0, 2], [3, 4], [5]])
    assert merged.groups == (("b",), ("a", "c"), ("d", "r"))
    cells = np.array(["a", "b", "c", "d", "r", "new", None], dtype=object)
    assert merged.assign(cells).tolist() == [1, 0, 1, 2, 2, 2, 3]
    with pytest.raises(BinningError, match="'other' group \\(bin 4\\) must be the last run"):
        bins.merge([[4], [0, 1, 2, 3]])


# ---------------------------------------------------------------- to_dict / from_dict

feature_bins = st.one_of(
    st.builds(
        lambda name, edges, missing: FeatureBins(name, "numeric", edges=edges, missing_bin=missing),
        st.text(min_size=1, max_size=8),
        st.lists(finite, max_size=6, unique=True).map(lambda e: tuple(sorted(e))),
        st.booleans(),
    ),
    st.builds(
        lambda name, cats, rare, missing: FeatureBins(
            name,
            "categorical",
            groups=(*((c,) for c in cats[rare:]), tuple(cats[:rare])),
            missing_bin=missing,
        ),
        st.text(min_size=1, max_size=8),
        st.lists(st.text(min_size=1, max_size=5), max_size=6, unique=True),
        st.integers(0, 6),
        st.booleans(),
    ),
)


def folded(bins: FeatureBins, where: int) -> FeatureBins:
    """The same bins without a missing bin, missing cells in value bin ``where`` (modulo)."""
    return FeatureBins(
        bins.name,
        bins.kind,
        edges=bins.edges,
        groups=bins.groups,
        missing_bin=False,
        missing_to=where % bins.n_value_bins,
    )


feature_bins = feature_bins | st.builds(folded, feature_bins, st.integers(0, 10))


def test_too_few_missing_cells_join_the_largest_bin() -> None:
    values = np.array([1.0] * 10 + [2.0] * 30 + [3.0] * 20 + [np.nan] * 3)
    bins = fit_bins("x", values, method="equal_width", n_bins=4, min_bin_rows=5)
    # edges 1.5, 2, 2.5; the empty bin (2, 2.5] joins its smaller neighbour (2.5, inf)
    assert bins.edges == (1.5, 2.0) and not bins.missing_bin and bins.missing_to == 1
    assert bins.labels() == ["(-inf, 1.5]", "(1.5, 2] or missing", "(2, inf)"]
    assert bins.rows_per_bin(values).tolist() == [10, 33, 20]
    assert bins.missing_code == 1 and bins.missing_index is None
    assert bins.merge([[0, 1], [2]]).missing_to == 0
    assert bins.merge([[0], [1, 2]]).missing_to == 1
    assert FeatureBins.from_dict(bins.to_dict()) == bins and bins.to_dict()["missing_to"] == 1
    assert "missing_to" not in fit_bins("x", values, min_bin_rows=3).to_dict()
    cells = np.array(["a"] * 8 + ["b"] * 9 + [None], dtype=object)
    region = fit_bins("r", cells, categorical=True, min_bin_rows=2)
    assert region.groups == (("b",), ("a",), ()) and region.missing_to == 0
    assert region.labels() == ["{b} or missing", "{a}", "other"]


@given(bins=feature_bins)
def test_to_dict_from_dict_round_trips_through_json(bins: FeatureBins) -> None:
    document = json.loads(json.dumps(bins.to_dict()))
    again = FeatureBins.from_dict(document)
    assert again == bins and again.labels() == bins.labels() and again.to_dict() == document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"edges": [2.0, 1.0]}, "strictly increasing"),
        ({"edges": [1.0, 1.0]}, "strictly increasing"),
        ({"edges": [1.0, math.inf]}, "finite"),
        ({"edges": [10**400]}, "edges must be finite"),
        ({"edges": ["1"]}, "edges must be numbers"),
        ({"edges": [True]}, "edges must be numbers"),
        ({"edges": "1,2"}, "edges must be a list"),
        ({"kind": "ordinal"}, "kind must be one of numeric, categorical"),
        ({"name": ""}, "non-empty string"),
        ({"name": 3}, "non-empty string"),
        ({"missing_bin": 1}, "missing_bin must be true or false"),
        ({"groups": [["a"]]}, "a numeric feature has edges, not groups"),
        ({"groups": "a"}, "groups must be a list of lists"),
        ({"missing_to": 0}, "without a missing bin"),
        ({"missing_bin": False, "missing_to": 3}, r"a value bin in \[0, 3\), got 3"),
        ({"missing_bin": False, "missing_to": "0"}, "missing_to must be null"),
        ({"missing_bin": False, "missing_to": True}, "missing_to must be null"),
        ({"extra": 1}, r"unknown keys \['extra'\]"),
    ],
)
def test_from_dict_refuses_malformed_numeric_documents(
    change: dict[str, object], message: str
) -> None:
    document = {**FeatureBins("x", "numeric", edges=(1.0, 2.0)).to_dict(), **change}
    with pytest.raises(BinningError, match=message):
        FeatureBins.from_dict(document)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([], "needs at least the 'other' group"),
        ([[], ["a"]], "group 0 is empty"),
        ([["a"], ["a", "b"]], "category 'a' is in two groups"),
        ([["a", ""], []], "non-empty strings"),
        ([["a", 1], []], "non-empty strings"),
    ],
)
def test_from_dict_refuses_malformed_groups(groups: list[list[object]], message: str) -> None:
    document = {**FeatureBins("c", "categorical", groups=(("a",), ())).to_dict(), "groups": groups}
    with pytest.raises(BinningError, match=message):
        FeatureBins.from_dict(document)


def test_from_dict_refuses_non_objects_and_missing_keys() -> None:
    with pytest.raises(BinningError, match="expected an object, got list"):
        FeatureBins.from_dict([])
    with pytest.raises(BinningError, match=r"missing keys \['edges'\]"):
        FeatureBins.from_dict({"name": "x", "kind": "numeric", "groups": [], "missing_bin": True})
    with pytest.raises(BinningError, match="a categorical feature has groups, not edges"):
        FeatureBins.from_dict(
            {"name": "x", "kind": "categorical", "edges": [1], "groups": [[]], "missing_bin": True}
        )


# ---------------------------------------------------------------- WOE / IV


def test_woe_iv_on_a_hand_computed_table() -> None:
    # 3 bins: events 10/30/60 (E = 100), non-events 290/120/90 (N = 500)
    events, non_events = [10, 30, 60], [290, 120, 90]
    woe, iv = woe_iv(events, non_events, smoothing=0.0)
    # shares e = .1/.3/.6, n = .58/.24/.18
    expected = [math.log(0.1 / 0.58), math.log(0.3 / 0.24), math.log(0.6 / 0.18)]
    np.testing.assert_allclose(woe, expected, rtol=1e-14)
    assert woe.round(6).tolist() == [-1.757858, 0.223144, 1.203973]
    assert iv == pytest.approx(0.48 * 1.757858 + 0.06 * 0.223144 + 0.42 * 1.203973, abs=1e-6)
    assert iv == pytest.approx(1.3628, abs=1e-4)
    # smoothing 0.5: e = (10.5, 30.5, 60.5) / 101.5, n = (290.5, 120.5, 90.5) / 501.5
    woe_s, iv_s = woe_iv(events, non_events)
    e = np.array([10.5, 30.5, 60.5]) / 101.5
    n = np.array([290.5, 120.5, 90.5]) / 501.5
    np.testing.assert_allclose(woe_s, np.log(e / n), rtol=1e-14)
    assert iv_s == pytest.approx(float(((e - n) * np.log(e / n)).sum()), rel=1e-14)


def test_woe_iv_matches_an_independent_pandas_computation() -> None:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"bin": rng.integers(0, 6, 5_000)})
    frame["label"] = (rng.random(5_000) < 0.05 + 0.04 * frame["bin"]).astype(int)
    table = pd.crosstab(frame["bin"], frame["label"])
    smoothed = table + 0.5
    shares = smoothed / smoothed.sum()
    reference_woe = np.log(shares[1] / shares[0])
    reference_iv = float(((shares[1] - shares[0]) * reference_woe).sum())
    woe, iv = woe_iv(table[1].to_numpy(), table[0].to_numpy())
    np.testing.assert_allclose(woe, reference_woe.to_numpy(), rtol=1e-12)
    assert iv == pytest.approx(reference_iv, rel=1e-12)
    assert (np.diff(woe) > 0).all()  # riskier bins: larger WOE


def test_an_empty_bin_is_neutral_and_left_out_of_the_smoothing() -> None:
    woe, iv = woe_iv([10, 0, 30], [90, 0, 70])
    alone, iv_alone = woe_iv([10, 30], [90, 70])
    assert woe[1] == 0.0
    assert woe[[0, 2]].tolist() == alone.tolist() and iv == iv_alone
    assert woe_iv([0, 0], [0, 0]) == (pytest.approx(np.zeros(2)), 0.0)


def test_woe_iv_refuses_bad_counts() -> None:
    with pytest.raises(BinningError, match=r"no events or no non-events.*smoothing > 0"):
        woe_iv([0, 5], [5, 5], smoothing=0.0)
    with pytest.raises(BinningError, match="finite and >= 0"):
        woe_iv([-1, 5], [5, 5])
    with pytest.raises(BinningError, match="finite and >= 0"):
        woe_iv([math.nan, 5], [5, 5])
    with pytest.raises(BinningError, match="same non-zero length"):
        woe_iv([1, 5], [5])
    with pytest.raises(BinningError, match="smoothing must be"):
        woe_iv([1, 5], [5, 5], smoothing=-1.0)
    with pytest.raises(BinningError, match="smoothing must be"):
        woe_iv([1, 5], [5, 5], smoothing=True)
    with pytest.raises(BinningError, match=r"min_bin_share must be in \[0, 1\), got 1.0"):
        monotone_merge([1, 5], [5, 5], min_bin_share=1.0)
    with pytest.raises(BinningError, match="at least one value bin besides the missing bin"):
        monotone_merge([1], [5])


def test_weighted_counts_equal_repeated_rows() -> None:
    assert woe_iv([2.0, 6.0], [10.0, 4.0])[1] == woe_iv([2, 6], [10, 4])[1]
    assert merge_counts([1.5, 2.5, 3.0], [[0, 1], [2]]).tolist() == [4.0, 3.0]


# ---------------------------------------------------------------- monotone merge


def test_monotone_merge_on_a_hand_example() -> None:
    # event rates .05 .20 .10 .40 | missing .5: bins 1 and 2 break the increase
    events, non_events = [5, 20, 10, 40, 10], [95, 80, 90, 60, 10]
    runs = monotone_merge(events, non_events, min_bin_share=0.0)
    assert runs == [[0], [1, 2], [3], [4]]
    # a 10 % minimum share (42 of 420 rows): bin 0 (100 rows) is enough, all are
    assert monotone_merge(events, non_events, min_bin_share=0.1) == runs
    # a 30 % minimum share: 126 rows; bins 1+2 (200) qualify, 0 and 3 (100 each) do not
    wide = monotone_merge(events, non_events, min_bin_share=0.3)
    assert wide[-1] == [4] and all(
        sum(events[i] + non_events[i] for i in run) >= 126 for run in wide[:-1]
    )


def test_monotone_merge_keeps_the_direction_with_more_iv() -> None:
    events, non_events = [40, 30, 35, 10, 5], [60, 70, 65, 90, 95]  # decreasing, one break
    runs = monotone_merge(events, non_events, min_bin_share=0.0, missing_last=False)
    assert runs == [[0], [1, 2], [3], [4]]


@given(
    counts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=2, max_size=12),
    share=st.sampled_from([0.0, 0.02, 0.05, 0.1, 0.3]),
    missing_last=st.booleans(),
)
def test_monotone_merge_laws(
    counts: list[tuple[int, int]], share: float, missing_last: bool
) -> None:
    events = np.array([c[0] for c in counts], dtype=np.float64)
    non_events = np.array([c[1] for c in counts], dtype=np.float64)
    assume(events.sum() + non_events.sum() > 0)
    runs = monotone_merge(events, non_events, min_bin_share=share, missing_last=missing_last)
    values = len(counts) - int(missing_last)
    value_runs = runs[:-1] if missing_last else runs
    if missing_last:
        assert runs[-1] == [values]
    assert [i for run in value_runs for i in run] == list(range(values))  # contiguous, covering
    merged_e, merged_n = merge_counts(events, runs), merge_counts(non_events, runs)
    woe = woe_iv(merged_e, merged_n)[0][: len(value_runs)]
    steps = np.diff(woe)
    assert (steps >= -1e-12).all() or (steps <= 1e-12).all()
    rows = (merged_e + merged_n)[: len(value_runs)]
    if len(value_runs) > 1:
        assert (rows >= share * (events.sum() + non_events.sum())).all() and (rows > 0).all()


@given(
    counts=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), min_size=2, max_size=10),
    share=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_monotone_merge_sorted_by_woe_for_categories(
    counts: list[tuple[int, int]], share: float
) -> None:
    events = np.array([c[0] for c in counts] + [3.0])
    non_events = np.array([c[1] for c in counts] + [4.0])
    runs = monotone_merge(events, non_events, min_bin_share=share, sort_by_woe=True)
    values = len(counts)
    assert runs[-1] == [values] and values - 1 in runs[-2]  # "other" last, then missing
    assert sorted(i for run in runs[:-1] for i in run) == list(range(values))
    woe = woe_iv(merge_counts(events, runs), merge_counts(non_events, runs))[0]
    assert (np.diff(woe[: len(runs) - 2]) >= -1e-12).all()  # increasing before "other"
    bins = FeatureBins("c", "categorical", groups=tuple((f"k{i}",) for i in range(values)))
    assert bins.merge(runs).n_bins == len(runs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    document=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "name": st.one_of(st.just("x"), json_values),
                "kind": st.one_of(st.sampled_from(["numeric", "categorical"]), json_values),
                "edges": st.one_of(st.lists(st.floats(), max_size=3), json_values),
                "groups": st.one_of(
                    st.lists(st.lists(st.text(max_size=2), max_size=2), max_size=3), json_values
                ),
                "missing_bin": st.one_of(st.booleans(), json_values),
            }
        ),
    )
)
def test_from_dict_either_builds_valid_bins_or_raises_binning_error(document: object) -> None:
    try:
        bins = FeatureBins.from_dict(document)
    except BinningError:
        return
    assert FeatureBins.from_dict(json.loads(json.dumps(bins.to_dict()))) == bins
    assert len(bins.labels()) == bins.n_bins


@given(
    cells=st.lists(
        st.one_of(st.sampled_from(["a", "b", "c", "d", "e", ""]), st.none(), st.just(math.nan)),
        max_size=80,
    ),
    rare_share=st.sampled_from([0.0, 0.05, 0.2, 0.5]),
    min_rows=st.integers(0, 10),
)
def test_categorical_fit_laws(cells: list[object], rare_share: float, min_rows: int) -> None:
    column = np.array(cells, dtype=object)
    bins = fit_bins("c", column, categorical=True, rare_share=rare_share, min_bin_rows=min_rows)
    codes = bins.assign(column)
    missing = [c is None or c == "" or (isinstance(c, float) and math.isnan(c)) for c in cells]
    assert (codes[np.array(missing, dtype=bool)] == bins.missing_code).all()
    present = [c for c, m in zip(cells, missing, strict=True) if not m]
    for code, cell in zip(codes[~np.array(missing, dtype=bool)], present, strict=True):
        assert cell in bins.groups[code] or (
            code == len(bins.groups) - 1 and cell not in bins._lookup
        )
    rows = bins.rows_per_bin(np.array(present, dtype=object))[: bins.n_value_bins]
    floor = max(rare_share * len(present), min_rows, 1)
    assert all(rows[g] >= floor for g in range(len(bins.groups) - 1))  # frequent groups
    assert rows[-1] == 0 or rows[-1] >= min_rows or len(bins.groups) == 1  # "other"
    assert bins.assign(np.array(["never seen"], dtype=object)).tolist() == [len(bins.groups) - 1]
