"""A polynomial in place of the sigmoid, for training on additive secret shares.

On secret shares a party can only add and multiply, so the residual of the logistic
loss, ``sigma(z) - y``, is computed with a polynomial ``p(z)`` in place of
``sigma(z)``.  This module holds that polynomial, its float and exact integer
evaluation, and the split of the integer polynomial of a sum ``a + b`` into
polynomials in ``b`` per power of ``a`` (how two parties holding the shares
``a`` and ``b`` of ``z`` evaluate it).

Integer evaluation
------------------
``z`` is a fixed-point integer ``zt = round(z * 2**F)`` (``F`` the *input bits*,
16 in the protocol) and the coefficients are integers ``c_int[k] = round(c[k] *
2**C)`` (``C`` the *scale bits*).  Then

    ``p_int(zt) = sum_k c_int[k] * zt**k * 2**(F * (D - k))``

is an integer, computed exactly, and ``p_int(zt) / 2**(C + F*D)`` is ``p(zt / 2**F)``
up to the rounding of the coefficients (:meth:`LogisticApproximation.integer_error_bound`).

The choice (``python -m benchmarks.sigmoid_study``)
---------------------------------------------------
:data:`DEFAULT_APPROXIMATION` is degree 5 on the asymmetric interval ``[-12, 6]``
(``center=-3``, ``interval=9``), fitted by least squares with the error relative to
``min(sigma(z), 1/2) + 0.02`` and the leading coefficient pinned at its minimum
``0.02 / 9**5 = 3.387e-7``: ``fit_logistic(5, 9.0, center=-3.0, odd=False,
weighting="relative", floor=0.02, min_leading=0.02)``.  Absolute error 0.011 on
``[-12, -8]``, 0.0144 on ``[-8, -4]``, 0.21 on ``[-4, 0]`` and 0.40 at most on the
interval (at 6: ``p(6) = 1.40``); it is not odd (``p(0) = 0.288``).  Chosen by held-out
AUC of a float simulation of the engine's training (standardised features, batch 1024,
SGD, learning rate 0.1, no penalty, 20 epochs, stopping on the loss, stratified 70/30
split) against scikit-learn's ``LogisticRegression`` (C=1), with and without balanced
class weights, on breast, default_credit, make_rare_event_credit,
:func:`vfl.tables.datasets.make_heavy_tail_credit` (seeds 0-2) and a similar rare-event
generator without the savings term (seeds 0-2):

- **The previous choice (odd minimax on [-16, 16], max error 0.12) fails unweighted
  rare events.**  Between about -6 and 4 it is nearly a line of slope 0.1, flat
  outside, so with the intercept near -3.5 and the negatives at ``z`` in [-8, -2]
  (``sigma`` 0.0003-0.12) their residuals are off by ~0.1 where the truth is ~0.02:
  it behaves like least squares.  Gaps without class weights 0.015-0.021 (rare-event
  generator) and 0.026-0.032 (heavy_tail), against 0.005-0.008 and 0.014-0.017 for
  the exact sigmoid trained the same way.
- **Relative weighting, because the negatives dominate the gradient.**  Accuracy
  relative to ``sigma`` where it is small halves the unweighted gaps: 0.007-0.012
  (rare-event generator), 0.019-0.024 (heavy_tail).  The price is absolute accuracy
  on the positive side, which balanced class weights use: balanced gaps grow from
  <= 0.006 to 0.007-0.011 there (and from 0.002 to 0.007 on make_rare_event_credit).
  Worst gap over all sets and both weightings: 0.0239 (exact sigmoid: 0.0174;
  previous choice: 0.0318).  breast and default_credit stay within 0.0035.
- **Pinned leading coefficient, because the unconstrained relative fit's is
  negative** (rows beyond the interval would be pushed further out).  A minimum of
  0.02 (in ``t = (z + 3) / 9``) keeps the restoring pull on both sides: ``p > 1`` for
  ``z > 4.41`` and ``p < 0`` for ``z < -11.27``.  Stability, 50 epochs at learning
  rates 0.1, 0.3, 0.5 and 1.0 on every set: no divergence except default_credit at
  1.0 (both weightings); the previous choice diverged at 1.0 on default_credit and
  heavy_tail (balanced), the exact sigmoid never.  Higher minima (0.05, 0.1) or
  ``[-10, 6]`` diverged more often at 1.0; ``[-10, 8]`` was worse on unweighted sets.
- **Degree 5, because degree 7 did not help enough**: the best relative degree-7 fits
  gained < 0.001 on the worst gap and diverged at learning rates 0.3-1.0; every
  symmetric or absolute (uniform, minimax) fit of degree 5 or 7 on [-16, 16] down
  to [-8, 4] stayed at 0.014-0.020 on the rare-event generator without weights.

The target (within 0.005 of scikit-learn everywhere at the defaults) is not met on the
rare-event sets without class weights, but the exact sigmoid does not meet it there
either at 20 epochs (0.005-0.017): compared with the exact sigmoid, this polynomial
is 0.002-0.007 behind without weights and 0.001-0.012 behind with balanced weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_APPROXIMATION",
    "DEFAULT_INPUT_BITS",
    "DEFAULT_SCALE_BITS",
    "FIT_METHODS",
    "WEIGHTED_APPROXIMATION",
    "WEIGHTINGS",
    "LogisticApproximation",
    "evaluate_integer_polynomial",
    "fit_logistic",
    "share_polynomials",
]

FloatArray = npt.NDArray[np.float64]

FIT_METHODS = ("least-squares", "chebyshev", "minimax")
"""How :func:`fit_logistic` fits: uniform least squares on the interval, Chebyshev
interpolation (near minimax), or minimax (Lawson's reweighted least squares)."""

WEIGHTINGS = ("uniform", "relative")
"""How :func:`fit_logistic` weighs the error: uniformly, or relative to ``min(sigma, 1/2)``."""

_GRID_POINTS = 200_001  # where max_error is measured: 0.00009 apart on [-12, 6]


def _sigmoid(z: FloatArray) -> FloatArray:
    result: FloatArray = np.exp(-np.logaddexp(0.0, -z))
    return result


def _horner(coefficients: Sequence[float], z: FloatArray) -> FloatArray:
    result = np.zeros_like(z)
    for coefficient in reversed(coefficients):
        result = result * z + coefficient
    return result


@dataclass(frozen=True)
class LogisticApproximation:
    """A polynomial ``p(z) = sum_k c[k] z**k`` in place of the sigmoid on ``[-R, R]``.

    Parameters
    ----------
    degree : int
        ``D >= 1``; ``coefficients`` has ``D + 1`` entries and ``c[D] != 0``.
    interval : float
        ``R > 0``: the half-width of the interval where the polynomial approximates
        the sigmoid, ``[center - R, center + R]`` (:attr:`bounds`).
    coefficients : tuple of float
        ``c[0], ..., c[D]`` (finite).
    center : float, default 0.0
        The interval's midpoint (finite); an asymmetric interval has ``center != 0``.

    Attributes
    ----------
    max_error : float
        ``max |p(z) - sigma(z)|`` on :attr:`bounds`, measured on a grid of 200,001
        evenly spaced points at construction (between grid points the error can exceed
        it by at most ``max|p' - sigma'| * R / 200,000``, under ``1e-5`` here).

    Raises
    ------
    ValueError
        If the fields are inconsistent.

    Examples
    --------
    >>> approximation = LogisticApproximation(1, 2.0, (0.5, 0.25))
    >>> round(approximation.max_error, 4)
    0.1192
    >>> approximation.evaluate(np.array([0.0, 2.0])).tolist()
    [0.5, 1.0]
    """

    degree: int
    interval: float
    coefficients: tuple[float, ...]
    center: float = 0.0
    max_error: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"degree must be an integer >= 1, got {self.degree!r}")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"interval must be finite and > 0, got {self.interval!r}")
        if not math.isfinite(self.center):
            raise ValueError(f"center must be finite, got {self.center!r}")
        coefficients = tuple(float(c) for c in self.coefficients)
        if len(coefficients) != self.degree + 1:
            raise ValueError(
                f"a degree-{self.degree} polynomial has {self.degree + 1} coefficients, "
                f"got {len(coefficients)}"
            )
        if not all(math.isfinite(c) for c in coefficients) or coefficients[-1] == 0.0:
            raise ValueError("coefficients must be finite with a non-zero leading one")
        object.__setattr__(self, "coefficients", coefficients)
        z = np.linspace(*self.bounds, _GRID_POINTS)
        error = float(np.max(np.abs(self.evaluate(z) - _sigmoid(z))))
        object.__setattr__(self, "max_error", error)

    @property
    def bounds(self) -> tuple[float, float]:
        """``(center - R, center + R)``: where the polynomial approximates the sigmoid."""
        return (self.center - self.interval, self.center + self.interval)

    @property
    def is_odd(self) -> bool:
        """Whether ``p(z) - 1/2`` is odd (``c[0] = 1/2`` and no other even power)."""
        return self.coefficients[0] == 0.5 and not any(self.coefficients[2::2])

    def evaluate(self, z: npt.ArrayLike) -> FloatArray:
        """``p(z)`` in float64 (Horner's rule), elementwise.

        Parameters
        ----------
        z : array_like
            Scores.

        Returns
        -------
        numpy.ndarray
            ``p(z)``, same shape as ``z``.
        """
        return _horner(self.coefficients, np.asarray(z, dtype=np.float64))

    def integer_coefficients(self, scale_bits: int) -> tuple[int, ...]:
        """``c_int[k] = round(c[k] * 2**scale_bits)``, exactly (ties to even).

        Parameters
        ----------
        scale_bits : int
            ``C >= 0``.

        Returns
        -------
        tuple of int
            ``D + 1`` integers.

        Examples
        --------
        >>> LogisticApproximation(1, 2.0, (0.5, 0.25)).integer_coefficients(4)
        (8, 4)
        """
        _check_bits(scale_bits, "scale_bits")
        # c * 2**C is exact in binary floating point, so round() is the exact rounding
        return tuple(round(math.ldexp(c, scale_bits)) for c in self.coefficients)

    def evaluate_integer(self, zt: int, input_bits: int, scale_bits: int) -> int:
        """``p_int(zt)``: the polynomial on a fixed-point input, exactly in integers.

        Parameters
        ----------
        zt : int
            ``round(z * 2**input_bits)``, any size.
        input_bits : int
            ``F >= 0``, the fixed-point scale of ``zt``.
        scale_bits : int
            ``C >= 0``, the scale of the coefficients.

        Returns
        -------
        int
            ``sum_k c_int[k] * zt**k * 2**(F * (D - k))``, at scale ``2**(C + F*D)``:
            ``p_int(zt) / 2**(C + F*D)`` is ``p(zt / 2**F)`` within
            :meth:`integer_error_bound`.

        Examples
        --------
        >>> approximation = LogisticApproximation(1, 2.0, (0.5, 0.25))
        >>> approximation.evaluate_integer(3 * 2**16, 16, 32) / 2**(32 + 16)
        1.25
        """
        return evaluate_integer_polynomial(self.integer_coefficients(scale_bits), zt, input_bits)

    def integer_error_bound(self, scale_bits: int, magnitude: float) -> float:
        """How far the integer evaluation can be from the float one, for ``|z| <= magnitude``.

        Only the rounding of the coefficients to ``2**-C`` matters (the integer
        evaluation is otherwise exact): ``|p_int(zt) / 2**(C + F*D) - p(zt / 2**F)|
        <= 2**-(C+1) * sum_k |z|**k`` with ``z = zt / 2**F``.

        Parameters
        ----------
        scale_bits : int
            ``C``.
        magnitude : float
            A bound on ``|z|``.

        Returns
        -------
        float
            The bound.

        Examples
        --------
        >>> LogisticApproximation(1, 2.0, (0.5, 0.25)).integer_error_bound(32, 1.0)
        2.3283064365386963e-10
        """
        _check_bits(scale_bits, "scale_bits")
        terms = sum(abs(magnitude) ** k for k in range(self.degree + 1))
        return math.ldexp(terms, -(scale_bits + 1))


