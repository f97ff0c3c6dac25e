"""The phe backend: same API and bit-for-bit the same values as the plain and Paillier ones."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import phe
import pytest

from crypto.exceptions import EncodingError, KeyMismatchError, PlaintextOverflowError
from crypto.paillier import EncryptedVector, PaillierPrivateKey, PaillierPublicKey
from crypto.phe_vectors import (
    PheMask,
    PheMasked,
    PhePrivateKey,
    PhePublicKey,
    PheVector,
    generate_phe_keypair,
)
from crypto.plain import generate_plain_keypair


@pytest.fixture(scope="module")
def phe_keys() -> tuple[PhePublicKey, PhePrivateKey]:
    return generate_phe_keypair(1024)


@pytest.fixture(scope="module")
def plain_keys():
    return generate_plain_keypair(1024)


@pytest.fixture(scope="module")
def ours_on_phe_key(phe_keys) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
    """Our engine's key pair with the very same n, p, q as the phe key."""
    _, private_key = phe_keys
    public_key = PaillierPublicKey(private_key.public_key.n, allow_weak_key=True)
    return public_key, PaillierPrivateKey(public_key, private_key.raw.p, private_key.raw.q)


def _protocol(public_key, private_key, u, s, X):
    """The hetero LR gradient step, as the protocol runs it on any backend."""
    e = public_key.encrypt_vector(u / 4, max_abs=2**20)
    e = e.multiply(s) + (0.25 * u - 0.5)
    g = e.matmul(X.T)
    masked, mask = g.pack().mask()
    return mask.unmask(private_key.decrypt_raw(masked)), private_key.decrypt_vector(g)


def _data(seed: int, rows: int, columns: int):
    rng = np.random.default_rng(seed)
    u = rng.normal(scale=3.0, size=rows)
    s = rng.choice([-1.0, 1.0], size=rows) * rng.uniform(0.1, 2.0, size=rows)
    X = rng.normal(size=(rows, columns))
    return u, s, X


@pytest.mark.parametrize(("seed", "rows", "columns"), [(0, 40, 5), (1, 7, 3), (2, 1, 1)])
def test_protocol_sequence_equals_the_plain_backend_exactly(
    phe_keys, plain_keys, seed, rows, columns
) -> None:
    u, s, X = _data(seed, rows, columns)
    unmasked, decrypted = _protocol(*phe_keys, u, s, X)
    plain_unmasked, plain_decrypted = _protocol(*plain_keys, u, s, X)
    assert unmasked.shape == (columns,)
    assert np.array_equal(unmasked, plain_unmasked)
    assert np.array_equal(decrypted, plain_decrypted)
    assert np.array_equal(unmasked, decrypted)
    # Plaintext factors are encoded at 2**-16, so the result is close, not exact.
    np.testing.assert_allclose(unmasked, X.T @ ((u / 4) * s + 0.25 * u - 0.5), atol=1e-2)


def test_protocol_sequence_equals_our_engine_exactly(phe_keys, keypair) -> None:
    u, s, X = _data(3, 25, 4)
    unmasked, _ = _protocol(*phe_keys, u, s, X)
    ours, _ = _protocol(*keypair, u, s, X)
    assert np.array_equal(unmasked, ours)


def test_our_engine_decrypts_phe_vectors(phe_keys, ours_on_phe_key) -> None:
    public_key, _ = phe_keys
    our_public, our_private = ours_on_phe_key
    v = public_key.encrypt_vector(np.array([1.5, -2.25, 0.0, 1e6])).multiply(-3.0)
    ours = EncryptedVector(
        our_public, [x.ciphertext(be_secure=False) for x in v.numbers], v.exponent, v.bound
    )
    assert our_private.decrypt_vector(ours).tolist() == [-4.5, 6.75, 0.0, -3e6]
    assert public_key.fingerprint == our_public.fingerprint


def _both(phe_keys, plain_keys, operation):
    """``operation(public_key)`` on both backends, decrypted."""
    results = []
    for public_key, private_key in (phe_keys, plain_keys):
        results.append(private_key.decrypt_vector(operation(public_key)))
    return results


