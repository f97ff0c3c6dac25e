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
:data:`DEFAULT_APPROXIMATION` is the odd degree-5 minimax polynomial on ``[-16, 16]``:
``p(z) = 1/2 + 0.13608 z - 0.0011155 z**3 + 2.8721e-6 z**5``, max error 0.1197 on
the interval (equioscillating), evaluated at :data:`DEFAULT_INPUT_BITS` and
:data:`DEFAULT_SCALE_BITS`.  Chosen by held-out AUC of a float simulation of the
engine's training (standardised features, batch 1024, SGD, no penalty, stratified
70/30 split) on breast, default_credit and make_rare_event_credit, with and without
balanced class weights:

- **Degree 5, because its leading coefficient is positive.**  Every least-squares or
  minimax fit of degree 3 or 7 has a negative leading coefficient: beyond about
  ``1.2 R`` the residual ``p(z) - y`` has the wrong sign, a row there pushes its own
  score further out, and training diverged on default_credit (|z| up to 23 with the
  exact sigmoid) for every ``R`` from 4 to 32 except 24-32 for degree 3 and
  ``R = 32`` for minimax degree 7, which are less accurate than degree 5.  A degree-5
  fit grows towards ``+inf`` for ``z -> +inf`` (``-inf`` for ``-inf``), so a row
  beyond the interval is pulled back into it: no divergence at the default learning
  rate on any set, ``R`` from 4 to 32.
- **R = 16, because training goes past narrow intervals.**  The pull caps the
  scores near ``R``: breast trained long (300 epochs at 0.1) reaches |z| ~ 35 with
  the exact sigmoid and loses 0.0096 AUC with ``R = 8``, 0.0048 with ``R = 16``;
  at learning rate 0.3 to 0.5 ``R <= 10`` diverged.  Wider intervals learn slower
  (smaller slope at 0: 0.136 here, 1/4 for the sigmoid): worst gap to scikit-learn
  with 10 epochs 0.0052 (``R = 8``), 0.0064 (16), 0.0081 (24).
- **Minimax, because it is as good or better than uniform least squares** at every
  ``R`` (worst gap 0.0064 against 0.0077 at ``R = 16``, 10 epochs); centre-weighted
  fits and fits with the slope at 0 pinned to 1/4 helped short runs and hurt long
  ones.

Worst held-out AUC gap to scikit-learn's ``LogisticRegression`` (C=1) over the three
sets and both class weights: 0.0064 with the default 10 epochs (default_credit,
unweighted; exact sigmoid 0.0031, Taylor ``z/4 - y/2`` 0.0057), 0.0045 with 20 epochs
(exact 0.0023), 0.0046 at learning rate 0.3.  Shared-mode training should therefore
run about 20 epochs (or learning rate 0.3) to stay within 0.005 of scikit-learn.

Limit: the pull that keeps training stable also caps every score near ``R``.  When
the right model puts many rows far beyond it (a heavy-tailed feature entering the
log-odds linearly: the study's ``rare_event_spend_slope``), this polynomial stays
0.037 AUC below scikit-learn however long it trains, like least squares (0.040),
while the exact sigmoid closes the gap (0.015 after 200 epochs).
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
    "LogisticApproximation",
    "evaluate_integer_polynomial",
    "fit_logistic",
    "share_polynomials",
]

FloatArray = npt.NDArray[np.float64]

FIT_METHODS = ("least-squares", "chebyshev", "minimax")
"""How :func:`fit_logistic` fits: uniform least squares on the interval, Chebyshev
interpolation (near minimax), or minimax (Lawson's reweighted least squares)."""

