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
    """View concatenated ``width``-byte values as an ``S<width>`` array (no copy)."""
    if len(blob) % width:
        raise ValueError(f"{len(blob)} bytes are not a whole number of {width}-byte values")
    return np.frombuffer(blob, dtype=f"S{width}")


def intersect_rows(own: list[Values], peers: list[Values]) -> npt.NDArray[np.int64]:
    """Rows whose value ``own[j][row]`` is among ``peers[j]`` for every peer ``j``.

    ``own[j]`` holds this party's values in its row order as seen with peer ``j``.
    The result is ordered by the value with the first peer: an order every party
    can agree on that says nothing about anyone's row order.
    """
    if not own:
        raise ValueError("no peer to intersect with")
    member = np.ones(len(own[0]), dtype=bool)
    for values, peer_values in zip(own, peers, strict=True):
        member &= np.isin(values, peer_values)
    rows = np.flatnonzero(member)
    order = np.argsort(own[0][rows], kind="stable")
    return rows[order].astype(np.int64)


def positions_in(wanted: Values, peer_values: Values) -> npt.NDArray[np.int64]:
    """Index in ``peer_values`` of each of ``wanted`` (each must be present)."""
    order = np.argsort(peer_values, kind="stable")
    found = np.searchsorted(peer_values, wanted, sorter=order)
    positions = order[np.minimum(found, max(len(order) - 1, 0))] if len(order) else found
    if len(wanted) and not np.array_equal(peer_values[positions], wanted):
        raise ValueError("a value is not among the peer's values")
    return positions.astype(np.int64)
