"""Atheris harness: every crypto deserialiser on arbitrary bytes.

The first byte chooses the decoder (serialised vectors and keys, key JSON, RSA
values and keys from a peer, X25519 points and keys); only
:class:`~crypto.exceptions.CryptoError` may come out.  See ``fuzz/README.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports(include=["crypto", "protocols", "vfl"]):
    from common import PRIVATE_KEY, PUBLIC_KEY, RSA_KEY, fuzzer_arguments

    from crypto.ecdh import EcdhKey, validate_points
    from crypto.exceptions import CryptoError
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
        vector_to_bytes,
    )
    from crypto.rsa_blind import RsaBlindPublicKey, ints_from_bytes


def _rsa_public_key(data: bytes) -> object:
    half = len(data) // 2
    return RsaBlindPublicKey(int.from_bytes(data[:half], "big"), int.from_bytes(data[half:], "big"))


def _rsa_values(data: bytes) -> object:
    values = ints_from_bytes(data, RSA_KEY.public_key.byte_length, RSA_KEY.public_key.n)
    return RSA_KEY.sign(values)


DECODERS: list[Callable[[bytes], object]] = [
    lambda data: vector_from_bytes(data, PUBLIC_KEY),
    lambda data: public_key_from_bytes(data, allow_weak_key=True),
    lambda data: private_key_from_bytes(data, allow_weak_key=True),
    lambda data: public_key_from_json(data, allow_weak_key=True),
    lambda data: private_key_from_json(data, allow_weak_key=True),
    _rsa_values,
    validate_points,
    _rsa_public_key,
    EcdhKey.from_bytes,
]


def fuzz_one_input(data: bytes) -> None:
    """Feed ``data[1:]`` to the decoder its first byte chooses."""
    if not data:
        return
    decoder = DECODERS[data[0] % len(DECODERS)]
    try:
        decoder(data[1:])
    except CryptoError:
        return


def seeds() -> dict[str, bytes]:
    """A valid input of every decoder, and the packed and masked vector kinds."""
    vector = PUBLIC_KEY.encrypt_vector([1.5, -2.0, 0.25])
    n_bytes = RSA_KEY.public_key.n.to_bytes(RSA_KEY.public_key.byte_length, "big")
    blobs = [
        vector_to_bytes(vector),
        public_key_to_bytes(PUBLIC_KEY),
        private_key_to_bytes(PRIVATE_KEY),
        public_key_to_json(PUBLIC_KEY).encode(),
        private_key_to_json(PRIVATE_KEY).encode(),
        (2).to_bytes(len(n_bytes), "big") + (3).to_bytes(len(n_bytes), "big"),
        EcdhKey.generate().hash_and_exponentiate([b"a", b"b"], b"VFL-FUZZ-DST"),
        n_bytes + (65537).to_bytes(len(n_bytes), "big"),
        bytes(range(32)),
    ]
    found = {f"{index}": bytes([index]) + blob for index, blob in enumerate(blobs)}
    found["packed"] = bytes([0]) + vector_to_bytes(vector.pack())
    found["masked"] = bytes([0]) + vector_to_bytes(vector.mask()[0])
    return found


def main() -> None:
    """Seed the corpus, then fuzz (libFuzzer options on the command line)."""
    atheris.Setup(fuzzer_arguments(sys.argv, "crypto", seeds()), fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
