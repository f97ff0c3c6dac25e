"""Uniformly random permutations from the operating system's CSPRNG.

Parties shuffle what they send so that the position of an element says nothing
about the row it came from.  ``numpy.random`` is not a CSPRNG, so a permutation is
made by sorting 128-bit random keys drawn from :func:`os.urandom`; two keys collide
with probability below ``n**2 / 2**129`` (negligible for any realistic ``n``).
"""

from __future__ import annotations

import os

import numpy as np
import numpy.typing as npt

__all__ = ["secure_permutation"]


def secure_permutation(size: int) -> npt.NDArray[np.int64]:
    """A uniformly random permutation of ``range(size)``.

    Parameters
    ----------
    size : int
        Number of elements (0 is allowed).

    Returns
    -------
    numpy.ndarray
        Int64 array holding every integer in ``[0, size)`` once.

    Examples
    --------
    >>> sorted(secure_permutation(5).tolist())
    [0, 1, 2, 3, 4]
    """
    if size < 0:
        raise ValueError(f"a permutation needs a non-negative size, not {size}")
    keys = np.frombuffer(os.urandom(16 * size), dtype=np.uint64).reshape(size, 2)
    return np.lexsort((keys[:, 1], keys[:, 0])).astype(np.int64)
