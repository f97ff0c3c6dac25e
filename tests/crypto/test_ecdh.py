"""ECDH-PSI commutative encryption: X25519 over RFC 9380 hashed points."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

import crypto.ecdh as ecdh
from crypto.ecdh import (
    DST_PREFIX,
    INLINE_BELOW,
    LOW_ORDER_POINTS,
    POINT_BYTES,
    EcdhKey,
    ecdh_dst,
    exponentiate_kernel,
    validate_points,
)
from crypto.exceptions import CryptoError, InvalidKeyError, InvalidPointError
from crypto.hash_to_curve import MONTGOMERY_A, P, hash_to_x25519, hash_to_x25519_many

SALT = bytes(range(32))
DST = ecdh_dst(SALT)
keys = st.binary(min_size=32, max_size=32).map(EcdhKey.from_bytes)
ids = st.lists(st.binary(max_size=24), min_size=1, max_size=6)


def x25519(scalar: bytes, point: bytes) -> bytes:
    private = X25519PrivateKey.from_private_bytes(scalar)
    return private.exchange(X25519PublicKey.from_public_bytes(point))


def twist_point() -> bytes:
    """A canonical u-coordinate on the twist of curve25519 (g(u) is not a square)."""
    u = 2
    while pow((u**3 + MONTGOMERY_A * u * u + u) % P, (P - 1) // 2, P) != P - 1:
        u += 1
    return u.to_bytes(32, "little")


# --- domain separation tag ----------------------------------------------------------------------
def test_ecdh_dst() -> None:
    assert b"VFL-PSI-V01-CS01-with-curve25519_XMD:SHA-512_ELL2_RO_-" + SALT.hex().encode() == DST
    assert DST.startswith(DST_PREFIX)
    assert len(ecdh_dst(bytes(64))) <= 255
    assert ecdh_dst(bytearray(16)) == ecdh_dst(bytes(16))
    for bad in (bytes(15), bytes(65), b""):
        with pytest.raises(ValueError, match="16 to 64 bytes"):
            ecdh_dst(bad)
    with pytest.raises(TypeError):
        ecdh_dst("salt" * 8)  # type: ignore[arg-type]


# --- keys -------------------------------------------------------------------------------------------
def test_key_round_trip_and_secrecy() -> None:
    key = EcdhKey.generate()
    raw = key.to_bytes()
    assert len(raw) == 32
    assert EcdhKey.from_bytes(raw) == key
    assert EcdhKey.generate() != key
    assert raw.hex() not in repr(key) and "secret" in repr(key)
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(key)
    with pytest.raises(TypeError):
        hash(key)
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(InvalidKeyError, match="32 bytes"):
            EcdhKey.from_bytes(bad)
    with pytest.raises(InvalidKeyError):
        EcdhKey.from_bytes("k" * 32)  # type: ignore[arg-type]


# --- the algebra ------------------------------------------------------------------------------------
@given(keys, keys, ids)
def test_commutativity(a: EcdhKey, b: EcdhKey, values: list[bytes]) -> None:
    via_b = a.exponentiate(b.hash_and_exponentiate(values, DST))
    via_a = b.exponentiate(a.hash_and_exponentiate(values, DST))
    assert via_b == via_a
    assert len(via_a) == POINT_BYTES * len(values)


@given(keys, ids)
def test_exponentiate_is_x25519(key: EcdhKey, values: list[bytes]) -> None:
    points = hash_to_x25519_many(values, DST)
    out = key.exponentiate(points)
    for i, value in enumerate(values):
        point = hash_to_x25519(value, DST)
        assert out[32 * i : 32 * (i + 1)] == x25519(key.to_bytes(), point)
    assert key.hash_and_exponentiate(values, DST) == out


@given(keys, keys, st.binary(max_size=16), st.binary(max_size=16))
def test_different_ids_salts_and_keys_give_different_values(
    a: EcdhKey, b: EcdhKey, id1: bytes, id2: bytes
) -> None:
    same = a.hash_and_exponentiate([id1], DST)
    assert a.hash_and_exponentiate([id1], ecdh_dst(bytes(16))) != same
    if id1 != id2:
        assert a.hash_and_exponentiate([id2], DST) != same
    if a != b:
        assert b.hash_and_exponentiate([id1], DST) != same


def test_outputs_are_valid_points() -> None:
    key = EcdhKey.generate()
    out = key.hash_and_exponentiate([b"%d" % i for i in range(50)], DST)
    validate_points(out)
    assert key.exponentiate(b"") == b""
    assert key.hash_and_exponentiate([], DST) == b""


def test_bytes_like_ids() -> None:
    key = EcdhKey.generate()
    expected = key.hash_and_exponentiate([b"abc"], DST)
    assert key.hash_and_exponentiate([bytearray(b"abc")], DST) == expected
    assert key.hash_and_exponentiate([memoryview(b"abc")], DST) == expected
    with pytest.raises(TypeError, match="id 1 must be bytes"):
        key.hash_and_exponentiate([b"a", "b"], DST)  # type: ignore[list-item]


# --- validation of peer points -------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 31, 33, 63, 65])
def test_bad_lengths(length: int) -> None:
    with pytest.raises(InvalidPointError, match="not a multiple of 32"):
        validate_points(bytes(length))
    with pytest.raises(InvalidPointError):
        EcdhKey.generate().exponentiate(b"\x09" + bytes(length - 1))


def test_low_order_list_is_exactly_what_x25519_rejects() -> None:
    scalar = EcdhKey.generate().to_bytes()
    for point in LOW_ORDER_POINTS:
        with pytest.raises(ValueError):
            x25519(scalar, point)
        with pytest.raises(InvalidPointError, match="index 7"):
            exponentiate_kernel(scalar, point, 7)
    assert all(int.from_bytes(point, "little") < P for point in LOW_ORDER_POINTS)


@pytest.mark.parametrize("index", [0, 3])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (bytes(32), "low-order"),
        ((1).to_bytes(32, "little"), "low-order"),
        ((P - 1).to_bytes(32, "little"), "low-order"),
        (sorted(LOW_ORDER_POINTS)[-1], "low-order"),
        (P.to_bytes(32, "little"), "u >= 2"),  # a non-canonical 0
        ((P + 1).to_bytes(32, "little"), "u >= 2"),  # a non-canonical 1
        ((2**255 - 1).to_bytes(32, "little"), "u >= 2"),
        (bytes(31) + b"\x80", "top bit"),
        ((9 + 2**255).to_bytes(32, "little"), "top bit"),
        (twist_point(), "twist"),
    ],
)
def test_invalid_points_are_rejected_with_their_index(bad: bytes, reason: str, index: int) -> None:
    good = hash_to_x25519_many([b"a", b"b", b"c", b"d"], DST)
    points = good[: 32 * index] + bad + good[32 * index :]
    with pytest.raises(InvalidPointError, match=f"index {index}: .*{reason}") as info:
        validate_points(points)
    assert "peer sent an invalid point" in str(info.value)
    with pytest.raises(InvalidPointError, match=f"index {index}"):
        EcdhKey.generate().exponentiate(points)
    assert isinstance(info.value, CryptoError) and isinstance(info.value, ValueError)


@given(st.binary(min_size=32, max_size=32))
def test_validation_agrees_with_x25519(point: bytes) -> None:
    """Whatever passes validation gives a non-zero X25519 product, on the curve."""
    try:
        validate_points(point)
    except InvalidPointError:
        return
    out = EcdhKey.generate().exponentiate(point)
    validate_points(out)


def test_validate_points_type() -> None:
    with pytest.raises(TypeError):
        validate_points([b"x" * 32])  # type: ignore[arg-type]
    validate_points(bytearray(hash_to_x25519(b"a", DST)))


# --- parallel execution ------------------------------------------------------------------------
def test_chunked_runs_keep_order_on_an_executor() -> None:
    key = EcdhKey.generate()
    values = [b"id-%d" % i for i in range(INLINE_BELOW + 100)]
    inline = key.hash_and_exponentiate(values, DST, n_jobs=1)
    with ThreadPoolExecutor(2) as pool:
        assert key.hash_and_exponentiate(values, DST, executor=pool) == inline
        points = hash_to_x25519_many(values, DST)
        assert key.exponentiate(points, executor=pool) == key.exponentiate(points, n_jobs=1)


def test_process_pool() -> None:
    key = EcdhKey.generate()
    values = [b"id-%d" % i for i in range(INLINE_BELOW)]
    points = key.hash_and_exponentiate(values, DST, n_jobs=2)
    assert points == key.hash_and_exponentiate(values, DST, n_jobs=1)
    assert key.exponentiate(points, n_jobs=2) == key.exponentiate(points, n_jobs=1)


def test_kernel_errors_name_the_global_index(monkeypatch: pytest.MonkeyPatch) -> None:
    scalar = EcdhKey.generate().to_bytes()
    points = hash_to_x25519_many([b"a", b"b"], DST) + bytes(32)
    with pytest.raises(InvalidPointError, match="index 102: a low-order point"):
        exponentiate_kernel(scalar, points, 100)
    # X25519's own all-zero check stays as a second line of defence
    monkeypatch.setattr(ecdh, "_validate", lambda points, offset: None)
    with pytest.raises(InvalidPointError, match="index 102: its product with the key"):
        exponentiate_kernel(scalar, points, 100)


def test_bad_points_found_in_any_chunk() -> None:
    key = EcdhKey.generate()
    points = bytearray(hash_to_x25519_many([b"id-%d" % i for i in range(INLINE_BELOW)], DST))
    points[32 * 900 : 32 * 901] = bytes(32)
    with ThreadPoolExecutor(2) as pool, pytest.raises(InvalidPointError, match="index 900"):
        key.exponentiate(bytes(points), executor=pool)
