"""Silent VOLE over GF(2^128): the correlation, the shape of ``A``, and what the receiver sees.

The correlation ``B = C + A * Delta`` is checked with :class:`crypto.gf128.ConstantMultiplier`
and, on a sample of rows, with an independent bit-serial multiplication below.  The
receiver's view (its chosen pads and the sender's :class:`~crypto.vole.VoleCorrections`)
is attacked directly: each attack is also run with the pad the receiver must *not*
have (the negative control), where it succeeds exactly.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import crypto.ggm
import crypto.vole as vole_module
from crypto.ea_code import CODE_RATE
from crypto.exceptions import MalformedInputError
from crypto.gf128 import ConstantMultiplier
from crypto.ot import RandomOtReceiver, RandomOtSender
from crypto.ot_extension import CODE_BYTES, OprfReceiver, OprfSender, choice_bits
from crypto.random_ot import bit_codes, both_pads, choice_rows, chosen_pads
from crypto.vole import (
    MAX_VOLE_SIZE,
    MIN_NOISE_WEIGHT,
    VoleCorrections,
    VoleParameters,
    VoleReceiver,
    VoleSender,
    random_delta,
    random_pads,
)

Elements = npt.NDArray[np.uint64]
_MODULUS = (1 << 128) | 0x87  # x^128 + x^7 + x^2 + x + 1


def _budget(factor: float) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``factor`` times the profile's ``max_examples`` (ci: 40, long: 2000), at least one."""
    profile = settings.default
    assert profile is not None
    budget: Callable[[Callable[..., None]], Callable[..., None]] = settings(
        max_examples=max(1, round(profile.max_examples * factor))
    )
    return budget


# --- an independent reference -----------------------------------------------------------


def reference_multiply(a: int, b: int) -> int:
    """Carry-less product of ``a`` and ``b`` reduced bit by bit modulo x^128+x^7+x^2+x+1."""
    product = 0
    for bit in range(128):
        if (b >> bit) & 1:
            product ^= a << bit
    for bit in range(254, 127, -1):
        if (product >> bit) & 1:
            product ^= _MODULUS << (bit - 128)
    return product


def as_int(row: Elements) -> int:
    return int(row[0]) | (int(row[1]) << 64)


def as_row(value: int) -> Elements:
    return np.array([value & (2**64 - 1), value >> 64], dtype=np.uint64)


class Run(NamedTuple):
    """One VOLE: both roles, both pads, the receiver's pads, the message, ``A`` and ``C``."""

    sender: VoleSender
    receiver: VoleReceiver
    pad0: Elements
    pad1: Elements
    chosen: Elements
    corrections: VoleCorrections
    a: Elements
    c: Elements


def run_vole(size: int) -> Run:
    """One VOLE of ``size`` outputs with :func:`random_pads` standing in for the OTs."""
    params = VoleParameters.for_size(size)
    key = os.urandom(16)
    receiver = VoleReceiver(params, key)
    sender = VoleSender(params, random_delta(), key)
    pad0, pad1 = random_pads(params.ot_count)
    chosen = np.where(receiver.choices[:, None] == 1, pad1, pad0)
    corrections = sender.corrections(pad0, pad1)
    a, c = receiver.finish(chosen, corrections)
    return Run(sender, receiver, pad0, pad1, chosen, corrections, a, c)


