"""Matching fixed-width comparable values (double-encrypted points, signature tags).

Values are kept as numpy ``S<width>`` arrays: compact (no Python object per item),
compared bytewise over their full width, and matched by sorting.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["as_values", "intersect_rows", "positions_in"]

Values = npt.NDArray[np.bytes_]


def as_values(blob: bytes | bytearray | memoryview, width: int) -> Values:
    """View concatenated ``width``-byte values as an ``S<width>`` array (no copy).

    Parameters
    ----------
    blob : bytes-like
        Concatenated values.
    width : int
        Bytes per value.

    Returns
    -------
    numpy.ndarray
        One ``S<width>`` item per value.

    Raises
    ------
    ValueError
        If ``len(blob)`` is not a multiple of ``width``.

    Examples
    --------
    >>> as_values(b"aabbcc", 2)
    array([b'aa', b'bb', b'cc'], dtype='|S2')
    """
    if len(blob) % width:
        raise ValueError(f"{len(blob)} bytes are not a whole number of {width}-byte values")
    return np.frombuffer(blob, dtype=f"S{width}")


def intersect_rows(own: list[Values], peers: list[Values]) -> npt.NDArray[np.int64]:
    """Rows whose value ``own[j][row]`` is among ``peers[j]`` for every peer ``j``.

    ``own[j]`` holds this party's values in its row order as seen with peer ``j``.
    The result is ordered by the value with the first peer: an order every party
    can agree on that says nothing about anyone's row order.

    Parameters
    ----------
    own : list of numpy.ndarray
        This party's values with each peer, in its row order.
    peers : list of numpy.ndarray
        Each peer's values.

    Returns
    -------
    numpy.ndarray
        Int64 rows present with every peer, in the agreed order.

    Raises
    ------
    ValueError
        If there is no peer.

    Examples
    --------
    >>> own = [as_values(b"ddbbccaa", 2)]
    >>> intersect_rows(own, [as_values(b"aaxxdd", 2)])  # rows of b"aa" then b"dd"
    array([3, 0])
    """
    if not own:
        raise ValueError("no peer to intersect with")
    member = np.ones(len(own[0]), dtype=bool)
    for values, peer_values in zip(own, peers, strict=True):
        member &= _present(values, peer_values)
    rows = np.flatnonzero(member)
    order = np.argsort(own[0][rows], kind="stable")
    return rows[order].astype(np.int64)


def _present(values: Values, peer_values: Values) -> npt.NDArray[np.bool_]:
    """``np.isin(values, peer_values)`` by one sorted copy of the peer's values.

    ``np.isin`` sorts both arrays together with an index (~3x their size again);
    this keeps one sorted copy of ``peer_values`` and an index per own value.
    """
    if not len(peer_values) or not len(values):
        return np.zeros(len(values), dtype=bool)
    ordered = np.sort(peer_values)
    found = np.searchsorted(ordered, values)
    np.minimum(found, len(ordered) - 1, out=found)
    return np.asarray(ordered[found] == values)


def positions_in(wanted: Values, peer_values: Values) -> npt.NDArray[np.int64]:
    """Index in ``peer_values`` of each of ``wanted`` (each must be present).

    Parameters
    ----------
    wanted : numpy.ndarray
        Values to find.
    peer_values : numpy.ndarray
        Where to find them.

    Returns
    -------
    numpy.ndarray
        Int64 index of each wanted value, in order.

    Raises
    ------
    ValueError
        If a value is missing.

    Examples
    --------
    >>> positions_in(as_values(b"aadd", 2), as_values(b"ddxxaa", 2))
    array([2, 0])
    """
    order = np.argsort(peer_values, kind="stable")
    found = np.searchsorted(peer_values, wanted, sorter=order)
    positions = order[np.minimum(found, max(len(order) - 1, 0))] if len(order) else found
    if len(wanted) and not np.array_equal(peer_values[positions], wanted):
        raise ValueError("a value is not among the peer's values")
    return positions.astype(np.int64)
