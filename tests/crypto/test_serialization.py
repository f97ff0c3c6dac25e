"""Serialisation of keys and vectors: round trips, and refusal of anything malformed."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.exceptions import (
    CryptoError,
    DeserializationError,
    KeyMismatchError,
    MalformedCiphertextError,
    WeakKeyError,
)
from crypto.paillier import EncryptedNumber, EncryptedVector, MaskedVector, PackedEncryptedVector
from crypto.paillier.serialization import (
    private_key_from_bytes,
    private_key_from_json,
    private_key_to_bytes,
    private_key_to_json,
    public_key_from_bytes,
    public_key_from_json,
    public_key_to_bytes,
    public_key_to_json,
    vector_from_bytes,
)


@pytest.fixture(scope="module")
def sample(public_key):
    return public_key.encrypt_vector(np.array([1.5, -2.0, 0.0, 3.25]))


def test_key_round_trips(keypair) -> None:
    public_key, private_key = keypair
    assert public_key_from_json(public_key_to_json(public_key), allow_weak_key=True) == public_key
    assert public_key_from_bytes(public_key_to_bytes(public_key), allow_weak_key=True) == public_key
    assert (
        private_key_from_json(private_key_to_json(private_key), allow_weak_key=True) == private_key
    )
    assert (
        private_key_from_bytes(private_key_to_bytes(private_key), allow_weak_key=True)
        == private_key
    )
    assert json.loads(public_key_to_json(public_key)) == {
        "type": "paillier-public-key",
        "version": 1,
        "n": format(public_key.n, "x"),
    }


def test_loading_applies_the_key_size_policy(keypair) -> None:
    public_key, private_key = keypair
    with pytest.raises(WeakKeyError):
        public_key_from_json(public_key_to_json(public_key))
    with pytest.raises(WeakKeyError):
        private_key_from_bytes(private_key_to_bytes(private_key))


def test_default_size_keys_load_without_opt_in(keypair_2048) -> None:
    _public_key, private_key = keypair_2048
    assert private_key_from_json(private_key_to_json(private_key)) == private_key


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        "[]",
        '{"type": "paillier-public-key", "version": 2, "n": "ff"}',
        '{"type": "paillier-private-key", "version": 1, "n": "ff"}',
        '{"type": "paillier-public-key", "version": 1, "n": 12345}',
        '{"type": "paillier-public-key", "version": 1, "n": "xyz"}',
        '{"type": "paillier-public-key", "version": 1}',
        '{"type": "paillier-public-key", "version": 1, "n": "ff", "extra": 1}',
        '{"type": "paillier-public-key", "version": 1, "n": "' + "f" * 5000 + '"}',
    ],
)
def test_malformed_public_key_json_is_refused(document: str) -> None:
    with pytest.raises(CryptoError):
        public_key_from_json(document, allow_weak_key=True)


def test_private_key_json_with_wrong_factors_is_refused(keypair, other_keypair) -> None:
    document = json.loads(private_key_to_json(keypair[1]))
    document["q"] = format(other_keypair[1].q, "x")
    with pytest.raises(CryptoError, match="p \\* q"):
        private_key_from_json(json.dumps(document), allow_weak_key=True)


@given(st.binary(max_size=300))
def test_random_bytes_never_load_as_a_key(data: bytes) -> None:
    for loader in (public_key_from_bytes, private_key_from_bytes):
        with pytest.raises(CryptoError):
            loader(data, allow_weak_key=True)


def test_vector_round_trips_for_every_kind(public_key, private_key, sample) -> None:
    plain = vector_from_bytes(sample.to_bytes(), public_key)
    assert isinstance(plain, EncryptedVector)
    assert (plain.ciphertexts, plain.exponent, plain.bound) == (
        sample.ciphertexts,
        sample.exponent,
        sample.bound,
    )
    assert (
        EncryptedVector.from_bytes(sample.to_bytes(), public_key).ciphertexts == sample.ciphertexts
    )
    packed = sample.pack()
    loaded = vector_from_bytes(packed.to_bytes(), public_key)
    assert isinstance(loaded, PackedEncryptedVector) and loaded.layout == packed.layout
    assert private_key.decrypt_vector(loaded).tolist() == [1.5, -2.0, 0.0, 3.25]
    masked, mask = sample.mask()
    reloaded = MaskedVector.from_bytes(masked.to_bytes(), public_key)
    assert mask.unmask(private_key.decrypt_raw(reloaded)).tolist() == [1.5, -2.0, 0.0, 3.25]


def test_every_ciphertext_has_the_same_width(public_key) -> None:
    width = (public_key.nsquare.bit_length() + 7) // 8
    one = public_key.encrypt_vector(np.zeros(1)).to_bytes()
    many = public_key.encrypt_vector(np.zeros(11)).to_bytes()
    assert len(many) - len(one) == 10 * width


def test_vector_under_another_key_is_refused(sample, other_keypair) -> None:
    with pytest.raises(KeyMismatchError):
        vector_from_bytes(sample.to_bytes(), other_keypair[0])


def test_oversized_input_is_refused_before_parsing(sample, public_key) -> None:
    data = sample.to_bytes()
    with pytest.raises(DeserializationError, match="limit"):
        vector_from_bytes(data, public_key, max_bytes=len(data) - 1)


def _with_ciphertext(data: bytes, public_key, index: int, value: int) -> bytes:
    width = (public_key.nsquare.bit_length() + 7) // 8
    start = len(data) - (4 - index) * width
    return data[:start] + value.to_bytes(width, "big") + data[start + width :]


@pytest.mark.parametrize("which", ["zero", "n_squared", "multiple_of_p", "too_big"])
def test_out_of_range_or_non_coprime_ciphertexts_are_refused(
    sample, public_key, private_key, which
) -> None:
    bad = {
        "zero": 0,
        "n_squared": public_key.nsquare,
        "multiple_of_p": private_key.p * 12345,
        "too_big": 2 ** ((public_key.nsquare.bit_length() + 7) // 8 * 8) - 1,
    }[which]
    with pytest.raises(MalformedCiphertextError, match="ciphertext 2"):
        vector_from_bytes(_with_ciphertext(sample.to_bytes(), public_key, 2, bad), public_key)


def test_encrypted_number_constructor_validates(public_key, private_key) -> None:
    with pytest.raises(MalformedCiphertextError):
        EncryptedNumber(public_key, 0)
    with pytest.raises(MalformedCiphertextError):
        EncryptedNumber(public_key, private_key.q)
    with pytest.raises(MalformedCiphertextError):
        EncryptedNumber(public_key, "123")  # type: ignore[arg-type]


def test_header_fields_are_checked(sample, public_key) -> None:
    data = bytearray(sample.to_bytes())
    for offset, value in [(0, b"XXXX"), (4, b"\x02"), (5, b"\x09"), (6, b"\x00\x01")]:
        broken = bytes(data[:offset] + value + data[offset + len(value) :])
        with pytest.raises(DeserializationError):
            vector_from_bytes(broken, public_key)
    # a count that does not match the body
    count_offset = struct.calcsize(">4sBBH16si")
    broken = bytes(data[:count_offset] + (5).to_bytes(8, "big") + data[count_offset + 8 :])
    with pytest.raises(DeserializationError):
        vector_from_bytes(broken, public_key)


@given(st.data())
def test_mutated_vectors_are_refused_or_load_as_valid_vectors(sample, public_key, data) -> None:
    raw = bytearray(sample.to_bytes())
    mutation = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if mutation == "flip":
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] ^= data.draw(st.integers(1, 255))
    elif mutation == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    elif mutation == "extend":
        raw += data.draw(st.binary(min_size=1, max_size=600))
    else:
        position = data.draw(st.integers(0, len(raw)))
        raw[position:position] = data.draw(st.binary(min_size=1, max_size=40))
    try:
        loaded = vector_from_bytes(bytes(raw), public_key)
    except CryptoError:
        return
    # a flip inside a ciphertext can give another valid ciphertext: it must still be one
    assert isinstance(loaded, EncryptedVector | PackedEncryptedVector | MaskedVector)
    for ciphertext in loaded.ciphertexts:
        assert 0 < ciphertext < public_key.nsquare


@given(st.binary(max_size=2000))
def test_random_bytes_never_load_as_a_vector(public_key, data: bytes) -> None:
    with pytest.raises(CryptoError):
        vector_from_bytes(data, public_key)
