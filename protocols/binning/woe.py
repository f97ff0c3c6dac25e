"""Weight of evidence, information value and the optimal (monotone) merge of bins.

Label 1 is the *event* (a default, a "bad"); per bin ``b`` with ``E_b`` events and
``N_b`` non-events (row counts, or sums of row weights),

``WOE_b = ln( ((E_b + s) / (E + s B)) / ((N_b + s) / (N + s B)) )``,
``IV = sum_b (e_b - n_b) WOE_b``,

with ``E``, ``N`` the totals, ``B`` the number of non-empty bins, ``s`` the
smoothing (:data:`SMOOTHING`) and ``e_b``, ``n_b`` the two smoothed shares.  A
positive WOE means riskier than average.  A bin without any row has WOE 0 (neutral:
nothing is known about it, e.g. the missing bin of a column that had no missing
cell) and adds nothing to the IV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from protocols.exceptions import BinningError

__all__ = ["SMOOTHING", "merge_counts", "monotone_merge", "woe_iv"]

SMOOTHING: Final = 0.5
"""Pseudo-count added to every non-empty bin's events and non-events (Laplace-style,
as Jeffreys' prior): keeps the WOE of a bin without events (or without non-events)
finite, and shrinks the WOE of small bins towards 0."""

FloatArray = npt.NDArray[np.float64]


def woe_iv(
    events: npt.ArrayLike, non_events: npt.ArrayLike, smoothing: float = SMOOTHING
) -> tuple[FloatArray, float]:
    """The WOE of every bin and the feature's IV.

    Parameters
    ----------
    events, non_events : array_like, 1-D, same length
        Per-bin counts (or weight sums) of label 1 and label 0; finite and
        non-negative (clip noisy counts at 0 first).
    smoothing : float, default SMOOTHING
        ``s >= 0``.  With ``s = 0`` every non-empty bin needs events and non-events.

    Returns
    -------
    woe : numpy.ndarray of float64
    iv : float

    Raises
    ------
    BinningError
        If the counts are malformed, or with ``s = 0`` a WOE would be infinite.

    Examples
    --------
    >>> woe, iv = woe_iv([10, 30], [90, 70], smoothing=0.0)
    >>> np.round(woe, 4).tolist(), round(iv, 4)
    ([-0.8109, 0.539], 0.4219)
    """
    e, n = _counts(events, non_events)
    if (
        not isinstance(smoothing, (int, float))
        or isinstance(smoothing, bool)
        or not 0.0 <= smoothing < math.inf
    ):
        raise BinningError(f"smoothing must be a finite number >= 0, got {smoothing!r}")
    s = float(smoothing)
    filled = (e + n) > 0
    woe = np.zeros(len(e), dtype=np.float64)
    if not filled.any():
        return woe, 0.0
    e, n = e[filled], n[filled]
    if s == 0.0 and ((e == 0).any() or (n == 0).any()):
        raise BinningError(
            "a bin has no events or no non-events, so its WOE is infinite; use smoothing > 0 "
            "or merge the bins first"
        )
    bins = len(e)
    event_share = (e + s) / (e.sum() + s * bins)
    non_event_share = (n + s) / (n.sum() + s * bins)
    woe[filled] = np.log(event_share / non_event_share)
    iv = float(np.sum((event_share - non_event_share) * woe[filled]))
    return woe, iv


def merge_counts(counts: npt.ArrayLike, runs: Sequence[Sequence[int]]) -> FloatArray:
    """The per-run sums of per-bin counts (the counts of merged bins).

    Examples
    --------
    >>> merge_counts([1, 2, 3, 4], [[0, 1], [2], [3]]).tolist()
    [3.0, 3.0, 4.0]
    """
    values = np.asarray(counts, dtype=np.float64)
    return np.array([values[list(run)].sum() for run in runs], dtype=np.float64)


def monotone_merge(
    events: npt.ArrayLike,
    non_events: npt.ArrayLike,
    *,
    min_bin_share: float = 0.05,
    missing_last: bool = True,
    sort_by_woe: bool = False,
    smoothing: float = SMOOTHING,
) -> list[list[int]]:
    """Chi-merge adjacent bins until the WOE is monotone and every bin is large enough.

    Among the adjacent pairs of (merged) value bins that break the monotone order,
    or of which one bin holds less than ``min_bin_share`` of all rows (or no row),
    the pair with the smallest chi-square statistic (the most alike; the leftmost on
    a tie) is merged, until no such pair is left or one bin remains.  This runs once
    for an increasing and once for a decreasing WOE; the result with the larger IV
    is kept (increasing on a tie).  The missing bin is never merged.

    Parameters
    ----------
    events, non_events : array_like, 1-D, same length
        Per-bin counts (or weight sums) of label 1 and label 0.
    min_bin_share : float, default 0.05
        Smallest share of all rows (the missing bin's included) a merged bin may
        hold, in ``[0, 1)``.  When the value bins together hold less, they end up
        as one bin.
    missing_last : bool, default True
        The last bin is the missing bin: it is returned alone, last, never merged.
    sort_by_woe : bool, default False
        For categorical bins, which have no order: order the value bins by WOE
        first (ties by index), so the merge joins bins of similar risk and the WOE
        increases.  The run holding the last value bin (the "other" group) is then
        moved last, as :meth:`~protocols.binning.bins.FeatureBins.merge` asks.
    smoothing : float, default SMOOTHING

    Returns
    -------
    list of list of int
        Runs of original bin indices (each ascending), the missing bin's ``[B-1]``
        last when ``missing_last``; pass them to
        :meth:`~protocols.binning.bins.FeatureBins.merge` and :func:`merge_counts`.

    Raises
    ------
    BinningError
        If the counts or ``min_bin_share`` are malformed.

    Examples
    --------
    >>> monotone_merge([5, 20, 10, 40], [95, 80, 90, 60], min_bin_share=0.0, missing_last=False)
    [[0], [1, 2], [3]]
    """
    e, n = _counts(events, non_events)
    if (
        not isinstance(min_bin_share, (int, float))
        or isinstance(min_bin_share, bool)
        or not 0.0 <= min_bin_share < 1.0
    ):
        raise BinningError(f"min_bin_share must be in [0, 1), got {min_bin_share!r}")
    woe_iv(e, n, smoothing)  # validates the smoothing
    values = len(e) - 1 if missing_last else len(e)
    if values < 1:
        raise BinningError("monotone_merge needs at least one value bin besides the missing bin")
    floor = min_bin_share * float((e + n).sum())
    if sort_by_woe:
        woe = woe_iv(e[:values], n[:values], smoothing)[0]
        order = sorted(range(values), key=lambda index: (woe[index], index))
        runs = _chi_merge(e, n, order, values, floor, increasing=True, smoothing=smoothing)
        runs.sort(key=lambda run: values - 1 in run)  # stable: "other" last
    else:
        order = list(range(values))
        candidates = [
            _chi_merge(e, n, order, values, floor, increasing=up, smoothing=smoothing)
            for up in (True, False)
        ]
        up, down = candidates
        runs = down if _iv(e, n, down, values, smoothing) > _iv(e, n, up, values, smoothing) else up
    return runs + ([[values]] if missing_last else [])


def _chi_merge(
    e: FloatArray,
    n: FloatArray,
    order: list[int],
    values: int,
    floor: float,
    *,
    increasing: bool,
    smoothing: float,
) -> list[list[int]]:
    runs = [[index] for index in order]
    while len(runs) > 1:
        run_e = [float(e[run].sum()) for run in runs]
        run_n = [float(n[run].sum()) for run in runs]
        woe = woe_iv(run_e + e[values:].tolist(), run_n + n[values:].tolist(), smoothing)[0]
        small = [rows < floor or rows == 0 for rows in map(sum, zip(run_e, run_n, strict=True))]
        steps = np.diff(woe[: len(runs)])
        broken = (steps < 0 if increasing else steps > 0).tolist()
        pairs = [p for p in range(len(runs) - 1) if broken[p] or small[p] or small[p + 1]]
        if not pairs:
            break
        best = min(pairs, key=lambda p: _chi_square(run_e[p], run_n[p], run_e[p + 1], run_n[p + 1]))
        runs[best : best + 2] = [sorted(runs[best] + runs[best + 1])]
    return runs


def _iv(
    e: FloatArray, n: FloatArray, runs: list[list[int]], values: int, smoothing: float
) -> float:
    rest = [[index] for index in range(values, len(e))]
    return woe_iv(merge_counts(e, runs + rest), merge_counts(n, runs + rest), smoothing)[1]


def _chi_square(e1: float, n1: float, e2: float, n2: float) -> float:
    """Pearson's chi-square of the 2x2 table (two bins by event / non-event)."""
    total = e1 + n1 + e2 + n2
    if total == 0:
        return 0.0
    statistic = 0.0
    for observed, row, column in (
        (e1, e1 + n1, e1 + e2),
        (n1, e1 + n1, n1 + n2),
        (e2, e2 + n2, e1 + e2),
        (n2, e2 + n2, n1 + n2),
    ):
        expected = row * column / total
        if expected > 0:
            statistic += (observed - expected) ** 2 / expected
    return statistic


def _counts(events: npt.ArrayLike, non_events: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    try:
        e = np.asarray(events, dtype=np.float64)
        n = np.asarray(non_events, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BinningError(f"per-bin counts must be numbers: {error}") from error
    if e.ndim != 1 or e.shape != n.shape or len(e) == 0:
        raise BinningError(
            f"events and non_events must be 1-D of the same non-zero length, got shapes "
            f"{e.shape} and {n.shape}"
        )
    if not (np.isfinite(e).all() and np.isfinite(n).all()) or (e < 0).any() or (n < 0).any():
        raise BinningError("per-bin counts must be finite and >= 0 (clip noisy counts at 0 first)")
    return e, n