OPERATIONS = {
    "add, different exponents": lambda pk: (
        pk.encrypt_vector(np.array([1.0, -2.5, 1 / 3]), precision=2**-16)
        + pk.encrypt_vector(np.array([0.1, 1e3, -7.0]))
    ),
    "add, other order": lambda pk: (
        pk.encrypt_vector(np.array([0.1, 1e3, -7.0]))
        + pk.encrypt_vector(np.array([1.0, -2.5, 1 / 3]), precision=2**-16)
    ),
    "negation": lambda pk: -pk.encrypt_vector(np.array([1.0, -2.5, 0.0])),
    "subtract vectors": lambda pk: (
        pk.encrypt_vector(np.array([1.0, -2.5, 3.0]))
        - pk.encrypt_vector(np.array([0.5, 4.0, -1.0]))
    ),
    "subtract array": lambda pk: pk.encrypt_vector(np.array([1.0, -2.5])) - np.array([0.75, -1.0]),
    "subtract scalar": lambda pk: pk.encrypt_vector(np.array([1.0, -2.5])) - 3,
    "radd array": lambda pk: np.array([0.75, -1.0]) + pk.encrypt_vector(np.array([1.0, -2.5])),
    "radd scalar": lambda pk: 2.5 + pk.encrypt_vector(np.array([1.0, -2.5])),
    "scalar multiply": lambda pk: pk.encrypt_vector(np.array([1.0, -2.5, 1e-3])).multiply(-0.3),
    "int multiply": lambda pk: pk.encrypt_vector(np.array([1.0, -2.5])).multiply(np.array([3, -7])),
    "multiply with precision": lambda pk: pk.encrypt_vector(np.array([1.0, -2.5])).multiply(
        np.array([0.1, 0.2]), precision=2**-40
    ),
    "A @ v": lambda pk: (
        np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0], [0.0, 0.0, 0.0]])
        @ pk.encrypt_vector(np.array([1.5, -2.0, 0.25]))
    ),
    "list @ v": lambda pk: [[1, 2], [-3, 4]] @ pk.encrypt_vector(np.array([1.5, -2.0])),
    "matmul with precision": lambda pk: pk.encrypt_vector(np.array([1.5, -2.0])).matmul(
        np.array([[0.1, 0.3]]), precision=2**-24
    ),
    "empty matmul": lambda pk: pk.encrypt_vector(np.array([])).matmul(np.zeros((2, 0))),
    "slice": lambda pk: pk.encrypt_vector(np.array([1.0, 2.0, 3.0, 4.0]))[1:3],
    "decrease exponent": lambda pk: pk.encrypt_vector(np.array([1.0, -0.5])).decrease_exponent_to(
        -12
    ),
    "rerandomize": lambda pk: pk.encrypt_vector(np.array([1.0, -0.5])).rerandomize(),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operations_decrypt_as_on_the_plain_backend(phe_keys, plain_keys, name) -> None:
    ours, plain = _both(phe_keys, plain_keys, OPERATIONS[name])
    assert ours.dtype == np.float64
    assert np.array_equal(ours, plain), (ours, plain)


def test_exponents_and_bounds_follow_the_plain_backend(phe_keys, plain_keys) -> None:
    vectors = []
    for public_key, _ in (phe_keys, plain_keys):
        a = public_key.encrypt_vector(np.array([1.0, -3.0]), precision=2**-16, max_abs=4.0)
        b = public_key.encrypt_vector(np.array([0.5, 2.0]))
        vectors.append(np.array([[1.0, 2.0]]) @ (a + b).multiply(np.array([2.0, -1.0])))
    ours, plain = vectors
    assert isinstance(ours, PheVector)
    assert (ours.exponent, ours.bound) == (plain.exponent, plain.bound)
    assert {x.exponent for x in ours.numbers} == {ours.exponent}


def test_slicing_and_length(phe_keys) -> None:
    public_key, private_key = phe_keys
    v = public_key.encrypt_vector(np.arange(5.0))
    assert len(v) == 5 and len(v[1:4]) == 3
    assert private_key.decrypt_vector(v[::2]).tolist() == [0.0, 2.0, 4.0]
    with pytest.raises(IndexError):
        v[0]  # type: ignore[index]


