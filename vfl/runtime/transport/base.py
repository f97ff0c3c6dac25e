"""The small interface every transport implements.

A transport moves opaque byte strings (encoded messages) between named parties.
It knows who a peer is (for TLS: from its certificate), bounds message sizes, and
turns every failure into a :class:`~vfl.exceptions.TransportError` that names the
peer.  Encoding, validation and protocol logic live elsewhere (``vfl.codec``,
``vfl.runtime.runner``).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from types import TracebackType

__all__ = ["DEFAULT_MAX_MESSAGE_BYTES", "Transport"]

DEFAULT_MAX_MESSAGE_BYTES = 512 * 1024 * 1024
"""Largest message accepted from a peer unless configured otherwise (512 MiB)."""


class Transport(abc.ABC):
    """Sends and receives whole messages (bytes) to and from named peers.

    Attributes
    ----------
    party : str
        This party's name.

    Examples
    --------
    :class:`~vfl.runtime.transport.MemoryTransport` and
    :class:`~vfl.runtime.transport.TlsTransport` implement it; a transport is a context
    manager that closes itself:

    >>> from vfl.runtime.transport import MemoryNetwork
    >>> network = MemoryNetwork()
    >>> with network.transport("guest") as guest, network.transport("host") as host:
    ...     guest.connect(["host"], timeout=1.0)
    ...     guest.send("host", b"setup")
    ...     isinstance(host, Transport), host.receive(timeout=1.0)
    (True, ('guest', b'setup'))
    >>> guest.closed, host.closed
    (True, True)
    """

    party: str

    @abc.abstractmethod
    def connect(self, peers: Sequence[str], timeout: float) -> None:
        """Make every listed peer reachable, retrying with backoff while peers start.

        Parameters
        ----------
        peers : sequence of str
            The peers this party will send to.
        timeout : float
            Seconds to keep trying.

        Raises
        ------
        PeerUnavailableError
            Naming the peers still unreachable after ``timeout`` seconds.
        """

    @abc.abstractmethod
    def send(self, peer: str, message: bytes) -> None:
        """Deliver one message to ``peer`` (large messages travel in chunks).

        Parameters
        ----------
        peer : str
            The receiving party.
        message : bytes
            The encoded message.

        Raises
        ------
        TransportError
            If the peer is unknown, unreachable or gone (naming it).
        """

    @abc.abstractmethod
    def receive(self, timeout: float) -> tuple[str, bytes]:
        """Wait for the next message from any peer: ``(sender, message)``.

        ``sender`` is the authenticated identity of the connection it came on.

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
            If nothing arrives within ``timeout`` seconds.
        PeerDisconnectedError
            If a peer's connection ended without a goodbye (naming the peer).
        MessageTooLargeError
            If a peer sent more than the size limit.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Say goodbye to every peer and release connections (idempotent)."""

    def __enter__(self) -> Transport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
