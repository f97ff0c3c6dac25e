"""The 3-hash garbled cuckoo table (OKVS): positions, peeling, encode/decode, inputs."""

from __future__ import annotations

import hashlib
import os
import secrets

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto.okvs as okvs_module
from crypto.exceptions import CryptoError, MalformedInputError, OkvsEncodingError
from crypto.okvs import (
    DENSE_COLUMNS,
    OKVS_EXPANSION,
    OKVS_SMALL_SET_FACTOR,
    GarbledCuckooTable,
    okvs_size,
)

MASK64 = (1 << 64) - 1


def _budget(factor: float) -> settings:
    """``factor`` times the profile's ``max_examples`` (ci: 40, long: 2000), at least one."""
    default = settings.default
    assert default is not None
    return settings(max_examples=max(1, round(default.max_examples * factor)))


def _elements(ints: list[int]) -> np.ndarray:
    """128-bit Python ints as an (n, 2) uint64 array, column 0 = low 64 bits."""
    return np.array([[x & MASK64, x >> 64] for x in ints], dtype=np.uint64).reshape(-1, 2)


def _ints(array: np.ndarray) -> list[int]:
    return [int(lo) | (int(hi) << 64) for lo, hi in array.tolist()]


def _random_elements(n: int) -> np.ndarray:
    return np.frombuffer(os.urandom(16 * n), dtype=np.uint64).reshape(-1, 2)


def _reference_positions(key: bytes, size: int, digests: list[int]) -> list[list[int]]:
    """One AES block per digest, little-endian 32-bit words, Python-int arithmetic."""
    third = size // 3
    out = []
    for digest in digests:
        encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        block = encryptor.update(digest.to_bytes(16, "little")) + encryptor.finalize()
        words = [int.from_bytes(block[4 * j : 4 * j + 4], "little") for j in range(3)]
        out.append([j * third + ((words[j] * third) >> 32) for j in range(3)])
    return out


def _reference_core(positions: list[list[int]]) -> set[int]:
    """The rows left in the 2-core after sequential (queue) peeling."""
    rows_of: dict[int, set[int]] = {}
    for row, cols in enumerate(positions):
        for col in cols:
            rows_of.setdefault(col, set()).add(row)
    alive = set(range(len(positions)))
    queue = [col for col, rows in rows_of.items() if len(rows) == 1]
    while queue:
        col = queue.pop()
        if len(rows_of[col]) != 1:
            continue
        (row,) = rows_of[col]
        alive.discard(row)
        for other in positions[row]:
            rows_of[other].discard(row)
            if len(rows_of[other]) == 1:
                queue.append(other)
    return alive


def _reference_decode(
    table: np.ndarray, positions: list[list[int]], dense: list[int], size: int
) -> list[int]:
    """Three sparse cells and the dense cells ``size + j`` of every set bit ``j`` of r(x)."""
    cells = _ints(table)
    out = []
    for (a, b, c), bits in zip(positions, dense, strict=True):
        value = cells[a] ^ cells[b] ^ cells[c]
        for j in range(DENSE_COLUMNS):
            if bits >> j & 1:
                value ^= cells[size + j]
        out.append(value)
    return out


def _reference_dense(key: bytes, digests: list[int]) -> list[int]:
    """r(x): the low 64 bits of AES under the dense key of each digest, item by item."""
    dense_key = hashlib.sha256(b"VFL-OKVS-V01 dense|" + key).digest()[: len(key)]
    out = []
    for digest in digests:
        encryptor = Cipher(algorithms.AES(dense_key), modes.ECB()).encryptor()
        block = encryptor.update(digest.to_bytes(16, "little"))
        out.append(int.from_bytes(block[:8], "little"))
    return out


def _encode_retrying(
    n: int, keys: np.ndarray, values: np.ndarray
) -> tuple[GarbledCuckooTable, np.ndarray]:
    for _ in range(20):
        okvs = GarbledCuckooTable(okvs_size(n), secrets.token_bytes(16))
        try:
            return okvs, okvs.encode(keys, values)
        except OkvsEncodingError:
            continue
    raise AssertionError("20 encodings in a row failed")


