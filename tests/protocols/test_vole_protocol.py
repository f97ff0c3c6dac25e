"""VOLE-PSI roles driven against each other in one process, and through ``vfl.intersect``."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfl
from crypto.gf128 import ConstantMultiplier
from crypto.okvs import DENSE_COLUMNS, okvs_size
from protocols.exceptions import ProtocolError
from protocols.messages import (
    PsiHostItems,
    PsiOkvsCells,
    PsiOtColumns,
    PsiVoleCorrections,
)
from protocols.psi import (
    DuplicateIdError,
    PsiOutcome,
    PsiSettings,
    VoleGuest,
    VoleHost,
    psi_guest,
    psi_host,
    vole_items,
)
from protocols.psi.vole_guest import ot_block, ot_layout
from protocols.psi.vole_items import TAG_BYTES, segment_bounds
from tests.support.protocol_harness import run_roles
from tests.support.psi_helpers import JOB, overlapping_sets, phone_ids
from vfl.exceptions import DataError
from vfl.runtime import codec

VOLE = PsiSettings(method="vole")


def _budget(factor: float) -> settings:
    """``factor`` times the profile's ``max_examples`` (ci: 40, long: 2000), at least one."""
    return settings(max_examples=max(1, round(settings.default.max_examples * factor)))


def _wire(message):  # every message goes through the real codec
    return codec.decode(codec.encode(message), codec.Keyring())


def _roles(guest_ids, host_ids, settings_):
    hosts = [f"host-{j + 1}" for j in range(len(host_ids))]
    roles = {"guest": VoleGuest("guest", JOB, hosts=hosts, ids=guest_ids, settings=settings_)}
    for name, ids in zip(hosts, host_ids, strict=True):
        roles[name] = VoleHost(name, JOB, guest="guest", ids=ids, settings=settings_)
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


def _run(guest_ids, host_ids, output="both", chunk_size=64, rng=None):
    settings_ = PsiSettings(method="vole", output=output, chunk_size=chunk_size)
    roles = _roles(guest_ids, host_ids, settings_)
    transcript = run_roles(roles, rng=rng, wire=_wire)
    _check(roles, guest_ids, host_ids, output)
    return roles, transcript


# --- exact intersections --------------------------------------------------------------------


@_budget(0.125)
@given(
    guest=st.sets(st.integers(0, 60), max_size=40),
    host=st.sets(st.integers(0, 60), max_size=40),
    output=st.sampled_from(["both", "guest"]),
    chunk=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1),
)
def test_vole_matches_a_python_set_intersection(guest, host, output, chunk, seed):
    rng = random.Random(seed)
    guest_ids = [b"%d" % i for i in guest]
    host_ids = [b"%d" % i for i in host]
    rng.shuffle(guest_ids)
    rng.shuffle(host_ids)
    _run(guest_ids, [host_ids], output=output, chunk_size=chunk, rng=rng)


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
        pytest.param([b"x"], [b"x"], id="single"),
    ],
)
def test_vole_edge_cases(guest_ids, host_ids, output):
    roles, _ = _run(guest_ids, [host_ids], output=output, chunk_size=6)
    assert roles["guest"].result.size == len(set(guest_ids) & set(host_ids))


@pytest.mark.parametrize("output", ["both", "guest"])
def test_vole_several_hosts_give_only_ids_common_to_all(output):
    guest_ids, host_ids = overlapping_sets([300, 200, 150, 120], common=40, seed=3)
    host_ids[1] = host_ids[1] + [i for i in guest_ids if i not in host_ids[0]][:25]
    roles, _ = _run(guest_ids, host_ids, output=output, chunk_size=50)
    assert roles["guest"].result.size == 40


def test_vole_several_segments(monkeypatch):
    """Small VOLE segments: several VOLEs under one Delta cover the OKVS."""
    monkeypatch.setattr(vole_items, "MAX_VOLE_SIZE", 700)
    guest_ids, host_ids = overlapping_sets([2000, 1500], common=600, seed=5)
    cells = okvs_size(2000) + DENSE_COLUMNS
    assert len(segment_bounds(cells)) >= 4
    roles, transcript = _run(guest_ids, host_ids, chunk_size=500)
    corrections = [m for m in transcript if isinstance(m, PsiVoleCorrections)]
    assert [m.batch for m in corrections] == list(range(len(segment_bounds(cells))))
    assert roles["guest"].result.size == 600


