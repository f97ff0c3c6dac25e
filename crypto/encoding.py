"""Fixed-point encoding of real numbers as integers modulo ``n``.

The number format is python-paillier's (``phe``): a value ``x`` is stored as an
integer *mantissa* ``m`` and an *exponent* ``e`` with ``x ≈ m * 16**e``.  Negative
mantissas are represented modulo ``n`` as ``n - |m|``; mantissas in the middle third
of ``[0, n)`` are overflow and are never decoded silently.

Two ways to choose the exponent exist:

* :func:`encode_scalar` with no precision follows phe for single numbers: ints get
  exponent 0, floats the exponent that keeps all 53 mantissa bits.  That exponent
  reveals the magnitude of the value; use it only for phe interoperability.
* :func:`exponent_for_precision` gives one fixed exponent that a whole vector
  shares, so nothing about individual magnitudes leaks through exponents.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.exceptions import EncodingError, PlaintextOverflowError

__all__ = [
    "BASE",
    "LOG2_BASE",
    "alignment_factor",
    "decode_array",
    "decode_scalar",
    "encode_array",
    "encode_scalar",
    "exponent_for_precision",
    "max_int",
    "to_signed",
]

BASE = 16
"""Base of the exponent, as in phe's ``EncodedNumber``."""
LOG2_BASE = 4
FLOAT_MANTISSA_BITS = 53
MIN_EXPONENT = -300
"""Smallest exponent accepted (16**-300 is far below the smallest float)."""
MAX_EXPONENT = 300


def max_int(n: int) -> int:
    """Largest mantissa magnitude that can be encoded under modulus ``n``.

    Positive values occupy ``[0, max_int]``, negative ones ``[n - max_int, n)``
    and the middle third is reserved to detect overflow.

    Parameters
    ----------
    n : int
        The Paillier modulus.

    Returns
    -------
    int
        ``n // 3 - 1``.

    Examples
    --------
    >>> max_int(101)
    32
    """
    return n // 3 - 1


def exponent_for_precision(precision: float) -> int:
    """Return the largest exponent ``e`` with ``16**e <= precision``.

    Parameters
    ----------
    precision : float
        The absolute resolution wanted, e.g. ``2**-32``.

    Returns
    -------
    int
        The base-16 exponent.

    Examples
    --------
    >>> exponent_for_precision(2.0**-32)
    -8
    >>> exponent_for_precision(1e-6)
    -5
    """
    value = _positive_real(precision)
    if not (math.isfinite(value) and value > 0.0):
        raise EncodingError(f"precision must be positive and finite, got {precision!r}")
    # precision = f * 2**k with 0.5 <= f < 1, so floor(log2(precision)) == k - 1 and,
    # because no multiple of 4 lies strictly between k - 1 and k, the base-16
    # exponent is floor((k - 1) / 4).
    exponent = (math.frexp(value)[1] - 1) // LOG2_BASE
    _check_exponent(exponent)
    return exponent


