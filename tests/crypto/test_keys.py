"""Key generation, the key-size policy and key validation."""

from __future__ import annotations

import math

import gmpy2
import pytest

from crypto.exceptions import InvalidKeyError, WeakKeyError
from crypto.paillier import (
    MIN_KEY_BITS,
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_paillier_keypair,
)


def test_default_key_is_2048_bits_with_the_documented_prime_structure(keypair_2048) -> None:
    public_key, private_key = keypair_2048
    p, q = private_key.p, private_key.q
    assert MIN_KEY_BITS == 2048
    assert public_key.n.bit_length() == 2048
    assert p * q == public_key.n
    assert p.bit_length() == q.bit_length() == 1024
    assert p % 4 == 3 and q % 4 == 3
    assert math.gcd(p - 1, q - 1) == 2
    assert abs(p - q).bit_length() > 924  # FIPS 186-4: |p - q| > 2**(k/2 - 100)
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q)
    assert public_key.g == public_key.n + 1
    assert public_key.max_int == public_key.n // 3 - 1


@pytest.mark.parametrize("bits", [512, 1024, 2046])
def test_short_keys_are_refused_unless_explicitly_allowed(bits: int) -> None:
    with pytest.raises(WeakKeyError, match="allow_weak_key"):
        generate_paillier_keypair(bits)


def test_short_public_key_is_refused_unless_allowed(public_key) -> None:
    with pytest.raises(WeakKeyError, match="2048"):
        PaillierPublicKey(public_key.n)
    assert PaillierPublicKey(public_key.n, allow_weak_key=True) == public_key


def test_weak_keys_can_be_generated_for_tests() -> None:
    public_key, private_key = generate_paillier_keypair(512, allow_weak_key=True)
    assert public_key.n.bit_length() == 512
    assert private_key.decrypt(public_key.encrypt(-17)) == -17


@pytest.mark.parametrize(
    "n",
    [2**2048 + 2, 0, -15, 4, 2**16400 + 1],
    ids=["even", "zero", "negative", "four", "too-large"],
)
def test_invalid_moduli_are_refused(n: int) -> None:
    with pytest.raises(InvalidKeyError):
        PaillierPublicKey(n, allow_weak_key=True)


@pytest.mark.parametrize("n", [3.0, "12345", None, True])
def test_non_integer_moduli_are_refused(n: object) -> None:
    with pytest.raises(InvalidKeyError):
        PaillierPublicKey(n, allow_weak_key=True)  # type: ignore[arg-type]


def test_square_modulus_is_refused() -> None:
    p = int(gmpy2.next_prime(2**1030))
    with pytest.raises(InvalidKeyError, match="square"):
        PaillierPublicKey(p * p, allow_weak_key=True)


def test_private_key_must_factor_the_modulus(keypair, other_keypair) -> None:
    public_key, private_key = keypair
    with pytest.raises(InvalidKeyError, match="p \\* q"):
        PaillierPrivateKey(public_key, private_key.p, other_keypair[1].q)
    with pytest.raises(InvalidKeyError):
        PaillierPrivateKey(public_key, 1, public_key.n)
    with pytest.raises(InvalidKeyError):
        PaillierPrivateKey("not a key", private_key.p, private_key.q)  # type: ignore[arg-type]


def test_private_key_factor_order_does_not_matter(keypair) -> None:
    public_key, private_key = keypair
    swapped = PaillierPrivateKey(public_key, private_key.q, private_key.p)
    assert swapped == private_key
    assert swapped.decrypt(public_key.encrypt(42)) == 42


@pytest.mark.parametrize("n_length", [1023, 20, 2.5])
def test_bad_key_lengths_are_refused(n_length: object) -> None:
    with pytest.raises(InvalidKeyError):
        generate_paillier_keypair(n_length, allow_weak_key=True)  # type: ignore[arg-type]


def test_fresh_key_pairs_differ() -> None:
    first, _ = generate_paillier_keypair(512, allow_weak_key=True)
    second, _ = generate_paillier_keypair(512, allow_weak_key=True)
    assert first != second


def test_repr_and_fingerprint_reveal_no_secret(keypair) -> None:
    public_key, private_key = keypair
    for text in (repr(public_key), repr(private_key)):
        assert str(private_key.p) not in text and format(private_key.p, "x") not in text
    assert len(public_key.fingerprint) == 32
    assert public_key.fingerprint in repr(private_key)


def test_keys_pickle_to_their_numbers_only(keypair) -> None:
    import pickle

    public_key, private_key = keypair
    public_key.precompute_obfuscators(3)
    copy = pickle.loads(pickle.dumps(public_key))  # our own worker processes do this
    assert copy == public_key and copy.precomputed_obfuscators == 0
    public_key._pool.clear()
    assert pickle.loads(pickle.dumps(private_key)) == private_key
