"""Packing several values per plaintext, and masked decryption by the key owner."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.exceptions import PlaintextOverflowError
from crypto.paillier import PackedEncryptedVector, PackingLayout
from crypto.paillier.packing import unpack_mantissas
from tests.support.fixed_point_reference import decode, mantissas

reals = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_subnormal=False)


@given(st.lists(reals, min_size=1, max_size=80))
def test_pack_then_decrypt_gives_the_exact_values(public_key, private_key, values) -> None:
    ev = public_key.encrypt_vector(np.array(values))
    packed = ev.pack()
    assert isinstance(packed, PackedEncryptedVector) and len(packed) == len(values)
    assert len(packed.ciphertexts) == -(-len(values) // packed.layout.slots)
    assert private_key.decrypt_vector(packed).tolist() == decode(mantissas(values, -8), -8)


def test_packing_density_follows_the_bound(public_key, private_key) -> None:
    small = public_key.encrypt_vector(np.linspace(-1, 1, 100), max_abs=1.0)
    layout = small.pack().layout
    assert layout.slot_bits == (2 * 2**32).bit_length()  # bound = 2**32 at exponent -8
    assert layout.slots == (public_key.bits - 1) // layout.slot_bits
    assert layout.slots >= 8


def test_packed_results_of_homomorphic_computation(public_key, private_key) -> None:
    rng = np.random.default_rng(3)
    x, X = rng.normal(size=300), rng.normal(size=(300, 12))
    gradient = X.T @ public_key.encrypt_vector(x)
    assert np.array_equal(
        private_key.decrypt_vector(gradient.pack()), private_key.decrypt_vector(gradient)
    )


def test_masked_decryption_recovers_values_and_owner_sees_uniform_numbers(
    public_key, private_key
) -> None:
    values = np.zeros(200)
    masked, mask = public_key.encrypt_vector(values).mask()
    raw = private_key.decrypt_raw(masked)
    assert mask.unmask(raw).tolist() == values.tolist()
    # the owner's view of 200 encryptions of 0: uniform in Z_n (top bit, low bit)
    n = public_key.n
    high = sum(r > n // 2 for r in raw)
    odd = sum(r % 2 for r in raw)
    assert 50 < high < 150 and 50 < odd < 150  # binomial(200, 1/2): 7 sigma
    assert len(set(raw)) == 200


@given(st.lists(reals, min_size=1, max_size=60))
def test_masked_packed_round_trip(public_key, private_key, values) -> None:
    packed = public_key.encrypt_vector(np.array(values)).pack()
    masked, mask = packed.mask()
    assert len(masked) == len(packed.ciphertexts)
    assert mask.unmask(private_key.decrypt_raw(masked)).tolist() == decode(
        mantissas(values, -8), -8
    )


def test_masking_re_randomises_every_ciphertext(public_key) -> None:
    ev = public_key.encrypt_vector(np.ones(5))
    first, _ = ev.mask()
    second, _ = ev.mask()
    originals = set(ev.ciphertexts)
    assert originals.isdisjoint(first.ciphertexts) and set(first.ciphertexts).isdisjoint(
        second.ciphertexts
    )


def test_unmask_rejects_wrong_or_dishonest_decryptions(public_key, private_key) -> None:
    packed = public_key.encrypt_vector(np.ones(50), max_abs=1.0).pack()
    masked, mask = packed.mask()
    raw = private_key.decrypt_raw(masked)
    with pytest.raises(ValueError, match="expected"):
        mask.unmask(raw[:-1])
    with pytest.raises(ValueError, match=r"\[0, n\)"):
        mask.unmask([public_key.n, *raw[1:]])
    with pytest.raises(PlaintextOverflowError):
        mask.unmask([(raw[0] + (1 << public_key.bits - 2)) % public_key.n, *raw[1:]])


def test_unpack_validates_slots() -> None:
    layout = PackingLayout(length=3, slot_bits=4, slots=3, bound=7)
    assert unpack_mantissas([(14 << 8) | (7 << 4) | 0], layout) == [-7, 0, 7]
    with pytest.raises(PlaintextOverflowError):
        unpack_mantissas([15], layout)  # slot above 2 * bound
    with pytest.raises(PlaintextOverflowError):
        unpack_mantissas([1 << 12], layout)


def test_values_too_wide_to_pack_are_refused(public_key) -> None:
    wide = public_key.encrypt_vector(np.array([2.0**700]), precision=1.0)
    with pytest.raises(PlaintextOverflowError, match="pack"):
        wide.pack()