# --- sizes -------------------------------------------------------------------------------------


def test_okvs_size_exact_values() -> None:
    assert OKVS_EXPANSION == 1.3
    assert OKVS_SMALL_SET_FACTOR == 24
    assert okvs_size(0) == 3
    assert okvs_size(1) == 24  # 24 * 1**(2/3)
    assert okvs_size(100) == 519  # 24**3 * 100**2 = 138,240,000 <= 518**3 -> 519
    assert okvs_size(1000) == 2400  # 24 * 1000**(2/3)
    assert okvs_size(6300) == 8190  # 1.3 * 6300 from here on
    assert okvs_size(10**4) == 13002
    assert okvs_size(10**6) == 1_300_002
    assert okvs_size(10**9) == 1_300_000_002


@given(st.integers(0, 10**12))
def test_okvs_size_is_the_smallest_multiple_of_three_above_both_bounds(items: int) -> None:
    size = okvs_size(items)

    def enough(cells: int) -> bool:
        return 10 * cells >= 13 * items and cells**3 >= 24**3 * items**2 and cells >= 3

    assert size % 3 == 0
    assert enough(size)
    assert not enough(size - 3)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True, None])
def test_okvs_size_rejects_non_counts(bad: object) -> None:
    with pytest.raises(MalformedInputError, match="non-negative int"):
        okvs_size(bad)  # type: ignore[arg-type]


# --- positions ---------------------------------------------------------------------------------


@_budget(0.5)
@given(
    st.lists(st.integers(0, 2**128 - 1), min_size=1, max_size=30),
    st.integers(1, 10**6).map(lambda k: 3 * k),
    st.binary(min_size=32, max_size=32),
)
def test_positions_equal_a_per_item_reference(digests: list[int], size: int, key: bytes) -> None:
    okvs = GarbledCuckooTable(size, key)
    columns = okvs.positions(_elements(digests))
    assert columns.dtype == np.int64
    assert columns.tolist() == _reference_positions(key, size, digests)


def test_positions_are_deterministic_in_their_partition_and_keyed() -> None:
    keys = _random_elements(5000)
    size = okvs_size(5000)
    okvs = GarbledCuckooTable(size, bytes(range(16)))
    columns = okvs.positions(keys)
    assert np.array_equal(columns, GarbledCuckooTable(size, bytes(range(16))).positions(keys))
    third = size // 3
    for j in range(3):
        assert columns[:, j].min() >= j * third
        assert columns[:, j].max() < (j + 1) * third
    # Uniform columns leave about third * exp(-n / third) cells of each partition empty.
    counts = np.bincount(columns.ravel(), minlength=size)
    assert counts.sum() == 3 * 5000
    assert abs(int((counts == 0).sum()) - size * np.exp(-5000 / third)) < 100
    other = GarbledCuckooTable(size, bytes(range(1, 17))).positions(keys)
    assert (other != columns).mean() > 0.99


def test_positions_agree_across_aes_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = _random_elements(11)
    okvs = GarbledCuckooTable(300, bytes(16))
    whole = okvs.positions(keys)
    monkeypatch.setattr(okvs_module, "_BLOCK", 4)
    assert np.array_equal(okvs.positions(keys), whole)
    assert whole.tolist() == _reference_positions(bytes(16), 300, _ints(keys))


def test_positions_accept_non_contiguous_keys() -> None:
    keys = _random_elements(10)
    okvs = GarbledCuckooTable(30, bytes(16))
    assert np.array_equal(okvs.positions(keys[::2]), okvs.positions(keys[::2].copy()))
    assert okvs.positions(keys[:0]).shape == (0, 3)


# --- encode / decode ---------------------------------------------------------------------------


