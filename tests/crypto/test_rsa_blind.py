"""RSA blind signatures for RSA-PSI: FDH, blinding, CRT signing, verified unblinding."""

from __future__ import annotations

import hashlib
import pickle

import gmpy2
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from crypto.exceptions import (
    CryptoError,
    InvalidKeyError,
    InvalidSignatureError,
    KeyMismatchError,
    MalformedInputError,
    WeakKeyError,
)
from crypto.rsa_blind import (
    RsaBlinding,
    RsaBlindPrivateKey,
    RsaBlindPublicKey,
    generate_rsa_blind_key,
    ints_from_bytes,
    ints_to_bytes,
    sign_kernel,
)

SALT = b"job-salt-0123456789abcdef"
ids = st.lists(st.binary(max_size=20), min_size=1, max_size=5)
salts = st.binary(max_size=40)


@pytest.fixture(scope="module")
def key() -> RsaBlindPrivateKey:
    """A 1024-bit key (weak on purpose: fast tests)."""
    return generate_rsa_blind_key(1024, allow_weak_key=True)


@pytest.fixture(scope="module")
def other_key() -> RsaBlindPrivateKey:
    return generate_rsa_blind_key(1024, allow_weak_key=True)


@pytest.fixture(scope="module")
def openssl_key() -> tuple[rsa.RSAPrivateNumbers, RsaBlindPrivateKey]:
    """An OpenSSL-generated key, and the same key as an RsaBlindPrivateKey."""
    numbers = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_numbers()
    public = RsaBlindPublicKey(numbers.public_numbers.n, numbers.public_numbers.e)
    return numbers, RsaBlindPrivateKey(public, numbers.p, numbers.q)


def ref_fdh(n: int, identifier: bytes, salt: bytes) -> int:
    """The documented full-domain hash, written out."""
    size = (n.bit_length() + 128 + 7) // 8
    data = (
        b"VFL-PSI-RSA-FDH-V1"
        + len(salt).to_bytes(8, "big")
        + salt
        + len(identifier).to_bytes(8, "big")
        + identifier
    )
    return int.from_bytes(hashlib.shake_256(data).digest(size), "big") % n


def ref_tag(n: int, signature: int, salt: bytes) -> bytes:
    width = (n.bit_length() + 7) // 8
    data = b"VFL-PSI-RSA-TAG-V1" + len(salt).to_bytes(8, "big") + salt
    return hashlib.sha256(data + signature.to_bytes(width, "big")).digest()


def run_protocol(key: RsaBlindPrivateKey, values: list[bytes], salt: bytes) -> bytes:
    public = key.public_key
    blinded, blinding = public.blind(values, salt)
    wire = ints_to_bytes(blinded, public.byte_length)
    signed = key.sign(ints_from_bytes(wire, public.byte_length, public.n))
    back = ints_from_bytes(ints_to_bytes(signed, public.byte_length), public.byte_length, public.n)
    return public.unblind_tags(back, blinding, salt)


# --- key generation and validation ----------------------------------------------------------------
def test_generation_policy() -> None:
    with pytest.raises(WeakKeyError, match="allow_weak_key"):
        generate_rsa_blind_key(1024)
    with pytest.raises(WeakKeyError, match="absolute minimum"):
        generate_rsa_blind_key(768, allow_weak_key=True)
    with pytest.raises(InvalidKeyError):
        generate_rsa_blind_key(2048.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidKeyError):
        generate_rsa_blind_key(32768)


def test_default_2048_bit_key_end_to_end() -> None:
    key = generate_rsa_blind_key()
    public = key.public_key
    assert public.key_length == 2048 and public.byte_length == 256 and public.e == 65537
    values = [b"alice", b"bob", b"carol"]
    assert run_protocol(key, values, SALT) == key.tags(values, SALT)
    hashes = public.full_domain_hash(values, SALT)
    tags = key.tags(values, SALT)
    for i, h in enumerate(hashes):
        assert tags[32 * i : 32 * (i + 1)] == ref_tag(public.n, pow(h, key.d, public.n), SALT)


def test_key_properties(key: RsaBlindPrivateKey, other_key: RsaBlindPrivateKey) -> None:
    public = key.public_key
    assert public.key_length == 1024 and public.byte_length == 128
    assert public.n == key.p * key.q
    assert public.e * key.d % gmpy2.lcm(key.p - 1, key.q - 1) == 1
    assert len(public.fingerprint) == 64
    assert public.fingerprint == RsaBlindPublicKey(public.n, public.e).fingerprint
    assert public.fingerprint != other_key.public_key.fingerprint
    assert public == RsaBlindPublicKey(public.n) and hash(public) == hash(
        RsaBlindPublicKey(public.n)
    )
    assert public != other_key.public_key
    for text in (repr(public), repr(key)):
        assert str(key.p) not in text and str(key.d) not in text
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(key)


