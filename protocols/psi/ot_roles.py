"""What the OT-based PSI roles share: the KKRT and VOLE hosts and guests.

Both methods open alike: the guest sends :class:`PsiSetup` and a base-OT point, the
host its size and 512 base-OT points, and the guest then sends the OT-extension matrix
of the KKRT OPRF (:mod:`crypto.ot_extension`) in :class:`PsiOtColumns` blocks, in
order.  Both end alike: the host sends one value per id in :class:`PsiHostItems`
chunks and learns its result from the guest's last message
(:func:`protocols.psi.closing.host_outcome`).  :class:`OtPsiHost` and
:class:`OtPsiGuest` hold those steps; each method's own steps, and its ``receive``,
``has_work``, ``work`` and ``progress``, stay in :mod:`protocols.psi.kkrt_host`,
:mod:`protocols.psi.vole_host`, :mod:`protocols.psi.kkrt_guest` and
:mod:`protocols.psi.vole_guest`.
"""

from __future__ import annotations

import abc
import hashlib
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.ot import RandomOtReceiver, RandomOtSender
from crypto.ot_extension import CODE_BITS, CODE_BYTES, OprfReceiver, OprfSender, Rows, choice_bits
from crypto.permutation import secure_permutation
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiDone,
    PsiHostItems,
    PsiHostSetup,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiPositions,
    PsiSetup,
)
from protocols.psi.closing import host_outcome, joined_values
from protocols.psi.guest import chunk_count, chunk_length
from protocols.psi.matching import Values
from protocols.psi.outcome import PsiOutcome
from protocols.psi.settings import PsiSettings
from protocols.psi.setup_checks import (
    MAX_SET_SIZE,
    check_guest_setup,
    checked_ids,
    checked_peers,
)
from protocols.roles import Role

__all__ = ["OtHostLink", "OtPsiGuest", "OtPsiHost", "output_key"]

_OUTPUT_KEY_LABEL = b"VFL-OTPSI-V01 output key"


def output_key(salt: bytes) -> bytes:
    """The job's key for the PRF's output hash (public: both parties derive it).

    Parameters
    ----------
    salt : bytes
        The job's salt.

    Returns
    -------
    bytes
        32 bytes.

    Examples
    --------
    >>> len(output_key(bytes(32))), output_key(bytes(32)) != output_key(bytes(31) + b"1")
    (32, True)
    """
    return hashlib.sha256(_OUTPUT_KEY_LABEL + salt).digest()


