"""Arithmetic in GF(2^128) on Python ints and on numpy arrays of elements.

The field is GF(2)[x] / (x^128 + x^7 + x^2 + x + 1), with the *natural* bit order:
as a Python int, bit ``i`` is the coefficient of ``x^i`` (this is **not** the
bit-reflected convention of GCM/GHASH).  Addition is XOR.

Arrays of elements are ``numpy.uint64`` arrays whose last axis has length 2:
column 0 holds the low 64 bits (coefficients of ``x^0 .. x^63``), column 1 the
high 64 bits.  As bytes, an element is 16 bytes little-endian (the low byte
first), so :func:`elements_from_bytes` and :func:`elements_to_bytes` are plain
reinterpretations on a little-endian machine.

:class:`ConstantMultiplier` multiplies many elements by one (secret) constant
with 16 byte-indexed tables, which is what a VOLE needs (``delta * e`` for a
whole vector ``e``).

Examples
--------
>>> multiply(1 << 127, 2) == 0x87  # x^127 * x = x^7 + x^2 + x + 1
True
>>> times_three = ConstantMultiplier(3)
>>> elements = elements_from_bytes(bytes([5]) + bytes(15) + bytes([1]) + bytes(15))
>>> [int_from_element(e) for e in times_three(elements)]
[15, 3]
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from crypto.exceptions import MalformedInputError

__all__ = [
    "ELEMENT_BYTES",
    "MODULUS",
    "ConstantMultiplier",
    "element_from_int",
    "elements_from_bytes",
    "elements_to_bytes",
    "int_from_element",
    "multiply",
]

ELEMENT_BYTES: Final = 16
"""Bytes per field element (128 bits, little-endian)."""

MODULUS: Final = (1 << 128) | 0x87
"""The field polynomial x^128 + x^7 + x^2 + x + 1 as an int (bit i = coefficient of x^i)."""

_ORDER: Final = 1 << 128
_MASK64: Final = (1 << 64) - 1
_LITTLE_U64: Final = np.dtype("<u8")


def _check_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInputError(
            f"{name} must be an int in [0, 2**128), got {type(value).__name__}; "
            "convert the element with int_from_element first"
        )
    if not 0 <= value < _ORDER:
        raise MalformedInputError(
            f"{name} must lie in [0, 2**128) (a GF(2^128) element), got a value of "
            f"{value.bit_length()} bits{' (negative)' if value < 0 else ''}"
        )


def _reduce(product: int) -> int:
    """Reduce a carry-less product of degree < 255 modulo :data:`MODULUS`."""
    # x^128 = x^7 + x^2 + x + 1: fold the high half twice (the first fold can
    # spill up to 7 bits above x^127).
    for _ in range(2):
        high = product >> 128
        product = (product & (_ORDER - 1)) ^ high ^ (high << 1) ^ (high << 2) ^ (high << 7)
    return product


def multiply(a: int, b: int) -> int:
    """Product of two GF(2^128) elements given as ints.

    Parameters
    ----------
    a, b : int
        Elements in ``[0, 2**128)``; bit ``i`` is the coefficient of ``x^i``.

    Returns
    -------
    int
        ``a * b mod (x^128 + x^7 + x^2 + x + 1)``.

    Raises
    ------
    MalformedInputError
        If an operand is not an int in ``[0, 2**128)``.

    Examples
    --------
    >>> multiply(2, 3)  # x * (x + 1) = x^2 + x
    6
    >>> multiply(1 << 127, 2) == 0x87
    True
    """
    _check_int(a, "a")
    _check_int(b, "b")
    # Carry-less multiplication four bits of b at a time.
    shifted = [0] * 16
    for nibble in range(1, 16):
        low_bit = nibble & -nibble
        shifted[nibble] = shifted[nibble ^ low_bit] ^ (a << (low_bit.bit_length() - 1))
    product = 0
    for position in range(124, -1, -4):
        product = (product << 4) ^ shifted[(b >> position) & 0xF]
    return _reduce(product)


def _as_elements(elements: npt.NDArray[np.uint64], name: str) -> npt.NDArray[np.uint64]:
    if not isinstance(elements, np.ndarray) or elements.dtype != np.uint64:
        got = elements.dtype if isinstance(elements, np.ndarray) else type(elements).__name__
        raise MalformedInputError(
            f"{name} must be a numpy uint64 array of shape (n, 2), got {got}; "
            "build it with elements_from_bytes or np.asarray(..., dtype=np.uint64)"
        )
    if elements.ndim != 2 or elements.shape[1] != 2:
        raise MalformedInputError(
            f"{name} must have shape (n, 2) (low, high 64-bit words), got {elements.shape}"
        )
    return elements


def elements_from_bytes(data: bytes) -> npt.NDArray[np.uint64]:
    """Decode 16-byte little-endian elements into an ``(n, 2)`` uint64 array.

    Parameters
    ----------
    data : bytes
        ``16 * n`` bytes; element ``i`` is ``data[16 * i : 16 * (i + 1)]``, low byte first.

    Returns
    -------
    numpy.ndarray
        A new writable ``(n, 2)`` uint64 array (low word, high word).

    Raises
    ------
    MalformedInputError
        If ``data`` is not bytes-like or its length is not a multiple of 16.

    Examples
    --------
    >>> elements_from_bytes(bytes([1]) + bytes(7) + bytes([2]) + bytes(7)).tolist()
    [[1, 2]]
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedInputError(
            f"data must be bytes, got {type(data).__name__}; pass the raw 16-byte elements"
        )
    raw = memoryview(data).cast("B")
    if len(raw) % ELEMENT_BYTES:
        raise MalformedInputError(
            f"data must hold whole 16-byte GF(2^128) elements, got {len(raw)} bytes "
            f"({len(raw) % ELEMENT_BYTES} left over): the peer sent a truncated vector"
        )
    words = np.frombuffer(raw, dtype=_LITTLE_U64).astype(np.uint64)
    return words.reshape(-1, 2)


