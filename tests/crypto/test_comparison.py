"""Secure comparison on shares: MSB exactness, B2A, the parties' views, malformed messages."""

from __future__ import annotations

import dataclasses
import secrets

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.chosen_ot import (
    OtReceiverState,
    OtSenderState,
)
from crypto.comparison import (
    B2A_BITS,
    TRIPLE_SOURCES,
    AndOpenings,
    B2aReceiver,
    B2aSender,
    CompareOpenings,
    CompareTables,
    ComparisonReceiver,
    ComparisonSender,
)
from crypto.exceptions import MalformedInputError
from tests.support.ot_states import SavedStates, fresh_states, saved_setup

KEY = b"test comparison"


@pytest.fixture(scope="module")
def setup() -> SavedStates:
    return saved_setup(KEY)


def _states(setup: SavedStates) -> tuple[OtReceiverState, OtSenderState]:
    return fresh_states(setup)


def _run(
    setup: tuple[bytes, bytes],
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    bits: int,
    chunk: int,
    sender_class: type[ComparisonSender] = ComparisonSender,
    triples: str = "random_ot",
) -> tuple[ComparisonReceiver, ComparisonSender, list[object]]:
    r_state, s_state = _states(setup)
    receiver = ComparisonReceiver(r_state, bits, chunk, triples)
    sender = sender_class(s_state, bits, chunk, triples)
    transcript: list[object] = [receiver.start(x)]
    to_r: CompareTables | CompareOpenings | None = sender.respond(transcript[0], y)  # type: ignore[arg-type]
    while to_r is not None:
        transcript.append(to_r)
        to_s = receiver.step(to_r)
        if to_s is None:
            break
        transcript.append(to_s)
        to_r = sender.step(to_s)
    assert receiver.done and sender.done
    return receiver, sender, transcript


def _msb(x: npt.NDArray[np.uint64], y: npt.NDArray[np.uint64], bits: int) -> npt.NDArray[np.uint8]:
    total = [(int(a) + int(b)) % (1 << bits) >> (bits - 1) for a, b in zip(x, y, strict=True)]
    return np.array(total, dtype=np.uint8)


def _edge_values(bits: int) -> list[int]:
    half = 1 << (bits - 1)
    return sorted({0, 1, half - 1, half, half + 1, 2 * half - 1, 2 * half - 2})


@settings(max_examples=25, deadline=None)
@given(
    bits=st.integers(2, 32),
    chunk=st.integers(1, 5),
    n=st.integers(0, 300),
    triples=st.sampled_from(TRIPLE_SOURCES),
    data=st.data(),
)
def test_msb_exact(
    setup: tuple[bytes, bytes], bits: int, chunk: int, n: int, triples: str, data: st.DataObject
) -> None:
    values = st.integers(0, (1 << bits) - 1)
    x = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.uint64)
    y = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), dtype=np.uint64)
    receiver, sender, _ = _run(setup, x, y, bits, chunk, triples=triples)
    assert np.array_equal(receiver.result() ^ sender.result(), _msb(x, y, bits))


@pytest.mark.parametrize("triples", TRIPLE_SOURCES)
@pytest.mark.parametrize(
    ("bits", "chunk"), [(2, 1), (3, 4), (16, 4), (16, 1), (17, 5), (32, 4), (32, 3)]
)
def test_msb_edges(setup: tuple[bytes, bytes], bits: int, chunk: int, triples: str) -> None:
    mask = (1 << bits) - 1
    edges = _edge_values(bits)
    pairs = [(a, b) for a in edges for b in edges]
    pairs += [(a, (-a) & mask) for a in edges]  # sum wraps to 0
    pairs += [(a, (c - a) & mask) for a in edges for c in edges]  # every sum from every x
    half = 1 << (bits - 1)
    pairs += [(a, a ^ half) for a in edges]  # equal low parts
    x = np.array([a for a, _ in pairs], dtype=np.uint64)
    y = np.array([b for _, b in pairs], dtype=np.uint64)
    receiver, sender, _ = _run(setup, x, y, bits, chunk, triples=triples)
    assert np.array_equal(receiver.result() ^ sender.result(), _msb(x, y, bits))


