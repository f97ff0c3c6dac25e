"""Wire framing of the TLS transport: messages cut into typed, length-prefixed frames.

A frame is ``type (u8) | length (u32, big-endian) | payload``.  A message travels as
zero or more :attr:`FrameType.CHUNK` frames followed by one :attr:`FrameType.LAST`
frame; no frame carries more than ``chunk_bytes`` of payload.  A
:attr:`FrameType.GOODBYE` frame (empty) announces a clean close, and a listener
sends one :attr:`FrameType.ACCEPT` frame (empty) to a client it accepted, before
anything else.

The functions here work on any object with ``recv`` / ``sendall`` (a socket, a TLS
socket, or an in-memory stand-in), so they are testable without a network.  The
reader never trusts a declared length: a frame longer than ``chunk_bytes`` is a
protocol violation, and a message is refused as soon as its running total would
exceed ``max_message_bytes``, before the payload is read.  Every failure is a
:class:`~vfl.exceptions.TransportError` naming the peer.

Examples
--------
>>> import io
>>> class Stream:
...     def __init__(self, data: bytes) -> None:
...         self.buffer = io.BytesIO(data)
...     def recv(self, size: int) -> bytes:
...         return self.buffer.read(size)
>>> wire = b"".join(encode_message(b"hello world", chunk_bytes=4)) + encode_goodbye()
>>> stream = Stream(wire)
>>> read_message(stream, max_message_bytes=100, chunk_bytes=4)
b'hello world'
>>> read_message(stream, max_message_bytes=100, chunk_bytes=4) is None
True
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from typing import Protocol

from vfl.exceptions import (
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerTimeoutError,
    TransportError,
)

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "HEADER_BYTES",
    "MAX_CHUNK_BYTES",
    "FrameReceiver",
    "FrameSender",
    "FrameType",
    "encode_frame",
    "encode_goodbye",
    "encode_message",
    "read_frame",
    "read_message",
    "send_goodbye",
    "send_message",
]

DEFAULT_CHUNK_BYTES = 1 << 20
"""Largest payload of one frame unless configured otherwise (1 MiB)."""

MAX_CHUNK_BYTES = (1 << 32) - 1
"""Largest payload a frame header can declare."""

_HEADER = struct.Struct(">BI")
HEADER_BYTES = _HEADER.size
"""Size of a frame header: one type byte and a 4-byte length."""

_RECV_BYTES = 1 << 18  # never ask the stream for more than this at once


class FrameType(enum.IntEnum):
    """The type byte of a frame.

    Examples
    --------
    >>> FrameType(2).name, encode_frame(FrameType.ACCEPT)[0]
    ('LAST', 4)
    """

    CHUNK = 1
    """Part of a message; more of it follows."""
    LAST = 2
    """The final part of a message (possibly the whole message)."""
    GOODBYE = 3
    """The sender closes the connection cleanly; empty payload."""
    ACCEPT = 4
    """A listener accepted this client (first frame it sends); empty payload."""


class FrameReceiver(Protocol):
    """Anything frames can be read from: ``recv(n)`` returns at most ``n`` bytes, ``b""`` at EOF.

    Sockets and TLS sockets are; so is a small in-memory stand-in for tests.

    Examples
    --------
    >>> import io
    >>> class Replay:
    ...     def __init__(self, data):
    ...         self.buffer = io.BytesIO(data)
    ...     def recv(self, bufsize):
    ...         return self.buffer.read(bufsize)
    >>> read_frame(Replay(encode_frame(FrameType.LAST, b"hi")))
    (<FrameType.LAST: 2>, b'hi')
    """

    def recv(self, bufsize: int, /) -> bytes:
        """Return up to ``bufsize`` bytes; ``b""`` once the stream has ended.

        Parameters
        ----------
        bufsize : int
            The most bytes wanted.

        Returns
        -------
        bytes
            Between 1 and ``bufsize`` bytes, or ``b""`` at the end.
        """
        ...


class FrameSender(Protocol):
    """Anything frames can be written to (``sendall``, as sockets have).

    Examples
    --------
    >>> class Recorder:
    ...     def __init__(self):
    ...         self.frames = []
    ...     def sendall(self, data):
    ...         self.frames.append(bytes(data))
    >>> recorder = Recorder()
    >>> send_message(recorder, b"hello", chunk_bytes=2)
    >>> [frame[5:] for frame in recorder.frames]  # the payloads after 5-byte headers
    [b'he', b'll', b'o']
    """

    def sendall(self, data: bytes, /) -> None:
        """Write all of ``data``.

        Parameters
        ----------
        data : bytes
            What to write.
        """
        ...


def _who(peer: str | None) -> str:
    return f"peer {peer!r}" if peer is not None else "the peer"


def _check_chunk_bytes(chunk_bytes: int) -> None:
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int):
        raise TypeError(f"chunk_bytes must be an int, got {chunk_bytes!r}")
    if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
        raise ValueError(f"chunk_bytes must be between 1 and {MAX_CHUNK_BYTES}, got {chunk_bytes}")


def encode_frame(frame_type: FrameType, payload: bytes = b"") -> bytes:
    """One frame: header and payload.

    Parameters
    ----------
    frame_type : FrameType
        The frame's type.
    payload : bytes, default b""
        At most ``2**32 - 1`` bytes.

    Returns
    -------
    bytes
        ``type | length | payload``.

    Raises
    ------
    ValueError
        If ``payload`` is too long for one frame.

    Examples
    --------
    >>> encode_frame(FrameType.LAST, b"hi").hex()  # type 2, length 2, "hi"
    '02000000026869'
    """
    if len(payload) > MAX_CHUNK_BYTES:
        raise ValueError(f"a frame carries at most {MAX_CHUNK_BYTES} bytes, got {len(payload)}")
    return _HEADER.pack(int(frame_type), len(payload)) + payload


def encode_message(message: bytes, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[bytes]:
    """The frames of one message: CHUNK frames then one LAST frame (lazily, chunk by chunk).

    Parameters
    ----------
    message : bytes
        The message (may be empty: one empty LAST frame).
    chunk_bytes : int, default 1 MiB
        Largest payload per frame.

    Yields
    ------
    bytes
        One encoded frame at a time.

    Raises
    ------
    ValueError
        If ``chunk_bytes`` is out of range.
    TypeError
        If ``chunk_bytes`` is not an int.

    Examples
    --------
    >>> [FrameType(frame[0]).name for frame in encode_message(b"hello", chunk_bytes=2)]
    ['CHUNK', 'CHUNK', 'LAST']
    >>> [frame.hex() for frame in encode_message(b"")]  # one empty LAST frame
    ['0200000000']
    """
    _check_chunk_bytes(chunk_bytes)
    view = memoryview(message)
    total = len(view)
    start = 0
    while total - start > chunk_bytes:
        yield _HEADER.pack(FrameType.CHUNK, chunk_bytes) + view[start : start + chunk_bytes]
        start += chunk_bytes
    yield _HEADER.pack(FrameType.LAST, total - start) + view[start:]


def encode_goodbye() -> bytes:
    """The GOODBYE frame (announces a clean close).

    Returns
    -------
    bytes
        An empty frame of type :attr:`FrameType.GOODBYE`.

    Examples
    --------
    >>> encode_goodbye().hex()
    '0300000000'
    """
    return encode_frame(FrameType.GOODBYE)


def send_message(
    stream: FrameSender, message: bytes, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> None:
    """Write one message to ``stream`` as CHUNK/LAST frames.

    ``OSError`` from the stream propagates; the caller knows which peer it was
    writing to and turns it into a :class:`~vfl.exceptions.TransportError`.

    Parameters
    ----------
    stream : FrameSender
        Where to write.
    message : bytes
        The message.
    chunk_bytes : int, default 1 MiB
        Largest payload per frame.

    Raises
    ------
    OSError
        If the stream fails.

    Examples
    --------
    >>> import socket
    >>> left, right = socket.socketpair()
    >>> send_message(left, b"hello", chunk_bytes=2)
    >>> read_message(right, max_message_bytes=100, chunk_bytes=2)
    b'hello'
    >>> left.close(); right.close()
    """
    for frame in encode_message(message, chunk_bytes=chunk_bytes):
        stream.sendall(frame)


def send_goodbye(stream: FrameSender) -> None:
    """Write the GOODBYE frame to ``stream`` (``OSError`` propagates).

    Parameters
    ----------
    stream : FrameSender
        Where to write.

    Raises
    ------
    OSError
        If the stream fails.

    Examples
    --------
    >>> import socket
    >>> left, right = socket.socketpair()
    >>> send_goodbye(left)
    >>> read_message(right, max_message_bytes=100) is None  # a clean close
    True
    >>> left.close(); right.close()
    """
    stream.sendall(encode_goodbye())


def _recv_into(
    stream: FrameReceiver, out: bytearray, count: int, peer: str | None, what: str
) -> None:
    """Append exactly ``count`` bytes from ``stream`` to ``out``."""
    wanted = len(out) + count
    while len(out) < wanted:
        missing = wanted - len(out)
        try:
            data = stream.recv(min(missing, _RECV_BYTES))
        except TimeoutError as error:
            raise PeerTimeoutError(
                f"timed out reading {what} from {_who(peer)}: {error}", peer
            ) from error
        except OSError as error:
            raise PeerDisconnectedError(
                f"connection to {_who(peer)} failed while reading {what}: {error}", peer
            ) from error
        if not data:
            raise PeerDisconnectedError(
                f"{_who(peer)} closed the connection without saying goodbye, in the middle "
                f"of {what} (crashed or killed?)",
                peer,
            )
        if len(data) > missing:
            raise TransportError(
                f"stream returned {len(data)} bytes when asked for {missing}", peer
            )
        out += data


def _read_header(
    stream: FrameReceiver, peer: str | None, *, at_boundary: bool
) -> tuple[int, int] | None:
    """The next ``(type, length)``; ``None`` on EOF before any header byte if ``at_boundary``."""
    header = bytearray()
    try:
        first = stream.recv(HEADER_BYTES)
    except TimeoutError as error:
        raise PeerTimeoutError(
            f"timed out reading a frame from {_who(peer)}: {error}", peer
        ) from error
    except OSError as error:
        raise PeerDisconnectedError(f"connection to {_who(peer)} failed: {error}", peer) from error
    if not first:
        if at_boundary:
            return None
        raise PeerDisconnectedError(
            f"{_who(peer)} closed the connection without saying goodbye, in the middle of a "
            "message (crashed or killed?)",
            peer,
        )
    if len(first) > HEADER_BYTES:
        raise TransportError(
            f"stream returned {len(first)} bytes when asked for {HEADER_BYTES}", peer
        )
    header += first
    _recv_into(stream, header, HEADER_BYTES - len(header), peer, "a frame header")
    frame_type, length = _HEADER.unpack(header)
    return frame_type, length


def read_frame(
    stream: FrameReceiver, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES, peer: str | None = None
) -> tuple[FrameType, bytes]:
    """Read one whole frame (of any known type, at most ``chunk_bytes`` of payload).

    Parameters
    ----------
    stream : FrameReceiver
        Where to read from.
    chunk_bytes : int, default 1 MiB
        Largest payload accepted; a longer declared length is a protocol violation.
    peer : str, optional
        Who is on the other end (named in errors).

    Returns
    -------
    tuple of (FrameType, bytes)
        The frame's type and payload.

    Raises
    ------
    PeerDisconnectedError
        If the stream ends or fails (also before the first header byte).
    PeerTimeoutError
        If the stream timed out.
    TransportError
        On an unknown type or a frame longer than ``chunk_bytes``.

    Examples
    --------
    >>> import socket
    >>> left, right = socket.socketpair()
    >>> left.sendall(encode_frame(FrameType.ACCEPT))
    >>> read_frame(right, peer="bank-b")
    (<FrameType.ACCEPT: 4>, b'')
    >>> left.close()
    >>> read_frame(right, peer="bank-b")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.PeerDisconnectedError: peer 'bank-b' closed the connection without ...
    >>> right.close()
    """
    _check_chunk_bytes(chunk_bytes)
    header = _read_header(stream, peer, at_boundary=False)
    assert header is not None  # at_boundary=False never returns None
    frame_type, length = _check_header(header, chunk_bytes, peer)
    payload = bytearray()
    _recv_into(stream, payload, length, peer, f"a {frame_type.name} frame")
    return frame_type, bytes(payload)


def _check_header(
    header: tuple[int, int], chunk_bytes: int, peer: str | None
) -> tuple[FrameType, int]:
    raw_type, length = header
    try:
        frame_type = FrameType(raw_type)
    except ValueError:
        raise TransportError(
            f"protocol violation by {_who(peer)}: unknown frame type {raw_type}", peer
        ) from None
    if length > chunk_bytes:
        raise TransportError(
            f"protocol violation by {_who(peer)}: a {frame_type.name} frame declares "
            f"{length} bytes, more than the {chunk_bytes}-byte frame limit "
            "(both sides must use the same chunk_bytes)",
            peer,
        )
    return frame_type, length


def read_message(
    stream: FrameReceiver,
    *,
    max_message_bytes: int,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    peer: str | None = None,
) -> bytes | None:
    """Read frames until one whole message is assembled; ``None`` means GOODBYE.

    Parameters
    ----------
    stream : FrameReceiver
        Where to read from.
    max_message_bytes : int
        Largest message accepted.  The message is refused as soon as a frame
        header shows the running total would exceed it (the payload is not read).
    chunk_bytes : int, default 1 MiB
        Largest frame payload accepted.
    peer : str, optional
        Who is on the other end (named in errors).

    Returns
    -------
    bytes or None
        The message, or ``None`` if the peer said goodbye (the caller should stop
        reading and close the connection).

    Raises
    ------
    PeerDisconnectedError
        If the stream ended (or failed) without a GOODBYE, between messages or
        inside one.
    PeerTimeoutError
        If the stream has a timeout and it expired.
    MessageTooLargeError
        If the message would exceed ``max_message_bytes``.
    TransportError
        On a protocol violation: an unknown frame type, a frame longer than
        ``chunk_bytes``, a non-empty GOODBYE, a GOODBYE or ACCEPT inside a message,
        an empty CHUNK frame.  The connection is unusable afterwards.

    Examples
    --------
    >>> import socket
    >>> left, right = socket.socketpair()
    >>> send_message(left, bytes(300), chunk_bytes=100)
    >>> len(read_message(right, max_message_bytes=1000, chunk_bytes=100))
    300
    >>> send_message(left, bytes(300), chunk_bytes=100)
    >>> read_message(right, max_message_bytes=250, chunk_bytes=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vfl.exceptions.MessageTooLargeError: the peer sent a message of more than 250 bytes ...
    >>> left.close(); right.close()
    """
    _check_chunk_bytes(chunk_bytes)
    if max_message_bytes < 0:
        raise ValueError(f"max_message_bytes must be >= 0, got {max_message_bytes}")
    message = bytearray()
    first = True
    while True:
        header = _read_header(stream, peer, at_boundary=first)
        if header is None:
            raise PeerDisconnectedError(
                f"{_who(peer)} closed the connection without saying goodbye (crashed or killed?)",
                peer,
            )
        frame_type, length = _check_header(header, chunk_bytes, peer)
        if frame_type is FrameType.GOODBYE:
            if not first:
                raise TransportError(
                    f"protocol violation by {_who(peer)}: GOODBYE inside a message", peer
                )
            if length:
                raise TransportError(
                    f"protocol violation by {_who(peer)}: GOODBYE frame with a "
                    f"{length}-byte payload",
                    peer,
                )
            return None
        if frame_type is FrameType.ACCEPT:
            raise TransportError(
                f"protocol violation by {_who(peer)}: unexpected ACCEPT frame", peer
            )
        if frame_type is FrameType.CHUNK and length == 0:
            raise TransportError(f"protocol violation by {_who(peer)}: empty CHUNK frame", peer)
        if len(message) + length > max_message_bytes:
            raise MessageTooLargeError(
                f"{_who(peer)} sent a message of more than {max_message_bytes} bytes "
                f"(at least {len(message) + length}); refused. Raise max_message_bytes on "
                "both sides if such messages are expected",
                peer,
            )
        first = False
        _recv_into(stream, message, length, peer, "a message")
        if frame_type is FrameType.LAST:
            return bytes(message)
