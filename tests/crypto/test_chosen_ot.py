"""Chosen-message OTs from the KKRT extension: setup, 1-of-N, big-integer OT, bit products."""

from __future__ import annotations

import dataclasses
import secrets

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.chosen_ot import (
    MIN_CODE_DISTANCE,
    BitProductReceiver,
    BitProductSender,
    IntOtReceiver,
    IntOtReply,
    IntOtSender,
    OtColumns,
    OtFlips,
    OtReceiverState,
    OtSenderState,
    choice_codes,
    random_bits,
    receiver_pads,
    request,
    sender_pads,
)
from crypto.exceptions import MalformedInputError
from tests.support.ot_states import SavedStates, fresh_states, saved_setup

KEY = b"test chosen ot"


@pytest.fixture(scope="module")
def setup() -> SavedStates:
    return saved_setup(KEY)


def _states(setup: SavedStates) -> tuple[OtReceiverState, OtSenderState]:
    return fresh_states(setup)


def test_codes_are_far_apart() -> None:
    for n in (2, 16, 32, 256):
        codes = choice_codes(KEY, n)
        bits = np.unpackbits(codes[:, None] ^ codes[None, :], axis=2).sum(axis=2)
        assert bits[~np.eye(n, dtype=bool)].min() >= MIN_CODE_DISTANCE
    with pytest.raises(MalformedInputError):
        choice_codes(KEY, 1)


