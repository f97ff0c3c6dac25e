"""The guest's last step, whichever the method: the peers' values and the closing messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from protocols.messages import Message, PsiDone, PsiPositions
from protocols.psi.matching import Values, as_values, positions_in

__all__ = ["closing_messages", "joined_values"]


def joined_values(chunks: Mapping[int, bytes], count: int, width: int) -> Values:
    """A peer's chunks ``0 .. count - 1``, joined, as ``S<width>`` values.

    Parameters
    ----------
    chunks : mapping of int to bytes
        Every chunk, by number.
    count : int
        Number of chunks.
    width : int
        Bytes per value.

    Returns
    -------
    numpy.ndarray
        The values in chunk order.

    Examples
    --------
    >>> joined_values({1: b"cc", 0: b"aabb"}, 2, 2)
    array([b'aa', b'bb', b'cc'], dtype='|S2')
    """
    return as_values(b"".join(chunks[chunk] for chunk in range(count)), width)


def closing_messages(
    job_id: str,
    party: str,
    hosts: Sequence[str],
    common: tuple[npt.NDArray[np.int64], Sequence[Values], Sequence[Values], int] | None,
) -> list[Message]:
    """:class:`PsiDone` for every host, or each host's :class:`PsiPositions`.

    Parameters
    ----------
    job_id, party : str
        The job and the guest.
    hosts : sequence of str
        The hosts, in the order of ``own`` and ``peers``.
    common : tuple or None
        ``None`` when the hosts learn nothing (outputs ``"guest"`` and
        ``"cardinality"``); else ``(rows, own, peers, values_per_item)``: the common
        rows in the agreed order, the guest's values by row and each host's values
        with each host, and how many consecutive values each host item has.

    Returns
    -------
    list of Message
        One message per host.

    Examples
    --------
    >>> own = [as_values(b"aabbcc", 2)]
    >>> peer = [as_values(b"xxccyyaa", 2)]  # two values per host item
    >>> closing_messages("j", "g", ["h"], (np.array([2, 0]), own, peer, 2))[0].positions
    array([0, 1])
    >>> closing_messages("j", "g", ["h"], None)[0].kind.name
    'PSI_DONE'
    """
    if common is None:
        return [PsiDone(job_id=job_id, sender=party, receiver=host) for host in hosts]
    rows, own, peers, per_item = common
    return [
        PsiPositions(
            job_id=job_id,
            sender=party,
            receiver=host,
            positions=positions_in(values[rows], peer) // per_item,
        )
        for host, values, peer in zip(hosts, own, peers, strict=True)
    ]
