"""Commutative encryption for ECDH-PSI: X25519 on identifiers hashed to curve25519.

Each party holds a secret :class:`EcdhKey` ``k`` and "encrypts" a point ``Q`` as
``k * Q`` with X25519.  Identifiers become points with the RFC 9380 suite
``curve25519_XMD:SHA-512_ELL2_RO_`` (:mod:`crypto.hash_to_curve`), under a
per-job domain-separation tag (:func:`ecdh_dst`).  Because scalar multiplication
commutes, ``a * (b * H(id)) == b * (a * H(id))``: both parties end up with the same
value for the identifiers they share, and with unrelated values for the others.

Why X25519 is sound here
------------------------
X25519 (RFC 7748) works on u-coordinates only and *clamps* the 32-byte secret:
it clears the three low bits and sets bit 254, so the effective scalar is
``c = 8 * c'`` with ``2**251 <= c' < 2**252``.

* Commutativity: ``X25519(a, X25519(b, u(Q))) == u(c_a * c_b * Q)``, symmetric in
  ``a`` and ``b``; the u-coordinate loses only the sign of the point, which both
  orders lose alike.
* No collisions: hashed points lie in the subgroup of prime order
  ``l = 2**252 + 2774...3ed``; ``c'`` is below ``l`` and ``l`` is odd, so ``c`` is
  invertible modulo ``l`` and ``Q -> c * Q`` permutes the subgroup.
* Small-subgroup confinement: the factor 8 clears the cofactor, so whatever a
  peer sends, the result lies in the prime-order subgroup and reveals nothing
  about the key modulo 8.  Points of order 2, 4 and 8 (and the order-4 point
  of the twist, ``u = p - 1``) give the identity, which X25519 encodes as all zeros: those are
  rejected as :class:`~crypto.exceptions.InvalidPointError`.
* The effective key has 251 bits of entropy (about 125-bit security against
  discrete logarithms), and the security of ECDH-PSI rests on the decisional
  Diffie-Hellman assumption in that subgroup with the hash as a random oracle.

Points a peer sends are checked (:func:`validate_points`, and again inside
:meth:`EcdhKey.exponentiate`): the length, a
canonical encoding (top bit clear, ``u < p``), not one of the low-order
u-coordinates, and on curve25519 rather than its twist (an honest peer only ever
sends hashed points or multiples of them).

Parallelism
-----------
``X25519PrivateKey.exchange`` holds the GIL (measured: two threads run 0.83x as
fast as one), so large batches run on a process pool (see
:mod:`crypto.parallel`); each chunk carries the 32-byte secret scalar to a
local worker process over a pipe.  Batches below :data:`INLINE_BELOW` points run
inline, without pool start-up costs.

Examples
--------
>>> from crypto.ecdh import EcdhKey, ecdh_dst
>>> dst = ecdh_dst(bytes(16))
>>> alice, bob = EcdhKey.generate(), EcdhKey.generate()
>>> via_bob = alice.exponentiate(bob.hash_and_exponentiate([b"id-1", b"id-2"], dst))
>>> via_alice = bob.exponentiate(alice.hash_and_exponentiate([b"id-1", b"id-2"], dst))
>>> via_bob == via_alice
True
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from concurrent.futures import Executor

import gmpy2
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from gmpy2 import mpz

from crypto import parallel
from crypto.exceptions import HashToCurveError, InvalidKeyError, InvalidPointError
from crypto.hash_to_curve import MONTGOMERY_A, SUITE_ID, P, hash_to_x25519_many

__all__ = [
    "DST_PREFIX",
    "INLINE_BELOW",
    "LOW_ORDER_POINTS",
    "MAX_SALT_BYTES",
    "MIN_SALT_BYTES",
    "POINT_BYTES",
    "SCALAR_BYTES",
    "EcdhKey",
    "ecdh_dst",
    "validate_points",
]

POINT_BYTES = 32
"""Length of an encoded point (a little-endian u-coordinate)."""
SCALAR_BYTES = 32
"""Length of a secret key."""
DST_PREFIX = b"VFL-PSI-V01-CS01-with-" + SUITE_ID + b"-"
"""Start of every ECDH-PSI domain-separation tag; the job's salt (hex) follows."""
MIN_SALT_BYTES = 16
MAX_SALT_BYTES = 64

