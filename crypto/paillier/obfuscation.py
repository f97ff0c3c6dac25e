"""Obfuscators: the random n-th residues that make Paillier encryption probabilistic.

A ciphertext is ``(1 + m*n) * rho mod n**2`` where ``rho`` is an n-th residue.  We
follow Damgard-Jurik-Nielsen (DJN): ``rho = hs**r`` with ``hs = h**n mod n**2`` a
fixed public base, so that ``rho`` comes from a precomputed fixed-base table
(:class:`crypto.fixed_base.FixedBaseTable`) instead of a full exponentiation.

``hs`` is derived from ``n`` alone by hashing (SHAKE-256, domain-separated), so a
key is still just ``n`` (phe-compatible) and nobody, the key owner included, can
choose ``h`` with a small order.

Exponent lengths (``k`` = bit length of ``n``):

* :func:`fresh_exponent_bits` = ``k / 2``: fresh encryptions by a holder of the
  public key, the DJN parameter that SecretFlow HEU also uses; hiding rests on
  the short-exponent assumption.
* :func:`statistical_exponent_bits` = ``k + 128``: re-randomisation of anything
  sent to the key owner.  ``r mod ord(hs)`` is then within ``2**-128`` of uniform,
  so the obfuscator is statistically uniform in ``<hs>`` and the owner, who can
  take discrete logarithms modulo ``p`` and ``q``, learns nothing about how the
  ciphertext was computed.
* The owner's own encryptions reduce such a long exponent modulo ``p - 1`` and
  ``q - 1`` (CRT): statistically uniform in ``<hs>`` at the cost of two 1024-bit
  table exponentiations modulo ``p**2`` and ``q**2``.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import deque
from collections.abc import Iterable

import gmpy2
from gmpy2 import mpz

__all__ = [
    "ObfuscatorPool",
    "derive_obfuscation_base",
    "fresh_exponent_bits",
    "statistical_exponent_bits",
]

_DOMAIN = b"vfl-engine/paillier/djn-obfuscation-base/v1"
STATISTICAL_SECURITY_BITS = 128


def fresh_exponent_bits(n: int) -> int:
    """DJN short-exponent length for fresh encryptions: half the bits of ``n``.

    Parameters
    ----------
    n : int
        The Paillier modulus.

    Returns
    -------
    int
        ``ceil(bits(n) / 2)``.

    Examples
    --------
    >>> fresh_exponent_bits(2**2047)  # a 2048-bit modulus
    1024
    """
    return (int(n).bit_length() + 1) // 2


def statistical_exponent_bits(n: int) -> int:
    """Exponent length that makes ``hs**r`` statistically uniform in ``<hs>``.

    Parameters
    ----------
    n : int
        The Paillier modulus.

    Returns
    -------
    int
        ``bits(n) + 128``.

    Examples
    --------
    >>> statistical_exponent_bits(2**2047)
    2176
    """
    return int(n).bit_length() + STATISTICAL_SECURITY_BITS


@functools.lru_cache(maxsize=32)
def derive_obfuscation_base(n: mpz) -> mpz:
    """Return ``hs = (-x**2)**n mod n**2`` with ``x`` hashed from ``n``.

    Parameters
    ----------
    n : gmpy2.mpz
        The Paillier modulus.

    Returns
    -------
    gmpy2.mpz
        The DJN base, an n-th residue of (overwhelmingly likely) large order.

    Raises
    ------
    ArithmeticError
        If no base can be derived (``n`` is not a valid modulus).

    Examples
    --------
    >>> from crypto.paillier import generate_paillier_keypair
    >>> public_key, _ = generate_paillier_keypair(1024, allow_weak_key=True)
    >>> hs = derive_obfuscation_base(mpz(public_key.n))
    >>> int(hs) == public_key.obfuscation_base
    True
    """
    n = mpz(n)
    width = (n.bit_length() + 7) // 8
    for counter in range(1 << 16):
        seed = _DOMAIN + counter.to_bytes(4, "big") + int(n).to_bytes(width, "big")
        x = mpz(int.from_bytes(hashlib.shake_256(seed).digest(width + 16), "big")) % n
        if x > 1 and gmpy2.gcd(x, n) == 1:
            h = (-x * x) % n
            return gmpy2.powmod(h, n, n * n)
    raise ArithmeticError("could not derive an obfuscation base; is n a valid modulus?")


class ObfuscatorPool:
    """Obfuscators computed ahead of time, each handed out exactly once.

    Items are removed from the pool when taken, so an obfuscator can never be used
    twice.  The pool is thread-safe.

    Examples
    --------
    >>> pool = ObfuscatorPool()
    >>> pool.add([mpz(2), mpz(3), mpz(5)])
    >>> pool.take(2), len(pool)
    ([mpz(2), mpz(3)], 1)
    >>> pool.take(5)  # fewer when the pool runs dry
    [mpz(5)]
    """

    __slots__ = ("_items", "_lock")

    def __init__(self) -> None:
        self._items: deque[mpz] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, obfuscators: Iterable[mpz]) -> None:
        """Put freshly computed obfuscators into the pool.

        Parameters
        ----------
        obfuscators : iterable of gmpy2.mpz
            Obfuscators never used before.
        """
        with self._lock:
            self._items.extend(obfuscators)

    def take(self, count: int) -> list[mpz]:
        """Remove and return up to ``count`` obfuscators (fewer if the pool runs dry).

        Parameters
        ----------
        count : int
            How many are wanted.

        Returns
        -------
        list of gmpy2.mpz
            At most ``count`` obfuscators, oldest first.
        """
        with self._lock:
            return [self._items.popleft() for _ in range(min(count, len(self._items)))]

    def clear(self) -> None:
        """Drop every precomputed obfuscator."""
        with self._lock:
            self._items.clear()
