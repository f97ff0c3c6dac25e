"""The guest's side of PSI: drives the protocol with every host and decides the order.

With each host ``j`` the guest (secret per host) and the host (its own secret)
exchange chunks of shuffled items:

1. guest -> host :class:`PsiSetup` (method, output, a fresh salt, sizes);
   host -> guest :class:`PsiHostSetup` (its size; its RSA public key for RSA-PSI);
2. guest -> host :class:`PsiGuestItems`: its ids, shuffled and blinded;
   host -> guest :class:`PsiProcessedItems`: the same items under the host's
   secret, in the same order (re-shuffled over the whole set for cardinality);
3. host -> guest :class:`PsiHostItems`: the host's own ids, shuffled and blinded;
4. the guest turns both into comparable values, intersects over all hosts, orders
   the common ids by their comparable value with the first host, and tells each
   host the positions of the common ids in the host's own shuffled sequence
   (:class:`PsiPositions`, output ``"both"``) or only that it is over
   (:class:`PsiDone`).

See ``SECURITY.md`` for what each message reveals.
"""

from __future__ import annotations

import math
import secrets
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crypto.exceptions import CryptoError
from crypto.permutation import secure_permutation
from crypto.rsa_blind import RsaBlindPublicKey
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiGuestItems,
    PsiHostItems,
    PsiHostSetup,
    PsiProcessedItems,
    PsiSetup,
)
from protocols.psi.ciphers import (
    COMPARABLE_BYTES,
    EcdhGuestCipher,
    GuestCipher,
    RsaGuestCipher,
)
from protocols.psi.closing import closing_messages, joined_values
from protocols.psi.matching import as_values, intersect_rows
from protocols.psi.outcome import PsiOutcome
from protocols.psi.settings import PsiSettings
from protocols.psi.setup_checks import MAX_SET_SIZE, checked_ids, checked_peers
from protocols.roles import Role

__all__ = ["MAX_SET_SIZE", "SALT_BYTES", "PsiGuest"]

SALT_BYTES = 32
MIN_STRICT_RSA_BITS = 2048


def chunk_count(size: int, chunk_size: int) -> int:
    """Number of chunks of ``chunk_size`` items that ``size`` items take."""
    return math.ceil(size / chunk_size)


def chunk_length(index: int, size: int, chunk_size: int) -> int:
    """Number of items in chunk ``index``."""
    return min(chunk_size, size - index * chunk_size)


@dataclass
class _HostLink:
    """The guest's state with one host."""

    host: str
    order: npt.NDArray[np.int64]
    values: bytearray
    cipher: GuestCipher | None = None
    host_size: int | None = None
    next_chunk: int = 0
    awaiting: set[int] = field(default_factory=set)
    processed: int = 0
    host_values: dict[int, bytes] = field(default_factory=dict)
    host_pending: deque[tuple[int, bytes]] = field(default_factory=deque)
    host_seen: set[int] = field(default_factory=set)