LOW_ORDER_POINTS: frozenset[bytes] = frozenset(
    bytes.fromhex(value)
    for value in (
        "0000000000000000000000000000000000000000000000000000000000000000",  # 0: order 2
        "0100000000000000000000000000000000000000000000000000000000000000",  # 1: order 4
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",  # order 8
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",  # order 8
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # p - 1: order 4, twist
    )
)
"""The canonical encodings of points whose X25519 product is the identity."""

INLINE_BELOW = 1024
"""Batches with fewer points run inline (unless an executor is given), whatever ``n_jobs`` says."""
_MIN_CHUNK = INLINE_BELOW // 2
_P = mpz(P)
_A = mpz(MONTGOMERY_A)


def ecdh_dst(salt: bytes) -> bytes:
    """The RFC 9380 domain-separation tag of one ECDH-PSI job.

    Parameters
    ----------
    salt : bytes
        The job's public random salt, 16 to 64 bytes; a fresh salt per job makes
        the hashed points of one job useless in any other.

    Returns
    -------
    bytes
        ``DST_PREFIX + salt.hex()``.

    Raises
    ------
    HashToCurveError
        If ``salt`` has the wrong length (a ``ValueError``).
    TypeError
        If ``salt`` is not bytes.

    Examples
    --------
    >>> ecdh_dst(bytes(16))
    b'VFL-PSI-V01-CS01-with-curve25519_XMD:SHA-512_ELL2_RO_-00000000000000000000000000000000'
    >>> ecdh_dst(b"short")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.HashToCurveError: the PSI salt must be 16 to 64 bytes, got 5; ...
    """
    if not isinstance(salt, bytes | bytearray):
        raise TypeError(f"salt must be bytes, got {type(salt).__name__}")
    if not MIN_SALT_BYTES <= len(salt) <= MAX_SALT_BYTES:
        raise HashToCurveError(
            f"the PSI salt must be {MIN_SALT_BYTES} to {MAX_SALT_BYTES} bytes, got "
            f"{len(salt)}; draw it with secrets.token_bytes(32)"
        )
    return DST_PREFIX + bytes(salt).hex().encode()


def validate_points(points: bytes) -> None:
    """Check points received from a peer before using them.

    Parameters
    ----------
    points : bytes
        Concatenated 32-byte little-endian u-coordinates.

    Raises
    ------
    InvalidPointError
        If the length is not a multiple of 32, or a point is not canonically
        encoded (top bit set or ``u >= p``), is a low-order point or lies on the
        twist of curve25519; the message names the first bad index.
    TypeError
        If ``points`` is not bytes.

    Examples
    --------
    >>> from crypto.hash_to_curve import hash_to_x25519_many
    >>> points = hash_to_x25519_many([b"id-1", b"id-2"], ecdh_dst(bytes(16)))
    >>> validate_points(points) is None
    True
    >>> validate_points(points + bytes(32))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.InvalidPointError: the peer sent an invalid point at index 2: a low-order ...
    """
    if not isinstance(points, bytes | bytearray | memoryview):
        raise TypeError(f"points must be bytes, got {type(points).__name__}")
    points = bytes(points)
    _check_length(points)
    _validate(points, 0)


def _check_length(points: bytes) -> None:
    if len(points) % POINT_BYTES:
        raise InvalidPointError(
            f"the peer sent {len(points)} bytes of points, not a multiple of {POINT_BYTES}: "
            "the message is truncated or corrupted"
        )


