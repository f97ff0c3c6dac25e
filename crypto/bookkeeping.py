"""The fixed-point bookkeeping every vector type shares: exponents, bounds, plaintext operands.

A vector of any backend (:class:`~crypto.paillier.EncryptedVector`,
:class:`~crypto.plain.PlainVector`, :class:`~crypto.phe_vectors.PheVector`) holds
values ``mantissa_i * 16**exponent`` with one shared base-16 exponent and a public
``bound`` on every ``|mantissa_i|``.  How an operation changes the exponent and the
bound, how a plaintext operand is encoded, and when an operation is refused because
its result could leave the plaintext space do not depend on what holds the
mantissas.  They are decided here, once, so that every backend produces the same
mantissas, exponents, bounds and overflow errors for the same computation.

Each function returns what the operation needs (the encoded plaintext operand and
the new exponent and bound) *before* anything is computed; a backend then does the
arithmetic on its items.

Examples
--------
Adding the plaintext ``[1.0, -2.0]`` to a vector at exponent -8 whose mantissas are
bounded by 100, under a modulus of 2**64:

>>> mantissas, bound = plaintext_addend([1.0, -2.0], 2, exponent=-8, bound=100, n=2**64)
>>> mantissas, bound
([4294967296, -8589934592], 8589934692)
>>> plaintext_factors(3, 2, None, bound=100, n=2**64)  # an int multiplies exactly
([3, 3], 0, 300)
>>> check_bound(2**70, 2**64, "addition")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
crypto.exceptions.PlaintextOverflowError: addition could overflow the plaintext space: ...
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from crypto.encoding import alignment_factor, encode_array, exponent_for_precision, max_int
from crypto.exceptions import EncodingError, PlaintextOverflowError

__all__ = [
    "DEFAULT_PLAINTEXT_PRECISION",
    "as_plaintext_array",
    "check_bound",
    "matrix_factors",
    "plaintext_addend",
    "plaintext_exponent",
    "plaintext_factors",
    "plaintext_mantissas",
    "rescaling",
    "sum_bound",
]

DEFAULT_PLAINTEXT_PRECISION = 2.0**-16
"""Resolution of float plaintexts that multiply ciphertexts (exponent -4).