def test_threshold_comparisons(setup: tuple[bytes, bytes]) -> None:
    """[z < lo] and [z > hi] of shared scores, as clipping uses them (2n values in one call)."""
    bits, scale = 32, 1 << 16
    z = np.array([-9.0, -8.0, -7.99, 0.0, 5.99, 6.0, 6.5, -100.0, 100.0])
    fixed = np.round(z * scale).astype(np.int64)
    a = np.frombuffer(secrets.token_bytes(8 * len(z)), dtype=np.uint64) & np.uint64(2**bits - 1)
    b = (fixed.astype(np.uint64) - a) & np.uint64(2**bits - 1)  # a + b = z (mod 2**32)
    lo, hi = -8 * scale, 6 * scale
    mod = np.uint64(2**bits - 1)
    x = np.concatenate([(a - np.uint64(lo & 0xFFFFFFFF)) & mod, (np.uint64(hi) - a) & mod])
    y = np.concatenate([b, (np.uint64(0) - b) & mod])  # z - lo < 0 and hi - z < 0
    receiver, sender, _ = _run(setup, x, y, bits, 4)
    bits_out = (receiver.result() ^ sender.result()).reshape(2, -1)
    assert bits_out[0].tolist() == (z < -8).astype(int).tolist()
    assert bits_out[1].tolist() == (z > 6).astype(int).tolist()