def elements_to_bytes(elements: npt.NDArray[np.uint64]) -> bytes:
    """Encode an ``(n, 2)`` uint64 array as ``16 * n`` little-endian bytes.

    Parameters
    ----------
    elements : numpy.ndarray
        Field elements, shape ``(n, 2)``, dtype uint64.

    Returns
    -------
    bytes
        The inverse of :func:`elements_from_bytes`.

    Raises
    ------
    MalformedInputError
        If ``elements`` is not a uint64 array of shape ``(n, 2)``.

    Examples
    --------
    >>> elements_to_bytes(element_from_int(1 << 64).reshape(1, 2)).hex()
    '00000000000000000100000000000000'
    """
    elements = _as_elements(elements, "elements")
    return np.ascontiguousarray(elements, dtype=_LITTLE_U64).tobytes()


def element_from_int(value: int) -> npt.NDArray[np.uint64]:
    """The element ``value`` as a uint64 array of shape ``(2,)`` (low word, high word).

    Parameters
    ----------
    value : int
        An int in ``[0, 2**128)``.

    Returns
    -------
    numpy.ndarray
        ``[value & (2**64 - 1), value >> 64]`` as uint64.

    Raises
    ------
    MalformedInputError
        If ``value`` is not an int in ``[0, 2**128)``.

    Examples
    --------
    >>> element_from_int((5 << 64) | 7).tolist()
    [7, 5]
    """
    _check_int(value, "value")
    return np.array([value & _MASK64, value >> 64], dtype=np.uint64)


def int_from_element(element: npt.NDArray[np.uint64]) -> int:
    """The int of one element given as a uint64 array of shape ``(2,)``.

    Parameters
    ----------
    element : numpy.ndarray
        ``[low, high]`` uint64 words.

    Returns
    -------
    int
        ``low + 2**64 * high``.

    Raises
    ------
    MalformedInputError
        If ``element`` is not a uint64 array of shape ``(2,)``.

    Examples
    --------
    >>> int_from_element(element_from_int(2**127 + 1)) == 2**127 + 1
    True
    """
    if not isinstance(element, np.ndarray) or element.dtype != np.uint64 or element.shape != (2,):
        shape = element.shape if isinstance(element, np.ndarray) else type(element).__name__
        raise MalformedInputError(
            f"element must be a uint64 array of shape (2,) (low, high words), got {shape}"
        )
    return int(element[0]) | (int(element[1]) << 64)


class ConstantMultiplier:
    """Multiply many GF(2^128) elements by one fixed (secret) constant.

    Multiplication by a constant ``c`` is GF(2)-linear, so ``c * e`` is the XOR
    over the 16 bytes ``e_j`` of ``e`` of ``T[j][e_j] = c * (e_j * x^(8 j))``.
    The 16 tables of 256 elements (64 KiB) are built once; each product then
    costs 16 table look-ups (``numpy.take``).

    Parameters
    ----------
    constant : int
        The constant ``c`` in ``[0, 2**128)``.  It is not shown by ``repr``.

    Raises
    ------
    MalformedInputError
        If ``constant`` is not an int in ``[0, 2**128)``.

    Examples
    --------
    >>> delta = ConstantMultiplier(1 << 127)
    >>> delta
    ConstantMultiplier(<secret constant>)
    >>> int_from_element(delta(element_from_int(2).reshape(1, 2))[0]) == 0x87
    True
    """

    __slots__ = ("_tables",)

    def __init__(self, constant: int) -> None:
        _check_int(constant, "constant")
        # basis[i] = constant * x^i, i < 128, by repeated multiplication by x.
        basis = np.empty((128, 2), dtype=np.uint64)
        power = constant
        for i in range(128):
            basis[i, 0] = power & _MASK64
            basis[i, 1] = power >> 64
            power <<= 1
            if power >> 128:
                power ^= MODULUS
        tables = np.zeros((16, 256, 2), dtype=np.uint64)
        for bit in range(8):
            size = 1 << bit
            # Entries with the top set bit ``bit``: the lower entries plus one basis element.
            np.bitwise_xor(
                tables[:, :size], basis[bit::8][:, None, :], out=tables[:, size : 2 * size]
            )
        self._tables = tables

    def __repr__(self) -> str:
        return "ConstantMultiplier(<secret constant>)"

    def __call__(self, elements: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """Return ``constant * elements`` elementwise.

        Parameters
        ----------
        elements : numpy.ndarray
            Shape ``(n, 2)``, dtype uint64.

        Returns
        -------
        numpy.ndarray
            A new ``(n, 2)`` uint64 array.

        Raises
        ------
        MalformedInputError
            If ``elements`` is not a uint64 array of shape ``(n, 2)``.
        """
        elements = _as_elements(elements, "elements")
        count = elements.shape[0]
        data = np.ascontiguousarray(elements, dtype=_LITTLE_U64).view(np.uint8)
        byte_columns = data.reshape(count, ELEMENT_BYTES)
        tables = self._tables
        product = np.take(tables[0], byte_columns[:, 0], axis=0)
        for j in range(1, ELEMENT_BYTES):
            product ^= np.take(tables[j], byte_columns[:, j], axis=0)
        return product