_GRID_POINTS = 200_001  # where max_error is measured: 0.00016 apart on [-16, 16]


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
        ``R > 0``: the polynomial approximates the sigmoid on ``[-R, R]`` only.
    coefficients : tuple of float
        ``c[0], ..., c[D]`` (finite).

    Attributes
    ----------
    max_error : float
        ``max |p(z) - sigma(z)|`` on ``[-R, R]``, measured on a grid of 200,001
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
    max_error: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f"degree must be an integer >= 1, got {self.degree!r}")
        if not (math.isfinite(self.interval) and self.interval > 0):
            raise ValueError(f"interval must be finite and > 0, got {self.interval!r}")
        coefficients = tuple(float(c) for c in self.coefficients)
        if len(coefficients) != self.degree + 1:
            raise ValueError(
                f"a degree-{self.degree} polynomial has {self.degree + 1} coefficients, "
                f"got {len(coefficients)}"
            )
        if not all(math.isfinite(c) for c in coefficients) or coefficients[-1] == 0.0:
            raise ValueError("coefficients must be finite with a non-zero leading one")
        object.__setattr__(self, "coefficients", coefficients)
        z = np.linspace(-self.interval, self.interval, _GRID_POINTS)
        error = float(np.max(np.abs(self.evaluate(z) - _sigmoid(z))))
        object.__setattr__(self, "max_error", error)

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
    degree: int, interval: float, *, method: str = "least-squares", odd: bool = True
) -> LogisticApproximation:
    """Fit a polynomial to the sigmoid on ``[-interval, interval]``.

    Parameters
    ----------
    degree : int
        ``D``; odd when ``odd`` (``p = 1/2 + c1 z + c3 z**3 + ...``).
    interval : float
        ``R``.
    method : {"least-squares", "chebyshev", "minimax"}, default "least-squares"
        Uniform least squares on a dense grid; Chebyshev interpolation (within a
        small factor of minimax); minimax by Lawson's iteratively reweighted least
        squares on a dense grid.
    odd : bool, default True
        Fit ``sigma(z) - 1/2`` (odd) with odd powers only; else every power.

    Returns
    -------
    LogisticApproximation

    Raises
    ------
    ValueError
        If ``method`` is unknown or ``degree`` is even with ``odd``.

    Examples
    --------
    >>> approximation = fit_logistic(3, 8.0)
    >>> approximation.is_odd, round(approximation.max_error, 3)
    (True, 0.114)
    """
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}; expected one of {FIT_METHODS}")
    if degree < 1 or (odd and degree % 2 == 0):
        raise ValueError(f"degree must be >= 1 (odd with odd=True), got {degree!r}")
    powers = list(range(1, degree + 1, 2)) if odd else list(range(degree + 1))
    t = np.linspace(-1.0, 1.0, 20_001)  # z = R t: fit in t, then scale the coefficients
    target = _sigmoid(interval * t) - (0.5 if odd else 0.0)
    if method == "chebyshev":
        nodes = np.cos(np.pi * (np.arange(degree + 1) + 0.5) / (degree + 1))
        values = _sigmoid(interval * nodes) - (0.5 if odd else 0.0)
        scaled = np.polynomial.chebyshev.cheb2poly(
            np.polynomial.chebyshev.chebfit(nodes, values, degree)
        )
        in_t = [float(scaled[k]) for k in powers]
    else:
        basis = np.column_stack([t**k for k in powers])
        weights = np.ones_like(t)
        for _ in range(1 if method == "least-squares" else 400):
            root = np.sqrt(weights)
            solution = np.linalg.lstsq(basis * root[:, None], target * root, rcond=None)[0]
            error = np.abs(basis @ solution - target)
            weights = weights * error  # Lawson: weight where the error is largest
            weights /= weights.sum()
        in_t = [float(v) for v in solution]
    coefficients = [0.0] * (degree + 1)
    if odd:
        coefficients[0] = 0.5
    for power, value in zip(powers, in_t, strict=True):
        coefficients[power] += value / interval**power
    return LogisticApproximation(degree, float(interval), tuple(coefficients))


DEFAULT_INPUT_BITS = 16
"""Fixed-point bits of the scores ``zt = round(z * 2**16)`` in the protocol."""

DEFAULT_SCALE_BITS = 40
"""Bits of the integer coefficients: the rounding then moves ``p`` by at most 5.1e-7
on ``[-16, 16]`` (:meth:`LogisticApproximation.integer_error_bound`); the result of
:func:`evaluate_integer_polynomial` is at scale ``2**(40 + 16 * 5) = 2**120``."""

DEFAULT_APPROXIMATION = LogisticApproximation(
    degree=5,
    interval=16.0,
    # fit_logistic(5, 16.0, method="minimax"), written out so it never depends on numpy
    coefficients=(
        0.5,
        0.1360813743206071,
        0.0,
        -0.0011155262896897157,
        0.0,
        2.8721265897744844e-06,
    ),
)
"""The chosen polynomial: odd degree-5 minimax on ``[-16, 16]``, max error 0.1197 (the
module's docstring says why)."""
