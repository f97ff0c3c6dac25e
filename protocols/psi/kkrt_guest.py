"""The guest's side of KKRT-PSI: an oblivious PRF from OT extension, one or more hosts.

With each host ``j`` (all public-key work is in step 2, 512 base OTs):

1. guest -> host :class:`PsiSetup` (method ``"kkrt"``, output, salt, sizes) and
   :class:`PsiOtSenderPoint`; host -> guest :class:`PsiHostSetup` (its size) and
   :class:`PsiOtReceiverPoints`;
2. both derive the base-OT seeds (:mod:`crypto.ot`); the guest holds every pair,
   the host one seed of each, chosen by its secret ``s``;
3. the guest has put its ids in bins by cuckoo hashing (:mod:`protocols.psi.cuckoo`)
   and sends, block by block of bins, the OT-extension matrix
   (:class:`PsiOtColumns`); it keeps the PRF value ``F(j, x)`` of each of its ids;
4. host -> guest :class:`PsiHostItems`: for each of its ids, shuffled, the PRF
   values in its three candidate bins;
5. the guest intersects over all hosts, orders the common ids by a salted hash of
   the id (an order that depends on nothing but the common ids), and tells each host
   the positions of the common ids in the host's shuffled sequence
   (:class:`PsiPositions`, output ``"both"``) or only that it is over
   (:class:`PsiDone`, output ``"guest"``).

See ``SECURITY.md`` for what each message reveals and :mod:`crypto.ot_extension`
for the cryptography.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.ot import RandomOtSender
from crypto.ot_extension import (
    CODE_BITS,
    CODE_BYTES,
    HASH_FUNCTIONS,
    OUTPUT_BYTES,
    OprfReceiver,
)
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiHostItems,
    PsiHostSetup,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiOtSenderPoint,
    PsiSetup,
)
from protocols.psi.closing import closing_messages, joined_values
from protocols.psi.cuckoo import CuckooError, bin_count, cuckoo_table
from protocols.psi.guest import SALT_BYTES, chunk_count, chunk_length
from protocols.psi.kkrt_hashes import bin_positions, code_words
from protocols.psi.matching import as_values, intersect_rows
from protocols.psi.outcome import PsiOutcome
from protocols.psi.settings import PsiSettings
from protocols.psi.setup_checks import MAX_SET_SIZE, checked_ids, checked_peers
from protocols.roles import Role

__all__ = ["HOST_ITEM_BYTES", "KkrtGuest", "block_bins", "output_key"]

HOST_ITEM_BYTES = 3 * OUTPUT_BYTES
"""Bytes per host id in :class:`PsiHostItems`: one PRF value per candidate bin."""
SALT_ATTEMPTS = 16
"""Salts the guest tries before giving up on cuckoo hashing (one nearly always works)."""
_OUTPUT_KEY_LABEL = b"VFL-OTPSI-V01 output key"
_ORDER_LABEL = b"VFL-OTPSI-V01 order"


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


def block_bins(settings: PsiSettings) -> int:
    """Bins per :class:`PsiOtColumns` block: ``chunk_size`` rounded up to 128.

    Parameters
    ----------
    settings : PsiSettings
        The job's settings.

    Returns
    -------
    int
        A multiple of 128 (each block is ``64 * bins`` bytes).

    Examples
    --------
    >>> block_bins(PsiSettings(method="kkrt", chunk_size=1000))
    1024
    """
    return -(-settings.chunk_size // 128) * 128


@dataclass
class _HostLink:
    """The guest's state with one host."""

    host: str
    ot: RandomOtSender
    own_values: npt.NDArray[np.bytes_]
    oprf: OprfReceiver | None = None
    host_size: int | None = None
    next_block: int = 0
    host_items: dict[int, bytes] = field(default_factory=dict)


