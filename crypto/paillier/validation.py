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

    Returns
    -------
    list of gmpy2.mpz
        The values, converted.

    Raises
    ------
    MalformedCiphertextError
        Naming the index of the first bad value.
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
