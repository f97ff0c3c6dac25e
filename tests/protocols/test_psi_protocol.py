"""PSI role state machines, driven against each other in one process (sans-IO)."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.exceptions import ProtocolError, UnexpectedMessageError
from protocols.messages import (
    PsiDone,
    PsiGuestItems,
    PsiHostItems,
    PsiHostSetup,
    PsiPositions,
    PsiProcessedItems,
    PsiSetup,
)
from protocols.psi import DuplicateIdError, PsiGuest, PsiHost, PsiOutcome, PsiSettings
from tests.support.protocol_harness import run_roles
from tests.support.psi_helpers import JOB, make_roles, overlapping_sets
from vfl.runtime import codec

RSA_KEY = {"rsa_key_length": 1024, "allow_weak_key": True}
RSA = {"method": "rsa", **RSA_KEY}


def _wire(message):  # every message goes through the real codec
    return codec.decode(codec.encode(message), codec.Keyring(), allow_weak_keys=True)


def _check_alignment(roles, guest_ids, host_ids, output):
    guest: PsiOutcome = roles["guest"].result
    expected = set(guest_ids).intersection(*map(set, host_ids))
    if output == "cardinality":
        assert guest.rows is None
        assert guest.size == len(expected)
    else:
        assert guest.rows is not None
        assert {guest_ids[r] for r in guest.rows} == expected
        assert guest.size == len(expected) == len(guest.rows)
    for j, ids in enumerate(host_ids):
        host: PsiOutcome = roles[f"host-{j + 1}"].result
        assert host.peer_sizes == {"guest": len(guest_ids)}
        assert host.own_size == len(ids)
        if output == "both":
            assert host.rows is not None
            assert [ids[r] for r in host.rows] == [guest_ids[r] for r in guest.rows]
        else:
            assert host.rows is None and host.size is None
    assert guest.peer_sizes == {f"host-{j + 1}": len(ids) for j, ids in enumerate(host_ids)}


@pytest.mark.parametrize("output", ["both", "guest", "cardinality"])
def test_ecdh_exact_intersection_every_output(output):
    guest_ids, host_ids = overlapping_sets([120, 90], common=45, seed=1)
    roles = make_roles(guest_ids, host_ids, PsiSettings(output=output, chunk_size=32))
    run_roles(roles, wire=_wire)
    _check_alignment(roles, guest_ids, host_ids, output)


@pytest.mark.parametrize("output", ["both", "guest"])
def test_rsa_exact_intersection(output):
    guest_ids, host_ids = overlapping_sets([60, 80], common=25, seed=2)
    roles = make_roles(guest_ids, host_ids, PsiSettings(output=output, chunk_size=16, **RSA))
    run_roles(roles, wire=_wire)
    _check_alignment(roles, guest_ids, host_ids, output)


@pytest.mark.parametrize("method", ["ecdh", "rsa"])
def test_several_hosts_agree_on_one_order(method):
    guest_ids, host_ids = overlapping_sets([70, 50, 60], common=20, seed=3)
    # host 2 also shares ids with the guest that host 1 lacks: they must not count
    host_ids[1] = host_ids[1] + [i for i in guest_ids if i not in host_ids[0]][:10]
    extra = {} if method == "ecdh" else RSA_KEY
    roles = make_roles(guest_ids, host_ids, PsiSettings(method=method, chunk_size=16, **extra))
    run_roles(roles, wire=_wire)
    _check_alignment(roles, guest_ids, host_ids, "both")
    assert roles["guest"].result.size == 20


@given(
    seed=st.integers(0, 2**32 - 1),
    chunk=st.integers(1, 12),
    method=st.sampled_from(["ecdh", "rsa"]),
)
def test_any_delivery_interleaving_gives_the_same_intersection(seed, chunk, method):
    guest_ids, host_ids = overlapping_sets([25, 20, 15], common=6, seed=seed % 1000)
    extra = {} if method == "ecdh" else RSA_KEY
    roles = make_roles(guest_ids, host_ids, PsiSettings(method=method, chunk_size=chunk, **extra))
    run_roles(roles, rng=random.Random(seed))
    _check_alignment(roles, guest_ids, host_ids, "both")


@pytest.mark.parametrize(
    ("guest_size", "host_size", "common"), [(0, 10, 0), (10, 0, 0), (0, 0, 0), (15, 12, 0)]
)
@pytest.mark.parametrize("method", ["ecdh", "rsa"])
def test_empty_inputs_and_empty_intersections(guest_size, host_size, common, method):
    guest_ids, host_ids = overlapping_sets([guest_size, host_size], common=common, seed=4)
    extra = {} if method == "ecdh" else RSA_KEY
    roles = make_roles(guest_ids, host_ids, PsiSettings(method=method, chunk_size=4, **extra))
    run_roles(roles, wire=_wire)
    _check_alignment(roles, guest_ids, host_ids, "both")
    assert roles["guest"].result.size == 0
    assert roles["host-1"].result.rows.tolist() == []


def test_duplicate_ids_are_refused():
    with pytest.raises(DuplicateIdError, match="unique"):
        PsiGuest("guest", JOB, hosts=["host-1"], ids=[b"a", b"b", b"a"])
    with pytest.raises(DuplicateIdError, match="unique"):
        PsiHost("host-1", JOB, guest="guest", ids=[b"x", b"x"])


def test_settings_are_validated():
    with pytest.raises(ProtocolError, match="unknown PSI method"):
        PsiSettings(method="dh")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="unknown PSI output"):
        PsiSettings(output="host")  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="needs method 'ecdh'"):
        PsiSettings(method="rsa", output="cardinality")
    with pytest.raises(ProtocolError, match="chunk_size"):
        PsiSettings(chunk_size=0)
    with pytest.raises(ProtocolError, match="one host"):
        PsiGuest(
            "guest", JOB, hosts=["h1", "h2"], ids=[], settings=PsiSettings(output="cardinality")
        )
    with pytest.raises(ProtocolError, match="at least one host"):
        PsiGuest("guest", JOB, hosts=[], ids=[])


def test_host_refuses_a_guest_running_another_configuration():
    guest = PsiGuest(
        "guest", JOB, hosts=["host-1"], ids=[b"a"], settings=PsiSettings(output="guest")
    )
    host = PsiHost("host-1", JOB, guest="guest", ids=[b"a"])
    host.start()
    setup = guest.start()[0]
    with pytest.raises(ProtocolError, match="output 'guest' but this party's job says 'both'"):
        host.receive(setup)


def _started_pair(settings: PsiSettings | None = None, size: int = 5):
    guest = PsiGuest(
        "guest", JOB, hosts=["host-1"], ids=[b"g%d" % i for i in range(size)], settings=settings
    )
    host = PsiHost(
        "host-1", JOB, guest="guest", ids=[b"h%d" % i for i in range(size)], settings=settings
    )
    host_setup = host.start()[0]
    setup = guest.start()[0]
    host.receive(setup)
    guest.receive(host_setup)
    return guest, host


def test_guest_refuses_malformed_and_out_of_order_host_messages():
    guest, _ = _started_pair()
    head = {"job_id": JOB, "sender": "host-1", "receiver": "guest"}
    with pytest.raises(ProtocolError, match="not awaited"):
        guest.receive(PsiProcessedItems(**head, batch=0, items=b"\x01" * 160))
    with pytest.raises(ProtocolError, match="expected 160"):
        guest.receive(PsiHostItems(**head, batch=0, items=b"\x01" * 31))
    with pytest.raises(ProtocolError, match="out of range"):
        guest.receive(PsiHostItems(**head, batch=7, items=b"\x01" * 160))
    with pytest.raises(UnexpectedMessageError):
        guest.receive(PsiHostSetup(**head, size=5, rsa_public_key=()))
    with pytest.raises(ProtocolError, match="not a host"):
        guest.receive(PsiHostItems(**{**head, "sender": "mallory"}, batch=0, items=b""))


def test_invalid_points_from_a_peer_are_a_protocol_error():
    guest, _ = _started_pair(PsiSettings(chunk_size=5))
    head = {"job_id": JOB, "sender": "host-1", "receiver": "guest"}
    # the all-zero u-coordinate is a low-order point: exponentiating it must be refused
    guest.receive(PsiHostItems(**head, batch=0, items=bytes(32 * 5)))
    while guest.has_work:
        try:
            guest.work()
        except ProtocolError as error:
            assert "host-1" in str(error)
            break
    else:
        pytest.fail("a low-order point was accepted")


def test_host_refuses_bad_items_and_positions():
    _, host = _started_pair(PsiSettings(chunk_size=5))
    head = {"job_id": JOB, "sender": "guest", "receiver": "host-1"}
    with pytest.raises(ProtocolError, match="expected 160"):
        host.receive(PsiGuestItems(**head, batch=0, items=b"\x09" * 33))
    with pytest.raises(ProtocolError, match="out of range"):
        host.receive(PsiGuestItems(**head, batch=3, items=b"\x09" * 160))
    with pytest.raises(UnexpectedMessageError, match="still exchanging"):
        host.receive(PsiPositions(**head, positions=np.array([0], dtype=np.int64)))
    with pytest.raises(UnexpectedMessageError):
        host.receive(
            PsiSetup(**head, method="ecdh", output="both", salt=b"s" * 32, size=1, chunk_size=5)
        )
    with pytest.raises(ProtocolError, match="not the PSI guest"):
        host.receive(PsiDone(**{**head, "sender": "host-2"}))


@pytest.mark.parametrize(
    ("positions", "match"),
    [
        (np.array([0, 0]), "twice"),
        (np.array([5]), "out of range"),
        (np.array([-1]), "out of range"),
        (np.arange(6), "at most 5"),
        (np.array([[0]]), "not integers"),
        (np.array([0.0]), "not integers"),
    ],
)
def test_host_validates_the_final_positions(positions, match):
    roles = make_roles(
        [b"g%d" % i for i in range(5)], [[b"h%d" % i for i in range(5)]], PsiSettings()
    )
    held = []

    def hold_positions(message):
        if isinstance(message, PsiPositions):
            held.append(message)
            return None
        return message

    _run_without(roles, hold_positions)
    assert held and held[0].positions.tolist() == []  # the honest result: nothing in common
    forged = dataclasses.replace(held[0], positions=positions)
    with pytest.raises(ProtocolError, match=match):
        roles["host-1"].receive(forged)


def _run_without(roles, drop):
    """Run the roles, dropping the messages ``drop`` maps to None."""
    queue = []
    for role in roles.values():
        queue.extend(role.start())
    while True:
        if queue:
            message = drop(queue.pop(0))
            if message is not None:
                queue.extend(roles[message.receiver].receive(message))
            continue
        working = [r for r in roles.values() if r.has_work]
        if not working:
            return
        queue.extend(working[0].work())


def test_rsa_guest_refuses_a_weak_host_key():
    settings = PsiSettings(method="rsa", rsa_key_length=1024, allow_weak_key=True)
    host = PsiHost("host-1", JOB, guest="guest", ids=[b"a"], settings=settings)
    strict = PsiGuest(
        "guest",
        JOB,
        hosts=["host-1"],
        ids=[b"a"],
        settings=dataclasses.replace(settings, allow_weak_key=False),
    )
    strict.start()
    with pytest.raises(ProtocolError, match="1024-bit RSA key"):
        strict.receive(host.start()[0])


def test_rsa_guest_keeps_a_bounded_window_of_blinded_chunks():
    settings = PsiSettings(method="rsa", chunk_size=2, rsa_window=2, **RSA_KEY)
    guest = PsiGuest(
        "guest", JOB, hosts=["host-1"], ids=[b"%d" % i for i in range(20)], settings=settings
    )
    host = PsiHost("host-1", JOB, guest="guest", ids=[b"a"], settings=settings)
    guest.start()
    guest.receive(host.start()[0])
    sent = []
    while guest.has_work:
        sent.extend(guest.work())
    assert len(sent) == 2  # two chunks await signatures; the rest waits


def test_progress_reaches_the_total():
    guest_ids, host_ids = overlapping_sets([30, 30], common=10, seed=5)
    roles = make_roles(guest_ids, host_ids, PsiSettings(chunk_size=8))
    assert roles["guest"].progress[0] == 0
    run_roles(roles)
    for role in roles.values():
        done, total = role.progress
        assert done == total > 1
