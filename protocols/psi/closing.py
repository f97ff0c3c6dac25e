"""The guest's last step, whichever the method: the peers' values and the closing messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from protocols.messages import Message, PsiDone, PsiPositions
from protocols.psi.matching import Values, as_values, positions_in
from protocols.psi.outcome import PsiOutcome
from protocols.psi.setup_checks import checked_positions

__all__ = ["closing_messages", "host_outcome", "joined_values"]


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


def host_outcome(
    party: str,
    guest: str,
    message: PsiPositions | PsiDone,
    *,
    order: npt.NDArray[np.int64],
    guest_size: int,
) -> PsiOutcome:
    """A host's result from the guest's last message (KKRT and VOLE hosts).

    Parameters
    ----------
    party, guest : str
        The host and the guest.
    message : PsiPositions or PsiDone
        The guest's last message (the caller checked it is the one its output expects).
    order : numpy.ndarray
        The host's secret shuffle: ``order[k]`` is the row of its ``k``-th sent item.
    guest_size : int
        The guest's announced set size.

    Returns
    -------
    PsiOutcome
        The common rows in the agreed order (``PsiPositions``), or sizes only.

    Raises
    ------
    ProtocolError
        If the positions are not sound (:func:`checked_positions`).

    Examples
    --------
    >>> done = PsiDone(job_id="j", sender="g", receiver="h")
    >>> host_outcome("h", "g", done, order=np.array([1, 0]), guest_size=3)
    PsiOutcome(rows=None, size=None, own_size=2, peer_sizes={'g': 3})
    """
    own_size = len(order)
    if isinstance(message, PsiDone):
        return PsiOutcome(None, None, own_size, {guest: guest_size})
    positions = checked_positions(party, guest, message, own_size, guest_size)
    rows: npt.NDArray[np.int64] = order[positions]
    return PsiOutcome(rows, len(rows), own_size, {guest: guest_size})
