"""Paillier encryption with phe-compatible keys and numbers, and fast vectors.

The single-number API mirrors python-paillier (``phe``): the same names, ``g = n + 1``
and the same ``mantissa * 16**exponent`` number format, so keys and ciphertexts move
between the two libraries in both directions.  The vector API
(:meth:`PaillierPublicKey.encrypt_vector`, :class:`EncryptedVector`) is what the
protocols use: one fixed exponent per vector, tracked overflow bounds, DJN
fixed-base obfuscators, CRT for the key owner, Pippenger multi-exponentiation,
packing, masking and parallel execution.

Examples
--------
>>> import numpy as np
>>> from crypto.paillier import generate_paillier_keypair
>>> public_key, private_key = generate_paillier_keypair(1024, allow_weak_key=True)
>>> ev = public_key.encrypt_vector(np.array([1.5, -2.0, 0.25]))
>>> X = np.array([[1.0, 2.0, 3.0], [0.5, 0.0, -1.0]])
>>> private_key.decrypt_vector(X @ ev).round(6).tolist()
[-1.75, 0.5]
"""

from crypto.paillier.keys import (
    DEFAULT_KEY_BITS,
    DEFAULT_VECTOR_PRECISION,
    MAX_KEY_BITS,
    MIN_KEY_BITS,
    WEAKEST_KEY_BITS,
    PaillierPrivateKey,
    PaillierPublicKey,
    check_key_length,
    generate_paillier_keypair,
    key_length_problem,
)
from crypto.paillier.masking import MaskedVector, VectorMask
from crypto.paillier.number import EncryptedNumber
from crypto.paillier.packing import PackedEncryptedVector, PackingLayout
from crypto.paillier.vector import DEFAULT_PLAINTEXT_PRECISION, EncryptedVector, concatenate

__all__ = [
    "DEFAULT_KEY_BITS",
    "DEFAULT_PLAINTEXT_PRECISION",
    "DEFAULT_VECTOR_PRECISION",
    "MAX_KEY_BITS",
    "MIN_KEY_BITS",
    "WEAKEST_KEY_BITS",
    "EncryptedNumber",
    "EncryptedVector",
    "MaskedVector",
    "PackedEncryptedVector",
    "PackingLayout",
    "PaillierPrivateKey",
    "PaillierPublicKey",
    "VectorMask",
    "check_key_length",
    "concatenate",
    "generate_paillier_keypair",
    "key_length_problem",
]
