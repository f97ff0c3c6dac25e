"""Checks of a PSI role's own inputs, and of the guest's setup and positions (every method)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from protocols.exceptions import ProtocolError
from protocols.messages import PsiPositions, PsiSetup
from protocols.psi.inputs import DuplicateIdError
from protocols.psi.packed import PackedIds, first_repeat
from protocols.psi.settings import PsiSettings

__all__ = [
    "MAX_SALT_BYTES",
    "MAX_SET_SIZE",
    "MIN_SALT_BYTES",
    "check_guest_setup",
    "checked_ids",
    "checked_peers",
    "checked_positions",
]

MIN_SALT_BYTES = 16
MAX_SALT_BYTES = 64
MAX_SET_SIZE = 1 << 32
"""Largest set size a peer may announce."""


def checked_ids(party: str, ids: Sequence[bytes]) -> PackedIds:
    """A role's own ids, packed (:class:`~protocols.psi.packed.PackedIds`), once unique.

    Parameters
    ----------
    party : str
        The role's party (for the error message).
    ids : sequence of bytes
        Its ids.

    Returns
    -------
    PackedIds
        The ids, in order.

    Raises
    ------
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    >>> checked_ids("g", [b"ann", b"bob", b"ann"])
    Traceback (most recent call last):
    ...
    protocols.psi.inputs.DuplicateIdError: g: PSI ids must be unique (rows 0 and 2 hold the same id)
    """
    checked = ids if isinstance(ids, PackedIds) else PackedIds(ids)
    if checked.known_unique:  # e.g. a party table's ids: its reader refused repeats
        return checked
    repeat = first_repeat(checked)
    if repeat is not None:
        raise DuplicateIdError(
            f"{party}: PSI ids must be unique (rows {repeat[0]} and {repeat[1]} hold the same id)"
        )
    return checked


def checked_peers(
    party: str, peers: Sequence[str], rule: str = "PSI hosts must be distinct other parties"
) -> tuple[str, ...]:
    """A role's peers (a guest's hosts, or a host's guest), distinct and not itself.

    Parameters
    ----------
    party : str
        The role's party.
    peers : sequence of str
        The other parties it runs PSI with.
    rule : str, optional
        The rule the error states.

    Returns
    -------
    tuple of str
        The peers, in order.

    Raises
    ------
    ProtocolError
        If a peer is ``party`` or repeats.

    Examples
    --------
    >>> checked_peers("g", ["h1", "g"])
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: g: PSI hosts must be distinct other parties
    """
    if party in peers or len(set(peers)) != len(peers):
        raise ProtocolError(f"{party}: {rule}")
    return tuple(peers)


def check_guest_setup(party: str, guest: str, settings: PsiSettings, message: PsiSetup) -> None:
    """Refuse a guest's setup that disagrees with this host's job or is malformed.

    Parameters
    ----------
    party, guest : str
        This host's and the guest's names (for the error message).
    settings : PsiSettings
        This host's settings, from its own job file.
    message : PsiSetup
        The guest's setup.

    Raises
    ------
    ProtocolError
        If the method, output or chunk size differ, the salt is not 16 to 64 bytes,
        or the announced size is out of range.

    Examples
    --------
    >>> setup = PsiSetup(job_id="j", sender="g", receiver="h", method="rsa", output="both",
    ...                  salt=bytes(32), size=3, chunk_size=16384)
    >>> check_guest_setup("h", "g", PsiSettings(), setup)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: h: the guest 'g' asked for PSI method 'rsa' but ...
    """
    for name, theirs, ours in (
        ("method", message.method, settings.method),
        ("output", message.output, settings.output),
        ("chunk_size", message.chunk_size, settings.chunk_size),
    ):
        if theirs != ours:
            raise ProtocolError(
                f"{party}: the guest {guest!r} asked for PSI {name} {theirs!r} "
                f"but this party's job says {ours!r}; both must run the same job file"
            )
    if not MIN_SALT_BYTES <= len(message.salt) <= MAX_SALT_BYTES:
        raise ProtocolError(f"{party}: the guest {guest!r} sent a {len(message.salt)}-byte salt")
    if not 0 <= message.size <= MAX_SET_SIZE:
        raise ProtocolError(f"{party}: the guest {guest!r} announced {message.size} ids")


def checked_positions(
    party: str, guest: str, message: PsiPositions, own_size: int, guest_size: int
) -> npt.NDArray[np.int64]:
    """The positions of a guest's :class:`PsiPositions`, once they are known to be sound.

    Parameters
    ----------
    party, guest : str
        This host's and the guest's names (for the error message).
    message : PsiPositions
        The guest's message.
    own_size, guest_size : int
        This host's and the guest's numbers of ids.

    Returns
    -------
    numpy.ndarray
        The positions as int64, each an index into this host's shuffled ids.

    Raises
    ------
    ProtocolError
        If they are not one-dimensional integers, more than the smaller set, out of
        range or repeated.

    Examples
    --------
    >>> message = PsiPositions(job_id="j", sender="g", receiver="h", positions=np.array([2, 2]))
    >>> checked_positions("h", "g", message, own_size=5, guest_size=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    protocols.exceptions.ProtocolError: h: the guest 'g' sent a position twice
    """
    positions = message.positions
    if positions.ndim != 1 or positions.dtype.kind != "i":
        raise ProtocolError(f"{party}: the guest {guest!r} sent positions that are not integers")
    limit = min(own_size, guest_size)
    if len(positions) > limit:
        raise ProtocolError(
            f"{party}: the guest {guest!r} sent {len(positions)} positions for at "
            f"most {limit} common ids"
        )
    if len(positions) and (positions.min() < 0 or positions.max() >= own_size):
        raise ProtocolError(f"{party}: the guest {guest!r} sent a position out of range")
    if len(np.unique(positions)) != len(positions):
        raise ProtocolError(f"{party}: the guest {guest!r} sent a position twice")
    return positions.astype(np.int64)
