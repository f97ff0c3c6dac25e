"""The polynomial that replaces the sigmoid on secret shares.

* The chosen polynomial: degree 5, interval 16, odd with ``p(0) = 1/2``, max error
  0.1197 on ``[-16, 16]`` on a dense grid, coefficients that the minimax fit
  reproduces, and a leading coefficient > 0 (rows beyond the interval are pulled back).
* The exact integer evaluation agrees with the float one within the stated bound.
* ``share_polynomials`` splits ``p_int(a + b)`` into ``sum_j a**j q_j(b)`` exactly
  for big random integers (shares are ~62 bits).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.hetero_lr.logistic_approximation import (
    DEFAULT_APPROXIMATION,
    DEFAULT_INPUT_BITS,
    DEFAULT_SCALE_BITS,
    LogisticApproximation,
    evaluate_integer_polynomial,
    fit_logistic,
    share_polynomials,
)

STATED_MAX_ERROR = 0.1198  # what the module's docstrings state (0.1197, rounded up)
F = DEFAULT_INPUT_BITS
C = DEFAULT_SCALE_BITS


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def horner_int(coefficients: list[int], x: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):
        result = result * x + coefficient
    return result


# the chosen polynomial --------------------------------------------------------------------


def test_default_is_degree_5_on_16() -> None:
    a = DEFAULT_APPROXIMATION
    assert (a.degree, a.interval, len(a.coefficients)) == (5, 16.0, 6)
    assert a.coefficients[-1] > 0  # grows beyond the interval: rows out there are pulled back


def test_max_error_holds_on_a_dense_grid() -> None:
    a = DEFAULT_APPROXIMATION
    z = np.linspace(-a.interval, a.interval, 2_000_001)  # 10x denser than at construction
    error = float(np.max(np.abs(a.evaluate(z) - sigmoid(z))))
    assert error <= STATED_MAX_ERROR
    assert a.max_error <= STATED_MAX_ERROR
    assert error == pytest.approx(a.max_error, abs=1e-6)
    assert a.max_error > 0.119  # the stated number is the measured one, not a loose bound


def test_odd_symmetry_and_half_at_zero() -> None:
    a = DEFAULT_APPROXIMATION
    assert a.is_odd
    assert a.evaluate(np.array([0.0])).tolist() == [0.5]
    z = np.linspace(-40.0, 40.0, 10_001)
    assert np.allclose(a.evaluate(z) - 0.5, -(a.evaluate(-z) - 0.5), atol=1e-12, rtol=1e-12)


def test_monotone_on_the_interval_and_pulls_back_beyond_it() -> None:
    a = DEFAULT_APPROXIMATION
    z = np.linspace(0.0, 100.0, 100_001)
    p = a.evaluate(z)
    assert (p[z <= a.interval] > -0.2).all() and (p[z <= a.interval] < 1.2).all()
    # the residual of a positive row (p - 1) is > 0 from some point on and stays so
    beyond = z[p - 1.0 <= 0.0].max()
    assert beyond < 1.2 * a.interval
    assert (p[z > beyond] > 1.0).all()


def test_minimax_fit_reproduces_the_default() -> None:
    fitted = fit_logistic(5, 16.0, method="minimax")
    for ours, theirs in zip(DEFAULT_APPROXIMATION.coefficients, fitted.coefficients, strict=True):
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-15)
    assert fitted.max_error == pytest.approx(DEFAULT_APPROXIMATION.max_error, abs=1e-9)


@pytest.mark.parametrize("method", ["least-squares", "chebyshev", "minimax"])
@pytest.mark.parametrize("degree", [3, 5, 7])
def test_fits_are_odd_and_minimax_is_best(method: str, degree: int) -> None:
    fitted = fit_logistic(degree, 8.0, method=method)
    assert fitted.is_odd
    assert fitted.max_error < 0.12
    if method == "minimax":
        for other in ("least-squares", "chebyshev"):
            assert fitted.max_error <= fit_logistic(degree, 8.0, method=other).max_error


def test_full_fit_and_bad_arguments() -> None:
    full = fit_logistic(4, 6.0, odd=False)  # every power: the even ones come out ~0
    assert full.coefficients[0] == pytest.approx(0.5) and abs(full.coefficients[2]) < 1e-12
    assert full.max_error == pytest.approx(fit_logistic(3, 6.0).max_error, abs=1e-9)
    with pytest.raises(ValueError, match="fit method"):
        fit_logistic(5, 8.0, method="spline")
    with pytest.raises(ValueError, match="degree"):
        fit_logistic(4, 8.0)
    with pytest.raises(ValueError, match="coefficients"):
        LogisticApproximation(2, 8.0, (0.5, 0.1))
    with pytest.raises(ValueError, match="leading"):
        LogisticApproximation(1, 8.0, (0.5, 0.0))
    with pytest.raises(ValueError, match="interval"):
        LogisticApproximation(1, -1.0, (0.5, 0.1))
    with pytest.raises(ValueError, match="scale_bits"):
        DEFAULT_APPROXIMATION.integer_coefficients(-1)


# integer evaluation ------------------------------------------------------------------------


def test_integer_coefficients_are_the_exact_roundings() -> None:
    ints = DEFAULT_APPROXIMATION.integer_coefficients(C)
    for c, c_int in zip(DEFAULT_APPROXIMATION.coefficients, ints, strict=True):
        assert abs(c * 2**C - c_int) <= 0.5
    assert ints[0] == 2 ** (C - 1) and ints[2] == ints[4] == 0


def test_stated_integer_error_bound() -> None:
    assert DEFAULT_APPROXIMATION.integer_error_bound(C, 16.0) < 5.2e-7


@settings(max_examples=300, deadline=None)
@given(z=st.floats(min_value=-64.0, max_value=64.0, allow_nan=False))
def test_integer_evaluation_matches_float(z: float) -> None:
    a = DEFAULT_APPROXIMATION
    zt = round(z * 2**F)
    exact = a.evaluate_integer(zt, F, C)
    value = exact / 2 ** (C + F * a.degree)  # the documented scale of the result
    rounded_input = zt / 2**F  # exact in float64 for |z| <= 64
    reference = float(a.evaluate(np.array([rounded_input]))[0])
    float_slack = 1e-15 * sum(abs(rounded_input) ** k for k in range(6)) * 8
    assert abs(value - reference) <= a.integer_error_bound(C, abs(rounded_input)) + float_slack
    # and against the unrounded input: the input rounding moves p by at most max|p'| 2**-(F+1)
    slope = sum(k * abs(c) * max(abs(z), 1.0) ** (k - 1) for k, c in enumerate(a.coefficients))
    direct = float(a.evaluate(np.array([z]))[0])
    bound = a.integer_error_bound(C, abs(z) + 1) + slope * 2.0 ** -(F + 1) + float_slack
    assert abs(value - direct) <= bound


def test_integer_evaluation_formula() -> None:
    ints = DEFAULT_APPROXIMATION.integer_coefficients(C)
    zt = -123_456_789
    expected = sum(c * zt**k * 2 ** (F * (5 - k)) for k, c in enumerate(ints))
    assert DEFAULT_APPROXIMATION.evaluate_integer(zt, F, C) == expected
    assert evaluate_integer_polynomial(ints, zt, F) == expected
    assert DEFAULT_APPROXIMATION.evaluate_integer(0, F, C) == 2 ** (C - 1 + F * 5)  # 1/2


# the split between two parties -------------------------------------------------------------

SHARES = st.integers(min_value=-(2**62), max_value=2**62)


def test_share_polynomials_shape() -> None:
    q = share_polynomials(DEFAULT_APPROXIMATION.integer_coefficients(C), F)
    assert [len(qj) for qj in q] == [6, 5, 4, 3, 2, 1]
    assert all(isinstance(v, int) for qj in q for v in qj)


@settings(max_examples=300, deadline=None)
@given(a=SHARES, b=SHARES)
def test_share_polynomials_split_is_exact(a: int, b: int) -> None:
    coefficients = DEFAULT_APPROXIMATION.integer_coefficients(C)
    q = share_polynomials(coefficients, F)
    split = sum(a**j * horner_int(qj, b) for j, qj in enumerate(q))
    assert split == DEFAULT_APPROXIMATION.evaluate_integer(a + b, F, C)


@settings(max_examples=200, deadline=None)
@given(
    coefficients=st.lists(st.integers(-(2**70), 2**70), min_size=1, max_size=9),
    input_bits=st.integers(0, 24),
    a=SHARES,
    b=SHARES,
)
def test_share_polynomials_any_polynomial(
    coefficients: list[int], input_bits: int, a: int, b: int
) -> None:
    q = share_polynomials(coefficients, input_bits)
    split = sum(a**j * horner_int(qj, b) for j, qj in enumerate(q))
    assert split == evaluate_integer_polynomial(coefficients, a + b, input_bits)


def test_bound_arithmetic_is_finite() -> None:
    assert math.isfinite(DEFAULT_APPROXIMATION.integer_error_bound(C, 1e6))