class PsiGuest(Role):
    """The guest's side of :mod:`protocols.psi` (ECDH or RSA, one or more hosts).

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    hosts : sequence of str
        The hosts, in the order their results are reported.
    ids : sequence of bytes
        This party's ids, unique (see :func:`protocols.psi.inputs.canonical_ids`).
    settings : PsiSettings
        The job's PSI parameters.

    The result (:attr:`result`) is a :class:`~protocols.psi.outcome.PsiOutcome` whose
    ``rows`` index ``ids``.

    Raises
    ------
    ProtocolError
        If the hosts are not distinct other parties, or the settings cannot serve
        them.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    A guest and one host; the caller moves the messages and runs queued work:

    >>> from protocols.psi import PsiHost
    >>> guest = PsiGuest("guest", "job-1", hosts=["host"], ids=[b"ann", b"bob", b"cid"])
    >>> host = PsiHost("host", "job-1", guest="guest", ids=[b"dan", b"cid", b"ann"])
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
    >>> sorted(guest.ids[row] for row in guest.result.rows), guest.result.peer_sizes
    ([b'ann', b'cid'], {'host': 3})
    """

    def __init__(
        self,
        party: str,
        job_id: str,
        *,
        hosts: Sequence[str],
        ids: Sequence[bytes],
        settings: PsiSettings | None = None,
    ) -> None:
        super().__init__(party, job_id)
        self.settings = settings or PsiSettings()
        self.settings.check_hosts(len(hosts))
        self.hosts = checked_peers(party, hosts)
        self.ids = checked_ids(party, ids)
        self._salt = secrets.token_bytes(SALT_BYTES)
        self._chunks = chunk_count(len(self.ids), self.settings.chunk_size)
        self._links = {
            host: _HostLink(
                host, secure_permutation(len(self.ids)), bytearray(COMPARABLE_BYTES * len(self.ids))
            )
            for host in self.hosts
        }
        self._started = False

    # Role contract ------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Send the setup to every host (ECDH: the guest's items can be made at once).

        Returns
        -------
        list of Message
            One :class:`PsiSetup` per host.

        Raises
        ------
        ProtocolError
            If called twice.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        if self.settings.method == "ecdh":
            for link in self._links.values():
                link.cipher = EcdhGuestCipher(self._salt, self.settings.n_jobs)
        return [
            PsiSetup(
                job_id=self.job_id,
                sender=self.party,
                receiver=host,
                method=self.settings.method,
                output=self.settings.output,
                salt=self._salt,
                size=len(self.ids),
                chunk_size=self.settings.chunk_size,
            )
            for host in self.hosts
        ]

    def receive(self, message: Message) -> list[Message]:
        """Take a host's setup, processed items or own items.

        Parameters
        ----------
        message : Message
            :class:`PsiHostSetup`, :class:`PsiProcessedItems` or :class:`PsiHostItems`
            from a host.

        Returns
        -------
        list of Message
            Once every host's items are in: :class:`PsiPositions` or
            :class:`PsiDone` for every host; else nothing.

        Raises
        ------
        ProtocolError
            If the message is unexpected, malformed or its cryptography fails.
        """
        if self._done or not self._started:
            raise self._unexpected(message, "finished" if self._done else "not started")
        link = self._links.get(message.sender)
        if link is None:
            raise ProtocolError(f"{self.party}: {message.sender!r} is not a host of this PSI")
        try:
            if isinstance(message, PsiHostSetup):
                self._on_host_setup(link, message)
            elif isinstance(message, PsiProcessedItems):
                self._on_processed(link, message)
            elif isinstance(message, PsiHostItems):
                self._on_host_items(link, message)
            else:
                raise self._unexpected(message, "running PSI")
        except CryptoError as error:
            raise ProtocolError(
                f"{self.party}: {message.sender!r} sent bad PSI data: {error}"
            ) from error
        return self._finish_if_complete()

    @property
    def has_work(self) -> bool:
        """Whether a chunk can be blinded or made comparable now."""
        return not self._done and any(
            self._can_prepare(link) or link.host_pending for link in self._links.values()
        )

    def work(self) -> list[Message]:
        """Blind the next chunk for a host, or else make one host chunk comparable.

        Returns
        -------
        list of Message
            A :class:`PsiGuestItems` chunk, or the final messages once complete.

        Raises
        ------
        ProtocolError
            If a host's items are malformed.
        """
        for link in self._links.values():
            if self._can_prepare(link):
                return [self._prepare(link)]
        for link in self._links.values():
            if link.host_pending:
                chunk, items = link.host_pending.popleft()
                assert link.cipher is not None
                try:
                    link.host_values[chunk] = link.cipher.host_values(items)
                except CryptoError as error:
                    raise ProtocolError(
                        f"{self.party}: {link.host!r} sent bad PSI items: {error}"
                    ) from error
                return self._finish_if_complete()
        return []

    @property
    def waiting_for(self) -> Sequence[str]:
        """The hosts this party still needs data from."""
        return [link.host for link in self._links.values() if not self._complete(link)]

    @property
    def progress(self) -> tuple[int, int]:
        """``(chunks done, chunks in all)`` over every host."""
        done = total = 0
        for link in self._links.values():
            host_chunks = self._host_chunks(link)
            total += 2 * self._chunks + host_chunks
            done += link.next_chunk + link.processed + len(link.host_values)
        return (total, total) if self._done else (done, max(total, 1))

    # steps --------------------------------------------------------------------------
    def _can_prepare(self, link: _HostLink) -> bool:
        if link.cipher is None or link.next_chunk >= self._chunks:
            return False
        if self.settings.method == "rsa":
            return len(link.awaiting) < self.settings.rsa_window
        return True

    def _prepare(self, link: _HostLink) -> Message:
        assert link.cipher is not None
        chunk = link.next_chunk
        start = chunk * self.settings.chunk_size
        rows = link.order[start : start + self.settings.chunk_size]
        items = link.cipher.prepare(chunk, [self.ids[row] for row in rows.tolist()])
        link.next_chunk += 1
        link.awaiting.add(chunk)
        return PsiGuestItems(
            job_id=self.job_id, sender=self.party, receiver=link.host, batch=chunk, items=items
        )

    def _on_host_setup(self, link: _HostLink, message: PsiHostSetup) -> None:
        if link.host_size is not None:
            raise self._unexpected(message, "already set up")
        if not 0 <= message.size <= MAX_SET_SIZE:
            raise ProtocolError(f"{self.party}: {link.host!r} announced {message.size} ids")
        link.host_size = message.size
        if self.settings.method == "ecdh":
            if message.rsa_public_key:
                raise ProtocolError(f"{self.party}: {link.host!r} sent an RSA key for ECDH-PSI")
            return
        if len(message.rsa_public_key) != 2:
            raise ProtocolError(f"{self.party}: {link.host!r} sent no RSA public key (n, e)")
        public_key = RsaBlindPublicKey(*message.rsa_public_key)
        minimum = 1024 if self.settings.allow_weak_key else MIN_STRICT_RSA_BITS
        if public_key.key_length < minimum:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent a {public_key.key_length}-bit RSA key; "
                f"at least {minimum} bits are required"
            )
        link.cipher = RsaGuestCipher(public_key, self._salt)

    def _on_processed(self, link: _HostLink, message: PsiProcessedItems) -> None:
        chunk = message.batch
        if link.cipher is None or chunk not in link.awaiting:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent processed chunk {chunk}, which is not awaited"
            )
        count = chunk_length(chunk, len(self.ids), self.settings.chunk_size)
        if len(message.items) != count * link.cipher.item_bytes:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent {len(message.items)} bytes for chunk {chunk}, "
                f"expected {count * link.cipher.item_bytes}"
            )
        values = link.cipher.finish(chunk, message.items)
        start = chunk * self.settings.chunk_size * COMPARABLE_BYTES
        link.values[start : start + len(values)] = values
        link.awaiting.discard(chunk)
        link.processed += 1

    def _on_host_items(self, link: _HostLink, message: PsiHostItems) -> None:
        chunk = message.batch
        if link.host_size is None:
            raise self._unexpected(message, "waiting for the host's setup")
        if chunk in link.host_seen or not 0 <= chunk < self._host_chunks(link):
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent host chunk {chunk} again or out of range"
            )
        count = chunk_length(chunk, link.host_size, self.settings.chunk_size)
        if len(message.items) != count * COMPARABLE_BYTES:
            raise ProtocolError(
                f"{self.party}: {link.host!r} sent {len(message.items)} bytes for its chunk "
                f"{chunk}, expected {count * COMPARABLE_BYTES}"
            )
        link.host_seen.add(chunk)
        assert link.cipher is not None
        if link.cipher.computes_host_values:
            link.host_pending.append((chunk, message.items))
        else:
            link.host_values[chunk] = link.cipher.host_values(message.items)

    # the end ------------------------------------------------------------------------
    def _host_chunks(self, link: _HostLink) -> int:
        return (
            0 if link.host_size is None else chunk_count(link.host_size, self.settings.chunk_size)
        )

    def _complete(self, link: _HostLink) -> bool:
        return (
            link.host_size is not None
            and link.processed == self._chunks
            and len(link.host_values) == self._host_chunks(link)
        )

    def _finish_if_complete(self) -> list[Message]:
        if self._done or not all(self._complete(link) for link in self._links.values()):
            return []
        links = list(self._links.values())
        hosts = [link.host for link in links]
        peers = [
            joined_values(link.host_values, self._host_chunks(link), COMPARABLE_BYTES)
            for link in links
        ]
        sizes = {link.host: link.host_size or 0 for link in links}
        if self.settings.output == "cardinality":
            size = int(np.isin(as_values(links[0].values, COMPARABLE_BYTES), peers[0]).sum())
            self._finish(PsiOutcome(None, size, len(self.ids), sizes))
            return closing_messages(self.job_id, self.party, hosts, None)
        own = [self._by_row(link) for link in links]
        rows = intersect_rows(own, peers)
        self._finish(PsiOutcome(rows, len(rows), len(self.ids), sizes))
        common = None if self.settings.output == "guest" else (rows, own, peers, 1)
        return closing_messages(self.job_id, self.party, hosts, common)

    def _by_row(self, link: _HostLink) -> npt.NDArray[np.bytes_]:
        """Comparable values in this party's row order (they arrived in shuffled order)."""
        by_row = np.empty(len(self.ids), dtype=f"S{COMPARABLE_BYTES}")
        by_row[link.order] = as_values(link.values, COMPARABLE_BYTES)
        return by_row
