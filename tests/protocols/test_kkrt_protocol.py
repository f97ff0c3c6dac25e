"""KKRT-PSI roles driven against each other in one process, and through ``vfl.intersect``."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfl
from protocols.exceptions import ProtocolError
from protocols.messages import PsiDone, PsiHostItems, PsiOtColumns, PsiPositions
from protocols.psi import (
    DuplicateIdError,
    KkrtGuest,
    KkrtHost,
    PsiGuest,
    PsiHost,
    PsiOutcome,
    PsiSettings,
    psi_guest,
    psi_host,
)
from protocols.psi.cuckoo import bin_count
from protocols.psi.kkrt_guest import block_bins
from tests.support.protocol_harness import run_roles
from tests.support.psi_helpers import JOB, overlapping_sets, phone_ids
from vfl.exceptions import DataError
from vfl.runtime import codec
from vfl.tables.datasets import load_builtin

KKRT = PsiSettings(method="kkrt")


def _budget(factor: float) -> settings:
    """``factor`` times the profile's ``max_examples`` (ci: 40, long: 2000), at least one."""
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _wire(message):  # every message goes through the real codec
    return codec.decode(codec.encode(message), codec.Keyring())


def _kkrt_roles(guest_ids, host_ids, settings_):
    hosts = [f"host-{j + 1}" for j in range(len(host_ids))]
    roles = {"guest": KkrtGuest("guest", JOB, hosts=hosts, ids=guest_ids, settings=settings_)}
    for name, ids in zip(hosts, host_ids, strict=True):
        roles[name] = KkrtHost(name, JOB, guest="guest", ids=ids, settings=settings_)
    return roles


def _check(roles, guest_ids, host_ids, output):
    """Exact intersection (Python sets) and, for output "both", the same id in row k everywhere."""
    expected = set(guest_ids).intersection(*map(set, host_ids))
    assert all(role.done for role in roles.values())
    assert all(list(role.waiting_for) == [] for role in roles.values())
    guest: PsiOutcome = roles["guest"].result
    assert guest.rows is not None and guest.rows.dtype == np.int64
    assert len(set(guest.rows.tolist())) == len(guest.rows)
    assert {guest_ids[r] for r in guest.rows} == expected
    assert guest.size == len(guest.rows) == len(expected)
    assert guest.own_size == len(guest_ids)
    assert guest.peer_sizes == {f"host-{j + 1}": len(ids) for j, ids in enumerate(host_ids)}
    for j, ids in enumerate(host_ids):
        host: PsiOutcome = roles[f"host-{j + 1}"].result
        assert host.own_size == len(ids)
        assert host.peer_sizes == {"guest": len(guest_ids)}
        if output == "both":
            assert host.rows is not None and host.size == len(expected)
            assert [ids[r] for r in host.rows] == [guest_ids[r] for r in guest.rows]
        else:
            assert host.rows is None and host.size is None


def _run(guest_ids, host_ids, output="both", chunk_size=16, rng=None):
    settings_ = PsiSettings(method="kkrt", output=output, chunk_size=chunk_size)
    roles = _kkrt_roles(guest_ids, host_ids, settings_)
    transcript = run_roles(roles, rng=rng, wire=_wire)
    _check(roles, guest_ids, host_ids, output)
    return roles, transcript


# --- exact intersections --------------------------------------------------------------------


