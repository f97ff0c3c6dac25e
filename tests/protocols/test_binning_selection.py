"""Selection by IV, correlation and VIF (protocols.binning.selection) against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.binning import (
    correlation_filter,
    select_by_iv,
    variance_inflation_factors,
    vif_filter,
)
from protocols.exceptions import BinningError

iv_maps = st.dictionaries(
    st.text(min_size=1, max_size=4), st.sampled_from([0.0, 0.01, 0.02, 0.1, 0.3, 0.5]), max_size=8
)


def regression_vif(matrix: np.ndarray, j: int) -> float:
    """VIF by a direct least-squares regression of column j on an intercept and the others."""
    y = matrix[:, j]
    design = np.column_stack([np.ones(len(y)), np.delete(matrix, j, axis=1)])
    beta = np.linalg.lstsq(design, y, rcond=None)[0]
    residual = float(((y - design @ beta) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return math.inf if residual <= 1e-9 * total or total == 0 else total / residual


def correlated(seed: int, rows: int = 400) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(rows, 3))
    return np.column_stack(
        [
            base[:, 0],
            base[:, 0] * 0.9 + rng.normal(size=rows) * 0.3,  # strongly tied to column 0
            base[:, 1],
            base[:, 2],
            base[:, 2] * 0.5 + base[:, 1] * 0.5 + rng.normal(size=rows) * 0.05,
        ]
    )


# ---------------------------------------------------------------- IV


def test_select_by_iv_threshold_top_k_and_order() -> None:
    ivs = {"a": 0.05, "b": 0.5, "c": 0.01, "d": 0.3, "e": 0.3}
    assert select_by_iv(ivs) == ["a", "b", "c", "d", "e"]
    assert select_by_iv(ivs, min_iv=0.05) == ["a", "b", "d", "e"]  # >= keeps 0.05
    assert select_by_iv(ivs, top_k=2) == ["b", "d"]  # d before e on the tie
    assert select_by_iv(ivs, min_iv=0.4, top_k=3) == ["b"]
    assert select_by_iv({}, min_iv=0.1) == []


@given(
    ivs=iv_maps,
    min_iv=st.one_of(st.none(), st.sampled_from([0.0, 0.02, 0.3])),
    top_k=st.one_of(st.none(), st.integers(1, 5)),
)
def test_select_by_iv_laws(ivs: dict[str, float], min_iv: float | None, top_k: int | None) -> None:
    kept = select_by_iv(ivs, min_iv=min_iv, top_k=top_k)
    names = list(ivs)
    assert kept == [n for n in names if n in kept]  # input order
    assert all(min_iv is None or ivs[n] >= min_iv for n in kept)
    eligible = [n for n in names if min_iv is None or ivs[n] >= min_iv]
    assert len(kept) == (len(eligible) if top_k is None else min(top_k, len(eligible)))
    dropped = set(eligible) - set(kept)
    assert all(ivs[d] <= min(ivs[k] for k in kept) for d in dropped)


def test_select_by_iv_refuses_bad_values() -> None:
    with pytest.raises(BinningError, match=r"the IV of 'a' must be a finite number >= 0, got nan"):
        select_by_iv({"a": math.nan})
    with pytest.raises(BinningError, match="top_k must be a positive integer or None, got 0"):
        select_by_iv({"a": 0.1}, top_k=0)
    with pytest.raises(BinningError, match="min_iv must be a finite number"):
        select_by_iv({"a": 0.1}, min_iv=math.inf)


# ---------------------------------------------------------------- correlation


def greedy_reference(
    matrix: np.ndarray, names: list[str], ivs: dict[str, float], limit: float
) -> list[str]:
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(matrix, rowvar=False), nan=0.0)
    kept: list[int] = []
    for j in sorted(range(len(names)), key=lambda j: (-ivs[names[j]], j)):
        if all(abs(corr[j, i]) <= limit + 1e-12 for i in kept):
            kept.append(j)
    return [names[j] for j in sorted(kept)]


def test_correlation_filter_drops_the_lower_iv_of_correlated_pairs() -> None:
    matrix = correlated(0)
    names = ["a", "b", "c", "d", "e"]
    ivs = {"a": 0.2, "b": 0.3, "c": 0.1, "d": 0.25, "e": 0.05}
    corr = np.corrcoef(matrix, rowvar=False)
    assert abs(corr[0, 1]) > 0.9 and abs(corr[3, 4]) > 0.6
    assert correlation_filter(matrix, names, ivs, max_abs_corr=0.9) == ["b", "c", "d", "e"]
    assert correlation_filter(matrix, names, ivs, max_abs_corr=0.6) == ["b", "c", "d"]
    assert correlation_filter(matrix, names, ivs, max_abs_corr=1.0) == names
    assert correlation_filter(matrix, names, ivs, max_abs_corr=0.0) == ["b"]


@given(
    seed=st.integers(0, 2**32 - 1),
    width=st.integers(1, 6),
    limit=st.sampled_from([0.1, 0.3, 0.5, 0.8]),
)
def test_correlation_filter_matches_a_numpy_greedy_and_keeps_no_correlated_pair(
    seed: int, width: int, limit: float
) -> None:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(width, width)) * (rng.random((width, width)) < 0.5)
    matrix = rng.normal(size=(50, width)) @ (np.eye(width) + mixing)
    matrix[:, rng.integers(width)] *= rng.integers(0, 2)  # sometimes a constant column
    names = [f"x{j}" for j in range(width)]
    ivs = {name: float(rng.choice([0.1, 0.2, 0.3])) for name in names}
    kept = correlation_filter(matrix, names, ivs, max_abs_corr=limit)
    assert kept == greedy_reference(matrix, names, ivs, limit)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.nan_to_num(np.corrcoef(matrix, rowvar=False), nan=0.0)
    index = [names.index(k) for k in kept]
    for i in index:
        for j in index:
            assert i == j or abs(corr[i, j]) <= limit + 1e-12


# ---------------------------------------------------------------- VIF


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_vifs_equal_direct_regressions(seed: int) -> None:
    matrix = correlated(seed)
    vifs = variance_inflation_factors(matrix)
    reference = [regression_vif(matrix, j) for j in range(matrix.shape[1])]
    np.testing.assert_allclose(vifs, reference, rtol=1e-8)
    assert vifs.max() > 10  # column 4 is nearly a combination of 1 (itself tied to 0) and 3


def test_exact_collinearity_and_constant_columns_have_infinite_vif() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(100, 3))
    matrix = np.column_stack([x, x[:, 0] - 2 * x[:, 1], np.full(100, 3.0)])
    vifs = variance_inflation_factors(matrix)
    assert np.isinf(vifs[[0, 1, 3, 4]]).all()
    assert vifs[2] == pytest.approx(regression_vif(matrix[:, :3], 2), rel=1e-8)  # not involved
    assert vifs[2] == pytest.approx(regression_vif(matrix, 2), rel=1e-6)


def test_vif_filter_drops_the_lowest_iv_above_the_limit() -> None:
    matrix = correlated(1)
    names = ["a", "b", "c", "d", "e"]
    ivs = {"a": 0.2, "b": 0.3, "c": 0.1, "d": 0.25, "e": 0.05}
    before = [regression_vif(matrix, j) for j in range(5)]
    over = [n for n, v in zip(names, before, strict=True) if v > 5.0]
    kept = vif_filter(matrix, names, ivs, max_vif=5.0)
    assert min(over, key=ivs.__getitem__) not in kept
    index = [names.index(k) for k in kept]
    assert all(regression_vif(matrix[:, index], j) <= 5.0 for j in range(len(index)))
    assert vif_filter(matrix, names, ivs, max_vif=1e6) == names


@given(
    seed=st.integers(0, 2**32 - 1), width=st.integers(1, 6), limit=st.sampled_from([1.5, 3.0, 10.0])
)
def test_vif_filter_leaves_every_vif_within_the_limit(seed: int, width: int, limit: float) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(40, width)) @ (np.eye(width) + rng.normal(size=(width, width)))
    names = [f"x{j}" for j in range(width)]
    ivs = {name: float(rng.random()) for name in names}
    kept = vif_filter(matrix, names, ivs, max_vif=limit)
    index = [names.index(k) for k in kept]
    assert all(regression_vif(matrix[:, index], j) <= limit * (1 + 1e-6) for j in range(len(index)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: vif_filter(np.zeros((3, 2)), ["a"], {"a": 0.1}, max_vif=5),
            "1 names for 2 columns",
        ),
        (lambda: vif_filter(np.zeros((3, 2)), ["a", "a"], {"a": 0.1}, max_vif=5), "unique"),
        (lambda: vif_filter(np.zeros((3, 1)), ["a"], {}, max_vif=5), "no IV for column 'a'"),
        (lambda: vif_filter(np.zeros((3, 1)), ["a"], {"a": 0.1}, max_vif=0.5), "max_vif must be"),
        (lambda: vif_filter(np.zeros(3), ["a"], {"a": 0.1}, max_vif=5), "rows x features"),
        (lambda: correlation_filter([[math.nan]], ["a"], {"a": 0.1}, max_abs_corr=0.5), "finite"),
        (lambda: correlation_filter([[1.0]], ["a"], {"a": 0.1}, max_abs_corr=1.5), "max_abs_corr"),
    ],
)
def test_filters_refuse_malformed_inputs(call: object, message: str) -> None:
    with pytest.raises(BinningError, match=message):
        call()  # type: ignore[operator]
