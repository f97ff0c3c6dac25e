"""Fixed-point encoding: phe's number format, one shared exponent, exact rounding."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import phe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import (
    decode_array,
    decode_scalar,
    encode_array,
    encode_scalar,
    exponent_for_precision,
    max_int,
    to_signed,
)
from crypto.exceptions import EncodingError, PlaintextOverflowError

finite_floats = st.floats(
    allow_nan=False, allow_infinity=False, width=64, min_value=-1e30, max_value=1e30
)


@pytest.mark.parametrize(
    ("precision", "exponent"),
    [
        (1.0, 0),
        (2.0**-32, -8),
        (2.0**-33, -9),
        (2.0**-31, -8),
        (1e-6, -5),
        (16.0, 1),
        (17.0, 1),
        (0.5, -1),
    ],
)
def test_exponent_for_precision_is_the_largest_power_of_16_not_above(
    precision: float, exponent: int
) -> None:
    assert exponent_for_precision(precision) == exponent
    assert 16.0**exponent <= precision < 16.0 ** (exponent + 1)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "0.1", True, None])
def test_exponent_for_precision_rejects_bad_precisions(bad: object) -> None:
    with pytest.raises(EncodingError):
        exponent_for_precision(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_ints_encode_like_phe(phe_keypair, value: int) -> None:
    phe_public, _ = phe_keypair
    expected = phe.EncodedNumber.encode(phe_public, value)
    mantissa, exponent = encode_scalar(value, phe_public.n)
    assert (mantissa % phe_public.n, exponent) == (expected.encoding, expected.exponent)


@given(finite_floats)
def test_floats_encode_like_phe(phe_keypair, value: float) -> None:
    phe_public, _ = phe_keypair
    expected = phe.EncodedNumber.encode(phe_public, value)
    mantissa, exponent = encode_scalar(value, phe_public.n)
    assert (mantissa % phe_public.n, exponent) == (expected.encoding, expected.exponent)
    assert decode_scalar(mantissa, exponent) == value


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([2.0**-8, 2.0**-32, 1e-6]),
)
def test_floats_with_precision_encode_like_phe(phe_keypair, value: float, precision: float) -> None:
    phe_public, _ = phe_keypair
    expected = phe.EncodedNumber.encode(phe_public, value, precision=precision)
    mantissa, exponent = encode_scalar(value, phe_public.n, precision=precision)
    assert exponent == expected.exponent
    # phe rounds a float product, we round exactly: they agree except on exact ties
    assert abs(mantissa % phe_public.n - expected.encoding) in (0, 1, phe_public.n - 1)


@given(st.lists(finite_floats, max_size=50), st.integers(min_value=-12, max_value=2))
def test_encode_array_rounds_each_value_exactly_to_nearest_even(
    values: list[float], exponent: int
) -> None:
    mantissas = encode_array(np.array(values, dtype=np.float64), exponent)
    scale = 16 ** (-exponent) if exponent <= 0 else None
    for value, mantissa in zip(values, mantissas, strict=True):
        # Python's round() on an exact Fraction is the independent reference
        from fractions import Fraction

        exact = Fraction(value) * (scale if scale is not None else Fraction(1, 16**exponent))
        assert mantissa == round(exact)


def test_encode_array_ties_go_to_even() -> None:
    assert encode_array(np.array([0.5, 1.5, 2.5, -0.5, -1.5]), 0) == [0, 2, 2, 0, -2]


def test_encode_array_handles_ints_bools_and_huge_values_exactly() -> None:
    assert encode_array(np.array([3, -4], dtype=np.int64), -1) == [48, -64]
    assert encode_array(np.array([True, False]), 0) == [1, 0]
    assert encode_array(np.array([1e300]), -8) == [int(1e300) * 2**32]
    assert encode_array(np.array([2.0**70]), -8) == [2**102]


@pytest.mark.parametrize("bad", [np.array([1.0, np.nan]), np.array([np.inf]), np.array(["a"])])
def test_encode_array_rejects_non_finite_or_non_numeric(bad: np.ndarray) -> None:
    with pytest.raises(EncodingError):
        encode_array(bad, -8)


@given(st.lists(st.integers(min_value=-(2**80), max_value=2**80), max_size=40), st.integers(-20, 3))
def test_decode_array_is_correctly_rounded(mantissas: list[int], exponent: int) -> None:
    from fractions import Fraction

    decoded = decode_array(mantissas, exponent)
    for mantissa, value in zip(mantissas, decoded.tolist(), strict=True):
        assert value == float(Fraction(mantissa) * Fraction(16) ** exponent)


def test_to_signed_maps_thirds_and_rejects_the_overflow_band() -> None:
    n = 1000003
    limit = max_int(n)
    assert to_signed(5, n) == 5
    assert to_signed(n - 5, n) == -5
    assert to_signed(limit, n) == limit
    assert to_signed(n - limit, n) == -limit
    with pytest.raises(PlaintextOverflowError):
        to_signed(limit + 1, n)
    with pytest.raises(PlaintextOverflowError):
        to_signed(n // 2, n)


def test_encode_scalar_refuses_values_beyond_the_plaintext_space() -> None:
    n = 2**64 + 13
    with pytest.raises(PlaintextOverflowError):
        encode_scalar(2**63, n)
    with pytest.raises(EncodingError):
        encode_scalar(float("nan"), n)
    with pytest.raises(EncodingError):
        encode_scalar("3", n)


@given(
    st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
    st.integers(-20, 3),
)
def test_integer_arrays_encode_exactly_on_the_numpy_path_and_off_it(
    values: list[int], exponent: int
) -> None:
    # int64 arrays at exponents <= 0 are scaled in numpy when the products fit in 62
    # bits, and exactly with Python integers otherwise: both give round(v / 16**e)
    expected = [
        round_half_even_fraction(v * 16 ** max(-exponent, 0), 16 ** max(exponent, 0))
        for v in values
    ]
    assert encode_array(np.array(values, dtype=np.int64), exponent) == expected


def round_half_even_fraction(numerator: int, denominator: int) -> int:
    return round(Fraction(numerator, denominator))  # Fraction rounds half to even
