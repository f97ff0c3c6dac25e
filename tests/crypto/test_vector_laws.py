"""Homomorphic laws of EncryptedVector, checked exactly against a fixed-point reference.

Every decrypted result must equal, bit for bit, the same computation done on the
fixed-point mantissas with Python integers (tests/support/fixed_point_reference.py), and lie
within the fixed-point tolerance of numpy's float result.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.exceptions import KeyMismatchError, PlaintextOverflowError
from crypto.paillier import EncryptedNumber, EncryptedVector, concatenate
from tests.support.fixed_point_reference import decode, mantissas

V, P = -8, -4  # exponents of encrypted vectors (2**-32) and of float plaintexts (2**-16)
reals = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)
vectors = st.lists(st.one_of(reals, st.just(0.0), st.just(-0.0)), min_size=1, max_size=12)


def pairs(draw_length: int = 12):  # two equal-length lists
    return st.integers(min_value=1, max_value=draw_length).flatmap(
        lambda n: st.tuples(
            st.lists(reals, min_size=n, max_size=n), st.lists(reals, min_size=n, max_size=n)
        )
    )


def exact(values, exponent=V):
    return np.array(decode(mantissas(values, exponent), exponent))


@given(vectors)
def test_encrypt_decrypt_round_trip_is_exact_fixed_point(public_key, private_key, values) -> None:
    ev = public_key.encrypt_vector(np.array(values))
    assert ev.exponent == V and len(ev) == len(values)
    assert private_key.decrypt_vector(ev).tolist() == exact(values).tolist()
    owner = private_key.encrypt_vector(np.array(values))
    assert private_key.decrypt_vector(owner).tolist() == exact(values).tolist()


@given(pairs())
def test_addition_and_subtraction(public_key, private_key, pair) -> None:
    a, b = (np.array(x) for x in pair)
    ea, eb = public_key.encrypt_vector(a), public_key.encrypt_vector(b)
    ma, mb = mantissas(a, V), mantissas(b, V)
    add = decode([x + y for x, y in zip(ma, mb, strict=True)], V)
    sub = decode([x - y for x, y in zip(ma, mb, strict=True)], V)
    assert private_key.decrypt_vector(ea + eb).tolist() == add
    assert private_key.decrypt_vector(ea + b).tolist() == add
    assert private_key.decrypt_vector(b + ea).tolist() == add
    assert private_key.decrypt_vector(ea - eb).tolist() == sub
    assert private_key.decrypt_vector(ea - b).tolist() == sub
    assert private_key.decrypt_vector(a - eb).tolist() == sub
    assert private_key.decrypt_vector(-ea).tolist() == decode([-x for x in ma], V)


@given(vectors, reals)
def test_scalar_addition_broadcasts(public_key, private_key, values, scalar) -> None:
    ev = public_key.encrypt_vector(np.array(values))
    (ms,) = mantissas([scalar], V)
    expected = decode([m + ms for m in mantissas(values, V)], V)
    assert private_key.decrypt_vector(ev + scalar).tolist() == expected
    assert private_key.decrypt_vector(scalar + ev).tolist() == expected


@given(vectors, reals)
def test_multiplication_by_a_float_scalar_uses_the_plaintext_precision(
    public_key, private_key, values, k
) -> None:
    ev = public_key.encrypt_vector(np.array(values))
    (mk,) = mantissas([k], P)
    expected = decode([m * mk for m in mantissas(values, V)], V + P)
    for product in (ev * k, k * ev):
        assert product.exponent == V + P
        assert private_key.decrypt_vector(product).tolist() == expected


@given(vectors, st.integers(min_value=-(2**53), max_value=2**53))
def test_multiplication_by_an_int_is_exact(public_key, private_key, values, k) -> None:
    ev = public_key.encrypt_vector(np.array(values))
    product = ev * k
    assert product.exponent == V
    assert private_key.decrypt_vector(product).tolist() == decode(
        [m * k for m in mantissas(values, V)], V
    )


@given(pairs())
def test_elementwise_multiplication(public_key, private_key, pair) -> None:
    a, b = (np.array(x) for x in pair)
    ea = public_key.encrypt_vector(a)
    expected = decode([x * y for x, y in zip(mantissas(a, V), mantissas(b, P), strict=True)], V + P)
    assert private_key.decrypt_vector(ea * b).tolist() == expected
    assert private_key.decrypt_vector(b * ea).tolist() == expected
    assert private_key.decrypt_vector(ea.multiply(b, precision=2.0**-32)).tolist() == decode(
        [x * y for x, y in zip(mantissas(a, V), mantissas(b, -8), strict=True)], V - 8
    )


@given(vectors)
def test_sum(public_key, private_key, values) -> None:
    total = public_key.encrypt_vector(np.array(values)).sum()
    assert isinstance(total, EncryptedNumber)
    assert private_key.decrypt(total) == decode([sum(mantissas(values, V))], V)[0]


@given(
    st.integers(min_value=1, max_value=30).flatmap(
        lambda rows: st.tuples(
            st.lists(reals, min_size=rows, max_size=rows),
            st.integers(min_value=1, max_value=4).flatmap(
                lambda cols: st.lists(
                    st.lists(
                        st.floats(-50, 50, allow_nan=False, allow_subnormal=False),
                        min_size=cols,
                        max_size=cols,
                    ),
                    min_size=rows,
                    max_size=rows,
                )
            ),
        )
    )
)
def test_matrix_products(public_key, private_key, case) -> None:
    values, matrix = case
    X = np.array(matrix)
    ev = public_key.encrypt_vector(np.array(values))
    mv = mantissas(values, V)
    mx = [mantissas(row, P) for row in X]
    expected_t = decode(
        [sum(mx[i][j] * mv[i] for i in range(len(mv))) for j in range(X.shape[1])], V + P
    )
    assert private_key.decrypt_vector(X.T @ ev).tolist() == expected_t
    assert private_key.decrypt_vector(ev @ X).tolist() == expected_t
    weights = public_key.encrypt_vector(
        np.array(values[: X.shape[1]] + [0.0] * (X.shape[1] - len(values[: X.shape[1]])))
    )
    mw = mantissas(private_key.decrypt_vector(weights), V)
    expected = decode([sum(a * w for a, w in zip(row, mw, strict=True)) for row in mx], V + P)
    assert private_key.decrypt_vector(X @ weights).tolist() == expected


def test_both_matmul_plans_agree_and_match_numpy(public_key, private_key) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=400)
    X = rng.normal(size=(400, 3))
    ev = public_key.encrypt_vector(x)
    long_rows = X.T @ ev  # Pippenger plan
    w = public_key.encrypt_vector(rng.normal(size=3))
    short_rows = X @ w  # fixed-base table plan
    reference = np.asarray(exact(x)) @ np.asarray(decode(mantissas(X.ravel(), P), P)).reshape(
        X.shape
    )
    tolerance = (
        np.abs(X).T @ np.full(400, 2.0**-33) + np.abs(x) @ np.full((400, 3), 2.0**-17) + 1e-9
    )
    assert np.all(np.abs(private_key.decrypt_vector(long_rows) - X.T @ x) <= tolerance)
    assert np.allclose(private_key.decrypt_vector(long_rows), reference, rtol=1e-12, atol=1e-9)
    assert np.allclose(
        private_key.decrypt_vector(short_rows), X @ private_key.decrypt_vector(w), atol=1e-3
    )


def test_large_magnitudes_round_trip_at_coarse_precision(public_key, private_key) -> None:
    values = np.array([1e250, -3e200, 0.0, 7.0])
    ev = public_key.encrypt_vector(values, precision=1.0)
    assert private_key.decrypt_vector(ev).tolist() == values.tolist()
    assert private_key.decrypt_vector(ev + ev).tolist() == (2 * values).tolist()


def test_overflow_is_refused_before_it_happens(public_key) -> None:
    limit = public_key.max_int
    big = public_key.encrypt_vector(np.array([2.0**900, 1.0]), precision=1.0)
    with pytest.raises(PlaintextOverflowError, match="multiplication"):
        big * 2**200
    with pytest.raises(PlaintextOverflowError):
        big.multiply(np.array([2.0**130, 1.0]), precision=1.0)
    with pytest.raises(PlaintextOverflowError):
        public_key.encrypt_vector(np.array([float(limit) * 2]), precision=1.0)
    near = public_key.encrypt_vector(
        np.array([limit // 3], dtype=object), precision=1.0, max_abs=limit // 3
    )
    assert near.bound == limit // 3
    twice = near + near
    with pytest.raises(PlaintextOverflowError, match="addition"):
        twice + twice
    with pytest.raises(PlaintextOverflowError, match="sum"):
        public_key.encrypt_vector(
            np.array([limit // 2] * 3, dtype=object), max_abs=limit // 2, precision=1.0
        ).sum()


def test_overflow_that_slipped_through_is_caught_at_decryption(public_key, private_key) -> None:
    # a vector that lies about its bound (as a peer might): decryption still refuses
    limit = public_key.max_int
    honest = public_key.encrypt_vector(
        np.array([limit], dtype=object), precision=1.0, max_abs=limit
    )
    liar = EncryptedVector(public_key, honest.ciphertexts, honest.exponent, bound=1)
    with pytest.raises(PlaintextOverflowError, match="overflow"):
        private_key.decrypt_vector(liar + liar)


def test_keys_and_lengths_must_match(public_key, other_keypair) -> None:
    a = public_key.encrypt_vector(np.ones(3))
    with pytest.raises(KeyMismatchError):
        a + other_keypair[0].encrypt_vector(np.ones(3))
    with pytest.raises(ValueError, match="length"):
        a + public_key.encrypt_vector(np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        a + np.ones(4)
    with pytest.raises(ValueError, match="columns"):
        np.ones((2, 4)) @ a
    with pytest.raises(TypeError):
        a * a
    with pytest.raises(ValueError, match="1-D"):
        public_key.encrypt_vector(np.ones((2, 2)))


def test_indexing_slicing_and_concatenation(public_key, private_key) -> None:
    values = np.arange(10, dtype=float) - 4.5
    ev = public_key.encrypt_vector(values)
    assert private_key.decrypt(ev[3]) == values[3]
    assert private_key.decrypt(ev[-1]) == values[-1]
    assert private_key.decrypt_vector(ev[2:7:2]).tolist() == values[2:7:2].tolist()
    assert private_key.decrypt_vector(ev[[9, 0, 0]]).tolist() == values[[9, 0, 0]].tolist()
    assert private_key.decrypt_vector(ev[values > 0]).tolist() == values[values > 0].tolist()
    with pytest.raises(IndexError):
        ev[[10]]
    with pytest.raises(IndexError):
        ev[np.ones(3, dtype=bool)]
    coarse = public_key.encrypt_vector(np.array([1.0, 2.0]), precision=1.0)
    joined = concatenate([ev[:2], coarse])
    assert joined.exponent == V
    assert private_key.decrypt_vector(joined).tolist() == [-4.5, -3.5, 1.0, 2.0]
    assert [private_key.decrypt(n) for n in ev[:3]] == values[:3].tolist()


def test_division_by_a_scalar(public_key, private_key) -> None:
    ev = public_key.encrypt_vector(np.array([8.0, -4.0]))
    assert private_key.decrypt_vector(ev / 4).tolist() == [2.0, -1.0]


def test_numpy_defers_to_the_vector(public_key) -> None:
    ev = public_key.encrypt_vector(np.ones(3))
    assert isinstance(np.ones(3) + ev, EncryptedVector)
    assert isinstance(np.ones(3) * ev, EncryptedVector)
    assert isinstance(np.ones((2, 3)) @ ev, EncryptedVector)
    assert isinstance(np.float64(2.0) * ev, EncryptedVector)
