"""PackedIds and first_repeat against plain Python lists and sets (exact answers)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ot_extension import item_hashes
from protocols.psi.inputs import DuplicateIdError
from protocols.psi.kkrt_hashes import bin_positions, code_words
from protocols.psi.matching import intersect_rows
from protocols.psi.packed import PackedIds, first_repeat
from protocols.psi.setup_checks import checked_ids

ID_LISTS = st.lists(st.binary(min_size=0, max_size=12), max_size=300)


@settings(max_examples=200, deadline=None)
@given(ID_LISTS)
def test_packed_ids_read_back_exactly(ids: list[bytes]) -> None:
    packed = PackedIds(ids)
    assert len(packed) == len(ids)
    assert list(packed) == ids
    assert [packed[i] for i in range(len(ids))] == ids
    assert [packed[-i] for i in range(1, len(ids) + 1)] == [ids[-i] for i in range(1, len(ids) + 1)]
    assert packed[3:17] == ids[3:17] and packed[::-2] == ids[::-2]
    assert packed == ids and packed == PackedIds(ids)
    assert packed.nbytes == sum(map(len, ids)) + 8 * (len(ids) + 1)


@settings(max_examples=200, deadline=None)
@given(ID_LISTS)
def test_first_repeat_matches_a_set(ids: list[bytes]) -> None:
    repeat = first_repeat(PackedIds(ids))
    if len(set(ids)) == len(ids):
        assert repeat is None
    else:
        assert repeat is not None
        first, later = repeat
        assert first < later and ids[first] == ids[later]


def test_trailing_zero_bytes_are_distinct_ids() -> None:
    ids = [b"a", b"a\x00", b"a\x00\x00", b"\x00"]
    assert first_repeat(ids) is None
    assert list(checked_ids("g", ids)) == ids


def test_packing_crosses_run_boundaries() -> None:
    ids = [str(i).encode() for i in range(200_000)]
    packed = PackedIds(iter(ids))
    assert packed[65_535] == b"65535" and packed[65_536] == b"65536" and packed[-1] == b"199999"
    assert first_repeat(packed) is None
    assert first_repeat([*ids, b"70000"]) == (70_000, 200_000)


def test_checked_ids_names_the_repeated_rows() -> None:
    with pytest.raises(DuplicateIdError, match=r"rows 1 and 3 hold the same id"):
        checked_ids("host", [b"x", b"y", b"z", b"y"])


def test_out_of_range_index_is_refused() -> None:
    with pytest.raises(IndexError, match="out of range for 2 ids"):
        PackedIds([b"a", b"b"])[2]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=2, max_size=2), max_size=60),
    st.lists(st.binary(min_size=2, max_size=2), max_size=60),
)
def test_intersect_rows_matches_python_sets(own: list[bytes], peer: list[bytes]) -> None:
    own = list(dict.fromkeys(own))  # a party's values are unique
    own_values = np.array(own, dtype="S2") if own else np.empty(0, dtype="S2")
    peer_values = np.array(peer, dtype="S2") if peer else np.empty(0, dtype="S2")
    rows = intersect_rows([own_values], [peer_values])
    common = set(own) & set(peer)
    assert sorted(own[row] for row in rows.tolist()) == sorted(common)
    assert [own[row] for row in rows.tolist()] == sorted(common, key=lambda v: v.rstrip(b"\x00"))


def test_kkrt_hashes_equal_item_hashes_across_runs() -> None:
    ids = PackedIds(f"id-{i}".encode() for i in range(70_000))  # more than one run
    salt, bins = bytes(range(16)), 90_000
    codes, positions = item_hashes(list(ids), salt, bins)
    assert np.array_equal(bin_positions(ids, salt, bins), positions)
    rng = np.random.default_rng(7)
    items = rng.integers(0, len(ids), 70_000)
    functions = rng.integers(0, 3, 70_000)
    words = code_words(ids, items, functions, salt, bins)
    assert np.array_equal(words, codes[items, functions])


def test_known_unique_ids_skip_the_check_and_others_do_not() -> None:
    from protocols.psi.setup_checks import checked_ids

    repeated = PackedIds([b"a", b"b", b"a"])
    with pytest.raises(DuplicateIdError):
        checked_ids("g", repeated)
    vouched = PackedIds([b"a", b"b"], known_unique=True)
    assert checked_ids("g", vouched) is vouched