@_budget(1.0)
@given(
    st.lists(st.integers(0, 2**128 - 1), min_size=0, max_size=200, unique=True),
    st.randoms(use_true_random=False),
)
def test_decode_of_encode_is_the_values(digests: list[int], rng) -> None:  # type: ignore[no-untyped-def]
    n = len(digests)
    values = [rng.getrandbits(128) for _ in range(n)]
    keys, vals = _elements(digests), _elements(values)
    okvs, table = _encode_retrying(n, keys, vals)
    assert table.shape == (okvs.cells, 2) == (okvs.size + DENSE_COLUMNS, 2)
    assert table.dtype == np.uint64
    assert _ints(okvs.decode(table, keys)) == values
    reference = _reference_positions(_key_of(okvs), okvs.size, digests)
    dense = _reference_dense(_key_of(okvs), digests)
    assert okvs.dense_bits(keys).tolist() == dense
    assert _reference_decode(table, reference, dense, okvs.size) == values


def _key_of(okvs: GarbledCuckooTable) -> bytes:
    """The AES key the table was built with (the tests only)."""
    return bytes(okvs._cipher.algorithm.key)  # type: ignore[attr-defined]


@_budget(1.0)
@given(
    st.lists(st.integers(0, 2**128 - 1), min_size=1, max_size=40, unique=True),
    st.integers(1, 20),
    st.binary(min_size=16, max_size=16),
)
def test_encode_absorbs_the_2core_in_the_dense_cells(
    digests: list[int], third: int, key: bytes
) -> None:
    # Small tables (m close to n) so that 2-cores are common: the dense cells solve them.
    okvs = GarbledCuckooTable(3 * third, key)
    keys = _elements(digests)
    values = _random_elements(len(digests))
    core = _reference_core(_reference_positions(key, 3 * third, digests))
    if len(core) > 24:
        with pytest.raises(OkvsEncodingError, match=f"stuck with {len(core)} of {len(digests)}"):
            okvs.encode(keys, values)
    else:
        assert np.array_equal(okvs.decode(okvs.encode(keys, values), keys), values)


def test_encode_decode_100k_items() -> None:
    n = 100_000
    keys, values = _random_elements(n), _random_elements(n)
    okvs, table = _encode_retrying(n, keys, values)
    assert np.array_equal(okvs.decode(table, keys), values)


def test_decode_of_other_keys_hits_no_encoded_value() -> None:
    n = 10_000
    keys, values = _random_elements(n), _random_elements(n)
    okvs, table = _encode_retrying(n, keys, values)
    others = okvs.decode(table, _random_elements(100_000))
    encoded = set(_ints(values))
    assert not encoded.intersection(_ints(others))
    # The decodes look uniform: every one of the 128 bits is set about half of the time.
    bits = np.unpackbits(others.view(np.uint8), axis=1)
    assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 0.01)


def test_free_cells_are_fresh_random_bytes() -> None:
    n = 2000
    keys, values = _random_elements(n), _random_elements(n)
    okvs, first = _encode_retrying(n, keys, values)
    second = okvs.encode(keys, values)
    assert np.array_equal(okvs.decode(first, keys), values)
    assert np.array_equal(okvs.decode(second, keys), values)
    rounds, core = okvs._peel(okvs.positions(keys))
    pivots = np.concatenate([p for _, p in rounds])
    free = np.setdiff1d(np.arange(okvs.size), pivots)
    assert free.size == okvs.size - n + core.size
    # Every free cell differs between the two encodings (equal with probability 2**-128).
    assert np.all((first[free] != second[free]).any(axis=1))


def test_empty_set_gives_a_random_table() -> None:
    okvs = GarbledCuckooTable(okvs_size(0), bytes(16))
    empty = np.zeros((0, 2), dtype=np.uint64)
    first, second = okvs.encode(empty, empty), okvs.encode(empty, empty)
    assert first.shape == (3 + DENSE_COLUMNS, 2)
    assert not np.array_equal(first, second)
    assert okvs.decode(first, empty).shape == (0, 2)