def _positive_real(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise EncodingError(f"precision must be a positive real number, got {value!r}")
    return float(value)


def _check_exponent(exponent: int) -> None:
    if not MIN_EXPONENT <= exponent <= MAX_EXPONENT:
        raise EncodingError(
            f"exponent {exponent} is outside [{MIN_EXPONENT}, {MAX_EXPONENT}]; "
            "choose a precision between 16**-300 and 16**300"
        )


def _round_half_even(numerator: int, denominator: int) -> int:
    """Round ``numerator / denominator`` (denominator > 0) to the nearest int, ties to even."""
    quotient, remainder = divmod(numerator, denominator)
    twice = 2 * remainder
    if twice > denominator or (twice == denominator and quotient % 2 == 1):
        quotient += 1
    return quotient


def _exact_mantissa(value: int | float, exponent: int) -> int:
    """``round(value / 16**exponent)`` computed exactly with integers."""
    numerator, denominator = (value, 1) if isinstance(value, int) else value.as_integer_ratio()
    if exponent <= 0:
        return _round_half_even(numerator * BASE ** (-exponent), denominator)
    return _round_half_even(numerator, denominator * BASE**exponent)


def _as_python_number(value: object) -> int | float:
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        result = float(value)
        if not math.isfinite(result):
            raise EncodingError(f"cannot encode a non-finite value ({value!r})")
        return result
    raise EncodingError(
        f"cannot encode {type(value).__name__} {value!r}: expected an int or a float"
    )


def encode_scalar(
    value: object,
    n: int,
    *,
    precision: float | None = None,
    exponent: int | None = None,
) -> tuple[int, int]:
    """Encode one number as ``(mantissa, exponent)``, phe's number format.

    Parameters
    ----------
    value : int or float
        The number to encode.
    n : int
        The Paillier modulus (it bounds the mantissa).
    precision : float, optional
        Resolution wanted; fixes the exponent with :func:`exponent_for_precision`.
    exponent : int, optional
        Use exactly this exponent (takes priority over ``precision``).

    Returns
    -------
    tuple of int
        The signed mantissa and the exponent.

    Raises
    ------
    PlaintextOverflowError
        If ``|mantissa|`` exceeds :func:`max_int`.
    EncodingError
        If the value is not a finite real number.

    Notes
    -----
    Without ``precision`` or ``exponent`` the exponent of a float depends on its
    magnitude (phe's behaviour), which reveals that magnitude to anyone who sees it.

    Examples
    --------
    >>> encode_scalar(7, 2**64)
    (7, 0)
    >>> encode_scalar(1.5, 2**64, precision=2.0**-32)  # 1.5 * 16**8
    (6442450944, -8)
    >>> encode_scalar(0.1, 2**64)  # phe's rule: all 53 bits of the float
    (7205759403792794, -14)
    """
    number = _as_python_number(value)
    if exponent is None:
        if precision is not None:
            exponent = exponent_for_precision(precision)
        elif isinstance(number, int):
            exponent = 0
        else:
            exponent = (math.frexp(number)[1] - FLOAT_MANTISSA_BITS) // LOG2_BASE
    _check_exponent(exponent)
    mantissa = _exact_mantissa(number, exponent)
    limit = max_int(n)
    if abs(mantissa) > limit:
        raise PlaintextOverflowError(
            f"{value!r} at exponent {exponent} needs a {abs(mantissa).bit_length()}-bit "
            f"mantissa, but this key holds at most {limit.bit_length()} bits; "
            "use a coarser precision or a longer key"
        )
    return mantissa, exponent


def _scaled_integers(flat: npt.NDArray[Any], exponent: int) -> list[int] | None:
    """``v * 16**-exponent`` for integer ``v`` and ``exponent <= 0`` in numpy, exactly.

    ``None`` when the exact products might not fit in int64 (or ``exponent > 0``,
    which rounds): the caller then takes the exact integer path.
    """
    if exponent > 0 or -LOG2_BASE * exponent > 62:
        return None
    if flat.size == 0:
        return []
    largest = max(abs(int(flat.max())), abs(int(flat.min())))
    factor = 1 << (-LOG2_BASE * exponent)
    if largest * factor >= 1 << 62:
        return None
    scaled: list[int] = (flat.astype(np.int64) * factor).tolist()
    return scaled


def encode_array(values: npt.ArrayLike, exponent: int) -> list[int]:
    """Encode every element of ``values`` at one shared exponent.

    Parameters
    ----------
    values : array_like
        Real numbers (any shape; the result follows C order).
    exponent : int
        The shared base-16 exponent.

    Returns
    -------
    list of int
        Signed mantissas ``round(x / 16**exponent)`` (ties to even).

    Raises
    ------
    EncodingError
        If a value is NaN, infinite or not numeric.

    Examples
    --------
    >>> encode_array([0.5, -1.25, 3], -1)  # in sixteenths
    [8, -20, 48]
    """
    _check_exponent(exponent)
    array = np.asarray(values)
    kind = array.dtype.kind
    flat = array.ravel()
    if kind == "b":
        flat = flat.astype(np.int64)
        kind = "i"
    if kind in "iu":
        fast = _scaled_integers(flat, exponent)
        if fast is not None:
            return fast
        return [_exact_mantissa(int(v), exponent) for v in flat.tolist()]
    if kind == "O":
        return [_exact_mantissa(_as_python_number(v), exponent) for v in flat.tolist()]
    if kind != "f":
        raise EncodingError(f"cannot encode an array of dtype {array.dtype}: expected numbers")
    floats = flat.astype(np.float64, copy=False)
    finite = np.isfinite(floats)
    if not finite.all():
        index = int(np.argmin(finite))
        raise EncodingError(f"cannot encode a non-finite value ({floats[index]}) at index {index}")
    shift = -LOG2_BASE * exponent
    with np.errstate(over="ignore"):
        scaled = np.ldexp(floats, shift)
    if not np.isfinite(scaled).all():  # a value too large for float at this exponent
        return [_exact_mantissa(v, exponent) for v in floats.tolist()]
    rounded = np.rint(scaled)
    if rounded.size == 0 or float(np.abs(rounded).max()) < 2.0**62:
        return [int(v) for v in rounded.astype(np.int64).tolist()]
    return [int(v) for v in rounded.tolist()]  # exact: every float is an integer here


def decode_scalar(mantissa: int, exponent: int) -> int | float:
    """Return ``mantissa * 16**exponent``: an int if ``exponent >= 0``, else a float.

    The float is correctly rounded.

    Parameters
    ----------
    mantissa : int
        The signed mantissa.
    exponent : int
        The base-16 exponent.

    Returns
    -------
    int or float
        The decoded value.

    Raises
    ------
    PlaintextOverflowError
        If the value is too large for a float.

    Examples
    --------
    >>> decode_scalar(8, -1)
    0.5
    >>> decode_scalar(3, 2)
    768
    """
    if exponent >= 0:
        return int(mantissa * BASE**exponent)
    try:
        return mantissa / (1 << (-LOG2_BASE * exponent))
    except OverflowError as error:
        raise PlaintextOverflowError(f"decoded value is too large for a float ({error})") from error


def decode_array(mantissas: Sequence[int], exponent: int) -> npt.NDArray[np.float64]:
    """Decode signed mantissas sharing one exponent into a float64 array.

    Each result is correctly rounded (one rounding to float, then exact scaling).

    Parameters
    ----------
    mantissas : sequence of int
        Signed mantissas.
    exponent : int
        Their shared base-16 exponent.

    Returns
    -------
    numpy.ndarray
        ``mantissas[i] * 16**exponent`` as float64.

    Raises
    ------
    PlaintextOverflowError
        If a value exceeds the float64 range.

    Examples
    --------
    >>> decode_array([8, -20, 48], -1).tolist()
    [0.5, -1.25, 3.0]
    """
    try:
        floats = np.fromiter((float(m) for m in mantissas), dtype=np.float64, count=len(mantissas))
    except OverflowError as error:
        raise PlaintextOverflowError("a decoded mantissa is too large for a float64") from error
    with np.errstate(over="ignore"):
        result = np.ldexp(floats, LOG2_BASE * exponent)
    if not np.isfinite(result).all():
        raise PlaintextOverflowError(
            f"decoded values at exponent {exponent} exceed the float64 range"
        )
    return result


def alignment_factor(exponent: int, new_exponent: int) -> int:
    """The mantissa factor ``16**(exponent - new_exponent)`` that re-encodes a value.

    Parameters
    ----------
    exponent : int
        The current exponent.
    new_exponent : int
        The exponent wanted, at most ``exponent``.

    Returns
    -------
    int
        The factor to multiply the mantissa by.

    Raises
    ------
    ValueError
        If ``new_exponent`` is larger (that would lose precision).

    Examples
    --------
    >>> alignment_factor(0, -2)
    256
    """
    if new_exponent > exponent:
        raise ValueError(f"new exponent {new_exponent} must not exceed the current {exponent}")
    return int(BASE ** (exponent - new_exponent))


def to_signed(residue: int, n: int) -> int:
    """Map a plaintext in ``[0, n)`` to its signed mantissa.

    Parameters
    ----------
    residue : int
        A decrypted plaintext in ``[0, n)``.
    n : int
        The Paillier modulus.

    Returns
    -------
    int
        ``residue`` if it is at most :func:`max_int`, else ``residue - n``.

    Raises
    ------
    PlaintextOverflowError
        If the residue lies in the middle third, i.e. the computation overflowed.

    Examples
    --------
    >>> to_signed(5, 101), to_signed(96, 101)
    (5, -5)
    >>> to_signed(50, 101)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    crypto.exceptions.PlaintextOverflowError: decrypted value lies in the overflow band ...
    """
    limit = max_int(n)
    if residue <= limit:
        return residue
    if residue >= n - limit:
        return residue - n
    raise PlaintextOverflowError(
        "decrypted value lies in the overflow band (between n/3 and 2n/3): a "
        "homomorphic computation exceeded the plaintext space; use a coarser "
        "precision or a longer key"
    )
