"""What the atheris harnesses share: fixed test keys and seed inputs.

The keys are derived from fixed numbers (not random), so that a corpus written by one
run still decodes under the keys of the next.  They are test keys: 1024 bits, public
in this file.
"""

from __future__ import annotations

import typing
from pathlib import Path

import gmpy2
import numpy as np

from crypto.paillier import EncryptedVector, MaskedVector, PaillierPrivateKey, PaillierPublicKey
from crypto.rsa_blind import RsaBlindPrivateKey, RsaBlindPublicKey
from protocols.messages import MESSAGE_TYPES, Message
from vfl.runtime import codec


def _prime(start: int) -> int:
    """The first prime p >= start with p = 3 (mod 4)."""
    candidate = int(gmpy2.next_prime(start))
    while candidate % 4 != 3:
        candidate = int(gmpy2.next_prime(candidate))
    return candidate


P = _prime(0xC5F1_3A2B << 480)
Q = _prime(0xE1D7_9C45 << 480)
PUBLIC_KEY = PaillierPublicKey(P * Q, allow_weak_key=True)
PRIVATE_KEY = PaillierPrivateKey(PUBLIC_KEY, P, Q)
RSA_KEY = RsaBlindPrivateKey(RsaBlindPublicKey(P * Q, 65537), P, Q)
KEYRING = codec.Keyring([PUBLIC_KEY])

_SIMPLE: dict[codec.FieldTag, object] = {
    codec.FieldTag.BOOL: True,
    codec.FieldTag.INT: 3,
    codec.FieldTag.FLOAT: 0.5,
    codec.FieldTag.STR: "ecdh",
    codec.FieldTag.BYTES: bytes(range(32)),
    codec.FieldTag.ARRAY: np.array([0.5, -1.0, 2.0]),
    codec.FieldTag.PUBLIC_KEY: PUBLIC_KEY,
    codec.FieldTag.INT_TUPLE: (5, 7),
    codec.FieldTag.STR_TUPLE: ("bank-b", "bank-c"),
}


def sample_message(cls: type[Message]) -> Message:
    """A message of class ``cls`` with a plausible value in every payload field."""
    vector: EncryptedVector = PUBLIC_KEY.encrypt_vector([1.5, -2.0, 0.25])
    masked: MaskedVector = vector.mask()[0]
    values: dict[str, object] = {}
    for name, tag in codec.field_tags(cls):
        if tag is codec.FieldTag.ENCRYPTED_VECTOR:
            values[name] = vector
        elif tag is codec.FieldTag.MASKED_VECTOR:
            values[name] = masked
        elif tag is codec.FieldTag.PACKED_VECTOR:
            values[name] = vector.pack()
        else:
            values[name] = _SIMPLE[tag]
    header = {"job_id": "fuzz#0", "sender": "bank-a", "receiver": "bank-b", "round": 1}
    return cls(**header, **values)  # type: ignore[arg-type]


def sample_frames() -> dict[str, bytes]:
    """One frame of every registered message kind."""
    return {kind.name: codec.encode(sample_message(cls)) for kind, cls in MESSAGE_TYPES.items()}


def fuzzer_arguments(argv: list[str], harness: str, seeds: typing.Mapping[str, bytes]) -> list[str]:
    """LibFuzzer's arguments, with a corpus folder that holds ``seeds``.

    The first argument that is not an option names the corpus folder (default
    ``fuzz/corpus/<harness>``); a single file is an input to replay, left alone.
    """
    arguments = list(argv)
    paths = [a for a in arguments[1:] if not a.startswith("-")]
    if paths and Path(paths[0]).is_file():
        return arguments
    if not paths:
        folder = Path(__file__).resolve().parent / "corpus" / harness
        arguments.append(str(folder))
    else:
        folder = Path(paths[0])
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        path = folder / f"seed-{name.lower()}"
        if not path.exists():
            path.write_bytes(data)
    return arguments
