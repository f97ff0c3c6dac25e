"""``vfl.intersect``: exact intersections and aligned indices, as a user calls it."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import vfl
from tests.support.psi_helpers import phone_ids
from vfl.exceptions import DataError
from vfl.tables.datasets import load_builtin


def _check(result, guest_ids, hosts):
    expected = set(map(str, guest_ids)).intersection(*(set(map(str, h)) for h in hosts))
    assert result.size == len(expected)
    assert {str(guest_ids[i]) for i in result.guest_index} == expected
    assert len(result.host_indices) == len(hosts)
    for host, index in zip(hosts, result.host_indices, strict=True):
        for k in range(result.size):
            assert str(guest_ids[result.guest_index[k]]) == str(host[index[k]])


def test_builtin_breast_ids_align_after_shuffling():
    guest, host = load_builtin("breast")
    rng = random.Random(0)
    guest_ids = list(guest.ids)
    host_ids = list(host.ids)
    rng.shuffle(guest_ids)
    rng.shuffle(host_ids)
    host_ids = host_ids[: len(host_ids) * 2 // 3]
    result = vfl.intersect(guest_ids, host_ids)
    _check(result, guest_ids, [host_ids])
    assert result.size == len(host_ids)


def test_integer_ids_match_their_decimal_text():
    guest_ids = np.arange(1000, 1100)  # numpy integers
    host_ids = [str(i) for i in range(1050, 1200, 3)]
    result = vfl.intersect(guest_ids, host_ids)
    assert sorted(int(guest_ids[i]) for i in result.guest_index) == list(range(1050, 1100, 3))
    assert [int(host_ids[i]) for i in result.host_index] == [
        int(guest_ids[i]) for i in result.guest_index
    ]


def test_phone_numbers_with_several_hosts_and_rsa():
    pool = phone_ids(300, seed=21)
    guest_ids = pool[:200]
    hosts = [pool[100:300], pool[50:150] + pool[250:]]
    for method in ("ecdh", "rsa"):
        result = vfl.intersect(
            guest_ids, hosts, method=method, rsa_key_length=1024, allow_weak_key=True
        )
        _check(result, guest_ids, hosts)
        assert result.size == 50


@given(
    guest=st.lists(st.integers(0, 60), unique=True, max_size=40),
    host=st.lists(st.integers(0, 60), unique=True, max_size=40),
    chunk=st.integers(1, 50),
)
def test_matches_a_plain_set_intersection(guest, host, chunk):
    result = vfl.intersect(guest, host, chunk_size=chunk)
    _check(result, guest, [host])


def test_guest_and_cardinality_outputs():
    guest_ids, host_ids = list(range(0, 50)), list(range(25, 80))
    guest_only = vfl.intersect(guest_ids, host_ids, output="guest")
    assert guest_only.host_indices is None and guest_only.host_index is None
    assert sorted(guest_only.guest_index.tolist()) == list(range(25, 50))
    count = vfl.intersect(guest_ids, host_ids, output="cardinality")
    assert count.guest_index is None and count.host_indices is None
    assert count.size == 25


def test_duplicates_are_an_error_unless_deduplicated():
    with pytest.raises(DataError, match=r"1 id\(s\) appear more than once \(first: rows 0 and 2\)"):
        vfl.intersect(["a", "b", "a"], ["a"])
    result = vfl.intersect(["a", "b", "a"], ["a", "c", "c"], dedupe=True)
    assert result.guest_index.tolist() == [0] and result.host_index.tolist() == [0]
    assert result.dropped_duplicates == (1, 1)


@pytest.mark.parametrize("bad", [[1.5], [True], [None], [""], [b"x" * 2000]])
def test_unusable_ids_are_refused(bad):
    with pytest.raises(DataError, match="row 0"):
        vfl.intersect(bad, ["a"])


def test_host_ids_must_be_a_sequence():
    with pytest.raises(DataError, match="sequence"):
        vfl.intersect(["a"], "abc")


def test_empty_sets():
    assert vfl.intersect([], []).size == 0
    result = vfl.intersect(["a"], [[], ["a"]])
    assert result.size == 0 and [len(i) for i in result.host_indices] == [0, 0]
