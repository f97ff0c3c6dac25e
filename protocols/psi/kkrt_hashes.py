"""KKRT item hashes in bounded memory: bins for every id, code words only when needed.

:func:`crypto.ot_extension.item_hashes` gives each id's three candidate bins (24
bytes) and three 64-byte code words (192 bytes).  Keeping every code word costs
~1.9 GB per 10 million ids, yet a block of bins only needs the code words of the
ids that fall in it.  These helpers keep the bins and recompute a block's code
words from the ids (the same values: the hash is deterministic).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crypto.ot_extension import CODE_BYTES, HASH_FUNCTIONS, item_hashes

__all__ = ["bin_positions", "code_words"]

RUN = 65_536
"""Ids hashed at a time (their code words are the temporary memory: 12 MiB)."""


def bin_positions(ids: Sequence[bytes], salt: bytes, bins: int) -> npt.NDArray[np.int64]:
    """The candidate bins of every id, without keeping the code words.

    Parameters
    ----------
    ids : sequence of bytes
        The ids.
    salt : bytes
        The job's public salt.
    bins : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        ``(len(ids), HASH_FUNCTIONS)`` int64, equal to ``item_hashes(ids, salt, bins)[1]``.

    Examples
    --------
    >>> ids = [b"ann", b"bob"]
    >>> bool((bin_positions(ids, bytes(16), 10) == item_hashes(ids, bytes(16), 10)[1]).all())
    True
    """
    positions = np.empty((len(ids), HASH_FUNCTIONS), dtype=np.int64)
    for first in range(0, len(ids), RUN):
        run = ids[first : first + RUN]
        positions[first : first + len(run)] = item_hashes(run, salt, bins)[1]
    return positions


def code_words(
    ids: Sequence[bytes],
    items: npt.NDArray[np.int64],
    functions: npt.NDArray[np.int64],
    salt: bytes,
    bins: int,
) -> npt.NDArray[np.uint8]:
    """The code word of each ``(ids[items[k]], functions[k])``.

    Parameters
    ----------
    ids : sequence of bytes
        The ids.
    items : numpy.ndarray
        Indices into ``ids``.
    functions : numpy.ndarray
        The hash function of each, in ``[0, HASH_FUNCTIONS)``.
    salt : bytes
        The job's public salt.
    bins : int
        Number of bins.

    Returns
    -------
    numpy.ndarray
        ``(len(items), CODE_BYTES)`` uint8, equal to
        ``item_hashes(ids, salt, bins)[0][items, functions]``.

    Examples
    --------
    >>> ids = [b"ann", b"bob", b"cid"]
    >>> items, functions = np.array([2, 0, 2]), np.array([1, 0, 2])
    >>> every = item_hashes(ids, bytes(16), 10)[0]
    >>> bool((code_words(ids, items, functions, bytes(16), 10) == every[items, functions]).all())
    True
    """
    words = np.empty((len(items), CODE_BYTES), dtype=np.uint8)
    for first in range(0, len(items), RUN):
        chunk = items[first : first + RUN]
        unique, back = np.unique(chunk, return_inverse=True)  # an id hashed once per run
        codes = item_hashes([ids[item] for item in unique.tolist()], salt, bins)[0]
        words[first : first + len(chunk)] = codes[back, functions[first : first + len(chunk)]]
    return words
