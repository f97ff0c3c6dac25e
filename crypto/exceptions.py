"""Every error the ``crypto`` package raises.

Each class also derives from the closest built-in exception (``ValueError``,
``OverflowError``) so that callers who already catch those keep working.
"""

from __future__ import annotations

__all__ = [
    "CryptoError",
    "DeserializationError",
    "EncodingError",
    "HashToCurveError",
    "InvalidKeyError",
    "InvalidPointError",
    "InvalidSignatureError",
    "KeyMismatchError",
    "MalformedCiphertextError",
    "MalformedInputError",
    "OkvsEncodingError",
    "PlaintextOverflowError",
    "WeakKeyError",
]


class CryptoError(Exception):
    """Base class of every error raised by the ``crypto`` package.

    Examples
    --------
    Each error is also the closest built-in exception, so either can be caught:

    >>> from crypto.paillier import generate_paillier_keypair
    >>> try:
    ...     generate_paillier_keypair(1024)
    ... except ValueError as error:
    ...     print(type(error).__name__, isinstance(error, CryptoError))
    WeakKeyError True
    """


class WeakKeyError(CryptoError, ValueError):
    """A key is shorter than the security policy allows.

    Pass ``allow_weak_key=True`` only in tests and benchmarks.
    """


class InvalidKeyError(CryptoError, ValueError):
    """Key material is inconsistent (e.g. ``p * q != n``, ``n`` even)."""


class KeyMismatchError(CryptoError, ValueError):
    """Two operands, or a message and a key, belong to different keys."""


class EncodingError(CryptoError, ValueError):
    """A plaintext cannot be encoded (non-finite, wrong type, bad precision)."""


class PlaintextOverflowError(CryptoError, OverflowError):
    """A value does not fit, or a result could leave, the plaintext space."""


class MalformedCiphertextError(CryptoError, ValueError):
    """A ciphertext is outside ``(0, n**2)`` or shares a factor with ``n``."""


class DeserializationError(CryptoError, ValueError):
    """Bytes or JSON could not be decoded into a key or a ciphertext vector."""


class MalformedInputError(CryptoError, ValueError):
    """Numbers or bytes from a peer have the wrong length or lie outside their range."""


class HashToCurveError(CryptoError, ValueError):
    """Hashing to a curve was asked for with invalid parameters (e.g. a bad DST)."""


class InvalidPointError(CryptoError, ValueError):
    """A peer sent bytes that are not a valid curve25519 point (or a low-order one)."""


class InvalidSignatureError(CryptoError, ValueError):
    """An RSA blind signature does not verify: the signer cheated or data was corrupted."""


class OkvsEncodingError(CryptoError, ValueError):
    """An OKVS could not encode its items (a stuck peeling, or two equal digests).

    Peeling gets stuck with small probability: retry with another key.  Two items with
    the same digest can never be encoded: deduplicate the items first.
    """