Short plaintext mantissas make ``ev * x`` and ``X.T @ ev`` cheap: the cost of an
exponentiation grows with the exponent's bit length.  Integer plaintexts are
encoded exactly at exponent 0.
"""


def check_bound(bound: int, n: int, operation: str) -> int:
    """``bound`` if it fits the plaintext space of modulus ``n``, else refuse ``operation``.

    Parameters
    ----------
    bound : int
        A bound on the result's ``|mantissa|``.
    n : int
        The modulus.
    operation : str
        What would overflow (named in the error).

    Returns
    -------
    int
        ``bound``.

    Raises
    ------
    PlaintextOverflowError
        If ``bound`` exceeds :func:`~crypto.encoding.max_int` of ``n``.

    Examples
    --------
    >>> check_bound(5, 101, "addition")
    5
    """
    if bound > max_int(n):
        raise PlaintextOverflowError(
            f"{operation} could overflow the plaintext space: its result may need "
            f"{bound.bit_length()} bits but the key holds {max_int(n).bit_length()}; "
            "use coarser precisions, smaller inputs or a longer key"
        )
    return bound


def sum_bound(first: int, second: int, n: int) -> int:
    """The bound of the sum of two vectors at one exponent (checked).

    Examples
    --------
    >>> sum_bound(3, 4, 101)
    7
    """
    return check_bound(first + second, n, "addition")


def rescaling(exponent: int, new_exponent: int, bound: int, n: int) -> tuple[int, int]:
    """``(factor, bound)`` of re-encoding values at ``new_exponent`` (at most ``exponent``).

    Every mantissa is multiplied by ``factor = 16**(exponent - new_exponent)``.

    Raises
    ------
    ValueError
        If ``new_exponent`` is larger than ``exponent``.
    PlaintextOverflowError
        If the re-encoded values could leave the plaintext space.

    Examples
    --------
    >>> rescaling(-4, -5, 10, 2**64)
    (16, 160)
    >>> rescaling(-4, -4, 10, 2**64)
    (1, 10)
    """
    factor = alignment_factor(exponent, new_exponent)
    if factor == 1:
        return 1, bound
    return factor, check_bound(bound * factor, n, "re-encoding")


def as_plaintext_array(other: object) -> npt.NDArray[Any] | None:
    """``other`` as an ndarray if it is a real scalar or an array of numbers, else None.

    Raises
    ------
    EncodingError
        If ``other`` is an array of something else than numbers.

    Examples
    --------
    >>> as_plaintext_array(2.5).ndim, as_plaintext_array([1, 2]).tolist()
    (0, [1, 2])
    >>> as_plaintext_array("2.5") is None
    True
    """
    if isinstance(other, numbers.Real):
        return np.asarray(other)
    if isinstance(other, np.ndarray | list | tuple):
        array = np.asarray(other)
        if array.dtype.kind not in "biuf":
            raise EncodingError(f"cannot combine a ciphertext vector with dtype {array.dtype}")
        return array
    return None


def plaintext_exponent(values: npt.NDArray[Any], precision: float | None) -> int:
    """The exponent plaintext factors are encoded at.

    ``precision`` if given; else 0 for integers (exact) and
    :data:`DEFAULT_PLAINTEXT_PRECISION` for floats.

    Examples
    --------
    >>> import numpy as np
    >>> plaintext_exponent(np.array([2]), None), plaintext_exponent(np.array([0.5]), None)
    (0, -4)
    """
    if precision is not None:
        return exponent_for_precision(precision)
    if values.dtype.kind in "biu":
        return 0
    return exponent_for_precision(DEFAULT_PLAINTEXT_PRECISION)


def plaintext_mantissas(array: npt.NDArray[Any], length: int, exponent: int) -> list[int]:
    """Mantissas at ``exponent`` of a scalar (repeated ``length`` times) or a 1-D array.

    Raises
    ------
    ValueError
        If ``array`` is neither a scalar nor of shape ``(length,)``.

    Examples
    --------
    >>> import numpy as np
    >>> plaintext_mantissas(np.asarray(1.5), 2, -1), plaintext_mantissas(np.array([1, 2]), 2, 0)
    ([24, 24], [1, 2])
    """
    if array.ndim == 0:
        return encode_array(array.reshape(1), exponent) * length
    if array.shape != (length,):
        raise ValueError(
            f"plaintext of shape {array.shape} does not match a vector of length {length}"
        )
    return encode_array(array, exponent)


def plaintext_addend(
    other: object, length: int, *, exponent: int, bound: int, n: int
) -> tuple[list[int], int] | None:
    """Adding a plaintext: its mantissas at the vector's exponent, and the sum's bound.

    Parameters
    ----------
    other : object
        The plaintext (a real scalar or an array of numbers).
    length : int
        The vector's length.
    exponent, bound : int
        The vector's exponent and bound.
    n : int
        The modulus.

    Returns
    -------
    tuple or None
        ``(mantissas, bound)``; None if ``other`` is not a plaintext.

    Raises
    ------
    ValueError
        If the plaintext's shape does not match.
    PlaintextOverflowError
        If the sum could leave the plaintext space.
    """
    array = as_plaintext_array(other)
    if array is None:
        return None
    mantissas = plaintext_mantissas(array, length, exponent)
    largest = max((abs(m) for m in mantissas), default=0)
    return mantissas, check_bound(bound + largest, n, "addition")


def plaintext_factors(
    other: object, length: int, precision: float | None, *, bound: int, n: int
) -> tuple[list[int], int, int] | None:
    """Multiplying by a plaintext: its mantissas, their exponent and the product's bound.

    The product is at exponent ``vector.exponent + exponent``.

    Returns
    -------
    tuple or None
        ``(mantissas, exponent, bound)``; None if ``other`` is not a plaintext.

    Raises
    ------
    ValueError
        If the plaintext's shape does not match.
    PlaintextOverflowError
        If the products could leave the plaintext space.
    """
    array = as_plaintext_array(other)
    if array is None:
        return None
    exponent = plaintext_exponent(array, precision)
    mantissas = plaintext_mantissas(array, length, exponent)
    largest = max((abs(m) for m in mantissas), default=0)
    return mantissas, exponent, check_bound(bound * largest, n, "multiplication")


def matrix_factors(
    matrix: npt.ArrayLike, length: int, precision: float | None, *, bound: int, n: int
) -> tuple[list[list[int]], int, int]:
    """``matrix @ vector``: the matrix's rows of mantissas, their exponent and the bound.

    The product is at exponent ``vector.exponent + exponent``; its bound is the
    vector's times the largest row norm (sum of ``|mantissa|``).

    Raises
    ------
    ValueError
        If ``matrix`` is not 2-D with ``length`` columns.
    EncodingError
        If ``matrix`` is not numeric.
    PlaintextOverflowError
        If a row's products could leave the plaintext space.

    Examples
    --------
    >>> matrix_factors([[1, 2], [3, -4]], 2, None, bound=10, n=2**64)
    ([[1, 2], [3, -4]], 0, 70)
    """
    array = np.asarray(matrix)
    if array.ndim != 2 or array.shape[1] != length:
        raise ValueError(
            f"matmul needs a 2-D matrix with {length} columns, got shape {array.shape}"
        )
    if array.dtype.kind not in "biuf":
        raise EncodingError(f"cannot multiply by a matrix of dtype {array.dtype}")
    exponent = plaintext_exponent(array, precision)
    flat = encode_array(array, exponent)
    rows = [flat[i * length : (i + 1) * length] for i in range(array.shape[0])]
    row_norm = max((sum(map(abs, row)) for row in rows), default=0)
    return rows, exponent, check_bound(bound * row_norm, n, "matrix product")
