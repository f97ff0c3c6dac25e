"""Interoperability with python-paillier (phe), the reference implementation, both ways."""

from __future__ import annotations

import numpy as np
import phe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.paillier import EncryptedNumber, EncryptedVector, PaillierPrivateKey, PaillierPublicKey

numbers_ = st.one_of(
    st.integers(min_value=-(2**100), max_value=2**100),
    st.floats(min_value=-1e20, max_value=1e20, allow_nan=False),
)


@pytest.fixture(scope="module")
def our_keys_from_phe(phe_keypair) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    phe_public, phe_private = phe_keypair
    public_key = PaillierPublicKey(phe_public.n, allow_weak_key=True)
    return public_key, PaillierPrivateKey(public_key, phe_private.p, phe_private.q)


@pytest.fixture(scope="module")
def phe_keys_from_ours(keypair) -> tuple[phe.PaillierPublicKey, phe.PaillierPrivateKey]:
    public_key, private_key = keypair
    phe_public = phe.PaillierPublicKey(public_key.n)
    return phe_public, phe.PaillierPrivateKey(phe_public, private_key.p, private_key.q)


@given(numbers_)
def test_we_decrypt_phe_ciphertexts(phe_keypair, our_keys_from_phe, value) -> None:
    phe_public, _ = phe_keypair
    public_key, private_key = our_keys_from_phe
    theirs = phe_public.encrypt(value)
    ours = EncryptedNumber(public_key, theirs.ciphertext(), theirs.exponent)
    assert private_key.decrypt(ours) == value


@given(numbers_)
def test_phe_decrypts_our_ciphertexts(keypair, phe_keys_from_ours, value) -> None:
    public_key, _ = keypair
    phe_public, phe_private = phe_keys_from_ours
    ours = public_key.encrypt(value)
    theirs = phe.EncryptedNumber(phe_public, ours.ciphertext(), ours.exponent)
    assert phe_private.decrypt(theirs) == value


@given(numbers_)
def test_phe_decrypts_what_our_private_key_encrypted_with_crt(
    keypair, phe_keys_from_ours, value
) -> None:
    _, private_key = keypair
    phe_public, phe_private = phe_keys_from_ours
    ours = private_key.encrypt(value)
    assert (
        phe_private.decrypt(phe.EncryptedNumber(phe_public, ours.ciphertext(), ours.exponent))
        == value
    )


scalars = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(
    lambda v: v == 0 or abs(v) > 1e-12
)


moderate = st.one_of(
    st.integers(min_value=-(2**100), max_value=2**100),
    st.floats(min_value=-1e20, max_value=1e20, allow_nan=False).filter(
        lambda v: v == 0 or abs(v) > 1e-12
    ),
)


@given(moderate, moderate, scalars)
def test_mixed_arithmetic_matches_phe(keypair, phe_keys_from_ours, a, b, k) -> None:
    public_key, private_key = keypair
    phe_public, phe_private = phe_keys_from_ours
    ours = public_key.encrypt(a) * k + b - public_key.encrypt(b)
    theirs = phe_public.encrypt(a) * k + b - phe_public.encrypt(b)
    assert ours.exponent == theirs.exponent
    assert private_key.decrypt(ours) == phe_private.decrypt(theirs)
    # and each decrypts the other's result
    assert phe_private.decrypt(
        phe.EncryptedNumber(phe_public, ours.ciphertext(), ours.exponent)
    ) == (private_key.decrypt(EncryptedNumber(public_key, theirs.ciphertext(), theirs.exponent)))


def test_phe_decrypts_every_element_of_our_vectors(keypair, phe_keys_from_ours) -> None:
    public_key, private_key = keypair
    phe_public, phe_private = phe_keys_from_ours
    values = np.array([0.0, -1.5, 3.25, 1e6, -(2.0**-20)])
    for vector in (public_key.encrypt_vector(values), private_key.encrypt_vector(values)):
        decrypted = [
            phe_private.decrypt(phe.EncryptedNumber(phe_public, c.ciphertext(), c.exponent))
            for c in vector
        ]
        assert decrypted == values.tolist()


def test_phe_numbers_become_a_vector(phe_keypair, our_keys_from_phe) -> None:
    phe_public, _ = phe_keypair
    public_key, private_key = our_keys_from_phe
    values = [1.0, -2.5, 7.0]
    vector = EncryptedVector.from_numbers(
        [
            EncryptedNumber(public_key, c.ciphertext(), c.exponent)
            for c in (phe_public.encrypt(v) for v in values)
        ],
        max_abs=8.0,
    )
    assert private_key.decrypt_vector(vector).tolist() == values
    assert private_key.decrypt_vector(vector * 2).tolist() == [2.0, -5.0, 14.0]
