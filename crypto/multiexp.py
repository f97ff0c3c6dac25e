"""Multi-exponentiation ``prod(b_i ** e_i) mod m`` with Pippenger's bucket method.

A loop of independent powmods costs about ``1.2 * bits`` multiplications per term.
The bucket method cuts every exponent into ``c``-bit digits; per digit position each
term costs one multiplication into the bucket of its digit, and the buckets are then
combined with ``2 * 2**c`` multiplications.  With ``N`` terms of ``b`` bits that is
about ``(b / c) * (N + 2**(c + 1))`` multiplications, a handful per term when the
exponents are short fixed-point numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import gmpy2
import numpy as np
from gmpy2 import mpz

__all__ = ["best_window", "multi_exp", "signed_multi_exp"]

_NUMPY_DIGITS_LIMIT = 1 << 62


def best_window(terms: int, exponent_bits: int) -> int:
    """Digit width minimising the bucket method's multiplication count.

    Parameters
    ----------
    terms : int
        Number of terms of the product.
    exponent_bits : int
        Bit length of the longest exponent.

    Returns
    -------
    int
        The digit width ``c``, between 1 and 16.

    Examples
    --------
    >>> best_window(1000, 64), best_window(10, 2048)
    (8, 3)
    """
    best_cost, best_width = None, 1
    for width in range(1, 17):
        windows = -(-exponent_bits // width)
        cost = windows * (terms + (2 << width))
        if best_cost is None or cost < best_cost:
            best_cost, best_width = cost, width
    return best_width


def _bucket_sum(buckets: dict[int, mpz], modulus: mpz) -> mpz | None:
    """Return ``prod(bucket[d] ** d)`` with about ``2 * max(d)`` multiplications."""
    running: mpz | None = None
    total: mpz | None = None
    for digit in range(max(buckets), 0, -1):
        value = buckets.get(digit)
        if value is not None:
            running = value if running is None else running * value % modulus
        if running is not None:
            total = running if total is None else total * running % modulus
    return total


def _digit_groups(
    exponents: Sequence[int], shift: int, mask: int, use_numpy: np.ndarray | None
) -> dict[int, list[int]]:
    """Indices of the terms grouped by their digit at ``shift`` (zero digits dropped)."""
    groups: dict[int, list[int]] = {}
    if use_numpy is not None:
        digits = (use_numpy >> shift) & mask
        order = np.argsort(digits, kind="stable")
        sorted_digits = digits[order]
        starts = np.flatnonzero(np.diff(sorted_digits)) + 1
        for chunk in np.split(order, starts):
            digit = int(digits[chunk[0]])
            if digit:
                groups[digit] = chunk.tolist()
        return groups
    for index, exponent in enumerate(exponents):
        digit = (exponent >> shift) & mask
        if digit:
            groups.setdefault(digit, []).append(index)
    return groups


def multi_exp(bases: Sequence[mpz], exponents: Sequence[int], modulus: int) -> mpz:
    """Return ``prod(bases[i] ** exponents[i]) mod modulus`` for non-negative exponents.

    Parameters
    ----------
    bases : sequence of gmpy2.mpz
        Residues modulo ``modulus``.
    exponents : sequence of int
        Non-negative exponents, one per base.
    modulus : int
        The modulus.

    Returns
    -------
    gmpy2.mpz
        The product.

    Raises
    ------
    ValueError
        If the lengths differ or an exponent is negative.

    Examples
    --------
    >>> from gmpy2 import mpz
    >>> multi_exp([mpz(2), mpz(3), mpz(5)], [10, 20, 30], 1000003)
    mpz(996687)
    >>> 2**10 * 3**20 * 5**30 % 1000003
    996687
    """
    if len(bases) != len(exponents):
        raise ValueError(f"{len(bases)} bases but {len(exponents)} exponents")
    mod = mpz(modulus)
    terms = [(b, int(e)) for b, e in zip(bases, exponents, strict=True) if e]
    if any(e < 0 for _, e in terms):
        raise ValueError("multi_exp needs non-negative exponents; use signed_multi_exp")
    if not terms:
        return mpz(1)
    if len(terms) <= 2:
        direct = mpz(1)
        for base, exponent in terms:
            direct = direct * gmpy2.powmod(base, exponent, mod) % mod
        return direct
    term_bases = [b for b, _ in terms]
    term_exponents = [e for _, e in terms]
    bits = max(e.bit_length() for e in term_exponents)
    width = best_window(len(terms), bits)
    mask = (1 << width) - 1
    as_array = (
        np.array(term_exponents, dtype=np.int64)
        if max(term_exponents) < _NUMPY_DIGITS_LIMIT
        else None
    )
    result: mpz | None = None
    for window in range(-(-bits // width) - 1, -1, -1):
        if result is not None:
            result = gmpy2.powmod(result, 1 << width, mod)
        buckets: dict[int, mpz] = {}
        for digit, indices in _digit_groups(term_exponents, window * width, mask, as_array).items():
            product = term_bases[indices[0]]
            for index in indices[1:]:
                product = product * term_bases[index] % mod
            buckets[digit] = product
        if buckets:
            window_sum = _bucket_sum(buckets, mod)
            if window_sum is not None:
                result = window_sum if result is None else result * window_sum % mod
    return mpz(1) if result is None else result


def signed_multi_exp(bases: Sequence[mpz], exponents: Sequence[int], modulus: int) -> mpz:
    """Like :func:`multi_exp` but exponents may be negative (bases must be invertible).

    Positive and negative terms are combined separately and the negative part is
    inverted once, instead of inverting every base.

    Parameters
    ----------
    bases : sequence of gmpy2.mpz
        Residues modulo ``modulus``; those with a negative exponent must be
        invertible.
    exponents : sequence of int
        One exponent per base, of any sign.
    modulus : int
        The modulus.

    Returns
    -------
    gmpy2.mpz
        The product.

    Raises
    ------
    ValueError
        If the lengths differ.
    ZeroDivisionError
        If the product of the bases with negative exponents is not invertible.

    Examples
    --------
    >>> from gmpy2 import mpz
    >>> signed_multi_exp([mpz(2), mpz(3)], [5, -1], 101)  # 2**5 / 3 mod 101
    mpz(78)
    >>> 78 * 3 % 101 == 2**5
    True
    """
    if len(bases) != len(exponents):
        raise ValueError(f"{len(bases)} bases but {len(exponents)} exponents")
    positive_bases, positive_exponents, negative_bases, negative_exponents = [], [], [], []
    for base, exponent in zip(bases, exponents, strict=True):
        if exponent > 0:
            positive_bases.append(base)
            positive_exponents.append(exponent)
        elif exponent < 0:
            negative_bases.append(base)
            negative_exponents.append(-exponent)
    result = multi_exp(positive_bases, positive_exponents, modulus)
    if negative_bases:
        negative = multi_exp(negative_bases, negative_exponents, modulus)
        result = result * gmpy2.invert(negative, modulus) % modulus
    return result