@_budget(0.5)
@given(
    guest=st.sets(st.integers(0, 50), max_size=30),
    host=st.sets(st.integers(0, 50), max_size=30),
    output=st.sampled_from(["both", "guest"]),
    chunk=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_kkrt_matches_a_python_set_intersection(guest, host, output, chunk, seed):
    rng = random.Random(seed)
    guest_ids = [b"%d" % i for i in guest]
    host_ids = [b"%d" % i for i in host]
    rng.shuffle(guest_ids)
    rng.shuffle(host_ids)
    _run(guest_ids, [host_ids], output=output, chunk_size=chunk)


IDS = [b"id-%03d" % i for i in range(40)]


@pytest.mark.parametrize("output", ["both", "guest"])
@pytest.mark.parametrize(
    ("guest_ids", "host_ids"),
    [
        pytest.param([], IDS[:10], id="empty-guest"),
        pytest.param(IDS[:10], [], id="empty-host"),
        pytest.param([], [], id="both-empty"),
        pytest.param(IDS[:20], IDS[20:], id="disjoint"),
        pytest.param(IDS, IDS[::-1], id="full-overlap"),
        pytest.param(IDS[5:15], IDS, id="guest-subset"),
        pytest.param(IDS, IDS[7:8], id="one-common"),
        pytest.param([b"x"], [b"x"], id="single"),
    ],
)
def test_kkrt_edge_cases(guest_ids, host_ids, output):
    roles, _ = _run(guest_ids, [host_ids], output=output, chunk_size=6)
    expected = set(guest_ids) & set(host_ids)
    assert roles["guest"].result.size == len(expected)


@pytest.mark.parametrize("hosts", [2, 3])
@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_several_hosts_give_only_ids_common_to_all(hosts, output):
    sizes = [90, 70, 60, 50][: hosts + 1]
    guest_ids, host_ids = overlapping_sets(sizes, common=20, seed=hosts)
    # host 2 also shares ids with the guest that host 1 lacks: they must not count
    host_ids[1] = host_ids[1] + [i for i in guest_ids if i not in host_ids[0]][:15]
    roles, _ = _run(guest_ids, host_ids, output=output, chunk_size=16)
    assert roles["guest"].result.size == 20


def test_kkrt_phone_numbers_through_intersect_with_several_hosts():
    pool = phone_ids(300, seed=21)
    guest_ids = pool[:200]
    hosts = [pool[100:300], pool[50:150] + pool[250:]]
    result = vfl.intersect(guest_ids, hosts, method="kkrt")
    assert result.method == "kkrt" and result.size == 50
    assert sorted(guest_ids[i] for i in result.guest_index) == sorted(pool[100:150])
    assert len(result.host_indices) == 2
    for host, index in zip(hosts, result.host_indices, strict=True):
        assert [host[i] for i in index] == [guest_ids[i] for i in result.guest_index]


def test_kkrt_integer_ids_match_their_decimal_text():
    guest_ids = np.arange(1000, 1100)  # numpy integers
    host_ids = [str(i) for i in range(1050, 1200, 3)]
    result = vfl.intersect(guest_ids, host_ids, method="kkrt")
    assert sorted(int(guest_ids[i]) for i in result.guest_index) == list(range(1050, 1100, 3))
    assert [int(host_ids[i]) for i in result.host_index] == [
        int(guest_ids[i]) for i in result.guest_index
    ]
    guest_only = vfl.intersect(guest_ids, host_ids, method="kkrt", output="guest")
    assert guest_only.host_indices is None and guest_only.host_index is None
    assert sorted(guest_only.guest_index.tolist()) == list(range(50, 100, 3))


def test_kkrt_builtin_breast_ids_align_after_shuffling():
    guest, host = load_builtin("breast")
    rng = random.Random(0)
    guest_ids, host_ids = list(guest.ids), list(host.ids)
    rng.shuffle(guest_ids)
    rng.shuffle(host_ids)
    host_ids = host_ids[: len(host_ids) * 2 // 3]
    result = vfl.intersect(guest_ids, host_ids, method="kkrt", chunk_size=100)
    assert result.size == len(host_ids) == len(set(guest_ids) & set(host_ids))
    assert sorted(host_ids[i] for i in result.host_index) == sorted(host_ids)
    assert [guest_ids[i] for i in result.guest_index] == [host_ids[i] for i in result.host_index]


@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_and_ecdh_find_the_same_intersection(output):
    pool = phone_ids(400, seed=9)
    guest_ids = pool[:250]
    hosts = [pool[100:400], pool[:60] + pool[150:330]]
    results = {
        method: vfl.intersect(guest_ids, hosts, method=method, output=output, chunk_size=64)
        for method in ("ecdh", "kkrt")
    }
    ecdh, kkrt = results["ecdh"], results["kkrt"]
    assert kkrt.size == ecdh.size == 100
    assert sorted(kkrt.guest_index.tolist()) == sorted(ecdh.guest_index.tolist())
    if output == "both":

        def triples(result):
            columns = [result.guest_index, *result.host_indices]
            return sorted(zip(*(c.tolist() for c in columns), strict=True))

        assert triples(kkrt) == triples(ecdh)
    else:
        assert kkrt.host_indices is None and ecdh.host_indices is None


# --- blocks and chunks ----------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 127, 128, 129, 300, 16_384])
def test_kkrt_chunk_sizes(chunk_size):
    guest_ids, host_ids = overlapping_sets([400, 350], common=150, seed=chunk_size)
    roles, transcript = _run(guest_ids, host_ids, chunk_size=chunk_size)
    block = block_bins(PsiSettings(method="kkrt", chunk_size=chunk_size))
    assert block % 128 == 0 and chunk_size <= block < chunk_size + 128
    bins = bin_count(len(guest_ids))
    columns = [m for m in transcript if isinstance(m, PsiOtColumns)]
    assert [m.batch for m in columns] == list(range(-(-bins // block)))
    assert sum(len(m.columns) for m in columns) == 512 * bins // 8
    items = [m for m in transcript if isinstance(m, PsiHostItems)]
    assert sorted(m.batch for m in items) == list(range(-(-350 // chunk_size)))
    assert sum(len(m.items) for m in items) == 350 * 3 * 16
    assert roles["guest"].result.size == 150


def test_kkrt_many_blocks():
    guest_ids, host_ids = overlapping_sets([5000, 4000], common=2500, seed=11)
    roles, transcript = _run(guest_ids, host_ids, chunk_size=300)
    columns = [m for m in transcript if isinstance(m, PsiOtColumns)]
    assert len(columns) == -(-bin_count(5000) // 384) == 17
    assert roles["guest"].result.size == 2500


# --- delivery orders ------------------------------------------------------------------------


@_budget(0.375)
@given(
    seed=st.integers(0, 2**32 - 1),
    chunk=st.integers(1, 140),
    output=st.sampled_from(["both", "guest"]),
    hosts=st.integers(1, 3),
)
def test_any_delivery_interleaving_gives_the_same_intersection(seed, chunk, output, hosts):
    sizes = [150, 60, 45, 30][: hosts + 1]  # 150 guest ids: 384 bins, several blocks
    guest_ids, host_ids = overlapping_sets(sizes, common=12, seed=seed % 1000)
    roles, _ = _run(guest_ids, host_ids, output=output, chunk_size=chunk, rng=random.Random(seed))
    assert roles["guest"].result.size == 12


def _run_in_order(roles, prefer_work: bool, reverse: bool):
    """Deliver per-connection FIFO, always picking the first (or last) link, work first or last."""
    queues: dict[tuple[str, str], list] = {}

    def post(messages):
        for message in messages:
            queues.setdefault((message.sender, message.receiver), []).append(_wire(message))

    for role in roles.values():
        post(role.start())
    for _ in range(10_000):
        links = sorted((link for link, queue in queues.items() if queue), reverse=reverse)
        working = sorted((n for n, r in roles.items() if r.has_work), reverse=reverse)
        if not links and not working:
            return
        if working and (prefer_work or not links):
            post(roles[working[0]].work())
        else:
            message = queues[links[0]].pop(0)
            post(roles[message.receiver].receive(message))
    raise AssertionError("the protocol did not settle")


@pytest.mark.parametrize(
    ("prefer_work", "reverse", "output"),
    [(True, False, "both"), (True, True, "guest"), (False, False, "guest"), (False, True, "both")],
)
def test_extreme_delivery_orders(prefer_work, reverse, output):
    guest_ids, host_ids = overlapping_sets([200, 80, 60], common=25, seed=17)
    settings_ = PsiSettings(method="kkrt", output=output, chunk_size=20)
    roles = _kkrt_roles(guest_ids, host_ids, settings_)
    _run_in_order(roles, prefer_work, reverse)
    _check(roles, guest_ids, host_ids, output)


# --- configuration --------------------------------------------------------------------------


def test_kkrt_refuses_the_cardinality_output():
    with pytest.raises(ProtocolError, match="needs method 'ecdh'"):
        PsiSettings(method="kkrt", output="cardinality")
    with pytest.raises(DataError, match="needs method 'ecdh'"):
        vfl.intersect(["a"], ["a"], method="kkrt", output="cardinality")


@pytest.mark.parametrize(
    "settings_",
    [PsiSettings(), PsiSettings(method="ecdh", output="guest"), PsiSettings(method="rsa")],
)
def test_kkrt_roles_refuse_other_methods(settings_):
    with pytest.raises(ProtocolError, match=f"runs method 'kkrt', not '{settings_.method}'"):
        KkrtGuest("guest", JOB, hosts=["host-1"], ids=[b"a"], settings=settings_)
    with pytest.raises(ProtocolError, match=f"runs method 'kkrt', not '{settings_.method}'"):
        KkrtHost("host-1", JOB, guest="guest", ids=[b"a"], settings=settings_)


def test_kkrt_roles_refuse_duplicate_ids():
    with pytest.raises(DuplicateIdError, match="unique"):
        KkrtGuest("guest", JOB, hosts=["host-1"], ids=[b"a", b"b", b"a"], settings=KKRT)
    with pytest.raises(DuplicateIdError, match="unique"):
        KkrtHost("host-1", JOB, guest="guest", ids=[b"x", b"x"], settings=KKRT)


def test_kkrt_roles_refuse_bad_parties():
    with pytest.raises(ProtocolError, match="another party"):
        KkrtHost("guest", JOB, guest="guest", ids=[b"a"], settings=KKRT)
    with pytest.raises(ProtocolError, match="distinct other parties"):
        KkrtGuest("guest", JOB, hosts=["host-1", "guest"], ids=[b"a"], settings=KKRT)
    with pytest.raises(ProtocolError, match="distinct other parties"):
        KkrtGuest("guest", JOB, hosts=["host-1", "host-2", "host-1"], ids=[b"a"], settings=KKRT)
    with pytest.raises(ProtocolError, match="at least one host"):
        KkrtGuest("guest", JOB, hosts=[], ids=[b"a"], settings=KKRT)


@pytest.mark.parametrize(
    ("settings_", "guest_class", "host_class"),
    [
        (None, PsiGuest, PsiHost),
        (PsiSettings(), PsiGuest, PsiHost),
        (PsiSettings(method="rsa", rsa_key_length=1024, allow_weak_key=True), PsiGuest, PsiHost),
        (PsiSettings(method="kkrt"), KkrtGuest, KkrtHost),
        (PsiSettings(method="kkrt", output="guest"), KkrtGuest, KkrtHost),
    ],
)
def test_role_factories_pick_the_class_for_the_method(settings_, guest_class, host_class):
    guest = psi_guest("guest", JOB, hosts=["host-1"], ids=[b"a"], settings=settings_)
    host = psi_host("host-1", JOB, guest="guest", ids=[b"a"], settings=settings_)
    assert type(guest) is guest_class and type(host) is host_class
    if settings_ is not None:
        assert guest.settings is settings_ and host.settings is settings_


@pytest.mark.parametrize("output", ["both", "guest"])
def test_kkrt_progress_reaches_the_total_and_nobody_waits_at_the_end(output):
    guest_ids, host_ids = overlapping_sets([300, 200, 100], common=40, seed=5)
    roles = _kkrt_roles(
        guest_ids, host_ids, PsiSettings(method="kkrt", output=output, chunk_size=50)
    )
    assert roles["guest"].progress[0] == 0
    assert list(roles["guest"].waiting_for) == ["host-1", "host-2"]
    assert list(roles["host-1"].waiting_for) == ["guest"]
    seen = {name: [] for name in roles}

    def observe(message):
        for name, role in roles.items():
            seen[name].append(role.progress)
        return _wire(message)

    run_roles(roles, rng=random.Random(3), wire=observe)
    _check(roles, guest_ids, host_ids, output)
    for name, role in roles.items():
        done, total = role.progress
        assert done == total > 1, name
        assert all(0 <= d <= t for d, t in seen[name]), name
        dones = [d for d, _ in seen[name]]
        assert dones == sorted(dones), name
    # the guest: every block of bins per host, plus each host's chunks of 50 values
    blocks = -(-bin_count(300) // 128)
    assert roles["guest"].progress[1] == 2 * blocks + 200 // 50 + 100 // 50
    assert roles["host-1"].progress[1] == blocks + 1


def test_kkrt_final_messages_follow_the_output():
    guest_ids, host_ids = overlapping_sets([40, 30], common=10, seed=2)
    _, both = _run(guest_ids, host_ids, output="both", chunk_size=8)
    _, guest_only = _run(guest_ids, host_ids, output="guest", chunk_size=8)
    positions = [m for m in both if isinstance(m, PsiPositions)]
    assert len(positions) == 1 and len(positions[0].positions) == 10
    assert not any(isinstance(m, PsiDone) for m in both)
    assert sum(isinstance(m, PsiDone) for m in guest_only) == 1
    assert not any(isinstance(m, PsiPositions) for m in guest_only)