def _validate(points: bytes, offset: int) -> None:
    """:func:`validate_points` of whole points; errors count indices from ``offset``."""
    p, a, low_order, jacobi, from_bytes = _P, _A, LOW_ORDER_POINTS, gmpy2.jacobi, mpz.from_bytes
    for index, start in enumerate(range(0, len(points), POINT_BYTES), offset):
        encoded = points[start : start + POINT_BYTES]
        u = from_bytes(encoded, "little")
        if u >= p or encoded in low_order or jacobi((u * u + a * u + 1) * u % p, p) < 0:
            _raise_invalid_point(index, encoded)


def _raise_invalid_point(index: int, encoded: bytes) -> None:
    if encoded[-1] & 0x80:
        reason = "the top bit is set (not a canonical X25519 encoding)"
    elif int.from_bytes(encoded, "little") >= P:
        reason = "u >= 2**255 - 19 (not a canonical encoding)"
    elif encoded in LOW_ORDER_POINTS:
        reason = "a low-order point, whose product with any key is the identity"
    else:
        reason = "it lies on the twist of curve25519, not on the curve"
    raise InvalidPointError(f"the peer sent an invalid point at index {index}: {reason}")


def _raise_low_order(index: int) -> None:
    raise InvalidPointError(
        f"the peer sent an invalid point at index {index}: its product with the key is "
        "the identity (a low-order point)"
    )


def exponentiate_kernel(scalar: bytes, points: bytes, offset: int) -> bytes:
    """Validate and multiply every 32-byte point by ``scalar`` (a module-level kernel).

    ``offset`` is the index of the first point in the whole batch, for error
    messages; ``len(points)`` must be a multiple of 32.
    """
    _validate(points, offset)
    return _exchange_all(scalar, points, offset)


