"""Hashing to curve25519: the RFC 9380 suite ``curve25519_XMD:SHA-512_ELL2_RO_``.

ECDH-PSI needs a hash whose outputs are points of the prime-order subgroup of
curve25519 with unknown discrete logarithms.  This module implements RFC 9380
("Hashing to Elliptic Curves") for curve25519 exactly:

* :func:`expand_message_xmd` with SHA-512 (RFC 9380 section 5.3.1);
* :func:`hash_to_field` into ``GF(2**255 - 19)`` (section 5.2, ``m = 1``, ``L = 48``);
* :func:`map_to_curve_elligator2_curve25519`, the straight-line Elligator 2 map of
  appendix G.2.1;
* :func:`hash_to_curve25519`, the random-oracle suite (section 6.8.2 and
  appendix J.4.1 of the RFC): two maps, a point addition and cofactor clearing
  with ``h_eff = 8``, as an affine Montgomery point ``(x, y)``;
* :func:`hash_to_x25519` and :func:`hash_to_x25519_many`, the same point as the
  32-byte little-endian u-coordinate that X25519 consumes: the fast path.

The fast path gives exactly the same u-coordinate as :func:`hash_to_curve25519` but
works in projective coordinates: each map's square root is one exponentiation
``w**(2**252)`` (a pure chain of squarings), the two maps' divisions share one
inversion, the addition and the three doublings (x-only, Montgomery's ladder
formulas) are inversion-free, and one inversion at the end gives the affine u.
The two exponentiations (252 squarings each in GMP) are about two thirds of the
cost; the batch version runs them through ``gmpy2.powmod_base_list``, which
releases the GIL.

Notes
-----
The arithmetic runs on Python integers and GMP, so it is not constant-time: the
time taken depends (slightly) on the message.  ECDH-PSI hashes identifiers that
are sent, exponentiated, to the other party anyway; a local attacker who can time
the hashing of individual identifiers is outside this library's threat model (the
same holds for the Paillier code).

The rare inputs where the fast formulas do not apply (the two mapped points have
the same u-coordinate, probability about ``2**-254``) fall back to the plain
affine computation, so the result never depends on the path.

Examples
--------
>>> from crypto.hash_to_curve import hash_to_curve25519, hash_to_x25519
>>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"
>>> x, y = hash_to_curve25519(b"abc", dst)
>>> hex(x)
'0x2b4419f1f2d48f5872de692b0aca72cc7b0a60915dd70bde432e826b6abc526d'
>>> hash_to_x25519(b"abc", dst) == x.to_bytes(32, "little")
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import gmpy2
from gmpy2 import mpz

from crypto.exceptions import HashToCurveError

__all__ = [
    "COFACTOR",
    "MAX_DST_BYTES",
    "MONTGOMERY_A",
    "ORDER",
    "SUITE_ID",
    "U_BYTES",
    "P",
    "expand_message_xmd",
    "hash_to_curve25519",
    "hash_to_field",
    "hash_to_x25519",
    "hash_to_x25519_many",
    "is_on_curve25519",
    "map_to_curve_elligator2_curve25519",
]

P = 2**255 - 19
"""The field prime of curve25519."""
MONTGOMERY_A = 486662
"""The coefficient ``A`` of curve25519, ``y**2 = x**3 + A*x**2 + x`` (``J`` in RFC 9380)."""
ORDER = 2**252 + 27742317777372353535851937790883648493
"""The order of the prime-order subgroup."""
COFACTOR = 8
"""The cofactor; also ``h_eff`` of the suite."""
SUITE_ID = b"curve25519_XMD:SHA-512_ELL2_RO_"
"""The RFC 9380 suite identifier; domain-separation tags should contain it."""
U_BYTES = 32
"""Length of an encoded u-coordinate."""

MAX_DST_BYTES = 255
"""Longest domain-separation tag accepted (RFC 9380 section 5.3.1)."""
_HASH_BYTES = 64  # b_in_bytes of SHA-512
_BLOCK_BYTES = 128  # s_in_bytes of SHA-512
_MAX_EXPAND_BYTES = 255 * _HASH_BYTES
_L = 48  # ceil((ceil(log2(p)) + k) / 8) with k = 128

# Constants of the straight-line Elligator 2 map (RFC 9380 appendix G.2.1).
_C1 = (P + 3) // 8
_C2 = pow(2, _C1, P)
_SQRT_M1 = pow(2, (P - 1) // 4, P)  # 2 is a non-square, so this squares to -1
_C4 = (P - 5) // 8
_A24 = (MONTGOMERY_A + 2) // 4

# The same constants as mpz, for the fast path.
_P = mpz(P)
_J = mpz(MONTGOMERY_A)
_J2 = mpz(MONTGOMERY_A * MONTGOMERY_A % P)
_X1N = mpz(P - MONTGOMERY_A)  # x1 = -J / xd
_A24_MPZ = mpz(_A24)
_C2_MPZ = mpz(_C2)
_SQRT_M1_MPZ = mpz(_SQRT_M1)
_TWO_252 = mpz(2) ** 252  # w**((p + 3) / 8) == w**(2**252) / w**2
_RUN = 256  # messages per powmod_base_list call in hash_to_x25519_many
_sha512 = hashlib.sha512
_from_bytes = mpz.from_bytes

_Point = tuple[int, int]


# --- expand_message_xmd and hash_to_field ---------------------------------------------------------


def _check_bytes(name: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _check_dst(dst: object) -> bytes:
    dst = _check_bytes("dst", dst)
    if not dst:
        raise HashToCurveError(
            "the domain-separation tag (dst) is empty; RFC 9380 requires a non-empty, "
            "application-specific tag"
        )
    if len(dst) > MAX_DST_BYTES:
        raise HashToCurveError(
            f"the domain-separation tag is {len(dst)} bytes long; RFC 9380 allows at most "
            f"{MAX_DST_BYTES} (shorten it, or hash it as in RFC 9380 section 5.3.3)"
        )
    return dst


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380 ``expand_message_xmd`` with SHA-512 (section 5.3.1).

    Parameters
    ----------
    msg : bytes
        The message.
    dst : bytes
        The domain-separation tag, 1 to 255 bytes.
    len_in_bytes : int
        The output length, 1 to ``255 * 64``.

    Returns
    -------
    bytes
        ``len_in_bytes`` uniformly random-looking bytes.

    Raises
    ------
    HashToCurveError
        If ``dst`` is empty or longer than 255 bytes, or ``len_in_bytes`` is out of
        range.
    TypeError
        If ``msg`` or ``dst`` is not bytes, or ``len_in_bytes`` is not an int.

    Examples
    --------
    The test vector of RFC 9380 appendix K.3:

    >>> dst = b"QUUX-V01-CS02-with-expander-SHA512-256"
    >>> expand_message_xmd(b"abc", dst, 0x20).hex()
    '0da749f12fbe5483eb066a5f595055679b976e93abe9be6f0f6318bce7aca8dc'
    """
    msg = _check_bytes("msg", msg)
    dst = _check_dst(dst)
    if isinstance(len_in_bytes, bool) or not isinstance(len_in_bytes, int):
        raise TypeError(f"len_in_bytes must be an int, got {type(len_in_bytes).__name__}")
    if not 1 <= len_in_bytes <= _MAX_EXPAND_BYTES:
        raise HashToCurveError(
            f"expand_message_xmd with SHA-512 produces 1 to {_MAX_EXPAND_BYTES} bytes, "
            f"{len_in_bytes} were requested"
        )
    ell = -(-len_in_bytes // _HASH_BYTES)
    dst_prime = dst + bytes([len(dst)])
    msg_prime = bytes(_BLOCK_BYTES) + msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime
    b_0 = hashlib.sha512(msg_prime).digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    blocks = [b_i]
    for i in range(2, ell + 1):
        mixed = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha512(mixed + bytes([i]) + dst_prime).digest()
        blocks.append(b_i)
    return b"".join(blocks)[:len_in_bytes]


def hash_to_field(msg: bytes, dst: bytes, count: int) -> list[int]:
    """RFC 9380 ``hash_to_field`` into ``GF(2**255 - 19)`` (``m = 1``, ``L = 48``).

    Parameters
    ----------
    msg : bytes
        The message.
    dst : bytes
        The domain-separation tag, 1 to 255 bytes.
    count : int
        How many field elements, at least 1.

    Returns
    -------
    list of int
        ``count`` field elements in ``[0, p)``.

    Raises
    ------
    HashToCurveError
        If ``count`` is not a positive int or ``dst`` is invalid.

    Examples
    --------
    >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"  # RFC 9380 J.4.1
    >>> [hex(u) for u in hash_to_field(b"abc", dst, 2)]  # doctest: +NORMALIZE_WHITESPACE
    ['0x49bed021c7a3748f09fa8cdfcac044089f7829d3531066ac9e74e0994e05bc7d',
     '0x5c36525b663e63389d886105cee7ed712325d5a97e60e140aba7e2ce5ae851b6']
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise HashToCurveError(f"count must be a positive int, got {count!r}")
    uniform = expand_message_xmd(msg, dst, count * _L)
    return [int.from_bytes(uniform[i * _L : (i + 1) * _L], "big") % P for i in range(count)]


# --- the map and the group law (plain affine arithmetic) ------------------------------------------


def _inv0(x: int) -> int:
    return pow(x, P - 2, P)


def map_to_curve_elligator2_curve25519(u: int) -> tuple[int, int]:
    """Elligator 2 for curve25519, the straight-line version of RFC 9380 appendix G.2.1.

    Parameters
    ----------
    u : int
        A field element in ``[0, p)``.

    Returns
    -------
    tuple of int
        The affine Montgomery point ``(x, y)`` (on the curve, not necessarily in the
        prime-order subgroup).

    Raises
    ------
    HashToCurveError
        If ``u`` is not in ``[0, p)``.
    TypeError
        If ``u`` is not an int.

    Examples
    --------
    ``Q0`` of the RFC 9380 test vector for ``msg = "abc"``:

    >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"  # RFC 9380 J.4.1
    >>> u0, _ = hash_to_field(b"abc", dst, 2)
    >>> x, y = map_to_curve_elligator2_curve25519(u0)
    >>> hex(x)
    '0x16b3d86e056b7970fa00165f6f48d90b619ad618791661b7b5e1ec78be10eac1'
    >>> is_on_curve25519(x, y)
    True
    """
    if isinstance(u, bool) or not isinstance(u, int | gmpy2.mpz):
        raise TypeError(f"u must be an int, got {type(u).__name__}")
    u = int(u)
    if not 0 <= u < P:
        raise HashToCurveError("u must be a field element in [0, 2**255 - 19)")
    p = P
    tv1 = u * u % p
    tv1 = 2 * tv1 % p
    xd = (tv1 + 1) % p  # nonzero: -1 is a square mod p, tv1 is not
    x1n = -MONTGOMERY_A % p
    tv2 = xd * xd % p
    gxd = tv2 * xd % p
    gx1 = MONTGOMERY_A * tv1 % p
    gx1 = gx1 * x1n % p
    gx1 = (gx1 + tv2) % p
    gx1 = gx1 * x1n % p
    tv3 = gxd * gxd % p
    tv2 = tv3 * tv3 % p
    tv3 = tv3 * gxd % p
    tv3 = tv3 * gx1 % p
    tv2 = tv2 * tv3 % p
    y11 = pow(tv2, _C4, p)
    y11 = y11 * tv3 % p
    y12 = y11 * _SQRT_M1 % p
    tv2 = y11 * y11 % p
    tv2 = tv2 * gxd % p
    e1 = tv2 == gx1
    y1 = y11 if e1 else y12
    x2n = x1n * tv1 % p
    y21 = y11 * u % p
    y21 = y21 * _C2 % p
    y22 = y21 * _SQRT_M1 % p
    gx2 = gx1 * tv1 % p
    tv2 = y21 * y21 % p
    tv2 = tv2 * gxd % p
    e2 = tv2 == gx2
    y2 = y21 if e2 else y22
    tv2 = y1 * y1 % p
    tv2 = tv2 * gxd % p
    e3 = tv2 == gx1
    xn = x1n if e3 else x2n
    y = y1 if e3 else y2
    e4 = y % 2 == 1
    if e3 != e4:
        y = -y % p
    return xn * _inv0(xd) % p, y


def is_on_curve25519(x: int, y: int) -> bool:
    """Whether the affine point ``(x, y)`` (reduced mod p) lies on curve25519.

    Parameters
    ----------
    x, y : int
        Affine Montgomery coordinates.

    Returns
    -------
    bool
        Whether both are in ``[0, p)`` and ``y**2 == x**3 + A*x**2 + x``.

    Examples
    --------
    The base point of X25519 (``u = 9``):

    >>> y = 14781619447589544791020593568409986887264606134616475288964881837755586237401
    >>> is_on_curve25519(9, y), is_on_curve25519(9, y + 1)
    (True, False)
    """
    return 0 <= x < P and 0 <= y < P and (y * y - x * (x * x + MONTGOMERY_A * x + 1)) % P == 0


def _add(p1: _Point | None, p2: _Point | None) -> _Point | None:
    """The Montgomery-curve group law in affine coordinates; ``None`` is the identity."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        slope = (3 * x1 * x1 + 2 * MONTGOMERY_A * x1 + 1) * _inv0(2 * y1) % P
    else:
        slope = (y2 - y1) * _inv0(x2 - x1) % P
    x3 = (slope * slope - MONTGOMERY_A - x1 - x2) % P
    return x3, (slope * (x1 - x3) - y1) % P


def _hash_to_point(msg: bytes, dst: bytes) -> _Point:
    u0, u1 = hash_to_field(msg, dst, 2)
    point = _add(map_to_curve_elligator2_curve25519(u0), map_to_curve_elligator2_curve25519(u1))
    for _ in range(3):  # clear_cofactor: multiply by h_eff = 8
        point = _add(point, point)
    if point is None:
        # Needs the two maps to land on opposite points up to 8-torsion: probability
        # about 2**-252, never observed.
        raise HashToCurveError("the message hashes to the identity point, which has no encoding")
    return point


def hash_to_curve25519(msg: bytes, dst: bytes) -> tuple[int, int]:
    """RFC 9380 ``hash_to_curve`` with the suite ``curve25519_XMD:SHA-512_ELL2_RO_``.

    Parameters
    ----------
    msg : bytes
        The message.
    dst : bytes
        The domain-separation tag, 1 to 255 bytes.

    Returns
    -------
    tuple of int
        The affine Montgomery point ``(x, y)``, in the prime-order subgroup.

    Raises
    ------
    HashToCurveError
        If ``dst`` is invalid.

    Examples
    --------
    >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"  # RFC 9380 J.4.1
    >>> x, y = hash_to_curve25519(b"abc", dst)
    >>> hex(y)
    '0x1b8235f255a268f0a6fa8763e97eb3d22d149343d495da1160eff9703f2d07dd'
    """
    return _hash_to_point(msg, dst)


# --- the fast path --------------------------------------------------------------------------------


class _Expander(NamedTuple):
    """``expand_message_xmd`` of 96 bytes under one DST, with its constant parts ready."""

    zpad: hashlib._Hash  # SHA-512 state after absorbing Z_pad
    suffix0: bytes  # l_i_b_str || I2OSP(0, 1) || DST_prime
    suffix1: bytes  # I2OSP(1, 1) || DST_prime
    suffix2: bytes  # I2OSP(2, 1) || DST_prime


@lru_cache(maxsize=16)
def _expander(dst: bytes) -> _Expander:
    dst = _check_dst(dst)
    dst_prime = dst + bytes([len(dst)])
    return _Expander(
        hashlib.sha512(bytes(_BLOCK_BYTES)),
        (2 * _L).to_bytes(2, "big") + b"\x00" + dst_prime,
        b"\x01" + dst_prime,
        b"\x02" + dst_prime,
    )


# Per message, the state between the start and the end of the two maps:
# (u0, tv1_0, xd0, gxd0, gx1_0, w0, den0, u1, tv1_1, xd1, gxd1, gx1_1, w1, den1).
_Start = tuple[mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz, mpz]


def _start(msg: bytes, expander: _Expander) -> _Start:
    """``hash_to_field(msg, dst, 2)`` and both maps up to their exponentiations.

    For each field element ``u``: ``tv1 = 2 u**2``, ``xd = tv1 + 1``, ``x1 = -J / xd``,
    ``gxd = xd**3``, ``gx1 = g(x1) * gxd``, and the square-root candidate of
    ``gx1 / gxd`` is ``sqrt(w) / gxd`` with ``w = gx1 * gxd``, that is
    ``w**(2**252) / den`` with ``den = w**2 * gxd`` (``(p + 3) / 8 == 2**252 - 2``).
    """
    p = _P
    state = expander.zpad.copy()
    state.update(msg)
    state.update(expander.suffix0)
    b_0 = state.digest()
    b_1 = _sha512(b_0 + expander.suffix1).digest()
    mixed = (int.from_bytes(b_0, "little") ^ int.from_bytes(b_1, "little")).to_bytes(64, "little")
    b_2 = _sha512(mixed + expander.suffix2).digest()
    u0 = _from_bytes(b_1[:_L], "big") % p
    u1 = _from_bytes(b_1[_L:] + b_2[: 2 * _L - _HASH_BYTES], "big") % p
    tv0 = u0 * u0 * 2 % p
    xd0 = tv0 + 1  # never 0 (or p): -1/2 is not a square
    xd0_2 = xd0 * xd0 % p
    gxd0 = xd0_2 * xd0 % p
    gx0 = (_J2 * tv0 - xd0_2) * _J % p  # x1n**3 + J x1n**2 xd + x1n xd**2 with x1n = -J
    w0 = gx0 * gxd0 % p
    tv1 = u1 * u1 * 2 % p
    xd1 = tv1 + 1
    xd1_2 = xd1 * xd1 % p
    gxd1 = xd1_2 * xd1 % p
    gx1 = (_J2 * tv1 - xd1_2) * _J % p
    w1 = gx1 * gxd1 % p
    return (
        u0, tv0, xd0, gxd0, gx0, w0, w0 * w0 * gxd0 % p,
        u1, tv1, xd1, gxd1, gx1, w1, w1 * w1 * gxd1 % p,
    )  # fmt: skip


def _finish_map(u: mpz, tv1: mpz, gxd: mpz, gx1: mpz, y: mpz) -> tuple[mpz, mpz]:
    """``(xn, y)`` of the map's point ``(xn / xd, y)`` from a candidate root ``y``.

    ``y**2 * gxd`` is ``gx1`` times a fourth root of unity: ``+-1`` when ``g(x1)``
    is a square (then ``y`` or ``y * sqrt(-1)`` is its root), ``+-sqrt(-1)``
    otherwise (then the root of ``g(x2) = 2 u**2 g(x1)`` is ``y * u * c2``, possibly
    times ``sqrt(-1)``), as in RFC 9380 appendix G.2.1; the sign of ``y`` is then
    fixed so that ``sgn0(y)`` is 1 for ``x1`` and 0 for ``x2`` (section 6.7.1).
    """
    p = _P
    t = y * y * gxd % p
    if t == gx1 or t + gx1 == p:
        if t != gx1:
            y = y * _SQRT_M1_MPZ % p
        if y.is_even():  # y != 0: g(x1) is never 0
            y = p - y
        return _X1N, y
    y = y * u * _C2_MPZ % p
    if t * _SQRT_M1_MPZ % p != gx1:  # (y u c2)**2 gxd == t tv1 2**((p-1)/4) must be gx2
        y = y * _SQRT_M1_MPZ % p
    if y.is_odd():
        y = p - y
    return _X1N * tv1 % p, y


def _finish(start: _Start, power0: mpz, power1: mpz, inverse: mpz) -> tuple[mpz, mpz] | None:
    """Projective u-coordinate ``(U : W)`` of ``8 (Q0 + Q1)``.

    ``power0``, ``power1`` are ``w0**(2**252)``, ``w1**(2**252)`` and ``inverse`` is
    ``1 / (den0 * den1)``.  Returns ``None`` when ``Q0`` and ``Q1`` have the same
    u-coordinate (the chord formula does not apply).
    """
    p = _P
    u0, tv0, xd0, gxd0, gx0, _, den0, u1, tv1, xd1, gxd1, gx1, _, den1 = start
    xn0, y0 = _finish_map(u0, tv0, gxd0, gx0, power0 * den1 * inverse % p)
    xn1, y1 = _finish_map(u1, tv1, gxd1, gx1, power1 * den0 * inverse % p)
    e = xd0 * xd1 % p
    a = xn0 * xd1
    b = xn1 * xd0
    d = (b - a) % p  # x1 - x0 == d / e
    if not d:
        return None
    n = (y1 - y0) * e % p  # the chord's slope is n / d
    d2 = d * d
    # x(Q0 + Q1) = (n / d)**2 - J - x0 - x1, over the common denominator d**2 e
    big_u = (n * n * e - d2 * (_J * e + a + b)) % p
    big_w = d2 * e % p
    # Three x-only doublings: with s = (U + W)**2, t = (U - W)**2, c = s - t,
    # 2 (U : W) = (s t : c (t + a24 c)), a24 = (J + 2) / 4.
    a24 = _A24_MPZ
    for _ in range(3):
        s = big_u + big_w
        s = s * s
        t = big_u - big_w
        t = t * t
        c = s - t
        big_u = s * t % p
        big_w = c * (t + a24 * c) % p
    return big_u, big_w


def _encode(msg: bytes, dst: bytes, projective: tuple[mpz, mpz] | None) -> bytes:
    if projective is None or not projective[1]:
        # Same u-coordinate for both maps (about 2**-254), or the identity (raises).
        u = mpz(_hash_to_point(msg, dst)[0])
    else:
        u = projective[0] * gmpy2.invert(projective[1], _P) % _P
    result: bytes = u.to_bytes(U_BYTES, "little")
    return result


def hash_to_x25519(msg: bytes, dst: bytes) -> bytes:
    """The u-coordinate of :func:`hash_to_curve25519` as X25519 encodes it (fast path).

    Parameters
    ----------
    msg : bytes
        The message.
    dst : bytes
        The domain-separation tag, 1 to 255 bytes.

    Returns
    -------
    bytes
        32 bytes, little-endian, canonical (``u < p``, top bit clear).

    Raises
    ------
    HashToCurveError
        If ``dst`` is invalid.

    Examples
    --------
    >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"  # RFC 9380 J.4.1
    >>> u = hash_to_x25519(b"abc", dst)
    >>> len(u), int.from_bytes(u, "little") == hash_to_curve25519(b"abc", dst)[0]
    (32, True)
    """
    if type(msg) is not bytes:
        msg = _check_bytes("msg", msg)
    start = _start(msg, _expander(dst if type(dst) is bytes else _check_dst(dst)))
    p = _P
    projective = _finish(
        start,
        gmpy2.powmod(start[5], _TWO_252, p),
        gmpy2.powmod(start[12], _TWO_252, p),
        gmpy2.invert(start[6] * start[13], p),
    )
    return _encode(msg, dst, projective)


def hash_to_x25519_many(msgs: Sequence[bytes], dst: bytes) -> bytes:
    """:func:`hash_to_x25519` of every message, concatenated (32 bytes each, in order).

    The DST is prepared once, and the square roots of a run of messages are computed
    by one ``gmpy2.powmod_base_list`` call, which releases the GIL (so other threads
    run meanwhile).  Montgomery's batch inversion was measured and not used: at 255
    bits ``gmpy2.invert`` costs no more than the three Python-level multiplications
    it would save.

    Parameters
    ----------
    msgs : sequence of bytes
        The messages.
    dst : bytes
        The domain-separation tag, 1 to 255 bytes.

    Returns
    -------
    bytes
        ``32 * len(msgs)`` bytes.

    Raises
    ------
    HashToCurveError
        If ``dst`` is invalid.
    TypeError
        If a message is not bytes.

    Examples
    --------
    >>> dst = b"QUUX-V01-CS02-with-curve25519_XMD:SHA-512_ELL2_RO_"  # RFC 9380 J.4.1
    >>> points = hash_to_x25519_many([b"abc", b""], dst)
    >>> points == hash_to_x25519(b"abc", dst) + hash_to_x25519(b"", dst)
    True
    """
    expander = _expander(_check_dst(dst))
    p = _P
    out: list[bytes] = []
    for first in range(0, len(msgs), _RUN):
        run = [
            m if type(m) is bytes else _check_bytes(f"message {first + i}", m)
            for i, m in enumerate(msgs[first : first + _RUN])
        ]
        starts = [_start(msg, expander) for msg in run]
        bases: list[mpz] = []
        for start in starts:
            bases.append(start[5])
            bases.append(start[12])
        powers = gmpy2.powmod_base_list(bases, _TWO_252, p)
        for index, (msg, start) in enumerate(zip(run, starts, strict=True)):
            projective = _finish(
                start,
                powers[2 * index],
                powers[2 * index + 1],
                gmpy2.invert(start[6] * start[13], p),
            )
            out.append(_encode(msg, dst, projective))
    return b"".join(out)