class OtPsiHost(Role):
    """The host's steps that KKRT-PSI and VOLE-PSI share.

    The base of :class:`~protocols.psi.kkrt_host.KkrtHost` and
    :class:`~protocols.psi.vole_host.VoleHost`.

    Parameters
    ----------
    party, job_id, guest, ids, settings
        As for :class:`~protocols.psi.kkrt_host.KkrtHost`; ``settings.method`` must
        be ``method``.
    method : str
        The method the subclass runs (``"kkrt"`` or ``"vole"``).
    block : int
        OT instances per :class:`PsiOtColumns` block.

    Raises
    ------
    ProtocolError, DuplicateIdError
        As for :class:`~protocols.psi.kkrt_host.KkrtHost`.

    Examples
    --------
    A subclass adds its ``receive``, ``has_work``, ``work`` and ``progress``; see
    :class:`~protocols.psi.kkrt_host.KkrtHost` for a whole run:

    >>> from protocols.psi import KkrtHost, PsiSettings
    >>> host = KkrtHost("host", "job-1", guest="guest", ids=[b"ann"],
    ...                 settings=PsiSettings(method="kkrt"))
    >>> isinstance(host, OtPsiHost), [message.kind.name for message in host.start()]
    (True, ['PSI_HOST_SETUP', 'PSI_OT_RECEIVER'])
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        ids: Sequence[bytes],
        settings: PsiSettings,
        method: str,
        block: int,
    ) -> None:
        super().__init__(party, job_id)
        if settings.method != method:
            raise ProtocolError(
                f"{party}: {type(self).__name__} runs method {method!r}, not {settings.method!r}"
            )
        checked_peers(party, [guest], "the PSI guest must be another party")
        self.settings = settings
        self.guest = guest
        self.ids = checked_ids(party, ids)
        self._order = secure_permutation(len(self.ids))
        self._secret = np.frombuffer(secrets.token_bytes(CODE_BYTES), dtype=np.uint8)
        self._ot = RandomOtReceiver(choice_bits(self._secret))
        self._block = block
        self._salt: bytes | None = None
        self._guest_size: int | None = None
        self._blocks = 0
        self._oprf: OprfSender | None = None
        self._received = 0
        self._pending: deque[tuple[int, bytes]] = deque()
        self._processed = 0
        self._hashed = False
        self._sent = False
        self._started = False

    # Role contract ------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Announce this party's set size and send its base-OT points.

        Returns
        -------
        list of Message
            :class:`PsiHostSetup` and :class:`PsiOtReceiverPoints` for the guest.

        Raises
        ------
        ProtocolError
            If called twice.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        job_id, party, guest = self.job_id, self.party, self.guest
        return [
            PsiHostSetup(
                job_id=job_id, sender=party, receiver=guest, size=len(self.ids), rsa_public_key=()
            ),
            PsiOtReceiverPoints(
                job_id=job_id, sender=party, receiver=guest, points=self._ot.points
            ),
        ]

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest, until the protocol is over."""
        return () if self._done else (self.guest,)

    # shared steps -------------------------------------------------------------------
    def _check_incoming(self, message: Message) -> None:
        """Refuse a message before :meth:`start`, after the end, or from another party."""
        if self._done or not self._started:
            raise self._unexpected(message, "finished" if self._done else "not started")
        if message.sender != self.guest:
            raise ProtocolError(f"{self.party}: {message.sender!r} is not the PSI guest")

    def _check_setup(self, message: PsiSetup) -> None:
        """Refuse a second setup, or one that disagrees with this party's settings."""
        if self._salt is not None:
            raise self._unexpected(message, "already set up")
        check_guest_setup(self.party, self.guest, self.settings, message)

    def _on_ot_point(self, message: PsiOtSenderPoint) -> None:
        if self._salt is None or self._oprf is not None:
            raise self._unexpected(message, "not expecting a base-OT point")
        try:
            seeds = self._ot.keys(message.point)
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent a bad base-OT point: {error}"
            ) from error
        self._oprf = OprfSender(self._secret, seeds, output_key(self._salt))

    def _on_columns(self, message: PsiOtColumns, instances: int) -> None:
        """Queue block ``message.batch`` of the matrix for ``instances`` OTs in all."""
        block = message.batch
        if self._oprf is None:
            raise self._unexpected(message, "waiting for the guest's setup and base-OT point")
        # the guest sends its blocks in order on one ordered connection
        if block != self._received or block >= self._blocks:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent block {block}, expected block "
                f"{self._received} of {self._blocks} (again, out of order or out of range)"
            )
        count = min(self._block, instances - block * self._block)
        expected = CODE_BITS * count // 8
        if len(message.columns) != expected:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent {len(message.columns)} bytes in "
                f"block {block}, expected {expected}"
            )
        self._received += 1
        self._pending.append((block, message.columns))

    def _q_rows(self, block: int, columns: bytes) -> tuple[int, Rows]:
        """The first OT instance of ``block`` and the OPRF sender's rows of it."""
        assert self._oprf is not None
        start = block * self._block
        try:
            return start, self._oprf.rows(start, columns)
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent a bad block {block}: {error}"
            ) from error

    def _item_messages(self, items: npt.NDArray[Any]) -> list[Message]:
        """:class:`PsiHostItems` chunks of ``items``, one entry (first axis) per own id."""
        size = self.settings.chunk_size
        return [
            PsiHostItems(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                batch=chunk,
                items=items[chunk * size : (chunk + 1) * size].tobytes(),
            )
            for chunk in range(chunk_count(len(self.ids), size))
        ]

    @abc.abstractmethod
    def _all_received(self) -> bool:
        """Whether everything the guest sends before its last message is in."""

    def _on_last(self, message: PsiPositions | PsiDone) -> None:
        expected = PsiPositions if self.settings.output == "both" else PsiDone
        if not isinstance(message, expected) or not self._all_received():
            raise self._unexpected(message, "still exchanging values")
        self._finish(
            host_outcome(
                self.party, self.guest, message, order=self._order, guest_size=self._guest_size or 0
            )
        )


@dataclass
class OtHostLink:
    """An OT-based PSI guest's state with one host (a method adds its own fields).

    Attributes
    ----------
    host : str
        The host.
    ot : RandomOtSender
        The base OTs' sender, whose point opens the run.
    own_values : numpy.ndarray
        This party's value for each of its ids with this host (``S<width>``).
    oprf : OprfReceiver or None
        The OT extension, once the host's base-OT points are in.
    host_size : int or None
        The host's announced set size, once its setup is in.
    next_block : int
        The next :class:`PsiOtColumns` block to send.
    host_items : dict of int to bytes
        The host's :class:`PsiHostItems` chunks received, by number.
    """

    host: str
    ot: RandomOtSender
    own_values: Values
    oprf: OprfReceiver | None = None
    host_size: int | None = None
    next_block: int = 0
    host_items: dict[int, bytes] = field(default_factory=dict)


LinkT = TypeVar("LinkT", bound=OtHostLink)