def test_public_key_validation(key: RsaBlindPrivateKey) -> None:
    n = key.public_key.n
    bad_moduli = [
        n + 1,  # even
        -n,
        3 * 5 * 7,  # too short
        (2**520 + 1) * 3 * (2**510 + 15),  # a small factor
        gmpy2.next_prime(2**600) ** 2,  # a square
        2**16385 + 1,  # too long
    ]
    for bad in bad_moduli:
        with pytest.raises(InvalidKeyError):
            RsaBlindPublicKey(int(bad))
    for bad_e in (1, 2, 65536, n, n + 2, -3):
        with pytest.raises(InvalidKeyError, match="public exponent"):
            RsaBlindPublicKey(n, bad_e)
    for wrong_type in (float(n), str(n), True):
        with pytest.raises(InvalidKeyError, match="must be an int"):
            RsaBlindPublicKey(wrong_type)  # type: ignore[arg-type]
    assert RsaBlindPublicKey(gmpy2.mpz(n), 3).e == 3


def test_private_key_validation(key: RsaBlindPrivateKey, other_key: RsaBlindPrivateKey) -> None:
    public = key.public_key
    with pytest.raises(InvalidKeyError, match="does not equal"):
        RsaBlindPrivateKey(public, key.p, other_key.q)
    with pytest.raises(InvalidKeyError, match="prime"):
        RsaBlindPrivateKey(public, 1, public.n)
    with pytest.raises(InvalidKeyError, match="RsaBlindPublicKey"):
        RsaBlindPrivateKey(public.n, key.p, key.q)  # type: ignore[arg-type]
    rebuilt = RsaBlindPrivateKey(public, key.q, key.p)
    assert rebuilt.d == key.d


# --- the full-domain hash -------------------------------------------------------------------------
@given(ids, salts)
def test_fdh_matches_its_specification(
    key: RsaBlindPrivateKey, values: list[bytes], salt: bytes
) -> None:
    n = key.public_key.n
    hashes = key.public_key.full_domain_hash(values, salt)
    assert hashes == [ref_fdh(n, v, salt) for v in values]
    assert all(0 <= h < n for h in hashes)


def test_fdh_encoding_is_unambiguous(key: RsaBlindPrivateKey) -> None:
    public = key.public_key
    assert public.full_domain_hash([b"bc"], b"a") != public.full_domain_hash([b"c"], b"ab")
    assert public.full_domain_hash([b""], b"") != public.full_domain_hash([b"\x00"], b"")
    with pytest.raises(TypeError, match="id 1 must be bytes"):
        public.full_domain_hash([b"a", "b"], SALT)  # type: ignore[list-item]
    with pytest.raises(TypeError, match="salt"):
        public.full_domain_hash([b"a"], "salt")  # type: ignore[arg-type]


# --- blind / sign / unblind --------------------------------------------------------------------------
@given(ids, salts)
def test_blind_sign_unblind_equals_direct_signature(
    key: RsaBlindPrivateKey, values: list[bytes], salt: bytes
) -> None:
    public = key.public_key
    tags = run_protocol(key, values, salt)
    direct = b"".join(
        ref_tag(public.n, pow(h, key.d, public.n), salt)
        for h in public.full_domain_hash(values, salt)
    )
    assert tags == direct == key.tags(values, salt)


@given(ids, salts, salts)
def test_tags_depend_on_the_salt(
    key: RsaBlindPrivateKey, values: list[bytes], salt1: bytes, salt2: bytes
) -> None:
    if salt1 != salt2:
        assert key.tags(values, salt1)[:32] != key.tags(values, salt2)[:32]


@given(st.lists(st.binary(max_size=12), min_size=2, max_size=6, unique=True))
def test_tags_differ_for_different_ids(key: RsaBlindPrivateKey, values: list[bytes]) -> None:
    tags = key.tags(values, SALT)
    assert len({tags[i : i + 32] for i in range(0, len(tags), 32)}) == len(values)


@given(ids)
def test_against_openssl_private_numbers(
    openssl_key: tuple[rsa.RSAPrivateNumbers, RsaBlindPrivateKey], values: list[bytes]
) -> None:
    numbers, key = openssl_key
    n = numbers.public_numbers.n
    hashes = key.public_key.full_domain_hash(values, SALT)
    assert key.sign(hashes) == [pow(h, numbers.d, n) for h in hashes]
    expected = b"".join(ref_tag(n, pow(h, numbers.d, n), SALT) for h in hashes)
    assert run_protocol(key, values, SALT) == expected


def test_blinding_is_randomised_and_hides_the_hash(key: RsaBlindPrivateKey) -> None:
    public = key.public_key
    first, blinding1 = public.blind([b"same"] * 3, SALT)
    second, _ = public.blind([b"same"] * 3, SALT)
    assert len(set(first + second)) == 6
    assert public.full_domain_hash([b"same"], SALT)[0] not in first
    assert all(0 < value < public.n and gmpy2.gcd(value, public.n) == 1 for value in first)
    assert isinstance(blinding1, RsaBlinding) and len(blinding1) == 3
    assert "secret" in repr(blinding1)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(blinding1)
    assert public.blind([], SALT)[0] == []


def test_sign_in_threads(key: RsaBlindPrivateKey) -> None:
    values = key.public_key.full_domain_hash([b"%d" % i for i in range(40)], SALT)
    assert key.sign(values, n_jobs=2) == key.sign(values, n_jobs=1)
    assert key.tags([b"1", b"2"], SALT, n_jobs=2) == key.tags([b"1", b"2"], SALT)


