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

import numpy as np
import numpy.typing as npt

from crypto.ot import RandomOtSender
from crypto.ot_extension import CODE_BITS, CODE_BYTES, HASH_FUNCTIONS, OUTPUT_BYTES
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiHostItems,
    PsiHostSetup,
    PsiOtColumns,
    PsiOtReceiverPoints,
)
from protocols.psi.closing import closing_messages
from protocols.psi.cuckoo import CuckooError, bin_count, cuckoo_table
from protocols.psi.guest import SALT_BYTES, chunk_count
from protocols.psi.kkrt_hashes import bin_positions, code_words
from protocols.psi.matching import as_values, intersect_rows
from protocols.psi.ot_roles import OtHostLink, OtPsiGuest, output_key
from protocols.psi.settings import PsiSettings

__all__ = ["HOST_ITEM_BYTES", "KkrtGuest", "block_bins", "output_key"]

HOST_ITEM_BYTES = 3 * OUTPUT_BYTES
"""Bytes per host id in :class:`PsiHostItems`: one PRF value per candidate bin."""
SALT_ATTEMPTS = 16
"""Salts the guest tries before giving up on cuckoo hashing (one nearly always works)."""
_ORDER_LABEL = b"VFL-OTPSI-V01 order"


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


class KkrtGuest(OtPsiGuest[OtHostLink]):
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
    A whole run goes as for :class:`~protocols.psi.vole_guest.VoleGuest` (see also
    :class:`~protocols.psi.kkrt_host.KkrtHost`); the guest opens with its setup and
    its base-OT point for every host:

    >>> from protocols.psi import PsiSettings
    >>> guest = KkrtGuest("guest", "job-1", hosts=["h1", "h2"], ids=[b"ann", b"bob"],
    ...                   settings=PsiSettings(method="kkrt"))
    >>> [(message.kind.name, message.receiver) for message in guest.start()]
    [('PSI_SETUP', 'h1'), ('PSI_OT_SENDER', 'h1'), ('PSI_SETUP', 'h2'), ('PSI_OT_SENDER', 'h2')]
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
        super().__init__(party, job_id, hosts=hosts, ids=ids, settings=settings, method="kkrt")
        self._bins = bin_count(len(self.ids))
        self._block = block_bins(settings)
        self._blocks = chunk_count(self._bins, self._block)
        self._positions = np.empty((0, HASH_FUNCTIONS), dtype=np.int64)
        self._table = np.empty(0, dtype=np.int64)
        self._links = {
            host: OtHostLink(
                host,
                RandomOtSender(CODE_BITS),
                np.zeros(len(self.ids), dtype=f"S{OUTPUT_BYTES}"),
            )
            for host in self.hosts
        }

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
        return self._setup_messages()

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
        link = self._link_for(message)
        if isinstance(message, PsiHostSetup):
            self._on_host_setup(link, message)
        elif isinstance(message, PsiOtReceiverPoints):
            self._on_ot_points(link, message)
        elif isinstance(message, PsiHostItems):
            if link.host_size is None:
                raise self._unexpected(message, "waiting for the host's setup")
            self._take_host_items(link, message, HOST_ITEM_BYTES)
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

    def _can_send(self, link: OtHostLink) -> bool:
        return link.oprf is not None and link.next_block < self._blocks

    def _columns(self, link: OtHostLink) -> Message:
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

    def _complete(self, link: OtHostLink) -> bool:
        return (
            link.host_size is not None
            and link.next_block == self._blocks
            and len(link.host_items) == self._host_chunks(link)
        )

    def _finish_if_complete(self) -> list[Message]:
        if not self._all_complete():
            return []
        peers = self._peer_values(OUTPUT_BYTES)  # three values per host id
        own = [link.own_values for link in self._links.values()]
        rows = self._agreed_order(intersect_rows(own, peers))
        self._finish_with(rows)
        common = None if self.settings.output == "guest" else (rows, own, peers, HASH_FUNCTIONS)
        return closing_messages(self.job_id, self.party, list(self._links), common)
