"""Expand-accumulate code: indices from the AES-CTR spec, and G = B * A as a binary matrix."""

from __future__ import annotations

import hashlib
import secrets

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ea_code import (
    CHUNK_ROWS,
    CODE_RATE,
    EXPANDER_WEIGHT,
    MAX_CODE_SIZE,
    SEED_LABEL,
    ExpandAccumulateCode,
)
from crypto.exceptions import MalformedInputError

SEED = hashlib.sha256(b"test ea seed").digest()


def _budget(factor: float) -> settings:
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _reference_index(seed: bytes, code_size: int, row: int, position: int) -> int:
    """idx(row, position) straight from the spec, one 32-bit word at a time."""
    key = hashlib.sha256(b"vfl-engine/crypto.ea_code/expander/v1" + seed).digest()
    block, word = divmod(row, 4)
    counter = (position << 64) + block  # stream ``position`` starts at block (position, 0)
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    keystream = encryptor.update(counter.to_bytes(16, "big"))
    r = int.from_bytes(keystream[4 * word : 4 * word + 4], "little")
    return (r * code_size) >> 32


def _reference_matrix(seed: bytes, m: int, n: int, weight: int) -> np.ndarray:
    """G = B * A over GF(2) as an (m, n) 0/1 int matrix."""
    expander = np.zeros((m, n), dtype=np.int64)
    for i in range(m):
        for k in range(weight):
            expander[i, _reference_index(seed, n, i, k)] ^= 1
    accumulator = np.tril(np.ones((n, n), dtype=np.int64))  # (A e)[j] = XOR_{j' <= j} e[j']
    return (expander @ accumulator) % 2