class KkrtGuest(Role):
    """The guest's side of KKRT-PSI (``PsiSettings(method="kkrt")``).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts, in the order their results are reported.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings
        The job's PSI parameters (``method="kkrt"``).

    The result is a :class:`~protocols.psi.outcome.PsiOutcome` whose ``rows`` index
    ``ids``.

    Raises
    ------
    ProtocolError
        If the hosts are not distinct other parties, or the settings are not KKRT's.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    >>> from protocols.psi import KkrtHost, PsiSettings
    >>> settings = PsiSettings(method="kkrt")
    >>> guest = KkrtGuest("guest", "job-1", hosts=["host"], ids=[b"ann", b"bob", b"cid"],
    ...                   settings=settings)
    >>> host = KkrtHost("host", "job-1", guest="guest", ids=[b"dan", b"cid", b"ann"],
    ...                 settings=settings)
    >>> roles = {"guest": guest, "host": host}
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue or guest.has_work or host.has_work:
    ...     if queue:
    ...         message = queue.pop(0)
    ...         queue += roles[message.receiver].receive(message)
    ...     else:
    ...         queue += next(role for role in roles.values() if role.has_work).work()
    >>> [guest.ids[row] for row in guest.result.rows] == [
    ...     host.ids[row] for row in host.result.rows
    ... ]  # the same customers, in the same order
    True
    >>> sorted(guest.ids[row] for row in guest.result.rows)
    [b'ann', b'cid']
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        ids: Sequence[bytes],
        settings: PsiSettings,
    ) -> None:
        super().__init__(party, job_id)
        if settings.method != "kkrt":
            raise ProtocolError(f"{party}: KkrtGuest runs method 'kkrt', not {settings.method!r}")
        self.settings = settings
        settings.check_hosts(len(hosts))
        self.hosts = checked_peers(party, hosts)
        self.ids = checked_ids(party, ids)
        self._bins = bin_count(len(self.ids))
        self._block = block_bins(settings)
        self._blocks = chunk_count(self._bins, self._block)
        self._salt = b""
        self._positions = np.empty((0, HASH_FUNCTIONS), dtype=np.int64)
        self._table = np.empty(0, dtype=np.int64)
        self._links = {
            host: _HostLink(
                host,
                RandomOtSender(CODE_BITS),
                np.zeros(len(self.ids), dtype=f"S{OUTPUT_BYTES}"),
            )
            for host in self.hosts
        }
        self._started = False

    # Role contract ------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Hash the ids into bins and send every host the setup and the base-OT point.

        Returns
        -------
        list of Message
            :class:`PsiSetup` and :class:`PsiOtSenderPoint` for every host.

        Raises
        ------
        ProtocolError
            If called twice, or cuckoo hashing fails under every salt tried.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        self._place_ids()
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

    def receive(self, message: Message) -> list[Message]:
        """Take a host's setup, base-OT points or PRF values.

        Parameters
        ----------
        message : Message
            :class:`PsiHostSetup`, :class:`PsiOtReceiverPoints` or :class:`PsiHostItems`.

        Returns
        -------
        list of Message
            Once every host's values are in: :class:`PsiPositions` or
            :class:`PsiDone` for every host; else nothing.

        Raises
        ------
        ProtocolError
            If the message is unexpected or malformed.
        """
        if self._done or not self._started:
            raise self._unexpected(message, "finished" if self._done else "not started")
        link = self._links.get(message.sender)
        if link is None:
            raise ProtocolError(f"{self.party}: {message.sender!r} is not a host of this PSI")
        if isinstance(message, PsiHostSetup):
            self._on_host_setup(link, message)
        elif isinstance(message, PsiOtReceiverPoints):
            self._on_ot_points(link, message)
        elif isinstance(message, PsiHostItems):
            self._on_host_items(link, message)
        else:
            raise self._unexpected(message, "running KKRT-PSI")
        return self._finish_if_complete()

    @property
    def has_work(self) -> bool:
        """Whether a block of the OT-extension matrix can be sent to a host."""
        return not self._done and any(self._can_send(link) for link in self._links.values())

    def work(self) -> list[Message]:
        """Make and send the next block of bins to a host.

        Returns
        -------
        list of Message
            One :class:`PsiOtColumns`, or the final messages once complete.
        """
        for link in self._links.values():
            if self._can_send(link):
                message = self._columns(link)
                return [message, *self._finish_if_complete()]
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts this party still needs data from."""
        if self._done:  # (the hosts' chunks are dropped once joined)
            return []
        return [link.host for link in self._links.values() if not self._complete(link)]

    @property
    def progress(self) -> tuple[int, int]:
        """``(blocks sent and host chunks received, all of them)`` over every host."""
        done = total = 0
        for link in self._links.values():
            total += self._blocks + self._host_chunks(link)
            done += link.next_block + len(link.host_items)
        return (total, total) if self._done else (done, max(total, 1))

    # steps --------------------------------------------------------------------------
    def _place_ids(self) -> None:
        for _ in range(SALT_ATTEMPTS):
            salt = secrets.token_bytes(SALT_BYTES)
            positions = bin_positions(self.ids, salt, self._bins)  # code words: per block
            try:
                self._table = cuckoo_table(positions, self._bins)
            except CuckooError:
                continue
            self._salt, self._positions = salt, positions
            return
        raise ProtocolError(
            f"{self.party}: cuckoo hashing failed under {SALT_ATTEMPTS} salts; this should "
            "never happen: report it"
        )

    def _can_send(self, link: _HostLink) -> bool:
        return link.oprf is not None and link.next_block < self._blocks

    def _columns(self, link: _HostLink) -> Message:
        assert link.oprf is not None
        block = link.next_block
        start = block * self._block
        count = min(self._block, self._bins - start)
        rows = np.frombuffer(secrets.token_bytes(count * CODE_BYTES), dtype=np.uint8)
        rows = rows.reshape(count, CODE_BYTES).copy()  # random rows for the empty bins
        occupants = self._table[start : start + count]
        filled = np.flatnonzero(occupants >= 0)
        items = occupants[filled]
        # the code word of the hash function that put the item in this bin
        functions = np.argmax(self._positions[items] == (filled + start)[:, None], axis=1)
        rows[filled] = code_words(self.ids, items, functions, self._salt, self._bins)
        columns, t_rows = link.oprf.columns(start, rows)
        values = link.oprf.outputs(t_rows[filled], filled + start)
        link.own_values[items] = as_values(values, OUTPUT_BYTES)
        link.next_block += 1
        return PsiOtColumns(
            job_id=self.job_id, sender=self.party, receiver=link.host, batch=block, columns=columns
        )

    def _on_host_setup(self, link: _HostLink, message: PsiHostSetup) -> None:
        if link.host_size is not None:
            raise self._unexpected(message, "already set up")
        if not 0 <= message.size <= MAX_SET_SIZE:
            raise ProtocolError(f"{self.party}: {link.host!r} announced {message.size} ids")
        if message.rsa_public_key:
            raise ProtocolError(f"{self.party}: {link.host!r} sent an RSA key for KKRT-PSI")
        link.host_size = message.size

    def _on_ot_points(self, link: _HostLink, message: PsiOtReceiverPoints) -> None:
        if link.oprf is not None:
            raise self._unexpected(message, "base OTs already done")
        try:
            pairs = link.ot.keys(message.points)
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent bad base-OT points: {error}"
            ) from error
        link.oprf = OprfReceiver(pairs, output_key(self._salt))

    def _on_host_items(self, link: _HostLink, message: PsiHostItems) -> None:
        chunk = message.batch
        if link.host_size is None:
            raise self._unexpected(message, "waiting for the host's setup")
        chunks = self._host_chunks(link)
        if chunk in link.host_items or not 0 <= chunk < chunks:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent host chunk {chunk} again or out of range"
            )
        count = chunk_length(chunk, link.host_size, self.settings.chunk_size)
        if len(message.items) != count * HOST_ITEM_BYTES:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent {len(message.items)} bytes for its chunk "
                f"{chunk}, expected {count * HOST_ITEM_BYTES}"
            )
        link.host_items[chunk] = message.items

    # the end ------------------------------------------------------------------------
    def _agreed_order(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """``rows`` sorted by a salted hash of their ids.

        Every party learns the common ids with output ``"both"``, so an order that
        depends only on them reveals nothing more; an order by PRF value would tell
        a host which of its three values matched, i.e. which bin each common id
        occupies in this party's cuckoo table (which depends on its other ids).
        """
        prefix = hashlib.sha256(_ORDER_LABEL + self._salt)
        keys = []
        for row in rows.tolist():
            digest = prefix.copy()
            digest.update(self.ids[row])
            keys.append(digest.digest())
        order = np.argsort(np.array(keys, dtype="S32"), kind="stable")
        return rows[order]

    def _host_chunks(self, link: _HostLink) -> int:
        if link.host_size is None:
            return 0
        return chunk_count(link.host_size, self.settings.chunk_size)

    def _complete(self, link: _HostLink) -> bool:
        return (
            link.host_size is not None
            and link.next_block == self._blocks
            and len(link.host_items) == self._host_chunks(link)
        )

    def _finish_if_complete(self) -> list[Message]:
        if self._done or not all(self._complete(link) for link in self._links.values()):
            return []
        links = list(self._links.values())
        peers = [
            joined_values(link.host_items, self._host_chunks(link), OUTPUT_BYTES) for link in links
        ]
        for link in links:  # joined: the chunks are copies (48 bytes per host id)
            link.host_items.clear()
        own = [link.own_values for link in links]
        rows = self._agreed_order(intersect_rows(own, peers))
        sizes = {link.host: link.host_size or 0 for link in links}
        self._finish(PsiOutcome(rows, len(rows), len(self.ids), sizes))
        common = None if self.settings.output == "guest" else (rows, own, peers, HASH_FUNCTIONS)
        return closing_messages(self.job_id, self.party, [link.host for link in links], common)