def test_rerandomize_changes_every_ciphertext_but_not_the_values(phe_keys) -> None:
    public_key, private_key = phe_keys
    v = public_key.encrypt_vector(np.array([1.0, -2.0, 0.0, 0.0]))
    before = [x.ciphertext(be_secure=False) for x in v.numbers]
    fresh = v.rerandomize()
    after = [x.ciphertext(be_secure=False) for x in fresh.numbers]
    assert all(a != b for a, b in zip(before, after, strict=True))
    assert [x.ciphertext(be_secure=False) for x in v.numbers] == before
    assert all(x is not y for x, y in zip(v.numbers, fresh.numbers, strict=True))
    assert np.array_equal(private_key.decrypt_vector(fresh), private_key.decrypt_vector(v))
    assert (fresh.exponent, fresh.bound) == (v.exponent, v.bound)


def test_operations_never_mutate_their_operands(phe_keys) -> None:
    public_key, _ = phe_keys
    v = public_key.encrypt_vector(np.array([1.0, -2.0, 3.0]))
    before = [x.ciphertext(be_secure=False) for x in v.numbers]
    _ = -v, v - v, v + 1.0, v.multiply(2.0), np.eye(3) @ v, v.mask(), v.rerandomize()
    _ = v.decrease_exponent_to(v.exponent - 2)
    assert [x.ciphertext(be_secure=False) for x in v.numbers] == before


def test_pack_is_the_identity(phe_keys) -> None:
    public_key, _ = phe_keys
    v = public_key.encrypt_vector(np.array([1.0]))
    assert v.pack() is v


def test_mask_hides_the_residues_yet_unmasks_exactly(phe_keys) -> None:
    public_key, private_key = phe_keys
    v = np.array([[1.0, 0.5], [-2.0, 0.0], [0.0, 0.0]]) @ public_key.encrypt_vector(
        np.array([3.0, -1.25])
    )
    masked, mask = v.mask()
    assert isinstance(masked, PheMasked) and isinstance(mask, PheMask) and len(masked) == 3
    residues = private_key.decrypt_raw(v)
    masked_residues = private_key.decrypt_raw(masked)
    assert all(type(r) is int and 0 <= r < public_key.n for r in masked_residues)
    assert all(a != b for a, b in zip(residues, masked_residues, strict=True))
    unmasked = mask.unmask(masked_residues)
    assert np.array_equal(unmasked, private_key.decrypt_vector(v))
    assert unmasked.tolist() == [2.375, -6.0, 0.0]
    # Two maskings of the same vector use independent masks.
    assert private_key.decrypt_raw(v.mask()[0]) != masked_residues


def test_unmask_checks_like_the_plain_mask(phe_keys, plain_keys) -> None:
    for public_key, private_key in (phe_keys, plain_keys):
        masked, mask = public_key.encrypt_vector(np.array([1.0, 2.0])).mask()
        good = private_key.decrypt_raw(masked)
        for bad in (good[:1], [good[0], public_key.n], [good[0], -1], [good[0], True]):
            with pytest.raises(ValueError, match="decryption"):
                mask.unmask(bad)


def test_keys_wrap_existing_phe_keys(phe_keys, phe_keypair) -> None:
    public_key, private_key = phe_keys
    same = PhePublicKey(public_key.raw)
    assert same == public_key and hash(same) == hash(public_key)
    same.check_same(public_key)
    assert public_key.bits == 1024 and public_key.n == public_key.raw.n
    assert len(public_key.fingerprint) == 32
    v = same.encrypt_vector(np.array([1.5]))
    assert PhePrivateKey(private_key.raw, public_key).decrypt_vector(v).tolist() == [1.5]
    other = PhePublicKey(phe_keypair[0])
    assert other != public_key and other.fingerprint != public_key.fingerprint
    with pytest.raises(KeyMismatchError):
        PhePrivateKey(private_key.raw, other)
    with pytest.raises(TypeError):
        PhePublicKey(public_key.n)


