"""GF(2^128) arithmetic: scalar product, byte layout, and the table multiplier."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.exceptions import MalformedInputError
from crypto.gf128 import (
    ELEMENT_BYTES,
    MODULUS,
    ConstantMultiplier,
    element_from_int,
    elements_from_bytes,
    elements_to_bytes,
    int_from_element,
    multiply,
)

elements = st.integers(0, 2**128 - 1)
# Sparse and dense edge values are where reductions go wrong.
edge_elements = st.one_of(
    elements,
    st.sampled_from([0, 1, 2, 0x87, 2**63, 2**64, 2**127, 2**128 - 1, 2**64 - 1]),
    st.integers(0, 127).map(lambda i: 1 << i),
)


def _budget(factor: float) -> settings:
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _schoolbook(a: int, b: int) -> int:
    """Bit-serial product: a * x^i one bit at a time, reduced at every step.

    Coefficients are kept in a list of bits (not shifted ints) to stay independent
    of the implementation under test.
    """
    a_bits = [(a >> i) & 1 for i in range(128)]
    result = [0] * 128
    for i in range(128):
        if (b >> i) & 1:
            result = [r ^ s for r, s in zip(result, a_bits, strict=True)]
        # a_bits <- a_bits * x mod (x^128 + x^7 + x^2 + x + 1)
        carry = a_bits[127]
        a_bits = [0, *a_bits[:127]]
        if carry:
            for position in (0, 1, 2, 7):
                a_bits[position] ^= 1
    return sum(bit << i for i, bit in enumerate(result))


def _power(a: int, exponent: int) -> int:
    result, base = 1, a
    while exponent:
        if exponent & 1:
            result = multiply(result, base)
        base = multiply(base, base)
        exponent >>= 1
    return result


# --- scalar multiply ----------------------------------------------------------------------


def test_known_products():
    assert MODULUS == 2**128 + 0x87
    assert multiply(2**127, 2) == 0x87  # x^127 * x = x^7 + x^2 + x + 1
    assert multiply(2**64, 2**64) == 0x87  # x^128
    assert multiply(2, 3) == 6
    assert multiply(3, 3) == 5  # (x + 1)^2 = x^2 + 1 in characteristic 2
    # x^254 = x^126 (x^7 + x^2 + x + 1) = x^133 + x^128 + x^127 + x^126, worked by hand:
    assert multiply(2**127, 2**127) == sum(1 << e for e in (127, 126, 12, 6, 5, 2, 1, 0))
    assert multiply(2**128 - 1, 0) == 0
    assert multiply(2**128 - 1, 1) == 2**128 - 1


@_budget(2)
@given(edge_elements, edge_elements)
def test_multiply_equals_bit_serial_reference(a, b):
    assert multiply(a, b) == _schoolbook(a, b)


@given(edge_elements, edge_elements, edge_elements)
def test_field_laws(a, b, c):
    assert multiply(a, b) == multiply(b, a)
    assert multiply(multiply(a, b), c) == multiply(a, multiply(b, c))
    assert multiply(a, b ^ c) == multiply(a, b) ^ multiply(a, c)
    assert multiply(a, 1) == a
    assert multiply(a, 0) == 0
    assert 0 <= multiply(a, b) < 2**128


@_budget(0.5)
@given(edge_elements)
def test_frobenius_and_inverse(a):
    squared = a
    for _ in range(128):
        squared = multiply(squared, squared)
    assert squared == a  # a^(2^128) = a for every element of GF(2^128)
    if a:
        inverse = _power(a, 2**128 - 2)
        assert multiply(a, inverse) == 1


def test_x_generates_the_multiplicative_group():
    # x has order exactly 2^128 - 1 (x^128 + x^7 + x^2 + x + 1 is primitive, hence
    # irreducible, so the ring really is a field): x^(2^128 - 1) = 1 and
    # x^((2^128 - 1) / p) != 1 for every prime p dividing 2^128 - 1.
    primes = (3, 5, 17, 257, 641, 65537, 274177, 6700417, 67280421310721)
    product = 1
    for prime in primes:
        product *= prime
    assert product == 2**128 - 1
    assert _power(2, 2**128 - 1) == 1
    for prime in primes:
        assert _power(2, (2**128 - 1) // prime) != 1


@pytest.mark.parametrize("bad", [-1, 2**128, 2**200, 1.0, "1", True, None, np.uint64(3)], ids=repr)
def test_multiply_rejects_non_elements(bad):
    with pytest.raises(MalformedInputError):
        multiply(bad, 1)
    with pytest.raises(MalformedInputError):
        multiply(1, bad)
    with pytest.raises(MalformedInputError):
        element_from_int(bad)
    with pytest.raises(MalformedInputError):
        ConstantMultiplier(bad)


# --- byte layout --------------------------------------------------------------------------


@given(st.lists(elements, max_size=20))
def test_bytes_round_trip_and_layout(values):
    data = b"".join(v.to_bytes(ELEMENT_BYTES, "little") for v in values)
    array = elements_from_bytes(data)
    assert array.dtype == np.uint64 and array.shape == (len(values), 2)
    assert array.flags.writeable and array.flags.c_contiguous
    assert [int_from_element(row) for row in array] == values
    assert [[v % 2**64, v >> 64] for v in values] == array.tolist()
    assert elements_to_bytes(array) == data
    assert elements_from_bytes(bytearray(data)).tolist() == array.tolist()
    for v, row in zip(values, array, strict=True):
        assert element_from_int(v).tolist() == row.tolist()
        assert int_from_element(element_from_int(v)) == v


def test_to_bytes_of_a_non_contiguous_view():
    array = elements_from_bytes(bytes(range(64)))
    assert elements_to_bytes(array[::2]) == bytes(range(16)) + bytes(range(32, 48))


@pytest.mark.parametrize("length", [1, 15, 17, 31])
def test_from_bytes_rejects_partial_elements(length):
    with pytest.raises(MalformedInputError, match="16-byte"):
        elements_from_bytes(bytes(length))


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((3, 3), dtype=np.uint64),
        np.zeros(4, dtype=np.uint64),
        np.zeros((3, 2), dtype=np.int64),
        np.zeros((3, 2), dtype=">u8"),
        np.zeros((1, 3, 2), dtype=np.uint64),
        [[1, 2]],
    ],
    ids=["3 columns", "1-D", "int64", "big-endian", "3-D", "list"],
)
def test_array_functions_reject_malformed_arrays(bad):
    with pytest.raises(MalformedInputError):
        elements_to_bytes(bad)
    with pytest.raises(MalformedInputError):
        ConstantMultiplier(5)(bad)


def test_int_from_element_rejects_wrong_shape():
    with pytest.raises(MalformedInputError):
        int_from_element(np.zeros(3, dtype=np.uint64))
    with pytest.raises(MalformedInputError):
        int_from_element(np.zeros((1, 2), dtype=np.uint64))
    with pytest.raises(MalformedInputError):
        elements_from_bytes("00" * 16)  # type: ignore[arg-type]


# --- constant multiplier ------------------------------------------------------------------


@given(edge_elements, st.lists(edge_elements, max_size=40))
def test_constant_multiplier_equals_multiply(constant, values):
    array = np.array([[v % 2**64, v >> 64] for v in values], dtype=np.uint64).reshape(-1, 2)
    product = ConstantMultiplier(constant)(array)
    assert product.dtype == np.uint64 and product.shape == array.shape
    assert [int_from_element(row) for row in product] == [_schoolbook(constant, v) for v in values]


def test_constant_multiplier_on_random_arrays_and_views():
    constant = secrets.randbits(128)
    array = elements_from_bytes(secrets.token_bytes(16 * 3000))
    times = ConstantMultiplier(constant)
    product = times(array)
    expected = [multiply(constant, int_from_element(row)) for row in array]
    assert [int_from_element(row) for row in product] == expected
    assert [int_from_element(row) for row in times(array[1::3])] == expected[1::3]
    before = array.copy()
    times(array)
    assert (array == before).all()  # the input is not modified


def test_constant_multiplier_linear():
    times = ConstantMultiplier(secrets.randbits(128))
    a = elements_from_bytes(secrets.token_bytes(16 * 500))
    b = elements_from_bytes(secrets.token_bytes(16 * 500))
    assert (times(a ^ b) == times(a) ^ times(b)).all()


def test_constant_multiplier_hides_its_constant():
    constant = 0x0123456789ABCDEF_FEDCBA9876543210
    times = ConstantMultiplier(constant)
    for text in (repr(times), str(times)):
        assert "secret" in text
        for rendering in (str(constant), hex(constant), f"{constant:x}", f"{constant:X}"):
            assert rendering not in text
    assert not hasattr(times, "__dict__")


def test_constant_multiplier_on_empty_input():
    product = ConstantMultiplier(7)(np.zeros((0, 2), dtype=np.uint64))
    assert product.shape == (0, 2) and product.dtype == np.uint64
