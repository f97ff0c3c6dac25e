"""Fixed-base tables, Pippenger multi-exponentiation and batch inversion against gmpy2.powmod."""

from __future__ import annotations

import gmpy2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.fixed_base import FixedBaseTable
from crypto.multiexp import best_window, multi_exp, signed_multi_exp
from crypto.paillier.validation import batch_invert

MODULUS = gmpy2.mpz(2**521 - 1) * gmpy2.mpz(2**607 - 1)  # two Mersenne primes
residues = st.integers(min_value=2, max_value=int(MODULUS) - 1).filter(
    lambda v: gmpy2.gcd(v, MODULUS) == 1
)


@given(residues, st.lists(st.integers(min_value=0, max_value=2**300), max_size=5))
def test_fixed_base_table_matches_powmod(base, exponents) -> None:
    table = FixedBaseTable(base, MODULUS, 64)  # grows on demand past 64 bits
    for exponent in exponents:
        assert table.pow(exponent) == gmpy2.powmod(base, exponent, MODULUS)
    assert table.pow_many(exponents) == [gmpy2.powmod(base, e, MODULUS) for e in exponents]


def test_fixed_base_table_refuses_negative_exponents() -> None:
    with pytest.raises(ValueError):
        FixedBaseTable(3, MODULUS, 8).pow(-1)


def _naive(bases, exponents):
    result = gmpy2.mpz(1)
    for base, exponent in zip(bases, exponents, strict=True):
        result = result * gmpy2.powmod(base, exponent, MODULUS) % MODULUS
    return result


@given(
    st.integers(min_value=0, max_value=60).flatmap(
        lambda k: st.tuples(
            st.lists(residues, min_size=k, max_size=k),
            st.lists(st.integers(min_value=0, max_value=2**70), min_size=k, max_size=k),
        )
    )
)
def test_multi_exp_matches_naive_products(case) -> None:
    bases, exponents = case
    assert multi_exp([gmpy2.mpz(b) for b in bases], exponents, MODULUS) == _naive(bases, exponents)


@given(
    st.integers(min_value=0, max_value=40).flatmap(
        lambda k: st.tuples(
            st.lists(residues, min_size=k, max_size=k),
            st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=k, max_size=k),
        )
    )
)
def test_signed_multi_exp_matches_naive_products(case) -> None:
    bases, exponents = case
    expected = gmpy2.mpz(1)
    for base, exponent in zip(bases, exponents, strict=True):
        factor = gmpy2.powmod(base, abs(exponent), MODULUS)
        expected = expected * (gmpy2.invert(factor, MODULUS) if exponent < 0 else factor) % MODULUS
    assert signed_multi_exp([gmpy2.mpz(b) for b in bases], exponents, MODULUS) == expected


def test_huge_exponents_take_the_python_digit_path() -> None:
    bases = [gmpy2.mpz(3), gmpy2.mpz(5), gmpy2.mpz(7), gmpy2.mpz(11)]
    exponents = [2**100 + 1, 2**90, 3, 2**64 + 5]
    assert multi_exp(bases, exponents, MODULUS) == _naive(bases, exponents)
    with pytest.raises(ValueError):
        multi_exp(bases, [1, 2, -3, 4], MODULUS)
    with pytest.raises(ValueError):
        multi_exp(bases, [1], MODULUS)


def test_best_window_grows_with_the_number_of_terms() -> None:
    assert best_window(4, 20) < best_window(10_000, 20) <= 16


@given(st.lists(residues, max_size=30))
def test_batch_invert(values) -> None:
    inverses = batch_invert([gmpy2.mpz(v) for v in values], MODULUS)
    assert inverses == [gmpy2.invert(v, MODULUS) for v in values]
