"""Random primes from the operating system's CSPRNG."""

from __future__ import annotations

import secrets

import gmpy2
from gmpy2 import mpz

__all__ = ["MILLER_RABIN_ROUNDS", "random_prime"]

MILLER_RABIN_ROUNDS = 30
"""``gmpy2.is_prime`` repetitions: GMP runs Baillie-PSW plus ``30 - 24`` random-base
Miller-Rabin rounds, on top of the test inside ``next_prime``."""


def random_prime(bits: int, *, blum: bool = True) -> mpz:
    """Return a random prime of exactly ``bits`` bits whose two top bits are set.

    The start of the search comes from :func:`secrets.randbits`; the prime is the
    next one after it (an incremental search, as OpenSSL does).  Setting the top two
    bits makes the product of two such primes exactly ``2 * bits`` long.

    Parameters
    ----------
    bits : int
        Length of the prime, at least 16.
    blum : bool, default True
        Return a prime congruent to 3 mod 4.

    Returns
    -------
    gmpy2.mpz
        The prime.

    Raises
    ------
    ValueError
        If ``bits`` is below 16.

    Examples
    --------
    >>> import gmpy2
    >>> p = random_prime(256)
    >>> p.bit_length(), p % 4, p >> 254, gmpy2.is_prime(p)
    (256, mpz(3), mpz(3), True)
    """
    if bits < 16:
        raise ValueError(f"a prime needs at least 16 bits, got {bits}")
    top = mpz(3) << (bits - 2)
    while True:
        start = mpz(secrets.randbits(bits)) | top
        candidate = gmpy2.next_prime(start)
        while blum and candidate % 4 != 3:
            candidate = gmpy2.next_prime(candidate)
        if candidate.bit_length() == bits and gmpy2.is_prime(candidate, MILLER_RABIN_ROUNDS):
            return candidate