def _exchange_all(scalar: bytes, points: bytes, offset: int) -> bytes:
    private = X25519PrivateKey.from_private_bytes(scalar)
    exchange = private.exchange
    from_public_bytes = X25519PublicKey.from_public_bytes
    out: list[bytes] = []
    for start in range(0, len(points), POINT_BYTES):
        try:
            out.append(exchange(from_public_bytes(points[start : start + POINT_BYTES])))
        except ValueError:  # the all-zero output of a low-order point
            _raise_low_order(offset + start // POINT_BYTES)
    return b"".join(out)


def hash_exponentiate_kernel(scalar: bytes, ids: list[bytes], dst: bytes, offset: int) -> bytes:
    """X25519 of the RFC 9380 hash of every id with ``scalar`` (a module-level kernel)."""
    return _exchange_all(scalar, hash_to_x25519_many(ids, dst), offset)


class EcdhKey:
    """A secret X25519 scalar: the commutative "encryption" key of ECDH-PSI.

    Create one with :meth:`generate` (or :meth:`from_bytes` to restore one).  The
    key is never shown by ``repr`` and cannot be pickled.

    Parameters
    ----------
    scalar : bytes
        32 secret bytes (RFC 7748 clamping is applied by X25519 itself).

    Raises
    ------
    InvalidKeyError
        If ``scalar`` is not 32 bytes.

    Examples
    --------
    >>> key = EcdhKey.generate()
    >>> key
    <EcdhKey (secret)>
    >>> EcdhKey.from_bytes(key.to_bytes()) == key
    True
    >>> dst = ecdh_dst(bytes(16))
    >>> points = key.hash_and_exponentiate([b"id-1", b"id-2"], dst)
    >>> len(points)
    64
    >>> other = EcdhKey.generate()  # the other party's key
    >>> key.exponentiate(other.hash_and_exponentiate([b"id-1"], dst)) == other.exponentiate(
    ...     points[:32]
    ... )
    True
    """

    __slots__ = ("_private", "_scalar")

    def __init__(self, scalar: bytes) -> None:
        if not isinstance(scalar, bytes | bytearray):
            raise InvalidKeyError(f"an ECDH key is 32 bytes, got {type(scalar).__name__}")
        if len(scalar) != SCALAR_BYTES:
            raise InvalidKeyError(f"an ECDH key is {SCALAR_BYTES} bytes, got {len(scalar)}")
        self._scalar = bytes(scalar)
        self._private = X25519PrivateKey.from_private_bytes(self._scalar)

    @classmethod
    def generate(cls) -> EcdhKey:
        """A fresh key from the operating system's CSPRNG (:func:`secrets.token_bytes`).

        Returns
        -------
        EcdhKey
            A new secret key.
        """
        return cls(secrets.token_bytes(SCALAR_BYTES))

    @classmethod
    def from_bytes(cls, data: bytes) -> EcdhKey:
        """Restore a key saved with :meth:`to_bytes`.

        Parameters
        ----------
        data : bytes
            The 32 secret bytes.

        Returns
        -------
        EcdhKey
            The key.

        Raises
        ------
        InvalidKeyError
            If ``data`` is not 32 bytes.
        """
        return cls(data)

    def to_bytes(self) -> bytes:
        """The 32 secret bytes.  Treat them like a password.

        Returns
        -------
        bytes
            The scalar given to the constructor.
        """
        return self._scalar

    def __repr__(self) -> str:
        return "<EcdhKey (secret)>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EcdhKey) and hmac.compare_digest(self._scalar, other._scalar)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError(
            "an EcdhKey holds a secret and is not picklable; call to_bytes() explicitly "
            "if it really must be stored"
        )

    def exponentiate(
        self,
        points: bytes,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> bytes:
        """Multiply every point by this key (X25519), keeping the order.

        Parameters
        ----------
        points : bytes
            Concatenated 32-byte u-coordinates, e.g. from a peer; they are checked
            as by :func:`validate_points` (by the workers, in parallel) before use.
        n_jobs : int, optional
            Worker processes (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        bytes
            The products, 32 bytes each, in the same order.

        Raises
        ------
        InvalidPointError
            If a point is malformed or of low order (naming its index).
        """
        if not isinstance(points, bytes | bytearray | memoryview):
            raise TypeError(f"points must be bytes, got {type(points).__name__}")
        points = bytes(points)
        _check_length(points)  # the points themselves are checked by the kernels
        count = len(points) // POINT_BYTES
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(count, workers, _MIN_CHUNK)
        scalar = parallel.Resident(self._scalar)  # once per job on a cluster
        results = parallel.run_chunks(
            exponentiate_kernel,
            [(scalar, points[a * POINT_BYTES : b * POINT_BYTES], a) for a, b in chunks],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        return b"".join(results)

    def hash_and_exponentiate(
        self,
        ids: Sequence[bytes],
        dst: bytes,
        *,
        n_jobs: int | None = None,
        executor: Executor | None = None,
    ) -> bytes:
        """Hash every id to curve25519 (RFC 9380) and multiply it by this key.

        Parameters
        ----------
        ids : sequence of bytes
            The identifiers.
        dst : bytes
            The domain-separation tag, normally ``ecdh_dst(salt)``.
        n_jobs : int, optional
            Worker processes (``-1``: every core); see :mod:`crypto.parallel`.
        executor : concurrent.futures.Executor, optional
            Run the work on this executor.

        Returns
        -------
        bytes
            ``32 * len(ids)`` bytes, in the order of ``ids``.

        Raises
        ------
        TypeError
            If an id is not bytes.
        HashToCurveError
            If ``dst`` is empty or longer than 255 bytes.
        """
        ids = list(ids)
        for index, value in enumerate(ids):
            if type(value) is not bytes:
                if not isinstance(value, bytes | bytearray | memoryview):
                    raise TypeError(f"id {index} must be bytes, got {type(value).__name__}")
                ids[index] = bytes(value)
        workers = parallel.effective_workers(n_jobs, executor)
        chunks = parallel.chunk_bounds(len(ids), workers, _MIN_CHUNK)
        scalar = parallel.Resident(self._scalar)
        results = parallel.run_chunks(
            hash_exponentiate_kernel,
            [(scalar, ids[a:b], dst, a) for a, b in chunks],
            releases_gil=False,
            n_jobs=n_jobs,
            executor=executor,
        )
        return b"".join(results)