@pytest.mark.parametrize("output", ["both"])  # "guest": the set tests above
def test_vole_kkrt_and_ecdh_find_the_same_intersection(output):
    pool = phone_ids(400, seed=9)
    guest_ids = pool[:250]
    hosts = [pool[100:400], pool[:60] + pool[150:330]]
    results = {
        method: vfl.intersect(guest_ids, hosts, method=method, output=output, chunk_size=64)
        for method in ("ecdh", "kkrt", "vole")
    }
    ecdh, kkrt, vole = results["ecdh"], results["kkrt"], results["vole"]
    assert vole.method == "vole"
    assert vole.size == kkrt.size == ecdh.size == 100
    assert sorted(vole.guest_index.tolist()) == sorted(ecdh.guest_index.tolist())
    if output == "both":

        def triples(result):
            columns = [result.guest_index, *result.host_indices]
            return sorted(zip(*(c.tolist() for c in columns), strict=True))

        assert triples(vole) == triples(kkrt) == triples(ecdh)
    else:
        assert vole.host_indices is None


def test_vole_integer_ids_match_their_decimal_text():
    guest_ids = np.arange(1000, 1100)
    host_ids = [str(i) for i in range(1050, 1200, 3)]
    result = vfl.intersect(guest_ids, host_ids, method="vole")
    assert sorted(int(guest_ids[i]) for i in result.guest_index) == list(range(1050, 1100, 3))
    assert [int(host_ids[i]) for i in result.host_index] == [
        int(guest_ids[i]) for i in result.guest_index
    ]


