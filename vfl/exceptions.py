"""Every error the ``vfl`` package raises (``crypto`` and ``protocols`` errors pass through)."""

from __future__ import annotations

__all__ = [
    "CertificateError",
    "CodecError",
    "ComputeError",
    "DataError",
    "JobFileError",
    "MessageTooLargeError",
    "MetricError",
    "PeerAbortedError",
    "PeerDisconnectedError",
    "PeerRefusedError",
    "PeerTimeoutError",
    "PeerUnavailableError",
    "TransportError",
    "VflError",
]


class VflError(Exception):
    """Base class of errors raised by the ``vfl`` package.

    Examples
    --------
    Most errors are also the closest built-in exception:

    >>> from vfl.metrics import roc_auc
    >>> try:
    ...     roc_auc([1, 1], [0.2, 0.9])
    ... except ValueError as error:
    ...     print(type(error).__name__, isinstance(error, VflError))
    MetricError True
    """


class ComputeError(VflError):
    """The party's compute cluster cannot be used (unreachable, no workers, lost)."""


class DataError(VflError, ValueError):
    """A data file is missing, malformed or inconsistent; the message names the cell."""


class JobFileError(VflError, ValueError):
    """A job file is invalid; the message names the file and the offending key."""


class CertificateError(VflError):
    """Certificates or keys could not be created, read or used."""


class CodecError(VflError, ValueError):
    """A frame could not be decoded into a valid message (never executed, only refused)."""


class TransportError(VflError):
    """A connection to a peer failed; :attr:`peer` names it when known.

    Parameters
    ----------
    message : str
        What happened.
    peer : str, optional
        The peer's name, available as :attr:`peer`.

    Examples
    --------
    >>> from vfl.runtime.transport import MemoryNetwork
    >>> alice = MemoryNetwork().transport("alice")
    >>> try:
    ...     alice.receive(timeout=0.01)
    ... except TransportError as error:
    ...     print(type(error).__name__)
    PeerTimeoutError
    >>> alice.close()
    """

    def __init__(self, message: str, peer: str | None = None) -> None:
        super().__init__(message)
        self.peer = peer


class PeerUnavailableError(TransportError):
    """A peer could not be reached before the connect timeout."""


class PeerRefusedError(TransportError):
    """A connection was refused: no certificate, another CA, or a name not in the job."""


class PeerDisconnectedError(TransportError):
    """A peer closed its connection without saying goodbye (it crashed or was killed)."""


class PeerTimeoutError(TransportError):
    """Nothing arrived from the awaited peers within the timeout."""


class MessageTooLargeError(TransportError):
    """A peer sent a message over the size limit."""


class PeerAbortedError(VflError):
    """A peer aborted the job and said why.

    Parameters
    ----------
    message : str
        The peer's reason.
    peer : str
        The peer's name, available as :attr:`peer`.

    Examples
    --------
    >>> error = PeerAbortedError("host-1 aborted: disk full", "host-1")
    >>> error.peer, str(error)
    ('host-1', 'host-1 aborted: disk full')
    """

    def __init__(self, message: str, peer: str) -> None:
        super().__init__(message)
        self.peer = peer


class MetricError(VflError, ValueError):
    """Metrics cannot be computed from these labels or scores."""