def _matrix_encode(matrix: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """``matrix * noise`` over GF(2), bit column by bit column."""
    n, width = noise.shape
    bits = np.array(
        [[(int(noise[j, c]) >> b) & 1 for c in range(width) for b in range(64)] for j in range(n)],
        dtype=np.int64,
    ).reshape(n, width * 64)
    product = (matrix @ bits) % 2
    out = np.zeros((matrix.shape[0], width), dtype=np.uint64)
    for i in range(matrix.shape[0]):
        for c in range(width):
            out[i, c] = sum(int(product[i, 64 * c + b]) << b for b in range(64))
    return out


def _random_words(rows: int, width: int) -> np.ndarray:
    return np.frombuffer(secrets.token_bytes(8 * rows * width), dtype=np.uint64).reshape(
        rows, width
    )


@st.composite
def small_codes(draw):
    m = draw(st.integers(1, 6))
    n = draw(st.integers(CODE_RATE * m, CODE_RATE * m + 12))
    weight = draw(st.integers(1, 9))
    seed = draw(st.binary(min_size=16, max_size=40))
    width = draw(st.integers(1, 4))
    noise = draw(
        st.lists(st.integers(0, 2**64 - 1), min_size=n * width, max_size=n * width).map(
            lambda words: np.array(words, dtype=np.uint64).reshape(n, width)
        )
    )
    return m, n, weight, seed, noise


# --- indices --------------------------------------------------------------------------------


def test_label_is_the_documented_one():
    assert SEED_LABEL == b"vfl-engine/crypto.ea_code/expander/v1"
    assert EXPANDER_WEIGHT == 41 and CODE_RATE == 5


@_budget(0.5)
@given(
    st.integers(1, 40),
    st.integers(0, 2**20),
    st.integers(1, 12),
    st.binary(min_size=16, max_size=40),
)
def test_indices_follow_the_aes_ctr_spec(m, extra, weight, seed):
    n = CODE_RATE * m + extra
    code = ExpandAccumulateCode(m, n, seed, weight=weight)
    start = m // 3  # not a multiple of 4 in general: exercises the offset into a block
    got = code.indices(start, m)
    assert got.dtype == np.int64 and got.shape == (m - start, code.weight)
    expected = [
        [_reference_index(seed, n, i, k) for k in range(code.weight)] for i in range(start, m)
    ]
    assert got.tolist() == expected


def test_indices_spread_over_the_whole_code():
    code = ExpandAccumulateCode(2000, 10_000, SEED)
    idx = code.indices(0, 2000)
    assert idx.min() >= 0 and idx.max() < 10_000
    counts = np.bincount(idx.ravel(), minlength=10_000)
    # 82,000 draws into 10,000 bins: mean 8.2; a uniform spread has no empty decile.
    assert all(chunk.sum() > 7000 for chunk in np.split(counts, 10))
    assert code.indices(5, 5).shape == (0, EXPANDER_WEIGHT)


def test_indices_depend_on_the_seed_only():
    a = ExpandAccumulateCode(50, 250, SEED).indices(0, 50)
    b = ExpandAccumulateCode(50, 250, bytearray(SEED)).indices(0, 50)
    c = ExpandAccumulateCode(50, 250, SEED[:-1] + bytes([SEED[-1] ^ 1])).indices(0, 50)
    assert (a == b).all()
    assert (a != c).mean() > 0.9


def test_indices_near_the_largest_code_size():
    code = ExpandAccumulateCode(10, MAX_CODE_SIZE, SEED, weight=5)
    got = code.indices(7, 10)
    assert got.tolist() == [
        [_reference_index(SEED, MAX_CODE_SIZE, i, k) for k in range(5)] for i in range(7, 10)
    ]
    assert got.max() < MAX_CODE_SIZE


# --- dual encoding --------------------------------------------------------------------------


@_budget(1)
@given(small_codes())
def test_dual_encode_equals_explicit_matrix(case):
    m, n, weight, seed, noise = case
    code = ExpandAccumulateCode(m, n, seed, weight=weight)
    expected = _matrix_encode(_reference_matrix(seed, m, n, weight), noise)
    got = code.dual_encode(noise.copy())
    assert got.dtype == np.uint64 and got.shape == (m, noise.shape[1])
    assert got.tolist() == expected.tolist()


@_budget(1)
@given(
    st.integers(1, 30),
    st.integers(1, 4),
    st.binary(min_size=16, max_size=16),
    st.data(),
)
def test_dual_encode_is_linear(m, width, seed, data):
    n = CODE_RATE * m + data.draw(st.integers(0, 20))
    words = st.lists(st.integers(0, 2**64 - 1), min_size=n * width, max_size=n * width)
    a = np.array(data.draw(words), dtype=np.uint64).reshape(n, width)
    b = np.array(data.draw(words), dtype=np.uint64).reshape(n, width)
    code = ExpandAccumulateCode(m, n, seed)
    assert (
        code.dual_encode(a ^ b) == code.dual_encode(a.copy()) ^ code.dual_encode(b.copy())
    ).all()
    assert (code.dual_encode(np.zeros((n, width), np.uint64)) == 0).all()


def test_widths_agree_column_wise():
    code = ExpandAccumulateCode(300, 1600, SEED)
    a, b = _random_words(1600, 2), _random_words(1600, 2)
    both = code.dual_encode(np.concatenate([a, b], axis=1))
    assert (both[:, :2] == code.dual_encode(a.copy())).all()
    assert (both[:, 2:] == code.dual_encode(b.copy())).all()
    single = code.dual_encode(np.ascontiguousarray(a[:, 1:]))
    assert (single[:, 0] == both[:, 1]).all()


def test_deterministic_per_seed():
    noise = _random_words(1000, 2)
    first = ExpandAccumulateCode(200, 1000, SEED).dual_encode(noise.copy())
    second = ExpandAccumulateCode(200, 1000, SEED).dual_encode(noise.copy())
    other = ExpandAccumulateCode(200, 1000, bytes(32)).dual_encode(noise.copy())
    assert (first == second).all()
    assert not np.any(np.all(first == other, axis=1))


def test_rows_across_a_chunk_boundary():
    m = CHUNK_ROWS + 5
    n = CODE_RATE * m
    code = ExpandAccumulateCode(m, n, SEED, weight=7)
    noise = _random_words(n, 2)
    accumulated = np.bitwise_xor.accumulate(noise, axis=0)
    got = code.dual_encode(noise.copy())
    for i in (0, 1, CHUNK_ROWS - 1, CHUNK_ROWS, CHUNK_ROWS + 3, m - 1):
        expected = np.zeros(2, dtype=np.uint64)
        for k in range(7):
            expected ^= accumulated[_reference_index(SEED, n, i, k)]
        assert got[i].tolist() == expected.tolist()


def test_noise_is_overwritten_only_when_documented():
    code = ExpandAccumulateCode(20, 100, SEED)
    noise = _random_words(100, 2).copy()
    original = noise.copy()
    result = code.dual_encode(noise)
    assert (noise == np.bitwise_xor.accumulate(original, axis=0)).all()  # in place
    # A read-only or non-contiguous input is copied, not modified.
    frozen = original.copy()
    frozen.flags.writeable = False
    assert (code.dual_encode(frozen) == result).all()
    assert (frozen == original).all()
    wide = np.concatenate([original, original], axis=1)
    assert (code.dual_encode(wide[:, :2]) == result).all()
    assert (wide[:, :2] == original).all()


# --- malformed inputs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("m", "n", "weight", "match"),
    [
        (0, 10, 3, "message_size"),
        (-1, 10, 3, "message_size"),
        (10, 49, 3, "code_size"),
        (1, MAX_CODE_SIZE + 1, 3, "code_size"),
        (2, 10, 0, "weight"),
        (2, 10, 1025, "weight"),
        (2.0, 10, 3, "message_size"),
        (True, 10, 3, "message_size"),
        (2, "10", 3, "code_size"),
    ],
)
def test_bad_sizes_rejected(m, n, weight, match):
    with pytest.raises(MalformedInputError, match=match):
        ExpandAccumulateCode(m, n, SEED, weight=weight)


