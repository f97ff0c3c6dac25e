"""The outside review's label attack: a host solves its exact gradient as a knapsack.

In the exact-gradient modes a host unmasks ``g_j = sum_i a_ij d_i`` per batch, with
``a_ij = round(x_ij * 2**16)`` its own encoded features and ``d_i`` the residual at
resolution ``2**-32``.  When the guest's weights start at zero, ``d = 1/2 - y`` in the
first batch, so ``sum_i a_ij y_i = (2**31 sum_i a_ij - g_j) / 2**32``: ``f`` subset sums
over the same binary ``y``.  The embedding lattice (Lagarias-Odlyzko; Coster et al.)

    rows ``i``:  ``2K e_i | a_i1 .. a_if``        last row:  ``K .. K | s_1 .. s_f``

holds ``(K (2y_i - 1))_i | 0`` (or the same, noisy, when ``s`` is off by an error) as a
short vector; LLL then BKZ finds it.  ``K`` trades tolerance to errors in ``s``
against precision: exact sums use ``K = 1``; the attacker against noisy residuals
tries a range of ``K``.

This module is the attacker: it sees only what the host sees (its features, its
gradient) and uses ``fpylll``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from fpylll import BKZ, LLL, IntegerMatrix

RESIDUAL_ONE = 2**32
"""A residual of 1 at the protocol's resolution."""


def knapsack_targets(features: np.ndarray, gradient: Sequence[int]) -> list[int]:
    """``s_j`` for the guess ``d = 1/2 - y`` (the old first residual), rounded."""
    column_sums = [int(total) for total in np.sum(features.astype(object), axis=0)]
    return [
        round((RESIDUAL_ONE // 2 * total - int(g)) / RESIDUAL_ONE)
        for total, g in zip(column_sums, gradient, strict=True)
    ]


def candidates(
    features: np.ndarray,
    targets: Sequence[int],
    *,
    tolerances: Iterable[int] = (1,),
    block_size: int = 20,
) -> list[np.ndarray]:
    """Every binary ``y`` read off a short vector of the reduced embedding lattices."""
    rows = features.shape[0]
    found: list[np.ndarray] = []
    for scale in tolerances:
        basis = [
            [2 * scale if column == row else 0 for column in range(rows)]
            + [int(value) for value in features[row]]
            for row in range(rows)
        ]
        basis.append([scale] * rows + [int(target) for target in targets])
        matrix = IntegerMatrix.from_matrix(basis)
        LLL.reduction(matrix)
        found += _read_labels(matrix, rows, scale)
        if rows > block_size:
            BKZ.reduction(matrix, BKZ.Param(block_size=block_size, max_loops=8))
            found += _read_labels(matrix, rows, scale)
    return found


def _read_labels(matrix: IntegerMatrix, rows: int, scale: int) -> list[np.ndarray]:
    labels = []
    for index in range(matrix.nrows):
        head = [matrix[index, column] for column in range(rows)]
        if all(abs(value) == scale for value in head):
            signs = np.array([value // scale for value in head])
            labels += [(1 - signs) // 2, (1 + signs) // 2]
    return labels


def exact_solutions(
    features: np.ndarray, targets: Sequence[int], found: Iterable[np.ndarray]
) -> list[np.ndarray]:
    """The candidates that satisfy every subset sum exactly (what an attacker can check)."""
    weights = features.astype(object)
    return [
        labels
        for labels in found
        if [int(total) for total in labels.astype(object) @ weights] == [int(t) for t in targets]
    ]


def recover_labels(features: np.ndarray, gradient: Sequence[int]) -> np.ndarray | None:
    """The labels of a batch from a host's exact first gradient, if the knapsack gives them.

    Parameters
    ----------
    features : numpy.ndarray
        The host's encoded batch rows (integers, ``round(x * 2**16)``).
    gradient : sequence of int
        The host's exact gradient mantissas (resolution ``2**-48``).

    Returns
    -------
    numpy.ndarray or None
        0/1 labels that explain the gradient exactly under ``d = 1/2 - y``.
    """
    targets = knapsack_targets(features, gradient)
    solutions = exact_solutions(features, targets, candidates(features, targets))
    return solutions[0] if solutions else None


def best_guess_accuracy(features: np.ndarray, gradient: Sequence[int], labels: np.ndarray) -> float:
    """The best share of right labels over every candidate at every error tolerance.

    An attacker facing noisy residuals cannot check a candidate; this picks the best
    with the true labels, so it overstates the attack (an upper bound for tests).
    """
    targets = knapsack_targets(features, gradient)
    tolerances = [1, *(2**k for k in range(4, 30, 2))]
    found = candidates(features, targets, tolerances=tolerances)
    return max((float(np.mean(guess == labels)) for guess in found), default=0.0)
