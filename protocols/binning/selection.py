"""Feature selection on one party's own features: by IV, correlation and VIF.

Every function returns the kept names in their input order, and is deterministic:
ties are broken by input order (the earlier feature wins).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from protocols.exceptions import BinningError

__all__ = ["correlation_filter", "select_by_iv", "variance_inflation_factors", "vif_filter"]

FloatArray = npt.NDArray[np.float64]

_SINGULAR = 1e-10
"""Eigenvalues of a correlation matrix below this share of the largest count as 0 (an
exact linear dependence): the columns involved get an infinite VIF."""


def select_by_iv(
    ivs: Mapping[str, float], *, min_iv: float | None = None, top_k: int | None = None
) -> list[str]:
    """Features whose IV is at least ``min_iv``, at most the ``top_k`` best.

    Parameters
    ----------
    ivs : mapping of str to float
        Each feature's information value, in the party's column order.
    min_iv : float or None, default None
        Keep features with ``iv >= min_iv``; ``None``: no threshold.
    top_k : int or None, default None
        Then keep the ``top_k`` largest IVs (the earlier feature on a tie);
        ``None``: no limit.

    Returns
    -------
    list of str
        The kept names, in the order of ``ivs``.

    Raises
    ------
    BinningError
        If an IV is not a finite number >= 0, or ``min_iv`` / ``top_k`` is malformed.

    Examples
    --------
    >>> ivs = {"age": 0.30, "city": 0.01, "income": 0.12, "debt": 0.45}
    >>> select_by_iv(ivs, min_iv=0.02, top_k=2)
    ['age', 'debt']
    """
    values = _ivs(ivs, list(ivs))
    if min_iv is not None and (
        not isinstance(min_iv, (int, float))
        or isinstance(min_iv, bool)
        or not math.isfinite(min_iv)
    ):
        raise BinningError(f"min_iv must be a finite number or None, got {min_iv!r}")
    if top_k is not None and (type(top_k) is not int or top_k < 1):
        raise BinningError(f"top_k must be a positive integer or None, got {top_k!r}")
    kept = [name for name in ivs if min_iv is None or values[name] >= min_iv]
    if top_k is not None:
        best = set(sorted(kept, key=lambda name: -values[name])[:top_k])  # stable: ties by order
        kept = [name for name in kept if name in best]
    return kept


def correlation_filter(
    matrix: npt.ArrayLike,
    names: Sequence[str],
    ivs: Mapping[str, float],
    *,
    max_abs_corr: float,
) -> list[str]:
    """Of every pair of columns correlated beyond ``max_abs_corr``, drop the lower-IV one.

    Greedy, from the highest IV down: a feature is kept when its absolute Pearson
    correlation with every feature kept so far is at most ``max_abs_corr``.  A
    constant column is correlated with nothing.

    Parameters
    ----------
    matrix : array_like, rows x len(names)
        The columns (e.g. the party's WOE values).
    names : sequence of str
        Column names, unique.
    ivs : mapping of str to float
        The IV of every name.
    max_abs_corr : float
        In ``[0, 1]``.

    Returns
    -------
    list of str
        The kept names, in the order of ``names``.

    Raises
    ------
    BinningError
        If the inputs are malformed.

    Examples
    --------
    >>> x = np.array([[1.0, 2.0, 0.0], [2.0, 4.1, 1.0], [3.0, 6.0, 0.0], [4.0, 8.2, 1.0]])
    >>> correlation_filter(x, ["a", "b", "c"], {"a": 0.2, "b": 0.3, "c": 0.1}, max_abs_corr=0.9)
    ['b', 'c']
    """
    columns = _matrix(matrix, names)
    values = _ivs(ivs, names)
    if not isinstance(max_abs_corr, (int, float)) or not 0.0 <= max_abs_corr <= 1.0:
        raise BinningError(f"max_abs_corr must be in [0, 1], got {max_abs_corr!r}")
    correlation = np.abs(_correlation(columns))
    kept: list[int] = []
    for j in sorted(range(len(names)), key=lambda j: -values[names[j]]):
        if all(correlation[j, i] <= max_abs_corr for i in kept):
            kept.append(j)
    return [names[j] for j in sorted(kept)]


def variance_inflation_factors(matrix: npt.ArrayLike) -> FloatArray:
    """The variance inflation factor of every column.

    ``VIF_j = 1 / (1 - R_j^2)``, with ``R_j^2`` the coefficient of determination of
    column ``j`` regressed (with an intercept) on the other columns; computed as the
    diagonal of the inverse correlation matrix.  A column that is an exact linear
    function of others, or constant (a multiple of the intercept), has an infinite VIF.

    Parameters
    ----------
    matrix : array_like, rows x columns
        Finite values.

    Returns
    -------
    numpy.ndarray of float64

    Examples
    --------
    >>> x = np.array([[1.0, 0.0], [2.0, 1.0], [3.0, 0.0], [4.0, 1.0]])
    >>> variance_inflation_factors(x).round(4).tolist()
    [1.25, 1.25]
    """
    columns = _matrix(matrix, None)
    width = columns.shape[1]
    vifs = np.full(width, math.inf)
    varying = columns.std(axis=0) > 0
    if not varying.any():
        return vifs
    correlation = _correlation(columns[:, varying])
    eigenvalues, vectors = np.linalg.eigh(correlation)
    null = eigenvalues <= _SINGULAR * max(float(eigenvalues.max()), 1.0)
    inverse_diagonal = (vectors[:, ~null] ** 2 / eigenvalues[~null]).sum(axis=1)
    dependent = (vectors[:, null] ** 2).sum(axis=1) > 1e-12
    vifs[varying] = np.where(dependent, math.inf, inverse_diagonal)
    return vifs


def vif_filter(
    matrix: npt.ArrayLike,
    names: Sequence[str],
    ivs: Mapping[str, float],
    *,
    max_vif: float,
) -> list[str]:
    """Drop columns until every VIF is at most ``max_vif``, the lowest IV first.

    Each round computes the VIF of the remaining columns
    (:func:`variance_inflation_factors`) and drops, among those above ``max_vif``,
    the one with the lowest IV (the higher VIF, then the later column, on a tie).

    Parameters
    ----------
    matrix : array_like, rows x len(names)
    names : sequence of str
        Column names, unique.
    ivs : mapping of str to float
    max_vif : float
        At least 1 (a common choice: 10; 5 is stricter).

    Returns
    -------
    list of str
        The kept names, in the order of ``names``.

    Raises
    ------
    BinningError
        If the inputs are malformed.

    Examples
    --------
    >>> x = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 1.0], [3.0, 3.0, 0.0], [4.0, 4.1, 1.0]])
    >>> vif_filter(x, ["a", "b", "c"], {"a": 0.2, "b": 0.3, "c": 0.1}, max_vif=10.0)
    ['b', 'c']
    """
    columns = _matrix(matrix, names)
    values = _ivs(ivs, names)
    if not isinstance(max_vif, (int, float)) or not 1.0 <= max_vif < math.inf:
        raise BinningError(f"max_vif must be a finite number >= 1, got {max_vif!r}")
    remaining = list(range(len(names)))
    while remaining:
        vifs = variance_inflation_factors(columns[:, remaining])
        over = [p for p in range(len(remaining)) if vifs[p] > max_vif]
        if not over:
            break
        drop = min(over, key=lambda p: (values[names[remaining[p]]], -vifs[p], -p))
        del remaining[drop]
    return [names[j] for j in remaining]


def _correlation(columns: FloatArray) -> FloatArray:
    """Pearson correlations; 0 with a constant column, 1 on the diagonal."""
    centred = columns - columns.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    scaled = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
    correlation: FloatArray = np.clip(scaled.T @ scaled, -1.0, 1.0)
    np.fill_diagonal(correlation, 1.0)
    return correlation


def _matrix(matrix: npt.ArrayLike, names: Sequence[str] | None) -> FloatArray:
    try:
        columns = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BinningError(f"the columns must be numbers: {error}") from error
    if columns.ndim != 2:
        raise BinningError(
            f"the columns must be a rows x features matrix, got shape {columns.shape}"
        )
    if not np.isfinite(columns).all():
        raise BinningError("the columns must be finite (use WOE values: no missing cell)")
    if names is not None:
        if len(names) != columns.shape[1]:
            raise BinningError(f"{len(names)} names for {columns.shape[1]} columns")
        if len(set(names)) != len(names):
            raise BinningError(f"column names must be unique, got {list(names)}")
    return columns


def _ivs(ivs: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    values: dict[str, float] = {}
    for name in names:
        if name not in ivs:
            raise BinningError(f"no IV for column {name!r}")
        value = ivs[name]
        if (
            not isinstance(value, (int, float, np.floating))
            or isinstance(value, bool)
            or not 0.0 <= value < math.inf
        ):
            raise BinningError(f"the IV of {name!r} must be a finite number >= 0, got {value!r}")
        values[name] = float(value)
    return values