# --- malformed and malicious inputs -------------------------------------------------------------
def test_unblind_catches_a_cheating_signer(key: RsaBlindPrivateKey) -> None:
    public = key.public_key
    blinded, blinding = public.blind([b"a", b"b", b"c"], SALT)
    signed = key.sign(blinded)
    for forged in (signed[1] * 2 % public.n, blinded[1], 1, public.n - 1):
        tampered = [signed[0], forged, signed[2]]
        with pytest.raises(InvalidSignatureError, match="signature 1 does not verify") as info:
            public.unblind_tags(tampered, blinding, SALT)
        assert isinstance(info.value, CryptoError)
    swapped = [signed[1], signed[0], signed[2]]
    with pytest.raises(InvalidSignatureError, match="signature 0"):
        public.unblind_tags(swapped, blinding, SALT)


def test_unblind_rejects_malformed_replies(
    key: RsaBlindPrivateKey, other_key: RsaBlindPrivateKey
) -> None:
    public = key.public_key
    blinded, blinding = public.blind([b"a", b"b"], SALT)
    signed = key.sign(blinded)
    with pytest.raises(MalformedInputError, match="2 blinded values"):
        public.unblind_tags(signed[:1], blinding, SALT)
    for bad in (0, public.n, public.n + 5, -1):
        with pytest.raises(MalformedInputError, match="signature 1 is outside"):
            public.unblind_tags([signed[0], bad], blinding, SALT)
    with pytest.raises(MalformedInputError, match="not an int"):
        public.unblind_tags([signed[0], 1.5], blinding, SALT)  # type: ignore[list-item]
    with pytest.raises(KeyMismatchError, match="salt"):
        public.unblind_tags(signed, blinding, SALT + b"x")
    with pytest.raises(KeyMismatchError, match="key"):
        other_key.public_key.unblind_tags(signed, blinding, SALT)
    with pytest.raises(TypeError):
        public.unblind_tags(signed, object(), SALT)  # type: ignore[arg-type]
    assert public.unblind_tags(signed, blinding, SALT) == key.tags([b"a", b"b"], SALT)


def test_sign_rejects_values_outside_zn(key: RsaBlindPrivateKey) -> None:
    n = key.public_key.n
    for bad in (0, -1, n, n + 1, 2 * n, 1.0, True, "12", None):
        with pytest.raises(MalformedInputError, match="value 2"):
            key.sign([5, 7, bad])  # type: ignore[list-item]
    assert key.sign([gmpy2.mpz(5)]) == [pow(5, key.d, n)]


def test_sign_kernel_refuses_to_release_a_faulty_signature(key: RsaBlindPrivateKey) -> None:
    p, q = gmpy2.mpz(key.p), gmpy2.mpz(key.q)
    dp, dq = gmpy2.mpz(key.d) % (p - 1), gmpy2.mpz(key.d) % (q - 1)
    q_inv = gmpy2.invert(q, p)
    e = gmpy2.mpz(65537)
    assert sign_kernel(p, q, dp, dq, q_inv, e, [gmpy2.mpz(12345)]) == [
        pow(12345, key.d, key.public_key.n)
    ]
    with pytest.raises(InvalidSignatureError, match="fault"):
        sign_kernel(p, q, dp + 1, dq, q_inv, e, [gmpy2.mpz(12345)])


# --- fixed-width integers -------------------------------------------------------------------------
@given(st.lists(st.integers(1, 2**64 - 1), max_size=8))
def test_ints_round_trip(values: list[int]) -> None:
    blob = ints_to_bytes(values, 8)
    assert len(blob) == 8 * len(values)
    assert ints_from_bytes(blob, 8, 2**64) == values


def test_ints_from_bytes_rejects_malformed_blobs() -> None:
    with pytest.raises(MalformedInputError, match="not a multiple"):
        ints_from_bytes(bytes(9), 4, 2**32)
    with pytest.raises(MalformedInputError, match="value 1"):
        ints_from_bytes(b"\x00\x01" + b"\x00\x00", 2, 100)
    with pytest.raises(MalformedInputError, match="value 0"):
        ints_from_bytes(b"\x00\x64", 2, 100)  # == modulus
    assert ints_from_bytes(b"", 2, 100) == []
    with pytest.raises(ValueError, match="width"):
        ints_from_bytes(b"", 0, 100)
    with pytest.raises(TypeError):
        ints_from_bytes("abcd", 2, 100)  # type: ignore[arg-type]


def test_ints_to_bytes_rejects_values_that_do_not_fit() -> None:
    assert ints_to_bytes([0, 255, gmpy2.mpz(1)], 1) == b"\x00\xff\x01"
    for bad in (256, -1):
        with pytest.raises(MalformedInputError, match="value 1"):
            ints_to_bytes([1, bad], 1)
    with pytest.raises(MalformedInputError, match="not an int"):
        ints_to_bytes([1.0], 1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="width"):
        ints_to_bytes([1], 0)
