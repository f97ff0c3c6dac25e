"""Tag matching on 8-byte prefixes equals the byte-string matching, collisions included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.psi.matching import intersect_rows, positions_in
from protocols.psi.tag_matching import match_tags, match_tags_with_positions, tag_positions

# few distinct prefixes and suffixes: prefix collisions (same 8 bytes, different tags) are common
TAG = st.builds(
    lambda head, tail: bytes([head]) * 8 + bytes([tail]) * 4,
    st.integers(0, 5),
    st.integers(0, 3),
)


def _values(tags):
    return np.array(tags, dtype="S12") if tags else np.empty(0, "S12")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(TAG, unique=True, max_size=12), min_size=2, max_size=4),
    st.data(),
)
def test_match_tags_equals_intersect_rows(lists, data):
    own_tags = lists[0]
    own = [_values(own_tags) for _ in lists[1:]]
    peers = [_values(data.draw(st.permutations(tags))) for tags in lists[1:]]
    assert match_tags(own, peers).tolist() == sorted(intersect_rows(own, peers).tolist())
    rows = match_tags(own, peers)
    for mine, peer in zip(own, peers, strict=True):
        assert tag_positions(mine[rows], peer).tolist() == positions_in(mine[rows], peer).tolist()
    together, positions = match_tags_with_positions(own, peers)
    assert together.tolist() == rows.tolist()
    for mine, peer, found in zip(own, peers, positions, strict=True):
        assert found.tolist() == positions_in(mine[rows], peer).tolist()


def test_random_tags_take_the_fast_path_and_match_exactly():
    rng = np.random.default_rng(0)
    pool = rng.integers(0, 256, size=(3000, 12), dtype=np.uint8).view("S12").reshape(-1)
    own, peer = pool[:2000], pool[1000:][rng.permutation(2000)]
    rows = match_tags([own], [peer])
    assert rows.tolist() == list(range(1000, 2000))
    positions = tag_positions(own[rows], peer)
    assert np.array_equal(peer[positions], own[rows])


def test_a_missing_tag_is_refused():
    with pytest.raises(ValueError, match="not among"):
        tag_positions(_values([b"a" * 12]), _values([b"b" * 12]))