def test_key_mismatch_raises(phe_keys, phe_keypair, plain_keys) -> None:
    public_key, private_key = phe_keys
    other = PhePublicKey(phe_keypair[0])
    v, w = public_key.encrypt_vector(np.array([1.0])), other.encrypt_vector(np.array([1.0]))
    with pytest.raises(KeyMismatchError):
        v + w
    with pytest.raises(KeyMismatchError):
        v - w
    with pytest.raises(KeyMismatchError):
        private_key.decrypt_raw(w)
    with pytest.raises(KeyMismatchError):
        private_key.decrypt_raw(w.mask()[0])
    with pytest.raises(KeyMismatchError):
        public_key.check_same(plain_keys[0])
    with pytest.raises(KeyMismatchError):
        PheVector(public_key, w.numbers, w.exponent, w.bound)


OVERFLOWS = {
    "encryption": lambda pk: pk.encrypt_vector(np.array([2.0**1000])),
    "multiplication": lambda pk: pk.encrypt_vector(np.array([1.0]), max_abs=2.0**300).multiply(
        2.0**700
    ),
    "matrix product": lambda pk: (
        np.array([[2.0**400, 2.0**400]]) @ pk.encrypt_vector(np.array([1.0, 1.0]), max_abs=2.0**580)
    ),
    # bound 2**1021 <= n/3 for any 1024-bit n, but three times it is more.
    "addition": lambda pk: (lambda v: v + v + v)(
        pk.encrypt_vector(np.array([1.0]), max_abs=2.0**989)
    ),
    "re-encoding": lambda pk: (
        pk.encrypt_vector(np.array([1.0]), max_abs=2.0**900)
        + pk.encrypt_vector(np.array([1.0]), precision=2.0**-200)
    ),
    "addition of a plaintext": lambda pk: (
        pk.encrypt_vector(np.array([1.0]), max_abs=2.0**989) + 2.0**990
    ),
}


@pytest.mark.parametrize("name", sorted(OVERFLOWS))
def test_overflow_raises_like_the_plain_backend(phe_keys, plain_keys, name) -> None:
    for public_key, _ in (phe_keys, plain_keys):
        with pytest.raises(PlaintextOverflowError):
            OVERFLOWS[name](public_key)


def test_bad_operands(phe_keys) -> None:
    public_key, _ = phe_keys
    v = public_key.encrypt_vector(np.array([1.0, 2.0]))
    with pytest.raises(TypeError):
        v.multiply("2")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        v + object()
    with pytest.raises(EncodingError):
        v + np.array(["a", "b"])
    with pytest.raises(ValueError, match="length"):
        v + public_key.encrypt_vector(np.array([1.0]))
    with pytest.raises(ValueError, match="does not match"):
        v + np.array([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="does not match"):
        v.multiply(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="columns"):
        v.matmul(np.ones((2, 3)))
    with pytest.raises(EncodingError):
        v.matmul(np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="1-D"):
        public_key.encrypt_vector(np.ones((2, 2)))
    with pytest.raises(ValueError, match="must not exceed"):
        v.decrease_exponent_to(v.exponent + 1)
    with pytest.raises(ValueError, match="exponent"):
        PheVector(public_key, v.numbers, v.exponent - 1, v.bound)
    with pytest.raises(TypeError):
        PheVector(public_key, [1, 2], v.exponent, v.bound)


def test_missing_phe_raises_a_helpful_import_error(monkeypatch) -> None:
    import crypto
    import crypto.phe_vectors

    monkeypatch.setattr(crypto, "phe_vectors", crypto.phe_vectors)
    monkeypatch.setitem(sys.modules, "phe", None)
    monkeypatch.delitem(sys.modules, "crypto.phe_vectors")
    module = importlib.import_module("crypto.phe_vectors")  # importable without phe
    with pytest.raises(ImportError, match=r"pip install phe==1\.5\.0"):
        module.generate_phe_keypair(1024)
    with pytest.raises(ImportError, match="python-paillier"):
        module.PhePublicKey(phe.PaillierPublicKey(15))
