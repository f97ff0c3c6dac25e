"""Wire framing: encoding, reassembly, limits and hostile byte streams (no sockets)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfl.exceptions import (
    MessageTooLargeError,
    PeerDisconnectedError,
    PeerTimeoutError,
    TransportError,
)
from vfl.runtime.transport.framing import (
    DEFAULT_CHUNK_BYTES,
    HEADER_BYTES,
    FrameType,
    encode_frame,
    encode_goodbye,
    encode_message,
    read_frame,
    read_message,
    send_goodbye,
    send_message,
)


class ByteStream:
    """A socket stand-in over a byte string; ``reads`` cycles through short-read sizes."""

    def __init__(self, data: bytes, reads: list[int] | None = None) -> None:
        self.data = data
        self.position = 0
        self.reads = [r for r in (reads or []) if r > 0]
        self.calls = 0
        self.largest_request = 0

    def recv(self, size: int) -> bytes:
        self.largest_request = max(self.largest_request, size)
        if self.reads:
            size = min(size, self.reads[self.calls % len(self.reads)])
        self.calls += 1
        chunk = self.data[self.position : self.position + size]
        self.position += len(chunk)
        return chunk


class FailingStream:
    def __init__(self, error: OSError) -> None:
        self.error = error

    def recv(self, size: int) -> bytes:
        raise self.error


class Sink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.frames.append(bytes(data))


def header(frame_type: int, length: int) -> bytes:
    return struct.pack(">BI", frame_type, length)


def read_all(stream: ByteStream, **kwargs: int) -> list[bytes | None]:
    """Messages until GOODBYE (recorded as None)."""
    out: list[bytes | None] = []
    while True:
        message = read_message(stream, peer="bob", **kwargs)
        out.append(message)
        if message is None:
            return out


# encoding ---------------------------------------------------------------------------
def test_header_layout() -> None:
    assert encode_frame(FrameType.LAST, b"abc") == b"\x02\x00\x00\x00\x03abc"
    assert encode_goodbye() == b"\x03\x00\x00\x00\x00"
    assert HEADER_BYTES == 5
    assert DEFAULT_CHUNK_BYTES == 1 << 20


@pytest.mark.parametrize(
    ("size", "expected"),
    [(0, [(2, 0)]), (1, [(2, 1)]), (4, [(2, 4)]), (5, [(1, 4), (2, 1)]), (8, [(1, 4), (2, 4)])],
)
def test_message_is_cut_into_chunks(size: int, expected: list[tuple[int, int]]) -> None:
    frames = list(encode_message(bytes(range(size)), chunk_bytes=4))
    assert [struct.unpack(">BI", f[:5]) for f in frames] == expected
    assert b"".join(f[5:] for f in frames) == bytes(range(size))


def test_send_message_writes_frames_no_larger_than_a_chunk() -> None:
    sink = Sink()
    message = bytes(range(256)) * 40
    send_message(sink, message, chunk_bytes=1000)
    send_goodbye(sink)
    assert len(sink.frames) == 12
    assert all(len(f) <= 1000 + HEADER_BYTES for f in sink.frames)
    stream = ByteStream(b"".join(sink.frames))
    assert read_all(stream, max_message_bytes=len(message), chunk_bytes=1000) == [message, None]


def test_bad_chunk_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="chunk_bytes"):
        list(encode_message(b"x", chunk_bytes=0))
    with pytest.raises(TypeError):
        list(encode_message(b"x", chunk_bytes=True))


# reassembly -------------------------------------------------------------------------
def test_messages_round_trip_with_one_byte_reads() -> None:
    messages = [b"", b"a", b"hello world", bytes(100)]
    wire = b"".join(f for m in messages for f in encode_message(m, chunk_bytes=7))
    stream = ByteStream(wire + encode_goodbye(), reads=[1])
    assert read_all(stream, max_message_bytes=100, chunk_bytes=7) == [*messages, None]


def test_message_of_exactly_the_limit_is_accepted() -> None:
    wire = b"".join(encode_message(b"x" * 10, chunk_bytes=3))
    assert read_message(ByteStream(wire), max_message_bytes=10, chunk_bytes=3) == b"x" * 10


def test_eof_between_messages_is_a_disconnect_naming_the_peer() -> None:
    with pytest.raises(PeerDisconnectedError, match="without saying goodbye") as info:
        read_message(ByteStream(b""), max_message_bytes=10, peer="bob")
    assert info.value.peer == "bob"


@pytest.mark.parametrize(
    "wire",
    [
        b"\x02\x00",  # inside a header
        header(2, 10) + b"abc",  # inside a payload
        header(1, 3) + b"abc",  # after a CHUNK, before the LAST
    ],
)
def test_eof_inside_a_message_is_a_disconnect(wire: bytes) -> None:
    with pytest.raises(PeerDisconnectedError, match="middle") as info:
        read_message(ByteStream(wire), max_message_bytes=100, chunk_bytes=16, peer="bob")
    assert info.value.peer == "bob"


def test_stream_errors_become_transport_errors() -> None:
    with pytest.raises(PeerDisconnectedError) as info:
        read_message(FailingStream(ConnectionResetError("reset")), max_message_bytes=1, peer="x")
    assert info.value.peer == "x"
    with pytest.raises(PeerTimeoutError):
        read_message(FailingStream(TimeoutError("slow")), max_message_bytes=1, peer="x")


# limits: refused before the payload is read -------------------------------------------
def test_oversize_single_frame_is_refused_after_reading_only_the_header() -> None:
    stream = ByteStream(header(2, 1000) + bytes(1000))
    with pytest.raises(MessageTooLargeError, match="999") as info:
        read_message(stream, max_message_bytes=999, chunk_bytes=4096, peer="bob")
    assert info.value.peer == "bob"
    assert stream.position == HEADER_BYTES


def test_running_total_is_checked_frame_by_frame() -> None:
    wire = b"".join(encode_message(bytes(40), chunk_bytes=10))
    stream = ByteStream(wire)
    with pytest.raises(MessageTooLargeError):
        read_message(stream, max_message_bytes=25, chunk_bytes=10, peer="bob")
    # two chunks (20 bytes) read, the third header read, its payload not
    assert stream.position == 3 * HEADER_BYTES + 20


def test_huge_declared_length_is_a_protocol_violation_not_an_allocation() -> None:
    stream = ByteStream(header(2, 0xFFFFFFFF))
    with pytest.raises(TransportError, match="protocol violation") as info:
        read_message(stream, max_message_bytes=1 << 40, peer="bob")
    assert type(info.value) is TransportError
    assert info.value.peer == "bob"
    assert stream.position == HEADER_BYTES
    assert stream.largest_request <= HEADER_BYTES


def test_reader_never_asks_for_more_than_it_needs_bounded() -> None:
    message = bytes(3 << 20)
    stream = ByteStream(b"".join(encode_message(message)))
    assert read_message(stream, max_message_bytes=len(message)) == message
    assert stream.largest_request <= 1 << 18


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (header(9, 0), "unknown frame type 9"),
        (header(0, 0), "unknown frame type 0"),
        (header(3, 2) + b"xx", "GOODBYE frame with a 2-byte payload"),
        (header(1, 2) + b"xx" + header(3, 0), "GOODBYE inside a message"),
        (header(4, 0), "unexpected ACCEPT"),
        (header(1, 0), "empty CHUNK"),
        (header(1, 17), "17 bytes"),
    ],
)
def test_protocol_violations(wire: bytes, match: str) -> None:
    with pytest.raises(TransportError, match=match) as info:
        read_message(ByteStream(wire), max_message_bytes=100, chunk_bytes=16, peer="bob")
    assert type(info.value) is TransportError
    assert info.value.peer == "bob"


def test_read_frame_returns_any_known_frame() -> None:
    stream = ByteStream(encode_frame(FrameType.ACCEPT) + encode_frame(FrameType.CHUNK, b"ab"))
    assert read_frame(stream) == (FrameType.ACCEPT, b"")
    assert read_frame(stream) == (FrameType.CHUNK, b"ab")
    with pytest.raises(PeerDisconnectedError):
        read_frame(stream)
    with pytest.raises(TransportError, match="frame limit"):
        read_frame(ByteStream(header(4, 2) + b"xx"), chunk_bytes=1)


# hostile streams ----------------------------------------------------------------------
def consume(stream: ByteStream, max_message_bytes: int, chunk_bytes: int) -> list[bytes]:
    """Read messages until the stream fails; only TransportError may end it."""
    messages: list[bytes] = []
    for _ in range(10_000):  # every read consumes at least a header, so this is never hit
        try:
            message = read_message(
                stream, max_message_bytes=max_message_bytes, chunk_bytes=chunk_bytes, peer="eve"
            )
        except TransportError as error:
            assert error.peer == "eve"
            return messages
        if message is None:
            return messages
        assert len(message) <= max_message_bytes
        messages.append(message)
    raise AssertionError("reader did not make progress")


@settings(max_examples=200)
@given(
    data=st.binary(max_size=300),
    reads=st.lists(st.integers(1, 20), max_size=5),
    limit=st.integers(0, 64),
    chunk=st.integers(1, 32),
)
def test_random_bytes_only_ever_raise_transport_errors(
    data: bytes, reads: list[int], limit: int, chunk: int
) -> None:
    consume(ByteStream(data, reads), limit, chunk)


@st.composite
def mutated_streams(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    messages = draw(st.lists(st.binary(max_size=50), min_size=1, max_size=5))
    wire = bytearray(b"".join(f for m in messages for f in encode_message(m, chunk_bytes=8)))
    wire += encode_goodbye()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        position = draw(st.integers(0, max(0, len(wire) - 1)))
        if kind == "flip" and wire:
            wire[position] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            wire[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del wire[position : position + draw(st.integers(1, 8))]
        else:
            del wire[position:]
    return messages, bytes(wire)


@settings(max_examples=200)
@given(case=mutated_streams(), reads=st.lists(st.integers(1, 16), max_size=4))
def test_mutated_streams_only_ever_raise_transport_errors(
    case: tuple[list[bytes], bytes], reads: list[int]
) -> None:
    _, wire = case
    consume(ByteStream(wire, reads), max_message_bytes=60, chunk_bytes=8)


@settings(max_examples=100)
@given(
    messages=st.lists(st.binary(max_size=100), max_size=8),
    chunk=st.integers(1, 40),
    reads=st.lists(st.integers(1, 30), max_size=5),
)
def test_round_trip_any_chunking_and_read_pattern(
    messages: list[bytes], chunk: int, reads: list[int]
) -> None:
    wire = b"".join(f for m in messages for f in encode_message(m, chunk_bytes=chunk))
    stream = ByteStream(wire + encode_goodbye(), reads)
    assert read_all(stream, max_message_bytes=100, chunk_bytes=chunk) == [*messages, None]
    assert stream.position == len(stream.data)