def test_identical_positions_with_different_values_are_solved_by_the_dense_cells() -> None:
    # With three cells every key has columns (0, 1, 2): distinct keys make a 2-core, which
    # a plain 3-hash table cannot encode (the negative control: the sparse decode alone).
    okvs = GarbledCuckooTable(3, bytes(16))
    keys = _elements(list(range(1, 21)))
    assert okvs.positions(keys).tolist() == [[0, 1, 2]] * 20
    values = _elements(list(range(100, 120)))
    table = okvs.encode(keys, values)
    assert _ints(okvs.decode(table, keys)) == list(range(100, 120))
    sparse_only = _reference_decode(table, okvs.positions(keys).tolist(), [0] * 20, 3)
    assert len(set(sparse_only)) == 1  # every key reads the same three cells
    # 25 keys on the same three cells: a 2-core larger than the dense part may hold
    with pytest.raises(OkvsEncodingError, match=r"stuck with 25 of 25 keys"):
        okvs.encode(_elements(list(range(1, 26))), _random_elements(25))


@pytest.mark.parametrize("same_value", [False, True])
def test_duplicate_digests_are_rejected(same_value: bool) -> None:
    n = 1000
    keys = _random_elements(n).copy()
    keys[700] = keys[123]
    values = _random_elements(n).copy()
    if same_value:
        values[700] = values[123]
    okvs = GarbledCuckooTable(okvs_size(n), bytes(16))
    with pytest.raises(OkvsEncodingError, match=r"keys 123 and 700 are equal.*deduplicate") as info:
        okvs.encode(keys, values)
    assert isinstance(info.value, CryptoError)
    assert isinstance(info.value, ValueError)


# --- malformed inputs --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 4, 299, -3, 3 * 2**32])
def test_table_size_must_be_a_positive_multiple_of_three(size: int) -> None:
    with pytest.raises(MalformedInputError, match="multiple of 3"):
        GarbledCuckooTable(size, bytes(16))


@pytest.mark.parametrize("size", [3.0, "3", True])
def test_table_size_must_be_an_int(size: object) -> None:
    with pytest.raises(MalformedInputError, match="size must be an int"):
        GarbledCuckooTable(size, bytes(16))  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [b"", bytes(15), bytes(24), bytes(33), "k" * 16, bytearray(16)])
def test_key_must_be_16_or_32_bytes(key: object) -> None:
    with pytest.raises(MalformedInputError, match="key must be 16 or 32 bytes"):
        GarbledCuckooTable(30, key)  # type: ignore[arg-type]


BAD_ELEMENTS = [
    (np.zeros((4, 2), dtype=np.int64), "uint64"),
    (np.zeros((4, 2), dtype=np.uint32), "uint64"),
    (np.zeros((4, 2), dtype=">u8"), "uint64"),
    ([[1, 2]], "uint64"),
    (np.zeros(8, dtype=np.uint64), "shape"),
    (np.zeros((4, 3), dtype=np.uint64), "shape"),
    (np.zeros((2, 2, 2), dtype=np.uint64), "shape"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_ELEMENTS)
def test_malformed_keys_are_rejected(bad: object, message: str) -> None:
    okvs = GarbledCuckooTable(30, bytes(16))
    good = np.zeros((4, 2), dtype=np.uint64)
    with pytest.raises(MalformedInputError, match=message):
        okvs.positions(bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match=message):
        okvs.encode(bad, good)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match=message):
        okvs.encode(_random_elements(4), bad)  # type: ignore[arg-type]
    with pytest.raises(MalformedInputError, match=message):
        okvs.decode(np.zeros((okvs.cells, 2), dtype=np.uint64), bad)  # type: ignore[arg-type]


def test_values_must_match_the_keys() -> None:
    okvs = GarbledCuckooTable(30, bytes(16))
    with pytest.raises(MalformedInputError, match="values must have 4 rows"):
        okvs.encode(_random_elements(4), _random_elements(5))


@pytest.mark.parametrize("rows", [0, 30, 93, 95, 188])
def test_decode_checks_the_table_shape(rows: int) -> None:
    okvs = GarbledCuckooTable(30, bytes(16))
    with pytest.raises(MalformedInputError, match="table must have 94 rows"):
        okvs.decode(np.zeros((rows, 2), dtype=np.uint64), _random_elements(3))
    with pytest.raises(MalformedInputError, match="table must be a numpy uint64"):
        okvs.decode(np.zeros((94, 2), dtype=np.int64), _random_elements(3))
