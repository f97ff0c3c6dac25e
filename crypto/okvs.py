"""An oblivious key-value store: a 3-hash garbled cuckoo table (PaXoS / GCT) in numpy.

The PSI receiver of RR22-class VOLE-PSI encodes its ``n`` items ``x_i`` with values
``v_i`` in GF(2^128) into a table ``P`` of ``m`` cells of 16 bytes, about
:data:`OKVS_EXPANSION` ``* n``, such that

    ``Decode(P, x) = P[h0(x)] ^ P[h1(x)] ^ P[h2(x)] == v_i``  for every ``x = x_i``.

The three columns of an item lie in three equal partitions of the table, so they are
always distinct, and come from one fixed-key AES block of the item's digest
(:meth:`GarbledCuckooTable.positions`).

Encoding is by *peeling* the 3-uniform hypergraph whose vertices are the ``m`` cells and
whose edges are the items: repeatedly take a cell (column) used by exactly one remaining
item, make it that item's *pivot* and remove the item.  Peeling runs in numpy rounds:
every round removes, at once, all items owning a column of degree one.  Every cell that
is no pivot is filled with :func:`os.urandom` bytes and the pivots are assigned round by
round in reverse order: ``P[pivot] ^= v ^ Decode(P, x)``.

**Dense part (as in PaXoS and RR22).**  A random 3-hash table gets stuck (a non-empty
2-core: e.g. two items on the same three cells) with probability about ``1e-3`` for
small sets; retrying with another key would make the key the receiver finally sends
depend on its set.  So every table also has :data:`DENSE_COLUMNS` dense cells ``D`` and

    ``Decode(P, x) = P[h0(x)] ^ P[h1(x)] ^ P[h2(x)] ^ (r(x) . D)``

with ``r(x)`` a 64-bit vector from a second AES block of the digest.  The items left
in the 2-core (their three cells are free, hence already random) give a small GF(2)
system ``r(x) . D = v ^ P[h0] ^ P[h1] ^ P[h2]``, solved by Gaussian elimination; the
unconstrained parts of ``D`` are random (:func:`os.urandom`), and ``D`` enters the
peeled items' values before their pivots are set.  Encoding fails only if the 2-core's
vectors ``r(x)`` are linearly dependent with inconsistent values: below ``2**-40`` while
the 2-core has at most 24 items (measured 2-cores of small sets: 2 to 6 items); a larger
2-core is refused.  The
table is therefore a uniformly random solution, and the decode of a key that was not
encoded is uniformly random and independent of the values.

Elements (digests and values) are ``uint64`` arrays of shape ``(n, 2)``: 16 bytes per
element, little-endian, column 0 holding the low 64 bits.

Examples
--------
>>> import os
>>> import numpy as np
>>> keys = np.frombuffer(os.urandom(16 * 1000), dtype=np.uint64).reshape(-1, 2)
>>> values = np.frombuffer(os.urandom(16 * 1000), dtype=np.uint64).reshape(-1, 2)
>>> okvs = GarbledCuckooTable(okvs_size(1000), key=os.urandom(16))
>>> table = okvs.encode(keys, values)
>>> table.shape == (okvs.cells, 2) == (okvs.size + DENSE_COLUMNS, 2)
True
>>> bool(np.array_equal(okvs.decode(table, keys), values))
True
"""

from __future__ import annotations

import hashlib
import math
import os
from typing import Final

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from crypto.exceptions import MalformedInputError, OkvsEncodingError

__all__ = [
    "DENSE_COLUMNS",
    "OKVS_EXPANSION",
    "OKVS_MIN_SIZE",
    "OKVS_SMALL_SET_FACTOR",
    "GarbledCuckooTable",
    "okvs_size",
]

OKVS_EXPANSION: Final[float] = 1.3
"""Cells per item (``m / n``) for large ``n``; see :func:`okvs_size` for the floor."""

OKVS_SMALL_SET_FACTOR: Final[int] = 24
"""Small sets get at least ``OKVS_SMALL_SET_FACTOR * n**(2/3)`` cells (see :func:`okvs_size`)."""

OKVS_MIN_SIZE: Final[int] = 3
"""The smallest table: one cell per partition."""

DENSE_COLUMNS: Final[int] = 64
"""Dense cells after the ``size`` sparse ones: they absorb a stuck peeling's 2-core."""

