"""Integer additive shares through Paillier and the plaintext backend (:mod:`crypto.shares`).

Every law is checked against plain Python integer arithmetic, on both backends (the
plaintext backend's "ciphertexts" are the integers themselves, so it is also an
independent model of what Paillier must compute), and one combination against
python-paillier (``phe``) as an independent decryptor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import shares
from crypto.encoding import to_signed
from crypto.exceptions import CryptoError
from crypto.paillier import EncryptedVector, MaskedVector, PaillierPrivateKey, PaillierPublicKey
from crypto.plain import PlainMasked, PlainPrivateKey, PlainPublicKey, generate_plain_keypair
from crypto.shares import (
    STATISTICAL_BITS,
    ShareLayout,
    add_integers,
    combine_columns,
    combine_sum,
    decrypt_integers,
    encrypt_integers,
    open_shares,
    reshare,
    share_layout,
    truncate,
)

Keys = tuple[Any, Any]

KEY_BITS = 1024
MAX_BITS = KEY_BITS - STATISTICAL_BITS - 5
"""The widest values a 1024-bit key re-shares (one per ciphertext)."""


@pytest.fixture(scope="module")
def plain_keys() -> tuple[PlainPublicKey, PlainPrivateKey]:
    return generate_plain_keypair(KEY_BITS)


@pytest.fixture(scope="module", params=["plaintext", "paillier"])
def keys(
    request: pytest.FixtureRequest,
    plain_keys: tuple[PlainPublicKey, PlainPrivateKey],
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> Keys:
    return plain_keys if request.param == "plaintext" else keypair


@st.composite
def bounded_values(draw: st.DrawFn, max_bits: int = MAX_BITS) -> tuple[int, list[int]]:
    """A bound ``bits`` and values ``|v| < 2**bits``, edges ``±(2**bits - 1)`` and 0 often."""
    bits = draw(st.integers(1, max_bits))
    edge = (1 << bits) - 1
    value = st.one_of(st.sampled_from([edge, -edge, 0, 1, -1]), st.integers(-edge, edge))
    return bits, draw(st.lists(value, min_size=1, max_size=30))


def _signed(private_key: Any, vector: Any) -> list[int]:
    return decrypt_integers(private_key, vector)


# ---------------------------------------------------------------------------------------
# re-sharing
# ---------------------------------------------------------------------------------------
@settings(max_examples=30)
@given(case=bounded_values())
def test_reshared_values_open_to_shares_that_add_back_exactly(keys: Keys, case: Any) -> None:
    public_key, private_key = keys
    bits, values = case
    secret = encrypt_integers(public_key, values, bits)
    sealed, kept = reshare(secret, bits)
    layout = share_layout(len(values), bits, public_key)
    assert len(sealed) == layout.ciphertexts
    opened = open_shares(private_key, sealed, len(values), bits)
    assert [a + b for a, b in zip(opened, kept, strict=True)] == values
    # the kept shares are -R with R in [0, 2**(bits + 40)): the opened ones x + R
    limit = 1 << (bits + STATISTICAL_BITS)
    assert all(-limit < k <= 0 for k in kept)
    assert all(-(1 << bits) < o < limit + (1 << bits) for o in opened)


def test_an_empty_vector_reshares_to_nothing(keys: Keys) -> None:
    public_key, private_key = keys
    sealed, kept = reshare(encrypt_integers(public_key, [], 30), 30)
    assert len(sealed) == 0 and kept == []
    assert open_shares(private_key, sealed, 0, 30) == []


def test_the_widest_bound_the_key_allows_round_trips(keys: Keys) -> None:
    public_key, private_key = keys
    bits = MAX_BITS
    assert ShareLayout(1, bits, KEY_BITS).per_ciphertext == 1
    with pytest.raises(CryptoError, match="do not fit"):
        ShareLayout(1, bits + 1, KEY_BITS)
    values = [(1 << bits) - 1, -((1 << bits) - 1), 0]
    sealed, kept = reshare(encrypt_integers(public_key, values, bits), bits)
    opened = open_shares(private_key, sealed, 3, bits)
    assert [a + b for a, b in zip(opened, kept, strict=True)] == values


@settings(max_examples=60)
@given(
    count=st.integers(0, 5000),
    bits=st.integers(0, 1500),
    modulus_bits=st.sampled_from([512, 1024, 2048, 3072, 4096]),
)
def test_the_layout_packs_as_many_slots_as_fit_below_the_modulus(
    count: int, bits: int, modulus_bits: int
) -> None:
    slot_bits = bits + STATISTICAL_BITS + 3
    per = (modulus_bits - 2) // slot_bits
    if per < 1:
        with pytest.raises(CryptoError):
            ShareLayout(count, bits, modulus_bits)
        return
    layout = ShareLayout(count, bits, modulus_bits)
    assert (layout.count, layout.bits, layout.slot_bits) == (count, bits, slot_bits)
    assert layout.per_ciphertext == per
    assert layout.per_ciphertext * layout.slot_bits <= modulus_bits - 2  # packed < n
    assert (layout.per_ciphertext + 1) * layout.slot_bits > modulus_bits - 2  # as many as fit
    assert layout.ciphertexts == -(-count // per)
    groups = layout.groups()
    assert len(groups) == layout.ciphertexts
    assert [i for group in groups for i in group] == list(range(count))
    assert all(len(group) == per for group in groups[:-1])
    assert all(1 <= len(group) <= per for group in groups)


def test_the_layout_docstring_numbers() -> None:
    layout = ShareLayout(100, bits=62, modulus_bits=2048)
    assert (layout.slot_bits, layout.per_ciphertext, layout.ciphertexts) == (105, 19, 6)
    assert [len(g) for g in layout.groups()] == [19] * 5 + [5]


# ---------------------------------------------------------------------------------------
# exact encryption, addition and combinations
# ---------------------------------------------------------------------------------------
@settings(max_examples=20)
@given(case=bounded_values(max_bits=KEY_BITS - 4), data=st.data())  # a sum adds a bit
def test_encrypt_and_add_integers_are_exact(keys: Keys, case: Any, data: st.DataObject) -> None:
    public_key, private_key = keys
    bits, values = case
    for key in (public_key, private_key):  # a private key encrypts too (CRT)
        vector = encrypt_integers(key, values, bits)
        assert vector.exponent == 0 and vector.bound == 1 << bits
        assert _signed(private_key, vector) == values
    addends = data.draw(
        st.lists(st.integers(-(2**200), 2**200), min_size=len(values), max_size=len(values))
    )
    sum_bits = max(bits, 200) + 1
    total = add_integers(encrypt_integers(public_key, values, bits), addends, sum_bits)
    assert total.bound == 1 << sum_bits
    assert _signed(private_key, total) == [v + a for v, a in zip(values, addends, strict=True)]


@pytest.mark.parametrize("bits", [0, 1, 17, 200])
def test_encryption_refuses_values_at_or_beyond_the_bound(keys: Keys, bits: int) -> None:
    public_key, _ = keys
    for value in (1 << bits, -(1 << bits), 1 << (bits + 5)):
        with pytest.raises(CryptoError, match="exceeds its public bound"):
            encrypt_integers(public_key, [0, value], bits)


@pytest.mark.parametrize("bits", [-1, KEY_BITS - 2, KEY_BITS, 5000])
def test_bounds_that_do_not_fit_the_key_are_refused(keys: Keys, bits: int) -> None:
    public_key, _ = keys
    with pytest.raises(CryptoError, match="does not fit"):
        encrypt_integers(public_key, [0], bits)
    vector = encrypt_integers(public_key, [1, 2], 10)
    with pytest.raises(CryptoError, match="does not fit"):
        add_integers(vector, [1, 2], bits)
    with pytest.raises(CryptoError, match="does not fit"):
        combine_columns([vector], [[1, 2]], bits)
    with pytest.raises(CryptoError, match="does not fit"):
        combine_sum([vector], [[1, 2]], bits)


def test_malformed_combinations_are_refused(keys: Keys, other_keypair: Keys) -> None:
    public_key, _ = keys
    vector = encrypt_integers(public_key, [1, 2, 3], 10)
    with pytest.raises(CryptoError, match="addends"):
        add_integers(vector, [1, 2], 20)
    with pytest.raises(CryptoError, match="one factor list per column"):
        combine_columns([vector, vector], [[1, 2, 3]], 40)
    with pytest.raises(CryptoError, match="one factor list per column"):
        combine_columns([], [], 40)
    with pytest.raises(CryptoError, match="one length"):
        combine_columns([vector], [[1, 2]], 40)
    with pytest.raises(CryptoError, match="one factor per value"):
        combine_sum([vector], [[1, 2, 3, 4]], 40)
    stranger = (
        generate_plain_keypair(KEY_BITS)[0]
        if isinstance(public_key, PlainPublicKey)
        else other_keypair[0]
    )
    foreign = encrypt_integers(stranger, [1, 2, 3], 10)
    with pytest.raises(CryptoError):
        combine_columns([vector, foreign], [[1, 1, 1], [1, 1, 1]], 40)
    with pytest.raises(CryptoError):
        combine_sum([vector, foreign], [[1, 1, 1], [1, 1, 1]], 40)


@st.composite
def combinations(draw: st.DrawFn) -> tuple[int, list[list[int]], list[list[int]], int]:
    """Columns of values below ``2**value_bits`` and signed factors of hundreds of bits."""
    rows = draw(st.integers(1, 6))
    width = draw(st.integers(1, 4))
    value_bits = draw(st.integers(1, 300))
    factor_bits = draw(st.integers(1, 400))
    edge_v, edge_f = (1 << value_bits) - 1, (1 << factor_bits) - 1
    value = st.one_of(st.sampled_from([edge_v, -edge_v, 0]), st.integers(-edge_v, edge_v))
    factor = st.one_of(st.sampled_from([edge_f, -edge_f, 0, 1, -1]), st.integers(-edge_f, edge_f))
    columns = [draw(st.lists(value, min_size=rows, max_size=rows)) for _ in range(width)]
    factors = [draw(st.lists(factor, min_size=rows, max_size=rows)) for _ in range(width)]
    return value_bits, columns, factors, value_bits + factor_bits + 2 * 4 + 4


@settings(max_examples=25)
@given(case=combinations())
def test_combinations_equal_the_integer_computation(keys: Keys, case: Any) -> None:
    public_key, private_key = keys
    value_bits, columns, factors, bits = case
    vectors = [encrypt_integers(public_key, column, value_bits) for column in columns]
    rows = len(columns[0])
    expected = [
        sum(f[i] * c[i] for c, f in zip(columns, factors, strict=True)) for i in range(rows)
    ]
    combined = combine_columns(vectors, factors, bits)
    assert combined.bound == 1 << bits and len(combined) == rows
    assert _signed(private_key, combined) == expected
    summed = combine_sum(vectors, factors, bits)
    assert _signed(private_key, summed) == [sum(expected)]


def test_combination_workers_give_the_same_integers(keypair: Keys) -> None:
    public_key, private_key = keypair
    values = [(-1) ** i * (i * 7919) ** 3 for i in range(70)]  # more than one chunk
    factors = [[(i - 35) * 2**150 + i for i in range(70)]]
    vector = encrypt_integers(public_key, values, 60)
    one = combine_columns([vector], factors, 240)
    two = combine_columns([vector], factors, 240, n_jobs=2)
    expected = [f * v for f, v in zip(factors[0], values, strict=True)]
    assert _signed(private_key, one) == _signed(private_key, two) == expected


# ---------------------------------------------------------------------------------------
# hostile input to the key owner
# ---------------------------------------------------------------------------------------
def _sealed_copy(sealed: Any, items: Sequence[int]) -> Any:
    if isinstance(sealed, PlainMasked):
        return PlainMasked(sealed.public_key, list(items))
    return MaskedVector(sealed.public_key, list(items))


def _items(sealed: Any) -> list[int]:
    return list(sealed.mantissas if isinstance(sealed, PlainMasked) else sealed.ciphertexts)


def test_open_shares_refuses_another_number_of_ciphertexts(keys: Keys) -> None:
    public_key, private_key = keys
    bits, count = 300, 6  # two per ciphertext: three ciphertexts
    sealed, _ = reshare(encrypt_integers(public_key, list(range(count)), bits), bits)
    items = _items(sealed)
    assert len(items) == 3
    for wrong in (items[:2], items + items[:1], []):
        with pytest.raises(CryptoError, match="expected 3 ciphertexts of 6 shares"):
            open_shares(private_key, _sealed_copy(sealed, wrong), count, bits)
    # the receiver's own expectation decides: fewer shares than were sent
    with pytest.raises(CryptoError, match="ciphertexts"):
        open_shares(private_key, sealed, 2, bits)


@pytest.mark.parametrize("value", [1 << 700, -(1 << 700), -1])
def test_open_shares_refuses_a_residue_beyond_the_layout(keys: Keys, value: int) -> None:
    # the sender re-shares a value far beyond the bound it claims: the last slot of
    # the ciphertext overflows (or a negative value wraps around the modulus)
    public_key, private_key = keys
    bits = 20
    lying = encrypt_integers(public_key, [value], 800)
    sealed, _ = reshare(lying.with_bound(1 << bits), bits)
    if value == -1:  # in range: it opens
        assert open_shares(private_key, sealed, 1, bits)[0] < (1 << (bits + 40))
        return
    with pytest.raises(CryptoError, match="does not fit its public layout"):
        open_shares(private_key, sealed, 1, bits)


def test_open_shares_refuses_raw_residues_that_do_not_fit(
    plain_keys: tuple[PlainPublicKey, PlainPrivateKey],
) -> None:
    public_key, private_key = plain_keys
    layout = share_layout(3, 50, public_key)
    top = 1 << (layout.slot_bits * 3)
    for residue in (top, top + 1, public_key.n - 1):
        with pytest.raises(CryptoError, match="does not fit its public layout"):
            open_shares(private_key, PlainMasked(public_key, [residue]), 3, 50)
    # the largest residue that fits opens to the largest slots
    assert (
        open_shares(private_key, PlainMasked(public_key, [top - 1]), 3, 50)
        == [(1 << layout.slot_bits) - 1 - (1 << (50 + STATISTICAL_BITS))] * 3
    )


def test_open_shares_refuses_another_key(keys: Keys, other_keypair: Keys) -> None:
    public_key, private_key = keys
    if isinstance(public_key, PlainPublicKey):
        stranger: Any = generate_plain_keypair(KEY_BITS)[0]
    else:
        stranger = other_keypair[0]
    sealed, _ = reshare(encrypt_integers(stranger, [1, 2], 30), 30)
    with pytest.raises(CryptoError):
        open_shares(private_key, sealed, 2, 30)


# ---------------------------------------------------------------------------------------
# truncation
# ---------------------------------------------------------------------------------------
@given(
    x=st.integers(-(2**300), 2**300),
    mask=st.integers(-(2**400), 2**400),
    k=st.integers(0, 120),
)
def test_truncated_shares_add_to_the_floor_or_one_less(x: int, mask: int, k: int) -> None:
    a, b = x + mask, -mask
    total = sum(truncate([a, b], k))
    assert total in (x >> k, (x >> k) - 1)
    assert truncate([a, b], 0) == [a, b]


@settings(max_examples=15)
@given(case=bounded_values(max_bits=400), k=st.integers(1, 60))
def test_truncating_reshared_shares_obeys_the_law(keys: Keys, case: Any, k: int) -> None:
    public_key, private_key = keys
    bits, values = case
    sealed, kept = reshare(encrypt_integers(public_key, values, bits), bits)
    opened = open_shares(private_key, sealed, len(values), bits)
    for x, a, b in zip(values, truncate(opened, k), truncate(kept, k), strict=True):
        assert a + b in (x >> k, (x >> k) - 1)


# ---------------------------------------------------------------------------------------
# the two backends, and python-paillier
# ---------------------------------------------------------------------------------------
@settings(max_examples=10)
@given(case=combinations(), addends=st.lists(st.integers(-(2**64), 2**64), min_size=6))
def test_paillier_and_plaintext_backends_compute_the_same_integers(
    plain_keys: tuple[PlainPublicKey, PlainPrivateKey],
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
    case: Any,
    addends: list[int],
) -> None:
    value_bits, columns, factors, bits = case
    rows = len(columns[0])
    results = []
    for public_key, private_key in (plain_keys, keypair):
        vectors = [encrypt_integers(public_key, column, value_bits) for column in columns]
        combined = add_integers(combine_columns(vectors, factors, bits), addends[:rows], bits + 1)
        summed = combine_sum(vectors, factors, bits)
        sealed, kept = reshare(combined, bits + 1)
        opened = open_shares(private_key, sealed, rows, bits + 1)
        results.append(
            (
                _signed(private_key, combined),
                _signed(private_key, summed),
                [a + b for a, b in zip(opened, kept, strict=True)],
                len(sealed),
            )
        )
    assert results[0] == results[1]


def test_python_paillier_decrypts_a_combination_of_its_own_ciphertexts(
    keypair: tuple[PaillierPublicKey, PaillierPrivateKey],
) -> None:
    public_key, private_key = keypair
    phe_public = phe.PaillierPublicKey(public_key.n)
    phe_private = phe.PaillierPrivateKey(phe_public, private_key.p, private_key.q)
    columns = [[5, -7, 2**90 - 1], [-(2**80), 3, 0]]
    factors = [[2**300 + 1, -(2**250), 12345], [-1, 2**299, -(2**301)]]
    # phe encrypts, crypto.shares combines, phe decrypts: no step of ours checks itself
    vectors = [
        EncryptedVector(
            public_key, [phe_public.raw_encrypt(v % public_key.n) for v in column], 0, 1 << 91
        )
        for column in columns
    ]
    combined = combine_columns(vectors, factors, 400)
    summed = combine_sum(vectors, factors, 400)
    expected = [sum(f[i] * c[i] for c, f in zip(columns, factors, strict=True)) for i in range(3)]
    n = public_key.n
    combined_c = cast(EncryptedVector, combined).ciphertexts
    summed_c = cast(EncryptedVector, summed).ciphertexts
    assert [to_signed(phe_private.raw_decrypt(int(c)), n) for c in combined_c] == expected
    assert [to_signed(phe_private.raw_decrypt(int(c)), n) for c in summed_c] == [sum(expected)]
    # and a re-share of it opens, through phe, to x + R
    sealed, kept = reshare(combined, 400)
    layout = share_layout(3, 400, public_key)
    offset, mask = 1 << (400 + STATISTICAL_BITS), (1 << layout.slot_bits) - 1
    opened = []
    sealed_c = cast(MaskedVector, sealed).ciphertexts
    for group, ciphertext in zip(layout.groups(), sealed_c, strict=True):
        residue = phe_private.raw_decrypt(int(ciphertext))
        opened += [((residue >> (layout.slot_bits * p)) & mask) - offset for p in range(len(group))]
    assert [a + b for a, b in zip(opened, kept, strict=True)] == expected


def test_the_module_constant_is_the_documented_forty_bits() -> None:
    assert shares.STATISTICAL_BITS == 40