def _check_bits(bits: int, what: str) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits < 0:
        raise ValueError(f"{what} must be an integer >= 0, got {bits!r}")


def evaluate_integer_polynomial(coefficients_int: Sequence[int], zt: int, input_bits: int) -> int:
    """``sum_k c_int[k] * zt**k * 2**(F * (D - k))`` in exact integer arithmetic.

    The integer form of ``p`` on a fixed-point input ``zt = round(z * 2**F)``: the
    result is at scale ``2**(C + F*D)`` when the coefficients are at scale ``2**C``.

    Parameters
    ----------
    coefficients_int : sequence of int
        ``c_int[0], ..., c_int[D]``.
    zt : int
        The fixed-point input.
    input_bits : int
        ``F >= 0``.

    Returns
    -------
    int

    Examples
    --------
    >>> evaluate_integer_polynomial([3, 0, 1], 5, 2)  # 3 * 2**4 + 5**2
    73
    """
    _check_bits(input_bits, "input_bits")
    degree = len(coefficients_int) - 1
    return sum(
        int(coefficient) * zt**k << (input_bits * (degree - k))
        for k, coefficient in enumerate(coefficients_int)
    )


def share_polynomials(coefficients_int: Sequence[int], input_bits: int) -> list[list[int]]:
    """Split ``p_int(a + b)`` into ``sum_j a**j * q_j(b)``, exactly.

    With ``z = a + b`` held as two additive shares, the party with ``a`` supplies
    the powers ``a**0, ..., a**D`` and the party with ``b`` the polynomials ``q_j``:

        ``q_j(b) = sum_i q[j][i] * b**i``,
        ``q[j][i] = c_int[j + i] * binomial(j + i, j) * 2**(F * (D - j - i))``

    so that ``p_int(a + b) == sum_j a**j * q_j(b)`` for all integers ``a`` and ``b``
    (the binomial expansion of each ``(a + b)**k``).

    Parameters
    ----------
    coefficients_int : sequence of int
        ``c_int[0], ..., c_int[D]`` (:meth:`LogisticApproximation.integer_coefficients`).
    input_bits : int
        ``F >= 0``.

    Returns
    -------
    list of list of int
        ``D + 1`` lists; list ``j`` holds the ``D - j + 1`` coefficients of ``q_j``
        (constant first).

    Examples
    --------
    >>> q = share_polynomials([1, 2, 3], 0)
    >>> q
    [[1, 2, 3], [2, 6], [3]]
    >>> a, b = 4, -7
    >>> split = sum(a**j * sum(c * b**i for i, c in enumerate(qj)) for j, qj in enumerate(q))
    >>> split == evaluate_integer_polynomial([1, 2, 3], a + b, 0)
    True
    """
    _check_bits(input_bits, "input_bits")
    degree = len(coefficients_int) - 1
    return [
        [
            int(coefficients_int[j + i]) * math.comb(j + i, j) << (input_bits * (degree - j - i))
            for i in range(degree - j + 1)
        ]
        for j in range(degree + 1)
    ]