class OtPsiGuest(Role, Generic[LinkT]):
    """The guest's steps that KKRT-PSI and VOLE-PSI share.

    The base of :class:`~protocols.psi.kkrt_guest.KkrtGuest` and
    :class:`~protocols.psi.vole_guest.VoleGuest`.

    Parameters
    ----------
    party, job_id, hosts, ids, settings
        As for :class:`~protocols.psi.kkrt_guest.KkrtGuest`; ``settings.method`` must
        be ``method``.
    method : str
        The method the subclass runs (``"kkrt"`` or ``"vole"``).

    A subclass fills ``_links`` (one :class:`OtHostLink` per host) and adds its
    ``start``, ``receive``, ``has_work``, ``work`` and ``progress``.

    Raises
    ------
    ProtocolError, DuplicateIdError
        As for :class:`~protocols.psi.kkrt_guest.KkrtGuest`.

    Examples
    --------
    See :class:`~protocols.psi.kkrt_guest.KkrtGuest` for a whole run:

    >>> from protocols.psi import PsiSettings, VoleGuest
    >>> guest = VoleGuest("guest", "job-1", hosts=["host"], ids=[b"ann"],
    ...                   settings=PsiSettings(method="vole"))
    >>> isinstance(guest, OtPsiGuest), guest.waiting_for
    (True, ['host'])
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        ids: Sequence[bytes],
        settings: PsiSettings,
        method: str,
    ) -> None:
        super().__init__(party, job_id)
        if settings.method != method:
            raise ProtocolError(
                f"{party}: {type(self).__name__} runs method {method!r}, not {settings.method!r}"
            )
        self.settings = settings
        settings.check_hosts(len(hosts))
        self.hosts = checked_peers(party, hosts)
        self.ids = checked_ids(party, ids)
        self._label = f"{method.upper()}-PSI"
        self._salt = b""
        self._links: dict[str, LinkT] = {}
        self._started = False

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts this party still needs data from."""
        if self._done:  # (the hosts' chunks are dropped once joined)
            return []
        return [link.host for link in self._links.values() if not self._complete(link)]

    # shared steps -------------------------------------------------------------------
    def _setup_messages(self) -> list[Message]:
        """:class:`PsiSetup` and :class:`PsiOtSenderPoint` for every host."""
        messages: list[Message] = []
        for link in self._links.values():
            messages.append(
                PsiSetup(
                    job_id=self.job_id,
                    sender=self.party,
                    receiver=link.host,
                    method=self.settings.method,
                    output=self.settings.output,
                    salt=self._salt,
                    size=len(self.ids),
                    chunk_size=self.settings.chunk_size,
                )
            )
            messages.append(
                PsiOtSenderPoint(
                    job_id=self.job_id, sender=self.party, receiver=link.host, point=link.ot.point
                )
            )
        return messages

    def _link_for(self, message: Message) -> LinkT:
        """The sender's link; refuses a message before start, after the end or from a stranger."""
        if self._done or not self._started:
            raise self._unexpected(message, "finished" if self._done else "not started")
        link = self._links.get(message.sender)
        if link is None:
            raise ProtocolError(f"{self.party}: {message.sender!r} is not a host of this PSI")
        return link

    def _on_host_setup(self, link: LinkT, message: PsiHostSetup) -> None:
        if link.host_size is not None:
            raise self._unexpected(message, "already set up")
        if not 0 <= message.size <= MAX_SET_SIZE:
            raise ProtocolError(f"{self.party}: {link.host!r} announced {message.size} ids")
        if message.rsa_public_key:
            raise ProtocolError(f"{self.party}: {link.host!r} sent an RSA key for {self._label}")
        link.host_size = message.size

    def _on_ot_points(self, link: LinkT, message: PsiOtReceiverPoints) -> None:
        if link.oprf is not None:
            raise self._unexpected(message, "base OTs already done")
        try:
            pairs = link.ot.keys(message.points)
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent bad base-OT points: {error}"
            ) from error
        link.oprf = OprfReceiver(pairs, output_key(self._salt))

    def _take_host_items(self, link: LinkT, message: PsiHostItems, width: int) -> None:
        """Keep a host's chunk of ``width``-byte values (the caller checked it may come)."""
        chunk = message.batch
        assert link.host_size is not None
        chunks = self._host_chunks(link)
        if chunk in link.host_items or not 0 <= chunk < chunks:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent host chunk {chunk} again or out of range"
            )
        count = chunk_length(chunk, link.host_size, self.settings.chunk_size)
        if len(message.items) != count * width:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent {len(message.items)} bytes for its chunk "
                f"{chunk}, expected {count * width}"
            )
        link.host_items[chunk] = message.items

    def _host_chunks(self, link: LinkT) -> int:
        if link.host_size is None:
            return 0
        return chunk_count(link.host_size, self.settings.chunk_size)

    @abc.abstractmethod
    def _complete(self, link: LinkT) -> bool:
        """Whether everything with ``link``'s host is in."""

    # the end ------------------------------------------------------------------------
    def _all_complete(self) -> bool:
        return not self._done and all(self._complete(link) for link in self._links.values())

    def _peer_values(self, width: int) -> list[Values]:
        """Each host's ``width``-byte values, in host order; the chunks are dropped."""
        links = list(self._links.values())
        peers = [joined_values(link.host_items, self._host_chunks(link), width) for link in links]
        for link in links:  # joined: the chunks are copies
            link.host_items.clear()
        return peers

    def _finish_with(self, rows: npt.NDArray[np.int64]) -> None:
        """Finish with the common ``rows`` (in the agreed order) and every set's size."""
        sizes = {link.host: link.host_size or 0 for link in self._links.values()}
        self._finish(PsiOutcome(rows, len(rows), len(self.ids), sizes))
