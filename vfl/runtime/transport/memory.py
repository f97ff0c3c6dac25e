"""In-memory transport: parties of one simulated job exchange messages through queues.

A :class:`MemoryNetwork` stands for one job's network; each party gets a
:class:`MemoryTransport` from it and receives through its own
:class:`queue.Queue`.  It behaves like the TLS transport where it matters to the
runner: unknown peers and oversized messages are refused, ``close()`` says goodbye,
a crashed party (:meth:`MemoryNetwork.crash`) makes its peers' ``receive`` raise
:class:`~vfl.exceptions.PeerDisconnectedError`.

Examples
--------
>>> network = MemoryNetwork()
>>> alice, bob = network.transport("alice"), network.transport("bob")
>>> alice.connect(["bob"], timeout=1.0)
>>> alice.send("bob", b"hi")
>>> bob.receive(timeout=1.0)
('alice', b'hi')
>>> alice.close(); bob.close()
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from vfl.exceptions import (
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerTimeoutError,
    PeerUnavailableError,
    TransportError,
)
from vfl.runtime.transport.base import DEFAULT_MAX_MESSAGE_BYTES, Transport

__all__ = ["MemoryNetwork", "MemoryTransport"]


@dataclass(frozen=True)
class _Goodbye:
    peer: str


@dataclass(frozen=True)
class _Crashed:
    peer: str


@dataclass(frozen=True)
class _TooLarge:
    peer: str
    size: int


@dataclass(frozen=True)
class _Closed:
    pass


_Item = tuple[str, bytes] | _Goodbye | _Crashed | _TooLarge | _Closed


class MemoryNetwork:
    """The queues of one simulated job: hands out one :class:`MemoryTransport` per party.

    Examples
    --------
    >>> network = MemoryNetwork()
    >>> network.transport("alice").party
    'alice'
    >>> network.parties
    ('alice',)
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._transports: dict[str, MemoryTransport] = {}
        self._crashed: set[str] = set()

    @property
    def parties(self) -> tuple[str, ...]:
        """Names of the parties that have a transport, in creation order."""
        with self._changed:
            return tuple(self._transports)

    def transport(
        self, party: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> MemoryTransport:
        """Create ``party``'s transport (one per party and network).

        Parameters
        ----------
        party : str
            The party's name.
        max_message_bytes : int, default 512 MiB
            Largest message this party accepts, and sends.

        Returns
        -------
        MemoryTransport
            The party's end of the network.

        Raises
        ------
        TransportError
            If ``party`` already has a transport on this network.
        ValueError
            If ``party`` is empty or ``max_message_bytes`` negative.
        """
        if not isinstance(party, str) or not party:
            raise ValueError(f"party must be a non-empty str, got {party!r}")
        if max_message_bytes < 0:
            raise ValueError(f"max_message_bytes must be >= 0, got {max_message_bytes}")
        with self._changed:
            if party in self._transports:
                raise TransportError(
                    f"party {party!r} already has a transport on this network; "
                    "create one transport per party",
                    party,
                )
            transport = MemoryTransport(self, party, max_message_bytes)
            self._transports[party] = transport
            self._changed.notify_all()
        return transport

    def crash(self, party: str) -> None:
        """Simulate ``party``'s process dying: its peers' ``receive`` raise PeerDisconnectedError.

        Messages ``party`` sent before are still delivered first.  The crashed
        transport itself becomes unusable (its calls raise ``TransportError``).

        Parameters
        ----------
        party : str
            The party that dies.

        Raises
        ------
        KeyError
            If ``party`` has no transport on this network.
        """
        with self._changed:
            victim = self._transports[party]
            if party in self._crashed or victim.closed:
                return
            self._crashed.add(party)
            victim._mark_crashed()
            others = [t for name, t in self._transports.items() if name != party]
        for other in others:
            other._deliver(_Crashed(party))

    # used by MemoryTransport -------------------------------------------------------
    def _lookup(self, party: str) -> MemoryTransport | None:
        with self._changed:
            return self._transports.get(party)

    def _is_crashed(self, party: str) -> bool:
        with self._changed:
            return party in self._crashed

    def _others(self, party: str) -> list[MemoryTransport]:
        with self._changed:
            return [t for name, t in self._transports.items() if name != party]

    def _wait_for(self, parties: Sequence[str], timeout: float) -> list[str]:
        """Wait until every party has a transport; return those still missing."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._changed:
            while True:
                missing = [p for p in parties if p not in self._transports]
                remaining = deadline - time.monotonic()
                if not missing or remaining <= 0:
                    return missing
                self._changed.wait(remaining)


class MemoryTransport(Transport):
    """One party's end of a :class:`MemoryNetwork` (create it with :meth:`MemoryNetwork.transport`).

    Attributes
    ----------
    party : str
        This party's name.
    max_message_bytes : int
        Largest message accepted (checked when sending and when receiving).

    Examples
    --------
    >>> network = MemoryNetwork()
    >>> guest, host = network.transport("guest"), network.transport("host", 4)
    >>> guest.send("host", b"12345")
    >>> host.receive(timeout=1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.MessageTooLargeError: peer 'guest' sent a message of 5 bytes, over the ...
    >>> network.crash("guest")
    >>> host.receive(timeout=1.0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.PeerDisconnectedError: peer 'guest' disconnected without saying goodbye ...
    >>> host.close()
    """

    def __init__(self, network: MemoryNetwork, party: str, max_message_bytes: int) -> None:
        self.party = party
        self.max_message_bytes = max_message_bytes
        self._network = network
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._crashed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        with self._lock:
            return self._closed

    def __repr__(self) -> str:
        return f"MemoryTransport(party={self.party!r})"

    def _check_usable(self) -> None:
        with self._lock:
            if self._crashed:
                raise TransportError(f"transport of {self.party!r} crashed (simulated)", self.party)
            if self._closed:
                raise TransportError(f"transport of {self.party!r} is closed", self.party)

    def _mark_crashed(self) -> None:
        with self._lock:
            self._crashed = True
        self._queue.put(_Closed())

    def _deliver(self, item: _Item) -> bool:
        """Queue ``item`` unless this transport is closed or crashed; whether it was queued."""
        with self._lock:
            if self._closed or self._crashed:
                return False
            self._queue.put(item)
            return True

    def connect(self, peers: Sequence[str], timeout: float) -> None:
        """Wait up to ``timeout`` seconds until every peer has a transport on the network.

        Parameters
        ----------
        peers : sequence of str
            The peers this party will send to.
        timeout : float
            Seconds to wait.

        Raises
        ------
        PeerUnavailableError
            Naming every peer still missing (or crashed); ``peer`` is the first.
        TransportError
            If ``peers`` names this party itself, or this transport is closed.
        """
        self._check_usable()
        if self.party in peers:
            raise TransportError(
                f"{self.party!r} cannot connect to itself; list only its peers", self.party
            )
        missing = self._network._wait_for(list(dict.fromkeys(peers)), timeout)
        missing += [p for p in peers if p not in missing and self._network._is_crashed(p)]
        if missing:
            names = ", ".join(repr(p) for p in missing)
            raise PeerUnavailableError(
                f"{self.party!r} could not reach {names} within {timeout:g} s "
                "(no such party started on this simulated network)",
                missing[0],
            )

    def send(self, peer: str, message: bytes) -> None:
        """Put ``message`` in ``peer``'s queue.

        Parameters
        ----------
        peer : str
            The receiving party.
        message : bytes
            The encoded message.

        Raises
        ------
        MessageTooLargeError
            If ``message`` is over this transport's ``max_message_bytes``.
        PeerDisconnectedError
            If ``peer`` crashed.
        TransportError
            If ``peer`` is unknown to the network, is this party, or closed.
        """
        self._check_usable()
        if peer == self.party:
            raise TransportError(f"{self.party!r} cannot send to itself", peer)
        target = self._network._lookup(peer)
        if target is None:
            known = ", ".join(repr(p) for p in self._network.parties if p != self.party)
            raise TransportError(
                f"{self.party!r} cannot send to unknown peer {peer!r} (known: {known or 'none'})",
                peer,
            )
        size = len(message)
        if size > self.max_message_bytes:
            raise MessageTooLargeError(
                f"message of {size} bytes to {peer!r} is over the {self.max_message_bytes}-byte "
                "limit; raise max_message_bytes if such messages are expected",
                peer,
            )
        if self._network._is_crashed(peer):
            raise PeerDisconnectedError(f"peer {peer!r} is gone (crashed)", peer)
        item: _Item
        if size > target.max_message_bytes:
            item = _TooLarge(self.party, size)
        else:
            item = (self.party, bytes(message))
        if not target._deliver(item):
            raise TransportError(f"peer {peer!r} has closed its transport", peer)

    def receive(self, timeout: float) -> tuple[str, bytes]:
        """Wait up to ``timeout`` seconds for the next message: ``(sender, message)``.

        Goodbyes from peers are consumed silently.

        Parameters
        ----------
        timeout : float
            Seconds to wait.

        Returns
        -------
        tuple of (str, bytes)
            The sender's name and the message.

        Raises
        ------
        PeerTimeoutError
            If nothing arrives in time.
        PeerDisconnectedError
            If a peer crashed (after its earlier messages were delivered).
        MessageTooLargeError
            If a peer sent more than ``max_message_bytes``.
        TransportError
            If this transport is (or gets) closed.
        """
        self._check_usable()
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    item = self._queue.get(timeout=remaining)
                else:
                    item = self._queue.get_nowait()
            except queue.Empty:
                raise PeerTimeoutError(
                    f"{self.party!r} waited {timeout:g} s, nothing arrived"
                ) from None
            if isinstance(item, tuple):
                return item
            if isinstance(item, _Goodbye):
                continue
            if isinstance(item, _Crashed):
                raise PeerDisconnectedError(
                    f"peer {item.peer!r} disconnected without saying goodbye (crashed or killed?)",
                    item.peer,
                )
            elif isinstance(item, _TooLarge):
                raise MessageTooLargeError(
                    f"peer {item.peer!r} sent a message of {item.size} bytes, over the "
                    f"{self.max_message_bytes}-byte limit; refused",
                    item.peer,
                )
            else:
                self._check_usable()

    def close(self) -> None:
        """Say goodbye to every other party of the network (idempotent)."""
        with self._lock:
            if self._closed or self._crashed:
                self._closed = True
                return
            self._closed = True
            self._queue.put(_Closed())
        for other in self._network._others(self.party):
            other._deliver(_Goodbye(self.party))
