"""Fixed-base exponentiation with a precomputed table (byte-wise comb).

For a base ``g`` that is raised to many different exponents, precomputing
``g**(d * 256**j) mod m`` for every byte value ``d`` and byte position ``j`` turns
one exponentiation into at most one modular multiplication per exponent byte and
no squarings: an ``l``-bit exponent costs ``l / 8`` multiplications instead of the
``~1.2 l`` of square-and-multiply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from gmpy2 import mpz

__all__ = ["WINDOW_BITS", "FixedBaseTable"]

WINDOW_BITS = 8
_DIGITS = 1 << WINDOW_BITS


class FixedBaseTable:
    """Powers of one base modulo ``modulus``, for exponents below ``2**exponent_bits``.

    Parameters
    ----------
    base : int
        The fixed base.
    modulus : int
        The modulus.
    exponent_bits : int
        Exponents up to this length are supported at once; the table grows on
        demand (:meth:`ensure`) for longer ones.

    Raises
    ------
    ValueError
        If ``modulus`` is below 2.

    Notes
    -----
    Memory is ``exponent_bits / 8 * 256`` residues; for a 2048-bit Paillier key
    (``modulus = n**2``, 512 bytes a residue) and 1024-bit exponents that is 16 MiB.
    The table is safe to share between threads.

    Examples
    --------
    >>> table = FixedBaseTable(3, 1000003, exponent_bits=16)
    >>> table.pow(12345) == pow(3, 12345, 1000003)
    True
    >>> table.pow_many([0, 1, 2])
    [mpz(1), mpz(3), mpz(9)]
    >>> table.pow(2**40) == pow(3, 2**40, 1000003)  # the table grows on demand
    True
    >>> table.exponent_bits
    48
    """

    __slots__ = ("_lock", "_modulus", "_next_base", "_rows")

    def __init__(self, base: int, modulus: int, exponent_bits: int) -> None:
        if modulus < 2:
            raise ValueError("modulus must be at least 2")
        self._modulus = mpz(modulus)
        self._next_base = mpz(base) % self._modulus
        self._rows: list[list[mpz]] = []
        self._lock = threading.Lock()
        self.ensure(exponent_bits)

    @property
    def modulus(self) -> mpz:
        """The modulus of every entry."""
        return self._modulus

    @property
    def exponent_bits(self) -> int:
        """Exponents below ``2**exponent_bits`` need no further table growth."""
        return WINDOW_BITS * len(self._rows)

    def ensure(self, exponent_bits: int) -> None:
        """Grow the table so that exponents of ``exponent_bits`` bits are covered.

        Parameters
        ----------
        exponent_bits : int
            The longest exponent to support without further growth.
        """
        rows_needed = -(-exponent_bits // WINDOW_BITS)
        if rows_needed <= len(self._rows):
            return
        with self._lock:
            modulus = self._modulus
            while len(self._rows) < rows_needed:
                power = self._next_base
                row = [mpz(1), power]
                for _ in range(2, _DIGITS):
                    row.append(row[-1] * power % modulus)
                self._next_base = row[-1] * power % modulus
                self._rows.append(row)  # appended whole: readers never see a partial row

    def pow(self, exponent: int) -> mpz:
        """Return ``base**exponent mod modulus`` for ``0 <= exponent``.

        Parameters
        ----------
        exponent : int
            A non-negative exponent (the table grows if it is longer than
            :attr:`exponent_bits`).

        Returns
        -------
        gmpy2.mpz
            The power.

        Raises
        ------
        ValueError
            If ``exponent`` is negative.
        """
        if exponent < 0:
            raise ValueError("FixedBaseTable.pow needs a non-negative exponent")
        if exponent.bit_length() > self.exponent_bits:
            self.ensure(exponent.bit_length())
        rows = self._rows
        modulus = self._modulus
        result: mpz | None = None
        for row, digit in zip(rows, int(exponent).to_bytes(len(rows), "little"), strict=True):
            if digit:
                result = row[digit] if result is None else result * row[digit] % modulus
        return mpz(1) if result is None else result

    def pow_many(self, exponents: Iterable[int]) -> list[mpz]:
        """Return ``[self.pow(e) for e in exponents]``.

        Parameters
        ----------
        exponents : iterable of int
            Non-negative exponents.

        Returns
        -------
        list of gmpy2.mpz
            One power per exponent, in order.
        """
        return [self.pow(e) for e in exponents]
