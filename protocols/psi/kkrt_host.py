"""A host's side of KKRT-PSI (see :mod:`protocols.psi.kkrt_guest` for the message flow)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crypto.ot_extension import HASH_FUNCTIONS, OUTPUT_BYTES
from protocols.messages import (
    Message,
    PsiDone,
    PsiOtColumns,
    PsiOtSenderPoint,
    PsiPositions,
    PsiSetup,
)
from protocols.psi.cuckoo import bin_count
from protocols.psi.guest import chunk_count
from protocols.psi.kkrt_guest import HOST_ITEM_BYTES, block_bins
from protocols.psi.kkrt_hashes import bin_positions, code_words
from protocols.psi.ot_roles import OtPsiHost
from protocols.psi.packed import PackedIds
from protocols.psi.settings import PsiSettings

__all__ = ["KkrtHost"]


class KkrtHost(OtPsiHost):
    """A host's side of KKRT-PSI (``PsiSettings(method="kkrt")``).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings
        The job's PSI parameters (``method="kkrt"``); the guest's setup must agree.

    The result is a :class:`~protocols.psi.outcome.PsiOutcome` whose ``rows`` index
    ``ids`` (``None`` unless the output is ``"both"``).

    Raises
    ------
    ProtocolError
        If ``guest`` is this party or the settings are not KKRT's.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    With output ``"guest"`` the host learns only the guest's set size:

    >>> from protocols.psi import KkrtGuest, PsiSettings
    >>> settings = PsiSettings(method="kkrt", output="guest")
    >>> guest = KkrtGuest("guest", "job-1", hosts=["host"], ids=[b"ann", b"bob"],
    ...                   settings=settings)
    >>> host = KkrtHost("host", "job-1", guest="guest", ids=[b"bob", b"cid", b"dan"],
    ...                 settings=settings)
    >>> roles = {"guest": guest, "host": host}
    >>> queue = [message for role in roles.values() for message in role.start()]
    >>> while queue or guest.has_work or host.has_work:
    ...     if queue:
    ...         message = queue.pop(0)
    ...         queue += roles[message.receiver].receive(message)
    ...     else:
    ...         queue += next(role for role in roles.values() if role.has_work).work()
    >>> host.result
    PsiOutcome(rows=None, size=None, own_size=3, peer_sizes={'guest': 2})
    >>> [guest.ids[row] for row in guest.result.rows]
    [b'bob']
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        guest: str,
        ids: Sequence[bytes],
        settings: PsiSettings,
    ) -> None:
        super().__init__(
            party,
            job_id,
            guest=guest,
            ids=ids,
            settings=settings,
            method="kkrt",
            block=block_bins(settings),
        )
        self._bins = 0
        self._shuffled = PackedIds(())
        self._flat_bins = np.empty(0, dtype=np.int64)
        self._by_bin = np.empty(0, dtype=np.int64)
        self._sorted_bins = np.empty(0, dtype=np.int64)
        self._values = np.empty((0, OUTPUT_BYTES), dtype=np.uint8)

    # Role contract (start and waiting_for: OtPsiHost) ---------------------------------
    def receive(self, message: Message) -> list[Message]:
        """Take the guest's setup, base-OT point, matrix blocks and the final message.

        Parameters
        ----------
        message : Message
            :class:`PsiSetup`, :class:`PsiOtSenderPoint`, :class:`PsiOtColumns`,
            :class:`PsiPositions` or :class:`PsiDone` from the guest.

        Returns
        -------
        list of Message
            Always empty: the host's answers are made by :meth:`work`.

        Raises
        ------
        ProtocolError
            If the message is unexpected, malformed or disagrees with this
            party's settings.
        """
        self._check_incoming(message)
        if isinstance(message, PsiSetup):
            self._on_setup(message)
        elif isinstance(message, PsiOtSenderPoint):
            self._on_ot_point(message)
        elif isinstance(message, PsiOtColumns):
            self._on_columns(message, self._bins)
        elif isinstance(message, PsiPositions | PsiDone):
            self._on_last(message)
        else:
            raise self._unexpected(message, "running KKRT-PSI")
        return []

    @property
    def has_work(self) -> bool:
        """Whether own ids can be hashed, a block processed, or the values sent."""
        if self._salt is None or self._sent or self._done:
            return False
        return not self._hashed or bool(self._pending) or self._processed == self._blocks

    def work(self) -> list[Message]:
        """Hash this party's ids, else evaluate the PRF on the next block, else send.

        Returns
        -------
        list of Message
            Nothing, or every :class:`PsiHostItems` chunk once all blocks are in.
        """
        if not self._hashed:
            self._hash_ids()
            return []
        if self._pending:
            self._process(*self._pending.popleft())
            return []
        if self._processed == self._blocks and not self._sent:
            return self._send_values()
        return []

    @property
    def progress(self) -> tuple[int, int]:
        """``(blocks processed, blocks in all + 1)``."""
        total = self._blocks + 1
        if self._done:
            return total, total
        return self._processed + int(self._sent), total

    # steps --------------------------------------------------------------------------
    def _on_setup(self, message: PsiSetup) -> None:
        self._check_setup(message)
        self._guest_size = message.size
        self._bins = bin_count(message.size)
        self._blocks = chunk_count(self._bins, self._block)
        self._salt = message.salt

    def _hash_ids(self) -> None:
        assert self._salt is not None
        self._shuffled = PackedIds(map(self.ids.__getitem__, self._order))  # compact
        positions = bin_positions(self._shuffled, self._salt, self._bins)  # code words: per block
        self._flat_bins = positions.reshape(-1)  # item-major: entry 3 k + i
        self._by_bin = np.argsort(self._flat_bins, kind="stable")
        self._sorted_bins = self._flat_bins[self._by_bin]
        self._values = np.empty((len(self._flat_bins), OUTPUT_BYTES), dtype=np.uint8)
        self._hashed = True

    def _process(self, block: int, columns: bytes) -> None:
        assert self._oprf is not None and self._salt is not None
        start, q_rows = self._q_rows(block, columns)
        low, high = np.searchsorted(self._sorted_bins, [start, start + len(q_rows)])
        entries = self._by_bin[low:high]
        bins = self._flat_bins[entries]
        items, functions = np.divmod(entries, HASH_FUNCTIONS)  # entry 3 k + i: item k, function i
        codes = code_words(self._shuffled, items, functions, self._salt, self._bins)
        outputs = self._oprf.outputs(q_rows[bins - start], bins, codes)
        self._values[entries] = np.frombuffer(outputs, dtype=np.uint8).reshape(-1, OUTPUT_BYTES)
        self._processed += 1

    def _send_values(self) -> list[Message]:
        self._sent = True
        return self._item_messages(self._values.reshape(len(self.ids), HOST_ITEM_BYTES))

    def _all_received(self) -> bool:
        # the guest can only finish once it has every block: with no host ids it
        # finishes before this party has processed them (there is nothing to send)
        return self._salt is not None and self._received == self._blocks
