"""Matching VOLE-PSI tags fast: on their first 8 bytes as integers, confirmed on all bytes.

Sorting ``S12`` byte strings is several times slower than sorting ``uint64``; tags are
pseudorandom, so their 8-byte prefixes are unique except with probability about
``n^2 / 2^65``.  These functions match on the prefixes and confirm every match on the
whole tag; when a prefix repeats they fall back to :mod:`protocols.psi.matching`,
so the answer is always exact and the same as theirs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from protocols.psi.matching import Values, intersect_rows, positions_in

__all__ = ["match_tags", "match_tags_with_positions", "tag_positions"]


def _prefixes(values: Values) -> npt.NDArray[np.uint64]:
    width = values.dtype.itemsize
    raw = np.frombuffer(np.ascontiguousarray(values).tobytes(), dtype=np.uint8)
    head = np.zeros((len(values), 8), dtype=np.uint8)
    head[:, : min(8, width)] = raw.reshape(len(values), width)[:, :8]
    return head.view("<u8").reshape(-1)


def _unique(prefixes: npt.NDArray[np.uint64]) -> bool:
    ordered = np.sort(prefixes)
    return not bool((ordered[1:] == ordered[:-1]).any())


def match_tags(own: list[Values], peers: list[Values]) -> npt.NDArray[np.int64]:
    """Rows whose tag ``own[j][row]`` is among ``peers[j]`` for every ``j``.

    Parameters
    ----------
    own : list of numpy.ndarray
        This party's tags with each peer, in its row order.
    peers : list of numpy.ndarray
        Each peer's tags.

    Returns
    -------
    numpy.ndarray
        The rows, as a set equal to :func:`protocols.psi.matching.intersect_rows`
        (in ascending order).

    Examples
    --------
    >>> from protocols.psi.matching import as_values
    >>> match_tags([as_values(b"aaaaaaaaabbbbbbbbbccccccccc", 9)],
    ...            [as_values(b"cccccccccxxxxxxxxxaaaaaaaaa", 9)])
    array([0, 2])
    """
    rows = np.arange(len(own[0]) if own else 0, dtype=np.int64)
    for mine, theirs in zip(own, peers, strict=True):
        candidates = mine[rows]
        left, right = _prefixes(candidates), _prefixes(theirs)
        if not (_unique(left) and _unique(right)):
            return np.sort(intersect_rows(own, peers))
        _, at_left, at_right = np.intersect1d(left, right, assume_unique=True, return_indices=True)
        confirmed = candidates[at_left] == theirs[at_right]
        rows = np.sort(rows[at_left[confirmed]])
    return rows


def match_tags_with_positions(
    own: list[Values], peers: list[Values]
) -> tuple[npt.NDArray[np.int64], list[npt.NDArray[np.int64]]]:
    """:func:`match_tags` and, for each peer, the position of each row's tag in it.

    Parameters
    ----------
    own : list of numpy.ndarray
        This party's tags with each peer, in its row order.
    peers : list of numpy.ndarray
        Each peer's tags.

    Returns
    -------
    rows : numpy.ndarray
        The common rows, ascending.
    positions : list of numpy.ndarray
        ``positions[j][k]`` is the index in ``peers[j]`` of ``own[j][rows[k]]``.

    Examples
    --------
    >>> from protocols.psi.matching import as_values
    >>> rows, positions = match_tags_with_positions(
    ...     [as_values(b"aaaaaaaaabbbbbbbbbccccccccc", 9)],
    ...     [as_values(b"cccccccccxxxxxxxxxaaaaaaaaa", 9)])
    >>> rows.tolist(), positions[0].tolist()
    ([0, 2], [2, 0])
    """
    rows = np.arange(len(own[0]) if own else 0, dtype=np.int64)
    found: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    for mine, theirs in zip(own, peers, strict=True):
        candidates = mine[rows]
        matched = _sorted_match(_prefixes(candidates), _prefixes(theirs))
        if matched is None:  # a repeated prefix: the byte-string matching, exact
            common = np.sort(intersect_rows(own, peers))
            return common, [positions_in(m[common], p) for m, p in zip(own, peers, strict=True)]
        at_left, at_right = matched
        confirmed = candidates[at_left] == theirs[at_right]
        kept, where = rows[at_left[confirmed]], at_right[confirmed]
        order = np.argsort(kept)
        rows = kept[order]
        found.append((rows, where[order]))
    positions = [where[np.searchsorted(kept, rows)] for kept, where in found]
    return rows, positions


def _sorted_match(
    left: npt.NDArray[np.uint64], right: npt.NDArray[np.uint64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]] | None:
    """Indices ``(i, j)`` with ``left[i] == right[j]``, or ``None`` if a side repeats a value."""
    left_order = np.argsort(left, kind="stable")
    right_order = np.argsort(right, kind="stable")
    left_sorted, right_sorted = left[left_order], right[right_order]
    if (left_sorted[1:] == left_sorted[:-1]).any() or (right_sorted[1:] == right_sorted[:-1]).any():
        return None
    if not len(right_sorted):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    at = np.minimum(np.searchsorted(right_sorted, left_sorted), len(right_sorted) - 1)
    hit = right_sorted[at] == left_sorted
    return left_order[hit].astype(np.int64), right_order[at[hit]].astype(np.int64)


def tag_positions(wanted: Values, peer: Values) -> npt.NDArray[np.int64]:
    """Index in ``peer`` of each of ``wanted`` (each must be present).

    Parameters
    ----------
    wanted, peer : numpy.ndarray
        Tags.

    Returns
    -------
    numpy.ndarray
        Int64 positions, equal to :func:`protocols.psi.matching.positions_in`.

    Raises
    ------
    ValueError
        If a tag is missing.

    Examples
    --------
    >>> from protocols.psi.matching import as_values
    >>> peer = as_values(b"dddddddddxxxxxxxxxaaaaaaaaa", 9)
    >>> tag_positions(as_values(b"aaaaaaaaaddddddddd", 9), peer)
    array([2, 0])
    """
    left, right = _prefixes(wanted), _prefixes(peer)
    if not (_unique(left) and _unique(right)):
        return positions_in(wanted, peer)
    _, at_left, at_right = np.intersect1d(left, right, assume_unique=True, return_indices=True)
    if len(at_left) != len(wanted) or not np.array_equal(wanted[at_left], peer[at_right]):
        raise ValueError("a value is not among the peer's values")
    positions = np.empty(len(wanted), dtype=np.int64)
    positions[at_left] = at_right
    return positions
