"""Checks on ciphertexts that come from outside, and batch inversion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import gmpy2
from gmpy2 import mpz

from crypto.exceptions import MalformedCiphertextError

__all__ = ["batch_invert", "validate_ciphertexts"]


def validate_ciphertexts(values: Iterable[object], n: mpz, n2: mpz) -> list[mpz]:
    """Check that every value is an int in ``(0, n**2)`` coprime to ``n``.

    Coprimality of all values is checked with one gcd of their product modulo
    ``n`` (a value shares a factor with ``n = pq`` exactly when the product does);
    only if that fails is the culprit searched for.

    Parameters
    ----------
    values : iterable of int
        Ciphertexts, e.g. from a peer.
    n : gmpy2.mpz
        The Paillier modulus.
    n2 : gmpy2.mpz
        ``n**2``.

    Returns
    -------
    list of gmpy2.mpz
        The values, converted.

    Raises
    ------
    MalformedCiphertextError
        Naming the index of the first bad value.

    Examples
    --------
    >>> validate_ciphertexts([4, 7], mpz(15), mpz(225))
    [mpz(4), mpz(7)]
    >>> validate_ciphertexts([4, 10], mpz(15), mpz(225))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.MalformedCiphertextError: ciphertext 1 shares a factor with n: ...
    """
    checked: list[mpz] = []
    product = mpz(1)
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | gmpy2.mpz):
            raise MalformedCiphertextError(
                f"ciphertext {index} is a {type(value).__name__}, not an int"
            )
        ciphertext = mpz(value)
        if not 0 < ciphertext < n2:
            raise MalformedCiphertextError(f"ciphertext {index} is outside (0, n**2)")
        product = product * ciphertext % n
        checked.append(ciphertext)
    if gmpy2.gcd(product, n) != 1:
        for index, ciphertext in enumerate(checked):
            if gmpy2.gcd(ciphertext, n) != 1:
                raise MalformedCiphertextError(
                    f"ciphertext {index} shares a factor with n: it is not a valid "
                    "ciphertext (and would reveal the key's factorisation)"
                )
    return checked


def batch_invert(values: Sequence[mpz], modulus: mpz) -> list[mpz]:
    """Inverses of all ``values`` modulo ``modulus`` with one inversion (Montgomery's trick).

    Costs three multiplications per value plus one ``invert``, instead of one
    ``invert`` (about eight multiplications' worth) per value.

    Parameters
    ----------
    values : sequence of gmpy2.mpz
        Residues invertible modulo ``modulus``.
    modulus : gmpy2.mpz
        The modulus.

    Returns
    -------
    list of gmpy2.mpz
        The inverses, in order.

    Raises
    ------
    ZeroDivisionError
        If a value is not invertible.

    Examples
    --------
    >>> batch_invert([mpz(3), mpz(5)], mpz(7))  # 3 * 5 == 5 * 3 == 1 mod 7
    [mpz(5), mpz(3)]
    """
    if not values:
        return []
    prefix = [values[0]]
    for value in values[1:]:
        prefix.append(prefix[-1] * value % modulus)
    inverse = gmpy2.invert(prefix[-1], modulus)
    result: list[mpz] = [mpz(0)] * len(values)
    for index in range(len(values) - 1, 0, -1):
        result[index] = inverse * prefix[index - 1] % modulus
        inverse = inverse * values[index] % modulus
    result[0] = inverse
    return result
