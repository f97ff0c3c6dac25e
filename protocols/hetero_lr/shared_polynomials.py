"""Polynomials of a shared input, split between the two share holders.

The guest holds ``a`` and the partner host ``b`` with ``z = a + b`` (integers at scale
``2**16``).  A polynomial ``p_int(z) = sum_k c_k z**k 2**(16 (D - k))`` with integer
coefficients ``c_k`` (the real coefficients at scale ``2**C``) is, by the binomial
theorem, ``sum_j a**j q_j(b)`` with
``q_j(b) = sum_{k >= j} c_k binom(k, j) b**(k - j) 2**(16 (D - k))``.  The guest
encrypts ``a**j`` (times the row weight); the partner host raises those ciphertexts
to ``q_j(b)`` and multiplies: one round, exact in integers, whatever the shares'
size (the plaintexts stay far below the modulus: see :func:`power_bits`).

The polynomials themselves: the logistic function's approximation
(:mod:`protocols.hetero_lr.logistic_approximation`) and the softplus
``log(1 + e**z)`` of the loss (fitted here, on the same interval and degree).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from protocols.hetero_lr.logistic_approximation import (
    DEFAULT_APPROXIMATION,
    WEIGHTED_APPROXIMATION,
    LogisticApproximation,
)
from protocols.hetero_lr.shared_fixed_point import INPUT_FRACTION

__all__ = [
    "COEFFICIENT_FRACTION",
    "DEGREE",
    "approximation",
    "evaluate_split",
    "integer_polynomial",
    "logistic_coefficients",
    "power_bits",
    "softplus_coefficients",
    "split_factors",
]

COEFFICIENT_FRACTION = 40
"""Fraction bits of the polynomials' coefficients (rounding moves p by < 1e-6 on the interval)."""
DEGREE = DEFAULT_APPROXIMATION.degree
"""Degree of every polynomial (the weighted rows' approximation has the same)."""
assert WEIGHTED_APPROXIMATION.degree == DEGREE


def approximation(weighted: bool) -> LogisticApproximation:
    """The sigmoid's approximation: for weighted rows or not (public: ``LrSetup.weighted``).

    Unweighted rare-event scores sit at negative ``z``, where
    :data:`~protocols.hetero_lr.logistic_approximation.DEFAULT_APPROXIMATION` is
    accurate; weighting (``class_weight="balanced"``) centres them, where the symmetric
    :data:`~protocols.hetero_lr.logistic_approximation.WEIGHTED_APPROXIMATION` is.
    """
    return WEIGHTED_APPROXIMATION if weighted else DEFAULT_APPROXIMATION


def _integer(coefficients: Sequence[float]) -> tuple[int, ...]:
    return tuple(round(c * (1 << COEFFICIENT_FRACTION)) for c in coefficients)


def _padded(coefficients: Sequence[float]) -> tuple[float, ...]:
    return tuple(coefficients) + (0.0,) * (DEGREE + 1 - len(coefficients))


@lru_cache(maxsize=4)
def logistic_coefficients(loss: str = "logistic", weighted: bool = False) -> tuple[int, ...]:
    """The sigmoid's approximation at scale ``2**40`` (constant first, degree :data:`DEGREE`).

    ``loss="taylor"``: ``1/2 + z/4``, the residual of the Taylor loss.
    """
    if loss == "taylor":
        return _integer(_padded((0.5, 0.25)))
    return _integer(approximation(weighted).coefficients)


@lru_cache(maxsize=4)
def softplus_coefficients(loss: str = "logistic", weighted: bool = False) -> tuple[int, ...]:
    """A least-squares fit of ``log(1 + e**z)`` where the sigmoid's approximation holds.

    Deterministic: Chebyshev nodes, numpy's least squares.  The loss is only reported
    (and compared between epochs), so its approximation needs no more.  With
    ``loss="taylor"``: ``log 2 + z/2 + z**2/8``, the Taylor loss (with ``- y z``).
    """
    if loss == "taylor":
        return _integer(_padded((math.log(2.0), 0.5, 0.125)))
    low, high = approximation(weighted).bounds
    nodes = (low + high) / 2 + (high - low) / 2 * np.cos(np.pi * (np.arange(512) + 0.5) / 512)
    target = np.logaddexp(0.0, nodes)
    fit = np.polynomial.Polynomial.fit(nodes, target, DEGREE).convert()
    coefficients = [float(c) for c in fit.coef] + [0.0] * (DEGREE + 1 - len(fit.coef))
    return _integer(coefficients)


def integer_polynomial(coefficients: Sequence[int], z: int) -> int:
    """``sum_k c_k z**k 2**(16 (D - k))``: the value the split computes (for tests)."""
    degree = len(coefficients) - 1
    return sum(c * z**k << (INPUT_FRACTION * (degree - k)) for k, c in enumerate(coefficients))


def split_factors(coefficients: Sequence[int], b: int) -> list[int]:
    """``[q_0(b), ..., q_D(b)]`` so that ``p_int(a + b) == sum_j a**j q_j(b)``.

    Examples
    --------
    >>> c = (3, -5, 7)
    >>> a, b = 12345, -678
    >>> q = split_factors(c, b)
    >>> sum(a**j * q[j] for j in range(3)) == integer_polynomial(c, a + b)
    True
    """
    degree = len(coefficients) - 1
    powers = [1]
    for _ in range(degree):
        powers.append(powers[-1] * b)
    factors = []
    for j in range(degree + 1):
        total = 0
        for k in range(j, degree + 1):
            total += coefficients[k] * math.comb(k, j) * powers[k - j] << (
                INPUT_FRACTION * (degree - k)
            )
        factors.append(total)
    return factors


def evaluate_split(coefficients: Sequence[int], a: int, b: int) -> int:
    """``p_int(a + b)`` through the split (for tests)."""
    return sum(a**j * q for j, q in enumerate(split_factors(coefficients, b)))


def power_bits(share_bits: int) -> int:
    """Bits of the largest plaintext the split handles, for shares of ``share_bits``.

    The partner host's ciphertexts hold ``w a**j`` and it multiplies them by
    ``q_j(b)``; every partial product stays below ``2**power_bits``, which must be
    below the guest's modulus.
    """
    return 36 + DEGREE * (share_bits + 1) + COEFFICIENT_FRACTION + DEGREE + 8
