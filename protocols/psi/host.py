"""A host's side of PSI (see :mod:`protocols.psi.guest` for the message flow)."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from crypto.exceptions import CryptoError
from crypto.permutation import secure_permutation
from protocols.exceptions import ProtocolError
from protocols.messages import (
    Message,
    PsiDone,
    PsiGuestItems,
    PsiHostItems,
    PsiHostSetup,
    PsiPositions,
    PsiProcessedItems,
    PsiSetup,
)
from protocols.psi.ciphers import EcdhHostCipher, HostCipher, RsaHostCipher
from protocols.psi.guest import chunk_count, chunk_length
from protocols.psi.outcome import PsiOutcome
from protocols.psi.settings import PsiSettings
from protocols.psi.setup_checks import (
    check_guest_setup,
    checked_ids,
    checked_peers,
    checked_positions,
)
from protocols.roles import Role

__all__ = ["PsiHost"]


class PsiHost(Role):
    """A host's side of :mod:`protocols.psi`.

    Parameters
    ----------
    party, job_id : str
        See :class:`~protocols.roles.Role`.
    guest : str
        The guest's name.
    ids : sequence of bytes
        This party's ids, unique.
    settings : PsiSettings
        The job's PSI parameters; the guest's setup must agree with them.

    The result is a :class:`~protocols.psi.outcome.PsiOutcome` whose ``rows`` index
    ``ids`` (``None`` unless the output is ``"both"``).

    Raises
    ------
    ProtocolError
        If ``guest`` is this party.
    DuplicateIdError
        If an id repeats.

    Examples
    --------
    With output ``"guest"`` the host learns only the guest's set size:

    >>> from protocols.psi import PsiGuest, PsiSettings
    >>> settings = PsiSettings(method="rsa", output="guest", allow_weak_key=True,
    ...                        rsa_key_length=1024)
    >>> guest = PsiGuest("guest", "job-1", hosts=["host"], ids=[b"ann", b"bob"],
    ...                  settings=settings)
    >>> host = PsiHost("host", "job-1", guest="guest", ids=[b"bob", b"cid", b"dan"],
    ...                settings=settings)
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
        settings: PsiSettings | None = None,
    ) -> None:
        super().__init__(party, job_id)
        self.settings = settings or PsiSettings()
        checked_peers(party, [guest], "the PSI guest must be another party")
        self.guest = guest
        self.ids = checked_ids(party, ids)
        self._order = secure_permutation(len(self.ids))
        self._cipher: HostCipher | None = None
        self._guest_size: int | None = None
        self._guest_chunks = 0
        self._own_chunks = chunk_count(len(self.ids), self.settings.chunk_size)
        self._next_own = 0
        self._received: set[int] = set()
        self._pending: deque[tuple[int, bytes]] = deque()
        self._processed_sent = 0
        self._held: dict[int, bytes] = {}  # cardinality: processed chunks until all are in
        self._started = False

    # Role contract ------------------------------------------------------------------
    def start(self) -> list[Message]:
        """Announce this party's set size (and, for RSA-PSI, make and send its key).

        Returns
        -------
        list of Message
            One :class:`PsiHostSetup` for the guest.

        Raises
        ------
        ProtocolError
            If called twice.
        """
        if self._started:
            raise ProtocolError(f"{self.party}: start() called twice")
        self._started = True
        rsa_key: tuple[int, ...] = ()
        if self.settings.method == "rsa":
            cipher = RsaHostCipher(
                self.settings.rsa_key_length,
                allow_weak_key=self.settings.allow_weak_key,
                n_jobs=self.settings.n_jobs,
            )
            public_key = cipher.private_key.public_key
            rsa_key = (public_key.n, public_key.e)
            self._cipher = cipher
        return [
            PsiHostSetup(
                job_id=self.job_id,
                sender=self.party,
                receiver=self.guest,
                size=len(self.ids),
                rsa_public_key=rsa_key,
            )
        ]

    def receive(self, message: Message) -> list[Message]:
        """Take the guest's setup, items, and the final positions or done.

        Parameters
        ----------
        message : Message
            :class:`PsiSetup`, :class:`PsiGuestItems`, :class:`PsiPositions` or
            :class:`PsiDone` from the guest.

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
        if self._done or not self._started:
            raise self._unexpected(message, "finished" if self._done else "not started")
        if message.sender != self.guest:
            raise ProtocolError(f"{self.party}: {message.sender!r} is not the PSI guest")
        if isinstance(message, PsiSetup):
            self._on_setup(message)
        elif isinstance(message, PsiGuestItems):
            self._on_items(message)
        elif isinstance(message, PsiPositions):
            self._on_positions(message)
        elif isinstance(message, PsiDone):
            self._on_done(message)
        else:
            raise self._unexpected(message, "running PSI")
        return []

    @property
    def has_work(self) -> bool:
        """Whether a guest chunk or an own chunk is ready to process."""
        if self._cipher is None or self._guest_size is None:  # the salt comes with the setup
            return False
        return bool(self._pending or self._next_own < self._own_chunks)

    def work(self) -> list[Message]:
        """Process the guest's next chunk, or else blind this party's next chunk.

        Returns
        -------
        list of Message
            :class:`PsiProcessedItems` or :class:`PsiHostItems`.

        Raises
        ------
        ProtocolError
            If the guest's items are malformed.
        """
        assert self._cipher is not None
        if self._pending:
            chunk, items = self._pending.popleft()
            try:
                processed = self._cipher.process(items)
            except CryptoError as error:
                raise ProtocolError(
                    f"{self.party}: {self.guest!r} sent bad PSI items in chunk {chunk}: {error}"
                ) from error
            return self._send_processed(chunk, processed)
        chunk = self._next_own
        self._next_own += 1
        start = chunk * self.settings.chunk_size
        rows = self._order[start : start + self.settings.chunk_size]
        items = self._cipher.own([self.ids[row] for row in rows.tolist()])
        return [self._items(PsiHostItems, chunk, items)]

    @property
    def waiting_for(self) -> Sequence[str]:
        """The guest, until the protocol is over."""
        return () if self._done else (self.guest,)

    @property
    def progress(self) -> tuple[int, int]:
        """``(chunks done, chunks in all)``."""
        total = max(self._guest_chunks + self._own_chunks + 1, 1)
        if self._done:
            return total, total
        return self._processed_sent + len(self._held) + self._next_own, total

    # steps --------------------------------------------------------------------------
    def _items(
        self, cls: type[PsiHostItems] | type[PsiProcessedItems], chunk: int, items: bytes
    ) -> Message:
        return cls(
            job_id=self.job_id, sender=self.party, receiver=self.guest, batch=chunk, items=items
        )

    def _on_setup(self, message: PsiSetup) -> None:
        if self._guest_size is not None:
            raise self._unexpected(message, "already set up")
        settings = self.settings
        check_guest_setup(self.party, self.guest, settings, message)
        self._guest_size = message.size
        self._guest_chunks = chunk_count(message.size, settings.chunk_size)
        if isinstance(self._cipher, RsaHostCipher):
            self._cipher.use_salt(message.salt)
        else:
            self._cipher = EcdhHostCipher(message.salt, settings.n_jobs)

    def _on_items(self, message: PsiGuestItems) -> None:
        chunk = message.batch
        if self._guest_size is None or self._cipher is None:
            raise self._unexpected(message, "waiting for the guest's setup")
        # the guest sends its chunks in order on one ordered connection: anything else
        # (a replay, a skipped or a reordered chunk) is refused before it is processed
        if chunk != len(self._received) or chunk >= self._guest_chunks:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent chunk {chunk}, expected chunk "
                f"{len(self._received)} of {self._guest_chunks} (again, out of order or out "
                "of range)"
            )
        expected = chunk_length(chunk, self._guest_size, self.settings.chunk_size)
        if len(message.items) != expected * self._cipher.item_bytes:
            raise ProtocolError(
                f"{self.party}: the guest {self.guest!r} sent {len(message.items)} bytes in "
                f"chunk {chunk}, expected {expected * self._cipher.item_bytes}"
            )
        self._received.add(chunk)
        self._pending.append((chunk, message.items))

    def _send_processed(self, chunk: int, processed: bytes) -> list[Message]:
        if self.settings.output != "cardinality":
            self._processed_sent += 1
            return [self._items(PsiProcessedItems, chunk, processed)]
        # cardinality: re-shuffle over the whole set, so no value maps back to a row
        self._held[chunk] = processed
        if len(self._held) < self._guest_chunks:
            return []
        assert self._cipher is not None
        width = self._cipher.item_bytes
        everything = np.frombuffer(
            b"".join(self._held.pop(c) for c in range(self._guest_chunks)), dtype=f"S{width}"
        )
        shuffled = everything[secure_permutation(len(everything))].tobytes()
        size = self.settings.chunk_size * width
        self._processed_sent = self._guest_chunks
        return [
            self._items(PsiProcessedItems, c, shuffled[c * size : (c + 1) * size])
            for c in range(self._guest_chunks)
        ]

    def _all_sent(self) -> bool:
        return (
            self._guest_size is not None
            and self._processed_sent == self._guest_chunks
            and self._next_own == self._own_chunks
        )

    def _on_positions(self, message: PsiPositions) -> None:
        if self.settings.output != "both" or not self._all_sent():
            raise self._unexpected(message, "still exchanging items")
        positions = checked_positions(
            self.party, self.guest, message, len(self.ids), self._guest_size or 0
        )
        rows = self._order[positions.astype(np.int64)]
        self._finish(
            PsiOutcome(rows, len(rows), len(self.ids), {self.guest: self._guest_size or 0})
        )

    def _on_done(self, message: PsiDone) -> None:
        if self.settings.output == "both" or not self._all_sent():
            raise self._unexpected(message, "still exchanging items")
        self._finish(PsiOutcome(None, None, len(self.ids), {self.guest: self._guest_size or 0}))