def assert_correlation(sender: VoleSender, a: Elements, c: Elements) -> None:
    size = sender.params.size
    assert a.shape == c.shape == sender.b.shape == (size, 2)
    assert a.dtype == c.dtype == sender.b.dtype == np.uint64
    assert np.array_equal(sender.b, c ^ ConstantMultiplier(sender.delta)(a))
    for row in range(0, size, max(1, size // 24)):  # independent bit-serial check
        assert as_int(sender.b[row]) == as_int(c[row]) ^ reference_multiply(
            as_int(a[row]), sender.delta
        )


# --- the correlation ------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 300, 5000, 100_000])
def test_correlation_holds_exactly(size: int) -> None:
    run = run_vole(size)
    assert_correlation(run.sender, run.a, run.c)


def test_correlation_parameters_cover_one_to_ten_levels() -> None:
    depths = [VoleParameters.for_size(size).depth for size in (1, 2, 400, 5000, 100_000)]
    assert depths == [1, 1, 3, 6, 10]
    # the deeper tree wins when it keeps the noise weight at its minimum: half the OTs
    assert VoleParameters.for_size(1_300_002) == VoleParameters(1_300_002, 400, 14)


@_budget(0.15)
@given(size=st.integers(1, 700))
def test_correlation_holds_for_any_size(size: int) -> None:
    run = run_vole(size)
    assert_correlation(run.sender, run.a, run.c)


def real_random_ots(
    bits: npt.NDArray[np.uint8],
) -> tuple[Elements, Elements, Elements, npt.NDArray[np.uint8], Callable[[int], bytes]]:
    """Random OTs from base OTs and the KKRT OPRF, as VOLE-PSI makes them.

    Returns both pads, the receiver's chosen pads, the receiver's ``t`` rows and the
    receiver's hash ``H(j, row)`` (for the attack on the other pad).
    """
    count = -(-len(bits) // 128) * 128
    padded = np.zeros(count, dtype=np.uint8)
    padded[: len(bits)] = bits
    secret = np.frombuffer(secrets.token_bytes(CODE_BYTES), dtype=np.uint8)
    base_sender, base_receiver = RandomOtSender(512), RandomOtReceiver(choice_bits(secret))
    job_key = secrets.token_bytes(32)
    receiver = OprfReceiver(base_sender.keys(base_receiver.points), key=job_key)
    sender = OprfSender(secret, base_receiver.keys(base_sender.point), key=job_key)
    codes = bit_codes(job_key)
    columns, t_rows = receiver.columns(0, choice_rows(padded, codes))
    chosen = chosen_pads(receiver, t_rows, 0)
    pad0, pad1 = both_pads(sender, sender.rows(0, columns), 0, codes)
    n = len(bits)

    def other_guess(which: int) -> bytes:
        """The receiver's guess of the pads it did not choose: ``H(j, t_j ^ C0 ^ C1)``.

        ``which`` 0 assumes the sender's secret is all ones, 1 that it equals the
        true secret (a broken OT extension that leaked it: the negative control).
        """
        mask = np.frombuffer(bytes([255]) * CODE_BYTES, dtype=np.uint8) if which == 0 else secret
        rows = t_rows[:n] ^ ((codes[0] ^ codes[1]) & mask)[None, :]
        return receiver.outputs(np.ascontiguousarray(rows), np.arange(n, dtype=np.int64))

    return pad0[:n], pad1[:n], chosen[:n], t_rows[:n], other_guess


def test_correlation_holds_with_random_ots_from_the_kkrt_oprf() -> None:
    params = VoleParameters.for_size(1000)
    key = os.urandom(16)
    receiver = VoleReceiver(params, key)
    sender = VoleSender(params, random_delta(), key)
    pad0, pad1, chosen, _, other_guess = real_random_ots(receiver.choices)
    assert np.array_equal(chosen, np.where(receiver.choices[:, None] == 1, pad1, pad0))
    a, c = receiver.finish(chosen, sender.corrections(pad0, pad1))
    assert_correlation(sender, a, c)
    # the receiver's best guess at the other pads misses every one; with the
    # sender's secret (a broken extension) it would hit every one
    other = np.where(receiver.choices[:, None] == 1, pad0, pad1)
    wrong = np.frombuffer(other_guess(0), dtype="<u8").reshape(-1, 2)
    leaked = np.frombuffer(other_guess(1), dtype="<u8").reshape(-1, 2)
    assert not (wrong == other).all(axis=1).any()
    assert np.array_equal(leaked, other)


# --- A is dense and balanced --------------------------------------------------------------


def gf2_rank(bits: npt.NDArray[np.uint8]) -> int:
    """Rank over GF(2) of a 0/1 matrix (Gaussian elimination on columns)."""
    rows = bits.copy()
    rank = 0
    for column in range(rows.shape[1]):
        pivots = np.flatnonzero(rows[rank:, column]) + rank
        if not len(pivots):
            continue
        pivot = pivots[0]
        rows[[rank, pivot]] = rows[[pivot, rank]]
        others = np.flatnonzero(rows[:, column])
        others = others[others != rank]
        rows[others] ^= rows[rank]
        rank += 1
        if rank == rows.shape[0]:
            break
    return rank


def bit_matrix(elements: Elements) -> npt.NDArray[np.uint8]:
    return np.unpackbits(np.ascontiguousarray(elements, dtype="<u8").view(np.uint8), axis=1)


def dense_and_balanced(elements: Elements) -> bool:
    """No zero or repeated element, 128-bit GF(2) rank, bit mean 0.5 +- 0.01 and each of
    the 128 bit positions within 6 standard deviations of 0.5."""
    bits = bit_matrix(elements)
    column_tolerance = 6 * 0.5 / math.sqrt(len(elements))
    distinct = len({bytes(row) for row in np.ascontiguousarray(elements).view(np.uint8)})
    return (
        bool((elements != 0).any(axis=1).all())
        and distinct == len(elements)
        and gf2_rank(bits[:512]) == 128
        and abs(float(bits.mean()) - 0.5) <= 0.01
        and bool((np.abs(bits.mean(axis=0) - 0.5) <= column_tolerance).all())
    )


def test_a_is_dense_and_balanced_but_the_noise_is_not() -> None:
    _, receiver, _, _, _, _, a, _ = run_vole(1000)  # 128,000 bits of A
    assert dense_and_balanced(a)
    # negative control: the uncompressed noise e (one nonzero value per tree)
    params = receiver.params
    noise = np.zeros((params.code_size, 2), dtype=np.uint64)
    points = np.arange(params.trees) * (1 << params.depth) + receiver._points
    noise[points] = [as_row(beta) for beta in receiver._betas]
    assert not dense_and_balanced(noise)
    assert int((noise != 0).any(axis=1).sum()) == params.trees


def test_a_bit_balance_over_a_hundred_thousand_bits_per_run() -> None:
    means = []
    for _ in range(3):
        means.append(float(bit_matrix(run_vole(800).a).mean()))  # 102,400 bits
    assert all(abs(mean - 0.5) <= 0.01 for mean in means), means


# --- what the receiver's view does not give ------------------------------------------------


def test_base_corrections_give_the_shifted_delta_only_with_the_other_pad() -> None:
    sender, receiver, pad0, pad1, chosen, corrections, _, _ = run_vole(300)
    params = receiver.params
    t = params.trees
    base = np.frombuffer(corrections.base_corrections, dtype="<u8").reshape(t, 128, 2)
    mine = chosen[params.tree_ots :].reshape(t, 128, 2)
    shifted = np.array([as_row(reference_multiply(1 << k, sender.delta)) for k in range(128)])
    # the receiver's unmasking: base ^ r_b = r_{1-b} ^ x^k Delta, never x^k Delta itself
    attempt = base ^ mine
    assert not (attempt == shifted[None]).all(axis=2).any()
    # nor does any instance give a candidate x^-k (base ^ r_b) equal to Delta, and no two agree
    candidates = np.empty((t, 128, 2), dtype=np.uint64)
    inverse_x = pow_reference(2, 2**128 - 2)
    for k in range(128):
        candidates[:, k] = ConstantMultiplier(pow_reference(inverse_x, k))(attempt[:, k])
    flat = {bytes(row) for row in candidates.reshape(-1, 2).view(np.uint8).reshape(-1, 16)}
    assert len(flat) == t * 128
    assert bytes(as_row(sender.delta).view(np.uint8)) not in flat
    # negative control: with the other pad too, every instance gives x^k Delta
    both = (pad0 ^ pad1)[params.tree_ots :].reshape(t, 128, 2)
    assert np.array_equal(base ^ both, np.broadcast_to(shifted, (t, 128, 2)))


def pow_reference(base: int, exponent: int) -> int:
    result, power = 1, base
    while exponent:
        if exponent & 1:
            result = reference_multiply(result, power)
        power = reference_multiply(power, power)
        exponent >>= 1
    return result


def test_on_path_level_sums_and_the_punctured_leaf_stay_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The receiver unmasks the off-path level sums exactly, the on-path ones never."""
    seen: dict[str, Elements] = {}
    expand, puncture = crypto.ggm.expand_trees, crypto.ggm.punctured_leaves

    def spy_expand(roots: Elements, depth: int, key: bytes) -> tuple[Elements, Elements]:
        leaves, sums = expand(roots, depth, key)
        seen["leaves"], seen["sums"] = leaves.copy(), sums.copy()  # dual_encode works in place
        return leaves, sums

    def spy_puncture(points: Any, siblings: Elements, depth: int, key: bytes) -> Elements:
        punctured = puncture(points, siblings, depth, key)
        seen["punctured"] = punctured.copy()
        return punctured

    monkeypatch.setattr(vole_module, "expand_trees", spy_expand)
    monkeypatch.setattr(vole_module, "punctured_leaves", spy_puncture)
    sender, receiver, _, _, chosen, corrections, a, c = run_vole(5000)
    assert_correlation(sender, a, c)
    params = receiver.params
    t, d = params.trees, params.depth
    masked = np.frombuffer(corrections.level_sums, dtype="<u8").reshape(t, d, 2, 2)
    real = seen["sums"]
    path = (receiver._points[:, None] >> np.arange(d - 1, -1, -1)[None, :]) & 1
    rows, levels = np.arange(t)[:, None], np.arange(d)[None, :]
    mine = chosen[: params.tree_ots].reshape(t, d, 2)
    off = masked[rows, levels, 1 - path] ^ mine
    on = masked[rows, levels, path] ^ mine
    assert np.array_equal(off, real[rows, levels, 1 - path])  # control: the side it may learn
    assert not (on == real[rows, levels, path]).all(axis=2).any()  # the side it may not
    # every leaf but the punctured one is the sender's; at alpha the receiver has
    # v + beta Delta (inside C), and its rebuilt tree there is not the sender's leaf
    leaves, punctured = seen["leaves"], seen["punctured"]
    keep = np.ones((t, 1 << d), dtype=bool)
    keep[np.arange(t), receiver._points] = False
    assert np.array_equal(punctured[keep], leaves[keep])
    at_alpha = punctured[np.arange(t), receiver._points]
    true_alpha = leaves[np.arange(t), receiver._points]
    assert not (at_alpha == true_alpha).all(axis=1).any()


# --- malformed input --------------------------------------------------------------------------


def test_sender_refuses_pads_of_the_wrong_shape() -> None:
    params = VoleParameters.for_size(10)
    sender = VoleSender(params, random_delta(), bytes(16))
    pad0, pad1 = random_pads(params.ot_count)
    for bad0, bad1 in [
        (pad0[:-1], pad1),
        (pad0, pad1[:-1]),
        (pad0.reshape(-1), pad1),
        (np.zeros((params.ot_count, 3), dtype=np.uint64), pad1),
    ]:
        with pytest.raises(MalformedInputError, match=f"needs 2 x {params.ot_count} pads"):
            sender.corrections(bad0, bad1)


def test_receiver_refuses_pads_of_the_wrong_shape() -> None:
    params = VoleParameters.for_size(10)
    receiver = VoleReceiver(params, bytes(16))
    sender = VoleSender(params, random_delta(), bytes(16))
    pad0, pad1 = random_pads(params.ot_count)
    corrections = sender.corrections(pad0, pad1)
    with pytest.raises(MalformedInputError, match=f"needs {params.ot_count} pads"):
        receiver.finish(pad0[1:], corrections)


@_budget(0.5)
@given(
    field=st.integers(0, 2),
    change=st.integers(-40, 40).filter(lambda n: n != 0),
)
def test_receiver_refuses_corrections_of_the_wrong_size(field: int, change: int) -> None:
    params = VoleParameters.for_size(3)
    receiver = VoleReceiver(params, bytes(16))
    sizes = list(params.correction_bytes)
    sizes[field] = max(0, sizes[field] + change)
    corrections = VoleCorrections(*(bytes(n) for n in sizes))
    with pytest.raises(MalformedInputError, match="VOLE corrections of"):
        corrections.check(params)
    with pytest.raises(MalformedInputError, match=r"expected \(\d+, \d+, \d+\)"):
        receiver.finish(np.zeros((params.ot_count, 2), dtype=np.uint64), corrections)


@pytest.mark.parametrize("delta", [0, -1, 1 << 128])
def test_sender_refuses_a_zero_or_oversized_delta(delta: int) -> None:
    with pytest.raises(MalformedInputError, match="nonzero 128-bit"):
        VoleSender(VoleParameters.for_size(1), delta, bytes(16))


# --- parameters -------------------------------------------------------------------------------


def test_parameter_bounds() -> None:
    assert MIN_NOISE_WEIGHT == 400
    VoleParameters(1, MIN_NOISE_WEIGHT, 1)
    with pytest.raises(MalformedInputError, match="at least 400 trees"):
        VoleParameters(1, MIN_NOISE_WEIGHT - 1, 1)
    for depth in (0, 25):
        with pytest.raises(MalformedInputError, match="depth 1 to 24"):
            VoleParameters(1, MIN_NOISE_WEIGHT, depth)
    with pytest.raises(MalformedInputError, match="too few"):
        VoleParameters(1000, MIN_NOISE_WEIGHT, 3)  # 3200 < 5000 positions
    VoleParameters(1000, 625, 3)  # exactly 5000
    for size in (0, MAX_VOLE_SIZE + 1):
        with pytest.raises(MalformedInputError, match="outputs"):
            VoleParameters(size, MIN_NOISE_WEIGHT, 10)
        with pytest.raises(MalformedInputError, match="outputs"):
            VoleParameters.for_size(size)


@_budget(2)
@given(size=st.integers(1, MAX_VOLE_SIZE))
def test_for_size_gives_the_smallest_valid_shape(size: int) -> None:
    params = VoleParameters.for_size(size)
    assert params.size == size
    assert params.trees >= MIN_NOISE_WEIGHT
    assert params.code_size >= CODE_RATE * size
    # just enough trees: one fewer would be too few (or below the noise weight)
    assert params.trees == MIN_NOISE_WEIGHT or (params.trees - 1) << params.depth < CODE_RATE * size
    # the deepest tree that keeps the noise weight, or one deeper if that costs less
    # (16 code positions per random OT): never deeper than that
    low = max(1, (CODE_RATE * size // MIN_NOISE_WEIGHT).bit_length() - 1)
    assert params.depth in (low, low + 1)

    def cost(depth: int) -> int:
        trees = max(MIN_NOISE_WEIGHT, -(-CODE_RATE * size // (1 << depth)))
        return 16 * trees * (depth + 128) + (trees << depth)

    assert cost(params.depth) == min(cost(low), cost(low + 1))
    assert params.ot_count == params.trees * (params.depth + 128)
    assert params.correction_bytes == (
        params.trees * params.depth * 32,
        params.trees * 128 * 16,
        params.trees * 16,
    )


def test_largest_vole_shape() -> None:
    params = VoleParameters.for_size(MAX_VOLE_SIZE)
    assert (params.trees, params.depth) == (640, 14)
    assert params.code_size == CODE_RATE * MAX_VOLE_SIZE


# --- the argument behind MIN_NOISE_WEIGHT ---------------------------------------------------


def per_block_bias(block: int, ones: int) -> float:
    """Exact bias E[(-1)^<v, e_k>] of one bit slice ``k`` over one regular-noise block.

    ``v`` has ``ones`` ones among ``block`` positions; the block's noise sits at a uniform
    position with a uniform nonzero GF(2^128) value, whose bit ``k`` is 1 for exactly
    2^127 of the 2^128 - 1 values.  Enumerated, not taken from a formula.
    """
    nonzero = 2**128 - 1
    one_bit = 2**127
    total = 0.0
    for position in range(block):
        hit = position < ones
        # sign +1 when v is 0 there or the bit is 0, else -1
        plus = nonzero if not hit else nonzero - one_bit
        minus = 0 if not hit else one_bit
        total += (plus - minus) / nonzero / block
    return total


def test_per_slice_linear_test_bias_is_one_minus_delta_per_tree() -> None:
    """A binary test ``u`` with ``uG`` of relative weight ``delta`` sees bias ``(1 - delta)``
    per tree in every bit slice of ``A``, not ``(1 - 2 delta)`` per tree whose bit is set."""
    for block, ones in [(5, 1), (10, 2), (1024, 205)]:
        delta = ones / block
        assert math.isclose(per_block_bias(block, ones), 1 - delta, rel_tol=1e-12)
    # the earlier sizing, (1 - 2 * 0.2)^(t / 2) at t = 352, claimed 129.7 bits; the true
    # (1 - 0.2)^t gave 113.3 bits; t = 400 gives 128.8
    assert round(-352 * math.log2(1 - 0.2), 1) == 113.3
    assert round(-MIN_NOISE_WEIGHT * math.log2(1 - 0.2), 1) == 128.8


def test_min_noise_weight_reaches_the_claimed_linear_test_bound() -> None:
    bias = 1.0
    for _ in range(MIN_NOISE_WEIGHT):
        bias *= per_block_bias(5, 1)  # minimum relative distance 0.2
    assert bias <= 2.0**-128
