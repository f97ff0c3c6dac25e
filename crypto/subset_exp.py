"""Many products ``prod_k b_k ** A[i, k]`` over shared bases, by grouped subset products.

When every output of a matrix product uses the same bases, precomputation can be
shared by all outputs.  The columns are cut into groups of ``g`` bases; for each group
all ``2**g`` subset products are tabulated (``2**g`` multiplications, built
incrementally).  Each output then runs Horner's rule over the bit planes of its
exponents, from the top: per plane one squaring and one multiplication per group,
the table entry indexed by that plane's bits of the group's exponents.  With ``R``
outputs, ``F`` bases and ``E``-bit exponents that is about
``ceil(F / g) * 2**g + R * E * (1 + ceil(F / g))`` multiplications, against
``R * F * E / 8`` for one fixed-base table per base.

Negative exponents are made non-negative with a public offset: in every column that
holds a negative entry, ``2**(E - 1)`` is added to each exponent and the product is
corrected by ``(prod b_k) ** -(2**(E - 1))`` over those columns.  The correction is
folded into the top bit plane, so it costs one inversion per call and nothing per
output.  (Windows of ``w`` bits with ``2**(w * g)``-entry tables cost the same as
one-bit planes with groups of ``w * g`` bases, so only one-bit planes are used.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gmpy2
import numpy as np
import numpy.typing as npt
from gmpy2 import mpz

__all__ = ["subset_cost", "subset_multi_exp_rows"]

MAX_GROUP = 14
_TABLE_ENTRIES_PER_BATCH = 1 << 17  # 64 MiB of 4096-bit residues
_ROW_BLOCK = 256
_INT64_BITS = 62


def _plan(terms: int, rows: int, bits: int) -> tuple[int, int]:
    """Cheapest ``(cost, group size)`` for ``rows`` products of ``terms`` bases."""
    best = (0, 1)
    for group in range(1, min(MAX_GROUP, max(1, terms)) + 1):
        groups = -(-terms // group)
        batches = -(-(groups << group) // _TABLE_ENTRIES_PER_BATCH)
        cost = (groups << group) + rows * bits * (groups + batches)
        if best[0] == 0 or cost < best[0]:
            best = (cost, group)
    return best


def subset_cost(terms: int, rows: int, bits: int, signed: bool = True) -> tuple[int, int]:
    """Modular multiplications of :func:`subset_multi_exp_rows`, and its group size.

    Parameters
    ----------
    terms : int
        Bases per product (columns of the exponent matrix).
    rows : int
        Number of products.
    bits : int
        Bit length of the largest absolute exponent.
    signed : bool, default True
        Whether some exponent is negative (the offset adds one bit plane).

    Returns
    -------
    tuple of int
        ``(multiplications, group size)``; squarings count as multiplications.

    Examples
    --------
    >>> subset_cost(330, 1024, 25)
    (886784, 11)
    >>> subset_cost(0, 10, 25)
    (0, 1)
    """
    if terms == 0 or rows == 0 or bits == 0:
        return 0, 1
    return _plan(terms, rows, bits + 1 if signed else bits)


def _subset_table(bases: Sequence[mpz], modulus: mpz) -> list[mpz]:
    """``table[s] = prod(bases[t] for t in bits of s)``, one multiplication per entry."""
    table = [mpz(1)]
    for base in bases:
        table.append(base)
        table.extend([entry * base % modulus for entry in table[1:-1]])
    return table


def _plane_indices(
    exponents: npt.NDArray[np.int64] | npt.NDArray[np.object_], bits: int, group: int
) -> list[list[list[int]]]:
    """``[row][plane from the top][group]`` table indices of non-negative exponents."""
    rows, columns = exponents.shape
    weights = np.left_shift(np.int64(1), np.arange(group, dtype=np.int64))
    planes = []
    for plane in range(bits - 1, -1, -1):
        digits = np.asarray((exponents >> plane) & 1, dtype=np.int64)
        planes.append(digits.reshape(rows, columns // group, group) @ weights)
    return np.stack(planes, axis=1).tolist()  # type: ignore[no-any-return]


def _as_array(rows: Sequence[Sequence[int]]) -> npt.NDArray[Any]:
    """The exponents as ``int64`` when every offset value fits, else as Python ints."""
    limit = 1 << (_INT64_BITS - 2)
    try:
        array: npt.NDArray[Any] = np.array(rows, dtype=np.int64)
        if array.size == 0 or (-limit < int(array.min()) and int(array.max()) < limit):
            return array
    except OverflowError:
        pass
    return np.array([[int(a) for a in row] for row in rows], dtype=object)


def subset_multi_exp_rows(
    bases: Sequence[mpz],
    rows: Sequence[Sequence[int]],
    modulus: int,
    group_size: int | None = None,
) -> list[mpz]:
    """Return ``[prod_k bases[k] ** row[k] mod modulus for row in rows]``.

    Parameters
    ----------
    bases : sequence of gmpy2.mpz
        Units modulo ``modulus`` (residues in ``[0, modulus)``).
    rows : sequence of sequence of int
        Signed exponents, ``len(bases)`` per row.
    modulus : int
        The modulus.
    group_size : int, optional
        Bases per subset table (default: from :func:`subset_cost`).

    Returns
    -------
    list of gmpy2.mpz
        One product per row, reduced into ``[0, modulus)``.

    Raises
    ------
    ValueError
        If a row's length differs from ``len(bases)``.
    ZeroDivisionError
        If a column holds a negative exponent and the product of those bases is
        not invertible.

    Examples
    --------
    >>> from gmpy2 import mpz
    >>> subset_multi_exp_rows([mpz(2), mpz(3), mpz(5)], [[1, 2, 3], [-1, 0, 2], [0, 0, 0]], 1009)
    [mpz(232), mpz(517), mpz(1)]
    >>> 2 * 3**2 * 5**3 % 1009, 25 * pow(2, -1, 1009) % 1009
    (232, 517)
    """
    modulus = mpz(modulus)
    columns = len(bases)
    for row in rows:
        if len(row) != columns:
            raise ValueError(f"a row has {len(row)} exponents for {columns} bases")
    if not rows:
        return []
    if columns == 0:
        return [mpz(1)] * len(rows)
    exponents = _as_array(rows)
    bits = int(np.abs(exponents).max()).bit_length()
    if bits == 0:
        return [mpz(1)] * len(rows)
    negative_columns: list[bool] = np.any(exponents < 0, axis=0).tolist()
    signed_columns = [bool(negative) for negative in negative_columns]
    signed = any(signed_columns)
    planes = bits + 1 if signed else bits
    group = group_size or subset_cost(columns, len(rows), bits, signed)[1]
    padded = -(-columns // group) * group
    if padded > columns:
        exponents = np.concatenate(
            [exponents, np.zeros((len(rows), padded - columns), dtype=exponents.dtype)], axis=1
        )
    if signed:
        offsets = [(1 << bits) if negative else 0 for negative in signed_columns]
        exponents[:, :columns] += np.array(offsets, dtype=exponents.dtype)
    correction = mpz(1)
    if signed:
        for base, negative in zip(bases, signed_columns, strict=True):
            if negative:
                correction = correction * base % modulus
        correction = gmpy2.invert(correction, modulus)  # folded into the top plane
    padded_bases = [mpz(b) for b in bases] + [mpz(1)] * (padded - columns)
    groups = padded // group
    per_batch = max(1, _TABLE_ENTRIES_PER_BATCH >> group)
    results = [correction] * len(rows)
    for first in range(0, groups, per_batch):
        last = min(groups, first + per_batch)
        tables = [
            _subset_table(padded_bases[g * group : (g + 1) * group], modulus)
            for g in range(first, last)
        ]
        block_exponents = exponents[:, first * group : last * group]
        for start in range(0, len(rows), _ROW_BLOCK):
            indices = _plane_indices(block_exponents[start : start + _ROW_BLOCK], planes, group)
            for offset, row_planes in enumerate(indices):
                accumulator = results[start + offset] if first == 0 else mpz(1)
                started = first == 0 and signed  # the correction needs its squarings
                for table, index in zip(tables, row_planes[0], strict=True):
                    if index:
                        accumulator = accumulator * table[index] % modulus
                        started = True
                for plane in row_planes[1:]:
                    if started:
                        accumulator = accumulator * accumulator % modulus
                    for table, index in zip(tables, plane, strict=True):
                        if index:
                            accumulator = accumulator * table[index] % modulus
                            started = True
                if first == 0:
                    results[start + offset] = accumulator
                else:
                    results[start + offset] = results[start + offset] * accumulator % modulus
    return results
