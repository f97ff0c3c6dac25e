"""The guest's side of VOLE-PSI (RR22 class): a silent VOLE and an OKVS, one or more hosts.

The guest ``X`` learns the intersection; with each host ``Y`` (one VOLE per segment of
at most 2^21 OKVS cells, all under the host's one secret ``Delta``):

1. guest -> host :class:`PsiSetup` (method ``"vole"``, output, salt, size) and
   :class:`PsiOtSenderPoint`; host -> guest :class:`PsiHostSetup` and
   :class:`PsiOtReceiverPoints`: 512 base OTs (:mod:`crypto.ot`) for the KKRT OPRF,
   which gives the random OTs of the VOLE (:mod:`crypto.random_ot`);
2. guest -> host :class:`PsiOtColumns`, block by block: the OT-extension matrix, the
   guest choosing, per VOLE, the off-path side of each GGM level and the bits of its
   noise values (:mod:`crypto.vole`);
3. host -> guest :class:`PsiVoleCorrections` per segment; now the guest holds
   ``A, C`` and the host ``Delta, B = C + A Delta``;
4. the guest encodes ``P`` with ``Decode(P, x) = H(x)`` for its ids (an OKVS,
   :mod:`crypto.okvs`) and sends ``A + P`` in chunks (:class:`PsiOkvsCells`); the host
   computes ``K = B + (A + P) Delta = C + P Delta``;
5. host -> guest :class:`PsiHostItems`: for each of its ids ``y``, shuffled, the tag
   ``T(Decode(K, y) + Delta H(y))``, which for ``y`` in ``X`` equals the guest's
   ``T(Decode(C, y))`` and otherwise is pseudorandom (``Delta`` unknown to the guest);
6. the guest intersects over all hosts, orders the common ids by a salted hash of the
   id and closes as in KKRT-PSI (:class:`PsiPositions` or :class:`PsiDone`).

See ``SECURITY.md`` for what each message reveals.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.okvs import DENSE_COLUMNS, GarbledCuckooTable, okvs_size
from crypto.ot import RandomOtSender
from crypto.ot_extension import CODE_BITS
from crypto.random_ot import bit_codes, choice_rows, chosen_pads
from crypto.vole import VoleCorrections, VoleParameters, VoleReceiver
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiHostItems,
    PsiHostSetup,
    PsiOkvsCells,
    PsiOtColumns,
    PsiOtReceiverPoints,
    PsiPositions,
    PsiVoleCorrections,
)
from protocols.psi.closing import closing_messages
from protocols.psi.guest import SALT_BYTES, chunk_count
from protocols.psi.kkrt_guest import block_bins
from protocols.psi.ot_roles import OtHostLink, OtPsiGuest, output_key
from protocols.psi.settings import PsiSettings
from protocols.psi.tag_matching import match_tags_with_positions
from protocols.psi.vole_items import (
    TAG_BYTES,
    item_digests,
    output_tags,
    segment_bounds,
    tag_key,
    vole_key,
)

__all__ = ["MIN_OT_BLOCK", "OKVS_ATTEMPTS", "VoleGuest", "ot_block", "ot_layout"]

OKVS_ATTEMPTS = 16
"""OKVS keys the guest tries before giving up (one nearly always works)."""
MIN_OT_BLOCK = 8192
"""Fewest random-OT instances per :class:`PsiOtColumns` block (512 KiB): a VOLE needs
at least 45,000 instances, so tiny chunk sizes would mean hundreds of messages."""
_OKVS_KEY_BYTES = 16


def ot_block(settings: PsiSettings) -> int:
    """Random-OT instances per :class:`PsiOtColumns` block.

    ``chunk_size`` rounded up to 128, at least :data:`MIN_OT_BLOCK`.

    Examples
    --------
    >>> ot_block(PsiSettings(method="vole", chunk_size=10)), ot_block(PsiSettings(method="vole"))
    (8192, 16384)
    """
    return max(MIN_OT_BLOCK, block_bins(settings))


def ot_layout(cells: int) -> tuple[list[VoleParameters], list[int], int]:
    """Each VOLE's parameters, its first random-OT instance, and the instances in all.

    Parameters
    ----------
    cells : int
        OKVS cells (:func:`crypto.okvs.okvs_size` of the guest's set size).

    Returns
    -------
    params : list of VoleParameters
        One per segment (:func:`protocols.psi.vole_items.segment_bounds`).
    offsets : list of int
        First OT instance of each segment.
    total : int
        Instances in all, rounded up to a multiple of 128 (the OPRF's block unit).

    Examples
    --------
    >>> params, offsets, total = ot_layout(300)
    >>> offsets, total % 128, total >= params[0].ot_count
    ([0], 0, True)
    """
    params = [VoleParameters.for_size(stop - start) for start, stop in segment_bounds(cells)]
    offsets = []
    total = 0
    for p in params:
        offsets.append(total)
        total += p.ot_count
    return params, offsets, -(-total // 128) * 128


@dataclass
class _HostLink(OtHostLink):
    """The guest's state with one host: :class:`OtHostLink` and the VOLE's."""

    receivers: list[VoleReceiver] = field(default_factory=list)
    choices: npt.NDArray[np.uint8] = field(default_factory=lambda: np.empty(0, np.uint8))
    chosen: npt.NDArray[np.uint64] = field(default_factory=lambda: np.empty((0, 2), np.uint64))
    corrections: dict[int, VoleCorrections] = field(default_factory=dict)
    finished_segments: int = 0
    c: npt.NDArray[np.uint64] = field(default_factory=lambda: np.empty((0, 2), np.uint64))
    cells: npt.NDArray[np.uint64] = field(default_factory=lambda: np.empty((0, 2), np.uint64))
    next_chunk: int = 0


class VoleGuest(OtPsiGuest[_HostLink]):
    """The guest's side of VOLE-PSI (``PsiSettings(method="vole")``).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts, in the order their results are reported.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings
        The job's PSI parameters (``method="vole"``).

    The result is a :class:`~protocols.psi.outcome.PsiOutcome` whose ``rows`` index
    ``ids``.

    Raises
    ------
    ProtocolError
        If the hosts are not distinct other parties, or the settings are not VOLE's.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    >>> from protocols.psi import PsiSettings, VoleHost
    >>> settings = PsiSettings(method="vole")
    >>> guest = VoleGuest("guest", "job-1", hosts=["host"], ids=[b"ann", b"bob", b"cid"],
    ...                   settings=settings)
    >>> host = VoleHost("host", "job-1", guest="guest", ids=[b"dan", b"cid", b"ann"],
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
        super().__init__(party, job_id, hosts=hosts, ids=ids, settings=settings, method="vole")
        self._sparse_cells = okvs_size(len(self.ids))
        self._cells = self._sparse_cells + DENSE_COLUMNS
        self._segments = segment_bounds(self._cells)
        self._params, self._offsets, self._ot_total = ot_layout(self._cells)
        self._block = ot_block(settings)
        self._blocks = chunk_count(self._ot_total, self._block)
        self._cell_chunks = chunk_count(self._cells, settings.chunk_size)
        self._okvs_key = b""
        self._table = np.empty((0, 2), dtype=np.uint64)
        self._okvs: GarbledCuckooTable | None = None
        self._digests = np.empty((0, 2), dtype=np.uint64)
        self._encoded = False
        self._links = {
            host: _HostLink(host, RandomOtSender(CODE_BITS), np.empty(0, f"S{TAG_BYTES}"))
            for host in self.hosts
        }

    # Role contract ------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Send every host the setup and the base-OT point.

        Returns
        -------
        list of Message
            :class:`PsiSetup` and :class:`PsiOtSenderPoint` for every host.

        Raises
        ------
        ProtocolError
            If called twice.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        self._salt = secrets.token_bytes(SALT_BYTES)
        return self._setup_messages()

    def receive(self, message: Message) -> list[Message]:
        """Take a host's setup, base-OT points, VOLE corrections or tags.

        Parameters
        ----------
        message : Message
            :class:`PsiHostSetup`, :class:`PsiOtReceiverPoints`,
            :class:`PsiVoleCorrections` or :class:`PsiHostItems`.

        Returns
        -------
        list of Message
            Once every host's tags are in: :class:`PsiPositions` or :class:`PsiDone`
            for every host; else nothing.

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
        elif isinstance(message, PsiVoleCorrections):
            self._on_corrections(link, message)
        elif isinstance(message, PsiHostItems):
            if link.host_size is None or link.next_chunk < self._cell_chunks:
                raise self._unexpected(message, "still exchanging the VOLE and the OKVS")
            self._take_host_items(link, message, TAG_BYTES)
        else:
            raise self._unexpected(message, "running VOLE-PSI")
        return self._finish_if_complete()

    @property
    def has_work(self) -> bool:
        """Whether ids can be encoded, an OT block, a VOLE or a chunk of cells made."""
        if self._done or not self._started:
            return False
        return not self._encoded or any(self._next_step(link) for link in self._links.values())

    def work(self) -> list[Message]:
        """Do the next bounded step: encode, one OT block, one VOLE, or one cell chunk.

        Returns
        -------
        list of Message
            What the step produced (and the final messages once complete).
        """
        if not self._encoded:
            self._encode()
            return []
        for link in self._links.values():
            step = self._next_step(link)
            if step == "columns":
                return [self._columns(link), *self._finish_if_complete()]
            if step == "vole":
                self._finish_vole(link)
                return self._finish_if_complete()
            if step == "cells":
                return [self._cell_chunk(link), *self._finish_if_complete()]
        return []

    @property
    def progress(self) -> tuple[int, int]:
        """``(steps done, steps)`` over every host: OT blocks, VOLEs, cell and tag chunks."""
        done = total = 0
        for link in self._links.values():
            total += self._blocks + len(self._params) + self._cell_chunks + self._host_chunks(link)
            done += (
                link.next_block + link.finished_segments + link.next_chunk + len(link.host_items)
            )
        return (total, total) if self._done else (done, max(total, 1))

    # steps --------------------------------------------------------------------------
    def _encode(self) -> None:
        values, digests = item_digests(self.ids, self._salt)
        self._digests = digests
        for _ in range(OKVS_ATTEMPTS):
            key = secrets.token_bytes(_OKVS_KEY_BYTES)
            okvs = GarbledCuckooTable(self._sparse_cells, key)
            try:
                self._table = okvs.encode(digests, values)
            except CryptoError:
                continue  # below 2**-40: the 2-core could not be solved
            self._okvs_key = key
            self._okvs = okvs
            self._encoded = True
            return
        raise ProtocolError(
            f"{self.party}: the OKVS encoding failed under {OKVS_ATTEMPTS} keys; this "
            "should never happen: report it"
        )

    def _next_step(self, link: _HostLink) -> str | None:
        if link.oprf is not None and link.next_block < self._blocks:
            return "columns"
        if link.finished_segments < len(self._params):
            return "vole" if link.finished_segments in link.corrections else None
        if link.next_chunk < self._cell_chunks:
            return "cells"
        return None

    def _columns(self, link: _HostLink) -> Message:
        assert link.oprf is not None
        block = link.next_block
        start = block * self._block
        count = min(self._block, self._ot_total - start)
        codes = bit_codes(output_key(self._salt))
        columns, t_rows = link.oprf.columns(
            start, choice_rows(link.choices[start : start + count], codes)
        )
        link.chosen[start : start + count] = chosen_pads(link.oprf, t_rows, start)
        link.next_block += 1
        return PsiOtColumns(
            job_id=self.job_id, sender=self.party, receiver=link.host, batch=block, columns=columns
        )

    def _finish_vole(self, link: _HostLink) -> None:
        segment = link.finished_segments
        params = self._params[segment]
        offset = self._offsets[segment]
        corrections = link.corrections.pop(segment)
        try:
            a, c = link.receivers[segment].finish(
                link.chosen[offset : offset + params.ot_count], corrections
            )
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent bad VOLE corrections: {error}"
            ) from error
        start, stop = self._segments[segment]
        link.cells[start:stop] = a ^ self._table[start:stop]
        link.c[start:stop] = c
        link.finished_segments += 1
        if link.finished_segments == len(self._params):
            assert self._okvs is not None
            decoded = self._okvs.decode(link.c, self._digests)
            link.own_values = output_tags(decoded, tag_key(self._salt))
            link.c = np.empty((0, 2), dtype=np.uint64)
            link.receivers.clear()
            link.chosen = np.empty((0, 2), dtype=np.uint64)

    def _cell_chunk(self, link: _HostLink) -> Message:
        chunk = link.next_chunk
        size = self.settings.chunk_size
        cells = link.cells[chunk * size : (chunk + 1) * size]
        link.next_chunk += 1
        if link.next_chunk == self._cell_chunks:
            link.cells = np.empty((0, 2), dtype=np.uint64)
        return PsiOkvsCells(
            job_id=self.job_id,
            sender=self.party,
            receiver=link.host,
            batch=chunk,
            key=self._okvs_key,
            cells=np.ascontiguousarray(cells).tobytes(),
        )

    def _on_ot_points(self, link: _HostLink, message: PsiOtReceiverPoints) -> None:
        super()._on_ot_points(link, message)
        link.receivers = [
            VoleReceiver(params, vole_key(self._salt, link.host, segment))
            for segment, params in enumerate(self._params)
        ]
        link.choices = np.zeros(self._ot_total, dtype=np.uint8)
        for receiver, offset in zip(link.receivers, self._offsets, strict=True):
            link.choices[offset : offset + receiver.params.ot_count] = receiver.choices
        link.chosen = np.zeros((self._ot_total, 2), dtype=np.uint64)
        link.cells = np.zeros((self._cells, 2), dtype=np.uint64)
        link.c = np.zeros((self._cells, 2), dtype=np.uint64)

    def _on_corrections(self, link: _HostLink, message: PsiVoleCorrections) -> None:
        segment = message.batch
        if link.next_block < self._blocks:
            raise self._unexpected(message, "still sending OT blocks")
        if segment != link.finished_segments + len(link.corrections) or segment >= len(
            self._params
        ):
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent VOLE corrections for segment {segment} "
                f"again, out of order or out of range ({len(self._params)} segments)"
            )
        corrections = VoleCorrections(
            message.level_sums, message.base_corrections, message.tree_sums
        )
        try:
            corrections.check(self._params[segment])
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent malformed VOLE corrections: {error}"
            ) from error
        link.corrections[segment] = corrections

    # the end ------------------------------------------------------------------------
    def _agreed_order(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The order of ``rows`` by their ids' salted digests (depends on the common ids only)."""
        keys = self._digests[rows]
        return np.lexsort((keys[:, 0], keys[:, 1]))

    def _complete(self, link: _HostLink) -> bool:
        return (
            link.host_size is not None
            and link.next_chunk == self._cell_chunks
            and len(link.host_items) == self._host_chunks(link)
        )

    def _finish_if_complete(self) -> list[Message]:
        if not self._all_complete():
            return []
        links = list(self._links.values())
        own = [link.own_values for link in links]
        common, found = match_tags_with_positions(own, self._peer_values(TAG_BYTES))
        order = self._agreed_order(common)
        rows = common[order]
        self._finish_with(rows)
        if self.settings.output == "guest":
            return closing_messages(self.job_id, self.party, list(self._links), None)
        return [
            PsiPositions(
                job_id=self.job_id,
                sender=self.party,
                receiver=link.host,
                positions=positions[order],
            )
            for link, positions in zip(links, found, strict=True)
        ]
