"""Clip comparison inputs: local coarse shares whose sums' sign bits are [z < lo], [z > hi],
also through the real two-party comparison (crypto.comparison)."""

from __future__ import annotations

import secrets

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.comparison import ComparisonReceiver, ComparisonSender
from protocols.exceptions import ProtocolError
from protocols.hetero_lr.clip_inputs import (
    CLIP_BITS,
    CLIP_HIGH,
    CLIP_LOW,
    guest_inputs,
    partner_inputs,
    reference,
)
from protocols.hetero_lr.shared_fixed_point import INPUT_FRACTION
from tests.support.ot_states import fresh_states, saved_setup

SCALE = 1 << INPUT_FRACTION
EDGES = [
    t * SCALE + d for t in (CLIP_LOW, CLIP_HIGH) for d in (-1, 0, 1, SCALE // 4 - 1, SCALE // 4)
]
SCORES = st.one_of(st.integers(-(4000 * SCALE), 4000 * SCALE), st.sampled_from(EDGES))
MASKS = st.integers(0, 1 << 72)


def _shares(scores: list[int], masks: list[int], guest_masked: bool) -> tuple[list[int], list[int]]:
    """Integer shares as shared mode makes them: one side holds z + R, the other -R."""
    if guest_masked:
        return [z + r for z, r in zip(scores, masks, strict=True)], [-r for r in masks]
    return [-r for r in masks], [z + r for z, r in zip(scores, masks, strict=True)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(SCORES, MASKS), max_size=20), st.booleans())
def test_the_sign_bits_of_the_sums_are_the_reference(rows, guest_masked):
    scores, masks = [z for z, _ in rows], [r for _, r in rows]
    a, b = _shares(scores, masks, guest_masked)
    sums = (guest_inputs(a) + partner_inputs(b)) % (1 << CLIP_BITS)
    below, above = reference(a, b)
    assert (sums >> (CLIP_BITS - 1)).tolist() == below + above
    for z, low, high in zip(scores, below, above, strict=True):
        # exact except for z in [t, t + 1/4): the floors may lose one quarter unit
        if not CLIP_LOW * SCALE <= z < (CLIP_LOW + 0.25) * SCALE:
            assert low == int(z < CLIP_LOW * SCALE)
        if not CLIP_HIGH * SCALE <= z < (CLIP_HIGH + 0.25) * SCALE:
            assert high == int(z > CLIP_HIGH * SCALE)
        assert not (low and high)


def test_through_the_two_party_comparison():
    rows = 300
    scores = [secrets.randbelow(40 * SCALE) - 20 * SCALE for _ in range(rows - 6)]
    quarter = SCALE // 4
    scores += [CLIP_LOW * SCALE - 1, CLIP_LOW * SCALE + quarter]
    scores += [CLIP_HIGH * SCALE - 1, CLIP_HIGH * SCALE + quarter]
    scores += [-4000 * SCALE, 4000 * SCALE]
    masks = [secrets.randbits(72) for _ in range(rows)]
    a, b = _shares(scores, masks, guest_masked=True)
    receiver_state, sender_state = fresh_states(saved_setup(b"clip test"))
    guest = ComparisonReceiver(receiver_state, bits=CLIP_BITS)
    partner = ComparisonSender(sender_state, bits=CLIP_BITS)
    to_guest = partner.respond(guest.start(guest_inputs(a)), partner_inputs(b))
    while to_guest is not None:
        to_partner = guest.step(to_guest)
        to_guest = partner.step(to_partner) if to_partner is not None else None
    bits = (guest.result() ^ partner.result()).tolist()
    below, above = reference(a, b)
    assert bits == below + above
    assert below[rows - 6 : rows - 4] == [1, 0] and above[rows - 4 : rows - 2] == [0, 1]
    assert below[-2:] == [1, 0] and above[-2:] == [0, 1]


def test_a_score_beyond_the_ring_is_named():
    with pytest.raises(ProtocolError, match="beyond the clip's ring"):
        reference([5000 * SCALE], [0])


def test_each_party_s_inputs_are_uniform_given_a_wide_mask():
    # the guest's inputs depend on z only through z + R: with R uniform over 2**72,
    # its low 16 bits (after flooring) are uniform whatever z is
    rows = 4000
    for z in (-100 * SCALE, 3 * SCALE):
        a = [z + secrets.randbits(72) for _ in range(rows)]
        counts = np.bincount(
            (guest_inputs(a)[:rows] >> np.uint64(CLIP_BITS - 4)).astype(int), minlength=16
        )
        assert counts.min() > rows / 16 * 0.7, counts