def fit_logistic(
    degree: int,
    interval: float,
    *,
    method: str = "least-squares",
    odd: bool = True,
    center: float = 0.0,
    weighting: str = "uniform",
    floor: float = 0.005,
    min_leading: float | None = None,
) -> LogisticApproximation:
    """Fit a polynomial to the sigmoid on ``[center - interval, center + interval]``.

    Parameters
    ----------
    degree : int
        ``D``; odd when ``odd`` (``p = 1/2 + c1 z + c3 z**3 + ...``).
    interval : float
        ``R``, the half-width of the interval.
    method : {"least-squares", "chebyshev", "minimax"}, default "least-squares"
        Least squares on a dense grid; Chebyshev interpolation (within a small factor
        of minimax, unweighted only); minimax by Lawson's iteratively reweighted least
        squares on a dense grid.
    odd : bool, default True
        Fit ``sigma(z) - 1/2`` (odd) with odd powers only (needs ``center = 0`` and
        uniform weighting); else every power.
    center : float, default 0.0
        The interval's midpoint: ``center != 0`` fits an asymmetric interval.
    weighting : {"uniform", "relative"}, default "uniform"
        How the error counts at ``z``: uniformly, or relative to the sigmoid where it
        is small, ``|p - sigma| / (min(sigma, 1/2) + floor)`` (accurate where
        ``sigma`` is near 0: the negatives of a rare-event set; absolute error where
        ``sigma >= 1/2``).
    floor : float, default 0.005
        ``> 0``: keeps the relative weight finite.
    min_leading : float, optional
        With least squares: the smallest leading coefficient *in the scaled variable*
        ``t = (z - center) / R`` (so ``c[D] >= min_leading / R**D``).  When the
        unconstrained fit's is smaller, it is fixed at ``min_leading`` and the other
        coefficients refitted (the exact solution of the constrained least squares):
        an odd degree with a positive leading coefficient pulls rows beyond the
        interval back, which training needs.

    Returns
    -------
    LogisticApproximation

    Raises
    ------
    ValueError
        If ``method`` or ``weighting`` is unknown, ``floor <= 0``, ``degree`` is even
        with ``odd``, or ``odd`` with ``center != 0`` or relative weighting.

    Examples
    --------
    >>> approximation = fit_logistic(3, 8.0)
    >>> approximation.is_odd, round(approximation.max_error, 3)
    (True, 0.114)
    >>> skewed = fit_logistic(
    ...     5, 8.0, center=-2.0, odd=False, weighting="relative", min_leading=0.05
    ... )
    >>> skewed.bounds, skewed.coefficients[-1] > 0
    ((-10.0, 6.0), True)
    """
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}; expected one of {FIT_METHODS}")
    if weighting not in WEIGHTINGS:
        raise ValueError(f"unknown weighting {weighting!r}; expected one of {WEIGHTINGS}")
    if not (math.isfinite(floor) and floor > 0):
        raise ValueError(f"floor must be finite and > 0, got {floor!r}")
    if degree < 1 or (odd and degree % 2 == 0):
        raise ValueError(f"degree must be >= 1 (odd with odd=True), got {degree!r}")
    if odd and (center != 0.0 or weighting != "uniform"):
        raise ValueError("odd=True needs center=0 and uniform weighting")
    if method == "chebyshev" and weighting != "uniform":
        raise ValueError("chebyshev interpolation has no weighting")
    if min_leading is not None and (method != "least-squares" or not math.isfinite(min_leading)):
        raise ValueError("min_leading needs least squares and a finite value")
    powers = list(range(1, degree + 1, 2)) if odd else list(range(degree + 1))
    shift = 0.5 if odd else 0.0
    # z = center + R t: fit in t on [-1, 1], then expand in z
    t = np.linspace(-1.0, 1.0, 20_001)
    sigma = _sigmoid(center + interval * t)
    target = sigma - shift
    if method == "chebyshev":
        nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
        values = _sigmoid(center + interval * nodes) - shift
        scaled = np.polynomial.chebyshev.cheb2poly(
            np.polynomial.chebyshev.chebfit(nodes, values, degree)
        )
        in_t = [float(scaled[k]) for k in powers]
    else:
        basis = np.column_stack([t**k for k in powers])
        relative = 1.0 / (np.minimum(sigma, 0.5) + floor) ** 2
        importance = relative / relative.max() if weighting == "relative" else np.ones_like(t)
        weights = np.ones_like(t)
        for _ in range(1 if method == "least-squares" else 400):
            root = np.sqrt(importance * weights)
            solution = np.linalg.lstsq(basis * root[:, None], target * root, rcond=None)[0]
            error = np.abs(basis @ solution - target) * np.sqrt(importance)
            weights = weights * error  # Lawson: weight where the (weighted) error is largest
            weights /= weights.sum()
        if min_leading is not None and solution[-1] < min_leading:
            root = np.sqrt(importance)
            rest = target - min_leading * basis[:, -1]
            solution = np.append(
                np.linalg.lstsq(basis[:, :-1] * root[:, None], rest * root, rcond=None)[0],
                min_leading,
            )
        in_t = [float(v) for v in solution]
    in_z = np.polynomial.Polynomial([0.0])
    unit = np.polynomial.Polynomial([-center / interval, 1.0 / interval])  # t as a function of z
    for power, value in zip(powers, in_t, strict=True):
        in_z = in_z + value * unit**power
    coefficients = [0.0] * (degree + 1)
    coefficients[0] = shift
    for k, value in enumerate(in_z.coef.tolist()):
        coefficients[k] += float(value)
    if odd:  # exactly odd: the expansion of t**k = (z/R)**k has no other powers
        coefficients = [
            0.5 if k == 0 else (c if k % 2 else 0.0) for k, c in enumerate(coefficients)
        ]
    return LogisticApproximation(degree, float(interval), tuple(coefficients), float(center))