@pytest.mark.parametrize("seed", [b"", bytes(15), "s" * 32, None], ids=repr)
def test_bad_seed_rejected(seed):
    with pytest.raises(MalformedInputError, match="seed"):
        ExpandAccumulateCode(2, 10, seed)


@pytest.mark.parametrize(
    "noise",
    [
        np.zeros((99, 2), np.uint64),
        np.zeros((101, 2), np.uint64),
        np.zeros(100, np.uint64),
        np.zeros((100, 0), np.uint64),
        np.zeros((100, 2), np.int64),
        np.zeros((100, 2, 1), np.uint64),
        [[0, 0]] * 100,
    ],
    ids=["short", "long", "1-D", "no columns", "int64", "3-D", "list"],
)
def test_bad_noise_rejected(noise):
    with pytest.raises(MalformedInputError, match="noise"):
        ExpandAccumulateCode(20, 100, SEED).dual_encode(noise)


@pytest.mark.parametrize(("start", "stop"), [(-1, 2), (3, 2), (0, 21), (True, 3)])
def test_bad_index_range_rejected(start, stop):
    with pytest.raises(MalformedInputError):
        ExpandAccumulateCode(20, 100, SEED).indices(start, stop)


def test_repr_shows_sizes_only():
    code = ExpandAccumulateCode(20, 100, SEED)
    assert repr(code) == "ExpandAccumulateCode(message_size=20, code_size=100, weight=41)"


def test_threaded_prefix_and_chunks_equal_a_one_thread_reference() -> None:
    """Above two chunks the prefix XOR runs in two halves and the chunks on threads."""
    message, code_size = 150_000, 750_000
    code = ExpandAccumulateCode(message, code_size, seed=bytes(range(16)))
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 2**63, size=(code_size, 2), dtype=np.uint64)
    prefix = np.bitwise_xor.accumulate(noise, axis=0)
    out = code.dual_encode(noise.copy())
    rows = np.concatenate([np.arange(0, 70_000, 997), np.arange(message - 500, message)])
    expected = np.bitwise_xor.reduce(prefix[code.indices(0, message)[rows]], axis=1)
    assert np.array_equal(out[rows], expected)


@pytest.mark.parametrize(("message", "trees", "depth"), [(7, 4, 4), (150_000, 400, 11)])
def test_regular_sparse_encoding_equals_the_materialised_vector(
    message: int, trees: int, depth: int
) -> None:
    code_size = trees << depth
    code = ExpandAccumulateCode(message, code_size, seed=bytes(range(16, 32)))
    rng = np.random.default_rng(depth)
    points = rng.integers(0, 1 << depth, size=trees)
    values = rng.integers(0, 2**63, size=(trees, 2), dtype=np.uint64)
    noise = rng.integers(0, 2**63, size=(code_size, 2), dtype=np.uint64)
    sparse = np.zeros((code_size, 2), dtype=np.uint64)
    sparse[np.arange(trees) * (1 << depth) + points] = values
    a, c = code.dual_encode_with_regular(noise.copy(), points, values)
    assert np.array_equal(a, code.dual_encode(sparse))
    assert np.array_equal(c, code.dual_encode(noise.copy()))


def test_regular_sparse_encoding_refuses_a_bad_shape() -> None:
    code = ExpandAccumulateCode(2, 12, seed=bytes(16))
    with pytest.raises(MalformedInputError, match="regular sparse vector"):
        code.dual_encode_with_regular(
            np.zeros((12, 2), np.uint64), np.array([0, 1]), np.zeros((2, 2), np.uint64)
        )
