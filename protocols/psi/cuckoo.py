"""Cuckoo hashing of the guest's ids into bins, for OT-PSI (KKRT16).

Every id has :data:`~crypto.ot_extension.HASH_FUNCTIONS` candidate bins; the
guest puts each id in one of them so that no bin holds two ids.  There are
:func:`bin_count` bins, about 1.27 per id: with three hash functions that fills
comfortably below the 0.92 load at which cuckoo hashing stops working, and an
insertion that still fails makes the guest draw a new salt (new hash functions)
before anything is sent, so a failure reveals nothing.
"""

from __future__ import annotations

import math
import secrets
from array import array
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from crypto.ot_extension import BIN_ALIGN, HASH_FUNCTIONS
from protocols.exceptions import ProtocolError

__all__ = ["BINS_PER_ID", "CuckooError", "bin_count", "cuckoo_table"]

BINS_PER_ID = 1.27
"""Bins per guest id (load about 0.79 with three hash functions)."""
EXTRA_BINS = BIN_ALIGN
"""Bins added to every table, so that small sets are lightly loaded."""
MAX_KICKS = 500
"""Evictions one insertion may cause before the table is declared failed."""


class CuckooError(ProtocolError):
    """The ids could not be placed under these hash functions (draw a new salt)."""


def bin_count(size: int) -> int:
    """Number of bins for ``size`` guest ids: a multiple of ``BIN_ALIGN``.

    Parameters
    ----------
    size : int
        The guest's number of ids.

    Returns
    -------
    int
        ``ceil(1.27 size) + 128``, rounded up to a multiple of 128.

    Examples
    --------
    >>> bin_count(0), bin_count(100), bin_count(100_000)
    (128, 256, 127232)
    """
    wanted = math.ceil(BINS_PER_ID * size) + EXTRA_BINS
    return -(-wanted // BIN_ALIGN) * BIN_ALIGN


def cuckoo_table(positions: npt.NDArray[np.int64], bins: int) -> npt.NDArray[np.int64]:
    """Place every item in one of its candidate bins, at most one item per bin.

    Parameters
    ----------
    positions : numpy.ndarray
        ``(items, HASH_FUNCTIONS)`` candidate bins in ``[0, bins)``.
    bins : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        ``(bins,)`` int64: the item in each bin, or -1 for an empty bin.

    Raises
    ------
    CuckooError
        If an insertion needs more than :data:`MAX_KICKS` evictions.
    ValueError
        If ``positions`` has the wrong shape or a bin out of range.

    Examples
    --------
    >>> table = cuckoo_table(np.array([[0, 1, 2], [0, 1, 2], [0, 1, 2]]), bins=4)
    >>> sorted(table.tolist())
    [-1, 0, 1, 2]
    >>> cuckoo_table(np.array([[0, 0, 0], [0, 0, 0]]), bins=4)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.psi.cuckoo.CuckooError: cuckoo hashing could not place 2 ids in 4 bins ...
    """
    if positions.ndim != 2 or positions.shape[1] != HASH_FUNCTIONS:
        raise ValueError(f"positions must have shape (items, {HASH_FUNCTIONS})")
    if positions.size and (positions.min() < 0 or positions.max() >= bins):
        raise ValueError(f"positions must lie in [0, {bins})")
    # flat int64 arrays, not positions.tolist(): a list of 3 ints per id was ~170 bytes
    # per id (1.7 GB at 10 million ids), these are 24 and 8 bytes per bin
    candidates = array("q")
    candidates.frombytes(positions.astype(np.int64, copy=False).tobytes())
    table = array("q", [-1]) * bins
    victims = _victim_choices()
    width = HASH_FUNCTIONS
    for item in range(len(positions)):
        current = item
        for _ in range(MAX_KICKS):
            choices = candidates[width * current : width * current + width]
            free = next((b for b in choices if table[b] < 0), None)
            if free is not None:
                table[free] = current
                break
            victim_bin = choices[next(victims)]
            table[victim_bin], current = current, table[victim_bin]
        else:
            raise CuckooError(
                f"cuckoo hashing could not place {len(positions)} ids in {bins} bins "
                "under these hash functions; draw a new salt and try again"
            )
    return np.frombuffer(table, dtype=np.int64).copy()


def _victim_choices() -> Iterator[int]:
    """Uniform choices among the hash functions, from the CSPRNG in bulk."""
    limit = 256 - 256 % HASH_FUNCTIONS  # unbiased: bytes at or above it are skipped
    while True:
        for byte in secrets.token_bytes(4096):
            if byte < limit:
                yield byte % HASH_FUNCTIONS