DEFAULT_INPUT_BITS = 16
"""Fixed-point bits of the scores ``zt = round(z * 2**16)`` in the protocol."""

DEFAULT_SCALE_BITS = 40
"""Bits of the integer coefficients: the rounding then moves ``p`` by at most 1.3e-7
on ``[-12, 6]`` (:meth:`LogisticApproximation.integer_error_bound` at 12); the result of
:func:`evaluate_integer_polynomial` is at scale ``2**(40 + 16 * 5) = 2**120``."""

DEFAULT_APPROXIMATION = LogisticApproximation(
    degree=5,
    interval=9.0,
    # fit_logistic(5, 9.0, center=-3.0, odd=False, weighting="relative", floor=0.02,
    # min_leading=0.02), written out so it never depends on numpy
    coefficients=(
        0.2881842196049838,
        0.10421599835312396,
        0.011484063079307197,
        0.0003438578512392536,
        -1.147837345903949e-06,
        3.3870175616860567e-07,
    ),
    center=-3.0,
)
"""The chosen polynomial: degree 5 on ``[-12, 6]``, least squares relative to
``min(sigma, 1/2) + 0.02``, leading coefficient pinned at ``0.02 / 9**5`` (the module's
docstring says why)."""

WEIGHTED_APPROXIMATION = LogisticApproximation(
    degree=5,
    interval=16.0,
    # fit_logistic(5, 16.0, method="minimax"): odd, max error 0.1197 on [-16, 16]
    coefficients=(
        0.5,
        0.1360813743206071,
        0.0,
        -0.0011155262896897157,
        0.0,
        2.8721265897744844e-06,
    ),
)
"""The polynomial for weighted rows (class or sample weights): the odd degree-5 minimax
fit on ``[-16, 16]``.  Weighted training (``class_weight="balanced"`` above all) centres
the scores, where this symmetric fit is within 0.006 AUC of the exact sigmoid on every
set of ``benchmarks/sigmoid_study.py``, while :data:`DEFAULT_APPROXIMATION`, accurate
where unweighted rare-event scores sit, trails by up to 0.012 there.  Whether rows carry
weights is public (``LrSetup.weighted``), so both parties pick the same polynomial."""
