"""Per-bin products of ciphertexts (joint buckets) against a naive product per bin."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import given
from hypothesis import strategies as st

from crypto.binsums import (
    MAX_BUCKETS,
    bin_products,
    combine_positions,
    mask_slots,
    multiply_products,
    open_sums,
    pack_sums,
    plan_groups,
    seal_sums,
)
from crypto.exceptions import CryptoError
from crypto.paillier import EncryptedVector, MaskedVector, PaillierPrivateKey, PaillierPublicKey
from crypto.shares import decrypt_integers, encrypt_integers

KeyPair = tuple[PaillierPublicKey, PaillierPrivateKey]


def naive_products(vector: EncryptedVector, codes: np.ndarray, n_bins: list[int]) -> list:
    n2 = mpz(vector.public_key.nsquare)
    ciphertexts = [mpz(c) for c in vector.ciphertexts]
    result = []
    for j, bins in enumerate(n_bins):
        products = [mpz(1)] * bins
        for i, code in enumerate(codes[:, j].tolist()):
            products[code] = products[code] * ciphertexts[i] % n2
        result.append(products)
    return result


@given(
    st.integers(1, 60),
    st.lists(st.integers(1, 12), min_size=1, max_size=7),
    st.integers(0, 2**32 - 1),
    st.integers(1, 3),
)
def test_bin_products_equal_the_naive_products(
    keypair: KeyPair, rows: int, n_bins: list[int], seed: int, workers: int
) -> None:
    generator = np.random.default_rng(seed)
    values = generator.integers(0, 2, size=rows).tolist()
    vector = encrypt_integers(keypair[1], values, bits=1)
    codes = np.column_stack([generator.integers(0, b, size=rows) for b in n_bins])
    with ThreadPoolExecutor(workers) as executor:  # the split into tasks, without processes
        got = bin_products(vector, codes, n_bins, executor=executor)
    assert got == naive_products(vector, codes, n_bins)
    # and the products are encryptions of the per-bin sums
    flat = [c for feature in got for c in feature]
    sums = decrypt_integers(keypair[1], EncryptedVector(keypair[0], flat, 0, rows))
    expected = [
        int(np.sum(np.array(values)[codes[:, j] == b]))
        for j, bins in enumerate(n_bins)
        for b in range(bins)
    ]
    assert sums == expected


def test_groups_follow_the_cost_model() -> None:
    assert plan_groups([10] * 9, rows=100_000) == [range(0, 4), range(4, 8), range(8, 9)]
    assert plan_groups([10] * 3, rows=3) == [range(0, 1), range(1, 2), range(2, 3)]
    # never more joint buckets than MAX_BUCKETS, every feature in order exactly once
    groups = plan_groups([256, 256, 2, 300, 7], rows=10**6)
    assert [j for g in groups for j in g] == [0, 1, 2, 3, 4]
    widths = [256, 256, 2, 300, 7]
    assert all(np.prod([widths[j] for j in g]) <= MAX_BUCKETS for g in groups)


def test_products_of_two_row_sets_multiply(keypair: KeyPair) -> None:
    codes = np.array([[0], [1], [1], [0]])
    first = encrypt_integers(keypair[1], [1, 1, 0, 1], bits=1)
    second = encrypt_integers(keypair[1], [0, 1, 1, 1], bits=1)
    both = multiply_products(
        bin_products(first, codes, [2]), bin_products(second, codes, [2]), keypair[0]
    )
    flat = [c for feature in both for c in feature]
    assert decrypt_integers(keypair[1], EncryptedVector(keypair[0], flat, 0, 8)) == [3, 3]


def test_sealed_sums_open_to_the_sums_and_are_rerandomised(keypair: KeyPair) -> None:
    public_key, private_key = keypair
    values = list(range(37))
    sums = list(encrypt_integers(private_key, values, bits=6)._ciphertexts)
    sealed = seal_sums(public_key, sums, slot_bits=6)
    assert len(sealed) == 1  # 170 slots of 6 bits fit a 1024-bit plaintext
    assert open_sums(private_key, sealed, count=37, slot_bits=6) == values
    packed = pack_sums(public_key, sums, slot_bits=6)
    assert set(packed).isdisjoint(sealed._ciphertexts)


def test_sums_that_break_the_layout_are_refused(keypair: KeyPair) -> None:
    public_key, private_key = keypair
    too_wide = list(encrypt_integers(private_key, [64, 1], bits=8)._ciphertexts)
    sealed = seal_sums(public_key, too_wide, slot_bits=6)  # 64 spills into the next slot
    with pytest.raises(CryptoError, match="layout"):
        open_sums(private_key, sealed, count=1, slot_bits=6)
    with pytest.raises(CryptoError, match="expected 1 ciphertexts"):
        open_sums(private_key, MaskedVector(public_key, []), count=2, slot_bits=6)
    p = mpz(private_key.p)
    with pytest.raises(CryptoError, match="shares a factor"):
        open_sums(private_key, MaskedVector(public_key, [p * 3]), count=2, slot_bits=6)


def test_codes_that_do_not_match_are_refused(keypair: KeyPair) -> None:
    vector = encrypt_integers(keypair[1], [1, 0], bits=1)
    with pytest.raises(CryptoError, match="outside"):
        bin_products(vector, np.array([[0], [2]]), [2])
    with pytest.raises(CryptoError, match="do not match"):
        bin_products(vector, np.array([[0, 1], [1, 0]]), [2])
    with pytest.raises(CryptoError, match="integers"):
        bin_products(vector, np.array([[0.0], [1.0]]), [2])
    forged = EncryptedVector._trusted(keypair[0], [mpz(keypair[0].nsquare + 1), mpz(2)], 0, 1)
    with pytest.raises(CryptoError, match="outside"):
        bin_products(forged, np.array([[0], [1]]), [2])


@given(st.integers(1, 30), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_rows_packed_k_to_a_ciphertext_sum_per_bin_in_the_middle_slot(
    keypair: KeyPair, rows: int, k: int, seed: int
) -> None:
    public_key, private_key = keypair
    generator = np.random.default_rng(seed)
    values = generator.integers(0, 2, size=rows)
    codes = generator.integers(0, 3, size=rows)
    width = 8 + 40 + 1  # values below 2**8, masks of 48 bits
    packed = [
        sum(int(v) << (width * t) for t, v in enumerate(values[i : i + k]))
        for i in range(0, rows, k)
    ]
    vector = encrypt_integers(private_key, packed, bits=k * width)
    per_position = [
        bin_products(vector[: len(codes[t::k])], codes[t::k].reshape(-1, 1), [3])
        if len(codes[t::k])
        else [[mpz(1)] * 3]
        for t in range(k)
    ]
    combined = combine_positions(public_key, per_position, width)
    masked = mask_slots(public_key, combined, 2 * k - 1, k - 1, width, 48) if k > 1 else combined
    plain = decrypt_integers(private_key, EncryptedVector(public_key, masked, 0, 1))
    middle = [(p >> (width * (k - 1))) & ((1 << width) - 1) for p in plain]
    assert middle == [int(values[codes == b].sum()) for b in range(3)]
    if k > 1:  # every other slot holds a mask of about 48 bits
        others = [(p >> (width * s)) & ((1 << width) - 1) for p in plain for s in range(k - 1)]
        assert min(others).bit_length() > 20
