"""KKRT-PSI cryptography: random base OTs, OT extension (batched OPRF), cuckoo hashing."""

from __future__ import annotations

import hashlib
import math
import random
from fractions import Fraction

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ecdh import LOW_ORDER_POINTS, POINT_BYTES, validate_points
from crypto.exceptions import InvalidPointError, MalformedInputError
from crypto.hash_to_curve import MONTGOMERY_A, P
from crypto.ot import BASE_POINT, KEY_BYTES, MAX_TRANSFERS, RandomOtReceiver, RandomOtSender
from crypto.ot_extension import (
    BIN_ALIGN,
    CODE_BITS,
    CODE_BYTES,
    HASH_FUNCTIONS,
    OUTPUT_BYTES,
    OprfReceiver,
    OprfSender,
    choice_bits,
    item_hashes,
    transpose_bits,
)
from protocols.exceptions import ProtocolError
from protocols.psi.cuckoo import CuckooError, bin_count, cuckoo_table

SALT = bytes(range(32))
KEY = hashlib.sha256(b"test output key").digest()


def _budget(factor: float) -> settings:
    """``factor`` times the profile's ``max_examples`` (ci: 40, long: 2000), at least one."""
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _twist_point() -> bytes:
    """A canonical u-coordinate on the twist of curve25519 (g(u) is not a square)."""
    u = 2
    while pow((u**3 + MONTGOMERY_A * u * u + u) % P, (P - 1) // 2, P) != P - 1:
        u += 1
    return u.to_bytes(32, "little")


def _naive_transpose(matrix: np.ndarray) -> np.ndarray:
    """Bit ``c`` of row ``r`` becomes bit ``r`` of row ``c``, one bit at a time (MSB first)."""
    rows, width = matrix.shape
    out = np.zeros((8 * width, rows // 8), dtype=np.uint8)
    for r in range(rows):
        for c in range(8 * width):
            bit = (int(matrix[r, c // 8]) >> (7 - c % 8)) & 1
            out[c, r // 8] |= bit << (7 - r % 8)
    return out


def _aes_ctr_from_zero(key: bytes, length: int) -> bytes:
    """``length`` bytes of AES-256-CTR under ``key`` starting at counter 0."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(length))


# --- base OT ----------------------------------------------------------------------------------


@_budget(0.375)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=24))
def test_random_ot_receiver_gets_exactly_the_chosen_keys(choices):
    sender = RandomOtSender(len(choices))
    receiver = RandomOtReceiver(choices)
    pairs = sender.keys(receiver.points)
    chosen = receiver.keys(sender.point)
    assert len(pairs) == len(chosen) == len(choices)
    for bit, (key0, key1), mine in zip(choices, pairs, chosen, strict=True):
        assert len(key0) == len(key1) == len(mine) == KEY_BYTES
        assert mine == (key1 if bit else key0)
        assert mine != (key0 if bit else key1)
    # every key of the batch is distinct: the index is bound into each key
    every_key = [key for pair in pairs for key in pair]
    assert len(set(every_key)) == 2 * len(choices)


def test_random_ot_points_are_valid_and_distinct():
    choices = [1, 0, 0, 1, 1, 0, 1, 0]
    sender = RandomOtSender(len(choices))
    receiver = RandomOtReceiver(choices)
    assert len(sender.point) == POINT_BYTES
    validate_points(sender.point)
    assert sender.point != BASE_POINT
    assert len(receiver.points) == 2 * len(choices) * POINT_BYTES
    validate_points(receiver.points)  # raises on any invalid point
    points = [receiver.points[i : i + POINT_BYTES] for i in range(0, len(receiver.points), 32)]
    assert len(set(points)) == len(points)  # both points of every pair differ, pairs too
    assert BASE_POINT not in points


def test_random_ot_fresh_runs_give_fresh_keys():
    choices = [0, 1, 1, 0]
    runs = []
    for _ in range(2):
        sender, receiver = RandomOtSender(4), RandomOtReceiver(choices)
        runs.append((sender.point, receiver.points, sender.keys(receiver.points)))
    (point_a, points_a, pairs_a), (point_b, points_b, pairs_b) = runs
    assert point_a != point_b
    assert points_a != points_b
    assert not {k for pair in pairs_a for k in pair} & {k for pair in pairs_b for k in pair}


def test_random_ot_keys_depend_on_the_sender_point():
    choices = [1, 0, 1]
    receiver = RandomOtReceiver(choices)
    first, second = RandomOtSender(3), RandomOtSender(3)
    for sender in (first, second):
        pairs = sender.keys(receiver.points)
        assert receiver.keys(sender.point) == [p[b] for p, b in zip(pairs, choices, strict=True)]
    assert not set(receiver.keys(first.point)) & set(receiver.keys(second.point))


@pytest.fixture(scope="module")
def ot_batch():
    sender = RandomOtSender(4)
    receiver = RandomOtReceiver([0, 1, 1, 0])
    return sender, receiver


@pytest.mark.parametrize("size", [0, 32, 4 * 32, 8 * 32 - 1, 8 * 32 + 1, 9 * 32])
def test_random_ot_sender_refuses_wrong_lengths(ot_batch, size):
    sender, receiver = ot_batch
    points = (receiver.points * 2)[:size]
    with pytest.raises(InvalidPointError, match=f"{size} bytes of OT points, expected 256"):
        sender.keys(points)


def test_random_ot_refuses_non_bytes(ot_batch):
    sender, receiver = ot_batch
    with pytest.raises(InvalidPointError, match="no bytes"):
        sender.keys(bytearray(receiver.points))  # type: ignore[arg-type]
    with pytest.raises(InvalidPointError, match="no bytes"):
        receiver.keys(bytearray(sender.point))  # type: ignore[arg-type]


BAD_POINTS = [
    pytest.param(bytes(32), "low-order", id="zero"),
    pytest.param((1).to_bytes(32, "little"), "low-order", id="one"),
    pytest.param(sorted(LOW_ORDER_POINTS)[-1], "low-order", id="order-8"),
    pytest.param((P - 1).to_bytes(32, "little"), "low-order", id="p-1"),
    pytest.param(_twist_point(), "twist", id="twist"),
    pytest.param(P.to_bytes(32, "little"), "u >= 2", id="non-canonical-p"),
    pytest.param((P + 9).to_bytes(32, "little"), "u >= 2", id="non-canonical-9"),
    pytest.param((9 + 2**255).to_bytes(32, "little"), "top bit", id="top-bit"),
]


@pytest.mark.parametrize("index", [0, 5, 7])
@pytest.mark.parametrize(("bad", "reason"), BAD_POINTS)
def test_random_ot_sender_refuses_invalid_points(ot_batch, bad, reason, index):
    sender, receiver = ot_batch
    start = index * POINT_BYTES
    points = receiver.points[:start] + bad + receiver.points[start + POINT_BYTES :]
    with pytest.raises(InvalidPointError, match=f"index {index}: .*{reason}"):
        sender.keys(points)


@pytest.mark.parametrize(("bad", "reason"), BAD_POINTS)
def test_random_ot_receiver_refuses_invalid_points(ot_batch, bad, reason):
    _, receiver = ot_batch
    with pytest.raises(InvalidPointError, match=reason):
        receiver.keys(bad)


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_random_ot_receiver_refuses_wrong_lengths(ot_batch, size):
    sender, receiver = ot_batch
    with pytest.raises(InvalidPointError, match=f"{size} bytes for its OT point, expected 32"):
        receiver.keys((sender.point * 2)[:size])


@pytest.mark.parametrize("transfer", [0, 2, 3])
@pytest.mark.parametrize("which", [0, 1])
def test_random_ot_sender_refuses_an_identical_pair(ot_batch, transfer, which):
    sender, receiver = ot_batch
    pairs = [receiver.points[i : i + 64] for i in range(0, len(receiver.points), 64)]
    point = pairs[transfer][32 * which : 32 * which + 32]
    pairs[transfer] = point + point
    with pytest.raises(InvalidPointError, match=f"same point twice for OT {transfer}"):
        sender.keys(b"".join(pairs))


@pytest.mark.parametrize("count", [0, -1, MAX_TRANSFERS + 1, True, 2.0, None])
def test_random_ot_sender_count_out_of_range(count):
    with pytest.raises(ValueError, match="1 to 4096 transfers"):
        RandomOtSender(count)  # type: ignore[arg-type]


def test_random_ot_counts_at_the_limits():
    assert RandomOtSender(1).count == 1
    assert RandomOtSender(MAX_TRANSFERS).count == MAX_TRANSFERS
    assert RandomOtReceiver([1]).count == 1
    with pytest.raises(ValueError, match="1 to 4096 transfers"):
        RandomOtReceiver([])
    with pytest.raises(ValueError, match="1 to 4096 transfers"):
        RandomOtReceiver([0] * (MAX_TRANSFERS + 1))
    for bad in ([2], [0, -1], [1, 0, 3]):
        with pytest.raises(ValueError, match="bits"):
            RandomOtReceiver(bad)


# --- OT extension -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oprf():
    """One OT-extension setup: base OTs of 512 transfers, the secret s, both sides."""
    secret = np.frombuffer(np.random.default_rng(7).bytes(CODE_BYTES), dtype=np.uint8).copy()
    ot_sender = RandomOtSender(CODE_BITS)
    ot_receiver = RandomOtReceiver(choice_bits(secret))
    pairs = ot_sender.keys(ot_receiver.points)
    seeds = ot_receiver.keys(ot_sender.point)
    receiver = OprfReceiver(pairs, key=KEY)
    sender = OprfSender(secret, seeds, key=KEY)
    return {
        "secret": secret,
        "pairs": pairs,
        "seeds": seeds,
        "receiver": receiver,
        "sender": sender,
    }


def _random_rows(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(count, CODE_BYTES), dtype=np.uint8)


@_budget(0.5)
@given(
    start_block=st.integers(0, 40),
    blocks=st.integers(1, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_oprf_sender_rows_are_t_xor_s_and_r(oprf, start_block, blocks, seed):
    start, count = start_block * BIN_ALIGN, blocks * BIN_ALIGN
    rows = _random_rows(seed, count)
    columns, t_rows = oprf["receiver"].columns(start, rows)
    assert len(columns) == CODE_BITS * count // 8
    assert t_rows.shape == (count, CODE_BYTES) and t_rows.dtype == np.uint8
    q_rows = oprf["sender"].rows(start, columns)
    assert np.array_equal(q_rows, t_rows ^ (oprf["secret"] & rows))


@_budget(0.25)
@given(start_block=st.integers(0, 20), blocks=st.integers(1, 3))
def test_oprf_t_rows_are_the_aes_streams_of_the_zero_seeds(oprf, start_block, blocks):
    """Column i of t is AES-256-CTR(k0[i]) at byte offset start / 8 (independent reference)."""
    start, count = start_block * BIN_ALIGN, blocks * BIN_ALIGN
    _, t_rows = oprf["receiver"].columns(start, _random_rows(start_block, count))
    streams = np.array(
        [
            list(_aes_ctr_from_zero(k0, (start + count) // 8)[start // 8 :])
            for k0, _ in oprf["pairs"]
        ],
        dtype=np.uint8,
    )
    bits = np.unpackbits(streams, axis=1)  # (CODE_BITS, count): bit j of column i
    expected = np.packbits(bits.T, axis=1)
    assert np.array_equal(t_rows, expected)


@_budget(0.375)
@given(
    start_block=st.integers(0, 30),
    sizes=st.lists(st.integers(1, 3), min_size=2, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_oprf_blocks_computed_separately_equal_one_big_block(oprf, start_block, sizes, seed):
    receiver, sender = oprf["receiver"], oprf["sender"]
    start, total = start_block * BIN_ALIGN, sum(sizes) * BIN_ALIGN
    rows = _random_rows(seed, total)
    big_columns, big_t = receiver.columns(start, rows)
    big_q = sender.rows(start, big_columns)
    u_parts, t_parts, q_parts = [], [], []
    offset = 0
    for size in sizes:
        count = size * BIN_ALIGN
        columns, t_rows = receiver.columns(start + offset, rows[offset : offset + count])
        u_parts.append(np.frombuffer(columns, dtype=np.uint8).reshape(CODE_BITS, count // 8))
        t_parts.append(t_rows)
        q_parts.append(sender.rows(start + offset, columns))
        offset += count
    big_u = np.frombuffer(big_columns, dtype=np.uint8).reshape(CODE_BITS, total // 8)
    assert np.array_equal(np.hstack(u_parts), big_u)
    assert np.array_equal(np.vstack(t_parts), big_t)
    assert np.array_equal(np.vstack(q_parts), big_q)


def test_oprf_blocks_at_different_starts_differ(oprf):
    rows = _random_rows(1, BIN_ALIGN)
    first, t_first = oprf["receiver"].columns(0, rows)
    second, t_second = oprf["receiver"].columns(BIN_ALIGN, rows)
    assert first != second
    assert not np.array_equal(t_first, t_second)


@_budget(0.375)
@given(
    ids=st.lists(st.binary(max_size=12), min_size=1, max_size=8, unique=True),
    functions=st.lists(st.integers(0, HASH_FUNCTIONS - 1), min_size=8, max_size=8),
    start_block=st.integers(0, 5),
    places=st.permutations(range(BIN_ALIGN)),
)
def test_oprf_outputs_agree_exactly_on_the_binned_item(oprf, ids, functions, start_block, places):
    """F(j, y, h) of the sender equals the receiver's value in bin j iff (y, h) is what sits there."""
    receiver, sender = oprf["receiver"], oprf["sender"]
    start, n = start_block * BIN_ALIGN, len(ids)
    codes, _ = item_hashes(ids, SALT, bins=1000)
    local = np.array(places[:n])  # item m sits in bin start + local[m], by function functions[m]
    rows = _random_rows(n, BIN_ALIGN)  # random rows for the empty bins
    rows[local] = codes[np.arange(n), functions[:n]]
    columns, t_rows = receiver.columns(start, rows)
    q_rows = sender.rows(start, columns)
    bins = (local + start).astype(np.int64)
    mine = receiver.outputs(t_rows[local], bins)
    assert len(mine) == OUTPUT_BYTES * n
    mine_values = [mine[m * OUTPUT_BYTES : (m + 1) * OUTPUT_BYTES] for m in range(n)]
    assert len(set(mine_values)) == n  # different bins give different outputs
    empty = np.array(places[n : n + 3])
    evaluated = set()
    for y in range(n):
        for h in range(HASH_FUNCTIONS):
            code = codes[y, h]
            # evaluate (y, h) in every occupied bin and in a few empty ones
            in_bins = sender.outputs(q_rows[local], bins, np.repeat(code[None], n, axis=0))
            theirs = [in_bins[m * OUTPUT_BYTES : (m + 1) * OUTPUT_BYTES] for m in range(n)]
            for m in range(n):
                assert (theirs[m] == mine_values[m]) == (m == y and h == functions[m])
            assert len(set(theirs)) == n  # one code, different bins: different outputs
            evaluated.update(theirs)
            in_empty = sender.outputs(
                q_rows[empty], (empty + start).astype(np.int64), np.repeat(code[None], 3, axis=0)
            )
            values = {in_empty[k * OUTPUT_BYTES : (k + 1) * OUTPUT_BYTES] for k in range(3)}
            assert len(values) == 3 and not values & set(mine_values)
    # every (item, function, bin) has its own value, even one item's three functions in one bin
    assert len(evaluated) == n * n * HASH_FUNCTIONS


def test_oprf_output_is_keyed_blake2b_of_bin_and_row(oprf):
    """``H(j, row)``: BLAKE2b-128 keyed with the job key over the bin (8 bytes LE) and row."""
    rows = _random_rows(3, 4)
    bins = np.array([0, 1, 127, 2**40], dtype=np.int64)
    expected = b"".join(
        hashlib.blake2b(
            int(j).to_bytes(8, "little") + row.tobytes(),
            key=KEY,
            digest_size=OUTPUT_BYTES,
            person=b"VFL-OTPSI-V1 out",
        ).digest()
        for j, row in zip(bins, rows, strict=True)
    )
    assert oprf["receiver"].outputs(rows, bins) == expected
    zero_code = np.zeros((4, CODE_BYTES), dtype=np.uint8)  # s & 0 = 0: the same hash
    assert oprf["sender"].outputs(rows, bins, zero_code) == expected
    other = OprfReceiver(oprf["pairs"], key=bytes(32))
    assert other.outputs(rows, bins) != expected


def test_oprf_with_other_base_ots_gives_other_outputs(oprf):
    """A second OT-extension instance (fresh base OTs and s) evaluates another PRF."""
    secret = np.frombuffer(np.random.default_rng(8).bytes(CODE_BYTES), dtype=np.uint8).copy()
    ot_sender, ot_receiver = RandomOtSender(CODE_BITS), RandomOtReceiver(choice_bits(secret))
    receiver = OprfReceiver(ot_sender.keys(ot_receiver.points), key=KEY)
    sender = OprfSender(secret, ot_receiver.keys(ot_sender.point), key=KEY)
    codes = item_hashes([b"ann"], SALT, bins=10)[0][:, 0]  # ann's code under function 0
    rows = _random_rows(4, BIN_ALIGN)
    rows[0] = codes[0]
    bins = np.array([0], dtype=np.int64)
    outputs = []
    for recv, send in ((oprf["receiver"], oprf["sender"]), (receiver, sender)):
        columns, t_rows = recv.columns(0, rows)
        mine = recv.outputs(t_rows[:1], bins)
        assert send.outputs(send.rows(0, columns)[:1], bins, codes) == mine
        outputs.append(mine)
    assert outputs[0] != outputs[1]


@pytest.mark.parametrize(("start", "count"), [(64, 128), (1, 128), (-128, 128), (0, 100), (0, 8)])
def test_oprf_receiver_refuses_misaligned_blocks(oprf, start, count):
    with pytest.raises(MalformedInputError, match="multiples of 128"):
        oprf["receiver"].columns(start, _random_rows(0, count))


@pytest.mark.parametrize("start", [64, 1, -128])
def test_oprf_sender_refuses_misaligned_starts(oprf, start):
    columns, _ = oprf["receiver"].columns(0, _random_rows(0, BIN_ALIGN))
    with pytest.raises(MalformedInputError, match="multiples of 128"):
        oprf["sender"].rows(start, columns)


@pytest.mark.parametrize("delta", [-1, 1, -8, 8, -16, 16, 512 * 8])
def test_oprf_sender_refuses_partial_columns(oprf, delta):
    columns, _ = oprf["receiver"].columns(0, _random_rows(0, BIN_ALIGN))
    size = len(columns) + delta
    with pytest.raises(MalformedInputError, match=f"{size} bytes are not 512 columns"):
        oprf["sender"].rows(0, (columns * 2)[:size])


def test_oprf_parties_refuse_wrong_sizes(oprf):
    pairs, seeds, secret = oprf["pairs"], oprf["seeds"], oprf["secret"]
    with pytest.raises(MalformedInputError, match="512 pairs"):
        OprfReceiver(pairs[:-1], key=KEY)
    with pytest.raises(MalformedInputError, match="512 pairs"):
        OprfReceiver([*pairs, pairs[0]], key=KEY)
    with pytest.raises(MalformedInputError, match="32-byte seeds"):
        OprfReceiver([(pairs[0][0][:31], pairs[0][1]), *pairs[1:]], key=KEY)
    with pytest.raises(MalformedInputError, match="64-byte secret and 512 seeds"):
        OprfSender(secret[:63], seeds, key=KEY)
    with pytest.raises(MalformedInputError, match="64-byte secret and 512 seeds"):
        OprfSender(secret.reshape(8, 8), seeds, key=KEY)
    with pytest.raises(MalformedInputError, match="64-byte secret and 512 seeds"):
        OprfSender(secret, seeds[:-1], key=KEY)
    rows = _random_rows(0, 3)
    with pytest.raises(MalformedInputError, match="rows for 2 bins"):
        oprf["receiver"].outputs(rows, np.array([0, 1]))
    with pytest.raises(MalformedInputError, match="rows for 2 bins"):
        oprf["sender"].outputs(rows, np.array([0, 1]), rows)
    with pytest.raises(MalformedInputError, match="rows for 3 bins"):
        oprf["receiver"].outputs(rows[:, :32], np.array([0, 1, 2]))


def test_oprf_repr_hides_secrets(oprf):
    assert repr(oprf["receiver"]) == "<OprfReceiver (secret)>"
    assert repr(oprf["sender"]) == "<OprfSender (secret)>"


@_budget(0.75)
@given(rows8=st.integers(1, 6), width=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_transpose_bits_is_a_bitwise_transpose_and_an_involution(rows8, width, seed):
    rng = np.random.default_rng(seed)
    matrix = rng.integers(0, 256, size=(8 * rows8, width), dtype=np.uint8)
    transposed = transpose_bits(matrix)
    assert transposed.shape == (8 * width, rows8)
    assert np.array_equal(transposed, _naive_transpose(matrix))
    assert np.array_equal(transpose_bits(transposed), matrix)


@given(st.binary(min_size=CODE_BYTES, max_size=CODE_BYTES))
def test_choice_bits_order(secret):
    array = np.frombuffer(secret, dtype=np.uint8)
    bits = choice_bits(array)
    assert bits == np.unpackbits(array).tolist()
    assert bits == [(secret[i // 8] >> (7 - i % 8)) & 1 for i in range(CODE_BITS)]
    assert all(type(bit) is int for bit in bits)


def test_choice_bits_are_the_rows_columns_order():
    """Bit i of s masks column i of the rows: s & r[j] keeps r's bit i where s's bit i is set."""
    secret = np.zeros(CODE_BYTES, dtype=np.uint8)
    secret[0] = 0b0100_0000  # bit 1 only
    assert [i for i, bit in enumerate(choice_bits(secret)) if bit] == [1]
    row = np.full((8, CODE_BYTES), 0xFF, dtype=np.uint8)
    masked = transpose_bits(row & secret)  # one packed row per column
    assert [i for i in range(CODE_BITS) if masked[i].any()] == [1]


@_budget(0.625)
@given(
    ids=st.lists(st.binary(max_size=20), max_size=12),
    bins=st.integers(1, 10**12),
    salt=st.binary(min_size=16, max_size=64),
)
def test_item_hashes_are_shake256_of_salt_and_id(ids, bins, salt):
    codes, positions = item_hashes(ids, salt, bins)
    assert codes.shape == (len(ids), HASH_FUNCTIONS, CODE_BYTES) and codes.dtype == np.uint8
    assert positions.shape == (len(ids), HASH_FUNCTIONS) and positions.dtype == np.int64
    width = HASH_FUNCTIONS * CODE_BYTES
    for item, item_codes, places in zip(ids, codes, positions, strict=True):
        digest = hashlib.shake_256(
            b"VFL-OTPSI-V01 item" + len(salt).to_bytes(2, "little") + salt + item
        ).digest(width + 8 * HASH_FUNCTIONS)
        for h in range(HASH_FUNCTIONS):
            assert item_codes[h].tobytes() == digest[CODE_BYTES * h : CODE_BYTES * (h + 1)]
        expected = [
            int.from_bytes(digest[width + 8 * k : width + 8 * k + 8], "little") % bins
            for k in range(HASH_FUNCTIONS)
        ]
        assert places.tolist() == expected
        assert all(0 <= p < bins for p in expected)
    again_codes, again_positions = item_hashes(list(ids), salt, bins)
    assert np.array_equal(again_codes, codes) and np.array_equal(again_positions, positions)


def test_item_hashes_depend_on_salt_id_and_function():
    ids = [b"ann", b"bob", b"", b"+1-555-0000001"]
    codes, positions = item_hashes(ids, SALT, bins=2**40)
    every_code = {c.tobytes() for c in codes.reshape(-1, CODE_BYTES)}
    assert len(every_code) == HASH_FUNCTIONS * len(ids)  # per id and per hash function
    other_codes, other_positions = item_hashes(ids, SALT[::-1], bins=2**40)
    assert not every_code & {c.tobytes() for c in other_codes.reshape(-1, CODE_BYTES)}
    assert not np.array_equal(positions, other_positions)
    # the salt's length is bound: salt "ab" + id "c" is not salt "a" + id "bc"
    assert not np.array_equal(item_hashes([b"c"], b"ab", 10)[0], item_hashes([b"bc"], b"a", 10)[0])
    # the bins only reduce the same 64-bit values
    _, small = item_hashes(ids, SALT, bins=2**20)
    assert np.array_equal(small, positions % 2**20)


def test_item_hashes_bins_in_range_for_many_ids():
    ids = [b"%d" % i for i in range(5000)]
    _, positions = item_hashes(ids, SALT, bins=384)
    assert positions.min() == 0 and positions.max() == 383
    counts = np.bincount(positions.ravel(), minlength=384)
    assert counts.min() > 0  # 15,000 draws over 384 bins reach every bin


def test_item_hashes_of_no_ids_and_bad_bins():
    codes, positions = item_hashes([], SALT, bins=1)
    assert codes.shape == (0, HASH_FUNCTIONS, CODE_BYTES)
    assert positions.shape == (0, HASH_FUNCTIONS)
    for bins in (0, -1):
        with pytest.raises(MalformedInputError, match="at least one bin"):
            item_hashes([b"a"], SALT, bins=bins)


# --- cuckoo hashing ---------------------------------------------------------------------------


def _max_matching(candidates: list[list[int]], bins: int) -> int:
    """Size of a maximum matching of items to their candidate bins (Kuhn's algorithm)."""
    owner = [-1] * bins

    def augment(item: int, seen: set[int]) -> bool:
        for place in candidates[item]:
            if place in seen:
                continue
            seen.add(place)
            if owner[place] < 0 or augment(owner[place], seen):
                owner[place] = item
                return True
        return False

    return sum(augment(item, set()) for item in range(len(candidates)))


def _check_table(table: np.ndarray, positions: np.ndarray, bins: int) -> None:
    assert table.shape == (bins,) and table.dtype == np.int64
    placed = table[table >= 0].tolist()
    assert sorted(placed) == list(range(len(positions)))  # every item once, at most one per bin
    assert set(table[table < 0].tolist()) <= {-1}
    assert int((table == -1).sum()) == bins - len(positions)
    for place, item in enumerate(table.tolist()):
        if item >= 0:
            assert place in positions[item].tolist()


@st.composite
def _placements(draw):
    bins = draw(st.integers(1, 16))
    items = draw(st.integers(0, min(bins, 14)))
    cells = st.integers(0, bins - 1)
    flat = draw(st.lists(cells, min_size=3 * items, max_size=3 * items))
    return np.array(flat, dtype=np.int64).reshape(items, HASH_FUNCTIONS), bins


@_budget(2.5)
@given(_placements())
def test_cuckoo_table_places_items_exactly_when_possible(placement):
    positions, bins = placement
    possible = _max_matching(positions.tolist(), bins) == len(positions)
    if possible:
        _check_table(cuckoo_table(positions, bins), positions, bins)
    else:
        with pytest.raises(CuckooError, match=f"could not place {len(positions)} ids"):
            cuckoo_table(positions, bins)


@_budget(0.5)
@given(items=st.integers(0, 400), seed=st.integers(0, 2**32 - 1))
def test_cuckoo_table_at_the_protocol_load(items, seed):
    bins = bin_count(items)
    rng = np.random.default_rng(seed)
    positions = rng.integers(0, bins, size=(items, HASH_FUNCTIONS), dtype=np.int64)
    _check_table(cuckoo_table(positions, bins), positions, bins)


def test_cuckoo_impossible_placements():
    cases = [
        (np.array([[0, 0, 0], [0, 0, 0]]), 4),  # two items, one bin
        (np.array([[0, 1, 0], [1, 0, 1], [0, 0, 1]]), 8),  # three items, two bins
        (np.zeros((5, 3), dtype=np.int64) + np.array([0, 1, 2]), 5),  # five items, three bins
        (np.array([[0, 0, 0]] * 3), 3),
    ]
    for positions, bins in cases:
        with pytest.raises(CuckooError, match="draw a new salt"):
            cuckoo_table(positions.astype(np.int64), bins)
    assert issubclass(CuckooError, ProtocolError)


def test_cuckoo_table_needs_three_candidates():
    with pytest.raises(ValueError, match="shape"):
        cuckoo_table(np.zeros((2, 2), dtype=np.int64), 4)
    with pytest.raises(ValueError, match="shape"):
        cuckoo_table(np.zeros(3, dtype=np.int64), 4)


def test_cuckoo_table_of_nothing_is_empty():
    assert cuckoo_table(np.empty((0, 3), dtype=np.int64), 128).tolist() == [-1] * 128


@given(st.integers(0, 10**8))
def test_bin_count_is_ceil_of_127_percent_plus_128_rounded_to_128(size):
    bins = bin_count(size)
    wanted = math.ceil(Fraction(127, 100) * size) + 128
    assert bins % BIN_ALIGN == 0
    assert wanted <= bins < wanted + BIN_ALIGN


def test_bin_count_values():
    assert [bin_count(n) for n in (0, 1, 100, 101, 201, 202, 1000)] == [
        128,
        256,
        256,
        384,
        384,
        512,
        1408,
    ]
    assert bin_count(50_000) == 63_744
    assert bin_count(100_000) == 127_232


def test_cuckoo_with_real_hashes_at_the_protocol_load():
    ids = [b"+1-555-%07d" % i for i in range(50_000)]
    bins = bin_count(len(ids))
    assert bins / len(ids) < 1.28
    rng = random.Random(5)
    salt = rng.randbytes(32)
    _, positions = item_hashes(ids, salt, bins)
    table = cuckoo_table(positions, bins)
    assert table.shape == (bins,)
    placed = table[table >= 0]
    assert len(placed) == len(ids) and len(np.unique(placed)) == len(ids)
    occupied = np.flatnonzero(table >= 0)
    assert (positions[placed] == occupied[:, None]).any(axis=1).all()