def test_b2a_exact(setup: tuple[bytes, bytes]) -> None:
    r_state, s_state = _states(setup)
    n = 1000
    c_r = np.frombuffer(secrets.token_bytes(n), dtype=np.uint8) & 1
    c_s = np.frombuffer(secrets.token_bytes(n), dtype=np.uint8) & 1
    receiver, sender = B2aReceiver(r_state), B2aSender(s_state)
    reply = sender.respond(receiver.request(c_r), c_s)
    mine, theirs = receiver.result(reply), sender.result()
    assert np.array_equal(mine + theirs, (c_r ^ c_s).astype(np.int64))
    assert int(mine.min()) >= 0 and int(mine.max()) <= 1 << B2A_BITS
    assert int(theirs.max()) <= 0 and int(theirs.min()) > -(1 << B2A_BITS)
    # R's value is statistically hiding: its top bit is uniform
    top = (mine >> (B2A_BITS - 1)) & 1
    assert abs(int(top.sum()) - n // 2) < 80


def _chi_square_uniform(counts: npt.NDArray[np.int64]) -> float:
    expected = counts.sum() / counts.size
    return float(((counts - expected) ** 2 / expected).sum())


def _receiver_view(receiver: ComparisonReceiver, transcript: list[object]) -> npt.NDArray[np.uint8]:
    """Per row: R's received leaf shares (gt, eq per chunk) and S's opened bits (level 0)."""
    leaves = receiver.received.reshape(len(receiver.result()), -1)
    tables = transcript[1]
    assert isinstance(tables, CompareTables)
    opened = tables.openings[0]
    rows = len(leaves)
    d = np.unpackbits(opened.d)[: rows * 4].reshape(rows, -1)
    e = np.unpackbits(opened.e)[: rows * 4].reshape(rows, -1)
    return np.concatenate([leaves, d, e], axis=1)


def _sender_view(transcript: list[object], rows: int) -> npt.NDArray[np.uint8]:
    """Per row: R's opened bits of both levels."""
    columns = []
    for message in transcript[2::2]:
        assert isinstance(message, CompareOpenings)
        for opened in message.openings:
            gates = len(np.unpackbits(opened.d)) // rows
            width = 4 if opened.level == 0 else 1
            assert gates >= width
            columns += [np.unpackbits(opened.d)[: rows * width].reshape(rows, width)]
            columns += [np.unpackbits(opened.e)[: rows * width].reshape(rows, width)]
    return np.concatenate(columns, axis=1)


class _UnmaskedSender(ComparisonSender):
    """Negative control: table entries not masked by S's random bits."""

    def _mask_bits(self, count: int) -> npt.NDArray[np.uint8]:
        return np.zeros(count, dtype=np.uint8)


def _uniform_columns(view: npt.NDArray[np.uint8]) -> bool:
    """Every column's bit, and every pair of adjacent columns, is uniform (chi-square)."""
    for column in range(view.shape[1]):
        ones = int(view[:, column].sum())
        if _chi_square_uniform(np.array([ones, len(view) - ones])) > 30:  # p ~ 4e-8 (1 dof)
            return False
    for column in range(0, view.shape[1] - 1):
        cells = np.bincount(2 * view[:, column] + view[:, column + 1], minlength=4)
        if _chi_square_uniform(cells.astype(np.int64)) > 40:  # p ~ 1e-8 (3 dof)
            return False
    return True


@pytest.mark.parametrize("triples", TRIPLE_SOURCES)
@pytest.mark.parametrize("sender_class", [ComparisonSender, _UnmaskedSender])
def test_views_independent_of_the_other_input(
    setup: tuple[bytes, bytes], sender_class: type[ComparisonSender], triples: str
) -> None:
    """600 runs (rows) at l = 16, m = 4 with the same x and two different y, and vice versa."""
    rows, bits = 600, 16
    x = np.full(rows, 0x1234, dtype=np.uint64)
    views_r = []
    for y_value in (0x0000, 0x7FFF):  # y_low below / above every chunk of w
        receiver, _, transcript = _run(
            setup, x, np.full(rows, y_value, np.uint64), bits, 4, sender_class, triples
        )
        views_r.append(_receiver_view(receiver, transcript))
    expected = sender_class is ComparisonSender
    assert all(_uniform_columns(view) for view in views_r) is expected
    # S's view: R's openings, for two different x (the broken S does not change R's side)
    y = np.full(rows, 0x4321, dtype=np.uint64)
    for x_value in (0x0000, 0x7FFF):
        _, _, transcript = _run(
            setup, np.full(rows, x_value, np.uint64), y, bits, 4, sender_class, triples
        )
        assert _uniform_columns(_sender_view(transcript, rows))


def test_malformed_messages_refused(setup: tuple[bytes, bytes]) -> None:
    r_state, s_state = _states(setup)
    receiver, sender = ComparisonReceiver(r_state), ComparisonSender(s_state)
    x = np.array([1, 2, 3], dtype=np.uint64)
    for bad in (
        np.array([1, 1 << 16]),
        np.array([-1]),
        np.array([0.5]),
        np.zeros((2, 2), dtype=int),
    ):
        with pytest.raises(MalformedInputError):
            ComparisonReceiver(r_state).start(bad)
    with pytest.raises(MalformedInputError):
        ComparisonReceiver(r_state, bits=33)
    with pytest.raises(MalformedInputError):
        ComparisonReceiver(r_state, bits=16, chunk=0)
    message = receiver.start(x)
    with pytest.raises(MalformedInputError):  # another row count
        ComparisonSender(OtSenderState.from_bytes(s_state.to_bytes())).respond(message, x[:2])
    with pytest.raises(MalformedInputError):  # wrong instance number
        bad_columns = dataclasses.replace(message.tables, first=message.tables.first + 128)
        ComparisonSender(OtSenderState.from_bytes(s_state.to_bytes())).respond(
            dataclasses.replace(message, tables=bad_columns), x
        )
    tables = sender.respond(message, x)
    with pytest.raises(MalformedInputError):  # replayed request: its instances are used
        ComparisonSender(s_state).respond(message, x)
    for bad_tables in (
        dataclasses.replace(tables, masked=tables.masked[:-1]),
        dataclasses.replace(tables, masked=tables.masked.astype(np.int16)),
        dataclasses.replace(tables, openings=()),
        dataclasses.replace(tables, openings=(dataclasses.replace(tables.openings[0], level=1),)),
        dataclasses.replace(
            tables, openings=(dataclasses.replace(tables.openings[0], d=tables.openings[0].d[:0]),)
        ),
        dataclasses.replace(
            tables, openings=(AndOpenings(0, np.array([0xFF, 0xFF]), tables.openings[0].e),)
        ),
        dataclasses.replace(
            tables,
            openings=(AndOpenings(0, np.array([0x00, 0x01], np.uint8), tables.openings[0].e),),
        ),
    ):
        probe = ComparisonReceiver(OtReceiverState.from_bytes(setup[0]))
        probe.start(x)
        with pytest.raises(MalformedInputError):
            probe.step(bad_tables)
    # padding bits: 3 rows x 4 gates = 12 bits in 2 bytes, the last 4 must be zero
    with pytest.raises(MalformedInputError):
        receiver.step(CompareOpenings(tables.openings))  # openings before tables
    to_s = receiver.step(tables)
    assert to_s is not None
    with pytest.raises(MalformedInputError):  # skipping level 0
        sender.step(CompareOpenings(to_s.openings[1:]))
    broken = dataclasses.replace(to_s.openings[1], e=to_s.openings[1].e[:-1])
    with pytest.raises(MalformedInputError):  # level 1 bad: level 0 must not be kept either
        sender.step(CompareOpenings((to_s.openings[0], broken)))
    reply = sender.step(to_s)
    assert reply is not None
    with pytest.raises(MalformedInputError):
        receiver.step(tables)  # tables again
    with pytest.raises(MalformedInputError):
        sender.step(CompareOpenings(()))
    assert receiver.step(reply) is None
    assert np.array_equal(receiver.result() ^ sender.result(), _msb(x, x, 16))


def test_b2a_refuses_malformed(setup: tuple[bytes, bytes]) -> None:
    r_state, s_state = _states(setup)
    receiver, sender = B2aReceiver(r_state), B2aSender(s_state)
    with pytest.raises(MalformedInputError):
        receiver.request(np.array([0, 2]))
    message = receiver.request(np.array([0, 1, 1]))
    with pytest.raises(MalformedInputError):
        sender.respond(message, np.array([1, 0]))
    reply = sender.respond(message, np.array([1, 0, 1]))
    with pytest.raises(MalformedInputError):
        receiver.result(dataclasses.replace(reply, masked=reply.masked[:, :1]))
    forged = reply.masked.copy()
    forged[:, :, 7] ^= 0x80  # values far above 2**B2A_BITS
    with pytest.raises(MalformedInputError):
        receiver.result(dataclasses.replace(reply, masked=forged))
    assert (receiver.result(reply) + sender.result()).tolist() == [1, 1, 0]


@settings(max_examples=30, deadline=None)
@given(
    size=st.integers(0, 4),
    dtype=st.sampled_from([np.uint8, np.int8, np.uint16, np.float64, np.bool_]),
    level=st.integers(-1, 3),
    fill=st.integers(0, 255),
)
def test_random_openings_refused_or_accepted_cleanly(
    setup: tuple[bytes, bytes], size: int, dtype: type, level: int, fill: int
) -> None:
    """Arbitrary openings from S: a MalformedInputError or a normal step, nothing else."""
    r_state, s_state = _states(setup)
    x = np.arange(3, dtype=np.uint64)
    receiver, sender = ComparisonReceiver(r_state), ComparisonSender(s_state)
    tables = sender.respond(receiver.start(x), x)
    forged = AndOpenings(level, np.full(size, fill).astype(dtype), tables.openings[0].e)
    valid = level == 0 and size == 2 and dtype is np.uint8 and fill & 0x0F == 0
    if valid:
        assert receiver.step(dataclasses.replace(tables, openings=(forged,))) is not None
    else:
        with pytest.raises(MalformedInputError):
            receiver.step(dataclasses.replace(tables, openings=(forged,)))


def test_chosen_ot_triples_refuse_malformed_tables(setup: tuple[bytes, bytes]) -> None:
    r_state, s_state = _states(setup)
    with pytest.raises(MalformedInputError):
        ComparisonReceiver(r_state, triples="bogus")
    x = np.arange(5, dtype=np.uint64)
    receiver = ComparisonReceiver(r_state, triples="chosen_ot")
    sender = ComparisonSender(s_state, triples="chosen_ot")
    tables = sender.respond(receiver.start(x), x)
    assert tables.triples.shape == (13, 16)  # 5 rows x 5 AND gates, two per transfer
    for bad in (tables.triples[:-1], tables.triples.astype(np.int32), np.zeros((0, 16), np.uint8)):
        with pytest.raises(MalformedInputError):
            receiver.step(dataclasses.replace(tables, triples=bad))  # type: ignore[arg-type]
    to_r: CompareTables | CompareOpenings | None = tables
    while to_r is not None:
        to_s = receiver.step(to_r)
        to_r = sender.step(to_s) if to_s is not None else None
    assert np.array_equal(receiver.result() ^ sender.result(), _msb(x, x, 16))


def test_comparison_then_b2a(setup: tuple[bytes, bytes]) -> None:
    """Clipping's pieces chained: [z < lo] as boolean shares, then as integer shares."""
    rows, bits = 400, 16
    z = np.frombuffer(secrets.token_bytes(2 * rows), dtype=np.uint16).astype(np.uint64)
    x = np.frombuffer(secrets.token_bytes(2 * rows), dtype=np.uint16).astype(np.uint64)
    y = (z - x) & np.uint64(0xFFFF)
    r_state, s_state = _states(setup)
    receiver = ComparisonReceiver(r_state, bits, 4, "chosen_ot")
    sender = ComparisonSender(s_state, bits, 4, "chosen_ot")
    to_r: CompareTables | CompareOpenings | None = sender.respond(receiver.start(x), y)
    while to_r is not None:
        to_s = receiver.step(to_r)
        to_r = sender.step(to_s) if to_s is not None else None
    b2a_r, b2a_s = B2aReceiver(r_state), B2aSender(s_state)
    reply = b2a_s.respond(b2a_r.request(receiver.result()), sender.result())
    total = b2a_r.result(reply) + b2a_s.result()
    assert np.array_equal(total, (z >> np.uint64(15)).astype(np.int64))  # z < 0 as a signed value