_PARTITIONS: Final[int] = 3
_CORE_LIMIT: Final[int] = DENSE_COLUMNS - 40  # a larger 2-core: solvable w.p. < 1 - 2**-40
_MAX_SIZE: Final[int] = _PARTITIONS * (2**32 - 1)  # a partition index fits in 32 bits
_BLOCK: Final[int] = 1 << 20  # items per AES call (16 MiB of bytes)


def okvs_size(items: int) -> int:
    """The table size ``m`` for ``items`` items: a multiple of 3, at least 3.

    ``m`` is the larger of ``OKVS_EXPANSION * n`` and ``OKVS_SMALL_SET_FACTOR * n**(2/3)``
    (the latter for ``n`` below about 6,300), rounded up to a multiple of 3.  A stuck
    peeling is then rarer than about 1e-3 for every ``n``: for small ``n`` it is
    dominated by two items sharing all three columns, ``13.5 * n**2 / m**3``, which is
    ``13.5 / 24**3 = 0.98e-3`` on the floor and ``13.5 / (1.3**3 n)`` above it.

    Parameters
    ----------
    items : int
        Number of items to encode (0 is allowed).

    Returns
    -------
    int
        Number of 16-byte cells of the table.

    Examples
    --------
    >>> [okvs_size(n) for n in (0, 1, 100, 1000, 10**4, 10**6)]
    [3, 24, 519, 2400, 13002, 1300002]
    """
    if isinstance(items, bool) or not isinstance(items, int) or items < 0:
        raise MalformedInputError(f"okvs_size needs a non-negative int, not {items!r}")
    per_mille = round(OKVS_EXPANSION * 1000)  # exact integer arithmetic: no float rounding
    small_set = _ceil_cube_root(OKVS_SMALL_SET_FACTOR**3 * items**2)
    cells = max(-(-items * per_mille // 1000), small_set)
    return max(OKVS_MIN_SIZE, _PARTITIONS * -(-cells // _PARTITIONS))


def _ceil_cube_root(value: int) -> int:
    """The smallest ``r >= 0`` with ``r**3 >= value``."""
    root = round(math.cbrt(value))
    while root**3 < value:
        root += 1
    while root > 0 and (root - 1) ** 3 >= value:
        root -= 1
    return root


def _check_elements(name: str, array: object, rows: int | None = None) -> npt.NDArray[np.uint64]:
    """``array`` as a C-contiguous ``(n, 2)`` uint64 array, or MalformedInputError."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint64:
        got = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise MalformedInputError(
            f"{name} must be a numpy uint64 array of shape (n, 2), got {got}: "
            "view 16-byte elements with np.frombuffer(data, dtype='<u8').reshape(-1, 2)"
        )
    if array.ndim != 2 or array.shape[1] != 2:
        raise MalformedInputError(
            f"{name} must have shape (n, 2) (16 bytes per element), got {array.shape}"
        )
    if rows is not None and array.shape[0] != rows:
        raise MalformedInputError(
            f"{name} must have {rows} rows (one per key), got {array.shape[0]}"
        )
    return np.ascontiguousarray(array)


class GarbledCuckooTable:
    """A 3-hash garbled cuckoo table: ``size`` sparse cells and :data:`DENSE_COLUMNS` dense.

    Parameters
    ----------
    size : int
        Number of sparse cells ``m``: a positive multiple of 3 (use :func:`okvs_size`);
        the table has ``cells = size + DENSE_COLUMNS`` cells of 16 bytes.
    key : bytes
        16 or 32 public random bytes (a fresh seed per try) for the AES hashing.

    Examples
    --------
    >>> okvs = GarbledCuckooTable(9, key=bytes(16))
    >>> keys = np.array([[1, 0], [2, 0]], dtype=np.uint64)
    >>> columns = okvs.positions(keys)
    >>> columns.shape, bool(((columns // 3) == [0, 1, 2]).all())
    ((2, 3), True)
    """

    size: int
    cells: int

    def __init__(self, size: int, key: bytes) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise MalformedInputError(f"size must be an int, not {type(size).__name__}")
        if size < OKVS_MIN_SIZE or size % _PARTITIONS or size > _MAX_SIZE:
            raise MalformedInputError(
                f"size must be a multiple of 3 in [3, {_MAX_SIZE}], got {size}: use okvs_size(n)"
            )
        if not isinstance(key, bytes) or len(key) not in (16, 32):
            got = len(key) if isinstance(key, bytes) else type(key).__name__
            raise MalformedInputError(f"key must be 16 or 32 bytes, got {got}")
        self.size = size
        self.cells = size + DENSE_COLUMNS
        self._third = size // _PARTITIONS
        self._cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 (a PRP on digests)
        dense_key = hashlib.sha256(b"VFL-OKVS-V01 dense|" + key).digest()[: len(key)]
        self._dense_cipher = Cipher(algorithms.AES(dense_key), modes.ECB())  # noqa: S305

    def positions(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The three columns of every key: column ``j`` lies in ``[j*m/3, (j+1)*m/3)``.

        The AES block ``AES_key(digest)`` gives four 32-bit words ``r_j``; column ``j``
        is ``j * m/3 + (r_j * (m/3)) >> 32``.

        Parameters
        ----------
        keys : numpy.ndarray
            ``(n, 2)`` uint64 item digests.

        Returns
        -------
        numpy.ndarray
            ``(n, 3)`` int64 column indices.

        Examples
        --------
        >>> okvs = GarbledCuckooTable(300, key=bytes(32))
        >>> keys = np.arange(8, dtype=np.uint64).reshape(4, 2)
        >>> bool(np.array_equal(okvs.positions(keys), okvs.positions(keys)))
        True
        """
        keys = _check_elements("keys", keys)
        n = keys.shape[0]
        out = np.empty((n, _PARTITIONS), dtype=np.int64)
        third = np.uint64(self._third)
        offsets = np.arange(_PARTITIONS, dtype=np.uint64) * third
        for start in range(0, n, _BLOCK):
            stop = min(n, start + _BLOCK)
            encryptor = self._cipher.encryptor()
            data = keys[start:stop].astype("<u8", copy=False).tobytes()
            block = encryptor.update(data) + encryptor.finalize()
            words = np.frombuffer(block, dtype="<u4").reshape(-1, 4)[:, :_PARTITIONS]
            columns = ((words.astype(np.uint64) * third) >> np.uint64(32)) + offsets
            out[start:stop] = columns.view(np.int64)
        return out

    def dense_bits(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        """The dense vector ``r(x)`` of every key: 64 bits of a second AES block of its digest.

        Parameters
        ----------
        keys : numpy.ndarray
            ``(n, 2)`` uint64 item digests.

        Returns
        -------
        numpy.ndarray
            ``(n,)`` uint64: bit ``j`` of ``r(x)`` says whether dense cell ``j`` enters
            the decode of ``x``.
        """
        keys = _check_elements("keys", keys)
        out = np.empty(keys.shape[0], dtype=np.uint64)
        for start in range(0, keys.shape[0], _BLOCK):
            stop = min(keys.shape[0], start + _BLOCK)
            encryptor = self._dense_cipher.encryptor()
            block = encryptor.update(keys[start:stop].astype("<u8", copy=False).tobytes())
            out[start:stop] = np.frombuffer(block, dtype="<u8").reshape(-1, 2)[:, 0]
        return out

    def encode(
        self, keys: npt.NDArray[np.uint64], values: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.uint64]:
        """A table ``P`` with ``decode(P, keys) == values``; its free cells are random.

        Parameters
        ----------
        keys : numpy.ndarray
            ``(n, 2)`` uint64 item digests; they must be distinct.
        values : numpy.ndarray
            ``(n, 2)`` uint64 values, one per key.

        Returns
        -------
        numpy.ndarray
            ``(cells, 2)`` uint64 table: the sparse cells, then the dense ones.

        Raises
        ------
        OkvsEncodingError
            Two keys are equal (deduplicate them), or (probability below ``2**-40``) the
            2-core cannot be solved: retry with another key.

        Examples
        --------
        >>> okvs = GarbledCuckooTable(okvs_size(3), key=bytes(16))
        >>> keys = np.array([[1, 0], [2, 0], [3, 0]], dtype=np.uint64)
        >>> values = np.array([[7, 8], [9, 10], [11, 12]], dtype=np.uint64)
        >>> okvs.decode(okvs.encode(keys, values), keys).tolist()
        [[7, 8], [9, 10], [11, 12]]
        """
        keys = _check_elements("keys", keys)
        values = _check_elements("values", values, rows=keys.shape[0])
        columns = self.positions(keys)
        bits = self.dense_bits(keys)
        rounds, core = self._peel(columns)
        table = np.frombuffer(bytearray(os.urandom(16 * self.cells)), dtype=np.uint64)
        table = table.reshape(self.cells, 2)
        if core.size:
            self._check_core(keys, core)
            sparse = self._decode_columns(table, columns.take(core, axis=0))
            table[self.size :] = _solve_dense(
                bits.take(core, axis=0), values.take(core, axis=0) ^ sparse, table[self.size :]
            )
        # Back-substitution, last round first.  A row r peeled in round k has a pivot
        # column p that had degree one among the rows still present at round k, so no
        # other row of round k (nor of any later round, nor of the 2-core) uses p:
        # writing P[p] changes the decode of r only, and the rows of one round can be
        # assigned at once.  The other two columns of r are free cells or pivots of rows
        # peeled in later rounds, which are already final when round k is assigned; the
        # dense cells are final from the start.
        dense = _dense_products(table[self.size :], bits)
        for rows, pivots in reversed(rounds):
            decoded = self._decode_columns(table, columns.take(rows, axis=0))
            decoded ^= values.take(rows, axis=0)
            decoded ^= dense.take(rows, axis=0)
            decoded ^= table.take(pivots, axis=0)
            table[pivots] = decoded
        return table

    def _peel(
        self, columns: npt.NDArray[np.int64]
    ) -> tuple[list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]], npt.NDArray[np.int64]]:
        """Peeling rounds ``(rows, pivots)`` and the rows left over (the 2-core)."""
        n = columns.shape[0]
        flat = columns.ravel()
        # Per column: its degree and the sum of the ids of its rows; for a column of
        # degree one that sum is its only row (float64 sums are exact below 2**53).
        degree = np.bincount(flat, minlength=self.size)
        row_sum = np.bincount(
            flat,
            weights=np.repeat(np.arange(n, dtype=np.float64), _PARTITIONS),
            minlength=self.size,
        )
        rounds: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        owner = np.empty(n, dtype=np.int64)
        candidates = np.flatnonzero(degree == 1)
        peeled = 0
        while candidates.size:
            rows = row_sum[candidates].astype(np.int64)
            # A row may own several degree-one columns (and a column may be listed twice):
            # peel it once, on the last column listed for it (no sort needed).
            slots = np.arange(rows.size)
            owner[rows] = slots
            keep = owner[rows] == slots
            rows, pivots = rows[keep], candidates[keep]
            rounds.append((rows, pivots))
            peeled += rows.size
            touched = columns.take(rows, axis=0).ravel()
            np.subtract.at(degree, touched, 1)
            np.subtract.at(row_sum, touched, np.repeat(rows.astype(np.float64), _PARTITIONS))
            candidates = touched[degree[touched] == 1]
        left = np.ones(n, dtype=bool)
        for rows, _ in rounds:
            left[rows] = False
        return rounds, np.flatnonzero(left)

    @staticmethod
    def _check_core(keys: npt.NDArray[np.uint64], core: npt.NDArray[np.int64]) -> None:
        """Refuse duplicate digests (they land in the 2-core) and a 2-core too large."""
        core_keys = keys[core]
        order = np.lexsort((core_keys[:, 1], core_keys[:, 0]))
        sorted_keys = core_keys[order]
        same = np.flatnonzero((sorted_keys[1:] == sorted_keys[:-1]).all(axis=1))
        if same.size:
            first, second = sorted((int(core[order[same[0]]]), int(core[order[same[0] + 1]])))
            raise OkvsEncodingError(
                f"keys {first} and {second} are equal digests ({same.size} duplicate pair(s)):"
                " an OKVS cannot encode one key twice, deduplicate the items first"
            )
        if core.size > _CORE_LIMIT:
            raise OkvsEncodingError(
                f"OKVS peeling got stuck with {core.size} of {keys.shape[0]} keys left (a "
                f"2-core larger than {_CORE_LIMIT}): the table is too small for the keys; "
                "use okvs_size(n) cells"
            )

    def decode(
        self, table: npt.NDArray[np.uint64], keys: npt.NDArray[np.uint64]
    ) -> npt.NDArray[np.uint64]:
        """``P[h0(x)] ^ P[h1(x)] ^ P[h2(x)] ^ (r(x) . D)`` for every key ``x``.

        Parameters
        ----------
        table : numpy.ndarray
            ``(cells, 2)`` uint64 table from :meth:`encode`.
        keys : numpy.ndarray
            ``(n, 2)`` uint64 digests.

        Returns
        -------
        numpy.ndarray
            ``(n, 2)`` uint64 values.

        Examples
        --------
        >>> okvs = GarbledCuckooTable(3, key=bytes(16))
        >>> table = np.zeros((okvs.cells, 2), dtype=np.uint64)
        >>> table[:3, 0] = [1, 2, 4]  # the dense cells are zero here
        >>> okvs.decode(table, np.array([[5, 6]], dtype=np.uint64)).tolist()
        [[7, 0]]
        """
        table = _check_elements("table", table, rows=self.cells)
        out = self._decode_columns(table, self.positions(keys))
        out ^= _dense_products(table[self.size :], self.dense_bits(keys))
        return out

    @staticmethod
    def _decode_columns(
        table: npt.NDArray[np.uint64], columns: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.uint64]:
        """XOR of the three cells of every row of ``columns`` (a fresh array)."""
        out = table.take(columns[:, 0], axis=0)
        out ^= table.take(columns[:, 1], axis=0)
        out ^= table.take(columns[:, 2], axis=0)
        return out


def _dense_products(
    dense: npt.NDArray[np.uint64], bits: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """``r(x) . D`` for every entry of ``bits``: 8 byte-indexed tables of XOR combinations."""
    tables = np.zeros((8, 256, 2), dtype=np.uint64)
    for byte in range(8):
        for bit in range(8):
            span = 1 << bit
            tables[byte, span : 2 * span] = tables[byte, :span] ^ dense[8 * byte + bit]
    data = np.ascontiguousarray(bits, dtype="<u8").view(np.uint8).reshape(-1, 8)
    out: npt.NDArray[np.uint64] = tables[0].take(data[:, 0], axis=0)
    for byte in range(1, 8):
        out ^= tables[byte].take(data[:, byte], axis=0)
    return out


def _solve_dense(
    bits: npt.NDArray[np.uint64], targets: npt.NDArray[np.uint64], random: npt.NDArray[np.uint64]
) -> npt.NDArray[np.uint64]:
    """Dense cells ``D`` with ``r_i . D = t_i`` for every row, the rest from ``random``.

    Gaussian elimination over GF(2) on Python integers (one 64-bit row mask and one
    128-bit value per equation); every dense cell that no pivot fixes keeps its random
    value, and the pivots are solved last to first.

    Raises
    ------
    OkvsEncodingError
        If the equations are inconsistent (dependent vectors with different values).
    """
    rows = [
        (int(mask), int(t_low) | int(t_high) << 64)
        for mask, (t_low, t_high) in zip(bits.tolist(), targets.tolist(), strict=True)
    ]
    pivots: list[tuple[int, int, int]] = []  # (column, mask, value), reduced
    for mask, value in rows:
        for column, pivot_mask, pivot_value in pivots:
            if mask >> column & 1:
                mask ^= pivot_mask
                value ^= pivot_value
        if not mask:
            if value:
                raise OkvsEncodingError(
                    "the OKVS's dense part cannot absorb this 2-core (dependent vectors): "
                    "retry with another random key"
                )
            continue
        column = mask.bit_length() - 1
        pivots.append((column, mask, value))
    solution = [int(low) | int(high) << 64 for low, high in random.tolist()]
    for column, mask, value in reversed(pivots):
        # value = XOR of D[j] over the bits j of mask: fix D[column] given the others
        total = value
        rest = mask & ~(1 << column)
        while rest:
            j = rest.bit_length() - 1
            total ^= solution[j]
            rest &= ~(1 << j)
        solution[column] = total
    out = np.empty((DENSE_COLUMNS, 2), dtype=np.uint64)
    out[:, 0] = [value & (2**64 - 1) for value in solution]
    out[:, 1] = [value >> 64 for value in solution]
    return out