@settings(max_examples=15, deadline=None)
@given(
    n_choices=st.integers(2, 32),
    count=st.integers(0, 300),
    width=st.sampled_from([1, 3, 16, 17, 40]),
    data=st.data(),
)
def test_one_of_n_pads(
    setup: tuple[bytes, bytes], n_choices: int, count: int, width: int, data: st.DataObject
) -> None:
    receiver, sender = _states(setup)
    choices = np.array(
        data.draw(st.lists(st.integers(0, n_choices - 1), min_size=count, max_size=count)),
        dtype=np.int64,
    )
    message, secret = request(receiver, choices, n_choices)
    mine = receiver_pads(receiver, secret, width)
    pads = sender_pads(sender, message, n_choices, count, width)
    assert receiver.counter == sender.counter == -(-count // 128) * 128
    assert pads.shape == (count, n_choices, width)
    assert np.array_equal(pads[np.arange(count), choices], mine)
    if count:  # the other pads differ from the chosen one (16-byte pads: never equal by chance)
        others = np.ones((count, n_choices), dtype=bool)
        others[np.arange(count), choices] = False
        if width >= 3:
            assert not (pads == mine[:, None, :]).all(axis=2)[others].any()


def test_counter_advances_and_pads_change(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    choices = np.zeros(5, dtype=np.int64)
    pads = []
    for expected in (0, 128, 256):
        message, secret = request(receiver, choices, 2)
        assert message.first == expected
        pads.append(receiver_pads(receiver, secret, 16))
        sender_pads(sender, message, 2, 5, 16)
    assert len({p.tobytes() for p in pads}) == 3  # same choices, new instances: new pads


def test_int_ot_exact(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    n, bits = 300, 200
    m0 = [secrets.randbits(bits) for _ in range(n)] + [0, 2**bits - 1]
    m1 = [secrets.randbits(bits) for _ in range(n)] + [2**bits - 1, 0]
    choices = np.frombuffer(secrets.token_bytes(n + 2), dtype=np.uint8) & 1
    ot_r, ot_s = IntOtReceiver(receiver), IntOtSender(sender)
    reply = ot_s.respond(ot_r.request(choices), m0, m1, bits)
    assert ot_r.result(reply) == [b if c else a for a, b, c in zip(m0, m1, choices, strict=True)]


def test_int_ot_refuses_malformed(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    ot_r, ot_s = IntOtReceiver(receiver), IntOtSender(sender)
    message = ot_r.request(np.array([0, 1, 1], dtype=np.uint8))
    with pytest.raises(MalformedInputError):  # message too wide
        ot_s.respond(message, [1, 2, 2**8], [0, 0, 0], bits=8)
    with pytest.raises(MalformedInputError):  # negative
        ot_s.respond(message, [1, 2, -1], [0, 0, 0], bits=8)
    with pytest.raises(MalformedInputError):  # wrong count
        ot_s.respond(message, [1, 2], [0, 0], bits=8)
    with pytest.raises(MalformedInputError):  # truncated columns
        ot_s.respond(
            dataclasses.replace(message, columns=message.columns[:-1]), [1] * 3, [0] * 3, 8
        )
    with pytest.raises(MalformedInputError):  # another instance number
        ot_s.respond(dataclasses.replace(message, first=128), [1] * 3, [0] * 3, 8)
    reply = ot_s.respond(message, [1, 2, 3], [4, 5, 6], bits=8)
    with pytest.raises(MalformedInputError):  # replay: the instances are used
        ot_s.respond(message, [1, 2, 3], [4, 5, 6], bits=8)
    for bad in (
        IntOtReply(8, reply.masked[:2]),
        IntOtReply(8, reply.masked.astype(np.int64)),
        IntOtReply(16, reply.masked),
        IntOtReply(0, reply.masked),
    ):
        with pytest.raises(MalformedInputError):
            ot_r.result(bad)
    assert ot_r.result(reply) == [1, 5, 6]


def test_request_refuses_bad_choices(setup: tuple[bytes, bytes]) -> None:
    receiver, _ = _states(setup)
    for bad in (np.array([0, 2]), np.array([-1]), np.array([0.5]), np.zeros((2, 2), dtype=int)):
        with pytest.raises(MalformedInputError):
            request(receiver, bad, 2)
    assert receiver.counter == 0


def test_bit_products(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    product_r, product_s = BitProductReceiver(receiver), BitProductSender(sender)
    message = product_r.request(4000)
    b, z_s = product_s.shares(message, 4000)
    a, z_r = product_r.shares()
    assert np.array_equal(z_r ^ z_s, a & b)
    for bits in (a, b, z_r, z_s):  # each party's bits are uniform: 2000 +- 5 sigma (158)
        assert abs(int(bits.sum()) - 2000) < 160
    assert abs(int((a & b).sum()) - 1000) < 140


def test_state_round_trip_and_refusal(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    receiver.counter = sender.counter = 384
    assert OtReceiverState.from_bytes(receiver.to_bytes()) == receiver
    assert OtSenderState.from_bytes(sender.to_bytes()) == sender
    for bad in (b"", setup[0][:-1], setup[1] + b"x", b"X" + setup[0][1:]):
        with pytest.raises(MalformedInputError):
            OtReceiverState.from_bytes(bad)
        with pytest.raises(MalformedInputError):
            OtSenderState.from_bytes(bad)
    with pytest.raises(MalformedInputError):
        sender_pads(sender, OtColumns(0, 0, b""), 2, 0, 1)  # counter mismatch (0 != 384)


def test_int_ot_derandomised(setup: tuple[bytes, bytes]) -> None:
    """Random choices first, the actual ones later as flips: R gets m[actual]."""
    receiver, sender = _states(setup)
    n, bits = 200, 42
    m0 = [secrets.randbits(bits) for _ in range(n)]
    m1 = [secrets.randbits(bits) for _ in range(n)]
    ot_r, ot_s = IntOtReceiver(receiver), IntOtSender(sender)
    ot_s.accept(ot_r.request(random_bits(n)), n, bits)
    actual = random_bits(n)
    flips = ot_r.flips(actual)
    assert ot_r.result(ot_s.reply(m0, m1, flips)) == [
        b if c else a for a, b, c in zip(m0, m1, actual, strict=True)
    ]
    with pytest.raises(MalformedInputError):  # pads are used once
        ot_s.reply(m0, m1, flips)


def test_int_ot_refuses_bad_flips(setup: tuple[bytes, bytes]) -> None:
    receiver, sender = _states(setup)
    ot_r, ot_s = IntOtReceiver(receiver), IntOtSender(sender)
    ot_s.accept(ot_r.request(random_bits(4)), 4, 8)
    with pytest.raises(MalformedInputError):
        ot_r.flips(np.array([0, 1, 2, 0]))
    with pytest.raises(MalformedInputError):
        ot_r.flips(np.array([0, 1, 1]))
    for bad in (
        OtFlips(np.array([0, 1, 1], dtype=np.uint8)),
        OtFlips(np.array([0, 1, 1, 2], dtype=np.uint8)),
        OtFlips(np.array([0, 1, 1, 0], dtype=np.int64)),
    ):
        with pytest.raises(MalformedInputError):
            ot_s.reply([1] * 4, [2] * 4, bad)
    with pytest.raises(MalformedInputError):
        ot_s.reply([1] * 3, [2] * 3)
    assert ot_r.result(ot_s.reply([1] * 4, [2] * 4, ot_r.flips(np.ones(4, np.uint8)))) == [2] * 4