# --- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 100, 16_384])
def test_vole_message_sizes(chunk_size):
    guest_ids, host_ids = overlapping_sets([500, 300], common=120, seed=chunk_size)
    roles, transcript = _run(guest_ids, host_ids, chunk_size=chunk_size)
    cells = okvs_size(500) + DENSE_COLUMNS
    params, _, total = ot_layout(cells)
    block = ot_block(PsiSettings(method="vole", chunk_size=chunk_size))
    columns = [m for m in transcript if isinstance(m, PsiOtColumns)]
    assert [m.batch for m in columns] == list(range(-(-total // block)))
    assert sum(len(m.columns) for m in columns) == 512 * total // 8
    corrections = [m for m in transcript if isinstance(m, PsiVoleCorrections)]
    assert len(corrections) == 1
    sizes = params[0].correction_bytes
    message = corrections[0]
    assert (len(message.level_sums), len(message.base_corrections), len(message.tree_sums)) == (
        sizes
    )
    okvs = [m for m in transcript if isinstance(m, PsiOkvsCells)]
    assert [m.batch for m in okvs] == list(range(-(-cells // chunk_size)))
    assert sum(len(m.cells) for m in okvs) == 16 * cells
    assert len({m.key for m in okvs}) == 1 and len(okvs[0].key) == 16
    items = [m for m in transcript if isinstance(m, PsiHostItems)]
    assert sum(len(m.items) for m in items) == 300 * TAG_BYTES
    assert roles["guest"].result.size == 120


def test_vole_correlation_holds_inside_a_run():
    """After the run the host's K and the guest's C satisfy Decode(K, x) = Decode(C, x) + Delta H(x)."""
    guest_ids, host_ids = overlapping_sets([300, 200], common=50, seed=8)
    settings_ = PsiSettings(method="vole", chunk_size=64)
    roles = _roles(guest_ids, host_ids, settings_)
    guest, host = roles["guest"], roles["host-1"]
    seen = {}
    original = VoleGuest._finish_vole

    def spy(self, link):
        original(self, link)
        seen["cells"] = link.cells.copy()

    VoleGuest._finish_vole = spy
    try:
        run_roles(roles, wire=_wire)
    finally:
        VoleGuest._finish_vole = original
    # A + P is not P: the pseudorandom A hides the OKVS
    assert not np.array_equal(seen["cells"], guest._table)
    assert guest.result.size == 50 and host.done
    times = ConstantMultiplier(host._delta)
    assert times(np.array([[1, 0]], dtype=np.uint64)).tolist() == [
        [host._delta & (2**64 - 1), host._delta >> 64]
    ]


# --- configuration --------------------------------------------------------------------------


@pytest.mark.parametrize("settings_", [PsiSettings(), PsiSettings(method="kkrt")])
def test_vole_roles_refuse_other_methods(settings_):
    with pytest.raises(ProtocolError, match=f"runs method 'vole', not '{settings_.method}'"):
        VoleGuest("guest", JOB, hosts=["host-1"], ids=[b"a"], settings=settings_)
    with pytest.raises(ProtocolError, match=f"runs method 'vole', not '{settings_.method}'"):
        VoleHost("host-1", JOB, guest="guest", ids=[b"a"], settings=settings_)


def test_vole_refuses_the_cardinality_output():
    with pytest.raises(ProtocolError, match="needs method 'ecdh'"):
        PsiSettings(method="vole", output="cardinality")
    with pytest.raises(DataError, match="needs method 'ecdh'"):
        vfl.intersect(["a"], ["a"], method="vole", output="cardinality")


def test_vole_roles_refuse_duplicate_ids_and_bad_parties():
    with pytest.raises(DuplicateIdError, match="unique"):
        VoleGuest("guest", JOB, hosts=["host-1"], ids=[b"a", b"b", b"a"], settings=VOLE)
    with pytest.raises(DuplicateIdError, match="unique"):
        VoleHost("host-1", JOB, guest="guest", ids=[b"x", b"x"], settings=VOLE)
    with pytest.raises(ProtocolError, match="another party"):
        VoleHost("guest", JOB, guest="guest", ids=[b"a"], settings=VOLE)
    with pytest.raises(ProtocolError, match="at least one host"):
        VoleGuest("guest", JOB, hosts=[], ids=[b"a"], settings=VOLE)


def test_role_factories_pick_the_vole_roles():
    assert type(psi_guest("guest", JOB, hosts=["h"], ids=[b"a"], settings=VOLE)) is VoleGuest
    assert type(psi_host("h", JOB, guest="guest", ids=[b"a"], settings=VOLE)) is VoleHost


def test_vole_host_refuses_a_guest_with_another_method():
    guest = VoleGuest("guest", JOB, hosts=["host-1"], ids=[b"a"], settings=VOLE)
    host = VoleHost(
        "host-1", JOB, guest="guest", ids=[b"a"], settings=PsiSettings(method="vole", chunk_size=9)
    )
    host.start()
    setup = guest.start()[0]
    with pytest.raises(ProtocolError, match="chunk_size"):
        host.receive(setup)


# --- id hashing -------------------------------------------------------------------------------


def _reference_digest(item: bytes, salt: bytes) -> tuple[int, int]:
    """One id's (value, digest) as integers, computed id by id, independently of numpy."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    def salted(label: bytes) -> bytes:
        return hashlib.sha256(label + len(salt).to_bytes(2, "little") + salt).digest()

    if len(item) <= 15:
        block = bytes([len(item)]) + item + bytes(15 - len(item))
        keys = salted(b"VFL-VOLEPSI short item keys")
        outs = []
        for key in (keys[:16], keys[16:]):
            permuted = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(block)
            outs.append(
                int.from_bytes(bytes(a ^ b for a, b in zip(permuted, block, strict=True)), "little")
            )
        return outs[0], outs[1]
    digest = hashlib.blake2b(
        item, digest_size=32, key=salted(b"VFL-VOLEPSI item key"), person=b"VFL-VOLEPSI item"
    ).digest()
    return int.from_bytes(digest[:16], "little"), int.from_bytes(digest[16:], "little")


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.binary(max_size=30), unique=True, max_size=20), st.binary(min_size=16, max_size=32)
)
def test_item_digests_equal_an_id_by_id_reference(ids, salt):
    values, digests = vole_items.item_digests(ids, salt)
    for row, item in enumerate(ids):
        value, digest = _reference_digest(item, salt)
        assert int(values[row, 0]) | int(values[row, 1]) << 64 == value
        assert int(digests[row, 0]) | int(digests[row, 1]) << 64 == digest


def test_vole_with_long_and_short_ids():
    short = [b"%07d" % i for i in range(300)]
    long = [b"customer-%040d" % i for i in range(300)]
    guest_ids = short[:200] + long[:200]
    host_ids = short[100:] + long[150:]
    random.Random(1).shuffle(host_ids)
    roles, _ = _run(guest_ids, [host_ids], chunk_size=100)
    assert roles["guest"].result.size == 100 + 50
