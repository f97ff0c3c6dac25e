"""A host's side of VOLE-PSI (see :mod:`protocols.psi.vole_guest` for the message flow)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from crypto.gf128 import ConstantMultiplier
from crypto.okvs import DENSE_COLUMNS, GarbledCuckooTable, okvs_size
from crypto.random_ot import bit_codes, both_pads
from crypto.vole import VoleParameters, VoleSender, random_delta
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiDone,
    PsiOkvsCells,
    PsiOtColumns,
    PsiOtSenderPoint,
    PsiPositions,
    PsiSetup,
    PsiVoleCorrections,
)
from protocols.psi.guest import chunk_count, chunk_length
from protocols.psi.ot_roles import OtPsiHost, output_key
from protocols.psi.settings import PsiSettings
from protocols.psi.vole_guest import ot_block, ot_layout
from protocols.psi.vole_items import item_digests, output_tags, segment_bounds, tag_key, vole_key

__all__ = ["MAX_GUEST_IDS", "VoleHost"]

_OKVS_KEY_BYTES = 16
MAX_GUEST_IDS = 1 << 28
"""Most guest ids a VOLE-PSI host accepts: it holds ``K`` (16 bytes per OKVS cell, ~21
bytes per guest id) and the random-OT pads, ~6 GiB at this size; a larger announced set
is refused before anything is allocated."""


class VoleHost(OtPsiHost):
    """A host's side of VOLE-PSI (``PsiSettings(method="vole")``).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings
        The job's PSI parameters (``method="vole"``); the guest's setup must agree.

    The result is a :class:`~protocols.psi.outcome.PsiOutcome` whose ``rows`` index
    ``ids`` (``None`` unless the output is ``"both"``).

    Raises
    ------
    ProtocolError
        If ``guest`` is this party or the settings are not VOLE's.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    A whole run goes as for :class:`~protocols.psi.kkrt_host.KkrtHost` (see also
    :class:`~protocols.psi.vole_guest.VoleGuest`); the host opens with its size and
    its base-OT points:

    >>> from protocols.psi import PsiSettings
    >>> host = VoleHost("host", "job-1", guest="guest", ids=[b"bob", b"cid"],
    ...                 settings=PsiSettings(method="vole"))
    >>> [(message.kind.name, message.receiver) for message in host.start()]
    [('PSI_HOST_SETUP', 'guest'), ('PSI_OT_RECEIVER', 'guest')]
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
            method="vole",
            block=ot_block(settings),
        )
        self._delta = random_delta()
        self._times_delta = ConstantMultiplier(self._delta)
        self._cells = 0
        self._segments: list[tuple[int, int]] = []
        self._params: list[VoleParameters] = []
        self._offsets: list[int] = []
        self._ot_total = 0
        self._cell_chunks = 0
        self._pad0 = np.empty((0, 2), dtype=np.uint64)
        self._pad1 = np.empty((0, 2), dtype=np.uint64)
        self._next_segment = 0
        self._senders: list[VoleSender | None] = []
        self._compressed = 0
        self._k = np.empty((0, 2), dtype=np.uint64)
        self._okvs_key: bytes | None = None
        self._cells_pending: deque[tuple[int, bytes]] = deque()
        self._cells_in = 0
        self._cells_done = 0
        self._digests = np.empty((0, 2), dtype=np.uint64)
        self._masks = np.empty((0, 2), dtype=np.uint64)

    def __repr__(self) -> str:
        return f"<VoleHost {self.party} ids={len(self.ids)} (secret)>"

    # Role contract (start and waiting_for: OtPsiHost) ---------------------------------
    def receive(self, message: Message) -> list[Message]:
        """Take the guest's setup, base-OT point, OT blocks, OKVS cells and the last message.

        Parameters
        ----------
        message : Message
            :class:`PsiSetup`, :class:`PsiOtSenderPoint`, :class:`PsiOtColumns`,
            :class:`PsiOkvsCells`, :class:`PsiPositions` or :class:`PsiDone`.

        Returns
        -------
        list of Message
            Always empty: the host's answers are made by :meth:`work`.

        Raises
        ------
        ProtocolError
            If the message is unexpected, malformed or disagrees with this party's
            settings.
        """
        self._check_incoming(message)
        if isinstance(message, PsiSetup):
            self._on_setup(message)
        elif isinstance(message, PsiOtSenderPoint):
            self._on_ot_point(message)
        elif isinstance(message, PsiOtColumns):
            self._on_columns(message, self._ot_total)
        elif isinstance(message, PsiOkvsCells):
            self._on_cells(message)
        elif isinstance(message, PsiPositions | PsiDone):
            self._on_last(message)
        else:
            raise self._unexpected(message, "running VOLE-PSI")
        return []

    @property
    def has_work(self) -> bool:
        """Whether a step can run now (see :meth:`work`)."""
        return self._next_step() is not None

    def work(self) -> list[Message]:
        """Hash own ids, process an OT block, make a VOLE, take cells, or send the tags.

        Returns
        -------
        list of Message
            A :class:`PsiVoleCorrections`, every :class:`PsiHostItems` chunk at the
            end, or nothing.
        """
        step = self._next_step()
        if step == "hash":
            self._hash_ids()
        elif step == "expand":
            self._expand_vole()
        elif step == "compress":
            self._compress_vole()
        elif step == "block":
            self._process_block(*self._pending.popleft())
        elif step == "vole":
            return [self._make_vole()]
        elif step == "cells":
            self._take_cells(*self._cells_pending.popleft())
        elif step == "send":
            return self._send_tags()
        return []

    @property
    def progress(self) -> tuple[int, int]:
        """``(steps done, steps)``: OT blocks, VOLEs, cell chunks and the tags."""
        total = self._blocks + len(self._params) + self._cell_chunks + 1
        if self._done:
            return total, total
        return self._processed + self._next_segment + self._cells_done + int(self._sent), total

    # steps --------------------------------------------------------------------------
    def _next_step(self) -> str | None:
        segments = len(self._params)
        if self._salt is None or self._sent or self._done:
            return None
        expanded = len(self._senders)
        if expanded == 0:
            return "expand"  # the first trees need no OT: expanded while the guest works
        if self._pending:
            return "block"
        if self._processed == self._blocks and self._next_segment < min(segments, expanded):
            return "vole"  # the guest waits for these corrections
        if expanded < segments and expanded - self._compressed < 2:
            return "expand"
        if not self._hashed:
            return "hash"  # own ids: needed only for the tags
        if self._compressed < expanded:
            return "compress"  # B (then the leaves go: at most two segments' leaves held)
        if self._cells_pending:
            return "cells"
        if self._cells_done == self._cell_chunks and self._next_segment == segments:
            return "send"
        return None

    def _on_setup(self, message: PsiSetup) -> None:
        self._check_setup(message)
        if message.size > MAX_GUEST_IDS:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} announced {message.size} ids; a "
                f"VOLE-PSI host holds about 22 bytes per guest id and accepts at most "
                f"{MAX_GUEST_IDS}: split the guest's set, or use method 'kkrt'"
            )
        self._guest_size = message.size
        self._cells = okvs_size(message.size) + DENSE_COLUMNS
        self._segments = segment_bounds(self._cells)
        self._params, self._offsets, self._ot_total = ot_layout(self._cells)
        self._blocks = chunk_count(self._ot_total, self._block)
        self._cell_chunks = chunk_count(self._cells, self.settings.chunk_size)
        self._salt = message.salt

    def _on_ot_point(self, message: PsiOtSenderPoint) -> None:
        super()._on_ot_point(message)
        self._pad0 = np.zeros((self._ot_total, 2), dtype=np.uint64)
        self._pad1 = np.zeros((self._ot_total, 2), dtype=np.uint64)

    def _on_cells(self, message: PsiOkvsCells) -> None:
        chunk = message.batch
        if self._next_segment < len(self._params):
            raise self._unexpected(message, "the VOLE is not finished")
        if chunk != self._cells_in or chunk >= self._cell_chunks:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent OKVS chunk {chunk}, expected "
                f"chunk {self._cells_in} of {self._cell_chunks} (again, out of order or out "
                "of range)"
            )
        if self._okvs_key is None:
            if len(message.key) != _OKVS_KEY_BYTES:
                raise ProtocolError(
                    f"{self.party}: the guest {self.guest!r} sent a {len(message.key)}-byte OKVS "
                    f"key, expected {_OKVS_KEY_BYTES}"
                )
            self._okvs_key = message.key
        elif message.key != self._okvs_key:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} changed the OKVS key in chunk {chunk}"
            )
        count = chunk_length(chunk, self._cells, self.settings.chunk_size)
        if len(message.cells) != 16 * count:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent {len(message.cells)} bytes in "
                f"OKVS chunk {chunk}, expected {16 * count}"
            )
        self._cells_in += 1
        self._cells_pending.append((chunk, message.cells))

    def _hash_ids(self) -> None:
        assert self._salt is not None
        values, digests = item_digests(self.ids, self._salt)  # in order, then shuffled
        self._digests = digests[self._order]
        self._masks = self._times_delta(values[self._order])  # Delta * H(y)
        self._hashed = True

    def _expand_vole(self) -> None:
        assert self._salt is not None
        segment = len(self._senders)
        sender = VoleSender(
            self._params[segment], self._delta, vole_key(self._salt, self.party, segment)
        )
        sender.expand()
        self._senders.append(sender)

    def _compress_vole(self) -> None:
        segment = self._compressed
        sender = self._senders[segment]
        assert sender is not None
        sender.compress()
        if segment == 0:
            self._k = np.empty((self._cells, 2), dtype=np.uint64)
        start, stop = self._segments[segment]
        self._k[start:stop] = sender.b
        self._compressed += 1
        if segment < self._next_segment:
            self._senders[segment] = None  # corrections sent and B kept: done with it

    def _process_block(self, block: int, columns: bytes) -> None:
        assert self._oprf is not None and self._salt is not None
        start, q_rows = self._q_rows(block, columns)
        pad0, pad1 = both_pads(self._oprf, q_rows, start, bit_codes(output_key(self._salt)))
        self._pad0[start : start + len(q_rows)] = pad0
        self._pad1[start : start + len(q_rows)] = pad1
        self._processed += 1

    def _make_vole(self) -> Message:
        assert self._salt is not None
        segment = self._next_segment
        params, offset = self._params[segment], self._offsets[segment]
        sender = self._senders[segment]
        assert sender is not None
        window = slice(offset, offset + params.ot_count)
        corrections = sender.corrections(self._pad0[window], self._pad1[window])
        if segment < self._compressed:
            self._senders[segment] = None
        self._next_segment += 1
        if self._next_segment == len(self._params):
            self._pad0 = self._pad1 = np.empty((0, 2), dtype=np.uint64)
        return PsiVoleCorrections(
            job_id=self.job_id,
            sender=self.party,
            receiver=self.guest,
            batch=segment,
            level_sums=corrections.level_sums,
            base_corrections=corrections.base_corrections,
            tree_sums=corrections.tree_sums,
        )

    def _take_cells(self, chunk: int, cells: bytes) -> None:
        size = self.settings.chunk_size
        values = np.frombuffer(cells, dtype="<u8").reshape(-1, 2)
        window = slice(chunk * size, chunk * size + len(values))
        self._k[window] ^= self._times_delta(values)  # K = B + (A + P) Delta = C + P Delta
        self._cells_done += 1

    def _send_tags(self) -> list[Message]:
        assert self._salt is not None and self._okvs_key is not None
        self._sent = True
        okvs = GarbledCuckooTable(self._cells - DENSE_COLUMNS, self._okvs_key)
        decoded = okvs.decode(self._k, self._digests) ^ self._masks
        tags = output_tags(decoded, tag_key(self._salt))
        self._k = self._masks = self._digests = np.empty((0, 2), dtype=np.uint64)
        return self._item_messages(tags)

    def _all_received(self) -> bool:
        return self._salt is not None and self._cells_in == self._cell_chunks
